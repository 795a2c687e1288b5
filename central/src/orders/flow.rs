//! Orders carried out: load → decide (the pure rules) → apply, in the caller's transaction.
//! Every stock change of a step is decided for all lines before anything is written, so a
//! refused step writes nothing (no SAVEPOINT needed on either backend).

use super::pricing;
use super::routing::{self, Site};
use super::{journal_event, shortage_text, stock_rule, store, CreateOrder, OrderLineRecord, OrderPart, OrderRecord, OrdersError};
use crate::catalog;
use crate::db::{DbError, DbResult, Tx};
use crate::edge_sync::commands;
use crate::inventory::{self, Cause, Change, InventoryError};
use crate::journal::{self, BusinessEvent};
use crate::logistics;
use crate::marketing;
use tote_shared::order::{takes_order_event, transition, OrderEffect, OrderEvent, OrderState, Transition};
use tote_shared::stock::StockLevel;
use tote_shared::sync::{CommandKind, OrderLine};
use tote_shared::{Money, Sku, WarehouseCode};

/// Takes an order: prices its lines at checkout (promotions, coupon codes, the total shown),
/// routes it to the nearest warehouse that can serve every
/// line (else splits it: fewest parcels, then distance), locks the stock and journals
/// `order_created`.
pub fn create(tx: &mut dyn Tx, req: &CreateOrder) -> Result<OrderRecord, OrdersError> {
    let listed = price(tx, &req.lines)?;
    if let Some(join) = &req.checkout.group {
        return create_in_group(tx, req, listed, join);
    }
    let skus: Vec<&Sku> = req.lines.iter().map(|l| &l.sku).collect();
    let (promotions, flash_sales) = marketing::store::anything_live(tx, &skus, req.now_ms)?;
    if flash_sales {
        if let Some(sale) = marketing::flash::selling(tx, &skus, req.now_ms)?.into_iter().next() {
            return create_flash(tx, req, listed, &sale);
        }
    }
    let checkout = marketing::Checkout::load_if(tx, promotions || req.checkout.points != 0, req.now_ms)?;
    let (lines, quote) = pricing::at_checkout(tx, &checkout, req, listed)?;
    super::screen::screen_one(tx, req)?;
    let order = place(tx, req, lines, OrderState::AwaitingPayment, MAX_PARTS)?;
    if let Some(quote) = &quote {
        pricing::redeem(tx, &checkout, &order, quote, req.now_ms)?;
    }
    Ok(order)
}

/// An order of a SKU on flash sale: alone, at the flash price, from the sale's hold (no stock
/// level changes: the hold's lock becomes the order's), within the sale's quota and the
/// customer's limit.
fn create_flash(tx: &mut dyn Tx, req: &CreateOrder, mut lines: Vec<OrderLineRecord>, sale: &marketing::flash::FlashSale) -> Result<OrderRecord, OrdersError> {
    if lines.len() != 1 || !req.checkout.coupons.is_empty() || req.checkout.points != 0 {
        return Err(OrdersError::Invalid(format!("SKU {} is on flash sale {}: order it alone, without coupons or points", sale.sku, sale.id)));
    }
    pricing::flash_price(&mut lines[0], sale)?;
    // Refusals in the batched intake's order: pre-checks, the sale, the total shown (a
    // refusal rolls back what was written before it).
    super::screen::screen_one(tx, req)?;
    let total = pricing::total(&lines)?;
    let mut order = req.record(OrderState::AwaitingPayment, Some(sale.warehouse.clone()), lines, total);
    order.id = store::insert(tx, &order, &req.destination)?;
    marketing::flash::take(tx, &sale.id, order.id, req.customer.as_deref(), order.lines[0].qty.as_i64(), req.now_ms)?;
    pricing::expect_total(req, &order.lines)?;
    let event = BusinessEvent::OrderCreated {
        order_id: order.id,
        channel: order.channel.clone(),
        warehouse: sale.warehouse.clone(),
        lines: super::event_lines(&order),
        total: total.minor(),
        customer: order.customer.clone(),
    };
    journal::store::append(tx, &event, req.now_ms)?;
    Ok(order)
}

/// An order a marketplace sold and took the money for, at the prices the buyer paid
/// (`lines`): checked (address, blocklist), locked at the nearest warehouse that can serve it
/// and paid at once. When none can, it is still taken — the buyer has paid — and waits
/// backordered for stock.
pub fn import(tx: &mut dyn Tx, req: &CreateOrder, lines: Vec<OrderLineRecord>) -> Result<OrderRecord, OrdersError> {
    // Every SKU must be ours; one HQ took off sale is still sent (the buyer has paid).
    let skus: Vec<&Sku> = req.lines.iter().map(|l| &l.sku).collect();
    if let Some(unknown) = catalog::store::listings(tx, &skus)?.iter().position(Option::is_none) {
        return Err(OrdersError::UnknownSku(skus[unknown].to_string()));
    }
    super::screen::screen_import(tx, req)?;
    match place(tx, req, lines.clone(), OrderState::AwaitingPayment, MAX_PARTS) {
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
    let total = pricing::total(&lines)?;
    let mut order = req.record(OrderState::Backordered, None, lines, total);
    order.id = store::insert(tx, &order, &req.destination)?;
    store::record_transition(tx, &order, OrderState::AwaitingPayment, super::PAID_AT_CHANNEL, None, req.now_ms)?;
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

/// An order of a group buy: one line of the offer's SKU at the group price, nothing stacked on
/// it, routed and locked like any order, and a member of a new group or of the open one named.
/// Paid, it waits in `Grouping` until its group forms (`pay`).
fn create_in_group(tx: &mut dyn Tx, req: &CreateOrder, mut lines: Vec<OrderLineRecord>, join: &super::GroupJoin) -> Result<OrderRecord, OrdersError> {
    let [line] = lines.as_mut_slice() else {
        return Err(OrdersError::Invalid(format!("group buy {}: one line, of its SKU", join.offer)));
    };
    if !req.checkout.coupons.is_empty() || req.checkout.points != 0 {
        return Err(OrdersError::Invalid(format!("group buy {}: no coupons or points on it", join.offer)));
    }
    let customer = req.customer.as_deref().ok_or_else(|| OrdersError::Invalid(format!("group buy {}: name the customer", join.offer)))?;
    let offer = marketing::groups::offer_for(tx, &join.offer, &line.sku, join.group.is_none(), req.now_ms)?;
    if line.qty.as_i64() > offer.max_qty {
        return Err(OrdersError::Invalid(format!("group buy {}: at most {} a customer", offer.id, offer.max_qty)));
    }
    pricing::group_price(line, &offer)?;
    super::screen::screen_one(tx, req)?;
    pricing::expect_total(req, &lines)?;
    // One parcel per order: each is released when the group forms.
    let order = place(tx, req, lines, OrderState::AwaitingPayment, 1)?;
    marketing::groups::join(tx, &offer, join.group, order.id, customer, req.now_ms)?;
    Ok(order)
}

/// An exchange's replacement: routed and locked like a new order, so it cannot be sold
/// meanwhile, but held — no payment, no deadline — until the returned item passes QC
/// (`release_held`, or `await_balance` when it costs more). Each line costs what `due` says
/// per unit (an exchange's price difference; the original order paid for the rest).
pub fn create_replacement(tx: &mut dyn Tx, req: &CreateOrder, due: &[Money]) -> Result<OrderRecord, OrdersError> {
    let mut lines = price(tx, &req.lines)?;
    for (n, line) in lines.iter_mut().enumerate() {
        line.unit_price = due.get(n).copied().unwrap_or(Money::ZERO);
    }
    // One warehouse: the exchange's replacement is one parcel.
    place(tx, req, lines, OrderState::Held, 1)
}

/// The returned item an exchange waited for passed QC: the replacement goes to its warehouse.
pub fn release_held(tx: &mut dyn Tx, id: u64, source: &str, now_ms: i64) -> Result<OrderRecord, OrdersError> {
    let order = load(tx, id)?;
    apply(tx, order, &OrderEvent::ReturnPassed, "return_passed", source, now_ms)
}

/// The returned item passed QC but the replacement costs more: it awaits its difference (its
/// total) by `deadline_ms`, paid like any order, its stock still locked; unpaid, it closes.
pub fn await_balance(tx: &mut dyn Tx, id: u64, deadline_ms: i64, source: &str, now_ms: i64) -> Result<OrderRecord, OrdersError> {
    let order = load(tx, id)?;
    let mut order = apply(tx, order, &OrderEvent::BalanceDue, "balance_due", source, now_ms)?;
    store::set_payment_deadline(tx, id, deadline_ms)?;
    order.payment_deadline_ms = deadline_ms;
    Ok(order)
}

/// Most parcels an order is split into.
const MAX_PARTS: usize = 4;

fn place(tx: &mut dyn Tx, req: &CreateOrder, lines: Vec<OrderLineRecord>, state: OrderState, max_parts: usize) -> Result<OrderRecord, OrdersError> {
    let total = pricing::total(&lines)?;
    let mut sites = sites(tx, &req.lines)?;
    let wants: Vec<i64> = lines.iter().map(|l| l.qty.as_i64()).collect();
    loop {
        let Some(plan) = routing::plan(&sites, &wants, &req.destination, &[], max_parts) else {
            return Err(OrdersError::InsufficientStock(shortage_text(&req.lines, !sites.is_empty())));
        };
        let changes: Vec<Change<'_>> = plan
            .iter()
            .flat_map(|(s, part)| part.iter().map(move |&l| (*s, l)))
            .map(|(s, l)| Change { sku: &lines[l].sku, warehouse: &sites[s].warehouse, rule: StockLevel::lock, qty: wants[l] })
            .collect();
        // Routing read sellable without locks; under the lock another order may have won: that
        // line is out at that warehouse, and the plan is made again.
        let decided = match lock_and_decide(tx, &changes)? {
            Ok(decided) => decided,
            Err((sku, warehouse)) => {
                let (refused, _) = changes.iter().enumerate().find(|(_, c)| *c.sku == sku && *c.warehouse == warehouse).ok_or_else(|| DbError::corrupt("refusal of a change not made"))?;
                let (site, line) = plan.iter().flat_map(|(s, part)| part.iter().map(move |&l| (*s, l))).nth(refused).ok_or_else(|| DbError::corrupt("no such change"))?;
                sites[site].sellable[line] = 0;
                continue;
            }
        };
        let mut order = req.record(state, None, lines.clone(), total);
        order.parts = plan
            .iter()
            .zip(1..)
            .map(|((s, part), no)| OrderPart {
                part: no,
                warehouse: Some(sites[*s].warehouse.clone()),
                state,
                lines: part.iter().map(|&l| lines[l].clone()).collect(),
                carrier: None,
                tracking_number: None,
            })
            .collect();
        order.settle();
        order.id = store::insert(tx, &order, &req.destination)?;
        let reference = format!("order:{}", order.id);
        let cause = Cause { cause: "order_created", reference: &reference, at_ms: req.now_ms };
        for (change, (level, moved)) in changes.iter().zip(&decided) {
            inventory::store::save(tx, change.sku, change.warehouse, level, moved, &cause)?;
        }
        let event = BusinessEvent::OrderCreated {
            order_id: order.id,
            channel: order.channel.clone(),
            // A split order's nearest part (its parts are in its history).
            warehouse: sites[plan[0].0].warehouse.clone(),
            lines: super::event_lines(&order),
            total: total.minor(),
            customer: order.customer.clone(),
        };
        journal::store::append(tx, &event, req.now_ms)?;
        return Ok(order);
    }
}

type Decided = Vec<(StockLevel, Vec<tote_shared::stock::Movement>)>;

/// Locks the rows and decides; the (SKU, warehouse) a stock rule refused (nothing written).
fn lock_and_decide(tx: &mut dyn Tx, changes: &[Change<'_>]) -> DbResult<Result<Decided, (Sku, WarehouseCode)>> {
    let keys: Vec<_> = changes.iter().map(|c| (c.sku, c.warehouse)).collect();
    let levels = inventory::store::lock(tx, &keys)?;
    match inventory::decide(changes, &levels) {
        Ok(decided) => Ok(Ok(decided)),
        Err(InventoryError::Rule { sku, warehouse, .. }) => Ok(Err((sku, warehouse))),
        Err(InventoryError::Db(e)) => Err(e),
    }
}

fn price(tx: &mut dyn Tx, lines: &[OrderLine]) -> Result<Vec<OrderLineRecord>, OrdersError> {
    let skus: Vec<&Sku> = lines.iter().map(|l| &l.sku).collect();
    let prices = catalog::store::listings(tx, &skus)?;
    lines
        .iter()
        .zip(prices)
        .map(|(line, price)| {
            let unit_price = match price {
                Some((price, state)) if state.on_sale() => price,
                Some((_, state)) => return Err(OrdersError::NotOnSale { sku: line.sku.to_string(), state: state.as_str() }),
                None => return Err(OrdersError::UnknownSku(line.sku.to_string())),
            };
            Ok(OrderLineRecord::listed(line.sku.clone(), line.qty, unit_price))
        })
        .collect()
}

/// Every warehouse with a stock row for any line, with its sellable units of each line.
fn sites(tx: &mut dyn Tx, lines: &[OrderLine]) -> DbResult<Vec<Site>> {
    let mut sites: Vec<Site> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        for (warehouse, point, sellable) in inventory::store::sellable_by_warehouse(tx, &line.sku)? {
            let at = match sites.iter().position(|s| s.warehouse == warehouse) {
                Some(at) => at,
                None => {
                    sites.push(Site { warehouse, point, sellable: vec![0; lines.len()] });
                    sites.len() - 1
                }
            };
            sites[at].sellable[i] = sellable;
        }
    }
    Ok(sites)
}

/// The order, locked for this transaction.
pub fn load(tx: &mut dyn Tx, id: u64) -> Result<OrderRecord, OrdersError> {
    store::load(tx, id, true)?.ok_or_else(|| OrdersError::NotFound(format!("order {id}")))
}

/// Applies `event` to the whole order: the order's own transition decides whether it may,
/// then every part that takes it (`takes_order_event`: a partly shipped order's cancel goes to
/// the parts not yet left) does so with its effects; one history row and one journal event
/// for the order. `source` (e.g.
/// `edge:SH-01#17`) goes into the ledger reference beside the order.
pub fn apply(tx: &mut dyn Tx, order: OrderRecord, event: &OrderEvent, cause: &str, source: &str, now_ms: i64) -> Result<OrderRecord, OrdersError> {
    let whole = transition(order.state, event)?;
    let steps = if order.is_split() {
        let taking = order.parts.iter().enumerate().filter(|(_, p)| takes_order_event(order.state, p.state));
        taking.map(|(i, p)| Ok((i, transition(p.state, event)?))).collect::<Result<Vec<_>, OrdersError>>()?
    } else {
        vec![(0, whole)]
    };
    carry_out(tx, order, steps, None, cause, source, now_ms)
}

/// Applies `event` to one part of the order (an edge's progress, a parcel's delivery).
pub fn part_step(tx: &mut dyn Tx, order: OrderRecord, part: usize, event: &OrderEvent, cause: &str, source: &str, now_ms: i64) -> Result<OrderRecord, OrdersError> {
    let step = transition(order.parts[part].state, event)?;
    carry_out(tx, order, vec![(part, step)], Some(part), cause, source, now_ms)
}

/// Carries out the parts' steps: every stock change at once (all or nothing), the commands to
/// their edges, the new states, the history row and the journal event (`scope`: the part the
/// step was for, or None for the whole order); then re-routes any part that failed.
fn carry_out(
    tx: &mut dyn Tx,
    mut order: OrderRecord,
    steps: Vec<(usize, Transition)>,
    scope: Option<usize>,
    cause: &str,
    source: &str,
    now_ms: i64,
) -> Result<OrderRecord, OrdersError> {
    let from = order.state;
    // A cancel runs its course over a split order's parts in this step.
    let cancel_moves = order.parts.iter().any(|p| p.state == OrderState::Cancelling) || steps.iter().any(|(_, s)| s.to == OrderState::Cancelled);
    let reference = if source.is_empty() { format!("order:{}", order.id) } else { format!("order:{} {source}", order.id) };
    change_stock(tx, &order, &steps, &Cause { cause, reference: &reference, at_ms: now_ms })?;
    for (i, step) in &steps {
        tell_edge(tx, &order, &order.parts[*i], &step.effects, now_ms)?;
    }
    let row_warehouse = scope.map_or_else(|| order.warehouse.clone(), |i| order.parts[i].warehouse.clone());
    let mut failed = Vec::new();
    for (i, step) in &steps {
        if step.effects.contains(&OrderEffect::Reroute) {
            failed.push((*i, order.parts[*i].warehouse.take()));
        }
        order.parts[*i].state = step.to;
    }
    order.updated_at_ms = now_ms;
    order.settle();
    store::record_transition(tx, &order, from, cause, row_warehouse.as_ref(), now_ms)?;
    if let Some(event) = journal_event(&order, scope.map(|i| &order.parts[i]), from, order.state, cause) {
        journal::store::append(tx, &event, now_ms)?;
    }
    pricing::release(tx, &order, from, now_ms)?;
    if cancel_moves {
        parts_left_behind(tx, &order, now_ms)?;
    }
    for (i, failed) in failed {
        order = reroute(tx, order, i, failed.as_ref(), now_ms)?;
    }
    Ok(order)
}

/// A cancel has run its course over a split order's parts and some shipped anyway: the lines
/// of the parts that stopped are told in their own history row and `order_parts_cancelled`
/// (payment refunds them). A cancel that stopped every part is `order_cancelled` instead.
fn parts_left_behind(tx: &mut dyn Tx, order: &OrderRecord, now_ms: i64) -> Result<(), OrdersError> {
    let settled = !order.parts.iter().any(|p| p.state == OrderState::Cancelling);
    if !settled || order.state == OrderState::Cancelled {
        return Ok(());
    }
    let lines: Vec<_> = order.parts.iter().filter(|p| p.state == OrderState::Cancelled).flat_map(|p| p.lines.iter().map(super::event_line)).collect();
    if lines.is_empty() {
        return Ok(());
    }
    store::record_transition(tx, order, order.state, super::PARTS_CANCELLED, None, now_ms)?;
    journal::store::append(tx, &BusinessEvent::OrderPartsCancelled { order_id: order.id, lines }, now_ms)?;
    Ok(())
}

/// The commands a part's effects send to its edge, with its lines only.
fn tell_edge(tx: &mut dyn Tx, order: &OrderRecord, part: &OrderPart, effects: &[OrderEffect], now_ms: i64) -> Result<(), OrdersError> {
    for effect in effects {
        match effect {
            OrderEffect::SendFulfilToEdge => {
                let warehouse = warehouse_of(order, part)?;
                let lines = part.order_lines();
                let released =
                    logistics::Released { order_id: order.id, channel: &order.channel, lines: &lines, declared_value: part.value(), city: &order.ship_to.city };
                let ship_via = logistics::plan_release(tx, &released, warehouse, now_ms)?;
                let command = CommandKind::Fulfil { order_id: order.id, lines, ship_to: order.ship_to.clone(), ship_via };
                commands::enqueue(tx, warehouse, &command, now_ms)?;
            }
            OrderEffect::SendCancelToEdge => {
                commands::enqueue(tx, warehouse_of(order, part)?, &CommandKind::Cancel { order_id: order.id }, now_ms)?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// Every stock effect of the steps on every line of their parts, all or nothing.
fn change_stock(tx: &mut dyn Tx, order: &OrderRecord, steps: &[(usize, Transition)], cause: &Cause<'_>) -> Result<(), OrdersError> {
    let mut changes = Vec::new();
    for (i, step) in steps {
        let part = &order.parts[*i];
        for rule in step.effects.iter().filter_map(|e| stock_rule(*e)) {
            let warehouse = warehouse_of(order, part)?;
            changes.extend(part.lines.iter().map(|l| Change { sku: &l.sku, warehouse, rule, qty: l.qty.as_i64() }));
        }
    }
    if !changes.is_empty() {
        inventory::store::change_all(tx, &changes, cause)?;
    }
    Ok(())
}

fn warehouse_of<'a>(order: &OrderRecord, part: &'a OrderPart) -> Result<&'a WarehouseCode, OrdersError> {
    part.warehouse.as_ref().ok_or_else(|| OrdersError::Db(DbError::corrupt(format!("order {} part {} has no warehouse", order.id, part.part))))
}

/// Warehouses a re-routed part may not go to: those of the order's other parts still in play
/// (a warehouse fulfils at most one part of an order: its edge knows the order by its id).
fn taken_by_others(order: &OrderRecord, part: usize) -> Vec<WarehouseCode> {
    let others = order.parts.iter().enumerate().filter(|(i, p)| *i != part && !p.state.is_dropped());
    others.filter_map(|(_, p)| p.warehouse.clone()).collect()
}

/// The part is backordered with no warehouse; find one other warehouse that can serve all of
/// it, leaving out the one that just failed and those of the order's other parts. Stays
/// backordered when none can (a part is re-routed whole, never split again).
fn reroute(tx: &mut dyn Tx, order: OrderRecord, part: usize, failed: Option<&WarehouseCode>, now_ms: i64) -> Result<OrderRecord, OrdersError> {
    // Lock every stock row of the part's SKUs before reading them: a receipt committing
    // meanwhile either comes first (and is seen) or waits and then finds this backorder.
    let skus: Vec<&Sku> = order.parts[part].lines.iter().map(|l| &l.sku).collect();
    inventory::store::lock_skus(tx, &skus)?;
    let destination = store::destination(tx, order.id)?;
    let lines = order.parts[part].order_lines();
    let wants: Vec<i64> = lines.iter().map(|l| l.qty.as_i64()).collect();
    let sites = sites(tx, &lines)?;
    let mut exclude = taken_by_others(&order, part);
    exclude.extend(failed.cloned());
    while let Some(choice) = routing::plan(&sites, &wants, &destination, &exclude, 1).and_then(|p| p.first().map(|(s, _)| sites[*s].warehouse.clone())) {
        let mut allocated = order.clone();
        allocated.parts[part].warehouse = Some(choice.clone());
        let step = transition(OrderState::Backordered, &OrderEvent::StockAllocated)?;
        match carry_out(tx, allocated, vec![(part, step)], Some(part), "order_rerouted", "", now_ms) {
            // Refused under the lock: nothing of this attempt was written.
            Err(OrdersError::Stock(_)) => exclude.push(choice),
            other => return other,
        }
    }
    tracing::warn!(order_id = order.id, part = part + 1, "no warehouse can serve the part; backordered");
    Ok(order)
}

/// Stock at `warehouse` fell below what is reserved there (a count variance, damage). Moves
/// the locks of unpaid orders for `sku`, newest first — the part held there, for a split
/// order — to the nearest other warehouse that can serve them, until the reservations fit
/// again. What cannot move stays and is logged.
pub fn move_locks_away(tx: &mut dyn Tx, sku: &Sku, warehouse: &WarehouseCode, now_ms: i64) -> Result<(), OrdersError> {
    for id in store::unpaid_holding(tx, warehouse, sku, 1000)? {
        if inventory::store::peek(tx, sku, warehouse)?.overcommitted() == 0 {
            return Ok(());
        }
        let mut order = load(tx, id)?;
        let Some(part) = order.part_at(warehouse).filter(|&i| order.parts[i].state == OrderState::AwaitingPayment) else {
            continue;
        };
        let destination = store::destination(tx, id)?;
        let lines = order.parts[part].order_lines();
        let wants: Vec<i64> = lines.iter().map(|l| l.qty.as_i64()).collect();
        let sites = sites(tx, &lines)?;
        let mut exclude = taken_by_others(&order, part);
        exclude.push(warehouse.clone());
        let Some(target) = routing::plan(&sites, &wants, &destination, &exclude, 1).and_then(|p| p.first().map(|(s, _)| sites[*s].warehouse.clone())) else {
            continue;
        };
        let reference = format!("order:{id}");
        let cause = Cause { cause: "lock_rerouted", reference: &reference, at_ms: now_ms };
        let mut changes = Vec::with_capacity(lines.len() * 2);
        for l in &lines {
            changes.push(Change { sku: &l.sku, warehouse, rule: StockLevel::release_lock, qty: l.qty.as_i64() });
            changes.push(Change { sku: &l.sku, warehouse: &target, rule: StockLevel::lock, qty: l.qty.as_i64() });
        }
        match inventory::store::change_all(tx, &changes, &cause) {
            Ok(_) => {}
            Err(InventoryError::Rule { .. }) => continue,
            Err(InventoryError::Db(e)) => return Err(e.into()),
        }
        order.parts[part].warehouse = Some(target.clone());
        order.settle();
        store::record_transition(tx, &order, OrderState::AwaitingPayment, "lock_rerouted", Some(&target), now_ms)?;
        let event = BusinessEvent::OrderLockMoved { order_id: id, from: warehouse.clone(), to: target };
        journal::store::append(tx, &event, now_ms)?;
    }
    let left = inventory::store::peek(tx, sku, warehouse)?.overcommitted();
    if left > 0 {
        tracing::warn!(%sku, %warehouse, overcommitted = left, "stock below reservations; paid orders wait for the edge to re-route them");
    }
    Ok(())
}

/// Orders with a backordered part (or whole) that waits for `sku`, oldest first: try each
/// such part once stock arrives.
pub fn retry_backorders(tx: &mut dyn Tx, sku: &Sku, now_ms: i64) -> Result<(), OrdersError> {
    for id in store::backordered_for(tx, sku, 100)? {
        let mut order = load(tx, id)?;
        for part in 0..order.parts.len() {
            if order.parts[part].state == OrderState::Backordered {
                order = reroute(tx, order, part, None, now_ms)?;
            }
        }
    }
    Ok(())
}

/// Payment confirmed. Paying an order that was already paid answers with the order as it
/// is, so a client that retries after a lost response does not get an error.
pub fn pay(tx: &mut dyn Tx, id: u64, now_ms: i64) -> Result<OrderRecord, OrdersError> {
    // A group buy's row before its orders', on every path (no PostgreSQL deadlock).
    let group = marketing::groups::lock_for_order(tx, id)?;
    let order = load(tx, id)?;
    if order.state != OrderState::AwaitingPayment && store::was(tx, id, "order_paid")? {
        return Ok(order);
    }
    if order.state == OrderState::AwaitingPayment && group.is_some() {
        return pay_into_group(tx, order, now_ms);
    }
    apply(tx, order, &OrderEvent::Paid, "order_paid", "", now_ms)
}

/// A group buy's order paid: it waits for its group; when its payment makes the group's size,
/// every paid order of the group goes to its warehouse.
fn pay_into_group(tx: &mut dyn Tx, order: OrderRecord, now_ms: i64) -> Result<OrderRecord, OrdersError> {
    let id = order.id;
    let paid = apply(tx, order, &OrderEvent::PaidIntoGroup, "order_paid", "", now_ms)?;
    let formed = marketing::groups::paid(tx, id, now_ms)?;
    if formed.is_empty() {
        return Ok(paid);
    }
    for member in formed {
        let order = load(tx, member)?;
        if order.state == OrderState::Grouping {
            apply(tx, order, &OrderEvent::GroupFormed, "group_formed", "", now_ms)?;
        }
    }
    load(tx, id)
}

/// Fails the group buys' groups whose deadline passed (at most `limit`) and cancels their
/// orders: the paid ones are refunded as any paid cancel is. Returns how many orders.
pub fn settle_groups(tx: &mut dyn Tx, now_ms: i64, limit: u32) -> Result<u32, OrdersError> {
    let orders = marketing::groups::fail_due(tx, now_ms, limit)?;
    for id in &orders {
        let order = load(tx, *id)?;
        if !matches!(order.state, OrderState::AwaitingPayment | OrderState::Grouping) {
            continue;
        }
        match apply(tx, order, &OrderEvent::CancelRequested, "group_failed", "", now_ms) {
            Ok(_) => {}
            // A refusal has written nothing: leave this order for HQ rather than hold up
            // every other failed group.
            Err(OrdersError::Db(e)) => return Err(OrdersError::Db(e)),
            Err(refused) => tracing::error!(order_id = *id, error = %refused, "a failed group's order cannot be cancelled"),
        }
    }
    Ok(orders.len() as u32)
}

/// Cancel request; repeating it while the cancel is under way or done answers as it is. Of a
/// partly shipped order it cancels the parts that have not left.
pub fn cancel(tx: &mut dyn Tx, id: u64, now_ms: i64) -> Result<OrderRecord, OrdersError> {
    marketing::groups::lock_for_order(tx, id)?;
    let order = load(tx, id)?;
    let stopping = matches!(order.state, OrderState::Cancelling | OrderState::Cancelled)
        || (order.state == OrderState::PartlyShipped && !order.parts.iter().any(|p| takes_order_event(order.state, p.state)));
    if stopping && store::was(tx, id, "order_cancelled")? {
        return Ok(order);
    }
    apply(tx, order, &OrderEvent::CancelRequested, "order_cancelled", "", now_ms)
}

/// Closes unpaid orders past their deadline; returns how many it closed.
pub fn close_expired(tx: &mut dyn Tx, now_ms: i64, limit: u32) -> Result<u32, OrdersError> {
    let due = store::due_unpaid(tx, now_ms, limit)?;
    let mut closed = 0;
    for (id, deadline_ms) in &due {
        // A group buy's row before its order's, as on every path.
        marketing::groups::lock_for_order(tx, *id)?;
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

/// An edge reports progress on the part of an order routed to it. Another warehouse's edge
/// may not move it. `shipping`: the carrier and tracking number of a shipment. Returns the
/// order and which part moved.
pub fn edge_step(
    tx: &mut dyn Tx,
    from: &EdgeSource<'_>,
    id: u64,
    event: &OrderEvent,
    cause: &str,
    shipping: Option<(&str, &str)>,
) -> Result<(OrderRecord, usize), OrdersError> {
    let (warehouse, source, now_ms) = (from.warehouse, from.reference, from.now_ms);
    let mut order = load(tx, id)?;
    let Some(part) = order.part_at(warehouse) else {
        let holders: Vec<&str> = order.parts.iter().filter_map(|p| p.warehouse.as_ref().map(|w| w.as_str())).collect();
        let holder = if holders.is_empty() { "no warehouse".to_owned() } else { holders.join(" and ") };
        return Err(OrdersError::NotFound(format!("order {id} at {warehouse} (it is with {holder})")));
    };
    if let Some((carrier, tracking_number)) = shipping {
        order.parts[part].carrier = Some(carrier.to_owned());
        order.parts[part].tracking_number = Some(tracking_number.to_owned());
    }
    // Saved only once the step is through: a refused step writes nothing.
    Ok((part_step(tx, order, part, event, cause, source, now_ms)?, part))
}

/// Moves shipped orders (or parts of a split one) to delivered when tracking says their parcel
/// arrived. A delivery for an order in any other state (a second parcel, an order already
/// delivered) changes nothing.
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
            // A split order's parcel is its part's; an order of one part takes any of its own.
            let shipped = |p: &OrderPart| p.state == OrderState::Shipped;
            let part = match order.parts.as_slice() {
                [only] if shipped(only) => Some(0),
                [_] => None,
                parts => parts.iter().position(|p| shipped(p) && p.tracking_number.as_deref() == Some(waybill.as_str())),
            };
            let Some(part) = part else { continue };
            match part_step(tx, order, part, &OrderEvent::ParcelDelivered, "parcel_delivered", &format!("waybill:{waybill}"), entry.at_ms) {
                Ok(_) => {}
                Err(OrdersError::Db(error)) => return Err(error),
                Err(other) => tracing::warn!(order_id, %other, "delivery not applied"),
            }
        }
        Ok(())
    }
}
