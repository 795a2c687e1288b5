//! Central on both backends. Order intake on SQLite and on PostgreSQL, each as a ratio to
//! raw pgbench doing the bare conditional decrement + insert
//! (`simulator/pgbench/order_intake.sql`) in the same run on the same server — a ratio
//! survives a noisy machine, an absolute figure does not. And the business-event journal:
//! events appended, numbered and consumed per second.
//!
//! Needs `pgbench`, `psql` and a PostgreSQL server (`TOTE_TEST_POSTGRES`, default
//! `postgresql://postgres@127.0.0.1:5432/postgres`, whose role may create databases); creates
//! and drops its own databases (`tote_central::db::testing::TestDatabase`).

use tote_central::db::testing::{server_url, TestDatabase};
use crate::bench::{central_config_with, drive_intake, drive_orders, push_stock, seed, spawn, stock_intake, ADMIN};
use crate::client::Api;
use std::sync::Arc;
use std::time::{Duration, Instant};
use anyhow::{bail, ensure, Context, Result};
use std::path::Path;
use std::process::Command;

fn psql(url: &str, sql: &str) -> Result<()> {
    let out = Command::new("psql").arg(url).args(["-q", "-v", "ON_ERROR_STOP=1", "-c", sql]).output().context("running psql")?;
    ensure!(out.status.success(), "psql {sql}: {}", String::from_utf8_lossy(&out.stderr));
    Ok(())
}

/// The server's connection limit, less a margin for everything else using it.
fn connection_budget() -> Result<usize> {
    let out = Command::new("psql").arg(server_url()).args(["-Atc", "SHOW max_connections"]).output().context("running psql")?;
    let max: usize = String::from_utf8_lossy(&out.stdout).trim().parse().context("max_connections")?;
    Ok(max.saturating_sub(20).max(1))
}

/// Raw pgbench: transactions per second with `clients` connections for `seconds`.
fn pgbench(clients: usize, hot: bool, seconds: u64) -> Result<f64> {
    let db = TestDatabase::create();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("pgbench");
    let setup = std::fs::read_to_string(dir.join("setup.sql"))?;
    psql(&db.url, &setup)?;
    let out = Command::new("pgbench")
        .arg(&db.url)
        .args(["-n", "-M", "prepared", "-j", "2", "-c", &clients.to_string(), "-T", &seconds.to_string()])
        .args(["-D", &format!("nskus={}", if hot { 1 } else { 1000 })])
        .arg("-f")
        .arg(dir.join("order_intake.sql"))
        .output()
        .context("running pgbench (Debian: postgresql-client)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    ensure!(out.status.success(), "pgbench failed: {}", String::from_utf8_lossy(&out.stderr));
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("tps = ") {
            return rest.split_whitespace().next().context("tps figure")?.parse().context("tps number");
        }
    }
    bail!("no tps line in pgbench output:\n{text}")
}

/// A release central on a fresh PostgreSQL database or SQLite file; both go with the guard.
fn start_central(postgres: bool, pool_size: usize) -> Result<(crate::bench::Daemon, Option<TestDatabase>, tempfile::TempDir)> {
    let dir = tempfile::tempdir()?;
    let db = postgres.then(TestDatabase::create);
    let database = match &db {
        Some(db) => format!("backend = \"postgres\"\nurl = \"{}\"\npool_size = {pool_size}", db.url),
        None => format!("path = \"{}\"\nwrite_queue = 65536\nmax_batch = 1024\nmax_readers = 4", dir.path().join("central.sqlite").display()),
    };
    let daemon = spawn("tote-central", &central_config_with(dir.path(), "127.0.0.1:0", &database)?)?;
    Ok((daemon, db, dir))
}

/// Order intake (create + lock over HTTP, durably committed) on central with PostgreSQL (a
/// fresh database) or SQLite, driven for `seconds`.
pub async fn intake(postgres: bool, clients: usize, hot: bool, seconds: u64, pool_size: usize) -> Result<f64> {
    let (daemon, _db, _dir) = start_central(postgres, pool_size)?;
    let figures = drive_intake(&daemon, clients, hot, seconds).await?;
    println!("intake  {:<8} {}", if postgres { "postgres" } else { "sqlite" }, figures.line(clients, hot));
    drop(daemon);
    Ok(figures.per_second)
}

/// Every combination of 64/256 clients and spread/hot SKUs: pgbench, then central on
/// PostgreSQL and on SQLite, with the ratios.
pub async fn compare(seconds: u64, pool_size: usize) -> Result<()> {
    let budget = connection_budget()?;
    for (clients, hot) in [(64, false), (256, false), (64, true), (256, true)] {
        // pgbench needs one server connection per client; past the server's limit it
        // runs with as many as the server allows (and says so).
        let connections = clients.min(budget);
        let raw = pgbench(connections, hot, seconds)?;
        println!(
            "pgbench          clients={clients:<4} sku={:<6} {raw:>8.0} tps (conditional decrement + insert; {connections} connections)",
            if hot { "hot" } else { "spread" }
        );
        let pg = intake(true, clients, hot, seconds, pool_size).await?;
        let lite = intake(false, clients, hot, seconds, pool_size).await?;
        println!(
            "ratio            clients={clients:<4} sku={:<6} postgres/pgbench {:.2}×  sqlite/pgbench {:.2}×",
            if hot { "hot" } else { "spread" },
            pg / raw,
            lite / raw
        );
    }
    Ok(())
}

/// A flash sale on one SKU (100,000 units held at SH-01, one per customer, every customer
/// trying twice) on PostgreSQL and on SQLite, beside raw pgbench's conditional decrement of
/// one hot row in the same run: orders decided per second (sold or refused by the limit).
pub async fn flash(clients: usize, seconds: u64, pool_size: usize) -> Result<()> {
    let connections = clients.min(connection_budget()?);
    let raw = pgbench(connections, true, seconds)?;
    println!("pgbench          clients={clients:<4} one hot row  {raw:>8.0} tps (conditional decrement + insert; {connections} connections)");
    for postgres in [true, false] {
        let (daemon, _db, _dir) = start_central(postgres, pool_size)?;
        stock_intake(&daemon, true).await?;
        let hq = Api::new(daemon.url.clone(), Some(ADMIN.into()));
        let now = tote_shared::runtime::system::now_ms();
        let sale = serde_json::json!({"sku": crate::bench::sku(0), "warehouse": "SH-01", "price": 29_900, "quota": 100_000, "per_user": 1,
                                      "starts_ms": now - 1_000, "ends_ms": now + 3_600_000});
        hq.put("/api/v1/marketing/flash-sales/bench-flash", &sale).await.context("publishing the flash sale")?;
        let figures = drive_orders(&daemon, clients, true, seconds, true).await?;
        let backend = if postgres { "postgres" } else { "sqlite" };
        println!("flash   {backend:<8} {}", figures.line(clients, true));
        println!("ratio   {backend:<8} decided/s ÷ pgbench tps on one hot row: {:.2}×", figures.per_second / raw);
        drop(daemon);
    }
    Ok(())
}

/// One figure from central's Prometheus text.
async fn metric(http: &reqwest::Client, url: &str, name: &str) -> Result<f64> {
    let text = http.get(format!("{url}/metrics")).send().await?.text().await?;
    let line = text.lines().find(|l| l.starts_with(name)).with_context(|| format!("no {name} in /metrics"))?;
    line.rsplit(' ').next().context("value")?.parse().context("number")
}

/// The journal on each backend: `events` stock receipts pushed as an edge would (each
/// appends one journal event in the transaction that applies it); then how fast they were
/// appended, numbered (PostgreSQL's sequencer; SQLite numbers in the writer) and consumed by
/// the `sales` consumer.
pub async fn journal(events: usize, pool_size: usize) -> Result<()> {
    for postgres in [false, true] {
        let (daemon, _db, _dir) = start_central(postgres, pool_size)?;
        let hq = Api::new(daemon.url.clone(), Some(ADMIN.into()));
        seed(&hq, 1000).await?;
        let http = reqwest::Client::new();
        let base = metric(&http, &daemon.url, "tote_central_journal_last_seq").await?;
        let started = Instant::now();
        // 1,000 SKUs × units in 100,000-unit events: `events` events in all.
        push_stock(&daemon.url, "SH-01", 1000, (events as u64 / 1000) * 100_000).await?;
        let appended = started.elapsed().as_secs_f64();
        let target = base + (events / 1000 * 1000) as f64;
        let deadline = Instant::now() + Duration::from_secs(300);
        let mut numbered = None;
        loop {
            let last = metric(&http, &daemon.url, "tote_central_journal_last_seq").await?;
            let lag = metric(&http, &daemon.url, "tote_central_journal_consumer_lag{consumer=\"sales\"}").await?;
            if last >= target && numbered.is_none() {
                numbered = Some(started.elapsed().as_secs_f64());
            }
            if last >= target && lag == 0.0 {
                break;
            }
            ensure!(Instant::now() < deadline, "the journal did not catch up");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let consumed = started.elapsed().as_secs_f64();
        let n = target - base;
        println!(
            "journal {:<8} events={n:<7} appended {:>8.0}/s  numbered {:>8.0}/s  consumed {:>8.0}/s (each from the first push; the consumer runs alongside)",
            if postgres { "postgres" } else { "sqlite" },
            n / appended,
            n / numbered.unwrap_or(consumed),
            n / consumed
        );
    }
    Ok(())
}

/// Finance's `ledger` consumer posting a backlog: `orders` orders' worth of journal events (a
/// receipt of two SKUs, a channel payment, the order paid, a two-line shipment, a refund for
/// one in ten), appended and numbered first, then posted from zero the way a rebuild of the
/// books runs. In the same run, the `sales` consumer over the same backlog is the reference.
/// In-process, on a fresh database per backend.
pub async fn ledger(orders: usize, postgres_too: bool) -> Result<()> {
    use tote_central::journal::consumer::{self, Consumer};
    // The posting rules alone, in memory, under each costing method: the ceiling the store
    // works under.
    let journal: Vec<tote_central::journal::JournalEntry> = ledger_backlog(orders)
        .into_iter()
        .enumerate()
        .map(|(k, event)| tote_central::journal::JournalEntry { seq: k as u64 + 1, at_ms: 1_796_000_000_000, subject: String::new(), event })
        .collect();
    for method in [tote_central::finance::costing::Method::Fifo, tote_central::finance::costing::Method::Average] {
        let started = Instant::now();
        let entries = tote_central::finance::replay(method, &journal);
        let seconds = started.elapsed().as_secs_f64();
        let lines: usize = entries.iter().map(|e| e.lines.len()).sum();
        println!(
            "rules    {:<8} events={} entries={} lines={lines}  {:>9.0} events/s  {:>9.0} lines/s",
            method.as_str(),
            journal.len(),
            entries.len(),
            journal.len() as f64 / seconds,
            lines as f64 / seconds
        );
    }
    drop(journal);
    let backends: &[bool] = if postgres_too { &[false, true] } else { &[false] };
    for &postgres in backends {
        let dir = tempfile::tempdir()?;
        let pg = postgres.then(tote_central::db::testing::TestDatabase::create);
        let settings: tote_central::config::DatabaseSettings = match &pg {
            Some(db) => toml::from_str(&format!("backend = \"postgres\"\nurl = \"{}\"\npool_size = 8", db.url))?,
            None => toml::from_str(&format!("path = \"{}\"", dir.path().join("central.sqlite").display()))?,
        };
        let db = tote_central::db::Database::open(&settings).await?;
        let events = ledger_backlog(orders);
        let count = events.len();
        for chunk in events.chunks(2_000) {
            let chunk = chunk.to_vec();
            db.write(move |tx| tote_central::journal::store::append_many(tx, &chunk, 1_796_000_000_000)).await?;
        }
        while consumer::sequence_once(&db, 10_000).await? > 0 {}
        let mut rates = Vec::new();
        for c in [Arc::new(tote_central::finance::LedgerConsumer) as Arc<dyn Consumer>, Arc::new(tote_central::analytics::SalesConsumer)] {
            let started = Instant::now();
            let mut applied = 0;
            loop {
                let n = consumer::run_once(&db, c.clone(), 1_796_000_000_000).await?;
                if n == 0 {
                    break;
                }
                applied += n as usize;
            }
            ensure!(applied == count, "{} applied {applied} of {count} events", c.name());
            rates.push((c.name(), count as f64 / started.elapsed().as_secs_f64()));
        }
        let (entries, lines) = db
            .read(|tx| Ok::<_, tote_central::db::DbError>((tx.query_one("SELECT COUNT(*) FROM gl_entry", &[])?.int(0)?, tx.query_one("SELECT COUNT(*) FROM gl_line", &[])?.int(0)?)))
            .await?;
        println!(
            "ledger {:<8} events={count} entries={entries} lines={lines}  ledger {:>8.0} events/s ({:.0} lines/s)  sales (reference) {:>8.0} events/s  ratio {:.2}",
            if postgres { "postgres" } else { "sqlite" },
            rates[0].1,
            rates[0].1 * lines as f64 / count as f64,
            rates[1].1,
            rates[0].1 / rates[1].1
        );
        // The backlog's month closed: the request, then the ledger posting the close (its
        // income and expenses to retained earnings, from the per-day balances).
        let started = Instant::now();
        let now = tote_shared::runtime::system::now_ms();
        db.write(move |tx| tote_central::finance::periods::close(tx, "2026-11", "bench", now)).await?;
        while consumer::sequence_once(&db, 10_000).await? > 0 {}
        let ledger: Arc<dyn Consumer> = Arc::new(tote_central::finance::LedgerConsumer);
        while consumer::run_once(&db, ledger.clone(), now).await? > 0 {}
        let close = started.elapsed().as_secs_f64();
        let closed = db.read(|tx| tote_central::finance::periods::load(tx, "2026-11")).await?.context("period")?;
        ensure!(closed.closed_ms.is_some(), "the month did not close: {closed:?}");
        // The three statements for that month, as GET /finance/statements answers them.
        let started = Instant::now();
        let (from, to) = (tote_shared::calendar::parse_day("2026-11-01").context("day")?, tote_shared::calendar::parse_day("2026-12-01").context("day")?);
        let (month, up_to_end) = db
            .read(move |tx| Ok::<_, tote_central::db::DbError>((tote_central::finance::store::day_balances(tx, from, to, false)?, tote_central::finance::store::day_balances(tx, i64::MIN, to, true)?)))
            .await?;
        let income = tote_central::finance::statements::income_statement(&month);
        let sheet = tote_central::finance::statements::balance_sheet(&up_to_end);
        let flow = tote_central::finance::statements::cash_flow(&month);
        let statements = started.elapsed().as_secs_f64();
        ensure!(sheet.balanced && flow.ties && closed.net_income == Some(income.net_income), "the statements must tie: {income:?} {sheet:?} {flow:?} {closed:?}");
        println!(
            "close  {:<8} orders={orders}  month closed in {:.3} s  three statements in {:.1} ms  (net income {})",
            if postgres { "postgres" } else { "sqlite" },
            close,
            statements * 1000.0,
            income.net_income
        );
    }
    Ok(())
}

/// The journal events of `orders` orders over 1,000 SKUs at SH-01.
fn ledger_backlog(orders: usize) -> Vec<tote_central::journal::BusinessEvent> {
    use tote_central::journal::{BusinessEvent as E, EventLine};
    let sku = |k: usize| tote_shared::Sku::parse(&format!("BENCH-{:04}", k % 1000)).expect("sku");
    let wh = tote_shared::WarehouseCode::parse("SH-01").expect("warehouse");
    let qty = |n: i64| tote_shared::Qty::parse(n).expect("qty");
    let mut events: Vec<E> = (0..1000).map(|k| E::SkuCreated { sku: sku(k), spu_id: "BENCH".into(), price: 19_900, cost: 8_000 + k as i64 }).collect();
    for o in 0..orders {
        let lines = vec![EventLine { sku: sku(o), qty: qty(1), unit_price: 19_900, discount: 0 }, EventLine { sku: sku(o * 7 + 3), qty: qty(2), unit_price: 19_900, discount: 0 }];
        let total = 3 * 19_900;
        let id = o as u64 + 1;
        events.push(E::StockReceived { sku: sku(o), warehouse: wh.clone(), qty: qty(1), unit_cost: None });
        events.push(E::StockReceived { sku: sku(o * 7 + 3), warehouse: wh.clone(), qty: qty(2), unit_cost: None });
        events.push(E::PaymentSucceeded { payment_id: id, order_id: id, channel: "wechat".into(), amount: total, channel_ref: format!("w{id}") });
        events.push(E::OrderPaid { order_id: id, warehouse: Some(wh.clone()), lines: lines.clone(), total, collected_by: None });
        events.push(E::OrderShipped { order_id: id, warehouse: Some(wh.clone()), carrier: "SF".into(), tracking_number: format!("SF{id}"), lines });
        if o % 10 == 0 {
            events.push(E::RefundSucceeded { refund_id: id, payment_id: id, order_id: id, channel: "wechat".into(), amount: 19_900 });
        }
    }
    events
}

/// Tracking pushes applied per second, durably, on both backends: `parcels` parcels recorded as
/// shipped, then four pushes each (picked up, in transit, out for delivery, delivered — each
/// resending the whole history, as Kuaidi100 does), signature checked and applied one
/// transaction per push from `clients` concurrent senders. Beside it, the same number of
/// one-row durable updates of distinct parcels from as many senders: the backend's own pace.
pub async fn tracking(parcels: usize, clients: usize) -> Result<()> {
    use tote_central::logistics::{receive_push, store, tracking, PushOutcome};
    const SALT: &str = "bench-salt";
    let at = |p: usize, step: usize| format!("2026-12-0{} {:02}:{:02}:00", 1 + step / 2, 8 + step * 3, p % 60);
    let words = ["揽收", "在途", "派件", "签收"];
    for (postgres, batched) in [(false, false), (false, true), (true, false), (true, true)] {
        let dir = tempfile::tempdir()?;
        let pg = postgres.then(TestDatabase::create);
        let settings: tote_central::config::DatabaseSettings = match &pg {
            Some(db) => toml::from_str(&format!("backend = \"postgres\"\nurl = \"{}\"\npool_size = 8", db.url))?,
            None => toml::from_str(&format!("path = \"{}\"", dir.path().join("central.sqlite").display()))?,
        };
        let db = tote_central::db::Database::open(&settings).await?;
        for chunk in (0..parcels).collect::<Vec<_>>().chunks(2_000) {
            let chunk = chunk.to_vec();
            db.write(move |tx| -> Result<(), tote_central::db::DbError> {
                for &p in &chunk {
                    let waybill = format!("SF{p:010}");
                    let parcel = tote_central::logistics::Shipped { waybill: &waybill, carrier: "SF", order_id: p as u64 + 1, warehouse: "SH-01", shipped_ms: 1_796_000_000_000 };
                    store::record_parcel(tx, &parcel, None)?;
                }
                Ok(())
            })
            .await?;
        }
        // Every push, signed, in the order an aggregator would send them: step by step.
        let mut pushes = Vec::with_capacity(parcels * 4);
        for step in 0..4 {
            for p in 0..parcels {
                let data: Vec<serde_json::Value> = (0..=step)
                    .rev()
                    .map(|s| serde_json::json!({"context": format!("step {s} of SF{p:010}"), "time": at(p, s), "status": words[s]}))
                    .collect();
                let state = ["1", "0", "5", "3"][step];
                let param = serde_json::json!({"lastResult": {"state": state, "com": "shunfeng", "nu": format!("SF{p:010}"), "data": data}}).to_string();
                let sign = tracking::sign(&param, SALT);
                pushes.push((param, sign));
            }
        }
        let count = pushes.len();
        let queue = Arc::new(std::sync::Mutex::new(pushes.into_iter()));
        // Central's way (batches through the intake) or one transaction per push.
        let intake = Arc::new(tote_central::logistics::intake::PushIntake::start(db.clone(), Arc::new(|| {})));
        let started = Instant::now();
        let mut senders = Vec::new();
        for _ in 0..clients {
            let (db, queue, intake) = (db.clone(), queue.clone(), intake.clone());
            senders.push(tokio::spawn(async move {
                let mut moved = 0usize;
                loop {
                    let next = queue.lock().map_err(|_| anyhow::anyhow!("queue poisoned"))?.next();
                    let Some((param, sign)) = next else { return Ok::<usize, anyhow::Error>(moved) };
                    let push = tracking::open(&param, &sign, SALT).map_err(|e| anyhow::anyhow!("{e}"))?;
                    let outcome = if batched { intake.submit(push).await? } else { db.write(move |tx| receive_push(tx, &push, 1_796_000_000_000)).await? };
                    moved += usize::from(matches!(outcome, PushOutcome::Applied { moved: true, .. }));
                }
            }));
        }
        let mut moved = 0;
        for sender in senders {
            moved += sender.await??;
        }
        let pushes_per_s = count as f64 / started.elapsed().as_secs_f64();
        let delivered = db.read(|tx| tx.query_one("SELECT COUNT(*) FROM lg_parcel WHERE state = 'delivered'", &[])?.int(0)).await?;
        ensure!(delivered as usize == parcels, "{delivered} of {parcels} parcels delivered");
        let left = Arc::new(std::sync::atomic::AtomicUsize::new(count));
        let started = Instant::now();
        let mut writers = Vec::new();
        for _ in 0..clients {
            let (db, left) = (db.clone(), left.clone());
            writers.push(tokio::spawn(async move {
                while let Ok(n) = left.fetch_update(std::sync::atomic::Ordering::SeqCst, std::sync::atomic::Ordering::SeqCst, |n| n.checked_sub(1)) {
                    let waybill = format!("SF{:010}", n % parcels);
                    db.write(move |tx| tx.execute("UPDATE lg_parcel SET state_ms = state_ms + 1 WHERE waybill = ?1", &[waybill.as_str().into()])).await?;
                }
                Ok::<(), anyhow::Error>(())
            }));
        }
        for writer in writers {
            writer.await??;
        }
        let plain_per_s = count as f64 / started.elapsed().as_secs_f64();
        println!(
            "tracking {:<8} {:<14} parcels={parcels} pushes={count} clients={clients}  pushes {pushes_per_s:>8.0}/s (verified, applied, journalled; {moved} moved a parcel)  one-row transactions (reference) {plain_per_s:>8.0}/s  ratio {:.2}",
            if postgres { "postgres" } else { "sqlite" },
            if batched { "batched" } else { "one tx a push" },
            pushes_per_s / plain_per_s
        );
    }
    Ok(())
}
