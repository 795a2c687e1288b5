//! The edge sync endpoints: push events up, long-poll commands down, and lag for HQ.

use super::rebase::{self, Rebase, Rebased};
use super::{commands, events, stream_problems, EdgeSyncRow, PushWatch, RejectedEvent, SyncError, REJECT_WINDOW_MS};
use crate::auth::{Admin, Edge, Reader};
use crate::http::check_text;
use crate::http::keyed::{keyed_write, Keyed};
use crate::db::DbError;
use crate::http::error::ApiError;
use crate::startup::AppState;
use crate::warehouses::store::code;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use std::sync::atomic::Ordering;
use std::time::Duration;
use tote_shared::openapi as doc;
use tote_shared::runtime::http::{Json, Path, Query};
use tote_shared::runtime::system::now_ms;
use tote_shared::sync::{PullResponse, PushAck, PushBatch, MAX_PULL_BATCH, MAX_PULL_WAIT_MS, MAX_PUSH_BATCH};
use tote_shared::WarehouseCode;

#[utoipa::path(post, path = "/api/v1/sync/events", request_body = PushBatch, security(("edge" = [])),
    responses((status = 200, body = PushAck), doc::JsonBody, doc::Unauthorized,
        (status = 403, description = "the credential belongs to another warehouse", body = doc::ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "The stream rule refused the push, and nothing of it was applied: `sync-gap` (a problem with `high_water` and `expected_seq`) — the first new event must be `expected_seq` = `high_water` + 1, resend from there; `sync-ahead` (a problem with `high_water` and `edge_head`) — central holds events up to `high_water`, more than the `head` this edge says it has written: nothing the edge sends fixes it, HQ re-bases the stream (`POST /api/v1/sync/streams/{warehouse}/rebase`).", body = doc::ProblemSchema, content_type = "application/problem+json"),
        doc::Unavailable), tag = "sync")]
pub async fn push_events(Edge(warehouse): Edge, State(state): State<AppState>, Json(batch): Json<PushBatch>) -> Result<Json<PushAck>, ApiError> {
    if batch.warehouse != warehouse {
        return Err(ApiError::Forbidden(format!("this credential belongs to {warehouse}, not {}", batch.warehouse)));
    }
    if batch.events.len() > MAX_PUSH_BATCH {
        return Err(ApiError::unprocessable("batch-too-large", format!("at most {MAX_PUSH_BATCH} events per push")));
    }
    if batch.events.windows(2).any(|w| w[1].seq <= w[0].seq) {
        return Err(ApiError::unprocessable("unordered-batch", "events must be in strictly increasing seq order"));
    }
    // The database counts in i64: a larger number would be stored as a negative one.
    if batch.head.into_iter().chain(batch.events.last().map(|e| e.seq)).any(|seq| i64::try_from(seq).is_err()) {
        return Err(ApiError::BadRequest(format!("sequence numbers must be at most {}", i64::MAX)));
    }
    let (events, head) = (batch.events, batch.head);
    // A received return may have asked a channel for a refund: the payment dispatcher sends it
    // now rather than at its next round.
    let refunds_maybe = events.iter().any(|e| matches!(e.kind, tote_shared::sync::EdgeEventKind::ReturnReceived { .. }));
    let resend_from = events.first().map(|e| e.seq);
    let now = now_ms();
    let wh = warehouse.clone();
    let outcome = state.write(move |tx| events::apply_events(tx, &wh, &events, head, now)).await;
    let ack = match outcome {
        Ok(ack) => ack,
        Err(refused) if refused.is_refusal() => {
            // Remembered, so a stuck stream shows on /health and /metrics; the push itself
            // wrote nothing.
            let why = refused.to_string();
            tracing::warn!(%warehouse, ?head, ?resend_from, reason = %why, "edge push refused");
            state.telemetry.watch_push(&warehouse, |pushes| pushes.refused(head, resend_from, why, now));
            return Err(refused.into());
        }
        Err(other) => return Err(other.into()),
    };
    if ack.applied > 0 {
        state.telemetry.watch_push(&warehouse, |pushes| pushes.flowing(head));
    } else if head.is_some() {
        state.telemetry.watch_push(&warehouse, |pushes| pushes.edge_head = head);
    }
    state.telemetry.events_applied.fetch_add(ack.applied, Ordering::Relaxed);
    if refunds_maybe && ack.applied > 0 {
        state.signals.payments.notify_one();
    }
    Ok(Json(ack))
}

/// Sets an edge's event stream mark by hand, with an audit entry and a journal event in the
/// same transaction (see `rebase`): how HQ recovers a stream refused as `sync-ahead` (central
/// holds events the edge never wrote) or stuck on a gap the edge cannot fill. Admin only.
#[utoipa::path(post, path = "/api/v1/sync/streams/{warehouse}/rebase", params(("warehouse" = WarehouseCode, Path), doc::IdempotencyKey), request_body = Rebase,
    responses((status = 200, description = "the mark moved; its audit entry and journal event written with it", body = Rebased),
        doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound,
        (status = 409, description = "`high-water-moved` (a problem with `high_water`, the mark now): the stream's mark is no longer `expected_high_water`; nothing changed — look again (`GET /api/v1/sync/status`)", body = doc::ProblemSchema, content_type = "application/problem+json"),
        doc::Unavailable), tag = "sync")]
pub async fn rebase(_: Admin, State(state): State<AppState>, Path(warehouse): Path<WarehouseCode>, key: Keyed, Json(request): Json<Rebase>) -> Result<Response, ApiError> {
    check_text("reason", &request.reason, 500)?;
    let keyed = key.fingerprint(&request)?;
    let now = now_ms();
    let seen = state.telemetry.push_watches().remove(warehouse.as_str()).unwrap_or_default();
    let wh = warehouse.clone();
    let response = keyed_write(&state, keyed, StatusCode::OK, move |tx| rebase::rebase(tx, &wh, &request, &seen, "admin", now)).await?;
    if response.status().is_success() {
        state.telemetry.watch_push(&warehouse, |pushes| pushes.flowing(None));
    }
    Ok(response)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PullQuery {
    /// The edge's cursor: the last command sequence it applied.
    #[param(minimum = 0, maximum = 9223372036854775807_i64)]
    pub after: u64,
    /// Long-poll: wait up to this long for new commands (max 30,000).
    #[serde(default)]
    #[param(minimum = 0, maximum = 30000)]
    pub wait_ms: u64,
    /// At most 500 commands are answered whatever this says; default 500.
    #[serde(default)]
    #[param(minimum = 0, maximum = 4294967295_i64)]
    pub limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/sync/commands", params(PullQuery), security(("edge" = [])),
    responses((status = 200, body = PullResponse), doc::BadRequest, doc::Unauthorized, doc::Unavailable), tag = "sync")]
pub async fn pull_commands(Edge(warehouse): Edge, State(state): State<AppState>, Query(q): Query<PullQuery>) -> Result<Json<PullResponse>, ApiError> {
    if q.wait_ms > MAX_PULL_WAIT_MS {
        return Err(ApiError::BadRequest(format!("wait_ms must be at most {MAX_PULL_WAIT_MS}")));
    }
    // The database counts in i64: a cursor past it would be read as a negative number.
    if i64::try_from(q.after).is_err() {
        return Err(ApiError::BadRequest(format!("after must be at most {}", i64::MAX)));
    }
    let limit = q.limit.unwrap_or(MAX_PULL_BATCH as u32).clamp(1, MAX_PULL_BATCH as u32);
    state.telemetry.record_pull(&warehouse, q.after);
    let deadline = tokio::time::Instant::now() + Duration::from_millis(q.wait_ms);
    // Subscribe before reading so a command queued in between still wakes us.
    let mut queued = state.signals.subscribe_commands();
    loop {
        let wh = warehouse.clone();
        let after = q.after;
        let response = state.db.read(move |tx| -> Result<_, SyncError> { Ok(commands::pull(tx, &wh, after, limit)?) }).await?;
        if !response.commands.is_empty() || tokio::time::Instant::now() >= deadline {
            return Ok(Json(response));
        }
        tokio::select! {
            changed = queued.changed() => if changed.is_err() { return Ok(Json(response)); },
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EdgeLag {
    #[serde(flatten)]
    pub stream: EdgeSyncRow,
    /// What central saw of the edge's pushes since it started: its head, refused pushes.
    #[serde(flatten)]
    pub pushes: PushWatch,
    /// What needs HQ's attention (empty while the stream flows).
    pub problems: Vec<String>,
    /// The edge's command cursor at its last pull (since central started).
    pub commands_pulled_after: Option<u64>,
    pub last_pull_ms: Option<i64>,
    /// Commands queued but not yet confirmed pulled.
    pub commands_pending: Option<u64>,
}

#[utoipa::path(get, path = "/api/v1/sync/status", responses((status = 200, body = Vec<EdgeLag>), doc::Unauthorized, doc::Unavailable), tag = "sync")]
pub async fn status(_: Reader, State(state): State<AppState>) -> Result<Json<Vec<EdgeLag>>, ApiError> {
    Ok(Json(edge_lags(&state).await?))
}

pub async fn edge_lags(state: &AppState) -> Result<Vec<EdgeLag>, ApiError> {
    let recent_since_ms = now_ms() - REJECT_WINDOW_MS;
    let rows = state.db.read(move |tx| -> Result<Vec<EdgeSyncRow>, DbError> { commands::status(tx, recent_since_ms) }).await?;
    let pulls = state.telemetry.pulls();
    let mut pushes = state.telemetry.push_watches();
    let now = now_ms();
    Ok(rows
        .into_iter()
        .map(|stream| {
            let pull = pulls.get(stream.warehouse.as_str()).copied();
            let pushes = pushes.remove(stream.warehouse.as_str()).unwrap_or_default();
            EdgeLag {
                problems: stream_problems(&stream, &pushes, now),
                pushes,
                commands_pulled_after: pull.map(|p| p.0),
                last_pull_ms: pull.map(|p| p.1),
                commands_pending: pull.map(|p| stream.commands_latest_seq.saturating_sub(p.0)),
                stream,
            }
        })
        .collect())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RejectQuery {
    pub warehouse: Option<tote_shared::WarehouseCode>,
    /// At most 1,000; default 100.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// Edge events central could not fit to an order (kept aside, never dropped), newest first.
#[utoipa::path(get, path = "/api/v1/sync/rejects", params(RejectQuery),
    responses((status = 200, body = Vec<RejectedEvent>), doc::BadRequest, doc::Unauthorized, doc::Unavailable), tag = "sync")]
pub async fn rejects(_: Reader, State(state): State<AppState>, Query(q): Query<RejectQuery>) -> Result<Json<Vec<RejectedEvent>>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be between 1 and 1000".into()));
    }
    let rows = state
        .db
        .read(move |tx| -> Result<Vec<RejectedEvent>, DbError> {
            commands::rejects(tx, q.warehouse.as_ref(), limit)?
                .into_iter()
                .map(|(warehouse, seq, at_ms, reason, event)| {
                    let event = serde_json::from_str(&event).map_err(|e| DbError::corrupt(e.to_string()))?;
                    Ok(RejectedEvent { warehouse: code(&warehouse)?, seq, at_ms, reason, event })
                })
                .collect()
        })
        .await?;
    Ok(Json(rows))
}
