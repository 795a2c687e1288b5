//! Stock freezes: a location, a SKU or a lot held back (a quality hold, a recall, a count in
//! progress). Frozen stock is never allocated and never moved out; open picks on it move to
//! other stock (or their orders fail back to central for re-routing) when the freeze is set.
//! Central is told how many units of each SKU are frozen here (`FrozenLevel`), in the same
//! transaction as every change of that number, so it stops selling them at once. A supervisor
//! lifts a freeze, with a reason.

use super::outbox::emit;
use super::{StoreError, StoreResult};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use tote_shared::sync::EdgeEventKind;
use tote_shared::Sku;

/// What a freeze holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", tag = "scope")]
pub enum FreezeTarget {
    /// Everything in one location.
    Location { location: String },
    /// A SKU wherever it is.
    Sku { sku: String },
    /// One lot of a SKU wherever it is.
    Lot { sku: String, lot: String },
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FreezeView {
    pub id: u64,
    #[serde(flatten)]
    pub target: FreezeTarget,
    pub reason: String,
    pub frozen_by: String,
    pub frozen_ms: i64,
    pub lifted_ms: Option<i64>,
    pub lifted_by: Option<String>,
    pub lift_reason: Option<String>,
    /// Units it holds now (0 once lifted).
    pub units: i64,
}

/// SQL true for a row (aliased `row`, with `location`, `sku` and `lot`) under any freeze that
/// is not lifted.
pub fn frozen(row: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM stock_freeze z WHERE z.lifted_ms IS NULL AND (
            (z.scope = 'location' AND z.location = {row}.location) OR (z.scope = 'sku' AND z.sku = {row}.sku)
            OR (z.scope = 'lot' AND z.sku = {row}.sku AND z.lot = {row}.lot)))"
    )
}

/// Freezes `target`: open picks on its stock move elsewhere, and central hears the new frozen
/// total of every SKU it holds. One freeze per target at a time.
pub fn freeze(conn: &Connection, target: &FreezeTarget, reason: &str, by: &str, now_ms: i64) -> StoreResult<FreezeView> {
    let (scope, location, sku, lot) = columns(target);
    match target {
        FreezeTarget::Location { location } => super::stock::require_bin(conn, location)?,
        FreezeTarget::Sku { sku } | FreezeTarget::Lot { sku, .. } => super::stock::require_sku(conn, sku)?,
    }
    let active: Option<i64> = conn
        .prepare_cached(
            "SELECT id FROM stock_freeze WHERE lifted_ms IS NULL AND scope = ?1 AND location IS ?2 AND sku IS ?3 AND lot IS ?4",
        )?
        .query_row(params![scope, location, sku, lot], |r| r.get(0))
        .optional()?;
    if let Some(id) = active {
        return Err(StoreError::Conflict(format!("already frozen (freeze {id}); lift it first to change it")));
    }
    conn.prepare_cached(
        "INSERT INTO stock_freeze (scope, location, sku, lot, reason, frozen_by, frozen_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![scope, location, sku, lot, reason, by, now_ms])?;
    let id = conn.last_insert_rowid() as u64;
    super::picking::move_picks_off_frozen_stock(conn, &format!("stock frozen: {reason}"), now_ms)?;
    super::replenish::cancel_from_frozen(conn, &format!("stock frozen: {reason}"), now_ms)?;
    for sku in skus_held(conn, target)? {
        level_changed(conn, &sku, now_ms)?;
    }
    get(conn, id)
}

/// Lifts freeze `id`: its stock is free again (unless another freeze holds it).
pub fn lift(conn: &Connection, id: u64, reason: &str, by: &str, now_ms: i64) -> StoreResult<FreezeView> {
    let freeze = get(conn, id)?;
    if freeze.lifted_ms.is_some() {
        return Err(StoreError::Conflict(format!("freeze {id} was already lifted")));
    }
    // The SKUs it held, read while it still holds them.
    let skus = skus_held(conn, &freeze.target)?;
    conn.prepare_cached("UPDATE stock_freeze SET lifted_ms = ?2, lifted_by = ?3, lift_reason = ?4 WHERE id = ?1")?
        .execute(params![id as i64, now_ms, by, reason])?;
    for sku in skus {
        level_changed(conn, &sku, now_ms)?;
    }
    get(conn, id)
}

pub fn get(conn: &Connection, id: u64) -> StoreResult<FreezeView> {
    list_where(conn, "f.id = ?1", params![id as i64])?.pop().ok_or_else(|| StoreError::NotFound(format!("freeze {id}")))
}

/// Freezes in force (or all, newest first, up to `limit`).
pub fn list(conn: &Connection, all: bool, limit: u32) -> StoreResult<Vec<FreezeView>> {
    list_where(conn, "(?1 OR f.lifted_ms IS NULL) ORDER BY f.id DESC LIMIT ?2", params![all, limit])
}

fn list_where(conn: &Connection, filter: &str, values: &[&dyn rusqlite::ToSql]) -> StoreResult<Vec<FreezeView>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT f.id, f.scope, f.location, f.sku, f.lot, f.reason, f.frozen_by, f.frozen_ms, f.lifted_ms, f.lifted_by, f.lift_reason,
                CASE WHEN f.lifted_ms IS NULL THEN (SELECT COALESCE(SUM(s.qty), 0) FROM stock s WHERE
                    (f.scope = 'location' AND s.location = f.location) OR (f.scope = 'sku' AND s.sku = f.sku)
                    OR (f.scope = 'lot' AND s.sku = f.sku AND s.lot = f.lot)) ELSE 0 END
         FROM stock_freeze f WHERE {filter}"
    ))?;
    let rows = stmt.query_map(values, |r| {
        let (scope, location, sku, lot): (String, Option<String>, Option<String>, Option<String>) = (r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?);
        let target = match scope.as_str() {
            "location" => FreezeTarget::Location { location: location.unwrap_or_default() },
            "sku" => FreezeTarget::Sku { sku: sku.unwrap_or_default() },
            _ => FreezeTarget::Lot { sku: sku.unwrap_or_default(), lot: lot.unwrap_or_default() },
        };
        Ok(FreezeView {
            id: r.get::<_, i64>(0)? as u64,
            target,
            reason: r.get(5)?,
            frozen_by: r.get(6)?,
            frozen_ms: r.get(7)?,
            lifted_ms: r.get(8)?,
            lifted_by: r.get(9)?,
            lift_reason: r.get(10)?,
            units: r.get(11)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn columns(target: &FreezeTarget) -> (&'static str, Option<&str>, Option<&str>, Option<&str>) {
    match target {
        FreezeTarget::Location { location } => ("location", Some(location), None, None),
        FreezeTarget::Sku { sku } => ("sku", None, Some(sku), None),
        FreezeTarget::Lot { sku, lot } => ("lot", None, Some(sku), Some(lot)),
    }
}

/// The SKUs with stock under `target`.
fn skus_held(conn: &Connection, target: &FreezeTarget) -> StoreResult<Vec<String>> {
    match target {
        FreezeTarget::Location { location } => Ok(conn
            .prepare_cached("SELECT DISTINCT sku FROM stock WHERE location = ?1 ORDER BY sku")?
            .query_map([location], |r| r.get(0))?
            .collect::<Result<_, _>>()?),
        FreezeTarget::Sku { sku } | FreezeTarget::Lot { sku, .. } => Ok(vec![sku.clone()]),
    }
}

/// Whether stock at (location, sku, lot) is frozen.
pub fn covers(conn: &Connection, location: &str, sku: &str, lot: &str) -> StoreResult<bool> {
    let frozen: i64 = conn
        .prepare_cached(&format!("SELECT {} FROM (SELECT ?1 AS location, ?2 AS sku, ?3 AS lot) s", frozen("s")))?
        .query_row(params![location, sku, lot], |r| r.get(0))?;
    Ok(frozen != 0)
}

/// Refuses to take stock out of a frozen (location, sku, lot).
pub fn refuse_if_frozen(conn: &Connection, location: &str, sku: &str, lot: &str) -> StoreResult<()> {
    if covers(conn, location, sku, lot)? {
        let lot = if lot.is_empty() { String::new() } else { format!(" lot {lot}") };
        return Err(StoreError::Conflict(format!("{sku}{lot} at {location} is frozen: nothing moves out until a supervisor lifts the freeze")));
    }
    Ok(())
}

/// Tells central how many units of `sku` are frozen here, when that number changed since it
/// was last told. Units on the outbound dock (leaving) and in the QC bin (never sold) are not
/// central's to sell either way, so they do not count.
pub fn level_changed(conn: &Connection, sku: &str, at_ms: i64) -> StoreResult<()> {
    let units: i64 = conn
        .prepare_cached(&format!("SELECT COALESCE(SUM(s.qty), 0) FROM stock s WHERE s.sku = ?1 AND s.location NOT IN (?2, ?3) AND {}", frozen("s")))?
        .query_row(params![sku, super::picking::OUTBOUND, super::moves::QC_HOLD], |r| r.get(0))?;
    let told: Option<i64> =
        conn.prepare_cached("SELECT units FROM frozen_told WHERE sku = ?1")?.query_row([sku], |r| r.get(0)).optional()?;
    if told.unwrap_or(0) == units {
        return Ok(());
    }
    conn.prepare_cached("INSERT INTO frozen_told (sku, units) VALUES (?1, ?2) ON CONFLICT (sku) DO UPDATE SET units = ?2")?
        .execute(params![sku, units])?;
    let sku = Sku::parse(sku).map_err(|e| StoreError::Invalid(e.to_string()))?;
    emit(conn, EdgeEventKind::FrozenLevel { sku, qty: units }, at_ms)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::moves::{move_stock, Move};
    use crate::store::picking::{release, tasks};
    use crate::store::stock::{change, Why};
    use tote_shared::sync::{EdgeEvent, OrderLine, ShipTo};
    use tote_shared::Qty;

    const SKU: &str = "PEG39-M-WHT-42";

    /// Two bins of one SKU: lot L1 in A-01-01 (6), lot L2 in B-01-01 (4).
    fn floor() -> Connection {
        let conn = crate::store::schema::memory_db();
        conn.execute("INSERT INTO sku (sku, gtin, name) VALUES (?1, '00194502876543', 'Pegasus 42')", [SKU]).expect("sku");
        for bin in ["A-01-01", "B-01-01"] {
            conn.execute("INSERT INTO location (code, kind, created_ms) VALUES (?1, 'bin', 0)", [bin]).expect("bin");
        }
        let why = Why { reason: "receipt", reference: "test", at_ms: 1 };
        change(&conn, "A-01-01", SKU, "L1", 6, &why).expect("L1");
        change(&conn, "B-01-01", SKU, "L2", 4, &why).expect("L2");
        conn
    }

    fn order(conn: &Connection, id: u64, qty: i64) {
        let to = ShipTo { name: "Li Wei".into(), line1: "88 Century Avenue".into(), city: "Shanghai".into(), postcode: "200120".into(), phone: String::new() };
        let line = OrderLine { sku: Sku::parse(SKU).expect("sku"), qty: Qty::parse(qty).expect("qty") };
        release(conn, &Default::default(), id, &[line], &to, None, 10).expect("release");
    }

    /// The frozen levels central was told, in order.
    fn told(conn: &Connection) -> Vec<i64> {
        let bodies: Vec<String> = conn.prepare("SELECT body FROM outbox ORDER BY seq").expect("sql").query_map([], |r| r.get(0)).expect("rows").collect::<Result<_, _>>().expect("bodies");
        bodies
            .iter()
            .filter_map(|b| match serde_json::from_str::<EdgeEvent>(b).expect("event").kind {
                EdgeEventKind::FrozenLevel { qty, .. } => Some(qty),
                _ => None,
            })
            .collect()
    }

    fn open_picks(conn: &Connection) -> Vec<(String, String, i64)> {
        tasks(conn, Some("open"), None, 100).expect("tasks").into_iter().map(|t| (t.location, t.lot, t.qty)).collect()
    }

    #[test]
    fn a_frozen_lot_is_never_allocated_or_moved_and_central_hears_its_units_until_it_is_lifted() {
        let conn = floor();
        order(&conn, 1, 3);
        assert_eq!(open_picks(&conn), [("A-01-01".into(), "L1".into(), 3)], "the larger bin first");
        let lot = FreezeTarget::Lot { sku: SKU.into(), lot: "L1".into() };
        let f = freeze(&conn, &lot, "recall", "sam", 20).expect("freeze");
        assert_eq!((f.units, told(&conn)), (6, vec![6]), "central hears the lot's six units at once");
        assert_eq!(open_picks(&conn), [("B-01-01".into(), "L2".into(), 3)], "the open pick moved to the other lot");
        assert!(matches!(freeze(&conn, &lot, "again", "sam", 21), Err(StoreError::Conflict(_))), "one freeze per target");

        order(&conn, 2, 2);
        let state: String = conn.query_row("SELECT state FROM fulfilment WHERE order_id = 2", [], |r| r.get(0)).expect("order 2");
        assert_eq!(state, "failed", "one unit of L2 is free and L1 is frozen: the order fails back to central");
        let out = Move { from: "A-01-01".into(), to: "B-01-01".into(), sku: SKU.into(), lot: Some("L1".into()), qty: 1, suggested: None, reason: None, by: "sam".into() };
        assert!(matches!(move_stock(&conn, &out, 22), Err(StoreError::Conflict(_))), "nothing moves out of a frozen lot");
        change(&conn, "A-01-01", SKU, "L1", 2, &Why { reason: "found", reference: "test", at_ms: 23 }).expect("found two");
        assert_eq!(told(&conn), [6, 8], "units found in a frozen lot are frozen too");
        change(&conn, "B-01-01", SKU, "L2", 1, &Why { reason: "found", reference: "test", at_ms: 24 }).expect("found one");
        assert_eq!(told(&conn), [6, 8], "other lots say nothing");

        let lifted = lift(&conn, f.id, "supplier cleared the lot", "kim", 30).expect("lift");
        assert_eq!((lifted.units, lifted.lifted_by.as_deref()), (0, Some("kim")));
        assert_eq!(told(&conn), [6, 8, 0]);
        assert!(matches!(lift(&conn, f.id, "again", "kim", 31), Err(StoreError::Conflict(_))));
        move_stock(&conn, &out, 32).expect("moves again once lifted");
        order(&conn, 3, 2);
        assert_eq!(open_picks(&conn).len(), 2, "allocated again");
        assert!(list(&conn, false, 10).expect("in force").is_empty());
        assert_eq!(list(&conn, true, 10).expect("all").len(), 1);
    }

    #[test]
    fn a_frozen_location_holds_every_sku_in_it_and_what_arrives_there() {
        let conn = floor();
        let bin = FreezeTarget::Location { location: "B-01-01".into() };
        let f = freeze(&conn, &bin, "count in progress", "sam", 20).expect("freeze");
        assert_eq!((f.units, told(&conn)), (4, vec![4]));
        change(&conn, "B-01-01", SKU, "L1", 3, &Why { reason: "putaway", reference: "test", at_ms: 21 }).expect("put away into it");
        assert_eq!(told(&conn), [4, 7]);
        order(&conn, 1, 6);
        assert_eq!(open_picks(&conn), [("A-01-01".into(), "L1".into(), 6)], "only the free bin is allocated");
        assert!(matches!(freeze(&conn, &FreezeTarget::Location { location: "Z-99-99".into() }, "x", "sam", 22), Err(StoreError::NotFound(_))));
    }
}
