//! A marketplace's open platform in the style of Taobao/Tmall's TOP router: every call is a
//! form `POST` to one URL (`/router/rest`) naming its `method`, signed HMAC-SHA256 over the
//! sorted parameters with the app secret, answered with `{"<method>_response": …}` or
//! `{"error_response": …}`. Two methods matter to a seller's back office:
//!
//! - `taobao.trades.sold.increment.get`: trades paid or changed in a time window (at most a
//!   day), paged, each with the buyer, the address, the lines (our SKU as `outer_sku_id`), the
//!   amounts paid and the promised dispatch time;
//! - `taobao.logistics.offline.send`: the seller's shipment confirmation — carrier and
//!   tracking number for a trade. Once a trade is consigned, a second confirmation is an
//!   error naming the first.
//!
//! Central's channel importer speaks it; the simulator plays the marketplace. Times are
//! Beijing time, `YYYY-MM-DD HH:MM:SS`; money is yuan with two decimals.

use crate::calendar::{local_time, parse_local_time};
use crate::payment::keys::hmac_sha256;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const TRADES_METHOD: &str = "taobao.trades.sold.increment.get";
pub const SEND_METHOD: &str = "taobao.logistics.offline.send";
/// Beijing time, east of UTC.
pub const OFFSET_MS: i64 = 8 * 3_600_000;
/// The longest window one increment call may ask for.
pub const MAX_WINDOW_MS: i64 = 86_400_000;
pub const MAX_PAGE_SIZE: u32 = 100;
/// How far a request's timestamp may be from the platform's clock.
pub const MAX_SKEW_MS: i64 = 600_000;

/// A trade paid and waiting for the seller to ship.
pub const WAIT_SELLER_SEND_GOODS: &str = "WAIT_SELLER_SEND_GOODS";
/// Shipped (the seller confirmed).
pub const WAIT_BUYER_CONFIRM_GOODS: &str = "WAIT_BUYER_CONFIRM_GOODS";
/// Closed before shipment (refunded, cancelled).
pub const TRADE_CLOSED: &str = "TRADE_CLOSED";

/// Error sub-codes the platform answers with.
pub mod sub_code {
    pub const BAD_SIGNATURE: &str = "isv.invalid-signature";
    pub const BAD_SESSION: &str = "isv.invalid-session";
    pub const BAD_TIMESTAMP: &str = "isv.invalid-timestamp";
    pub const BAD_PARAMETER: &str = "isv.invalid-parameter";
    pub const NO_TRADE: &str = "isv.trade-not-exist";
    /// The trade was consigned before: `sub_msg` names the carrier and tracking number.
    pub const ALREADY_CONSIGNED: &str = "isv.logistics-offline-service-error:ALREADY_CONSIGNED";
    pub const NOT_CONSIGNABLE: &str = "isv.logistics-offline-service-error:NOT_CONSIGNABLE";
    /// Busy or unavailable: try again.
    pub const BUSY: &str = "isp.top-remote-service-unavailable";
}

/// The signature: uppercase hex HMAC-SHA256 over every parameter but `sign` with a value,
/// sorted by name, written name then value.
pub fn sign(params: &BTreeMap<String, String>, secret: &str) -> String {
    let mut message = String::new();
    for (name, value) in params {
        if name != "sign" && !value.is_empty() {
            message.push_str(name);
            message.push_str(value);
        }
    }
    hmac_sha256::hex(secret.as_bytes(), message.as_bytes()).to_uppercase()
}

/// Whether the request's `sign` is the one `secret` makes (constant time).
pub fn verify(params: &BTreeMap<String, String>, secret: &str) -> bool {
    params.get("sign").is_some_and(|given| crate::secret::same_secret(&sign(params, secret), given))
}

/// A call's form: the system parameters, `business` and the signature.
pub fn signed_form(method: &str, app_key: &str, session: &str, secret: &str, now_ms: i64, business: &[(&str, String)]) -> BTreeMap<String, String> {
    let mut params: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in [
        ("method", method.to_owned()),
        ("app_key", app_key.to_owned()),
        ("session", session.to_owned()),
        ("timestamp", time(now_ms)),
        ("format", "json".to_owned()),
        ("v", "2.0".to_owned()),
        ("sign_method", "hmac-sha256".to_owned()),
    ] {
        params.insert(name.to_owned(), value);
    }
    for (name, value) in business {
        params.insert((*name).to_owned(), value.clone());
    }
    let signature = sign(&params, secret);
    params.insert("sign".to_owned(), signature);
    params
}

/// Beijing time as the platform writes it.
pub fn time(at_ms: i64) -> String {
    local_time(at_ms, OFFSET_MS)
}

/// Reads a platform time; None when it is not one.
pub fn parse_time(text: &str) -> Option<i64> {
    parse_local_time(text, OFFSET_MS).ok()
}

/// `"258.00"` → 25800; None when it is not a non-negative amount with at most two decimals.
pub fn parse_amount(text: &str) -> Option<i64> {
    crate::payment::alipay::parse_yuan(text).filter(|v| *v >= 0)
}

pub fn amount(minor: i64) -> String {
    crate::payment::alipay::yuan(minor)
}

/// `{"error_response": …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    pub code: i64,
    pub msg: String,
    #[serde(default)]
    pub sub_code: String,
    #[serde(default)]
    pub sub_msg: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeLine {
    pub oid: u64,
    /// The seller's SKU code.
    pub outer_sku_id: String,
    pub title: String,
    pub num: i64,
    /// List price per unit.
    pub price: String,
    /// What the buyer paid for the line, after discounts.
    pub payment: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeLines {
    pub order: Vec<TradeLine>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trade {
    pub tid: u64,
    pub status: String,
    /// The buyer's id at this seller.
    pub buyer_open_uid: String,
    pub receiver_name: String,
    pub receiver_mobile: String,
    pub receiver_state: String,
    pub receiver_city: String,
    #[serde(default)]
    pub receiver_district: String,
    pub receiver_address: String,
    #[serde(default)]
    pub receiver_zip: String,
    /// What the buyer paid for the whole trade.
    pub payment: String,
    pub created: String,
    pub pay_time: String,
    pub modified: String,
    /// The dispatch time promised to the buyer.
    pub est_con_time: String,
    pub orders: TradeLines,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trades {
    pub trade: Vec<Trade>,
}

/// `trades_sold_increment_get_response`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradesPage {
    pub total_results: u64,
    pub has_next: bool,
    pub trades: Trades,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shipping {
    pub is_success: bool,
}

/// `logistics_offline_send_response`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sent {
    pub shipping: Shipping,
}

/// The response key of a method: `taobao.trades.sold.increment.get` →
/// `trades_sold_increment_get_response`.
pub fn response_key(method: &str) -> String {
    format!("{}_response", method.trim_start_matches("taobao.").replace('.', "_"))
}

/// What an `ALREADY_CONSIGNED` error's `sub_msg` says: `consigned with <company> <out_sid>`.
pub fn consigned_msg(company: &str, out_sid: &str) -> String {
    format!("consigned with {company} {out_sid}")
}

/// The (company, out_sid) of an `ALREADY_CONSIGNED` error's `sub_msg`.
pub fn parse_consigned(sub_msg: &str) -> Option<(&str, &str)> {
    let rest = sub_msg.strip_prefix("consigned with ")?;
    rest.split_once(' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_form_verifies_and_any_change_breaks_it() {
        let form = signed_form(SEND_METHOD, "12345678", "sess", "s3cret", 1_764_000_000_000, &[("tid", "42".into()), ("out_sid", "SF1".into())]);
        assert!(verify(&form, "s3cret"));
        assert!(!verify(&form, "other"));
        let mut changed = form.clone();
        changed.insert("tid".into(), "43".into());
        assert!(!verify(&changed, "s3cret"));
        assert_eq!(form["sign"].len(), 64);
        assert!(form["sign"].chars().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()));
    }

    #[test]
    fn the_signature_covers_sorted_names_and_values_and_skips_empty_ones() {
        let mut params = BTreeMap::new();
        params.insert("b".to_owned(), "2".to_owned());
        params.insert("a".to_owned(), "1".to_owned());
        params.insert("empty".to_owned(), String::new());
        assert_eq!(sign(&params, "k"), hmac_sha256::hex(b"k", b"a1b2").to_uppercase());
    }

    #[test]
    fn times_are_beijing_time_and_amounts_yuan() {
        assert_eq!(time(0), "1970-01-01 08:00:00");
        assert_eq!(parse_time("1970-01-01 08:00:01"), Some(1_000));
        assert_eq!(parse_amount("258.00"), Some(25_800));
        assert_eq!(parse_amount("-1.00"), None);
        assert_eq!(amount(25_800), "258.00");
        assert_eq!(response_key(TRADES_METHOD), "trades_sold_increment_get_response");
        assert_eq!(parse_consigned(&consigned_msg("SF", "SF100")), Some(("SF", "SF100")));
    }
}
