//! The edge's long-running tasks are supervised, in the real process: a task that dies is named
//! in the log, restarted and counted in /metrics, and does its job again; a fatal one takes the
//! process down with a failure status (systemd restarts it); SIGTERM lets every task stop at a
//! clean point and the process exits 0. Tasks are killed with the edge's test-only fault hook,
//! `TOTE_EDGE_FAULT_TASK`, which no config file sets.

use crate::gtp::repo_file;
use crate::helpers::*;
use anyhow::{ensure, Context, Result};
use serde_json::json;
use std::time::Duration;

const FAULT: &str = "TOTE_EDGE_FAULT_TASK";
/// Where no central answers: the edge works without it and keeps retrying.
const NO_CENTRAL: &str = "http://127.0.0.1:9";

/// A local port with nothing listening on it (a device that is switched off).
fn dead_address() -> Result<String> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.to_string())
}

fn floor_section() -> String {
    format!("[floor]\nlayout = \"{}\"\npods = 60\nfaces = 2\nbins_per_face = 1\ntick_ms = 20\n", repo_file("configs/floor.toml").display())
}

async fn metrics(edge: &Edge) -> Result<String> {
    let reply = edge.get("/metrics").await?;
    ensure!(reply.status.is_success(), "/metrics answered {}", reply.status);
    reply.body.as_str().map(str::to_owned).context("metrics are text")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_push_loop_that_panics_is_named_in_the_log_restarted_counted_and_pushes_again() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let central = Central::start(dir.path())?;
    central.seed_catalog().await?;
    central.add_warehouse("SH-01", "Shanghai").await?;
    let config = edge_config(dir.path(), "SH-01", central.base_url())?;
    let edge = Edge::from_daemon(Daemon::spawn_with_env(Kind::Edge, config, &[(FAULT, "sync-push")])?, "SH-01");

    eventually("the restart to show in /metrics", Duration::from_secs(20), || async {
        Ok(metrics(&edge).await?.contains("tote_edge_task_restarts_total{task=\"sync-push\"} 1").then_some(()))
    })
    .await?;
    let log = lock(&edge.daemon).log();
    let line = log.lines().find(|l| l.contains("task sync-push panicked")).with_context(|| format!("no panic line in the log:\n{log}"))?;
    assert!(line.contains("restarting"), "{line}");
    let text = metrics(&edge).await?;
    assert!(text.contains("tote_edge_task_restarts_total{task=\"sync-pull\"} 0"), "the other tasks ran on untouched:\n{text}");

    // The restarted loop does its job: stock received now reaches central.
    edge.wait_for_skus(skus().len() as u64).await?;
    edge.add_location("A-01-01").await?;
    edge.receive("A-01-01", PEGASUS_GTIN, 5).await?;
    edge.wait_synced(Duration::from_secs(20)).await?;
    assert_eq!(central.level(PEGASUS, "SH-01").await?, (5, 0, 0, 5));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fatal_master_control_task_that_returns_takes_the_edge_down_with_a_failure_status() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let config = edge_config_full(dir.path(), "SH-01", NO_CENTRAL, None, &floor_section())?;
    let mut daemon = Daemon::spawn_with_env(Kind::Edge, config, &[(FAULT, "gtp-controller:return")])?;
    let status = daemon.wait_for_exit(Duration::from_secs(30))?;
    let log = daemon.log();
    assert!(!status.success(), "a failed edge exits non-zero, so systemd restarts it: {status}\n{log}");
    assert!(log.lines().any(|l| l.contains("task gtp-controller returned") && l.contains("fatal")), "the log names the task:\n{log}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_every_task_stop_at_a_clean_point_and_the_edge_exits_zero() -> Result<()> {
    let dir = tempfile::tempdir()?;
    // One of each kind of task, its devices switched off, so each sits in a retry loop.
    let extra = format!(
        "{}[[station_plcs]]\nstation = \"ST-1\"\naddress = \"{}\"\npoll_ms = 50\ntimeout_ms = 300\n\
         [[modbus_robots]]\nmanufacturer = \"modbus\"\nserial = \"mb-01\"\naddress = \"{}\"\npoll_ms = 50\ntimeout_ms = 300\n\
         [[scanners]]\nname = \"pack-1\"\nstation = \"PACK-1\"\nlisten = \"127.0.0.1:0\"\n\
         [printing]\nprinter = \"{}\"\ngs1_company_prefix = \"0614141\"\nsender = \"Tote SH-01\"\n",
        floor_section(),
        dead_address()?,
        dead_address()?,
        dead_address()?,
    );
    let config = edge_config_full(dir.path(), "SH-01", NO_CENTRAL, None, &extra)?;
    let edge = Edge::from_daemon(Daemon::spawn(Kind::Edge, config)?, "SH-01");
    let text = metrics(&edge).await?;
    for task in ["sync-push", "sync-pull", "mqtt", "robot-watchdog", "history-pruner", "label-printer", "gtp-controller", "station-plc:ST-1", "modbus-robot:modbus/mb-01", "scanner:pack-1"] {
        assert!(text.contains(&format!("tote_edge_task_restarts_total{{task=\"{task}\"}} 0")), "{task} is supervised:\n{text}");
    }

    let mut daemon = lock(&edge.daemon);
    daemon.terminate()?;
    let status = daemon.wait_for_exit(Duration::from_secs(30))?;
    let log = daemon.log();
    assert!(status.success(), "SIGTERM is a clean stop: {status}\n{log}");
    // The supervisor names the tasks it had to abort after its deadline: there must be none.
    assert!(!log.contains("did not stop"), "every task stopped on its own:\n{log}");
    Ok(())
}

/// Central's background work is supervised the same way: its sales consumer dies on its first
/// run (central's test-only hook, `TOTE_CENTRAL_FAULT_TASK`), is named in the log, restarted,
/// counted, and then counts every order of the journal exactly once.
async fn a_journal_consumer_that_panics_is_restarted_and_counts_every_sale_once(backend: Backend) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let central = Central::start_with_env(dir.path(), backend, 600_000, &[("TOTE_CENTRAL_FAULT_TASK", "journal-consumer:sales")])?;
    central.seed_catalog().await?;
    eventually("the restart to show in /metrics", Duration::from_secs(20), || async {
        Ok(central.metrics().await?.contains("tote_central_task_restarts_total{task=\"journal-consumer:sales\"} 1").then_some(()))
    })
    .await?;
    let log = lock(&central.daemon).log();
    let line = log.lines().find(|l| l.contains("task journal-consumer:sales panicked")).with_context(|| format!("no panic line:\n{log}"))?;
    assert!(line.contains("restarting"), "{line}");
    // The restarted consumer does its job: every journal event counted once.
    central.add_warehouse("SH-01", "Shanghai").await?;
    let receipt = json!({"seq": 1, "at_ms": 1, "kind": {"type": "stock_received", "sku": PEGASUS, "qty": 5, "location": "A-01-01"}});
    let pushed = central.http.post(central.url("/api/v1/sync/events")).bearer_auth(edge_token("SH-01")).json(&json!({"warehouse": "SH-01", "events": [receipt]})).send().await?;
    assert!(pushed.status().is_success());
    for n in 0..3 {
        central.create_order(&format!("sup-{n}"), &order_body(PEGASUS, 1, "Shanghai")).await?.ok()?;
    }
    crate::journal::check_journal(&central).await?;
    let totals = crate::journal::check_sales(&central, &[PEGASUS]).await?;
    assert!(!totals.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_consumer_that_panics_is_restarted_and_counts_every_sale_once_on_sqlite() -> Result<()> {
    a_journal_consumer_that_panics_is_restarted_and_counts_every_sale_once(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_consumer_that_panics_is_restarted_and_counts_every_sale_once_on_postgres() -> Result<()> {
    a_journal_consumer_that_panics_is_restarted_and_counts_every_sale_once(Backend::Postgres).await
}
