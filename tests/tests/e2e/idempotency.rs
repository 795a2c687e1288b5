//! Replays change nothing: the same order request, the same sync batch, the same scan.

use crate::helpers::*;
use anyhow::{Context, Result};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_requests_and_sync_batches_change_nothing_on_sqlite() -> Result<()> {
    replays(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_requests_and_sync_batches_change_nothing_on_postgres() -> Result<()> {
    replays(Backend::Postgres).await
}

async fn replays(backend: Backend) -> Result<()> {
    let world = World::start_on(backend, &[("SH-01", "Shanghai")]).await?;
    let (central, sh) = (&world.central, world.edge("SH-01"));
    sh.receive("A-01-01", PEGASUS_GTIN, 5).await?;
    sh.wait_synced(Duration::from_secs(20)).await?;

    // Same key, same body: same order, same answer, one lock.
    let body = order_body(PEGASUS, 2, "Shanghai");
    let empty = central.data_checksum().await?;
    let first = central.create_order("same-key", &body).await?;
    let before = central.data_checksum().await?;
    assert_ne!(before, empty, "the checksum sees a new order");
    let second = central.create_order("same-key", &body).await?;
    assert_eq!(first.status, 201);
    assert_eq!(second.status, 201);
    assert_eq!(first.body, second.body);
    assert_eq!((first.replayed.as_deref(), second.replayed.as_deref()), (Some("false"), Some("true")), "a replay says so");
    assert_eq!(central.level(PEGASUS, "SH-01").await?, (5, 2, 0, 3));
    // Same key, other body (or the same body on another path): refused, nothing changes.
    let other = central.create_order("same-key", &order_body(PEGASUS, 1, "Shanghai")).await?;
    assert_eq!(other.status, 422);
    assert_eq!(other.content_type, "application/problem+json");
    assert_eq!(other.body["type"], "https://tote.dev/problems/idempotency-key-reused");
    let spu = json!({"id": "PEG40", "name": "Nike Air Zoom Pegasus 40", "brand": "Nike", "category": "Shoes > Running"});
    let request = central.http.post(central.url("/api/v1/spus")).bearer_auth(ADMIN).header("Idempotency-Key", "same-key").json(&spu);
    let elsewhere = Reply::from(request.send().await?).await?;
    assert_eq!(elsewhere.status, 422, "the key belongs to POST /api/v1/orders: {}", elsewhere.body);
    assert_eq!(elsewhere.body["type"], "https://tote.dev/problems/idempotency-key-reused");
    assert_eq!(central.level(PEGASUS, "SH-01").await?, (5, 2, 0, 3));
    assert_eq!(central.data_checksum().await?, before, "a replay or a reused key changed central's data");

    // Paying twice answers twice with the paid order and deducts once.
    let id = first.body["id"].as_u64().context("id")?;
    central.post(&format!("/api/v1/orders/{id}/pay"), json!({})).await?.ok()?;
    let again = central.post(&format!("/api/v1/orders/{id}/pay"), json!({})).await?.ok()?;
    assert_eq!(again["state"], "awaiting_shipment");
    assert_eq!(central.level(PEGASUS, "SH-01").await?, (5, 0, 2, 3));

    // The same item scan sent twice under one key picks one unit.
    let order = sh.wait_for_order(id, Duration::from_secs(20)).await?;
    let task = &order["tasks"][0];
    let scan = format!("/api/v1/pick-tasks/{}/scan", task["id"]);
    sh.post(&scan, json!({"code": "A-01-01"})).await?.ok()?;
    let a = sh.post_keyed(&scan, "scan-1", json!({"code": PEGASUS_GTIN})).await?;
    let b = sh.post_keyed(&scan, "scan-1", json!({"code": PEGASUS_GTIN})).await?;
    assert_eq!(a.status, 200);
    assert_eq!(a.body, b.body);
    let order = sh.get(&format!("/api/v1/orders/{id}")).await?.ok()?;
    assert_eq!(order["tasks"][0]["qty_picked"], 1);
    assert_eq!(order["state"], "picking");

    // Replaying a sync batch central already holds: applied 0, central's data unchanged.
    sh.wait_synced(Duration::from_secs(20)).await?;
    let before = central.data_checksum().await?;
    let events = vec![json!({"seq": 1, "at_ms": 1, "kind": {"type": "stock_received", "sku": PEGASUS, "qty": 5, "location": "A-01-01"}})];
    let replay = central
        .http
        .post(central.url("/api/v1/sync/events"))
        .bearer_auth(edge_token("SH-01"))
        .json(&json!({"warehouse": "SH-01", "events": events}))
        .send()
        .await?;
    assert_eq!(replay.status(), 200);
    let ack: serde_json::Value = replay.json().await?;
    assert_eq!(ack["applied"], 0);
    assert_eq!(central.data_checksum().await?, before, "a replayed batch must not change central");

    // Another warehouse's edge cannot move this order: its event is kept aside, not applied.
    let stranger = json!({"seq": 1, "at_ms": 1, "kind": {"type": "order_shipped", "order_id": id, "tracking_number": "X1", "carrier": "SF",
                                                          "lines": [{"sku": PEGASUS, "qty": 2}]}});
    central.add_warehouse("BJ-01", "Beijing").await?;
    let r = central
        .http
        .post(central.url("/api/v1/sync/events"))
        .bearer_auth(edge_token("BJ-01"))
        .json(&json!({"warehouse": "BJ-01", "events": [stranger]}))
        .send()
        .await?;
    assert_eq!(r.status(), 200, "the stream moves on");
    assert_eq!(central.order(id).await?["state"], "awaiting_shipment");
    assert_eq!(central.sync_row("BJ-01").await?["rejected_events"], 1);
    let rejects = central.get("/api/v1/sync/rejects?warehouse=BJ-01").await?.ok()?;
    assert_eq!(rejects[0]["seq"], 1);
    assert!(rejects[0]["reason"].as_str().unwrap_or("").contains("it is with SH-01"), "{rejects}");
    assert_eq!(rejects[0]["event"]["kind"]["type"], "order_shipped", "kept as the edge sent it");
    Ok(())
}

/// A client that retries while its first request is still being committed sends the same key
/// twice at once. Both must get the one SPU's answer — never "already exists" for a request
/// that succeeded. (Postmortem: on PostgreSQL the second transaction used to wait on the
/// first one's SPU row and answer 409 duplicate.)
async fn the_same_key_sent_twice_at_once_gets_one_answer(backend: Backend) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let central = Central::start_on(dir.path(), backend, 600_000)?;
    for n in 0..20 {
        let body = serde_json::json!({"id": format!("TWIN-{n}"), "name": "Twin", "brand": "Tote", "category": "Shoes"});
        let send = || {
            central.http.post(central.url("/api/v1/spus")).bearer_auth(ADMIN).header("Idempotency-Key", format!("twin-{n}")).json(&body).send()
        };
        let (a, b) = tokio::join!(send(), send());
        let (a, b) = (a?, b?);
        assert_eq!((a.status().as_u16(), b.status().as_u16()), (201, 201), "pair {n}");
        let replayed: Vec<String> = [&a, &b].iter().map(|r| r.headers()["idempotent-replayed"].to_str().unwrap_or("").to_owned()).collect();
        assert!(replayed.contains(&"true".to_owned()) && replayed.contains(&"false".to_owned()), "pair {n}: {replayed:?}");
        assert_eq!(a.text().await?, b.text().await?, "pair {n}: one answer");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_key_sent_twice_at_once_gets_one_answer_on_sqlite() -> Result<()> {
    the_same_key_sent_twice_at_once_gets_one_answer(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_key_sent_twice_at_once_gets_one_answer_on_postgres() -> Result<()> {
    the_same_key_sent_twice_at_once_gets_one_answer(Backend::Postgres).await
}
