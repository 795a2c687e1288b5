//! Catalog routes: create SPUs and SKUs. (The product page, `GET /skus/{sku}`, shows stock
//! too, so it lives with inventory.)

use super::categories::{Category, NewCategory};
use super::prices::{self, PriceEntry, PriceKind, SkuState};
use super::store::NewSellingPrice;
use super::{store, valid_spu_id, CatalogError, ShippingSpec, SkuRecord, Spu};
use crate::auth::{Admin, Reader};
use crate::csv_rows::RowError;
use crate::edge_sync::commands;
use crate::http::error::ApiError;
use crate::http::keyed::{keyed_write, Keyed};
use crate::http::check_text;
use crate::startup::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tote_shared::openapi as doc;
use tote_shared::runtime::http::{Json, Path};
use tote_shared::runtime::system::now_ms;
use tote_shared::{Gtin, Money, Sku};

#[utoipa::path(post, path = "/api/v1/spus", request_body = Spu, params(doc::IdempotencyKey),
    responses((status = 201, body = Spu), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::Conflict, doc::Unavailable), tag = "catalog")]
pub async fn create_spu(_: Admin, State(state): State<AppState>, key: Keyed, Json(spu): Json<Spu>) -> Result<Response, ApiError> {
    if !valid_spu_id(&spu.id) {
        return Err(ApiError::unprocessable("invalid-field", "id must be 1 to 32 letters, digits or '-'"));
    }
    check_text("name", &spu.name, 200)?;
    check_text("brand", &spu.brand, 100)?;
    check_text("category", &spu.category, 300)?;
    let request = key.fingerprint(&spu)?;
    let now = now_ms();
    keyed_write(&state, request, StatusCode::CREATED, move |tx| store::create_spu(tx, &spu, now)).await
}

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSku {
    pub sku: Sku,
    /// An SPU created before.
    #[schema(pattern = "^[A-Za-z0-9-]{1,32}$", min_length = 1, max_length = 32)]
    pub spu_id: String,
    pub gtin: Gtin,
    #[schema(value_type = tote_shared::openapi::Text20)]
    pub gender: String,
    #[schema(value_type = tote_shared::openapi::Text50)]
    pub colour: String,
    #[schema(value_type = tote_shared::openapi::Text20)]
    pub size: String,
    pub price: Money,
    pub cost: Money,
    /// One unit's shipping weight and size; logistics quotes carriers from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping: Option<ShippingSpec>,
    /// `draft` (not sold until listed) or `listed` (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<SkuState>,
    /// Values of the model's category attribute set, by attribute name.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    #[schema(value_type = std::collections::BTreeMap<String, tote_shared::openapi::Text100>)]
    pub attributes: std::collections::BTreeMap<String, String>,
}

#[utoipa::path(post, path = "/api/v1/skus", request_body = NewSku, params(doc::IdempotencyKey),
    responses((status = 201, body = SkuRecord), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Conflict, doc::Unavailable), tag = "catalog")]
pub async fn create_sku(_: Admin, State(state): State<AppState>, key: Keyed, Json(new): Json<NewSku>) -> Result<Response, ApiError> {
    if !valid_spu_id(&new.spu_id) {
        return Err(ApiError::unprocessable("invalid-field", "spu_id must be 1 to 32 letters, digits or '-'"));
    }
    check_text("gender", &new.gender, 20)?;
    check_text("colour", &new.colour, 50)?;
    check_text("size", &new.size, 20)?;
    if new.shipping.is_some_and(|s| !s.is_valid()) {
        return Err(ApiError::unprocessable("invalid-field", "shipping: weight_g must be 1 to 1000000 and each side 1 to 10000 mm"));
    }
    let request = key.fingerprint(&new)?;
    let record = SkuRecord {
        sku: new.sku,
        spu_id: new.spu_id,
        gtin: new.gtin,
        gender: new.gender,
        colour: new.colour,
        size: new.size,
        price: new.price,
        cost: new.cost,
        name: String::new(),
        shipping: new.shipping,
        state: new.state.unwrap_or(SkuState::Listed),
        attributes: new.attributes,
    };
    let now = now_ms();
    keyed_write(&state, request, StatusCode::CREATED, move |tx| {
        store::lock_master_data(tx)?;
        let warehouses = commands::stream_warehouses(tx)?;
        store::create_sku(tx, &record, &warehouses, now)
    })
    .await
}

/// What a catalog import did: how many SKUs it created, how many rows it refused, and (up to
/// 1,000) the refused rows by line and field.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SkuImport {
    pub imported: usize,
    pub refused: usize,
    pub errors: Vec<RowError>,
}

/// Imports SKUs from CSV (header `sku,spu_id,gtin,gender,colour,size,price,cost,weight_g,
/// length_mm,width_mm,height_mm,fragile`; prices in yuan; the shipping columns all empty or all
/// given). A bad row — unreadable, a SKU or GTIN taken or on an earlier row, an SPU that does
/// not exist — is named by its line and field and imports nothing of itself; the good rows are
/// created in one transaction and taught to every edge.
#[utoipa::path(post, path = "/api/v1/skus/import", request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = SkuImport), doc::BadRequest, doc::Unauthorized, doc::Forbidden, doc::Unprocessable, doc::Unavailable), tag = "catalog")]
pub async fn import(_: Admin, State(state): State<AppState>, body: axum::body::Bytes) -> Result<Json<SkuImport>, ApiError> {
    // Read outside any transaction: a large file must not hold the writer.
    let parsed = super::csv::skus(&body).map_err(|e| ApiError::unprocessable("invalid-file", e.to_string()))?;
    let rows = std::sync::Arc::new(parsed.rows);
    let now = now_ms();
    let (imported, mut refused) = state
        .write(move |tx| -> Result<_, super::CatalogError> {
            store::lock_master_data(tx)?;
            let warehouses = commands::stream_warehouses(tx)?;
            let (skus, gtins) = store::taken_codes(tx)?;
            let sets = store::attribute_sets(tx, None)?;
            // Decide every row before writing any (no SAVEPOINTs on PostgreSQL).
            let mut refused = Vec::new();
            let mut good = Vec::new();
            for r in rows.iter() {
                let fit = match sets.get(&r.record.spu_id) {
                    Some(set) => store::fits(&r.record, set.as_deref()),
                    None => Err(("spu_id", format!("SPU {} does not exist", r.record.spu_id))),
                };
                let why = if let Err(why) = fit {
                    Some(why)
                } else if skus.contains(r.record.sku.as_str()) {
                    Some(("sku", format!("{} exists", r.record.sku)))
                } else if gtins.contains(r.record.gtin.as_str()) {
                    Some(("gtin", format!("{} belongs to another SKU", r.record.gtin)))
                } else {
                    None
                };
                match why {
                    Some((field, message)) => refused.push(RowError { line: r.line, field: field.into(), message }),
                    None => good.push(r),
                }
            }
            let records: Vec<SkuRecord> = good.iter().map(|r| r.record.clone()).collect();
            store::create_skus(tx, &records, &warehouses, now)?;
            crate::audit::store::append(tx, now, "admin", "skus_imported", "catalog", &serde_json::json!({ "imported": good.len(), "refused": refused.len() }))?;
            Ok((good.len(), refused))
        })
        .await?;
    let count = parsed.error_count + refused.len();
    let mut errors = parsed.errors;
    errors.append(&mut refused);
    errors.sort_by_key(|e| e.line);
    errors.truncate(crate::csv_rows::MAX_LISTED_ERRORS);
    Ok(Json(SkuImport { imported, refused: count, errors }))
}

/// Every SKU as CSV, in the import's columns (it reads back as an import).
#[utoipa::path(get, path = "/api/v1/skus.csv",
    responses((status = 200, body = String, content_type = "text/csv"), doc::Unauthorized, doc::Unavailable), tag = "catalog")]
pub async fn export(_: crate::auth::Reader, State(state): State<AppState>) -> Result<axum::response::Response, ApiError> {
    let skus = state.db.read(store::all_skus).await?;
    let body = super::csv::write(&skus);
    Ok(axum::response::IntoResponse::into_response(([(axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8")], body)))
}

// The category tree.

/// Adds a category under `parent` (or a root), with the attributes its products carry on top
/// of the ancestors'.
#[utoipa::path(post, path = "/api/v1/categories", request_body = NewCategory,
    responses((status = 201, body = Category), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Conflict, doc::Unavailable), tag = "catalog")]
pub async fn create_category(_: Admin, State(state): State<AppState>, Json(new): Json<NewCategory>) -> Result<(StatusCode, Json<Category>), ApiError> {
    let now = now_ms();
    let made = state.write(move |tx| store::create_category(tx, &new, now)).await?;
    Ok((StatusCode::CREATED, Json(made)))
}

/// The whole tree, by path, each category with the attribute set its products carry.
#[utoipa::path(get, path = "/api/v1/categories",
    responses((status = 200, body = Vec<Category>), doc::Unauthorized, doc::Unavailable), tag = "catalog")]
pub async fn categories(_: Reader, State(state): State<AppState>) -> Result<Json<Vec<Category>>, ApiError> {
    Ok(Json(state.db.read(store::categories).await?))
}

// Lifecycle and selling prices.

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StateChange {
    pub state: SkuState,
    #[schema(value_type = tote_shared::openapi::Text300)]
    pub reason: String,
}

/// Moves a SKU along its lifecycle: draft → listed ⇄ clearance → retired (draft or retired:
/// no orders taken).
#[utoipa::path(post, path = "/api/v1/skus/{sku}/state", params(("sku" = Sku, Path), doc::IdempotencyKey), request_body = StateChange,
    responses((status = 200, body = SkuRecord), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Unavailable), tag = "catalog")]
pub async fn set_state(_: Admin, State(state): State<AppState>, Path(sku): Path<Sku>, key: Keyed, Json(body): Json<StateChange>) -> Result<Response, ApiError> {
    check_text("reason", &body.reason, 300)?;
    let request = key.fingerprint(&(&sku, &body))?;
    let now = now_ms();
    keyed_write(&state, request, StatusCode::OK, move |tx| store::set_state(tx, &sku, body.state, &body.reason, now)).await
}

/// A SKU's selling prices: what is in force now, and every price ever set, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PriceBook {
    pub sku: Sku,
    pub state: SkuState,
    /// What checkout charges before promotions.
    pub selling: Money,
    pub base: Option<PriceEntry>,
    pub member: Option<PriceEntry>,
    pub clearance: Option<PriceEntry>,
    pub history: Vec<PriceEntry>,
}

fn price_book(record: SkuRecord, history: Vec<PriceEntry>, now: i64) -> PriceBook {
    let current = |kind| prices::in_force(&history, kind, now).cloned();
    PriceBook {
        sku: record.sku,
        state: record.state,
        selling: record.price,
        base: current(PriceKind::Base),
        member: current(PriceKind::Member),
        clearance: current(PriceKind::Clearance),
        history,
    }
}

/// Sets a base, member or clearance price for a window (from now or later: a scheduled
/// change); kept in the history for good.
#[utoipa::path(post, path = "/api/v1/skus/{sku}/prices", params(("sku" = Sku, Path), doc::IdempotencyKey), request_body = NewSellingPrice,
    responses((status = 200, body = PriceBook), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Unavailable), tag = "catalog")]
pub async fn add_price(_: Admin, State(state): State<AppState>, Path(sku): Path<Sku>, key: Keyed, Json(body): Json<NewSellingPrice>) -> Result<Response, ApiError> {
    check_text("reason", &body.reason, 300)?;
    let request = key.fingerprint(&(&sku, &body))?;
    let now = now_ms();
    keyed_write(&state, request, StatusCode::OK, move |tx| {
        let history = store::add_price(tx, &sku, &body, now)?;
        Ok::<_, CatalogError>(price_book(store::get_sku(tx, &sku)?, history, now))
    })
    .await
}

#[utoipa::path(get, path = "/api/v1/skus/{sku}/prices", params(("sku" = Sku, Path)),
    responses((status = 200, body = PriceBook), doc::BadRequest, doc::Unauthorized, doc::NotFound, doc::Unavailable), tag = "catalog")]
pub async fn prices(_: Reader, State(state): State<AppState>, Path(sku): Path<Sku>) -> Result<Json<PriceBook>, ApiError> {
    let now = now_ms();
    let book = state
        .db
        .read(move |tx| {
            let record = store::get_sku(tx, &sku)?;
            Ok::<_, CatalogError>(price_book(record, store::price_history(tx, &sku)?, now))
        })
        .await?;
    Ok(Json(book))
}
