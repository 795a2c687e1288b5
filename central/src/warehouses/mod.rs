//! Warehouses: where each one is (for routing) and the credential its edge uses. Creating one
//! opens its sync streams and teaches its edge every SKU, in one transaction.

pub mod http;
pub mod store;

use crate::catalog::CatalogError;
use crate::db::DbError;
use crate::edge_sync::commands::StreamError;
use serde::{Deserialize, Serialize};
use tote_shared::geo::GeoPoint;
use tote_shared::WarehouseCode;

#[derive(Debug, Clone)]
pub struct NewWarehouse {
    pub code: WarehouseCode,
    pub name: String,
    pub point: GeoPoint,
    pub token_hash: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WarehouseRecord {
    pub code: WarehouseCode,
    pub name: String,
    pub location: GeoPoint,
}

#[derive(Debug, thiserror::Error)]
pub enum WarehouseError {
    /// 409
    #[error("warehouse {0} (or its edge token) already exists")]
    Duplicate(String),
    /// 404
    #[error("warehouse {0} not found")]
    NotFound(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<StreamError> for WarehouseError {
    fn from(e: StreamError) -> Self {
        match e {
            // The stream was opened in this very transaction; not finding it is corruption.
            StreamError::UnknownWarehouse(w) => WarehouseError::Db(DbError::corrupt(format!("no stream for {w}"))),
            StreamError::Db(e) => WarehouseError::Db(e),
        }
    }
}

impl From<CatalogError> for WarehouseError {
    fn from(e: CatalogError) -> Self {
        match e {
            CatalogError::Db(e) => WarehouseError::Db(e),
            other => WarehouseError::Db(DbError::corrupt(other.to_string())),
        }
    }
}
