//! Making a plan cheaper by replanning a few robots at a time (large neighbourhood search, as
//! in MAPF-LNS and LaCAM3's refiners).
//!
//! A random group of robots gives up its paths; each is replanned in turn by a space-time A*
//! that keeps clear of every other robot's path (cells and swaps, and cells where a robot has
//! parked at its goal), within what the group cost before. The new paths are kept only if the
//! group's cost did not rise. Every accepted change keeps the plan conflict-free, so the plan
//! can be taken at any time.

use super::grid::{Cell, Grid};
use super::{Plan, Rng};
use std::cmp::Reverse;
use rustc_hash::FxHashSet;
use std::collections::BinaryHeap;
use std::sync::Arc;

/// Largest group replanned together.
const MAX_GROUP: usize = 30;
/// Most space-time states one robot's search may expand before it gives up (the group then
/// keeps its paths).
const MAX_EXPANSIONS: usize = 50_000;

/// Where each robot is when: per cell, (step, robot) sorted by step.
struct Table {
    visits: Vec<Vec<(u32, u32)>>,
    /// Per cell, the robot parked there for good and from which step.
    parked: Vec<Option<(u32, u32)>>,
}

impl Table {
    fn new(cells: usize) -> Table {
        Table { visits: vec![Vec::new(); cells], parked: vec![None; cells] }
    }

    fn enrol(&mut self, robot: u32, path: &[Cell]) {
        for (t, c) in path.iter().enumerate() {
            let v = &mut self.visits[*c as usize];
            let k = v.partition_point(|(s, _)| *s < t as u32);
            v.insert(k, (t as u32, robot));
        }
        if let Some(last) = path.last() {
            self.parked[*last as usize] = Some((path.len() as u32 - 1, robot));
        }
    }

    fn withdraw(&mut self, robot: u32, path: &[Cell]) {
        for (t, c) in path.iter().enumerate() {
            let v = &mut self.visits[*c as usize];
            if let Some(k) = v.iter().position(|e| *e == (t as u32, robot)) {
                v.remove(k);
            }
        }
        if let Some(last) = path.last() {
            self.parked[*last as usize] = None;
        }
    }

    /// The robot on `cell` at step t, counting robots parked there.
    fn who(&self, cell: Cell, t: u32) -> Option<u32> {
        let v = &self.visits[cell as usize];
        let k = v.partition_point(|(s, _)| *s < t);
        if let Some((s, r)) = v.get(k) {
            if *s == t {
                return Some(*r);
            }
        }
        self.parked[cell as usize].and_then(|(since, r)| (t >= since).then_some(r))
    }

    /// Can a robot move from `from` at step t to `to` at t + 1?
    fn free_move(&self, from: Cell, to: Cell, t: u32) -> bool {
        if self.who(to, t + 1).is_some() {
            return false;
        }
        // A swap: the robot on `to` now comes into `from`.
        from == to || self.who(to, t).is_none_or(|r| self.who(from, t + 1) != Some(r))
    }

    /// Can a robot stay on `cell` for good from step t (nobody passes later)?
    fn free_after(&self, cell: Cell, t: u32) -> bool {
        self.visits[cell as usize].last().is_none_or(|(s, _)| *s <= t) && self.parked[cell as usize].is_none()
    }
}

/// Per robot, its cells up to its arrival for good (a robot stays at its goal after).
fn paths(plan: &Plan, goals: &[Cell]) -> Vec<Vec<Cell>> {
    (0..goals.len())
        .map(|i| {
            let arrived = plan.steps.iter().rposition(|c| c[i] != goals[i]).map_or(0, |t| t + 1);
            plan.steps[..=arrived].iter().map(|c| c[i]).collect()
        })
        .collect()
}

fn to_plan(paths: &[Vec<Cell>]) -> Plan {
    let span = paths.iter().map(Vec::len).max().unwrap_or(1);
    let steps = (0..span).map(|t| paths.iter().map(|p| p[t.min(p.len() - 1)]).collect()).collect();
    Plan { steps }
}

/// Improves `plan` group by group until `rounds` passes over the delayed robots are done, none
/// is left delayed, or `stop` says so. Returns the plan (never costlier than the one given).
pub fn refine(grid: &Grid, plan: &Plan, goals: &[Cell], distances: &[Arc<Vec<u32>>], seed: u64, rounds: usize, stop: &dyn Fn() -> bool) -> Plan {
    // Only a finished plan (everyone at their goal at the end) can be cut into paths.
    if plan.steps.last().map(Vec::as_slice) != Some(goals) {
        return plan.clone();
    }
    let n = goals.len();
    let mut paths = paths(plan, goals);
    let mut table = Table::new(grid.cells());
    for (i, p) in paths.iter().enumerate() {
        table.enrol(i as u32, p);
    }
    let mut rng = Rng::new(seed ^ 0x4EF1);
    let mut search = Search::default();
    for _ in 0..rounds {
        // Only robots that arrive later than their shortest path allows can gain.
        let mut delayed: Vec<usize> = (0..n).filter(|i| paths[*i].len() as u64 - 1 > u64::from(distances[*i][paths[*i][0] as usize])).collect();
        if delayed.is_empty() {
            break;
        }
        rng.shuffle(&mut delayed);
        // First each robot pushed off its goal after reaching it, with the robots that came
        // through: replanned together, they can pass elsewhere and it can stay.
        for robot in &delayed {
            if stop() {
                return to_plan(&paths);
            }
            let group = intruders(&table, &paths, *robot, goals[*robot]);
            if group.len() > 1 {
                replan(grid, &mut table, &mut paths, &group, goals, distances, &mut search);
            }
        }
        let size = (1 + rng.below(MAX_GROUP)).min((n / 4).max(1));
        for group in delayed.chunks(size) {
            if stop() {
                return to_plan(&paths);
            }
            replan(grid, &mut table, &mut paths, group, goals, distances, &mut search);
        }
    }
    to_plan(&paths)
}

/// A robot, then the robots on its goal between its first arrival there and its arrival for
/// good. The robot is replanned first: parked early, it makes the others go round.
fn intruders(table: &Table, paths: &[Vec<Cell>], robot: usize, goal: Cell) -> Vec<usize> {
    let path = &paths[robot];
    let mut group = vec![robot];
    if let Some(first) = path.iter().position(|c| *c == goal) {
        for (t, r) in &table.visits[goal as usize] {
            let (t, r) = (*t as usize, *r as usize);
            if t > first && t < path.len() - 1 && r != robot && !group.contains(&r) && group.len() < MAX_GROUP {
                group.push(r);
            }
        }
    }
    group
}

/// Replans `group` against everyone else; keeps the new paths if they cost no more in all.
fn replan(grid: &Grid, table: &mut Table, paths: &mut [Vec<Cell>], group: &[usize], goals: &[Cell], distances: &[Arc<Vec<u32>>], search: &mut Search) {
    let before: u64 = group.iter().map(|i| paths[*i].len() as u64 - 1).sum();
    for i in group {
        table.withdraw(*i as u32, &paths[*i]);
    }
    let mut replanned = Vec::with_capacity(group.len());
    let mut spent = 0u64;
    // What the robots not yet replanned need at least, kept out of each one's limit.
    let mut reserve: u64 = group.iter().map(|i| u64::from(distances[*i][paths[*i][0] as usize])).sum();
    for i in group {
        reserve -= u64::from(distances[*i][paths[*i][0] as usize]);
        let limit = before.saturating_sub(spent + reserve);
        let Some(path) = search.path(grid, table, paths[*i][0], goals[*i], &distances[*i], limit) else { break };
        spent += path.len() as u64 - 1;
        table.enrol(*i as u32, &path);
        replanned.push(path);
    }
    let better = replanned.len() == group.len() && spent <= before;
    for (k, i) in group.iter().enumerate() {
        if let Some(path) = replanned.get(k) {
            table.withdraw(*i as u32, path);
        }
        if better {
            paths[*i] = std::mem::take(&mut replanned[k]);
        }
        table.enrol(*i as u32, &paths[*i]);
    }
}

/// Space-time A*, scratch space kept between robots.
#[derive(Default)]
struct Search {
    closed: FxHashSet<(Cell, u32)>,
    /// Expanded states: the cell and the index of the state it came from.
    parents: Vec<(Cell, usize)>,
}

impl Search {
    /// The cheapest path from `start` to `goal` clear of the table's robots, arriving for good
    /// by step `limit`; None if there is none.
    fn path(&mut self, grid: &Grid, table: &Table, start: Cell, goal: Cell, to_goal: &[u32], limit: u64) -> Option<Vec<Cell>> {
        self.closed.clear();
        self.parents.clear();
        // (f, Reverse(t): later first among equal f, cell, parent index)
        let mut open = BinaryHeap::new();
        let h0 = u64::from(to_goal[start as usize]);
        // Nobody can stay on the goal before the last robot passing it has gone.
        let free_from = table.visits[goal as usize].last().map_or(0, |(t, _)| u64::from(*t) + 1);
        if h0.max(free_from) > limit || table.parked[goal as usize].is_some() {
            return None;
        }
        open.push(Reverse((h0, Reverse(0u32), start, usize::MAX)));
        while let Some(Reverse((_, Reverse(t), cell, parent))) = open.pop() {
            if !self.closed.insert((cell, t)) {
                continue;
            }
            if self.closed.len() > MAX_EXPANSIONS {
                return None;
            }
            self.parents.push((cell, parent));
            let me = self.parents.len() - 1;
            if cell == goal && table.free_after(cell, t) {
                return Some(self.backtrack(me));
            }
            for next in grid.neighbors(cell).chain(std::iter::once(cell)) {
                let f = u64::from(t) + 1 + u64::from(to_goal[next as usize]);
                if f <= limit && !self.closed.contains(&(next, t + 1)) && table.free_move(cell, next, t) {
                    open.push(Reverse((f, Reverse(t + 1), next, me)));
                }
            }
        }
        None
    }

    fn backtrack(&self, mut at: usize) -> Vec<Cell> {
        let mut path = Vec::new();
        while at != usize::MAX {
            let (cell, parent) = self.parents[at];
            path.push(cell);
            at = parent;
        }
        path.reverse();
        path
    }
}

#[cfg(test)]
mod tests {
    use super::super::verify::verify;
    use super::*;

    #[test]
    fn a_robot_that_waits_for_nothing_gets_the_straight_path_and_the_plan_stays_valid() {
        let grid = Grid::parse_movingai("type octile\nheight 2\nwidth 5\nmap\n.....\n.....\n").expect("map");
        let (a, b) = (grid.cell(0, 0).expect("a"), grid.cell(4, 0).expect("b"));
        let (c, d) = (grid.cell(0, 1).expect("c"), grid.cell(1, 1).expect("d"));
        // Robot 0 dawdles three steps before crossing; robot 1 steps right once.
        let mut steps = vec![vec![a, c], vec![a, d], vec![a, d], vec![a, d]];
        for x in 1..5 {
            steps.push(vec![grid.cell(x, 0).expect("row"), d]);
        }
        let plan = Plan { steps };
        let goals = [b, d];
        verify(&grid, &[a, c], &goals, &plan).expect("the dawdling plan is valid");
        let distances: Vec<Arc<Vec<u32>>> = goals.iter().map(|g| Arc::new(grid.distances_to(*g))).collect();
        let better = refine(&grid, &plan, &goals, &distances, 1, 4, &|| false);
        verify(&grid, &[a, c], &goals, &better).expect("still valid");
        assert_eq!(better.sum_of_costs(&goals), 4 + 1);
    }
}
