//! Pre-checks carried out: the policy and the facts gathered in the caller's transaction,
//! then the pure rules of `checks`. Both intake paths (one order, a flash-sale batch) come
//! through here before any stock is locked.

use super::checks::{self, Candidate, CheckPolicy, Facts};
use super::{store, CreateOrder, OrdersError};
use crate::db::{doc, DbResult, Tx};

/// The policy's name in `settings_doc`.
pub const POLICY: &str = "order_checks";

/// The policy HQ set, or the defaults.
pub fn policy(tx: &mut dyn Tx) -> DbResult<CheckPolicy> {
    Ok(doc::load(tx, POLICY)?.unwrap_or_default())
}

/// Locks the orders' customers, then reads the blocklist entries their orders hit and their
/// open orders over the longest window the policy looks back.
pub fn gather(tx: &mut dyn Tx, policy: &CheckPolicy, orders: &[Candidate<'_>], now_ms: i64) -> DbResult<Facts> {
    let keys: Vec<String> = orders.iter().filter_map(|o| checks::customer_key(o.channel, o.customer, o.ship_to)).collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    store::lock_customers(tx, &keys)?;
    let probes: Vec<_> = orders.iter().flat_map(|o| checks::block_probes(o.customer, o.ship_to)).collect();
    let mut facts = Facts { blocked: store::blocked(tx, &probes)?, ..Facts::default() };
    let look_back = (i64::from(policy.duplicate_window_s) * 1000).max(policy.longest_limit_ms());
    if look_back > 0 && !keys.is_empty() {
        facts.earlier = store::earlier_orders(tx, &keys, now_ms - look_back)?;
    }
    Ok(facts)
}

/// Every pre-check for one order; a refusal writes nothing.
pub fn screen_one(tx: &mut dyn Tx, order: &CreateOrder) -> Result<(), OrdersError> {
    let policy = policy(tx)?;
    let candidate = Candidate::of(order);
    // The address rules need no facts and no lock.
    checks::check_address(&policy, &order.ship_to).map_err(OrdersError::Refused)?;
    let facts = gather(tx, &policy, std::slice::from_ref(&candidate), order.now_ms)?;
    checks::check(&policy, &facts, &candidate).map_err(OrdersError::Refused)
}

/// The checks an order a marketplace already sold goes through: the address and the
/// blocklist. Purchase limits and duplicates are the marketplace's (its order id makes a
/// re-import the same order).
pub fn screen_import(tx: &mut dyn Tx, order: &CreateOrder) -> Result<(), OrdersError> {
    let policy = policy(tx)?;
    checks::check_address(&policy, &order.ship_to).map_err(OrdersError::Refused)?;
    let candidate = Candidate::of(order);
    let facts = Facts { blocked: store::blocked(tx, &checks::block_probes(candidate.customer, candidate.ship_to))?, ..Facts::default() };
    checks::check_blocklist(&facts, &candidate).map_err(OrdersError::Refused)
}
