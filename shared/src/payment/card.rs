//! A card gateway in the style of Stripe: PaymentIntents, an `Idempotency-Key` on every call,
//! and webhooks signed `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.payload">`.
//!
//! What it is not: an HTTP client or server; central's adapter and the simulator are.

use super::keys::hmac_sha256;
use serde::{Deserialize, Serialize};

/// How old (or how far ahead) a webhook's `t` may be.
pub const TOLERANCE_S: i64 = 300;

/// The `Stripe-Signature` header for `payload` at `timestamp` (the simulator's side).
pub fn signature_header(secret: &str, timestamp: i64, payload: &str) -> String {
    format!("t={timestamp},v1={}", hmac_sha256::hex(secret.as_bytes(), format!("{timestamp}.{payload}").as_bytes()))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("the Stripe-Signature header is missing or malformed")]
    Header,
    #[error("timestamp {0} is outside the {TOLERANCE_S} s tolerance")]
    Stale(i64),
    #[error("no v1 signature matches")]
    BadSignature,
    #[error("the event is not JSON of the expected shape: {0}")]
    Body(String),
}

/// Checks a webhook like Stripe's libraries do: any `v1` entry may match (secrets rotate).
pub fn verify_header(secret: &str, header: &str, payload: &str, now_s: i64) -> Result<(), WebhookError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", s)) => signatures.push(s),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(WebhookError::Header)?;
    if signatures.is_empty() {
        return Err(WebhookError::Header);
    }
    if (now_s - timestamp).abs() > TOLERANCE_S {
        return Err(WebhookError::Stale(timestamp));
    }
    let signed = format!("{timestamp}.{payload}");
    if signatures.iter().any(|s| hmac_sha256::verify_hex(secret.as_bytes(), signed.as_bytes(), s)) {
        Ok(())
    } else {
        Err(WebhookError::BadSignature)
    }
}

/// A PaymentIntent as the gateway returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentIntent {
    pub id: String,
    #[serde(default = "intent_object")]
    pub object: String,
    pub amount: i64,
    #[serde(default)]
    pub amount_received: i64,
    pub currency: String,
    /// requires_payment_method, requires_confirmation, requires_action, processing,
    /// succeeded, canceled.
    pub status: String,
    #[serde(default)]
    pub metadata: std::collections::BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_payment_error: Option<serde_json::Value>,
}

fn intent_object() -> String {
    "payment_intent".into()
}

/// A refund as the gateway returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub id: String,
    #[serde(default = "refund_object")]
    pub object: String,
    pub amount: i64,
    pub payment_intent: String,
    /// pending, succeeded, failed, canceled.
    pub status: String,
    #[serde(default)]
    pub metadata: std::collections::BTreeMap<String, String>,
}

fn refund_object() -> String {
    "refund".into()
}

/// A webhook event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub id: String,
    #[serde(default = "event_object")]
    pub object: String,
    /// payment_intent.succeeded, payment_intent.payment_failed, payment_intent.canceled,
    /// refund.updated, refund.created.
    #[serde(rename = "type")]
    pub kind: String,
    pub created: i64,
    pub data: EventData,
}

fn event_object() -> String {
    "event".into()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventData {
    pub object: serde_json::Value,
}

/// An error answer: `{"error": {"type": "...", "code": "...", "message": "..."}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub code: Option<String>,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_webhook_signature_verifies_within_tolerance_and_only_for_its_payload() {
        let header = signature_header("whsec_test", 1_700_000_000, r#"{"id":"evt_1"}"#);
        assert_eq!(verify_header("whsec_test", &header, r#"{"id":"evt_1"}"#, 1_700_000_100), Ok(()));
        assert_eq!(verify_header("whsec_test", &header, r#"{"id":"evt_2"}"#, 1_700_000_100), Err(WebhookError::BadSignature));
        assert_eq!(verify_header("whsec_other", &header, r#"{"id":"evt_1"}"#, 1_700_000_100), Err(WebhookError::BadSignature));
        assert_eq!(verify_header("whsec_test", &header, r#"{"id":"evt_1"}"#, 1_700_000_301), Err(WebhookError::Stale(1_700_000_000)));
        assert_eq!(verify_header("whsec_test", "v1=abc", "{}", 0), Err(WebhookError::Header));
    }

    #[test]
    fn any_of_several_v1_signatures_may_match_while_a_secret_rotates() {
        let good = signature_header("whsec_new", 50, "{}");
        let v1 = good.split_once(",v1=").map(|(_, s)| s).unwrap_or_default();
        let header = format!("t=50,v1=deadbeef,v1={v1},v0=ignored");
        assert_eq!(verify_header("whsec_new", &header, "{}", 60), Ok(()));
    }
}
