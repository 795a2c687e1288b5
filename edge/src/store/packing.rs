//! Packing and shipping: a picked order's carton is checked against what was picked for it
//! (and, for a batch tote's single-unit orders, sorted to it first: `waves::sort`), then it
//! ships under a waybill and its label is queued.

use super::outbox::emit;
use super::picking::{order_state, row_to_task, set_state, FulfilmentLineView, FulfilmentView, OUTBOUND, TASK_COLUMNS};
use super::stock::{change, Why};
use super::{LabelSettings, StoreError, StoreResult};
use rusqlite::{params, Connection, OptionalExtension};
use tote_shared::sync::{EdgeEventKind, ShipVia, ShippedLine};
use tote_shared::{Qty, Sku};

pub fn pack(conn: &Connection, order_id: u64, carton: Option<&super::Tally>, now_ms: i64) -> StoreResult<FulfilmentView> {
    let state = order_state(conn, order_id)?;
    if state != "picked" {
        return Err(StoreError::Conflict(format!("order {order_id} is {state}; only picked orders can be packed")));
    }
    if let Some(tote) = super::waves::unsorted_tote(conn, order_id)? {
        return Err(StoreError::Conflict(format!("order {order_id}'s units are still in batch tote {tote}: sort them to its carton first")));
    }
    if let Some(carton) = carton {
        let view = fulfilment(conn, order_id)?;
        let mut picked = super::Tally::new();
        for line in &view.lines {
            *picked.entry(line.sku.clone()).or_default() += line.qty_picked;
        }
        picked.retain(|_, q| *q > 0);
        if &picked != carton {
            let show = |t: &super::Tally| t.iter().map(|(sku, q)| format!("{q} × {sku}")).collect::<Vec<_>>().join(", ");
            return Err(StoreError::WrongScan { what: "carton", expected: show(&picked), scanned: show(carton) });
        }
    }
    set_state(conn, order_id, "packed", now_ms)?;
    emit(conn, EdgeEventKind::OrderPacked { order_id }, now_ms)?;
    fulfilment(conn, order_id)
}

/// Ships a packed order with `carrier`, or, when None, with the carrier HQ chose at release;
/// under `tracking`, a number typed from a paper waybill, or, when None, the next number of
/// the carrier's pool.
pub fn ship(conn: &Connection, order_id: u64, carrier: Option<&str>, tracking: Option<&str>, label: &LabelSettings, now_ms: i64) -> StoreResult<FulfilmentView> {
    let state = order_state(conn, order_id)?;
    if state != "packed" {
        return Err(StoreError::Conflict(format!("order {order_id} is {state}; only packed orders can ship")));
    }
    let planned: Option<String> =
        conn.prepare_cached("SELECT ship_carrier FROM fulfilment WHERE order_id = ?1")?.query_row([order_id as i64], |r| r.get(0))?;
    let carrier = match (carrier, planned.as_deref()) {
        (Some(named), _) => named,
        (None, Some(planned)) => planned,
        (None, None) => return Err(StoreError::Invalid(format!("HQ chose no carrier for order {order_id}: name one"))),
    }
    .to_owned();
    let carrier = carrier.as_str();
    let tracking = waybill_for(conn, order_id, carrier, tracking, now_ms)?;
    let tracking = tracking.as_str();
    let reference = format!("order:{order_id}");
    let why = Why { reason: "ship", reference: &reference, at_ms: now_ms };
    let picked: Vec<(String, String, i64)> = conn
        .prepare_cached("SELECT sku, lot, qty_picked FROM pick_task WHERE order_id = ?1 AND state = 'done'")?
        .query_map([order_id as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    for (sku, lot, qty) in &picked {
        change(conn, OUTBOUND, sku, lot, -qty, &why)?;
    }
    let mut lines = Vec::new();
    for line in load_lines(conn, order_id)? {
        let sku = Sku::parse(&line.sku).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let qty = Qty::parse(line.qty).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        lines.push(ShippedLine { sku, qty });
    }
    conn.prepare_cached("UPDATE fulfilment SET state = 'shipped', carrier = ?2, tracking_number = ?3, updated_ms = ?4, shipped_ms = ?4 WHERE order_id = ?1")?
        .execute(params![order_id as i64, carrier, tracking, now_ms])?;
    emit(
        conn,
        EdgeEventKind::OrderShipped { order_id, tracking_number: tracking.to_owned(), carrier: carrier.to_owned(), lines },
        now_ms,
    )?;
    let view = fulfilment(conn, order_id)?;
    super::printing::queue_label(conn, &view, carrier, tracking, label, now_ms)?;
    Ok(view)
}

/// The waybill a parcel ships under: the typed one, if it is nobody else's, or the pool's next.
fn waybill_for(conn: &Connection, order_id: u64, carrier: &str, typed: Option<&str>, now_ms: i64) -> StoreResult<String> {
    let Some(typed) = typed else {
        return super::waybills::take(conn, carrier, order_id, now_ms)?.ok_or_else(|| {
            StoreError::Conflict(format!(
                "no {carrier} waybill numbers left at this warehouse (HQ refills the pool when it can reach the carrier): \
                 ship with another carrier or type the number of a paper waybill"
            ))
        });
    };
    if super::waybills::in_pool(conn, carrier, typed)? {
        return Err(StoreError::Conflict(format!("{typed} belongs to this warehouse's {carrier} pool; leave the number out to take the pool's next")));
    }
    let used: Option<i64> = conn
        .prepare_cached("SELECT order_id FROM fulfilment WHERE carrier = ?1 AND tracking_number = ?2 AND order_id <> ?3")?
        .query_row(params![carrier, typed, order_id as i64], |r| r.get(0))
        .optional()?;
    if let Some(other) = used {
        return Err(StoreError::Conflict(format!("{carrier} waybill {typed} already shipped order {other}")));
    }
    Ok(typed.to_owned())
}

fn load_lines(conn: &Connection, order_id: u64) -> StoreResult<Vec<FulfilmentLineView>> {
    let mut stmt = conn.prepare_cached(
        "SELECT l.sku, l.qty, COALESCE((SELECT SUM(t.qty_picked) FROM pick_task t
             WHERE t.order_id = l.order_id AND t.sku = l.sku AND t.state <> 'cancelled'), 0)
         FROM fulfilment_line l WHERE l.order_id = ?1 ORDER BY l.sku",
    )?;
    let rows = stmt.query_map([order_id as i64], |r| Ok(FulfilmentLineView { sku: r.get(0)?, qty: r.get(1)?, qty_picked: r.get(2)? }))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn fulfilment(conn: &Connection, order_id: u64) -> StoreResult<FulfilmentView> {
    type Row = (String, String, Option<String>, Option<String>, Option<String>, Option<String>);
    let (state, ship_to, tracking_number, carrier, ship_carrier, ship_service): Row = conn
        .prepare_cached("SELECT state, ship_to, tracking_number, carrier, ship_carrier, ship_service FROM fulfilment WHERE order_id = ?1")?
        .query_row([order_id as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("order {order_id} at this warehouse")))?;
    let tasks = conn
        .prepare_cached(&format!("SELECT {TASK_COLUMNS} FROM pick_task t JOIN sku s ON s.sku = t.sku WHERE t.order_id = ?1 ORDER BY t.id"))?
        .query_map([order_id as i64], row_to_task)?
        .collect::<Result<_, _>>()?;
    Ok(FulfilmentView {
        order_id,
        state,
        ship_to: serde_json::from_str(&ship_to).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        lines: load_lines(conn, order_id)?,
        tasks,
        tracking_number,
        carrier,
        ship_via: ship_carrier.zip(ship_service).map(|(carrier, service)| ShipVia { carrier, service }),
    })
}

pub fn fulfilments(conn: &Connection, state: Option<&str>, limit: u32) -> StoreResult<Vec<FulfilmentView>> {
    let ids: Vec<i64> = conn
        .prepare_cached("SELECT order_id FROM fulfilment WHERE ?1 IS NULL OR state = ?1 ORDER BY order_id LIMIT ?2")?
        .query_map(params![state, limit], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    ids.into_iter().map(|id| fulfilment(conn, id as u64)).collect()
}
