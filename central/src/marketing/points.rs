//! Loyalty points as a lot ledger, pure: every earning is a lot with its own dates, and every
//! point that leaves says which lot it left from, so a balance is always the sum of its lots.
//!
//! - **Earned** when an order is delivered, a lot per order, **locked** until the order's
//!   return window closes (a return can still take it back; `unlock`) and **expiring** at the
//!   end of a period from then.
//! - **Redeemed** oldest-expiring first, from unlocked lots only, all or nothing.
//! - A cancelled or refunded redemption gives the points back to the lots they came from,
//!   with those lots' dates (a lot that expired meanwhile expires them again at once); a debt
//!   takes its part first.
//! - A **return claws back** what its order earned: from that order's lot while it holds
//!   them; what the customer already had the use of (spent, or used to pay an earlier debt)
//!   becomes a debt that the next earnings (or points given back) pay first — so the balance
//!   never goes below zero and nothing is clawed twice; points that expired are not owed.
//! - **Expiry** takes what is left of a lot at its date.
//!
//! `Ledger::check` states the invariants: every lot's earned points are what is left plus what
//! was redeemed, clawed back, paid to the debt and expired from it; what open redemptions took
//! of a lot is what it shows redeemed; the debt is what clawbacks raised less what was paid.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Most points one order earns or spends (a balance of many of them still fits an i64).
pub const MAX_POINTS: i64 = 1_000_000_000_000;

/// Why `points` asked to be spent on an order cannot be, if they cannot (out of range).
pub fn spend_problem(points: i64) -> Option<String> {
    (!(0..=MAX_POINTS).contains(&points)).then(|| format!("points: 0 to {MAX_POINTS}"))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lot {
    pub order_id: u64,
    pub earned: i64,
    pub earned_ms: i64,
    /// Not to be spent before (the order's return window).
    pub locked_until_ms: i64,
    pub expires_ms: i64,
    pub remaining: i64,
    pub redeemed: i64,
    /// Taken back from this lot by its order's return.
    pub clawed: i64,
    /// Used to pay the ledger's debt.
    pub paid_debt: i64,
    pub expired: i64,
    /// What its order's return could not take back from it: added to the debt.
    pub debt_raised: i64,
    /// The most of it its order's returns have asked back so far.
    pub returned_due: i64,
}

impl Lot {
    fn live(&self, now_ms: i64) -> bool {
        self.expires_ms > now_ms
    }
}

/// A redemption: the points it took from each lot (by the lot's order) and still holds,
/// what it took in all, and how many of them went back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redemption {
    pub id: u64,
    pub taken: Vec<(u64, i64)>,
    /// Every point went back.
    pub returned: bool,
    #[serde(default)]
    pub points: i64,
    #[serde(default)]
    pub given_back: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    /// By the order that earned them.
    pub lots: BTreeMap<u64, Lot>,
    pub redemptions: BTreeMap<u64, Redemption>,
    /// Clawed back points the customer had already had the use of: paid first out of what
    /// comes in next.
    pub debt: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PointsError {
    #[error("{0}")]
    Refused(String),
}

fn refuse<T>(why: String) -> Result<T, PointsError> {
    Err(PointsError::Refused(why))
}

impl Ledger {
    /// Points the customer holds (locked or not).
    pub fn balance(&self) -> i64 {
        self.lots.values().map(|l| l.remaining).sum()
    }

    /// Points the customer may spend at `now_ms`.
    pub fn available(&self, now_ms: i64) -> i64 {
        self.lots.values().filter(|l| l.locked_until_ms <= now_ms && l.live(now_ms)).map(|l| l.remaining).sum()
    }

    /// Points coming into `lot` (earned, or given back): the debt takes its part first.
    fn credit(debt: &mut i64, lot: &mut Lot, points: i64) {
        let paid = points.min(*debt);
        *debt -= paid;
        lot.paid_debt += paid;
        lot.remaining += points - paid;
    }

    /// Order `order_id` was delivered and earns `points`, locked until `locked_until_ms` and
    /// expiring at `expires_ms`. Once per order.
    pub fn earn(&mut self, order_id: u64, points: i64, now_ms: i64, locked_until_ms: i64, expires_ms: i64) -> Result<(), PointsError> {
        if !(1..=MAX_POINTS).contains(&points) || expires_ms <= locked_until_ms.max(now_ms) {
            return refuse(format!("order {order_id}: 1 to {MAX_POINTS} points, expiring after they unlock"));
        }
        if self.lots.contains_key(&order_id) {
            return refuse(format!("order {order_id} has earned its points already"));
        }
        let mut lot = Lot {
            order_id,
            earned: points,
            earned_ms: now_ms,
            locked_until_ms,
            expires_ms,
            remaining: 0,
            redeemed: 0,
            clawed: 0,
            paid_debt: 0,
            expired: 0,
            debt_raised: 0,
            returned_due: 0,
        };
        Self::credit(&mut self.debt, &mut lot, points);
        self.lots.insert(order_id, lot);
        Ok(())
    }

    /// Order `order_id`'s return window closed: its lot unlocks at `now_ms` and expires at
    /// `expires_ms`. False when it has no lot or it unlocked already.
    pub fn unlock(&mut self, order_id: u64, now_ms: i64, expires_ms: i64) -> Result<bool, PointsError> {
        if expires_ms <= now_ms {
            return refuse(format!("order {order_id}: points expire after they unlock"));
        }
        let Some(lot) = self.lots.get_mut(&order_id).filter(|l| l.locked_until_ms > now_ms) else { return Ok(false) };
        lot.locked_until_ms = now_ms;
        lot.expires_ms = expires_ms;
        Ok(true)
    }

    /// Spends `points` at `now_ms` from the unlocked lots that expire first (then the older),
    /// all or nothing.
    pub fn redeem(&mut self, id: u64, points: i64, now_ms: i64) -> Result<&Redemption, PointsError> {
        if points <= 0 || self.redemptions.contains_key(&id) {
            return refuse(format!("redemption {id}: a new redemption of a positive number of points"));
        }
        let available = self.available(now_ms);
        if points > available {
            return refuse(format!("{points} points asked, {available} available"));
        }
        let mut order: Vec<&mut Lot> = self.lots.values_mut().filter(|l| l.locked_until_ms <= now_ms && l.live(now_ms) && l.remaining > 0).collect();
        order.sort_by_key(|l| (l.expires_ms, l.earned_ms, l.order_id));
        let mut left = points;
        let mut taken = Vec::new();
        for lot in order {
            let n = left.min(lot.remaining);
            lot.remaining -= n;
            lot.redeemed += n;
            taken.push((lot.order_id, n));
            left -= n;
            if left == 0 {
                break;
            }
        }
        Ok(self.redemptions.entry(id).or_insert(Redemption { id, taken, returned: false, points, given_back: 0 }))
    }

    /// The redemption's order was cancelled or wholly refunded: all its points go back to
    /// their lots (`return_share` of the whole). Once.
    pub fn return_redemption(&mut self, id: u64, now_ms: i64) -> Result<(), PointsError> {
        match self.redemptions.get(&id) {
            None => refuse(format!("no redemption {id}")),
            Some(r) if r.returned => refuse(format!("redemption {id} was returned already")),
            Some(_) => self.return_share(id, 10_000, now_ms).map(|_| ()),
        }
    }

    /// `share_bp` of the redemption's order was refunded (counted from the whole order): that
    /// share of its points goes back to their lots — the lots expiring last first, paying the
    /// debt first, and expired again at once where a lot's date has passed. What went back
    /// before counts, so the same refund twice gives nothing more. Returns the points given
    /// back.
    pub fn return_share(&mut self, id: u64, share_bp: u32, now_ms: i64) -> Result<i64, PointsError> {
        let Some(r) = self.redemptions.get_mut(&id) else { return refuse(format!("no redemption {id}")) };
        let due = i64::try_from(i128::from(r.points) * i128::from(share_bp.min(10_000)) / 10_000).unwrap_or(0);
        let mut owed = (due - r.given_back).max(0);
        let given = owed;
        let mut back = Vec::new();
        for (order_id, n) in r.taken.iter_mut().rev() {
            let k = owed.min(*n);
            if k > 0 {
                *n -= k;
                owed -= k;
                back.push((*order_id, k));
            }
        }
        r.taken.retain(|(_, n)| *n > 0);
        r.given_back += given - owed;
        r.returned = r.given_back >= r.points;
        for (order_id, n) in back {
            let Some(lot) = self.lots.get_mut(&order_id) else { continue };
            lot.redeemed -= n;
            // The debt takes its part first; of the rest, what comes back to an expired lot
            // expires at once.
            let before = lot.remaining;
            Self::credit(&mut self.debt, lot, n);
            if !lot.live(now_ms) {
                let back = lot.remaining - before;
                lot.remaining = before;
                lot.expired += back;
            }
        }
        Ok(given - owed)
    }

    /// Order `order_id` was returned (`share_bp` of it, in basis points, counted from the
    /// whole order): that share of what it earned is taken back — from its lot while it holds
    /// them; what the customer had the use of (redeemed, or paid to the debt) becomes debt;
    /// what expired is not owed. What was taken back before counts, so returning the same
    /// units twice takes nothing more. Returns the points taken back.
    pub fn claw_back(&mut self, order_id: u64, share_bp: u32) -> i64 {
        let Some(lot) = self.lots.get_mut(&order_id) else { return 0 };
        let due = i64::try_from(i128::from(lot.earned) * i128::from(share_bp.min(10_000)) / 10_000).unwrap_or(0);
        let owed = (due - lot.returned_due).max(0);
        lot.returned_due = lot.returned_due.max(due);
        let from_lot = owed.min(lot.remaining);
        lot.remaining -= from_lot;
        lot.clawed += from_lot;
        let used = (lot.redeemed + lot.paid_debt - lot.debt_raised).max(0);
        let raised = (owed - from_lot).min(used);
        lot.debt_raised += raised;
        self.debt += raised;
        from_lot + raised
    }

    /// Lots whose date passed lose what is left of them; returns how many points expired.
    pub fn expire(&mut self, now_ms: i64) -> i64 {
        let mut gone = 0;
        for lot in self.lots.values_mut().filter(|l| !l.live(now_ms) && l.remaining > 0) {
            lot.expired += lot.remaining;
            gone += lot.remaining;
            lot.remaining = 0;
        }
        gone
    }

    /// The invariants (see the module's notes).
    pub fn check(&self) -> Result<(), String> {
        let mut open: BTreeMap<u64, i64> = BTreeMap::new();
        for r in self.redemptions.values() {
            if r.taken.iter().map(|(_, n)| n).sum::<i64>() + r.given_back != r.points || r.taken.iter().any(|(_, n)| *n <= 0) {
                return Err(format!("redemption {} does not add up: {r:?}", r.id));
            }
        }
        for r in self.redemptions.values().filter(|r| !r.returned) {
            for &(order_id, n) in &r.taken {
                *open.entry(order_id).or_default() += n;
            }
        }
        for lot in self.lots.values() {
            if [lot.remaining, lot.redeemed, lot.clawed, lot.paid_debt, lot.expired, lot.debt_raised].iter().any(|n| *n < 0) {
                return Err(format!("lot {} went negative: {lot:?}", lot.order_id));
            }
            if lot.remaining + lot.redeemed + lot.clawed + lot.paid_debt + lot.expired != lot.earned {
                return Err(format!("lot {} does not add up: {lot:?}", lot.order_id));
            }
            if lot.redeemed != open.get(&lot.order_id).copied().unwrap_or(0) {
                return Err(format!("lot {} shows {} redeemed, its open redemptions took {:?}", lot.order_id, lot.redeemed, open.get(&lot.order_id)));
            }
            if lot.clawed + lot.debt_raised > lot.returned_due || lot.returned_due > lot.earned {
                return Err(format!("lot {} had more taken back than it earned: {lot:?}", lot.order_id));
            }
        }
        let raised: i64 = self.lots.values().map(|l| l.debt_raised).sum();
        let paid: i64 = self.lots.values().map(|l| l.paid_debt).sum();
        if self.debt != raised - paid || self.debt < 0 {
            return Err(format!("the debt {} is not what clawbacks raised ({raised}) less what was paid ({paid})", self.debt));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    /// Earned on completion and locked through the return window; redeemed once unlocked,
    /// oldest-expiring first; a return takes back what its order earned (a debt for what was
    /// spent, paid by the next earnings); what is left expires at its date.
    #[test]
    fn earn_lock_redeem_claw_back_and_expire() {
        let mut l = Ledger::default();
        l.earn(1, 899, 0, 7 * DAY, 365 * DAY).expect("earned");
        assert_eq!((l.balance(), l.available(DAY)), (899, 0), "locked through the return window");
        assert!(l.redeem(10, 100, DAY).is_err(), "nothing to spend yet");
        l.earn(2, 500, 2 * DAY, 9 * DAY, 200 * DAY).expect("earned");
        let taken = l.redeem(11, 600, 10 * DAY).expect("redeemed").taken.clone();
        assert_eq!(taken, vec![(2, 500), (1, 100)], "the lot expiring first goes first");
        assert_eq!(l.claw_back(2, 10_000), 500, "order 2 returned: its 500 points, all spent, are owed");
        assert_eq!((l.debt, l.balance()), (500, 799));
        assert_eq!(l.claw_back(2, 10_000), 0, "the same return again takes nothing more");
        l.earn(3, 300, 20 * DAY, 27 * DAY, 385 * DAY).expect("earned");
        assert_eq!((l.debt, l.balance()), (200, 799), "the next earnings pay the debt first");
        l.return_redemption(11, 30 * DAY).expect("returned");
        assert_eq!((l.debt, l.balance()), (0, 1_199), "points given back pay the rest of the debt");
        assert_eq!(l.claw_back(1, 5_000), 449, "half of order 1 returned: half its points");
        assert_eq!(l.expire(199 * DAY), 0, "nothing expires before its date");
        assert_eq!(l.expire(365 * DAY), 450 + 300, "order 1's lot at its date, and the 300 given back to order 2's lot (at day 200)");
        assert_eq!(l.balance(), 0, "order 3 earned its points into the debt");
        l.check().expect("the ledger reconciles");
    }

    /// Points given back to an expired lot pay the debt before they expire: what would have
    /// lapsed anyway is not owed.
    #[test]
    fn a_debt_is_paid_by_points_given_back_even_to_an_expired_lot() {
        let mut l = Ledger::default();
        l.earn(1, 100, 0, 0, 10 * DAY).expect("earned");
        l.redeem(7, 100, DAY).expect("spent");
        assert_eq!(l.claw_back(1, 10_000), 100);
        assert_eq!(l.debt, 100);
        l.return_redemption(7, 20 * DAY).expect("given back");
        assert_eq!((l.debt, l.balance()), (0, 0));
        l.check().expect("reconciles");
    }

    /// A refunded share of an order gives back that share of the points it was paid with,
    /// to the lots expiring last first; the whole refund gives back the rest.
    #[test]
    fn a_partial_refund_gives_back_its_share_of_the_points() {
        let mut l = Ledger::default();
        l.earn(1, 100, 0, 0, 300 * DAY).expect("earned");
        l.earn(2, 500, 0, 0, 200 * DAY).expect("earned");
        assert_eq!(l.redeem(7, 600, DAY).expect("spent").taken, vec![(2, 500), (1, 100)]);
        assert_eq!(l.return_share(7, 5_000, DAY), Ok(300), "half the order refunded");
        assert_eq!((l.lots[&1].remaining, l.lots[&2].remaining), (100, 200), "the lot expiring last first");
        assert_eq!(l.return_share(7, 5_000, DAY), Ok(0), "the same half again gives nothing more");
        assert!(!l.redemptions[&7].returned);
        l.check().expect("reconciles");
        assert_eq!(l.return_share(7, 10_000, DAY), Ok(300));
        assert!(l.redemptions[&7].returned && l.return_redemption(7, DAY).is_err(), "all back: once");
        assert_eq!(l.balance(), 600);
        l.check().expect("reconciles");
    }

    #[test]
    fn bad_moves_are_refused_and_change_nothing() {
        let mut l = Ledger::default();
        l.earn(1, 100, 0, 0, DAY).expect("earned");
        let before = l.clone();
        assert!(l.earn(1, 100, 0, 0, DAY).is_err(), "once per order");
        assert!(l.earn(2, 0, 0, 0, DAY).is_err());
        assert!(l.earn(3, 10, 0, DAY, DAY).is_err(), "expiring before it unlocks");
        assert!(l.redeem(1, 101, 1).is_err(), "more than available");
        assert!(l.return_redemption(9, 1).is_err());
        assert_eq!(l, before);
        l.redeem(1, 40, 1).expect("redeemed");
        assert!(l.redeem(1, 10, 1).is_err(), "a redemption id once");
        l.return_redemption(1, 2).expect("returned");
        assert!(l.return_redemption(1, 2).is_err(), "returned once");
        assert_eq!(l.claw_back(99, 10_000), 0, "an order that earned nothing");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        #[derive(Debug, Clone)]
        enum Move {
            Earn { order: u64, points: i64, lock_days: i64, life_days: i64 },
            Redeem { points: i64 },
            Return { nth: usize },
            ReturnShare { nth: usize, share_bp: u32 },
            ClawBack { order: u64, share_bp: u32 },
            Expire,
            Unlock { order: u64, life_days: i64 },
            Wait { days: i64 },
        }

        fn moves() -> impl Strategy<Value = Move> {
            prop_oneof![
                (0u64..8, 1i64..1_000, 0i64..10, 1i64..60).prop_map(|(order, points, lock_days, life_days)| Move::Earn { order, points, lock_days, life_days }),
                (1i64..800).prop_map(|points| Move::Redeem { points }),
                (0usize..10).prop_map(|nth| Move::Return { nth }),
                (0usize..10, 0u32..=10_000).prop_map(|(nth, share_bp)| Move::ReturnShare { nth, share_bp }),
                (0u64..8, 0u32..=10_000).prop_map(|(order, share_bp)| Move::ClawBack { order, share_bp }),
                Just(Move::Expire),
                (0u64..8, 1i64..60).prop_map(|(order, life_days)| Move::Unlock { order, life_days }),
                (0i64..20).prop_map(|days| Move::Wait { days }),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 512, rng_seed: proptest::test_runner::RngSeed::Fixed(0x9017), ..ProptestConfig::default() })]

            /// After any sequence of moves every lot adds up, the balance is its lots'
            /// remainders, never negative, and what is available never more than that.
            #[test]
            fn every_balance_reconciles_with_its_lots(moves in proptest::collection::vec(moves(), 0..60)) {
                let mut l = Ledger::default();
                let (mut now, mut next_id) = (0i64, 0u64);
                for m in moves {
                    match m {
                        Move::Earn { order, points, lock_days, life_days } => {
                            let _ = l.earn(order, points, now, now + lock_days * DAY, now + (lock_days + life_days) * DAY);
                        }
                        Move::Redeem { points } => {
                            let before = l.available(now);
                            let done = l.redeem(next_id, points, now).is_ok();
                            prop_assert_eq!(done, points <= before);
                            next_id += 1;
                        }
                        Move::Return { nth } => {
                            if let Some(&id) = l.redemptions.keys().nth(nth) {
                                let _ = l.return_redemption(id, now);
                            }
                        }
                        Move::ReturnShare { nth, share_bp } => {
                            if let Some(&id) = l.redemptions.keys().nth(nth) {
                                let r = l.redemptions[&id].clone();
                                let back = l.return_share(id, share_bp, now).expect("a known redemption");
                                let due = r.points * i64::from(share_bp) / 10_000;
                                prop_assert_eq!(back, (due - r.given_back).max(0), "a share gives back what it is due beyond what went back before");
                                prop_assert!(l.redemptions[&id].given_back <= r.points);
                            }
                        }
                        Move::ClawBack { order, share_bp } => {
                            let balance = l.balance();
                            let taken = l.claw_back(order, share_bp);
                            prop_assert!(taken >= 0 && l.balance() <= balance);
                        }
                        Move::Expire => {
                            l.expire(now);
                        }
                        Move::Unlock { order, life_days } => {
                            let available = l.available(now);
                            l.unlock(order, now, now + life_days * DAY).expect("a valid date");
                            prop_assert!(l.available(now) >= available, "unlocking never takes points away");
                        }
                        Move::Wait { days } => now += days * DAY,
                    }
                    prop_assert_eq!(l.check(), Ok(()));
                    prop_assert!(l.balance() >= 0 && l.available(now) <= l.balance());
                }
            }
        }
    }
}
