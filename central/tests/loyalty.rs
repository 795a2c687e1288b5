//! Membership and points through real orders, on both backends: a runner's paid orders lift
//! them to silver at once (a member price opens to them, not to others); their delivered order
//! earns points, locked until it completes; an order pays part of its price with them (refused
//! while locked, and beyond the policy's share); cancelling it gives them back; a refund claws
//! back the order's share, as a debt where they were spent; the next earnings pay the debt;
//! points expire at their date; the tier falls back at its period's end. Every ledger
//! reconciles with its lots, and finance's points liability is what customers hold less what
//! they owe.

mod common;

use common::{seeded, sku, warehouse, Backend, Place};
use std::sync::Arc;
use tote_central::db::{Database, DbError};
use tote_central::edge_sync::{events, SyncError};
use tote_central::finance::books;
use tote_central::journal::consumer::{run_once, sequence_once, Consumer};
use tote_central::journal::{self, BusinessEvent, JournalEntry};
use tote_central::marketing::audience::{self, MarketingConsumer};
use tote_central::marketing::campaigns::SegmentRule;
use tote_central::marketing::members::{DAY_MS, YEAR_MS};
use tote_central::marketing::pricing::{Benefit, Layer, Promotion};
use tote_central::marketing::{self, loyalty, MarketingError};
use tote_central::orders::{flow, CheckoutTerms, CreateOrder, OrderRecord, OrdersError};
use tote_shared::geo::city_point;
use tote_shared::sync::{EdgeEvent, EdgeEventKind, OrderLine, ShipTo};
use tote_shared::{LocationCode, Qty};

const T0: i64 = 1_800_000_000_000;

fn order(customer: &str, qty: i64, points: i64, now: i64) -> CreateOrder {
    CreateOrder {
        channel: "app".into(),
        customer: Some(customer.into()),
        lines: vec![OrderLine { sku: sku(), qty: Qty::parse(qty).expect("qty") }],
        ship_to: ShipTo { name: "A".into(), line1: format!("{now} Bund Road"), city: "Shanghai".into(), postcode: String::new(), phone: String::new() },
        destination: city_point("shanghai").expect("city"),
        now_ms: now,
        payment_deadline_ms: now + 3_600_000,
        checkout: CheckoutTerms { points, ..CheckoutTerms::default() },
    }
}

async fn create(db: &Database, o: CreateOrder) -> Result<OrderRecord, OrdersError> {
    db.write(move |tx| flow::create(tx, &o)).await
}

async fn pay(db: &Database, id: u64, now: i64) {
    db.write(move |tx| flow::pay(tx, id, now)).await.expect("paid");
}

/// Journals what the carrier and after-sales would: the order delivered, completed, refunded.
async fn happened(db: &Database, event: BusinessEvent, at: i64) {
    db.write(move |tx| journal::store::append(tx, &event, at)).await.expect("journalled");
}

/// The marketing consumer catches up with the journal.
async fn consume(db: &Database, now: i64) {
    let consumer: Arc<dyn Consumer> = Arc::new(MarketingConsumer);
    loop {
        sequence_once(db, 10_000).await.expect("sequenced");
        if run_once(db, consumer.clone(), now).await.expect("consumed") == 0 {
            return;
        }
    }
}

async fn standing(db: &Database, customer: &str, now: i64) -> loyalty::Standing {
    let customer = customer.to_owned();
    db.read(move |tx| loyalty::standing(tx, &customer, now)).await.expect("standing")
}

async fn quote(db: &Database, customer: &str, points: i64, now: i64) -> Result<i64, MarketingError> {
    let customer = customer.to_owned();
    db.read(move |tx| marketing::price_cart(tx, &[(sku(), Qty::parse(1).expect("qty"))], Some(&customer), &[], points, now)).await.map(|q| q.priced.payable)
}

fn kinds(entries: &[JournalEntry], customer: &str) -> Vec<String> {
    let subject = format!("customer:{customer}");
    entries.iter().filter(|e| e.subject == subject).map(|e| e.event.kind().to_owned()).collect()
}

async fn journal(db: &Database) -> Vec<JournalEntry> {
    db.read(|tx| journal::store::read_after(tx, 0, 100_000)).await.expect("journal")
}

/// Finance's points liability from the journal, and what customers hold less what they owe.
async fn liability(db: &Database) -> (i64, i64) {
    let entries = journal(db).await;
    let mut state = books::State::default();
    let booked: i64 = entries.iter().flat_map(|e| books::post(&mut state, e)).flat_map(|e| e.lines).filter(|l| l.account == books::account::POINTS).map(|l| l.amount).sum();
    let (held, owed) = db.read(|tx| marketing::store::points_outstanding(tx)).await.expect("outstanding");
    (-booked, held - owed)
}

async fn setup(db: &Database) {
    let receipt = vec![EdgeEvent { seq: 1, at_ms: 0, kind: EdgeEventKind::StockReceived { sku: sku(), qty: Qty::parse(100).expect("qty"), location: LocationCode::parse("A-01").expect("loc") } }];
    db.write(move |tx| -> Result<_, SyncError> { events::apply_events(tx, &warehouse(), &receipt, None, 0) }).await.expect("receipt");
    // The Pegasus at ¥799 for silver members and above (its cost is ¥410: above the floor).
    let member_price = Promotion { id: "peg-silver".into(), layer: Layer::Item, class: "member".into(), shop: None, skus: vec![sku()], benefit: Benefit::UnitPrice { price: 79_900 }, tier: Some("silver".into()), segment: None };
    db.write(move |tx| marketing::publish(tx, member_price.clone(), None, T0 - 1, T0 + 10 * YEAR_MS, T0)).await.expect("member price");
}

async fn points_and_tiers_follow_the_orders(backend: Backend) {
    let place = Place::new(backend);
    let db = seeded(&place).await;
    setup(&db).await;
    let mut now = T0;

    // Three pairs at list price: ¥2,697 paid lifts Li to silver at once.
    assert_eq!(quote(&db, "li", 0, now).await.expect("priced"), 89_900, "not a member price yet");
    let first = create(&db, order("li", 3, 0, now)).await.expect("order");
    assert_eq!(first.total.minor(), 269_700);
    pay(&db, first.id, now).await;
    consume(&db, now).await;
    let li = standing(&db, "li", now).await;
    assert_eq!((li.tier.as_str(), li.spend_12m, li.review_ms), ("silver", 269_700, Some(now + YEAR_MS)));
    assert_eq!(quote(&db, "li", 0, now).await.expect("priced"), 79_900, "silver: the member price");
    assert_eq!(quote(&db, "wang", 0, now).await.expect("priced"), 89_900, "a member price is for members of the tier");
    let rule = SegmentRule { min_tier: Some("silver".into()), ..SegmentRule::default() };
    let segment = db.write(move |tx| audience::define_segment(tx, "silver-up", &rule, now)).await.expect("segment");
    assert_eq!(segment.members, 1, "Li, silver and above");

    // Delivered: silver earns 1.2 points a yuan, locked until the order completes.
    now += DAY_MS;
    happened(&db, BusinessEvent::OrderDelivered { order_id: first.id, warehouse: Some(warehouse()) }, now).await;
    consume(&db, now).await;
    let li = standing(&db, "li", now).await;
    assert_eq!((li.points, li.available, li.lots[0].unlocked_ms), (3_236, 0, None), "3,236 points, locked");
    let locked = create(&db, order("li", 1, 100, now)).await;
    assert!(matches!(locked, Err(OrdersError::Checkout(MarketingError::PointsShort(_)))), "locked points cannot be spent: {locked:?}");

    now += 7 * DAY_MS;
    happened(&db, BusinessEvent::OrderCompleted { order_id: first.id }, now).await;
    consume(&db, now).await;
    assert_eq!(standing(&db, "li", now).await.available, 3_236, "unlocked when the order completed");
    assert!(matches!(quote(&db, "li", 3_236, now).await, Ok(76_664)), "points after the member price");
    assert!(quote(&db, "li", 50_000, now).await.is_err(), "more than Li has");

    // An order paid partly with 3,000 points (¥30), then cancelled: they come back.
    let second = create(&db, order("li", 1, 3_000, now)).await.expect("order with points");
    assert_eq!((second.total.minor(), second.lines[0].discounts.iter().find(|d| d.promotion == "points").map(|d| d.amount)), (76_900, Some(3_000)));
    assert_eq!(standing(&db, "li", now).await.available, 236);
    db.write(move |tx| flow::cancel(tx, second.id, now)).await.expect("cancelled");
    assert_eq!(standing(&db, "li", now).await.available, 3_236, "a cancelled order gives its points back");

    // Spent again, and paid; then one of the first order's three pairs is refunded: a third of
    // its points are clawed back — 236 held, the 842 already spent owed.
    let third = create(&db, order("li", 1, 3_000, now)).await.expect("order with points");
    pay(&db, third.id, now).await;
    now += DAY_MS;
    let refund = BusinessEvent::RefundSucceeded { refund_id: 1, payment_id: 1, order_id: first.id, channel: "alipay".into(), amount: 89_900 };
    happened(&db, refund, now).await;
    consume(&db, now).await;
    let li = standing(&db, "li", now).await;
    assert_eq!((li.points, li.debt), (0, 842), "3236 × ⅓ = 1,078 clawed back: 236 held, 842 owed");
    assert_eq!(li.tier, "silver", "spend fell to ¥2,567 (two pairs less the refund, the third order): silver still");
    assert_eq!(liability(&db).await, (-842, -842), "finance: the points liability is what customers hold less what they owe");
    db.read(|tx| marketing::store::points(tx, "li")).await.expect("ledger").check().expect("Li's ledger reconciles with its lots");

    // The third order delivered: its 922 points (¥769 at silver) pay the debt first.
    now += DAY_MS;
    happened(&db, BusinessEvent::OrderDelivered { order_id: third.id, warehouse: Some(warehouse()) }, now).await;
    happened(&db, BusinessEvent::OrderCompleted { order_id: third.id }, now + 7 * DAY_MS).await;
    now += 7 * DAY_MS;
    consume(&db, now).await;
    let li = standing(&db, "li", now).await;
    assert_eq!((li.points, li.debt, li.available), (80, 0, 80), "922 earned: 842 paid the debt");

    // Money paid twice for the third order goes back: it was never the order's, so it moves
    // neither the spend nor the points.
    let spend_before = li.spend_12m;
    let reason = journal::LATE_PAYMENT_REFUND.to_owned();
    happened(&db, BusinessEvent::RefundRequested { refund_id: 2, payment_id: 9, order_id: third.id, channel: "alipay".into(), amount: 76_900, reason }, now).await;
    happened(&db, BusinessEvent::RefundSucceeded { refund_id: 2, payment_id: 9, order_id: third.id, channel: "alipay".into(), amount: 76_900 }, now).await;
    consume(&db, now).await;
    let li = standing(&db, "li", now).await;
    assert_eq!((li.points, li.spend_12m), (80, spend_before), "a late payment's refund counts nowhere");

    // While customers hold points their value cannot change, nor can a tier they hold go.
    let mut policy = db.read(|tx| marketing::store::policy(tx)).await.expect("policy");
    policy.membership.point_value = 2;
    let revalued = policy.clone();
    assert!(matches!(db.write(move |tx| marketing::set_policy(tx, &revalued, now)).await, Err(MarketingError::Invalid(_))));
    policy.membership.point_value = 1;
    policy.membership.tiers.retain(|t| t.name != "silver");
    assert!(matches!(db.write(move |tx| marketing::set_policy(tx, &policy, now)).await, Err(MarketingError::Invalid(_))), "Li is silver");

    // A year on the 80 points expire, and the tier falls back with the period's end: the
    // spend of the 12 months before it has left the window.
    let later = now + 365 * DAY_MS;
    let swept = db.write(move |tx| -> Result<(u32, u32), DbError> { Ok((loyalty::expire_due(tx, later, 100)?, loyalty::review_due(tx, later, 100)?)) }).await.expect("swept");
    assert_eq!(swept, (1, 1));
    let li = standing(&db, "li", later).await;
    assert_eq!((li.points, li.tier.as_str(), li.review_ms), (0, "member", None));
    consume(&db, later).await;
    let members = db.read(|tx| marketing::store::member_count(tx, "silver-up")).await.expect("members");
    assert_eq!(members, 0, "the sweep's downgrade took Li out of the segment by tier");

    let entries = journal(&db).await;
    assert_eq!(
        kinds(&entries, "li"),
        [
            "member_tier_changed", // up to silver
            "points_earned",
            "points_redeemed",
            "points_returned",
            "points_redeemed",
            "points_clawed_back",
            "points_earned",
            "points_expired",
            "member_tier_changed", // back to member
        ]
    );
    let ledger = db.read(|tx| marketing::store::points(tx, "li")).await.expect("ledger");
    ledger.check().expect("Li's ledger reconciles with its lots");
    assert_eq!(liability(&db).await, (0, 0), "every point earned was spent, clawed back or expired");
}

#[tokio::test]
async fn points_and_tiers_follow_the_orders_on_sqlite() {
    points_and_tiers_follow_the_orders(Backend::Sqlite).await;
}

#[tokio::test]
async fn points_and_tiers_follow_the_orders_on_postgres() {
    points_and_tiers_follow_the_orders(Backend::Postgres).await;
}

/// A coupon order paid and then wholly refunded (a whole return) gives its code back, as a
/// cancel before payment does; a partial refund does not.
async fn a_wholly_refunded_order_gives_its_coupon_back(backend: Backend) {
    use tote_central::marketing::coupons::CouponTerms;
    let place = Place::new(backend);
    let db = seeded(&place).await;
    setup(&db).await;
    let now = T0;
    let coupon = Promotion { id: "run-50".into(), layer: Layer::Platform, class: "platform".into(), shop: None, skus: vec![], benefit: Benefit::Coupon { threshold: 0, off: 5_000 }, tier: None, segment: None };
    let code = db
        .write(move |tx| -> Result<String, MarketingError> {
            marketing::publish(tx, coupon.clone(), Some(CouponTerms { limit_total: 10, limit_per_user: 1 }), now - 1, now + YEAR_MS, now)?;
            Ok(marketing::issue_codes(tx, "run-50", 1, Some("zhao"), now)?.remove(0))
        })
        .await
        .expect("coupon");
    let mut o = order("zhao", 1, 0, now);
    o.checkout.coupons = vec![code.clone()];
    let id = create(&db, o).await.expect("with the code").id;
    pay(&db, id, now).await;
    let state = |code: String| {
        let db = db.clone();
        async move { db.read(move |tx| marketing::store::codes(tx, std::slice::from_ref(&code))).await.expect("code")[0].state.clone() }
    };
    let refund = |refund_id: u64, amount: i64| BusinessEvent::RefundSucceeded { refund_id, payment_id: 1, order_id: id, channel: "alipay".into(), amount };
    happened(&db, refund(1, 40_000), now + DAY_MS).await;
    consume(&db, now + DAY_MS).await;
    assert_eq!(state(code.clone()).await, "reserved", "a partial refund keeps the code used");
    happened(&db, refund(2, 84_900 - 40_000), now + DAY_MS).await;
    consume(&db, now + DAY_MS).await;
    assert_eq!(state(code).await, "available", "everything paid came back: the code is Zhao's again");
    let record = db.read(|tx| marketing::store::get(tx, "run-50")).await.expect("read").expect("coupon");
    assert_eq!(record.coupon.map(|c| c.redeemed), Some(0), "and its use");
}

#[tokio::test]
async fn a_wholly_refunded_order_gives_its_coupon_back_on_sqlite() {
    a_wholly_refunded_order_gives_its_coupon_back(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_wholly_refunded_order_gives_its_coupon_back_on_postgres() {
    a_wholly_refunded_order_gives_its_coupon_back(Backend::Postgres).await;
}
