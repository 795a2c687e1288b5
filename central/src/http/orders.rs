//! Orders: idempotent intake with routing and stock locks, sandbox payment, cancel, history.

use super::check_text;
use super::error::ApiError;
use super::warehouses::resolve_point;
use crate::auth::{Admin, Reader};
use crate::startup::AppState;
use crate::store::{CreateOrder, CreateOutcome, OrderHistoryEntry, OrderRecord};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use tote_shared::geo::GeoPoint;
use tote_shared::runtime::http::{Json, Path};
use tote_shared::runtime::system::now_ms;
use tote_shared::sync::{OrderLine, ShipTo};

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrder {
    /// Sales channel: app, web, mini_program, marketplace name …
    pub channel: String,
    pub lines: Vec<OrderLine>,
    pub ship_to: ShipTo,
    /// Coordinates of the address, when the channel has them; else the city is looked up.
    #[serde(default)]
    pub location: Option<GeoPoint>,
}

#[utoipa::path(
    post, path = "/api/v1/orders", request_body = NewOrder,
    params(("Idempotency-Key" = String, Header, description = "1-128 visible ASCII characters; same key + same body returns the same order")),
    responses((status = 201, body = OrderRecord), (status = 409, description = "no warehouse has the stock"), (status = 422, description = "unknown SKU, bad address, or key reused with another body")),
    tag = "orders"
)]
pub async fn create(_: Admin, State(state): State<AppState>, headers: HeaderMap, Json(order): Json<NewOrder>) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    validate(&order, state.settings.orders.max_lines)?;
    let destination = resolve_point(order.location, Some(&order.ship_to.city))?;
    let canonical = serde_json::to_vec(&order).map_err(|e| ApiError::Internal(e.to_string()))?;
    let request_hash: String = Sha256::digest(&canonical).iter().map(|b| format!("{b:02x}")).collect();
    let now = now_ms();
    let request = CreateOrder {
        idempotency_key: key,
        request_hash,
        channel: order.channel,
        lines: order.lines,
        ship_to: order.ship_to,
        destination,
        now_ms: now,
        payment_deadline_ms: now + state.settings.orders.payment_timeout_ms as i64,
    };
    let outcome = state.store.create_order(request).await?;
    let (record, replayed) = match outcome {
        CreateOutcome::Created(r) => {
            state.telemetry.orders_created.fetch_add(1, Ordering::Relaxed);
            (r, "false")
        }
        CreateOutcome::Replayed(r) => (r, "true"),
    };
    let mut response = (StatusCode::CREATED, Json(record)).into_response();
    response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static(replayed));
    Ok(response)
}

fn idempotency_key(headers: &HeaderMap) -> Result<String, ApiError> {
    tote_shared::runtime::http::idempotency_key(headers)
        .map_err(|why| ApiError::BadRequest(why.into()))?
        .ok_or_else(|| ApiError::BadRequest("the Idempotency-Key header is required".into()))
}

fn validate(order: &NewOrder, max_lines: usize) -> Result<(), ApiError> {
    check_text("channel", &order.channel, 40)?;
    if order.lines.is_empty() || order.lines.len() > max_lines {
        return Err(ApiError::unprocessable("invalid-lines", format!("an order needs 1 to {max_lines} lines")));
    }
    let mut seen = HashSet::new();
    for line in &order.lines {
        if !seen.insert(&line.sku) {
            return Err(ApiError::unprocessable("duplicate-line", format!("SKU {} appears twice; put the total in one line", line.sku)));
        }
    }
    check_text("ship_to.name", &order.ship_to.name, 100)?;
    check_text("ship_to.line1", &order.ship_to.line1, 300)?;
    check_text("ship_to.city", &order.ship_to.city, 100)?;
    if order.ship_to.postcode.chars().count() > 20 {
        return Err(ApiError::unprocessable("invalid-field", "ship_to.postcode must have at most 20 characters"));
    }
    Ok(())
}

#[utoipa::path(get, path = "/api/v1/orders/{id}", params(("id" = u64, Path)), responses((status = 200, body = OrderRecord)), tag = "orders")]
pub async fn get(_: Reader, State(state): State<AppState>, Path(id): Path<u64>) -> Result<Json<OrderRecord>, ApiError> {
    Ok(Json(state.store.get_order(id).await?))
}

#[utoipa::path(get, path = "/api/v1/orders/{id}/history", params(("id" = u64, Path)), responses((status = 200, body = Vec<OrderHistoryEntry>)), tag = "orders")]
pub async fn history(_: Reader, State(state): State<AppState>, Path(id): Path<u64>) -> Result<Json<Vec<OrderHistoryEntry>>, ApiError> {
    Ok(Json(state.store.order_history(id).await?))
}

/// Sandbox payment: turns the lock into a deduction and releases the order to its warehouse.
#[utoipa::path(post, path = "/api/v1/orders/{id}/pay", params(("id" = u64, Path)), responses((status = 200, body = OrderRecord)), tag = "orders")]
pub async fn pay(_: Admin, State(state): State<AppState>, Path(id): Path<u64>) -> Result<Json<OrderRecord>, ApiError> {
    Ok(Json(state.store.pay_order(id, now_ms()).await?))
}

#[utoipa::path(post, path = "/api/v1/orders/{id}/cancel", params(("id" = u64, Path)), responses((status = 200, body = OrderRecord)), tag = "orders")]
pub async fn cancel(_: Admin, State(state): State<AppState>, Path(id): Path<u64>) -> Result<Json<OrderRecord>, ApiError> {
    Ok(Json(state.store.cancel_order(id, now_ms()).await?))
}
