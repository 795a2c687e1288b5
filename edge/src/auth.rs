//! Who is calling the edge: a worker signed in on a handheld (session cookie or bearer session
//! token), or station software / an integration with the configured API token. Every route's
//! access is in one table (`access`), checked by one middleware (`guard`).
//!
//! PINs are hashed with Argon2id (the `argon2` crate: memory-hard, the OWASP recommendation);
//! five wrong PINs in a row lock a worker out for five minutes. Session tokens are 256 random
//! bits; only their SHA-256 is stored, so a copy of the database signs nobody in. Badges are
//! looked up by SHA-256 (a badge is an identifier printed on a card, not a secret to stretch).

use crate::http::error::ApiError;
use crate::startup::AppState;
use crate::store::{NewWorker, SessionWorker};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::{Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::Response;
use secrecy::ExposeSecret;

pub const COOKIE: &str = "tote_session";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Receiver,
    Picker,
    Packer,
    Supervisor,
}

impl Role {
    pub const ALL: [&'static str; 4] = ["receiver", "picker", "packer", "supervisor"];

    fn name(self) -> &'static str {
        match self {
            Role::Receiver => "receiver",
            Role::Picker => "picker",
            Role::Packer => "packer",
            Role::Supervisor => "supervisor",
        }
    }
}

/// The caller of a request, put in its extensions by `guard`.
#[derive(Debug, Clone)]
pub enum Caller {
    /// The API token: station software, integrations, tests. Every role.
    System,
    Worker(SessionWorker),
}

impl Caller {
    pub fn has(&self, role: Role) -> bool {
        match self {
            Caller::System => true,
            Caller::Worker(w) => w.roles.iter().any(|r| r == role.name() || r == "supervisor"),
        }
    }

    /// Who sent a keyed request, for its fingerprint: the same key from another caller is
    /// another request. A worker id can be `api-token` but never holds ':', hence the prefix.
    pub fn idempotency_caller(&self) -> String {
        match self {
            Caller::System => "api-token".into(),
            Caller::Worker(w) => format!("worker:{}", w.worker),
        }
    }

    /// Who did it, for logs and movement references.
    pub fn name(&self) -> String {
        match self {
            Caller::System => "system".into(),
            Caller::Worker(w) => w.worker.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Public,
    SignedIn,
    Role(Role),
}

/// Who may call what. GETs need a signed-in caller; every change needs the role that does that
/// work (a supervisor has them all); sign-in itself and the pages are public.
fn access(method: &Method, path: &str) -> Access {
    use Role::*;
    // Signing in and out need no session; who am I (GET) does.
    if !path.starts_with("/api/") || (path == "/api/v1/session" && method != Method::GET) {
        return Access::Public;
    }
    if method == Method::GET {
        return Access::SignedIn;
    }
    match path {
        "/api/v1/receipts" | "/api/v1/moves" => Access::Role(Receiver),
        "/api/v1/pick-tasks/{id}/scan" | "/api/v1/pick-tasks/{id}/short" => Access::Role(Picker),
        "/api/v1/orders/{id}/pack" | "/api/v1/orders/{id}/ship" => Access::Role(Packer),
        "/api/v1/counts" | "/api/v1/counts/{id}/submit" => Access::SignedIn,
        _ => Access::Role(Supervisor),
    }
}

pub use tote_shared::runtime::secrets::sha256_hex;
use tote_shared::runtime::secrets::same_secret as same;

/// The session token of a request: `Authorization: Bearer …` or the session cookie.
pub fn token(request: &Request) -> Option<String> {
    let headers = request.headers();
    if let Some(bearer) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")) {
        return Some(bearer.trim().to_owned());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(COOKIE).and_then(|rest| rest.strip_prefix('=')))
        .map(str::to_owned)
}

/// The middleware: resolves the caller, checks the route's access, passes the caller on.
pub async fn guard(State(state): State<AppState>, mut request: Request, next: Next) -> Result<Response, ApiError> {
    let path = request.extensions().get::<axum::extract::MatchedPath>().map(|m| m.as_str().to_owned()).unwrap_or_else(|| request.uri().path().to_owned());
    let needed = access(request.method(), &path);
    if needed == Access::Public {
        return Ok(next.run(request).await);
    }
    let caller = caller(&state, token(&request)).await?.ok_or_else(|| ApiError::Unauthorized("sign in first (session expired or missing)".into()))?;
    if let Access::Role(role) = needed {
        if !caller.has(role) {
            return Err(ApiError::Forbidden(format!("{} may not do this: it needs the {} role", caller.name(), role.name())));
        }
    }
    request.extensions_mut().insert(caller);
    Ok(next.run(request).await)
}

/// The caller a token stands for (the API token, or a live session's worker).
async fn caller(state: &AppState, token: Option<String>) -> Result<Option<Caller>, ApiError> {
    let Some(token) = token else { return Ok(None) };
    if token.is_empty() || token.len() > 256 {
        return Ok(None);
    }
    if let Some(api) = &state.settings.auth.api_token {
        if same(&token, api.expose_secret()) {
            return Ok(Some(Caller::System));
        }
    }
    Ok(state.store.session(sha256_hex(&token)).await?.map(Caller::Worker))
}

/// Argon2id PHC string for a PIN (blocking work: call from `spawn_blocking`).
pub fn hash_pin(pin: &str) -> Result<String, ApiError> {
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| ApiError::Internal(e.to_string()))?;
    Argon2::default().hash_password(pin.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| ApiError::Internal(e.to_string()))
}

pub fn pin_matches(pin: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| Argon2::default().verify_password(pin.as_bytes(), &h).is_ok())
}

/// A fresh session token: 256 random bits, hex.
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn valid_pin(pin: &str) -> bool {
    (4..=12).contains(&pin.len()) && pin.bytes().all(|b| b.is_ascii_digit())
}

pub fn valid_worker_id(id: &str) -> bool {
    (1..=32).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// On first start with no workers: the configured supervisor, with the configured PIN.
pub async fn bootstrap(state: &AppState) -> anyhow::Result<()> {
    let auth = &state.settings.auth;
    let (Some(id), Some(pin)) = (&auth.bootstrap_supervisor, &auth.bootstrap_pin) else { return Ok(()) };
    if state.store.worker_count().await? > 0 {
        return Ok(());
    }
    let pin = pin.expose_secret().to_owned();
    let pin_hash = tokio::task::spawn_blocking(move || hash_pin(&pin)).await?.map_err(|e| anyhow::anyhow!("{e}"))?;
    let worker = NewWorker { id: id.clone(), name: id.clone(), pin_hash, badge_sha256: None, roles: vec!["supervisor".into()] };
    state.store.create_worker(worker).await?;
    tracing::info!(supervisor = %id, "first start: supervisor created from [auth] bootstrap settings");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_hash_with_a_fresh_salt_and_verify() {
        let a = hash_pin("4321").expect("hash");
        let b = hash_pin("4321").expect("hash");
        assert!(a.starts_with("$argon2id$") && a != b, "salted: {a} {b}");
        assert!(pin_matches("4321", &a) && !pin_matches("4322", &a) && !pin_matches("4321", "not a hash"));
    }

    #[test]
    fn every_change_needs_a_role_and_reads_need_a_session() {
        assert_eq!(access(&Method::POST, "/api/v1/session"), Access::Public);
        assert_eq!(access(&Method::DELETE, "/api/v1/session"), Access::Public);
        assert_eq!(access(&Method::GET, "/api/v1/session"), Access::SignedIn);
        assert_eq!(access(&Method::GET, "/"), Access::Public);
        assert_eq!(access(&Method::GET, "/api/v1/stock"), Access::SignedIn);
        assert_eq!(access(&Method::POST, "/api/v1/receipts"), Access::Role(Role::Receiver));
        assert_eq!(access(&Method::POST, "/api/v1/pick-tasks/{id}/scan"), Access::Role(Role::Picker));
        assert_eq!(access(&Method::POST, "/api/v1/orders/{id}/ship"), Access::Role(Role::Packer));
        assert_eq!(access(&Method::POST, "/api/v1/adjustments"), Access::Role(Role::Supervisor));
        assert_eq!(access(&Method::POST, "/api/v1/counts/{id}/decide"), Access::Role(Role::Supervisor));
        assert_eq!(access(&Method::POST, "/api/v1/something-new"), Access::Role(Role::Supervisor), "new routes default to supervisor");
    }

    #[test]
    fn ids_and_pins() {
        assert!(valid_pin("0420") && !valid_pin("42") && !valid_pin("12a4") && !valid_pin("1234567890123"));
        assert!(valid_worker_id("li.wei-2") && !valid_worker_id("") && !valid_worker_id("a b") && !valid_worker_id(&"x".repeat(33)));
    }
}
