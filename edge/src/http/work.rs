//! Floor work from the handhelds beyond picking: put-away and moves between locations, and
//! cycle counts (blind count, recount, supervisor approval).

use super::error::ApiError;
use super::stock::from_scan;
use super::{answer, Idempotency};
use crate::auth::Caller;
use crate::startup::AppState;
use crate::store::{CountView, Move, Tally};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use serde::{Deserialize, Serialize};
use tote_shared::openapi as doc;
use tote_shared::runtime::http::{Json, Path, Query};
use tote_shared::LocationCode;

/// Longest reason text kept with an override.
const MAX_REASON: usize = 200;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SuggestQuery {
    /// What the worker scanned on the item (GTIN or GS1).
    #[param(value_type = doc::Scan)]
    pub code: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Suggestion {
    pub sku: String,
    pub lot: String,
    pub location: Option<String>,
}

/// Where to put an item away.
#[utoipa::path(get, path = "/api/v1/putaway", params(SuggestQuery),
    responses((status = 200, body = Suggestion), doc::BadRequest, doc::Unauthorized, doc::NotFound, doc::Unprocessable), tag = "work")]
pub async fn suggest(State(state): State<AppState>, Query(q): Query<SuggestQuery>) -> Result<Json<Suggestion>, ApiError> {
    let (sku, lot, _) = from_scan(&state, q.code.trim(), String::new()).await?;
    let location = state.store.suggest_bin(sku.to_string()).await?;
    Ok(Json(Suggestion { sku: sku.to_string(), lot, location }))
}

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveRequest {
    pub from: LocationCode,
    pub to: LocationCode,
    /// What was scanned on the item: GTIN or GS1 (its batch picks the lot).
    #[schema(value_type = doc::Scan)]
    pub code: String,
    #[schema(minimum = 1, maximum = 100000)]
    pub qty: i64,
    /// The suggested bin; moving elsewhere needs a `reason`.
    #[serde(default)]
    pub suggested: Option<LocationCode>,
    #[serde(default)]
    #[schema(value_type = Option<doc::Chars200>)]
    pub reason: Option<String>,
}

/// Receiver: moves units of an item between bins (put-away or a move).
#[utoipa::path(post, path = "/api/v1/moves", request_body = MoveRequest, params(doc::IdempotencyKey),
    responses((status = 200, description = "the move and both bins' quantities", body = crate::store::MoveDone), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Conflict), tag = "work")]
pub async fn move_stock(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    idempotency: Idempotency,
    Json(body): Json<MoveRequest>,
) -> Result<Response, ApiError> {
    let key = idempotency.key(&body)?;
    super::check_optional_text("reason", body.reason.as_deref(), MAX_REASON)?;
    let (sku, lot, _) = from_scan(&state, body.code.trim(), String::new()).await?;
    let m = Move {
        from: body.from.to_string(),
        to: body.to.to_string(),
        sku: sku.to_string(),
        lot: (!lot.is_empty()).then_some(lot),
        qty: body.qty,
        suggested: body.suggested.map(|s| s.to_string()),
        reason: body.reason,
        by: caller.name(),
    };
    Ok(answer(StatusCode::OK, state.store.move_stock(key, m).await?))
}

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCount {
    pub location: LocationCode,
}

/// A blind cycle count of one bin.
#[utoipa::path(post, path = "/api/v1/counts", request_body = NewCount, params(doc::IdempotencyKey),
    responses((status = 201, body = crate::store::CountView), doc::JsonBody, doc::Unauthorized, doc::NotFound, doc::Conflict), tag = "work")]
pub async fn open_count(State(state): State<AppState>, Extension(caller): Extension<Caller>, idempotency: Idempotency, Json(body): Json<NewCount>) -> Result<Response, ApiError> {
    let key = idempotency.key(&body)?;
    Ok(answer(StatusCode::CREATED, state.store.open_count(key, body.location.to_string(), caller.name()).await?))
}

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CountLine {
    /// What was scanned on the item.
    #[schema(value_type = doc::Scan)]
    pub code: String,
    #[schema(minimum = 0, maximum = 100000)]
    pub qty: i64,
}

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CountSubmission {
    #[schema(max_items = 500)]
    pub lines: Vec<CountLine>,
}

/// What the worker counted in the bin (a recount if it differs from the books).
#[utoipa::path(post, path = "/api/v1/counts/{id}/submit", request_body = CountSubmission, params(doc::PathId, doc::IdempotencyKey),
    responses((status = 200, body = crate::store::CountView), doc::JsonBody, doc::Unauthorized, doc::NotFound, doc::Conflict), tag = "work")]
pub async fn submit_count(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<u64>,
    idempotency: Idempotency,
    Json(body): Json<CountSubmission>,
) -> Result<Response, ApiError> {
    let key = idempotency.key(&body)?;
    if body.lines.len() > 500 {
        return Err(ApiError::Unprocessable("at most 500 lines per count".into()));
    }
    let mut tally = Tally::new();
    for line in &body.lines {
        if !(0..=100_000).contains(&line.qty) {
            return Err(ApiError::Unprocessable(format!("{}: quantity must be between 0 and 100000", line.code)));
        }
        let (sku, _, _) = from_scan(&state, line.code.trim(), String::new()).await?;
        *tally.entry(sku.to_string()).or_default() += line.qty;
    }
    Ok(answer(StatusCode::OK, state.store.submit_count(key, id, tally, caller.name()).await?))
}

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    pub approve: bool,
}

/// Supervisor only (see `auth::access`).
#[utoipa::path(post, path = "/api/v1/counts/{id}/decide", request_body = Decision, params(doc::PathId, doc::IdempotencyKey),
    responses((status = 200, body = crate::store::CountView), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Conflict), tag = "work")]
pub async fn decide_count(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<u64>,
    idempotency: Idempotency,
    Json(body): Json<Decision>,
) -> Result<Response, ApiError> {
    let key = idempotency.key(&body)?;
    Ok(answer(StatusCode::OK, state.store.decide_count(key, id, body.approve, caller.name()).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CountQuery {
    #[param(value_type = Option<String>, pattern = "^(counting|recount|pending_approval|closed|approved|rejected)$")]
    pub state: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/counts", params(CountQuery), responses((status = 200, body = Vec<CountView>), doc::BadRequest, doc::Unauthorized), tag = "work")]
pub async fn counts(State(state): State<AppState>, Query(q): Query<CountQuery>) -> Result<Json<Vec<CountView>>, ApiError> {
    const STATES: [&str; 6] = ["counting", "recount", "pending_approval", "closed", "approved", "rejected"];
    if q.state.as_deref().is_some_and(|s| !STATES.contains(&s)) {
        return Err(ApiError::BadRequest(format!("state must be one of {}", STATES.join(", "))));
    }
    Ok(Json(state.store.counts(q.state).await?))
}

#[utoipa::path(get, path = "/api/v1/counts/{id}", params(doc::PathId), responses((status = 200, body = CountView), doc::BadRequest, doc::Unauthorized, doc::NotFound), tag = "work")]
pub async fn count(State(state): State<AppState>, Path(id): Path<u64>) -> Result<Json<CountView>, ApiError> {
    Ok(Json(state.store.count(id).await?))
}
