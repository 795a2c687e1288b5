//! The `orders`, `order_line`, `order_part` and `order_history` tables.

use super::checks::{self, BlockKind, Earlier};
use super::{OrderHistoryEntry, OrderLineRecord, OrderPart, OrderRecord};
use crate::db::{DbError, DbResult, Dialect, Row, Tx};
use crate::params;
use crate::warehouses::store::code;
use std::collections::HashMap;
use tote_shared::geo::GeoPoint;
use tote_shared::order::OrderState;
use tote_shared::sync::ShipTo;
use tote_shared::{Money, Qty, Sku, WarehouseCode};

fn corrupt(e: impl std::fmt::Display) -> DbError {
    DbError::corrupt(e.to_string())
}

/// Inserts a new order awaiting payment with its lines; returns its id.
pub fn insert(tx: &mut dyn Tx, order: &OrderRecord, destination: &GeoPoint) -> DbResult<u64> {
    let id = next_ids(tx, 1)?.pop().ok_or_else(|| DbError::corrupt("no order id"))?;
    let mut order = order.clone();
    order.id = id;
    insert_many(tx, &[(&order, destination)])?;
    Ok(id)
}

/// `n` fresh order ids, for a batch inserted with `insert_many`.
pub fn next_ids(tx: &mut dyn Tx, n: usize) -> DbResult<Vec<u64>> {
    match tx.dialect() {
        Dialect::Postgres => {
            let rows = tx.query("SELECT nextval(pg_get_serial_sequence('orders', 'id')) FROM generate_series(1, ?1)", &params![n])?;
            rows.iter().map(|r| r.uint(0)).collect()
        }
        // The single writer holds the database: the next ids are simply after the last.
        Dialect::Sqlite => {
            let last = tx.query_one("SELECT COALESCE(MAX(id), 0) FROM orders", &[])?.uint(0)?;
            Ok((1..=n as u64).map(|i| last + i).collect())
        }
    }
}

/// Inserts new orders (their ids already given) and their lines, a few statements for all.
pub fn insert_many(tx: &mut dyn Tx, orders: &[(&OrderRecord, &GeoPoint)]) -> DbResult<()> {
    for chunk in orders.chunks(500) {
        let sql = format!(
            "INSERT INTO orders (id, state, channel, warehouse, ship_to, dest_lat, dest_lon, total_minor, created_ms,
                                 payment_deadline_ms, updated_ms, customer, customer_key, fingerprint) VALUES {}",
            crate::db::values_clause(chunk.len(), 14, 1)
        );
        let mut values = Vec::with_capacity(chunk.len() * 14);
        let mut lines = Vec::new();
        let mut parts = Vec::new();
        for (order, destination) in chunk {
            let ship_to = serde_json::to_string(&order.ship_to).map_err(corrupt)?;
            values.extend(params![
                order.id,
                order.state.as_str(),
                order.channel.as_str(),
                order.warehouse.as_ref().map(|w| w.as_str()),
                ship_to,
                destination.lat,
                destination.lon,
                order.total.minor(),
                order.created_at_ms,
                order.payment_deadline_ms,
                order.updated_at_ms,
                order.customer.as_deref(),
                checks::customer_key(&order.channel, order.customer.as_deref(), &order.ship_to),
                checks::fingerprint(&order.order_lines(), &order.ship_to)
            ]);
            for (line_no, (line, part)) in order.lines.iter().zip(part_of_each_line(order)).enumerate() {
                let discounts = if line.discounts.is_empty() { None } else { Some(serde_json::to_string(&line.discounts).map_err(corrupt)?) };
                lines.extend(params![order.id, line_no, line.sku.as_str(), line.qty.as_i64(), line.unit_price.minor(), part, line.discount.minor(), discounts]);
            }
            if order.is_split() {
                for part in &order.parts {
                    parts.extend(params![order.id, part.part, part.warehouse.as_ref().map(|w| w.as_str()), part.state.as_str(), order.updated_at_ms]);
                }
            }
        }
        tx.execute(&sql, &values)?;
        let sql = format!(
            "INSERT INTO order_line (order_id, line_no, sku, qty, unit_price_minor, part_no, discount_minor, discounts) VALUES {}",
            crate::db::values_clause(lines.len() / 8, 8, 1)
        );
        tx.execute(&sql, &lines)?;
        if !parts.is_empty() {
            let sql = format!(
                "INSERT INTO order_part (order_id, part_no, warehouse, state, updated_ms) VALUES {}",
                crate::db::values_clause(parts.len() / 5, 5, 1)
            );
            tx.execute(&sql, &parts)?;
        }
    }
    Ok(())
}

/// The part each of the order's lines is in: each part's lines are the order's in order, so a
/// line is matched to the first unmatched equal line (an exchange may name a SKU twice).
fn part_of_each_line(order: &OrderRecord) -> Vec<u32> {
    let mut parts = vec![1; order.lines.len()];
    let mut matched = vec![false; order.lines.len()];
    for part in &order.parts {
        for wanted in &part.lines {
            let same = |l: &OrderLineRecord| l == wanted;
            if let Some(i) = (0..order.lines.len()).find(|&i| !matched[i] && same(&order.lines[i])) {
                matched[i] = true;
                parts[i] = part.part;
            }
        }
    }
    parts
}

const ORDER_COLUMNS: &str = "SELECT state, channel, warehouse, ship_to, total_minor, tracking_number, carrier, created_ms,
                                    payment_deadline_ms, updated_ms, customer FROM orders WHERE id = ?1";

/// The order, or None. `lock`: hold its row until the transaction ends (PostgreSQL), so two
/// requests on one order take turns.
pub fn load(tx: &mut dyn Tx, id: u64, lock: bool) -> DbResult<Option<OrderRecord>> {
    let sql = if lock { format!("{ORDER_COLUMNS} FOR UPDATE") } else { ORDER_COLUMNS.to_owned() };
    let Some(r) = tx.query_opt(&sql, &params![id])? else {
        return Ok(None);
    };
    let state = parse_state(&r.text(0)?)?;
    let warehouse = r.opt_text(2)?.as_deref().map(code).transpose()?;
    let (tracking_number, carrier) = (r.opt_text(5)?, r.opt_text(6)?);
    let numbered = lines(tx, id)?;
    let mut parts = parts(tx, id, &numbered)?;
    if parts.is_empty() {
        let lines = numbered.iter().map(|(_, l)| l.clone()).collect();
        let (carrier, tracking_number) = (carrier.clone(), tracking_number.clone());
        parts.push(OrderPart { part: 1, warehouse: warehouse.clone(), state, lines, carrier, tracking_number });
    }
    Ok(Some(OrderRecord {
        id,
        state,
        channel: r.text(1)?,
        customer: r.opt_text(10)?,
        warehouse,
        lines: numbered.into_iter().map(|(_, l)| l).collect(),
        parts,
        total: Money::parse(r.int(4)?).map_err(corrupt)?,
        ship_to: serde_json::from_str::<ShipTo>(&r.text(3)?).map_err(corrupt)?,
        tracking_number,
        carrier,
        created_at_ms: r.int(7)?,
        payment_deadline_ms: r.int(8)?,
        updated_at_ms: r.int(9)?,
    }))
}

fn parse_state(raw: &str) -> DbResult<OrderState> {
    OrderState::parse(raw).ok_or_else(|| corrupt(format!("order state {raw}")))
}

/// The order's lines with the part each belongs to.
fn lines(tx: &mut dyn Tx, id: u64) -> DbResult<Vec<(u32, OrderLineRecord)>> {
    let rows = tx.query("SELECT sku, qty, unit_price_minor, part_no, discount_minor, discounts FROM order_line WHERE order_id = ?1 ORDER BY line_no", &params![id])?;
    rows.iter().map(|r| Ok((u32::try_from(r.int(3)?).map_err(corrupt)?, line(r)?))).collect()
}

fn line(r: &Row) -> DbResult<OrderLineRecord> {
    Ok(OrderLineRecord {
        sku: Sku::parse(&r.text(0)?).map_err(corrupt)?,
        qty: Qty::parse(r.int(1)?).map_err(corrupt)?,
        unit_price: Money::parse(r.int(2)?).map_err(corrupt)?,
        discount: Money::parse(r.int(4)?).map_err(corrupt)?,
        discounts: match r.opt_text(5)? {
            Some(json) => serde_json::from_str(&json).map_err(corrupt)?,
            None => Vec::new(),
        },
    })
}

/// A split order's parts with their lines (none for an order that is not split).
fn parts(tx: &mut dyn Tx, id: u64, lines: &[(u32, OrderLineRecord)]) -> DbResult<Vec<OrderPart>> {
    let rows = tx.query(
        "SELECT part_no, warehouse, state, carrier, tracking_number FROM order_part WHERE order_id = ?1 ORDER BY part_no",
        &params![id],
    )?;
    rows.iter()
        .map(|r| {
            let part = u32::try_from(r.int(0)?).map_err(corrupt)?;
            Ok(OrderPart {
                part,
                warehouse: r.opt_text(1)?.as_deref().map(code).transpose()?,
                state: parse_state(&r.text(2)?)?,
                lines: lines.iter().filter(|(p, _)| *p == part).map(|(_, l)| l.clone()).collect(),
                carrier: r.opt_text(3)?,
                tracking_number: r.opt_text(4)?,
            })
        })
        .collect()
}

/// When an unpaid order closes (a replacement that came to await its price difference).
pub fn set_payment_deadline(tx: &mut dyn Tx, id: u64, deadline_ms: i64) -> DbResult<()> {
    tx.execute("UPDATE orders SET payment_deadline_ms = ?2 WHERE id = ?1", &params![id, deadline_ms])?;
    Ok(())
}

/// Where the order ships to, as stored at creation.
pub fn destination(tx: &mut dyn Tx, id: u64) -> DbResult<GeoPoint> {
    let r = tx.query_one("SELECT dest_lat, dest_lon FROM orders WHERE id = ?1", &params![id])?;
    Ok(GeoPoint { lat: r.real(0)?, lon: r.real(1)? })
}

/// Saves the order as it now is (its state, warehouse and parcel, and a split order's parts)
/// and appends the history row from `from`, naming `warehouse` (the part's, for a part's step).
pub fn record_transition(tx: &mut dyn Tx, order: &OrderRecord, from: OrderState, cause: &str, warehouse: Option<&WarehouseCode>, now_ms: i64) -> DbResult<()> {
    tx.execute(
        "UPDATE orders SET state = ?2, warehouse = ?3, updated_ms = ?4, tracking_number = ?5, carrier = ?6 WHERE id = ?1",
        &params![
            order.id,
            order.state.as_str(),
            order.warehouse.as_ref().map(|w| w.as_str()),
            now_ms,
            order.tracking_number.as_deref(),
            order.carrier.as_deref()
        ],
    )?;
    if order.is_split() {
        for part in &order.parts {
            tx.execute(
                "UPDATE order_part SET warehouse = ?3, state = ?4, carrier = ?5, tracking_number = ?6, updated_ms = ?7
                 WHERE order_id = ?1 AND part_no = ?2",
                &params![
                    order.id,
                    part.part,
                    part.warehouse.as_ref().map(|w| w.as_str()),
                    part.state.as_str(),
                    part.carrier.as_deref(),
                    part.tracking_number.as_deref(),
                    now_ms
                ],
            )?;
        }
    }
    tx.execute(
        "INSERT INTO order_history (order_id, at_ms, from_state, to_state, cause, warehouse) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        &params![order.id, now_ms, from.as_str(), order.state.as_str(), cause, warehouse.map(|w| w.as_str())],
    )?;
    Ok(())
}

/// Whether the order ever took a transition with this cause.
pub fn was(tx: &mut dyn Tx, id: u64, cause: &str) -> DbResult<bool> {
    Ok(tx.query_opt("SELECT 1 FROM order_history WHERE order_id = ?1 AND cause = ?2 LIMIT 1", &params![id, cause])?.is_some())
}

/// When the order first entered `state`, if it has.
pub fn entered(tx: &mut dyn Tx, id: u64, state: OrderState) -> DbResult<Option<i64>> {
    let row = tx.query_opt(
        "SELECT MIN(at_ms) FROM order_history WHERE order_id = ?1 AND to_state = ?2 AND from_state <> to_state",
        &params![id, state.as_str()],
    )?;
    row.map_or(Ok(None), |r| r.opt_int(0))
}

pub fn history(tx: &mut dyn Tx, id: u64) -> DbResult<Vec<OrderHistoryEntry>> {
    let rows = tx.query(
        "SELECT at_ms, from_state, to_state, cause, warehouse FROM order_history WHERE order_id = ?1 ORDER BY id",
        &params![id],
    )?;
    let state = |s: String| parse_state(&s);
    rows.iter()
        .map(|r| {
            Ok(OrderHistoryEntry {
                at_ms: r.int(0)?,
                from_state: state(r.text(1)?)?,
                to_state: state(r.text(2)?)?,
                cause: r.text(3)?,
                warehouse: r.opt_text(4)?.as_deref().map(code).transpose()?,
            })
        })
        .collect()
}

/// Unpaid orders past their deadline, oldest deadline first: (id, deadline).
pub fn due_unpaid(tx: &mut dyn Tx, now_ms: i64, limit: u32) -> DbResult<Vec<(u64, i64)>> {
    let rows = tx.query(
        "SELECT id, payment_deadline_ms FROM orders WHERE state = 'awaiting_payment' AND payment_deadline_ms <= ?1
         ORDER BY payment_deadline_ms LIMIT ?2",
        &params![now_ms, limit],
    )?;
    rows.iter().map(|r| Ok((r.uint(0)?, r.int(1)?))).collect()
}

/// Delivered orders whose delivery (their last change) is at or before `before_ms`, after the
/// (delivered time, id) `after` in that order, at most `limit`: the completion sweep's pages.
pub fn delivered_before(tx: &mut dyn Tx, before_ms: i64, after: (i64, u64), limit: u32) -> DbResult<Vec<(u64, i64)>> {
    let rows = tx.query(
        "SELECT id, updated_ms FROM orders WHERE state = 'delivered' AND updated_ms <= ?1 AND (updated_ms > ?2 OR (updated_ms = ?2 AND id > ?3))
         ORDER BY updated_ms, id LIMIT ?4",
        &params![before_ms, after.0, after.1, limit],
    )?;
    rows.iter().map(|r| Ok((r.uint(0)?, r.int(1)?))).collect()
}

/// Whether any order, or any part of a split one, waits as backordered (so stock arrivals
/// may serve one).
pub fn any_backordered(tx: &mut dyn Tx) -> DbResult<bool> {
    let sql = "SELECT 1 FROM orders WHERE state = 'backordered' UNION ALL SELECT 1 FROM order_part WHERE state = 'backordered' LIMIT 1";
    Ok(tx.query_opt(sql, &[])?.is_some())
}

/// Orders waiting for `sku`, backordered whole or in a part that holds it, oldest first.
pub fn backordered_for(tx: &mut dyn Tx, sku: &Sku, limit: u32) -> DbResult<Vec<u64>> {
    let rows = tx.query(
        "SELECT o.id FROM orders o JOIN order_line l ON l.order_id = o.id WHERE o.state = 'backordered' AND l.sku = ?1
         UNION
         SELECT p.order_id FROM order_part p JOIN order_line l ON l.order_id = p.order_id AND l.part_no = p.part_no
         WHERE p.state = 'backordered' AND l.sku = ?1
         ORDER BY 1 LIMIT ?2",
        &params![sku.as_str(), limit],
    )?;
    rows.iter().map(|r| r.uint(0)).collect()
}

/// Unpaid orders holding a lock on `sku` at `warehouse` (whole or in a part), newest first.
pub fn unpaid_holding(tx: &mut dyn Tx, warehouse: &WarehouseCode, sku: &Sku, limit: u32) -> DbResult<Vec<u64>> {
    let rows = tx.query(
        "SELECT o.id FROM orders o JOIN order_line l ON l.order_id = o.id
         WHERE o.state = 'awaiting_payment' AND o.warehouse = ?1 AND l.sku = ?2
         UNION
         SELECT p.order_id FROM order_part p JOIN order_line l ON l.order_id = p.order_id AND l.part_no = p.part_no
         WHERE p.state = 'awaiting_payment' AND p.warehouse = ?1 AND l.sku = ?2
         ORDER BY 1 DESC LIMIT ?3",
        &params![warehouse.as_str(), sku.as_str(), limit],
    )?;
    rows.iter().map(|r| r.uint(0)).collect()
}

/// A line of HQ's order list.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct OrderSummary {
    pub id: u64,
    pub state: OrderState,
    pub channel: String,
    /// None for a split order (see `parts`) and while backordered.
    pub warehouse: Option<WarehouseCode>,
    /// How many parcels the order ships in (1 unless split).
    pub parts: u32,
    pub total: Money,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// Orders newest first, before the id `before`, in `state` when given, at most `limit`.
pub fn list(tx: &mut dyn Tx, state: Option<OrderState>, before: u64, limit: u32) -> DbResult<Vec<OrderSummary>> {
    const COLUMNS: &str = "SELECT o.id, o.state, o.channel, o.warehouse, o.total_minor, o.created_ms, o.updated_ms,
                                  (SELECT COUNT(*) FROM order_part p WHERE p.order_id = o.id) FROM orders o";
    let rows = match state {
        Some(state) => tx.query(
            &format!("{COLUMNS} WHERE o.state = ?1 AND o.id < ?2 ORDER BY o.id DESC LIMIT ?3"),
            &params![state.as_str(), before, limit],
        )?,
        None => tx.query(&format!("{COLUMNS} WHERE o.id < ?1 ORDER BY o.id DESC LIMIT ?2"), &params![before, limit])?,
    };
    rows.iter()
        .map(|r| {
            Ok(OrderSummary {
                id: r.uint(0)?,
                state: parse_state(&r.text(1)?)?,
                channel: r.text(2)?,
                warehouse: r.opt_text(3)?.as_deref().map(code).transpose()?,
                total: Money::parse(r.int(4)?).map_err(corrupt)?,
                created_at_ms: r.int(5)?,
                updated_at_ms: r.int(6)?,
                parts: u32::try_from(r.int(7)?.max(1)).map_err(corrupt)?,
            })
        })
        .collect()
}

pub fn counts_by_state(tx: &mut dyn Tx) -> DbResult<Vec<(String, i64)>> {
    let rows = tx.query("SELECT state, COUNT(*) FROM orders GROUP BY state ORDER BY state", &[])?;
    rows.iter().map(|r| Ok((r.text(0)?, r.int(1)?))).collect()
}

// --- pre-checks -----------------------------------------------------------------------------

/// Takes one customer's turn: the orders of a customer are checked one at a time, so two at
/// once cannot each pass a purchase limit the pair breaks. On PostgreSQL a transaction-scoped
/// advisory lock per key (no row written), taken in key-hash order so two batches never wait
/// on each other crosswise; always before any stock row. SQLite's single writer already
/// serialises every transaction.
pub fn lock_customers(tx: &mut dyn Tx, keys: &[&str]) -> DbResult<()> {
    if tx.dialect() == Dialect::Sqlite || keys.is_empty() {
        return Ok(());
    }
    let mut hashes: Vec<i64> = keys.iter().map(|k| lock_hash(k)).collect();
    hashes.sort_unstable();
    hashes.dedup();
    for chunk in hashes.chunks(500) {
        // VALUES are scanned in the order written: the locks are taken in hash order.
        let rows: Vec<String> = (1..=chunk.len()).map(|i| format!("(CAST(?{i} AS BIGINT))")).collect();
        let sql = format!("SELECT pg_advisory_xact_lock(k) FROM (VALUES {}) AS v(k)", rows.join(", "));
        let values: Vec<_> = chunk.iter().map(|h| crate::db::Value::from(*h)).collect();
        // `execute`: the function returns void, which no row type carries.
        tx.execute(&sql, &values)?;
    }
    Ok(())
}

/// A customer key's advisory lock number (two keys sharing one only wait for each other).
fn lock_hash(key: &str) -> i64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("tote:customer:{key}").as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

/// The blocklist entries among `probes`: (kind, value) → reason.
pub fn blocked(tx: &mut dyn Tx, probes: &[(BlockKind, String)]) -> DbResult<HashMap<(BlockKind, String), String>> {
    let mut found = HashMap::new();
    let mut values: Vec<&str> = probes.iter().map(|(_, v)| v.as_str()).collect();
    values.sort_unstable();
    values.dedup();
    for chunk in values.chunks(500) {
        let sql = format!("SELECT kind, value, reason FROM ord_blocklist WHERE value IN ({})", crate::db::placeholders(chunk.len(), 1));
        let params: Vec<_> = chunk.iter().map(|v| crate::db::Value::from(*v)).collect();
        for r in tx.query(&sql, &params)? {
            let kind = BlockKind::parse(&r.text(0)?).ok_or_else(|| corrupt("blocklist kind"))?;
            found.insert((kind, r.text(1)?), r.text(2)?);
        }
    }
    Ok(found)
}

/// The open (not cancelled or closed) orders of these customers created at or after
/// `since_ms`, oldest first, with their lines.
pub fn earlier_orders(tx: &mut dyn Tx, keys: &[&str], since_ms: i64) -> DbResult<HashMap<String, Vec<Earlier>>> {
    let mut found: HashMap<String, Vec<Earlier>> = HashMap::new();
    for chunk in keys.chunks(500) {
        let sql = format!(
            "SELECT o.id, o.customer_key, o.created_ms, o.fingerprint, l.sku, l.qty FROM orders o JOIN order_line l ON l.order_id = o.id
             WHERE o.customer_key IN ({}) AND o.created_ms >= ?1 AND o.state NOT IN ('cancelled', 'closed')
             ORDER BY o.id, l.line_no",
            crate::db::placeholders(chunk.len(), 2)
        );
        let mut params = vec![crate::db::Value::from(since_ms)];
        params.extend(chunk.iter().map(|k| crate::db::Value::from(*k)));
        for r in tx.query(&sql, &params)? {
            let id = r.uint(0)?;
            let orders = found.entry(r.text(1)?).or_default();
            if orders.last().map(|o| o.order_id) != Some(id) {
                orders.push(Earlier { order_id: id, created_ms: r.int(2)?, fingerprint: r.opt_text(3)?.unwrap_or_default(), lines: Vec::new() });
            }
            if let Some(order) = orders.last_mut() {
                order.lines.push((Sku::parse(&r.text(4)?).map_err(corrupt)?, r.int(5)?));
            }
        }
    }
    Ok(found)
}

/// A blocklist entry.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct BlockEntry {
    pub id: u64,
    pub kind: BlockKind,
    /// As stored: a phone's digits, a street without spaces or punctuation.
    pub value: String,
    pub reason: String,
    pub created_at_ms: i64,
}

/// Adds an entry, or gives the one already there: (entry, created).
pub fn add_block(tx: &mut dyn Tx, kind: BlockKind, value: &str, reason: &str, now_ms: i64) -> DbResult<(BlockEntry, bool)> {
    let inserted = tx.execute(
        "INSERT INTO ord_blocklist (kind, value, reason, created_ms) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (kind, value) DO NOTHING",
        &params![kind.as_str(), value, reason, now_ms],
    )?;
    let r = tx.query_one("SELECT id, reason, created_ms FROM ord_blocklist WHERE kind = ?1 AND value = ?2", &params![kind.as_str(), value])?;
    let entry = BlockEntry { id: r.uint(0)?, kind, value: value.to_owned(), reason: r.text(1)?, created_at_ms: r.int(2)? };
    Ok((entry, inserted == 1))
}

/// Removes an entry; whether it was there.
pub fn remove_block(tx: &mut dyn Tx, id: u64) -> DbResult<Option<BlockEntry>> {
    let Some(entry) = blocklist(tx, Some(id), 1, 0)?.pop() else {
        return Ok(None);
    };
    // Two removals at once: only the one that deleted the row has removed it.
    let deleted = tx.execute("DELETE FROM ord_blocklist WHERE id = ?1", &params![id])?;
    Ok((deleted == 1).then_some(entry))
}

/// Entries by id, after `after`, at most `limit` (or the one with `id`).
pub fn blocklist(tx: &mut dyn Tx, id: Option<u64>, limit: u32, after: u64) -> DbResult<Vec<BlockEntry>> {
    let rows = match id {
        Some(id) => tx.query("SELECT id, kind, value, reason, created_ms FROM ord_blocklist WHERE id = ?1", &params![id])?,
        None => tx.query("SELECT id, kind, value, reason, created_ms FROM ord_blocklist WHERE id > ?1 ORDER BY id LIMIT ?2", &params![after, limit])?,
    };
    rows.iter()
        .map(|r| {
            Ok(BlockEntry {
                id: r.uint(0)?,
                kind: BlockKind::parse(&r.text(1)?).ok_or_else(|| corrupt("blocklist kind"))?,
                value: r.text(2)?,
                reason: r.text(3)?,
                created_at_ms: r.int(4)?,
            })
        })
        .collect()
}
