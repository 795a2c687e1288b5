//! LaCAM*: lazy constraints addition search for MAPF (Okumura, AAAI 2023; IJCAI 2023; the
//! LaCAM3 engineering, AAMAS 2024).
//!
//! A depth-first search over fleet configurations. Each search node holds a configuration and
//! a queue of *constraints* ("robot i goes to cell v next"), grown one robot at a time and only
//! when needed; PIBT proposes the successor configuration that honours the current constraint
//! set. Because every constraint combination is eventually tried, the search is complete:
//! given enough budget it finds a plan whenever one exists and can prove there is none.
//!
//! What makes the first plan good and fast, as in LaCAM3:
//! - PIBT with swap (`pibt`), so robots meeting head-on in a one-lane aisle lead each other
//!   back to a branch instead of pushing each other to and fro;
//! - several PIBT runs per successor, each with its own tie-breaking, keeping the one closest
//!   to done (edge cost + remaining distance);
//! - hints from paths spread away from each other (`scatter`), so PIBT's ties go to cells
//!   nobody else needs then.
//!
//! After the first plan (anytime, LaCAM*): the search goes on, every configuration met again
//! rewires the search graph to its cheapest known parent (Dijkstra over the graph), nodes that
//! cannot beat the plan are dropped, and the plan only gets cheaper — until the search space is
//! exhausted (the plan is then optimal) or the budget or the time runs out.

use super::grid::{Cell, Grid};
use super::pibt::Pibt;
use super::{refine, scatter};
use super::{Plan, Rng};
use rustc_hash::FxHashMap;
use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Most search nodes (configurations) to create before giving up.
    pub max_nodes: usize,
    /// Most successor attempts (one PIBT step under a constraint set each). Unsolvable
    /// instances make the constraint trees grow without creating nodes, so this bounds them.
    pub max_steps: usize,
    /// Wall-clock limit, read through the caller's clock.
    pub time: Option<Duration>,
}

impl Budget {
    /// `max_nodes` configurations and ten times as many successor attempts, no time limit.
    pub fn nodes(max_nodes: usize) -> Budget {
        Budget { max_nodes, max_steps: max_nodes.saturating_mul(10), time: None }
    }
}

/// How the search runs; `Default` is LaCAM3's first-solution setting without threads.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// PIBT+swap in the successor generator.
    pub swap: bool,
    /// PIBT runs per successor; the best is kept.
    pub pibt_runs: usize,
    /// Spread-out paths as PIBT's first choices, computed before the search.
    pub scatter: bool,
    /// Keep improving after the first plan while budget and time remain: LaCAM*'s search
    /// for half the time left, then replanning groups of robots (`refine`).
    pub anytime: bool,
    /// Passes over the delayed robots the refinement makes at most (each replans every robot
    /// that arrives later than its shortest path, in random groups).
    pub refine_rounds: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options { swap: true, pibt_runs: 10, scatter: true, anytime: false, refine_rounds: 1_000 }
    }
}

impl Options {
    /// Plain LaCAM: one PIBT run without swap or hints, stop at the first plan.
    pub fn vanilla() -> Options {
        Options { swap: false, pibt_runs: 1, scatter: false, anytime: false, refine_rounds: 0 }
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
    #[error("gave up after {0:?} ({1} search nodes)")]
    Time(Duration, usize),
}

/// A plan with how the search got there.
#[derive(Debug, Clone)]
pub struct Solved {
    pub plan: Plan,
    /// Sum of costs of the first plan found, and when (by the caller's clock) and after how
    /// many search nodes it was found.
    pub first_soc: u64,
    pub first_at: Duration,
    pub first_nodes: usize,
    /// The search space was exhausted after the first plan: the search's plan was optimal for
    /// its cost (moves and waits away from goals; waits at a goal left later not counted).
    pub optimal: bool,
    pub nodes: usize,
}

/// Robots `who[k]` go to `to[k]` next.
struct Constraint {
    who: Vec<u32>,
    to: Vec<Cell>,
}

struct Node {
    config: Vec<Cell>,
    parent: Option<usize>,
    /// Nodes one step on (for rewiring): only forwards, as moves on one-way lanes cannot be
    /// reversed.
    successors: Vec<usize>,
    /// Cost from the start (sum of robots' moves and waits away from their goal) and the
    /// remaining distance (sum of robots' distances to their goals).
    g: u64,
    h: u64,
    /// Constraint sets still to try from this configuration (breadth-first).
    pending: VecDeque<Constraint>,
    /// Robots in priority order (highest first).
    order: Vec<u32>,
    priorities: Vec<f32>,
}

impl Node {
    fn f(&self) -> u64 {
        self.g + self.h
    }
}

/// Probabilities of LaCAM3's random restarts: after a configuration met again, go back to the
/// start; after the first plan, expand a random open node (so the search does not dig in one
/// corner for ever).
const RESTART_AFTER_KNOWN: f64 = 0.001;
const RANDOM_OPEN_AFTER_PLAN: f64 = 0.01;

/// The first plan, with LaCAM3's default options and no clock.
pub fn solve(grid: &Grid, starts: &[Cell], goals: &[Cell], seed: u64, budget: Budget) -> Result<Plan, PlanError> {
    plan(grid, starts, goals, seed, budget, Options::default(), &|| Duration::ZERO).map(|s| s.plan)
}

/// Plans with the given options; `elapsed` is the caller's clock (time since it started).
pub fn plan(grid: &Grid, starts: &[Cell], goals: &[Cell], seed: u64, budget: Budget, options: Options, elapsed: &dyn Fn() -> Duration) -> Result<Solved, PlanError> {
    check_instance(grid, starts, goals)?;
    let distances: Vec<Arc<Vec<u32>>> = goals.iter().map(|g| Arc::new(grid.distances_to(*g))).collect();
    if let Some(i) = starts.iter().enumerate().position(|(i, s)| distances[i][*s as usize] == u32::MAX) {
        return Err(PlanError::Unreachable(i));
    }
    let hints = options.scatter.then(|| {
        let limit = budget.time.map(|t| t / 2);
        Arc::new(scatter::hints(grid, starts, goals, &distances, seed, &|| limit.is_some_and(|l| elapsed() > l)))
    });
    let runs = options.pibt_runs.max(1);
    let pibts: Vec<Pibt> = (0..runs as u64).map(|k| Pibt::one_shot(grid, distances.clone(), goals, options.swap, hints.clone(), seed.wrapping_add(k))).collect();
    let mut search = Search { goals, distances: &distances, pibts, nodes: Vec::new(), seen: FxHashMap::default(), open: VecDeque::new(), goal: None, rng: Rng::new(seed ^ 0x5EED) };
    // Anytime: after the first plan LaCAM*'s own improvement gets a share of the time limit,
    // group replanning the rest.
    let improve_until = budget.time.map(|limit| limit.mul_f64(SEARCH_SHARE));
    let mut solved = search.run(grid, starts, budget, options, improve_until, elapsed)?;
    // Even an exhausted search may leave robots waiting at goals they later leave: the
    // search's cost does not count those waits, the sum of costs does.
    if options.anytime {
        let out_of_time = || budget.time.is_some_and(|limit| elapsed() > limit);
        solved.plan = refine::refine(grid, &solved.plan, goals, &distances, seed, options.refine_rounds, &out_of_time);
    }
    Ok(solved)
}

const SEARCH_SHARE: f64 = 0.5;

struct Search<'a, 'g> {
    goals: &'a [Cell],
    distances: &'a [Arc<Vec<u32>>],
    pibts: Vec<Pibt<'g>>,
    nodes: Vec<Node>,
    /// Configuration hash → nodes with it.
    seen: FxHashMap<u64, Vec<usize>>,
    /// The search stack: front is the top.
    open: VecDeque<usize>,
    goal: Option<usize>,
    rng: Rng,
}

impl Search<'_, '_> {
    fn run(&mut self, grid: &Grid, starts: &[Cell], budget: Budget, options: Options, improve_until: Option<Duration>, elapsed: &dyn Fn() -> Duration) -> Result<Solved, PlanError> {
        let first = self.add(starts.to_vec(), None);
        self.open.push_front(first);
        let mut steps = 0usize;
        let mut found: Option<(Duration, usize)> = None;
        let mut first_soc = 0;
        let mut out = None;
        while let Some(&front) = self.open.front() {
            if budget.time.is_some_and(|limit| elapsed() > limit) {
                out = Some(PlanError::Time(elapsed(), self.nodes.len()));
                break;
            }
            let mut top = front;
            if let Some(goal) = self.goal {
                if improve_until.is_some_and(|until| elapsed() > until) {
                    break;
                }
                if self.rng.chance(RANDOM_OPEN_AFTER_PLAN) {
                    top = self.open[self.rng.below(self.open.len())];
                }
                if self.nodes[top].f() >= self.nodes[goal].f() {
                    self.remove_from_open(top);
                    continue;
                }
            } else if self.nodes[top].h == 0 {
                self.goal = Some(top);
                found = Some((elapsed(), self.nodes.len()));
                first_soc = self.backtrack(top).sum_of_costs(self.goals);
                if !options.anytime {
                    break;
                }
                continue;
            }
            let Some(constraint) = self.nodes[top].pending.pop_front() else {
                self.remove_from_open(top);
                continue;
            };
            steps += 1;
            if steps > budget.max_steps {
                out = Some(PlanError::Budget(self.nodes.len(), steps));
                break;
            }
            self.grow(grid, top, &constraint);
            let Some(next) = self.successor(top, &constraint) else {
                continue;
            };
            if let Some(known) = self.find(&next) {
                self.rewire(top, known);
                let again = if self.rng.chance(RESTART_AFTER_KNOWN) { 0 } else { known };
                self.open.push_front(again);
                continue;
            }
            if self.nodes.len() >= budget.max_nodes {
                out = Some(PlanError::Budget(self.nodes.len(), steps));
                break;
            }
            let id = self.add(next, Some(top));
            self.open.push_front(id);
        }
        match (self.goal, found) {
            (Some(goal), Some((first_at, first_nodes))) => Ok(Solved {
                plan: self.backtrack(goal),
                first_soc,
                first_at,
                first_nodes,
                optimal: self.open.is_empty(),
                nodes: self.nodes.len(),
            }),
            _ => Err(out.unwrap_or(PlanError::NoPlan)),
        }
    }

    fn remove_from_open(&mut self, id: usize) {
        if self.open.front() == Some(&id) {
            self.open.pop_front();
        } else if let Some(k) = self.open.iter().position(|n| *n == id) {
            self.open.remove(k);
        }
    }

    /// Lazily grows the node's constraint tree by the next robot in its order.
    fn grow(&mut self, grid: &Grid, id: usize, constraint: &Constraint) {
        let node = &mut self.nodes[id];
        let depth = constraint.who.len();
        if depth >= node.config.len() {
            return;
        }
        let robot = node.order[depth];
        let here = node.config[robot as usize];
        let mut moves: Vec<Cell> = grid.neighbors(here).chain(std::iter::once(here)).collect();
        self.rng.shuffle(&mut moves);
        for to in moves {
            let mut child = Constraint { who: constraint.who.clone(), to: constraint.to.clone() };
            child.who.push(robot);
            child.to.push(to);
            node.pending.push_back(child);
        }
    }

    /// The best of the PIBT runs' successors under the constraint (least edge cost plus
    /// remaining distance), or None when none honours it.
    fn successor(&mut self, id: usize, constraint: &Constraint) -> Option<Vec<Cell>> {
        let fixed: Vec<(usize, Cell)> = constraint.who.iter().zip(&constraint.to).map(|(w, c)| (*w as usize, *c)).collect();
        let node = &self.nodes[id];
        let order: Vec<usize> = node.order.iter().map(|i| *i as usize).collect();
        let mut best: Option<(u64, Vec<Cell>)> = None;
        for pibt in &mut self.pibts {
            let Some(next) = pibt.step(&node.config, &fixed, &order) else {
                continue;
            };
            let score = edge_cost(&node.config, &next, self.goals) + remaining(&next, self.distances);
            if best.as_ref().is_none_or(|(b, _)| score < *b) {
                best = Some((score, next));
            }
        }
        best.map(|(_, next)| next)
    }

    fn find(&self, config: &[Cell]) -> Option<usize> {
        self.seen.get(&hash(config))?.iter().copied().find(|id| self.nodes[*id].config == config)
    }

    fn add(&mut self, config: Vec<Cell>, parent: Option<usize>) -> usize {
        let id = self.nodes.len();
        let n = config.len();
        let priorities: Vec<f32> = match parent {
            None => (0..n).map(|i| self.distances[i][config[i] as usize] as f32 / 10_000.0).collect(),
            Some(p) => next_priorities(&self.nodes[p].priorities, &config, self.goals),
        };
        let mut order: Vec<u32> = (0..n as u32).collect();
        order.sort_by(|a, b| priorities[*b as usize].total_cmp(&priorities[*a as usize]));
        let g = parent.map_or(0, |p| self.nodes[p].g + edge_cost(&self.nodes[p].config, &config, self.goals));
        let h = remaining(&config, self.distances);
        self.seen.entry(hash(&config)).or_default().push(id);
        let root = Constraint { who: Vec::new(), to: Vec::new() };
        self.nodes.push(Node { config, parent, successors: Vec::new(), g, h, pending: VecDeque::from([root]), order, priorities });
        if let Some(p) = parent {
            self.nodes[p].successors.push(id);
        }
        id
    }

    /// `to` was reached again from `from`: link them and, Dijkstra-like, give every node the
    /// cheapest parent known now. Nodes that got cheaper than the plan go back on the stack.
    fn rewire(&mut self, from: usize, to: usize) {
        if !self.nodes[from].successors.contains(&to) {
            self.nodes[from].successors.push(to);
        }
        let mut queue = VecDeque::from([from]);
        while let Some(a) = queue.pop_front() {
            for k in 0..self.nodes[a].successors.len() {
                let b = self.nodes[a].successors[k];
                let g = self.nodes[a].g + edge_cost(&self.nodes[a].config, &self.nodes[b].config, self.goals);
                if g < self.nodes[b].g {
                    self.nodes[b].g = g;
                    self.nodes[b].parent = Some(a);
                    queue.push_back(b);
                    if self.goal.is_some_and(|goal| self.nodes[b].f() < self.nodes[goal].f()) {
                        self.open.push_front(b);
                    }
                }
            }
        }
    }

    fn backtrack(&self, mut at: usize) -> Plan {
        let mut steps = vec![self.nodes[at].config.clone()];
        while let Some(parent) = self.nodes[at].parent {
            steps.push(self.nodes[parent].config.clone());
            at = parent;
        }
        steps.reverse();
        Plan { steps }
    }
}

fn hash(config: &[Cell]) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    config.hash(&mut h);
    h.finish()
}

/// The cost of one step: robots that are not staying at their goal.
fn edge_cost(from: &[Cell], to: &[Cell], goals: &[Cell]) -> u64 {
    from.iter().zip(to).zip(goals).filter(|((a, b), g)| !(**a == **g && **b == **g)).count() as u64
}

fn remaining(config: &[Cell], distances: &[Arc<Vec<u32>>]) -> u64 {
    config.iter().zip(distances).map(|(c, d)| u64::from(d[*c as usize])).sum()
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

/// Robots away from their goal gain priority each step; robots at their goal drop back to
/// their fractional tie-breaker, so the ones still travelling go first.
fn next_priorities(before: &[f32], config: &[Cell], goals: &[Cell]) -> Vec<f32> {
    before
        .iter()
        .zip(config.iter().zip(goals))
        .map(|(p, (c, g))| if c == g { p - p.floor() } else { p + 1.0 })
        .collect()
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
    fn on_one_way_lanes_every_plan_keeps_to_the_lanes_anytime_too() {
        use super::super::grid::Heading;
        // A 5 × 3 ring round three blocked cells, driven clockwise; three robots each go
        // half-way round, so their paths cross.
        let ring = grid(&[".....", ".@@@.", "....."]);
        let g = ring.with_one_way(&[([0, 0, 4, 0], Heading::East), ([4, 1, 4, 1], Heading::South), ([0, 2, 4, 2], Heading::West), ([0, 1, 0, 1], Heading::North)]);
        let cell = |x, y| g.cell(x, y).expect("free");
        let starts = [cell(0, 0), cell(4, 0), cell(2, 2)];
        let goals = [cell(4, 2), cell(0, 2), cell(1, 0)];
        for anytime in [false, true] {
            let options = Options { anytime, refine_rounds: 3, ..Options::default() };
            let solved = plan(&g, &starts, &goals, 5, Budget::nodes(20_000), options, &|| std::time::Duration::ZERO).expect("solvable");
            verify(&g, &starts, &goals, &solved.plan).expect("no move against a lane, no conflict");
        }
    }

    #[test]
    fn a_walled_off_goal_is_reported_unreachable() {
        let g = grid(&[".@."]);
        let (a, b) = (g.cell(0, 0).expect("a"), g.cell(2, 0).expect("b"));
        assert_eq!(solve(&g, &[a], &[b], 1, Budget::nodes(10)), Err(PlanError::Unreachable(0)));
    }
}
