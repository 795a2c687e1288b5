//! Flash sales (秒杀): one SKU at a flash price, a quota of units carved out of sellable
//! stock at one warehouse, so the sale never sells what another order took, nor the other way
//! round, and a per-customer limit.
//!
//! Publishing locks the quota at the warehouse (a hold, `flash_sale_hold` in the stock
//! ledger). A flash order takes units from the hold without touching stock levels: the hold's
//! lock becomes the order's, which payment commits as usual. An order that ends unpaid gives
//! its units back to the hold while the sale runs (`release`); when the sale ends, what is left
//! of the hold goes back to sellable. The sale's row is the one place its counters live, locked
//! by whoever decides against it, so concurrent orders are decided one after the other — in a
//! batch, many in one transaction (`orders::intake`).

use super::{store, MarketingError};
use crate::db::{DbError, DbResult, Tx};
use crate::inventory::{self, Cause, Change, InventoryError};
use serde::{Deserialize, Serialize};
use tote_shared::stock::StockLevel;
use tote_shared::{Sku, WarehouseCode};

/// Most units one sale carves out.
pub const MAX_QUOTA: i64 = 100_000;
/// Most units one customer may be allowed.
pub const MAX_PER_USER: i64 = 100;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FlashSale {
    pub id: String,
    pub sku: Sku,
    /// Where the quota is held.
    pub warehouse: WarehouseCode,
    /// The flash price per unit, minor units.
    pub price: i64,
    pub quota: i64,
    /// Most units one customer may buy in the sale.
    pub per_user: i64,
    /// Units in orders that hold them (paid, or waiting for payment).
    pub sold: i64,
    pub starts_ms: i64,
    pub ends_ms: i64,
    /// `live`, `ended` (its window closed or HQ ended it; the rest of the hold went back).
    pub state: String,
    pub created_ms: i64,
    pub updated_ms: i64,
}

impl FlashSale {
    /// Whether it sells at `now_ms`.
    pub fn selling(&self, now_ms: i64) -> bool {
        self.state == "live" && self.starts_ms <= now_ms && now_ms < self.ends_ms
    }

    /// What is left of the hold.
    pub fn left(&self) -> i64 {
        self.quota - self.sold
    }
}

/// Why one flash order is refused, if it is: the sale not running, no customer, more than
/// the customer may still buy, more than is left.
pub fn refusal(sale: &FlashSale, customer: Option<&str>, bought: i64, qty: i64, now_ms: i64) -> Option<String> {
    if !sale.selling(now_ms) {
        return Some(format!("flash sale {} is not selling now", sale.id));
    }
    if customer.is_none() {
        return Some(format!("flash sale {}: name the customer (at most {} per customer)", sale.id, sale.per_user));
    }
    if bought + qty > sale.per_user {
        return Some(format!("flash sale {}: at most {} per customer, {bought} bought already", sale.id, sale.per_user));
    }
    if qty > sale.left() {
        return Some(format!("flash sale {} is sold out: {} left", sale.id, sale.left().max(0)));
    }
    None
}

/// A flash sale as HQ asks for it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFlashSale {
    pub sku: Sku,
    /// The warehouse whose sellable stock the quota is carved from.
    pub warehouse: WarehouseCode,
    /// Minor units, at most the list price and never under the SKU's floor.
    #[schema(minimum = 0, maximum = 10000000000_i64)]
    pub price: i64,
    #[schema(minimum = 1, maximum = 100000)]
    pub quota: i64,
    #[schema(minimum = 1, maximum = 100)]
    pub per_user: i64,
    #[schema(minimum = 0, maximum = 9223372036854775807_i64)]
    pub starts_ms: i64,
    #[schema(minimum = 1, maximum = 9223372036854775807_i64)]
    pub ends_ms: i64,
}

/// HQ publishes a flash sale: the quota is held at the warehouse now (refused when it has
/// not that much sellable), the price checked against the floor. Audited.
pub fn publish(tx: &mut dyn Tx, id: &str, new: &NewFlashSale, now_ms: i64) -> Result<FlashSale, MarketingError> {
    let invalid = |why: String| Err(MarketingError::Invalid(why));
    if !super::plain(id) {
        return invalid("id: 1 to 40 letters, digits, '-' or '_'".into());
    }
    if !(1..=MAX_QUOTA).contains(&new.quota) || !(1..=MAX_PER_USER).contains(&new.per_user) || new.starts_ms < 0 || new.starts_ms >= new.ends_ms || new.ends_ms <= now_ms {
        return invalid(format!("quota 1 to {MAX_QUOTA}, per_user 1 to {MAX_PER_USER}, a window that ends after it starts and after now"));
    }
    if store::flash(tx, id)?.is_some() {
        return invalid(format!("flash sale {id} exists: publish another id"));
    }
    let record = crate::catalog::store::get_sku(tx, &new.sku).map_err(|_| MarketingError::Invalid(format!("SKU {} is not in the catalog", new.sku)))?;
    if !record.state.on_sale() {
        return Err(MarketingError::Invalid(format!("SKU {} is not on sale ({})", new.sku, record.state.as_str())));
    }
    let floor = store::policy(tx)?.floors.floor(record.price.minor(), record.cost.minor());
    if !(floor..=record.price.minor()).contains(&new.price) {
        return invalid(format!("the flash price must be between the floor {} and the list price {}", super::yuan(floor), super::yuan(record.price.minor())));
    }
    if store::flash_live_for(tx, &new.sku, id)? {
        return invalid(format!("SKU {} is in another live flash sale", new.sku));
    }
    let sale = FlashSale {
        id: id.to_owned(),
        sku: new.sku.clone(),
        warehouse: new.warehouse.clone(),
        price: new.price,
        quota: new.quota,
        per_user: new.per_user,
        sold: 0,
        starts_ms: new.starts_ms,
        ends_ms: new.ends_ms,
        state: "live".into(),
        created_ms: now_ms,
        updated_ms: now_ms,
    };
    move_hold(tx, &sale, new.quota, StockLevel::lock, now_ms)?;
    store::insert_flash(tx, &sale)?;
    let detail = serde_json::to_value(&sale).map_err(|e| DbError::corrupt(e.to_string()))?;
    crate::audit::store::append(tx, now_ms, "admin", "flash_sale_published", &format!("flash_sale:{id}"), &detail)?;
    Ok(sale)
}

/// Locks (`StockLevel::lock`) or releases (`StockLevel::release_lock`) `qty` of the sale's
/// hold at its warehouse.
fn move_hold(tx: &mut dyn Tx, sale: &FlashSale, qty: i64, rule: inventory::Rule, now_ms: i64) -> Result<(), MarketingError> {
    if qty <= 0 {
        return Ok(());
    }
    let levels = inventory::store::lock(tx, &[(&sale.sku, &sale.warehouse)])?;
    let change = [Change { sku: &sale.sku, warehouse: &sale.warehouse, rule, qty }];
    let decided = inventory::decide(&change, &levels).map_err(|e| match e {
        InventoryError::Db(e) => MarketingError::Db(e),
        refused => MarketingError::Stock(format!("flash sale {} at {}: {refused}", sale.id, sale.warehouse)),
    })?;
    let reference = format!("flash_sale:{}", sale.id);
    let cause = Cause { cause: "flash_sale_hold", reference: &reference, at_ms: now_ms };
    for (level, moved) in &decided {
        inventory::store::save(tx, &sale.sku, &sale.warehouse, level, moved, &cause)?;
    }
    Ok(())
}

/// One order takes `qty` units of the sale (its row locked meanwhile), or is refused.
pub fn take(tx: &mut dyn Tx, sale_id: &str, order_id: u64, customer: Option<&str>, qty: i64, now_ms: i64) -> Result<(), MarketingError> {
    let mut sale = store::flash_for_update(tx, sale_id)?.ok_or_else(|| MarketingError::NotFound(format!("flash sale {sale_id}")))?;
    let bought = match customer {
        Some(c) => store::flash_bought(tx, sale_id, &[c])?.get(c).copied().unwrap_or(0),
        None => 0,
    };
    if let Some(why) = refusal(&sale, customer, bought, qty, now_ms) {
        return Err(MarketingError::SoldOut(why));
    }
    sale.sold += qty;
    store::set_flash(tx, sale_id, sale.sold, "live", now_ms)?;
    store::add_flash_orders(tx, sale_id, &[(order_id, customer.unwrap_or_default(), qty)])
        .map_err(MarketingError::from)
}

/// An order that held units of a sale ended (cancelled or closed; the order's own lock is
/// released already, in this transaction). Unpaid (`was_unpaid`), its units go back to the
/// hold while the sale runs and the customer may buy again — as many as the warehouse still
/// has sellable (after a count found less, or the order moved away, the quota shrinks by the
/// rest), so this never fails on stock. Paid and cancelled, the units went back to sellable
/// with the order's commitment; the sale and the customer's limit keep them counted, so buying,
/// paying and cancelling cannot drain the quota.
pub fn release(tx: &mut dyn Tx, order_id: u64, was_unpaid: bool, now_ms: i64) -> DbResult<()> {
    if !was_unpaid {
        return Ok(());
    }
    let Some((sale_id, qty)) = store::flash_held_by(tx, order_id)? else { return Ok(()) };
    store::release_flash_order(tx, &sale_id, order_id)?;
    let Some(mut sale) = store::flash_for_update(tx, &sale_id)? else { return Ok(()) };
    if sale.state != "live" {
        return Ok(());
    }
    let level = inventory::store::lock(tx, &[(&sale.sku, &sale.warehouse)])?.pop().unwrap_or_default();
    let back = qty.min(level.sellable().max(0));
    sale.quota -= qty - back;
    sale.sold -= qty;
    store::set_flash_quota(tx, &sale_id, sale.quota, sale.sold, now_ms)?;
    match move_hold(tx, &sale, back, StockLevel::lock, now_ms) {
        Err(MarketingError::Db(e)) => Err(e),
        Err(other) => Err(DbError::corrupt(format!("a hold within sellable refused: {other}"))),
        Ok(()) => Ok(()),
    }
}

/// Ends a sale (HQ, or its window closed): what is left of the hold goes back to sellable.
pub fn end(tx: &mut dyn Tx, id: &str, by_hq: bool, now_ms: i64) -> Result<FlashSale, MarketingError> {
    // The stock row before the sale's, as every path locks them.
    let seen = store::flash(tx, id)?.ok_or_else(|| MarketingError::NotFound(format!("flash sale {id}")))?;
    inventory::store::lock(tx, &[(&seen.sku, &seen.warehouse)])?;
    let mut sale = store::flash_for_update(tx, id)?.ok_or_else(|| MarketingError::NotFound(format!("flash sale {id}")))?;
    if sale.state != "live" {
        return Ok(sale);
    }
    move_hold(tx, &sale, sale.left(), StockLevel::release_lock, now_ms)?;
    store::set_flash(tx, id, sale.sold, "ended", now_ms)?;
    (sale.state, sale.updated_ms) = ("ended".into(), now_ms);
    if by_hq {
        crate::audit::store::append(tx, now_ms, "admin", "flash_sale_ended", &format!("flash_sale:{id}"), &serde_json::json!({"sold": sale.sold}))?;
    }
    Ok(sale)
}

/// Ends the sales whose window closed, at most `limit`; how many.
pub fn end_due(tx: &mut dyn Tx, now_ms: i64, limit: u32) -> Result<u32, MarketingError> {
    let due = store::flash_due(tx, now_ms, limit)?;
    for id in &due {
        end(tx, id, false, now_ms)?;
    }
    Ok(due.len() as u32)
}

/// The sales of `skus` selling at `now_ms`, their rows not locked (the order path locks the
/// one it takes from).
pub fn selling(tx: &mut dyn Tx, skus: &[&Sku], now_ms: i64) -> DbResult<Vec<FlashSale>> {
    Ok(store::live_flash(tx, skus)?.into_iter().filter(|s| s.selling(now_ms)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sale() -> FlashSale {
        FlashSale {
            id: "peg-flash".into(),
            sku: Sku::parse("PEG39-M-WHT-42").expect("sku"),
            warehouse: WarehouseCode::parse("SH-01").expect("warehouse"),
            price: 49_900,
            quota: 50,
            per_user: 1,
            sold: 49,
            starts_ms: 1_000,
            ends_ms: 2_000,
            state: "live".into(),
            created_ms: 0,
            updated_ms: 0,
        }
    }

    #[test]
    fn a_flash_order_needs_the_window_the_customer_their_limit_and_a_unit_left() {
        let s = sale();
        assert_eq!(refusal(&s, Some("u1"), 0, 1, 1_500), None);
        assert!(refusal(&s, Some("u1"), 0, 1, 999).is_some_and(|w| w.contains("not selling")));
        assert!(refusal(&s, Some("u1"), 0, 1, 2_000).is_some_and(|w| w.contains("not selling")), "the end is exclusive");
        assert!(refusal(&s, None, 0, 1, 1_500).is_some_and(|w| w.contains("name the customer")));
        assert!(refusal(&s, Some("u1"), 1, 1, 1_500).is_some_and(|w| w.contains("1 bought already")));
        assert!(refusal(&s, Some("u1"), 0, 2, 1_500).is_some_and(|w| w.contains("per customer")));
        let last = FlashSale { per_user: 5, ..sale() };
        assert!(refusal(&last, Some("u1"), 0, 2, 1_500).is_some_and(|w| w.contains("sold out: 1 left")));
        assert!(refusal(&FlashSale { state: "ended".into(), ..sale() }, Some("u1"), 0, 1, 1_500).is_some());
    }
}
