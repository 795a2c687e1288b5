//! Operations endpoints: liveness and Prometheus metrics (including sync lag per edge).

use super::error::ApiError;
use crate::auth::MetricsScraper;
use crate::db::DbError;
use crate::edge_sync::http::edge_lags;
use crate::startup::AppState;
use crate::{inventory, journal, orders, payment};
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::json;
use std::sync::atomic::Ordering;
use tote_shared::runtime::http::Json;
use tote_shared::runtime::metrics::MetricsText;
use tote_shared::runtime::system::now_ms;

/// Liveness, and what needs HQ's attention: `degraded` names each edge stream that is refused
/// (a gap, or central ahead of its edge), keeps events aside, or lags — with why. Still 200:
/// central serves, so a load balancer must not take it out over one warehouse's stream.
pub async fn health(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    // A read proves the database answers; the writer is exercised by real traffic.
    state.db.read(|tx| -> Result<_, DbError> { journal::store::head(tx) }).await?;
    let streams: Vec<serde_json::Value> = edge_lags(&state)
        .await?
        .iter()
        .filter(|lag| !lag.problems.is_empty())
        .map(|lag| json!({"warehouse": lag.stream.warehouse, "problems": lag.problems}))
        .collect();
    let status = if streams.is_empty() { "ok" } else { "degraded" };
    Ok(Json(json!({"status": status, "service": "tote-central", "version": env!("CARGO_PKG_VERSION"), "edge_streams": streams})))
}

pub async fn metrics(_: MetricsScraper, State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let (orders_by_state, ledger_entries, (journal_last, journal_waiting), consumers) = state
        .db
        .read(|tx| -> Result<_, DbError> {
            Ok((orders::store::counts_by_state(tx)?, inventory::store::ledger_size(tx)?, journal::store::head(tx)?, journal::store::positions(tx)?))
        })
        .await?;
    let payments_by_state = state.db.read(|tx| -> Result<_, DbError> { payment::store::counts_by_state(tx) }).await?;
    let lags = edge_lags(&state).await?;
    let now = now_ms();
    let mut text = MetricsText::default();
    text.counter("tote_central_orders_created_total", "Orders created since start", &[("", state.telemetry.orders_created.load(Ordering::Relaxed) as f64)]);
    text.counter("tote_central_sync_events_applied_total", "Edge events applied since start", &[("", state.telemetry.events_applied.load(Ordering::Relaxed) as f64)]);
    let by_state: Vec<(String, f64)> = orders_by_state.iter().map(|(s, n)| (format!("state=\"{s}\""), *n as f64)).collect();
    text.gauge("tote_central_orders", "Orders by state", &view(&by_state));
    text.gauge("tote_central_inventory_ledger_entries", "Rows in the inventory ledger", &[("", ledger_entries as f64)]);
    text.gauge("tote_central_journal_last_seq", "Newest journal sequence number", &[("", journal_last as f64)]);
    text.gauge("tote_central_journal_unnumbered", "Committed journal events waiting for the sequencer", &[("", journal_waiting as f64)]);
    let behind: Vec<(String, f64)> =
        consumers.iter().map(|(name, position)| (format!("consumer=\"{name}\""), journal_last.saturating_sub(*position) as f64)).collect();
    let payments: Vec<(String, f64)> = payments_by_state.iter().map(|(c, s, n)| (format!("channel=\"{c}\",state=\"{s}\""), *n as f64)).collect();
    text.gauge("tote_central_payments", "Payments by channel and state", &view(&payments));
    let refused: Vec<(String, f64)> =
        state.telemetry.notifications_refused().iter().map(|((c, r), n)| (format!("channel=\"{c}\",reason=\"{r}\""), *n as f64)).collect();
    text.counter("tote_central_payment_notifications_refused_total", "Payment notifications refused since start, by reason", &view(&refused));
    let (attempts, keys, users) = state.risk.remembered();
    let remembered = [("kind=\"attempts\"".to_owned(), attempts as f64), ("kind=\"keys\"".to_owned(), keys as f64), ("kind=\"users\"".to_owned(), users as f64)];
    text.gauge("tote_central_risk_remembered", "What the payment risk engine holds in memory for its windows (bounded)", &view(&remembered));
    text.task_restarts("tote_central_task_restarts_total", &state.task_restarts);
    text.gauge("tote_central_journal_consumer_lag", "Journal events a consumer has not applied yet", &view(&behind));
    let label = |w: &str| format!("warehouse=\"{w}\"");
    let mut hw = Vec::new();
    let mut push_age = Vec::new();
    let mut pull_age = Vec::new();
    let mut pending = Vec::new();
    let mut rejected = Vec::new();
    let (mut degraded, mut refused, mut behind, mut rejected_recent) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for lag in &lags {
        let l = label(lag.stream.warehouse.as_str());
        degraded.push((l.clone(), if lag.problems.is_empty() { 0.0 } else { 1.0 }));
        refused.push((l.clone(), lag.pushes.refused_pushes as f64));
        behind.push((l.clone(), lag.pushes.edge_head.map_or(0, |head| head.saturating_sub(lag.stream.events_high_water)) as f64));
        rejected_recent.push((l, lag.stream.rejected_last_hour as f64));
    }
    for lag in &lags {
        let l = label(lag.stream.warehouse.as_str());
        hw.push((l.clone(), lag.stream.events_high_water as f64));
        push_age.push((l.clone(), lag.stream.last_push_ms.map(|t| (now - t) as f64 / 1000.0).unwrap_or(f64::INFINITY)));
        pull_age.push((l.clone(), lag.last_pull_ms.map(|t| (now - t) as f64 / 1000.0).unwrap_or(f64::INFINITY)));
        pending.push((l.clone(), lag.commands_pending.map(|p| p as f64).unwrap_or(f64::NAN)));
        rejected.push((l, lag.stream.rejected_events as f64));
    }
    text.gauge("tote_central_sync_events_high_water", "Highest edge event applied, per edge", &view(&hw));
    text.gauge("tote_central_sync_seconds_since_apply", "Seconds since central last applied new events from the edge", &view(&push_age));
    text.gauge("tote_central_sync_seconds_since_pull", "Seconds since the edge last polled for commands (it long-polls, so a live edge stays low)", &view(&pull_age));
    text.gauge("tote_central_sync_commands_pending", "Commands queued for the edge beyond its last pull cursor", &view(&pending));
    text.gauge("tote_central_sync_rejected_events", "Edge events kept aside because no order could take them", &view(&rejected));
    text.gauge("tote_central_sync_rejected_events_last_hour", "Edge events kept aside within the last hour", &view(&rejected_recent));
    text.gauge("tote_central_sync_refused_pushes", "Pushes refused (gap, or central ahead of the edge) since the last one that applied events", &view(&refused));
    text.gauge("tote_central_sync_events_behind", "Events the edge said it had written that central does not hold (at its last push)", &view(&behind));
    text.gauge("tote_central_sync_stream_degraded", "1 while the edge's stream needs HQ's attention (see /health)", &view(&degraded));
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text.finish()))
}

fn view(samples: &[(String, f64)]) -> Vec<(&str, f64)> {
    samples.iter().map(|(l, x)| (l.as_str(), *x)).collect()
}
