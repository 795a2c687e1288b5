//! Catalog routes: create SPUs and SKUs. (The product page, `GET /skus/{sku}`, shows stock
//! too, so it lives with inventory.)

use super::{store, valid_spu_id, ShippingSpec, SkuRecord, Spu};
use crate::auth::Admin;
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
use tote_shared::runtime::http::Json;
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
    };
    let now = now_ms();
    keyed_write(&state, request, StatusCode::CREATED, move |tx| {
        store::lock_master_data(tx)?;
        let warehouses = commands::stream_warehouses(tx)?;
        store::create_sku(tx, &record, &warehouses, now)
    })
    .await
}
