//! Inventory health on both backends: the Pegasus at SH-01 stocked 400 days ago, 200 pairs
//! sellable, one a day shipped over the last four weeks (overstocked: 20 pairs beyond 180
//! days), and three lots its edge reports (one past its date, two near it). A scan raises the
//! four alerts with journal events; after a count takes 150 pairs off and the expired lot is
//! pulled, the next scan clears two; a scan with nothing new says nothing; a lot level that
//! is not a day is kept aside and changes nothing.

mod common;

use common::{seeded, sku, warehouse, Backend, Place};
use std::collections::BTreeMap;
use tote_central::analytics::{self, returns::Counts};
use tote_central::db::{Database, DbError};
use tote_central::edge_sync::{commands, events, SyncError};
use tote_central::inventory::health::{self, AlertKind, HealthError, ScanOutcome};
use tote_central::journal::{self, BusinessEvent};
use tote_central::marketing::clearance::{self, NewClearance};
use tote_shared::calendar::utc_day;
use tote_shared::sync::{AdjustReason, EdgeEvent, EdgeEventKind};
use tote_shared::{LocationCode, Qty};

const T0: i64 = 1_800_000_000_000;
const DAY: i64 = 86_400_000;

fn lot(seq: u64, name: &str, expires_in_days: i64, qty: i64) -> EdgeEvent {
    EdgeEvent { seq, at_ms: 0, kind: EdgeEventKind::LotLevel { sku: sku(), lot: name.into(), expiry: utc_day(T0 + expires_in_days * DAY), qty } }
}

async fn push(db: &Database, events: Vec<EdgeEvent>, now: i64) {
    db.write(move |tx| -> Result<_, SyncError> { events::apply_events(tx, &warehouse(), &events, None, now) }).await.expect("pushed");
}

async fn scan(db: &Database, now: i64) -> ScanOutcome {
    db.write(move |tx| -> Result<_, HealthError> { health::scan(tx, now) }).await.expect("scanned")
}

fn seen(outcome: &[health::StockAlert]) -> Vec<(AlertKind, String, i64, i64)> {
    let mut out: Vec<_> = outcome.iter().map(|a| (a.finding.kind, a.finding.lot.clone(), a.finding.units, a.finding.excess)).collect();
    out.sort();
    out
}

async fn stock_health_is_scanned_raised_and_cleared(backend: Backend) {
    let place = Place::new(backend);
    let db = seeded(&place).await;
    let loc = LocationCode::parse("A-01").expect("loc");
    let receipt = EdgeEvent { seq: 1, at_ms: 0, kind: EdgeEventKind::StockReceived { sku: sku(), qty: Qty::parse(200).expect("qty"), location: loc.clone() } };
    push(&db, vec![receipt], T0 - 400 * DAY).await;
    db.write(|tx| -> Result<(), DbError> {
        let mut counts = BTreeMap::new();
        for d in 1..=28 {
            counts.insert((utc_day(T0 - d * DAY), sku(), warehouse().to_string(), String::new()), Counts { shipped: 1, requested: 0, passed: 0, failed: 0 });
        }
        analytics::store::add_returns(tx, &counts)
    })
    .await
    .expect("sales");
    push(&db, vec![lot(2, "L1", -1, 4), lot(3, "L2", 10, 15), lot(4, "L3", 20, 30), lot(5, "L4", 200, 50)], T0).await;

    let first = scan(&db, T0).await;
    // One a day: L2 sells 10 of its 15 before it expires (5 left); by L3's day 20 sell, 10 of
    // them L2's: 10 of L3's 30 sell, 20 are left. L4 is far off.
    assert_eq!(
        seen(&first.raised),
        vec![
            (AlertKind::Overstock, String::new(), 200, 20),
            (AlertKind::NearExpiry, "L2".into(), 15, 5),
            (AlertKind::NearExpiry, "L3".into(), 30, 20),
            (AlertKind::Expired, "L1".into(), 4, 4),
        ]
    );
    assert!(first.cleared.is_empty());
    assert_eq!(first.open, 4);
    // Marketing clears what will not sell in time, though nothing is slow at 10 years' cover.
    let ask = NewClearance { window_days: 28, min_cover_days: 3650, bp: 1_000, segment: None, starts_ms: T0, ends_ms: T0 + 10 * DAY, near_expiry: true };
    let cleared = db.write(move |tx| clearance::publish(tx, "expiring", &ask, T0)).await.expect("clearance");
    assert_eq!(cleared.skus.iter().map(|s| (s.sku.clone(), s.sellable, s.expiring)).collect::<Vec<_>>(), [(sku(), 200, 25)], "5 of L2 and 20 of L3");

    // A count takes 150 off (50 left: 50 days of cover) and the expired lot is pulled.
    let count = EdgeEvent { seq: 6, at_ms: 0, kind: EdgeEventKind::StockAdjusted { sku: sku(), delta: -150, reason: AdjustReason::Count, location: loc } };
    push(&db, vec![count, lot(7, "L1", -1, 0)], T0 + DAY).await;
    let second = scan(&db, T0 + DAY).await;
    assert!(second.raised.is_empty(), "{:?}", second.raised);
    assert_eq!(seen(&second.cleared), vec![(AlertKind::Overstock, String::new(), 200, 20), (AlertKind::Expired, "L1".into(), 4, 4)]);
    assert_eq!(second.open, 2);
    let third = scan(&db, T0 + DAY).await;
    assert!(third.raised.is_empty() && third.cleared.is_empty(), "nothing new: {third:?}");
    let open = db.read(|tx| tote_central::inventory::store::alerts(tx, Some(true), None, None, 100)).await.expect("alerts");
    assert_eq!(seen(&open).iter().map(|a| a.1.as_str()).collect::<Vec<_>>(), ["L2", "L3"]);
    // The day passed: one more day of L2 sold, the figures follow.
    assert_eq!(open.iter().find(|a| a.finding.lot == "L2").map(|a| a.finding.days_left), Some(Some(9)));

    // Not a day: kept aside, the lot untouched.
    push(&db, vec![EdgeEvent { seq: 8, at_ms: 0, kind: EdgeEventKind::LotLevel { sku: sku(), lot: "L2".into(), expiry: "2027-13-01".into(), qty: 1 } }], T0 + DAY).await;
    let rejects = db.read(|tx| commands::rejects(tx, Some(&warehouse()), 10)).await.expect("rejects");
    assert_eq!(rejects.len(), 1, "{rejects:?}");
    let lots = db.read(|tx| tote_central::inventory::store::lots(tx, None)).await.expect("lots");
    let l2: Vec<_> = lots.values().flatten().filter(|l| l.lot == "L2").map(|l| l.qty).collect();
    assert_eq!(l2, [15]);

    journal::consumer::sequence_once(&db, 10_000).await.expect("sequenced");
    let entries = db.read(|tx| journal::store::read_after(tx, 0, 10_000)).await.expect("journal");
    let alerts: Vec<(&str, &str)> = entries
        .iter()
        .filter_map(|e| match &e.event {
            BusinessEvent::StockAlertRaised { alert, lot, .. } => Some(("raised", if lot.is_empty() { alert.as_str() } else { lot.as_str() })),
            BusinessEvent::StockAlertCleared { alert, lot, .. } => Some(("cleared", if lot.is_empty() { alert.as_str() } else { lot.as_str() })),
            _ => None,
        })
        .collect();
    assert_eq!(alerts.len(), 6, "{alerts:?}");
    assert_eq!(alerts.iter().filter(|a| a.0 == "cleared").map(|a| a.1).collect::<Vec<_>>(), ["overstock", "L1"]);
    assert!(entries.iter().all(|e| !matches!(&e.event, BusinessEvent::StockAlertRaised { .. }) || e.subject == format!("sku:{}", sku())));
}

#[tokio::test]
async fn stock_health_is_scanned_raised_and_cleared_on_sqlite() {
    stock_health_is_scanned_raised_and_cleared(Backend::Sqlite).await;
}

#[tokio::test]
async fn stock_health_is_scanned_raised_and_cleared_on_postgres() {
    stock_health_is_scanned_raised_and_cleared(Backend::Postgres).await;
}
