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

/// Deletes acknowledged events older than `events_before_ms` and request keys older than
/// `keys_before_ms`, at most `limit` of each. Unacknowledged events are never touched.
pub fn prune(conn: &Connection, events_before_ms: i64, keys_before_ms: i64, limit: u32) -> StoreResult<(u32, u32)> {
    let events = conn
        .prepare_cached(
            "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox
             WHERE seq <= (SELECT value FROM sync_state WHERE name = 'acked_seq') AND at_ms < ?1 ORDER BY seq LIMIT ?2)",
        )?
        .execute(params![events_before_ms, limit])?;
    let keys = conn
        .prepare_cached("DELETE FROM request_log WHERE key IN (SELECT key FROM request_log WHERE created_ms < ?1 LIMIT ?2)")?
        .execute(params![keys_before_ms, limit])?;
    Ok((events as u32, keys as u32))
}

pub fn counters(conn: &Connection) -> StoreResult<SyncCounters> {
    let get = |name: &str| -> StoreResult<u64> {
        Ok(conn.prepare_cached("SELECT value FROM sync_state WHERE name = ?1")?.query_row([name], |r| r.get::<_, i64>(0))? as u64)
    };
    Ok(SyncCounters { outbox_seq: get("outbox_seq")?, acked_seq: get("acked_seq")?, command_cursor: get("command_cursor")? })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tote_shared::{LocationCode, Qty, Sku};

    #[test]
    fn pruning_keeps_unacknowledged_and_recent_events() {
        let mut conn = rusqlite::Connection::open_in_memory().expect("db");
        tote_shared::runtime::sqlite::migrate(&mut conn, super::super::schema::MIGRATIONS).expect("migrate");
        let kind = || EdgeEventKind::StockReceived {
            sku: Sku::parse("S-1").expect("sku"),
            qty: Qty::parse(1).expect("qty"),
            location: LocationCode::parse("A").expect("loc"),
        };
        for at in [100, 200, 300, 400] {
            emit(&conn, kind(), at).expect("emit");
        }
        ack(&conn, 3).expect("ack");
        // Events 1 and 2 are acked and old; 3 is acked but recent; 4 is not acked.
        assert_eq!(prune(&conn, 250, 0, 100).expect("prune"), (2, 0));
        let left: Vec<i64> = conn.prepare("SELECT seq FROM outbox ORDER BY seq").expect("sql").query_map([], |r| r.get(0)).expect("rows").collect::<Result<_, _>>().expect("seqs");
        assert_eq!(left, [3, 4]);
        assert_eq!(prune(&conn, 10_000, 0, 100).expect("prune"), (1, 0), "never an unacknowledged event");
        assert_eq!(counters(&conn).expect("counters").outbox_seq, 4, "numbering goes on");
    }
}
