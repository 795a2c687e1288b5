//! Customers, segments, campaigns and what they earned.
//!
//! Profiles are built from the journal by `ProfileConsumer`, one customer at a time as their
//! orders are paid and refunded; each change re-tests that customer against every segment, so
//! a segment's members are kept up to date without scanning all customers (only defining a
//! segment tests everyone once). A campaign sends its coupon to a segment (one code each, the
//! send list exported), and every order that redeems one of those codes is attributed to it:
//! revenue when it ships, refunds, the coupon's discount and the goods' cost give the
//! campaign's margin after discounts and its return on the discount spent.

use serde::{Deserialize, Serialize};

/// What a customer has done, from the journal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Profile {
    pub customer: String,
    /// Paid orders.
    pub orders: i64,
    pub units: i64,
    /// Paid, minor units, less what was refunded.
    pub spend: i64,
    pub first_ms: i64,
    pub last_ms: i64,
    /// What they bought: (model, its category, size, units).
    pub bought: Vec<Bought>,
    /// Their membership tier now.
    #[serde(default)]
    pub tier: String,
    /// The tiers at or below theirs (a segment's `min_tier` is met by any of them).
    #[serde(default, skip_serializing)]
    #[schema(ignore)]
    pub tiers_reached: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Bought {
    pub spu: String,
    #[serde(default)]
    pub category: String,
    pub size: String,
    pub units: i64,
}

/// Who is in a segment: every condition given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentRule {
    /// At least this many paid orders.
    #[serde(default)]
    pub min_orders: Option<i64>,
    /// At least this much spent (minor units, net of refunds).
    #[serde(default)]
    pub min_spend: Option<i64>,
    /// Ordered within this many days (recency), tested again when the campaign sends.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 3650)]
    pub active_within_days: Option<u32>,
    /// Bought this model (SPU) before.
    #[serde(default)]
    pub bought_spu: Option<String>,
    /// Bought this size before (with `bought_spu`: of that model; with `category`: in it).
    #[serde(default)]
    pub size: Option<String>,
    /// Bought a model of this category before.
    #[serde(default)]
    pub category: Option<String>,
    /// Of this membership tier or above.
    #[serde(default)]
    pub min_tier: Option<String>,
}

use tote_shared::calendar::DAY_MS;

impl SegmentRule {
    pub fn problem(&self) -> Option<String> {
        let text_ok = |t: &Option<String>| t.as_ref().is_none_or(|t| tote_shared::text::is_clean(t, 40));
        if self.min_orders.is_some_and(|n| !(0..=1_000_000).contains(&n))
            || self.min_spend.is_some_and(|n| !(0..=tote_shared::Money::MAX_MINOR).contains(&n))
            || self.active_within_days.is_some_and(|d| !(1..=3650).contains(&d))
            || !text_ok(&self.bought_spu)
            || !text_ok(&self.size)
            || !text_ok(&self.category)
            || !text_ok(&self.min_tier)
        {
            return Some("min_orders 0 to 1000000, min_spend 0 to 10000000000, active_within_days 1 to 3650, bought_spu, size, category and min_tier 1 to 40 characters".into());
        }
        None
    }

    /// Whether the profile meets every condition at `now_ms`.
    pub fn matches(&self, p: &Profile, now_ms: i64) -> bool {
        let bought = |b: &Bought| {
            self.bought_spu.as_ref().is_none_or(|s| *s == b.spu) && self.size.as_ref().is_none_or(|s| *s == b.size) && self.category.as_ref().is_none_or(|c| *c == b.category) && b.units > 0
        };
        let any_purchase = self.bought_spu.is_none() && self.size.is_none() && self.category.is_none();
        self.min_orders.is_none_or(|n| p.orders >= n)
            && self.min_spend.is_none_or(|n| p.spend >= n)
            && self.active_within_days.is_none_or(|d| p.orders > 0 && now_ms - p.last_ms <= i64::from(d) * DAY_MS)
            && (any_purchase || p.bought.iter().any(bought))
            && self.min_tier.as_ref().is_none_or(|t| p.tiers_reached.contains(t))
    }
}

/// How orders are attributed to campaigns without a coupon: a campaign's link the customer
/// came through within `link_window_hours` before the order, else the last campaign that
/// touched them (a link, or a send) within `touch_window_days`. A coupon always wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttributionPolicy {
    #[schema(minimum = 1, maximum = 720)]
    pub link_window_hours: u32,
    #[schema(minimum = 1, maximum = 30)]
    pub touch_window_days: u32,
}

impl Default for AttributionPolicy {
    fn default() -> Self {
        AttributionPolicy { link_window_hours: 24, touch_window_days: 7 }
    }
}

impl AttributionPolicy {
    pub fn problem(&self) -> Option<String> {
        (!(1..=720).contains(&self.link_window_hours) || !(1..=30).contains(&self.touch_window_days))
            .then(|| "attribution: link_window_hours 1 to 720, touch_window_days 1 to 30".into())
    }

    /// How far back a touch can still attribute an order: the longer window.
    pub fn lookback_ms(&self) -> i64 {
        (i64::from(self.link_window_hours) * 3_600_000).max(i64::from(self.touch_window_days) * DAY_MS)
    }

    /// The campaign an order placed at `order_ms` is attributed to by `touches` (the
    /// customer's touches before it), if any: the latest link within the
    /// link window, else the latest touch within the touch window; a tie goes to the campaign
    /// id first in order.
    pub fn attribute<'a>(&self, touches: &'a [Touch], order_ms: i64) -> Option<&'a Touch> {
        let within = |t: &&Touch, window_ms: i64| t.at_ms <= order_ms && order_ms - t.at_ms <= window_ms;
        let latest = |a: &&Touch, b: &&Touch| a.at_ms.cmp(&b.at_ms).then_with(|| b.campaign.cmp(&a.campaign));
        let link_ms = i64::from(self.link_window_hours) * 3_600_000;
        let touch_ms = i64::from(self.touch_window_days) * DAY_MS;
        touches
            .iter()
            .filter(|t| t.kind == "link" && within(t, link_ms))
            .max_by(latest)
            .or_else(|| touches.iter().filter(|t| within(t, touch_ms)).max_by(latest))
    }
}

/// A campaign's last touch of a customer of one kind (`link` or `send`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Touch {
    pub campaign: String,
    pub kind: String,
    pub at_ms: i64,
}

/// What a campaign earned over a span (one day, or all of it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Earned {
    /// Orders attributed to it that shipped (by its coupon, its link or its last touch).
    #[serde(default)]
    pub orders: i64,
    /// Orders that took one of its codes (less those cancelled or unpaid since).
    pub redemptions: i64,
    /// What its coupon took off those orders.
    pub discount: i64,
    /// What the attributed orders sold for when they shipped (after every discount).
    pub revenue: i64,
    pub refunded: i64,
    /// Standard cost of the goods shipped, less what came back sellable.
    pub cost: i64,
}

impl Earned {
    pub fn add(&mut self, other: &Earned) {
        self.orders += other.orders;
        self.redemptions += other.redemptions;
        self.discount += other.discount;
        self.revenue += other.revenue;
        self.refunded += other.refunded;
        self.cost += other.cost;
    }

    /// Revenue less refunds less the goods' cost: the discount is already out of revenue.
    pub fn margin(&self) -> i64 {
        self.revenue - self.refunded - self.cost
    }

    /// Margin earned per unit of discount given, or None before any discount.
    pub fn roi(&self) -> Option<f64> {
        (self.discount > 0).then(|| self.margin() as f64 / self.discount as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(campaign: &str, kind: &str, at_ms: i64) -> Touch {
        Touch { campaign: campaign.into(), kind: kind.into(), at_ms }
    }

    #[test]
    fn a_recent_link_wins_then_the_last_touch_within_the_window() {
        let policy = AttributionPolicy::default();
        let hour = 3_600_000;
        let order = 30 * DAY_MS;
        let touches = [touch("spring", "send", order - 2 * hour), touch("pegasus", "link", order - 20 * hour), touch("trail", "link", order + hour)];
        assert_eq!(policy.attribute(&touches, order).map(|t| t.campaign.as_str()), Some("pegasus"), "a link within a day beats a later send");
        let touches = [touch("spring", "send", order - 2 * DAY_MS), touch("pegasus", "link", order - 3 * DAY_MS)];
        assert_eq!(policy.attribute(&touches, order).map(|t| t.campaign.as_str()), Some("spring"), "no recent link: the last touch");
        let touches = [touch("spring", "send", order - 8 * DAY_MS)];
        assert_eq!(policy.attribute(&touches, order), None, "outside the window");
        assert_eq!(policy.attribute(&[touch("later", "link", order + 1)], order), None, "a touch after the order does not count");
        let tie = [touch("b", "send", order - DAY_MS), touch("a", "send", order - DAY_MS)];
        assert_eq!(policy.attribute(&tie, order).map(|t| t.campaign.as_str()), Some("a"));
    }

    fn runner() -> Profile {
        Profile {
            customer: "runner-1".into(),
            orders: 2,
            units: 2,
            spend: 169_800,
            first_ms: 0,
            last_ms: 10 * DAY_MS,
            bought: vec![Bought { spu: "PEG39".into(), category: "Shoes".into(), size: "EU 42".into(), units: 2 }],
            tier: "silver".into(),
            tiers_reached: vec!["member".into(), "silver".into()],
        }
    }

    #[test]
    fn a_segment_is_every_condition_it_names() {
        let now = 40 * DAY_MS;
        assert!(SegmentRule::default().matches(&runner(), now), "no condition: everyone");
        let pegasus = SegmentRule { bought_spu: Some("PEG39".into()), size: Some("EU 42".into()), ..Default::default() };
        assert!(pegasus.matches(&runner(), now));
        assert!(!SegmentRule { size: Some("EU 43".into()), ..pegasus.clone() }.matches(&runner(), now));
        assert!(!SegmentRule { bought_spu: Some("VOMERO".into()), ..Default::default() }.matches(&runner(), now));
        assert!(SegmentRule { active_within_days: Some(30), ..Default::default() }.matches(&runner(), now));
        assert!(!SegmentRule { active_within_days: Some(29), ..Default::default() }.matches(&runner(), now), "recency counts days since the last order");
        assert!(!SegmentRule { min_orders: Some(3), ..Default::default() }.matches(&runner(), now));
        assert!(SegmentRule { min_spend: Some(169_800), ..Default::default() }.matches(&runner(), now));
        assert!(SegmentRule { category: Some("Shoes".into()), size: Some("EU 42".into()), ..Default::default() }.matches(&runner(), now), "a size in a category");
        assert!(!SegmentRule { category: Some("Apparel".into()), ..Default::default() }.matches(&runner(), now));
        assert!(SegmentRule { min_tier: Some("silver".into()), ..Default::default() }.matches(&runner(), now));
        assert!(!SegmentRule { min_tier: Some("gold".into()), ..Default::default() }.matches(&runner(), now), "silver is below gold");
        let returned = Profile { bought: vec![Bought { spu: "PEG39".into(), category: "Shoes".into(), size: "EU 42".into(), units: 0 }], ..runner() };
        assert!(!pegasus.matches(&returned, now), "what all came back was not bought");
    }

    #[test]
    fn margin_is_after_discounts_refunds_and_cost_and_roi_per_discount() {
        let e = Earned { orders: 1, redemptions: 1, discount: 5_000, revenue: 166_800, refunded: 83_400, cost: 41_000 };
        assert_eq!(e.margin(), 42_400);
        assert_eq!(e.roi(), Some(42_400.0 / 5_000.0));
        assert_eq!(Earned::default().roi(), None);
    }
}
