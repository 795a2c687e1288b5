//! Orders complete once their return window closed with no after-sales request open, on both
//! backends: not before the window, not while a request is open, and no request after.

mod common;

use common::{seeded, sku, warehouse, Backend, Place};
use tote_central::after_sales::flow::{self as after_sales, Ask};
use tote_central::after_sales::{AfterSalesError, AskedLine, Kind, Reason, ReturnPolicy};
use tote_central::db::Database;
use tote_central::edge_sync::{events, SyncError};
use tote_central::orders::{flow, store as orders, CreateOrder, OrdersError};
use tote_shared::geo::city_point;
use tote_shared::order::{OrderEvent, OrderState};
use tote_shared::sync::{EdgeEvent, EdgeEventKind, OrderLine, ShipTo, ShippedLine};
use tote_shared::{LocationCode, Qty};

const DAY: i64 = 86_400_000;

async fn push(db: &Database, seq: u64, kind: EdgeEventKind) {
    let event = EdgeEvent { seq, at_ms: 0, kind };
    db.write(move |tx| -> Result<_, SyncError> { events::apply_events(tx, &warehouse(), std::slice::from_ref(&event), None, 0) })
        .await
        .expect("events apply");
}

/// An order of one pair, paid, shipped and delivered at `delivered_ms`; its id.
async fn delivered(db: &Database, delivered_ms: i64) -> u64 {
    push(db, 1, EdgeEventKind::StockReceived { sku: sku(), qty: Qty::parse(5).expect("qty"), location: LocationCode::parse("A-01").expect("loc") }).await;
    let create = CreateOrder {
        channel: "app".into(),
        customer: Some("runner".into()),
        lines: vec![OrderLine { sku: sku(), qty: Qty::parse(1).expect("qty") }],
        ship_to: ShipTo { name: "Li".into(), line1: "1 Road".into(), city: "Shanghai".into(), postcode: String::new(), phone: String::new() },
        destination: city_point("shanghai").expect("city"),
        now_ms: 0,
        payment_deadline_ms: DAY,
        checkout: Default::default(),
    };
    let id = db.write(move |tx| -> Result<_, OrdersError> { flow::create(tx, &create) }).await.expect("order").id;
    db.write(move |tx| flow::pay(tx, id, 0)).await.expect("paid");
    push(db, 2, EdgeEventKind::OrderPicked { order_id: id }).await;
    push(db, 3, EdgeEventKind::OrderPacked { order_id: id }).await;
    let lines = vec![ShippedLine { sku: sku(), qty: Qty::parse(1).expect("qty") }];
    push(db, 4, EdgeEventKind::OrderShipped { order_id: id, tracking_number: "SF1".into(), carrier: "SF".into(), lines }).await;
    db.write(move |tx| -> Result<_, OrdersError> {
        let order = flow::load(tx, id)?;
        flow::apply(tx, order, &OrderEvent::ParcelDelivered, "parcel_delivered", "", delivered_ms)
    })
    .await
    .expect("delivered");
    id
}

/// A request for the one pair of order `id`.
fn pair_request(id: u64, kind: Kind, reason: Reason, now_ms: i64) -> Ask {
    Ask {
        order_id: id,
        kind,
        reason,
        lines: vec![AskedLine { sku: sku(), qty: Qty::parse(1).expect("qty"), exchange_sku: None }],
        evidence: vec![],
        note: String::new(),
        method: Default::default(),
        now_ms,
    }
}

async fn state(db: &Database, id: u64) -> OrderState {
    db.read(move |tx| orders::load(tx, id, false)).await.expect("read").expect("order").state
}

async fn sweep(db: &Database, now_ms: i64) -> u32 {
    db.write(move |tx| after_sales::complete_due(tx, now_ms, 15 * DAY, 500)).await.expect("sweep")
}

async fn completes_after_its_window_and_not_while_a_request_is_open(backend: Backend) {
    let place = Place::new(backend);
    let db = seeded(&place).await;
    let at = 10 * DAY;
    let id = delivered(&db, at).await;
    assert_eq!(sweep(&db, at + 15 * DAY - 1).await, 0, "{backend:?}: the window is still open");
    assert_eq!(state(&db, id).await, OrderState::Delivered);

    // A request for the pair (a refund only: HQ reviews it) keeps the order open.
    let ask = pair_request(id, Kind::RefundOnly, Reason::NotAsDescribed, at + DAY);
    let policy = ReturnPolicy::default_policy();
    let request = db.write(move |tx| after_sales::request(tx, &ask, &policy)).await.expect("request");
    assert_eq!(request.state.as_str(), "review");
    assert_eq!(sweep(&db, at + 30 * DAY).await, 0, "{backend:?}: a request is open");
    assert_eq!(state(&db, id).await, OrderState::Delivered);

    let rid = request.id;
    db.write(move |tx| after_sales::review(tx, rid, false, None, "no evidence", at + 2 * DAY)).await.expect("rejected");
    assert_eq!(sweep(&db, at + 30 * DAY).await, 1, "{backend:?}: the request ended");
    assert_eq!(state(&db, id).await, OrderState::Completed);
    assert_eq!(sweep(&db, at + 31 * DAY).await, 0, "completed once");
    let late = pair_request(id, Kind::ReturnRefund, Reason::Size, at + 31 * DAY);
    let policy = ReturnPolicy::default_policy();
    let refused = db.write(move |tx| after_sales::request(tx, &late, &policy)).await;
    assert!(matches!(&refused, Err(AfterSalesError::Refused(why)) if why.contains("completed")), "{refused:?}");
}

#[tokio::test]
async fn orders_complete_after_the_return_window_on_sqlite() {
    completes_after_its_window_and_not_while_a_request_is_open(Backend::Sqlite).await;
}

#[tokio::test]
async fn orders_complete_after_the_return_window_on_postgres() {
    completes_after_its_window_and_not_while_a_request_is_open(Backend::Postgres).await;
}

async fn returning(db: &Database) -> i64 {
    let rows = db.read(|tx| tote_central::inventory::store::rows_for_sku(tx, &sku())).await.expect("read");
    rows[0].returning
}

/// An approved return whose goods never come is withdrawn by the policy's deadline, once: the
/// desk is told (`CancelReturn`), the units stop counting as coming back, and the order may
/// then complete. A deadline of 0 never withdraws.
async fn an_approved_return_past_its_deadline_is_withdrawn(backend: Backend) {
    use tote_shared::sync::CommandKind;
    let place = Place::new(backend);
    let db = seeded(&place).await;
    let at = 10 * DAY;
    let id = delivered(&db, at).await;
    let ask = pair_request(id, Kind::ReturnRefund, Reason::Size, at + DAY);
    let policy = ReturnPolicy::default_policy();
    assert_eq!(policy.return_by_days, 14);
    let saved_before: ReturnPolicy = serde_json::from_value(serde_json::json!({"window_days": 15, "rules": []})).expect("an older saved policy");
    assert_eq!(saved_before.return_by_days, 0, "a policy saved before the deadline existed keeps returns open");
    let request = db.write(move |tx| after_sales::request(tx, &ask, &policy)).await.expect("request");
    assert_eq!(request.state.as_str(), "awaiting_return", "{backend:?}: the seven-day rule approves");
    assert_eq!(returning(&db).await, 1);
    let expire = |now_ms: i64, days: u32| {
        let db = db.clone();
        async move {
            let due = db.read(move |tx| after_sales::due_to_expire(tx, now_ms, days, 500)).await.expect("due");
            let mut expired = 0;
            for id in due {
                expired += u32::from(db.write(move |tx| after_sales::expire(tx, id, now_ms, days)).await.expect("expiry"));
            }
            expired
        }
    };
    let deadline = at + DAY + 14 * DAY;
    assert_eq!(expire(deadline - 1, 14).await, 0, "{backend:?}: not before the deadline");
    assert_eq!(expire(deadline + 30 * DAY, 0).await, 0, "{backend:?}: 0 days is never");
    assert_eq!(expire(deadline, 14).await, 1, "{backend:?}: withdrawn at the deadline");
    assert_eq!(expire(deadline + DAY, 14).await, 0, "{backend:?}: once");
    let rid = request.id;
    let r = db.read(move |tx| tote_central::after_sales::store::load(tx, rid, false)).await.expect("read").expect("request");
    assert_eq!(r.state.as_str(), "withdrawn");
    assert!(r.decision_note.contains("withdrawn by the return deadline: the goods did not come back within 14 days"), "{}", r.decision_note);
    assert_eq!(returning(&db).await, 0, "{backend:?}: no longer coming back");
    let stream = db.read(|tx| tote_central::edge_sync::commands::pull(tx, &warehouse(), 0, 1000)).await.expect("pull");
    let rma = r.rma.clone().expect("rma");
    let told: Vec<_> = stream.commands.iter().filter(|c| matches!(&c.kind, CommandKind::CancelReturn { rma: r } if *r == rma)).collect();
    assert_eq!(told.len(), 1, "{backend:?}: the desk is told once");
    assert_eq!(sweep(&db, at + 30 * DAY).await, 1, "{backend:?}: nothing open: the order completes");
}

#[tokio::test]
async fn an_approved_return_past_its_deadline_is_withdrawn_on_sqlite() {
    an_approved_return_past_its_deadline_is_withdrawn(Backend::Sqlite).await;
}

#[tokio::test]
async fn an_approved_return_past_its_deadline_is_withdrawn_on_postgres() {
    an_approved_return_past_its_deadline_is_withdrawn(Backend::Postgres).await;
}
