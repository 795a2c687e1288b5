//! `GET /api/v1/analytics/sales/{sku}`: units and revenue per day, newest first;
//! `GET /api/v1/analytics/returns`: return and QC failure rates and reasons by SKU, SPU,
//! warehouse or reason over a period.

use super::store::{self, SalesDay};
use crate::auth::Reader;
use crate::db::DbError;
use crate::http::error::ApiError;
use crate::startup::AppState;
use axum::extract::State;
use tote_shared::openapi as doc;
use tote_shared::runtime::http::{Json, Path, Query};
use tote_shared::Sku;

#[utoipa::path(get, path = "/api/v1/analytics/sales/{sku}", params(("sku" = Sku, Path)),
    responses((status = 200, body = Vec<SalesDay>), doc::BadRequest, doc::Unauthorized, doc::Unavailable), tag = "analytics")]
pub async fn sales(_: Reader, State(state): State<AppState>, Path(sku): Path<Sku>) -> Result<Json<Vec<SalesDay>>, ApiError> {
    Ok(Json(state.db.read(move |tx| -> Result<_, DbError> { store::for_sku(tx, &sku, 366) }).await?))
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReturnsQuery {
    /// First day, `YYYY-MM-DD` (UTC).
    #[param(format = Date)]
    pub from: String,
    /// Last day, included (before `from`: an empty period).
    #[param(format = Date)]
    pub to: String,
    /// `sku` (default), `spu`, `warehouse` or `reason`.
    #[param(value_type = Option<String>, pattern = "^(sku|spu|warehouse|reason)$")]
    pub by: Option<String>,
}

/// Units shipped, asked back and passed or failed at QC over the period, with the return rate,
/// the QC failure rate and the reasons, per group, most asked-back first (at most 1,000 groups).
#[utoipa::path(get, path = "/api/v1/analytics/returns", params(ReturnsQuery),
    responses((status = 200, body = Vec<super::returns::ReturnRow>), doc::BadRequest, doc::Unauthorized, doc::Unavailable), tag = "analytics")]
pub async fn returns(_: Reader, State(state): State<AppState>, Query(q): Query<ReturnsQuery>) -> Result<Json<Vec<super::returns::ReturnRow>>, ApiError> {
    let by = super::returns::By::parse(q.by.as_deref().unwrap_or("sku")).ok_or_else(|| ApiError::BadRequest("by must be sku, spu, warehouse or reason".into()))?;
    let (Some(from), Some(to)) = (tote_shared::calendar::parse_day(&q.from), tote_shared::calendar::parse_day(&q.to)) else {
        return Err(ApiError::BadRequest("from and to are days, YYYY-MM-DD".into()));
    };
    if to < from {
        return Ok(Json(Vec::new()));
    }
    let sums = state.db.read(move |tx| -> Result<_, DbError> { store::returns_by(tx, by, &q.from, &q.to) }).await?;
    let mut rows = super::returns::rows(by, &sums);
    rows.truncate(super::returns::MAX_ROWS);
    Ok(Json(rows))
}
