//! Suppliers measured from our own records, and their month's statement.
//!
//! A scorecard per month: deliveries on time against the date the supplier confirmed (an ASN
//! received by the end of that UTC day), the fill rate of closed orders (units that arrived
//! over units ordered), the QC pass rate at receiving, and today's price index (the supplier's
//! cost over the cheapest approved supplier's, per SKU it prices, averaged: 1 is cheapest), and
//! the return rate of their goods: customers' return requests over units shipped, per month, of
//! the SKUs they delivered — a SKU several suppliers deliver counts for each by its share of
//! the units that arrived and passed QC (analytics' `returns` read model gives both counts).
//! A statement: what arrived in the month and passed QC, at the order's unit costs, against
//! the invoices approved in it — the month-end settlement from received quantities.

use super::{store, ProcurementError};
use crate::db::Tx;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use tote_shared::calendar::{utc_day, DAY_MS};
use tote_shared::{Money, Sku};

/// One month of a supplier's record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Month {
    /// `YYYY-MM`, or `all` for the whole record.
    pub month: String,
    /// ASNs fully received, and of them on time.
    pub deliveries: u32,
    pub on_time: u32,
    /// Orders closed, their units ordered and arrived (passed or failed QC).
    pub orders_closed: u32,
    pub units_ordered: u64,
    pub units_arrived: u64,
    /// Units checked at receiving, passed and failed.
    pub units_passed: u64,
    pub units_failed: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_time_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fill_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qc_pass_rate: Option<f64>,
    /// Units of their goods shipped to customers and asked back (their share of each SKU).
    pub units_sold: f64,
    pub units_returned: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_rate: Option<f64>,
}

impl Month {
    fn rates(mut self) -> Month {
        let share = |a: u64, b: u64| (b > 0).then(|| a as f64 / b as f64);
        self.on_time_rate = share(u64::from(self.on_time), u64::from(self.deliveries));
        self.fill_rate = share(self.units_arrived, self.units_ordered);
        self.qc_pass_rate = share(self.units_passed, self.units_passed + self.units_failed);
        self.return_rate = (self.units_sold > 0.0).then(|| self.units_returned / self.units_sold);
        self
    }

    fn add(&mut self, other: &Month) {
        self.deliveries += other.deliveries;
        self.on_time += other.on_time;
        self.orders_closed += other.orders_closed;
        self.units_ordered += other.units_ordered;
        self.units_arrived += other.units_arrived;
        self.units_passed += other.units_passed;
        self.units_failed += other.units_failed;
        self.units_sold += other.units_sold;
        self.units_returned += other.units_returned;
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Scorecard {
    pub supplier: String,
    /// Oldest first.
    pub months: Vec<Month>,
    pub total: Month,
    /// The supplier's cost over the cheapest approved supplier's, averaged over the SKUs it
    /// prices now (1 is the cheapest everywhere); none when it prices nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_index: Option<f64>,
}

fn month_of(at_ms: i64) -> String {
    utc_day(at_ms)[..7].to_owned()
}

/// Whether a delivery received at `received_ms` kept a promise for `promised_ms`: by the end
/// of the promised UTC day.
pub fn on_time(received_ms: i64, promised_ms: i64) -> bool {
    received_ms < (promised_ms.div_euclid(DAY_MS) + 1) * DAY_MS
}

pub fn scorecard(tx: &mut dyn Tx, supplier: &str, now_ms: i64) -> Result<Scorecard, ProcurementError> {
    let mut months: BTreeMap<String, Month> = BTreeMap::new();
    let slot = |months: &mut BTreeMap<String, Month>, at: i64| -> Month { months.remove(&month_of(at)).unwrap_or_else(|| Month { month: month_of(at), ..Month::default() }) };
    for (received_ms, promised_ms) in store::deliveries_of(tx, supplier)? {
        let mut m = slot(&mut months, received_ms);
        m.deliveries += 1;
        m.on_time += u32::from(promised_ms.is_some_and(|p| on_time(received_ms, p)));
        months.insert(m.month.clone(), m);
    }
    for (closed_ms, ordered, arrived) in store::closed_orders_of(tx, supplier)? {
        let mut m = slot(&mut months, closed_ms);
        m.orders_closed += 1;
        (m.units_ordered, m.units_arrived) = (m.units_ordered + ordered, m.units_arrived + arrived);
        months.insert(m.month.clone(), m);
    }
    for (at_ms, passed, failed) in store::arrivals_of(tx, supplier, 0, i64::MAX)?.into_iter().map(|a| (a.at_ms, a.passed, a.failed)) {
        let mut m = slot(&mut months, at_ms);
        (m.units_passed, m.units_failed) = (m.units_passed + u64::from(passed), m.units_failed + u64::from(failed));
        months.insert(m.month.clone(), m);
    }
    let shares = store::arrival_shares(tx, supplier)?;
    let skus: Vec<&Sku> = shares.keys().collect();
    let sold = crate::analytics::store::shipped_and_requested_by_month(tx, &skus)?;
    for (month, (units, returned)) in attribute_returns(&shares, &sold) {
        let mut m = months.remove(&month).unwrap_or_else(|| Month { month: month.clone(), ..Month::default() });
        (m.units_sold, m.units_returned) = (units, returned);
        months.insert(month, m);
    }
    let mut total = Month { month: "all".into(), ..Month::default() };
    months.values().for_each(|m| total.add(m));
    Ok(Scorecard { supplier: supplier.to_owned(), months: months.into_values().map(Month::rates).collect(), total: total.rates(), price_index: price_index(tx, supplier, now_ms)? })
}

/// Per month: units shipped and asked back, of SKUs weighted by the supplier's share of them
/// (`rows`: month, SKU, shipped, return requests).
pub fn attribute_returns(shares: &HashMap<Sku, f64>, rows: &[(String, Sku, i64, i64)]) -> BTreeMap<String, (f64, f64)> {
    let mut out: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for (month, sku, shipped, requested) in rows {
        let Some(share) = shares.get(sku) else { continue };
        let m = out.entry(month.clone()).or_default();
        m.0 += *shipped as f64 * share;
        m.1 += *requested as f64 * share;
    }
    out
}

fn price_index(tx: &mut dyn Tx, supplier: &str, now_ms: i64) -> Result<Option<f64>, ProcurementError> {
    let prices = crate::supplier::store::approved_prices_at(tx, now_ms, None)?;
    let mut cheapest: BTreeMap<&Sku, i64> = BTreeMap::new();
    for p in &prices {
        let c = cheapest.entry(&p.sku).or_insert(i64::MAX);
        *c = (*c).min(p.terms.cost.minor());
    }
    let ratios: Vec<f64> = prices
        .iter()
        .filter(|p| p.supplier == supplier)
        .filter_map(|p| cheapest.get(&p.sku).filter(|c| **c > 0).map(|c| p.terms.cost.minor() as f64 / *c as f64))
        .collect();
    Ok((!ratios.is_empty()).then(|| ratios.iter().sum::<f64>() / ratios.len() as f64))
}

/// One SKU of one order that arrived in the month and passed QC, at the order's unit cost.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StatementLine {
    pub po: u64,
    pub sku: Sku,
    pub units: u64,
    pub unit_cost: Money,
    pub value: Money,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StatementInvoice {
    pub id: u64,
    pub reference: String,
    pub po: u64,
    pub total: Money,
    /// Input VAT on top of `total`.
    pub tax: Money,
    /// When HQ paid it, if it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paid_ms: Option<i64>,
}

/// A supplier's month: what it delivered that passed QC (payable), the invoices approved, and
/// the difference still to be invoiced.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Statement {
    pub supplier: String,
    /// `YYYY-MM`.
    pub month: String,
    pub received: Vec<StatementLine>,
    pub received_value: Money,
    pub invoices: Vec<StatementInvoice>,
    pub invoiced: Money,
    /// Received value less invoiced (negative: invoiced ahead of this month's receipts).
    pub not_invoiced: i64,
    /// Of the month's invoices, what HQ has paid, and what it still owes (VAT included).
    pub paid: Money,
    pub unpaid: Money,
}

/// The first and one-past-last millisecond of `YYYY-MM`, or None.
pub fn month_bounds(month: &str) -> Option<(i64, i64)> {
    let (y, m) = month.split_once('-')?;
    if y.len() != 4 || m.len() != 2 || !y.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (y, m): (i64, i64) = (y.parse().ok()?, m.parse().ok()?);
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) {
        return None;
    }
    let start = tote_shared::calendar::days_from_civil(y, m, 1) * DAY_MS;
    let end = if m == 12 { tote_shared::calendar::days_from_civil(y + 1, 1, 1) } else { tote_shared::calendar::days_from_civil(y, m + 1, 1) } * DAY_MS;
    Some((start, end))
}

pub fn statement(tx: &mut dyn Tx, supplier: &str, month: &str) -> Result<Statement, ProcurementError> {
    let (from, to) = month_bounds(month).ok_or_else(|| ProcurementError::Refused(format!("month {month}: write it YYYY-MM")))?;
    let mut lines: BTreeMap<(u64, Sku), (u64, Money)> = BTreeMap::new();
    for a in store::arrivals_of(tx, supplier, from, to)? {
        let entry = lines.entry((a.po, a.sku)).or_insert((0, a.unit_cost));
        entry.0 += u64::from(a.passed);
    }
    let received: Vec<StatementLine> = lines
        .into_iter()
        .filter(|(_, (units, _))| *units > 0)
        .map(|((po, sku), (units, unit_cost))| {
            let value = Money::parse((units as i64).saturating_mul(unit_cost.minor()).min(Money::MAX_MINOR)).unwrap_or(Money::ZERO);
            StatementLine { po, sku, units, unit_cost, value }
        })
        .collect();
    let invoices: Vec<StatementInvoice> = store::invoices_decided(tx, supplier, from, to)?
        .into_iter()
        .map(|i| StatementInvoice { id: i.id, reference: i.reference, po: i.po, total: i.total, tax: i.tax, paid_ms: i.paid_ms })
        .collect();
    let owed = |i: &StatementInvoice| i.total.minor() + i.tax.minor();
    let paid_minor: i64 = invoices.iter().filter(|i| i.paid_ms.is_some()).map(owed).sum();
    let owed_minor: i64 = invoices.iter().map(owed).sum();
    let received_minor: i64 = received.iter().map(|l| l.value.minor()).sum();
    let invoiced_minor: i64 = invoices.iter().map(|i| i.total.minor()).sum();
    let money = |m: i64| Money::parse(m.clamp(0, Money::MAX_MINOR)).unwrap_or(Money::ZERO);
    Ok(Statement {
        supplier: supplier.to_owned(),
        month: month.to_owned(),
        received,
        received_value: money(received_minor),
        invoices,
        invoiced: money(invoiced_minor),
        not_invoiced: received_minor - invoiced_minor,
        paid: money(paid_minor),
        unpaid: money(owed_minor - paid_minor),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_time_means_by_the_end_of_the_promised_day() {
        let promised = 20 * DAY_MS + 9 * 3_600_000;
        assert!(on_time(20 * DAY_MS + 23 * 3_600_000, promised));
        assert!(!on_time(21 * DAY_MS, promised));
        assert!(on_time(3 * DAY_MS, promised));
    }

    #[test]
    fn months_have_bounds() {
        assert_eq!(month_bounds("1970-01"), Some((0, 31 * DAY_MS)));
        assert_eq!(month_bounds("2026-12").map(|(a, b)| (b - a) / DAY_MS), Some(31));
        assert_eq!(month_bounds("2024-02").map(|(a, b)| (b - a) / DAY_MS), Some(29));
        for bad in ["2026-13", "2026-1", "26-01", "2026/01", ""] {
            assert_eq!(month_bounds(bad), None, "{bad}");
        }
    }

    #[test]
    fn rates_are_shares_and_absent_without_a_base() {
        let m = Month { deliveries: 4, on_time: 3, units_ordered: 100, units_arrived: 90, units_passed: 88, units_failed: 2, ..Month::default() }.rates();
        assert_eq!((m.on_time_rate, m.fill_rate, m.qc_pass_rate), (Some(0.75), Some(0.9), Some(88.0 / 90.0)));
        assert_eq!(Month::default().rates().fill_rate, None);
    }

    #[test]
    fn returns_count_for_each_supplier_by_its_share_of_the_sku() {
        let (a, b) = (Sku::parse("A").expect("sku"), Sku::parse("B").expect("sku"));
        let shares: HashMap<Sku, f64> = [(a.clone(), 0.75)].into_iter().collect();
        let rows = [("2027-01".to_owned(), a.clone(), 40, 4), ("2027-01".to_owned(), b, 100, 50), ("2027-02".to_owned(), a, 8, 0)];
        let got = attribute_returns(&shares, &rows);
        assert_eq!(got.get("2027-01"), Some(&(30.0, 3.0)), "three quarters of A; none of B, which they never delivered");
        assert_eq!(got.get("2027-02"), Some(&(6.0, 0.0)));
    }
}
