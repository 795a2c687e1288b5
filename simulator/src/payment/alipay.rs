//! Alipay's Open Platform gateway as it answers a merchant: one `POST /gateway.do` taking a
//! form (public parameters in the query string are merged in, as the official SDKs send
//! them), RSA2-checked against the merchant's app key, answered with
//! `{"<method>_response": {...}, "sign": "..."}` signed by Alipay's key, and asynchronous
//! `trade_status_sync` notifications acknowledged by the body `success`.
//!
//! Methods: `alipay.trade.precreate`, `alipay.trade.query`, `alipay.trade.close`,
//! `alipay.trade.refund`.
//!
//! What it is not: the rest of the Open Platform (bill download, fast refund query, app
//! authorisation), certificate-mode signing, trade expiry (`time_expire` is accepted and
//! ignored), Alipay's quirk of not knowing a precreated trade before it is scanned, or the
//! timestamp's age (only its format is checked).

use super::delivery::{Envelope, Payload};
use super::keys::{DIGITS, LOWER_HEX};
use super::ledger::{Detail, LedgerError, NewRefund, RefundOutcome, RefundRecord, TradeRecord, TradeState};
use super::{alipay_time, now_ms, Inner, SimError};
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Router};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use tote_shared::payment::alipay::{self, parse_yuan, yuan, Answer, Precreate, RefundRequest, TradeRef};
use tote_shared::payment::ChannelKind;

const CHANNEL: ChannelKind = ChannelKind::Alipay;
/// The largest trade accepted: 100 million yuan.
const MAX_AMOUNT_MINOR: i64 = 10_000_000_000;
/// The public parameters every request carries, with the sub_code naming each when missing.
const REQUIRED: [(&str, &str); 6] = [
    ("app_id", "isv.missing-app-id"),
    ("method", "isv.missing-method"),
    ("sign_type", "isv.missing-signature-type"),
    ("sign", "isv.missing-signature"),
    ("timestamp", "isv.missing-timestamp"),
    ("version", "isv.missing-version"),
];

type Params = BTreeMap<String, String>;

pub(super) fn router(inner: Arc<Inner>) -> Router {
    Router::new().route("/gateway.do", post(gateway)).route("/bills/alipay/{day}", axum::routing::get(bill_file)).with_state(inner)
}

/// What goes wrong, as Alipay's gateway codes it.
#[derive(Debug, thiserror::Error)]
enum AlipayError {
    /// 40001 Missing Required Arguments.
    #[error("{sub_code}")]
    Missing { sub_code: &'static str },
    /// 40002 Invalid Arguments (bad public parameters, the signature among them).
    #[error("{message}")]
    Invalid { sub_code: &'static str, message: String },
    /// 40004 Business Failed.
    #[error("{message}")]
    Business { sub_code: &'static str, message: String },
    /// 20000 Service Currently Unavailable, with this HTTP status (503 when the simulator is
    /// full, 500 for the `answer_5xx_next` fault).
    #[error("the service is unavailable")]
    Unavailable(StatusCode),
}

impl AlipayError {
    fn invalid(sub_code: &'static str, message: impl Into<String>) -> AlipayError {
        AlipayError::Invalid { sub_code, message: message.into() }
    }

    fn business(sub_code: &'static str, message: impl Into<String>) -> AlipayError {
        AlipayError::Business { sub_code, message: message.into() }
    }

    fn status_and_body(&self) -> (StatusCode, Value) {
        let (status, code, msg, sub_code) = match self {
            AlipayError::Missing { sub_code } => (StatusCode::OK, "40001", "Missing Required Arguments", *sub_code),
            AlipayError::Invalid { sub_code, .. } => (StatusCode::OK, "40002", "Invalid Arguments", *sub_code),
            AlipayError::Business { sub_code, .. } => (StatusCode::OK, "40004", "Business Failed", *sub_code),
            AlipayError::Unavailable(status) => (*status, "20000", "Service Currently Unavailable", "isp.unknow-error"),
        };
        (status, json!({"code": code, "msg": msg, "sub_code": sub_code, "sub_msg": self.to_string()}))
    }
}

type Reply = Result<Value, AlipayError>;

/// Every answer, errors included, signed over the raw `_response` text.
fn respond(inner: &Inner, method: &str, reply: Reply) -> Response {
    let (status, body) = match reply {
        Ok(body) => (StatusCode::OK, body),
        Err(error) => error.status_and_body(),
    };
    match alipay::signed_response(&inner.signers.alipay, method, &body.to_string()) {
        Ok(signed) => {
            let mut response = (status, signed).into_response();
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json;charset=utf-8"));
            response
        }
        Err(error) => {
            tracing::error!(%error, "Alipay's signature failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

pub(super) fn server_error(inner: &Inner) -> Response {
    respond(inner, "error", Err(AlipayError::Unavailable(StatusCode::INTERNAL_SERVER_ERROR)))
}

async fn gateway(
    State(inner): State<Arc<Inner>>,
    headers: axum::http::HeaderMap,
    query: Result<Query<Params>, QueryRejection>,
    form: Result<Form<Params>, FormRejection>,
) -> Response {
    let params = match merge(query, form) {
        Ok(params) => params,
        Err(error) => return respond(&inner, "error", Err(error)),
    };
    let method = params.get("method").map(String::as_str).filter(|m| is_known(m)).unwrap_or("error").to_string();
    let host = headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1").to_string();
    let reply = process(&inner, &params, &host).await;
    respond(&inner, &method, reply)
}

fn is_known(method: &str) -> bool {
    ["alipay.trade.precreate", "alipay.trade.query", "alipay.trade.close", "alipay.trade.refund", REFUND_QUERY, BILL_METHOD].contains(&method)
}

/// Query-string and form parameters together (a POST without a form body is fine when
/// everything is in the query string).
fn merge(query: Result<Query<Params>, QueryRejection>, form: Result<Form<Params>, FormRejection>) -> Result<Params, AlipayError> {
    let Query(mut params) = query.map_err(|e| AlipayError::invalid("isv.invalid-parameter", e.body_text()))?;
    match form {
        Ok(Form(body)) => params.extend(body),
        Err(FormRejection::InvalidFormContentType(_)) => {}
        Err(rejection) => return Err(AlipayError::invalid("isv.invalid-parameter", rejection.body_text())),
    }
    Ok(params)
}

async fn process(inner: &Arc<Inner>, params: &Params, host: &str) -> Reply {
    check_public(inner, params)?;
    let notify_url = params.get("notify_url").filter(|u| !u.is_empty()).cloned();
    let biz = params.get("biz_content").map(String::as_str).unwrap_or_default();
    match params.get("method").map(String::as_str).unwrap_or_default() {
        "alipay.trade.precreate" => precreate(inner, parse_biz(biz)?, notify_url).await,
        "alipay.trade.query" => query(inner, &parse_biz(biz)?),
        "alipay.trade.close" => close(inner, &parse_biz(biz)?),
        "alipay.trade.refund" => refund(inner, &parse_biz(biz)?, notify_url),
        BILL_METHOD => bill_link(&parse_biz(biz)?, host),
        REFUND_QUERY => refund_query(inner, &parse_biz(biz)?),
        other => Err(AlipayError::invalid("isv.invalid-method", format!("no method {other}"))),
    }
}

/// The public parameters, ending with the RSA2 signature over all of them.
fn check_public(inner: &Inner, params: &Params) -> Result<(), AlipayError> {
    for (name, sub_code) in REQUIRED {
        if params.get(name).is_none_or(|v| v.is_empty()) {
            return Err(AlipayError::Missing { sub_code });
        }
    }
    let value = |name: &str| params.get(name).map(String::as_str).unwrap_or_default();
    if value("app_id") != inner.keys.alipay_app_id {
        return Err(AlipayError::invalid("isv.invalid-app-id", "app_id is not this merchant's"));
    }
    if value("sign_type") != "RSA2" {
        return Err(AlipayError::invalid("isv.invalid-signature-type", "sign_type must be RSA2"));
    }
    if params.get("charset").is_some_and(|c| !c.eq_ignore_ascii_case("utf-8")) {
        return Err(AlipayError::invalid("isv.invalid-charset", "charset must be utf-8"));
    }
    if params.get("format").is_some_and(|f| !f.eq_ignore_ascii_case("json")) {
        return Err(AlipayError::invalid("isv.invalid-format", "format must be JSON"));
    }
    if value("version") != "1.0" {
        return Err(AlipayError::invalid("isv.invalid-version", "version must be 1.0"));
    }
    if !is_alipay_time(value("timestamp")) {
        return Err(AlipayError::invalid("isv.invalid-timestamp", "timestamp must be yyyy-MM-dd HH:mm:ss"));
    }
    if !alipay::verify_request(&inner.signers.alipay_app, params) {
        return Err(AlipayError::invalid("isv.invalid-signature", "验签出错"));
    }
    Ok(())
}

/// `yyyy-MM-dd HH:mm:ss`, by shape.
fn is_alipay_time(text: &str) -> bool {
    let pattern = b"dddd-dd-dd dd:dd:dd";
    text.len() == pattern.len() && text.bytes().zip(pattern).all(|(c, p)| if *p == b'd' { c.is_ascii_digit() } else { c == *p })
}

fn parse_biz<T: DeserializeOwned>(biz: &str) -> Result<T, AlipayError> {
    serde_json::from_str(biz).map_err(|e| AlipayError::business("ACQ.INVALID_PARAMETER", format!("biz_content: {e}")))
}

/// `total_amount`-style yuan text, within what a trade may be.
fn amount_minor(name: &str, text: &str) -> Result<i64, AlipayError> {
    parse_yuan(text)
        .filter(|minor| (1..=MAX_AMOUNT_MINOR).contains(minor))
        .ok_or_else(|| AlipayError::business("ACQ.INVALID_PARAMETER", format!("{name} must be 0.01 to 100000000.00")))
}

fn check_out_no(name: &str, value: &str) -> Result<(), AlipayError> {
    if (1..=64).contains(&value.len()) && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Ok(())
    } else {
        Err(AlipayError::business("ACQ.INVALID_PARAMETER", format!("{name} must be 1 to 64 letters, digits or _")))
    }
}

/// A success answer's common fields.
fn success(trade: &TradeRecord) -> Answer {
    Answer {
        code: "10000".into(),
        msg: "Success".into(),
        sub_code: None,
        sub_msg: None,
        out_trade_no: Some(trade.out_trade_no.clone()),
        trade_no: Some(trade.trade_id.clone()),
        qr_code: None,
        trade_status: None,
        total_amount: None,
        fund_change: None,
        refund_fee: None,
        bill_download_url: None,
        refund_status: None,
        out_request_no: None,
        refund_amount: None,
    }
}

fn with_extra(answer: Answer, extra: Value) -> Reply {
    let mut value = serde_json::to_value(answer).unwrap_or_default();
    if let (Some(object), Value::Object(extra)) = (value.as_object_mut(), extra) {
        object.extend(extra);
    }
    Ok(value)
}

fn trade_status(trade: &TradeRecord) -> &'static str {
    match trade.state {
        TradeState::Open | TradeState::Failed => "WAIT_BUYER_PAY",
        TradeState::Closed => "TRADE_CLOSED",
        TradeState::Finished => "TRADE_FINISHED",
        // A trade refunded in full is closed, as Alipay reports it.
        TradeState::Paid if trade.refunded_minor >= trade.amount_minor => "TRADE_CLOSED",
        TradeState::Paid => "TRADE_SUCCESS",
    }
}

fn known_trade(inner: &Inner, out_trade_no: &str) -> Result<TradeRecord, AlipayError> {
    inner.ledger().latest(CHANNEL, out_trade_no).cloned().ok_or_else(|| AlipayError::business("ACQ.TRADE_NOT_EXIST", "交易不存在"))
}

// --- precreate -----------------------------------------------------------------------------

async fn precreate(inner: &Arc<Inner>, biz: Precreate, notify_url: Option<String>) -> Reply {
    let amount = amount_minor("total_amount", &biz.total_amount)?;
    check_out_no("out_trade_no", &biz.out_trade_no)?;
    if biz.subject.is_empty() || biz.subject.chars().count() > 256 {
        return Err(AlipayError::business("ACQ.INVALID_PARAMETER", "subject must be 1 to 256 characters"));
    }
    let trade = open_trade(inner, &biz, amount, notify_url)?;
    if inner.channel(CHANNEL).pay_on_create() {
        inner.pay_before_answer(&trade.trade_id).await;
    }
    let qr_code = match &trade.detail {
        Detail::Alipay { qr_code } => Some(qr_code.clone()),
        _ => None,
    };
    // A precreate answer names no trade_no yet: the buyer has not scanned.
    with_extra(Answer { qr_code, trade_no: None, ..success(&trade) }, json!({}))
}

/// A new trade, or the open one already precreated with the same amount.
fn open_trade(inner: &Inner, biz: &Precreate, amount: i64, notify_url: Option<String>) -> Result<TradeRecord, AlipayError> {
    let mut ledger = inner.ledger();
    if let Some(existing) = ledger.latest(CHANNEL, &biz.out_trade_no) {
        return match existing.state {
            TradeState::Paid | TradeState::Finished => Err(AlipayError::business("ACQ.TRADE_HAS_SUCCESS", "交易已被支付")),
            TradeState::Closed => Err(AlipayError::business("ACQ.TRADE_HAS_CLOSE", "交易已经关闭")),
            _ if existing.amount_minor != amount => Err(AlipayError::business("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改")),
            _ => Ok(existing.clone()),
        };
    }
    let now = now_ms();
    let date: String = alipay_time(now).chars().filter(char::is_ascii_digit).take(8).collect();
    let trade = TradeRecord {
        channel: CHANNEL,
        trade_id: ledger.new_id(&format!("{date}22001"), DIGITS, 15),
        out_trade_no: biz.out_trade_no.clone(),
        amount_minor: amount,
        currency: "CNY".into(),
        description: biz.subject.clone(),
        state: TradeState::Open,
        created_ms: now,
        paid_ms: None,
        fee_minor: 0,
        notify_url,
        refund_requested_minor: 0,
        refunded_minor: 0,
        detail: Detail::Alipay { qr_code: ledger.new_id("https://qr.alipay.com/bax0", LOWER_HEX, 20) },
    };
    ledger.insert(trade).cloned().map_err(|_| AlipayError::Unavailable(StatusCode::SERVICE_UNAVAILABLE))
}

// --- query and close -----------------------------------------------------------------------

fn query(inner: &Inner, biz: &TradeRef) -> Reply {
    let trade = known_trade(inner, &biz.out_trade_no)?;
    let answer = Answer {
        trade_status: Some(trade_status(&trade).into()),
        total_amount: Some(yuan(trade.amount_minor)),
        ..success(&trade)
    };
    let paid = trade.paid_ms.map(|paid_ms| {
        json!({
            "buyer_pay_amount": yuan(trade.amount_minor),
            "receipt_amount": yuan(trade.amount_minor),
            "send_pay_date": alipay_time(paid_ms),
        })
    });
    with_extra(answer, paid.unwrap_or_else(|| json!({})))
}

fn close(inner: &Inner, biz: &TradeRef) -> Reply {
    let trade = known_trade(inner, &biz.out_trade_no)?;
    match inner.ledger().close(&trade.trade_id) {
        Ok(_) => with_extra(success(&trade), json!({})),
        Err(LedgerError::AlreadyPaid) => Err(AlipayError::business("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")),
        Err(error) => Err(AlipayError::business("ACQ.TRADE_STATUS_ERROR", error.to_string())),
    }
}

// --- refund --------------------------------------------------------------------------------

/// Alipay refunds synchronously: the answer says whether money moved (`fund_change`), and a
/// notification follows.
fn refund(inner: &Arc<Inner>, biz: &RefundRequest, notify_url: Option<String>) -> Reply {
    let amount = amount_minor("refund_amount", &biz.refund_amount)?;
    check_out_no("out_request_no", &biz.out_request_no)?;
    let trade = known_trade(inner, &biz.out_trade_no)?;
    let outcome = {
        let mut ledger = inner.ledger();
        let refund_id = ledger.new_id("", DIGITS, 24);
        let new = NewRefund {
            trade_id: trade.trade_id.clone(),
            out_refund_no: Some(biz.out_request_no.clone()),
            amount_minor: amount,
            notify_url: notify_url.or_else(|| trade.notify_url.clone()),
            // out_request_no is unique within its trade, not across the merchant's trades.
            replay_key: Some(format!("{}/{}", trade.trade_id, biz.out_request_no)),
            settled: true,
        };
        ledger.refund(CHANNEL, new, refund_id, now_ms()).map_err(refund_error)?
    };
    let (record, fund_change) = match outcome {
        RefundOutcome::Accepted(record) => {
            if let Some(envelope) = inner.refund_notification(&record) {
                inner.dispatch(envelope);
            }
            (record, "Y")
        }
        RefundOutcome::Replayed(record) => (record, "N"),
    };
    let answer = Answer {
        fund_change: Some(fund_change.into()),
        refund_fee: Some(yuan(record.trade_refund_total_minor)),
        ..success(&trade)
    };
    with_extra(answer, json!({"gmt_refund_pay": alipay_time(record.created_ms), "send_back_fee": yuan(record.amount_minor)}))
}

fn refund_error(error: LedgerError) -> AlipayError {
    match error {
        LedgerError::RefundExceedsPaid { .. } => AlipayError::business("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限"),
        LedgerError::RefundMismatch => AlipayError::business("ACQ.INVALID_PARAMETER", "out_request_no was already used with another amount"),
        LedgerError::Full(_) => AlipayError::Unavailable(StatusCode::SERVICE_UNAVAILABLE),
        LedgerError::Finished => AlipayError::business("ACQ.TRADE_STATUS_ERROR", "交易已完结"),
        other => AlipayError::business("ACQ.TRADE_STATUS_ERROR", other.to_string()),
    }
}

// --- notifications -------------------------------------------------------------------------

/// `trade_status_sync` for a payment, to the precreate's notify_url.
pub(super) fn payment_notification(inner: &Inner, trade: &TradeRecord) -> Result<Option<Envelope>, SimError> {
    let Some(url) = trade.notify_url.clone() else {
        return Ok(None);
    };
    let form = trade_form(inner, trade);
    sign(inner, url, form).map(Some)
}

/// `trade_status_sync` for a refund: the trade's fields plus out_biz_no, refund_fee (all
/// refunded so far) and gmt_refund.
pub(super) fn refund_notification(inner: &Inner, trade: &TradeRecord, refund: &RefundRecord) -> Result<Option<Envelope>, SimError> {
    let Some(url) = refund.notify_url.clone() else {
        return Ok(None);
    };
    let mut form = trade_form(inner, trade);
    let gmt_refund = format!("{}.{:03}", alipay_time(refund.created_ms), refund.created_ms.rem_euclid(1000));
    form.insert("out_biz_no".into(), refund.out_refund_no.clone().unwrap_or_default());
    form.insert("refund_fee".into(), yuan(trade.refunded_minor));
    form.insert("gmt_refund".into(), gmt_refund);
    sign(inner, url, form).map(Some)
}

fn trade_form(inner: &Inner, trade: &TradeRecord) -> Params {
    let mut form = Params::new();
    let mut put = |name: &str, value: String| {
        form.insert(name.to_string(), value);
    };
    put("notify_time", alipay_time(now_ms()));
    put("notify_type", "trade_status_sync".into());
    put("notify_id", inner.ledger().new_id("", LOWER_HEX, 32));
    put("app_id", inner.keys.alipay_app_id.clone());
    put("charset", "utf-8".into());
    put("version", "1.0".into());
    put("sign_type", "RSA2".into());
    put("trade_no", trade.trade_id.clone());
    put("out_trade_no", trade.out_trade_no.clone());
    put("trade_status", trade_status(trade).into());
    put("total_amount", yuan(trade.amount_minor));
    put("receipt_amount", yuan(trade.amount_minor));
    put("buyer_pay_amount", yuan(trade.amount_minor));
    put("subject", trade.description.clone());
    put("gmt_create", alipay_time(trade.created_ms));
    if let Some(paid_ms) = trade.paid_ms {
        put("gmt_payment", alipay_time(paid_ms));
    }
    form
}

fn sign(inner: &Inner, url: String, mut form: Params) -> Result<Envelope, SimError> {
    let sign = alipay::sign_notification(&inner.signers.alipay, &form)?;
    form.insert("sign".into(), sign);
    let id = form.get("notify_id").cloned().unwrap_or_default();
    Ok(Envelope { channel: CHANNEL, id, payload: Payload::Alipay { url, form } })
}

// --- bills -----------------------------------------------------------------------------------

const BILL_METHOD: &str = "alipay.data.dataservice.bill.downloadurl.query";

/// Where the day's bill (a zip of a GBK CSV) can be downloaded.
fn bill_link(query: &tote_shared::payment::alipay::BillQuery, host: &str) -> Reply {
    if query.bill_type != "trade" {
        return Err(AlipayError::business("ACQ.INVALID_PARAMETER", "only bill_type trade is served"));
    }
    let day = tote_shared::payment::bill::BillDay::parse(&query.bill_date)
        .ok_or_else(|| AlipayError::business("ACQ.INVALID_PARAMETER", "bill_date must be YYYY-MM-DD"))?;
    Ok(json!({"code": "10000", "msg": "Success", "bill_download_url": format!("http://{host}/bills/alipay/{day}")}))
}

async fn bill_file(State(inner): State<Arc<Inner>>, axum::extract::Path(day): axum::extract::Path<String>) -> Response {
    let Some(day) = tote_shared::payment::bill::BillDay::parse(&day) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match super::bills::file(&inner, CHANNEL, day) {
        Ok(file) => ([(axum::http::header::CONTENT_TYPE, "application/zip")], file).into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}

const REFUND_QUERY: &str = "alipay.trade.fastpay.refund.query";

/// A refund by its out_request_no: with `refund_status` REFUND_SUCCESS once settled (Alipay
/// settles at once), or a bare success when it knows no such refund, as Alipay answers.
fn refund_query(inner: &Inner, query: &tote_shared::payment::alipay::RefundQuery) -> Reply {
    let trade = known_trade(inner, &query.out_trade_no)?;
    let (_, refunds) = inner.ledger().records(CHANNEL);
    let found = refunds.into_iter().find(|r| r.trade_id == trade.trade_id && r.out_refund_no.as_deref() == Some(query.out_request_no.as_str()));
    let Some(refund) = found else {
        return with_extra(Answer { trade_no: Some(trade.trade_id.clone()), ..success(&trade) }, json!({}));
    };
    let status = match refund.state {
        super::RefundState::Succeeded => "REFUND_SUCCESS",
        super::RefundState::Pending => "REFUND_PROCESSING",
    };
    let answer = Answer {
        refund_status: Some(status.into()),
        out_request_no: refund.out_refund_no.clone(),
        refund_amount: Some(yuan(refund.amount_minor)),
        ..success(&trade)
    };
    with_extra(answer, json!({}))
}
