//! The `mk_promotion` table and the marketing policy (`settings_doc` "marketing").

use super::{MarketingPolicy, PromotionRecord};
use crate::db::{DbError, DbResult, Row, Tx};
use crate::params;

/// The policy's name in `settings_doc`.
pub const POLICY: &str = "marketing";

pub fn policy(tx: &mut dyn Tx) -> DbResult<MarketingPolicy> {
    Ok(crate::db::doc::load(tx, POLICY)?.unwrap_or_default())
}

pub fn save_policy(tx: &mut dyn Tx, policy: &MarketingPolicy, now_ms: i64) -> DbResult<()> {
    crate::db::doc::save(tx, POLICY, policy, now_ms)
}

const COLUMNS: &str = "SELECT body, state, starts_ms, ends_ms, created_ms, updated_ms FROM mk_promotion";

/// Publishes (or replaces) a promotion, live.
pub fn put(tx: &mut dyn Tx, p: &PromotionRecord) -> DbResult<()> {
    let body = serde_json::to_string(&p.promotion).map_err(|e| DbError::corrupt(e.to_string()))?;
    let layer = serde_json::to_value(p.promotion.layer).map_err(|e| DbError::corrupt(e.to_string()))?;
    tx.execute(
        "INSERT INTO mk_promotion (id, layer, body, state, starts_ms, ends_ms, created_ms, updated_ms) VALUES (?1, ?2, ?3, 'live', ?4, ?5, ?6, ?6)
         ON CONFLICT (id) DO UPDATE SET layer = excluded.layer, body = excluded.body, state = 'live', starts_ms = excluded.starts_ms,
             ends_ms = excluded.ends_ms, updated_ms = excluded.updated_ms",
        &params![p.promotion.id.as_str(), layer.as_str().unwrap_or(""), body, p.starts_ms, p.ends_ms, p.updated_ms],
    )?;
    Ok(())
}

pub fn get(tx: &mut dyn Tx, id: &str) -> DbResult<Option<PromotionRecord>> {
    tx.query_opt(&format!("{COLUMNS} WHERE id = ?1"), &params![id])?.map(|r| row(&r)).transpose()
}

/// Live promotions whose window meets [`from_ms`, `to_ms`).
pub fn live_between(tx: &mut dyn Tx, from_ms: i64, to_ms: i64) -> DbResult<Vec<PromotionRecord>> {
    tx.query(&format!("{COLUMNS} WHERE state = 'live' AND starts_ms < ?2 AND ends_ms > ?1 ORDER BY id"), &params![from_ms, to_ms])?.iter().map(row).collect()
}

/// Every promotion (`state` filters), by id, at most `limit`.
pub fn list(tx: &mut dyn Tx, state: Option<&str>, limit: u32) -> DbResult<Vec<PromotionRecord>> {
    match state {
        Some(state) => tx.query(&format!("{COLUMNS} WHERE state = ?1 ORDER BY id LIMIT ?2"), &params![state, limit])?,
        None => tx.query(&format!("{COLUMNS} ORDER BY id LIMIT ?1"), &params![limit])?,
    }
    .iter()
    .map(row)
    .collect()
}

/// Withdrawn from now; false when it was not live.
pub fn withdraw(tx: &mut dyn Tx, id: &str, now_ms: i64) -> DbResult<bool> {
    Ok(tx.execute("UPDATE mk_promotion SET state = 'withdrawn', updated_ms = ?2 WHERE id = ?1 AND state = 'live'", &params![id, now_ms])? == 1)
}

fn row(r: &Row) -> DbResult<PromotionRecord> {
    Ok(PromotionRecord {
        promotion: serde_json::from_str(&r.text(0)?).map_err(|e| DbError::corrupt(e.to_string()))?,
        state: r.text(1)?,
        starts_ms: r.int(2)?,
        ends_ms: r.int(3)?,
        created_ms: r.int(4)?,
        updated_ms: r.int(5)?,
    })
}
