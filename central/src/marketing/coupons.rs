//! Coupons: a promotion that applies only where a customer presents one of its codes.
//!
//! A coupon is published like any promotion (its layer, benefit and window; the same floor
//! check, so its worst stack is known before a code exists) with terms: how many orders may
//! ever use it and how many one customer may. HQ then issues codes in bulk — 80 random bits
//! each, so a code cannot be guessed — to a customer or to the bearer.
//!
//! The over-redemption race is closed in the store, not here: an order takes its coupon in
//! its own transaction with three conditional updates (the code from `available` to
//! `reserved`, the coupon's `redeemed` below `limit_total`, the customer's uses below
//! `limit_per_user`), each a single statement that either wins or changes nothing; the loser
//! is refused and its order rolled back. Cancelling or closing the order unpaid gives all
//! three back in the transaction that ends it.

use serde::{Deserialize, Serialize};

/// Crockford's base-32 alphabet (no I, L, O, U: nothing to misread).
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Characters in a code: 16 × 5 = 80 random bits.
pub const CODE_LEN: usize = 16;
/// Most codes one issue call makes.
pub const MAX_ISSUE: u32 = 10_000;
/// Most codes one coupon ever has.
pub const MAX_CODES: i64 = 1_000_000;
/// Most codes one order (or pricing call) presents.
pub const MAX_PRESENTED: usize = 5;

/// What a coupon allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CouponTerms {
    /// Most orders that may ever use the coupon, whatever codes exist.
    #[schema(minimum = 1, maximum = 10000000)]
    pub limit_total: i64,
    /// Most orders one customer may use it in.
    #[schema(minimum = 1, maximum = 1000)]
    pub limit_per_user: i64,
}

impl CouponTerms {
    pub fn problem(&self) -> Option<String> {
        if !(1..=10_000_000).contains(&self.limit_total) || !(1..=1_000).contains(&self.limit_per_user) {
            return Some("coupon: limit_total 1 to 10000000, limit_per_user 1 to 1000".into());
        }
        None
    }
}

/// A coupon's terms and how far it has gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Coupon {
    #[serde(flatten)]
    pub terms: CouponTerms,
    /// Codes issued.
    pub issued: i64,
    /// Orders holding it now (a cancelled or unpaid order gives its use back).
    pub redeemed: i64,
}

/// A code as it is stored: its coupon, its owner (None: whoever holds it), and the order
/// holding it, if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Code {
    pub code: String,
    pub promotion: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<String>,
    /// `available` or `reserved`.
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<u64>,
}

/// A fresh code from 10 random bytes.
pub fn code_from(random: &[u8; 10]) -> String {
    let bits = random.iter().fold(0u128, |acc, b| (acc << 8) | u128::from(*b));
    (0..CODE_LEN).rev().map(|i| char::from(ALPHABET[((bits >> (i * 5)) & 31) as usize])).collect()
}

/// A code as a customer may type it: case, spaces and dashes do not matter. None when it cannot
/// be one of ours.
pub fn normalise(typed: &str) -> Option<String> {
    if typed.len() > 64 {
        return None;
    }
    let code: String = typed.chars().filter(|c| !matches!(c, ' ' | '-')).map(|c| c.to_ascii_uppercase()).collect();
    (code.len() == CODE_LEN && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

/// Why a code cannot be used, in words for the customer.
pub fn unusable(code: &Code, customer: Option<&str>) -> Option<String> {
    if code.state != "available" {
        return Some(format!("coupon code {} has been used", code.code));
    }
    match (&code.customer, customer) {
        (Some(_), None) => Some(format!("coupon code {} belongs to a customer: name the customer", code.code)),
        (Some(owner), Some(who)) if owner != who => Some(format!("coupon code {} belongs to another customer", code.code)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_carry_eighty_bits_and_read_back_however_typed() {
        let code = code_from(&[0xff; 10]);
        assert_eq!(code, "ZZZZZZZZZZZZZZZZ");
        assert_eq!(code_from(&[0; 10]), "0000000000000000");
        let mixed = code_from(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(mixed.len(), CODE_LEN);
        let typed = format!("{}-{} {}", &mixed[..4].to_lowercase(), &mixed[4..8], &mixed[8..]);
        assert_eq!(normalise(&typed).as_deref(), Some(mixed.as_str()));
        assert_eq!(normalise("ILOU000000000000"), None, "letters Crockford leaves out");
        assert_eq!(normalise("0000"), None);
        // Different bytes, different codes: every bit lands in the code.
        let mut seen = std::collections::HashSet::new();
        for i in 0..80 {
            let mut bytes = [0u8; 10];
            bytes[i / 8] = 1 << (i % 8);
            assert!(seen.insert(code_from(&bytes)), "bit {i}");
        }
    }

    #[test]
    fn a_used_or_someone_elses_code_is_refused_in_words() {
        let code = |state: &str, customer: Option<&str>| Code { code: "C".into(), promotion: "P".into(), customer: customer.map(str::to_owned), state: state.into(), order_id: None };
        assert_eq!(unusable(&code("available", None), None), None);
        assert_eq!(unusable(&code("available", Some("u1")), Some("u1")), None);
        assert!(unusable(&code("reserved", None), Some("u1")).is_some_and(|w| w.contains("used")));
        assert!(unusable(&code("available", Some("u1")), Some("u2")).is_some_and(|w| w.contains("another customer")));
        assert!(unusable(&code("available", Some("u1")), None).is_some_and(|w| w.contains("name the customer")));
    }
}
