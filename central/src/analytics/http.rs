//! `GET /api/v1/analytics/sales/{sku}`: units and revenue per day, newest first.

use super::store::{self, SalesDay};
use crate::auth::Reader;
use crate::db::DbError;
use crate::http::error::ApiError;
use crate::startup::AppState;
use axum::extract::State;
use tote_shared::openapi as doc;
use tote_shared::runtime::http::{Json, Path};
use tote_shared::Sku;

#[utoipa::path(get, path = "/api/v1/analytics/sales/{sku}", params(("sku" = Sku, Path)),
    responses((status = 200, body = Vec<SalesDay>), doc::BadRequest, doc::Unauthorized, doc::Unavailable), tag = "analytics")]
pub async fn sales(_: Reader, State(state): State<AppState>, Path(sku): Path<Sku>) -> Result<Json<Vec<SalesDay>>, ApiError> {
    Ok(Json(state.db.read(move |tx| -> Result<_, DbError> { store::for_sku(tx, &sku, 366) }).await?))
}
