//! The `mk_promotion` table, coupons (`mk_coupon_terms`, `mk_coupon_code`, `mk_coupon_use`),
//! flash sales (`mk_flash_sale`, `mk_flash_order`) and the marketing policy (`settings_doc`
//! "marketing").

use super::campaigns::{Bought, Earned, Profile, SegmentRule};
use super::coupons::{Code, Coupon, CouponTerms};
use super::flash::FlashSale;
use super::{MarketingPolicy, PromotionRecord};
use crate::db::{DbError, DbResult, Row, Tx, Value};
use tote_shared::{Sku, WarehouseCode};
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
        if insert_code(tx, promotion, code, customer, now_ms)? {
            stored.push(code.clone());
        }
    }
    add_issued(tx, promotion, stored.len() as i64)?;
    Ok(stored)
}

/// One fresh code, not counted in the coupon's `issued` yet (`add_issued`): false when it
/// exists already.
pub fn insert_code(tx: &mut dyn Tx, promotion: &str, code: &str, customer: Option<&str>, now_ms: i64) -> DbResult<bool> {
    Ok(tx.execute(
        "INSERT INTO mk_coupon_code (code, promotion_id, customer, state, created_ms, updated_ms) VALUES (?1, ?2, ?3, 'available', ?4, ?4)
         ON CONFLICT (code) DO NOTHING",
        &params![code, promotion, customer, now_ms],
    )? == 1)
}

/// `n` more codes of the coupon were issued.
pub fn add_issued(tx: &mut dyn Tx, promotion: &str, n: i64) -> DbResult<()> {
    tx.execute("UPDATE mk_coupon_terms SET issued = issued + ?2 WHERE promotion_id = ?1", &params![promotion, n])?;
    Ok(())
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
    tx.query(&format!("{CODE_COLUMNS} WHERE order_id = ?1 AND state = 'reserved' ORDER BY promotion_id"), &params![order_id])?.iter().map(code_row).collect()
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

const FLASH_COLUMNS: &str = "SELECT id, sku, warehouse, price, quota, per_user, sold, starts_ms, ends_ms, state, created_ms, updated_ms FROM mk_flash_sale";

pub fn insert_flash(tx: &mut dyn Tx, f: &FlashSale) -> DbResult<()> {
    tx.execute(
        "INSERT INTO mk_flash_sale (id, sku, warehouse, price, quota, per_user, sold, starts_ms, ends_ms, state, created_ms, updated_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        &params![f.id.as_str(), f.sku.as_str(), f.warehouse.as_str(), f.price, f.quota, f.per_user, f.sold, f.starts_ms, f.ends_ms, f.state.as_str(), f.created_ms, f.updated_ms],
    )?;
    Ok(())
}

pub fn flash(tx: &mut dyn Tx, id: &str) -> DbResult<Option<FlashSale>> {
    tx.query_opt(&format!("{FLASH_COLUMNS} WHERE id = ?1"), &params![id])?.map(|r| flash_row(&r)).transpose()
}

/// The same, its row locked until the transaction ends.
pub fn flash_for_update(tx: &mut dyn Tx, id: &str) -> DbResult<Option<FlashSale>> {
    tx.query_opt(&format!("{FLASH_COLUMNS} WHERE id = ?1 FOR UPDATE"), &params![id])?.map(|r| flash_row(&r)).transpose()
}

/// Whether any promotion is live at `now_ms`, and whether any of `skus` is in a live flash
/// sale: one round trip, so the order paths skip the rest when nothing is on.
pub fn anything_live(tx: &mut dyn Tx, skus: &[&Sku], now_ms: i64) -> DbResult<(bool, bool)> {
    let skus = &skus[..skus.len().min(500)];
    let sql = format!(
        "SELECT CASE WHEN EXISTS (SELECT 1 FROM mk_promotion WHERE state = 'live' AND starts_ms <= ?1 AND ends_ms > ?1) THEN 1 ELSE 0 END,
                CASE WHEN EXISTS (SELECT 1 FROM mk_flash_sale WHERE state = 'live' AND sku IN ({})) THEN 1 ELSE 0 END",
        if skus.is_empty() { "NULL".to_owned() } else { crate::db::placeholders(skus.len(), 2) }
    );
    let mut values: Vec<Value> = vec![Value::from(now_ms)];
    values.extend(skus.iter().map(|s| Value::from(s.as_str())));
    let row = tx.query_one(&sql, &values)?;
    Ok((row.int(0)? == 1, row.int(1)? == 1))
}

/// The live sales of `skus` (at most one each), by SKU.
pub fn live_flash(tx: &mut dyn Tx, skus: &[&Sku]) -> DbResult<Vec<FlashSale>> {
    live_flash_of(tx, skus, "")
}

/// The same, their rows locked until the transaction ends.
pub fn live_flash_for_update(tx: &mut dyn Tx, skus: &[&Sku]) -> DbResult<Vec<FlashSale>> {
    live_flash_of(tx, skus, " FOR UPDATE")
}

fn live_flash_of(tx: &mut dyn Tx, skus: &[&Sku], lock: &str) -> DbResult<Vec<FlashSale>> {
    let mut out = Vec::new();
    for chunk in skus.chunks(500) {
        let sql = format!("{FLASH_COLUMNS} WHERE state = 'live' AND sku IN ({}) ORDER BY sku{lock}", crate::db::placeholders(chunk.len(), 1));
        let values: Vec<Value> = chunk.iter().map(|s| Value::from(s.as_str())).collect();
        for r in tx.query(&sql, &values)? {
            out.push(flash_row(&r)?);
        }
    }
    Ok(out)
}

/// Whether a live sale of `sku` other than `id` exists.
pub fn flash_live_for(tx: &mut dyn Tx, sku: &Sku, id: &str) -> DbResult<bool> {
    Ok(tx.query_opt("SELECT 1 FROM mk_flash_sale WHERE sku = ?1 AND state = 'live' AND id <> ?2", &params![sku.as_str(), id])?.is_some())
}

/// Live sales whose window has closed, at most `limit`.
pub fn flash_due(tx: &mut dyn Tx, now_ms: i64, limit: u32) -> DbResult<Vec<String>> {
    tx.query("SELECT id FROM mk_flash_sale WHERE state = 'live' AND ends_ms <= ?1 ORDER BY ends_ms LIMIT ?2", &params![now_ms, limit])?.iter().map(|r| r.text(0)).collect()
}

pub fn list_flash(tx: &mut dyn Tx, limit: u32) -> DbResult<Vec<FlashSale>> {
    tx.query(&format!("{FLASH_COLUMNS} ORDER BY id LIMIT ?1"), &params![limit])?.iter().map(flash_row).collect()
}

pub fn set_flash_quota(tx: &mut dyn Tx, id: &str, quota: i64, sold: i64, now_ms: i64) -> DbResult<()> {
    tx.execute("UPDATE mk_flash_sale SET quota = ?2, sold = ?3, updated_ms = ?4 WHERE id = ?1", &params![id, quota, sold, now_ms])?;
    Ok(())
}

pub fn set_flash(tx: &mut dyn Tx, id: &str, sold: i64, state: &str, now_ms: i64) -> DbResult<()> {
    tx.execute("UPDATE mk_flash_sale SET sold = ?2, state = ?3, updated_ms = ?4 WHERE id = ?1", &params![id, sold, state, now_ms])?;
    Ok(())
}

/// Units each of `customers` holds in the sale.
pub fn flash_bought(tx: &mut dyn Tx, sale: &str, customers: &[&str]) -> DbResult<std::collections::HashMap<String, i64>> {
    let mut out = std::collections::HashMap::new();
    for chunk in customers.chunks(500) {
        let sql = format!(
            "SELECT customer, CAST(SUM(qty) AS BIGINT) FROM mk_flash_order WHERE sale_id = ?1 AND state = 'held' AND customer IN ({}) GROUP BY customer",
            crate::db::placeholders(chunk.len(), 2)
        );
        let mut values: Vec<Value> = vec![Value::from(sale)];
        values.extend(chunk.iter().map(|c| Value::from(*c)));
        for r in tx.query(&sql, &values)? {
            out.insert(r.text(0)?, r.int(1)?);
        }
    }
    Ok(out)
}

/// The orders that took units of the sale: (order id, customer, units).
pub fn add_flash_orders(tx: &mut dyn Tx, sale: &str, rows: &[(u64, &str, i64)]) -> DbResult<()> {
    for chunk in rows.chunks(500) {
        let sql = format!("INSERT INTO mk_flash_order (sale_id, order_id, customer, qty, state) VALUES {}", crate::db::values_clause(chunk.len(), 5, 1));
        let mut values = Vec::with_capacity(chunk.len() * 5);
        for (order, customer, qty) in chunk {
            values.extend(params![sale, *order, *customer, *qty, "held"]);
        }
        tx.execute(&sql, &values)?;
    }
    Ok(())
}

/// The sale and units an order holds, if any.
pub fn flash_held_by(tx: &mut dyn Tx, order_id: u64) -> DbResult<Option<(String, i64)>> {
    tx.query_opt("SELECT sale_id, qty FROM mk_flash_order WHERE order_id = ?1 AND state = 'held'", &params![order_id])?.map(|r| Ok((r.text(0)?, r.int(1)?))).transpose()
}

pub fn release_flash_order(tx: &mut dyn Tx, sale: &str, order_id: u64) -> DbResult<()> {
    tx.execute("UPDATE mk_flash_order SET state = 'released' WHERE sale_id = ?1 AND order_id = ?2", &params![sale, order_id])?;
    Ok(())
}

fn flash_row(r: &Row) -> DbResult<FlashSale> {
    let corrupt = |e: tote_shared::DomainError| DbError::corrupt(e.to_string());
    Ok(FlashSale {
        id: r.text(0)?,
        sku: Sku::parse(&r.text(1)?).map_err(corrupt)?,
        warehouse: WarehouseCode::parse(&r.text(2)?).map_err(corrupt)?,
        price: r.int(3)?,
        quota: r.int(4)?,
        per_user: r.int(5)?,
        sold: r.int(6)?,
        starts_ms: r.int(7)?,
        ends_ms: r.int(8)?,
        state: r.text(9)?,
        created_ms: r.int(10)?,
        updated_ms: r.int(11)?,
    })
}

/// Remembers whose order it is (from `order_created`).
pub fn remember_order(tx: &mut dyn Tx, order_id: u64, customer: &str) -> DbResult<()> {
    tx.execute("INSERT INTO mk_order (order_id, customer) VALUES (?1, ?2) ON CONFLICT (order_id) DO NOTHING", &params![order_id, customer])?;
    Ok(())
}

pub fn customer_of(tx: &mut dyn Tx, order_id: u64) -> DbResult<Option<String>> {
    tx.query_opt("SELECT customer FROM mk_order WHERE order_id = ?1", &params![order_id])?.map(|r| r.text(0)).transpose()
}

/// A paid order counts: one more order, its units and money, and when.
pub fn add_paid(tx: &mut dyn Tx, customer: &str, units: i64, spend: i64, at_ms: i64) -> DbResult<()> {
    tx.execute(
        "INSERT INTO mk_customer (customer, orders, units, spend, first_ms, last_ms) VALUES (?1, 1, ?2, ?3, ?4, ?4)
         ON CONFLICT (customer) DO UPDATE SET orders = mk_customer.orders + 1, units = mk_customer.units + ?2, spend = mk_customer.spend + ?3,
             last_ms = CASE WHEN mk_customer.last_ms > ?4 THEN mk_customer.last_ms ELSE ?4 END",
        &params![customer, units, spend, at_ms],
    )?;
    Ok(())
}

/// Money given back (a refund) comes off what the customer spent.
pub fn add_refund(tx: &mut dyn Tx, customer: &str, amount: i64) -> DbResult<()> {
    tx.execute("UPDATE mk_customer SET spend = spend - ?2 WHERE customer = ?1", &params![customer, amount])?;
    Ok(())
}

/// Units of a model in a size bought (negative: came back).
pub fn add_bought(tx: &mut dyn Tx, customer: &str, spu: &str, size: &str, units: i64) -> DbResult<()> {
    tx.execute(
        "INSERT INTO mk_customer_buy (customer, spu, size, units) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (customer, spu, size) DO UPDATE SET units = mk_customer_buy.units + ?4",
        &params![customer, spu, size, units],
    )?;
    Ok(())
}

pub fn profile(tx: &mut dyn Tx, customer: &str) -> DbResult<Option<Profile>> {
    let Some(r) = tx.query_opt("SELECT orders, units, spend, first_ms, last_ms FROM mk_customer WHERE customer = ?1", &params![customer])? else {
        return Ok(None);
    };
    let bought = tx
        .query(
            "SELECT b.spu, COALESCE(s.category, ''), b.size, b.units FROM mk_customer_buy b LEFT JOIN spu s ON s.id = b.spu WHERE b.customer = ?1 ORDER BY b.spu, b.size",
            &params![customer],
        )?
        .iter()
        .map(|b| Ok(Bought { spu: b.text(0)?, category: b.text(1)?, size: b.text(2)?, units: b.int(3)? }))
        .collect::<DbResult<Vec<_>>>()?;
    let (orders, units, spend, first_ms, last_ms) = (r.int(0)?, r.int(1)?, r.int(2)?, r.int(3)?, r.int(4)?);
    Ok(Some(Profile { customer: customer.to_owned(), orders, units, spend, first_ms, last_ms, bought, ..Profile::default() }))
}

/// Every customer with a profile, by id, after `after`, at most `limit` (a segment's first
/// pass).
pub fn customers_after(tx: &mut dyn Tx, after: &str, limit: u32) -> DbResult<Vec<String>> {
    tx.query("SELECT customer FROM mk_customer WHERE customer > ?1 ORDER BY customer LIMIT ?2", &params![after, limit])?.iter().map(|r| r.text(0)).collect()
}

pub fn put_segment(tx: &mut dyn Tx, id: &str, rule: &SegmentRule, now_ms: i64) -> DbResult<()> {
    let json = serde_json::to_string(rule).map_err(|e| DbError::corrupt(e.to_string()))?;
    tx.execute(
        "INSERT INTO mk_segment (id, rule, created_ms, updated_ms) VALUES (?1, ?2, ?3, ?3) ON CONFLICT (id) DO UPDATE SET rule = excluded.rule, updated_ms = excluded.updated_ms",
        &params![id, json, now_ms],
    )?;
    Ok(())
}

pub fn segments(tx: &mut dyn Tx) -> DbResult<Vec<(String, SegmentRule)>> {
    tx.query("SELECT id, rule FROM mk_segment ORDER BY id", &[])?
        .iter()
        .map(|r| Ok((r.text(0)?, serde_json::from_str(&r.text(1)?).map_err(|e| DbError::corrupt(e.to_string()))?)))
        .collect()
}

/// Puts the customer in or out of the segment.
pub fn set_member(tx: &mut dyn Tx, segment: &str, customer: &str, member: bool, now_ms: i64) -> DbResult<()> {
    if member {
        tx.execute("INSERT INTO mk_segment_member (segment, customer, since_ms) VALUES (?1, ?2, ?3) ON CONFLICT (segment, customer) DO NOTHING", &params![segment, customer, now_ms])?;
    } else {
        tx.execute("DELETE FROM mk_segment_member WHERE segment = ?1 AND customer = ?2", &params![segment, customer])?;
    }
    Ok(())
}

/// A segment's members by id, after `after`, at most `limit`.
pub fn members(tx: &mut dyn Tx, segment: &str, after: &str, limit: u32) -> DbResult<Vec<String>> {
    tx.query("SELECT customer FROM mk_segment_member WHERE segment = ?1 AND customer > ?2 ORDER BY customer LIMIT ?3", &params![segment, after, limit])?
        .iter()
        .map(|r| r.text(0))
        .collect()
}

pub fn is_member(tx: &mut dyn Tx, segment: &str, customer: &str) -> DbResult<bool> {
    Ok(tx.query_opt("SELECT 1 FROM mk_segment_member WHERE segment = ?1 AND customer = ?2", &params![segment, customer])?.is_some())
}

pub fn member_count(tx: &mut dyn Tx, segment: &str) -> DbResult<i64> {
    tx.query_one("SELECT COUNT(*) FROM mk_segment_member WHERE segment = ?1", &params![segment])?.int(0)
}

/// (id, name, segment, coupon) of a campaign.
pub type CampaignRow = (String, String, String, String);

pub fn put_campaign(tx: &mut dyn Tx, c: &CampaignRow, now_ms: i64) -> DbResult<()> {
    tx.execute(
        "INSERT INTO mk_campaign (id, name, segment, coupon, created_ms, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?5)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, segment = excluded.segment, coupon = excluded.coupon, updated_ms = excluded.updated_ms",
        &params![c.0.as_str(), c.1.as_str(), c.2.as_str(), c.3.as_str(), now_ms],
    )?;
    Ok(())
}

pub fn campaign(tx: &mut dyn Tx, id: &str) -> DbResult<Option<CampaignRow>> {
    tx.query_opt("SELECT id, name, segment, coupon FROM mk_campaign WHERE id = ?1", &params![id])?.map(|r| Ok((r.text(0)?, r.text(1)?, r.text(2)?, r.text(3)?))).transpose()
}

pub fn campaign_of_coupon(tx: &mut dyn Tx, coupon: &str) -> DbResult<Option<String>> {
    tx.query_opt("SELECT id FROM mk_campaign WHERE coupon = ?1", &params![coupon])?.map(|r| r.text(0)).transpose()
}

/// Campaigns (all, or the one named), the newest first, with how many codes each sent and
/// what each earned in all.
pub fn campaign_list(tx: &mut dyn Tx, only: Option<&str>, limit: u32) -> DbResult<Vec<(CampaignRow, i64, i64, Earned)>> {
    tx.query(
        "SELECT c.id, c.name, c.segment, c.coupon, c.created_ms,
                (SELECT COUNT(*) FROM mk_campaign_send s WHERE s.campaign = c.id),
                CAST(COALESCE(SUM(d.redemptions), 0) AS BIGINT), CAST(COALESCE(SUM(d.discount), 0) AS BIGINT), CAST(COALESCE(SUM(d.revenue), 0) AS BIGINT),
                CAST(COALESCE(SUM(d.refunded), 0) AS BIGINT), CAST(COALESCE(SUM(d.cost), 0) AS BIGINT), CAST(COALESCE(SUM(d.orders), 0) AS BIGINT)
         FROM mk_campaign c LEFT JOIN mk_campaign_day d ON d.campaign = c.id WHERE ?2 = '' OR c.id = ?2
         GROUP BY c.id, c.name, c.segment, c.coupon, c.created_ms ORDER BY c.created_ms DESC, c.id LIMIT ?1",
        &params![limit, only.unwrap_or("")],
    )?
    .iter()
    .map(|r| {
        let earned = Earned { redemptions: r.int(6)?, discount: r.int(7)?, revenue: r.int(8)?, refunded: r.int(9)?, cost: r.int(10)?, orders: r.int(11)? };
        Ok(((r.text(0)?, r.text(1)?, r.text(2)?, r.text(3)?), r.int(4)?, r.int(5)?, earned))
    })
    .collect()
}

/// Every campaign's earnings per day in [`from`, `to`], summed: (day, earned), oldest first.
pub fn all_campaign_days(tx: &mut dyn Tx, from: &str, to: &str) -> DbResult<Vec<(String, Earned)>> {
    tx.query(
        "SELECT day, CAST(SUM(redemptions) AS BIGINT), CAST(SUM(discount) AS BIGINT), CAST(SUM(revenue) AS BIGINT), CAST(SUM(refunded) AS BIGINT),
                CAST(SUM(cost) AS BIGINT), CAST(SUM(orders) AS BIGINT)
         FROM mk_campaign_day WHERE day >= ?1 AND day <= ?2 GROUP BY day ORDER BY day",
        &params![from, to],
    )?
    .iter()
    .map(|r| Ok((r.text(0)?, Earned { redemptions: r.int(1)?, discount: r.int(2)?, revenue: r.int(3)?, refunded: r.int(4)?, cost: r.int(5)?, orders: r.int(6)? })))
    .collect()
}

/// Whom the campaign sent a code already.
pub fn sent_to(tx: &mut dyn Tx, campaign: &str, customer: &str) -> DbResult<bool> {
    Ok(tx.query_opt("SELECT 1 FROM mk_campaign_send WHERE campaign = ?1 AND customer = ?2", &params![campaign, customer])?.is_some())
}

pub fn add_send(tx: &mut dyn Tx, campaign: &str, customer: &str, code: &str, now_ms: i64) -> DbResult<()> {
    tx.execute("INSERT INTO mk_campaign_send (campaign, customer, code, sent_ms) VALUES (?1, ?2, ?3, ?4)", &params![campaign, customer, code, now_ms])?;
    Ok(())
}

/// The send list: (customer, code, sent at), by customer.
pub fn sends(tx: &mut dyn Tx, campaign: &str, limit: u32) -> DbResult<Vec<(String, String, i64)>> {
    tx.query("SELECT customer, code, sent_ms FROM mk_campaign_send WHERE campaign = ?1 ORDER BY customer LIMIT ?2", &params![campaign, limit])?
        .iter()
        .map(|r| Ok((r.text(0)?, r.text(1)?, r.int(2)?)))
        .collect()
}

/// An order's attribution to one campaign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribution {
    pub order_id: u64,
    pub campaign: String,
    pub discount: i64,
    pub state: String,
    pub revenue_left: i64,
    pub unsold: i64,
}

/// The campaigns an order is attributed to, by campaign.
pub fn attributions(tx: &mut dyn Tx, order_id: u64) -> DbResult<Vec<Attribution>> {
    tx.query("SELECT campaign, discount, state, revenue_left, unsold FROM mk_attribution WHERE order_id = ?1 ORDER BY campaign", &params![order_id])?
        .iter()
        .map(|r| Ok(Attribution { order_id, campaign: r.text(0)?, discount: r.int(1)?, state: r.text(2)?, revenue_left: r.int(3)?, unsold: r.int(4)? }))
        .collect()
}

pub fn put_attribution(tx: &mut dyn Tx, a: &Attribution, at_ms: i64) -> DbResult<()> {
    tx.execute(
        "INSERT INTO mk_attribution (order_id, campaign, discount, state, revenue_left, unsold, at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (order_id, campaign) DO UPDATE SET discount = excluded.discount, state = excluded.state, revenue_left = excluded.revenue_left,
             unsold = excluded.unsold, at_ms = excluded.at_ms",
        &params![a.order_id, a.campaign.as_str(), a.discount, a.state.as_str(), a.revenue_left, a.unsold, at_ms],
    )?;
    Ok(())
}

/// Adds to a campaign's day.
pub fn add_earned(tx: &mut dyn Tx, campaign: &str, day: &str, e: &Earned) -> DbResult<()> {
    tx.execute(
        "INSERT INTO mk_campaign_day (campaign, day, redemptions, discount, revenue, refunded, cost, orders) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (campaign, day) DO UPDATE SET redemptions = mk_campaign_day.redemptions + ?3, discount = mk_campaign_day.discount + ?4,
             revenue = mk_campaign_day.revenue + ?5, refunded = mk_campaign_day.refunded + ?6, cost = mk_campaign_day.cost + ?7,
             orders = mk_campaign_day.orders + ?8",
        &params![campaign, day, e.redemptions, e.discount, e.revenue, e.refunded, e.cost, e.orders],
    )?;
    Ok(())
}

/// A campaign's days in [`from`, `to`], oldest first.
pub fn earned(tx: &mut dyn Tx, campaign: &str, from: &str, to: &str) -> DbResult<Vec<(String, Earned)>> {
    tx.query(
        "SELECT day, redemptions, discount, revenue, refunded, cost, orders FROM mk_campaign_day WHERE campaign = ?1 AND day >= ?2 AND day <= ?3 ORDER BY day",
        &params![campaign, from, to],
    )?
    .iter()
    .map(|r| Ok((r.text(0)?, Earned { orders: r.int(6)?, redemptions: r.int(1)?, discount: r.int(2)?, revenue: r.int(3)?, refunded: r.int(4)?, cost: r.int(5)? })))
    .collect()
}

/// Units of a model that reached the customer, all sizes, less what came back.
pub fn spu_units(tx: &mut dyn Tx, customer: &str, spu: &str) -> DbResult<i64> {
    tx.query_one("SELECT CAST(COALESCE(SUM(units), 0) AS BIGINT) FROM mk_customer_buy WHERE customer = ?1 AND spu = ?2", &params![customer, spu])?.int(0)
}

/// The models a customer has bought (any size), by model.
pub fn spus_bought(tx: &mut dyn Tx, customer: &str) -> DbResult<Vec<String>> {
    tx.query("SELECT spu FROM mk_customer_buy WHERE customer = ?1 GROUP BY spu HAVING SUM(units) > 0 ORDER BY spu", &params![customer])?.iter().map(|r| r.text(0)).collect()
}

/// One more customer bought both `a` and `b` (both directions).
pub fn add_pair(tx: &mut dyn Tx, a: &str, b: &str) -> DbResult<()> {
    for (x, y) in [(a, b), (b, a)] {
        tx.execute(
            "INSERT INTO mk_also_bought (spu, other, customers) VALUES (?1, ?2, 1) ON CONFLICT (spu, other) DO UPDATE SET customers = mk_also_bought.customers + 1",
            &params![x, y],
        )?;
    }
    Ok(())
}

/// The models most bought by the customers who bought `spu`: (model, customers), most first.
pub fn also_bought(tx: &mut dyn Tx, spu: &str, limit: u32) -> DbResult<Vec<(String, i64)>> {
    tx.query("SELECT other, customers FROM mk_also_bought WHERE spu = ?1 ORDER BY customers DESC, other LIMIT ?2", &params![spu, limit])?
        .iter()
        .map(|r| Ok((r.text(0)?, r.int(1)?)))
        .collect()
}

/// An order's money as marketing keeps it: whose, paid, refunded, and what its points were
/// earned on (with what had been refunded by then).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderMoney {
    pub customer: String,
    pub paid: i64,
    pub paid_ms: i64,
    pub refunded: i64,
    pub earned_on: Option<i64>,
    pub refunded_at_earn: i64,
}

pub fn order_money(tx: &mut dyn Tx, order_id: u64) -> DbResult<Option<OrderMoney>> {
    tx.query_opt("SELECT customer, paid, refunded, earned_on, refunded_at_earn, paid_ms FROM mk_order WHERE order_id = ?1", &params![order_id])?
        .map(|r| Ok(OrderMoney { customer: r.text(0)?, paid: r.int(1)?, paid_ms: r.int(5)?, refunded: r.int(2)?, earned_on: r.opt_int(3)?, refunded_at_earn: r.int(4)? }))
        .transpose()
}

pub fn set_order_paid(tx: &mut dyn Tx, order_id: u64, paid: i64, paid_ms: i64) -> DbResult<()> {
    tx.execute("UPDATE mk_order SET paid = ?2, paid_ms = ?3 WHERE order_id = ?1", &params![order_id, paid, paid_ms])?;
    Ok(())
}

pub fn add_order_refund(tx: &mut dyn Tx, order_id: u64, amount: i64) -> DbResult<()> {
    tx.execute("UPDATE mk_order SET refunded = refunded + ?2 WHERE order_id = ?1", &params![order_id, amount])?;
    Ok(())
}

pub fn set_order_earned(tx: &mut dyn Tx, order_id: u64, earned_on: i64, refunded_at_earn: i64) -> DbResult<()> {
    tx.execute("UPDATE mk_order SET earned_on = ?2, refunded_at_earn = ?3 WHERE order_id = ?1", &params![order_id, earned_on, refunded_at_earn])?;
    Ok(())
}

/// A customer's membership row: tier and held tier by name, since_ms, review_ms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRow {
    pub tier: String,
    pub held: String,
    pub since_ms: i64,
    pub review_ms: Option<i64>,
}

/// The customer's membership row, locked until the transaction ends when `lock`.
pub fn member(tx: &mut dyn Tx, customer: &str, lock: bool) -> DbResult<Option<MemberRow>> {
    let sql = format!("SELECT tier, held, since_ms, review_ms FROM mk_member WHERE customer = ?1{}", if lock { " FOR UPDATE" } else { "" });
    tx.query_opt(&sql, &params![customer])?.map(|r| Ok(MemberRow { tier: r.text(0)?, held: r.text(1)?, since_ms: r.int(2)?, review_ms: r.opt_int(3)? })).transpose()
}

pub fn put_member(tx: &mut dyn Tx, customer: &str, m: &MemberRow, now_ms: i64) -> DbResult<()> {
    tx.execute(
        "INSERT INTO mk_member (customer, tier, held, since_ms, review_ms, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (customer) DO UPDATE SET tier = excluded.tier, held = excluded.held, since_ms = excluded.since_ms, review_ms = excluded.review_ms,
             updated_ms = excluded.updated_ms",
        &params![customer, m.tier.as_str(), m.held.as_str(), m.since_ms, m.review_ms, now_ms],
    )?;
    Ok(())
}

/// Customers whose membership row names a tier (held or current) among `tiers`, at most one.
pub fn any_member_of(tx: &mut dyn Tx, tier: &str) -> DbResult<bool> {
    Ok(tx.query_opt("SELECT 1 FROM mk_member WHERE tier = ?1 OR held = ?1 LIMIT 1", &params![tier])?.is_some())
}

/// A refund of money that was never the order's (`journal::LATE_PAYMENT_REFUND`).
pub fn set_refund_aside(tx: &mut dyn Tx, refund_id: u64) -> DbResult<()> {
    tx.execute("INSERT INTO mk_refund_aside (refund_id) VALUES (?1) ON CONFLICT (refund_id) DO NOTHING", &params![refund_id])?;
    Ok(())
}

pub fn refund_aside(tx: &mut dyn Tx, refund_id: u64) -> DbResult<bool> {
    Ok(tx.query_opt("SELECT 1 FROM mk_refund_aside WHERE refund_id = ?1", &params![refund_id])?.is_some())
}

/// Customers whose tier is due for review by `now_ms`, at most `limit`.
pub fn members_due(tx: &mut dyn Tx, now_ms: i64, limit: u32) -> DbResult<Vec<String>> {
    tx.query("SELECT customer FROM mk_member WHERE review_ms IS NOT NULL AND review_ms <= ?1 ORDER BY review_ms, customer LIMIT ?2", &params![now_ms, limit])?.iter().map(|r| r.text(0)).collect()
}

/// Paid (or, negative, refunded) money counted on the customer's UTC day `day`.
pub fn add_spend(tx: &mut dyn Tx, customer: &str, day: i64, amount: i64) -> DbResult<()> {
    tx.execute(
        "INSERT INTO mk_member_spend (customer, day, amount) VALUES (?1, ?2, ?3) ON CONFLICT (customer, day) DO UPDATE SET amount = mk_member_spend.amount + ?3",
        &params![customer, day, amount],
    )?;
    Ok(())
}

/// What the customer spent on the days in (`after_day`, `to_day`].
pub fn spend_between(tx: &mut dyn Tx, customer: &str, after_day: i64, to_day: i64) -> DbResult<i64> {
    tx.query_one("SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM mk_member_spend WHERE customer = ?1 AND day > ?2 AND day <= ?3", &params![customer, after_day, to_day])?.int(0)
}

fn ledger_of(text: &str) -> DbResult<super::points::Ledger> {
    serde_json::from_str(text).map_err(|e| DbError::corrupt(format!("a points ledger: {e}")))
}

/// The customer's points ledger (empty when they never had points).
pub fn points(tx: &mut dyn Tx, customer: &str) -> DbResult<super::points::Ledger> {
    tx.query_opt("SELECT ledger FROM mk_points WHERE customer = ?1", &params![customer])?.map(|r| ledger_of(&r.text(0)?)).transpose().map(Option::unwrap_or_default)
}

/// `points`, its row locked until the transaction ends (created first, so there is a row to
/// lock: two first earnings cannot both insert).
pub fn points_for_update(tx: &mut dyn Tx, customer: &str, now_ms: i64) -> DbResult<super::points::Ledger> {
    let empty = serde_json::to_string(&super::points::Ledger::default()).map_err(|e| DbError::corrupt(e.to_string()))?;
    tx.execute(
        "INSERT INTO mk_points (customer, ledger, balance, debt, next_expiry_ms, updated_ms) VALUES (?1, ?2, 0, 0, NULL, ?3) ON CONFLICT (customer) DO NOTHING",
        &params![customer, empty, now_ms],
    )?;
    ledger_of(&tx.query_one("SELECT ledger FROM mk_points WHERE customer = ?1 FOR UPDATE", &params![customer])?.text(0)?)
}

pub fn save_points(tx: &mut dyn Tx, customer: &str, ledger: &super::points::Ledger, now_ms: i64) -> DbResult<()> {
    let json = serde_json::to_string(ledger).map_err(|e| DbError::corrupt(e.to_string()))?;
    let next_expiry = ledger.lots.values().filter(|l| l.remaining > 0).map(|l| l.expires_ms).min();
    tx.execute(
        "UPDATE mk_points SET ledger = ?2, balance = ?3, debt = ?4, next_expiry_ms = ?5, updated_ms = ?6 WHERE customer = ?1",
        &params![customer, json, ledger.balance(), ledger.debt, next_expiry, now_ms],
    )?;
    Ok(())
}

/// Customers with points expiring by `now_ms`, at most `limit`.
pub fn points_due(tx: &mut dyn Tx, now_ms: i64, limit: u32) -> DbResult<Vec<String>> {
    tx.query("SELECT customer FROM mk_points WHERE next_expiry_ms IS NOT NULL AND next_expiry_ms <= ?1 ORDER BY next_expiry_ms, customer LIMIT ?2", &params![now_ms, limit])?
        .iter()
        .map(|r| r.text(0))
        .collect()
}

/// Every customer's points and debt: what the points liability should be.
pub fn points_outstanding(tx: &mut dyn Tx) -> DbResult<(i64, i64)> {
    let r = tx.query_one("SELECT CAST(COALESCE(SUM(balance), 0) AS BIGINT), CAST(COALESCE(SUM(debt), 0) AS BIGINT) FROM mk_points", &[])?;
    Ok((r.int(0)?, r.int(1)?))
}

const GROUP_BUY_COLUMNS: &str = "SELECT id, sku, price, size, window_ms, starts_ms, ends_ms, state, created_ms, updated_ms, max_qty FROM mk_group_buy";

fn group_buy_row(r: &Row) -> DbResult<super::groups::GroupBuy> {
    Ok(super::groups::GroupBuy {
        id: r.text(0)?,
        sku: Sku::parse(&r.text(1)?).map_err(|e| DbError::corrupt(e.to_string()))?,
        price: r.int(2)?,
        size: r.int(3)?,
        window_ms: r.int(4)?,
        starts_ms: r.int(5)?,
        ends_ms: r.int(6)?,
        state: r.text(7)?,
        created_ms: r.int(8)?,
        updated_ms: r.int(9)?,
        max_qty: r.int(10)?,
    })
}

pub fn insert_group_buy(tx: &mut dyn Tx, g: &super::groups::GroupBuy) -> DbResult<()> {
    tx.execute(
        "INSERT INTO mk_group_buy (id, sku, price, size, window_ms, starts_ms, ends_ms, state, created_ms, updated_ms, max_qty) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        &params![g.id.as_str(), g.sku.as_str(), g.price, g.size, g.window_ms, g.starts_ms, g.ends_ms, g.state.as_str(), g.created_ms, g.updated_ms, g.max_qty],
    )?;
    Ok(())
}

pub fn group_buy(tx: &mut dyn Tx, id: &str) -> DbResult<Option<super::groups::GroupBuy>> {
    tx.query_opt(&format!("{GROUP_BUY_COLUMNS} WHERE id = ?1"), &params![id])?.map(|r| group_buy_row(&r)).transpose()
}

pub fn group_buy_live_for(tx: &mut dyn Tx, sku: &Sku) -> DbResult<bool> {
    Ok(tx.query_opt("SELECT 1 FROM mk_group_buy WHERE sku = ?1 AND state = 'live'", &params![sku.as_str()])?.is_some())
}

pub fn list_group_buys(tx: &mut dyn Tx, limit: u32) -> DbResult<Vec<super::groups::GroupBuy>> {
    tx.query(&format!("{GROUP_BUY_COLUMNS} ORDER BY id LIMIT ?1"), &params![limit])?.iter().map(group_buy_row).collect()
}

pub fn end_group_buy(tx: &mut dyn Tx, id: &str, now_ms: i64) -> DbResult<()> {
    tx.execute("UPDATE mk_group_buy SET state = 'ended', updated_ms = ?2 WHERE id = ?1 AND state = 'live'", &params![id, now_ms])?;
    Ok(())
}

/// A new group of `offer` with its first member's seat taken; its id.
pub fn open_group(tx: &mut dyn Tx, offer: &str, now_ms: i64, deadline_ms: i64) -> DbResult<u64> {
    tx.query_one(
        "INSERT INTO mk_group (offer, size, opened_ms, deadline_ms, state, members, paid)
         SELECT id, size, ?2, ?3, 'open', 1, 0 FROM mk_group_buy WHERE id = ?1 RETURNING id",
        &params![offer, now_ms, deadline_ms],
    )?
    .uint(0)
}

const GROUP_COLUMNS: &str = "SELECT id, offer, size, opened_ms, deadline_ms, state, members, paid FROM mk_group";

/// A group with its members (those who left too), by order.
pub fn group(tx: &mut dyn Tx, id: u64) -> DbResult<Option<super::groups::Group>> {
    let Some(r) = tx.query_opt(&format!("{GROUP_COLUMNS} WHERE id = ?1"), &params![id])? else { return Ok(None) };
    let mut group = group_row(&r)?;
    group.orders = tx
        .query("SELECT order_id, customer, state FROM mk_group_member WHERE group_id = ?1 ORDER BY order_id", &params![id])?
        .iter()
        .map(|r| Ok(super::groups::GroupMember { order_id: r.uint(0)?, customer: r.text(1)?, state: r.text(2)? }))
        .collect::<DbResult<_>>()?;
    Ok(Some(group))
}

fn group_row(r: &Row) -> DbResult<super::groups::Group> {
    Ok(super::groups::Group {
        id: r.uint(0)?,
        offer: r.text(1)?,
        size: r.int(2)?,
        opened_ms: r.int(3)?,
        deadline_ms: r.int(4)?,
        state: r.text(5)?,
        members: r.int(6)?,
        paid: r.int(7)?,
        orders: Vec::new(),
    })
}

/// An offer's groups in `state` (all when None), the newest first, at most `limit`.
pub fn groups_of(tx: &mut dyn Tx, offer: &str, state: Option<&str>, limit: u32) -> DbResult<Vec<super::groups::Group>> {
    let rows = match state {
        Some(state) => tx.query(&format!("{GROUP_COLUMNS} WHERE offer = ?1 AND state = ?2 ORDER BY id DESC LIMIT ?3"), &params![offer, state, limit])?,
        None => tx.query(&format!("{GROUP_COLUMNS} WHERE offer = ?1 ORDER BY id DESC LIMIT ?2"), &params![offer, limit])?,
    };
    rows.iter().map(group_row).collect()
}

/// One more member, only while the group is open, before its deadline and not full.
pub fn take_seat(tx: &mut dyn Tx, id: u64, now_ms: i64) -> DbResult<bool> {
    Ok(tx.execute("UPDATE mk_group SET members = members + 1 WHERE id = ?1 AND state = 'open' AND deadline_ms > ?2 AND members < size", &params![id, now_ms])? == 1)
}

/// False when the customer is in the group already.
pub fn add_group_member(tx: &mut dyn Tx, group_id: u64, order_id: u64, customer: &str, now_ms: i64) -> DbResult<bool> {
    let added = tx.execute(
        "INSERT INTO mk_group_member (order_id, group_id, customer, state, joined_ms) VALUES (?1, ?2, ?3, 'unpaid', ?4) ON CONFLICT DO NOTHING",
        &params![order_id, group_id, customer, now_ms],
    )?;
    Ok(added == 1)
}

/// The group an order is a member of (not left).
pub fn member_group(tx: &mut dyn Tx, order_id: u64) -> DbResult<Option<u64>> {
    tx.query_opt("SELECT group_id FROM mk_group_member WHERE order_id = ?1 AND state <> 'left'", &params![order_id])?.map(|r| r.uint(0)).transpose()
}

/// The member paid: counted once, and only while its group is open (a closed group's member
/// stays unpaid: its order is cancelled with the group).
pub fn member_paid(tx: &mut dyn Tx, order_id: u64) -> DbResult<bool> {
    let counted = tx.execute(
        "UPDATE mk_group SET paid = paid + 1 WHERE state = 'open' AND id = (SELECT group_id FROM mk_group_member WHERE order_id = ?1 AND state = 'unpaid')",
        &params![order_id],
    )?;
    if counted != 1 {
        return Ok(false);
    }
    tx.execute("UPDATE mk_group_member SET state = 'paid' WHERE order_id = ?1", &params![order_id])?;
    Ok(true)
}

/// Locks the row of the group the order is a member of, and says which (none when it is
/// none's).
pub fn lock_group_of(tx: &mut dyn Tx, order_id: u64) -> DbResult<Option<u64>> {
    tx.query_opt("SELECT id FROM mk_group WHERE id = (SELECT group_id FROM mk_group_member WHERE order_id = ?1 AND state <> 'left') FOR UPDATE", &params![order_id])?
        .map(|r| r.uint(0))
        .transpose()
}

/// Whether the customer is a member of an open group of the offer.
pub fn in_open_group(tx: &mut dyn Tx, offer: &str, customer: &str) -> DbResult<bool> {
    Ok(tx
        .query_opt(
            "SELECT 1 FROM mk_group_member m JOIN mk_group g ON g.id = m.group_id WHERE g.offer = ?1 AND g.state = 'open' AND m.customer = ?2 AND m.state <> 'left' LIMIT 1",
            &params![offer, customer],
        )?
        .is_some())
}

/// The group forms when its paid members make its size, before its deadline.
pub fn form_if_full(tx: &mut dyn Tx, id: u64, now_ms: i64) -> DbResult<bool> {
    Ok(tx.execute("UPDATE mk_group SET state = 'formed', closed_ms = ?2 WHERE id = ?1 AND state = 'open' AND paid >= size AND deadline_ms > ?2", &params![id, now_ms])? == 1)
}

/// The member's order ended while its group was open: its seat (and its payment) come off.
pub fn leave_group(tx: &mut dyn Tx, order_id: u64) -> DbResult<()> {
    let Some(r) = tx.query_opt("SELECT group_id, state FROM mk_group_member WHERE order_id = ?1 AND state <> 'left'", &params![order_id])? else { return Ok(()) };
    let (group_id, was_paid) = (r.uint(0)?, r.text(1)? == "paid");
    let freed = tx.execute(
        "UPDATE mk_group SET members = members - 1, paid = paid - ?2 WHERE id = ?1 AND state = 'open'",
        &params![group_id, i64::from(was_paid)],
    )?;
    if freed == 1 {
        tx.execute("UPDATE mk_group_member SET state = 'left' WHERE order_id = ?1", &params![order_id])?;
    }
    Ok(())
}

pub fn groups_due(tx: &mut dyn Tx, now_ms: i64, limit: u32) -> DbResult<Vec<u64>> {
    tx.query("SELECT id FROM mk_group WHERE state = 'open' AND deadline_ms <= ?1 ORDER BY deadline_ms, id LIMIT ?2", &params![now_ms, limit])?.iter().map(|r| r.uint(0)).collect()
}

pub fn fail_group(tx: &mut dyn Tx, id: u64, now_ms: i64) -> DbResult<bool> {
    Ok(tx.execute("UPDATE mk_group SET state = 'failed', closed_ms = ?2 WHERE id = ?1 AND state = 'open'", &params![id, now_ms])? == 1)
}

/// Campaign `campaign` touched `customer` (`link` or `send`) at `at_ms`; the customer's touches
/// older than any window (31 days) go.
pub fn add_touch(tx: &mut dyn Tx, customer: &str, campaign: &str, kind: &str, at_ms: i64) -> DbResult<()> {
    tx.execute("INSERT INTO mk_touch (customer, campaign, kind, at_ms) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING", &params![customer, campaign, kind, at_ms])?;
    tx.execute("DELETE FROM mk_touch WHERE customer = ?1 AND at_ms < ?2", &params![customer, at_ms - 31 * tote_shared::calendar::DAY_MS])?;
    Ok(())
}

/// The customer's touches in [`from_ms`, `to_ms`], at most 100 (the latest).
pub fn touches_between(tx: &mut dyn Tx, customer: &str, from_ms: i64, to_ms: i64) -> DbResult<Vec<super::campaigns::Touch>> {
    tx.query(
        "SELECT campaign, kind, at_ms FROM mk_touch WHERE customer = ?1 AND at_ms >= ?2 AND at_ms <= ?3 ORDER BY at_ms DESC LIMIT 100",
        &params![customer, from_ms, to_ms],
    )?
        .iter()
        .map(|r| Ok(super::campaigns::Touch { campaign: r.text(0)?, kind: r.text(1)?, at_ms: r.int(2)? }))
        .collect()
}

/// Drops an order's attribution by touch: a coupon of a campaign decides it.
pub fn drop_touched(tx: &mut dyn Tx, order_id: u64) -> DbResult<()> {
    tx.execute("DELETE FROM mk_attribution WHERE order_id = ?1 AND state = 'touched'", &params![order_id])?;
    Ok(())
}

/// One send list as a delivery.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct SendBatch {
    pub id: u64,
    pub campaign: String,
    /// Customers on it.
    pub sends: i64,
    /// `pending`, `delivered`, `failed` or `export`.
    pub state: String,
    pub attempts: i64,
    pub next_at_ms: i64,
    pub last_error: Option<String>,
    pub created_ms: i64,
    pub delivered_ms: Option<i64>,
}

pub fn insert_send_batch(tx: &mut dyn Tx, campaign: &str, body: &str, sends: i64, state: &str, now_ms: i64) -> DbResult<u64> {
    tx.query_one(
        "INSERT INTO mk_send_batch (campaign, body, sends, state, next_at_ms, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?5) RETURNING id",
        &params![campaign, body, sends, state, now_ms],
    )?
    .uint(0)
}

const BATCH_COLUMNS: &str = "SELECT id, campaign, sends, state, attempts, next_at_ms, last_error, created_ms, delivered_ms FROM mk_send_batch";

fn batch_row(r: &Row) -> DbResult<SendBatch> {
    Ok(SendBatch {
        id: r.uint(0)?,
        campaign: r.text(1)?,
        sends: r.int(2)?,
        state: r.text(3)?,
        attempts: r.int(4)?,
        next_at_ms: r.int(5)?,
        last_error: r.opt_text(6)?,
        created_ms: r.int(7)?,
        delivered_ms: r.opt_int(8)?,
    })
}

/// A campaign's deliveries, the oldest first, at most `limit`.
pub fn send_batches(tx: &mut dyn Tx, campaign: &str, limit: u32) -> DbResult<Vec<SendBatch>> {
    tx.query(&format!("{BATCH_COLUMNS} WHERE campaign = ?1 ORDER BY id LIMIT ?2"), &params![campaign, limit])?.iter().map(batch_row).collect()
}

/// Deliveries due by `now_ms`, with their bodies, at most `limit`.
pub fn due_send_batches(tx: &mut dyn Tx, now_ms: i64, limit: u32) -> DbResult<Vec<(SendBatch, String)>> {
    let columns = BATCH_COLUMNS.replace(" FROM mk_send_batch", ", body FROM mk_send_batch");
    tx.query(&format!("{columns} WHERE state = 'pending' AND next_at_ms <= ?1 ORDER BY next_at_ms, id LIMIT ?2"), &params![now_ms, limit])?
    .iter()
    .map(|r| Ok((batch_row(r)?, r.text(9)?)))
    .collect()
}

/// What one attempt came to: `delivered`, or still `pending` (next at `next_at_ms`), or
/// `failed`; counted once per attempt, only while pending. The last error stays for HQ to
/// read after a later attempt succeeds.
pub fn attempted(tx: &mut dyn Tx, id: u64, state: &str, error: Option<&str>, next_at_ms: i64, now_ms: i64) -> DbResult<()> {
    tx.execute(
        "UPDATE mk_send_batch SET state = ?2, attempts = attempts + 1, last_error = COALESCE(?3, last_error), next_at_ms = ?4,
             delivered_ms = CASE WHEN ?2 = 'delivered' THEN ?5 ELSE delivered_ms END
         WHERE id = ?1 AND state = 'pending'",
        &params![id, state, error, next_at_ms, now_ms],
    )?;
    Ok(())
}
