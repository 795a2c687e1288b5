//! A carrier's monthly statement reconciled against what we expected to pay, pure: every
//! parcel the carrier carried for us that month priced by the rate card at release, every
//! statement line read, and each difference listed by kind — nothing else.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// One reconciliation run of a carrier's statement for a month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StatementRun {
    pub id: u64,
    pub carrier: String,
    /// `YYYY-MM`, China time: parcels handed over in it.
    pub month: String,
    pub received_ms: i64,
    /// Statement lines read.
    pub lines: u64,
    /// Sum of the lines read, minor units.
    pub billed_total: i64,
    /// Sum of the quotes of our parcels that month, minor units.
    pub expected_total: i64,
    /// Rows that could not be read (listed in the answer to the upload).
    pub refused_rows: u64,
    pub differences: Vec<Difference>,
}

/// `YYYY-MM` → the first day of that month and of the next (as `BillDay`s).
pub fn month_bounds(month: &str) -> Option<(tote_shared::payment::bill::BillDay, tote_shared::payment::bill::BillDay)> {
    use tote_shared::payment::bill::BillDay;
    let first = BillDay::parse(&format!("{month}-01")).filter(|_| month.len() == 7)?;
    let (year, next) = if first.month() == 12 { (first.year().checked_add(1)?, 1) } else { (first.year(), first.month() + 1) };
    Some((first, BillDay::new(year, next, 1)?))
}

/// What we expect to pay for one parcel (from the choice made at release).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub waybill: String,
    pub order_id: u64,
    /// None: the parcel left with another carrier than the one chosen, so nothing was quoted.
    pub chargeable_g: Option<u64>,
    pub total: Option<i64>,
}

/// One statement line as the carrier bills it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Billed {
    pub line: u64,
    pub waybill: String,
    pub weight_g: u64,
    pub freight: i64,
    pub total: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DifferenceKind {
    /// We shipped it with this carrier that month; the statement does not bill it.
    NotBilled,
    /// Billed, but not a parcel of ours with this carrier.
    NotOurs,
    /// Billed more than once.
    Duplicate,
    /// The billed weight is not the weight the rate card charged.
    Weight,
    /// The billed total is not what the rate card quoted.
    Amount,
    /// Billed for a parcel we never had a quote for (it left with another carrier than chosen).
    Unquoted,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Difference {
    pub kind: DifferenceKind,
    pub waybill: String,
    /// Statement line, when the difference is on one.
    pub line: Option<u64>,
    pub expected: Option<i64>,
    pub billed: Option<i64>,
}

/// Every difference between what we expected and what is billed, ordered by waybill and kind.
/// `month` holds our parcels handed over in the statement's month (each must be billed);
/// `elsewhere` those of other months the statement bills (late billing is not a difference).
pub fn reconcile(month: &[Expected], elsewhere: &[Expected], billed: &[Billed]) -> Vec<Difference> {
    let ours: HashMap<&str, &Expected> = month.iter().chain(elsewhere).map(|e| (e.waybill.as_str(), e)).collect();
    let mut seen: HashMap<&str, u64> = HashMap::new();
    let mut out = Vec::new();
    for b in billed {
        let diff = |kind, expected, billed| Difference { kind, waybill: b.waybill.clone(), line: Some(b.line), expected, billed };
        if seen.insert(&b.waybill, b.line).is_some() {
            out.push(diff(DifferenceKind::Duplicate, None, Some(b.total)));
            continue;
        }
        let Some(e) = ours.get(b.waybill.as_str()) else {
            out.push(diff(DifferenceKind::NotOurs, None, Some(b.total)));
            continue;
        };
        match (e.chargeable_g, e.total) {
            (Some(weight), Some(total)) => {
                if weight != b.weight_g {
                    out.push(diff(DifferenceKind::Weight, Some(weight as i64), Some(b.weight_g as i64)));
                }
                if total != b.total {
                    out.push(diff(DifferenceKind::Amount, Some(total), Some(b.total)));
                }
            }
            _ => out.push(diff(DifferenceKind::Unquoted, None, Some(b.total))),
        }
    }
    for e in month {
        if !seen.contains_key(e.waybill.as_str()) {
            out.push(Difference { kind: DifferenceKind::NotBilled, waybill: e.waybill.clone(), line: None, expected: e.total, billed: None });
        }
    }
    out.sort_by(|a, b| (&a.waybill, a.kind, a.line).cmp(&(&b.waybill, b.kind, b.line)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expected(waybill: &str, weight: u64, total: i64) -> Expected {
        Expected { waybill: waybill.into(), order_id: 1, chargeable_g: Some(weight), total: Some(total) }
    }

    fn billed(line: u64, waybill: &str, weight_g: u64, total: i64) -> Billed {
        Billed { line, waybill: waybill.into(), weight_g, freight: total, total }
    }

    #[test]
    fn every_planted_difference_is_found_and_nothing_else() {
        let ours = vec![
            expected("A", 1_000, 1_650),
            expected("B", 2_000, 1_400),
            expected("C", 1_000, 1_200),
            Expected { waybill: "D".into(), order_id: 4, chargeable_g: None, total: None },
        ];
        let statement = vec![billed(2, "A", 1_000, 1_650), billed(3, "B", 2_500, 1_600), billed(4, "X", 500, 800), billed(5, "A", 1_000, 1_650), billed(6, "D", 900, 900)];
        let found: Vec<(String, DifferenceKind, Option<u64>)> = reconcile(&ours, &[], &statement).into_iter().map(|d| (d.waybill, d.kind, d.line)).collect();
        use DifferenceKind::*;
        let planted = [("A", Duplicate, Some(5)), ("B", Weight, Some(3)), ("B", Amount, Some(3)), ("C", NotBilled, None), ("D", Unquoted, Some(6)), ("X", NotOurs, Some(4))];
        assert_eq!(found, planted.map(|(w, k, l)| (w.to_owned(), k, l)).to_vec());
        assert!(reconcile(&ours[..1], &[], &statement[..1]).is_empty(), "a statement that matches has no difference");
        let late = expected("L", 1_000, 1_200);
        assert!(reconcile(&[], std::slice::from_ref(&late), &[billed(2, "L", 1_000, 1_200)]).is_empty(), "billed a month late: ours, not a difference");
        assert_eq!(reconcile(&[], &[late], &[billed(2, "L", 1_000, 1_300)])[0].kind, Amount);
    }

    #[test]
    fn months_run_from_their_first_day_to_the_next_month() {
        let (from, to) = month_bounds("2026-12").expect("a month");
        assert_eq!((from.year(), from.month(), to.year(), to.month()), (2026, 12, 2027, 1));
        assert!(month_bounds("2026-13").is_none() && month_bounds("2026-1").is_none() && month_bounds("2026-12-01").is_none());
    }
}
