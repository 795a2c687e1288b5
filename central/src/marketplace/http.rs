//! Marketplace routes: a connector hands over an order a marketplace sold; HQ sees each
//! marketplace's pulls, imports (refused ones with why) and confirmations.

use super::flow::{self, Imported};
use super::{store, ImportOrder, ImportRecord, ImportState, MarketplaceError};
use crate::auth::{Admin, Reader};
use crate::http::error::ApiError;
use crate::startup::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tote_shared::openapi as doc;
use tote_shared::runtime::http::{Json, Path, Query};
use tote_shared::runtime::system::now_ms;

impl From<MarketplaceError> for ApiError {
    fn from(error: MarketplaceError) -> Self {
        let detail = error.to_string();
        match error {
            MarketplaceError::NotFound(what) => ApiError::NotFound(what),
            MarketplaceError::Invalid(_) => ApiError::unprocessable("invalid-import", detail),
            MarketplaceError::Changed(_) => ApiError::Conflict { slug: "import-changed", detail },
            MarketplaceError::Db(e) => e.into(),
        }
    }
}

/// Only a configured marketplace takes orders (its confirmations need its platform).
fn check_name(state: &AppState, name: &str) -> Result<(), ApiError> {
    if state.settings.marketplaces.contains_key(name) {
        Ok(())
    } else {
        Err(ApiError::NotFound(format!("marketplace {:?} (not configured)", name.chars().take(40).collect::<String>())))
    }
}

/// An order a marketplace sold, handed over by its connector (the pull does the same for a
/// configured marketplace). One order per external id however often it comes: 201 when made
/// now, 200 when it was made before with the same content, 409 when it was made with other
/// content, 422 when it cannot be taken (kept as a refused import with why, taken when it
/// comes again and can be).
#[utoipa::path(post, path = "/api/v1/marketplaces/{name}/orders", params(("name" = String, Path, description = "The marketplace (its orders' channel)")), request_body = ImportOrder,
    responses((status = 201, body = ImportRecord), (status = 200, body = ImportRecord), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Conflict, doc::Unavailable), tag = "marketplaces")]
pub async fn import(_: Admin, State(state): State<AppState>, Path(name): Path<String>, Json(body): Json<ImportOrder>) -> Result<(StatusCode, Json<ImportRecord>), ApiError> {
    check_name(&state, &name)?;
    if let Some(problem) = body.problem() {
        return Err(ApiError::unprocessable("invalid-import", problem));
    }
    let now = now_ms();
    match state.write(move |tx| flow::import(tx, &name, &body, now)).await? {
        Imported::Created(record) => Ok((StatusCode::CREATED, Json(record))),
        Imported::Existing(record) => Ok((StatusCode::OK, Json(record))),
        Imported::Refused(record) => Err(ApiError::unprocessable("import-refused", record.reason)),
    }
}

/// A configured marketplace and how its pulls and confirmations stand.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MarketplaceStatus {
    pub name: String,
    /// The trades' modified time the pulls have reached.
    pub reached_ms: Option<i64>,
    pub last_pull_ms: Option<i64>,
    pub last_error: Option<String>,
    pub imported: i64,
    pub refused: i64,
    pub confirmations_pending: i64,
    pub confirmations_done: i64,
    /// Confirmations HQ must look at.
    pub confirmations_attention: i64,
}

#[utoipa::path(get, path = "/api/v1/marketplaces", responses((status = 200, body = Vec<MarketplaceStatus>), doc::Unauthorized, doc::Unavailable), tag = "marketplaces")]
pub async fn list(_: Reader, State(state): State<AppState>) -> Result<Json<Vec<MarketplaceStatus>>, ApiError> {
    let names: Vec<String> = state.settings.marketplaces.keys().cloned().collect();
    let statuses = state
        .db
        .read(move |tx| {
            names
                .iter()
                .map(|name| {
                    let cursor = store::cursor(tx, name)?;
                    let (imported, refused) = store::counts(tx, name)?;
                    let (pending, done, attention) = store::confirmation_counts(tx, name)?;
                    Ok(MarketplaceStatus {
                        name: name.clone(),
                        reached_ms: cursor.as_ref().map(|c| c.0),
                        last_pull_ms: cursor.as_ref().map(|c| c.1),
                        last_error: cursor.and_then(|c| c.2),
                        imported,
                        refused,
                        confirmations_pending: pending,
                        confirmations_done: done,
                        confirmations_attention: attention,
                    })
                })
                .collect::<Result<Vec<_>, crate::db::DbError>>()
        })
        .await?;
    Ok(Json(statuses))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportsQuery {
    pub state: Option<ImportState>,
    /// Imports after this external id (the pages' order).
    #[serde(default)]
    #[param(max_length = 64)]
    pub after: String,
    /// At most this many (1..=500, default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/marketplaces/{name}/imports", params(("name" = String, Path, description = "The marketplace"), ImportsQuery),
    responses((status = 200, body = Vec<ImportRecord>), doc::BadRequest, doc::Unauthorized, doc::NotFound, doc::Unavailable), tag = "marketplaces")]
pub async fn imports(_: Reader, State(state): State<AppState>, Path(name): Path<String>, Query(q): Query<ImportsQuery>) -> Result<Json<Vec<ImportRecord>>, ApiError> {
    check_name(&state, &name)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) || q.after.len() > 64 {
        return Err(ApiError::BadRequest("limit must be 1 to 500 and after at most 64 characters".into()));
    }
    Ok(Json(state.db.read(move |tx| store::list(tx, &name, q.state, &q.after, limit)).await?))
}

#[utoipa::path(get, path = "/api/v1/marketplaces/{name}/imports/{external_id}",
    params(("name" = String, Path, description = "The marketplace"), ("external_id" = String, Path, description = "The marketplace's order id")),
    responses((status = 200, body = ImportRecord), doc::Unauthorized, doc::NotFound, doc::Unavailable), tag = "marketplaces")]
pub async fn one(_: Reader, State(state): State<AppState>, Path((name, external_id)): Path<(String, String)>) -> Result<Json<ImportRecord>, ApiError> {
    check_name(&state, &name)?;
    let found = state.db.read(move |tx| store::load(tx, &name, &external_id, false)).await?;
    match found {
        Some((record, _)) if record.state != ImportState::Pending => Ok(Json(record)),
        _ => Err(ApiError::NotFound("import".into())),
    }
}

/// Puts a confirmation HQ looked at (`attention`) back in the queue: sent again at the next
/// round.
#[utoipa::path(post, path = "/api/v1/marketplaces/{name}/imports/{external_id}/confirmation/retry",
    params(("name" = String, Path, description = "The marketplace"), ("external_id" = String, Path, description = "The marketplace's order id")),
    responses((status = 200, body = ImportRecord), doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Conflict, doc::Unavailable), tag = "marketplaces")]
pub async fn retry_confirmation(_: Admin, State(state): State<AppState>, Path((name, external_id)): Path<(String, String)>) -> Result<Json<ImportRecord>, ApiError> {
    check_name(&state, &name)?;
    let now = now_ms();
    let record = state
        .write(move |tx| -> Result<ImportRecord, MarketplaceError> {
            let (record, _) = store::load(tx, &name, &external_id, true)?.ok_or_else(|| MarketplaceError::NotFound("import".into()))?;
            let order_id = record.order_id.ok_or_else(|| MarketplaceError::NotFound("a confirmation for this import".into()))?;
            if !store::requeue_confirmation(tx, order_id, now)? {
                return Err(MarketplaceError::Changed("only a confirmation waiting for HQ (attention) can be sent again".into()));
            }
            crate::audit::store::append(tx, now, "admin", "marketplace_confirmation_retry", &format!("order:{order_id}"), &serde_json::json!({"marketplace": name, "external_id": external_id}))?;
            Ok(store::load(tx, &name, &external_id, false)?.map(|(r, _)| r).unwrap_or(record))
        })
        .await?;
    Ok(Json(record))
}
