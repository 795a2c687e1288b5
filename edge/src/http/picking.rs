//! Pick work: the task list, scans (location, then item) and short picks.

use super::error::ApiError;
use super::{answer, Idempotency};
use crate::startup::AppState;
use crate::store::PickTaskView;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tote_shared::runtime::http::{Json, Path, Query};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskQuery {
    /// `open`, `located`, `done` or `cancelled`; default: everything still to do.
    pub state: Option<String>,
    pub limit: Option<u32>,
}

pub async fn tasks(State(state): State<AppState>, Query(q): Query<TaskQuery>) -> Result<Json<Vec<PickTaskView>>, ApiError> {
    if let Some(s) = &q.state {
        if !matches!(s.as_str(), "open" | "located" | "done" | "cancelled") {
            return Err(ApiError::BadRequest("state must be open, located, done or cancelled".into()));
        }
    }
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    Ok(Json(state.store.pick_tasks(q.state, limit).await?))
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScanRequest {
    /// Exactly what the scanner read.
    pub code: String,
    /// Units this item scan confirms (default 1).
    #[serde(default = "one")]
    pub qty: u32,
}

fn one() -> u32 {
    1
}

pub async fn scan(State(state): State<AppState>, Path(id): Path<u64>, idempotency: Idempotency, Json(body): Json<ScanRequest>) -> Result<Response, ApiError> {
    let key = idempotency.key(&body)?;
    let code = body.code.trim().to_owned();
    if code.is_empty() || code.len() > 64 {
        return Err(ApiError::Unprocessable("a scanned code has 1 to 64 characters".into()));
    }
    let answer = answer(StatusCode::OK, state.store.scan(key, id, code, body.qty).await?);
    state.panels.refresh(); // a station light may show this task
    Ok(answer)
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ShortRequest {
    /// Units actually found at the location (fewer than still to pick).
    pub found: i64,
    /// Why (empty bin, damaged, wrong item): kept in the movement ledger and the failure
    /// reason central sees when the order cannot be completed here.
    #[serde(default)]
    pub reason: Option<String>,
}

pub async fn short(State(state): State<AppState>, Path(id): Path<u64>, idempotency: Idempotency, Json(body): Json<ShortRequest>) -> Result<Response, ApiError> {
    let key = idempotency.key(&body)?;
    super::check_optional_text("reason", body.reason.as_deref(), 200)?;
    let answer = answer(StatusCode::OK, state.store.short_pick(key, id, body.found, body.reason).await?);
    state.panels.refresh();
    Ok(answer)
}
