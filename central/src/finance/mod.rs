//! Finance: an append-only double-entry general ledger posted from the business-event journal.
//! The `ledger` consumer posts each batch of events in the transaction that advances its
//! position, so every event is posted exactly once; posting the journal from zero into an
//! empty ledger gives the same books (the scenario tests check it in memory).
//! `books` holds the posting rules and FIFO costing (pure), `store` the tables, `export` the
//! books in beancount's format (FIFO lots as beancount lots, so beancount books the same cost
//! of goods sold independently), `http` the trial balance and the export.
//!
//! What it posts today: receipts (inventory against goods received not invoiced, at the SKU's
//! catalog cost — a standard cost until purchase orders bring prices; a SKU the journal never
//! created is received at zero), count and damage adjustments, channel and manual payments (into gateway clearing,
//! against customer advances), shipments (revenue and output VAT out of the advances; cost of
//! goods sold FIFO), refunds (advances before shipment, sales returns and VAT after), returns
//! (passed units back into stock at cost, failed ones written down), freight.

pub mod alerts;
pub mod books;
pub mod cashflow;
pub mod costing;
pub mod export;
pub mod http;
pub mod periods;
pub mod statements;
pub mod store;

use crate::db::{DbError, DbResult, Tx};
use crate::journal::consumer::Consumer;
use crate::journal::{BusinessEvent, JournalEntry};
use store::Touched;

pub struct LedgerConsumer;

impl Consumer for LedgerConsumer {
    fn name(&self) -> &'static str {
        "ledger"
    }

    /// Loads the costs, layers and order facts the batch touches, posts every event in order
    /// over them, then appends the entries and writes the state back — one transaction.
    fn apply(&self, tx: &mut dyn Tx, entries: &[JournalEntry]) -> DbResult<()> {
        // A period close reads the balances posted before it: what precedes it in the batch
        // is posted and saved first.
        let mut start = 0;
        for (i, entry) in entries.iter().enumerate() {
            if i > start && matches!(entry.event, BusinessEvent::PeriodClosed { .. }) {
                apply_segment(tx, &entries[start..i])?;
                start = i;
            }
        }
        apply_segment(tx, &entries[start..])
    }
}

fn apply_segment(tx: &mut dyn Tx, entries: &[JournalEntry]) -> DbResult<()> {
    {
        let touched = touched(entries);
        let mut state = store::load(tx, &touched)?;
        if let Some(BusinessEvent::PeriodClosed { month, .. }) = entries.first().map(|e| &e.event) {
            if let Some((_, end_ms)) = crate::procurement::scorecard::month_bounds(month) {
                state.closing = Some(store::closing_balances(tx, end_ms)?);
            }
        }
        let back_dated = books::back_dated(&state, entries);
        store::load_history(tx, &mut state, &back_dated)?;
        let posted: Vec<books::Entry> = entries.iter().flat_map(|e| books::post(&mut state, e)).collect();
        // `save` rewrites the layers of every SKU in the state: a rule that reached a SKU whose
        // layers `touched` did not load would overwrite them with only its own.
        if let Some((sku, warehouse)) = state.piles.keys().find(|(sku, _)| !touched.layers.iter().any(|(loaded, _)| loaded == sku)) {
            return Err(DbError::corrupt(format!("a posting rule changed the layers of {sku} at {warehouse} without loading them")));
        }
        if let Some(unbalanced) = posted.iter().find(|e| e.balance() != 0) {
            // A rule bug: refuse the batch (the consumer retries and the books stay whole).
            return Err(DbError::corrupt(format!("entry for event {} does not balance by {}", unbalanced.event_seq, unbalanced.balance())));
        }
        store::append(tx, &posted)?;
        store::save(tx, &state)
    }
}

/// What the posting rules will read or change for these events.
fn touched(entries: &[JournalEntry]) -> Touched {
    let mut t = Touched::default();
    for entry in entries {
        for (sku, warehouse) in books::stock_pairs(&entry.event) {
            t.skus.insert(sku.clone());
            t.layers.insert((sku, warehouse));
        }
        match &entry.event {
            BusinessEvent::SkuCreated { sku, .. } => {
                t.skus.insert(sku.clone());
            }
            BusinessEvent::OrderShipped { order_id, lines, .. } => {
                t.orders.insert(*order_id);
                t.skus.extend(lines.iter().map(|l| l.sku.clone()));
            }
            BusinessEvent::ReturnReceived { order_id, lines, .. } => {
                t.orders.insert(*order_id);
                t.skus.extend(lines.iter().map(|r| r.sku.clone()));
            }
            BusinessEvent::PaymentSucceeded { order_id, .. }
            | BusinessEvent::OrderCreated { order_id, .. }
            | BusinessEvent::CouponRedeemed { order_id, .. }
            | BusinessEvent::OrderPaid { order_id, .. }
            | BusinessEvent::RefundSucceeded { order_id, .. }
            | BusinessEvent::OrderPartsCancelled { order_id, .. } => {
                t.orders.insert(*order_id);
            }
            _ => {}
        }
    }
    t
}

/// Posts journal entries into an empty ledger, in memory, as the ledger consumer does (period
/// closes and back-dated replays included): what the books must come to. The scenario tests
/// compare it with the books central kept; the bench measures posting with it.
pub fn replay(method: costing::Method, entries: &[JournalEntry]) -> Vec<books::Entry> {
    let mut state = books::State { method, ..books::State::default() };
    let mut posted: Vec<books::Entry> = Vec::new();
    for entry in entries {
        for pair in books::stock_pairs(&entry.event) {
            state.piles.entry(pair).or_default().history.get_or_insert_with(Vec::new);
        }
        if let BusinessEvent::PeriodClosed { month, .. } = &entry.event {
            if let Some((_, end_ms)) = crate::procurement::scorecard::month_bounds(month) {
                let mut sums: std::collections::BTreeMap<String, i64> = std::collections::BTreeMap::new();
                for line in posted.iter().filter(|e| e.at_ms < end_ms).flat_map(|e| &e.lines) {
                    if line.account.starts_with("Income:") || line.account.starts_with("Expenses:") {
                        *sums.entry(line.account.clone()).or_default() += line.amount;
                    }
                }
                state.closing = Some(sums.into_iter().collect());
            }
        }
        posted.extend(books::post(&mut state, entry));
        state.moves.clear();
    }
    posted
}

/// Keeps the company's costing method (`[finance] costing`): refuses to start when the books
/// were costed by another.
pub async fn pin_costing(db: &crate::db::Database, method: costing::Method, now_ms: i64) -> anyhow::Result<()> {
    match db.write(move |tx| store::pin_costing(tx, method, now_ms)).await? {
        Ok(()) => Ok(()),
        Err(chosen) => anyhow::bail!(
            "finance.costing is {} but the books are costed by {}: changing the method needs a revaluation of the stock, not a setting",
            method.as_str(),
            chosen.as_str()
        ),
    }
}
