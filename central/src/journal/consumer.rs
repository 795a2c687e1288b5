//! Consumers inside central: each reads the numbered journal after its position and applies
//! events in batches, advancing its position in the same transaction — so an event is
//! applied exactly once across crashes (a batch either commits with its new position or
//! not at all).

use super::{store, JournalEntry};
use crate::db::{Database, DbError, DbResult, Tx};
use std::sync::Arc;

/// Most events one consumer transaction applies.
pub const BATCH: u32 = 500;

pub trait Consumer: Send + Sync + 'static {
    /// Stable name: the key of its position.
    fn name(&self) -> &'static str;
    /// Applies a batch of events, in order, inside the consumer's transaction.
    fn apply(&self, tx: &mut dyn Tx, entries: &[JournalEntry]) -> DbResult<()>;
}

/// Applies the next batch; returns how many events it applied (0: caught up).
pub async fn run_once(db: &Database, consumer: Arc<dyn Consumer>, now_ms: i64) -> Result<u32, DbError> {
    db.write(move |tx| -> DbResult<u32> {
        let position = store::lock_position(tx, consumer.name(), now_ms)?;
        let entries = store::read_after(tx, position, BATCH)?;
        let Some(last) = entries.last().map(|e| e.seq) else {
            return Ok(0);
        };
        consumer.apply(tx, &entries)?;
        store::set_position(tx, consumer.name(), last, now_ms)?;
        Ok(entries.len() as u32)
    })
    .await
}

/// Numbers what committed since the last run; returns how many.
pub async fn sequence_once(db: &Database, limit: u32) -> Result<u32, DbError> {
    db.write(move |tx| store::sequence(tx, limit)).await
}
