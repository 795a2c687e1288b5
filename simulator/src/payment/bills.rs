//! The channels' daily bills: every payment and refund the channel settled on a day (in the
//! channel's time zone), in the channel's own format (`tote_shared::payment::bill`), with the
//! fees its contract charges — and, on demand, differences planted so reconciliation has
//! something to find.
//!
//! What it is not: a second ledger; bills are read from the trades and refunds kept in memory.

use super::ledger::{FeeRate, RefundState, TradeState};
use super::{lock, Inner};
use serde::{Deserialize, Serialize};
use tote_shared::payment::bill::{self, BillDay, BillError, BillKind, BillLine, BillStatus};
use tote_shared::payment::ChannelKind;

use tote_shared::calendar::DAY_MS;

/// A difference planted in a channel's next bills, as a real channel's mistakes look.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Plant {
    /// The payment (or, with a refund number, that refund) is left out.
    Drop { out_trade_no: String, out_refund_no: Option<String> },
    /// A payment we never made appears.
    Extra { out_trade_no: String, amount_minor: i64 },
    /// The amount of a payment is off by `delta_minor`.
    Amount { out_trade_no: String, delta_minor: i64 },
    /// The fee of a payment is off by `delta_minor`.
    Fee { out_trade_no: String, delta_minor: i64 },
    /// A payment's status is another.
    Status { out_trade_no: String, status: BillStatus },
}

/// The fee a refund gives back: the same share of the refunded amount for WeChat Pay and
/// Alipay, nothing for the card gateway (the fixed part is never returned).
pub fn refund_fee_minor(channel: ChannelKind, amount_minor: i64) -> i64 {
    match channel {
        ChannelKind::Wechat | ChannelKind::Alipay => -FeeRate { fixed_minor: 0, ..FeeRate::of(channel) }.fee_minor(amount_minor),
        ChannelKind::Card => 0,
    }
}

/// What the channel settled on `day`, plants applied.
pub(super) fn lines(inner: &Inner, channel: ChannelKind, day: BillDay) -> Vec<BillLine> {
    let start = day.start_ms(bill::day_offset_ms(channel));
    let on_day = |at: Option<i64>| at.filter(|at| (start..start + DAY_MS).contains(at));
    let (trades, refunds) = inner.ledger().records(channel);
    let mut lines = Vec::new();
    for trade in &trades {
        let Some(at) = on_day(trade.paid_ms) else { continue };
        if !matches!(trade.state, TradeState::Paid | TradeState::Finished) {
            continue;
        }
        lines.push(BillLine {
            channel,
            kind: BillKind::Payment,
            out_trade_no: trade.out_trade_no.clone(),
            channel_trade_no: trade.trade_id.clone(),
            out_refund_no: None,
            amount_minor: trade.amount_minor,
            fee_minor: trade.fee_minor,
            status: BillStatus::Success,
            at_ms: at - at.rem_euclid(1000),
        });
    }
    for refund in refunds.iter().filter(|r| r.state == RefundState::Succeeded) {
        let Some(at) = on_day(refund.succeeded_ms) else { continue };
        lines.push(BillLine {
            channel,
            kind: BillKind::Refund,
            out_trade_no: refund.out_trade_no.clone(),
            channel_trade_no: refund.trade_id.clone(),
            out_refund_no: Some(refund.out_refund_no.clone().unwrap_or_else(|| refund.refund_id.clone())),
            amount_minor: refund.amount_minor,
            fee_minor: refund_fee_minor(channel, refund.amount_minor),
            status: BillStatus::Success,
            at_ms: at - at.rem_euclid(1000),
        });
    }
    let plants = lock(&inner.channel(channel).plants).clone();
    for plant in plants {
        apply(&mut lines, channel, start, plant);
    }
    lines
}

fn apply(lines: &mut Vec<BillLine>, channel: ChannelKind, day_start_ms: i64, plant: Plant) {
    let payment = |lines: &mut Vec<BillLine>, no: &str| lines.iter_mut().position(|l| l.kind == BillKind::Payment && l.out_trade_no == no);
    match plant {
        Plant::Drop { out_trade_no, out_refund_no } => lines.retain(|l| !(l.out_trade_no == out_trade_no && l.out_refund_no == out_refund_no)),
        Plant::Extra { out_trade_no, amount_minor } => lines.push(BillLine {
            channel,
            kind: BillKind::Payment,
            channel_trade_no: format!("X{out_trade_no}"),
            out_trade_no,
            out_refund_no: None,
            amount_minor,
            fee_minor: FeeRate::of(channel).fee_minor(amount_minor),
            status: BillStatus::Success,
            at_ms: day_start_ms + 12 * 3_600_000,
        }),
        Plant::Amount { out_trade_no, delta_minor } => {
            if let Some(i) = payment(lines, &out_trade_no) {
                lines[i].amount_minor += delta_minor;
            }
        }
        Plant::Fee { out_trade_no, delta_minor } => {
            if let Some(i) = payment(lines, &out_trade_no) {
                lines[i].fee_minor += delta_minor;
            }
        }
        Plant::Status { out_trade_no, status } => {
            if let Some(i) = payment(lines, &out_trade_no) {
                lines[i].status = status;
            }
        }
    }
}

/// The bill file of `day`, in the channel's format.
pub(super) fn file(inner: &Inner, channel: ChannelKind, day: BillDay) -> Result<Vec<u8>, BillError> {
    let lines = lines(inner, channel, day);
    match channel {
        ChannelKind::Wechat => bill::write_wechat(&lines, day),
        ChannelKind::Alipay => bill::write_alipay(&lines, day),
        ChannelKind::Card => bill::write_card(&lines, day),
    }
}
