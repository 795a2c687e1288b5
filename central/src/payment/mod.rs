//! Payment: what a payment may become, and what each report from a channel does.
//!
//! Rules are pure (load → decide → apply): `decide_report` turns a verified channel report
//! (notification or query answer) into effects on the payment and its order; `decide_refund`
//! checks a refund against what was captured, per line. `flow.rs` carries decisions out in
//! one transaction with their journal events; `store.rs` owns the payment tables; `channel.rs`
//! is the one interface every channel adapter (`wechat`, `alipay`, `card`) implements;
//! `http.rs` the routes, including the channels' notification endpoints.
//!
//! What it is not: the order lifecycle (orders owns that; a success here feeds it `Paid`).

pub mod alipay;
pub mod card;
pub mod channel;
pub mod dispatcher;
pub mod flow;
pub mod http;
pub mod invoicing;
pub mod reconciliation;
pub mod risk;
pub mod store;
pub mod wechat;

use crate::db::DbError;
use serde::{Deserialize, Serialize};
use tote_shared::order::OrderState;
use tote_shared::payment::ChannelKind;
use tote_shared::{Qty, Sku};

/// Where a payment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentState {
    /// Held by a risk rule; HQ approves or declines it.
    Review,
    /// Recorded; the channel has not (yet) confirmed the create call.
    Intent,
    /// Created at the channel; waiting for the customer.
    Pending,
    Succeeded,
    Failed,
    /// The order closed or was cancelled; the channel's transaction is being closed.
    Closing,
    Closed,
}

impl PaymentState {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentState::Review => "review",
            PaymentState::Intent => "intent",
            PaymentState::Pending => "pending",
            PaymentState::Succeeded => "succeeded",
            PaymentState::Failed => "failed",
            PaymentState::Closing => "closing",
            PaymentState::Closed => "closed",
        }
    }

    pub fn parse(raw: &str) -> Option<PaymentState> {
        use PaymentState::*;
        [Review, Intent, Pending, Succeeded, Failed, Closing, Closed]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }

    /// Still waiting for money: the channel may yet report a success.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            PaymentState::Review | PaymentState::Intent | PaymentState::Pending
        )
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Payment {
    pub id: u64,
    pub order_id: u64,
    #[schema(value_type = String)]
    pub channel: ChannelKind,
    /// Our number for the payment at the channel (`out_trade_no`).
    pub out_trade_no: String,
    /// The channel's number (transaction_id / trade_no / PaymentIntent id), once known.
    pub channel_ref: Option<String>,
    pub amount_minor: i64,
    pub currency: String,
    pub state: PaymentState,
    pub refunded_minor: i64,
    /// What the customer opens to pay (QR code URL, prepay id, client secret).
    pub pay_url: Option<String>,
    pub risk_rule: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// What a channel says about a payment, once its signature is verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelReport {
    Paid {
        channel_ref: String,
        amount_minor: i64,
        currency: String,
    },
    NotPaid,
    Failed {
        reason: String,
    },
    Closed,
}

/// What to do about a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// The payment moves to `to` (and records the channel's number when it has one).
    SetState {
        to: PaymentState,
        channel_ref: Option<String>,
    },
    /// The order is paid: orders takes it from here.
    PayOrder,
    /// Money came for an order that can no longer take it: give it all back.
    RefundAll,
    /// An e-invoice for the order.
    IssueInvoice,
}

#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    /// 404
    #[error("{0} not found")]
    NotFound(String),
    /// 422: the channel reported an amount or currency that is not this payment's.
    #[error("the channel reported {got_minor} {got_currency} for a payment of {want_minor} {want_currency}")]
    Mismatch {
        got_minor: i64,
        got_currency: String,
        want_minor: i64,
        want_currency: String,
    },
    /// 422
    #[error("{0}")]
    Refused(String),
    /// 403: a risk rule blocked the payment.
    #[error("payment blocked by risk rule {rule}: {reason}")]
    Blocked { rule: String, reason: String },
    /// 422: this channel is not configured.
    #[error("channel {0} is not configured")]
    NoChannel(String),
    /// 502/504: the channel failed or did not answer in time.
    #[error("channel: {0}")]
    Channel(#[from] channel::ChannelError),
    #[error(transparent)]
    Orders(#[from] crate::orders::OrdersError),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// A report from the channel about `payment`, whose order is in `order_state`.
/// A success is applied once: the second time (a duplicate or a late query) changes nothing.
pub fn decide_report(
    payment: &Payment,
    order_state: OrderState,
    report: &ChannelReport,
) -> Result<Vec<Effect>, PaymentError> {
    use PaymentState as S;
    match report {
        ChannelReport::Paid {
            channel_ref,
            amount_minor,
            currency,
        } => {
            if *amount_minor != payment.amount_minor || *currency != payment.currency {
                return Err(PaymentError::Mismatch {
                    got_minor: *amount_minor,
                    got_currency: currency.clone(),
                    want_minor: payment.amount_minor,
                    want_currency: payment.currency.clone(),
                });
            }
            if payment.state == S::Succeeded {
                return Ok(vec![]);
            }
            let succeeded = Effect::SetState {
                to: S::Succeeded,
                channel_ref: Some(channel_ref.clone()),
            };
            // The order closed (timeout), was cancelled, or another payment paid it first:
            // the money is not ours to keep.
            if order_state == OrderState::AwaitingPayment {
                Ok(vec![succeeded, Effect::PayOrder, Effect::IssueInvoice])
            } else {
                Ok(vec![succeeded, Effect::RefundAll])
            }
        }
        ChannelReport::Failed { .. } if payment.state.is_open() => Ok(vec![Effect::SetState {
            to: S::Failed,
            channel_ref: None,
        }]),
        ChannelReport::Closed if payment.state.is_open() || payment.state == S::Closing => {
            Ok(vec![Effect::SetState {
                to: S::Closed,
                channel_ref: None,
            }])
        }
        ChannelReport::NotPaid if payment.state == S::Intent => Ok(vec![Effect::SetState {
            to: S::Pending,
            channel_ref: None,
        }]),
        _ => Ok(vec![]),
    }
}

/// One line of a refund: how many units of a SKU go back, at the price paid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RefundLine {
    pub sku: Sku,
    pub qty: Qty,
    pub amount_minor: i64,
}

/// A line as paid: units and what they cost together (after the line's share of every
/// discount, so its units need not each cost a whole number of fen).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaidLine {
    pub sku: Sku,
    pub qty: i64,
    pub amount_minor: i64,
}

impl PaidLine {
    /// What each unit was paid, rounded down to the fen.
    pub fn per_unit(&self) -> i64 {
        if self.qty > 0 {
            self.amount_minor / self.qty
        } else {
            0
        }
    }
}

/// Checks a refund request against the payment and the refunds already asked for (not
/// failed): never more units of a line than were paid, never more money than was captured.
/// Returns the lines with their amounts and the total.
pub fn decide_refund(
    payment: &Payment,
    paid: &[PaidLine],
    already: &[RefundLine],
    requested: &[(Sku, i64)],
) -> Result<(Vec<RefundLine>, i64), PaymentError> {
    let whole: Vec<(Sku, i64, Share)> = requested
        .iter()
        .map(|(sku, qty)| (sku.clone(), *qty, Share::WHOLE))
        .collect();
    decide_refund_at(payment, paid, already, &whole)
}

/// How much of each unit's price paid a refund line gives back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Share {
    /// 0 to 100 % of it, rounded down to the fen.
    Pct(u32),
    /// This much per unit (minor units), never more than was paid for it: an exchange's price
    /// difference.
    PerUnit(i64),
}

impl Share {
    pub const WHOLE: Share = Share::Pct(100);
}

/// `decide_refund` with each line's units refunded at a share of the price paid (a
/// percentage, rounded down to the fen, or an amount per unit up to the price): a unit
/// refunded in part is refunded, never again.
pub fn decide_refund_at(
    payment: &Payment,
    paid: &[PaidLine],
    already: &[RefundLine],
    requested: &[(Sku, i64, Share)],
) -> Result<(Vec<RefundLine>, i64), PaymentError> {
    if payment.state != PaymentState::Succeeded {
        return Err(PaymentError::Refused(format!(
            "payment {} is {}, only a succeeded payment can be refunded",
            payment.id,
            payment.state.as_str()
        )));
    }
    if requested.is_empty() {
        return Err(PaymentError::Refused(
            "a refund needs at least one line".into(),
        ));
    }
    let mut lines = Vec::with_capacity(requested.len());
    let mut total = 0i64;
    for (sku, qty, share) in requested {
        let line = paid
            .iter()
            .find(|l| &l.sku == sku)
            .ok_or_else(|| PaymentError::Refused(format!("SKU {sku} is not in the order")))?;
        match *share {
            Share::Pct(pct) if pct > 100 => {
                return Err(PaymentError::Refused(format!(
                    "SKU {sku}: {pct} % is more than the price paid"
                )))
            }
            Share::PerUnit(minor) if !(0..=line.per_unit()).contains(&minor) => {
                return Err(PaymentError::Refused(format!(
                    "SKU {sku}: {minor} per unit, {} paid for each",
                    line.per_unit()
                )))
            }
            _ => {}
        }
        let before: i64 = already
            .iter()
            .chain(lines.iter())
            .filter(|r| &r.sku == sku)
            .map(|r| r.qty.as_i64())
            .sum();
        if *qty <= 0
            || before
                .checked_add(*qty)
                .is_none_or(|after| after > line.qty)
        {
            return Err(PaymentError::Refused(format!(
                "SKU {sku}: {qty} to refund, {} paid, {before} refunded already",
                line.qty
            )));
        }
        let amount = match *share {
            Share::Pct(pct) => {
                // These units' exact share of the line: however a line is refunded, its
                // pieces add up to what was paid for it.
                let full = tote_shared::units_share(line.amount_minor, line.qty, before, *qty);
                i64::try_from(i128::from(full) * i128::from(pct) / 100)
                    .map_err(|_| PaymentError::Refused("amount overflows".into()))?
            }
            Share::PerUnit(minor) => qty
                .checked_mul(minor)
                .ok_or_else(|| PaymentError::Refused("amount overflows".into()))?,
        };
        let qty = Qty::parse(*qty).map_err(|e| PaymentError::Refused(e.to_string()))?;
        lines.push(RefundLine {
            sku: sku.clone(),
            qty,
            amount_minor: amount,
        });
        total = total
            .checked_add(amount)
            .ok_or_else(|| PaymentError::Refused("amount overflows".into()))?;
    }
    if total <= 0 {
        return Err(PaymentError::Refused(
            "nothing to refund: the lines were free".into(),
        ));
    }
    let refunded: i64 = already.iter().map(|r| r.amount_minor).sum();
    if refunded + total > payment.amount_minor {
        return Err(PaymentError::Refused(format!(
            "{total} to refund, {} captured, {refunded} refunded already",
            payment.amount_minor
        )));
    }
    Ok((lines, total))
}

#[cfg(test)]
mod tests;
