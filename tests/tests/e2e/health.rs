//! Inventory health from a real edge's lot data: GS1 scans receive two lots of the Pegasus
//! (one expiring in ten days, one in a year, one unit of the first held in the QC bin);
//! central learns what is left of each lot over the sync stream, reports the near one, and a
//! scan raises its alert (and the unsold stock's); writing the lot off at the edge clears it.
//! The journal checker retells the alerts.

use crate::helpers::*;
use crate::journal::check_journal;
use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use std::time::Duration;
use tote_shared::runtime::system::now_ms;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lot_near_its_date_at_the_edge_raises_an_alert_at_central_on_sqlite() -> Result<()> {
    a_lot_near_its_date_at_the_edge_raises_an_alert_at_central(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lot_near_its_date_at_the_edge_raises_an_alert_at_central_on_postgres() -> Result<()> {
    a_lot_near_its_date_at_the_edge_raises_an_alert_at_central(Backend::Postgres).await
}

/// GS1 AI 17's YYMMDD, `days` from today.
fn yymmdd(days: i64) -> String {
    let day = tote_shared::calendar::utc_day(now_ms() + days * 86_400_000);
    format!("{}{}{}", &day[2..4], &day[5..7], &day[8..10])
}

fn kinds(findings: &Value) -> Vec<(String, String, i64)> {
    let mut out: Vec<_> = findings
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| (f["kind"].as_str().unwrap_or("").to_owned(), f["lot"].as_str().unwrap_or("").to_owned(), f["units"].as_i64().unwrap_or(-1)))
        .collect();
    out.sort();
    out
}

async fn a_lot_near_its_date_at_the_edge_raises_an_alert_at_central(backend: Backend) -> Result<()> {
    let world = World::start_on(backend, &[("SH-01", "Shanghai")]).await?;
    let (central, sh) = (&world.central, world.edge("SH-01"));
    let gtin14 = format!("0{PEGASUS_GTIN}");
    let near = format!("(01){gtin14}(10)LOT-N(17){}", yymmdd(10));
    let far = format!("(01){gtin14}(10)LOT-F(17){}", yymmdd(365));
    sh.post("/api/v1/receipts", json!({"location": "A-01-01", "scan": near, "qty": 3})).await?.ok()?;
    sh.post("/api/v1/receipts", json!({"location": "QC", "scan": near, "qty": 1})).await?.ok()?;
    sh.post("/api/v1/receipts", json!({"location": "A-01-01", "scan": far, "qty": 5})).await?.ok()?;
    sh.wait_synced(Duration::from_secs(20)).await?;

    // Nothing has sold and the stock is new: slow, not yet unsold for 30 days. Three of the
    // near lot are on the shelf (the QC bin's is held) and none will sell in ten days.
    let report = central.get("/api/v1/inventory/health?warehouse=SH-01").await?.ok()?;
    ensure!(kinds(&report) == [("near_expiry".into(), "LOT-N".into(), 3), ("slow_mover".into(), String::new(), 9)], "{report}");
    let near_lot = report.as_array().into_iter().flatten().find(|f| f["lot"] == "LOT-N").context("the near lot")?;
    ensure!(near_lot["excess"] == 3 && near_lot["days_left"] == 10, "{near_lot}");

    let scanned = central.post("/api/v1/inventory/health/scan", json!({})).await?.ok()?;
    ensure!(kinds(&scanned["raised"]) == kinds(&report) && scanned["open"] == 2, "{scanned}");
    let again = central.post("/api/v1/inventory/health/scan", json!({})).await?.ok()?;
    ensure!(again["raised"].as_array().is_some_and(Vec::is_empty) && again["cleared"].as_array().is_some_and(Vec::is_empty), "{again}");

    // The supervisor writes the near lot off: its alert clears.
    let body = json!({"location": "A-01-01", "sku": PEGASUS, "lot": "LOT-N", "reason": "damage", "delta": -3});
    sh.post("/api/v1/adjustments", body).await?.ok()?;
    sh.wait_synced(Duration::from_secs(20)).await?;
    let after = central.post("/api/v1/inventory/health/scan", json!({})).await?.ok()?;
    ensure!(kinds(&after["cleared"]) == [("near_expiry".into(), "LOT-N".into(), 3)] && after["open"] == 1, "{after}");
    let cleared = central.get("/api/v1/inventory/alerts?state=cleared").await?.ok()?;
    ensure!(cleared.as_array().map(Vec::len) == Some(1) && cleared[0]["cleared_ms"].is_i64(), "{cleared}");
    let bad = central.get("/api/v1/inventory/alerts?state=gone").await?;
    ensure!(bad.status == 400, "{bad:?}");
    let one = central.get("/api/v1/inventory/health?warehouse=SH-01&limit=1").await?.ok()?;
    ensure!(one.as_array().map(Vec::len) == Some(1) && one[0]["kind"] == "slow_mover", "the SKU's finding first: {one}");
    ensure!(central.get("/api/v1/inventory/health?limit=0").await?.status == 400);
    let policy = central.get("/api/v1/inventory/health/policy").await?.ok()?;
    ensure!(policy["near_expiry_days"] == 30, "{policy}");

    let journal = check_journal(central).await?;
    let alerts = journal.iter().filter(|e| e.kind().starts_with("stock_alert_")).count();
    ensure!(alerts == 3, "two raised, one cleared: {alerts}");
    Ok(())
}
