//! Workers and their sessions. Hashing happens outside (`crate::auth`): this module stores and
//! compares hashes, counts failed PINs and expires sessions.

use super::{StoreError, StoreResult};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use tote_shared::runtime::password::next_attempt;

/// Failed PINs in a row that lock a worker out, and for how long.
pub const MAX_FAILED_PINS: i64 = 5;
pub const LOCKOUT_MS: i64 = 5 * 60_000;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WorkerRecord {
    pub id: String,
    pub name: String,
    pub roles: Vec<String>,
    pub active: bool,
    pub has_badge: bool,
}

#[derive(Debug, Clone)]
pub struct NewWorker {
    pub id: String,
    pub name: String,
    pub pin_hash: String,
    pub badge_sha256: Option<String>,
    pub roles: Vec<String>,
}

/// What sign-in needs to check a PIN.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub id: String,
    pub pin_hash: String,
    pub active: bool,
    pub locked_until_ms: i64,
}

/// A valid session's worker.
#[derive(Debug, Clone, Serialize)]
pub struct SessionWorker {
    pub worker: String,
    pub name: String,
    pub roles: Vec<String>,
    pub expires_ms: i64,
}

fn roles(text: String) -> Vec<String> {
    text.split(',')
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .collect()
}

pub fn create(conn: &Connection, w: &NewWorker, now_ms: i64) -> StoreResult<WorkerRecord> {
    let exists: bool = conn
        .prepare_cached("SELECT 1 FROM worker WHERE id = ?1")?
        .exists([&w.id])?;
    if exists {
        return Err(StoreError::Conflict(format!("worker {} exists", w.id)));
    }
    if let Some(badge) = &w.badge_sha256 {
        if conn
            .prepare_cached("SELECT 1 FROM worker WHERE badge_sha256 = ?1")?
            .exists([badge])?
        {
            return Err(StoreError::Conflict(
                "that badge belongs to another worker".into(),
            ));
        }
    }
    conn.prepare_cached("INSERT INTO worker (id, name, pin_hash, badge_sha256, roles, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?
        .execute(params![w.id, w.name, w.pin_hash, w.badge_sha256, w.roles.join(","), now_ms])?;
    Ok(WorkerRecord {
        id: w.id.clone(),
        name: w.name.clone(),
        roles: w.roles.clone(),
        active: true,
        has_badge: w.badge_sha256.is_some(),
    })
}

pub fn list(conn: &Connection) -> StoreResult<Vec<WorkerRecord>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, name, roles, active, badge_sha256 IS NOT NULL FROM worker ORDER BY id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(WorkerRecord {
            id: r.get(0)?,
            name: r.get(1)?,
            roles: roles(r.get(2)?),
            active: r.get::<_, i64>(3)? == 1,
            has_badge: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn count(conn: &Connection) -> StoreResult<i64> {
    Ok(conn
        .prepare_cached("SELECT COUNT(*) FROM worker")?
        .query_row([], |r| r.get(0))?)
}

pub fn credentials(conn: &Connection, id: &str) -> StoreResult<Option<Credentials>> {
    Ok(conn
        .prepare_cached("SELECT id, pin_hash, active, locked_until_ms FROM worker WHERE id = ?1")?
        .query_row([id], |r| {
            Ok(Credentials {
                id: r.get(0)?,
                pin_hash: r.get(1)?,
                active: r.get::<_, i64>(2)? == 1,
                locked_until_ms: r.get(3)?,
            })
        })
        .optional()?)
}

pub fn by_badge(conn: &Connection, badge_sha256: &str) -> StoreResult<Option<Credentials>> {
    Ok(conn
        .prepare_cached(
            "SELECT id, pin_hash, active, locked_until_ms FROM worker WHERE badge_sha256 = ?1",
        )?
        .query_row([badge_sha256], |r| {
            Ok(Credentials {
                id: r.get(0)?,
                pin_hash: r.get(1)?,
                active: r.get::<_, i64>(2)? == 1,
                locked_until_ms: r.get(3)?,
            })
        })
        .optional()?)
}

/// What a PIN sign-in may do, decided before its PIN is compared.
#[derive(Debug, Clone)]
pub enum PinAttempt {
    UnknownWorker,
    /// Locked out: no comparison against the worker's hash.
    Locked,
    /// The attempt is counted as a failure already; a right PIN clears it (`open_session`).
    Counted(Credentials),
}

/// Counts a PIN attempt *before* the PIN is compared (postmortem: counting after the comparison
/// let 100 concurrent sign-ins all pass the lock check; ~60 were tried and one found the PIN).
/// N attempts in flight use N of the five, and the sixth is refused without hashing.
pub fn count_pin_attempt(conn: &Connection, id: &str, now_ms: i64) -> StoreResult<PinAttempt> {
    let row = conn
        .prepare_cached("SELECT failed_pins, locked_until_ms FROM worker WHERE id = ?1")?
        .query_row([id], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
        .optional()?;
    let Some((failed, locked_until)) = row else {
        return Ok(PinAttempt::UnknownWorker);
    };
    let Some((failed, locked_until)) =
        next_attempt(failed, locked_until, now_ms, MAX_FAILED_PINS, LOCKOUT_MS)
    else {
        return Ok(PinAttempt::Locked);
    };
    conn.prepare_cached("UPDATE worker SET failed_pins = ?2, locked_until_ms = ?3 WHERE id = ?1")?
        .execute(params![id, failed, locked_until])?;
    credentials(conn, id)?
        .map(PinAttempt::Counted)
        .ok_or_else(|| StoreError::Corrupt(format!("worker {id} vanished in a write")))
}

/// Signed in: the failure count starts again (a lock the right PIN's own attempt set is lifted),
/// and the session is stored (by its hash).
pub fn open_session(
    conn: &Connection,
    id: &str,
    token_sha256: &str,
    now_ms: i64,
    expires_ms: i64,
) -> StoreResult<SessionWorker> {
    conn.prepare_cached("UPDATE worker SET failed_pins = 0, locked_until_ms = 0 WHERE id = ?1")?
        .execute([id])?;
    conn.prepare_cached("DELETE FROM session WHERE expires_ms <= ?1")?
        .execute([now_ms])?;
    conn.prepare_cached("INSERT INTO session (token_sha256, worker, created_ms, expires_ms) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![token_sha256, id, now_ms, expires_ms])?;
    session(conn, token_sha256, now_ms)?
        .ok_or_else(|| StoreError::Corrupt("a session just written is missing".into()))
}

pub fn session(
    conn: &Connection,
    token_sha256: &str,
    now_ms: i64,
) -> StoreResult<Option<SessionWorker>> {
    Ok(conn
        .prepare_cached(
            "SELECT w.id, w.name, w.roles, s.expires_ms FROM session s JOIN worker w ON w.id = s.worker
             WHERE s.token_sha256 = ?1 AND s.expires_ms > ?2 AND w.active = 1",
        )?
        .query_row(params![token_sha256, now_ms], |r| Ok(SessionWorker { worker: r.get(0)?, name: r.get(1)?, roles: roles(r.get(2)?), expires_ms: r.get(3)? }))
        .optional()?)
}

/// A worker leaves (or loses a badge): active or not, and every open session ends now.
pub fn set_active(conn: &Connection, id: &str, active: bool) -> StoreResult<WorkerRecord> {
    let changed = conn
        .prepare_cached(
            "UPDATE worker SET active = ?2, failed_pins = 0, locked_until_ms = 0 WHERE id = ?1",
        )?
        .execute(params![id, active as i64])?;
    if changed == 0 {
        return Err(StoreError::NotFound(format!("worker {id}")));
    }
    conn.prepare_cached("DELETE FROM session WHERE worker = ?1")?
        .execute([id])?;
    list(conn)?
        .into_iter()
        .find(|w| w.id == id)
        .ok_or_else(|| StoreError::NotFound(format!("worker {id}")))
}

pub fn close_session(conn: &Connection, token_sha256: &str) -> StoreResult<()> {
    conn.prepare_cached("DELETE FROM session WHERE token_sha256 = ?1")?
        .execute([token_sha256])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let conn = super::super::schema::memory_db();
        let w = NewWorker {
            id: "li".into(),
            name: "Li Wei".into(),
            pin_hash: "x".into(),
            badge_sha256: Some("b".into()),
            roles: vec!["picker".into()],
        };
        create(&conn, &w, 0).expect("worker");
        conn
    }

    #[test]
    fn a_session_ends_at_its_expiry_and_with_its_worker() {
        let conn = db();
        open_session(&conn, "li", "t1", 1_000, 61_000).expect("session");
        assert_eq!(
            session(&conn, "t1", 60_999)
                .expect("read")
                .map(|s| s.worker)
                .as_deref(),
            Some("li")
        );
        assert!(
            session(&conn, "t1", 61_000).expect("read").is_none(),
            "expired at expires_ms"
        );
        assert!(session(&conn, "nope", 2_000).expect("read").is_none());
        open_session(&conn, "li", "t2", 70_000, 200_000).expect("session");
        let expired: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM session WHERE token_sha256 = 't1'",
                [],
                |r| r.get(0),
            )
            .expect("count");
        assert_eq!(
            expired, 0,
            "expired sessions are deleted when a new one opens"
        );
        conn.execute("UPDATE worker SET active = 0 WHERE id = 'li'", [])
            .expect("deactivate");
        assert!(
            session(&conn, "t2", 80_000).expect("read").is_none(),
            "an inactive worker's session is dead"
        );
    }

    #[test]
    fn a_badge_belongs_to_one_worker() {
        let conn = db();
        assert!(matches!(
            create(
                &conn,
                &NewWorker {
                    id: "wu".into(),
                    name: "Wu".into(),
                    pin_hash: "y".into(),
                    badge_sha256: Some("b".into()),
                    roles: vec![]
                },
                0
            ),
            Err(StoreError::Conflict(_))
        ));
    }

    #[test]
    fn attempts_are_counted_before_the_comparison_and_the_sixth_is_refused_without_one() {
        let conn = db();
        for n in 1..=MAX_FAILED_PINS {
            let attempt = count_pin_attempt(&conn, "li", 1_000).expect("count");
            assert!(
                matches!(attempt, PinAttempt::Counted(_)),
                "attempt {n} may compare"
            );
        }
        assert!(
            matches!(
                count_pin_attempt(&conn, "li", 1_000).expect("count"),
                PinAttempt::Locked
            ),
            "five in flight use the five tries"
        );
        assert!(matches!(
            count_pin_attempt(&conn, "li", 1_000 + LOCKOUT_MS - 1).expect("count"),
            PinAttempt::Locked
        ));
        assert!(matches!(
            count_pin_attempt(&conn, "nobody", 1_000).expect("count"),
            PinAttempt::UnknownWorker
        ));
        let after = count_pin_attempt(&conn, "li", 1_000 + LOCKOUT_MS).expect("count");
        assert!(
            matches!(after, PinAttempt::Counted(ref c) if c.locked_until_ms == 0),
            "the lock ran out: a fresh count of one, {after:?}"
        );
        for _ in 0..3 {
            count_pin_attempt(&conn, "li", 1_000 + LOCKOUT_MS).expect("count");
        }
        open_session(&conn, "li", "t", 1_000 + LOCKOUT_MS, 1_000 + 2 * LOCKOUT_MS)
            .expect("the right PIN");
        for _ in 0..4 {
            assert!(
                matches!(
                    count_pin_attempt(&conn, "li", 1_000 + LOCKOUT_MS).expect("count"),
                    PinAttempt::Counted(_)
                ),
                "signing in started the count again"
            );
        }
    }
}
