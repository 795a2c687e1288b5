//! The path-planning benchmark: one-shot MovingAI instances (first N agents of each
//! `random-1.scen`) solved by LaCAM, checked by the verifier, with figures printed.

use anyhow::{Context, Result};
use std::path::Path;
use std::time::Instant;
use tote_shared::mapf::grid::parse_scenario;
use tote_shared::mapf::lacam::{solve, Budget};
use tote_shared::mapf::verify::verify;
use tote_shared::mapf::Grid;

pub const MAPS: [&str; 4] = ["warehouse-10-20-10-2-1", "warehouse-10-20-10-2-2", "warehouse-20-40-10-2-1", "warehouse-20-40-10-2-2"];

pub fn run(dir: &Path, maps: &[&str], agents: &[usize], max_nodes: usize) -> Result<()> {
    println!("{:<24} {:>5} {:>8} {:>10} {:>12} {:>7} {:>9} {:>10}", "map", "N", "solved", "SoC", "SoC/LB", "span", "nodes≤", "time ms");
    for map in maps {
        let read = |ext: &str| {
            let path = dir.join(format!("{map}{ext}"));
            std::fs::read_to_string(&path).with_context(|| format!("{} is missing: the maps live in ../shared/mapf/movingai", path.display()))
        };
        let grid = Grid::parse_movingai(&read(".map")?)?;
        let scen = read("-random-1.scen")?;
        for &n in agents {
            let pairs = parse_scenario(&grid, &scen, n)?;
            let (starts, goals): (Vec<u32>, Vec<u32>) = pairs.into_iter().unzip();
            let lower: u64 = goals.iter().zip(&starts).map(|(g, s)| u64::from(grid.distances_to(*g)[*s as usize])).sum();
            let started = Instant::now();
            let result = solve(&grid, &starts, &goals, 1, Budget { max_nodes });
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            match result {
                Ok(plan) => {
                    let ok = verify(&grid, &starts, &goals, &plan).is_ok();
                    let soc = plan.sum_of_costs(&goals);
                    println!(
                        "{map:<24} {n:>5} {:>8} {soc:>10} {:>12.3} {:>7} {max_nodes:>9} {ms:>10.1}",
                        if ok { "yes" } else { "INVALID" },
                        soc as f64 / lower as f64,
                        plan.makespan()
                    );
                }
                Err(e) => println!("{map:<24} {n:>5} {:>8} {:>10} {:>12} {:>7} {max_nodes:>9} {ms:>10.1}  ({e})", "no", "-", "-", "-"),
            }
        }
    }
    Ok(())
}
