//! Who is calling the edge: a worker signed in on a handheld (session cookie or bearer session
//! token), or station software / an integration with the configured API token. Every route's
//! access is in one table (`access`), checked by one middleware (`guard`).
//!
//! PINs are hashed with Argon2id (the `argon2` crate: memory-hard, the OWASP recommendation);
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
use argon2::password_hash::{PasswordHash, SaltString};
use argon2::Argon2;
use axum::extract::{Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::Response;
use secrecy::ExposeSecret;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

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
    if !path.starts_with("/api/") || (path == "/api/v1/session" && method != Method::GET) || path == "/api/v1/openapi.json" {
        return Access::Public;
    }
    if method == Method::GET {
        // Who may sign in to the robots' broker is for supervisors only.
        return if path == "/api/v1/mqtt/logins" { Access::Role(Supervisor) } else { Access::SignedIn };
    }
    match path {
        "/api/v1/receipts" | "/api/v1/moves" | "/api/v1/returns/{rma}/check" | "/api/v1/returns/{rma}/close" => Access::Role(Receiver),
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
    if needed == Access::Metrics {
        let allowed = match &state.settings.auth.metrics_token {
            None => true,
            Some(expected) => token(&request).is_some_and(|presented| same(&presented, expected.expose_secret())),
        };
        if !allowed {
            return Err(ApiError::Unauthorized("/metrics needs the metrics token (auth.metrics_token)".into()));
        }
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
    hash_pin_in(pin, &mut Vec::new())
}

/// `hash_pin` in `memory`, which the caller keeps and reuses (see `pin_matches_in`).
pub fn hash_pin_in(pin: &str, memory: &mut Vec<argon2::Block>) -> Result<String, ApiError> {
    let internal = |e: argon2::password_hash::Error| ApiError::Internal(e.to_string());
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(internal)?;
    let params = argon2::Params::default();
    if memory.len() < params.block_count() {
        memory.resize(params.block_count(), argon2::Block::default());
    }
    let mut out = [0u8; argon2::Params::DEFAULT_OUTPUT_LEN];
    let argon2 = Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params.clone());
    argon2.hash_password_into_with_memory(pin.as_bytes(), &salt_bytes, &mut out, &mut memory[..params.block_count()]).map_err(|e| ApiError::Internal(e.to_string()))?;
    let phc = PasswordHash {
        algorithm: argon2::Algorithm::Argon2id.ident(),
        version: Some(argon2::Version::V0x13.into()),
        params: argon2::password_hash::ParamsString::try_from(&params).map_err(internal)?,
        salt: Some(salt.as_salt()),
        hash: Some(argon2::password_hash::Output::new(&out).map_err(internal)?),
    };
    Ok(phc.to_string())
}

pub fn pin_matches(pin: &str, phc: &str) -> bool {
    pin_matches_in(pin, phc, &mut Vec::new())
}

/// The most Argon2 memory a stored hash may ask for (64 MiB; ours use 19 MiB).
const MAX_PIN_HASH_BLOCKS: usize = 64 * 1024;

/// `PasswordVerifier::verify_password`, but in `memory`, which the caller keeps and reuses:
/// the crate's own verify allocates ~19 MiB per call, and freed blocks of that size stay with
/// the allocator's per-thread arenas (a flood of wrong PINs grew the edge by ~480 MB with only
/// two comparisons at a time). Blocking work.
pub fn pin_matches_in(pin: &str, phc: &str, memory: &mut Vec<argon2::Block>) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else { return false };
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else { return false };
    let (Ok(algorithm), Ok(version), Ok(params)) = (argon2::Algorithm::try_from(hash.algorithm), hash.version.map(argon2::Version::try_from).transpose(), argon2::Params::try_from(&hash)) else {
        return false;
    };
    let blocks = params.block_count();
    if blocks > MAX_PIN_HASH_BLOCKS {
        return false;
    }
    if memory.len() < blocks {
        memory.resize(blocks, argon2::Block::default());
    }
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else { return false };
    let mut out = vec![0u8; expected.len()];
    let argon2 = Argon2::new(algorithm, version.unwrap_or_default(), params);
    argon2.hash_password_into_with_memory(pin.as_bytes(), salt, &mut out, &mut memory[..blocks]).is_ok()
        // `Output`'s equality is constant-time.
        && argon2::password_hash::Output::new(&out).is_ok_and(|computed| computed == expected)
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
    pub const ALL: [Refusal; 7] = [Refusal::UnknownWorker, Refusal::WrongPin, Refusal::Locked, Refusal::Inactive, Refusal::UnknownBadge, Refusal::BadgeLimit, Refusal::Busy];

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

/// What an Argon2 comparison is made against.
pub enum Against {
    /// The worker's stored PIN hash: a real try.
    Worker(String),
    /// The decoy: the worker is unknown or locked, and the answer must take as long as a wrong PIN.
    Decoy,
}

/// The bounds on sign-in (see the module doc) and their counters for `/metrics`.
pub struct SignInLimits {
    stripes: Vec<tokio::sync::Mutex<()>>,
    stripe_keys: std::collections::hash_map::RandomState,
    hashing: Arc<Semaphore>,
    max_waiting: usize,
    waiting: Arc<AtomicUsize>,
    running: Arc<AtomicUsize>,
    /// The most comparisons ever seen running at once (never above the cap).
    pub running_max: Arc<AtomicUsize>,
    /// Comparisons against a worker's real PIN hash: the tries an attacker gets.
    pub pin_checks: Arc<AtomicU64>,
    /// Comparisons against the decoy (unknown or locked worker).
    pub decoy_hashes: Arc<AtomicU64>,
    refused: [AtomicU64; 7],
    /// (failed badge attempts left × 60,000, when last refilled).
    badge_bucket: Mutex<(i64, i64)>,
    badge_failures_per_minute: u32,
    decoy: String,
    /// One Argon2 working memory per permit, allocated on first use and reused: what sign-in
    /// holds is at most `max_concurrent_hashes` × 19 MiB, whatever the load.
    memory: Arc<Mutex<Vec<Vec<argon2::Block>>>>,
    pub max_concurrent_hashes: usize,
}

/// A place in the hashing queue; gives it back when dropped (also when the client goes away).
pub struct QueueSlot {
    waiting: Arc<AtomicUsize>,
}

impl Drop for QueueSlot {
    fn drop(&mut self) {
        self.waiting.fetch_sub(1, Ordering::AcqRel);
    }
}

impl SignInLimits {
    /// Blocking (one Argon2 hash for the decoy): call from `spawn_blocking` or at startup.
    pub fn new(settings: &crate::config::AuthSettings) -> Result<SignInLimits, ApiError> {
        Ok(SignInLimits {
            stripes: (0..SIGN_IN_STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
            stripe_keys: Default::default(),
            hashing: Arc::new(Semaphore::new(settings.max_concurrent_hashes)),
            max_waiting: settings.max_waiting_hashes,
            waiting: Arc::default(),
            running: Arc::default(),
            running_max: Arc::default(),
            pin_checks: Arc::default(),
            decoy_hashes: Arc::default(),
            refused: Default::default(),
            badge_bucket: Mutex::new((i64::from(settings.badge_failures_per_minute) * 60_000, 0)),
            badge_failures_per_minute: settings.badge_failures_per_minute,
            // Random, so no PIN is known to match it (the answer ignores the result anyway).
            decoy: hash_pin(&format!("{:012}", rand::random::<u64>() % 1_000_000_000_000))?,
            memory: Arc::default(),
            max_concurrent_hashes: settings.max_concurrent_hashes,
        })
    }

    /// The lock serialising sign-ins for `key` (a worker id, or a badge's hash).
    pub async fn one_at_a_time(&self, key: &str) -> tokio::sync::MutexGuard<'_, ()> {
        let stripe = self.stripe_keys.hash_one(key) as usize % self.stripes.len();
        self.stripes[stripe].lock().await
    }

    /// A place in the queue for a comparison, or `None` when the queue is full: then the
    /// caller answers 503 at once rather than pile up memory and threads.
    pub fn queue(&self) -> Option<QueueSlot> {
        let waiting = self.waiting.fetch_add(1, Ordering::AcqRel);
        let slot = QueueSlot { waiting: self.waiting.clone() };
        (waiting < self.max_concurrent_hashes + self.max_waiting).then_some(slot)
    }

    /// Hashes a new PIN under the same cap and in the same reused memory as sign-in (adding
    /// workers in bulk would otherwise leave ~19 MiB per PIN with the allocator).
    pub async fn hash(&self, pin: String) -> Result<String, ApiError> {
        let permit = self.hashing.clone().acquire_owned().await.map_err(|e| ApiError::Internal(e.to_string()))?;
        let pool = self.memory.clone();
        tokio::task::spawn_blocking(move || {
            let mut memory = pool.lock().unwrap_or_else(|e| e.into_inner()).pop().unwrap_or_default();
            let phc = hash_pin_in(&pin, &mut memory);
            pool.lock().unwrap_or_else(|e| e.into_inner()).push(memory);
            drop(permit);
            phc
        })
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
    }

    /// Compares `pin` with the hash (or the decoy) on the blocking pool, at most
    /// `max_concurrent_hashes` at a time. The permit travels with the blocking work, so a client
    /// that hangs up does not free a slot while its hash still runs.
    pub async fn verify(&self, _slot: QueueSlot, pin: String, against: Against) -> Result<bool, ApiError> {
        let permit = self.hashing.clone().acquire_owned().await.map_err(|e| ApiError::Internal(e.to_string()))?;
        let (phc, counter) = match against {
            Against::Worker(phc) => (phc, &self.pin_checks),
            Against::Decoy => (self.decoy.clone(), &self.decoy_hashes),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let (running, running_max, pool) = (self.running.clone(), self.running_max.clone(), self.memory.clone());
        tokio::task::spawn_blocking(move || {
            let now = running.fetch_add(1, Ordering::AcqRel) + 1;
            running_max.fetch_max(now, Ordering::AcqRel);
            // There are as many memories as permits, so one is free (or not yet made).
            let mut memory = pool.lock().unwrap_or_else(|e| e.into_inner()).pop().unwrap_or_default();
            let matches = pin_matches_in(&pin, &phc, &mut memory);
            pool.lock().unwrap_or_else(|e| e.into_inner()).push(memory);
            running.fetch_sub(1, Ordering::AcqRel);
            drop(permit);
            matches
        })
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
        Refusal::ALL.iter().map(|r| (*r, self.refused[*r as usize].load(Ordering::Relaxed))).collect()
    }
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
    fn hashes_in_reused_memory_agree_with_the_argon2_crate_both_ways() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let salt = SaltString::encode_b64(&[7u8; 16]).expect("salt");
        let theirs = Argon2::default().hash_password(b"2468", &salt).expect("hash").to_string();
        let mut memory = Vec::new();
        assert!(pin_matches_in("2468", &theirs, &mut memory) && !pin_matches_in("2469", &theirs, &mut memory), "PINs stored before still sign in");
        let ours = hash_pin_in("2468", &mut memory).expect("hash");
        let parsed = PasswordHash::new(&ours).expect("PHC");
        assert!(Argon2::default().verify_password(b"2468", &parsed).is_ok() && Argon2::default().verify_password(b"2469", &parsed).is_err());
        assert_eq!(memory.len(), argon2::Params::default().block_count(), "one working memory, reused");
    }

    #[test]
    fn every_change_needs_a_role_and_reads_need_a_session() {
        assert_eq!(access(&Method::POST, "/api/v1/session"), Access::Public);
        assert_eq!(access(&Method::DELETE, "/api/v1/session"), Access::Public);
        assert_eq!(access(&Method::GET, "/api/v1/session"), Access::SignedIn);
        assert_eq!(access(&Method::GET, "/"), Access::Public);
        assert_eq!(access(&Method::GET, "/metrics"), Access::Metrics);
        assert_eq!(access(&Method::GET, "/api/v1/stock"), Access::SignedIn);
        assert_eq!(access(&Method::POST, "/api/v1/receipts"), Access::Role(Role::Receiver));
        assert_eq!(access(&Method::POST, "/api/v1/pick-tasks/{id}/scan"), Access::Role(Role::Picker));
        assert_eq!(access(&Method::POST, "/api/v1/orders/{id}/ship"), Access::Role(Role::Packer));
        assert_eq!(access(&Method::POST, "/api/v1/adjustments"), Access::Role(Role::Supervisor));
        assert_eq!(access(&Method::POST, "/api/v1/counts/{id}/decide"), Access::Role(Role::Supervisor));
        assert_eq!(access(&Method::POST, "/api/v1/something-new"), Access::Role(Role::Supervisor), "new routes default to supervisor");
    }

    fn limits(max_concurrent_hashes: usize, max_waiting_hashes: usize, badge_failures_per_minute: u32) -> SignInLimits {
        let settings = crate::config::AuthSettings { max_concurrent_hashes, max_waiting_hashes, badge_failures_per_minute, ..Default::default() };
        SignInLimits::new(&settings).expect("limits")
    }

    #[test]
    fn the_hashing_queue_refuses_past_its_bound_and_frees_places_when_dropped() {
        let l = limits(2, 1, 5);
        let held: Vec<_> = (0..3).map(|_| l.queue().expect("running two, waiting one")).collect();
        assert!(l.queue().is_none(), "the fourth waits nowhere: 503");
        drop(held);
        assert!(l.queue().is_some(), "places come back");
    }

    #[test]
    fn failed_badges_are_limited_per_minute_for_the_whole_edge() {
        let l = limits(1, 0, 3);
        let t0 = 1_000_000;
        assert!(l.count_badge_attempt(t0) && l.count_badge_attempt(t0));
        l.badge_accepted();
        assert!(l.count_badge_attempt(t0) && l.count_badge_attempt(t0), "a known badge gave its attempt back");
        assert!(!l.count_badge_attempt(t0 + 19_999), "three failures spend the allowance; one comes back every 20 s");
        assert!(l.count_badge_attempt(t0 + 20_000));
        assert!(!l.count_badge_attempt(t0 + 20_001));
        assert!((0..3).all(|_| l.count_badge_attempt(t0 + 3_600_000)), "a quiet hour refills it, to three at most");
        assert!(!l.count_badge_attempt(t0 + 3_600_000));
    }

    #[tokio::test]
    async fn decoy_comparisons_are_counted_apart_from_real_tries() {
        let l = limits(1, 0, 3);
        let real = hash_pin("2468").expect("hash");
        assert!(l.verify(l.queue().expect("slot"), "2468".into(), Against::Worker(real)).await.expect("verify"));
        l.verify(l.queue().expect("slot"), "2468".into(), Against::Decoy).await.expect("verify");
        assert_eq!((l.pin_checks.load(Ordering::Relaxed), l.decoy_hashes.load(Ordering::Relaxed), l.running_max.load(Ordering::Relaxed)), (1, 1, 1));
    }

    #[test]
    fn ids_and_pins() {
        assert!(valid_pin("0420") && !valid_pin("42") && !valid_pin("12a4") && !valid_pin("1234567890123"));
        assert!(valid_worker_id("li.wei-2") && !valid_worker_id("") && !valid_worker_id("a b") && !valid_worker_id(&"x".repeat(33)));
    }
}
