//! Expected deliveries (advance shipping notices): what a supplier said is coming. Receiving
//! against one checks each item is on it and never takes more than expected; the delivery is
//! received once every line is complete.

use super::{StoreError, StoreResult};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use tote_shared::sync::OrderLine;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeliveryLine {
    pub sku: String,
    pub gtin: String,
    pub expected: i64,
    pub received: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    pub id: String,
    pub supplier: String,
    /// `open` or `received`.
    pub state: String,
    pub lines: Vec<DeliveryLine>,
}

pub fn create(conn: &Connection, id: &str, supplier: &str, lines: &[(String, i64)], now_ms: i64) -> StoreResult<DeliveryView> {
    if conn.prepare_cached("SELECT 1 FROM delivery WHERE id = ?1")?.exists([id])? {
        return Err(StoreError::Conflict(format!("delivery {id} exists")));
    }
    conn.prepare_cached("INSERT INTO delivery (id, supplier, state, created_ms) VALUES (?1, ?2, 'open', ?3)")?.execute(params![id, supplier, now_ms])?;
    for (sku, qty) in lines {
        super::stock::require_sku(conn, sku)?;
        let inserted = conn
            .prepare_cached("INSERT INTO delivery_line (delivery, sku, expected) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING")?
            .execute(params![id, sku, qty])?;
        if inserted == 0 {
            return Err(StoreError::Invalid(format!("{sku} is on delivery {id} twice")));
        }
    }
    get(conn, id)
}

/// Central's ASN, from the command stream: like `create`, but a delivery already here is kept
/// as it is (the command may be applied again after a crash), and one SKU named on several
/// lines (several lots or cartons) is expected once with their sum.
pub fn expect(conn: &Connection, id: &str, supplier: &str, lines: &[OrderLine], now_ms: i64) -> StoreResult<()> {
    let inserted = conn
        .prepare_cached("INSERT INTO delivery (id, supplier, state, created_ms) VALUES (?1, ?2, 'open', ?3) ON CONFLICT DO NOTHING")?
        .execute(params![id, supplier, now_ms])?;
    if inserted == 0 {
        return Ok(());
    }
    for line in lines {
        super::stock::require_sku(conn, line.sku.as_str())?;
        conn.prepare_cached(
            "INSERT INTO delivery_line (delivery, sku, expected) VALUES (?1, ?2, ?3)
             ON CONFLICT (delivery, sku) DO UPDATE SET expected = delivery_line.expected + excluded.expected",
        )?
        .execute(params![id, line.sku.as_str(), line.qty.as_i64()])?;
    }
    Ok(())
}

/// HQ closed the delivery short: what arrived is all it expects now (lines nothing arrived on
/// go), so it reads as received and takes no more receipts. Applying it again changes nothing;
/// a delivery this edge never had is ignored.
pub fn close(conn: &Connection, id: &str) -> StoreResult<()> {
    conn.prepare_cached("DELETE FROM delivery_line WHERE delivery = ?1 AND received = 0")?.execute([id])?;
    conn.prepare_cached("UPDATE delivery_line SET expected = received WHERE delivery = ?1")?.execute([id])?;
    conn.prepare_cached("UPDATE delivery SET state = 'received' WHERE id = ?1")?.execute([id])?;
    Ok(())
}

/// A receipt of `qty` × `sku` against the delivery: refused when the item is not on it or the
/// delivery would be over-received.
pub fn receive(conn: &Connection, id: &str, sku: &str, qty: i64) -> StoreResult<()> {
    let view = get(conn, id)?;
    if view.state != "open" {
        return Err(StoreError::Conflict(format!("delivery {id} is already fully received")));
    }
    let line = view.lines.iter().find(|l| l.sku == sku).ok_or_else(|| {
        let on_it: Vec<&str> = view.lines.iter().map(|l| l.gtin.as_str()).collect();
        StoreError::WrongScan { what: "item", expected: format!("one of {} (delivery {id})", on_it.join(", ")), scanned: sku.to_owned() }
    })?;
    if line.received + qty > line.expected {
        return Err(StoreError::Conflict(format!(
            "delivery {id} expects {} × {sku} and {} are in: {qty} more would be too many",
            line.expected, line.received
        )));
    }
    conn.prepare_cached("UPDATE delivery_line SET received = received + ?3 WHERE delivery = ?1 AND sku = ?2")?.execute(params![id, sku, qty])?;
    conn.prepare_cached(
        "UPDATE delivery SET state = 'received' WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM delivery_line WHERE delivery = ?1 AND received < expected)",
    )?
    .execute([id])?;
    Ok(())
}

pub fn get(conn: &Connection, id: &str) -> StoreResult<DeliveryView> {
    let head: Option<(String, String)> =
        conn.prepare_cached("SELECT supplier, state FROM delivery WHERE id = ?1")?.query_row([id], |r| Ok((r.get(0)?, r.get(1)?))).optional()?;
    let (supplier, state) = head.ok_or_else(|| StoreError::NotFound(format!("delivery {id}")))?;
    let lines = conn
        .prepare_cached("SELECT l.sku, s.gtin, l.expected, l.received FROM delivery_line l JOIN sku s ON s.sku = l.sku WHERE l.delivery = ?1 ORDER BY l.sku")?
        .query_map([id], |r| Ok(DeliveryLine { sku: r.get(0)?, gtin: r.get(1)?, expected: r.get(2)?, received: r.get(3)? }))?
        .collect::<Result<_, _>>()?;
    Ok(DeliveryView { id: id.to_owned(), supplier, state, lines })
}

pub fn list(conn: &Connection, state: Option<&str>) -> StoreResult<Vec<DeliveryView>> {
    let ids: Vec<String> = conn
        .prepare_cached("SELECT id FROM delivery WHERE ?1 IS NULL OR state = ?1 ORDER BY created_ms DESC, id LIMIT 200")?
        .query_map([state], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    ids.iter().map(|id| get(conn, id)).collect()
}
