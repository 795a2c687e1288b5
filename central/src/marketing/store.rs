//! The `mk_promotion` table, coupons (`mk_coupon_terms`, `mk_coupon_code`, `mk_coupon_use`)
//! and the marketing policy (`settings_doc` "marketing").

use super::coupons::{Code, Coupon, CouponTerms};
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

const COLUMNS: &str = "SELECT p.body, p.state, p.starts_ms, p.ends_ms, p.created_ms, p.updated_ms, t.limit_total, t.limit_per_user, t.issued, t.redeemed
     FROM mk_promotion p LEFT JOIN mk_coupon_terms t ON t.promotion_id = p.id";

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
    if let Some(coupon) = &p.coupon {
        tx.execute(
            "INSERT INTO mk_coupon_terms (promotion_id, limit_total, limit_per_user) VALUES (?1, ?2, ?3)
             ON CONFLICT (promotion_id) DO UPDATE SET limit_total = excluded.limit_total, limit_per_user = excluded.limit_per_user",
            &params![p.promotion.id.as_str(), coupon.terms.limit_total, coupon.terms.limit_per_user],
        )?;
    }
    Ok(())
}

pub fn get(tx: &mut dyn Tx, id: &str) -> DbResult<Option<PromotionRecord>> {
    tx.query_opt(&format!("{COLUMNS} WHERE p.id = ?1"), &params![id])?.map(|r| row(&r)).transpose()
}

/// Live promotions whose window meets [`from_ms`, `to_ms`).
pub fn live_between(tx: &mut dyn Tx, from_ms: i64, to_ms: i64) -> DbResult<Vec<PromotionRecord>> {
    tx.query(&format!("{COLUMNS} WHERE p.state = 'live' AND p.starts_ms < ?2 AND p.ends_ms > ?1 ORDER BY p.id"), &params![from_ms, to_ms])?.iter().map(row).collect()
}

/// Every promotion (`state` filters), by id, at most `limit`.
pub fn list(tx: &mut dyn Tx, state: Option<&str>, limit: u32) -> DbResult<Vec<PromotionRecord>> {
    match state {
        Some(state) => tx.query(&format!("{COLUMNS} WHERE p.state = ?1 ORDER BY p.id LIMIT ?2"), &params![state, limit])?,
        None => tx.query(&format!("{COLUMNS} ORDER BY p.id LIMIT ?1"), &params![limit])?,
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
        coupon: match r.opt_int(6)? {
            Some(limit_total) => Some(Coupon { terms: CouponTerms { limit_total, limit_per_user: r.int(7)? }, issued: r.int(8)?, redeemed: r.int(9)? }),
            None => None,
        },
    })
}

/// Stores fresh codes of a coupon; a code that exists already (80 random bits: never, in
/// practice) is skipped. Returns the codes stored.
pub fn insert_codes(tx: &mut dyn Tx, promotion: &str, codes: &[String], customer: Option<&str>, now_ms: i64) -> DbResult<Vec<String>> {
    let mut stored = Vec::with_capacity(codes.len());
    for code in codes {
        let n = tx.execute(
            "INSERT INTO mk_coupon_code (code, promotion_id, customer, state, created_ms, updated_ms) VALUES (?1, ?2, ?3, 'available', ?4, ?4)
             ON CONFLICT (code) DO NOTHING",
            &params![code.as_str(), promotion, customer, now_ms],
        )?;
        if n == 1 {
            stored.push(code.clone());
        }
    }
    tx.execute("UPDATE mk_coupon_terms SET issued = issued + ?2 WHERE promotion_id = ?1", &params![promotion, stored.len() as i64])?;
    Ok(stored)
}

const CODE_COLUMNS: &str = "SELECT code, promotion_id, customer, state, order_id FROM mk_coupon_code";

/// The stored codes among `codes`.
pub fn codes(tx: &mut dyn Tx, codes: &[String]) -> DbResult<Vec<Code>> {
    let mut found = Vec::with_capacity(codes.len());
    for code in codes {
        if let Some(r) = tx.query_opt(&format!("{CODE_COLUMNS} WHERE code = ?1"), &params![code.as_str()])? {
            found.push(code_row(&r)?);
        }
    }
    Ok(found)
}

/// A coupon's codes, at most `limit`, by code.
pub fn codes_of(tx: &mut dyn Tx, promotion: &str, limit: u32) -> DbResult<Vec<Code>> {
    tx.query(&format!("{CODE_COLUMNS} WHERE promotion_id = ?1 ORDER BY code LIMIT ?2"), &params![promotion, limit])?.iter().map(code_row).collect()
}

/// The codes `order_id` holds.
pub fn codes_held_by(tx: &mut dyn Tx, order_id: u64) -> DbResult<Vec<Code>> {
    tx.query(&format!("{CODE_COLUMNS} WHERE order_id = ?1 AND state = 'reserved' ORDER BY code"), &params![order_id])?.iter().map(code_row).collect()
}

/// The code goes to `order_id` if it is still available: false when another order took it.
pub fn reserve_code(tx: &mut dyn Tx, code: &str, order_id: u64, now_ms: i64) -> DbResult<bool> {
    Ok(tx.execute(
        "UPDATE mk_coupon_code SET state = 'reserved', order_id = ?2, updated_ms = ?3 WHERE code = ?1 AND state = 'available'",
        &params![code, order_id, now_ms],
    )? == 1)
}

/// One more order uses the coupon, if its total limit allows: false when it is used up.
pub fn take_use(tx: &mut dyn Tx, promotion: &str) -> DbResult<bool> {
    Ok(tx.execute("UPDATE mk_coupon_terms SET redeemed = redeemed + 1 WHERE promotion_id = ?1 AND redeemed < limit_total", &params![promotion])? == 1)
}

/// One more order of `customer` uses the coupon, if `limit` allows: false when they used it
/// up.
pub fn take_customer_use(tx: &mut dyn Tx, promotion: &str, customer: &str, limit: i64) -> DbResult<bool> {
    Ok(tx.execute(
        "INSERT INTO mk_coupon_use (promotion_id, customer, used) VALUES (?1, ?2, 1)
         ON CONFLICT (promotion_id, customer) DO UPDATE SET used = mk_coupon_use.used + 1 WHERE mk_coupon_use.used < ?3",
        &params![promotion, customer, limit],
    )? == 1)
}

/// The order gives the code back: available again, and one use less for the coupon and for
/// the customer.
pub fn release_code(tx: &mut dyn Tx, code: &Code, customer: Option<&str>, now_ms: i64) -> DbResult<()> {
    let n = tx.execute(
        "UPDATE mk_coupon_code SET state = 'available', order_id = NULL, updated_ms = ?2 WHERE code = ?1 AND state = 'reserved'",
        &params![code.code.as_str(), now_ms],
    )?;
    if n == 1 {
        tx.execute("UPDATE mk_coupon_terms SET redeemed = redeemed - 1 WHERE promotion_id = ?1 AND redeemed > 0", &params![code.promotion.as_str()])?;
        if let Some(customer) = customer {
            tx.execute("UPDATE mk_coupon_use SET used = used - 1 WHERE promotion_id = ?1 AND customer = ?2 AND used > 0", &params![code.promotion.as_str(), customer])?;
        }
    }
    Ok(())
}

fn code_row(r: &Row) -> DbResult<Code> {
    Ok(Code { code: r.text(0)?, promotion: r.text(1)?, customer: r.opt_text(2)?, state: r.text(3)?, order_id: r.opt_int(4)?.map(|v| v as u64) })
}
