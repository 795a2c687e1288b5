use std::time::{Duration, Instant};
use tote_shared::mapf::grid::parse_scenario;
use tote_shared::mapf::lacam::{plan, Budget, Options};
use tote_shared::mapf::verify::verify;
use tote_shared::mapf::Grid;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let maps: Vec<String> = args[1].split(',').map(String::from).collect();
    let ns: Vec<usize> = args[2].split(',').map(|s| s.parse().unwrap()).collect();
    let secs: f64 = args.get(3).map_or(10.0, |s| s.parse().unwrap());
    let anytime = args.get(4).is_some_and(|s| s == "star");
    let runs: usize = args.get(5).map_or(10, |s| s.parse().unwrap());
    let scatter = args.get(6).is_none_or(|s| s != "noscatter");
    let dir = std::path::Path::new("../shared/mapf/movingai");
    for map in &maps {
        let grid = Grid::parse_movingai(&std::fs::read_to_string(dir.join(format!("{map}.map"))).unwrap()).unwrap();
        let scen = std::fs::read_to_string(dir.join(format!("{map}-random-1.scen"))).unwrap();
        for &n in &ns {
            let (starts, goals): (Vec<u32>, Vec<u32>) = parse_scenario(&grid, &scen, n).unwrap().into_iter().unzip();
            let lb: u64 = goals.iter().zip(&starts).map(|(g, s)| u64::from(grid.distances_to(*g)[*s as usize])).sum();
            let t0 = Instant::now();
            let budget = Budget { max_nodes: 5_000_000, max_steps: 50_000_000, time: Some(Duration::from_secs_f64(secs)) };
            let opts = Options { anytime, pibt_runs: runs, scatter, ..Options::default() };
            let r = plan(&grid, &starts, &goals, 1, budget, opts, &|| t0.elapsed());
            let ms = t0.elapsed().as_secs_f64() * 1000.0;
            match r {
                Ok(s) => println!("{map} N={n} ok={} first {:.1} ms SoC/LB {:.3} final {:.3} nodes {} total {:.0} ms", verify(&grid, &starts, &goals, &s.plan).is_ok(), s.first_at.as_secs_f64()*1000.0, s.first_soc as f64 / lb as f64, s.plan.sum_of_costs(&goals) as f64 / lb as f64, s.first_nodes, ms),
                Err(e) => println!("{map} N={n} FAIL {e} {ms:.0} ms"),
            }
        }
    }
}
