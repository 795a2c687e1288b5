//! Margin protection, pure: each SKU's floor (cost plus a margin, or a share of its list
//! price), and at publish time the lowest unit price a SKU could reach under the worst stack
//! the promotions allow — whatever else is in the cart — so a promotion that could sell below a
//! floor is refused before anyone can use it. Checkout never sells below a floor either
//! (`pricing::price` drops such stacks); this catches it where the promotion is made.
//!
//! The worst case is a bound, not a guess: an order-level promotion takes at most `off` of a
//! base of at least its `threshold`, so at most `off / threshold` of any line's amount when the
//! threshold is tested on the amounts as they are (sequential), and at most
//! `off / (threshold × what the earlier layers left)` when it is tested on the item prices
//! (parallel); every-X-save-Y takes at most `off / every` alike; no threshold, all of it.

use super::pricing::{Base, Benefit, CartLine, Layer, Promotion, RuleSet, ORDER_LAYERS};
use serde::{Deserialize, Serialize};
use tote_shared::Sku;

/// How floors are set, for every SKU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FloorPolicy {
    /// The floor is at least the cost plus this margin, in basis points of the cost.
    #[schema(maximum = 100000)]
    pub min_margin_bp: u32,
    /// … and at least this share of the list price, in basis points.
    #[schema(maximum = 10000)]
    pub min_list_share_bp: u32,
}

impl FloorPolicy {
    /// A SKU's floor: the higher of the two, never above its list price.
    pub fn floor(&self, list_price: i64, cost: i64) -> i64 {
        let margin = i128::from(cost) * (10_000 + i128::from(self.min_margin_bp)) / 10_000;
        let share = i128::from(list_price) * i128::from(self.min_list_share_bp) / 10_000;
        i64::try_from(margin.max(share)).unwrap_or(i64::MAX).min(list_price)
    }
}

/// A SKU a promotion could sell below its floor, and the stack that would.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Exposure {
    pub sku: Sku,
    /// The lowest unit price the stack could reach, minor units.
    pub worst: i64,
    pub floor: i64,
    pub stack: Vec<String>,
}

/// The lowest unit price `line`'s SKU could reach under `promotions` (one per slot, the most
/// each could take), and the promotions of that stack.
pub fn worst_price(rules: &RuleSet, line: &CartLine, promotions: &[Promotion]) -> (i64, Vec<String>) {
    let mut stack = Vec::new();
    let mut unit = line.list_price as f64;
    for p in promotions.iter().filter(|p| p.layer == Layer::Item && p.covers(line)) {
        let Some(item) = p.unit_price(line).map(|price| price as f64) else { continue };
        if item < unit {
            unit = item;
            stack = vec![p.id.clone()];
        }
    }
    // What the earlier slots may have left of any line (a parallel threshold is tested on the
    // item prices while its discount comes off what is left, of lines this one shares it with).
    let mut kept_anywhere = 1.0f64;
    for (n, layer) in ORDER_LAYERS.into_iter().enumerate() {
        let mut slots: std::collections::BTreeMap<&str, Vec<&Promotion>> = std::collections::BTreeMap::new();
        for p in promotions.iter().filter(|p| p.layer == layer) {
            slots.entry(p.slot()).or_default().push(p);
        }
        // Slots apply one after another, as the engine applies them.
        for slot in slots.values() {
            let kept = if rules.bases[n] == Base::Parallel { kept_anywhere } else { 1.0 };
            let share = slot.iter().map(|p| most_share(&p.benefit, kept)).fold(0.0, f64::max);
            let mut best: (f64, &str) = (0.0, "");
            for p in slot.iter().filter(|p| p.covers(line)) {
                let cut = cuts(&p.benefit).into_iter().map(|(s, off)| (unit * (s / kept).min(1.0)).min(off)).fold(0.0, f64::max);
                if cut > best.0 {
                    best = (cut, p.id.as_str());
                }
            }
            kept_anywhere *= 1.0 - share;
            if best.0 > 0.0 {
                unit = (unit - best.0).max(0.0);
                stack.push(best.1.to_owned());
            }
        }
    }
    (unit.floor() as i64, stack)
}

/// Each way a benefit can be reached — its share of the base (`off / threshold`, all of it
/// without a threshold) and its money — for the most it can take of one unit.
fn cuts(benefit: &Benefit) -> Vec<(f64, f64)> {
    let share = |off: i64, of: i64| if of <= 0 { 1.0 } else { off as f64 / of as f64 };
    match benefit {
        Benefit::Tiers { tiers } => tiers.iter().map(|t| (share(t.off, t.threshold), t.off as f64)).collect(),
        Benefit::EveryOff { every, off, max_times } => vec![(share(*off, *every), (*off as f64) * f64::from(*max_times))],
        Benefit::Coupon { threshold, off } => vec![(share(*off, *threshold), *off as f64)],
        Benefit::UnitPrice { .. } | Benefit::PercentOff { .. } => Vec::new(),
    }
}

/// The most of any line's current amount a benefit can take: `kept` is what the earlier layers
/// may have left of the amounts its threshold is tested on (1 when tested on them as they are).
fn most_share(benefit: &Benefit, kept: f64) -> f64 {
    cuts(benefit).into_iter().map(|(share, _)| (share / kept).min(1.0)).fold(0.0, f64::max)
}

/// The SKUs `candidate` could sell below their floors together with the promotions already
/// live (one with the candidate's id is replaced by it) that the live ones alone could not:
/// every SKU, not just those it covers, since a parallel threshold lets it make a later
/// discount weigh more on lines it does not touch.
pub fn exposures(rules: &RuleSet, candidate: &Promotion, live: &[Promotion], catalog: &[CartLine]) -> Vec<Exposure> {
    let without: Vec<Promotion> = live.iter().filter(|p| p.id != candidate.id).cloned().collect();
    let mut with = without.clone();
    with.push(candidate.clone());
    let mut out = Vec::new();
    for line in catalog {
        let (worst, stack) = worst_price(rules, line, &with);
        if worst < line.floor && worst_price(rules, line, &without).0 >= line.floor {
            out.push(Exposure { sku: line.sku.clone(), worst, floor: line.floor, stack });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::marketing::pricing::{price, Tier};

    fn line(sku: &str, list: i64, floor: i64) -> CartLine {
        CartLine { sku: Sku::parse(sku).expect("sku"), shop: "tote".into(), qty: 1, list_price: list, floor }
    }

    fn promo(id: &str, layer: Layer, benefit: Benefit) -> Promotion {
        let shop = matches!(layer, Layer::ShopTier | Layer::ShopCoupon).then(|| "tote".to_owned());
        Promotion { id: id.into(), layer, class: "c".into(), shop, skus: Vec::new(), benefit, tier: None, segment: None }
    }

    #[test]
    fn a_floor_is_the_higher_of_cost_plus_margin_and_a_share_of_list_never_above_list() {
        let policy = FloorPolicy { min_margin_bp: 1_000, min_list_share_bp: 5_000 };
        assert_eq!(policy.floor(89_900, 41_000), 45_100, "cost + 10 %");
        assert_eq!(policy.floor(89_900, 20_000), 44_950, "half the list price");
        assert_eq!(policy.floor(10_000, 20_000), 10_000, "a SKU sold under cost keeps its list price as floor");
    }

    /// A ¥899 pair with a ¥451 floor: an ¥80-off-¥800 tier keeps it; with a ¥400-off-¥600 coupon
    /// the pair alone in a cart ends at ¥899 − 80 − 400 = ¥419: the coupon is refused, naming
    /// the pair, its worst price and the stack. Sequential thresholds.
    #[test]
    fn a_coupon_whose_worst_stack_breaks_a_floor_is_named_with_that_stack() {
        let catalog = vec![line("PEG39-M-WHT-42", 89_900, 45_100)];
        let tier = promo("tier", Layer::ShopTier, Benefit::Tiers { tiers: vec![Tier { threshold: 80_000, off: 8_000 }] });
        assert!(exposures(&RuleSet::jd(), &tier, &[], &catalog).is_empty(), "¥80 off keeps the floor");
        let coupon = promo("coupon", Layer::ShopCoupon, Benefit::Coupon { threshold: 60_000, off: 40_000 });
        let found = exposures(&RuleSet::jd(), &coupon, std::slice::from_ref(&tier), &catalog);
        assert_eq!(found, vec![Exposure { sku: catalog[0].sku.clone(), worst: 41_900, floor: 45_100, stack: vec!["tier".into(), "coupon".into()] }]);
        let reached = price(&RuleSet::jd(), &[line("PEG39-M-WHT-42", 89_900, 0)], &[tier, coupon]).expect("priced");
        assert_eq!(reached.payable, 41_900, "the worst case is a cart of that pair alone");
        // A ¥1 coupon without a threshold takes at most ¥1 of a unit: a ¥50 sock with a floor
        // of ¥49.50 can end at ¥49, one with a floor of ¥49 cannot go below it.
        let small = promo("small", Layer::ShopCoupon, Benefit::Coupon { threshold: 0, off: 100 });
        let found = exposures(&RuleSet::jd(), &small, &[], &[line("SOCK-L", 5_000, 4_950), line("SOCK-M", 5_000, 4_900)]);
        assert_eq!(found.iter().map(|e| (e.sku.as_str(), e.worst)).collect::<Vec<_>>(), [("SOCK-L", 4_900)]);
    }

    /// Parallel thresholds are tested on the item prices while the discount comes off what the
    /// earlier layers left, so the same coupon can take a larger share.
    /// Under parallel thresholds a platform coupon on Y leaves the next class's coupon, tested
    /// on the item prices, to fall mostly on X: X can end at ¥9.09 though neither touches it
    /// alone that hard — so publishing the first is refused for X's floor.
    #[test]
    fn a_promotion_is_refused_for_a_floor_of_a_line_it_does_not_cover() {
        let (x, y) = (line("X-1", 10_000, 4_000), line("Y-1", 10_000, 0));
        let mut pa = promo("pa", Layer::Platform, Benefit::Coupon { threshold: 10_000, off: 9_000 });
        pa.class = "a".into();
        pa.skus = vec![y.sku.clone()];
        let mut pb = promo("pb", Layer::Platform, Benefit::Coupon { threshold: 20_000, off: 10_000 });
        pb.class = "b".into();
        let priced = price(&RuleSet::tmall(), &[x.clone(), y.clone()], &[pa.clone(), pb.clone()]).expect("priced");
        assert_eq!((priced.lines[0].payable, priced.payable), (5_000, 10_000), "checkout keeps X's floor: pb alone");
        let cart = [line("X-1", 10_000, 0), line("Y-1", 10_000, 0)];
        let unprotected = price(&RuleSet::tmall(), &cart, &[pa.clone(), pb.clone()]).expect("priced");
        assert_eq!(unprotected.lines[0].payable, 909, "without floors X pays ¥9.09");
        assert!(worst_price(&RuleSet::tmall(), &cart[0], &[pa.clone(), pb.clone()]).0 <= 909);
        let refused = exposures(&RuleSet::tmall(), &pa, std::slice::from_ref(&pb), &[x.clone(), y.clone()]);
        assert_eq!(refused.iter().map(|e| e.sku.as_str()).collect::<Vec<_>>(), ["X-1"], "{refused:?}");
        assert!(exposures(&RuleSet::tmall(), &pb, &[], &[x, y]).is_empty(), "pb alone keeps X at ¥50");
    }

    #[test]
    fn parallel_thresholds_make_a_later_coupon_weigh_more() {
        let list = line("PEG39-M-WHT-42", 100_000, 0);
        let tier = promo("tier", Layer::ShopTier, Benefit::Tiers { tiers: vec![Tier { threshold: 100_000, off: 50_000 }] });
        let coupon = promo("coupon", Layer::ShopCoupon, Benefit::Coupon { threshold: 100_000, off: 20_000 });
        let (seq, _) = worst_price(&RuleSet::jd(), &list, &[tier.clone(), coupon.clone()]);
        let (par, stack) = worst_price(&RuleSet::tmall(), &list, &[tier, coupon]);
        assert_eq!(seq, 40_000, "half, then a fifth of the rest");
        assert_eq!(par, 30_000, "half, then ¥200 of the ¥500 left: two fifths");
        assert_eq!(stack, ["tier", "coupon"]);
    }

    /// The bound holds: on random carts over two shops, with promotions narrowed to a shop or a
    /// SKU, the engine never prices a unit below the worst case of its line (floors at zero so
    /// every stack is allowed).
    #[test]
    fn checkout_never_goes_below_the_worst_case() {
        let mut rng = tote_shared::mapf::Rng::new(0x51);
        for _ in 0..1_000 {
            let cart: Vec<CartLine> = (0..3)
                .map(|i| {
                    let mut l = line(["A-1", "B-2", "C-3"][i], (1 + rng.below(40) as i64) * 2_500, 0);
                    l.shop = ["tote", "other"][rng.below(2)].into();
                    l.qty = 1 + rng.below(3) as i64;
                    l
                })
                .collect();
            let promos: Vec<Promotion> = (0..6)
                .map(|i| {
                    let layer = [Layer::ShopTier, Layer::ShopCoupon, Layer::CrossStore, Layer::Platform][rng.below(4)];
                    let threshold = rng.below(6) as i64 * 10_000;
                    let off = (1 + rng.below(8) as i64) * 1_000;
                    let benefit = match rng.below(3) {
                        0 => Benefit::Coupon { threshold, off },
                        1 => Benefit::Tiers { tiers: vec![Tier { threshold, off }, Tier { threshold: threshold * 2 + 10_000, off: off * 3 }] },
                        _ => Benefit::EveryOff { every: threshold.max(5_000), off, max_times: 1 + rng.below(4) as u32 },
                    };
                    let mut p = promo(&format!("p{i}"), layer, benefit);
                    p.class = format!("c{}", rng.below(2));
                    if p.shop.is_some() {
                        p.shop = Some(["tote", "other"][rng.below(2)].into());
                    }
                    if rng.below(3) == 0 {
                        p.skus = vec![Sku::parse(["A-1", "B-2", "C-3"][rng.below(3)]).expect("sku")];
                    }
                    p
                })
                .collect();
            for rules in [RuleSet::jd(), RuleSet::tmall()] {
                let priced = price(&rules, &cart, &promos).expect("priced");
                for (l, p) in cart.iter().zip(&priced.lines) {
                    let (worst, _) = worst_price(&rules, l, &promos);
                    // Largest remainder may round a share up by a fen per promotion.
                    let slack = priced.applied.len() as i64;
                    assert!(p.payable >= worst * l.qty - slack, "{}: paid {} for {} below the worst case {worst} a unit ({:?})", l.sku, p.payable, l.qty, priced.applied);
                }
            }
        }
    }
}
