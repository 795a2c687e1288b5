//! Lifelong traffic control: which robot moves into which cell next.
//!
//! Robots hold cells. A robot holds the cell it stands on and every cell released to it that
//! it has not reached yet; a cell is released to one robot only when nobody holds it. So no
//! two robots ever share a cell, and two robots never swap along an edge (each would need the
//! other's held cell). Which robots move where is decided by PIBT (`mapf::pibt`) over the
//! robots that are ready for a next cell, with every other robot's held cells blocked. PIBT's
//! priorities grow while a robot is kept from its goal, so every robot gets there on a floor
//! where each aisle lies on a loop.
//!
//! Paths run in the aisles and enter a storage spot only as their goal. An empty robot could
//! drive under stored pods (real ones do), but a spot is a dead end for a loaded robot: one
//! robot planning through a spot while a loaded robot stands in it would push it towards
//! the only exit, the asker's own cell, and the two would repeat that forever. An empty
//! robot does duck under a pod when pushed, which is how it leaves a spot whose aisle cell
//! somebody needs.

use crate::mapf::pibt::{Lifelong, Pibt};
use crate::mapf::{Cell, Grid};
use std::collections::HashMap;
use std::sync::Arc;

/// Distance tables to goals, cached: goals are few (pod spots, station cells, chargers,
/// parking) while steps are many. The cache is bounded by memory, not by count: on a
/// 500 × 140 floor each table is 280 KB, and a thousand robots keep a thousand goals busy.
pub struct Distances {
    /// Each table with the use it was last asked for at.
    tables: HashMap<Cell, (Arc<Vec<u32>>, u64)>,
    uses: u64,
    /// Bytes the tables may take.
    budget: usize,
    /// Cells no path may cross (robots out of service), sorted.
    obstacles: Vec<Cell>,
}

/// Memory the cached tables may take (4 bytes per cell each). A thousand robots on a
/// 500 × 140 floor keep ~1,000 goals busy (280 MB of tables): with 256 MiB the cache
/// thrashed and a tick's decisions took 8× longer (BENCHMARKS.md, "A thousand robots").
const TABLE_BYTES: usize = 1 << 30;
/// Tables kept at most, however small the floor.
const MAX_TABLES: usize = 4096;

impl Distances {
    pub fn new() -> Distances {
        Distances::with_budget(TABLE_BYTES)
    }

    pub fn with_budget(bytes: usize) -> Distances {
        Distances { tables: HashMap::new(), uses: 0, budget: bytes, obstacles: Vec::new() }
    }

    /// Cells that stay blocked for long (robots out of service): paths go around them, and
    /// the tables start over when the set changes. Without this a robot whose shortest way
    /// is through a broken robot would wait beside it for ever (PIBT only looks one step
    /// ahead).
    pub fn set_obstacles(&mut self, mut cells: Vec<Cell>) {
        cells.sort_unstable();
        cells.dedup();
        if cells != self.obstacles {
            self.obstacles = cells;
            self.tables.clear();
        }
    }

    /// Steps from every cell to `goal` on paths that keep out of `no_entry` cells except
    /// where they start and end.
    pub fn to(&mut self, grid: &Grid, no_entry: &[bool], goal: Cell) -> Arc<Vec<u32>> {
        self.uses += 1;
        if let Some((table, used)) = self.tables.get_mut(&goal) {
            *used = self.uses;
            return table.clone();
        }
        let cap = (self.budget / (4 * grid.cells().max(1))).clamp(16, MAX_TABLES);
        if self.tables.len() >= cap {
            self.forget_least_used();
        }
        let table = Arc::new(bfs(grid, no_entry, &self.obstacles, goal));
        self.tables.insert(goal, (table.clone(), self.uses));
        table
    }

    /// Drops the quarter of the tables used longest ago: one pass now and then instead of
    /// starting over (which recomputes every busy goal at once, a spike in the tick).
    fn forget_least_used(&mut self) {
        let mut used: Vec<u64> = self.tables.values().map(|(_, u)| *u).collect();
        let k = (used.len() / 4).max(1) - 1;
        let (_, oldest, _) = used.select_nth_unstable(k);
        let oldest = *oldest;
        self.tables.retain(|_, (_, u)| *u > oldest);
    }

    /// Tables cached now.
    pub fn cached(&self) -> usize {
        self.tables.len()
    }
}

impl Default for Distances {
    fn default() -> Self {
        Distances::new()
    }
}

/// A path may start on a no-entry cell (a storage spot) but not pass through one, and never
/// steps on an obstacle.
fn bfs(grid: &Grid, no_entry: &[bool], obstacles: &[Cell], goal: Cell) -> Vec<u32> {
    grid.distances_where(goal, |n| obstacles.binary_search(&n).is_err(), |c| !no_entry[c as usize])
}

/// A robot asking for its next cell.
#[derive(Debug, Clone)]
pub struct Mover {
    pub at: Cell,
    pub goal: Cell,
    /// Carrying a pod: never enters a storage spot other than its goal, not even to make way.
    pub restricted: bool,
    /// Higher moves first (grows while the robot is kept from its goal).
    pub priority: u64,
}

/// One PIBT step for `movers` around the `blocked` cells: each mover's next cell (its own
/// cell when it waits). Never puts two robots in one cell, never swaps, never enters a
/// blocked cell.
pub fn step(grid: &Grid, no_entry: &[bool], distances: &mut Distances, movers: &[Mover], blocked: &[Cell], seed: u64) -> Vec<Cell> {
    if movers.is_empty() {
        return Vec::new();
    }
    let robots = Lifelong {
        distances: movers.iter().map(|m| distances.to(grid, no_entry, m.goal)).collect(),
        goals: movers.iter().map(|m| m.goal).collect(),
        restricted: movers.iter().map(|m| m.restricted).collect(),
        no_entry: Some(no_entry),
        no_rotations: true,
        swap: false,
    };
    let mut pibt = Pibt::lifelong(grid, robots, seed);
    let now: Vec<Cell> = movers.iter().map(|m| m.at).collect();
    let mut order: Vec<usize> = (0..movers.len()).collect();
    order.sort_by_key(|i| std::cmp::Reverse(movers[*i].priority));
    // Without pins a PIBT step always succeeds: a robot that cannot move stays.
    let mut next = pibt.step_around(&now, blocked, &order).unwrap_or_else(|| now.clone());
    // In discrete time a robot may follow another into the cell it leaves in the same step.
    // On a real floor the leader may not have left yet: a robot enters only a cell that was
    // free when the step began (the follower gets it at a later step, once the leader
    // reported leaving). Moves into free cells never collide with each other (PIBT), and
    // robots that stay keep cells no mover enters.
    let occupied: std::collections::HashSet<Cell> = now.iter().copied().collect();
    for (k, cell) in next.iter_mut().enumerate() {
        if *cell != now[k] && occupied.contains(cell) {
            *cell = now[k];
        }
    }
    next
}

/// The cells from `from` to `goal` (both included) a robot would drive along if nobody were
/// in the way; empty when the goal cannot be reached. A* (`pathfinding`) with the cached
/// distance table as an exact heuristic, so it walks straight down the table.
pub fn path(grid: &Grid, no_entry: &[bool], distances: &mut Distances, from: Cell, goal: Cell) -> Vec<Cell> {
    let table = distances.to(grid, no_entry, goal);
    if table[from as usize] == u32::MAX {
        return Vec::new();
    }
    // Unreachable cells (and obstacles) have no distance: never step on them, and the
    // heuristic never overflows.
    let may_enter = |c: Cell| (!no_entry[c as usize] || c == goal) && table[c as usize] != u32::MAX;
    pathfinding::prelude::astar(
        &from,
        |c| grid.neighbors(*c).filter(|n| may_enter(*n)).map(|n| (n, 1u32)).collect::<Vec<_>>(),
        |c| table[*c as usize],
        |c| *c == goal,
    )
    .map(|(cells, _)| cells)
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAP: &str = "type octile\nheight 3\nwidth 5\nmap\n.....\n.....\n.....\n";

    #[test]
    fn paths_keep_out_of_storage_except_the_goal() {
        let grid = Grid::parse_movingai(MAP).expect("map");
        let mut no_entry = vec![false; grid.cells()];
        // The middle row's inner cells are storage.
        for x in 1..4 {
            no_entry[grid.cell(x, 1).expect("cell") as usize] = true;
        }
        let mut d = Distances::new();
        let from = grid.cell(0, 1).expect("cell");
        let goal = grid.cell(4, 1).expect("cell");
        let around = path(&grid, &no_entry, &mut d, from, goal);
        assert_eq!(around.len(), 7, "around the storage row, not through it");
        assert!(around[1..around.len() - 1].iter().all(|c| !no_entry[*c as usize]));
        let into = path(&grid, &no_entry, &mut d, from, grid.cell(2, 1).expect("cell"));
        assert_eq!(into.len(), 5, "storage goal entered from the aisle above: {into:?}");
    }

    #[test]
    fn the_cache_keeps_to_its_budget_and_forgets_the_tables_used_longest_ago() {
        let grid = Grid::parse_movingai("type octile\nheight 5\nwidth 5\nmap\n.....\n.....\n.....\n.....\n.....\n").expect("map");
        let no_entry = vec![false; grid.cells()];
        // 25 cells: 100 bytes a table, so 16 tables fit.
        let mut d = Distances::with_budget(1600);
        for goal in 0..16 {
            d.to(&grid, &no_entry, goal);
        }
        for goal in 0..4 {
            d.to(&grid, &no_entry, goal); // used again: now the freshest
        }
        assert_eq!(d.cached(), 16);
        let fresh = d.to(&grid, &no_entry, 16);
        assert_eq!(fresh[16], 0);
        assert_eq!(d.cached(), 16 - 4 + 1, "the four used longest ago (goals 4 to 7) went");
        for goal in (0..4).chain(8..17) {
            d.to(&grid, &no_entry, goal);
        }
        assert_eq!(d.cached(), 13, "the ones used lately were all still there");
        assert_eq!(d.to(&grid, &no_entry, 5)[9], 4, "a forgotten table comes back right: (4, 1) to (0, 1)");
    }

    #[test]
    fn step_never_enters_blocked_cells_or_swaps() {
        let grid = Grid::parse_movingai("type octile\nheight 1\nwidth 4\nmap\n....\n").expect("map");
        let no_entry = vec![false; 4];
        let mut d = Distances::new();
        // Two robots facing each other in a corridor: neither may pass, nobody swaps.
        let movers = [Mover { at: 1, goal: 2, restricted: false, priority: 2 }, Mover { at: 2, goal: 1, restricted: false, priority: 1 }];
        let next = step(&grid, &no_entry, &mut d, &movers, &[0, 3], 7);
        assert_eq!(next, vec![1, 2]);
        // With room behind, the lower priority robot backs off first; the other follows
        // into the freed cell one step later, never in the same step.
        let next = step(&grid, &no_entry, &mut d, &movers, &[0], 7);
        assert_eq!(next, vec![1, 3]);
        let after = [Mover { at: 1, goal: 2, restricted: false, priority: 2 }, Mover { at: 3, goal: 1, restricted: false, priority: 1 }];
        assert_eq!(step(&grid, &no_entry, &mut d, &after, &[0], 7), vec![2, 3]);
    }
}
