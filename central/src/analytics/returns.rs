//! The `returns` read model: per UTC day, SKU, warehouse and reason, the units shipped, asked
//! back (every after-sales request), and passed and failed at the returns desk — built from the
//! journal, each event once. HQ reads return rates, QC failure rates and reasons by SKU, SPU,
//! warehouse or reason: the feed for buying and QC (and, once suppliers land, their scorecards).

use super::store;
use crate::db::{DbResult, Tx};
use crate::journal::consumer::Consumer;
use crate::journal::{BusinessEvent, JournalEntry};
use serde::Serialize;
use std::collections::BTreeMap;
use tote_shared::calendar::utc_day;
use tote_shared::Sku;

/// Most groups one report answers (the most asked-back first).
pub const MAX_ROWS: usize = 1_000;

/// What a day adds to one (SKU, warehouse, reason).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub shipped: i64,
    pub requested: i64,
    pub passed: i64,
    pub failed: i64,
}

/// (day, SKU, warehouse, reason); shipments carry the reason "".
pub type Key = (String, Sku, String, String);

/// The counts `entries` add, summed per key. Pure.
pub fn counts(entries: &[JournalEntry]) -> BTreeMap<Key, Counts> {
    let mut out: BTreeMap<Key, Counts> = BTreeMap::new();
    for entry in entries {
        let day = utc_day(entry.at_ms);
        let mut add = |sku: &Sku, warehouse: &str, reason: &str, f: &dyn Fn(&mut Counts)| {
            f(out.entry((day.clone(), sku.clone(), warehouse.to_owned(), reason.to_owned())).or_default())
        };
        match &entry.event {
            BusinessEvent::OrderShipped { warehouse: Some(w), lines, .. } => {
                for l in lines {
                    add(&l.sku, w.as_str(), "", &|c| c.shipped += l.qty.as_i64());
                }
            }
            BusinessEvent::AfterSalesRequested { warehouse, reason, lines, .. } => {
                let w = warehouse.as_ref().map_or("", |w| w.as_str());
                for l in lines {
                    add(&l.sku, w, reason, &|c| c.requested += l.qty.as_i64());
                }
            }
            BusinessEvent::ReturnReceived { warehouse, reason, lines, .. } => {
                for l in lines {
                    add(&l.sku, warehouse.as_str(), reason, &|c| {
                        c.passed += l.passed;
                        c.failed += l.failed;
                    });
                }
            }
            _ => {}
        }
    }
    out
}

pub struct ReturnsConsumer;

impl Consumer for ReturnsConsumer {
    fn name(&self) -> &'static str {
        "returns"
    }

    fn apply(&self, tx: &mut dyn Tx, entries: &[JournalEntry]) -> DbResult<()> {
        store::add_returns(tx, &counts(entries))
    }
}

/// How the report groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    Sku,
    Spu,
    Warehouse,
    Reason,
}

impl By {
    pub fn parse(raw: &str) -> Option<By> {
        Some(match raw {
            "sku" => By::Sku,
            "spu" => By::Spu,
            "warehouse" => By::Warehouse,
            "reason" => By::Reason,
            _ => return None,
        })
    }
}

/// One group of the report.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct ReturnRow {
    /// The SKU, SPU, warehouse or reason.
    pub key: String,
    pub shipped: i64,
    /// Units customers asked back (return, refund only, exchange).
    pub requested: i64,
    pub passed: i64,
    pub failed: i64,
    /// requested / shipped, in percent; none before anything shipped.
    pub return_rate_pct: Option<f64>,
    /// failed / (passed + failed), in percent; none before anything came back.
    pub qc_fail_pct: Option<f64>,
    /// Units asked back per reason.
    pub reasons: BTreeMap<String, i64>,
}

/// Folds (key, reason, counts) sums into the report's rows, most asked-back first. For `By::Reason`
/// every reason's rate is over all units shipped. Pure.
pub fn rows(by: By, sums: &[(String, String, Counts)]) -> Vec<ReturnRow> {
    let mut groups: BTreeMap<String, ReturnRow> = BTreeMap::new();
    let total_shipped: i64 = sums.iter().map(|(_, _, c)| c.shipped).sum();
    for (key, reason, c) in sums {
        if by == By::Reason && reason.is_empty() {
            continue;
        }
        let row = groups.entry(key.clone()).or_insert_with(|| ReturnRow {
            key: key.clone(),
            shipped: 0,
            requested: 0,
            passed: 0,
            failed: 0,
            return_rate_pct: None,
            qc_fail_pct: None,
            reasons: BTreeMap::new(),
        });
        row.shipped += c.shipped;
        row.requested += c.requested;
        row.passed += c.passed;
        row.failed += c.failed;
        if !reason.is_empty() && c.requested > 0 {
            *row.reasons.entry(reason.clone()).or_default() += c.requested;
        }
    }
    let mut out: Vec<ReturnRow> = groups.into_values().collect();
    for row in &mut out {
        if by == By::Reason {
            row.shipped = total_shipped;
        }
        row.return_rate_pct = (row.shipped > 0).then(|| round2(100.0 * row.requested as f64 / row.shipped as f64));
        let back = row.passed + row.failed;
        row.qc_fail_pct = (back > 0).then(|| round2(100.0 * row.failed as f64 / back as f64));
    }
    out.sort_by(|a, b| b.requested.cmp(&a.requested).then_with(|| a.key.cmp(&b.key)));
    out
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{EventLine, ReturnedUnits};
    use tote_shared::{Qty, WarehouseCode};

    fn at(seq: u64, event: BusinessEvent) -> JournalEntry {
        JournalEntry { seq, at_ms: 1_796_000_000_000, subject: String::new(), event }
    }

    fn sku(s: &str) -> Sku {
        Sku::parse(s).expect("sku")
    }

    #[test]
    fn shipments_requests_and_qc_results_add_up_per_sku_warehouse_and_reason() {
        let wh = WarehouseCode::parse("SH-01").expect("warehouse");
        let line = |s: &str, n| EventLine { sku: sku(s), qty: Qty::parse(n).expect("qty"), unit_price: 100, discount: 0 };
        let entries = [
            at(1, BusinessEvent::OrderShipped { order_id: 1, warehouse: Some(wh.clone()), carrier: "SF".into(), tracking_number: "SF1".into(), lines: vec![line("A-42", 4)] }),
            at(2, BusinessEvent::AfterSalesRequested { request_id: 1, order_id: 1, warehouse: Some(wh.clone()), kind: "return_refund".into(), reason: "size".into(), lines: vec![line("A-42", 2)], amount: 200 }),
            at(3, BusinessEvent::AfterSalesRequested { request_id: 2, order_id: 1, warehouse: Some(wh.clone()), kind: "return_refund".into(), reason: "defective".into(), lines: vec![line("A-42", 1)], amount: 100 }),
            at(4, BusinessEvent::ReturnReceived { request_id: 1, order_id: 1, warehouse: wh.clone(), reason: "size".into(), lines: vec![ReturnedUnits { sku: sku("A-42"), passed: 1, failed: 1, unit_price: 100 }] }),
        ];
        let sums: Vec<(String, String, Counts)> = counts(&entries).into_iter().map(|((_, s, _, reason), c)| (s.to_string(), reason, c)).collect();
        let by_sku = rows(By::Sku, &sums);
        assert_eq!(by_sku.len(), 1);
        let r = &by_sku[0];
        assert_eq!((r.shipped, r.requested, r.passed, r.failed), (4, 3, 1, 1));
        assert_eq!((r.return_rate_pct, r.qc_fail_pct), (Some(75.0), Some(50.0)));
        assert_eq!(r.reasons.get("size"), Some(&2));
        // Grouped by reason, the store's key is the reason itself.
        let by_reason_sums: Vec<(String, String, Counts)> = sums.iter().map(|(_, reason, c)| (reason.clone(), reason.clone(), *c)).collect();
        let by_reason: Vec<(String, Option<f64>)> = rows(By::Reason, &by_reason_sums).into_iter().map(|r| (r.key, r.return_rate_pct)).collect();
        assert_eq!(by_reason, vec![("size".to_owned(), Some(50.0)), ("defective".to_owned(), Some(25.0))]);
    }
}
