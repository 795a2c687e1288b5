//! The card gateway adapter (Stripe style): PaymentIntents created with an
//! `Idempotency-Key` (our out_trade_no / out_refund_no, so a retried call never charges
//! twice) and webhooks signed with HMAC-SHA256 (`Stripe-Signature`, 300 s tolerance).

use super::channel::{
    read_limited, transport, RefundAmount, BoxFuture, ChannelError, CreateRequest, Created, Notice, NotifyError, PaymentChannel, RefundRequest, RefundStatus,
    MAX_ANSWER_BYTES, MAX_BILL_BYTES,
};
use super::ChannelReport;
use crate::config::CardSettings;
use axum::http::{HeaderMap, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use tote_shared::payment::card::{self as api, PaymentIntent, WebhookError};
use tote_shared::payment::ChannelKind;

pub struct Card {
    base_url: String,
    secret_key: SecretString,
    webhook_secret: SecretString,
    client: reqwest::Client,
}

impl Card {
    pub fn new(settings: &CardSettings, client: reqwest::Client) -> Card {
        Card {
            base_url: settings.base_url.trim_end_matches('/').to_string(),
            secret_key: settings.secret_key.clone(),
            webhook_secret: settings.webhook_secret.clone(),
            client,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, form: Option<&[(&str, String)]>, key: Option<&str>) -> Result<Vec<u8>, ChannelError> {
        let mut request = self.client.request(method, format!("{}{path}", self.base_url)).bearer_auth(self.secret_key.expose_secret());
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        if let Some(form) = form {
            request = request.form(form);
        }
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let bytes = read_limited(response, MAX_ANSWER_BYTES).await?;
        if status.is_server_error() {
            return Err(ChannelError::BadAnswer(format!("HTTP {status}")));
        }
        if status == StatusCode::NOT_FOUND {
            return Err(ChannelError::NotFound);
        }
        if !status.is_success() {
            return Err(match serde_json::from_slice::<api::ErrorBody>(&bytes) {
                Ok(e) if e.error.code.as_deref() == Some("payment_intent_unexpected_state") => ChannelError::AlreadyPaid,
                Ok(e) => ChannelError::Refused { code: e.error.code.unwrap_or(e.error.kind), message: e.error.message },
                Err(_) => ChannelError::BadAnswer(format!("HTTP {status}")),
            });
        }
        Ok(bytes)
    }

    /// The intent for `out_trade_no`: by id when we have it, else by search (the create call
    /// may have timed out before we learnt the id).
    async fn find(&self, out_trade_no: &str, channel_ref: Option<&str>) -> Result<PaymentIntent, ChannelError> {
        if let Some(id) = channel_ref {
            return parse(&self.call(reqwest::Method::GET, &format!("/v1/payment_intents/{id}"), None, None).await?);
        }
        let query = format!("metadata['out_trade_no']:'{out_trade_no}'");
        let path = format!("/v1/payment_intents/search?query={}", urlencode(&query));
        let found: SearchResult = parse(&self.call(reqwest::Method::GET, &path, None, None).await?)?;
        found.data.into_iter().next().ok_or(ChannelError::NotFound)
    }
}

#[derive(serde::Deserialize)]
struct RefundList {
    data: Vec<api::Refund>,
}

#[derive(serde::Deserialize)]
struct SearchResult {
    data: Vec<PaymentIntent>,
}

fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ChannelError> {
    serde_json::from_slice(bytes).map_err(|e| ChannelError::BadAnswer(e.to_string()))
}

fn urlencode(text: &str) -> String {
    serde_urlencoded::to_string([("q", text)]).unwrap_or_default().trim_start_matches("q=").to_string()
}

fn report(intent: &PaymentIntent) -> ChannelReport {
    match intent.status.as_str() {
        "succeeded" => ChannelReport::Paid { channel_ref: intent.id.clone(), amount_minor: intent.amount_received, currency: intent.currency.to_uppercase() },
        "canceled" => ChannelReport::Closed,
        "requires_payment_method" if intent.last_payment_error.is_some() => ChannelReport::Failed { reason: "declined".into() },
        _ => ChannelReport::NotPaid,
    }
}

fn refund_status(raw: &str) -> RefundStatus {
    match raw {
        "succeeded" => RefundStatus::Succeeded,
        "failed" | "canceled" => RefundStatus::Failed,
        _ => RefundStatus::Processing,
    }
}

impl PaymentChannel for Card {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Card
    }

    fn create<'a>(&'a self, request: &'a CreateRequest) -> BoxFuture<'a, Result<Created, ChannelError>> {
        Box::pin(async move {
            let form = [
                ("amount", request.amount_minor.to_string()),
                ("currency", request.currency.to_lowercase()),
                ("description", request.description.clone()),
                ("metadata[out_trade_no]", request.out_trade_no.clone()),
            ];
            let bytes = self.call(reqwest::Method::POST, "/v1/payment_intents", Some(&form), Some(&request.out_trade_no)).await?;
            let intent: PaymentIntent = parse(&bytes)?;
            Ok(Created { pay_url: Some(format!("{}/pay/{}", self.base_url, intent.id)), channel_ref: Some(intent.id) })
        })
    }

    fn query<'a>(&'a self, out_trade_no: &'a str, channel_ref: Option<&'a str>) -> BoxFuture<'a, Result<ChannelReport, ChannelError>> {
        Box::pin(async move { Ok(report(&self.find(out_trade_no, channel_ref).await?)) })
    }

    fn close<'a>(&'a self, out_trade_no: &'a str, channel_ref: Option<&'a str>) -> BoxFuture<'a, Result<(), ChannelError>> {
        Box::pin(async move {
            let intent = self.find(out_trade_no, channel_ref).await?;
            let key = format!("cancel-{out_trade_no}");
            self.call(reqwest::Method::POST, &format!("/v1/payment_intents/{}/cancel", intent.id), Some(&[]), Some(&key)).await?;
            Ok(())
        })
    }

    fn refund<'a>(&'a self, request: &'a RefundRequest) -> BoxFuture<'a, Result<RefundStatus, ChannelError>> {
        Box::pin(async move {
            let intent = match &request.channel_ref {
                Some(id) => id.clone(),
                None => self.find(&request.out_trade_no, None).await?.id,
            };
            let form = [
                ("payment_intent", intent),
                ("amount", request.amount_minor.to_string()),
                ("metadata[out_refund_no]", request.out_refund_no.clone()),
            ];
            let bytes = self.call(reqwest::Method::POST, "/v1/refunds", Some(&form), Some(&request.out_refund_no)).await?;
            Ok(refund_status(&parse::<api::Refund>(&bytes)?.status))
        })
    }

    fn query_refund<'a>(&'a self, request: &'a RefundRequest) -> BoxFuture<'a, Result<RefundStatus, ChannelError>> {
        Box::pin(async move {
            let intent = match &request.channel_ref {
                Some(id) => id.clone(),
                None => self.find(&request.out_trade_no, None).await?.id,
            };
            let path = format!("/v1/refunds?payment_intent={intent}&limit=100");
            let list: RefundList = parse(&self.call(reqwest::Method::GET, &path, None, None).await?)?;
            let ours = list.data.iter().find(|r| r.metadata.get("out_refund_no") == Some(&request.out_refund_no)).ok_or(ChannelError::NotFound)?;
            Ok(refund_status(&ours.status))
        })
    }

    fn open_notification(&self, headers: &HeaderMap, body: &[u8], now_s: i64) -> Result<Notice, NotifyError> {
        let text = std::str::from_utf8(body).map_err(|_| NotifyError::Malformed("body is not UTF-8".into()))?;
        let header = headers.get("Stripe-Signature").and_then(|v| v.to_str().ok()).unwrap_or_default();
        api::verify_header(self.webhook_secret.expose_secret(), header, text, now_s).map_err(|e| match e {
            WebhookError::Stale(_) => NotifyError::Stale(e.to_string()),
            _ => NotifyError::Signature(e.to_string()),
        })?;
        let event: api::Event = serde_json::from_str(text).map_err(|e| NotifyError::Malformed(e.to_string()))?;
        let malformed = |e: serde_json::Error| NotifyError::Malformed(e.to_string());
        match event.kind.as_str() {
            "payment_intent.succeeded" | "payment_intent.payment_failed" | "payment_intent.canceled" => {
                let intent: PaymentIntent = serde_json::from_value(event.data.object).map_err(malformed)?;
                // An intent made elsewhere (the dashboard, another system): not ours to apply.
                let Some(out_trade_no) = intent.metadata.get("out_trade_no").cloned() else {
                    return Ok(Notice::Ignored { notification_id: event.id, kind: event.kind });
                };
                let report = match event.kind.as_str() {
                    "payment_intent.payment_failed" => ChannelReport::Failed { reason: "declined".into() },
                    _ => report(&intent),
                };
                Ok(Notice::Payment { notification_id: event.id, out_trade_no, report })
            }
            "refund.updated" | "refund.created" => {
                let refund: api::Refund = serde_json::from_value(event.data.object).map_err(malformed)?;
                let Some(out_refund_no) = refund.metadata.get("out_refund_no").cloned() else {
                    return Ok(Notice::Ignored { notification_id: event.id, kind: event.kind });
                };
                Ok(Notice::Refund { notification_id: event.id, out_refund_no, amount: RefundAmount::This(refund.amount), status: refund_status(&refund.status) })
            }
            other => Ok(Notice::Ignored { notification_id: event.id, kind: other.to_string() }),
        }
    }

    fn acknowledge(&self, taken: bool) -> (StatusCode, &'static str, String) {
        if taken {
            (StatusCode::OK, "application/json", r#"{"received":true}"#.into())
        } else {
            (StatusCode::BAD_REQUEST, "application/json", r#"{"received":false}"#.into())
        }
    }

    fn download_bill<'a>(&'a self, day: &'a str) -> BoxFuture<'a, Result<Vec<u8>, ChannelError>> {
        Box::pin(async move {
            let response = self
                .client
                .get(format!("{}/v1/reporting/balance_transactions.csv?day={day}", self.base_url))
                .bearer_auth(self.secret_key.expose_secret())
                .send()
                .await
                .map_err(transport)?;
            if !response.status().is_success() {
                return Err(ChannelError::BadAnswer(format!("bill download HTTP {}", response.status())));
            }
            read_limited(response, MAX_BILL_BYTES).await
        })
    }
}
