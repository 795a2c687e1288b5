//! PIBT: one collision-free step for every robot at once (Okumura et al., AIJ 2022).
//!
//! Robots act in priority order; each takes the free neighbour closest to its goal. A robot
//! that wants a cell another robot stands on makes that robot move first with the asker's
//! priority (priority inheritance); if it cannot, the asker tries its next-best cell
//! (backtracking). No two robots end in one cell, no two swap along an edge. With priorities
//! that grow while a robot is away from its goal, every robot reaches its goal in graphs
//! where each edge lies on a cycle (the warehouse case) — the basis of lifelong planning.

use super::grid::{Cell, Grid, NONE};
use super::Rng;

const NOBODY: u32 = u32::MAX;

/// Scratch space reused across steps: occupancy per cell, now and next.
pub struct Pibt<'g> {
    grid: &'g Grid,
    /// `distances[i][c]`: steps from c to robot i's goal.
    distances: Vec<Vec<u32>>,
    occupied_now: Vec<u32>,
    occupied_next: Vec<u32>,
    /// Set when a robot can neither move nor stay: the whole step fails.
    broken: bool,
    rng: Rng,
}

impl<'g> Pibt<'g> {
    pub fn new(grid: &'g Grid, goals: &[Cell], seed: u64) -> Pibt<'g> {
        Pibt {
            grid,
            distances: goals.iter().map(|g| grid.distances_to(*g)).collect(),
            occupied_now: vec![NOBODY; grid.cells()],
            occupied_next: vec![NOBODY; grid.cells()],
            broken: false,
            rng: Rng::new(seed),
        }
    }

    pub fn distance(&self, robot: usize, from: Cell) -> u32 {
        self.distances[robot][from as usize]
    }

    /// Plans the next step from `now`. `fixed` pins some robots' next cells (LaCAM's
    /// constraints); `order` is the priority order (highest first). None when the pins
    /// themselves collide or a robot can neither move nor stay.
    pub fn step(&mut self, now: &[Cell], fixed: &[(usize, Cell)], order: &[usize]) -> Option<Vec<Cell>> {
        let mut next = vec![NONE; now.len()];
        for (i, c) in now.iter().enumerate() {
            self.occupied_now[*c as usize] = i as u32;
        }
        self.broken = false;
        let ok = self.pin(now, fixed, &mut next)
            && order.iter().all(|&i| next[i] != NONE || self.push(i, NOBODY, now, &mut next))
            && !self.broken;
        for c in now {
            self.occupied_now[*c as usize] = NOBODY;
        }
        for c in &next {
            if *c != NONE {
                self.occupied_next[*c as usize] = NOBODY;
            }
        }
        ok.then_some(next)
    }

    fn pin(&mut self, now: &[Cell], fixed: &[(usize, Cell)], next: &mut [Cell]) -> bool {
        for &(i, to) in fixed {
            if self.occupied_next[to as usize] != NOBODY {
                return false;
            }
            // A swap with a robot already pinned into our cell.
            let into_ours = self.occupied_next[now[i] as usize];
            if into_ours != NOBODY && self.occupied_now[to as usize] == into_ours {
                return false;
            }
            next[i] = to;
            self.occupied_next[to as usize] = i as u32;
        }
        true
    }

    /// Finds robot i a next cell, pushing whoever stands there (priority inheritance).
    /// `asker` is the robot that wants i's cell (NOBODY at the top level).
    fn push(&mut self, i: usize, asker: u32, now: &[Cell], next: &mut [Cell]) -> bool {
        let here = now[i];
        let mut candidates: Vec<Cell> = self.grid.neighbors(here).chain(std::iter::once(here)).collect();
        self.rng.shuffle(&mut candidates);
        let dist = &self.distances[i];
        candidates.sort_by_key(|c| dist[*c as usize]);
        for to in candidates {
            if self.occupied_next[to as usize] != NOBODY {
                continue;
            }
            let there = self.occupied_now[to as usize];
            // Never swap with a robot already moving into our cell.
            if there != NOBODY && next[there as usize] == here {
                continue;
            }
            self.occupied_next[to as usize] = i as u32;
            next[i] = to;
            if there == NOBODY || to == here {
                return true;
            }
            if next[there as usize] == NONE && !self.push(there as usize, i as u32, now, next) {
                continue;
            }
            return true;
        }
        // Nowhere to go: stay. The asker's claim on this cell is withdrawn; anyone else's claim
        // (a pinned robot) makes the step impossible.
        let claimed = self.occupied_next[here as usize];
        if claimed != NOBODY && claimed != asker && claimed != i as u32 {
            self.broken = true;
        }
        next[i] = here;
        self.occupied_next[here as usize] = i as u32;
        false
    }
}
