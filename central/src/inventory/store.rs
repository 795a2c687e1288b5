//! The `stock` and `inventory_ledger` tables. Every counter change goes through
//! `change_all`: lock the rows (in a fixed key order, so two transactions never wait on each
//! other in a circle), decide in memory, then write the rows and one ledger row per counter
//! that moved.

use super::{decide, Cause, Change, InventoryError, LedgerEntry, StockRow};
use crate::db::{DbError, DbResult, Row, Tx};
use crate::params;
use crate::warehouses::store::code;
use tote_shared::stock::{Movement, StockField, StockLevel};
use tote_shared::{Sku, WarehouseCode};

/// Locks and reads the level of each (SKU, warehouse), creating missing rows at zero.
/// Returned in the order asked; locked in key order.
pub fn lock(tx: &mut dyn Tx, keys: &[(&Sku, &WarehouseCode)]) -> DbResult<Vec<StockLevel>> {
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by(|&a, &b| (keys[a].0.as_str(), keys[a].1.as_str()).cmp(&(keys[b].0.as_str(), keys[b].1.as_str())));
    let mut levels = vec![StockLevel::default(); keys.len()];
    for i in order {
        let (sku, warehouse) = keys[i];
        levels[i] = lock_one(tx, sku, warehouse)?;
    }
    Ok(levels)
}

const SELECT_LEVEL: &str = "SELECT on_hand, locked, committed FROM stock WHERE sku = ?1 AND warehouse = ?2 FOR UPDATE";

fn lock_one(tx: &mut dyn Tx, sku: &Sku, warehouse: &WarehouseCode) -> DbResult<StockLevel> {
    if let Some(row) = tx.query_opt(SELECT_LEVEL, &params![sku.as_str(), warehouse.as_str()])? {
        return level(&row, 0);
    }
    // A row must exist to be locked: two first receipts at once would otherwise both start
    // from zero. The insert waits for a concurrent one to commit, then does nothing.
    tx.execute(
        "INSERT INTO stock (sku, warehouse) VALUES (?1, ?2) ON CONFLICT (sku, warehouse) DO NOTHING",
        &params![sku.as_str(), warehouse.as_str()],
    )?;
    level(&tx.query_one(SELECT_LEVEL, &params![sku.as_str(), warehouse.as_str()])?, 0)
}

fn level(row: &Row, from: usize) -> DbResult<StockLevel> {
    Ok(StockLevel { on_hand: row.int(from)?, locked: row.int(from + 1)?, committed: row.int(from + 2)? })
}

/// Applies every change or none: locks, decides in memory, then writes. Returns the levels
/// after the changes, in order.
pub fn change_all(tx: &mut dyn Tx, changes: &[Change<'_>], cause: &Cause<'_>) -> Result<Vec<StockLevel>, InventoryError> {
    let keys: Vec<_> = changes.iter().map(|c| (c.sku, c.warehouse)).collect();
    let levels = lock(tx, &keys)?;
    let decided = decide(changes, &levels)?;
    for (change, (level, moved)) in changes.iter().zip(&decided) {
        save(tx, change.sku, change.warehouse, level, moved, cause)?;
    }
    Ok(decided.into_iter().map(|(level, _)| level).collect())
}

/// Writes a level decided in memory and its ledger rows.
pub fn save(tx: &mut dyn Tx, sku: &Sku, warehouse: &WarehouseCode, level: &StockLevel, moved: &[Movement], cause: &Cause<'_>) -> DbResult<()> {
    tx.execute(
        "UPDATE stock SET on_hand = ?3, locked = ?4, committed = ?5 WHERE sku = ?1 AND warehouse = ?2",
        &params![sku.as_str(), warehouse.as_str(), level.on_hand, level.locked, level.committed],
    )?;
    for m in moved {
        let balance = match m.field {
            StockField::OnHand => level.on_hand,
            StockField::Locked => level.locked,
            StockField::Committed => level.committed,
        };
        tx.execute(
            "INSERT INTO inventory_ledger (at_ms, sku, warehouse, field, delta, balance_after, cause, reference)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            &params![cause.at_ms, sku.as_str(), warehouse.as_str(), m.field.as_str(), m.delta, balance, cause.cause, cause.reference],
        )?;
    }
    Ok(())
}

/// Every warehouse's level of `sku`, locked in key order: a batch of orders for one SKU is
/// decided against these in memory (the flash-sale path).
pub fn lock_sku(tx: &mut dyn Tx, sku: &Sku) -> DbResult<Vec<(WarehouseCode, StockLevel)>> {
    let rows = tx.query(
        "SELECT warehouse, on_hand, locked, committed FROM stock WHERE sku = ?1 ORDER BY warehouse FOR UPDATE",
        &params![sku.as_str()],
    )?;
    rows.iter().map(|r| Ok((code(&r.text(0)?)?, level(r, 1)?))).collect()
}

/// One ledger row of a batch.
#[derive(Debug, Clone)]
pub struct LedgerRow {
    pub field: StockField,
    pub delta: i64,
    pub balance_after: i64,
    pub cause: &'static str,
    pub reference: String,
}

/// Writes a level a batch decided in memory and all its ledger rows in one statement.
pub fn save_batch(tx: &mut dyn Tx, sku: &Sku, warehouse: &WarehouseCode, level: &StockLevel, rows: &[LedgerRow], at_ms: i64) -> DbResult<()> {
    tx.execute(
        "UPDATE stock SET on_hand = ?3, locked = ?4, committed = ?5 WHERE sku = ?1 AND warehouse = ?2",
        &params![sku.as_str(), warehouse.as_str(), level.on_hand, level.locked, level.committed],
    )?;
    for chunk in rows.chunks(1000) {
        let sql = format!(
            "INSERT INTO inventory_ledger (at_ms, sku, warehouse, field, delta, balance_after, cause, reference) VALUES {}",
            crate::db::values_clause(chunk.len(), 8, 1)
        );
        let mut values = Vec::with_capacity(chunk.len() * 8);
        for r in chunk {
            values.extend(params![at_ms, sku.as_str(), warehouse.as_str(), r.field.as_str(), r.delta, r.balance_after, r.cause, r.reference.as_str()]);
        }
        tx.execute(&sql, &values)?;
    }
    Ok(())
}

/// The level without locking it.
pub fn peek(tx: &mut dyn Tx, sku: &Sku, warehouse: &WarehouseCode) -> DbResult<StockLevel> {
    let row = tx.query_opt(
        "SELECT on_hand, locked, committed FROM stock WHERE sku = ?1 AND warehouse = ?2",
        &params![sku.as_str(), warehouse.as_str()],
    )?;
    row.map_or(Ok(StockLevel::default()), |r| level(&r, 0))
}

/// Sellable of `sku` in every warehouse that has a row for it (unlocked: for routing, which
/// re-checks under the lock).
pub fn sellable_by_warehouse(tx: &mut dyn Tx, sku: &Sku) -> DbResult<Vec<(WarehouseCode, i64)>> {
    let rows = tx.query("SELECT warehouse, on_hand - locked - committed FROM stock WHERE sku = ?1", &params![sku.as_str()])?;
    rows.iter().map(|r| Ok((code(&r.text(0)?)?, r.int(1)?))).collect()
}

pub fn rows_for_sku(tx: &mut dyn Tx, sku: &Sku) -> DbResult<Vec<StockRow>> {
    let rows = tx.query(
        "SELECT warehouse, on_hand, locked, committed FROM stock WHERE sku = ?1 ORDER BY warehouse",
        &params![sku.as_str()],
    )?;
    rows.iter()
        .map(|r| {
            let level = level(r, 1)?;
            Ok(StockRow { warehouse: code(&r.text(0)?)?, sellable: level.sellable(), level })
        })
        .collect()
}

pub fn ledger(tx: &mut dyn Tx, sku: &Sku, warehouse: Option<&WarehouseCode>, limit: u32) -> DbResult<Vec<LedgerEntry>> {
    let rows = tx.query(
        "SELECT id, at_ms, sku, warehouse, field, delta, balance_after, cause, reference FROM inventory_ledger
         WHERE sku = ?1 AND (CAST(?2 AS TEXT) IS NULL OR warehouse = ?2) ORDER BY id LIMIT ?3",
        &params![sku.as_str(), warehouse.map(|w| w.as_str()), limit],
    )?;
    rows.iter()
        .map(|r| {
            let field = match r.text(4)?.as_str() {
                "on_hand" => StockField::OnHand,
                "locked" => StockField::Locked,
                "committed" => StockField::Committed,
                other => return Err(DbError::corrupt(format!("ledger field {other}"))),
            };
            Ok(LedgerEntry {
                id: r.int(0)?,
                at_ms: r.int(1)?,
                sku: Sku::parse(&r.text(2)?).map_err(|e| DbError::corrupt(e.to_string()))?,
                warehouse: code(&r.text(3)?)?,
                field,
                delta: r.int(5)?,
                balance_after: r.int(6)?,
                cause: r.text(7)?,
                reference: r.text(8)?,
            })
        })
        .collect()
}

/// Rows in the ledger (for /metrics).
pub fn ledger_size(tx: &mut dyn Tx) -> DbResult<i64> {
    tx.query_one("SELECT COALESCE(MAX(id), 0) FROM inventory_ledger", &[])?.int(0)
}
