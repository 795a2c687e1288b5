//! Benchmarks of the pure core (no daemons). Path planning: one-shot MovingAI instances (first N agents of each
//! `random-1.scen`) solved by LaCAM*, checked by the verifier, side by side with LaCAM3 when its binary is given.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tote_shared::mapf::grid::parse_scenario;
use tote_shared::mapf::lacam::{plan, Budget, Options, Solved};
use tote_shared::mapf::verify::verify;
use tote_shared::mapf::{Cell, Grid};

pub const MAPS: [&str; 4] = ["warehouse-10-20-10-2-1", "warehouse-10-20-10-2-2", "warehouse-20-40-10-2-1", "warehouse-20-40-10-2-2"];

/// What `bench planner` runs.
pub struct PlannerBench<'a> {
    pub dir: &'a Path,
    pub maps: &'a [&'a str],
    pub agents: &'a [usize],
    pub max_nodes: usize,
    /// Time limit per instance for the first plan.
    pub limit: Duration,
    /// Anytime runs of this long (0: none).
    pub refine: Duration,
    /// LaCAM3's `main` binary, run on the same instances one after the other.
    pub lacam3: Option<&'a Path>,
}

/// One planner's figures on one instance.
#[derive(Default, Clone, Copy)]
struct Figures {
    ms: Option<f64>,
    soc_lb: Option<f64>,
}

impl Figures {
    fn cell(&self) -> String {
        match (self.ms, self.soc_lb) {
            (Some(ms), Some(q)) => format!("{ms:.0} ms, {q:.3}"),
            (Some(ms), None) => format!("none ({ms:.0} ms)"),
            _ => "-".to_owned(),
        }
    }
}

pub fn run(bench: &PlannerBench) -> Result<()> {
    println!(
        "{:<24} {:>5} | {:>18} {:>18} | {:>16} | {:>16} {:>16}",
        "map", "N", "ours first", "LaCAM3 first", "ours at L3 time", "ours refined", "LaCAM3 refined"
    );
    let mut solved = (0, 0, 0);
    for map in bench.maps {
        let map_path = bench.dir.join(format!("{map}.map"));
        let scen_path = bench.dir.join(format!("{map}-random-1.scen"));
        let read = |path: &Path| std::fs::read_to_string(path).with_context(|| format!("{} is missing: the maps live in ../shared/mapf/movingai", path.display()));
        let grid = Grid::parse_movingai(&read(&map_path)?)?;
        let scen = read(&scen_path)?;
        for &n in bench.agents {
            let (starts, goals): (Vec<Cell>, Vec<Cell>) = parse_scenario(&grid, &scen, n)?.into_iter().unzip();
            let lower: u64 = goals.iter().zip(&starts).map(|(g, s)| u64::from(grid.distances_to(*g)[*s as usize])).sum();
            let ours = run_ours(&grid, &starts, &goals, lower, Budget { time: Some(bench.limit), ..Budget::nodes(bench.max_nodes) }, false)?;
            let theirs = match bench.lacam3 {
                Some(bin) => run_lacam3(bin, &map_path, &scen_path, n, bench.limit, false)?,
                None => Figures::default(),
            };
            // Ours, anytime, given exactly the time LaCAM3 took for its first plan.
            let same_time = match theirs {
                Figures { ms: Some(ms), soc_lb: Some(_) } => run_ours(&grid, &starts, &goals, lower, Budget { time: Some(Duration::from_secs_f64(ms / 1000.0)), ..Budget::nodes(bench.max_nodes) }, true)?,
                _ => Figures::default(),
            };
            let (refined, theirs_refined) = if bench.refine.is_zero() {
                (Figures::default(), Figures::default())
            } else {
                let ours = run_ours(&grid, &starts, &goals, lower, Budget { time: Some(bench.refine), ..Budget::nodes(bench.max_nodes) }, true)?;
                let theirs = match bench.lacam3 {
                    Some(bin) => run_lacam3(bin, &map_path, &scen_path, n, bench.refine, true)?,
                    None => Figures::default(),
                };
                (ours, theirs)
            };
            solved.0 += 1;
            solved.1 += usize::from(ours.soc_lb.is_some());
            solved.2 += usize::from(theirs.soc_lb.is_some());
            let q = |f: Figures| f.soc_lb.map_or("-".to_owned(), |q| format!("{q:.3}"));
            println!(
                "{map:<24} {n:>5} | {:>18} {:>18} | {:>16} | {:>16} {:>16}",
                ours.cell(),
                theirs.cell(),
                q(same_time),
                q(refined),
                q(theirs_refined)
            );
        }
    }
    println!("solved: ours {} of {}, LaCAM3 {} of {}", solved.1, solved.0, solved.2, if bench.lacam3.is_some() { solved.0 } else { 0 });
    Ok(())
}

/// Our planner on one instance: the first plan, or (anytime) the best within the time limit.
/// A plan the verifier rejects is an error, not a figure.
fn run_ours(grid: &Grid, starts: &[Cell], goals: &[Cell], lower: u64, budget: Budget, anytime: bool) -> Result<Figures> {
    let started = Instant::now();
    let options = Options { anytime, ..Options::default() };
    let result = plan(grid, starts, goals, 1, budget, options, &|| started.elapsed());
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let Ok(Solved { plan, first_at, .. }) = result else {
        return Ok(Figures { ms: Some(ms), soc_lb: None });
    };
    if let Err(conflict) = verify(grid, starts, goals, &plan) {
        bail!("our plan is invalid: {conflict}");
    }
    let ms = if anytime { ms } else { first_at.as_secs_f64() * 1000.0 };
    Ok(Figures { ms: Some(ms), soc_lb: Some(plan.sum_of_costs(goals) as f64 / lower as f64) })
}

/// LaCAM3 (github.com/Kei18/lacam3, built outside the repo) on one instance, single-threaded:
/// its first plan (`--no-star`) or its anytime result after `limit`. Its own feasibility check
/// runs before it writes a result.
fn run_lacam3(bin: &Path, map: &Path, scen: &Path, n: usize, limit: Duration, anytime: bool) -> Result<Figures> {
    let out = std::env::temp_dir().join(format!("tote-lacam3-{}.txt", std::process::id()));
    let _ = std::fs::remove_file(&out);
    let secs = limit.as_secs().max(1).to_string();
    let mut command = std::process::Command::new(bin);
    command.args(["-m".as_ref(), map.as_os_str(), "-i".as_ref(), scen.as_os_str(), "-N".as_ref(), n.to_string().as_ref(), "-t".as_ref(), secs.as_ref(), "--no-multi-thread".as_ref(), "-o".as_ref(), out.as_os_str(), "-v".as_ref(), "0".as_ref()]);
    if !anytime {
        command.arg("--no-star");
    }
    let status = command.status().with_context(|| format!("running {}", bin.display()))?;
    if !status.success() {
        bail!("{} exited with {status}", bin.display());
    }
    let text = std::fs::read_to_string(&out).with_context(|| format!("LaCAM3 wrote no result to {}", out.display()))?;
    let _ = std::fs::remove_file(&out);
    let field = |key: &str| text.lines().find_map(|l| l.strip_prefix(key).and_then(|v| v.strip_prefix('='))).and_then(|v| v.trim().parse::<f64>().ok());
    let ms = field("comp_time");
    let solved = field("solved") == Some(1.0);
    let soc_lb = match (solved, field("soc"), field("soc_lb")) {
        (true, Some(soc), Some(lb)) if lb > 0.0 => Some(soc / lb),
        _ => None,
    };
    Ok(Figures { ms, soc_lb })
}

/// The default place of a LaCAM3 build made by `tools/lacam3.sh`.
pub fn lacam3_default() -> Option<PathBuf> {
    let path = std::env::temp_dir().join("lacam3/build/main");
    path.exists().then_some(path)
}

pub fn quotes(count: usize) -> Result<()> {
    use tote_central::logistics::choice::{choose, Request, Rules};
    use tote_central::logistics::rates::{freight, Carrier, Insurance, Lane, Parcel, RateCard, RemoteArea, Service};
    use tote_shared::geo::PROVINCES;
    let mut rng = tote_shared::mapf::Rng::new(0x9107);
    let carriers: Vec<Carrier> = ["SF", "JD", "ZTO", "YTO", "EMS"]
        .iter()
        .enumerate()
        .map(|(i, code)| Carrier {
            code: (*code).into(),
            name: (*code).into(),
            volumetric_divisor: if i % 2 == 0 { 6_000 } else { 8_000 },
            insurance: (i != 2).then_some(Insurance { rate_bp: 30 + 10 * i as u32, min_fee: 100, max_declared: 5_000_000 }),
            signature: i < 2,
            fragile: i != 3,
            max_weight_g: 50_000,
            max_side_mm: 1_500,
            suspended: None,
        })
        .collect();
    let mut lanes = Vec::new();
    for carrier in &carriers {
        for (p, (province, _)) in PROVINCES.iter().enumerate() {
            for (s, service) in Service::ALL.into_iter().enumerate() {
                lanes.push(Lane {
                    carrier: carrier.code.clone(),
                    service,
                    origin: "SH-01".into(),
                    province: (*province).into(),
                    first_weight_g: 1_000,
                    first_price: 800 + 100 * (p as i64 % 7) + 600 * s as i64 + rng.below(300) as i64,
                    step_g: if s == 2 { 500 } else { 1_000 },
                    step_price: 100 + 50 * (p as i64 % 5) + rng.below(100) as i64,
                    transit_days: 1 + (p as u32 % 4) + 2 - s as u32,
                    valid_from: 0,
                    valid_to: None,
                });
            }
        }
    }
    let remote: Vec<RemoteArea> = ["xizang", "xinjiang", "qinghai"]
        .iter()
        .flat_map(|p| carriers.iter().map(move |c| RemoteArea { carrier: c.code.clone(), province: (*p).into(), city: "*".into(), surcharge: 1_500 }))
        .collect();
    let card = RateCard::new(carriers, lanes, remote);
    let rules = Rules { insure_from: 50_000, high_value_from: 200_000 };
    let parcels: Vec<(usize, Parcel, u32)> = (0..4_096)
        .map(|_| {
            let side = 100 + rng.below(500) as u64;
            let declared = if rng.below(10) == 0 { 60_000 + rng.below(400_000) as i64 } else { rng.below(50_000) as i64 };
            let parcel = Parcel { weight_g: 100 + rng.below(29_900) as u64, volume_mm3: side * side * side / 2, longest_side_mm: side, declared_value: declared, fragile: rng.below(8) == 0 };
            (rng.below(PROVINCES.len()), parcel, 1 + rng.below(5) as u32)
        })
        .collect();
    let started = Instant::now();
    let mut chosen = 0usize;
    for k in 0..count {
        let (p, parcel, promise_days) = parcels[k % parcels.len()];
        let request = Request { origin: "SH-01", province: PROVINCES[p].0, city: "", parcel, promise_days, today: 20_000 };
        chosen += usize::from(choose(&card, &rules, &request).chosen.is_some());
    }
    let per_second = count as f64 / started.elapsed().as_secs_f64();
    let all: Vec<&Lane> = PROVINCES.iter().flat_map(|(p, _)| card.lanes_to("SH-01", p)).collect();
    let started = Instant::now();
    let mut sum = 0i64;
    for k in 0..count {
        let (p, parcel, _) = parcels[k % parcels.len()];
        for lane in card.lanes_to("SH-01", PROVINCES[p].0) {
            sum = sum.wrapping_add(freight(lane, parcel.weight_g));
        }
    }
    let bare = count as f64 / started.elapsed().as_secs_f64();
    println!(
        "quotes  {per_second:.0} choices/s on one core ({} lanes, 15 carrier services per choice, {:.0} % placed); bare freight arithmetic for the same parcels {bare:.0}/s (choice at {:.2}× of it; checksum {sum})",
        all.len(),
        100.0 * chosen as f64 / count as f64,
        per_second / bare
    );
    Ok(())
}

/// Split routing: 5-line orders over 10 warehouses in 10 cities, seeded stock (a SKU is out at
/// a warehouse one time in three), destinations among 15 cities. Plans per second on one core,
/// beside the nearest-single-warehouse rule alone for the same orders (the reference), and how
/// many parcels the plans took.
pub fn split(count: usize) -> Result<()> {
    use tote_central::orders::routing::{choose_warehouse, plan, Candidate, Site};
    use tote_shared::geo::city_point;
    use tote_shared::WarehouseCode;
    let mut rng = tote_shared::mapf::Rng::new(0x5b17);
    let cities = ["shanghai", "beijing", "guangzhou", "shenzhen", "chengdu", "wuhan", "hangzhou", "nanjing", "tianjin", "chongqing"];
    let destinations = ["shanghai", "beijing", "guangzhou", "chengdu", "wuhan", "nanjing", "tianjin", "hangzhou", "shenzhen", "chongqing", "suzhou", "xian", "changsha", "qingdao", "zhengzhou"];
    let point = |c: &str| city_point(c).with_context(|| format!("city {c}"));
    let dests = destinations.iter().map(|c| point(c)).collect::<Result<Vec<_>>>()?;
    let codes: Vec<WarehouseCode> = (0..cities.len()).map(|i| WarehouseCode::parse(&format!("W{}-01", (b'A' + i as u8) as char))).collect::<Result<_, _>>()?;
    let points = cities.iter().map(|c| point(c)).collect::<Result<Vec<_>>>()?;
    // 4,096 orders, each its own 5 SKUs' stock at every warehouse.
    let orders: Vec<(Vec<Site>, Vec<i64>, usize)> = (0..4_096)
        .map(|_| {
            let wants: Vec<i64> = (0..5).map(|_| 1 + rng.below(2) as i64).collect();
            let sites = (0..cities.len())
                .map(|w| Site {
                    warehouse: codes[w].clone(),
                    point: points[w],
                    sellable: (0..5).map(|_| if rng.below(3) == 0 { 0 } else { rng.below(4) as i64 }).collect(),
                })
                .collect();
            (sites, wants, rng.below(dests.len()))
        })
        .collect();
    let started = Instant::now();
    let mut by_parts = [0usize; 6];
    for k in 0..count {
        let (sites, wants, d) = &orders[k % orders.len()];
        let parts = plan(sites, wants, &dests[*d], &[], 4).map_or(0, |p| p.len());
        by_parts[parts.min(5)] += 1;
    }
    let per_second = count as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    let mut single = 0usize;
    for k in 0..count {
        let (sites, wants, d) = &orders[k % orders.len()];
        let candidates: Vec<Candidate> = sites
            .iter()
            .map(|s| Candidate { warehouse: s.warehouse.clone(), point: s.point, serves_all_lines: s.sellable.iter().zip(wants).all(|(have, want)| have >= want) })
            .collect();
        single += usize::from(choose_warehouse(&candidates, &dests[*d], &[]).is_some());
    }
    let reference = count as f64 / started.elapsed().as_secs_f64();
    let pct = |n: usize| 100.0 * n as f64 / count as f64;
    println!(
        "split  {per_second:.0} plans/s on one core (5 lines, 10 warehouses); nearest single warehouse alone {reference:.0}/s (plan at {:.2}× of it)",
        per_second / reference
    );
    println!(
        "split  parcels per order: 1 {:.1} %, 2 {:.1} %, 3 {:.1} %, 4 {:.1} %, none {:.1} %; the single-warehouse rule alone served {:.1} %",
        pct(by_parts[1]),
        pct(by_parts[2]),
        pct(by_parts[3]),
        pct(by_parts[4]),
        pct(by_parts[0]),
        pct(single)
    );
    Ok(())
}

pub fn gs1(fuzz: usize) -> Result<()> {
    use tote_shared::scan::parse;
    let samples = [
        "]C1010950600013435217261231\u{1d}10ABC123\u{1d}21SN-9",
        "]d2010950600013435210LOT7\u{1d}17270200",
        "(01)09506000134352(10)LOT7(17)270200",
        "]C100106141411234567897020950600013435237120",
        "4006381333931",
        "A-03-2",
    ];
    let rounds = 200_000;
    let started = Instant::now();
    let mut ok = 0usize;
    for k in 0..rounds {
        ok += usize::from(parse(samples[k % samples.len()], 2026).is_ok());
    }
    let per_second = rounds as f64 / started.elapsed().as_secs_f64();
    anyhow::ensure!(ok == rounds, "a valid sample failed to parse");
    let mut rng = tote_shared::mapf::Rng::new(0x6551);
    let alphabet: Vec<char> = "0123456789012345678901234567890123456789\u{1d}()]CdQ123-APOD%é€\u{0}".chars().collect();
    let started = Instant::now();
    let mut accepted = 0usize;
    for k in 0..fuzz {
        let input: String = if k % 2 == 0 {
            (0..rng.below(60)).map(|_| alphabet[rng.below(alphabet.len())]).collect()
        } else {
            let mut chars: Vec<char> = samples[rng.below(samples.len())].chars().collect();
            for _ in 0..=rng.below(4) {
                let at = rng.below(chars.len() + 1);
                let c = alphabet[rng.below(alphabet.len())];
                match rng.below(3) {
                    0 => chars.insert(at, c),
                    1 if at < chars.len() => {
                        chars.remove(at);
                    }
                    _ if at < chars.len() => chars[at] = c,
                    _ => chars.push(c),
                }
            }
            chars.into_iter().collect()
        };
        let outcome = std::panic::catch_unwind(|| parse(&input, 2026));
        match outcome {
            Ok(result) => accepted += usize::from(result.is_ok()),
            Err(_) => anyhow::bail!("parse panicked on {input:?}"),
        }
    }
    println!(
        "gs1     {per_second:.0} parses/s (realistic scans); fuzz: {fuzz} random and mutated inputs in {:.1} s, 0 panics, {accepted} accepted",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A goods-to-person shift in simulated time (one step = one second: 1 m cells at 1 m/s) on
/// a layout, for each fleet size: lines picked per hour per station and in total against
/// the station bound (one line per `pick_s` seconds), robot utilisation, charges, and the
/// conflicts the simulation counted (must be zero).
pub fn gtp(name: &str, floor: tote_shared::gtp::Layout, robots: &[usize], hours: u64, pick_s: u32, seed: u64, pods: usize) -> Result<()> {
    use tote_shared::gtp::sim::{FloorSim, SimConfig};
    let stations = floor.stations.len();
    let bound = 3600 / u64::from(pick_s.max(1));
    println!("{name} ({} stations, {} spots), {hours} h shift, {pick_s} s per line: station bound {bound} lines/h", stations, floor.storage.len());
    println!(
        "{:>6} {:>10} {:>14} {:>9} {:>7} {:>9} {:>8} {:>9} {:>10} {:>12} {:>11} {:>11} {:>7}",
        "robots", "lines/h", "per station", "of bound", "busy %", "driving %", "charges", "conflicts", "max wait s", "worst hour", "step p50 ms", "step p99 ms", "run s"
    );
    for &r in robots {
        // Open lines kept waiting: 300, or three per robot for big fleets.
        let cfg = SimConfig { robots: r, pods: pods.min(floor.storage.len()), pick_steps: pick_s, seed, backlog: 300.max(3 * r), ..SimConfig::default() };
        let mut sim = FloorSim::new(floor.clone(), cfg);
        let started = Instant::now();
        // Lines picked in the worst hour: a jam shows as an hour with (next to) none.
        let mut worst_hour = u64::MAX;
        let mut before = 0;
        // Each step's time: the controller's tick (traffic, jobs, orders for every robot) plus
        // the simulated robots and workers, which are cheap beside it.
        let mut steps_us: Vec<u64> = Vec::with_capacity(hours as usize * 3600);
        for _ in 0..hours {
            for _ in 0..3600 {
                let step = Instant::now();
                sim.step(true);
                steps_us.push(step.elapsed().as_micros() as u64);
            }
            let picked = sim.report().lines_picked;
            worst_hour = worst_hour.min(picked - before);
            before = picked;
        }
        steps_us.sort_unstable();
        let percentile = |p: f64| steps_us.get(((steps_us.len() as f64 - 1.0) * p) as usize).map_or(0.0, |us| *us as f64 / 1000.0);
        let report = sim.report();
        let per_hour = report.lines_picked as f64 / hours as f64;
        let per_station: Vec<String> = report.lines_per_station.iter().map(|n| format!("{:.0}", *n as f64 / hours as f64)).collect();
        println!(
            "{r:>6} {per_hour:>10.0} {:>14} {:>8.0}% {:>7.1} {:>9.1} {:>8} {:>9} {:>10} {worst_hour:>12} {:>11.2} {:>11.2} {:>7.1}",
            per_station.join("/"),
            100.0 * per_hour / (bound * stations as u64) as f64,
            100.0 * sim.utilisation(),
            100.0 * sim.driving(),
            report.charges,
            report.vertex_conflicts + report.swap_conflicts,
            report.longest_wait,
            percentile(0.5),
            percentile(0.99),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// Waybill pools through an outage: an edge shipping `per_hour` parcels, HQ (or the carrier)
/// down for `down_hours` after a day of normal work, central refilling every minute while up.
/// For each cover setting: the pool when HQ went down, its low point, parcels that found no
/// number, and what was asked of the carrier over two days (numbers per parcel shipped).
pub fn pools(per_hour: u64, down_hours: u64) -> Result<()> {
    use tote_central::config::PoolSettings;
    use tote_central::logistics::pools::simulate_outage;
    let total_hours = 24 + down_hours + 16;
    println!("waybill pools: {per_hour} parcels/h, HQ down {down_hours} h from hour 24, refill every minute while up, {total_hours} h in all");
    println!("{:>12} {:>10} {:>12} {:>10} {:>8} {:>10} {:>8} {:>14}", "cover_hours", "target", "free_at_down", "min_free", "waited", "asked", "calls", "asked/shipped");
    for cover_hours in [4u32, 8, 12, 16, 24] {
        let rule = PoolSettings { cover_hours, min_free: 100, max_free: 50_000 };
        let run = simulate_outage(&rule, per_hour, 1, 24, down_hours, total_hours);
        let shipped = per_hour * total_hours - run.waited;
        let target = (per_hour * u64::from(cover_hours)).clamp(100, 50_000);
        println!(
            "{cover_hours:>12} {target:>10} {:>12} {:>10} {:>8} {:>10} {:>8} {:>14.3}",
            run.free_at_start,
            run.min_free,
            run.waited,
            run.asked,
            run.calls,
            run.asked as f64 / shipped.max(1) as f64
        );
    }
    Ok(())
}

/// Checkout pricing (issue 16): seeded 20-line carts over 5 shops under 30 promotions (5 item
/// prices, a tier and two coupons per shop, 3 cross-store offers, 7 platform coupons of 4
/// classes), under JD's and Tmall's rules: each pricing's time (p50/p99), the search's nodes,
/// and the stacks a brute-force search would try (the product of every slot's choices).
pub fn pricing(count: usize) -> Result<()> {
    use tote_central::marketing::pricing::{price, Benefit, CartLine, Layer, Promotion, RuleSet, Tier};
    use tote_shared::Sku;
    let mut rng = tote_shared::mapf::Rng::new(0x16);
    let y = 100i64;
    let shops = ["nike", "adidas", "asics", "li-ning", "anta"];
    let carts: Vec<(Vec<CartLine>, Vec<Promotion>)> = (0..256)
        .map(|_| {
            let cart: Vec<CartLine> = (0..20)
                .map(|i| {
                    let list = (50 + rng.below(900) as i64) * y;
                    CartLine { sku: Sku::parse(&format!("SKU-{i:02}")).expect("sku"), shop: shops[i % 5].into(), qty: 1 + rng.below(3) as i64, list_price: list, floor: list * 55 / 100 }
                })
                .collect();
            let mut promos = Vec::new();
            let mut add = |id: String, layer, class: &str, shop: Option<&str>, skus: Vec<Sku>, benefit| {
                promos.push(Promotion { id, layer, class: class.into(), shop: shop.map(str::to_owned), skus, benefit, tier: None, segment: None })
            };
            for i in 0..5 {
                let sku = cart[rng.below(20)].sku.clone();
                add(format!("item-{i}"), Layer::Item, "limited_time", None, vec![sku], Benefit::PercentOff { bp: 500 + rng.below(2_000) as u32 });
            }
            for shop in shops {
                let base = (300 + rng.below(900) as i64) * y;
                let tiers = vec![Tier { threshold: base, off: base / 10 }, Tier { threshold: base * 2, off: base / 4 }];
                add(format!("{shop}-tiers"), Layer::ShopTier, "shop_tier", Some(shop), vec![], Benefit::Tiers { tiers });
                for c in 0..2 {
                    let threshold = (100 + rng.below(1_500) as i64) * y;
                    add(format!("{shop}-coupon-{c}"), Layer::ShopCoupon, "shop_coupon", Some(shop), vec![], Benefit::Coupon { threshold, off: threshold / 8 });
                }
            }
            for c in 0..3 {
                let every = (200 + rng.below(300) as i64) * y;
                add(format!("cross-{c}"), Layer::CrossStore, "cross_store", None, vec![], Benefit::EveryOff { every, off: every / 10, max_times: 5 + c });
            }
            for (c, class) in ["jd_jingquan", "jd_jingquan", "jd_dongquan", "jd_dongquan", "plus", "plus", "bank"].iter().enumerate() {
                let threshold = (rng.below(3_000) as i64) * y;
                add(format!("platform-{c}"), Layer::Platform, class, None, vec![], Benefit::Coupon { threshold, off: 20 * y + threshold / 20 });
            }
            (cart, promos)
        })
        .collect();
    // Every slot's choices (none or one of its promotions), multiplied: what trying every stack costs.
    let brute: u128 = [6u128; 5].iter().product::<u128>() * 4 * 3 * 3 * 3 * 2;
    for rules in [RuleSet::jd(), RuleSet::tmall()] {
        let mut times = Vec::with_capacity(count);
        let mut nodes = 0u64;
        let mut discount = 0i64;
        for k in 0..count {
            let (cart, promos) = &carts[k % carts.len()];
            let started = Instant::now();
            let priced = price(&rules, cart, promos).map_err(|e| anyhow::anyhow!("{e}"))?;
            times.push(started.elapsed());
            nodes += priced.searched;
            discount += priced.order_discount;
        }
        times.sort_unstable();
        let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
        println!(
            "pricing  {}: p50 {:?}, p99 {:?} per 20-line cart under 30 promotions; {:.0} search nodes per cart against {brute} stacks by brute force; mean order discount ¥{:.2}",
            rules.name,
            at(0.5),
            at(0.99),
            nodes as f64 / count as f64,
            discount as f64 / count as f64 / 100.0
        );
    }
    Ok(())
}

/// Forecast and replenishment for `series` SKUs at one warehouse with two years of daily
/// shipments each (60 % weekly-seasonal, 30 % intermittent, 10 % nothing sold), through
/// `procurement::suggestions::plan` — the product's path after its one read — on both cores;
/// beside seasonal naive over the same series (the cheapest forecast there is) as reference.
pub fn forecast(series: usize) -> Result<()> {
    use std::collections::HashMap;
    use tote_central::procurement::forecast::{self as fc, Method};
    use tote_central::procurement::suggestions::{self, ReplenishmentPolicy, Snapshot};
    use tote_central::supplier::{PriceTerms, SupplierPrice};
    use tote_shared::{Money, Sku, WarehouseCode};
    let mut rng = tote_shared::mapf::Rng::new(0x15);
    let week = [0.8, 0.7, 0.8, 0.9, 1.1, 1.5, 1.6];
    let started = std::time::Instant::now();
    let mut history: HashMap<Sku, Vec<f64>> = HashMap::with_capacity(series);
    let mut offers: HashMap<Sku, Vec<SupplierPrice>> = HashMap::with_capacity(series);
    let mut stock = HashMap::with_capacity(series);
    for n in 0..series {
        let sku = Sku::parse(&format!("SKU-{n:06}"))?;
        let level = 1.0 + rng.below(40) as f64;
        let days: Vec<f64> = match n % 10 {
            0..=5 => (0..730).map(|d| (level * week[d % 7] + rng.below(7) as f64 - 3.0).max(0.0).round()).collect(),
            6..=8 => (0..730).map(|_| if rng.below(100) < 15 { 1.0 + rng.below(4) as f64 } else { 0.0 }).collect(),
            _ => vec![0.0; 730],
        };
        history.insert(sku.clone(), days);
        stock.insert(sku.clone(), (rng.below(200) as i64, 0));
        let terms = PriceTerms { supplier_sku: "S".into(), cost: Money::parse(10_000)?, moq: 6, lead_time_days: 7, breaks: vec![], valid_from_ms: 0, valid_until_ms: None };
        offers.insert(sku.clone(), vec![SupplierPrice { id: n as u64, supplier: "NIKE-CN".into(), sku, terms, created_ms: 0 }]);
    }
    let built = started.elapsed();
    let snapshot = Snapshot { warehouse: WarehouseCode::parse("SH-01")?, policy: ReplenishmentPolicy::default(), offers, history, stock, on_order: HashMap::new(), lead_history: HashMap::new() };
    let mut runs = Vec::new();
    let mut suggested = 0;
    for _ in 0..3 {
        let t = std::time::Instant::now();
        let planned = suggestions::plan(&snapshot);
        runs.push(t.elapsed().as_secs_f64());
        suggested = planned.iter().map(|s| s.lines.len()).sum::<usize>();
    }
    runs.sort_by(f64::total_cmp);
    let skus: Vec<&Sku> = snapshot.history.keys().collect();
    let t = std::time::Instant::now();
    let naive: Vec<f64> = suggestions::parallel(&skus, |s| fc::forecast(Method::SeasonalNaive, &snapshot.history[*s], 28).iter().sum::<f64>());
    let reference = t.elapsed().as_secs_f64();
    let peak = std::fs::read_to_string("/proc/self/status")?.lines().find_map(|l| l.strip_prefix("VmHWM:").map(|v| v.trim().to_owned())).unwrap_or_default();
    println!("forecast + replenishment: {series} series × 730 days, built in {:.1} s", built.as_secs_f64());
    println!("  plan (choose a method by 3 rolling holdouts, forecast, levels, order): median {:.1} s of 3 ({:.0} µs a series), {suggested} SKUs to order", runs[1], runs[1] * 1e6 / series as f64);
    println!("  seasonal naive alone over the same series: {:.2} s ({} forecasts) — plan is {:.0}× it", reference, naive.len(), runs[1] / reference.max(1e-9));
    println!("  peak memory (VmHWM): {peak}");
    Ok(())
}

/// Walking per line picked, on the same orders: one order at a time (today: each order's
/// tasks in the order they were made, and each order alone on its shortest walk) against a
/// wave picked in batches (single-line orders 20 to a tote, multi-line orders 8 to a cart of
/// totes, each batch one planned walk: `tote_shared::wave::plan`, what the edge runs); how long
/// planning a wave of `orders` takes, alone and at the edge's store (SQLite: read the pool,
/// plan, write the batches and walks).
pub async fn walk(orders: usize, seed: u64) -> Result<()> {
    use tote_shared::walk::{plan, Stop, WalkFloor};
    let floor = WalkFloor { aisles: 20, bays: 30, aisle_pitch_m: 3.0, bay_m: 1.0, depot_aisle: 1 };
    let mut rng = tote_shared::mapf::Rng::new(seed);
    // Six in ten orders one line; the rest 2 to 5 lines; every line at a random bay (an order
    // never twice at one bay: one SKU per bay).
    let wave: Vec<Vec<Stop>> = (0..orders)
        .map(|_| {
            let lines = if rng.chance(0.6) { 1 } else { 2 + rng.below(4) };
            let mut stops: Vec<Stop> = Vec::new();
            while stops.len() < lines {
                let stop = Stop { aisle: 1 + rng.below(20) as u32, bay: 1 + rng.below(30) as u32 };
                if !stops.contains(&stop) {
                    stops.push(stop);
                }
            }
            stops
        })
        .collect();
    let lines: usize = wave.iter().map(Vec::len).sum();
    let today: f64 = wave.iter().map(|o| floor.length(o, &(0..o.len()).collect::<Vec<_>>())).sum();
    let alone: f64 = wave.iter().map(|o| plan(&floor, o).map(|r| r.metres)).sum::<Result<f64, _>>()?;
    let mut timings = Vec::new();
    let mut walked = (0.0, 0.0, 0.0, 0);
    for _ in 0..5 {
        let started = Instant::now();
        walked = wave_walk(&floor, &wave)?;
        timings.push(started.elapsed());
    }
    timings.sort();
    let (planned, s, g, walks) = walked;
    let per_line = |m: f64| m / lines as f64;
    println!("walk: {orders} orders, {lines} lines on {} aisles × {} bays (pitch {} m, bay {} m), depot at aisle {}", floor.aisles, floor.bays, floor.aisle_pitch_m, floor.bay_m, floor.depot_aisle);
    println!("  one order at a time, tasks as made:  {:7.1} m per line", per_line(today));
    println!("  one order at a time, shortest walk:  {:7.1} m per line", per_line(alone));
    println!("  the wave in {walks} batches, planned:     {:7.1} m per line ({:.0} % shorter than today, {:.0} % shorter than each order alone)", per_line(planned), 100.0 * (1.0 - planned / today), 100.0 * (1.0 - planned / alone));
    println!("  the same batches by S-shape / largest gap: {:.1} / {:.1} m per line", per_line(s), per_line(g));
    println!("  planning the wave (batches and every walk): median {:.1} ms of 5 runs", timings[2].as_secs_f64() * 1e3);
    let at_edge = edge_wave(&floor, &wave).await?;
    println!("  planning it at the edge (SQLite: pool read, plan, batches written): median {:.1} ms of 3 runs", at_edge.as_secs_f64() * 1e3);
    // How far the improvement heuristic (used above EXACT_STOPS) is from the exact walk, on
    // batches just small enough for the exact one.
    let mut gaps: Vec<f64> = (0..500)
        .map(|_| {
            let stops: Vec<Stop> = (0..tote_shared::walk::EXACT_STOPS).map(|_| Stop { aisle: 1 + rng.below(20) as u32, bay: 1 + rng.below(30) as u32 }).collect();
            let exact = plan(&floor, &stops).map(|r| r.metres)?;
            Ok(100.0 * (tote_shared::walk::improved(&floor, &stops).metres / exact - 1.0))
        })
        .collect::<Result<_>>()?;
    gaps.sort_by(f64::total_cmp);
    let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
    println!(
        "  the improvement heuristic against the exact walk, 500 batches of {} stops: mean {mean:.2} %, median {:.2} %, worst {:.2} % longer",
        tote_shared::walk::EXACT_STOPS,
        gaps[gaps.len() / 2],
        gaps[gaps.len() - 1]
    );
    Ok(())
}

/// The wave's batches and their walks, as the edge plans them: (planned metres, S-shape
/// metres, largest-gap metres, walks).
fn wave_walk(floor: &tote_shared::walk::WalkFloor, wave: &[Vec<tote_shared::walk::Stop>]) -> Result<(f64, f64, f64, usize)> {
    use tote_shared::strategy::Method;
    use tote_shared::walk::{largest_gap, s_shape};
    use tote_shared::wave::{plan, Pick, Waiting, WaveRules};
    let waiting: Vec<Waiting> = wave
        .iter()
        .enumerate()
        .map(|(i, stops)| Waiting {
            order_id: i as u64,
            method: if stops.len() == 1 { Method::Batch } else { Method::Cluster },
            carrier: None,
            service: None,
            created_ms: 0,
            lines: stops.len(),
            picks: stops.iter().enumerate().map(|(k, stop)| Pick { task: (i * 8 + k) as u64, stop: *stop }).collect(),
        })
        .collect();
    let rules = WaveRules { max_lines: 20_000, tote_units: 20, cart_totes: 8, ..WaveRules::default() };
    let planned = plan(floor, &rules, &waiting, 0)?.context("a wave")?;
    let mut out = (0.0, 0.0, 0.0, planned.batches.len());
    for batch in &planned.batches {
        let stops: Vec<_> = batch.walk.iter().map(|&task| wave[task as usize / 8][task as usize % 8]).collect();
        out.0 += batch.metres;
        out.1 += s_shape(floor, &stops).metres;
        out.2 += largest_gap(floor, &stops).metres;
    }
    Ok(out)
}

/// The same orders released to an edge store (one SKU per bay, batch and cluster rules), then
/// the wave planned the way `POST /api/v1/waves` plans it: the median of three (each wave is
/// cancelled, putting its orders back in the pool, before the next).
async fn edge_wave(floor: &tote_shared::walk::WalkFloor, wave: &[Vec<tote_shared::walk::Stop>]) -> Result<Duration> {
    use tote_edge::store::{Answer, EdgeStore, Receipt, WaveSettings};
    use tote_shared::runtime::settings::DatabaseSettings;
    use tote_shared::strategy::{Method, Profile, Rule, Rules};
    use tote_shared::sync::{CentralCommand, CommandKind, OrderLine, ShipTo};
    use tote_shared::wave::WaveRules;
    use tote_shared::{Gtin, LocationCode, Qty, Sku};
    let dir = tempfile::tempdir()?;
    let settings = DatabaseSettings { path: dir.path().join("edge.sqlite"), write_queue: 4096, max_batch: 256, max_readers: 2 };
    let rules = Rules::new(vec![Rule { profile: Profile::SingleUnit, method: Method::Batch }, Rule { profile: Profile::MultiLine, method: Method::Cluster }])?;
    let waves = WaveSettings { rules: WaveRules { max_lines: 20_000, tote_units: 20, cart_totes: 8, ..WaveRules::default() }, floor: *floor };
    let store = EdgeStore::open(&settings)?.with_rules(rules).with_waves(waves);
    let sku = |a: u32, b: u32| Sku::parse(&format!("W-{a:02}-{b:02}"));
    let mut commands = Vec::new();
    for a in 1..=floor.aisles {
        for b in 1..=floor.bays {
            let gtin = Gtin::from_body13(690_100_000_000 + u64::from(a * 100 + b));
            commands.push(CommandKind::UpsertSku { sku: sku(a, b)?, gtin, name: format!("bay {a}-{b}"), shipping: None });
        }
    }
    let to = ShipTo { name: "Li Wei".into(), line1: "88 Century Avenue".into(), city: "Shanghai".into(), postcode: "200120".into(), phone: String::new() };
    let mut fulfils = Vec::new();
    for (i, stops) in wave.iter().enumerate() {
        let lines = stops.iter().map(|s| Ok(OrderLine { sku: sku(s.aisle, s.bay)?, qty: Qty::parse(1)? })).collect::<Result<Vec<_>>>()?;
        fulfils.push(CommandKind::Fulfil { order_id: i as u64 + 1, lines, ship_to: to.clone(), ship_via: None });
    }
    let mut seq = 0;
    let mut apply = |kinds: Vec<CommandKind>| {
        kinds.into_iter().map(|kind| {
            seq += 1;
            CentralCommand { seq, kind }
        }).collect::<Vec<_>>()
    };
    store.apply_commands(apply(commands)).await?;
    for a in 1..=floor.aisles {
        for b in 1..=floor.bays {
            let location = LocationCode::parse(&format!("A-{a:02}-{b:02}"))?;
            store.create_location(None, location.clone()).await?;
            store.receive(None, Receipt { location, sku: sku(a, b)?, qty: Qty::parse(10_000)?, lot: String::new(), expiry: None, delivery: None }).await?;
        }
    }
    for chunk in apply(fulfils).chunks(500) {
        store.apply_commands(chunk.to_vec()).await?;
    }
    let mut timings = Vec::new();
    for run in 0..3 {
        let started = Instant::now();
        let planned = store.plan_wave(None).await?;
        timings.push(started.elapsed());
        let Answer::Fresh(view) = planned else { bail!("a fresh wave") };
        anyhow::ensure!(view["orders"].as_u64() == Some(wave.len() as u64), "every order in the wave: {}", view["orders"]);
        if run < 2 {
            let id = view["id"].as_u64().context("wave id")?;
            store.cancel_wave(None, id).await?;
        }
    }
    timings.sort();
    Ok(timings[1])
}
