//! The edge's local API, designed for the handheld UI and the station software: every write
//! accepts an `Idempotency-Key` header so a double tap or a retried request applies once, and
//! a key reused for a different request (body, path or caller) is refused with a 422.
//! It needs nothing from central and keeps working while central is unreachable.

pub mod error;
pub mod fleet;
pub mod freezes;
pub mod kpis;
pub mod openapi;
pub mod ops;
pub mod orders;
pub mod picking;
pub mod dock;
pub mod replenish;
pub mod waves;
pub mod returns;
pub mod robots;
pub mod session;
pub mod stations;
pub mod stock;
pub mod work;

use crate::auth::Caller;
use crate::startup::AppState;
use axum::extract::{DefaultBodyLimit, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use error::ApiError;
use serde::Serialize;
use tote_shared::runtime::http::{harden, page_csp, Json, Realm};
use tote_shared::runtime::idempotency::{request_key, RequestKey};
use tower::limit::GlobalConcurrencyLimitLayer;

pub fn router(state: AppState) -> Router {
    let http = &state.settings.http;
    Router::new()
        .route("/api/v1/openapi.json", get(openapi::document))
        .route("/api/v1/session", post(session::sign_in).get(session::me).delete(session::sign_out))
        .route("/api/v1/workers", post(session::create_worker).get(session::workers))
        .route("/api/v1/workers/{id}/active", post(session::set_active))
        .route("/api/v1/locations", post(stock::create_location).get(stock::locations))
        .route("/api/v1/receipts", post(stock::receive))
        .route("/api/v1/adjustments", post(stock::adjust))
        .route("/api/v1/stock", get(stock::query))
        .route("/api/v1/deliveries", post(stock::create_delivery).get(stock::deliveries))
        .route("/api/v1/putaway", get(work::suggest))
        .route("/api/v1/returns", get(returns::list))
        .route("/api/v1/returns/{rma}", get(returns::get))
        .route("/api/v1/returns/{rma}/check", post(returns::check))
        .route("/api/v1/returns/{rma}/close", post(returns::close))
        .route("/api/v1/freezes", post(freezes::freeze).get(freezes::list))
        .route("/api/v1/freezes/{id}/lift", post(freezes::lift))
        .route("/api/v1/pick-faces", get(replenish::pick_faces))
        .route("/api/v1/pick-faces/{location}", put(replenish::set_pick_face).delete(replenish::remove_pick_face))
        .route("/api/v1/replenishments", get(replenish::refills))
        .route("/api/v1/replenishments/{id}/scan", post(replenish::refill_scan))
        .route("/api/v1/replenishments/{id}/cancel", post(replenish::cancel_refill))
        .route("/api/v1/moves", post(work::move_stock))
        .route("/api/v1/counts", post(work::open_count).get(work::counts))
        .route("/api/v1/counts/{id}", get(work::count))
        .route("/api/v1/counts/{id}/submit", post(work::submit_count))
        .route("/api/v1/counts/{id}/decide", post(work::decide_count))
        .route("/api/v1/pick-tasks", get(picking::tasks))
        .route("/api/v1/pick-tasks/{id}/scan", post(picking::scan))
        .route("/api/v1/pick-tasks/{id}/short", post(picking::short))
        .route("/api/v1/dock/appointments", post(dock::book_appointment).get(dock::appointments))
        .route("/api/v1/dock/appointments/{id}", get(dock::appointment))
        .route("/api/v1/dock/appointments/{id}/arrive", post(dock::arrive))
        .route("/api/v1/dock/appointments/{id}/unload", post(dock::unload))
        .route("/api/v1/dock/appointments/{id}/unloaded", post(dock::unloaded))
        .route("/api/v1/dock/appointments/{id}/cancel", post(dock::cancel_appointment))
        .route("/api/v1/dock/appointments/{id}/no-show", post(dock::no_show))
        .route("/api/v1/waves", get(waves::waves).post(waves::plan_wave))
        .route("/api/v1/waves/{id}", get(waves::wave))
        .route("/api/v1/waves/{id}/release", post(waves::release_wave))
        .route("/api/v1/waves/{id}/hold", post(waves::hold_wave))
        .route("/api/v1/waves/{id}/cancel", post(waves::cancel_wave))
        .route("/api/v1/pick-batches", get(waves::batches))
        .route("/api/v1/pick-batches/{id}", get(waves::batch))
        .route("/api/v1/pick-batches/{id}/start", post(waves::start_batch))
        .route("/api/v1/pick-batches/{id}/scan", post(waves::batch_scan))
        .route("/api/v1/totes/{tote}", get(waves::tote))
        .route("/api/v1/totes/{tote}/sort", post(waves::sort_tote))
        .route("/api/v1/orders", get(orders::list))
        .route("/api/v1/orders/{id}", get(orders::get))
        .route("/api/v1/orders/{id}/pack", post(orders::pack))
        .route("/api/v1/orders/{id}/ship", post(orders::ship))
        .route("/api/v1/print-jobs", get(orders::print_jobs))
        .route("/api/v1/waybills", get(orders::waybill_pools))
        .route("/api/v1/scanners", get(ops::scanners))
        .route("/api/v1/sync/status", get(ops::sync_status))
        .route("/api/v1/fleet", get(fleet::fleet))
        .route("/api/v1/fleet/stream", get(fleet::stream))
        .route("/", get(handheld_page))
        .route("/floor", get(fleet::floor_page))
        .route("/kpis", get(kpis::page))
        .route("/api/v1/kpis", get(kpis::kpis))
        .route("/api/v1/floor", get(stations::floor_now))
        .route("/api/v1/stations", get(stations::stations))
        .route("/api/v1/stations/{name}", get(stations::station))
        .route("/api/v1/fleet/{manufacturer}/{serial}/instant-actions", post(fleet::instant_action))
        .route("/api/v1/fleet/{manufacturer}/{serial}/dispatch", post(fleet::reinstate))
        .route("/api/v1/fleet/{manufacturer}/{serial}/mqtt-login", post(robots::issue_robot).delete(robots::revoke_robot))
        .route("/api/v1/mqtt/observers/{name}", post(robots::issue_observer).delete(robots::revoke_observer))
        .route("/api/v1/mqtt/logins", get(robots::logins))
        .route("/health", get(ops::health))
        .route("/metrics", get(ops::metrics))
        .fallback(tote_shared::runtime::http::not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::auth::guard))
        .layer(axum::middleware::from_fn(server_timing))
        .layer(axum::middleware::from_fn_with_state(Realm("tote-edge"), harden))
        .layer(DefaultBodyLimit::max(http.max_body_bytes))
        .layer(GlobalConcurrencyLimitLayer::new(http.max_in_flight))
        .with_state(state)
}

/// What a keyed write needs besides its body: the `Idempotency-Key` header, the method and
/// path the client sent, and who is calling (from `auth::guard`). Handlers take it as an
/// extractor and call `key(&body)` with the parsed body.
pub struct Idempotency {
    headers: HeaderMap,
    method: Method,
    path: String,
    caller: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Idempotency {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        // Every keyed write needs a role, so the guard has put the caller here; without it the
        // route table and the guard disagree, which is our bug, not the client's.
        let caller = parts.extensions.get::<Caller>().ok_or_else(|| ApiError::Internal(format!("no caller for {}: auth::guard did not run", parts.uri.path())))?;
        // The router is not nested, so the URI's path is the one the client sent (the task id
        // included); the query is left out on purpose: no edge write reads one.
        Ok(Idempotency { headers: parts.headers.clone(), method: parts.method.clone(), path: parts.uri.path().to_owned(), caller: caller.idempotency_caller() })
    }
}

impl Idempotency {
    /// The request's key and fingerprint; `None` without the header, 400 for a malformed one.
    pub fn key(&self, body: &impl Serialize) -> Result<Option<RequestKey>, ApiError> {
        request_key(&self.headers, self.method.as_str(), &self.path, &self.caller, body).map_err(|why| ApiError::BadRequest(why.into()))
    }
}

/// A list's `limit`: `default` when absent, else 1 to 500 (400 outside).
pub fn limit(limit: Option<u32>, default: u32) -> Result<u32, ApiError> {
    let limit = limit.unwrap_or(default);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be 1 to 500".into()));
    }
    Ok(limit)
}

/// What a scanner read, trimmed: 1 to 64 characters.
pub fn scanned(code: &str) -> Result<String, ApiError> {
    let trimmed = code.trim();
    if trimmed.is_empty() || code.chars().count() > 64 {
        return Err(ApiError::Unprocessable("a scanned code has 1 to 64 characters".into()));
    }
    Ok(trimmed.to_owned())
}

/// Free text that must be there (a name, a supplier): 1 to `max` characters, none that
/// `tote_shared::text` forbids; else a 422 naming the field.
pub fn check_text(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    Ok(tote_shared::text::check(field, value, max)?)
}

/// Optional free text (a reason): at most `max` characters, none that `tote_shared::text`
/// forbids.
pub fn check_optional_text(field: &str, value: Option<&str>, max: usize) -> Result<(), ApiError> {
    let Some(value) = value else { return Ok(()) };
    if value.chars().count() > max {
        return Err(tote_shared::text::TextError::Length { field: field.to_owned(), max }.into());
    }
    Ok(tote_shared::text::check_chars(field, value)?)
}

/// Renders a write's answer; a replayed one is marked so clients can tell.
pub fn answer(status: StatusCode, answer: crate::store::Answer) -> Response {
    let (value, replayed) = match answer {
        crate::store::Answer::Fresh(v) => (v, "false"),
        crate::store::Answer::Replayed(v) => (v, "true"),
    };
    let mut response = (status, Json(value)).into_response();
    response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static(replayed));
    response
}

const HANDHELD: &str = include_str!("handheld.html");

/// The handheld pages: one self-contained page (no build step, no assets), served by the edge
/// so it works while HQ is unreachable. Its Content-Security-Policy lets only its own inline
/// script and style run (by hash) and only its own origin be called.
pub async fn handheld_page() -> Response {
    static CSP: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| page_csp(HANDHELD));
    page(HANDHELD, &CSP)
}

/// A self-contained page with its Content-Security-Policy (`harden` adds the other headers).
pub fn page(html: &'static str, csp: &str) -> Response {
    let mut response = axum::response::Html(html).into_response();
    response.headers_mut().insert("cache-control", HeaderValue::from_static("no-cache"));
    if let Ok(csp) = HeaderValue::from_str(csp) {
        response.headers_mut().insert(axum::http::header::CONTENT_SECURITY_POLICY, csp);
    }
    response
}

/// `Server-Timing: edge;dur=…` on every answer: how long the edge took, auth included. The
/// handheld pages read it to tell network and browser time from the edge's own.
async fn server_timing(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let started = std::time::Instant::now();
    let mut response = next.run(request).await;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if let Ok(value) = HeaderValue::from_str(&format!("edge;dur={ms:.3}")) {
        response.headers_mut().insert("server-timing", value);
    }
    response
}
