//! Procurement: purchase orders from draft to closed, the supplier's confirmation and ASNs,
//! receipts against them at the warehouse (QC passed into stock, failed held), and supplier
//! invoices checked by three-way match (order – receipt – invoice) within tolerances.
//!
//! Rules here are pure (what may follow what, what an ASN may carry, how an invoice matches);
//! `store.rs` owns the `po_` tables; `flow.rs` runs the rules in a transaction; `http.rs` has
//! HQ's routes and the supplier API's.

pub mod flow;
pub mod forecast;
pub mod http;
pub mod replenish;
pub mod scorecard;
pub mod store;
pub mod suggestions;

use crate::db::DbError;
use crate::supplier::SupplierError;
use serde::{Deserialize, Serialize};
use tote_shared::sync::OrderLine;
use tote_shared::{Money, Sku, WarehouseCode};

/// `draft` (HQ is writing it) → `sent` (approved; the supplier sees it) → `confirmed` (the
/// supplier accepted, for a date) → `receiving` (an ASN is out) → `closed` (all confirmed
/// units arrived, or HQ closed it short). The supplier may instead `reject` a sent order; HQ
/// may `cancel` one nothing has shipped on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PoState {
    Draft,
    Sent,
    Confirmed,
    Rejected,
    Receiving,
    Closed,
    Cancelled,
}
names!(PoState { Draft => "draft", Sent => "sent", Confirmed => "confirmed", Rejected => "rejected", Receiving => "receiving", Closed => "closed", Cancelled => "cancelled" });

/// One SKU of a purchase order and how far it has come.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PoLine {
    pub sku: Sku,
    /// Units ordered.
    pub qty: u32,
    /// Agreed unit cost (the supplier's price in force, at the break the quantity reaches).
    pub unit_cost: Money,
    /// Units the supplier confirmed (0 until it does).
    pub confirmed: u32,
    /// Units on the supplier's ASNs.
    pub shipped: u32,
    /// Units received that passed QC.
    pub accepted: u32,
    /// Units received that failed QC (held, going back).
    pub rejected: u32,
    /// Units on approved supplier invoices.
    pub invoiced: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PurchaseOrder {
    pub id: u64,
    pub supplier: String,
    pub warehouse: WarehouseCode,
    pub state: PoState,
    pub note: String,
    /// Why the supplier rejected it or HQ cancelled or closed it short.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The delivery date the supplier confirmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promised_ms: Option<i64>,
    pub lines: Vec<PoLine>,
    /// Ordered units at their unit costs.
    pub total: Money,
    pub created_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_ms: Option<i64>,
}

/// One line of an ASN as the supplier sends it: units of a SKU in a carton, of a lot with its
/// expiry (GS1 YYMMDD) when the goods have them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AsnLine {
    pub sku: Sku,
    #[schema(minimum = 1, maximum = 100000)]
    pub qty: u32,
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9-]{0,20}$")]
    pub lot: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[0-9]{6}$")]
    pub expiry: Option<String>,
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9-]{0,32}$")]
    pub carton: String,
}

/// What arrived of one SKU of an ASN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Arrived {
    pub sku: Sku,
    pub passed: u32,
    pub failed: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AsnState {
    InTransit,
    Received,
    /// Its order was closed short before all of it came: what had not is no longer expected.
    Closed,
}
names!(AsnState { InTransit => "in_transit", Received => "received", Closed => "closed" });

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Asn {
    pub id: u64,
    /// The delivery number the warehouse receives it under (`ASN-` and the id), for the
    /// supplier's delivery note.
    pub delivery: String,
    pub po: u64,
    pub supplier: String,
    /// The supplier's own shipment reference.
    pub reference: String,
    pub state: AsnState,
    pub shipped_ms: i64,
    pub eta_ms: i64,
    pub lines: Vec<AsnLine>,
    pub arrived: Vec<Arrived>,
    pub created_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_ms: Option<i64>,
}

/// The delivery number of ASN `id`.
pub fn delivery_number(id: u64) -> String {
    format!("ASN-{id}")
}

/// The ASN id in a delivery number central issued, if it is one.
pub fn asn_id(delivery: &str) -> Option<u64> {
    tote_shared::sync::is_asn(delivery)
        .then(|| delivery[4..].parse().ok())
        .flatten()
}

/// One line of a supplier invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SupplierInvoiceLine {
    pub sku: Sku,
    #[schema(minimum = 1, maximum = 100000)]
    pub qty: u32,
    pub unit_cost: Money,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceState {
    /// Matched within tolerance, or approved by HQ: to be paid.
    Approved,
    /// Differences beyond tolerance: waiting for HQ.
    Held,
    /// HQ refused it: the supplier sends a corrected one.
    Rejected,
}
names!(InvoiceState { Approved => "approved", Held => "held", Rejected => "rejected" });

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceDifferenceKind {
    /// More units invoiced than received (and passed QC) and not yet invoiced.
    Quantity,
    /// A unit cost off the order's beyond the price tolerance.
    Price,
    /// A SKU the order does not have.
    NotOrdered,
    /// The invoice's stated total differs from its lines, or from what was received at the
    /// ordered cost, beyond the total tolerance.
    Total,
}

/// One way an invoice differs from its order and receipts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InvoiceDifference {
    pub kind: InvoiceDifferenceKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<Sku>,
    /// What the invoice says (units, or minor units for price and total).
    pub invoiced: i64,
    /// What the order and receipts say.
    pub expected: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SupplierInvoice {
    pub id: u64,
    pub supplier: String,
    /// The supplier's invoice number.
    pub reference: String,
    pub po: u64,
    pub state: InvoiceState,
    pub lines: Vec<SupplierInvoiceLine>,
    /// The total the invoice states, before VAT.
    pub total: Money,
    /// The input VAT it charges on top of `total`: what HQ pays is both.
    #[serde(default)]
    pub tax: Money,
    /// The invoiced units at the order's unit costs.
    pub expected: Money,
    pub differences: Vec<InvoiceDifference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub created_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_ms: Option<i64>,
    /// When HQ paid it (an approved invoice), and the transfer's reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paid_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_reference: Option<String>,
}

/// How far an invoice may differ and still match: units over what was received, a unit
/// cost's deviation in basis points of the order's, and the total's in minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Tolerance {
    #[schema(minimum = 0, maximum = 1000)]
    pub qty_units: u32,
    #[schema(minimum = 0, maximum = 5000)]
    pub price_bp: u32,
    #[schema(minimum = 0, maximum = 1000000)]
    pub total_minor: i64,
}

impl Default for Tolerance {
    /// No extra units, 1 % on price, ¥1 on the total.
    fn default() -> Self {
        Tolerance {
            qty_units: 0,
            price_bp: 100,
            total_minor: 100,
        }
    }
}

impl Tolerance {
    pub fn check(&self) -> Result<(), ProcurementError> {
        if self.qty_units > 1000
            || self.price_bp > 5000
            || !(0..=1_000_000).contains(&self.total_minor)
        {
            return Err(ProcurementError::Refused(
                "tolerances: qty_units ≤ 1000, price_bp ≤ 5000, total_minor 0 to 1000000".into(),
            ));
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProcurementError {
    /// 404
    #[error("{0} not found")]
    NotFound(String),
    /// 409: a duplicate (an ASN or invoice reference the supplier used before).
    #[error("{0} already exists")]
    Duplicate(String),
    /// 422
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<SupplierError> for ProcurementError {
    fn from(e: SupplierError) -> Self {
        match e {
            SupplierError::NotFound(what) => ProcurementError::NotFound(what),
            SupplierError::Duplicate(what) => ProcurementError::Duplicate(what),
            SupplierError::Refused(why) => ProcurementError::Refused(why),
            SupplierError::Db(e) => ProcurementError::Db(e),
        }
    }
}

impl From<crate::edge_sync::commands::StreamError> for ProcurementError {
    fn from(e: crate::edge_sync::commands::StreamError) -> Self {
        match e {
            crate::edge_sync::commands::StreamError::UnknownWarehouse(w) => {
                ProcurementError::NotFound(format!("warehouse {w}"))
            }
            crate::edge_sync::commands::StreamError::Db(e) => ProcurementError::Db(e),
        }
    }
}

fn refuse<T>(why: impl Into<String>) -> Result<T, ProcurementError> {
    Err(ProcurementError::Refused(why.into()))
}

/// The most lines one purchase order, ASN or invoice may carry.
pub const MAX_LINES: usize = 500;

/// Ordered units at their unit costs.
pub fn order_total(lines: &[PoLine]) -> Money {
    let minor: i64 = lines
        .iter()
        .map(|l| i64::from(l.qty) * l.unit_cost.minor())
        .sum();
    Money::parse(minor.min(Money::MAX_MINOR)).unwrap_or(Money::ZERO)
}

/// The supplier confirms a sent order for `promised_ms`, all of it or (with `lines`) fewer
/// units of some SKUs; a SKU it does not name is confirmed in full.
pub fn confirm(
    po: &mut PurchaseOrder,
    promised_ms: i64,
    lines: &[OrderLine],
    now_ms: i64,
) -> Result<(), ProcurementError> {
    if po.state != PoState::Sent {
        return refuse(format!(
            "purchase order {} is {}: only a sent order can be confirmed",
            po.id,
            po.state.as_str()
        ));
    }
    if promised_ms < now_ms - 86_400_000 {
        return refuse("promised_ms is in the past");
    }
    for asked in lines {
        let Some(line) = po.lines.iter().find(|l| l.sku == asked.sku) else {
            return refuse(format!("{} is not on purchase order {}", asked.sku, po.id));
        };
        if asked.qty.get() > line.qty {
            return refuse(format!(
                "{}: {} confirmed, {} ordered",
                asked.sku,
                asked.qty.get(),
                line.qty
            ));
        }
    }
    for line in &mut po.lines {
        line.confirmed = lines
            .iter()
            .find(|a| a.sku == line.sku)
            .map_or(line.qty, |a| a.qty.get());
    }
    (po.state, po.promised_ms, po.confirmed_ms) =
        (PoState::Confirmed, Some(promised_ms), Some(now_ms));
    Ok(())
}

/// Checks an ASN against its order and returns its units per SKU: the order must be confirmed
/// (or receiving), every SKU on it, and no SKU shipped beyond what was confirmed.
pub fn check_asn(
    po: &PurchaseOrder,
    lines: &[AsnLine],
) -> Result<Vec<OrderLine>, ProcurementError> {
    if !matches!(po.state, PoState::Confirmed | PoState::Receiving) {
        return refuse(format!(
            "purchase order {} is {}: ship only against a confirmed order",
            po.id,
            po.state.as_str()
        ));
    }
    if lines.is_empty() || lines.len() > MAX_LINES {
        return refuse(format!("an ASN has 1 to {MAX_LINES} lines"));
    }
    let mut per_sku: Vec<(Sku, u32)> = Vec::new();
    for l in lines {
        if l.qty == 0 || l.qty > tote_shared::Qty::MAX {
            return refuse(format!(
                "{}: qty must be 1 to {}",
                l.sku,
                tote_shared::Qty::MAX
            ));
        }
        if !(l.lot.len() <= 20
            && l.lot
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        {
            return refuse(format!(
                "{}: lot must be at most 20 letters, digits or '-'",
                l.sku
            ));
        }
        if !(l.carton.len() <= 32
            && l.carton
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        {
            return refuse(format!(
                "{}: carton must be at most 32 letters, digits or '-'",
                l.sku
            ));
        }
        if l.expiry.as_deref().is_some_and(|e| !valid_yymmdd(e)) {
            return refuse(format!("{}: expiry must be YYMMDD", l.sku));
        }
        match per_sku.iter_mut().find(|(s, _)| *s == l.sku) {
            Some((_, n)) => *n = n.saturating_add(l.qty),
            None => per_sku.push((l.sku.clone(), l.qty)),
        }
    }
    per_sku
        .into_iter()
        .map(|(sku, qty)| {
            let Some(line) = po.lines.iter().find(|l| l.sku == sku) else {
                return refuse(format!("{sku} is not on purchase order {}", po.id));
            };
            if u64::from(line.shipped) + u64::from(qty) > u64::from(line.confirmed) {
                return refuse(format!(
                    "{sku}: {qty} more would ship {} of {} confirmed",
                    u64::from(line.shipped) + u64::from(qty),
                    line.confirmed
                ));
            }
            Ok(OrderLine {
                sku,
                qty: tote_shared::Qty::parse(i64::from(qty))
                    .map_err(|e| ProcurementError::Refused(e.to_string()))?,
            })
        })
        .collect()
}

/// A GS1 date (AI 17): YYMMDD, month 1–12, day 0–31 (00: the end of the month).
pub fn valid_yymmdd(text: &str) -> bool {
    let b = text.as_bytes();
    if b.len() != 6 || !b.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let two = |i: usize| (b[i] - b'0') * 10 + (b[i + 1] - b'0');
    (1..=12).contains(&two(2)) && two(4) <= 31
}

/// Units arrived for `sku`: passed into stock or failed QC. Returns whether the order is now
/// complete (every confirmed unit arrived), which closes it.
pub fn receive(po: &mut PurchaseOrder, sku: &Sku, passed: u32, failed: u32, now_ms: i64) -> bool {
    if let Some(line) = po.lines.iter_mut().find(|l| &l.sku == sku) {
        line.accepted = line.accepted.saturating_add(passed);
        line.rejected = line.rejected.saturating_add(failed);
    }
    let complete = po
        .lines
        .iter()
        .all(|l| l.accepted + l.rejected >= l.confirmed);
    if complete && po.state == PoState::Receiving {
        (po.state, po.closed_ms) = (PoState::Closed, Some(now_ms));
        return true;
    }
    false
}

/// Three-way match: each invoice line against the order's unit cost and against the units
/// received that passed QC and are not on an approved invoice yet; the stated total against
/// the lines and against those units at the ordered costs. Returns the invoiced units at the
/// order's costs and every difference beyond `tol` (none: the invoice matches).
pub fn match_invoice(
    po: &PurchaseOrder,
    lines: &[SupplierInvoiceLine],
    total: Money,
    tol: &Tolerance,
) -> (Money, Vec<InvoiceDifference>) {
    let mut differences = Vec::new();
    let mut expected_minor = 0i64;
    let mut lines_minor = 0i64;
    for (i, l) in lines.iter().enumerate() {
        lines_minor += i64::from(l.qty) * l.unit_cost.minor();
        let Some(ordered) = po.lines.iter().find(|o| o.sku == l.sku) else {
            differences.push(InvoiceDifference {
                kind: InvoiceDifferenceKind::NotOrdered,
                sku: Some(l.sku.clone()),
                invoiced: i64::from(l.qty),
                expected: 0,
            });
            continue;
        };
        expected_minor += i64::from(l.qty) * ordered.unit_cost.minor();
        // A SKU on several lines is billed once for their sum (checked at its first line).
        let billed: i64 = lines
            .iter()
            .filter(|o| o.sku == l.sku)
            .map(|o| i64::from(o.qty))
            .sum();
        let open = i64::from(ordered.accepted) - i64::from(ordered.invoiced);
        let first = lines.iter().position(|o| o.sku == l.sku) == Some(i);
        if first && billed > open + i64::from(tol.qty_units) {
            differences.push(InvoiceDifference {
                kind: InvoiceDifferenceKind::Quantity,
                sku: Some(l.sku.clone()),
                invoiced: billed,
                expected: open.max(0),
            });
        }
        let deviation = (l.unit_cost.minor() - ordered.unit_cost.minor()).abs();
        if deviation * 10_000 > ordered.unit_cost.minor() * i64::from(tol.price_bp) {
            differences.push(InvoiceDifference {
                kind: InvoiceDifferenceKind::Price,
                sku: Some(l.sku.clone()),
                invoiced: l.unit_cost.minor(),
                expected: ordered.unit_cost.minor(),
            });
        }
    }
    let stated = total.minor();
    if (stated - lines_minor).abs() > tol.total_minor {
        differences.push(InvoiceDifference {
            kind: InvoiceDifferenceKind::Total,
            sku: None,
            invoiced: stated,
            expected: lines_minor,
        });
    } else if (stated - expected_minor).abs() > tol.total_minor
        && !differences
            .iter()
            .any(|d| d.kind == InvoiceDifferenceKind::Price)
    {
        // Within each line's price tolerance, the deviations can still add up past the total's.
        differences.push(InvoiceDifference {
            kind: InvoiceDifferenceKind::Total,
            sku: None,
            invoiced: stated,
            expected: expected_minor,
        });
    }
    (
        Money::parse(expected_minor.clamp(0, Money::MAX_MINOR)).unwrap_or(Money::ZERO),
        differences,
    )
}

/// An invoice's lines as they may be: each of 1 to 100,000 units.
pub fn check_invoice_lines(lines: &[SupplierInvoiceLine]) -> Result<(), ProcurementError> {
    if lines.is_empty() || lines.len() > MAX_LINES {
        return refuse(format!("an invoice has 1 to {MAX_LINES} lines"));
    }
    match lines
        .iter()
        .find(|l| l.qty == 0 || l.qty > tote_shared::Qty::MAX)
    {
        Some(l) => refuse(format!(
            "{}: qty must be 1 to {}",
            l.sku,
            tote_shared::Qty::MAX
        )),
        None => Ok(()),
    }
}

/// Adds an approved invoice's units to its order's lines.
/// What an invoice's lines bill of goods received and not yet invoiced, at the order's unit
/// costs: the value finance moves out of goods received not invoiced. Units billed beyond that
/// (within the quantity tolerance) and SKUs not ordered are not in it (finance books them as a
/// price variance). Taken before the invoice's units count as invoiced.
pub fn received_value(po: &PurchaseOrder, lines: &[SupplierInvoiceLine]) -> Money {
    let mut minor = 0i64;
    for ordered in &po.lines {
        let billed: i64 = lines
            .iter()
            .filter(|l| l.sku == ordered.sku)
            .map(|l| i64::from(l.qty))
            .sum();
        let open = (i64::from(ordered.accepted) - i64::from(ordered.invoiced)).max(0);
        minor = minor.saturating_add(billed.min(open).saturating_mul(ordered.unit_cost.minor()));
    }
    Money::parse(minor.clamp(0, Money::MAX_MINOR)).unwrap_or(Money::ZERO)
}

/// Per SKU, what an invoice prices its received, not yet invoiced units at beyond the order's
/// cost (a late cost of those units; negative when cheaper). Units billed beyond receipts keep
/// the rest of the line's value (a price variance). Taken before the units count as invoiced.
pub fn late_costs(
    po: &PurchaseOrder,
    lines: &[SupplierInvoiceLine],
) -> Vec<crate::journal::LateCost> {
    let mut costs = Vec::new();
    for ordered in &po.lines {
        let billed: i64 = lines
            .iter()
            .filter(|l| l.sku == ordered.sku)
            .map(|l| i64::from(l.qty))
            .sum();
        let billed_value: i64 = lines
            .iter()
            .filter(|l| l.sku == ordered.sku)
            .map(|l| i64::from(l.qty) * l.unit_cost.minor())
            .sum();
        let units = billed.min((i64::from(ordered.accepted) - i64::from(ordered.invoiced)).max(0));
        if units == 0 {
            continue;
        }
        // The received units' part of what the lines bill, at their average invoiced price.
        let value =
            i64::try_from(i128::from(billed_value) * i128::from(units) / i128::from(billed))
                .unwrap_or(i64::MAX);
        let amount = value - units * ordered.unit_cost.minor();
        if amount != 0 {
            costs.push(crate::journal::LateCost {
                sku: ordered.sku.clone(),
                units,
                amount,
            });
        }
    }
    costs
}

/// A landed cost (inbound freight, duty) of an order spread over its received units by their
/// value at the order's costs, largest remainder first so the shares add up to `amount`.
pub fn landed_shares(po: &PurchaseOrder, amount: i64) -> Vec<crate::journal::LateCost> {
    let received: Vec<&PoLine> = po.lines.iter().filter(|l| l.accepted > 0).collect();
    let values: Vec<i64> = received
        .iter()
        .map(|l| i64::from(l.accepted) * l.unit_cost.minor())
        .collect();
    let shares = tote_shared::domain::largest_remainder(amount.max(0), &values);
    received
        .into_iter()
        .zip(shares)
        .filter(|(_, part)| *part != 0)
        .map(|(l, part)| crate::journal::LateCost {
            sku: l.sku.clone(),
            units: i64::from(l.accepted),
            amount: part,
        })
        .collect()
}

/// The most input VAT an invoice may charge: 13 % (the highest rate) of its total, and a fen of
/// rounding per line.
pub fn check_invoice_tax(total: Money, tax: Money, lines: usize) -> Result<(), ProcurementError> {
    let most = total.minor() * 1300 / 10_000 + lines as i64;
    if total.minor() + tax.minor() > Money::MAX_MINOR {
        return refuse(format!(
            "total and VAT come to more than {}",
            Money::MAX_MINOR
        ));
    }
    if tax.minor() > most {
        return refuse(format!(
            "input VAT {} is above 13 % of the invoice's total {} (at most {most})",
            tax.minor(),
            total.minor()
        ));
    }
    Ok(())
}

pub fn invoiced(po: &mut PurchaseOrder, lines: &[SupplierInvoiceLine]) {
    for l in lines {
        if let Some(line) = po.lines.iter_mut().find(|o| o.sku == l.sku) {
            line.invoiced = line.invoiced.saturating_add(l.qty);
        }
    }
}

#[cfg(test)]
mod tests;
