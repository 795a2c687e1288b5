//! Alipay Open Platform: RSA2 (SHA256withRSA) over sorted parameters, the gateway's JSON
//! answers, and asynchronous notifications.
//!
//! - A request is a form of public parameters (`app_id`, `method`, `charset`, `sign_type`,
//!   `timestamp`, `version`, `notify_url`, `biz_content` …) signed over every non-empty
//!   parameter except `sign`, sorted by name and joined as `k=v&k=v` with raw values.
//! - An answer is `{"<method>_response": {...}, "sign": "..."}`; the signature covers the raw
//!   text of the `_response` value exactly as sent, so it is cut out of the body, not
//!   re-serialised.
//! - A notification is a form; its signature excludes both `sign` and `sign_type`, and the
//!   merchant acknowledges it with the body `success` (anything else makes Alipay retry).
//!
//! What it is not: an HTTP client or server.

use super::keys::{KeyError, PrivateKey, PublicKey};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The body Alipay expects back from a notification it should stop retrying.
pub const NOTIFY_ACK: &str = "success";

/// The string RSA2 signs: non-empty parameters but `excluded`, sorted, `k=v` joined by `&`.
pub fn sign_content<'a>(params: impl IntoIterator<Item = (&'a str, &'a str)>, excluded: &[&str]) -> String {
    let sorted: BTreeMap<&str, &str> = params.into_iter().filter(|(k, v)| !v.is_empty() && !excluded.contains(k)).collect();
    let mut out = String::new();
    for (i, (k, v)) in sorted.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// Signs a request's parameters (everything but `sign`), returning the `sign` value.
pub fn sign_request(key: &PrivateKey, params: &BTreeMap<String, String>) -> Result<String, KeyError> {
    key.sign_base64(sign_content(params.iter().map(|(k, v)| (k.as_str(), v.as_str())), &["sign"]).as_bytes())
}

/// Whether a request form was signed by `key` (the simulator checks merchants with it).
pub fn verify_request(key: &PublicKey, params: &BTreeMap<String, String>) -> bool {
    let Some(sign) = params.get("sign") else {
        return false;
    };
    key.verify_base64(sign_content(params.iter().map(|(k, v)| (k.as_str(), v.as_str())), &["sign"]).as_bytes(), sign)
}

/// Signs a notification form (the simulator's side): `sign` and `sign_type` are excluded.
pub fn sign_notification(key: &PrivateKey, params: &BTreeMap<String, String>) -> Result<String, KeyError> {
    key.sign_base64(notification_content(params).as_bytes())
}

pub fn verify_notification(key: &PublicKey, params: &BTreeMap<String, String>) -> bool {
    let Some(sign) = params.get("sign") else {
        return false;
    };
    params.get("sign_type").is_none_or(|t| t == "RSA2") && key.verify_base64(notification_content(params).as_bytes(), sign)
}

fn notification_content(params: &BTreeMap<String, String>) -> String {
    sign_content(params.iter().map(|(k, v)| (k.as_str(), v.as_str())), &["sign", "sign_type"])
}

/// Builds an answer body (the simulator's side) with the signature over `inner` as written.
pub fn signed_response(key: &PrivateKey, method: &str, inner: &str) -> Result<String, KeyError> {
    let sign = key.sign_base64(inner.as_bytes())?;
    Ok(format!(r#"{{"{}":{inner},"sign":"{sign}"}}"#, response_field(method)))
}

/// The answer's `_response` object, as raw text, if its signature verifies.
pub fn open_response<'a>(key: &PublicKey, method: &str, body: &'a str) -> Result<&'a str, ResponseError> {
    let field = response_field(method);
    let value: serde_json::Value = serde_json::from_str(body).map_err(|_| ResponseError::NotJson)?;
    let sign = value.get("sign").and_then(|s| s.as_str()).ok_or(ResponseError::Unsigned)?;
    let inner = raw_field(body, &field).ok_or(ResponseError::Missing(field.clone()))?;
    if key.verify_base64(inner.as_bytes(), sign) {
        Ok(inner)
    } else {
        Err(ResponseError::BadSignature)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    #[error("the answer is not JSON")]
    NotJson,
    #[error("the answer carries no sign")]
    Unsigned,
    #[error("the answer has no {0}")]
    Missing(String),
    #[error("the answer's signature does not verify")]
    BadSignature,
}

fn response_field(method: &str) -> String {
    format!("{}_response", method.replace('.', "_"))
}

/// The raw text of the object value of top-level key `field` in `body`: balanced braces,
/// honouring strings and escapes.
fn raw_field<'a>(body: &'a str, field: &str) -> Option<&'a str> {
    let key = format!("\"{field}\"");
    let after_key = body.find(&key)? + key.len();
    let colon = after_key + body[after_key..].find(':')?;
    let start = colon + 1 + body[colon + 1..].find('{')?;
    let bytes = body.as_bytes();
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, &b) in bytes.iter().enumerate().skip(start) {
        match (in_string, escaped, b) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (true, false, b'"') => in_string = false,
            (true, false, _) => {}
            (false, _, b'"') => in_string = true,
            (false, _, b'{') => depth += 1,
            (false, _, b'}') => {
                depth -= 1;
                if depth == 0 {
                    return body.get(start..=i);
                }
            }
            _ => {}
        }
    }
    None
}

/// Yuan with two decimals, as Alipay writes amounts ("88.80").
pub fn yuan(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// Parses "88", "88.8" or "88.80" into fen, exactly; anything else (signs, exponents, three
/// decimals, overflow) is None.
pub fn parse_yuan(text: &str) -> Option<i64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| !s.is_empty() && s.len() <= 12 && s.bytes().all(|b| b.is_ascii_digit());
    let has_point = text.contains('.');
    if !digits(whole) || fraction.len() > 2 || (has_point && !digits(fraction)) {
        return None;
    }
    let cents = match fraction.len() {
        0 => 0,
        1 => fraction.parse::<i64>().ok()? * 10,
        _ => fraction.parse::<i64>().ok()?,
    };
    whole.parse::<i64>().ok()?.checked_mul(100)?.checked_add(cents)
}

// --- business bodies (biz_content and answers) ---------------------------------------------

/// `alipay.trade.precreate` (QR code) biz_content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Precreate {
    pub out_trade_no: String,
    pub total_amount: String,
    pub subject: String,
    /// `"30m"` etc.; we send an absolute `time_expire` instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_expire: Option<String>,
}

/// Every answer shares these; business fields follow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    /// "10000" is success; "40004" a business failure with `sub_code`.
    pub code: String,
    pub msg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_msg: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_trade_no: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trade_no: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qr_code: Option<String>,
    /// WAIT_BUYER_PAY, TRADE_SUCCESS, TRADE_FINISHED, TRADE_CLOSED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trade_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_amount: Option<String>,
    /// On a refund answer: "Y" when money moved for this request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fund_change: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_fee: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bill_download_url: Option<String>,
    /// On a refund query: `REFUND_SUCCESS` once the money went back; absent when Alipay
    /// knows no such refund.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_request_no: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_amount: Option<String>,
}

impl Answer {
    pub fn ok(&self) -> bool {
        self.code == "10000"
    }
}

/// `alipay.trade.refund` biz_content; `out_request_no` makes the refund idempotent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundRequest {
    pub out_trade_no: String,
    pub refund_amount: String,
    pub out_request_no: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_reason: Option<String>,
}

/// `alipay.trade.fastpay.refund.query` biz_content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundQuery {
    pub out_trade_no: String,
    pub out_request_no: String,
}

/// `alipay.trade.query` / `alipay.trade.close` biz_content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeRef {
    pub out_trade_no: String,
}

/// `alipay.data.dataservice.bill.downloadurl.query` biz_content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillQuery {
    pub bill_type: String,
    pub bill_date: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payment::keys::test_keys;

    fn form(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_sign_content_sorts_skips_empty_values_and_the_excluded_names() {
        let params = form(&[("b", "2"), ("a", "1"), ("empty", ""), ("sign", "x"), ("sign_type", "RSA2")]);
        let pairs = params.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        assert_eq!(sign_content(pairs.clone(), &["sign"]), "a=1&b=2&sign_type=RSA2");
        assert_eq!(sign_content(pairs, &["sign", "sign_type"]), "a=1&b=2");
    }

    #[test]
    fn a_notification_verifies_without_sign_type_and_fails_when_any_value_changes() {
        let key = PrivateKey::from_pem(&test_keys::generate(21).1).expect("pkcs1 loads");
        let mut params = form(&[("out_trade_no", "P1"), ("trade_status", "TRADE_SUCCESS"), ("total_amount", "699.00"), ("sign_type", "RSA2")]);
        let sign = sign_notification(&key, &params).expect("signs");
        params.insert("sign".into(), sign);
        assert!(verify_notification(&key.public_key(), &params));
        params.insert("total_amount".into(), "6.99".into());
        assert!(!verify_notification(&key.public_key(), &params));
    }

    #[test]
    fn an_answer_verifies_over_its_raw_response_text() {
        let key = PrivateKey::from_pem(&test_keys::generate(22).0).expect("loads");
        let inner = r#"{"code":"10000","msg":"Success","out_trade_no":"P1","qr_code":"https://qr.alipay.com/x?a={b}"}"#;
        let body = signed_response(&key, "alipay.trade.precreate", inner).expect("signs");
        assert_eq!(open_response(&key.public_key(), "alipay.trade.precreate", &body), Ok(inner));
        let forged = body.replacen("P1", "P2", 1);
        assert_eq!(open_response(&key.public_key(), "alipay.trade.precreate", &forged), Err(ResponseError::BadSignature));
        assert_eq!(open_response(&key.public_key(), "alipay.trade.query", &body), Err(ResponseError::Missing("alipay_trade_query_response".into())));
    }

    #[test]
    fn yuan_amounts_parse_exactly_or_not_at_all() {
        assert_eq!(parse_yuan("699.00"), Some(69900));
        assert_eq!(parse_yuan("0.5"), Some(50));
        assert_eq!(parse_yuan("12"), Some(1200));
        for bad in ["", "-1.00", "1e5", "12.5.0", "1.234", ".5", "1.", "99999999999999"] {
            assert_eq!(parse_yuan(bad), None, "{bad}");
        }
        assert_eq!(yuan(69900), "699.00");
        assert_eq!(yuan(5), "0.05");
    }
}
