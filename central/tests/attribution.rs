//! Orders attributed to a campaign without its coupon, on both backends: Li came through the
//! campaign's link an hour before ordering; Wang was sent the campaign three days before;
//! Zhao's click was ten days old (outside the window); Qian clicked and used the coupon — the
//! coupon decides, and the order counts once. The campaign's figures show three orders, one
//! redemption, and the revenue of the three.

mod common;

use common::{seeded, sku, warehouse, Backend, Place};
use tote_central::db::{Database, DbError};
use tote_central::journal::consumer::Consumer;
use tote_central::journal::{BusinessEvent, EventLine, JournalEntry};
use tote_central::marketing::audience::{self, Campaign, MarketingConsumer};
use tote_central::marketing::campaigns::SegmentRule;
use tote_central::marketing::coupons::CouponTerms;
use tote_central::marketing::pricing::{Benefit, Layer, Promotion};
use tote_central::marketing::{self, MarketingError};
use tote_shared::calendar::utc_day;
use tote_shared::Qty;

const T0: i64 = 1_800_000_000_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

fn lines(discount: i64) -> Vec<EventLine> {
    vec![EventLine { sku: sku(), qty: Qty::parse(1).expect("qty"), unit_price: 89_900, discount }]
}

/// Order `order_id` of `customer`, created at `at`, paid and shipped a day later (`coupon`: a
/// code of the campaign's coupon on it).
fn order(seq: &mut u64, order_id: u64, customer: &str, at: i64, coupon: bool) -> Vec<JournalEntry> {
    let discount = if coupon { 5_000 } else { 0 };
    let mut events = vec![(at, BusinessEvent::OrderCreated { order_id, channel: "app".into(), warehouse: warehouse(), lines: lines(discount), total: 89_900 - discount, customer: Some(customer.into()) })];
    if coupon {
        events.push((at, BusinessEvent::CouponRedeemed { order_id, promotion: "peg-50".into(), discount }));
    }
    events.push((at, BusinessEvent::OrderPaid { order_id, warehouse: Some(warehouse()), lines: lines(discount), total: 89_900 - discount, collected_by: None }));
    events.push((at + DAY, BusinessEvent::OrderShipped { order_id, warehouse: Some(warehouse()), carrier: "SF".into(), tracking_number: format!("SF{order_id}"), lines: lines(discount) }));
    events
        .into_iter()
        .map(|(at_ms, event)| {
            *seq += 1;
            JournalEntry { seq: *seq, at_ms, subject: format!("order:{order_id}"), event }
        })
        .collect()
}

async fn consume(db: &Database, entries: Vec<JournalEntry>) {
    db.write(move |tx| MarketingConsumer.apply(tx, &entries)).await.expect("consumed");
}

async fn orders_are_attributed_by_link_or_last_touch_unless_a_coupon_decides(backend: Backend) {
    let place = Place::new(backend);
    let db = seeded(&place).await;
    let mut seq = 0;
    // Wang bought before: the segment of buyers holds him, and the campaign is sent to him.
    consume(&db, order(&mut seq, 1, "wang", T0 - 30 * DAY, false)).await;
    db.write(|tx| -> Result<(), MarketingError> {
        let coupon = Promotion { id: "peg-50".into(), layer: Layer::Platform, class: "platform".into(), shop: None, skus: vec![], benefit: Benefit::Coupon { threshold: 0, off: 5_000 }, tier: None, segment: None };
        marketing::publish(tx, coupon, Some(CouponTerms { limit_total: 100, limit_per_user: 1 }), T0 - 60 * DAY, T0 + 60 * DAY, T0 - 60 * DAY)?;
        audience::define_segment(tx, "buyers", &SegmentRule { min_orders: Some(1), ..SegmentRule::default() }, T0 - 20 * DAY)?;
        let campaign = Campaign { id: "peg39".into(), name: "Pegasus 39".into(), segment: "buyers".into(), coupon: "peg-50".into() };
        audience::put_campaign(tx, &campaign, T0 - 20 * DAY)?;
        let sent = audience::send(tx, "peg39", false, T0 - 3 * DAY)?;
        assert_eq!(sent.len(), 1, "Wang");
        audience::touch(tx, "peg39", "li", T0 - HOUR)?;
        audience::touch(tx, "peg39", "zhao", T0 - 10 * DAY)?;
        audience::touch(tx, "peg39", "qian", T0 - HOUR)?;
        assert!(matches!(audience::touch(tx, "nope", "li", T0), Err(MarketingError::NotFound(_))));
        Ok(())
    })
    .await
    .expect("campaign");

    let mut entries = order(&mut seq, 2, "li", T0, false);
    entries.extend(order(&mut seq, 3, "wang", T0, false));
    entries.extend(order(&mut seq, 4, "zhao", T0, false));
    entries.extend(order(&mut seq, 5, "qian", T0, true));
    consume(&db, entries).await;

    let (from, to) = (utc_day(T0 - 60 * DAY), utc_day(T0 + DAY));
    let roi = db.read(move |tx| audience::roi(tx, "peg39", &from, &to)).await.expect("roi");
    let total = &roi.total.earned;
    assert_eq!((total.orders, total.redemptions, total.discount), (3, 1, 5_000), "Li by link, Wang by the send, Qian by the coupon: {roi:?}");
    assert_eq!(total.revenue, 2 * 89_900 + 84_900, "Zhao's order is not the campaign's");
    let attributed = db.read(|tx| -> Result<Vec<usize>, DbError> { (2..=5).map(|o| marketing::store::attributions(tx, o).map(|a| a.len())).collect() }).await.expect("attributions");
    assert_eq!(attributed, [1, 1, 0, 1], "Qian's order counts once: the coupon's");
}

#[tokio::test]
async fn orders_are_attributed_by_link_or_last_touch_unless_a_coupon_decides_on_sqlite() {
    orders_are_attributed_by_link_or_last_touch_unless_a_coupon_decides(Backend::Sqlite).await;
}

#[tokio::test]
async fn orders_are_attributed_by_link_or_last_touch_unless_a_coupon_decides_on_postgres() {
    orders_are_attributed_by_link_or_last_touch_unless_a_coupon_decides(Backend::Postgres).await;
}
