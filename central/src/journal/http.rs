//! `GET /api/v1/events?after=&limit=`: the numbered journal for HQ integrations, read-only.

use crate::auth::Reader;
use crate::staff::{Area, Need};
use crate::http::error::ApiError;
use crate::journal::{store, JournalEntry};
use crate::startup::AppState;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use tote_shared::openapi as doc;
use tote_shared::runtime::http::{Json, Query};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// The last sequence number the caller has; 0 for the start.
    #[serde(default)]
    #[param(minimum = 0, maximum = 9223372036854775807_i64)]
    pub after: u64,
    /// At most 1,000; default 100.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// Only the events about this subject, e.g. `order:42` (at most 200 characters, none a
    /// control character).
    #[param(max_length = 200, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$")]
    pub subject: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventPage {
    pub events: Vec<JournalEntry>,
    /// Pass as `after` for the next page.
    pub next_after: u64,
    /// The newest number given so far.
    pub last_seq: u64,
}

/// What looking up one subject's events needs beyond reading the journal: a customer's history
/// is marketing's, money's the books'. Pure.
pub fn subject_need(subject: &str) -> Option<Need> {
    let kind = subject.split(':').next().unwrap_or("");
    match kind {
        "customer" => Some(Need::Write(Area::Marketing)),
        "payment" | "refund" | "channel" | "period" | "finance" => Some(Need::Read(Area::Finance)),
        _ => None,
    }
}

/// Business events in order, numbered without gaps (or one subject's, e.g. an order's);
/// page with `after`.
#[utoipa::path(get, path = "/api/v1/events", params(EventsQuery),
    responses((status = 200, body = EventPage), doc::BadRequest, doc::Unauthorized, doc::Forbidden, doc::Unavailable), tag = "journal")]
pub async fn list(Reader(caller): Reader, State(state): State<AppState>, Query(q): Query<EventsQuery>) -> Result<Json<EventPage>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be between 1 and 1000".into()));
    }
    // The database counts in i64: a position past it would be read as a negative number.
    if i64::try_from(q.after).is_err() {
        return Err(ApiError::BadRequest(format!("after must be at most {}", i64::MAX)));
    }
    if let Some(subject) = &q.subject {
        if subject.is_empty() || subject.chars().count() > 200 || subject.chars().any(char::is_control) {
            return Err(ApiError::BadRequest("subject: 1 to 200 characters, no control characters".into()));
        }
        if let Some(need) = subject_need(subject) {
            if !crate::staff::may(&caller.roles, need) {
                return Err(ApiError::Forbidden(format!("{} may not look up {subject}", caller.actor)));
            }
        }
    }
    let (after, subject) = (q.after, q.subject);
    let (events, (last_seq, _)) = state
        .db
        .read(move |tx| -> Result<_, crate::db::DbError> {
            let events = match &subject {
                Some(subject) => store::read_subject_after(tx, subject, after, limit)?,
                None => store::read_after(tx, after, limit)?,
            };
            Ok((events, store::head(tx)?))
        })
        .await?;
    let next_after = events.last().map_or(after, |e| e.seq);
    Ok(Json(EventPage { events, next_after, last_seq }))
}
