//! The base layer of edge sync: each warehouse's command stream (fulfil, cancel, master
//! data), numbered 1, 2, 3 … per edge in the transaction that decided the command, pulled by
//! the edge after its cursor. Systems above (catalog, orders) enqueue here; this layer knows
//! nothing about them.

use crate::db::{DbError, DbResult, Tx};
use crate::params;
use super::EdgeSyncRow;
use tote_shared::sync::{CentralCommand, CommandKind, PullResponse};
use tote_shared::WarehouseCode;

/// The warehouse has no stream (it does not exist).
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("warehouse {0} not found")]
    UnknownWarehouse(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Opens a new warehouse's streams (called in the transaction that creates it).
pub fn open_stream(tx: &mut dyn Tx, warehouse: &WarehouseCode) -> DbResult<()> {
    tx.execute("INSERT INTO edge_stream (warehouse) VALUES (?1)", &params![warehouse.as_str()])?;
    Ok(())
}

pub fn enqueue(tx: &mut dyn Tx, warehouse: &WarehouseCode, kind: &CommandKind, now_ms: i64) -> Result<u64, StreamError> {
    let seq = tx
        .query_opt(
            "UPDATE edge_stream SET commands_seq = commands_seq + 1 WHERE warehouse = ?1 RETURNING commands_seq",
            &params![warehouse.as_str()],
        )?
        .ok_or_else(|| StreamError::UnknownWarehouse(warehouse.to_string()))?
        .uint(0)?;
    let body = serde_json::to_string(kind).map_err(|e| DbError::corrupt(e.to_string()))?;
    tx.execute(
        "INSERT INTO edge_command (warehouse, seq, body, created_ms) VALUES (?1, ?2, ?3, ?4)",
        &params![warehouse.as_str(), seq, body, now_ms],
    )?;
    Ok(seq)
}

/// Queues `kinds` in order for `warehouse`: one statement to reserve their numbers, one insert
/// per 500 (a catalog import teaches every edge thousands of SKUs).
pub fn enqueue_many(tx: &mut dyn Tx, warehouse: &WarehouseCode, kinds: &[CommandKind], now_ms: i64) -> Result<(), StreamError> {
    if kinds.is_empty() {
        return Ok(());
    }
    let last = tx
        .query_opt(
            "UPDATE edge_stream SET commands_seq = commands_seq + ?2 WHERE warehouse = ?1 RETURNING commands_seq",
            &params![warehouse.as_str(), kinds.len()],
        )?
        .ok_or_else(|| StreamError::UnknownWarehouse(warehouse.to_string()))?
        .uint(0)?;
    let mut seq = last - kinds.len() as u64;
    for chunk in kinds.chunks(500) {
        let sql = format!("INSERT INTO edge_command (warehouse, seq, body, created_ms) VALUES {}", crate::db::values_clause(chunk.len(), 4, 1));
        let mut values = Vec::with_capacity(chunk.len() * 4);
        for kind in chunk {
            seq += 1;
            let body = serde_json::to_string(kind).map_err(|e| DbError::corrupt(e.to_string()))?;
            values.extend(params![warehouse.as_str(), seq, body, now_ms]);
        }
        tx.execute(&sql, &values)?;
    }
    Ok(())
}

pub fn pull(tx: &mut dyn Tx, warehouse: &WarehouseCode, after: u64, limit: u32) -> Result<PullResponse, StreamError> {
    let latest_seq = tx
        .query_opt("SELECT commands_seq FROM edge_stream WHERE warehouse = ?1", &params![warehouse.as_str()])?
        .ok_or_else(|| StreamError::UnknownWarehouse(warehouse.to_string()))?
        .uint(0)?;
    let rows = tx.query(
        "SELECT seq, body FROM edge_command WHERE warehouse = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
        &params![warehouse.as_str(), after, limit],
    )?;
    let mut commands = Vec::with_capacity(rows.len());
    for row in rows {
        let seq = row.uint(0)?;
        let kind = serde_json::from_str(&row.text(1)?).map_err(|e| DbError::corrupt(format!("command {seq}: {e}")))?;
        commands.push(CentralCommand { seq, kind });
    }
    Ok(PullResponse { commands, latest_seq })
}

/// The edge's high-water mark of applied events, locked until the transaction ends (one
/// push per edge at a time applies; a concurrent one waits and then sees the new mark).
pub fn lock_high_water(tx: &mut dyn Tx, warehouse: &WarehouseCode) -> Result<u64, StreamError> {
    Ok(tx
        .query_opt("SELECT events_high_water FROM edge_stream WHERE warehouse = ?1 FOR UPDATE", &params![warehouse.as_str()])?
        .ok_or_else(|| StreamError::UnknownWarehouse(warehouse.to_string()))?
        .uint(0)?)
}

pub fn set_high_water(tx: &mut dyn Tx, warehouse: &WarehouseCode, high_water: u64, now_ms: i64) -> DbResult<()> {
    tx.execute(
        "UPDATE edge_stream SET events_high_water = ?2, last_push_ms = ?3 WHERE warehouse = ?1",
        &params![warehouse.as_str(), high_water, now_ms],
    )?;
    Ok(())
}

/// HQ set the mark by hand (see `rebase`); returns the mark it replaced. The row stays locked
/// until the transaction ends.
pub fn rebase(tx: &mut dyn Tx, warehouse: &WarehouseCode, high_water: u64) -> Result<u64, StreamError> {
    let from = lock_high_water(tx, warehouse)?;
    tx.execute("UPDATE edge_stream SET events_high_water = ?2 WHERE warehouse = ?1", &params![warehouse.as_str(), high_water])?;
    Ok(from)
}

/// An edge event applied to the stream that no system could take; kept for HQ.
pub fn keep_reject(tx: &mut dyn Tx, warehouse: &WarehouseCode, seq: u64, event: &str, reason: &str, now_ms: i64) -> DbResult<()> {
    tx.execute(
        "INSERT INTO sync_reject (warehouse, seq, event, reason, at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
        &params![warehouse.as_str(), seq, event, reason, now_ms],
    )?;
    Ok(())
}

/// Every stream's position; rejects at or after `recent_since_ms` are counted apart.
pub fn status(tx: &mut dyn Tx, recent_since_ms: i64) -> DbResult<Vec<EdgeSyncRow>> {
    let rows = tx.query(
        "SELECT e.warehouse, e.events_high_water, e.last_push_ms, e.commands_seq,
                (SELECT COUNT(*) FROM sync_reject r WHERE r.warehouse = e.warehouse),
                (SELECT COUNT(*) FROM sync_reject r WHERE r.warehouse = e.warehouse AND r.at_ms >= ?1)
         FROM edge_stream e ORDER BY e.warehouse",
        &params![recent_since_ms],
    )?;
    rows.iter()
        .map(|r| {
            Ok(EdgeSyncRow {
                warehouse: WarehouseCode::parse(&r.text(0)?).map_err(|e| DbError::corrupt(e.to_string()))?,
                events_high_water: r.uint(1)?,
                last_push_ms: r.opt_int(2)?,
                commands_latest_seq: r.uint(3)?,
                rejected_events: r.uint(4)?,
                rejected_last_hour: r.uint(5)?,
            })
        })
        .collect()
}

/// (warehouse, seq, at, reason, event) of kept rejects, newest first.
pub type RejectRow = (String, u64, i64, String, String);

pub fn rejects(tx: &mut dyn Tx, warehouse: Option<&WarehouseCode>, limit: u32) -> DbResult<Vec<RejectRow>> {
    let rows = tx.query(
        "SELECT warehouse, seq, at_ms, reason, event FROM sync_reject
         WHERE CAST(?1 AS TEXT) IS NULL OR warehouse = ?1 ORDER BY id DESC LIMIT ?2",
        &params![warehouse.map(|w| w.as_str()), limit],
    )?;
    rows.iter().map(|r| Ok((r.text(0)?, r.uint(1)?, r.int(2)?, r.text(3)?, r.text(4)?))).collect()
}

/// Every warehouse with a stream, i.e. every warehouse central knows.
pub fn stream_warehouses(tx: &mut dyn Tx) -> DbResult<Vec<WarehouseCode>> {
    let rows = tx.query("SELECT warehouse FROM edge_stream ORDER BY warehouse", &[])?;
    rows.iter().map(|r| WarehouseCode::parse(&r.text(0)?).map_err(|e| DbError::corrupt(e.to_string()))).collect()
}
