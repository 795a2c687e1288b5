//! Waves and carts. Orders picked onto carts (the batch and cluster methods) wait in a pool
//! after release; a supervisor plans a wave from it (`tote_shared::wave::plan`: cut-offs first,
//! a line limit, batches by where the picks lie, each batch's walk), then releases, holds or
//! cancels it. A picker starts a released batch by scanning a tote onto each slot of the cart,
//! then scans through the walk: location, item, tote. At packing, a batch tote's single-unit
//! orders are sorted to their cartons one scanned unit at a time.

use super::picking::{apply_scan, row_to_task, PickTaskView, Picker, TASK_COLUMNS};
use super::{StoreError, StoreResult};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use std::collections::HashMap;
use tote_shared::strategy::Method;
use tote_shared::walk::WalkFloor;
use tote_shared::wave::{self, Pick, WaveRules, Waiting};

/// How waves are cut and the shelf floor their walks are planned on.
#[derive(Debug, Clone, PartialEq)]
pub struct WaveSettings {
    pub rules: WaveRules,
    pub floor: WalkFloor,
}

impl Default for WaveSettings {
    fn default() -> WaveSettings {
        WaveSettings { rules: WaveRules::default(), floor: WalkFloor { aisles: 20, bays: 40, aisle_pitch_m: 3.0, bay_m: 1.0, depot_aisle: 1 } }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BatchSummary {
    pub id: u64,
    pub wave_id: u64,
    /// `batch` (single-unit orders into one tote) or `cluster` (a cart of totes, one per order).
    pub method: String,
    /// `open` (waiting for a picker), `started`, `done`, `cancelled`.
    pub state: String,
    pub orders: u32,
    pub tasks: u32,
    pub tasks_done: u32,
    /// The planned walk from packing through every pick and back.
    pub metres: f64,
    pub worker: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WaveView {
    pub id: u64,
    /// `planned`, `released`, `held`, `cancelled`, `done` (every batch picked).
    pub state: String,
    /// The earliest carrier cut-off among its orders (Unix ms); None: no cut-off applies.
    pub cutoff_ms: Option<i64>,
    pub orders: u32,
    pub lines: u32,
    pub orders_shipped: u32,
    pub created_ms: i64,
    pub released_ms: Option<i64>,
    pub done_ms: Option<i64>,
    pub batches: Vec<BatchSummary>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ToteSlot {
    pub slot: u32,
    /// The order whose units go in it; None: a batch tote shared by single-unit orders.
    pub order_id: Option<u64>,
    pub tote: Option<String>,
}

/// Where the picker goes next on a started batch, and which scan it waits for.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NextStop {
    pub task_id: u64,
    pub order_id: u64,
    pub location: String,
    pub sku: String,
    pub gtin: String,
    pub qty_left: i64,
    /// Units taken from the bin and not yet put into the tote.
    pub in_hand: i64,
    pub tote: Option<String>,
    pub slot: Option<u32>,
    /// `location`, `item` or `tote`.
    pub expect: String,
    /// Its pick face waits for a refill: the batch cannot go on until it lands.
    pub waiting: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BatchView {
    pub batch: BatchSummary,
    pub slots: Vec<ToteSlot>,
    /// Its tasks in walk order.
    pub tasks: Vec<PickTaskView>,
    pub next: Option<NextStop>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BatchScanOutcome {
    pub batch: BatchView,
    /// What the picker does next, in plain words.
    pub message: String,
    pub order_id: u64,
    pub order_state: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ToteOrder {
    pub order_id: u64,
    pub state: String,
    /// Units of it in the tote.
    pub units: i64,
    /// Of those, still to sort to its carton (batch totes).
    pub unsorted: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ToteView {
    pub tote: String,
    pub batch_id: u64,
    pub method: String,
    pub orders: Vec<ToteOrder>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SortOutcome {
    pub order_id: u64,
    pub sku: String,
    pub order_state: String,
    /// Units still in the tote to sort.
    pub left_in_tote: i64,
    pub message: String,
}

/// Plans the next wave from the pool of orders waiting for one.
pub fn plan(conn: &Connection, settings: &WaveSettings, now_ms: i64) -> StoreResult<WaveView> {
    let waiting = pool(conn, &settings.floor)?;
    let plan = wave::plan(&settings.floor, &settings.rules, &waiting, now_ms)
        .map_err(|e| StoreError::Invalid(e.to_string()))?
        .ok_or_else(|| StoreError::Conflict("no orders wait for a wave (cart picks of released orders that are in no wave yet)".into()))?;
    let wave_id: i64 = conn
        .prepare_cached("INSERT INTO wave (state, cutoff_ms, orders, lines, created_ms, updated_ms) VALUES ('planned', ?1, ?2, ?3, ?4, ?4) RETURNING id")?
        .query_row(params![plan.cutoff_ms, plan.orders.len() as i64, plan.lines as i64, now_ms], |r| r.get(0))?;
    for batch in &plan.batches {
        let batch_id: i64 = conn
            .prepare_cached("INSERT INTO pick_batch (wave_id, method, state, metres, created_ms) VALUES (?1, ?2, 'open', ?3, ?4) RETURNING id")?
            .query_row(params![wave_id, batch.method.as_str(), batch.metres, now_ms], |r| r.get(0))?;
        let slots: Vec<Option<u64>> = match batch.method {
            Method::Cluster => batch.orders.iter().map(|o| Some(*o)).collect(),
            _ => vec![None],
        };
        for (i, order_id) in slots.iter().enumerate() {
            conn.prepare_cached("INSERT INTO batch_tote (batch_id, slot, order_id) VALUES (?1, ?2, ?3)")?
                .execute(params![batch_id, i as i64 + 1, order_id.map(|o| o as i64)])?;
        }
        for (seq, task_id) in batch.walk.iter().enumerate() {
            conn.prepare_cached("UPDATE pick_task SET batch_id = ?2, seq = ?3 WHERE id = ?1")?.execute(params![*task_id as i64, batch_id, seq as i64 + 1])?;
        }
    }
    for order_id in &plan.orders {
        conn.prepare_cached("UPDATE fulfilment SET wave_id = ?2 WHERE order_id = ?1")?.execute(params![*order_id as i64, wave_id])?;
    }
    wave_view(conn, wave_id as u64)
}

/// Released orders waiting for a wave, with their cart picks and where those lie (a location
/// off the walking floor counts as at packing).
fn pool(conn: &Connection, floor: &WalkFloor) -> StoreResult<Vec<Waiting>> {
    let mut picks: HashMap<u64, Vec<Pick>> = HashMap::new();
    let mut stmt = conn.prepare_cached(
        "SELECT t.id, t.order_id, t.location FROM pick_task t JOIN fulfilment f ON f.order_id = t.order_id
         WHERE f.state = 'picking' AND f.wave_id IS NULL AND t.state = 'open' AND t.batch_id IS NULL AND t.method IN ('batch', 'cluster')
         ORDER BY t.id",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64, r.get::<_, String>(2)?)))?;
    for row in rows {
        let (task, order_id, location) = row?;
        let stop = floor.stop_of(&location).unwrap_or_else(|| floor.depot());
        picks.entry(order_id).or_default().push(Pick { task, stop });
    }
    let mut stmt = conn.prepare_cached(
        "SELECT order_id, method, ship_carrier, ship_service, created_ms FROM fulfilment
         WHERE state = 'picking' AND wave_id IS NULL AND method IN ('batch', 'cluster') ORDER BY order_id",
    )?;
    type Row = (u64, String, Option<String>, Option<String>, i64);
    let rows = stmt.query_map([], |r| -> rusqlite::Result<Row> { Ok((r.get::<_, i64>(0)? as u64, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)) })?;
    let mut out = Vec::new();
    for row in rows {
        let (order_id, method, carrier, service, created_ms) = row?;
        // Every line on a pod: the stations pick it, no wave needed.
        let Some(picks) = picks.remove(&order_id) else { continue };
        let method = Method::parse(&method).ok_or_else(|| StoreError::Corrupt(format!("order {order_id} has method {method:?}")))?;
        out.push(Waiting { order_id, method, carrier, service, created_ms, lines: picks.len(), picks });
    }
    Ok(out)
}

fn wave_state(conn: &Connection, id: u64) -> StoreResult<String> {
    conn.prepare_cached("SELECT state FROM wave WHERE id = ?1")?
        .query_row([id as i64], |r| r.get(0))
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("wave {id}")))
}

/// Supervisor: the wave's batches go to the pickers (a held wave's unstarted ones again).
pub fn release(conn: &Connection, id: u64, now_ms: i64) -> StoreResult<WaveView> {
    match wave_state(conn, id)?.as_str() {
        "planned" | "held" => {
            conn.prepare_cached("UPDATE wave SET state = 'released', released_ms = COALESCE(released_ms, ?2), updated_ms = ?2 WHERE id = ?1")?
                .execute(params![id as i64, now_ms])?;
            settle_wave(conn, id, now_ms)?;
            wave_view(conn, id)
        }
        other => Err(StoreError::Conflict(format!("wave {id} is {other}; only a planned or held wave can be released"))),
    }
}

/// Supervisor: no new cart of this wave starts (carts already out finish their walk).
pub fn hold(conn: &Connection, id: u64, now_ms: i64) -> StoreResult<WaveView> {
    match wave_state(conn, id)?.as_str() {
        "released" => {
            conn.prepare_cached("UPDATE wave SET state = 'held', updated_ms = ?2 WHERE id = ?1")?.execute(params![id as i64, now_ms])?;
            wave_view(conn, id)
        }
        other => Err(StoreError::Conflict(format!("wave {id} is {other}; only a released wave can be held"))),
    }
}

/// Supervisor: the wave is called off before any cart started; its orders go back to the pool
/// and join the next wave planned.
pub fn cancel(conn: &Connection, id: u64, now_ms: i64) -> StoreResult<WaveView> {
    let state = wave_state(conn, id)?;
    if !matches!(state.as_str(), "planned" | "released" | "held") {
        return Err(StoreError::Conflict(format!("wave {id} is {state}")));
    }
    let started: Option<i64> = conn
        .prepare_cached("SELECT id FROM pick_batch WHERE wave_id = ?1 AND started_ms IS NOT NULL LIMIT 1")?
        .query_row([id as i64], |r| r.get(0))
        .optional()?;
    if let Some(batch) = started {
        return Err(StoreError::Conflict(format!("batch {batch} of wave {id} is already on the floor: hold the wave instead, so no new cart starts")));
    }
    let id = id as i64;
    conn.prepare_cached("UPDATE pick_task SET batch_id = NULL, seq = NULL WHERE batch_id IN (SELECT b.id FROM pick_batch b WHERE b.wave_id = ?1)")?.execute([id])?;
    conn.prepare_cached("UPDATE pick_batch SET state = 'cancelled', done_ms = ?2 WHERE wave_id = ?1")?.execute(params![id, now_ms])?;
    conn.prepare_cached("UPDATE fulfilment SET wave_id = NULL WHERE wave_id = ?1")?.execute([id])?;
    conn.prepare_cached("UPDATE wave SET state = 'cancelled', updated_ms = ?2 WHERE id = ?1")?.execute(params![id, now_ms])?;
    wave_view(conn, id as u64)
}

const BATCH_COLUMNS: &str = "b.id, b.wave_id, b.method, b.state, b.metres, b.worker,
    (SELECT COUNT(DISTINCT t.order_id) FROM pick_task t WHERE t.batch_id = b.id),
    (SELECT COUNT(*) FROM pick_task t WHERE t.batch_id = b.id AND t.state <> 'cancelled'),
    (SELECT COUNT(*) FROM pick_task t WHERE t.batch_id = b.id AND t.state = 'done')";

fn row_to_batch(r: &rusqlite::Row<'_>) -> rusqlite::Result<BatchSummary> {
    Ok(BatchSummary {
        id: r.get::<_, i64>(0)? as u64,
        wave_id: r.get::<_, i64>(1)? as u64,
        method: r.get(2)?,
        state: r.get(3)?,
        metres: r.get(4)?,
        worker: r.get(5)?,
        orders: r.get(6)?,
        tasks: r.get(7)?,
        tasks_done: r.get(8)?,
    })
}

pub fn wave_view(conn: &Connection, id: u64) -> StoreResult<WaveView> {
    type Row = (String, Option<i64>, u32, u32, i64, Option<i64>, Option<i64>, u32);
    let (state, cutoff_ms, orders, lines, created_ms, released_ms, done_ms, orders_shipped): Row = conn
        .prepare_cached(
            "SELECT w.state, w.cutoff_ms, w.orders, w.lines, w.created_ms, w.released_ms, w.done_ms,
                 (SELECT COUNT(*) FROM fulfilment f WHERE f.wave_id = w.id AND f.state = 'shipped')
             FROM wave w WHERE w.id = ?1",
        )?
        .query_row([id as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?)))
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("wave {id}")))?;
    let batches = conn
        .prepare_cached(&format!("SELECT {BATCH_COLUMNS} FROM pick_batch b WHERE b.wave_id = ?1 ORDER BY b.id"))?
        .query_map([id as i64], row_to_batch)?
        .collect::<Result<_, _>>()?;
    Ok(WaveView { id, state, cutoff_ms, orders, lines, orders_shipped, created_ms, released_ms, done_ms, batches })
}

/// Waves, newest first (of one state when named).
pub fn waves(conn: &Connection, state: Option<&str>, limit: u32) -> StoreResult<Vec<WaveView>> {
    let ids: Vec<i64> = conn
        .prepare_cached("SELECT id FROM wave WHERE ?1 IS NULL OR state = ?1 ORDER BY id DESC LIMIT ?2")?
        .query_map(params![state, limit], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    ids.into_iter().map(|id| wave_view(conn, id as u64)).collect()
}

/// Batches in `state`; by default those a picker can take or is walking: started ones, and open
/// ones of released waves (earliest cut-off first).
pub fn batches(conn: &Connection, state: Option<&str>, limit: u32) -> StoreResult<Vec<BatchSummary>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {BATCH_COLUMNS} FROM pick_batch b JOIN wave w ON w.id = b.wave_id
         WHERE (?1 IS NULL AND (b.state = 'started' OR (b.state = 'open' AND w.state = 'released'))) OR b.state = ?1
         ORDER BY b.state <> 'started', w.cutoff_ms IS NULL, w.cutoff_ms, b.id LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![state, limit], row_to_batch)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn summary(conn: &Connection, id: u64) -> StoreResult<BatchSummary> {
    conn.prepare_cached(&format!("SELECT {BATCH_COLUMNS} FROM pick_batch b WHERE b.id = ?1"))?
        .query_row([id as i64], row_to_batch)
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("pick batch {id}")))
}

fn slots(conn: &Connection, id: u64) -> StoreResult<Vec<ToteSlot>> {
    let mut stmt = conn.prepare_cached("SELECT slot, order_id, tote FROM batch_tote WHERE batch_id = ?1 ORDER BY slot")?;
    let rows = stmt.query_map([id as i64], |r| Ok(ToteSlot { slot: r.get(0)?, order_id: r.get::<_, Option<i64>>(1)?.map(|o| o as u64), tote: r.get(2)? }))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The task the picker is at: one with units in hand first, then the walk's next that is not
/// waiting for a refill, then a waiting one.
fn current(conn: &Connection, id: u64) -> StoreResult<Option<PickTaskView>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {TASK_COLUMNS} FROM pick_task t JOIN sku s ON s.sku = t.sku
             WHERE t.batch_id = ?1 AND t.state IN ('open', 'located')
             ORDER BY t.state = 'located' DESC, waiting, t.seq, t.id LIMIT 1"
        ))?
        .query_row([id as i64], row_to_task)
        .optional()?)
}

pub fn batch(conn: &Connection, id: u64) -> StoreResult<BatchView> {
    let batch = summary(conn, id)?;
    let slots = slots(conn, id)?;
    let tasks: Vec<PickTaskView> = conn
        .prepare_cached(&format!("SELECT {TASK_COLUMNS} FROM pick_task t JOIN sku s ON s.sku = t.sku WHERE t.batch_id = ?1 ORDER BY t.seq, t.id"))?
        .query_map([id as i64], row_to_task)?
        .collect::<Result<_, _>>()?;
    let next = match batch.state.as_str() {
        "started" => current(conn, id)?.map(|t| next_stop(&t, &slots)),
        _ => None,
    };
    Ok(BatchView { batch, slots, tasks, next })
}

fn next_stop(t: &PickTaskView, slots: &[ToteSlot]) -> NextStop {
    let expect = match (t.state.as_str(), t.qty_picked < t.qty) {
        ("open", _) => "location",
        (_, true) => "item",
        _ => "tote",
    };
    let slot = slots.iter().find(|s| s.order_id == Some(t.order_id) || s.order_id.is_none()).map(|s| s.slot);
    NextStop {
        task_id: t.id,
        order_id: t.order_id,
        location: t.location.clone(),
        sku: t.sku.clone(),
        gtin: t.gtin.clone(),
        qty_left: t.qty - t.qty_picked,
        in_hand: t.qty_picked,
        tote: t.tote.clone(),
        slot,
        expect: expect.to_owned(),
        waiting: t.waiting,
    }
}

/// A tote barcode: `TOTE-` and 1 to 16 capital letters or digits.
fn check_tote(code: &str) -> StoreResult<()> {
    let rest = code.strip_prefix("TOTE-").unwrap_or("");
    if (1..=16).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!("{code:?} is not a tote barcode (TOTE- and 1 to 16 capital letters or digits)")))
    }
}

/// The batch a tote is busy in: on a started cart, or holding picked units of an order not yet
/// packed (its other lines may still be picked elsewhere) or, in a batch tote, not yet sorted.
fn tote_busy_in(conn: &Connection, tote: &str) -> StoreResult<Option<u64>> {
    Ok(conn
        .prepare_cached(
            "SELECT b.id FROM batch_tote bt JOIN pick_batch b ON b.id = bt.batch_id
             WHERE bt.tote = ?1 AND (b.state = 'started' OR EXISTS (
                 SELECT 1 FROM pick_task t JOIN fulfilment f ON f.order_id = t.order_id
                 WHERE t.batch_id = b.id AND (bt.order_id IS NULL OR t.order_id = bt.order_id) AND t.state = 'done'
                   AND f.state IN ('picking', 'picked') AND (b.method = 'cluster' OR t.sorted_ms IS NULL)))
             LIMIT 1",
        )?
        .query_row([tote], |r| r.get::<_, i64>(0))
        .optional()?
        .map(|b| b as u64))
}

/// A picker takes a released batch: one scanned tote per slot of the cart, in slot order.
pub fn start(conn: &Connection, id: u64, worker: Option<&str>, totes: &[String], now_ms: i64) -> StoreResult<BatchView> {
    let b = summary(conn, id)?;
    let wave = wave_state(conn, b.wave_id)?;
    if b.state != "open" {
        return Err(StoreError::Conflict(format!("pick batch {id} is {}", b.state)));
    }
    if wave != "released" {
        return Err(StoreError::Conflict(format!("wave {} is {wave}: its carts wait for the supervisor to release it", b.wave_id)));
    }
    let slots = slots(conn, id)?;
    if totes.len() != slots.len() {
        return Err(StoreError::Invalid(format!("this cart has {} tote slot(s): scan {} tote(s), one per slot", slots.len(), slots.len())));
    }
    for (i, tote) in totes.iter().enumerate() {
        check_tote(tote)?;
        if totes[..i].contains(tote) {
            return Err(StoreError::Invalid(format!("tote {tote} scanned twice: each slot takes its own tote")));
        }
        if let Some(busy) = tote_busy_in(conn, tote)? {
            return Err(StoreError::Conflict(format!("tote {tote} is still in use on batch {busy}: take an empty one")));
        }
    }
    for (slot, tote) in slots.iter().zip(totes) {
        conn.prepare_cached("UPDATE batch_tote SET tote = ?3 WHERE batch_id = ?1 AND slot = ?2")?.execute(params![id as i64, slot.slot, tote])?;
    }
    conn.prepare_cached("UPDATE pick_batch SET state = 'started', worker = ?2, started_ms = ?3 WHERE id = ?1")?.execute(params![id as i64, worker, now_ms])?;
    batch(conn, id)
}

/// One scan on a started batch, applied to the task the picker is at (location, item, tote).
pub fn scan(conn: &Connection, id: u64, code: &str, qty: u32, by: &Picker, now_ms: i64) -> StoreResult<BatchScanOutcome> {
    let b = summary(conn, id)?;
    if b.state != "started" {
        return Err(StoreError::Conflict(format!("pick batch {id} is {}: start it with its totes first", b.state)));
    }
    let t = current(conn, id)?.ok_or_else(|| StoreError::Conflict(format!("pick batch {id} has nothing left to pick")))?;
    let outcome = apply_scan(conn, t, code, i64::from(qty), by, now_ms)?;
    settle_batch(conn, id, now_ms)?;
    let view = batch(conn, id)?;
    let message = match (&view.next, outcome.task.state.as_str()) {
        (Some(next), "done") if next.waiting => format!("{} Next: {} waits for a refill from reserve", outcome.message, next.location),
        (Some(next), "done") => format!("{} Next: {} ({} × {})", outcome.message, next.location, next.qty_left, next.sku),
        (None, "done") => format!("{} Cart complete: take it to packing", outcome.message),
        _ => outcome.message,
    };
    Ok(BatchScanOutcome { batch: view, message, order_id: outcome.task.order_id, order_state: outcome.order_state })
}

/// A batch with nothing live left is done; a wave whose batches all are, too.
fn settle_batch(conn: &Connection, id: u64, now_ms: i64) -> StoreResult<()> {
    conn.prepare_cached(
        "UPDATE pick_batch SET state = 'done', done_ms = ?2
         WHERE id = ?1 AND state IN ('open', 'started') AND NOT EXISTS (SELECT 1 FROM pick_task t WHERE t.batch_id = ?1 AND t.state IN ('open', 'located'))",
    )?
    .execute(params![id as i64, now_ms])?;
    let wave_id: i64 = conn.prepare_cached("SELECT wave_id FROM pick_batch WHERE id = ?1")?.query_row([id as i64], |r| r.get(0))?;
    settle_wave(conn, wave_id as u64, now_ms)
}

fn settle_wave(conn: &Connection, id: u64, now_ms: i64) -> StoreResult<()> {
    conn.prepare_cached(
        "UPDATE wave SET state = 'done', done_ms = ?2, updated_ms = ?2
         WHERE id = ?1 AND state IN ('released', 'held') AND NOT EXISTS (SELECT 1 FROM pick_batch b WHERE b.wave_id = ?1 AND b.state IN ('open', 'started'))",
    )?
    .execute(params![id as i64, now_ms])?;
    Ok(())
}

/// After an order's tasks closed outside a batch scan (a cancel, a failure): its batches may
/// have nothing left.
pub fn settle_order(conn: &Connection, order_id: u64, now_ms: i64) -> StoreResult<()> {
    let ids: Vec<i64> = conn
        .prepare_cached("SELECT DISTINCT batch_id FROM pick_task WHERE order_id = ?1 AND batch_id IS NOT NULL")?
        .query_map([order_id as i64], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for id in ids {
        settle_batch(conn, id as u64, now_ms)?;
    }
    Ok(())
}

/// Where the rest of a short pick, moved to other stock as tasks newer than `newest`, is
/// picked: on the same cart when `t` was on one (the walk ends there); by a handheld picker,
/// one order at a time, when the order's wave is already planned and its carts are out (a
/// station's short pick of a waved order); otherwise it waits in the pool for the next wave.
pub fn place_rest(conn: &Connection, t: &PickTaskView, newest: i64) -> StoreResult<()> {
    match t.batch_id {
        Some(batch) => {
            conn.prepare_cached(
                "UPDATE pick_task SET batch_id = ?1, seq = (SELECT COALESCE(MAX(seq), 0) + 1 FROM pick_task WHERE batch_id = ?1)
                 WHERE order_id = ?2 AND id > ?3 AND batch_id IS NULL AND method IN ('batch', 'cluster')",
            )?
            .execute(params![batch as i64, t.order_id as i64, newest])?;
        }
        None => {
            conn.prepare_cached(
                "UPDATE pick_task SET method = 'discrete'
                 WHERE order_id = ?1 AND id > ?2 AND batch_id IS NULL AND method IN ('batch', 'cluster')
                   AND EXISTS (SELECT 1 FROM fulfilment f WHERE f.order_id = ?1 AND f.wave_id IS NOT NULL)",
            )?
            .execute(params![t.order_id as i64, newest])?;
        }
    }
    Ok(())
}

/// The batch tote still holding unsorted units of this order, if any.
pub fn unsorted_tote(conn: &Connection, order_id: u64) -> StoreResult<Option<String>> {
    Ok(conn
        .prepare_cached(
            "SELECT bt.tote FROM pick_task t JOIN pick_batch b ON b.id = t.batch_id JOIN batch_tote bt ON bt.batch_id = b.id
             WHERE t.order_id = ?1 AND b.method = 'batch' AND t.state = 'done' AND t.sorted_ms IS NULL LIMIT 1",
        )?
        .query_row([order_id as i64], |r| r.get(0))
        .optional()?)
}

/// What a tote holds, by order (its latest batch).
pub fn tote(conn: &Connection, code: &str) -> StoreResult<ToteView> {
    check_tote(code)?;
    let (batch_id, method): (i64, String) = conn
        .prepare_cached("SELECT b.id, b.method FROM batch_tote bt JOIN pick_batch b ON b.id = bt.batch_id WHERE bt.tote = ?1 ORDER BY b.id DESC LIMIT 1")?
        .query_row([code], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("tote {code} on any cart")))?;
    let mut stmt = conn.prepare_cached(
        "SELECT t.order_id, f.state, SUM(t.qty_picked), SUM(CASE WHEN t.sorted_ms IS NULL AND ?3 = 'batch' THEN t.qty_picked ELSE 0 END)
         FROM batch_tote bt JOIN pick_task t ON t.batch_id = bt.batch_id AND (bt.order_id IS NULL OR t.order_id = bt.order_id)
         JOIN fulfilment f ON f.order_id = t.order_id
         WHERE bt.batch_id = ?1 AND bt.tote = ?2 AND t.state = 'done'
         GROUP BY t.order_id ORDER BY t.order_id",
    )?;
    let rows = stmt.query_map(params![batch_id, code, method], |r| Ok(ToteOrder { order_id: r.get::<_, i64>(0)? as u64, state: r.get(1)?, units: r.get(2)?, unsorted: r.get(3)? }))?;
    Ok(ToteView { tote: code.to_owned(), batch_id: batch_id as u64, method, orders: rows.collect::<Result<_, _>>()? })
}

/// At packing: one unit scanned out of a batch tote goes to the carton of an order it belongs
/// to (an order whose other picks are done first). The answer names the order.
pub fn sort(conn: &Connection, tote_code: &str, code: &str, now_ms: i64) -> StoreResult<SortOutcome> {
    let held = tote(conn, tote_code)?;
    if held.method != "batch" {
        return Err(StoreError::Conflict(format!("tote {tote_code} is one order's on a cluster cart: pack order {} from it", held.orders.first().map_or(0, |o| o.order_id))));
    }
    let found: Option<(i64, u64, String)> = conn
        .prepare_cached(
            "SELECT t.id, t.order_id, t.sku FROM pick_task t JOIN fulfilment f ON f.order_id = t.order_id JOIN sku s ON s.sku = t.sku
             WHERE t.batch_id = ?1 AND t.state = 'done' AND t.sorted_ms IS NULL AND f.state IN ('picking', 'picked') AND s.gtin = ?2
             ORDER BY f.state = 'picked' DESC, t.order_id LIMIT 1",
        )?
        .query_row(params![held.batch_id as i64, code], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64, r.get(2)?)))
        .optional()?;
    let left: i64 = held.orders.iter().filter(|o| o.state == "picked" || o.state == "picking").map(|o| o.unsorted).sum();
    let Some((task_id, order_id, sku)) = found else {
        if left == 0 {
            return Err(StoreError::Conflict(format!("tote {tote_code} has nothing left to sort")));
        }
        return Err(StoreError::WrongScan { what: "item", expected: format!("one of the {left} unit(s) still in tote {tote_code}"), scanned: code.to_owned() });
    };
    conn.prepare_cached("UPDATE pick_task SET sorted_ms = ?2 WHERE id = ?1")?.execute(params![task_id, now_ms])?;
    let order_state = super::picking::order_state(conn, order_id)?;
    let left_in_tote = left - 1;
    let message = match order_state.as_str() {
        "picked" => format!("Order {order_id}: into its carton, then pack it"),
        _ => format!("Order {order_id}: into its carton; it still waits for picks elsewhere"),
    };
    Ok(SortOutcome { order_id, sku, order_state, left_in_tote, message })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::packing::pack;
    use crate::store::picking::release as release_order;
    use crate::store::stock::{change, Why};
    use tote_shared::strategy::{Profile, Rule, Rules};
    use tote_shared::sync::{OrderLine, ShipTo};
    use tote_shared::{Qty, Sku};

    const SKUS: [(&str, &str); 3] = [("PEG39-M-WHT-43", "00194502876550"), ("TEE-M-BLK", "00194502876567"), ("CAP-BLK", "00194502876574")];

    /// Each SKU on its own shelf: PEG at A-01-05, TEE at A-03-10, CAP at A-06-02.
    fn floor() -> Connection {
        let conn = crate::store::schema::memory_db();
        let why = Why { reason: "receipt", reference: "test", at_ms: 1 };
        for ((sku, gtin), bin) in SKUS.iter().zip(["A-01-05", "A-03-10", "A-06-02"]) {
            conn.execute("INSERT INTO sku (sku, gtin, name) VALUES (?1, ?2, ?1)", [sku, gtin]).expect("sku");
            conn.execute("INSERT INTO location (code, kind, created_ms) VALUES (?1, 'bin', 0)", [bin]).expect("bin");
            change(&conn, bin, sku, "", 50, &why).expect("stock");
        }
        conn
    }

    fn rules() -> Rules {
        Rules::new(vec![Rule { profile: Profile::SingleUnit, method: Method::Batch }, Rule { profile: Profile::MultiLine, method: Method::Cluster }]).expect("rules")
    }

    fn order(conn: &Connection, id: u64, lines: &[(usize, i64)]) {
        let to = ShipTo { name: "Li Wei".into(), line1: "88 Century Avenue".into(), city: "Shanghai".into(), postcode: "200120".into(), phone: String::new() };
        let lines: Vec<OrderLine> = lines.iter().map(|&(i, q)| OrderLine { sku: Sku::parse(SKUS[i].0).expect("sku"), qty: Qty::parse(q).expect("qty") }).collect();
        release_order(conn, &rules(), id, &lines, &to, None, 10).expect("release");
    }

    fn settings() -> WaveSettings {
        WaveSettings { rules: WaveRules { tote_units: 10, cart_totes: 4, ..WaveRules::default() }, ..WaveSettings::default() }
    }

    /// Scans the started batch to its end: location, items, tote at each stop.
    fn walk(conn: &Connection, id: u64) -> Vec<String> {
        let mut visited = Vec::new();
        while let Some(next) = batch(conn, id).expect("batch").next {
            let code = match next.expect.as_str() {
                "location" => {
                    visited.push(next.location.clone());
                    next.location
                }
                "item" => next.gtin,
                _ => next.tote.expect("a tote"),
            };
            scan(conn, id, &code, next.qty_left.max(1) as u32, &Picker::default(), 50).expect("scan");
        }
        visited
    }

    #[test]
    fn a_wave_batches_single_unit_orders_into_a_tote_and_multi_line_orders_onto_a_cart() {
        let conn = floor();
        order(&conn, 1, &[(0, 1)]);
        order(&conn, 2, &[(2, 1)]);
        order(&conn, 3, &[(0, 1), (1, 2)]);
        order(&conn, 4, &[(1, 1), (2, 1)]);
        let wave = plan(&conn, &settings(), 20).expect("plan");
        assert_eq!((wave.state.as_str(), wave.orders, wave.batches.len()), ("planned", 4, 2), "{wave:?}");
        assert!(matches!(plan(&conn, &settings(), 21), Err(StoreError::Conflict(_))), "the pool is empty now");
        let tote_batch = wave.batches.iter().find(|b| b.method == "batch").expect("a batch tote").id;
        let cart = wave.batches.iter().find(|b| b.method == "cluster").expect("a cart").id;
        assert!(batches(&conn, None, 10).expect("list").is_empty(), "a planned wave's carts are not the pickers' yet");
        assert!(matches!(start(&conn, cart, None, &["TOTE-1".into(), "TOTE-2".into()], 30), Err(StoreError::Conflict(_))));

        release(&conn, wave.id, 30).expect("release");
        assert_eq!(batches(&conn, None, 10).expect("list").len(), 2);
        assert!(matches!(start(&conn, cart, None, &["TOTE-1".into()], 31), Err(StoreError::Invalid(_))), "two orders, two slots");
        assert!(matches!(start(&conn, cart, None, &["TOTE-1".into(), "TOTE-1".into()], 31), Err(StoreError::Invalid(_))));
        assert!(matches!(start(&conn, cart, None, &["A-01-05".into(), "TOTE-2".into()], 31), Err(StoreError::Invalid(_))));
        start(&conn, cart, Some("li"), &["TOTE-1".into(), "TOTE-2".into()], 31).expect("start the cart");
        assert!(matches!(start(&conn, tote_batch, None, &["TOTE-2".into()], 32), Err(StoreError::Conflict(_))), "TOTE-2 is on the cart");
        start(&conn, tote_batch, Some("wu"), &["TOTE-9".into()], 32).expect("start the tote");

        // A wrong tote changes nothing.
        let first = batch(&conn, cart).expect("cart").next.expect("a stop");
        scan(&conn, cart, &first.location, 1, &Picker::default(), 40).expect("location");
        scan(&conn, cart, &first.gtin, first.qty_left as u32, &Picker::default(), 40).expect("item");
        let wrong = if first.tote.as_deref() == Some("TOTE-1") { "TOTE-2" } else { "TOTE-1" };
        assert!(matches!(scan(&conn, cart, wrong, 1, &Picker::default(), 41), Err(StoreError::WrongScan { what: "tote", .. })));
        assert_eq!(batch(&conn, cart).expect("cart").next.expect("same stop").expect, "tote");

        let stops = walk(&conn, cart);
        assert_eq!(stops.len(), 3, "one stop per remaining pick: {stops:?}");
        walk(&conn, tote_batch);
        for id in [1, 2, 3, 4] {
            assert_eq!(super::super::picking::order_state(&conn, id).expect("state"), "picked");
        }
        assert_eq!(wave_view(&conn, wave.id).expect("wave").state, "done");

        // Cluster totes hold one order each; the batch tote is sorted at packing.
        let t1 = tote(&conn, "TOTE-1").expect("tote");
        assert_eq!(t1.orders.len(), 1);
        assert!(matches!(pack(&conn, 1, None, 60), Err(StoreError::Conflict(_))), "order 1's unit is still in the batch tote");
        assert!(matches!(sort(&conn, "TOTE-9", SKUS[1].1, 60), Err(StoreError::WrongScan { .. })), "no TEE in the batch tote");
        let sorted = sort(&conn, "TOTE-9", SKUS[0].1, 61).expect("sort");
        assert_eq!((sorted.order_id, sorted.left_in_tote), (1, 1));
        assert!(tote_busy_in(&conn, "TOTE-9").expect("busy").is_some(), "one unit still to sort");
        sort(&conn, "TOTE-9", SKUS[2].1, 62).expect("sort");
        assert!(matches!(sort(&conn, "TOTE-9", SKUS[2].1, 63), Err(StoreError::Conflict(_))), "the tote is empty");
        assert_eq!(tote_busy_in(&conn, "TOTE-9").expect("free"), None, "a sorted tote is free for the next cart");
        pack(&conn, 1, None, 64).expect("pack after sorting");
    }

    #[test]
    fn a_held_wave_starts_no_cart_and_a_cancelled_one_returns_its_orders_to_the_pool() {
        let conn = floor();
        order(&conn, 1, &[(0, 1), (1, 1)]);
        let wave = plan(&conn, &settings(), 20).expect("plan");
        release(&conn, wave.id, 21).expect("release");
        hold(&conn, wave.id, 22).expect("hold");
        let cart = wave.batches[0].id;
        assert!(batches(&conn, None, 10).expect("list").is_empty());
        assert!(matches!(start(&conn, cart, None, &["TOTE-1".into()], 23), Err(StoreError::Conflict(_))));
        cancel(&conn, wave.id, 24).expect("cancel");
        assert!(matches!(release(&conn, wave.id, 25), Err(StoreError::Conflict(_))));
        let again = plan(&conn, &settings(), 26).expect("the order waits for the next wave");
        assert_eq!(again.orders, 1);
        release(&conn, again.id, 27).expect("release");
        start(&conn, again.batches[0].id, None, &["TOTE-1".into()], 28).expect("start");
        assert!(matches!(cancel(&conn, again.id, 29), Err(StoreError::Conflict(_))), "a cart is on the floor");
    }

    #[test]
    fn the_rest_of_a_short_cart_pick_stays_on_the_cart_and_a_cancelled_order_closes_its_batch() {
        let conn = floor();
        conn.execute("INSERT INTO location (code, kind, created_ms) VALUES ('A-09-09', 'bin', 0)", []).expect("bin");
        change(&conn, "A-09-09", SKUS[1].0, "", 5, &Why { reason: "receipt", reference: "t", at_ms: 1 }).expect("stock");
        order(&conn, 1, &[(0, 1), (1, 2)]);
        let wave = plan(&conn, &settings(), 20).expect("plan");
        release(&conn, wave.id, 21).expect("release");
        let cart = wave.batches[0].id;
        start(&conn, cart, None, &["TOTE-1".into()], 22).expect("start");
        let tee = batch(&conn, cart).expect("cart").tasks.into_iter().find(|t| t.sku == SKUS[1].0).expect("the TEE task");
        crate::store::picking::short_pick(&conn, tee.id, 0, Some("empty"), 23).expect("short");
        let tasks = batch(&conn, cart).expect("cart").tasks;
        assert!(tasks.iter().any(|t| t.sku == SKUS[1].0 && t.state == "open" && t.location != tee.location), "the rest is on the cart: {tasks:?}");
        crate::store::picking::cancel(&conn, 1, 24).expect("cancel");
        assert_eq!(summary(&conn, cart).expect("cart").state, "done");
        assert_eq!(wave_view(&conn, wave.id).expect("wave").state, "done");
    }

    #[test]
    fn the_rest_of_a_waved_orders_short_station_pick_goes_to_a_handheld_picker() {
        let conn = floor();
        conn.execute("INSERT INTO pod (id, place, spot_x, spot_y, updated_ms) VALUES ('P0001', 'stored', 3, 4, 0)", []).expect("pod");
        conn.execute("INSERT INTO location (code, kind, created_ms, pod) VALUES ('P0001-A1', 'bin', 0, 'P0001')", []).expect("pod bin");
        change(&conn, "P0001-A1", SKUS[2].0, "", 5, &Why { reason: "receipt", reference: "t", at_ms: 1 }).expect("pod stock");
        let to = ShipTo { name: "Li Wei".into(), line1: "88 Century Avenue".into(), city: "Shanghai".into(), postcode: "200120".into(), phone: String::new() };
        let lines: Vec<OrderLine> = [0, 2].iter().map(|&i| OrderLine { sku: Sku::parse(SKUS[i].0).expect("sku"), qty: Qty::parse(1).expect("qty") }).collect();
        let mut with_pods = rules().rules().to_vec();
        with_pods.push(Rule { profile: Profile::GoodsToPerson, method: Method::Station });
        release_order(&conn, &Rules::new(with_pods).expect("rules"), 1, &lines, &to, None, 10).expect("release");
        let wave = plan(&conn, &settings(), 20).expect("plan");
        release(&conn, wave.id, 20).expect("release");
        start(&conn, wave.batches[0].id, None, &["TOTE-1".into()], 20).expect("start");
        walk(&conn, wave.batches[0].id);
        assert_eq!(crate::store::picking::order_state(&conn, 1).expect("state"), "picking", "its pod line is not picked yet");
        assert!(tote_busy_in(&conn, "TOTE-1").expect("busy").is_some(), "the tote holds the order's shelf unit until it is packed");
        let station = crate::store::picking::tasks(&conn, None, Some(Method::Station), 10).expect("tasks").remove(0);
        crate::store::picking::short_pick(&conn, station.id, 0, Some("empty bin"), 21).expect("short");
        let rest = crate::store::picking::tasks(&conn, None, Some(Method::Discrete), 10).expect("tasks");
        assert_eq!(rest.len(), 1, "the cart is already planned: a handheld picker takes the rest");
        assert_eq!((rest[0].location.as_str(), rest[0].batch_id), ("A-06-02", None));
    }
}
