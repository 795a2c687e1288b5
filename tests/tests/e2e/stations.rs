//! Station PLCs over Modbus TCP, end to end: the edge runs the demo floor with a simulated PLC
//! (`tote-sim`'s Modbus server) at each of its three stations and VDA 5050 robots on the
//! embedded broker. Nobody picks through the API: a worker at each PLC presses the confirm
//! button when the pick-to-light shows a quantity (one of them holds it down for many polls).
//! Mid-run one PLC becomes unreachable, another answers only exceptions and a third too slowly;
//! each station goes offline, its pods go elsewhere, and it comes back by itself.

use crate::gtp::{repo_file, sku};
use crate::helpers::*;
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tote_shared::station::bin_code;
use tote_sim::agv::{Agv, AgvConfig};
use tote_sim::modbus::Fault;
use tote_sim::modbus_agv::{ModbusAgv, ModbusAgvConfig};
use tote_sim::plc::{StationPlc, Worker};

const ROBOTS: usize = 10;
const SKUS: u64 = 20;
const ORDERS: u64 = 40;
const STATIONS: [&str; 3] = ["ST-1", "ST-2", "ST-3"];

/// `orders` paid orders of two lines (quantities 1 to 3) over stock on pods P0001–P0060.
pub(crate) async fn seed(central: &Central, edge: &Edge, orders: u64) -> Result<()> {
    crate::gtp::stock_pods(central, edge, SKUS, 60, 9).await?;
    for o in 0..orders {
        // Quantities 1 to 3: the light must show the right one.
        let lines: Vec<Value> = (0..2).map(|l| json!({"sku": sku((o * 7 + l * 11) % SKUS), "qty": 1 + (o + l) % 3})).collect();
        let body = json!({"channel": "app", "lines": lines, "ship_to": {"name": "Li Wei", "line1": "88 Century Avenue", "city": "Shanghai", "postcode": "200120"}});
        let id = central.create_order(&format!("ptl-{o}"), &body).await?.ok()?["id"].as_u64().context("order id")?;
        central.post(&format!("/api/v1/orders/{id}/pay"), json!({})).await?.ok()?;
    }
    Ok(())
}

async fn station(edge: &Edge, name: &str) -> Result<Value> {
    edge.get(&format!("/api/v1/stations/{name}")).await?.ok()
}

async fn picked(edge: &Edge) -> Result<usize> {
    Ok(edge.get("/api/v1/orders?state=picked&limit=1000").await?.ok()?.as_array().map_or(0, |a| a.len()))
}

/// Takes a station's PLC away with `fault`; checks the station goes offline, loses its pod,
/// gets none while away, and comes back online after the fault clears.
async fn outage(edge: &Edge, plc: &StationPlc, name: &str, fault: Fault) -> Result<()> {
    plc.set_fault(Some(fault));
    eventually(&format!("{name} offline under {fault:?}"), Duration::from_secs(10), || async {
        let s = station(edge, name).await?;
        Ok((s["online"] == false).then_some(()))
    })
    .await?;
    eventually(&format!("{name}'s pod to move on"), Duration::from_secs(20), || async {
        let s = station(edge, name).await?;
        Ok((s["presenting"].is_null() && s["coming"].as_array().is_some_and(|c| c.is_empty())).then_some(()))
    })
    .await?;
    let before = picked(edge).await?;
    // Away for a while: nothing comes to it, the other stations keep picking.
    let until = std::time::Instant::now() + Duration::from_secs(3);
    while std::time::Instant::now() < until {
        let s = station(edge, name).await?;
        assert!(s["presenting"].is_null() && s["online"] == false, "offline {name} got a pod: {s}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    plc.set_fault(None);
    eventually(&format!("{name} back online"), Duration::from_secs(15), || async {
        let s = station(edge, name).await?;
        Ok((s["online"] == true).then_some(s))
    })
    .await?;
    println!("{name} was offline ({fault:?}); orders picked meanwhile: {before} → {}", picked(edge).await?);
    Ok(())
}

/// Central, an edge running the demo floor with a PLC at each station address given, and
/// `robots` VDA 5050 robots on its embedded broker.
pub(crate) struct Site {
    pub central: Central,
    pub edge: Arc<Edge>,
    _robots: Vec<Agv>,
    modbus_robots: Vec<ModbusAgv>,
    _dir: tempfile::TempDir,
}

/// ... and `modbus` robots driven over Modbus TCP, placed after the VDA 5050 ones.
pub(crate) async fn site(plcs: &[(&str, String)], robots: usize, modbus: usize) -> Result<Site> {
    let dir = tempfile::tempdir()?;
    let central = Central::start(dir.path())?;
    central.add_warehouse("SH-01", "Shanghai").await?;
    let manufacturer = format!("ptl{}", rand::random::<u32>());
    let mut extra = format!(
        "manufacturers = [\"{manufacturer}\"]\n[floor]\nlayout = \"{}\"\npods = 60\nfaces = 2\nbins_per_face = 1\ntick_ms = 20\n",
        repo_file("configs/floor.toml").display()
    );
    for (name, address) in plcs {
        extra += &format!("[[station_plcs]]\nstation = \"{name}\"\naddress = \"{address}\"\npoll_ms = 50\ntimeout_ms = 300\nsettle_ms = 100\n");
    }
    let layout = tote_edge::gtp::read_layout(&repo_file("configs/floor.toml"))?;
    let starts = tote_edge::gtp::start_cells(&layout, robots + modbus);
    let mut modbus_robots = Vec::new();
    for (k, (x, y)) in starts[robots..].iter().enumerate() {
        let (cx, cy) = layout.grid.xy(layout.cell_at(*x, *y).context("start cell")?);
        let config = ModbusAgvConfig { listen: "127.0.0.1:0".parse()?, start: (cx as u16, cy as u16), battery: 95, node_ms: 20, action_ms: 40, load: 0 };
        let agv = ModbusAgv::start(config).await?;
        extra += &format!("[[modbus_robots]]\nmanufacturer = \"modbus\"\nserial = \"mb-{k:02}\"\naddress = \"{}\"\npoll_ms = 20\ntimeout_ms = 300\n", agv.addr());
        modbus_robots.push(agv);
    }
    let config = edge_config_full(dir.path(), "SH-01", central.base_url(), None, &extra)?;
    let edge = Arc::new(Edge::from_daemon(Daemon::spawn(Kind::Edge, config)?, "SH-01"));
    let address = edge.get("/api/v1/fleet").await?.ok()?["broker"].as_str().context("broker")?.to_owned();
    let (host, port) = address.rsplit_once(':').context("host:port")?;
    let mut vda_robots = Vec::with_capacity(robots);
    for (k, start) in starts[..robots].iter().copied().enumerate() {
        let serial = format!("agv-{k:02}");
        let login = edge.robot_login(&manufacturer, &serial).await?;
        let config = AgvConfig { state_ms: 500, node_ms: 20, battery: 95.0, start, ..robot_config(&manufacturer, &serial, host, port.parse()?, login) };
        vda_robots.push(Agv::spawn(config, tote_shared::runtime::system::now_ms));
    }
    let robots = vda_robots;
    Ok(Site { central, edge, _robots: robots, modbus_robots, _dir: dir })
}

/// Every picked order's lines in full; returns the done tasks as (quantity, bin code).
async fn picked_in_full(edge: &Edge) -> Result<Vec<(u16, u16)>> {
    let orders = edge.get("/api/v1/orders?state=picked&limit=1000").await?.ok()?;
    let mut out_per_sku: BTreeMap<String, i64> = BTreeMap::new();
    let mut tasks_done = Vec::new();
    for order in orders.as_array().context("orders")? {
        for line in order["lines"].as_array().context("lines")? {
            assert_eq!(line["qty_picked"], line["qty"], "order {}: {line}", order["order_id"]);
            *out_per_sku.entry(line["sku"].as_str().unwrap_or("").to_owned()).or_default() += line["qty"].as_i64().unwrap_or(0);
        }
        for task in order["tasks"].as_array().context("tasks")?.iter().filter(|t| t["state"] == "done") {
            assert_eq!(task["qty_picked"], task["qty"], "{task}");
            tasks_done.push((task["qty"].as_u64().unwrap_or(0) as u16, bin_code(task["location"].as_str().unwrap_or(""))));
        }
    }
    for (sku, qty) in &out_per_sku {
        let stock = edge.get(&format!("/api/v1/stock?sku={sku}&location=OUT")).await?.ok()?;
        assert_eq!(stock[0]["qty"].as_i64(), Some(*qty), "{sku} in outbound staging");
    }
    Ok(tasks_done)
}

/// Each done task matched to a press made while the light showed its quantity and bin.
fn every_task_pressed(tasks: &[(u16, u16)], mut presses: Vec<(u16, u16)>) -> Result<()> {
    for task in tasks {
        let k = presses.iter().position(|p| p == task).with_context(|| format!("no press while the light showed {task:?}"))?;
        presses.swap_remove(k);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn station_buttons_confirm_picks_once_and_a_lost_plc_takes_its_station_offline_until_it_returns() -> Result<()> {
    // ST-1's worker keeps the button down for 8 polls: still one confirmation per press.
    let workers = [Worker { hold_ms: 800, ..Worker::default() }, Worker::default(), Worker::default()];
    let mut plcs = Vec::new();
    for w in workers {
        plcs.push(StationPlc::start("127.0.0.1:0".parse()?, Some(w)).await?);
    }
    let addresses: Vec<(&str, String)> = STATIONS.iter().zip(&plcs).map(|(n, p)| (*n, p.addr().to_string())).collect();
    let Site { central, edge, .. } = &site(&addresses, ROBOTS, 0).await?;
    for name in STATIONS {
        eventually(&format!("{name} online"), Duration::from_secs(10), || async { Ok((station(edge, name).await?["online"] == true).then_some(())) }).await?;
    }
    seed(central, edge, ORDERS).await?;
    eventually("a few orders picked by button", Duration::from_secs(60), || async { Ok((picked(edge).await? >= 5).then_some(())) }).await?;
    outage(edge, &plcs[1], "ST-2", Fault::Unreachable).await?;
    outage(edge, &plcs[2], "ST-3", Fault::Exception(4)).await?;
    // Answers slower than the edge's 300 ms timeout count as no answer.
    outage(edge, &plcs[0], "ST-1", Fault::Slow(Duration::from_millis(450))).await?;

    let done = eventually("every order picked and every pod stored", Duration::from_secs(180), || async {
        let view = edge.get("/api/v1/floor").await?.ok()?;
        let out = view["view"]["pods"].as_array().into_iter().flatten().filter(|p| p["place"]["at"] != "stored").count();
        Ok((picked(edge).await? == ORDERS as usize && out == 0).then_some(()))
    })
    .await;
    if let Err(error) = done {
        let mut stations = Vec::new();
        for name in STATIONS {
            stations.push(station(edge, name).await?);
        }
        bail!("{error}\nstations: {}", serde_json::to_string_pretty(&stations)?);
    }

    // Every line picked in full, by button, from the bin and quantity the light showed.
    let tasks_done = picked_in_full(edge).await?;
    let mut confirmed = 0;
    let mut presses: Vec<(u16, u16)> = Vec::new();
    for (name, plc) in STATIONS.iter().zip(&plcs) {
        let s = station(edge, name).await?;
        let status = &s["plc"];
        assert_eq!(s["online"], true, "{name} ends online");
        confirmed += status["confirmed"].as_u64().context("confirmed")?;
        let seen = plc.presses();
        assert!(status["presses"].as_u64() <= Some(seen.len() as u64), "{name}: the edge saw more presses than were made: {status}");
        presses.extend(seen.iter().map(|p| (p.qty, p.bin)));
        println!("{name}: {} presses made, PLC status {status}", seen.len());
    }
    assert_eq!(confirmed as usize, tasks_done.len(), "one confirmation per task, every task by button");
    every_task_pressed(&tasks_done, presses)?;
    assert!(plcs[0].presses().len() >= 3, "ST-1's held button was used");
    Ok(())
}

/// `mbpoll` (Debian's Modbus master) with PDU addressing, one poll; returns (success, output).
fn mbpoll(port: u16, args: &[&str]) -> Result<(bool, String)> {
    let out = std::process::Command::new("mbpoll")
        .args(["-m", "tcp", "-p", &port.to_string(), "-0", "-1", "-o", "1"])
        .args(args)
        .output()
        .context("mbpoll is missing: run tests/run.sh (it installs the Debian package)")?;
    Ok((out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))))
}

/// The values mbpoll printed as `[address]: value`.
fn mbpoll_values(output: &str) -> Vec<(u16, i64)> {
    output
        .lines()
        .filter_map(|l| {
            let (address, value) = l.trim().strip_prefix('[')?.split_once("]:")?;
            Some((address.parse().ok()?, value.trim().parse().ok()?))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mbpoll_reads_and_writes_the_simulated_station_plc() -> Result<()> {
    let plc = StationPlc::start("127.0.0.1:0".parse()?, None).await?;
    let port = plc.addr().port();
    // What the edge would write for "pick 3 from bin B3, green".
    plc.device.with(|m| m.holding[..4].copy_from_slice(&[3, 1, 203, 1]));
    let (ok, out) = mbpoll(port, &["-t", "4", "-r", "0", "-c", "4", "127.0.0.1"])?;
    assert!(ok, "{out}");
    assert_eq!(mbpoll_values(&out), vec![(0, 3), (1, 1), (2, 203), (3, 1)], "{out}");
    let (ok, out) = mbpoll(port, &["-t", "1", "-r", "0", "-c", "3", "127.0.0.1"])?;
    assert!(ok, "{out}");
    assert_eq!(mbpoll_values(&out), vec![(0, 1), (1, 0), (2, 1)], "pod present, button up, curtain clear: {out}");
    // A master writes the light: the PLC holds what it wrote.
    let (ok, out) = mbpoll(port, &["-t", "4", "-r", "0", "127.0.0.1", "7", "3", "112", "3"])?;
    assert!(ok, "{out}");
    assert_eq!(plc.display(), (7, Some(tote_shared::station::Colour::Red), 112, Some(tote_shared::station::Colour::Red)));
    // Past the end of the memory: a Modbus exception, nothing written.
    let (ok, out) = mbpoll(port, &["-t", "4", "-r", "255", "-c", "2", "127.0.0.1"])?;
    assert!(!ok && out.to_lowercase().contains("illegal data address"), "{out}");
    // Faults on demand are what a master sees too.
    plc.set_fault(Some(Fault::Exception(4)));
    let (ok, out) = mbpoll(port, &["-t", "4", "-r", "0", "127.0.0.1"])?;
    assert!(!ok && out.to_lowercase().contains("slave device or server failure"), "{out}");
    plc.set_fault(Some(Fault::Unreachable));
    let (ok, out) = mbpoll(port, &["-t", "4", "-r", "0", "127.0.0.1"])?;
    assert!(!ok, "{out}");
    plc.set_fault(None);
    let (ok, out) = mbpoll(port, &["-t", "4", "-r", "0", "-c", "1", "127.0.0.1"])?;
    assert!(ok && mbpoll_values(&out) == vec![(0, 7)], "back: {out}");
    Ok(())
}

/// A station PLC played by pymodbus (an independent Modbus implementation) serves the edge:
/// its worker's button confirms every pick. The other two stations' PLCs do not answer, so
/// they stay offline and every pod comes to the pymodbus station.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pymodbus_plc_serves_the_edge_and_its_button_confirms_picks() -> Result<()> {
    let check = std::process::Command::new("python3").args(["-c", "import pymodbus"]).output();
    anyhow::ensure!(check.is_ok_and(|o| o.status.success()), "python3 with pymodbus is missing: run tests/run.sh");
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let nobody = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port(); // closed again: refuses
    let child = std::process::Command::new("python3")
        .arg(repo_file("tests/pymodbus_plc.py"))
        .arg(port.to_string())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let mut plc = KillOnDrop(child);
    let stdout = plc.0.stdout.take().context("stdout")?;
    let presses = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut presses = Vec::new();
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let mut words = line.split_whitespace();
            if words.next() == Some("PRESS") {
                let mut n = || words.next().and_then(|w| w.parse::<u16>().ok()).unwrap_or(0);
                presses.push((n(), n()));
            }
        }
        presses
    });
    let plcs = [("ST-1", format!("127.0.0.1:{port}")), ("ST-2", format!("127.0.0.1:{nobody}")), ("ST-3", format!("127.0.0.1:{nobody}"))];
    let Site { central, edge, .. } = &site(&plcs, 4, 0).await?;
    eventually("ST-1 (pymodbus) online", Duration::from_secs(20), || async { Ok((station(edge, "ST-1").await?["online"] == true).then_some(())) }).await?;
    const SMALL: u64 = 6;
    seed(central, edge, SMALL).await?;
    eventually("every order picked by the pymodbus station's button", Duration::from_secs(120), || async {
        for name in ["ST-2", "ST-3"] {
            let s = station(edge, name).await?;
            assert!(s["online"] == false && s["presenting"].is_null(), "{name} has no PLC answering: {s}");
        }
        Ok((picked(edge).await? == SMALL as usize).then_some(()))
    })
    .await?;
    let tasks = picked_in_full(edge).await?;
    let status = station(edge, "ST-1").await?["plc"].clone();
    assert_eq!(status["confirmed"].as_u64(), Some(tasks.len() as u64), "{status}");
    plc.0.kill()?;
    let presses = presses.join().map_err(|_| anyhow::anyhow!("press reader panicked"))?;
    every_task_pressed(&tasks, presses)?;
    Ok(())
}

/// One fleet, two protocols: five VDA 5050 robots on MQTT and five robots driven over Modbus
/// TCP registers take the same jobs from master control; a worker picks through the station
/// API. Every order is picked, both kinds carried pods, no Modbus robot was ever sent to a
/// cell that is not a neighbour, and no two robots were ever seen in one cell.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_of_vda5050_and_modbus_robots_completes_the_same_jobs() -> Result<()> {
    let site = site(&[], 5, 5).await?;
    let Site { central, edge, .. } = &site;
    seed(central, edge, ORDERS).await?;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let worker = crate::gtp::workers(edge.clone(), stop.clone());
    // Watch the floor: who carries pods, and whether two robots ever share a cell.
    let watcher = {
        let (edge, stop) = (edge.clone(), stop.clone());
        tokio::spawn(async move {
            let mut carriers = std::collections::BTreeSet::new();
            let mut samples = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let view = edge.get("/api/v1/floor").await?.ok()?;
                let robots = view["view"]["robots"].as_array().cloned().unwrap_or_default();
                let mut cells = std::collections::BTreeSet::new();
                for r in &robots {
                    if r["carrying"].is_string() {
                        carriers.insert(r["serial"].as_str().unwrap_or("").to_owned());
                    }
                    if !r["cell"].is_null() && !cells.insert(r["cell"].to_string()) {
                        bail!("two robots in cell {}: {robots:?}", r["cell"]);
                    }
                }
                samples += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Ok((carriers, samples))
        })
    };
    let done = eventually("every order picked and every pod stored", Duration::from_secs(180), || async {
        let view = edge.get("/api/v1/floor").await?.ok()?;
        let out = view["view"]["pods"].as_array().into_iter().flatten().filter(|p| p["place"]["at"] != "stored").count();
        Ok((picked(edge).await? == ORDERS as usize && out == 0).then_some(()))
    })
    .await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let lines = worker.await??;
    let (carriers, samples) = watcher.await??;
    if let Err(error) = done {
        let fleet = edge.get("/api/v1/fleet").await?.ok()?;
        bail!("{error}\nmodbus robots: {}\nfloor robots: {}", fleet["modbus_robots"], fleet["floor"]["robots"]);
    }
    picked_in_full(edge).await?;
    let modbus_carriers = carriers.iter().filter(|s| s.starts_with("modbus/")).count();
    assert!(modbus_carriers >= 2 && carriers.len() > modbus_carriers + 1, "both kinds carried pods: {carriers:?}");
    let mut lifts = 0;
    for agv in &site.modbus_robots {
        let c = &agv.counters;
        use std::sync::atomic::Ordering::Relaxed;
        assert_eq!((c.refused.load(Relaxed), agv.error()), (0, 0), "a Modbus robot got a command it could not do");
        assert_eq!(c.lifts.load(Relaxed), c.drops.load(Relaxed), "every pod a Modbus robot lifted, it put back");
        lifts += c.lifts.load(Relaxed);
    }
    let fleet = edge.get("/api/v1/fleet").await?.ok()?;
    let views = fleet["modbus_robots"].as_array().context("modbus robots in the fleet view")?;
    assert!(views.len() == 5 && views.iter().all(|v| v["online"] == true && v["commands"].as_u64() > Some(10)), "{views:?}");
    println!("mixed fleet: {lines} lines picked, {lifts} lifts by Modbus robots, carriers {carriers:?}, {samples} floor samples without a shared cell");
    Ok(())
}
