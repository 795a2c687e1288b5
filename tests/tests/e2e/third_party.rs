//! Robots nobody here wrote. Siemens' `vda-5050-lib` (npm; `AgvController` with its
//! `VirtualAgvAdapter`, VDA 5050 2.0) runs as independent vehicles beside our simulated robots
//! (2.0 and 2.1) on the demo floor, on the edge's embedded broker and on Mosquitto, and the
//! edge drives them all to the end of a run of order lines from central. Every message each
//! side sent validates against the official schema of the version that robot speaks, and the
//! library validates every message it receives and sends with its own validators.
//!
//! The library reads two fields by their VDA 5050 1.1 names; `tests/vda5050-lib/shim.js`
//! patches exactly those two, nothing else. Each of the edge's six deviations that stranded
//! these vehicles before (version, pick/drop parameters, refusals ignored, a new order over a
//! live horizon, staleness, cancel with no order) has a test here or in the controller's and
//! the fleet's unit tests.

use crate::gtp::{floor, paid_orders, record, repo_file, stock_pods, workers, Recording};
use crate::helpers::*;
use anyhow::{bail, ensure, Context, Result};
use rumqttc::{AsyncClient, MqttOptions, QoS};
use serde_json::{json, Value};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tote_sim::agv::{Agv, AgvConfig};

const SKUS: u64 = 40;

/// One vehicle of the library's fleet.
struct Vehicle {
    manufacturer: String,
    serial: String,
    login: Option<(String, String)>,
    /// Metres on the map, and the node it stands on.
    at: (f64, f64),
    node: String,
}

/// The library's vehicles as a child process (`tests/vda5050-lib/fleet.js`), with the log of
/// every message they received and sent.
struct LibraryFleet {
    _process: KillOnDrop,
    log: PathBuf,
}

fn library_dir() -> Result<PathBuf> {
    let dir = repo_file("tests/vda5050-lib");
    ensure!(
        dir.join("node_modules/vda-5050-lib/package.json").exists(),
        "vda-5050-lib is not installed in {}: run tests/run.sh, which installs it (npm ci)",
        dir.display()
    );
    Ok(dir)
}

/// Starts the vehicles on `host:port` and waits until each has published its first state.
fn start_library(dir: &Path, host: &str, port: u16, vehicles: &[Vehicle], visualization_ms: u64) -> Result<LibraryFleet> {
    let code = library_dir()?;
    let log = dir.join("vda5050-lib.jsonl");
    let list: Vec<Value> = vehicles
        .iter()
        .map(|v| {
            let mut vehicle = json!({"manufacturer": v.manufacturer, "serialNumber": v.serial, "x": v.at.0, "y": v.at.1, "theta": 0.0, "mapId": "floor", "lastNodeId": v.node});
            if let Some((user, password)) = &v.login {
                vehicle["username"] = json!(user);
                vehicle["password"] = json!(password);
            }
            vehicle
        })
        .collect();
    // Simulated time four times real time: a lift takes the library 6 s of it.
    let config = json!({"broker": {"host": host, "port": port}, "vehicles": list, "speed": 2.0, "timeLapse": 4,
                        "visualizationIntervalMs": visualization_ms, "log": log});
    let path = dir.join("vda5050-lib.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&config)?)?;
    let mut child = std::process::Command::new("node")
        .arg(code.join("fleet.js"))
        .arg(&path)
        .current_dir(&code)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(dir.join("vda5050-lib.stderr"))?)
        .spawn()
        .context("node is missing: run tests/run.sh")?;
    let stdout = child.stdout.take().context("stdout")?;
    let process = KillOnDrop(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let ready = format!("READY {}", vehicles.len());
    loop {
        match rx.recv_timeout(Duration::from_secs(40)) {
            Ok(line) if line.trim() == ready => break,
            Ok(_) => continue,
            Err(_) => bail!("the library's vehicles did not get ready: {}", std::fs::read_to_string(dir.join("vda5050-lib.stderr")).unwrap_or_default()),
        }
    }
    Ok(LibraryFleet { _process: process, log })
}

impl LibraryFleet {
    fn entries(&self) -> Result<Vec<Value>> {
        let text = std::fs::read_to_string(&self.log)?;
        text.lines().map(|l| serde_json::from_str(l).context("a log line")).collect()
    }
}

/// The edge for a mixed floor: our robots' and the library's manufacturers, the library's
/// vehicles told the `loadType` they take. Staleness as the edge ships it (the library's
/// vehicles publish state only on events and every 30 s).
fn mixed_edge(dir: &Path, central: &Central, broker: Option<&str>, ours: &str, theirs: &str, library_load_type: &str) -> Result<Arc<Edge>> {
    let extra = format!(
        "manufacturers = [\"{ours}\", \"{theirs}\"]\n[floor]\nlayout = \"{}\"\npods = 200\nfaces = 2\nbins_per_face = 1\ntick_ms = 20\n\
         [[floor.vehicle_types]]\nmanufacturer = \"{theirs}\"\nload_type = \"{library_load_type}\"\n",
        repo_file("configs/floor.toml").display()
    );
    let config = edge_config_full(dir, "SH-01", central.base_url(), broker, &extra)?;
    let text = std::fs::read_to_string(&config)?.replace("stale_state_ms = 3000\n", "");
    std::fs::write(&config, text)?;
    Ok(Arc::new(Edge::from_daemon(Daemon::spawn(Kind::Edge, config)?, "SH-01")))
}

async fn broker_of(edge: &Edge) -> Result<(String, u16)> {
    let address = edge.get("/api/v1/fleet").await?.ok()?["broker"].as_str().context("broker")?.to_owned();
    let (host, port) = address.rsplit_once(':').context("host:port")?;
    Ok((host.to_owned(), port.parse()?))
}

/// `count` vehicles of the library on the start cells from `skip` on.
async fn library_vehicles(edge: &Edge, theirs: &str, skip: usize, count: usize) -> Result<Vec<Vehicle>> {
    let layout = tote_edge::gtp::read_layout(&repo_file("configs/floor.toml"))?;
    let mut vehicles = Vec::new();
    for (k, at) in tote_edge::gtp::start_cells(&layout, skip + count).into_iter().skip(skip).enumerate() {
        let serial = format!("lib-{k:02}");
        let node = layout.node_id(layout.cell_at(at.0, at.1).context("start cell")?);
        vehicles.push(Vehicle { login: edge.robot_login(theirs, &serial).await?, manufacturer: theirs.to_owned(), serial, at, node });
    }
    Ok(vehicles)
}

/// Our robots on the first start cells, 2.0 and 2.1 by turns.
async fn our_robots(edge: &Edge, ours: &str, host: &str, port: u16, count: usize) -> Result<Vec<Agv>> {
    let layout = tote_edge::gtp::read_layout(&repo_file("configs/floor.toml"))?;
    let mut robots = Vec::new();
    for (k, start) in tote_edge::gtp::start_cells(&layout, count).into_iter().enumerate() {
        let serial = format!("agv-{k:02}");
        let login = edge.robot_login(ours, &serial).await?;
        let config = AgvConfig {
            state_ms: 500,
            node_ms: 60,
            battery: 95.0,
            start,
            version: tote_shared::vda5050::VERSIONS[k % 2].into(),
            ..robot_config(ours, &serial, host, port, login)
        };
        robots.push(Agv::spawn(config, tote_shared::runtime::system::now_ms));
    }
    Ok(robots)
}

async fn picked_orders(edge: &Edge) -> Result<usize> {
    Ok(edge.get("/api/v1/orders?state=picked&limit=1000").await?.ok()?.as_array().map_or(0, |a| a.len()))
}

/// Clears the retained topics the robots of `manufacturers` left on a shared broker.
async fn clean_broker(host: &str, port: u16, robots: &[(String, String)]) -> Result<()> {
    let (cleaner, mut events) = AsyncClient::new(MqttOptions::new(format!("clean-{}", rand::random::<u32>()), host, port), 256);
    let pump = tokio::spawn(async move { while events.poll().await.is_ok() {} });
    for (manufacturer, serial) in robots {
        for topic in ["connection", "factsheet"] {
            cleaner.publish(format!("uagv/v2/{manufacturer}/{serial}/{topic}"), QoS::AtLeastOnce, true, Vec::new()).await?;
        }
    }
    cleaner.disconnect().await?;
    let _ = tokio::time::timeout(Duration::from_secs(5), pump).await;
    Ok(())
}

/// Writes each recorded message the edge or a robot sent to a file for the validator, and runs
/// it with `--own-version`: each message against the schema of the version its header names.
fn validate_recording(dir: &Path, recording: &Recording) -> Result<(usize, String)> {
    let messages = dir.join("messages");
    std::fs::create_dir_all(&messages)?;
    let mut written = 0;
    for (n, (topic, payload)) in recording.messages.iter().enumerate() {
        let kind = topic.rsplit('/').next().unwrap_or("");
        if payload.is_empty() {
            continue; // a cleared retained topic
        }
        std::fs::write(messages.join(format!("{kind}-{n}.json")), payload)?;
        written += 1;
    }
    let schemas = repo_file("../shared/vda5050");
    ensure!(schemas.join("2.0.0/order.schema").exists(), "the official VDA 5050 schemas are expected in ../shared/vda5050");
    let out = std::process::Command::new("python3")
        .arg(repo_file("tests/vda5050_validate.py"))
        .arg("--own-version")
        .arg(schemas)
        .arg(&messages)
        .output()
        .context("python3 is missing: run tests/run.sh")?;
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    ensure!(out.status.success() && report.contains(&format!("{written} validations, 0 failures")), "{report}");
    Ok((written, report.lines().last().unwrap_or("").to_owned()))
}

/// Per group of robots: orders and instant actions the edge sent them, and lifts they did.
#[derive(Debug, Default)]
struct Traffic {
    to_robots: usize,
    from_robots: usize,
    lifts: usize,
}

fn traffic(recording: &Recording, manufacturer: &str) -> Traffic {
    let mut t = Traffic::default();
    let mut lifted = std::collections::BTreeSet::new();
    for (topic, payload) in &recording.messages {
        if !topic.starts_with(&format!("uagv/v2/{manufacturer}/")) {
            continue;
        }
        match topic.rsplit('/').next() {
            Some("order" | "instantActions") => t.to_robots += 1,
            Some("state") => {
                t.from_robots += 1;
                let Ok(state) = serde_json::from_slice::<Value>(payload) else { continue };
                for a in state["actionStates"].as_array().into_iter().flatten() {
                    if a["actionType"] == "pick" && a["actionStatus"] == "FINISHED" {
                        lifted.insert(a["actionId"].as_str().unwrap_or("").to_owned());
                    }
                }
            }
            Some(_) => t.from_robots += 1,
            None => {}
        }
    }
    t.lifts = lifted.len();
    t
}

async fn mixed_fleet(broker: Option<String>) -> Result<()> {
    const OURS: usize = 4;
    const THEIRS: usize = 4;
    const ORDERS: u64 = 40;
    library_dir()?;
    let dir = tempfile::tempdir()?;
    let central = Central::start(dir.path())?;
    central.add_warehouse("SH-01", "Shanghai").await?;
    let (ours, theirs) = (unique("tote"), unique("acme"));
    let edge = mixed_edge(dir.path(), &central, broker.as_deref(), &ours, &theirs, "EPAL")?;
    let (host, port) = broker_of(&edge).await?;
    let (recording, spy, spy_client) = record(&host, port, &[&ours, &theirs], edge.observer_login("spy").await?).await?;
    let robots = our_robots(&edge, &ours, &host, port, OURS).await?;
    let vehicles = library_vehicles(&edge, &theirs, OURS, THEIRS).await?;
    let library = start_library(dir.path(), &host, port, &vehicles, 1000)?;
    let outcome = async {
        stock_pods(&central, &edge, SKUS, 200, 5).await?;
        paid_orders(&central, ORDERS, SKUS, "mixed").await?;
        let began = std::time::Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let worker = workers(edge.clone(), stop.clone());
        let done = eventually("every order picked and every pod stored", Duration::from_secs(400), || async {
            let view = floor(&edge).await?;
            let stored = view["view"]["pods"].as_array().into_iter().flatten().all(|p| p["place"]["at"] == "stored");
            Ok((picked_orders(&edge).await? == ORDERS as usize && stored).then_some(()))
        })
        .await;
        stop.store(true, Ordering::Relaxed);
        let lines = worker.await??;
        let fleet = edge.get("/api/v1/fleet").await?.ok()?;
        if let Err(error) = done {
            let robots: Vec<String> = fleet["robots"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| format!("{} in_service={} order={} node={} not_dispatched={} warnings={} last_refusal={}", r["serial_number"], r["in_service"], r["order_id"], r["last_node_id"], r["not_dispatched"], r["warnings"], r["last_rejection"]))
                .collect();
            bail!("{error}\n{lines} lines picked\nrobots:\n{}\nfloor: {}", robots.join("\n"), floor(&edge).await?["view"]["robots"]);
        }
        let picking = began.elapsed();
        ensure!(lines >= 100, "{lines} lines picked");
        // Nobody refused anything, and every robot stayed in dispatch.
        for (kind, n) in fleet["refusals"].as_object().context("refusals")? {
            ensure!(n == 0, "robots refused {n} messages with {kind}: {}", fleet["robots"]);
        }
        for r in fleet["robots"].as_array().context("robots")? {
            ensure!(r["not_dispatched"].is_null() && r["in_service"] == true, "{r}");
        }
        // The library saw valid messages only, and each of its vehicles worked.
        let entries = library.entries()?;
        let invalid: Vec<&Value> = entries.iter().filter(|e| e.get("invalid").is_some()).collect();
        ensure!(invalid.is_empty(), "the library's own validation failed: {invalid:?}");
        for v in &vehicles {
            let accepted = entries.iter().any(|e| e["dir"] == "out" && e["serial"] == v.serial.as_str() && e["topic"].as_str().is_some_and(|t| t.ends_with("/state")) && e["message"]["orderId"].as_str().is_some_and(|o| !o.is_empty()));
            ensure!(accepted, "library vehicle {} never took an order", v.serial);
        }
        // The library answers the cancel a vehicle gets on coming into service with
        // noOrderToCancel alone (no action state): the edge took that as done.
        let no_order = entries.iter().filter(|e| e["dir"] == "out" && e["message"]["errors"].as_array().is_some_and(|errs| errs.iter().any(|x| x["errorType"] == "noOrderToCancel"))).count();
        ensure!(no_order > 0, "the library reported no noOrderToCancel: the resync path was not exercised");

        spy.abort();
        let _ = spy_client.disconnect().await;
        let recording = recording.lock().unwrap_or_else(|e| e.into_inner());
        let (moves, longest_wait_ms) = crate::gtp::replay(&recording, &[])?;
        let (validated, verdict) = validate_recording(dir.path(), &recording)?;
        let (mine, lib) = (traffic(&recording, &ours), traffic(&recording, &theirs));
        ensure!(lib.lifts > 0 && mine.lifts > 0, "both kinds of robot lifted pods: ours {mine:?}, the library's {lib:?}");
        let per_lift = |t: &Traffic| (t.to_robots as f64 / t.lifts as f64, t.from_robots as f64 / t.lifts as f64);
        println!(
            "mixed fleet ({}): {lines} lines in {picking:?}; {moves} moves replayed without conflict, longest wait {longest_wait_ms} ms; \
             {validated} messages each valid against its own version ({verdict}); per lift, edge→robot / robot→edge messages: ours {:.1} / {:.1} ({} lifts), vda-5050-lib {:.1} / {:.1} ({} lifts); {no_order} noOrderToCancel reports",
            if broker.is_some() { "Mosquitto" } else { "embedded broker" },
            per_lift(&mine).0, per_lift(&mine).1, mine.lifts, per_lift(&lib).0, per_lift(&lib).1, lib.lifts
        );
        Ok(())
    }
    .await;
    drop(robots);
    drop(library);
    if broker.is_some() {
        let mut left: Vec<(String, String)> = (0..OURS).map(|k| (ours.clone(), format!("agv-{k:02}"))).collect();
        left.extend(vehicles.iter().map(|v| (v.manufacturer.clone(), v.serial.clone())));
        clean_broker(&host, port, &left).await?;
    }
    outcome
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_fleet_with_vda_5050_lib_vehicles_picks_every_line_on_the_embedded_broker() -> Result<()> {
    mixed_fleet(None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_fleet_with_vda_5050_lib_vehicles_picks_every_line_on_mosquitto() -> Result<()> {
    mixed_fleet(Some(crate::fleet::mosquitto())).await
}

async fn fleet_robot(edge: &Edge, manufacturer: &str, serial: &str) -> Result<Value> {
    let fleet = edge.get("/api/v1/fleet").await?.ok()?;
    let robot = fleet["robots"].as_array().into_iter().flatten().find(|r| r["manufacturer"] == manufacturer && r["serial_number"] == serial);
    robot.cloned().with_context(|| format!("{manufacturer}/{serial} is not in the fleet"))
}

/// A vehicle that refuses the edge's orders — here the library's, told a `loadType` it does
/// not take (it refuses with a WARNING `orderError`) — is retried a bounded number of times,
/// then leaves dispatch with the reason in `/api/v1/fleet` and the count in `/metrics`; its
/// work goes to another robot. A supervisor puts it back. Before, the same order went out
/// every 25 ticks for ever and the work stayed stuck on that vehicle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_orders_are_retried_a_bounded_number_of_times_then_the_work_moves_to_another_robot() -> Result<()> {
    library_dir()?;
    let dir = tempfile::tempdir()?;
    let central = Central::start(dir.path())?;
    central.add_warehouse("SH-01", "Shanghai").await?;
    let (ours, theirs) = (unique("tote"), unique("acme"));
    let edge = mixed_edge(dir.path(), &central, None, &ours, &theirs, "POD")?;
    let (host, port) = broker_of(&edge).await?;
    let vehicles = library_vehicles(&edge, &theirs, 1, 1).await?;
    let refuser = vehicles[0].serial.clone();
    let _library = start_library(dir.path(), &host, port, &vehicles, 1000)?;
    stock_pods(&central, &edge, 4, 8, 5).await?;
    paid_orders(&central, 1, 4, "refused").await?;
    // The library's vehicle is the only robot: the first fetch is its, and it refuses.
    let refused = eventually("the vehicle to refuse its first order", Duration::from_secs(60), || async {
        let robot = fleet_robot(&edge, &theirs, &refuser).await?;
        Ok((robot["rejections"].as_u64() >= Some(1)).then_some(robot))
    })
    .await?;
    let first_refusal = std::time::Instant::now();
    assert_eq!(refused["last_rejection"]["error_type"], "orderError", "{refused}");
    // Another robot joins while the edge retries.
    let robots = our_robots(&edge, &ours, &host, port, 1).await?;
    let out = eventually("the refusing vehicle to leave dispatch", Duration::from_secs(30), || async {
        let robot = fleet_robot(&edge, &theirs, &refuser).await?;
        Ok(robot["not_dispatched"].is_string().then_some(robot))
    })
    .await?;
    assert_eq!(out["rejections"], 3, "bounded: [mqtt] max_refusals = 3 by default: {out}");
    assert_eq!(out["in_service"], false);
    assert!(out["not_dispatched"].as_str().is_some_and(|w| w.contains("refused 3")), "{out}");
    let mine = format!("{ours}/agv-00");
    let moved = eventually("the pod on the other robot", Duration::from_secs(60), || async {
        let view = floor(&edge).await?;
        let on_mine = view["view"]["pods"].as_array().into_iter().flatten().any(|p| p["place"]["robot"] == mine.as_str());
        Ok(on_mine.then(|| first_refusal.elapsed()))
    })
    .await?;
    let stop = Arc::new(AtomicBool::new(false));
    let worker = workers(edge.clone(), stop.clone());
    eventually("the order picked", Duration::from_secs(60), || async { Ok((picked_orders(&edge).await? == 1).then_some(())) }).await?;
    stop.store(true, Ordering::Relaxed);
    worker.await??;
    // It stays out: still exactly three refusals, counted by type for monitoring.
    let metrics = edge.get_text("/metrics").await?;
    assert!(metrics.contains("tote_edge_vda_refusals_total{error_type=\"orderError\"} 3"), "{metrics}");
    assert!(metrics.contains("tote_edge_robots_not_dispatched 1"), "{metrics}");
    // The floor page says which robot is out of dispatch and why.
    floor_page_shows(&edge, &refuser).await?;
    // A supervisor puts it back (after fixing its loadType, in real life).
    let back = edge.http.post(edge.url(&format!("/api/v1/fleet/{theirs}/{refuser}/dispatch"))).bearer_auth(EDGE_API).send().await?;
    assert_eq!(back.status(), reqwest::StatusCode::NO_CONTENT);
    let unknown = edge.http.post(edge.url(&format!("/api/v1/fleet/{theirs}/nobody/dispatch"))).bearer_auth(EDGE_API).send().await?;
    assert_eq!(unknown.status(), reqwest::StatusCode::NOT_FOUND);
    eventually("the vehicle back in service", Duration::from_secs(30), || async {
        let robot = fleet_robot(&edge, &theirs, &refuser).await?;
        Ok((robot["in_service"] == true && robot["not_dispatched"].is_null()).then_some(()))
    })
    .await?;
    println!("refused order: its work on another robot {moved:?} after the first refusal (3 refusals, then out of dispatch)");
    drop(robots);
    Ok(())
}

/// VDA 5050 lets a vehicle publish `state` only on events and at least every 30 s. Such a
/// robot, presenting a pod to a worker who takes 8 s, stays in service with the edge's
/// defaults (before: stale after 5 s, out of service, the pod stranded, 0 picks).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_robot_that_reports_state_every_30_s_stays_in_service_while_a_worker_takes_their_time() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let central = Central::start(dir.path())?;
    central.add_warehouse("SH-01", "Shanghai").await?;
    let ours = unique("tote");
    let edge = mixed_edge(dir.path(), &central, None, &ours, "nobody", "EPAL")?;
    let (host, port) = broker_of(&edge).await?;
    let login = edge.robot_login(&ours, "agv-00").await?;
    let layout = tote_edge::gtp::read_layout(&repo_file("configs/floor.toml"))?;
    let start = tote_edge::gtp::start_cells(&layout, 1)[0];
    let config = AgvConfig { state_ms: 30_000, node_ms: 60, start, ..robot_config(&ours, "agv-00", &host, port, login) };
    let robot = Agv::spawn(config, tote_shared::runtime::system::now_ms);
    stock_pods(&central, &edge, 4, 8, 5).await?;
    paid_orders(&central, 1, 4, "slow").await?;
    eventually("a pod presented at a station", Duration::from_secs(60), || async {
        let view = floor(&edge).await?;
        Ok(view["view"]["pods"].as_array().into_iter().flatten().any(|p| p["place"]["at"] == "at_station").then_some(()))
    })
    .await?;
    // The worker takes their time: no pick, so the robot has nothing to report for 8 s.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let robot_now = fleet_robot(&edge, &ours, "agv-00").await?;
    assert_eq!(robot_now["in_service"], true, "{robot_now}");
    let view = floor(&edge).await?;
    assert!(!view["view"]["pods"].as_array().into_iter().flatten().any(|p| p["place"]["at"] == "stranded"), "nothing stranded: {}", view["view"]["pods"]);
    let (picked, _) = crate::gtp::work_round(&edge).await?;
    assert!(picked > 0, "the worker picks from the presented pod");
    let stop = Arc::new(AtomicBool::new(false));
    let worker = workers(edge.clone(), stop.clone());
    eventually("the order picked", Duration::from_secs(60), || async { Ok((picked_orders(&edge).await? == 1).then_some(())) }).await?;
    stop.store(true, Ordering::Relaxed);
    worker.await??;
    drop(robot);
    Ok(())
}

/// A supervisor signs in and opens the floor page: it names the robot out of dispatch and why.
async fn floor_page_shows(edge: &Edge, serial: &str) -> Result<()> {
    edge.post("/api/v1/workers", json!({"id": "boss", "name": "Zhang Min", "pin": "2468", "roles": ["supervisor"]})).await?.ok()?;
    let b = tote_sim::browser::Browser::start(repo_file("target/screenshots/floor-refusals")).await?;
    let outcome = async {
        b.goto(&edge.url("/")).await?;
        b.type_into("#worker", "boss").await?;
        b.type_into("#pin", "2468").await?;
        b.click("#signin").await?;
        b.on_screen("menu").await?;
        b.goto(&edge.url("/floor")).await?;
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            let alerts = b.text("#alerts").await.unwrap_or_default();
            if alerts.contains(&format!("{serial} not dispatched: it refused 3")) && alerts.contains("3 refused orders") {
                break;
            }
            ensure!(std::time::Instant::now() < deadline, "the floor page shows no refusals: {alerts:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        b.screenshot("floor-refusals").await?;
        Ok(())
    }
    .await;
    b.quit().await;
    outcome
}
