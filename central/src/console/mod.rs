//! The HQ console: pages served by central for the people at headquarters (`console.html`, no
//! build step), and the reads made for them (`GET /api/v1/console/dashboard`). The page signs
//! in with a user's password (and TOTP code), keeps the session in its HttpOnly cookie, echoes
//! the CSRF token on every change, and shows each role its own menu — the same access table
//! as the API decides what it may open (`staff::need`).
//!
//! Charts are drawn by uPlot (MIT, 51 KB, vendored at `vendor/` with its licence; its SHA-256
//! is pinned in a test): canvas-based, fast with tens of thousands of points, and no build step.
//!
//! The dashboard reads rollups, never the orders themselves: orders per hour, channel and
//! warehouse (`analytics::orders`), revenue and cost of goods per day and SKU (finance's
//! profit cube). A year is ~10⁵ rows however many orders it held.

pub mod http;
pub mod store;

use serde::Serialize;

/// One UTC day of the dashboard.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DashDay {
    /// YYYY-MM-DD (UTC).
    pub day: String,
    pub orders: i64,
    /// Value of the orders placed, minor units.
    pub value_minor: i64,
    pub paid: i64,
    pub cancelled: i64,
    /// Payment attempts that day by how they ended: succeeded, declined by the channel, or
    /// closed with the order unpaid.
    pub payments_succeeded: i64,
    pub payments_failed: i64,
    pub payments_closed: i64,
    /// Revenue recognised (at shipment) and its cost of goods, minor units.
    pub revenue_minor: i64,
    pub cogs_minor: i64,
}

/// Orders and their value for one channel or warehouse over the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Share {
    pub key: String,
    pub orders: i64,
    pub value_minor: i64,
}

/// A SKU's sales and margin over the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TopSku {
    pub sku: String,
    pub units: i64,
    pub revenue_minor: i64,
    pub margin_minor: i64,
}

/// A warehouse's fulfilment over the window (from `analytics::fulfilment`).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct WarehouseKpi {
    pub warehouse: String,
    /// Orders whose first parcel left in the window.
    pub orders_shipped: i64,
    pub units_shipped: i64,
    /// Mean hours from payment to first parcel; null when none shipped.
    pub avg_cycle_hours: Option<f64>,
    /// Share of those orders on their way within a day of payment, 0 to 1; null when none.
    pub within_promise: Option<f64>,
}

/// What every campaign earned on one day, summed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CampaignDay {
    /// YYYY-MM-DD (UTC).
    pub day: String,
    pub redemptions: i64,
    /// What the campaigns' coupons took off, minor units.
    pub discount_minor: i64,
    /// Revenue of the orders attributed to campaigns as they shipped, minor units.
    pub revenue_minor: i64,
    /// That revenue less refunds and the goods' cost.
    pub margin_minor: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Dashboard {
    pub from: String,
    pub to: String,
    /// Every day of the window, oldest first (days without orders as zeros).
    pub days: Vec<DashDay>,
    /// Orders placed by hour of the day (UTC), 24 values.
    pub by_hour: Vec<i64>,
    pub by_channel: Vec<Share>,
    pub by_warehouse: Vec<Share>,
    /// The best SKUs by margin (by revenue order only, for callers who may not read the books).
    pub top_skus: Vec<TopSku>,
    /// The campaigns' days in the window that have figures, oldest first.
    pub campaign_days: Vec<CampaignDay>,
    /// Each warehouse's fulfilment over the window, by warehouse.
    pub warehouses: Vec<WarehouseKpi>,
    /// True when the caller may not read the books: cost of goods and margins are zeros then
    /// (campaigns' margin too, unless the caller runs campaigns).
    pub finance_hidden: bool,
}

/// Day numbers `from..=to` as a dense series, filled from sparse rows keyed by day number.
/// Pure.
pub fn dense(from: i64, to: i64, rows: &std::collections::BTreeMap<i64, DashDay>) -> Vec<DashDay> {
    (from..=to)
        .map(|d| {
            let mut day = rows.get(&d).cloned().unwrap_or_default();
            day.day = tote_shared::calendar::utc_day(d * tote_shared::calendar::DAY_MS);
            day
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    #[test]
    fn days_without_orders_are_zeros_in_order() {
        let mut rows = std::collections::BTreeMap::new();
        rows.insert(
            20_001,
            DashDay {
                orders: 3,
                ..DashDay::default()
            },
        );
        let days = dense(20_000, 20_002, &rows);
        assert_eq!(
            days.iter()
                .map(|d| (d.day.as_str(), d.orders))
                .collect::<Vec<_>>(),
            vec![("2024-10-04", 0), ("2024-10-05", 3), ("2024-10-06", 0)]
        );
    }

    /// The vendored chart library is the release it says it is (npm `uplot@1.6.32`): a change
    /// to it is a deliberate upgrade, with this pin moved.
    #[test]
    fn the_vendored_chart_library_is_pinned() {
        let digest = |bytes: &[u8]| {
            Sha256::digest(bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };
        assert_eq!(
            digest(http::UPLOT_JS.as_bytes()),
            "19c8d4c6ad88929a79f4ae49d6f7161566dfd0ba3d15cc495e974f787eb78f1f"
        );
        assert_eq!(
            digest(http::UPLOT_CSS.as_bytes()),
            "df630c6a8d6f8eeaff264b50f73ce5b114f646ffd9a0bb74f049b0a00135fa04"
        );
    }
}
