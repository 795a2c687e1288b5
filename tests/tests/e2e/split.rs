//! Split shipments (issue 18, must-show 2): an order no warehouse can serve alone is split
//! across SH-01 and BJ-01, each part fulfilled by its own edge under the order's id and
//! shipped in its own parcel, the order `partly_shipped` in between; a part that comes back
//! short is re-routed alone (to GZ-01) while the shipped part stays shipped; a split order
//! cancelled before shipping stops at both edges, and one cancelled after its first parcel
//! left stops only the part still in the warehouse. The journal is checked at the end.

use crate::helpers::*;
use crate::journal::check_journal;
use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use std::time::Duration;

const EU43: &str = "PEG39-M-WHT-43";
const EU43_GTIN: &str = "1958661377391";

fn two_line_order() -> Value {
    json!({
        "channel": "app",
        "lines": [{"sku": PEGASUS, "qty": 1}, {"sku": EU43, "qty": 1}],
        "ship_to": {"name": "Li Wei", "line1": "88 Century Avenue", "city": "Shanghai", "postcode": "200120"}
    })
}

/// (warehouse, state, SKUs) of each part, in part order.
fn parts(order: &Value) -> Vec<(String, String, Vec<String>)> {
    order["parts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let skus = p["lines"].as_array().into_iter().flatten().filter_map(|l| l["sku"].as_str().map(str::to_owned)).collect();
            (p["warehouse"].as_str().unwrap_or("-").to_owned(), p["state"].as_str().unwrap_or("").to_owned(), skus)
        })
        .collect()
}

fn part(warehouse: &str, state: &str, sku: &str) -> (String, String, Vec<String>) {
    (warehouse.to_owned(), state.to_owned(), vec![sku.to_owned()])
}

async fn wait_state(central: &Central, id: u64, state: &str) -> Result<Value> {
    eventually(&format!("order {id} to be {state}"), Duration::from_secs(20), || async {
        let o = central.order(id).await?;
        Ok((o["state"] == state).then_some(o))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_order_ships_in_two_parcels_and_a_short_part_is_rerouted_alone_on_sqlite() -> Result<()> {
    a_split_order_ships_in_two_parcels_and_a_short_part_is_rerouted_alone(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_order_ships_in_two_parcels_and_a_short_part_is_rerouted_alone_on_postgres() -> Result<()> {
    a_split_order_ships_in_two_parcels_and_a_short_part_is_rerouted_alone(Backend::Postgres).await
}

async fn a_split_order_ships_in_two_parcels_and_a_short_part_is_rerouted_alone(backend: Backend) -> Result<()> {
    let world = World::start_on(backend, &[("SH-01", "Shanghai"), ("BJ-01", "Beijing"), ("GZ-01", "Guangzhou")]).await?;
    let (central, sh, bj, gz) = (&world.central, world.edge("SH-01"), world.edge("BJ-01"), world.edge("GZ-01"));
    // Shanghai has the 42s, Beijing the 43s; Guangzhou (farther from Shanghai than Beijing)
    // has one 43 in reserve.
    sh.receive("A-01-01", PEGASUS_GTIN, 3).await?;
    bj.receive("A-01-01", EU43_GTIN, 3).await?;
    gz.receive("A-01-01", EU43_GTIN, 1).await?;
    for e in &world.edges {
        e.wait_synced(Duration::from_secs(20)).await?;
    }

    // 1. Split, shipped in two parcels.
    let first = central.create_order("split-1", &two_line_order()).await?.ok()?;
    let id = first["id"].as_u64().context("id")?;
    assert_eq!(parts(&first), [part("SH-01", "awaiting_payment", PEGASUS), part("BJ-01", "awaiting_payment", EU43)]);
    assert_eq!(first["warehouse"], Value::Null, "a split order has no one warehouse: {first}");
    assert_eq!(central.level(PEGASUS, "SH-01").await?, (3, 1, 0, 2));
    assert_eq!(central.level(EU43, "BJ-01").await?, (3, 1, 0, 2));
    central.post(&format!("/api/v1/orders/{id}/pay"), json!({})).await?.ok()?;
    // Each edge got its own line only, under the order's id.
    let at_sh = sh.wait_for_order(id, Duration::from_secs(20)).await?;
    let at_bj = bj.wait_for_order(id, Duration::from_secs(20)).await?;
    let skus = |o: &Value| o["tasks"].as_array().into_iter().flatten().filter_map(|t| t["sku"].as_str().map(str::to_owned)).collect::<Vec<_>>();
    assert_eq!((skus(&at_sh), skus(&at_bj)), (vec![PEGASUS.to_owned()], vec![EU43.to_owned()]));

    sh.fulfil(id, "SF-SPLIT-SH-1").await?;
    let partly = wait_state(central, id, "partly_shipped").await?;
    assert_eq!(parts(&partly), [part("SH-01", "shipped", PEGASUS), part("BJ-01", "awaiting_shipment", EU43)]);
    assert_eq!(partly["parts"][0]["tracking_number"], "SF-SPLIT-SH-1");
    let listed = central.get("/api/v1/orders?state=partly_shipped").await?.ok()?;
    ensure!(listed.to_string().contains(&format!("\"id\":{id}")), "HQ finds it among partly shipped orders: {listed}");

    bj.fulfil(id, "SF-SPLIT-BJ-1").await?;
    let shipped = wait_state(central, id, "shipped").await?;
    assert_eq!(parts(&shipped), [part("SH-01", "shipped", PEGASUS), part("BJ-01", "shipped", EU43)]);
    assert_eq!(central.level(PEGASUS, "SH-01").await?, (2, 0, 0, 2));
    assert_eq!(central.level(EU43, "BJ-01").await?, (2, 0, 0, 2));

    // 2. One part short: the Beijing part alone goes to Guangzhou; Shanghai's is not touched.
    let second = central.create_order("split-2", &two_line_order()).await?.ok()?;
    let id2 = second["id"].as_u64().context("id")?;
    central.post(&format!("/api/v1/orders/{id2}/pay"), json!({})).await?.ok()?;
    sh.fulfil(id2, "SF-SPLIT-SH-2").await?;
    wait_state(central, id2, "partly_shipped").await?;
    let order = bj.wait_for_order(id2, Duration::from_secs(20)).await?;
    let short = bj.post(&format!("/api/v1/pick-tasks/{}/short", order["tasks"][0]["id"]), json!({"found": 0})).await?.ok()?;
    assert_eq!(short["order_state"], "failed");
    let rerouted = eventually("the short part to move to GZ-01", Duration::from_secs(20), || async {
        let o = central.order(id2).await?;
        Ok((o["parts"][1]["warehouse"] == "GZ-01").then_some(o))
    })
    .await?;
    assert_eq!(rerouted["state"], "partly_shipped");
    assert_eq!(parts(&rerouted), [part("SH-01", "shipped", PEGASUS), part("GZ-01", "awaiting_shipment", EU43)]);
    gz.fulfil(id2, "SF-SPLIT-GZ-2").await?;
    let done = wait_state(central, id2, "shipped").await?;
    assert_eq!(parts(&done), [part("SH-01", "shipped", PEGASUS), part("GZ-01", "shipped", EU43)]);
    assert_eq!(central.level(EU43, "GZ-01").await?, (0, 0, 0, 0));
    let history = central.get(&format!("/api/v1/orders/{id2}/history")).await?.ok()?;
    let rows: Vec<(String, String)> = history
        .as_array()
        .context("history")?
        .iter()
        .map(|h| (h["cause"].as_str().unwrap_or("").to_owned(), h["warehouse"].as_str().unwrap_or("-").to_owned()))
        .collect();
    ensure!(rows.contains(&("edge_fulfilment_failed".into(), "BJ-01".into())), "the failure is the Beijing part's: {rows:?}");
    ensure!(rows.contains(&("order_rerouted".into(), "GZ-01".into())), "the part alone went to Guangzhou: {rows:?}");

    // 3. A split order cancelled before it ships stops at both edges, its stock free again.
    // (Beijing's short pick left it no 43s: it gets more.)
    bj.receive("A-01-01", EU43_GTIN, 2).await?;
    bj.wait_synced(Duration::from_secs(20)).await?;
    let third = central.create_order("split-3", &two_line_order()).await?.ok()?;
    let id3 = third["id"].as_u64().context("id")?;
    ensure!(parts(&third).len() == 2, "split again: {third}");
    central.post(&format!("/api/v1/orders/{id3}/pay"), json!({})).await?.ok()?;
    sh.wait_for_order(id3, Duration::from_secs(20)).await?;
    bj.wait_for_order(id3, Duration::from_secs(20)).await?;
    central.post(&format!("/api/v1/orders/{id3}/cancel"), json!({})).await?.ok()?;
    let cancelled = wait_state(central, id3, "cancelled").await?;
    ensure!(parts(&cancelled).iter().all(|(_, s, _)| s == "cancelled"), "{cancelled}");
    for (sku, warehouse) in [(PEGASUS, "SH-01"), (EU43, "BJ-01")] {
        let (_, locked, committed, _) = central.level(sku, warehouse).await?;
        assert_eq!((locked, committed), (0, 0), "{sku} at {warehouse}");
    }

    // 4. A partly shipped order cancelled: what has not left stops, the parcel on its way
    // stays shipped, and the lines that stopped are told apart (payment refunds them).
    let fourth = central.create_order("split-4", &two_line_order()).await?.ok()?;
    let id4 = fourth["id"].as_u64().context("id")?;
    ensure!(parts(&fourth).len() == 2, "split again: {fourth}");
    central.post(&format!("/api/v1/orders/{id4}/pay"), json!({})).await?.ok()?;
    sh.fulfil(id4, "SF-SPLIT-SH-4").await?;
    wait_state(central, id4, "partly_shipped").await?;
    bj.wait_for_order(id4, Duration::from_secs(20)).await?;
    let cancelling = central.post(&format!("/api/v1/orders/{id4}/cancel"), json!({})).await?.ok()?;
    assert_eq!(parts(&cancelling), [part("SH-01", "shipped", PEGASUS), part("BJ-01", "cancelling", EU43)]);
    let again = central.post(&format!("/api/v1/orders/{id4}/cancel"), json!({})).await?.ok()?;
    assert_eq!(again["state"], "partly_shipped", "a repeated cancel answers as it is");
    let ended = wait_state(central, id4, "shipped").await?;
    assert_eq!(parts(&ended), [part("SH-01", "shipped", PEGASUS), part("BJ-01", "cancelled", EU43)]);
    let (_, locked, committed, _) = central.level(EU43, "BJ-01").await?;
    assert_eq!((locked, committed), (0, 0), "the Beijing part's stock is free again");

    // 5. A customer's first order, partly shipped: the parcel that came counts as bought, so
    // the seven-day rule (which needs a known return rate) approves a size return at once.
    sh.receive("A-01-01", PEGASUS_GTIN, 1).await?;
    sh.wait_synced(Duration::from_secs(20)).await?;
    let mut body = two_line_order();
    body["customer"] = json!("split-runner");
    let id5 = central.create_order("split-5", &body).await?.ok()?["id"].as_u64().context("id")?;
    central.post(&format!("/api/v1/orders/{id5}/pay"), json!({})).await?.ok()?;
    sh.fulfil(id5, "SF-SPLIT-SH-5").await?;
    wait_state(central, id5, "partly_shipped").await?;
    let ask = json!({"kind": "return_refund", "reason": "size", "lines": [{"sku": PEGASUS, "qty": 1}]});
    let request = central.http.post(central.url(&format!("/api/v1/orders/{id5}/after-sales"))).bearer_auth(ADMIN).header("Idempotency-Key", "split-5-return").json(&ask);
    let request = Reply::from(request.send().await?).await?.ok()?;
    assert_eq!((request["decided_by"].as_str(), request["warehouse"].as_str()), (Some("rule:seven-day-no-reason"), Some("SH-01")), "{request}");

    // Every parcel is one shipment in the journal, with its own lines and warehouse.
    let events = check_journal(central).await?;
    let shipped: Vec<(u64, String, String)> = events
        .iter()
        .filter(|e| e.kind() == "order_shipped")
        .map(|e| (e.event["order_id"].as_u64().unwrap_or(0), e.event["warehouse"].as_str().unwrap_or("").to_owned(), e.event["lines"][0]["sku"].as_str().unwrap_or("").to_owned()))
        .collect();
    let expected: Vec<(u64, String, String)> = [(id, "SH-01", PEGASUS), (id, "BJ-01", EU43), (id2, "SH-01", PEGASUS), (id2, "GZ-01", EU43), (id4, "SH-01", PEGASUS), (id5, "SH-01", PEGASUS)]
        .iter()
        .map(|(i, w, s)| (*i, (*w).to_owned(), (*s).to_owned()))
        .collect();
    assert_eq!(shipped, expected);
    let cancelled_events = events.iter().filter(|e| e.kind() == "order_cancelled" && e.event["order_id"] == id3).count();
    assert_eq!(cancelled_events, 1, "one cancel for the whole order");
    let sales = crate::journal::check_sales(central, &[PEGASUS, EU43]).await?;
    assert_eq!(sales[EU43].cancelled, 2, "order 3's pair and order 4's stopped part: {sales:?}");
    let stopped: Vec<&Value> = events.iter().filter(|e| e.kind() == "order_parts_cancelled").map(|e| &e.event).collect();
    assert_eq!(stopped.len(), 1, "{stopped:?}");
    assert_eq!((stopped[0]["order_id"].as_u64(), stopped[0]["lines"][0]["sku"].as_str()), (Some(id4), Some(EU43)), "{stopped:?}");
    Ok(())
}

