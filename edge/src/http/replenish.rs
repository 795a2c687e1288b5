//! Pick faces and their refills from reserve: a supervisor sets each face's SKU, min and max;
//! refills appear as handheld tasks (reserve bin, item, face). See `store::replenish`.

use super::error::ApiError;
use super::{answer, Idempotency};
use crate::auth::Caller;
use crate::startup::AppState;
use crate::store::{FaceView, RefillOutcome, RefillView};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use serde::{Deserialize, Serialize};
use tote_shared::openapi as doc;
use tote_shared::runtime::http::{Json, Path, Query};
use tote_shared::{LocationCode, Sku};

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FaceSetting {
    pub sku: Sku,
    /// Refill once what the face will hold after its open picks falls below this.
    #[schema(minimum = 0, maximum = 99999)]
    pub min: i64,
    /// Refill up to this (more than `min`).
    #[schema(minimum = 1, maximum = 100000)]
    pub max: i64,
}

fn location(text: &str) -> Result<LocationCode, ApiError> {
    LocationCode::parse(text).map_err(|e| ApiError::Unprocessable(e.to_string()))
}

/// Supervisor: makes a shelf bin the pick face of a SKU (or changes its min and max). The SKU's
/// other shelf bins become its reserve: pickers pick from the face, refills keep it stocked.
#[utoipa::path(put, path = "/api/v1/pick-faces/{location}", params(("location" = String, Path), doc::IdempotencyKey), request_body = FaceSetting,
    responses((status = 200, body = FaceView), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Conflict), tag = "stock")]
pub async fn set_pick_face(State(state): State<AppState>, Path(code): Path<String>, idempotency: Idempotency, Json(body): Json<FaceSetting>) -> Result<Response, ApiError> {
    let key = idempotency.key(&body)?;
    let code = location(&code)?;
    Ok(answer(StatusCode::OK, state.store.set_pick_face(key, code.to_string(), body.sku.to_string(), body.min, body.max).await?))
}

/// Supervisor: the bin is no longer a pick face (refused while a refill is on its way to it).
/// The answer is the face as it was.
#[utoipa::path(delete, path = "/api/v1/pick-faces/{location}", params(("location" = String, Path), doc::IdempotencyKey),
    responses((status = 200, body = FaceView), doc::BadRequest, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Conflict, doc::Unprocessable), tag = "stock")]
pub async fn remove_pick_face(State(state): State<AppState>, Path(code): Path<String>, idempotency: Idempotency) -> Result<Response, ApiError> {
    let key = idempotency.key(&())?;
    let code = location(&code)?;
    Ok(answer(StatusCode::OK, state.store.remove_pick_face(key, code.to_string()).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FaceQuery {
    pub sku: Option<Sku>,
}

/// Pick faces with their levels: on hand, on the way from reserve, claimed by picks.
#[utoipa::path(get, path = "/api/v1/pick-faces", params(FaceQuery), responses((status = 200, body = Vec<FaceView>), doc::BadRequest, doc::Unauthorized), tag = "stock")]
pub async fn pick_faces(State(state): State<AppState>, Query(q): Query<FaceQuery>) -> Result<Json<Vec<FaceView>>, ApiError> {
    Ok(Json(state.store.pick_faces(q.sku.map(|s| s.to_string())).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RefillQuery {
    /// Finished ones (done or cancelled, newest first) instead of those still to do
    /// (shortfalls first, then oldest).
    #[serde(default)]
    pub finished: bool,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// Refills from reserve to pick faces.
#[utoipa::path(get, path = "/api/v1/replenishments", params(RefillQuery), responses((status = 200, body = Vec<RefillView>), doc::BadRequest, doc::Unauthorized), tag = "stock")]
pub async fn refills(State(state): State<AppState>, Query(q): Query<RefillQuery>) -> Result<Json<Vec<RefillView>>, ApiError> {
    Ok(Json(state.store.refills(!q.finished, super::limit(q.limit, 100)?).await?))
}

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefillScan {
    /// Exactly what the scanner read: the reserve bin, then the item, then the pick face.
    #[schema(value_type = doc::Text64)]
    pub code: String,
}

/// A refill's scans: the reserve bin, the item, then the pick face (which moves the units).
#[utoipa::path(post, path = "/api/v1/replenishments/{id}/scan", request_body = RefillScan, params(doc::PathId, doc::IdempotencyKey),
    responses((status = 200, body = RefillOutcome), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Conflict), tag = "stock")]
pub async fn refill_scan(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<u64>,
    idempotency: Idempotency,
    Json(body): Json<RefillScan>,
) -> Result<Response, ApiError> {
    let key = idempotency.key(&body)?;
    let code = super::scanned(&body.code)?;
    Ok(answer(StatusCode::OK, state.store.refill_scan(key, id, code, caller.name()).await?))
}

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefillCancel {
    /// Why (the reserve bin is empty, damaged goods …); picks waiting for it move elsewhere.
    #[schema(value_type = doc::Text200)]
    pub reason: String,
}

/// Supervisor: calls a refill off. Picks waiting for it move to other stock, or their orders
/// go back to HQ for re-routing.
#[utoipa::path(post, path = "/api/v1/replenishments/{id}/cancel", request_body = RefillCancel, params(doc::PathId, doc::IdempotencyKey),
    responses((status = 200, body = RefillView), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Conflict), tag = "stock")]
pub async fn cancel_refill(State(state): State<AppState>, Path(id): Path<u64>, idempotency: Idempotency, Json(body): Json<RefillCancel>) -> Result<Response, ApiError> {
    let key = idempotency.key(&body)?;
    super::check_text("reason", &body.reason, 200)?;
    Ok(answer(StatusCode::OK, state.store.cancel_refill(key, id, body.reason.trim().to_owned()).await?))
}
