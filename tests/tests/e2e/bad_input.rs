//! Malformed requests across both APIs: each gets a precise 4xx problem+json, and neither
//! database changes (checksums of every table before and after; central's on either backend).

use crate::helpers::*;
use anyhow::{Context, Result};
use reqwest::{Client, RequestBuilder};
use serde_json::{json, Value};
use std::time::Duration;

struct Case {
    name: &'static str,
    request: RequestBuilder,
    status: u16,
    /// The problem type's last path segment.
    problem: &'static str,
}

fn case(name: &'static str, request: RequestBuilder, status: u16, problem: &'static str) -> Case {
    Case { name, request, status, problem }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_precise_problems_and_change_no_data_on_sqlite() -> Result<()> {
    malformed_requests(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_precise_problems_and_change_no_data_on_postgres() -> Result<()> {
    malformed_requests(Backend::Postgres).await
}

async fn malformed_requests(backend: Backend) -> Result<()> {
    let world = World::start_on(backend, &[("SH-01", "Shanghai"), ("BJ-01", "Beijing")]).await?;
    let (central, sh) = (&world.central, world.edge("SH-01"));
    sh.receive("A-01-01", PEGASUS_GTIN, 3).await?;
    sh.wait_synced(Duration::from_secs(20)).await?;
    let order = central.create_order("bad-input-setup", &order_body(PEGASUS, 1, "Shanghai")).await?.ok()?;
    let id = order["id"].as_u64().context("id")?;
    central.post(&format!("/api/v1/orders/{id}/pay"), json!({})).await?.ok()?;
    let released = sh.wait_for_order(id, Duration::from_secs(20)).await?;
    let task_id = released["tasks"][0]["id"].as_u64().context("task")?;
    let scan = sh.url(&format!("/api/v1/pick-tasks/{task_id}/scan"));
    sh.post(&format!("/api/v1/pick-tasks/{task_id}/scan"), json!({"code": "A-01-01"})).await?.ok()?;
    for e in &world.edges {
        e.wait_synced(Duration::from_secs(20)).await?;
    }
    let edge_db = world.dir.path().join("edge-SH-01.sqlite");
    let before = (central.data_checksum().await?, db_checksum(&edge_db)?);

    let http = Client::new();
    let orders = central.url("/api/v1/orders");
    let sync = central.url("/api/v1/sync/events");
    let admin = |b: RequestBuilder| b.bearer_auth(ADMIN);
    let keyed = |b: RequestBuilder| b.bearer_auth(ADMIN).header("Idempotency-Key", "bad-1");
    let line = |sku: &str, qty: i64| json!({"channel": "app", "lines": [{"sku": sku, "qty": qty}], "ship_to": {"name": "A", "line1": "1 Bund Road", "city": "Shanghai"}});
    // Just over the 64 KiB limit: small enough to sit in the socket buffer whole, so the client
    // finishes writing before the server answers 413 and closes (a bigger body races that close).
    let big = "x".repeat(70_000);
    let event = |seq: u64, sku: &str| json!({"seq": seq, "at_ms": 1, "kind": {"type": "stock_received", "sku": sku, "qty": 1, "location": "A-01-01"}});
    let cases = vec![
        case("central: not JSON", keyed(http.post(&orders)).header("content-type", "application/json").body("{\"channel\":"), 400, "malformed-json"),
        case("central: unknown SKU", keyed(http.post(&orders)).json(&line("NOPE-1", 1)), 422, "unknown-sku"),
        case("central: negative quantity", keyed(http.post(&orders)).json(&line(PEGASUS, -1)), 422, "invalid-body"),
        case("central: zero quantity", keyed(http.post(&orders)).json(&line(PEGASUS, 0)), 422, "invalid-body"),
        case("central: huge quantity", keyed(http.post(&orders)).json(&line(PEGASUS, 10_000_000_000)), 422, "invalid-body"),
        case("central: no Idempotency-Key", admin(http.post(&orders)).json(&line(PEGASUS, 1)), 400, "bad-request"),
        case("central: unknown city", keyed(http.post(&orders)).json(&json!({"channel": "app", "lines": [{"sku": PEGASUS, "qty": 1}], "ship_to": {"name": "A", "line1": "1 Bund Road", "city": "Atlantis"}})), 422, "unknown-city"),
        case("central: no lines", keyed(http.post(&orders)).json(&json!({"channel": "app", "lines": [], "ship_to": {"name": "A", "line1": "1 Bund Road", "city": "Shanghai"}})), 422, "invalid-lines"),
        case("central: unknown field", keyed(http.post(&orders)).json(&json!({"channel": "app", "lines": [], "ship_to": {"name": "A", "line1": "1 Bund Road", "city": "Shanghai"}, "coupon": "X"})), 422, "invalid-body"),
        case("central: oversized body", keyed(http.post(&orders)).header("content-type", "application/json").body(format!("{{\"channel\":\"{big}\"}}")), 413, "body-too-large"),
        case("central: no token", http.post(&orders).header("Idempotency-Key", "k").json(&line(PEGASUS, 1)), 401, "unauthorized"),
        case("central: read-only token writes", http.post(&orders).bearer_auth(READER).header("Idempotency-Key", "k").json(&line(PEGASUS, 1)), 403, "forbidden"),
        case("central: wrong content type", keyed(http.post(&orders)).header("content-type", "text/plain").body("{}"), 415, "unsupported-media-type"),
        case("central: bad GTIN check digit", admin(http.post(central.url("/api/v1/skus"))).json(&json!({"sku": "PEG39-M-WHT-45", "spu_id": "PEG39", "gtin": "1958661377385", "gender": "men", "colour": "white", "size": "EU 45", "price": 1, "cost": 1})), 422, "invalid-body"),
        case("central: weak edge token", admin(http.post(central.url("/api/v1/warehouses"))).json(&json!({"code": "GZ-01", "name": "G", "city": "Guangzhou", "edge_token": "short"})), 422, "weak-token"),
        case("central: order id not a number", http.get(central.url("/api/v1/orders/abc")).bearer_auth(READER), 400, "invalid-path"),
        case("central: pay unknown order", admin(http.post(central.url("/api/v1/orders/999999/pay"))), 404, "not-found"),
        case("central: unknown route", http.get(central.url("/api/v2/orders")).bearer_auth(READER), 404, "not-found"),
        case("sync: wrong edge credential", http.post(&sync).bearer_auth("edge-secret-XX-99-not-a-real-token").json(&json!({"warehouse": "SH-01", "events": []})), 401, "unauthorized"),
        case("sync: edge writes for another warehouse", http.post(&sync).bearer_auth(edge_token("SH-01")).json(&json!({"warehouse": "BJ-01", "events": [event(99, PEGASUS)]})), 403, "forbidden"),
        case("sync: gap in sequence", http.post(&sync).bearer_auth(edge_token("SH-01")).json(&json!({"warehouse": "SH-01", "events": [event(999, PEGASUS)]})), 409, "sync-gap"),
        case("sync: malformed SKU in event", http.post(&sync).bearer_auth(edge_token("SH-01")).json(&json!({"warehouse": "SH-01", "events": [event(999, "bad sku")]})), 422, "invalid-body"),
        case("edge: not JSON", sh.http.post(sh.url("/api/v1/receipts")).header("content-type", "application/json").body("{\"location\": \"A-01"), 400, "malformed-json"),
        case("edge: unknown barcode", sh.http.post(sh.url("/api/v1/receipts")).json(&json!({"location": "A-01-01", "gtin": "4006381333931", "qty": 1})), 404, "not-found"),
        case("edge: barcode with bad check digit", sh.http.post(sh.url("/api/v1/receipts")).json(&json!({"location": "A-01-01", "gtin": "4006381333932", "qty": 1})), 422, "invalid"),
        case("edge: negative receipt", sh.http.post(sh.url("/api/v1/receipts")).json(&json!({"location": "A-01-01", "gtin": PEGASUS_GTIN, "qty": -4})), 422, "invalid-body"),
        case("edge: unknown location", sh.http.post(sh.url("/api/v1/receipts")).json(&json!({"location": "Z-99", "gtin": PEGASUS_GTIN, "qty": 1})), 404, "not-found"),
        case("edge: receive into outbound staging", sh.http.post(sh.url("/api/v1/receipts")).json(&json!({"location": "OUT", "gtin": PEGASUS_GTIN, "qty": 1})), 422, "invalid"),
        case("edge: wrong item scanned", sh.http.post(&scan).json(&json!({"code": "1958661377391"})), 422, "wrong-scan"),
        case("edge: location scanned instead of item", sh.http.post(&scan).json(&json!({"code": "A-01-02"})), 422, "wrong-scan"),
        case("edge: ship before packing", sh.http.post(sh.url(&format!("/api/v1/orders/{id}/ship"))).json(&json!({"carrier": "SF", "tracking_number": "SF1"})), 409, "conflict"),
        case("edge: negative count", sh.http.post(sh.url("/api/v1/adjustments")).json(&json!({"location": "A-01-01", "sku": PEGASUS, "reason": "count", "counted": -2})), 422, "invalid"),
        case("edge: no session", http.post(sh.url("/api/v1/receipts")).json(&json!({"location": "A-01-01", "gtin": PEGASUS_GTIN, "qty": 1})), 401, "unauthorized"),
        case("edge: forged session cookie", http.get(sh.url("/api/v1/stock")).header("cookie", "tote_session=00ff00ff"), 401, "unauthorized"),
        case("edge: sign-in with neither badge nor PIN", http.post(sh.url("/api/v1/session")).json(&json!({"worker": "li"})), 400, "bad-request"),
        case("edge: oversized body", sh.http.post(sh.url("/api/v1/receipts")).header("content-type", "application/json").body(format!("{{\"lot\":\"{big}\"}}")), 413, "body-too-large"),
    ];
    assert!(cases.len() >= 20);
    let mut failures = Vec::new();
    for c in cases {
        let response = c.request.send().await?;
        let status = response.status().as_u16();
        let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let problem = body["type"].as_str().unwrap_or("").rsplit('/').next().unwrap_or("").to_owned();
        let precise = body["detail"].as_str().is_some_and(|d| !d.is_empty()) && body["status"] == status;
        if status != c.status || problem != c.problem || content_type != "application/problem+json" || !precise {
            failures.push(format!("{}: got {status} {problem} ({content_type}) {body}", c.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let wrong = sh.http.post(&scan).json(&json!({"code": "1958661377391"})).send().await?.json::<Value>().await?;
    assert_eq!(wrong["expected"], format!("{PEGASUS_GTIN} ({PEGASUS})"), "a wrong scan says what was expected");
    assert_eq!(wrong["scanned"], "1958661377391");
    assert_eq!((central.data_checksum().await?, db_checksum(&edge_db)?), before, "bad input changed a database");
    Ok(())
}
