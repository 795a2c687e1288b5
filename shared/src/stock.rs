//! Central's view of one SKU in one warehouse, and the only ways it may change.
//!
//! `on_hand` is what the warehouse physically holds, as its edge reports it. `locked` is held
//! for orders awaiting payment; `committed` is paid for but not yet shipped. What can still be
//! sold is `on_hand - locked - committed`. The flow is: lock on order → commit on payment
//! (the lock becomes a deduction) → release on cancel → ship (on hand and commitment fall
//! together) → restock on return. Every method either applies fully or returns an error and
//! leaves the level untouched, so the store can run it inside its transaction.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StockLevel {
    pub on_hand: i64,
    pub locked: i64,
    pub committed: i64,
    /// Of `on_hand`, units the warehouse froze (a quality hold, a recall, a count): not
    /// sellable until it lifts the freeze. Set by the warehouse, never by these rules.
    #[serde(default)]
    pub frozen: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StockError {
    #[error("only {sellable} sellable, {wanted} wanted")]
    Insufficient { sellable: i64, wanted: i64 },
    #[error("{what} would become negative ({have} held, {wanted} to remove)")]
    Underflow { what: &'static str, have: i64, wanted: i64 },
    /// A counter past `MAX_UNITS`, or a change larger than one count can make: refused before
    /// any arithmetic can wrap.
    #[error("{what} cannot change by {delta} (at most {max} units a change, {total} in all)", max = MAX_CHANGE, total = MAX_UNITS)]
    OutOfRange { what: &'static str, delta: i64 },
}

/// Most units one adjustment may add or remove (a count, a damage, a find).
pub const MAX_CHANGE: i64 = 1_000_000;
/// Most units any counter of one SKU in one warehouse may hold.
pub const MAX_UNITS: i64 = 1_000_000_000_000;

/// One change of one counter, as the ledger records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Movement {
    pub field: StockField,
    pub delta: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StockField {
    OnHand,
    Locked,
    Committed,
}

impl StockField {
    pub fn as_str(self) -> &'static str {
        match self {
            StockField::OnHand => "on_hand",
            StockField::Locked => "locked",
            StockField::Committed => "committed",
        }
    }
}

impl StockLevel {
    pub fn sellable(&self) -> i64 {
        self.on_hand - self.locked - self.committed - self.frozen
    }

    /// Reserves `qty` for an order awaiting payment. Never oversells.
    pub fn lock(&mut self, qty: i64) -> Result<Vec<Movement>, StockError> {
        if self.sellable() < qty {
            return Err(StockError::Insufficient { sellable: self.sellable().max(0), wanted: qty });
        }
        self.locked += qty;
        Ok(vec![mv(StockField::Locked, qty)])
    }

    /// Payment arrived: the lock becomes a deduction awaiting shipment.
    pub fn commit_lock(&mut self, qty: i64) -> Result<Vec<Movement>, StockError> {
        check_has("locked", self.locked, qty)?;
        self.locked -= qty;
        self.committed += qty;
        Ok(vec![mv(StockField::Locked, -qty), mv(StockField::Committed, qty)])
    }

    /// A paid order moves here from another warehouse (re-routing): commit directly.
    pub fn commit_direct(&mut self, qty: i64) -> Result<Vec<Movement>, StockError> {
        if self.sellable() < qty {
            return Err(StockError::Insufficient { sellable: self.sellable().max(0), wanted: qty });
        }
        self.committed += qty;
        Ok(vec![mv(StockField::Committed, qty)])
    }

    /// Unpaid order cancelled or timed out.
    pub fn release_lock(&mut self, qty: i64) -> Result<Vec<Movement>, StockError> {
        check_has("locked", self.locked, qty)?;
        self.locked -= qty;
        Ok(vec![mv(StockField::Locked, -qty)])
    }

    /// Paid order cancelled before shipment, or moved away from this warehouse.
    pub fn release_commitment(&mut self, qty: i64) -> Result<Vec<Movement>, StockError> {
        check_has("committed", self.committed, qty)?;
        self.committed -= qty;
        Ok(vec![mv(StockField::Committed, -qty)])
    }

    /// The parcel left the building: the goods and their commitment go together.
    pub fn ship(&mut self, qty: i64) -> Result<Vec<Movement>, StockError> {
        check_has("committed", self.committed, qty)?;
        check_has("on_hand", self.on_hand, qty)?;
        self.committed -= qty;
        self.on_hand -= qty;
        Ok(vec![mv(StockField::OnHand, -qty), mv(StockField::Committed, -qty)])
    }

    /// Goods arrived (receipt, return restock, count gain) or left (damage, count loss).
    /// The edge is the authority on physical stock, so on hand may drop below what is
    /// reserved; `overcommitted()` tells the caller that orders must be re-routed.
    pub fn adjust_on_hand(&mut self, delta: i64) -> Result<Vec<Movement>, StockError> {
        let after = self.on_hand.checked_add(delta).filter(|_| delta.unsigned_abs() <= MAX_CHANGE as u64);
        if after.is_none_or(|after| after > MAX_UNITS) {
            return Err(StockError::OutOfRange { what: "on_hand", delta });
        }
        if self.on_hand + delta < 0 {
            return Err(StockError::Underflow { what: "on_hand", have: self.on_hand, wanted: -delta });
        }
        self.on_hand += delta;
        Ok(vec![mv(StockField::OnHand, delta)])
    }

    /// Units reserved beyond what is physically there.
    pub fn overcommitted(&self) -> i64 {
        (-self.sellable()).max(0)
    }
}

fn mv(field: StockField, delta: i64) -> Movement {
    Movement { field, delta }
}

fn check_has(what: &'static str, have: i64, wanted: i64) -> Result<(), StockError> {
    if have < wanted {
        Err(StockError::Underflow { what, have, wanted })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_story_lock_commit_ship_leaves_eleven_on_hand_and_eleven_sellable() {
        let mut s = StockLevel { on_hand: 12, ..Default::default() };
        s.lock(1).expect("lock");
        assert_eq!(s.sellable(), 11);
        s.commit_lock(1).expect("commit");
        assert_eq!(s.sellable(), 11);
        s.ship(1).expect("ship");
        assert_eq!(s, StockLevel { on_hand: 11, locked: 0, committed: 0, frozen: 0 });
    }

    #[test]
    fn a_lock_beyond_sellable_is_refused_and_changes_nothing() {
        let mut s = StockLevel { on_hand: 2, locked: 1, committed: 1, frozen: 0 };
        let before = s;
        assert!(s.lock(1).is_err());
        assert_eq!(s, before);
    }

    #[test]
    fn frozen_units_are_on_hand_but_never_locked_or_sold() {
        let mut s = StockLevel { on_hand: 10, locked: 3, committed: 0, frozen: 6 };
        assert_eq!(s.sellable(), 1);
        assert!(matches!(s.lock(2), Err(StockError::Insufficient { sellable: 1, wanted: 2 })));
        assert!(s.commit_direct(2).is_err(), "a paid order may not take frozen units either");
        s.lock(1).expect("the one sellable unit");
        s.frozen = 0;
        assert_eq!((s.sellable(), s.on_hand), (6, 10), "lifted: sellable again, nothing moved");
    }
}
