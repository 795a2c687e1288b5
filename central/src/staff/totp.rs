//! TOTP (RFC 6238): the six-digit codes of an authenticator app, HMAC-SHA1 over 30-second
//! steps (what every app defaults to). The HMAC is ring's; this file only counts steps and
//! truncates (RFC 4226 §5.3). A code is accepted for the step before and after the current one
//! (clock drift), and never twice: the caller stores the last step used.

use ring::hmac;

pub const STEP_MS: i64 = 30_000;
pub const DIGITS: u32 = 6;
/// 160 bits, as RFC 4226 recommends.
pub const SECRET_BYTES: usize = 20;

/// The code for `step` (RFC 4226 HOTP with the step as counter).
pub fn code(secret: &[u8], step: i64, digits: u32) -> u32 {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let mac = hmac::sign(&key, &(step as u64).to_be_bytes());
    let mac = mac.as_ref();
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let binary = u32::from_be_bytes([
        mac[offset] & 0x7f,
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ]);
    binary % 10u32.pow(digits)
}

/// The step `code` belongs to, within one step of `now_ms`'s, if it is newer than `last_step`.
pub fn check(secret: &[u8], code_typed: &str, now_ms: i64, last_step: i64) -> Option<i64> {
    if code_typed.len() != DIGITS as usize || !code_typed.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let typed: u32 = code_typed.parse().ok()?;
    let now = now_ms.div_euclid(STEP_MS);
    // Constant work: every candidate is computed whether or not an earlier one matched.
    let mut found = None;
    for step in [now - 1, now, now + 1] {
        if step > last_step && code(secret, step, DIGITS) == typed && found.is_none() {
            found = Some(step);
        }
    }
    found
}

pub fn new_secret() -> Vec<u8> {
    (0..SECRET_BYTES).map(|_| rand::random::<u8>()).collect()
}

/// RFC 4648 base32 without padding, as authenticator apps take secrets.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// The `otpauth://` URI an authenticator app scans as a QR code.
pub fn uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let enc = |s: &str| form_urlencoded_component(s);
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={}",
        enc(issuer),
        enc(account),
        base32(secret),
        enc(issuer),
        STEP_MS / 1000
    )
}

fn form_urlencoded_component(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA-1 column (8 digits), and their last six digits.
    #[test]
    fn the_rfc_6238_test_vectors() {
        let secret = b"12345678901234567890";
        for (seconds, expected) in [
            (59i64, 94287082u32),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ] {
            assert_eq!(code(secret, seconds / 30, 8), expected, "T = {seconds}");
            assert_eq!(code(secret, seconds / 30, 6), expected % 1_000_000);
        }
    }

    #[test]
    fn a_code_is_taken_one_step_either_side_and_never_twice() {
        let secret = b"12345678901234567890";
        let now_ms = 1_234_567_890_000;
        let step = now_ms / STEP_MS;
        let typed = |s: i64| format!("{:06}", code(secret, s, 6));
        assert_eq!(check(secret, &typed(step), now_ms, 0), Some(step));
        assert_eq!(
            check(secret, &typed(step - 1), now_ms, 0),
            Some(step - 1),
            "the phone's clock a little behind"
        );
        assert_eq!(check(secret, &typed(step + 1), now_ms, 0), Some(step + 1));
        assert_eq!(
            check(secret, &typed(step - 2), now_ms, 0),
            None,
            "a minute old"
        );
        assert_eq!(check(secret, &typed(step), now_ms, step), None, "replayed");
        assert_eq!(check(secret, "12345", now_ms, 0), None);
        assert_eq!(check(secret, "12a456", now_ms, 0), None);
    }

    #[test]
    fn base32_is_rfc_4648() {
        // RFC 4648 §10, padding dropped.
        for (input, expected) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32(input.as_bytes()), expected);
        }
        assert_eq!(unhex(&hex(&[0, 15, 255])), Some(vec![0, 15, 255]));
        assert_eq!(unhex("zz"), None);
        assert!(
            uri("Tote HQ", "li@tote", b"12345678901234567890").starts_with(
                "otpauth://totp/Tote%20HQ:li%40tote?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&"
            )
        );
    }
}
