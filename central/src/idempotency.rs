//! Central's Idempotency-Keys: per caller, the request's fingerprint and the answer given,
//! written in the transaction of the effect (see `tote_shared::runtime::idempotency` for
//! the rule both daemons share). Nothing else touches `idempotent_request`.

use crate::db::{DbError, DbResult, Tx};
use crate::params;
use tote_shared::runtime::idempotency::{compare, RequestKey, Seen};

/// A stored answer: status and JSON body.
pub type Stored = (u16, serde_json::Value);

pub fn lookup(tx: &mut dyn Tx, caller: &str, request: &RequestKey) -> DbResult<Seen<Stored>> {
    let row = tx.query_opt(
        "SELECT fingerprint, status, response FROM idempotent_request WHERE caller = ?1 AND key = ?2",
        &params![caller, request.key.as_str()],
    )?;
    let Some(r) = row else {
        return Ok(Seen::New);
    };
    let body = serde_json::from_str(&r.text(2)?).map_err(|e| DbError::corrupt(format!("stored answer: {e}")))?;
    let status = u16::try_from(r.int(1)?).map_err(|_| DbError::corrupt("stored status"))?;
    let kept = r.text(0)?;
    // Order keys kept before fingerprints existed (migration 2) replay for any request.
    if kept.is_empty() {
        return Ok(Seen::Replay((status, body)));
    }
    Ok(compare(Some((kept, (status, body))), &request.fingerprint))
}

pub fn remember(tx: &mut dyn Tx, caller: &str, request: &RequestKey, answer: &Stored, now_ms: i64) -> DbResult<()> {
    let body = serde_json::to_string(&answer.1).map_err(|e| DbError::corrupt(e.to_string()))?;
    tx.execute(
        "INSERT INTO idempotent_request (caller, key, fingerprint, status, response, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        &params![caller, request.key.as_str(), request.fingerprint.as_str(), i64::from(answer.0), body, now_ms],
    )?;
    Ok(())
}

/// Keys protect against retries, which come within minutes; keeping them for days is
/// plenty, keeping them forever grows the table without bound.
pub fn prune(tx: &mut dyn Tx, before_ms: i64, limit: u32) -> DbResult<u32> {
    let n = tx.execute(
        "DELETE FROM idempotent_request WHERE (caller, key) IN
           (SELECT caller, key FROM idempotent_request WHERE created_ms < ?1 LIMIT ?2)",
        &params![before_ms, limit],
    )?;
    Ok(n as u32)
}
