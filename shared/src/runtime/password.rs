//! Secrets people type — an edge worker's PIN, an HQ user's password — hashed with Argon2id
//! (the `argon2` crate: memory-hard, the OWASP recommendation), and the `Hasher` that bounds
//! how much of that work an unauthenticated caller can make a daemon do.
//!
//! The crate's own hash and verify allocate ~19 MiB per call, and freed blocks of that size
//! stay with glibc's per-thread arenas (a flood of wrong PINs grew the edge by ~480 MB with
//! only two comparisons at a time). So hashing and comparing run here in working memory that
//! the `Hasher` keeps and reuses: one per permit, at most `max_concurrent` at once, with a
//! bounded queue behind them (past it: refuse at once, 503). Unknown and locked accounts are
//! compared against a decoy, so they take as long as a wrong secret.

use argon2::password_hash::{PasswordHash, SaltString};
use argon2::Argon2;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

#[derive(Debug, thiserror::Error)]
#[error("password hashing: {0}")]
pub struct HashError(String);

/// Argon2id PHC string for `secret`, computed in `memory` (which the caller keeps and reuses).
/// Blocking work.
pub fn hash_in(secret: &str, memory: &mut Vec<argon2::Block>) -> Result<String, HashError> {
    let internal = |e: argon2::password_hash::Error| HashError(e.to_string());
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(internal)?;
    let params = argon2::Params::default();
    if memory.len() < params.block_count() {
        memory.resize(params.block_count(), argon2::Block::default());
    }
    let mut out = [0u8; argon2::Params::DEFAULT_OUTPUT_LEN];
    let argon2 = Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        params.clone(),
    );
    argon2
        .hash_password_into_with_memory(
            secret.as_bytes(),
            &salt_bytes,
            &mut out,
            &mut memory[..params.block_count()],
        )
        .map_err(|e| HashError(e.to_string()))?;
    let phc = PasswordHash {
        algorithm: argon2::Algorithm::Argon2id.ident(),
        version: Some(argon2::Version::V0x13.into()),
        params: argon2::password_hash::ParamsString::try_from(&params).map_err(internal)?,
        salt: Some(salt.as_salt()),
        hash: Some(argon2::password_hash::Output::new(&out).map_err(internal)?),
    };
    Ok(phc.to_string())
}

/// `hash_in` in fresh memory (startup, tests).
pub fn hash(secret: &str) -> Result<String, HashError> {
    hash_in(secret, &mut Vec::new())
}

/// The most Argon2 memory a stored hash may ask for (64 MiB; ours use 19 MiB).
const MAX_HASH_BLOCKS: usize = 64 * 1024;

/// Whether `secret` is the one `phc` was made from, computed in `memory`. Blocking work.
pub fn matches_in(secret: &str, phc: &str, memory: &mut Vec<argon2::Block>) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(version), Ok(params)) = (
        argon2::Algorithm::try_from(hash.algorithm),
        hash.version.map(argon2::Version::try_from).transpose(),
        argon2::Params::try_from(&hash),
    ) else {
        return false;
    };
    let blocks = params.block_count();
    if blocks > MAX_HASH_BLOCKS {
        return false;
    }
    if memory.len() < blocks {
        memory.resize(blocks, argon2::Block::default());
    }
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let argon2 = Argon2::new(algorithm, version.unwrap_or_default(), params);
    argon2.hash_password_into_with_memory(secret.as_bytes(), salt, &mut out, &mut memory[..blocks]).is_ok()
        // `Output`'s equality is constant-time.
        && argon2::password_hash::Output::new(&out).is_ok_and(|computed| computed == expected)
}

pub fn matches(secret: &str, phc: &str) -> bool {
    matches_in(secret, phc, &mut Vec::new())
}

/// A fresh session token: 256 random bits, hex.
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The failure count and lock after one more sign-in attempt, or `None` while locked. Counted
/// *before* the secret is compared (an edge postmortem: counting after the comparison let 100
/// concurrent sign-ins all pass the lock check), so N attempts in flight use N of the
/// allowance. A lock that has run out starts a fresh count; the attempt that makes
/// `max_failed` sets a lock of `lockout_ms`.
pub fn next_attempt(
    failed: i64,
    locked_until_ms: i64,
    now_ms: i64,
    max_failed: i64,
    lockout_ms: i64,
) -> Option<(i64, i64)> {
    if locked_until_ms > now_ms {
        return None;
    }
    let failed = if locked_until_ms > 0 { 1 } else { failed + 1 };
    Some((
        failed,
        if failed >= max_failed {
            now_ms + lockout_ms
        } else {
            0
        },
    ))
}

/// Locks that serialise sign-ins per account (an id, or a badge's hash), held from counting
/// the attempt until the session is written, so each attempt sees the count the previous one
/// left. A fixed number of stripes: memory stays bounded whatever ids an attacker makes up;
/// two ids sharing a stripe only wait for each other.
pub struct Turns {
    stripes: Vec<tokio::sync::Mutex<()>>,
    keys: std::collections::hash_map::RandomState,
}

impl Turns {
    pub fn new(stripes: usize) -> Turns {
        Turns {
            stripes: (0..stripes.max(1))
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
            keys: Default::default(),
        }
    }

    pub async fn one_at_a_time(&self, key: &str) -> tokio::sync::MutexGuard<'_, ()> {
        use std::hash::BuildHasher;
        let stripe = self.keys.hash_one(key) as usize % self.stripes.len();
        self.stripes[stripe].lock().await
    }
}

/// What a comparison is made against.
pub enum Against {
    /// The account's stored hash: a real try.
    Stored(String),
    /// The decoy: the account is unknown or locked, and the answer must take as long as a
    /// wrong secret.
    Decoy,
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

/// Argon2 work under a cap, in reused memory, with counters for `/metrics`.
pub struct Hasher {
    hashing: Arc<Semaphore>,
    max_waiting: usize,
    waiting: Arc<AtomicUsize>,
    running: Arc<AtomicUsize>,
    /// The most comparisons ever seen running at once (never above the cap).
    pub running_max: Arc<AtomicUsize>,
    /// Comparisons against a stored hash: the tries an attacker gets.
    pub checks: Arc<AtomicU64>,
    /// Comparisons against the decoy (unknown or locked account).
    pub decoy_hashes: Arc<AtomicU64>,
    decoy: String,
    /// One working memory per permit, allocated on first use and reused.
    memory: Arc<Mutex<Vec<Vec<argon2::Block>>>>,
    pub max_concurrent: usize,
}

impl Hasher {
    /// Blocking (one Argon2 hash for the decoy): call from `spawn_blocking` or at startup.
    pub fn new(max_concurrent: usize, max_waiting: usize) -> Result<Hasher, HashError> {
        Ok(Hasher {
            hashing: Arc::new(Semaphore::new(max_concurrent.max(1))),
            max_waiting,
            waiting: Arc::default(),
            running: Arc::default(),
            running_max: Arc::default(),
            checks: Arc::default(),
            decoy_hashes: Arc::default(),
            // Random, so no secret is known to match it (the answer ignores the result anyway).
            decoy: hash(&format!(
                "{:012}",
                rand::random::<u64>() % 1_000_000_000_000
            ))?,
            memory: Arc::default(),
            max_concurrent: max_concurrent.max(1),
        })
    }

    /// A place in the queue for a comparison, or `None` when the queue is full: then the
    /// caller answers 503 at once rather than pile up memory and threads.
    pub fn queue(&self) -> Option<QueueSlot> {
        let waiting = self.waiting.fetch_add(1, Ordering::AcqRel);
        let slot = QueueSlot {
            waiting: self.waiting.clone(),
        };
        (waiting < self.max_concurrent + self.max_waiting).then_some(slot)
    }

    /// Hashes a new secret under the same cap and in the same reused memory as comparisons
    /// (adding accounts in bulk would otherwise leave ~19 MiB per secret with the allocator).
    pub async fn hash(&self, secret: String) -> Result<String, HashError> {
        let permit = self
            .hashing
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| HashError(e.to_string()))?;
        let pool = self.memory.clone();
        tokio::task::spawn_blocking(move || {
            let mut memory = pool
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop()
                .unwrap_or_default();
            let phc = hash_in(&secret, &mut memory);
            pool.lock().unwrap_or_else(|e| e.into_inner()).push(memory);
            drop(permit);
            phc
        })
        .await
        .map_err(|e| HashError(e.to_string()))?
    }

    /// Compares `secret` with the stored hash (or the decoy) on the blocking pool, at most
    /// `max_concurrent` at a time. The permit travels with the blocking work, so a client that
    /// hangs up does not free a slot while its hash still runs.
    pub async fn verify(
        &self,
        _slot: QueueSlot,
        secret: String,
        against: Against,
    ) -> Result<bool, HashError> {
        let permit = self
            .hashing
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| HashError(e.to_string()))?;
        let (phc, counter) = match against {
            Against::Stored(phc) => (phc, &self.checks),
            Against::Decoy => (self.decoy.clone(), &self.decoy_hashes),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let (running, running_max, pool) = (
            self.running.clone(),
            self.running_max.clone(),
            self.memory.clone(),
        );
        tokio::task::spawn_blocking(move || {
            let now = running.fetch_add(1, Ordering::AcqRel) + 1;
            running_max.fetch_max(now, Ordering::AcqRel);
            // There are as many memories as permits, so one is free (or not yet made).
            let mut memory = pool
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop()
                .unwrap_or_default();
            let matches = matches_in(&secret, &phc, &mut memory);
            pool.lock().unwrap_or_else(|e| e.into_inner()).push(memory);
            running.fetch_sub(1, Ordering::AcqRel);
            drop(permit);
            matches
        })
        .await
        .map_err(|e| HashError(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_hash_with_a_fresh_salt_and_verify() {
        let a = hash("4321").expect("hash");
        let b = hash("4321").expect("hash");
        assert!(a.starts_with("$argon2id$") && a != b, "salted: {a} {b}");
        assert!(matches("4321", &a) && !matches("4322", &a) && !matches("4321", "not a hash"));
    }

    #[test]
    fn hashes_in_reused_memory_agree_with_the_argon2_crate_both_ways() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let salt = SaltString::encode_b64(&[7u8; 16]).expect("salt");
        let theirs = Argon2::default()
            .hash_password(b"2468", &salt)
            .expect("hash")
            .to_string();
        let mut memory = Vec::new();
        assert!(
            matches_in("2468", &theirs, &mut memory) && !matches_in("2469", &theirs, &mut memory),
            "secrets stored before still sign in"
        );
        let ours = hash_in("2468", &mut memory).expect("hash");
        let parsed = PasswordHash::new(&ours).expect("PHC");
        assert!(
            Argon2::default().verify_password(b"2468", &parsed).is_ok()
                && Argon2::default().verify_password(b"2469", &parsed).is_err()
        );
        assert_eq!(
            memory.len(),
            argon2::Params::default().block_count(),
            "one working memory, reused"
        );
    }

    #[test]
    fn the_attempt_that_makes_the_allowance_locks_and_a_spent_lock_counts_afresh() {
        assert_eq!(next_attempt(0, 0, 100, 3, 1_000), Some((1, 0)));
        assert_eq!(
            next_attempt(2, 0, 100, 3, 1_000),
            Some((3, 1_100)),
            "the third locks"
        );
        assert_eq!(
            next_attempt(3, 1_100, 1_099, 3, 1_000),
            None,
            "locked: not even counted"
        );
        assert_eq!(
            next_attempt(3, 1_100, 1_100, 3, 1_000),
            Some((1, 0)),
            "the lock ran out: a fresh count"
        );
    }

    #[test]
    fn the_hashing_queue_refuses_past_its_bound_and_frees_places_when_dropped() {
        let h = Hasher::new(2, 1).expect("hasher");
        let held: Vec<_> = (0..3)
            .map(|_| h.queue().expect("running two, waiting one"))
            .collect();
        assert!(h.queue().is_none(), "the fourth waits nowhere: 503");
        drop(held);
        assert!(h.queue().is_some(), "places come back");
    }

    #[tokio::test]
    async fn decoy_comparisons_are_counted_apart_from_real_tries() {
        let h = Hasher::new(1, 0).expect("hasher");
        let real = hash("2468").expect("hash");
        assert!(h
            .verify(
                h.queue().expect("slot"),
                "2468".into(),
                Against::Stored(real)
            )
            .await
            .expect("verify"));
        h.verify(h.queue().expect("slot"), "2468".into(), Against::Decoy)
            .await
            .expect("verify");
        assert_eq!(
            (
                h.checks.load(Ordering::Relaxed),
                h.decoy_hashes.load(Ordering::Relaxed),
                h.running_max.load(Ordering::Relaxed)
            ),
            (1, 1, 1)
        );
    }
}
