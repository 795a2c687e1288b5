//! The `stock` and `inventory_ledger` tables. Every counter change goes through
//! `change_all`: lock the rows (in a fixed key order, so two transactions never wait on each
//! other in a circle), decide in memory, then write the rows and one ledger row per counter
//! that moved.

use super::{decide, Cause, Change, InventoryError, LedgerEntry, StockRow};
use crate::db::{DbError, DbResult, Row, Tx};
use crate::params;
use crate::warehouses::store::code;
use tote_shared::geo::GeoPoint;
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

const SELECT_LEVEL: &str = "SELECT on_hand, locked, committed, frozen FROM stock WHERE sku = ?1 AND warehouse = ?2 FOR UPDATE";

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
    Ok(StockLevel { on_hand: row.int(from)?, locked: row.int(from + 1)?, committed: row.int(from + 2)?, frozen: row.int(from + 3)? })
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

/// Every warehouse's level of each of `skus`, locked in key order, in one statement: a batch
/// of orders is decided against these in memory (the flash-sale path).
pub fn lock_skus(tx: &mut dyn Tx, skus: &[&Sku]) -> DbResult<Vec<(String, WarehouseCode, StockLevel)>> {
    let mut out = Vec::new();
    for chunk in skus.chunks(500) {
        let sql = format!(
            "SELECT sku, warehouse, on_hand, locked, committed, frozen FROM stock WHERE sku IN ({}) ORDER BY sku, warehouse FOR UPDATE",
            crate::db::placeholders(chunk.len(), 1)
        );
        let values: Vec<crate::db::Value> = chunk.iter().map(|s| crate::db::Value::from(s.as_str())).collect();
        for r in tx.query(&sql, &values)? {
            out.push((r.text(0)?, code(&r.text(1)?)?, level(&r, 2)?));
        }
    }
    Ok(out)
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

/// Writes the levels a batch decided in memory, (SKU, warehouse, level, ledger rows) each,
/// with two statements for the whole batch: one multi-row UPDATE and one multi-row INSERT.
pub fn save_batch(tx: &mut dyn Tx, levels: &[(&Sku, &WarehouseCode, StockLevel, &[LedgerRow])], at_ms: i64) -> DbResult<()> {
    for chunk in levels.chunks(1000) {
        // Typed casts: PostgreSQL cannot infer a VALUES list's parameter types.
        let rows: Vec<String> = (0..chunk.len())
            .map(|i| {
                let p = i * 5;
                format!("(?{}, ?{}, CAST(?{} AS BIGINT), CAST(?{} AS BIGINT), CAST(?{} AS BIGINT))", p + 1, p + 2, p + 3, p + 4, p + 5)
            })
            .collect();
        let sql = format!(
            "UPDATE stock SET on_hand = v.column3, locked = v.column4, committed = v.column5
             FROM (VALUES {}) AS v WHERE stock.sku = v.column1 AND stock.warehouse = v.column2",
            rows.join(", ")
        );
        let mut values = Vec::with_capacity(chunk.len() * 5);
        for (sku, warehouse, level, _) in chunk {
            values.extend(params![sku.as_str(), warehouse.as_str(), level.on_hand, level.locked, level.committed]);
        }
        tx.execute(&sql, &values)?;
    }
    let ledger: Vec<(&Sku, &WarehouseCode, &LedgerRow)> = levels.iter().flat_map(|(s, w, _, rows)| rows.iter().map(move |r| (*s, *w, r))).collect();
    for chunk in ledger.chunks(1000) {
        let sql = format!(
            "INSERT INTO inventory_ledger (at_ms, sku, warehouse, field, delta, balance_after, cause, reference) VALUES {}",
            crate::db::values_clause(chunk.len(), 8, 1)
        );
        let mut values = Vec::with_capacity(chunk.len() * 8);
        for (sku, warehouse, r) in chunk {
            values.extend(params![at_ms, sku.as_str(), warehouse.as_str(), r.field.as_str(), r.delta, r.balance_after, r.cause, r.reference.as_str()]);
        }
        tx.execute(&sql, &values)?;
    }
    Ok(())
}

/// The warehouse says `frozen` units of `sku` are frozen there now. The row is locked first,
/// so an order deciding against it sees the freeze or finishes before it. Returns the level
/// after, and the change in frozen units.
pub fn set_frozen(tx: &mut dyn Tx, sku: &Sku, warehouse: &WarehouseCode, frozen: i64) -> DbResult<(StockLevel, i64)> {
    let mut level = lock_one(tx, sku, warehouse)?;
    let change = frozen - level.frozen;
    tx.execute("UPDATE stock SET frozen = ?3 WHERE sku = ?1 AND warehouse = ?2", &params![sku.as_str(), warehouse.as_str(), frozen])?;
    level.frozen = frozen;
    Ok((level, change))
}

/// The level without locking it.
pub fn peek(tx: &mut dyn Tx, sku: &Sku, warehouse: &WarehouseCode) -> DbResult<StockLevel> {
    let row = tx.query_opt(
        "SELECT on_hand, locked, committed, frozen FROM stock WHERE sku = ?1 AND warehouse = ?2",
        &params![sku.as_str(), warehouse.as_str()],
    )?;
    row.map_or(Ok(StockLevel::default()), |r| level(&r, 0))
}

/// Sellable of `sku` in every warehouse that has a row for it, with where the warehouse is
/// (unlocked: for routing, which re-checks under the lock). The one read of another system's
/// table here: the warehouse's coordinates, master data, joined so that routing an order
/// costs one statement per line instead of two.
pub fn sellable_by_warehouse(tx: &mut dyn Tx, sku: &Sku) -> DbResult<Vec<(WarehouseCode, GeoPoint, i64)>> {
    let rows = tx.query(
        "SELECT s.warehouse, w.lat, w.lon, s.on_hand - s.locked - s.committed - s.frozen
         FROM stock s JOIN warehouse w ON w.code = s.warehouse WHERE s.sku = ?1",
        &params![sku.as_str()],
    )?;
    rows.iter().map(|r| Ok((code(&r.text(0)?)?, GeoPoint { lat: r.real(1)?, lon: r.real(2)? }, r.int(3)?))).collect()
}

/// Every SKU's sellable units over all warehouses (those with any), by SKU.
pub fn sellable_by_sku(tx: &mut dyn Tx) -> DbResult<Vec<(String, i64)>> {
    tx.query(
        "SELECT sku, CAST(SUM(on_hand - locked - committed - frozen) AS BIGINT) FROM stock GROUP BY sku HAVING SUM(on_hand - locked - committed - frozen) > 0 ORDER BY sku",
        &[],
    )?
    .iter()
    .map(|r| Ok((r.text(0)?, r.int(1)?)))
    .collect()
}

pub fn rows_for_sku(tx: &mut dyn Tx, sku: &Sku) -> DbResult<Vec<StockRow>> {
    let rows = tx.query(
        // A warehouse may hold none yet and still have units on their way (from a supplier).
        "SELECT w.warehouse, COALESCE(s.on_hand, 0), COALESCE(s.locked, 0), COALESCE(s.committed, 0), COALESCE(s.frozen, 0),
                COALESCE(a.coming_back, 0), COALESCE(a.damaged, 0), COALESCE(a.in_transit, 0)
         FROM (SELECT warehouse FROM stock WHERE sku = ?1 UNION SELECT warehouse FROM inv_aside WHERE sku = ?1) w
         LEFT JOIN stock s ON s.sku = ?1 AND s.warehouse = w.warehouse
         LEFT JOIN inv_aside a ON a.sku = ?1 AND a.warehouse = w.warehouse
         ORDER BY w.warehouse",
        &params![sku.as_str()],
    )?;
    rows.iter()
        .map(|r| {
            let level = level(r, 1)?;
            Ok(StockRow { warehouse: code(&r.text(0)?)?, sellable: level.sellable(), level, returning: r.int(5)?, damaged: r.int(6)?, in_transit: r.int(7)? })
        })
        .collect()
}

/// Units on their way back from customers (`returning`) and set aside as damaged change by
/// the deltas. Neither may go below zero (the table's CHECK refuses it as a last line; the
/// callers only take back what they added for the same return).
pub fn change_aside(tx: &mut dyn Tx, sku: &Sku, warehouse: &WarehouseCode, returning: i64, damaged: i64) -> DbResult<()> {
    // The row first, at zero: a CHECK is tested on the row an upsert proposes, so a negative
    // delta cannot ride on the insert.
    tx.execute("INSERT INTO inv_aside (sku, warehouse) VALUES (?1, ?2) ON CONFLICT (sku, warehouse) DO NOTHING", &params![sku.as_str(), warehouse.as_str()])?;
    tx.execute(
        "UPDATE inv_aside SET coming_back = coming_back + ?3, damaged = damaged + ?4 WHERE sku = ?1 AND warehouse = ?2",
        &params![sku.as_str(), warehouse.as_str(), returning, damaged],
    )?;
    Ok(())
}

/// Per SKU at `warehouse`: sellable units and units in transit from suppliers.
pub fn position_at(tx: &mut dyn Tx, warehouse: &WarehouseCode) -> DbResult<Vec<(String, (i64, i64))>> {
    tx.query(
        "SELECT w.sku, COALESCE(s.on_hand - s.locked - s.committed - s.frozen, 0), COALESCE(a.in_transit, 0)
         FROM (SELECT sku FROM stock WHERE warehouse = ?1 UNION SELECT sku FROM inv_aside WHERE warehouse = ?1) w
         LEFT JOIN stock s ON s.sku = w.sku AND s.warehouse = ?1
         LEFT JOIN inv_aside a ON a.sku = w.sku AND a.warehouse = ?1",
        &params![warehouse.as_str()],
    )?
    .iter()
    .map(|r| Ok((r.text(0)?, (r.int(1)?, r.int(2)?))))
    .collect()
}

/// Units on their way from a supplier (on an ASN, not yet received) change by `delta`; never
/// below zero (the table's CHECK refuses it as a last line).
pub fn change_in_transit(tx: &mut dyn Tx, sku: &Sku, warehouse: &WarehouseCode, delta: i64) -> DbResult<()> {
    tx.execute("INSERT INTO inv_aside (sku, warehouse) VALUES (?1, ?2) ON CONFLICT (sku, warehouse) DO NOTHING", &params![sku.as_str(), warehouse.as_str()])?;
    tx.execute("UPDATE inv_aside SET in_transit = in_transit + ?3 WHERE sku = ?1 AND warehouse = ?2", &params![sku.as_str(), warehouse.as_str(), delta])?;
    Ok(())
}

/// A SKU's ledger entries: the first `limit` (oldest first), or the latest (newest first).
pub fn ledger(tx: &mut dyn Tx, sku: &Sku, warehouse: Option<&WarehouseCode>, limit: u32, newest: bool) -> DbResult<Vec<LedgerEntry>> {
    // The order comes from this choice, never from input.
    let order = if newest { "DESC" } else { "ASC" };
    let rows = tx.query(
        &format!(
            "SELECT id, at_ms, sku, warehouse, field, delta, balance_after, cause, reference FROM inventory_ledger
             WHERE sku = ?1 AND (CAST(?2 AS TEXT) IS NULL OR warehouse = ?2) ORDER BY id {order} LIMIT ?3"
        ),
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

/// What is left of a lot at `warehouse`, as its edge last said (0: gone).
pub fn set_lot(tx: &mut dyn Tx, warehouse: &WarehouseCode, sku: &Sku, lot: &str, expiry: &str, qty: i64, now_ms: i64) -> DbResult<()> {
    if qty <= 0 {
        tx.execute("DELETE FROM inv_lot WHERE warehouse = ?1 AND sku = ?2 AND lot = ?3", &params![warehouse.as_str(), sku.as_str(), lot])?;
        return Ok(());
    }
    tx.execute(
        "INSERT INTO inv_lot (warehouse, sku, lot, expiry, qty, at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (warehouse, sku, lot) DO UPDATE SET expiry = ?4, qty = ?5, at_ms = ?6",
        &params![warehouse.as_str(), sku.as_str(), lot, expiry, qty, now_ms],
    )?;
    Ok(())
}

/// The lots with units left, per warehouse × SKU (one warehouse, or all).
pub fn lots(tx: &mut dyn Tx, warehouse: Option<&WarehouseCode>) -> DbResult<std::collections::BTreeMap<(WarehouseCode, Sku), Vec<super::health::LotFacts>>> {
    let rows = tx.query(
        "SELECT warehouse, sku, lot, expiry, qty FROM inv_lot WHERE CAST(?1 AS TEXT) IS NULL OR warehouse = ?1 ORDER BY warehouse, sku, expiry, lot",
        &params![warehouse.map(WarehouseCode::as_str)],
    )?;
    let mut out: std::collections::BTreeMap<_, Vec<_>> = std::collections::BTreeMap::new();
    for r in &rows {
        let key = (code(&r.text(0)?)?, sku_of(&r.text(1)?)?);
        out.entry(key).or_default().push(super::health::LotFacts { lot: r.text(2)?, expiry: r.text(3)?, qty: r.int(4)? });
    }
    Ok(out)
}

fn sku_of(raw: &str) -> DbResult<Sku> {
    Sku::parse(raw).map_err(|e| DbError::corrupt(e.to_string()))
}

/// Per warehouse × SKU with sellable stock: the sellable units, units shipped in the window
/// (`shipped`, from `shipped_in_window`), the last day anything shipped, and when on-hand
/// there last rose from none. Reads analytics' daily shipments (the one read across,
/// documented: the sales pace is theirs to keep).
pub fn place_facts(
    tx: &mut dyn Tx,
    shipped: &std::collections::HashMap<(WarehouseCode, Sku), i64>,
    warehouse: Option<&WarehouseCode>,
) -> DbResult<Vec<super::health::PlaceFacts>> {
    let rows = tx.query(
        "SELECT s.sku, s.warehouse, s.on_hand - s.locked - s.committed - s.frozen,
                (SELECT MAX(r.day) FROM an_returns_daily r WHERE r.sku = s.sku AND r.warehouse = s.warehouse AND r.shipped > 0),
                (SELECT l.at_ms FROM inventory_ledger l WHERE l.sku = s.sku AND l.warehouse = s.warehouse AND l.field = 'on_hand'
                 AND l.delta > 0 AND l.balance_after - l.delta <= 0 ORDER BY l.id DESC LIMIT 1)
         FROM stock s
         WHERE s.on_hand - s.locked - s.committed - s.frozen > 0 AND (CAST(?1 AS TEXT) IS NULL OR s.warehouse = ?1)
         ORDER BY s.warehouse, s.sku",
        &params![warehouse.map(WarehouseCode::as_str)],
    )?;
    rows.iter()
        .map(|r| {
            let (sku, warehouse) = (sku_of(&r.text(0)?)?, code(&r.text(1)?)?);
            let shipped = shipped.get(&(warehouse.clone(), sku.clone())).copied().unwrap_or(0);
            Ok(super::health::PlaceFacts { sku, warehouse, sellable: r.int(2)?, shipped, last_sale: r.opt_text(3)?, stocked_since_ms: r.opt_int(4)? })
        })
        .collect()
}

const ALERT_COLUMNS: &str = "id, figures, raised_ms, seen_ms, cleared_ms";

fn alert(r: &Row) -> DbResult<super::health::StockAlert> {
    let finding = serde_json::from_str(&r.text(1)?).map_err(|e| DbError::corrupt(format!("alert figures: {e}")))?;
    Ok(super::health::StockAlert { id: r.uint(0)?, finding, raised_ms: r.int(2)?, seen_ms: r.int(3)?, cleared_ms: r.opt_int(4)? })
}

fn figures(f: &super::health::Finding) -> DbResult<String> {
    serde_json::to_string(f).map_err(|e| DbError::corrupt(e.to_string()))
}

pub fn open_alerts(tx: &mut dyn Tx) -> DbResult<Vec<super::health::StockAlert>> {
    let sql = format!("SELECT {ALERT_COLUMNS} FROM inv_alert WHERE cleared_ms IS NULL ORDER BY id");
    tx.query(&sql, &[])?.iter().map(alert).collect()
}

/// Alerts, newest first: open ones (`open`), cleared ones, or both; one kind or all; at most
/// `limit`, before id `before` when paging.
pub fn alerts(tx: &mut dyn Tx, open: Option<bool>, kind: Option<super::health::AlertKind>, before: Option<i64>, limit: u32) -> DbResult<Vec<super::health::StockAlert>> {
    let sql = format!(
        "SELECT {ALERT_COLUMNS} FROM inv_alert
         WHERE (CAST(?1 AS BIGINT) IS NULL OR (?1 = 1) = (cleared_ms IS NULL))
           AND (CAST(?2 AS TEXT) IS NULL OR kind = ?2) AND (CAST(?3 AS BIGINT) IS NULL OR id < ?3)
         ORDER BY id DESC LIMIT ?4"
    );
    let open = open.map(i64::from);
    tx.query(&sql, &params![open, kind.map(|k| k.as_str()), before, limit])?.iter().map(alert).collect()
}

pub fn insert_alert(tx: &mut dyn Tx, f: &super::health::Finding, now_ms: i64) -> DbResult<u64> {
    tx.query_one(
        "INSERT INTO inv_alert (kind, warehouse, sku, lot, figures, raised_ms, seen_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) RETURNING id",
        &params![f.kind.as_str(), f.warehouse.as_str(), f.sku.as_str(), f.lot.as_str(), figures(f)?, now_ms],
    )?
    .uint(0)
}

pub fn refresh_alert(tx: &mut dyn Tx, id: u64, f: &super::health::Finding, now_ms: i64) -> DbResult<()> {
    tx.execute("UPDATE inv_alert SET figures = ?2, seen_ms = ?3 WHERE id = ?1", &params![id, figures(f)?, now_ms])?;
    Ok(())
}

/// Clears an open alert; false when it was not open.
pub fn clear_alert(tx: &mut dyn Tx, id: u64, now_ms: i64) -> DbResult<bool> {
    Ok(tx.execute("UPDATE inv_alert SET cleared_ms = ?2 WHERE id = ?1 AND cleared_ms IS NULL", &params![id, now_ms])? == 1)
}

/// Units shipped per warehouse × SKU from `window_start` (`YYYY-MM-DD`) on (analytics' read
/// model, as `place_facts`).
pub fn shipped_in_window(tx: &mut dyn Tx, window_start: &str, warehouse: Option<&WarehouseCode>) -> DbResult<std::collections::HashMap<(WarehouseCode, Sku), i64>> {
    let rows = tx.query(
        "SELECT warehouse, sku, CAST(SUM(shipped) AS BIGINT) FROM an_returns_daily
         WHERE day >= ?1 AND shipped > 0 AND (CAST(?2 AS TEXT) IS NULL OR warehouse = ?2) GROUP BY warehouse, sku",
        &params![window_start, warehouse.map(WarehouseCode::as_str)],
    )?;
    rows.iter().map(|r| Ok(((code(&r.text(0)?)?, sku_of(&r.text(1)?)?), r.int(2)?))).collect()
}
