//! Sync with central: push the outbox up, pull commands down. Both loops retry forever with
//! exponential backoff and full jitter; the edge keeps working while they fail, and
//! `SyncHealth` makes a stall visible on /health and /metrics.

use crate::config::CentralSettings;
use crate::store::EdgeStore;
use tote_shared::runtime::backoff::Backoff;
use secrecy::ExposeSecret;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tote_shared::runtime::supervise::Stop;
use tote_shared::runtime::system::now_ms;
use tote_shared::sync::{PullResponse, PushAck, PushBatch, MAX_PULL_BATCH};
use tote_shared::WarehouseCode;

#[derive(Default)]
pub struct SyncHealth {
    pub last_push_ok_ms: AtomicI64,
    pub last_pull_ok_ms: AtomicI64,
    pub push_failures: AtomicU64,
    pub pull_failures: AtomicU64,
    pub events_pushed: AtomicU64,
    pub commands_applied: AtomicU64,
    pub central_reachable: AtomicBool,
    pub last_error: Mutex<Option<String>>,
    /// Set while central refuses our pushes because it holds events we never wrote (it is
    /// ahead of this edge): only HQ can fix that, by re-basing the stream. Cleared by the next
    /// accepted push.
    pub central_ahead: Mutex<Option<String>>,
}

impl SyncHealth {
    fn failed(&self, counter: &AtomicU64, error: &SyncError) {
        counter.fetch_add(1, Ordering::Relaxed);
        self.central_reachable.store(false, Ordering::Relaxed);
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(error.to_string());
        }
    }

    fn succeeded(&self, at: &AtomicI64) {
        at.store(now_ms(), Ordering::Relaxed);
        self.central_reachable.store(true, Ordering::Relaxed);
    }

    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|e| e.clone())
    }

    pub fn central_ahead(&self) -> Option<String> {
        self.central_ahead.lock().ok().and_then(|e| e.clone())
    }

    fn set_central_ahead(&self, why: Option<String>) {
        if let Ok(mut ahead) = self.central_ahead.lock() {
            *ahead = why;
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum SyncError {
    #[error("central unreachable: {0}")]
    Http(#[from] reqwest::Error),
    #[error("central answered {status}: {body}")]
    Rejected { status: u16, body: String },
    /// Central holds events this edge never wrote: acknowledging its mark would drop ours.
    #[error("central holds events up to {high_water} but this edge has written only {head}: HQ must re-base the stream (README, operations)")]
    CentralAhead { high_water: u64, head: u64 },
    #[error("local store: {0}")]
    Store(#[from] crate::store::StoreError),
}

pub struct SyncClient {
    http: reqwest::Client,
    settings: CentralSettings,
    warehouse: WarehouseCode,
    store: EdgeStore,
    health: Arc<SyncHealth>,
}

impl SyncClient {
    pub fn new(settings: CentralSettings, warehouse: WarehouseCode, store: EdgeStore, health: Arc<SyncHealth>) -> anyhow::Result<Arc<SyncClient>> {
        let mut http = reqwest::Client::builder().connect_timeout(Duration::from_millis(settings.request_timeout_ms)).pool_max_idle_per_host(2);
        if let Some(ca) = &settings.ca_file {
            // A private CA: HQ's certificate must chain to it, and nothing else is trusted.
            http = http.use_preconfigured_tls(tote_shared::runtime::tls::client_config(ca)?.as_ref().clone());
        }
        if settings.url.starts_with("http://") {
            tracing::warn!(url = %settings.url, "sync with central is not encrypted: use an https:// URL outside a lab");
        }
        let http = http.build()?;
        Ok(Arc::new(SyncClient { http, settings, warehouse, store, health }))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.settings.url.trim_end_matches('/'), path)
    }

    /// Pushes the outbox until it is empty, then waits for new events (or a 1 s tick, so an
    /// event written by a command apply is never missed for long). Stops between pushes: a push
    /// in flight finishes, so central's acknowledgement is stored rather than the batch resent.
    pub async fn push_loop(self: Arc<Self>, stop: Stop) {
        let signal = self.store.outbox_signal();
        let mut backoff = Backoff::from_millis(self.settings.backoff_initial_ms, self.settings.backoff_max_ms);
        while !stop.is_stopped() {
            match self.push_once().await {
                Ok(true) => backoff.reset(),
                Ok(false) => {
                    backoff.reset();
                    let _ = stop.run_until_stopped(tokio::time::timeout(Duration::from_secs(1), signal.notified())).await;
                }
                Err(error) => {
                    tracing::warn!(%error, "push to central failed; will retry");
                    self.health.failed(&self.health.push_failures, &error);
                    let _ = stop.run_until_stopped(tokio::time::sleep(backoff.next_delay())).await;
                }
            }
        }
    }

    /// Returns whether there may be more to push.
    async fn push_once(&self) -> Result<bool, SyncError> {
        let events = self.store.unacked_events(self.settings.push_batch as u32).await?;
        if events.is_empty() {
            self.health.succeeded(&self.health.last_push_ok_ms);
            return Ok(false);
        }
        // Read after the events, so it is at least the last of them: what this edge has
        // written, which central must never be ahead of.
        let head = self.store.counters().await?.outbox_seq;
        let sent = events.len();
        let last = events.last().map(|e| e.seq).unwrap_or(0);
        let batch = PushBatch { warehouse: self.warehouse.clone(), events, head: Some(head) };
        let response = self
            .http
            .post(self.url("/api/v1/sync/events"))
            .bearer_auth(self.settings.token.expose_secret())
            .timeout(Duration::from_millis(self.settings.request_timeout_ms))
            .json(&batch)
            .send()
            .await?;
        let status = response.status();
        if status == reqwest::StatusCode::CONFLICT {
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            match body.get("high_water").and_then(|v| v.as_u64()) {
                // Central holds more than we ever wrote: never acknowledge that (our own events
                // would be dropped as replays). Retried with backoff and shown until HQ re-bases.
                Some(high_water) if high_water > head => {
                    let error = SyncError::CentralAhead { high_water, head };
                    tracing::error!(%error, "central is ahead of this edge's event stream");
                    self.health.set_central_ahead(Some(error.to_string()));
                    return Err(error);
                }
                // A gap: central holds less than we thought. Resend from its mark.
                Some(high_water) => {
                    tracing::error!(high_water, "central reports a sync gap; resending from its mark");
                    self.store.ack(high_water).await?;
                    return Ok(true);
                }
                None => return Err(SyncError::Rejected { status: 409, body: body.to_string() }),
            }
        }
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(SyncError::Rejected { status: status.as_u16(), body });
        }
        let ack: PushAck = response.json().await?;
        if ack.high_water > head {
            // A central that does not check `head` answers a replay with its (forged) mark.
            let error = SyncError::CentralAhead { high_water: ack.high_water, head };
            self.health.set_central_ahead(Some(error.to_string()));
            return Err(error);
        }
        self.health.set_central_ahead(None);
        self.store.ack(ack.high_water).await?;
        self.health.events_pushed.fetch_add(ack.applied, Ordering::Relaxed);
        self.health.succeeded(&self.health.last_push_ok_ms);
        tracing::debug!(sent, applied = ack.applied, high_water = ack.high_water, "pushed");
        Ok(ack.high_water >= last)
    }

    /// Pulls commands with a long poll and applies them, until `stop`.
    pub async fn pull_loop(self: Arc<Self>, stop: Stop) {
        let mut backoff = Backoff::from_millis(self.settings.backoff_initial_ms, self.settings.backoff_max_ms);
        while !stop.is_stopped() {
            match self.pull_once(&stop).await {
                Ok(()) => backoff.reset(),
                Err(error) => {
                    tracing::warn!(%error, "pull from central failed; will retry");
                    self.health.failed(&self.health.pull_failures, &error);
                    let _ = stop.run_until_stopped(tokio::time::sleep(backoff.next_delay())).await;
                }
            }
        }
    }

    async fn pull_once(&self, stop: &Stop) -> Result<(), SyncError> {
        let cursor = self.store.counters().await?.command_cursor;
        let wait = self.settings.pull_wait_ms;
        let request = self
            .http
            .get(self.url("/api/v1/sync/commands"))
            .query(&[("after", cursor), ("wait_ms", wait), ("limit", MAX_PULL_BATCH as u64)])
            .bearer_auth(self.settings.token.expose_secret())
            .timeout(Duration::from_millis(wait + self.settings.request_timeout_ms))
            .send();
        // The long poll may wait pull_wait_ms for news; on stop it is dropped, which loses
        // nothing: no command is applied before the answer has arrived.
        let Some(response) = stop.run_until_stopped(request).await else { return Ok(()) };
        let response = response?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(SyncError::Rejected { status: status.as_u16(), body });
        }
        let pulled: PullResponse = response.json().await?;
        let count = pulled.commands.len() as u64;
        if count > 0 {
            self.store.apply_commands(pulled.commands).await?;
            self.health.commands_applied.fetch_add(count, Ordering::Relaxed);
        }
        self.health.succeeded(&self.health.last_pull_ok_ms);
        Ok(())
    }
}

