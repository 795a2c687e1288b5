//! `orders_hourly`: orders placed (count and value) per UTC hour, channel and warehouse, and
//! orders paid and cancelled per hour — what the HQ dashboard draws, so its charts over a
//! year read ~10⁵ rows of this, never the million orders themselves. A journal consumer:
//! each event counts exactly once.

use crate::db::{DbResult, Tx};
use crate::journal::consumer::Consumer;
use crate::journal::{BusinessEvent, JournalEntry};
use crate::params;
use std::collections::BTreeMap;

/// Paid and cancelled orders carry no channel in their events: their rows use this.
pub const ANY: &str = "*";

/// (orders, value, paid, paid value, cancelled) added to one (hour, channel, warehouse).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub orders: i64,
    pub value: i64,
    pub paid: i64,
    pub paid_value: i64,
    pub cancelled: i64,
}

/// What `entries` add, per (epoch hour, channel, warehouse). Pure.
pub fn hourly(entries: &[JournalEntry]) -> BTreeMap<(i64, String, String), Counts> {
    let mut out: BTreeMap<(i64, String, String), Counts> = BTreeMap::new();
    for entry in entries {
        let hour = entry.at_ms.div_euclid(3_600_000);
        let (key, add) = match &entry.event {
            BusinessEvent::OrderCreated {
                channel,
                warehouse,
                total,
                ..
            } => (
                (channel.clone(), warehouse.to_string()),
                Counts {
                    orders: 1,
                    value: *total,
                    ..Counts::default()
                },
            ),
            BusinessEvent::OrderPaid {
                warehouse, total, ..
            } => (
                (
                    ANY.into(),
                    warehouse.as_ref().map_or(ANY.into(), |w| w.to_string()),
                ),
                Counts {
                    paid: 1,
                    paid_value: *total,
                    ..Counts::default()
                },
            ),
            BusinessEvent::OrderCancelled { .. } => (
                (ANY.into(), ANY.into()),
                Counts {
                    cancelled: 1,
                    ..Counts::default()
                },
            ),
            _ => continue,
        };
        let sum = out.entry((hour, key.0, key.1)).or_default();
        sum.orders += add.orders;
        sum.value += add.value;
        sum.paid += add.paid;
        sum.paid_value += add.paid_value;
        sum.cancelled += add.cancelled;
    }
    out
}

pub struct OrdersConsumer;

impl Consumer for OrdersConsumer {
    fn name(&self) -> &'static str {
        "orders_hourly"
    }

    fn apply(&self, tx: &mut dyn Tx, entries: &[JournalEntry]) -> DbResult<()> {
        for ((hour, channel, warehouse), c) in hourly(entries) {
            tx.execute(
                "INSERT INTO an_orders_hourly (hour, channel, warehouse, orders, value_minor, paid, paid_minor, cancelled) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (hour, channel, warehouse) DO UPDATE SET orders = an_orders_hourly.orders + ?4, value_minor = an_orders_hourly.value_minor + ?5,
                   paid = an_orders_hourly.paid + ?6, paid_minor = an_orders_hourly.paid_minor + ?7, cancelled = an_orders_hourly.cancelled + ?8",
                &params![hour, channel, warehouse, c.orders, c.value, c.paid, c.paid_value, c.cancelled],
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tote_shared::WarehouseCode;

    fn entry(seq: u64, at_ms: i64, event: BusinessEvent) -> JournalEntry {
        JournalEntry {
            seq,
            at_ms,
            subject: String::new(),
            event,
        }
    }

    #[test]
    fn orders_count_by_hour_channel_and_warehouse_and_payments_by_hour() {
        let sh = WarehouseCode::parse("SH-01").expect("code");
        let created = |id, channel: &str, total| BusinessEvent::OrderCreated {
            order_id: id,
            channel: channel.into(),
            warehouse: sh.clone(),
            lines: vec![],
            total,
            customer: None,
        };
        let entries = vec![
            entry(1, 3_600_000 * 10 + 5, created(1, "web", 500)),
            entry(2, 3_600_000 * 10 + 9, created(2, "web", 700)),
            entry(3, 3_600_000 * 11, created(3, "tmall", 100)),
            entry(
                4,
                3_600_000 * 11 + 1,
                BusinessEvent::OrderPaid {
                    order_id: 1,
                    warehouse: Some(sh.clone()),
                    lines: vec![],
                    total: 500,
                    collected_by: None,
                },
            ),
            entry(
                5,
                3_600_000 * 11 + 2,
                BusinessEvent::OrderClosed { order_id: 2 },
            ),
        ];
        let got = hourly(&entries);
        assert_eq!(
            got[&(10, "web".into(), "SH-01".into())],
            Counts {
                orders: 2,
                value: 1200,
                ..Counts::default()
            }
        );
        assert_eq!(
            got[&(11, "tmall".into(), "SH-01".into())],
            Counts {
                orders: 1,
                value: 100,
                ..Counts::default()
            }
        );
        assert_eq!(
            got[&(11, ANY.into(), "SH-01".into())],
            Counts {
                paid: 1,
                paid_value: 500,
                ..Counts::default()
            }
        );
        assert_eq!(got.len(), 3, "a closed order adds nothing here");
    }
}
