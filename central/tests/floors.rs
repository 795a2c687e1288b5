//! Margin floors at publish and at checkout, on both backends. The Pegasus (list ¥899, cost
//! ¥410) with a 20 % margin floor: 40 % off is published; a ¥100 coupon that would stack on it
//! below the floor is refused, naming the SKU, its floor and its worst price. HQ then raises
//! the floor above the live 40 % off: checkout does not sell below it, and the order takes the
//! price the cart was quoted.

mod common;

use common::{seeded, sku, warehouse, Backend, Place};
use tote_central::edge_sync::{events, SyncError};
use tote_central::marketing::coupons::CouponTerms;
use tote_central::marketing::floors::FloorPolicy;
use tote_central::marketing::pricing::{Benefit, Layer, Promotion};
use tote_central::marketing::{self, MarketingError};
use tote_central::orders::{flow, CheckoutTerms, CreateOrder, OrdersError};
use tote_shared::geo::city_point;
use tote_shared::sync::{EdgeEvent, EdgeEventKind, OrderLine, ShipTo};
use tote_shared::{LocationCode, Qty};

const T0: i64 = 1_800_000_000_000;

fn percent_off(id: &str, bp: u32) -> Promotion {
    Promotion { id: id.into(), layer: Layer::Item, class: "item".into(), shop: None, skus: vec![sku()], benefit: Benefit::PercentOff { bp }, tier: None, segment: None }
}

async fn floors(db: &tote_central::db::Database, min_margin_bp: u32, at: i64) {
    db.write(move |tx| {
        let mut policy = marketing::store::policy(tx)?;
        policy.floors = FloorPolicy { min_margin_bp, min_list_share_bp: 0 };
        marketing::set_policy(tx, &policy, at)
    })
    .await
    .expect("the floor");
}

async fn a_stack_below_its_floor_is_refused_at_publish_and_at_checkout(backend: Backend) {
    let place = Place::new(backend);
    let db = seeded(&place).await;
    let receipt = vec![EdgeEvent { seq: 1, at_ms: 0, kind: EdgeEventKind::StockReceived { sku: sku(), qty: Qty::parse(10).expect("qty"), location: LocationCode::parse("A-01").expect("loc") } }];
    db.write(move |tx| -> Result<_, SyncError> { events::apply_events(tx, &warehouse(), &receipt, None, 0) }).await.expect("stock");

    // Cost ¥410 + 20 %: ¥492. 40 % off (¥539.40) keeps it; a ¥100 coupon on top (¥439.40) not.
    floors(&db, 2_000, T0 - 10).await;
    db.write(|tx| marketing::publish(tx, percent_off("forty", 4_000), None, T0 - 1, T0 + 86_400_000, T0 - 1)).await.expect("within the floor");
    let coupon = Promotion { id: "save-100".into(), layer: Layer::Platform, class: "platform".into(), shop: None, skus: vec![], benefit: Benefit::Coupon { threshold: 0, off: 10_000 }, tier: None, segment: None };
    let terms = CouponTerms { limit_total: 100, limit_per_user: 1 };
    match db.write(move |tx| marketing::publish(tx, coupon.clone(), Some(terms), T0, T0 + 86_400_000, T0)).await {
        Err(MarketingError::BelowFloor(found)) => assert!(found.iter().any(|f| f.sku == sku() && f.floor == 49_200 && f.worst == 43_940), "{found:?}"),
        other => panic!("a stack under the floor must be refused: {other:?}"),
    }

    // HQ raises the floor to cost + 35 % (¥553.50) with the 40 % off live: checkout does not
    // take it below the floor; the quote and the order agree.
    floors(&db, 3_500, T0).await;
    let lines = [(sku(), Qty::parse(2).expect("qty"))];
    let quote = db.write(move |tx| marketing::price_cart(tx, &lines, None, &[], 0, T0 + 1)).await.expect("quote");
    assert!(quote.priced.payable >= 2 * 55_350, "never under the floor: {:?}", quote.priced);
    let order = CreateOrder {
        channel: "app".into(),
        customer: Some("runner-1".into()),
        lines: vec![OrderLine { sku: sku(), qty: Qty::parse(2).expect("qty") }],
        ship_to: ShipTo { name: "A".into(), line1: "1 Bund Road".into(), city: "Shanghai".into(), postcode: String::new(), phone: String::new() },
        destination: city_point("shanghai").expect("city"),
        now_ms: T0 + 2,
        payment_deadline_ms: T0 + 3_600_000,
        checkout: CheckoutTerms { expected_total: Some(quote.priced.payable), ..CheckoutTerms::default() },
    };
    let taken = db.write(move |tx| -> Result<_, OrdersError> { flow::create(tx, &order) }).await.expect("the order at the quoted price");
    let sold = &taken.lines[0];
    assert_eq!(2 * sold.unit_price.minor() - sold.discount.minor(), quote.priced.payable, "the order takes the quoted price: {sold:?}");
}

#[tokio::test]
async fn a_stack_below_its_floor_is_refused_at_publish_and_at_checkout_on_sqlite() {
    a_stack_below_its_floor_is_refused_at_publish_and_at_checkout(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_stack_below_its_floor_is_refused_at_publish_and_at_checkout_on_postgres() {
    a_stack_below_its_floor_is_refused_at_publish_and_at_checkout(Backend::Postgres).await;
}
