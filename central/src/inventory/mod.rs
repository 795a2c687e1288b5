//! Inventory: central's view of every SKU in every warehouse (on hand, locked, committed,
//! sellable) and the append-only ledger that explains each change.
//!
//! The rules are `tote_shared::stock::StockLevel`'s (lock → commit → release → ship →
//! adjust, each all-or-nothing). `change_all` applies several of them as one decision:
//! every row is locked and every rule checked before anything is written, so a refused
//! change writes nothing — on PostgreSQL without a SAVEPOINT.

pub mod health;
pub mod http;
pub mod store;

use crate::db::DbError;
use serde::{Deserialize, Serialize};
use tote_shared::stock::{Movement, StockError, StockField, StockLevel};
use tote_shared::{Sku, WarehouseCode};

/// Why and what, as the ledger records it.
#[derive(Debug, Clone, Copy)]
pub struct Cause<'a> {
    /// `order_created`, `order_paid`, `edge_receipt`, …
    pub cause: &'a str,
    /// `order:42`, `order:42 edge:SH-01#17`, …
    pub reference: &'a str,
    pub at_ms: i64,
}

/// One of `StockLevel`'s rules, with the quantity it takes.
pub type Rule = fn(&mut StockLevel, i64) -> Result<Vec<Movement>, StockError>;

/// One rule to apply to one (SKU, warehouse).
#[derive(Debug, Clone)]
pub struct Change<'a> {
    pub sku: &'a Sku,
    pub warehouse: &'a WarehouseCode,
    pub rule: Rule,
    pub qty: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StockRow {
    pub warehouse: WarehouseCode,
    #[serde(flatten)]
    pub level: StockLevel,
    pub sellable: i64,
    /// Units customers are sending back here (approved returns not yet received).
    pub returning: i64,
    /// Units held here and never sold: returns that failed QC, and supplier deliveries that
    /// failed QC at receiving (going back to the supplier).
    pub damaged: i64,
    /// Units on their way here from suppliers (on an ASN, not yet received).
    pub in_transit: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LedgerEntry {
    pub id: i64,
    pub at_ms: i64,
    pub sku: Sku,
    pub warehouse: WarehouseCode,
    pub field: StockField,
    pub delta: i64,
    pub balance_after: i64,
    /// Why: `order_created`, `order_paid`, `edge_receipt`, `edge_shipment` …
    pub cause: String,
    /// What: `order:42`, `edge:SH-01#17` …
    pub reference: String,
}

#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// 409: a stock rule refused the change (not enough sellable, a counter would go negative).
    #[error("stock rule broken for {sku} at {warehouse}: {rule}")]
    Rule { sku: Sku, warehouse: WarehouseCode, rule: StockError },
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Applies `changes` in order to `levels` (the rows' current values, same order) in memory
/// and returns, per change, the level right after it and the counters it moved. Pure: the
/// first refusal is returned and nothing is meant to be written.
pub fn decide(changes: &[Change<'_>], levels: &[StockLevel]) -> Result<Vec<(StockLevel, Vec<Movement>)>, InventoryError> {
    let mut current = levels.to_vec();
    let mut out = Vec::with_capacity(changes.len());
    for (i, change) in changes.iter().enumerate() {
        // A (SKU, warehouse) named twice sees the earlier change's result.
        let first = changes[..i].iter().position(|c| c.sku == change.sku && c.warehouse == change.warehouse).unwrap_or(i);
        let movements = (change.rule)(&mut current[first], change.qty)
            .map_err(|rule| InventoryError::Rule { sku: change.sku.clone(), warehouse: change.warehouse.clone(), rule })?;
        out.push((current[first], movements));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sku() -> Sku {
        Sku::parse("PEG39-M-WHT-42").expect("sku")
    }

    #[test]
    fn a_refused_second_change_refuses_the_whole_decision() {
        let (sku, wh) = (sku(), WarehouseCode::parse("SH-01").expect("code"));
        let changes = [
            Change { sku: &sku, warehouse: &wh, rule: StockLevel::lock, qty: 2 },
            Change { sku: &sku, warehouse: &wh, rule: StockLevel::lock, qty: 2 },
        ];
        let levels = [StockLevel { on_hand: 3, ..Default::default() }; 2];
        assert!(decide(&changes, &levels).is_err(), "the second lock sees the first");
        let levels = [StockLevel { on_hand: 4, ..Default::default() }; 2];
        let decided = decide(&changes, &levels).expect("both fit");
        assert_eq!((decided[0].0.locked, decided[1].0.locked), (2, 4));
    }
}
