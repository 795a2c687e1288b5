//! Idempotency-Keys, the same way on both daemons: a key is remembered with a fingerprint of
//! the request it came with (method, path, caller, body). The same key with the same request
//! gets the stored answer; the same key with any other request is refused (422), so a client
//! bug that reuses keys cannot silently receive someone else's answer.
//!
//! Pure: the stores keep the keys in their own tables, in the transaction of the effect.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// A write's key and the fingerprint of the request that carried it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestKey {
    pub key: String,
    pub fingerprint: String,
}

/// SHA-256 (hex) over the four parts, each length-prefixed so ("ab", "c") ≠ ("a", "bc").
pub fn fingerprint(method: &str, path: &str, caller: &str, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    for part in [method.as_bytes(), path.as_bytes(), caller.as_bytes(), body] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The request's key, if it carries one, fingerprinted over its parsed body re-serialised
/// (so whitespace and key order do not matter). The error is the message for a 400.
pub fn request_key(
    headers: &axum::http::HeaderMap,
    method: &str,
    path: &str,
    caller: &str,
    body: &impl Serialize,
) -> Result<Option<RequestKey>, &'static str> {
    let Some(key) = super::http::idempotency_key(headers)? else {
        return Ok(None);
    };
    let canonical = serde_json::to_vec(body).map_err(|_| "the request body cannot be fingerprinted")?;
    Ok(Some(RequestKey { key, fingerprint: fingerprint(method, path, caller, &canonical) }))
}

/// What a stored key means for this request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen<T> {
    /// Never seen: run the request and store its answer under the key.
    New,
    /// Seen with this very request: answer what was answered then.
    Replay(T),
    /// Seen with another request: refuse.
    Mismatch,
}

/// `stored`: the fingerprint and answer kept under the key, if any. An empty stored
/// fingerprint is a key kept before fingerprints existed: it replays for any request.
pub fn compare<T>(stored: Option<(String, T)>, fingerprint: &str) -> Seen<T> {
    match stored {
        None => Seen::New,
        Some((kept, answer)) if kept == fingerprint || kept.is_empty() => Seen::Replay(answer),
        Some(_) => Seen::Mismatch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_request_has_the_same_fingerprint_and_any_part_changes_it() {
        let base = fingerprint("POST", "/api/v1/orders", "admin", b"{}");
        assert_eq!(base, fingerprint("POST", "/api/v1/orders", "admin", b"{}"));
        assert_ne!(base, fingerprint("PUT", "/api/v1/orders", "admin", b"{}"));
        assert_ne!(base, fingerprint("POST", "/api/v1/orders/1", "admin", b"{}"));
        assert_ne!(base, fingerprint("POST", "/api/v1/orders", "reader", b"{}"));
        assert_ne!(base, fingerprint("POST", "/api/v1/orders", "admin", b"{ }"));
    }

    #[test]
    fn parts_cannot_be_shifted_into_each_other() {
        assert_ne!(fingerprint("ab", "c", "", b""), fingerprint("a", "bc", "", b""));
    }

    #[test]
    fn compare_tells_new_replay_and_mismatch() {
        assert_eq!(compare::<u8>(None, "f"), Seen::New);
        assert_eq!(compare(Some(("f".into(), 7)), "f"), Seen::Replay(7));
        assert_eq!(compare(Some(("g".into(), 7)), "f"), Seen::Mismatch);
        assert_eq!(compare(Some((String::new(), 7)), "f"), Seen::Replay(7), "legacy keys replay");
    }
}
