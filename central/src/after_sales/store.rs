//! The `as_request`, `as_request_line` and `as_policy` tables. One read across systems,
//! documented: a customer's return rate divides the units of their requests by the units of
//! their shipped orders (`orders`, `order_line`), one statement instead of a copy of them.

use super::{Checked, Kind, ReturnMethod, ReturnPolicy, Reason, AfterSalesRequest, AfterSalesLine, RequestState};
use crate::db::{DbError, DbResult, Row, Tx};
use crate::params;
use crate::warehouses::store::code;
use tote_shared::{Qty, Sku};

fn corrupt(e: impl std::fmt::Display) -> DbError {
    DbError::corrupt(e.to_string())
}

/// Inserts the request and its lines; returns its id.
pub fn insert(tx: &mut dyn Tx, r: &AfterSalesRequest) -> DbResult<u64> {
    let evidence = serde_json::to_string(&r.evidence).map_err(corrupt)?;
    let id = tx
        .query_one(
            "INSERT INTO as_request (order_id, kind, reason, note, evidence, state, decided_by, decision_note, amount_minor, customer,
                                     created_ms, updated_ms, return_method)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11, ?12) RETURNING id",
            &params![
                r.order_id,
                r.kind.as_str(),
                r.reason.as_str(),
                r.note.as_str(),
                evidence,
                r.state.as_str(),
                r.decided_by.as_deref(),
                r.decision_note.as_str(),
                r.amount_minor,
                r.customer.as_deref(),
                r.created_ms,
                r.return_method.as_str()
            ],
        )?
        .uint(0)?;
    for (n, l) in r.lines.iter().enumerate() {
        tx.execute(
            "INSERT INTO as_request_line (request_id, line_no, sku, qty, unit_price_minor, exchange_sku, price_difference) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            &params![id, n, l.sku.as_str(), l.qty.as_i64(), l.unit_price, l.exchange_sku.as_ref().map(|s| s.as_str()), l.price_difference],
        )?;
    }
    Ok(id)
}

/// Writes what a step changed on the request (not its lines: `record_qc`).
pub fn update(tx: &mut dyn Tx, r: &AfterSalesRequest) -> DbResult<()> {
    tx.execute(
        "UPDATE as_request SET state = ?2, decided_by = ?3, decision_note = ?4, warehouse = ?5, rma = ?6, replacement_order = ?7,
                               refund_id = ?8, updated_ms = ?9 WHERE id = ?1",
        &params![
            r.id,
            r.state.as_str(),
            r.decided_by.as_deref(),
            r.decision_note.as_str(),
            r.warehouse.as_ref().map(|w| w.as_str()),
            r.rma.as_deref(),
            r.replacement_order,
            r.refund_id,
            r.updated_ms
        ],
    )?;
    Ok(())
}

/// Narrows the lines to what HQ approved (a partial approval): units per SKU, lines not
/// named dropped. The amount follows.
pub fn narrow(tx: &mut dyn Tx, r: &AfterSalesRequest) -> DbResult<()> {
    tx.execute("DELETE FROM as_request_line WHERE request_id = ?1", &params![r.id])?;
    for (n, l) in r.lines.iter().enumerate() {
        tx.execute(
            "INSERT INTO as_request_line (request_id, line_no, sku, qty, unit_price_minor, exchange_sku, price_difference) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            &params![r.id, n, l.sku.as_str(), l.qty.as_i64(), l.unit_price, l.exchange_sku.as_ref().map(|s| s.as_str()), l.price_difference],
        )?;
    }
    tx.execute("UPDATE as_request SET amount_minor = ?2 WHERE id = ?1", &params![r.id, r.amount_minor])?;
    Ok(())
}

pub fn record_qc(tx: &mut dyn Tx, id: u64, checked: &[Checked]) -> DbResult<()> {
    for c in checked {
        tx.execute(
            "UPDATE as_request_line SET passed = ?3, failed = ?4, fail_reason = ?5 WHERE request_id = ?1 AND sku = ?2",
            &params![id, c.sku.as_str(), c.passed, c.failed, c.fail_reason.as_str()],
        )?;
    }
    Ok(())
}

const COLUMNS: &str = "SELECT id, order_id, kind, reason, note, evidence, state, decided_by, decision_note, warehouse, rma, replacement_order,
                              refund_id, amount_minor, customer, created_ms, updated_ms, return_method FROM as_request";

/// The request, or None. `lock`: hold its row until the transaction ends (PostgreSQL).
pub fn load(tx: &mut dyn Tx, id: u64, lock: bool) -> DbResult<Option<AfterSalesRequest>> {
    one(tx, &format!("{COLUMNS} WHERE id = ?1{}", if lock { " FOR UPDATE" } else { "" }), &params![id])
}

pub fn by_rma(tx: &mut dyn Tx, rma: &str, lock: bool) -> DbResult<Option<AfterSalesRequest>> {
    one(tx, &format!("{COLUMNS} WHERE rma = ?1{}", if lock { " FOR UPDATE" } else { "" }), &params![rma])
}

/// The request a refund was asked for, locked.
pub fn by_refund(tx: &mut dyn Tx, refund_id: u64) -> DbResult<Option<AfterSalesRequest>> {
    one(tx, &format!("{COLUMNS} WHERE refund_id = ?1 FOR UPDATE"), &params![refund_id])
}

/// The exchange a replacement order belongs to, locked.
pub fn by_replacement(tx: &mut dyn Tx, order_id: u64) -> DbResult<Option<AfterSalesRequest>> {
    one(tx, &format!("{COLUMNS} WHERE replacement_order = ?1 FOR UPDATE"), &params![order_id])
}

/// The exchange a replacement order belongs to, not locked (to lock its order first).
pub fn of_replacement(tx: &mut dyn Tx, order_id: u64) -> DbResult<Option<AfterSalesRequest>> {
    one(tx, &format!("{COLUMNS} WHERE replacement_order = ?1"), &params![order_id])
}

pub fn for_order(tx: &mut dyn Tx, order_id: u64) -> DbResult<Vec<AfterSalesRequest>> {
    many(tx, &format!("{COLUMNS} WHERE order_id = ?1 ORDER BY id"), &params![order_id])
}

/// Newest first; `state` filters.
pub fn list(tx: &mut dyn Tx, state: Option<RequestState>, limit: u32) -> DbResult<Vec<AfterSalesRequest>> {
    let state = state.map(|s| s.as_str());
    many(tx, &format!("{COLUMNS} WHERE (CAST(?1 AS TEXT) IS NULL OR state = ?1) ORDER BY id DESC LIMIT ?2"), &params![state, limit])
}

/// Approved returns still waiting for their goods, approved (last changed) at or before
/// `before_ms`, oldest first.
pub fn awaiting_return_before(tx: &mut dyn Tx, before_ms: i64, limit: u32) -> DbResult<Vec<u64>> {
    let rows = tx.query(
        "SELECT id FROM as_request WHERE state = 'awaiting_return' AND updated_ms <= ?1 ORDER BY updated_ms, id LIMIT ?2",
        &params![before_ms, limit],
    )?;
    rows.iter().map(|r| r.uint(0)).collect()
}

/// Units of each SKU of the order that requests hold (every request but rejected and withdrawn ones).
pub fn held_units(tx: &mut dyn Tx, order_id: u64) -> DbResult<Vec<(Sku, i64)>> {
    let rows = tx.query(
        "SELECT l.sku, CAST(SUM(l.qty) AS BIGINT) FROM as_request_line l JOIN as_request r ON r.id = l.request_id
         WHERE r.order_id = ?1 AND r.state NOT IN ('rejected', 'withdrawn') GROUP BY l.sku",
        &params![order_id],
    )?;
    rows.iter().map(|r| Ok((Sku::parse(&r.text(0)?).map_err(corrupt)?, r.int(1)?))).collect()
}

/// Whether the order has a request that is not over yet (the order may not complete).
pub fn any_open(tx: &mut dyn Tx, order_id: u64) -> DbResult<bool> {
    Ok(tx
        .query_opt(
            "SELECT 1 FROM as_request WHERE order_id = ?1 AND state IN ('review', 'awaiting_return', 'refunding', 'replacing', 'attention') LIMIT 1",
            &params![order_id],
        )?
        .is_some())
}

/// The customer's units in return and exchange requests (not rejected) as a share of the
/// units of their orders that shipped (of a split order, the parts that left), in percent; None before any shipped. `customer_key`:
/// the customer as intake keys them (`orders::checks::customer_key`).
pub fn return_rate_pct(tx: &mut dyn Tx, customer: &str, customer_key: &str) -> DbResult<Option<u32>> {
    let bought = tx
        .query_one(
            "SELECT CAST(COALESCE(SUM(l.qty), 0) AS BIGINT) FROM orders o JOIN order_line l ON l.order_id = o.id
             LEFT JOIN order_part p ON p.order_id = o.id AND p.part_no = l.part_no
             WHERE o.customer_key = ?1 AND o.state IN ('shipped', 'delivered', 'completed', 'partly_shipped')
               AND COALESCE(p.state, o.state) IN ('shipped', 'delivered', 'completed')",
            &params![customer_key],
        )?
        .int(0)?;
    if bought == 0 {
        return Ok(None);
    }
    let returned = tx
        .query_one(
            "SELECT CAST(COALESCE(SUM(l.qty), 0) AS BIGINT) FROM as_request r JOIN as_request_line l ON l.request_id = r.id
             WHERE r.customer = ?1 AND r.kind <> 'refund_only' AND r.state NOT IN ('rejected', 'withdrawn')",
            &params![customer],
        )?
        .int(0)?;
    Ok(Some(u32::try_from(returned.saturating_mul(100) / bought).unwrap_or(u32::MAX)))
}

pub fn saved_policy(tx: &mut dyn Tx) -> DbResult<Option<ReturnPolicy>> {
    let Some(row) = tx.query_opt("SELECT body FROM as_policy WHERE id = 1", &[])? else {
        return Ok(None);
    };
    serde_json::from_str(&row.text(0)?).map(Some).map_err(corrupt)
}

pub fn save_policy(tx: &mut dyn Tx, policy: &ReturnPolicy, now_ms: i64) -> DbResult<()> {
    let body = serde_json::to_string(policy).map_err(corrupt)?;
    tx.execute(
        "INSERT INTO as_policy (id, body, updated_ms) VALUES (1, ?1, ?2) ON CONFLICT (id) DO UPDATE SET body = ?1, updated_ms = ?2",
        &params![body, now_ms],
    )?;
    Ok(())
}

fn one(tx: &mut dyn Tx, sql: &str, params: &[crate::db::Value]) -> DbResult<Option<AfterSalesRequest>> {
    match tx.query_opt(sql, params)? {
        Some(row) => Ok(Some(request(tx, &row)?)),
        None => Ok(None),
    }
}

fn many(tx: &mut dyn Tx, sql: &str, params: &[crate::db::Value]) -> DbResult<Vec<AfterSalesRequest>> {
    let rows = tx.query(sql, params)?;
    rows.iter().map(|row| request(tx, row)).collect()
}

fn request(tx: &mut dyn Tx, r: &Row) -> DbResult<AfterSalesRequest> {
    let id = r.uint(0)?;
    let (kind, reason, state, method) = (r.text(2)?, r.text(3)?, r.text(6)?, r.text(17)?);
    let (Some(k), Some(why), Some(s), Some(m)) = (Kind::parse(&kind), Reason::parse(&reason), RequestState::parse(&state), ReturnMethod::parse(&method)) else {
        return Err(corrupt(format!("request {id}: {kind} / {reason} / {state} / {method}")));
    };
    Ok(AfterSalesRequest {
        id,
        order_id: r.uint(1)?,
        kind: k,
        reason: why,
        note: r.text(4)?,
        evidence: serde_json::from_str(&r.text(5)?).map_err(corrupt)?,
        state: s,
        decided_by: r.opt_text(7)?,
        decision_note: r.text(8)?,
        warehouse: r.opt_text(9)?.as_deref().map(code).transpose()?,
        rma: r.opt_text(10)?,
        replacement_order: r.opt_int(11)?.map(|v| v as u64),
        refund_id: r.opt_int(12)?.map(|v| v as u64),
        amount_minor: r.int(13)?,
        customer: r.opt_text(14)?,
        created_ms: r.int(15)?,
        updated_ms: r.int(16)?,
        return_method: m,
        return_shipment: None,
        price_difference_minor: 0,
        lines: lines(tx, id)?,
    })
    .map(|mut r| {
        r.price_difference_minor = super::difference(&r.lines);
        r
    })
}

fn lines(tx: &mut dyn Tx, id: u64) -> DbResult<Vec<AfterSalesLine>> {
    let rows = tx.query(
        "SELECT sku, qty, unit_price_minor, exchange_sku, passed, failed, fail_reason, price_difference FROM as_request_line WHERE request_id = ?1 ORDER BY line_no",
        &params![id],
    )?;
    rows.iter()
        .map(|r| {
            Ok(AfterSalesLine {
                sku: Sku::parse(&r.text(0)?).map_err(corrupt)?,
                qty: Qty::parse(r.int(1)?).map_err(corrupt)?,
                unit_price: r.int(2)?,
                exchange_sku: r.opt_text(3)?.map(|s| Sku::parse(&s)).transpose().map_err(corrupt)?,
                passed: r.int(4)?,
                failed: r.int(5)?,
                fail_reason: r.text(6)?,
                price_difference: r.int(7)?,
            })
        })
        .collect()
}
