//! Inventory routes: levels per warehouse, the ledger, and the product page (SKU + stock).

use super::health::{self, AlertKind, Finding, HealthPolicy, ScanOutcome, StockAlert};
use super::{store, LedgerEntry, StockRow};
use crate::auth::{Admin, Reader};
use crate::catalog::{self, CatalogError, SkuRecord};
use crate::http::error::ApiError;
use crate::startup::AppState;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use tote_shared::openapi as doc;
use tote_shared::runtime::system::now_ms;
use tote_shared::runtime::http::{Json, Path, Query};
use tote_shared::{Money, Sku, WarehouseCode};
use crate::catalog::prices::PriceKind;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SkuDetail {
    #[serde(flatten)]
    pub sku: SkuRecord,
    pub stock: Vec<StockRow>,
    /// Sellable across all warehouses: what the product page shows.
    pub sellable_total: i64,
    /// What each approved supplier charges now (the buyer's view; the shop front's,
    /// `GET /api/v1/shop/skus/{sku}`, shows neither this nor the cost).
    pub suppliers: Vec<crate::supplier::SupplierPrice>,
}

#[utoipa::path(get, path = "/api/v1/skus/{sku}", params(("sku" = Sku, Path)),
    responses((status = 200, body = SkuDetail), doc::BadRequest, doc::Unauthorized, doc::NotFound, doc::Unavailable), tag = "catalog")]
pub async fn sku_detail(_: Reader, State(state): State<AppState>, Path(sku): Path<Sku>) -> Result<Json<SkuDetail>, ApiError> {
    let now = now_ms();
    let detail = state
        .db
        .read(move |tx| -> Result<SkuDetail, CatalogError> {
            let record = catalog::store::get_sku(tx, &sku)?;
            let stock = store::rows_for_sku(tx, &sku)?;
            let sellable_total = stock.iter().map(|s| s.sellable.max(0)).sum();
            let suppliers = crate::supplier::store::approved_prices_at(tx, now, Some(&sku))?;
            Ok(SkuDetail { sku: record, stock, sellable_total, suppliers })
        })
        .await?;
    Ok(Json(detail))
}

/// A SKU as the shop front shows it: what it is and what it sells for, never what it costs or
/// who supplies it (the buyer's view, `GET /api/v1/skus/{sku}`, has both).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ShopItem {
    pub sku: Sku,
    pub name: String,
    pub brand: String,
    /// The category's path (`Shoes › Running`), or the model's category text.
    pub category: String,
    pub attributes: std::collections::BTreeMap<String, String>,
    /// What it sells for now, before promotions.
    pub price: Money,
    /// The everyday price (struck through when a clearance price is lower).
    pub list_price: Money,
    /// What members pay, when a member price is in force.
    pub member_price: Option<Money>,
    pub clearance: bool,
    /// Units on sale across warehouses.
    pub available: i64,
}

/// The shop front's view of a SKU on sale (a draft or retired SKU is not found).
#[utoipa::path(get, path = "/api/v1/shop/skus/{sku}", params(("sku" = Sku, Path)),
    responses((status = 200, body = ShopItem), doc::BadRequest, doc::Unauthorized, doc::NotFound, doc::Unavailable), tag = "catalog")]
pub async fn shop_item(_: Reader, State(state): State<AppState>, Path(sku): Path<Sku>) -> Result<Json<ShopItem>, ApiError> {
    let now = now_ms();
    let item = state
        .db
        .read(move |tx| -> Result<ShopItem, CatalogError> {
            let (record, brand, category, history) = catalog::store::shop_facts(tx, &sku)?;
            let available = store::rows_for_sku(tx, &sku)?.iter().map(|s| s.sellable.max(0)).sum();
            let in_force = |kind| catalog::prices::in_force(&history, kind, now).map(|e| e.price);
            Ok(ShopItem {
                list_price: in_force(PriceKind::Base).unwrap_or(record.price),
                member_price: in_force(PriceKind::Member),
                clearance: record.state == catalog::SkuState::Clearance,
                price: record.price,
                name: record.name,
                sku: record.sku,
                brand,
                category,
                attributes: record.attributes,
                available,
            })
        })
        .await?;
    Ok(Json(item))
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
    /// The latest `limit` entries, newest first; by default the first ones, oldest first.
    pub newest: Option<bool>,
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
            Ok(store::ledger(tx, &sku, q.warehouse.as_ref(), limit, q.newest.unwrap_or(false))?)
        })
        .await?;
    Ok(Json(entries))
}

// Inventory health.

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HealthQuery {
    /// One warehouse; all when absent.
    pub warehouse: Option<WarehouseCode>,
    /// At most this many findings (default 1,000, at most 10,000): the warehouse × SKU ones
    /// first, then the lots.
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<u32>,
}

/// What needs attention now, under the health policy: slow, unsold and overstocked stock per
/// warehouse × SKU, lots near or past their expiry (computed live; the alerts are what the
/// scans kept).
#[utoipa::path(get, path = "/api/v1/inventory/health", params(HealthQuery),
    responses((status = 200, body = Vec<Finding>), doc::BadRequest, doc::Unauthorized, doc::Unavailable), tag = "inventory")]
pub async fn health_report(_: Reader, State(state): State<AppState>, Query(q): Query<HealthQuery>) -> Result<Json<Vec<Finding>>, ApiError> {
    let limit = q.limit.unwrap_or(1_000);
    if !(1..=10_000).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be between 1 and 10000".into()));
    }
    let now = now_ms();
    let mut found = state
        .db
        .read(move |tx| {
            let p = health::policy(tx)?;
            health::findings(tx, &p, q.warehouse.as_ref(), now)
        })
        .await?;
    found.truncate(limit as usize);
    Ok(Json(found))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AlertsQuery {
    /// `open` (default), `cleared` or `all`.
    #[param(value_type = Option<String>, pattern = "^(open|cleared|all)$")]
    pub state: Option<String>,
    #[param(value_type = Option<String>, pattern = "^(no_sales|overstock|slow_mover|near_expiry|expired)$")]
    pub kind: Option<String>,
    /// Alerts with smaller ids (the next page).
    #[param(minimum = 1)]
    pub before: Option<i64>,
    /// Default 100, at most 1,000.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// The stock alerts the health scans raised (each also a `stock_alert_raised` event in the
/// journal), newest first.
#[utoipa::path(get, path = "/api/v1/inventory/alerts", params(AlertsQuery),
    responses((status = 200, body = Vec<StockAlert>), doc::BadRequest, doc::Unauthorized, doc::Unavailable), tag = "inventory")]
pub async fn alerts(_: Reader, State(state): State<AppState>, Query(q): Query<AlertsQuery>) -> Result<Json<Vec<StockAlert>>, ApiError> {
    let open = match q.state.as_deref() {
        None | Some("open") => Some(true),
        Some("cleared") => Some(false),
        Some("all") => None,
        Some(other) => return Err(ApiError::BadRequest(format!("state must be open, cleared or all, not {other:?}"))),
    };
    let kind = match q.kind.as_deref() {
        None => None,
        Some(raw) => Some(AlertKind::parse(raw).ok_or_else(|| ApiError::BadRequest(format!("no alert kind {raw:?}")))?),
    };
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be between 1 and 1000".into()));
    }
    let before = match q.before {
        Some(id) if id < 1 => return Err(ApiError::BadRequest("before must be 1 or more".into())),
        other => other,
    };
    let found = state.db.read(move |tx| store::alerts(tx, open, kind, before, limit)).await?;
    Ok(Json(found))
}

/// Runs a health scan now (one also runs every hour): raises the new alerts and clears those
/// whose condition passed, each with its journal event.
#[utoipa::path(post, path = "/api/v1/inventory/health/scan",
    responses((status = 200, body = ScanOutcome), doc::Unauthorized, doc::Forbidden, doc::Unavailable), tag = "inventory")]
pub async fn scan(_: Admin, State(state): State<AppState>) -> Result<Json<ScanOutcome>, ApiError> {
    let now = now_ms();
    Ok(Json(state.write(move |tx| health::scan(tx, now)).await?))
}

#[utoipa::path(get, path = "/api/v1/inventory/health/policy",
    responses((status = 200, body = HealthPolicy), doc::Unauthorized, doc::Unavailable), tag = "inventory")]
pub async fn health_policy(_: Reader, State(state): State<AppState>) -> Result<Json<HealthPolicy>, ApiError> {
    Ok(Json(state.db.read(health::policy).await?))
}

#[utoipa::path(put, path = "/api/v1/inventory/health/policy", request_body = HealthPolicy,
    responses((status = 200, body = HealthPolicy), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::Unavailable), tag = "inventory")]
pub async fn set_health_policy(_: Admin, State(state): State<AppState>, Json(body): Json<HealthPolicy>) -> Result<Json<HealthPolicy>, ApiError> {
    let now = now_ms();
    Ok(Json(state.write(move |tx| health::set_policy(tx, &body, now)).await?))
}
