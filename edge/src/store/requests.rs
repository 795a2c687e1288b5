//! The request log: answers stored under Idempotency-Keys, with the fingerprint of the request
//! each answered, written in the transaction of the change itself so an answer exists exactly
//! when its effect does.
//!
//! What it is not: the rule for what a known key means; that is
//! `tote_shared::runtime::idempotency::compare`, shared with central.

use super::{StoreError, StoreResult};
use rusqlite::{params, Connection, OptionalExtension};
use tote_shared::runtime::idempotency::{compare, RequestKey, Seen};

/// The stored answer when this request was already applied; `None` when its key is new.
/// A key that answered another request is `IdempotencyMismatch`.
pub fn seen(conn: &Connection, key: &RequestKey) -> StoreResult<Option<serde_json::Value>> {
    let stored: Option<(String, String)> = conn
        .prepare_cached("SELECT request_hash, response FROM request_log WHERE key = ?1")?
        .query_row([&key.key], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    // Legacy rows (stored before fingerprints were) have '': nothing is known of the request
    // they answered, so they replay for any request, as they did when they were written.
    let stored = stored.map(|(hash, response)| (if hash.is_empty() { key.fingerprint.clone() } else { hash }, response));
    match compare(stored, &key.fingerprint) {
        Seen::New => Ok(None),
        Seen::Replay(response) => serde_json::from_str(&response).map(Some).map_err(|e| StoreError::Corrupt(e.to_string())),
        Seen::Mismatch => Err(StoreError::IdempotencyMismatch(key.key.clone())),
    }
}

/// Stores the answer to a keyed request, in the transaction that applied it.
pub fn record(conn: &Connection, key: &RequestKey, answer: &serde_json::Value, now_ms: i64) -> StoreResult<()> {
    conn.prepare_cached("INSERT INTO request_log (key, request_hash, response, created_ms) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![key.key, key.fingerprint, answer.to_string(), now_ms])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn db() -> Connection {
        super::super::schema::memory_db()
    }

    fn key(fingerprint: &str) -> RequestKey {
        RequestKey { key: "k-1".into(), fingerprint: fingerprint.into() }
    }

    #[test]
    fn a_new_key_is_unseen_and_once_recorded_the_same_request_replays_its_answer() {
        let conn = db();
        assert_eq!(seen(&conn, &key("f1")).expect("read"), None);
        record(&conn, &key("f1"), &json!({"id": 7}), 1_000).expect("record");
        assert_eq!(seen(&conn, &key("f1")).expect("read"), Some(json!({"id": 7})));
    }

    #[test]
    fn a_recorded_key_refuses_another_request() {
        let conn = db();
        record(&conn, &key("f1"), &json!({"id": 7}), 1_000).expect("record");
        assert!(matches!(seen(&conn, &key("f2")), Err(StoreError::IdempotencyMismatch(k)) if k == "k-1"));
    }

    #[test]
    fn a_legacy_key_without_a_fingerprint_replays_for_any_request() {
        let conn = db();
        // As written before the request_hash column existed: it defaults to ''.
        conn.execute("INSERT INTO request_log (key, response, created_ms) VALUES ('k-1', '{\"id\":7}', 1000)", []).expect("legacy row");
        assert_eq!(seen(&conn, &key("f1")).expect("read"), Some(json!({"id": 7})));
        assert_eq!(seen(&conn, &key("f2")).expect("read"), Some(json!({"id": 7})));
    }
}
