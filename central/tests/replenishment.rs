//! Replenishment on both backends: two years of the Pegasus shipping from SH-01 (a weekly
//! rhythm, about 12 pairs a day), 20 pairs sellable, two suppliers with prices for it — the
//! dearer one faster. The suggestion is the cheaper supplier's, up to the order-up-to level;
//! the buyer's drafts take it; a second look counts the draft as on order and suggests nothing.

mod common;

use common::{seeded, sku, warehouse, Backend, Place};
use std::collections::BTreeMap;
use tote_central::analytics::{self, returns::Counts};
use tote_central::db::DbError;
use tote_central::edge_sync::{events, SyncError};
use tote_central::procurement::{suggestions, PoState, ProcurementError};
use tote_central::supplier::{self, Document, DocumentKind, PriceTerms, SupplierState};
use tote_shared::calendar::utc_day;
use tote_shared::sync::{EdgeEvent, EdgeEventKind};
use tote_shared::{LocationCode, Money, Qty};

const T0: i64 = 1_800_000_000_000;
const DAY: i64 = 86_400_000;

fn terms(cost: i64, lead_time_days: u32) -> PriceTerms {
    PriceTerms { supplier_sku: "DH4071".into(), cost: Money::parse(cost).expect("money"), moq: 6, lead_time_days, breaks: vec![], valid_from_ms: 0, valid_until_ms: None }
}

async fn the_cheaper_supplier_gets_the_order_up_to_level(backend: Backend) {
    let place = Place::new(backend);
    let db = seeded(&place).await;
    db.write(|tx| -> Result<(), DbError> {
        let docs = [Document { kind: DocumentKind::BusinessLicence, reference: "L".into(), expires_ms: None }];
        for (id, cost, lead) in [("NIKE-CN", 40_000, 10), ("FAST-CN", 43_000, 3)] {
            supplier::store::insert(tx, id, id, "buyer desk", &docs, 0)?;
            let mut s = supplier::store::load(tx, id, true)?.expect("supplier");
            s.state = SupplierState::Approved;
            supplier::store::save(tx, &s, 0)?;
            supplier::store::insert_price(tx, id, &sku(), &terms(cost, lead), 0)?;
        }
        // A third supplier, not approved, cheapest of all: never suggested.
        supplier::store::insert(tx, "DRAFT-CN", "DRAFT-CN", "buyer desk", &docs, 0)?;
        supplier::store::insert_price(tx, "DRAFT-CN", &sku(), &terms(1_000, 1), 0)?;
        let week = [10, 9, 10, 11, 13, 17, 18];
        let mut counts = BTreeMap::new();
        for d in 1..=730 {
            let day = utc_day(T0 - d * DAY);
            let shipped = week[(d % 7) as usize] + (d % 3) - 1;
            counts.insert((day, sku(), warehouse().to_string(), String::new()), Counts { shipped, requested: 0, passed: 0, failed: 0 });
        }
        analytics::store::add_returns(tx, &counts)
    })
    .await
    .expect("seed");
    let receipt = vec![EdgeEvent { seq: 1, at_ms: 0, kind: EdgeEventKind::StockReceived { sku: sku(), qty: Qty::parse(20).expect("qty"), location: LocationCode::parse("A-01").expect("loc") } }];
    db.write(move |tx| -> Result<_, SyncError> { events::apply_events(tx, &warehouse(), &receipt, None, 0) }).await.expect("receipt");

    let snapshot = db.read(|tx| suggestions::snapshot(tx, &warehouse(), T0)).await.expect("snapshot");
    let planned = suggestions::plan(&snapshot);
    assert_eq!(planned.len(), 1, "{planned:?}");
    let (s, line) = (&planned[0], &planned[0].lines[0]);
    assert_eq!((s.supplier.as_str(), s.warehouse.as_str(), line.sku.as_str()), ("NIKE-CN", "SH-01", sku().as_str()), "the cheaper approved supplier");
    assert!((11.0..15.0).contains(&line.forecast.daily), "about 12 a day: {:?}", line.forecast);
    assert_eq!((line.sellable, line.in_transit, line.on_order, line.position), (20, 0, 0, 20));
    // Lead time 10 + review 7 days of demand and the safety stock, less the 20 there.
    assert_eq!(line.qty, (line.levels.order_up_to - 20.0).ceil() as u32);
    assert!(line.levels.reorder_point > line.forecast.daily * 17.0 && line.levels.safety_stock > 0.0, "{:?}", line.levels);
    assert_eq!(line.unit_cost, Money::parse(40_000).expect("money"));

    assert_eq!((line.lead.days, line.lead.observed), (10.0, 0), "no deliveries yet: the contract's 10 days");

    // Had NIKE-CN's last three orders taken 18 to 22 days, the levels would count on 20.
    let mut slower = snapshot_clone(&db).await;
    slower.lead_history.insert("NIKE-CN".into(), vec![18.0, 20.0, 22.0]);
    let late = suggestions::plan(&slower);
    let late_line = &late[0].lines[0];
    assert_eq!((late[0].supplier.as_str(), late_line.lead.days, late_line.lead.observed), ("NIKE-CN", 20.0, 3));
    assert!(late_line.qty > line.qty + 90, "ten more days of demand (about 12 a day): {} vs {}", late_line.qty, line.qty);

    let qty = line.qty;
    let drafts = db.write(move |tx| -> Result<_, ProcurementError> { suggestions::drafts(tx, &planned, T0) }).await.expect("drafts");
    assert_eq!((drafts.len(), drafts[0].state, drafts[0].lines[0].qty), (1, PoState::Draft, qty));
    let again = db.read(|tx| suggestions::snapshot(tx, &warehouse(), T0)).await.expect("snapshot");
    assert!(suggestions::plan(&again).is_empty(), "the draft is on order: nothing more to suggest");
}

async fn snapshot_clone(db: &tote_central::db::Database) -> suggestions::Snapshot {
    db.read(|tx| suggestions::snapshot(tx, &warehouse(), T0)).await.expect("snapshot")
}

#[tokio::test]
async fn the_cheaper_supplier_gets_the_order_up_to_level_on_sqlite() {
    the_cheaper_supplier_gets_the_order_up_to_level(Backend::Sqlite).await;
}

#[tokio::test]
async fn the_cheaper_supplier_gets_the_order_up_to_level_on_postgres() {
    the_cheaper_supplier_gets_the_order_up_to_level(Backend::Postgres).await;
}
