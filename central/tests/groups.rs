//! Group buys through real orders, on both backends: three runners make a group of three —
//! each paid order waits (`grouping`, its pair committed, nothing sent to the warehouse) until
//! the third payment forms the group and all three go out together; a fourth finds it full.
//! A second group loses a member who cancels (the seat opens again), does not form by its
//! deadline, and the sweep cancels every order in it — the paid one as a paid cancel, so
//! payment refunds it — and gives the stock back. Twenty customers racing for a group's last
//! two seats: exactly two get in.

mod common;

use common::{seeded, sku, warehouse, Backend, Place};
use tote_central::db::Database;
use tote_central::edge_sync::{events, SyncError};
use tote_central::journal::{self, BusinessEvent};
use tote_central::marketing::groups::{self, NewGroupBuy};
use tote_central::marketing::{self, MarketingError};
use tote_central::orders::{flow, CheckoutTerms, CreateOrder, GroupJoin, OrderRecord, OrdersError};
use tote_shared::geo::city_point;
use tote_shared::order::OrderState;
use tote_shared::sync::{EdgeEvent, EdgeEventKind, OrderLine, ShipTo};
use tote_shared::{LocationCode, Qty};

const T0: i64 = 1_800_000_000_000;
const HOUR: i64 = 3_600_000;

fn order(customer: &str, group: Option<u64>, now: i64) -> CreateOrder {
    CreateOrder {
        channel: "app".into(),
        customer: Some(customer.into()),
        lines: vec![OrderLine { sku: sku(), qty: Qty::parse(1).expect("qty") }],
        ship_to: ShipTo { name: customer.into(), line1: format!("{customer} Bund Road"), city: "Shanghai".into(), postcode: String::new(), phone: String::new() },
        destination: city_point("shanghai").expect("city"),
        now_ms: now,
        payment_deadline_ms: now + HOUR,
        checkout: CheckoutTerms { group: Some(GroupJoin { offer: "peg-trio".into(), group }), ..CheckoutTerms::default() },
    }
}

async fn create(db: &Database, o: CreateOrder) -> Result<OrderRecord, OrdersError> {
    db.write(move |tx| flow::create(tx, &o)).await
}

async fn pay(db: &Database, id: u64, now: i64) -> OrderRecord {
    db.write(move |tx| flow::pay(tx, id, now)).await.expect("paid")
}

async fn state(db: &Database, id: u64) -> OrderState {
    db.write(move |tx| flow::load(tx, id)).await.expect("order").state
}

async fn group_of(db: &Database, id: u64) -> u64 {
    db.read(move |tx| groups::group_of(tx, id)).await.expect("read").expect("in a group").id
}

async fn stock(db: &Database) -> (i64, i64, i64) {
    let level = db.read(|tx| tote_central::inventory::store::peek(tx, &sku(), &warehouse())).await.expect("level");
    (level.on_hand, level.locked, level.committed)
}

async fn group_buys_form_or_fail_as_one(backend: Backend) {
    let place = Place::new(backend);
    let db = seeded(&place).await;
    let receipt = vec![EdgeEvent { seq: 1, at_ms: 0, kind: EdgeEventKind::StockReceived { sku: sku(), qty: Qty::parse(100).expect("qty"), location: LocationCode::parse("A-01").expect("loc") } }];
    db.write(move |tx| -> Result<_, SyncError> { events::apply_events(tx, &warehouse(), &receipt, None, 0) }).await.expect("receipt");
    let offer = |price| NewGroupBuy { sku: sku(), price, size: 3, window_ms: HOUR, max_qty: 1, starts_ms: T0 - 1, ends_ms: T0 + 24 * HOUR };
    let cheap = offer(30_000);
    let below = db.write(move |tx| groups::publish(tx, "peg-cheap", &cheap, T0)).await;
    assert!(matches!(below, Err(MarketingError::Invalid(ref why)) if why.contains("floor")), "under the ¥410 cost: {below:?}");
    let trio = offer(69_900);
    db.write(move |tx| groups::publish(tx, "peg-trio", &trio, T0)).await.expect("published");

    // Group A: Li opens it, Wang and Zhao join.
    let a1 = create(&db, order("li", None, T0)).await.expect("opens a group");
    assert_eq!((a1.total.minor(), a1.lines[0].discounts[0].promotion.as_str()), (69_900, "peg-trio"));
    let a = group_of(&db, a1.id).await;
    let a2 = create(&db, order("wang", Some(a), T0)).await.expect("joins");
    let mut second = order("wang", Some(a), T0 + 1);
    second.ship_to.line1 = "9 Another Road".into();
    let again = create(&db, second).await;
    assert!(matches!(again, Err(OrdersError::Checkout(MarketingError::GroupClosed(ref why))) if why.contains("already")), "{again:?}");
    let a3 = create(&db, order("zhao", Some(a), T0)).await.expect("joins");
    let full = create(&db, order("qian", Some(a), T0)).await;
    assert!(matches!(full, Err(OrdersError::Checkout(MarketingError::GroupClosed(ref why))) if why.contains("full")), "{full:?}");
    assert_eq!(stock(&db).await, (100, 3, 0), "three pairs locked; the refused orders took nothing");

    assert_eq!(pay(&db, a1.id, T0 + 1).await.state, OrderState::Grouping);
    assert_eq!(pay(&db, a2.id, T0 + 2).await.state, OrderState::Grouping);
    assert_eq!(stock(&db).await, (100, 1, 2), "paid: committed, but not sent");
    assert_eq!(pay(&db, a1.id, T0 + 3).await.state, OrderState::Grouping, "paying twice changes nothing");
    assert_eq!(pay(&db, a3.id, T0 + 4).await.state, OrderState::AwaitingShipment, "the third payment forms the group");
    for id in [a1.id, a2.id] {
        assert_eq!(state(&db, id).await, OrderState::AwaitingShipment, "every order of the group goes out");
    }

    // Group B: Sun opens and pays; Zhou joins and cancels (the seat opens); Wu joins, never
    // pays. The deadline passes.
    let b1 = create(&db, order("sun", None, T0 + 10)).await.expect("opens");
    let b = group_of(&db, b1.id).await;
    pay(&db, b1.id, T0 + 11).await;
    let b2 = create(&db, order("zhou", Some(b), T0 + 12)).await.expect("joins");
    db.write(move |tx| flow::cancel(tx, b2.id, T0 + 13)).await.expect("cancelled");
    let b3 = create(&db, order("wu", Some(b), T0 + 14)).await.expect("the seat Zhou left");
    let before = db.read(move |tx| marketing::store::group(tx, b)).await.expect("read").expect("group");
    assert_eq!((before.members, before.paid, before.state.as_str()), (2, 1, "open"));
    let early = db.write(move |tx| flow::settle_groups(tx, T0 + 10 + HOUR - 1, 100)).await.expect("swept");
    assert_eq!(early, 0, "not before its deadline");
    let late = create(&db, order("zheng", Some(b), T0 + 10 + HOUR)).await;
    assert!(matches!(late, Err(OrdersError::Checkout(MarketingError::GroupClosed(_)))), "past its deadline: {late:?}");
    let swept = db.write(move |tx| flow::settle_groups(tx, T0 + 10 + HOUR, 100)).await.expect("swept");
    assert_eq!(swept, 2, "Sun's and Wu's orders");
    for id in [b1.id, b2.id, b3.id] {
        assert_eq!(state(&db, id).await, OrderState::Cancelled);
    }
    assert_eq!(stock(&db).await, (100, 0, 3), "group B's pairs back on sale; group A's still committed");

    journal::consumer::sequence_once(&db, 10_000).await.expect("sequenced");
    let entries = db.read(|tx| journal::store::read_after(tx, 0, 10_000)).await.expect("journal");
    let fates: Vec<&BusinessEvent> = entries.iter().map(|e| &e.event).filter(|e| matches!(e, BusinessEvent::GroupBuyFormed { .. } | BusinessEvent::GroupBuyFailed { .. })).collect();
    assert_eq!(
        fates,
        [
            &BusinessEvent::GroupBuyFormed { group_id: a, offer: "peg-trio".into(), orders: vec![a1.id, a2.id, a3.id] },
            &BusinessEvent::GroupBuyFailed { group_id: b, offer: "peg-trio".into(), orders: vec![b1.id, b3.id] },
        ]
    );
    let refunded = entries.iter().any(|e| matches!(&e.event, BusinessEvent::OrderCancelled { order_id, was_paid: true, .. } if *order_id == b1.id));
    assert!(refunded, "Sun's paid order is cancelled as paid: payment refunds it");
    let paid_events = entries.iter().filter(|e| matches!(e.event, BusinessEvent::OrderPaid { .. })).count();
    assert_eq!(paid_events, 4, "one order_paid per paid order, the twice-paid one too");

    // Twenty customers race for group C's last two seats.
    let c0 = create(&db, order("c-0", None, T0 + 20)).await.expect("opens");
    let c = group_of(&db, c0.id).await;
    let racers: Vec<_> = (1..=20).map(|n| tokio::spawn({
        let db = db.clone();
        async move { create(&db, order(&format!("c-{n}"), Some(c), T0 + 21)).await }
    })).collect();
    let mut joined = 0;
    for racer in racers {
        match racer.await.expect("task") {
            Ok(_) => joined += 1,
            Err(OrdersError::Checkout(MarketingError::GroupClosed(_))) => {}
            Err(other) => panic!("a racer met {other:?}"),
        }
    }
    let group_c = db.read(move |tx| marketing::store::group(tx, c)).await.expect("read").expect("group");
    assert_eq!((joined, group_c.members, group_c.orders.len()), (2, 3, 3), "exactly the two seats left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn group_buys_form_or_fail_as_one_on_sqlite() {
    group_buys_form_or_fail_as_one(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn group_buys_form_or_fail_as_one_on_postgres() {
    group_buys_form_or_fail_as_one(Backend::Postgres).await;
}
