//! Deterministic simulation of edge ↔ central sync (issue 20, after FoundationDB's simulation
//! and TigerBeetle's VOPR): the edge's real `SyncClient`, its real SQLite store, and central's
//! real database layer and edge-event dispatcher, joined by an in-memory link that loses
//! requests and answers, delivers twice, holds pushes back and delivers them late (out of
//! order), replays stale pulls, and partitions — while both sides do business (receipts,
//! damage, orders, cancels, pick/pack/ship) and restart (their stores closed and opened again
//! from the files). Every choice comes from one seeded RNG and the steps run one at a time,
//! so a seed replays the same run. After the faults stop and the sides quiesce, the
//! invariants of `check` must hold.
//!
//! `TOTE_SIM_SEED=n` replays one seed with its trace; `TOTE_SIM_SEEDS=N` runs N seeds per
//! shard (the long run in BENCHMARKS.md). A seed that ever fails goes into `KEPT`.

mod world;

use std::time::Instant;
use world::{Outcome, World};

/// Seeds each shard runs in the suite: 8 shards × 256 = 2,048 seeds.
const SEEDS_PER_SHARD: u64 = 256;
const SHARDS: u64 = 8;
/// Seeds that once failed, replayed on every run.
const KEPT: &[u64] = &[];

fn run_seeds(seeds: impl Iterator<Item = u64>, label: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let templates = world::Templates::build().await;
        let started = Instant::now();
        let mut totals = Outcome::default();
        let mut count = 0u64;
        for seed in seeds {
            let verbose = std::env::var("TOTE_SIM_SEED").is_ok();
            match World::run(&templates, seed, verbose).await {
                Ok(outcome) => totals.add(&outcome),
                Err(failure) => panic!("sync simulation seed {seed} failed (replay: TOTE_SIM_SEED={seed} cargo nextest run -p tote-tests --test sync_sim --no-capture): {failure:#}"),
            }
            count += 1;
        }
        let secs = started.elapsed().as_secs_f64();
        eprintln!("{label}: {count} seeds in {secs:.1} s ({:.1} seeds/s); {totals}", count as f64 / secs.max(1e-9));
    });
}

fn shard(n: u64) {
    if let Ok(seed) = std::env::var("TOTE_SIM_SEED") {
        let seed: u64 = seed.parse().expect("TOTE_SIM_SEED is a number");
        // One seed, replayed by the first shard only.
        if n == 0 {
            run_seeds(std::iter::once(seed), "replay");
        }
        return;
    }
    let per = std::env::var("TOTE_SIM_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(SEEDS_PER_SHARD);
    let first = n * per;
    run_seeds(first..first + per, &format!("shard {n}/{SHARDS}"));
}

#[test]
fn kept_seeds_still_hold() {
    run_seeds(KEPT.iter().copied(), "kept seeds");
}

#[test]
fn sync_converges_exactly_once_under_faults_shard_0() {
    shard(0)
}

#[test]
fn sync_converges_exactly_once_under_faults_shard_1() {
    shard(1)
}

#[test]
fn sync_converges_exactly_once_under_faults_shard_2() {
    shard(2)
}

#[test]
fn sync_converges_exactly_once_under_faults_shard_3() {
    shard(3)
}

#[test]
fn sync_converges_exactly_once_under_faults_shard_4() {
    shard(4)
}

#[test]
fn sync_converges_exactly_once_under_faults_shard_5() {
    shard(5)
}

#[test]
fn sync_converges_exactly_once_under_faults_shard_6() {
    shard(6)
}

#[test]
fn sync_converges_exactly_once_under_faults_shard_7() {
    shard(7)
}
