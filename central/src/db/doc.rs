//! The `settings_doc` table: settings HQ edits as one JSON document per name (intake's check
//! policy, …). A missing document means the defaults.

use super::{DbError, DbResult, Tx};
use crate::params;
use serde::de::DeserializeOwned;
use serde::Serialize;

pub fn load<T: DeserializeOwned>(tx: &mut dyn Tx, name: &str) -> DbResult<Option<T>> {
    let Some(row) = tx.query_opt("SELECT body FROM settings_doc WHERE name = ?1", &params![name])? else {
        return Ok(None);
    };
    serde_json::from_str(&row.text(0)?).map(Some).map_err(|e| DbError::corrupt(format!("settings {name}: {e}")))
}

pub fn save<T: Serialize>(tx: &mut dyn Tx, name: &str, body: &T, now_ms: i64) -> DbResult<()> {
    let body = serde_json::to_string(body).map_err(|e| DbError::corrupt(e.to_string()))?;
    tx.execute(
        "INSERT INTO settings_doc (name, body, updated_ms) VALUES (?1, ?2, ?3)
         ON CONFLICT (name) DO UPDATE SET body = excluded.body, updated_ms = excluded.updated_ms",
        &params![name, body, now_ms],
    )?;
    Ok(())
}

/// Locks the document `name` (made empty first if missing) until the transaction ends: a
/// mutex for work that must not run twice at once across processes.
pub fn lock(tx: &mut dyn Tx, name: &str) -> DbResult<()> {
    tx.execute("INSERT INTO settings_doc (name, body, updated_ms) VALUES (?1, 'null', 0) ON CONFLICT (name) DO NOTHING", &params![name])?;
    tx.query_one("SELECT name FROM settings_doc WHERE name = ?1 FOR UPDATE", &params![name])?;
    Ok(())
}
