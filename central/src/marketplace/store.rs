//! The `mp_import`, `mp_cursor` and `mp_confirmation` tables.

use super::{ConfirmState, Confirmation, ImportRecord, ImportState};
use crate::db::{DbError, DbResult, Row, Tx};
use crate::params;

fn corrupt(e: impl std::fmt::Display) -> DbError {
    DbError::corrupt(e.to_string())
}

/// Claims (marketplace, external id) for an import; false when a row is there already (then
/// `load` it, locked). On PostgreSQL a second claimant waits here for the first to commit.
pub fn claim(tx: &mut dyn Tx, marketplace: &str, external_id: &str, hash: &str, paid: i64, ship_by_ms: Option<i64>, now_ms: i64) -> DbResult<bool> {
    let inserted = tx.execute(
        "INSERT INTO mp_import (marketplace, external_id, state, content_hash, paid_minor, ship_by_ms, imported_ms, updated_ms)
         VALUES (?1, ?2, 'pending', ?3, ?4, ?5, ?6, ?6) ON CONFLICT (marketplace, external_id) DO NOTHING",
        &params![marketplace, external_id, hash, paid, ship_by_ms, now_ms],
    )?;
    Ok(inserted == 1)
}

const IMPORT_COLUMNS: &str = "SELECT i.marketplace, i.external_id, i.state, i.order_id, i.reason, i.paid_minor, i.ship_by_ms, i.imported_ms, i.updated_ms,
        i.content_hash, c.state, c.carrier, c.tracking_number, c.attempts, c.last_error, c.confirmed_ms, i.closed_ms
    FROM mp_import i LEFT JOIN mp_confirmation c ON c.order_id = i.order_id";

fn import_row(r: &Row) -> DbResult<(ImportRecord, String)> {
    let state = r.text(2)?;
    let confirmation = match r.opt_text(10)? {
        None => None,
        Some(s) => Some(Confirmation {
            state: ConfirmState::parse(&s).ok_or_else(|| corrupt(format!("confirmation state {s}")))?,
            carrier: r.text(11)?,
            tracking_number: r.text(12)?,
            attempts: u32::try_from(r.int(13)?).map_err(corrupt)?,
            last_error: r.opt_text(14)?,
            confirmed_at_ms: r.opt_int(15)?,
        }),
    };
    let record = ImportRecord {
        marketplace: r.text(0)?,
        external_id: r.text(1)?,
        state: ImportState::parse(&state).ok_or_else(|| corrupt(format!("import state {state}")))?,
        order_id: r.opt_int(3)?.map(|v| v as u64),
        reason: r.text(4)?,
        paid_total: r.int(5)?,
        ship_by_ms: r.opt_int(6)?,
        imported_at_ms: r.int(7)?,
        updated_at_ms: r.int(8)?,
        closed_at_ms: r.opt_int(16)?,
        confirmation,
    };
    Ok((record, r.text(9)?))
}

/// The import and its content hash. `lock`: hold the row until the transaction ends.
pub fn load(tx: &mut dyn Tx, marketplace: &str, external_id: &str, lock: bool) -> DbResult<Option<(ImportRecord, String)>> {
    if lock {
        tx.query_opt("SELECT 1 FROM mp_import WHERE marketplace = ?1 AND external_id = ?2 FOR UPDATE", &params![marketplace, external_id])?;
    }
    let sql = format!("{IMPORT_COLUMNS} WHERE i.marketplace = ?1 AND i.external_id = ?2");
    tx.query_opt(&sql, &params![marketplace, external_id])?.as_ref().map(import_row).transpose()
}

/// The import an order came from, if it was imported.
pub fn for_order(tx: &mut dyn Tx, order_id: u64) -> DbResult<Option<ImportRecord>> {
    let sql = format!("{IMPORT_COLUMNS} WHERE i.order_id = ?1");
    Ok(tx.query_opt(&sql, &params![order_id])?.as_ref().map(import_row).transpose()?.map(|(r, _)| r))
}

/// Imports of a marketplace, optionally in one state, after (imported time, id) `after`.
pub fn list(tx: &mut dyn Tx, marketplace: &str, state: Option<ImportState>, after: &str, limit: u32) -> DbResult<Vec<ImportRecord>> {
    let sql = format!(
        "{IMPORT_COLUMNS} WHERE i.marketplace = ?1 AND (?2 = '' OR i.state = ?2) AND i.external_id > ?3 AND i.state <> 'pending'
         ORDER BY i.external_id LIMIT ?4"
    );
    let rows = tx.query(&sql, &params![marketplace, state.map_or("", ImportState::as_str), after, limit])?;
    rows.iter().map(|r| import_row(r).map(|(record, _)| record)).collect()
}

pub fn set_imported(tx: &mut dyn Tx, marketplace: &str, external_id: &str, order_id: u64, hash: &str, now_ms: i64) -> DbResult<()> {
    tx.execute(
        "UPDATE mp_import SET state = 'imported', order_id = ?3, reason = '', content_hash = ?4, updated_ms = ?5
         WHERE marketplace = ?1 AND external_id = ?2",
        &params![marketplace, external_id, order_id, hash, now_ms],
    )?;
    Ok(())
}

pub fn set_refused(tx: &mut dyn Tx, marketplace: &str, external_id: &str, reason: &str, hash: &str, paid: i64, now_ms: i64) -> DbResult<()> {
    tx.execute(
        "UPDATE mp_import SET state = 'refused', reason = ?3, content_hash = ?4, paid_minor = ?5, updated_ms = ?6
         WHERE marketplace = ?1 AND external_id = ?2",
        &params![marketplace, external_id, reason, hash, paid, now_ms],
    )?;
    Ok(())
}

/// The marketplace closed the trade: kept with when, and `note` for HQ when it has one.
pub fn set_closed(tx: &mut dyn Tx, marketplace: &str, external_id: &str, note: Option<&str>, now_ms: i64) -> DbResult<()> {
    tx.execute(
        "UPDATE mp_import SET closed_ms = COALESCE(closed_ms, ?3), reason = COALESCE(?4, reason), updated_ms = ?3
         WHERE marketplace = ?1 AND external_id = ?2",
        &params![marketplace, external_id, now_ms, note],
    )?;
    Ok(())
}

/// Marks the marketplace's refund of a closed trade as journalled; false when it was already.
pub fn book_refund(tx: &mut dyn Tx, order_id: u64) -> DbResult<bool> {
    let changed = tx.execute("UPDATE mp_import SET refund_booked = 1 WHERE order_id = ?1 AND closed_ms IS NOT NULL AND refund_booked = 0", &params![order_id])?;
    Ok(changed == 1)
}

/// Sets an import's note for HQ (why it was refused, what went wrong after).
pub fn set_note(tx: &mut dyn Tx, marketplace: &str, external_id: &str, note: &str, now_ms: i64) -> DbResult<()> {
    tx.execute("UPDATE mp_import SET reason = ?3, updated_ms = ?4 WHERE marketplace = ?1 AND external_id = ?2", &params![marketplace, external_id, note, now_ms])?;
    Ok(())
}

/// Puts a confirmation HQ looked at back in the queue; whether it was waiting for HQ.
pub fn requeue_confirmation(tx: &mut dyn Tx, order_id: u64, now_ms: i64) -> DbResult<bool> {
    let changed = tx.execute(
        "UPDATE mp_confirmation SET state = 'pending', next_try_ms = ?2 WHERE order_id = ?1 AND state = 'attention'",
        &params![order_id, now_ms],
    )?;
    Ok(changed == 1)
}

/// Counts per state: (imported, refused).
pub fn counts(tx: &mut dyn Tx, marketplace: &str) -> DbResult<(i64, i64)> {
    let r = tx.query_one(
        "SELECT CAST(COALESCE(SUM(CASE WHEN state = 'imported' THEN 1 ELSE 0 END), 0) AS BIGINT),
                CAST(COALESCE(SUM(CASE WHEN state = 'refused' THEN 1 ELSE 0 END), 0) AS BIGINT)
         FROM mp_import WHERE marketplace = ?1",
        &params![marketplace],
    )?;
    Ok((r.int(0)?, r.int(1)?))
}

// --- cursor ---------------------------------------------------------------------------------

/// Where pulls reached (trades' modified time), when the last pull ran and what went wrong.
pub fn cursor(tx: &mut dyn Tx, marketplace: &str) -> DbResult<Option<(i64, i64, Option<String>)>> {
    let row = tx.query_opt("SELECT modified_ms, pulled_ms, last_error FROM mp_cursor WHERE marketplace = ?1", &params![marketplace])?;
    row.map(|r| Ok((r.int(0)?, r.int(1)?, r.opt_text(2)?))).transpose()
}

/// Moves the cursor (never backwards) and records the pull.
pub fn advance(tx: &mut dyn Tx, marketplace: &str, modified_ms: i64, now_ms: i64) -> DbResult<()> {
    tx.execute(
        "INSERT INTO mp_cursor (marketplace, modified_ms, pulled_ms, last_error) VALUES (?1, ?2, ?3, NULL)
         ON CONFLICT (marketplace) DO UPDATE SET modified_ms = CASE WHEN excluded.modified_ms > mp_cursor.modified_ms
             THEN excluded.modified_ms ELSE mp_cursor.modified_ms END, pulled_ms = excluded.pulled_ms, last_error = NULL",
        &params![marketplace, modified_ms, now_ms],
    )?;
    Ok(())
}

/// Records a failed pull (the cursor stays).
pub fn pull_failed(tx: &mut dyn Tx, marketplace: &str, start_ms: i64, error: &str, now_ms: i64) -> DbResult<()> {
    tx.execute(
        "INSERT INTO mp_cursor (marketplace, modified_ms, pulled_ms, last_error) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (marketplace) DO UPDATE SET pulled_ms = excluded.pulled_ms, last_error = excluded.last_error",
        &params![marketplace, start_ms, now_ms, error],
    )?;
    Ok(())
}

// --- confirmations --------------------------------------------------------------------------

/// Queues a confirmation for a shipped order; a second shipment report changes nothing.
pub fn queue_confirmation(tx: &mut dyn Tx, order_id: u64, marketplace: &str, external_id: &str, carrier: &str, tracking: &str, now_ms: i64) -> DbResult<()> {
    tx.execute(
        "INSERT INTO mp_confirmation (order_id, marketplace, external_id, carrier, tracking_number, state, next_try_ms, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?6) ON CONFLICT (order_id) DO NOTHING",
        &params![order_id, marketplace, external_id, carrier, tracking, now_ms],
    )?;
    Ok(())
}

/// A confirmation due: (order id, external id, carrier, tracking number, attempts).
pub struct DueConfirmation {
    pub order_id: u64,
    pub external_id: String,
    pub carrier: String,
    pub tracking_number: String,
    pub attempts: u32,
}

pub fn due_confirmations(tx: &mut dyn Tx, marketplace: &str, now_ms: i64, limit: u32) -> DbResult<Vec<DueConfirmation>> {
    let rows = tx.query(
        "SELECT order_id, external_id, carrier, tracking_number, attempts FROM mp_confirmation
         WHERE marketplace = ?1 AND state = 'pending' AND next_try_ms <= ?2 ORDER BY next_try_ms LIMIT ?3",
        &params![marketplace, now_ms, limit],
    )?;
    rows.iter()
        .map(|r| {
            Ok(DueConfirmation {
                order_id: r.uint(0)?,
                external_id: r.text(1)?,
                carrier: r.text(2)?,
                tracking_number: r.text(3)?,
                attempts: u32::try_from(r.int(4)?).map_err(corrupt)?,
            })
        })
        .collect()
}

/// Applies a call's outcome to a confirmation still pending (a crash between the call and
/// here repeats the call, which the marketplace's answer makes harmless).
pub fn confirmation_outcome(tx: &mut dyn Tx, order_id: u64, state: ConfirmState, error: Option<&str>, next_try_ms: i64, now_ms: i64) -> DbResult<bool> {
    let confirmed = (state == ConfirmState::Confirmed).then_some(now_ms);
    let changed = tx.execute(
        "UPDATE mp_confirmation SET state = ?2, attempts = attempts + 1, last_error = ?3, next_try_ms = ?4, confirmed_ms = ?5
         WHERE order_id = ?1 AND state = 'pending'",
        &params![order_id, state.as_str(), error, next_try_ms, confirmed],
    )?;
    Ok(changed == 1)
}

/// Confirmations per state: (pending, confirmed, attention).
pub fn confirmation_counts(tx: &mut dyn Tx, marketplace: &str) -> DbResult<(i64, i64, i64)> {
    let r = tx.query_one(
        "SELECT CAST(COALESCE(SUM(CASE WHEN state = 'pending' THEN 1 ELSE 0 END), 0) AS BIGINT),
                CAST(COALESCE(SUM(CASE WHEN state = 'confirmed' THEN 1 ELSE 0 END), 0) AS BIGINT),
                CAST(COALESCE(SUM(CASE WHEN state = 'attention' THEN 1 ELSE 0 END), 0) AS BIGINT)
         FROM mp_confirmation WHERE marketplace = ?1",
        &params![marketplace],
    )?;
    Ok((r.int(0)?, r.int(1)?, r.int(2)?))
}
