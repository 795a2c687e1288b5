//! The journal's tables: `journal` (append-only), `journal_head` (the last number given) and
//! `journal_consumer` (each consumer's position). Nothing else touches them.

use super::{BusinessEvent, JournalEntry};
use crate::db::{DbError, DbResult, Dialect, Tx};
use crate::params;

/// Appends `event` in the caller's transaction.
///
/// PostgreSQL: the row gets its number when the sequencer next runs after this transaction
/// committed (numbering here would make every writer wait on the head row). SQLite: the
/// single writer already orders every transaction, so the row is numbered here, at no cost
/// in concurrency, and never rewritten (a rolled-back job rolls its number back with it).
pub fn append(tx: &mut dyn Tx, event: &BusinessEvent, now_ms: i64) -> DbResult<()> {
    append_many(tx, std::slice::from_ref(event), now_ms)
}

/// Appends several events in one statement (see `append` for when they are numbered).
pub fn append_many(tx: &mut dyn Tx, events: &[BusinessEvent], now_ms: i64) -> DbResult<()> {
    let number_now = tx.dialect() == Dialect::Sqlite;
    for chunk in events.chunks(1000) {
        // Reserve the chunk's numbers with one statement: the head moves, the rows follow.
        let mut next = if number_now {
            let last = tx.query_one("UPDATE journal_head SET last_seq = last_seq + ?1 WHERE one = 1 RETURNING last_seq", &params![chunk.len()])?;
            last.int(0)? - chunk.len() as i64
        } else {
            0
        };
        let sql = format!("INSERT INTO journal (seq, at_ms, kind, subject, body) VALUES {}", crate::db::values_clause(chunk.len(), 5, 1));
        let mut values = Vec::with_capacity(chunk.len() * 5);
        for event in chunk {
            let body = serde_json::to_string(event).map_err(|e| DbError::corrupt(e.to_string()))?;
            let seq = number_now.then(|| {
                next += 1;
                next
            });
            values.extend(params![seq, now_ms, event.kind(), event.subject(), body]);
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
    // One statement for the whole batch: the next `limit` unnumbered rows in id order get
    // head + 1, head + 2, … (UPDATE … FROM and window functions: SQLite ≥ 3.33, PostgreSQL).
    let numbered = tx.execute(
        "UPDATE journal SET seq = next.seq
         FROM (SELECT id, ?1 + ROW_NUMBER() OVER (ORDER BY id) AS seq FROM journal WHERE seq IS NULL ORDER BY id LIMIT ?2) AS next
         WHERE journal.id = next.id",
        &params![head, limit],
    )?;
    if numbered > 0 {
        tx.execute("UPDATE journal_head SET last_seq = ?1 WHERE one = 1", &params![head + numbered as i64])?;
    }
    Ok(numbered as u32)
}

/// Numbered events after `after`, in order.
pub fn read_after(tx: &mut dyn Tx, after: u64, limit: u32) -> DbResult<Vec<JournalEntry>> {
    let rows = tx.query(
        "SELECT seq, at_ms, subject, body FROM journal WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        &params![after, limit],
    )?;
    entries(&rows)
}

/// One subject's numbered events after `after`, in order (index `journal (subject, seq)`).
pub fn read_subject_after(tx: &mut dyn Tx, subject: &str, after: u64, limit: u32) -> DbResult<Vec<JournalEntry>> {
    let rows = tx.query(
        "SELECT seq, at_ms, subject, body FROM journal WHERE subject = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
        &params![subject, after, limit],
    )?;
    entries(&rows)
}

fn entries(rows: &[crate::db::Row]) -> DbResult<Vec<JournalEntry>> {
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
