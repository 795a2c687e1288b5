//! `fulfilment_daily`: per UTC day and warehouse, the orders whose first parcel left, the units
//! shipped, and how long each order took from payment to its first parcel (the order cycle
//! time a warehouse is held to; for an order that waited for stock or for its group buy, from
//! when it was released to the warehouse) — the warehouse KPIs central sees for itself, for the HQ
//! dashboard. A journal consumer: each event counts exactly once. An order paid and not yet
//! shipped waits in `an_order_paid` until its first parcel or its cancellation.

use crate::db::{DbResult, Tx};
use crate::journal::consumer::Consumer;
use crate::journal::{BusinessEvent, JournalEntry};
use crate::params;
use tote_shared::calendar::DAY_MS;

/// What a warehouse promises: an order paid is on its way within a day.
pub const PROMISE_MS: i64 = DAY_MS;

/// What one shipment adds to its day and warehouse. Pure.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Shipped {
    /// 1 for an order's first parcel (its payment known), else 0.
    pub orders: i64,
    pub units: i64,
    /// Payment to first parcel, for the order counted.
    pub cycle_ms: i64,
    pub within_promise: i64,
}

/// The shipment of `units` at `shipped_ms` of an order paid at `paid_ms` (None: not its
/// first parcel, or its payment never seen). Pure.
pub fn shipped(paid_ms: Option<i64>, shipped_ms: i64, units: i64) -> Shipped {
    match paid_ms {
        Some(paid) => {
            let cycle = (shipped_ms - paid).max(0);
            Shipped { orders: 1, units, cycle_ms: cycle, within_promise: i64::from(cycle <= PROMISE_MS) }
        }
        None => Shipped { units, ..Shipped::default() },
    }
}

pub struct FulfilmentConsumer;

/// The order waiting to ship is the warehouse's from `at_ms` (if it is waiting: paid).
fn restart(tx: &mut dyn Tx, order_id: u64, at_ms: i64) -> DbResult<()> {
    tx.execute("UPDATE an_order_paid SET paid_ms = ?2 WHERE order_id = ?1", &params![order_id, at_ms])?;
    Ok(())
}

impl Consumer for FulfilmentConsumer {
    fn name(&self) -> &'static str {
        "fulfilment_daily"
    }

    fn apply(&self, tx: &mut dyn Tx, entries: &[JournalEntry]) -> DbResult<()> {
        for entry in entries {
            match &entry.event {
                BusinessEvent::OrderPaid { order_id, .. } => {
                    tx.execute("INSERT INTO an_order_paid (order_id, paid_ms) VALUES (?1, ?2) ON CONFLICT (order_id) DO NOTHING", &params![*order_id, entry.at_ms])?;
                }
                // A paid order that waited for stock or for its group is the warehouse's from
                // when it was released to it: the clock starts again there.
                BusinessEvent::OrderAllocated { order_id, .. } => restart(tx, *order_id, entry.at_ms)?,
                BusinessEvent::GroupBuyFormed { orders, .. } => {
                    for order_id in orders {
                        restart(tx, *order_id, entry.at_ms)?;
                    }
                }
                BusinessEvent::OrderCancelled { order_id, .. } => {
                    tx.execute("DELETE FROM an_order_paid WHERE order_id = ?1", &params![*order_id])?;
                }
                BusinessEvent::OrderShipped { order_id, warehouse, lines, .. } => {
                    let paid = tx.query_opt("SELECT paid_ms FROM an_order_paid WHERE order_id = ?1", &params![*order_id])?.map(|r| r.int(0)).transpose()?;
                    tx.execute("DELETE FROM an_order_paid WHERE order_id = ?1", &params![*order_id])?;
                    let units = lines.iter().map(|l| i64::from(l.qty.get())).sum();
                    let add = shipped(paid, entry.at_ms, units);
                    let warehouse = warehouse.as_ref().map_or("*".to_owned(), |w| w.to_string());
                    tx.execute(
                        "INSERT INTO an_fulfilment_daily (day, warehouse, orders, units, cycle_ms, within_promise) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                         ON CONFLICT (day, warehouse) DO UPDATE SET orders = an_fulfilment_daily.orders + ?3, units = an_fulfilment_daily.units + ?4,
                           cycle_ms = an_fulfilment_daily.cycle_ms + ?5, within_promise = an_fulfilment_daily.within_promise + ?6",
                        &params![entry.at_ms.div_euclid(DAY_MS), warehouse, add.orders, add.units, add.cycle_ms, add.within_promise],
                    )?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_order_counts_once_with_its_cycle_and_later_parcels_add_units_only() {
        let hour = 3_600_000;
        assert_eq!(shipped(Some(0), 5 * hour, 3), Shipped { orders: 1, units: 3, cycle_ms: 5 * hour, within_promise: 1 });
        assert_eq!(shipped(Some(0), 25 * hour, 1), Shipped { orders: 1, units: 1, cycle_ms: 25 * hour, within_promise: 0 });
        assert_eq!(shipped(None, 25 * hour, 2), Shipped { orders: 0, units: 2, cycle_ms: 0, within_promise: 0 });
        // A parcel stamped before the payment (clocks) is not a negative cycle.
        assert_eq!(shipped(Some(10), 5, 1).cycle_ms, 0);
    }
}
