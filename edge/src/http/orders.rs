//! Orders released to this warehouse: their progress, packing and shipping.

use super::error::ApiError;
use super::{answer, Idempotency};
use crate::startup::AppState;
use crate::store::FulfilmentView;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tote_shared::openapi as doc;
use tote_shared::runtime::http::{Json, Path, Query};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct OrderQuery {
    #[param(value_type = Option<String>, pattern = "^(picking|picked|packed|shipped|cancelled|failed)$")]
    pub state: Option<String>,
    /// Default 100; at most 1,000 are answered.
    pub limit: Option<u32>,
}

const STATES: [&str; 6] = ["picking", "picked", "packed", "shipped", "cancelled", "failed"];

#[utoipa::path(get, path = "/api/v1/orders", params(OrderQuery), responses((status = 200, body = Vec<FulfilmentView>), doc::BadRequest, doc::Unauthorized), tag = "orders")]
pub async fn list(State(state): State<AppState>, Query(q): Query<OrderQuery>) -> Result<Json<Vec<FulfilmentView>>, ApiError> {
    if let Some(s) = &q.state {
        if !STATES.contains(&s.as_str()) {
            return Err(ApiError::BadRequest(format!("state must be one of {}", STATES.join(", "))));
        }
    }
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    Ok(Json(state.store.fulfilments(q.state, limit).await?))
}

#[utoipa::path(get, path = "/api/v1/orders/{id}", params(doc::PathId), responses((status = 200, body = FulfilmentView), doc::BadRequest, doc::Unauthorized, doc::NotFound), tag = "orders")]
pub async fn get(State(state): State<AppState>, Path(id): Path<u64>) -> Result<Json<FulfilmentView>, ApiError> {
    Ok(Json(state.store.fulfilment(id).await?))
}

#[derive(Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PackRequest {
    /// Every code scanned into the carton (one per unit); when given, it must match what was
    /// picked for the order exactly.
    #[serde(default)]
    #[schema(value_type = Option<Vec<doc::Scan>>, max_items = 1000)]
    pub items: Option<Vec<String>>,
    /// The carton size chosen (S, M, L, XL).
    #[serde(default)]
    #[schema(pattern = "^(S|M|L|XL)$")]
    pub carton: Option<String>,
}

/// Packer: the order goes into a carton (checked against what was picked when `items` is sent).
#[utoipa::path(post, path = "/api/v1/orders/{id}/pack", request_body = PackRequest, params(doc::PathId, doc::IdempotencyKey),
    responses((status = 200, body = FulfilmentView), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Conflict), tag = "orders")]
pub async fn pack(State(state): State<AppState>, Path(id): Path<u64>, idempotency: Idempotency, Json(body): Json<PackRequest>) -> Result<Response, ApiError> {
    let key = idempotency.key(&body)?;
    if body.carton.as_deref().is_some_and(|c| !["S", "M", "L", "XL"].contains(&c)) {
        return Err(ApiError::Unprocessable("carton must be S, M, L or XL".into()));
    }
    let carton = match body.items {
        Some(items) if items.len() > 1000 => return Err(ApiError::Unprocessable("at most 1000 items per carton".into())),
        Some(items) => {
            let mut tally = crate::store::Tally::new();
            for code in items {
                let (sku, _, _) = super::stock::from_scan(&state, code.trim(), String::new()).await?;
                *tally.entry(sku.to_string()).or_default() += 1;
            }
            Some(tally)
        }
        None => None,
    };
    Ok(answer(StatusCode::OK, state.store.pack(key, id, carton).await?))
}

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShipRequest {
    /// Absent: the carrier HQ chose when it released the order.
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9_-]{1,32}$", min_length = 1, max_length = 32)]
    pub carrier: Option<String>,
    /// Absent: the next number of the carrier's waybill pool (the usual way). Present: the
    /// number of a paper waybill, which must not be a pool number or another parcel's.
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9_-]{1,40}$", min_length = 1, max_length = 40)]
    pub tracking_number: Option<String>,
}

/// Packer: the carton leaves with a carrier under a waybill from the carrier's pool (or a
/// typed paper one); its label is queued for the printer.
#[utoipa::path(post, path = "/api/v1/orders/{id}/ship", request_body = ShipRequest, params(doc::PathId, doc::IdempotencyKey),
    responses((status = 200, body = FulfilmentView), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Conflict), tag = "orders")]
pub async fn ship(State(state): State<AppState>, Path(id): Path<u64>, idempotency: Idempotency, Json(body): Json<ShipRequest>) -> Result<Response, ApiError> {
    let key = idempotency.key(&body)?;
    use tote_shared::sync::is_plain_code;
    if body.carrier.as_deref().is_some_and(|c| !is_plain_code(c, 32)) {
        return Err(ApiError::Unprocessable("carrier must be 1 to 32 letters, digits, '-' or '_'".into()));
    }
    if body.tracking_number.as_deref().is_some_and(|t| !is_plain_code(t, 40)) {
        return Err(ApiError::Unprocessable("tracking_number must be 1 to 40 letters, digits, '-' or '_'".into()));
    }
    let printing = &state.settings.printing;
    let label = crate::store::LabelSettings { gs1_company_prefix: printing.gs1_company_prefix.clone(), sender: printing.sender.clone() };
    Ok(answer(StatusCode::OK, state.store.ship(key, id, body.carrier, body.tracking_number, label).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PrintQuery {
    /// `queued` or `printed`; default both.
    #[param(value_type = Option<String>, pattern = "^(queued|printed)$")]
    pub state: Option<String>,
}

/// The label print queue: what waits for the printer and why.
#[utoipa::path(get, path = "/api/v1/print-jobs", params(PrintQuery), responses((status = 200, body = Vec<crate::store::PrintJob>), doc::BadRequest, doc::Unauthorized), tag = "orders")]
pub async fn print_jobs(State(state): State<AppState>, Query(q): Query<PrintQuery>) -> Result<Json<Vec<crate::store::PrintJob>>, ApiError> {
    if q.state.as_deref().is_some_and(|s| s != "queued" && s != "printed") {
        return Err(ApiError::BadRequest("state must be queued or printed".into()));
    }
    Ok(Json(state.store.print_jobs(q.state, 500).await?))
}

/// Each carrier's waybill pool at this warehouse: numbers left and used. Central refills a
/// pool whenever it can reach the carrier.
#[utoipa::path(get, path = "/api/v1/waybills", responses((status = 200, body = Vec<crate::store::PoolView>), doc::Unauthorized), tag = "orders")]
pub async fn waybill_pools(State(state): State<AppState>) -> Result<Json<Vec<crate::store::PoolView>>, ApiError> {
    Ok(Json(state.store.waybill_pools().await?))
}
