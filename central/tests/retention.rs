//! Idempotency-Keys expire: after pruning, the same key is a new request.

use tote_central::store::sqlite::SqliteStore;
use tote_central::store::{CreateOrder, CreateOutcome, NewWarehouse, Repository, SkuRecord, Spu};
use tote_shared::geo::city_point;
use tote_shared::runtime::settings::DatabaseSettings;
use tote_shared::sync::{EdgeEvent, EdgeEventKind, OrderLine, ShipTo};
use tote_shared::{Gtin, LocationCode, Money, Qty, Sku, WarehouseCode};

fn order(key: &str, now_ms: i64) -> CreateOrder {
    CreateOrder {
        idempotency_key: key.into(),
        request_hash: "h".into(),
        channel: "app".into(),
        lines: vec![OrderLine { sku: Sku::parse("PEG39-M-WHT-42").expect("sku"), qty: Qty::parse(1).expect("qty") }],
        ship_to: ShipTo { name: "A".into(), line1: "B".into(), city: "Shanghai".into(), postcode: String::new() },
        destination: city_point("shanghai").expect("city"),
        now_ms,
        payment_deadline_ms: now_ms + 1_000_000,
    }
}

#[tokio::test]
async fn a_pruned_idempotency_key_creates_a_new_order_and_a_fresh_one_still_replays() {
    let dir = tempfile::tempdir().expect("tempdir");
    let settings = DatabaseSettings { path: dir.path().join("c.sqlite"), write_queue: 16, max_batch: 8, max_readers: 2 };
    let store = SqliteStore::open(&settings).expect("open");
    store.create_spu(Spu { id: "PEG39".into(), name: "Pegasus".into(), brand: "Nike".into(), category: "Shoes".into() }).await.expect("spu");
    let sku = SkuRecord {
        sku: Sku::parse("PEG39-M-WHT-42").expect("sku"),
        spu_id: "PEG39".into(),
        gtin: Gtin::parse("1958661377384").expect("gtin"),
        gender: "men".into(),
        colour: "white".into(),
        size: "42".into(),
        price: Money::parse(1).expect("money"),
        cost: Money::parse(1).expect("money"),
        name: String::new(),
    };
    store.create_sku(sku, 0).await.expect("sku");
    let warehouse = WarehouseCode::parse("SH-01").expect("code");
    store.create_warehouse(NewWarehouse { code: warehouse.clone(), name: "SH".into(), point: city_point("shanghai").expect("city"), token_hash: "h".into() }, 0).await.expect("wh");
    let kind = EdgeEventKind::StockReceived { sku: Sku::parse("PEG39-M-WHT-42").expect("sku"), qty: Qty::parse(10).expect("qty"), location: LocationCode::parse("A-01").expect("loc") };
    store.apply_edge_events(warehouse, vec![EdgeEvent { seq: 1, at_ms: 0, kind }], 0).await.expect("stock");

    let old = store.create_order(order("old-key", 1_000)).await.expect("order");
    let fresh = store.create_order(order("fresh-key", 9_000)).await.expect("order");
    assert_eq!(store.prune_idempotency_keys(5_000, 100).await.expect("prune"), 1);
    let (CreateOutcome::Created(old), CreateOutcome::Created(fresh)) = (old, fresh) else { panic!("both were new") };
    match store.create_order(order("old-key", 10_000)).await.expect("order") {
        CreateOutcome::Created(again) => assert_ne!(again.id, old.id),
        CreateOutcome::Replayed(_) => panic!("a pruned key replayed"),
    }
    match store.create_order(order("fresh-key", 10_000)).await.expect("order") {
        CreateOutcome::Replayed(same) => assert_eq!(same.id, fresh.id),
        CreateOutcome::Created(_) => panic!("a kept key created a second order"),
    }
}
