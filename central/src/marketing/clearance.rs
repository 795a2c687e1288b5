//! Stock-aware campaigns: clearance of slow-moving stock. A SKU is slow when it has sellable
//! stock and, at the pace it shipped over the last `window_days`, that stock would last at
//! least `min_cover_days` (or it did not ship at all). A clearance publishes one item-layer
//! discount over the slow SKUs — floor-checked like any promotion: a SKU it could sell below
//! its floor is left out and named — and can be for one segment (the runners who buy that
//! size, say).
//!
//! The pace comes from analytics' daily sales and the stock from inventory. With
//! `near_expiry`, a clearance also takes the SKUs inventory health's open alerts name as
//! holding a lot that will not sell before its date at the pace (the lots' `expiring` units).

use super::pricing::{Benefit, Layer, Promotion};
use super::{MarketingError, PromotionRecord};
use crate::db::{DbResult, Tx};
use serde::{Deserialize, Serialize};
use tote_shared::Sku;

/// A slow mover: its sellable stock, what shipped over the window, and how many days the
/// stock lasts at that pace (none: nothing shipped).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SlowMover {
    pub sku: Sku,
    pub sellable: i64,
    pub shipped: i64,
    pub days_of_cover: Option<i64>,
    /// Units of lots near their expiry that will not sell in time (inventory health's open
    /// near-expiry alerts, across warehouses).
    #[serde(default)]
    pub expiring: i64,
}

/// Days `sellable` lasts at `shipped` per `window_days` (rounded down), or None when nothing
/// shipped; `Some` only for a slow one (`min_cover_days` or more, or no sales).
pub fn slow(sellable: i64, shipped: i64, window_days: i64, min_cover_days: i64) -> Option<Option<i64>> {
    if sellable <= 0 {
        return None;
    }
    if shipped <= 0 {
        return Some(None);
    }
    let cover = i64::try_from(i128::from(sellable) * i128::from(window_days) / i128::from(shipped)).unwrap_or(i64::MAX);
    (cover >= min_cover_days).then_some(Some(cover))
}

/// The slow movers at `now_ms`, the slowest first (no sales, then the most days of cover).
pub fn slow_movers(tx: &mut dyn Tx, window_days: i64, min_cover_days: i64, now_ms: i64) -> DbResult<Vec<SlowMover>> {
    let after = tote_shared::calendar::utc_day(now_ms - window_days * tote_shared::calendar::DAY_MS);
    let shipped = crate::analytics::store::shipped_after(tx, &after)?;
    let mut found = Vec::new();
    for (sku, sellable) in crate::inventory::store::sellable_by_sku(tx)? {
        let sold = shipped.iter().find(|(s, _)| *s == sku).map_or(0, |(_, n)| *n);
        let Some(cover) = slow(sellable, sold, window_days, min_cover_days) else { continue };
        let Ok(sku) = Sku::parse(&sku) else { continue };
        found.push(SlowMover { sku, sellable, shipped: sold, days_of_cover: cover, expiring: 0 });
    }
    found.sort_by(|a, b| b.days_of_cover.unwrap_or(i64::MAX).cmp(&a.days_of_cover.unwrap_or(i64::MAX)).then_with(|| a.sku.cmp(&b.sku)));
    Ok(found)
}

/// Adds the units of inventory health's open near-expiry alerts to their SKUs, the SKUs that
/// are not slow first (their dates cannot wait).
fn add_expiring(tx: &mut dyn Tx, slow: &mut Vec<SlowMover>) -> DbResult<()> {
    use crate::inventory::health::AlertKind;
    let mut fresh = Vec::new();
    for alert in crate::inventory::store::open_alerts(tx)? {
        let f = alert.finding;
        if f.kind != AlertKind::NearExpiry || f.excess <= 0 {
            continue;
        }
        match slow.iter_mut().chain(fresh.iter_mut()).find(|s| s.sku == f.sku) {
            Some(s) => s.expiring += f.excess,
            None => fresh.push(SlowMover { sku: f.sku, sellable: 0, shipped: 0, days_of_cover: None, expiring: f.excess }),
        }
    }
    if !fresh.is_empty() {
        let sellable: std::collections::HashMap<String, i64> = crate::inventory::store::sellable_by_sku(tx)?.into_iter().collect();
        for s in &mut fresh {
            s.sellable = sellable.get(s.sku.as_str()).copied().unwrap_or(0);
        }
    }
    fresh.sort_by(|a, b| b.expiring.cmp(&a.expiring).then_with(|| a.sku.cmp(&b.sku)));
    slow.splice(0..0, fresh);
    Ok(())
}

/// A clearance as HQ asks for it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewClearance {
    /// Days of sales the pace is taken over.
    #[schema(minimum = 7, maximum = 365)]
    pub window_days: i64,
    /// A SKU whose stock lasts this long or longer is slow.
    #[schema(minimum = 1, maximum = 3650)]
    pub min_cover_days: i64,
    /// The discount off list, basis points.
    #[schema(minimum = 1, maximum = 9000)]
    pub bp: u32,
    /// Only for this segment's customers.
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9_-]{1,40}$")]
    pub segment: Option<String>,
    #[schema(minimum = 0, maximum = 9223372036854775807_i64)]
    pub starts_ms: i64,
    #[schema(minimum = 1, maximum = 9223372036854775807_i64)]
    pub ends_ms: i64,
    /// Also the SKUs with lots that will not sell before they expire (inventory health).
    #[serde(default)]
    pub near_expiry: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Clearance {
    pub promotion: PromotionRecord,
    pub skus: Vec<SlowMover>,
    /// Slow movers the discount could sell below their floors, with why.
    pub left_out: Vec<LeftOut>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LeftOut {
    pub sku: Sku,
    pub why: String,
}

/// Publishes clearance `id`: the slow movers at `bp` off, less those it could sell below their
/// floors (named). Refused when no SKU is slow, or none keeps its floor.
pub fn publish(tx: &mut dyn Tx, id: &str, c: &NewClearance, now_ms: i64) -> Result<Clearance, MarketingError> {
    if !(7..=365).contains(&c.window_days) || !(1..=3650).contains(&c.min_cover_days) || !(1..=9_000).contains(&c.bp) {
        return Err(MarketingError::Invalid("window_days 7 to 365, min_cover_days 1 to 3650, bp 1 to 9000".into()));
    }
    let mut slow = slow_movers(tx, c.window_days, c.min_cover_days, now_ms)?;
    if c.near_expiry {
        add_expiring(tx, &mut slow)?;
    }
    slow.truncate(super::pricing::MAX_LINES);
    if slow.is_empty() {
        return Err(MarketingError::Invalid(format!("no SKU has stock for {} days or more at its pace", c.min_cover_days)));
    }
    let mut promotion = Promotion {
        id: id.to_owned(),
        layer: Layer::Item,
        class: "clearance".into(),
        shop: None,
        skus: slow.iter().map(|s| s.sku.clone()).collect(),
        benefit: Benefit::PercentOff { bp: c.bp },
        tier: None,
        segment: c.segment.clone(),
    };
    let mut left_out = Vec::new();
    let record = match super::publish(tx, promotion.clone(), None, c.starts_ms, c.ends_ms, now_ms) {
        Err(MarketingError::BelowFloor(found)) => {
            for e in &found {
                left_out.push(LeftOut { sku: e.sku.clone(), why: format!("could sell at {} under its floor of {} (with {})", super::yuan(e.worst), super::yuan(e.floor), e.stack.join(" + ")) });
            }
            promotion.skus.retain(|s| !found.iter().any(|e| e.sku == *s));
            slow.retain(|s| promotion.skus.contains(&s.sku));
            if promotion.skus.is_empty() {
                return Err(MarketingError::BelowFloor(found));
            }
            super::publish(tx, promotion, None, c.starts_ms, c.ends_ms, now_ms)?
        }
        other => other?,
    };
    Ok(Clearance { promotion: record, skus: slow, left_out })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stock_that_outlasts_the_cover_is_slow_and_unsold_stock_slowest() {
        assert_eq!(slow(120, 10, 30, 90), Some(Some(360)), "10 a month: 120 pairs last a year");
        assert_eq!(slow(20, 10, 30, 90), None, "two months of cover: not slow");
        assert_eq!(slow(5, 0, 30, 90), Some(None), "nothing shipped");
        assert_eq!(slow(0, 0, 30, 90), None, "nothing to clear");
        assert_eq!(slow(90, 30, 30, 90), Some(Some(90)), "exactly the cover");
    }
}
