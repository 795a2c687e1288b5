//! Comparing secrets and signatures: in constant time, so one cannot be guessed byte by byte
//! from how long a refusal takes. Pure; `runtime::secrets` re-exports it beside the hashing.

/// Whether `a` and `b` are the same text, compared in constant time.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
