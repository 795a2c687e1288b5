//! Selling prices with validity and history, and a SKU's lifecycle. Pure: which lifecycle
//! step may follow which, and which price is in force at a moment.
//!
//! Every price ever set is kept (append-only `cat_price`): its kind, amount, the window it is
//! valid in, who set it and why. The price checkout charges before promotions (the SKU's
//! `price`) is derived from them: the latest-set base price whose window covers now, replaced
//! by the latest clearance price in force while the SKU is in clearance. Member prices are kept
//! and shown beside them; promotion prices are marketing's (promotions and flash sales carry
//! their own windows and history).

use serde::{Deserialize, Serialize};
use tote_shared::Money;

/// Where a SKU is in its life: `draft` (being set up, not sold) → `listed` (on sale) ⇄
/// `clearance` (on sale, at its clearance price when one is in force) → `retired` (never sold
/// again; kept for history).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SkuState {
    Draft,
    Listed,
    Clearance,
    Retired,
}
names!(SkuState { Draft => "draft", Listed => "listed", Clearance => "clearance", Retired => "retired" });

impl SkuState {
    /// Orders may be taken for it.
    pub fn on_sale(self) -> bool {
        matches!(self, SkuState::Listed | SkuState::Clearance)
    }

    /// Whether HQ may move a SKU from `self` to `to`.
    pub fn may_become(self, to: SkuState) -> bool {
        use SkuState::*;
        matches!((self, to), (Draft, Listed) | (Draft, Retired) | (Listed, Clearance) | (Clearance, Listed) | (Listed, Retired) | (Clearance, Retired))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PriceKind {
    /// The everyday selling price.
    Base,
    /// What members pay (shown to them; checkout's member discounts are marketing's tiers).
    Member,
    /// The selling price while the SKU is in clearance.
    Clearance,
}
names!(PriceKind { Base => "base", Member => "member", Clearance => "clearance" });

/// One price as set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PriceEntry {
    pub id: u64,
    pub kind: PriceKind,
    pub price: Money,
    pub valid_from_ms: i64,
    /// None: until another price replaces it.
    pub valid_until_ms: Option<i64>,
    #[schema(value_type = tote_shared::openapi::Text300)]
    pub reason: String,
    /// Who set it (`admin`, `import`, `creation`).
    pub set_by: String,
    pub set_ms: i64,
}

impl PriceEntry {
    pub fn covers(&self, at_ms: i64) -> bool {
        self.valid_from_ms <= at_ms && self.valid_until_ms.is_none_or(|until| at_ms < until)
    }
}

/// The price of `kind` in force at `at_ms`: the latest set (highest id) whose window covers it.
pub fn in_force(entries: &[PriceEntry], kind: PriceKind, at_ms: i64) -> Option<&PriceEntry> {
    entries.iter().filter(|e| e.kind == kind && e.covers(at_ms)).max_by_key(|e| e.id)
}

/// The price checkout charges at `at_ms` for a SKU in `state` with these entries, or None to
/// keep the one it has (no entry in force: a SKU priced before history began).
pub fn selling_price(entries: &[PriceEntry], state: SkuState, at_ms: i64) -> Option<(Money, PriceKind)> {
    if state == SkuState::Clearance {
        if let Some(e) = in_force(entries, PriceKind::Clearance, at_ms) {
            return Some((e.price, PriceKind::Clearance));
        }
    }
    in_force(entries, PriceKind::Base, at_ms).map(|e| (e.price, PriceKind::Base))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: u64, kind: PriceKind, yuan: i64, from: i64, until: Option<i64>) -> PriceEntry {
        PriceEntry { id, kind, price: Money::parse(yuan * 100).expect("money"), valid_from_ms: from, valid_until_ms: until, reason: String::new(), set_by: "admin".into(), set_ms: 0 }
    }

    #[test]
    fn the_latest_set_price_covering_the_moment_is_in_force() {
        let history = [
            entry(1, PriceKind::Base, 899, 0, None),
            // A two-week price drop, set later, wins inside its window only.
            entry(2, PriceKind::Base, 799, 100, Some(200)),
            entry(3, PriceKind::Clearance, 499, 150, None),
            entry(4, PriceKind::Member, 859, 0, None),
        ];
        let yuan = |at, state| selling_price(&history, state, at).map(|(m, k)| (m.minor() / 100, k));
        assert_eq!(yuan(50, SkuState::Listed), Some((899, PriceKind::Base)));
        assert_eq!(yuan(100, SkuState::Listed), Some((799, PriceKind::Base)));
        assert_eq!(yuan(200, SkuState::Listed), Some((899, PriceKind::Base)), "the drop ended");
        assert_eq!(yuan(160, SkuState::Clearance), Some((499, PriceKind::Clearance)));
        assert_eq!(yuan(120, SkuState::Clearance), Some((799, PriceKind::Base)), "no clearance price yet");
        assert_eq!(yuan(160, SkuState::Listed), Some((799, PriceKind::Base)), "a clearance price only for a SKU in clearance");
        assert_eq!(selling_price(&history[3..], SkuState::Listed, 50), None, "no base price in history: keep what it has");
    }

    #[test]
    fn the_lifecycle_goes_forward_and_clearance_back() {
        use SkuState::*;
        assert!(Draft.may_become(Listed) && Listed.may_become(Clearance) && Clearance.may_become(Listed) && Clearance.may_become(Retired));
        assert!(!Retired.may_become(Listed) && !Listed.may_become(Draft) && !Draft.may_become(Clearance) && !Listed.may_become(Listed));
        assert!(Listed.on_sale() && Clearance.on_sale() && !Draft.on_sale() && !Retired.on_sale());
    }
}
