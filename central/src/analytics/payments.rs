//! `payments_daily`: payment attempts per UTC day and channel by how each ended — succeeded,
//! failed (the channel declined) or closed (ended without money: the order went unpaid or
//! another attempt paid it) — for the dashboard's payment success rate. One attempt counts
//! once: `an_payment_end` keeps each attempt's outcome, so a failed attempt closed later stays
//! failed, and money that arrives after a failure or a close moves the attempt to succeeded.
//! A journal consumer: each event counts exactly once.

use crate::db::{DbResult, Tx};
use crate::journal::consumer::Consumer;
use crate::journal::{BusinessEvent, JournalEntry};
use crate::params;
use tote_shared::calendar::DAY_MS;

pub const SUCCEEDED: &str = "succeeded";
pub const FAILED: &str = "failed";
pub const CLOSED: &str = "closed";

/// What an attempt's new end does to the counts, given the end it had. Pure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// Its first end: count it.
    Add,
    /// Money after a failure or a close: it succeeded after all (uncount the old end).
    Move,
    /// Nothing new (a close after a failure, a repeat).
    Keep,
}

pub fn count(had: Option<&str>, now: &str) -> Count {
    match had {
        None => Count::Add,
        Some(old) if now == SUCCEEDED && old != SUCCEEDED => Count::Move,
        Some(_) => Count::Keep,
    }
}

pub struct PaymentsConsumer;

fn bump(tx: &mut dyn Tx, day: i64, channel: &str, outcome: &str, by: i64) -> DbResult<()> {
    let (s, f, c) = match outcome {
        SUCCEEDED => (by, 0, 0),
        FAILED => (0, by, 0),
        _ => (0, 0, by),
    };
    tx.execute(
        "INSERT INTO an_payments_daily (day, channel, succeeded, failed, closed) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (day, channel) DO UPDATE SET succeeded = an_payments_daily.succeeded + ?3,
           failed = an_payments_daily.failed + ?4, closed = an_payments_daily.closed + ?5",
        &params![day, channel, s, f, c],
    )?;
    Ok(())
}

impl Consumer for PaymentsConsumer {
    fn name(&self) -> &'static str {
        "payments_daily"
    }

    fn apply(&self, tx: &mut dyn Tx, entries: &[JournalEntry]) -> DbResult<()> {
        for entry in entries {
            let (payment, channel, outcome) = match &entry.event {
                BusinessEvent::PaymentSucceeded { payment_id, channel, .. } => (*payment_id, channel, SUCCEEDED),
                BusinessEvent::PaymentFailed { payment_id, channel, .. } => (*payment_id, channel, FAILED),
                BusinessEvent::PaymentClosed { payment_id, channel, .. } => (*payment_id, channel, CLOSED),
                _ => continue,
            };
            let day = entry.at_ms.div_euclid(DAY_MS);
            let had = tx
                .query_opt("SELECT day, channel, outcome FROM an_payment_end WHERE payment_id = ?1", &params![payment])?
                .map(|r| Ok::<_, crate::db::DbError>((r.int(0)?, r.text(1)?, r.text(2)?)))
                .transpose()?;
            match count(had.as_ref().map(|h| h.2.as_str()), outcome) {
                Count::Add => {
                    tx.execute("INSERT INTO an_payment_end (payment_id, day, channel, outcome) VALUES (?1, ?2, ?3, ?4)", &params![payment, day, channel.as_str(), outcome])?;
                    bump(tx, day, channel, outcome, 1)?;
                }
                Count::Move => {
                    if let Some((old_day, old_channel, old)) = &had {
                        bump(tx, *old_day, old_channel, old, -1)?;
                    }
                    tx.execute("UPDATE an_payment_end SET day = ?2, channel = ?3, outcome = ?4 WHERE payment_id = ?1", &params![payment, day, channel.as_str(), outcome])?;
                    bump(tx, day, channel, outcome, 1)?;
                }
                Count::Keep => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attempt_counts_once_and_money_after_a_failure_moves_it() {
        assert_eq!(count(None, FAILED), Count::Add);
        assert_eq!(count(Some(FAILED), CLOSED), Count::Keep, "a declined attempt closed later stays declined");
        assert_eq!(count(Some(CLOSED), FAILED), Count::Keep);
        assert_eq!(count(Some(FAILED), SUCCEEDED), Count::Move, "money after all");
        assert_eq!(count(Some(CLOSED), SUCCEEDED), Count::Move);
        assert_eq!(count(Some(SUCCEEDED), SUCCEEDED), Count::Keep);
        assert_eq!(count(Some(SUCCEEDED), CLOSED), Count::Keep);
    }
}
