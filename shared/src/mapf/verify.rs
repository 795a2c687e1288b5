//! The plan checker: every move is along an edge (or a wait), no two robots share a cell at a
//! step, no two swap along an edge, and every robot ends at its goal.

use super::grid::{Cell, Grid};
use super::Plan;
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    #[error("step {step}: robot {robot} jumps from {from} to {to}")]
    Jump { step: usize, robot: usize, from: Cell, to: Cell },
    #[error("step {step}: robots {a} and {b} both in cell {cell}")]
    Vertex { step: usize, a: usize, b: usize, cell: Cell },
    #[error("step {step}: robots {a} and {b} swap across an edge")]
    Swap { step: usize, a: usize, b: usize },
    #[error("robot {robot} ends at {at}, not at its goal {goal}")]
    NotAtGoal { robot: usize, at: Cell, goal: Cell },
    #[error("the plan does not start where the robots are")]
    WrongStart,
}

pub fn verify(grid: &Grid, starts: &[Cell], goals: &[Cell], plan: &Plan) -> Result<(), Conflict> {
    if plan.steps.first().map(|s| s.as_slice()) != Some(starts) {
        return Err(Conflict::WrongStart);
    }
    let mut at: HashMap<Cell, usize> = HashMap::with_capacity(starts.len());
    for (t, config) in plan.steps.iter().enumerate() {
        at.clear();
        for (robot, cell) in config.iter().enumerate() {
            if let Some(other) = at.insert(*cell, robot) {
                return Err(Conflict::Vertex { step: t, a: other, b: robot, cell: *cell });
            }
        }
        if t == 0 {
            continue;
        }
        let before = &plan.steps[t - 1];
        for robot in 0..config.len() {
            let (from, to) = (before[robot], config[robot]);
            if from != to && !grid.adjacent(from, to) {
                return Err(Conflict::Jump { step: t, robot, from, to });
            }
            // Did the robot now in our old cell come from our new cell?
            if let Some(&other) = at.get(&from) {
                if other != robot && before[other] == to && from != to {
                    return Err(Conflict::Swap { step: t, a: robot, b: other });
                }
            }
        }
    }
    let last = plan.steps.last().ok_or(Conflict::WrongStart)?;
    for (robot, goal) in goals.iter().enumerate() {
        if last[robot] != *goal {
            return Err(Conflict::NotAtGoal { robot, at: last[robot], goal: *goal });
        }
    }
    Ok(())
}
