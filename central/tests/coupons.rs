//! The coupon race, on both backends: 1,000 checkouts at once — 500 customers, two codes each,
//! over 50 SKUs so that no stock row puts the orders in line — against a coupon limited to 100
//! orders and one per customer. Exactly 100 orders take it, no customer twice, each at the
//! coupon's price; cancelling ten gives ten uses and their codes back, and a released code
//! works again.

mod common;

use common::{seeded, sku, warehouse, Backend, Place};
use std::collections::HashSet;
use tote_central::catalog::{self, SkuRecord};
use tote_central::db::{Database, DbError};
use tote_central::edge_sync::{events, SyncError};
use tote_central::marketing::coupons::CouponTerms;
use tote_central::marketing::pricing::{Benefit, Layer, Promotion};
use tote_central::marketing::{self, MarketingError};
use tote_central::orders::{flow, CheckoutTerms, CreateOrder, OrderRecord, OrdersError};
use tote_shared::geo::city_point;
use tote_shared::runtime::system::now_ms;
use tote_shared::sync::{EdgeEvent, EdgeEventKind, OrderLine, ShipTo};
use tote_shared::{Gtin, LocationCode, Qty, Sku};

const CUSTOMERS: usize = 500;
const SKUS: usize = 50;

fn sku_no(n: usize) -> Sku {
    Sku::parse(&format!("RUN-{n:03}")).expect("sku")
}

fn order(customer: usize, attempt: usize, code: &str, now: i64) -> CreateOrder {
    CreateOrder {
        channel: "app".into(),
        customer: Some(format!("runner-{customer}")),
        lines: vec![OrderLine { sku: sku_no((customer + attempt) % SKUS), qty: Qty::parse(1).expect("qty") }],
        // Another address per attempt: the second is not a duplicate order, only a second use.
        ship_to: ShipTo { name: "A".into(), line1: format!("{attempt} Bund Road"), city: "Shanghai".into(), postcode: String::new(), phone: String::new() },
        destination: city_point("shanghai").expect("city"),
        now_ms: now,
        payment_deadline_ms: now + 3_600_000,
        checkout: CheckoutTerms { coupons: vec![code.to_owned()], expected_total: Some(89_900 - 5_000), ..CheckoutTerms::default() },
    }
}

/// 50 more SKUs like the Pegasus, 40 pairs of each at SH-01.
async fn stock(db: &Database) {
    db.write(|tx| -> Result<(), DbError> {
        let base = catalog::store::get_sku(tx, &sku()).map_err(|e| DbError::corrupt(e.to_string()))?;
        for n in 0..SKUS {
            let record = SkuRecord { sku: sku_no(n), gtin: Gtin::from_body13(n as u64 + 1), ..base.clone() };
            catalog::store::create_sku(tx, &record, &[warehouse()], 0).map_err(|e| DbError::corrupt(e.to_string()))?;
        }
        Ok(())
    })
    .await
    .expect("skus");
    let events: Vec<EdgeEvent> = (0..SKUS)
        .map(|n| EdgeEvent { seq: n as u64 + 1, at_ms: 0, kind: EdgeEventKind::StockReceived { sku: sku_no(n), qty: Qty::parse(40).expect("qty"), location: LocationCode::parse("A-01").expect("loc") } })
        .collect();
    db.write(move |tx| -> Result<_, SyncError> { events::apply_events(tx, &warehouse(), &events, None, 0) }).await.expect("receipt");
}

/// Publishes the coupon and issues `codes` bearer codes.
async fn coupon(db: &Database, codes: u32, now: i64) -> Vec<String> {
    let promotion = Promotion { id: "run-50".into(), layer: Layer::Platform, class: "platform".into(), shop: None, skus: vec![], benefit: Benefit::Coupon { threshold: 0, off: 5_000 }, tier: None, segment: None };
    let terms = CouponTerms { limit_total: 100, limit_per_user: 1 };
    db.write(move |tx| -> Result<Vec<String>, MarketingError> {
        marketing::publish(tx, promotion.clone(), Some(terms), now - 1_000, now + 3_600_000, now)?;
        marketing::issue_codes(tx, "run-50", codes, None, now)
    })
    .await
    .expect("coupon")
}

async fn redeemed(db: &Database) -> (i64, usize) {
    db.read(|tx| -> Result<(i64, usize), DbError> {
        let record = marketing::store::get(tx, "run-50")?.expect("coupon");
        let held = marketing::store::codes_of(tx, "run-50", 1000)?.iter().filter(|c| c.state == "reserved").count();
        Ok((record.coupon.expect("terms").redeemed, held))
    })
    .await
    .expect("read")
}

async fn a_coupon_limited_to_100_is_taken_by_exactly_100_orders(backend: Backend) {
    let place = Place::new(backend);
    let db = seeded(&place).await;
    stock(&db).await;
    let now = now_ms();
    let codes = coupon(&db, 2 * CUSTOMERS as u32, now).await;
    assert_eq!(codes.iter().collect::<HashSet<_>>().len(), 2 * CUSTOMERS, "every code unique");

    let mut tasks = Vec::new();
    for (n, code) in codes.iter().enumerate() {
        let (db, request) = (db.clone(), order(n % CUSTOMERS, n / CUSTOMERS, code, now));
        tasks.push(tokio::spawn(async move { db.write(move |tx| flow::create(tx, &request)).await }));
    }
    let mut created: Vec<OrderRecord> = Vec::new();
    let mut refusals: Vec<String> = Vec::new();
    for task in tasks {
        match task.await.expect("join") {
            Ok(order) => created.push(order),
            Err(OrdersError::Checkout(MarketingError::CouponTaken(why))) => refusals.push(why),
            Err(other) => panic!("only the coupon may refuse: {other}"),
        }
    }
    assert_eq!(created.len(), 100, "exactly the limit");
    assert_eq!(refusals.len(), 2 * CUSTOMERS - 100);
    assert!(refusals.iter().all(|why| why.contains("used up")), "{:?}", &refusals[..3]);
    let customers: HashSet<_> = created.iter().map(|o| o.customer.clone()).collect();
    assert_eq!(customers.len(), 100, "nobody twice");
    for o in &created {
        assert_eq!((o.total.minor(), o.lines[0].discount.minor()), (84_900, 5_000), "at the coupon's price: {o:?}");
        assert_eq!(o.lines[0].discounts[0].promotion, "run-50");
    }
    assert_eq!(redeemed(&db).await, (100, 100), "the counter and the codes agree");

    // Ten cancelled: their uses and codes come back, and a released code takes an order again.
    let cancelled: Vec<u64> = created.iter().take(10).map(|o| o.id).collect();
    for id in cancelled.clone() {
        db.write(move |tx| flow::cancel(tx, id, now + 1)).await.expect("cancel");
    }
    assert_eq!(redeemed(&db).await, (90, 90));
    let again = db
        .read(move |tx| -> Result<_, DbError> {
            let codes = marketing::store::codes_of(tx, "run-50", 1000)?;
            Ok(codes.into_iter().find(|c| c.state == "available" && c.order_id.is_none()).map(|c| c.code))
        })
        .await
        .expect("read")
        .expect("a free code");
    let newcomer = CreateOrder { customer: Some("newcomer".into()), ..order(0, 9, &again, now + 2) };
    let order = db.write(move |tx| flow::create(tx, &newcomer)).await.expect("a released use is there to take");
    assert_eq!(order.total.minor(), 84_900);
    assert_eq!(redeemed(&db).await, (91, 91));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_coupon_limited_to_100_is_taken_by_exactly_100_orders_on_sqlite() {
    a_coupon_limited_to_100_is_taken_by_exactly_100_orders(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_coupon_limited_to_100_is_taken_by_exactly_100_orders_on_postgres() {
    a_coupon_limited_to_100_is_taken_by_exactly_100_orders(Backend::Postgres).await;
}
