//! The Alipay Open Platform adapter: RSA2-signed gateway calls, verified answers and
//! asynchronous notifications (acknowledged with the body `success`).

use super::channel::{
    alipay_time, read_limited, RefundAmount, transport, BoxFuture, ChannelError, CreateRequest, Created, Notice, NotifyError, PaymentChannel, RefundRequest,
    RefundStatus, MAX_ANSWER_BYTES, MAX_BILL_BYTES,
};
use super::ChannelReport;
use crate::config::AlipaySettings;
use axum::http::{HeaderMap, StatusCode};
use secrecy::ExposeSecret;
use std::collections::BTreeMap;
use tote_shared::payment::alipay::{self as api, Answer};
use tote_shared::payment::keys::{PrivateKey, PublicKey};
use tote_shared::payment::ChannelKind;

pub struct Alipay {
    gateway_url: String,
    app_id: String,
    key: PrivateKey,
    alipay_key: PublicKey,
    notify_url: String,
    client: reqwest::Client,
}

impl Alipay {
    pub fn new(settings: &AlipaySettings, notify_url: String, client: reqwest::Client) -> Result<Alipay, String> {
        let key = PrivateKey::from_pem(settings.app_private_key.expose_secret()).map_err(|e| format!("payment.alipay.app_private_key: {e}"))?;
        let alipay_key = PublicKey::from_pem(&settings.alipay_public_key)
            .or_else(|_| PublicKey::from_spki_base64(&settings.alipay_public_key))
            .map_err(|e| format!("payment.alipay.alipay_public_key: {e}"))?;
        Ok(Alipay {
            gateway_url: settings.gateway_url.clone(),
            app_id: settings.app_id.clone(),
            key,
            alipay_key,
            notify_url,
            client,
        })
    }

    /// One gateway call: a signed form in, a verified `_response` object out.
    async fn call(&self, method: &str, biz_content: &impl serde::Serialize) -> Result<Answer, ChannelError> {
        let mut form = BTreeMap::new();
        for (k, v) in [("app_id", self.app_id.as_str()), ("method", method), ("format", "JSON"), ("charset", "utf-8"), ("sign_type", "RSA2"), ("version", "1.0")] {
            form.insert(k.to_string(), v.to_string());
        }
        form.insert("timestamp".into(), alipay_time(crate::startup::now_ms()));
        form.insert("notify_url".into(), self.notify_url.clone());
        form.insert("biz_content".into(), serde_json::to_string(biz_content).map_err(|e| ChannelError::BadAnswer(e.to_string()))?);
        let sign = api::sign_request(&self.key, &form).map_err(|e| ChannelError::BadAnswer(e.to_string()))?;
        form.insert("sign".into(), sign);
        let response = self.client.post(&self.gateway_url).form(&form).send().await.map_err(transport)?;
        let status = response.status();
        let bytes = read_limited(response, MAX_ANSWER_BYTES).await?;
        if !status.is_success() {
            return Err(ChannelError::BadAnswer(format!("HTTP {status}")));
        }
        let text = std::str::from_utf8(&bytes).map_err(|_| ChannelError::BadAnswer("answer is not UTF-8".into()))?;
        let inner = api::open_response(&self.alipay_key, method, text).map_err(|e| ChannelError::BadAnswer(e.to_string()))?;
        serde_json::from_str(inner).map_err(|e| ChannelError::BadAnswer(e.to_string()))
    }
}

fn refused(answer: Answer) -> ChannelError {
    match answer.sub_code.as_deref() {
        Some("ACQ.TRADE_NOT_EXIST") => ChannelError::NotFound,
        Some("ACQ.TRADE_HAS_SUCCESS") => ChannelError::AlreadyPaid,
        // The gateway's own trouble: the outcome is unknown, ask again later.
        _ if answer.code == "20000" => ChannelError::BadAnswer(answer.msg),
        _ => ChannelError::Refused { code: answer.sub_code.unwrap_or(answer.code), message: answer.sub_msg.unwrap_or(answer.msg) },
    }
}

fn amount(text: Option<&str>) -> Result<i64, String> {
    text.and_then(api::parse_yuan).ok_or_else(|| format!("amount {text:?} is not yuan with two decimals"))
}

fn report(status: &str, trade_no: Option<String>, total: Option<&str>) -> Result<ChannelReport, String> {
    Ok(match status {
        "TRADE_SUCCESS" | "TRADE_FINISHED" => ChannelReport::Paid { channel_ref: trade_no.unwrap_or_default(), amount_minor: amount(total)?, currency: "CNY".into() },
        "TRADE_CLOSED" => ChannelReport::Closed,
        _ => ChannelReport::NotPaid,
    })
}

impl PaymentChannel for Alipay {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Alipay
    }

    fn create<'a>(&'a self, request: &'a CreateRequest) -> BoxFuture<'a, Result<Created, ChannelError>> {
        Box::pin(async move {
            let biz = api::Precreate {
                out_trade_no: request.out_trade_no.clone(),
                total_amount: api::yuan(request.amount_minor),
                subject: request.description.clone(),
                time_expire: Some(alipay_time(request.expires_at_ms)),
            };
            let answer = self.call("alipay.trade.precreate", &biz).await?;
            if !answer.ok() {
                return Err(refused(answer));
            }
            Ok(Created { channel_ref: None, pay_url: answer.qr_code })
        })
    }

    fn query<'a>(&'a self, out_trade_no: &'a str, _: Option<&'a str>) -> BoxFuture<'a, Result<ChannelReport, ChannelError>> {
        Box::pin(async move {
            let answer = self.call("alipay.trade.query", &api::TradeRef { out_trade_no: out_trade_no.to_string() }).await?;
            if !answer.ok() {
                return Err(refused(answer));
            }
            let status = answer.trade_status.clone().unwrap_or_default();
            report(&status, answer.trade_no.clone(), answer.total_amount.as_deref()).map_err(ChannelError::BadAnswer)
        })
    }

    fn close<'a>(&'a self, out_trade_no: &'a str, _: Option<&'a str>) -> BoxFuture<'a, Result<(), ChannelError>> {
        Box::pin(async move {
            let answer = self.call("alipay.trade.close", &api::TradeRef { out_trade_no: out_trade_no.to_string() }).await?;
            match answer.sub_code.as_deref() {
                _ if answer.ok() => Ok(()),
                // Closing a trade the customer already paid.
                Some("ACQ.TRADE_STATUS_ERROR") => Err(ChannelError::AlreadyPaid),
                _ => Err(refused(answer)),
            }
        })
    }

    fn refund<'a>(&'a self, request: &'a RefundRequest) -> BoxFuture<'a, Result<RefundStatus, ChannelError>> {
        Box::pin(async move {
            let biz = api::RefundRequest {
                out_trade_no: request.out_trade_no.clone(),
                refund_amount: api::yuan(request.amount_minor),
                out_request_no: request.out_refund_no.clone(),
                refund_reason: Some(request.reason.clone()),
            };
            let answer = self.call("alipay.trade.refund", &biz).await?;
            if !answer.ok() {
                return Err(refused(answer));
            }
            // fund_change "N" on a repeated out_request_no: the money moved the first time.
            Ok(RefundStatus::Succeeded)
        })
    }

    fn query_refund<'a>(&'a self, request: &'a RefundRequest) -> BoxFuture<'a, Result<RefundStatus, ChannelError>> {
        Box::pin(async move {
            let query = api::RefundQuery { out_trade_no: request.out_trade_no.clone(), out_request_no: request.out_refund_no.clone() };
            let answer = self.call("alipay.trade.fastpay.refund.query", &query).await?;
            if !answer.ok() {
                return Err(refused(answer));
            }
            match (answer.out_request_no.as_deref(), answer.refund_status.as_deref()) {
                (None, _) => Err(ChannelError::NotFound),
                (Some(_), Some("REFUND_SUCCESS")) => Ok(RefundStatus::Succeeded),
                (Some(_), _) => Ok(RefundStatus::Processing),
            }
        })
    }

    fn open_notification(&self, _: &HeaderMap, body: &[u8], _now_s: i64) -> Result<Notice, NotifyError> {
        let params: BTreeMap<String, String> = serde_urlencoded::from_bytes(body).map_err(|e| NotifyError::Malformed(e.to_string()))?;
        if !api::verify_notification(&self.alipay_key, &params) {
            return Err(NotifyError::Signature("RSA2 signature does not verify".into()));
        }
        if params.get("app_id") != Some(&self.app_id) {
            return Err(NotifyError::Malformed(format!("for app {:?}", params.get("app_id"))));
        }
        let get = |k: &str| params.get(k).cloned();
        let notification_id = get("notify_id").ok_or_else(|| NotifyError::Malformed("no notify_id".into()))?;
        let out_trade_no = get("out_trade_no").ok_or_else(|| NotifyError::Malformed("no out_trade_no".into()))?;
        if let (Some(out_refund_no), Some(fee)) = (get("out_biz_no"), get("refund_fee")) {
            let amount_minor = api::parse_yuan(&fee).ok_or_else(|| NotifyError::Malformed(format!("refund_fee {fee:?}")))?;
            return Ok(Notice::Refund { notification_id, out_refund_no, amount: RefundAmount::Cumulative(amount_minor), status: RefundStatus::Succeeded });
        }
        let status = get("trade_status").unwrap_or_default();
        let report = report(&status, get("trade_no"), params.get("total_amount").map(String::as_str)).map_err(NotifyError::Malformed)?;
        Ok(Notice::Payment { notification_id, out_trade_no, report })
    }

    fn acknowledge(&self, taken: bool) -> (StatusCode, &'static str, String) {
        // Alipay retries anything but the exact body `success`.
        (StatusCode::OK, "text/plain", if taken { api::NOTIFY_ACK.into() } else { "fail".into() })
    }

    fn download_bill<'a>(&'a self, day: &'a str) -> BoxFuture<'a, Result<Vec<u8>, ChannelError>> {
        Box::pin(async move {
            let query = api::BillQuery { bill_type: "trade".into(), bill_date: day.to_string() };
            let answer = self.call("alipay.data.dataservice.bill.downloadurl.query", &query).await?;
            if !answer.ok() {
                return Err(refused(answer));
            }
            let url = answer.bill_download_url.ok_or_else(|| ChannelError::BadAnswer("no bill_download_url".into()))?;
            let response = self.client.get(url).send().await.map_err(transport)?;
            if !response.status().is_success() {
                return Err(ChannelError::BadAnswer(format!("bill download HTTP {}", response.status())));
            }
            read_limited(response, MAX_BILL_BYTES).await
        })
    }
}
