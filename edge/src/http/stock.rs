//! Locations, receiving, stock adjustments (count, damage, found) and stock queries.

use super::error::ApiError;
use super::{answer, Idempotency};
use crate::startup::AppState;
use crate::store::{Adjustment, LocationRecord, Receipt, StockRecord};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tote_shared::openapi as doc;
use tote_shared::runtime::http::{Json, Query};
use tote_shared::runtime::system::now_ms;
use tote_shared::scan::Scan;
use tote_shared::sync::AdjustReason;
use tote_shared::{Gtin, LocationCode, Qty, Sku};

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLocation {
    pub code: LocationCode,
}

/// Supervisor: a new location (bin) whose barcode is its code.
#[utoipa::path(post, path = "/api/v1/locations", request_body = NewLocation, params(doc::IdempotencyKey),
    responses((status = 201, body = LocationRecord), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::Conflict), tag = "stock")]
pub async fn create_location(State(state): State<AppState>, idempotency: Idempotency, Json(body): Json<NewLocation>) -> Result<Response, ApiError> {
    let key = idempotency.key(&body)?;
    Ok(answer(StatusCode::CREATED, state.store.create_location(key, body.code).await?))
}

#[utoipa::path(get, path = "/api/v1/locations", responses((status = 200, body = Vec<LocationRecord>), doc::Unauthorized), tag = "stock")]
pub async fn locations(State(state): State<AppState>) -> Result<Json<Vec<LocationRecord>>, ApiError> {
    Ok(Json(state.store.locations().await?))
}

/// Identify the item by its scanned barcode (`gtin`) or by `sku`, not both.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiptRequest {
    pub location: LocationCode,
    /// Exactly what the scanner read: a GS1 code (batch and expiry are taken from it) or a
    /// plain EAN/UPC/GTIN.
    #[serde(default)]
    #[schema(value_type = Option<doc::Scan>)]
    pub scan: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Gtin>)]
    pub gtin: Option<String>,
    #[serde(default)]
    pub sku: Option<Sku>,
    pub qty: Qty,
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9-]{0,20}$", max_length = 20)]
    pub lot: String,
    /// The expected delivery (ASN) this arrives on; absent for a blind receipt.
    #[serde(default)]
    #[schema(value_type = Option<doc::Text40>)]
    pub delivery: Option<String>,
}

/// Receiver: goods put into stock at a location, identified by `scan`, `gtin` or `sku`
/// (exactly one).
#[utoipa::path(post, path = "/api/v1/receipts", request_body = ReceiptRequest, params(doc::IdempotencyKey),
    responses((status = 201, description = "the stock row as it is now", body = StockRecord), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Conflict), tag = "stock")]
pub async fn receive(State(state): State<AppState>, idempotency: Idempotency, Json(body): Json<ReceiptRequest>) -> Result<Response, ApiError> {
    let key = idempotency.key(&body)?;
    let (sku, lot, expiry) = match body.scan {
        Some(raw) if body.gtin.is_none() && body.sku.is_none() => from_scan(&state, &raw, body.lot).await?,
        Some(_) => return Err(ApiError::Unprocessable("send exactly one of `scan`, `gtin` or `sku`".into())),
        None => (resolve_item(&state, body.gtin, body.sku).await?, body.lot, None),
    };
    if let Some(delivery) = &body.delivery {
        super::check_text("delivery", delivery, 40)?;
    }
    let receipt = Receipt { location: body.location, sku, qty: body.qty, lot, expiry, delivery: body.delivery };
    Ok(answer(StatusCode::CREATED, state.store.receive(key, receipt).await?))
}

/// The item, lot and expiry a scanned code names.
pub(crate) async fn from_scan(state: &AppState, raw: &str, typed_lot: String) -> Result<(Sku, String, Option<String>), ApiError> {
    let year: u16 = tote_shared::vda5050::iso8601_utc(now_ms())[..4].parse().unwrap_or(2026);
    match tote_shared::scan::parse(raw, year).map_err(|e| ApiError::Unprocessable(format!("scan not understood: {e}")))? {
        Scan::Gtin(gtin) => Ok((state.store.sku_for_gtin(gtin.to_string()).await?, typed_lot, None)),
        Scan::Gs1(g) => {
            let gtin = g.gtin.ok_or_else(|| ApiError::Unprocessable("this GS1 code has no item number (AI 01)".into()))?;
            let sku = state.store.sku_for_gtin(gtin.to_string()).await?;
            Ok((sku, g.batch.unwrap_or(typed_lot), g.expiry.map(|d| d.to_string())))
        }
        other => Err(ApiError::Unprocessable(format!("expected an item barcode, scanned {}", describe(&other)))),
    }
}

fn describe(scan: &Scan) -> String {
    match scan {
        Scan::Location(code) => format!("location {code}"),
        Scan::Pod(code) | Scan::Tote(code) | Scan::Carton(code) => code.clone(),
        Scan::Gtin(g) => format!("item {g}"),
        Scan::Gs1(_) => "a GS1 code".into(),
    }
}

async fn resolve_item(state: &AppState, gtin: Option<String>, sku: Option<Sku>) -> Result<Sku, ApiError> {
    match (gtin, sku) {
        (Some(code), None) => {
            let gtin = Gtin::parse(code.trim()).map_err(|e| ApiError::Unprocessable(e.to_string()))?;
            Ok(state.store.sku_for_gtin(gtin.to_string()).await?)
        }
        (None, Some(sku)) => Ok(sku),
        _ => Err(ApiError::Unprocessable("send exactly one of `gtin` (scanned barcode) or `sku`".into())),
    }
}

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdjustmentRequest {
    pub location: LocationCode,
    pub sku: Sku,
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9-]{0,20}$", max_length = 20)]
    pub lot: String,
    pub reason: AdjustReason,
    /// For `count`: units physically there now.
    #[serde(default)]
    pub counted: Option<i64>,
    /// For `damage` (negative) and `found` (positive).
    #[serde(default)]
    pub delta: Option<i64>,
}

/// Supervisor: a count, damage or found stock at a location.
#[utoipa::path(post, path = "/api/v1/adjustments", request_body = AdjustmentRequest, params(doc::IdempotencyKey),
    responses((status = 200, description = "the stock row as it is now", body = StockRecord), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Conflict), tag = "stock")]
pub async fn adjust(State(state): State<AppState>, idempotency: Idempotency, Json(body): Json<AdjustmentRequest>) -> Result<Response, ApiError> {
    let key = idempotency.key(&body)?;
    let adjustment = Adjustment {
        location: body.location,
        sku: body.sku,
        lot: body.lot,
        reason: body.reason,
        counted: body.counted,
        delta: body.delta,
    };
    Ok(answer(StatusCode::OK, state.store.adjust(key, adjustment).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StockQuery {
    pub sku: Option<Sku>,
    pub location: Option<LocationCode>,
}

#[utoipa::path(get, path = "/api/v1/stock", params(StockQuery), responses((status = 200, body = Vec<StockRecord>), doc::BadRequest, doc::Unauthorized), tag = "stock")]
pub async fn query(State(state): State<AppState>, Query(q): Query<StockQuery>) -> Result<Json<Vec<StockRecord>>, ApiError> {
    Ok(Json(state.store.stock(q.sku, q.location).await?))
}

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveryLineRequest {
    pub sku: Sku,
    pub qty: Qty,
}

/// An expected delivery (ASN), from procurement or a supplier integration.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDelivery {
    #[schema(pattern = "^[A-Za-z0-9_-]{1,40}$", max_length = 40)]
    pub id: String,
    #[schema(value_type = doc::Text80)]
    pub supplier: String,
    #[schema(min_items = 1, max_items = 500)]
    pub lines: Vec<DeliveryLineRequest>,
}

/// Supervisor: an expected delivery (ASN) with its lines.
#[utoipa::path(post, path = "/api/v1/deliveries", request_body = NewDelivery, params(doc::IdempotencyKey),
    responses((status = 201, body = crate::store::DeliveryView), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Conflict), tag = "stock")]
pub async fn create_delivery(State(state): State<AppState>, idempotency: Idempotency, Json(body): Json<NewDelivery>) -> Result<Response, ApiError> {
    let key = idempotency.key(&body)?;
    let id_ok = (1..=40).contains(&body.id.len()) && body.id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !id_ok {
        return Err(ApiError::Unprocessable("id: 1 to 40 letters, digits, '-' or '_'".into()));
    }
    super::check_text("supplier", &body.supplier, 80)?;
    if body.lines.is_empty() || body.lines.len() > 500 {
        return Err(ApiError::Unprocessable("lines: 1 to 500".into()));
    }
    let lines = body.lines.into_iter().map(|l| (l.sku.to_string(), l.qty.as_i64())).collect();
    Ok(answer(StatusCode::CREATED, state.store.create_delivery(key, body.id, body.supplier.trim().to_owned(), lines).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeliveryQuery {
    /// `open` or `received`; default both.
    #[param(value_type = Option<String>, pattern = "^(open|received)$")]
    pub state: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/deliveries", params(DeliveryQuery), responses((status = 200, body = Vec<crate::store::DeliveryView>), doc::BadRequest, doc::Unauthorized), tag = "stock")]
pub async fn deliveries(State(state): State<AppState>, Query(q): Query<DeliveryQuery>) -> Result<Json<Vec<crate::store::DeliveryView>>, ApiError> {
    if q.state.as_deref().is_some_and(|s| s != "open" && s != "received") {
        return Err(ApiError::BadRequest("state must be open or received".into()));
    }
    Ok(Json(state.store.deliveries(q.state).await?))
}
