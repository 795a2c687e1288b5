//! Signing in and out on a handheld, and the supervisor's list of workers.

use super::error::ApiError;
use crate::auth::{self, Against, Caller, Refusal, Role};
use crate::startup::AppState;
use crate::store::{NewWorker, PinAttempt};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::{Deserialize, Serialize};
use tote_shared::openapi as doc;
use tote_shared::runtime::http::Json;
use tote_shared::runtime::system::now_ms;

/// `{"worker", "pin"}` or `{"badge"}` (the document's `oneOf` says which combinations).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    /// User + PIN …
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9._-]{1,32}$", max_length = 32)]
    pub worker: Option<String>,
    #[serde(default)]
    #[schema(max_length = 64)]
    pub pin: Option<String>,
    /// … or the badge's barcode.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 128)]
    pub badge: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SignedIn {
    pub worker: String,
    pub name: String,
    pub roles: Vec<String>,
    pub expires_ms: i64,
    /// For clients that send `Authorization: Bearer` rather than the cookie.
    pub token: String,
}

/// Every refused PIN sign-in answers this, whether the worker is unknown, the PIN wrong, the
/// worker locked out or inactive: the answer tells an attacker nothing (finding 7 of issue 11:
/// an unknown id answered in 2 ms, a known one in 25–78 ms, a locked one 429). Refusals are
/// told apart in the log and in `/metrics` only.
fn refused() -> ApiError {
    ApiError::Unauthorized("unknown worker or wrong PIN".into())
}

/// Every refused badge sign-in answers this (unknown badge, inactive worker, or the edge's
/// failed-badge allowance spent).
fn badge_refused() -> ApiError {
    ApiError::Unauthorized("this badge cannot sign in here now: try worker and PIN".into())
}

fn busy() -> ApiError {
    ApiError::Busy("too many sign-ins at once: try again in a second".into())
}

#[derive(Clone, Copy)]
enum Attempt<'a> {
    Badge(&'a str),
    Pin { worker: &'a str, pin: &'a str },
}

/// Signs a worker in: the session token comes back in the body (for `Authorization: Bearer`)
/// and as the `tote_session` cookie. Every refusal of one kind answers alike (401).
#[utoipa::path(post, path = "/api/v1/session", request_body = SignIn, security(()),
    responses((status = 201, body = SignedIn, headers(("set-cookie" = String, description = "tote_session=<token>; HttpOnly; SameSite=Strict"))),
        doc::JsonBody, doc::Unauthorized,
        (status = 503, description = "too many sign-ins waiting for a PIN comparison: try again after Retry-After", body = doc::ProblemSchema, content_type = "application/problem+json", headers(("retry-after" = u32)))),
    tag = "session")]
pub async fn sign_in(
    State(state): State<AppState>,
    Json(body): Json<SignIn>,
) -> Result<Response, ApiError> {
    let attempt = match (&body.badge, &body.worker, &body.pin) {
        (Some(badge), None, None) if !badge.is_empty() && badge.chars().count() <= 128 => {
            Attempt::Badge(badge.trim())
        }
        (None, Some(worker), Some(pin))
            if auth::valid_worker_id(worker) && pin.chars().count() <= 64 =>
        {
            Attempt::Pin { worker, pin }
        }
        _ => {
            return Err(ApiError::BadRequest(
                "sign in with {\"badge\"} or {\"worker\", \"pin\"}".into(),
            ))
        }
    };
    let limits = &state.sign_in;
    let refuse = |why: Refusal, who: &str| {
        limits.refused(why);
        match why {
            Refusal::Locked | Refusal::BadgeLimit | Refusal::Busy => {
                tracing::warn!(who, reason = why.as_str(), "sign-in refused")
            }
            _ => tracing::info!(who, reason = why.as_str(), "sign-in refused"),
        }
        match why {
            Refusal::Busy => busy(),
            Refusal::UnknownBadge | Refusal::BadgeLimit => badge_refused(),
            Refusal::Inactive if matches!(attempt, Attempt::Badge(_)) => badge_refused(),
            _ => refused(),
        }
    };
    // One sign-in at a time per worker (or badge), held until the session is written, so the
    // attempt count each one sees is the one the previous left.
    let key = match attempt {
        Attempt::Badge(badge) => auth::sha256_hex(badge),
        Attempt::Pin { worker, .. } => worker.to_owned(),
    };
    let _turn = limits.one_at_a_time(&key).await;
    // The clock after the wait for a turn: a queued attempt is counted when it is made.
    let now = now_ms();
    let who = match attempt {
        Attempt::Badge(_) => {
            if !limits.count_badge_attempt(now) {
                return Err(refuse(Refusal::BadgeLimit, "badge"));
            }
            match state.store.credentials_by_badge(key.clone()).await? {
                Some(found) => {
                    // A working badge is no guess; an inactive worker's (a lost card) stays counted.
                    if found.active {
                        limits.badge_accepted();
                    }
                    found
                }
                None => return Err(refuse(Refusal::UnknownBadge, "badge")),
            }
        }
        Attempt::Pin { worker, pin } => {
            let Some(slot) = limits.queue() else {
                return Err(refuse(Refusal::Busy, worker));
            };
            let (against, found, refusal) = match state
                .store
                .count_pin_attempt(worker.to_owned(), now)
                .await?
            {
                PinAttempt::Counted(found) => (
                    Against::Stored(found.pin_hash.clone()),
                    Some(found),
                    Refusal::WrongPin,
                ),
                PinAttempt::Locked => (Against::Decoy, None, Refusal::Locked),
                PinAttempt::UnknownWorker => (Against::Decoy, None, Refusal::UnknownWorker),
            };
            let matches = limits.verify(slot, pin.to_owned(), against).await?;
            match found {
                Some(found) if matches => found,
                _ => return Err(refuse(refusal, worker)),
            }
        }
    };
    if !who.active {
        return Err(refuse(Refusal::Inactive, &who.id));
    }
    let token = auth::new_token();
    let minutes = state.settings.auth.session_minutes;
    let session = state
        .store
        .open_session(
            who.id.clone(),
            auth::sha256_hex(&token),
            now + minutes as i64 * 60_000,
        )
        .await?;
    tracing::info!(worker = %session.worker, "signed in");
    let cookie = format!(
        "{}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        auth::COOKIE,
        minutes * 60,
        secure(&state)
    );
    let body = SignedIn {
        worker: session.worker,
        name: session.name,
        roles: session.roles,
        expires_ms: session.expires_ms,
        token,
    };
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(|e| ApiError::Internal(e.to_string()))?,
    );
    Ok(response)
}

/// The `Secure` attribute when the handhelds reach the edge over HTTPS: served by the edge
/// itself (`http.tls`) or through a TLS-terminating proxy (`http.secure_cookies`).
fn secure(state: &AppState) -> &'static str {
    if state.settings.http.secure_cookies || state.settings.http.tls.is_some() {
        "; Secure"
    } else {
        ""
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Me {
    pub worker: String,
    pub name: String,
    pub roles: Vec<String>,
    pub expires_ms: Option<i64>,
    pub warehouse: String,
}

/// Who is signed in (the guard already resolved the caller).
#[utoipa::path(get, path = "/api/v1/session", responses((status = 200, body = Me), doc::Unauthorized), tag = "session")]
pub async fn me(State(state): State<AppState>, Extension(caller): Extension<Caller>) -> Json<Me> {
    let warehouse = state.settings.warehouse.to_string();
    Json(match caller {
        Caller::System => Me {
            worker: "system".into(),
            name: "API token".into(),
            roles: Role::ALL.iter().map(|r| r.to_string()).collect(),
            expires_ms: None,
            warehouse,
        },
        Caller::Worker(w) => Me {
            worker: w.worker,
            name: w.name,
            roles: w.roles,
            expires_ms: Some(w.expires_ms),
            warehouse,
        },
    })
}

/// Ends the session the request carries (if any) and expires the cookie.
#[utoipa::path(delete, path = "/api/v1/session", security(()), responses((status = 204, description = "signed out", headers(("set-cookie" = String)))), tag = "session")]
pub async fn sign_out(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, ApiError> {
    let token = auth::token(&request);
    drop(request);
    if let Some(token) = token {
        state.store.close_session(auth::sha256_hex(&token)).await?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    let expired = format!(
        "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        auth::COOKIE,
        secure(&state)
    );
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&expired).map_err(|e| ApiError::Internal(e.to_string()))?,
    );
    Ok(response)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWorkerRequest {
    #[schema(pattern = "^[A-Za-z0-9._-]{1,32}$", max_length = 32)]
    pub id: String,
    #[schema(value_type = doc::Text80)]
    pub name: String,
    #[schema(pattern = "^[0-9]{4,12}$", min_length = 4, max_length = 12)]
    pub pin: String,
    /// The badge's barcode: 6 to 128 characters once white space around it is dropped.
    #[serde(default)]
    #[schema(
        pattern = r"^[\t\n\u000b\u000c\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t\n\u000b\u000c\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][\s\S]{4,126}[^\t\n\u000b\u000c\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][\t\n\u000b\u000c\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub badge: Option<String>,
    #[schema(value_type = Vec<RoleName>, min_items = 1)]
    pub roles: Vec<String>,
}

/// A worker's role, as `auth::Role::ALL` names them (a supervisor may do everything).
/// Documentation only.
#[derive(utoipa::ToSchema)]
#[schema(as = Role)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum RoleName {
    Receiver,
    Picker,
    Packer,
    Supervisor,
}

/// Supervisor: a new worker with a PIN (Argon2id-hashed), an optional badge and roles.
#[utoipa::path(post, path = "/api/v1/workers", request_body = NewWorkerRequest,
    responses((status = 201, body = crate::store::WorkerRecord), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::Conflict), tag = "session")]
pub async fn create_worker(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Json(body): Json<NewWorkerRequest>,
) -> Result<Response, ApiError> {
    if !auth::valid_worker_id(&body.id) {
        return Err(ApiError::Unprocessable(
            "worker id: 1 to 32 letters, digits, '.', '_' or '-'".into(),
        ));
    }
    super::check_text("name", &body.name, 80)?;
    if !auth::valid_pin(&body.pin) {
        return Err(ApiError::Unprocessable("PIN: 4 to 12 digits".into()));
    }
    if body.roles.is_empty() || !body.roles.iter().all(|r| Role::ALL.contains(&r.as_str())) {
        return Err(ApiError::Unprocessable(format!(
            "roles: one or more of {}",
            Role::ALL.join(", ")
        )));
    }
    let badge = match body.badge.as_deref().map(str::trim) {
        Some(b) if !(6..=128).contains(&b.chars().count()) => {
            return Err(ApiError::Unprocessable("badge: 6 to 128 characters".into()))
        }
        other => other.map(auth::sha256_hex),
    };
    let pin_hash = state.sign_in.hash(body.pin.clone()).await?;
    let worker = NewWorker {
        id: body.id,
        name: body.name.trim().to_owned(),
        pin_hash,
        badge_sha256: badge,
        roles: body.roles,
    };
    let created = state.store.create_worker(worker).await?;
    tracing::info!(worker = %created.id, by = %caller.name(), "worker created");
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

#[utoipa::path(get, path = "/api/v1/workers", responses((status = 200, body = Vec<crate::store::WorkerRecord>), doc::Unauthorized), tag = "session")]
pub async fn workers(
    State(state): State<AppState>,
) -> Result<Json<Vec<crate::store::WorkerRecord>>, ApiError> {
    Ok(Json(state.store.workers().await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActiveRequest {
    pub active: bool,
}

/// Supervisor: take a worker off (every session ends at once; a lockout is lifted) or back on.
#[utoipa::path(post, path = "/api/v1/workers/{id}/active", params(("id" = String, Path, pattern = "^[A-Za-z0-9._-]{1,32}$", description = "the worker id")), request_body = ActiveRequest,
    responses((status = 200, body = crate::store::WorkerRecord), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound), tag = "session")]
pub async fn set_active(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    tote_shared::runtime::http::Path(id): tote_shared::runtime::http::Path<String>,
    Json(body): Json<ActiveRequest>,
) -> Result<Json<crate::store::WorkerRecord>, ApiError> {
    if !auth::valid_worker_id(&id) {
        return Err(ApiError::NotFound(format!(
            "worker {:?}",
            id.chars().take(40).collect::<String>()
        )));
    }
    let worker = state.store.set_worker_active(id, body.active).await?;
    tracing::info!(worker = %worker.id, active = body.active, by = %caller.name(), "worker active state changed");
    Ok(Json(worker))
}
