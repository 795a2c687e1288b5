//! PIBT: one collision-free step for every robot at once (Okumura et al., AIJ 2022).
//!
//! Robots act in priority order; each takes the free neighbour closest to its goal. A robot
//! that wants a cell another robot stands on makes that robot move first with the asker's
//! priority (priority inheritance); if it cannot, the asker tries its next-best cell
//! (backtracking). No two robots end in one cell, no two swap along an edge. With priorities
//! that grow while a robot is away from its goal, every robot reaches its goal in graphs
//! where each edge lies on a cycle (the warehouse case) — the basis of lifelong planning.
//!
//! On one-lane aisles two robots meeting head-on would each keep pushing the other back; with
//! `swap` on, PIBT+swap's rule (Okumura, LaCAM3 2024) spots that case — the corridor ahead has
//! no side branch before one of them is past — and the robot turns round and leads the other
//! back out to the nearest branch, pulling it along, where they pass. A `hint` per robot (the
//! next cell on a path spread away from others', `mapf::scatter`) is tried before the
//! distance order.

use super::grid::{Cell, Grid, NONE};
use super::Rng;
use std::sync::Arc;

/// Per robot, the cell to try first from a cell (the next step of its spread-out path).
pub type Hints = Vec<rustc_hash::FxHashMap<Cell, Cell>>;

const NOBODY: u32 = u32::MAX;
/// A cell held by a robot outside this step (driving, busy, out of service).
const BLOCKED: u32 = u32::MAX - 1;

/// What lifelong planning knows of each robot taking part in a step.
pub struct Lifelong<'g> {
    pub distances: Vec<Arc<Vec<u32>>>,
    pub goals: Vec<Cell>,
    pub restricted: Vec<bool>,
    pub no_entry: Option<&'g [bool]>,
    /// Forbid rotations (a push chain closing on itself): real robots cannot all move into
    /// each other's cells at once, and one that can never happen would repeat every step.
    pub no_rotations: bool,
    /// PIBT+swap: a robot meeting another head-on in a one-lane corridor leads it back out.
    pub swap: bool,
}

/// Scratch space reused across steps: occupancy per cell, now and next.
pub struct Pibt<'g> {
    grid: &'g Grid,
    /// `distances[i][c]`: steps from c to robot i's goal.
    distances: Vec<Arc<Vec<u32>>>,
    /// Robots that may not enter `no_entry` cells other than their goal (carrying a pod).
    restricted: Vec<bool>,
    goals: Vec<Cell>,
    no_entry: Option<&'g [bool]>,
    /// With rotations forbidden: which robots are in the push chain being built.
    in_chain: Option<Vec<bool>>,
    occupied_now: Vec<u32>,
    occupied_next: Vec<u32>,
    /// Set when a robot can neither move nor stay: the whole step fails.
    broken: bool,
    swap: bool,
    hints: Option<Arc<Hints>>,
    rng: Rng,
}

impl<'g> Pibt<'g> {
    /// One-shot planning's PIBT: distance tables shared with the caller, swap on or off, and
    /// optional hints. Swap assumes every move can be made both ways: off on one-way lanes.
    pub fn one_shot(grid: &'g Grid, distances: Vec<Arc<Vec<u32>>>, goals: &[Cell], swap: bool, hints: Option<Arc<Hints>>, seed: u64) -> Pibt<'g> {
        let swap = swap && !grid.is_directed();
        let robots = Lifelong { distances, goals: goals.to_vec(), restricted: vec![false; goals.len()], no_entry: None, no_rotations: false, swap };
        let mut pibt = Pibt::lifelong(grid, robots, seed);
        pibt.hints = hints;
        pibt
    }

    /// PIBT for one step of lifelong planning: distance tables come from the caller's cache,
    /// and restricted robots keep out of `no_entry` cells except their own goal.
    pub fn lifelong(grid: &'g Grid, robots: Lifelong<'g>, seed: u64) -> Pibt<'g> {
        Pibt {
            grid,
            distances: robots.distances,
            in_chain: robots.no_rotations.then(|| vec![false; robots.goals.len()]),
            restricted: robots.restricted,
            goals: robots.goals,
            no_entry: robots.no_entry,
            occupied_now: vec![NOBODY; grid.cells()],
            occupied_next: vec![NOBODY; grid.cells()],
            broken: false,
            swap: robots.swap,
            hints: None,
            rng: Rng::new(seed),
        }
    }

    pub fn distance(&self, robot: usize, from: Cell) -> u32 {
        self.distances[robot][from as usize]
    }

    /// Like `step`, with `blocked` cells held by robots that do not take part.
    pub fn step_around(&mut self, now: &[Cell], blocked: &[Cell], order: &[usize]) -> Option<Vec<Cell>> {
        for b in blocked {
            self.occupied_next[*b as usize] = BLOCKED;
        }
        let next = self.step(now, &[], order);
        for b in blocked {
            if self.occupied_next[*b as usize] == BLOCKED {
                self.occupied_next[*b as usize] = NOBODY;
            }
        }
        next
    }

    fn may_enter(&self, i: usize, c: Cell) -> bool {
        match self.no_entry {
            Some(no_entry) if self.restricted[i] => !no_entry[c as usize] || self.goals[i] == c,
            _ => true,
        }
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
            if *c != NONE && self.occupied_next[*c as usize] != BLOCKED {
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
        if let Some(chain) = self.in_chain.as_mut() {
            chain[i] = true;
        }
        let done = self.push_in_chain(i, asker, now, next);
        if let Some(chain) = self.in_chain.as_mut() {
            chain[i] = false;
        }
        done
    }

    fn push_in_chain(&mut self, i: usize, asker: u32, now: &[Cell], next: &mut [Cell]) -> bool {
        let here = now[i];
        let mut candidates = self.candidates(i, here);
        let partner = if self.swap { self.swap_partner(i, now, next, &candidates) } else { None };
        if partner.is_some() {
            // Turn round: the cell away from the other robot first.
            candidates.reverse();
        }
        for (k, to) in candidates.into_iter().enumerate() {
            if self.occupied_next[to as usize] != NOBODY {
                continue;
            }
            let there = self.occupied_now[to as usize];
            // Never swap with a robot already moving into our cell.
            if there != NOBODY && next[there as usize] == here {
                continue;
            }
            // Nor close a rotation: the cell of a robot earlier in this push chain.
            if there != NOBODY && there != i as u32 && self.in_chain.as_ref().is_some_and(|c| c[there as usize]) {
                continue;
            }
            self.occupied_next[to as usize] = i as u32;
            next[i] = to;
            if there != NOBODY && to != here && next[there as usize] == NONE && !self.push(there as usize, i as u32, now, next) {
                continue;
            }
            if k == 0 {
                if let Some(j) = partner {
                    self.pull(j, here, now, next);
                }
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

    /// Robot i's choices from `here` (its neighbours it may enter, and staying), best first:
    /// its hint, then nearest to its goal, ties broken at random.
    fn candidates(&mut self, i: usize, here: Cell) -> Vec<Cell> {
        let mut candidates: Vec<Cell> = self.grid.neighbors(here).filter(|c| self.may_enter(i, *c)).chain(std::iter::once(here)).collect();
        self.rng.shuffle(&mut candidates);
        let dist = &self.distances[i];
        let hint = self.hints.as_ref().and_then(|h| h[i].get(&here).copied());
        candidates.sort_by_key(|c| (Some(*c) != hint, dist[*c as usize]));
        candidates
    }

    /// The robot that i, having turned round, should pull into its cell: the one standing
    /// where i wants to go with no way past before the corridor branches (or one behind i
    /// that i's move would otherwise block the same way). None when no swap is needed or
    /// none is possible.
    fn swap_partner(&self, i: usize, now: &[Cell], next: &[Cell], candidates: &[Cell]) -> Option<usize> {
        let (here, best) = (now[i], candidates[0]);
        let j = self.occupied_now[best as usize];
        if j != NOBODY && j as usize != i && next[j as usize] == NONE && self.swap_required(i, j as usize, here, best) && self.swap_possible(best, here) {
            return Some(j as usize);
        }
        if best == here {
            return None;
        }
        // Clearing the way for a robot behind (push-and-swap's "clear"): judged one step on.
        self.grid.neighbors(here).find_map(|u| {
            let k = self.occupied_now[u as usize];
            let found = k != NOBODY && now[k as usize] != best && self.swap_required(k as usize, i, here, best) && self.swap_possible(best, here);
            found.then_some(k as usize)
        })
    }

    /// Moves robot j into `cell` (the cell the robot pulling it leaves), if j is still free to
    /// be placed and the cell is.
    fn pull(&mut self, j: usize, cell: Cell, now: &[Cell], next: &mut [Cell]) {
        if next[j] == NONE && self.occupied_next[cell as usize] == NOBODY && self.may_enter(j, cell) && self.grid.adjacent(now[j], cell) {
            self.occupied_next[cell as usize] = j as u32;
            next[j] = cell;
        }
    }

    /// Walking from the pusher's cell into the puller's and on along the corridor while it
    /// does not branch and still leads the pusher towards its goal: do they get stuck
    /// head-on? (Then the puller is better off leading the pusher backwards.)
    fn swap_required(&self, pusher: usize, puller: usize, mut at_pusher: Cell, mut at_puller: Cell) -> bool {
        let d = &self.distances[pusher];
        while d[at_puller as usize] < d[at_pusher as usize] {
            match self.ways_on(at_puller, at_pusher) {
                (0, _) => break,
                (1, on) => (at_pusher, at_puller) = (at_puller, on),
                _ => return false,
            }
        }
        let dp = &self.distances[puller];
        dp[at_pusher as usize] < dp[at_puller as usize] && (d[at_pusher as usize] == 0 || d[at_puller as usize] < d[at_pusher as usize])
    }

    /// Pulling backwards from the puller's cell away from the pusher: is there a branch to
    /// pass at before a dead end (or before coming round to the start)?
    fn swap_possible(&self, from_pusher: Cell, from_puller: Cell) -> bool {
        let (mut at_pusher, mut at_puller) = (from_pusher, from_puller);
        while at_puller != from_pusher {
            match self.ways_on(at_puller, at_pusher) {
                (0, _) => return false,
                (1, on) => (at_pusher, at_puller) = (at_puller, on),
                _ => return true,
            }
        }
        false
    }

    /// The ways on from `at` not back to `from` and not into a dead-end cell where a robot
    /// rests at its goal: how many, and one of them.
    fn ways_on(&self, at: Cell, from: Cell) -> (usize, Cell) {
        let mut count = 0;
        let mut one = NONE;
        for u in self.grid.neighbors(at) {
            let resting = self.occupied_now[u as usize];
            let parked = resting != NOBODY && self.goals[resting as usize] == u && self.grid.degree(u) == 1;
            if u != from && !parked {
                count += 1;
                one = u;
            }
        }
        (count, one)
    }
}
