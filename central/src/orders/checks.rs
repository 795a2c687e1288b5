//! Pre-checks: what an order must pass before any stock is locked for it. Pure: the store
//! gathers the facts (`Facts`), these rules decide, each refusal names its cause.
//!
//! - the address is complete (name, street, city; a phone when the policy asks) and its city
//!   a known region (logistics rates and zones by it);
//! - nobody on the blocklist: the customer, the phone or the address;
//! - per-customer purchase limits (at most N of a SKU per customer within a window);
//! - not a duplicate: the same customer ordering the same lines to the same address within
//!   seconds of an order still open is a double tap, not a second purchase.
//!
//! Limits and duplicates need to know who the customer is: the channel's customer id, else
//! the phone. An order with neither (a wholesale or test channel) is checked for its address
//! and the blocklist only.

use super::CreateOrder;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use tote_shared::sync::{OrderLine, ShipTo};
use tote_shared::Sku;

/// Most purchase limits a policy holds.
pub const MAX_LIMITS: usize = 500;
/// Longest duplicate window and limit window.
const MAX_DUPLICATE_WINDOW_S: u32 = 3_600;
const MAX_LIMIT_WINDOW_HOURS: u32 = 24 * 366;

/// What intake checks, as HQ set it (`GET/PUT /orders/checks`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckPolicy {
    /// Refuse an order without a recipient phone (carriers call before delivery).
    #[serde(default)]
    pub require_phone: bool,
    /// Refuse an order whose city is not a known region, even with coordinates.
    #[serde(default = "yes")]
    pub known_region: bool,
    /// An order the same as one the same customer placed this many seconds before (and did
    /// not cancel) is refused as a duplicate; 0 turns the check off. At most 3600.
    #[serde(default = "default_duplicate_window")]
    #[schema(maximum = 3600)]
    pub duplicate_window_s: u32,
    /// Per-customer purchase limits.
    #[serde(default)]
    #[schema(max_items = 500)]
    pub limits: Vec<PurchaseLimit>,
}

fn yes() -> bool {
    true
}

fn default_duplicate_window() -> u32 {
    30
}

impl Default for CheckPolicy {
    fn default() -> Self {
        CheckPolicy { require_phone: false, known_region: true, duplicate_window_s: default_duplicate_window(), limits: Vec::new() }
    }
}

/// At most `max_qty` units of `sku` per customer over the last `window_hours`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PurchaseLimit {
    pub sku: Sku,
    #[schema(minimum = 1)]
    pub max_qty: i64,
    #[schema(minimum = 1, maximum = 8784)]
    pub window_hours: u32,
}

impl CheckPolicy {
    /// Why the policy cannot be saved, if it cannot.
    pub fn problem(&self) -> Option<String> {
        if self.duplicate_window_s > MAX_DUPLICATE_WINDOW_S {
            return Some(format!("duplicate_window_s must be at most {MAX_DUPLICATE_WINDOW_S}"));
        }
        if self.limits.len() > MAX_LIMITS {
            return Some(format!("at most {MAX_LIMITS} purchase limits"));
        }
        let mut seen = std::collections::HashSet::new();
        for limit in &self.limits {
            if limit.max_qty < 1 || limit.window_hours < 1 || limit.window_hours > MAX_LIMIT_WINDOW_HOURS {
                return Some(format!("the limit for {} needs max_qty ≥ 1 and window_hours 1..{MAX_LIMIT_WINDOW_HOURS}", limit.sku));
            }
            if !seen.insert(&limit.sku) {
                return Some(format!("SKU {} has two limits", limit.sku));
            }
        }
        None
    }

    pub fn limit_for(&self, sku: &Sku) -> Option<&PurchaseLimit> {
        self.limits.iter().find(|l| &l.sku == sku)
    }

    /// The longest limit window, in ms (what the store must look back over).
    pub fn longest_limit_ms(&self) -> i64 {
        self.limits.iter().map(|l| i64::from(l.window_hours) * 3_600_000).max().unwrap_or(0)
    }
}

/// What a blocklist entry names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BlockKind {
    Customer,
    Phone,
    Address,
}

impl BlockKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BlockKind::Customer => "customer",
            BlockKind::Phone => "phone",
            BlockKind::Address => "address",
        }
    }

    pub fn parse(raw: &str) -> Option<BlockKind> {
        [BlockKind::Customer, BlockKind::Phone, BlockKind::Address].into_iter().find(|k| k.as_str() == raw)
    }
}

/// Why an order was refused before any stock was locked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the address is incomplete: {0}")]
    IncompleteAddress(&'static str),
    #[error("city {0:?} is not a region we deliver to")]
    UnknownRegion(String),
    #[error("the {kind} is blocklisted: {reason}", kind = kind.as_str())]
    Blocked { kind: BlockKind, reason: String },
    #[error("at most {max} × {sku} per customer in {window_hours} h; {already} already ordered")]
    OverLimit { sku: Sku, max: i64, window_hours: u32, already: i64 },
    #[error("the same order was placed {seconds} s ago as order {order_id}")]
    Duplicate { order_id: u64, seconds: i64 },
}

/// Who the customer is, for limits and duplicates: `c:<channel>:` their id at the channel
/// (customer 1001 of the app is not customer 1001 of a marketplace), else `p:` their phone.
pub fn customer_key(channel: &str, customer: Option<&str>, ship_to: &ShipTo) -> Option<String> {
    if let Some(customer) = customer.map(str::trim).filter(|c| !c.is_empty()) {
        return Some(format!("c:{channel}:{customer}"));
    }
    let phone = normal_phone(&ship_to.phone);
    (!phone.is_empty()).then(|| format!("p:{phone}"))
}

/// Digits only, without China's country code: `+86 138-0000-0000` → `13800000000`.
pub fn normal_phone(raw: &str) -> String {
    let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
    match digits.strip_prefix("86") {
        Some(rest) if digits.len() == 13 => rest.to_owned(),
        _ => digits,
    }
}

/// Street and city, lower case, without spaces or punctuation: two spellings of one address
/// compare equal.
pub fn normal_address(ship_to: &ShipTo) -> String {
    let city = tote_shared::geo::city_province(&ship_to.city).map_or_else(|| squash(&ship_to.city), |(en, _)| en.to_owned());
    format!("{}|{city}", squash(&ship_to.line1))
}

fn squash(text: &str) -> String {
    text.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

/// The value a blocklist entry of `kind` stores for `raw`.
pub fn normal_block_value(kind: BlockKind, raw: &str) -> String {
    match kind {
        BlockKind::Customer => raw.trim().to_owned(),
        BlockKind::Phone => normal_phone(raw),
        BlockKind::Address => squash(raw),
    }
}

/// The (kind, value) pairs of an order a blocklist entry can match. An address entry names a
/// street (`normal_block_value`), so it is matched against the order's street alone.
pub fn block_probes(customer: Option<&str>, ship_to: &ShipTo) -> Vec<(BlockKind, String)> {
    let mut probes = Vec::with_capacity(3);
    if let Some(c) = customer.map(str::trim).filter(|c| !c.is_empty()) {
        probes.push((BlockKind::Customer, c.to_owned()));
    }
    let phone = normal_phone(&ship_to.phone);
    if !phone.is_empty() {
        probes.push((BlockKind::Phone, phone));
    }
    probes.push((BlockKind::Address, squash(&ship_to.line1)));
    probes
}

/// What makes two orders the same: their lines (in SKU order) and where they go.
pub fn fingerprint(lines: &[OrderLine], ship_to: &ShipTo) -> String {
    let mut sorted: Vec<(&str, i64)> = lines.iter().map(|l| (l.sku.as_str(), l.qty.as_i64())).collect();
    sorted.sort_unstable();
    let mut text: String = sorted.iter().map(|(sku, qty)| format!("{sku}\u{1f}{qty}\u{1e}")).collect();
    text.push_str(&normal_address(ship_to));
    short_hash(&text)
}

/// The first 128 bits of SHA-256, in hex: enough to tell two contents apart.
pub fn short_hash(text: &str) -> String {
    let mut hex = tote_shared::runtime::secrets::sha256_hex(text);
    hex.truncate(32);
    hex
}

/// The address rules alone (no facts needed).
pub fn check_address(policy: &CheckPolicy, ship_to: &ShipTo) -> Result<(), Refusal> {
    if ship_to.name.trim().is_empty() {
        return Err(Refusal::IncompleteAddress("the recipient's name is missing"));
    }
    // A street needs more than a word: a number or at least two parts ("88 Century Avenue",
    // "世纪大道88号").
    let street = ship_to.line1.trim();
    if street.chars().filter(|c| c.is_alphanumeric()).count() < 3 {
        return Err(Refusal::IncompleteAddress("the street address is missing or too short"));
    }
    if ship_to.city.trim().is_empty() {
        return Err(Refusal::IncompleteAddress("the city is missing"));
    }
    if policy.require_phone && normal_phone(&ship_to.phone).len() < 7 {
        return Err(Refusal::IncompleteAddress("a recipient phone is required"));
    }
    if policy.known_region && tote_shared::geo::city_province(&ship_to.city).is_none() {
        return Err(Refusal::UnknownRegion(ship_to.city.chars().take(40).collect()));
    }
    Ok(())
}

/// An earlier open order of the customer, as the duplicate and limit checks see it.
#[derive(Debug, Clone)]
pub struct Earlier {
    pub order_id: u64,
    pub created_ms: i64,
    pub fingerprint: String,
    pub lines: Vec<(Sku, i64)>,
}

/// Everything the store found for one customer: their open orders over the longest window
/// the policy looks back, and the blocklist entries any of their orders' probes hit.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// (kind, value) → reason.
    pub blocked: HashMap<(BlockKind, String), String>,
    /// Per customer key, their open orders, oldest first.
    pub earlier: HashMap<String, Vec<Earlier>>,
}

/// One order about to be taken, as the checks see it.
pub struct Candidate<'a> {
    pub channel: &'a str,
    pub customer: Option<&'a str>,
    pub lines: &'a [OrderLine],
    pub ship_to: &'a ShipTo,
    pub now_ms: i64,
}

impl<'a> Candidate<'a> {
    pub fn of(order: &'a CreateOrder) -> Candidate<'a> {
        Candidate { channel: &order.channel, customer: order.customer.as_deref(), lines: &order.lines, ship_to: &order.ship_to, now_ms: order.now_ms }
    }
}

/// Every check, in the order a clerk would read them.
pub fn check(policy: &CheckPolicy, facts: &Facts, order: &Candidate<'_>) -> Result<(), Refusal> {
    check_address(policy, order.ship_to)?;
    check_blocklist(facts, order)?;
    let Some(key) = customer_key(order.channel, order.customer, order.ship_to) else {
        return Ok(());
    };
    let earlier = facts.earlier.get(&key).map_or(&[][..], Vec::as_slice);
    if policy.duplicate_window_s > 0 {
        let print = fingerprint(order.lines, order.ship_to);
        let since = order.now_ms - i64::from(policy.duplicate_window_s) * 1000;
        if let Some(same) = earlier.iter().rev().find(|e| e.created_ms >= since && e.fingerprint == print) {
            return Err(Refusal::Duplicate { order_id: same.order_id, seconds: (order.now_ms - same.created_ms).max(0) / 1000 });
        }
    }
    for line in order.lines {
        let Some(limit) = policy.limit_for(&line.sku) else { continue };
        let since = order.now_ms - i64::from(limit.window_hours) * 3_600_000;
        let already: i64 = earlier
            .iter()
            .filter(|e| e.created_ms >= since)
            .flat_map(|e| e.lines.iter())
            .filter(|(sku, _)| sku == &line.sku)
            .map(|(_, qty)| qty)
            .sum();
        if already.saturating_add(line.qty.as_i64()) > limit.max_qty {
            return Err(Refusal::OverLimit { sku: line.sku.clone(), max: limit.max_qty, window_hours: limit.window_hours, already });
        }
    }
    Ok(())
}

/// No blocklist entry names the order's customer, phone or street.
pub fn check_blocklist(facts: &Facts, order: &Candidate<'_>) -> Result<(), Refusal> {
    for probe in block_probes(order.customer, order.ship_to) {
        if let Some(reason) = facts.blocked.get(&probe) {
            return Err(Refusal::Blocked { kind: probe.0, reason: reason.clone() });
        }
    }
    Ok(())
}

/// Records an order just taken, so later orders of the same batch see it.
pub fn remember(facts: &mut Facts, order: &Candidate<'_>, order_id: u64) {
    let Some(key) = customer_key(order.channel, order.customer, order.ship_to) else { return };
    facts.earlier.entry(key).or_default().push(Earlier {
        order_id,
        created_ms: order.now_ms,
        fingerprint: fingerprint(order.lines, order.ship_to),
        lines: order.lines.iter().map(|l| (l.sku.clone(), l.qty.as_i64())).collect(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use tote_shared::Qty;

    fn to(phone: &str) -> ShipTo {
        ShipTo { name: "Li Wei".into(), line1: "88 Century Avenue".into(), city: "Shanghai".into(), postcode: String::new(), phone: phone.into() }
    }

    fn line(sku: &str, qty: i64) -> OrderLine {
        OrderLine { sku: Sku::parse(sku).expect("sku"), qty: Qty::parse(qty).expect("qty") }
    }

    fn at<'a>(customer: Option<&'a str>, lines: &'a [OrderLine], ship_to: &'a ShipTo, now_ms: i64) -> Candidate<'a> {
        Candidate { channel: "app", customer, lines, ship_to, now_ms }
    }

    #[test]
    fn an_incomplete_or_unknown_address_is_refused_with_what_is_missing() {
        let policy = CheckPolicy::default();
        let mut ship_to = to("");
        assert_eq!(check_address(&policy, &ship_to), Ok(()));
        ship_to.line1 = " 8 ".into();
        assert!(matches!(check_address(&policy, &ship_to), Err(Refusal::IncompleteAddress(m)) if m.contains("street")));
        ship_to = to("");
        ship_to.city = "Atlantis".into();
        assert_eq!(check_address(&policy, &ship_to), Err(Refusal::UnknownRegion("Atlantis".into())));
        let lenient = CheckPolicy { known_region: false, ..CheckPolicy::default() };
        assert_eq!(check_address(&lenient, &ship_to), Ok(()));
        let strict = CheckPolicy { require_phone: true, ..CheckPolicy::default() };
        assert!(matches!(check_address(&strict, &to("")), Err(Refusal::IncompleteAddress(m)) if m.contains("phone")));
        assert_eq!(check_address(&strict, &to("+86 138-0013-8000")), Ok(()));
    }

    #[test]
    fn a_blocklisted_phone_matches_however_it_is_written() {
        let mut facts = Facts::default();
        facts.blocked.insert((BlockKind::Phone, normal_block_value(BlockKind::Phone, "13800138000")), "chargebacks".into());
        let lines = [line("PEG39-M-BLK-42", 1)];
        let ship_to = to("+86 138 0013 8000");
        let refused = check(&CheckPolicy::default(), &facts, &at(None, &lines, &ship_to, 0));
        assert_eq!(refused, Err(Refusal::Blocked { kind: BlockKind::Phone, reason: "chargebacks".into() }));
        let address = normal_block_value(BlockKind::Address, "88, century AVENUE");
        facts.blocked.clear();
        facts.blocked.insert((BlockKind::Address, address), "fraud ring".into());
        assert!(matches!(check(&CheckPolicy::default(), &facts, &at(None, &lines, &to(""), 0)), Err(Refusal::Blocked { kind: BlockKind::Address, .. })));
    }

    #[test]
    fn the_same_order_seconds_later_is_a_duplicate_but_not_after_the_window_or_for_other_lines() {
        let policy = CheckPolicy { duplicate_window_s: 30, ..CheckPolicy::default() };
        let mut facts = Facts::default();
        let lines = [line("PEG39-M-BLK-42", 1), line("PEG39-M-BLK-43", 1)];
        let ship_to = to("");
        remember(&mut facts, &at(Some("runner"), &lines, &ship_to, 1_000), 7);
        let reordered = [line("PEG39-M-BLK-43", 1), line("PEG39-M-BLK-42", 1)];
        assert_eq!(check(&policy, &facts, &at(Some("runner"), &reordered, &ship_to, 11_000)), Err(Refusal::Duplicate { order_id: 7, seconds: 10 }));
        assert_eq!(check(&policy, &facts, &at(Some("runner"), &lines, &ship_to, 31_001)), Ok(()), "after the window");
        assert_eq!(check(&policy, &facts, &at(Some("someone-else"), &lines, &ship_to, 2_000)), Ok(()));
        let more = [line("PEG39-M-BLK-42", 2), line("PEG39-M-BLK-43", 1)];
        assert_eq!(check(&policy, &facts, &at(Some("runner"), &more, &ship_to, 2_000)), Ok(()), "other quantities");
        let off = CheckPolicy { duplicate_window_s: 0, ..policy };
        assert_eq!(check(&off, &facts, &at(Some("runner"), &lines, &ship_to, 2_000)), Ok(()));
        assert_eq!(check(&CheckPolicy::default(), &facts, &at(None, &lines, &ship_to, 2_000)), Ok(()), "no customer, no duplicate check");
    }

    #[test]
    fn a_purchase_limit_counts_what_the_customer_ordered_within_its_window() {
        let sku = Sku::parse("PEG39-M-BLK-42").expect("sku");
        let policy = CheckPolicy { duplicate_window_s: 0, limits: vec![PurchaseLimit { sku: sku.clone(), max_qty: 2, window_hours: 1 }], ..CheckPolicy::default() };
        let mut facts = Facts::default();
        let one = [line("PEG39-M-BLK-42", 1)];
        let ship_to = to("13800138000");
        remember(&mut facts, &at(None, &one, &ship_to, 0), 1);
        assert_eq!(check(&policy, &facts, &at(None, &one, &ship_to, 1_000)), Ok(()));
        remember(&mut facts, &at(None, &one, &ship_to, 1_000), 2);
        let refused = check(&policy, &facts, &at(None, &one, &ship_to, 2_000));
        assert_eq!(refused, Err(Refusal::OverLimit { sku: sku.clone(), max: 2, window_hours: 1, already: 2 }));
        assert_eq!(check(&policy, &facts, &at(None, &one, &ship_to, 3_600_001)), Ok(()), "the first has left the window");
        let two = [line("PEG39-M-BLK-42", 3)];
        assert!(matches!(check(&policy, &Facts::default(), &at(Some("x"), &two, &ship_to, 0)), Err(Refusal::OverLimit { already: 0, .. })));
    }

    #[test]
    fn a_policy_with_a_bad_limit_says_why() {
        let sku = Sku::parse("PEG39-M-BLK-42").expect("sku");
        let twice = CheckPolicy { limits: vec![PurchaseLimit { sku: sku.clone(), max_qty: 1, window_hours: 1 }; 2], ..CheckPolicy::default() };
        assert!(twice.problem().is_some_and(|p| p.contains("two limits")));
        let zero = CheckPolicy { limits: vec![PurchaseLimit { sku, max_qty: 0, window_hours: 1 }], ..CheckPolicy::default() };
        assert!(zero.problem().is_some());
        assert_eq!(CheckPolicy::default().problem(), None);
    }
}
