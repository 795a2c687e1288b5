//! Marketing: what a customer pays and why. So far: checkout pricing (`pricing.rs`, pure) —
//! promotions in layers with a combination matrix, JD's sequential and Tmall's parallel
//! thresholds, the best allowed stack found by search, every discount allocated to lines by
//! largest remainder, no line sold below its floor; margin protection at publish time
//! (`floors.rs`, pure: the worst stack a promotion could make); the promotions HQ publishes
//! (`store.rs`: `mk_promotion`, the policy in `settings_doc`) and the pricing call the shop
//! front makes before an order (`http.rs`). Coupons, flash sales, membership, points, segments
//! and attribution come later.

pub mod floors;
pub mod http;
pub mod points;
pub mod pricing;
pub mod store;

#[cfg(test)]
mod tests;

use crate::db::{DbError, DbResult, Tx};
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
}

impl Default for MarketingPolicy {
    fn default() -> Self {
        MarketingPolicy { rules: RuleSet::tmall(), shop: "tote".into(), floors: FloorPolicy { min_margin_bp: 0, min_list_share_bp: 0 } }
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
        if self.rules.exclusive.len() > 100 || self.rules.exclusive.iter().any(|(a, b)| !plain(a) || !plain(b)) {
            return Some("rules.exclusive: at most 100 pairs of class names (1 to 40 letters, digits, '-' or '_')".into());
        }
        None
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
    #[error(transparent)]
    Db(#[from] DbError),
}

fn below_floor(found: &[Exposure]) -> String {
    let each: Vec<String> = found
        .iter()
        .take(20)
        .map(|e| format!("{} could sell at {} under its floor of {} (with {})", e.sku, yuan(e.worst), yuan(e.floor), e.stack.join(" + ")))
        .collect();
    format!("refused: {}{}", each.join("; "), if found.len() > 20 { format!("; and {} more", found.len() - 20) } else { String::new() })
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
            CartLine { sku: s.sku, shop: policy.shop.clone(), qty: 1, list_price: list, floor: policy.floors.floor(list, cost) }
        })
        .collect())
}

/// Publishes a promotion for [`starts_ms`, `ends_ms`), or refuses it — naming each SKU — when
/// with the promotions live in that window it could sell a SKU below its floor. Audited.
pub fn publish(tx: &mut dyn Tx, promotion: Promotion, starts_ms: i64, ends_ms: i64, now_ms: i64) -> Result<PromotionRecord, MarketingError> {
    if !plain(&promotion.id) || !plain(&promotion.class) || promotion.shop.as_deref().is_some_and(|s| !plain(s)) {
        return Err(MarketingError::Invalid("id, class and shop: 1 to 40 letters, digits, '-' or '_'".into()));
    }
    if starts_ms < 0 || starts_ms >= ends_ms || promotion.skus.len() > pricing::MAX_LINES {
        return Err(MarketingError::Invalid(format!("the window must end after it starts, and a promotion names at most {} SKUs", pricing::MAX_LINES)));
    }
    pricing::check_promotion(&promotion)?;
    let policy = store::policy(tx)?;
    let catalog = catalog_lines(tx, &policy)?;
    if let Some(unknown) = promotion.skus.iter().find(|s| !catalog.iter().any(|l| &l.sku == *s)) {
        return Err(MarketingError::Invalid(format!("SKU {unknown} is not in the catalog")));
    }
    let live: Vec<Promotion> = store::live_between(tx, starts_ms, ends_ms)?.into_iter().map(|p| p.promotion).filter(|p| p.id != promotion.id).collect();
    if live.len() >= pricing::MAX_PROMOTIONS {
        return Err(MarketingError::Invalid(format!("{} promotions are live in that window already: at most {}", live.len(), pricing::MAX_PROMOTIONS)));
    }
    let found = floors::exposures(&policy.rules, &promotion, &live, &catalog);
    if !found.is_empty() {
        return Err(MarketingError::BelowFloor(found));
    }
    let created_ms = store::get(tx, &promotion.id)?.map_or(now_ms, |p| p.created_ms);
    let record = PromotionRecord { promotion, state: "live".into(), starts_ms, ends_ms, created_ms, updated_ms: now_ms };
    store::put(tx, &record)?;
    let detail = serde_json::to_value(&record).map_err(|e| DbError::corrupt(e.to_string()))?;
    crate::audit::store::append(tx, now_ms, "admin", "promotion_published", &format!("promotion:{}", record.promotion.id), &detail)?;
    Ok(record)
}

/// Withdraws a live promotion from now on. Audited.
pub fn withdraw(tx: &mut dyn Tx, id: &str, now_ms: i64) -> Result<PromotionRecord, MarketingError> {
    if store::withdraw(tx, id, now_ms)? {
        crate::audit::store::append(tx, now_ms, "admin", "promotion_withdrawn", &format!("promotion:{id}"), &serde_json::json!({}))?;
    }
    store::get(tx, id)?.ok_or_else(|| MarketingError::NotFound(format!("promotion {id}")))
}

/// Prices a cart of our SKUs at `now_ms`: list prices and floors from the catalog, the
/// promotions live then, the policy's rules.
pub fn price_cart(tx: &mut dyn Tx, lines: &[(Sku, Qty)], now_ms: i64) -> Result<Priced, MarketingError> {
    let policy = store::policy(tx)?;
    let mut cart = Vec::with_capacity(lines.len());
    for (sku, qty) in lines {
        let record = crate::catalog::store::get_sku(tx, sku).map_err(|e| match e {
            crate::catalog::CatalogError::Db(e) => MarketingError::Db(e),
            _ => MarketingError::Cart(format!("SKU {sku} is not in the catalog")),
        })?;
        let (list, cost) = (record.price.minor(), record.cost.minor());
        cart.push(CartLine { sku: sku.clone(), shop: policy.shop.clone(), qty: qty.as_i64(), list_price: list, floor: policy.floors.floor(list, cost) });
    }
    // Only what can touch this cart is weighed.
    let live: Vec<Promotion> = store::live_between(tx, now_ms, now_ms.saturating_add(1))?
        .into_iter()
        .map(|p| p.promotion)
        .filter(|p| cart.iter().any(|l| p.covers(l)))
        .collect();
    Ok(pricing::price(&policy.rules, &cart, &live)?)
}
