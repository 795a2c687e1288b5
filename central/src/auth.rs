//! Who is calling: HQ staff and systems (admin or read-only bearer tokens from config) and
//! edges (each with its own token, stored hashed per warehouse).

use crate::http::error::ApiError;
use crate::startup::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use secrecy::ExposeSecret;
use tote_shared::runtime::http::bearer_token;
use tote_shared::WarehouseCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    ReadOnly,
}

/// Any HQ caller (admin or read-only).
pub struct Reader(pub Role);
/// An HQ caller allowed to change things.
pub struct Admin;
/// An edge daemon, authenticated as the warehouse it runs.
pub struct Edge(pub WarehouseCode);
/// A supplier's system on the supplier API, authenticated by its own credential, in a state
/// that may use the API (approved or suspended).
pub struct SupplierCaller(pub String);
/// A scraper of `/metrics`: anyone while `auth.metrics_token` is unset, else only its holder.
pub struct MetricsScraper;

/// What central stores of an edge's credential.
pub use tote_shared::runtime::secrets::sha256_hex as hash_token;
use tote_shared::runtime::secrets::same_secret as same;

fn role_of(parts: &Parts, state: &AppState) -> Result<Role, ApiError> {
    let token = bearer_token(parts).ok_or(ApiError::Unauthorized)?;
    if same(token, state.settings.auth.admin_token.expose_secret()) {
        Ok(Role::Admin)
    } else if same(token, state.settings.auth.read_token.expose_secret()) {
        Ok(Role::ReadOnly)
    } else {
        Err(ApiError::Unauthorized)
    }
}

/// Who is calling, as idempotency keys are scoped: `admin`, `reader`, `token:` and the start
/// of another bearer token's hash (a supplier: each its own scope, so one supplier's keys never
/// meet another's), or `anonymous` (a request the extractors then refuse).
pub fn caller_name(parts: &Parts, state: &AppState) -> String {
    match role_of(parts, state) {
        Ok(Role::Admin) => "admin".into(),
        Ok(Role::ReadOnly) => "reader".into(),
        Err(_) => match bearer_token(parts) {
            Some(token) => format!("token:{}", &hash_token(token)[..32]),
            None => "anonymous".into(),
        },
    }
}

impl FromRequestParts<AppState> for Reader {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        role_of(parts, state).map(Reader)
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match role_of(parts, state)? {
            Role::Admin => Ok(Admin),
            Role::ReadOnly => Err(ApiError::Forbidden("this token is read-only".into())),
        }
    }
}

impl FromRequestParts<AppState> for Edge {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(parts).ok_or(ApiError::Unauthorized)?;
        let hash = hash_token(token);
        let found = state.db.read(move |tx| -> Result<_, crate::db::DbError> { crate::warehouses::store::by_token(tx, &hash) }).await?;
        match found {
            Some(code) => Ok(Edge(code)),
            None => Err(ApiError::Unauthorized),
        }
    }
}

impl FromRequestParts<AppState> for SupplierCaller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(parts).ok_or(ApiError::Unauthorized)?;
        let hash = hash_token(token);
        let found = state.db.read(move |tx| -> Result<_, crate::db::DbError> { crate::supplier::store::by_token(tx, &hash) }).await?;
        match found {
            Some((id, s)) if crate::supplier::may_use_api(s) => Ok(SupplierCaller(id)),
            Some((id, s)) => Err(ApiError::Forbidden(format!("supplier {id} is {}", s.as_str()))),
            None => Err(ApiError::Unauthorized),
        }
    }
}

impl FromRequestParts<AppState> for MetricsScraper {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match &state.settings.auth.metrics_token {
            None => Ok(MetricsScraper),
            Some(token) if bearer_token(parts).is_some_and(|presented| same(presented, token.expose_secret())) => Ok(MetricsScraper),
            Some(_) => Err(ApiError::Unauthorized),
        }
    }
}
