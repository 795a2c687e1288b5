//! Signing in and out on a handheld, and the supervisor's list of workers.

use super::error::ApiError;
use crate::auth::{self, Caller, Role};
use crate::startup::AppState;
use crate::store::NewWorker;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::{Deserialize, Serialize};
use tote_shared::runtime::http::Json;
use tote_shared::runtime::system::now_ms;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    /// User + PIN …
    #[serde(default)]
    pub worker: Option<String>,
    #[serde(default)]
    pub pin: Option<String>,
    /// … or the badge's barcode.
    #[serde(default)]
    pub badge: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct SignedIn {
    pub worker: String,
    pub name: String,
    pub roles: Vec<String>,
    pub expires_ms: i64,
    /// For clients that send `Authorization: Bearer` rather than the cookie.
    pub token: String,
}

fn refused() -> ApiError {
    ApiError::Unauthorized("unknown worker or wrong PIN".into())
}

pub async fn sign_in(State(state): State<AppState>, Json(body): Json<SignIn>) -> Result<Response, ApiError> {
    let now = now_ms();
    let who = match (&body.badge, &body.worker, &body.pin) {
        (Some(badge), None, None) if !badge.is_empty() && badge.len() <= 128 => {
            let found = state.store.credentials_by_badge(auth::sha256_hex(badge.trim())).await?;
            found.ok_or_else(|| ApiError::Unauthorized("this badge is not registered here".into()))?
        }
        (None, Some(worker), Some(pin)) if auth::valid_worker_id(worker) && pin.len() <= 64 => {
            let found = state.store.credentials(worker.clone()).await?.ok_or_else(refused)?;
            if found.locked_until_ms > now {
                let minutes = (found.locked_until_ms - now) / 60_000 + 1;
                return Err(ApiError::Locked(format!("too many wrong PINs: try again in {minutes} min or ask a supervisor")));
            }
            let (pin, hash) = (pin.clone(), found.pin_hash.clone());
            let matches = tokio::task::spawn_blocking(move || auth::pin_matches(&pin, &hash)).await.map_err(|e| ApiError::Internal(e.to_string()))?;
            if !matches {
                state.store.pin_failed(found.id.clone()).await?;
                return Err(refused());
            }
            found
        }
        _ => return Err(ApiError::BadRequest("sign in with {\"badge\"} or {\"worker\", \"pin\"}".into())),
    };
    if !who.active {
        return Err(ApiError::Unauthorized(format!("worker {} is not active", who.id)));
    }
    let token = auth::new_token();
    let minutes = state.settings.auth.session_minutes;
    let session = state.store.open_session(who.id.clone(), auth::sha256_hex(&token), now + minutes as i64 * 60_000).await?;
    tracing::info!(worker = %session.worker, "signed in");
    let cookie = format!("{}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}", auth::COOKIE, minutes * 60);
    let body = SignedIn { worker: session.worker, name: session.name, roles: session.roles, expires_ms: session.expires_ms, token };
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    response.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).map_err(|e| ApiError::Internal(e.to_string()))?);
    Ok(response)
}

#[derive(Debug, Serialize)]
pub struct Me {
    pub worker: String,
    pub name: String,
    pub roles: Vec<String>,
    pub expires_ms: Option<i64>,
    pub warehouse: String,
}

/// Who is signed in (the guard already resolved the caller).
pub async fn me(State(state): State<AppState>, Extension(caller): Extension<Caller>) -> Json<Me> {
    let warehouse = state.settings.warehouse.to_string();
    Json(match caller {
        Caller::System => Me { worker: "system".into(), name: "API token".into(), roles: Role::ALL.iter().map(|r| r.to_string()).collect(), expires_ms: None, warehouse },
        Caller::Worker(w) => Me { worker: w.worker, name: w.name, roles: w.roles, expires_ms: Some(w.expires_ms), warehouse },
    })
}

pub async fn sign_out(State(state): State<AppState>, request: Request) -> Result<Response, ApiError> {
    let token = auth::token(&request);
    drop(request);
    if let Some(token) = token {
        state.store.close_session(auth::sha256_hex(&token)).await?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    let expired = format!("{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0", auth::COOKIE);
    response.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&expired).map_err(|e| ApiError::Internal(e.to_string()))?);
    Ok(response)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewWorkerRequest {
    pub id: String,
    pub name: String,
    pub pin: String,
    #[serde(default)]
    pub badge: Option<String>,
    pub roles: Vec<String>,
}

pub async fn create_worker(State(state): State<AppState>, Extension(caller): Extension<Caller>, Json(body): Json<NewWorkerRequest>) -> Result<Response, ApiError> {
    if !auth::valid_worker_id(&body.id) {
        return Err(ApiError::Unprocessable("worker id: 1 to 32 letters, digits, '.', '_' or '-'".into()));
    }
    if body.name.trim().is_empty() || body.name.len() > 80 {
        return Err(ApiError::Unprocessable("name: 1 to 80 characters".into()));
    }
    if !auth::valid_pin(&body.pin) {
        return Err(ApiError::Unprocessable("PIN: 4 to 12 digits".into()));
    }
    if body.roles.is_empty() || !body.roles.iter().all(|r| Role::ALL.contains(&r.as_str())) {
        return Err(ApiError::Unprocessable(format!("roles: one or more of {}", Role::ALL.join(", "))));
    }
    let badge = match body.badge.as_deref().map(str::trim) {
        Some(b) if b.len() < 6 || b.len() > 128 => return Err(ApiError::Unprocessable("badge: 6 to 128 characters".into())),
        other => other.map(auth::sha256_hex),
    };
    let pin = body.pin.clone();
    let pin_hash = tokio::task::spawn_blocking(move || auth::hash_pin(&pin)).await.map_err(|e| ApiError::Internal(e.to_string()))??;
    let worker = NewWorker { id: body.id, name: body.name.trim().to_owned(), pin_hash, badge_sha256: badge, roles: body.roles };
    let created = state.store.create_worker(worker).await?;
    tracing::info!(worker = %created.id, by = %caller.name(), "worker created");
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

pub async fn workers(State(state): State<AppState>) -> Result<Json<Vec<crate::store::WorkerRecord>>, ApiError> {
    Ok(Json(state.store.workers().await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActiveRequest {
    pub active: bool,
}

/// Supervisor: take a worker off (every session ends at once; a lockout is lifted) or back on.
pub async fn set_active(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    tote_shared::runtime::http::Path(id): tote_shared::runtime::http::Path<String>,
    Json(body): Json<ActiveRequest>,
) -> Result<Json<crate::store::WorkerRecord>, ApiError> {
    if !auth::valid_worker_id(&id) {
        return Err(ApiError::NotFound(format!("worker {:?}", id.chars().take(40).collect::<String>())));
    }
    let worker = state.store.set_worker_active(id, body.active).await?;
    tracing::info!(worker = %worker.id, active = body.active, by = %caller.name(), "worker active state changed");
    Ok(Json(worker))
}
