//! Procurement's rules run against the store, each step in the caller's transaction together
//! with its journal entry, audit entry and (for an ASN) the command to the warehouse's edge.

use super::{
    refuse, check_asn, confirm as confirm_rule, delivery_number, invoiced, match_invoice, receive, store, Asn, AsnLine, SupplierInvoiceLine, InvoiceState, PoLine,
    PoState, ProcurementError, PurchaseOrder, SupplierInvoice, Tolerance, MAX_LINES,
};
use crate::db::{doc, Tx};
use crate::journal::{self, BusinessEvent, PurchaseLine};
use crate::supplier;
use tote_shared::sync::{CommandKind, OrderLine};
use tote_shared::{Money, Sku, WarehouseCode};

/// The settings document holding the match tolerances.
const POLICY_DOC: &str = "procurement_policy";

fn not_found(id: u64) -> ProcurementError {
    ProcurementError::NotFound(format!("purchase order {id}"))
}


pub fn load(tx: &mut dyn Tx, id: u64, lock: bool) -> Result<PurchaseOrder, ProcurementError> {
    store::load(tx, id, lock)?.ok_or_else(|| not_found(id))
}

/// The order if it is `supplier`'s: another supplier's order is as absent as one that does
/// not exist, so a credential learns nothing of others.
pub fn load_for(tx: &mut dyn Tx, supplier: &str, id: u64, lock: bool) -> Result<PurchaseOrder, ProcurementError> {
    match store::load(tx, id, lock)? {
        Some(po) if po.supplier == supplier => Ok(po),
        _ => Err(not_found(id)),
    }
}

/// What HQ asks for in a new purchase order.
#[derive(Debug, Clone)]
pub struct Draft {
    pub supplier: String,
    pub warehouse: WarehouseCode,
    pub lines: Vec<OrderLine>,
    pub note: String,
}

/// A draft order at the supplier's prices in force now: every SKU must have one, each line at
/// least its MOQ, the supplier approved and the warehouse known.
pub fn create(tx: &mut dyn Tx, d: &Draft, now_ms: i64) -> Result<PurchaseOrder, ProcurementError> {
    if d.lines.is_empty() || d.lines.len() > MAX_LINES {
        return refuse(format!("a purchase order has 1 to {MAX_LINES} lines"));
    }
    let s = supplier::store::load(tx, &d.supplier, false)?.ok_or_else(|| ProcurementError::NotFound(format!("supplier {}", d.supplier)))?;
    if !supplier::may_order(s.state) {
        return refuse(format!("supplier {} is {}: only an approved supplier gets purchase orders", s.id, s.state.as_str()));
    }
    if !crate::warehouses::store::list(tx)?.iter().any(|w| w.code == d.warehouse) {
        return Err(ProcurementError::NotFound(format!("warehouse {}", d.warehouse)));
    }
    let mut lines: Vec<PoLine> = Vec::with_capacity(d.lines.len());
    for l in &d.lines {
        if lines.iter().any(|p| p.sku == l.sku) {
            return refuse(format!("{} is on the order twice", l.sku));
        }
        let Some(price) = supplier::store::price_at(tx, &d.supplier, &l.sku, now_ms)? else {
            return refuse(format!("supplier {} has no price for {} in force", d.supplier, l.sku));
        };
        if l.qty.get() < price.terms.moq {
            return refuse(format!("{}: {} units is below the supplier's MOQ of {}", l.sku, l.qty.get(), price.terms.moq));
        }
        let unit_cost = supplier::unit_cost(&price.terms, l.qty.get());
        lines.push(PoLine { sku: l.sku.clone(), qty: l.qty.get(), unit_cost, confirmed: 0, shipped: 0, accepted: 0, rejected: 0, invoiced: 0 });
    }
    let id = store::insert(tx, &d.supplier, &d.warehouse, &d.note, &lines, now_ms)?;
    crate::audit::store::append(tx, now_ms, "admin", "purchase_order_created", &format!("po:{id}"), &serde_json::json!({ "supplier": d.supplier }))?;
    load(tx, id, false)
}

/// HQ approves a draft: it is sent (the supplier sees it on its API).
pub fn approve(tx: &mut dyn Tx, id: u64, now_ms: i64) -> Result<PurchaseOrder, ProcurementError> {
    let mut po = load(tx, id, true)?;
    if po.state != PoState::Draft {
        return refuse(format!("purchase order {id} is {}: only a draft can be approved", po.state.as_str()));
    }
    let s = supplier::store::load(tx, &po.supplier, false)?.ok_or_else(|| ProcurementError::NotFound(format!("supplier {}", po.supplier)))?;
    if !supplier::may_order(s.state) {
        return refuse(format!("supplier {} is {} now", s.id, s.state.as_str()));
    }
    (po.state, po.sent_ms) = (PoState::Sent, Some(now_ms));
    store::save(tx, &po, now_ms)?;
    crate::audit::store::append(tx, now_ms, "admin", "purchase_order_approved", &format!("po:{id}"), &serde_json::json!({ "total": po.total }))?;
    let lines = po.lines.iter().map(purchase_line).collect::<Result<_, _>>()?;
    journal::store::append(tx, &BusinessEvent::PurchaseOrderSent { po_id: id, supplier: po.supplier.clone(), warehouse: po.warehouse.clone(), lines }, now_ms)?;
    Ok(po)
}

fn purchase_line(l: &PoLine) -> Result<PurchaseLine, ProcurementError> {
    Ok(PurchaseLine { sku: l.sku.clone(), qty: qty(l.qty)?, unit_cost: l.unit_cost })
}

fn qty(n: u32) -> Result<tote_shared::Qty, ProcurementError> {
    tote_shared::Qty::parse(i64::from(n)).map_err(|e| ProcurementError::Refused(e.to_string()))
}

/// HQ cancels an order nothing has shipped on.
pub fn cancel(tx: &mut dyn Tx, id: u64, reason: &str, now_ms: i64) -> Result<PurchaseOrder, ProcurementError> {
    let mut po = load(tx, id, true)?;
    let shipped = po.lines.iter().any(|l| l.shipped > 0);
    if !matches!(po.state, PoState::Draft | PoState::Sent | PoState::Confirmed) || shipped {
        return refuse(format!("purchase order {id} is {}: only an order nothing has shipped on can be cancelled (close it short instead)", po.state.as_str()));
    }
    let was_sent = po.state != PoState::Draft;
    (po.state, po.reason, po.closed_ms) = (PoState::Cancelled, Some(reason.to_owned()), Some(now_ms));
    store::save(tx, &po, now_ms)?;
    crate::audit::store::append(tx, now_ms, "admin", "purchase_order_cancelled", &format!("po:{id}"), &serde_json::json!({ "reason": reason }))?;
    if was_sent {
        journal::store::append(tx, &BusinessEvent::PurchaseOrderCancelled { po_id: id, supplier: po.supplier.clone() }, now_ms)?;
    }
    Ok(po)
}

/// The supplier exited: its orders nothing has shipped on are cancelled (drafts, sent,
/// confirmed); orders with goods on the road stay. Returns the ids cancelled.
pub fn supplier_exited(tx: &mut dyn Tx, supplier: &str, reason: &str, now_ms: i64) -> Result<Vec<u64>, ProcurementError> {
    let mut cancelled = Vec::new();
    for state in [PoState::Draft, PoState::Sent, PoState::Confirmed] {
        for po in store::list(tx, Some(state), Some(supplier), false, u32::MAX)? {
            if po.lines.iter().any(|l| l.shipped > 0) {
                continue;
            }
            // An ASN may have come in since the list was read: that order stays, as any that ships.
            match cancel(tx, po.id, &format!("supplier exited: {reason}"), now_ms) {
                Ok(_) => cancelled.push(po.id),
                Err(ProcurementError::Refused(_)) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(cancelled)
}

/// HQ closes a confirmed or receiving order short: nothing more is expected. What its ASNs
/// still had on the road leaves in transit (a shipment short of its ASN, goods received
/// without the delivery number); anything that comes later is plain stock.
pub fn close_short(tx: &mut dyn Tx, id: u64, reason: &str, now_ms: i64) -> Result<PurchaseOrder, ProcurementError> {
    let mut po = load(tx, id, true)?;
    if !matches!(po.state, PoState::Confirmed | PoState::Receiving) {
        return refuse(format!("purchase order {id} is {}: only a confirmed or receiving order can be closed short", po.state.as_str()));
    }
    let mut not_arrived: Vec<OrderLine> = Vec::new();
    for asn in store::asns_of(tx, id)?.into_iter().filter(|a| a.state == super::AsnState::InTransit) {
        for (sku, missing) in missing_of(&asn) {
            crate::inventory::store::change_in_transit(tx, &sku, &po.warehouse, -i64::from(missing))?;
            match not_arrived.iter_mut().find(|l| l.sku == sku) {
                Some(l) => l.qty = qty(l.qty.get() + missing)?,
                None => not_arrived.push(OrderLine { sku, qty: qty(missing)? }),
            }
        }
        store::close_asn(tx, asn.id, now_ms)?;
        // The warehouse stops expecting it: what still comes is a plain receipt there too.
        crate::edge_sync::commands::enqueue(tx, &po.warehouse, &CommandKind::CloseDelivery { id: asn.delivery.clone() }, now_ms)?;
    }
    (po.state, po.reason, po.closed_ms) = (PoState::Closed, Some(reason.to_owned()), Some(now_ms));
    store::save(tx, &po, now_ms)?;
    crate::audit::store::append(tx, now_ms, "admin", "purchase_order_closed_short", &format!("po:{id}"), &serde_json::json!({ "reason": reason }))?;
    let event = BusinessEvent::PurchaseOrderClosed { po_id: id, supplier: po.supplier.clone(), warehouse: po.warehouse.clone(), short: true, not_arrived };
    journal::store::append(tx, &event, now_ms)?;
    Ok(po)
}

/// Per SKU of an ASN, the units that have not arrived (none listed when all have).
fn missing_of(asn: &super::Asn) -> Vec<(Sku, u32)> {
    let mut out: Vec<(Sku, u32)> = Vec::new();
    for l in &asn.lines {
        match out.iter_mut().find(|(s, _)| *s == l.sku) {
            Some((_, n)) => *n += l.qty,
            None => out.push((l.sku.clone(), l.qty)),
        }
    }
    for (sku, n) in &mut out {
        *n = n.saturating_sub(asn.arrived.iter().find(|a| &a.sku == sku).map_or(0, |a| a.passed + a.failed));
    }
    out.retain(|(_, n)| *n > 0);
    out
}

/// The supplier confirms its order for a date, all of it or fewer units of some SKUs.
pub fn confirm(tx: &mut dyn Tx, supplier: &str, id: u64, promised_ms: i64, lines: &[OrderLine], now_ms: i64) -> Result<PurchaseOrder, ProcurementError> {
    check_caller(tx, supplier)?;
    let mut po = load_for(tx, supplier, id, true)?;
    confirm_rule(&mut po, promised_ms, lines, now_ms)?;
    store::save(tx, &po, now_ms)?;
    let confirmed = po.lines.iter().filter(|l| l.confirmed > 0).map(|l| Ok(OrderLine { sku: l.sku.clone(), qty: qty(l.confirmed)? })).collect::<Result<_, ProcurementError>>()?;
    journal::store::append(tx, &BusinessEvent::PurchaseOrderConfirmed { po_id: id, supplier: supplier.to_owned(), promised_ms, lines: confirmed }, now_ms)?;
    Ok(po)
}

/// The supplier turns a sent order down.
pub fn reject(tx: &mut dyn Tx, supplier: &str, id: u64, reason: &str, now_ms: i64) -> Result<PurchaseOrder, ProcurementError> {
    check_caller(tx, supplier)?;
    let mut po = load_for(tx, supplier, id, true)?;
    if po.state != PoState::Sent {
        return refuse(format!("purchase order {id} is {}: only a sent order can be rejected", po.state.as_str()));
    }
    (po.state, po.reason, po.closed_ms) = (PoState::Rejected, Some(reason.to_owned()), Some(now_ms));
    store::save(tx, &po, now_ms)?;
    journal::store::append(tx, &BusinessEvent::PurchaseOrderRejected { po_id: id, supplier: supplier.to_owned(), reason: reason.to_owned() }, now_ms)?;
    Ok(po)
}

/// What a supplier sends as an ASN.
#[derive(Debug, Clone)]
pub struct Shipment {
    pub po: u64,
    pub reference: String,
    pub shipped_ms: i64,
    pub eta_ms: i64,
    pub lines: Vec<AsnLine>,
}

/// The supplier ships against a confirmed order: the units go in transit to the order's
/// warehouse, whose edge is told to expect them under the ASN's delivery number.
pub fn ship(tx: &mut dyn Tx, supplier: &str, s: &Shipment, now_ms: i64) -> Result<Asn, ProcurementError> {
    check_caller(tx, supplier)?;
    let mut po = load_for(tx, supplier, s.po, true)?;
    if store::asn_reference_taken(tx, supplier, &s.reference)? {
        return Err(ProcurementError::Duplicate(format!("ASN {}", s.reference)));
    }
    let per_sku = check_asn(&po, &s.lines)?;
    if s.eta_ms < s.shipped_ms {
        return refuse("eta_ms is before shipped_ms");
    }
    let Some(asn_id) = store::insert_asn(tx, supplier, s, now_ms)? else {
        return Err(ProcurementError::Duplicate(format!("ASN {}", s.reference)));
    };
    for l in &per_sku {
        if let Some(line) = po.lines.iter_mut().find(|p| p.sku == l.sku) {
            line.shipped += l.qty.get();
        }
        crate::inventory::store::change_in_transit(tx, &l.sku, &po.warehouse, l.qty.as_i64())?;
    }
    po.state = PoState::Receiving;
    store::save(tx, &po, now_ms)?;
    let delivery = delivery_number(asn_id);
    let event = BusinessEvent::AsnNotified { po_id: po.id, delivery: delivery.clone(), warehouse: po.warehouse.clone(), eta_ms: s.eta_ms, lines: per_sku.clone() };
    journal::store::append(tx, &event, now_ms)?;
    let name = supplier::store::load(tx, supplier, false)?.map_or_else(|| supplier.to_owned(), |s| s.name);
    // Last: the stream row is shared by everything sent to this warehouse.
    crate::edge_sync::commands::enqueue(tx, &po.warehouse, &CommandKind::ExpectDelivery { id: delivery, supplier: name, lines: per_sku }, now_ms)?;
    store::load_asn(tx, asn_id, false)?.ok_or_else(|| ProcurementError::NotFound(format!("ASN {asn_id}")))
}

/// Units received at `warehouse` under delivery number `delivery`. When it is one of our
/// ASNs for this warehouse carrying `sku`, they count against its order (which closes once
/// complete) and leave in-transit; returns how many did and the order's unit cost for them
/// (none: a plain receipt). The stock itself is the caller's.
pub fn delivery_received(tx: &mut dyn Tx, warehouse: &WarehouseCode, delivery: &str, sku: &Sku, qty: u32, held: bool, now_ms: i64) -> Result<Option<(u32, Money)>, ProcurementError> {
    let Some(asn_id) = super::asn_id(delivery) else { return Ok(None) };
    let Some(asn) = store::load_asn(tx, asn_id, true)? else { return Ok(None) };
    let mut po = load(tx, asn.po, true)?;
    let expected: u32 = asn.lines.iter().filter(|l| &l.sku == sku).map(|l| l.qty).sum();
    if &po.warehouse != warehouse || expected == 0 {
        tracing::warn!(%warehouse, delivery, %sku, "a receipt names an ASN of another warehouse or without this SKU: taken as a plain receipt");
        return Ok(None);
    }
    let arrived = asn.arrived.iter().find(|a| &a.sku == sku).map_or(0, |a| a.passed + a.failed);
    // Only what the ASN still expects counts against it (and its order): more — an ASN closed
    // short, a local delivery under the same number — is stock, not this order's.
    let counted = qty.min(expected.saturating_sub(arrived));
    if counted == 0 || asn.state != super::AsnState::InTransit {
        tracing::warn!(%warehouse, delivery, %sku, qty, "a receipt beyond what the ASN expects: taken as a plain receipt");
        return Ok(None);
    }
    let leaving_transit = counted;
    let (passed, failed) = if held { (0, counted) } else { (counted, 0) };
    store::arrive(tx, &asn, sku, passed, failed, now_ms)?;
    crate::inventory::store::change_in_transit(tx, sku, warehouse, -i64::from(leaving_transit))?;
    let unit_cost = po.lines.iter().find(|l| &l.sku == sku).map_or(Money::ZERO, |l| l.unit_cost);
    let closed = receive(&mut po, sku, passed, failed, now_ms);
    store::save(tx, &po, now_ms)?;
    let event = BusinessEvent::PurchaseReceived { po_id: po.id, delivery: delivery.to_owned(), sku: sku.clone(), warehouse: warehouse.clone(), passed, failed };
    journal::store::append(tx, &event, now_ms)?;
    if closed {
        let event = BusinessEvent::PurchaseOrderClosed { po_id: po.id, supplier: po.supplier.clone(), warehouse: po.warehouse.clone(), short: false, not_arrived: vec![] };
        journal::store::append(tx, &event, now_ms)?;
    }
    Ok(Some((counted, unit_cost)))
}

/// The tolerances in force.
pub fn tolerance(tx: &mut dyn Tx) -> Result<Tolerance, ProcurementError> {
    Ok(doc::load(tx, POLICY_DOC)?.unwrap_or_default())
}

pub fn set_tolerance(tx: &mut dyn Tx, t: &Tolerance, now_ms: i64) -> Result<Tolerance, ProcurementError> {
    t.check()?;
    doc::save(tx, POLICY_DOC, t, now_ms)?;
    crate::audit::store::append(tx, now_ms, "admin", "procurement_policy_set", "procurement:policy", &serde_json::json!(t))?;
    Ok(*t)
}

/// What a supplier sends as an invoice.
#[derive(Debug, Clone)]
pub struct Invoice {
    pub po: u64,
    pub reference: String,
    pub lines: Vec<SupplierInvoiceLine>,
    pub total: Money,
    pub tax: Money,
}

/// A supplier invoice, three-way matched on arrival: within tolerance it is approved for
/// payment (its units count as invoiced), beyond it is held for HQ with its differences.
pub fn invoice(tx: &mut dyn Tx, supplier: &str, i: &Invoice, now_ms: i64) -> Result<SupplierInvoice, ProcurementError> {
    super::check_invoice_lines(&i.lines)?;
    super::check_invoice_tax(i.total, i.tax, i.lines.len())?;
    check_caller(tx, supplier)?;
    let mut po = load_for(tx, supplier, i.po, true)?;
    if !matches!(po.state, PoState::Receiving | PoState::Closed) {
        return refuse(format!("purchase order {} is {}: invoice what was received", po.id, po.state.as_str()));
    }
    let (expected, differences) = match_invoice(&po, &i.lines, i.total, &tolerance(tx)?);
    let received_value = Some(super::received_value(&po, &i.lines));
    let late_costs = super::late_costs(&po, &i.lines);
    let state = if differences.is_empty() { InvoiceState::Approved } else { InvoiceState::Held };
    let Some(id) = store::insert_invoice(tx, supplier, &i.reference, po.id, state, &i.lines, (i.total, i.tax), expected, &differences, now_ms)? else {
        return Err(ProcurementError::Duplicate(format!("invoice {}", i.reference)));
    };
    let event = if state == InvoiceState::Approved {
        invoiced(&mut po, &i.lines);
        store::save(tx, &po, now_ms)?;
        BusinessEvent::SupplierInvoiceApproved {
            invoice_id: id,
            po_id: po.id,
            supplier: supplier.to_owned(),
            total: i.total,
            by_hand: false,
            received_value,
            tax: i.tax,
            warehouse: Some(po.warehouse.clone()),
            late_costs,
        }
    } else {
        let n = u32::try_from(differences.len()).unwrap_or(u32::MAX);
        BusinessEvent::SupplierInvoiceHeld { invoice_id: id, po_id: po.id, supplier: supplier.to_owned(), total: i.total, differences: n }
    };
    journal::store::append(tx, &event, now_ms)?;
    store::load_invoice(tx, id, false)?.ok_or_else(|| ProcurementError::NotFound(format!("invoice {id}")))
}

/// HQ decides a held invoice: approved for payment despite its differences (its units count
/// as invoiced), or rejected (the supplier sends a corrected one).
pub fn decide(tx: &mut dyn Tx, id: u64, approve: bool, note: &str, now_ms: i64) -> Result<SupplierInvoice, ProcurementError> {
    let inv = store::load_invoice(tx, id, true)?.ok_or_else(|| ProcurementError::NotFound(format!("invoice {id}")))?;
    if inv.state != InvoiceState::Held {
        return refuse(format!("invoice {id} is {}: only a held invoice is decided by hand", inv.state.as_str()));
    }
    let mut po = load(tx, inv.po, true)?;
    if approve {
        // Other invoices may have billed these units since this one was held.
        let (_, now_differs) = match_invoice(&po, &inv.lines, inv.total, &Tolerance { qty_units: 0, price_bp: u32::MAX / 20_000, total_minor: i64::MAX / 4 });
        if let Some(d) = now_differs.iter().find(|d| d.kind == super::InvoiceDifferenceKind::Quantity) {
            let sku = d.sku.as_ref().map_or(String::new(), |s| s.to_string());
            return refuse(format!("invoice {id} bills {} × {sku} but only {} are received and not yet invoiced", d.invoiced, d.expected));
        }
    }
    let (state, event) = if approve {
        // Taken before the invoice's units count as invoiced.
        let received_value = super::received_value(&po, &inv.lines);
        let late_costs = super::late_costs(&po, &inv.lines);
        invoiced(&mut po, &inv.lines);
        store::save(tx, &po, now_ms)?;
        let event = BusinessEvent::SupplierInvoiceApproved {
            invoice_id: id,
            po_id: po.id,
            supplier: inv.supplier.clone(),
            total: inv.total,
            by_hand: true,
            received_value: Some(received_value),
            tax: inv.tax,
            warehouse: Some(po.warehouse.clone()),
            late_costs,
        };
        (InvoiceState::Approved, event)
    } else {
        (InvoiceState::Rejected, BusinessEvent::SupplierInvoiceRejected { invoice_id: id, po_id: po.id, supplier: inv.supplier.clone() })
    };
    store::decide_invoice(tx, id, state, note, now_ms)?;
    crate::audit::store::append(tx, now_ms, "admin", &format!("supplier_invoice_{}", state.as_str()), &format!("po:{}", po.id), &serde_json::json!({ "invoice": id, "note": note }))?;
    journal::store::append(tx, &event, now_ms)?;
    store::load_invoice(tx, id, false)?.ok_or_else(|| ProcurementError::NotFound(format!("invoice {id}")))
}

/// HQ paid an approved invoice (by bank transfer `reference`): once; finance moves its total
/// from what is owed the supplier to the bank.
pub fn pay(tx: &mut dyn Tx, id: u64, reference: &str, now_ms: i64) -> Result<SupplierInvoice, ProcurementError> {
    let inv = store::load_invoice(tx, id, true)?.ok_or_else(|| ProcurementError::NotFound(format!("invoice {id}")))?;
    if inv.state != InvoiceState::Approved {
        return refuse(format!("invoice {id} is {}: only an approved invoice is paid", inv.state.as_str()));
    }
    if inv.paid_ms.is_some() {
        return refuse(format!("invoice {id} is paid already ({})", inv.payment_reference.as_deref().unwrap_or("")));
    }
    store::mark_paid(tx, id, reference, now_ms)?;
    crate::audit::store::append(tx, now_ms, "admin", "supplier_invoice_paid", &format!("po:{}", inv.po), &serde_json::json!({ "invoice": id, "reference": reference }))?;
    let event = BusinessEvent::SupplierInvoicePaid { invoice_id: id, po_id: inv.po, supplier: inv.supplier.clone(), amount: owed(&inv)?, reference: reference.to_owned() };
    journal::store::append(tx, &event, now_ms)?;
    store::load_invoice(tx, id, false)?.ok_or_else(|| ProcurementError::NotFound(format!("invoice {id}")))
}

/// A landed cost HQ books onto an order's received goods (inbound freight, duty), billed by
/// `payee` under `reference`.
pub fn landed_cost(tx: &mut dyn Tx, id: u64, payee: &str, reference: &str, amount: Money, now_ms: i64) -> Result<PurchaseOrder, ProcurementError> {
    let po = load(tx, id, true)?;
    if !matches!(po.state, PoState::Receiving | PoState::Closed) {
        return refuse(format!("purchase order {id} is {}: a landed cost goes onto goods received", po.state.as_str()));
    }
    let late_costs = super::landed_shares(&po, amount.minor());
    if amount == Money::ZERO || late_costs.is_empty() {
        return refuse(format!("purchase order {id} has no goods received to carry a landed cost of {}", amount.minor()));
    }
    let event = BusinessEvent::LandedCostAdded { po_id: id, warehouse: po.warehouse.clone(), payee: payee.to_owned(), reference: reference.to_owned(), amount, late_costs };
    journal::store::append(tx, &event, now_ms)?;
    crate::audit::store::append(tx, now_ms, "admin", "landed_cost_added", &format!("po:{id}"), &serde_json::json!({ "payee": payee, "reference": reference, "amount": amount.minor() }))?;
    Ok(po)
}

/// What an invoice asks to be paid: its total and its VAT.
fn owed(inv: &SupplierInvoice) -> Result<Money, ProcurementError> {
    Money::parse(inv.total.minor() + inv.tax.minor()).map_err(|e| ProcurementError::Refused(format!("invoice {}: {e}", inv.id)))
}

/// The supplier may still act on the supplier API, read in the write's own transaction (it
/// may have been suspended or exited since its credential was checked).
fn check_caller(tx: &mut dyn Tx, supplier: &str) -> Result<(), ProcurementError> {
    let state = supplier::store::load(tx, supplier, false)?.map(|s| s.state);
    match state {
        Some(state) if supplier::may_use_api(state) => Ok(()),
        Some(state) => refuse(format!("a {} supplier cannot use the supplier API", state.as_str())),
        None => Err(ProcurementError::NotFound(format!("supplier {supplier}"))),
    }
}
