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
use tote_shared::payment::ChannelKind;
use tote_shared::runtime::http::{Json, Path};
use tote_shared::runtime::system::now_ms;
use tote_shared::Sku;

/// Largest notification body any channel sends (they are a few kilobytes).
pub const NOTIFY_BODY_LIMIT_BYTES: usize = 64 * 1024;

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPayment {
    /// `wechat`, `alipay` or `card`.
    pub channel: String,
    #[serde(default = "qr")]
    pub method: PayMethod,
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
#[utoipa::path(post, path = "/api/v1/orders/{id}/payments", params(("id" = u64, Path)), request_body = NewPayment,
    responses((status = 201, body = Payment), (status = 202, body = Payment), (status = 422, description = "order not awaiting payment, unknown channel")), tag = "payments")]
pub async fn start(_: Admin, State(state): State<AppState>, Path(order_id): Path<u64>, Json(body): Json<NewPayment>) -> Result<Response, ApiError> {
    let kind = channel_kind(&body.channel)?;
    if let PayMethod::Jsapi { openid } = &body.method {
        check_text("method.openid", openid, 128)?;
    }
    let channel = state.channels.get(kind).ok_or_else(|| PaymentError::NoChannel(kind.as_str().into()))?.clone();
    let currency = state.settings.payment.currency.clone();
    let method = body.method.clone();
    let now = now_ms();
    let (payment, _) = state
        .write(move |tx| flow::start(tx, &Start { order_id, channel: kind, method: &method, currency: &currency, review_rule: None, now_ms: now }))
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

#[utoipa::path(get, path = "/api/v1/orders/{id}/payments", params(("id" = u64, Path)), responses((status = 200, body = Vec<Payment>)), tag = "payments")]
pub async fn for_order(_: Reader, State(state): State<AppState>, Path(order_id): Path<u64>) -> Result<Json<Vec<Payment>>, ApiError> {
    Ok(Json(state.db.read(move |tx| store::for_order(tx, order_id)).await?))
}

#[utoipa::path(get, path = "/api/v1/payments/{id}", params(("id" = u64, Path)), responses((status = 200, body = Payment)), tag = "payments")]
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
#[utoipa::path(post, path = "/api/v1/payments/{id}/review", params(("id" = u64, Path)), request_body = Review, responses((status = 200, body = Payment)), tag = "payments")]
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
    pub qty: i64,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRefund {
    pub lines: Vec<RefundLineRequest>,
    pub reason: String,
}

/// Gives units of a paid order back to the customer through the channel that took the
/// money. Never more units than were paid, never more money than was captured.
#[utoipa::path(post, path = "/api/v1/orders/{id}/refunds", params(("id" = u64, Path)), request_body = NewRefund,
    responses((status = 201, body = Refund), (status = 422, description = "more than was paid, or nothing captured")), tag = "payments")]
pub async fn refund(_: Admin, State(state): State<AppState>, key: Keyed, Path(order_id): Path<u64>, Json(body): Json<NewRefund>) -> Result<Response, ApiError> {
    let request = key.required(&body)?;
    check_text("reason", &body.reason, 200)?;
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

#[utoipa::path(get, path = "/api/v1/orders/{id}/refunds", params(("id" = u64, Path)), responses((status = 200, body = Vec<Refund>)), tag = "payments")]
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
