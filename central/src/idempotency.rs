//! Central's Idempotency-Keys: per caller, the request's fingerprint and the answer given,
//! written in the transaction of the effect (see `tote_shared::runtime::idempotency` for
//! the rule both daemons share). Nothing else touches `idempotent_request`.

use crate::db::{DbError, DbResult, Tx, Value};
use crate::params;
use tote_shared::runtime::idempotency::{compare, RequestKey, Seen};

/// A stored answer: status and JSON body, as text. Kept as text end to end (never parsed
/// into a tree) so the writer thread hands the answer over as one allocation.
pub type Stored = (u16, String);

pub fn lookup(tx: &mut dyn Tx, caller: &str, request: &RequestKey) -> DbResult<Seen<Stored>> {
    let row = tx.query_opt(
        "SELECT fingerprint, status, response FROM idempotent_request WHERE caller = ?1 AND key = ?2",
        &params![caller, request.key.as_str()],
    )?;
    row.map_or(Ok(Seen::New), |r| seen(&r, 0, request))
}

/// `lookup` for many keys of one caller in one statement, answers in the order asked.
pub fn lookup_many(tx: &mut dyn Tx, caller: &str, requests: &[&RequestKey]) -> DbResult<Vec<Seen<Stored>>> {
    let mut out = Vec::with_capacity(requests.len());
    for chunk in requests.chunks(500) {
        let sql = format!(
            "SELECT key, fingerprint, status, response FROM idempotent_request WHERE caller = ?1 AND key IN ({})",
            crate::db::placeholders(chunk.len(), 2)
        );
        let mut values = vec![Value::from(caller)];
        values.extend(chunk.iter().map(|r| Value::from(r.key.as_str())));
        let rows = tx.query(&sql, &values)?;
        for request in chunk {
            let mut found = Seen::New;
            for row in &rows {
                if row.text(0)? == request.key {
                    found = seen(row, 1, request)?;
                }
            }
            out.push(found);
        }
    }
    Ok(out)
}

/// Stores many answers in one statement.
pub fn remember_many(tx: &mut dyn Tx, caller: &str, answers: &[(&RequestKey, &Stored)], now_ms: i64) -> DbResult<()> {
    for chunk in answers.chunks(1000) {
        let sql = format!(
            "INSERT INTO idempotent_request (caller, key, fingerprint, status, response, created_ms) VALUES {}",
            crate::db::values_clause(chunk.len(), 6, 1)
        );
        let mut values = Vec::with_capacity(chunk.len() * 6);
        for (request, (status, body)) in chunk {
            values.extend(params![caller, request.key.as_str(), request.fingerprint.as_str(), i64::from(*status), body.as_str(), now_ms]);
        }
        tx.execute(&sql, &values)?;
    }
    Ok(())
}

/// The stored row (fingerprint, status, response from column `from`) compared with `request`.
fn seen(r: &crate::db::Row, from: usize, request: &RequestKey) -> DbResult<Seen<Stored>> {
    let body = r.text(from + 2)?;
    let status = u16::try_from(r.int(from + 1)?).map_err(|_| DbError::corrupt("stored status"))?;
    let kept = r.text(from)?;
    // Order keys kept before fingerprints existed (migration 2) replay for any request.
    if kept.is_empty() {
        return Ok(Seen::Replay((status, body)));
    }
    Ok(compare(Some((kept, (status, body))), &request.fingerprint))
}

pub fn remember(tx: &mut dyn Tx, caller: &str, request: &RequestKey, answer: &Stored, now_ms: i64) -> DbResult<()> {
    remember_many(tx, caller, &[(request, answer)], now_ms)
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
