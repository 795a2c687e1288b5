//! Liveness, Prometheus metrics and the sync status (is HQ reachable, how much is waiting).

use super::error::ApiError;
use crate::startup::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;
use std::sync::atomic::Ordering;
use tote_shared::openapi as doc;
use tote_shared::runtime::http::Json;
use tote_shared::runtime::metrics::MetricsText;
use tote_shared::runtime::system::now_ms;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SyncStatus {
    pub warehouse: String,
    pub central_reachable: bool,
    /// Events written here that central has not acknowledged yet.
    pub events_pending: u64,
    pub events_written: u64,
    pub events_acked: u64,
    pub command_cursor: u64,
    pub last_push_ok_ms: Option<i64>,
    pub last_pull_ok_ms: Option<i64>,
    pub last_error: Option<String>,
    /// Set while central refuses this edge's pushes because it holds events the edge never
    /// wrote: HQ must re-base the stream.
    pub central_ahead: Option<String>,
}

async fn sync_status_of(state: &AppState) -> Result<SyncStatus, ApiError> {
    let c = state.store.counters().await?;
    let h = &state.sync_health;
    let at = |v: i64| (v > 0).then_some(v);
    Ok(SyncStatus {
        warehouse: state.settings.warehouse.to_string(),
        central_reachable: h.central_reachable.load(Ordering::Relaxed),
        events_pending: c.outbox_seq.saturating_sub(c.acked_seq),
        events_written: c.outbox_seq,
        events_acked: c.acked_seq,
        command_cursor: c.command_cursor,
        last_push_ok_ms: at(h.last_push_ok_ms.load(Ordering::Relaxed)),
        last_pull_ok_ms: at(h.last_pull_ok_ms.load(Ordering::Relaxed)),
        last_error: h.last_error(),
        central_ahead: h.central_ahead(),
    })
}

/// Is HQ reachable, and how much waits to go up.
#[utoipa::path(get, path = "/api/v1/sync/status", responses((status = 200, body = SyncStatus), doc::Unauthorized), tag = "ops")]
pub async fn sync_status(State(state): State<AppState>) -> Result<Json<SyncStatus>, ApiError> {
    Ok(Json(sync_status_of(&state).await?))
}

/// Healthy means the edge can serve its floor; central being away is reported, not fatal.
/// `degraded`: central refuses this edge's events (it holds events the edge never wrote), which
/// only HQ can resolve; the floor still works.
pub async fn health(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let sync = sync_status_of(&state).await?;
    Ok(Json(serde_json::json!({
        "status": if sync.central_ahead.is_some() { "degraded" } else { "ok" },
        "central_ahead": sync.central_ahead,
        "service": "tote-edge",
        "warehouse": sync.warehouse,
        "central_reachable": sync.central_reachable,
        "events_pending": sync.events_pending,
    })))
}

pub async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let s = sync_status_of(&state).await?;
    let h = &state.sync_health;
    let now = now_ms();
    let age = |t: Option<i64>| {
        t.map(|t| (now - t) as f64 / 1000.0)
            .unwrap_or(f64::INFINITY)
    };
    let mut text = MetricsText::default();
    text.gauge(
        "tote_edge_sync_events_pending",
        "Outbox events central has not acknowledged",
        &[("", s.events_pending as f64)],
    )
    .gauge(
        "tote_edge_sync_events_written",
        "Outbox sequence (events ever written)",
        &[("", s.events_written as f64)],
    )
    .gauge(
        "tote_edge_sync_command_cursor",
        "Last command from central applied",
        &[("", s.command_cursor as f64)],
    )
    .gauge(
        "tote_edge_sync_seconds_since_push",
        "Seconds since the last successful push (a stalled sync grows)",
        &[("", age(s.last_push_ok_ms))],
    )
    .gauge(
        "tote_edge_sync_seconds_since_pull",
        "Seconds since the last successful pull",
        &[("", age(s.last_pull_ok_ms))],
    )
    .gauge(
        "tote_edge_central_reachable",
        "1 when the last sync call reached central",
        &[("", if s.central_reachable { 1.0 } else { 0.0 })],
    )
    .gauge(
        "tote_edge_sync_central_ahead",
        "1 while central refuses our pushes because it holds events this edge never wrote",
        &[("", if s.central_ahead.is_some() { 1.0 } else { 0.0 })],
    )
    .counter(
        "tote_edge_sync_push_failures_total",
        "Failed pushes",
        &[("", h.push_failures.load(Ordering::Relaxed) as f64)],
    )
    .counter(
        "tote_edge_sync_pull_failures_total",
        "Failed pulls",
        &[("", h.pull_failures.load(Ordering::Relaxed) as f64)],
    )
    .counter(
        "tote_edge_sync_events_pushed_total",
        "Events central applied from this edge since start",
        &[("", h.events_pushed.load(Ordering::Relaxed) as f64)],
    )
    .counter(
        "tote_edge_sync_commands_applied_total",
        "Commands applied since start",
        &[("", h.commands_applied.load(Ordering::Relaxed) as f64)],
    );
    let robots = state.fleet.robots();
    let in_service = robots.iter().filter(|r| r.in_service).count();
    text.gauge(
        "tote_edge_robots",
        "Robots known to the edge",
        &[("", robots.len() as f64)],
    )
    .gauge(
        "tote_edge_robots_in_service",
        "Robots online without a fatal error",
        &[("", in_service as f64)],
    )
    .counter(
        "tote_edge_mqtt_messages_accepted_total",
        "Robot messages applied",
        &[("", state.fleet.accepted.load(Ordering::Relaxed) as f64)],
    );
    let rejected: Vec<(String, f64)> = state
        .fleet
        .rejected()
        .into_iter()
        .map(|(r, n)| (format!("reason=\"{}\"", r.as_str()), n as f64))
        .collect();
    let rejected: Vec<(&str, f64)> = rejected.iter().map(|(l, v)| (l.as_str(), *v)).collect();
    text.counter(
        "tote_edge_mqtt_messages_rejected_total",
        "Robot messages dropped, by reason",
        &rejected,
    );
    let foreign = robots.iter().filter(|r| r.foreign_order.is_some()).count();
    text.gauge(
        "tote_edge_robots_foreign_order",
        "Robots driving an order the edge did not send (out of service)",
        &[("", foreign as f64)],
    );
    let refusals: Vec<(String, f64)> = state
        .fleet
        .refusals()
        .into_iter()
        .map(|(t, n)| (format!("error_type=\"{t}\""), n as f64))
        .collect();
    let refusals: Vec<(&str, f64)> = refusals.iter().map(|(l, v)| (l.as_str(), *v)).collect();
    text.counter(
        "tote_edge_vda_refusals_total",
        "Orders and instant actions of the edge that robots refused, by VDA 5050 error type",
        &refusals,
    );
    let out = robots.iter().filter(|r| r.not_dispatched.is_some()).count();
    text.gauge(
        "tote_edge_robots_not_dispatched",
        "Robots master control gives no work (protocol version, factsheet, refused orders)",
        &[("", out as f64)],
    );
    if let Some(gate) = &state.mqtt_gate {
        let g = &gate.stats;
        let n = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed) as f64;
        text.gauge(
            "tote_edge_mqtt_gate_clients",
            "Clients signed in to the embedded broker through the gate",
            &[("", n(&g.connected))],
        )
        .counter(
            "tote_edge_mqtt_gate_refused_total",
            "MQTT clients and requests the gate refused, by reason",
            &[
                ("reason=\"sign_in\"", n(&g.refused_connects)),
                ("reason=\"publish\"", n(&g.denied_publishes)),
                ("reason=\"subscribe\"", n(&g.denied_subscriptions)),
                ("reason=\"malformed\"", n(&g.closed_malformed)),
                ("reason=\"revoked\"", n(&g.closed_revoked)),
            ],
        );
    }
    let sign_in = &state.sign_in;
    text.counter(
        "tote_edge_signin_pin_checks_total",
        "PINs compared with a worker's real hash (an attacker's tries)",
        &[("", sign_in.hasher.checks.load(Ordering::Relaxed) as f64)],
    )
    .counter(
        "tote_edge_signin_decoy_hashes_total",
        "Decoy comparisons for unknown or locked workers (same time, same answer)",
        &[(
            "",
            sign_in.hasher.decoy_hashes.load(Ordering::Relaxed) as f64,
        )],
    )
    .gauge(
        "tote_edge_signin_hashing_max",
        "Most Argon2 comparisons seen running at once",
        &[(
            "",
            sign_in.hasher.running_max.load(Ordering::Relaxed) as f64,
        )],
    )
    .gauge(
        "tote_edge_signin_hashing_limit",
        "Argon2 comparisons allowed at once (auth.max_concurrent_hashes)",
        &[("", sign_in.hasher.max_concurrent as f64)],
    );
    let refused: Vec<(String, f64)> = sign_in
        .refusals()
        .into_iter()
        .map(|(r, n)| (format!("reason=\"{}\"", r.as_str()), n as f64))
        .collect();
    let refused: Vec<(&str, f64)> = refused.iter().map(|(l, v)| (l.as_str(), *v)).collect();
    text.counter(
        "tote_edge_signin_refused_total",
        "Sign-ins refused, by reason (callers get one answer for all)",
        &refused,
    );
    text.task_restarts("tote_edge_task_restarts_total", &state.task_restarts);
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        text.finish(),
    ))
}

/// Each fixed scanner, where it listens, and its last scans.
#[utoipa::path(get, path = "/api/v1/scanners", responses((status = 200, body = Vec<Object>), doc::Unauthorized), tag = "ops")]
pub async fn scanners(State(state): State<AppState>) -> Json<Vec<crate::scanner::ScannerView>> {
    Json(state.scanners.views())
}
