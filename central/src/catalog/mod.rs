//! Catalog: SPUs (models) and SKUs (sellable variants) with barcode, price and cost — the one
//! source of product data for orders, inventory and the edges' master data.
//!
//! Rules here are pure (what a valid SPU id is, how a SKU's display name reads); `store.rs`
//! owns the `spu` and `sku` tables; `http.rs` the routes.

pub mod categories;
pub mod csv;
pub mod http;
pub mod prices;
pub mod store;

pub use prices::SkuState;

use crate::db::DbError;
use crate::edge_sync::commands::StreamError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tote_shared::{Gtin, Money, Sku};

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Spu {
    /// Model code, e.g. `PEG39`.
    #[schema(pattern = "^[A-Za-z0-9-]{1,32}$", min_length = 1, max_length = 32)]
    pub id: String,
    #[schema(value_type = tote_shared::openapi::Text200)]
    pub name: String,
    #[schema(value_type = tote_shared::openapi::Text100)]
    pub brand: String,
    /// Once HQ has a category tree, a category's id (`RUNNING-CUSHIONED`), whose attribute
    /// set the SKUs then carry; before, any text (`Shoes > Running`).
    #[schema(value_type = tote_shared::openapi::Text300)]
    pub category: String,
    /// Its units carry a batch/lot and expiry date (received by GS1 scan, picked first expiry
    /// first out, watched for expiry).
    #[serde(default)]
    pub lot_tracked: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SkuRecord {
    pub sku: Sku,
    pub spu_id: String,
    pub gtin: Gtin,
    pub gender: String,
    pub colour: String,
    pub size: String,
    /// Selling price, minor units.
    pub price: Money,
    /// Purchase cost, minor units.
    pub cost: Money,
    /// Display name: model, gender, colour, size.
    pub name: String,
    /// Weight and size of one unit as shipped; None until measured (logistics then assumes
    /// its policy's defaults).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping: Option<ShippingSpec>,
    /// Where it is in its life; orders are taken only when `listed` or in `clearance`.
    #[serde(default = "listed")]
    pub state: SkuState,
    /// Its values of the category's attribute set (`size_eu`: `42`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

fn listed() -> SkuState {
    SkuState::Listed
}

/// One unit's shipping weight and box size (shared with the edges, which spot bulky items by it).
pub use tote_shared::sync::ShippingSpec;

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// 404
    #[error("{0} not found")]
    NotFound(String),
    /// 409
    #[error("{0} already exists")]
    Duplicate(String),
    /// 422: what was asked does not fit the catalog's rules (named).
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<StreamError> for CatalogError {
    fn from(e: StreamError) -> Self {
        match e {
            StreamError::UnknownWarehouse(w) => CatalogError::NotFound(format!("warehouse {w}")),
            StreamError::Db(e) => CatalogError::Db(e),
        }
    }
}

/// An SPU id is 1 to 32 letters, digits or '-'.
pub fn valid_spu_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// "Nike Air Zoom Pegasus 39, men, white, EU 42".
pub fn display_name(model: &str, sku: &SkuRecord) -> String {
    format!("{model}, {}, {}, {}", sku.gender, sku.colour, sku.size)
}
