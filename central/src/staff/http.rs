//! Signing in and out (`/api/v1/session`), HQ users and API tokens (`/api/v1/staff/…`, admin),
//! and a user's own password and second factor.
//!
//! Sign-in is where an unauthenticated caller can make central work hard, so it is bounded as
//! on the edge: one sign-in at a time per user id (`Turns`), the attempt counted in the
//! database *before* the password is compared (five in a row lock the user out for 15 minutes,
//! however many arrive at once), at most `auth.max_concurrent_hashes` Argon2 comparisons with a
//! bounded queue (503 past it), and unknown or locked users compared against a decoy so every
//! refusal takes as long and says the same.

use super::{parse_roles, store, totp, ApiToken, Role, User};
use crate::auth::{hash_token, Admin, Caller, Origin, Reader};
use crate::db::DbError;
use crate::http::error::ApiError;
use crate::startup::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use tote_shared::openapi as doc;
use tote_shared::runtime::http::{Json, Path};
use tote_shared::runtime::password::{new_token, Against, Hasher, Turns};
use tote_shared::runtime::system::now_ms;

/// Sign-in's bounds (see the module doc).
pub struct SignInLimits {
    pub turns: Turns,
    pub hasher: Hasher,
}

impl SignInLimits {
    /// Blocking (one Argon2 hash for the decoy): call from `spawn_blocking` or at startup.
    pub fn new(settings: &crate::config::AuthSettings) -> anyhow::Result<SignInLimits> {
        Ok(SignInLimits {
            turns: Turns::new(256),
            hasher: Hasher::new(settings.max_concurrent_hashes, settings.max_waiting_hashes)?,
        })
    }
}

fn refused() -> ApiError {
    ApiError::SignInRefused(
        "unknown user, wrong password or code, or locked out for a while".into(),
    )
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    #[schema(pattern = "^[A-Za-z0-9._-]{1,32}$", max_length = 32)]
    pub user: String,
    #[schema(max_length = 128)]
    pub password: String,
    /// The authenticator app's six digits, for users with a second factor.
    #[serde(default)]
    #[schema(pattern = "^[0-9]{6}$")]
    pub totp: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Session {
    pub user: String,
    pub name: String,
    #[schema(value_type = Vec<String>)]
    pub roles: Vec<String>,
    pub expires_ms: Option<i64>,
    /// What a change made with the session cookie echoes in `X-CSRF-Token` (absent for
    /// bearer callers, who need none).
    pub csrf: Option<String>,
    /// The session token, for clients that send `Authorization: Bearer` (sign-in only).
    pub token: Option<String>,
}

fn secure(state: &AppState) -> &'static str {
    if state.settings.http.secure_cookies || state.settings.http.tls.is_some() {
        "; Secure"
    } else {
        ""
    }
}

/// Signs an HQ user in: the session token comes back in the body (for `Authorization: Bearer`)
/// and as the `tote_hq` cookie (HttpOnly, SameSite=Strict), with the CSRF token cookie writes
/// echo. Every refusal answers alike (401).
#[utoipa::path(post, path = "/api/v1/session", request_body = SignIn, security(()),
    responses((status = 201, body = Session, headers(("set-cookie" = String, description = "tote_hq=<token>; HttpOnly; SameSite=Strict"))),
        doc::JsonBody, doc::Unauthorized,
        (status = 503, description = "too many sign-ins waiting for a password comparison: try again after Retry-After", body = doc::ProblemSchema, content_type = "application/problem+json", headers(("retry-after" = u32)))),
    tag = "staff")]
pub async fn sign_in(
    State(state): State<AppState>,
    Origin(from): Origin,
    Json(body): Json<SignIn>,
) -> Result<Response, ApiError> {
    if !super::valid_id(&body.user)
        || body.password.chars().count() > 128
        || body.totp.as_ref().is_some_and(|c| c.len() > 6)
    {
        return Err(ApiError::BadRequest(
            "sign in with {\"user\", \"password\"} and, if you have one, \"totp\"".into(),
        ));
    }
    let limits = &state.sign_in;
    let _turn = limits.turns.one_at_a_time(&body.user).await;
    let now = now_ms();
    let Some(slot) = limits.hasher.queue() else {
        return Err(ApiError::Busy(
            "too many sign-ins at once: try again in a second".into(),
        ));
    };
    let user = body.user.clone();
    let attempt = state
        .db
        .write(move |tx| store::count_attempt(tx, &user, now))
        .await?;
    let (against, found) = match attempt {
        store::Attempt::Counted(found) => {
            (Against::Stored(found.password_hash.clone()), Some(found))
        }
        store::Attempt::Locked | store::Attempt::UnknownUser => (Against::Decoy, None),
    };
    let matches = limits
        .hasher
        .verify(slot, body.password.clone(), against)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let who = match found {
        Some(found) if matches && found.active => found,
        _ => {
            tracing::info!(user = %body.user, "HQ sign-in refused");
            return Err(refused());
        }
    };
    let step = match &who.totp_secret {
        None => None,
        Some(secret) => {
            let secret = totp::unhex(secret).ok_or_else(|| {
                ApiError::Internal(format!("user {}: stored TOTP secret is not hex", who.id))
            })?;
            match body
                .totp
                .as_deref()
                .and_then(|code| totp::check(&secret, code, now, who.totp_last_step))
            {
                Some(step) => Some(step),
                None => return Err(refused()),
            }
        }
    };
    let (token, csrf) = (new_token(), new_token());
    let expires = now + i64::from(state.settings.auth.session_minutes) * 60_000;
    let (id, token_hash, csrf_stored) = (who.id.clone(), hash_token(&token), csrf.clone());
    let opened = state
        .db
        .write(move |tx| -> Result<bool, DbError> {
            if let Some(step) = step {
                if !store::use_totp_step(tx, &id, step)? {
                    return Ok(false);
                }
            }
            store::open_session(tx, &id, &token_hash, &csrf_stored, &from, now, expires)?;
            crate::audit::store::append(
                tx,
                now,
                &format!("user:{id}"),
                "signed_in",
                &format!("user:{id}"),
                &serde_json::json!({ "origin": from, "totp": step.is_some() }),
            )?;
            Ok(true)
        })
        .await?;
    if !opened {
        return Err(refused());
    }
    tracing::info!(user = %who.id, "HQ user signed in");
    let cookie = format!(
        "{}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        crate::auth::COOKIE,
        i64::from(state.settings.auth.session_minutes) * 60,
        secure(&state)
    );
    let body = Session {
        user: who.id,
        name: who.name,
        roles: who.roles.iter().map(|r| r.as_str().to_owned()).collect(),
        expires_ms: Some(expires),
        csrf: Some(csrf),
        token: Some(token),
    };
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(|e| ApiError::Internal(e.to_string()))?,
    );
    Ok(response)
}

/// Who is calling (the guard resolved it): a user's roles and, on the cookie, the CSRF token.
#[utoipa::path(get, path = "/api/v1/session", responses((status = 200, body = Session), doc::Unauthorized), tag = "staff")]
pub async fn me(Extension(caller): Extension<Caller>) -> Json<Session> {
    Json(Session {
        user: caller
            .user_id()
            .map_or_else(|| caller.actor.clone(), str::to_owned),
        name: caller.name.clone().unwrap_or_else(|| caller.actor.clone()),
        roles: caller.roles.iter().map(|r| r.as_str().to_owned()).collect(),
        expires_ms: caller.expires_ms,
        csrf: caller.csrf.clone(),
        token: None,
    })
}

/// Ends the session the request carries (if any) and expires the cookie.
#[utoipa::path(delete, path = "/api/v1/session", security(()), responses((status = 204, description = "signed out", headers(("set-cookie" = String)))), tag = "staff")]
pub async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let token = bearer
        .or_else(|| crate::auth::session_cookie(&headers))
        .map(hash_token);
    if let Some(hash) = token {
        state
            .db
            .write(move |tx| store::close_session(tx, &hash))
            .await?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    let expired = format!(
        "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        crate::auth::COOKIE,
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
pub struct NewUser {
    #[schema(pattern = "^[A-Za-z0-9._-]{1,32}$", max_length = 32)]
    pub id: String,
    #[schema(value_type = doc::Text80)]
    pub name: String,
    #[schema(min_length = 12, max_length = 128)]
    pub password: String,
    #[schema(value_type = Vec<String>, min_items = 1)]
    pub roles: Vec<String>,
}

fn unprocessable(why: String) -> ApiError {
    ApiError::unprocessable("invalid-field", why)
}

/// Admin: a new HQ user with a password (Argon2id) and roles.
#[utoipa::path(post, path = "/api/v1/staff/users", request_body = NewUser,
    responses((status = 201, body = User), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::Conflict, doc::Unavailable), tag = "staff")]
pub async fn create_user(
    _: Admin,
    State(state): State<AppState>,
    Json(body): Json<NewUser>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    if !super::valid_id(&body.id) {
        return Err(unprocessable(
            "id: 1 to 32 letters, digits, '.', '_' or '-'".into(),
        ));
    }
    crate::http::check_text("name", &body.name, 80)?;
    super::check_password(&body.password).map_err(unprocessable)?;
    let roles = parse_roles(&body.roles).map_err(unprocessable)?;
    let hash = state
        .sign_in
        .hasher
        .hash(body.password)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let now = now_ms();
    let (id, name) = (body.id, body.name.trim().to_owned());
    let made = state
        .db
        .write(move |tx| -> Result<_, DbError> {
            Ok(if store::create_user(tx, &id, &name, &hash, &roles, now)? {
                store::get_user(tx, &id)?
            } else {
                None
            })
        })
        .await?;
    made.map(|u| (StatusCode::CREATED, Json(u)))
        .ok_or_else(|| ApiError::Conflict {
            slug: "user-exists",
            detail: "a user with this id exists".into(),
        })
}

#[utoipa::path(get, path = "/api/v1/staff/users", responses((status = 200, body = Vec<User>), doc::Unauthorized, doc::Forbidden, doc::Unavailable), tag = "staff")]
pub async fn users(_: Reader, State(state): State<AppState>) -> Result<Json<Vec<User>>, ApiError> {
    Ok(Json(state.db.read(store::users).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>, min_items = 1)]
    pub roles: Option<Vec<String>>,
    /// False takes the user off: every session ends at once. True puts them back (and lifts a
    /// lockout).
    #[serde(default)]
    pub active: Option<bool>,
}

fn user_path(id: &str) -> Result<(), ApiError> {
    if super::valid_id(id) {
        Ok(())
    } else {
        Err(ApiError::NotFound(format!(
            "user {:?}",
            id.chars().take(40).collect::<String>()
        )))
    }
}

/// Admin: a user's roles, or taking them off and back on.
#[utoipa::path(put, path = "/api/v1/staff/users/{id}", params(("id" = String, Path, pattern = "^[A-Za-z0-9._-]{1,32}$")), request_body = UserChange,
    responses((status = 200, body = User), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Unavailable), tag = "staff")]
pub async fn edit_user(
    Admin(caller): Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<UserChange>,
) -> Result<Json<User>, ApiError> {
    user_path(&id)?;
    let roles = body
        .roles
        .as_deref()
        .map(parse_roles)
        .transpose()
        .map_err(unprocessable)?;
    if caller.user_id() == Some(id.as_str())
        && (body.active == Some(false) || roles.as_ref().is_some_and(|r| !r.contains(&Role::Admin)))
    {
        return Err(ApiError::unprocessable(
            "own-admin",
            "an admin cannot take their own admin role or account away: another admin must",
        ));
    }
    let label = id.clone();
    let changed = state
        .db
        .write(move |tx| store::edit_user(tx, &id, roles.as_deref(), body.active))
        .await?;
    changed
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("user {label}")))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPassword {
    /// The user's current password (a user changing their own), absent for an admin setting
    /// another user's.
    #[serde(default)]
    #[schema(max_length = 128)]
    pub current: Option<String>,
    #[schema(min_length = 12, max_length = 128)]
    pub password: String,
}

/// A new password: the user themself (with the current one) or an admin. Every session of
/// the user ends.
#[utoipa::path(post, path = "/api/v1/staff/users/{id}/password", params(("id" = String, Path, pattern = "^[A-Za-z0-9._-]{1,32}$")), request_body = NewPassword,
    responses((status = 204, description = "changed; the user's sessions ended"), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Unavailable), tag = "staff")]
pub async fn set_password(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Json(body): Json<NewPassword>,
) -> Result<StatusCode, ApiError> {
    user_path(&id)?;
    super::check_password(&body.password).map_err(unprocessable)?;
    let own = caller.user_id() == Some(id.as_str());
    if !own && !caller.roles.contains(&Role::Admin) {
        return Err(ApiError::Forbidden(format!(
            "{} may change only their own password",
            caller.actor
        )));
    }
    // Your own password needs the current one, admin or not: a session left open is not enough.
    if own {
        check_current(&state, &id, body.current.as_deref().unwrap_or("")).await?;
    }
    let hash = state
        .sign_in
        .hasher
        .hash(body.password)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let label = id.clone();
    let changed = state
        .db
        .write(move |tx| store::set_password(tx, &id, &hash))
        .await?;
    if changed {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!("user {label}")))
    }
}

/// The user's current password, compared under sign-in's bounds (a wrong one counts as a
/// failed sign-in: changing a password is no way round the lockout).
async fn check_current(state: &AppState, id: &str, current: &str) -> Result<(), ApiError> {
    let limits = &state.sign_in;
    let _turn = limits.turns.one_at_a_time(id).await;
    let Some(slot) = limits.hasher.queue() else {
        return Err(ApiError::Busy(
            "too many sign-ins at once: try again in a second".into(),
        ));
    };
    let (user, now) = (id.to_owned(), now_ms());
    let attempt = state
        .db
        .write(move |tx| {
            // Counting the try is no change the caller asked for: not the request's audit entry.
            crate::db::unaudited();
            store::count_attempt(tx, &user, now)
        })
        .await?;
    let store::Attempt::Counted(found) = attempt else {
        return Err(refused());
    };
    if !limits
        .hasher
        .verify(
            slot,
            current.to_owned(),
            Against::Stored(found.password_hash),
        )
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
    {
        return Err(ApiError::Forbidden("the current password is wrong".into()));
    }
    Ok(())
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TotpEnrolment {
    /// The secret in base32, for typing into an authenticator app.
    pub secret: String,
    /// The `otpauth://` URI to show as a QR code.
    pub uri: String,
}

/// A signed-in user starts their second factor: a new secret, taken into use once a code from
/// it is confirmed (`…/totp/confirm`).
#[utoipa::path(post, path = "/api/v1/staff/me/totp", responses((status = 201, body = TotpEnrolment), doc::Unauthorized, doc::Forbidden, doc::Unavailable), tag = "staff")]
pub async fn begin_totp(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<(StatusCode, Json<TotpEnrolment>), ApiError> {
    let id = caller
        .user_id()
        .ok_or_else(|| ApiError::Forbidden("a second factor is for users, not tokens".into()))?
        .to_owned();
    let secret = totp::new_secret();
    let (user, hex) = (id.clone(), totp::hex(&secret));
    let begun = state
        .db
        .write(move |tx| store::begin_totp(tx, &user, &hex))
        .await?;
    if !begun {
        return Err(ApiError::Conflict {
            slug: "totp-on",
            detail:
                "a second factor is on already: an admin removes it before a new one is enrolled"
                    .into(),
        });
    }
    Ok((
        StatusCode::CREATED,
        Json(TotpEnrolment {
            secret: totp::base32(&secret),
            uri: totp::uri("Tote HQ", &id, &secret),
        }),
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpConfirm {
    #[schema(pattern = "^[0-9]{6}$")]
    pub code: String,
}

/// The code from the app proves the secret was taken in: sign-in asks for codes from now on.
#[utoipa::path(post, path = "/api/v1/staff/me/totp/confirm", request_body = TotpConfirm,
    responses((status = 204, description = "the second factor is on"), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::Unavailable), tag = "staff")]
pub async fn confirm_totp(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Json(body): Json<TotpConfirm>,
) -> Result<StatusCode, ApiError> {
    let id = caller
        .user_id()
        .ok_or_else(|| ApiError::Forbidden("a second factor is for users, not tokens".into()))?
        .to_owned();
    let now = now_ms();
    let done = state
        .db
        .write(move |tx| -> Result<bool, DbError> {
            let Some(pending) = store::pending_totp(tx, &id)?.and_then(|h| totp::unhex(&h)) else {
                return Ok(false);
            };
            match totp::check(&pending, &body.code, now, 0) {
                Some(step) => store::confirm_totp(tx, &id, step).map(|()| true),
                None => Ok(false),
            }
        })
        .await?;
    if done {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::unprocessable(
            "wrong-code",
            "no enrolment under way, or the code does not match it",
        ))
    }
}

/// Admin: removes a user's second factor (a lost phone).
#[utoipa::path(delete, path = "/api/v1/staff/users/{id}/totp", params(("id" = String, Path, pattern = "^[A-Za-z0-9._-]{1,32}$")),
    responses((status = 204, description = "removed"), doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Unavailable), tag = "staff")]
pub async fn remove_totp(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    user_path(&id)?;
    let label = id.clone();
    if state
        .db
        .write(move |tx| store::remove_totp(tx, &id))
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!("user {label}")))
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// The integration's name, e.g. `erp` (1 to 32 letters, digits, '.', '_' or '-').
    #[schema(pattern = "^[A-Za-z0-9._-]{1,32}$", max_length = 32)]
    pub id: String,
    /// Roles the token acts in.
    #[schema(value_type = Vec<String>, min_items = 1)]
    pub scopes: Vec<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MadeToken {
    #[serde(flatten)]
    pub token: ApiToken,
    /// The bearer secret: shown this once, stored only as its hash.
    pub secret: String,
}

/// Admin: an API token for an integration, with scopes. The secret is in this answer only.
#[utoipa::path(post, path = "/api/v1/staff/tokens", request_body = NewToken,
    responses((status = 201, body = MadeToken), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::Conflict, doc::Unavailable), tag = "staff")]
pub async fn create_token(
    Admin(caller): Admin,
    State(state): State<AppState>,
    Json(body): Json<NewToken>,
) -> Result<(StatusCode, Json<MadeToken>), ApiError> {
    if !super::valid_id(&body.id) {
        return Err(unprocessable(
            "id: 1 to 32 letters, digits, '.', '_' or '-'".into(),
        ));
    }
    let scopes = parse_roles(&body.scopes).map_err(unprocessable)?;
    let secret = new_token();
    let (hash, by, now, id) = (hash_token(&secret), caller.actor.clone(), now_ms(), body.id);
    let made = state
        .db
        .write(move |tx| -> Result<_, DbError> {
            if !store::create_token(tx, &id, &hash, &scopes, &by, now)? {
                return Ok(None);
            }
            Ok(store::tokens(tx)?.into_iter().find(|t| t.id == id))
        })
        .await?;
    let token = made.ok_or_else(|| ApiError::Conflict {
        slug: "token-exists",
        detail: "a token with this id exists (revoked ones keep their id)".into(),
    })?;
    Ok((StatusCode::CREATED, Json(MadeToken { token, secret })))
}

#[utoipa::path(get, path = "/api/v1/staff/tokens", responses((status = 200, body = Vec<ApiToken>), doc::Unauthorized, doc::Forbidden, doc::Unavailable), tag = "staff")]
pub async fn tokens(
    _: Reader,
    State(state): State<AppState>,
) -> Result<Json<Vec<ApiToken>>, ApiError> {
    Ok(Json(state.db.read(store::tokens).await?))
}

/// Admin: revokes a token at once.
#[utoipa::path(delete, path = "/api/v1/staff/tokens/{id}", params(("id" = String, Path, pattern = "^[A-Za-z0-9._-]{1,32}$")),
    responses((status = 200, body = ApiToken), doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Unavailable), tag = "staff")]
pub async fn revoke_token(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ApiToken>, ApiError> {
    user_path(&id)?;
    let (label, now) = (id.clone(), now_ms());
    let revoked = state
        .db
        .write(move |tx| store::revoke_token(tx, &id, now))
        .await?;
    revoked
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("token {label}")))
}

/// On first start with no HQ users: the configured admin, with the configured password.
pub async fn bootstrap(state: &AppState) -> anyhow::Result<()> {
    let auth = &state.settings.auth;
    let (Some(id), Some(password)) = (auth.bootstrap_admin.clone(), &auth.bootstrap_password)
    else {
        return Ok(());
    };
    if state.db.read(store::count_users).await? > 0 {
        return Ok(());
    }
    let hash = state
        .sign_in
        .hasher
        .hash(password.expose_secret().to_owned())
        .await?;
    let (now, user) = (now_ms(), id.clone());
    state
        .db
        .write(move |tx| store::create_user(tx, &user, &user, &hash, &[Role::Admin], now))
        .await?;
    tracing::info!(admin = %id, "first start: HQ admin created from [auth] bootstrap settings");
    Ok(())
}
