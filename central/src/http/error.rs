//! `ApiError`: every way an HQ API call can fail, rendered as RFC 9457 problem+json.
//! Internal errors are logged once here and the client gets a generic message.

use crate::catalog::CatalogError;
use crate::db::{DbError, DbErrorKind};
use crate::edge_sync::SyncError;
use crate::orders::OrdersError;
use crate::warehouses::WarehouseError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tote_shared::runtime::http::Problem;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no valid bearer token.
    #[error("missing or unknown bearer token")]
    Unauthorized,
    /// 403: the token is valid but may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// 404
    #[error("{0} not found")]
    NotFound(String),
    /// 409: the request conflicts with current state (stock, duplicates, sync gaps).
    #[error("{detail}")]
    Conflict { slug: &'static str, detail: String, high_water: Option<u64> },
    /// 422: well-formed but not acceptable (unknown SKU, forbidden transition, key reuse).
    #[error("{detail}")]
    Unprocessable { slug: &'static str, detail: String },
    /// 502: a payment channel failed or gave an answer we could not verify.
    #[error("{0}")]
    BadGateway(String),
    /// 503: the database is unreachable or kept refusing the transaction; try again.
    #[error("{0}")]
    Unavailable(String),
    /// 500: logged; the client learns nothing more.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn unprocessable(slug: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError::Unprocessable { slug, detail: detail.into() }
    }
}

impl From<DbError> for ApiError {
    fn from(error: DbError) -> Self {
        match error.kind {
            DbErrorKind::Unavailable | DbErrorKind::Retry => ApiError::Unavailable(error.to_string()),
            _ => ApiError::Internal(error.to_string()),
        }
    }
}

impl From<CatalogError> for ApiError {
    fn from(error: CatalogError) -> Self {
        let detail = error.to_string();
        match error {
            CatalogError::NotFound(what) => ApiError::NotFound(what),
            CatalogError::Duplicate(_) => ApiError::Conflict { slug: "duplicate", detail, high_water: None },
            CatalogError::Db(e) => e.into(),
        }
    }
}

impl From<WarehouseError> for ApiError {
    fn from(error: WarehouseError) -> Self {
        let detail = error.to_string();
        match error {
            WarehouseError::Duplicate(_) => ApiError::Conflict { slug: "duplicate", detail, high_water: None },
            WarehouseError::Db(e) => e.into(),
        }
    }
}

impl From<OrdersError> for ApiError {
    fn from(error: OrdersError) -> Self {
        let detail = error.to_string();
        match error {
            OrdersError::NotFound(what) => ApiError::NotFound(what),
            OrdersError::UnknownSku(_) => ApiError::unprocessable("unknown-sku", detail),
            OrdersError::InsufficientStock(_) => ApiError::Conflict { slug: "insufficient-stock", detail, high_water: None },
            OrdersError::Transition(_) => ApiError::unprocessable("order-state", detail),
            OrdersError::Stock(_) => ApiError::Conflict { slug: "stock-rule", detail, high_water: None },
            OrdersError::Invalid(_) => ApiError::unprocessable("invalid", detail),
            OrdersError::Db(e) => e.into(),
        }
    }
}

impl From<SyncError> for ApiError {
    fn from(error: SyncError) -> Self {
        let detail = error.to_string();
        match error {
            SyncError::Gap { high_water, .. } => ApiError::Conflict { slug: "sync-gap", detail, high_water: Some(high_water) },
            SyncError::UnknownWarehouse(w) => ApiError::NotFound(format!("warehouse {w}")),
            SyncError::Db(e) => e.into(),
        }
    }
}

impl From<crate::payment::PaymentError> for ApiError {
    fn from(error: crate::payment::PaymentError) -> Self {
        use crate::payment::PaymentError as E;
        let detail = error.to_string();
        match error {
            E::NotFound(what) => ApiError::NotFound(what),
            E::Mismatch { .. } => ApiError::unprocessable("amount-mismatch", detail),
            E::Refused(_) => ApiError::unprocessable("payment-refused", detail),
            E::Blocked { .. } => ApiError::Forbidden(detail),
            E::NoChannel(_) => ApiError::unprocessable("unknown-channel", detail),
            E::Channel(crate::payment::channel::ChannelError::Refused { .. }) => ApiError::unprocessable("channel-refused", detail),
            E::Channel(_) => ApiError::BadGateway(detail),
            E::Orders(e) => e.into(),
            E::Db(e) => e.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let detail = self.to_string();
        let problem = match self {
            ApiError::BadRequest(_) => Problem::new(StatusCode::BAD_REQUEST, "bad-request", "Bad request", detail),
            ApiError::Unauthorized => {
                Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", "Authentication required", detail)
            }
            ApiError::Forbidden(_) => Problem::new(StatusCode::FORBIDDEN, "forbidden", "Not allowed", detail),
            ApiError::NotFound(_) => Problem::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail),
            ApiError::Conflict { slug, high_water, .. } => {
                let p = Problem::new(StatusCode::CONFLICT, slug, "Conflict with current state", detail);
                match high_water {
                    Some(hw) => p.with("high_water", hw.into()),
                    None => p,
                }
            }
            ApiError::Unprocessable { slug, .. } => {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, slug, "Request cannot be processed", detail)
            }
            ApiError::BadGateway(_) => {
                tracing::warn!(error = %detail, "payment channel failed");
                Problem::new(StatusCode::BAD_GATEWAY, "channel-error", "The payment channel failed", detail)
            }
            ApiError::Unavailable(_) => {
                tracing::warn!(error = %detail, "database unavailable");
                Problem::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "Try again shortly", "The database is busy or unreachable; the request changed nothing")
            }
            ApiError::Internal(_) => {
                tracing::error!(error = %detail, "internal error");
                Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal error", "Something went wrong on our side; it has been logged")
            }
        };
        problem.into_response()
    }
}
