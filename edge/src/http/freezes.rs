//! Stock freezes (a quality hold, a recall, a count in progress): a supervisor freezes a
//! location, a SKU or a lot and lifts it again with a reason. See `store::freezes`.

use super::error::ApiError;
use super::{answer, Idempotency};
use crate::auth::Caller;
use crate::startup::AppState;
use crate::store::{FreezeTarget, FreezeView};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use serde::{Deserialize, Serialize};
use tote_shared::openapi as doc;
use tote_shared::runtime::http::{Json, Path, Query};
use tote_shared::{LocationCode, Sku};

const MAX_REASON: usize = 200;
const MAX_LOT: usize = 20;

/// A location alone, a SKU alone, or a SKU and one of its lots.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFreeze {
    #[serde(default)]
    pub location: Option<LocationCode>,
    #[serde(default)]
    pub sku: Option<Sku>,
    #[serde(default)]
    #[schema(value_type = Option<doc::Text20>)]
    pub lot: Option<String>,
    /// Why (quality hold, recall, count …).
    #[schema(value_type = doc::Text200)]
    pub reason: String,
}

impl NewFreeze {
    fn target(&self) -> Result<FreezeTarget, ApiError> {
        match (&self.location, &self.sku, &self.lot) {
            (Some(location), None, None) => Ok(FreezeTarget::Location { location: location.to_string() }),
            (None, Some(sku), None) => Ok(FreezeTarget::Sku { sku: sku.to_string() }),
            (None, Some(sku), Some(lot)) => {
                super::check_text("lot", lot, MAX_LOT)?;
                Ok(FreezeTarget::Lot { sku: sku.to_string(), lot: lot.clone() })
            }
            _ => Err(ApiError::Unprocessable("freeze a location alone, a sku alone, or a sku and one of its lots".into())),
        }
    }
}

/// Supervisor: freezes a location, a SKU or a lot. Its open picks move to other stock (or
/// their orders fail back to HQ), and HQ stops selling its units at once.
#[utoipa::path(post, path = "/api/v1/freezes", request_body = NewFreeze, params(doc::IdempotencyKey),
    responses((status = 201, body = FreezeView), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Conflict), tag = "stock")]
pub async fn freeze(State(state): State<AppState>, Extension(caller): Extension<Caller>, idempotency: Idempotency, Json(body): Json<NewFreeze>) -> Result<Response, ApiError> {
    let key = idempotency.key(&body)?;
    super::check_text("reason", &body.reason, MAX_REASON)?;
    let target = body.target()?;
    Ok(answer(StatusCode::CREATED, state.store.freeze(key, target, body.reason.trim().to_owned(), caller.name()).await?))
}

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LiftFreeze {
    /// Why it may be sold again.
    #[schema(value_type = doc::Text200)]
    pub reason: String,
}

/// Supervisor: lifts a freeze; its units are free again unless another freeze holds them.
#[utoipa::path(post, path = "/api/v1/freezes/{id}/lift", params(("id" = u64, Path), doc::IdempotencyKey), request_body = LiftFreeze,
    responses((status = 200, body = FreezeView), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Conflict), tag = "stock")]
pub async fn lift(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<u64>,
    idempotency: Idempotency,
    Json(body): Json<LiftFreeze>,
) -> Result<Response, ApiError> {
    let key = idempotency.key(&body)?;
    super::check_text("reason", &body.reason, MAX_REASON)?;
    Ok(answer(StatusCode::OK, state.store.lift_freeze(key, id, body.reason.trim().to_owned(), caller.name()).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FreezeQuery {
    /// Lifted ones too (newest first).
    #[serde(default)]
    pub all: bool,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// Freezes in force (or all of them).
#[utoipa::path(get, path = "/api/v1/freezes", params(FreezeQuery), responses((status = 200, body = Vec<FreezeView>), doc::BadRequest, doc::Unauthorized), tag = "stock")]
pub async fn list(State(state): State<AppState>, Query(q): Query<FreezeQuery>) -> Result<Json<Vec<FreezeView>>, ApiError> {
    Ok(Json(state.store.freezes(q.all, super::limit(q.limit, 100)?).await?))
}
