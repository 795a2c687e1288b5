//! The cash-flow forecast: the bank balance week by week over the coming weeks, from what is
//! already owed either way and what the sales forecast expects. Money in: what payment
//! channels and marketplaces hold (settled after the settlement lag) and forecast sales (the
//! procurement forecasting engine on the company's daily sales, settled after the lag). Money
//! out: approved supplier invoices on their due dates (approval + the supplier's payment
//! terms), goods received and not yet invoiced and goods still to come on open purchase orders
//! (at their order cost and VAT, due their terms after arrival), and what carriers are owed
//! (their monthly statement, paid the month after).
//!
//! `project` is pure; `gather` reads the inputs in one transaction.

use crate::db::{DbResult, Tx};
use crate::params;
use serde::Serialize;
use std::collections::BTreeMap;
use tote_shared::calendar::{utc_day, DAY_MS};

/// Days a payment channel takes to pay what it holds into the bank (T+1).
pub const SETTLEMENT_LAG_DAYS: i64 = 1;
/// Days after which a carrier's month is paid.
pub const CARRIER_TERMS_DAYS: i64 = 30;
/// VAT purchase orders will be invoiced with, on top of their costs (basis points).
pub const PURCHASE_VAT_BP: i64 = 1300;
/// Days of sales history the sales forecast learns from.
pub const SALES_HISTORY_DAYS: i64 = 112;

/// One expected movement of cash: positive in, negative out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    pub due_ms: i64,
    pub amount: i64,
    pub kind: &'static str,
}

/// One week of the forecast, in minor units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Week {
    /// The week's first day (UTC).
    pub from: String,
    pub inflows: i64,
    pub outflows: i64,
    pub closing: i64,
    /// Per kind of flow (channel_settlement, forecast_sales, supplier_invoice, goods_received,
    /// purchase_order, carrier): what it moves this week.
    pub by_kind: BTreeMap<String, i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CashForecast {
    /// The bank balance now.
    pub opening: i64,
    pub weeks: Vec<Week>,
    /// The lowest closing balance of any week, and the week it falls in.
    pub lowest: i64,
    pub lowest_week: String,
    /// The bank balance over the average daily outflow of the horizon (absent: no outflow).
    pub days_of_cash: Option<f64>,
    /// The method the sales forecast chose (procurement's engine) and its expected daily sales.
    pub sales_method: String,
    pub sales_daily: i64,
}

/// Buckets flows into `weeks` weeks from `now_ms`: anything due before now falls in the first.
pub fn project(opening: i64, now_ms: i64, weeks: usize, flows: &[Flow], sales: (String, i64)) -> CashForecast {
    let start_day = now_ms.div_euclid(DAY_MS);
    let mut out: Vec<Week> = (0..weeks)
        .map(|w| Week { from: utc_day((start_day + 7 * w as i64) * DAY_MS), inflows: 0, outflows: 0, closing: 0, by_kind: BTreeMap::new() })
        .collect();
    for f in flows {
        let week = ((f.due_ms.div_euclid(DAY_MS) - start_day).max(0) / 7) as usize;
        let Some(w) = out.get_mut(week) else { continue };
        if f.amount >= 0 {
            w.inflows += f.amount;
        } else {
            w.outflows -= f.amount;
        }
        *w.by_kind.entry(f.kind.to_owned()).or_default() += f.amount;
    }
    let mut balance = opening;
    let (mut lowest, mut lowest_week) = (opening, out.first().map(|w| w.from.clone()).unwrap_or_default());
    for w in &mut out {
        balance += w.inflows - w.outflows;
        w.closing = balance;
        if balance < lowest {
            (lowest, lowest_week) = (balance, w.from.clone());
        }
    }
    let outflow: i64 = out.iter().map(|w| w.outflows).sum();
    let days = (weeks as i64 * 7).max(1);
    let days_of_cash = (outflow > 0).then(|| opening as f64 / (outflow as f64 / days as f64));
    CashForecast { opening, weeks: out, lowest, lowest_week, days_of_cash, sales_method: sales.0, sales_daily: sales.1 }
}

/// The bank balance and every flow the books and the open purchase orders expect, with the
/// sales forecast over `weeks` weeks.
pub fn gather(tx: &mut dyn Tx, now_ms: i64, weeks: usize) -> DbResult<(i64, Vec<Flow>, (String, i64))> {
    let balances = super::store::trial_balance(tx)?;
    let balance = |prefix: &str| super::statements::sum(&balances, prefix);
    let opening = balance(super::books::account::BANK);
    let mut flows = vec![
        Flow { due_ms: now_ms + SETTLEMENT_LAG_DAYS * DAY_MS, amount: balance("Assets:Clearing"), kind: "channel_settlement" },
        Flow { due_ms: now_ms + CARRIER_TERMS_DAYS * DAY_MS, amount: balance("Liabilities:Payable:Carrier"), kind: "carrier" },
    ];
    for c in crate::procurement::store::commitments(tx)? {
        let terms = i64::from(c.terms_days) * DAY_MS;
        let with_vat = |v: i64| v + v * PURCHASE_VAT_BP / 10_000;
        if c.invoiced_unpaid > 0 {
            flows.push(Flow { due_ms: c.decided_ms.unwrap_or(now_ms) + terms, amount: -c.invoiced_unpaid, kind: "supplier_invoice" });
        }
        if c.received_not_invoiced > 0 {
            flows.push(Flow { due_ms: now_ms + terms, amount: -with_vat(c.received_not_invoiced), kind: "goods_received" });
        }
        if c.to_come > 0 {
            flows.push(Flow { due_ms: c.promised_ms.unwrap_or(now_ms).max(now_ms) + terms, amount: -with_vat(c.to_come), kind: "purchase_order" });
        }
    }
    // Sales: the company's daily takings (revenue and the VAT on it), forecast by the engine
    // procurement uses per SKU, each day's settled after the lag.
    let today = now_ms.div_euclid(DAY_MS);
    let rows = tx.query(
        "SELECT day, CAST(SUM(revenue) AS BIGINT) FROM fin_profit WHERE day >= ?1 AND day < ?2 AND channel <> '' GROUP BY day",
        &params![today - SALES_HISTORY_DAYS, today],
    )?;
    let mut history = vec![0.0; SALES_HISTORY_DAYS as usize];
    for r in &rows {
        let age = today - r.int(0)?;
        if (1..=SALES_HISTORY_DAYS).contains(&age) {
            let gross = r.int(1)? + r.int(1)? * i64::from(super::books::OUTPUT_VAT_BP) / 10_000;
            history[(SALES_HISTORY_DAYS - age) as usize] = gross as f64;
        }
    }
    let horizon = weeks * 7;
    let (fit, path) = crate::procurement::forecast::choose(&history, horizon);
    for (d, amount) in path.iter().enumerate() {
        let amount = amount.max(0.0).round() as i64;
        if amount > 0 {
            flows.push(Flow { due_ms: (today + d as i64 + SETTLEMENT_LAG_DAYS) * DAY_MS, amount, kind: "forecast_sales" });
        }
    }
    Ok((opening, flows, (format!("{:?}", fit.method), fit.daily.round() as i64)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_796_169_600_000; // a Monday, 00:00 UTC

    #[test]
    fn flows_fall_in_their_weeks_and_the_lowest_week_shows() {
        let flows = [
            Flow { due_ms: NOW - DAY_MS, amount: -5_000, kind: "supplier_invoice" }, // overdue: week 1
            Flow { due_ms: NOW + DAY_MS, amount: 2_000, kind: "channel_settlement" },
            Flow { due_ms: NOW + 8 * DAY_MS, amount: -9_000, kind: "purchase_order" },
            Flow { due_ms: NOW + 15 * DAY_MS, amount: 4_000, kind: "forecast_sales" },
            Flow { due_ms: NOW + 99 * DAY_MS, amount: -1, kind: "carrier" }, // past the horizon
        ];
        let f = project(10_000, NOW, 3, &flows, ("Ses".into(), 0));
        let closing: Vec<i64> = f.weeks.iter().map(|w| w.closing).collect();
        assert_eq!(closing, vec![7_000, -2_000, 2_000]);
        assert_eq!((f.weeks[0].inflows, f.weeks[0].outflows), (2_000, 5_000));
        assert_eq!((f.lowest, f.lowest_week.as_str()), (-2_000, f.weeks[1].from.as_str()));
        assert_eq!(f.weeks[1].by_kind["purchase_order"], -9_000);
        assert_eq!(f.days_of_cash, Some(10_000.0 / (14_000.0 / 21.0)));
    }
}
