//! The order lifecycle as a pure state machine.
//!
//! `transition(state, event)` returns the next state and the effects the caller must carry
//! out in the same transaction (stock movements, commands to an edge). It never performs
//! them: central's store does, so that state and effects commit together or not at all.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderState {
    /// Stock is locked; waiting for the customer to pay before the deadline.
    AwaitingPayment,
    /// Paid; stock is committed at a warehouse and the order is released to its edge.
    AwaitingShipment,
    /// The edge has picked every line.
    Picked,
    /// The edge has packed the parcel.
    Packed,
    /// A split order some of whose parts left their warehouses while others have not yet.
    PartlyShipped,
    /// Handed to the carrier with a tracking number.
    Shipped,
    /// The carrier reported the parcel delivered (through tracking).
    Delivered,
    /// Paid, but no warehouse has the stock; waits for stock to appear.
    Backordered,
    /// Cancel requested after release; waiting for the edge to confirm it stopped.
    Cancelling,
    /// Cancelled by the customer or HQ; nothing reserved any more.
    Cancelled,
    /// Not paid in time; the lock was released.
    Closed,
    /// An exchange's replacement: its stock is locked (so it cannot be sold meanwhile) and it
    /// waits for the returned item to pass QC before it is released to the warehouse.
    Held,
    /// Delivered, and the return window closed with no after-sales request open: done.
    Completed,
    /// Paid into a group buy that has not formed yet: its stock committed, not released to a
    /// warehouse until the group forms; cancelled (so refunded) if it never does.
    Grouping,
}

impl OrderState {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderState::AwaitingPayment => "awaiting_payment",
            OrderState::AwaitingShipment => "awaiting_shipment",
            OrderState::Picked => "picked",
            OrderState::Packed => "packed",
            OrderState::PartlyShipped => "partly_shipped",
            OrderState::Shipped => "shipped",
            OrderState::Delivered => "delivered",
            OrderState::Backordered => "backordered",
            OrderState::Cancelling => "cancelling",
            OrderState::Cancelled => "cancelled",
            OrderState::Closed => "closed",
            OrderState::Held => "held",
            OrderState::Completed => "completed",
            OrderState::Grouping => "grouping",
        }
    }

    pub fn parse(raw: &str) -> Option<OrderState> {
        ALL_STATES.iter().copied().find(|s| s.as_str() == raw)
    }

    /// States in which a warehouse holds a commitment for the order.
    pub fn holds_commitment(self) -> bool {
        matches!(self, OrderState::AwaitingShipment | OrderState::Picked | OrderState::Packed | OrderState::Cancelling | OrderState::PartlyShipped | OrderState::Grouping)
    }

    /// The parcel has left the warehouse (whatever happened to it since).
    pub fn has_shipped(self) -> bool {
        matches!(self, OrderState::Shipped | OrderState::Delivered | OrderState::Completed)
    }

    /// A part in this state is out of the order for good (nothing of it ships).
    pub fn is_dropped(self) -> bool {
        matches!(self, OrderState::Cancelled | OrderState::Closed)
    }

    pub fn is_final(self) -> bool {
        matches!(self, OrderState::Shipped | OrderState::Delivered | OrderState::Completed | OrderState::Cancelled | OrderState::Closed)
    }
}

pub const ALL_STATES: [OrderState; 14] = [
    OrderState::AwaitingPayment,
    OrderState::AwaitingShipment,
    OrderState::Picked,
    OrderState::Packed,
    OrderState::PartlyShipped,
    OrderState::Shipped,
    OrderState::Delivered,
    OrderState::Backordered,
    OrderState::Cancelling,
    OrderState::Cancelled,
    OrderState::Closed,
    OrderState::Held,
    OrderState::Completed,
    OrderState::Grouping,
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderEvent {
    /// Sandbox or channel payment confirmed.
    Paid,
    /// Customer or HQ asks to cancel.
    CancelRequested,
    /// The payment deadline check ran at `now_ms`.
    PaymentDeadlineChecked { now_ms: i64, deadline_ms: i64 },
    EdgePicked,
    EdgePacked,
    EdgeShipped,
    /// The edge stopped work on the order and put any picked goods back.
    EdgeCancelConfirmed,
    /// The edge could not fulfil (short pick); its commitment must move elsewhere.
    EdgeFulfilmentFailed,
    /// Routing found a warehouse with stock for a backordered or re-routed order.
    StockAllocated,
    /// Tracking says the parcel reached the customer.
    ParcelDelivered,
    /// The returned item an exchange waits for passed QC: the replacement may ship.
    ReturnPassed,
    /// The returned item passed QC, but the replacement costs more than what came back: the
    /// difference is to be paid before it ships.
    BalanceDue,
    /// The completion check ran at `now_ms` for an order delivered at `delivered_ms`, with a
    /// return window of `window_ms` (after-sales checked that no request is open).
    ReturnWindowChecked { now_ms: i64, delivered_ms: i64, window_ms: i64 },
    /// Payment confirmed for an order that joined a group buy still forming.
    PaidIntoGroup,
    /// The order's group buy reached its size: it may ship.
    GroupFormed,
}

/// What the store must do alongside the state change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderEffect {
    CommitLock,
    ReleaseLock,
    ReleaseCommitment,
    CommitDirect,
    ShipStock,
    SendFulfilToEdge,
    SendCancelToEdge,
    /// Try to allocate the order to another warehouse (then feed `StockAllocated`).
    Reroute,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub to: OrderState,
    pub effects: Vec<OrderEffect>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    #[error("an order that is {state} cannot take {event}")]
    NotAllowed { state: &'static str, event: &'static str },
    #[error("the payment deadline has not passed yet")]
    DeadlineNotReached,
    #[error("the return window is still open")]
    WindowOpen,
}

impl OrderEvent {
    fn name(&self) -> &'static str {
        match self {
            OrderEvent::Paid => "payment",
            OrderEvent::CancelRequested => "a cancel request",
            OrderEvent::PaymentDeadlineChecked { .. } => "a payment timeout",
            OrderEvent::EdgePicked => "a pick confirmation",
            OrderEvent::EdgePacked => "a pack confirmation",
            OrderEvent::EdgeShipped => "a shipment",
            OrderEvent::EdgeCancelConfirmed => "a cancel confirmation",
            OrderEvent::EdgeFulfilmentFailed => "a fulfilment failure",
            OrderEvent::StockAllocated => "a stock allocation",
            OrderEvent::ParcelDelivered => "a delivery",
            OrderEvent::ReturnPassed => "a passed return",
            OrderEvent::BalanceDue => "a price difference due",
            OrderEvent::ReturnWindowChecked { .. } => "a completion",
            OrderEvent::PaidIntoGroup => "a payment into a group buy",
            OrderEvent::GroupFormed => "a group buy forming",
        }
    }
}

pub fn transition(state: OrderState, event: &OrderEvent) -> Result<Transition, OrderError> {
    use OrderEffect as E;
    use OrderState as S;
    let go = |to: OrderState, effects: &[OrderEffect]| Ok(Transition { to, effects: effects.to_vec() });
    match (state, event) {
        (S::AwaitingPayment, OrderEvent::Paid) => go(S::AwaitingShipment, &[E::CommitLock, E::SendFulfilToEdge]),
        // A group buy's order is paid for and its stock committed, but it waits for its group.
        (S::AwaitingPayment, OrderEvent::PaidIntoGroup) => go(S::Grouping, &[E::CommitLock]),
        (S::Grouping, OrderEvent::GroupFormed) => go(S::AwaitingShipment, &[E::SendFulfilToEdge]),
        // Nothing was sent to a warehouse: the commitment simply goes.
        (S::Grouping, OrderEvent::CancelRequested) => go(S::Cancelled, &[E::ReleaseCommitment]),
        (S::AwaitingPayment | S::Held, OrderEvent::CancelRequested) => go(S::Cancelled, &[E::ReleaseLock]),
        // A replacement needs no payment: the returned item pays for it.
        (S::Held, OrderEvent::ReturnPassed) => go(S::AwaitingShipment, &[E::CommitLock, E::SendFulfilToEdge]),
        // A dearer replacement waits for its difference like any order for its money, the
        // stock still locked.
        (S::Held, OrderEvent::BalanceDue) => go(S::AwaitingPayment, &[]),
        (S::AwaitingPayment, OrderEvent::PaymentDeadlineChecked { now_ms, deadline_ms }) => {
            if now_ms >= deadline_ms {
                go(S::Closed, &[E::ReleaseLock])
            } else {
                Err(OrderError::DeadlineNotReached)
            }
        }
        (S::AwaitingShipment | S::Picked | S::Packed, OrderEvent::CancelRequested) => {
            go(S::Cancelling, &[E::SendCancelToEdge])
        }
        (S::Backordered, OrderEvent::CancelRequested) => go(S::Cancelled, &[]),
        // A split order cancels what has not left yet: each part still here takes the cancel
        // on its own (`takes_order_event`); the parcels on their way are after-sales'.
        (S::PartlyShipped, OrderEvent::CancelRequested) => go(S::PartlyShipped, &[]),
        (S::AwaitingShipment, OrderEvent::EdgePicked) => go(S::Picked, &[]),
        (S::Picked, OrderEvent::EdgePacked) => go(S::Packed, &[]),
        // A parcel that left is shipped, even if a cancel raced it: after-sales takes over.
        (S::AwaitingShipment | S::Picked | S::Packed | S::Cancelling, OrderEvent::EdgeShipped) => {
            go(S::Shipped, &[E::ShipStock])
        }
        // The edge reports progress it made before it saw the cancel; nothing to do.
        (S::Cancelling, OrderEvent::EdgePicked | OrderEvent::EdgePacked) => go(S::Cancelling, &[]),
        (S::Cancelling, OrderEvent::EdgeCancelConfirmed | OrderEvent::EdgeFulfilmentFailed) => {
            go(S::Cancelled, &[E::ReleaseCommitment])
        }
        (S::AwaitingShipment | S::Picked | S::Packed, OrderEvent::EdgeFulfilmentFailed) => {
            go(S::Backordered, &[E::ReleaseCommitment, E::Reroute])
        }
        (S::Backordered, OrderEvent::StockAllocated) => go(S::AwaitingShipment, &[E::CommitDirect, E::SendFulfilToEdge]),
        (S::Shipped, OrderEvent::ParcelDelivered) => go(S::Delivered, &[]),
        (S::Delivered, OrderEvent::ReturnWindowChecked { now_ms, delivered_ms, window_ms }) => {
            if now_ms.saturating_sub(*delivered_ms) >= *window_ms {
                go(S::Completed, &[])
            } else {
                Err(OrderError::WindowOpen)
            }
        }
        (state, event) => Err(OrderError::NotAllowed { state: state.as_str(), event: event.name() }),
    }
}

/// Whether a part in `part` state takes an event addressed to its whole order, which is in
/// `order` state: parts cancelled or closed take nothing, and a partly shipped order's cancel
/// goes only to the parts that have not left and are not already stopping.
pub fn takes_order_event(order: OrderState, part: OrderState) -> bool {
    !part.is_dropped() && !(order == OrderState::PartlyShipped && (part.has_shipped() || part == OrderState::Cancelling))
}

/// An order's state from its parts' states. A split order has one part per warehouse, each
/// moving through `transition` on its own; an order that is not split has one part, whose state
/// is the order's. Parts cancelled or closed count only when every part is.
pub fn overall(parts: &[OrderState]) -> OrderState {
    use OrderState as S;
    let live: Vec<OrderState> = parts.iter().copied().filter(|s| !s.is_dropped()).collect();
    let Some(&first) = live.first() else {
        return if parts.contains(&S::Closed) { S::Closed } else { S::Cancelled };
    };
    if live.iter().all(|&s| s == first) {
        return first;
    }
    if live.iter().all(|s| s.has_shipped()) {
        return if live.iter().all(|s| matches!(s, S::Delivered | S::Completed)) { S::Delivered } else { S::Shipped };
    }
    if live.iter().any(|s| s.has_shipped()) {
        return S::PartlyShipped;
    }
    // Nothing has left yet: the part furthest from leaving speaks for the order.
    [S::Cancelling, S::Backordered, S::Held, S::AwaitingPayment, S::Grouping, S::AwaitingShipment, S::Picked, S::Packed]
        .into_iter()
        .find(|s| live.contains(s))
        .unwrap_or(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paid_order_commits_its_lock_and_is_released_to_the_edge() {
        let t = transition(OrderState::AwaitingPayment, &OrderEvent::Paid).expect("allowed");
        assert_eq!(t.to, OrderState::AwaitingShipment);
        assert_eq!(t.effects, vec![OrderEffect::CommitLock, OrderEffect::SendFulfilToEdge]);
    }

    #[test]
    fn shipped_order_cannot_be_cancelled() {
        assert!(transition(OrderState::Shipped, &OrderEvent::CancelRequested).is_err());
    }

    #[test]
    fn only_a_shipped_order_is_delivered() {
        assert_eq!(transition(OrderState::Shipped, &OrderEvent::ParcelDelivered).map(|t| t.to), Ok(OrderState::Delivered));
        assert!(transition(OrderState::Packed, &OrderEvent::ParcelDelivered).is_err());
        assert!(transition(OrderState::Delivered, &OrderEvent::ParcelDelivered).is_err());
    }

    #[test]
    fn a_held_replacement_ships_only_after_the_return_passes_and_never_times_out() {
        let t = transition(OrderState::Held, &OrderEvent::ReturnPassed).expect("allowed");
        assert_eq!((t.to, t.effects), (OrderState::AwaitingShipment, vec![OrderEffect::CommitLock, OrderEffect::SendFulfilToEdge]));
        let late = OrderEvent::PaymentDeadlineChecked { now_ms: 10, deadline_ms: 1 };
        assert!(transition(OrderState::Held, &late).is_err(), "a held order has no payment deadline");
        assert!(transition(OrderState::Held, &OrderEvent::Paid).is_err());
        assert_eq!(transition(OrderState::Held, &OrderEvent::CancelRequested).map(|t| t.effects), Ok(vec![OrderEffect::ReleaseLock]));
        assert!(transition(OrderState::AwaitingPayment, &OrderEvent::ReturnPassed).is_err());
    }

    #[test]
    fn a_dearer_replacement_waits_for_its_difference_with_its_stock_locked() {
        let t = transition(OrderState::Held, &OrderEvent::BalanceDue).expect("allowed");
        assert_eq!((t.to, t.effects), (OrderState::AwaitingPayment, vec![]), "the lock stays a lock");
        let paid = transition(t.to, &OrderEvent::Paid).expect("then paid like any order");
        assert_eq!(paid.effects, vec![OrderEffect::CommitLock, OrderEffect::SendFulfilToEdge]);
        assert!(transition(OrderState::AwaitingPayment, &OrderEvent::BalanceDue).is_err(), "only a held replacement");
    }

    #[test]
    fn a_delivered_order_completes_only_once_its_return_window_closed() {
        let check = |now_ms| OrderEvent::ReturnWindowChecked { now_ms, delivered_ms: 100, window_ms: 50 };
        assert_eq!(transition(OrderState::Delivered, &check(149)), Err(OrderError::WindowOpen));
        assert_eq!(transition(OrderState::Delivered, &check(150)).map(|t| (t.to, t.effects)), Ok((OrderState::Completed, vec![])));
        assert!(transition(OrderState::Shipped, &check(150)).is_err(), "only a delivered order completes");
        assert!(OrderState::Completed.is_final());
        assert!(transition(OrderState::Completed, &OrderEvent::CancelRequested).is_err());
    }

    #[test]
    fn a_group_buy_order_is_paid_then_waits_for_its_group_and_never_reaches_a_warehouse_before() {
        let paid = transition(OrderState::AwaitingPayment, &OrderEvent::PaidIntoGroup).expect("allowed");
        assert_eq!((paid.to, paid.effects), (OrderState::Grouping, vec![OrderEffect::CommitLock]), "committed, not sent");
        let formed = transition(OrderState::Grouping, &OrderEvent::GroupFormed).expect("allowed");
        assert_eq!((formed.to, formed.effects), (OrderState::AwaitingShipment, vec![OrderEffect::SendFulfilToEdge]));
        let failed = transition(OrderState::Grouping, &OrderEvent::CancelRequested).expect("allowed");
        assert_eq!((failed.to, failed.effects), (OrderState::Cancelled, vec![OrderEffect::ReleaseCommitment]), "no warehouse to stop");
        assert!(transition(OrderState::Grouping, &OrderEvent::Paid).is_err());
        assert!(transition(OrderState::Grouping, &OrderEvent::EdgeShipped).is_err(), "nothing ships before the group forms");
        assert!(transition(OrderState::AwaitingShipment, &OrderEvent::GroupFormed).is_err());
        assert!(OrderState::Grouping.holds_commitment() && !OrderState::Grouping.is_final());
    }

    #[test]
    fn payment_timeout_before_the_deadline_is_refused() {
        let early = OrderEvent::PaymentDeadlineChecked { now_ms: 10, deadline_ms: 11 };
        assert_eq!(transition(OrderState::AwaitingPayment, &early), Err(OrderError::DeadlineNotReached));
    }

    #[test]
    fn every_state_name_round_trips() {
        for s in ALL_STATES {
            assert_eq!(OrderState::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn a_split_order_is_partly_shipped_until_its_last_part_leaves() {
        use OrderState as S;
        assert_eq!(overall(&[S::Shipped, S::Packed]), S::PartlyShipped);
        assert_eq!(overall(&[S::Delivered, S::Backordered]), S::PartlyShipped);
        assert_eq!(overall(&[S::Shipped, S::Delivered]), S::Shipped);
        assert_eq!(overall(&[S::Delivered, S::Delivered]), S::Delivered);
        assert_eq!(overall(&[S::Shipped, S::Cancelled]), S::Shipped, "a part cancelled while the other shipped");
        assert_eq!(overall(&[S::Cancelled, S::Cancelling]), S::Cancelling);
        assert_eq!(overall(&[S::Cancelled, S::Cancelled]), S::Cancelled);
        assert_eq!(overall(&[S::Closed, S::Closed]), S::Closed);
        assert_eq!(overall(&[S::Picked, S::AwaitingShipment]), S::AwaitingShipment);
        assert_eq!(overall(&[S::Packed, S::Backordered]), S::Backordered);
        assert_eq!(transition(S::PartlyShipped, &OrderEvent::CancelRequested).map(|t| t.to), Ok(S::PartlyShipped), "what has not left is cancelled");
        assert!(!takes_order_event(S::PartlyShipped, S::Shipped) && !takes_order_event(S::PartlyShipped, S::Cancelling));
        assert!(takes_order_event(S::PartlyShipped, S::Backordered) && !takes_order_event(S::AwaitingShipment, S::Cancelled));
        assert!(transition(S::PartlyShipped, &OrderEvent::Paid).is_err());
    }

    /// Events for one part (`Some(i)`) or the whole order (`None`).
    fn event_strategy() -> impl proptest::strategy::Strategy<Value = (Option<usize>, OrderEvent)> {
        use proptest::prelude::*;
        let order = prop_oneof![
            Just(OrderEvent::Paid),
            Just(OrderEvent::CancelRequested),
            Just(OrderEvent::PaymentDeadlineChecked { now_ms: 2, deadline_ms: 1 }),
            Just(OrderEvent::ReturnWindowChecked { now_ms: 9, delivered_ms: 1, window_ms: 5 }),
        ];
        let part = prop_oneof![
            Just(OrderEvent::EdgePicked),
            Just(OrderEvent::EdgePacked),
            Just(OrderEvent::EdgeShipped),
            Just(OrderEvent::EdgeCancelConfirmed),
            Just(OrderEvent::EdgeFulfilmentFailed),
            Just(OrderEvent::StockAllocated),
            Just(OrderEvent::ParcelDelivered),
        ];
        prop_oneof![order.prop_map(|e| (None, e)), (0usize..3, part).prop_map(|(i, e)| (Some(i), e))]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 512, rng_seed: proptest::test_runner::RngSeed::Fixed(0x5917), ..Default::default() })]

        /// A split order driven by any events, checked against a plain model of what its state
        /// means: partly shipped exactly while some part has left and another that still counts
        /// has not; shipped-like only when every part that counts has left; one part's order is
        /// that part; and no part ships twice.
        #[test]
        fn the_order_state_follows_its_parts(n in 1usize..4, events in proptest::collection::vec(event_strategy(), 0..40)) {
            let mut parts = vec![OrderState::AwaitingPayment; n];
            let mut shipments = vec![0; n];
            for (target, event) in events {
                match target {
                    // The whole order: refused as a whole when its own state refuses.
                    None => {
                        let whole = overall(&parts);
                        if transition(whole, &event).is_err() {
                            continue;
                        }
                        for part in parts.iter_mut().filter(|p| takes_order_event(whole, **p)) {
                            let t = transition(*part, &event);
                            proptest::prop_assert!(t.is_ok(), "the order took {event:?} but a part in {part:?} refused it");
                            *part = t.map(|t| t.to).unwrap_or(*part);
                        }
                    }
                    Some(i) if i < n => {
                        if let Ok(t) = transition(parts[i], &event) {
                            shipments[i] += usize::from(t.effects.contains(&OrderEffect::ShipStock));
                            parts[i] = t.to;
                        }
                    }
                    Some(_) => {}
                }
                let state = overall(&parts);
                let live: Vec<OrderState> = parts.iter().copied().filter(|p| !p.is_dropped()).collect();
                let left = live.iter().filter(|p| p.has_shipped()).count();
                proptest::prop_assert_eq!(state == OrderState::PartlyShipped, left > 0 && left < live.len(), "{:?} → {:?}", parts, state);
                proptest::prop_assert_eq!(state.has_shipped(), !live.is_empty() && left == live.len(), "{:?} → {:?}", parts, state);
                proptest::prop_assert_eq!(state.is_dropped(), live.is_empty());
                if n == 1 {
                    proptest::prop_assert_eq!(state, parts[0]);
                }
                proptest::prop_assert!(shipments.iter().all(|&s| s <= 1), "a part shipped twice: {:?}", shipments);
            }
        }
    }
}
