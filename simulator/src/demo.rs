//! The demo: real daemons in this process, simulated people talking to them over HTTP.

use crate::client::Api;
use anyhow::{ensure, Context, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use secrecy::SecretString;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tote_shared::WarehouseCode;
use tote_sim::carrier::{CarrierSim, CarrierSimConfig};
use tote_sim::marketplace::{MarketplaceConfig, MarketplaceSim};
use tote_sim::payment::{ChannelKeys, ChannelKind, ChannelSim, SimConfig};

pub struct Options {
    pub once: bool,
    pub seed: u64,
    pub data_dir: Option<PathBuf>,
    pub port: u16,
    pub orders_per_minute: u32,
    /// SH-01's goods-to-person layout, and how many simulated robots work it.
    pub floor: PathBuf,
    pub robots: usize,
    /// Continuous mode as a soak: shoppers at once, sampled, for a fixed time (see soak.rs).
    pub soak: Option<crate::soak::SoakOptions>,
}

const ADMIN_TOKEN: &str = "demo-admin-token-not-for-production";
const READ_TOKEN: &str = "demo-read-token-not-for-production";

/// (warehouse, city) of the demo's two warehouses.
const WAREHOUSES: [(&str, &str); 2] = [("SH-01", "Shanghai"), ("BJ-01", "Beijing")];
const SIZES: [&str; 6] = ["40", "41", "42", "43", "44", "45"];
const STORY_SKU: &str = "PEG39-M-WHT-42";

fn sku_code(size: &str) -> String {
    format!("PEG39-M-WHT-{size}")
}

fn gtin(size: &str) -> String {
    tote_shared::Gtin::from_body13(195_866_137_700 + size.parse::<u64>().unwrap_or(0)).to_string()
}

/// Demo-only credentials (a real site sets them from the environment): the simulated station
/// software's API token, and the supervisor a person signs in as on the handheld pages.
const DEMO_EDGE_API: &str = "demo-edge-api-token-not-for-production";
/// Nike China's credential on the supplier API.
const DEMO_SUPPLIER_TOKEN: &str = "demo-supplier-nike-not-for-production";
const DEMO_SUPERVISOR: &str = "boss";
const DEMO_PIN: &str = "2468";
/// The HQ console's first admin (its password is made for each run).
const DEMO_HQ_ADMIN: &str = "hq-admin";

fn edge_token(code: &str) -> String {
    format!("demo-edge-token-{code}-not-for-production")
}

/// Set during a soak: its samples are the output, not a line per order.
static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn say(line: impl AsRef<str>) {
    if !QUIET.load(std::sync::atomic::Ordering::Relaxed) {
        println!("  {}", line.as_ref());
    }
}

pub async fn run(options: Options) -> Result<()> {
    let temp = tempfile::tempdir()?;
    let dir = options
        .data_dir
        .clone()
        .unwrap_or_else(|| temp.path().to_owned());
    std::fs::create_dir_all(&dir)?;
    let port = |offset: u16| {
        if options.port == 0 {
            0
        } else {
            options.port + offset
        }
    };

    // The payment channels, played by the simulator with their own keys.
    let seed = options.seed;
    let keys = tokio::task::spawn_blocking(move || ChannelKeys::generate(seed)).await??;
    let mut sim_config = SimConfig::new(keys, options.seed);
    sim_config.time_scale = 0.05;
    if options.soak.is_some() {
        // An hour at full speed opens ~60,000 trades; the soak downloads no bills, so settled
        // trades need not outlive the payment timeout by much.
        sim_config.forget_after = Some(Duration::from_secs(15 * 60));
    }
    let channels = ChannelSim::start(sim_config).await?;
    // The carriers' open platforms and the tracking aggregator, played by the simulator: a
    // parcel moves one tracking event a second.
    let carriers =
        CarrierSim::start(CarrierSimConfig::three_carriers(Duration::from_secs(1))).await?;
    // A Tmall-style marketplace shop, played by the simulator: central pulls its trades.
    let market = MarketplaceSim::start(MarketplaceConfig::default()).await?;
    let mut settings = central_settings(&dir, port(0), &channels, &carriers)?;
    settings
        .marketplaces
        .insert("tmall".into(), marketplace_settings(&market));
    if let Some(soak) = &options.soak {
        settings.orders.payment_timeout_ms = soak.payment_timeout_ms;
    }
    settings.validate()?;
    // The console's first admin, with a password made for this run only.
    let console_password = format!("demo-{:016x}", rand::random::<u64>());
    settings.auth.bootstrap_admin = Some(DEMO_HQ_ADMIN.into());
    settings.auth.bootstrap_password = Some(SecretString::from(console_password.clone()));
    let central = tote_central::startup::App::build(settings).await?;
    let central_url = format!("http://{}", central.local_addr()?);
    channels.set_card_webhook_url(Some(format!("{central_url}/api/v1/payments/notify/card")));
    tokio::spawn(central.run_until_stopped(std::future::pending()));
    let hq = Api::new(central_url.clone(), Some(ADMIN_TOKEN.into()));
    let reader = Api::new(central_url.clone(), Some(READ_TOKEN.into()));

    println!("Tote demo — data in {}", dir.display());
    println!("  central  {central_url}   (HQ API; token {READ_TOKEN} reads, OpenAPI at /api/v1/openapi.json)");
    println!("  console  {central_url}/console   (HQ pages; sign in as {DEMO_HQ_ADMIN}, password {console_password} — this run only)");
    println!(
        "  payment  WeChat Pay {}, Alipay {}, card gateway {}   (simulated channels with their own keys)",
        channels.base_url(ChannelKind::Wechat),
        channels.base_url(ChannelKind::Alipay),
        channels.base_url(ChannelKind::Card)
    );
    println!("  carriers SF, JD, ZTO {}   tracking aggregator {}   (simulated, signed like SF's open platform and Kuaidi100)", carriers.api_url(), carriers.aggregator_url());
    println!(
        "  tmall    {}   (a simulated marketplace shop, TOP-style signed calls)",
        market.url()
    );
    seed_catalog(&hq).await?;
    let mut edges = Vec::new();
    let mut printers = Vec::new();
    let mut devices = Vec::new();
    for (i, (code, city)) in WAREHOUSES.iter().enumerate() {
        hq.post("/api/v1/warehouses", &json!({"code": code, "name": format!("{city} DC"), "city": city, "edge_token": edge_token(code)}))
            .await?;
        // The packing station's label printer, played by the simulator: labels land as files.
        let spool = dir.join(format!("labels-{code}"));
        std::fs::create_dir_all(&spool)?;
        let printer =
            tote_sim::printer::Printer::start(SocketAddr::from(([127, 0, 0, 1], 0)), spool.clone())
                .await?;
        let mut settings = edge_settings(&dir, code, port(1 + i as u16), &central_url)?;
        if *code == "SH-01" {
            ensure!(
                options.floor.exists(),
                "{} is missing: run the demo from the repository root, or pass --floor",
                options.floor.display()
            );
            settings.floor = Some(tote_edge::config::FloorSettings {
                layout: options.floor.clone(),
                pods: 200,
                faces: 4,
                bins_per_face: 4,
                tick_ms: 50,
                low_battery: 25.0,
                charged: 90.0,
                station_type: "floor".into(),
                load_type: "POD".into(),
                vehicle_types: Vec::new(),
            });
            // Station ST-1 has a PLC (pick-to-light, confirm button) with a worker at it, and
            // two of the robots are driven over Modbus TCP instead of VDA 5050.
            let plc = tote_sim::plc::StationPlc::start(
                SocketAddr::from(([127, 0, 0, 1], 0)),
                Some(tote_sim::plc::Worker {
                    pick_ms: 1200,
                    hold_ms: 150,
                    retry_ms: 3000,
                }),
            )
            .await?;
            settings.station_plcs.push(station_plc("ST-1", plc.addr()));
            let layout = tote_edge::gtp::read_layout(&options.floor)?;
            for (k, (x, y)) in tote_edge::gtp::start_cells(&layout, options.robots + MODBUS_ROBOTS)
                .into_iter()
                .skip(options.robots)
                .enumerate()
            {
                let (cx, cy) = layout.grid.xy(layout.cell_at(x, y).context("start cell")?);
                let config = tote_sim::modbus_agv::ModbusAgvConfig {
                    listen: SocketAddr::from(([127, 0, 0, 1], 0)),
                    start: (cx as u16, cy as u16),
                    battery: 90,
                    node_ms: 250,
                    action_ms: 1000,
                    load: 0,
                };
                let agv = tote_sim::modbus_agv::ModbusAgv::start(config).await?;
                settings.modbus_robots.push(modbus_robot(k, agv.addr()));
                devices.push(Device::Robot(agv));
            }
            devices.push(Device::Plc(plc));
        }
        settings.printing.printer = Some(printer.addr.to_string());
        settings.printing.sender = format!("Tote {code}");
        printers.push(printer);
        let edge = tote_edge::startup::App::build(settings).await?;
        let url = format!("http://{}", edge.local_addr()?);
        tokio::spawn(edge.run_until_stopped(std::future::pending()));
        let broker = Api::new(url.clone(), Some(DEMO_EDGE_API.into()))
            .get("/api/v1/fleet")
            .await?["broker"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        println!("  edge {code} {url}   (handheld pages at {url}/ — sign in as {DEMO_SUPERVISOR}, PIN {DEMO_PIN}; floor page {url}/floor; KPIs {url}/kpis; robots' MQTT broker {broker}; labels print to {})", spool.display());
        edges.push(Api::new(url, Some(DEMO_EDGE_API.into())));
    }
    println!();
    let robots = start_robots(&edges[0], &options).await?;
    for (edge, (code, _)) in edges.iter().zip(WAREHOUSES) {
        stock_warehouse(edge, code).await?;
        if code == "SH-01" {
            purchase_story_stock(&hq, &central_url, edge).await?;
        }
    }
    seed_logistics(&hq).await?;
    let story = match story(&reader, &hq, &edges[0], &channels, &printers[0]).await {
        Ok(()) => marketplace(&reader, &hq, &edges[0], &market).await,
        failed => failed,
    };
    let story = match story {
        Ok(()) => marketing(&reader, &hq, &edges[0], &channels).await,
        failed => failed,
    };
    let story = match story {
        Ok(()) => books(&reader, &hq).await,
        failed => failed,
    };
    let story = match story {
        Ok(()) => console(&central_url, &console_password).await,
        failed => failed,
    };
    let story = match story {
        Ok(()) => robots_on_the_floor(&edges[0], robots.len()).await,
        failed => failed,
    };
    let story = match story {
        Ok(()) => goods_to_person(&reader, &hq, &edges[0], &channels).await,
        failed => failed,
    };
    match (&story, options.once) {
        (Ok(()), true) => {
            println!("\nStory complete: every check held.");
            return Ok(());
        }
        (Err(e), _) => {
            eprintln!("\nStory failed: {e:#}");
            return story;
        }
        (Ok(()), false) => {}
    }
    if let Some(soak) = &options.soak {
        println!(
            "\nSoak: {} shoppers aiming at {} orders a minute together, unpaid orders closing after {} s, for {} minutes; sampled every {} s.",
            soak.shoppers, soak.orders_per_minute, soak.payment_timeout_ms / 1000, soak.minutes, soak.sample_s
        );
        QUIET.store(true, std::sync::atomic::Ordering::Relaxed);
        let each = (soak.orders_per_minute / soak.shoppers as u32).max(1);
        let buyers = (0..soak.shoppers as u64).map(|k| shoppers(&hq, &edges, &channels, options.seed * 1000 + k, each));
        return tokio::select! {
            r = crate::soak::sample(soak, &dir, &reader, &edges) => r.map(|_| ()),
            r = futures_util::future::try_join_all(buyers) => r.map(|_| ()).context("a shopper stopped"),
            r = station_workers(&edges[0]) => r.context("the station workers stopped"),
        };
    }
    println!("\nShoppers keep ordering ({} per minute, seed {}); robots bring pods to SH-01's stations; Ctrl-C stops.", options.orders_per_minute, options.seed);
    tokio::select! {
        r = shoppers(&hq, &edges, &channels, options.seed, options.orders_per_minute) => r,
        r = station_workers(&edges[0]) => r,
        _ = tote_shared::runtime::system::shutdown_signal() => Ok(()),
    }
}

/// Robots driven over Modbus TCP on SH-01's floor, beside the VDA 5050 ones.
const MODBUS_ROBOTS: usize = 2;

/// Simulated devices kept alive for the demo's run.
#[allow(dead_code)] // held, never read
enum Device {
    Plc(tote_sim::plc::StationPlc),
    Robot(tote_sim::modbus_agv::ModbusAgv),
}

fn station_plc(station: &str, addr: SocketAddr) -> tote_edge::config::StationPlcSettings {
    tote_edge::config::StationPlcSettings {
        station: station.into(),
        address: addr.to_string(),
        unit: 1,
        poll_ms: 100,
        timeout_ms: 500,
        settle_ms: 300,
        offline_after: 3,
        online_after: 3,
        map: tote_shared::station::RegisterMap::default(),
    }
}

fn modbus_robot(k: usize, addr: SocketAddr) -> tote_edge::config::ModbusRobotSettings {
    use tote_shared::station::{Point, Table};
    tote_edge::config::ModbusRobotSettings {
        manufacturer: "tote-modbus".into(),
        serial: format!("mb-{k:02}"),
        address: addr.to_string(),
        unit: 1,
        poll_ms: 100,
        timeout_ms: 500,
        offline_after: 3,
        status: Point::new(Table::Input, 0),
        command: Point::new(Table::Holding, 0),
    }
}

/// SH-01's robots: VDA 5050 shelf lifters on the edge's broker, parked on the floor.
async fn start_robots(edge: &Api, options: &Options) -> Result<Vec<tote_sim::agv::Agv>> {
    let broker = edge.get("/api/v1/fleet").await?["broker"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    let (host, port) = broker.rsplit_once(':').context("broker host:port")?;
    let layout = tote_edge::gtp::read_layout(&options.floor)?;
    let starts = tote_edge::gtp::start_cells(&layout, options.robots);
    let mut robots = Vec::with_capacity(starts.len());
    for (k, start) in starts.iter().enumerate() {
        let serial = format!("agv-{k:02}");
        // Commissioning: each robot gets its own login to the edge's broker.
        let login = tote_sim::agv::issue_login(edge.base(), DEMO_EDGE_API, "tote", &serial).await?;
        let config = tote_sim::agv::AgvConfig {
            manufacturer: "tote".into(),
            serial,
            broker_host: host.to_owned(),
            broker_port: port.parse().unwrap_or(0),
            state_ms: 1000,
            node_ms: 250,
            battery: 60.0 + (k % 5) as f64 * 10.0,
            start: *start,
            load: None,
            login,
            tls_ca: None,
            // A mixed fleet: every other robot speaks VDA 5050 2.0, the rest 2.1.
            version: tote_shared::vda5050::VERSIONS[k % 2].into(),
        };
        robots.push(tote_sim::agv::Agv::spawn(
            config,
            tote_shared::runtime::system::now_ms,
        ));
    }
    Ok(robots)
}

/// An anonymous MQTT client on SH-01's broker gets "not authorised", as the broker's gate says.
async fn stranger_refused(edge: &Api) -> Result<()> {
    let broker = edge.get("/api/v1/fleet").await?["broker"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    let (host, port) = broker.rsplit_once(':').context("broker host:port")?;
    let options = rumqttc::MqttOptions::new("demo-stranger", host, port.parse()?);
    let (_client, mut events) = rumqttc::AsyncClient::new(options, 8);
    let answer = tokio::time::timeout(Duration::from_secs(10), events.poll())
        .await
        .context("no answer from the broker")?;
    match answer {
        Err(rumqttc::ConnectionError::ConnectionRefused(
            rumqttc::ConnectReturnCode::NotAuthorized,
        )) => Ok(()),
        other => anyhow::bail!(
            "an anonymous client on the robots' broker should be refused, got {other:?}"
        ),
    }
}

async fn robots_on_the_floor(edge: &Api, count: usize) -> Result<()> {
    wait(Duration::from_secs(20), "robots in service", || async {
        let fleet = edge.get("/api/v1/fleet").await?;
        Ok(fleet["robots"]
            .as_array()
            .map_or(0, |r| r.iter().filter(|r| r["in_service"] == true).count())
            >= count)
    })
    .await?;
    // Master control's first view comes once every robot has had time to report.
    wait(
        Duration::from_secs(20),
        "master control's first view of the floor",
        || async {
            Ok(edge.get("/api/v1/floor").await?["view"]["pods"]
                .as_array()
                .is_some_and(|p| !p.is_empty()))
        },
    )
    .await?;
    let floor = edge.get("/api/v1/floor").await?;
    let pods = floor["view"]["pods"].as_array().map_or(0, |p| p.len());
    ensure!(pods == 200, "SH-01's floor has {pods} pods");
    let fleet = edge.get("/api/v1/fleet").await?;
    let modbus = fleet["modbus_robots"].as_array().map_or(0, |r| r.len());
    say(format!("SH-01: {count} VDA 5050 robots in service and {modbus} driven over Modbus TCP, on a floor of {pods} pods and 3 stations (ST-1 has a PLC: pick-to-light and a confirm button)"));
    // Robots of both 2.x versions: each is addressed in the one it announces, and none
    // refused anything the edge sent.
    let speaking = |v: &str| {
        fleet["robots"].as_array().map_or(0, |r| {
            r.iter().filter(|r| r["protocol_version"] == v).count()
        })
    };
    let (v20, v21) = (speaking("2.0.0"), speaking("2.1.0"));
    ensure!(
        v20 > 0 && v21 > 0 && v20 + v21 == count,
        "robots by VDA 5050 version: {v20} on 2.0, {v21} on 2.1, of {count}"
    );
    let refused: u64 = fleet["refusals"]
        .as_object()
        .map_or(0, |r| r.values().filter_map(|n| n.as_u64()).sum());
    ensure!(
        refused == 0,
        "robots refused {refused} of the edge's messages: {}",
        fleet["refusals"]
    );
    say(format!("SH-01's robots speak VDA 5050 2.0 ({v20}) and 2.1 ({v21}); the edge answers each in its own version, and none refused an order"));
    stranger_refused(edge).await?;
    say("SH-01's robot broker: each robot signed in with its own login; a stranger is refused at CONNECT and only the edge may send orders");
    Ok(())
}

/// Puts stock on pods (the goods-to-person part of SH-01): later orders are picked at stations.
async fn stock_pods(edge: &Api) -> Result<()> {
    for p in 1..=120u32 {
        let size = SIZES[p as usize % SIZES.len()];
        let body = json!({"location": format!("P{p:04}-A1"), "gtin": gtin(size), "qty": 10});
        edge.post_keyed("/api/v1/receipts", &format!("pod-{p}"), &body)
            .await?;
    }
    say("SH-01 put 1,200 shoes on 120 pods");
    Ok(())
}

/// The strategy rules at work: SH-01 stocks its pods, and a shopper's order for a size that
/// is on a pod as well as on a shelf is picked at a station — a robot brings the pod, the
/// station's worker (or ST-1's, at its PLC's button) picks it — then packed and shipped.
async fn goods_to_person(reader: &Api, hq: &Api, sh: &Api, channels: &ChannelSim) -> Result<()> {
    stock_pods(sh).await?;
    let size = "43";
    let body = json!({"channel": "web", "lines": [{"sku": sku_code(size), "qty": 1}],
                      "ship_to": {"name": "Runner", "line1": "8 Huaihai Road", "city": "Shanghai"}});
    let order = hq.post_keyed("/api/v1/orders", "demo-gtp-1", &body).await?;
    let id = order["id"].as_u64().context("order id")?;
    ensure!(order["warehouse"] == "SH-01", "the Shanghai order went to {}", order["warehouse"]);
    pay(reader, hq, channels, id, ChannelKind::Alipay).await?;
    let path = format!("/api/v1/orders/{id}");
    let fulfilment = wait_json(Duration::from_secs(20), || sh.get(&path)).await?;
    let task = &fulfilment["tasks"][0];
    let bin = task["location"].as_str().unwrap_or("").to_owned();
    ensure!(
        task["method"] == "station" && fulfilment["tasks"].as_array().map_or(0, |t| t.len()) == 1,
        "order {id}'s EU {size} should be picked at a station, got {}",
        fulfilment["tasks"]
    );
    say(format!("order {id}: 1 × EU {size} to Shanghai, paid by Alipay; SH-01's strategy rules send goods-to-person SKUs to the stations: it is taken from pod bin {bin}, not from shelf A-04-01"));
    let pod = bin.split('-').next().unwrap_or("").to_owned();
    let paid = Instant::now();
    let deadline = paid + Duration::from_secs(180);
    let mut brought = None;
    while sh.get(&path).await?["state"] != "picked" {
        ensure!(Instant::now() < deadline, "order {id} not picked at a station within 180 s of payment");
        let stations = sh.get("/api/v1/stations").await?;
        let at = stations.as_array().into_iter().flatten().find(|s| s["presenting"] == pod.as_str());
        if let (None, Some(station)) = (&brought, at) {
            let (name, robot) = (station["name"].as_str().unwrap_or(""), station["robot"].as_str().unwrap_or(""));
            say(format!("robot {robot} brought pod {pod} to station {name}, {:.1} s after payment", paid.elapsed().as_secs_f64()));
            brought = Some(name.to_owned());
        }
        pick_round(sh, |station, task, qty| {
            say(format!("{}: the worker scanned bin {} and picked {qty} × {}", station["name"].as_str().unwrap_or(""), task["location"].as_str().unwrap_or(""), task["sku"].as_str().unwrap_or("")))
        })
        .await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let station = brought.context("the order was picked but no station was seen presenting its pod")?;
    if station == "ST-1" {
        say("ST-1: the PLC lit the bin, the worker took the pair and pressed the confirm button");
    }
    sh.post(&format!("/api/v1/orders/{id}/pack"), &json!({})).await?;
    let shipped = sh.post(&format!("/api/v1/orders/{id}/ship"), &json!({})).await?;
    ensure!(shipped["state"] == "shipped", "order {id} is {}", shipped["state"]);
    say(format!(
        "order {id}: picked at {station}, packed and shipped with {} {} — goods-to-person end to end",
        shipped["carrier"].as_str().unwrap_or(""),
        shipped["tracking_number"].as_str().unwrap_or("")
    ));
    Ok(())
}

/// A worker at each SH-01 station picks what the robots present (scan the bin, then items).
async fn station_workers(edge: &Api) -> Result<()> {
    loop {
        let idle = pick_round(edge, |station, task, qty| {
            say(format!(
                "{}: picked {qty} × {} from pod bin {}",
                station["name"].as_str().unwrap_or(""),
                task["sku"].as_str().unwrap_or(""),
                task["location"].as_str().unwrap_or("")
            ))
        })
        .await?;
        if idle {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// One look at every station, as its worker: each task presented has its bin scanned, then
/// what is left of it; `picked` hears of each (station, task, quantity). Stations with a PLC
/// are left to the simulated worker pressing its button. True when nothing was presented.
pub(crate) async fn pick_round(edge: &Api, mut picked: impl FnMut(&Value, &Value, i64)) -> Result<bool> {
    let stations = edge.get("/api/v1/stations").await?;
    let mut idle = true;
    for station in stations.as_array().into_iter().flatten().filter(|s| s["plc"].is_null()) {
        for task in station["tasks"].as_array().into_iter().flatten() {
            idle = false;
            let path = format!("/api/v1/pick-tasks/{}/scan", task["id"]);
            // The station is named so the KPIs count picks per station.
            let at = &station["name"];
            if task["state"] == "open" {
                edge.post(&path, &json!({"code": task["location"], "station": at})).await?;
            }
            let remaining = task["qty"].as_i64().unwrap_or(0) - task["qty_picked"].as_i64().unwrap_or(0);
            if remaining > 0 {
                edge.post(&path, &json!({"code": task["gtin"], "qty": remaining, "station": at})).await?;
                picked(station, task, remaining);
            }
        }
    }
    Ok(idle)
}

fn payment_settings(channels: &ChannelSim) -> Result<tote_central::config::PaymentSettings> {
    #[derive(serde::Deserialize)]
    struct Section {
        payment: tote_central::config::PaymentSettings,
    }
    let text = channels.central_config("query_after_ms = 5000\ndispatch_interval_ms = 200");
    Ok(toml::from_str::<Section>(&text)?.payment)
}

/// HTTP settings' defaults, except that every demo client is 127.0.0.1 and may use every slot.
fn demo_http_limits(max_connections: usize) -> tote_shared::runtime::settings::HttpSettings {
    use tote_shared::runtime::settings as http;
    http::HttpSettings {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        max_body_bytes: 65_536,
        max_connections,
        max_in_flight: max_connections,
        header_read_timeout_ms: http::default_header_read_timeout_ms(),
        idle_timeout_ms: http::default_idle_timeout_ms(),
        max_connections_per_client: max_connections,
        tls: None,
        secure_cookies: false,
    }
}

/// Central's accounts on the simulated carriers' platforms and aggregator; pushes come to its
/// own listener.
fn logistics_settings(carriers: &CarrierSim) -> tote_central::config::LogisticsSettings {
    use tote_central::config::*;
    let mut settings = LogisticsSettings {
        tracking_salt: Some(SecretString::from(
            "demo-kuaidi100-salt-not-for-production".to_owned(),
        )),
        aggregator: Some(AggregatorSettings {
            url: carriers.aggregator_url(),
            key: SecretString::from(carriers.config().aggregator_key.clone()),
            callback_url: None,
        }),
        pools: PoolSettings {
            cover_hours: 12,
            min_free: 200,
            max_free: 5_000,
        },
        dispatch_interval_ms: 500,
        ..LogisticsSettings::default()
    };
    for p in &carriers.config().partners {
        let account = CarrierApiSettings {
            url: carriers.api_url(),
            partner_id: p.partner_id.clone(),
            checkword: SecretString::from(p.checkword.clone()),
            monthly_card: "7551234567".into(),
        };
        settings.carriers.insert(p.carrier.clone(), account);
    }
    settings
}

fn central_settings(
    dir: &Path,
    port: u16,
    channels: &ChannelSim,
    carriers: &CarrierSim,
) -> Result<tote_central::config::Settings> {
    use tote_central::config::*;
    let settings = Settings {
        http: HttpSettings {
            listen: SocketAddr::from(([127, 0, 0, 1], port)),
            max_body_bytes: 65_536,
            max_connections: 1024,
            max_in_flight: 512,
            ..demo_http_limits(1024)
        },
        database: tote_central::config::DatabaseSettings::sqlite_file(dir.join("central.sqlite")),
        orders: OrderSettings {
            payment_timeout_ms: 1_800_000,
            sweep_interval_ms: 1000,
            max_lines: 50,
            intake_shards: 4,
        },
        retention: RetentionSettings::default(),
        payment: payment_settings(channels)?,
        logistics: logistics_settings(carriers),
        marketplaces: Default::default(),
        marketing: Default::default(),
        finance: Default::default(),
        auth: AuthSettings::with_tokens(
            SecretString::from(ADMIN_TOKEN.to_owned()),
            SecretString::from(READ_TOKEN.to_owned()),
        ),
        log: "warn".into(),
    };
    settings.validate()?;
    Ok(settings)
}

fn edge_settings(
    dir: &Path,
    code: &str,
    port: u16,
    central: &str,
) -> Result<tote_edge::config::Settings> {
    use tote_edge::config::*;
    let settings = Settings {
        warehouse: WarehouseCode::parse(code)?,
        http: HttpSettings {
            listen: SocketAddr::from(([127, 0, 0, 1], port)),
            max_body_bytes: 65_536,
            max_connections: 256,
            max_in_flight: 128,
            ..demo_http_limits(256)
        },
        database: DatabaseSettings {
            path: dir.join(format!("edge-{code}.sqlite")),
            write_queue: 16_384,
            max_batch: 512,
            max_readers: 4,
        },
        central: CentralSettings {
            url: central.to_owned(),
            token: SecretString::from(edge_token(code)),
            push_batch: 1000,
            pull_wait_ms: 20_000,
            request_timeout_ms: 5_000,
            backoff_initial_ms: 100,
            backoff_max_ms: 5_000,
            ca_file: None,
        },
        retention: tote_edge::config::RetentionSettings::default(),
        picking: tote_edge::config::PickingSettings::default(),
        dock: tote_shared::dock::DockRules::default(),
        printing: tote_edge::config::PrintingSettings::default(),
        auth: tote_edge::config::AuthSettings {
            session_minutes: 600,
            api_token: Some(SecretString::from(DEMO_EDGE_API.to_owned())),
            bootstrap_supervisor: Some(DEMO_SUPERVISOR.into()),
            bootstrap_pin: Some(SecretString::from(DEMO_PIN.to_owned())),
            ..Default::default()
        },
        scanners: Vec::new(),
        floor: None,
        station_plcs: Vec::new(),
        modbus_robots: Vec::new(),
        mqtt: MqttSettings {
            broker: None,
            embedded_listen: SocketAddr::from((
                [127, 0, 0, 1],
                if port == 0 { 0 } else { port + 10 },
            )),
            max_connections: 2000,
            stale_state_ms: 40_000,
            settle_ms: 3000,
            max_refusals: 3,
            manufacturers: Vec::new(),
            tls_listen: None,
            tls: None,
            connect_timeout_ms: 10_000,
            username: None,
            password: None,
        },
        log: "warn".into(),
    };
    settings.validate()?;
    Ok(settings)
}

/// HQ's carriers and rate card: SF and JD insure and sign, ZTO neither; lanes from both
/// warehouses to the story's cities.
async fn seed_logistics(hq: &Api) -> Result<()> {
    let terms = |name: &str, divisor: u32, insurance: Value, signature: bool| json!({"name": name, "volumetric_divisor": divisor, "insurance": insurance, "signature": signature, "fragile": true, "max_weight_g": 30000, "max_side_mm": 1500});
    hq.put(
        "/api/v1/logistics/carriers/SF",
        &terms(
            "SF Express",
            6000,
            json!({"rate_bp": 50, "min_fee": 100, "max_declared": 5000000}),
            true,
        ),
    )
    .await?;
    hq.put(
        "/api/v1/logistics/carriers/JD",
        &terms(
            "JD Logistics",
            8000,
            json!({"rate_bp": 30, "min_fee": 200, "max_declared": 2000000}),
            true,
        ),
    )
    .await?;
    hq.put(
        "/api/v1/logistics/carriers/ZTO",
        &terms("ZTO Express", 8000, Value::Null, false),
    )
    .await?;
    let mut csv = String::from("carrier,service,origin,province,first_weight_g,first_price,step_g,step_price,transit_days,valid_from,valid_to\n");
    for origin in ["SH-01", "BJ-01"] {
        for province in ["shanghai", "beijing", "zhejiang", "jiangsu", "guangdong"] {
            let near = (origin == "SH-01") == (province != "beijing");
            let (sf, jd, zto, days) = if near {
                ("10", "12", "6", 1)
            } else {
                ("18", "20", "9", 2)
            };
            csv.push_str(&format!(
                "SF,standard,{origin},{province},1000,{sf},1000,2,{days},2026-01-01,\n"
            ));
            csv.push_str(&format!(
                "JD,express,{origin},{province},1000,{jd},500,2,1,2026-01-01,\n"
            ));
            csv.push_str(&format!(
                "ZTO,standard,{origin},{province},1000,{zto},1000,1,{},2026-01-01,\n",
                days + 1
            ));
        }
    }
    let report = hq.post_csv("/api/v1/logistics/rates", &csv).await?;
    ensure!(
        report["refused"] == 0,
        "the demo rate card has bad rows: {report}"
    );
    Ok(())
}

async fn seed_catalog(hq: &Api) -> Result<()> {
    hq.post("/api/v1/spus", &json!({"id": "PEG39", "name": "Nike Air Zoom Pegasus 39", "brand": "Nike", "category": "Shoes > Running > Cushioned"}))
        .await?;
    for size in SIZES {
        let body = json!({"sku": sku_code(size), "spu_id": "PEG39", "gtin": gtin(size), "gender": "men", "colour": "white",
                          "size": format!("EU {size}"), "price": 89_900, "cost": 41_000});
        hq.post("/api/v1/skus", &body).await?;
    }
    say(format!(
        "HQ listed Nike Air Zoom Pegasus 39 (men, white) in EU {}–{}",
        SIZES[0],
        SIZES[SIZES.len() - 1]
    ));
    Ok(())
}

/// Waits for the catalog to reach the edge, then receives the opening stock.
async fn stock_warehouse(edge: &Api, code: &str) -> Result<()> {
    wait(
        Duration::from_secs(20),
        "master data at the edge",
        || async {
            Ok(edge.get("/api/v1/sync/status").await?["command_cursor"]
                .as_u64()
                .unwrap_or(0)
                >= SIZES.len() as u64)
        },
    )
    .await?;
    for (i, size) in SIZES.iter().enumerate() {
        let location = format!("A-0{}-01", i + 1);
        edge.post_keyed(
            "/api/v1/locations",
            &format!("loc-{location}"),
            &json!({"code": location}),
        )
        .await?;
        let qty = match (code, *size) {
            // The story's 12 pairs come from a purchase order (`purchase_story_stock`).
            ("SH-01", "42") => continue,
            ("BJ-01", "42") => 5,
            ("SH-01", _) => 30,
            _ => 20,
        };
        edge.post_keyed(
            "/api/v1/receipts",
            &format!("rcv-{size}"),
            &json!({"location": location, "gtin": gtin(size), "qty": qty}),
        )
        .await?;
    }
    say(format!("{code} received its opening stock"));
    Ok(())
}

/// The story's 12 pairs of EU 42 at SH-01 come from a purchase order: Nike China onboarded
/// with its documents and contract price, HQ's order approved, the supplier confirming and
/// shipping through its own API, SH-01 receiving against the ASN with QC, the supplier's
/// invoice three-way matched.
async fn purchase_story_stock(hq: &Api, central_url: &str, sh: &Api) -> Result<()> {
    println!("\nThe supplier: the story's 12 pairs come from a purchase order");
    let documents = json!([{"kind": "business_licence", "reference": "91310000MA1FL0001X"}, {"kind": "bank_account", "reference": "6222 0210 0000 0000"}]);
    hq.post("/api/v1/suppliers", &json!({"id": "NIKE-CN", "name": "Nike China", "contact": "Li Wei, +86 21 5555 0100", "documents": documents})).await?;
    for step in ["submit", "approve"] {
        hq.post("/api/v1/suppliers/NIKE-CN/steps", &json!({"step": step}))
            .await?;
    }
    hq.put(
        "/api/v1/suppliers/NIKE-CN/credential",
        &json!({"token": DEMO_SUPPLIER_TOKEN, "reason": "onboarding"}),
    )
    .await?;
    let terms = json!({"supplier_sku": "DH4071-100-42", "cost": 40_000, "moq": 6, "lead_time_days": 7, "breaks": [{"min_qty": 24, "cost": 38_000}], "valid_from_ms": 0});
    hq.post(
        "/api/v1/suppliers/NIKE-CN/prices",
        &json!({"sku": STORY_SKU, "terms": terms}),
    )
    .await?;
    say("Nike China onboarded: business licence and bank account on file, approved; contract price ¥400 a pair (MOQ 6, ¥380 from 24), 7 days' lead time");
    let po = hq.post_keyed("/api/v1/purchase-orders", "demo-po-1", &json!({"supplier": "NIKE-CN", "warehouse": "SH-01", "lines": [{"sku": STORY_SKU, "qty": 12}]})).await?;
    let id = po["id"].as_u64().context("purchase order id")?;
    ensure!(po["total"] == 480_000, "12 × ¥400: {po}");
    hq.post(&format!("/api/v1/purchase-orders/{id}/approve"), &json!({}))
        .await?;
    say(format!(
        "HQ approved purchase order {id}: 12 × {STORY_SKU} for SH-01, ¥4,800"
    ));
    let nike = Api::new(central_url.to_owned(), Some(DEMO_SUPPLIER_TOKEN.into()));
    let now = tote_shared::runtime::system::now_ms();
    nike.post(
        &format!("/api/v1/supplier/purchase-orders/{id}/confirm"),
        &json!({"promised_ms": now + 7 * 86_400_000}),
    )
    .await?;
    let line =
        json!({"sku": STORY_SKU, "qty": 12, "lot": "LOT42", "expiry": "281231", "carton": "C1"});
    let asn = nike.post_keyed("/api/v1/supplier/asns", "demo-asn-1", &json!({"po": id, "reference": "NK-SHP-0001", "shipped_ms": now, "eta_ms": now + 2 * 86_400_000, "lines": [line]})).await?;
    let delivery = asn["delivery"]
        .as_str()
        .context("delivery number")?
        .to_owned();
    let row = hq.get(&format!("/api/v1/inventory/{STORY_SKU}")).await?;
    let in_transit = row
        .as_array()
        .and_then(|r| r.iter().find(|x| x["warehouse"] == "SH-01"))
        .map_or(0, |x| x["in_transit"].as_i64().unwrap_or(0));
    ensure!(in_transit == 12, "12 in transit to SH-01, not {in_transit}");
    say(format!("Nike China confirmed on its supplier API and shipped ASN {delivery} (one carton, lot LOT42): 12 in transit to SH-01"));
    wait(Duration::from_secs(20), "the ASN at SH-01", || async {
        let open = sh.get("/api/v1/deliveries?state=open").await?;
        Ok(open
            .as_array()
            .is_some_and(|d| d.iter().any(|x| x["id"] == delivery.as_str())))
    })
    .await?;
    let receipt = json!({"location": "A-03-01", "gtin": gtin("42"), "qty": 12, "lot": "LOT42", "delivery": delivery});
    sh.post_keyed("/api/v1/receipts", "rcv-42", &receipt)
        .await?;
    let path = format!("/api/v1/purchase-orders/{id}");
    let closed = wait_json(Duration::from_secs(20), || async {
        let po = hq.get(&path).await?;
        ensure!(po["state"] == "closed", "purchase order not closed yet");
        Ok(po)
    })
    .await?;
    let row = hq.get(&format!("/api/v1/inventory/{STORY_SKU}")).await?;
    let sh01 = row
        .as_array()
        .and_then(|r| r.iter().find(|x| x["warehouse"] == "SH-01").cloned())
        .context("SH-01 row")?;
    ensure!(
        sh01["on_hand"] == 12 && sh01["in_transit"] == 0 && closed["lines"][0]["accepted"] == 12,
        "after the receipt: {sh01} {closed}"
    );
    say(format!("SH-01 received the 12 pairs against {delivery}, QC passed: central shows 12 in stock, 0 in transit, purchase order {id} closed"));
    let invoice = json!({"po": id, "reference": "NK-INV-0001", "lines": [{"sku": STORY_SKU, "qty": 12, "unit_cost": 40_000}], "total": 480_000});
    let matched = nike
        .post_keyed("/api/v1/supplier/invoices", "demo-inv-1", &invoice)
        .await?;
    ensure!(
        matched["state"] == "approved",
        "the invoice matches: {matched}"
    );
    say("Nike China's invoice NK-INV-0001 matched order and receipt (12 × ¥400 = ¥4,800): approved for payment");
    let month = tote_shared::calendar::utc_day(now)[..7].to_owned();
    let statement = nike
        .get(&format!("/api/v1/supplier/statements/{month}"))
        .await?;
    ensure!(
        statement["received_value"] == 480_000 && statement["not_invoiced"] == 0,
        "the month's statement: {statement}"
    );
    let card = hq.get("/api/v1/suppliers/NIKE-CN/scorecard").await?;
    ensure!(
        card["total"]["on_time"] == 1 && card["total"]["qc_pass_rate"] == 1.0,
        "the scorecard: {card}"
    );
    say(format!("Nike China's statement for {month}: 12 pairs received that passed QC, ¥4,800, invoiced ¥4,800, nothing outstanding; its scorecard: 1 delivery of 1 on time, QC pass rate 100 %"));
    let buyer = hq.get(&format!("/api/v1/skus/{STORY_SKU}")).await?;
    let shop = hq.get(&format!("/api/v1/shop/skus/{STORY_SKU}")).await?;
    let private = shop.as_object().is_some_and(|o| {
        o.keys()
            .any(|k| k.contains("cost") || k.contains("supplier"))
    });
    ensure!(
        buyer["suppliers"][0]["terms"]["cost"] == 40_000 && !private,
        "two views: {buyer} {shop}"
    );
    ensure!(
        shop["price"] == 89_900 && shop["available"].as_i64().is_some_and(|n| n >= 12),
        "the shop front: {shop}"
    );
    say(format!("The buyer sees Nike China's ¥400 beside the stock; the shop front sees {STORY_SKU} at ¥899 with {} pairs available, and neither cost nor supplier", shop["available"]));
    Ok(())
}

async fn wait<F, Fut>(limit: Duration, what: &str, mut ready: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    let deadline = Instant::now() + limit;
    let mut last_error = String::new();
    loop {
        match ready().await {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            // Kept, not returned: a check may fail while the thing awaited is on its way.
            Err(e) => last_error = format!(" (last check: {e:#})"),
        }
        ensure!(Instant::now() < deadline, "timed out waiting for {what}{last_error}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn level(reader: &Api, warehouse: &str) -> Result<Value> {
    let rows = reader
        .get(&format!("/api/v1/inventory/{STORY_SKU}"))
        .await?;
    rows.as_array()
        .and_then(|r| r.iter().find(|x| x["warehouse"] == warehouse).cloned())
        .context("no stock row")
}

/// The acceptance story from MISSION.md, steps 2–6, with checks.
async fn story(
    reader: &Api,
    hq: &Api,
    sh: &Api,
    channels: &ChannelSim,
    printer: &tote_sim::printer::Printer,
) -> Result<()> {
    wait(
        Duration::from_secs(20),
        "opening stock at central",
        || async { Ok(level(reader, "SH-01").await?["on_hand"] == 12) },
    )
    .await?;
    wait(
        Duration::from_secs(20),
        "opening stock at central",
        || async { Ok(level(reader, "BJ-01").await?["on_hand"] == 5) },
    )
    .await?;
    println!("\nThe story: one pair of Pegasus 39, men, white, EU 42");
    let page = reader.get(&format!("/api/v1/skus/{STORY_SKU}")).await?;
    say(format!(
        "product page: \"{}\" — {} in stock",
        page["name"].as_str().unwrap_or(""),
        page["sellable_total"]
    ));
    let order_body = json!({"channel": "app", "customer": "runner-li-wei", "lines": [{"sku": STORY_SKU, "qty": 1}],
                            "ship_to": {"name": "Li Wei", "line1": "88 Century Avenue, Pudong", "city": "Shanghai", "postcode": "200120"}});
    let order = hq
        .post_keyed("/api/v1/orders", "demo-story-order", &order_body)
        .await?;
    let id = order["id"].as_u64().context("order id")?;
    ensure!(
        order["warehouse"] == "SH-01",
        "routed to {} instead of SH-01",
        order["warehouse"]
    );
    let sh_level = level(reader, "SH-01").await?;
    say(format!(
        "order {id} from Shanghai routed to SH-01; one unit locked (sellable there {})",
        sh_level["sellable"]
    ));
    ensure!(sh_level["sellable"] == 11, "sellable should be 11");
    pay(reader, hq, channels, id, ChannelKind::Wechat).await?;
    let payment = &reader.get(&format!("/api/v1/orders/{id}/payments")).await?[0];
    ensure!(
        payment["state"] == "succeeded",
        "the WeChat Pay payment should have succeeded: {payment}"
    );
    say(format!(
        "WeChat Pay: payment {} (QR code {}) paid by the customer, transaction {}",
        payment["out_trade_no"].as_str().unwrap_or(""),
        payment["pay_url"].as_str().unwrap_or(""),
        payment["channel_ref"].as_str().unwrap_or("")
    ));
    let sh_level = level(reader, "SH-01").await?;
    say(format!("paid: WeChat Pay's notification verified and applied once; the lock became a deduction (committed {}, sellable {})", sh_level["committed"], sh_level["sellable"]));
    ensure!(
        sh_level["committed"] == 1 && sh_level["sellable"] == 11,
        "paid: committed 1, sellable 11"
    );
    let path = format!("/api/v1/orders/{id}");
    let fulfilment = wait_json(Duration::from_secs(20), || sh.get(&path)).await?;
    say(format!(
        "SH-01's edge received the order with {} pick task(s)",
        fulfilment["tasks"].as_array().map_or(0, |t| t.len())
    ));
    pick(sh, &fulfilment).await?;
    sh.post_keyed(
        &format!("/api/v1/orders/{id}/pack"),
        &format!("pack-{id}"),
        &json!({}),
    )
    .await?;
    say("packed");
    let choice = &reader.get(&format!("/api/v1/orders/{id}/shipping")).await?[0];
    let beaten: Vec<String> = choice["considered"]
        .as_array()
        .into_iter()
        .flatten()
        .skip(1)
        .map(|q| match q["price"]["total"].as_i64() {
            Some(total) if q["unfit"].is_null() => format!(
                "{} {} ¥{}.{:02}",
                q["carrier"].as_str().unwrap_or(""),
                q["service"].as_str().unwrap_or(""),
                total / 100,
                total % 100
            ),
            _ => format!(
                "{}: {}",
                q["carrier"].as_str().unwrap_or(""),
                q["unfit"]["reason"]
                    .as_str()
                    .unwrap_or("")
                    .replace('_', " ")
            ),
        })
        .collect();
    let total = choice["chosen"]["price"]["total"].as_i64().unwrap_or(0);
    say(format!(
        "logistics chose {} {} for ¥{}.{:02} incl. insurance (beat {}); the edge knows it",
        choice["chosen"]["carrier"].as_str().unwrap_or(""),
        choice["chosen"]["service"].as_str().unwrap_or(""),
        total / 100,
        total % 100,
        beaten.join(", ")
    ));
    ensure!(
        choice["chosen"]["carrier"] == "SF" && fulfilment["ship_via"]["carrier"] == "SF",
        "SF standard should win the story's parcel: {choice}"
    );
    let sf_free = || async {
        let pools = sh.get("/api/v1/waybills").await?;
        Ok::<u64, anyhow::Error>(
            pools
                .as_array()
                .into_iter()
                .flatten()
                .find(|p| p["carrier"] == "SF")
                .map_or(0, |p| p["free"].as_u64().unwrap_or(0)),
        )
    };
    wait(
        Duration::from_secs(20),
        "SH-01's SF waybill pool",
        || async { Ok(sf_free().await? > 0) },
    )
    .await?;
    let free = sf_free().await?;
    let shipped = sh
        .post_keyed(
            &format!("/api/v1/orders/{id}/ship"),
            &format!("ship-{id}"),
            &json!({}),
        )
        .await?;
    let waybill = shipped["tracking_number"]
        .as_str()
        .context("a waybill")?
        .to_owned();
    say(format!("shipped with SF Express (HQ's choice) under waybill {waybill}: the next of {free} numbers SF's platform issued to SH-01's pool — the packer typed nothing, and no network was needed"));
    wait(Duration::from_secs(20), "the shipping label", || async {
        Ok(printer
            .jobs()
            .iter()
            .any(|zpl| zpl.contains(&format!("^FD{waybill}^FS"))))
    })
    .await?;
    let job = &sh.get("/api/v1/print-jobs?state=printed").await?[0];
    let zpl = printer
        .jobs()
        .into_iter()
        .find(|zpl| zpl.contains(&format!("^FD{waybill}^FS")))
        .unwrap_or_default();
    ensure!(
        zpl.contains("^FD021^FS"),
        "the label should carry Shanghai's destination code 021"
    );
    say(format!("label printed at the packing station: waybill {waybill} as Code 128, destination code 021 printed large, SSCC {}", job["sscc"].as_str().unwrap_or("")));
    wait(
        Duration::from_secs(20),
        "the shipment at central",
        || async { Ok(reader.get(&format!("/api/v1/orders/{id}")).await?["state"] == "shipped") },
    )
    .await?;
    let sh_level = level(reader, "SH-01").await?;
    say(format!(
        "central: order {id} shipped; SH-01 on hand {}, sellable {}",
        sh_level["on_hand"], sh_level["sellable"]
    ));
    ensure!(
        sh_level["on_hand"] == 11 && sh_level["sellable"] == 11,
        "SH-01 should hold 11"
    );
    let ledger = reader
        .get(&format!(
            "/api/v1/inventory/{STORY_SKU}/ledger?warehouse=SH-01"
        ))
        .await?;
    say("inventory ledger at SH-01:");
    for e in ledger.as_array().into_iter().flatten() {
        say(format!(
            "  {:<16} {:<10} {:>+3} → {:<3} ({})",
            e["cause"].as_str().unwrap_or(""),
            e["field"].as_str().unwrap_or(""),
            e["delta"].as_i64().unwrap_or(0),
            e["balance_after"].as_i64().unwrap_or(0),
            e["reference"].as_str().unwrap_or("")
        ));
    }
    delivery(reader, id, &waybill).await?;
    journal(reader, id).await?;
    invoice(reader, id).await?;
    exchange(reader, hq, sh, id).await
}

/// Story step 6: the runner asks to exchange the EU 42 for a 43. A rule approves it, the 43 is
/// reserved at once, SH-01's returns desk checks the returned pair, and the 43 ships; no
/// money moves.
async fn exchange(reader: &Api, hq: &Api, sh: &Api, id: u64) -> Result<()> {
    let body = json!({"kind": "exchange", "reason": "size", "note": "a size too small",
                      "lines": [{"sku": STORY_SKU, "qty": 1, "exchange_sku": sku_code("43")}]});
    let request = hq
        .post_keyed(
            &format!("/api/v1/orders/{id}/after-sales"),
            "demo-story-exchange",
            &body,
        )
        .await?;
    ensure!(
        request["state"] == "awaiting_return",
        "the exchange should be approved by rule: {request}"
    );
    let (rid, rma) = (
        request["id"].as_u64().context("request id")?,
        request["rma"].as_str().context("an RMA")?.to_owned(),
    );
    let replacement = request["replacement_order"]
        .as_u64()
        .context("a replacement order")?;
    say(format!(
        "the runner asks to exchange EU 42 for EU 43: after-sales approved it ({}), return slip {rma}; the 43 is reserved as order {replacement} (held)",
        request["decided_by"].as_str().unwrap_or("")
    ));
    let slip = format!("/api/v1/returns/{rma}");
    let desk = wait_json(Duration::from_secs(20), || sh.get(&slip)).await?;
    ensure!(desk["state"] == "open", "SH-01 should expect {rma}: {desk}");
    let bin = sh
        .get(&format!("/api/v1/putaway?code={}", gtin("42")))
        .await?["location"]
        .as_str()
        .context("a bin for the 42")?
        .to_owned();
    sh.post_keyed(
        &format!("/api/v1/returns/{rma}/check"),
        &format!("{rma}-qc"),
        &json!({"code": gtin("42"), "passed": true}),
    )
    .await?;
    sh.post_keyed(
        &format!("/api/v1/returns/{rma}/close"),
        &format!("{rma}-close"),
        &json!({"location": bin}),
    )
    .await?;
    say(format!(
        "SH-01's returns desk scanned {rma} and the pair: QC passed, back into {bin}"
    ));
    let path = format!("/api/v1/orders/{replacement}");
    let fulfilment = wait_json(Duration::from_secs(20), || sh.get(&path)).await?;
    pick(sh, &fulfilment).await?;
    sh.post_keyed(
        &format!("/api/v1/orders/{replacement}/pack"),
        &format!("pack-{replacement}"),
        &json!({}),
    )
    .await?;
    let shipped = sh
        .post_keyed(
            &format!("/api/v1/orders/{replacement}/ship"),
            &format!("ship-{replacement}"),
            &json!({}),
        )
        .await?;
    let after = format!("/api/v1/after-sales/{rid}");
    wait(
        Duration::from_secs(20),
        "the exchange to complete",
        || async { Ok(reader.get(&after).await?["state"] == "completed") },
    )
    .await?;
    let refunds = reader.get(&format!("/api/v1/orders/{id}/refunds")).await?;
    ensure!(
        refunds.as_array().is_some_and(Vec::is_empty),
        "an exchange at the same price moves no money: {refunds}"
    );
    let sh_level = level(reader, "SH-01").await?;
    ensure!(
        sh_level["on_hand"] == 12 && sh_level["sellable"] == 12,
        "the returned 42 should be sellable again at SH-01: {sh_level}"
    );
    say(format!(
        "the EU 43 shipped under waybill {}; exchange complete, no money moved; EU 42 at SH-01 sellable {} again",
        shipped["tracking_number"].as_str().unwrap_or(""),
        sh_level["sellable"]
    ));
    Ok(())
}

/// Central registers the parcel's pool number with SF, subscribes it to the aggregator, and
/// the aggregator's signed pushes carry it to the door; the order follows.
async fn delivery(reader: &Api, id: u64, waybill: &str) -> Result<()> {
    let path = format!("/api/v1/orders/{id}/tracking");
    wait(
        Duration::from_secs(30),
        "the parcel's registration with SF",
        || async { Ok(reader.get(&path).await?[0]["registration"] == "registered") },
    )
    .await?;
    let parcel = &reader.get(&path).await?[0];
    say(format!("logistics registered {waybill} with SF's platform (routing label {}) and subscribed it to the tracking aggregator", parcel["route_label"].as_str().unwrap_or("")));
    wait(Duration::from_secs(30), "the parcel's delivery", || async {
        Ok(reader.get(&path).await?[0]["state"] == "delivered")
    })
    .await?;
    let parcel = &reader.get(&path).await?[0];
    let steps: Vec<&str> = parcel["events"]
        .as_array()
        .into_iter()
        .flatten()
        .rev()
        .filter_map(|e| e["state"].as_str())
        .collect();
    say(format!(
        "tracking (signed Kuaidi100 pushes): {}",
        steps.join(" → ")
    ));
    wait(
        Duration::from_secs(20),
        "the order to be delivered",
        || async { Ok(reader.get(&format!("/api/v1/orders/{id}")).await?["state"] == "delivered") },
    )
    .await?;
    say(format!("central: order {id} delivered"));
    Ok(())
}

/// The customer pays `id` on `channel`: central creates the payment at the channel, the
/// shopper pays (the simulator plays both), the channel's signed notification marks it paid.
async fn pay(
    reader: &Api,
    hq: &Api,
    channels: &ChannelSim,
    id: u64,
    channel: ChannelKind,
) -> Result<()> {
    // Each shopper their own phone and address: one address for every payment would trip
    // the risk rules' velocity-by-IP review after a hundred.
    let ip = format!("10.{}.{}.{}", (id >> 16) & 0xff, (id >> 8) & 0xff, id & 0xff);
    let payer = json!({"user": format!("customer-{id}"), "device": format!("phone-{id}"), "ip": ip});
    let payment = hq
        .post(
            &format!("/api/v1/orders/{id}/payments"),
            &json!({"channel": channel.as_str(), "payer": payer}),
        )
        .await?;
    let no = payment["out_trade_no"]
        .as_str()
        .context("out_trade_no")?
        .to_owned();
    if reader.get(&format!("/api/v1/orders/{id}")).await?["state"] == "awaiting_payment" {
        // A 202 means central's create call to the channel timed out and its dispatcher
        // creates the trade again: the shopper's scan waits for the trade to be there.
        wait(Duration::from_secs(30), "the channel's trade", || async {
            Ok(match channels.pay(channel, &no) {
                Ok(()) => true,
                Err(tote_sim::payment::SimError::NothingToPay { .. }) => false,
                Err(e) => return Err(e.into()),
            })
        })
        .await?;
    }
    let path = format!("/api/v1/orders/{id}");
    wait(
        Duration::from_secs(30),
        "the channel's payment notification",
        || async { Ok(reader.get(&path).await?["state"] != "awaiting_payment") },
    )
    .await
}

/// The e-invoice issued for the paid order.
async fn invoice(reader: &Api, id: u64) -> Result<()> {
    let path = format!("/api/v1/orders/{id}/invoices");
    wait(Duration::from_secs(20), "the e-invoice", || async {
        Ok(reader
            .get(&path)
            .await?
            .as_array()
            .is_some_and(|l| !l.is_empty()))
    })
    .await?;
    let invoices = reader.get(&path).await?;
    let blue = &invoices[0];
    ensure!(
        blue["kind"] == "blue" && blue["totals"]["amount_minor"] == 89_900,
        "the invoice should be a blue one of ¥899.00: {blue}"
    );
    let yuan = |v: &Value| v.as_i64().unwrap_or(0) as f64 / 100.0;
    say(format!(
        "e-invoice {}: ¥{:.2} incl. VAT ¥{:.2} ({}), seller {}",
        blue["number"].as_str().unwrap_or(""),
        yuan(&blue["totals"]["amount_minor"]),
        yuan(&blue["totals"]["tax_minor"]),
        "13 %",
        blue["seller"]["name"].as_str().unwrap_or("")
    ));
    Ok(())
}

/// The journal's event types about `subject`, in order (paging through all of it).
async fn order_events(reader: &Api, subject: &str) -> Result<Vec<String>> {
    let (mut after, mut found) = (0u64, Vec::new());
    loop {
        let page = reader
            .get(&format!("/api/v1/events?after={after}&limit=1000"))
            .await?;
        let events = page["events"].as_array().cloned().unwrap_or_default();
        if events.is_empty() {
            return Ok(found);
        }
        found.extend(
            events
                .iter()
                .filter(|e| e["subject"] == subject)
                .map(|e| e["event"]["type"].as_str().unwrap_or("").to_owned()),
        );
        after = page["next_after"].as_u64().context("next_after")?;
    }
}

/// What the business-event journal told HQ's systems about the story's order, and the daily
/// sales its consumer built from it.
async fn journal(reader: &Api, id: u64) -> Result<()> {
    let subject = format!("order:{id}");
    let wanted = [
        "order_created",
        "order_paid",
        "order_picked",
        "order_packed",
        "order_shipped",
        "freight_accrued",
        "parcel_tracked",
        "order_delivered",
    ];
    wait(
        Duration::from_secs(20),
        "the order's events in the journal",
        || async {
            Ok(order_events(reader, &subject)
                .await?
                .last()
                .is_some_and(|k| k == "order_delivered"))
        },
    )
    .await?;
    let mut kinds = order_events(reader, &subject).await?;
    let moves = kinds.iter().filter(|k| *k == "parcel_tracked").count();
    kinds.dedup();
    ensure!(
        kinds == wanted && moves >= 1,
        "the journal tells order {id} as {kinds:?}"
    );
    say(format!(
        "journal: {} (tracking moved the parcel {moves} times)",
        kinds.join(" → ")
    ));
    // Summed over the days: the story may cross midnight (UTC).
    let totals = |rows: &Value| {
        rows.as_array()
            .into_iter()
            .flatten()
            .fold((0, 0, 0, 0), |t, r| {
                let n = |k: &str| r[k].as_i64().unwrap_or(0);
                (
                    t.0 + n("ordered"),
                    t.1 + n("paid"),
                    t.2 + n("shipped"),
                    t.3 + n("revenue"),
                )
            })
    };
    let path = format!("/api/v1/analytics/sales/{STORY_SKU}");
    wait(Duration::from_secs(20), "the sales figures", || async {
        Ok(totals(&reader.get(&path).await?).2 == 1)
    })
    .await?;
    let (ordered, paid, shipped, revenue) = totals(&reader.get(&path).await?);
    ensure!(
        (ordered, paid, shipped) == (1, 1, 1),
        "sales show {ordered} ordered, {paid} paid, {shipped} shipped"
    );
    say(format!("sales of EU 42 (from the journal): {ordered} ordered, {paid} paid, {shipped} shipped, revenue ¥{:.2}", revenue as f64 / 100.0));
    Ok(())
}

async fn wait_json<F, Fut>(limit: Duration, mut get: F) -> Result<Value>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Value>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(v) = get().await {
            return Ok(v);
        }
        ensure!(Instant::now() < deadline, "timed out");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn marketplace_settings(market: &MarketplaceSim) -> tote_central::config::MarketplaceSettings {
    let c = market.config();
    tote_central::config::MarketplaceSettings {
        url: market.url(),
        app_key: c.app_key.clone(),
        app_secret: SecretString::from(c.app_secret.clone()),
        session: SecretString::from(c.session.clone()),
        poll_interval_ms: 200,
        overlap_ms: 60_000,
        initial_lookback_ms: 3_600_000,
        call_timeout_ms: 5_000,
    }
}

/// Story step 7: a buyer orders the EU 44 at the Tmall shop. Central pulls the trade, the
/// shop's connector hands it over too — one order — SH-01 ships it and Tmall gets the
/// tracking number once.
/// Marketing prices the runner's next cart: HQ sets a 10 % margin floor, is refused a coupon
/// that stacked on the shop's tier could sell the EU 42 under it, and the shop front prices
/// two pairs with the tier.
async fn marketing(reader: &Api, hq: &Api, sh: &Api, channels: &ChannelSim) -> Result<()> {
    println!("\nMarketing: a campaign for the Pegasus 39, priced at checkout");
    let policy = json!({"rules": {"name": "tmall", "bases": ["parallel", "parallel", "parallel", "parallel"], "exclusive": []},
                        "shop": "tote", "floors": {"min_margin_bp": 1000, "min_list_share_bp": 0}});
    hq.put("/api/v1/marketing/policy", &policy).await?;
    let now = tote_shared::runtime::system::now_ms();
    let window = |benefit: Value, layer: &str| json!({"layer": layer, "class": layer, "shop": "tote", "benefit": benefit, "starts_ms": now - 1_000, "ends_ms": now + 86_400_000});
    hq.put("/api/v1/marketing/promotions/pegasus-tier", &window(json!({"type": "tiers", "tiers": [{"threshold": 80_000, "off": 8_000}, {"threshold": 160_000, "off": 20_000}]}), "shop_tier")).await?;
    say("HQ published the campaign's tier: ¥80 off ¥800, ¥200 off ¥1,600 (Tmall's rules, floors at cost + 10 %)");
    let refused = hq
        .put(
            "/api/v1/marketing/promotions/too-deep",
            &window(
                json!({"type": "coupon", "threshold": 60_000, "off": 40_000}),
                "shop_coupon",
            ),
        )
        .await;
    let why = refused.err().map(|e| e.to_string()).unwrap_or_default();
    ensure!(
        why.contains("422") && why.contains(&format!("{STORY_SKU} could sell at")),
        "a coupon that breaks the floor must be refused: {why:?}"
    );
    let sizes = why.matches("could sell at").count();
    let ours = why
        .split("; ")
        .find(|part| part.contains(STORY_SKU))
        .map(|part| part.rsplit("refused: ").next().unwrap_or(part))
        .unwrap_or_default();
    say(format!(
        "a ¥400-off-¥600 coupon was refused for {sizes} sizes under their floors, e.g. {ours}"
    ));
    let priced = reader
        .post(
            "/api/v1/checkout/price",
            &json!({"lines": [{"sku": STORY_SKU, "qty": 1}, {"sku": "PEG39-M-WHT-43", "qty": 1}]}),
        )
        .await?;
    ensure!(
        priced["subtotal"] == 179_800 && priced["payable"] == 159_800,
        "two pairs at ¥1,798 less ¥200: {priced}"
    );
    let shares: Vec<String> = priced["lines"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| {
            format!(
                "{} pays ¥{}",
                l["sku"].as_str().unwrap_or(""),
                l["payable"].as_i64().unwrap_or(0) / 100
            )
        })
        .collect();
    say(format!("the runner's next cart, two pairs at ¥1,798, is priced ¥1,598 at checkout; the ¥200 shared: {}", shares.join(", ")));
    campaign(reader, hq, sh, channels).await
}

/// The HQ console: the admin signs in with the run's password, the dashboard's rollup holds
/// the story's orders, the page is served with its policy, and the sign-in is in the audit log.
async fn console(central_url: &str, password: &str) -> Result<()> {
    println!("\nHQ console: {central_url}/console");
    let http = reqwest::Client::new();
    let signed: Value = http
        .post(format!("{central_url}/api/v1/session"))
        .json(&json!({"user": DEMO_HQ_ADMIN, "password": password}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let admin = Api::new(
        central_url.to_owned(),
        signed["token"].as_str().map(str::to_owned),
    );
    ensure!(signed["roles"] == json!(["admin"]), "{signed}");
    let dashboard = wait_json(Duration::from_secs(20), || async {
        let d = admin.get("/api/v1/console/dashboard?days=7").await?;
        let orders: i64 = d["days"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|x| x["orders"].as_i64().unwrap_or(0))
            .sum();
        if orders > 0 && d["top_skus"].as_array().is_some_and(|t| !t.is_empty()) {
            Ok(d)
        } else {
            anyhow::bail!("the rollup has not caught up")
        }
    })
    .await?;
    let orders: i64 = dashboard["days"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| x["orders"].as_i64().unwrap_or(0))
        .sum();
    let channels: Vec<String> = dashboard["by_channel"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| format!("{} {}", c["key"].as_str().unwrap_or(""), c["orders"]))
        .collect();
    say(format!("{} signed in (admin); the dashboard's rollup holds the story's {orders} orders ({}); best SKU by margin {}", DEMO_HQ_ADMIN, channels.join(", "), dashboard["top_skus"][0]["sku"].as_str().unwrap_or("")));
    let page = http.get(format!("{central_url}/console")).send().await?;
    let policy = page
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    ensure!(
        page.status() == 200 && policy.contains("script-src 'self' 'sha256-"),
        "the console page and its policy: {policy}"
    );
    let audit = admin
        .get(&format!("/api/v1/audit?actor=user:{DEMO_HQ_ADMIN}"))
        .await?;
    ensure!(
        audit
            .as_array()
            .is_some_and(|a| a.iter().any(|e| e["action"] == "signed_in")),
        "{audit}"
    );
    say("the page is served under its content policy; the sign-in is in the audit log with where it came from");
    Ok(())
}

/// Finance: the books the story's events posted — balanced, the statements tied, profit by
/// channel, the cash-flow forecast and the threshold alerts.
async fn books(reader: &Api, hq: &Api) -> Result<()> {
    println!("\nFinance: the story in the books");
    let statements = wait_json(Duration::from_secs(20), || async {
        let s = reader.get("/api/v1/finance/statements").await?;
        if s["income_statement"]["freight"].as_i64().unwrap_or(0) > 0 {
            Ok(s)
        } else {
            anyhow::bail!("not posted yet")
        }
    })
    .await?;
    let (income, sheet, flow) = (
        &statements["income_statement"],
        &statements["balance_sheet"],
        &statements["cash_flow"],
    );
    let yuan = |v: &Value| format!("¥{:.2}", v.as_i64().unwrap_or(0) as f64 / 100.0);
    ensure!(
        sheet["balanced"] == true && flow["ties"] == true,
        "the books must balance and the cash flow tie: {statements}"
    );
    ensure!(
        income["revenue"].as_i64().unwrap_or(0) > 0
            && income["cost_of_goods_sold"].as_i64().unwrap_or(0) > 0,
        "{statements}"
    );
    say(format!(
        "income statement: revenue {} (VAT out), cost of goods sold {}, gross profit {}, freight {}, return freight {}, net income {}",
        yuan(&income["revenue"]),
        yuan(&income["cost_of_goods_sold"]),
        yuan(&income["gross_profit"]),
        yuan(&income["freight"]),
        yuan(&income["return_freight"]),
        yuan(&income["net_income"])
    ));
    say(format!(
        "balance sheet balanced: inventory {}, with channels {}, bank {}, owed suppliers and carriers {}, VAT owed {}",
        yuan(&sheet["inventory"]),
        yuan(&sheet["clearing"]),
        yuan(&sheet["cash"]),
        yuan(&sheet["payables"]),
        yuan(&sheet["output_vat"])
    ));
    say(format!(
        "cash flow from net income ties to the bank's change: {}",
        yuan(&flow["cash_change"])
    ));
    let profit = reader.get("/api/v1/finance/profit?by=channel").await?;
    ensure!(
        profit["total"]["revenue"] == income["net_revenue"],
        "profit by channel ties to the income statement: {profit}"
    );
    let channels: Vec<String> = profit["rows"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            format!(
                "{} {}",
                r["key"]
                    .as_str()
                    .filter(|k| !k.is_empty())
                    .unwrap_or("(cost differences)"),
                yuan(&r["gross_profit"])
            )
        })
        .collect();
    say(format!("gross profit by channel: {}", channels.join(", ")));
    let forecast = reader.get("/api/v1/finance/cash-forecast?weeks=13").await?;
    ensure!(
        forecast["weeks"].as_array().map(Vec::len) == Some(13),
        "{forecast}"
    );
    say(format!(
        "13-week cash forecast: lowest {} in the week of {} (sales forecast: {})",
        yuan(&forecast["lowest"]),
        forecast["lowest_week"].as_str().unwrap_or(""),
        forecast["sales_method"].as_str().unwrap_or("")
    ));
    let scan = hq.post("/api/v1/finance/alerts/scan", &json!({})).await?;
    let open: Vec<String> = scan["raised"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            format!(
                "{} {}",
                f["kind"].as_str().unwrap_or(""),
                f["key"].as_str().unwrap_or("")
            )
        })
        .collect();
    say(format!(
        "threshold alerts scanned: {} open ({})",
        scan["open"],
        open.join(", ").trim()
    ));
    Ok(())
}

/// The new-shoe campaign: a segment from the journal (everyone who bought the Pegasus 39), a
/// coupon sent to it, the runner's next order taking it, shipped, and the campaign's ROI.
async fn campaign(reader: &Api, hq: &Api, sh: &Api, channels: &ChannelSim) -> Result<()> {
    let now = tote_shared::runtime::system::now_ms();
    hq.put(
        "/api/v1/marketing/segments/pegasus-runners",
        &json!({"bought_spu": "PEG39"}),
    )
    .await?;
    let members = wait_json(Duration::from_secs(20), || async {
        let m = hq
            .get("/api/v1/marketing/segments/pegasus-runners/members")
            .await?;
        if m.as_array()
            .is_some_and(|m| m.iter().any(|c| c == "runner-li-wei"))
        {
            Ok(m)
        } else {
            anyhow::bail!("not yet")
        }
    })
    .await
    .context("the runner in the segment of Pegasus buyers")?;
    let coupon = json!({"layer": "platform", "class": "platform", "benefit": {"type": "coupon", "threshold": 0, "off": 5_000},
                        "starts_ms": now - 1_000, "ends_ms": now + 86_400_000, "coupon": {"limit_total": 1_000, "limit_per_user": 1}});
    hq.put("/api/v1/marketing/promotions/pegasus-next-50", &coupon)
        .await?;
    hq.put("/api/v1/marketing/campaigns/pegasus-39-next", &json!({"name": "Pegasus 39: the next pair", "segment": "pegasus-runners", "coupon": "pegasus-next-50"})).await?;
    let sent = hq
        .post(
            "/api/v1/marketing/campaigns/pegasus-39-next/send",
            &json!({}),
        )
        .await?;
    let code = sent
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["customer"] == "runner-li-wei")
        .and_then(|s| s["code"].as_str())
        .context("a code for the runner")?
        .to_owned();
    say(format!(
        "the campaign \"Pegasus 39: the next pair\" targets the segment of Pegasus buyers ({} from the journal) and sent each a ¥50 coupon code of their own (the runner's: {code})",
        members.as_array().map_or(0, Vec::len)
    ));
    let cart = json!({"lines": [{"sku": STORY_SKU, "qty": 1}, {"sku": "PEG39-M-WHT-43", "qty": 1}], "customer": "runner-li-wei", "coupons": [code]});
    let quote = reader.post("/api/v1/checkout/price", &cart).await?;
    ensure!(
        quote["payable"] == 154_800,
        "two pairs, the tier and the coupon: ¥1,548.00: {quote}"
    );
    let body = json!({"channel": "app", "customer": "runner-li-wei", "lines": cart["lines"], "coupons": [code], "expected_total": 154_800,
                      "ship_to": {"name": "Li Wei", "line1": "88 Century Avenue, Pudong", "city": "Shanghai", "postcode": "200120"}});
    let order = hq
        .post_keyed("/api/v1/orders", "demo-campaign-order", &body)
        .await?;
    let id = order["id"].as_u64().context("order id")?;
    ensure!(
        order["total"] == 154_800 && order["warehouse"] == "SH-01",
        "the coupon order at ¥1,548.00 from SH-01: {order}"
    );
    say(format!("the runner's order {id} took the code at checkout: ¥1,798 − ¥200 tier − ¥50 coupon = ¥1,548.00, each line keeping its share"));
    pay(reader, hq, channels, id, ChannelKind::Alipay).await?;
    let at_edge = format!("/api/v1/orders/{id}");
    let fulfilment = wait_json(Duration::from_secs(20), || sh.get(&at_edge))
        .await
        .context("the coupon order at SH-01")?;
    pick(sh, &fulfilment).await?;
    sh.post_keyed(
        &format!("/api/v1/orders/{id}/pack"),
        &format!("pack-{id}"),
        &json!({}),
    )
    .await?;
    sh.post_keyed(
        &format!("/api/v1/orders/{id}/ship"),
        &format!("ship-{id}"),
        &json!({}),
    )
    .await?;
    let day = tote_shared::calendar::utc_day(now);
    let path = format!(
        "/api/v1/marketing/campaigns/pegasus-39-next/roi?from={}&to={}",
        tote_shared::calendar::utc_day(now - 86_400_000),
        tote_shared::calendar::utc_day(now + 86_400_000)
    );
    let roi = wait_json(Duration::from_secs(20), || async {
        let r = reader.get(&path).await?;
        if r["total"]["revenue"] == 154_800 {
            Ok(r)
        } else {
            anyhow::bail!("not yet")
        }
    })
    .await
    .context("the campaign's revenue")?;
    let t = &roi["total"];
    ensure!(
        t["orders"] == 1
            && t["redemptions"] == 1
            && t["discount"] == 5_000
            && t["cost"] == 82_000
            && t["margin"] == 72_800,
        "the campaign's figures: {roi}"
    );
    say(format!(
        "the order shipped; the campaign's ROI ({day}): 1 order, 1 redemption, revenue ¥1,548.00, discount ¥50.00, cost of goods ¥820.00, margin after discounts ¥728.00 — {:.1} per yuan of discount",
        t["roi"].as_f64().unwrap_or(0.0)
    ));
    membership(hq).await
}

/// The runner's standing after the campaign: their tier from 12 months' spend (up at once),
/// their points still to come with the delivery.
async fn membership(hq: &Api) -> Result<()> {
    let standing = wait_json(Duration::from_secs(20), || async {
        let m = hq
            .get("/api/v1/marketing/customers/runner-li-wei/membership")
            .await?;
        if m["spend_12m"].as_i64().is_some_and(|s| s >= 154_800) {
            Ok(m)
        } else {
            anyhow::bail!("not yet")
        }
    })
    .await
    .context("the runner's membership")?;
    let spend = standing["spend_12m"].as_i64().unwrap_or(0);
    let tier = standing["tier"].as_str().unwrap_or("");
    ensure!(
        spend < 200_000 || tier != "member",
        "¥2,000 in 12 months makes silver at once: {standing}"
    );
    say(format!(
        "the runner is a {tier} member (¥{}.{:02} paid in 12 months; silver from ¥2,000); the pair's points come with its delivery, locked until its return window closes",
        spend / 100,
        spend % 100
    ));
    Ok(())
}

async fn marketplace(reader: &Api, hq: &Api, sh: &Api, market: &MarketplaceSim) -> Result<()> {
    println!(
        "
The Tmall shop: another runner buys at the marketplace"
    );
    let buyer = tote_sim::marketplace::Buyer {
        id: "tb-runner-zhang".into(),
        name: "张伟".into(),
        mobile: "13812345678".into(),
        province: "浙江".into(),
        city: "杭州".into(),
        address: "西湖区文三路90号".into(),
    };
    let trade = market.offer(
        &buyer,
        &[tote_sim::marketplace::Purchase {
            sku: sku_code("44"),
            qty: 1,
            paid_minor: 62_900,
        }],
    );
    say(format!("Tmall trade {}: 1 × EU 44 paid ¥629.00 at the marketplace (a shop discount), to ship by {}", trade.tid, trade.est_con_time));
    let path = format!("/api/v1/marketplaces/tmall/imports/{}", trade.tid);
    let import = wait_json(Duration::from_secs(20), || async {
        reader.get(&path).await.and_then(|i| {
            if i["state"] == "imported" {
                Ok(i)
            } else {
                anyhow::bail!("not yet")
            }
        })
    })
    .await?;
    let id = import["order_id"]
        .as_u64()
        .context("an order for the trade")?;
    let line = &trade.orders.order[0];
    let copy = json!({"external_id": trade.tid.to_string(), "buyer": buyer.id, "paid_at_ms": tote_shared::marketplace::parse_time(&trade.pay_time),
                      "lines": [{"sku": line.outer_sku_id, "qty": line.num, "paid": 62_900}],
                      "ship_to": {"name": buyer.name, "line1": buyer.address, "city": buyer.city, "phone": buyer.mobile}});
    let again = hq.post("/api/v1/marketplaces/tmall/orders", &copy).await?;
    ensure!(
        again["order_id"].as_u64() == Some(id),
        "the connector's copy should be the same order: {again}"
    );
    let order = reader.get(&format!("/api/v1/orders/{id}")).await?;
    ensure!(
        order["state"] == "awaiting_shipment" && order["total"] == 62_900,
        "paid at Tmall, at the price paid there: {order}"
    );
    say(format!("central pulled it as order {id} (channel tmall, paid at the marketplace, routed to {}); the shop's connector sent it again — the same order", order["warehouse"].as_str().unwrap_or("")));
    let at_edge = format!("/api/v1/orders/{id}");
    let fulfilment = wait_json(Duration::from_secs(20), || sh.get(&at_edge)).await?;
    pick(sh, &fulfilment).await?;
    sh.post_keyed(
        &format!("/api/v1/orders/{id}/pack"),
        &format!("pack-{id}"),
        &json!({}),
    )
    .await?;
    let shipped = sh
        .post_keyed(
            &format!("/api/v1/orders/{id}/ship"),
            &format!("ship-{id}"),
            &json!({}),
        )
        .await?;
    let waybill = shipped["tracking_number"]
        .as_str()
        .context("a waybill")?
        .to_owned();
    wait(
        Duration::from_secs(20),
        "Tmall's shipment confirmation",
        || async { Ok(reader.get(&path).await?["confirmation"]["state"] == "confirmed") },
    )
    .await?;
    let consignments = market.consignments();
    ensure!(
        consignments.len() == 1 && consignments[0].out_sid == waybill,
        "Tmall should hold one confirmation with {waybill}: {consignments:?}"
    );
    say(format!(
        "shipped from SH-01 under {waybill}; Tmall confirmed the consignment once ({} {})",
        consignments[0].company, consignments[0].out_sid
    ));
    Ok(())
}

/// A worker with a handheld: scan the location, then each item.
async fn pick(edge: &Api, fulfilment: &Value) -> Result<()> {
    for task in fulfilment["tasks"].as_array().into_iter().flatten() {
        let path = format!("/api/v1/pick-tasks/{}/scan", task["id"]);
        let at = edge
            .post_keyed(
                &path,
                &format!("scan-loc-{}", task["id"]),
                &json!({"code": task["location"]}),
            )
            .await?;
        say(format!(
            "worker scanned location {}: {}",
            task["location"].as_str().unwrap_or(""),
            at["message"].as_str().unwrap_or("")
        ));
        for k in 0..task["qty"].as_i64().unwrap_or(0) {
            let r = edge
                .post_keyed(
                    &path,
                    &format!("scan-item-{}-{k}", task["id"]),
                    &json!({"code": task["gtin"]}),
                )
                .await?;
            say(format!(
                "worker scanned {}: {}",
                task["gtin"].as_str().unwrap_or(""),
                r["message"].as_str().unwrap_or("")
            ));
        }
    }
    Ok(())
}

/// Continuous mode: seeded shoppers across cities; workers at the right edge fulfil each.
async fn shoppers(
    hq: &Api,
    edges: &[Api],
    channels: &ChannelSim,
    seed: u64,
    per_minute: u32,
) -> Result<()> {
    let mut rng = StdRng::seed_from_u64(seed);
    let cities = [
        "Shanghai", "Hangzhou", "Suzhou", "Nanjing", "Beijing", "Tianjin", "Shenyang",
    ];
    let pause = Duration::from_millis(60_000 / u64::from(per_minute.max(1)));
    for n in 0u64.. {
        tokio::time::sleep(pause).await;
        let size = SIZES[rng.gen_range(0..SIZES.len())];
        let city = cities[rng.gen_range(0..cities.len())];
        let body = json!({"channel": "web", "lines": [{"sku": sku_code(size), "qty": 1}], "ship_to": {"name": "Runner", "line1": "1 Road", "city": city}});
        let order = match hq
            .post_keyed("/api/v1/orders", &format!("demo-{seed}-{n}"), &body)
            .await
        {
            Ok(o) => o,
            Err(e) => {
                say(format!("shopper in {city} wanted EU {size}: {e}"));
                // The buyer reorders: a delivery of 20 arrives at a random warehouse.
                let (i, location) = (
                    rng.gen_range(0..edges.len()),
                    format!(
                        "A-0{}-01",
                        SIZES.iter().position(|s| *s == size).unwrap_or(0) + 1
                    ),
                );
                let receipt = json!({"location": location, "gtin": gtin(size), "qty": 20});
                edges[i].post("/api/v1/receipts", &receipt).await?;
                say(format!(
                    "buyer replenished EU {size}: 20 received at {}",
                    WAREHOUSES[i].0
                ));
                continue;
            }
        };
        let id = order["id"].as_u64().context("id")?;
        let warehouse = order["warehouse"].as_str().unwrap_or("").to_owned();
        if rng.gen_bool(0.1) {
            say(format!(
                "order {id} (EU {size} to {city}) left unpaid; it closes after the payment timeout"
            ));
            continue;
        }
        let channel = ChannelKind::ALL[rng.gen_range(0..ChannelKind::ALL.len())];
        pay(hq, hq, channels, id, channel).await?;
        let Some(i) = WAREHOUSES.iter().position(|(c, _)| *c == warehouse) else {
            continue;
        };
        let edge = &edges[i];
        let path = format!("/api/v1/orders/{id}");
        let fulfilment = wait_json(Duration::from_secs(20), || edge.get(&path)).await?;
        let tasks = fulfilment["tasks"].as_array().cloned().unwrap_or_default();
        // Tasks on pods are picked at a station when a robot brings the pod.
        let (at_stations, by_hand): (Vec<Value>, Vec<Value>) = tasks.into_iter().partition(|t| t["method"] == "station");
        if let Some(task) = at_stations.first() {
            say(format!("order {id}: EU {size} is on pod bin {}: a robot brings it to a station", task["location"].as_str().unwrap_or("")));
        }
        for task in &by_hand {
            let path = format!("/api/v1/pick-tasks/{}/scan", task["id"]);
            edge.post(&path, &json!({"code": task["location"]})).await?;
            edge.post(&path, &json!({"code": task["gtin"]})).await?;
        }
        wait(
            Duration::from_secs(300),
            "the order to be picked",
            || async { Ok(edge.get(&path).await?["state"] == "picked") },
        )
        .await?;
        edge.post(&format!("/api/v1/orders/{id}/pack"), &json!({}))
            .await?;
        // HQ's carrier when it chose one (a city off the rate card: the packer picks SF); the
        // waybill comes from the warehouse's pool.
        let ship = if fulfilment["ship_via"].is_null() {
            json!({"carrier": "SF"})
        } else {
            json!({})
        };
        let shipped = edge
            .post(&format!("/api/v1/orders/{id}/ship"), &ship)
            .await?;
        let (carrier, waybill) = (
            shipped["carrier"].as_str().unwrap_or(""),
            shipped["tracking_number"].as_str().unwrap_or(""),
        );
        say(format!("order {id}: EU {size} to {city} — routed to {warehouse}, paid by {}, picked, packed, shipped with {carrier} {waybill}", channel.as_str()));
    }
    Ok(())
}
