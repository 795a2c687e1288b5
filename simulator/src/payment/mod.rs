//! The payment channels Tote does not own — WeChat Pay v3, Alipay, a Stripe-style card
//! gateway — each played as its own HTTP server with its own keys, speaking the wire format
//! and signature scheme of `tote_shared::payment`, so central's adapters are tested against
//! the same protocol a real channel speaks.
//!
//! What it is: three axum servers on already-bound listeners, one memory of trades and
//! refunds (`ledger`), notifications signed and retried on each channel's schedule
//! (`delivery`), the shopper's moves (`pay`, `decline`) and the channel's moods (5xx answers,
//! slow answers, duplicate or stopped notifications, paying before the create answer).
//!
//! What it is not: a signer (the shared module signs and verifies), a persistent store (a
//! run lives in memory), or a bill server — daily bills come from another branch; they will
//! read `ChannelSim::records` and `FeeRate`.

mod alipay;
pub mod bills;
mod card;
mod delivery;
pub mod keys;
mod ledger;
mod wechat;

#[cfg(test)]
mod tests;

pub use delivery::retry_schedule_s;
pub use keys::{ChannelKeys, KeyGenError};
pub use ledger::{
    Detail, FeeRate, LedgerError, RefundRecord, RefundState, TradeRecord, TradeState,
    WechatTradeType,
};
pub use tote_shared::payment::ChannelKind;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use delivery::Envelope;
use ledger::Ledger;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tote_shared::payment::keys::{KeyError, PrivateKey, PublicKey};

/// Trades (and, separately, refunds) one run keeps; beyond, creates answer 503.
pub const DEFAULT_MAX_TRADES: usize = 1_000_000;
/// Largest request body a channel reads (their real limits are smaller still).
const MAX_BODY_BYTES: usize = 64 * 1024;
/// How long a WeChat or card refund stays pending before it succeeds (× `time_scale`).
const REFUND_SETTLE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub keys: ChannelKeys,
    /// Seeds every id the channels hand out, so a run replays.
    pub seed: u64,
    /// Multiplies every channel delay (retry schedules, refund settlement): 1.0 is real time,
    /// tests use 0.01.
    pub time_scale: f64,
    /// Where the card gateway sends webhooks; also settable after start.
    pub card_webhook_url: Option<String>,
    pub max_trades: usize,
    /// Trades, refunds and card idempotency keys older than this are forgotten (a real channel
    /// keeps them for months, a simulator running for hours cannot). None: kept until
    /// `max_trades`. A forgotten trade is unknown to queries and bills.
    pub forget_after: Option<Duration>,
    pub wechat_listen: SocketAddr,
    pub alipay_listen: SocketAddr,
    pub card_listen: SocketAddr,
}

impl SimConfig {
    /// Real-time delays, every channel on a free local port.
    pub fn new(keys: ChannelKeys, seed: u64) -> SimConfig {
        let local = SocketAddr::from(([127, 0, 0, 1], 0));
        SimConfig {
            keys,
            seed,
            time_scale: 1.0,
            card_webhook_url: None,
            max_trades: DEFAULT_MAX_TRADES,
            forget_after: None,
            wechat_listen: local,
            alipay_listen: local,
            card_listen: local,
        }
    }

    fn validate(&self) -> Result<(), SimError> {
        if !self.time_scale.is_finite() || self.time_scale < 0.0 {
            return Err(SimError::Config(format!(
                "time_scale must be finite and not negative, not {}",
                self.time_scale
            )));
        }
        if self.max_trades == 0 {
            return Err(SimError::Config("max_trades must be positive".into()));
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("bad configuration: {0}")]
    Config(String),
    #[error("a channel key does not load: {0}")]
    Key(#[from] KeyError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the HTTP client does not build: {0}")]
    Client(String),
    #[error("no {} trade {out_trade_no} waiting for the shopper", channel.as_str())]
    NothingToPay {
        channel: ChannelKind,
        out_trade_no: String,
    },
    #[error("no {} trade {out_trade_no}", channel.as_str())]
    UnknownTrade {
        channel: ChannelKind,
        out_trade_no: String,
    },
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("{}: {what}", channel.as_str())]
    Unsupported {
        channel: ChannelKind,
        what: &'static str,
    },
}

/// The keys the servers sign and verify with, loaded once.
struct Signers {
    wechat_platform: PrivateKey,
    wechat_merchant: PublicKey,
    alipay: PrivateKey,
    alipay_app: PublicKey,
}

impl Signers {
    fn load(keys: &ChannelKeys) -> Result<Signers, KeyError> {
        Ok(Signers {
            wechat_platform: PrivateKey::from_pem(&keys.wechat_platform_private_pem)?,
            wechat_merchant: PublicKey::from_pem(&keys.wechat_merchant_public_pem)?,
            alipay: PrivateKey::from_pem(&keys.alipay_private_pem)?,
            alipay_app: PublicKey::from_pem(&keys.alipay_app_public_pem)?,
        })
    }
}

#[derive(Default)]
struct Faults {
    answer_5xx_remaining: AtomicU64,
    delay_ms: AtomicU64,
    duplicate: AtomicBool,
    pay_on_create: AtomicBool,
}

/// One channel's moods and counters.
struct ChannelRuntime {
    faults: Faults,
    /// `true` while notifications are held back.
    stopped: watch::Sender<bool>,
    deliveries: AtomicU64,
    acknowledged: AtomicU64,
    pending: AtomicU64,
    /// Differences planted in this channel's bills.
    plants: Mutex<Vec<bills::Plant>>,
}

impl ChannelRuntime {
    fn new() -> ChannelRuntime {
        ChannelRuntime {
            faults: Faults::default(),
            stopped: watch::Sender::new(false),
            deliveries: AtomicU64::new(0),
            acknowledged: AtomicU64::new(0),
            pending: AtomicU64::new(0),
            plants: Mutex::new(Vec::new()),
        }
    }

    fn notifications_stopped(&self) -> bool {
        *self.stopped.borrow()
    }

    async fn wait_while_stopped(&self) {
        let mut stopped = self.stopped.subscribe();
        // The sender lives as long as the channel, so this only ends when resumed.
        let _ = stopped.wait_for(|stopped| !*stopped).await;
    }

    /// Whether this request is one of the next `n` to fail.
    fn take_5xx(&self) -> bool {
        self.faults
            .answer_5xx_remaining
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    fn pay_on_create(&self) -> bool {
        self.faults.pay_on_create.load(Ordering::SeqCst)
    }
}

/// What the three servers and the delivery tasks share.
struct Inner {
    keys: ChannelKeys,
    signers: Signers,
    ledger: Mutex<Ledger>,
    channels: [ChannelRuntime; 3],
    card_webhook_url: Mutex<Option<String>>,
    card: card::CardState,
    http: reqwest::Client,
    time_scale: f64,
    runtime: tokio::runtime::Handle,
    /// Deliveries and refund settlements, aborted with the simulator.
    tasks: Mutex<JoinSet<()>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not take the simulator down with it; the data stays usable.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn index(channel: ChannelKind) -> usize {
    match channel {
        ChannelKind::Wechat => 0,
        ChannelKind::Alipay => 1,
        ChannelKind::Card => 2,
    }
}

pub(crate) use tote_shared::runtime::system::now_ms;

/// Beijing time (UTC+8, no daylight saving), the zone both Chinese channels write in:
/// `YYYY-MM-DDTHH:MM:SS.mmm`.
fn beijing(ms: i64) -> String {
    let utc = tote_shared::vda5050::iso8601_utc(ms.saturating_add(8 * 3_600_000));
    utc.trim_end_matches('Z').to_string()
}

/// `2026-12-02T10:15:00+08:00`, as WeChat Pay writes times.
pub(crate) fn rfc3339_beijing(ms: i64) -> String {
    format!("{}+08:00", &beijing(ms)[..19])
}

/// `2026-12-02 10:15:00`, as Alipay writes times.
pub(crate) fn alipay_time(ms: i64) -> String {
    beijing(ms)[..19].replace('T', " ")
}

impl Inner {
    fn channel(&self, channel: ChannelKind) -> &ChannelRuntime {
        &self.channels[index(channel)]
    }

    fn ledger(&self) -> MutexGuard<'_, Ledger> {
        lock(&self.ledger)
    }

    fn random_id(&self, prefix: &str, len: usize) -> String {
        self.ledger().new_id(prefix, keys::ALPHANUMERIC, len)
    }

    fn card_webhook_url(&self) -> Option<String> {
        lock(&self.card_webhook_url).clone()
    }

    fn scaled(&self, delay: Duration) -> Duration {
        delay.mul_f64(self.time_scale)
    }

    fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        let mut tasks = lock(&self.tasks);
        // Reap what finished so the set holds only live tasks.
        while tasks.try_join_next().is_some() {}
        tasks.spawn_on(task, &self.runtime);
    }

    /// The shopper pays the trade `trade_id`; the notification to send, if any.
    fn pay_trade(&self, trade_id: &str) -> Result<Option<Envelope>, SimError> {
        let trade = self.ledger().pay(trade_id, now_ms())?.clone();
        self.payment_notification(&trade)
    }

    /// `pay_on_create`: the trade is paid and its first notification attempt made before
    /// the create call answers.
    async fn pay_before_answer(self: &Arc<Self>, trade_id: &str) {
        match self.pay_trade(trade_id) {
            Ok(Some(envelope)) => self.dispatch_now(envelope).await,
            Ok(None) => {}
            Err(error) => tracing::debug!(%error, "pay_on_create: the trade is not payable"),
        }
    }

    fn payment_notification(&self, trade: &TradeRecord) -> Result<Option<Envelope>, SimError> {
        Ok(match trade.channel {
            ChannelKind::Wechat => wechat::payment_notification(self, trade),
            ChannelKind::Alipay => alipay::payment_notification(self, trade)?,
            ChannelKind::Card => Some(card::intent_event(self, "payment_intent.succeeded", trade)),
        })
    }

    /// The trade under `out_trade_no` the shopper can still pay (for the card gateway, the
    /// latest such intent).
    fn payable(&self, channel: ChannelKind, out_trade_no: &str) -> Result<String, SimError> {
        let ledger = self.ledger();
        let mut trades: Vec<_> = ledger.trades_for(channel, out_trade_no).collect();
        trades.retain(|t| matches!(t.state, TradeState::Open | TradeState::Failed));
        trades
            .last()
            .map(|t| t.trade_id.clone())
            .ok_or_else(|| SimError::NothingToPay {
                channel,
                out_trade_no: out_trade_no.to_string(),
            })
    }

    /// Marks a refund done after the channel's settlement delay and notifies it.
    fn settle_later(self: &Arc<Self>, refund_id: String) {
        let inner = self.clone();
        self.spawn(async move {
            tokio::time::sleep(inner.scaled(REFUND_SETTLE)).await;
            let settled = inner.ledger().settle_refund(&refund_id, now_ms());
            match settled {
                Ok(Some(refund)) => {
                    if let Some(envelope) = inner.refund_notification(&refund) {
                        inner.dispatch(envelope);
                    }
                }
                Ok(None) => {}
                Err(error) => tracing::warn!(%refund_id, %error, "refund not settled"),
            }
        });
    }

    fn refund_notification(&self, refund: &RefundRecord) -> Option<Envelope> {
        let trade = self.ledger().trade(&refund.trade_id)?.clone();
        match refund.channel {
            ChannelKind::Wechat => wechat::refund_notification(self, &trade, refund),
            ChannelKind::Alipay => alipay::refund_notification(self, &trade, refund)
                .ok()
                .flatten(),
            ChannelKind::Card => Some(card::refund_event(self, refund)),
        }
    }
}

/// The faults every channel can be told to show, in front of its routes: the next `n`
/// requests fail with a 5xx before anything is done; answers are held back after the work
/// is done (so a caller that times out has still changed the channel's state).
async fn faults(
    State((inner, channel)): State<(Arc<Inner>, ChannelKind)>,
    request: Request,
    next: Next,
) -> Response {
    if inner.channel(channel).take_5xx() {
        return match channel {
            ChannelKind::Wechat => wechat::server_error(&inner),
            ChannelKind::Alipay => alipay::server_error(&inner),
            ChannelKind::Card => card::server_error(),
        };
    }
    let response = next.run(request).await;
    let delay_ms = inner
        .channel(channel)
        .faults
        .delay_ms
        .load(Ordering::SeqCst);
    if delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
    }
    response
}

/// The three running channels. Dropping it stops the servers and every pending delivery.
pub struct ChannelSim {
    inner: Arc<Inner>,
    addrs: [SocketAddr; 3],
    servers: Vec<JoinHandle<()>>,
}

impl ChannelSim {
    /// Binds the three listeners and starts serving; call inside a tokio runtime.
    pub async fn start(config: SimConfig) -> Result<ChannelSim, SimError> {
        config.validate()?;
        let listeners = [
            bind(config.wechat_listen).await?,
            bind(config.alipay_listen).await?,
            bind(config.card_listen).await?,
        ];
        Self::serve(config, listeners)
    }

    /// Serves on already-bound listeners: WeChat, Alipay, card, in that order.
    pub fn serve(config: SimConfig, listeners: [TcpListener; 3]) -> Result<ChannelSim, SimError> {
        config.validate()?;
        let inner = Arc::new(Inner {
            signers: Signers::load(&config.keys)?,
            keys: config.keys,
            ledger: Mutex::new(Ledger::new(config.seed, config.max_trades).forgetting(config.forget_after)),
            channels: [
                ChannelRuntime::new(),
                ChannelRuntime::new(),
                ChannelRuntime::new(),
            ],
            card_webhook_url: Mutex::new(config.card_webhook_url),
            card: card::CardState::new(config.max_trades, config.forget_after),
            http: reqwest::Client::builder()
                .timeout(delivery::ATTEMPT_TIMEOUT)
                .no_proxy()
                .build()
                .map_err(|e| SimError::Client(e.to_string()))?,
            time_scale: config.time_scale,
            runtime: tokio::runtime::Handle::current(),
            tasks: Mutex::new(JoinSet::new()),
        });
        let mut addrs = [SocketAddr::from(([127, 0, 0, 1], 0)); 3];
        let mut servers = Vec::with_capacity(3);
        for (channel, listener) in ChannelKind::ALL.into_iter().zip(listeners) {
            addrs[index(channel)] = listener.local_addr().map_err(|source| SimError::Bind {
                addr: addrs[index(channel)],
                source,
            })?;
            servers.push(tokio::spawn(crate::serve_peer(
                listener,
                router(&inner, channel),
                "payment channel",
            )));
        }
        Ok(ChannelSim {
            inner,
            addrs,
            servers,
        })
    }

    pub fn addr(&self, channel: ChannelKind) -> SocketAddr {
        self.addrs[index(channel)]
    }

    /// `http://host:port`, the base URL the channel's API paths go under.
    pub fn base_url(&self, channel: ChannelKind) -> String {
        format!("http://{}", self.addr(channel))
    }

    pub fn keys(&self) -> &ChannelKeys {
        &self.inner.keys
    }

    /// Where the card gateway sends webhooks from now on (central starts after us).
    pub fn set_card_webhook_url(&self, url: Option<String>) {
        *lock(&self.inner.card_webhook_url) = url;
    }

    // --- the shopper -----------------------------------------------------------------------

    /// The shopper pays `out_trade_no`: the trade is paid and its notification sent.
    pub fn pay(&self, channel: ChannelKind, out_trade_no: &str) -> Result<(), SimError> {
        let trade_id = self.inner.payable(channel, out_trade_no)?;
        if let Some(envelope) = self.inner.pay_trade(&trade_id)? {
            self.inner.dispatch(envelope);
        }
        Ok(())
    }

    /// The shopper's payment fails: the card gateway sends `payment_intent.payment_failed`;
    /// WeChat and Alipay send nothing (a query says PAYERROR, or still WAIT_BUYER_PAY).
    pub fn decline(&self, channel: ChannelKind, out_trade_no: &str) -> Result<(), SimError> {
        let trade_id = self.inner.payable(channel, out_trade_no)?;
        let trade = self.inner.ledger().decline(&trade_id)?.clone();
        if channel == ChannelKind::Card {
            self.inner.dispatch(card::intent_event(
                &self.inner,
                "payment_intent.payment_failed",
                &trade,
            ));
        }
        Ok(())
    }

    /// The refund window of a paid Alipay trade passes (TRADE_FINISHED): refunds are refused.
    pub fn finish(&self, channel: ChannelKind, out_trade_no: &str) -> Result<(), SimError> {
        if channel != ChannelKind::Alipay {
            return Err(SimError::Unsupported {
                channel,
                what: "only Alipay finishes trades",
            });
        }
        let mut ledger = self.inner.ledger();
        let trade_id = ledger
            .latest(channel, out_trade_no)
            .map(|t| t.trade_id.clone());
        let trade_id = trade_id.ok_or_else(|| SimError::UnknownTrade {
            channel,
            out_trade_no: out_trade_no.to_string(),
        })?;
        ledger.finish(&trade_id)?;
        Ok(())
    }

    // --- the channel's moods ---------------------------------------------------------------

    /// The next `n` requests to `channel` answer 5xx without doing anything.
    pub fn answer_5xx_next(&self, channel: ChannelKind, n: u64) {
        self.inner
            .channel(channel)
            .faults
            .answer_5xx_remaining
            .store(n, Ordering::SeqCst);
    }

    /// Every answer from `channel` is held back `ms` after the work is done (0: none).
    pub fn delay_answers_ms(&self, channel: ChannelKind, ms: u64) {
        self.inner
            .channel(channel)
            .faults
            .delay_ms
            .store(ms, Ordering::SeqCst);
    }

    /// Every notification from now on is delivered twice, independently, with the same id.
    pub fn duplicate_notifications(&self, channel: ChannelKind, on: bool) {
        self.inner
            .channel(channel)
            .faults
            .duplicate
            .store(on, Ordering::SeqCst);
    }

    /// A create call pays the trade and makes the first notification attempt before it
    /// answers (the merchant hears of the payment before it knows the trade was created).
    pub fn pay_on_create(&self, channel: ChannelKind, on: bool) {
        self.inner
            .channel(channel)
            .faults
            .pay_on_create
            .store(on, Ordering::SeqCst);
    }

    /// While on, notifications (new ones and retries) are held, not sent and not dropped;
    /// they go out when turned off again.
    pub fn stop_notifications(&self, channel: ChannelKind, on: bool) {
        self.inner.channel(channel).stopped.send_replace(on);
    }

    // --- observers -------------------------------------------------------------------------

    /// Notification attempts the merchant acknowledged.
    pub fn notifications_acknowledged(&self, channel: ChannelKind) -> u64 {
        self.inner
            .channel(channel)
            .acknowledged
            .load(Ordering::SeqCst)
    }

    /// Notification attempts sent (acknowledged or not).
    pub fn deliveries(&self, channel: ChannelKind) -> u64 {
        self.inner
            .channel(channel)
            .deliveries
            .load(Ordering::SeqCst)
    }

    /// Notifications still being delivered or waiting for a retry.
    pub fn notifications_pending(&self, channel: ChannelKind) -> u64 {
        self.inner.channel(channel).pending.load(Ordering::SeqCst)
    }

    /// Money taken for `out_trade_no` (more than its amount if the merchant made two card
    /// intents and both were paid).
    pub fn captured_minor(&self, channel: ChannelKind, out_trade_no: &str) -> i64 {
        let ledger = self.inner.ledger();
        let paid = ledger
            .trades_for(channel, out_trade_no)
            .filter(|t| matches!(t.state, TradeState::Paid | TradeState::Finished));
        paid.map(|t| t.amount_minor).sum()
    }

    /// Refunds of `out_trade_no` that succeeded.
    pub fn refunded_minor(&self, channel: ChannelKind, out_trade_no: &str) -> i64 {
        self.inner
            .ledger()
            .trades_for(channel, out_trade_no)
            .map(|t| t.refunded_minor)
            .sum()
    }

    /// The latest trade under `out_trade_no`.
    pub fn trade(&self, channel: ChannelKind, out_trade_no: &str) -> Option<TradeRecord> {
        self.inner.ledger().latest(channel, out_trade_no).cloned()
    }

    /// Every trade and refund of `channel`, oldest first (what a daily bill is made from).
    /// Plants a difference in this channel's bills from now on.
    pub fn plant(&self, channel: ChannelKind, plant: bills::Plant) {
        lock(&self.inner.channel(channel).plants).push(plant);
    }

    /// The lines of the channel's bill for `day` (plants applied), as it would serve them.
    pub fn bill_lines(
        &self,
        channel: ChannelKind,
        day: tote_shared::payment::bill::BillDay,
    ) -> Vec<tote_shared::payment::bill::BillLine> {
        bills::lines(&self.inner, channel, day)
    }

    pub fn records(&self, channel: ChannelKind) -> (Vec<TradeRecord>, Vec<RefundRecord>) {
        self.inner.ledger().records(channel)
    }
}

impl Drop for ChannelSim {
    fn drop(&mut self) {
        for server in &self.servers {
            server.abort();
        }
        lock(&self.inner.tasks).abort_all();
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, SimError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| SimError::Bind { addr, source })
}

fn router(inner: &Arc<Inner>, channel: ChannelKind) -> Router {
    let routes = match channel {
        ChannelKind::Wechat => wechat::router(inner.clone()),
        ChannelKind::Alipay => alipay::router(inner.clone()),
        ChannelKind::Card => card::router(inner.clone()),
    };
    routes
        .layer(axum::middleware::from_fn_with_state(
            (inner.clone(), channel),
            faults,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
}

impl ChannelSim {
    /// The `[payment.*]` sections of a central config that uses these three channels with
    /// these keys (TOML; PEM keys as multi-line literal strings). `extra` lines go into
    /// `[payment]` itself (timeouts, intervals).
    pub fn central_config(&self, extra: &str) -> String {
        let k = self.keys();
        format!(
            r#"
[payment]
{extra}

[payment.wechat]
base_url = "{wechat}"
appid = "{appid}"
mchid = "{mchid}"
merchant_serial = "{serial}"
merchant_private_key = '''
{merchant_key}'''
apiv3_key = "{apiv3}"

[[payment.wechat.platform_keys]]
serial = "{platform_id}"
public_key = '''
{platform_public}'''

[payment.alipay]
gateway_url = "{alipay}/gateway.do"
app_id = "{app_id}"
app_private_key = '''
{app_key}'''
alipay_public_key = '''
{alipay_public}'''

[payment.card]
base_url = "{card}"
secret_key = "{card_secret}"
webhook_secret = "{card_webhook}"
"#,
            wechat = self.base_url(ChannelKind::Wechat),
            appid = k.wechat_appid,
            mchid = k.wechat_mchid,
            serial = k.wechat_merchant_serial,
            merchant_key = k.wechat_merchant_private_pem,
            apiv3 = k.wechat_apiv3_key,
            platform_id = k.wechat_platform_key_id,
            platform_public = k.wechat_platform_public_pem,
            alipay = self.base_url(ChannelKind::Alipay),
            app_id = k.alipay_app_id,
            app_key = k.alipay_app_private_pem,
            alipay_public = k.alipay_public_pem,
            card = self.base_url(ChannelKind::Card),
            card_secret = k.card_secret_key,
            card_webhook = k.card_webhook_secret,
        )
    }
}
