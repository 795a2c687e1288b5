//! Property test: central's real SQLite repository (writer thread, group commit, readers)
//! driven by random sequences of orders, payments, cancels, edge receipts, shipments,
//! cancel confirmations and restarts (the store is dropped and reopened from its file),
//! compared after every step with a simple model of lock → deduct → release → restock.

mod common;

use common::{seeded, settings, sku, warehouse};
use proptest::prelude::*;
use std::path::Path;
use tote_central::store::sqlite::SqliteStore;
use tote_central::store::{CreateOrder, CreateOutcome, Repository};
use tote_shared::geo::city_point;
use tote_shared::order::OrderState;
use tote_shared::sync::{EdgeEvent, EdgeEventKind, OrderLine, ShipTo};
use tote_shared::{LocationCode, Qty};

#[derive(Debug, Clone)]
enum Op {
    Receive(i64),
    Create(i64),
    Pay(usize),
    Cancel(usize),
    Ship(usize),
    ConfirmCancel(usize),
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (1i64..6).prop_map(Op::Receive),
        3 => (1i64..4).prop_map(Op::Create),
        2 => (0usize..10).prop_map(Op::Pay),
        1 => (0usize..10).prop_map(Op::Cancel),
        1 => (0usize..10).prop_map(Op::Ship),
        1 => (0usize..10).prop_map(Op::ConfirmCancel),
        1 => Just(Op::Restart),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Unpaid,
    Paid,
    Stopping,
    Shipped,
    /// Cancelled before payment.
    Dropped,
    /// Cancelled after payment (the edge confirmed).
    Cancelled,
}

#[derive(Default)]
struct Model {
    on_hand: i64,
    orders: Vec<(u64, Phase, i64)>,
}

impl Model {
    fn held(&self, phases: &[Phase]) -> i64 {
        self.orders.iter().filter(|o| phases.contains(&o.1)).map(|o| o.2).sum()
    }
}

struct Driver {
    store: SqliteStore,
    seq: u64,
}

impl Driver {
    async fn push(&mut self, kind: EdgeEventKind) {
        self.seq += 1;
        let event = EdgeEvent { seq: self.seq, at_ms: 0, kind };
        self.store.apply_edge_events(warehouse(), vec![event], 0).await.expect("events apply");
    }

    async fn apply(&mut self, op: &Op, model: &mut Model, path: &Path, n: usize) {
        let order_id = |i: &usize| model.orders.get(*i).map(|o| o.0);
        match op {
            Op::Receive(q) => {
                let location = LocationCode::parse("A-01").expect("loc");
                self.push(EdgeEventKind::StockReceived { sku: sku(), qty: Qty::parse(*q).expect("qty"), location }).await;
                model.on_hand += q;
            }
            Op::Create(q) => {
                let request = CreateOrder {
                    idempotency_key: format!("k{n}"),
                    request_hash: "h".into(),
                    channel: "app".into(),
                    lines: vec![OrderLine { sku: sku(), qty: Qty::parse(*q).expect("qty") }],
                    ship_to: ShipTo { name: "A".into(), line1: "B".into(), city: "Shanghai".into(), postcode: String::new() },
                    destination: city_point("shanghai").expect("city"),
                    now_ms: 0,
                    payment_deadline_ms: 1_000_000,
                };
                let sellable = model.on_hand - model.held(&[Phase::Unpaid, Phase::Paid, Phase::Stopping]);
                match self.store.create_order(request).await {
                    Ok(CreateOutcome::Created(o)) => {
                        assert!(sellable >= *q, "created an order the model says cannot be served");
                        model.orders.push((o.id, Phase::Unpaid, *q));
                    }
                    Ok(CreateOutcome::Replayed(_)) => panic!("fresh key replayed"),
                    Err(e) => assert!(sellable < *q, "refused an order the model can serve: {e}"),
                }
            }
            Op::Pay(i) => {
                if let Some(id) = order_id(i) {
                    let ok = self.store.pay_order(id, 0).await.is_ok();
                    let o = &mut model.orders[*i];
                    // Paying again after payment is answered, not refused; a cancelled unpaid order refuses.
                    let paid_before = matches!(o.1, Phase::Paid | Phase::Stopping | Phase::Shipped | Phase::Cancelled);
                    assert_eq!(ok, o.1 == Phase::Unpaid || paid_before, "pay answered {ok} in {:?}", o.1);
                    if o.1 == Phase::Unpaid {
                        o.1 = Phase::Paid;
                    }
                }
            }
            Op::Cancel(i) => {
                if let Some(id) = order_id(i) {
                    let ok = self.store.cancel_order(id, 0).await.is_ok();
                    let o = &mut model.orders[*i];
                    match o.1 {
                        Phase::Unpaid => o.1 = Phase::Dropped,
                        Phase::Paid => o.1 = Phase::Stopping,
                        Phase::Shipped => assert!(!ok, "cancelled a shipped order"),
                        Phase::Stopping | Phase::Cancelled | Phase::Dropped => assert!(ok, "repeated cancel refused"),
                    }
                }
            }
            Op::Ship(i) => {
                if let Some((id, phase, qty)) = model.orders.get(*i).copied() {
                    if matches!(phase, Phase::Paid | Phase::Stopping) {
                        let lines = vec![tote_shared::sync::ShippedLine { sku: sku(), qty: Qty::parse(qty).expect("qty") }];
                        self.push(EdgeEventKind::OrderShipped { order_id: id, tracking_number: "T".into(), carrier: "SF".into(), lines }).await;
                        model.orders[*i].1 = Phase::Shipped;
                        model.on_hand -= qty;
                    }
                }
            }
            Op::ConfirmCancel(i) => {
                if let Some((id, Phase::Stopping, _)) = model.orders.get(*i).copied() {
                    self.push(EdgeEventKind::CancelConfirmed { order_id: id }).await;
                    model.orders[*i].1 = Phase::Cancelled;
                }
            }
            Op::Restart => {
                let fresh = SqliteStore::open(&settings(path)).expect("reopen");
                self.store = fresh;
            }
        }
    }
}

fn expected_state(phase: Phase) -> OrderState {
    match phase {
        Phase::Unpaid => OrderState::AwaitingPayment,
        Phase::Paid => OrderState::AwaitingShipment,
        Phase::Stopping => OrderState::Cancelling,
        Phase::Shipped => OrderState::Shipped,
        Phase::Cancelled | Phase::Dropped => OrderState::Cancelled,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, rng_seed: proptest::test_runner::RngSeed::Fixed(0x7073), ..ProptestConfig::default() })]

    #[test]
    fn stock_and_orders_in_sqlite_match_the_model_across_restarts(ops in prop::collection::vec(op(), 1..40)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("central.sqlite");
            let mut driver = Driver { store: seeded(&path).await, seq: 0 };
            let mut model = Model::default();
            for (n, op) in ops.iter().enumerate() {
                driver.apply(op, &mut model, &path, n).await;
                let rows = driver.store.stock(sku()).await.expect("stock");
                let level = rows.first().map(|r| r.level).unwrap_or_default();
                assert_eq!(level.on_hand, model.on_hand, "on hand after {op:?}");
                assert_eq!(level.locked, model.held(&[Phase::Unpaid]), "locked after {op:?}");
                assert_eq!(level.committed, model.held(&[Phase::Paid, Phase::Stopping]), "committed after {op:?}");
                assert!(level.sellable() >= 0, "oversold after {op:?}");
                for (id, phase, _) in &model.orders {
                    let order = driver.store.get_order(*id).await.expect("order");
                    assert_eq!(order.state, expected_state(*phase), "order {id} after {op:?}");
                }
            }
        });
    }
}
