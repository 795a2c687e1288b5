//! WeChat Pay API v3 as the platform answers it: merchant requests checked against the
//! merchant's key (`Authorization: WECHATPAY2-SHA256-RSA2048 …`), every answer signed with the
//! platform key, callbacks sealed with the APIv3 key.
//!
//! Endpoints: `POST /v3/pay/transactions/native` and `/jsapi`, `GET
//! /v3/pay/transactions/out-trade-no/{no}?mchid=…`, `POST
//! /v3/pay/transactions/out-trade-no/{no}/close`, `POST /v3/refund/domestic/refunds`.
//!
//! What it is not: the rest of v3 (bills, combined payments, profit sharing, certificates
//! download), order expiry (`time_expire` is accepted and ignored), or the WeChat client the
//! shopper pays in (`ChannelSim::pay` plays that part).

use super::delivery::{wechat_header_pairs, Envelope, Payload};
use super::keys::{ALPHANUMERIC, DIGITS};
use super::ledger::{Detail, LedgerError, NewRefund, RefundOutcome, RefundRecord, RefundState, TradeRecord, TradeState, WechatTradeType};
use super::{now_ms, rfc3339_beijing, Inner, MAX_BODY_BYTES};
use axum::extract::{FromRequest, Path, RawQuery, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use tote_shared::payment::wechat::{self, CloseTransaction, CreateRefund, CreateTransaction, ErrorBody, RefundAmount, Transaction, TransactionAmount};
use tote_shared::payment::ChannelKind;

/// The largest order accepted: 100 million yuan.
const MAX_AMOUNT_MINOR: i64 = 10_000_000_000;
const CHANNEL: ChannelKind = ChannelKind::Wechat;

pub(super) fn router(inner: Arc<Inner>) -> Router {
    Router::new()
        .route("/v3/pay/transactions/native", post(native))
        .route("/v3/pay/transactions/jsapi", post(jsapi))
        .route("/v3/pay/transactions/out-trade-no/{out_trade_no}", get(query))
        .route("/v3/pay/transactions/out-trade-no/{out_trade_no}/close", post(close))
        .route("/v3/refund/domestic/refunds", post(refund))
        .route("/v3/refund/domestic/refunds/{out_refund_no}", get(query_refund))
        .route("/v3/bill/tradebill", get(tradebill))
        .route("/v3/billdownload/file", get(bill_file))
        .fallback(not_found)
        .with_state(inner)
}

/// What goes wrong, each variant one v3 error code.
#[derive(Debug, thiserror::Error)]
enum WechatError {
    /// 401 SIGN_ERROR.
    #[error("{0}")]
    Sign(&'static str),
    /// 400 PARAM_ERROR.
    #[error("{0}")]
    Param(String),
    /// 400 APPID_MCHID_NOT_MATCH.
    #[error("appid and mchid do not belong together")]
    AppidMchidNotMatch,
    /// 400 INVALID_REQUEST.
    #[error("{0}")]
    InvalidRequest(&'static str),
    /// 400 ORDERPAID.
    #[error("the order is already paid")]
    OrderPaid,
    /// 400 ORDER_CLOSED.
    #[error("the order is closed")]
    OrderClosed,
    /// 404 ORDER_NOT_EXIST.
    #[error("the order does not exist")]
    OrderNotExist,
    /// 404 RESOURCE_NOT_EXISTS (a refund of an unknown order).
    #[error("the order to refund does not exist")]
    ResourceNotExists,
    /// 400 NOT_ENOUGH.
    #[error("refunds would exceed the amount paid")]
    NotEnough,
    /// 503 SYSTEM_ERROR: the simulator holds all the trades it may.
    #[error("the simulator is full")]
    Full,
    /// 404 NOT_FOUND: no such API.
    #[error("no such API")]
    NoSuchApi,
}

impl WechatError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            WechatError::Sign(_) => (StatusCode::UNAUTHORIZED, "SIGN_ERROR"),
            WechatError::Param(_) => (StatusCode::BAD_REQUEST, "PARAM_ERROR"),
            WechatError::AppidMchidNotMatch => (StatusCode::BAD_REQUEST, "APPID_MCHID_NOT_MATCH"),
            WechatError::InvalidRequest(_) => (StatusCode::BAD_REQUEST, "INVALID_REQUEST"),
            WechatError::OrderPaid => (StatusCode::BAD_REQUEST, "ORDERPAID"),
            WechatError::OrderClosed => (StatusCode::BAD_REQUEST, "ORDER_CLOSED"),
            WechatError::OrderNotExist => (StatusCode::NOT_FOUND, "ORDER_NOT_EXIST"),
            WechatError::ResourceNotExists => (StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS"),
            WechatError::NotEnough => (StatusCode::BAD_REQUEST, "NOT_ENOUGH"),
            WechatError::Full => (StatusCode::SERVICE_UNAVAILABLE, "SYSTEM_ERROR"),
            WechatError::NoSuchApi => (StatusCode::NOT_FOUND, "NOT_FOUND"),
        }
    }
}

type Reply = Result<(StatusCode, String), WechatError>;

/// Every answer, errors included, is signed with the platform key like the real one's.
fn answer(inner: &Inner, reply: Reply) -> Response {
    let (status, body) = reply.unwrap_or_else(|error| {
        let (status, code) = error.status_and_code();
        let body = ErrorBody { code: code.to_string(), message: error.to_string() };
        (status, serde_json::to_string(&body).unwrap_or_default())
    });
    let nonce = inner.random_id("", 32);
    let signed = match wechat::platform_headers(&inner.signers.wechat_platform, &inner.keys.wechat_platform_key_id, now_ms() / 1000, &nonce, &body) {
        Ok(signed) => signed,
        Err(error) => {
            tracing::error!(%error, "platform signature failed");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    for (name, value) in wechat_header_pairs(&signed) {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    response
}

pub(super) fn server_error(inner: &Inner) -> Response {
    let body = ErrorBody { code: "SYSTEM_ERROR".into(), message: "系统错误".into() };
    answer(inner, Ok((StatusCode::INTERNAL_SERVER_ERROR, serde_json::to_string(&body).unwrap_or_default())))
}

/// The body of a request whose `Authorization` verified; rejected with a signed 401.
struct Signed(String);

impl FromRequest<Arc<Inner>> for Signed {
    type Rejection = Response;

    async fn from_request(request: Request, inner: &Arc<Inner>) -> Result<Self, Self::Rejection> {
        let (parts, body) = request.into_parts();
        let checked = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
            Ok(bytes) => authenticate(inner, &parts.method, &parts.uri, &parts.headers, &bytes),
            Err(_) => Err(WechatError::Param(format!("the body is over {MAX_BODY_BYTES} bytes"))),
        };
        checked.map(Signed).map_err(|error| answer(inner, Err(error)))
    }
}

/// Checks the merchant's signature over `METHOD\nPATH?QUERY\nTIMESTAMP\nNONCE\nBODY\n`, and
/// that the merchant id, certificate serial and timestamp are the ones expected.
fn authenticate(inner: &Inner, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Result<String, WechatError> {
    let body = std::str::from_utf8(body).map_err(|_| WechatError::Param("the body is not UTF-8".into()))?;
    let header = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).ok_or(WechatError::Sign("Authorization is missing"))?;
    let auth = wechat::parse_authorization(header).ok_or(WechatError::Sign("Authorization is not WECHATPAY2-SHA256-RSA2048"))?;
    if auth.mchid != inner.keys.wechat_mchid {
        return Err(WechatError::Sign("mchid is not this merchant"));
    }
    if auth.serial_no != inner.keys.wechat_merchant_serial {
        return Err(WechatError::Sign("serial_no is not the merchant's certificate"));
    }
    if (now_ms() / 1000 - auth.timestamp).abs() > wechat::CLOCK_SKEW_S {
        return Err(WechatError::Sign("timestamp is more than 5 minutes away"));
    }
    let url = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let message = wechat::request_message(method.as_str(), url, auth.timestamp, &auth.nonce, body);
    if !inner.signers.wechat_merchant.verify_base64(message.as_bytes(), &auth.signature) {
        return Err(WechatError::Sign("the signature does not verify"));
    }
    Ok(body.to_string())
}

fn parse<T: DeserializeOwned>(body: &str) -> Result<T, WechatError> {
    serde_json::from_str(body).map_err(|e| WechatError::Param(format!("the body does not parse: {e}")))
}

fn json(value: &impl serde::Serialize) -> Reply {
    Ok((StatusCode::OK, serde_json::to_string(value).unwrap_or_default()))
}

async fn not_found(State(inner): State<Arc<Inner>>) -> Response {
    answer(&inner, Err(WechatError::NoSuchApi))
}

// --- create --------------------------------------------------------------------------------

async fn native(State(inner): State<Arc<Inner>>, Signed(body): Signed) -> Response {
    let reply = create(&inner, WechatTradeType::Native, &body).await;
    answer(&inner, reply)
}

async fn jsapi(State(inner): State<Arc<Inner>>, Signed(body): Signed) -> Response {
    let reply = create(&inner, WechatTradeType::Jsapi, &body).await;
    answer(&inner, reply)
}

async fn create(inner: &Arc<Inner>, trade_type: WechatTradeType, body: &str) -> Reply {
    let request: CreateTransaction = parse(body)?;
    validate_create(inner, trade_type, &request)?;
    let (trade_id, link) = open_trade(inner, trade_type, &request)?;
    if inner.channel(CHANNEL).pay_on_create() {
        inner.pay_before_answer(&trade_id).await;
    }
    match trade_type {
        WechatTradeType::Native => json(&wechat::CreatedNative { code_url: link }),
        WechatTradeType::Jsapi => json(&wechat::CreatedJsapi { prepay_id: link }),
    }
}

fn validate_create(inner: &Inner, trade_type: WechatTradeType, request: &CreateTransaction) -> Result<(), WechatError> {
    if request.mchid != inner.keys.wechat_mchid || request.appid != inner.keys.wechat_appid {
        return Err(WechatError::AppidMchidNotMatch);
    }
    check_out_no("out_trade_no", &request.out_trade_no, 6, 32)?;
    check_notify_url(&request.notify_url)?;
    if !(1..=MAX_AMOUNT_MINOR).contains(&request.amount.total) || request.amount.currency != "CNY" {
        return Err(WechatError::Param("amount.total must be 1 to 10000000000 fen in CNY".into()));
    }
    if request.description.is_empty() || request.description.len() > 127 {
        return Err(WechatError::Param("description must be 1 to 127 bytes".into()));
    }
    if trade_type == WechatTradeType::Jsapi && request.payer.is_none() {
        return Err(WechatError::Param("a JSAPI order needs payer.openid".into()));
    }
    Ok(())
}

/// Merchant numbers: `min..=max` characters of letters, digits, `_-|*`.
fn check_out_no(name: &str, value: &str, min: usize, max: usize) -> Result<(), WechatError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "_-|*".contains(c);
    if (min..=max).contains(&value.len()) && value.chars().all(allowed) {
        Ok(())
    } else {
        Err(WechatError::Param(format!("{name} must be {min} to {max} letters, digits or _-|*")))
    }
}

fn check_notify_url(url: &str) -> Result<(), WechatError> {
    // The real platform wants https; the simulator's merchants listen on plain http.
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(())
    } else {
        Err(WechatError::Param("notify_url must be an http(s) URL".into()))
    }
}

/// The trade id and code_url / prepay_id: a new trade, or the open one already created with
/// the same parameters (creating twice is how a merchant recovers from a lost answer).
fn open_trade(inner: &Inner, trade_type: WechatTradeType, request: &CreateTransaction) -> Result<(String, String), WechatError> {
    let mut ledger = inner.ledger();
    if let Some(existing) = ledger.latest(CHANNEL, &request.out_trade_no) {
        return same_trade(existing, trade_type, request.amount.total);
    }
    let link = match trade_type {
        WechatTradeType::Native => ledger.new_id("weixin://wxpay/bizpayurl?pr=", ALPHANUMERIC, 7),
        WechatTradeType::Jsapi => ledger.new_id("wx", ALPHANUMERIC, 32),
    };
    let trade_id = ledger.new_id("4200", DIGITS, 24);
    let trade = TradeRecord {
        channel: CHANNEL,
        trade_id: trade_id.clone(),
        out_trade_no: request.out_trade_no.clone(),
        amount_minor: request.amount.total,
        currency: request.amount.currency.clone(),
        description: request.description.clone(),
        state: TradeState::Open,
        created_ms: now_ms(),
        paid_ms: None,
        fee_minor: 0,
        notify_url: Some(request.notify_url.clone()),
        refund_requested_minor: 0,
        refunded_minor: 0,
        detail: Detail::Wechat {
            trade_type,
            appid: request.appid.clone(),
            link: link.clone(),
            payer_openid: request.payer.as_ref().map(|p| p.openid.clone()),
        },
    };
    ledger.insert(trade).map_err(|_| WechatError::Full)?;
    Ok((trade_id, link))
}

fn same_trade(existing: &TradeRecord, trade_type: WechatTradeType, amount_minor: i64) -> Result<(String, String), WechatError> {
    match existing.state {
        TradeState::Paid | TradeState::Finished => return Err(WechatError::OrderPaid),
        TradeState::Closed => return Err(WechatError::OrderClosed),
        TradeState::Open | TradeState::Failed => {}
    }
    match &existing.detail {
        Detail::Wechat { trade_type: kind, link, .. } if *kind == trade_type && existing.amount_minor == amount_minor => {
            Ok((existing.trade_id.clone(), link.clone()))
        }
        _ => Err(WechatError::InvalidRequest("out_trade_no was already used with other parameters")),
    }
}

// --- query and close -----------------------------------------------------------------------

async fn query(State(inner): State<Arc<Inner>>, Path(out_trade_no): Path<String>, RawQuery(raw): RawQuery, Signed(_): Signed) -> Response {
    let reply = check_mchid(&inner, query_value(raw.as_deref(), "mchid")).and_then(|()| {
        let trade = inner.ledger().latest(CHANNEL, &out_trade_no).cloned().ok_or(WechatError::OrderNotExist)?;
        json(&transaction(&inner, &trade))
    });
    answer(&inner, reply)
}

fn query_value<'a>(raw: Option<&'a str>, name: &str) -> Option<&'a str> {
    raw?.split('&').filter_map(|pair| pair.split_once('=')).find(|(key, _)| *key == name).map(|(_, value)| value)
}

fn check_mchid(inner: &Inner, mchid: Option<&str>) -> Result<(), WechatError> {
    match mchid {
        Some(mchid) if mchid == inner.keys.wechat_mchid => Ok(()),
        Some(_) => Err(WechatError::Param("mchid is not this merchant".into())),
        None => Err(WechatError::Param("mchid is required".into())),
    }
}

async fn close(State(inner): State<Arc<Inner>>, Path(out_trade_no): Path<String>, Signed(body): Signed) -> Response {
    let reply = parse::<CloseTransaction>(&body).and_then(|request| {
        check_mchid(&inner, Some(&request.mchid))?;
        let mut ledger = inner.ledger();
        let trade_id = ledger.latest(CHANNEL, &out_trade_no).map(|t| t.trade_id.clone()).ok_or(WechatError::OrderNotExist)?;
        match ledger.close(&trade_id) {
            Ok(_) => Ok((StatusCode::NO_CONTENT, String::new())),
            Err(LedgerError::AlreadyPaid) => Err(WechatError::OrderPaid),
            Err(_) => Err(WechatError::OrderNotExist),
        }
    });
    answer(&inner, reply)
}

/// A trade as query answers and `TRANSACTION.*` callbacks describe it.
fn transaction(inner: &Inner, trade: &TradeRecord) -> Transaction {
    let paid = matches!(trade.state, TradeState::Paid | TradeState::Finished);
    let (state, description) = match trade.state {
        TradeState::Open => ("NOTPAY", "未支付"),
        TradeState::Failed => ("PAYERROR", "支付失败"),
        TradeState::Closed => ("CLOSED", "已关闭"),
        _ if trade.refund_requested_minor > 0 => ("REFUND", "转入退款"),
        TradeState::Paid | TradeState::Finished => ("SUCCESS", "支付成功"),
    };
    let (appid, trade_type) = match &trade.detail {
        Detail::Wechat { appid, trade_type, .. } => (appid.clone(), Some(trade_type.as_str().to_string())),
        _ => (inner.keys.wechat_appid.clone(), None),
    };
    Transaction {
        appid,
        mchid: inner.keys.wechat_mchid.clone(),
        out_trade_no: trade.out_trade_no.clone(),
        transaction_id: paid.then(|| trade.trade_id.clone()),
        trade_type,
        trade_state: state.into(),
        trade_state_desc: description.into(),
        success_time: trade.paid_ms.map(rfc3339_beijing),
        amount: TransactionAmount {
            total: trade.amount_minor,
            payer_total: paid.then_some(trade.amount_minor),
            currency: trade.currency.clone(),
            payer_currency: paid.then(|| trade.currency.clone()),
        },
    }
}

// --- refunds -------------------------------------------------------------------------------

async fn refund(State(inner): State<Arc<Inner>>, Signed(body): Signed) -> Response {
    let reply = parse::<CreateRefund>(&body).and_then(|request| create_refund(&inner, &request));
    answer(&inner, reply)
}

fn create_refund(inner: &Arc<Inner>, request: &CreateRefund) -> Reply {
    check_out_no("out_refund_no", &request.out_refund_no, 1, 64)?;
    check_notify_url(&request.notify_url)?;
    if request.amount.refund <= 0 || request.amount.currency != "CNY" {
        return Err(WechatError::Param("amount.refund must be positive, in CNY".into()));
    }
    let (trade, outcome) = {
        let mut ledger = inner.ledger();
        let trade = ledger.latest(CHANNEL, &request.out_trade_no).cloned().ok_or(WechatError::ResourceNotExists)?;
        if request.amount.total != trade.amount_minor {
            return Err(WechatError::Param("amount.total is not the order's amount".into()));
        }
        let refund_id = ledger.new_id("50", DIGITS, 27);
        let new = NewRefund {
            trade_id: trade.trade_id.clone(),
            out_refund_no: Some(request.out_refund_no.clone()),
            amount_minor: request.amount.refund,
            notify_url: Some(request.notify_url.clone()),
            replay_key: Some(request.out_refund_no.clone()),
            settled: false,
        };
        (trade, ledger.refund(CHANNEL, new, refund_id, now_ms()).map_err(refund_error)?)
    };
    let record = match outcome {
        RefundOutcome::Accepted(record) => {
            inner.settle_later(record.refund_id.clone());
            record
        }
        RefundOutcome::Replayed(record) => record,
    };
    json(&refund_body(&trade, &record))
}

fn refund_error(error: LedgerError) -> WechatError {
    match error {
        LedgerError::RefundExceedsPaid { .. } => WechatError::NotEnough,
        LedgerError::RefundMismatch => WechatError::InvalidRequest("out_refund_no was already used with other parameters"),
        LedgerError::Full(_) => WechatError::Full,
        LedgerError::InvalidAmount => WechatError::Param("amount.refund must be positive".into()),
        LedgerError::Finished => WechatError::InvalidRequest("the order can no longer be refunded"),
        _ => WechatError::InvalidRequest("the order is not paid"),
    }
}

/// `GET /v3/refund/domestic/refunds/{out_refund_no}`.
async fn query_refund(State(inner): State<Arc<Inner>>, Path(out_refund_no): Path<String>, Signed(_): Signed) -> Response {
    let found = {
        let ledger = inner.ledger();
        let (_, refunds) = ledger.records(CHANNEL);
        refunds.into_iter().find(|r| r.out_refund_no.as_deref() == Some(out_refund_no.as_str())).and_then(|r| Some((ledger.trade(&r.trade_id)?.clone(), r)))
    };
    let reply = found.ok_or(WechatError::ResourceNotExists).and_then(|(trade, refund)| json(&refund_body(&trade, &refund)));
    answer(&inner, reply)
}

fn refund_body(trade: &TradeRecord, refund: &RefundRecord) -> wechat::Refund {
    wechat::Refund {
        refund_id: refund.refund_id.clone(),
        out_refund_no: refund.out_refund_no.clone().unwrap_or_default(),
        out_trade_no: trade.out_trade_no.clone(),
        transaction_id: trade.trade_id.clone(),
        status: refund_status(refund).into(),
        amount: RefundAmount { refund: refund.amount_minor, total: trade.amount_minor, currency: trade.currency.clone() },
    }
}

fn refund_status(refund: &RefundRecord) -> &'static str {
    match refund.state {
        RefundState::Pending => "PROCESSING",
        RefundState::Succeeded => "SUCCESS",
    }
}

// --- notifications -------------------------------------------------------------------------

/// `TRANSACTION.SUCCESS` to the create call's notify_url.
pub(super) fn payment_notification(inner: &Inner, trade: &TradeRecord) -> Option<Envelope> {
    let plaintext = serde_json::to_string(&transaction(inner, trade)).ok()?;
    seal(inner, "TRANSACTION.SUCCESS", "transaction", &plaintext, trade.notify_url.clone()?)
}

/// `REFUND.SUCCESS` to the refund call's notify_url; the resource is the refund as the
/// callback (not the answer) spells it.
pub(super) fn refund_notification(inner: &Inner, trade: &TradeRecord, refund: &RefundRecord) -> Option<Envelope> {
    let resource = serde_json::json!({
        "mchid": inner.keys.wechat_mchid,
        "out_trade_no": trade.out_trade_no,
        "transaction_id": trade.trade_id,
        "out_refund_no": refund.out_refund_no,
        "refund_id": refund.refund_id,
        "refund_status": refund_status(refund),
        "success_time": refund.succeeded_ms.map(rfc3339_beijing),
        "user_received_account": "支付用户零钱",
        "amount": {
            "total": trade.amount_minor,
            "refund": refund.amount_minor,
            "payer_total": trade.amount_minor,
            "payer_refund": refund.amount_minor,
        },
    });
    seal(inner, "REFUND.SUCCESS", "refund", &resource.to_string(), refund.notify_url.clone()?)
}

fn seal(inner: &Inner, event_type: &str, original_type: &str, plaintext: &str, url: String) -> Option<Envelope> {
    let id = format!("EV-{}", inner.ledger().new_id("", DIGITS, 20));
    let nonce = inner.random_id("", 12);
    let now = rfc3339_beijing(now_ms());
    match wechat::seal_notification(inner.keys.wechat_apiv3_key.as_bytes(), &id, &now, event_type, original_type, &nonce, plaintext) {
        Ok(body) => Some(Envelope { channel: CHANNEL, id, payload: Payload::Wechat { url, body } }),
        Err(error) => {
            tracing::error!(%error, "the APIv3 key does not seal");
            None
        }
    }
}

// --- bills -----------------------------------------------------------------------------------

/// `GET /v3/bill/tradebill?bill_date=YYYY-MM-DD&bill_type=ALL`: where to download the day's
/// trade bill, and its SHA-1.
async fn tradebill(State(inner): State<Arc<Inner>>, headers: axum::http::HeaderMap, RawQuery(raw): RawQuery, Signed(_): Signed) -> Response {
    let reply = bill_day(raw.as_deref()).and_then(|day| {
        let file = super::bills::file(&inner, CHANNEL, day).map_err(|e| WechatError::Param(e.to_string()))?;
        let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &file);
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
        let link = tote_shared::payment::wechat::BillLink {
            hash_type: "SHA1".into(),
            hash_value: digest.as_ref().iter().map(|b| format!("{b:02x}")).collect(),
            download_url: format!("http://{host}/v3/billdownload/file?token={day}"),
        };
        json(&link)
    });
    answer(&inner, reply)
}

fn bill_day(raw: Option<&str>) -> Result<tote_shared::payment::bill::BillDay, WechatError> {
    let text = query_value(raw, "bill_date").ok_or_else(|| WechatError::Param("bill_date is required".into()))?;
    if query_value(raw, "bill_type").is_some_and(|t| t != "ALL") {
        return Err(WechatError::Param("only bill_type ALL is served".into()));
    }
    tote_shared::payment::bill::BillDay::parse(text).ok_or_else(|| WechatError::Param(format!("bill_date {text} is not YYYY-MM-DD")))
}

/// The bill file itself (a signed request; the file is checked by its hash, not signed).
async fn bill_file(State(inner): State<Arc<Inner>>, RawQuery(raw): RawQuery, Signed(_): Signed) -> Response {
    let day = query_value(raw.as_deref(), "token").and_then(tote_shared::payment::bill::BillDay::parse);
    match day.map(|day| super::bills::file(&inner, CHANNEL, day)) {
        Some(Ok(file)) => ([(header::CONTENT_TYPE, "application/octet-stream")], file).into_response(),
        Some(Err(error)) => answer(&inner, Err(WechatError::Param(error.to_string()))),
        None => answer(&inner, Err(WechatError::Param("token is not a bill".into()))),
    }
}
