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
}

impl OrderState {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderState::AwaitingPayment => "awaiting_payment",
            OrderState::AwaitingShipment => "awaiting_shipment",
            OrderState::Picked => "picked",
            OrderState::Packed => "packed",
            OrderState::Shipped => "shipped",
            OrderState::Delivered => "delivered",
            OrderState::Backordered => "backordered",
            OrderState::Cancelling => "cancelling",
            OrderState::Cancelled => "cancelled",
            OrderState::Closed => "closed",
            OrderState::Held => "held",
            OrderState::Completed => "completed",
        }
    }

    pub fn parse(raw: &str) -> Option<OrderState> {
        ALL_STATES.iter().copied().find(|s| s.as_str() == raw)
    }

    /// States in which a warehouse holds a commitment for the order.
    pub fn holds_commitment(self) -> bool {
        matches!(self, OrderState::AwaitingShipment | OrderState::Picked | OrderState::Packed | OrderState::Cancelling)
    }

    pub fn is_final(self) -> bool {
        matches!(self, OrderState::Shipped | OrderState::Delivered | OrderState::Completed | OrderState::Cancelled | OrderState::Closed)
    }
}

pub const ALL_STATES: [OrderState; 12] = [
    OrderState::AwaitingPayment,
    OrderState::AwaitingShipment,
    OrderState::Picked,
    OrderState::Packed,
    OrderState::Shipped,
    OrderState::Delivered,
    OrderState::Backordered,
    OrderState::Cancelling,
    OrderState::Cancelled,
    OrderState::Closed,
    OrderState::Held,
    OrderState::Completed,
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
    /// The completion check ran at `now_ms` for an order delivered at `delivered_ms`, with a
    /// return window of `window_ms` (after-sales checked that no request is open).
    ReturnWindowChecked { now_ms: i64, delivered_ms: i64, window_ms: i64 },
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
            OrderEvent::ReturnWindowChecked { .. } => "a completion",
        }
    }
}

pub fn transition(state: OrderState, event: &OrderEvent) -> Result<Transition, OrderError> {
    use OrderEffect as E;
    use OrderState as S;
    let go = |to: OrderState, effects: &[OrderEffect]| Ok(Transition { to, effects: effects.to_vec() });
    match (state, event) {
        (S::AwaitingPayment, OrderEvent::Paid) => go(S::AwaitingShipment, &[E::CommitLock, E::SendFulfilToEdge]),
        (S::AwaitingPayment | S::Held, OrderEvent::CancelRequested) => go(S::Cancelled, &[E::ReleaseLock]),
        // A replacement needs no payment: the returned item pays for it.
        (S::Held, OrderEvent::ReturnPassed) => go(S::AwaitingShipment, &[E::CommitLock, E::SendFulfilToEdge]),
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
    fn a_delivered_order_completes_only_once_its_return_window_closed() {
        let check = |now_ms| OrderEvent::ReturnWindowChecked { now_ms, delivered_ms: 100, window_ms: 50 };
        assert_eq!(transition(OrderState::Delivered, &check(149)), Err(OrderError::WindowOpen));
        assert_eq!(transition(OrderState::Delivered, &check(150)).map(|t| (t.to, t.effects)), Ok((OrderState::Completed, vec![])));
        assert!(transition(OrderState::Shipped, &check(150)).is_err(), "only a delivered order completes");
        assert!(OrderState::Completed.is_final());
        assert!(transition(OrderState::Completed, &OrderEvent::CancelRequested).is_err());
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
}
