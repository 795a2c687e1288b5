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
use crate::bench::{central_config_with, drive_intake, push_stock, seed, spawn, ADMIN};
use crate::client::Api;
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
