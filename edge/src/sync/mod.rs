//! Sync with central: push the outbox up, pull commands down. Both loops retry forever with
//! exponential backoff and full jitter; the edge keeps working while they fail, and
//! `SyncHealth` makes a stall visible on /health and /metrics.

mod link;

pub use link::{CentralLink, HttpLink, LinkError, PullReply, PushReply};

use crate::config::CentralSettings;
use crate::store::EdgeStore;
use tote_shared::runtime::backoff::Backoff;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tote_shared::runtime::supervise::Stop;
use tote_shared::runtime::system::now_ms;
use tote_shared::sync::{PushBatch, MAX_PULL_BATCH};
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
pub enum SyncError {
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error("central answered {status}: {body}")]
    Rejected { status: u16, body: String },
    /// Central holds events this edge never wrote: acknowledging its mark would drop ours.
    #[error("central holds events up to {high_water} but this edge has written only {head}: HQ must re-base the stream (README, operations)")]
    CentralAhead { high_water: u64, head: u64 },
    #[error("local store: {0}")]
    Store(#[from] crate::store::StoreError),
}

pub struct SyncClient<L: CentralLink = HttpLink> {
    link: L,
    settings: CentralSettings,
    warehouse: WarehouseCode,
    store: EdgeStore,
    health: Arc<SyncHealth>,
}

impl SyncClient {
    pub fn new(settings: CentralSettings, warehouse: WarehouseCode, store: EdgeStore, health: Arc<SyncHealth>) -> anyhow::Result<Arc<SyncClient>> {
        let link = HttpLink::new(&settings)?;
        Ok(Arc::new(SyncClient::with_link(link, settings, warehouse, store, health)))
    }
}

impl<L: CentralLink> SyncClient<L> {
    /// A client over `link` (the suite's simulation gives its own); `settings` for batch sizes,
    /// waits and backoff.
    pub fn with_link(link: L, settings: CentralSettings, warehouse: WarehouseCode, store: EdgeStore, health: Arc<SyncHealth>) -> SyncClient<L> {
        SyncClient { link, settings, warehouse, store, health }
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

    /// One push of the oldest unacknowledged events. Returns whether there may be more to push.
    pub async fn push_once(&self) -> Result<bool, SyncError> {
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
        let ack = match self.link.push(&batch).await? {
            PushReply::Acked(ack) => ack,
            // Central holds more than we ever wrote: never acknowledge that (our own events
            // would be dropped as replays). Retried with backoff and shown until HQ re-bases.
            PushReply::Conflict { high_water: Some(high_water), .. } if high_water > head => {
                let error = SyncError::CentralAhead { high_water, head };
                tracing::error!(%error, "central is ahead of this edge's event stream");
                self.health.set_central_ahead(Some(error.to_string()));
                return Err(error);
            }
            // A gap: central holds less than we thought. Resend from its mark.
            PushReply::Conflict { high_water: Some(high_water), .. } => {
                tracing::error!(high_water, "central reports a sync gap; resending from its mark");
                self.store.ack(high_water).await?;
                return Ok(true);
            }
            PushReply::Conflict { high_water: None, body } => return Err(SyncError::Rejected { status: 409, body }),
            PushReply::Refused { status, body } => return Err(SyncError::Rejected { status, body }),
        };
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

    /// One long poll for commands after this edge's cursor; applies what it answers.
    pub async fn pull_once(&self, stop: &Stop) -> Result<(), SyncError> {
        let cursor = self.store.counters().await?.command_cursor;
        // The long poll may wait pull_wait_ms for news; on stop it is dropped, which loses
        // nothing: no command is applied before the answer has arrived.
        let request = self.link.pull(cursor, self.settings.pull_wait_ms, MAX_PULL_BATCH as u32);
        let Some(reply) = stop.run_until_stopped(request).await else { return Ok(()) };
        let pulled = match reply? {
            PullReply::Commands(pulled) => pulled,
            PullReply::Refused { status, body } => return Err(SyncError::Rejected { status, body }),
        };
        let count = pulled.commands.len() as u64;
        if count > 0 {
            self.store.apply_commands(pulled.commands).await?;
            self.health.commands_applied.fetch_add(count, Ordering::Relaxed);
        }
        self.health.succeeded(&self.health.last_pull_ok_ms);
        Ok(())
    }
}
