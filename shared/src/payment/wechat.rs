//! WeChat Pay API v3: how requests are signed, how answers and callbacks are verified and
//! decrypted, and the JSON bodies both sides exchange.
//!
//! - A merchant request carries `Authorization: WECHATPAY2-SHA256-RSA2048 mchid="…",
//!   nonce_str="…",signature="…",timestamp="…",serial_no="…"`, the signature being SHA256withRSA
//!   over `METHOD\nURL\nTIMESTAMP\nNONCE\nBODY\n` (URL = path and query).
//! - Answers and callbacks carry `Wechatpay-Timestamp/-Nonce/-Signature/-Serial`; the signature
//!   covers `TIMESTAMP\nNONCE\nBODY\n` under the platform key named by the serial. We accept a
//!   timestamp within ±5 minutes.
//! - A callback's `resource` is AEAD_AES_256_GCM under the merchant's APIv3 key.
//!
//! What it is not: an HTTP client or server; central's adapter and the simulator are.

use super::keys::{aes_gcm, PrivateKey, PublicKey};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

pub const SCHEMA: &str = "WECHATPAY2-SHA256-RSA2048";
/// How far a signed timestamp may be from our clock, either way.
pub const CLOCK_SKEW_S: i64 = 300;

pub fn request_message(method: &str, url: &str, timestamp: i64, nonce: &str, body: &str) -> String {
    format!("{method}\n{url}\n{timestamp}\n{nonce}\n{body}\n")
}

pub fn response_message(timestamp: &str, nonce: &str, body: &str) -> String {
    format!("{timestamp}\n{nonce}\n{body}\n")
}

/// Who signs a merchant request: the merchant number, its certificate serial and its key.
pub struct Merchant<'a> {
    pub mchid: &'a str,
    pub serial_no: &'a str,
    pub key: &'a PrivateKey,
}

/// What a merchant request signature covers.
pub struct RequestLine<'a> {
    pub method: &'a str,
    /// Path and query, as sent.
    pub url: &'a str,
    pub timestamp: i64,
    pub nonce: &'a str,
    pub body: &'a str,
}

/// The `Authorization` header value for one merchant request.
pub fn authorization(merchant: &Merchant<'_>, request: &RequestLine<'_>) -> Result<String, super::keys::KeyError> {
    let RequestLine { method, url, timestamp, nonce, body } = *request;
    let signature = merchant.key.sign_base64(request_message(method, url, timestamp, nonce, body).as_bytes())?;
    let (mchid, serial_no) = (merchant.mchid, merchant.serial_no);
    Ok(format!(
        r#"{SCHEMA} mchid="{mchid}",nonce_str="{nonce}",signature="{signature}",timestamp="{timestamp}",serial_no="{serial_no}""#
    ))
}

/// An `Authorization` header taken apart (the simulator checks merchants with it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub mchid: String,
    pub nonce: String,
    pub signature: String,
    pub timestamp: i64,
    pub serial_no: String,
}

pub fn parse_authorization(header: &str) -> Option<Authorization> {
    let rest = header.strip_prefix(SCHEMA)?.trim_start();
    let mut fields = HashMap::new();
    for part in rest.split(',') {
        let (name, value) = part.trim().split_once('=')?;
        let value = value.strip_prefix('"')?.strip_suffix('"')?;
        fields.insert(name, value.to_string());
    }
    Some(Authorization {
        mchid: fields.remove("mchid")?,
        nonce: fields.remove("nonce_str")?,
        signature: fields.remove("signature")?,
        timestamp: fields.remove("timestamp")?.parse().ok()?,
        serial_no: fields.remove("serial_no")?,
    })
}

/// Why a signed answer or callback from the platform was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("header {0} is missing")]
    MissingHeader(&'static str),
    #[error("signature type {0:?} is not {SCHEMA}")]
    SignatureType(String),
    #[error("no platform key has serial {0:?}")]
    UnknownSerial(String),
    #[error("timestamp {0:?} is outside ±{CLOCK_SKEW_S} s of now")]
    Stale(String),
    #[error("the signature does not verify")]
    BadSignature,
    #[error("the body is not a v3 notification: {0}")]
    Body(String),
    #[error("the resource does not decrypt: {0}")]
    Decrypt(aes_gcm::AeadError),
}

/// The four `Wechatpay-*` headers (and the optional signature type), as received.
#[derive(Debug, Clone, Default)]
pub struct SignedHeaders {
    pub timestamp: Option<String>,
    pub nonce: Option<String>,
    pub signature: Option<String>,
    pub serial: Option<String>,
    pub signature_type: Option<String>,
}

/// The platform's public keys by serial: two overlap while the platform rotates its key.
#[derive(Debug, Clone, Default)]
pub struct PlatformKeys {
    keys: HashMap<String, PublicKey>,
}

impl PlatformKeys {
    pub fn new(keys: impl IntoIterator<Item = (String, PublicKey)>) -> Self {
        PlatformKeys { keys: keys.into_iter().collect() }
    }

    /// Checks a platform signature over `body` at `now_s` (Unix seconds).
    pub fn verify(&self, headers: &SignedHeaders, body: &str, now_s: i64) -> Result<(), VerifyError> {
        let timestamp = headers.timestamp.as_deref().ok_or(VerifyError::MissingHeader("Wechatpay-Timestamp"))?;
        let nonce = headers.nonce.as_deref().ok_or(VerifyError::MissingHeader("Wechatpay-Nonce"))?;
        let signature = headers.signature.as_deref().ok_or(VerifyError::MissingHeader("Wechatpay-Signature"))?;
        let serial = headers.serial.as_deref().ok_or(VerifyError::MissingHeader("Wechatpay-Serial"))?;
        if let Some(kind) = headers.signature_type.as_deref().filter(|t| *t != SCHEMA) {
            return Err(VerifyError::SignatureType(kind.to_string()));
        }
        let key = self.keys.get(serial).ok_or_else(|| VerifyError::UnknownSerial(serial.to_string()))?;
        let at: i64 = timestamp.parse().map_err(|_| VerifyError::Stale(timestamp.to_string()))?;
        if (now_s - at).abs() > CLOCK_SKEW_S {
            return Err(VerifyError::Stale(timestamp.to_string()));
        }
        if !key.verify_base64(response_message(timestamp, nonce, body).as_bytes(), signature) {
            return Err(VerifyError::BadSignature);
        }
        Ok(())
    }
}

/// Signs a platform answer or callback (the simulator's side): the four headers.
pub fn platform_headers(key: &PrivateKey, serial: &str, timestamp: i64, nonce: &str, body: &str) -> Result<SignedHeaders, super::keys::KeyError> {
    let signature = key.sign_base64(response_message(&timestamp.to_string(), nonce, body).as_bytes())?;
    Ok(SignedHeaders {
        timestamp: Some(timestamp.to_string()),
        nonce: Some(nonce.to_string()),
        signature: Some(signature),
        serial: Some(serial.to_string()),
        signature_type: Some(SCHEMA.to_string()),
    })
}

// --- bodies -------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Amount {
    pub total: i64,
    #[serde(default = "cny")]
    pub currency: String,
}

fn cny() -> String {
    "CNY".into()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payer {
    pub openid: String,
}

/// `POST /v3/pay/transactions/native` and `/jsapi` (JSAPI adds the payer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateTransaction {
    pub appid: String,
    pub mchid: String,
    pub description: String,
    pub out_trade_no: String,
    /// RFC 3339, e.g. `2026-12-02T10:15:00+08:00`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_expire: Option<String>,
    pub notify_url: String,
    pub amount: Amount,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payer: Option<Payer>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedNative {
    pub code_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedJsapi {
    pub prepay_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloseTransaction {
    pub mchid: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionAmount {
    pub total: i64,
    #[serde(default)]
    pub payer_total: Option<i64>,
    #[serde(default = "cny")]
    pub currency: String,
    #[serde(default)]
    pub payer_currency: Option<String>,
}

/// A transaction as query answers and `TRANSACTION.*` callbacks describe it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    pub appid: String,
    pub mchid: String,
    pub out_trade_no: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trade_type: Option<String>,
    /// SUCCESS, REFUND, NOTPAY, CLOSED, REVOKED, USERPAYING, PAYERROR.
    pub trade_state: String,
    #[serde(default)]
    pub trade_state_desc: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_time: Option<String>,
    pub amount: TransactionAmount,
}

/// `POST /v3/refund/domestic/refunds`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateRefund {
    pub out_trade_no: String,
    pub out_refund_no: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub notify_url: String,
    pub amount: RefundAmount,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundAmount {
    pub refund: i64,
    pub total: i64,
    #[serde(default = "cny")]
    pub currency: String,
}

/// A refund as the refund answer and `REFUND.*` callbacks describe it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub refund_id: String,
    pub out_refund_no: String,
    pub out_trade_no: String,
    #[serde(default)]
    pub transaction_id: String,
    /// SUCCESS, CLOSED, PROCESSING, ABNORMAL. Callbacks name it `refund_status`.
    #[serde(alias = "refund_status")]
    pub status: String,
    pub amount: RefundAmount,
}

/// An error answer: `{"code": "ORDER_NOT_EXIST", "message": "…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
}

/// `GET /v3/bill/tradebill?bill_date=…&bill_type=ALL`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillLink {
    pub hash_type: String,
    pub hash_value: String,
    pub download_url: String,
}

/// The callback envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub id: String,
    pub create_time: String,
    pub resource_type: String,
    /// TRANSACTION.SUCCESS, REFUND.SUCCESS, REFUND.ABNORMAL, REFUND.CLOSED.
    pub event_type: String,
    #[serde(default)]
    pub summary: String,
    pub resource: Resource,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    pub original_type: String,
    pub algorithm: String,
    pub ciphertext: String,
    #[serde(default)]
    pub associated_data: String,
    pub nonce: String,
}

/// What a callback said, once verified and decrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    Transaction { id: String, event_type: String, transaction: Transaction },
    Refund { id: String, event_type: String, refund: Refund },
}

/// Verifies, then decrypts, a callback. Nothing about it is trusted before both succeed.
pub fn open_notification(
    keys: &PlatformKeys,
    apiv3_key: &[u8],
    headers: &SignedHeaders,
    body: &str,
    now_s: i64,
) -> Result<Notice, VerifyError> {
    keys.verify(headers, body, now_s)?;
    let envelope: Notification = serde_json::from_str(body).map_err(|e| VerifyError::Body(e.to_string()))?;
    if envelope.resource.algorithm != "AEAD_AES_256_GCM" {
        return Err(VerifyError::Body(format!("algorithm {}", envelope.resource.algorithm)));
    }
    let r = &envelope.resource;
    let plain = aes_gcm::open(apiv3_key, r.nonce.as_bytes(), r.associated_data.as_bytes(), &r.ciphertext).map_err(VerifyError::Decrypt)?;
    let body_error = |e: serde_json::Error| VerifyError::Body(e.to_string());
    if envelope.event_type.starts_with("REFUND.") {
        let refund = serde_json::from_slice(&plain).map_err(body_error)?;
        Ok(Notice::Refund { id: envelope.id, event_type: envelope.event_type, refund })
    } else {
        let transaction = serde_json::from_slice(&plain).map_err(body_error)?;
        Ok(Notice::Transaction { id: envelope.id, event_type: envelope.event_type, transaction })
    }
}

/// Builds a callback body (the simulator's side): the resource sealed under the APIv3 key.
pub fn seal_notification(
    apiv3_key: &[u8],
    id: &str,
    create_time: &str,
    event_type: &str,
    original_type: &str,
    nonce: &str,
    plaintext: &str,
) -> Result<String, aes_gcm::AeadError> {
    let associated_data = original_type;
    let ciphertext = aes_gcm::seal(apiv3_key, nonce.as_bytes(), associated_data.as_bytes(), plaintext.as_bytes())?;
    let envelope = Notification {
        id: id.to_string(),
        create_time: create_time.to_string(),
        resource_type: "encrypt-resource".into(),
        event_type: event_type.to_string(),
        summary: if event_type.starts_with("REFUND.") { "退款成功".into() } else { "支付成功".into() },
        resource: Resource {
            original_type: original_type.to_string(),
            algorithm: "AEAD_AES_256_GCM".into(),
            ciphertext,
            associated_data: associated_data.to_string(),
            nonce: nonce.to_string(),
        },
    };
    Ok(serde_json::to_string(&envelope).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payment::keys::test_keys;

    const APIV3: &[u8; 32] = b"0123456789abcdef0123456789abcdef";

    fn platform() -> (PrivateKey, PlatformKeys) {
        let key = PrivateKey::from_pem(&test_keys::generate(11).0).expect("loads");
        let keys = PlatformKeys::new([("PUB_KEY_ID_1".to_string(), key.public_key())]);
        (key, keys)
    }

    fn transaction_json() -> String {
        r#"{"appid":"wx1","mchid":"1900000001","out_trade_no":"P42","transaction_id":"4200001","trade_state":"SUCCESS","trade_state_desc":"ok","amount":{"total":69900,"currency":"CNY"}}"#.to_string()
    }

    #[test]
    fn an_authorization_header_parses_back_and_its_signature_covers_the_request_line() {
        let merchant = PrivateKey::from_pem(&test_keys::generate(12).0).expect("loads");
        let signer = Merchant { mchid: "1900000001", serial_no: "SERIAL1", key: &merchant };
        let line = RequestLine { method: "POST", url: "/v3/pay/transactions/native", timestamp: 1_700_000_000, nonce: "n0nce", body: "{}" };
        let header = authorization(&signer, &line).expect("signs");
        let parsed = parse_authorization(&header).expect("parses");
        assert_eq!((parsed.mchid.as_str(), parsed.serial_no.as_str(), parsed.timestamp), ("1900000001", "SERIAL1", 1_700_000_000));
        let message = request_message("POST", "/v3/pay/transactions/native", 1_700_000_000, "n0nce", "{}");
        assert!(merchant.public_key().verify_base64(message.as_bytes(), &parsed.signature));
        let other_body = request_message("POST", "/v3/pay/transactions/native", 1_700_000_000, "n0nce", "{ }");
        assert!(!merchant.public_key().verify_base64(other_body.as_bytes(), &parsed.signature));
        assert_eq!(parse_authorization("Basic abc"), None);
    }

    #[test]
    fn a_sealed_callback_opens_once_verified_and_every_tampering_is_named() {
        let (key, keys) = platform();
        let now = 1_700_000_000;
        let body = seal_notification(APIV3, "EV-1", "2026-12-02T10:00:00+08:00", "TRANSACTION.SUCCESS", "transaction", "abcdefghijkl", &transaction_json()).expect("seals");
        let headers = platform_headers(&key, "PUB_KEY_ID_1", now, "nonce-1", &body).expect("signs");
        match open_notification(&keys, APIV3, &headers, &body, now + 10).expect("opens") {
            Notice::Transaction { transaction, event_type, .. } => {
                assert_eq!(event_type, "TRANSACTION.SUCCESS");
                assert_eq!((transaction.out_trade_no.as_str(), transaction.amount.total), ("P42", 69900));
            }
            other => panic!("expected a transaction, got {other:?}"),
        }
        let stale = open_notification(&keys, APIV3, &headers, &body, now + CLOCK_SKEW_S + 1);
        assert!(matches!(stale, Err(VerifyError::Stale(_))));
        let unknown = SignedHeaders { serial: Some("PUB_KEY_ID_9".into()), ..headers.clone() };
        assert!(matches!(open_notification(&keys, APIV3, &unknown, &body, now), Err(VerifyError::UnknownSerial(_))));
        let tampered = body.replacen("TRANSACTION.SUCCESS", "TRANSACTION.SUCCESs", 1);
        assert_eq!(open_notification(&keys, APIV3, &headers, &tampered, now), Err(VerifyError::BadSignature));
        let wrong_key = open_notification(&keys, b"ffffffffffffffffffffffffffffffff", &headers, &body, now);
        assert_eq!(wrong_key, Err(VerifyError::Decrypt(aes_gcm::AeadError::Open)));
        let missing = SignedHeaders { signature: None, ..headers };
        assert_eq!(open_notification(&keys, APIV3, &missing, &body, now), Err(VerifyError::MissingHeader("Wechatpay-Signature")));
    }

    #[test]
    fn a_ciphertext_sealed_under_other_associated_data_is_refused_even_when_signed() {
        let (key, keys) = platform();
        let body = seal_notification(APIV3, "EV-2", "t", "TRANSACTION.SUCCESS", "transaction", "abcdefghijkl", &transaction_json()).expect("seals");
        let swapped = body.replacen(r#""associated_data":"transaction""#, r#""associated_data":"refund""#, 1);
        let headers = platform_headers(&key, "PUB_KEY_ID_1", 100, "n", &swapped).expect("signs");
        assert_eq!(open_notification(&keys, APIV3, &headers, &swapped, 100), Err(VerifyError::Decrypt(aes_gcm::AeadError::Open)));
    }
}
