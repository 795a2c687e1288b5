//! Goods-to-person end to end, on the embedded broker and on Mosquitto: central sends 300
//! order lines to an edge running the demo floor (3 stations, 200 pods); 20 simulated VDA 5050
//! robots bring the pods to the stations while a simulated worker picks through the station
//! API. Mid-run one robot vanishes (last will) and another reports FATAL; the vanished one
//! comes back later. A separate MQTT subscriber records everything on the robots' topics: the
//! robots' `state` messages are replayed to check that no two robots ever stood in one cell,
//! and every message the edge published is validated against the official schemas.

use crate::helpers::*;
use anyhow::{bail, ensure, Context, Result};
use rumqttc::{AsyncClient, MqttOptions, QoS};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tote_sim::agv::{Agv, AgvConfig, Fault};

const ROBOTS: usize = 20;
const SKUS: u64 = 40;
const ORDERS: u64 = 100;
const LINES_PER_ORDER: u64 = 3;

pub(crate) fn repo_file(path: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

pub(crate) fn gtin(k: u64) -> String {
    tote_shared::Gtin::from_body13(690_000_000_000 + k).to_string()
}

pub(crate) fn sku(k: u64) -> String {
    format!("GTP-{k:03}")
}

/// Everything seen on the robots' topics, in arrival order.
#[derive(Default)]
pub(crate) struct Recording {
    pub messages: Vec<(String, Vec<u8>)>,
}

/// Records every message on the topics of the robots of `manufacturers`.
pub(crate) async fn record(host: &str, port: u16, manufacturers: &[&str], login: Option<(String, String)>) -> Result<(Arc<Mutex<Recording>>, tokio::task::JoinHandle<()>, AsyncClient)> {
    let mut options = MqttOptions::new(format!("spy-{}", manufacturers.join("-")), host, port);
    options.set_max_packet_size(1 << 20, 1 << 20);
    if let Some((username, password)) = login {
        options.set_credentials(username, password);
    }
    let (client, mut events) = AsyncClient::new(options, 1024);
    for manufacturer in manufacturers {
        client.subscribe(format!("uagv/v2/{manufacturer}/#"), QoS::AtLeastOnce).await?;
    }
    let recording: Arc<Mutex<Recording>> = Arc::default();
    let sink = recording.clone();
    let task = tokio::spawn(async move {
        while let Ok(event) = events.poll().await {
            if let rumqttc::Event::Incoming(rumqttc::Packet::Publish(p)) = event {
                sink.lock().unwrap_or_else(|e| e.into_inner()).messages.push((p.topic.clone(), p.payload.to_vec()));
            }
        }
    });
    Ok((recording, task, client))
}

/// `skus` SKUs `GTP-000`… in central's catalog and at the edge, and pods P0001 … `pods`
/// each carrying two of them (bins A1 and B1) with `units` of each, synced to central.
pub(crate) async fn stock_pods(central: &Central, edge: &Edge, skus: u64, pods: u64, units: i64) -> Result<()> {
    central.post("/api/v1/spus", json!({"id": "GTP", "name": "Goods-to-person test item", "brand": "Tote", "category": "Test"})).await?.ok()?;
    for k in 0..skus {
        let body = json!({"sku": sku(k), "spu_id": "GTP", "gtin": gtin(k), "gender": "unisex", "colour": "grey", "size": "one", "price": 1000, "cost": 500});
        central.post("/api/v1/skus", body).await?.ok()?;
    }
    edge.wait_for_skus(skus).await?;
    for p in 1..=pods {
        for (bin, k) in [("A1", p % skus), ("B1", (p * 7 + 3) % skus)] {
            edge.receive(&format!("P{p:04}-{bin}"), &gtin(k), units).await?;
        }
    }
    edge.wait_synced(Duration::from_secs(60)).await
}

async fn seed(central: &Central, edge: &Edge) -> Result<()> {
    // Every SKU is on ten pods.
    stock_pods(central, edge, SKUS, 200, 5).await?;
    paid_orders(central, ORDERS, SKUS, "gtp").await
}

/// `count` paid orders of `LINES_PER_ORDER` lines over the first `skus` SKUs, keyed `{prefix}-{n}`.
pub(crate) async fn paid_orders(central: &Central, count: u64, skus: u64, prefix: &str) -> Result<()> {
    for o in 0..count {
        let lines: Vec<Value> = (0..LINES_PER_ORDER).map(|l| json!({"sku": sku((o * 7 + l * 13) % skus), "qty": 1})).collect();
        let body = json!({"channel": "app", "lines": lines, "ship_to": {"name": "Li Wei", "line1": "88 Century Avenue", "city": "Shanghai", "postcode": "200120"}});
        let created = central.create_order(&format!("{prefix}-{o}"), &body).await?.ok()?;
        let id = created["id"].as_u64().context("order id")?;
        central.post(&format!("/api/v1/orders/{id}/pay"), json!({})).await?.ok()?;
    }
    Ok(())
}

/// A worker at every station: scans each open task's bin, then its items. Rides out the
/// edge being down for a few seconds (a restart), as a person at a station would.
pub(crate) fn workers(edge: Arc<Edge>, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<Result<u64>> {
    tokio::spawn(async move {
        let mut picked = 0;
        let mut failures = 0;
        while !stop.load(Ordering::Relaxed) {
            match work_round(&edge).await {
                Ok((lines, idle)) => {
                    failures = 0;
                    picked += lines;
                    if idle {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
                Err(error) => {
                    failures += 1;
                    if failures > 200 {
                        return Err(error.context("the station worker gave up after 10 s of errors"));
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        Ok(picked)
    })
}

/// One look at every station: (lines picked, nothing to do).
pub(crate) async fn work_round(edge: &Edge) -> Result<(u64, bool)> {
    let stations = edge.get("/api/v1/stations").await?.ok()?;
    let (mut picked, mut idle) = (0, true);
    for station in stations.as_array().context("stations")? {
        for task in station["tasks"].as_array().into_iter().flatten() {
            idle = false;
            let path = format!("/api/v1/pick-tasks/{}/scan", task["id"]);
            if task["state"] == "open" {
                edge.post(&path, json!({"code": task["location"]})).await?.ok()?;
            }
            let remaining = task["qty"].as_i64().unwrap_or(0) - task["qty_picked"].as_i64().unwrap_or(0);
            if remaining > 0 {
                edge.post(&path, json!({"code": task["gtin"], "qty": remaining})).await?.ok()?;
                picked += 1;
            }
        }
    }
    Ok((picked, idle))
}

/// Replays the robots' reported nodes in time order: no cell may hold two robots. Returns
/// the number of position changes checked and the longest time (ms) any robot stood at one
/// node while its order still had nodes ahead.
pub(crate) fn replay(recording: &Recording, out_of_service: &[String]) -> Result<(usize, i64)> {
    let mut events = Vec::new();
    for (topic, payload) in &recording.messages {
        if !topic.ends_with("/state") {
            continue;
        }
        let state: Value = serde_json::from_slice(payload)?;
        let serial = state["serialNumber"].as_str().unwrap_or("").to_owned();
        let at = chrono_ms(state["timestamp"].as_str().unwrap_or(""))?;
        let node = state["lastNodeId"].as_str().unwrap_or("").to_owned();
        let position = (state["agvPosition"]["x"].as_f64().unwrap_or(0.0).round() as i64, state["agvPosition"]["y"].as_f64().unwrap_or(0.0).round() as i64);
        let cell = if node.is_empty() { format!("c{}_{}", position.0, position.1) } else { node };
        let ahead = state["nodeStates"].as_array().map_or(0, |n| n.len());
        let header = state["headerId"].as_u64().unwrap_or(0);
        events.push((at, serial, cell, ahead, header));
    }
    events.sort_by_key(|e| e.0);
    let mut at: HashMap<String, String> = HashMap::new();
    let mut since: HashMap<String, (i64, usize)> = HashMap::new();
    let mut moves = 0;
    let mut longest = 0;
    for (t, serial, cell, ahead, _) in &events {
        if at.get(serial) != Some(cell) {
            if let Some((other, _)) = at.iter().find(|(s, c)| *c == cell && *s != serial) {
                let story: Vec<String> = events
                    .iter()
                    .filter(|e| (&e.1 == serial || &e.1 == other) && (e.0 - t).abs() < 3000)
                    .map(|e| format!("{} {} {} header {}", e.0 - t, e.1, e.2, e.4))
                    .collect();
                bail!("at {t} robot {serial} entered {cell}, where {other} stood:\n{}", story.join("\n"));
            }
            at.insert(serial.clone(), cell.clone());
            since.insert(serial.clone(), (*t, *ahead));
            moves += 1;
        } else if *ahead == 0 || out_of_service.contains(serial) {
            since.insert(serial.clone(), (*t, 0));
        } else if let Some((start, before)) = since.get(serial) {
            if *before > 0 {
                longest = longest.max(t - start);
            } else {
                since.insert(serial.clone(), (*t, *ahead));
            }
        }
    }
    Ok((moves, longest))
}

/// Every move a robot reported from one cell to the next is one the floor allows — on a floor
/// with one-way lanes, never against a lane's way. Returns the number of moves checked.
fn one_way_kept(recording: &Recording, layout: &tote_shared::gtp::Layout) -> Result<usize> {
    let mut last: HashMap<String, tote_shared::mapf::Cell> = HashMap::new();
    let mut checked = 0;
    for (topic, payload) in &recording.messages {
        if !topic.ends_with("/state") {
            continue;
        }
        let state: Value = serde_json::from_slice(payload)?;
        let serial = state["serialNumber"].as_str().unwrap_or("").to_owned();
        let Some(cell) = state["lastNodeId"].as_str().and_then(|n| layout.cell_of_node(n)) else { continue };
        let Some(before) = last.insert(serial.clone(), cell) else { continue };
        // Reports one cell apart (a report missed on the way is no move to judge).
        let ((x0, y0), (x1, y1)) = (layout.grid.xy(before), layout.grid.xy(cell));
        if x0.abs_diff(x1) + y0.abs_diff(y1) == 1 {
            ensure!(layout.grid.adjacent(before, cell), "{serial} drove from {} to {}: against a one-way lane", layout.node_id(before), layout.node_id(cell));
            checked += 1;
        }
    }
    Ok(checked)
}

/// Milliseconds of an ISO 8601 UTC timestamp as the robots write it (`…T…Z`, ms precision).
fn chrono_ms(iso: &str) -> Result<i64> {
    let (date, time) = iso.trim_end_matches('Z').split_once('T').context("timestamp")?;
    let d: Vec<i64> = date.split('-').map(|p| p.parse().unwrap_or(0)).collect();
    let (hms, ms) = time.split_once('.').unwrap_or((time, "0"));
    let t: Vec<i64> = hms.split(':').map(|p| p.parse().unwrap_or(0)).collect();
    let (y, m) = if d[1] <= 2 { (d[0] - 1, d[1] + 9) } else { (d[0], d[1] - 3) };
    let days = 365 * y + y / 4 - y / 100 + y / 400 + (153 * m + 2) / 5 + d[2];
    let ms: i64 = format!("{ms:0<3}")[..3].parse().unwrap_or(0);
    Ok(((days * 24 + t[0]) * 60 + t[1]) * 60_000 + t[2] * 1000 + ms)
}

pub(crate) async fn floor(edge: &Edge) -> Result<Value> {
    edge.get("/api/v1/floor").await?.ok()
}

#[derive(Debug, Clone, Copy)]
enum Scenario {
    RobotFaults,
    EdgeKilled,
    /// No faults, on a generated floor of one-lane, one-way aisles.
    OneLane,
    /// The edge reaches its broker through a fault proxy (latency, lost traffic, black holes,
    /// every connection reset every few seconds); the robots reach it directly.
    BrokerLinkFaults,
}

/// What the proxy does to the edge's MQTT connection in `BrokerLinkFaults`: a "request" here
/// is what the edge sends after the broker last sent something, so a lost one is a connection
/// reset mid-conversation; a black hole is a CONNECT never answered (half-open).
///
/// The simulated robots drive a cell in 20 ms, some 35 times faster than real ones (~0.7 s at
/// 1.5 m/s), and master control releases a cell per round trip: latency and bandwidth are
/// scaled with them. 5 ms each way here is a ~175 ms link on a real floor, 4 MiB/s is ~120 KiB/s
/// (the floor at full speed sends ~1 MiB/s: some 400 states a second of 2–5 KB each; at the
/// unscaled 256 KiB/s the reports fell seconds behind and robots crawled a cell per round
/// trip). Resets and black holes are not scaled: they come far more often than on a real link.
fn broker_link_faults() -> tote_sim::fault_proxy::Faults {
    tote_sim::fault_proxy::Faults {
        latency: Duration::from_millis(5),
        bytes_per_sec: Some(4 * 1024 * 1024),
        drop_percent: 0,
        black_hole_percent: 10,
        reset_every: Some(Duration::from_secs(10)),
    }
}

/// Waits until a third of the orders are picked: mid-run, where the faults go in.
async fn a_third_picked(edge: &Edge) -> Result<()> {
    eventually("a third of the orders picked", Duration::from_secs(120), || async {
        let picked = edge.get("/api/v1/orders?state=picked&limit=1000").await?.ok()?;
        Ok((picked.as_array().map_or(0, |a| a.len()) as u64 >= ORDERS / 3).then_some(()))
    })
    .await
}

/// One robot carrying a pod vanishes (last will), another reports FATAL; both pods are
/// stranded; the vanished robot comes back where it stood. Returns the FATAL robot and its pod.
async fn robot_faults(edge: &Edge, robots: &mut [Agv], agv: &impl Fn(usize, (f64, f64), Option<String>) -> Agv) -> Result<(String, String)> {
    let carriers = eventually("two robots carrying pods", Duration::from_secs(60), || async {
        let view = floor(edge).await?;
        let carrying: Vec<(String, String)> = view["view"]["robots"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["carrying"].is_string() && r["job"] == "deliver")
            .filter_map(|r| Some((r["serial"].as_str()?.to_owned(), r["carrying"].as_str()?.to_owned())))
            .collect();
        Ok((carrying.len() >= 2).then(|| carrying[..2].to_vec()))
    })
    .await?;
    let index = |robot: &str| robot.rsplit_once("agv-").and_then(|(_, k)| k.parse::<usize>().ok()).unwrap_or(0);
    let (vanished, fatal) = (index(&carriers[0].0), index(&carriers[1].0));
    robots[vanished].inject(Fault::Vanish).await;
    robots[fatal].inject(Fault::Fatal("liftMotorFault".into())).await;
    let stranded = eventually("both pods to be stranded", Duration::from_secs(30), || async {
        let view = floor(edge).await?;
        let pods: Vec<Value> = view["view"]["pods"].as_array().into_iter().flatten().filter(|p| p["place"]["at"] == "stranded").cloned().collect();
        Ok((pods.len() == 2).then_some(pods))
    })
    .await?;

    // The vanished robot comes back where it stood, and takes its pod home.
    tokio::time::sleep(Duration::from_secs(2)).await; // out of service for a while, as on a real floor
    let view = floor(edge).await?;
    let cell = view["view"]["robots"].as_array().into_iter().flatten().find(|r| r["serial"] == carriers[0].0.as_str()).map(|r| r["cell"].clone()).context("vanished robot")?;
    let at = (cell[0].as_f64().unwrap_or(0.0), cell[1].as_f64().unwrap_or(0.0));
    robots[vanished] = agv(vanished, at, Some(carriers[0].1.clone()));

    assert!(stranded.iter().any(|p| p["id"] == carriers[1].1.as_str()), "the FATAL robot's pod is stranded: {stranded:?}");
    Ok(carriers[1].clone())
}

async fn goods_to_person(broker: Option<String>, scenario: Scenario) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let central = Central::start(dir.path())?;
    central.add_warehouse("SH-01", "Shanghai").await?;
    // On a shared broker each edge controls its own robots only.
    let manufacturer = format!("gtp{}", rand::random::<u32>());
    let layout_file = match scenario {
        Scenario::OneLane => tote_sim::floor::write_one_lane(7, 3, dir.path())?,
        _ => repo_file("configs/floor.toml"),
    };
    let extra = format!(
        "manufacturers = [\"{manufacturer}\"]\n[floor]\nlayout = \"{}\"\npods = 200\nfaces = 2\nbins_per_face = 1\ntick_ms = 20\n",
        layout_file.display()
    );
    let proxy = match (scenario, &broker) {
        (Scenario::BrokerLinkFaults, Some(b)) => Some(tote_sim::fault_proxy::FaultProxy::start(b.parse()?, broker_link_faults(), 5050).await?),
        (Scenario::BrokerLinkFaults, None) => bail!("the broker-link scenario needs an external broker"),
        _ => None,
    };
    let edge_broker = match &proxy {
        Some(p) => Some(p.addr().to_string()),
        None => broker.clone(),
    };
    let config = edge_config_full(dir.path(), "SH-01", central.base_url(), edge_broker.as_deref(), &extra)?;
    let edge = Arc::new(Edge::from_daemon(Daemon::spawn(Kind::Edge, config)?, "SH-01"));
    // The robots (and the spy) reach the broker itself, never through the edge's proxy.
    let address = match (&proxy, &broker) {
        (Some(_), Some(b)) => b.clone(),
        _ => edge.get("/api/v1/fleet").await?.ok()?["broker"].as_str().context("broker")?.to_owned(),
    };
    let (host, port) = address.rsplit_once(':').context("host:port")?;
    let port: u16 = port.parse()?;
    // On the embedded broker the spy is an observer and each robot has its own login.
    let (recording, spy, spy_client) = record(host, port, &[&manufacturer], edge.observer_login("spy").await?).await?;
    let mut logins = Vec::with_capacity(ROBOTS);
    for k in 0..ROBOTS {
        logins.push(edge.robot_login(&manufacturer, &format!("agv-{k:02}")).await?);
    }

    let layout = tote_edge::gtp::read_layout(&layout_file)?;
    let starts = tote_edge::gtp::start_cells(&layout, ROBOTS);
    let agv = |k: usize, start: (f64, f64), load: Option<String>| {
        let config = AgvConfig {
            manufacturer: manufacturer.clone(),
            serial: format!("agv-{k:02}"),
            broker_host: host.to_owned(),
            broker_port: port,
            state_ms: 500,
            node_ms: 20,
            battery: 95.0,
            start,
            load,
            login: logins[k].clone(),
            tls_ca: None,
            // Robots of both 2.x versions on one floor: each is addressed in its own.
            version: tote_shared::vda5050::VERSIONS[k % 2].into(),
        };
        Agv::spawn(config, tote_shared::runtime::system::now_ms)
    };
    let mut robots: Vec<Agv> = starts.iter().enumerate().map(|(k, s)| agv(k, *s, None)).collect();
    let outcome = async {
    let began = std::time::Instant::now();
    seed(&central, &edge).await?;
    let seeded = began.elapsed();

    let stop = Arc::new(AtomicBool::new(false));
    let worker = workers(edge.clone(), stop.clone());
    // Mid-run faults. Robots: one carrying a pod vanishes, another reports FATAL, the vanished
    // one comes back. Edge: SIGKILL and restart while robots drive and pods are out.
    let (fatal_robot, fatal_pod) = match scenario {
        Scenario::RobotFaults => {
            let (robot, pod) = robot_faults(&edge, &mut robots, &agv).await?;
            (Some(robot), Some(pod))
        }
        Scenario::EdgeKilled => {
            a_third_picked(&edge).await?;
            lock(&edge.daemon).restart()?;
            (None, None)
        }
        Scenario::BrokerLinkFaults => {
            // Besides the drawn faults, one certain outage: every connection the edge opens is
            // a black hole (the broker never answers its CONNECT) until it has met three.
            a_third_picked(&edge).await?;
            let proxy = proxy.as_ref().context("the proxy")?;
            let before = tote_sim::fault_proxy::ProxyStats::get(&proxy.stats().black_holes);
            proxy.set_faults(tote_sim::fault_proxy::Faults { black_hole_percent: 100, ..broker_link_faults() });
            eventually("three black-holed connections", Duration::from_secs(60), || async {
                Ok((tote_sim::fault_proxy::ProxyStats::get(&proxy.stats().black_holes) >= before + 3).then_some(()))
            })
            .await?;
            proxy.set_faults(broker_link_faults());
            (None, None)
        }
        Scenario::OneLane => (None, None),
    };

    let done = eventually("every order picked and every pod stored", Duration::from_secs(300), || async {
        let picked = edge.get("/api/v1/orders?state=picked&limit=1000").await?.ok()?;
        let view = floor(&edge).await?;
        // Every pod is back in storage or accounted for: stranded on a named robot — the FATAL
        // one's, and any a robot carries that the broken robot walls in.
        let out: Vec<&Value> = view["view"]["pods"].as_array().into_iter().flatten().filter(|p| p["place"]["at"] != "stored").collect();
        let accounted = out.iter().all(|p| p["place"]["at"] == "stranded" && p["place"]["robot"].is_string());
        let ids: Vec<&str> = out.iter().filter_map(|p| p["id"].as_str()).collect();
        let expected = match &fatal_pod {
            Some(pod) => ids.contains(&pod.as_str()) && ids.len() <= 2,
            None => ids.is_empty(),
        };
        Ok((picked.as_array().map_or(0, |a| a.len()) as u64 == ORDERS && accounted && expected).then_some(()))
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    let picking = began.elapsed() - seeded;
    let lines = worker.await??;
    if let Err(error) = done {
        let view = floor(&edge).await?;
        let log = std::fs::read_to_string(dir.path().join("edge-SH-01.log")).unwrap_or_default();
        let tail: String = log.lines().rev().take(40).collect::<Vec<_>>().join("\n");
        let robots: Vec<String> = view["view"]["robots"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| format!("{} at {} {} → {} service={} carrying {}", r["serial"], r["cell"], r["job"], r["goal"], r["in_service"], r["carrying"]))
            .collect();
        let fleet = edge.get("/api/v1/fleet").await?.ok()?;
        let fleet: Vec<String> = fleet["robots"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| format!("{} {} order {} node {} seen {}", r["serial_number"], r["connection"], r["order_id"], r["last_node_id"], r["last_seen_ms"]))
            .collect();
        bail!(
            "{error}\nlines picked {lines}\nstats {}\nrobots:\n{}\nfleet:\n{}\nstations {}\nlog tail:\n{tail}",
            view["view"]["stats"],
            robots.join("\n"),
            fleet.join("\n"),
            view["view"]["stations"]
        );
    }

    // Master control shows how long its ticks take: every tick since start counted, the
    // figures over the last ones, in order.
    let ticks = floor(&edge).await?["ticks"].clone();
    let ms = |part: &str, k: &str| ticks[part][k].as_f64().unwrap_or(-1.0);
    assert!(ticks["ticks"].as_u64() > Some(100) && (1..=1200).contains(&ticks["window"].as_u64().unwrap_or(0)), "{ticks}");
    assert!(0.0 < ms("total", "p50_ms") && ms("total", "p50_ms") <= ms("total", "p99_ms") && ms("total", "p99_ms") <= ms("total", "max_ms"), "{ticks}");
    for part in ["read", "decide", "send", "view"] {
        assert!(0.0 <= ms(part, "p99_ms") && ms(part, "max_ms") <= ms("total", "max_ms"), "{part}: {ticks}");
    }

    // Stock went to the right orders: every line picked in full from a pod bin.
    let orders = edge.get("/api/v1/orders?state=picked&limit=1000").await?.ok()?;
    let mut out_per_sku: BTreeMap<String, i64> = BTreeMap::new();
    for order in orders.as_array().context("orders")? {
        for line in order["lines"].as_array().context("lines")? {
            assert_eq!(line["qty_picked"], line["qty"], "order {}: {line}", order["order_id"]);
            *out_per_sku.entry(line["sku"].as_str().unwrap_or("").to_owned()).or_default() += line["qty"].as_i64().unwrap_or(0);
        }
        for task in order["tasks"].as_array().context("tasks")?.iter().filter(|t| t["state"] == "done") {
            assert!(task["location"].as_str().is_some_and(|l| l.starts_with('P')), "picked from a pod: {task}");
        }
    }
    assert_eq!(out_per_sku.values().sum::<i64>(), (ORDERS * LINES_PER_ORDER) as i64);
    for (sku, qty) in &out_per_sku {
        let stock = edge.get(&format!("/api/v1/stock?sku={sku}&location=OUT")).await?.ok()?;
        assert_eq!(stock[0]["qty"].as_i64(), Some(*qty), "{sku} in outbound staging");
    }

    // Replay the robots' own reports: never two robots in one cell, nobody waits forever.
    spy.abort();
    let _ = spy_client.disconnect().await;
    let recording = recording.lock().unwrap_or_else(|e| e.into_inner());
    // The FATAL robot waits for ever by design: it is out of service.
    let fatal_serial: Vec<String> = fatal_robot.iter().map(|r| r.rsplit('/').next().unwrap_or("").to_owned()).collect();
    let (moves, longest_wait_ms) = replay(&recording, &fatal_serial)?;
    assert!(moves > 1000, "the robots moved ({moves} position changes)");
    let along_lanes = one_way_kept(&recording, &layout)?;
    assert!(along_lanes > 1000, "{along_lanes} moves checked against the one-way lanes");
    assert!(longest_wait_ms < 60_000, "a robot waited {longest_wait_ms} ms with somewhere to go");

    // Every message the edge published validates against the official 2.0.0 and 2.1.0 schemas.
    let messages = dir.path().join("published");
    std::fs::create_dir_all(&messages)?;
    let mut published = 0;
    for (n, (topic, payload)) in recording.messages.iter().enumerate() {
        let kind = topic.rsplit('/').next().unwrap_or("");
        if kind == "order" || kind == "instantActions" {
            std::fs::write(messages.join(format!("{kind}-{n}.json")), payload)?;
            published += 1;
        }
    }
    let script = repo_file("tests/vda5050_validate.py");
    let schemas = repo_file("../shared/vda5050");
    assert!(schemas.join("2.1.0/order.schema").exists(), "the official VDA 5050 schemas are expected in ../shared/vda5050");
    let out = std::process::Command::new("python3").arg(script).arg(schemas).arg(&messages).output().context("python3 is missing: run tests/run.sh")?;
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && report.contains(&format!("{} validations, 0 failures", published * 2)), "{report}{}", String::from_utf8_lossy(&out.stderr));
    if let Some(proxy) = &proxy {
        let stats = proxy.stats();
        let get = tote_sim::fault_proxy::ProxyStats::get;
        assert!(get(&stats.resets) > 0 && get(&stats.black_holes) > 0 && get(&stats.connections) > 3, "the edge's broker link met its faults: {stats}");
        println!("the edge's broker link: {stats}");
    }
    println!(
        "goods-to-person: seeded in {seeded:?}, {lines} lines picked in {picking:?}, {moves} robot moves replayed, longest wait {longest_wait_ms} ms, {published} published messages valid ({:?} in all)",
        began.elapsed()
    );

    Ok(())
    }
    .await;
    drop(robots);
    if broker.is_none() {
        return outcome; // the embedded broker went with its edge
    }
    // Leave a shared broker clean, whatever happened.
    let (cleaner, mut events) = AsyncClient::new(MqttOptions::new(format!("clean-{manufacturer}"), host, port), 256);
    let pump = tokio::spawn(async move { while events.poll().await.is_ok() {} });
    for k in 0..ROBOTS {
        for topic in ["connection", "factsheet"] {
            cleaner.publish(format!("uagv/v2/{manufacturer}/agv-{k:02}/{topic}"), QoS::AtLeastOnce, true, Vec::new()).await?;
        }
    }
    cleaner.disconnect().await?;
    let _ = tokio::time::timeout(Duration::from_secs(5), pump).await;
    outcome
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goods_to_person_on_the_embedded_broker_picks_every_line_through_faults_without_conflicts() -> Result<()> {
    goods_to_person(None, Scenario::RobotFaults).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goods_to_person_on_mosquitto_picks_every_line_through_faults_without_conflicts() -> Result<()> {
    goods_to_person(Some(crate::fleet::mosquitto()), Scenario::RobotFaults).await
}

/// The same on a generated floor whose aisles are one cell wide, each one-way: every line is
/// picked, the replay finds no two robots in one cell and no move against a lane.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goods_to_person_on_one_lane_one_way_aisles_picks_every_line_without_conflicts() -> Result<()> {
    goods_to_person(None, Scenario::OneLane).await
}

/// The edge's link to Mosquitto is slow (`broker_link_faults`: latency and bandwidth scaled to
/// the simulated floor's speed), reset every ten seconds and one connection in ten a black hole;
/// the robots' own links are clean. The edge reconnects each time, rebuilds what it missed from
/// the robots' next reports, sends again what they did not take, and picks every line with no
/// conflict and no message outside the schemas.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goods_to_person_through_a_faulty_link_to_the_broker_picks_every_line() -> Result<()> {
    goods_to_person(Some(crate::fleet::mosquitto()), Scenario::BrokerLinkFaults).await
}

/// The edge is SIGKILLed mid-run and restarted: robots keep their state, pods their places
/// in SQLite; master control picks up from what the robots report (their loads, the nodes
/// still released to them) and every line is still picked with no conflict. On Mosquitto, so
/// the robots' broker outlives the edge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goods_to_person_survives_a_sigkill_of_the_edge_mid_run() -> Result<()> {
    goods_to_person(Some(crate::fleet::mosquitto()), Scenario::EdgeKilled).await
}

#[test]
fn timestamps_convert_to_epoch_milliseconds() -> Result<()> {
    let a = chrono_ms("2026-11-25T03:04:05.678Z")?;
    let b = chrono_ms("2026-11-25T03:04:06.001Z")?;
    assert_eq!(b - a, 323);
    assert_eq!(chrono_ms("2026-03-01T00:00:00.000Z")? - chrono_ms("2026-02-28T00:00:00.000Z")?, 86_400_000);
    Ok(())
}
