//! Locations, stock per (location, SKU, lot), and the append-only movement ledger.

use super::outbox::emit;
use super::{Adjustment, Receipt, StoreError, StoreResult};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use tote_shared::sync::{AdjustReason, EdgeEventKind};
use tote_shared::{LocationCode, Qty, Sku};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LocationRecord {
    pub code: String,
    pub kind: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StockRecord {
    pub location: String,
    pub sku: String,
    pub lot: String,
    pub qty: i64,
}

/// Why a movement happened and what caused it, as the ledger records it.
pub struct Why<'a> {
    pub reason: &'a str,
    pub reference: &'a str,
    pub at_ms: i64,
}

/// Moves `delta` units at (location, sku, lot) and records it. Refuses to go below zero.
pub fn change(conn: &Connection, location: &str, sku: &str, lot: &str, delta: i64, why: &Why<'_>) -> StoreResult<i64> {
    let current = qty_at(conn, location, sku, lot)?;
    let after = current + delta;
    if after < 0 {
        return Err(StoreError::InsufficientStock(format!("{location} holds {current} of {sku}, {} requested", -delta)));
    }
    conn.prepare_cached(
        "INSERT INTO stock (location, sku, lot, qty) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (location, sku, lot) DO UPDATE SET qty = ?4",
    )?
    .execute(params![location, sku, lot, after])?;
    conn.prepare_cached(
        "INSERT INTO movement (at_ms, location, sku, lot, delta, qty_after, reason, reference) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![why.at_ms, location, sku, lot, delta, after, why.reason, why.reference])?;
    if !lot.is_empty() && location != super::picking::OUTBOUND && location != super::moves::QC_HOLD {
        lot_level_changed(conn, sku, lot, why.at_ms)?;
    }
    if super::freezes::covers(conn, location, sku, lot)? {
        super::freezes::level_changed(conn, sku, why.at_ms)?;
    }
    Ok(after)
}

/// Once per database: the level of every dated lot with units (lots on the shelves before
/// edges sent levels would otherwise be reported only when they next move). Marked done in
/// `sync_state` in the same transaction; how many levels it sent.
pub fn send_lot_levels_once(conn: &Connection, now_ms: i64) -> StoreResult<usize> {
    let done: Option<i64> = conn.query_row("SELECT value FROM sync_state WHERE name = 'lot_levels_sent'", [], |r| r.get(0)).optional()?;
    if done.is_some() {
        return Ok(0);
    }
    let lots: Vec<(String, String)> = conn
        .prepare("SELECT DISTINCT s.sku, s.lot FROM stock s JOIN lot l ON l.sku = s.sku AND l.lot = s.lot WHERE s.qty > 0 ORDER BY s.sku, s.lot")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (sku, lot) in &lots {
        lot_level_changed(conn, sku, lot, now_ms)?;
    }
    conn.execute("INSERT INTO sync_state (name, value) VALUES ('lot_levels_sent', ?1)", [now_ms])?;
    Ok(lots.len())
}

/// Tells central what is left of a lot with an expiry date (its near-expiry alerts), in the
/// same transaction as the change: the units on the shelves and docks, not those leaving on the
/// outbound dock or held in the QC bin. A move between bins sends the same total twice.
fn lot_level_changed(conn: &Connection, sku: &str, lot: &str, at_ms: i64) -> StoreResult<()> {
    let expiry: Option<String> =
        conn.prepare_cached("SELECT expiry FROM lot WHERE sku = ?1 AND lot = ?2")?.query_row(params![sku, lot], |r| r.get(0)).optional()?;
    let Some(expiry) = expiry else { return Ok(()) };
    let qty: i64 = conn
        .prepare_cached("SELECT COALESCE(SUM(qty), 0) FROM stock WHERE sku = ?1 AND lot = ?2 AND location NOT IN (?3, ?4)")?
        .query_row(params![sku, lot, super::picking::OUTBOUND, super::moves::QC_HOLD], |r| r.get(0))?;
    let sku = Sku::parse(sku).map_err(|e| StoreError::Invalid(e.to_string()))?;
    emit(conn, EdgeEventKind::LotLevel { sku, lot: lot.to_owned(), expiry, qty }, at_ms)?;
    Ok(())
}

pub fn qty_at(conn: &Connection, location: &str, sku: &str, lot: &str) -> StoreResult<i64> {
    Ok(conn
        .prepare_cached("SELECT qty FROM stock WHERE location = ?1 AND sku = ?2 AND lot = ?3")?
        .query_row(params![location, sku, lot], |r| r.get(0))
        .optional()?
        .unwrap_or(0))
}

pub fn create_location(conn: &Connection, code: &LocationCode, now_ms: i64) -> StoreResult<LocationRecord> {
    let inserted = conn
        .prepare_cached("INSERT INTO location (code, kind, created_ms) VALUES (?1, 'bin', ?2) ON CONFLICT DO NOTHING")?
        .execute(params![code.as_str(), now_ms])?;
    if inserted == 0 {
        return Err(StoreError::Conflict(format!("location {code} already exists")));
    }
    Ok(LocationRecord { code: code.to_string(), kind: "bin".into() })
}

pub fn locations(conn: &Connection) -> StoreResult<Vec<LocationRecord>> {
    let mut stmt = conn.prepare_cached("SELECT code, kind FROM location ORDER BY code")?;
    let rows = stmt.query_map([], |r| Ok(LocationRecord { code: r.get(0)?, kind: r.get(1)? }))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The location must exist and be a bin (goods are not received into outbound staging).
pub fn require_bin(conn: &Connection, code: &str) -> StoreResult<()> {
    let kind: Option<String> =
        conn.prepare_cached("SELECT kind FROM location WHERE code = ?1")?.query_row([code], |r| r.get(0)).optional()?;
    match kind.as_deref() {
        Some("bin") => Ok(()),
        Some(_) => Err(StoreError::Invalid(format!("{code} is not a storage bin"))),
        None => Err(StoreError::NotFound(format!("location {code}"))),
    }
}

pub fn require_sku(conn: &Connection, sku: &str) -> StoreResult<()> {
    let found: Option<i64> = conn.prepare_cached("SELECT 1 FROM sku WHERE sku = ?1")?.query_row([sku], |r| r.get(0)).optional()?;
    found.map(|_| ()).ok_or_else(|| StoreError::NotFound(format!("SKU {sku} (central has not sent it to this warehouse)")))
}

/// A lot's expiry is fixed once known: the same lot arriving with another date is refused.
fn record_lot(conn: &Connection, sku: &str, lot: &str, expiry: &str) -> StoreResult<()> {
    if lot.is_empty() {
        return Err(StoreError::Invalid("an expiry date needs a batch/lot (GS1 AI 10)".into()));
    }
    let known: Option<String> =
        conn.prepare_cached("SELECT expiry FROM lot WHERE sku = ?1 AND lot = ?2")?.query_row(params![sku, lot], |r| r.get(0)).optional()?;
    match known {
        Some(date) if date != expiry => Err(StoreError::Conflict(format!("lot {lot} of {sku} expires {date}, not {expiry}"))),
        Some(_) => Ok(()),
        None => {
            conn.prepare_cached("INSERT INTO lot (sku, lot, expiry) VALUES (?1, ?2, ?3)")?.execute(params![sku, lot, expiry])?;
            Ok(())
        }
    }
}

/// GTIN-8/12/13 and GTIN-14 name the same item: compare them padded to 14 digits.
pub fn sku_for_gtin(conn: &Connection, gtin: &str) -> StoreResult<Sku> {
    let padded = format!("{gtin:0>14}");
    let sku: Option<String> = conn
        .prepare_cached("SELECT sku FROM sku WHERE substr('00000000000000' || gtin, -14) = ?1")?
        .query_row([&padded], |r| r.get(0))
        .optional()?;
    let sku = sku.ok_or_else(|| StoreError::NotFound(format!("barcode {gtin}")))?;
    Sku::parse(&sku).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub fn check_lot(lot: &str) -> StoreResult<()> {
    if lot.len() > 20 || !lot.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(StoreError::Invalid("lot must be at most 20 letters, digits or '-'".into()));
    }
    Ok(())
}

pub fn receive(conn: &Connection, r: &Receipt, now_ms: i64) -> StoreResult<StockRecord> {
    check_lot(&r.lot)?;
    require_bin(conn, r.location.as_str())?;
    require_sku(conn, r.sku.as_str())?;
    if let Some(expiry) = &r.expiry {
        record_lot(conn, r.sku.as_str(), &r.lot, expiry)?;
    }
    if let Some(delivery) = &r.delivery {
        super::deliveries::receive(conn, delivery, r.sku.as_str(), r.qty.as_i64())?;
    }
    let kind = match &r.delivery {
        // Central matches it to the supplier's ASN and keeps QC-failed units out of sellable stock.
        Some(delivery) => EdgeEventKind::DeliveryReceived {
            delivery: delivery.clone(),
            sku: r.sku.clone(),
            qty: r.qty,
            location: r.location.clone(),
            held: r.location.as_str() == super::moves::QC_HOLD,
            lot: r.lot.clone(),
            expiry: r.expiry.clone(),
        },
        None => EdgeEventKind::StockReceived { sku: r.sku.clone(), qty: r.qty, location: r.location.clone() },
    };
    let seq = emit(conn, kind, now_ms)?;
    let reference = format!("event:{seq}");
    let why = Why { reason: "receipt", reference: &reference, at_ms: now_ms };
    let qty = change(conn, r.location.as_str(), r.sku.as_str(), &r.lot, r.qty.as_i64(), &why)?;
    Ok(StockRecord { location: r.location.to_string(), sku: r.sku.to_string(), lot: r.lot.clone(), qty })
}

const MAX_COUNT: i64 = 1_000_000;

pub fn adjust(conn: &Connection, a: &Adjustment, now_ms: i64) -> StoreResult<StockRecord> {
    check_lot(&a.lot)?;
    require_bin(conn, a.location.as_str())?;
    require_sku(conn, a.sku.as_str())?;
    let current = qty_at(conn, a.location.as_str(), a.sku.as_str(), &a.lot)?;
    let delta = match (a.reason, a.counted, a.delta) {
        (AdjustReason::Count, Some(counted), None) if (0..=MAX_COUNT).contains(&counted) => counted - current,
        (AdjustReason::Count, _, _) => return Err(StoreError::Invalid(format!("a count needs `counted` between 0 and {MAX_COUNT} and no `delta`"))),
        (AdjustReason::Damage, None, Some(d)) if d < 0 && d >= -i64::from(Qty::MAX) => d,
        (AdjustReason::Damage, _, _) => return Err(StoreError::Invalid("damage needs a negative `delta` and no `counted`".into())),
        (AdjustReason::Found, None, Some(d)) if d > 0 && d <= i64::from(Qty::MAX) => d,
        (AdjustReason::Found, _, _) => return Err(StoreError::Invalid("found stock needs a positive `delta` and no `counted`".into())),
        (AdjustReason::ShortPick, _, _) => return Err(StoreError::Invalid("short picks are reported on the pick task".into())),
    };
    if delta == 0 {
        return Ok(StockRecord { location: a.location.to_string(), sku: a.sku.to_string(), lot: a.lot.clone(), qty: current });
    }
    let seq = emit(conn, EdgeEventKind::StockAdjusted { sku: a.sku.clone(), delta, reason: a.reason, location: a.location.clone() }, now_ms)?;
    let reference = format!("event:{seq}");
    let why = Why { reason: a.reason.as_str(), reference: &reference, at_ms: now_ms };
    let qty = change(conn, a.location.as_str(), a.sku.as_str(), &a.lot, delta, &why)?;
    if delta < 0 {
        super::picking::rebalance(conn, a.location.as_str(), a.sku.as_str(), &a.lot, now_ms)?;
        super::replenish::check(conn, a.sku.as_str(), now_ms)?;
    }
    Ok(StockRecord { location: a.location.to_string(), sku: a.sku.to_string(), lot: a.lot.clone(), qty })
}

pub fn query(conn: &Connection, sku: Option<&Sku>, location: Option<&LocationCode>) -> StoreResult<Vec<StockRecord>> {
    let mut stmt = conn.prepare_cached(
        "SELECT location, sku, lot, qty FROM stock WHERE (?1 IS NULL OR sku = ?1) AND (?2 IS NULL OR location = ?2)
         AND qty > 0 ORDER BY sku, location, lot LIMIT 10000",
    )?;
    let rows = stmt.query_map(params![sku.map(|s| s.as_str()), location.map(|l| l.as_str())], |r| {
        Ok(StockRecord { location: r.get(0)?, sku: r.get(1)?, lot: r.get(2)?, qty: r.get(3)? })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Receipt;

    fn levels(conn: &Connection) -> Vec<(String, i64)> {
        let bodies: Vec<String> = conn.prepare("SELECT body FROM outbox ORDER BY seq").expect("sql").query_map([], |r| r.get(0)).expect("rows").collect::<Result<_, _>>().expect("bodies");
        bodies
            .iter()
            .filter_map(|b| match serde_json::from_str::<tote_shared::sync::EdgeEvent>(b).expect("event").kind {
                EdgeEventKind::LotLevel { lot, qty, .. } => Some((lot, qty)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_dated_lot_reports_its_total_on_the_shelves_and_once_at_start() {
        let mut conn = Connection::open_in_memory().expect("db");
        tote_shared::runtime::sqlite::migrate(&mut conn, crate::store::schema::MIGRATIONS).expect("migrate");
        conn.execute("INSERT INTO sku (sku, gtin, name) VALUES ('PEG39-M-WHT-42', '00194502876543', 'Pegasus 42')", []).expect("sku");
        conn.execute("INSERT INTO location (code, kind, created_ms) VALUES ('A-01-01', 'bin', 0)", []).expect("bin");
        let sku = Sku::parse("PEG39-M-WHT-42").expect("sku");
        let receipt = |location: &str, lot: &str, expiry: Option<&str>, qty: i64| Receipt {
            location: LocationCode::parse(location).expect("loc"),
            sku: sku.clone(),
            qty: Qty::parse(qty).expect("qty"),
            lot: lot.into(),
            expiry: expiry.map(str::to_owned),
            delivery: None,
        };
        receive(&conn, &receipt("A-01-01", "L1", Some("2027-03-01"), 5), 1).expect("receipt");
        receive(&conn, &receipt("QC", "L1", Some("2027-03-01"), 2), 2).expect("held");
        receive(&conn, &receipt("A-01-01", "L2", None, 4), 3).expect("undated");
        let why = Why { reason: "pick", reference: "t", at_ms: 4 };
        change(&conn, "A-01-01", sku.as_str(), "L1", -3, &why).expect("out of the bin");
        change(&conn, crate::store::picking::OUTBOUND, sku.as_str(), "L1", 3, &why).expect("onto the dock");
        assert_eq!(levels(&conn), [("L1".to_owned(), 5), ("L1".to_owned(), 2)], "the QC bin, the dock and an undated lot say nothing");
        assert_eq!(send_lot_levels_once(&conn, 5).expect("once"), 1);
        assert_eq!(send_lot_levels_once(&conn, 6).expect("twice"), 0, "once per database");
        assert_eq!(levels(&conn).last(), Some(&("L1".to_owned(), 2)));
    }
}
