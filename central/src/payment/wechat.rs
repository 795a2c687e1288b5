//! The WeChat Pay API v3 adapter: signed merchant requests, verified answers and callbacks.
//!
//! Every answer we act on is verified against the platform key its `Wechatpay-Serial` names
//! (two keys overlap while WeChat rotates); an unverified answer counts as no answer.

use super::channel::{
    nonce, read_limited, rfc3339_cst, transport, BoxFuture, ChannelError, CreateRequest, Created, Notice, NotifyError, PayMethod, PaymentChannel,
    RefundAmount, RefundRequest, RefundStatus, MAX_ANSWER_BYTES, MAX_BILL_BYTES,
};
use super::ChannelReport;
use crate::config::WechatSettings;
use axum::http::{HeaderMap, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use tote_shared::payment::keys::{PrivateKey, PublicKey};
use tote_shared::payment::wechat::{self as v3, PlatformKeys, SignedHeaders, VerifyError};
use tote_shared::payment::ChannelKind;

pub struct Wechat {
    base_url: String,
    appid: String,
    mchid: String,
    serial: String,
    key: PrivateKey,
    apiv3_key: SecretString,
    platform: PlatformKeys,
    notify_url: String,
    client: reqwest::Client,
}

impl Wechat {
    pub fn new(settings: &WechatSettings, notify_url: String, client: reqwest::Client) -> Result<Wechat, String> {
        let key = PrivateKey::from_pem(settings.merchant_private_key.expose_secret()).map_err(|e| format!("payment.wechat.merchant_private_key: {e}"))?;
        let mut platform = Vec::new();
        for entry in &settings.platform_keys {
            let public = PublicKey::from_pem(&entry.public_key).map_err(|e| format!("payment.wechat.platform_keys[{}]: {e}", entry.serial))?;
            platform.push((entry.serial.clone(), public));
        }
        Ok(Wechat {
            base_url: settings.base_url.trim_end_matches('/').to_string(),
            appid: settings.appid.clone(),
            mchid: settings.mchid.clone(),
            serial: settings.merchant_serial.clone(),
            key,
            apiv3_key: settings.apiv3_key.clone(),
            platform: PlatformKeys::new(platform),
            notify_url,
            client,
        })
    }

    fn authorization(&self, method: &str, url: &str, body: &str) -> Result<String, ChannelError> {
        let merchant = v3::Merchant { mchid: &self.mchid, serial_no: &self.serial, key: &self.key };
        let line = v3::RequestLine { method, url, timestamp: crate::startup::now_ms() / 1000, nonce: &nonce(), body };
        v3::authorization(&merchant, &line).map_err(|e| ChannelError::BadAnswer(e.to_string()))
    }

    /// One signed call; the answer's signature is checked before its body is trusted.
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<String>) -> Result<(StatusCode, Vec<u8>), ChannelError> {
        let body = body.unwrap_or_default();
        let authorization = self.authorization(method.as_str(), path, &body)?;
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base_url))
            .header("Authorization", authorization)
            .header("Accept", "application/json");
        if !body.is_empty() {
            request = request.header("Content-Type", "application/json").body(body);
        }
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let headers = signed_headers(response.headers());
        let bytes = read_limited(response, MAX_ANSWER_BYTES).await?;
        if status.is_server_error() {
            return Err(ChannelError::BadAnswer(format!("HTTP {status}")));
        }
        // 204 has no body and no signature to check.
        if status != StatusCode::NO_CONTENT {
            let text = std::str::from_utf8(&bytes).map_err(|_| ChannelError::BadAnswer("answer is not UTF-8".into()))?;
            self.platform.verify(&headers, text, crate::startup::now_ms() / 1000).map_err(|e| ChannelError::BadAnswer(format!("answer signature: {e}")))?;
        }
        Ok((status, bytes))
    }

    fn refused(status: StatusCode, bytes: &[u8]) -> ChannelError {
        match serde_json::from_slice::<v3::ErrorBody>(bytes) {
            Ok(e) if e.code == "ORDER_NOT_EXIST" || e.code == "RESOURCE_NOT_EXISTS" => ChannelError::NotFound,
            Ok(e) if e.code == "ORDERPAID" => ChannelError::AlreadyPaid,
            Ok(e) => ChannelError::Refused { code: e.code, message: e.message },
            Err(_) => ChannelError::BadAnswer(format!("HTTP {status} without an error body")),
        }
    }
}

fn signed_headers(headers: &HeaderMap) -> SignedHeaders {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    SignedHeaders {
        timestamp: get("Wechatpay-Timestamp"),
        nonce: get("Wechatpay-Nonce"),
        signature: get("Wechatpay-Signature"),
        serial: get("Wechatpay-Serial"),
        signature_type: get("Wechatpay-Signature-Type"),
    }
}

fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ChannelError> {
    serde_json::from_slice(bytes).map_err(|e| ChannelError::BadAnswer(e.to_string()))
}

/// A transaction's state as a report.
fn report(transaction: &v3::Transaction) -> ChannelReport {
    match transaction.trade_state.as_str() {
        // REFUND: paid, then (partly) refunded — it was paid.
        "SUCCESS" | "REFUND" => ChannelReport::Paid {
            channel_ref: transaction.transaction_id.clone().unwrap_or_default(),
            amount_minor: transaction.amount.total,
            currency: transaction.amount.currency.clone(),
        },
        "CLOSED" | "REVOKED" => ChannelReport::Closed,
        "PAYERROR" => ChannelReport::Failed { reason: transaction.trade_state_desc.clone() },
        _ => ChannelReport::NotPaid,
    }
}

impl PaymentChannel for Wechat {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Wechat
    }

    fn create<'a>(&'a self, request: &'a CreateRequest) -> BoxFuture<'a, Result<Created, ChannelError>> {
        Box::pin(async move {
            let (path, payer) = match &request.method {
                PayMethod::Qr => ("/v3/pay/transactions/native", None),
                PayMethod::Jsapi { openid } => ("/v3/pay/transactions/jsapi", Some(v3::Payer { openid: openid.clone() })),
            };
            let body = v3::CreateTransaction {
                appid: self.appid.clone(),
                mchid: self.mchid.clone(),
                description: request.description.clone(),
                out_trade_no: request.out_trade_no.clone(),
                time_expire: Some(rfc3339_cst(request.expires_at_ms)),
                notify_url: self.notify_url.clone(),
                amount: v3::Amount { total: request.amount_minor, currency: request.currency.clone() },
                payer,
            };
            let json = serde_json::to_string(&body).map_err(|e| ChannelError::BadAnswer(e.to_string()))?;
            let (status, bytes) = self.call(reqwest::Method::POST, path, Some(json)).await?;
            if !status.is_success() {
                return Err(Self::refused(status, &bytes));
            }
            let pay_url = match request.method {
                PayMethod::Qr => parse::<v3::CreatedNative>(&bytes)?.code_url,
                PayMethod::Jsapi { .. } => parse::<v3::CreatedJsapi>(&bytes)?.prepay_id,
            };
            Ok(Created { channel_ref: None, pay_url: Some(pay_url) })
        })
    }

    fn query<'a>(&'a self, out_trade_no: &'a str, _: Option<&'a str>) -> BoxFuture<'a, Result<ChannelReport, ChannelError>> {
        Box::pin(async move {
            let path = format!("/v3/pay/transactions/out-trade-no/{out_trade_no}?mchid={}", self.mchid);
            let (status, bytes) = self.call(reqwest::Method::GET, &path, None).await?;
            if !status.is_success() {
                return Err(Self::refused(status, &bytes));
            }
            Ok(report(&parse(&bytes)?))
        })
    }

    fn close<'a>(&'a self, out_trade_no: &'a str, _: Option<&'a str>) -> BoxFuture<'a, Result<(), ChannelError>> {
        Box::pin(async move {
            let path = format!("/v3/pay/transactions/out-trade-no/{out_trade_no}/close");
            let body = serde_json::to_string(&v3::CloseTransaction { mchid: self.mchid.clone() }).unwrap_or_default();
            let (status, bytes) = self.call(reqwest::Method::POST, &path, Some(body)).await?;
            if status.is_success() {
                Ok(())
            } else {
                Err(Self::refused(status, &bytes))
            }
        })
    }

    fn refund<'a>(&'a self, request: &'a RefundRequest) -> BoxFuture<'a, Result<RefundStatus, ChannelError>> {
        Box::pin(async move {
            let body = v3::CreateRefund {
                out_trade_no: request.out_trade_no.clone(),
                out_refund_no: request.out_refund_no.clone(),
                reason: Some(request.reason.clone()),
                notify_url: self.notify_url.clone(),
                amount: v3::RefundAmount { refund: request.amount_minor, total: request.total_minor, currency: request.currency.clone() },
            };
            let json = serde_json::to_string(&body).map_err(|e| ChannelError::BadAnswer(e.to_string()))?;
            let (status, bytes) = self.call(reqwest::Method::POST, "/v3/refund/domestic/refunds", Some(json)).await?;
            if !status.is_success() {
                return Err(Self::refused(status, &bytes));
            }
            Ok(refund_status(&parse::<v3::Refund>(&bytes)?.status))
        })
    }

    fn query_refund<'a>(&'a self, request: &'a RefundRequest) -> BoxFuture<'a, Result<RefundStatus, ChannelError>> {
        Box::pin(async move {
            let path = format!("/v3/refund/domestic/refunds/{}", request.out_refund_no);
            let (status, bytes) = self.call(reqwest::Method::GET, &path, None).await?;
            if !status.is_success() {
                return Err(Self::refused(status, &bytes));
            }
            Ok(refund_status(&parse::<v3::Refund>(&bytes)?.status))
        })
    }

    fn open_notification(&self, headers: &HeaderMap, body: &[u8], now_s: i64) -> Result<Notice, NotifyError> {
        let text = std::str::from_utf8(body).map_err(|_| NotifyError::Malformed("body is not UTF-8".into()))?;
        let notice = v3::open_notification(&self.platform, self.apiv3_key.expose_secret().as_bytes(), &signed_headers(headers), text, now_s)
            .map_err(|e| match e {
                VerifyError::Stale(_) => NotifyError::Stale(e.to_string()),
                VerifyError::UnknownSerial(_) => NotifyError::UnknownSerial(e.to_string()),
                VerifyError::Decrypt(_) => NotifyError::Decrypt(e.to_string()),
                VerifyError::Body(_) => NotifyError::Malformed(e.to_string()),
                _ => NotifyError::Signature(e.to_string()),
            })?;
        Ok(match notice {
            v3::Notice::Transaction { id, transaction, .. } if transaction.mchid == self.mchid => {
                Notice::Payment { notification_id: id, out_trade_no: transaction.out_trade_no.clone(), report: report(&transaction) }
            }
            v3::Notice::Transaction { transaction, .. } => return Err(NotifyError::Malformed(format!("for merchant {}", transaction.mchid))),
            v3::Notice::Refund { id, refund, .. } => Notice::Refund {
                notification_id: id,
                out_refund_no: refund.out_refund_no,
                amount: RefundAmount::This(refund.amount.refund),
                status: refund_status(&refund.status),
            },
        })
    }

    fn acknowledge(&self, taken: bool) -> (StatusCode, &'static str, String) {
        if taken {
            (StatusCode::NO_CONTENT, "application/json", String::new())
        } else {
            (StatusCode::BAD_REQUEST, "application/json", r#"{"code":"FAIL","message":"refused"}"#.into())
        }
    }

    fn download_bill<'a>(&'a self, day: &'a str) -> BoxFuture<'a, Result<Vec<u8>, ChannelError>> {
        Box::pin(async move {
            let (status, bytes) = self.call(reqwest::Method::GET, &format!("/v3/bill/tradebill?bill_date={day}&bill_type=ALL"), None).await?;
            if !status.is_success() {
                return Err(Self::refused(status, &bytes));
            }
            let link: v3::BillLink = parse(&bytes)?;
            // The download is signed like any request (path and query of the link) but the
            // file itself is checked by its hash, not by a signature.
            let path = link.download_url.strip_prefix(&self.base_url).unwrap_or(&link.download_url).to_string();
            let authorization = self.authorization("GET", &path, "")?;
            let response = self.client.get(format!("{}{path}", self.base_url)).header("Authorization", authorization).send().await.map_err(transport)?;
            if !response.status().is_success() {
                return Err(ChannelError::BadAnswer(format!("bill download HTTP {}", response.status())));
            }
            let file = read_limited(response, MAX_BILL_BYTES).await?;
            check_hash(&link, &file)?;
            Ok(file)
        })
    }
}

/// The downloaded bill must be the file the signed link describes.
fn check_hash(link: &v3::BillLink, file: &[u8]) -> Result<(), ChannelError> {
    let algorithm = match link.hash_type.as_str() {
        "SHA1" => &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        "SHA256" => &ring::digest::SHA256,
        other => return Err(ChannelError::BadAnswer(format!("bill hash type {other}"))),
    };
    let digest: String = ring::digest::digest(algorithm, file).as_ref().iter().map(|b| format!("{b:02x}")).collect();
    if digest.eq_ignore_ascii_case(&link.hash_value) {
        Ok(())
    } else {
        Err(ChannelError::BadAnswer("the bill's hash is not the one its link announced".into()))
    }
}

fn refund_status(raw: &str) -> RefundStatus {
    match raw {
        "SUCCESS" => RefundStatus::Succeeded,
        "CLOSED" => RefundStatus::Failed,
        // ABNORMAL: the customer's account refused it; the merchant settles it by hand and it
        // may still succeed, so it stays processing (and shows in reconciliation).
        _ => RefundStatus::Processing,
    }
}
