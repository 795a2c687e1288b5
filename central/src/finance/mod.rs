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

pub mod books;
pub mod export;
pub mod http;
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
        let touched = touched(entries);
        let mut state = store::load(tx, &touched)?;
        let posted: Vec<books::Entry> = entries.iter().flat_map(|e| books::post(&mut state, e)).collect();
        // `save` rewrites the layers of every SKU in the state: a rule that reached a SKU whose
        // layers `touched` did not load would overwrite them with only its own.
        if let Some((sku, warehouse)) = state.layers.keys().find(|(sku, _)| !touched.layers.iter().any(|(loaded, _)| loaded == sku)) {
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
        match &entry.event {
            BusinessEvent::SkuCreated { sku, .. } => {
                t.skus.insert(sku.clone());
            }
            BusinessEvent::StockReceived { sku, warehouse, .. } | BusinessEvent::StockAdjusted { sku, warehouse, .. } => {
                t.skus.insert(sku.clone());
                t.layers.insert((sku.clone(), warehouse.clone()));
            }
            BusinessEvent::OrderShipped { order_id, warehouse, lines, .. } => {
                t.orders.insert(*order_id);
                for line in lines {
                    t.skus.insert(line.sku.clone());
                    if let Some(w) = warehouse {
                        t.layers.insert((line.sku.clone(), w.clone()));
                    }
                }
            }
            BusinessEvent::PaymentSucceeded { order_id, .. }
            | BusinessEvent::OrderPaid { order_id, .. }
            | BusinessEvent::RefundSucceeded { order_id, .. }
            | BusinessEvent::OrderPartsCancelled { order_id, .. } => {
                t.orders.insert(*order_id);
            }
            BusinessEvent::ReturnReceived { warehouse, lines, .. } => {
                for line in lines {
                    t.skus.insert(line.sku.clone());
                    t.layers.insert((line.sku.clone(), warehouse.clone()));
                }
            }
            _ => {}
        }
    }
    t
}
