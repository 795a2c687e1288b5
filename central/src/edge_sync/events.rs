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
use crate::orders::{flow, OrdersError};
use tote_shared::order::OrderEvent;
use tote_shared::stock::StockLevel;
use tote_shared::sync::{EdgeEvent, EdgeEventKind, PushAck};
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

impl From<OrdersError> for Outcome {
    fn from(e: OrdersError) -> Self {
        match e {
            OrdersError::Db(e) => Outcome::Fault(e),
            other => Outcome::Rejected(other.to_string()),
        }
    }
}

/// Applies the events above the edge's high-water mark, in order. Events must follow on
/// without a gap; replays (at or below the mark) are skipped, which makes pushes idempotent.
pub fn apply_events(tx: &mut dyn Tx, warehouse: &WarehouseCode, events: &[EdgeEvent], now_ms: i64) -> Result<PushAck, SyncError> {
    let mut high_water = commands::lock_high_water(tx, warehouse)?;
    let mut applied = 0;
    for event in events {
        if event.seq <= high_water {
            continue;
        }
        if event.seq != high_water + 1 {
            return Err(SyncError::Gap { high_water, first: event.seq });
        }
        match apply_one(tx, warehouse, event, now_ms) {
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

fn apply_one(tx: &mut dyn Tx, warehouse: &WarehouseCode, event: &EdgeEvent, now_ms: i64) -> Result<(), Outcome> {
    let source = format!("edge:{warehouse}#{}", event.seq);
    let from = flow::EdgeSource { warehouse, reference: &source, now_ms };
    let order_step = |tx: &mut dyn Tx, id: u64, ev: OrderEvent, cause: &str, shipping: Option<(&str, &str)>| {
        flow::edge_step(tx, &from, id, &ev, cause, shipping).map(|_| ()).map_err(Outcome::from)
    };
    match &event.kind {
        EdgeEventKind::StockReceived { sku, qty, .. } => {
            adjust(tx, warehouse, sku, qty.as_i64(), "edge_receipt", &source, now_ms)?;
            let event = BusinessEvent::StockReceived { sku: sku.clone(), warehouse: warehouse.clone(), qty: *qty };
            journal::store::append(tx, &event, now_ms)?;
            follow_up(flow::retry_backorders(tx, sku, now_ms))
        }
        EdgeEventKind::StockAdjusted { sku, delta, reason, .. } => {
            let level = adjust(tx, warehouse, sku, *delta, &format!("edge_adjust_{}", reason.as_str()), &source, now_ms)?;
            let event = BusinessEvent::StockAdjusted { sku: sku.clone(), warehouse: warehouse.clone(), delta: *delta, reason: reason.as_str().into() };
            journal::store::append(tx, &event, now_ms)?;
            if level.overcommitted() > 0 {
                // Unpaid orders' locks move to another warehouse; paid orders are the edge's
                // to re-route (it fails them back when it cannot serve them).
                follow_up(flow::move_locks_away(tx, sku, warehouse, now_ms))?;
            }
            if *delta > 0 {
                follow_up(flow::retry_backorders(tx, sku, now_ms))?;
            }
            Ok(())
        }
        EdgeEventKind::OrderPicked { order_id } => order_step(tx, *order_id, OrderEvent::EdgePicked, "edge_picked", None),
        EdgeEventKind::OrderPacked { order_id } => order_step(tx, *order_id, OrderEvent::EdgePacked, "edge_packed", None),
        EdgeEventKind::OrderShipped { order_id, tracking_number, carrier, .. } => {
            order_step(tx, *order_id, OrderEvent::EdgeShipped, "edge_shipment", Some((carrier, tracking_number)))
        }
        EdgeEventKind::CancelConfirmed { order_id } => order_step(tx, *order_id, OrderEvent::EdgeCancelConfirmed, "edge_cancel_confirmed", None),
        EdgeEventKind::FulfilmentFailed { order_id, .. } => order_step(tx, *order_id, OrderEvent::EdgeFulfilmentFailed, "edge_fulfilment_failed", None),
    }
}

/// Physical stock at the edge changed by `delta`.
fn adjust(tx: &mut dyn Tx, warehouse: &WarehouseCode, sku: &Sku, delta: i64, cause: &str, source: &str, now_ms: i64) -> Result<StockLevel, Outcome> {
    if !catalog::store::exists(tx, sku)? {
        return Err(Outcome::Rejected(format!("unknown SKU {sku}")));
    }
    let change = Change { sku, warehouse, rule: StockLevel::adjust_on_hand, qty: delta };
    let levels = inventory::store::change_all(tx, &[change], &Cause { cause, reference: source, at_ms: now_ms })?;
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
