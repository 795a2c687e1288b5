//! Sending notifications the way each channel does: signed at every attempt, acknowledged by
//! the channel's own rule, retried on the channel's published schedule (scaled by the run's
//! `time_scale`) a bounded number of times.
//!
//! What it is not: the notification contents; the channel modules build those.

use super::{now_ms, Inner};
use reqwest::header::CONTENT_TYPE;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tote_shared::payment::{alipay, card, wechat, ChannelKind};

/// How long a merchant may take to answer one attempt (WeChat asks for 5 s).
pub(crate) const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// Notifications being delivered or waiting to be retried, per channel; beyond, new ones are
/// dropped (and logged): a merchant that never answers must not grow the simulator forever.
const MAX_PENDING: u64 = 100_000;

/// WeChat Pay's published callback schedule after the first attempt.
const WECHAT_RETRIES_S: &[u64] = &[15, 15, 30, 180, 600, 1_200, 1_800, 1_800, 1_800, 3_600, 10_800, 10_800, 10_800, 21_600, 21_600];
/// Alipay's: 4m, 10m, 10m, 1h, 2h, 6h, 15h.
const ALIPAY_RETRIES_S: &[u64] = &[240, 600, 600, 3_600, 7_200, 21_600, 54_000];
/// The card gateway's exponential backoff (Stripe retries for up to three days).
const CARD_RETRIES_S: &[u64] = &[60, 300, 1_800, 7_200, 18_000, 36_000, 36_000, 36_000, 36_000, 36_000];

pub fn retry_schedule_s(channel: ChannelKind) -> &'static [u64] {
    match channel {
        ChannelKind::Wechat => WECHAT_RETRIES_S,
        ChannelKind::Alipay => ALIPAY_RETRIES_S,
        ChannelKind::Card => CARD_RETRIES_S,
    }
}

/// One notification; every retry carries the same id and content.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub channel: ChannelKind,
    pub id: String,
    pub payload: Payload,
}

#[derive(Debug, Clone)]
pub enum Payload {
    /// A v3 callback body; its `Wechatpay-*` headers are signed per attempt.
    Wechat { url: String, body: String },
    /// A signed notification form.
    Alipay { url: String, form: BTreeMap<String, String> },
    /// An event; it goes to the webhook URL configured when the attempt is made, with a
    /// `Stripe-Signature` made per attempt.
    Card { body: String },
}

/// Keeps the pending count right however the delivery task ends (done, gave up, aborted).
struct PendingGuard {
    inner: Arc<Inner>,
    channel: ChannelKind,
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        self.inner.channel(self.channel).pending.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Inner {
    /// Sends `envelope` in the background (twice when the channel duplicates).
    pub(crate) fn dispatch(self: &Arc<Self>, envelope: Envelope) {
        for _ in 0..self.copies(envelope.channel) {
            self.spawn_delivery(envelope.clone(), 0);
        }
    }

    /// Makes the first attempt now, before the caller answers its own request; retries, if
    /// needed, go on in the background.
    pub(crate) async fn dispatch_now(self: &Arc<Self>, envelope: Envelope) {
        for _ in 0..self.copies(envelope.channel) {
            if self.channel(envelope.channel).notifications_stopped() {
                self.spawn_delivery(envelope.clone(), 0);
            } else if !self.attempt(&envelope).await {
                self.spawn_delivery(envelope.clone(), 1);
            }
        }
    }

    fn copies(&self, channel: ChannelKind) -> usize {
        if self.channel(channel).faults.duplicate.load(Ordering::SeqCst) {
            2
        } else {
            1
        }
    }

    fn spawn_delivery(self: &Arc<Self>, envelope: Envelope, first_attempt: usize) {
        let channel = envelope.channel;
        if self.channel(channel).pending.fetch_add(1, Ordering::SeqCst) >= MAX_PENDING {
            self.channel(channel).pending.fetch_sub(1, Ordering::SeqCst);
            tracing::warn!(channel = channel.as_str(), id = %envelope.id, "too many pending notifications; dropped");
            return;
        }
        let guard = PendingGuard { inner: self.clone(), channel };
        let inner = self.clone();
        self.spawn(async move {
            let _guard = guard;
            inner.deliver(envelope, first_attempt).await;
        });
    }

    async fn deliver(&self, envelope: Envelope, first_attempt: usize) {
        let schedule = retry_schedule_s(envelope.channel);
        for attempt in first_attempt..=schedule.len() {
            if let Some(wait_s) = attempt.checked_sub(1).and_then(|i| schedule.get(i)) {
                tokio::time::sleep(self.scaled(Duration::from_secs(*wait_s))).await;
            }
            self.channel(envelope.channel).wait_while_stopped().await;
            if self.attempt(&envelope).await {
                return;
            }
        }
        tracing::warn!(channel = envelope.channel.as_str(), id = %envelope.id, "notification never acknowledged; gave up");
    }

    /// One attempt: true when the merchant acknowledged it.
    async fn attempt(&self, envelope: &Envelope) -> bool {
        let Some(request) = self.request(envelope) else {
            return false;
        };
        let counters = self.channel(envelope.channel);
        counters.deliveries.fetch_add(1, Ordering::SeqCst);
        let acknowledged = match self.http.execute(request).await {
            Ok(response) => acknowledges(envelope.channel, response).await,
            Err(error) => {
                tracing::debug!(channel = envelope.channel.as_str(), %error, "notification not delivered");
                false
            }
        };
        if acknowledged {
            counters.acknowledged.fetch_add(1, Ordering::SeqCst);
        }
        acknowledged
    }

    /// The signed request for this attempt; `None` when there is nowhere to send it yet.
    fn request(&self, envelope: &Envelope) -> Option<reqwest::Request> {
        let now_s = now_ms() / 1000;
        let built = match &envelope.payload {
            Payload::Wechat { url, body } => {
                let nonce = self.random_id("", 32);
                let signed = wechat::platform_headers(&self.signers.wechat_platform, &self.keys.wechat_platform_key_id, now_s, &nonce, body).ok()?;
                let mut request = self.http.post(url).header(CONTENT_TYPE, "application/json").body(body.clone());
                for (name, value) in wechat_header_pairs(&signed) {
                    request = request.header(name, value);
                }
                request.build()
            }
            Payload::Alipay { url, form } => self.http.post(url).form(form).build().map(|mut request| {
                // Alipay says which charset the form is in.
                if let Ok(value) = "application/x-www-form-urlencoded; charset=utf-8".parse() {
                    request.headers_mut().insert(CONTENT_TYPE, value);
                }
                request
            }),
            Payload::Card { body } => {
                let url = self.card_webhook_url()?;
                let signature = card::signature_header(&self.keys.card_webhook_secret, now_s, body);
                self.http.post(url).header(CONTENT_TYPE, "application/json").header("Stripe-Signature", signature).body(body.clone()).build()
            }
        };
        built.map_err(|error| tracing::warn!(%error, "notification request not built")).ok()
    }
}

/// The `Wechatpay-*` headers as name/value pairs.
pub fn wechat_header_pairs(signed: &wechat::SignedHeaders) -> Vec<(&'static str, String)> {
    [
        ("Wechatpay-Timestamp", &signed.timestamp),
        ("Wechatpay-Nonce", &signed.nonce),
        ("Wechatpay-Signature", &signed.signature),
        ("Wechatpay-Serial", &signed.serial),
        ("Wechatpay-Signature-Type", &signed.signature_type),
    ]
    .into_iter()
    .filter_map(|(name, value)| Some((name, value.clone()?)))
    .collect()
}

/// Each channel's idea of "received": WeChat 200 or 204, Alipay the body `success`, the card
/// gateway any 2xx.
async fn acknowledges(channel: ChannelKind, response: reqwest::Response) -> bool {
    let status = response.status().as_u16();
    match channel {
        ChannelKind::Wechat => status == 200 || status == 204,
        ChannelKind::Alipay => response.text().await.is_ok_and(|body| body.trim() == alipay::NOTIFY_ACK),
        ChannelKind::Card => (200..300).contains(&status),
    }
}
