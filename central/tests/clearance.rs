//! Clearing slow stock, on both backends: the Pegasus ships briskly (50 days of cover), the
//! trail shoe slowly (120 days), the racer not at all. A clearance of 30 % takes the trail
//! shoe; the racer, whose cost puts its floor above 70 % of list, is left out and named; the
//! shop front then prices the trail shoe at its clearance price.

mod common;

use common::{seeded, sku, warehouse, Backend, Place};
use tote_central::analytics::{self, Measure};
use tote_central::catalog::{self, SkuRecord};
use tote_central::db::DbError;
use tote_central::edge_sync::{events, SyncError};
use tote_central::marketing::clearance::{self, NewClearance};
use tote_central::marketing::{self, MarketingError, MarketingPolicy};
use tote_shared::calendar::utc_day;
use tote_shared::sync::{EdgeEvent, EdgeEventKind};
use tote_shared::{Gtin, LocationCode, Money, Qty, Sku};

const T0: i64 = 1_800_000_000_000;
const DAY: i64 = 86_400_000;

fn code(s: &str) -> Sku {
    Sku::parse(s).expect("sku")
}

async fn slow_stock_is_cleared_above_its_floors(backend: Backend) {
    let place = Place::new(backend);
    let db = seeded(&place).await;
    db.write(|tx| -> Result<(), DbError> {
        let base = catalog::store::get_sku(tx, &sku()).map_err(|e| DbError::corrupt(e.to_string()))?;
        let trail = SkuRecord { sku: code("TRAIL-42"), gtin: Gtin::from_body13(77), ..base.clone() };
        let racer = SkuRecord { sku: code("RACER-42"), gtin: Gtin::from_body13(78), cost: Money::parse(60_000).expect("money"), ..base };
        for record in [trail, racer] {
            catalog::store::create_sku(tx, &record, &[warehouse()], 0).map_err(|e| DbError::corrupt(e.to_string()))?;
        }
        // What shipped over the last 30 days: the Pegasus 60 pairs, the trail shoe 10.
        for (n, (s, qty)) in [(sku(), 60), (code("TRAIL-42"), 10)].into_iter().enumerate() {
            analytics::store::add(tx, &utc_day(T0 - (n as i64 + 1) * DAY), &s, Measure::Shipped, qty, 0)?;
        }
        analytics::store::add(tx, &utc_day(T0 - 40 * DAY), &code("RACER-42"), Measure::Shipped, 50, 0)?;
        let policy = MarketingPolicy { floors: marketing::floors::FloorPolicy { min_margin_bp: 1_000, min_list_share_bp: 0 }, ..MarketingPolicy::default() };
        marketing::store::save_policy(tx, &policy, T0)
    })
    .await
    .expect("catalog");
    let receipt: Vec<EdgeEvent> = [(sku(), 100), (code("TRAIL-42"), 40), (code("RACER-42"), 5)]
        .into_iter()
        .enumerate()
        .map(|(n, (s, qty))| EdgeEvent { seq: n as u64 + 1, at_ms: 0, kind: EdgeEventKind::StockReceived { sku: s, qty: Qty::parse(qty).expect("qty"), location: LocationCode::parse("A-01").expect("loc") } })
        .collect();
    db.write(move |tx| -> Result<_, SyncError> { events::apply_events(tx, &warehouse(), &receipt, None, 0) }).await.expect("receipt");

    let slow = db.read(|tx| clearance::slow_movers(tx, 30, 90, T0)).await.expect("slow movers");
    let found: Vec<(&str, Option<i64>)> = slow.iter().map(|s| (s.sku.as_str(), s.days_of_cover)).collect();
    assert_eq!(found, [("RACER-42", None), ("TRAIL-42", Some(120))], "the racer's sales fell outside the window; the Pegasus has 50 days");

    let ask = NewClearance { window_days: 30, min_cover_days: 90, bp: 3_000, segment: None, starts_ms: T0 - 1, ends_ms: T0 + 30 * DAY, near_expiry: false };
    let done = db.write(move |tx| clearance::publish(tx, "clear-30", &ask, T0)).await.expect("published");
    assert_eq!(done.promotion.promotion.skus, [code("TRAIL-42")]);
    assert_eq!(done.left_out.len(), 1, "{:?}", done.left_out);
    assert_eq!(done.left_out[0].sku, code("RACER-42"));
    assert!(done.left_out[0].why.contains("under its floor of ¥660.00"), "{}", done.left_out[0].why);
    let priced = db.read(|tx| marketing::price_cart(tx, &[(code("TRAIL-42"), Qty::parse(1).expect("qty"))], None, &[], 0, T0)).await.expect("priced");
    assert_eq!(priced.priced.payable, 62_930, "¥899 less 30 %");

    let only_racer = NewClearance { window_days: 30, min_cover_days: 200, bp: 3_000, segment: None, starts_ms: T0, ends_ms: T0 + DAY, near_expiry: false };
    let refused = db.write(move |tx| clearance::publish(tx, "clear-racer", &only_racer, T0)).await;
    assert!(matches!(refused, Err(MarketingError::BelowFloor(_))), "nothing slow keeps its floor: {refused:?}");
}

#[tokio::test]
async fn slow_stock_is_cleared_above_its_floors_on_sqlite() {
    slow_stock_is_cleared_above_its_floors(Backend::Sqlite).await;
}

#[tokio::test]
async fn slow_stock_is_cleared_above_its_floors_on_postgres() {
    slow_stock_is_cleared_above_its_floors(Backend::Postgres).await;
}
