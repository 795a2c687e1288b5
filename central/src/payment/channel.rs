//! The one interface every payment channel adapter implements, and what they share.
//!
//! Adding a channel (UnionPay, digital currency) is one more file implementing
//! `PaymentChannel` and one more arm in `Channels::from_settings`; nothing else changes.
//! Calls go out with a deadline and are never made inside a database transaction.

use super::ChannelReport;
use axum::http::{HeaderMap, StatusCode};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tote_shared::payment::ChannelKind;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How the customer pays.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PayMethod {
    /// A QR code the customer scans (WeChat native, Alipay precreate); the card gateway's
    /// hosted page.
    Qr,
    /// WeChat inside a mini-program or official account: the payer's openid.
    Jsapi { openid: String },
}

#[derive(Debug, Clone)]
pub struct CreateRequest {
    pub out_trade_no: String,
    pub amount_minor: i64,
    pub currency: String,
    pub description: String,
    pub expires_at_ms: i64,
    pub method: PayMethod,
}

/// The channel accepted the payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub channel_ref: Option<String>,
    pub pay_url: Option<String>,
}

#[derive(Debug, Clone)]
pub struct RefundRequest {
    pub out_trade_no: String,
    pub channel_ref: Option<String>,
    pub out_refund_no: String,
    pub amount_minor: i64,
    pub total_minor: i64,
    pub currency: String,
    pub reason: String,
}

/// Where a refund stands at the channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundStatus {
    /// Accepted; a notification (or the daily bill) will say how it ended.
    Processing,
    Succeeded,
    Failed,
}

/// How a refund notification states the money.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundAmount {
    /// This refund's amount (WeChat Pay, the card gateway).
    This(i64),
    /// Everything refunded on the trade so far, this refund included (Alipay's `refund_fee`).
    Cumulative(i64),
}

/// What a verified notification says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    Payment { notification_id: String, out_trade_no: String, report: ChannelReport },
    Refund { notification_id: String, out_refund_no: String, amount: RefundAmount, status: RefundStatus },
    /// Verified, but about nothing we act on (acknowledged so the channel stops).
    Ignored { notification_id: String, kind: String },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelError {
    /// The call did not finish in time, or the connection broke: the outcome is unknown.
    #[error("no answer: {0}")]
    Unreachable(String),
    /// The channel answered 5xx or a signature on its answer did not verify.
    #[error("bad answer: {0}")]
    BadAnswer(String),
    /// The channel refused the request; `code` is its own.
    #[error("refused ({code}): {message}")]
    Refused { code: String, message: String },
    #[error("not found at the channel")]
    NotFound,
    /// Closing a transaction the customer has already paid.
    #[error("already paid")]
    AlreadyPaid,
}

/// Why a notification was refused (counted in /metrics by reason).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    #[error("signature: {0}")]
    Signature(String),
    #[error("stale: {0}")]
    Stale(String),
    #[error("unknown key serial: {0}")]
    UnknownSerial(String),
    #[error("does not decrypt: {0}")]
    Decrypt(String),
    #[error("malformed: {0}")]
    Malformed(String),
}

impl NotifyError {
    /// The label for /metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            NotifyError::Signature(_) => "signature",
            NotifyError::Stale(_) => "stale",
            NotifyError::UnknownSerial(_) => "unknown_serial",
            NotifyError::Decrypt(_) => "decrypt",
            NotifyError::Malformed(_) => "malformed",
        }
    }
}

/// One payment channel, as central uses it.
pub trait PaymentChannel: Send + Sync {
    fn kind(&self) -> ChannelKind;
    fn create<'a>(&'a self, request: &'a CreateRequest) -> BoxFuture<'a, Result<Created, ChannelError>>;
    fn query<'a>(&'a self, out_trade_no: &'a str, channel_ref: Option<&'a str>) -> BoxFuture<'a, Result<ChannelReport, ChannelError>>;
    fn close<'a>(&'a self, out_trade_no: &'a str, channel_ref: Option<&'a str>) -> BoxFuture<'a, Result<(), ChannelError>>;
    fn refund<'a>(&'a self, request: &'a RefundRequest) -> BoxFuture<'a, Result<RefundStatus, ChannelError>>;
    /// Where a refund stands at the channel; `NotFound` when the channel never took it.
    fn query_refund<'a>(&'a self, request: &'a RefundRequest) -> BoxFuture<'a, Result<RefundStatus, ChannelError>>;
    /// Verifies (and decrypts) a notification. Pure: no I/O, `now_s` from the caller.
    fn open_notification(&self, headers: &HeaderMap, body: &[u8], now_s: i64) -> Result<Notice, NotifyError>;
    /// The answer that tells the channel a notification was taken (or must be retried).
    fn acknowledge(&self, taken: bool) -> (StatusCode, &'static str, String);
    /// The channel's bill for `day` (`YYYY-MM-DD`) as raw bytes, in the channel's format.
    fn download_bill<'a>(&'a self, day: &'a str) -> BoxFuture<'a, Result<Vec<u8>, ChannelError>>;
}

/// The configured channels.
#[derive(Clone, Default)]
pub struct Channels {
    by_kind: BTreeMap<ChannelKind, Arc<dyn PaymentChannel>>,
}

impl Channels {
    /// `listener`: central's own address, the notification base when no `public_url` is set.
    pub fn from_settings(settings: &crate::config::PaymentSettings, listener: std::net::SocketAddr) -> Result<Channels, String> {
        let base = settings.public_url.clone().unwrap_or_else(|| format!("http://{listener}"));
        let notify_url = |kind: ChannelKind| format!("{}/api/v1/payments/notify/{}", base.trim_end_matches('/'), kind.as_str());
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(settings.call_timeout_ms))
            .connect_timeout(Duration::from_millis(settings.call_timeout_ms))
            .pool_max_idle_per_host(16)
            .build()
            .map_err(|e| e.to_string())?;
        let mut by_kind: BTreeMap<ChannelKind, Arc<dyn PaymentChannel>> = BTreeMap::new();
        if let Some(wechat) = &settings.wechat {
            by_kind.insert(ChannelKind::Wechat, Arc::new(super::wechat::Wechat::new(wechat, notify_url(ChannelKind::Wechat), client.clone())?));
        }
        if let Some(alipay) = &settings.alipay {
            by_kind.insert(ChannelKind::Alipay, Arc::new(super::alipay::Alipay::new(alipay, notify_url(ChannelKind::Alipay), client.clone())?));
        }
        if let Some(card) = &settings.card {
            by_kind.insert(ChannelKind::Card, Arc::new(super::card::Card::new(card, client)));
        }
        Ok(Channels { by_kind })
    }

    pub fn get(&self, kind: ChannelKind) -> Option<&Arc<dyn PaymentChannel>> {
        self.by_kind.get(&kind)
    }

    pub fn kinds(&self) -> impl Iterator<Item = ChannelKind> + '_ {
        self.by_kind.keys().copied()
    }
}

/// A reqwest failure as a channel error: no answer, or an answer we cannot use.
pub fn transport(error: reqwest::Error) -> ChannelError {
    if error.is_timeout() || error.is_connect() || error.is_request() {
        ChannelError::Unreachable(error.to_string())
    } else {
        ChannelError::BadAnswer(error.to_string())
    }
}

/// Most bytes we read from a channel's answer (bills are downloaded separately).
pub const MAX_ANSWER_BYTES: usize = 1024 * 1024;
/// Most bytes of a bill.
pub const MAX_BILL_BYTES: usize = 512 * 1024 * 1024;

/// Reads an answer's body up to `limit` bytes.
pub async fn read_limited(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, ChannelError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        if body.len() + chunk.len() > limit {
            return Err(ChannelError::BadAnswer(format!("answer larger than {limit} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A random nonce of 32 characters from [A-Za-z0-9].
pub fn nonce() -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..32).map(|_| char::from(CHARS[rng.gen_range(0..CHARS.len())])).collect()
}

/// An RFC 3339 time in China Standard Time, as WeChat Pay writes times.
pub fn rfc3339_cst(at_ms: i64) -> String {
    let local_ms = at_ms + 8 * 3_600_000;
    let day = tote_shared::calendar::utc_day(local_ms);
    let secs = local_ms.div_euclid(1000).rem_euclid(86_400);
    format!("{day}T{:02}:{:02}:{:02}+08:00", secs / 3600, secs / 60 % 60, secs % 60)
}

/// `YYYY-MM-DD HH:MM:SS` in China Standard Time, as Alipay writes times.
pub fn alipay_time(at_ms: i64) -> String {
    rfc3339_cst(at_ms).replacen('T', " ", 1)[..19].to_string()
}
