//! The console's reads over the rollups (`an_orders_hourly`, `an_fulfilment_daily`, finance's
//! `fin_profit_day` and `fin_profit_sku_day`, marketing's campaign days); it owns no tables.

use super::{CampaignDay, DashDay, Share, TopSku, WarehouseKpi};
use crate::db::{DbResult, Tx};
use crate::params;
use std::collections::BTreeMap;

const HOURS_PER_DAY: i64 = 24;

/// Orders per day number in `from..=to`, with revenue and cost of goods from the profit cube.
pub fn days(tx: &mut dyn Tx, from: i64, to: i64) -> DbResult<BTreeMap<i64, DashDay>> {
    let mut out: BTreeMap<i64, DashDay> = BTreeMap::new();
    let rows = tx.query(
        "SELECT hour / 24, CAST(SUM(orders) AS BIGINT), CAST(SUM(value_minor) AS BIGINT), CAST(SUM(paid) AS BIGINT), CAST(SUM(cancelled) AS BIGINT)
         FROM an_orders_hourly WHERE hour >= ?1 AND hour < ?2 GROUP BY hour / 24",
        &params![from * HOURS_PER_DAY, (to + 1) * HOURS_PER_DAY],
    )?;
    for r in rows {
        let day = out.entry(r.int(0)?).or_default();
        (day.orders, day.value_minor, day.paid, day.cancelled) =
            (r.int(1)?, r.int(2)?, r.int(3)?, r.int(4)?);
    }
    let rows = tx.query(
        "SELECT day, CAST(SUM(succeeded) AS BIGINT), CAST(SUM(failed) AS BIGINT), CAST(SUM(closed) AS BIGINT) FROM an_payments_daily
         WHERE day >= ?1 AND day <= ?2 GROUP BY day",
        &params![from, to],
    )?;
    for r in rows {
        let day = out.entry(r.int(0)?).or_default();
        (day.payments_succeeded, day.payments_failed, day.payments_closed) = (r.int(1)?, r.int(2)?, r.int(3)?);
    }
    let rows = tx.query(
        "SELECT day, revenue, cogs FROM fin_profit_day WHERE day >= ?1 AND day <= ?2",
        &params![from, to],
    )?;
    for r in rows {
        let day = out.entry(r.int(0)?).or_default();
        (day.revenue_minor, day.cogs_minor) = (r.int(1)?, r.int(2)?);
    }
    Ok(out)
}

/// Orders placed by hour of the day over `from..=to`.
pub fn by_hour(tx: &mut dyn Tx, from: i64, to: i64) -> DbResult<Vec<i64>> {
    let mut out = vec![0; HOURS_PER_DAY as usize];
    let rows = tx.query(
        "SELECT hour % 24, CAST(SUM(orders) AS BIGINT) FROM an_orders_hourly WHERE hour >= ?1 AND hour < ?2 GROUP BY hour % 24",
        &params![from * HOURS_PER_DAY, (to + 1) * HOURS_PER_DAY],
    )?;
    for r in rows {
        if let Some(slot) = usize::try_from(r.int(0)?).ok().and_then(|h| out.get_mut(h)) {
            *slot = r.int(1)?;
        }
    }
    Ok(out)
}

/// Orders placed and their value by channel or by warehouse, largest first.
pub fn shares(tx: &mut dyn Tx, by_channel: bool, from: i64, to: i64) -> DbResult<Vec<Share>> {
    // The column comes from this choice, never from input.
    let column = if by_channel { "channel" } else { "warehouse" };
    let sql = format!(
        "SELECT {column}, CAST(SUM(orders) AS BIGINT), CAST(SUM(value_minor) AS BIGINT) FROM an_orders_hourly
         WHERE hour >= ?1 AND hour < ?2 AND channel <> '*' GROUP BY {column} ORDER BY SUM(value_minor) DESC, {column} LIMIT 50"
    );
    tx.query(
        &sql,
        &params![from * HOURS_PER_DAY, (to + 1) * HOURS_PER_DAY],
    )?
    .iter()
    .map(|r| {
        Ok(Share {
            key: r.text(0)?,
            orders: r.int(1)?,
            value_minor: r.int(2)?,
        })
    })
    .collect()
}

/// The SKUs with the most margin over `from..=to`.
pub fn top_skus(tx: &mut dyn Tx, from: i64, to: i64, limit: u32) -> DbResult<Vec<TopSku>> {
    tx.query(
        "SELECT sku, CAST(SUM(units) AS BIGINT), CAST(SUM(revenue) AS BIGINT), CAST(SUM(revenue) - SUM(cogs) AS BIGINT) FROM fin_profit_sku_day
         WHERE day >= ?1 AND day <= ?2 GROUP BY sku ORDER BY SUM(revenue) - SUM(cogs) DESC, sku LIMIT ?3",
        &params![from, to, limit],
    )?
    .iter()
    .map(|r| Ok(TopSku { sku: r.text(0)?, units: r.int(1)?, revenue_minor: r.int(2)?, margin_minor: r.int(3)? }))
    .collect()
}

/// Every campaign's figures per day over `from..=to` (marketing's `mk_campaign_day`, through its
/// store).
pub fn campaign_days(tx: &mut dyn Tx, from: i64, to: i64) -> DbResult<Vec<CampaignDay>> {
    let day = |d: i64| tote_shared::calendar::utc_day(d * tote_shared::calendar::DAY_MS);
    Ok(crate::marketing::store::all_campaign_days(tx, &day(from), &day(to))?
        .into_iter()
        .map(|(day, e)| CampaignDay {
            day,
            redemptions: e.redemptions,
            discount_minor: e.discount,
            revenue_minor: e.revenue,
            margin_minor: e.margin(),
        })
        .collect())
}

/// Each warehouse's orders and units shipped over `from..=to`, their mean payment-to-parcel
/// time and the share within the promise.
pub fn fulfilment(tx: &mut dyn Tx, from: i64, to: i64) -> DbResult<Vec<WarehouseKpi>> {
    tx.query(
        "SELECT warehouse, CAST(SUM(orders) AS BIGINT), CAST(SUM(units) AS BIGINT), CAST(SUM(cycle_ms) AS BIGINT), CAST(SUM(within_promise) AS BIGINT)
         FROM an_fulfilment_daily WHERE day >= ?1 AND day <= ?2 GROUP BY warehouse ORDER BY warehouse LIMIT 500",
        &params![from, to],
    )?
    .iter()
    .map(|r| {
        let orders = r.int(1)?;
        let share = |n: i64| (orders > 0).then(|| n as f64 / orders as f64);
        Ok(WarehouseKpi {
            warehouse: r.text(0)?,
            orders_shipped: orders,
            units_shipped: r.int(2)?,
            avg_cycle_hours: share(r.int(3)?).map(|ms| ms / 3_600_000.0),
            within_promise: share(r.int(4)?),
        })
    })
    .collect()
}
