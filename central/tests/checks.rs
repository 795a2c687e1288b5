//! Intake's pre-checks on both backends and both intake paths (the flash-sale batch and the
//! one-order path), with orders arriving at once: a purchase limit holds however the orders
//! race, a double tap is one order, a blocklisted phone or an unknown region locks nothing.

mod common;

use common::{seeded, sku, warehouse, Backend, Place};
use std::sync::Arc;
use tote_central::db::{doc, Database};
use tote_central::edge_sync::{events, SyncError};
use tote_central::inventory;
use tote_central::orders::checks::{BlockKind, CheckPolicy, PurchaseLimit, Refusal};
use tote_central::orders::intake::{Intake, Reply};
use tote_central::orders::{flow, screen, store, CreateOrder, OrdersError};
use tote_shared::geo::city_point;
use tote_shared::runtime::idempotency::{fingerprint, RequestKey};
use tote_shared::sync::{EdgeEvent, EdgeEventKind, OrderLine, ShipTo};
use tote_shared::{LocationCode, Qty};

fn order(customer: Option<&str>, street: &str, phone: &str, now_ms: i64) -> CreateOrder {
    CreateOrder {
        channel: "app".into(),
        customer: customer.map(str::to_owned),
        lines: vec![OrderLine { sku: sku(), qty: Qty::parse(1).expect("qty") }],
        ship_to: ShipTo { name: "Li Wei".into(), line1: street.into(), city: "Shanghai".into(), postcode: String::new(), phone: phone.into() },
        destination: city_point("shanghai").expect("city"),
        now_ms,
        payment_deadline_ms: now_ms + 1_000_000,
        checkout: Default::default(),
    }
}

fn key(name: &str) -> RequestKey {
    RequestKey { key: name.into(), fingerprint: fingerprint("POST", "/api/v1/orders", "admin", name.as_bytes()) }
}

async fn receive(db: &Database, qty: i64) {
    let kind = EdgeEventKind::StockReceived { sku: sku(), qty: Qty::parse(qty).expect("qty"), location: LocationCode::parse("A-01").expect("loc") };
    let event = EdgeEvent { seq: 1, at_ms: 0, kind };
    db.write(move |tx| -> Result<_, SyncError> { events::apply_events(tx, &warehouse(), std::slice::from_ref(&event), None, 0) }).await.expect("receipt");
}

async fn set_policy(db: &Database, policy: CheckPolicy) {
    db.write(move |tx| doc::save(tx, screen::POLICY, &policy, 0)).await.expect("policy");
}

async fn locked(db: &Database) -> i64 {
    let rows = db.read(|tx| inventory::store::rows_for_sku(tx, &sku())).await.expect("read");
    rows[0].level.locked
}

/// Through the one-order path.
async fn one(db: &Database, order: CreateOrder) -> Result<u64, OrdersError> {
    db.write(move |tx| flow::create(tx, &order)).await.map(|o| o.id)
}

fn id_of(reply: Reply) -> Result<u64, OrdersError> {
    match reply {
        Reply::Answer { stored, replayed: false } => {
            let body: serde_json::Value = serde_json::from_str(&stored.1).expect("json");
            Ok(body["id"].as_u64().expect("id"))
        }
        Reply::Refused(refusal) => Err(refusal),
        other => panic!("unexpected {other:?}"),
    }
}

async fn a_purchase_limit_holds_when_one_customers_orders_race_down_both_paths(backend: Backend) {
    let place = Place::new(backend);
    let db = seeded(&place).await;
    receive(&db, 100).await;
    let limit = PurchaseLimit { sku: sku(), max_qty: 3, window_hours: 24 };
    set_policy(&db, CheckPolicy { limits: vec![limit], ..CheckPolicy::default() }).await;
    let intake = Arc::new(Intake::start(db.clone(), 2, Arc::new(|| {})));
    // 40 orders of one unit from one customer at once, half batched, half one by one, each to
    // another street (so none is a duplicate): exactly three are taken.
    let mut tasks = Vec::new();
    for n in 0..40 {
        let (intake, db) = (intake.clone(), db.clone());
        let order = order(Some("flash-buyer"), &format!("{n} Nanjing Road"), "", 10_000);
        tasks.push(tokio::spawn(async move {
            if n % 2 == 0 {
                id_of(intake.submit("admin".into(), key(&format!("limit-{n}")), order).await)
            } else {
                one(&db, order).await
            }
        }));
    }
    let (mut taken, mut over) = (0, 0);
    for task in tasks {
        match task.await.expect("join") {
            Ok(_) => taken += 1,
            Err(OrdersError::Refused(Refusal::OverLimit { max: 3, already, .. })) => {
                assert_eq!(already, 3, "a refusal counts what was taken");
                over += 1;
            }
            Err(other) => panic!("unexpected {other}"),
        }
    }
    assert_eq!((taken, over), (3, 37));
    assert_eq!(locked(&db).await, 3, "only the orders taken locked stock");
    // Another customer is not held by the first one's limit; the first is, until the window
    // has passed.
    assert!(one(&db, order(Some("someone-else"), "1 Bund Road", "", 10_000)).await.is_ok());
    assert!(matches!(one(&db, order(Some("flash-buyer"), "2 Bund Road", "", 20_000)).await, Err(OrdersError::Refused(Refusal::OverLimit { .. }))));
    assert!(one(&db, order(Some("flash-buyer"), "2 Bund Road", "", 10_001 + 24 * 3_600_000)).await.is_ok());
}

async fn a_double_tap_is_one_order_on_either_path(backend: Backend) {
    let place = Place::new(backend);
    let db = seeded(&place).await;
    receive(&db, 100).await;
    let intake = Arc::new(Intake::start(db.clone(), 1, Arc::new(|| {})));
    // The same order three times at once through the batch (different keys: not a retry).
    let mut tasks = Vec::new();
    for n in 0..3 {
        let intake = intake.clone();
        tasks.push(tokio::spawn(async move { id_of(intake.submit("admin".into(), key(&format!("tap-{n}")), order(Some("runner"), "88 Century Avenue", "", 50_000)).await) }));
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.expect("join"));
    }
    let first = *outcomes.iter().find_map(|o| o.as_ref().ok()).expect("one order taken");
    for outcome in &outcomes {
        match outcome {
            Ok(id) => assert_eq!(*id, first, "one order"),
            Err(OrdersError::Refused(Refusal::Duplicate { order_id, seconds })) => assert_eq!((*order_id, *seconds), (first, 0)),
            Err(other) => panic!("unexpected {other}"),
        }
    }
    assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 1);
    // Seconds later on the one-order path, the address spelt otherwise: still the same order.
    let again = one(&db, order(Some("runner"), "88, century avenue", "", 62_000)).await;
    assert!(matches!(again, Err(OrdersError::Refused(Refusal::Duplicate { order_id, seconds: 12 })) if order_id == first));
    // Once it is cancelled, or after the window, the same order is a new purchase.
    db.write(move |tx| flow::cancel(tx, first, 63_000)).await.expect("cancel");
    let second = one(&db, order(Some("runner"), "88 Century Avenue", "", 64_000)).await.expect("taken after the cancel");
    assert!(one(&db, order(Some("runner"), "88 Century Avenue", "", 64_000 + 31_000)).await.is_ok_and(|id| id != second));
    assert_eq!(locked(&db).await, 2);
}

async fn a_blocklisted_phone_or_an_unknown_region_locks_nothing(backend: Backend) {
    let place = Place::new(backend);
    let db = seeded(&place).await;
    receive(&db, 10).await;
    let intake = Arc::new(Intake::start(db.clone(), 1, Arc::new(|| {})));
    db.write(|tx| store::add_block(tx, BlockKind::Phone, "13800138000", "chargebacks", 0)).await.expect("block");
    let blocked = || order(Some("new-face"), "1 Bund Road", "+86 138-0013-8000", 1_000);
    let refusal = id_of(intake.submit("admin".into(), key("blocked"), blocked()).await);
    assert!(matches!(refusal, Err(OrdersError::Refused(Refusal::Blocked { kind: BlockKind::Phone, ref reason })) if reason == "chargebacks"));
    assert!(matches!(one(&db, blocked()).await, Err(OrdersError::Refused(Refusal::Blocked { .. }))));
    let mut nowhere = order(None, "1 Main Street", "", 1_000);
    nowhere.ship_to.city = "Atlantis".into();
    assert!(matches!(id_of(intake.submit("admin".into(), key("nowhere"), nowhere.clone()).await), Err(OrdersError::Refused(Refusal::UnknownRegion(_)))));
    assert!(matches!(one(&db, nowhere).await, Err(OrdersError::Refused(Refusal::UnknownRegion(_)))));
    assert_eq!(locked(&db).await, 0, "no refused order locked stock");
    let (entry, _) = db.write(|tx| store::add_block(tx, BlockKind::Phone, "13800138000", "again", 0)).await.expect("block");
    db.write(move |tx| store::remove_block(tx, entry.id)).await.expect("unblock");
    assert!(one(&db, blocked()).await.is_ok(), "unblocked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_purchase_limit_holds_when_one_customers_orders_race_down_both_paths() {
    a_purchase_limit_holds_when_one_customers_orders_race_down_both_paths(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_purchase_limit_holds_when_one_customers_orders_race_down_both_paths() {
    a_purchase_limit_holds_when_one_customers_orders_race_down_both_paths(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_double_tap_is_one_order_on_either_path() {
    a_double_tap_is_one_order_on_either_path(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_double_tap_is_one_order_on_either_path() {
    a_double_tap_is_one_order_on_either_path(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_blocklisted_phone_or_an_unknown_region_locks_nothing() {
    a_blocklisted_phone_or_an_unknown_region_locks_nothing(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_blocklisted_phone_or_an_unknown_region_locks_nothing() {
    a_blocklisted_phone_or_an_unknown_region_locks_nothing(Backend::Postgres).await;
}
