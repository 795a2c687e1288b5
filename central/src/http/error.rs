//! `ApiError`: every way an HQ API call can fail, rendered as RFC 9457 problem+json.
//! Internal errors are logged once here and the client gets a generic message.

use crate::catalog::CatalogError;
use crate::db::{DbError, DbErrorKind};
use crate::edge_sync::SyncError;
use crate::logistics::LogisticsError;
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
    /// 401 on sign-in: every refusal says the same.
    #[error("{0}")]
    SignInRefused(String),
    /// 503 with Retry-After: too many sign-ins waiting for a password comparison.
    #[error("{0}")]
    Busy(String),
    /// 403: the token is valid but may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// 404
    #[error("{0} not found")]
    NotFound(String),
    /// 409: the request conflicts with current state (stock, duplicates).
    #[error("{detail}")]
    Conflict { slug: &'static str, detail: String },
    /// 409 from the edge stream rule, with the numbers the edge or HQ acts on as extensions
    /// (`high_water`, `expected_seq`, `edge_head`).
    #[error("{detail}")]
    SyncConflict {
        slug: &'static str,
        detail: String,
        numbers: Vec<(&'static str, u64)>,
    },
    /// 422: well-formed but not acceptable (unknown SKU, forbidden transition, key reuse).
    #[error("{detail}")]
    Unprocessable { slug: &'static str, detail: String },
    /// 422 `invalid-field` with `field`: free text that is blank, too long, or carries a
    /// control or bidirectional formatting character.
    #[error("{0}")]
    InvalidField(#[from] tote_shared::text::TextError),
    /// 502: a payment channel failed or gave an answer we could not verify.
    #[error("{0}")]
    BadGateway(String),
    /// 503: the database is unreachable or kept refusing the transaction; try again.
    #[error("{0}")]
    Unavailable(String),
    /// 507 `storage-full`: the database's disk is full; nothing was written.
    #[error("{0}")]
    StorageFull(String),
    /// 500: logged; the client learns nothing more.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn unprocessable(slug: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError::Unprocessable {
            slug,
            detail: detail.into(),
        }
    }
}

impl From<DbError> for ApiError {
    fn from(error: DbError) -> Self {
        match error.kind {
            DbErrorKind::Unavailable | DbErrorKind::Retry => {
                ApiError::Unavailable(error.to_string())
            }
            DbErrorKind::Full => ApiError::StorageFull(error.to_string()),
            _ => ApiError::Internal(error.to_string()),
        }
    }
}

impl From<crate::inventory::health::HealthError> for ApiError {
    fn from(error: crate::inventory::health::HealthError) -> Self {
        use crate::inventory::health::HealthError;
        let detail = error.to_string();
        match error {
            HealthError::Invalid(_) => ApiError::unprocessable("invalid", detail),
            HealthError::Db(e) => e.into(),
        }
    }
}

impl From<crate::finance::periods::FinanceError> for ApiError {
    fn from(error: crate::finance::periods::FinanceError) -> Self {
        use crate::finance::periods::FinanceError;
        let detail = error.to_string();
        match error {
            FinanceError::Refused(_) => ApiError::unprocessable("period-refused", detail),
            FinanceError::Closed(_) => ApiError::Conflict {
                slug: "period-closed",
                detail,
            },
            FinanceError::Db(e) => e.into(),
        }
    }
}

impl From<CatalogError> for ApiError {
    fn from(error: CatalogError) -> Self {
        let detail = error.to_string();
        match error {
            CatalogError::NotFound(what) => ApiError::NotFound(what),
            CatalogError::Duplicate(_) => ApiError::Conflict {
                slug: "duplicate",
                detail,
            },
            CatalogError::Invalid(_) => ApiError::unprocessable("invalid-field", detail),
            CatalogError::Db(e) => e.into(),
        }
    }
}

impl From<WarehouseError> for ApiError {
    fn from(error: WarehouseError) -> Self {
        let detail = error.to_string();
        match error {
            WarehouseError::Duplicate(_) => ApiError::Conflict {
                slug: "duplicate",
                detail,
            },
            WarehouseError::NotFound(code) => ApiError::NotFound(format!("warehouse {code}")),
            WarehouseError::Db(e) => e.into(),
        }
    }
}

impl From<LogisticsError> for ApiError {
    fn from(error: LogisticsError) -> Self {
        match error {
            LogisticsError::NotFound(what) => ApiError::NotFound(what),
            LogisticsError::Conflict(detail) => ApiError::Conflict {
                slug: "conflict",
                detail,
            },
            LogisticsError::Carrier(detail) => ApiError::BadGateway(detail),
            LogisticsError::Db(e) => e.into(),
        }
    }
}

impl From<OrdersError> for ApiError {
    fn from(error: OrdersError) -> Self {
        let detail = error.to_string();
        match error {
            OrdersError::NotFound(what) => ApiError::NotFound(what),
            OrdersError::UnknownSku(_) => ApiError::unprocessable("unknown-sku", detail),
            OrdersError::NotOnSale { .. } => ApiError::unprocessable("not-on-sale", detail),
            OrdersError::InsufficientStock(_) => ApiError::Conflict {
                slug: "insufficient-stock",
                detail,
            },
            OrdersError::Transition(_) => ApiError::unprocessable("order-state", detail),
            OrdersError::Stock(_) => ApiError::Conflict {
                slug: "stock-rule",
                detail,
            },
            OrdersError::Invalid(_) => ApiError::unprocessable("invalid", detail),
            OrdersError::Refused(refusal) => {
                use crate::orders::checks::Refusal;
                match refusal {
                    Refusal::IncompleteAddress(_) => {
                        ApiError::unprocessable("incomplete-address", detail)
                    }
                    Refusal::UnknownRegion(_) => ApiError::unprocessable("unknown-region", detail),
                    Refusal::Blocked { .. } => ApiError::unprocessable("blocklisted", detail),
                    Refusal::OverLimit { .. } => ApiError::Conflict {
                        slug: "purchase-limit",
                        detail,
                    },
                    Refusal::Duplicate { .. } => ApiError::Conflict {
                        slug: "duplicate-order",
                        detail,
                    },
                }
            }
            OrdersError::PriceChanged(_) => ApiError::Conflict {
                slug: "price-changed",
                detail,
            },
            OrdersError::Checkout(e) => e.into(),
            OrdersError::Db(e) => e.into(),
        }
    }
}

impl From<SyncError> for ApiError {
    fn from(error: SyncError) -> Self {
        let detail = error.to_string();
        match error {
            SyncError::Gap { high_water, .. } => ApiError::SyncConflict {
                slug: "sync-gap",
                detail,
                numbers: vec![("high_water", high_water), ("expected_seq", high_water + 1)],
            },
            SyncError::Ahead { high_water, head } => ApiError::SyncConflict {
                slug: "sync-ahead",
                detail,
                numbers: vec![("high_water", high_water), ("edge_head", head)],
            },
            SyncError::Moved { actual, .. } => ApiError::SyncConflict {
                slug: "high-water-moved",
                detail,
                numbers: vec![("high_water", actual)],
            },
            SyncError::Invalid(_) => ApiError::unprocessable("invalid-sync", detail),
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
            E::Channel(crate::payment::channel::ChannelError::Refused { .. }) => {
                ApiError::unprocessable("channel-refused", detail)
            }
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
            ApiError::BadRequest(_) => Problem::new(
                StatusCode::BAD_REQUEST,
                "bad-request",
                "Bad request",
                detail,
            ),
            ApiError::Unauthorized => Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Authentication required",
                detail,
            ),
            ApiError::SignInRefused(_) => Problem::new(
                StatusCode::UNAUTHORIZED,
                "sign-in-refused",
                "Sign-in refused",
                detail,
            ),
            ApiError::Busy(_) => {
                let mut response = Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "busy",
                    "Too many sign-ins at once",
                    detail,
                )
                .into_response();
                response.headers_mut().insert(
                    axum::http::header::RETRY_AFTER,
                    axum::http::HeaderValue::from_static("1"),
                );
                return response;
            }
            ApiError::Forbidden(_) => {
                Problem::new(StatusCode::FORBIDDEN, "forbidden", "Not allowed", detail)
            }
            ApiError::NotFound(_) => {
                Problem::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
            }
            ApiError::Conflict { slug, .. } => Problem::new(
                StatusCode::CONFLICT,
                slug,
                "Conflict with current state",
                detail,
            ),
            ApiError::SyncConflict { slug, numbers, .. } => numbers.into_iter().fold(
                Problem::new(
                    StatusCode::CONFLICT,
                    slug,
                    "Conflict with the edge's event stream",
                    detail,
                ),
                |p, (name, n)| p.with(name, n.into()),
            ),
            ApiError::Unprocessable { slug, .. } => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                slug,
                "Request cannot be processed",
                detail,
            ),
            ApiError::InvalidField(error) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-field",
                "A text field is not acceptable",
                detail,
            )
            .with("field", error.field().into()),
            ApiError::BadGateway(_) => {
                tracing::warn!(error = %detail, "payment channel failed");
                Problem::new(
                    StatusCode::BAD_GATEWAY,
                    "channel-error",
                    "The payment channel failed",
                    detail,
                )
            }
            ApiError::StorageFull(_) => {
                tracing::error!(error = %detail, "the database's disk is full");
                let mut response = Problem::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    "storage-full",
                    "The database's disk is full",
                    "Nothing was written; send it again once space is freed (the same Idempotency-Key applies it once)",
                )
                .into_response();
                response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("30"));
                return response;
            }
            ApiError::Unavailable(_) => {
                tracing::warn!(error = %detail, "database unavailable");
                let mut response = Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "Try again shortly",
                    "The database is busy or unreachable; the request changed nothing",
                )
                .into_response();
                // A pool reconnects within a second or two; a client should not hammer it.
                response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("1"));
                return response;
            }
            ApiError::Internal(_) => {
                tracing::error!(error = %detail, "internal error");
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Internal error",
                    "Something went wrong on our side; it has been logged",
                )
            }
        };
        problem.into_response()
    }
}
