//! The HQ API: JSON under `/api/v1`, problem+json errors, bearer auth, size limits.
//! One module per resource; only this module tree knows JSON shapes of requests.

pub mod catalog;
pub mod error;
pub mod inventory;
pub mod openapi;
pub mod ops;
pub mod orders;
pub mod sync;
pub mod warehouses;

use crate::startup::AppState;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use tower::limit::GlobalConcurrencyLimitLayer;

/// Sync pushes carry up to `MAX_PUSH_BATCH` events, so they get a larger body limit.
pub const SYNC_BODY_LIMIT_BYTES: usize = 8 * 1024 * 1024;

pub fn router(state: AppState) -> Router {
    let settings = &state.settings.http;
    let sync = Router::new()
        .route("/api/v1/sync/events", post(sync::push_events))
        .layer(DefaultBodyLimit::max(SYNC_BODY_LIMIT_BYTES));
    let api = Router::new()
        .route("/api/v1/openapi.json", get(openapi::document))
        .route("/api/v1/spus", post(catalog::create_spu))
        .route("/api/v1/skus", post(catalog::create_sku))
        .route("/api/v1/skus/{sku}", get(catalog::get_sku))
        .route("/api/v1/warehouses", post(warehouses::create).get(warehouses::list))
        .route("/api/v1/inventory/{sku}", get(inventory::levels))
        .route("/api/v1/inventory/{sku}/ledger", get(inventory::ledger))
        .route("/api/v1/orders", post(orders::create))
        .route("/api/v1/orders/{id}", get(orders::get))
        .route("/api/v1/orders/{id}/history", get(orders::history))
        .route("/api/v1/orders/{id}/pay", post(orders::pay))
        .route("/api/v1/orders/{id}/cancel", post(orders::cancel))
        .route("/api/v1/sync/commands", get(sync::pull_commands))
        .route("/api/v1/sync/status", get(sync::status))
        .route("/api/v1/sync/rejects", get(sync::rejects))
        .route("/health", get(ops::health))
        .route("/metrics", get(ops::metrics))
        .layer(DefaultBodyLimit::max(settings.max_body_bytes));
    api.merge(sync)
        .fallback(tote_shared::runtime::http::not_found)
        .layer(GlobalConcurrencyLimitLayer::new(settings.max_in_flight))
        .with_state(state)
}

/// Rejects free text that is empty or longer than `max` characters.
pub fn check_text(field: &str, value: &str, max: usize) -> Result<(), error::ApiError> {
    let len = value.trim().chars().count();
    if len == 0 || len > max {
        return Err(error::ApiError::unprocessable("invalid-field", format!("{field} must have 1 to {max} characters")));
    }
    Ok(())
}
