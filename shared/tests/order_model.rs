//! Property test: the pure order state machine and stock rules, driven by random operation
//! sequences (with restarts: the state is serialised and read back), compared after every
//! step with a deliberately simple model of what each order holds.

use proptest::prelude::*;
use tote_shared::order::{transition, OrderEffect, OrderEvent, OrderState};
use tote_shared::stock::StockLevel;

#[derive(Debug, Clone)]
enum Op {
    Receive(i64),
    Create(i64),
    Pay(usize),
    Cancel(usize),
    Timeout(usize),
    Picked(usize),
    Packed(usize),
    Shipped(usize),
    CancelConfirmed(usize),
    /// An exchange's replacement, locked and held.
    CreateHeld(i64),
    ReturnPassed(usize),
    Delivered(usize),
    /// The completion check, with the window passed or not.
    WindowChecked(usize, bool),
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1i64..5).prop_map(Op::Receive),
        (1i64..4).prop_map(Op::Create),
        (0usize..8).prop_map(Op::Pay),
        (0usize..8).prop_map(Op::Cancel),
        (0usize..8).prop_map(Op::Timeout),
        (0usize..8).prop_map(Op::Picked),
        (0usize..8).prop_map(Op::Packed),
        (0usize..8).prop_map(Op::Shipped),
        (0usize..8).prop_map(Op::CancelConfirmed),
        (1i64..3).prop_map(Op::CreateHeld),
        (0usize..8).prop_map(Op::ReturnPassed),
        (0usize..8).prop_map(Op::Delivered),
        ((0usize..8), any::<bool>()).prop_map(|(i, passed)| Op::WindowChecked(i, passed)),
        Just(Op::Restart),
    ]
}

/// The real thing: order states driven by `transition`, effects applied to one stock level.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Real {
    stock: StockLevel,
    orders: Vec<(OrderState, i64)>,
}

impl Real {
    fn step(&mut self, i: usize, event: OrderEvent) -> bool {
        let Some((state, qty)) = self.orders.get(i).copied() else { return false };
        let Ok(t) = transition(state, &event) else { return false };
        let mut next = self.stock;
        for effect in &t.effects {
            let applied = match effect {
                OrderEffect::CommitLock => next.commit_lock(qty),
                OrderEffect::ReleaseLock => next.release_lock(qty),
                OrderEffect::ReleaseCommitment => next.release_commitment(qty),
                OrderEffect::ShipStock => next.ship(qty),
                OrderEffect::CommitDirect => next.commit_direct(qty),
                OrderEffect::SendFulfilToEdge | OrderEffect::SendCancelToEdge | OrderEffect::Reroute => Ok(vec![]),
            };
            if applied.is_err() {
                return false;
            }
        }
        self.stock = next;
        self.orders[i].0 = t.to;
        true
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::Receive(q) => {
                let _ = self.stock.adjust_on_hand(*q);
            }
            Op::Create(q) => {
                if self.stock.lock(*q).is_ok() {
                    self.orders.push((OrderState::AwaitingPayment, *q));
                }
            }
            Op::Pay(i) => _ = self.step(*i, OrderEvent::Paid),
            Op::Cancel(i) => _ = self.step(*i, OrderEvent::CancelRequested),
            Op::Timeout(i) => _ = self.step(*i, OrderEvent::PaymentDeadlineChecked { now_ms: 10, deadline_ms: 5 }),
            Op::Picked(i) => _ = self.step(*i, OrderEvent::EdgePicked),
            Op::Packed(i) => _ = self.step(*i, OrderEvent::EdgePacked),
            Op::Shipped(i) => _ = self.step(*i, OrderEvent::EdgeShipped),
            Op::CancelConfirmed(i) => _ = self.step(*i, OrderEvent::EdgeCancelConfirmed),
            Op::CreateHeld(q) => {
                if self.stock.lock(*q).is_ok() {
                    self.orders.push((OrderState::Held, *q));
                }
            }
            Op::ReturnPassed(i) => _ = self.step(*i, OrderEvent::ReturnPassed),
            Op::Delivered(i) => _ = self.step(*i, OrderEvent::ParcelDelivered),
            Op::WindowChecked(i, passed) => {
                let now_ms = if *passed { 1_000 } else { 999 };
                _ = self.step(*i, OrderEvent::ReturnWindowChecked { now_ms, delivered_ms: 0, window_ms: 1_000 })
            }
            Op::Restart => {
                let saved = serde_json::to_string(self).expect("state serialises");
                *self = serde_json::from_str(&saved).expect("state reads back");
            }
        }
    }
}

/// The model: each order is a phase; stock follows from the phases and what arrived/left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Unpaid,
    Paid,
    Picked,
    Packed,
    Stopping,
    Shipped,
    Held,
    Delivered,
    Completed,
    Gone,
}

#[derive(Debug, Default)]
struct Model {
    received: i64,
    shipped: i64,
    orders: Vec<(Phase, i64)>,
}

impl Model {
    fn sum(&self, phases: &[Phase]) -> i64 {
        self.orders.iter().filter(|(p, _)| phases.contains(p)).map(|(_, q)| q).sum()
    }
    fn on_hand(&self) -> i64 {
        self.received - self.shipped
    }
    fn locked(&self) -> i64 {
        self.sum(&[Phase::Unpaid, Phase::Held])
    }
    fn committed(&self) -> i64 {
        self.sum(&[Phase::Paid, Phase::Picked, Phase::Packed, Phase::Stopping])
    }
    fn set(&mut self, i: usize, from: &[Phase], to: Phase) {
        if let Some(o) = self.orders.get_mut(i) {
            if from.contains(&o.0) {
                if to == Phase::Shipped {
                    self.shipped += o.1;
                }
                o.0 = to;
            }
        }
    }
    fn apply(&mut self, op: &Op) {
        use Phase::*;
        match op {
            Op::Receive(q) => self.received += q,
            Op::Create(q) => {
                if self.on_hand() - self.locked() - self.committed() >= *q {
                    self.orders.push((Unpaid, *q));
                }
            }
            Op::Pay(i) => self.set(*i, &[Unpaid], Paid),
            Op::Cancel(i) => {
                self.set(*i, &[Unpaid, Held], Gone);
                self.set(*i, &[Paid, Picked, Packed], Stopping);
            }
            Op::Timeout(i) => self.set(*i, &[Unpaid], Gone),
            Op::Picked(i) => self.set(*i, &[Paid], Picked),
            Op::Packed(i) => self.set(*i, &[Picked], Packed),
            Op::Shipped(i) => self.set(*i, &[Paid, Picked, Packed, Stopping], Shipped),
            Op::CancelConfirmed(i) => self.set(*i, &[Stopping], Gone),
            Op::CreateHeld(q) => {
                if self.on_hand() - self.locked() - self.committed() >= *q {
                    self.orders.push((Held, *q));
                }
            }
            // A held replacement needs no payment: the passed return releases it.
            Op::ReturnPassed(i) => self.set(*i, &[Held], Paid),
            Op::Delivered(i) => self.set(*i, &[Shipped], Delivered),
            Op::WindowChecked(i, passed) => {
                if *passed {
                    self.set(*i, &[Delivered], Completed)
                }
            }
            Op::Restart => {}
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, rng_seed: proptest::test_runner::RngSeed::Fixed(0x7073), ..ProptestConfig::default() })]

    #[test]
    fn order_lifecycle_and_stock_match_the_model_after_every_step(ops in prop::collection::vec(op(), 1..80)) {
        let mut real = Real { stock: StockLevel::default(), orders: Vec::new() };
        let mut model = Model::default();
        for op in &ops {
            real.apply(op);
            model.apply(op);
            prop_assert_eq!(real.orders.len(), model.orders.len(), "after {:?}", op);
            let expected = StockLevel { on_hand: model.on_hand(), locked: model.locked(), committed: model.committed(), frozen: 0 };
            prop_assert_eq!(real.stock, expected, "after {:?}", op);
            prop_assert!(real.stock.sellable() >= 0, "oversold after {:?}", op);
            for ((state, _), (phase, _)) in real.orders.iter().zip(&model.orders) {
                let expected = match phase {
                    Phase::Unpaid => OrderState::AwaitingPayment,
                    Phase::Paid => OrderState::AwaitingShipment,
                    Phase::Picked => OrderState::Picked,
                    Phase::Packed => OrderState::Packed,
                    Phase::Stopping => OrderState::Cancelling,
                    Phase::Shipped => OrderState::Shipped,
                    Phase::Held => OrderState::Held,
                    Phase::Delivered => OrderState::Delivered,
                    Phase::Completed => OrderState::Completed,
                    Phase::Gone => if matches!(state, OrderState::Closed) { OrderState::Closed } else { OrderState::Cancelled },
                };
                prop_assert_eq!(*state, expected, "after {:?}", op);
            }
        }
    }
}
