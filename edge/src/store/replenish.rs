//! Pick-face replenishment: faces with their min and max, refills from reserve as handheld
//! tasks, and the shortfall path — picks allocated on a face wait for the refill that covers
//! them instead of failing the order. When to refill and by how much, and a refill's scan
//! steps, are `tote_shared::replenish`; this module loads, asks and writes.

use super::freezes::frozen;
use super::moves::{QC_HOLD, RECEIVING};
use super::stock::{change, require_bin, require_sku, Why};
use super::{StoreError, StoreResult};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use tote_shared::replenish::{scan as next_step, Codes, FaceLevel, ScanError, Step};
use tote_shared::strategy::Method;

/// The states of a refill still to be done, for SQL.
const LIVE: &str = "('open', 'at_source', 'carrying')";

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FaceView {
    pub location: String,
    pub sku: String,
    pub min: i64,
    pub max: i64,
    /// On the face now (all lots).
    pub on_hand: i64,
    /// On its way from reserve.
    pub incoming: i64,
    /// Open picks will take this much.
    pub claimed: i64,
    /// What it will hold once those are done.
    pub projected: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RefillView {
    pub id: u64,
    pub sku: String,
    pub gtin: String,
    pub lot: String,
    /// The reserve bin to take from.
    pub from: String,
    /// The pick face to fill.
    pub to: String,
    pub qty: i64,
    /// `open` (go to the reserve bin), `at_source` (scan the item), `carrying` (scan the face),
    /// `done`, `cancelled`.
    pub state: String,
    /// `shortfall` (picks wait for it: do it first) or `below_min` (topping up).
    pub why: String,
    /// Units of picks on the face that wait for refills (this lot).
    pub waiting_units: i64,
    pub worker: Option<String>,
    pub created_ms: i64,
    pub done_ms: Option<i64>,
    pub cancel_reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RefillOutcome {
    pub refill: RefillView,
    /// What the worker should do next, in plain words.
    pub message: String,
}

/// Makes `location` the pick face of `sku` (or changes its min and max), then tops it up when
/// it is already below min.
pub fn set_face(conn: &Connection, location: &str, sku: &str, min: i64, max: i64, now_ms: i64) -> StoreResult<FaceView> {
    require_bin(conn, location)?;
    require_sku(conn, sku)?;
    let on_pod: bool = conn.prepare_cached("SELECT pod IS NOT NULL FROM location WHERE code = ?1")?.query_row([location], |r| r.get(0))?;
    if on_pod || location == RECEIVING || location == QC_HOLD {
        return Err(StoreError::Invalid(format!("{location} cannot be a pick face: a face is a shelf bin, not the dock, QC or a pod")));
    }
    if !(0..100_000).contains(&min) || max <= min || max > 100_000 {
        return Err(StoreError::Invalid("a face needs 0 ≤ min < max ≤ 100000".into()));
    }
    let current: Option<String> = conn.prepare_cached("SELECT sku FROM pick_face WHERE location = ?1")?.query_row([location], |r| r.get(0)).optional()?;
    if current.as_deref().is_some_and(|c| c != sku) {
        if let Some(id) = live_refill_to(conn, location)? {
            return Err(StoreError::Conflict(format!("{location} is the face of another SKU with refill {id} on its way: finish or cancel it first")));
        }
    }
    conn.prepare_cached(
        "INSERT INTO pick_face (location, sku, min_qty, max_qty, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (location) DO UPDATE SET sku = ?2, min_qty = ?3, max_qty = ?4, updated_ms = ?5",
    )?
    .execute(params![location, sku, min, max, now_ms])?;
    check(conn, sku, now_ms)?;
    face(conn, location)
}

/// `location` is no longer a pick face (its SKU's other bins are pickable again when it was
/// the last). Refused while a refill is on its way to it. The face as it was.
pub fn remove_face(conn: &Connection, location: &str) -> StoreResult<FaceView> {
    let was = face(conn, location)?;
    if let Some(id) = live_refill_to(conn, location)? {
        return Err(StoreError::Conflict(format!("refill {id} is on its way to {location}: finish or cancel it first")));
    }
    conn.prepare_cached("DELETE FROM pick_face WHERE location = ?1")?.execute([location])?;
    Ok(was)
}

fn live_refill_to(conn: &Connection, location: &str) -> StoreResult<Option<i64>> {
    Ok(conn
        .prepare_cached(&format!("SELECT id FROM replenishment WHERE to_location = ?1 AND state IN {LIVE} ORDER BY id LIMIT 1"))?
        .query_row([location], |r| r.get(0))
        .optional()?)
}

fn level(conn: &Connection, location: &str, sku: &str, min: i64, max: i64) -> StoreResult<FaceLevel> {
    let sum = |sql: &str| -> StoreResult<i64> { Ok(conn.prepare_cached(sql)?.query_row(params![location, sku], |r| r.get(0))?) };
    Ok(FaceLevel {
        min,
        max,
        on_hand: sum("SELECT COALESCE(SUM(qty), 0) FROM stock WHERE location = ?1 AND sku = ?2")?,
        incoming: sum(&format!("SELECT COALESCE(SUM(qty), 0) FROM replenishment WHERE to_location = ?1 AND sku = ?2 AND state IN {LIVE}"))?,
        claimed: sum("SELECT COALESCE(SUM(qty - qty_picked), 0) FROM pick_task WHERE location = ?1 AND sku = ?2 AND state IN ('open', 'located')")?,
    })
}

fn face_view(conn: &Connection, location: String, sku: String, min: i64, max: i64) -> StoreResult<FaceView> {
    let l = level(conn, &location, &sku, min, max)?;
    Ok(FaceView { projected: l.projected(), location, sku, min, max, on_hand: l.on_hand, incoming: l.incoming, claimed: l.claimed })
}

fn face(conn: &Connection, location: &str) -> StoreResult<FaceView> {
    let (sku, min, max): (String, i64, i64) = conn
        .prepare_cached("SELECT sku, min_qty, max_qty FROM pick_face WHERE location = ?1")?
        .query_row([location], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("pick face {location}")))?;
    face_view(conn, location.to_owned(), sku, min, max)
}

/// Every pick face (of one SKU when named), by location.
pub fn faces(conn: &Connection, sku: Option<&str>) -> StoreResult<Vec<FaceView>> {
    let rows: Vec<(String, String, i64, i64)> = conn
        .prepare_cached("SELECT location, sku, min_qty, max_qty FROM pick_face WHERE ?1 IS NULL OR sku = ?1 ORDER BY location")?
        .query_map([sku], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<Result<_, _>>()?;
    rows.into_iter().map(|(location, sku, min, max)| face_view(conn, location, sku, min, max)).collect()
}

/// A SKU's reserve: its shelf bins that are not faces (nor the dock, QC, outbound or pods), not
/// frozen, less what live refills and open picks will take from them. First expiry first,
/// then the fullest bin, so a refill needs as few trips as possible.
fn reserve(conn: &Connection, sku: &str) -> StoreResult<Vec<(String, String, i64)>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT s.location, s.lot, s.qty
             - COALESCE((SELECT SUM(r.qty) FROM replenishment r
                 WHERE r.state IN {LIVE} AND r.from_location = s.location AND r.sku = s.sku AND r.lot = s.lot), 0)
             - COALESCE((SELECT SUM(t.qty - t.qty_picked) FROM pick_task t
                 WHERE t.state IN ('open', 'located') AND t.location = s.location AND t.sku = s.sku AND t.lot = s.lot), 0) AS free
         FROM stock s JOIN location l ON l.code = s.location AND l.kind = 'bin' AND l.pod IS NULL
         LEFT JOIN lot ON lot.sku = s.sku AND lot.lot = s.lot
         WHERE s.sku = ?1 AND s.qty > 0 AND s.location NOT IN (?2, ?3)
           AND NOT EXISTS (SELECT 1 FROM pick_face f WHERE f.location = s.location) AND NOT {}
         ORDER BY lot.expiry IS NULL, lot.expiry, free DESC, s.location, s.lot",
        frozen("s")
    ))?;
    let rows = stmt.query_map(params![sku, RECEIVING, QC_HOLD], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let row = row?;
        if row.2 > 0 {
            out.push(row);
        }
    }
    Ok(out)
}

/// A refill of `qty` from `from` to `to`, or more units on one between the same bins not yet
/// started (one trip, not two; it becomes a shortfall when either was).
#[allow(clippy::too_many_arguments)] // one row's columns
fn create(conn: &Connection, sku: &str, lot: &str, from: &str, to: &str, qty: i64, why: &str, now_ms: i64) -> StoreResult<i64> {
    let open: Option<i64> = conn
        .prepare_cached(
            "SELECT id FROM replenishment WHERE sku = ?1 AND lot = ?2 AND from_location = ?3 AND to_location = ?4 AND state = 'open' ORDER BY id LIMIT 1",
        )?
        .query_row(params![sku, lot, from, to], |r| r.get(0))
        .optional()?;
    if let Some(id) = open {
        conn.prepare_cached(
            "UPDATE replenishment SET qty = qty + ?2, why = CASE WHEN ?3 = 'shortfall' THEN ?3 ELSE why END, updated_ms = ?4 WHERE id = ?1",
        )?
        .execute(params![id, qty, why, now_ms])?;
        return Ok(id);
    }
    conn.prepare_cached(
        "INSERT INTO replenishment (sku, lot, from_location, to_location, qty, state, why, created_ms, updated_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, 'open', ?6, ?7, ?7)",
    )?
    .execute(params![sku, lot, from, to, qty, why, now_ms])?;
    Ok(conn.last_insert_rowid())
}

/// Tops up every face of `sku` whose projected level fell below its min, from reserve (as much
/// as reserve holds). How many refills it created.
pub fn check(conn: &Connection, sku: &str, now_ms: i64) -> StoreResult<u32> {
    let faces: Vec<(String, i64, i64)> = conn
        .prepare_cached("SELECT location, min_qty, max_qty FROM pick_face WHERE sku = ?1 ORDER BY location")?
        .query_map([sku], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let mut created = 0;
    for (face, min, max) in faces {
        let mut need = level(conn, &face, sku, min, max)?.refill();
        if need == 0 {
            continue;
        }
        for (from, lot, free) in reserve(conn, sku)? {
            if need == 0 {
                break;
            }
            let take = free.min(need);
            create(conn, sku, &lot, &from, &face, take, "below_min", now_ms)?;
            need -= take;
            created += 1;
        }
        if need > 0 {
            tracing::info!(sku, face, need, "reserve cannot fill the pick face to its max");
        }
    }
    Ok(created)
}

/// Allocation found `missing` units of `sku` nowhere pickable. When the SKU has a face and its
/// reserve holds units, each reserve bin's units come to the face as a refill and a pick task
/// on the face waits for it. All or nothing: what is still missing, 0 when covered.
pub fn cover_shortfall(conn: &Connection, order_id: u64, sku: &str, missing: i64, method: Method, now_ms: i64) -> StoreResult<i64> {
    let face: Option<String> = conn
        .prepare_cached("SELECT location FROM pick_face WHERE sku = ?1 ORDER BY location LIMIT 1")?
        .query_row([sku], |r| r.get(0))
        .optional()?;
    let Some(face) = face else { return Ok(missing) };
    let spare = spare_incoming(conn, &face, sku)?;
    let reserve = reserve(conn, sku)?;
    // All or nothing: refills for part of a line that fails anyway would only move stock about.
    let coverable: i64 = spare.iter().map(|(_, n)| n).sum::<i64>() + reserve.iter().map(|(_, _, free)| free).sum::<i64>();
    if coverable < missing {
        return Ok(missing);
    }
    let mut missing = missing;
    // First what refills already on their way bring beyond the picks counting on them.
    for (lot, units) in spare {
        let take = units.min(missing);
        if take > 0 {
            super::picking::insert_task(conn, order_id, sku, &face, &lot, take, method, now_ms)?;
            missing -= take;
        }
    }
    for (from, lot, free) in reserve {
        if missing == 0 {
            break;
        }
        let take = free.min(missing);
        create(conn, sku, &lot, &from, &face, take, "shortfall", now_ms)?;
        super::picking::insert_task(conn, order_id, sku, &face, &lot, take, method, now_ms)?;
        missing -= take;
    }
    Ok(missing)
}

/// Per lot, the units live refills bring to `face` that no open pick counts on yet (beyond
/// what the face holds), oldest lot first.
fn spare_incoming(conn: &Connection, face: &str, sku: &str) -> StoreResult<Vec<(String, i64)>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT r.lot, SUM(r.qty)
             + COALESCE((SELECT q.qty FROM stock q WHERE q.location = r.to_location AND q.sku = r.sku AND q.lot = r.lot), 0)
             - COALESCE((SELECT SUM(t.qty - t.qty_picked) FROM pick_task t WHERE t.state IN ('open', 'located')
                 AND t.location = r.to_location AND t.sku = r.sku AND t.lot = r.lot), 0)
         FROM replenishment r WHERE r.to_location = ?1 AND r.sku = ?2 AND r.state IN {LIVE}
         GROUP BY r.lot ORDER BY MIN(r.id)"
    ))?;
    let rows = stmt.query_map(params![face, sku], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let row = row?;
        if row.1 > 0 {
            out.push(row);
        }
    }
    Ok(out)
}

const REFILL_COLUMNS: &str = "r.id, r.sku, s.gtin, r.lot, r.from_location, r.to_location, r.qty, r.state, r.why, r.worker, r.created_ms, r.done_ms, r.cancel_reason,
    MAX(0, COALESCE((SELECT SUM(t.qty - t.qty_picked) FROM pick_task t WHERE t.state IN ('open', 'located')
        AND t.location = r.to_location AND t.sku = r.sku AND t.lot = r.lot), 0)
      - COALESCE((SELECT q.qty FROM stock q WHERE q.location = r.to_location AND q.sku = r.sku AND q.lot = r.lot), 0))";

fn row_to_refill(r: &rusqlite::Row<'_>) -> rusqlite::Result<RefillView> {
    Ok(RefillView {
        id: r.get::<_, i64>(0)? as u64,
        sku: r.get(1)?,
        gtin: r.get(2)?,
        lot: r.get(3)?,
        from: r.get(4)?,
        to: r.get(5)?,
        qty: r.get(6)?,
        state: r.get(7)?,
        why: r.get(8)?,
        worker: r.get(9)?,
        created_ms: r.get(10)?,
        done_ms: r.get(11)?,
        cancel_reason: r.get(12)?,
        waiting_units: r.get(13)?,
    })
}

pub fn refill(conn: &Connection, id: u64) -> StoreResult<RefillView> {
    conn.prepare_cached(&format!("SELECT {REFILL_COLUMNS} FROM replenishment r JOIN sku s ON s.sku = r.sku WHERE r.id = ?1"))?
        .query_row([id as i64], row_to_refill)
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("refill {id}")))
}

/// Refills still to do (shortfalls first, then oldest), or finished ones (newest first).
pub fn list(conn: &Connection, live: bool, limit: u32) -> StoreResult<Vec<RefillView>> {
    let sql = if live {
        format!("SELECT {REFILL_COLUMNS} FROM replenishment r JOIN sku s ON s.sku = r.sku WHERE r.state IN {LIVE} ORDER BY r.why = 'shortfall' DESC, r.id LIMIT ?1")
    } else {
        format!("SELECT {REFILL_COLUMNS} FROM replenishment r JOIN sku s ON s.sku = r.sku WHERE r.state NOT IN {LIVE} ORDER BY r.id DESC LIMIT ?1")
    };
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([limit], row_to_refill)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One scan on a refill by `worker`: the reserve bin, the item, then the face. The last scan
/// moves the units in this transaction; a wrong scan changes nothing and says what was expected.
pub fn scan(conn: &Connection, id: u64, code: &str, worker: &str, now_ms: i64) -> StoreResult<RefillOutcome> {
    let r = refill(conn, id)?;
    let step = Step::parse(&r.state).ok_or_else(|| StoreError::Corrupt(format!("refill {id} is {:?}", r.state)))?;
    if step != Step::Open && r.worker.as_deref().is_some_and(|w| w != worker) {
        return Err(StoreError::Conflict(format!("refill {id} is being done by {}", r.worker.as_deref().unwrap_or(""))));
    }
    let codes = Codes { from: &r.from, gtin: &r.gtin, to: &r.to };
    let next = next_step(step, codes, code).map_err(|e| match e {
        ScanError::Wrong { what, expected, scanned } => StoreError::WrongScan { what, expected, scanned },
        ScanError::Finished(state) => StoreError::Conflict(format!("refill {id} is {state}")),
    })?;
    let mut message = match next {
        Step::AtSource => format!("At {}: scan {} ({}) and take {}", r.from, r.sku, r.gtin, r.qty),
        Step::Carrying => format!("Take {} × {} to {} and scan it", r.qty, r.sku, r.to),
        _ => String::new(),
    };
    if next == Step::Done {
        super::freezes::refuse_if_frozen(conn, &r.from, &r.sku, &r.lot)?;
        let reference = format!("refill:{id} by:{worker}");
        let why = Why { reason: "replenish", reference: &reference, at_ms: now_ms };
        change(conn, &r.from, &r.sku, &r.lot, -r.qty, &why)?;
        let now_there = change(conn, &r.to, &r.sku, &r.lot, r.qty, &why)?;
        message = format!("{} refilled: {now_there} × {} there now", r.to, r.sku);
    }
    conn.prepare_cached(
        "UPDATE replenishment SET state = ?2, worker = ?3, updated_ms = ?4, done_ms = CASE WHEN ?2 = 'done' THEN ?4 END WHERE id = ?1",
    )?
    .execute(params![id as i64, next.as_str(), worker, now_ms])?;
    Ok(RefillOutcome { refill: refill(conn, id)?, message })
}

/// A supervisor calls a refill off (the reserve bin is not where the system says, say): picks
/// that waited for it move to other stock, or their orders fail back to central.
pub fn cancel(conn: &Connection, id: u64, reason: &str, now_ms: i64) -> StoreResult<RefillView> {
    let r = refill(conn, id)?;
    if !Step::parse(&r.state).is_some_and(Step::is_live) {
        return Err(StoreError::Conflict(format!("refill {id} is {}", r.state)));
    }
    conn.prepare_cached("UPDATE replenishment SET state = 'cancelled', cancel_reason = ?2, updated_ms = ?3 WHERE id = ?1")?
        .execute(params![id as i64, reason, now_ms])?;
    super::picking::rebalance(conn, &r.to, &r.sku, &r.lot, now_ms)?;
    refill(conn, id)
}

/// Units on their way to `location` for this SKU and lot (what a face's waiting picks count on).
pub fn incoming(conn: &Connection, location: &str, sku: &str, lot: &str) -> StoreResult<i64> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT COALESCE(SUM(qty), 0) FROM replenishment WHERE to_location = ?1 AND sku = ?2 AND lot = ?3 AND state IN {LIVE}"
        ))?
        .query_row(params![location, sku, lot], |r| r.get(0))?)
}

/// After a freeze: refills whose reserve stock is now frozen and whose units are not yet taken
/// are called off (nothing moves out of frozen stock); picks that waited for them move on.
pub fn cancel_from_frozen(conn: &Connection, why: &str, now_ms: i64) -> StoreResult<u32> {
    let ids: Vec<i64> = conn
        .prepare_cached(&format!(
            "SELECT r.id FROM (SELECT id, from_location AS location, sku, lot FROM replenishment WHERE state IN ('open', 'at_source')) r
             WHERE {} ORDER BY r.id",
            super::freezes::frozen("r")
        ))?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for id in &ids {
        cancel(conn, *id as u64, why, now_ms)?;
    }
    Ok(ids.len() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::picking::{release, scan as pick_scan, tasks};
    use crate::store::stock::qty_at;
    use tote_shared::strategy::Rules;
    use tote_shared::sync::{OrderLine, ShipTo};
    use tote_shared::{Qty, Sku};

    const SKU: &str = "PEG39-M-WHT-44";
    const GTIN: &str = "00194502876567";

    /// Face A-01-01 holds 6; reserve R-01-01 holds 40 and R-02-01 holds 5.
    fn floor() -> Connection {
        let conn = crate::store::schema::memory_db();
        conn.execute("INSERT INTO sku (sku, gtin, name) VALUES (?1, ?2, 'Pegasus 44')", [SKU, GTIN]).expect("sku");
        for bin in ["A-01-01", "R-01-01", "R-02-01"] {
            conn.execute("INSERT INTO location (code, kind, created_ms) VALUES (?1, 'bin', 0)", [bin]).expect("bin");
        }
        let why = Why { reason: "receipt", reference: "test", at_ms: 1 };
        for (bin, qty) in [("A-01-01", 6), ("R-01-01", 40), ("R-02-01", 5)] {
            change(&conn, bin, SKU, "", qty, &why).expect("stock");
        }
        conn
    }

    fn order(conn: &Connection, id: u64, qty: i64) -> String {
        let to = ShipTo { name: "Li Wei".into(), line1: "88 Century Avenue".into(), city: "Shanghai".into(), postcode: "200120".into(), phone: String::new() };
        let line = OrderLine { sku: Sku::parse(SKU).expect("sku"), qty: Qty::parse(qty).expect("qty") };
        release(conn, &Rules::default(), id, &[line], &to, None, 10 + id as i64).expect("release");
        conn.query_row("SELECT state FROM fulfilment WHERE order_id = ?1", [id as i64], |r| r.get(0)).expect("state")
    }

    fn refills(conn: &Connection) -> Vec<(String, String, i64, String)> {
        list(conn, true, 100).expect("refills").into_iter().map(|r| (r.from, r.to, r.qty, r.why)).collect()
    }

    fn do_refill(conn: &Connection, id: u64) -> RefillOutcome {
        let r = refill(conn, id).expect("refill");
        let mut out = None;
        for code in [r.from.as_str(), GTIN, r.to.as_str()] {
            out = Some(scan(conn, id, code, "ann", 50).expect("scan"));
        }
        out.expect("three scans")
    }

    #[test]
    fn freezing_the_reserve_calls_its_refills_off() {
        let conn = floor();
        set_face(&conn, "A-01-01", SKU, 4, 12, 5).expect("face");
        for id in 1..=3 {
            order(&conn, id, 1);
        }
        assert_eq!(refills(&conn).len(), 1, "a refill from R-01-01");
        let target = crate::store::FreezeTarget::Location { location: "R-01-01".into() };
        crate::store::freezes::freeze(&conn, &target, "recall", "boss", 60).expect("freeze");
        let open = refills(&conn);
        assert!(open.iter().all(|r| r.0 != "R-01-01"), "nothing moves out of a frozen bin: {open:?}");
    }

    #[test]
    fn a_face_is_refilled_before_the_picks_run_it_dry_and_waiting_picks_go_once_it_is() {
        let conn = floor();
        set_face(&conn, "A-01-01", SKU, 4, 12, 5).expect("face");
        assert!(refills(&conn).is_empty(), "six on the face: above min");
        for id in 1..=2 {
            assert_eq!(order(&conn, id, 1), "picking");
        }
        assert!(refills(&conn).is_empty(), "four will be left: at min");
        order(&conn, 3, 1);
        assert_eq!(refills(&conn), [("R-01-01".into(), "A-01-01".into(), 9, "below_min".into())], "three left: up to twelve, from the fuller reserve bin");
        for id in 4..=10 {
            assert_eq!(order(&conn, id, 1), "picking", "order {id} counts on the refill on its way");
        }
        assert_eq!(refills(&conn).len(), 1, "no second refill: the first one covers orders 7 to 10");
        let open = tasks(&conn, None, None, 100).expect("tasks");
        assert!(open.iter().all(|t| t.location == "A-01-01"), "reserve is never picked from while the SKU has a face");
        let waiting: Vec<u64> = open.iter().filter(|t| t.waiting).map(|t| t.order_id).collect();
        assert_eq!(waiting, [7, 8, 9, 10], "the face holds six: the seventh pick on waits");
        let seventh = open.iter().find(|t| t.order_id == 7).expect("order 7's task");
        assert!(matches!(pick_scan(&conn, seventh.id, "A-01-01", 1, &Default::default(), 40), Err(StoreError::Conflict(_))), "a waiting pick cannot start");

        assert!(matches!(scan(&conn, 1, "A-01-01", "ann", 41), Err(StoreError::WrongScan { what: "reserve bin", .. })), "the face before the reserve bin");
        let done = do_refill(&conn, 1);
        assert_eq!((done.refill.state.as_str(), qty_at(&conn, "A-01-01", SKU, "").expect("face")), ("done", 15));
        assert_eq!(qty_at(&conn, "R-01-01", SKU, "").expect("reserve"), 31);
        assert!(tasks(&conn, None, None, 100).expect("tasks").iter().all(|t| !t.waiting), "every pick can go now");
        assert!(matches!(scan(&conn, 1, "R-01-01", "ann", 51), Err(StoreError::Conflict(_))), "a finished refill takes no scans");
    }

    #[test]
    fn an_order_beyond_the_face_waits_for_a_shortfall_refill_and_fails_only_when_reserve_is_short_too() {
        let conn = floor();
        set_face(&conn, "A-01-01", SKU, 2, 10, 5).expect("face");
        assert_eq!(order(&conn, 1, 20), "picking");
        let got = refills(&conn);
        assert_eq!(got, [("R-01-01".into(), "A-01-01".into(), 14 + 10, "shortfall".into())], "the fourteen the face lacks and the ten to max, in one trip");
        let unclaimed = 6 + 40 + 5 - 20;
        assert_eq!(order(&conn, 2, unclaimed + 1), "failed", "more than the face and reserve hold together");
        assert_eq!(refills(&conn).len(), got.len(), "a failed order leaves no refill behind");
        assert_eq!(order(&conn, 3, unclaimed), "picking", "all of it: the top-up's spare ten, then reserve");
    }

    #[test]
    fn a_cancelled_refill_sends_its_waiting_picks_elsewhere_or_back_to_central() {
        let conn = floor();
        set_face(&conn, "A-01-01", SKU, 0, 10, 5).expect("face");
        order(&conn, 1, 8);
        let shortfall = list(&conn, true, 10).expect("refills").into_iter().find(|r| r.why == "shortfall").expect("shortfall refill");
        assert_eq!(shortfall.waiting_units, 2);
        // Called off by hand (the aisle is blocked): the two waiting units get a new refill.
        cancel(&conn, shortfall.id, "aisle blocked", 28).expect("cancel");
        assert!(matches!(cancel(&conn, shortfall.id, "again", 28), Err(StoreError::Conflict(_))));
        let again = list(&conn, true, 10).expect("refills");
        assert!(again.len() == 1 && again[0].id != shortfall.id && again[0].why == "shortfall" && again[0].waiting_units == 2, "{again:?}");
        // The supervisor finds R-01-01 damaged and freezes it: its refill is called off at once.
        let bin = crate::store::FreezeTarget::Location { location: again[0].from.clone() };
        crate::store::freezes::freeze(&conn, &bin, "water damage", "sam", 29).expect("freeze");
        let open = tasks(&conn, None, None, 100).expect("tasks");
        assert_eq!(open.iter().map(|t| t.qty).sum::<i64>(), 8, "the order still wants eight");
        let other = if again[0].from == "R-01-01" { "R-02-01" } else { "R-01-01" };
        assert_eq!(refills(&conn), [(other.into(), "A-01-01".into(), 2, "shortfall".into())], "its two units come from the other reserve bin");
        crate::store::freezes::freeze(&conn, &crate::store::FreezeTarget::Location { location: other.into() }, "recount", "sam", 32).expect("freeze");
        assert!(refills(&conn).is_empty(), "no reserve left to refill from");
        let state: String = conn.query_row("SELECT state FROM fulfilment WHERE order_id = 1", [], |r| r.get(0)).expect("state");
        assert_eq!(state, "failed", "no reserve left: the order goes back to central for re-routing");
    }

    #[test]
    fn a_face_is_a_shelf_bin_with_min_below_max_and_reserve_moves_keep_refills_whole() {
        let conn = floor();
        assert!(matches!(set_face(&conn, "A-01-01", SKU, 5, 5, 1), Err(StoreError::Invalid(_))));
        assert!(matches!(set_face(&conn, "Z-09-09", SKU, 1, 5, 1), Err(StoreError::NotFound(_))));
        assert!(matches!(set_face(&conn, "RCV", SKU, 1, 5, 1), Err(StoreError::Invalid(_))));
        set_face(&conn, "A-01-01", SKU, 10, 30, 1).expect("face");
        let r = list(&conn, true, 10).expect("refills").remove(0);
        assert_eq!((r.from.as_str(), r.qty), ("R-01-01", 24));
        let out = crate::store::moves::Move { from: "R-01-01".into(), to: "R-02-01".into(), sku: SKU.into(), lot: None, qty: 17, suggested: None, reason: None, by: "sam".into() };
        assert!(matches!(crate::store::moves::move_stock(&conn, &out, 2), Err(StoreError::InsufficientStock(_))), "the refill's 24 of 40 are claimed");
        assert!(matches!(remove_face(&conn, "A-01-01"), Err(StoreError::Conflict(_))), "not while a refill is on its way");
    }
}
