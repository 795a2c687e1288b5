//! Issue 11, finding 5 (the rest: an edge token pushing sequence numbers past the real edge).
//! Postmortem: a gap was already refused, but nothing stopped a holder of an edge's token from
//! pushing events that continue the stream — numbers the real edge had not reached yet. Central
//! applied them and moved the edge's high-water mark past the real edge; from then on it
//! answered every push of the real edge as a replay (200, nothing applied) with the forged
//! mark, the edge refused to acknowledge a mark beyond its own outbox and retried for ever, its
//! events were never applied, and central's /health said "ok". Now the edge sends its head
//! (the newest event it wrote); central refuses a push whose head is below the mark (409
//! `sync-ahead`) and one that skips ahead (409 `sync-gap` naming `expected_seq`), remembers
//! each refusal, and shows the stuck stream on /health (degraded, naming the warehouse) and
//! /metrics; HQ re-bases the stream (admin only, against the mark it saw, with an audit entry
//! and a journal event in the same transaction) and the real edge's events flow again; and HQ
//! replaces the leaked token (audited), after which it is refused.

use crate::helpers::*;
use anyhow::{Context, Result};
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_past_the_real_edge_stops_the_stream_visibly_until_hq_rebases_it_on_sqlite(
) -> Result<()> {
    forged_stream(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_past_the_real_edge_stops_the_stream_visibly_until_hq_rebases_it_on_postgres(
) -> Result<()> {
    forged_stream(Backend::Postgres).await
}

fn picked(seq: u64, order_id: u64) -> Value {
    json!({"seq": seq, "at_ms": 1, "kind": {"type": "order_picked", "order_id": order_id}})
}

async fn health(central: &Central) -> Result<Value> {
    Reply::from(central.http.get(central.url("/health")).send().await?)
        .await?
        .ok()
}

async fn forged_stream(backend: Backend) -> Result<()> {
    let world = World::start_on(backend, &[("SH-01", "Shanghai")]).await?;
    let (central, edge) = (&world.central, world.edge("SH-01"));
    edge.receive("A-01-01", PEGASUS_GTIN, 3).await?;
    edge.wait_synced(Duration::from_secs(20)).await?;
    let mark = central.sync_row("SH-01").await?["events_high_water"]
        .as_u64()
        .context("mark")?;
    assert_eq!(health(central).await?["status"], "ok");

    let attacker = reqwest::Client::new();
    let push = |events: Value| {
        attacker
            .post(central.url("/api/v1/sync/events"))
            .bearer_auth(edge_token("SH-01"))
            .json(&json!({"warehouse": "SH-01", "events": events}))
            .send()
    };

    // 1. A push that skips ahead is refused, names the seq it must start at, and shows.
    let skipped = Reply::from(push(json!([picked(mark + 1000, 900_000)])).await?).await?;
    assert_eq!(skipped.status, 409, "{:?}", skipped.body);
    assert!(
        skipped.body["type"]
            .as_str()
            .is_some_and(|t| t.ends_with("/sync-gap")),
        "{}",
        skipped.body
    );
    assert_eq!(
        (
            skipped.body["high_water"].as_u64(),
            skipped.body["expected_seq"].as_u64()
        ),
        (Some(mark), Some(mark + 1))
    );
    let row = central.sync_row("SH-01").await?;
    assert_eq!(
        (row["refused_pushes"].as_u64(), row["resend_from"].as_u64()),
        (Some(1), Some(mark + 1000)),
        "{row}"
    );
    let status = health(central).await?;
    assert_eq!(status["status"], "degraded", "{status}");
    assert_eq!(status["edge_streams"][0]["warehouse"], "SH-01", "{status}");
    let text = central.metrics().await?;
    assert_eq!(
        metric(
            &text,
            "tote_central_sync_refused_pushes{warehouse=\"SH-01\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &text,
            "tote_central_sync_stream_degraded{warehouse=\"SH-01\"}"
        ),
        Some(1.0)
    );

    // 2. The attack: 50 events that continue the stream, past anything the real edge wrote.
    // Central cannot tell them from the edge's own (same token, next numbers): it applies them
    // (none fits an order: each is kept aside, and shows as such).
    let forged: Vec<Value> = (1..=50).map(|i| picked(mark + i, 900_000 + i)).collect();
    let taken = Reply::from(push(Value::Array(forged)).await?).await?.ok()?;
    assert_eq!(
        (taken["high_water"].as_u64(), taken["applied"].as_u64()),
        (Some(mark + 50), Some(50))
    );
    let forged_mark = mark + 50;

    // 3. The real edge goes on working: its next event is mark + 1, far below central's mark.
    // Its push is refused as `sync-ahead` (never answered as a replay), its event stays in its
    // outbox, and both daemons say so.
    edge.receive("A-01-01", PEGASUS_GTIN, 2).await?;
    let refused = eventually(
        "central to refuse the real edge's push as sync-ahead",
        Duration::from_secs(20),
        || async {
            let row = central.sync_row("SH-01").await?;
            let ahead = row["last_refusal"]
                .as_str()
                .is_some_and(|why| why.starts_with("sync ahead"));
            Ok(ahead.then_some(row))
        },
    )
    .await?;
    assert_eq!(
        refused["edge_head"].as_u64(),
        Some(mark + 1),
        "the edge's head: {refused}"
    );
    assert_eq!(refused["resend_from"].as_u64(), Some(mark + 1), "{refused}");
    assert_eq!(refused["events_high_water"].as_u64(), Some(forged_mark));
    let status = health(central).await?;
    assert_eq!(status["status"], "degraded", "{status}");
    let stream = &status["edge_streams"][0];
    assert_eq!(stream["warehouse"], "SH-01");
    let problems = stream["problems"].to_string();
    assert!(
        problems.contains("refused")
            && problems.contains("has written only")
            && problems.contains("kept aside"),
        "{problems}"
    );
    let text = central.metrics().await?;
    assert!(
        metric(
            &text,
            "tote_central_sync_refused_pushes{warehouse=\"SH-01\"}"
        )
        .is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            "tote_central_sync_stream_degraded{warehouse=\"SH-01\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &text,
            "tote_central_sync_rejected_events_last_hour{warehouse=\"SH-01\"}"
        ),
        Some(50.0)
    );
    let (on_hand, ..) = central.level(PEGASUS, "SH-01").await?;
    assert_eq!(
        on_hand, 3,
        "the real receipt is not applied while the stream is refused"
    );
    let edge_status = edge.get("/api/v1/sync/status").await?.ok()?;
    assert_eq!(
        edge_status["events_pending"], 1,
        "the edge keeps its event: {edge_status}"
    );
    assert!(
        edge_status["central_ahead"]
            .as_str()
            .is_some_and(|s| s.contains("re-base")),
        "{edge_status}"
    );
    assert_eq!(edge.get("/health").await?.ok()?["status"], "degraded");
    let edge_metrics = Reply::from(edge.http.get(edge.url("/metrics")).send().await?)
        .await?
        .body
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        metric(&edge_metrics, "tote_edge_sync_central_ahead"),
        Some(1.0)
    );

    // 4. The recovery: HQ re-bases the stream to one below where the real edge resends from.
    let rebase_url = central.url("/api/v1/sync/streams/SH-01/rebase");
    let request = json!({"high_water": mark, "expected_high_water": forged_mark, "reason": "events 2..51 forged with a leaked token; token rotated"});
    let read_only = central
        .http
        .post(&rebase_url)
        .bearer_auth(READER)
        .json(&request)
        .send()
        .await?;
    assert_eq!(read_only.status(), 403, "a read-only token cannot re-base");
    let stale =
        json!({"high_water": mark, "expected_high_water": forged_mark - 1, "reason": "stale look"});
    let stale = Reply::from(
        central
            .http
            .post(&rebase_url)
            .bearer_auth(ADMIN)
            .json(&stale)
            .send()
            .await?,
    )
    .await?;
    assert_eq!(stale.status, 409, "{:?}", stale.body);
    assert_eq!(
        stale.body["high_water"].as_u64(),
        Some(forged_mark),
        "the answer names the mark: {}",
        stale.body
    );
    let bidi = json!({"high_water": mark, "expected_high_water": forged_mark, "reason": "fine\u{202E}enif"});
    assert_eq!(
        central
            .http
            .post(&rebase_url)
            .bearer_auth(ADMIN)
            .json(&bidi)
            .send()
            .await?
            .status(),
        422
    );
    assert_eq!(
        central.sync_row("SH-01").await?["events_high_water"].as_u64(),
        Some(forged_mark),
        "refused re-bases change nothing"
    );
    let done = central
        .post("/api/v1/sync/streams/SH-01/rebase", request)
        .await?
        .ok()?;
    assert_eq!(
        (
            done["from_high_water"].as_u64(),
            done["to_high_water"].as_u64()
        ),
        (Some(forged_mark), Some(mark)),
        "{done}"
    );

    // The audit entry and the journal event were written with it.
    let audit = central
        .get("/api/v1/audit?subject=warehouse:SH-01")
        .await?
        .ok()?;
    let entry = &audit[0];
    assert_eq!(
        (
            entry["id"].as_u64(),
            entry["action"].as_str(),
            entry["actor"].as_str()
        ),
        (
            done["audit_id"].as_u64(),
            Some("sync_rebase"),
            Some("admin")
        ),
        "{audit}"
    );
    assert_eq!(
        (
            entry["detail"]["from_high_water"].as_u64(),
            entry["detail"]["to_high_water"].as_u64()
        ),
        (Some(forged_mark), Some(mark))
    );
    assert!(
        entry["detail"]["last_refusal"]
            .as_str()
            .is_some_and(|why| why.starts_with("sync ahead")),
        "{entry}"
    );
    // The rebase's own entry, and the request's (every HQ write has one), nothing else about it.
    let rows = central
        .rows("SELECT action, subject FROM audit_log WHERE action LIKE '%rebase' ORDER BY action")
        .await?;
    assert_eq!(
        rows,
        [
            [
                "POST /api/v1/sync/streams/{warehouse}/rebase",
                "/api/v1/sync/streams/SH-01/rebase"
            ],
            ["sync_rebase", "warehouse:SH-01"]
        ]
    );
    let journal = central
        .rows("SELECT kind, subject FROM journal WHERE kind = 'edge_stream_rebased'")
        .await?;
    assert_eq!(journal, [["edge_stream_rebased", "warehouse:SH-01"]]);

    // 5. The real stream flows again: the edge's receipt arrives, nothing is refused any more.
    edge.wait_synced(Duration::from_secs(20)).await?;
    let (on_hand, ..) = central.level(PEGASUS, "SH-01").await?;
    assert_eq!(
        on_hand, 5,
        "the real edge's receipt is applied after the re-base"
    );
    let row = central.sync_row("SH-01").await?;
    assert_eq!(
        (
            row["events_high_water"].as_u64(),
            row["refused_pushes"].as_u64()
        ),
        (Some(mark + 1), Some(0)),
        "{row}"
    );
    let text = central.metrics().await?;
    assert_eq!(
        metric(
            &text,
            "tote_central_sync_refused_pushes{warehouse=\"SH-01\"}"
        ),
        Some(0.0)
    );
    let problems = health(central).await?["edge_streams"].to_string();
    assert!(
        !problems.contains("refused"),
        "only the forged events kept aside remain to look at: {problems}"
    );
    let edge_status = edge.get("/api/v1/sync/status").await?.ok()?;
    assert!(edge_status["central_ahead"].is_null(), "{edge_status}");
    assert_eq!(edge.get("/health").await?.ok()?["status"], "ok");
    // And it keeps flowing.
    edge.receive("A-01-01", PEGASUS_GTIN, 1).await?;
    edge.wait_synced(Duration::from_secs(20)).await?;
    assert_eq!(central.level(PEGASUS, "SH-01").await?.0, 6);

    // 6. The leaked token is retired: HQ gives the edge a new one (audited); the old one is
    // refused from then on, and the edge, restarted with the new one, flows on.
    let new_token = "edge-secret-SH-01-replaced-0123456789";
    let replaced = central
        .post(
            "/api/v1/warehouses/SH-01/edge-token",
            json!({"edge_token": new_token, "reason": "leaked; used to forge events"}),
        )
        .await?
        .ok()?;
    let again = Reply::from(push(json!([picked(mark + 3, 900_100)])).await?).await?;
    assert_eq!(
        again.status, 401,
        "the leaked token is refused: {:?}",
        again.body
    );
    lock(&edge.daemon).kill9();
    let config = world.dir.path().join("edge-SH-01.toml");
    let edge = Edge::from_daemon(
        Daemon::spawn_with_env(
            Kind::Edge,
            config,
            &[("TOTE_EDGE__CENTRAL__TOKEN", new_token)],
        )?,
        "SH-01",
    );
    edge.receive("A-01-01", PEGASUS_GTIN, 1).await?;
    edge.wait_synced(Duration::from_secs(20)).await?;
    assert_eq!(central.level(PEGASUS, "SH-01").await?.0, 7);
    let audit = central
        .get("/api/v1/audit?subject=warehouse:SH-01")
        .await?
        .ok()?;
    assert_eq!(
        (audit[0]["id"].as_u64(), audit[0]["action"].as_str()),
        (replaced["audit_id"].as_u64(), Some("edge_token_replaced")),
        "{audit}"
    );
    assert!(
        !audit.to_string().contains(new_token),
        "the audit log never holds the secret"
    );
    crate::journal::check_journal(central).await?;
    Ok(())
}
