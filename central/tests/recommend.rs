//! "Customers who bought this also bought", from the journal: three customers' shipped orders
//! pair the Pegasus with socks (two customers) and with the Vomero (one); a fourth, who has
//! the Pegasus in EU 42, is recommended the socks first, then the Vomero in EU 42 — and a
//! customer who already has the socks is not offered them.

mod common;

use common::{seeded, sku, warehouse, Backend, Place};
use tote_central::catalog::{self, SkuRecord, Spu};
use tote_central::db::DbError;
use tote_central::journal::consumer::Consumer;
use tote_central::journal::{BusinessEvent, EventLine, JournalEntry};
use tote_central::marketing::audience::{recommend, MarketingConsumer};
use tote_shared::{Gtin, Qty, Sku};

fn line(sku: &str) -> EventLine {
    EventLine { sku: Sku::parse(sku).expect("sku"), qty: Qty::parse(1).expect("qty"), unit_price: 10_000, discount: 0 }
}

/// An order of `customer` for `skus`, created, paid and shipped.
fn shipped(seq: &mut u64, order_id: u64, customer: &str, skus: &[&str]) -> Vec<JournalEntry> {
    let lines: Vec<EventLine> = skus.iter().map(|s| line(s)).collect();
    let events = [
        BusinessEvent::OrderCreated { order_id, channel: "app".into(), warehouse: warehouse(), lines: lines.clone(), total: 0, customer: Some(customer.into()) },
        BusinessEvent::OrderPaid { order_id, warehouse: Some(warehouse()), lines: lines.clone(), total: 0, collected_by: None },
        BusinessEvent::OrderShipped { order_id, warehouse: Some(warehouse()), carrier: "SF".into(), tracking_number: format!("SF{order_id}"), lines },
    ];
    events
        .into_iter()
        .map(|event| {
            *seq += 1;
            JournalEntry { seq: *seq, at_ms: 1_000, subject: format!("order:{order_id}"), event }
        })
        .collect()
}

async fn customers_who_bought_this_also_bought(backend: Backend) {
    let place = Place::new(backend);
    let db = seeded(&place).await;
    db.write(|tx| -> Result<(), DbError> {
        let base = catalog::store::get_sku(tx, &sku()).map_err(|e| DbError::corrupt(e.to_string()))?;
        let models = [("SOCK", &["SOCK-M", "SOCK-L"][..], &["M", "L"][..]), ("VOMERO", &["VOM-42", "VOM-43"][..], &["EU 42", "EU 43"][..])];
        let mut body = 100;
        for (spu, skus, sizes) in models {
            let model = Spu { id: spu.into(), name: spu.into(), brand: "Nike".into(), category: "Running".into(), lot_tracked: false };
            catalog::store::create_spu(tx, &model, 0).map_err(|e| DbError::corrupt(e.to_string()))?;
            for (code, size) in skus.iter().zip(sizes) {
                body += 1;
                let record = SkuRecord { sku: Sku::parse(code).expect("sku"), spu_id: spu.into(), gtin: Gtin::from_body13(body), size: (*size).into(), ..base.clone() };
                catalog::store::create_sku(tx, &record, &[warehouse()], 0).map_err(|e| DbError::corrupt(e.to_string()))?;
            }
        }
        // The Pegasus in EU 43 too.
        let record = SkuRecord { sku: Sku::parse("PEG39-M-WHT-43").expect("sku"), gtin: Gtin::from_body13(99), size: "EU 43".into(), ..base };
        catalog::store::create_sku(tx, &record, &[warehouse()], 0).map_err(|e| DbError::corrupt(e.to_string()))?;
        Ok(())
    })
    .await
    .expect("catalog");
    let mut seq = 0;
    let mut journal = Vec::new();
    journal.extend(shipped(&mut seq, 1, "c1", &["PEG39-M-WHT-42", "SOCK-L"]));
    journal.extend(shipped(&mut seq, 2, "c2", &["PEG39-M-WHT-43"]));
    journal.extend(shipped(&mut seq, 3, "c2", &["SOCK-M"]));
    journal.extend(shipped(&mut seq, 4, "c3", &["PEG39-M-WHT-42", "VOM-43"]));
    journal.extend(shipped(&mut seq, 5, "c3", &["PEG39-M-WHT-42"]));
    journal.extend(shipped(&mut seq, 6, "c4", &["PEG39-M-WHT-42"]));
    db.write(move |tx| MarketingConsumer.apply(tx, &journal)).await.expect("consume");

    let for_c4 = db.read(|tx| recommend(tx, &sku(), Some("c4"), 5)).await.expect("recommend");
    let got: Vec<(&str, i64, Option<&str>)> = for_c4.iter().map(|r| (r.spu.as_str(), r.customers, r.sku.as_ref().map(|s| s.as_str()))).collect();
    assert_eq!(got, [("SOCK", 2, None), ("VOMERO", 1, Some("VOM-42"))], "two bought socks with it, one a Vomero — in c4's EU 42, which socks have not");
    let for_c1 = db.read(|tx| recommend(tx, &sku(), Some("c1"), 5)).await.expect("recommend");
    assert_eq!(for_c1.iter().map(|r| r.spu.as_str()).collect::<Vec<_>>(), ["VOMERO"], "c1 has the socks already");
    let anonymous = db.read(|tx| recommend(tx, &sku(), None, 1)).await.expect("recommend");
    assert_eq!((anonymous.len(), anonymous[0].sku.is_none()), (1, true), "the limit holds; no size without a customer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_who_bought_this_also_bought_on_sqlite() {
    customers_who_bought_this_also_bought(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_who_bought_this_also_bought_on_postgres() {
    customers_who_bought_this_also_bought(Backend::Postgres).await;
}
