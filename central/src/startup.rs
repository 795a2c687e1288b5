//! Building and running central: open the database, bind, serve, and run the background
//! work (unpaid-order sweep, key pruning, the journal sequencer and its consumers); stop
//! cleanly.

use crate::config::Settings;
use crate::db::{Database, DbError, Tx};
use crate::http;
use crate::journal::consumer::{self, Consumer};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tote_shared::runtime::listener::serve;
use tote_shared::runtime::system::now_ms;
use tote_shared::WarehouseCode;

#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub db: Database,
    pub telemetry: Arc<Telemetry>,
    pub signals: Arc<Signals>,
}

impl AppState {
    /// A write transaction; after it commits, long-polling edges and the journal sequencer
    /// are woken (the write may have queued commands or journal events).
    pub async fn write<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnMut(&mut dyn Tx) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let outcome = self.db.write(work).await;
        if outcome.is_ok() {
            self.signals.written();
        }
        outcome
    }
}

/// Wake-ups after commits.
pub struct Signals {
    commands: watch::Sender<u64>,
    journal: Notify,
    journal_numbered: Notify,
}

impl Default for Signals {
    fn default() -> Self {
        Signals { commands: watch::channel(0).0, journal: Notify::new(), journal_numbered: Notify::new() }
    }
}

impl Signals {
    fn written(&self) {
        self.commands.send_modify(|n| *n = n.wrapping_add(1));
        self.journal.notify_one();
    }

    pub fn subscribe_commands(&self) -> watch::Receiver<u64> {
        self.commands.subscribe()
    }
}

/// In-memory counters for /metrics. Lost on restart, which Prometheus handles.
#[derive(Default)]
pub struct Telemetry {
    pub orders_created: AtomicU64,
    pub events_applied: AtomicU64,
    /// Per edge: the cursor it sent with its last pull, and when.
    last_pull: Mutex<HashMap<String, (u64, i64)>>,
}

impl Telemetry {
    pub fn record_pull(&self, warehouse: &WarehouseCode, after: u64) {
        if let Ok(mut map) = self.last_pull.lock() {
            map.insert(warehouse.to_string(), (after, now_ms()));
        }
    }

    pub fn pulls(&self) -> HashMap<String, (u64, i64)> {
        self.last_pull.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

pub struct App {
    listener: TcpListener,
    state: AppState,
}

impl App {
    pub async fn build(settings: Settings) -> anyhow::Result<App> {
        let db = Database::open(&settings.database).await?;
        let listener = TcpListener::bind(settings.http.listen).await?;
        let state = AppState { settings: Arc::new(settings), db, telemetry: Arc::default(), signals: Arc::default() };
        Ok(App { listener, state })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn port(&self) -> u16 {
        self.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Serves until SIGINT/SIGTERM or until `stop` resolves.
    pub async fn run_until_stopped(self, stop: impl std::future::Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let App { listener, state } = self;
        let addr = listener.local_addr()?;
        let tasks = [
            tokio::spawn(sweep_unpaid_orders(state.clone())),
            tokio::spawn(prune_old_keys(state.clone())),
            tokio::spawn(sequence_journal(state.clone())),
            tokio::spawn(consume_journal(state.clone(), Arc::new(crate::analytics::SalesConsumer))),
        ];
        tracing::info!(%addr, backend = ?state.settings.database.backend, "tote-central listening");
        let max_connections = state.settings.http.max_connections;
        let router = http::router(state);
        let served = serve(listener, router, max_connections, stop).await;
        tasks.iter().for_each(|t| t.abort());
        tracing::info!("tote-central stopped");
        Ok(served?)
    }
}

/// Closes unpaid orders past their deadline and releases their locks.
async fn sweep_unpaid_orders(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_millis(state.settings.orders.sweep_interval_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        loop {
            let now = now_ms();
            match state.write(move |tx| crate::orders::flow::close_expired(tx, now, 500)).await {
                Ok(n) if n > 0 => tracing::info!(closed = n, "unpaid orders closed after payment timeout"),
                Ok(_) => break,
                Err(error) => {
                    tracing::error!(%error, "payment-timeout sweep failed");
                    break;
                }
            }
        }
    }
}

/// Forgets Idempotency-Keys past their retention, in small batches, every ten minutes.
async fn prune_old_keys(state: AppState) {
    let keep_ms = state.settings.retention.idempotency_keys_hours as i64 * 3_600_000;
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    loop {
        tick.tick().await;
        loop {
            let before = now_ms() - keep_ms;
            match state.db.write(move |tx| crate::idempotency::prune(tx, before, 1000)).await {
                Ok(n) if n > 0 => tracing::info!(pruned = n, "old idempotency keys forgotten"),
                Ok(_) => break,
                Err(error) => {
                    let error: DbError = error;
                    tracing::error!(%error, "idempotency key pruning failed");
                    break;
                }
            }
        }
    }
}

/// Numbers committed journal events soon after each write (and every half second, for
/// writes another central process made).
async fn sequence_journal(state: AppState) {
    loop {
        tokio::select! {
            _ = state.signals.journal.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        loop {
            match consumer::sequence_once(&state.db, 1000).await {
                Ok(0) => break,
                Ok(_) => state.signals.journal_numbered.notify_waiters(),
                Err(error) => {
                    tracing::error!(%error, "journal sequencing failed");
                    break;
                }
            }
        }
    }
}

/// Runs one consumer whenever new events are numbered.
async fn consume_journal(state: AppState, consumer: Arc<dyn Consumer>) {
    loop {
        match consumer::run_once(&state.db, consumer.clone(), now_ms()).await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(error) => tracing::error!(%error, consumer = consumer.name(), "journal consumer failed"),
        }
        tokio::select! {
            _ = state.signals.journal_numbered.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}
