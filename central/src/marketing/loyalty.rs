//! Membership and points against the store (`members.rs` and `points.rs` hold the rules).
//!
//! - A customer's **tier** follows the spend the journal shows (paid less refunded, per UTC
//!   day): the marketing consumer moves it up at once, the sweep moves it at each period's end.
//! - **Points** are earned when an order is delivered, locked until it completes (its return
//!   window closed with nothing open), spent at checkout in the order's own transaction, given
//!   back when the order is cancelled, closed unpaid or wholly refunded, clawed back by refunds
//!   after delivery, and expired by the sweep.
//!
//! Every change to a ledger is journalled with what it is worth at the policy's point value, so
//! finance keeps the points liability: Σ (points held − points owed) × value.

use super::members::{Member, Membership, YEAR_MS};
use super::points::Ledger;
use super::{store, MarketingError};
use crate::db::{DbError, DbResult, Tx};
use crate::journal::{self, BusinessEvent};

/// Days since 1970 (UTC) of a moment.
fn day(at_ms: i64) -> i64 {
    at_ms.div_euclid(super::members::DAY_MS)
}

/// The customer's spend over the 12 months up to `at_ms`.
fn spend_12m(tx: &mut dyn Tx, customer: &str, at_ms: i64) -> DbResult<i64> {
    store::spend_between(tx, customer, day(at_ms) - 365, day(at_ms))
}

fn member_of(policy: &Membership, row: Option<store::MemberRow>) -> Member {
    row.map_or(Member::default(), |r| Member { tier: policy.rank(&r.tier).unwrap_or(0), held: policy.rank(&r.held).unwrap_or(0), since_ms: r.since_ms, review_ms: r.review_ms })
}

/// The customer's tier as of `now_ms` (periods ended by then reviewed), read only.
pub fn tier_of(tx: &mut dyn Tx, policy: &Membership, customer: &str, now_ms: i64) -> DbResult<Member> {
    let m = member_of(policy, store::member(tx, customer, false)?);
    reviewed(tx, policy, customer, m, now_ms)
}

fn reviewed(tx: &mut dyn Tx, policy: &Membership, customer: &str, m: Member, now_ms: i64) -> DbResult<Member> {
    let Some(review) = m.review_ms.filter(|r| *r <= now_ms) else { return Ok(m) };
    // Each period end asks the spend of the 12 months before it; they are few (one a year).
    let mut spends = Vec::new();
    let mut at = review;
    while at <= now_ms {
        spends.push((at, spend_12m(tx, customer, at)?));
        at = at.saturating_add(YEAR_MS);
    }
    Ok(policy.reviewed(m, |t| spends.iter().find(|(at, _)| *at == t).map_or(0, |(_, s)| *s), now_ms))
}

/// Keeps the new standing and journals a change of tier.
fn settle(tx: &mut dyn Tx, policy: &Membership, customer: &str, before: Member, after: Member, now_ms: i64) -> DbResult<()> {
    if before == after {
        return Ok(());
    }
    let row = store::MemberRow { tier: policy.name(after.tier).to_owned(), held: policy.name(after.held).to_owned(), since_ms: after.since_ms, review_ms: after.review_ms };
    store::put_member(tx, customer, &row, now_ms)?;
    if before.tier != after.tier {
        let event = BusinessEvent::MemberTierChanged { customer: customer.to_owned(), from: policy.name(before.tier).to_owned(), to: policy.name(after.tier).to_owned() };
        journal::store::append(tx, &event, now_ms)?;
    }
    Ok(())
}

/// The customer paid (or, negative, was refunded) `amount` at `at_ms`, counted on the day the
/// money was paid (`paid_ms`: a refund comes off the day of its payment, so it leaves the
/// 12-month window with it): a tier the spend reaches takes effect at once; a refund undoes an
/// upgrade of this period the spend no longer reaches.
pub fn spent(tx: &mut dyn Tx, customer: &str, amount: i64, paid_ms: i64, at_ms: i64) -> DbResult<()> {
    let policy = store::policy(tx)?.membership;
    store::add_spend(tx, customer, day(paid_ms), amount)?;
    let before = member_of(&policy, store::member(tx, customer, true)?);
    let current = reviewed(tx, &policy, customer, before, at_ms)?;
    let spend = spend_12m(tx, customer, at_ms)?;
    let after = if amount < 0 { policy.after_refund(current, spend) } else { policy.after_spend(current, spend, at_ms) };
    settle(tx, &policy, customer, before, after, at_ms)
}

/// Reviews the tiers whose period ended by `now_ms` (at most `limit`); returns how many.
pub fn review_due(tx: &mut dyn Tx, now_ms: i64, limit: u32) -> DbResult<u32> {
    let policy = store::policy(tx)?.membership;
    let due = store::members_due(tx, now_ms, limit)?;
    for customer in &due {
        let before = member_of(&policy, store::member(tx, customer, true)?);
        let after = reviewed(tx, &policy, customer, before, now_ms)?;
        settle(tx, &policy, customer, before, after, now_ms)?;
    }
    Ok(due.len() as u32)
}

fn value(policy: &Membership, points: i64) -> i64 {
    points.saturating_mul(policy.point_value)
}

/// A lot that waits for its order to complete: it unlocks (and starts to age) then.
const UNTIL_COMPLETED: i64 = i64::MAX - 1;

/// Order `order_id` was delivered at `at_ms`: it earns points on what it paid less what was
/// refunded, at its customer's tier then, locked until it completes. Once per order.
pub fn earn(tx: &mut dyn Tx, order_id: u64, at_ms: i64) -> DbResult<()> {
    let Some(order) = store::order_money(tx, order_id)? else { return Ok(()) };
    if order.earned_on.is_some() {
        return Ok(());
    }
    let policy = store::policy(tx)?.membership;
    let base = order.paid - order.refunded;
    let tier = tier_of(tx, &policy, &order.customer, at_ms)?.tier;
    let points = policy.points_for(tier, base);
    store::set_order_earned(tx, order_id, base, order.refunded)?;
    if points <= 0 {
        return Ok(());
    }
    let mut ledger = store::points_for_update(tx, &order.customer, at_ms)?;
    ledger.earn(order_id, points, at_ms, UNTIL_COMPLETED, i64::MAX).map_err(|e| DbError::corrupt(e.to_string()))?;
    store::save_points(tx, &order.customer, &ledger, at_ms)?;
    journal::store::append(tx, &BusinessEvent::PointsEarned { customer: order.customer, order_id, points, value: value(&policy, points) }, at_ms)
}

/// The customer's ledger, locked, when `wanted` says the unlocked read of it has something to
/// change (most orders earned or spent no points: they take no lock and create no row).
fn locked_if(tx: &mut dyn Tx, customer: &str, now_ms: i64, wanted: impl Fn(&Ledger) -> bool) -> DbResult<Option<Ledger>> {
    if !wanted(&store::points(tx, customer)?) {
        return Ok(None);
    }
    store::points_for_update(tx, customer, now_ms).map(Some)
}

/// Order `order_id` completed at `at_ms`: its points unlock and live for the policy's days.
pub fn unlock(tx: &mut dyn Tx, order_id: u64, at_ms: i64) -> DbResult<()> {
    let Some(order) = store::order_money(tx, order_id)? else { return Ok(()) };
    let Some(mut ledger) = locked_if(tx, &order.customer, at_ms, |l| l.lots.get(&order_id).is_some_and(|l| l.locked_until_ms > at_ms))? else { return Ok(()) };
    let policy = store::policy(tx)?.membership;
    let expires = at_ms.saturating_add(i64::from(policy.points_life_days) * super::members::DAY_MS);
    if ledger.unlock(order_id, at_ms, expires).map_err(|e| DbError::corrupt(e.to_string()))? {
        store::save_points(tx, &order.customer, &ledger, at_ms)?;
    }
    Ok(())
}

/// A refund of `amount` on order `order_id` at `at_ms`: its spend falls; after its points were
/// earned, that share of them is clawed back; the points it was paid with come back in the
/// share the money did. Returns whether everything the order paid has come back.
pub fn refunded(tx: &mut dyn Tx, order_id: u64, amount: i64, at_ms: i64) -> DbResult<bool> {
    let Some(mut order) = store::order_money(tx, order_id)? else { return Ok(false) };
    // Never more than the order paid (money beyond it was set aside by the caller).
    let amount = amount.min(order.paid - order.refunded);
    if amount <= 0 {
        return Ok(false);
    }
    store::add_order_refund(tx, order_id, amount)?;
    order.refunded += amount;
    let whole = order.refunded >= order.paid;
    spent(tx, &order.customer, -amount, order.paid_ms, at_ms)?;
    let touched = |l: &Ledger| l.lots.contains_key(&order_id) || l.redemptions.contains_key(&order_id);
    let Some(mut ledger) = locked_if(tx, &order.customer, at_ms, touched)? else { return Ok(whole) };
    let policy = store::policy(tx)?.membership;
    let mut events = Vec::new();
    if let Some(base) = order.earned_on.filter(|b| *b > 0) {
        let share = i128::from(order.refunded - order.refunded_at_earn) * 10_000 / i128::from(base);
        let taken = ledger.claw_back(order_id, u32::try_from(share.clamp(0, 10_000)).unwrap_or(10_000));
        if taken > 0 {
            events.push(BusinessEvent::PointsClawedBack { customer: order.customer.clone(), order_id, points: taken, value: value(&policy, taken) });
        }
    }
    // The points it was paid with come back in the share of the money that did.
    let refunded_bp = i128::from(order.refunded) * 10_000 / i128::from(order.paid.max(1));
    events.extend(give_back_from(&mut ledger, &policy, &order.customer, order_id, u32::try_from(refunded_bp.clamp(0, 10_000)).unwrap_or(10_000), at_ms));
    if !events.is_empty() {
        store::save_points(tx, &order.customer, &ledger, at_ms)?;
        journal::store::append_many(tx, &events, at_ms)?;
    }
    Ok(whole)
}

/// The events of giving back `share_bp` of order `order_id`'s redemption (counted from the
/// whole), if it has one still out: the points back, and those that came back to lots past
/// their date expired at once.
fn give_back_from(ledger: &mut Ledger, policy: &Membership, customer: &str, order_id: u64, share_bp: u32, now_ms: i64) -> Vec<BusinessEvent> {
    if ledger.redemptions.get(&order_id).is_none_or(|r| r.returned) {
        return Vec::new();
    }
    let expired_before: i64 = ledger.lots.values().map(|l| l.expired).sum();
    let points = match ledger.return_share(order_id, share_bp, now_ms) {
        Ok(points) if points > 0 => points,
        _ => return Vec::new(),
    };
    let expired = ledger.lots.values().map(|l| l.expired).sum::<i64>() - expired_before;
    let mut events = vec![BusinessEvent::PointsReturned { customer: customer.to_owned(), order_id, points, value: value(policy, points) }];
    if expired > 0 {
        events.push(BusinessEvent::PointsExpired { customer: customer.to_owned(), points: expired, value: value(policy, expired) });
    }
    events
}

/// The order ended unpaid or cancelled: the points it was paid with come back. In the
/// transaction that ends it.
pub fn give_back(tx: &mut dyn Tx, order_id: u64, customer: Option<&str>, now_ms: i64) -> DbResult<()> {
    let Some(customer) = customer else { return Ok(()) };
    let Some(mut ledger) = locked_if(tx, customer, now_ms, |l| l.redemptions.get(&order_id).is_some_and(|r| !r.returned))? else { return Ok(()) };
    let policy = store::policy(tx)?.membership;
    let events = give_back_from(&mut ledger, &policy, customer, order_id, 10_000, now_ms);
    if !events.is_empty() {
        store::save_points(tx, customer, &ledger, now_ms)?;
        journal::store::append_many(tx, &events, now_ms)?;
    }
    Ok(())
}

/// The order pays `points` of its price with the customer's points, in its own transaction —
/// refused (rolled back by the caller) when they no longer have them.
pub fn redeem(tx: &mut dyn Tx, policy: &Membership, customer: &str, order_id: u64, points: i64, now_ms: i64) -> Result<(), MarketingError> {
    let mut ledger = store::points_for_update(tx, customer, now_ms)?;
    ledger.redeem(order_id, points, now_ms).map_err(|e| MarketingError::PointsShort(format!("customer {customer}: {e}")))?;
    store::save_points(tx, customer, &ledger, now_ms)?;
    let event = BusinessEvent::PointsRedeemed { customer: customer.to_owned(), order_id, points, value: value(policy, points) };
    journal::store::append(tx, &event, now_ms)?;
    Ok(())
}

/// Expires the points whose date came by `now_ms`, for at most `limit` customers; returns how
/// many customers lost points.
pub fn expire_due(tx: &mut dyn Tx, now_ms: i64, limit: u32) -> DbResult<u32> {
    let policy = store::policy(tx)?.membership;
    let due = store::points_due(tx, now_ms, limit)?;
    for customer in &due {
        let mut ledger = store::points_for_update(tx, customer, now_ms)?;
        let gone = ledger.expire(now_ms);
        store::save_points(tx, customer, &ledger, now_ms)?;
        if gone > 0 {
            journal::store::append(tx, &BusinessEvent::PointsExpired { customer: customer.clone(), points: gone, value: value(&policy, gone) }, now_ms)?;
        }
    }
    Ok(due.len() as u32)
}

/// A customer's standing: tier, spend and points.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Standing {
    pub customer: String,
    pub tier: String,
    pub since_ms: i64,
    /// When the tier is reviewed next (none at the base tier).
    pub review_ms: Option<i64>,
    /// Paid less refunded over the last 12 months, minor units.
    pub spend_12m: i64,
    /// Points held, locked or not.
    pub points: i64,
    /// Points that may be spent now.
    pub available: i64,
    /// Points owed (clawed back after they were spent): paid first from what comes in.
    pub debt: i64,
    pub lots: Vec<LotView>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct LotView {
    pub order_id: u64,
    pub earned: i64,
    pub remaining: i64,
    /// Until the order completes: none.
    pub unlocked_ms: Option<i64>,
    pub expires_ms: Option<i64>,
}

pub fn standing(tx: &mut dyn Tx, customer: &str, now_ms: i64) -> Result<Standing, MarketingError> {
    let policy = store::policy(tx)?.membership;
    let m = tier_of(tx, &policy, customer, now_ms)?;
    let ledger = store::points(tx, customer)?;
    let spend = spend_12m(tx, customer, now_ms)?;
    if store::member(tx, customer, false)?.is_none() && ledger.lots.is_empty() && store::profile(tx, customer)?.is_none() {
        return Err(MarketingError::NotFound(format!("customer {customer}")));
    }
    let known = |ms: i64| (ms < UNTIL_COMPLETED).then_some(ms);
    let lots = ledger
        .lots
        .values()
        .filter(|l| l.remaining > 0 || l.locked_until_ms > now_ms)
        .map(|l| LotView { order_id: l.order_id, earned: l.earned, remaining: l.remaining, unlocked_ms: known(l.locked_until_ms), expires_ms: known(l.expires_ms) })
        .collect();
    Ok(Standing {
        customer: customer.to_owned(),
        tier: policy.name(m.tier).to_owned(),
        since_ms: m.since_ms,
        review_ms: m.review_ms,
        spend_12m: spend,
        points: ledger.balance(),
        available: ledger.available(now_ms),
        debt: ledger.debt,
        lots,
    })
}
