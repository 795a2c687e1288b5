//! Analytics: read models built from the business-event journal. The first is `sales`: units
//! ordered, paid, shipped and cancelled and revenue per SKU and day (UTC) — the input of
//! replenishment and campaign reports; `returns` (returns.rs) counts what was shipped, asked
//! back and passed or failed QC, per SKU, warehouse, reason and day. It is a journal consumer, so each event counts
//! exactly once however often central crashes. `orders` (orders.rs) counts orders placed, paid
//! and cancelled per hour, channel and warehouse, for the HQ dashboard; `fulfilment`
//! (fulfilment.rs) the orders each warehouse shipped per day and their payment-to-parcel time;
//! `payments` (payments.rs) payment attempts per day and channel by how they ended.

pub mod fulfilment;
pub mod http;
pub mod orders;
pub mod payments;
pub mod returns;
pub mod store;

use crate::db::{DbResult, Tx};
use crate::journal::consumer::Consumer;
use crate::journal::{BusinessEvent, EventLine, JournalEntry};
use std::collections::BTreeMap;
use tote_shared::Sku;

/// Which column of `sales_daily` an event adds to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Measure {
    Ordered,
    Paid,
    Shipped,
    Cancelled,
}

/// The additions one event makes: (measure, lines). Pure.
pub fn measures(event: &BusinessEvent) -> Option<(Measure, &[EventLine])> {
    match event {
        BusinessEvent::OrderCreated { lines, .. } => Some((Measure::Ordered, lines)),
        BusinessEvent::OrderPaid { lines, .. } => Some((Measure::Paid, lines)),
        BusinessEvent::OrderShipped { lines, .. } => Some((Measure::Shipped, lines)),
        BusinessEvent::OrderCancelled { lines, .. }
        | BusinessEvent::OrderPartsCancelled { lines, .. } => Some((Measure::Cancelled, lines)),
        _ => None,
    }
}

pub use tote_shared::calendar::utc_day;

/// Units and value per (UTC day, SKU, measure) over `entries`. Pure.
pub fn totals(entries: &[JournalEntry]) -> BTreeMap<(String, Sku, Measure), (i64, i64)> {
    let mut out: BTreeMap<(String, Sku, Measure), (i64, i64)> = BTreeMap::new();
    for entry in entries {
        let Some((measure, lines)) = measures(&entry.event) else {
            continue;
        };
        let day = utc_day(entry.at_ms);
        for line in lines {
            let sum = out
                .entry((day.clone(), line.sku.clone(), measure))
                .or_default();
            sum.0 += line.qty.as_i64();
            sum.1 += line.amount();
        }
    }
    out
}

pub struct SalesConsumer;

impl Consumer for SalesConsumer {
    fn name(&self) -> &'static str {
        "sales"
    }

    /// Sums the batch per (day, SKU, measure) first: a flash sale's hundreds of orders for
    /// one SKU become one row update.
    fn apply(&self, tx: &mut dyn Tx, entries: &[JournalEntry]) -> DbResult<()> {
        for ((day, sku, measure), (qty, value)) in totals(entries) {
            store::add(tx, &day, &sku, measure, qty, value)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_utc_calendar_days() {
        assert_eq!(utc_day(0), "1970-01-01");
        assert_eq!(utc_day(951_782_400_000), "2000-02-29");
        assert_eq!(utc_day(1_798_761_599_999), "2026-12-31");
        assert_eq!(utc_day(-1), "1969-12-31");
    }
}
