//! Edge ↔ central through a proxy that loses requests and answers, adds 500 ms each way,
//! black-holes connections and resets them all every few seconds (issue 20): the offline
//! test's 50 orders go down to the edge and their shipments up to central, exactly once.

use crate::helpers::*;
use anyhow::{Context, Result};
use serde_json::json;
use std::time::Duration;
use tote_sim::fault_proxy::{FaultProxy, Faults, ProxyStats};

const RESET_EVERY: Duration = Duration::from_secs(4);
/// ~50 pushes one after another, each ≥ 1 s round trip and about two attempts: a deadline
/// far beyond that, on a machine busy with the rest of the suite.
const SLOW: Duration = Duration::from_secs(400);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_orders_over_a_lossy_slow_resetting_link_converge_exactly_once() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let central = Central::start_with_config(dir.path(), Backend::Sqlite, 600_000, "")?;
    central.seed_catalog().await?;
    central.add_warehouse("SH-01", "Shanghai").await?;
    let upstream = central.base_url().trim_start_matches("http://").parse().context("central's address")?;
    let proxy = FaultProxy::start(upstream, Faults { reset_every: Some(RESET_EVERY), ..Faults::none() }, 20).await?;
    // Small pushes: the 150 shipment events cross the faults in 50 round trips, not one.
    let config = edge_config(dir.path(), "SH-01", &format!("http://{}", proxy.addr()))?;
    let text = std::fs::read_to_string(&config)?;
    anyhow::ensure!(text.contains("push_batch = 1000"), "the edge config's push_batch line moved: {text}");
    std::fs::write(&config, text.replacen("push_batch = 1000", "push_batch = 3", 1))?;
    let sh = Edge::from_daemon(Daemon::spawn(Kind::Edge, config)?, "SH-01");
    sh.wait_for_skus(skus().len() as u64).await?;
    sh.add_location("A-01-01").await?;

    // From here every sync call crosses the faults.
    proxy.set_faults(Faults { latency: Duration::from_millis(500), drop_percent: 30, black_hole_percent: 5, reset_every: Some(RESET_EVERY), bytes_per_sec: None });
    sh.receive("A-01-01", PEGASUS_GTIN, 60).await?;
    sh.wait_synced(SLOW).await?;
    let mut ids = Vec::new();
    for n in 0..50 {
        let order = central.create_order(&format!("lossy-{n}"), &order_body(PEGASUS, 1, "Hangzhou")).await?.ok()?;
        let id = order["id"].as_u64().context("id")?;
        central.post(&format!("/api/v1/orders/{id}/pay"), json!({})).await?.ok()?;
        ids.push(id);
    }
    for id in &ids {
        sh.wait_for_order(*id, SLOW).await?;
    }
    for id in &ids {
        sh.fulfil(*id, &format!("SF{id:010}")).await?;
    }
    sh.wait_synced(SLOW).await?;

    crate::offline::check_fifty_shipped_once(&central, &sh, &ids).await?;
    let ledger = central.get(&format!("/api/v1/inventory/{PEGASUS}/ledger?warehouse=SH-01")).await?.ok()?;
    let receipts = ledger.as_array().context("ledger")?.iter().filter(|e| e["cause"] == "edge_receipt").count();
    assert_eq!(receipts, 1, "the receipt applied once");
    // Every Fulfil came down once: the edge knows each order once, and holds no more.
    let fulfilments = sh.get("/api/v1/orders?limit=500").await?.ok()?;
    assert_eq!(fulfilments.as_array().map(Vec::len), Some(50), "{fulfilments}");

    // The faults were met, not dodged.
    let stats = proxy.stats();
    eprintln!("fault proxy: {stats}");
    assert!(ProxyStats::get(&stats.requests_lost) > 0, "{stats}");
    assert!(ProxyStats::get(&stats.answers_lost) > 0, "{stats}");
    assert!(ProxyStats::get(&stats.resets) > 0, "{stats}");
    Ok(())
}
