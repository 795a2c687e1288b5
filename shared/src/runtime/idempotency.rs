//! Idempotency-Key handling both daemons share: what identifies a keyed request (its key and
//! a fingerprint of method, path, caller and body) and what to do when a key comes back.
//!
//! A key alone is not enough: a client that reuses a key for a different request (another
//! body, another resource, another user) must be told so, not handed the answer to the first
//! request as if the second had been applied. So a daemon stores the fingerprint with the
//! answer and, on a known key, asks `compare` whether this is a replay or a misuse.
//!
//! What it is not: storage. Each daemon keeps key → (fingerprint, answer) in its own tables, in
//! the transaction of the change itself; this module only computes and decides, with no I/O.

use super::http::idempotency_key;
use axum::http::HeaderMap;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// An `Idempotency-Key` and the fingerprint of the request that carried it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestKey {
    pub key: String,
    pub fingerprint: String,
}

/// Lower-case hex SHA-256 over the request's method, path (as routed, without the query),
/// caller and body. Each part is prefixed with its length, so moving bytes from one part to
/// the next (`("ab", "c")` and `("a", "bc")`) gives another fingerprint.
pub fn fingerprint(method: &str, path: &str, caller: &str, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    for part in [method.as_bytes(), path.as_bytes(), caller.as_bytes(), body] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The request's key and fingerprint, or `None` without an `Idempotency-Key` header. The error
/// is the message for a 400 (a malformed header).
///
/// `body` is the already-parsed request body: it is serialised again, so whitespace and the
/// order of fields the client sent do not change the fingerprint. It goes through
/// `serde_json::Value` first, whose objects keep their keys sorted, so a body holding a
/// `HashMap` (whose iteration order differs from one map to the next) still fingerprints the
/// same every time.
pub fn request_key(headers: &HeaderMap, method: &str, path: &str, caller: &str, body: &impl Serialize) -> Result<Option<RequestKey>, &'static str> {
    let Some(key) = idempotency_key(headers)? else {
        return Ok(None);
    };
    let canonical = serde_json::to_value(body).and_then(|value| serde_json::to_vec(&value)).map_err(|_| "the request body cannot be read back as JSON")?;
    Ok(Some(RequestKey { key, fingerprint: fingerprint(method, path, caller, &canonical) }))
}

/// What a known key means for the request now carrying it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen<T> {
    /// The key was never stored: do the work and store its answer.
    New,
    /// The same request again: answer with what was stored, change nothing.
    Replay(T),
    /// The key answered another request: refuse (422), change nothing.
    Mismatch,
}

/// Decides from what is stored under the key (its fingerprint and answer, if any) and this
/// request's fingerprint.
pub fn compare<T>(stored: Option<(String, T)>, fingerprint: &str) -> Seen<T> {
    match stored {
        None => Seen::New,
        Some((stored_fingerprint, answer)) if stored_fingerprint == fingerprint => Seen::Replay(answer),
        Some(_) => Seen::Mismatch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use serde_json::json;

    #[test]
    fn the_same_request_has_the_same_fingerprint() {
        let a = fingerprint("POST", "/api/v1/receipts", "api-token", br#"{"qty":1}"#);
        let b = fingerprint("POST", "/api/v1/receipts", "api-token", br#"{"qty":1}"#);
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()), "{a}");
    }

    #[test]
    fn the_fingerprint_stays_what_databases_already_hold() {
        // Fingerprints are stored; a change of encoding would turn every retry of a request
        // made before an upgrade into a 422. Known answer: 8-byte big-endian length + bytes.
        assert_eq!(
            fingerprint("POST", "/api/v1/receipts", "api-token", br#"{"qty":1}"#),
            "2707ebb8c7c1d26d9b1f6d6e9d311348bdec25a6db6133b298877c460c8e5ad5"
        );
    }

    #[test]
    fn a_different_method_path_caller_or_body_changes_the_fingerprint() {
        let base = fingerprint("POST", "/api/v1/pick-tasks/7/scan", "worker:li", b"{}");
        assert_ne!(base, fingerprint("PUT", "/api/v1/pick-tasks/7/scan", "worker:li", b"{}"), "method");
        assert_ne!(base, fingerprint("POST", "/api/v1/pick-tasks/8/scan", "worker:li", b"{}"), "path");
        assert_ne!(base, fingerprint("POST", "/api/v1/pick-tasks/7/scan", "worker:wu", b"{}"), "caller");
        assert_ne!(base, fingerprint("POST", "/api/v1/pick-tasks/7/scan", "worker:li", b"{ }"), "body");
    }

    #[test]
    fn moving_bytes_between_parts_changes_the_fingerprint() {
        assert_ne!(fingerprint("ab", "c", "", b""), fingerprint("a", "bc", "", b""));
        assert_ne!(fingerprint("POST", "/a", "b", b""), fingerprint("POST", "/", "ab", b""));
        assert_ne!(fingerprint("POST", "/a", "", b"b"), fingerprint("POST", "/a", "b", b""));
    }

    fn keyed(key: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("idempotency-key", HeaderValue::from_str(key).expect("header value"));
        headers
    }

    #[test]
    fn a_request_without_the_header_has_no_key_and_a_malformed_header_is_refused() {
        let body = json!({"qty": 1});
        assert_eq!(request_key(&HeaderMap::new(), "POST", "/p", "c", &body), Ok(None));
        assert!(request_key(&keyed("has space"), "POST", "/p", "c", &body).is_err());
    }

    #[test]
    fn the_key_fingerprints_the_parsed_body_not_its_spelling() {
        #[derive(Serialize)]
        struct Receipt {
            location: String,
            qty: u32,
        }
        let typed = Receipt { location: "A-01-01".into(), qty: 5 };
        let reordered: serde_json::Value = serde_json::from_str(r#"{ "qty" : 5, "location" : "A-01-01" }"#).expect("json");
        let a = request_key(&keyed("k-1"), "POST", "/api/v1/receipts", "api-token", &typed).expect("valid").expect("keyed");
        let b = request_key(&keyed("k-1"), "POST", "/api/v1/receipts", "api-token", &reordered).expect("valid").expect("keyed");
        assert_eq!(a, b);
        assert_eq!(a.key, "k-1");
        let other = request_key(&keyed("k-1"), "POST", "/api/v1/receipts", "api-token", &json!({"location": "A-01-01", "qty": 4})).expect("valid").expect("keyed");
        assert_ne!(a.fingerprint, other.fingerprint);
    }

    #[test]
    fn a_body_with_a_hash_map_fingerprints_the_same_every_time() {
        let one: std::collections::HashMap<String, u32> = (0..50).map(|i| (format!("sku-{i}"), i)).collect();
        let two: std::collections::HashMap<String, u32> = (0..50).rev().map(|i| (format!("sku-{i}"), i)).collect();
        let a = request_key(&keyed("k"), "POST", "/p", "c", &one).expect("valid").expect("keyed");
        let b = request_key(&keyed("k"), "POST", "/p", "c", &two).expect("valid").expect("keyed");
        assert_eq!(a, b);
    }

    #[test]
    fn an_unknown_key_is_new() {
        assert_eq!(compare::<u32>(None, "f1"), Seen::New);
    }

    #[test]
    fn a_known_key_with_the_same_fingerprint_replays_the_stored_answer() {
        assert_eq!(compare(Some(("f1".to_owned(), "answer")), "f1"), Seen::Replay("answer"));
    }

    #[test]
    fn a_known_key_with_another_fingerprint_is_a_mismatch() {
        assert_eq!(compare(Some(("f1".to_owned(), "answer")), "f2"), Seen::Mismatch);
    }
}
