//! Fulfilment on the floor: release (allocation by the strategy rules), pick tasks with
//! suggested locations, scan-confirmed picks (location, item, and a cart's tote: the lifecycle
//! is `tote_shared::pick`), short picks, moving picks off stock that went away, cancels.
//! Packing and shipping are in `packing`, waves and carts in `waves`.

use super::freezes::frozen;
use super::outbox::emit;
use super::stock::{change, qty_at, Why};
use super::{StoreError, StoreResult};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use tote_shared::pick::{self, Codes, Effect, FulfilmentEvent, FulfilmentState, Refusal, TaskState};
use tote_shared::strategy::{Method, Profile, Rules};
use tote_shared::sync::{AdjustReason, EdgeEventKind, OrderLine, ShipTo, ShipVia};
use tote_shared::{LocationCode, Sku};

pub const OUTBOUND: &str = "OUT";

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PickTaskView {
    pub id: u64,
    pub order_id: u64,
    pub sku: String,
    pub gtin: String,
    /// Where to go: scan this location's barcode first.
    pub location: String,
    pub lot: String,
    pub qty: i64,
    pub qty_picked: i64,
    /// `open` (go to the location), `located` (scan items), `done`, `cancelled`.
    pub state: String,
    /// How it is picked: `station` (a robot brings the pod), `discrete` (a picker walks to it).
    pub method: String,
    /// Its pick face does not hold its units yet: a refill from reserve is on its way.
    pub waiting: bool,
    /// The wave's cart batch it is picked in (batch and cluster methods), once planned.
    pub batch_id: Option<u64>,
    /// The tote its units go into on that cart, once the picker has put totes on the cart.
    pub tote: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ScanOutcome {
    pub task: PickTaskView,
    /// What the worker should do next, in plain words.
    pub message: String,
    pub order_state: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FulfilmentLineView {
    pub sku: String,
    pub qty: i64,
    pub qty_picked: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FulfilmentView {
    pub order_id: u64,
    pub state: String,
    pub ship_to: ShipTo,
    pub lines: Vec<FulfilmentLineView>,
    pub tasks: Vec<PickTaskView>,
    pub tracking_number: Option<String>,
    pub carrier: Option<String>,
    /// The carrier service HQ chose at release; None: the packer names the carrier.
    pub ship_via: Option<ShipVia>,
}

/// Creates the fulfilment and its pick tasks, or fails it at once when the stock is not
/// free here (central then re-routes the order). `rules` say which stock each line is taken
/// from (pods first for goods-to-person) and how its shelf lines are picked.
pub fn release(conn: &Connection, rules: &Rules, order_id: u64, lines: &[OrderLine], ship_to: &ShipTo, ship_via: Option<&ShipVia>, now_ms: i64) -> StoreResult<()> {
    let existing: Option<String> = conn
        .prepare_cached("SELECT state FROM fulfilment WHERE order_id = ?1")?
        .query_row([order_id as i64], |r| r.get(0))
        .optional()?;
    let ship_to_json = serde_json::to_string(ship_to).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let quantities: Vec<i64> = lines.iter().map(|l| l.qty.as_i64()).collect();
    let bulky = any_bulky(conn, rules, lines)?;
    let method = rules.method(Profile::of_order(&quantities, bulky)).as_str();
    // The fulfilment keeps the order's shape; bulkiness is its own column.
    let profile = Profile::of_order(&quantities, false);
    let (carrier, service) = (ship_via.map(|v| &v.carrier), ship_via.map(|v| &v.service));
    match existing.as_deref() {
        None => {
            conn.prepare_cached(
                "INSERT INTO fulfilment (order_id, state, ship_to, created_ms, updated_ms, ship_carrier, ship_service, profile, method, bulky)
                 VALUES (?1, 'picking', ?2, ?3, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![order_id as i64, ship_to_json, now_ms, carrier, service, profile.as_str(), method, bulky])?;
        }
        // Re-routed back here after an earlier failure or cancel: start again.
        Some("failed" | "cancelled") => {
            conn.prepare_cached(
                "UPDATE fulfilment SET state = 'picking', ship_to = ?2, updated_ms = ?3, ship_carrier = ?4, ship_service = ?5, profile = ?6, method = ?7,
                     wave_id = NULL, bulky = ?8
                 WHERE order_id = ?1",
            )?
            .execute(params![order_id as i64, ship_to_json, now_ms, carrier, service, profile.as_str(), method, bulky])?;
            conn.prepare_cached("DELETE FROM fulfilment_line WHERE order_id = ?1")?.execute([order_id as i64])?;
        }
        Some(state) => {
            tracing::warn!(order_id, state, "fulfil command for an order already in progress; ignored");
            return Ok(());
        }
    }
    conn.execute_batch("SAVEPOINT allocate")?;
    match allocate(conn, rules.pods_first(), order_id, lines, now_ms) {
        Ok(()) => conn.execute_batch("RELEASE allocate")?,
        Err(StoreError::InsufficientStock(why)) => {
            conn.execute_batch("ROLLBACK TO allocate; RELEASE allocate")?;
            set_state(conn, order_id, "failed", now_ms)?;
            let sku = lines.first().map(|l| l.sku.clone()).ok_or_else(|| StoreError::Invalid("empty order".into()))?;
            emit(conn, EdgeEventKind::FulfilmentFailed { order_id, sku, reason: why }, now_ms)?;
        }
        Err(other) => {
            conn.execute_batch("ROLLBACK TO allocate; RELEASE allocate")?;
            return Err(other);
        }
    }
    Ok(())
}

/// Whether any of the lines' items is bulky by the catalog's shipping size.
fn any_bulky(conn: &Connection, rules: &Rules, lines: &[OrderLine]) -> StoreResult<bool> {
    let limits = rules.bulky();
    for line in lines {
        let size: Option<(Option<u32>, Option<u32>)> = conn
            .prepare_cached("SELECT weight_g, longest_mm FROM sku WHERE sku = ?1")?
            .query_row([line.sku.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        if size.is_some_and(|(weight, longest)| limits.is_bulky(weight, longest)) {
            return Ok(true);
        }
    }
    Ok(false)
}

fn allocate(conn: &Connection, pods_first: bool, order_id: u64, lines: &[OrderLine], now_ms: i64) -> StoreResult<()> {
    let shelf_method = shelf_method(conn, order_id)?;
    for line in lines {
        conn.prepare_cached("INSERT INTO fulfilment_line (order_id, sku, qty) VALUES (?1, ?2, ?3)")?
            .execute(params![order_id as i64, line.sku.as_str(), line.qty.as_i64()])?;
        let mut remaining = line.qty.as_i64();
        for stock in free_stock(conn, line.sku.as_str(), None, pods_first)? {
            if remaining == 0 {
                break;
            }
            let take = stock.free.min(remaining);
            let method = Method::of_task(stock.on_pod, shelf_method);
            insert_task(conn, order_id, line.sku.as_str(), &stock.location, &stock.lot, take, method, now_ms)?;
            remaining -= take;
        }
        if remaining > 0 {
            remaining = super::replenish::cover_shortfall(conn, order_id, line.sku.as_str(), remaining, shelf_method, now_ms)?;
        }
        super::replenish::check(conn, line.sku.as_str(), now_ms)?;
        if remaining > 0 {
            return Err(StoreError::InsufficientStock(format!("{} more of {} than is free here", remaining, line.sku)));
        }
    }
    Ok(())
}

/// Stock of a SKU in one bin that no open task has claimed yet.
struct FreeStock {
    location: String,
    lot: String,
    free: i64,
    on_pod: bool,
}

/// The method a fulfilment's shelf lines are picked by (decided at release).
fn shelf_method(conn: &Connection, order_id: u64) -> StoreResult<Method> {
    let text: String = conn.prepare_cached("SELECT method FROM fulfilment WHERE order_id = ?1")?.query_row([order_id as i64], |r| r.get(0))?;
    Method::parse(&text).ok_or_else(|| StoreError::Corrupt(format!("order {order_id} has pick method {text:?}")))
}

/// A new open task for `qty` of `sku` at `location`, picked by `method` (a station's for a bin
/// on a pod, the order's shelf method otherwise).
#[allow(clippy::too_many_arguments)] // one row's columns
pub(super) fn insert_task(conn: &Connection, order_id: u64, sku: &str, location: &str, lot: &str, qty: i64, method: Method, now_ms: i64) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO pick_task (order_id, sku, location, lot, qty, state, created_ms, updated_ms, method)
         VALUES (?1, ?2, ?3, ?4, ?5, 'open', ?6, ?6, ?7)",
    )?
    .execute(params![order_id as i64, sku, location, lot, qty, now_ms, method.as_str()])?;
    Ok(())
}

/// A SKU's free stock in storage bins: stock minus what open tasks will take. A SKU with pick
/// faces is picked from its faces (and pods) only: its other shelf bins are reserve, reaching
/// pickers through refills. First expiry first out for lot-tracked stock; then bins on pods
/// first when `pods_first` (goods-to-person: the robots bring them), else shelves first; then
/// largest first, so an order line needs as few trips as possible.
fn free_stock(conn: &Connection, sku: &str, except: Option<&str>, pods_first: bool) -> StoreResult<Vec<FreeStock>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT s.location, s.lot, s.qty - COALESCE((
             SELECT SUM(t.qty - t.qty_picked) FROM pick_task t
             WHERE t.state IN ('open', 'located') AND t.location = s.location AND t.sku = s.sku AND t.lot = s.lot), 0) AS free,
             l.pod IS NOT NULL
         FROM stock s JOIN location l ON l.code = s.location AND l.kind = 'bin'
         LEFT JOIN lot ON lot.sku = s.sku AND lot.lot = s.lot
         LEFT JOIN pod p ON p.id = l.pod
         WHERE s.sku = ?1 AND (?2 IS NULL OR s.location <> ?2) AND s.qty > 0
           AND (p.place IS NULL OR p.place <> 'stranded') AND s.location <> ?3 AND NOT {}
           AND (l.pod IS NOT NULL OR s.location = ?4
                OR EXISTS (SELECT 1 FROM pick_face f WHERE f.location = s.location AND f.sku = s.sku)
                OR NOT EXISTS (SELECT 1 FROM pick_face f WHERE f.sku = s.sku))
         ORDER BY lot.expiry IS NULL, lot.expiry, s.location = ?4, (l.pod IS NULL) = ?5, free DESC, s.location, s.lot",
        frozen("s")
    ))?;
    // Goods held by QC are never picked; goods still on the receiving dock only when no bin
    // has them (same expiry first).
    let rows = stmt.query_map(params![sku, except, super::moves::QC_HOLD, super::moves::RECEIVING, pods_first], |r| {
        Ok(FreeStock { location: r.get(0)?, lot: r.get(1)?, free: r.get(2)?, on_pod: r.get(3)? })
    })?;
    let mut out = Vec::new();
    for row in rows {
        let row = row?;
        if row.free > 0 {
            out.push(row);
        }
    }
    Ok(out)
}

pub(super) fn set_state(conn: &Connection, order_id: u64, state: &str, now_ms: i64) -> StoreResult<()> {
    conn.prepare_cached("UPDATE fulfilment SET state = ?2, updated_ms = ?3 WHERE order_id = ?1")?
        .execute(params![order_id as i64, state, now_ms])?;
    Ok(())
}

pub(super) fn order_state(conn: &Connection, order_id: u64) -> StoreResult<String> {
    conn.prepare_cached("SELECT state FROM fulfilment WHERE order_id = ?1")?
        .query_row([order_id as i64], |r| r.get(0))
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("order {order_id} at this warehouse")))
}

/// A live task waits when the tasks at its bin up to it (oldest first) want more than the bin
/// holds: its units are on a refill's way.
pub(super) const TASK_COLUMNS: &str = "t.id, t.order_id, t.sku, s.gtin, t.location, t.lot, t.qty, t.qty_picked, t.state, t.method,
    t.state IN ('open', 'located') AND (SELECT SUM(o.qty - o.qty_picked) FROM pick_task o
        WHERE o.location = t.location AND o.sku = t.sku AND o.lot = t.lot AND o.state IN ('open', 'located') AND o.id <= t.id)
      > COALESCE((SELECT q.qty FROM stock q WHERE q.location = t.location AND q.sku = t.sku AND q.lot = t.lot), 0) AS waiting,
    t.batch_id, (SELECT bt.tote FROM batch_tote bt WHERE bt.batch_id = t.batch_id AND (bt.order_id = t.order_id OR bt.order_id IS NULL)) AS tote";

pub(super) fn row_to_task(r: &rusqlite::Row<'_>) -> rusqlite::Result<PickTaskView> {
    Ok(PickTaskView {
        id: r.get::<_, i64>(0)? as u64,
        order_id: r.get::<_, i64>(1)? as u64,
        sku: r.get(2)?,
        gtin: r.get(3)?,
        location: r.get(4)?,
        lot: r.get(5)?,
        qty: r.get(6)?,
        qty_picked: r.get(7)?,
        state: r.get(8)?,
        method: r.get(9)?,
        waiting: r.get(10)?,
        batch_id: r.get::<_, Option<i64>>(11)?.map(|b| b as u64),
        tote: r.get(12)?,
    })
}

pub(super) fn task(conn: &Connection, id: u64) -> StoreResult<PickTaskView> {
    conn.prepare_cached(&format!("SELECT {TASK_COLUMNS} FROM pick_task t JOIN sku s ON s.sku = t.sku WHERE t.id = ?1"))?
        .query_row([id as i64], row_to_task)
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("pick task {id}")))
}

/// Tasks in `state` (default: still to do), of one `method` when named: those that can be
/// picked now first, then those waiting for a refill; oldest first within each.
pub fn tasks(conn: &Connection, state: Option<&str>, method: Option<Method>, limit: u32) -> StoreResult<Vec<PickTaskView>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {TASK_COLUMNS} FROM pick_task t JOIN sku s ON s.sku = t.sku
         WHERE ((?1 IS NULL AND t.state IN ('open', 'located')) OR t.state = ?1) AND (?3 IS NULL OR t.method = ?3)
         ORDER BY waiting, t.id LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![state, limit, method.map(Method::as_str)], row_to_task)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Who picks: the signed-in worker (None at a PLC's confirm button) and the goods-to-person
/// station it happens at, if any. Kept on the task when it is done, for the KPIs.
#[derive(Debug, Clone, Default)]
pub struct Picker {
    pub worker: Option<String>,
    pub station: Option<String>,
}

/// One scan on a pick task. First the location barcode, then the item's GTIN (each item
/// scan picks `qty` units, default 1). A wrong scan changes nothing and says what was expected.
/// A task on a cart is scanned through its batch (`waves::scan`), which knows its tote.
pub fn scan(conn: &Connection, task_id: u64, code: &str, qty: u32, by: &Picker, now_ms: i64) -> StoreResult<ScanOutcome> {
    let t = task(conn, task_id)?;
    if let Some(batch) = t.batch_id {
        return Err(StoreError::Conflict(format!("pick task {task_id} is on cart batch {batch}: scan it through the batch, which knows its tote")));
    }
    if Method::parse(&t.method).is_some_and(Method::on_cart) {
        return Err(StoreError::Conflict(format!("pick task {task_id} is picked on a cart in a wave ({}): it waits for the next wave", t.method)));
    }
    apply_scan(conn, t, code, i64::from(qty), by, now_ms)
}

/// A scan on a live task of a picking order, by the pick lifecycle: moves the units and
/// records the step, finishing the order when it was its last task.
pub(super) fn apply_scan(conn: &Connection, mut t: PickTaskView, code: &str, qty: i64, by: &Picker, now_ms: i64) -> StoreResult<ScanOutcome> {
    let state = order_state(conn, t.order_id)?;
    if state != "picking" {
        return Err(StoreError::Conflict(format!("order {} is {state}; nothing to pick", t.order_id)));
    }
    if t.state == "open" && t.waiting {
        return Err(StoreError::Conflict(format!(
            "pick task {} waits for {} to be refilled from reserve: take another task (or do the refill)",
            t.id, t.location
        )));
    }
    let life = lifecycle(&t)?;
    let codes = Codes { location: &t.location, gtin: &t.gtin, tote: t.tote.as_deref() };
    let (effect, next) = life.scan(codes, code, qty).map_err(|refusal| refused(refusal, &t))?;
    if let Effect::Picked { qty } = effect {
        let reference = format!("order:{}", t.order_id);
        let why = Why { reason: "pick", reference: &reference, at_ms: now_ms };
        change(conn, &t.location, &t.sku, &t.lot, -qty, &why)?;
        change(conn, OUTBOUND, &t.sku, &t.lot, qty, &why)?;
    }
    t.qty_picked = next.picked;
    t.state = next.state.as_str().to_owned();
    conn.prepare_cached(
        "UPDATE pick_task SET qty_picked = ?2, state = ?3, updated_ms = ?4,
             picked_by = COALESCE(?5, picked_by), station = COALESCE(?6, station), picked_ms = CASE WHEN ?3 = 'done' THEN ?4 END
         WHERE id = ?1",
    )?
    .execute(params![t.id as i64, t.qty_picked, t.state, now_ms, by.worker, by.station])?;
    let order_state = if next.state == TaskState::Done { finish_order_if_picked(conn, t.order_id, now_ms)? } else { FulfilmentState::Picking };
    let message = match (effect, next.expect(), order_state) {
        (Effect::Located, _, _) => format!("At {}: scan {} × {} ({})", t.location, t.qty - t.qty_picked, t.sku, t.gtin),
        (_, pick::Expect::Tote, _) => format!("Put {} × {} into tote {}: scan the tote", t.qty_picked, t.sku, t.tote.as_deref().unwrap_or("?")),
        (_, pick::Expect::Item, _) => format!("Picked {} of {}: scan the next item", t.qty_picked, t.qty),
        (_, _, FulfilmentState::Picked) => format!("Order {} fully picked: take it to packing", t.order_id),
        _ => "Task done: next task".to_owned(),
    };
    Ok(ScanOutcome { task: t, message, order_state: order_state.as_str().to_owned() })
}

/// A stored task as the lifecycle sees it.
fn lifecycle(t: &PickTaskView) -> StoreResult<pick::Task> {
    let state = TaskState::parse(&t.state).ok_or_else(|| StoreError::Corrupt(format!("pick task {} is in state {:?}", t.id, t.state)))?;
    Ok(pick::Task { state, qty: t.qty, picked: t.qty_picked, into_tote: t.batch_id.is_some() })
}

fn refused(refusal: Refusal, t: &PickTaskView) -> StoreError {
    match refusal {
        Refusal::WrongScan { what: "item", scanned, .. } => StoreError::WrongScan { what: "item", expected: format!("{} ({})", t.gtin, t.sku), scanned },
        Refusal::WrongScan { what, expected, scanned } => StoreError::WrongScan { what, expected, scanned },
        Refusal::Quantity { .. } => StoreError::Invalid(refusal.to_string()),
        Refusal::Finished(_) => StoreError::Conflict(format!("pick task {} is {}", t.id, t.state)),
    }
}

/// The order's last live task just finished: it is picked (and central told).
fn finish_order_if_picked(conn: &Connection, order_id: u64, now_ms: i64) -> StoreResult<FulfilmentState> {
    let unfinished: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM pick_task WHERE order_id = ?1 AND state IN ('open', 'located')")?
        .query_row([order_id as i64], |r| r.get(0))?;
    if unfinished > 0 {
        return Ok(FulfilmentState::Picking);
    }
    let picked = FulfilmentState::Picking.after(FulfilmentEvent::AllPicked).ok_or_else(|| StoreError::Corrupt("picking cannot finish".into()))?;
    set_state(conn, order_id, picked.as_str(), now_ms)?;
    emit(conn, EdgeEventKind::OrderPicked { order_id }, now_ms)?;
    Ok(picked)
}

/// The station's confirm button, pressed while the light showed `qty` for this task: the whole
/// rest of the task is picked from the lit bin. Anything else (the task moved on, a different
/// quantity is left) is a conflict and changes nothing.
pub fn confirm_lit(conn: &Connection, task_id: u64, qty: u32, station: &str, now_ms: i64) -> StoreResult<ScanOutcome> {
    let mut t = task(conn, task_id)?;
    let state = order_state(conn, t.order_id)?;
    if state != "picking" || !matches!(t.state.as_str(), "open" | "located") {
        return Err(StoreError::Conflict(format!("pick task {task_id} is {} (order {state}); the light was stale", t.state)));
    }
    let remaining = t.qty - t.qty_picked;
    if remaining != i64::from(qty) {
        return Err(StoreError::Conflict(format!("the light showed {qty} but {remaining} are left on pick task {task_id}")));
    }
    // The lit bin is the location: the button confirms both.
    t.state = "located".into();
    let gtin = t.gtin.clone();
    apply_scan(conn, t, &gtin, remaining, &Picker { worker: None, station: Some(station.to_owned()) }, now_ms)
}

/// The picker found only `found` units at the task's location. Stock there is corrected
/// (and central told); the rest is sought elsewhere in this warehouse, and if there is none
/// the fulfilment fails so central can re-route the order.
pub fn short_pick(conn: &Connection, task_id: u64, found: i64, reason: Option<&str>, now_ms: i64) -> StoreResult<ScanOutcome> {
    let mut t = task(conn, task_id)?;
    if !matches!(t.state.as_str(), "open" | "located") {
        return Err(StoreError::Conflict(format!("pick task {task_id} is {}", t.state)));
    }
    let state = order_state(conn, t.order_id)?;
    if state != "picking" {
        return Err(StoreError::Conflict(format!("order {} is {state}; nothing to pick", t.order_id)));
    }
    let remaining = t.qty - t.qty_picked;
    if remaining == 0 {
        return Err(StoreError::Conflict(format!("pick task {task_id}'s units are all taken: scan the tote they go into")));
    }
    let system_qty = qty_at(conn, &t.location, &t.sku, &t.lot)?;
    if found < 0 || found >= remaining {
        return Err(StoreError::Invalid(format!("found must be between 0 and {} for a short pick", remaining - 1)));
    }
    if found > system_qty {
        return Err(StoreError::Invalid(format!("the system holds {system_qty} here; use a count to add found stock")));
    }
    let location = LocationCode::parse(&t.location).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let sku = Sku::parse(&t.sku).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let delta = found - system_qty;
    if delta < 0 {
        let seq = emit(conn, EdgeEventKind::StockAdjusted { sku: sku.clone(), delta, reason: AdjustReason::ShortPick, location }, now_ms)?;
        let reference = match reason {
            Some(why) => format!("event:{seq} reason:{why}"),
            None => format!("event:{seq}"),
        };
        change(conn, &t.location, &t.sku, &t.lot, delta, &Why { reason: "short_pick", reference: &reference, at_ms: now_ms })?;
    }
    // Keep what can be picked here; look elsewhere for the rest.
    let missing = remaining - found;
    let keep = t.qty_picked + found;
    let why = match reason {
        Some(r) => format!("short pick: {missing} of {} missing at {} ({r})", t.sku, t.location),
        None => format!("short pick: {missing} of {} missing at {}", t.sku, t.location),
    };
    let moved = reassign_or_fail(conn, &mut t, missing, keep, why, now_ms)?;
    // Other tasks at this bin may now want more than is left too, and its face may need a refill.
    rebalance(conn, &t.location, &t.sku, &t.lot, now_ms)?;
    super::replenish::check(conn, &t.sku, now_ms)?;
    match moved {
        Some(location) => {
            let message = format!("Short pick recorded; {missing} more to pick from {location}");
            Ok(ScanOutcome { task: t, message, order_state: state })
        }
        None => {
            let t = task(conn, task_id)?;
            let message = format!("No more {} in this warehouse: order {} goes back to HQ for re-routing", t.sku, t.order_id);
            Ok(ScanOutcome { message, task: t, order_state: "failed".into() })
        }
    }
}

/// Moves `missing` units of task `t` to another bin with free stock, keeping `keep` units on
/// `t`. When no bin has them, the whole order fails (its picked goods go back) so central can
/// re-route it. Returns the new location, or None when the order failed.
fn reassign_or_fail(conn: &Connection, t: &mut PickTaskView, missing: i64, keep: i64, reason: String, now_ms: i64) -> StoreResult<Option<String>> {
    // Every unit already taken (a cart's units in hand wait for their tote): nothing moves.
    if missing == 0 {
        return Ok(Some(t.location.clone()));
    }
    // The picker (or station) that came up short is already busy with this order: the rest
    // comes from shelves first, where it needs no robot trip.
    let elsewhere = free_stock(conn, &t.sku, Some(&t.location), false)?.into_iter().find(|s| s.free >= missing);
    let shelf_method = shelf_method(conn, t.order_id)?;
    let newest: i64 = conn.prepare_cached("SELECT COALESCE(MAX(id), 0) FROM pick_task")?.query_row([], |r| r.get(0))?;
    if let Some(stock) = elsewhere {
        let method = Method::of_task(stock.on_pod, shelf_method);
        insert_task(conn, t.order_id, &t.sku, &stock.location, &stock.lot, missing, method, now_ms)?;
        super::waves::place_rest(conn, t, newest)?;
        shrink_task(conn, t, keep, now_ms)?;
        // The rest may have left a cart (to a pod): its batch may be finished.
        super::waves::settle_order(conn, t.order_id, now_ms)?;
        return Ok(Some(stock.location));
    }
    // Reserve can still fill a pick face for it: the new pick waits for that refill.
    if super::replenish::cover_shortfall(conn, t.order_id, &t.sku, missing, shelf_method, now_ms)? == 0 {
        super::waves::place_rest(conn, t, newest)?;
        shrink_task(conn, t, keep, now_ms)?;
        super::waves::settle_order(conn, t.order_id, now_ms)?;
        let face: String = conn.prepare_cached("SELECT location FROM pick_task WHERE order_id = ?1 ORDER BY id DESC LIMIT 1")?.query_row([t.order_id as i64], |r| r.get(0))?;
        return Ok(Some(face));
    }
    let sku = Sku::parse(&t.sku).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    fail_order(conn, t.order_id, sku, reason, now_ms)?;
    Ok(None)
}

/// After stock at a bin went down (count, damage), open tasks there may want more than is
/// left. The newest ones move to other bins, or their orders fail back to central — a count
/// variance re-routes orders instead of leaving pickers to find an empty shelf.
pub fn rebalance(conn: &Connection, location: &str, sku: &str, lot: &str, now_ms: i64) -> StoreResult<()> {
    // Picks on a pick face may wait for a refill on its way: they count on it.
    let stock = qty_at(conn, location, sku, lot)? + super::replenish::incoming(conn, location, sku, lot)?;
    let ids: Vec<i64> = conn
        .prepare_cached(
            "SELECT id FROM pick_task WHERE location = ?1 AND sku = ?2 AND lot = ?3 AND state IN ('open', 'located') ORDER BY id DESC",
        )?
        .query_map(params![location, sku, lot], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut reserved = 0;
    let mut tasks = Vec::new();
    for id in ids {
        let t = task(conn, id as u64)?;
        reserved += t.qty - t.qty_picked;
        tasks.push(t);
    }
    for mut t in tasks {
        if reserved <= stock {
            break;
        }
        // An earlier failure in this loop may have closed this task with its order.
        if !matches!(task(conn, t.id)?.state.as_str(), "open" | "located") {
            continue;
        }
        let remaining = t.qty - t.qty_picked;
        let why = format!("count variance: {sku} at {location} holds {stock}, tasks need {reserved}");
        let keep = t.qty_picked;
        reassign_or_fail(conn, &mut t, remaining, keep, why, now_ms)?;
        reserved -= remaining;
    }
    Ok(())
}

/// After a freeze: open picks on frozen stock move to other stock, or their orders fail back
/// to central for re-routing. Units already picked stay picked.
pub fn move_picks_off_frozen_stock(conn: &Connection, why: &str, now_ms: i64) -> StoreResult<u32> {
    let ids: Vec<i64> = conn
        .prepare_cached(&format!(
            "SELECT t.id FROM pick_task t WHERE t.state IN ('open', 'located') AND {} ORDER BY t.id",
            frozen("t")
        ))?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut moved = 0;
    for id in ids {
        let mut t = task(conn, id as u64)?;
        // An earlier failure in this loop may have closed this task with its order.
        if !matches!(t.state.as_str(), "open" | "located") {
            continue;
        }
        let (remaining, keep) = (t.qty - t.qty_picked, t.qty_picked);
        reassign_or_fail(conn, &mut t, remaining, keep, why.to_owned(), now_ms)?;
        moved += 1;
    }
    Ok(moved)
}

/// Open pick tasks on a pod's bins, oldest first (what the station worker picks).
pub fn tasks_on_pod(conn: &Connection, pod: &str) -> StoreResult<Vec<PickTaskView>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {TASK_COLUMNS} FROM pick_task t JOIN sku s ON s.sku = t.sku JOIN location l ON l.code = t.location
         JOIN fulfilment f ON f.order_id = t.order_id
         WHERE l.pod = ?1 AND t.state IN ('open', 'located') AND f.state = 'picking' ORDER BY t.id"
    ))?;
    let rows = stmt.query_map([pod], row_to_task)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The pod is out of reach (its robot left service): its open tasks move to stock on other
/// pods or bins, and orders with no other stock fail back to central for re-routing.
pub fn evacuate_pod(conn: &Connection, pod: &str, now_ms: i64) -> StoreResult<u32> {
    let mut moved = 0;
    for mut t in tasks_on_pod(conn, pod)? {
        // An earlier failure in this loop may have closed this task with its order.
        if !matches!(task(conn, t.id)?.state.as_str(), "open" | "located") {
            continue;
        }
        let remaining = t.qty - t.qty_picked;
        let keep = t.qty_picked;
        let why = format!("pod {pod} is stranded on a robot out of service");
        reassign_or_fail(conn, &mut t, remaining, keep, why, now_ms)?;
        moved += 1;
    }
    Ok(moved)
}

/// Lowers the task to what stays picked here (or cancels it when that is nothing).
fn shrink_task(conn: &Connection, t: &mut PickTaskView, keep: i64, now_ms: i64) -> StoreResult<()> {
    let next = lifecycle(t)?.shrink(keep);
    t.qty = next.qty;
    t.state = next.state.as_str().to_owned();
    conn.prepare_cached(
        "UPDATE pick_task SET qty = ?2, state = ?3, updated_ms = ?4, picked_ms = CASE WHEN ?3 = 'done' THEN ?4 ELSE picked_ms END WHERE id = ?1",
    )?
    .execute(params![t.id as i64, t.qty, t.state, now_ms])?;
    if next.state == TaskState::Done {
        finish_order_if_picked(conn, t.order_id, now_ms)?;
    }
    Ok(())
}

/// Puts every picked unit of the order back where it came from and closes its tasks.
fn put_back(conn: &Connection, order_id: u64, reason: &str, now_ms: i64) -> StoreResult<()> {
    let picked: Vec<(i64, String, String, String, i64)> = conn
        .prepare_cached("SELECT id, sku, location, lot, qty_picked FROM pick_task WHERE order_id = ?1 AND state <> 'cancelled'")?
        .query_map([order_id as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?
        .collect::<Result<_, _>>()?;
    let reference = format!("order:{order_id}");
    let why = Why { reason, reference: &reference, at_ms: now_ms };
    for (id, sku, location, lot, qty_picked) in picked {
        if qty_picked > 0 {
            change(conn, OUTBOUND, &sku, &lot, -qty_picked, &why)?;
            change(conn, &location, &sku, &lot, qty_picked, &why)?;
        }
        conn.prepare_cached("UPDATE pick_task SET state = 'cancelled', updated_ms = ?2 WHERE id = ?1")?.execute(params![id, now_ms])?;
    }
    Ok(())
}

fn fail_order(conn: &Connection, order_id: u64, sku: Sku, reason: String, now_ms: i64) -> StoreResult<()> {
    put_back(conn, order_id, "putback_failed", now_ms)?;
    set_state(conn, order_id, "failed", now_ms)?;
    emit(conn, EdgeEventKind::FulfilmentFailed { order_id, sku, reason }, now_ms)?;
    super::waves::settle_order(conn, order_id, now_ms)?;
    Ok(())
}

/// Central cancelled the order. Before shipment: stop and put goods back. After: nothing
/// to do here (central sees the shipment and hands over to after-sales).
pub fn cancel(conn: &Connection, order_id: u64, now_ms: i64) -> StoreResult<()> {
    let state = match order_state(conn, order_id) {
        Ok(state) => state,
        Err(StoreError::NotFound(_)) => {
            tracing::warn!(order_id, "cancel for an order this warehouse never had");
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    if FulfilmentState::parse(&state).is_some_and(FulfilmentState::holds_goods) {
        put_back(conn, order_id, "putback_cancelled", now_ms)?;
        set_state(conn, order_id, "cancelled", now_ms)?;
        emit(conn, EdgeEventKind::CancelConfirmed { order_id }, now_ms)?;
        super::waves::settle_order(conn, order_id, now_ms)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::packing::fulfilment;
    use crate::store::stock::{change, Why};
    use tote_shared::Qty;
    use tote_shared::strategy::Rule;
    use tote_shared::sync::{OrderLine, ShipTo};

    const SKU: &str = "PEG39-M-WHT-43";

    /// 30 units on shelf A-01-01 and 10 on pod P0001's bin P0001-A1.
    fn floor() -> Connection {
        let conn = crate::store::schema::memory_db();
        conn.execute("INSERT INTO sku (sku, gtin, name) VALUES (?1, '00194502876550', 'Pegasus 43')", [SKU]).expect("sku");
        conn.execute("INSERT INTO pod (id, place, spot_x, spot_y, updated_ms) VALUES ('P0001', 'stored', 3, 4, 0)", []).expect("pod");
        conn.execute("INSERT INTO location (code, kind, created_ms) VALUES ('A-01-01', 'bin', 0)", []).expect("shelf");
        conn.execute("INSERT INTO location (code, kind, created_ms, pod) VALUES ('P0001-A1', 'bin', 0, 'P0001')", []).expect("pod bin");
        let why = Why { reason: "receipt", reference: "test", at_ms: 1 };
        change(&conn, "A-01-01", SKU, "", 30, &why).expect("shelf stock");
        change(&conn, "P0001-A1", SKU, "", 10, &why).expect("pod stock");
        conn
    }

    fn order(conn: &Connection, rules: &Rules, id: u64, quantities: &[i64]) -> Vec<(String, i64, String)> {
        let to = ShipTo { name: "Li Wei".into(), line1: "88 Century Avenue".into(), city: "Shanghai".into(), postcode: "200120".into(), phone: String::new() };
        // One SKU per line would repeat it; the profile only looks at the quantities.
        let lines: Vec<OrderLine> = quantities.iter().map(|q| OrderLine { sku: Sku::parse(SKU).expect("sku"), qty: Qty::parse(*q).expect("qty") }).collect();
        release(conn, rules, id, &lines, &to, None, 10).expect("release");
        fulfilment(conn, id).expect("fulfilment").tasks.into_iter().map(|t| (t.location, t.qty, t.method)).collect()
    }

    fn rules(gtp: Method, single: Method) -> Rules {
        Rules::new(vec![Rule { profile: Profile::GoodsToPerson, method: gtp }, Rule { profile: Profile::SingleUnit, method: single }]).expect("rules")
    }

    #[test]
    fn goods_to_person_skus_are_taken_from_pods_first_and_picked_at_a_station() {
        let conn = floor();
        let rules = rules(Method::Station, Method::Discrete);
        assert_eq!(order(&conn, &rules, 1, &[1]), [("P0001-A1".into(), 1, "station".into())], "the pod's bin, though the shelf holds more");
        assert_eq!(
            order(&conn, &rules, 2, &[12]),
            [("P0001-A1".into(), 9, "station".into()), ("A-01-01".into(), 3, "discrete".into())],
            "what the pod cannot give comes from the shelf, picked by hand"
        );
        let profile: String = conn.query_row("SELECT profile FROM fulfilment WHERE order_id = 2", [], |r| r.get(0)).expect("profile");
        assert_eq!(profile, "multi_line");
        assert_eq!(tasks(&conn, None, Some(Method::Discrete), 10).expect("discrete").len(), 1, "the handheld sees only the shelf task");
        assert_eq!(tasks(&conn, None, Some(Method::Station), 10).expect("station").len(), 2);
    }

    #[test]
    fn without_a_station_rule_the_shelves_come_first_and_pods_only_when_they_run_out() {
        let conn = floor();
        let rules = rules(Method::Discrete, Method::Discrete);
        assert_eq!(order(&conn, &rules, 1, &[1]), [("A-01-01".into(), 1, "discrete".into())]);
        assert_eq!(
            order(&conn, &rules, 2, &[31]),
            [("A-01-01".into(), 29, "discrete".into()), ("P0001-A1".into(), 2, "station".into())],
            "a bin on a pod is picked at a station whatever the rules say"
        );
    }

    #[test]
    fn an_order_with_a_bulky_item_is_picked_one_order_at_a_time_whatever_its_shape() {
        let conn = floor();
        let rules = Rules::new(vec![
            Rule { profile: Profile::GoodsToPerson, method: Method::Discrete },
            Rule { profile: Profile::MultiLine, method: Method::Cluster },
            Rule { profile: Profile::Bulky, method: Method::Discrete },
        ])
        .expect("rules");
        assert_eq!(order(&conn, &rules, 1, &[2]), [("A-01-01".into(), 2, "cluster".into())], "not measured: not bulky");
        conn.execute("UPDATE sku SET weight_g = 22000, longest_mm = 500 WHERE sku = ?1", [SKU]).expect("measured");
        assert_eq!(order(&conn, &rules, 2, &[2]), [("A-01-01".into(), 2, "discrete".into())], "22 kg: bulky");
        let (profile, bulky): (String, bool) = conn.query_row("SELECT profile, bulky FROM fulfilment WHERE order_id = 2", [], |r| Ok((r.get(0)?, r.get(1)?))).expect("row");
        assert_eq!((profile.as_str(), bulky), ("multi_line", true));
        let light = rules.clone().with_bulky(tote_shared::strategy::BulkyLimits { weight_g: 30_000, longest_mm: 800 });
        assert_eq!(order(&conn, &light, 3, &[2]), [("A-01-01".into(), 2, "cluster".into())], "under 30 kg it is not");
    }

    #[test]
    fn a_short_pick_at_a_station_sends_the_rest_to_the_shelves_by_the_orders_method() {
        let conn = floor();
        order(&conn, &Rules::default(), 1, &[2]);
        let task = tasks(&conn, None, Some(Method::Station), 10).expect("tasks").remove(0);
        short_pick(&conn, task.id, 0, Some("empty bin"), 20).expect("short");
        let open: Vec<(String, i64, String)> = tasks(&conn, None, None, 10).expect("open").into_iter().map(|t| (t.location, t.qty, t.method)).collect();
        assert_eq!(open, [("A-01-01".into(), 2, "discrete".into())]);
    }
}
