//! The `audit_log` table; nothing else touches it.

use super::AuditEntry;
use crate::db::{DbError, DbResult, Tx};
use crate::params;

/// Appends an entry in the caller's transaction; returns its id.
pub fn append(tx: &mut dyn Tx, at_ms: i64, actor: &str, action: &str, subject: &str, detail: &serde_json::Value) -> DbResult<u64> {
    tx.query_one(
        "INSERT INTO audit_log (at_ms, actor, action, subject, detail) VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
        &params![at_ms, actor, action, subject, detail.to_string()],
    )?
    .uint(0)
}

/// The newest entries first, optionally only those about `subject`.
pub fn list(tx: &mut dyn Tx, subject: Option<&str>, limit: u32) -> DbResult<Vec<AuditEntry>> {
    let rows = tx.query(
        "SELECT id, at_ms, actor, action, subject, detail FROM audit_log
         WHERE CAST(?1 AS TEXT) IS NULL OR subject = ?1 ORDER BY id DESC LIMIT ?2",
        &params![subject, limit],
    )?;
    rows.iter()
        .map(|r| {
            let detail = serde_json::from_str(&r.text(5)?).map_err(|e| DbError::corrupt(format!("audit_log detail: {e}")))?;
            Ok(AuditEntry { id: r.uint(0)?, at_ms: r.int(1)?, actor: r.text(2)?, action: r.text(3)?, subject: r.text(4)?, detail })
        })
        .collect()
}
