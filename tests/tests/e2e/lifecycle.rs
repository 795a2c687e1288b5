//! The order lifecycle's other paths: payment timeout, cancel after picking, a short pick that
//! re-routes the order, a backorder that waits for stock; and the operator surfaces
//! (OpenAPI document, metrics with sync lag and journal progress). Each path ends with the
//! journal checked against the order histories and stock it produced.

use crate::helpers::*;
use crate::journal::check_journal;
use anyhow::{Context, Result};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpaid_order_closes_after_the_timeout_and_releases_its_lock_on_sqlite() -> Result<()> {
    an_unpaid_order_closes_after_the_timeout_and_releases_its_lock(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpaid_order_closes_after_the_timeout_and_releases_its_lock_on_postgres() -> Result<()> {
    an_unpaid_order_closes_after_the_timeout_and_releases_its_lock(Backend::Postgres).await
}

async fn an_unpaid_order_closes_after_the_timeout_and_releases_its_lock(backend: Backend) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let central = Central::start_on(dir.path(), backend, 1_000)?;
    central.seed_catalog().await?;
    central.add_warehouse("SH-01", "Shanghai").await?;
    let edge = Edge::start(dir.path(), "SH-01", central.base_url())?;
    edge.wait_for_skus(3).await?;
    edge.add_location("A-01-01").await?;
    edge.receive("A-01-01", PEGASUS_GTIN, 2).await?;
    edge.wait_synced(Duration::from_secs(20)).await?;
    let order = central.create_order("unpaid", &order_body(PEGASUS, 2, "Shanghai")).await?.ok()?;
    let id = order["id"].as_u64().context("id")?;
    assert_eq!(central.level(PEGASUS, "SH-01").await?, (2, 2, 0, 0));
    eventually("the order to close", Duration::from_secs(20), || async {
        Ok((central.order(id).await?["state"] == "closed").then_some(()))
    })
    .await?;
    assert_eq!(central.level(PEGASUS, "SH-01").await?, (2, 0, 0, 2));
    let late = central.post(&format!("/api/v1/orders/{id}/pay"), json!({})).await?;
    assert_eq!(late.status, 422, "a closed order cannot be paid: {}", late.body);
    let kinds: Vec<String> = check_journal(&central).await?.iter().filter(|e| e.subject == format!("order:{id}")).map(|e| e.kind().to_owned()).collect();
    assert_eq!(kinds, ["order_created", "order_closed"]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_picked_order_puts_the_shoes_back_on_the_shelf_on_sqlite() -> Result<()> {
    cancelling_a_picked_order_puts_the_shoes_back_on_the_shelf(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_picked_order_puts_the_shoes_back_on_the_shelf_on_postgres() -> Result<()> {
    cancelling_a_picked_order_puts_the_shoes_back_on_the_shelf(Backend::Postgres).await
}

async fn cancelling_a_picked_order_puts_the_shoes_back_on_the_shelf(backend: Backend) -> Result<()> {
    let world = World::start_on(backend, &[("SH-01", "Shanghai")]).await?;
    let (central, sh) = (&world.central, world.edge("SH-01"));
    sh.receive("A-01-01", PEGASUS_GTIN, 3).await?;
    sh.wait_synced(Duration::from_secs(20)).await?;
    let id = central.create_order("cancel-picked", &order_body(PEGASUS, 2, "Shanghai")).await?.ok()?["id"].as_u64().context("id")?;
    central.post(&format!("/api/v1/orders/{id}/pay"), json!({})).await?.ok()?;
    let order = sh.wait_for_order(id, Duration::from_secs(20)).await?;
    let task = &order["tasks"][0];
    let scan = format!("/api/v1/pick-tasks/{}/scan", task["id"]);
    sh.post(&scan, json!({"code": "A-01-01"})).await?.ok()?;
    sh.post(&scan, json!({"code": PEGASUS_GTIN, "qty": 2})).await?.ok()?;
    assert_eq!(sh.get(&format!("/api/v1/orders/{id}")).await?.ok()?["state"], "picked");
    // Central learns of the pick first, so the cancel meets a picked order on either backend.
    sh.wait_synced(Duration::from_secs(20)).await?;
    assert_eq!(central.order(id).await?["state"], "picked");

    let cancelling = central.post(&format!("/api/v1/orders/{id}/cancel"), json!({})).await?.ok()?;
    assert_eq!(cancelling["state"], "cancelling");
    eventually("the edge to confirm the cancel", Duration::from_secs(20), || async {
        Ok((central.order(id).await?["state"] == "cancelled").then_some(()))
    })
    .await?;
    assert_eq!(sh.get(&format!("/api/v1/orders/{id}")).await?.ok()?["state"], "cancelled");
    let stock = sh.get(&format!("/api/v1/stock?sku={PEGASUS}")).await?.ok()?;
    assert_eq!(stock, json!([{"location": "A-01-01", "sku": PEGASUS, "lot": "", "qty": 3}]), "back in the bin, none in OUT");
    assert_eq!(central.level(PEGASUS, "SH-01").await?, (3, 0, 0, 3));
    let kinds: Vec<String> = check_journal(central).await?.iter().filter(|e| e.subject == format!("order:{id}")).map(|e| e.kind().to_owned()).collect();
    assert_eq!(kinds, ["order_created", "order_paid", "order_picked", "order_cancelling", "order_cancelled"]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_pick_reroutes_the_order_and_a_backorder_waits_for_stock_on_sqlite() -> Result<()> {
    a_short_pick_reroutes_the_order_and_a_backorder_waits_for_stock(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_pick_reroutes_the_order_and_a_backorder_waits_for_stock_on_postgres() -> Result<()> {
    a_short_pick_reroutes_the_order_and_a_backorder_waits_for_stock(Backend::Postgres).await
}

async fn a_short_pick_reroutes_the_order_and_a_backorder_waits_for_stock(backend: Backend) -> Result<()> {
    let world = World::start_on(backend, &[("SH-01", "Shanghai"), ("BJ-01", "Beijing")]).await?;
    let (central, sh, bj) = (&world.central, world.edge("SH-01"), world.edge("BJ-01"));
    sh.receive("A-01-01", PEGASUS_GTIN, 1).await?;
    bj.receive("A-01-01", PEGASUS_GTIN, 1).await?;
    for e in &world.edges {
        e.wait_synced(Duration::from_secs(20)).await?;
    }
    // Two paid orders from Shanghai: one lands at SH-01, the other at BJ-01.
    let mut ids = Vec::new();
    for n in 0..2 {
        let id = central.create_order(&format!("short-{n}"), &order_body(PEGASUS, 1, "Shanghai")).await?.ok()?["id"].as_u64().context("id")?;
        central.post(&format!("/api/v1/orders/{id}/pay"), json!({})).await?.ok()?;
        ids.push(id);
    }
    assert_eq!(central.order(ids[0]).await?["warehouse"], "SH-01");
    assert_eq!(central.order(ids[1]).await?["warehouse"], "BJ-01");

    // The SH-01 shoe is not on the shelf: a short pick. No other warehouse has stock left, so
    // the order is backordered; central never shows a negative.
    let order = sh.wait_for_order(ids[0], Duration::from_secs(20)).await?;
    let short = sh.post(&format!("/api/v1/pick-tasks/{}/short", order["tasks"][0]["id"]), json!({"found": 0})).await?.ok()?;
    assert_eq!(short["order_state"], "failed");
    eventually("central to backorder the order", Duration::from_secs(20), || async {
        Ok((central.order(ids[0]).await?["state"] == "backordered").then_some(()))
    })
    .await?;
    assert_eq!(central.level(PEGASUS, "SH-01").await?, (0, 0, 0, 0));
    assert_eq!(central.level(PEGASUS, "BJ-01").await?, (1, 0, 1, 0));

    // New stock arrives at BJ-01: the backorder is allocated there and released to its edge.
    bj.receive("A-01-01", PEGASUS_GTIN, 4).await?;
    eventually("the backorder to be allocated", Duration::from_secs(20), || async {
        let o = central.order(ids[0]).await?;
        Ok((o["state"] == "awaiting_shipment" && o["warehouse"] == "BJ-01").then_some(()))
    })
    .await?;
    bj.fulfil(ids[0], "SF-REROUTED-1").await?;
    bj.fulfil(ids[1], "SF-SECOND-1").await?;
    bj.wait_synced(Duration::from_secs(20)).await?;
    for id in &ids {
        assert_eq!(central.order(*id).await?["state"], "shipped");
    }
    assert_eq!(central.level(PEGASUS, "BJ-01").await?, (3, 0, 0, 3));
    let history = central.get(&format!("/api/v1/orders/{}/history", ids[0])).await?.ok()?;
    let causes: Vec<&str> = history.as_array().context("history")?.iter().filter_map(|h| h["cause"].as_str()).collect();
    assert_eq!(causes, ["order_paid", "edge_fulfilment_failed", "order_rerouted", "edge_picked", "edge_packed", "edge_shipment"]);
    let kinds: Vec<String> = check_journal(central).await?.iter().filter(|e| e.subject == format!("order:{}", ids[0])).map(|e| e.kind().to_owned()).collect();
    assert_eq!(kinds, ["order_created", "order_paid", "order_backordered", "order_allocated", "order_picked", "order_packed", "order_shipped"]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_pick_with_stock_elsewhere_in_the_warehouse_sends_the_picker_there_on_sqlite() -> Result<()> {
    a_short_pick_with_stock_elsewhere_in_the_warehouse_sends_the_picker_there(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_pick_with_stock_elsewhere_in_the_warehouse_sends_the_picker_there_on_postgres() -> Result<()> {
    a_short_pick_with_stock_elsewhere_in_the_warehouse_sends_the_picker_there(Backend::Postgres).await
}

async fn a_short_pick_with_stock_elsewhere_in_the_warehouse_sends_the_picker_there(backend: Backend) -> Result<()> {
    let world = World::start_on(backend, &[("SH-01", "Shanghai")]).await?;
    let (central, sh) = (&world.central, world.edge("SH-01"));
    sh.add_location("A-01-02").await?;
    sh.receive("A-01-01", PEGASUS_GTIN, 3).await?;
    sh.receive("A-01-02", PEGASUS_GTIN, 2).await?;
    sh.wait_synced(Duration::from_secs(20)).await?;
    let id = central.create_order("short-local", &order_body(PEGASUS, 2, "Shanghai")).await?.ok()?["id"].as_u64().context("id")?;
    central.post(&format!("/api/v1/orders/{id}/pay"), json!({})).await?.ok()?;
    let order = sh.wait_for_order(id, Duration::from_secs(20)).await?;
    let task = &order["tasks"][0];
    assert_eq!(task["location"], "A-01-01", "the fullest bin is suggested");
    let short = sh.post(&format!("/api/v1/pick-tasks/{}/short", task["id"]), json!({"found": 1})).await?.ok()?;
    assert!(short["message"].as_str().unwrap_or("").contains("A-01-02"), "{short}");
    let shipped = sh.fulfil(id, "SF-LOCAL-1").await?;
    assert_eq!(shipped["state"], "shipped");
    sh.wait_synced(Duration::from_secs(20)).await?;
    // 5 received, 2 written off at A-01-01 (3 expected, 1 found), 2 shipped.
    assert_eq!(central.level(PEGASUS, "SH-01").await?, (1, 0, 0, 1));
    assert_eq!(central.order(id).await?["state"], "shipped");
    let events = check_journal(central).await?;
    let adjusted: i64 = events.iter().filter(|e| e.kind() == "stock_adjusted").map(|e| e.event["delta"].as_i64().unwrap_or(0)).sum();
    assert_eq!(adjusted, -2, "the short pick's write-off is in the journal");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_get_an_openapi_document_and_sync_lag_in_metrics_on_sqlite() -> Result<()> {
    operators_get_an_openapi_document_and_sync_lag_in_metrics(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_get_an_openapi_document_and_sync_lag_in_metrics_on_postgres() -> Result<()> {
    operators_get_an_openapi_document_and_sync_lag_in_metrics(Backend::Postgres).await
}

async fn operators_get_an_openapi_document_and_sync_lag_in_metrics(backend: Backend) -> Result<()> {
    let world = World::start_on(backend, &[("SH-01", "Shanghai")]).await?;
    let (central, sh) = (&world.central, world.edge("SH-01"));
    let doc = central.get("/api/v1/openapi.json").await?.ok()?;
    assert!(doc["openapi"].as_str().unwrap_or("").starts_with("3."), "{}", doc["openapi"]);
    for path in ["/api/v1/orders", "/api/v1/orders/{id}/pay", "/api/v1/sync/events", "/api/v1/inventory/{sku}/ledger", "/api/v1/events", "/api/v1/analytics/sales/{sku}"] {
        assert!(doc["paths"][path].is_object(), "{path} missing from OpenAPI");
    }
    assert!(doc["components"]["schemas"]["OrderRecord"].is_object());

    let metrics = central.http.get(central.url("/metrics")).send().await?.text().await?;
    assert!(metrics.contains("tote_central_sync_events_high_water{warehouse=\"SH-01\"}"), "{metrics}");
    assert!(metrics.contains("tote_central_sync_seconds_since_pull{warehouse=\"SH-01\"}"));
    wait_journal_settled(central).await?;
    let metrics = central.metrics().await?;
    let last_seq = metric(&metrics, "tote_central_journal_last_seq").context("journal_last_seq")?;
    assert!(last_seq >= 5.0, "SPU, 3 SKUs and the warehouse are journalled: {metrics}");
    assert_eq!(metric(&metrics, "tote_central_journal_unnumbered"), Some(0.0));
    assert_eq!(metric(&metrics, "tote_central_journal_consumer_lag{consumer=\"sales\"}"), Some(0.0));
    let edge_metrics = sh.http.get(sh.url("/metrics")).send().await?.text().await?;
    assert!(edge_metrics.contains("tote_edge_sync_events_pending 0"), "{edge_metrics}");
    assert!(edge_metrics.contains("tote_edge_central_reachable 1"));
    let health = sh.get("/health").await?.ok()?;
    assert_eq!(health["status"], "ok");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_count_variance_moves_unpaid_locks_and_fails_released_work_back_for_rerouting_on_sqlite() -> Result<()> {
    a_count_variance_moves_unpaid_locks_and_fails_released_work_back_for_rerouting(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_count_variance_moves_unpaid_locks_and_fails_released_work_back_for_rerouting_on_postgres() -> Result<()> {
    a_count_variance_moves_unpaid_locks_and_fails_released_work_back_for_rerouting(Backend::Postgres).await
}

async fn a_count_variance_moves_unpaid_locks_and_fails_released_work_back_for_rerouting(backend: Backend) -> Result<()> {
    let world = World::start_on(backend, &[("SH-01", "Shanghai"), ("BJ-01", "Beijing")]).await?;
    let (central, sh, bj) = (&world.central, world.edge("SH-01"), world.edge("BJ-01"));
    sh.receive("A-01-01", PEGASUS_GTIN, 3).await?;
    bj.receive("A-01-01", PEGASUS_GTIN, 5).await?;
    for e in &world.edges {
        e.wait_synced(Duration::from_secs(20)).await?;
    }
    // One paid order (released to SH-01) and one unpaid order, both at SH-01.
    let paid = central.create_order("variance-paid", &order_body(PEGASUS, 1, "Shanghai")).await?.ok()?["id"].as_u64().context("id")?;
    central.post(&format!("/api/v1/orders/{paid}/pay"), json!({})).await?.ok()?;
    let unpaid = central.create_order("variance-unpaid", &order_body(PEGASUS, 2, "Shanghai")).await?.ok()?["id"].as_u64().context("id")?;
    assert_eq!(central.level(PEGASUS, "SH-01").await?, (3, 2, 1, 0));
    sh.wait_for_order(paid, Duration::from_secs(20)).await?;

    // The count finds the bin empty.
    sh.post("/api/v1/adjustments", json!({"location": "A-01-01", "sku": PEGASUS, "reason": "count", "counted": 0})).await?.ok()?;
    assert_eq!(sh.get(&format!("/api/v1/orders/{paid}")).await?.ok()?["state"], "failed", "the edge gives the work back");
    sh.wait_synced(Duration::from_secs(20)).await?;

    let unpaid_now = central.order(unpaid).await?;
    assert_eq!((unpaid_now["state"].as_str(), unpaid_now["warehouse"].as_str()), (Some("awaiting_payment"), Some("BJ-01")));
    eventually("the paid order to be re-routed", Duration::from_secs(20), || async {
        let o = central.order(paid).await?;
        Ok((o["state"] == "awaiting_shipment" && o["warehouse"] == "BJ-01").then_some(()))
    })
    .await?;
    assert_eq!(central.level(PEGASUS, "SH-01").await?, (0, 0, 0, 0), "no negative anywhere");
    assert_eq!(central.level(PEGASUS, "BJ-01").await?, (5, 2, 1, 2));
    bj.wait_for_order(paid, Duration::from_secs(20)).await?;
    let events = check_journal(central).await?;
    let moved: Vec<&serde_json::Value> = events.iter().filter(|e| e.kind() == "order_lock_moved").map(|e| &e.event).collect();
    assert_eq!(moved, [&json!({"type": "order_lock_moved", "order_id": unpaid, "from": "SH-01", "to": "BJ-01"})]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gs1_scans_receive_stock_by_lot_and_picking_takes_the_first_expiry_on_sqlite() -> Result<()> {
    gs1_scans_receive_stock_by_lot_and_picking_takes_the_first_expiry(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gs1_scans_receive_stock_by_lot_and_picking_takes_the_first_expiry_on_postgres() -> Result<()> {
    gs1_scans_receive_stock_by_lot_and_picking_takes_the_first_expiry(Backend::Postgres).await
}

async fn gs1_scans_receive_stock_by_lot_and_picking_takes_the_first_expiry(backend: Backend) -> Result<()> {
    let world = World::start_on(backend, &[("SH-01", "Shanghai")]).await?;
    let (central, sh) = (&world.central, world.edge("SH-01"));
    sh.add_location("A-01-02").await?;
    let gtin14 = format!("0{PEGASUS_GTIN}");
    // GS1 DataMatrix as a scanner sends it (FNC1 as GS), and the printed human-readable form.
    let later = format!("]d201{gtin14}10LOT-B\u{1d}17271231");
    let sooner = format!("(01){gtin14}(10)LOT-A(17)270630");
    let r = sh.post("/api/v1/receipts", json!({"location": "A-01-01", "scan": later, "qty": 3})).await?.ok()?;
    assert_eq!((r["lot"].as_str(), r["qty"].as_i64()), (Some("LOT-B"), Some(3)));
    sh.post("/api/v1/receipts", json!({"location": "A-01-02", "scan": sooner, "qty": 2})).await?.ok()?;
    // The same lot cannot come back with another expiry; a location is not an item.
    let clash = sh.post("/api/v1/receipts", json!({"location": "A-01-02", "scan": format!("(01){gtin14}(10)LOT-A(17)280101"), "qty": 1})).await?;
    assert_eq!(clash.status, 409, "{}", clash.body);
    let wrong = sh.post("/api/v1/receipts", json!({"location": "A-01-02", "scan": "A-01-01", "qty": 1})).await?;
    assert_eq!(wrong.status, 422);
    assert!(wrong.body["detail"].as_str().unwrap_or("").contains("expected an item barcode, scanned location A-01-01"), "{}", wrong.body);
    sh.wait_synced(Duration::from_secs(20)).await?;
    assert_eq!(central.level(PEGASUS, "SH-01").await?, (5, 0, 0, 5));

    let id = central.create_order("fefo", &order_body(PEGASUS, 1, "Shanghai")).await?.ok()?["id"].as_u64().context("id")?;
    central.post(&format!("/api/v1/orders/{id}/pay"), json!({})).await?.ok()?;
    let order = sh.wait_for_order(id, Duration::from_secs(20)).await?;
    let task = &order["tasks"][0];
    assert_eq!((task["location"].as_str(), task["lot"].as_str()), (Some("A-01-02"), Some("LOT-A")), "first expiry first out");
    check_journal(central).await?;
    Ok(())
}
