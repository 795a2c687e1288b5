//! Issue 11, finding 5 (sync arithmetic). Postmortem: an edge event `stock_adjusted` with
//! delta 9223372036854775795 was accepted; on hand became i64::MAX, `sellable_total` wrapped
//! negative, and the next real event was refused 409 — the edge's stream stuck for good. And
//! `after=18446744073709551615` on `GET /sync/commands` was read as −1. Now an adjustment past
//! the bounds is refused as a business reject (kept aside, the stream flows on), and a cursor
//! past i64 is a 400.

use crate::helpers::*;
use anyhow::Result;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overflowing_adjustment_is_kept_aside_and_the_stream_flows_on() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let central = Central::start(dir.path())?;
    central.seed_catalog().await?;
    central.add_warehouse("SH-01", "Shanghai").await?;
    let edge = reqwest::Client::new();
    let push = |events: serde_json::Value| {
        edge.post(central.url("/api/v1/sync/events")).bearer_auth(edge_token("SH-01")).json(&json!({"warehouse": "SH-01", "events": events})).send()
    };
    let received = |seq: u64, qty: i64| json!({"seq": seq, "at_ms": 1, "kind": {"type": "stock_received", "sku": PEGASUS, "qty": qty, "location": "A-01-01"}});
    let adjusted = |seq: u64, delta: i64| json!({"seq": seq, "at_ms": 1, "kind": {"type": "stock_adjusted", "sku": PEGASUS, "delta": delta, "reason": "found", "location": "A-01-01"}});

    assert_eq!(push(json!([received(1, 3)])).await?.status(), 200);
    for (seq, delta) in [(2, 9_223_372_036_854_775_795_i64), (3, -9_223_372_036_854_775_000), (4, 1_000_001)] {
        let answer = push(json!([adjusted(seq, delta)])).await?;
        assert_eq!(answer.status(), 200, "delta {delta}: the push is taken, the event kept aside");
    }
    let (on_hand, _, _, sellable) = central.level(PEGASUS, "SH-01").await?;
    assert_eq!((on_hand, sellable), (3, 3), "no adjustment past the bounds changed the stock");
    let rejects = central.get("/api/v1/sync/rejects").await?.ok()?;
    assert_eq!(rejects.as_array().map(Vec::len), Some(3), "each is kept aside with its reason: {rejects}");
    assert!(rejects.to_string().contains("cannot change by"), "{rejects}");

    // The stream still flows: the next real events apply.
    assert_eq!(push(json!([received(5, 2), adjusted(6, -1)])).await?.status(), 200);
    let (on_hand, _, _, sellable) = central.level(PEGASUS, "SH-01").await?;
    assert_eq!((on_hand, sellable), (4, 4));
    let product = central.get(&format!("/api/v1/skus/{PEGASUS}")).await?.ok()?;
    assert_eq!(product["sellable_total"], 4);

    // A cursor past what the database counts in is refused, not read as a negative number.
    let pull = edge
        .get(central.url("/api/v1/sync/commands?after=18446744073709551615&wait_ms=0"))
        .bearer_auth(edge_token("SH-01"))
        .send()
        .await?;
    assert_eq!(pull.status(), 400);
    let pull = edge.get(central.url(&format!("/api/v1/sync/commands?after={}&wait_ms=0", i64::MAX))).bearer_auth(edge_token("SH-01")).send().await?;
    assert_eq!(pull.status(), 200);
    Ok(())
}
