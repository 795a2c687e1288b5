//! The way out to a marketplace's open platform (TOP router style): calls only. What to call
//! and when is the puller's.

use crate::config::MarketplaceSettings;
use secrecy::ExposeSecret;
use std::time::Duration;
use tote_shared::marketplace::{self as top, sub_code, ErrorResponse, Sent, TradesPage};

#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// Unreachable, timed out, 5xx, busy: try again later.
    #[error("marketplace unreachable: {0}")]
    Unreachable(String),
    /// The platform answered with an error.
    #[error("marketplace said {}: {} {}", .0.sub_code, .0.msg, .0.sub_msg)]
    Refused(ErrorResponse),
    #[error("marketplace answer unreadable: {0}")]
    Unreadable(String),
    /// More trades in the window than the puller reads in one.
    #[error("{0} trades in one window")]
    TooMany(u64),
}

impl CallError {
    pub fn is_transient(&self) -> bool {
        match self {
            CallError::Unreachable(_) | CallError::Unreadable(_) => true,
            CallError::Refused(e) => e.sub_code == sub_code::BUSY || e.sub_code.starts_with("isp."),
            CallError::TooMany(_) => false,
        }
    }

    /// The platform refused the shop's credentials or clock, not the request: nothing to do
    /// but wait for the operator (an expired session, a wrong secret, a skewed clock).
    pub fn is_account(&self) -> bool {
        matches!(self, CallError::Refused(e) if [sub_code::BAD_SESSION, sub_code::BAD_SIGNATURE, sub_code::BAD_TIMESTAMP].contains(&e.sub_code.as_str()))
    }
}

/// One shop's account on one platform.
pub struct MarketplaceApi {
    name: String,
    pub settings: MarketplaceSettings,
    http: reqwest::Client,
}

impl MarketplaceApi {
    pub fn new(name: &str, settings: &MarketplaceSettings) -> Result<MarketplaceApi, String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(settings.call_timeout_ms))
            .no_proxy()
            .build()
            .map_err(|e| e.to_string())?;
        Ok(MarketplaceApi { name: name.to_owned(), settings: settings.clone(), http })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    async fn call<T: serde::de::DeserializeOwned>(&self, method: &str, business: &[(&str, String)]) -> Result<T, CallError> {
        let s = &self.settings;
        let form = top::signed_form(method, &s.app_key, s.session.expose_secret(), s.app_secret.expose_secret(), crate::startup::now_ms(), business);
        let response = self.http.post(&s.url).form(&form).send().await.map_err(|e| CallError::Unreachable(e.to_string()))?;
        let status = response.status();
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(CallError::Unreachable(format!("HTTP {status}")));
        }
        let mut body: serde_json::Value = response.json().await.map_err(|e| CallError::Unreadable(e.to_string()))?;
        if let Some(error) = body.get_mut("error_response") {
            let error: ErrorResponse = serde_json::from_value(error.take()).map_err(|e| CallError::Unreadable(e.to_string()))?;
            return Err(CallError::Refused(error));
        }
        let answer = body.get_mut(top::response_key(method)).map(serde_json::Value::take).ok_or_else(|| CallError::Unreadable(format!("no {method} response")))?;
        serde_json::from_value(answer).map_err(|e| CallError::Unreadable(e.to_string()))
    }

    /// Trades changed in [start, end] (platform seconds), one page.
    pub async fn trades(&self, start_ms: i64, end_ms: i64, page_no: u32) -> Result<TradesPage, CallError> {
        let business = [
            ("start_modified", top::time(start_ms)),
            ("end_modified", top::time(end_ms)),
            ("page_no", page_no.to_string()),
            // Without `use_has_next` the platform counts the window (`total_results`): the
            // pages are read last to first.
            ("page_size", top::MAX_PAGE_SIZE.to_string()),
        ];
        self.call(top::TRADES_METHOD, &business).await
    }

    /// Confirms a trade's shipment.
    pub async fn confirm(&self, external_id: &str, carrier: &str, tracking_number: &str) -> Result<Sent, CallError> {
        let business = [("tid", external_id.to_owned()), ("out_sid", tracking_number.to_owned()), ("company_code", carrier.to_owned())];
        self.call(top::SEND_METHOD, &business).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(sub: &str) -> CallError {
        CallError::Refused(ErrorResponse { code: 15, msg: String::new(), sub_code: sub.into(), sub_msg: String::new() })
    }

    #[test]
    fn an_expired_session_waits_and_a_trade_level_refusal_goes_to_hq() {
        assert!(refused(sub_code::BAD_SESSION).is_account() && !refused(sub_code::BAD_SESSION).is_transient());
        assert!(refused(sub_code::BAD_TIMESTAMP).is_account());
        assert!(refused(sub_code::BUSY).is_transient());
        for trade_level in [sub_code::NOT_CONSIGNABLE, sub_code::NO_TRADE, sub_code::BAD_PARAMETER] {
            assert!(!refused(trade_level).is_account() && !refused(trade_level).is_transient(), "{trade_level}");
        }
        assert!(CallError::Unreachable("timeout".into()).is_transient());
    }
}
