//! `GET /api/v1/audit`: what HQ did by hand, newest first.

use super::{store, AuditEntry};
use crate::auth::Reader;
use crate::db::DbError;
use crate::http::error::ApiError;
use crate::startup::AppState;
use axum::extract::State;
use serde::Deserialize;
use tote_shared::openapi as doc;
use tote_shared::runtime::http::{Json, Query};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only entries about this subject, e.g. `warehouse:SH-01` (at most 200 characters).
    #[param(max_length = 200)]
    pub subject: Option<String>,
    /// At most 1,000; default 100.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// What HQ did by hand (a stream re-based, an edge token replaced), newest first. Admin or
/// read-only token.
#[utoipa::path(get, path = "/api/v1/audit", params(AuditQuery),
    responses((status = 200, body = Vec<AuditEntry>), doc::BadRequest, doc::Unauthorized, doc::Unavailable), tag = "audit")]
pub async fn list(_: Reader, State(state): State<AppState>, Query(q): Query<AuditQuery>) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be between 1 and 1000".into()));
    }
    if q.subject.as_ref().is_some_and(|s| s.chars().count() > 200) {
        return Err(ApiError::BadRequest("subject: at most 200 characters".into()));
    }
    Ok(Json(state.db.read(move |tx| -> Result<_, DbError> { store::list(tx, q.subject.as_deref(), limit) }).await?))
}
