//! The pick lifecycle, pure: the states of a pick task and of a fulfilment, and what each scan
//! does to a task. The edge's store reads a task, asks here, and writes the answer.
//!
//! A task is picked by scans: the location's barcode, then the item (each item scan takes one
//! or more units out of the bin), and, for a task picked onto a cart (batch and cluster
//! picking), the tote the units went into. A task on a cart is done only when its tote is
//! scanned, so a unit is never "picked" without the system knowing which tote holds it.

use serde::Serialize;

/// A pick task's state. `Located`: the location was scanned; items are being taken (or, on a
/// cart, wait in the picker's hand for the tote scan).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    Open,
    Located,
    Done,
    Cancelled,
}

impl TaskState {
    pub const ALL: [TaskState; 4] = [TaskState::Open, TaskState::Located, TaskState::Done, TaskState::Cancelled];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Open => "open",
            TaskState::Located => "located",
            TaskState::Done => "done",
            TaskState::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<TaskState> {
        TaskState::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Still to be picked (it claims stock).
    pub fn is_live(self) -> bool {
        matches!(self, TaskState::Open | TaskState::Located)
    }
}

/// A pick task as the lifecycle sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Task {
    pub state: TaskState,
    pub qty: i64,
    pub picked: i64,
    /// Picked onto a cart: done only once the tote is scanned.
    pub into_tote: bool,
}

/// The barcodes a task's scans must match.
#[derive(Debug, Clone, Copy)]
pub struct Codes<'a> {
    pub location: &'a str,
    pub gtin: &'a str,
    /// The tote the units go into (cart picks only).
    pub tote: Option<&'a str>,
}

/// The scan a task waits for next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Expect {
    Location,
    Item,
    Tote,
    Nothing,
}

/// What an accepted scan did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// At the right location.
    Located,
    /// `qty` units left the bin (into the picker's hand, or straight into the order's tote).
    Picked { qty: i64 },
    /// The units in hand went into the right tote.
    Put,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("wrong {what}: expected {expected}, scanned {scanned}")]
    WrongScan { what: &'static str, expected: String, scanned: String },
    #[error("quantity must be between 1 and {left} (still to pick)")]
    Quantity { left: i64 },
    #[error("the task is {0}")]
    Finished(&'static str),
}

impl Task {
    pub fn left(&self) -> i64 {
        self.qty - self.picked
    }

    pub fn expect(&self) -> Expect {
        match self.state {
            TaskState::Open => Expect::Location,
            TaskState::Located if self.picked < self.qty => Expect::Item,
            TaskState::Located if self.into_tote => Expect::Tote,
            // Not reachable through `scan`; a task in this shape has nothing left to do.
            TaskState::Located | TaskState::Done | TaskState::Cancelled => Expect::Nothing,
        }
    }

    /// One scan: `code` is the barcode, `qty` the units an item scan takes (ignored otherwise).
    /// A refused scan changes nothing.
    pub fn scan(&self, codes: Codes<'_>, code: &str, qty: i64) -> Result<(Effect, Task), Refusal> {
        let wrong = |what: &'static str, expected: &str| Refusal::WrongScan { what, expected: expected.to_owned(), scanned: code.to_owned() };
        let mut next = *self;
        match self.expect() {
            Expect::Location if code == codes.location => {
                next.state = TaskState::Located;
                Ok((Effect::Located, next))
            }
            Expect::Location => Err(wrong("location", codes.location)),
            Expect::Item if code != codes.gtin => Err(wrong("item", codes.gtin)),
            Expect::Item if qty < 1 || qty > self.left() => Err(Refusal::Quantity { left: self.left() }),
            Expect::Item => {
                next.picked += qty;
                if next.picked == next.qty && !next.into_tote {
                    next.state = TaskState::Done;
                }
                Ok((Effect::Picked { qty }, next))
            }
            Expect::Tote => match codes.tote {
                Some(tote) if code == tote => {
                    next.state = TaskState::Done;
                    Ok((Effect::Put, next))
                }
                Some(tote) => Err(wrong("tote", tote)),
                None => Err(Refusal::Finished("waiting for a tote it has none of")),
            },
            Expect::Nothing => Err(Refusal::Finished(self.state.as_str())),
        }
    }

    /// The task cut down to the `keep` units that stay picked here (a short pick, stock moved
    /// elsewhere): nothing kept cancels it; what is kept and already picked finishes it, except
    /// on a cart, where the units in hand still go into their tote.
    pub fn shrink(&self, keep: i64) -> Task {
        let mut next = *self;
        if keep == 0 {
            // Its quantity stays as asked: the record of what was not found.
            next.state = TaskState::Cancelled;
            return next;
        }
        next.qty = keep.clamp(self.picked, self.qty);
        next.state = match self.state {
            TaskState::Open => TaskState::Open,
            _ if next.picked < next.qty => self.state,
            _ if self.into_tote => TaskState::Located,
            _ => TaskState::Done,
        };
        next
    }
}

/// A fulfilment's state at the warehouse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FulfilmentState {
    Picking,
    Picked,
    Packed,
    Shipped,
    Cancelled,
    Failed,
}

/// What happens to a fulfilment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FulfilmentEvent {
    /// Its last live task finished.
    AllPicked,
    Pack,
    Ship,
    /// Central cancelled the order.
    Cancel,
    /// Its stock is not here (at release, or after shorts); central re-routes it.
    Fail,
    /// Central routed it here again after a failure or a cancel.
    Release,
}

impl FulfilmentState {
    pub const ALL: [FulfilmentState; 6] =
        [FulfilmentState::Picking, FulfilmentState::Picked, FulfilmentState::Packed, FulfilmentState::Shipped, FulfilmentState::Cancelled, FulfilmentState::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            FulfilmentState::Picking => "picking",
            FulfilmentState::Picked => "picked",
            FulfilmentState::Packed => "packed",
            FulfilmentState::Shipped => "shipped",
            FulfilmentState::Cancelled => "cancelled",
            FulfilmentState::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<FulfilmentState> {
        FulfilmentState::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The state after `event`, or None when it cannot happen in this state.
    pub fn after(self, event: FulfilmentEvent) -> Option<FulfilmentState> {
        use FulfilmentEvent as E;
        use FulfilmentState as S;
        match (self, event) {
            (S::Picking, E::AllPicked) => Some(S::Picked),
            (S::Picked, E::Pack) => Some(S::Packed),
            (S::Packed, E::Ship) => Some(S::Shipped),
            (S::Picking | S::Picked | S::Packed, E::Cancel) => Some(S::Cancelled),
            (S::Picking, E::Fail) => Some(S::Failed),
            (S::Failed | S::Cancelled, E::Release) => Some(S::Picking),
            _ => None,
        }
    }

    /// Goods of the order are on their way out of stock (picked, packed): a cancel puts them back.
    pub fn holds_goods(self) -> bool {
        matches!(self, FulfilmentState::Picking | FulfilmentState::Picked | FulfilmentState::Packed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CODES: Codes<'static> = Codes { location: "A-01-01", gtin: "00194502876550", tote: Some("TOTE-0001") };

    fn task(qty: i64, into_tote: bool) -> Task {
        Task { state: TaskState::Open, qty, picked: 0, into_tote }
    }

    #[test]
    fn a_discrete_task_is_location_then_items() {
        let codes = Codes { tote: None, ..CODES };
        let t = task(2, false);
        assert!(matches!(t.scan(codes, "00194502876550", 1), Err(Refusal::WrongScan { what: "location", .. })));
        let (effect, t) = t.scan(codes, "A-01-01", 1).expect("location");
        assert_eq!((effect, t.state, t.expect()), (Effect::Located, TaskState::Located, Expect::Item));
        assert_eq!(t.scan(codes, "00194502876550", 3), Err(Refusal::Quantity { left: 2 }));
        let (_, t) = t.scan(codes, "00194502876550", 2).expect("items");
        assert_eq!((t.state, t.picked), (TaskState::Done, 2));
        assert_eq!(t.scan(codes, "A-01-01", 1), Err(Refusal::Finished("done")));
    }

    #[test]
    fn a_cart_task_is_done_only_when_its_tote_is_scanned() {
        let (_, t) = task(1, true).scan(CODES, "A-01-01", 1).expect("location");
        let (_, t) = t.scan(CODES, "00194502876550", 1).expect("item");
        assert_eq!((t.state, t.expect()), (TaskState::Located, Expect::Tote), "the unit is in hand, not yet in a tote");
        assert!(matches!(t.scan(CODES, "TOTE-0002", 1), Err(Refusal::WrongScan { what: "tote", .. })));
        let (effect, t) = t.scan(CODES, "TOTE-0001", 1).expect("tote");
        assert_eq!((effect, t.state), (Effect::Put, TaskState::Done));
    }

    #[test]
    fn shrinking_keeps_what_was_picked_and_a_carts_units_still_go_into_their_tote() {
        let located = Task { state: TaskState::Located, qty: 5, picked: 2, into_tote: false };
        assert_eq!(located.shrink(2).state, TaskState::Done);
        assert_eq!(Task { into_tote: true, ..located }.shrink(2), Task { state: TaskState::Located, qty: 2, picked: 2, into_tote: true });
        assert_eq!(task(4, false).shrink(0), Task { state: TaskState::Cancelled, ..task(4, false) });
        assert_eq!(located.shrink(3), Task { qty: 3, ..located });
        assert_eq!(task(4, false).shrink(1), Task { qty: 1, ..task(4, false) });
    }

    #[test]
    fn fulfilment_states_move_only_forward_except_a_new_release() {
        use FulfilmentEvent as E;
        use FulfilmentState as S;
        assert_eq!(S::Picking.after(E::AllPicked), Some(S::Picked));
        assert_eq!(S::Shipped.after(E::Cancel), None, "after shipment cancelling is after-sales' business");
        assert_eq!(S::Packed.after(E::Fail), None);
        assert_eq!(S::Failed.after(E::Release), Some(S::Picking));
        assert_eq!(S::Picking.after(E::Release), None, "an order in progress is not released twice");
        for s in S::ALL {
            assert_eq!(S::parse(s.as_str()), Some(s));
        }
    }

    /// The model: a task is a list of scans it still wants, in order.
    fn wants(t: &Task, codes: Codes<'_>) -> Vec<&'static str> {
        let mut out = Vec::new();
        if t.state == TaskState::Open {
            out.push("location");
        }
        if t.state.is_live() {
            out.extend(std::iter::repeat_n("item", (t.qty - t.picked) as usize));
            if t.into_tote && codes.tote.is_some() {
                out.push("tote");
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig { rng_seed: proptest::test_runner::RngSeed::Fixed(0x71c4), ..ProptestConfig::default() })]

        /// Any run of scans, right and wrong: a scan is taken exactly when it is the next the
        /// model wants, each accepted item scan removes as many wanted items as units it took,
        /// and the task is done exactly when nothing is wanted any more.
        #[test]
        fn scans_follow_the_model(qty in 1i64..5, into_tote: bool, scans in proptest::collection::vec((0usize..4, 0i64..4), 0..20)) {
            let codes = if into_tote { CODES } else { Codes { tote: None, ..CODES } };
            let barcodes = ["A-01-01", "00194502876550", "TOTE-0001", "garbage"];
            let kinds = ["location", "item", "tote", "garbage"];
            let mut t = task(qty, into_tote);
            for (which, n) in scans {
                let before = wants(&t, codes);
                match t.scan(codes, barcodes[which], n) {
                    Ok((effect, next)) => {
                        prop_assert_eq!(before.first().copied(), Some(kinds[which]));
                        let taken = match effect { Effect::Picked { qty } => qty as usize, _ => 1 };
                        prop_assert_eq!(wants(&next, codes).len() + taken, before.len());
                        t = next;
                    }
                    // Refused: not the scan wanted next, or the item with a quantity out of range.
                    Err(_) => prop_assert!(before.first().copied() != Some(kinds[which]) || (which == 1 && (n < 1 || n > t.left()))),
                }
                prop_assert!(t.picked <= t.qty);
                prop_assert_eq!(t.state == TaskState::Done, wants(&t, codes).is_empty());
            }
        }
    }
}
