//! `GET /api/v1/audit` (newest first, paged) and `GET /api/v1/audit.csv` (the same, as a file
//! for the auditors): admin and read-only.

use super::store::{self, Filter};
use super::AuditEntry;
use crate::auth::Reader;
use crate::db::DbError;
use crate::http::error::ApiError;
use crate::startup::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
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
    /// Only entries by this actor, e.g. `user:li` (at most 64 characters).
    #[param(max_length = 64)]
    pub actor: Option<String>,
    /// Only entries older than this id: the next page after the last one shown.
    #[param(minimum = 1, maximum = 9223372036854775807_i64)]
    pub before: Option<i64>,
    /// Only entries at or after this time (ms since the epoch).
    #[param(minimum = 0, maximum = 9223372036854775807_i64)]
    pub since_ms: Option<i64>,
    /// At most 1,000; default 100.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// `AuditQuery` for the CSV export, which takes up to 100,000 entries at once.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditExportQuery {
    /// Only entries about this subject (at most 200 characters).
    #[param(max_length = 200)]
    pub subject: Option<String>,
    /// Only entries by this actor (at most 64 characters).
    #[param(max_length = 64)]
    pub actor: Option<String>,
    /// Only entries older than this id.
    #[param(minimum = 1, maximum = 9223372036854775807_i64)]
    pub before: Option<i64>,
    /// Only entries at or after this time (ms since the epoch).
    #[param(minimum = 0, maximum = 9223372036854775807_i64)]
    pub since_ms: Option<i64>,
    /// At most 100,000; default 100,000.
    #[param(minimum = 1, maximum = 100000)]
    pub limit: Option<u32>,
}

impl From<AuditExportQuery> for AuditQuery {
    fn from(q: AuditExportQuery) -> AuditQuery {
        AuditQuery {
            subject: q.subject,
            actor: q.actor,
            before: q.before,
            since_ms: q.since_ms,
            limit: Some(q.limit.unwrap_or(100_000)),
        }
    }
}

fn filter(q: AuditQuery, max: u32) -> Result<(Filter, u32), ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=max).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {max}"
        )));
    }
    if q.subject.as_ref().is_some_and(|s| s.chars().count() > 200)
        || q.actor.as_ref().is_some_and(|s| s.chars().count() > 64)
    {
        return Err(ApiError::BadRequest(
            "subject: at most 200 characters; actor: at most 64".into(),
        ));
    }
    if q.since_ms.is_some_and(|t| t < 0) || q.before.is_some_and(|b| b < 1) {
        return Err(ApiError::BadRequest(
            "since_ms must not be negative, before must be positive".into(),
        ));
    }
    Ok((
        Filter {
            subject: q.subject,
            actor: q.actor,
            before: q.before.map(|b| b as u64),
            since_ms: q.since_ms,
        },
        limit,
    ))
}

/// Every change HQ users and tokens made, and what HQ did by hand (a stream re-based, an edge
/// token replaced), newest first. Admin or read-only.
#[utoipa::path(get, path = "/api/v1/audit", params(AuditQuery),
    responses((status = 200, body = Vec<AuditEntry>), doc::BadRequest, doc::Unauthorized, doc::Forbidden, doc::Unavailable), tag = "audit")]
pub async fn list(
    _: Reader,
    State(state): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    let (filter, limit) = filter(q, 1000)?;
    Ok(Json(
        state
            .db
            .read(move |tx| -> Result<_, DbError> { store::list(tx, &filter, limit) })
            .await?,
    ))
}

/// The same entries as CSV (id, at, actor, action, subject, origin, detail as JSON).
#[utoipa::path(get, path = "/api/v1/audit.csv", params(AuditExportQuery),
    responses((status = 200, content_type = "text/csv", body = String), doc::BadRequest, doc::Unauthorized, doc::Forbidden, doc::Unavailable), tag = "audit")]
pub async fn export(
    _: Reader,
    State(state): State<AppState>,
    Query(q): Query<AuditExportQuery>,
) -> Result<Response, ApiError> {
    let (filter, limit) = filter(q.into(), 100_000)?;
    let entries = state
        .db
        .read(move |tx| -> Result<_, DbError> { store::list(tx, &filter, limit) })
        .await?;
    let mut out = csv::Writer::from_writer(Vec::new());
    let failed = |e: csv::Error| ApiError::Internal(format!("audit CSV: {e}"));
    out.write_record([
        "id", "at_ms", "actor", "action", "subject", "origin", "detail",
    ])
    .map_err(failed)?;
    for e in &entries {
        out.write_record([
            e.id.to_string(),
            e.at_ms.to_string(),
            e.actor.clone(),
            e.action.clone(),
            e.subject.clone(),
            e.origin.clone(),
            e.detail.to_string(),
        ])
        .map_err(failed)?;
    }
    let body = out
        .into_inner()
        .map_err(|e| ApiError::Internal(format!("audit CSV: {e}")))?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                axum::http::header::CONTENT_DISPOSITION,
                "attachment; filename=\"audit.csv\"",
            ),
        ],
        body,
    )
        .into_response())
}
