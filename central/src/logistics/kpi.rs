//! Carrier KPIs, pure: per carrier and destination province, from counts the store takes over
//! a period — delivered rate, on-time rate against the promise each order was given, exception
//! rate, average transit time of the delivered parcels.

use serde::Serialize;

/// What the store counts per carrier and province.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KpiCounts {
    pub carrier: String,
    /// Empty when no choice was recorded for the parcel's order.
    pub province: String,
    pub shipped: u64,
    pub delivered: u64,
    /// Delivered within the promise given at release.
    pub on_time: u64,
    pub returned: u64,
    /// Parcels with at least one exception event.
    pub exceptions: u64,
    pub transit_ms_delivered: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Kpi {
    pub carrier: String,
    pub province: String,
    pub shipped: u64,
    pub delivered: u64,
    pub on_time: u64,
    pub returned: u64,
    pub exceptions: u64,
    /// delivered ÷ shipped.
    pub delivered_rate: f64,
    /// on time ÷ delivered (None before the first delivery).
    pub on_time_rate: Option<f64>,
    /// parcels with an exception ÷ shipped.
    pub exception_rate: f64,
    /// Mean hand-over-to-door time of the delivered parcels.
    pub avg_transit_hours: Option<f64>,
}

pub fn kpi(c: &KpiCounts) -> Kpi {
    let share = |part: u64, whole: u64| if whole == 0 { 0.0 } else { part as f64 / whole as f64 };
    Kpi {
        carrier: c.carrier.clone(),
        province: c.province.clone(),
        shipped: c.shipped,
        delivered: c.delivered,
        on_time: c.on_time,
        returned: c.returned,
        exceptions: c.exceptions,
        delivered_rate: share(c.delivered, c.shipped),
        on_time_rate: (c.delivered > 0).then(|| share(c.on_time, c.delivered)),
        exception_rate: share(c.exceptions, c.shipped),
        avg_transit_hours: (c.delivered > 0).then(|| c.transit_ms_delivered as f64 / c.delivered as f64 / 3_600_000.0),
    }
}
