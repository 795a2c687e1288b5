//! Central's storage behind one repository interface.
//!
//! Handlers and background tasks talk to `dyn Repository`; only the implementation knows SQL.
//! Today that is SQLite (`sqlite/`: one writer thread with group commit, a few readers); a
//! PostgreSQL implementation can sit beside it under the same tests. Every method that changes
//! state does all of it in one transaction: the order, its stock movements, the ledger and the
//! commands for the edge commit together or not at all.

pub mod sqlite;

use serde::{Deserialize, Serialize};
use std::future::Future;
use std::pin::Pin;
use tote_shared::geo::GeoPoint;
use tote_shared::order::{OrderError, OrderState};
use tote_shared::stock::{StockError, StockField, StockLevel};
use tote_shared::sync::{EdgeEvent, OrderLine, PullResponse, PushAck, ShipTo};
use tote_shared::{Gtin, Money, Qty, Sku, WarehouseCode};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} already exists")]
    Duplicate(String),
    #[error("unknown SKU {0}")]
    UnknownSku(String),
    #[error("{0}")]
    Invalid(String),
    #[error("no warehouse can serve the order: {0}")]
    InsufficientStock(String),
    #[error("the Idempotency-Key was already used with a different request body")]
    IdempotencyMismatch,
    #[error(transparent)]
    Order(#[from] OrderError),
    #[error("stock rule broken: {0}")]
    Stock(#[from] StockError),
    #[error("sync gap: central holds events up to {high_water}, the batch starts at {first}")]
    SyncGap { high_water: u64, first: u64 },
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Closed(#[from] tote_shared::runtime::sqlite::WriterClosed),
}

pub type StoreResult<T> = Result<T, StoreError>;
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = StoreResult<T>> + Send + 'a>>;

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Spu {
    /// Model code, e.g. `PEG39`.
    pub id: String,
    pub name: String,
    pub brand: String,
    /// Category path, e.g. `Shoes > Running > Cushioned`.
    pub category: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SkuRecord {
    pub sku: Sku,
    pub spu_id: String,
    pub gtin: Gtin,
    pub gender: String,
    pub colour: String,
    pub size: String,
    /// Selling price, minor units.
    pub price: Money,
    /// Purchase cost, minor units.
    pub cost: Money,
    /// Display name: model, gender, colour, size.
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct NewWarehouse {
    pub code: WarehouseCode,
    pub name: String,
    pub point: GeoPoint,
    pub token_hash: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WarehouseRecord {
    pub code: WarehouseCode,
    pub name: String,
    pub location: GeoPoint,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StockRow {
    pub warehouse: WarehouseCode,
    #[serde(flatten)]
    pub level: StockLevel,
    pub sellable: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LedgerEntry {
    pub id: i64,
    pub at_ms: i64,
    pub sku: Sku,
    pub warehouse: WarehouseCode,
    pub field: StockField,
    pub delta: i64,
    pub balance_after: i64,
    /// Why: `order_created`, `order_paid`, `edge_receipt`, `edge_shipment` …
    pub cause: String,
    /// What: `order:42`, `edge:SH-01#17` …
    pub reference: String,
}

#[derive(Debug, Clone)]
pub struct CreateOrder {
    pub idempotency_key: String,
    pub request_hash: String,
    pub channel: String,
    pub lines: Vec<OrderLine>,
    pub ship_to: ShipTo,
    pub destination: GeoPoint,
    pub now_ms: i64,
    pub payment_deadline_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrderLineRecord {
    pub sku: Sku,
    pub qty: Qty,
    pub unit_price: Money,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrderRecord {
    pub id: u64,
    pub state: OrderState,
    pub channel: String,
    /// The warehouse that holds the stock for this order (none while backordered).
    pub warehouse: Option<WarehouseCode>,
    pub lines: Vec<OrderLineRecord>,
    pub total: Money,
    pub ship_to: ShipTo,
    pub tracking_number: Option<String>,
    pub carrier: Option<String>,
    pub created_at_ms: i64,
    pub payment_deadline_ms: i64,
    pub updated_at_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrderHistoryEntry {
    pub at_ms: i64,
    pub from_state: OrderState,
    pub to_state: OrderState,
    pub cause: String,
    pub warehouse: Option<WarehouseCode>,
}

#[derive(Debug, Clone)]
pub enum CreateOutcome {
    Created(OrderRecord),
    /// Same key, same body: the order created the first time.
    Replayed(OrderRecord),
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EdgeSyncRow {
    pub warehouse: WarehouseCode,
    /// Highest edge event sequence applied.
    pub events_high_water: u64,
    /// When central last applied new events from this edge.
    pub last_push_ms: Option<i64>,
    /// Newest command queued for the edge.
    pub commands_latest_seq: u64,
    /// Events central could not apply to an order (kept for HQ to look at).
    pub rejected_events: u64,
}

/// An edge event central applied to the stream but could not fit to an order.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RejectedEvent {
    pub warehouse: WarehouseCode,
    pub seq: u64,
    pub at_ms: i64,
    pub reason: String,
    /// The event as the edge sent it.
    #[schema(value_type = Object)]
    pub event: serde_json::Value,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    pub orders_by_state: Vec<(String, i64)>,
    pub ledger_entries: i64,
}

/// Everything central stores. Implementations must make each call one atomic transaction.
pub trait Repository: Send + Sync + 'static {
    fn create_spu(&self, spu: Spu) -> StoreFuture<'_, Spu>;
    fn create_sku(&self, sku: SkuRecord, now_ms: i64) -> StoreFuture<'_, SkuRecord>;
    fn get_sku(&self, sku: Sku) -> StoreFuture<'_, SkuRecord>;
    fn create_warehouse(&self, warehouse: NewWarehouse, now_ms: i64) -> StoreFuture<'_, WarehouseRecord>;
    fn list_warehouses(&self) -> StoreFuture<'_, Vec<WarehouseRecord>>;
    fn warehouse_by_token(&self, token_hash: String) -> StoreFuture<'_, Option<WarehouseCode>>;
    fn stock(&self, sku: Sku) -> StoreFuture<'_, Vec<StockRow>>;
    fn ledger(&self, sku: Sku, warehouse: Option<WarehouseCode>, limit: u32) -> StoreFuture<'_, Vec<LedgerEntry>>;
    fn create_order(&self, order: CreateOrder) -> StoreFuture<'_, CreateOutcome>;
    fn get_order(&self, id: u64) -> StoreFuture<'_, OrderRecord>;
    fn order_history(&self, id: u64) -> StoreFuture<'_, Vec<OrderHistoryEntry>>;
    fn pay_order(&self, id: u64, now_ms: i64) -> StoreFuture<'_, OrderRecord>;
    fn cancel_order(&self, id: u64, now_ms: i64) -> StoreFuture<'_, OrderRecord>;
    /// Closes unpaid orders whose deadline has passed; returns how many.
    fn close_expired_orders(&self, now_ms: i64, limit: u32) -> StoreFuture<'_, u32>;
    fn apply_edge_events(&self, warehouse: WarehouseCode, events: Vec<EdgeEvent>, now_ms: i64) -> StoreFuture<'_, PushAck>;
    fn pull_commands(&self, warehouse: WarehouseCode, after: u64, limit: u32) -> StoreFuture<'_, PullResponse>;
    fn sync_status(&self) -> StoreFuture<'_, Vec<EdgeSyncRow>>;
    /// Rejected edge events, newest first.
    fn rejected_events(&self, warehouse: Option<WarehouseCode>, limit: u32) -> StoreFuture<'_, Vec<RejectedEvent>>;
    /// Forgets Idempotency-Keys older than `before_ms`; returns how many.
    fn prune_idempotency_keys(&self, before_ms: i64, limit: u32) -> StoreFuture<'_, u32>;
    fn counts(&self) -> StoreFuture<'_, Counts>;
    /// Changes after every commit that may have queued edge commands (wakes long polls).
    fn subscribe_commands(&self) -> tokio::sync::watch::Receiver<u64>;
}
