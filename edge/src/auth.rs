//! Who is calling the edge: a worker signed in on a handheld (session cookie or bearer session
//! token), or station software / an integration with the configured API token. Every route's
//! access is in one table (`access`), checked by one middleware (`guard`).
//!
//! PINs are hashed with Argon2id (`tote_shared::runtime::password`: memory-hard, the OWASP recommendation);
//! five wrong PINs in a row lock a worker out for five minutes. Session tokens are 256 random
//! bits; only their SHA-256 is stored, so a copy of the database signs nobody in. Badges are
//! looked up by SHA-256 (a badge is an identifier printed on a card, not a secret to stretch).
//!
//! Sign-in is where an unauthenticated caller can make the edge work hard, so `SignInLimits`
//! bounds it: a worker's sign-ins run one at a time (a striped lock) and each attempt is
//! counted in the store *before* its PIN is compared, so a burst gets five tries, not one per
//! request in flight; at most `auth.max_concurrent_hashes` Argon2 comparisons run at once
//! (each holds ~19 MiB), with a bounded queue behind them — past it the answer is 503 at once;
//! unknown and locked workers cost a decoy comparison, so they take as long as a wrong PIN and
//! get the same answer; failed badge look-ups are limited per minute for the whole edge. This
//! module holds no SQL: the attempt count lives in `store::workers`.

use crate::http::error::ApiError;
use crate::startup::AppState;
use crate::store::{NewWorker, SessionWorker};
use axum::extract::{Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::Response;
use secrecy::ExposeSecret;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use tote_shared::runtime::password::{Hasher, Turns};

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
            Caller::Worker(w) => w
                .roles
                .iter()
                .any(|r| r == role.name() || r == "supervisor"),
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

    /// The signed-in worker, if it is one (not the API token).
    pub fn worker(&self) -> Option<String> {
        match self {
            Caller::System => None,
            Caller::Worker(w) => Some(w.worker.clone()),
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
    /// `/metrics`: public unless `auth.metrics_token` is set, then only for its holder.
    Metrics,
    SignedIn,
    Role(Role),
}

/// Who may call what. GETs need a signed-in caller; every change needs the role that does that
/// work (a supervisor has them all); sign-in itself and the pages are public.
fn access(method: &Method, path: &str) -> Access {
    use Role::*;
    if path == "/metrics" {
        return Access::Metrics;
    }
    // Signing in and out need no session; who am I (GET) does. The API's description is public.
    if !path.starts_with("/api/")
        || (path == "/api/v1/session" && method != Method::GET)
        || path == "/api/v1/openapi.json"
    {
        return Access::Public;
    }
    if method == Method::GET {
        // Who may sign in to the robots' broker is for supervisors only.
        return if path == "/api/v1/mqtt/logins" {
            Access::Role(Supervisor)
        } else {
            Access::SignedIn
        };
    }
    match path {
        "/api/v1/receipts"
        | "/api/v1/moves"
        | "/api/v1/replenishments/{id}/scan"
        | "/api/v1/dock/appointments/{id}/arrive"
        | "/api/v1/dock/appointments/{id}/unload"
        | "/api/v1/dock/appointments/{id}/unloaded"
        | "/api/v1/returns/{rma}/check"
        | "/api/v1/returns/{rma}/close" => Access::Role(Receiver),
        "/api/v1/pick-tasks/{id}/scan"
        | "/api/v1/pick-tasks/{id}/short"
        | "/api/v1/pick-batches/{id}/start"
        | "/api/v1/pick-batches/{id}/scan" => Access::Role(Picker),
        "/api/v1/orders/{id}/pack" | "/api/v1/orders/{id}/ship" | "/api/v1/totes/{tote}/sort" => Access::Role(Packer),
        "/api/v1/counts" | "/api/v1/counts/{id}/submit" => Access::SignedIn,
        _ => Access::Role(Supervisor),
    }
}

use tote_shared::runtime::secrets::same_secret as same;
pub use tote_shared::runtime::secrets::sha256_hex;

/// The session token of a request: `Authorization: Bearer …` or the session cookie.
pub fn token(request: &Request) -> Option<String> {
    let headers = request.headers();
    if let Some(bearer) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some(bearer.trim().to_owned());
    }
    tote_shared::runtime::http::cookie(headers, COOKIE).map(str::to_owned)
}

/// The middleware: resolves the caller, checks the route's access, passes the caller on.
pub async fn guard(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let path = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| request.uri().path().to_owned());
    let needed = access(request.method(), &path);
    if needed == Access::Public {
        return Ok(next.run(request).await);
    }
    if needed == Access::Metrics {
        let allowed = match &state.settings.auth.metrics_token {
            None => true,
            Some(expected) => {
                token(&request).is_some_and(|presented| same(&presented, expected.expose_secret()))
            }
        };
        if !allowed {
            return Err(ApiError::Unauthorized(
                "/metrics needs the metrics token (auth.metrics_token)".into(),
            ));
        }
        return Ok(next.run(request).await);
    }
    let caller = caller(&state, token(&request)).await?.ok_or_else(|| {
        ApiError::Unauthorized("sign in first (session expired or missing)".into())
    })?;
    if let Access::Role(role) = needed {
        if !caller.has(role) {
            return Err(ApiError::Forbidden(format!(
                "{} may not do this: it needs the {} role",
                caller.name(),
                role.name()
            )));
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
    Ok(state
        .store
        .session(sha256_hex(&token))
        .await?
        .map(Caller::Worker))
}

pub use tote_shared::runtime::password::{new_token, Against, QueueSlot};

/// Argon2id PHC string for a PIN (blocking work: call from `spawn_blocking`).
pub fn hash_pin(pin: &str) -> Result<String, ApiError> {
    tote_shared::runtime::password::hash(pin).map_err(|e| ApiError::Internal(e.to_string()))
}

pub fn valid_pin(pin: &str) -> bool {
    (4..=12).contains(&pin.len()) && pin.bytes().all(|b| b.is_ascii_digit())
}

pub fn valid_worker_id(id: &str) -> bool {
    (1..=32).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// Locks that serialise sign-ins per worker id (or badge): a fixed number, so memory stays
/// bounded whatever ids an attacker makes up; two ids sharing a stripe only wait for each other.
const SIGN_IN_STRIPES: usize = 256;

/// Why a sign-in was refused, for logs and `/metrics`; the caller never sees it (every refusal
/// of one kind answers the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    UnknownWorker,
    WrongPin,
    Locked,
    Inactive,
    UnknownBadge,
    BadgeLimit,
    Busy,
}

impl Refusal {
    pub const ALL: [Refusal; 7] = [
        Refusal::UnknownWorker,
        Refusal::WrongPin,
        Refusal::Locked,
        Refusal::Inactive,
        Refusal::UnknownBadge,
        Refusal::BadgeLimit,
        Refusal::Busy,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::UnknownWorker => "unknown_worker",
            Refusal::WrongPin => "wrong_pin",
            Refusal::Locked => "locked",
            Refusal::Inactive => "inactive",
            Refusal::UnknownBadge => "unknown_badge",
            Refusal::BadgeLimit => "badge_limit",
            Refusal::Busy => "busy",
        }
    }
}

/// The bounds on sign-in (see the module doc) and their counters for `/metrics`.
pub struct SignInLimits {
    turns: Turns,
    /// Argon2 comparisons and hashes, at most `max_concurrent_hashes` at once, in reused
    /// memory: what sign-in holds is at most `max_concurrent_hashes` × 19 MiB, whatever the load.
    pub hasher: Hasher,
    refused: [AtomicU64; 7],
    /// (failed badge attempts left × 60,000, when last refilled).
    badge_bucket: Mutex<(i64, i64)>,
    badge_failures_per_minute: u32,
}

impl SignInLimits {
    /// Blocking (one Argon2 hash for the decoy): call from `spawn_blocking` or at startup.
    pub fn new(settings: &crate::config::AuthSettings) -> Result<SignInLimits, ApiError> {
        Ok(SignInLimits {
            turns: Turns::new(SIGN_IN_STRIPES),
            hasher: Hasher::new(settings.max_concurrent_hashes, settings.max_waiting_hashes)
                .map_err(|e| ApiError::Internal(e.to_string()))?,
            refused: Default::default(),
            badge_bucket: Mutex::new((i64::from(settings.badge_failures_per_minute) * 60_000, 0)),
            badge_failures_per_minute: settings.badge_failures_per_minute,
        })
    }

    /// The lock serialising sign-ins for `key` (a worker id, or a badge's hash).
    pub async fn one_at_a_time(&self, key: &str) -> tokio::sync::MutexGuard<'_, ()> {
        self.turns.one_at_a_time(key).await
    }

    /// A place in the queue for a comparison, or `None` when the queue is full (503 at once).
    pub fn queue(&self) -> Option<QueueSlot> {
        self.hasher.queue()
    }

    /// Hashes a new PIN under the same cap and in the same reused memory as sign-in.
    pub async fn hash(&self, pin: String) -> Result<String, ApiError> {
        self.hasher
            .hash(pin)
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))
    }

    /// Compares `pin` with the hash (or the decoy), at most `max_concurrent_hashes` at a time.
    pub async fn verify(
        &self,
        slot: QueueSlot,
        pin: String,
        against: Against,
    ) -> Result<bool, ApiError> {
        self.hasher
            .verify(slot, pin, against)
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))
    }

    /// Counts a badge attempt as failed *before* the look-up (so a burst cannot pass the check
    /// all at once); false once the allowance is spent: then nothing is looked up. The
    /// allowance is a token bucket of `badge_failures_per_minute` refilled at that rate; an
    /// attempt costs 60,000 units and each millisecond adds `badge_failures_per_minute` (exact).
    pub fn count_badge_attempt(&self, now_ms: i64) -> bool {
        let per_minute = i64::from(self.badge_failures_per_minute);
        let mut bucket = self.badge_bucket.lock().unwrap_or_else(|e| e.into_inner());
        let (ref mut units, ref mut last_ms) = *bucket;
        let refill = (now_ms - *last_ms).max(0).saturating_mul(per_minute);
        *units = units.saturating_add(refill).min(per_minute * 60_000);
        *last_ms = now_ms.max(*last_ms);
        if *units < 60_000 {
            return false;
        }
        *units -= 60_000;
        true
    }

    /// The badge was known: its attempt was no failure after all.
    pub fn badge_accepted(&self) {
        let mut bucket = self.badge_bucket.lock().unwrap_or_else(|e| e.into_inner());
        bucket.0 = (bucket.0 + 60_000).min(i64::from(self.badge_failures_per_minute) * 60_000);
    }

    pub fn refused(&self, why: Refusal) {
        self.refused[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn refusals(&self) -> Vec<(Refusal, u64)> {
        Refusal::ALL
            .iter()
            .map(|r| (*r, self.refused[*r as usize].load(Ordering::Relaxed)))
            .collect()
    }
}

/// On first start with no workers: the configured supervisor, with the configured PIN.
pub async fn bootstrap(state: &AppState) -> anyhow::Result<()> {
    let auth = &state.settings.auth;
    let (Some(id), Some(pin)) = (&auth.bootstrap_supervisor, &auth.bootstrap_pin) else {
        return Ok(());
    };
    if state.store.worker_count().await? > 0 {
        return Ok(());
    }
    let pin = pin.expose_secret().to_owned();
    let pin_hash = tokio::task::spawn_blocking(move || hash_pin(&pin))
        .await?
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let worker = NewWorker {
        id: id.clone(),
        name: id.clone(),
        pin_hash,
        badge_sha256: None,
        roles: vec!["supervisor".into()],
    };
    state.store.create_worker(worker).await?;
    tracing::info!(supervisor = %id, "first start: supervisor created from [auth] bootstrap settings");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_change_needs_a_role_and_reads_need_a_session() {
        assert_eq!(access(&Method::POST, "/api/v1/session"), Access::Public);
        assert_eq!(access(&Method::DELETE, "/api/v1/session"), Access::Public);
        assert_eq!(access(&Method::GET, "/api/v1/session"), Access::SignedIn);
        assert_eq!(access(&Method::GET, "/"), Access::Public);
        assert_eq!(access(&Method::GET, "/metrics"), Access::Metrics);
        assert_eq!(access(&Method::GET, "/api/v1/stock"), Access::SignedIn);
        assert_eq!(
            access(&Method::POST, "/api/v1/receipts"),
            Access::Role(Role::Receiver)
        );
        assert_eq!(
            access(&Method::POST, "/api/v1/pick-tasks/{id}/scan"),
            Access::Role(Role::Picker)
        );
        assert_eq!(
            access(&Method::POST, "/api/v1/orders/{id}/ship"),
            Access::Role(Role::Packer)
        );
        assert_eq!(
            access(&Method::POST, "/api/v1/adjustments"),
            Access::Role(Role::Supervisor)
        );
        assert_eq!(
            access(&Method::POST, "/api/v1/counts/{id}/decide"),
            Access::Role(Role::Supervisor)
        );
        assert_eq!(
            access(&Method::POST, "/api/v1/something-new"),
            Access::Role(Role::Supervisor),
            "new routes default to supervisor"
        );
    }

    fn limits(
        max_concurrent_hashes: usize,
        max_waiting_hashes: usize,
        badge_failures_per_minute: u32,
    ) -> SignInLimits {
        let settings = crate::config::AuthSettings {
            max_concurrent_hashes,
            max_waiting_hashes,
            badge_failures_per_minute,
            ..Default::default()
        };
        SignInLimits::new(&settings).expect("limits")
    }

    #[test]
    fn failed_badges_are_limited_per_minute_for_the_whole_edge() {
        let l = limits(1, 0, 3);
        let t0 = 1_000_000;
        assert!(l.count_badge_attempt(t0) && l.count_badge_attempt(t0));
        l.badge_accepted();
        assert!(
            l.count_badge_attempt(t0) && l.count_badge_attempt(t0),
            "a known badge gave its attempt back"
        );
        assert!(
            !l.count_badge_attempt(t0 + 19_999),
            "three failures spend the allowance; one comes back every 20 s"
        );
        assert!(l.count_badge_attempt(t0 + 20_000));
        assert!(!l.count_badge_attempt(t0 + 20_001));
        assert!(
            (0..3).all(|_| l.count_badge_attempt(t0 + 3_600_000)),
            "a quiet hour refills it, to three at most"
        );
        assert!(!l.count_badge_attempt(t0 + 3_600_000));
    }

    #[test]
    fn ids_and_pins() {
        assert!(
            valid_pin("0420")
                && !valid_pin("42")
                && !valid_pin("12a4")
                && !valid_pin("1234567890123")
        );
        assert!(
            valid_worker_id("li.wei-2")
                && !valid_worker_id("")
                && !valid_worker_id("a b")
                && !valid_worker_id(&"x".repeat(33))
        );
    }
}
