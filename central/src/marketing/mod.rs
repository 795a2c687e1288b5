//! Marketing: what a customer pays and why. So far: checkout pricing (`pricing.rs`, pure) —
//! promotions in layers with a combination matrix, JD's sequential and Tmall's parallel
//! thresholds, the best allowed stack found by search, every discount allocated to lines by
//! largest remainder, no line sold below its floor; margin protection at publish time
//! (`floors.rs`, pure: the worst stack a promotion could make); the promotions HQ publishes
//! (`store.rs`: `mk_promotion`, the policy in `settings_doc`) and the pricing call the shop
//! front makes before an order (`http.rs`); coupons (`coupons.rs`): codes issued in bulk,
//! redeemed in the order's transaction under total and per-customer limits, given back when
//! the order is cancelled or closed unpaid. Orders take their prices from `Checkout`. Flash
//! sales with a held quota (`flash.rs`); profiles, segments, campaigns, their ROI and "also
//! bought" from the journal (`campaigns.rs` pure, `audience.rs`); group buys (`groups.rs`),
//! membership tiers and points (`members.rs`, `points.rs` pure, `loyalty.rs`) wired to orders;
//! clearance of slow and soon-expiring stock (`clearance.rs`); send lists to the messaging
//! webhook (`webhook.rs`).

pub mod audience;
pub mod campaigns;
pub mod clearance;
pub mod coupons;
pub mod flash;
pub mod floors;
pub mod groups;
pub mod http;
pub mod loyalty;
pub mod members;
pub mod points;
pub mod pricing;
pub mod store;
pub mod webhook;

#[cfg(test)]
mod tests;

use crate::db::{DbError, DbResult, Tx};
use coupons::{Code, Coupon, CouponTerms};
use floors::{Exposure, FloorPolicy};
use pricing::{CartLine, Priced, PricingError, Promotion, RuleSet};
use serde::{Deserialize, Serialize};
use tote_shared::{Qty, Sku};

/// How this shop stacks promotions and protects its margins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarketingPolicy {
    /// The stacking rules: Tmall's (`RuleSet::tmall`) by default.
    pub rules: RuleSet,
    /// The shop our own lines are sold as (shop-layer promotions name it).
    #[schema(pattern = "^[A-Za-z0-9_-]{1,40}$")]
    pub shop: String,
    pub floors: FloorPolicy,
    /// Tiers, and how points are earned and spent.
    #[serde(default)]
    pub membership: members::Membership,
    /// How orders without a campaign's coupon are attributed to campaigns.
    #[serde(default)]
    pub attribution: campaigns::AttributionPolicy,
}

impl Default for MarketingPolicy {
    fn default() -> Self {
        MarketingPolicy {
            rules: RuleSet::tmall(),
            shop: "tote".into(),
            floors: FloorPolicy {
                min_margin_bp: 0,
                min_list_share_bp: 0,
            },
            membership: members::Membership::default(),
            attribution: campaigns::AttributionPolicy::default(),
        }
    }
}

impl MarketingPolicy {
    pub fn problem(&self) -> Option<String> {
        if !plain(&self.shop) || !plain(&self.rules.name) {
            return Some("shop and rules.name: 1 to 40 letters, digits, '-' or '_'".into());
        }
        if self.floors.min_margin_bp > 100_000 || self.floors.min_list_share_bp > 10_000 {
            return Some("floors: min_margin_bp 0 to 100000, min_list_share_bp 0 to 10000".into());
        }
        if self.rules.exclusive.len() > 100
            || self
                .rules
                .exclusive
                .iter()
                .any(|(a, b)| !plain(a) || !plain(b))
        {
            return Some("rules.exclusive: at most 100 pairs of class names (1 to 40 letters, digits, '-' or '_')".into());
        }
        self.membership
            .problem()
            .or_else(|| self.attribution.problem())
    }
}

/// 1 to 40 letters, digits, '-' or '_'.
pub fn plain(text: &str) -> bool {
    tote_shared::sync::is_plain_code(text, 40)
}

/// A promotion as published: its rule and its window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PromotionRecord {
    #[serde(flatten)]
    pub promotion: Promotion,
    /// `live` or `withdrawn`.
    pub state: String,
    pub starts_ms: i64,
    pub ends_ms: i64,
    pub created_ms: i64,
    pub updated_ms: i64,
    /// A coupon: applies only where one of its codes is presented.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coupon: Option<Coupon>,
}

#[derive(Debug, thiserror::Error)]
pub enum MarketingError {
    /// 404
    #[error("{0} not found")]
    NotFound(String),
    /// 422
    #[error("{0}")]
    Invalid(String),
    /// 422: the cart cannot be priced (a SKU we do not sell).
    #[error("{0}")]
    Cart(String),
    /// 422: the promotion could sell these SKUs below their floors.
    #[error("{}", below_floor(.0))]
    BelowFloor(Vec<Exposure>),
    /// 422: a code that is not one, not live, or does not apply to the cart.
    #[error("{0}")]
    CouponInvalid(String),
    /// 409: a code or coupon another order took first, or a customer's uses spent.
    #[error("{0}")]
    CouponTaken(String),
    /// 409: a flash sale sold out, over, or spent for this customer.
    #[error("{0}")]
    SoldOut(String),
    /// 409: not enough sellable stock for a flash sale's quota.
    #[error("{0}")]
    Stock(String),
    /// 409: a group buy opens no groups now, or the group is full, closed or has the customer.
    #[error("{0}")]
    GroupClosed(String),
    /// 409: the customer has not that many points to spend now.
    #[error("{0}")]
    PointsShort(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

fn below_floor(found: &[Exposure]) -> String {
    let each: Vec<String> = found
        .iter()
        .take(20)
        .map(|e| {
            format!(
                "{} could sell at {} under its floor of {} (with {})",
                e.sku,
                yuan(e.worst),
                yuan(e.floor),
                e.stack.join(" + ")
            )
        })
        .collect();
    format!(
        "refused: {}{}",
        each.join("; "),
        if found.len() > 20 {
            format!("; and {} more", found.len() - 20)
        } else {
            String::new()
        }
    )
}

fn yuan(minor: i64) -> String {
    format!("¥{}", tote_shared::payment::alipay::yuan(minor))
}

impl From<PricingError> for MarketingError {
    fn from(e: PricingError) -> Self {
        match e {
            PricingError::Invalid(why) => MarketingError::Invalid(why),
        }
    }
}

/// Every SKU as a cart line of one unit at its list price, with its floor.
fn catalog_lines(tx: &mut dyn Tx, policy: &MarketingPolicy) -> DbResult<Vec<CartLine>> {
    Ok(crate::catalog::store::all_skus(tx)?
        .into_iter()
        .map(|s| {
            let (list, cost) = (s.price.minor(), s.cost.minor());
            CartLine {
                sku: s.sku,
                shop: policy.shop.clone(),
                qty: 1,
                list_price: list,
                floor: policy.floors.floor(list, cost),
            }
        })
        .collect())
}

/// Publishes a promotion for [`starts_ms`, `ends_ms`), or refuses it — naming each SKU — when
/// with the promotions live in that window it could sell a SKU below its floor. Audited.
pub fn publish(
    tx: &mut dyn Tx,
    promotion: Promotion,
    coupon: Option<CouponTerms>,
    starts_ms: i64,
    ends_ms: i64,
    now_ms: i64,
) -> Result<PromotionRecord, MarketingError> {
    if !plain(&promotion.id)
        || !plain(&promotion.class)
        || promotion.shop.as_deref().is_some_and(|s| !plain(s))
    {
        return Err(MarketingError::Invalid(
            "id, class and shop: 1 to 40 letters, digits, '-' or '_'".into(),
        ));
    }
    if starts_ms < 0 || starts_ms >= ends_ms || promotion.skus.len() > pricing::MAX_LINES {
        return Err(MarketingError::Invalid(format!(
            "the window must end after it starts, and a promotion names at most {} SKUs",
            pricing::MAX_LINES
        )));
    }
    pricing::check_promotion(&promotion)?;
    if let Some(terms) = &coupon {
        if let Some(why) = terms.problem() {
            return Err(MarketingError::Invalid(why));
        }
        if !matches!(
            promotion.layer,
            pricing::Layer::ShopCoupon | pricing::Layer::Platform
        ) {
            return Err(MarketingError::Invalid(
                "a coupon is on the shop_coupon or platform layer".into(),
            ));
        }
    }
    let before = store::get(tx, &promotion.id)?;
    if before
        .as_ref()
        .is_some_and(|b| b.coupon.is_some() != coupon.is_some())
    {
        return Err(MarketingError::Invalid(format!(
            "promotion {} is {} a coupon: publish it under another id",
            promotion.id,
            if coupon.is_some() { "not" } else { "" }
        )));
    }
    let policy = store::policy(tx)?;
    if let Some(tier) = promotion
        .tier
        .as_deref()
        .filter(|t| policy.membership.rank(t).is_none())
    {
        return Err(MarketingError::Invalid(format!(
            "tier {tier} is not one of the policy's tiers"
        )));
    }
    if let Some(segment) = promotion.segment.as_deref().filter(|s| !plain(s)) {
        return Err(MarketingError::Invalid(format!(
            "segment {segment}: 1 to 40 letters, digits, '-' or '_'"
        )));
    }
    if let Some(segment) = &promotion.segment {
        if !store::segments(tx)?.iter().any(|(id, _)| id == segment) {
            return Err(MarketingError::Invalid(format!(
                "segment {segment} is not defined"
            )));
        }
    }
    if promotion.id == pricing::POINTS {
        return Err(MarketingError::Invalid(format!(
            "{} is what points go by: name the promotion otherwise",
            pricing::POINTS
        )));
    }
    let catalog = catalog_lines(tx, &policy)?;
    if let Some(unknown) = promotion
        .skus
        .iter()
        .find(|s| !catalog.iter().any(|l| &l.sku == *s))
    {
        return Err(MarketingError::Invalid(format!(
            "SKU {unknown} is not in the catalog"
        )));
    }
    let live: Vec<Promotion> = store::live_between(tx, starts_ms, ends_ms)?
        .into_iter()
        .map(|p| p.promotion)
        .filter(|p| p.id != promotion.id)
        .collect();
    if live.len() >= pricing::MAX_PROMOTIONS {
        return Err(MarketingError::Invalid(format!(
            "{} promotions are live in that window already: at most {}",
            live.len(),
            pricing::MAX_PROMOTIONS
        )));
    }
    let found = floors::exposures(&policy.rules, &promotion, &live, &catalog);
    if !found.is_empty() {
        return Err(MarketingError::BelowFloor(found));
    }
    let created_ms = before.as_ref().map_or(now_ms, |p| p.created_ms);
    let coupon = coupon.map(|terms| {
        let counts = before.as_ref().and_then(|b| b.coupon);
        Coupon {
            terms,
            issued: counts.map_or(0, |c| c.issued),
            redeemed: counts.map_or(0, |c| c.redeemed),
        }
    });
    let record = PromotionRecord {
        promotion,
        state: "live".into(),
        starts_ms,
        ends_ms,
        created_ms,
        updated_ms: now_ms,
        coupon,
    };
    store::put(tx, &record)?;
    let detail = serde_json::to_value(&record).map_err(|e| DbError::corrupt(e.to_string()))?;
    crate::audit::store::append(
        tx,
        now_ms,
        "admin",
        "promotion_published",
        &format!("promotion:{}", record.promotion.id),
        &detail,
    )?;
    Ok(record)
}

/// HQ sets the policy (checked by `MarketingPolicy::problem` first). Refused while it would
/// change what customers hold: a point's value while any points are outstanding (the liability
/// finance keeps is at the value they were earned at), or a tier dropped that customers or a
/// live promotion still name. Audited.
pub fn set_policy(
    tx: &mut dyn Tx,
    policy: &MarketingPolicy,
    now_ms: i64,
) -> Result<(), MarketingError> {
    let before = store::policy(tx)?;
    if policy.membership.point_value != before.membership.point_value {
        let (held, owed) = store::points_outstanding(tx)?;
        if held != 0 || owed != 0 {
            return Err(MarketingError::Invalid(format!("membership.point_value cannot change while customers hold {held} points and owe {owed}")));
        }
    }
    let live = store::live_between(tx, now_ms, i64::MAX)?;
    for gone in before
        .membership
        .tiers
        .iter()
        .filter(|t| policy.membership.rank(&t.name).is_none())
    {
        if store::any_member_of(tx, &gone.name)?
            || live
                .iter()
                .any(|p| p.promotion.tier.as_deref() == Some(gone.name.as_str()))
        {
            return Err(MarketingError::Invalid(format!(
                "tier {} is held by customers or named by a live promotion: keep it",
                gone.name
            )));
        }
    }
    store::save_policy(tx, policy, now_ms)?;
    crate::audit::store::append(
        tx,
        now_ms,
        "admin",
        "marketing_policy_set",
        "marketing:policy",
        &serde_json::json!({"before": before, "after": policy}),
    )?;
    Ok(())
}

/// Withdraws a live promotion from now on. Audited.
pub fn withdraw(tx: &mut dyn Tx, id: &str, now_ms: i64) -> Result<PromotionRecord, MarketingError> {
    if store::withdraw(tx, id, now_ms)? {
        crate::audit::store::append(
            tx,
            now_ms,
            "admin",
            "promotion_withdrawn",
            &format!("promotion:{id}"),
            &serde_json::json!({}),
        )?;
    }
    store::get(tx, id)?.ok_or_else(|| MarketingError::NotFound(format!("promotion {id}")))
}

/// What checkout weighs at one moment: the policy and the promotions live then. Coupons
/// among them apply only where their codes are presented.
pub struct Checkout {
    pub policy: MarketingPolicy,
    live: Vec<PromotionRecord>,
    now_ms: i64,
}

/// One line to price: list price and cost per unit.
#[derive(Debug, Clone)]
pub struct ToPrice {
    pub sku: Sku,
    pub qty: Qty,
    pub list_price: i64,
    pub cost: i64,
}

/// A priced cart and the codes it uses: (code, coupon), each applied.
#[derive(Debug, Clone)]
pub struct Quote {
    pub priced: Priced,
    pub codes: Vec<(String, String)>,
}

impl Checkout {
    pub fn load(tx: &mut dyn Tx, now_ms: i64) -> DbResult<Checkout> {
        Ok(Checkout {
            policy: store::policy(tx)?,
            live: store::live_between(tx, now_ms, now_ms.saturating_add(1))?,
            now_ms,
        })
    }

    /// `load`, or nothing — every line at its list price — when no promotion is live
    /// (`store::anything_live` said so).
    pub fn load_if(tx: &mut dyn Tx, live: bool, now_ms: i64) -> DbResult<Checkout> {
        if live {
            Checkout::load(tx, now_ms)
        } else {
            Ok(Checkout {
                policy: MarketingPolicy::default(),
                live: Vec::new(),
                now_ms,
            })
        }
    }

    /// Whether any promotion other than a coupon could touch `sku`.
    pub fn touches(&self, sku: &Sku) -> bool {
        let line = CartLine {
            sku: sku.clone(),
            shop: self.policy.shop.clone(),
            qty: 1,
            list_price: 0,
            floor: 0,
        };
        self.live
            .iter()
            .any(|p| p.coupon.is_none() && p.promotion.covers(&line))
    }

    /// Prices `lines` for `customer` with the codes presented and the points they spend: the
    /// best stack of the live promotions (the codes' coupons among them, member prices of
    /// their tier and below) that the rules allow, then the points. A code that is not one,
    /// not live, used, someone else's, or that the best stack leaves out is refused; so are
    /// points they do not have.
    pub fn quote(
        &self,
        tx: &mut dyn Tx,
        lines: &[ToPrice],
        customer: Option<&str>,
        presented: &[String],
        points: i64,
    ) -> Result<Quote, MarketingError> {
        let cart: Vec<CartLine> = lines
            .iter()
            .map(|l| CartLine {
                sku: l.sku.clone(),
                shop: self.policy.shop.clone(),
                qty: l.qty.as_i64(),
                list_price: l.list_price,
                floor: self.policy.floors.floor(l.list_price, l.cost),
            })
            .collect();
        let segments = self.segments(tx, customer)?;
        let codes = self.presented(tx, customer, presented, &segments)?;
        let tier = self.tier(tx, customer)?;
        let promotions: Vec<Promotion> = self
            .live
            .iter()
            .filter(|p| p.coupon.is_none() || codes.iter().any(|c| c.promotion == p.promotion.id))
            .filter(|p| {
                p.promotion
                    .tier
                    .as_deref()
                    .is_none_or(|t| self.policy.membership.rank(t).is_some_and(|r| r <= tier))
            })
            .filter(|p| {
                p.promotion
                    .segment
                    .as_ref()
                    .is_none_or(|s| segments.contains(s))
            })
            .map(|p| p.promotion.clone())
            .filter(|p| cart.iter().any(|l| p.covers(l)))
            .collect();
        let mut priced = pricing::price(&self.policy.rules, &cart, &promotions)?;
        if points != 0 {
            let customer = customer.ok_or_else(|| {
                MarketingError::Invalid("points need the customer: name them on the order".into())
            })?;
            let available = store::points(tx, customer)?.available(self.now_ms);
            if points > available {
                return Err(MarketingError::PointsShort(format!(
                    "customer {customer} has {available} points to spend now, not {points}"
                )));
            }
            let m = &self.policy.membership;
            pricing::spend_points(&mut priced, points, m.point_value, m.points_max_share_bp)?;
        }
        let mut used = Vec::with_capacity(codes.len());
        for code in codes {
            if !priced.applied.iter().any(|a| a.promotion == code.promotion) {
                return Err(MarketingError::CouponInvalid(format!(
                    "coupon code {} does not apply to this cart (coupon {})",
                    code.code, code.promotion
                )));
            }
            used.push((code.code, code.promotion));
        }
        Ok(Quote {
            priced,
            codes: used,
        })
    }

    /// The customer's tier now, when a live promotion is for members only (else the base).
    fn tier(&self, tx: &mut dyn Tx, customer: Option<&str>) -> DbResult<usize> {
        match customer {
            Some(c) if self.live.iter().any(|p| p.promotion.tier.is_some()) => {
                Ok(loyalty::tier_of(tx, &self.policy.membership, c, self.now_ms)?.tier)
            }
            _ => Ok(0),
        }
    }

    /// The segments live promotions target that `customer` is in.
    fn segments(&self, tx: &mut dyn Tx, customer: Option<&str>) -> DbResult<Vec<String>> {
        let Some(customer) = customer else {
            return Ok(Vec::new());
        };
        let mut targeted: Vec<&String> = self
            .live
            .iter()
            .filter_map(|p| p.promotion.segment.as_ref())
            .collect();
        targeted.sort_unstable();
        targeted.dedup();
        let mut theirs = Vec::new();
        for segment in targeted {
            if store::is_member(tx, segment, customer)? {
                theirs.push(segment.clone());
            }
        }
        Ok(theirs)
    }

    /// The presented codes, each usable now by `customer` (in `segments`, those of the live
    /// promotions they are in), at most one per coupon.
    fn presented(
        &self,
        tx: &mut dyn Tx,
        customer: Option<&str>,
        presented: &[String],
        segments: &[String],
    ) -> Result<Vec<Code>, MarketingError> {
        if presented.len() > coupons::MAX_PRESENTED {
            return Err(MarketingError::CouponInvalid(format!(
                "at most {} coupon codes",
                coupons::MAX_PRESENTED
            )));
        }
        let mut wanted = Vec::with_capacity(presented.len());
        for typed in presented {
            let code = coupons::normalise(typed)
                .ok_or_else(|| MarketingError::CouponInvalid("not a coupon code".into()))?;
            wanted.push(code);
        }
        let found = store::codes(tx, &wanted)?;
        let mut usable: Vec<Code> = Vec::with_capacity(found.len());
        for code in &wanted {
            let known = found.iter().find(|c| &c.code == code).ok_or_else(|| {
                MarketingError::CouponInvalid(format!("coupon code {code} does not exist"))
            })?;
            if let Some(why) = coupons::unusable(known, customer) {
                return Err(MarketingError::CouponTaken(why));
            }
            let Some(live) = self
                .live
                .iter()
                .find(|p| p.promotion.id == known.promotion && p.starts_ms <= self.now_ms)
            else {
                return Err(MarketingError::CouponInvalid(format!(
                    "coupon code {code} is not valid now (coupon {})",
                    known.promotion
                )));
            };
            if let Some(segment) = live
                .promotion
                .segment
                .as_ref()
                .filter(|s| !segments.contains(s))
            {
                return Err(MarketingError::CouponInvalid(format!(
                    "coupon {} is for the customers of segment {segment}",
                    known.promotion
                )));
            }
            if usable.iter().any(|c| c.promotion == known.promotion) {
                return Err(MarketingError::CouponInvalid(format!(
                    "two codes of coupon {}: one per order",
                    known.promotion
                )));
            }
            usable.push(known.clone());
        }
        Ok(usable)
    }

    /// The order takes the codes of its quote, in its own transaction: each code, a use of
    /// its coupon under the total limit and one of the customer's under theirs — or nothing,
    /// with the refusal (the caller rolls back).
    pub fn redeem(
        &self,
        tx: &mut dyn Tx,
        order_id: u64,
        customer: Option<&str>,
        quote: &Quote,
    ) -> Result<(), MarketingError> {
        if quote.codes.is_empty() && quote.priced.points == 0 {
            return Ok(());
        }
        let customer = customer.ok_or_else(|| {
            MarketingError::CouponInvalid(
                "a coupon or points need the customer: name them on the order".into(),
            )
        })?;
        // By coupon, as `release_coupons` goes: two orders' rows are always locked in one order.
        let mut codes: Vec<&(String, String)> = quote.codes.iter().collect();
        codes.sort_by(|a, b| a.1.cmp(&b.1));
        for (code, promotion) in codes {
            let terms = self
                .live
                .iter()
                .find(|p| &p.promotion.id == promotion)
                .and_then(|p| p.coupon)
                .ok_or_else(|| {
                    MarketingError::CouponInvalid(format!("coupon {promotion} is not live"))
                })?;
            if !store::reserve_code(tx, code, order_id, self.now_ms)? {
                return Err(MarketingError::CouponTaken(format!(
                    "coupon code {code} has been used"
                )));
            }
            if !store::take_use(tx, promotion)? {
                return Err(MarketingError::CouponTaken(format!(
                    "coupon {promotion} is used up: {} orders have it",
                    terms.terms.limit_total
                )));
            }
            if !store::take_customer_use(tx, promotion, customer, terms.terms.limit_per_user)? {
                return Err(MarketingError::CouponTaken(format!(
                    "coupon {promotion}: {} per customer, used up",
                    terms.terms.limit_per_user
                )));
            }
        }
        if quote.priced.points > 0 {
            loyalty::redeem(
                tx,
                &self.policy.membership,
                customer,
                order_id,
                quote.priced.points,
                self.now_ms,
            )?;
        }
        Ok(())
    }
}

/// The order ended without being paid for (cancelled, closed; in the transaction that ends
/// it), or everything it paid came back (the marketing consumer): the codes it held are
/// available again, with their coupons' and the customer's uses.
pub fn release_coupons(
    tx: &mut dyn Tx,
    order_id: u64,
    customer: Option<&str>,
    now_ms: i64,
) -> DbResult<Vec<Code>> {
    let held = store::codes_held_by(tx, order_id)?;
    for code in &held {
        store::release_code(tx, code, customer, now_ms)?;
    }
    Ok(held)
}

/// HQ issues `count` fresh codes of coupon `id`, to `customer` or to the bearer. Audited
/// (the count, not the codes).
pub fn issue_codes(
    tx: &mut dyn Tx,
    id: &str,
    count: u32,
    customer: Option<&str>,
    now_ms: i64,
) -> Result<Vec<String>, MarketingError> {
    let record =
        store::get(tx, id)?.ok_or_else(|| MarketingError::NotFound(format!("promotion {id}")))?;
    let Some(coupon) = record.coupon else {
        return Err(MarketingError::Invalid(format!(
            "promotion {id} is not a coupon"
        )));
    };
    if record.state != "live" || record.ends_ms <= now_ms {
        return Err(MarketingError::Invalid(format!(
            "coupon {id} is {}",
            if record.state != "live" {
                "withdrawn"
            } else {
                "over"
            }
        )));
    }
    if count == 0
        || count > coupons::MAX_ISSUE
        || coupon.issued + i64::from(count) > coupons::MAX_CODES
    {
        return Err(MarketingError::Invalid(format!(
            "1 to {} codes per call, at most {} per coupon ({} issued)",
            coupons::MAX_ISSUE,
            coupons::MAX_CODES,
            coupon.issued
        )));
    }
    let fresh = fresh_codes(count)?;
    let stored = store::insert_codes(tx, id, &fresh, customer, now_ms)?;
    crate::audit::store::append(
        tx,
        now_ms,
        "admin",
        "coupon_codes_issued",
        &format!("promotion:{id}"),
        &serde_json::json!({"count": stored.len(), "customer": customer}),
    )?;
    Ok(stored)
}

/// A cart with a SKU on flash sale, priced as the order will be: alone, at the flash price,
/// nothing stacked on it.
fn flash_quote(
    tx: &mut dyn Tx,
    sale: &flash::FlashSale,
    lines: &[(Sku, Qty)],
    codes: &[String],
) -> Result<Quote, MarketingError> {
    let [(sku, qty)] = lines else {
        return Err(MarketingError::Cart(format!(
            "SKU {} is on flash sale {}: order it alone",
            sale.sku, sale.id
        )));
    };
    if !codes.is_empty() {
        return Err(MarketingError::CouponInvalid(format!(
            "SKU {sku} is on flash sale {}: no coupons on it",
            sale.id
        )));
    }
    let list = crate::catalog::store::prices(tx, &[sku])?
        .pop()
        .flatten()
        .ok_or_else(|| MarketingError::Cart(format!("SKU {sku} is not in the catalog")))?
        .minor();
    let cart = [CartLine {
        sku: sku.clone(),
        shop: String::new(),
        qty: qty.as_i64(),
        list_price: list,
        floor: 0,
    }];
    let price = Promotion {
        id: sale.id.clone(),
        layer: pricing::Layer::Item,
        class: "flash_sale".into(),
        shop: None,
        skus: vec![sku.clone()],
        benefit: pricing::Benefit::UnitPrice { price: sale.price },
        tier: None,
        segment: None,
    };
    Ok(Quote {
        priced: pricing::price(&RuleSet::tmall(), &cart, &[price])?,
        codes: Vec::new(),
    })
}

/// `n` fresh codes from the system's random source.
pub(crate) fn fresh_codes(n: u32) -> DbResult<Vec<String>> {
    let rng = ring::rand::SystemRandom::new();
    (0..n)
        .map(|_| {
            let bytes: [u8; 10] = ring::rand::generate(&rng)
                .map_err(|_| DbError::corrupt("the system's random source failed"))?
                .expose();
            Ok(coupons::code_from(&bytes))
        })
        .collect()
}

/// Prices a cart of our SKUs at `now_ms`: list prices and floors from the catalog, the
/// promotions live then (coupons where a code is presented), the policy's rules.
pub fn price_cart(
    tx: &mut dyn Tx,
    lines: &[(Sku, Qty)],
    customer: Option<&str>,
    codes: &[String],
    points: i64,
    now_ms: i64,
) -> Result<Quote, MarketingError> {
    let skus: Vec<&Sku> = lines.iter().map(|(s, _)| s).collect();
    if let Some(sale) = flash::selling(tx, &skus, now_ms)?.into_iter().next() {
        if points != 0 {
            return Err(MarketingError::Invalid(format!(
                "SKU {} is on flash sale {}: no points on it",
                sale.sku, sale.id
            )));
        }
        return flash_quote(tx, &sale, lines, codes);
    }
    let checkout = Checkout::load(tx, now_ms)?;
    let mut to_price = Vec::with_capacity(lines.len());
    for (sku, qty) in lines {
        let record = crate::catalog::store::get_sku(tx, sku).map_err(|e| match e {
            crate::catalog::CatalogError::Db(e) => MarketingError::Db(e),
            _ => MarketingError::Cart(format!("SKU {sku} is not in the catalog")),
        })?;
        if !record.state.on_sale() {
            return Err(MarketingError::Cart(format!(
                "SKU {sku} is not on sale ({})",
                record.state.as_str()
            )));
        }
        to_price.push(ToPrice {
            sku: sku.clone(),
            qty: *qty,
            list_price: record.price.minor(),
            cost: record.cost.minor(),
        });
    }
    checkout.quote(tx, &to_price, customer, codes, points)
}
