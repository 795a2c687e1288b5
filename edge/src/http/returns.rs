//! Customer returns at the receiving desk: the returns HQ announced, each unit scanned and
//! checked (pass or fail with a reason), and the return closed at a bin.

use super::error::ApiError;
use super::stock::from_scan;
use super::{answer, Idempotency};
use crate::auth::Caller;
use crate::startup::AppState;
use crate::store::ReturnView;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use serde::{Deserialize, Serialize};
use tote_shared::openapi as doc;
use tote_shared::runtime::http::{Json, Path, Query};
use tote_shared::sync::is_rma;
use tote_shared::LocationCode;

/// Longest reason a failed unit may carry.
const MAX_REASON: usize = 100;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReturnsQuery {
    /// `open`, `received` or `withdrawn`.
    #[param(value_type = Option<String>, pattern = "^(open|received|withdrawn)$")]
    pub state: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/returns", params(ReturnsQuery), responses((status = 200, body = Vec<ReturnView>), doc::BadRequest, doc::Unauthorized), tag = "returns")]
pub async fn list(State(state): State<AppState>, Query(q): Query<ReturnsQuery>) -> Result<Json<Vec<ReturnView>>, ApiError> {
    if q.state.as_deref().is_some_and(|s| !matches!(s, "open" | "received" | "withdrawn")) {
        return Err(ApiError::BadRequest("state must be open, received or withdrawn".into()));
    }
    Ok(Json(state.store.returns(q.state).await?))
}

fn rma(raw: &str) -> Result<String, ApiError> {
    let rma = raw.trim().to_ascii_uppercase();
    if !is_rma(&rma) {
        return Err(ApiError::Unprocessable(format!("{raw:?} is not a return slip number (RMA-…)")));
    }
    Ok(rma)
}

/// The return a scanned slip names (RMA- and its number), or the waybill on the label of a
/// carrier HQ booked to bring it.
#[utoipa::path(get, path = "/api/v1/returns/{rma}", params(("rma" = String, Path, description = "the return slip (RMA- and its number) or the return label's waybill", pattern = "^[A-Za-z0-9_-]{1,40}$")),
    responses((status = 200, body = ReturnView), doc::BadRequest, doc::Unauthorized, doc::NotFound, doc::Unprocessable), tag = "returns")]
pub async fn get(State(state): State<AppState>, Path(raw): Path<String>) -> Result<Json<ReturnView>, ApiError> {
    let code = raw.trim();
    let code = if code.to_ascii_uppercase().starts_with("RMA-") { rma(code)? } else { code.to_owned() };
    if !tote_shared::sync::is_plain_code(&code, 40) {
        return Err(ApiError::Unprocessable(format!("{raw:?} is neither a return slip number (RMA-…) nor a waybill")));
    }
    Ok(Json(state.store.return_view(code).await?))
}

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    /// What was scanned on the unit: GTIN or GS1.
    #[schema(value_type = doc::Scan)]
    pub code: String,
    pub passed: bool,
    /// Why it failed (torn, worn, stained, wrong item …); required when it failed.
    #[serde(default)]
    #[schema(value_type = doc::Text100)]
    pub reason: String,
}

/// Receiver: one returned unit checked.
#[utoipa::path(post, path = "/api/v1/returns/{rma}/check", params(("rma" = String, Path, pattern = "^[Rr][Mm][Aa]-[0-9]{1,16}$"), doc::IdempotencyKey), request_body = CheckRequest,
    responses((status = 200, body = ReturnView), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Conflict), tag = "returns")]
pub async fn check(State(state): State<AppState>, idempotency: Idempotency, Path(raw): Path<String>, Json(body): Json<CheckRequest>) -> Result<Response, ApiError> {
    let key = idempotency.key(&body)?;
    let rma = rma(&raw)?;
    if !body.reason.is_empty() {
        super::check_text("reason", &body.reason, MAX_REASON)?;
    }
    let (sku, _, _) = from_scan(&state, body.code.trim(), String::new()).await?;
    Ok(answer(StatusCode::OK, state.store.check_return(key, rma, sku, body.passed, body.reason).await?))
}

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseRequest {
    /// The bin the passed units go into.
    pub location: LocationCode,
}

/// Receiver: the return is done; passed units into the bin, and central told.
#[utoipa::path(post, path = "/api/v1/returns/{rma}/close", params(("rma" = String, Path, pattern = "^[Rr][Mm][Aa]-[0-9]{1,16}$"), doc::IdempotencyKey), request_body = CloseRequest,
    responses((status = 200, body = ReturnView), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Conflict), tag = "returns")]
pub async fn close(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    idempotency: Idempotency,
    Path(raw): Path<String>,
    Json(body): Json<CloseRequest>,
) -> Result<Response, ApiError> {
    let key = idempotency.key(&body)?;
    let rma = rma(&raw)?;
    Ok(answer(StatusCode::OK, state.store.close_return(key, rma, body.location, caller.name()).await?))
}
