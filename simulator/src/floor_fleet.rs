//! A working robot fleet through the edge daemon: central and the edge as release processes,
//! the edge running a goods-to-person floor (any layout file, or a League of Robot Runners
//! map) with `robots` simulated VDA 5050 robots, each its own MQTT client on the edge's
//! embedded broker, fetching pods for paid orders from central while a worker at every
//! station picks. What it measures is the edge: master control's tick against its budget,
//! CPU and memory of the process, messages in and out, lines picked.

use crate::bench::{central_config, edge_config_with, gtin, seed, spawn, Daemon, ADMIN, EDGE_API};
use crate::client::Api;
use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct Options<'a> {
    /// A LoRR map (its floor is generated) or a layout file.
    pub floor: &'a Path,
    pub robots: usize,
    pub pods: usize,
    pub skus: usize,
    /// Open pick lines kept per robot.
    pub lines_per_robot: usize,
    pub node_ms: u64,
    pub warmup_s: u64,
    pub seconds: u64,
}

/// Receipts and orders in flight at once.
const CLIENTS: usize = 16;

pub async fn run(o: &Options<'_>) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let layout_path = if o.floor.extension().is_some_and(|e| e == "map") {
        tote_sim::floor::write_lorr(o.floor, &dir.path().join("floor"))?
    } else {
        std::fs::canonicalize(o.floor).with_context(|| format!("{}", o.floor.display()))?
    };
    let layout = tote_edge::gtp::read_layout(&layout_path)?;
    ensure!(o.pods <= layout.storage.len().min(9999), "{} pods: the floor has {} spots (and pod ids go to P9999)", o.pods, layout.storage.len());
    let central = spawn("tote-central", &central_config(dir.path(), "127.0.0.1:0")?)?;
    let hq = Api::new(central.url.clone(), Some(ADMIN.into()));
    seed(&hq, o.skus).await?;
    let extra = format!("[floor]\nlayout = \"{}\"\npods = {}\nfaces = 2\nbins_per_face = 1\n", layout_path.display(), o.pods);
    let edge = spawn("tote-edge", &edge_config_with(dir.path(), "SH-01", &central.url, &extra)?)?;
    let api = Api::new(edge.url.clone(), Some(EDGE_API.into()));
    let started = Instant::now();
    wait(Duration::from_secs(60), "the edge to pull the catalog", || async {
        Ok(api.get("/api/v1/sync/status").await?["command_cursor"].as_u64() >= Some(o.skus as u64))
    })
    .await?;
    stock(&api, o).await?;
    println!(
        "floor fleet: {} ({}×{}, {} spots, {} stations), {} pods of {} SKUs stocked in {:.0} s",
        o.floor.display(),
        layout.grid.width(),
        layout.grid.height(),
        layout.storage.len(),
        layout.stations.len(),
        o.pods,
        o.skus,
        started.elapsed().as_secs_f64()
    );
    let rss_idle = edge.rss_mb();
    let started = Instant::now();
    let robots = start_robots(&api, &edge, &layout, o).await?;
    println!("floor fleet: {} robots signed in and in service in {:.0} s", o.robots, started.elapsed().as_secs_f64());
    let stop = Arc::new(AtomicBool::new(false));
    let picked = Arc::new(AtomicU64::new(0));
    let workers = tokio::spawn(work(api.clone(), stop.clone(), picked.clone()));
    let orders = tokio::spawn(keep_orders(hq.clone(), stop.clone(), picked.clone(), o.robots * o.lines_per_robot, o.skus));
    let result = measure(&api, &edge, &picked, o, rss_idle).await;
    stop.store(true, Ordering::Relaxed);
    let (worked, ordered) = (workers.await?, orders.await?);
    drop(robots);
    result.and(worked).and(ordered)
}

/// Two bins a pod (`A1`, `B1`), each with 50 units of one SKU, received at the edge.
async fn stock(api: &Api, o: &Options<'_>) -> Result<()> {
    let mut set = tokio::task::JoinSet::new();
    for c in 0..CLIENTS {
        let (api, pods, skus) = (api.clone(), o.pods, o.skus);
        set.spawn(async move {
            for p in (1..=pods).skip(c).step_by(CLIENTS) {
                for (bin, k) in [("A1", p % skus), ("B1", (p * 7 + 3) % skus)] {
                    let body = json!({"location": format!("P{p:04}-{bin}"), "gtin": gtin(k), "qty": 50});
                    api.post_keyed("/api/v1/receipts", &format!("pod-{p}-{bin}"), &body).await?;
                }
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = set.join_next().await {
        done??;
    }
    wait(Duration::from_secs(300), "the stock to reach central", || async { Ok(api.get("/api/v1/sync/status").await?["events_pending"] == 0) }).await
}

async fn start_robots(api: &Api, edge: &Daemon, layout: &tote_shared::gtp::Layout, o: &Options<'_>) -> Result<Vec<tote_sim::agv::Agv>> {
    let broker = api.get("/api/v1/fleet").await?["broker"].as_str().context("broker")?.to_owned();
    let (host, port) = broker.rsplit_once(':').context("host:port")?;
    let starts = tote_edge::gtp::start_cells(layout, o.robots);
    ensure!(starts.len() == o.robots, "the floor has room for {} robots", starts.len());
    let mut robots = Vec::with_capacity(o.robots);
    for (k, start) in starts.into_iter().enumerate() {
        let serial = format!("agv-{k:04}");
        let login = tote_sim::agv::issue_login(&edge.url, EDGE_API, "bench", &serial).await?;
        let config = tote_sim::agv::AgvConfig {
            manufacturer: "bench".into(),
            serial,
            broker_host: host.to_owned(),
            broker_port: port.parse()?,
            state_ms: 1000,
            node_ms: o.node_ms,
            battery: 70.0 + (k % 30) as f64,
            start,
            load: None,
            login,
            tls_ca: None,
            version: tote_shared::vda5050::VERSIONS[k % 2].into(),
        };
        robots.push(tote_sim::agv::Agv::spawn(config, tote_shared::runtime::system::now_ms));
    }
    wait(Duration::from_secs(300), "every robot in service", || async {
        let fleet = api.get("/api/v1/fleet").await?;
        Ok(fleet["robots"].as_array().map_or(0, |r| r.iter().filter(|r| r["in_service"] == true).count()) == o.robots)
    })
    .await?;
    Ok(robots)
}

/// Keeps `lines` pick lines outstanding (ordered, not yet picked): paid two-line orders from
/// central, topped up every 5 s.
async fn keep_orders(hq: Api, stop: Arc<AtomicBool>, picked: Arc<AtomicU64>, lines: usize, skus: usize) -> Result<()> {
    let mut next = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let outstanding = (next * 2).saturating_sub(picked.load(Ordering::Relaxed) as usize);
        let orders = lines.saturating_sub(outstanding) / 2;
        let mut set = tokio::task::JoinSet::new();
        for c in 0..CLIENTS {
            let hq = hq.clone();
            let ids: Vec<usize> = (next..next + orders).skip(c).step_by(CLIENTS).collect();
            set.spawn(async move {
                for n in ids {
                    let lines: Vec<Value> = (0..2).map(|l| json!({"sku": crate::bench::sku((n * 7 + l * 13) % skus), "qty": 1})).collect();
                    let body = json!({"channel": "bench", "lines": lines, "ship_to": {"name": "B", "line1": "1 Bund Road", "city": "Shanghai"}});
                    let order = hq.post_keyed("/api/v1/orders", &format!("ff-{n}"), &body).await?;
                    let id = order["id"].as_u64().context("order id")?;
                    hq.post(&format!("/api/v1/orders/{id}/pay"), &json!({})).await?;
                }
                anyhow::Ok(())
            });
        }
        while let Some(done) = set.join_next().await {
            done??;
        }
        next += orders;
        for _ in 0..50 {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

/// A worker at every station (`demo::pick_round`), counting the lines picked.
async fn work(api: Api, stop: Arc<AtomicBool>, picked: Arc<AtomicU64>) -> Result<()> {
    while !stop.load(Ordering::Relaxed) {
        let idle = crate::demo::pick_round(&api, |_, _, _| {
            picked.fetch_add(1, Ordering::Relaxed);
        })
        .await?;
        if idle {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(())
}

/// Warm-up, then the window: the edge's CPU, memory, messages and tick times; every 10 s a
/// look at the floor for two robots in one cell.
async fn measure(api: &Api, edge: &Daemon, picked: &AtomicU64, o: &Options<'_>, rss_idle: f64) -> Result<()> {
    let until = Instant::now() + Duration::from_secs(o.warmup_s);
    while Instant::now() < until {
        shared_cells(api).await?;
        tokio::time::sleep(Duration::from_secs(10).min(until.saturating_duration_since(Instant::now()))).await;
    }
    let sample = || async {
        let fleet = api.get("/api/v1/fleet").await?;
        let floor = api.get("/api/v1/floor").await?;
        anyhow::Ok((fleet["messages_accepted"].as_u64().unwrap_or(0), floor["view"]["stats"]["orders_sent"].as_u64().unwrap_or(0), floor["ticks"].clone()))
    };
    let (cpu0, lines0, started) = (crate::bench::cpu_seconds(edge.pid()), picked.load(Ordering::Relaxed), Instant::now());
    let (in0, out0, ticks0) = sample().await?;
    let mut worst = ticks0.clone();
    let mut looks = 0;
    while started.elapsed() < Duration::from_secs(o.seconds) {
        tokio::time::sleep(Duration::from_secs(10).min(Duration::from_secs(o.seconds).saturating_sub(started.elapsed()))).await;
        shared_cells(api).await?;
        looks += 1;
        let (_, _, ticks) = sample().await?;
        let parts: Vec<String> = ["read", "decide", "send", "view"].iter().map(|p| format!("{p} {:.1}/{:.1}", f(&ticks[p], "p50_ms"), f(&ticks[p], "p99_ms"))).collect();
        println!(
            "  tick over the last {} ticks: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (p50/p99 {}); over the {} ms budget so far: {}",
            ticks["window"],
            f(&ticks["total"], "p50_ms"),
            f(&ticks["total"], "p99_ms"),
            f(&ticks["total"], "max_ms"),
            parts.join(", "),
            ticks["budget_ms"],
            ticks["over_budget"]
        );
        if f(&ticks["total"], "p99_ms") > f(&worst["total"], "p99_ms") {
            worst = ticks;
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let (in1, out1, ticks1) = sample().await?;
    let cpu = crate::bench::cpu_seconds(edge.pid()) - cpu0;
    let lines = picked.load(Ordering::Relaxed) - lines0;
    println!(
        "floor fleet: {} robots, {:.0} s window: edge {:.2} cores (incl. broker), RSS {rss_idle:.0} → {:.0} MB; {:.0} robot messages/s in, {:.0} orders/s out; \
         {lines} lines picked ({:.0}/h); tick p50 {:.1} ms, p99 {:.1} ms at the end, worst p99 {:.1} ms; {} of {} ticks over budget in the window; \
         {looks} looks at the floor, no two robots in a cell",
        o.robots,
        wall,
        cpu / wall,
        edge.rss_mb(),
        (in1 - in0) as f64 / wall,
        (out1 - out0) as f64 / wall,
        lines as f64 * 3600.0 / wall,
        f(&ticks1["total"], "p50_ms"),
        f(&ticks1["total"], "p99_ms"),
        f(&worst["total"], "p99_ms"),
        ticks1["over_budget"].as_u64().unwrap_or(0) - ticks0["over_budget"].as_u64().unwrap_or(0),
        ticks1["ticks"].as_u64().unwrap_or(0) - ticks0["ticks"].as_u64().unwrap_or(0),
    );
    Ok(())
}

fn f(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or(f64::NAN)
}

/// Fails if master control's view has two robots in one cell.
async fn shared_cells(api: &Api) -> Result<()> {
    let floor = api.get("/api/v1/floor").await?;
    let mut cells = std::collections::BTreeSet::new();
    for r in floor["view"]["robots"].as_array().into_iter().flatten() {
        ensure!(r["cell"].is_null() || cells.insert(r["cell"].to_string()), "two robots in cell {}", r["cell"]);
    }
    Ok(())
}

/// `bench::wait_until`, naming what it waited for.
async fn wait<F, Fut>(limit: Duration, what: &str, ready: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    crate::bench::wait_until(limit, ready).await.with_context(|| format!("after {limit:?} waiting for {what}"))
}
