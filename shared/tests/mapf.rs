//! The planner against its checker: random small instances (property test) and a real
//! MovingAI warehouse map from `../shared/mapf/`.

use proptest::prelude::*;
use tote_shared::mapf::grid::parse_scenario;
use std::time::Duration;
use tote_shared::mapf::lacam::{plan, solve, Budget, Options, PlanError};
use tote_shared::mapf::verify::verify;
use tote_shared::mapf::Grid;

fn instance(width: u32, height: u32, blocked: &[bool], picks: &[(u32, u32)]) -> Option<(Grid, Vec<u32>, Vec<u32>)> {
    let free: Vec<bool> = blocked.iter().map(|b| !b).collect();
    let grid = Grid::from_cells(width, height, free);
    let cells: Vec<u32> = (0..width * height).filter(|c| grid.is_free(*c)).collect();
    if cells.len() < 2 * picks.len() {
        return None;
    }
    let mut starts = Vec::new();
    let mut goals = Vec::new();
    for (s, g) in picks {
        let s = cells[*s as usize % cells.len()];
        let g = cells[*g as usize % cells.len()];
        if starts.contains(&s) || goals.contains(&g) {
            return None;
        }
        starts.push(s);
        goals.push(g);
    }
    Some((grid, starts, goals))
}

/// A floor of one-lane aisles around `blocks.0 × blocks.1` shelf blocks of `size` cells: every
/// aisle lies on a loop (the graph is 2-connected and not a single cycle), so any placement of
/// robots that leaves two cells free is solvable (Kornhauser, Miller and Spirakis, 1984).
fn one_lane_floor(blocks: (u32, u32), size: (u32, u32)) -> Grid {
    let (width, height) = (blocks.0 * (size.0 + 1) + 1, blocks.1 * (size.1 + 1) + 1);
    let free = (0..width * height).map(|c| (c % width) % (size.0 + 1) == 0 || (c / width) % (size.1 + 1) == 0).collect();
    Grid::from_cells(width, height, free)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, rng_seed: proptest::test_runner::RngSeed::Fixed(0x7073), ..ProptestConfig::default() })]

    #[test]
    fn every_plan_found_on_a_random_grid_is_conflict_free(
        blocked in prop::collection::vec(prop::bool::weighted(0.2), 36),
        picks in prop::collection::vec((0u32..1000, 0u32..1000), 1..7),
        seed in 0u64..1000,
    ) {
        let Some((grid, starts, goals)) = instance(6, 6, &blocked, &picks) else { return Ok(()) };
        // A small budget: an unsolvable instance is cut off instead of searched to the end.
        match solve(&grid, &starts, &goals, seed, Budget { max_nodes: 20_000, max_steps: 100_000, time: None }) {
            Ok(plan) => prop_assert!(verify(&grid, &starts, &goals, &plan).is_ok(), "{:?}", verify(&grid, &starts, &goals, &plan)),
            // Unsolvable instances may exhaust the budget before the search proves it.
            Err(PlanError::Unreachable(_) | PlanError::NoPlan | PlanError::Budget(..)) => {}
            Err(other) => prop_assert!(false, "unexpected {other}"),
        }
    }

    #[test]
    fn a_floor_of_one_lane_aisles_is_always_solved(
        blocks in (1u32..5, 1u32..4).prop_filter("at least two blocks", |(x, y)| x * y >= 2),
        size in (1u32..5, 1u32..4),
        robots in 1usize..200,
        shuffle in any::<u64>(),
        seed in 0u64..1000,
    ) {
        let grid = one_lane_floor(blocks, size);
        let cells: Vec<u32> = (0..grid.cells() as u32).filter(|c| grid.is_free(*c)).collect();
        // Up to a third of the aisle cells hold robots, always leaving two free.
        let n = robots.min(cells.len() / 3).max(1).min(cells.len() - 2);
        let mut rng = tote_shared::mapf::Rng::new(shuffle);
        let mut pick = cells.clone();
        rng.shuffle(&mut pick);
        let starts = pick[..n].to_vec();
        rng.shuffle(&mut pick);
        let goals = pick[..n].to_vec();
        let plan = solve(&grid, &starts, &goals, seed, Budget::nodes(200_000));
        prop_assert!(plan.is_ok(), "{n} robots on {blocks:?} blocks of {size:?}: {:?}", plan.err());
        let plan = plan.expect("checked");
        prop_assert!(verify(&grid, &starts, &goals, &plan).is_ok(), "{:?}", verify(&grid, &starts, &goals, &plan));
    }

    #[test]
    fn an_open_floor_is_always_solved(
        picks in prop::collection::vec((0u32..1000, 0u32..1000), 1..12),
        seed in 0u64..1000,
    ) {
        // A rectangle without obstacles is 2-connected, so any instance with two free cells
        // left is solvable (Kornhauser et al. 1984); a complete planner must find it.
        let Some((grid, starts, goals)) = instance(5, 5, &[false; 25], &picks) else { return Ok(()) };
        let plan = solve(&grid, &starts, &goals, seed, Budget::nodes(500_000));
        prop_assert!(plan.is_ok(), "{:?}", plan.err());
        let plan = plan.expect("checked");
        prop_assert!(verify(&grid, &starts, &goals, &plan).is_ok());
    }
}

fn movingai(map: &str, robots: usize) -> (Grid, Vec<u32>, Vec<u32>) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/mapf/movingai");
    let read = |name: &str| {
        std::fs::read_to_string(dir.join(name))
            .unwrap_or_else(|e| panic!("{} is missing ({e}): the MovingAI maps live in ../shared/mapf beside the repo", dir.join(name).display()))
    };
    let grid = Grid::parse_movingai(&read(&format!("{map}.map"))).expect("map parses");
    let pairs = parse_scenario(&grid, &read(&format!("{map}-random-1.scen")), robots).expect("scenario parses");
    let (starts, goals): (Vec<u32>, Vec<u32>) = pairs.into_iter().unzip();
    (grid, starts, goals)
}

/// Two hundred robots on one-lane aisles, where they meet head-on all the time: plain LaCAM
/// took 14 s and 200,000 nodes here; with swap, several PIBT runs and spread-out hints the
/// first plan comes within a few hundred nodes. Then LaCAM*'s search goes on to its node
/// budget and one pass of group replanning follows: a cheaper plan, still valid.
#[test]
fn two_hundred_robots_on_one_lane_aisles_are_planned_and_anytime_only_improves_the_plan() {
    let (grid, starts, goals) = movingai("warehouse-10-20-10-2-1", 200);
    let first = plan(&grid, &starts, &goals, 3, Budget::nodes(5_000), Options::default(), &|| Duration::ZERO).expect("solved within 5,000 nodes");
    verify(&grid, &starts, &goals, &first.plan).expect("conflict-free");
    assert_eq!(first.plan.sum_of_costs(&goals), first.first_soc);
    // Anytime on a node budget and one pass of group replanning: deterministic.
    let options = Options { anytime: true, refine_rounds: 1, ..Options::default() };
    let better = plan(&grid, &starts, &goals, 3, Budget::nodes(2_000), options, &|| Duration::ZERO).expect("solved");
    verify(&grid, &starts, &goals, &better.plan).expect("conflict-free after refining");
    assert_eq!(better.first_soc, first.first_soc, "the same seed finds the same first plan");
    assert!(better.plan.sum_of_costs(&goals) < first.first_soc, "{} then {}", first.first_soc, better.plan.sum_of_costs(&goals));
}

#[test]
fn a_time_limit_stops_the_search_with_an_error_naming_it() {
    let (grid, starts, goals) = movingai("warehouse-10-20-10-2-1", 200);
    let late = || Duration::from_secs(60);
    let budget = Budget { time: Some(Duration::from_secs(1)), ..Budget::nodes(5_000) };
    let options = Options { scatter: false, ..Options::default() };
    match plan(&grid, &starts, &goals, 3, budget, options, &late) {
        Err(PlanError::Time(spent, nodes)) => assert_eq!((spent, nodes), (Duration::from_secs(60), 1)),
        other => panic!("expected the time limit, got {:?}", other.map(|s| s.first_soc)),
    }
}

#[test]
fn a_hundred_robots_cross_a_movingai_warehouse_without_a_conflict() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/mapf/movingai");
    let read = |name: &str| {
        std::fs::read_to_string(dir.join(name))
            .unwrap_or_else(|e| panic!("{} is missing ({e}): the MovingAI maps live in ../shared/mapf beside the repo", dir.join(name).display()))
    };
    let grid = Grid::parse_movingai(&read("warehouse-10-20-10-2-1.map")).expect("map parses");
    let pairs = parse_scenario(&grid, &read("warehouse-10-20-10-2-1-random-1.scen"), 100).expect("scenario parses");
    let (starts, goals): (Vec<u32>, Vec<u32>) = pairs.into_iter().unzip();
    let plan = solve(&grid, &starts, &goals, 7, Budget::nodes(2_000_000)).expect("solved");
    verify(&grid, &starts, &goals, &plan).expect("conflict-free");
    let lower_bound: u64 = goals.iter().zip(&starts).map(|(g, s)| u64::from(grid.distances_to(*g)[*s as usize])).sum();
    assert!(plan.sum_of_costs(&goals) >= lower_bound);
}
