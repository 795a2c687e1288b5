//! Building and running central: open the database, bind, serve, and run the background
//! work (unpaid-order sweep, key pruning, the journal sequencer and its consumers) under a
//! supervisor; stop cleanly (HTTP drains first, then the tasks).

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
use tote_shared::runtime::listener::{serve_supervised, ConnectionLimits};
use tote_shared::runtime::supervise::{Policy, RestartCounts, Stop, Supervisor};
pub use tote_shared::runtime::system::now_ms;
use tote_shared::WarehouseCode;

/// How long tasks get to reach a clean point once HTTP has drained; then they are aborted.
const STOP_DEADLINE: Duration = Duration::from_secs(5);

/// Background work is transient by nature (a database hiccup): restart it with backoff. A
/// task that keeps dying shows in the log and in `tote_central_task_restarts_total`.
const RESTART: Policy = Policy::Restart {
    initial_backoff: Duration::from_millis(100),
    max_backoff: Duration::from_secs(30),
};

/// A fault-injection hook for tests: `<task>` makes that task's first run panic,
/// `<task>:return` makes it return (see `Supervisor::with_fault`). Read once at start;
/// deliberately outside `Settings` and `configs/`.
const FAULT_TASK_VAR: &str = "TOTE_CENTRAL_FAULT_TASK";

#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub db: Database,
    pub telemetry: Arc<Telemetry>,
    pub signals: Arc<Signals>,
    /// How often each supervised task was restarted.
    pub task_restarts: RestartCounts,
    /// Batched intake of one-line orders (on SQLite too: a batch is a handful of statements
    /// for the single writer instead of a dozen per order).
    pub intake: Arc<crate::orders::intake::Intake>,
    /// The configured payment channels.
    pub channels: crate::payment::channel::Channels,
    /// The payment risk rules and their windows.
    pub risk: crate::payment::risk::Risk,
    /// The carriers' platforms and the tracking aggregator.
    pub carriers: crate::logistics::carrier_api::CarrierApis,
    /// Tracking pushes, applied in batches.
    pub pushes: Arc<crate::logistics::intake::PushIntake>,
    /// The marketplace shops orders are pulled from and confirmed to.
    pub marketplaces: Arc<Vec<Arc<crate::marketplace::client::MarketplaceApi>>>,
    /// HQ sign-in's bounds (one at a time per user, Argon2 comparisons capped).
    pub sign_in: Arc<crate::staff::http::SignInLimits>,
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
    /// Something for the payment dispatcher to call a channel about.
    pub payments: Notify,
}

impl Default for Signals {
    fn default() -> Self {
        Signals {
            commands: watch::channel(0).0,
            journal: Notify::new(),
            journal_numbered: Notify::new(),
            payments: Notify::new(),
        }
    }
}

impl Signals {
    pub(crate) fn written(&self) {
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
    /// Per edge: its pushes' head and refusals.
    pushes: Mutex<HashMap<String, crate::edge_sync::PushWatch>>,
    /// Payment notifications refused, by (channel, reason).
    notifications_refused: Mutex<std::collections::BTreeMap<(&'static str, &'static str), u64>>,
}

impl Telemetry {
    pub fn record_pull(&self, warehouse: &WarehouseCode, after: u64) {
        if let Ok(mut map) = self.last_pull.lock() {
            map.insert(warehouse.to_string(), (after, now_ms()));
        }
    }

    pub fn notification_refused(
        &self,
        channel: tote_shared::payment::ChannelKind,
        reason: &'static str,
    ) {
        if let Ok(mut map) = self.notifications_refused.lock() {
            *map.entry((channel.as_str(), reason)).or_default() += 1;
        }
    }

    pub fn notifications_refused(&self) -> Vec<((&'static str, &'static str), u64)> {
        self.notifications_refused
            .lock()
            .map(|m| m.iter().map(|(k, v)| (*k, *v)).collect())
            .unwrap_or_default()
    }

    /// Updates what was seen of `warehouse`'s pushes.
    pub fn watch_push(
        &self,
        warehouse: &WarehouseCode,
        update: impl FnOnce(&mut crate::edge_sync::PushWatch),
    ) {
        if let Ok(mut map) = self.pushes.lock() {
            update(map.entry(warehouse.to_string()).or_default());
        }
    }

    pub fn push_watches(&self) -> HashMap<String, crate::edge_sync::PushWatch> {
        self.pushes.lock().map(|m| m.clone()).unwrap_or_default()
    }

    pub fn pulls(&self) -> HashMap<String, (u64, i64)> {
        self.last_pull.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

pub struct App {
    listener: TcpListener,
    state: AppState,
    supervisor: Supervisor,
}

impl App {
    pub async fn build(settings: Settings) -> anyhow::Result<App> {
        let supervisor =
            Supervisor::new().with_fault(std::env::var(FAULT_TASK_VAR).ok().as_deref());
        let db = Database::open(&settings.database).await?;
        let listener = TcpListener::bind(settings.http.listen).await?;
        let task_restarts = supervisor.restart_counts();
        let signals: Arc<Signals> = Arc::default();
        let woken = signals.clone();
        let shards = settings.orders.intake_shards;
        let intake = Arc::new(crate::orders::intake::Intake::start(
            db.clone(),
            shards,
            Arc::new(move || woken.written()),
        ));
        let woken = signals.clone();
        let pushes = Arc::new(crate::logistics::intake::PushIntake::start(
            db.clone(),
            Arc::new(move || woken.written()),
        ));
        let channels = crate::payment::channel::Channels::from_settings(
            &settings.payment,
            listener.local_addr()?,
        )
        .map_err(|why| anyhow::anyhow!("payment settings: {why}"))?;
        let risk = crate::payment::risk::Risk::load(&db, &settings.payment, now_ms()).await?;
        crate::finance::pin_costing(&db, settings.finance.costing, now_ms()).await?;
        let carriers = crate::logistics::carrier_api::CarrierApis::from_settings(
            &settings.logistics,
            listener.local_addr()?,
        )
        .map_err(|why| anyhow::anyhow!("logistics settings: {why}"))?;
        let marketplaces = settings
            .marketplaces
            .iter()
            .map(|(name, m)| crate::marketplace::client::MarketplaceApi::new(name, m).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|why| anyhow::anyhow!("marketplace settings: {why}"))?;
        let marketplaces = Arc::new(marketplaces);
        let auth = settings.auth.clone();
        let sign_in = Arc::new(
            tokio::task::spawn_blocking(move || crate::staff::http::SignInLimits::new(&auth))
                .await??,
        );
        let state = AppState {
            settings: Arc::new(settings),
            db,
            telemetry: Arc::default(),
            signals,
            task_restarts,
            intake,
            channels,
            risk,
            carriers,
            pushes,
            marketplaces,
            sign_in,
        };
        crate::staff::http::bootstrap(&state).await?;
        Ok(App {
            listener,
            state,
            supervisor,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The routes as one service, for callers in this process that skip the socket (the HTTP
    /// fuzzer). The listener's limits (connections, header time) are not in it.
    pub fn router(&self) -> axum::Router {
        crate::http::router(self.state.clone())
    }

    pub fn port(&self) -> u16 {
        self.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Serves until SIGINT/SIGTERM or `stop` (then `Ok`), or until a supervised task fails
    /// for good (then `Err` naming it, so the process exits non-zero). Either way the HTTP
    /// server drains first and the tasks then get `STOP_DEADLINE` to stop.
    pub async fn run_until_stopped(
        self,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let App {
            listener,
            state,
            supervisor,
        } = self;
        let addr = listener.local_addr()?;
        supervise(&supervisor, &state);
        tracing::info!(%addr, backend = ?state.settings.database.backend, "tote-central listening");
        let limits = ConnectionLimits::for_http(&state.settings.http)?;
        let result = serve_supervised(
            listener,
            http::router(state),
            limits,
            stop,
            supervisor,
            STOP_DEADLINE,
        )
        .await;
        tracing::info!("tote-central stopped");
        Ok(result?)
    }
}

/// Starts every long-running task of central under its name and policy.
fn supervise(supervisor: &Supervisor, state: &AppState) {
    let s = state.clone();
    supervisor.spawn("unpaid-sweeper", RESTART, move |stop| {
        sweep_unpaid_orders(s.clone(), stop)
    });
    let s = state.clone();
    supervisor.spawn("order-completion", RESTART, move |stop| {
        complete_orders(s.clone(), stop)
    });
    let s = state.clone();
    supervisor.spawn("inventory-health", RESTART, move |stop| {
        scan_inventory_health(s.clone(), stop)
    });
    let s = state.clone();
    supervisor.spawn("catalog-prices", RESTART, move |stop| {
        apply_scheduled_prices(s.clone(), stop)
    });
    let s = state.clone();
    supervisor.spawn("finance-alerts", RESTART, move |stop| {
        scan_finance_alerts(s.clone(), stop)
    });
    let s = state.clone();
    supervisor.spawn("key-pruner", RESTART, move |stop| {
        prune_old_keys(s.clone(), stop)
    });
    let s = state.clone();
    supervisor.spawn("journal-sequencer", RESTART, move |stop| {
        sequence_journal(s.clone(), stop)
    });
    let s = state.clone();
    let sales: Arc<dyn Consumer> = Arc::new(crate::analytics::SalesConsumer);
    supervisor.spawn(
        format!("journal-consumer:{}", sales.name()),
        RESTART,
        move |stop| consume_journal(s.clone(), sales.clone(), stop),
    );
    let s = state.clone();
    let payments: Arc<dyn Consumer> = Arc::new(crate::payment::dispatcher::PaymentConsumer);
    supervisor.spawn(
        format!("journal-consumer:{}", payments.name()),
        RESTART,
        move |stop| consume_journal(s.clone(), payments.clone(), stop),
    );
    let risk: Arc<dyn Consumer> = Arc::new(crate::payment::risk::RiskConsumer {
        risk: state.risk.clone(),
    });
    let invoicing: Arc<dyn Consumer> = Arc::new(crate::payment::invoicing::InvoiceConsumer {
        settings: state.settings.payment.invoice.clone(),
    });
    let ledger: Arc<dyn Consumer> = Arc::new(crate::finance::LedgerConsumer);
    let deliveries: Arc<dyn Consumer> = Arc::new(crate::orders::flow::DeliveryConsumer);
    let after_sales: Arc<dyn Consumer> = Arc::new(crate::after_sales::flow::ClosingConsumer);
    let returns: Arc<dyn Consumer> = Arc::new(crate::analytics::returns::ReturnsConsumer);
    let names = state.settings.marketplaces.keys().cloned().collect();
    let marketplaces: Arc<dyn Consumer> = Arc::new(crate::marketplace::flow::MarketplaceConsumer {
        marketplaces: names,
    });
    let marketing: Arc<dyn Consumer> = Arc::new(crate::marketing::audience::MarketingConsumer);
    let orders_hourly: Arc<dyn Consumer> = Arc::new(crate::analytics::orders::OrdersConsumer);
    let fulfilment: Arc<dyn Consumer> = Arc::new(crate::analytics::fulfilment::FulfilmentConsumer);
    let payments_daily: Arc<dyn Consumer> = Arc::new(crate::analytics::payments::PaymentsConsumer);
    for consumer in [
        risk,
        invoicing,
        ledger,
        deliveries,
        after_sales,
        returns,
        marketplaces,
        marketing,
        orders_hourly,
        fulfilment,
        payments_daily,
    ] {
        let s = state.clone();
        supervisor.spawn(
            format!("journal-consumer:{}", consumer.name()),
            RESTART,
            move |stop| consume_journal(s.clone(), consumer.clone(), stop),
        );
    }
    let s = state.clone();
    supervisor.spawn("payment-reconciliation", RESTART, move |stop| {
        crate::payment::reconciliation::daily(s.clone(), stop)
    });
    let s = state.clone();
    supervisor.spawn("payment-dispatcher", RESTART, move |stop| {
        crate::payment::dispatcher::run(s.clone(), stop)
    });
    let s = state.clone();
    supervisor.spawn("logistics-dispatcher", RESTART, move |stop| {
        crate::logistics::dispatcher::run(s.clone(), stop)
    });
    let s = state.clone();
    supervisor.spawn("send-list-webhook", RESTART, move |stop| {
        crate::marketing::webhook::run(s.clone(), stop)
    });
    for api in state.marketplaces.iter() {
        let (s, api) = (state.clone(), api.clone());
        supervisor.spawn(
            format!("marketplace:{}", api.name()),
            RESTART,
            move |stop| crate::marketplace::puller::run(s.clone(), api.clone(), stop),
        );
    }
}

/// Closes unpaid orders past their deadline and releases their locks; ends flash sales whose
/// window closed (their holds back to sellable); expires points and reviews tiers at their
/// dates; cancels the orders of group buys' groups that did not form in time.
async fn sweep_unpaid_orders(state: AppState, stop: Stop) {
    let mut tick = tokio::time::interval(Duration::from_millis(
        state.settings.orders.sweep_interval_ms,
    ));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if stop.run_until_stopped(tick.tick()).await.is_none() {
            return;
        }
        let now = now_ms();
        match state
            .write(move |tx| crate::marketing::flash::end_due(tx, now, 100))
            .await
        {
            Ok(n) if n > 0 => {
                tracing::info!(ended = n, "flash sales ended at the close of their window")
            }
            Ok(_) => {}
            Err(error) => tracing::error!(%error, "flash-sale sweep failed"),
        }
        let swept = state
            .write(move |tx| -> Result<(u32, u32), crate::db::DbError> {
                Ok((
                    crate::marketing::loyalty::expire_due(tx, now, 200)?,
                    crate::marketing::loyalty::review_due(tx, now, 200)?,
                ))
            })
            .await;
        match swept {
            Ok((expired, reviewed)) if expired + reviewed > 0 => tracing::info!(
                expired,
                reviewed,
                "points expired and tiers reviewed at their dates"
            ),
            Ok(_) => {}
            Err(error) => tracing::error!(%error, "points and tiers sweep failed"),
        }
        match state
            .write(move |tx| crate::orders::flow::settle_groups(tx, now, 100))
            .await
        {
            Ok(n) if n > 0 => tracing::info!(
                orders = n,
                "group buys that did not form: their orders cancelled"
            ),
            Ok(_) => {}
            Err(error) => tracing::error!(%error, "group-buy sweep failed"),
        }
        loop {
            let now = now_ms();
            match state
                .write(move |tx| crate::orders::flow::close_expired(tx, now, 500))
                .await
            {
                Ok(n) if n > 0 => {
                    tracing::info!(closed = n, "unpaid orders closed after payment timeout")
                }
                Ok(_) => break,
                Err(error) => {
                    tracing::error!(%error, "payment-timeout sweep failed");
                    break;
                }
            }
        }
    }
}

/// Completes delivered orders once their return window (the after-sales policy's) closed
/// with nothing open, once a minute.
async fn complete_orders(state: AppState, stop: Stop) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if stop.run_until_stopped(tick.tick()).await.is_none() {
            return;
        }
        let now = now_ms();
        let outcome = state
            .write(
                move |tx| -> Result<(u32, u32, Vec<u64>), crate::after_sales::AfterSalesError> {
                    let policy = crate::after_sales::flow::policy_in_force(tx)?;
                    let due = crate::after_sales::flow::due_to_expire(
                        tx,
                        now,
                        policy.return_by_days,
                        500,
                    )?;
                    Ok((
                        crate::after_sales::flow::complete_due(
                            tx,
                            now,
                            i64::from(policy.window_days) * 86_400_000,
                            500,
                        )?,
                        policy.return_by_days,
                        due,
                    ))
                },
            )
            .await;
        let (completed, days, due) = match outcome {
            Ok(found) => found,
            Err(error) => {
                tracing::error!(%error, "order completion sweep failed");
                continue;
            }
        };
        // One short transaction per return: it takes its warehouse's command stream, which
        // every order released there needs too; one that cannot be withdrawn is left for HQ.
        let mut expired = 0;
        for id in due {
            match state
                .write(move |tx| crate::after_sales::flow::expire(tx, id, now, days))
                .await
            {
                Ok(true) => expired += 1,
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(request = id, %error, "a return past its deadline was not withdrawn")
                }
            }
        }
        if completed + expired > 0 {
            tracing::info!(
                completed,
                expired,
                "orders completed after their return window, returns withdrawn past their deadline"
            );
        }
    }
}

/// Every minute, brings SKUs whose prices started or ended since the last pass to the price
/// now in force (the pass's mark is stored: a restart misses nothing).
async fn apply_scheduled_prices(state: AppState, stop: Stop) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if stop.run_until_stopped(tick.tick()).await.is_none() {
            return;
        }
        let now = now_ms();
        match state
            .write(move |tx| crate::catalog::store::apply_due_prices(tx, now))
            .await
        {
            Ok(0) => {}
            Ok(changed) => tracing::info!(changed, "scheduled selling prices applied"),
            Err(error) => tracing::error!(%error, "applying scheduled prices failed"),
        }
    }
}

/// Runs a scan every hour (the first an hour after start: alerts are about days, not
/// minutes), logging what it raised and cleared: `(raised, cleared, open)`.
async fn hourly_scan<E, F>(state: AppState, stop: Stop, what: &'static str, scan: F)
where
    E: From<crate::db::DbError> + std::fmt::Display + Send + 'static,
    F: Fn(&mut dyn crate::db::Tx, i64) -> Result<(usize, usize, u64), E>
        + Send
        + Sync
        + Copy
        + 'static,
{
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::now() + Duration::from_secs(3600),
        Duration::from_secs(3600),
    );
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if stop.run_until_stopped(tick.tick()).await.is_none() {
            return;
        }
        let now = now_ms();
        match state.write(move |tx| scan(tx, now)).await {
            Ok((raised, cleared, open)) if raised > 0 || cleared > 0 => {
                tracing::info!(raised, cleared, open, "{what} scanned")
            }
            Ok(_) => {}
            Err(error) => tracing::error!(%error, "{what} scan failed"),
        }
    }
}

/// Inventory health: no sales, overstock, slow movers, lots near expiry.
async fn scan_inventory_health(state: AppState, stop: Stop) {
    hourly_scan(state, stop, "inventory health", |tx, now| {
        crate::inventory::health::scan(tx, now)
            .map(|d| (d.raised.len(), d.cleared.len(), d.open as u64))
    })
    .await
}

/// Finance's thresholds: margins, turnover, days of cash.
async fn scan_finance_alerts(state: AppState, stop: Stop) {
    hourly_scan(state, stop, "finance alerts", |tx, now| {
        crate::finance::alerts::scan(tx, now).map(|d| (d.raised.len(), d.cleared.len(), d.open))
    })
    .await
}

/// Forgets Idempotency-Keys past their retention, in small batches, every ten minutes.
async fn prune_old_keys(state: AppState, stop: Stop) {
    let keep_ms = state.settings.retention.idempotency_keys_hours as i64 * 3_600_000;
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    loop {
        if stop.run_until_stopped(tick.tick()).await.is_none() {
            return;
        }
        loop {
            let before = now_ms() - keep_ms;
            match state
                .db
                .write(move |tx| crate::idempotency::prune(tx, before, 1000))
                .await
            {
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

/// How long the sequencer gathers commits before numbering them: one numbering transaction
/// (one fsync on SQLite) per period instead of one per write.
const SEQUENCE_EVERY: Duration = Duration::from_millis(20);

/// Numbers committed journal events soon after writes (and every half second, for writes
/// another central process made).
async fn sequence_journal(state: AppState, stop: Stop) {
    loop {
        tokio::select! {
            _ = state.signals.journal.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            () = stop.stopped() => return,
        }
        tokio::select! {
            _ = tokio::time::sleep(SEQUENCE_EVERY) => {}
            () = stop.stopped() => return,
        }
        // SQLite numbers events as they are written; PostgreSQL here. Either way consumers
        // have something new.
        state.signals.journal_numbered.notify_waiters();
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
async fn consume_journal(state: AppState, consumer: Arc<dyn Consumer>, stop: Stop) {
    loop {
        if stop.is_stopped() {
            return;
        }
        match consumer::run_once(&state.db, consumer.clone(), now_ms()).await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(error) => {
                tracing::error!(%error, consumer = consumer.name(), "journal consumer failed")
            }
        }
        tokio::select! {
            _ = state.signals.journal_numbered.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            () = stop.stopped() => return,
        }
    }
}
