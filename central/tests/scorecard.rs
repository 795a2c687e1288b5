//! A supplier's return rate on both backends: NIKE-CN delivers 30 pairs of the Pegasus and
//! FAST-CN 10 through purchase orders received at SH-01; customers then take 40 and ask 4
//! back. Each supplier's scorecard counts its share of those (30 and 3, 10 and 1), and its
//! lead time is measured from its own delivery.

mod common;

use common::{seeded, sku, warehouse, Backend, Place};
use std::collections::BTreeMap;
use tote_central::analytics::{self, returns::Counts};
use tote_central::db::{Database, DbError};
use tote_central::procurement::flow::{self, Draft, Shipment};
use tote_central::procurement::{scorecard, AsnLine, ProcurementError};
use tote_central::supplier::{self, Document, DocumentKind, PriceTerms, SupplierState};
use tote_shared::calendar::utc_day;
use tote_shared::sync::OrderLine;
use tote_shared::{Money, Qty};

const T0: i64 = 1_800_000_000_000;
const DAY: i64 = 86_400_000;

async fn deliver(db: &Database, supplier: &'static str, qty: u32, sent: i64, arrived: i64) {
    db.write(move |tx| -> Result<(), ProcurementError> {
        let docs = [Document { kind: DocumentKind::BusinessLicence, reference: "L".into(), expires_ms: None }];
        supplier::store::insert(tx, supplier, supplier, "buyer desk", &docs, 0)?;
        let mut s = supplier::store::load(tx, supplier, true)?.expect("supplier");
        s.state = SupplierState::Approved;
        supplier::store::save(tx, &s, 0)?;
        let terms = PriceTerms { supplier_sku: "DH4071".into(), cost: Money::parse(40_000).expect("money"), moq: 1, lead_time_days: 7, breaks: vec![], valid_from_ms: 0, valid_until_ms: None };
        supplier::store::insert_price(tx, supplier, &sku(), &terms, 0)?;
        let lines = vec![OrderLine { sku: sku(), qty: Qty::parse(i64::from(qty)).expect("qty") }];
        let po = flow::create(tx, &Draft { supplier: supplier.into(), warehouse: warehouse(), lines: lines.clone(), note: String::new() }, sent)?;
        flow::approve(tx, po.id, sent)?;
        flow::confirm(tx, supplier, po.id, arrived, &lines, sent)?;
        let line = AsnLine { sku: sku(), qty, lot: String::new(), expiry: None, carton: String::new() };
        let asn = flow::ship(tx, supplier, &Shipment { po: po.id, reference: format!("{supplier}-1"), shipped_ms: sent, eta_ms: arrived, lines: vec![line] }, sent)?;
        flow::delivery_received(tx, &warehouse(), &asn.delivery, &sku(), qty, false, arrived)?;
        Ok(())
    })
    .await
    .expect("delivered");
}

async fn returns_count_for_each_supplier_by_its_share(backend: Backend) {
    let place = Place::new(backend);
    let db = seeded(&place).await;
    deliver(&db, "NIKE-CN", 30, T0, T0 + 9 * DAY).await;
    deliver(&db, "FAST-CN", 10, T0, T0 + 2 * DAY).await;
    let day = utc_day(T0 + 20 * DAY);
    db.write(move |tx| -> Result<(), DbError> {
        let counts = BTreeMap::from([((day.clone(), sku(), warehouse().to_string(), String::new()), Counts { shipped: 40, requested: 4, passed: 0, failed: 0 })]);
        analytics::store::add_returns(tx, &counts)
    })
    .await
    .expect("sales");
    for (supplier, sold, returned) in [("NIKE-CN", 30.0, 3.0), ("FAST-CN", 10.0, 1.0)] {
        let card = db.read(move |tx| scorecard::scorecard(tx, supplier, T0 + 30 * DAY)).await.expect("scorecard");
        let t = &card.total;
        assert_eq!((t.units_sold, t.units_returned, t.return_rate), (sold, returned, Some(0.1)), "{supplier}: {card:?}");
        assert_eq!((t.units_passed, t.deliveries), (sold as u64, 1), "{supplier}");
    }
    let leads = db.read(|tx| tote_central::procurement::store::lead_times(tx, 0)).await.expect("lead times");
    let mut leads: Vec<(String, f64)> = leads;
    leads.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(leads, [("FAST-CN".to_owned(), 2.0), ("NIKE-CN".to_owned(), 9.0)], "sent to first arrival, in days");
}

#[tokio::test]
async fn returns_count_for_each_supplier_by_its_share_on_sqlite() {
    returns_count_for_each_supplier_by_its_share(Backend::Sqlite).await;
}

#[tokio::test]
async fn returns_count_for_each_supplier_by_its_share_on_postgres() {
    returns_count_for_each_supplier_by_its_share(Backend::Postgres).await;
}
