//! Orders: creation with routing and stock locks, and every later transition with its
//! effects (stock movements, edge commands, history) applied in the caller's transaction.

use super::super::{
    CreateOrder, CreateOutcome, OrderHistoryEntry, OrderLineRecord, OrderRecord, StoreError, StoreResult,
};
use super::catalog::get_sku;
use super::stock::{self, parse_sku, parse_warehouse, Cause};
use super::sync::enqueue_command;
use crate::routing::{choose_warehouse, Candidate};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::HashMap;
use tote_shared::geo::GeoPoint;
use tote_shared::order::{transition, OrderEffect, OrderEvent, OrderState};
use tote_shared::sync::{CommandKind, OrderLine, ShipTo};
use tote_shared::stock::StockLevel;
use tote_shared::{Money, Qty, WarehouseCode};

pub fn create(conn: &Connection, req: &CreateOrder) -> StoreResult<CreateOutcome> {
    if let Some(outcome) = replay(conn, req)? {
        return Ok(outcome);
    }
    let mut priced = Vec::with_capacity(req.lines.len());
    for line in &req.lines {
        let sku = get_sku(conn, line.sku.as_str()).map_err(|e| match e {
            StoreError::NotFound(_) => StoreError::UnknownSku(line.sku.to_string()),
            other => other,
        })?;
        priced.push(OrderLineRecord { sku: line.sku.clone(), qty: line.qty, unit_price: sku.price });
    }
    let total: i64 = priced.iter().map(|l| l.unit_price.minor() * l.qty.as_i64()).sum();
    let total = Money::parse(total).map_err(|e| StoreError::Invalid(e.to_string()))?;
    let candidates = candidates(conn, &req.lines)?;
    let warehouse = choose_warehouse(&candidates, &req.destination, None)
        .ok_or_else(|| StoreError::InsufficientStock(shortage_text(&req.lines, &candidates)))?
        .clone();
    let ship_to = serde_json::to_string(&req.ship_to).map_err(|e| StoreError::Invalid(e.to_string()))?;
    conn.prepare_cached(
        "INSERT INTO orders (state, channel, warehouse, ship_to, dest_lat, dest_lon, total_minor, created_ms,
                             payment_deadline_ms, updated_ms)
         VALUES ('awaiting_payment', ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?7)",
    )?
    .execute(params![
        req.channel,
        warehouse.as_str(),
        ship_to,
        req.destination.lat,
        req.destination.lon,
        total.minor(),
        req.now_ms,
        req.payment_deadline_ms
    ])?;
    let id = conn.last_insert_rowid();
    let reference = format!("order:{id}");
    let cause = Cause { cause: "order_created", reference: &reference, at_ms: req.now_ms };
    let mut insert_line = conn.prepare_cached(
        "INSERT INTO order_line (order_id, line_no, sku, qty, unit_price_minor) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for (line_no, line) in priced.iter().enumerate() {
        insert_line.execute(params![id, line_no as i64, line.sku.as_str(), line.qty.as_i64(), line.unit_price.minor()])?;
        stock::change(conn, line.sku.as_str(), warehouse.as_str(), &cause, |s| s.lock(line.qty.as_i64()))?;
    }
    let record = OrderRecord {
        id: id as u64,
        state: OrderState::AwaitingPayment,
        channel: req.channel.clone(),
        warehouse: Some(warehouse),
        lines: priced,
        total,
        ship_to: req.ship_to.clone(),
        tracking_number: None,
        carrier: None,
        created_at_ms: req.now_ms,
        payment_deadline_ms: req.payment_deadline_ms,
        updated_at_ms: req.now_ms,
    };
    let snapshot = serde_json::to_string(&record).map_err(|e| StoreError::Invalid(e.to_string()))?;
    conn.prepare_cached(
        "INSERT INTO idempotency (key, request_hash, order_id, response, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![req.idempotency_key, req.request_hash, id, snapshot, req.now_ms])?;
    Ok(CreateOutcome::Created(record))
}

fn replay(conn: &Connection, req: &CreateOrder) -> StoreResult<Option<CreateOutcome>> {
    let seen: Option<(String, String)> = conn
        .prepare_cached("SELECT request_hash, response FROM idempotency WHERE key = ?1")?
        .query_row([&req.idempotency_key], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    match seen {
        None => Ok(None),
        Some((hash, _)) if hash != req.request_hash => Err(StoreError::IdempotencyMismatch),
        Some((_, response)) => {
            let record = serde_json::from_str(&response).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            Ok(Some(CreateOutcome::Replayed(record)))
        }
    }
}

/// Every warehouse with a stock row for any line, and whether it can serve all lines.
fn candidates(conn: &Connection, lines: &[OrderLine]) -> StoreResult<Vec<Candidate>> {
    let mut stmt = conn.prepare_cached(
        "SELECT w.code, w.lat, w.lon, s.on_hand - s.locked - s.committed
         FROM stock s JOIN warehouse w ON w.code = s.warehouse WHERE s.sku = ?1",
    )?;
    let mut served: HashMap<String, (GeoPoint, usize)> = HashMap::new();
    for line in lines {
        let rows = stmt.query_map([line.sku.as_str()], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, f64>(1)?, r.get::<_, f64>(2)?, r.get::<_, i64>(3)?))
        })?;
        for row in rows {
            let (code, lat, lon, sellable) = row?;
            let entry = served.entry(code).or_insert((GeoPoint { lat, lon }, 0));
            if sellable >= line.qty.as_i64() {
                entry.1 += 1;
            }
        }
    }
    let mut out = Vec::with_capacity(served.len());
    for (code, (point, lines_served)) in served {
        out.push(Candidate { warehouse: parse_warehouse(&code)?, point, serves_all_lines: lines_served == lines.len() });
    }
    Ok(out)
}

fn shortage_text(lines: &[OrderLine], candidates: &[Candidate]) -> String {
    let wanted: Vec<String> = lines.iter().map(|l| format!("{} × {}", l.qty.get(), l.sku)).collect();
    if candidates.is_empty() {
        format!("no warehouse stocks {}", wanted.join(", "))
    } else {
        format!("no single warehouse has sellable stock for {}", wanted.join(", "))
    }
}

pub fn load(conn: &Connection, id: u64) -> StoreResult<OrderRecord> {
    let row = conn
        .prepare_cached(
            "SELECT state, channel, warehouse, ship_to, total_minor, tracking_number, carrier, created_ms,
                    payment_deadline_ms, updated_ms FROM orders WHERE id = ?1",
        )?
        .query_row([id as i64], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, Option<String>>(5)?,
                r.get::<_, Option<String>>(6)?,
                r.get::<_, i64>(7)?,
                r.get::<_, i64>(8)?,
                r.get::<_, i64>(9)?,
            ))
        })
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("order {id}")))?;
    let (state, channel, warehouse, ship_to, total, tracking_number, carrier, created, deadline, updated) = row;
    let corrupt = |what: String| StoreError::Corrupt(what);
    Ok(OrderRecord {
        id,
        state: OrderState::parse(&state).ok_or_else(|| corrupt(format!("order state {state}")))?,
        channel,
        warehouse: warehouse.as_deref().map(parse_warehouse).transpose()?,
        lines: load_lines(conn, id)?,
        total: Money::parse(total).map_err(|e| corrupt(e.to_string()))?,
        ship_to: serde_json::from_str::<ShipTo>(&ship_to).map_err(|e| corrupt(e.to_string()))?,
        tracking_number,
        carrier,
        created_at_ms: created,
        payment_deadline_ms: deadline,
        updated_at_ms: updated,
    })
}

fn load_lines(conn: &Connection, id: u64) -> StoreResult<Vec<OrderLineRecord>> {
    let mut stmt = conn.prepare_cached(
        "SELECT sku, qty, unit_price_minor FROM order_line WHERE order_id = ?1 ORDER BY line_no",
    )?;
    let rows = stmt.query_map([id as i64], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (sku, qty, price) = row?;
        out.push(OrderLineRecord {
            sku: parse_sku(&sku)?,
            qty: Qty::parse(qty).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            unit_price: Money::parse(price).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        });
    }
    Ok(out)
}

/// Applies `event` to order `id`: the pure transition, then its effects, then the new state
/// and a history row. `cause` names the trigger for the ledger and history.
pub fn apply_event(conn: &Connection, id: u64, event: &OrderEvent, cause: &str, now_ms: i64) -> StoreResult<OrderRecord> {
    apply_event_from(conn, id, event, cause, "", now_ms)
}

/// `apply_event` for a change reported by someone else; `source` (e.g. `edge:SH-01#17`)
/// goes into the ledger reference beside the order.
pub fn apply_event_from(conn: &Connection, id: u64, event: &OrderEvent, cause: &str, source: &str, now_ms: i64) -> StoreResult<OrderRecord> {
    let mut order = load(conn, id)?;
    let step = transition(order.state, event)?;
    let from = order.state;
    let reference = if source.is_empty() { format!("order:{id}") } else { format!("order:{id} {source}") };
    let ledger_cause = Cause { cause, reference: &reference, at_ms: now_ms };
    let next = step.to;
    for effect in &step.effects {
        match effect {
            OrderEffect::CommitLock => each_line(conn, &order, &ledger_cause, |s, q| s.commit_lock(q))?,
            OrderEffect::ReleaseLock => each_line(conn, &order, &ledger_cause, |s, q| s.release_lock(q))?,
            OrderEffect::ReleaseCommitment => each_line(conn, &order, &ledger_cause, |s, q| s.release_commitment(q))?,
            OrderEffect::CommitDirect => each_line(conn, &order, &ledger_cause, |s, q| s.commit_direct(q))?,
            OrderEffect::ShipStock => each_line(conn, &order, &ledger_cause, |s, q| s.ship(q))?,
            OrderEffect::SendFulfilToEdge => {
                let command = CommandKind::Fulfil {
                    order_id: id,
                    lines: order.lines.iter().map(|l| OrderLine { sku: l.sku.clone(), qty: l.qty }).collect(),
                    ship_to: order.ship_to.clone(),
                };
                enqueue_command(conn, warehouse_of(&order)?, &command, now_ms)?;
            }
            OrderEffect::SendCancelToEdge => {
                enqueue_command(conn, warehouse_of(&order)?, &CommandKind::Cancel { order_id: id }, now_ms)?;
            }
            OrderEffect::Reroute => {
                let failed = order.warehouse.take();
                record_transition(conn, &order, from, next, cause, now_ms)?;
                return reroute(conn, order, failed.as_ref(), now_ms);
            }
        }
    }
    record_transition(conn, &order, from, next, cause, now_ms)?;
    order.state = next;
    order.updated_at_ms = now_ms;
    Ok(order)
}

fn warehouse_of(order: &OrderRecord) -> StoreResult<&WarehouseCode> {
    order.warehouse.as_ref().ok_or_else(|| StoreError::Corrupt(format!("order {} has no warehouse", order.id)))
}

fn each_line(
    conn: &Connection,
    order: &OrderRecord,
    cause: &Cause<'_>,
    rule: impl Fn(&mut StockLevel, i64) -> Result<Vec<tote_shared::stock::Movement>, tote_shared::stock::StockError>,
) -> StoreResult<()> {
    let warehouse = warehouse_of(order)?;
    for line in &order.lines {
        stock::change(conn, line.sku.as_str(), warehouse.as_str(), cause, |s| rule(s, line.qty.as_i64()))?;
    }
    Ok(())
}

fn record_transition(conn: &Connection, order: &OrderRecord, from: OrderState, to: OrderState, cause: &str, now_ms: i64) -> StoreResult<()> {
    let warehouse = order.warehouse.as_ref().map(|w| w.as_str());
    conn.prepare_cached("UPDATE orders SET state = ?2, warehouse = ?3, updated_ms = ?4 WHERE id = ?1")?
        .execute(params![order.id as i64, to.as_str(), warehouse, now_ms])?;
    conn.prepare_cached(
        "INSERT INTO order_history (order_id, at_ms, from_state, to_state, cause, warehouse) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![order.id as i64, now_ms, from.as_str(), to.as_str(), cause, warehouse])?;
    Ok(())
}

/// The order is backordered with no warehouse; find another that can serve it.
fn reroute(conn: &Connection, mut order: OrderRecord, failed: Option<&WarehouseCode>, now_ms: i64) -> StoreResult<OrderRecord> {
    order.state = OrderState::Backordered;
    let destination = destination(conn, order.id)?;
    let lines: Vec<OrderLine> = order.lines.iter().map(|l| OrderLine { sku: l.sku.clone(), qty: l.qty }).collect();
    let candidates = candidates(conn, &lines)?;
    let Some(choice) = choose_warehouse(&candidates, &destination, failed).cloned() else {
        tracing::warn!(order_id = order.id, "no warehouse can serve the order; backordered");
        return Ok(order);
    };
    order.warehouse = Some(choice);
    conn.prepare_cached("UPDATE orders SET warehouse = ?2 WHERE id = ?1")?
        .execute(params![order.id as i64, order.warehouse.as_ref().map(|w| w.as_str())])?;
    apply_event(conn, order.id, &OrderEvent::StockAllocated, "order_rerouted", now_ms)
}

/// Stock at `warehouse` fell below what is reserved there (a count variance, damage). Moves
/// the locks of unpaid orders for `sku`, newest first, to the nearest other warehouse that can
/// serve them, until the reservations fit again. What cannot move stays and is logged.
pub fn move_locks_away(conn: &Connection, sku: &str, warehouse: &WarehouseCode, now_ms: i64) -> StoreResult<()> {
    let ids: Vec<i64> = conn
        .prepare_cached(
            "SELECT DISTINCT o.id FROM orders o JOIN order_line l ON l.order_id = o.id
             WHERE o.state = 'awaiting_payment' AND o.warehouse = ?1 AND l.sku = ?2 ORDER BY o.id DESC LIMIT 1000",
        )?
        .query_map(params![warehouse.as_str(), sku], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for id in ids {
        if stock::load(conn, sku, warehouse.as_str())?.overcommitted() == 0 {
            return Ok(());
        }
        let mut order = load(conn, id as u64)?;
        let destination = destination(conn, id as u64)?;
        let lines: Vec<OrderLine> = order.lines.iter().map(|l| OrderLine { sku: l.sku.clone(), qty: l.qty }).collect();
        let candidates = candidates(conn, &lines)?;
        let Some(target) = choose_warehouse(&candidates, &destination, Some(warehouse)).cloned() else {
            continue;
        };
        let reference = format!("order:{id}");
        let cause = Cause { cause: "lock_rerouted", reference: &reference, at_ms: now_ms };
        for line in &order.lines {
            stock::change(conn, line.sku.as_str(), warehouse.as_str(), &cause, |s| s.release_lock(line.qty.as_i64()))?;
            stock::change(conn, line.sku.as_str(), target.as_str(), &cause, |s| s.lock(line.qty.as_i64()))?;
        }
        order.warehouse = Some(target);
        record_transition(conn, &order, OrderState::AwaitingPayment, OrderState::AwaitingPayment, "lock_rerouted", now_ms)?;
    }
    let left = stock::load(conn, sku, warehouse.as_str())?.overcommitted();
    if left > 0 {
        tracing::warn!(sku, %warehouse, overcommitted = left, "stock below reservations; paid orders wait for the edge to re-route them");
    }
    Ok(())
}

/// Sandbox payment. Paying an order that was already paid answers with the order as it is,
/// so a client that retries after a lost response does not get an error.
pub fn pay(conn: &Connection, id: u64, now_ms: i64) -> StoreResult<OrderRecord> {
    let order = load(conn, id)?;
    if order.state != OrderState::AwaitingPayment && was(conn, id, "order_paid")? {
        return Ok(order);
    }
    apply_event(conn, id, &OrderEvent::Paid, "order_paid", now_ms)
}

/// Cancel request; repeating it while the cancel is under way or done answers as it is.
pub fn cancel(conn: &Connection, id: u64, now_ms: i64) -> StoreResult<OrderRecord> {
    let order = load(conn, id)?;
    if matches!(order.state, OrderState::Cancelling | OrderState::Cancelled) && was(conn, id, "order_cancelled")? {
        return Ok(order);
    }
    apply_event(conn, id, &OrderEvent::CancelRequested, "order_cancelled", now_ms)
}

fn was(conn: &Connection, id: u64, cause: &str) -> StoreResult<bool> {
    let found: Option<i64> = conn
        .prepare_cached("SELECT 1 FROM order_history WHERE order_id = ?1 AND cause = ?2 LIMIT 1")?
        .query_row(params![id as i64, cause], |r| r.get(0))
        .optional()?;
    Ok(found.is_some())
}

/// Where the order ships to, as stored at creation.
fn destination(conn: &Connection, id: u64) -> StoreResult<GeoPoint> {
    Ok(conn
        .prepare_cached("SELECT dest_lat, dest_lon FROM orders WHERE id = ?1")?
        .query_row([id as i64], |r| Ok(GeoPoint { lat: r.get(0)?, lon: r.get(1)? }))?)
}

/// Backordered orders that wait for `sku`, oldest first: try each once stock arrives.
pub fn retry_backorders(conn: &Connection, sku: &str, now_ms: i64) -> StoreResult<()> {
    let ids: Vec<i64> = conn
        .prepare_cached(
            "SELECT DISTINCT o.id FROM orders o JOIN order_line l ON l.order_id = o.id
             WHERE o.state = 'backordered' AND l.sku = ?1 ORDER BY o.id LIMIT 100",
        )?
        .query_map([sku], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for id in ids {
        let order = load(conn, id as u64)?;
        reroute(conn, order, None, now_ms)?;
    }
    Ok(())
}

pub fn close_expired(conn: &Connection, now_ms: i64, limit: u32) -> StoreResult<u32> {
    let due: Vec<(i64, i64)> = conn
        .prepare_cached(
            "SELECT id, payment_deadline_ms FROM orders WHERE state = 'awaiting_payment' AND payment_deadline_ms <= ?1
             ORDER BY payment_deadline_ms LIMIT ?2",
        )?
        .query_map(params![now_ms, limit], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (id, deadline_ms) in &due {
        let event = OrderEvent::PaymentDeadlineChecked { now_ms, deadline_ms: *deadline_ms };
        apply_event(conn, *id as u64, &event, "payment_timeout", now_ms)?;
    }
    Ok(due.len() as u32)
}

pub fn history(conn: &Connection, id: u64) -> StoreResult<Vec<OrderHistoryEntry>> {
    let mut stmt = conn.prepare_cached(
        "SELECT at_ms, from_state, to_state, cause, warehouse FROM order_history WHERE order_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([id as i64], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?, r.get::<_, Option<String>>(4)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (at_ms, from, to, cause, warehouse) = row?;
        let state = |s: &str| OrderState::parse(s).ok_or_else(|| StoreError::Corrupt(format!("order state {s}")));
        out.push(OrderHistoryEntry {
            at_ms,
            from_state: state(&from)?,
            to_state: state(&to)?,
            cause,
            warehouse: warehouse.as_deref().map(parse_warehouse).transpose()?,
        });
    }
    Ok(out)
}

pub fn set_shipping(conn: &Connection, id: u64, tracking_number: &str, carrier: &str) -> StoreResult<()> {
    conn.prepare_cached("UPDATE orders SET tracking_number = ?2, carrier = ?3 WHERE id = ?1")?
        .execute(params![id as i64, tracking_number, carrier])?;
    Ok(())
}

/// Idempotency-Keys protect against retries, which come within minutes; keeping them for
/// days is plenty, keeping them forever grows the table without bound.
pub fn prune_idempotency_keys(conn: &Connection, before_ms: i64, limit: u32) -> StoreResult<u32> {
    let n = conn
        .prepare_cached("DELETE FROM idempotency WHERE key IN (SELECT key FROM idempotency WHERE created_ms < ?1 LIMIT ?2)")?
        .execute(params![before_ms, limit])?;
    Ok(n as u32)
}
