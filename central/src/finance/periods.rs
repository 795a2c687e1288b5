//! Period close. HQ closes a month once it is over, in order: the request journals
//! `period_closed`; the ledger posts it after every event journalled before it, moving the
//! month's income and expenses to retained earnings in a closing entry dated the month's last
//! moment. Events dated in a closed month that post later go into the open period, keeping their
//! own date beside the posting date.

use crate::db::{DbError, Tx};
use crate::journal::{self, BusinessEvent};
use crate::params;
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum FinanceError {
    /// 422: not a month, or not one that may be closed now.
    #[error("{0}")]
    Refused(String),
    /// 409: closed (or being closed) already.
    #[error("{0}")]
    Closed(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// A month HQ asked to close; `closed_ms` once the ledger posted the close.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Period {
    /// `YYYY-MM`.
    pub month: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub requested_ms: i64,
    pub requested_by: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_ms: Option<i64>,
    /// The month's net income moved to retained earnings (minor units), once closed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub net_income: Option<i64>,
}

/// The first and one-past-last millisecond of a month `YYYY-MM`.
pub fn bounds(month: &str) -> Result<(i64, i64), FinanceError> {
    crate::procurement::scorecard::month_bounds(month).ok_or_else(|| FinanceError::Refused(format!("{:?} is not a month YYYY-MM", month.chars().take(20).collect::<String>())))
}

/// The month after `month` (`YYYY-MM`).
fn next_month(month: &str) -> Option<String> {
    let (y, m) = month.split_once('-')?;
    let (y, m): (i32, u32) = (y.parse().ok()?, m.parse().ok()?);
    Some(if m == 12 { format!("{:04}-01", y + 1) } else { format!("{y:04}-{:02}", m + 1) })
}

/// Asks the ledger to close `month`: it must be over, and the month after the last one closed
/// (the first close may be any month: everything before it closes with it).
pub fn close(tx: &mut dyn Tx, month: &str, by: &str, now_ms: i64) -> Result<Period, FinanceError> {
    let (start_ms, end_ms) = bounds(month)?;
    if end_ms > now_ms {
        return Err(FinanceError::Refused(format!("{month} is not over yet")));
    }
    // One close at a time, across processes: the order of months is checked under the lock.
    crate::db::doc::lock(tx, "finance.periods")?;
    if load(tx, month)?.is_some() {
        return Err(FinanceError::Closed(format!("{month} is closed already")));
    }
    let last = tx.query_opt("SELECT month FROM fin_period ORDER BY month DESC LIMIT 1", &[])?;
    if let Some(last) = last.map(|r| r.text(0)).transpose()? {
        if next_month(&last).as_deref() != Some(month) {
            return Err(FinanceError::Refused(format!("the books are closed up to {last}: the next month to close is {}", next_month(&last).unwrap_or_default())));
        }
    } else if let Some(first) = tx.query_one("SELECT MIN(at_ms) FROM gl_entry", &[])?.opt_int(0)?.filter(|first| *first >= end_ms) {
        // A first close before the books begin would leave every month since to close one by one.
        return Err(FinanceError::Refused(format!("the books begin on {}: close that month or a later one first", tote_shared::calendar::utc_day(first))));
    }
    tx.execute(
        "INSERT INTO fin_period (month, start_ms, end_ms, requested_ms, requested_by) VALUES (?1, ?2, ?3, ?4, ?5)",
        &params![month, start_ms, end_ms, now_ms, by],
    )?;
    journal::store::append(tx, &BusinessEvent::PeriodClosed { month: month.to_owned(), by: by.to_owned() }, now_ms)?;
    crate::audit::store::append(tx, now_ms, by, "period_close_requested", &format!("period:{month}"), &serde_json::json!({ "month": month }))?;
    load(tx, month)?.ok_or_else(|| FinanceError::Db(DbError::corrupt(format!("period {month} vanished"))))
}

const COLUMNS: &str = "SELECT month, start_ms, end_ms, requested_ms, requested_by, closed_ms, net_income FROM fin_period";

fn period(r: &crate::db::Row) -> Result<Period, DbError> {
    Ok(Period {
        month: r.text(0)?,
        start_ms: r.int(1)?,
        end_ms: r.int(2)?,
        requested_ms: r.int(3)?,
        requested_by: r.text(4)?,
        closed_ms: r.opt_int(5)?,
        net_income: r.opt_int(6)?,
    })
}

pub fn load(tx: &mut dyn Tx, month: &str) -> Result<Option<Period>, DbError> {
    tx.query_opt(&format!("{COLUMNS} WHERE month = ?1"), &params![month])?.map(|r| period(&r)).transpose()
}

/// Every month asked to close, newest first.
pub fn list(tx: &mut dyn Tx, limit: u32) -> Result<Vec<Period>, DbError> {
    tx.query(&format!("{COLUMNS} ORDER BY month DESC LIMIT ?1"), &params![limit])?.iter().map(period).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_follow_each_other_across_a_year() {
        assert_eq!(next_month("2026-11").as_deref(), Some("2026-12"));
        assert_eq!(next_month("2026-12").as_deref(), Some("2027-01"));
        assert!(bounds("2026-13").is_err());
        let (start, end) = bounds("2026-02").expect("month");
        assert_eq!((end - start) / 86_400_000, 28);
    }
}
