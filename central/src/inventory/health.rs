//! Inventory health: stock that needs a buyer's or a marketer's attention, per warehouse × SKU
//! and per lot. Pure rules here (what counts as no sales, slow, overstocked, near expiry, and
//! which alerts a scan raises and clears); `scan` runs them over the store and journals the
//! changes.
//!
//! - **no sales**: sellable stock that has not shipped for `no_sales_days`, counted from the
//!   later of the last shipment and the last time stock there rose from none (new stock is not
//!   stale);
//! - **overstock**: at the pace of the last `window_days`, the stock lasts `overstock_cover_days`
//!   or more; `excess` is what lies beyond that cover;
//! - **slow mover**: it lasts `slow_cover_days` or more (or nothing shipped in the window);
//! - **near expiry**: a lot expiring within `near_expiry_days`; `excess` is what will not sell
//!   before it expires at the pace, lots picked first-expiry-first-out as the edge does;
//! - **expired**: a lot past its date, all of it to be pulled.
//!
//! A warehouse × SKU carries at most one of the first three (the worst); each lot at most one
//! of the last two.

use super::store;
use crate::db::DbError;
use crate::db::{doc, Tx};
use crate::journal::{self, BusinessEvent};
use serde::{Deserialize, Serialize};
use tote_shared::calendar::{parse_day, DAY_MS};
use tote_shared::{Sku, WarehouseCode};

#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    /// 422: a policy that cannot be taken as it is.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    NoSales,
    Overstock,
    SlowMover,
    NearExpiry,
    Expired,
}
names!(AlertKind { NoSales => "no_sales", Overstock => "overstock", SlowMover => "slow_mover", NearExpiry => "near_expiry", Expired => "expired" });

/// The thresholds a scan uses; HQ sets them (`PUT /api/v1/inventory/health/policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthPolicy {
    /// Days of shipments the selling pace is taken over.
    #[schema(minimum = 7, maximum = 365)]
    pub window_days: u32,
    #[schema(minimum = 1, maximum = 730)]
    pub no_sales_days: u32,
    #[schema(minimum = 1, maximum = 3650)]
    pub slow_cover_days: u32,
    /// More than `slow_cover_days`.
    #[schema(minimum = 2, maximum = 3650)]
    pub overstock_cover_days: u32,
    #[schema(minimum = 1, maximum = 365)]
    pub near_expiry_days: u32,
}

impl Default for HealthPolicy {
    fn default() -> Self {
        HealthPolicy { window_days: 28, no_sales_days: 30, slow_cover_days: 90, overstock_cover_days: 180, near_expiry_days: 30 }
    }
}

impl HealthPolicy {
    pub fn check(&self) -> Result<(), HealthError> {
        let bad = |what: &str| Err(HealthError::Invalid(what.into()));
        if !(7..=365).contains(&self.window_days) {
            return bad("window_days must be between 7 and 365");
        }
        if !(1..=730).contains(&self.no_sales_days) {
            return bad("no_sales_days must be between 1 and 730");
        }
        if !(1..=3650).contains(&self.slow_cover_days) || !(2..=3650).contains(&self.overstock_cover_days) {
            return bad("slow_cover_days and overstock_cover_days must be between 1 and 3650");
        }
        if self.overstock_cover_days <= self.slow_cover_days {
            return bad("overstock_cover_days must be more than slow_cover_days");
        }
        if !(1..=365).contains(&self.near_expiry_days) {
            return bad("near_expiry_days must be between 1 and 365");
        }
        Ok(())
    }
}

/// What the store knows of one warehouse × SKU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaceFacts {
    pub warehouse: WarehouseCode,
    pub sku: Sku,
    pub sellable: i64,
    /// Units shipped over the policy's window.
    pub shipped: i64,
    /// The last day (`YYYY-MM-DD`) anything shipped from here, if ever.
    pub last_sale: Option<String>,
    /// When on-hand here last rose from none (ms).
    pub stocked_since_ms: Option<i64>,
}

/// What is left of one lot in one warehouse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LotFacts {
    pub lot: String,
    /// `YYYY-MM-DD`.
    pub expiry: String,
    pub qty: i64,
}

/// One alert as a scan finds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Finding {
    pub kind: AlertKind,
    pub warehouse: WarehouseCode,
    pub sku: Sku,
    /// Empty for the SKU's stock as a whole.
    pub lot: String,
    /// Units concerned: sellable stock, or what is left of the lot.
    pub units: i64,
    /// Overstock: units beyond the cover limit; a lot: units that will not sell before it
    /// expires; otherwise 0.
    pub excess: i64,
    /// Days the stock lasts at the pace (none: nothing shipped in the window).
    pub days_of_cover: Option<i64>,
    pub last_sale: Option<String>,
    pub expiry: Option<String>,
    /// Days until the lot expires (negative: past it).
    pub days_left: Option<i64>,
}

impl Finding {
    fn key(&self) -> (AlertKind, &str, &str, &str) {
        (self.kind, self.warehouse.as_str(), self.sku.as_str(), &self.lot)
    }
}

/// The SKU-level alert for one warehouse × SKU at day `today` (days since the epoch), if any.
pub fn place_finding(f: &PlaceFacts, p: &HealthPolicy, today: i64) -> Option<Finding> {
    if f.sellable <= 0 {
        return None;
    }
    let window = i64::from(p.window_days);
    let cover = (f.shipped > 0).then(|| i64::try_from(i128::from(f.sellable) * i128::from(window) / i128::from(f.shipped)).unwrap_or(i64::MAX));
    let since_sale = f.last_sale.as_deref().and_then(parse_day);
    let since_stock = f.stocked_since_ms.map(|ms| ms.div_euclid(DAY_MS));
    let active = since_sale.max(since_stock);
    let finding = |kind, excess| Finding {
        kind,
        warehouse: f.warehouse.clone(),
        sku: f.sku.clone(),
        lot: String::new(),
        units: f.sellable,
        excess,
        days_of_cover: cover,
        last_sale: f.last_sale.clone(),
        expiry: None,
        days_left: None,
    };
    if active.is_some_and(|day| today - day >= i64::from(p.no_sales_days)) {
        return Some(finding(AlertKind::NoSales, 0));
    }
    match cover {
        Some(days) if days >= i64::from(p.overstock_cover_days) => {
            // What sells within the cover limit stays; the rest is the excess.
            let kept = (i128::from(f.shipped) * i128::from(p.overstock_cover_days) + i128::from(window) - 1) / i128::from(window);
            let excess = i64::try_from(i128::from(f.sellable) - kept).unwrap_or(0).max(0);
            Some(if excess > 0 { finding(AlertKind::Overstock, excess) } else { finding(AlertKind::SlowMover, 0) })
        }
        Some(days) if days >= i64::from(p.slow_cover_days) => Some(finding(AlertKind::SlowMover, 0)),
        Some(_) => None,
        None => Some(finding(AlertKind::SlowMover, 0)),
    }
}

/// The lot alerts of one warehouse × SKU at day `today`, selling `daily` units a day. Lots
/// are picked first-expiry-first-out, so a lot sells only after the earlier ones; expired lots
/// are to be pulled and sell nothing.
pub fn lot_findings(warehouse: &WarehouseCode, sku: &Sku, lots: &[LotFacts], daily: f64, p: &HealthPolicy, today: i64) -> Vec<Finding> {
    let mut sorted: Vec<(&LotFacts, i64)> = lots.iter().filter(|l| l.qty > 0).filter_map(|l| Some((l, parse_day(&l.expiry)?))).collect();
    sorted.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.lot.cmp(&b.0.lot)));
    let mut ahead = 0i64;
    let mut out = Vec::new();
    for (lot, expiry_day) in sorted {
        let days_left = expiry_day - today;
        let finding = |kind, excess| Finding {
            kind,
            warehouse: warehouse.clone(),
            sku: sku.clone(),
            lot: lot.lot.clone(),
            units: lot.qty,
            excess,
            days_of_cover: None,
            last_sale: None,
            expiry: Some(lot.expiry.clone()),
            days_left: Some(days_left),
        };
        if days_left < 0 {
            out.push(finding(AlertKind::Expired, lot.qty));
            continue;
        }
        // What sells by this lot's expiry goes to the earlier lots first (their units that sell
        // in time: `ahead`), then to this one; the rest of it is left over.
        let sold = (daily.max(0.0) * days_left as f64).floor() as i64;
        let left_over = ahead.saturating_add(lot.qty).saturating_sub(sold).clamp(0, lot.qty);
        ahead = ahead.saturating_add(lot.qty - left_over);
        if days_left <= i64::from(p.near_expiry_days) {
            out.push(finding(AlertKind::NearExpiry, left_over));
        }
    }
    out
}

/// An alert as stored: raised by one scan, seen by the later ones, cleared by the first scan
/// that no longer finds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StockAlert {
    pub id: u64,
    #[serde(flatten)]
    pub finding: Finding,
    pub raised_ms: i64,
    /// When its figures were last taken: the last scan that found them changed (a scan that
    /// finds the same figures leaves it).
    pub seen_ms: i64,
    pub cleared_ms: Option<i64>,
}

/// What a scan changed.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScanOutcome {
    pub raised: Vec<StockAlert>,
    pub cleared: Vec<StockAlert>,
    /// Alerts open after the scan.
    pub open: usize,
}

/// Which findings are new (raise) and which open alerts are no longer found (clear). The rest
/// stay open with the new figures.
pub fn diff<'a>(open: &'a [StockAlert], found: &'a [Finding]) -> (Vec<&'a Finding>, Vec<&'a StockAlert>) {
    let keys: std::collections::HashSet<_> = open.iter().map(|a| a.finding.key()).collect();
    let found_keys: std::collections::HashSet<_> = found.iter().map(Finding::key).collect();
    let raise = found.iter().filter(|f| !keys.contains(&f.key())).collect();
    let clear = open.iter().filter(|a| !found_keys.contains(&a.finding.key())).collect();
    (raise, clear)
}

const POLICY_DOC: &str = "inventory_health_policy";
const SCAN_DOC: &str = "inventory_health_scan";

pub fn policy(tx: &mut dyn Tx) -> Result<HealthPolicy, HealthError> {
    Ok(doc::load(tx, POLICY_DOC)?.unwrap_or_default())
}

pub fn set_policy(tx: &mut dyn Tx, p: &HealthPolicy, now_ms: i64) -> Result<HealthPolicy, HealthError> {
    p.check()?;
    doc::save(tx, POLICY_DOC, p, now_ms)?;
    crate::audit::store::append(tx, now_ms, "admin", "inventory_health_policy_set", "inventory:health", &serde_json::json!(p))?;
    Ok(*p)
}

/// Every finding at `now_ms`, optionally for one warehouse: SKU alerts, then lot alerts.
pub fn findings(tx: &mut dyn Tx, p: &HealthPolicy, warehouse: Option<&WarehouseCode>, now_ms: i64) -> Result<Vec<Finding>, HealthError> {
    let today = now_ms.div_euclid(DAY_MS);
    let window_start = tote_shared::calendar::utc_day(now_ms - i64::from(p.window_days) * DAY_MS);
    // The pace of every warehouse × SKU that shipped, read once: for the SKU alerts and for the
    // lots, sellable stock or not (a lot's units may all be promised to orders).
    let shipped = store::shipped_in_window(tx, &window_start, warehouse)?;
    let places = store::place_facts(tx, &shipped, warehouse)?;
    let mut out: Vec<Finding> = places.iter().filter_map(|f| place_finding(f, p, today)).collect();
    for ((wh, sku), lots) in &store::lots(tx, warehouse)? {
        let units = shipped.get(&(wh.clone(), sku.clone())).copied().unwrap_or(0);
        out.extend(lot_findings(wh, sku, lots, units as f64 / f64::from(p.window_days), p, today));
    }
    Ok(out)
}

/// Runs the policy over the whole store: raises what is new, clears what is gone (each with a
/// journal event, in this one transaction), refreshes the figures of the rest.
pub fn scan(tx: &mut dyn Tx, now_ms: i64) -> Result<ScanOutcome, HealthError> {
    // One scan at a time (the hourly one, HQ's, another central's): the second reads what the
    // first wrote.
    doc::lock(tx, SCAN_DOC)?;
    let p = policy(tx)?;
    let found = findings(tx, &p, None, now_ms)?;
    let open = store::open_alerts(tx)?;
    let (raise, clear) = diff(&open, &found);
    let mut raised = Vec::with_capacity(raise.len());
    for f in raise {
        let id = store::insert_alert(tx, f, now_ms)?;
        let event = BusinessEvent::StockAlertRaised {
            alert: f.kind.as_str().into(),
            sku: f.sku.clone(),
            warehouse: f.warehouse.clone(),
            lot: f.lot.clone(),
            units: f.units,
            excess: f.excess,
            expiry: f.expiry.clone(),
        };
        journal::store::append(tx, &event, now_ms)?;
        raised.push(StockAlert { id, finding: f.clone(), raised_ms: now_ms, seen_ms: now_ms, cleared_ms: None });
    }
    let mut cleared = Vec::with_capacity(clear.len());
    for a in clear {
        if !store::clear_alert(tx, a.id, now_ms)? {
            continue;
        }
        let f = &a.finding;
        let event = BusinessEvent::StockAlertCleared { alert: f.kind.as_str().into(), sku: f.sku.clone(), warehouse: f.warehouse.clone(), lot: f.lot.clone() };
        journal::store::append(tx, &event, now_ms)?;
        cleared.push(StockAlert { cleared_ms: Some(now_ms), ..a.clone() });
    }
    let by_key: std::collections::HashMap<_, _> = open.iter().map(|a| (a.finding.key(), a)).collect();
    for f in &found {
        if let Some(a) = by_key.get(&f.key()).filter(|a| a.finding != *f) {
            store::refresh_alert(tx, a.id, f, now_ms)?;
        }
    }
    let open = found.len();
    Ok(ScanOutcome { raised, cleared, open })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY0: i64 = 20_000; // 2024-10-04

    fn place(sellable: i64, shipped: i64, last_sale_days_ago: Option<i64>, stocked_days_ago: i64) -> PlaceFacts {
        PlaceFacts {
            warehouse: WarehouseCode::parse("SH-01").expect("code"),
            sku: Sku::parse("A").expect("sku"),
            sellable,
            shipped,
            last_sale: last_sale_days_ago.map(|d| tote_shared::calendar::utc_day((DAY0 - d) * DAY_MS)),
            stocked_since_ms: Some((DAY0 - stocked_days_ago) * DAY_MS),
        }
    }

    #[test]
    fn stock_is_judged_by_how_long_it_lasts_and_when_it_last_sold() {
        let p = HealthPolicy::default();
        let kind = |f: &PlaceFacts| place_finding(f, &p, DAY0).map(|f| (f.kind, f.excess));
        // 28 shipped over 28 days: 1 a day.
        assert_eq!(kind(&place(60, 28, Some(1), 400)), None, "60 days of cover is healthy");
        assert_eq!(kind(&place(90, 28, Some(1), 400)), Some((AlertKind::SlowMover, 0)));
        assert_eq!(kind(&place(200, 28, Some(1), 400)), Some((AlertKind::Overstock, 20)), "180 sell within the cover");
        assert_eq!(kind(&place(5, 0, Some(29), 400)), Some((AlertKind::SlowMover, 0)), "nothing in the window, sold 29 days ago");
        assert_eq!(kind(&place(5, 0, Some(30), 400)), Some((AlertKind::NoSales, 0)));
        assert_eq!(kind(&place(5, 0, None, 400)), Some((AlertKind::NoSales, 0)), "never sold");
        assert_eq!(kind(&place(5, 0, None, 3)).map(|k| k.0), Some(AlertKind::SlowMover), "stocked three days ago: not stale yet");
        assert_eq!(kind(&place(0, 0, None, 400)), None, "nothing to sell");
    }

    #[test]
    fn lots_sell_first_expiry_first_so_a_later_lot_carries_the_risk() {
        let p = HealthPolicy::default();
        let (wh, sku) = (WarehouseCode::parse("SH-01").expect("code"), Sku::parse("A").expect("sku"));
        let day = |d: i64| tote_shared::calendar::utc_day((DAY0 + d) * DAY_MS);
        let lots = [
            LotFacts { lot: "L3".into(), expiry: day(20), qty: 30 },
            LotFacts { lot: "L1".into(), expiry: day(-1), qty: 4 },
            LotFacts { lot: "L2".into(), expiry: day(10), qty: 15 },
            LotFacts { lot: "L4".into(), expiry: day(200), qty: 50 },
        ];
        let found = lot_findings(&wh, &sku, &lots, 2.0, &p, DAY0);
        let got: Vec<_> = found.iter().map(|f| (f.lot.as_str(), f.kind, f.excess, f.days_left)).collect();
        // L2: 20 sell in 10 days, it has 15: all go. L3: 40 sell in 20 days, 45 are ahead of
        // its end: 5 left over. L4 expires far off. L1 is past its date.
        assert_eq!(
            got,
            vec![("L1", AlertKind::Expired, 4, Some(-1)), ("L2", AlertKind::NearExpiry, 0, Some(10)), ("L3", AlertKind::NearExpiry, 5, Some(20))]
        );
    }

    #[test]
    fn a_scan_raises_the_new_and_clears_the_gone() {
        let p = HealthPolicy::default();
        let slow = place_finding(&place(90, 28, Some(1), 400), &p, DAY0).expect("slow");
        let over = place_finding(&place(200, 28, Some(1), 400), &p, DAY0).expect("over");
        let open = vec![StockAlert { id: 1, finding: slow.clone(), raised_ms: 0, seen_ms: 0, cleared_ms: None }];
        let (raise, clear) = diff(&open, std::slice::from_ref(&over));
        assert_eq!((raise, clear.iter().map(|a| a.id).collect::<Vec<_>>()), (vec![&over], vec![1]), "slow became overstock: a new kind");
        let (raise, clear) = diff(&open, std::slice::from_ref(&slow));
        assert!(raise.is_empty() && clear.is_empty(), "still slow: nothing to say");
    }

    #[test]
    fn the_policy_refuses_inverted_thresholds() {
        assert!(HealthPolicy::default().check().is_ok());
        assert!(HealthPolicy { overstock_cover_days: 90, ..HealthPolicy::default() }.check().is_err());
        assert!(HealthPolicy { window_days: 3, ..HealthPolicy::default() }.check().is_err());
    }
}
