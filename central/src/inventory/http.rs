//! Inventory routes: levels per warehouse, the ledger, and the product page (SKU + stock).

use super::{store, LedgerEntry, StockRow};
use crate::auth::Reader;
use crate::catalog::{self, CatalogError, SkuRecord};
use crate::http::error::ApiError;
use crate::startup::AppState;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use tote_shared::openapi as doc;
use tote_shared::runtime::http::{Json, Path, Query};
use tote_shared::{Sku, WarehouseCode};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SkuDetail {
    #[serde(flatten)]
    pub sku: SkuRecord,
    pub stock: Vec<StockRow>,
    /// Sellable across all warehouses: what the product page shows.
    pub sellable_total: i64,
}

#[utoipa::path(get, path = "/api/v1/skus/{sku}", params(("sku" = Sku, Path)),
    responses((status = 200, body = SkuDetail), doc::BadRequest, doc::Unauthorized, doc::NotFound, doc::Unavailable), tag = "catalog")]
pub async fn sku_detail(_: Reader, State(state): State<AppState>, Path(sku): Path<Sku>) -> Result<Json<SkuDetail>, ApiError> {
    let detail = state
        .db
        .read(move |tx| -> Result<SkuDetail, CatalogError> {
            let record = catalog::store::get_sku(tx, &sku)?;
            let stock = store::rows_for_sku(tx, &sku)?;
            let sellable_total = stock.iter().map(|s| s.sellable.max(0)).sum();
            Ok(SkuDetail { sku: record, stock, sellable_total })
        })
        .await?;
    Ok(Json(detail))
}

#[utoipa::path(get, path = "/api/v1/inventory/{sku}", params(("sku" = Sku, Path)),
    responses((status = 200, body = Vec<StockRow>), doc::BadRequest, doc::Unauthorized, doc::NotFound, doc::Unavailable), tag = "inventory")]
pub async fn levels(_: Reader, State(state): State<AppState>, Path(sku): Path<Sku>) -> Result<Json<Vec<StockRow>>, ApiError> {
    let rows = state
        .db
        .read(move |tx| -> Result<_, CatalogError> {
            catalog::store::get_sku(tx, &sku)?;
            Ok(store::rows_for_sku(tx, &sku)?)
        })
        .await?;
    Ok(Json(rows))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LedgerQuery {
    pub warehouse: Option<WarehouseCode>,
    /// At most 10,000; default 1,000.
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/inventory/{sku}/ledger", params(("sku" = Sku, Path), LedgerQuery),
    responses((status = 200, body = Vec<LedgerEntry>), doc::BadRequest, doc::Unauthorized, doc::NotFound, doc::Unavailable), tag = "inventory")]
pub async fn ledger(_: Reader, State(state): State<AppState>, Path(sku): Path<Sku>, Query(q): Query<LedgerQuery>) -> Result<Json<Vec<LedgerEntry>>, ApiError> {
    let limit = q.limit.unwrap_or(1_000);
    if !(1..=10_000).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be between 1 and 10000".into()));
    }
    let entries = state
        .db
        .read(move |tx| -> Result<_, CatalogError> {
            catalog::store::get_sku(tx, &sku)?;
            Ok(store::ledger(tx, &sku, q.warehouse.as_ref(), limit)?)
        })
        .await?;
    Ok(Json(entries))
}
