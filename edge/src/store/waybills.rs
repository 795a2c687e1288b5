//! The warehouse's pools of carrier waybill numbers: granted by central (each number issued by
//! the carrier for this warehouse alone), taken one per parcel in the shipping transaction.
//! Taking never needs the network, so packing goes on while HQ or the carrier is down; the
//! primary key and the order's UNIQUE keep any number from serving two parcels.

use super::StoreResult;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use tote_shared::sync::{is_plain_code, MAX_WAYBILL_GRANT};

/// One carrier's pool at this warehouse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PoolView {
    pub carrier: String,
    /// Numbers left to print on.
    pub free: u64,
    pub used: u64,
}

/// Adds a grant's numbers to the pool. A number seen before (a replayed command) is kept as
/// it is; a malformed one is skipped and logged, so one bad number cannot stop the command
/// stream behind it.
pub fn grant(conn: &Connection, carrier: &str, numbers: &[String], now_ms: i64) -> StoreResult<()> {
    if !is_plain_code(carrier, 32) {
        tracing::warn!(carrier, "waybill grant for a malformed carrier code skipped");
        return Ok(());
    }
    let mut insert = conn.prepare_cached("INSERT INTO waybill_pool (carrier, waybill, granted_ms) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING")?;
    let mut skipped = 0usize;
    for number in numbers.iter().take(MAX_WAYBILL_GRANT) {
        if is_plain_code(number, 40) {
            insert.execute(params![carrier, number, now_ms])?;
        } else {
            skipped += 1;
        }
    }
    skipped += numbers.len().saturating_sub(MAX_WAYBILL_GRANT);
    if skipped > 0 {
        tracing::warn!(carrier, skipped, "malformed or surplus waybill numbers in a grant skipped");
    }
    Ok(())
}

/// Takes the oldest free number of `carrier` for `order_id`; None when the pool is empty.
pub fn take(conn: &Connection, carrier: &str, order_id: u64, now_ms: i64) -> StoreResult<Option<String>> {
    Ok(conn
        .prepare_cached(
            "UPDATE waybill_pool SET order_id = ?2, used_ms = ?3
             WHERE rowid = (SELECT rowid FROM waybill_pool WHERE carrier = ?1 AND order_id IS NULL ORDER BY rowid LIMIT 1)
             RETURNING waybill",
        )?
        .query_row(params![carrier, order_id as i64, now_ms], |r| r.get(0))
        .optional()?)
}

/// Whether `waybill` is one of `carrier`'s pool numbers (a typed number must not be one: the
/// pool may hand it to another parcel).
pub fn in_pool(conn: &Connection, carrier: &str, waybill: &str) -> StoreResult<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM waybill_pool WHERE carrier = ?1 AND waybill = ?2")?
        .query_row(params![carrier, waybill], |_| Ok(()))
        .optional()?
        .is_some())
}

pub fn pools(conn: &Connection) -> StoreResult<Vec<PoolView>> {
    let mut stmt = conn.prepare_cached(
        "SELECT carrier, SUM(CASE WHEN order_id IS NULL THEN 1 ELSE 0 END), SUM(CASE WHEN order_id IS NULL THEN 0 ELSE 1 END)
         FROM waybill_pool GROUP BY carrier ORDER BY carrier",
    )?;
    let rows = stmt.query_map([], |r| Ok(PoolView { carrier: r.get(0)?, free: r.get::<_, i64>(1)? as u64, used: r.get::<_, i64>(2)? as u64 }))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_taken_oldest_first_once_each_and_replays_change_nothing() {
        let conn = crate::store::schema::memory_db();
        let numbers: Vec<String> = ["SF1", "SF2", "bad number", "SF3"].iter().map(|s| s.to_string()).collect();
        grant(&conn, "SF", &numbers, 1).expect("granted");
        grant(&conn, "SF", &numbers[..2], 2).expect("a replay is harmless");
        assert_eq!(pools(&conn).expect("pools"), vec![PoolView { carrier: "SF".into(), free: 3, used: 0 }]);
        assert_eq!(take(&conn, "SF", 10, 5).expect("take").as_deref(), Some("SF1"));
        assert_eq!(take(&conn, "SF", 11, 5).expect("take").as_deref(), Some("SF2"));
        assert!(take(&conn, "SF", 10, 6).is_err(), "an order holds one number");
        assert_eq!(take(&conn, "JD", 12, 6).expect("take"), None, "no JD pool");
        assert_eq!(take(&conn, "SF", 12, 6).expect("take").as_deref(), Some("SF3"));
        assert_eq!(take(&conn, "SF", 13, 7).expect("take"), None, "the pool is empty");
        assert!(in_pool(&conn, "SF", "SF2").expect("reads") && !in_pool(&conn, "SF", "bad number").expect("reads"));
        assert_eq!(pools(&conn).expect("pools"), vec![PoolView { carrier: "SF".into(), free: 0, used: 3 }]);
    }
}
