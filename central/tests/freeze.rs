//! Frozen stock on both backends: SH-01 holds 10 pairs, an order holds 3, and the edge says 6
//! are frozen (a recall). Sellable drops by 6 at once and a lock for 2 more is refused; a level
//! that is negative is kept aside and changes nothing; when the edge lifts the freeze the
//! pairs are sellable again.

mod common;

use common::{seeded, sku, warehouse, Backend, Place};
use tote_central::db::Database;
use tote_central::edge_sync::{events, SyncError};
use tote_central::inventory::{store, Cause, Change, InventoryError, StockRow};
use tote_shared::stock::StockLevel;
use tote_shared::sync::{EdgeEvent, EdgeEventKind};
use tote_shared::{LocationCode, Qty};

const T0: i64 = 1_800_000_000_000;

async fn push(db: &Database, events: Vec<EdgeEvent>) {
    db.write(move |tx| -> Result<_, SyncError> { events::apply_events(tx, &warehouse(), &events, None, T0) }).await.expect("pushed");
}

fn frozen(seq: u64, qty: i64) -> EdgeEvent {
    EdgeEvent { seq, at_ms: 0, kind: EdgeEventKind::FrozenLevel { sku: sku(), qty } }
}

async fn row(db: &Database) -> StockRow {
    let rows = db.write(|tx| -> Result<_, InventoryError> { Ok(store::rows_for_sku(tx, &sku())?) }).await.expect("rows");
    rows.into_iter().find(|r| r.warehouse == warehouse()).expect("SH-01's row")
}

async fn lock(db: &Database, qty: i64) -> Result<(), InventoryError> {
    db.write(move |tx| -> Result<(), InventoryError> {
        let (sku, warehouse) = (sku(), warehouse());
        let change = Change { sku: &sku, warehouse: &warehouse, rule: StockLevel::lock, qty };
        store::change_all(tx, &[change], &Cause { cause: "order_created", reference: "order:1", at_ms: T0 })?;
        Ok(())
    })
    .await
}

async fn frozen_stock_is_not_sellable_until_the_edge_lifts_it(backend: Backend) {
    let place = Place::new(backend);
    let db = seeded(&place).await;
    let receipt = EdgeEvent { seq: 1, at_ms: 0, kind: EdgeEventKind::StockReceived { sku: sku(), qty: Qty::parse(10).expect("qty"), location: LocationCode::parse("A-01").expect("loc") } };
    push(&db, vec![receipt]).await;
    lock(&db, 3).await.expect("an order holds three");
    assert_eq!(row(&db).await.sellable, 7);

    push(&db, vec![frozen(2, 6)]).await;
    let r = row(&db).await;
    assert_eq!((r.level.on_hand, r.level.frozen, r.sellable), (10, 6, 1), "on hand, but six are not to be sold");
    assert!(matches!(lock(&db, 2).await, Err(InventoryError::Rule { .. })), "only one is sellable");
    let before = row(&db).await.level;
    push(&db, vec![frozen(3, -1)]).await;
    assert_eq!(row(&db).await.level, before, "a negative level changes nothing");

    push(&db, vec![frozen(4, 0)]).await;
    let r = row(&db).await;
    assert_eq!((r.level.frozen, r.sellable), (0, 7), "lifted: sellable again");
    lock(&db, 2).await.expect("and an order may hold them");
}

#[tokio::test]
async fn frozen_stock_is_not_sellable_until_the_edge_lifts_it_on_sqlite() {
    frozen_stock_is_not_sellable_until_the_edge_lifts_it(Backend::Sqlite).await;
}

#[tokio::test]
async fn frozen_stock_is_not_sellable_until_the_edge_lifts_it_on_postgres() {
    frozen_stock_is_not_sellable_until_the_edge_lifts_it(Backend::Postgres).await;
}
