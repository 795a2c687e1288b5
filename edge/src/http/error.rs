//! `ApiError` for the edge API, rendered as RFC 9457 problem+json. A wrong scan says what
//! was expected and what was scanned, so the handheld can show it as-is.

use crate::store::StoreError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tote_shared::runtime::http::Problem;
use tote_shared::runtime::sqlite::{is_disk_full, is_storage_fault};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400
    #[error("{0}")]
    BadRequest(String),
    /// 401: no valid session or token.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: signed in, but the role does not allow this.
    #[error("{0}")]
    Forbidden(String),
    /// 503 with `Retry-After`: too many sign-ins waiting for a PIN comparison.
    #[error("{0}")]
    Busy(String),
    /// 404
    #[error("{0} not found")]
    NotFound(String),
    /// 409: the order or task is not in a state that allows this.
    #[error("{0}")]
    Conflict(String),
    /// 422: a scan that does not match what the task expects.
    #[error("wrong {what}: expected {expected}, scanned {scanned}")]
    WrongScan { what: &'static str, expected: String, scanned: String },
    /// 422
    #[error("{0}")]
    Unprocessable(String),
    /// 422: the Idempotency-Key already answered a different request; nothing was changed.
    #[error("{0}")]
    IdempotencyKeyReused(String),
    /// 422 `invalid-field` with `field`: free text that is blank, too long, or carries a
    /// control or bidirectional formatting character.
    #[error("{0}")]
    InvalidField(#[from] tote_shared::text::TextError),
    /// 507 `storage-full` with `Retry-After`: the edge's disk is full; nothing was recorded.
    #[error("{0}")]
    StorageFull(String),
    /// 503 `storage-error` with `Retry-After`: the disk failed under the write; not confirmed,
    /// so the client sends it again (with its Idempotency-Key).
    #[error("{0}")]
    StorageFault(String),
    /// 500: logged once; the client gets a generic message.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ApiError::NotFound(what),
            StoreError::WrongScan { what, expected, scanned } => ApiError::WrongScan { what, expected, scanned },
            StoreError::Invalid(why) => ApiError::Unprocessable(why),
            StoreError::Conflict(why) => ApiError::Conflict(why),
            e @ StoreError::IdempotencyMismatch(_) => ApiError::IdempotencyKeyReused(e.to_string()),
            StoreError::InsufficientStock(why) => ApiError::Conflict(format!("not enough stock: {why}")),
            StoreError::Database(e) if is_disk_full(&e) => ApiError::StorageFull(e.to_string()),
            StoreError::Database(e) if is_storage_fault(&e) => ApiError::StorageFault(e.to_string()),
            other @ (StoreError::Database(_) | StoreError::Corrupt(_) | StoreError::Closed(_)) => ApiError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let detail = self.to_string();
        let problem = match self {
            ApiError::BadRequest(_) => Problem::new(StatusCode::BAD_REQUEST, "bad-request", "Bad request", detail),
            ApiError::NotFound(_) => Problem::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail),
            ApiError::Unauthorized(_) => Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", "Sign in first", detail),
            ApiError::Forbidden(_) => Problem::new(StatusCode::FORBIDDEN, "forbidden", "Not allowed for your role", detail),
            ApiError::Busy(_) => {
                let mut response = Problem::new(StatusCode::SERVICE_UNAVAILABLE, "busy", "Too many sign-ins at once", detail).into_response();
                response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("1"));
                return response;
            }
            ApiError::Conflict(_) => Problem::new(StatusCode::CONFLICT, "conflict", "Not possible in the current state", detail),
            ApiError::WrongScan { what, expected, scanned } => {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "wrong-scan", "Wrong barcode scanned", detail)
                    .with("expected", json!(expected))
                    .with("scanned", json!(scanned))
                    .with("scan_kind", json!(what))
            }
            ApiError::Unprocessable(_) => Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", "Request cannot be processed", detail),
            ApiError::IdempotencyKeyReused(_) => {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "idempotency-key-reused", "Idempotency-Key reused for a different request", detail)
            }
            ApiError::InvalidField(error) => {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-field", "A text field is not acceptable", detail).with("field", json!(error.field()))
            }
            ApiError::StorageFull(_) | ApiError::StorageFault(_) => {
                tracing::error!(error = %detail, "the edge's disk refused a write");
                let (status, kind, title, said) = match self {
                    ApiError::StorageFull(_) => (StatusCode::INSUFFICIENT_STORAGE, "storage-full", "The warehouse server's disk is full",
                        "Nothing was recorded. Tell the supervisor: space must be freed on the edge's disk; then scan again."),
                    _ => (StatusCode::SERVICE_UNAVAILABLE, "storage-error", "The warehouse server could not write to its disk",
                        "This was not confirmed. Send it again (the same request is applied once)."),
                };
                let mut response = Problem::new(status, kind, title, said).into_response();
                response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("30"));
                return response;
            }
            ApiError::Internal(_) => {
                tracing::error!(error = %detail, "internal error");
                Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal error", "Something went wrong here; it has been logged")
            }
        };
        problem.into_response()
    }
}
