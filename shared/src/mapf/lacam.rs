//! LaCAM: lazy constraints addition search for MAPF (Okumura, AAAI 2023).
//!
//! A depth-first search over fleet configurations. Each search node holds a configuration and
//! a queue of *constraints* ("robot i goes to cell v next"), grown one robot at a time and only
//! when needed; PIBT proposes the successor configuration that honours the current constraint
//! set. Revisited configurations are not expanded twice. Because every constraint combination
//! is eventually tried, the search is complete: given enough budget it finds a plan whenever one
//! exists and can prove there is none. PIBT's one-step greediness makes the first plan come
//! fast; it is not cost-optimal (LaCAM* adds that by rewiring — not implemented).

use super::grid::{Cell, Grid};
use super::pibt::Pibt;
use super::{Plan, Rng};
use std::collections::{HashMap, VecDeque};

#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Most search nodes (configurations) to create before giving up.
    pub max_nodes: usize,
    /// Most successor attempts (one PIBT step under a constraint set each). Unsolvable
    /// instances make the constraint trees grow without creating nodes, so this bounds them.
    pub max_steps: usize,
}

impl Budget {
    /// `max_nodes` configurations and ten times as many successor attempts.
    pub fn nodes(max_nodes: usize) -> Budget {
        Budget { max_nodes, max_steps: max_nodes.saturating_mul(10) }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("robot {0}'s goal cannot be reached from its start")]
    Unreachable(usize),
    #[error("starts or goals are not distinct free cells")]
    BadInstance,
    #[error("no plan exists")]
    NoPlan,
    #[error("gave up after {0} search nodes and {1} successor attempts")]
    Budget(usize, usize),
}

struct Constraint {
    who: Vec<u32>,
    to: Vec<Cell>,
}

struct Node {
    config: Vec<Cell>,
    parent: Option<usize>,
    /// Constraint sets still to try from this configuration (breadth-first).
    pending: VecDeque<Constraint>,
    /// Robots in priority order (highest first).
    order: Vec<usize>,
    priorities: Vec<f64>,
}

pub fn solve(grid: &Grid, starts: &[Cell], goals: &[Cell], seed: u64, budget: Budget) -> Result<Plan, PlanError> {
    check_instance(grid, starts, goals)?;
    let mut pibt = Pibt::new(grid, goals, seed);
    for (i, s) in starts.iter().enumerate() {
        if pibt.distance(i, *s) == u32::MAX {
            return Err(PlanError::Unreachable(i));
        }
    }
    let n = starts.len();
    let mut rng = Rng::new(seed ^ 0x5EED);
    let initial: Vec<f64> = (0..n).map(|i| f64::from(pibt.distance(i, starts[i])) / n as f64).collect();
    let mut nodes = vec![new_node(starts.to_vec(), None, initial)];
    let mut seen: HashMap<Vec<Cell>, usize> = HashMap::from([(starts.to_vec(), 0)]);
    let mut open = vec![0usize];
    let mut steps = 0usize;
    while let Some(&top) = open.last() {
        if nodes[top].config == goals {
            return Ok(backtrack(&nodes, top));
        }
        let Some(constraint) = nodes[top].pending.pop_front() else {
            open.pop();
            continue;
        };
        steps += 1;
        if steps > budget.max_steps {
            return Err(PlanError::Budget(nodes.len(), steps));
        }
        // Lazily grow the constraint tree by one more robot.
        let depth = constraint.who.len();
        if depth < n {
            let robot = nodes[top].order[depth];
            let here = nodes[top].config[robot];
            let mut moves: Vec<Cell> = grid.neighbors(here).chain(std::iter::once(here)).collect();
            rng.shuffle(&mut moves);
            for to in moves {
                let mut child = Constraint { who: constraint.who.clone(), to: constraint.to.clone() };
                child.who.push(robot as u32);
                child.to.push(to);
                nodes[top].pending.push_back(child);
            }
        }
        let fixed: Vec<(usize, Cell)> = constraint.who.iter().zip(&constraint.to).map(|(w, c)| (*w as usize, *c)).collect();
        let Some(next) = pibt.step(&nodes[top].config, &fixed, &nodes[top].order) else {
            continue;
        };
        if let Some(&known) = seen.get(&next) {
            open.push(known);
            continue;
        }
        if nodes.len() >= budget.max_nodes {
            return Err(PlanError::Budget(nodes.len(), steps));
        }
        let priorities = next_priorities(&nodes[top].priorities, &next, goals);
        let id = nodes.len();
        nodes.push(new_node(next.clone(), Some(top), priorities));
        seen.insert(next, id);
        open.push(id);
    }
    Err(PlanError::NoPlan)
}

fn check_instance(grid: &Grid, starts: &[Cell], goals: &[Cell]) -> Result<(), PlanError> {
    let distinct = |cells: &[Cell]| {
        let mut v = cells.to_vec();
        v.sort_unstable();
        v.windows(2).all(|w| w[0] != w[1])
    };
    let all_free = starts.iter().chain(goals).all(|c| grid.is_free(*c));
    if starts.len() != goals.len() || !distinct(starts) || !distinct(goals) || !all_free {
        return Err(PlanError::BadInstance);
    }
    Ok(())
}

fn new_node(config: Vec<Cell>, parent: Option<usize>, priorities: Vec<f64>) -> Node {
    let mut order: Vec<usize> = (0..config.len()).collect();
    order.sort_by(|a, b| priorities[*b].total_cmp(&priorities[*a]));
    let root = Constraint { who: Vec::new(), to: Vec::new() };
    Node { config, parent, pending: VecDeque::from([root]), order, priorities }
}

/// Robots away from their goal gain priority each step; robots at their goal drop back to
/// their fractional tie-breaker, so the ones still travelling go first.
fn next_priorities(before: &[f64], config: &[Cell], goals: &[Cell]) -> Vec<f64> {
    before
        .iter()
        .zip(config.iter().zip(goals))
        .map(|(p, (c, g))| if c == g { p - p.floor() } else { p + 1.0 })
        .collect()
}

fn backtrack(nodes: &[Node], mut at: usize) -> Plan {
    let mut steps = vec![nodes[at].config.clone()];
    while let Some(parent) = nodes[at].parent {
        steps.push(nodes[parent].config.clone());
        at = parent;
    }
    steps.reverse();
    Plan { steps }
}

#[cfg(test)]
mod tests {
    use super::super::verify::verify;
    use super::*;

    fn grid(rows: &[&str]) -> Grid {
        let text = format!("type octile\nheight {}\nwidth {}\nmap\n{}\n", rows.len(), rows[0].len(), rows.join("\n"));
        Grid::parse_movingai(&text).expect("map")
    }

    #[test]
    fn two_robots_swap_ends_of_a_corridor_using_a_side_pocket() {
        let g = grid(&["....", "@.@@"]);
        let (a, b) = (g.cell(0, 0).expect("a"), g.cell(3, 0).expect("b"));
        let plan = solve(&g, &[a, b], &[b, a], 1, Budget::nodes(10_000)).expect("solvable");
        verify(&g, &[a, b], &[b, a], &plan).expect("no conflicts");
    }

    #[test]
    fn a_swap_in_a_corridor_without_a_pocket_has_no_plan() {
        let g = grid(&["...."]);
        let (a, b) = (g.cell(0, 0).expect("a"), g.cell(3, 0).expect("b"));
        assert_eq!(solve(&g, &[a, b], &[b, a], 1, Budget::nodes(100_000)), Err(PlanError::NoPlan));
    }

    #[test]
    fn a_walled_off_goal_is_reported_unreachable() {
        let g = grid(&[".@."]);
        let (a, b) = (g.cell(0, 0).expect("a"), g.cell(2, 0).expect("b"));
        assert_eq!(solve(&g, &[a], &[b], 1, Budget::nodes(10)), Err(PlanError::Unreachable(0)));
    }
}
