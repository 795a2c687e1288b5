//! Building and running central: open the store, bind, serve, sweep unpaid orders, stop cleanly.

use crate::config::Settings;
use crate::http;
use crate::store::sqlite::SqliteStore;
use crate::store::Repository;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tote_shared::runtime::listener::serve;
use tote_shared::runtime::system::now_ms;
use tote_shared::WarehouseCode;

#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub store: Arc<dyn Repository>,
    pub telemetry: Arc<Telemetry>,
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
        let store = SqliteStore::open(&settings.database)?;
        let listener = TcpListener::bind(settings.http.listen).await?;
        let state = AppState { settings: Arc::new(settings), store: Arc::new(store), telemetry: Arc::default() };
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
        let sweeper = tokio::spawn(sweep_unpaid_orders(state.clone()));
        let pruner = tokio::spawn(prune_old_keys(state.clone()));
        tracing::info!(%addr, "tote-central listening");
        let max_connections = state.settings.http.max_connections;
        let router = http::router(state);
        let served = serve(listener, router, max_connections, stop).await;
        sweeper.abort();
        pruner.abort();
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
            match state.store.close_expired_orders(now_ms(), 500).await {
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
            match state.store.prune_idempotency_keys(now_ms() - keep_ms, 1000).await {
                Ok(n) if n > 0 => tracing::info!(pruned = n, "old idempotency keys forgotten"),
                Ok(_) => break,
                Err(error) => {
                    tracing::error!(%error, "idempotency key pruning failed");
                    break;
                }
            }
        }
    }
}
