//! The top layer of edge sync: events above the edge's high-water mark are applied in order,
//! each dispatched to the system it concerns (inventory for stock, orders for order
//! progress), and the mark advances in the same transaction.
//!
//! An event is a fact the edge reports. One that no system can take (an order another
//! warehouse holds, a pick for a cancelled order, an unknown SKU) is kept in `sync_reject`
//! for HQ instead of blocking every later event of that edge. The systems decide before
//! they write, so a kept-aside event has written nothing; only database faults fail the push.

use super::commands;
use super::SyncError;
use crate::catalog;
use crate::db::{DbError, Tx};
use crate::inventory::{self, Cause, Change, InventoryError};
use crate::journal::{self, BusinessEvent};
use crate::orders::{self, flow, OrdersError};
use tote_shared::order::OrderEvent;
use tote_shared::stock::StockLevel;
use tote_shared::sync::{plan_push, EdgeEvent, EdgeEventKind, PushAck};
use tote_shared::{Sku, WarehouseCode};

/// Why an event was kept aside, or the fault that fails the push.
enum Outcome {
    Rejected(String),
    Fault(DbError),
}

impl From<DbError> for Outcome {
    fn from(e: DbError) -> Self {
        Outcome::Fault(e)
    }
}

impl From<InventoryError> for Outcome {
    fn from(e: InventoryError) -> Self {
        match e {
            InventoryError::Db(e) => Outcome::Fault(e),
            rule => Outcome::Rejected(rule.to_string()),
        }
    }
}

impl From<crate::after_sales::AfterSalesError> for Outcome {
    fn from(e: crate::after_sales::AfterSalesError) -> Self {
        match e {
            crate::after_sales::AfterSalesError::Db(e) => Outcome::Fault(e),
            other => Outcome::Rejected(other.to_string()),
        }
    }
}

impl From<OrdersError> for Outcome {
    fn from(e: OrdersError) -> Self {
        match e {
            OrdersError::Db(e) => Outcome::Fault(e),
            other => Outcome::Rejected(other.to_string()),
        }
    }
}

/// What one push learns once and reuses for every event of it: a catch-up after an outage
/// is thousands of receipts, and each saved statement is a round trip on PostgreSQL.
struct Batch {
    known_skus: std::collections::HashSet<Sku>,
    /// Whether an order may be waiting for stock; re-checked after events that can make one.
    backorders: Option<bool>,
}

impl Batch {
    fn knows(&mut self, tx: &mut dyn Tx, sku: &Sku) -> Result<bool, DbError> {
        if self.known_skus.contains(sku) {
            return Ok(true);
        }
        let known = catalog::store::exists(tx, sku)?;
        if known {
            self.known_skus.insert(sku.clone());
        }
        Ok(known)
    }

    fn serve_backorders(&mut self, tx: &mut dyn Tx, sku: &Sku, now_ms: i64) -> Result<(), Outcome> {
        let waiting = match self.backorders {
            Some(waiting) => waiting,
            None => *self.backorders.insert(orders::store::any_backordered(tx)?),
        };
        if waiting {
            follow_up(flow::retry_backorders(tx, sku, now_ms))?;
            self.backorders = None;
        }
        Ok(())
    }
}

/// Applies the events above the edge's high-water mark, in order. The stream rule
/// (`tote_shared::sync::plan_push`) is checked first, against the locked mark: replays (at or
/// below the mark) are skipped, which makes pushes idempotent; the new events must continue
/// exactly from the mark; and a `head` below the mark (central holds events the edge never
/// wrote) refuses the push. A refused push writes nothing.
pub fn apply_events(tx: &mut dyn Tx, warehouse: &WarehouseCode, events: &[EdgeEvent], head: Option<u64>, now_ms: i64) -> Result<PushAck, SyncError> {
    let held = commands::lock_high_water(tx, warehouse)?;
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    let first_new = plan_push(held, head, &seqs)?;
    let mut high_water = held;
    let mut batch = Batch { known_skus: Default::default(), backorders: None };
    let mut applied = 0;
    for event in &events[first_new..] {
        match apply_one(tx, &mut batch, warehouse, event, now_ms) {
            Ok(()) => {}
            Err(Outcome::Rejected(reason)) => {
                tracing::warn!(%warehouse, seq = event.seq, %reason, "edge event rejected; kept in sync_reject");
                let body = serde_json::to_string(event).map_err(|e| DbError::corrupt(e.to_string()))?;
                commands::keep_reject(tx, warehouse, event.seq, &body, &reason, now_ms)?;
            }
            Err(Outcome::Fault(e)) => return Err(e.into()),
        }
        high_water = event.seq;
        applied += 1;
    }
    // A pure replay writes nothing at all: it must leave central exactly as it was.
    if applied > 0 {
        commands::set_high_water(tx, warehouse, high_water, now_ms)?;
    }
    Ok(PushAck { high_water, applied })
}

fn apply_one(tx: &mut dyn Tx, batch: &mut Batch, warehouse: &WarehouseCode, event: &EdgeEvent, now_ms: i64) -> Result<(), Outcome> {
    let source = format!("edge:{warehouse}#{}", event.seq);
    let from = flow::EdgeSource { warehouse, reference: &source, now_ms };
    if let Err(error) = event.kind.check_text() {
        return Err(Outcome::Rejected(error.to_string()));
    }
    let order_step = |tx: &mut dyn Tx, id: u64, ev: OrderEvent, cause: &str, shipping: Option<(&str, &str)>| {
        flow::edge_step(tx, &from, id, &ev, cause, shipping).map(|_| ()).map_err(Outcome::from)
    };
    match &event.kind {
        EdgeEventKind::StockReceived { sku, qty, .. } => {
            adjust(tx, batch, warehouse, sku, qty.as_i64(), &Cause { cause: "edge_receipt", reference: &source, at_ms: now_ms })?;
            let event = BusinessEvent::StockReceived { sku: sku.clone(), warehouse: warehouse.clone(), qty: *qty, unit_cost: None };
            journal::store::append(tx, &event, now_ms)?;
            batch.serve_backorders(tx, sku, now_ms)
        }
        EdgeEventKind::StockAdjusted { sku, delta, reason, .. } => {
            let cause = format!("edge_adjust_{}", reason.as_str());
            let level = adjust(tx, batch, warehouse, sku, *delta, &Cause { cause: &cause, reference: &source, at_ms: now_ms })?;
            let event = BusinessEvent::StockAdjusted { sku: sku.clone(), warehouse: warehouse.clone(), delta: *delta, reason: reason.as_str().into() };
            journal::store::append(tx, &event, now_ms)?;
            if level.overcommitted() > 0 {
                // Unpaid orders' locks move to another warehouse; paid orders are the edge's
                // to re-route (it fails them back when it cannot serve them).
                follow_up(flow::move_locks_away(tx, sku, warehouse, now_ms))?;
            }
            if *delta > 0 {
                batch.serve_backorders(tx, sku, now_ms)?;
            }
            Ok(())
        }
        EdgeEventKind::OrderPicked { order_id } => order_step(tx, *order_id, OrderEvent::EdgePicked, "edge_picked", None),
        EdgeEventKind::OrderPacked { order_id } => order_step(tx, *order_id, OrderEvent::EdgePacked, "edge_packed", None),
        EdgeEventKind::OrderShipped { order_id, tracking_number, carrier, .. } => {
            let shipped = (carrier.as_str(), tracking_number.as_str());
            let (order, part) = flow::edge_step(tx, &from, *order_id, &OrderEvent::EdgeShipped, crate::orders::SHIPMENT_CAUSE, Some(shipped)).map_err(Outcome::from)?;
            // The parcel is tracked from here (and registered with its carrier, for whom it
            // carries its consignee and contents: this warehouse's part of the order); a
            // waybill seen before keeps its first parcel.
            let consignment = crate::logistics::Consignment { ship_to: order.ship_to.clone(), lines: order.parts[part].order_lines() };
            let parcel = crate::logistics::Shipped { waybill: tracking_number, carrier, order_id: *order_id, warehouse: warehouse.as_str(), shipped_ms: event.at_ms };
            crate::logistics::parcel_shipped(tx, &parcel, &consignment, now_ms)?;
            Ok(())
        }
        EdgeEventKind::CancelConfirmed { order_id } => order_step(tx, *order_id, OrderEvent::EdgeCancelConfirmed, "edge_cancel_confirmed", None),
        EdgeEventKind::FulfilmentFailed { order_id, .. } => {
            // A failed fulfilment may leave the order backordered.
            batch.backorders = None;
            order_step(tx, *order_id, OrderEvent::EdgeFulfilmentFailed, "edge_fulfilment_failed", None)
        }
        EdgeEventKind::DeliveryReceived { delivery, sku, qty, held, .. } => {
            if !batch.knows(tx, sku)? {
                return Err(Outcome::Rejected(format!("unknown SKU {sku}")));
            }
            if *held {
                // Failed QC: set aside at the warehouse, never sellable, going back.
                inventory::store::change_aside(tx, sku, warehouse, 0, qty.as_i64())?;
                let event = BusinessEvent::StockHeld { sku: sku.clone(), warehouse: warehouse.clone(), qty: *qty, delivery: delivery.clone() };
                journal::store::append(tx, &event, now_ms)?;
            } else {
                adjust(tx, batch, warehouse, sku, qty.as_i64(), &Cause { cause: "edge_receipt", reference: &source, at_ms: now_ms })?;
            }
            let matched = crate::procurement::flow::delivery_received(tx, warehouse, delivery, sku, qty.get(), *held, now_ms).map_err(|e| match e {
                crate::procurement::ProcurementError::Db(e) => Outcome::Fault(e),
                // The stock is written: anything else is a fault too, never a reject.
                other => Outcome::Fault(DbError::corrupt(other.to_string())),
            })?;
            if *held {
                return Ok(());
            }
            // What came on the order is valued at its cost; anything beyond is a plain receipt.
            let on_order = matched.map_or(0, |(counted, _)| counted.min(qty.get()));
            let parts = [(on_order, matched.map(|(_, cost)| cost.minor())), (qty.get() - on_order, None)];
            for (units, unit_cost) in parts.into_iter().filter(|(units, _)| *units > 0) {
                let qty = tote_shared::Qty::parse(i64::from(units)).map_err(|e| Outcome::Fault(DbError::corrupt(e.to_string())))?;
                let event = BusinessEvent::StockReceived { sku: sku.clone(), warehouse: warehouse.clone(), qty, unit_cost };
                journal::store::append(tx, &event, now_ms)?;
            }
            batch.serve_backorders(tx, sku, now_ms)
        }
        EdgeEventKind::LotLevel { sku, lot, expiry, qty } => {
            if !batch.knows(tx, sku)? {
                return Err(Outcome::Rejected(format!("unknown SKU {sku}")));
            }
            let why = if lot.is_empty() || lot.len() > 20 {
                Some(format!("lot {lot:?} is not 1 to 20 characters"))
            } else if tote_shared::calendar::parse_day(expiry).is_none() {
                Some(format!("expiry {expiry:?} is not a day (YYYY-MM-DD)"))
            } else if *qty < 0 {
                Some(format!("qty {qty} is negative"))
            } else {
                None
            };
            if let Some(why) = why {
                return Err(Outcome::Rejected(format!("lot level of {sku}: {why}")));
            }
            inventory::store::set_lot(tx, warehouse, sku, lot, expiry, *qty, now_ms)?;
            Ok(())
        }
        EdgeEventKind::FrozenLevel { sku, qty } => {
            if !batch.knows(tx, sku)? {
                return Err(Outcome::Rejected(format!("unknown SKU {sku}")));
            }
            if !(0..=tote_shared::stock::MAX_UNITS).contains(qty) {
                return Err(Outcome::Rejected(format!("frozen level of {sku}: {qty} is not 0 to {}", tote_shared::stock::MAX_UNITS)));
            }
            let (level, change) = inventory::store::set_frozen(tx, sku, warehouse, *qty)?;
            tracing::info!(%sku, %warehouse, frozen = qty, change, "frozen units at a warehouse changed");
            if level.overcommitted() > 0 {
                // As after a count variance: unpaid orders' locks move away; paid ones are
                // the edge's, which moved their picks off the frozen stock or failed them back.
                follow_up(flow::move_locks_away(tx, sku, warehouse, now_ms))?;
            }
            if change < 0 {
                batch.serve_backorders(tx, sku, now_ms)?;
            }
            Ok(())
        }
        EdgeEventKind::ReturnReceived { rma, order_id, location, lines } => {
            let got = crate::after_sales::flow::Received { warehouse, rma, order_id: *order_id, location, lines, source: &source, now_ms };
            crate::after_sales::flow::return_received(tx, &got)?;
            // Units back in stock may serve a backorder.
            batch.backorders = None;
            for line in lines.iter().filter(|l| l.passed > 0) {
                batch.serve_backorders(tx, &line.sku, now_ms)?;
            }
            Ok(())
        }
    }
}

/// Physical stock at the edge changed by `delta`.
fn adjust(tx: &mut dyn Tx, batch: &mut Batch, warehouse: &WarehouseCode, sku: &Sku, delta: i64, cause: &Cause<'_>) -> Result<StockLevel, Outcome> {
    if !batch.knows(tx, sku)? {
        return Err(Outcome::Rejected(format!("unknown SKU {sku}")));
    }
    let change = Change { sku, warehouse, rule: StockLevel::adjust_on_hand, qty: delta };
    let levels = inventory::store::change_all(tx, &[change], cause)?;
    Ok(levels[0])
}

/// What follows a stock change (moving locks, serving backorders) skips what it cannot do;
/// an error from it after the change was written is a fault, never a reject.
fn follow_up(outcome: Result<(), OrdersError>) -> Result<(), Outcome> {
    outcome.map_err(|e| match e {
        OrdersError::Db(e) => Outcome::Fault(e),
        other => Outcome::Fault(DbError::corrupt(format!("after a stock change: {other}"))),
    })
}
