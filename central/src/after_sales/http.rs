//! After-sales routes: a customer's request on an order, HQ's review queue and decisions, and
//! the policy with its approval rules.

use super::flow::{self, Ask};
use super::{store, AfterSalesError, AskedLine, Kind, ReturnMethod, ReturnPolicy, Reason, AfterSalesRequest, RequestState};
use crate::auth::{Admin, Reader};
use crate::http::check_text;
use crate::http::error::ApiError;
use crate::http::keyed::{keyed_write, Keyed};
use crate::startup::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tote_shared::openapi as doc;
use tote_shared::runtime::http::{Json, Path, Query};
use tote_shared::runtime::system::now_ms;
use tote_shared::Sku;

/// Most photos one request may carry.
pub const MAX_EVIDENCE: usize = 9;

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRequest {
    pub kind: Kind,
    pub reason: Reason,
    /// Units of the order's lines, each SKU once.
    #[schema(min_items = 1, max_items = 200)]
    pub lines: Vec<AskedLine>,
    /// Photo URLs (https), at most 9.
    #[serde(default)]
    #[schema(max_items = 9)]
    pub evidence: Vec<String>,
    /// What the customer wrote.
    #[serde(default)]
    #[schema(value_type = doc::Text300)]
    pub note: String,
    /// How the goods come back: `drop_off` (default; the customer sends them), or for the
    /// reasons the policy prepays a `pickup` or a prepaid `label` we book with a carrier.
    #[serde(default)]
    pub return_method: ReturnMethod,
}

fn check_evidence(evidence: &[String]) -> Result<(), ApiError> {
    if evidence.len() > MAX_EVIDENCE {
        return Err(ApiError::unprocessable("invalid-field", format!("evidence: at most {MAX_EVIDENCE} photos")));
    }
    for url in evidence {
        check_text("evidence", url, 500)?;
        let ok = url.strip_prefix("https://").is_some_and(|rest| !rest.is_empty() && !rest.contains(char::is_whitespace));
        if !ok {
            return Err(ApiError::unprocessable("invalid-field", format!("evidence: {url:?} is not an https URL")));
        }
    }
    Ok(())
}

/// A customer asks for units of an order back: a return with refund, a refund without a
/// return, or an exchange for another SKU of the same product. A rule approves it at once
/// (naming itself) or it waits in HQ's review queue (saying why no rule did).
#[utoipa::path(post, path = "/api/v1/orders/{id}/after-sales", params(doc::PathId, doc::RequiredIdempotencyKey), request_body = NewRequest,
    responses((status = 201, body = AfterSalesRequest), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Conflict, doc::Unavailable), tag = "after-sales")]
pub async fn create(_: Admin, State(state): State<AppState>, key: Keyed, Path(order_id): Path<u64>, Json(body): Json<NewRequest>) -> Result<Response, ApiError> {
    let request = key.required(&body)?;
    if body.lines.is_empty() || body.lines.len() > 200 {
        return Err(ApiError::unprocessable("invalid-lines", "a request needs 1 to 200 lines"));
    }
    check_evidence(&body.evidence)?;
    if !body.note.is_empty() {
        check_text("note", &body.note, 300)?;
    }
    if body.return_method != ReturnMethod::DropOff && state.carriers.carriers.is_empty() {
        return Err(ApiError::unprocessable("after-sales-refused", "no carrier account is configured to collect returns: return_method drop_off"));
    }
    let method = body.return_method;
    let ask = Ask { order_id, kind: body.kind, reason: body.reason, lines: body.lines, evidence: body.evidence, note: body.note, method, now_ms: now_ms() };
    let response = keyed_write(&state, Some(request), StatusCode::CREATED, move |tx| {
        let policy = flow::policy_in_force(tx)?;
        let r = flow::request(tx, &ask, &policy)?;
        Ok::<_, AfterSalesError>(flow::with_shipment(tx, r)?)
    })
    .await?;
    state.signals.payments.notify_one();
    Ok(response)
}

#[utoipa::path(get, path = "/api/v1/orders/{id}/after-sales", params(doc::PathId),
    responses((status = 200, body = Vec<AfterSalesRequest>), doc::BadRequest, doc::Unauthorized, doc::Unavailable), tag = "after-sales")]
pub async fn for_order(_: Reader, State(state): State<AppState>, Path(order_id): Path<u64>) -> Result<Json<Vec<AfterSalesRequest>>, ApiError> {
    Ok(Json(state.db.read(move |tx| {
        let requests = store::for_order(tx, order_id)?;
        flow::with_shipments(tx, requests)
    }).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// `review` is HQ's queue; `attention` the returns whose refund or replacement failed.
    #[param(value_type = Option<String>, pattern = "^(review|rejected|awaiting_return|refunding|replacing|completed|refused|attention|withdrawn)$")]
    pub state: Option<String>,
    /// Default 100, at most 1,000.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// Requests, newest first.
#[utoipa::path(get, path = "/api/v1/after-sales", params(ListQuery),
    responses((status = 200, body = Vec<AfterSalesRequest>), doc::BadRequest, doc::Unauthorized, doc::Unavailable), tag = "after-sales")]
pub async fn list(_: Reader, State(state): State<AppState>, Query(q): Query<ListQuery>) -> Result<Json<Vec<AfterSalesRequest>>, ApiError> {
    let filter = match q.state.as_deref() {
        Some(raw) => Some(RequestState::parse(raw).ok_or_else(|| ApiError::BadRequest(format!("unknown state {raw}")))?),
        None => None,
    };
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be between 1 and 1000".into()));
    }
    Ok(Json(state.db.read(move |tx| {
        let requests = store::list(tx, filter, limit)?;
        flow::with_shipments(tx, requests)
    }).await?))
}

#[utoipa::path(get, path = "/api/v1/after-sales/{id}", params(doc::PathId),
    responses((status = 200, body = AfterSalesRequest), doc::BadRequest, doc::Unauthorized, doc::NotFound, doc::Unavailable), tag = "after-sales")]
pub async fn get(_: Reader, State(state): State<AppState>, Path(id): Path<u64>) -> Result<Json<AfterSalesRequest>, ApiError> {
    let request = state
        .db
        .read(move |tx| -> Result<AfterSalesRequest, AfterSalesError> {
            let r = store::load(tx, id, false)?.ok_or_else(|| AfterSalesError::NotFound(format!("after-sales request {id}")))?;
            Ok(flow::with_shipment(tx, r)?)
        })
        .await?;
    Ok(Json(request))
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovedLine {
    pub sku: Sku,
    #[schema(minimum = 1, maximum = 100000)]
    pub qty: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewDecision {
    pub approve: bool,
    /// A partial approval: fewer units than asked. Absent: all of them.
    #[serde(default)]
    #[schema(max_items = 200)]
    pub lines: Option<Vec<ApprovedLine>>,
    #[serde(default)]
    #[schema(value_type = doc::Text300)]
    pub note: String,
}

/// HQ decides a request in review (approve all, some units, or reject), settles a received
/// return whose refund or replacement failed (approve tries again, reject closes it), or
/// withdraws an approved return whose goods never came (reject: the warehouse is told, an
/// exchange's reserved replacement is released).
#[utoipa::path(post, path = "/api/v1/after-sales/{id}/review", params(doc::PathId, doc::RequiredIdempotencyKey), request_body = ReviewDecision,
    responses((status = 200, body = AfterSalesRequest), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Conflict, doc::Unavailable), tag = "after-sales")]
pub async fn review(_: Admin, State(state): State<AppState>, key: Keyed, Path(id): Path<u64>, Json(body): Json<ReviewDecision>) -> Result<Response, ApiError> {
    let request = key.required(&body)?;
    if !body.note.is_empty() {
        check_text("note", &body.note, 300)?;
    }
    if body.lines.as_ref().is_some_and(|l| l.is_empty() || l.len() > 200) {
        return Err(ApiError::unprocessable("invalid-lines", "a partial approval names 1 to 200 lines"));
    }
    let lines: Option<Vec<(Sku, i64)>> = body.lines.map(|l| l.into_iter().map(|l| (l.sku, l.qty)).collect());
    let (approve, note, now) = (body.approve, body.note, now_ms());
    let response = keyed_write(&state, Some(request), StatusCode::OK, move |tx| {
        let r = flow::review(tx, id, approve, lines.as_deref(), &note, now)?;
        Ok::<_, AfterSalesError>(flow::with_shipment(tx, r)?)
    })
    .await?;
    state.signals.payments.notify_one();
    Ok(response)
}

#[utoipa::path(get, path = "/api/v1/after-sales/policy",
    responses((status = 200, body = ReturnPolicy), doc::Unauthorized, doc::Unavailable), tag = "after-sales")]
pub async fn get_policy(_: Reader, State(state): State<AppState>) -> Result<Json<ReturnPolicy>, ApiError> {
    Ok(Json(state.db.read(flow::policy_in_force).await?))
}

/// Replaces the return window and the approval rules (tried in order).
#[utoipa::path(put, path = "/api/v1/after-sales/policy", request_body = ReturnPolicy,
    responses((status = 200, body = ReturnPolicy), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::Unavailable), tag = "after-sales")]
pub async fn put_policy(_: Admin, State(state): State<AppState>, Json(body): Json<ReturnPolicy>) -> Result<Json<ReturnPolicy>, ApiError> {
    body.check().map_err(|why| ApiError::unprocessable("invalid-policy", why))?;
    let now = now_ms();
    let saved = body.clone();
    state.write(move |tx| store::save_policy(tx, &saved, now)).await?;
    Ok(Json(body))
}

impl From<AfterSalesError> for ApiError {
    fn from(error: AfterSalesError) -> Self {
        let detail = error.to_string();
        match error {
            AfterSalesError::NotFound(what) => ApiError::NotFound(what),
            AfterSalesError::Refused(_) => ApiError::unprocessable("after-sales-refused", detail),
            AfterSalesError::OutOfStock(_) => ApiError::Conflict { slug: "insufficient-stock", detail },
            AfterSalesError::Payment(e) => e.into(),
            AfterSalesError::Orders(e) => e.into(),
            AfterSalesError::Db(e) => e.into(),
        }
    }
}
