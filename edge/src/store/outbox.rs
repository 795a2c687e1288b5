//! The outbox: events for central, numbered without gaps, written in the transaction of the
//! change they describe; and the counters that track what central has acknowledged.

use super::{StoreError, StoreResult, SyncCounters};
use rusqlite::{params, Connection};
use tote_shared::sync::{EdgeEvent, EdgeEventKind};

pub fn emit(conn: &Connection, kind: EdgeEventKind, at_ms: i64) -> StoreResult<u64> {
    let seq: i64 = conn
        .prepare_cached("UPDATE sync_state SET value = value + 1 WHERE name = 'outbox_seq' RETURNING value")?
        .query_row([], |r| r.get(0))?;
    let event = EdgeEvent { seq: seq as u64, at_ms, kind };
    let body = serde_json::to_string(&event).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    conn.prepare_cached("INSERT INTO outbox (seq, at_ms, body) VALUES (?1, ?2, ?3)")?.execute(params![seq, at_ms, body])?;
    Ok(seq as u64)
}

pub fn unacked(conn: &Connection, limit: u32) -> StoreResult<Vec<EdgeEvent>> {
    let mut stmt = conn.prepare_cached(
        "SELECT body FROM outbox WHERE seq > (SELECT value FROM sync_state WHERE name = 'acked_seq') ORDER BY seq LIMIT ?1",
    )?;
    let rows = stmt.query_map([limit], |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for body in rows {
        out.push(serde_json::from_str(&body?).map_err(|e| StoreError::Corrupt(e.to_string()))?);
    }
    Ok(out)
}

/// Central holds everything up to `high_water`. The mark only moves forward, except when
/// central says it holds less (it lost data): then we resend from its mark.
pub fn ack(conn: &Connection, high_water: u64) -> StoreResult<()> {
    let outbox_seq: i64 = conn.query_row("SELECT value FROM sync_state WHERE name = 'outbox_seq'", [], |r| r.get(0))?;
    if high_water as i64 > outbox_seq {
        return Err(StoreError::Corrupt(format!("central acknowledged {high_water} but only {outbox_seq} events exist")));
    }
    conn.prepare_cached("UPDATE sync_state SET value = ?1 WHERE name = 'acked_seq'")?.execute([high_water as i64])?;
    Ok(())
}

pub fn counters(conn: &Connection) -> StoreResult<SyncCounters> {
    let get = |name: &str| -> StoreResult<u64> {
        Ok(conn.prepare_cached("SELECT value FROM sync_state WHERE name = ?1")?.query_row([name], |r| r.get::<_, i64>(0))? as u64)
    };
    Ok(SyncCounters { outbox_seq: get("outbox_seq")?, acked_seq: get("acked_seq")?, command_cursor: get("command_cursor")? })
}
