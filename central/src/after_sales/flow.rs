//! After-sales carried out in the caller's transaction: load (the order locked first, so two
//! requests for one order take turns) → decide (the pure rules) → write. `request` and
//! `review` run in one keyed transaction each, so a refusal after a write rolls it back whole;
//! `return_received` (called from an edge push, where a refusal is kept aside and the push goes
//! on) refuses only before its first write.

use super::{
    amount, check_lines, check_method, days_between, difference, price_differences, decide_approval, decide_outcome, store, AfterSalesError, Approval, AskedLine, Checked, Facts,
    Kind, Ordered, ReturnMethod, ReturnPolicy, Reason, AfterSalesRequest, AfterSalesLine, RequestState,
};
use crate::logistics::{self, returns::NewReturn, Consignment};
use crate::catalog::{self, CatalogError};
use crate::db::{DbResult, Tx};
use crate::edge_sync::commands;
use crate::inventory::{self, Cause, Change};
use crate::journal::{self, BusinessEvent, EventLine, ReturnedUnits};
use crate::orders::{self, CreateOrder, OrderRecord, OrdersError};
use crate::payment::{self, PaymentError, Share};
use tote_shared::order::OrderState;
use tote_shared::stock::StockLevel;
use tote_shared::sync::{CommandKind, OrderLine, ReturnedLine};
use tote_shared::payment::alipay::yuan;
use tote_shared::{LocationCode, Money, Qty, Sku, WarehouseCode};

/// What a customer asks for.
#[derive(Debug, Clone)]
pub struct Ask {
    pub order_id: u64,
    pub kind: Kind,
    pub reason: Reason,
    pub lines: Vec<AskedLine>,
    pub evidence: Vec<String>,
    pub note: String,
    pub method: ReturnMethod,
    pub now_ms: i64,
}

/// Takes a request: checked against the order and the requests before it, approved by the
/// first rule that holds (and carried out at once) or left for HQ's review.
pub fn request(tx: &mut dyn Tx, ask: &Ask, policy: &ReturnPolicy) -> Result<AfterSalesRequest, AfterSalesError> {
    let order = orders::flow::load(tx, ask.order_id)?;
    let days_since = days_since_delivery(tx, &order, ask.now_ms)?;
    // Of a split order, what has left: a parcel still to come is not returned yet.
    let shipped = order.parts.iter().filter(|p| p.state.has_shipped() || !order.is_split());
    let ordered: Vec<Ordered> =
        shipped.flat_map(|p| &p.lines).map(|l| Ordered { sku: l.sku.clone(), qty: l.qty.as_i64(), unit_price: l.paid_per_unit() }).collect();
    let held = store::held_units(tx, order.id)?;
    let mut lines = check_lines(order.state, ask.kind, days_since, policy.window_days, &ordered, &held, &ask.lines)?;
    check_method(policy, ask.kind, ask.reason, ask.method)?;
    if ask.kind == Kind::Exchange {
        price_exchanges(tx, &mut lines)?;
    }
    let key = crate::orders::checks::customer_key(&order.channel, order.customer.as_deref(), &order.ship_to);
    let return_rate_pct = match (&order.customer, key) {
        (Some(customer), Some(key)) => store::return_rate_pct(tx, customer, &key)?,
        _ => None,
    };
    let amount_minor = amount(&lines);
    let facts = Facts { kind: ask.kind, reason: ask.reason, amount_minor, days_since, return_rate_pct };
    let mut r = AfterSalesRequest {
        id: 0,
        order_id: order.id,
        kind: ask.kind,
        reason: ask.reason,
        note: ask.note.clone(),
        evidence: ask.evidence.clone(),
        state: RequestState::Review,
        decided_by: None,
        decision_note: String::new(),
        warehouse: return_to(&order, &lines).cloned(),
        rma: None,
        replacement_order: None,
        refund_id: None,
        amount_minor,
        price_difference_minor: difference(&lines),
        customer: order.customer.clone(),
        lines,
        return_method: ask.method,
        return_shipment: None,
        created_ms: ask.now_ms,
        updated_ms: ask.now_ms,
    };
    let approval = decide_approval(policy, &facts);
    // A rule's approval is carried out only if it can be: a sold-out replacement sends the
    // request to HQ instead (nothing of the attempt is written).
    let carried = match &approval {
        Approval::Approved { rule } => match plan(tx, &order, &r, ask.now_ms)? {
            Ok(plan) => Some((rule.clone(), plan)),
            Err(why) => {
                r.decision_note = format!("rule {rule} approves it, but {why}");
                None
            }
        },
        Approval::Review { why } => {
            r.decision_note = why.clone();
            None
        }
    };
    r.id = store::insert(tx, &r)?;
    let event = BusinessEvent::AfterSalesRequested {
        request_id: r.id,
        order_id: r.order_id,
        warehouse: r.warehouse.clone(),
        kind: r.kind.as_str().into(),
        reason: r.reason.as_str().into(),
        lines: event_lines(&r.lines),
        amount: r.amount_minor,
    };
    journal::store::append(tx, &event, ask.now_ms)?;
    if let Some((rule, plan)) = carried {
        r.decision_note = format!("approved by rule {rule}");
        match carry_out(tx, &mut r, &order, plan, &format!("rule:{rule}"), ask.now_ms) {
            Ok(()) => {}
            // Payment refused the refund, having written nothing: HQ looks at it instead.
            Err(AfterSalesError::Payment(refused)) => {
                r.decision_note = format!("rule {rule} approves it, but the refund cannot be made: {refused}");
                store::update(tx, &r)?;
            }
            Err(other) => return Err(other),
        }
    }
    Ok(r)
}

/// HQ's decision on a request in review. `lines`: approve fewer units than asked (a partial
/// approval); absent, all of them.
pub fn review(tx: &mut dyn Tx, id: u64, approve: bool, lines: Option<&[(Sku, i64)]>, note: &str, now_ms: i64) -> Result<AfterSalesRequest, AfterSalesError> {
    let order_id = store::load(tx, id, false)?.ok_or_else(|| AfterSalesError::NotFound(format!("after-sales request {id}")))?.order_id;
    let order = orders::flow::load(tx, order_id)?;
    let mut r = store::load(tx, id, true)?.ok_or_else(|| AfterSalesError::NotFound(format!("after-sales request {id}")))?;
    if r.state == RequestState::Attention {
        return settle_again(tx, r, &order, approve, note, now_ms);
    }
    if r.state == RequestState::AwaitingReturn && !approve {
        return withdraw(tx, r, "HQ", note, now_ms);
    }
    if r.state != RequestState::Review {
        return Err(AfterSalesError::Refused(format!("request {id} is {}, not in review", r.state.as_str())));
    }
    r.updated_ms = now_ms;
    if !approve {
        r.state = RequestState::Rejected;
        r.decided_by = Some("hq".into());
        r.decision_note = if note.is_empty() { "rejected by HQ".into() } else { format!("rejected by HQ: {note}") };
        store::update(tx, &r)?;
        let decided = BusinessEvent::AfterSalesDecided { request_id: id, order_id, approved: false, by: "hq".into() };
        journal::store::append(tx, &decided, now_ms)?;
        close(tx, &r, "rejected", now_ms)?;
        return Ok(r);
    }
    let narrowed = match lines {
        Some(lines) => Some(narrow(&r.lines, lines)?),
        None => None,
    };
    if let Some(lines) = &narrowed {
        r.lines = lines.clone();
        r.amount_minor = amount(&r.lines);
        r.price_difference_minor = difference(&r.lines);
    }
    let plan = plan(tx, &order, &r, now_ms)?.map_err(AfterSalesError::OutOfStock)?;
    if narrowed.is_some() {
        store::narrow(tx, &r)?;
    }
    r.decision_note = if note.is_empty() { "approved by HQ".into() } else { format!("approved by HQ: {note}") };
    carry_out(tx, &mut r, &order, plan, "hq", now_ms)?;
    Ok(r)
}

/// HQ on a received return whose refund or replacement failed: approve tries QC's outcome
/// again (after HQ fixed the cause), reject ends it with nothing more paid.
fn settle_again(tx: &mut dyn Tx, mut r: AfterSalesRequest, order: &OrderRecord, approve: bool, note: &str, now_ms: i64) -> Result<AfterSalesRequest, AfterSalesError> {
    r.updated_ms = now_ms;
    if !approve {
        r.state = RequestState::Refused;
        r.decision_note = format!("{}; closed by HQ: {note}", r.decision_note);
        store::update(tx, &r)?;
        close(tx, &r, "refused", now_ms)?;
        return Ok(r);
    }
    let outcome = if r.kind == Kind::RefundOnly {
        // Nothing comes back: the refund the channel refused is asked again.
        super::Outcome {
            refund: r.lines.iter().map(|l| (l.sku.clone(), l.qty.as_i64(), 100)).collect(),
            release_replacement: false,
            cancel_replacement: false,
            state: RequestState::Refunding,
            note: "the refund is asked again".into(),
        }
    } else {
        let checked: Vec<Checked> =
            r.lines.iter().map(|l| Checked { sku: l.sku.clone(), passed: l.passed, failed: l.failed, fail_reason: l.fail_reason.clone() }).collect();
        decide_outcome(r.kind, &r.lines, &checked, failed_qc_pct(tx, &r)?)?
    };
    r.state = outcome.state;
    r.decision_note = outcome.note.clone();
    settle(tx, &mut r, order, &outcome, "hq", now_ms)?;
    store::update(tx, &r)?;
    if r.state == RequestState::Refused {
        close(tx, &r, "refused", now_ms)?;
    }
    Ok(r)
}

/// Fewer units of the asked lines, each at most what was asked.
fn narrow(asked: &[AfterSalesLine], approved: &[(Sku, i64)]) -> Result<Vec<AfterSalesLine>, AfterSalesError> {
    let mut out = Vec::new();
    for (sku, qty) in approved {
        let line = asked.iter().find(|l| &l.sku == sku).ok_or_else(|| AfterSalesError::Refused(format!("SKU {sku} is not on the request")))?;
        if *qty <= 0 || *qty > line.qty.as_i64() || out.iter().any(|l: &AfterSalesLine| &l.sku == sku) {
            return Err(AfterSalesError::Refused(format!("SKU {sku}: 1 to {} units may be approved, once", line.qty.get())));
        }
        let qty = Qty::parse(*qty).map_err(|e| AfterSalesError::Refused(e.to_string()))?;
        out.push(AfterSalesLine { qty, ..line.clone() });
    }
    if out.is_empty() {
        return Err(AfterSalesError::Refused("a partial approval names at least one line".into()));
    }
    Ok(out)
}

/// Where the goods of a request go back to: the warehouse that shipped its first line (a
/// customer sends one parcel back, even for a split order).
fn return_to<'a>(order: &'a OrderRecord, lines: &[AfterSalesLine]) -> Option<&'a tote_shared::WarehouseCode> {
    lines.first().and_then(|l| order.warehouse_of(&l.sku))
}

/// What approval does. An exchange's replacement is placed here, at the nearest warehouse
/// that can serve every line (placing writes nothing when none can: the request then goes to
/// HQ); a refund without a return is checked by payment's rules when it is asked.
enum Plan {
    Refund,
    Return,
    /// The replacement order, placed and held.
    Exchange(u64),
}

fn plan(tx: &mut dyn Tx, order: &OrderRecord, r: &AfterSalesRequest, now_ms: i64) -> Result<Result<Plan, String>, AfterSalesError> {
    Ok(Ok(match r.kind {
        Kind::RefundOnly => Plan::Refund,
        Kind::ReturnRefund => {
            if return_to(order, &r.lines).is_none() {
                return Ok(Err(format!("order {} has no warehouse to return to", order.id)));
            }
            Plan::Return
        }
        Kind::Exchange => {
            let exchanged = r.lines.iter().filter_map(|l| l.exchange_sku.clone().map(|sku| (OrderLine { sku, qty: l.qty }, l.price_difference.max(0))));
            let (lines, due): (Vec<OrderLine>, Vec<i64>) = exchanged.unzip();
            let due = due.into_iter().map(Money::parse).collect::<Result<Vec<Money>, _>>().map_err(|e| AfterSalesError::Refused(e.to_string()))?;
            match replacement(tx, order, lines, &due, now_ms) {
                Ok(placed) => Plan::Exchange(placed.id),
                Err(OrdersError::InsufficientStock(why)) => return Ok(Err(format!("the replacement cannot be reserved: {why}"))),
                Err(other) => return Err(other.into()),
            }
        }
    }))
}

/// Approval carried out: the refund asked, or the return announced to the warehouse (and an
/// exchange's replacement locked).
fn carry_out(tx: &mut dyn Tx, r: &mut AfterSalesRequest, order: &OrderRecord, plan: Plan, by: &str, now_ms: i64) -> Result<(), AfterSalesError> {
    let mut announce = None;
    match plan {
        Plan::Refund => {
            let refund = payment::flow::refund_order_at(tx, order.id, &refund_lines(&r.lines), &format!("after-sales {}", r.id), now_ms)?;
            r.refund_id = Some(refund.id);
            r.state = RequestState::Refunding;
        }
        Plan::Return | Plan::Exchange(_) => {
            if let Plan::Exchange(placed) = plan {
                r.replacement_order = Some(placed);
            }
            let warehouse = return_to(order, &r.lines).cloned().ok_or_else(|| AfterSalesError::Refused(format!("order {} has no warehouse", order.id)))?;
            let rma = format!("RMA-{}", r.id);
            let lines: Vec<OrderLine> = r.lines.iter().map(|l| OrderLine { sku: l.sku.clone(), qty: l.qty }).collect();
            // In SKU order, like every stock row lock.
            for l in by_sku(&r.lines) {
                inventory::store::change_aside(tx, &l.sku, &warehouse, l.qty.as_i64(), 0)?;
            }
            if r.return_method != ReturnMethod::DropOff {
                let pickup = r.return_method == ReturnMethod::Pickup;
                let consignment = Consignment { ship_to: order.ship_to.clone(), lines: lines.clone() };
                let booking = NewReturn {
                    request_id: r.id,
                    rma: &rma,
                    order_id: order.id,
                    warehouse: &warehouse,
                    pickup,
                    consignment: &consignment,
                    declared_value: r.amount_minor,
                    collect_from_ms: pickup.then(|| logistics::returns::collect_from(now_ms)),
                };
                logistics::returns::book(tx, &booking, now_ms)?;
            }
            announce = Some((warehouse.clone(), CommandKind::ExpectReturn { rma: rma.clone(), order_id: order.id, lines }));
            r.warehouse = Some(warehouse);
            r.rma = Some(rma);
            r.state = RequestState::AwaitingReturn;
        }
    }
    r.decided_by = Some(by.to_owned());
    r.updated_ms = now_ms;
    store::update(tx, r)?;
    let event = BusinessEvent::AfterSalesDecided { request_id: r.id, order_id: r.order_id, approved: true, by: by.to_owned() };
    journal::store::append(tx, &event, now_ms)?;
    // Last: the warehouse's command-stream row is every request's shared row (PostgreSQL holds
    // it to commit), so it is taken as late as possible.
    if let Some((warehouse, command)) = announce {
        commands::enqueue(tx, &warehouse, &command, now_ms)?;
    }
    Ok(())
}

/// The exchange's replacement: a held order to the customer's address, its stock locked at
/// the nearest warehouse that has it.
fn replacement(tx: &mut dyn Tx, order: &OrderRecord, lines: Vec<OrderLine>, due: &[Money], now_ms: i64) -> Result<OrderRecord, OrdersError> {
    let destination = orders::store::destination(tx, order.id)?;
    let create = CreateOrder {
        channel: "exchange".into(),
        customer: order.customer.clone(),
        lines,
        ship_to: order.ship_to.clone(),
        destination,
        now_ms,
        payment_deadline_ms: 0,
        checkout: Default::default(),
    };
    orders::flow::create_replacement(tx, &create, due)
}

/// An exchange goes to another SKU of the same product; what it costs more or less than the
/// returned one, by their catalog prices now, is kept per line (charged or refunded once the
/// return passes QC).
fn price_exchanges(tx: &mut dyn Tx, lines: &mut [AfterSalesLine]) -> Result<(), AfterSalesError> {
    let mut prices = Vec::with_capacity(lines.len());
    for line in lines.iter() {
        let Some(to) = &line.exchange_sku else {
            prices.push((0, 0));
            continue;
        };
        let from_sku = catalog_sku(tx, &line.sku)?;
        let to_sku = catalog_sku(tx, to)?;
        if from_sku.spu_id != to_sku.spu_id {
            return Err(AfterSalesError::Refused(format!("{to} is not the same product as {} (an exchange stays within one SPU)", line.sku)));
        }
        prices.push((from_sku.price.minor(), to_sku.price.minor()));
    }
    for (line, d) in lines.iter_mut().zip(price_differences(&prices)?) {
        line.price_difference = d;
    }
    Ok(())
}

fn catalog_sku(tx: &mut dyn Tx, sku: &Sku) -> Result<catalog::SkuRecord, AfterSalesError> {
    catalog::store::get_sku(tx, sku).map_err(|e| match e {
        CatalogError::Db(e) => AfterSalesError::Db(e),
        _ => AfterSalesError::Refused(format!("SKU {sku} is not in the catalog")),
    })
}

/// Days since the order was delivered, else since it shipped, else since its first parcel
/// left (a split order partly shipped).
fn days_since_delivery(tx: &mut dyn Tx, order: &OrderRecord, now_ms: i64) -> DbResult<u32> {
    for state in [OrderState::Delivered, OrderState::Shipped, OrderState::PartlyShipped] {
        if let Some(at) = orders::store::entered(tx, order.id, state)? {
            return Ok(days_between(at, now_ms));
        }
    }
    Ok(0)
}

fn by_sku(lines: &[AfterSalesLine]) -> Vec<&AfterSalesLine> {
    let mut sorted: Vec<&AfterSalesLine> = lines.iter().collect();
    sorted.sort_by(|a, b| a.sku.as_str().cmp(b.sku.as_str()));
    sorted
}

fn refund_lines(lines: &[AfterSalesLine]) -> Vec<(Sku, i64, Share)> {
    lines.iter().map(|l| (l.sku.clone(), l.qty.as_i64(), Share::WHOLE)).collect()
}

/// The returned units that passed QC, refunded in full (instead of a replacement).
fn passed_lines(lines: &[AfterSalesLine]) -> Vec<(Sku, i64, Share)> {
    lines.iter().filter(|l| l.passed > 0).map(|l| (l.sku.clone(), l.passed, Share::WHOLE)).collect()
}

/// A cheaper exchange's difference: per unit that came back, never more than was paid for it.
fn difference_refund(lines: &[AfterSalesLine]) -> Vec<(Sku, i64, Share)> {
    lines
        .iter()
        .filter(|l| l.price_difference < 0 && l.passed > 0)
        .map(|l| (l.sku.clone(), l.passed, Share::PerUnit(l.price_difference.saturating_neg().min(l.unit_price))))
        .collect()
}

/// The requests with their return shipments (logistics'), as HQ and the customer see them.
pub fn with_shipments(tx: &mut dyn Tx, mut requests: Vec<AfterSalesRequest>) -> DbResult<Vec<AfterSalesRequest>> {
    let ids: Vec<u64> = requests.iter().filter(|r| r.return_method != ReturnMethod::DropOff).map(|r| r.id).collect();
    if ids.is_empty() {
        return Ok(requests);
    }
    let mut found = logistics::returns::shipments(tx, &ids)?;
    for r in &mut requests {
        r.return_shipment = found.remove(&r.id);
    }
    Ok(requests)
}

/// One request with its return shipment.
pub fn with_shipment(tx: &mut dyn Tx, r: AfterSalesRequest) -> DbResult<AfterSalesRequest> {
    Ok(with_shipments(tx, vec![r])?.remove(0))
}

/// The policy in force: HQ's, else the defaults.
pub fn policy_in_force(tx: &mut dyn Tx) -> DbResult<ReturnPolicy> {
    Ok(store::saved_policy(tx)?.unwrap_or_else(ReturnPolicy::default_policy))
}

/// The share of the price QC-failed units of this request get back, by the policy in force.
fn failed_qc_pct(tx: &mut dyn Tx, r: &AfterSalesRequest) -> DbResult<u32> {
    Ok(policy_in_force(tx)?.failed_qc_pct(r.reason))
}

fn event_lines(lines: &[AfterSalesLine]) -> Vec<EventLine> {
    lines.iter().map(|l| EventLine { sku: l.sku.clone(), qty: l.qty, unit_price: l.unit_price, discount: 0 }).collect()
}

fn close(tx: &mut dyn Tx, r: &AfterSalesRequest, outcome: &str, now_ms: i64) -> DbResult<()> {
    journal::store::append(tx, &BusinessEvent::AfterSalesClosed { request_id: r.id, order_id: r.order_id, outcome: outcome.into() }, now_ms)
}

/// Where a received return comes from.
pub struct Received<'a> {
    pub warehouse: &'a WarehouseCode,
    pub rma: &'a str,
    pub order_id: u64,
    pub location: &'a LocationCode,
    pub lines: &'a [ReturnedLine],
    /// `edge:SH-01#17`, for the ledger.
    pub source: &'a str,
    pub now_ms: i64,
}

/// The warehouse received and checked a return: passed units become sellable stock, failed
/// ones damaged, and the request ends as QC decides — a refund through the channel that was
/// paid, the replacement released, or a refusal. A return the request does not expect
/// (another warehouse, already received, units not asked for) is refused before any write.
/// A refund or release that cannot be made (HQ refunded by hand meanwhile, the replacement
/// was cancelled) does not refuse the goods: they are booked, and the request goes to HQ.
pub fn return_received(tx: &mut dyn Tx, got: &Received<'_>) -> Result<AfterSalesRequest, AfterSalesError> {
    let Some(found) = store::by_rma(tx, got.rma, false)? else {
        return Err(AfterSalesError::NotFound(format!("return {}", got.rma)));
    };
    let order = orders::flow::load(tx, found.order_id)?;
    let mut r = store::by_rma(tx, got.rma, true)?.ok_or_else(|| AfterSalesError::NotFound(format!("return {}", got.rma)))?;
    if r.order_id != got.order_id || r.warehouse.as_ref() != Some(got.warehouse) {
        return Err(AfterSalesError::Refused(format!("return {} is for order {} at {:?}", got.rma, r.order_id, r.warehouse.as_ref().map(|w| w.as_str()))));
    }
    let withdrawn = r.state == RequestState::Withdrawn;
    if r.state != RequestState::AwaitingReturn && !withdrawn {
        return Err(AfterSalesError::Refused(format!("return {} is {}, not awaited", got.rma, r.state.as_str())));
    }
    let checked: Vec<Checked> = got
        .lines
        .iter()
        .map(|l| Checked { sku: l.sku.clone(), passed: l.passed.into(), failed: l.failed.into(), fail_reason: l.fail_reason.clone() })
        .collect();
    let outcome = decide_outcome(r.kind, &r.lines, &checked, failed_qc_pct(tx, &r)?)?;
    book_goods(tx, got, &mut r, &checked, !withdrawn)?;
    logistics::returns::arrived(tx, r.id, got.now_ms)?;
    let units = r
        .lines
        .iter()
        .map(|l| ReturnedUnits { sku: l.sku.clone(), passed: l.passed, failed: l.failed, unit_price: l.unit_price })
        .collect();
    let event = BusinessEvent::ReturnReceived { request_id: r.id, order_id: r.order_id, warehouse: got.warehouse.clone(), reason: r.reason.as_str().into(), lines: units };
    journal::store::append(tx, &event, got.now_ms)?;
    r.updated_ms = got.now_ms;
    if withdrawn {
        // The goods came although HQ withdrew the return: they are booked as they are, and
        // HQ decides what the customer gets.
        r.state = RequestState::Attention;
        r.decision_note = format!("{}; the goods came after the return was withdrawn ({})", r.decision_note, outcome.note);
        store::update(tx, &r)?;
        return Ok(r);
    }
    r.state = outcome.state;
    r.decision_note = outcome.note.clone();
    settle(tx, &mut r, &order, &outcome, got.source, got.now_ms)?;
    store::update(tx, &r)?;
    if r.state == RequestState::Refused {
        close(tx, &r, "refused", got.now_ms)?;
    }
    Ok(r)
}

/// Passed units on hand, failed ones set aside as damaged, the units no longer coming back
/// (unless a withdrawal took them back already), and QC's result kept on the request's lines.
/// Every stock change is decided for all lines before any is written.
fn book_goods(tx: &mut dyn Tx, got: &Received<'_>, r: &mut AfterSalesRequest, checked: &[Checked], coming_back: bool) -> Result<(), AfterSalesError> {
    let cause = Cause { cause: "return_received", reference: got.source, at_ms: got.now_ms };
    let changes: Vec<Change<'_>> = checked
        .iter()
        .filter(|c| c.passed > 0)
        .map(|c| Change { sku: &c.sku, warehouse: got.warehouse, rule: StockLevel::adjust_on_hand, qty: c.passed })
        .collect();
    inventory::store::change_all(tx, &changes, &cause)?;
    for line in by_sku(&r.lines) {
        let failed = checked.iter().find(|c| c.sku == line.sku).map_or(0, |c| c.failed);
        let back = if coming_back { -line.qty.as_i64() } else { 0 };
        inventory::store::change_aside(tx, &line.sku, got.warehouse, back, failed)?;
    }
    store::record_qc(tx, r.id, checked)?;
    for line in &mut r.lines {
        if let Some(c) = checked.iter().find(|c| c.sku == line.sku) {
            (line.passed, line.failed, line.fail_reason) = (c.passed, c.failed, c.fail_reason.clone());
        }
    }
    Ok(())
}

/// Approved returns whose goods have not come back `return_by_days` after approval (the
/// policy's; 0: never), oldest first, at most `limit`: each is then `expire`d in a
/// transaction of its own.
pub fn due_to_expire(tx: &mut dyn Tx, now_ms: i64, return_by_days: u32, limit: u32) -> DbResult<Vec<u64>> {
    if return_by_days == 0 {
        return Ok(Vec::new());
    }
    store::awaiting_return_before(tx, now_ms.saturating_sub(i64::from(return_by_days) * 86_400_000), limit)
}

/// Withdraws an approved return past its deadline as HQ would; false when it moved on
/// meanwhile (received, withdrawn) or is not due.
pub fn expire(tx: &mut dyn Tx, id: u64, now_ms: i64, return_by_days: u32) -> Result<bool, AfterSalesError> {
    let approved_before = now_ms.saturating_sub(i64::from(return_by_days) * 86_400_000);
    // The order's row first, then the request's, as every other writer takes them.
    let Some(found) = store::load(tx, id, false)? else { return Ok(false) };
    orders::flow::load(tx, found.order_id)?;
    let Some(r) = store::load(tx, id, true)? else { return Ok(false) };
    if return_by_days == 0 || r.state != RequestState::AwaitingReturn || r.updated_ms > approved_before {
        return Ok(false);
    }
    let why = format!("the goods did not come back within {return_by_days} days");
    withdraw(tx, r, "the return deadline", &why, now_ms)?;
    Ok(true)
}

/// An approved return whose goods never came is withdrawn (`by` HQ, or by the return
/// deadline): the warehouse is told not to take it in, the units stop counting as coming back,
/// an exchange's held replacement is cancelled (its stock free again). Goods that come anyway
/// are still booked (`return_received`).
fn withdraw(tx: &mut dyn Tx, mut r: AfterSalesRequest, by: &str, note: &str, now_ms: i64) -> Result<AfterSalesRequest, AfterSalesError> {
    let warehouse = r.warehouse.clone().ok_or_else(|| AfterSalesError::Refused(format!("request {} has no warehouse", r.id)))?;
    let rma = r.rma.clone().ok_or_else(|| AfterSalesError::Refused(format!("request {} has no return slip", r.id)))?;
    if let Some(id) = r.replacement_order {
        if orders::flow::load(tx, id)?.state == OrderState::Held {
            orders::flow::cancel(tx, id, now_ms)?;
        }
    }
    for line in by_sku(&r.lines) {
        inventory::store::change_aside(tx, &line.sku, &warehouse, -line.qty.as_i64(), 0)?;
    }
    logistics::returns::withdraw(tx, r.id, now_ms)?;
    commands::enqueue(tx, &warehouse, &CommandKind::CancelReturn { rma }, now_ms)?;
    r.state = RequestState::Withdrawn;
    r.decision_note = if note.is_empty() { format!("{}; withdrawn by {by}", r.decision_note) } else { format!("{}; withdrawn by {by}: {note}", r.decision_note) };
    r.updated_ms = now_ms;
    store::update(tx, &r)?;
    close(tx, &r, "withdrawn", now_ms)?;
    Ok(r)
}

/// The money or the replacement QC decided on. What cannot be done sends the request to HQ
/// with the reason, having written nothing of its own.
fn settle(tx: &mut dyn Tx, r: &mut AfterSalesRequest, order: &OrderRecord, outcome: &super::Outcome, source: &str, now_ms: i64) -> Result<(), AfterSalesError> {
    let to_review = |r: &mut AfterSalesRequest, why: String| {
        tracing::warn!(request = r.id, %why, "after-sales needs HQ");
        r.state = RequestState::Attention;
        r.decision_note = format!("{}; {why}", r.decision_note);
    };
    let mut refund: Vec<(Sku, i64, Share)> = outcome.refund.iter().map(|(sku, n, pct)| (sku.clone(), *n, Share::Pct(*pct))).collect();
    if let Some(id) = r.replacement_order {
        if outcome.release_replacement {
            match send_replacement(tx, r, id, source, now_ms) {
                Ok(owed) => refund = owed,
                Err(OrdersError::Db(e)) => return Err(e.into()),
                // The replacement was cancelled meanwhile: the customer gets the money back
                // for what they returned instead.
                Err(other) => {
                    r.decision_note = format!("{}; the replacement order {id} cannot ship ({other}), so the returned units are refunded", r.decision_note);
                    r.state = RequestState::Refunding;
                    refund = passed_lines(&r.lines);
                }
            }
        } else if outcome.cancel_replacement {
            match orders::flow::cancel(tx, id, now_ms) {
                Ok(_) => {}
                Err(OrdersError::Db(e)) => return Err(e.into()),
                Err(other) => tracing::warn!(request = r.id, order_id = id, %other, "replacement not cancelled"),
            }
        }
    }
    if !refund.is_empty() {
        match payment::flow::refund_order_at(tx, order.id, &refund, &format!("after-sales {}", r.id), now_ms) {
            Ok(refund) => r.refund_id = Some(refund.id),
            Err(PaymentError::Db(e)) => return Err(e.into()),
            Err(PaymentError::Orders(OrdersError::Db(e))) => return Err(e.into()),
            // The replacement is on its way: only its price difference is owed, by hand.
            Err(other) if r.state == RequestState::Replacing => {
                tracing::warn!(request = r.id, %other, "an exchange's price difference cannot be refunded");
                r.decision_note = format!("{}; but the price difference cannot be refunded ({other}): HQ refunds it by hand", r.decision_note);
            }
            Err(other) => to_review(r, format!("the refund cannot be made: {other}")),
        }
    }
    Ok(())
}

/// The replacement of an exchange whose return passed QC: released to its warehouse, or, when
/// it costs more, waiting for the difference (by the policy's deadline). Returns the refund a
/// cheaper exchange owes (its difference), none otherwise. A replacement already on its way (HQ
/// settling a request again) is left as it is; one cancelled or closed is an error (the
/// returned units are refunded instead).
fn send_replacement(tx: &mut dyn Tx, r: &mut AfterSalesRequest, id: u64, source: &str, now_ms: i64) -> Result<Vec<(Sku, i64, Share)>, OrdersError> {
    let replacement = orders::flow::load(tx, id)?;
    if replacement.state != OrderState::Held && !replacement.state.is_dropped() {
        r.decision_note = format!("{}; the replacement order {id} is {} already", r.decision_note, replacement.state.as_str());
        return Ok(Vec::new());
    }
    let owed = difference(&r.lines);
    if owed > 0 {
        let hours = policy_in_force(tx)?.balance_due_hours;
        let deadline = now_ms.saturating_add(i64::from(hours) * 3_600_000);
        orders::flow::await_balance(tx, id, deadline, source, now_ms)?;
        let by = tote_shared::calendar::local_time(deadline, crate::logistics::CHINA_OFFSET_MS);
        r.decision_note = format!("the return passed QC; the replacement ships once its price difference of ¥{} is paid (order {id}, by {by})", yuan(owed));
        return Ok(Vec::new());
    }
    orders::flow::release_held(tx, id, source, now_ms)?;
    let refund = difference_refund(&r.lines);
    let back: i64 = r.lines.iter().filter(|l| l.price_difference < 0).map(|l| l.price_difference.saturating_neg().min(l.unit_price).saturating_mul(l.passed)).sum();
    if back > 0 {
        r.decision_note = format!("{}; the price difference of ¥{} is refunded", r.decision_note, yuan(back));
    }
    Ok(refund)
}

/// Completes delivered orders whose return window (`window_ms` after delivery) closed and
/// that have no request open; an order with one waits until it ends. Completes at most
/// `limit` (the rest wait for the next sweep) and returns how many it did.
pub fn complete_due(tx: &mut dyn Tx, now_ms: i64, window_ms: i64, limit: u32) -> Result<u32, AfterSalesError> {
    let mut completed = 0;
    let mut after = (i64::MIN, 0);
    loop {
        let due = orders::store::delivered_before(tx, now_ms.saturating_sub(window_ms), after, limit.min(500))?;
        let Some(last) = due.last() else { return Ok(completed) };
        after = (last.1, last.0);
        for (id, delivered_ms) in due {
            if store::any_open(tx, id)? {
                continue;
            }
            let order = orders::flow::load(tx, id)?;
            // Moved on between the page and the lock (PostgreSQL): nothing to do.
            if order.state != OrderState::Delivered {
                continue;
            }
            let event = tote_shared::order::OrderEvent::ReturnWindowChecked { now_ms, delivered_ms, window_ms };
            orders::flow::apply(tx, order, &event, "return_window_closed", "", now_ms)?;
            completed += 1;
            if completed >= limit {
                return Ok(completed);
            }
        }
    }
}

/// Ends requests when their money or their replacement has gone: a refund the channel paid
/// completes its request (one it failed sends it to HQ); a replacement that shipped
/// completes its exchange.
pub struct ClosingConsumer;

impl crate::journal::consumer::Consumer for ClosingConsumer {
    fn name(&self) -> &'static str {
        "after-sales"
    }

    fn apply(&self, tx: &mut dyn Tx, entries: &[journal::JournalEntry]) -> DbResult<()> {
        for entry in entries {
            let (found, done, outcome) = match &entry.event {
                BusinessEvent::RefundSucceeded { refund_id, .. } => (store::by_refund(tx, *refund_id)?, RequestState::Refunding, "refunded"),
                BusinessEvent::RefundFailed { refund_id, .. } => {
                    let found = store::by_refund(tx, *refund_id)?;
                    refund_failed(tx, found, entry.at_ms)?;
                    continue;
                }
                BusinessEvent::OrderShipped { order_id, .. } => (store::by_replacement(tx, *order_id)?, RequestState::Replacing, "exchanged"),
                BusinessEvent::OrderClosed { order_id } | BusinessEvent::OrderCancelled { order_id, .. } => {
                    // Closed unpaid, or cancelled before it was paid, after its return passed
                    // QC: the replacement's difference was never paid.
                    let unpaid = matches!(entry.event, BusinessEvent::OrderClosed { .. } | BusinessEvent::OrderCancelled { was_paid: false, .. });
                    if unpaid && difference_unpaid(tx, *order_id, entry.at_ms)? {
                        continue;
                    }
                    if matches!(entry.event, BusinessEvent::OrderClosed { .. }) {
                        continue;
                    }
                    (store::by_replacement(tx, *order_id)?, RequestState::Replacing, "")
                }
                _ => continue,
            };
            let Some(mut r) = found else { continue };
            if r.state != done {
                continue;
            }
            r.updated_ms = entry.at_ms;
            if outcome.is_empty() {
                r.state = RequestState::Attention;
                r.decision_note = format!("{}; the replacement order was cancelled before it shipped", r.decision_note);
                store::update(tx, &r)?;
                continue;
            }
            r.state = RequestState::Completed;
            store::update(tx, &r)?;
            close(tx, &r, outcome, entry.at_ms)?;
        }
        Ok(())
    }
}

/// The channel refused a request's refund: HQ settles it. A cheaper exchange's difference
/// refused beside a replacement that ships anyway leaves the request where it is (it is not
/// HQ's to re-decide, and a completed request stays closed), saying so; HQ refunds it by hand.
fn refund_failed(tx: &mut dyn Tx, found: Option<AfterSalesRequest>, at_ms: i64) -> DbResult<()> {
    let Some(mut r) = found else { return Ok(()) };
    match r.state {
        RequestState::Refunding => {
            r.state = RequestState::Attention;
            r.decision_note = format!("{}; the channel refused the refund", r.decision_note);
        }
        RequestState::Replacing | RequestState::Completed => {
            tracing::warn!(request = r.id, "the channel refused an exchange's price difference refund");
            r.decision_note = format!("{}; but the channel refused the price difference refund: HQ refunds it by hand", r.decision_note);
        }
        _ => return Ok(()),
    }
    r.updated_ms = at_ms;
    store::update(tx, &r)
}

/// A dearer exchange's replacement ended unpaid (closed at its deadline, or cancelled): the
/// returned units that passed QC are refunded instead, or HQ settles it when that cannot be
/// done. False when the replacement is no exchange's awaiting its difference. The original
/// order's row is locked before the request's, as every other writer takes them.
fn difference_unpaid(tx: &mut dyn Tx, replacement: u64, at_ms: i64) -> DbResult<bool> {
    let Some(found) = store::of_replacement(tx, replacement)? else { return Ok(false) };
    if found.state != RequestState::Replacing {
        return Ok(false);
    }
    match orders::flow::load(tx, found.order_id) {
        Ok(_) => {}
        Err(OrdersError::Db(e)) => return Err(e),
        Err(other) => return Err(crate::db::DbError::corrupt(other.to_string())),
    }
    let Some(mut r) = store::by_replacement(tx, replacement)?.filter(|r| r.state == RequestState::Replacing) else { return Ok(false) };
    r.updated_ms = at_ms;
    let note = "the price difference was not paid (the replacement order closed unpaid or was cancelled), so the returned units are refunded instead";
    match payment::flow::refund_order_at(tx, r.order_id, &passed_lines(&r.lines), &format!("after-sales {}", r.id), at_ms) {
        Ok(refund) => {
            r.refund_id = Some(refund.id);
            r.state = RequestState::Refunding;
            r.decision_note = format!("{}; {note}", r.decision_note);
        }
        Err(PaymentError::Db(e)) | Err(PaymentError::Orders(OrdersError::Db(e))) => return Err(e),
        Err(other) => {
            r.state = RequestState::Attention;
            r.decision_note = format!("{}; {note}, but the refund cannot be made: {other}", r.decision_note);
        }
    }
    store::update(tx, &r)?;
    Ok(true)
}

impl From<CatalogError> for AfterSalesError {
    fn from(e: CatalogError) -> Self {
        match e {
            CatalogError::Db(e) => AfterSalesError::Db(e),
            other => AfterSalesError::Refused(other.to_string()),
        }
    }
}
