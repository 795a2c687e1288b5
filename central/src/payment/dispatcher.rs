//! Calls to the channels that must happen whatever happened to the request that caused
//! them: creates whose answer was lost, payments silent too long (a lost notification),
//! closes of payments whose order ended, and refunds. Each call is made outside any
//! transaction; its answer is applied in one. A crash in between repeats the call, which
//! every channel makes harmless (out_trade_no, out_refund_no and Idempotency-Keys).
//!
//! Also the journal consumer that turns an order's end into closing its open payments.

use super::channel::{ChannelError, CreateRequest, RefundRequest, RefundStatus};
use super::flow;
use super::store::{self, Refund};
use super::{ChannelReport, Payment, PaymentError, PaymentState};
use crate::db::{DbResult, Tx};
use crate::journal::consumer::Consumer;
use crate::journal::{BusinessEvent, JournalEntry};
use crate::startup::{now_ms, AppState};
use tote_shared::runtime::supervise::Stop;

/// Most payments and refunds handled per round.
const ROUND_LIMIT: u32 = 200;

/// Refusals that mean a refund can never go through as asked; any other refusal is retried.
const FINAL_REFUSALS: &[&str] = &[
    // WeChat Pay
    "PARAM_ERROR",
    "INVALID_REQUEST",
    "RESOURCE_NOT_EXISTS",
    "USER_ACCOUNT_ABNORMAL",
    // Alipay
    "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL",
    "ACQ.TRADE_NOT_ALLOW_REFUND",
    "ACQ.TRADE_STATUS_ERROR",
    "ACQ.TRADE_NOT_EXIST",
    // Card gateway
    "charge_already_refunded",
    "amount_too_large",
    "parameter_invalid_integer",
];

pub async fn run(state: AppState, stop: Stop) {
    let every = std::time::Duration::from_millis(state.settings.payment.dispatch_interval_ms);
    loop {
        if let Err(error) = round(&state).await {
            tracing::error!(%error, "payment dispatch round failed");
        }
        tokio::select! {
            _ = state.signals.payments.notified() => {}
            _ = tokio::time::sleep(every) => {}
            () = stop.stopped() => return,
        }
    }
}

/// One pass over everything due. Returns how many calls were made.
pub async fn round(state: &AppState) -> Result<u32, PaymentError> {
    let settings = &state.settings.payment;
    let now = now_ms();
    let intent_before = now - settings.call_timeout_ms as i64;
    let pending_before = now - settings.query_after_ms as i64;
    let (payments, refunds) = state
        .db
        .read(move |tx| -> DbResult<_> {
            Ok((store::due(tx, intent_before, pending_before, ROUND_LIMIT)?, store::due_refunds(tx, intent_before, pending_before, ROUND_LIMIT)?))
        })
        .await?;
    let mut calls = 0;
    for payment in payments {
        calls += 1;
        if let Err(error) = payment_call(state, &payment).await {
            tracing::warn!(%error, out_trade_no = %payment.out_trade_no, state = payment.state.as_str(), "payment call failed; will retry");
        }
    }
    for refund in refunds {
        calls += 1;
        if let Err(error) = refund_call(state, &refund).await {
            tracing::warn!(%error, out_refund_no = %refund.out_refund_no, "refund call failed; will retry");
        }
    }
    Ok(calls)
}

async fn payment_call(state: &AppState, payment: &Payment) -> Result<(), PaymentError> {
    let channel = state.channels.get(payment.channel).ok_or_else(|| PaymentError::NoChannel(payment.channel.as_str().into()))?.clone();
    let (id, kind, out_trade_no) = (payment.id, payment.channel, payment.out_trade_no.clone());
    // Whatever happens next, this payment is not due again for a while.
    let now = now_ms();
    state.db.write(move |tx| store::checked(tx, id, now)).await?;
    let channel_ref = payment.channel_ref.as_deref();
    match payment.state {
        PaymentState::Intent => {
            let request = create_request(state, payment).await?;
            let created = channel.create(&request).await?;
            state.write(move |tx| store::created(tx, id, created.channel_ref.as_deref(), created.pay_url.as_deref(), now_ms())).await?;
        }
        PaymentState::Pending => {
            let report = match channel.query(&out_trade_no, channel_ref).await {
                Err(ChannelError::NotFound) => return Ok(()),
                other => other?,
            };
            apply_report(state, kind, out_trade_no, report).await?;
        }
        PaymentState::Closing => {
            let report = match channel.close(&out_trade_no, channel_ref).await {
                Ok(()) | Err(ChannelError::NotFound) => ChannelReport::Closed,
                // Paid while we were closing: the query says how much, and the rules
                // refund it (the order is gone).
                Err(ChannelError::AlreadyPaid) => channel.query(&out_trade_no, channel_ref).await?,
                Err(other) => return Err(other.into()),
            };
            apply_report(state, kind, out_trade_no, report).await?;
        }
        _ => {}
    }
    Ok(())
}

pub(crate) async fn create_request(state: &AppState, payment: &Payment) -> Result<CreateRequest, PaymentError> {
    let (id, order_id) = (payment.id, payment.order_id);
    let (method, deadline) = state
        .db
        .read(move |tx| -> Result<_, PaymentError> { Ok((store::method(tx, id)?, unlocked_order(tx, order_id)?.payment_deadline_ms)) })
        .await?;
    Ok(CreateRequest {
        out_trade_no: payment.out_trade_no.clone(),
        amount_minor: payment.amount_minor,
        currency: payment.currency.clone(),
        description: format!("Order {order_id}"),
        expires_at_ms: deadline,
        method,
    })
}

pub async fn apply_report(state: &AppState, kind: tote_shared::payment::ChannelKind, out_trade_no: String, report: ChannelReport) -> Result<(), PaymentError> {
    let applied = state.write(move |tx| flow::report(tx, kind, &out_trade_no, &report, now_ms())).await?;
    if applied == flow::Applied::Changed {
        state.signals.payments.notify_one();
    }
    Ok(())
}

async fn refund_call(state: &AppState, refund: &Refund) -> Result<(), PaymentError> {
    let payment_id = refund.payment_id;
    let payment = state
        .db
        .read(move |tx| store::by_id(tx, payment_id))
        .await?
        .ok_or_else(|| PaymentError::NotFound(format!("payment {payment_id}")))?;
    let channel = state.channels.get(payment.channel).ok_or_else(|| PaymentError::NoChannel(payment.channel.as_str().into()))?.clone();
    let (id, now) = (refund.id, now_ms());
    state.db.write(move |tx| store::refund_checked(tx, id, now)).await?;
    let request = RefundRequest {
        out_trade_no: payment.out_trade_no.clone(),
        channel_ref: payment.channel_ref.clone(),
        out_refund_no: refund.out_refund_no.clone(),
        amount_minor: refund.amount_minor,
        total_minor: payment.amount_minor,
        currency: payment.currency.clone(),
        reason: refund.reason.clone(),
    };
    // A refund the channel took is asked about, never sent again (the card gateway forgets
    // an Idempotency-Key after a day); one it does not know is sent (again).
    let known = match refund.state {
        store::RefundState::Processing => match channel.query_refund(&request).await {
            Ok(status) => Some(status),
            Err(ChannelError::NotFound) => None,
            Err(other) => return Err(other.into()),
        },
        _ => None,
    };
    let sent = match known {
        Some(status) => Ok(status),
        None => channel.refund(&request).await,
    };
    let status = match sent {
        Ok(status) => status,
        // Refused for good (more than was paid, a trade that cannot be refunded): failed, if
        // it was never accepted before.
        Err(ChannelError::Refused { code, message }) if FINAL_REFUSALS.contains(&code.as_str()) => {
            tracing::error!(%code, %message, out_refund_no = %refund.out_refund_no, "channel refused the refund for good");
            RefundStatus::Failed
        }
        // Anything else (rate limits, a concurrent call with the same key, a short balance):
        // asked again later.
        Err(other) => return Err(other.into()),
    };
    let (kind, number) = (payment.channel, refund.out_refund_no.clone());
    let now = now_ms();
    // Processing: the notification (or asking again after query_after) will say how it ended.
    state.write(move |tx| flow::refund_report(tx, kind, &number, None, status, now)).await?;
    Ok(())
}

/// An order read without a lock (read transactions may not take one).
pub(crate) fn unlocked_order(tx: &mut dyn Tx, order_id: u64) -> Result<crate::orders::OrderRecord, PaymentError> {
    crate::orders::store::load(tx, order_id, false)?.ok_or_else(|| PaymentError::NotFound(format!("order {order_id}")))
}

/// Closes the open payments of orders that ended unpaid, or that another payment paid; and
/// refunds, through the channel that was paid, what a cancel stopped of a paid order (the whole
/// order, or a split order's parts that did not ship).
pub struct PaymentConsumer;

impl Consumer for PaymentConsumer {
    fn name(&self) -> &'static str {
        "payment"
    }

    fn apply(&self, tx: &mut dyn Tx, entries: &[JournalEntry]) -> DbResult<()> {
        for entry in entries {
            if let BusinessEvent::OrderClosed { order_id } | BusinessEvent::OrderCancelled { order_id, .. } | BusinessEvent::OrderPaid { order_id, .. } =
                &entry.event
            {
                match flow::close_others(tx, *order_id, entry.at_ms) {
                    Ok(_) => {}
                    Err(PaymentError::Db(e)) => return Err(e),
                    Err(other) => tracing::error!(error = %other, order_id, "cannot close the payments of an ended order"),
                }
            }
            let stopped = match &entry.event {
                BusinessEvent::OrderCancelled { order_id, lines, was_paid: true } => Some((*order_id, lines, "order cancelled")),
                BusinessEvent::OrderPartsCancelled { order_id, lines } => Some((*order_id, lines, "order cancelled: parts not shipped")),
                _ => None,
            };
            if let Some((order_id, lines, reason)) = stopped {
                refund_stopped(tx, order_id, lines, reason, entry.at_ms)?;
            }
        }
        Ok(())
    }
}

/// Money for goods that will not ship goes back through the channel that took it. An order
/// paid otherwise (by hand, or at a marketplace, which refunds its buyer itself) has no
/// channel payment to refund: HQ settles it, as before.
/// Units HQ refunded already are left out: what is refunded here is what is left.
fn refund_stopped(tx: &mut dyn Tx, order_id: u64, lines: &[crate::journal::EventLine], reason: &str, now_ms: i64) -> DbResult<()> {
    let units: Vec<(tote_shared::Sku, i64)> = lines.iter().map(|l| (l.sku.clone(), l.qty.as_i64())).collect();
    let outcome = match flow::unrefunded(tx, order_id, &units) {
        Ok(None) => {
            tracing::info!(order_id, "a cancelled order paid outside the channels: settled where it was paid");
            return Ok(());
        }
        Ok(Some(left)) if left.is_empty() => {
            tracing::info!(order_id, "a cancelled order was refunded in full already");
            return Ok(());
        }
        Ok(Some(left)) => flow::refund_order(tx, order_id, &left, reason, now_ms),
        Err(error) => Err(error),
    };
    match outcome {
        Ok(refund) => tracing::info!(order_id, refund_id = refund.id, "cancelled goods refunded through the channel"),
        Err(PaymentError::Db(e) | PaymentError::Orders(crate::orders::OrdersError::Db(e))) => return Err(e),
        Err(other) => tracing::warn!(order_id, %other, "cancelled goods could not be refunded through the channel: HQ refunds them"),
    }
    Ok(())
}
