//! Central goes away; the edge keeps picking and shipping; everything converges once it is back.

use crate::helpers::*;
use crate::journal::{check_journal, check_sales, seeded_skus};
use anyhow::{Context, Result};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edge_ships_fifty_orders_while_central_is_down_and_central_applies_each_shipment_once_on_sqlite() -> Result<()> {
    offline(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edge_ships_fifty_orders_while_central_is_down_and_central_applies_each_shipment_once_on_postgres() -> Result<()> {
    offline(Backend::Postgres).await
}

async fn offline(backend: Backend) -> Result<()> {
    let world = World::start_on(backend, &[("SH-01", "Shanghai")]).await?;
    let sh = world.edge("SH-01");
    sh.receive("A-01-01", PEGASUS_GTIN, 60).await?;
    sh.wait_synced(Duration::from_secs(20)).await?;

    let mut ids = Vec::new();
    for n in 0..50 {
        let order = world.central.create_order(&format!("offline-{n}"), &order_body(PEGASUS, 1, "Hangzhou")).await?.ok()?;
        let id = order["id"].as_u64().context("id")?;
        world.central.post(&format!("/api/v1/orders/{id}/pay"), json!({})).await?.ok()?;
        ids.push(id);
    }
    for id in &ids {
        sh.wait_for_order(*id, Duration::from_secs(20)).await?;
    }

    world.central.kill9();
    let sh = world.edge("SH-01");
    for id in &ids {
        sh.fulfil(*id, &format!("SF{id:010}")).await?;
    }
    let status = sh.get("/api/v1/sync/status").await?.ok()?;
    assert!(status["events_pending"].as_u64().unwrap_or(0) >= 150, "picked+packed+shipped wait for central: {status}");
    // The edge noticed: a failed sync call marks central unreachable.
    eventually("the edge to notice central is down", Duration::from_secs(10), || async {
        let s = sh.get("/api/v1/sync/status").await?.ok()?;
        Ok((s["central_reachable"] == false).then_some(()))
    })
    .await?;

    world.central.restart()?;
    let sh = world.edge("SH-01");
    sh.wait_synced(Duration::from_secs(30)).await?;

    check_fifty_shipped_once(&world.central, sh, &ids).await
}

/// The fifty one-unit Pegasus orders `ids`, shipped from SH-01's sixty units, applied at
/// central once each: order states and tracking numbers, stock, one ledger shipment per order,
/// the stream's mark at the edge's last event, the journal and the sales.
pub async fn check_fifty_shipped_once(central: &Central, sh: &Edge, ids: &[u64]) -> Result<()> {
    for id in ids {
        let order = central.order(*id).await?;
        assert_eq!(order["state"], "shipped", "order {id}");
        assert_eq!(order["tracking_number"], format!("SF{id:010}"));
    }
    assert_eq!(central.level(PEGASUS, "SH-01").await?, (10, 0, 0, 10));
    let ledger = central.get(&format!("/api/v1/inventory/{PEGASUS}/ledger?warehouse=SH-01")).await?.ok()?;
    let shipments = ledger.as_array().context("ledger")?.iter().filter(|e| e["cause"] == "edge_shipment" && e["field"] == "on_hand").count();
    assert_eq!(shipments, 50, "exactly one shipment applied per order");
    let written = sh.get("/api/v1/sync/status").await?.ok()?["events_written"].as_u64().context("written")?;
    assert_eq!(central.sync_row("SH-01").await?["events_high_water"].as_u64(), Some(written));

    // The journal has each shipment once, and so do the sales.
    let events = check_journal(central).await?;
    assert_eq!(events.iter().filter(|e| e.kind() == "order_shipped").count(), 50);
    let sales = check_sales(central, &seeded_skus()).await?;
    assert_eq!((sales[PEGASUS].paid, sales[PEGASUS].shipped), (50, 50));
    Ok(())
}
