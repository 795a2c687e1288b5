//! Domain newtypes that can only be built by `parse()`: once you hold a `Sku` it is valid.
//!
//! Serde goes through `parse()` too (`try_from = "String"`), so a malformed value in JSON is
//! rejected at the boundary with the same message as anywhere else.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a raw value is not a valid domain value. The message is shown to API clients as-is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("SKU {0:?} is invalid: use 1-64 characters A-Z, 0-9, '-', '_' or '.'")]
    Sku(String),
    #[error("GTIN {0:?} is invalid: {1}")]
    Gtin(String, &'static str),
    #[error("quantity {0} is out of range: it must be between 1 and {max}", max = Qty::MAX)]
    Qty(i64),
    #[error("amount {0} is out of range: it must be between 0 and {max} (minor units)", max = Money::MAX_MINOR)]
    Money(i64),
    #[error("warehouse code {0:?} is invalid: use 2-4 capital letters, '-', and 2 digits (e.g. SH-01)")]
    Warehouse(String),
    #[error("location code {0:?} is invalid: use 1-32 characters A-Z, 0-9 or '-'")]
    Location(String),
}

macro_rules! string_newtype {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl TryFrom<String> for $name {
            type Error = DomainError;
            fn try_from(raw: String) -> Result<Self, DomainError> {
                Self::parse(&raw)
            }
        }
        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }
        impl std::str::FromStr for $name {
            type Err = DomainError;
            fn from_str(raw: &str) -> Result<Self, DomainError> {
                Self::parse(raw)
            }
        }
    };
}

/// A stock-keeping unit code: one sellable variant (model × gender × colour × size × width).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sku(String);
string_newtype!(Sku);

impl Sku {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let ok = (1..=64).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b"-_.".contains(&b));
        if ok {
            Ok(Sku(raw.to_owned()))
        } else {
            Err(DomainError::Sku(truncate(raw)))
        }
    }
}

/// A GS1 trade item number: GTIN-8, -12 (UPC-A), -13 (EAN-13) or -14, check digit verified.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Gtin(String);
string_newtype!(Gtin);

impl Gtin {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        if !matches!(raw.len(), 8 | 12 | 13 | 14) {
            return Err(DomainError::Gtin(truncate(raw), "it must have 8, 12, 13 or 14 digits"));
        }
        if !raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DomainError::Gtin(truncate(raw), "it must contain digits only"));
        }
        let digits: Vec<u32> = raw.bytes().map(|b| u32::from(b - b'0')).collect();
        let (body, check) = digits.split_at(digits.len() - 1);
        if gs1_check_digit(body) != check[0] {
            return Err(DomainError::Gtin(truncate(raw), "the check digit does not match"));
        }
        Ok(Gtin(raw.to_owned()))
    }

    /// Builds a valid GTIN-13 from a 12-digit body by appending its check digit.
    pub fn from_body13(body: u64) -> Gtin {
        let text = format!("{:012}", body % 1_000_000_000_000);
        let digits: Vec<u32> = text.bytes().map(|b| u32::from(b - b'0')).collect();
        Gtin(format!("{text}{}", gs1_check_digit(&digits)))
    }
}

/// GS1 mod-10: weights 3,1,3,… from the rightmost body digit.
fn gs1_check_digit(body: &[u32]) -> u32 {
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| if i % 2 == 0 { d * 3 } else { *d })
        .sum();
    (10 - sum % 10) % 10
}

/// A warehouse code such as `SH-01`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WarehouseCode(String);
string_newtype!(WarehouseCode);

impl WarehouseCode {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let Some((letters, digits)) = raw.split_once('-') else {
            return Err(DomainError::Warehouse(truncate(raw)));
        };
        let ok = (2..=4).contains(&letters.len())
            && letters.bytes().all(|b| b.is_ascii_uppercase())
            && digits.len() == 2
            && digits.bytes().all(|b| b.is_ascii_digit());
        if ok {
            Ok(WarehouseCode(raw.to_owned()))
        } else {
            Err(DomainError::Warehouse(truncate(raw)))
        }
    }
}

/// A bin, shelf face or staging area inside one warehouse, printed as a barcode on the rack.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LocationCode(String);
string_newtype!(LocationCode);

impl LocationCode {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let ok = (1..=32).contains(&raw.len())
            && raw.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(LocationCode(raw.to_owned()))
        } else {
            Err(DomainError::Location(truncate(raw)))
        }
    }
}

/// A positive quantity of units, bounded so that no single request can overflow a counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct Qty(u32);

impl Qty {
    pub const MAX: u32 = 100_000;

    pub fn parse(raw: i64) -> Result<Self, DomainError> {
        if raw >= 1 && raw <= i64::from(Self::MAX) {
            Ok(Qty(raw as u32))
        } else {
            Err(DomainError::Qty(raw))
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }

    pub fn as_i64(self) -> i64 {
        i64::from(self.0)
    }
}

impl TryFrom<i64> for Qty {
    type Error = DomainError;
    fn try_from(raw: i64) -> Result<Self, DomainError> {
        Qty::parse(raw)
    }
}

impl From<Qty> for i64 {
    fn from(q: Qty) -> i64 {
        q.as_i64()
    }
}

/// An amount in minor units (fen for CNY). Never a float.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct Money(i64);

impl Money {
    /// One hundred million yuan: far above any single price, far below overflow.
    pub const MAX_MINOR: i64 = 10_000_000_000;
    pub const ZERO: Money = Money(0);

    pub fn parse(minor: i64) -> Result<Self, DomainError> {
        if (0..=Self::MAX_MINOR).contains(&minor) {
            Ok(Money(minor))
        } else {
            Err(DomainError::Money(minor))
        }
    }

    pub fn minor(self) -> i64 {
        self.0
    }
}

impl TryFrom<i64> for Money {
    type Error = DomainError;
    fn try_from(raw: i64) -> Result<Self, DomainError> {
        Money::parse(raw)
    }
}

impl From<Money> for i64 {
    fn from(m: Money) -> i64 {
        m.0
    }
}

/// What `n` units of a line that cost `total` for `units` pay, when `before` of them went
/// (were refunded, credited) already: units pay ⌊total·k/units⌋ cumulatively, so however a
/// line is given back, in whatever pieces, its pieces sum to exactly `total` and no unit pays
/// more than a fen above another. 0 when the arguments make no sense (units ≤ 0, out of range).
pub fn units_share(total: i64, units: i64, before: i64, n: i64) -> i64 {
    if units <= 0 || before < 0 || n < 0 || before + n > units {
        return 0;
    }
    let upto = |k: i64| i128::from(total) * i128::from(k) / i128::from(units);
    i64::try_from(upto(before + n) - upto(before)).unwrap_or(0)
}

/// `total` shared in proportion to `weights` (not all zero), in whole units that sum to it
/// exactly: each its floor, then one more to the largest remainders (the first on a tie). No
/// share is above its weight when `total` is at most their sum.
pub fn largest_remainder(total: i64, weights: &[i64]) -> Vec<i64> {
    let sum: i128 = weights.iter().map(|&w| i128::from(w.max(0))).sum();
    if sum == 0 {
        return vec![0; weights.len()];
    }
    let parts: Vec<(i64, i128)> = weights
        .iter()
        .map(|&w| {
            let exact = i128::from(total) * i128::from(w.max(0));
            ((exact / sum) as i64, exact % sum)
        })
        .collect();
    let mut shares: Vec<i64> = parts.iter().map(|(q, _)| *q).collect();
    let short = total - shares.iter().sum::<i64>();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| parts[b].1.cmp(&parts[a].1).then(a.cmp(&b)));
    for &i in order.iter().take(usize::try_from(short).unwrap_or(0)) {
        shares[i] += 1;
    }
    shares
}

/// Error messages echo the bad input; keep them short whatever a client sent.
fn truncate(raw: &str) -> String {
    raw.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gtin_with_a_valid_check_digit_parses_and_a_wrong_one_is_rejected() {
        assert!(Gtin::parse("4006381333931").is_ok());
        assert!(Gtin::parse("036000291452").is_ok());
        assert!(Gtin::parse("4006381333932").is_err());
        assert!(Gtin::parse("40063813339").is_err());
        assert!(Gtin::parse("400638133393X").is_err());
    }

    #[test]
    fn units_shares_sum_to_the_line_whatever_the_pieces() {
        // 1,001 fen over 3 units: ⌊1001·k/3⌋ = 333, 667, 1001, so 333, 334, 334.
        assert_eq!([units_share(1_001, 3, 0, 1), units_share(1_001, 3, 1, 1), units_share(1_001, 3, 2, 1)], [333, 334, 334]);
        assert_eq!(units_share(1_001, 3, 0, 2) + units_share(1_001, 3, 2, 1), 1_001);
        assert_eq!(units_share(1_001, 3, 0, 3), 1_001);
        assert_eq!(units_share(1_001, 3, 2, 2), 0, "more units than the line has");
        for (total, units) in [(7, 7), (0, 4), (9_999_999_999, 100_000), (1, 2)] {
            let mut before = 0;
            let mut sum = 0;
            for n in [1, 2, 3, 5, 8].iter().cycle() {
                let n = (*n).min(units - before);
                if n == 0 {
                    break;
                }
                sum += units_share(total, units, before, n);
                before += n;
            }
            assert_eq!(sum, total, "{total} over {units}");
        }
    }

    #[test]
    fn built_gtin13_always_parses() {
        for body in [0u64, 1, 19_586_613_773, 999_999_999_999] {
            let g = Gtin::from_body13(body);
            assert_eq!(Gtin::parse(g.as_str()), Ok(g));
        }
    }

    #[test]
    fn quantity_outside_one_to_max_is_rejected() {
        assert!(Qty::parse(0).is_err());
        assert!(Qty::parse(-3).is_err());
        assert!(Qty::parse(100_001).is_err());
        assert_eq!(Qty::parse(7).map(Qty::get), Ok(7));
    }

    #[test]
    fn codes_reject_lowercase_and_junk() {
        assert!(Sku::parse("peg39").is_err());
        assert!(Sku::parse("").is_err());
        assert!(WarehouseCode::parse("SH-01").is_ok());
        assert!(WarehouseCode::parse("SH01").is_err());
        assert!(WarehouseCode::parse("sh-01").is_err());
        assert!(LocationCode::parse("A-01-02").is_ok());
        assert!(LocationCode::parse("A 01").is_err());
    }

    #[test]
    fn serde_goes_through_parse() {
        let bad: Result<Qty, _> = serde_json::from_str("-1");
        assert!(bad.is_err());
        let sku: Sku = serde_json::from_str("\"PEG39-M-WHT-42\"").expect("valid");
        assert_eq!(sku.as_str(), "PEG39-M-WHT-42");
    }
}
