//! The `payment`, `payment_refund` and `payment_notification` tables. Nothing else reads or
//! writes them.

use super::channel::PayMethod;
use super::{Payment, PaymentState, RefundLine};
use crate::db::{DbError, DbResult, Row, Tx};
use crate::params;
use serde::{Deserialize, Serialize};
use tote_shared::payment::ChannelKind;

fn corrupt(e: impl std::fmt::Display) -> DbError {
    DbError::corrupt(e.to_string())
}

const PAYMENT_COLUMNS: &str = "SELECT id, order_id, channel, out_trade_no, channel_ref, amount_minor, currency, state, refunded_minor,
                                      pay_url, risk_rule, created_ms, updated_ms FROM payment";

fn payment(r: &Row) -> DbResult<Payment> {
    let channel = r.text(2)?;
    let state = r.text(7)?;
    Ok(Payment {
        id: r.uint(0)?,
        order_id: r.uint(1)?,
        channel: ChannelKind::parse(&channel).ok_or_else(|| corrupt(format!("channel {channel}")))?,
        out_trade_no: r.text(3)?,
        channel_ref: r.opt_text(4)?,
        amount_minor: r.int(5)?,
        currency: r.text(6)?,
        state: PaymentState::parse(&state).ok_or_else(|| corrupt(format!("payment state {state}")))?,
        refunded_minor: r.int(8)?,
        pay_url: r.opt_text(9)?,
        risk_rule: r.opt_text(10)?,
        created_at_ms: r.int(11)?,
        updated_at_ms: r.int(12)?,
    })
}

pub struct NewPayment<'a> {
    pub order_id: u64,
    pub channel: ChannelKind,
    pub amount_minor: i64,
    pub currency: &'a str,
    pub state: PaymentState,
    pub method: &'a PayMethod,
    pub risk_rule: Option<&'a str>,
    pub now_ms: i64,
}

/// Inserts a payment; its out_trade_no is `T<order>-<n>` (n counts the order's payments).
pub fn insert(tx: &mut dyn Tx, new: &NewPayment<'_>) -> DbResult<Payment> {
    let n = tx.query_one("SELECT COUNT(*) FROM payment WHERE order_id = ?1", &params![new.order_id])?.int(0)? + 1;
    let out_trade_no = format!("T{:08}_{n}", new.order_id);
    let method = serde_json::to_string(new.method).map_err(corrupt)?;
    tx.execute(
        "INSERT INTO payment (order_id, channel, out_trade_no, amount_minor, currency, state, pay_method, risk_rule, created_ms, updated_ms, checked_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?9)",
        &params![new.order_id, new.channel.as_str(), out_trade_no.as_str(), new.amount_minor, new.currency, new.state.as_str(), method, new.risk_rule, new.now_ms],
    )?;
    by_out_trade_no(tx, &out_trade_no, false)?.ok_or_else(|| corrupt("inserted payment not found"))
}

pub fn by_id(tx: &mut dyn Tx, id: u64) -> DbResult<Option<Payment>> {
    tx.query_opt(&format!("{PAYMENT_COLUMNS} WHERE id = ?1"), &params![id])?.as_ref().map(payment).transpose()
}

/// `lock`: hold the row until the transaction ends (PostgreSQL).
pub fn by_out_trade_no(tx: &mut dyn Tx, out_trade_no: &str, lock: bool) -> DbResult<Option<Payment>> {
    let mut sql = format!("{PAYMENT_COLUMNS} WHERE out_trade_no = ?1");
    if lock {
        sql.push_str(" FOR UPDATE");
    }
    tx.query_opt(&sql, &params![out_trade_no])?.as_ref().map(payment).transpose()
}

pub fn for_order(tx: &mut dyn Tx, order_id: u64) -> DbResult<Vec<Payment>> {
    let rows = tx.query(&format!("{PAYMENT_COLUMNS} WHERE order_id = ?1 ORDER BY id"), &params![order_id])?;
    rows.iter().map(payment).collect()
}

pub fn method(tx: &mut dyn Tx, id: u64) -> DbResult<PayMethod> {
    let raw = tx.query_one("SELECT pay_method FROM payment WHERE id = ?1", &params![id])?.text(0)?;
    serde_json::from_str(&raw).map_err(corrupt)
}

pub fn set_state(tx: &mut dyn Tx, id: u64, state: PaymentState, channel_ref: Option<&str>, now_ms: i64) -> DbResult<()> {
    tx.execute(
        "UPDATE payment SET state = ?2, channel_ref = COALESCE(?3, channel_ref), updated_ms = ?4, checked_ms = ?4,
                            succeeded_ms = CASE WHEN ?2 = 'succeeded' THEN ?4 ELSE succeeded_ms END WHERE id = ?1",
        &params![id, state.as_str(), channel_ref, now_ms],
    )?;
    Ok(())
}

/// Moves a payment that is still open (or declined) to closing; false when it moved on
/// meanwhile (a success committed first).
pub fn start_closing(tx: &mut dyn Tx, id: u64, now_ms: i64) -> DbResult<bool> {
    let changed = tx.execute(
        "UPDATE payment SET state = 'closing', updated_ms = ?2, checked_ms = 0 WHERE id = ?1 AND state IN ('review', 'intent', 'pending', 'failed')",
        &params![id, now_ms],
    )?;
    Ok(changed == 1)
}

/// The channel accepted the create call: intent → pending, unless news got here first.
pub fn created(tx: &mut dyn Tx, id: u64, channel_ref: Option<&str>, pay_url: Option<&str>, now_ms: i64) -> DbResult<()> {
    tx.execute(
        "UPDATE payment SET channel_ref = COALESCE(channel_ref, ?2), pay_url = COALESCE(pay_url, ?3), checked_ms = ?4,
                            state = CASE WHEN state = 'intent' THEN 'pending' ELSE state END,
                            updated_ms = CASE WHEN state = 'intent' THEN ?4 ELSE updated_ms END
         WHERE id = ?1",
        &params![id, channel_ref, pay_url, now_ms],
    )?;
    Ok(())
}

/// We asked the channel (or tried to) at `now_ms`.
pub fn checked(tx: &mut dyn Tx, id: u64, now_ms: i64) -> DbResult<()> {
    tx.execute("UPDATE payment SET checked_ms = ?2 WHERE id = ?1", &params![id, now_ms])?;
    Ok(())
}

/// This payment's success paid its order.
pub fn mark_paid_order(tx: &mut dyn Tx, id: u64) -> DbResult<()> {
    tx.execute("UPDATE payment SET paid_order = 1 WHERE id = ?1", &params![id])?;
    Ok(())
}

/// Whether this payment's success paid its order.
pub fn paid_order(tx: &mut dyn Tx, id: u64) -> DbResult<bool> {
    Ok(tx.query_one("SELECT paid_order FROM payment WHERE id = ?1", &params![id])?.int(0)? == 1)
}

pub fn add_refunded(tx: &mut dyn Tx, id: u64, amount_minor: i64, now_ms: i64) -> DbResult<()> {
    tx.execute("UPDATE payment SET refunded_minor = refunded_minor + ?2, updated_ms = ?3 WHERE id = ?1", &params![id, amount_minor, now_ms])?;
    Ok(())
}

/// Payments the dispatcher must call the channel about: creates never confirmed, pending
/// ones silent for too long, and ones to close. (state, out_trade_no) of each.
pub fn due(tx: &mut dyn Tx, intent_before_ms: i64, pending_before_ms: i64, limit: u32) -> DbResult<Vec<Payment>> {
    let rows = tx.query(
        &format!(
            "{PAYMENT_COLUMNS} WHERE (state IN ('intent', 'closing') AND checked_ms < ?1) OR (state = 'pending' AND checked_ms < ?2)
             ORDER BY checked_ms LIMIT ?3"
        ),
        &params![intent_before_ms, pending_before_ms, limit],
    )?;
    rows.iter().map(payment).collect()
}

/// Payments still open for an order (to close when the order ends).
pub fn open_for_order(tx: &mut dyn Tx, order_id: u64) -> DbResult<Vec<Payment>> {
    Ok(for_order(tx, order_id)?.into_iter().filter(|p| p.state.is_open()).collect())
}

// --- refunds --------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefundState {
    Requested,
    Processing,
    Succeeded,
    Failed,
}

impl RefundState {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundState::Requested => "requested",
            RefundState::Processing => "processing",
            RefundState::Succeeded => "succeeded",
            RefundState::Failed => "failed",
        }
    }

    fn parse(raw: &str) -> Option<RefundState> {
        use RefundState::*;
        [Requested, Processing, Succeeded, Failed].into_iter().find(|s| s.as_str() == raw)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Refund {
    pub id: u64,
    pub payment_id: u64,
    pub out_refund_no: String,
    pub amount_minor: i64,
    pub lines: Vec<RefundLine>,
    pub reason: String,
    pub state: RefundState,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

const REFUND_COLUMNS: &str = "SELECT id, payment_id, out_refund_no, amount_minor, lines, reason, state, created_ms, updated_ms FROM payment_refund";

fn refund(r: &Row) -> DbResult<Refund> {
    let state = r.text(6)?;
    Ok(Refund {
        id: r.uint(0)?,
        payment_id: r.uint(1)?,
        out_refund_no: r.text(2)?,
        amount_minor: r.int(3)?,
        lines: serde_json::from_str(&r.text(4)?).map_err(corrupt)?,
        reason: r.text(5)?,
        state: RefundState::parse(&state).ok_or_else(|| corrupt(format!("refund state {state}")))?,
        created_at_ms: r.int(7)?,
        updated_at_ms: r.int(8)?,
    })
}

/// Inserts a refund request; its out_refund_no is `R<payment out_trade_no>-<n>`.
pub fn insert_refund(tx: &mut dyn Tx, payment: &Payment, lines: &[RefundLine], amount_minor: i64, reason: &str, now_ms: i64) -> DbResult<Refund> {
    let n = tx.query_one("SELECT COUNT(*) FROM payment_refund WHERE payment_id = ?1", &params![payment.id])?.int(0)? + 1;
    let out_refund_no = format!("R{}_{n}", payment.out_trade_no.trim_start_matches('T'));
    let json = serde_json::to_string(lines).map_err(corrupt)?;
    tx.execute(
        "INSERT INTO payment_refund (payment_id, out_refund_no, amount_minor, lines, reason, state, created_ms, updated_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, 'requested', ?6, ?6)",
        &params![payment.id, out_refund_no.as_str(), amount_minor, json, reason, now_ms],
    )?;
    refund_by_number(tx, &out_refund_no, false)?.ok_or_else(|| corrupt("inserted refund not found"))
}

pub fn refund_by_number(tx: &mut dyn Tx, out_refund_no: &str, lock: bool) -> DbResult<Option<Refund>> {
    let mut sql = format!("{REFUND_COLUMNS} WHERE out_refund_no = ?1");
    if lock {
        sql.push_str(" FOR UPDATE");
    }
    tx.query_opt(&sql, &params![out_refund_no])?.as_ref().map(refund).transpose()
}

pub fn refunds_for_payment(tx: &mut dyn Tx, payment_id: u64) -> DbResult<Vec<Refund>> {
    let rows = tx.query(&format!("{REFUND_COLUMNS} WHERE payment_id = ?1 ORDER BY id"), &params![payment_id])?;
    rows.iter().map(refund).collect()
}

pub fn set_refund_state(tx: &mut dyn Tx, id: u64, state: RefundState, now_ms: i64) -> DbResult<()> {
    tx.execute("UPDATE payment_refund SET state = ?2, updated_ms = ?3 WHERE id = ?1", &params![id, state.as_str(), now_ms])?;
    Ok(())
}

/// Refunds to send (requested, not called since `requested_before_ms`) or to ask about again
/// (processing, not called since `processing_before_ms`).
pub fn due_refunds(tx: &mut dyn Tx, requested_before_ms: i64, processing_before_ms: i64, limit: u32) -> DbResult<Vec<Refund>> {
    let rows = tx.query(
        &format!(
            "{REFUND_COLUMNS} WHERE (state = 'requested' AND checked_ms < ?1) OR (state = 'processing' AND checked_ms < ?2) ORDER BY checked_ms LIMIT ?3"
        ),
        &params![requested_before_ms, processing_before_ms, limit],
    )?;
    rows.iter().map(refund).collect()
}

/// We called (or tried to call) the channel about a refund at `now_ms`.
pub fn refund_checked(tx: &mut dyn Tx, id: u64, now_ms: i64) -> DbResult<()> {
    tx.execute("UPDATE payment_refund SET checked_ms = ?2 WHERE id = ?1", &params![id, now_ms])?;
    Ok(())
}

// --- notifications --------------------------------------------------------------------------

/// Records a notification; false when it was applied before (a repeat delivery).
pub fn first_delivery(tx: &mut dyn Tx, channel: ChannelKind, notification_id: &str, subject: &str, now_ms: i64) -> DbResult<bool> {
    let inserted = tx.execute(
        "INSERT INTO payment_notification (channel, notification_id, subject, received_ms) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (channel, notification_id) DO NOTHING",
        &params![channel.as_str(), notification_id, subject, now_ms],
    )?;
    Ok(inserted == 1)
}

/// Payments per state, for /metrics.
pub fn counts_by_state(tx: &mut dyn Tx) -> DbResult<Vec<(String, String, i64)>> {
    let rows = tx.query("SELECT channel, state, COUNT(*) FROM payment GROUP BY channel, state ORDER BY channel, state", &[])?;
    rows.iter().map(|r| Ok((r.text(0)?, r.text(1)?, r.int(2)?))).collect()
}

// --- risk -----------------------------------------------------------------------------------

use tote_shared::payment::risk::{AttemptStatus, Decision, Outcome, PaymentAttempt, RiskRules, StoredAttempt};

fn outcome_str(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Allow => "allow",
        Outcome::Review => "review",
        Outcome::Block => "block",
    }
}

fn status_str(status: AttemptStatus) -> &'static str {
    match status {
        AttemptStatus::Pending => "pending",
        AttemptStatus::Succeeded => "succeeded",
        AttemptStatus::Declined => "declined",
        AttemptStatus::Blocked => "blocked",
    }
}

fn parse_status(raw: &str) -> DbResult<AttemptStatus> {
    Ok(match raw {
        "pending" => AttemptStatus::Pending,
        "succeeded" => AttemptStatus::Succeeded,
        "declined" => AttemptStatus::Declined,
        "blocked" => AttemptStatus::Blocked,
        other => return Err(corrupt(format!("risk status {other}"))),
    })
}

/// A decision as stored and shown to HQ.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RiskDecisionRow {
    pub attempt_id: u64,
    pub at_ms: i64,
    pub order_id: u64,
    pub payment_id: Option<u64>,
    pub user: String,
    pub amount_minor: i64,
    pub outcome: String,
    /// The rule that decided; none when no rule matched.
    pub rule: Option<String>,
    pub reason: String,
    pub status: String,
}

pub fn insert_decision(
    tx: &mut dyn Tx,
    attempt_id: u64,
    order_id: u64,
    payment_id: Option<u64>,
    attempt: &PaymentAttempt,
    decision: &Decision,
) -> DbResult<()> {
    let status = if decision.outcome == Outcome::Block { AttemptStatus::Blocked } else { AttemptStatus::Pending };
    tx.execute(
        "INSERT INTO risk_decision (attempt_id, at_ms, order_id, payment_id, attempt, outcome, rule, reason, status)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        &params![
            attempt_id,
            attempt.at_ms,
            order_id,
            payment_id,
            serde_json::to_string(attempt).map_err(corrupt)?,
            outcome_str(decision.outcome),
            decision.rule.as_deref(),
            decision.reason.as_str(),
            status_str(status)
        ],
    )?;
    Ok(())
}

/// Records how the channel answered a payment's attempt; the attempt's id, if it has one.
pub fn settle_decision(tx: &mut dyn Tx, payment_id: u64, status: AttemptStatus) -> DbResult<Option<u64>> {
    let Some(row) = tx.query_opt("SELECT attempt_id FROM risk_decision WHERE payment_id = ?1 AND status = 'pending' ORDER BY attempt_id LIMIT 1", &params![payment_id])? else {
        return Ok(None);
    };
    let attempt_id = row.uint(0)?;
    tx.execute("UPDATE risk_decision SET status = ?2 WHERE attempt_id = ?1", &params![attempt_id, status_str(status)])?;
    Ok(Some(attempt_id))
}

/// Attempts since `since_ms`, oldest first, for the engine to rebuild its windows.
pub fn attempts_since(tx: &mut dyn Tx, since_ms: i64, limit: u32) -> DbResult<Vec<StoredAttempt>> {
    let rows = tx.query("SELECT attempt_id, attempt, status FROM risk_decision WHERE at_ms >= ?1 ORDER BY at_ms, attempt_id LIMIT ?2", &params![since_ms, limit])?;
    rows.iter()
        .map(|r| Ok(StoredAttempt { attempt_id: r.uint(0)?, attempt: serde_json::from_str(&r.text(1)?).map_err(corrupt)?, status: parse_status(&r.text(2)?)? }))
        .collect()
}

pub fn decisions(tx: &mut dyn Tx, outcome: Option<&str>, limit: u32) -> DbResult<Vec<RiskDecisionRow>> {
    let rows = tx.query(
        "SELECT attempt_id, at_ms, order_id, payment_id, attempt, outcome, rule, reason, status FROM risk_decision
         WHERE (CAST(?1 AS TEXT) IS NULL OR outcome = ?1) ORDER BY at_ms DESC, attempt_id DESC LIMIT ?2",
        &params![outcome, limit],
    )?;
    rows.iter()
        .map(|r| {
            let attempt: PaymentAttempt = serde_json::from_str(&r.text(4)?).map_err(corrupt)?;
            Ok(RiskDecisionRow {
                attempt_id: r.uint(0)?,
                at_ms: r.int(1)?,
                order_id: r.uint(2)?,
                payment_id: r.opt_int(3)?.map(|p| p as u64),
                user: attempt.user,
                amount_minor: attempt.amount_minor,
                outcome: r.text(5)?,
                rule: r.opt_text(6)?,
                reason: r.text(7)?,
                status: r.text(8)?,
            })
        })
        .collect()
}

pub fn saved_rules(tx: &mut dyn Tx) -> DbResult<Option<RiskRules>> {
    let Some(row) = tx.query_opt("SELECT rules FROM risk_rules WHERE one = 1", &[])? else {
        return Ok(None);
    };
    serde_json::from_str(&row.text(0)?).map(Some).map_err(corrupt)
}

pub fn save_rules(tx: &mut dyn Tx, rules: &RiskRules, now_ms: i64) -> DbResult<()> {
    let json = serde_json::to_string(rules).map_err(corrupt)?;
    tx.execute(
        "INSERT INTO risk_rules (one, rules, updated_ms) VALUES (1, ?1, ?2) ON CONFLICT (one) DO UPDATE SET rules = excluded.rules, updated_ms = excluded.updated_ms",
        &params![json, now_ms],
    )?;
    Ok(())
}

// --- invoices -------------------------------------------------------------------------------

use tote_shared::payment::invoice::Invoice;

pub fn insert_invoice(tx: &mut dyn Tx, invoice: &Invoice, refund_id: Option<u64>) -> DbResult<()> {
    tx.execute(
        "INSERT INTO invoice (number, order_id, kind, original_number, refund_id, issued_ms, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        &params![
            invoice.number.as_str(),
            invoice.order_id,
            invoice.kind.as_str(),
            invoice.original_number.as_deref(),
            refund_id,
            invoice.issued_at_ms,
            serde_json::to_string(invoice).map_err(corrupt)?
        ],
    )?;
    Ok(())
}

/// The order's invoices, blue first.
pub fn invoices_for_order(tx: &mut dyn Tx, order_id: u64) -> DbResult<Vec<Invoice>> {
    let rows = tx.query("SELECT body FROM invoice WHERE order_id = ?1 ORDER BY kind, issued_ms, number", &params![order_id])?;
    rows.iter().map(|r| serde_json::from_str(&r.text(0)?).map_err(corrupt)).collect()
}

pub fn invoice(tx: &mut dyn Tx, number: &str) -> DbResult<Option<Invoice>> {
    tx.query_opt("SELECT body FROM invoice WHERE number = ?1", &params![number])?
        .map(|r| serde_json::from_str(&r.text(0)?).map_err(corrupt))
        .transpose()
}

pub fn has_invoice_for_refund(tx: &mut dyn Tx, refund_id: u64) -> DbResult<bool> {
    Ok(tx.query_opt("SELECT 1 FROM invoice WHERE refund_id = ?1", &params![refund_id])?.is_some())
}
