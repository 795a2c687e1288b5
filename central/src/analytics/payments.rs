//! `payments_daily`: payment attempts per UTC day and channel by how they ended — succeeded,
//! failed (the channel declined) or closed (the order ended unpaid) — for the dashboard's
//! payment success rate. A journal consumer: each event counts exactly once.

use crate::db::{DbResult, Tx};
use crate::journal::consumer::Consumer;
use crate::journal::{BusinessEvent, JournalEntry};
use crate::params;
use std::collections::BTreeMap;
use tote_shared::calendar::DAY_MS;

/// (succeeded, failed, closed) added to one (day, channel).
pub type Ends = (i64, i64, i64);

/// What `entries` add, per (epoch day, channel). Pure.
pub fn daily(entries: &[JournalEntry]) -> BTreeMap<(i64, String), Ends> {
    let mut out: BTreeMap<(i64, String), Ends> = BTreeMap::new();
    for entry in entries {
        let (channel, add) = match &entry.event {
            BusinessEvent::PaymentSucceeded { channel, .. } => (channel, (1, 0, 0)),
            BusinessEvent::PaymentFailed { channel, .. } => (channel, (0, 1, 0)),
            BusinessEvent::PaymentClosed { channel, .. } => (channel, (0, 0, 1)),
            _ => continue,
        };
        let sum = out.entry((entry.at_ms.div_euclid(DAY_MS), channel.clone())).or_default();
        (sum.0, sum.1, sum.2) = (sum.0 + add.0, sum.1 + add.1, sum.2 + add.2);
    }
    out
}

pub struct PaymentsConsumer;

impl Consumer for PaymentsConsumer {
    fn name(&self) -> &'static str {
        "payments_daily"
    }

    fn apply(&self, tx: &mut dyn Tx, entries: &[JournalEntry]) -> DbResult<()> {
        for ((day, channel), (succeeded, failed, closed)) in daily(entries) {
            tx.execute(
                "INSERT INTO an_payments_daily (day, channel, succeeded, failed, closed) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (day, channel) DO UPDATE SET succeeded = an_payments_daily.succeeded + ?3,
                   failed = an_payments_daily.failed + ?4, closed = an_payments_daily.closed + ?5",
                &params![day, channel, succeeded, failed, closed],
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(at_ms: i64, event: BusinessEvent) -> JournalEntry {
        JournalEntry { seq: 1, at_ms, subject: String::new(), event }
    }

    #[test]
    fn attempts_count_by_day_channel_and_end() {
        let ok = |id, channel: &str| BusinessEvent::PaymentSucceeded { payment_id: id, order_id: id, channel: channel.into(), amount: 100, channel_ref: "r".into() };
        let failed = BusinessEvent::PaymentFailed { payment_id: 3, order_id: 3, channel: "card".into(), reason: "declined".into() };
        let closed = BusinessEvent::PaymentClosed { payment_id: 4, order_id: 4, channel: "wechat".into() };
        let entries = [entry(10, ok(1, "wechat")), entry(20, ok(2, "wechat")), entry(30, failed), entry(DAY_MS + 1, closed)];
        let days = daily(&entries);
        assert_eq!(days.get(&(0, "wechat".into())), Some(&(2, 0, 0)));
        assert_eq!(days.get(&(0, "card".into())), Some(&(0, 1, 0)));
        assert_eq!(days.get(&(1, "wechat".into())), Some(&(0, 0, 1)));
        assert_eq!(days.len(), 3, "nothing else: {days:?}");
    }
}
