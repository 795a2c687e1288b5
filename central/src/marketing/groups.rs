//! Group buys (拼团): one SKU at a group price for groups of `size` customers. A customer's
//! order opens a group or joins an open one; the group **forms** when `size` members have paid
//! within `window_ms` of its opening — every paid order goes to its warehouse at once — or
//! **fails** at its deadline: every order in it is cancelled, and payment refunds the paid
//! ones as it refunds any paid cancel.
//!
//! A group's row holds its counters (members who joined and have not left, members who paid)
//! and is changed only by conditional updates, so a group never takes more than `size`
//! members however many join at once. Orders move through the orders system (`Grouping` until
//! the group forms); this module says which orders, and journals the group's fate.

use super::{store, MarketingError};
use crate::db::{DbError, DbResult, Tx};
use crate::journal::{self, BusinessEvent};
use serde::{Deserialize, Serialize};
use tote_shared::Sku;

/// Most members a group may need.
pub const MAX_SIZE: i64 = 50;
/// The shortest and longest time a group has to form.
pub const WINDOW_MS: std::ops::RangeInclusive<i64> = 60_000..=7 * tote_shared::calendar::DAY_MS;

/// An offer as HQ publishes it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGroupBuy {
    pub sku: Sku,
    /// Minor units per unit, at most the list price and never under the SKU's floor.
    #[schema(minimum = 0, maximum = 10000000000_i64)]
    pub price: i64,
    /// Members a group needs to form.
    #[schema(minimum = 2, maximum = 50)]
    pub size: i64,
    /// How long a group has to form from its opening.
    #[schema(minimum = 60000, maximum = 604800000)]
    pub window_ms: i64,
    /// Most units one member's order may take (default 1).
    #[serde(default = "one")]
    #[schema(minimum = 1, maximum = 100)]
    pub max_qty: i64,
    /// Groups open from (Unix ms) …
    #[schema(minimum = 0, maximum = 9223372036854775807_i64)]
    pub starts_ms: i64,
    /// … until (Unix ms); groups open by then run to their own deadlines.
    #[schema(minimum = 1, maximum = 9223372036854775807_i64)]
    pub ends_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GroupBuy {
    pub id: String,
    pub sku: Sku,
    pub price: i64,
    pub size: i64,
    pub window_ms: i64,
    pub max_qty: i64,
    pub starts_ms: i64,
    pub ends_ms: i64,
    /// `live` or `ended`.
    pub state: String,
    pub created_ms: i64,
    pub updated_ms: i64,
}

impl GroupBuy {
    /// Whether a group may open at `now_ms`.
    pub fn opening(&self, now_ms: i64) -> bool {
        self.state == "live" && self.starts_ms <= now_ms && now_ms < self.ends_ms
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Group {
    pub id: u64,
    pub offer: String,
    pub size: i64,
    pub opened_ms: i64,
    pub deadline_ms: i64,
    /// `open`, `formed` or `failed`.
    pub state: String,
    /// Members who joined and have not left.
    pub members: i64,
    /// Of them, those who paid.
    pub paid: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub orders: Vec<GroupMember>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GroupMember {
    pub order_id: u64,
    pub customer: String,
    /// `unpaid`, `paid` or `left` (its order was cancelled or closed while the group was open).
    pub state: String,
}

impl Group {
    /// Why `customer` cannot join it at `now_ms`, if they cannot.
    pub fn refusal(&self, customer: &str, now_ms: i64) -> Option<String> {
        if self.state != "open" || now_ms >= self.deadline_ms {
            return Some(format!("group {} is {}", self.id, if self.state == "open" { "past its deadline" } else { &self.state }));
        }
        if self.members >= self.size {
            return Some(format!("group {} is full: {} members", self.id, self.size));
        }
        if self.orders.iter().any(|m| m.customer == customer && m.state != "left") {
            return Some(format!("customer {customer} is in group {} already", self.id));
        }
        None
    }
}

fn one() -> i64 {
    1
}

/// HQ publishes a group buy, its price checked against the SKU's floor. Audited.
pub fn publish(tx: &mut dyn Tx, id: &str, new: &NewGroupBuy, now_ms: i64) -> Result<GroupBuy, MarketingError> {
    let invalid = |why: String| Err(MarketingError::Invalid(why));
    if !super::plain(id) {
        return invalid("id: 1 to 40 letters, digits, '-' or '_'".into());
    }
    let window_ok = new.starts_ms >= 0 && new.starts_ms < new.ends_ms && new.ends_ms > now_ms;
    if !(2..=MAX_SIZE).contains(&new.size) || !WINDOW_MS.contains(&new.window_ms) || !(1..=100).contains(&new.max_qty) || !window_ok {
        return invalid(format!("size 2 to {MAX_SIZE}, window_ms 60000 to 604800000, max_qty 1 to 100, a window that ends after it starts and after now"));
    }
    if store::group_buy(tx, id)?.is_some() {
        return invalid(format!("group buy {id} exists: publish another id"));
    }
    let record = crate::catalog::store::get_sku(tx, &new.sku).map_err(|_| MarketingError::Invalid(format!("SKU {} is not in the catalog", new.sku)))?;
    if !record.state.on_sale() {
        return Err(MarketingError::Invalid(format!("SKU {} is not on sale ({})", new.sku, record.state.as_str())));
    }
    let floor = store::policy(tx)?.floors.floor(record.price.minor(), record.cost.minor());
    if !(floor..=record.price.minor()).contains(&new.price) {
        return invalid(format!("the group price must be between the floor {} and the list price {}", super::yuan(floor), super::yuan(record.price.minor())));
    }
    if store::group_buy_live_for(tx, &new.sku)? {
        return invalid(format!("SKU {} is in another live group buy", new.sku));
    }
    let offer = GroupBuy {
        id: id.to_owned(),
        sku: new.sku.clone(),
        price: new.price,
        size: new.size,
        window_ms: new.window_ms,
        max_qty: new.max_qty,
        starts_ms: new.starts_ms,
        ends_ms: new.ends_ms,
        state: "live".into(),
        created_ms: now_ms,
        updated_ms: now_ms,
    };
    // Two publishes racing for one id or one SKU: the loser meets the key, not a 500.
    store::insert_group_buy(tx, &offer).map_err(|e| if e.is_unique_violation() { MarketingError::Invalid(format!("group buy {id} or another live one of SKU {} exists", new.sku)) } else { e.into() })?;
    let detail = serde_json::to_value(&offer).map_err(|e| DbError::corrupt(e.to_string()))?;
    crate::audit::store::append(tx, now_ms, "admin", "group_buy_published", &format!("group_buy:{id}"), &detail)?;
    Ok(offer)
}

/// HQ ends a group buy: no group opens from now; those open run to their deadlines. Audited.
pub fn end(tx: &mut dyn Tx, id: &str, now_ms: i64) -> Result<GroupBuy, MarketingError> {
    let offer = store::group_buy(tx, id)?.ok_or_else(|| MarketingError::NotFound(format!("group buy {id}")))?;
    if offer.state == "live" {
        store::end_group_buy(tx, id, now_ms)?;
        crate::audit::store::append(tx, now_ms, "admin", "group_buy_ended", &format!("group_buy:{id}"), &serde_json::json!({}))?;
    }
    store::group_buy(tx, id)?.ok_or_else(|| DbError::corrupt("a group buy vanished").into())
}

/// The live offer an order names, for its one SKU at `now_ms` (opening a group needs the offer
/// opening; joining one needs only the group open).
pub fn offer_for(tx: &mut dyn Tx, id: &str, sku: &Sku, opening: bool, now_ms: i64) -> Result<GroupBuy, MarketingError> {
    let offer = store::group_buy(tx, id)?.filter(|o| o.sku == *sku).ok_or_else(|| MarketingError::Invalid(format!("group buy {id} does not sell SKU {sku}")))?;
    if opening && !offer.opening(now_ms) {
        return Err(MarketingError::GroupClosed(format!("group buy {id} opens no groups now")));
    }
    Ok(offer)
}

/// Order `order_id` of `customer` opens a group of `offer` (`group` None) or joins `group`:
/// the group's row takes the member only while it is open, before its deadline and not full.
/// Returns the group's id.
pub fn join(tx: &mut dyn Tx, offer: &GroupBuy, group: Option<u64>, order_id: u64, customer: &str, now_ms: i64) -> Result<u64, MarketingError> {
    let id = match group {
        None => {
            if store::in_open_group(tx, &offer.id, customer)? {
                return Err(MarketingError::GroupClosed(format!("customer {customer} is in an open group of {} already: join others to it", offer.id)));
            }
            store::open_group(tx, &offer.id, now_ms, now_ms.saturating_add(offer.window_ms))?
        }
        Some(id) => {
            let found = store::group(tx, id)?.filter(|g| g.offer == offer.id).ok_or_else(|| MarketingError::NotFound(format!("group {id} of group buy {}", offer.id)))?;
            if let Some(why) = found.refusal(customer, now_ms) {
                return Err(MarketingError::GroupClosed(why));
            }
            if !store::take_seat(tx, id, now_ms)? {
                return Err(MarketingError::GroupClosed(format!("group {id} filled or closed meanwhile")));
            }
            id
        }
    };
    if !store::add_group_member(tx, id, order_id, customer, now_ms)? {
        return Err(MarketingError::GroupClosed(format!("customer {customer} is in group {id} already")));
    }
    Ok(id)
}

/// Locks the group order `order_id` is a member of, if any, and returns its id: every path
/// that changes a group and its orders takes the group's row first, then the orders'.
pub fn lock_for_order(tx: &mut dyn Tx, order_id: u64) -> DbResult<Option<u64>> {
    store::lock_group_of(tx, order_id)
}

/// The group an order is in, while it is a member (not left).
pub fn group_of(tx: &mut dyn Tx, order_id: u64) -> DbResult<Option<Group>> {
    match store::member_group(tx, order_id)? {
        Some(id) => store::group(tx, id),
        None => Ok(None),
    }
}

/// Order `order_id` of an open group was paid: when that makes the group's size, the group
/// forms — journalled — and its paid orders are returned to be released.
pub fn paid(tx: &mut dyn Tx, order_id: u64, now_ms: i64) -> DbResult<Vec<u64>> {
    let Some(id) = store::member_group(tx, order_id)? else { return Ok(Vec::new()) };
    if !store::member_paid(tx, order_id)? || !store::form_if_full(tx, id, now_ms)? {
        return Ok(Vec::new());
    }
    let group = store::group(tx, id)?.ok_or_else(|| DbError::corrupt("a group vanished"))?;
    let orders: Vec<u64> = group.orders.iter().filter(|m| m.state == "paid").map(|m| m.order_id).collect();
    journal::store::append(tx, &BusinessEvent::GroupBuyFormed { group_id: id, offer: group.offer.clone(), orders: orders.clone() }, now_ms)?;
    Ok(orders)
}

/// An order of an open group ended (cancelled, closed unpaid): it leaves, its seat free again.
pub fn leave(tx: &mut dyn Tx, order_id: u64) -> DbResult<()> {
    store::leave_group(tx, order_id)
}

/// Fails the open groups whose deadline passed by `now_ms` (at most `limit`), journalled;
/// returns their members' orders, to be cancelled.
pub fn fail_due(tx: &mut dyn Tx, now_ms: i64, limit: u32) -> DbResult<Vec<u64>> {
    let mut orders = Vec::new();
    for id in store::groups_due(tx, now_ms, limit)? {
        if !store::fail_group(tx, id, now_ms)? {
            continue;
        }
        let group = store::group(tx, id)?.ok_or_else(|| DbError::corrupt("a group vanished"))?;
        let members: Vec<u64> = group.orders.iter().filter(|m| m.state != "left").map(|m| m.order_id).collect();
        journal::store::append(tx, &BusinessEvent::GroupBuyFailed { group_id: id, offer: group.offer, orders: members.clone() }, now_ms)?;
        orders.extend(members);
    }
    Ok(orders)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(state: &str, members: i64, deadline_ms: i64) -> Group {
        let orders = vec![GroupMember { order_id: 1, customer: "li".into(), state: "paid".into() }, GroupMember { order_id: 2, customer: "wang".into(), state: "left".into() }];
        Group { id: 7, offer: "duo".into(), size: 3, opened_ms: 0, deadline_ms, state: state.into(), members, paid: 1, orders }
    }

    #[test]
    fn a_group_takes_new_members_only_while_open_not_full_and_once_each() {
        assert_eq!(group("open", 1, 100).refusal("zhao", 50), None);
        assert_eq!(group("open", 1, 100).refusal("wang", 50), None, "who left may come back");
        assert!(group("open", 1, 100).refusal("li", 50).is_some_and(|w| w.contains("already")));
        assert!(group("open", 3, 100).refusal("zhao", 50).is_some_and(|w| w.contains("full")));
        assert!(group("open", 1, 100).refusal("zhao", 100).is_some_and(|w| w.contains("deadline")));
        assert!(group("formed", 1, 100).refusal("zhao", 50).is_some_and(|w| w.contains("formed")));
    }
}
