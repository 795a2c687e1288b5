//! The planner against its checker: random small instances (property test) and a real
//! MovingAI warehouse map from `../shared/mapf/`.

use proptest::prelude::*;
use tote_shared::mapf::grid::parse_scenario;
use tote_shared::mapf::lacam::{solve, Budget, PlanError};
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
        match solve(&grid, &starts, &goals, seed, Budget { max_nodes: 20_000, max_steps: 100_000 }) {
            Ok(plan) => prop_assert!(verify(&grid, &starts, &goals, &plan).is_ok(), "{:?}", verify(&grid, &starts, &goals, &plan)),
            // Unsolvable instances may exhaust the budget before the search proves it.
            Err(PlanError::Unreachable(_) | PlanError::NoPlan | PlanError::Budget(..)) => {}
            Err(other) => prop_assert!(false, "unexpected {other}"),
        }
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
