//! A card gateway in the style of Stripe: `Authorization: Bearer sk_…` on every call,
//! form-encoded requests, `Idempotency-Key` replays, PaymentIntents and refunds as JSON, and
//! webhooks signed `Stripe-Signature: t=…,v1=…` sent to one configured endpoint.
//!
//! Endpoints: `POST /v1/payment_intents`, `GET /v1/payment_intents/{id}`, `GET
//! /v1/payment_intents/search?query=metadata['out_trade_no']:'X'`, `POST
//! /v1/payment_intents/{id}/cancel`, `POST /v1/refunds`.
//!
//! What it is not: Stripe's whole API (charges, customers, payment methods, confirmation,
//! capture, pagination, expanding), its search lag (results here are immediate), any search
//! but `metadata['out_trade_no']`, or key expiry (idempotency keys live for the run, bounded
//! in number).

use super::delivery::{Envelope, Payload};
use super::keys::ALPHANUMERIC;
use super::ledger::{Detail, LedgerError, NewRefund, RefundOutcome, RefundRecord, RefundState, TradeRecord, TradeState};
use super::{lock, now_ms, Inner};
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use tote_shared::payment::card::{self, ErrorBody, ErrorDetail, Event, EventData, PaymentIntent};
use tote_shared::payment::ChannelKind;
use tote_shared::runtime::secrets::same_secret;

const CHANNEL: ChannelKind = ChannelKind::Card;
/// The largest amount accepted, in the smallest currency unit (Stripe's own limit).
const MAX_AMOUNT_MINOR: i64 = 99_999_999;
/// Stripe's metadata limits.
const MAX_METADATA_KEYS: usize = 50;
const MAX_METADATA_KEY_CHARS: usize = 40;
const MAX_METADATA_VALUE_CHARS: usize = 500;
/// Search answers at most this many intents (Stripe's page limit).
const MAX_SEARCH_RESULTS: usize = 100;

type Params = Vec<(String, String)>;

pub(super) fn router(inner: Arc<Inner>) -> Router {
    Router::new()
        .route("/v1/payment_intents", post(create_intent))
        .route("/v1/payment_intents/search", get(search))
        .route("/v1/payment_intents/{id}", get(retrieve))
        .route("/v1/payment_intents/{id}/cancel", post(cancel))
        .route("/v1/refunds", post(create_refund).get(list_refunds))
        .route("/v1/reporting/balance_transactions.csv", get(balance_report))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(inner.clone(), require_secret_key))
        .with_state(inner)
}

/// What goes wrong, as the gateway's error objects say it.
#[derive(Debug, thiserror::Error)]
enum CardError {
    /// 401 invalid_request_error: no or another secret key.
    #[error("Invalid API Key provided")]
    Unauthorized,
    /// 400 invalid_request_error, with a code when Stripe has one.
    #[error("{message}")]
    InvalidRequest { code: Option<&'static str>, message: String },
    /// 404 invalid_request_error resource_missing.
    #[error("{0}")]
    NotFound(String),
    /// 400 idempotency_error: the key was used with other parameters.
    #[error("Keys for idempotent requests can only be used with the same parameters they were first used with.")]
    IdempotencyMismatch,
    /// 409 idempotency_error: a request with this key is still being processed.
    #[error("There is currently another in-progress request using this Idempotent Key.")]
    IdempotencyInFlight,
    /// 503 api_error: the simulator holds all it may.
    #[error("The simulator is full.")]
    Full,
    /// 500 api_error: the `answer_5xx_next` fault.
    #[error("An unknown error occurred.")]
    Internal,
}

impl CardError {
    fn invalid(code: &'static str, message: impl Into<String>) -> CardError {
        CardError::InvalidRequest { code: Some(code), message: message.into() }
    }

    fn status_and_body(&self) -> (StatusCode, String) {
        let (status, kind, code) = match self {
            CardError::Unauthorized => (StatusCode::UNAUTHORIZED, "invalid_request_error", None),
            CardError::InvalidRequest { code, .. } => (StatusCode::BAD_REQUEST, "invalid_request_error", *code),
            CardError::NotFound(_) => (StatusCode::NOT_FOUND, "invalid_request_error", Some("resource_missing")),
            CardError::IdempotencyMismatch => (StatusCode::BAD_REQUEST, "idempotency_error", None),
            CardError::IdempotencyInFlight => (StatusCode::CONFLICT, "idempotency_error", None),
            CardError::Full => (StatusCode::SERVICE_UNAVAILABLE, "api_error", None),
            CardError::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "api_error", None),
        };
        let body = ErrorBody { error: ErrorDetail { kind: kind.into(), code: code.map(str::to_string), message: self.to_string() } };
        (status, serde_json::to_string(&body).unwrap_or_default())
    }
}

impl IntoResponse for CardError {
    fn into_response(self) -> Response {
        json_response(self.status_and_body())
    }
}

type Reply = Result<(StatusCode, String), CardError>;

fn json_response((status, body): (StatusCode, String)) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn ok(value: &impl serde::Serialize) -> Reply {
    Ok((StatusCode::OK, serde_json::to_string(value).unwrap_or_default()))
}

pub(super) fn server_error() -> Response {
    CardError::Internal.into_response()
}

async fn not_found() -> CardError {
    CardError::NotFound("Unrecognized request URL.".into())
}

async fn require_secret_key(State(inner): State<Arc<Inner>>, request: Request, next: Next) -> Response {
    let presented = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    match presented {
        Some(key) if same_secret(key, &inner.keys.card_secret_key) => next.run(request).await,
        _ => CardError::Unauthorized.into_response(),
    }
}

// --- idempotency ---------------------------------------------------------------------------

enum Stored {
    InFlight { fingerprint: String },
    Done { fingerprint: String, status: StatusCode, body: String, at_ms: i64 },
}

/// Answers by `Idempotency-Key`: the first answer to a key is replayed to every later
/// request with the same parameters. 5xx answers are not kept, so they may be retried.
pub(super) struct CardState {
    keys: Mutex<HashMap<String, Stored>>,
    max_keys: usize,
    /// Answered keys older than this are forgotten (Stripe keeps them 24 hours).
    forget_after_ms: Option<i64>,
    finished: std::sync::atomic::AtomicU64,
}

/// Answers between sweeps for keys to forget.
const SWEEP_EVERY_ANSWERS: u64 = 1024;

enum Begin {
    Fresh,
    Replay(StatusCode, String),
}

impl CardState {
    pub(super) fn new(max_keys: usize, forget_after: Option<std::time::Duration>) -> CardState {
        let forget_after_ms = forget_after.map(|d| d.as_millis().min(i64::MAX as u128) as i64);
        CardState { keys: Mutex::new(HashMap::new()), max_keys, forget_after_ms, finished: Default::default() }
    }

    fn begin(&self, key: &str, fingerprint: &str) -> Result<Begin, CardError> {
        let mut keys = lock(&self.keys);
        match keys.get(key) {
            Some(Stored::Done { fingerprint: seen, .. } | Stored::InFlight { fingerprint: seen }) if seen != fingerprint => Err(CardError::IdempotencyMismatch),
            Some(Stored::InFlight { .. }) => Err(CardError::IdempotencyInFlight),
            Some(Stored::Done { status, body, .. }) => Ok(Begin::Replay(*status, body.clone())),
            None if keys.len() >= self.max_keys => Err(CardError::Full),
            None => {
                keys.insert(key.to_string(), Stored::InFlight { fingerprint: fingerprint.to_string() });
                Ok(Begin::Fresh)
            }
        }
    }

    fn finish(&self, key: &str, fingerprint: String, status: StatusCode, body: &str) {
        let mut keys = lock(&self.keys);
        let now = now_ms();
        if status.is_server_error() {
            keys.remove(key);
        } else {
            keys.insert(key.to_string(), Stored::Done { fingerprint, status, body: body.to_string(), at_ms: now });
        }
        let answers = self.finished.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        if let Some(after) = self.forget_after_ms.filter(|_| answers.is_multiple_of(SWEEP_EVERY_ANSWERS)) {
            keys.retain(|_, stored| !matches!(stored, Stored::Done { at_ms, .. } if *at_ms < now.saturating_sub(after)));
        }
    }
}

/// Releases a key whose request never finished (the client went away mid-request).
struct InFlight<'a> {
    state: &'a CardState,
    key: Option<String>,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let mut keys = lock(&self.state.keys);
            if matches!(keys.get(&key), Some(Stored::InFlight { .. })) {
                keys.remove(&key);
            }
        }
    }
}

/// Runs `work` once per `Idempotency-Key` (when one is sent) and answers.
async fn idempotent(inner: &Inner, headers: &HeaderMap, route: &str, params: &Params, work: impl Future<Output = Reply>) -> Response {
    let key = match headers.get("idempotency-key").map(|v| v.to_str()) {
        None => None,
        Some(Ok(key)) if !key.is_empty() && key.len() <= 255 => Some(key.to_string()),
        Some(_) => return CardError::invalid("idempotency_key_invalid", "Idempotency-Key must be 1 to 255 visible characters").into_response(),
    };
    let fingerprint = fingerprint(route, params);
    let mut guard = InFlight { state: &inner.card, key: None };
    if let Some(key) = &key {
        match inner.card.begin(key, &fingerprint) {
            Ok(Begin::Fresh) => guard.key = Some(key.clone()),
            Ok(Begin::Replay(status, body)) => {
                let mut response = json_response((status, body));
                response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
                return response;
            }
            Err(error) => return error.into_response(),
        }
    }
    let answer = work.await.unwrap_or_else(|error| error.status_and_body());
    if let Some(key) = guard.key.take() {
        inner.card.finish(&key, fingerprint, answer.0, &answer.1);
    }
    json_response(answer)
}

/// The route and the parameters in a canonical order: what "the same request" means.
fn fingerprint(route: &str, params: &Params) -> String {
    let mut sorted: Vec<_> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    sorted.sort();
    format!("{route}?{}", sorted.join("&"))
}

/// The form parameters; a POST without a form body has none.
fn params(form: Result<Form<Params>, FormRejection>) -> Result<Params, CardError> {
    match form {
        Ok(Form(params)) => Ok(params),
        Err(FormRejection::InvalidFormContentType(_)) => Ok(Vec::new()),
        Err(rejection) => Err(CardError::invalid("parameter_invalid", rejection.body_text())),
    }
}

/// `metadata[key]` → key, within Stripe's limits.
fn metadata_entry(name: &str, value: &str, metadata: &mut BTreeMap<String, String>) -> Result<bool, CardError> {
    let Some(key) = name.strip_prefix("metadata[").and_then(|rest| rest.strip_suffix(']')) else {
        return Ok(false);
    };
    if key.is_empty() || key.chars().count() > MAX_METADATA_KEY_CHARS || value.chars().count() > MAX_METADATA_VALUE_CHARS {
        return Err(CardError::invalid("parameter_invalid", format!("metadata key {key:?} or its value is too long")));
    }
    metadata.insert(key.to_string(), value.to_string());
    if metadata.len() > MAX_METADATA_KEYS {
        return Err(CardError::invalid("parameter_invalid", "metadata has more than 50 keys"));
    }
    Ok(true)
}

fn parse_amount(value: &str) -> Result<i64, CardError> {
    value
        .parse::<i64>()
        .ok()
        .filter(|amount| (1..=MAX_AMOUNT_MINOR).contains(amount))
        .ok_or_else(|| CardError::invalid("parameter_invalid_integer", "amount must be a positive integer in the smallest currency unit"))
}

fn unknown_parameter(name: &str) -> CardError {
    CardError::invalid("parameter_unknown", format!("Received unknown parameter: {name}"))
}

fn missing(name: &str) -> CardError {
    CardError::invalid("parameter_missing", format!("Missing required param: {name}."))
}

// --- payment intents -----------------------------------------------------------------------

struct NewIntent {
    amount: i64,
    currency: String,
    description: String,
    metadata: BTreeMap<String, String>,
}

fn new_intent(params: &Params) -> Result<NewIntent, CardError> {
    let (mut amount, mut currency, mut description, mut metadata) = (None, None, String::new(), BTreeMap::new());
    for (name, value) in params {
        match name.as_str() {
            "amount" => amount = Some(parse_amount(value)?),
            "currency" if value.len() == 3 && value.chars().all(|c| c.is_ascii_alphabetic()) => currency = Some(value.to_ascii_lowercase()),
            "currency" => return Err(CardError::invalid("parameter_invalid", "currency must be a three-letter ISO code")),
            "description" => description = value.clone(),
            // Accepted and without effect here: how the shopper pays is the simulator's part.
            name if name.starts_with("payment_method_types[") || name.starts_with("automatic_payment_methods[") => {}
            name if metadata_entry(name, value, &mut metadata)? => {}
            other => return Err(unknown_parameter(other)),
        }
    }
    Ok(NewIntent { amount: amount.ok_or_else(|| missing("amount"))?, currency: currency.ok_or_else(|| missing("currency"))?, description, metadata })
}

async fn create_intent(State(inner): State<Arc<Inner>>, headers: HeaderMap, form: Result<Form<Params>, FormRejection>) -> Response {
    let params = match params(form) {
        Ok(params) => params,
        Err(error) => return error.into_response(),
    };
    idempotent(&inner, &headers, "POST /v1/payment_intents", &params, open_intent(&inner, &params)).await
}

/// A new intent, every time: the gateway knows no order numbers, only idempotency keys.
async fn open_intent(inner: &Arc<Inner>, params: &Params) -> Reply {
    let new = new_intent(params)?;
    let trade_id = {
        let mut ledger = inner.ledger();
        let trade_id = ledger.new_id("pi_", ALPHANUMERIC, 24);
        let trade = TradeRecord {
            channel: CHANNEL,
            trade_id: trade_id.clone(),
            out_trade_no: new.metadata.get("out_trade_no").cloned().unwrap_or_default(),
            amount_minor: new.amount,
            currency: new.currency,
            description: new.description,
            state: TradeState::Open,
            created_ms: now_ms(),
            paid_ms: None,
            fee_minor: 0,
            notify_url: None,
            refund_requested_minor: 0,
            refunded_minor: 0,
            detail: Detail::Card { metadata: new.metadata },
        };
        ledger.insert(trade).map_err(|_| CardError::Full)?;
        trade_id
    };
    if inner.channel(CHANNEL).pay_on_create() {
        inner.pay_before_answer(&trade_id).await;
    }
    ok(&intent(&known_intent(inner, &trade_id)?))
}

fn known_intent(inner: &Inner, id: &str) -> Result<TradeRecord, CardError> {
    let ledger = inner.ledger();
    let trade = ledger.trade(id).filter(|t| t.channel == CHANNEL);
    trade.cloned().ok_or_else(|| CardError::NotFound(format!("No such payment_intent: '{id}'")))
}

/// A trade as the gateway's PaymentIntent object.
fn intent(trade: &TradeRecord) -> PaymentIntent {
    let paid = matches!(trade.state, TradeState::Paid | TradeState::Finished);
    let declined = trade.state == TradeState::Failed;
    PaymentIntent {
        id: trade.trade_id.clone(),
        object: "payment_intent".into(),
        amount: trade.amount_minor,
        amount_received: if paid { trade.amount_minor } else { 0 },
        currency: trade.currency.clone(),
        status: intent_status(trade.state).into(),
        metadata: match &trade.detail {
            Detail::Card { metadata } => metadata.clone(),
            _ => BTreeMap::new(),
        },
        last_payment_error: declined.then(|| {
            serde_json::json!({"type": "card_error", "code": "card_declined", "decline_code": "generic_decline", "message": "Your card was declined."})
        }),
    }
}

fn intent_status(state: TradeState) -> &'static str {
    match state {
        // A declined intent waits for another payment method, as Stripe's does.
        TradeState::Open | TradeState::Failed => "requires_payment_method",
        TradeState::Paid | TradeState::Finished => "succeeded",
        TradeState::Closed => "canceled",
    }
}

async fn retrieve(State(inner): State<Arc<Inner>>, Path(id): Path<String>) -> Response {
    json_response(known_intent(&inner, &id).and_then(|trade| ok(&intent(&trade))).unwrap_or_else(|e| e.status_and_body()))
}

async fn search(State(inner): State<Arc<Inner>>, Query(query): Query<BTreeMap<String, String>>) -> Response {
    let reply = query.get("query").ok_or_else(|| missing("query")).and_then(|q| {
        let out_trade_no = parse_search(q)?;
        let ledger = inner.ledger();
        let mut found: Vec<_> = ledger.trades_for(CHANNEL, &out_trade_no).map(intent).collect();
        // Newest first, as Stripe lists.
        found.reverse();
        found.truncate(MAX_SEARCH_RESULTS);
        ok(&serde_json::json!({"object": "search_result", "url": "/v1/payment_intents/search", "has_more": false, "next_page": null, "data": found}))
    });
    json_response(reply.unwrap_or_else(|e| e.status_and_body()))
}

/// `metadata['out_trade_no']:'X'` (either quote) → X; no other query is understood.
fn parse_search(query: &str) -> Result<String, CardError> {
    let unsupported = || CardError::invalid("parameter_invalid", "the simulator searches metadata['out_trade_no']:'…' only");
    let rest = query.trim().strip_prefix("metadata[").ok_or_else(unsupported)?;
    let (key, value) = rest.split_once("]:").ok_or_else(unsupported)?;
    let unquote = |s: &str| -> Option<String> {
        let s = s.trim();
        let quote = s.chars().next().filter(|c| *c == '\'' || *c == '"')?;
        s.strip_prefix(quote)?.strip_suffix(quote).map(str::to_string)
    };
    match (unquote(key).as_deref(), unquote(value)) {
        (Some("out_trade_no"), Some(value)) => Ok(value),
        _ => Err(unsupported()),
    }
}

async fn cancel(State(inner): State<Arc<Inner>>, Path(id): Path<String>, headers: HeaderMap, form: Result<Form<Params>, FormRejection>) -> Response {
    let params = match params(form) {
        Ok(params) => params,
        Err(error) => return error.into_response(),
    };
    let route = format!("POST /v1/payment_intents/{id}/cancel");
    idempotent(&inner, &headers, &route, &params, async { cancel_intent(&inner, &id, &params) }).await
}

fn cancel_intent(inner: &Inner, id: &str, params: &Params) -> Reply {
    if let Some((name, _)) = params.iter().find(|(name, _)| name != "cancellation_reason") {
        return Err(unknown_parameter(name));
    }
    let trade = known_intent(inner, id)?;
    let unexpected = |status: &str| {
        CardError::invalid(
            "payment_intent_unexpected_state",
            format!("You cannot cancel this PaymentIntent because it has a status of {status}."),
        )
    };
    if trade.state == TradeState::Closed {
        return Err(unexpected("canceled"));
    }
    let canceled = inner.ledger().close(id).cloned();
    match canceled {
        Ok(trade) => ok(&intent(&trade)),
        Err(LedgerError::AlreadyPaid) => Err(unexpected("succeeded")),
        Err(error) => Err(CardError::invalid("payment_intent_unexpected_state", error.to_string())),
    }
}

// --- refunds -------------------------------------------------------------------------------

async fn create_refund(State(inner): State<Arc<Inner>>, headers: HeaderMap, form: Result<Form<Params>, FormRejection>) -> Response {
    let params = match params(form) {
        Ok(params) => params,
        Err(error) => return error.into_response(),
    };
    idempotent(&inner, &headers, "POST /v1/refunds", &params, async { refund(&inner, &params) }).await
}

fn refund(inner: &Arc<Inner>, params: &Params) -> Reply {
    let (mut intent_id, mut amount, mut metadata) = (None, None, BTreeMap::new());
    for (name, value) in params {
        match name.as_str() {
            "payment_intent" => intent_id = Some(value.clone()),
            "amount" => amount = Some(parse_amount(value)?),
            "reason" => {}
            name if metadata_entry(name, value, &mut metadata)? => {}
            other => return Err(unknown_parameter(other)),
        }
    }
    let trade = known_intent(inner, &intent_id.ok_or_else(|| missing("payment_intent"))?)?;
    // Without an amount, whatever is left; nothing left is Stripe's "already refunded".
    let amount = match amount {
        Some(amount) => amount,
        None if trade.refund_requested_minor >= trade.amount_minor && trade.paid_ms.is_some() => {
            return Err(CardError::invalid("charge_already_refunded", "This charge has already been refunded."));
        }
        None => trade.amount_minor - trade.refund_requested_minor,
    };
    let outcome = {
        let mut ledger = inner.ledger();
        let refund_id = ledger.new_id("re_", ALPHANUMERIC, 24);
        let new = NewRefund {
            trade_id: trade.trade_id.clone(),
            out_refund_no: metadata.get("out_refund_no").cloned(),
            amount_minor: amount,
            notify_url: None,
            replay_key: None,
            settled: false,
        };
        ledger.refund(CHANNEL, new, refund_id, now_ms()).map_err(|e| refund_error(e, &trade))?
    };
    // Without a replay key the ledger never replays: only Idempotency-Key repeats a refund.
    let record = match outcome {
        RefundOutcome::Accepted(record) => {
            inner.settle_later(record.refund_id.clone());
            record
        }
        RefundOutcome::Replayed(record) => record,
    };
    ok(&refund_object(&record))
}

fn refund_error(error: LedgerError, trade: &TradeRecord) -> CardError {
    match error {
        LedgerError::RefundExceedsPaid { .. } if trade.refund_requested_minor >= trade.amount_minor => {
            CardError::invalid("charge_already_refunded", "This charge has already been refunded.")
        }
        LedgerError::RefundExceedsPaid { .. } => CardError::invalid("amount_too_large", "Refund amount is greater than the unrefunded amount."),
        LedgerError::InvalidAmount => CardError::invalid("parameter_invalid_integer", "amount must be positive"),
        LedgerError::Full(_) => CardError::Full,
        _ => CardError::invalid("payment_intent_unexpected_state", "This PaymentIntent does not have a successful charge to refund."),
    }
}

fn refund_object(refund: &RefundRecord) -> card::Refund {
    card::Refund {
        id: refund.refund_id.clone(),
        object: "refund".into(),
        amount: refund.amount_minor,
        payment_intent: refund.trade_id.clone(),
        status: match refund.state {
            RefundState::Pending => "pending".into(),
            RefundState::Succeeded => "succeeded".into(),
        },
        metadata: refund.out_refund_no.iter().map(|no| ("out_refund_no".to_string(), no.clone())).collect(),
    }
}

// --- webhooks ------------------------------------------------------------------------------

/// `payment_intent.succeeded` / `payment_intent.payment_failed` with the intent as it is now.
pub(super) fn intent_event(inner: &Inner, kind: &str, trade: &TradeRecord) -> Envelope {
    event(inner, kind, serde_json::to_value(intent(trade)).unwrap_or_default())
}

/// `refund.updated` with the refund as it is now.
pub(super) fn refund_event(inner: &Inner, refund: &RefundRecord) -> Envelope {
    event(inner, "refund.updated", serde_json::to_value(refund_object(refund)).unwrap_or_default())
}

fn event(inner: &Inner, kind: &str, object: serde_json::Value) -> Envelope {
    let id = inner.ledger().new_id("evt_", ALPHANUMERIC, 24);
    let event = Event { id: id.clone(), object: "event".into(), kind: kind.into(), created: now_ms() / 1000, data: EventData { object } };
    Envelope { channel: CHANNEL, id, payload: Payload::Card { body: serde_json::to_string(&event).unwrap_or_default() } }
}

// --- bills -----------------------------------------------------------------------------------

#[derive(serde::Deserialize)]
struct ReportQuery {
    day: String,
}

/// The day's balance transactions (UTC day) as CSV.
async fn balance_report(State(inner): State<Arc<Inner>>, query: Result<Query<ReportQuery>, axum::extract::rejection::QueryRejection>) -> Response {
    let Some(day) = query.ok().and_then(|Query(q)| tote_shared::payment::bill::BillDay::parse(&q.day)) else {
        return CardError::invalid("parameter_invalid", "day must be YYYY-MM-DD").into_response();
    };
    match super::bills::file(&inner, ChannelKind::Card, day) {
        Ok(file) => ([(header::CONTENT_TYPE, "text/csv")], file).into_response(),
        Err(error) => CardError::invalid("report_unavailable", error.to_string()).into_response(),
    }
}

/// `GET /v1/refunds?payment_intent=pi_…`: the intent's refunds, newest first.
async fn list_refunds(State(inner): State<Arc<Inner>>, Query(query): Query<BTreeMap<String, String>>) -> Response {
    let reply = query.get("payment_intent").ok_or_else(|| missing("payment_intent")).and_then(|intent| {
        let (_, refunds) = inner.ledger().records(ChannelKind::Card);
        let mut found: Vec<_> = refunds.iter().filter(|r| &r.trade_id == intent).map(refund_object).collect();
        found.reverse();
        ok(&serde_json::json!({"object": "list", "url": "/v1/refunds", "has_more": false, "data": found}))
    });
    json_response(reply.unwrap_or_else(|e| e.status_and_body()))
}
