//! Checkout pricing, pure: a cart and the promotions its customer may use in, the best stack the
//! rules allow out, with every discount allocated to the cart's lines to the fen.
//!
//! Promotions work in layers, as Chinese marketplaces run them: the item price (member price,
//! limited-time discount, flash-sale price: the lowest that keeps the SKU's floor) → each shop's
//! spend-X-save-Y tiers → each shop's coupon → one cross-store offer → platform coupons. A
//! threshold is tested either on the price after every earlier layer (`Base::Sequential`, JD's
//! rule) or on the price after the item layer only (`Base::Parallel`, Tmall's since 2020), a
//! setting per layer; a discount is never more than what is left of its lines. Each layer takes
//! at most one promotion per shop (shop layers), one in all (cross-store) or one per class
//! (platform), and the rule set names the classes that never go together (JD's 京券 and 东券).
//!
//! The customer gets the best stack the rules allow — the lowest payable, then the fewest
//! promotions, then the promotion ids in order — found by a depth-first search over the layers'
//! choices that drops a branch once even its largest possible discounts cannot beat the best so
//! far. A stack that would leave any line below its floor (cost plus margin) is not allowed.

use serde::{Deserialize, Serialize};
use tote_shared::Sku;

/// Most lines a cart may have.
pub const MAX_LINES: usize = 200;
/// Most promotions one pricing weighs.
pub const MAX_PROMOTIONS: usize = 200;
/// Most search nodes one pricing visits before it settles for the best found (`exhaustive`
/// false then; never reached
/// by carts of the sizes shops see; bounds a hostile one).
pub const MAX_NODES: u64 = 2_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    /// The unit price: member, limited-time or flash-sale price.
    Item,
    /// A shop's spend-X-save-Y (满减).
    ShopTier,
    ShopCoupon,
    /// Spend-X-save-Y over every shop (跨店满减).
    CrossStore,
    Platform,
}

/// The order-level layers, in the order they apply.
pub const ORDER_LAYERS: [Layer; 4] = [Layer::ShopTier, Layer::ShopCoupon, Layer::CrossStore, Layer::Platform];

/// What a layer's thresholds are tested on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Base {
    /// The price after every earlier layer (JD).
    Sequential,
    /// The price after the item layer only (Tmall since 2020).
    Parallel,
}

/// How a marketplace stacks promotions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleSet {
    #[schema(pattern = "^[A-Za-z0-9_-]{1,40}$")]
    pub name: String,
    /// The base of each order-level layer's thresholds, in `ORDER_LAYERS` order.
    #[schema(min_items = 4, max_items = 4)]
    pub bases: [Base; 4],
    /// Promotion classes that never go together in one stack.
    #[schema(max_items = 100)]
    pub exclusive: Vec<(String, String)>,
}

impl RuleSet {
    /// Tmall's rules since 2020: every threshold on the price after the item layer.
    pub fn tmall() -> RuleSet {
        RuleSet { name: "tmall".into(), bases: [Base::Parallel; 4], exclusive: Vec::new() }
    }

    /// JD's: every threshold on the price after the layers before it; 京券 and 东券 never together.
    pub fn jd() -> RuleSet {
        RuleSet { name: "jd".into(), bases: [Base::Sequential; 4], exclusive: vec![("jd_jingquan".into(), "jd_dongquan".into())] }
    }

    fn base(&self, layer: Layer) -> Base {
        ORDER_LAYERS.iter().position(|l| *l == layer).map_or(Base::Sequential, |i| self.bases[i])
    }

    fn excludes(&self, a: &str, b: &str) -> bool {
        self.exclusive.iter().any(|(x, y)| (x == a && y == b) || (x == b && y == a))
    }
}

/// What a promotion gives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Benefit {
    /// Item layer: the unit price of the SKUs it covers, minor units.
    UnitPrice { price: i64 },
    /// Item layer: a share off the list price, in basis points (the discount rounded down to
    /// the fen).
    PercentOff { bp: u32 },
    /// The largest `off` whose `threshold` the base reaches.
    Tiers { tiers: Vec<Tier> },
    /// `off` for every full `every` of the base (每满减), at most `max_times` times.
    EveryOff { every: i64, off: i64, max_times: u32 },
    /// `off` once the base reaches `threshold` (0: no threshold).
    Coupon { threshold: i64, off: i64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Tier {
    pub threshold: i64,
    pub off: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Promotion {
    pub id: String,
    pub layer: Layer,
    /// For the rule set's exclusions and the platform layer's one-per-class (`jd_jingquan`, …).
    pub class: String,
    /// The shop it belongs to: shop layers always, the others to narrow it to one shop.
    #[serde(default)]
    pub shop: Option<String>,
    /// The SKUs it covers; empty: every line (of its shop).
    #[serde(default)]
    pub skus: Vec<Sku>,
    pub benefit: Benefit,
    /// A member price (or offer): only for customers of this tier or above (the marketing
    /// policy's tiers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[A-Za-z0-9_-]{1,40}$")]
    pub tier: Option<String>,
    /// Only for customers in this segment (marketing's segments): a campaign's coupon for the
    /// runners it targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[A-Za-z0-9_-]{1,40}$")]
    pub segment: Option<String>,
}

impl Promotion {
    /// Whether it applies to the line: its shop (if it names one) and its SKUs (if any).
    pub fn covers(&self, line: &CartLine) -> bool {
        self.shop.as_ref().is_none_or(|s| *s == line.shop) && (self.skus.is_empty() || self.skus.contains(&line.sku))
    }

    /// Its unit price for `line` (item layer only), never above the list price.
    pub fn unit_price(&self, line: &CartLine) -> Option<i64> {
        match self.benefit {
            Benefit::UnitPrice { price } => Some(price.min(line.list_price)),
            Benefit::PercentOff { bp } => Some(line.list_price - (i128::from(line.list_price) * i128::from(bp) / 10_000) as i64),
            _ => None,
        }
    }

    /// The slot it takes within its layer: its shop (shop layers), its class (platform), the
    /// one offer (cross-store).
    pub fn slot(&self) -> &str {
        match self.layer {
            Layer::ShopTier | Layer::ShopCoupon => self.shop.as_deref().unwrap_or(""),
            Layer::Platform => self.class.as_str(),
            _ => "",
        }
    }

    /// The most it can take off, whatever the cart.
    fn most_off(&self) -> i64 {
        match &self.benefit {
            Benefit::Tiers { tiers } => tiers.iter().map(|t| t.off).max().unwrap_or(0),
            Benefit::EveryOff { off, max_times, .. } => off.saturating_mul(i64::from(*max_times)),
            Benefit::Coupon { off, .. } => *off,
            Benefit::UnitPrice { .. } | Benefit::PercentOff { .. } => 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CartLine {
    pub sku: Sku,
    pub shop: String,
    pub qty: i64,
    /// The list price per unit, minor units.
    pub list_price: i64,
    /// The lowest unit price margin protection allows (cost plus margin, or a share of list).
    pub floor: i64,
}

/// One line as priced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PricedLine {
    pub sku: Sku,
    /// After the item layer.
    pub unit_price: i64,
    pub item_promotion: Option<String>,
    /// Each order-level promotion's share of this line.
    pub discounts: Vec<LineDiscount>,
    /// What the customer pays for the line.
    pub payable: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LineDiscount {
    pub promotion: String,
    /// Minor units.
    pub amount: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Applied {
    pub promotion: String,
    pub layer: Layer,
    pub discount: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Priced {
    pub lines: Vec<PricedLine>,
    /// The order-level promotions in the stack, in the order they applied.
    pub applied: Vec<Applied>,
    /// At list prices.
    pub subtotal: i64,
    pub item_discount: i64,
    pub order_discount: i64,
    pub payable: i64,
    /// Search nodes visited.
    pub searched: u64,
    /// Whether the search weighed every stack it could not rule out; false when it stopped at
    /// its node limit with the best found so far (a valid stack, maybe not the best).
    pub exhaustive: bool,
    /// Points spent on the order, and what they took off `payable` (after every promotion).
    #[serde(default)]
    pub points: i64,
    #[serde(default)]
    pub points_off: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    #[error("{0}")]
    Invalid(String),
}

/// Prices the cart with the best stack of `promotions` the rules allow.
pub fn price(rules: &RuleSet, cart: &[CartLine], promotions: &[Promotion]) -> Result<Priced, PricingError> {
    price_within(rules, cart, promotions, MAX_NODES)
}

/// `price`, visiting at most `max_nodes` search nodes.
pub fn price_within(rules: &RuleSet, cart: &[CartLine], promotions: &[Promotion], max_nodes: u64) -> Result<Priced, PricingError> {
    check(cart, promotions)?;
    let items: Vec<(i64, Option<&str>)> = cart.iter().map(|l| item_price(l, promotions)).collect();
    let start: Vec<i64> = cart.iter().zip(&items).map(|(l, (unit, _))| unit * l.qty).collect();
    let groups = groups(cart, promotions);
    let scopes: Vec<Vec<usize>> = promotions.iter().map(|p| (0..cart.len()).filter(|&i| p.covers(&cart[i])).collect()).collect();
    let mut search = Search { rules, cart, promotions, groups: &groups, scopes: &scopes, start: &start, best: None, nodes: 0, max_nodes, cut: false };
    search.dfs(0, &start, &mut Vec::new(), &mut Vec::new());
    let best = search.best.take().unwrap_or_else(|| Stack { payable: start.iter().sum(), promotions: Vec::new(), amounts: start.clone(), shares: Vec::new() });
    let mut priced = priced(cart, promotions, &items, &start, best, search.nodes);
    priced.exhaustive = !search.cut;
    Ok(priced)
}

fn check(cart: &[CartLine], promotions: &[Promotion]) -> Result<(), PricingError> {
    let bad = |why: String| Err(PricingError::Invalid(why));
    if cart.is_empty() || cart.len() > MAX_LINES {
        return bad(format!("a cart has 1 to {MAX_LINES} lines"));
    }
    if promotions.len() > MAX_PROMOTIONS {
        return bad(format!("at most {MAX_PROMOTIONS} promotions"));
    }
    let money = 0..=tote_shared::Money::MAX_MINOR;
    for l in cart {
        if !(1..=100_000).contains(&l.qty) || !money.contains(&l.list_price) || !(0..=l.list_price).contains(&l.floor) {
            return bad(format!("{}: qty 1 to 100000, list price 0 to 10000000000, floor 0 to the list price", l.sku));
        }
    }
    promotions.iter().try_for_each(check_promotion)
}

/// What makes a promotion unusable, if anything: a benefit that does not fit its layer, money
/// out of range, a shop layer that names no shop.
pub fn check_promotion(p: &Promotion) -> Result<(), PricingError> {
    let money = 0..=tote_shared::Money::MAX_MINOR;
    {
        let ok = match &p.benefit {
            Benefit::UnitPrice { price } => p.layer == Layer::Item && money.contains(price),
            Benefit::PercentOff { bp } => p.layer == Layer::Item && *bp <= 10_000,
            Benefit::Tiers { tiers } => p.layer != Layer::Item && !tiers.is_empty() && tiers.iter().all(|t| money.contains(&t.threshold) && money.contains(&t.off)),
            Benefit::EveryOff { every, off, max_times } => p.layer != Layer::Item && *every > 0 && money.contains(every) && money.contains(off) && *max_times > 0,
            Benefit::Coupon { threshold, off } => p.layer != Layer::Item && money.contains(threshold) && money.contains(off),
        };
        let shop_ok = !matches!(p.layer, Layer::ShopTier | Layer::ShopCoupon) || p.shop.is_some();
        if !ok || !shop_ok || p.skus.len() > MAX_LINES {
            return Err(PricingError::Invalid(format!("promotion {}: its benefit does not fit its layer, its money is out of range, or a shop layer names no shop", p.id)));
        }
    }
    Ok(())
}

/// The lowest item price that keeps the line's floor, and the promotion giving it.
fn item_price<'a>(line: &CartLine, promotions: &'a [Promotion]) -> (i64, Option<&'a str>) {
    let mut best = (line.list_price, None);
    for p in promotions.iter().filter(|p| p.layer == Layer::Item && p.covers(line)) {
        let Some(price) = p.unit_price(line) else { continue };
        if price >= line.floor && (price, Some(p.id.as_str())) < best {
            best = (price, Some(p.id.as_str()));
        }
    }
    best
}

/// The order-level choices in the order they apply: per layer, one group per shop (shop
/// layers), one for the cross-store offer, one per class (platform); each group's promotions
/// by id. Promotions that cover no line of the cart are left out.
fn groups(cart: &[CartLine], promotions: &[Promotion]) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    for layer in ORDER_LAYERS {
        let mut keyed: std::collections::BTreeMap<&str, Vec<usize>> = std::collections::BTreeMap::new();
        for (i, p) in promotions.iter().enumerate().filter(|(_, p)| p.layer == layer && cart.iter().any(|l| p.covers(l))) {
            keyed.entry(p.slot()).or_default().push(i);
        }
        for (_, mut group) in keyed {
            // The larger discounts first: good stacks are found early and bound the rest.
            group.sort_by(|a, b| promotions[*b].most_off().cmp(&promotions[*a].most_off()).then_with(|| promotions[*a].id.cmp(&promotions[*b].id)));
            out.push(group);
        }
    }
    out
}

/// A complete stack: its payable, its promotions (indices, in the order applied), the lines'
/// amounts after it and each promotion's share per line.
#[derive(Debug, Clone)]
struct Stack {
    payable: i64,
    promotions: Vec<usize>,
    amounts: Vec<i64>,
    shares: Vec<Vec<(usize, i64)>>,
}

struct Search<'a> {
    rules: &'a RuleSet,
    cart: &'a [CartLine],
    promotions: &'a [Promotion],
    groups: &'a [Vec<usize>],
    /// Each promotion's lines.
    scopes: &'a [Vec<usize>],
    start: &'a [i64],
    best: Option<Stack>,
    nodes: u64,
    max_nodes: u64,
    /// The node limit stopped the search.
    cut: bool,
}

impl Search<'_> {
    fn dfs(&mut self, g: usize, amounts: &[i64], chosen: &mut Vec<usize>, shares: &mut Vec<Vec<(usize, i64)>>) {
        self.nodes += 1;
        let payable: i64 = amounts.iter().sum();
        if let Some(best) = &self.best {
            if self.nodes > self.max_nodes {
                self.cut = true;
                return;
            }
            if payable - self.most_left(g, amounts) > best.payable {
                return;
            }
        }
        if g == self.groups.len() {
            self.offer(payable, amounts, chosen, shares);
            return;
        }
        for &p in &self.groups[g] {
            let promotion = &self.promotions[p];
            if chosen.iter().any(|&c| self.rules.excludes(&self.promotions[c].class, &promotion.class)) {
                continue;
            }
            let mut next = amounts.to_vec();
            let Some(share) = apply_to(self.rules, promotion, &self.scopes[p], self.start, &mut next) else { continue };
            // Amounts only fall from here: a line below its floor stays below it.
            if self.cart.iter().zip(&next).any(|(l, a)| *a < l.floor * l.qty) {
                continue;
            }
            chosen.push(p);
            shares.push(share);
            self.dfs(g + 1, &next, chosen, shares);
            chosen.pop();
            shares.pop();
        }
        self.dfs(g + 1, amounts, chosen, shares);
    }

    /// The most the groups from `g` on could still take off `amounts`, one promotion each,
    /// whatever the exclusions: a threshold on the current amounts can only be harder to reach
    /// later (amounts only fall), and no discount is more than what is left of its lines.
    fn most_left(&self, g: usize, amounts: &[i64]) -> i64 {
        let mut most = 0i64;
        for group in &self.groups[g..] {
            let best = group
                .iter()
                .map(|&p| {
                    let promotion = &self.promotions[p];
                    let scope = &self.scopes[p];
                    let left: i64 = scope.iter().map(|&i| amounts[i]).sum();
                    let base = match self.rules.base(promotion.layer) {
                        Base::Parallel => scope.iter().map(|&i| self.start[i]).sum(),
                        Base::Sequential => left,
                    };
                    off_at(&promotion.benefit, base).unwrap_or(0).min(left)
                })
                .max()
                .unwrap_or(0);
            most = most.saturating_add(best);
        }
        most
    }

    /// A complete stack, kept if it beats the best so far.
    fn offer(&mut self, payable: i64, amounts: &[i64], chosen: &[usize], shares: &[Vec<(usize, i64)>]) {
        let wins = match &self.best {
            None => true,
            Some(best) if payable != best.payable => payable < best.payable,
            Some(best) => better(payable, chosen, best, self.promotions),
        };
        if wins {
            self.best = Some(Stack { payable, promotions: chosen.to_vec(), amounts: amounts.to_vec(), shares: shares.to_vec() });
        }
    }
}

/// Lower payable, then fewer promotions, then their ids in order.
fn better(payable: i64, chosen: &[usize], than: &Stack, promotions: &[Promotion]) -> bool {
    let ids = |stack: &[usize]| {
        let mut ids: Vec<&str> = stack.iter().map(|&i| promotions[i].id.as_str()).collect();
        ids.sort_unstable();
        ids
    };
    (payable, chosen.len(), ids(chosen)) < (than.payable, than.promotions.len(), ids(&than.promotions))
}

/// Applies one order-level promotion to `amounts` (the lines after the layers before it): its
/// threshold tested on its base, its discount capped at what is left of its lines and shared
/// among them by largest remainder. None when it does not apply (no line, threshold not met,
/// nothing to take off).
pub fn apply(rules: &RuleSet, p: &Promotion, cart: &[CartLine], start: &[i64], amounts: &mut [i64]) -> Option<Vec<(usize, i64)>> {
    let scope: Vec<usize> = (0..cart.len()).filter(|&i| p.covers(&cart[i])).collect();
    apply_to(rules, p, &scope, start, amounts)
}

/// `apply` over the promotion's lines, known.
fn apply_to(rules: &RuleSet, p: &Promotion, scope: &[usize], start: &[i64], amounts: &mut [i64]) -> Option<Vec<(usize, i64)>> {
    let base_of = match rules.base(p.layer) {
        Base::Parallel => start,
        Base::Sequential => &*amounts,
    };
    let base: i64 = scope.iter().map(|&i| base_of[i]).sum();
    let left: i64 = scope.iter().map(|&i| amounts[i]).sum();
    let off = off_at(&p.benefit, base)?.min(left);
    if off <= 0 {
        return None;
    }
    let weights: Vec<i64> = scope.iter().map(|&i| amounts[i]).collect();
    let split = largest_remainder(off, &weights);
    for (&i, share) in scope.iter().zip(&split) {
        amounts[i] -= share;
    }
    Some(scope.iter().copied().zip(split).filter(|(_, s)| *s > 0).collect())
}

/// What an order-level benefit takes off a base, before the cap at what is left; None when
/// its threshold is not reached.
fn off_at(benefit: &Benefit, base: i64) -> Option<i64> {
    match benefit {
        Benefit::Tiers { tiers } => tiers.iter().filter(|t| base >= t.threshold).map(|t| t.off).max(),
        Benefit::EveryOff { every, off, max_times } => Some(off.saturating_mul((base / every).min(i64::from(*max_times)))),
        Benefit::Coupon { threshold, off } => (base >= *threshold).then_some(*off),
        Benefit::UnitPrice { .. } | Benefit::PercentOff { .. } => None,
    }
}

/// The name points go by among a line's discounts (no promotion may take it).
pub const POINTS: &str = "points";

/// Points pay part of a priced order, after every promotion: `points` × `value` off the
/// payable, at most `max_share_bp` of it, shared among the lines by largest remainder of what
/// is left of each. Floors do not hold points back: they are money the shop set aside when it
/// gave them (the points liability), not margin it gives away at checkout.
pub fn spend_points(priced: &mut Priced, points: i64, value: i64, max_share_bp: u32) -> Result<(), PricingError> {
    if points == 0 {
        return Ok(());
    }
    let off = points.checked_mul(value).filter(|o| points > 0 && *o > 0).ok_or_else(|| PricingError::Invalid(format!("{points} points: a positive number, not too large")))?;
    let most = i64::try_from(i128::from(priced.payable) * i128::from(max_share_bp.min(10_000)) / 10_000).unwrap_or(0);
    if off > most {
        return Err(PricingError::Invalid(format!("{points} points would take {off} off; points may pay at most {most} of this order")));
    }
    let weights: Vec<i64> = priced.lines.iter().map(|l| l.payable).collect();
    for (line, share) in priced.lines.iter_mut().zip(largest_remainder(off, &weights)) {
        if share > 0 {
            line.discounts.push(LineDiscount { promotion: POINTS.into(), amount: share });
            line.payable -= share;
        }
    }
    priced.payable -= off;
    (priced.points, priced.points_off) = (points, off);
    Ok(())
}

pub use tote_shared::domain::largest_remainder;

fn priced(cart: &[CartLine], promotions: &[Promotion], items: &[(i64, Option<&str>)], start: &[i64], best: Stack, nodes: u64) -> Priced {
    let mut lines: Vec<PricedLine> = cart
        .iter()
        .zip(items)
        .zip(&best.amounts)
        .map(|((l, (unit, promo)), payable)| PricedLine { sku: l.sku.clone(), unit_price: *unit, item_promotion: promo.map(str::to_owned), discounts: Vec::new(), payable: *payable })
        .collect();
    let mut applied = Vec::new();
    for (&p, share) in best.promotions.iter().zip(&best.shares) {
        let id = &promotions[p].id;
        for &(i, s) in share {
            lines[i].discounts.push(LineDiscount { promotion: id.clone(), amount: s });
        }
        applied.push(Applied { promotion: id.clone(), layer: promotions[p].layer, discount: share.iter().map(|(_, s)| s).sum() });
    }
    let subtotal: i64 = cart.iter().map(|l| l.list_price * l.qty).sum();
    let after_items: i64 = start.iter().sum();
    Priced {
        lines,
        applied,
        subtotal,
        item_discount: subtotal - after_items,
        order_discount: after_items - best.payable,
        payable: best.payable,
        searched: nodes,
        exhaustive: true,
        points: 0,
        points_off: 0,
    }
}
