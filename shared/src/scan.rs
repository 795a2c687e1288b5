//! What a scanner read: GS1 element strings (GS1-128, GS1 DataMatrix, GS1 QR), plain
//! EAN/UPC/GTIN codes, and Tote's own location, pod, tote and carton labels.
//!
//! Input is exactly what the scanner transmitted: an optional symbology identifier (`]C1`,
//! `]d2`, `]Q3`, `]e0`, `]E0`, `]E4`, …), FNC1 separators as ASCII GS (29), or the
//! human-readable form with the AIs in parentheses, as keyboard-wedge scanners and people type
//! it. Anything else is a precise `ScanError`. Pure: the current year comes in as an argument
//! (it decides the century of a two-digit year, GS1 General Specifications §7.12).

use crate::domain::{Gtin, LocationCode};
use std::fmt;

/// ASCII Group Separator: how FNC1 is transmitted.
pub const GS: char = '\u{1d}';
/// Longest input considered; a scanner line longer than this is refused outright.
pub const MAX_SCAN_LEN: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    pub year: u16,
    pub month: u8,
    pub day: u8,
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// The data of a GS1 element string, by application identifier.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gs1 {
    /// AI 00: Serial Shipping Container Code (18 digits).
    pub sscc: Option<String>,
    /// AI 01: the trade item.
    pub gtin: Option<Gtin>,
    /// AI 02: the trade items contained in a logistic unit.
    pub content_gtin: Option<Gtin>,
    /// AI 10.
    pub batch: Option<String>,
    /// AI 11.
    pub production_date: Option<Date>,
    /// AI 15.
    pub best_before: Option<Date>,
    /// AI 17.
    pub expiry: Option<Date>,
    /// AI 21.
    pub serial: Option<String>,
    /// AI 30: variable count of items.
    pub count: Option<u32>,
    /// AI 37: count of trade items contained in a logistic unit.
    pub content_count: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scan {
    Gs1(Gs1),
    /// A plain EAN-13 / EAN-8 / UPC-A / GTIN-14.
    Gtin(Gtin),
    Location(LocationCode),
    Pod(String),
    Tote(String),
    Carton(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    #[error("empty scan")]
    Empty,
    #[error("scan is longer than {MAX_SCAN_LEN} characters")]
    TooLong,
    #[error("symbology {0} is not supported")]
    Symbology(String),
    #[error("application identifier {0} is not supported")]
    UnknownAi(String),
    #[error("AI ({ai}): {why}")]
    Field { ai: &'static str, why: String },
    #[error("AI ({0}) appears twice")]
    Repeated(&'static str),
    #[error("the element string ends inside an application identifier")]
    Truncated,
    #[error("{0}")]
    Gtin(String),
    #[error("not a barcode Tote knows: {0:?}")]
    Unknown(String),
}

#[derive(Clone, Copy)]
enum Kind {
    /// Exactly n digits, the last a GS1 check digit.
    Checked(usize),
    /// YYMMDD.
    Date,
    /// 1..=n characters of GS1's character set 82.
    Text(usize),
    /// 1..=n digits.
    Count(usize),
}

/// The AIs we read: (AI, kind, has a predefined length so no FNC1 follows it).
const AIS: &[(&str, Kind, bool)] = &[
    ("00", Kind::Checked(18), true),
    ("01", Kind::Checked(14), true),
    ("02", Kind::Checked(14), true),
    ("10", Kind::Text(20), false),
    ("11", Kind::Date, true),
    ("15", Kind::Date, true),
    ("17", Kind::Date, true),
    ("21", Kind::Text(20), false),
    ("30", Kind::Count(8), false),
    ("37", Kind::Count(8), false),
];

/// Parses one scan. `current_year` (e.g. 2026) places two-digit years in a century.
pub fn parse(raw: &str, current_year: u16) -> Result<Scan, ScanError> {
    let raw = raw.trim_end_matches(['\r', '\n']);
    if raw.is_empty() {
        return Err(ScanError::Empty);
    }
    if raw.len() > MAX_SCAN_LEN {
        return Err(ScanError::TooLong);
    }
    if let Some(rest) = raw.strip_prefix(']') {
        let id = rest.get(..2).ok_or_else(|| ScanError::Symbology(raw.chars().take(3).collect()))?;
        let data = &rest[2..];
        return match id {
            "C1" | "d2" | "Q3" | "e0" | "J1" => parse_element_string(data, current_year).map(Scan::Gs1),
            "E0" | "E4" | "A0" | "E3" => plain_gtin(data),
            other => Err(ScanError::Symbology(format!("]{other}"))),
        };
    }
    if raw.starts_with('(') {
        return parse_element_string(&from_parentheses(raw)?, current_year).map(Scan::Gs1);
    }
    if let Some(data) = raw.strip_prefix(GS) {
        return parse_element_string(data, current_year).map(Scan::Gs1);
    }
    if raw.bytes().all(|b| b.is_ascii_digit()) {
        return plain_gtin(raw);
    }
    own_code(raw)
}

fn plain_gtin(data: &str) -> Result<Scan, ScanError> {
    Gtin::parse(data).map(Scan::Gtin).map_err(|e| ScanError::Gtin(e.to_string()))
}

fn own_code(raw: &str) -> Result<Scan, ScanError> {
    let suffix = |prefix: &str| {
        raw.strip_prefix(prefix)
            .filter(|s| (1..=12).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()))
    };
    if suffix("POD-").is_some() {
        return Ok(Scan::Pod(raw.to_owned()));
    }
    if suffix("TOTE-").is_some() {
        return Ok(Scan::Tote(raw.to_owned()));
    }
    if suffix("CTN-").is_some() {
        return Ok(Scan::Carton(raw.to_owned()));
    }
    LocationCode::parse(raw).map(Scan::Location).map_err(|_| ScanError::Unknown(raw.chars().take(40).collect()))
}

/// `(01)0950…(10)AB` → `010950…10AB` with GS after variable-length fields.
fn from_parentheses(raw: &str) -> Result<String, ScanError> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(after) = rest.strip_prefix('(') {
        let close = after.find(')').ok_or(ScanError::Truncated)?;
        let ai = &after[..close];
        let value_end = after[close + 1..].find('(').map_or(after.len(), |i| close + 1 + i);
        let value = &after[close + 1..value_end];
        let (_, _, fixed) = lookup(ai)?;
        // A separator only follows variable-length fields, and only between fields.
        out.push_str(ai);
        out.push_str(value);
        if !fixed && value_end < after.len() {
            out.push(GS);
        }
        rest = &after[value_end..];
    }
    if !rest.is_empty() {
        return Err(ScanError::Unknown(raw.chars().take(40).collect()));
    }
    Ok(out)
}

fn lookup(ai: &str) -> Result<(&'static str, Kind, bool), ScanError> {
    AIS.iter().find(|(a, _, _)| *a == ai).copied().ok_or_else(|| ScanError::UnknownAi(ai.chars().take(4).collect()))
}

fn parse_element_string(data: &str, current_year: u16) -> Result<Gs1, ScanError> {
    let mut out = Gs1::default();
    let mut rest = data.trim_start_matches(GS);
    if rest.is_empty() {
        return Err(ScanError::Empty);
    }
    while !rest.is_empty() {
        let ai_text = rest.get(..2).ok_or(ScanError::Truncated)?;
        let (ai, kind, fixed) = lookup(ai_text)?;
        let body = &rest[2..];
        let (value, next) = match (kind, fixed) {
            (Kind::Checked(_) | Kind::Date, true) => {
                let n = match kind {
                    Kind::Checked(n) => n,
                    _ => 6,
                };
                let value = body.get(..n).ok_or(ScanError::Field { ai, why: format!("needs {n} digits") })?;
                // A separator after a fixed field is tolerated (some printers add one).
                (value, body[n..].trim_start_matches(GS))
            }
            _ => match body.find(GS) {
                Some(i) => (&body[..i], &body[i + 1..]),
                None => (body, ""),
            },
        };
        store(&mut out, ai, kind, value, current_year)?;
        rest = next;
    }
    Ok(out)
}

fn store(out: &mut Gs1, ai: &'static str, kind: Kind, value: &str, current_year: u16) -> Result<(), ScanError> {
    let field = |why: String| ScanError::Field { ai, why };
    match kind {
        Kind::Checked(n) => {
            if value.len() != n || !value.bytes().all(|b| b.is_ascii_digit()) {
                return Err(field(format!("needs {n} digits")));
            }
            if !check_digit_ok(value) {
                return Err(field("the check digit does not match".into()));
            }
            match ai {
                "00" => set(&mut out.sscc, value.to_owned(), ai),
                "01" => set(&mut out.gtin, Gtin::parse(value).map_err(|e| field(e.to_string()))?, ai),
                _ => set(&mut out.content_gtin, Gtin::parse(value).map_err(|e| field(e.to_string()))?, ai),
            }
        }
        Kind::Date => {
            let date = parse_date(value, current_year).ok_or_else(|| field(format!("{value:?} is not a valid YYMMDD date")))?;
            match ai {
                "11" => set(&mut out.production_date, date, ai),
                "15" => set(&mut out.best_before, date, ai),
                _ => set(&mut out.expiry, date, ai),
            }
        }
        Kind::Text(max) => {
            if value.is_empty() || value.chars().count() > max {
                return Err(field(format!("needs 1 to {max} characters")));
            }
            if let Some(bad) = value.chars().find(|c| !is_cset82(*c)) {
                return Err(field(format!("{bad:?} is not allowed in GS1 data")));
            }
            match ai {
                "10" => set(&mut out.batch, value.to_owned(), ai),
                _ => set(&mut out.serial, value.to_owned(), ai),
            }
        }
        Kind::Count(max) => {
            if value.is_empty() || value.len() > max || !value.bytes().all(|b| b.is_ascii_digit()) {
                return Err(field(format!("needs 1 to {max} digits")));
            }
            let n: u32 = value.parse().map_err(|_| field("out of range".into()))?;
            match ai {
                "30" => set(&mut out.count, n, ai),
                _ => set(&mut out.content_count, n, ai),
            }
        }
    }
}

fn set<T>(slot: &mut Option<T>, value: T, ai: &'static str) -> Result<(), ScanError> {
    if slot.is_some() {
        return Err(ScanError::Repeated(ai));
    }
    *slot = Some(value);
    Ok(())
}

fn check_digit_ok(digits: &str) -> bool {
    let d: Vec<u32> = digits.bytes().map(|b| u32::from(b - b'0')).collect();
    let (body, check) = d.split_at(d.len() - 1);
    let sum: u32 = body.iter().rev().enumerate().map(|(i, x)| if i % 2 == 0 { x * 3 } else { *x }).sum();
    (10 - sum % 10) % 10 == check[0]
}

/// GS1 character set 82 (General Specifications §7.11, figure 7.11-1).
fn is_cset82(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!\"%&'()*+,-./:;<=>?_".contains(c)
}

/// YYMMDD; DD = 00 means the last day of the month. The century follows GS1 §7.12: a year
/// more than 50 ahead of the current one is in the past century, more than 49 behind in the next.
fn parse_date(value: &str, current_year: u16) -> Option<Date> {
    if value.len() != 6 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |i: usize| value[i..i + 2].parse::<u16>().ok();
    let (yy, month, day) = (n(0)?, n(2)?, n(4)?);
    let century = current_year / 100 * 100;
    let diff = i32::from(yy) - i32::from(current_year % 100);
    let year = match diff {
        51..=99 => century - 100 + yy,
        -99..=-50 => century + 100 + yy,
        _ => century + yy,
    };
    if !(1..=12).contains(&month) {
        return None;
    }
    let last = days_in_month(year, month as u8);
    let day = if day == 0 { last } else { day as u8 };
    (day <= last).then_some(Date { year, month: month as u8, day })
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gs1(raw: &str) -> Gs1 {
        match parse(raw, 2026) {
            Ok(Scan::Gs1(g)) => g,
            other => panic!("{raw:?} gave {other:?}"),
        }
    }

    #[test]
    fn gs1_128_with_fnc1_after_a_variable_field() {
        let g = gs1("]C1010950600013435217261231\u{1d}10ABC123\u{1d}21SN-9");
        assert_eq!(g.gtin.map(|x| x.to_string()), Some("09506000134352".into()));
        assert_eq!(g.expiry, Some(Date { year: 2026, month: 12, day: 31 }));
        assert_eq!(g.batch.as_deref(), Some("ABC123"));
        assert_eq!(g.serial.as_deref(), Some("SN-9"));
    }

    #[test]
    fn the_three_forms_of_one_element_string_agree() {
        let data_matrix = gs1("]d2010950600013435210LOT7\u{1d}17270200");
        let qr = gs1("]Q3010950600013435210LOT7\u{1d}17270200");
        let human = gs1("(01)09506000134352(10)LOT7(17)270200");
        assert_eq!(data_matrix, qr);
        assert_eq!(data_matrix, human);
        assert_eq!(human.expiry, Some(Date { year: 2027, month: 2, day: 28 }), "DD 00 is the month's last day");
    }

    #[test]
    fn sscc_and_counts_on_a_logistic_unit() {
        let g = gs1("]C100106141411234567897020950600013435237120");
        assert_eq!(g.sscc.as_deref(), Some("106141411234567897"));
        assert_eq!(g.content_gtin.map(|x| x.to_string()), Some("09506000134352".into()));
        assert_eq!(g.content_count, Some(120));
    }

    #[test]
    fn wrong_check_digits_unknown_ais_and_bad_dates_are_precise_errors() {
        assert_eq!(parse("]C10109506000134353", 2026), Err(ScanError::Field { ai: "01", why: "the check digit does not match".into() }));
        assert_eq!(parse("]C19912345", 2026), Err(ScanError::UnknownAi("99".into())));
        assert!(matches!(parse("]C117261332", 2026), Err(ScanError::Field { ai: "17", .. })));
        assert_eq!(parse("]C110AB\u{1d}10CD", 2026), Err(ScanError::Repeated("10")));
        assert!(matches!(parse("]C110A B", 2026), Err(ScanError::Field { ai: "10", .. })));
        assert_eq!(parse("]X9123", 2026), Err(ScanError::Symbology("]X9".into())));
        assert_eq!(parse("]C101095060001343", 2026), Err(ScanError::Field { ai: "01", why: "needs 14 digits".into() }));
    }

    #[test]
    fn two_digit_years_follow_the_gs1_sliding_window() {
        assert_eq!(parse_date("760101", 2026).map(|d| d.year), Some(2076));
        assert_eq!(parse_date("770101", 2026).map(|d| d.year), Some(1977));
        assert_eq!(parse_date("200229", 2026).map(|d| d.day), Some(29));
        assert_eq!(parse_date("210229", 2026), None);
    }

    #[test]
    fn plain_codes_and_our_own_labels() {
        assert_eq!(parse("4006381333931", 2026).map(|s| matches!(s, Scan::Gtin(_))), Ok(true));
        assert_eq!(parse("]E04006381333931", 2026).map(|s| matches!(s, Scan::Gtin(_))), Ok(true));
        assert_eq!(parse("036000291452", 2026).map(|s| matches!(s, Scan::Gtin(_))), Ok(true));
        assert_eq!(parse("96385074", 2026).map(|s| matches!(s, Scan::Gtin(_))), Ok(true));
        assert_eq!(parse("POD-000123", 2026), Ok(Scan::Pod("POD-000123".into())));
        assert_eq!(parse("TOTE-77", 2026), Ok(Scan::Tote("TOTE-77".into())));
        assert_eq!(parse("CTN-5", 2026), Ok(Scan::Carton("CTN-5".into())));
        assert!(matches!(parse("A-03-2", 2026), Ok(Scan::Location(_))));
        assert!(matches!(parse("4006381333932", 2026), Err(ScanError::Gtin(_))));
        assert!(matches!(parse("hello world", 2026), Err(ScanError::Unknown(_))));
        assert_eq!(parse("", 2026), Err(ScanError::Empty));
    }
}
