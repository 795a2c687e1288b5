//! Orders carried out: load → decide (the pure rules) → apply, in the caller's transaction.
//! Every stock change of a step is decided for all lines before anything is written, so a
//! refused step writes nothing (no SAVEPOINT needed on either backend).

use super::routing::{choose_warehouse, Candidate};
use super::{journal_event, shortage_text, stock_rule, store, CreateOrder, OrderLineRecord, OrderRecord, OrdersError};
use crate::catalog;
use crate::db::{DbError, DbResult, Tx};
use crate::edge_sync::commands;
use crate::inventory::{self, Cause, Change, InventoryError};
use crate::journal::{self, BusinessEvent};
use crate::logistics;
use std::collections::HashMap;
use tote_shared::geo::GeoPoint;
use tote_shared::order::{transition, OrderEffect, OrderEvent, OrderState, Transition};
use tote_shared::stock::StockLevel;
use tote_shared::sync::{CommandKind, OrderLine};
use tote_shared::{Money, Sku, WarehouseCode};

/// Takes an order: prices its lines, routes it to the nearest warehouse that can serve every
/// line, locks the stock there and journals `order_created`.
pub fn create(tx: &mut dyn Tx, req: &CreateOrder) -> Result<OrderRecord, OrdersError> {
    let lines = price(tx, &req.lines)?;
    super::screen::screen_one(tx, req)?;
    place(tx, req, lines, OrderState::AwaitingPayment)
}

/// An order a marketplace sold and took the money for, at the prices the buyer paid
/// (`lines`): checked (address, blocklist), locked at the nearest warehouse that can serve it
/// and paid at once. When none can, it is still taken — the buyer has paid — and waits
/// backordered for stock.
pub fn import(tx: &mut dyn Tx, req: &CreateOrder, lines: Vec<OrderLineRecord>) -> Result<OrderRecord, OrdersError> {
    price(tx, &req.lines)?; // every SKU must be ours
    super::screen::screen_import(tx, req)?;
    match place(tx, req, lines.clone(), OrderState::AwaitingPayment) {
        Ok(order) => apply(tx, order, &OrderEvent::Paid, super::PAID_AT_CHANNEL, "", req.now_ms),
        Err(OrdersError::InsufficientStock(why)) => {
            tracing::warn!(channel = %req.channel, %why, "an imported order waits for stock");
            backordered_paid(tx, req, lines)
        }
        Err(other) => Err(other),
    }
}

/// A paid order no warehouse can serve yet: no lock anywhere; `retry_backorders` takes it
/// when stock arrives.
fn backordered_paid(tx: &mut dyn Tx, req: &CreateOrder, lines: Vec<OrderLineRecord>) -> Result<OrderRecord, OrdersError> {
    let total = total(&lines)?;
    let mut order = req.record(OrderState::Backordered, None, lines, total);
    order.id = store::insert(tx, &order, &req.destination)?;
    store::record_transition(tx, &order, OrderState::AwaitingPayment, OrderState::Backordered, super::PAID_AT_CHANNEL, req.now_ms)?;
    let paid = BusinessEvent::OrderPaid {
        order_id: order.id,
        warehouse: None,
        lines: super::event_lines(&order),
        total: order.total.minor(),
        collected_by: Some(order.channel.clone()),
    };
    journal::store::append(tx, &paid, req.now_ms)?;
    journal::store::append(tx, &BusinessEvent::OrderBackordered { order_id: order.id }, req.now_ms)?;
    Ok(order)
}

/// An exchange's replacement: routed and locked like a new order, so it cannot be sold
/// meanwhile, but held — no payment, no deadline — until the returned item passes QC
/// (`release_held`). Its lines cost nothing: the original order paid for them.
pub fn create_replacement(tx: &mut dyn Tx, req: &CreateOrder) -> Result<OrderRecord, OrdersError> {
    let mut lines = price(tx, &req.lines)?;
    for line in &mut lines {
        line.unit_price = Money::ZERO;
    }
    place(tx, req, lines, OrderState::Held)
}

/// The returned item an exchange waited for passed QC: the replacement goes to its warehouse.
pub fn release_held(tx: &mut dyn Tx, id: u64, source: &str, now_ms: i64) -> Result<OrderRecord, OrdersError> {
    let order = load(tx, id)?;
    apply(tx, order, &OrderEvent::ReturnPassed, "return_passed", source, now_ms)
}

fn place(tx: &mut dyn Tx, req: &CreateOrder, lines: Vec<OrderLineRecord>, state: OrderState) -> Result<OrderRecord, OrdersError> {
    let total = total(&lines)?;
    let candidates = candidates(tx, &req.lines)?;
    let mut tried = Vec::new();
    loop {
        let Some(warehouse) = choose_warehouse(&candidates, &req.destination, &tried).cloned() else {
            return Err(OrdersError::InsufficientStock(shortage_text(&req.lines, !candidates.is_empty())));
        };
        let changes: Vec<Change<'_>> =
            lines.iter().map(|l| Change { sku: &l.sku, warehouse: &warehouse, rule: StockLevel::lock, qty: l.qty.as_i64() }).collect();
        // Routing read sellable without locks; under the lock another order may have won.
        let decided = match lock_and_decide(tx, &changes)? {
            Some(decided) => decided,
            None => {
                tried.push(warehouse);
                continue;
            }
        };
        let mut order = req.record(state, Some(warehouse.clone()), lines.clone(), total);
        order.id = store::insert(tx, &order, &req.destination)?;
        let reference = format!("order:{}", order.id);
        let cause = Cause { cause: "order_created", reference: &reference, at_ms: req.now_ms };
        for (change, (level, moved)) in changes.iter().zip(&decided) {
            inventory::store::save(tx, change.sku, change.warehouse, level, moved, &cause)?;
        }
        let event = BusinessEvent::OrderCreated {
            order_id: order.id,
            channel: order.channel.clone(),
            warehouse,
            lines: super::event_lines(&order),
            total: total.minor(),
        };
        journal::store::append(tx, &event, req.now_ms)?;
        return Ok(order);
    }
}

type Decided = Vec<(StockLevel, Vec<tote_shared::stock::Movement>)>;

/// Locks the rows and decides; None when a stock rule refuses (nothing written).
fn lock_and_decide(tx: &mut dyn Tx, changes: &[Change<'_>]) -> DbResult<Option<Decided>> {
    let keys: Vec<_> = changes.iter().map(|c| (c.sku, c.warehouse)).collect();
    let levels = inventory::store::lock(tx, &keys)?;
    match inventory::decide(changes, &levels) {
        Ok(decided) => Ok(Some(decided)),
        Err(InventoryError::Rule { .. }) => Ok(None),
        Err(InventoryError::Db(e)) => Err(e),
    }
}

fn price(tx: &mut dyn Tx, lines: &[OrderLine]) -> Result<Vec<OrderLineRecord>, OrdersError> {
    let skus: Vec<&Sku> = lines.iter().map(|l| &l.sku).collect();
    let prices = catalog::store::prices(tx, &skus)?;
    lines
        .iter()
        .zip(prices)
        .map(|(line, price)| {
            let unit_price = price.ok_or_else(|| OrdersError::UnknownSku(line.sku.to_string()))?;
            Ok(OrderLineRecord { sku: line.sku.clone(), qty: line.qty, unit_price })
        })
        .collect()
}

fn total(lines: &[OrderLineRecord]) -> Result<Money, OrdersError> {
    let overflow = || OrdersError::Invalid("the order total is too large".into());
    let mut sum: i64 = 0;
    for l in lines {
        sum = l.unit_price.minor().checked_mul(l.qty.as_i64()).and_then(|v| sum.checked_add(v)).ok_or_else(overflow)?;
    }
    Money::parse(sum).map_err(|_| overflow())
}

/// Every warehouse with a stock row for any line, and whether it can serve all lines.
fn candidates(tx: &mut dyn Tx, lines: &[OrderLine]) -> DbResult<Vec<Candidate>> {
    let mut served: HashMap<WarehouseCode, (GeoPoint, usize)> = HashMap::new();
    for line in lines {
        for (warehouse, point, sellable) in inventory::store::sellable_by_warehouse(tx, &line.sku)? {
            served.entry(warehouse).or_insert((point, 0)).1 += usize::from(sellable >= line.qty.as_i64());
        }
    }
    Ok(served
        .into_iter()
        .map(|(warehouse, (point, lines_served))| Candidate { warehouse, point, serves_all_lines: lines_served == lines.len() })
        .collect())
}

/// The order, locked for this transaction.
pub fn load(tx: &mut dyn Tx, id: u64) -> Result<OrderRecord, OrdersError> {
    store::load(tx, id, true)?.ok_or_else(|| OrdersError::NotFound(format!("order {id}")))
}

/// Applies `event` to the order: the pure transition, then its effects, the new state, a
/// history row and the journal event. `source` (e.g. `edge:SH-01#17`) goes into the ledger
/// reference beside the order.
pub fn apply(tx: &mut dyn Tx, order: OrderRecord, event: &OrderEvent, cause: &str, source: &str, now_ms: i64) -> Result<OrderRecord, OrdersError> {
    let step = transition(order.state, event)?;
    carry_out(tx, order, step, cause, source, now_ms)
}

fn carry_out(tx: &mut dyn Tx, mut order: OrderRecord, step: Transition, cause: &str, source: &str, now_ms: i64) -> Result<OrderRecord, OrdersError> {
    let from = order.state;
    let reference = if source.is_empty() { format!("order:{}", order.id) } else { format!("order:{} {source}", order.id) };
    change_stock(tx, &order, &step.effects, &Cause { cause, reference: &reference, at_ms: now_ms })?;
    for effect in &step.effects {
        match effect {
            OrderEffect::SendFulfilToEdge => {
                let warehouse = warehouse_of(&order)?;
                let lines = order.order_lines();
                let released = logistics::Released {
                    order_id: order.id,
                    channel: &order.channel,
                    lines: &lines,
                    declared_value: order.total.minor(),
                    city: &order.ship_to.city,
                };
                let ship_via = logistics::plan_release(tx, &released, warehouse, now_ms)?;
                let command = CommandKind::Fulfil { order_id: order.id, lines, ship_to: order.ship_to.clone(), ship_via };
                commands::enqueue(tx, warehouse, &command, now_ms)?;
            }
            OrderEffect::SendCancelToEdge => {
                commands::enqueue(tx, warehouse_of(&order)?, &CommandKind::Cancel { order_id: order.id }, now_ms)?;
            }
            _ => {}
        }
    }
    let failed = if step.effects.contains(&OrderEffect::Reroute) { order.warehouse.take() } else { None };
    order.state = step.to;
    order.updated_at_ms = now_ms;
    store::record_transition(tx, &order, from, step.to, cause, now_ms)?;
    if let Some(event) = journal_event(&order, from, step.to, cause) {
        journal::store::append(tx, &event, now_ms)?;
    }
    if step.effects.contains(&OrderEffect::Reroute) {
        return reroute(tx, order, failed.as_ref(), now_ms);
    }
    Ok(order)
}

/// Every stock effect of the step on every line, all or nothing.
fn change_stock(tx: &mut dyn Tx, order: &OrderRecord, effects: &[OrderEffect], cause: &Cause<'_>) -> Result<(), OrdersError> {
    let rules: Vec<_> = effects.iter().filter_map(|e| stock_rule(*e)).collect();
    if rules.is_empty() {
        return Ok(());
    }
    let warehouse = warehouse_of(order)?;
    let mut changes = Vec::with_capacity(rules.len() * order.lines.len());
    for rule in rules {
        changes.extend(order.lines.iter().map(|l| Change { sku: &l.sku, warehouse, rule, qty: l.qty.as_i64() }));
    }
    inventory::store::change_all(tx, &changes, cause)?;
    Ok(())
}

fn warehouse_of(order: &OrderRecord) -> Result<&WarehouseCode, OrdersError> {
    order.warehouse.as_ref().ok_or_else(|| OrdersError::Db(DbError::corrupt(format!("order {} has no warehouse", order.id))))
}

/// The order is backordered with no warehouse; find another that can serve it, leaving out
/// the one that just failed. Stays backordered when none can.
fn reroute(tx: &mut dyn Tx, order: OrderRecord, failed: Option<&WarehouseCode>, now_ms: i64) -> Result<OrderRecord, OrdersError> {
    // Lock every stock row of the order's SKUs before reading them: a receipt committing
    // meanwhile either comes first (and is seen) or waits and then finds this backorder.
    let skus: Vec<&Sku> = order.lines.iter().map(|l| &l.sku).collect();
    inventory::store::lock_skus(tx, &skus)?;
    let destination = store::destination(tx, order.id)?;
    let lines = order.order_lines();
    let candidates = candidates(tx, &lines)?;
    let mut tried: Vec<WarehouseCode> = failed.into_iter().cloned().collect();
    while let Some(choice) = choose_warehouse(&candidates, &destination, &tried).cloned() {
        let mut allocated = order.clone();
        allocated.warehouse = Some(choice.clone());
        let step = transition(OrderState::Backordered, &OrderEvent::StockAllocated)?;
        match carry_out(tx, allocated, step, "order_rerouted", "", now_ms) {
            // Refused under the lock: nothing of this attempt was written.
            Err(OrdersError::Stock(_)) => tried.push(choice),
            other => return other,
        }
    }
    tracing::warn!(order_id = order.id, "no warehouse can serve the order; backordered");
    Ok(order)
}

/// Stock at `warehouse` fell below what is reserved there (a count variance, damage). Moves
/// the locks of unpaid orders for `sku`, newest first, to the nearest other warehouse that can
/// serve them, until the reservations fit again. What cannot move stays and is logged.
pub fn move_locks_away(tx: &mut dyn Tx, sku: &Sku, warehouse: &WarehouseCode, now_ms: i64) -> Result<(), OrdersError> {
    for id in store::unpaid_holding(tx, warehouse, sku, 1000)? {
        if inventory::store::peek(tx, sku, warehouse)?.overcommitted() == 0 {
            return Ok(());
        }
        let mut order = load(tx, id)?;
        let destination = store::destination(tx, id)?;
        let lines = order.order_lines();
        let candidates = candidates(tx, &lines)?;
        let Some(target) = choose_warehouse(&candidates, &destination, std::slice::from_ref(warehouse)).cloned() else {
            continue;
        };
        let reference = format!("order:{id}");
        let cause = Cause { cause: "lock_rerouted", reference: &reference, at_ms: now_ms };
        let mut changes = Vec::with_capacity(order.lines.len() * 2);
        for l in &order.lines {
            changes.push(Change { sku: &l.sku, warehouse, rule: StockLevel::release_lock, qty: l.qty.as_i64() });
            changes.push(Change { sku: &l.sku, warehouse: &target, rule: StockLevel::lock, qty: l.qty.as_i64() });
        }
        match inventory::store::change_all(tx, &changes, &cause) {
            Ok(_) => {}
            Err(InventoryError::Rule { .. }) => continue,
            Err(InventoryError::Db(e)) => return Err(e.into()),
        }
        order.warehouse = Some(target.clone());
        store::record_transition(tx, &order, OrderState::AwaitingPayment, OrderState::AwaitingPayment, "lock_rerouted", now_ms)?;
        let event = BusinessEvent::OrderLockMoved { order_id: id, from: warehouse.clone(), to: target };
        journal::store::append(tx, &event, now_ms)?;
    }
    let left = inventory::store::peek(tx, sku, warehouse)?.overcommitted();
    if left > 0 {
        tracing::warn!(%sku, %warehouse, overcommitted = left, "stock below reservations; paid orders wait for the edge to re-route them");
    }
    Ok(())
}

/// Backordered orders that wait for `sku`, oldest first: try each once stock arrives.
pub fn retry_backorders(tx: &mut dyn Tx, sku: &Sku, now_ms: i64) -> Result<(), OrdersError> {
    for id in store::backordered_for(tx, sku, 100)? {
        let order = load(tx, id)?;
        if order.state == OrderState::Backordered {
            reroute(tx, order, None, now_ms)?;
        }
    }
    Ok(())
}

/// Payment confirmed. Paying an order that was already paid answers with the order as it
/// is, so a client that retries after a lost response does not get an error.
pub fn pay(tx: &mut dyn Tx, id: u64, now_ms: i64) -> Result<OrderRecord, OrdersError> {
    let order = load(tx, id)?;
    if order.state != OrderState::AwaitingPayment && store::was(tx, id, "order_paid")? {
        return Ok(order);
    }
    apply(tx, order, &OrderEvent::Paid, "order_paid", "", now_ms)
}

/// Cancel request; repeating it while the cancel is under way or done answers as it is.
pub fn cancel(tx: &mut dyn Tx, id: u64, now_ms: i64) -> Result<OrderRecord, OrdersError> {
    let order = load(tx, id)?;
    if matches!(order.state, OrderState::Cancelling | OrderState::Cancelled) && store::was(tx, id, "order_cancelled")? {
        return Ok(order);
    }
    apply(tx, order, &OrderEvent::CancelRequested, "order_cancelled", "", now_ms)
}

/// Closes unpaid orders past their deadline; returns how many it closed.
pub fn close_expired(tx: &mut dyn Tx, now_ms: i64, limit: u32) -> Result<u32, OrdersError> {
    let due = store::due_unpaid(tx, now_ms, limit)?;
    let mut closed = 0;
    for (id, deadline_ms) in &due {
        let order = load(tx, *id)?;
        // Paid or cancelled between the scan and the lock (PostgreSQL): nothing to close.
        if order.state != OrderState::AwaitingPayment {
            continue;
        }
        let event = OrderEvent::PaymentDeadlineChecked { now_ms, deadline_ms: *deadline_ms };
        match apply(tx, order, &event, "payment_timeout", "", now_ms) {
            Ok(_) => closed += 1,
            // A refusal has written nothing: leave this order for HQ rather than stop every
            // other expired lock from being released.
            Err(OrdersError::Db(e)) => return Err(OrdersError::Db(e)),
            Err(refused) => tracing::error!(order_id = *id, error = %refused, "an expired order cannot be closed"),
        }
    }
    Ok(closed)
}

/// Who reports an edge event, and where it stands in the edge's stream.
pub struct EdgeSource<'a> {
    pub warehouse: &'a WarehouseCode,
    /// `edge:SH-01#17`, for the ledger.
    pub reference: &'a str,
    pub now_ms: i64,
}

/// An edge reports progress on an order routed to it. Another warehouse's edge may not move
/// it. `shipping`: the carrier and tracking number of a shipment.
pub fn edge_step(
    tx: &mut dyn Tx,
    from: &EdgeSource<'_>,
    id: u64,
    event: &OrderEvent,
    cause: &str,
    shipping: Option<(&str, &str)>,
) -> Result<OrderRecord, OrdersError> {
    let (warehouse, source, now_ms) = (from.warehouse, from.reference, from.now_ms);
    let mut order = load(tx, id)?;
    if order.warehouse.as_ref() != Some(warehouse) {
        let holder = order.warehouse.map_or_else(|| "no warehouse".to_owned(), |w| w.to_string());
        return Err(OrdersError::NotFound(format!("order {id} at {warehouse} (it is with {holder})")));
    }
    let step = transition(order.state, event)?;
    if let Some((carrier, tracking_number)) = shipping {
        order.carrier = Some(carrier.to_owned());
        order.tracking_number = Some(tracking_number.to_owned());
    }
    // Written only once the step is through: a refused step writes nothing.
    let order = carry_out(tx, order, step, cause, source, now_ms)?;
    if let Some((carrier, tracking_number)) = shipping {
        store::set_shipping(tx, id, tracking_number, carrier)?;
    }
    Ok(order)
}

/// Moves shipped orders to delivered when tracking says their parcel arrived. A delivery for
/// an order in any other state (a second parcel, an order already delivered) changes nothing.
pub struct DeliveryConsumer;

impl crate::journal::consumer::Consumer for DeliveryConsumer {
    fn name(&self) -> &'static str {
        "order-deliveries"
    }

    fn apply(&self, tx: &mut dyn Tx, entries: &[journal::JournalEntry]) -> DbResult<()> {
        for entry in entries {
            let BusinessEvent::ParcelTracked { order_id, waybill, state, .. } = &entry.event else { continue };
            if state != "delivered" {
                continue;
            }
            let Some(order) = store::load(tx, *order_id, true)? else { continue };
            if order.state != OrderState::Shipped {
                continue;
            }
            match apply(tx, order, &OrderEvent::ParcelDelivered, "parcel_delivered", &format!("waybill:{waybill}"), entry.at_ms) {
                Ok(_) => {}
                Err(OrdersError::Db(error)) => return Err(error),
                Err(other) => tracing::warn!(order_id, %other, "delivery not applied"),
            }
        }
        Ok(())
    }
}
