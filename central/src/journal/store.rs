//! The journal's tables: `journal` (append-only), `journal_head` (the last number given) and
//! `journal_consumer` (each consumer's position). Nothing else touches them.

use super::{BusinessEvent, JournalEntry};
use crate::db::{DbError, DbResult, Tx};
use crate::params;

/// Appends `event` in the caller's transaction. It gets its number when the sequencer next
/// runs after this transaction committed.
pub fn append(tx: &mut dyn Tx, event: &BusinessEvent, now_ms: i64) -> DbResult<()> {
    let body = serde_json::to_string(event).map_err(|e| DbError::corrupt(e.to_string()))?;
    tx.execute(
        "INSERT INTO journal (at_ms, kind, subject, body) VALUES (?1, ?2, ?3, ?4)",
        &params![now_ms, event.kind(), event.subject(), body],
    )?;
    Ok(())
}

/// Appends several events in one statement.
pub fn append_many(tx: &mut dyn Tx, events: &[BusinessEvent], now_ms: i64) -> DbResult<()> {
    for chunk in events.chunks(1000) {
        let sql = format!("INSERT INTO journal (at_ms, kind, subject, body) VALUES {}", crate::db::values_clause(chunk.len(), 4, 1));
        let mut values = Vec::with_capacity(chunk.len() * 4);
        for event in chunk {
            let body = serde_json::to_string(event).map_err(|e| DbError::corrupt(e.to_string()))?;
            values.extend(params![now_ms, event.kind(), event.subject(), body]);
        }
        tx.execute(&sql, &values)?;
    }
    Ok(())
}

/// Numbers up to `limit` committed, unnumbered events, continuing from the head without a
/// gap. The head row is locked first, so two sequencers (two central processes) take turns.
/// Returns how many it numbered.
pub fn sequence(tx: &mut dyn Tx, limit: u32) -> DbResult<u32> {
    let head = tx.query_one("SELECT last_seq FROM journal_head WHERE one = 1 FOR UPDATE", &[])?.int(0)?;
    let ids = tx.query("SELECT id FROM journal WHERE seq IS NULL ORDER BY id LIMIT ?1", &params![limit])?;
    let mut next = head;
    for row in &ids {
        next += 1;
        tx.execute("UPDATE journal SET seq = ?2 WHERE id = ?1", &params![row.int(0)?, next])?;
    }
    if next != head {
        tx.execute("UPDATE journal_head SET last_seq = ?1 WHERE one = 1", &params![next])?;
    }
    Ok(ids.len() as u32)
}

/// Numbered events after `after`, in order.
pub fn read_after(tx: &mut dyn Tx, after: u64, limit: u32) -> DbResult<Vec<JournalEntry>> {
    let rows = tx.query(
        "SELECT seq, at_ms, subject, body FROM journal WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        &params![after, limit],
    )?;
    rows.iter()
        .map(|r| {
            let body = r.text(3)?;
            let event = serde_json::from_str(&body).map_err(|e| DbError::corrupt(format!("journal event: {e}")))?;
            Ok(JournalEntry { seq: r.uint(0)?, at_ms: r.int(1)?, subject: r.text(2)?, event })
        })
        .collect()
}

/// The last number given, and how many events wait for one.
pub fn head(tx: &mut dyn Tx) -> DbResult<(u64, u64)> {
    let last = tx.query_one("SELECT last_seq FROM journal_head WHERE one = 1", &[])?.uint(0)?;
    let waiting = tx.query_one("SELECT COUNT(*) FROM journal WHERE seq IS NULL", &[])?.uint(0)?;
    Ok((last, waiting))
}

/// The consumer's position, locked for the rest of the transaction (a consumer runs in one
/// place at a time); a new consumer starts at 0.
pub fn lock_position(tx: &mut dyn Tx, consumer: &str, now_ms: i64) -> DbResult<u64> {
    tx.execute(
        "INSERT INTO journal_consumer (name, position, updated_ms) VALUES (?1, 0, ?2) ON CONFLICT (name) DO NOTHING",
        &params![consumer, now_ms],
    )?;
    tx.query_one("SELECT position FROM journal_consumer WHERE name = ?1 FOR UPDATE", &params![consumer])?.uint(0)
}

pub fn set_position(tx: &mut dyn Tx, consumer: &str, position: u64, now_ms: i64) -> DbResult<()> {
    tx.execute(
        "UPDATE journal_consumer SET position = ?2, updated_ms = ?3 WHERE name = ?1",
        &params![consumer, position, now_ms],
    )?;
    Ok(())
}

/// Every consumer and its position.
pub fn positions(tx: &mut dyn Tx) -> DbResult<Vec<(String, u64)>> {
    let rows = tx.query("SELECT name, position FROM journal_consumer ORDER BY name", &[])?;
    rows.iter().map(|r| Ok((r.text(0)?, r.uint(1)?))).collect()
}
