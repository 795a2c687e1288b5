//! The batched intake of one-line orders (the flash-sale path): 500 orders at once for 100
//! units sell exactly 100, the ledger's running balance counts every lock once, a key sent
//! twice gets one order, and a key reused with another body is refused.

mod common;

use common::{seeded, sku, warehouse, Backend, Place};
use std::sync::Arc;
use tote_central::db::{Database, DbError};
use tote_central::edge_sync::{events, SyncError};
use tote_central::inventory;
use tote_central::orders::intake::{Intake, Reply};
use tote_central::orders::{CreateOrder, OrdersError};
use tote_shared::geo::city_point;
use tote_shared::runtime::idempotency::{fingerprint, RequestKey};
use tote_shared::stock::StockField;
use tote_shared::sync::{EdgeEvent, EdgeEventKind, OrderLine, ShipTo};
use tote_shared::{LocationCode, Qty};

fn order(qty: i64) -> CreateOrder {
    CreateOrder {
        channel: "app".into(),
        customer: None,
        lines: vec![OrderLine { sku: sku(), qty: Qty::parse(qty).expect("qty") }],
        ship_to: ShipTo { name: "A".into(), line1: "1 Bund Road".into(), city: "Shanghai".into(), postcode: String::new(), phone: String::new() },
        destination: city_point("shanghai").expect("city"),
        now_ms: 1_000,
        payment_deadline_ms: 1_000_000,
        checkout: Default::default(),
    }
}

fn key(name: &str, body: &str) -> RequestKey {
    RequestKey { key: name.into(), fingerprint: fingerprint("POST", "/api/v1/orders", "admin", body.as_bytes()) }
}

async fn receive(db: &Database, qty: i64) {
    let kind = EdgeEventKind::StockReceived { sku: sku(), qty: Qty::parse(qty).expect("qty"), location: LocationCode::parse("A-01").expect("loc") };
    let event = EdgeEvent { seq: 1, at_ms: 0, kind };
    db.write(move |tx| -> Result<_, SyncError> { events::apply_events(tx, &warehouse(), std::slice::from_ref(&event), None, 0) }).await.expect("receipt");
}

async fn a_flash_sale_batch_sells_exactly_the_stock(backend: Backend) {
    let place = Place::new(backend);
    let db = seeded(&place).await;
    receive(&db, 100).await;
    let intake = Arc::new(Intake::start(db.clone(), 2, Arc::new(|| {})));
    let mut tasks = Vec::new();
    for n in 0..500 {
        let intake = intake.clone();
        tasks.push(tokio::spawn(async move { intake.submit("admin".into(), key(&format!("flash-{n}"), &format!("{n}")), order(1)).await }));
    }
    let (mut created, mut refused, mut ids) = (0, 0, Vec::new());
    for task in tasks {
        match task.await.expect("join") {
            Reply::Answer { stored, replayed: false } => {
                created += 1;
                let body: serde_json::Value = serde_json::from_str(&stored.1).expect("json");
                ids.push(body["id"].as_u64().expect("id"));
            }
            Reply::Refused(OrdersError::InsufficientStock(_)) => refused += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!((created, refused), (100, 400), "exactly the stock is sold");
    assert_eq!(ids.len(), 100, "every order has its own id");
    let (rows, ledger) = db
        .read(|tx| -> Result<_, DbError> { Ok((inventory::store::rows_for_sku(tx, &sku())?, inventory::store::ledger(tx, &sku(), None, 10_000, false)?)) })
        .await
        .expect("read");
    assert_eq!((rows[0].level.on_hand, rows[0].level.locked, rows[0].sellable), (100, 100, 0));
    let balances: Vec<i64> = ledger.iter().filter(|e| e.field == StockField::Locked).map(|e| e.balance_after).collect();
    assert_eq!(balances, (1..=100).collect::<Vec<i64>>(), "one ledger row per lock, running balance");

    // The same key twice with one request and once with another, at once, with stock left:
    // one order; the copy with the same request gets it, the other request is refused.
    receive_more(&db, 10).await;
    let mut tasks = Vec::new();
    for body in ["x", "x", "y"] {
        let intake = intake.clone();
        tasks.push(tokio::spawn(async move { (body, intake.submit("admin".into(), key("twice", body), order(1)).await) }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("join"));
    }
    let winner = answers.iter().find_map(|(body, r)| matches!(r, Reply::Answer { replayed: false, .. }).then_some(*body)).expect("one order");
    for (body, reply) in &answers {
        match reply {
            Reply::Answer { replayed: false, .. } => assert_eq!(*body, winner),
            Reply::Answer { replayed: true, .. } => assert_eq!(*body, winner, "only the same request replays"),
            Reply::Mismatch => assert_ne!(*body, winner, "only another request is refused"),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(answers.iter().filter(|(_, r)| matches!(r, Reply::Answer { replayed: false, .. })).count(), 1);
}

async fn receive_more(db: &Database, qty: i64) {
    let kind = EdgeEventKind::StockReceived { sku: sku(), qty: Qty::parse(qty).expect("qty"), location: LocationCode::parse("A-01").expect("loc") };
    let event = EdgeEvent { seq: 2, at_ms: 0, kind };
    db.write(move |tx| -> Result<_, SyncError> { events::apply_events(tx, &warehouse(), std::slice::from_ref(&event), None, 0) }).await.expect("receipt");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_flash_sale_batch_sells_exactly_the_stock() {
    a_flash_sale_batch_sells_exactly_the_stock(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_flash_sale_batch_sells_exactly_the_stock() {
    a_flash_sale_batch_sells_exactly_the_stock(Backend::Postgres).await;
}
