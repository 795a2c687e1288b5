//! Inventory: levels per warehouse and the append-only ledger that explains them.

use super::error::ApiError;
use crate::auth::Reader;
use crate::startup::AppState;
use crate::store::{LedgerEntry, StockRow};
use axum::extract::State;
use serde::Deserialize;
use tote_shared::runtime::http::{Json, Path, Query};
use tote_shared::{Sku, WarehouseCode};

#[utoipa::path(get, path = "/api/v1/inventory/{sku}", params(("sku" = String, Path)), responses((status = 200, body = Vec<StockRow>)), tag = "inventory")]
pub async fn levels(_: Reader, State(state): State<AppState>, Path(sku): Path<Sku>) -> Result<Json<Vec<StockRow>>, ApiError> {
    Ok(Json(state.store.stock(sku).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LedgerQuery {
    pub warehouse: Option<WarehouseCode>,
    /// At most 10,000; default 1,000.
    pub limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/inventory/{sku}/ledger", params(("sku" = String, Path), LedgerQuery), responses((status = 200, body = Vec<LedgerEntry>)), tag = "inventory")]
pub async fn ledger(
    _: Reader,
    State(state): State<AppState>,
    Path(sku): Path<Sku>,
    Query(q): Query<LedgerQuery>,
) -> Result<Json<Vec<LedgerEntry>>, ApiError> {
    let limit = q.limit.unwrap_or(1_000);
    if !(1..=10_000).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be between 1 and 10000".into()));
    }
    state.store.get_sku(sku.clone()).await?;
    Ok(Json(state.store.ledger(sku, q.warehouse, limit).await?))
}
