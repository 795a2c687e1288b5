//! Threshold alerts on the books: a category's gross margin over the last 30 days below the
//! policy's floor, stock turning over fewer times a year than it should (cost of goods sold
//! over 30 days, a year's pace, over the inventory's book value), and fewer days of cash than
//! wanted (the cash-flow forecast's). A scan (hourly, or `POST /finance/alerts/scan`) raises an
//! alert once when its condition starts and clears it when it ends, each with a journal event.
//!
//! `findings` is pure; `scan` reads the figures and writes the changes in one transaction.

use super::periods::FinanceError;
use crate::db::{doc, DbError, DbResult, Tx};
use crate::journal::{self, BusinessEvent};
use crate::params;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tote_shared::calendar::DAY_MS;

const POLICY_DOC: &str = "finance.alerts";
/// Days the margin and turnover are measured over.
pub const WINDOW_DAYS: i64 = 30;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertPolicy {
    /// A category's gross margin below this (basis points of revenue) raises an alert.
    pub min_gross_margin_bp: i64,
    /// Inventory turning over fewer times a year than this raises an alert.
    pub min_turnover_per_year: f64,
    /// The forecast's days of cash below this raises an alert.
    pub min_days_of_cash: f64,
}

impl Default for AlertPolicy {
    fn default() -> Self {
        AlertPolicy { min_gross_margin_bp: 1_500, min_turnover_per_year: 4.0, min_days_of_cash: 30.0 }
    }
}

impl AlertPolicy {
    pub fn check(&self) -> Result<(), FinanceError> {
        let ok = (-10_000..=10_000).contains(&self.min_gross_margin_bp)
            && (0.0..=365.0).contains(&self.min_turnover_per_year)
            && (0.0..=3_650.0).contains(&self.min_days_of_cash);
        if ok {
            Ok(())
        } else {
            Err(FinanceError::Refused("min_gross_margin_bp -10000..=10000, min_turnover_per_year 0..=365, min_days_of_cash 0..=3650".into()))
        }
    }
}

/// The figures a scan judges.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    /// Per category: revenue and cost of goods sold over the window.
    pub categories: BTreeMap<String, (i64, i64)>,
    /// Cost of goods sold over the window, and the inventory's book value now.
    pub cogs: i64,
    pub inventory: i64,
    pub days_of_cash: Option<f64>,
}

/// A condition that holds: `kind` (gross_margin, stock_turnover, days_of_cash), what it is
/// about (a category; empty for the company), its value and the threshold it crossed.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FinanceFinding {
    pub kind: String,
    pub key: String,
    pub value: f64,
    pub threshold: f64,
}

pub fn findings(f: &Figures, p: &AlertPolicy) -> Vec<FinanceFinding> {
    let mut out = Vec::new();
    for (category, (revenue, cogs)) in &f.categories {
        if *revenue > 0 {
            let margin = (i128::from(revenue - cogs) * 10_000 / i128::from(*revenue)) as f64;
            if margin < p.min_gross_margin_bp as f64 {
                out.push(FinanceFinding { kind: "gross_margin".into(), key: category.clone(), value: margin, threshold: p.min_gross_margin_bp as f64 });
            }
        }
    }
    if f.inventory > 0 {
        let turnover = f.cogs as f64 * (365.0 / WINDOW_DAYS as f64) / f.inventory as f64;
        if turnover < p.min_turnover_per_year {
            out.push(FinanceFinding { kind: "stock_turnover".into(), key: String::new(), value: (turnover * 100.0).round() / 100.0, threshold: p.min_turnover_per_year });
        }
    }
    if let Some(days) = f.days_of_cash.filter(|d| *d < p.min_days_of_cash) {
        out.push(FinanceFinding { kind: "days_of_cash".into(), key: String::new(), value: (days * 10.0).round() / 10.0, threshold: p.min_days_of_cash });
    }
    out
}

pub fn policy(tx: &mut dyn Tx) -> DbResult<AlertPolicy> {
    Ok(doc::load(tx, POLICY_DOC)?.unwrap_or_default())
}

pub fn set_policy(tx: &mut dyn Tx, p: &AlertPolicy, now_ms: i64) -> Result<AlertPolicy, FinanceError> {
    p.check()?;
    doc::save(tx, POLICY_DOC, p, now_ms)?;
    crate::audit::store::append(tx, now_ms, "admin", "finance_alert_policy_set", "finance:alerts", &serde_json::json!(p))?;
    Ok(*p)
}

/// An alert as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FinanceAlert {
    pub id: u64,
    pub kind: String,
    pub key: String,
    pub value: f64,
    pub threshold: f64,
    pub raised_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cleared_ms: Option<i64>,
}

/// What a scan changed.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct AlertScan {
    pub raised: Vec<FinanceFinding>,
    pub cleared: Vec<FinanceFinding>,
    pub open: u64,
}

fn figures(tx: &mut dyn Tx, now_ms: i64) -> DbResult<Figures> {
    let today = now_ms.div_euclid(DAY_MS);
    let mut f = Figures::default();
    let first = today - WINDOW_DAYS + 1;
    for row in super::store::profit(tx, super::store::ProfitBy::Category, first, today + 1, 10_000)?.0 {
        f.categories.insert(row.key, (row.revenue, row.cost_of_goods_sold));
    }
    let cogs = tx.query_one(
        "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM gl_day WHERE account = ?1 AND closing = 0 AND day >= ?2 AND day <= ?3",
        &params![super::books::account::COGS, first, today],
    )?;
    f.cogs = cogs.int(0)?;
    f.inventory = tx.query_one("SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM gl_day WHERE account LIKE 'Assets:Inventory:%'", &[])?.int(0)?;
    let (opening, flows, sales) = super::cashflow::gather(tx, now_ms, 13)?;
    f.days_of_cash = super::cashflow::project(opening, now_ms, 13, &flows, sales).days_of_cash;
    Ok(f)
}

/// Raises what newly holds and clears what no longer does, with their journal events. One scan
/// at a time (a document lock).
pub fn scan(tx: &mut dyn Tx, now_ms: i64) -> Result<AlertScan, FinanceError> {
    doc::lock(tx, "finance.alerts.scan")?;
    let p = policy(tx)?;
    let found = findings(&figures(tx, now_ms)?, &p);
    let open = open_alerts(tx)?;
    let mut outcome = AlertScan::default();
    for f in &found {
        match open.iter().find(|a| a.kind == f.kind && a.key == f.key) {
            Some(a) => {
                tx.execute("UPDATE fin_alert SET value = ?2, threshold = ?3 WHERE id = ?1", &params![a.id, f.value, f.threshold])?;
            }
            None => {
                tx.execute(
                    "INSERT INTO fin_alert (kind, key, value, threshold, raised_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                    &params![f.kind.as_str(), f.key.as_str(), f.value, f.threshold, now_ms],
                )?;
                let event = BusinessEvent::FinanceAlertRaised { alert: f.kind.clone(), key: f.key.clone(), value: f.value.to_string(), threshold: f.threshold.to_string() };
                journal::store::append(tx, &event, now_ms)?;
                outcome.raised.push(f.clone());
            }
        }
    }
    for a in open.iter().filter(|a| !found.iter().any(|f| f.kind == a.kind && f.key == a.key)) {
        tx.execute("UPDATE fin_alert SET cleared_ms = ?2 WHERE id = ?1", &params![a.id, now_ms])?;
        journal::store::append(tx, &BusinessEvent::FinanceAlertCleared { alert: a.kind.clone(), key: a.key.clone() }, now_ms)?;
        outcome.cleared.push(FinanceFinding { kind: a.kind.clone(), key: a.key.clone(), value: a.value, threshold: a.threshold });
    }
    outcome.open = found.len() as u64;
    Ok(outcome)
}

const COLUMNS: &str = "SELECT id, kind, key, value, threshold, raised_ms, cleared_ms FROM fin_alert";

fn alert(r: &crate::db::Row) -> DbResult<FinanceAlert> {
    Ok(FinanceAlert { id: r.uint(0)?, kind: r.text(1)?, key: r.text(2)?, value: r.real(3)?, threshold: r.real(4)?, raised_ms: r.int(5)?, cleared_ms: r.opt_int(6)? })
}

fn open_alerts(tx: &mut dyn Tx) -> DbResult<Vec<FinanceAlert>> {
    tx.query(&format!("{COLUMNS} WHERE cleared_ms IS NULL ORDER BY id"), &[])?.iter().map(alert).collect()
}

/// Alerts newest first: open ones only, or all.
pub fn list(tx: &mut dyn Tx, open_only: bool, limit: u32) -> Result<Vec<FinanceAlert>, DbError> {
    let filter = if open_only { "WHERE cleared_ms IS NULL" } else { "" };
    tx.query(&format!("{COLUMNS} {filter} ORDER BY id DESC LIMIT ?1"), &params![limit])?.iter().map(alert).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_threshold_raises_its_own_finding() {
        let figures = Figures {
            categories: BTreeMap::from([("Shoes".to_owned(), (100_000, 90_000)), ("Socks".to_owned(), (10_000, 4_000))]),
            cogs: 90_000,
            inventory: 2_000_000,
            days_of_cash: Some(12.0),
        };
        let found = findings(&figures, &AlertPolicy::default());
        let kinds: Vec<(&str, &str)> = found.iter().map(|f| (f.kind.as_str(), f.key.as_str())).collect();
        assert_eq!(kinds, vec![("gross_margin", "Shoes"), ("stock_turnover", ""), ("days_of_cash", "")]);
        assert_eq!(found[0].value, 1_000.0, "10 % margin under the 15 % floor");
        assert_eq!(found[1].value, 0.55, "90,000 a month is 1,095,000 a year over 2,000,000 of stock");
        let calm = Figures { inventory: 100_000, days_of_cash: Some(90.0), ..figures };
        let calm = Figures { categories: BTreeMap::from([("Socks".to_owned(), (10_000, 4_000))]), ..calm };
        assert!(findings(&calm, &AlertPolicy::default()).is_empty());
    }
}
