//! Building and running the edge: open the store, bind, serve, run the sync loops, stop cleanly.

use crate::config::Settings;
use crate::http;
use crate::store::EdgeStore;
use crate::sync::{SyncClient, SyncHealth};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tote_shared::runtime::listener::serve;

#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub store: EdgeStore,
    pub sync_health: Arc<SyncHealth>,
}

pub struct App {
    listener: TcpListener,
    state: AppState,
}

impl App {
    pub async fn build(settings: Settings) -> anyhow::Result<App> {
        let store = EdgeStore::open(&settings.database)?;
        let listener = TcpListener::bind(settings.http.listen).await?;
        let state = AppState { settings: Arc::new(settings), store, sync_health: Arc::default() };
        Ok(App { listener, state })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn port(&self) -> u16 {
        self.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub async fn run_until_stopped(self, stop: impl std::future::Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let App { listener, state } = self;
        let addr = listener.local_addr()?;
        let sync = SyncClient::new(
            state.settings.central.clone(),
            state.settings.warehouse.clone(),
            state.store.clone(),
            state.sync_health.clone(),
        )?;
        let pusher = tokio::spawn(sync.clone().push_loop());
        let puller = tokio::spawn(sync.pull_loop());
        tracing::info!(%addr, warehouse = %state.settings.warehouse, "tote-edge listening");
        let max_connections = state.settings.http.max_connections;
        let served = serve(listener, http::router(state), max_connections, stop).await;
        pusher.abort();
        puller.abort();
        tracing::info!("tote-edge stopped");
        Ok(served?)
    }
}
