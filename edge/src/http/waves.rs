//! Waves and carts: a supervisor plans, releases, holds and cancels waves; a picker starts a
//! cart batch with its totes and scans through its walk; a packer sorts a batch tote to the
//! orders' cartons. See `store::waves`.

use super::error::ApiError;
use super::picking::ScanRequest;
use super::{answer, Idempotency};
use crate::auth::Caller;
use crate::startup::AppState;
use crate::store::{BatchSummary, BatchView, Picker, ToteView, WaveView};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use serde::{Deserialize, Serialize};
use tote_shared::openapi as doc;
use tote_shared::runtime::http::{Json, Path, Query};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WaveQuery {
    #[param(value_type = Option<String>, pattern = "^(planned|released|held|cancelled|done)$")]
    pub state: Option<String>,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// Waves, newest first, with their batches.
#[utoipa::path(get, path = "/api/v1/waves", params(WaveQuery), responses((status = 200, body = Vec<WaveView>), doc::BadRequest, doc::Unauthorized), tag = "picking")]
pub async fn waves(State(state): State<AppState>, Query(q): Query<WaveQuery>) -> Result<Json<Vec<WaveView>>, ApiError> {
    if let Some(s) = &q.state {
        if !matches!(s.as_str(), "planned" | "released" | "held" | "cancelled" | "done") {
            return Err(ApiError::BadRequest("state must be planned, released, held, cancelled or done".into()));
        }
    }
    Ok(Json(state.store.waves(q.state, super::limit(q.limit, 100)?).await?))
}

/// Supervisor: plans the next wave from the orders waiting for one (earliest carrier cut-off
/// first, then oldest, up to the line limit), with its batch totes and cluster carts and each
/// one's walk. 409 when no order waits.
#[utoipa::path(post, path = "/api/v1/waves", params(doc::IdempotencyKey),
    responses((status = 201, body = WaveView), doc::BadRequest, doc::Unauthorized, doc::Forbidden, doc::Conflict, doc::Unprocessable), tag = "picking")]
pub async fn plan_wave(State(state): State<AppState>, idempotency: Idempotency) -> Result<Response, ApiError> {
    let key = idempotency.key(&())?;
    Ok(answer(StatusCode::CREATED, state.store.plan_wave(key).await?))
}

#[utoipa::path(get, path = "/api/v1/waves/{id}", params(doc::PathId), responses((status = 200, body = WaveView), doc::BadRequest, doc::Unauthorized, doc::NotFound), tag = "picking")]
pub async fn wave(State(state): State<AppState>, Path(id): Path<u64>) -> Result<Json<WaveView>, ApiError> {
    Ok(Json(state.store.wave(id).await?))
}

/// Supervisor: the wave's carts go to the pickers (a held wave's again).
#[utoipa::path(post, path = "/api/v1/waves/{id}/release", params(doc::PathId, doc::IdempotencyKey),
    responses((status = 200, body = WaveView), doc::BadRequest, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Conflict, doc::Unprocessable), tag = "picking")]
pub async fn release_wave(State(state): State<AppState>, Path(id): Path<u64>, idempotency: Idempotency) -> Result<Response, ApiError> {
    let key = idempotency.key(&())?;
    Ok(answer(StatusCode::OK, state.store.release_wave(key, id).await?))
}

/// Supervisor: no new cart of the wave starts; carts already out finish their walk.
#[utoipa::path(post, path = "/api/v1/waves/{id}/hold", params(doc::PathId, doc::IdempotencyKey),
    responses((status = 200, body = WaveView), doc::BadRequest, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Conflict, doc::Unprocessable), tag = "picking")]
pub async fn hold_wave(State(state): State<AppState>, Path(id): Path<u64>, idempotency: Idempotency) -> Result<Response, ApiError> {
    let key = idempotency.key(&())?;
    Ok(answer(StatusCode::OK, state.store.hold_wave(key, id).await?))
}

/// Supervisor: calls a wave off before any of its carts started; its orders join the next wave.
#[utoipa::path(post, path = "/api/v1/waves/{id}/cancel", params(doc::PathId, doc::IdempotencyKey),
    responses((status = 200, body = WaveView), doc::BadRequest, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Conflict, doc::Unprocessable), tag = "picking")]
pub async fn cancel_wave(State(state): State<AppState>, Path(id): Path<u64>, idempotency: Idempotency) -> Result<Response, ApiError> {
    let key = idempotency.key(&())?;
    Ok(answer(StatusCode::OK, state.store.cancel_wave(key, id).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct BatchQuery {
    /// Default: the carts a picker can take or is walking.
    #[param(value_type = Option<String>, pattern = "^(open|started|done|cancelled)$")]
    pub state: Option<String>,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// Cart batches: by default the started ones and the open ones of released waves, earliest
/// cut-off first.
#[utoipa::path(get, path = "/api/v1/pick-batches", params(BatchQuery), responses((status = 200, body = Vec<BatchSummary>), doc::BadRequest, doc::Unauthorized), tag = "picking")]
pub async fn batches(State(state): State<AppState>, Query(q): Query<BatchQuery>) -> Result<Json<Vec<BatchSummary>>, ApiError> {
    if let Some(s) = &q.state {
        if !matches!(s.as_str(), "open" | "started" | "done" | "cancelled") {
            return Err(ApiError::BadRequest("state must be open, started, done or cancelled".into()));
        }
    }
    Ok(Json(state.store.pick_batches(q.state, super::limit(q.limit, 100)?).await?))
}

/// A batch with its tote slots, its tasks in walk order and the next stop.
#[utoipa::path(get, path = "/api/v1/pick-batches/{id}", params(doc::PathId), responses((status = 200, body = BatchView), doc::BadRequest, doc::Unauthorized, doc::NotFound), tag = "picking")]
pub async fn batch(State(state): State<AppState>, Path(id): Path<u64>) -> Result<Json<BatchView>, ApiError> {
    Ok(Json(state.store.pick_batch(id).await?))
}

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartBatch {
    /// One empty tote's barcode (`TOTE-…`) per slot of the cart, in slot order.
    #[schema(max_items = 48, value_type = Vec<doc::Text64>)]
    pub totes: Vec<String>,
}

/// Picker: takes a released batch, putting one scanned tote on each slot of the cart.
#[utoipa::path(post, path = "/api/v1/pick-batches/{id}/start", request_body = StartBatch, params(doc::PathId, doc::IdempotencyKey),
    responses((status = 200, body = BatchView), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Conflict), tag = "picking")]
pub async fn start_batch(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<u64>,
    idempotency: Idempotency,
    Json(body): Json<StartBatch>,
) -> Result<Response, ApiError> {
    let key = idempotency.key(&body)?;
    if body.totes.len() > 48 {
        return Err(ApiError::Unprocessable("a cart has at most 48 totes".into()));
    }
    let totes: Vec<String> = body.totes.iter().map(|t| t.trim().to_owned()).collect();
    Ok(answer(StatusCode::OK, state.store.start_batch(key, id, caller.worker(), totes).await?))
}

/// Picker: one scan on a started batch, applied to its next stop: the location, then the
/// item(s), then the tote the units went into.
#[utoipa::path(post, path = "/api/v1/pick-batches/{id}/scan", request_body = ScanRequest, params(doc::PathId, doc::IdempotencyKey),
    responses((status = 200, body = crate::store::BatchScanOutcome), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Conflict), tag = "picking")]
pub async fn batch_scan(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<u64>,
    idempotency: Idempotency,
    Json(body): Json<ScanRequest>,
) -> Result<Response, ApiError> {
    let key = idempotency.key(&body)?;
    let code = super::scanned(&body.code)?;
    if body.station.is_some() {
        return Err(ApiError::Unprocessable("a cart is picked on the shelf floor, not at a station".into()));
    }
    let by = Picker { worker: caller.worker(), station: None };
    Ok(answer(StatusCode::OK, state.store.batch_scan(key, id, code, body.qty, by).await?))
}

/// What a tote holds, by order (its latest cart).
#[utoipa::path(get, path = "/api/v1/totes/{tote}", params(("tote" = String, Path)), responses((status = 200, body = ToteView), doc::Unauthorized, doc::NotFound, doc::Unprocessable), tag = "picking")]
pub async fn tote(State(state): State<AppState>, Path(tote): Path<String>) -> Result<Json<ToteView>, ApiError> {
    Ok(Json(state.store.tote(tote).await?))
}

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SortRequest {
    /// The item's barcode, scanned as it comes out of the tote.
    #[schema(value_type = doc::Text64)]
    pub code: String,
}

/// Packer: one unit out of a batch tote; the answer names the order whose carton it goes in.
#[utoipa::path(post, path = "/api/v1/totes/{tote}/sort", request_body = SortRequest, params(("tote" = String, Path), doc::IdempotencyKey),
    responses((status = 200, body = crate::store::SortOutcome), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Conflict), tag = "picking")]
pub async fn sort_tote(State(state): State<AppState>, Path(tote): Path<String>, idempotency: Idempotency, Json(body): Json<SortRequest>) -> Result<Response, ApiError> {
    let key = idempotency.key(&body)?;
    let code = super::scanned(&body.code)?;
    Ok(answer(StatusCode::OK, state.store.sort_tote(key, tote, code).await?))
}
