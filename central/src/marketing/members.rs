//! Membership, pure: tiers by rolling 12-month spend — an upgrade takes effect at once, a
//! downgrade only at the end of the member's 12-month period — and what a tier earns in points
//! and what points are worth at checkout.
//!
//! A member's period starts when they reach a tier above the base. At its end the tier is what
//! the spend of the 12 months ending then earns (down, the same, or up) and, above the base, a
//! new period starts; the base tier has no period. Member prices are promotions that name the
//! lowest tier they are for (`Promotion::tier`).

use serde::{Deserialize, Serialize};

pub use tote_shared::calendar::DAY_MS;
/// The period a tier is held for, and the window its spend is counted over.
pub const YEAR_MS: i64 = 365 * DAY_MS;
/// Most tiers a policy has.
pub const MAX_TIERS: usize = 10;

/// One tier: reached at `min_spend` (minor units, paid less refunded, over 12 months).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TierRule {
    #[schema(pattern = "^[A-Za-z0-9_-]{1,40}$")]
    pub name: String,
    #[schema(minimum = 0)]
    pub min_spend: i64,
    /// Points earned per ¥1 paid, in basis points (10000: one point a yuan).
    #[schema(maximum = 1000000)]
    pub earn_bp: u32,
}

/// Tiers, and how points are earned and spent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Membership {
    /// By `min_spend`, rising; the first (`min_spend` 0) is every customer's.
    #[schema(min_items = 1, max_items = 10)]
    pub tiers: Vec<TierRule>,
    /// What one point takes off an order, minor units.
    #[schema(minimum = 1, maximum = 10000)]
    pub point_value: i64,
    /// The most of an order's payable points may pay, basis points (at most 90 %: an order
    /// always leaves something for a payment channel to take).
    #[schema(maximum = 9000)]
    pub points_max_share_bp: u32,
    /// Days a lot of points lives once it unlocks.
    #[schema(minimum = 1, maximum = 3650)]
    pub points_life_days: u32,
}

impl Default for Membership {
    fn default() -> Self {
        let tier = |name: &str, min_spend, earn_bp| TierRule { name: name.into(), min_spend, earn_bp };
        Membership {
            tiers: vec![tier("member", 0, 10_000), tier("silver", 200_000, 12_000), tier("gold", 1_000_000, 15_000)],
            point_value: 1,
            points_max_share_bp: 5_000,
            points_life_days: 365,
        }
    }
}

/// A customer's standing: their tier (an index into the policy's tiers) since when, and when it
/// is reviewed next (none at the base tier); `held`: the tier their last review left them, which
/// a refund never takes them below.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Member {
    pub tier: usize,
    pub held: usize,
    pub since_ms: i64,
    pub review_ms: Option<i64>,
}

impl Membership {
    pub fn problem(&self) -> Option<String> {
        if self.tiers.is_empty() || self.tiers.len() > MAX_TIERS || self.tiers[0].min_spend != 0 {
            return Some(format!("membership.tiers: 1 to {MAX_TIERS}, the first from a spend of 0"));
        }
        if self.tiers.windows(2).any(|w| w[1].min_spend <= w[0].min_spend) || self.tiers.iter().any(|t| !super::plain(&t.name) || t.earn_bp > 1_000_000) {
            return Some("membership.tiers: rising min_spend, names of 1 to 40 letters, digits, '-' or '_', earn_bp at most 1000000".into());
        }
        if self.tiers.iter().enumerate().any(|(i, t)| self.tiers[..i].iter().any(|o| o.name == t.name)) {
            return Some("membership.tiers: each name once".into());
        }
        if !(1..=10_000).contains(&self.point_value) || self.points_max_share_bp > 9_000 || !(1..=3650).contains(&self.points_life_days) {
            return Some("membership: point_value 1 to 10000, points_max_share_bp at most 9000, points_life_days 1 to 3650".into());
        }
        None
    }

    /// The highest tier `spend` reaches.
    pub fn tier_for(&self, spend: i64) -> usize {
        self.tiers.iter().rposition(|t| spend >= t.min_spend).unwrap_or(0)
    }

    /// The tier named `name`, if the policy has it.
    pub fn rank(&self, name: &str) -> Option<usize> {
        self.tiers.iter().position(|t| t.name == name)
    }

    pub fn name(&self, tier: usize) -> &str {
        self.tiers.get(tier).map_or("", |t| t.name.as_str())
    }

    /// The member's 12-month spend moved to `spend_12m` at `now_ms`: a higher tier takes effect
    /// at once and starts a new period; a lower one waits for the period's end.
    pub fn after_spend(&self, m: Member, spend_12m: i64, now_ms: i64) -> Member {
        let reached = self.tier_for(spend_12m);
        if reached > m.tier {
            Member { tier: reached, held: m.held, since_ms: now_ms, review_ms: Some(now_ms.saturating_add(YEAR_MS)) }
        } else {
            m
        }
    }

    /// Money came back (a refund) and the 12-month spend fell to `spend_12m`: a tier reached by
    /// an upgrade this period that the spend no longer reaches is undone, down to the tier the
    /// last review left (a paid-then-cancelled order lifts nobody for a year).
    pub fn after_refund(&self, m: Member, spend_12m: i64) -> Member {
        let tier = self.tier_for(spend_12m).max(m.held);
        if tier < m.tier {
            Member { tier, review_ms: (tier > 0).then_some(m.review_ms).flatten(), ..m }
        } else {
            m
        }
    }

    /// The member as of `now_ms`: each period that ended by then sets the tier to what the 12
    /// months ending then earned (`spend_at(t)`: the spend of the 12 months up to `t`).
    pub fn reviewed(&self, mut m: Member, spend_at: impl Fn(i64) -> i64, now_ms: i64) -> Member {
        while let Some(review) = m.review_ms.filter(|r| *r <= now_ms) {
            let tier = self.tier_for(spend_at(review));
            if tier != m.tier {
                m.since_ms = review;
            }
            (m.tier, m.held) = (tier, tier);
            m.review_ms = (tier > 0).then(|| review.saturating_add(YEAR_MS));
        }
        m
    }

    /// Points an order paying `paid` (minor units) earns at `tier`: whole points, rounded down.
    pub fn points_for(&self, tier: usize, paid: i64) -> i64 {
        let bp = self.tiers.get(tier).map_or(0, |t| i128::from(t.earn_bp));
        i64::try_from(i128::from(paid.max(0)) * bp / 1_000_000).unwrap_or(super::points::MAX_POINTS).min(super::points::MAX_POINTS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spend at each moment: (from_ms, 12-month spend from then).
    fn spend(steps: &'static [(i64, i64)]) -> impl Fn(i64) -> i64 {
        move |t| steps.iter().rev().find(|(from, _)| *from <= t).map_or(0, |(_, s)| *s)
    }

    #[test]
    fn an_upgrade_is_at_once_and_a_downgrade_waits_for_the_period_end() {
        let policy = Membership::default();
        let m = Member::default();
        let m = policy.after_spend(m, 150_000, 10 * DAY_MS);
        assert_eq!(m.tier, 0, "¥1,500 in 12 months: still a member");
        let m = policy.after_spend(m, 250_000, 20 * DAY_MS);
        assert_eq!((m.tier, m.since_ms, m.review_ms), (1, 20 * DAY_MS, Some(20 * DAY_MS + YEAR_MS)), "silver at once");
        let m = policy.after_spend(m, 50_000, 200 * DAY_MS);
        assert_eq!(m.tier, 1, "the spend fell (a refund, or old orders leaving the window): silver still");
        // At the period's end the 12 months ending then decide: ¥500 — a member again.
        let m = policy.reviewed(m, spend(&[(0, 250_000), (300 * DAY_MS, 50_000)]), 400 * DAY_MS);
        assert_eq!((m.tier, m.since_ms, m.review_ms), (0, 20 * DAY_MS + YEAR_MS, None));
    }

    #[test]
    fn a_period_ending_at_the_same_tier_starts_another_and_an_upgrade_starts_a_new_one() {
        let policy = Membership::default();
        let m = policy.after_spend(Member::default(), 1_200_000, 0);
        assert_eq!(m.tier, 2, "straight to gold");
        let kept = policy.reviewed(m, spend(&[(0, 1_200_000)]), YEAR_MS + DAY_MS);
        assert_eq!((kept.tier, kept.since_ms, kept.review_ms), (2, 0, Some(2 * YEAR_MS)), "gold again for another year");
        let two_years = policy.reviewed(m, spend(&[(0, 1_200_000), (YEAR_MS + 1, 300_000)]), 2 * YEAR_MS + 1);
        assert_eq!((two_years.tier, two_years.review_ms), (1, Some(3 * YEAR_MS)), "each period ended in turn: gold, then silver");
    }

    #[test]
    fn a_refund_undoes_an_upgrade_of_this_period_but_never_goes_below_what_the_review_left() {
        let policy = Membership::default();
        let silver = policy.after_spend(Member::default(), 250_000, 0);
        assert_eq!(policy.after_refund(silver, 50_000).tier, 0, "paid, lifted, refunded: back to member");
        assert_eq!(policy.after_refund(silver, 210_000), silver, "still reaches silver");
        let kept = policy.reviewed(silver, spend(&[(0, 250_000)]), YEAR_MS);
        assert_eq!((kept.tier, kept.held), (1, 1), "the review left silver");
        let gold = policy.after_spend(kept, 1_100_000, YEAR_MS + DAY_MS);
        let refunded = policy.after_refund(gold, 300_000);
        assert_eq!((refunded.tier, refunded.review_ms), (1, gold.review_ms), "back to silver, never below what the review left");
        assert_eq!(policy.after_refund(kept, 0), kept, "a tier the review left stays its period");
    }

    #[test]
    fn points_are_whole_and_tiers_earn_more() {
        let policy = Membership::default();
        assert_eq!(policy.points_for(0, 154_800), 1_548, "¥1,548.00 earns 1,548 points");
        assert_eq!(policy.points_for(2, 154_899), 2_323, "gold: 1.5 a yuan, rounded down");
        assert_eq!(policy.points_for(0, -5), 0);
        assert_eq!(policy.points_for(9, 100_000), 0, "no such tier");
    }

    #[test]
    fn a_bad_policy_is_named() {
        let mut p = Membership::default();
        assert_eq!(p.problem(), None);
        p.tiers[1].min_spend = 2_000_000;
        assert!(p.problem().is_some(), "tiers must rise");
        let mut p = Membership::default();
        p.tiers[0].min_spend = 1;
        assert!(p.problem().is_some(), "the first tier is everyone's");
        let mut p = Membership::default();
        p.tiers[2].name = "silver".into();
        assert!(p.problem().is_some(), "a name once");
        let p = Membership { point_value: 0, ..Membership::default() };
        assert!(p.problem().is_some());
    }
}
