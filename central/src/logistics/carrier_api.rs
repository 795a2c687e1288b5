//! The ways out of logistics: carriers' open platforms (SF Express's style, signed forms from
//! `tote_shared::carrier::sf`) and the Kuaidi100-style tracking aggregator. Calls only; what
//! to call and when is the dispatcher's.

use crate::config::{AggregatorSettings, CarrierApiSettings, LogisticsSettings};
use secrecy::{ExposeSecret, SecretString};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tote_shared::carrier::{kuaidi100, sf};
use tote_shared::sync::is_plain_code;

#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// Unreachable, timed out, 5xx, busy: try again later.
    #[error("carrier unreachable: {0}")]
    Unreachable(String),
    /// The platform refused the request itself (signature, parameters).
    #[error("carrier refused the request: {code} {message}")]
    Refused { code: String, message: String },
    /// The business answer was no.
    #[error("carrier said no: {code} {message}")]
    Business { code: String, message: String },
    #[error("carrier answer unreadable: {0}")]
    Unreadable(String),
}

impl CallError {
    /// Worth trying again unchanged.
    pub fn is_transient(&self) -> bool {
        match self {
            CallError::Unreachable(_) => true,
            CallError::Refused { code, .. } => code == sf::API_BUSY,
            _ => false,
        }
    }
}

/// One carrier account.
pub struct CarrierApi {
    pub code: String,
    url: String,
    partner_id: String,
    checkword: SecretString,
    pub monthly_card: String,
    http: reqwest::Client,
}

impl CarrierApi {
    async fn call<M: serde::Serialize, T: serde::de::DeserializeOwned>(&self, service: &str, msg: &M) -> Result<T, CallError> {
        let now = crate::startup::now_ms();
        let request_id = format!("{:032x}", rand::random::<u128>());
        let form = sf::Form::signed(&self.partner_id, self.checkword.expose_secret(), service, &request_id, now, msg);
        let response = self.http.post(&self.url).form(&form).send().await.map_err(|e| CallError::Unreachable(e.to_string()))?;
        let status = response.status();
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(CallError::Unreachable(format!("HTTP {status}")));
        }
        let envelope: sf::Envelope = response.json().await.map_err(|e| CallError::Unreadable(e.to_string()))?;
        if envelope.api_result_code != sf::API_OK {
            return Err(CallError::Refused { code: envelope.api_result_code, message: envelope.api_error_msg });
        }
        let data = envelope.api_result_data.ok_or_else(|| CallError::Unreadable("no apiResultData".into()))?;
        let answer: sf::Answer<T> = serde_json::from_str(&data).map_err(|e| CallError::Unreadable(e.to_string()))?;
        match (answer.success, answer.msg_data) {
            (true, Some(msg)) => Ok(msg),
            (true, None) => Err(CallError::Unreadable("success without msgData".into())),
            (false, _) => Err(CallError::Business { code: answer.error_code, message: answer.error_msg.unwrap_or_default() }),
        }
    }

    /// A segment of `count` waybill numbers; malformed ones are dropped (they could not be
    /// printed or registered).
    pub async fn apply_waybills(&self, count: u32) -> Result<Vec<String>, CallError> {
        let segment: sf::WaybillSegment = self.call(sf::APPLY_WAYBILLS, &sf::ApplyWaybills { count }).await?;
        let total = segment.waybill_nos.len();
        let numbers: Vec<String> = segment.waybill_nos.into_iter().filter(|n| is_plain_code(n, 40)).take(count as usize).collect();
        if numbers.len() < total.min(count as usize) {
            tracing::warn!(carrier = %self.code, dropped = total - numbers.len(), "malformed waybill numbers in a segment dropped");
        }
        Ok(numbers)
    }

    /// Registers a parcel printed under pool number `waybill`; a repeat (a lost answer, a
    /// crash after the call) finds the order placed before. An answer for another order or
    /// waybill is unreadable, never taken.
    pub async fn register(&self, order: &sf::CreateOrder, waybill: &str) -> Result<sf::OrderResult, CallError> {
        let result: sf::OrderResult = match self.call(sf::CREATE_ORDER, order).await {
            Err(CallError::Business { code, .. }) if code == sf::DUPLICATE_ORDER => self.call(sf::SEARCH_ORDER, &sf::SearchOrder { order_id: order.order_id.clone() }).await?,
            other => other?,
        };
        if result.order_id != order.order_id || !result.waybill_no_info_list.iter().any(|w| w.waybill_no == waybill) {
            return Err(CallError::Unreadable(format!("the carrier answered for order {} and waybills {:?}", result.order_id, result.waybill_no_info_list)));
        }
        Ok(result)
    }

    /// Books a return; a repeat finds the one booked before. The answer must name our order
    /// and one well-formed number the platform issued.
    pub async fn book_return(&self, order: &sf::CreateReverseOrder) -> Result<sf::OrderResult, CallError> {
        let result: sf::OrderResult = match self.call(sf::CREATE_REVERSE_ORDER, order).await {
            Err(CallError::Business { code, .. }) if code == sf::DUPLICATE_ORDER => self.call(sf::SEARCH_ORDER, &sf::SearchOrder { order_id: order.order_id.clone() }).await?,
            other => other?,
        };
        let issued = result.waybill_no_info_list.iter().filter(|w| is_plain_code(&w.waybill_no, 40)).count();
        if result.order_id != order.order_id || issued != 1 {
            return Err(CallError::Unreadable(format!("the carrier answered the return {} with order {} and waybills {:?}", order.order_id, result.order_id, result.waybill_no_info_list)));
        }
        Ok(result)
    }

    /// Cancels a return not collected yet.
    pub async fn cancel_return(&self, order_id: &str) -> Result<(), CallError> {
        let result: sf::UpdateResult = self.call(sf::CANCEL_REVERSE_ORDER, &sf::CancelReverseOrder { order_id: order_id.to_owned() }).await?;
        if result.order_id != order_id || result.res_status != 2 {
            return Err(CallError::Unreadable(format!("the carrier answered the cancel of return {order_id} with order {} status {}", result.order_id, result.res_status)));
        }
        Ok(())
    }

    pub async fn cancel(&self, order_id: &str) -> Result<(), CallError> {
        let result: sf::UpdateResult = self.call(sf::UPDATE_ORDER, &sf::UpdateOrder { order_id: order_id.to_owned(), deal_type: 2 }).await?;
        if result.order_id != order_id || result.res_status != 2 {
            return Err(CallError::Unreadable(format!("the carrier answered the cancel of {order_id} with order {} status {}", result.order_id, result.res_status)));
        }
        Ok(())
    }
}

pub struct Aggregator {
    url: String,
    key: SecretString,
    callback_url: String,
    salt: SecretString,
    http: reqwest::Client,
}

impl Aggregator {
    /// Subscribes `waybill` of `carrier`; a repeated subscription counts as done.
    pub async fn subscribe(&self, carrier: &str, waybill: &str) -> Result<(), CallError> {
        let param = kuaidi100::Subscribe {
            company: kuaidi100::company(carrier),
            number: waybill.to_owned(),
            key: self.key.expose_secret().to_owned(),
            parameters: kuaidi100::SubscribeParameters {
                callbackurl: self.callback_url.clone(),
                salt: self.salt.expose_secret().to_owned(),
                resultv2: "1".into(),
            },
        };
        let param = serde_json::to_string(&param).map_err(|e| CallError::Unreadable(e.to_string()))?;
        let form = [("schema", "json".to_owned()), ("param", param)];
        let response = self.http.post(&self.url).form(&form).send().await.map_err(|e| CallError::Unreachable(e.to_string()))?;
        if response.status().is_server_error() {
            return Err(CallError::Unreachable(format!("HTTP {}", response.status())));
        }
        let reply: kuaidi100::Reply = response.json().await.map_err(|e| CallError::Unreadable(e.to_string()))?;
        if reply.result || reply.return_code == kuaidi100::ALREADY_SUBSCRIBED {
            return Ok(());
        }
        Err(CallError::Business { code: reply.return_code, message: reply.message })
    }
}

/// Every configured carrier account and the aggregator.
#[derive(Clone, Default)]
pub struct CarrierApis {
    pub carriers: BTreeMap<String, Arc<CarrierApi>>,
    pub aggregator: Option<Arc<Aggregator>>,
}

impl CarrierApis {
    /// `listener`: central's own address, the push target when no `callback_url` is set.
    pub fn from_settings(settings: &LogisticsSettings, listener: std::net::SocketAddr) -> Result<CarrierApis, String> {
        let timeout = Duration::from_millis(settings.call_timeout_ms);
        let http = reqwest::Client::builder().timeout(timeout).connect_timeout(timeout).pool_max_idle_per_host(8).build().map_err(|e| e.to_string())?;
        let carriers = settings.carriers.iter().map(|(code, c): (&String, &CarrierApiSettings)| {
            let api = CarrierApi {
                code: code.clone(),
                url: c.url.clone(),
                partner_id: c.partner_id.clone(),
                checkword: c.checkword.clone(),
                monthly_card: c.monthly_card.clone(),
                http: http.clone(),
            };
            (code.clone(), Arc::new(api))
        });
        let aggregator = match (&settings.aggregator, &settings.tracking_salt) {
            (Some(a), Some(salt)) => {
                let own = format!("http://{listener}/api/v1/logistics/tracking/kuaidi100");
                Some(Arc::new(aggregator(a, a.callback_url.clone().unwrap_or(own), salt, http.clone())))
            }
            _ => None,
        };
        Ok(CarrierApis { carriers: carriers.collect(), aggregator })
    }
}

fn aggregator(a: &AggregatorSettings, callback_url: String, salt: &SecretString, http: reqwest::Client) -> Aggregator {
    Aggregator { url: a.url.clone(), key: a.key.clone(), callback_url, salt: salt.clone(), http }
}
