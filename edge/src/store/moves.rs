//! Moving stock between locations on the floor: put-away from the receiving dock to a storage
//! bin (with a suggested bin), and any move a worker makes. Central does not track locations,
//! so a move has no outbox event; the movement ledger records both legs.

use super::stock::{change, qty_at, require_bin, require_sku, Why};
use super::{StoreError, StoreResult};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

/// Where received goods wait for put-away, and where goods that failed QC wait.
pub const RECEIVING: &str = "RCV";
pub const QC_HOLD: &str = "QC";

#[derive(Debug, Clone)]
pub struct Move {
    pub from: String,
    pub to: String,
    pub sku: String,
    /// None: the lot at `from` with the most units.
    pub lot: Option<String>,
    pub qty: i64,
    /// The bin the worker was told to use; going elsewhere needs a reason.
    pub suggested: Option<String>,
    pub reason: Option<String>,
    pub by: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MoveDone {
    pub from: String,
    pub to: String,
    pub sku: String,
    pub lot: String,
    pub qty: i64,
    pub from_qty: i64,
    pub to_qty: i64,
}

/// Units at a location that open pick tasks and live refills (from reserve) have not claimed.
fn unclaimed(conn: &Connection, location: &str, sku: &str, lot: &str) -> StoreResult<i64> {
    let claimed: i64 = conn
        .prepare_cached(
            "SELECT COALESCE((SELECT SUM(qty - qty_picked) FROM pick_task
                 WHERE location = ?1 AND sku = ?2 AND lot = ?3 AND state IN ('open', 'located')), 0)
             + COALESCE((SELECT SUM(qty) FROM replenishment
                 WHERE from_location = ?1 AND sku = ?2 AND lot = ?3 AND state IN ('open', 'at_source', 'carrying')), 0)",
        )?
        .query_row(params![location, sku, lot], |r| r.get(0))?;
    Ok(qty_at(conn, location, sku, lot)? - claimed)
}

pub fn move_stock(conn: &Connection, m: &Move, now_ms: i64) -> StoreResult<MoveDone> {
    if m.from == m.to {
        return Err(StoreError::Invalid(format!("{} is where the goods already are: scan the bin to put them in", m.to)));
    }
    require_bin(conn, &m.from)?;
    require_bin(conn, &m.to)?;
    require_sku(conn, &m.sku)?;
    if !(1..=100_000).contains(&m.qty) {
        return Err(StoreError::Invalid("quantity must be between 1 and 100000".into()));
    }
    if let Some(suggested) = &m.suggested {
        if suggested != &m.to && m.reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
            return Err(StoreError::WrongScan { what: "location", expected: suggested.clone(), scanned: m.to.clone() });
        }
    }
    let lot = match &m.lot {
        Some(lot) => lot.clone(),
        None => conn
            .prepare_cached("SELECT lot FROM stock WHERE location = ?1 AND sku = ?2 AND qty > 0 ORDER BY qty DESC, lot LIMIT 1")?
            .query_row(params![m.from, m.sku], |r| r.get(0))
            .optional()?
            .ok_or_else(|| StoreError::InsufficientStock(format!("{} holds no {}", m.from, m.sku)))?,
    };
    super::freezes::refuse_if_frozen(conn, &m.from, &m.sku, &lot)?;
    let free = unclaimed(conn, &m.from, &m.sku, &lot)?;
    if m.qty > free {
        return Err(StoreError::InsufficientStock(format!("{} has {free} of {} free to move (the rest is claimed by picks and refills)", m.from, m.sku)));
    }
    let reason = if m.from == RECEIVING { "putaway" } else { "move" };
    let reference = match &m.reason {
        Some(why) if !why.trim().is_empty() => format!("by:{} override:{}", m.by, why.trim()),
        _ => format!("by:{}", m.by),
    };
    let why = Why { reason, reference: &reference, at_ms: now_ms };
    let from_qty = change(conn, &m.from, &m.sku, &lot, -m.qty, &why)?;
    let to_qty = change(conn, &m.to, &m.sku, &lot, m.qty, &why)?;
    Ok(MoveDone { from: m.from.clone(), to: m.to.clone(), sku: m.sku.clone(), lot, qty: m.qty, from_qty, to_qty })
}

/// A storage bin for `sku`: the bin already holding the most of it, else the first empty bin.
/// Never the dock, QC, outbound staging or a goods-to-person pod.
pub fn suggest(conn: &Connection, sku: &str) -> StoreResult<Option<String>> {
    let holding: Option<String> = conn
        .prepare_cached(
            "SELECT s.location FROM stock s JOIN location l ON l.code = s.location
             WHERE s.sku = ?1 AND s.qty > 0 AND l.kind = 'bin' AND l.pod IS NULL AND l.code NOT IN (?2, ?3)
             GROUP BY s.location ORDER BY SUM(s.qty) DESC, s.location LIMIT 1",
        )?
        .query_row(params![sku, RECEIVING, QC_HOLD], |r| r.get(0))
        .optional()?;
    if holding.is_some() {
        return Ok(holding);
    }
    Ok(conn
        .prepare_cached(
            "SELECT l.code FROM location l WHERE l.kind = 'bin' AND l.pod IS NULL AND l.code NOT IN (?1, ?2)
             AND NOT EXISTS (SELECT 1 FROM stock s WHERE s.location = l.code AND s.qty > 0) ORDER BY l.code LIMIT 1",
        )?
        .query_row(params![RECEIVING, QC_HOLD], |r| r.get(0))
        .optional()?)
}
