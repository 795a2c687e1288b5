//! Payment decisions carried out in the caller's transaction: load → decide → apply, with
//! the journal events of every outcome. No channel calls here (they happen outside any
//! transaction, in `http.rs` and `dispatcher.rs`).

use super::channel::{Notice, PayMethod, RefundAmount, RefundStatus};
use super::store::{self, NewPayment, Refund, RefundState};
use super::{decide_refund_at, decide_report, ChannelReport, Effect, PaidLine, Payment, PaymentError, PaymentState, RefundLine, Share};
use crate::db::Tx;
use crate::journal::{self, BusinessEvent};
use crate::orders;
use tote_shared::order::OrderState;
use tote_shared::payment::ChannelKind;
use tote_shared::Sku;

/// How a payment attempt starts.
pub struct Start<'a> {
    pub order_id: u64,
    pub channel: ChannelKind,
    pub method: &'a PayMethod,
    pub currency: &'a str,
    /// The risk rule that sent it to review, if one did.
    pub review_rule: Option<&'a str>,
    pub now_ms: i64,
}

/// Records a payment for an order awaiting payment. Asking again on the same channel while
/// one is open gives that one back (a customer tapping "pay" twice pays once).
pub fn start(tx: &mut dyn Tx, start: &Start<'_>) -> Result<(Payment, bool), PaymentError> {
    let order = orders::flow::load(tx, start.order_id)?;
    if order.state != OrderState::AwaitingPayment {
        return Err(PaymentError::Refused(format!("order {} is {}, not awaiting payment", order.id, order.state.as_str())));
    }
    if let Some(open) = store::open_for_order(tx, order.id)?.into_iter().find(|p| p.channel == start.channel) {
        return Ok((open, false));
    }
    let state = if start.review_rule.is_some() { PaymentState::Review } else { PaymentState::Intent };
    let new = NewPayment {
        order_id: order.id,
        channel: start.channel,
        amount_minor: order.total.minor(),
        currency: start.currency,
        state,
        method: start.method,
        risk_rule: start.review_rule,
        now_ms: start.now_ms,
    };
    Ok((store::insert(tx, &new)?, true))
}

/// What applying a notification or query answer came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// It changed something.
    Changed,
    /// Seen before, or nothing to do: nothing changed.
    Nothing,
}

/// Applies a verified notification exactly once: the delivery is recorded in the same
/// transaction as its effect, so a repeat (or a crash before our acknowledgement reached
/// the channel, then a retry) finds it and changes nothing.
pub fn notification(tx: &mut dyn Tx, channel: ChannelKind, notice: &Notice, now_ms: i64) -> Result<Applied, PaymentError> {
    match notice {
        Notice::Payment { notification_id, out_trade_no, report: channel_report } => {
            if !store::first_delivery(tx, channel, notification_id, out_trade_no, now_ms)? {
                return Ok(Applied::Nothing);
            }
            report(tx, channel, out_trade_no, channel_report, now_ms)
        }
        Notice::Refund { notification_id, out_refund_no, amount, status } => {
            if !store::first_delivery(tx, channel, notification_id, out_refund_no, now_ms)? {
                return Ok(Applied::Nothing);
            }
            refund_report(tx, channel, out_refund_no, Some(*amount), *status, now_ms)
        }
        Notice::Ignored { notification_id, kind } => {
            store::first_delivery(tx, channel, notification_id, kind, now_ms)?;
            Ok(Applied::Nothing)
        }
    }
}

/// Applies what the channel says about a payment (from a notification or a query).
pub fn report(tx: &mut dyn Tx, channel: ChannelKind, out_trade_no: &str, report: &ChannelReport, now_ms: i64) -> Result<Applied, PaymentError> {
    let payment = store::by_out_trade_no(tx, out_trade_no, true)?.ok_or_else(|| PaymentError::NotFound(format!("payment {out_trade_no}")))?;
    if payment.channel != channel {
        return Err(PaymentError::Refused(format!("payment {out_trade_no} is not a {} payment", channel.as_str())));
    }
    let order = orders::flow::load(tx, payment.order_id)?;
    let effects = decide_report(&payment, order.state, report)?;
    if effects.is_empty() {
        return Ok(Applied::Nothing);
    }
    for effect in &effects {
        apply(tx, &payment, effect, report, now_ms)?;
    }
    Ok(Applied::Changed)
}

fn apply(tx: &mut dyn Tx, payment: &Payment, effect: &Effect, report: &ChannelReport, now_ms: i64) -> Result<(), PaymentError> {
    let channel = payment.channel.as_str().to_string();
    let (payment_id, order_id) = (payment.id, payment.order_id);
    match effect {
        Effect::SetState { to, channel_ref } => {
            store::set_state(tx, payment.id, *to, channel_ref.as_deref(), now_ms)?;
            let event = match (to, report) {
                (PaymentState::Succeeded, ChannelReport::Paid { channel_ref, amount_minor, .. }) => {
                    Some(BusinessEvent::PaymentSucceeded { payment_id, order_id, channel, amount: *amount_minor, channel_ref: channel_ref.clone() })
                }
                (PaymentState::Failed, ChannelReport::Failed { reason }) => Some(BusinessEvent::PaymentFailed { payment_id, order_id, channel, reason: reason.clone() }),
                (PaymentState::Closed, _) => Some(BusinessEvent::PaymentClosed { payment_id, order_id, channel }),
                _ => None,
            };
            if let Some(event) = event {
                journal::store::append(tx, &event, now_ms)?;
            }
        }
        Effect::PayOrder => {
            orders::flow::pay(tx, order_id, now_ms)?;
            store::mark_paid_order(tx, payment_id)?;
        }
        Effect::RefundAll => {
            let order = orders::flow::load(tx, order_id)?;
            let lines: Vec<(Sku, i64, Share)> = order.lines.iter().map(|l| (l.sku.clone(), l.qty.as_i64(), Share::WHOLE)).collect();
            let paid = Payment { state: PaymentState::Succeeded, ..payment.clone() };
            request(tx, &paid, &lines, journal::LATE_PAYMENT_REFUND, now_ms)?;
        }
        // Invoices are issued by the invoicing consumer from PaymentSucceeded.
        Effect::IssueInvoice => {}
    }
    Ok(())
}

/// Applies what the channel says about a refund. `amount`: what a notification stated (a
/// call's answer states none). A success overrides an earlier failure (the money left after
/// all); a failure never overrides a success. (The dispatcher asks about a refund the channel
/// took instead of sending it again, so a refused call only fails a refund the channel never
/// had.)
pub fn refund_report(
    tx: &mut dyn Tx,
    channel: ChannelKind,
    out_refund_no: &str,
    amount: Option<RefundAmount>,
    status: RefundStatus,
    now_ms: i64,
) -> Result<Applied, PaymentError> {
    let refund = store::refund_by_number(tx, out_refund_no, true)?.ok_or_else(|| PaymentError::NotFound(format!("refund {out_refund_no}")))?;
    let payment = store::by_id(tx, refund.payment_id)?.ok_or_else(|| PaymentError::NotFound(format!("payment {}", refund.payment_id)))?;
    if payment.channel != channel {
        return Err(PaymentError::Refused(format!("refund {out_refund_no} is not a {} refund", channel.as_str())));
    }
    // A repeat of news already applied changes nothing (Alipay's cumulative amount has moved
    // on since, so it is not compared again).
    let settled = refund.state == RefundState::Succeeded || (refund.state == RefundState::Failed && status != RefundStatus::Succeeded);
    if settled {
        return Ok(Applied::Nothing);
    }
    let (got, want) = match amount {
        Some(RefundAmount::This(got)) => (got, refund.amount_minor),
        Some(RefundAmount::Cumulative(got)) => (got, payment.refunded_minor + refund.amount_minor),
        None => (refund.amount_minor, refund.amount_minor),
    };
    if got != want {
        return Err(PaymentError::Mismatch { got_minor: got, got_currency: payment.currency.clone(), want_minor: want, want_currency: payment.currency });
    }
    let amount_minor = refund.amount_minor;
    let (refund_id, payment_id, order_id, channel) = (refund.id, payment.id, payment.order_id, payment.channel.as_str().to_string());
    match status {
        RefundStatus::Processing => {
            if refund.state == RefundState::Requested {
                store::set_refund_state(tx, refund.id, RefundState::Processing, now_ms)?;
                return Ok(Applied::Changed);
            }
            Ok(Applied::Nothing)
        }
        RefundStatus::Succeeded => {
            store::set_refund_state(tx, refund.id, RefundState::Succeeded, now_ms)?;
            store::add_refunded(tx, payment.id, refund.amount_minor, now_ms)?;
            journal::store::append(tx, &BusinessEvent::RefundSucceeded { refund_id, payment_id, order_id, channel, amount: amount_minor }, now_ms)?;
            Ok(Applied::Changed)
        }
        RefundStatus::Failed => {
            store::set_refund_state(tx, refund.id, RefundState::Failed, now_ms)?;
            journal::store::append(tx, &BusinessEvent::RefundFailed { refund_id, payment_id, order_id, channel, amount: amount_minor }, now_ms)?;
            Ok(Applied::Changed)
        }
    }
}

/// HQ asks for units of an order back. Checked against what was paid and refunded already.
pub fn refund_order(tx: &mut dyn Tx, order_id: u64, lines: &[(Sku, i64)], reason: &str, now_ms: i64) -> Result<Refund, PaymentError> {
    let whole: Vec<(Sku, i64, Share)> = lines.iter().map(|(sku, qty)| (sku.clone(), *qty, Share::WHOLE)).collect();
    refund_order_at(tx, order_id, &whole, reason, now_ms)
}

/// The succeeded payment that paid the order (the last, if a record says so of several).
fn captured(tx: &mut dyn Tx, order_id: u64) -> Result<Option<Payment>, PaymentError> {
    let mut paid = None;
    for p in store::for_order(tx, order_id)? {
        if p.state == PaymentState::Succeeded && store::paid_order(tx, p.id)? {
            paid = Some(p);
        }
    }
    Ok(paid)
}

/// What is left to refund of these units: each line clamped to the units of its SKU the
/// order's captured payment has not refunded yet (refunds that failed do not count). Lines
/// with nothing left drop out; None when there is no captured payment to refund.
pub fn unrefunded(tx: &mut dyn Tx, order_id: u64, lines: &[(Sku, i64)]) -> Result<Option<Vec<(Sku, i64)>>, PaymentError> {
    let Some(payment) = captured(tx, order_id)? else { return Ok(None) };
    let mut refunded: std::collections::HashMap<Sku, i64> = std::collections::HashMap::new();
    for r in store::refunds_for_payment(tx, payment.id)?.into_iter().filter(|r| r.state != RefundState::Failed) {
        for line in r.lines {
            *refunded.entry(line.sku).or_default() += line.qty.as_i64();
        }
    }
    let mut left = Vec::new();
    for (sku, qty) in lines {
        // Units refunded before count against the first lines of their SKU.
        let before = refunded.entry(sku.clone()).or_default();
        let n = (*qty - *before).clamp(0, (*qty).max(0));
        *before = (*before - *qty).max(0);
        if n > 0 {
            left.push((sku.clone(), n));
        }
    }
    Ok(Some(left))
}

/// `refund_order` with each line's units at a share of the price paid.
pub fn refund_order_at(tx: &mut dyn Tx, order_id: u64, lines: &[(Sku, i64, Share)], reason: &str, now_ms: i64) -> Result<Refund, PaymentError> {
    let payment = captured(tx, order_id)?.ok_or_else(|| PaymentError::Refused(format!("order {order_id} has no captured payment to refund")))?;
    let payment = store::by_out_trade_no(tx, &payment.out_trade_no, true)?.ok_or_else(|| PaymentError::NotFound(format!("payment {}", payment.id)))?;
    request(tx, &payment, lines, reason, now_ms)
}

fn request(tx: &mut dyn Tx, payment: &Payment, lines: &[(Sku, i64, Share)], reason: &str, now_ms: i64) -> Result<Refund, PaymentError> {
    let order = orders::flow::load(tx, payment.order_id)?;
    let paid: Vec<PaidLine> = order.lines.iter().map(|l| PaidLine { sku: l.sku.clone(), qty: l.qty.as_i64(), amount_minor: l.amount() }).collect();
    let already: Vec<RefundLine> = store::refunds_for_payment(tx, payment.id)?
        .into_iter()
        .filter(|r| r.state != RefundState::Failed)
        .flat_map(|r| r.lines)
        .collect();
    let (refund_lines, total) = decide_refund_at(payment, &paid, &already, lines)?;
    let refund = store::insert_refund(tx, payment, &refund_lines, total, reason, now_ms)?;
    let event = BusinessEvent::RefundRequested {
        refund_id: refund.id,
        payment_id: payment.id,
        order_id: payment.order_id,
        channel: payment.channel.as_str().to_string(),
        amount: total,
        reason: reason.to_string(),
    };
    journal::store::append(tx, &event, now_ms)?;
    Ok(refund)
}

/// The order ended unpaid (timeout, cancel) or was paid by one of its payments: every other
/// payment still open (or declined, which a card customer may still retry) is closed at the
/// channel too, so nobody pays for an order twice or for one that no longer exists.
pub fn close_others(tx: &mut dyn Tx, order_id: u64, now_ms: i64) -> Result<u32, PaymentError> {
    let mut closing = 0;
    for payment in store::for_order(tx, order_id)? {
        // Conditional: a success that committed meanwhile is never overwritten.
        if (payment.state.is_open() || payment.state == PaymentState::Failed) && store::start_closing(tx, payment.id, now_ms)? {
            closing += 1;
        }
    }
    Ok(closing)
}

/// A payment held for review: approved (it goes to the channel) or declined (closed).
pub fn review(tx: &mut dyn Tx, payment_id: u64, approve: bool, now_ms: i64) -> Result<Payment, PaymentError> {
    let payment = store::by_id(tx, payment_id)?.ok_or_else(|| PaymentError::NotFound(format!("payment {payment_id}")))?;
    let payment = store::by_out_trade_no(tx, &payment.out_trade_no, true)?.ok_or_else(|| PaymentError::NotFound(format!("payment {payment_id}")))?;
    if payment.state != PaymentState::Review {
        return Err(PaymentError::Refused(format!("payment {payment_id} is {}, not in review", payment.state.as_str())));
    }
    let order_state = orders::flow::load(tx, payment.order_id)?.state;
    if approve && order_state != OrderState::AwaitingPayment {
        return Err(PaymentError::Refused(format!("order {} is {}, not awaiting payment", payment.order_id, order_state.as_str())));
    }
    let to = if approve { PaymentState::Intent } else { PaymentState::Closed };
    // An intent is due for the dispatcher at once (checked long ago).
    store::set_state(tx, payment.id, to, None, now_ms)?;
    store::checked(tx, payment.id, 0)?;
    if !approve {
        let event = BusinessEvent::PaymentClosed { payment_id, order_id: payment.order_id, channel: payment.channel.as_str().to_string() };
        journal::store::append(tx, &event, now_ms)?;
    }
    Ok(store::by_id(tx, payment_id)?.unwrap_or(payment))
}
