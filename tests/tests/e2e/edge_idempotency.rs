//! The edge's Idempotency-Keys answer one request each: the same request again gets the stored
//! answer, and the same key on another request (body, path or caller) is refused with a 422
//! that changes nothing.
//!
//! Postmortem: the edge stored key → answer without the request, so a handheld or integration
//! that reused a key for a different receipt got the first receipt's answer back with a 201,
//! and the second receipt was silently never booked.
//!
//! "Changes nothing" is checked on the edge's whole SQLite file (`db_checksum`), taken once the
//! outbox has drained (`wait_synced`): after that nothing on this edge writes by itself (no
//! robots, pods, PLCs or printer jobs are configured; the pruner only drops rows older than
//! their retention of hours), so any change between two checksums is the request's doing.

use crate::helpers::*;
use anyhow::{Context, Result};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

/// One keyed POST: its status, its `idempotent-replayed` header and its JSON body.
struct Answer {
    status: StatusCode,
    replayed: Option<String>,
    content_type: String,
    body: Value,
}

async fn post_keyed(http: &Client, edge: &Edge, path: &str, key: &str, body: &Value) -> Result<Answer> {
    let response = http.post(edge.url(path)).header("Idempotency-Key", key).json(body).send().await?;
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (status, replayed, content_type) = (response.status(), header("idempotent-replayed"), header("content-type").unwrap_or_default());
    let body = response.json().await.context("a JSON body")?;
    Ok(Answer { status, replayed, content_type, body })
}

fn assert_reused(answer: &Answer, what: &str) {
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {}", answer.body);
    assert_eq!(answer.content_type, "application/problem+json", "{what}");
    assert_eq!(answer.body["type"], "https://tote.dev/problems/idempotency-key-reused", "{what}: {}", answer.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_request_replays_and_a_key_reused_for_another_body_or_path_changes_nothing() -> Result<()> {
    let world = World::start(&[("SH-01", "Shanghai")]).await?;
    let sh = world.edge("SH-01");
    let db = world.dir.path().join("edge-SH-01.sqlite");
    let receipt = json!({"location": "A-01-01", "gtin": PEGASUS_GTIN, "qty": 5});

    // Same key, same request: the stored answer, marked as a replay; received once.
    let first = post_keyed(&sh.http, sh, "/api/v1/receipts", "rcv-1", &receipt).await?;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(first.replayed.as_deref(), Some("false"));
    // The same fields in another order and spacing are the same request.
    let respelled: Value = serde_json::from_str(&format!(r#"{{ "qty": 5, "gtin": "{PEGASUS_GTIN}",  "location": "A-01-01" }}"#))?;
    let again = post_keyed(&sh.http, sh, "/api/v1/receipts", "rcv-1", &respelled).await?;
    assert_eq!(again.status, first.status);
    assert_eq!(again.replayed.as_deref(), Some("true"));
    assert_eq!(again.body, first.body);
    let stock = sh.get(&format!("/api/v1/stock?sku={PEGASUS}&location=A-01-01")).await?.ok()?;
    assert_eq!(stock[0]["qty"], 5, "received once: {stock}");

    sh.wait_synced(Duration::from_secs(20)).await?;
    let before = db_checksum(&db)?;

    // Same key, another body: refused, nothing booked, no answer replayed.
    let other_qty = post_keyed(&sh.http, sh, "/api/v1/receipts", "rcv-1", &json!({"location": "A-01-01", "gtin": PEGASUS_GTIN, "qty": 4})).await?;
    assert_reused(&other_qty, "another quantity");
    // Same key on another resource (its own valid body): refused too.
    let adjustment = json!({"location": "A-01-01", "sku": PEGASUS, "reason": "damage", "delta": -1});
    let other_path = post_keyed(&sh.http, sh, "/api/v1/adjustments", "rcv-1", &adjustment).await?;
    assert_reused(&other_path, "the receipt's key on an adjustment");
    assert_eq!(db_checksum(&db)?, before, "a reused key must change nothing on the edge");

    // The adjustment itself, under a key of its own, goes through and replays like the receipt.
    let adjusted = post_keyed(&sh.http, sh, "/api/v1/adjustments", "adj-1", &adjustment).await?;
    assert_eq!(adjusted.status, StatusCode::OK, "{}", adjusted.body);
    let replayed = post_keyed(&sh.http, sh, "/api/v1/adjustments", "adj-1", &adjustment).await?;
    assert_eq!((replayed.status, replayed.replayed.as_deref()), (StatusCode::OK, Some("true")));
    assert_eq!(replayed.body, adjusted.body);

    // Same key, same body, same route, another resource: submitting count A's empty tally
    // under its key to count B is another request (the path names the count).
    let count_a = sh.post_keyed("/api/v1/counts", "count-a", json!({"location": "A-01-01"})).await?.ok()?;
    let count_b = sh.post_keyed("/api/v1/counts", "count-b", json!({"location": "RCV"})).await?.ok()?;
    let (a, b) = (count_a["id"].as_u64().context("count id")?, count_b["id"].as_u64().context("count id")?);
    let empty = json!({"lines": []});
    let submitted = post_keyed(&sh.http, sh, &format!("/api/v1/counts/{a}/submit"), "submit-1", &empty).await?;
    assert_eq!(submitted.status, StatusCode::OK, "{}", submitted.body);
    assert_eq!(submitted.body["state"], "recount", "A-01-01 holds 4, the tally said none");
    sh.wait_synced(Duration::from_secs(20)).await?;
    let before = db_checksum(&db)?;
    let elsewhere = post_keyed(&sh.http, sh, &format!("/api/v1/counts/{b}/submit"), "submit-1", &empty).await?;
    assert_reused(&elsewhere, "count A's key on count B");
    assert_eq!(db_checksum(&db)?, before, "count B was not submitted");
    assert_eq!(sh.get(&format!("/api/v1/counts/{b}")).await?.ok()?["state"], "counting");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_reused_by_another_caller_is_refused_and_changes_nothing() -> Result<()> {
    let world = World::start(&[("SH-01", "Shanghai")]).await?;
    let sh = world.edge("SH-01");
    let db = world.dir.path().join("edge-SH-01.sqlite");
    sh.post("/api/v1/workers", json!({"id": "li", "name": "Li Wei", "pin": "1357", "roles": ["receiver"]})).await?.ok()?;
    let signed_in = sh.post("/api/v1/session", json!({"worker": "li", "pin": "1357"})).await?.ok()?;
    let token = signed_in["token"].as_str().context("session token")?;
    let li = client();
    let as_li = |path: &str, key: &str, body: &Value| li.post(sh.url(path)).bearer_auth(token).header("Idempotency-Key", key).json(body).send();

    let receipt = json!({"location": "A-01-01", "gtin": PEGASUS_GTIN, "qty": 2});
    let by_token = post_keyed(&sh.http, sh, "/api/v1/receipts", "shared-key", &receipt).await?;
    assert_eq!(by_token.status, StatusCode::CREATED, "{}", by_token.body);
    sh.wait_synced(Duration::from_secs(20)).await?;
    let before = db_checksum(&db)?;

    // Li sends the very same receipt under the API token's key: not her request to replay.
    let by_li = as_li("/api/v1/receipts", "shared-key", &receipt).await?;
    assert_eq!(by_li.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = by_li.json().await?;
    assert_eq!(problem["type"], "https://tote.dev/problems/idempotency-key-reused", "{problem}");
    assert_eq!(db_checksum(&db)?, before, "nothing booked for Li");

    // Her own key works, and her retry of it replays.
    let mine = as_li("/api/v1/receipts", "li-1", &receipt).await?;
    assert_eq!(mine.status(), StatusCode::CREATED);
    let retry = as_li("/api/v1/receipts", "li-1", &receipt).await?;
    assert_eq!(retry.headers().get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));
    let stock = sh.get(&format!("/api/v1/stock?sku={PEGASUS}&location=A-01-01")).await?.ok()?;
    assert_eq!(stock[0]["qty"], 4, "two receipts of 2, each booked once: {stock}");
    Ok(())
}
