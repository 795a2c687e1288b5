//! The `audit_log` table; nothing else touches it.

use super::{AuditEntry, RequestAudit};
use crate::db::{DbError, DbResult, Tx};
use crate::params;

/// Appends an entry in the caller's transaction; returns its id. Inside a request's scope the
/// actor is the request's caller (`db::acting`), whatever `actor` says.
pub fn append(
    tx: &mut dyn Tx,
    at_ms: i64,
    actor: &str,
    action: &str,
    subject: &str,
    detail: &serde_json::Value,
) -> DbResult<u64> {
    let actor = crate::db::acting().unwrap_or_else(|| actor.to_owned());
    tx.query_one(
        "INSERT INTO audit_log (at_ms, actor, action, subject, detail) VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
        &params![at_ms, actor, action, subject, detail.to_string()],
    )?
    .uint(0)
}

/// The entry of a write request, once per request (its later transactions add nothing).
pub fn append_request(tx: &mut dyn Tx, at_ms: i64, entry: &RequestAudit) -> DbResult<()> {
    tx.execute(
        "INSERT INTO audit_log (at_ms, actor, action, subject, detail, origin, request) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
        &params![at_ms, &entry.actor, &entry.action, &entry.subject, entry.detail.to_string(), &entry.origin, &entry.request],
    )?;
    Ok(())
}

/// Which entries to list.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub subject: Option<String>,
    pub actor: Option<String>,
    /// Only entries older than this id (the next page).
    pub before: Option<u64>,
    pub since_ms: Option<i64>,
}

/// The newest entries first.
pub fn list(tx: &mut dyn Tx, filter: &Filter, limit: u32) -> DbResult<Vec<AuditEntry>> {
    let rows = tx.query(
        "SELECT id, at_ms, actor, action, subject, detail, origin FROM audit_log
         WHERE (CAST(?1 AS TEXT) IS NULL OR subject = ?1) AND (CAST(?2 AS TEXT) IS NULL OR actor = ?2)
           AND (CAST(?3 AS BIGINT) IS NULL OR id < ?3) AND (CAST(?4 AS BIGINT) IS NULL OR at_ms >= ?4)
         ORDER BY id DESC LIMIT ?5",
        &params![filter.subject.as_deref(), filter.actor.as_deref(), filter.before, filter.since_ms, limit],
    )?;
    rows.iter()
        .map(|r| {
            let detail = serde_json::from_str(&r.text(5)?)
                .map_err(|e| DbError::corrupt(format!("audit_log detail: {e}")))?;
            Ok(AuditEntry {
                id: r.uint(0)?,
                at_ms: r.int(1)?,
                actor: r.text(2)?,
                action: r.text(3)?,
                subject: r.text(4)?,
                detail,
                origin: r.text(6)?,
            })
        })
        .collect()
}
