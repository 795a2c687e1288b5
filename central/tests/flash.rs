//! Flash sales on both backends: 50 pairs held out of 200 at SH-01, one per customer, hit by
//! 2,000 requests from 500 customers at once — half through the batched intake (the path the
//! API takes), half one order at a time. Exactly 50 sold, nobody twice, each at the flash
//! price; the hold became the orders' locks and nothing else moved. Ten orders closed unpaid
//! give their units back to the hold and their customers may buy again; ending the sale gives
//! what is left of the hold back to sellable.

mod common;

use common::{seeded, sku, warehouse, Backend, Place};
use std::collections::HashSet;
use std::sync::Arc;
use tote_central::db::{Database, DbError};
use tote_central::edge_sync::{events, SyncError};
use tote_central::inventory;
use tote_central::marketing::flash::{self, FlashSale, NewFlashSale};
use tote_central::marketing::MarketingError;
use tote_central::orders::intake::{Intake, Reply};
use tote_central::orders::{flow, CreateOrder, OrderRecord, OrdersError};
use tote_shared::geo::city_point;
use tote_shared::runtime::idempotency::{fingerprint, RequestKey};
use tote_shared::runtime::system::now_ms;
use tote_shared::sync::{EdgeEvent, EdgeEventKind, OrderLine, ShipTo};
use tote_shared::{LocationCode, Qty};

const CUSTOMERS: usize = 500;
const TRIES: usize = 4;

fn order(customer: usize, attempt: usize, now: i64) -> CreateOrder {
    CreateOrder {
        channel: "app".into(),
        customer: Some(format!("runner-{customer}")),
        lines: vec![OrderLine { sku: sku(), qty: Qty::parse(1).expect("qty") }],
        // Another address per try: a second try is not a duplicate order, only a second unit.
        ship_to: ShipTo { name: "A".into(), line1: format!("{attempt} Bund Road"), city: "Shanghai".into(), postcode: String::new(), phone: String::new() },
        destination: city_point("shanghai").expect("city"),
        now_ms: now,
        payment_deadline_ms: now + 3_600_000,
        checkout: Default::default(),
    }
}

async fn receive(db: &Database, qty: i64) {
    let kind = EdgeEventKind::StockReceived { sku: sku(), qty: Qty::parse(qty).expect("qty"), location: LocationCode::parse("A-01").expect("loc") };
    let event = EdgeEvent { seq: 1, at_ms: 0, kind };
    db.write(move |tx| -> Result<_, SyncError> { events::apply_events(tx, &warehouse(), std::slice::from_ref(&event), None, 0) }).await.expect("receipt");
}

/// The sale "peg-flash": `quota` pairs of the Pegasus at SH-01 for ¥499.00, one per customer,
/// for the next hour.
async fn publish(db: &Database, quota: i64, now: i64) -> FlashSale {
    let new = NewFlashSale { sku: sku(), warehouse: warehouse(), price: 49_900, quota, per_user: 1, starts_ms: now - 1_000, ends_ms: now + 3_600_000 };
    db.write(move |tx| flash::publish(tx, "peg-flash", &new, now)).await.expect("publish")
}

/// (on hand, locked, sellable) of the Pegasus at SH-01, and the sale.
async fn state(db: &Database) -> ((i64, i64, i64), FlashSale) {
    db.read(|tx| -> Result<_, DbError> {
        let row = inventory::store::rows_for_sku(tx, &sku())?.remove(0);
        let sale = tote_central::marketing::store::flash(tx, "peg-flash")?.expect("sale");
        Ok(((row.level.on_hand, row.level.locked, row.sellable), sale))
    })
    .await
    .expect("read")
}

async fn fifty_pairs_sell_to_fifty_customers(backend: Backend) {
    let place = Place::new(backend);
    let db = seeded(&place).await;
    receive(&db, 200).await;
    let now = now_ms();
    let sale = publish(&db, 50, now).await;
    assert_eq!((sale.quota, sale.sold), (50, 0));
    assert_eq!(state(&db).await.0, (200, 50, 150), "the quota is carved out of sellable");
    // The shop front's pricing says what the order will: the flash price, the SKU alone.
    let quote = db.read(move |tx| tote_central::marketing::price_cart(tx, &[(sku(), Qty::parse(1).expect("qty"))], None, &[], 0, now)).await.expect("quote");
    assert_eq!((quote.priced.payable, quote.priced.lines[0].item_promotion.as_deref()), (49_900, Some("peg-flash")));
    let two = [(sku(), Qty::parse(1).expect("qty")), (tote_shared::Sku::parse("OTHER-1").expect("sku"), Qty::parse(1).expect("qty"))];
    let mixed = db.read(move |tx| tote_central::marketing::price_cart(tx, &two, None, &[], 0, now)).await;
    assert!(matches!(mixed, Err(MarketingError::Cart(why)) if why.contains("order it alone")));

    let intake = Arc::new(Intake::start(db.clone(), 2, Arc::new(|| {})));
    let mut tasks = Vec::new();
    for n in 0..CUSTOMERS * TRIES {
        // A customer's tries arrive together, two through each path.
        let (customer, attempt) = (n / TRIES, n % TRIES);
        let request = order(customer, attempt, now);
        if n % 2 == 0 {
            let intake = intake.clone();
            let key = RequestKey { key: format!("flash-{n}"), fingerprint: fingerprint("POST", "/api/v1/orders", "admin", n.to_string().as_bytes()) };
            tasks.push(tokio::spawn(async move {
                match intake.submit("admin".into(), key, request).await {
                    Reply::Answer { stored, replayed: false } => Ok(serde_json::from_str::<OrderRecord>(&stored.1).expect("order")),
                    Reply::Refused(refusal) => Err(refusal),
                    other => panic!("unexpected {other:?}"),
                }
            }));
        } else {
            let db = db.clone();
            tasks.push(tokio::spawn(async move { db.write(move |tx| flow::create(tx, &request)).await }));
        }
    }
    let mut sold: Vec<OrderRecord> = Vec::new();
    for task in tasks {
        match task.await.expect("join") {
            Ok(order) => sold.push(order),
            Err(OrdersError::Checkout(MarketingError::SoldOut(why))) => assert!(why.contains("sold out") || why.contains("per customer"), "{why}"),
            Err(other) => panic!("only the sale may refuse: {other}"),
        }
    }
    assert_eq!(sold.len(), 50, "exactly the quota");
    let customers: HashSet<_> = sold.iter().map(|o| o.customer.clone()).collect();
    assert_eq!(customers.len(), 50, "nobody twice");
    for o in &sold {
        assert_eq!((o.total.minor(), o.lines[0].discount.minor(), o.warehouse.as_ref()), (49_900, 40_000, Some(&warehouse())), "{o:?}");
    }
    let (level, sale) = state(&db).await;
    assert_eq!((level, sale.sold), ((200, 50, 150), 50), "the hold became the orders' locks; regular stock untouched");

    // Ten close unpaid: their units go back to the hold, and their customers may buy again.
    let unpaid: Vec<&OrderRecord> = sold.iter().take(10).collect();
    for o in &unpaid {
        let id = o.id;
        db.write(move |tx| flow::cancel(tx, id, now + 1)).await.expect("cancel");
    }
    let (level, sale) = state(&db).await;
    assert_eq!((level, sale.sold), ((200, 50, 150), 40), "released to the hold, not to sellable");
    let back = unpaid[0].customer.clone().expect("customer");
    let number: usize = back.trim_start_matches("runner-").parse().expect("n");
    let again = db.write(move |tx| flow::create(tx, &order(number, 9, now + 2))).await.expect("a customer whose order was cancelled buys again");
    assert_eq!(again.total.minor(), 49_900);
    // Paid orders keep their units through the end of the sale; the rest of the hold goes back.
    let paid = sold[20].id;
    db.write(move |tx| flow::pay(tx, paid, now + 3)).await.expect("pay");
    db.write(move |tx| flash::end(tx, "peg-flash", true, now + 4)).await.expect("end");
    let (level, sale) = state(&db).await;
    assert_eq!((sale.state.as_str(), sale.sold), ("ended", 41));
    assert_eq!(level, (200, 40, 159), "40 unpaid orders hold their units, the paid one is committed, the rest of the hold is sellable again");
}

/// A count finds fewer pairs than the hold and the orders claim: cancelling an unpaid flash
/// order still goes through, and the units that are not there shrink the quota instead of
/// going back to the hold. Held units always equal the quota left plus the unpaid orders'.
async fn a_short_count_shrinks_the_quota_when_an_order_lets_go(backend: Backend) {
    let place = Place::new(backend);
    let db = seeded(&place).await;
    receive(&db, 20).await;
    let now = now_ms();
    publish(&db, 10, now).await;
    let mut ids = Vec::new();
    for customer in 0..3 {
        let request = order(customer, 0, now);
        ids.push(db.write(move |tx| flow::create(tx, &request)).await.expect("flash order").id);
    }
    let kind = EdgeEventKind::StockAdjusted { sku: sku(), delta: -15, reason: tote_shared::sync::AdjustReason::Count, location: LocationCode::parse("A-01").expect("loc") };
    let event = EdgeEvent { seq: 2, at_ms: now, kind };
    db.write(move |tx| -> Result<_, SyncError> { events::apply_events(tx, &warehouse(), std::slice::from_ref(&event), None, now) }).await.expect("count");
    let ((on_hand, locked, sellable), _) = state(&db).await;
    assert_eq!((on_hand, locked, sellable), (5, 10, -5), "the hold (7) and the orders (3) claim more than is there");
    let first = ids[0];
    db.write(move |tx| flow::cancel(tx, first, now + 1)).await.expect("an unpaid flash order can always be cancelled");
    let ((on_hand, locked, _), sale) = state(&db).await;
    assert_eq!((sale.quota, sale.sold), (9, 2), "the pair that is not there comes off the quota");
    assert_eq!((on_hand, locked), (5, (sale.quota - sale.sold) + 2), "held = the quota left + the two unpaid orders");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_count_shrinks_the_quota_when_an_order_lets_go_on_sqlite() {
    a_short_count_shrinks_the_quota_when_an_order_lets_go(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_count_shrinks_the_quota_when_an_order_lets_go_on_postgres() {
    a_short_count_shrinks_the_quota_when_an_order_lets_go(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_pairs_sell_to_fifty_customers_on_sqlite() {
    fifty_pairs_sell_to_fifty_customers(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_pairs_sell_to_fifty_customers_on_postgres() {
    fifty_pairs_sell_to_fifty_customers(Backend::Postgres).await;
}
