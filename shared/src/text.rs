//! Free text from outside (names, addresses, reasons, notes): the one rule both daemons apply
//! to every free-text field they accept, so the rule is written once.
//!
//! Refused: control characters (C0 including tab and line breaks, DEL, C1 — NUL among them),
//! the bidirectional formatting characters that make text display in another order than it
//! is stored (U+061C, U+200E, U+200F, the embeddings and overrides U+202A–U+202E, the isolates
//! U+2066–U+2069), the line and paragraph separators U+2028/U+2029 (line breaks in disguise),
//! U+FEFF and the interlinear annotation characters U+FFF9–U+FFFB. Such text shows one thing on a
//! label, a screen or a log line and means another ("Trojan Source", CVE-2021-42574), breaks
//! label printers and CSV exports, and cannot be written in XML. Zero-width joiners (U+200C,
//! U+200D) stay allowed: Persian, Indic scripts and emoji sequences need them.
//!
//! What it is not: validation of codes (SKUs, GTINs, scans — a GS1 scan legitimately carries
//! the GS separator U+001D); those have their own parsers.

use std::fmt;

/// Why a character may not appear in free text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forbidden {
    /// C0, DEL or C1.
    Control,
    /// An embedding, override, isolate or directional mark.
    Bidi,
    /// U+2028 or U+2029.
    Separator,
    /// U+FEFF or U+FFF9–U+FFFB.
    Invisible,
}

impl Forbidden {
    pub fn of(c: char) -> Option<Forbidden> {
        match c {
            c if c.is_control() => Some(Forbidden::Control),
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' => Some(Forbidden::Bidi),
            '\u{2028}' | '\u{2029}' => Some(Forbidden::Separator),
            '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}' => Some(Forbidden::Invisible),
            _ => None,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Forbidden::Control => "a control character",
            Forbidden::Bidi => "a bidirectional formatting character",
            Forbidden::Separator => "a line or paragraph separator",
            Forbidden::Invisible => "an invisible formatting character",
        }
    }
}

/// Free text that may not be accepted; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("{field} must have 1 to {max} characters")]
    Length { field: String, max: usize },
    #[error("{field} must not contain {} ({code_point}) — found at character {position}", .kind.describe())]
    Forbidden { field: String, kind: Forbidden, code_point: CodePoint, position: usize },
}

impl TextError {
    /// The field the error is about, as the caller named it (`ship_to.name`).
    pub fn field(&self) -> &str {
        match self {
            TextError::Length { field, .. } | TextError::Forbidden { field, .. } => field,
        }
    }
}

/// A character written as `U+202E`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodePoint(pub char);

impl fmt::Display for CodePoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "U+{:04X}", self.0 as u32)
    }
}

/// The first forbidden character of `value`: (1-based position in characters, the character,
/// why).
pub fn first_forbidden(value: &str) -> Option<(usize, char, Forbidden)> {
    value.chars().enumerate().find_map(|(i, c)| Forbidden::of(c).map(|why| (i + 1, c, why)))
}

/// Only the character rule: for optional or possibly empty text.
pub fn check_chars(field: &str, value: &str) -> Result<(), TextError> {
    match first_forbidden(value) {
        None => Ok(()),
        Some((position, c, kind)) => Err(TextError::Forbidden { field: field.to_owned(), kind, code_point: CodePoint(c), position }),
    }
}

/// Free text that must be there: not all white space, at most `max` characters as sent (what
/// is stored, and the `maxLength` the OpenAPI documents state), none of them forbidden.
pub fn check(field: &str, value: &str, max: usize) -> Result<(), TextError> {
    if value.trim().is_empty() || value.chars().count() > max {
        return Err(TextError::Length { field: field.to_owned(), max });
    }
    check_chars(field, value)
}

/// Whether `value` is clean text of 1 to `max` characters (for rules that report their own
/// error).
pub fn is_clean(value: &str, max: usize) -> bool {
    check("", value, max).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_any_script_pass() {
        for ok in ["Li Wei", "张伟", "Zoë O'Brien-Ďurčo", "محمد", "नमस्ते", "👩‍👩‍👧", "1 Century Avenue, Pudong"] {
            assert_eq!(check("name", ok, 100), Ok(()), "{ok}");
        }
    }

    #[test]
    fn control_bidi_and_separator_characters_are_refused_by_field_and_position() {
        for (bad, expected) in [
            ("a\0b", '\0'),
            ("tab\there", '\t'),
            ("line\nbreak", '\n'),
            ("del\u{7f}", '\u{7f}'),
            ("c1\u{85}", '\u{85}'),
            ("c1\u{9b}", '\u{9b}'),
            ("evil\u{202E}gpj.exe", '\u{202E}'),
            ("iso\u{2066}late", '\u{2066}'),
            ("pdi\u{2069}", '\u{2069}'),
            ("mark\u{200F}", '\u{200F}'),
            ("alm\u{061C}", '\u{061C}'),
            ("sep\u{2028}", '\u{2028}'),
            ("\u{FEFF}bom", '\u{FEFF}'),
        ] {
            match check("ship_to.name", bad, 100) {
                Err(TextError::Forbidden { field, code_point, .. }) => {
                    assert_eq!(field, "ship_to.name");
                    assert_eq!(code_point.0, expected, "{bad:?}");
                }
                other => panic!("{bad:?} was {other:?}"),
            }
        }
        let message = check("ship_to.name", "ab\u{202E}c", 100).expect_err("refused").to_string();
        assert_eq!(message, "ship_to.name must not contain a bidirectional formatting character (U+202E) — found at character 3");
    }

    #[test]
    fn blank_or_long_text_is_refused_and_empty_optional_text_passes_the_character_rule() {
        assert!(matches!(check("name", "   ", 10), Err(TextError::Length { .. })));
        assert!(matches!(check("name", &"x".repeat(11), 10), Err(TextError::Length { .. })));
        assert_eq!(check_chars("postcode", ""), Ok(()));
        assert!(!is_clean("a\u{0}", 10));
        assert!(is_clean("a", 10));
    }
}
