//! Stock rows and the inventory ledger. Every counter change goes through `change`, which
//! applies the pure rule from `tote_shared::stock` and writes the ledger rows with it.

use super::super::{LedgerEntry, StockRow, StoreError, StoreResult};
use rusqlite::{params, Connection, OptionalExtension};
use tote_shared::stock::{Movement, StockError, StockField, StockLevel};
use tote_shared::{Sku, WarehouseCode};

/// Why and what, as the ledger records it.
pub struct Cause<'a> {
    pub cause: &'a str,
    pub reference: &'a str,
    pub at_ms: i64,
}

pub fn load(conn: &Connection, sku: &str, warehouse: &str) -> StoreResult<StockLevel> {
    let level = conn
        .prepare_cached("SELECT on_hand, locked, committed FROM stock WHERE sku = ?1 AND warehouse = ?2")?
        .query_row(params![sku, warehouse], |r| {
            Ok(StockLevel { on_hand: r.get(0)?, locked: r.get(1)?, committed: r.get(2)? })
        })
        .optional()?;
    Ok(level.unwrap_or_default())
}

/// Applies `rule` to the (sku, warehouse) level, saves it and appends one ledger row per
/// counter that moved. On error nothing is written.
pub fn change(
    conn: &Connection,
    sku: &str,
    warehouse: &str,
    cause: &Cause<'_>,
    rule: impl FnOnce(&mut StockLevel) -> Result<Vec<Movement>, StockError>,
) -> StoreResult<StockLevel> {
    let mut level = load(conn, sku, warehouse)?;
    let movements = rule(&mut level)?;
    conn.prepare_cached(
        "INSERT INTO stock (sku, warehouse, on_hand, locked, committed) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (sku, warehouse) DO UPDATE SET on_hand = ?3, locked = ?4, committed = ?5",
    )?
    .execute(params![sku, warehouse, level.on_hand, level.locked, level.committed])?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO inventory_ledger (at_ms, sku, warehouse, field, delta, balance_after, cause, reference)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for m in movements {
        let balance = match m.field {
            StockField::OnHand => level.on_hand,
            StockField::Locked => level.locked,
            StockField::Committed => level.committed,
        };
        insert.execute(params![cause.at_ms, sku, warehouse, m.field.as_str(), m.delta, balance, cause.cause, cause.reference])?;
    }
    Ok(level)
}

pub fn rows_for_sku(conn: &Connection, sku: &str) -> StoreResult<Vec<StockRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT warehouse, on_hand, locked, committed FROM stock WHERE sku = ?1 ORDER BY warehouse",
    )?;
    let rows = stmt.query_map([sku], |r| {
        Ok((r.get::<_, String>(0)?, StockLevel { on_hand: r.get(1)?, locked: r.get(2)?, committed: r.get(3)? }))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (warehouse, level) = row?;
        out.push(StockRow { warehouse: parse_warehouse(&warehouse)?, sellable: level.sellable(), level });
    }
    Ok(out)
}

pub fn ledger(conn: &Connection, sku: &str, warehouse: Option<&str>, limit: u32) -> StoreResult<Vec<LedgerEntry>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, at_ms, sku, warehouse, field, delta, balance_after, cause, reference FROM inventory_ledger
         WHERE sku = ?1 AND (?2 IS NULL OR warehouse = ?2) ORDER BY id LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![sku, warehouse, limit], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, i64>(5)?,
            r.get::<_, i64>(6)?,
            r.get::<_, String>(7)?,
            r.get::<_, String>(8)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, at_ms, sku, warehouse, field, delta, balance_after, cause, reference) = row?;
        let field = match field.as_str() {
            "on_hand" => StockField::OnHand,
            "locked" => StockField::Locked,
            "committed" => StockField::Committed,
            other => return Err(StoreError::Corrupt(format!("ledger field {other}"))),
        };
        out.push(LedgerEntry {
            id,
            at_ms,
            sku: parse_sku(&sku)?,
            warehouse: parse_warehouse(&warehouse)?,
            field,
            delta,
            balance_after,
            cause,
            reference,
        });
    }
    Ok(out)
}

pub fn parse_sku(raw: &str) -> StoreResult<Sku> {
    Sku::parse(raw).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub fn parse_warehouse(raw: &str) -> StoreResult<WarehouseCode> {
    WarehouseCode::parse(raw).map_err(|e| StoreError::Corrupt(e.to_string()))
}
