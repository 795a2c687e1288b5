//! Payment routes: start a payment, look at it, review it, refund, and the channels'
//! notification endpoints (authenticated by the channel's signature, not a bearer token).

use super::channel::{Created, PayMethod};
use super::flow::{self, Applied, Start};
use super::store::{self, Refund};
use super::{Payment, PaymentError, PaymentState};
use crate::auth::{Admin, Reader};
use crate::http::check_text;
use crate::http::error::ApiError;
use crate::http::keyed::{keyed_write, Keyed};
use crate::startup::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use super::risk::Risk;
use tote_shared::payment::invoice;
use tote_shared::payment::risk::{Outcome, PaymentAttempt, RiskRules};
use tote_shared::payment::ChannelKind;
use tote_shared::openapi as doc;
use tote_shared::runtime::http::{Json, Path, Query};
use tote_shared::runtime::system::now_ms;
use tote_shared::Sku;

/// Largest notification body any channel sends (they are a few kilobytes).
pub const NOTIFY_BODY_LIMIT_BYTES: usize = 64 * 1024;

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPayment {
    /// `wechat`, `alipay` or `card`: one this server is configured for, else a 422.
    #[schema(value_type = String, pattern = "^(wechat|alipay|card)$")]
    pub channel: String,
    #[serde(default = "qr")]
    pub method: PayMethod,
    /// Who pays, as the shop knows them; the risk rules count attempts by each.
    #[serde(default)]
    pub payer: Option<Payer>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Payer {
    /// The shop's customer id.
    #[schema(value_type = doc::Text128)]
    pub user: String,
    #[serde(default)]
    #[schema(value_type = Option<doc::Text128>)]
    pub device: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<doc::Text128>)]
    pub ip: Option<String>,
    /// The card gateway's fingerprint of the card (the same card across accounts).
    #[serde(default)]
    #[schema(value_type = Option<doc::Text128>)]
    pub card_fingerprint: Option<String>,
}

fn qr() -> PayMethod {
    PayMethod::Qr
}

fn channel_kind(raw: &str) -> Result<ChannelKind, ApiError> {
    ChannelKind::parse(raw).ok_or_else(|| ApiError::unprocessable("unknown-channel", format!("channel {raw:?} is not wechat, alipay or card")))
}

/// Starts (or returns the open) payment of an order on a channel and creates it there.
/// 201 with the payment and its `pay_url`; 202 when the channel did not answer in time (the
/// payment is kept and the create call retried).
#[utoipa::path(post, path = "/api/v1/orders/{id}/payments", params(doc::PathId), request_body = NewPayment,
    responses((status = 201, body = Payment), (status = 202, body = Payment, description = "the channel did not answer in time: the payment is kept and the create retried"),
        doc::JsonBody, doc::Unauthorized, (status = 403, description = "a risk rule blocked the payment (or a read-only token)", body = doc::ProblemSchema, content_type = "application/problem+json"),
        doc::NotFound, doc::Conflict, doc::BadGateway, doc::Unavailable), tag = "payments")]
pub async fn start(_: Admin, State(state): State<AppState>, Path(order_id): Path<u64>, Json(body): Json<NewPayment>) -> Result<Response, ApiError> {
    let kind = channel_kind(&body.channel)?;
    if let PayMethod::Jsapi { openid } = &body.method {
        check_text("method.openid", openid, 128)?;
    }
    let channel = state.channels.get(kind).ok_or_else(|| PaymentError::NoChannel(kind.as_str().into()))?.clone();
    let now = now_ms();
    let attempt = attempt(&state, order_id, kind, body.payer.as_ref(), now).await?;
    let attempt_id = Risk::attempt_id();
    let decision = state.risk.evaluate(attempt_id, &attempt);
    if decision.outcome == Outcome::Block {
        let (blocked, stored) = (attempt.clone(), decision.clone());
        state.write(move |tx| store::insert_decision(tx, attempt_id, order_id, None, &blocked, &stored)).await?;
        let rule = decision.rule.unwrap_or_default();
        tracing::warn!(order_id, %rule, reason = %decision.reason, "payment blocked by a risk rule");
        return Err(PaymentError::Blocked { rule, reason: decision.reason }.into());
    }
    let currency = state.settings.payment.currency.clone();
    let method = body.method.clone();
    let (payment, _) = state
        .write(move |tx| -> Result<_, PaymentError> {
            let review_rule = (decision.outcome == Outcome::Review).then(|| decision.rule.clone().unwrap_or_default());
            let start = Start { order_id, channel: kind, method: &method, currency: &currency, review_rule: review_rule.as_deref(), now_ms: now };
            let (payment, fresh) = flow::start(tx, &start)?;
            store::insert_decision(tx, attempt_id, order_id, Some(payment.id).filter(|_| fresh), &attempt, &decision)?;
            Ok((payment, fresh))
        })
        .await?;
    if payment.state != PaymentState::Intent {
        return Ok((StatusCode::CREATED, Json(payment)).into_response());
    }
    let request = super::dispatcher::create_request(&state, &payment).await?;
    match channel.create(&request).await {
        Ok(Created { channel_ref, pay_url }) => {
            let id = payment.id;
            let payment = state
                .write(move |tx| -> Result<_, PaymentError> {
                    store::created(tx, id, channel_ref.as_deref(), pay_url.as_deref(), now_ms())?;
                    store::by_id(tx, id)?.ok_or_else(|| PaymentError::NotFound(format!("payment {id}")))
                })
                .await?;
            Ok((StatusCode::CREATED, Json(payment)).into_response())
        }
        // The outcome is unknown: the dispatcher asks again; the caller polls the payment.
        Err(error @ super::channel::ChannelError::Unreachable(_)) | Err(error @ super::channel::ChannelError::BadAnswer(_)) => {
            tracing::warn!(%error, out_trade_no = %payment.out_trade_no, "create call failed; the dispatcher retries");
            Ok((StatusCode::ACCEPTED, Json(payment)).into_response())
        }
        Err(error) => Err(PaymentError::Channel(error).into()),
    }
}

/// The attempt the risk rules see: the payer (or, without one, the order as the user).
async fn attempt(state: &AppState, order_id: u64, channel: ChannelKind, payer: Option<&Payer>, now: i64) -> Result<PaymentAttempt, ApiError> {
    if let Some(payer) = payer {
        check_text("payer.user", &payer.user, 128)?;
        for (field, value) in [("payer.device", &payer.device), ("payer.ip", &payer.ip), ("payer.card_fingerprint", &payer.card_fingerprint)] {
            if let Some(value) = value {
                check_text(field, value, 128)?;
            }
        }
    }
    let order = state.db.read(move |tx| super::dispatcher::unlocked_order(tx, order_id)).await?;
    Ok(PaymentAttempt {
        user: payer.map(|p| p.user.clone()).unwrap_or_else(|| format!("order:{order_id}")),
        device: payer.and_then(|p| p.device.clone()),
        ip: payer.and_then(|p| p.ip.clone()),
        card_fingerprint: payer.and_then(|p| p.card_fingerprint.clone()),
        channel,
        amount_minor: order.total.minor(),
        at_ms: now,
    })
}

#[utoipa::path(get, path = "/api/v1/orders/{id}/payments", params(doc::PathId), responses((status = 200, body = Vec<Payment>), doc::BadRequest, doc::Unauthorized, doc::Unavailable), tag = "payments")]
pub async fn for_order(_: Reader, State(state): State<AppState>, Path(order_id): Path<u64>) -> Result<Json<Vec<Payment>>, ApiError> {
    Ok(Json(state.db.read(move |tx| store::for_order(tx, order_id)).await?))
}

#[utoipa::path(get, path = "/api/v1/payments/{id}", params(doc::PathId), responses((status = 200, body = Payment), doc::BadRequest, doc::Unauthorized, doc::NotFound, doc::Unavailable), tag = "payments")]
pub async fn get(_: Reader, State(state): State<AppState>, Path(id): Path<u64>) -> Result<Json<Payment>, ApiError> {
    let payment = state.db.read(move |tx| store::by_id(tx, id)).await?;
    Ok(Json(payment.ok_or_else(|| ApiError::NotFound(format!("payment {id}")))?))
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Review {
    pub approve: bool,
}

/// HQ approves (the payment goes to the channel) or declines a payment a risk rule held.
#[utoipa::path(post, path = "/api/v1/payments/{id}/review", params(doc::PathId, doc::IdempotencyKey), request_body = Review,
    responses((status = 200, body = Payment), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Conflict, doc::Unavailable), tag = "payments")]
pub async fn review(_: Admin, State(state): State<AppState>, key: Keyed, Path(id): Path<u64>, Json(body): Json<Review>) -> Result<Response, ApiError> {
    let request = key.fingerprint(&body)?;
    let now = now_ms();
    let response = keyed_write(&state, request, StatusCode::OK, move |tx| flow::review(tx, id, body.approve, now)).await?;
    state.signals.payments.notify_one();
    Ok(response)
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundLineRequest {
    pub sku: Sku,
    /// Units to give back: 1 or more, never more than were paid.
    #[schema(minimum = 1, maximum = 9223372036854775807_i64)]
    pub qty: i64,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRefund {
    #[schema(min_items = 1, max_items = 200)]
    pub lines: Vec<RefundLineRequest>,
    /// WeChat Pay takes at most 80 characters.
    #[schema(value_type = doc::Text80)]
    pub reason: String,
}

/// Gives units of a paid order back to the customer through the channel that took the
/// money. Never more units than were paid, never more money than was captured.
#[utoipa::path(post, path = "/api/v1/orders/{id}/refunds", params(doc::PathId, doc::RequiredIdempotencyKey), request_body = NewRefund,
    responses((status = 201, body = Refund), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Conflict, doc::BadGateway, doc::Unavailable), tag = "payments")]
pub async fn refund(_: Admin, State(state): State<AppState>, key: Keyed, Path(order_id): Path<u64>, Json(body): Json<NewRefund>) -> Result<Response, ApiError> {
    let request = key.required(&body)?;
    // WeChat Pay takes at most 80 characters.
    check_text("reason", &body.reason, 80)?;
    if body.lines.is_empty() || body.lines.len() > 200 {
        return Err(ApiError::unprocessable("invalid-lines", "a refund needs 1 to 200 lines"));
    }
    let lines: Vec<(Sku, i64)> = body.lines.iter().map(|l| (l.sku.clone(), l.qty)).collect();
    let reason = body.reason.clone();
    let now = now_ms();
    let response = keyed_write(&state, Some(request), StatusCode::CREATED, move |tx| flow::refund_order(tx, order_id, &lines, &reason, now)).await?;
    state.signals.payments.notify_one();
    Ok(response)
}

#[utoipa::path(get, path = "/api/v1/orders/{id}/refunds", params(doc::PathId), responses((status = 200, body = Vec<Refund>), doc::BadRequest, doc::Unauthorized, doc::Unavailable), tag = "payments")]
pub async fn refunds(_: Reader, State(state): State<AppState>, Path(order_id): Path<u64>) -> Result<Json<Vec<Refund>>, ApiError> {
    let refunds = state
        .db
        .read(move |tx| -> crate::db::DbResult<Vec<Refund>> {
            let mut all = Vec::new();
            for payment in store::for_order(tx, order_id)? {
                all.extend(store::refunds_for_payment(tx, payment.id)?);
            }
            Ok(all)
        })
        .await?;
    Ok(Json(refunds))
}

/// A channel's notification. Verified (and decrypted) before anything is read from it; then
/// applied exactly once, in one transaction with its record. A refused notification is
/// logged, counted, answered with the channel's failure reply, and changes nothing.
pub async fn notify(State(state): State<AppState>, Path(raw): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(kind) = ChannelKind::parse(&raw) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Some(channel) = state.channels.get(kind).cloned() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let ack = |taken: bool| {
        let (status, content_type, body) = channel.acknowledge(taken);
        (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
    };
    let notice = match channel.open_notification(&headers, &body, now_ms() / 1000) {
        Ok(notice) => notice,
        Err(error) => {
            tracing::warn!(channel = kind.as_str(), %error, "payment notification refused");
            state.telemetry.notification_refused(kind, error.reason());
            return ack(false);
        }
    };
    let applied = state.write(move |tx| flow::notification(tx, kind, &notice, now_ms())).await;
    match applied {
        Ok(Applied::Changed) => {
            state.signals.payments.notify_one();
            ack(true)
        }
        Ok(Applied::Nothing) => ack(true),
        Err(PaymentError::Db(error)) => {
            // Not taken: the channel retries later.
            tracing::error!(channel = kind.as_str(), %error, "payment notification not applied");
            ack(false)
        }
        Err(error) => {
            let reason = match error {
                PaymentError::Mismatch { .. } => "amount_mismatch",
                PaymentError::NotFound(_) => "unknown_payment",
                _ => "refused",
            };
            tracing::warn!(channel = kind.as_str(), %error, "payment notification refused");
            state.telemetry.notification_refused(kind, reason);
            ack(false)
        }
    }
}

/// The risk rules in force.
#[utoipa::path(get, path = "/api/v1/payments/risk/rules", responses((status = 200, description = "the rules, first match wins", body = Object), doc::Unauthorized), tag = "payments")]
pub async fn risk_rules(_: Reader, State(state): State<AppState>) -> Json<RiskRules> {
    Json(state.risk.rules())
}

/// Replaces the risk rules (validated first; a bad set changes nothing). Saved, so they
/// survive a restart; the attempts counted so far are kept.
#[utoipa::path(put, path = "/api/v1/payments/risk/rules", request_body(content = Object, description = "`{\"rules\": [...]}`: the rule set, first match wins (see `tote_shared::payment::risk`)"),
    responses((status = 200, description = "the rules now in force", body = Object), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::Unavailable), tag = "payments")]
pub async fn set_risk_rules(_: Admin, State(state): State<AppState>, Json(rules): Json<RiskRules>) -> Result<Json<RiskRules>, ApiError> {
    rules.validate().map_err(|e| ApiError::unprocessable("invalid-rules", e.to_string()))?;
    let saved = rules.clone();
    state.write(move |tx| store::save_rules(tx, &saved, now_ms())).await?;
    state.risk.set_rules(rules).map_err(|e| ApiError::unprocessable("invalid-rules", e))?;
    Ok(Json(state.risk.rules()))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DecisionsQuery {
    /// `allow`, `review` or `block`.
    #[param(value_type = Option<String>, pattern = "^(allow|review|block)$")]
    pub outcome: Option<String>,
    /// Default 100; at most 1,000 are answered.
    #[serde(default = "default_limit")]
    #[param(required = false, minimum = 0, maximum = 4294967295_i64)]
    pub limit: u32,
}

fn default_limit() -> u32 {
    100
}

/// Recent risk decisions, newest first, each with the rule that made it.
#[utoipa::path(get, path = "/api/v1/payments/risk/decisions", params(DecisionsQuery),
    responses((status = 200, body = Vec<store::RiskDecisionRow>), doc::BadRequest, doc::Unauthorized, doc::Unprocessable, doc::Unavailable), tag = "payments")]
pub async fn risk_decisions(_: Reader, State(state): State<AppState>, Query(q): Query<DecisionsQuery>) -> Result<Json<Vec<store::RiskDecisionRow>>, ApiError> {
    if q.outcome.as_deref().is_some_and(|o| !["allow", "review", "block"].contains(&o)) {
        return Err(ApiError::unprocessable("invalid-outcome", "outcome is allow, review or block"));
    }
    let limit = q.limit.clamp(1, 1000);
    Ok(Json(state.db.read(move |tx| store::decisions(tx, q.outcome.as_deref(), limit)).await?))
}

/// The order's e-invoices (blue, then red), as JSON documents.
#[utoipa::path(get, path = "/api/v1/orders/{id}/invoices", params(doc::PathId),
    responses((status = 200, description = "invoices in the layout of shared/docs/invoices.md", body = Vec<Object>), doc::BadRequest, doc::Unauthorized, doc::Unavailable), tag = "payments")]
pub async fn invoices(_: Reader, State(state): State<AppState>, Path(order_id): Path<u64>) -> Result<Response, ApiError> {
    let invoices = state.db.read(move |tx| store::invoices_for_order(tx, order_id)).await?;
    let body = format!("[{}]", invoices.iter().map(invoice::to_json).collect::<Vec<_>>().join(","));
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InvoiceFormat {
    /// `json` (default) or `xml`.
    #[param(value_type = Option<String>, pattern = "^(json|xml)$")]
    pub format: Option<String>,
}

/// One e-invoice, exported as JSON or XML.
#[utoipa::path(get, path = "/api/v1/invoices/{number}", params(("number" = doc::Text32, Path), InvoiceFormat),
    responses((status = 200, description = "the invoice", content((Object = "application/json"), (String = "application/xml"))), doc::BadRequest, doc::Unauthorized, doc::NotFound, doc::Unprocessable, doc::Unavailable), tag = "payments")]
pub async fn invoice_export(
    _: Reader,
    State(state): State<AppState>,
    Path(number): Path<String>,
    Query(q): Query<InvoiceFormat>,
) -> Result<Response, ApiError> {
    check_text("number", &number, 32)?;
    let lookup = number.clone();
    let found = state.db.read(move |tx| store::invoice(tx, &lookup)).await?.ok_or_else(|| ApiError::NotFound(format!("invoice {number}")))?;
    match q.format.as_deref().unwrap_or("json") {
        "json" => Ok(([(header::CONTENT_TYPE, "application/json")], invoice::to_json(&found)).into_response()),
        "xml" => Ok(([(header::CONTENT_TYPE, "application/xml")], invoice::to_xml(&found)).into_response()),
        other => Err(ApiError::unprocessable("invalid-format", format!("format {other:?} is json or xml"))),
    }
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRun {
    /// `wechat`, `alipay` or `card`: one this server is configured for, else a 422.
    #[schema(pattern = "^(wechat|alipay|card)$")]
    pub channel: String,
    /// `YYYY-MM-DD`, in the channel's time zone, 1970 or later.
    #[schema(format = Date, pattern = "^(19[7-9][0-9]|[2-9][0-9]{3})-[0-9]{2}-[0-9]{2}$")]
    pub day: String,
}

/// Reconciles one channel's bill for one day now (a rerun replaces the day's run and keeps
/// the resolutions of differences found again).
#[utoipa::path(post, path = "/api/v1/payments/reconciliation/runs", request_body = NewRun,
    responses((status = 201, body = super::reconciliation::Run), doc::JsonBody, doc::Unauthorized, doc::Forbidden,
        (status = 502, description = "the bill could not be downloaded", body = doc::ProblemSchema, content_type = "application/problem+json"), doc::Unavailable), tag = "payments")]
pub async fn reconcile(_: Admin, State(state): State<AppState>, Json(body): Json<NewRun>) -> Result<Response, ApiError> {
    let channel = channel_kind(&body.channel)?;
    let day = tote_shared::payment::bill::BillDay::parse(&body.day).ok_or_else(|| ApiError::unprocessable("invalid-day", format!("day {:?} is not YYYY-MM-DD", body.day)))?;
    let run = super::reconciliation::run(&state, channel, day).await?;
    Ok((StatusCode::CREATED, Json(run)).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RunsQuery {
    pub day: Option<String>,
}

/// Reconciliation runs, newest day first: per channel and day, lines matched, differences and
/// the fee totals (the channel's and the contract's).
#[utoipa::path(get, path = "/api/v1/payments/reconciliation/runs", params(RunsQuery),
    responses((status = 200, body = Vec<super::reconciliation::Run>), doc::BadRequest, doc::Unauthorized, doc::Unavailable), tag = "payments")]
pub async fn reconciliation_runs(_: Reader, State(state): State<AppState>, Query(q): Query<RunsQuery>) -> Result<Json<Vec<super::reconciliation::Run>>, ApiError> {
    Ok(Json(state.db.read(move |tx| super::reconciliation::runs(tx, q.day.as_deref(), 500)).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ItemsQuery {
    /// `open` or `resolved`.
    #[param(value_type = Option<String>, pattern = "^(open|resolved)$")]
    pub state: Option<String>,
    /// Default 1,000; at most 10,000 are answered.
    #[serde(default = "default_items")]
    #[param(required = false, minimum = 0, maximum = 4294967295_i64)]
    pub limit: u32,
}

fn default_items() -> u32 {
    1000
}

/// The differences of a run: the work list.
#[utoipa::path(get, path = "/api/v1/payments/reconciliation/runs/{id}/items", params(doc::PathId, ItemsQuery),
    responses((status = 200, body = Vec<super::reconciliation::Item>), doc::BadRequest, doc::Unauthorized, doc::NotFound, doc::Unprocessable, doc::Unavailable), tag = "payments")]
pub async fn reconciliation_items(
    _: Reader,
    State(state): State<AppState>,
    Path(run_id): Path<u64>,
    Query(q): Query<ItemsQuery>,
) -> Result<Json<Vec<super::reconciliation::Item>>, ApiError> {
    if q.state.as_deref().is_some_and(|s| s != "open" && s != "resolved") {
        return Err(ApiError::unprocessable("invalid-state", "state is open or resolved"));
    }
    let limit = q.limit.clamp(1, 10_000);
    let items = state
        .db
        .read(move |tx| -> Result<_, ApiError> {
            super::reconciliation::run_by_id(tx, run_id)?.ok_or_else(|| ApiError::NotFound(format!("reconciliation run {run_id}")))?;
            Ok(super::reconciliation::items(tx, run_id, q.state.as_deref(), limit)?)
        })
        .await?;
    Ok(Json(items))
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Resolution {
    /// What HQ did about it ("refunded by hand", "channel corrected its bill" …).
    #[schema(value_type = doc::Text500)]
    pub resolution: String,
}

#[utoipa::path(post, path = "/api/v1/payments/reconciliation/items/{id}/resolve", params(doc::PathId), request_body = Resolution,
    responses((status = 200, description = "resolved"), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Unavailable), tag = "payments")]
pub async fn resolve_item(_: Admin, State(state): State<AppState>, Path(id): Path<u64>, Json(body): Json<Resolution>) -> Result<StatusCode, ApiError> {
    check_text("resolution", &body.resolution, 500)?;
    let done = state.write(move |tx| super::reconciliation::resolve(tx, id, &body.resolution, now_ms())).await?;
    if done {
        Ok(StatusCode::OK)
    } else {
        Err(ApiError::NotFound(format!("open reconciliation item {id}")))
    }
}
