//! Pick work: the task list, scans (location, then item) and short picks.

use super::error::ApiError;
use super::{answer, Idempotency};
use crate::startup::AppState;
use crate::auth::Caller;
use crate::store::{PickTaskView, Picker};
use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tote_shared::openapi as doc;
use tote_shared::strategy::Method;
use tote_shared::runtime::http::{Json, Path, Query};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TaskQuery {
    /// `open`, `located`, `done` or `cancelled`; default: everything still to do.
    #[param(value_type = Option<String>, pattern = "^(open|located|done|cancelled)$")]
    pub state: Option<String>,
    /// Only tasks picked this way: `station` (at a goods-to-person station), `discrete` (a
    /// picker with a handheld, one order at a time), `batch` or `cluster` (on a wave's carts).
    #[param(value_type = Option<String>, pattern = "^(station|discrete|batch|cluster)$")]
    pub method: Option<String>,
    /// Default 100; at most 1,000 are answered.
    pub limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/pick-tasks", params(TaskQuery), responses((status = 200, body = Vec<PickTaskView>), doc::BadRequest, doc::Unauthorized), tag = "picking")]
pub async fn tasks(State(state): State<AppState>, Query(q): Query<TaskQuery>) -> Result<Json<Vec<PickTaskView>>, ApiError> {
    if let Some(s) = &q.state {
        if !matches!(s.as_str(), "open" | "located" | "done" | "cancelled") {
            return Err(ApiError::BadRequest("state must be open, located, done or cancelled".into()));
        }
    }
    let method = match q.method.as_deref() {
        None => None,
        Some(text) => Some(Method::parse(text).ok_or_else(|| ApiError::BadRequest("method must be station, discrete, batch or cluster".into()))?),
    };
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    Ok(Json(state.store.pick_tasks(q.state, method, limit).await?))
}

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanRequest {
    /// Exactly what the scanner read: 1 to 64 characters once white space around it is dropped.
    #[schema(value_type = doc::Text64)]
    pub code: String,
    /// Units this item scan confirms (default 1).
    #[serde(default = "one")]
    #[schema(minimum = 1, maximum = 100000)]
    pub qty: u32,
    /// The goods-to-person station the picker stands at (its name), for picks per station.
    #[serde(default)]
    #[schema(value_type = Option<doc::Text64>)]
    pub station: Option<String>,
}

fn one() -> u32 {
    1
}

/// Picker: the location's barcode first, then the items'.
#[utoipa::path(post, path = "/api/v1/pick-tasks/{id}/scan", request_body = ScanRequest, params(doc::PathId, doc::IdempotencyKey),
    responses((status = 200, body = crate::store::ScanOutcome), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Conflict), tag = "picking")]
pub async fn scan(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<u64>,
    idempotency: Idempotency,
    Json(body): Json<ScanRequest>,
) -> Result<Response, ApiError> {
    let key = idempotency.key(&body)?;
    let code = super::scanned(&body.code)?;
    if let Some(station) = &body.station {
        let known = state.floor.as_ref().is_some_and(|f| f.layout.stations.iter().any(|s| &s.name == station));
        if !known {
            return Err(ApiError::Unprocessable(format!("this edge has no station {station:?}")));
        }
    }
    let by = Picker { worker: caller.worker(), station: body.station.clone() };
    let answer = answer(StatusCode::OK, state.store.scan(key, id, code, body.qty, by).await?);
    state.panels.refresh(); // a station light may show this task
    Ok(answer)
}

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShortRequest {
    /// Units actually found at the location (fewer than still to pick).
    #[schema(minimum = 0, maximum = 100000)]
    pub found: i64,
    /// Why (empty bin, damaged, wrong item): kept in the movement ledger and the failure
    /// reason central sees when the order cannot be completed here.
    #[serde(default)]
    #[schema(value_type = Option<doc::Chars200>)]
    pub reason: Option<String>,
}

/// Picker: fewer units at the location than the task needs.
#[utoipa::path(post, path = "/api/v1/pick-tasks/{id}/short", request_body = ShortRequest, params(doc::PathId, doc::IdempotencyKey),
    responses((status = 200, body = crate::store::ScanOutcome), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Conflict), tag = "picking")]
pub async fn short(State(state): State<AppState>, Path(id): Path<u64>, idempotency: Idempotency, Json(body): Json<ShortRequest>) -> Result<Response, ApiError> {
    let key = idempotency.key(&body)?;
    super::check_optional_text("reason", body.reason.as_deref(), 200)?;
    let answer = answer(StatusCode::OK, state.store.short_pick(key, id, body.found, body.reason).await?);
    state.panels.refresh();
    Ok(answer)
}
