//! `tote-sim`: plays the parts Tote does not own — HQ clerks seeding the catalog, shoppers
//! placing orders, warehouse workers scanning — against real daemons over their real APIs.
//!
//! `tote-sim demo` starts tote-central and two tote-edge daemons (SH-01, BJ-01) in this
//! process on local ports with SQLite files, seeds the running-shoe catalog and narrates
//! orders flowing through. `--once` runs the acceptance story to the end and exits 0.

mod after_sales_bench;
mod bench;
mod catalog_bench;
mod central_bench;
mod client;
mod console_bench;
mod core_bench;
mod demo;
mod floor_fleet;
mod payment_bench;
mod soak;
mod soak_chart;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "tote-sim", about = "Tote simulator and demo", version)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run central + two edges with a seeded catalog and narrate orders flowing through.
    Demo {
        /// Run the acceptance story once, check the end state, and exit (0 = all good).
        #[arg(long)]
        once: bool,
        /// Seed for the shoppers and workers, so a run can be replayed.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Where the SQLite files go (default: a fresh temporary directory).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Central's port; the edges take the next two. 0 picks free ports.
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Orders per minute after the story (continuous mode).
        #[arg(long, default_value_t = 30)]
        orders_per_minute: u32,
        /// SH-01's goods-to-person floor layout.
        #[arg(long, default_value = "configs/floor.toml")]
        floor: PathBuf,
        /// Simulated robots on SH-01's floor.
        #[arg(long, default_value_t = 12)]
        robots: usize,
    },
    /// The demo's continuous mode at a steady load for a fixed time, with the process sampled
    /// (memory, descriptors, database size, queue lengths); writes soak.csv and soak.svg.
    Soak {
        #[arg(long, default_value_t = 60)]
        minutes: u64,
        #[arg(long, default_value_t = 60)]
        sample_s: u64,
        /// Shoppers ordering at once (each waits for its order to ship).
        #[arg(long, default_value_t = 16)]
        shoppers: usize,
        /// Orders a minute the shoppers aim at together: a steady load.
        #[arg(long, default_value_t = 1200)]
        orders_per_minute: u32,
        /// Minutes after which an unpaid order closes (the demo's 30 is shortened so the
        /// orders waiting for payment settle early).
        #[arg(long, default_value_t = 5)]
        payment_timeout_min: u64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Where soak.csv and soak.svg go.
        #[arg(long, default_value = "target/soak")]
        out: PathBuf,
        /// Where the SQLite files go (default: a fresh temporary directory).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        #[arg(long, default_value = "configs/floor.toml")]
        floor: PathBuf,
        #[arg(long, default_value_t = 12)]
        robots: usize,
    },
    /// Write a goods-to-person floor (a `.map` and a layout `.toml` for `[floor] layout`):
    /// a generated one with one-lane, one-way aisles, or a LoRR map's with `--lorr`.
    Floor {
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value_t = 3)]
        stations: u32,
        /// Instead of a one-lane floor: this League of Robot Runners map as a floor (shelves
        /// beside an aisle become pod spots, every other `E` cell a station).
        #[arg(long)]
        lorr: Option<PathBuf>,
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
    /// Run N VDA 5050 robots as separate MQTT clients until Ctrl-C.
    Agv {
        #[arg(long, default_value_t = 10)]
        count: usize,
        /// The broker as host:port (the edge's embedded broker listens on 127.0.0.1:1884 by default).
        #[arg(long, default_value = "127.0.0.1:1884")]
        broker: String,
        #[arg(long, default_value = "tote")]
        manufacturer: String,
        #[arg(long, default_value_t = 1000)]
        state_ms: u64,
        /// Time to drive from one node to the next.
        #[arg(long, default_value_t = 500)]
        node_ms: u64,
        /// Seed: sets the robots' starting batteries, so a run can be replayed.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// A goods-to-person layout (e.g. configs/floor.toml): robots start on its parking cells.
        #[arg(long)]
        floor: Option<PathBuf>,
        /// The edge whose embedded broker this is (e.g. http://127.0.0.1:8081): each robot is
        /// issued its own login there, with the API token in TOTE_EDGE__AUTH__API_TOKEN.
        #[arg(long)]
        edge: Option<String>,
        /// The VDA 5050 version the robots speak (2.0.0 or 2.1.0).
        #[arg(long, default_value = tote_shared::vda5050::VERSION, value_parser = ["2.0.0", "2.1.0"])]
        vda_version: String,
        /// MQTT over TLS (the edge's `mqtt.tls_listen`), trusting this CA certificate (PEM).
        #[arg(long)]
        ca: Option<PathBuf>,
    },
    /// Run a station PLC (Modbus TCP, the edge's default register map) until Ctrl-C, with or
    /// without a worker pressing its confirm button — e.g. to poke at with mbpoll.
    Plc {
        #[arg(long, default_value = "127.0.0.1:5020")]
        listen: std::net::SocketAddr,
        /// A worker picks for this long, then presses the button (0: no worker).
        #[arg(long, default_value_t = 1500)]
        pick_ms: u64,
    },
    /// Run a robot driven over Modbus TCP (status in input registers 0–6, command in holding
    /// registers 0–4) until Ctrl-C.
    ModbusAgv {
        #[arg(long, default_value = "127.0.0.1:5030")]
        listen: std::net::SocketAddr,
        /// Starting cell x,y.
        #[arg(long, value_delimiter = ',', default_value = "5,0")]
        start: Vec<u16>,
        #[arg(long, default_value_t = 500)]
        node_ms: u64,
    },
    /// Benchmarks: print figures for BENCHMARKS.md (needs `cargo build --release --bins`).
    Bench {
        #[command(subcommand)]
        which: Bench,
    },
}

#[derive(Subcommand)]
enum Bench {
    /// Central order intake (create + lock) over HTTP.
    Intake {
        #[arg(long, default_value_t = 64)]
        clients: usize,
        /// All orders for one SKU (a flash sale) instead of 1,000 SKUs.
        #[arg(long)]
        hot: bool,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Central on PostgreSQL (a fresh database on `TOTE_TEST_POSTGRES`) instead of SQLite.
        #[arg(long)]
        postgres: bool,
    },
    /// A flash sale on one SKU with a per-customer limit on both backends, beside raw pgbench
    /// on one hot row in the same run.
    Flash {
        #[arg(long, default_value_t = 256)]
        clients: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Central's PostgreSQL pool.
        #[arg(long, default_value_t = 32)]
        pool_size: usize,
    },
    /// Order intake on PostgreSQL and SQLite as ratios to raw pgbench in the same run
    /// (64 and 256 clients, spread and hot SKU).
    IntakeVsPgbench {
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Central's PostgreSQL pool.
        #[arg(long, default_value_t = 32)]
        pool_size: usize,
    },
    /// Tracking pushes (Kuaidi100's format) verified and applied durably per second on both
    /// backends, through central's batching intake and one transaction a push, beside
    /// one-row transactions from as many senders.
    Tracking {
        #[arg(long, default_value_t = 5_000)]
        parcels: usize,
        #[arg(long, default_value_t = 32)]
        clients: usize,
    },
    /// The HQ dashboard with a year of history: its reads in-process and the page in
    /// headless Chromium, from navigation to drawn charts, with its weight.
    Console {
        #[arg(long, default_value_t = 1_000_000)]
        orders: usize,
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// Finance's ledger posting a backlog of journal events on both backends, beside the sales
    /// consumer over the same backlog.
    Ledger {
        #[arg(long, default_value_t = 20_000)]
        orders: usize,
        /// SQLite only (a million orders take PostgreSQL several minutes).
        #[arg(long)]
        sqlite_only: bool,
    },
    /// The business-event journal on both backends: appended, numbered, consumed per second.
    Journal {
        #[arg(long, default_value_t = 100_000)]
        events: usize,
        #[arg(long, default_value_t = 32)]
        pool_size: usize,
    },
    /// Payments: orders/s through create → channel → notification → paid per channel beside
    /// `openssl speed rsa2048`, notification verification cost, a 1,000,000-line reconciliation.
    Payments {
        #[arg(long, default_value_t = 2000)]
        orders: usize,
        #[arg(long, default_value_t = 32)]
        clients: usize,
    },
    /// After-sales on both backends: return requests/s through rule approval beside order
    /// intake in the same run, and QC result → refund settled at the channel, p50/p99.
    Returns {
        #[arg(long, default_value_t = 2000)]
        orders: usize,
        #[arg(long, default_value_t = 32)]
        clients: usize,
        /// Returns refunded one at a time for the latency figures.
        #[arg(long, default_value_t = 200)]
        refunds: usize,
    },
    /// Edge pick confirmation latency.
    Pick {
        #[arg(long, default_value_t = 2000)]
        orders: usize,
        #[arg(long, default_value_t = 16)]
        workers: usize,
    },
    /// Edge sign-in (worker + PIN) throughput and latency under the Argon2 cap, per cap.
    Signin {
        #[arg(long, default_value_t = 32)]
        clients: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// `auth.max_concurrent_hashes` values to run, comma-separated.
        #[arg(long, value_delimiter = ',', default_values_t = vec![1, 2, 4])]
        caps: Vec<usize>,
    },
    /// `/health` latency of edge and central with slow-header and idle connections open vs none.
    SlowClients {
        #[arg(long, default_value_t = 1000)]
        slow: usize,
        #[arg(long, default_value_t = 200)]
        samples: usize,
    },
    /// Sync catch-up after events queued while central was down, over plain HTTP and over
    /// HTTPS in the same run (and their ratio).
    Sync {
        #[arg(long, default_value_t = 100_000)]
        events: usize,
    },
    /// Pick paths (issue 17): walking per line picked, one order at a time against a wave in
    /// planned batches, and the time to plan the wave.
    Walk {
        #[arg(long, default_value_t = 2000)]
        orders: usize,
        #[arg(long, default_value_t = 7)]
        seed: u64,
    },
    /// A working fleet through the edge daemon on a goods-to-person floor: master control's
    /// tick against its budget, the edge's CPU and memory, messages, lines picked.
    FloorFleet {
        /// A League of Robot Runners map (its floor is generated) or a layout file.
        #[arg(long, default_value = "../shared/mapf/lorr/warehouse_large.map")]
        floor: PathBuf,
        #[arg(long, default_value_t = 1000)]
        robots: usize,
        #[arg(long, default_value_t = 5000)]
        pods: usize,
        #[arg(long, default_value_t = 500)]
        skus: usize,
        /// Pick lines kept outstanding per robot.
        #[arg(long, default_value_t = 3)]
        lines_per_robot: usize,
        /// Milliseconds a robot takes per 1 m cell.
        #[arg(long, default_value_t = 1000)]
        node_ms: u64,
        #[arg(long, default_value_t = 60)]
        warmup_s: u64,
        #[arg(long, default_value_t = 300)]
        seconds: u64,
    },
    /// The edge's CPU and memory while simulated robots publish state.
    Fleet {
        #[arg(long, default_value_t = 500)]
        robots: usize,
        #[arg(long, default_value_t = 2.0)]
        hz: f64,
        #[arg(long, default_value_t = 20)]
        seconds: u64,
    },
    /// Multi-robot path planning on the MovingAI warehouse maps.
    Planner {
        /// Folder with the MovingAI maps and scenarios.
        #[arg(long, default_value = "../shared/mapf/movingai")]
        dir: std::path::PathBuf,
        /// Agent counts (first N lines of each scenario).
        #[arg(long, value_delimiter = ',', default_value = "50,100,200,400,800")]
        agents: Vec<usize>,
        /// One map (default: all four).
        #[arg(long)]
        map: Option<String>,
        /// Search budget per instance.
        #[arg(long, default_value_t = 2_000_000)]
        max_nodes: usize,
        /// Time limit per instance for the first plan, in seconds.
        #[arg(long, default_value_t = 10)]
        limit_s: u64,
        /// Also run both planners anytime for this many seconds (0: not).
        #[arg(long, default_value_t = 0)]
        refine_s: u64,
        /// LaCAM3's binary (`tools/lacam3.sh` builds it in $TMPDIR/lacam3); without it, ours only.
        #[arg(long)]
        lacam3: Option<PathBuf>,
    },
    /// A goods-to-person shift in simulated time: picks per hour against the stations' bound.
    Gtp {
        #[arg(long, default_value = "configs/floor.toml")]
        layout: PathBuf,
        /// Fleet sizes to simulate.
        #[arg(long, value_delimiter = ',', default_value = "6,9,15,21,30")]
        robots: Vec<usize>,
        #[arg(long, default_value_t = 8)]
        hours: u64,
        /// Worker seconds per pick line (6 s = 600 lines/h per station at most).
        #[arg(long, default_value_t = 6)]
        pick_s: u32,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Instead of `--layout`: generated one-lane-aisle floors for these seeds, each run with
        /// its one-way lanes and again without them.
        #[arg(long, value_delimiter = ',')]
        one_lane: Vec<u64>,
        /// Instead of `--layout`: a League of Robot Runners map (e.g.
        /// ../shared/mapf/lorr/warehouse_large.map): shelves beside an aisle become pod spots,
        /// every other `E` cell a station.
        #[arg(long)]
        lorr: Option<PathBuf>,
        /// Pods on the floor (at most one per spot).
        #[arg(long, default_value_t = 200)]
        pods: usize,
    },
    /// Carrier choice: quotes per second on one core over a 5-carrier × 3-service ×
    /// 31-province rate card (every carrier service priced, ruled and ranked per parcel),
    /// beside the bare freight arithmetic for the same parcels.
    Quotes {
        #[arg(long, default_value_t = 1_000_000)]
        quotes: usize,
    },
    /// Split routing: plans per second on one core for 5-line orders over 10 warehouses,
    /// beside the nearest-single-warehouse rule alone, and the parcels per order.
    Split {
        #[arg(long, default_value_t = 1_000_000)]
        orders: usize,
    },
    /// Catalog import: rows/s of a CSV import on SQLite and PostgreSQL, beside creating SKUs one
    /// request at a time.
    CatalogImport {
        #[arg(long, default_value_t = 100_000)]
        rows: usize,
    },
    /// Forecast and replenishment for `series` SKU × warehouse series of two years' daily
    /// shipments, beside seasonal naive over the same series.
    Forecast {
        #[arg(long, default_value_t = 100_000)]
        series: usize,
    },
    /// Checkout pricing: 20-line carts under 30 promotions, JD's and Tmall's rules, p50/p99 per
    /// pricing and the search's size beside brute force's.
    Pricing {
        #[arg(long, default_value_t = 20_000)]
        carts: usize,
    },
    /// Waybill pools through an outage: how the refill rule fares for an edge shipping
    /// `per_hour` parcels with HQ down `down_hours`, for several cover settings.
    Pools {
        #[arg(long, default_value_t = 1_000)]
        per_hour: u64,
        #[arg(long, default_value_t = 8)]
        down_hours: u64,
    },
    /// GS1 scan parsing speed, and a seeded fuzz run that must never panic.
    Gs1 {
        #[arg(long, default_value_t = 1_000_000)]
        fuzz: usize,
    },
    /// Station hardware: one Modbus poll cycle across many station PLCs, and scan-to-light
    /// latency through the edge (release build, from the repository root).
    Stations {
        #[arg(long, default_value_t = 50)]
        plcs: usize,
        #[arg(long, default_value_t = 1000)]
        cycles: usize,
        #[arg(long, default_value_t = 1000)]
        scans: usize,
        /// The station PLC's poll period on the edge (the light does not wait for it).
        #[arg(long, default_value_t = 100)]
        poll_ms: u64,
    },
    /// The handheld pages in headless Chromium: page weight, scan-to-feedback in the browser,
    /// the edge's time per scan (needs chromium and chromedriver: tests/run.sh installs them).
    Handheld {
        #[arg(long, default_value_t = 300)]
        cycles: usize,
    },
    /// Everything above with the figures BENCHMARKS.md records.
    All,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tote_shared::runtime::system::init_telemetry("warn");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match args.command {
        Command::Demo {
            once,
            seed,
            data_dir,
            port,
            orders_per_minute,
            floor,
            robots,
        } => runtime.block_on(demo::run(demo::Options {
            once,
            seed,
            data_dir,
            port,
            orders_per_minute,
            floor,
            robots,
            soak: None,
        })),
        Command::Soak { minutes, sample_s, shoppers, orders_per_minute, payment_timeout_min, seed, out, data_dir, floor, robots } => runtime.block_on(demo::run(demo::Options {
            once: false,
            seed,
            data_dir,
            port: 0,
            orders_per_minute,
            floor,
            robots,
            soak: Some(soak::SoakOptions {
                minutes,
                sample_s: sample_s.max(1),
                shoppers: shoppers.max(1),
                orders_per_minute: orders_per_minute.max(1),
                payment_timeout_ms: payment_timeout_min.max(1) * 60_000,
                out,
            }),
        })),
        Command::Floor { seed, stations, lorr, out } => {
            let path = match lorr {
                Some(map) => tote_sim::floor::write_lorr(&map, &out)?,
                None => tote_sim::floor::write_one_lane(seed, stations, &out)?,
            };
            println!("{}", path.display());
            Ok(())
        }
        Command::Agv {
            count,
            broker,
            manufacturer,
            state_ms,
            node_ms,
            seed,
            floor,
            edge,
            vda_version,
            ca,
        } => runtime.block_on(async {
            use rand::{Rng, SeedableRng};
            let (host, port) = broker
                .rsplit_once(':')
                .ok_or_else(|| anyhow::anyhow!("--broker must be host:port"))?;
            let port: u16 = port.parse()?;
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let starts = match &floor {
                Some(path) => {
                    tote_edge::gtp::start_cells(&tote_edge::gtp::read_layout(path)?, count)
                }
                None => Vec::new(),
            };
            let token = std::env::var("TOTE_EDGE__AUTH__API_TOKEN").unwrap_or_default();
            let mut robots = Vec::with_capacity(count);
            for k in 0..count {
                let serial = format!("agv-{k:03}");
                let login = match &edge {
                    Some(edge) => {
                        tote_sim::agv::issue_login(edge, &token, &manufacturer, &serial).await?
                    }
                    None => None,
                };
                let config = tote_sim::agv::AgvConfig {
                    manufacturer: manufacturer.clone(),
                    serial,
                    broker_host: host.to_owned(),
                    broker_port: port,
                    state_ms,
                    node_ms,
                    battery: rng.gen_range(40.0..100.0),
                    start: starts.get(k).copied().unwrap_or_default(),
                    load: None,
                    login,
                    tls_ca: ca.clone(),
                    version: vda_version.clone(),
                };
                robots.push(tote_sim::agv::Agv::spawn(
                    config,
                    tote_shared::runtime::system::now_ms,
                ));
            }
            println!(
                "{} robots of {manufacturer} on {broker}; Ctrl-C stops",
                robots.len()
            );
            tote_shared::runtime::system::shutdown_signal().await;
            Ok(())
        }),
        Command::Plc { listen, pick_ms } => runtime.block_on(async {
            let worker = (pick_ms > 0).then_some(tote_sim::plc::Worker {
                pick_ms,
                ..tote_sim::plc::Worker::default()
            });
            let plc = tote_sim::plc::StationPlc::start(listen, worker).await?;
            println!(
                "station PLC on {} (Modbus TCP, unit 1); Ctrl-C stops",
                plc.addr()
            );
            tote_shared::runtime::system::shutdown_signal().await;
            Ok(())
        }),
        Command::ModbusAgv {
            listen,
            start,
            node_ms,
        } => runtime.block_on(async {
            let start = match start[..] {
                [x, y] => (x, y),
                _ => anyhow::bail!("--start takes x,y"),
            };
            let config = tote_sim::modbus_agv::ModbusAgvConfig {
                listen,
                start,
                battery: 90,
                node_ms,
                action_ms: 2 * node_ms,
                load: 0,
            };
            let agv = tote_sim::modbus_agv::ModbusAgv::start(config).await?;
            println!(
                "Modbus robot on {} at cell {start:?}; Ctrl-C stops",
                agv.addr()
            );
            tote_shared::runtime::system::shutdown_signal().await;
            Ok(())
        }),
        Command::Bench { which } => runtime.block_on(async {
            match which {
                Bench::Intake {
                    clients,
                    hot,
                    seconds,
                    postgres,
                } => central_bench::intake(postgres, clients, hot, seconds, 32)
                    .await
                    .map(|_| ()),
                Bench::IntakeVsPgbench { seconds, pool_size } => {
                    central_bench::compare(seconds, pool_size).await
                }
                Bench::Flash {
                    clients,
                    seconds,
                    pool_size,
                } => central_bench::flash(clients, seconds, pool_size).await,
                Bench::Journal { events, pool_size } => {
                    central_bench::journal(events, pool_size).await
                }
                Bench::Ledger {
                    orders,
                    sqlite_only,
                } => central_bench::ledger(orders, !sqlite_only).await,
                Bench::Console { orders, runs } => console_bench::console(orders, runs).await,
                Bench::Tracking { parcels, clients } => {
                    central_bench::tracking(parcels, clients).await
                }
                Bench::Payments { orders, clients } => {
                    payment_bench::payments(orders, clients).await
                }
                Bench::Returns {
                    orders,
                    clients,
                    refunds,
                } => after_sales_bench::returns(orders, clients, refunds).await,
                Bench::Pick { orders, workers } => bench::pick(orders, workers).await,
                Bench::Sync { events } => bench::sync(events).await,
                Bench::Signin {
                    clients,
                    seconds,
                    caps,
                } => bench::signin(clients, seconds, &caps).await,
                Bench::SlowClients { slow, samples } => bench::slow_clients(slow, samples).await,
                Bench::Fleet {
                    robots,
                    hz,
                    seconds,
                } => bench::fleet(robots, hz, seconds).await,
                Bench::FloorFleet {
                    floor,
                    robots,
                    pods,
                    skus,
                    lines_per_robot,
                    node_ms,
                    warmup_s,
                    seconds,
                } => {
                    floor_fleet::run(&floor_fleet::Options { floor: &floor, robots, pods, skus, lines_per_robot, node_ms, warmup_s, seconds }).await
                }
                Bench::Walk { orders, seed } => core_bench::walk(orders, seed).await,
                Bench::Gs1 { fuzz } => core_bench::gs1(fuzz),
                Bench::Quotes { quotes } => core_bench::quotes(quotes),
                Bench::Split { orders } => core_bench::split(orders),
                Bench::Pricing { carts } => core_bench::pricing(carts),
                Bench::Forecast { series } => core_bench::forecast(series),
                Bench::CatalogImport { rows } => catalog_bench::import(rows).await,
                Bench::Pools {
                    per_hour,
                    down_hours,
                } => core_bench::pools(per_hour, down_hours),
                Bench::Handheld { cycles } => bench::handheld(cycles).await,
                Bench::Stations {
                    plcs,
                    cycles,
                    scans,
                    poll_ms,
                } => {
                    bench::plc_poll(plcs, cycles).await?;
                    bench::scan_to_light(scans, poll_ms).await
                }
                Bench::Gtp {
                    layout,
                    robots,
                    hours,
                    pick_s,
                    seed,
                    one_lane,
                    lorr,
                    pods,
                } => {
                    if let Some(map) = lorr {
                        let lorr = tote_sim::floor::lorr(&map)?;
                        let floor = tote_shared::gtp::Layout::build(tote_shared::mapf::Grid::parse_movingai(&lorr.map)?, &lorr.spec)?;
                        return core_bench::gtp(&map.display().to_string(), floor, &robots, hours, pick_s, seed, pods);
                    }
                    if one_lane.is_empty() {
                        let floor = tote_edge::gtp::read_layout(&layout)?;
                        return core_bench::gtp(&layout.display().to_string(), floor, &robots, hours, pick_s, seed, pods);
                    }
                    for floor_seed in one_lane {
                        let generated = tote_shared::gtp::floorgen::one_lane(floor_seed, 3);
                        let grid = tote_shared::mapf::Grid::parse_movingai(&generated.map)?;
                        let floor = tote_shared::gtp::Layout::build(grid.clone(), &generated.spec)?;
                        core_bench::gtp(&format!("one-lane floor {floor_seed}, one-way aisles"), floor, &robots, hours, pick_s, seed, pods)?;
                        let two_way = tote_shared::gtp::LayoutSpec { one_way: Vec::new(), ..generated.spec };
                        let floor = tote_shared::gtp::Layout::build(grid, &two_way)?;
                        core_bench::gtp(&format!("one-lane floor {floor_seed}, the same aisles two-way"), floor, &robots, hours, pick_s, seed, pods)?;
                    }
                    Ok(())
                }
                Bench::Planner {
                    dir,
                    agents,
                    map,
                    max_nodes,
                    limit_s,
                    refine_s,
                    lacam3,
                } => {
                    let maps: Vec<&str> = match &map {
                        Some(m) => vec![m.as_str()],
                        None => core_bench::MAPS.to_vec(),
                    };
                    let lacam3 = lacam3.or_else(core_bench::lacam3_default);
                    core_bench::run(&core_bench::PlannerBench {
                        dir: &dir,
                        maps: &maps,
                        agents: &agents,
                        max_nodes,
                        limit: std::time::Duration::from_secs(limit_s),
                        refine: std::time::Duration::from_secs(refine_s),
                        lacam3: lacam3.as_deref(),
                    })
                }
                Bench::All => {
                    for (clients, hot) in [(64, false), (256, false), (64, true), (256, true)] {
                        central_bench::intake(false, clients, hot, 10, 32).await?;
                    }
                    bench::pick(2000, 16).await?;
                    bench::sync(100_000).await?;
                    bench::fleet(500, 2.0, 20).await
                }
            }
        }),
    }
}
