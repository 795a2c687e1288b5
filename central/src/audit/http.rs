//! `GET /api/v1/audit`: what HQ did by hand, newest first.

use super::{store, AuditEntry};
use crate::auth::Reader;
use crate::db::DbError;
use crate::http::error::ApiError;
use crate::startup::AppState;
use axum::extract::State;
use serde::Deserialize;
use tote_shared::runtime::http::{Json, Query};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only entries about this subject, e.g. `warehouse:SH-01`.
    pub subject: Option<String>,
    /// At most 1,000; default 100.
    pub limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/audit", params(AuditQuery), responses((status = 200, body = Vec<AuditEntry>)), tag = "audit")]
pub async fn list(_: Reader, State(state): State<AppState>, Query(q): Query<AuditQuery>) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be between 1 and 1000".into()));
    }
    if q.subject.as_ref().is_some_and(|s| s.len() > 200) {
        return Err(ApiError::BadRequest("subject: at most 200 characters".into()));
    }
    Ok(Json(state.db.read(move |tx| -> Result<_, DbError> { store::list(tx, q.subject.as_deref(), limit) }).await?))
}
