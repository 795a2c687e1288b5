//! Replenishment suggestions for a warehouse: every SKU an approved supplier has a price for,
//! forecast from its daily shipments there, its inventory position against the reorder point,
//! the cheapest supplier's terms; grouped per supplier, for the buyer to turn into drafts.
//!
//! The inputs are read in one short transaction; the forecasts (the costly part) run outside
//! it, on two threads.

use super::forecast::{self, Forecast};
use super::replenish::{self, Inputs, Levels};
use super::{store, ProcurementError, PurchaseOrder};
use crate::db::{doc, Tx};
use crate::supplier::{self, SupplierPrice};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use tote_shared::{Money, Sku, WarehouseCode};

const POLICY_DOC: &str = "replenishment_policy";
/// SKUs whose history one query reads.
const HISTORY_PAGE: usize = 200;

/// How replenishment decides.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplenishmentPolicy {
    /// The share of replenishment cycles that should end without running out (0.5 to 0.9999).
    #[schema(minimum = 0.5, maximum = 0.9999)]
    pub service_level: f64,
    /// Days between the buyer's reviews.
    #[schema(minimum = 1, maximum = 60)]
    pub review_days: u32,
    /// A lead time's standard deviation as a share of it, until a supplier has delivered
    /// often enough for their own (`replenish::MIN_LEAD_OBSERVATIONS`).
    #[schema(minimum = 0, maximum = 2)]
    pub lead_time_cv: f64,
    /// Days of shipments the forecast learns from.
    #[schema(minimum = 56, maximum = 1095)]
    pub history_days: u32,
}

impl Default for ReplenishmentPolicy {
    fn default() -> Self {
        ReplenishmentPolicy { service_level: 0.95, review_days: 7, lead_time_cv: 0.25, history_days: 730 }
    }
}

impl ReplenishmentPolicy {
    pub fn check(&self) -> Result<(), ProcurementError> {
        let ok = (0.5..=0.9999).contains(&self.service_level)
            && (1..=60).contains(&self.review_days)
            && (0.0..=2.0).contains(&self.lead_time_cv)
            && (56..=1095).contains(&self.history_days);
        if ok {
            Ok(())
        } else {
            Err(ProcurementError::Refused("policy: service_level 0.5–0.9999, review_days 1–60, lead_time_cv 0–2, history_days 56–1095".into()))
        }
    }
}

pub fn policy(tx: &mut dyn Tx) -> Result<ReplenishmentPolicy, ProcurementError> {
    Ok(doc::load(tx, POLICY_DOC)?.unwrap_or_default())
}

pub fn set_policy(tx: &mut dyn Tx, p: &ReplenishmentPolicy, now_ms: i64) -> Result<ReplenishmentPolicy, ProcurementError> {
    p.check()?;
    doc::save(tx, POLICY_DOC, p, now_ms)?;
    crate::audit::store::append(tx, now_ms, "admin", "replenishment_policy_set", "procurement:replenishment", &serde_json::json!(p))?;
    Ok(*p)
}

/// One SKU to order, and why.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SuggestedLine {
    pub sku: Sku,
    pub qty: u32,
    pub unit_cost: Money,
    pub forecast: Forecast,
    pub levels: Levels,
    /// Sellable here, plus in transit, plus ordered and not yet shipped.
    pub position: i64,
    pub sellable: i64,
    pub in_transit: i64,
    pub on_order: i64,
    /// The contract's lead time.
    pub lead_time_days: u32,
    /// The lead time the levels count on: measured from the supplier's deliveries once there
    /// are enough, else the contract's.
    pub lead: replenish::LeadTime,
}

/// What to order from one supplier for one warehouse.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Suggestion {
    pub supplier: String,
    pub warehouse: WarehouseCode,
    pub lines: Vec<SuggestedLine>,
    pub total: Money,
}

/// Everything the plan needs, read at one moment.
pub struct Snapshot {
    pub warehouse: WarehouseCode,
    pub policy: ReplenishmentPolicy,
    /// Per SKU: every approved supplier's terms in force.
    pub offers: HashMap<Sku, Vec<SupplierPrice>>,
    /// Per SKU: units shipped from this warehouse per day, oldest first, `history_days` long.
    pub history: HashMap<Sku, Vec<f64>>,
    /// Per SKU: (sellable, in transit).
    pub stock: HashMap<Sku, (i64, i64)>,
    /// Per SKU: units on open purchase orders not yet shipped.
    pub on_order: HashMap<Sku, i64>,
    /// Per supplier: the lead times (days) of their latest orders, sent to first arrival.
    pub lead_history: HashMap<String, Vec<f64>>,
}

/// The latest deliveries a supplier's lead time is measured over, within a year.
const LEAD_HISTORY: usize = 20;

pub fn snapshot(tx: &mut dyn Tx, warehouse: &WarehouseCode, now_ms: i64) -> Result<Snapshot, ProcurementError> {
    let policy = policy(tx)?;
    let mut offers: HashMap<Sku, Vec<SupplierPrice>> = HashMap::new();
    for price in supplier::store::approved_prices_at(tx, now_ms, None)? {
        offers.entry(price.sku.clone()).or_default().push(price);
    }
    let days = policy.history_days as usize;
    let first = tote_shared::calendar::utc_day(now_ms - policy.history_days as i64 * tote_shared::calendar::DAY_MS);
    let mut history: HashMap<Sku, Vec<f64>> = HashMap::new();
    let today = now_ms.div_euclid(tote_shared::calendar::DAY_MS);
    let wanted: Vec<&Sku> = offers.keys().collect();
    for page in wanted.chunks(HISTORY_PAGE) {
        for (sku, day, units) in crate::analytics::store::shipped_daily(tx, warehouse, &first, page)? {
            let Ok(sku) = Sku::parse(&sku) else { continue };
            let age = tote_shared::calendar::parse_day(&day).map_or(i64::MAX, |d| today - d);
            if (1..=days as i64).contains(&age) {
                history.entry(sku).or_insert_with(|| vec![0.0; days])[days - age as usize] += units as f64;
            }
        }
    }
    let stock = crate::inventory::store::position_at(tx, warehouse)?.into_iter().filter_map(|(s, v)| Some((Sku::parse(&s).ok()?, v))).collect();
    let on_order = store::open_units(tx, warehouse)?.into_iter().filter_map(|(s, v)| Some((Sku::parse(&s).ok()?, v))).collect();
    let mut lead_history: HashMap<String, Vec<f64>> = HashMap::new();
    // Newest first: the latest LEAD_HISTORY per supplier.
    for (supplier, days) in store::lead_times(tx, now_ms - 365 * tote_shared::calendar::DAY_MS)? {
        let seen = lead_history.entry(supplier).or_default();
        if seen.len() < LEAD_HISTORY {
            seen.push(days);
        }
    }
    Ok(Snapshot { warehouse: warehouse.clone(), policy, offers, history, stock, on_order, lead_history })
}

/// The suggestions a snapshot makes, per supplier (pure; forecasts on two threads).
pub fn plan(s: &Snapshot) -> Vec<Suggestion> {
    let mut skus: Vec<&Sku> = s.offers.keys().collect();
    skus.sort();
    let zeros = vec![0.0; s.policy.history_days as usize];
    let forecasts: Vec<Forecast> = parallel(&skus, |sku| forecast::choose(s.history.get(*sku).unwrap_or(&zeros), 28).0);
    let mut by_supplier: Vec<Suggestion> = Vec::new();
    for (sku, f) in skus.into_iter().zip(forecasts) {
        let Some(line) = line_for(s, sku, f) else { continue };
        let (supplier, line) = line;
        let group = match by_supplier.iter().position(|g| g.supplier == supplier) {
            Some(i) => &mut by_supplier[i],
            None => {
                by_supplier.push(Suggestion { supplier, warehouse: s.warehouse.clone(), lines: Vec::new(), total: Money::ZERO });
                let last = by_supplier.len() - 1;
                &mut by_supplier[last]
            }
        };
        group.lines.push(line);
    }
    for g in &mut by_supplier {
        let minor: i64 = g.lines.iter().map(|l| i64::from(l.qty) * l.unit_cost.minor()).sum();
        g.total = Money::parse(minor.min(Money::MAX_MINOR)).unwrap_or(Money::ZERO);
    }
    by_supplier.sort_by(|a, b| a.supplier.cmp(&b.supplier));
    by_supplier
}

/// The line for one SKU, from the supplier whose unit cost at the quantity it would order is
/// lowest (the shorter lead time among equals); None when nothing needs ordering.
fn line_for(s: &Snapshot, sku: &Sku, f: Forecast) -> Option<(String, SuggestedLine)> {
    let (sellable, in_transit) = s.stock.get(sku).copied().unwrap_or((0, 0));
    let on_order = s.on_order.get(sku).copied().unwrap_or(0);
    let position = sellable + in_transit + on_order;
    let mut best: Option<(String, SuggestedLine)> = None;
    for offer in s.offers.get(sku)? {
        let observed = s.lead_history.get(&offer.supplier).map_or(&[][..], Vec::as_slice);
        let lead = replenish::lead_time(observed, f64::from(offer.terms.lead_time_days), s.policy.lead_time_cv);
        let inputs = Inputs {
            daily: f.daily,
            sigma: f.sigma,
            lead_days: lead.days,
            lead_sigma: lead.sigma,
            review_days: f64::from(s.policy.review_days),
            service_level: s.policy.service_level,
        };
        let levels = replenish::levels(&inputs);
        // Nothing sells and nothing is needed: no order for the MOQ's sake.
        if levels.order_up_to <= 0.0 {
            continue;
        }
        let qty = replenish::order_qty(&levels, position, offer.terms.moq);
        if qty == 0 {
            continue;
        }
        let unit_cost = supplier::unit_cost(&offer.terms, qty);
        let line = SuggestedLine { sku: sku.clone(), qty, unit_cost, forecast: f, levels, position, sellable, in_transit, on_order, lead_time_days: offer.terms.lead_time_days, lead };
        let better = best.as_ref().is_none_or(|(_, b)| (unit_cost, line.lead.days) < (b.unit_cost, b.lead.days));
        if better {
            best = Some((offer.supplier.clone(), line));
        }
    }
    best
}

/// `work` over `items` on two threads, in order.
pub fn parallel<T: Sync, R: Send>(items: &[T], work: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let half = items.len().div_ceil(2);
    if items.len() < 64 {
        return items.iter().map(&work).collect();
    }
    let (a, b) = items.split_at(half);
    std::thread::scope(|scope| {
        let other = scope.spawn(|| b.iter().map(&work).collect::<Vec<R>>());
        let mut out: Vec<R> = a.iter().map(&work).collect();
        out.extend(other.join().unwrap_or_default());
        out
    })
}

/// Draft purchase orders from the suggestions, one per supplier (the buyer approves them).
pub fn drafts(tx: &mut dyn Tx, suggestions: &[Suggestion], now_ms: i64) -> Result<Vec<PurchaseOrder>, ProcurementError> {
    let mut out = Vec::new();
    for s in suggestions {
        let lines = s
            .lines
            .iter()
            .map(|l| Ok(tote_shared::sync::OrderLine { sku: l.sku.clone(), qty: tote_shared::Qty::parse(i64::from(l.qty)).map_err(|e| ProcurementError::Refused(e.to_string()))? }))
            .collect::<Result<Vec<_>, ProcurementError>>()?;
        let draft = super::flow::Draft { supplier: s.supplier.clone(), warehouse: s.warehouse.clone(), lines, note: "replenishment".into() };
        out.push(super::flow::create(tx, &draft, now_ms)?);
    }
    Ok(out)
}
