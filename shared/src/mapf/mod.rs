//! Multi-robot path planning on a grid: the floor map, collision-free plans and their checker.
//!
//! - `grid`: the floor as a 4-connected grid (MovingAI `.map` format) and BFS distances.
//! - `pibt`: Priority Inheritance with Backtracking (Okumura et al., 2022) — plans one step for
//!   every robot at once; used alone for lifelong (online) planning and as LaCAM's successor
//!   generator.
//! - `lacam`: LaCAM (Okumura, AAAI 2023) — a search over whole-fleet configurations with PIBT
//!   filling in each step under lazily added constraints. Complete: it finds a plan whenever
//!   one exists (given time), and reports failure otherwise. Not optimal.
//! - `scatter`: paths spread away from each other (LaCAM3's space utilisation), used as
//!   PIBT's first choices.
//! - `refine`: makes a plan cheaper a few robots at a time (large neighbourhood search).
//! - `verify`: checks a plan for vertex and swap conflicts; tests and benchmarks trust only it.
//!
//! Pure: no I/O, no clock; randomness comes from a seed so a plan can be replayed.

pub mod grid;
pub mod lacam;
pub mod pibt;
pub mod refine;
pub mod scatter;
pub mod verify;

pub use grid::{Cell, Grid, Heading, MapError};

/// A small deterministic PRNG (SplitMix64): tie-breaking needs randomness, replays need seeds.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p && p > 0.0
    }

    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

/// A plan: `steps[t][i]` is robot i's cell at time t; `steps[0]` are the starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub steps: Vec<Vec<Cell>>,
}

impl Plan {
    /// Sum over robots of the time each needs to reach its goal and stay there.
    pub fn sum_of_costs(&self, goals: &[Cell]) -> u64 {
        let mut total = 0;
        for (i, goal) in goals.iter().enumerate() {
            let last_away = self.steps.iter().rposition(|c| c[i] != *goal);
            total += last_away.map_or(0, |t| t as u64 + 1);
        }
        total
    }

    pub fn makespan(&self) -> usize {
        self.steps.len().saturating_sub(1)
    }
}
