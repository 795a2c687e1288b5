//! The edge's SQLite store: the only code in tote-edge that knows SQL.
//!
//! Every state change runs in one transaction with the outbox event that tells central about
//! it (`outbox::emit`), through the group-commit writer. Commands from central are applied in
//! the same transaction that advances the command cursor.

mod commands;
mod counts;
mod deliveries;
mod dock;
mod freezes;
mod kpis;
mod moves;
mod mqtt_logins;
mod outbox;
mod packing;
mod picking;
mod pods;
mod printing;
mod replenish;
mod requests;
mod returns;
mod schema;
mod stock;
mod waves;
mod waybills;
mod workers;

pub use counts::{CountView, Tally};
pub use deliveries::DeliveryView;
pub use dock::{AppointmentView, Booking};
pub use moves::{Move, MoveDone};
pub use mqtt_logins::MqttLogin;
pub use freezes::{FreezeTarget, FreezeView};
pub use kpis::Kpis;
pub use picking::{FulfilmentView, PickTaskView, Picker, ScanOutcome};
pub use pods::{NewPod, PodRecord};
pub use replenish::{FaceView, RefillOutcome, RefillView};
pub use printing::PrintJob;
pub use returns::{ReturnLineView, ReturnView};
pub use stock::{LocationRecord, StockRecord};
pub use waves::{BatchScanOutcome, BatchSummary, BatchView, NextStop, SortOutcome, ToteOrder, ToteSlot, ToteView, WaveSettings, WaveView};
pub use waybills::PoolView;
pub use workers::{Credentials, NewWorker, PinAttempt, SessionWorker, WorkerRecord};

use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tokio::sync::Notify;
use tote_shared::runtime::idempotency::RequestKey;
use tote_shared::runtime::settings::DatabaseSettings;
use tote_shared::runtime::sqlite::{start, Readers, Writer, WriterClosed};
use tote_shared::strategy::{Method, Rules};
use tote_shared::sync::{AdjustReason, CentralCommand, EdgeEvent};
use tote_shared::{LocationCode, Qty, Sku};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("wrong {what}: expected {expected}, scanned {scanned}")]
    WrongScan {
        what: &'static str,
        expected: String,
        scanned: String,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("not enough stock: {0}")]
    InsufficientStock(String),
    /// The Idempotency-Key already answered a different request (body, path or caller).
    #[error("Idempotency-Key {0:?} was already used for a different request; send a new key for a new request")]
    IdempotencyMismatch(String),
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Closed(#[from] WriterClosed),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Clone)]
pub struct EdgeStore {
    writer: Writer,
    readers: Readers,
    /// Signalled after every commit that wrote outbox events, to wake the sync pusher.
    outbox_written: Arc<Notify>,
    /// Signalled when a label was queued, to wake the printer worker.
    labels_queued: Arc<Notify>,
    /// The strategy rules orders are released under.
    rules: Arc<Rules>,
    /// How waves are cut and walked.
    waves: Arc<WaveSettings>,
    /// The dock's doors and hours, for appointments.
    dock: Arc<tote_shared::dock::DockRules>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Receipt {
    pub location: LocationCode,
    pub sku: Sku,
    pub qty: Qty,
    pub lot: String,
    /// From the item's GS1 code (AI 17), for first-expiry-first-out picking.
    pub expiry: Option<String>,
    /// The expected delivery (ASN) it arrives on; None for a blind receipt.
    pub delivery: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Adjustment {
    pub location: LocationCode,
    pub sku: Sku,
    pub lot: String,
    pub reason: AdjustReason,
    /// For counts: how many are there now. For the others: the signed change.
    pub counted: Option<i64>,
    pub delta: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SyncCounters {
    pub outbox_seq: u64,
    pub acked_seq: u64,
    pub command_cursor: u64,
}

/// What labels need from the settings.
#[derive(Debug, Clone)]
pub struct LabelSettings {
    pub gs1_company_prefix: String,
    pub sender: String,
}

/// A response stored under an Idempotency-Key: the same request with the same key returns it
/// again.
#[derive(Debug, Clone)]
pub enum Answer {
    Fresh(serde_json::Value),
    Replayed(serde_json::Value),
}

impl EdgeStore {
    pub fn open(settings: &DatabaseSettings) -> StoreResult<EdgeStore> {
        let (writer, readers) = start(settings, schema::MIGRATIONS)?;
        Ok(EdgeStore {
            writer,
            readers,
            outbox_written: Arc::new(Notify::new()),
            labels_queued: Arc::new(Notify::new()),
            rules: Arc::new(Rules::default()),
            waves: Arc::new(WaveSettings::default()),
            dock: Arc::new(tote_shared::dock::DockRules::default()),
        })
    }

    /// Releases orders under these strategy rules from now on (the default until called).
    pub fn with_rules(mut self, rules: Rules) -> EdgeStore {
        self.rules = Arc::new(rules);
        self
    }

    /// Plans waves by these settings from now on (the default until called).
    pub fn with_waves(mut self, waves: WaveSettings) -> EdgeStore {
        self.waves = Arc::new(waves);
        self
    }

    /// Books dock appointments by these rules from now on (the default until called).
    pub fn with_dock(mut self, dock: tote_shared::dock::DockRules) -> EdgeStore {
        self.dock = Arc::new(dock);
        self
    }

    pub fn outbox_signal(&self) -> Arc<Notify> {
        self.outbox_written.clone()
    }

    /// Runs a state change; with a key, runs it at most once and replays its answer to the
    /// same request. The same key on another request changes nothing and is an
    /// `IdempotencyMismatch`.
    async fn change<T: Serialize + Send + 'static>(
        &self,
        key: Option<RequestKey>,
        work: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<Answer> {
        let answer = self
            .writer
            .write(move |conn| -> StoreResult<Answer> {
                if let Some(key) = &key {
                    if let Some(stored) = requests::seen(conn, key)? {
                        return Ok(Answer::Replayed(stored));
                    }
                }
                let value = serde_json::to_value(work(conn)?)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                if let Some(key) = &key {
                    requests::record(conn, key, &value, now())?;
                }
                Ok(Answer::Fresh(value))
            })
            .await?;
        self.outbox_written.notify_one();
        Ok(answer)
    }

    /// Sends every dated lot's level once per database (see `stock::send_lot_levels_once`).
    pub async fn send_lot_levels_once(&self) -> StoreResult<usize> {
        let sent = self
            .writer
            .write(move |c| stock::send_lot_levels_once(c, now()))
            .await?;
        if sent > 0 {
            self.outbox_written.notify_one();
        }
        Ok(sent)
    }

    pub async fn create_location(
        &self,
        key: Option<RequestKey>,
        code: LocationCode,
    ) -> StoreResult<Answer> {
        self.change(key, move |c| stock::create_location(c, &code, now()))
            .await
    }

    pub async fn locations(&self) -> StoreResult<Vec<LocationRecord>> {
        self.readers.read(stock::locations).await
    }

    pub async fn receive(&self, key: Option<RequestKey>, receipt: Receipt) -> StoreResult<Answer> {
        self.change(key, move |c| stock::receive(c, &receipt, now()))
            .await
    }

    pub async fn adjust(
        &self,
        key: Option<RequestKey>,
        adjustment: Adjustment,
    ) -> StoreResult<Answer> {
        self.change(key, move |c| stock::adjust(c, &adjustment, now()))
            .await
    }

    pub async fn stock(
        &self,
        sku: Option<Sku>,
        location: Option<LocationCode>,
    ) -> StoreResult<Vec<StockRecord>> {
        self.readers
            .read(move |c| stock::query(c, sku.as_ref(), location.as_ref()))
            .await
    }

    /// Resolves a scanned GTIN to the SKU it identifies.
    pub async fn sku_for_gtin(&self, gtin: String) -> StoreResult<Sku> {
        self.readers
            .read(move |c| stock::sku_for_gtin(c, &gtin))
            .await
    }

    pub async fn pick_tasks(
        &self,
        state: Option<String>,
        method: Option<Method>,
        limit: u32,
    ) -> StoreResult<Vec<PickTaskView>> {
        self.readers
            .read(move |c| picking::tasks(c, state.as_deref(), method, limit))
            .await
    }

    pub async fn scan(
        &self,
        key: Option<RequestKey>,
        task_id: u64,
        code: String,
        qty: u32,
        by: Picker,
    ) -> StoreResult<Answer> {
        self.change(key, move |c| picking::scan(c, task_id, &code, qty, &by, now()))
            .await
    }

    /// A station's confirm button for the lit task (`key` makes a press count once).
    pub async fn confirm_lit(
        &self,
        key: RequestKey,
        task_id: u64,
        qty: u32,
        station: String,
    ) -> StoreResult<Answer> {
        self.change(Some(key), move |c| {
            picking::confirm_lit(c, task_id, qty, &station, now())
        })
        .await
    }

    pub async fn short_pick(
        &self,
        key: Option<RequestKey>,
        task_id: u64,
        found: i64,
        reason: Option<String>,
    ) -> StoreResult<Answer> {
        self.change(key, move |c| {
            picking::short_pick(c, task_id, found, reason.as_deref(), now())
        })
        .await
    }

    /// `carton`: what the packer scanned into the carton (units per SKU), checked against what
    /// was picked for the order.
    pub async fn pack(
        &self,
        key: Option<RequestKey>,
        order_id: u64,
        carton: Option<Tally>,
    ) -> StoreResult<Answer> {
        self.change(key, move |c| {
            packing::pack(c, order_id, carton.as_ref(), now())
        })
        .await
    }

    /// `tracking`: a number typed from a paper waybill; None takes one from the carrier's pool.
    pub async fn ship(
        &self,
        key: Option<RequestKey>,
        order_id: u64,
        carrier: Option<String>,
        tracking: Option<String>,
        label: LabelSettings,
    ) -> StoreResult<Answer> {
        let answer = self
            .change(key, move |c| {
                packing::ship(
                    c,
                    order_id,
                    carrier.as_deref(),
                    tracking.as_deref(),
                    &label,
                    now(),
                )
            })
            .await;
        self.labels_queued.notify_one();
        answer
    }

    /// Each carrier's waybill pool at this warehouse.
    pub async fn waybill_pools(&self) -> StoreResult<Vec<PoolView>> {
        self.readers.read(waybills::pools).await
    }

    pub fn label_signal(&self) -> Arc<Notify> {
        self.labels_queued.clone()
    }

    pub async fn queued_labels(&self, limit: u32) -> StoreResult<Vec<PrintJob>> {
        self.readers
            .read(move |c| printing::jobs(c, Some("queued"), limit))
            .await
    }

    pub async fn print_jobs(
        &self,
        state: Option<String>,
        limit: u32,
    ) -> StoreResult<Vec<PrintJob>> {
        self.readers
            .read(move |c| printing::jobs(c, state.as_deref(), limit))
            .await
    }

    /// Records the outcome of one attempt to print job `id`.
    pub async fn print_attempt(&self, id: u64, outcome: Result<(), String>) -> StoreResult<()> {
        self.writer
            .write(move |c| printing::attempt(c, id, outcome, now()))
            .await
    }

    pub async fn fulfilment(&self, order_id: u64) -> StoreResult<FulfilmentView> {
        self.readers
            .read(move |c| packing::fulfilment(c, order_id))
            .await
    }

    pub async fn fulfilments(
        &self,
        state: Option<String>,
        limit: u32,
    ) -> StoreResult<Vec<FulfilmentView>> {
        self.readers
            .read(move |c| packing::fulfilments(c, state.as_deref(), limit))
            .await
    }

    /// Events not yet acknowledged by central, oldest first.
    pub async fn unacked_events(&self, limit: u32) -> StoreResult<Vec<EdgeEvent>> {
        self.readers.read(move |c| outbox::unacked(c, limit)).await
    }

    pub async fn ack(&self, high_water: u64) -> StoreResult<()> {
        self.writer.write(move |c| outbox::ack(c, high_water)).await
    }

    /// Applies commands after the cursor, each exactly once, moving the cursor with them.
    pub async fn apply_commands(&self, commands: Vec<CentralCommand>) -> StoreResult<u64> {
        let out = self
            .writer
            .write({
                let rules = self.rules.clone();
                move |c| commands::apply(c, &commands, &rules, now())
            })
            .await;
        self.outbox_written.notify_one();
        out
    }

    /// Removes acknowledged outbox events and request keys past their retention.
    pub async fn prune(
        &self,
        events_before_ms: i64,
        keys_before_ms: i64,
    ) -> StoreResult<(u32, u32)> {
        self.writer
            .write(move |c| outbox::prune(c, events_before_ms, keys_before_ms, 1000))
            .await
    }

    /// Creates missing pods (stored at their spots) and their bins; returns how many were new.
    pub async fn ensure_pods(&self, pods: Vec<NewPod>) -> StoreResult<usize> {
        self.writer
            .write(move |c| pods::ensure(c, &pods, now()))
            .await
    }

    pub async fn pods(&self) -> StoreResult<Vec<PodRecord>> {
        self.readers.read(pods::all).await
    }

    pub async fn create_delivery(
        &self,
        key: Option<RequestKey>,
        id: String,
        supplier: String,
        lines: Vec<(String, i64)>,
    ) -> StoreResult<Answer> {
        self.change(key, move |c| {
            deliveries::create(c, &id, &supplier, &lines, now())
        })
        .await
    }

    pub async fn deliveries(&self, state: Option<String>) -> StoreResult<Vec<DeliveryView>> {
        self.readers
            .read(move |c| deliveries::list(c, state.as_deref()))
            .await
    }

    pub async fn returns(&self, state: Option<String>) -> StoreResult<Vec<ReturnView>> {
        self.readers
            .read(move |c| returns::list(c, state.as_deref()))
            .await
    }

    /// The return a scanned slip (RMA) or return label (waybill) names.
    pub async fn return_view(&self, code: String) -> StoreResult<ReturnView> {
        self.readers
            .read(move |c| returns::get(c, &returns::find(c, &code)?))
            .await
    }

    pub async fn check_return(
        &self,
        key: Option<RequestKey>,
        rma: String,
        sku: Sku,
        passed: bool,
        reason: String,
    ) -> StoreResult<Answer> {
        self.change(key, move |c| returns::check(c, &rma, &sku, passed, &reason))
            .await
    }

    pub async fn close_return(
        &self,
        key: Option<RequestKey>,
        rma: String,
        location: LocationCode,
        by: String,
    ) -> StoreResult<Answer> {
        self.change(key, move |c| returns::close(c, &rma, &location, &by, now()))
            .await
    }

    pub async fn move_stock(&self, key: Option<RequestKey>, m: Move) -> StoreResult<Answer> {
        self.change(key, move |c| moves::move_stock(c, &m, now()))
            .await
    }

    pub async fn suggest_bin(&self, sku: String) -> StoreResult<Option<String>> {
        self.readers.read(move |c| moves::suggest(c, &sku)).await
    }

    pub async fn open_count(
        &self,
        key: Option<RequestKey>,
        location: String,
        by: String,
    ) -> StoreResult<Answer> {
        self.change(key, move |c| counts::open(c, &location, &by, now()))
            .await
    }

    pub async fn submit_count(
        &self,
        key: Option<RequestKey>,
        id: u64,
        counted: Tally,
        by: String,
    ) -> StoreResult<Answer> {
        self.change(key, move |c| counts::submit(c, id, &counted, &by, now()))
            .await
    }

    pub async fn decide_count(
        &self,
        key: Option<RequestKey>,
        id: u64,
        approve: bool,
        by: String,
    ) -> StoreResult<Answer> {
        self.change(key, move |c| counts::decide(c, id, approve, &by, now()))
            .await
    }

    pub async fn count(&self, id: u64) -> StoreResult<CountView> {
        self.readers.read(move |c| counts::get(c, id)).await
    }

    pub async fn counts(&self, state: Option<String>) -> StoreResult<Vec<CountView>> {
        self.readers
            .read(move |c| counts::list(c, state.as_deref()))
            .await
    }

    pub async fn issue_mqtt_login(&self, login: MqttLogin) -> StoreResult<()> {
        self.writer
            .write(move |c| mqtt_logins::issue(c, &login))
            .await
    }

    pub async fn revoke_mqtt_login(&self, username: String) -> StoreResult<bool> {
        self.writer
            .write(move |c| mqtt_logins::revoke(c, &username))
            .await
    }

    pub async fn mqtt_logins(&self) -> StoreResult<Vec<MqttLogin>> {
        self.readers.read(mqtt_logins::list).await
    }

    pub async fn create_worker(&self, worker: NewWorker) -> StoreResult<WorkerRecord> {
        self.writer
            .write(move |c| workers::create(c, &worker, now()))
            .await
    }

    pub async fn workers(&self) -> StoreResult<Vec<WorkerRecord>> {
        self.readers.read(workers::list).await
    }

    pub async fn worker_count(&self) -> StoreResult<i64> {
        self.readers.read(workers::count).await
    }

    pub async fn credentials(&self, id: String) -> StoreResult<Option<Credentials>> {
        self.readers
            .read(move |c| workers::credentials(c, &id))
            .await
    }

    pub async fn credentials_by_badge(
        &self,
        badge_sha256: String,
    ) -> StoreResult<Option<Credentials>> {
        self.readers
            .read(move |c| workers::by_badge(c, &badge_sha256))
            .await
    }

    /// Counts a PIN attempt before its comparison (see `workers::count_pin_attempt`).
    pub async fn count_pin_attempt(&self, id: String, now_ms: i64) -> StoreResult<PinAttempt> {
        self.writer
            .write(move |c| workers::count_pin_attempt(c, &id, now_ms))
            .await
    }

    pub async fn open_session(
        &self,
        id: String,
        token_sha256: String,
        expires_ms: i64,
    ) -> StoreResult<SessionWorker> {
        self.writer
            .write(move |c| workers::open_session(c, &id, &token_sha256, now(), expires_ms))
            .await
    }

    pub async fn session(&self, token_sha256: String) -> StoreResult<Option<SessionWorker>> {
        self.readers
            .read(move |c| workers::session(c, &token_sha256, now()))
            .await
    }

    pub async fn set_worker_active(&self, id: String, active: bool) -> StoreResult<WorkerRecord> {
        self.writer
            .write(move |c| workers::set_active(c, &id, active))
            .await
    }

    pub async fn close_session(&self, token_sha256: String) -> StoreResult<()> {
        self.writer
            .write(move |c| workers::close_session(c, &token_sha256))
            .await
    }

    /// Freezes a location, a SKU or a lot (see `freezes`).
    pub async fn freeze(&self, key: Option<RequestKey>, target: FreezeTarget, reason: String, by: String) -> StoreResult<Answer> {
        self.change(key, move |c| freezes::freeze(c, &target, &reason, &by, now())).await
    }

    pub async fn lift_freeze(&self, key: Option<RequestKey>, id: u64, reason: String, by: String) -> StoreResult<Answer> {
        self.change(key, move |c| freezes::lift(c, id, &reason, &by, now())).await
    }

    /// The warehouse's KPIs over [from_ms, to_ms).
    pub async fn kpis(&self, from_ms: i64, to_ms: i64) -> StoreResult<Kpis> {
        self.readers.read(move |c| kpis::kpis(c, from_ms, to_ms)).await
    }

    /// Makes a bin the pick face of a SKU with its min and max (see `replenish`).
    pub async fn set_pick_face(&self, key: Option<RequestKey>, location: String, sku: String, min: i64, max: i64) -> StoreResult<Answer> {
        self.change(key, move |c| replenish::set_face(c, &location, &sku, min, max, now())).await
    }

    pub async fn remove_pick_face(&self, key: Option<RequestKey>, location: String) -> StoreResult<Answer> {
        self.change(key, move |c| replenish::remove_face(c, &location)).await
    }

    pub async fn pick_faces(&self, sku: Option<String>) -> StoreResult<Vec<FaceView>> {
        self.readers.read(move |c| replenish::faces(c, sku.as_deref())).await
    }

    /// Refills still to do (`live`), or finished ones.
    pub async fn refills(&self, live: bool, limit: u32) -> StoreResult<Vec<RefillView>> {
        self.readers.read(move |c| replenish::list(c, live, limit)).await
    }

    pub async fn refill_scan(&self, key: Option<RequestKey>, id: u64, code: String, worker: String) -> StoreResult<Answer> {
        self.change(key, move |c| replenish::scan(c, id, &code, &worker, now())).await
    }

    pub async fn cancel_refill(&self, key: Option<RequestKey>, id: u64, reason: String) -> StoreResult<Answer> {
        self.change(key, move |c| replenish::cancel(c, id, &reason, now())).await
    }

    /// Plans the next wave from the orders waiting for one.
    pub async fn plan_wave(&self, key: Option<RequestKey>) -> StoreResult<Answer> {
        let settings = self.waves.clone();
        self.change(key, move |c| waves::plan(c, &settings, now())).await
    }

    pub async fn release_wave(&self, key: Option<RequestKey>, id: u64) -> StoreResult<Answer> {
        self.change(key, move |c| waves::release(c, id, now())).await
    }

    pub async fn hold_wave(&self, key: Option<RequestKey>, id: u64) -> StoreResult<Answer> {
        self.change(key, move |c| waves::hold(c, id, now())).await
    }

    pub async fn cancel_wave(&self, key: Option<RequestKey>, id: u64) -> StoreResult<Answer> {
        self.change(key, move |c| waves::cancel(c, id, now())).await
    }

    pub async fn waves(&self, state: Option<String>, limit: u32) -> StoreResult<Vec<WaveView>> {
        self.readers.read(move |c| waves::waves(c, state.as_deref(), limit)).await
    }

    pub async fn wave(&self, id: u64) -> StoreResult<WaveView> {
        self.readers.read(move |c| waves::wave_view(c, id)).await
    }

    pub async fn pick_batches(&self, state: Option<String>, limit: u32) -> StoreResult<Vec<BatchSummary>> {
        self.readers.read(move |c| waves::batches(c, state.as_deref(), limit)).await
    }

    pub async fn pick_batch(&self, id: u64) -> StoreResult<BatchView> {
        self.readers.read(move |c| waves::batch(c, id)).await
    }

    pub async fn start_batch(&self, key: Option<RequestKey>, id: u64, worker: Option<String>, totes: Vec<String>) -> StoreResult<Answer> {
        self.change(key, move |c| waves::start(c, id, worker.as_deref(), &totes, now())).await
    }

    pub async fn batch_scan(&self, key: Option<RequestKey>, id: u64, code: String, qty: u32, by: Picker) -> StoreResult<Answer> {
        self.change(key, move |c| waves::scan(c, id, &code, qty, &by, now())).await
    }

    pub async fn tote(&self, code: String) -> StoreResult<ToteView> {
        self.readers.read(move |c| waves::tote(c, &code)).await
    }

    pub async fn sort_tote(&self, key: Option<RequestKey>, tote: String, code: String) -> StoreResult<Answer> {
        self.change(key, move |c| waves::sort(c, &tote, &code, now())).await
    }

    pub async fn book_dock(&self, key: Option<RequestKey>, booking: Booking) -> StoreResult<Answer> {
        let rules = self.dock.clone();
        self.change(key, move |c| dock::book(c, &rules, &booking, now())).await
    }

    pub async fn dock_event(&self, key: Option<RequestKey>, id: u64, event: tote_shared::dock::DockEvent) -> StoreResult<Answer> {
        self.change(key, move |c| dock::record(c, id, event, now())).await
    }

    pub async fn appointments(&self, from_ms: i64, to_ms: i64, limit: u32) -> StoreResult<Vec<AppointmentView>> {
        self.readers.read(move |c| dock::appointments(c, from_ms, to_ms, limit)).await
    }

    pub async fn appointment(&self, id: u64) -> StoreResult<AppointmentView> {
        self.readers.read(move |c| dock::appointment(c, id)).await
    }

    pub async fn freezes(&self, all: bool, limit: u32) -> StoreResult<Vec<FreezeView>> {
        self.readers.read(move |c| freezes::list(c, all, limit)).await
    }

    /// Records where pods are, all in one transaction.
    pub async fn set_pods(&self, moved: Vec<PodRecord>) -> StoreResult<()> {
        self.writer
            .write(move |c| {
                let at = now();
                moved.iter().try_for_each(|pod| pods::set(c, pod, at))
            })
            .await
    }

    /// Open pick lines per pod.
    pub async fn pod_demand(&self) -> StoreResult<Vec<(String, u32)>> {
        self.readers.read(pods::demand).await
    }

    pub async fn tasks_on_pod(&self, pod: String) -> StoreResult<Vec<PickTaskView>> {
        self.readers
            .read(move |c| picking::tasks_on_pod(c, &pod))
            .await
    }

    /// Records the pod as stranded and moves its open tasks to other stock, in one
    /// transaction (with the events of any order that fails back to central).
    pub async fn strand_pod(&self, pod: PodRecord) -> StoreResult<u32> {
        let moved = self
            .writer
            .write(move |c| {
                pods::set(c, &pod, now())?;
                picking::evacuate_pod(c, &pod.id, now())
            })
            .await;
        self.outbox_written.notify_one();
        moved
    }

    pub async fn counters(&self) -> StoreResult<SyncCounters> {
        self.readers.read(outbox::counters).await
    }
}

fn now() -> i64 {
    tote_shared::runtime::system::now_ms()
}
