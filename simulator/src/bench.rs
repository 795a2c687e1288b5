//! Benchmarks that print figures (never assert times). They spawn the release daemons as
//! separate processes, the way they run in production, and drive them over HTTP.
//!
//! `cargo build --release --bins && target/release/tote-sim bench all`

use crate::client::Api;
use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) const ADMIN: &str = "bench-admin-token-0123456789";
const READER: &str = "bench-read-token-0123456789";
/// The edges' API token (the bench plays station software).
pub(crate) const EDGE_API: &str = "bench-edge-api-token-0123456789";

pub(crate) fn edge_token(code: &str) -> String {
    format!("bench-edge-token-{code}-0123456789")
}

/// A daemon process; killed when dropped.
pub(crate) struct Daemon {
    child: Child,
    pub(crate) url: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn rss_mb(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        let kb: f64 = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN);
        kb / 1024.0
    }
}

fn binary(name: &str) -> Result<PathBuf> {
    let dir = std::env::current_exe()?.parent().context("exe dir")?.to_owned();
    let path = dir.join(name);
    ensure!(path.exists(), "{} is missing: run `cargo build --release --bins` first", path.display());
    Ok(path)
}

pub(crate) fn spawn(name: &str, config: &Path) -> Result<Daemon> {
    let ready = config.with_extension("ready");
    let _ = std::fs::remove_file(&ready);
    let child = Command::new(binary(name)?)
        .arg("--config")
        .arg(config)
        .arg("--ready-file")
        .arg(&ready)
        .env("RUST_LOG", "error,rumqttd=off")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(addr) = std::fs::read_to_string(&ready) {
            return Ok(Daemon { child, url: format!("http://{}", addr.trim()) });
        }
        ensure!(Instant::now() < deadline, "{name} did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub(crate) fn central_config(dir: &Path, listen: &str) -> Result<PathBuf> {
    let database = format!("path = \"{}\"\nwrite_queue = 65536\nmax_batch = 1024\nmax_readers = 4", dir.join("central.sqlite").display());
    central_config_with(dir, listen, &database)
}

/// `database`: the body of the `[database]` section.
pub(crate) fn central_config_with(dir: &Path, listen: &str, database: &str) -> Result<PathBuf> {
    let path = dir.join("central.toml");
    std::fs::write(
        &path,
        format!(
            "log = \"error\"\n[http]\nlisten = \"{listen}\"\nmax_body_bytes = 65536\nmax_connections = 4096\nmax_in_flight = 4096\nmax_connections_per_client = 4096\n\
             [database]\n{database}\n\
             [orders]\npayment_timeout_ms = 3600000\nsweep_interval_ms = 1000\nmax_lines = 50\n\
             [auth]\nadmin_token = \"{ADMIN}\"\nread_token = \"{READER}\"\n"
        ),
    )?;
    Ok(path)
}

fn edge_config(dir: &Path, code: &str, central: &str) -> Result<PathBuf> {
    edge_config_with(dir, code, central, "")
}

/// `extra`: TOML appended after the `[mqtt]` section (more sections).
pub(crate) fn edge_config_with(dir: &Path, code: &str, central: &str, extra: &str) -> Result<PathBuf> {
    edge_config_auth(dir, code, central, "", extra)
}

/// `auth`: more keys of the `[auth]` section, one per line.
fn edge_config_auth(dir: &Path, code: &str, central: &str, auth: &str, extra: &str) -> Result<PathBuf> {
    let path = dir.join(format!("edge-{code}.toml"));
    std::fs::write(
        &path,
        format!(
            "warehouse = \"{code}\"\nlog = \"error\"\n[http]\nlisten = \"127.0.0.1:0\"\nmax_body_bytes = 65536\nmax_connections = 1024\nmax_in_flight = 1024\nmax_connections_per_client = 1024\n\
             [database]\npath = \"{}\"\nwrite_queue = 65536\nmax_batch = 1024\nmax_readers = 4\n\
             [central]\nurl = \"{central}\"\ntoken = \"{}\"\npush_batch = 2000\npull_wait_ms = 20000\nrequest_timeout_ms = 10000\n\
             backoff_initial_ms = 50\nbackoff_max_ms = 500\n\
             [auth]\napi_token = \"{EDGE_API}\"\n{auth}\n\
             [mqtt]\nembedded_listen = \"127.0.0.1:0\"\nmax_connections = 4096\nstale_state_ms = 5000\n{extra}",
            dir.join(format!("edge-{code}.sqlite")).display(),
            edge_token(code)
        ),
    )?;
    Ok(path)
}

pub(crate) fn sku(n: usize) -> String {
    format!("BENCH-{n:05}")
}

pub(crate) fn gtin(n: usize) -> String {
    tote_shared::Gtin::from_body13(200_000_000_000 + n as u64).to_string()
}

/// Catalog with `skus` SKUs and warehouses SH-01, BJ-01.
pub(crate) async fn seed(hq: &Api, skus: usize) -> Result<()> {
    hq.post("/api/v1/spus", &json!({"id": "BENCH", "name": "Bench shoe", "brand": "Tote", "category": "Shoes"})).await?;
    for n in 0..skus {
        let body = json!({"sku": sku(n), "spu_id": "BENCH", "gtin": gtin(n), "gender": "unisex", "colour": "black",
                          "size": "42", "price": 50_000, "cost": 20_000});
        hq.post("/api/v1/skus", &body).await?;
    }
    for (code, city) in [("SH-01", "Shanghai"), ("BJ-01", "Beijing")] {
        hq.post("/api/v1/warehouses", &json!({"code": code, "name": code, "city": city, "edge_token": edge_token(code)})).await?;
    }
    Ok(())
}

/// Stock arrives at central the way an edge reports it: pushed receipt events.
pub(crate) async fn push_stock(central: &str, code: &str, skus: usize, units_each: u64) -> Result<()> {
    let edge = Api::new(central.to_owned(), Some(edge_token(code)));
    let mut events = Vec::new();
    let mut seq = 0u64;
    for n in 0..skus {
        let mut left = units_each;
        while left > 0 {
            let qty = left.min(100_000);
            left -= qty;
            seq += 1;
            events.push(json!({"seq": seq, "at_ms": 0, "kind": {"type": "stock_received", "sku": sku(n), "qty": qty, "location": "A-01"}}));
        }
    }
    for chunk in events.chunks(2000) {
        edge.post("/api/v1/sync/events", &json!({"warehouse": code, "events": chunk})).await?;
    }
    Ok(())
}

pub(crate) struct Latencies(pub(crate) Vec<Duration>);

impl Latencies {
    pub(crate) fn pct(&mut self, p: f64) -> f64 {
        self.0.sort_unstable();
        if self.0.is_empty() {
            return f64::NAN;
        }
        let i = ((self.0.len() as f64 * p).ceil() as usize).clamp(1, self.0.len()) - 1;
        self.0[i].as_secs_f64() * 1000.0
    }
}

/// What one intake run measured.
pub(crate) struct IntakeFigures {
    pub(crate) orders: usize,
    pub(crate) per_second: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) refused: u64,
    pub(crate) rss_idle_mb: f64,
    pub(crate) rss_loaded_mb: f64,
}

impl IntakeFigures {
    pub(crate) fn line(&self, clients: usize, hot: bool) -> String {
        format!(
            "clients={clients:<4} sku={:<6} orders={:<7} {:>8.0} orders/s  p50 {:>6.2} ms  p99 {:>6.2} ms  refused {}  central RSS idle {:.1} MB, loaded {:.1} MB",
            if hot { "hot" } else { "spread" },
            self.orders,
            self.per_second,
            self.p50_ms,
            self.p99_ms,
            self.refused,
            self.rss_idle_mb,
            self.rss_loaded_mb
        )
    }
}

/// Seeds `central` (1 SKU when `hot`, else 1,000, stock at two warehouses) and runs
/// `clients` order-taking clients against it for `seconds`.
pub(crate) async fn drive_intake(central: &Daemon, clients: usize, hot: bool, seconds: u64) -> Result<IntakeFigures> {
    stock_intake(central, hot).await?;
    drive_orders(central, clients, hot, seconds, false).await
}

/// The catalog and stock `drive_intake` orders from.
pub(crate) async fn stock_intake(central: &Daemon, hot: bool) -> Result<()> {
    let hq = Api::new(central.url.clone(), Some(ADMIN.into()));
    let skus = if hot { 1 } else { 1000 };
    seed(&hq, skus).await?;
    let units = if hot { 5_000_000 } else { 100_000 };
    push_stock(&central.url, "SH-01", skus, units).await?;
    push_stock(&central.url, "BJ-01", skus, units).await
}

/// `clients` clients placing one-line orders for `seconds`, each from its own customer, or
/// (`twice`) every customer twice in a row — a flash sale's per-customer limit refuses the
/// second.
pub(crate) async fn drive_orders(central: &Daemon, clients: usize, hot: bool, seconds: u64, twice: bool) -> Result<IntakeFigures> {
    let rss_idle_mb = central.rss_mb();
    let http = reqwest::Client::builder().pool_max_idle_per_host(clients).build()?;
    let url = Arc::new(format!("{}/api/v1/orders", central.url));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    // TOTE_BENCH_ANONYMOUS=1: orders without a customer (the pre-checks' cheap path), for
    // comparing what knowing the customer costs.
    let anonymous = std::env::var("TOTE_BENCH_ANONYMOUS").is_ok_and(|v| v == "1");
    for c in 0..clients {
        let (http, url) = (http.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let (mut lat, mut refused, mut n) = (Vec::new(), 0u64, 0usize);
            let cities = ["Shanghai", "Beijing", "Hangzhou", "Tianjin"];
            while Instant::now() < deadline {
                let sku_n = if hot { 0 } else { (c * 7919 + n * 31) % 1000 };
                // Each order from its own customer, as in a flash sale: intake's pre-checks
                // lock the customer and read their recent orders before any stock.
                let customer = if twice { format!("c{c}-{}", n / 2) } else { format!("c{c}-{n}") };
                let mut body = json!({"channel": "bench", "customer": customer, "lines": [{"sku": sku(sku_n), "qty": 1}],
                                      "ship_to": {"name": "B", "line1": format!("{n} Road"), "city": cities[n % 4]}});
                if anonymous {
                    body.as_object_mut().map(|o| o.remove("customer"));
                }
                let t = Instant::now();
                let r = http.post(url.as_str()).bearer_auth(ADMIN).header("Idempotency-Key", format!("b-{c}-{n}")).json(&body).send().await?;
                let status = r.status();
                let _ = r.bytes().await?;
                lat.push(t.elapsed());
                match status.as_u16() {
                    201 => {}
                    409 => refused += 1,
                    other => bail!("unexpected {other}"),
                }
                n += 1;
            }
            Ok::<_, anyhow::Error>((lat, refused))
        }));
    }
    let mut all = Vec::new();
    let mut refused = 0;
    for t in tasks {
        let (lat, r) = t.await??;
        all.extend(lat);
        refused += r;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let orders = all.len();
    let mut lat = Latencies(all);
    Ok(IntakeFigures {
        orders,
        per_second: orders as f64 / elapsed,
        p50_ms: lat.pct(0.50),
        p99_ms: lat.pct(0.99),
        refused,
        rss_idle_mb,
        rss_loaded_mb: central.rss_mb(),
    })
}

/// Central with one SKU and SH-01's edge, its master data arrived and bin A-01-01 created.
struct Site {
    central: Daemon,
    hq: Api,
    edge: Daemon,
    floor: Api,
}

async fn one_sku_site(dir: &Path) -> Result<Site> {
    let central = spawn("tote-central", &central_config(dir, "127.0.0.1:0")?)?;
    let hq = Api::new(central.url.clone(), Some(ADMIN.into()));
    seed(&hq, 1).await?;
    let edge = spawn("tote-edge", &edge_config(dir, "SH-01", &central.url)?)?;
    let floor = Api::new(edge.url.clone(), Some(EDGE_API.into()));
    wait_until(Duration::from_secs(30), || async { Ok(floor.get("/api/v1/sync/status").await?["command_cursor"].as_u64() >= Some(1)) }).await?;
    floor.post("/api/v1/locations", &json!({"code": "A-01-01"})).await?;
    Ok(Site { central, hq, edge, floor })
}

/// Edge pick confirmation: workers scan location then item for released orders.
pub async fn pick(orders: usize, workers: usize) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let Site { central: _central, hq, edge, floor } = one_sku_site(dir.path()).await?;
    let rss_idle = edge.rss_mb();
    floor.post("/api/v1/receipts", &json!({"location": "A-01-01", "sku": sku(0), "qty": orders})).await?;
    wait_until(Duration::from_secs(30), || async { Ok(floor.get("/api/v1/sync/status").await?["events_pending"] == 0) }).await?;
    let mut ids = Vec::new();
    for n in 0..orders {
        let body = json!({"channel": "bench", "lines": [{"sku": sku(0), "qty": 1}], "ship_to": {"name": "B", "line1": "1 Bund Road", "city": "Shanghai"}});
        let o = hq.post_keyed("/api/v1/orders", &format!("p-{n}"), &body).await?;
        let id = o["id"].as_u64().context("id")?;
        hq.post(&format!("/api/v1/orders/{id}/pay"), &json!({})).await?;
        ids.push(id);
    }
    let released = orders;
    wait_until(Duration::from_secs(60), || async {
        Ok(floor.get("/api/v1/pick-tasks?limit=1000&state=open").await?.as_array().map(|a| a.len()) >= Some(released.min(1000)))
    })
    .await?;
    let tasks: Vec<Value> = {
        let mut all = Vec::new();
        for id in &ids {
            all.push(floor.get(&format!("/api/v1/orders/{id}")).await?["tasks"][0].clone());
        }
        all
    };
    let tasks = Arc::new(tasks);
    let started = Instant::now();
    let mut handles = Vec::new();
    for w in 0..workers {
        let (tasks, floor) = (tasks.clone(), floor.clone());
        handles.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            for task in tasks.iter().skip(w).step_by(workers) {
                let path = format!("/api/v1/pick-tasks/{}/scan", task["id"]);
                floor.post(&path, &json!({"code": task["location"]})).await?;
                let t = Instant::now();
                floor.post(&path, &json!({"code": task["gtin"]})).await?;
                lat.push(t.elapsed());
            }
            Ok::<_, anyhow::Error>(lat)
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut lat = Latencies(all);
    println!(
        "pick    workers={workers:<3} confirms={orders:<6} {:>8.0} confirms/s  p50 {:>6.2} ms  p99 {:>6.2} ms  edge RSS idle {rss_idle:.1} MB, loaded {:.1} MB",
        orders as f64 / elapsed,
        lat.pct(0.50),
        lat.pct(0.99),
        edge.rss_mb()
    );
    Ok(())
}

/// Sync catch-up, plain HTTP and then HTTPS in the same run: the edge writes `events` receipts
/// while central is down; then central comes back and we time the drain.
pub async fn sync(events: usize) -> Result<()> {
    let plain = sync_once(events, false).await?;
    let tls = sync_once(events, true).await?;
    println!("sync    catch-up over TLS / plain = {:.2} (events/s; 1.00 would be free)", tls / plain);
    Ok(())
}

/// One catch-up; returns the drain rate (events/s).
async fn sync_once(events: usize, tls: bool) -> Result<f64> {
    let dir = tempfile::tempdir()?;
    let port = free_port()?;
    let listen = format!("127.0.0.1:{port}");
    let pki = tote_sim::pki::Pki::create(&dir.path().join("pki"))?;
    let central_cfg = central_config(dir.path(), &listen)?;
    if tls {
        let mut text = std::fs::read_to_string(&central_cfg)?;
        text += &format!("[http.tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n", pki.cert.display(), pki.key.display());
        std::fs::write(&central_cfg, text)?;
    }
    let mut central = spawn("tote-central", &central_cfg)?;
    let hq = if tls {
        central.url = central.url.replacen("http://", "https://", 1);
        Api::with_client(central.url.clone(), Some(ADMIN.into()), pki.client()?)
    } else {
        Api::new(central.url.clone(), Some(ADMIN.into()))
    };
    seed(&hq, 1).await?;
    let edge_cfg = edge_config(dir.path(), "SH-01", &central.url)?;
    if tls {
        let text = std::fs::read_to_string(&edge_cfg)?.replacen("[central]\n", &format!("[central]\nca_file = \"{}\"\n", pki.ca.display()), 1);
        std::fs::write(&edge_cfg, text)?;
    }
    let edge = spawn("tote-edge", &edge_cfg)?;
    let floor = Api::new(edge.url.clone(), Some(EDGE_API.into()));
    wait_until(Duration::from_secs(30), || async { Ok(floor.get("/api/v1/sync/status").await?["command_cursor"].as_u64() >= Some(1)) }).await?;
    floor.post("/api/v1/locations", &json!({"code": "A-01-01"})).await?;
    drop(central);
    let writers = 64;
    let started = Instant::now();
    let mut handles = Vec::new();
    for w in 0..writers {
        let floor = floor.clone();
        handles.push(tokio::spawn(async move {
            for _ in (w..events).step_by(writers) {
                floor.post("/api/v1/receipts", &json!({"location": "A-01-01", "sku": sku(0), "qty": 1})).await?;
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for h in handles {
        h.await??;
    }
    let write_secs = started.elapsed().as_secs_f64();
    let pending = floor.get("/api/v1/sync/status").await?["events_pending"].as_u64().unwrap_or(0);
    let rss_backlog = edge.rss_mb();
    let started = Instant::now();
    let central = spawn("tote-central", &central_cfg)?;
    wait_until(Duration::from_secs(600), || async { Ok(floor.get("/api/v1/sync/status").await?["events_pending"] == 0) }).await?;
    let drain = started.elapsed().as_secs_f64();
    let url = if tls { central.url.replacen("http://", "https://", 1) } else { central.url.clone() };
    let reader = if tls { Api::with_client(url, Some(READER.into()), pki.client()?) } else { Api::new(url, Some(READER.into())) };
    let on_hand = reader.get(&format!("/api/v1/inventory/{}", sku(0))).await?[0]["on_hand"].as_u64().unwrap_or(0);
    ensure!(on_hand == events as u64, "central holds {on_hand}, expected {events}");
    let rate = pending as f64 / drain;
    println!(
        "sync    {} offline edge writes {events} receipts in {write_secs:.1} s ({:.0}/s over HTTP); catch-up of {pending} events in {drain:.2} s = {rate:.0} events/s (incl. central start); edge RSS with backlog {rss_backlog:.1} MB",
        if tls { "HTTPS" } else { "HTTP " },
        events as f64 / write_secs,
    );
    Ok(rate)
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

pub(crate) async fn wait_until<F, Fut>(limit: Duration, mut ready: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    let deadline = Instant::now() + limit;
    while !ready().await.unwrap_or(false) {
        ensure!(Instant::now() < deadline, "timed out");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// The edge (with its embedded broker) while `robots` simulated robots publish `state` at
/// `hz`: CPU share and resident memory of the edge process.
pub async fn fleet(robots: usize, hz: f64, seconds: u64) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let central = spawn("tote-central", &central_config(dir.path(), "127.0.0.1:0")?)?;
    let edge = spawn("tote-edge", &edge_config(dir.path(), "SH-01", &central.url)?)?;
    let floor = Api::new(edge.url.clone(), Some(EDGE_API.into()));
    let broker = floor.get("/api/v1/fleet").await?["broker"].as_str().context("broker")?.to_owned();
    let (host, port) = broker.rsplit_once(':').context("host:port")?;
    let rss_idle = edge.rss_mb();
    let state_ms = (1000.0 / hz) as u64;
    let mut agvs: Vec<tote_sim::agv::Agv> = Vec::with_capacity(robots);
    for k in 0..robots {
        let serial = format!("agv-{k:04}");
        let login = tote_sim::agv::issue_login(&edge.url, EDGE_API, "bench", &serial).await?;
        let config = tote_sim::agv::AgvConfig {
            manufacturer: "bench".into(),
            serial,
            broker_host: host.to_owned(),
            broker_port: port.parse().unwrap_or(0),
            state_ms,
            node_ms: 1000,
            battery: 80.0,
            start: (0.0, 0.0),
            load: None,
            login,
            tls_ca: None,
            version: tote_shared::vda5050::VERSION.into(),
        };
        agvs.push(tote_sim::agv::Agv::spawn(config, tote_shared::runtime::system::now_ms));
    }
    wait_until(Duration::from_secs(60), || async {
        Ok(floor.get("/api/v1/fleet").await?["robots"].as_array().map(|r| r.len()) == Some(robots))
    })
    .await?;
    let accepted = |v: &Value| v["messages_accepted"].as_u64().unwrap_or(0);
    let cpu_before = cpu_seconds(edge.child.id());
    let msgs_before = accepted(&floor.get("/api/v1/fleet").await?);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let wall = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(edge.child.id()) - cpu_before;
    let msgs = accepted(&floor.get("/api/v1/fleet").await?) - msgs_before;
    println!(
        "fleet   robots={robots} state at {hz} Hz: edge (incl. embedded broker) {:.2} cores, {:.0} messages/s applied, RSS idle {rss_idle:.1} MB, with fleet {:.1} MB",
        cpu / wall,
        msgs as f64 / wall,
        edge.rss_mb()
    );
    drop(agvs);
    Ok(())
}

/// utime + stime of a process, in seconds (Linux /proc; clock ticks are 100 Hz here).
pub(crate) fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// One poll cycle across `plcs` station PLCs (simulated Modbus TCP servers in this process):
/// each cycle reads every PLC's inputs (one request per table, as the edge does) and, in the
/// "with a light change" variant, also writes the four display registers — all PLCs in
/// parallel over their own connections, like the edge's pollers.
pub async fn plc_poll(plcs: usize, cycles: usize) -> Result<()> {
    use tokio_modbus::client::{Reader, Writer};
    use tote_shared::station::{Colour, Display, RegisterMap, Table};
    let mut devices = Vec::new();
    let mut contexts = Vec::new();
    for _ in 0..plcs {
        let plc = tote_sim::plc::StationPlc::start("127.0.0.1:0".parse()?, None).await?;
        contexts.push(tokio_modbus::client::tcp::connect_slave(plc.addr(), tokio_modbus::Slave(1)).await?);
        devices.push(plc);
    }
    let map = Arc::new(RegisterMap::default());
    for write in [false, true] {
        let mut times = Latencies(Vec::with_capacity(cycles));
        for cycle in 0..cycles {
            let started = Instant::now();
            let mut set = tokio::task::JoinSet::new();
            for mut ctx in contexts.drain(..) {
                let map = map.clone();
                set.spawn(async move {
                    for (table, start, count) in map.input_spans() {
                        let read = match table {
                            Table::Discrete => ctx.read_discrete_inputs(start, count).await.map(|r| r.map(|_| ())),
                            Table::Coil => ctx.read_coils(start, count).await.map(|r| r.map(|_| ())),
                            Table::Holding => ctx.read_holding_registers(start, count).await.map(|r| r.map(|_| ())),
                            Table::Input => ctx.read_input_registers(start, count).await.map(|r| r.map(|_| ())),
                        };
                        read??;
                    }
                    if write {
                        let display = Display { qty: 1 + (cycle % 9) as u16, bin: 101, colour: Colour::Green, tower: Colour::Green };
                        for (point, values) in map.writes(&display) {
                            ctx.write_multiple_registers(point.address, &values).await??;
                        }
                    }
                    anyhow::Ok(ctx)
                });
            }
            while let Some(done) = set.join_next().await {
                contexts.push(done??);
            }
            times.0.push(started.elapsed());
        }
        println!(
            "plc poll  {plcs} PLCs in parallel, {}: cycle p50 {:.2} ms, p99 {:.2} ms ({cycles} cycles)",
            if write { "inputs + a light change (1 read + 1 write of 4 registers each)" } else { "inputs only (1 read each)" },
            times.pct(0.5),
            times.pct(0.99)
        );
    }
    drop(devices);
    Ok(())
}

/// Scan-to-light: a fixed scanner at ST-1 sends a code over TCP; the edge (release process)
/// parses it, answers OK/ERR and flashes ST-1's tower light green or red over Modbus TCP. The
/// time from sending the line to the simulated PLC holding the new colour, and to the
/// scanner's reply. Good and bad codes alternate so every scan changes the light.
pub async fn scan_to_light(scans: usize, poll_ms: u64) -> Result<()> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    use tote_shared::station::Colour;
    let layout = std::fs::canonicalize("configs/floor.toml").context("configs/floor.toml: run the bench from the repository root")?;
    let dir = tempfile::tempdir()?;
    let plc = tote_sim::plc::StationPlc::start("127.0.0.1:0".parse()?, None).await?;
    let scanner_port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let extra = format!(
        "[floor]\nlayout = \"{}\"\npods = 20\n[[station_plcs]]\nstation = \"ST-1\"\naddress = \"{}\"\npoll_ms = {poll_ms}\n\
         [[scanners]]\nname = \"ST-1-fixed\"\nstation = \"ST-1\"\nlisten = \"127.0.0.1:{scanner_port}\"\n",
        layout.display(),
        plc.addr()
    );
    let central = spawn("tote-central", &central_config(dir.path(), "127.0.0.1:0")?)?;
    let _edge = spawn("tote-edge", &edge_config_with(dir.path(), "SH-01", &central.url, &extra)?)?;
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", scanner_port)).await?;
    let (read, mut write) = stream.into_split();
    let mut replies = tokio::io::BufReader::new(read).lines();
    let good = tote_shared::Gtin::from_body13(690_123_456_789).to_string();
    // The same EAN-13 with a wrong check digit.
    let last = good.chars().last().and_then(|c| c.to_digit(10)).unwrap_or(0);
    let bad = format!("{}{}", &good[..good.len() - 1], (last + 1) % 10);
    let mut light = Latencies(Vec::with_capacity(scans));
    let mut reply = Latencies(Vec::with_capacity(scans));
    // Warm up: the PLC connection is up and the light shows something.
    let deadline = Instant::now() + Duration::from_secs(10);
    while plc.display().3 != Some(Colour::Amber) {
        ensure!(Instant::now() < deadline, "the edge never lit ST-1's tower light");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for i in 0..scans {
        let ok = i % 2 == 0;
        let (line, colour) = if ok { (good.clone(), Colour::Green) } else { (bad.clone(), Colour::Red) };
        let started = Instant::now();
        write.write_all(format!("{line}\r\n").as_bytes()).await?;
        let answer = replies.next_line().await?.context("scanner connection closed")?;
        reply.0.push(started.elapsed());
        ensure!(answer.starts_with(if ok { "OK" } else { "ERR" }), "unexpected scanner reply {answer:?}");
        while plc.display().3 != Some(colour) {
            ensure!(started.elapsed() < Duration::from_secs(5), "the light did not turn {colour:?}");
            plc.device.written(Duration::from_millis(2)).await;
        }
        light.0.push(started.elapsed());
    }
    println!(
        "scan->light  {scans} scans, PLC polled every {poll_ms} ms: light p50 {:.2} ms, p99 {:.2} ms; scanner reply p50 {:.2} ms, p99 {:.2} ms",
        light.pct(0.5),
        light.pct(0.99),
        reply.pct(0.5),
        reply.pct(0.99)
    );
    Ok(())
}

/// Milliseconds the page measured, as latencies.
fn page_latencies(v: &Value) -> Latencies {
    Latencies(v.as_array().map(|a| a.iter().filter_map(Value::as_f64).map(|ms| Duration::from_secs_f64(ms / 1000.0)).collect()).unwrap_or_default())
}

/// The handheld pages in headless Chromium against the release edge: a receiver puts away
/// `cycles` units one at a time (scan the item → the edge suggests a bin; scan the bin → the
/// edge moves the unit). Scan-to-feedback is measured in the page from the scanner's Enter to
/// the feedback shown; the edge's own time per request comes from its Server-Timing header.
pub async fn handheld(cycles: usize) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let Site { central: _central, edge, floor, .. } = one_sku_site(dir.path()).await?;
    floor.post("/api/v1/receipts", &json!({"location": "RCV", "sku": sku(0), "qty": cycles})).await?;
    let worker = json!({"id": "bench", "name": "Bench", "pin": "1357", "badge": "BADGE-BENCH-1", "roles": ["receiver"]});
    floor.post("/api/v1/workers", &worker).await?;
    let page = reqwest::get(format!("{}/", edge.url)).await?.bytes().await?.len();
    let b = tote_sim::browser::Browser::start(dir.path().join("shots")).await?;
    b.goto(&format!("{}/", edge.url)).await?;
    b.on_screen("signin").await?;
    b.scan("BADGE-BENCH-1").await?;
    b.on_screen("menu").await?;
    b.click("#go-putaway").await?;
    b.on_screen("putaway").await?;
    let item = gtin(0);
    let started = Instant::now();
    for _ in 0..cycles {
        b.exec("document.getElementById('msg').textContent='';return 0").await?;
        b.scan(&item).await?;
        b.expect_msg("Scan location A-01-01", Some("ok")).await?;
        b.exec("document.getElementById('msg').textContent='';return 0").await?;
        b.scan("A-01-01").await?;
        b.expect_msg("Moved 1 ×", Some("ok")).await?;
    }
    let wall = started.elapsed();
    let measured = b.exec("return window.__tote").await?;
    b.quit().await;
    let moved = floor.get(&format!("/api/v1/stock?sku={}&location=A-01-01", sku(0))).await?;
    ensure!(moved[0]["qty"].as_u64() == Some(cycles as u64), "every unit put away once: {moved}");
    let (mut scans, mut server) = (page_latencies(&measured["scans"]), page_latencies(&measured["server"]));
    println!(
        "handheld  page {:.1} KB (every screen: one page, no images); {} scans in {:.1} s: scan-to-feedback p50 {:.2} ms, p99 {:.2} ms; edge per request p50 {:.3} ms, p99 {:.3} ms",
        page as f64 / 1024.0,
        scans.0.len(),
        wall.as_secs_f64(),
        scans.pct(0.5),
        scans.pct(0.99),
        server.pct(0.5),
        server.pct(0.99)
    );
    Ok(())
}

/// Sign-in throughput under the Argon2 cap: `clients` handhelds, each its own worker, sign in
/// with the right PIN over and over for `seconds`, once per cap in `caps`
/// (`auth.max_concurrent_hashes`, queue `auth.max_waiting_hashes` = 32). A 503 is honoured as
/// its Retry-After says. No central: the edge signs in on its own.
pub async fn signin(clients: usize, seconds: u64, caps: &[usize]) -> Result<()> {
    for &cap in caps {
        let dir = tempfile::tempdir()?;
        let auth = format!("max_concurrent_hashes = {cap}\nmax_waiting_hashes = 32");
        let edge = spawn("tote-edge", &edge_config_auth(dir.path(), "SH-01", "http://127.0.0.1:9", &auth, "")?)?;
        let floor = Api::new(edge.url.clone(), Some(EDGE_API.to_owned()));
        for n in 0..clients {
            floor.post("/api/v1/workers", &json!({"id": format!("w{n}"), "name": format!("Worker {n}"), "pin": "135790", "roles": ["picker"]})).await?;
        }
        let rss_idle = edge.rss_mb();
        let http = reqwest::Client::builder().pool_max_idle_per_host(clients).build()?;
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let started = Instant::now();
        let tasks: Vec<_> = (0..clients)
            .map(|n| {
                let (http, url) = (http.clone(), format!("{}/api/v1/session", edge.url));
                tokio::spawn(async move {
                    let (mut latencies, mut busy) = (Vec::new(), 0u64);
                    while Instant::now() < deadline {
                        let sent = Instant::now();
                        let r = http.post(&url).json(&json!({"worker": format!("w{n}"), "pin": "135790"})).send().await?;
                        match r.status().as_u16() {
                            201 => latencies.push(sent.elapsed()),
                            503 => {
                                busy += 1;
                                let wait_s = r.headers().get("retry-after").and_then(|v| v.to_str().ok()?.parse().ok()).unwrap_or(1u64);
                                tokio::time::sleep(Duration::from_secs(wait_s)).await;
                            }
                            other => bail!("sign-in answered {other}"),
                        }
                    }
                    anyhow::Ok((latencies, busy))
                })
            })
            .collect();
        let (mut all, mut busy) = (Latencies(Vec::new()), 0);
        for task in tasks {
            let (latencies, b) = task.await??;
            all.0.extend(latencies);
            busy += b;
        }
        let wall = started.elapsed().as_secs_f64();
        let metrics = reqwest::get(format!("{}/metrics", edge.url)).await?.text().await?;
        let max_seen = metrics.lines().find_map(|l| l.strip_prefix("tote_edge_signin_hashing_max ")).unwrap_or("?").to_owned();
        println!(
            "signin  cap={cap} clients={clients}  {:>6.1} sign-ins/s  p50 {:>7.1} ms  p99 {:>7.1} ms  503s {busy}  hashing at once ≤ {max_seen}  edge RSS idle {:.0} MB, loaded {:.0} MB",
            all.0.len() as f64 / wall,
            all.pct(0.5),
            all.pct(0.99),
            rss_idle,
            edge.rss_mb()
        );
    }
    Ok(())
}

/// `GET /health` on a new connection from 127.0.0.1, read to the end: how long it took.
async fn health_latency(addr: std::net::SocketAddr) -> Result<Duration> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let started = Instant::now();
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream.write_all(b"GET /health HTTP/1.1\r\nHost: tote\r\nConnection: close\r\n\r\n").await?;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer)).await.context("/health did not answer in 30 s")??;
    let latency = started.elapsed();
    ensure!(answer.starts_with(b"HTTP/1.1 200"), "/health answered {}", String::from_utf8_lossy(&answer));
    Ok(latency)
}

/// `slow` connections from 127.0.0.2 and up, 50 to an address (under the default per-client
/// cap of 64): even ones start a request head and then send one more header byte a second,
/// odd ones send nothing. They stay open (as far as the daemon lets them) until the returned
/// task is aborted.
async fn slowloris(addr: std::net::SocketAddr, slow: usize) -> Result<tokio::task::JoinHandle<()>> {
    use tokio::io::AsyncWriteExt;
    let mut streams = Vec::with_capacity(slow);
    for k in 0..slow {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(std::net::SocketAddr::from(([127, 0, 0, 2 + u8::try_from(k / 50)?], 0)))?;
        let mut stream = socket.connect(addr).await?;
        if k % 2 == 0 {
            let _ = stream.write_all(b"GET /health HTTP/1.1\r\nX-Slow: ").await;
        }
        streams.push((k % 2 == 0, stream));
    }
    Ok(tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            for (sending, stream) in &mut streams {
                if *sending {
                    let _ = stream.write_all(b"a").await;
                }
            }
        }
    }))
}

/// `/health` latency of each daemon with no other clients, then with `slow` slow-header and
/// idle connections open, `samples` requests each. The daemons run with the example configs'
/// limits (edge 512 connections, central 2,048, 64 per client, 10 s to send headers).
pub async fn slow_clients(slow: usize, samples: usize) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let limits = "max_connections_per_client = 64\nheader_read_timeout_ms = 10000\nidle_timeout_ms = 60000\n";
    let central_path = central_config(dir.path(), "127.0.0.1:0")?;
    let text = std::fs::read_to_string(&central_path)?
        .replace("max_connections = 4096\nmax_in_flight = 4096\nmax_connections_per_client = 4096\n", &format!("max_connections = 2048\nmax_in_flight = 1024\n{limits}"));
    std::fs::write(&central_path, text)?;
    let central = spawn("tote-central", &central_path)?;
    let edge_path = edge_config(dir.path(), "SH-01", &central.url)?;
    let text = std::fs::read_to_string(&edge_path)?
        .replace("max_connections = 1024\nmax_in_flight = 1024\nmax_connections_per_client = 1024\n", &format!("max_connections = 512\nmax_in_flight = 256\n{limits}"));
    std::fs::write(&edge_path, text)?;
    let edge = spawn("tote-edge", &edge_path)?;
    for (name, daemon) in [("edge", &edge), ("central", &central)] {
        let addr: std::net::SocketAddr = daemon.url.trim_start_matches("http://").parse()?;
        let mut quiet = Vec::with_capacity(samples);
        for _ in 0..samples {
            quiet.push(health_latency(addr).await?);
        }
        let attack = slowloris(addr, slow).await?;
        let mut loaded = Vec::with_capacity(samples);
        for _ in 0..samples {
            loaded.push(health_latency(addr).await?);
        }
        attack.abort();
        let _ = attack.await;
        let (mut quiet, mut loaded) = (Latencies(quiet), Latencies(loaded));
        println!(
            "slow-clients {name:<7} /health  no slow connections: p50 {:>6.2} ms p99 {:>6.2} ms   {slow} slow connections: p50 {:>6.2} ms p99 {:>6.2} ms max {:>6.2} ms  (RSS {:.1} MB)",
            quiet.pct(0.50),
            quiet.pct(0.99),
            loaded.pct(0.50),
            loaded.pct(0.99),
            loaded.pct(1.0),
            daemon.rss_mb()
        );
    }
    Ok(())
}
