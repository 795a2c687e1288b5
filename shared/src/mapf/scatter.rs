//! Paths spread away from each other, as PIBT's first choices (LaCAM3's "space utilisation
//! optimisation", Okumura AAMAS 2024).
//!
//! Each robot gets a path of at most its shortest length plus a margin that meets as few of
//! the other robots' paths as it can (same cell at the same time, a swap, or passing a robot
//! already parked at its goal). Robots are replanned one by one against the others' current
//! paths, in a random order, round after round while the number of meetings falls. PIBT then
//! breaks its ties towards each robot's next cell on its path: on a crowded floor robots fan
//! out over parallel aisles instead of all taking the one shortest.

use super::grid::{Cell, Grid};
use super::pibt::Hints;
use super::Rng;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

/// Longest detour, in steps over the shortest path, a spread-out path may take.
const MARGIN: u32 = 10;
/// Rounds at most (each replans every robot once).
const MAX_ROUNDS: usize = 8;

/// Who is where when, along the paths planned so far.
struct Table {
    /// `at[cell][t]`: robots on `cell` at step t.
    at: Vec<Vec<Vec<u32>>>,
    /// `parked[cell]`: steps from which a robot stays on `cell` (its goal).
    parked: Vec<Vec<u32>>,
    meetings: i64,
}

impl Table {
    fn new(cells: usize) -> Table {
        Table { at: vec![Vec::new(); cells], parked: vec![Vec::new(); cells], meetings: 0 }
    }

    fn robots_at(&self, cell: Cell, t: u32) -> &[u32] {
        self.at[cell as usize].get(t as usize).map_or(&[], |v| v.as_slice())
    }

    /// Meetings a move from `from` at step t to `to` at t + 1 would have.
    fn cost(&self, from: Cell, to: Cell, t: u32) -> u32 {
        let mut count = self.robots_at(to, t + 1).len() as u32;
        let swapping = self.robots_at(from, t + 1);
        count += self.robots_at(to, t).iter().filter(|r| swapping.contains(r)).count() as u32;
        count + self.parked[to as usize].iter().filter(|since| t + 1 > **since).count() as u32
    }

    fn enrol(&mut self, robot: u32, path: &[Cell]) {
        let Some(&last) = path.last() else { return };
        for (t, cell) in path.iter().enumerate() {
            if t > 0 {
                self.meetings += i64::from(self.cost(path[t - 1], *cell, t as u32 - 1));
            }
            let slots = &mut self.at[*cell as usize];
            if slots.len() <= t {
                slots.resize(t + 1, Vec::new());
            }
            slots[t].push(robot);
        }
        let arrived = path.len() as u32 - 1;
        self.parked[last as usize].push(arrived);
        self.meetings += self.at[last as usize].iter().skip(arrived as usize + 1).map(|v| v.len() as i64).sum::<i64>();
    }

    fn withdraw(&mut self, robot: u32, path: &[Cell]) {
        let Some(&last) = path.last() else { return };
        for (t, cell) in path.iter().enumerate() {
            let slot = &mut self.at[*cell as usize][t];
            if let Some(k) = slot.iter().position(|r| *r == robot) {
                slot.swap_remove(k);
            }
            if t > 0 {
                self.meetings -= i64::from(self.cost(path[t - 1], *cell, t as u32 - 1));
            }
        }
        let arrived = path.len() as u32 - 1;
        let parked = &mut self.parked[last as usize];
        if let Some(k) = parked.iter().position(|s| *s == arrived) {
            parked.swap_remove(k);
        }
        self.meetings -= self.at[last as usize].iter().skip(arrived as usize + 1).map(|v| v.len() as i64).sum::<i64>();
    }
}

/// Each robot's next cell along its spread-out path, keyed by the cell it leaves. Stops early
/// (keeping the paths of the last full round) when `expired` says so.
pub fn hints(grid: &Grid, starts: &[Cell], goals: &[Cell], distances: &[Arc<Vec<u32>>], seed: u64, expired: &dyn Fn() -> bool) -> Hints {
    let n = starts.len();
    let mut table = Table::new(grid.cells());
    let mut paths: Vec<Vec<Cell>> = vec![Vec::new(); n];
    let mut kept = paths.clone();
    let mut rng = Rng::new(seed ^ 0x5CA7);
    let mut search = Search::new(grid.cells());
    let mut before = i64::MAX;
    for round in 0..MAX_ROUNDS {
        if round >= 2 && table.meetings >= before {
            break;
        }
        before = table.meetings;
        let mut order: Vec<usize> = (0..n).collect();
        rng.shuffle(&mut order);
        for i in order {
            if expired() {
                return to_hints(&kept);
            }
            table.withdraw(i as u32, &paths[i]);
            let limit = distances[i][starts[i] as usize] + MARGIN;
            if let Some(path) = search.path(grid, &table, starts[i], goals[i], &distances[i], limit) {
                paths[i] = path;
            }
            table.enrol(i as u32, &paths[i]);
        }
        kept = paths.clone();
        if table.meetings == 0 {
            break;
        }
    }
    to_hints(&kept)
}

fn to_hints(paths: &[Vec<Cell>]) -> Hints {
    paths.iter().map(|p| p.windows(2).map(|w| (w[0], w[1])).collect::<rustc_hash::FxHashMap<Cell, Cell>>()).collect()
}

/// A* over cells (each entered once) ordered by meetings first, then length, within a length
/// limit; scratch space reused between robots.
struct Search {
    parent: Vec<Cell>,
    touched: Vec<Cell>,
}

const UNSEEN: Cell = Cell::MAX;

impl Search {
    fn new(cells: usize) -> Search {
        Search { parent: vec![UNSEEN; cells], touched: Vec::new() }
    }

    fn path(&mut self, grid: &Grid, table: &Table, start: Cell, goal: Cell, to_goal: &[u32], limit: u32) -> Option<Vec<Cell>> {
        // (meetings, length so far + to go, cell, length so far, parent)
        let mut open = BinaryHeap::from([Reverse((0u32, to_goal[start as usize], start, 0u32, start))]);
        let mut reached = false;
        while let Some(Reverse((meetings, _, cell, g, parent))) = open.pop() {
            if self.parent[cell as usize] != UNSEEN {
                continue;
            }
            self.parent[cell as usize] = parent;
            self.touched.push(cell);
            if cell == goal {
                reached = true;
                break;
            }
            for next in grid.neighbors(cell) {
                let h = to_goal[next as usize];
                if next != start && self.parent[next as usize] == UNSEEN && h != u32::MAX && g + 1 + h <= limit {
                    open.push(Reverse((meetings + table.cost(cell, next, g), g + 1 + h, next, g + 1, cell)));
                }
            }
        }
        let path = reached.then(|| {
            let mut path = vec![goal];
            while *path.last().expect("non-empty") != start {
                path.push(self.parent[*path.last().expect("non-empty") as usize]);
            }
            path.reverse();
            path
        });
        for c in self.touched.drain(..) {
            self.parent[c as usize] = UNSEEN;
        }
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_robots_crossing_a_two_row_floor_get_shortest_paths_that_never_meet() {
        // Two rows; the robots start on the left and swap rows on the way right. Along their
        // rows and then across they would swap at the end; spread out, one crosses first.
        let grid = Grid::parse_movingai("type octile\nheight 2\nwidth 6\nmap\n......\n......\n").expect("map");
        let starts = [grid.cell(0, 0).expect("a"), grid.cell(0, 1).expect("b")];
        let goals = [grid.cell(5, 1).expect("c"), grid.cell(5, 0).expect("d")];
        let distances: Vec<Arc<Vec<u32>>> = goals.iter().map(|g| Arc::new(grid.distances_to(*g))).collect();
        let hints = hints(&grid, &starts, &goals, &distances, 1, &|| false);
        let mut table = Table::new(grid.cells());
        for (i, start) in starts.iter().enumerate() {
            let mut path = vec![*start];
            while let Some(next) = hints[i].get(path.last().expect("start")) {
                path.push(*next);
            }
            assert_eq!(path.last(), Some(&goals[i]), "robot {i}'s hints lead to its goal");
            assert_eq!(path.len() as u32 - 1, distances[i][*start as usize], "shortest");
            table.enrol(i as u32, &path);
        }
        assert_eq!(table.meetings, 0);
    }
}
