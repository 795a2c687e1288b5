//! The SQLite repository: one writer thread with group commit (see
//! `tote_shared::runtime::sqlite`), a few read-only connections, and a signal that wakes
//! long-polling edges when commands were queued.

mod catalog;
mod orders;
mod schema;
mod stock;
mod sync;

use super::{
    Counts, CreateOrder, CreateOutcome, EdgeSyncRow, LedgerEntry, NewWarehouse, OrderHistoryEntry, OrderRecord,
    RejectedEvent, Repository, SkuRecord, Spu, StockRow, StoreFuture, StoreResult, WarehouseRecord,
};
use tokio::sync::watch;
use tote_shared::runtime::settings::DatabaseSettings;
use tote_shared::runtime::sqlite::{start, Readers, Writer};
use tote_shared::sync::{EdgeEvent, PullResponse, PushAck};
use tote_shared::{Sku, WarehouseCode};

pub struct SqliteStore {
    writer: Writer,
    readers: Readers,
    /// Bumped after every commit that may have queued edge commands.
    commands_queued: watch::Sender<u64>,
}

impl SqliteStore {
    pub fn open(settings: &DatabaseSettings) -> StoreResult<SqliteStore> {
        let (writer, readers) = start(settings, schema::MIGRATIONS)?;
        let (commands_queued, _) = watch::channel(0);
        Ok(SqliteStore { writer, readers, commands_queued })
    }

    fn commands_changed(&self) {
        self.commands_queued.send_modify(|n| *n = n.wrapping_add(1));
    }

    async fn write_and_signal<T: Send + 'static>(
        &self,
        work: impl FnOnce(&rusqlite::Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let out = self.writer.write(work).await;
        if out.is_ok() {
            self.commands_changed();
        }
        out
    }
}

impl Repository for SqliteStore {
    fn create_spu(&self, spu: Spu) -> StoreFuture<'_, Spu> {
        Box::pin(self.writer.write(move |c| catalog::create_spu(c, &spu).map(|()| spu)))
    }

    fn create_sku(&self, sku: SkuRecord, now_ms: i64) -> StoreFuture<'_, SkuRecord> {
        Box::pin(self.write_and_signal(move |c| catalog::create_sku(c, &sku, now_ms)))
    }

    fn get_sku(&self, sku: Sku) -> StoreFuture<'_, SkuRecord> {
        Box::pin(self.readers.read(move |c| catalog::get_sku(c, sku.as_str())))
    }

    fn create_warehouse(&self, warehouse: NewWarehouse, now_ms: i64) -> StoreFuture<'_, WarehouseRecord> {
        Box::pin(self.write_and_signal(move |c| catalog::create_warehouse(c, &warehouse, now_ms)))
    }

    fn list_warehouses(&self) -> StoreFuture<'_, Vec<WarehouseRecord>> {
        Box::pin(self.readers.read(catalog::list_warehouses))
    }

    fn warehouse_by_token(&self, token_hash: String) -> StoreFuture<'_, Option<WarehouseCode>> {
        Box::pin(self.readers.read(move |c| catalog::warehouse_by_token(c, &token_hash)))
    }

    fn stock(&self, sku: Sku) -> StoreFuture<'_, Vec<StockRow>> {
        Box::pin(self.readers.read(move |c| {
            catalog::get_sku(c, sku.as_str())?;
            stock::rows_for_sku(c, sku.as_str())
        }))
    }

    fn ledger(&self, sku: Sku, warehouse: Option<WarehouseCode>, limit: u32) -> StoreFuture<'_, Vec<LedgerEntry>> {
        Box::pin(self.readers.read(move |c| stock::ledger(c, sku.as_str(), warehouse.as_ref().map(|w| w.as_str()), limit)))
    }

    fn create_order(&self, order: CreateOrder) -> StoreFuture<'_, CreateOutcome> {
        Box::pin(self.writer.write(move |c| orders::create(c, &order)))
    }

    fn get_order(&self, id: u64) -> StoreFuture<'_, OrderRecord> {
        Box::pin(self.readers.read(move |c| orders::load(c, id)))
    }

    fn order_history(&self, id: u64) -> StoreFuture<'_, Vec<OrderHistoryEntry>> {
        Box::pin(self.readers.read(move |c| {
            orders::load(c, id)?;
            orders::history(c, id)
        }))
    }

    fn pay_order(&self, id: u64, now_ms: i64) -> StoreFuture<'_, OrderRecord> {
        Box::pin(self.write_and_signal(move |c| orders::pay(c, id, now_ms)))
    }

    fn cancel_order(&self, id: u64, now_ms: i64) -> StoreFuture<'_, OrderRecord> {
        Box::pin(self.write_and_signal(move |c| orders::cancel(c, id, now_ms)))
    }

    fn close_expired_orders(&self, now_ms: i64, limit: u32) -> StoreFuture<'_, u32> {
        Box::pin(self.writer.write(move |c| orders::close_expired(c, now_ms, limit)))
    }

    fn apply_edge_events(&self, warehouse: WarehouseCode, events: Vec<EdgeEvent>, now_ms: i64) -> StoreFuture<'_, PushAck> {
        Box::pin(self.write_and_signal(move |c| sync::apply_events(c, &warehouse, &events, now_ms)))
    }

    fn pull_commands(&self, warehouse: WarehouseCode, after: u64, limit: u32) -> StoreFuture<'_, PullResponse> {
        Box::pin(self.readers.read(move |c| sync::pull(c, &warehouse, after, limit)))
    }

    fn sync_status(&self) -> StoreFuture<'_, Vec<EdgeSyncRow>> {
        Box::pin(self.readers.read(sync::status))
    }

    fn rejected_events(&self, warehouse: Option<WarehouseCode>, limit: u32) -> StoreFuture<'_, Vec<RejectedEvent>> {
        Box::pin(self.readers.read(move |c| sync::rejected(c, warehouse.as_ref(), limit)))
    }

    fn prune_idempotency_keys(&self, before_ms: i64, limit: u32) -> StoreFuture<'_, u32> {
        Box::pin(self.writer.write(move |c| orders::prune_idempotency_keys(c, before_ms, limit)))
    }

    fn counts(&self) -> StoreFuture<'_, Counts> {
        Box::pin(self.readers.read(|c| {
            let mut stmt = c.prepare_cached("SELECT state, COUNT(*) FROM orders GROUP BY state ORDER BY state")?;
            let orders_by_state = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            let ledger_entries = c.query_row("SELECT COALESCE(MAX(id), 0) FROM inventory_ledger", [], |r| r.get(0))?;
            Ok(Counts { orders_by_state, ledger_entries })
        }))
    }

    fn subscribe_commands(&self) -> watch::Receiver<u64> {
        self.commands_queued.subscribe()
    }
}
