//! Idempotency-Keys expire: after pruning, the same key is a new request.

mod common;

use common::{seeded, sku, warehouse};
use tote_central::store::{CreateOrder, CreateOutcome, Repository};
use tote_shared::geo::city_point;
use tote_shared::sync::{EdgeEvent, EdgeEventKind, OrderLine, ShipTo};
use tote_shared::{LocationCode, Qty};

fn order(key: &str, now_ms: i64) -> CreateOrder {
    CreateOrder {
        idempotency_key: key.into(),
        request_hash: "h".into(),
        channel: "app".into(),
        lines: vec![OrderLine { sku: sku(), qty: Qty::parse(1).expect("qty") }],
        ship_to: ShipTo { name: "A".into(), line1: "B".into(), city: "Shanghai".into(), postcode: String::new() },
        destination: city_point("shanghai").expect("city"),
        now_ms,
        payment_deadline_ms: now_ms + 1_000_000,
    }
}

#[tokio::test]
async fn a_pruned_idempotency_key_creates_a_new_order_and_a_fresh_one_still_replays() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = seeded(&dir.path().join("c.sqlite")).await;
    let warehouse = warehouse();
    let kind = EdgeEventKind::StockReceived { sku: sku(), qty: Qty::parse(10).expect("qty"), location: LocationCode::parse("A-01").expect("loc") };
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
