//! The simulated channels' memory: every trade and refund, with the times, amounts, ids and
//! fees a daily bill will need.
//!
//! What it is: plain data and the state changes all three channels share (open, pay,
//! decline, close, refund, settle), each checked here once; ids are drawn from the run's
//! seeded generator so a run replays. What it is not: a protocol. Each channel module decides
//! which of its own answers a `LedgerError` becomes, and the bills (another branch) will read
//! `ChannelSim::records`.

use super::keys::random;
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::collections::HashMap;
use tote_shared::payment::ChannelKind;

/// What the channel charges per payment: `basis_points` of the amount, rounded half up, plus
/// a fixed part. Integer arithmetic only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeeRate {
    pub basis_points: i64,
    pub fixed_minor: i64,
}

impl FeeRate {
    /// WeChat Pay 0.6 %, Alipay 0.6 %, the card gateway 2.9 % + 30 fen.
    pub fn of(channel: ChannelKind) -> FeeRate {
        match channel {
            ChannelKind::Wechat | ChannelKind::Alipay => FeeRate { basis_points: 60, fixed_minor: 0 },
            ChannelKind::Card => FeeRate { basis_points: 290, fixed_minor: 30 },
        }
    }

    pub fn fee_minor(self, amount_minor: i64) -> i64 {
        // i128: no amount we accept can overflow, whatever the rate.
        let proportional = (i128::from(amount_minor) * i128::from(self.basis_points) + 5_000).div_euclid(10_000);
        i64::try_from(proportional).unwrap_or(i64::MAX).saturating_add(self.fixed_minor)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TradeState {
    /// Created, waiting for the shopper.
    Open,
    /// The shopper's last attempt failed; they may still pay.
    Failed,
    Paid,
    /// Closed or cancelled before payment.
    Closed,
    /// Paid and past its refund window (Alipay's TRADE_FINISHED): no more refunds.
    Finished,
}

/// The channel-specific part of a trade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detail {
    Wechat { trade_type: WechatTradeType, appid: String, link: String, payer_openid: Option<String> },
    Alipay { qr_code: String },
    Card { metadata: std::collections::BTreeMap<String, String> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WechatTradeType {
    /// `code_url`, a QR code the shopper scans.
    Native,
    /// `prepay_id`, paid inside WeChat.
    Jsapi,
}

impl WechatTradeType {
    pub fn as_str(self) -> &'static str {
        match self {
            WechatTradeType::Native => "NATIVE",
            WechatTradeType::Jsapi => "JSAPI",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeRecord {
    pub channel: ChannelKind,
    /// The channel's own id: WeChat `transaction_id`, Alipay `trade_no`, card `pi_…`.
    pub trade_id: String,
    pub out_trade_no: String,
    pub amount_minor: i64,
    pub currency: String,
    pub description: String,
    pub state: TradeState,
    pub created_ms: i64,
    pub paid_ms: Option<i64>,
    /// The channel's fee, set when paid.
    pub fee_minor: i64,
    pub notify_url: Option<String>,
    /// Every refund accepted (pending or done): what a new refund is checked against.
    pub refund_requested_minor: i64,
    /// Refunds that succeeded.
    pub refunded_minor: i64,
    pub detail: Detail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundState {
    Pending,
    Succeeded,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRecord {
    pub channel: ChannelKind,
    /// WeChat `refund_id`, card `re_…`; Alipay has none of its own, so `out_request_no`.
    pub refund_id: String,
    /// The merchant's refund number (WeChat `out_refund_no`, Alipay `out_request_no`, card
    /// `metadata[out_refund_no]` when given).
    pub out_refund_no: Option<String>,
    pub trade_id: String,
    pub out_trade_no: String,
    pub amount_minor: i64,
    pub state: RefundState,
    pub created_ms: i64,
    pub succeeded_ms: Option<i64>,
    pub notify_url: Option<String>,
    /// The trade's accepted refunds including this one, when it was accepted (Alipay answers
    /// it as `refund_fee`, and a replay answers the same).
    pub trade_refund_total_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("the simulator holds its maximum of {0} records")]
    Full(usize),
    #[error("no such trade")]
    UnknownTrade,
    #[error("no such refund")]
    UnknownRefund,
    #[error("the trade is already paid")]
    AlreadyPaid,
    #[error("the trade is closed")]
    Closed,
    #[error("the trade is not paid")]
    NotPaid,
    #[error("the trade is past its refund window")]
    Finished,
    #[error("refunds would total {requested_minor}, more than the {paid_minor} paid")]
    RefundExceedsPaid { requested_minor: i64, paid_minor: i64 },
    #[error("the refund number was used for another trade or amount")]
    RefundMismatch,
    #[error("the amount must be positive")]
    InvalidAmount,
}

/// A new refund or the replay of one already accepted under the same refund number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundOutcome {
    Accepted(RefundRecord),
    Replayed(RefundRecord),
}

/// What a refund asks for.
#[derive(Debug, Clone)]
pub struct NewRefund {
    pub trade_id: String,
    pub out_refund_no: Option<String>,
    pub amount_minor: i64,
    pub notify_url: Option<String>,
    /// What makes a repeated request the same refund: WeChat's `out_refund_no` (unique per
    /// merchant), Alipay's `out_request_no` within its trade; none for the card gateway,
    /// which only knows `Idempotency-Key`.
    pub replay_key: Option<String>,
    /// Alipay refunds synchronously; WeChat and the card gateway settle later.
    pub settled: bool,
}

pub struct Ledger {
    trades: HashMap<String, TradeRecord>,
    /// Card intents share an `out_trade_no` when the merchant creates twice; the last wins.
    by_out_trade_no: HashMap<(ChannelKind, String), Vec<String>>,
    refunds: HashMap<String, RefundRecord>,
    /// Refunds by the key a repeated request is recognised by (see `NewRefund::replay_key`).
    refund_by_replay_key: HashMap<(ChannelKind, String), String>,
    max_records: usize,
    /// Trades (and their refunds) created this long before the newest are forgotten; None:
    /// kept until `max_records`.
    forget_after_ms: Option<i64>,
    inserted: u64,
    rng: StdRng,
}

/// Inserts between sweeps for trades to forget.
const SWEEP_EVERY_INSERTS: u64 = 1024;

impl Ledger {
    pub fn new(seed: u64, max_records: usize) -> Ledger {
        Ledger {
            trades: HashMap::new(),
            by_out_trade_no: HashMap::new(),
            refunds: HashMap::new(),
            refund_by_replay_key: HashMap::new(),
            max_records,
            forget_after_ms: None,
            inserted: 0,
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// Forgets trades created `after` before the newest one (see `SimConfig::forget_after`).
    pub fn forgetting(mut self, after: Option<std::time::Duration>) -> Ledger {
        self.forget_after_ms = after.map(|d| d.as_millis().min(i64::MAX as u128) as i64);
        self
    }

    /// Drops trades created before `cutoff_ms`, with their refunds and lookups.
    fn forget_before(&mut self, cutoff_ms: i64) {
        let old: Vec<String> = self.trades.values().filter(|t| t.created_ms < cutoff_ms).map(|t| t.trade_id.clone()).collect();
        for id in &old {
            let Some(trade) = self.trades.remove(id) else { continue };
            let key = (trade.channel, trade.out_trade_no);
            if let Some(ids) = self.by_out_trade_no.get_mut(&key) {
                ids.retain(|i| i != id);
                if ids.is_empty() {
                    self.by_out_trade_no.remove(&key);
                }
            }
        }
        let trades = &self.trades;
        self.refunds.retain(|_, r| trades.contains_key(&r.trade_id));
        let refunds = &self.refunds;
        self.refund_by_replay_key.retain(|_, id| refunds.contains_key(id));
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.trades.len()
    }

    /// `prefix` and `len` characters of `alphabet`, from the run's generator.
    pub fn new_id(&mut self, prefix: &str, alphabet: &[u8], len: usize) -> String {
        format!("{prefix}{}", random(&mut self.rng, alphabet, len))
    }

    pub fn trade(&self, trade_id: &str) -> Option<&TradeRecord> {
        self.trades.get(trade_id)
    }

    /// The latest trade the merchant opened under `out_trade_no`.
    pub fn latest(&self, channel: ChannelKind, out_trade_no: &str) -> Option<&TradeRecord> {
        let ids = self.by_out_trade_no.get(&(channel, out_trade_no.to_string()))?;
        self.trades.get(ids.last()?)
    }

    pub fn trades_for(&self, channel: ChannelKind, out_trade_no: &str) -> impl Iterator<Item = &TradeRecord> {
        let ids = self.by_out_trade_no.get(&(channel, out_trade_no.to_string()));
        ids.into_iter().flatten().filter_map(|id| self.trades.get(id))
    }

    pub fn insert(&mut self, trade: TradeRecord) -> Result<&TradeRecord, LedgerError> {
        self.inserted += 1;
        if let Some(after) = self.forget_after_ms.filter(|_| self.inserted.is_multiple_of(SWEEP_EVERY_INSERTS)) {
            self.forget_before(trade.created_ms.saturating_sub(after));
        }
        if self.trades.len() >= self.max_records {
            return Err(LedgerError::Full(self.max_records));
        }
        let id = trade.trade_id.clone();
        self.by_out_trade_no.entry((trade.channel, trade.out_trade_no.clone())).or_default().push(id.clone());
        Ok(self.trades.entry(id).or_insert(trade))
    }

    fn trade_mut(&mut self, trade_id: &str) -> Result<&mut TradeRecord, LedgerError> {
        self.trades.get_mut(trade_id).ok_or(LedgerError::UnknownTrade)
    }

    /// The shopper paid: Open or Failed → Paid, fee fixed now.
    pub fn pay(&mut self, trade_id: &str, now_ms: i64) -> Result<&TradeRecord, LedgerError> {
        let trade = self.trade_mut(trade_id)?;
        match trade.state {
            TradeState::Open | TradeState::Failed => {}
            TradeState::Paid | TradeState::Finished => return Err(LedgerError::AlreadyPaid),
            TradeState::Closed => return Err(LedgerError::Closed),
        }
        trade.state = TradeState::Paid;
        trade.paid_ms = Some(now_ms);
        trade.fee_minor = FeeRate::of(trade.channel).fee_minor(trade.amount_minor);
        Ok(trade)
    }

    /// The shopper's attempt failed: the trade stays payable.
    pub fn decline(&mut self, trade_id: &str) -> Result<&TradeRecord, LedgerError> {
        let trade = self.trade_mut(trade_id)?;
        match trade.state {
            TradeState::Open | TradeState::Failed => {}
            TradeState::Paid | TradeState::Finished => return Err(LedgerError::AlreadyPaid),
            TradeState::Closed => return Err(LedgerError::Closed),
        }
        trade.state = TradeState::Failed;
        Ok(trade)
    }

    /// The merchant closes (or cancels) an unpaid trade; closing twice is fine.
    pub fn close(&mut self, trade_id: &str) -> Result<&TradeRecord, LedgerError> {
        let trade = self.trade_mut(trade_id)?;
        if matches!(trade.state, TradeState::Paid | TradeState::Finished) {
            return Err(LedgerError::AlreadyPaid);
        }
        trade.state = TradeState::Closed;
        Ok(trade)
    }

    /// The refund window passed (Alipay's TRADE_FINISHED).
    pub fn finish(&mut self, trade_id: &str) -> Result<&TradeRecord, LedgerError> {
        let trade = self.trade_mut(trade_id)?;
        if trade.state != TradeState::Paid {
            return Err(LedgerError::NotPaid);
        }
        trade.state = TradeState::Finished;
        Ok(trade)
    }

    /// Accepts a refund, or replays the one already accepted under the same refund number.
    pub fn refund(&mut self, channel: ChannelKind, new: NewRefund, refund_id: String, now_ms: i64) -> Result<RefundOutcome, LedgerError> {
        if let Some(replayed) = self.replay(channel, &new)? {
            return Ok(RefundOutcome::Replayed(replayed));
        }
        if self.refunds.len() >= self.max_records {
            return Err(LedgerError::Full(self.max_records));
        }
        let trade = self.trade_mut(&new.trade_id)?;
        check_refundable(trade, new.amount_minor)?;
        trade.refund_requested_minor += new.amount_minor;
        if new.settled {
            trade.refunded_minor += new.amount_minor;
        }
        let record = RefundRecord {
            channel,
            refund_id: refund_id.clone(),
            out_refund_no: new.out_refund_no.clone(),
            trade_id: trade.trade_id.clone(),
            out_trade_no: trade.out_trade_no.clone(),
            amount_minor: new.amount_minor,
            state: if new.settled { RefundState::Succeeded } else { RefundState::Pending },
            created_ms: now_ms,
            succeeded_ms: new.settled.then_some(now_ms),
            notify_url: new.notify_url,
            trade_refund_total_minor: trade.refund_requested_minor,
        };
        if let Some(replay_key) = new.replay_key {
            self.refund_by_replay_key.insert((channel, replay_key), refund_id.clone());
        }
        self.refunds.insert(refund_id, record.clone());
        Ok(RefundOutcome::Accepted(record))
    }

    fn replay(&self, channel: ChannelKind, new: &NewRefund) -> Result<Option<RefundRecord>, LedgerError> {
        let Some(replay_key) = &new.replay_key else {
            return Ok(None);
        };
        let Some(existing) = self.refund_by_replay_key.get(&(channel, replay_key.clone())).and_then(|id| self.refunds.get(id)) else {
            return Ok(None);
        };
        if existing.trade_id != new.trade_id || existing.amount_minor != new.amount_minor {
            return Err(LedgerError::RefundMismatch);
        }
        Ok(Some(existing.clone()))
    }

    /// A pending refund went through; `None` when it already had.
    pub fn settle_refund(&mut self, refund_id: &str, now_ms: i64) -> Result<Option<RefundRecord>, LedgerError> {
        let refund = self.refunds.get_mut(refund_id).ok_or(LedgerError::UnknownRefund)?;
        if refund.state == RefundState::Succeeded {
            return Ok(None);
        }
        refund.state = RefundState::Succeeded;
        refund.succeeded_ms = Some(now_ms);
        let settled = refund.clone();
        let trade = self.trade_mut(&settled.trade_id)?;
        trade.refunded_minor += settled.amount_minor;
        Ok(Some(settled))
    }

    /// Every trade and refund of one channel, oldest first: what a daily bill is made from.
    pub fn records(&self, channel: ChannelKind) -> (Vec<TradeRecord>, Vec<RefundRecord>) {
        let mut trades: Vec<_> = self.trades.values().filter(|t| t.channel == channel).cloned().collect();
        trades.sort_by(|a, b| (a.created_ms, &a.trade_id).cmp(&(b.created_ms, &b.trade_id)));
        let mut refunds: Vec<_> = self.refunds.values().filter(|r| r.channel == channel).cloned().collect();
        refunds.sort_by(|a, b| (a.created_ms, &a.refund_id).cmp(&(b.created_ms, &b.refund_id)));
        (trades, refunds)
    }
}

fn check_refundable(trade: &TradeRecord, amount_minor: i64) -> Result<(), LedgerError> {
    match trade.state {
        TradeState::Paid => {}
        TradeState::Finished => return Err(LedgerError::Finished),
        TradeState::Open | TradeState::Failed | TradeState::Closed => return Err(LedgerError::NotPaid),
    }
    if amount_minor <= 0 {
        return Err(LedgerError::InvalidAmount);
    }
    let requested_minor = trade.refund_requested_minor.saturating_add(amount_minor);
    if requested_minor > trade.amount_minor {
        return Err(LedgerError::RefundExceedsPaid { requested_minor, paid_minor: trade.amount_minor });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trade(ledger: &mut Ledger, out_trade_no: &str, amount_minor: i64) -> String {
        trade_at(ledger, out_trade_no, amount_minor, 0)
    }

    fn trade_at(ledger: &mut Ledger, out_trade_no: &str, amount_minor: i64, created_ms: i64) -> String {
        let trade_id = ledger.new_id("T", b"0123456789", 8);
        ledger
            .insert(TradeRecord {
                channel: ChannelKind::Wechat,
                trade_id: trade_id.clone(),
                out_trade_no: out_trade_no.into(),
                amount_minor,
                currency: "CNY".into(),
                description: "test".into(),
                state: TradeState::Open,
                created_ms,
                paid_ms: None,
                fee_minor: 0,
                notify_url: None,
                refund_requested_minor: 0,
                refunded_minor: 0,
                detail: Detail::Alipay { qr_code: String::new() },
            })
            .expect("room");
        trade_id
    }

    fn refund(trade_id: &str, out_refund_no: &str, amount_minor: i64) -> NewRefund {
        NewRefund {
            trade_id: trade_id.into(),
            out_refund_no: Some(out_refund_no.into()),
            amount_minor,
            notify_url: None,
            replay_key: Some(out_refund_no.into()),
            settled: false,
        }
    }

    #[test]
    fn a_forgetting_ledger_drops_old_trades_with_their_refunds_and_keeps_recent_ones() {
        let mut ledger = Ledger::new(1, 10_000).forgetting(Some(std::time::Duration::from_secs(60)));
        let first = trade_at(&mut ledger, "P-first", 1_000, 0);
        ledger.pay(&first, 1).expect("pays");
        assert!(matches!(ledger.refund(ChannelKind::Wechat, refund(&first, "R1", 100), "r1".into(), 2), Ok(RefundOutcome::Accepted(_))));
        // One trade a second: at the sweep, those made over a minute before the newest go.
        for k in 1..SWEEP_EVERY_INSERTS as i64 {
            trade_at(&mut ledger, &format!("P{k}"), 1_000, k * 1_000);
        }
        let newest = (SWEEP_EVERY_INSERTS as i64 - 1) * 1_000;
        assert_eq!(ledger.len(), 61, "trades made in the last minute before the newest, and the newest");
        assert!(ledger.trade(&first).is_none() && ledger.latest(ChannelKind::Wechat, "P-first").is_none());
        assert!(ledger.records(ChannelKind::Wechat).1.is_empty(), "its refund went with it");
        assert!(ledger.records(ChannelKind::Wechat).0.iter().all(|t| t.created_ms >= newest - 60_000));
        let replayed = ledger.refund(ChannelKind::Wechat, refund(&first, "R1", 100), "r1b".into(), 3);
        assert_eq!(replayed, Err(LedgerError::UnknownTrade), "the refund number is forgotten too");
    }

    #[test]
    fn fees_are_proportional_rounded_half_up_plus_the_fixed_part() {
        let wechat = FeeRate::of(ChannelKind::Wechat);
        assert_eq!(wechat.fee_minor(69_900), 419); // 419.4
        assert_eq!(wechat.fee_minor(2_500), 15); // 15.0
        assert_eq!(wechat.fee_minor(75), 0); // 0.45
        assert_eq!(wechat.fee_minor(250), 2); // 1.5 rounds up
        let card = FeeRate::of(ChannelKind::Card);
        assert_eq!(card.fee_minor(10_000), 320); // 290 + 30
        assert_eq!(card.fee_minor(50), 31); // 1.45 → 1, + 30
        assert_eq!(card.fee_minor(150), 34); // 4.35 → 4, + 30
    }

    #[test]
    fn refunds_are_checked_against_the_paid_amount_and_replayed_by_refund_number() {
        let mut ledger = Ledger::new(1, 10);
        let id = trade(&mut ledger, "P1", 1_000);
        assert_eq!(ledger.refund(ChannelKind::Wechat, refund(&id, "R1", 100), "r1".into(), 0), Err(LedgerError::NotPaid));
        ledger.pay(&id, 5).expect("pays");
        assert_eq!(ledger.trade(&id).map(|t| t.fee_minor), Some(6));
        assert!(matches!(ledger.refund(ChannelKind::Wechat, refund(&id, "R1", 600), "r1".into(), 6), Ok(RefundOutcome::Accepted(_))));
        assert!(matches!(ledger.refund(ChannelKind::Wechat, refund(&id, "R1", 600), "r1b".into(), 7), Ok(RefundOutcome::Replayed(r)) if r.refund_id == "r1"));
        assert_eq!(ledger.refund(ChannelKind::Wechat, refund(&id, "R1", 500), "r1c".into(), 7), Err(LedgerError::RefundMismatch));
        let over = ledger.refund(ChannelKind::Wechat, refund(&id, "R2", 401), "r2".into(), 8);
        assert_eq!(over, Err(LedgerError::RefundExceedsPaid { requested_minor: 1_001, paid_minor: 1_000 }));
        assert_eq!(ledger.trade(&id).map(|t| t.refunded_minor), Some(0));
        assert!(ledger.settle_refund("r1", 9).expect("known").is_some());
        assert_eq!(ledger.settle_refund("r1", 10), Ok(None));
        assert_eq!(ledger.trade(&id).map(|t| t.refunded_minor), Some(600));
    }

    #[test]
    fn a_paid_trade_cannot_be_closed_declined_or_paid_again_and_a_full_ledger_refuses() {
        let mut ledger = Ledger::new(1, 1);
        let id = trade(&mut ledger, "P1", 1_000);
        ledger.decline(&id).expect("declines");
        ledger.pay(&id, 1).expect("a declined trade may still be paid");
        assert_eq!(ledger.close(&id).err(), Some(LedgerError::AlreadyPaid));
        assert_eq!(ledger.pay(&id, 2).err(), Some(LedgerError::AlreadyPaid));
        assert_eq!(ledger.decline(&id).err(), Some(LedgerError::AlreadyPaid));
        let other = TradeRecord { trade_id: "other".into(), ..ledger.trade(&id).cloned().expect("exists") };
        assert_eq!(ledger.insert(other).err(), Some(LedgerError::Full(1)));
    }
}
