//! The `warehouse` table.

use super::{NewWarehouse, WarehouseError, WarehouseRecord};
use crate::audit;
use crate::catalog;
use crate::db::{DbError, DbResult, Tx};
use crate::edge_sync::commands;
use crate::journal::{self, BusinessEvent};
use crate::params;
use tote_shared::geo::GeoPoint;
use tote_shared::WarehouseCode;

pub fn create(tx: &mut dyn Tx, w: &NewWarehouse, now_ms: i64) -> Result<WarehouseRecord, WarehouseError> {
    catalog::store::lock_master_data(tx)?;
    tx.execute(
        "INSERT INTO warehouse (code, name, lat, lon, token_hash, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        &params![w.code.as_str(), w.name.as_str(), w.point.lat, w.point.lon, w.token_hash.as_str(), now_ms],
    )
    .map_err(|e| if e.is_unique_violation() { WarehouseError::Duplicate(w.code.to_string()) } else { WarehouseError::Db(e) })?;
    commands::open_stream(tx, &w.code)?;
    // Teach the new edge every SKU we sell.
    for sku in catalog::store::all_skus(tx)? {
        commands::enqueue(tx, &w.code, &catalog::store::upsert_command(&sku), now_ms)?;
    }
    journal::store::append(tx, &BusinessEvent::WarehouseCreated { warehouse: w.code.clone() }, now_ms)?;
    Ok(WarehouseRecord { code: w.code.clone(), name: w.name.clone(), location: w.point })
}

/// Replaces a warehouse's edge credential (the old one stops working at commit), with its
/// audit entry (the reason, never the secret) in the same transaction; returns the entry's id.
pub fn replace_token(tx: &mut dyn Tx, warehouse: &WarehouseCode, token_hash: &str, reason: &str, actor: &str, now_ms: i64) -> Result<u64, WarehouseError> {
    let changed = tx
        .execute("UPDATE warehouse SET token_hash = ?2 WHERE code = ?1", &params![warehouse.as_str(), token_hash])
        .map_err(|e| if e.is_unique_violation() { WarehouseError::Duplicate(warehouse.to_string()) } else { WarehouseError::Db(e) })?;
    if changed == 0 {
        return Err(WarehouseError::NotFound(warehouse.to_string()));
    }
    let detail = serde_json::json!({ "reason": reason });
    Ok(audit::store::append(tx, now_ms, actor, "edge_token_replaced", &format!("warehouse:{warehouse}"), &detail)?)
}

pub fn list(tx: &mut dyn Tx) -> DbResult<Vec<WarehouseRecord>> {
    let rows = tx.query("SELECT code, name, lat, lon FROM warehouse ORDER BY code", &[])?;
    rows.iter()
        .map(|r| Ok(WarehouseRecord { code: code(&r.text(0)?)?, name: r.text(1)?, location: GeoPoint { lat: r.real(2)?, lon: r.real(3)? } }))
        .collect()
}

pub fn by_token(tx: &mut dyn Tx, token_hash: &str) -> DbResult<Option<WarehouseCode>> {
    tx.query_opt("SELECT code FROM warehouse WHERE token_hash = ?1", &params![token_hash])?.map(|r| code(&r.text(0)?)).transpose()
}

/// Where each warehouse is, for routing.
pub fn points(tx: &mut dyn Tx) -> DbResult<Vec<(WarehouseCode, GeoPoint)>> {
    Ok(list(tx)?.into_iter().map(|w| (w.code, w.location)).collect())
}

pub fn code(raw: &str) -> DbResult<WarehouseCode> {
    WarehouseCode::parse(raw).map_err(|e| DbError::corrupt(e.to_string()))
}
