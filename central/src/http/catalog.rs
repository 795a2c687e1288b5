//! Catalog: SPUs (models) and SKUs (sellable variants) with barcode, price and cost.

use super::check_text;
use super::error::ApiError;
use crate::auth::{Admin, Reader};
use crate::startup::AppState;
use crate::store::{SkuRecord, Spu, StockRow};
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tote_shared::runtime::http::{Json, Path};
use tote_shared::runtime::system::now_ms;
use tote_shared::{Gtin, Money, Sku};

#[utoipa::path(post, path = "/api/v1/spus", request_body = Spu, responses((status = 201, body = Spu)), tag = "catalog")]
pub async fn create_spu(_: Admin, State(state): State<AppState>, Json(spu): Json<Spu>) -> Result<(StatusCode, Json<Spu>), ApiError> {
    if spu.id.is_empty() || spu.id.len() > 32 || !spu.id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(ApiError::unprocessable("invalid-field", "id must be 1 to 32 letters, digits or '-'"));
    }
    check_text("name", &spu.name, 200)?;
    check_text("brand", &spu.brand, 100)?;
    check_text("category", &spu.category, 300)?;
    Ok((StatusCode::CREATED, Json(state.store.create_spu(spu).await?)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSku {
    pub sku: Sku,
    pub spu_id: String,
    pub gtin: Gtin,
    pub gender: String,
    pub colour: String,
    pub size: String,
    pub price: Money,
    pub cost: Money,
}

#[utoipa::path(post, path = "/api/v1/skus", request_body = NewSku, responses((status = 201, body = SkuRecord)), tag = "catalog")]
pub async fn create_sku(_: Admin, State(state): State<AppState>, Json(new): Json<NewSku>) -> Result<(StatusCode, Json<SkuRecord>), ApiError> {
    check_text("gender", &new.gender, 20)?;
    check_text("colour", &new.colour, 50)?;
    check_text("size", &new.size, 20)?;
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
    };
    Ok((StatusCode::CREATED, Json(state.store.create_sku(record, now_ms()).await?)))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SkuDetail {
    #[serde(flatten)]
    pub sku: SkuRecord,
    pub stock: Vec<StockRow>,
    /// Sellable across all warehouses: what the product page shows.
    pub sellable_total: i64,
}

#[utoipa::path(get, path = "/api/v1/skus/{sku}", params(("sku" = String, Path)), responses((status = 200, body = SkuDetail)), tag = "catalog")]
pub async fn get_sku(_: Reader, State(state): State<AppState>, Path(sku): Path<Sku>) -> Result<Json<SkuDetail>, ApiError> {
    let record = state.store.get_sku(sku.clone()).await?;
    let stock = state.store.stock(sku).await?;
    let sellable_total = stock.iter().map(|s| s.sellable.max(0)).sum();
    Ok(Json(SkuDetail { sku: record, stock, sellable_total }))
}
