//! The `hq_user`, `hq_session` and `hq_token` tables; nothing else touches them. Secrets are
//! stored as hashes only: passwords as Argon2id PHC strings, session and API tokens as SHA-256
//! (256 random bits need no stretching), so a copy of the database signs nobody in.

use super::{join_roles, split_roles, ApiToken, Role, User};
use crate::db::{DbResult, Row, Tx};
use crate::params;
use tote_shared::runtime::password::next_attempt;

const USER_COLUMNS: &str =
    "id, name, roles, active, totp_secret IS NOT NULL, locked_until_ms, created_ms";

fn user(r: &Row) -> DbResult<User> {
    Ok(User {
        id: r.text(0)?,
        name: r.text(1)?,
        roles: split_roles(&r.text(2)?)
            .iter()
            .map(|r| r.as_str().to_owned())
            .collect(),
        active: r.int(3)? != 0,
        totp: r.int(4)? != 0,
        locked_until_ms: r.int(5)?,
        created_ms: r.int(6)?,
    })
}

pub fn count_users(tx: &mut dyn Tx) -> DbResult<u64> {
    tx.query_one("SELECT COUNT(*) FROM hq_user", &[])?.uint(0)
}

/// A new user; false if the id is taken.
pub fn create_user(
    tx: &mut dyn Tx,
    id: &str,
    name: &str,
    password_hash: &str,
    roles: &[Role],
    now_ms: i64,
) -> DbResult<bool> {
    let n = tx.execute(
        "INSERT INTO hq_user (id, name, password_hash, roles, created_ms) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (id) DO NOTHING",
        &params![id, name, password_hash, join_roles(roles), now_ms],
    )?;
    Ok(n == 1)
}

pub fn get_user(tx: &mut dyn Tx, id: &str) -> DbResult<Option<User>> {
    tx.query_opt(
        &format!("SELECT {USER_COLUMNS} FROM hq_user WHERE id = ?1"),
        &params![id],
    )?
    .map(|r| user(&r))
    .transpose()
}

pub fn users(tx: &mut dyn Tx) -> DbResult<Vec<User>> {
    tx.query(
        &format!("SELECT {USER_COLUMNS} FROM hq_user ORDER BY id"),
        &[],
    )?
    .iter()
    .map(user)
    .collect()
}

/// Roles and whether the user may sign in; taking a user off ends their sessions and lifts a
/// lockout. None if there is no such user.
pub fn edit_user(
    tx: &mut dyn Tx,
    id: &str,
    roles: Option<&[Role]>,
    active: Option<bool>,
) -> DbResult<Option<User>> {
    if let Some(roles) = roles {
        tx.execute(
            "UPDATE hq_user SET roles = ?2 WHERE id = ?1",
            &params![id, join_roles(roles)],
        )?;
    }
    if let Some(active) = active {
        tx.execute(
            "UPDATE hq_user SET active = ?2, failed = 0, locked_until_ms = 0 WHERE id = ?1",
            &params![id, i64::from(active)],
        )?;
        if !active {
            tx.execute("DELETE FROM hq_session WHERE user_id = ?1", &params![id])?;
        }
    }
    get_user(tx, id)
}

/// A new password; every session of the user ends (a changed password signs everyone out).
pub fn set_password(tx: &mut dyn Tx, id: &str, password_hash: &str) -> DbResult<bool> {
    let n = tx.execute(
        "UPDATE hq_user SET password_hash = ?2, failed = 0, locked_until_ms = 0 WHERE id = ?1",
        &params![id, password_hash],
    )?;
    tx.execute("DELETE FROM hq_session WHERE user_id = ?1", &params![id])?;
    Ok(n == 1)
}

/// What a password sign-in may do, decided before its password is compared.
pub enum Attempt {
    UnknownUser,
    /// Locked out: no comparison against the user's hash.
    Locked,
    /// Counted as a failure already; the right password (and code) clears it (`open_session`).
    Counted(Credentials),
}

pub struct Credentials {
    pub id: String,
    pub name: String,
    pub roles: Vec<Role>,
    pub password_hash: String,
    pub active: bool,
    pub totp_secret: Option<String>,
    pub totp_last_step: i64,
}

/// Counts a sign-in attempt *before* the password is compared, so attempts in flight at once
/// each use one of the allowance (`password::next_attempt`).
pub fn count_attempt(tx: &mut dyn Tx, id: &str, now_ms: i64) -> DbResult<Attempt> {
    let Some(row) = tx.query_opt(
        "SELECT failed, locked_until_ms FROM hq_user WHERE id = ?1 FOR UPDATE",
        &params![id],
    )?
    else {
        return Ok(Attempt::UnknownUser);
    };
    let Some((failed, locked_until)) = next_attempt(
        row.int(0)?,
        row.int(1)?,
        now_ms,
        super::MAX_FAILED_SIGN_INS,
        super::LOCKOUT_MS,
    ) else {
        return Ok(Attempt::Locked);
    };
    tx.execute(
        "UPDATE hq_user SET failed = ?2, locked_until_ms = ?3 WHERE id = ?1",
        &params![id, failed, locked_until],
    )?;
    let r = tx.query_one("SELECT id, name, roles, password_hash, active, totp_secret, totp_last_step FROM hq_user WHERE id = ?1", &params![id])?;
    Ok(Attempt::Counted(Credentials {
        id: r.text(0)?,
        name: r.text(1)?,
        roles: split_roles(&r.text(2)?),
        password_hash: r.text(3)?,
        active: r.int(4)? != 0,
        totp_secret: r.opt_text(5)?,
        totp_last_step: r.int(6)?,
    }))
}

/// Records the TOTP step just used, unless a concurrent sign-in used it (or a later one)
/// first: false then, and the code counts as replayed.
pub fn use_totp_step(tx: &mut dyn Tx, id: &str, step: i64) -> DbResult<bool> {
    Ok(tx.execute(
        "UPDATE hq_user SET totp_last_step = ?2 WHERE id = ?1 AND totp_last_step < ?2",
        &params![id, step],
    )? == 1)
}

/// A live session as the guard sees it.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: String,
    pub name: String,
    pub roles: Vec<Role>,
    pub csrf: String,
    pub expires_ms: i64,
    /// When it was last used (to a minute: see [`touch_session`]).
    pub seen_ms: i64,
}

/// Signed in: the failure count starts again and the session is stored (by its token's hash).
pub fn open_session(
    tx: &mut dyn Tx,
    id: &str,
    token_sha256: &str,
    csrf: &str,
    origin: &str,
    now_ms: i64,
    expires_ms: i64,
) -> DbResult<()> {
    tx.execute(
        "UPDATE hq_user SET failed = 0, locked_until_ms = 0 WHERE id = ?1",
        &params![id],
    )?;
    tx.execute(
        "DELETE FROM hq_session WHERE expires_ms <= ?1",
        &params![now_ms],
    )?;
    tx.execute(
        "INSERT INTO hq_session (token_sha256, user_id, csrf, created_ms, expires_ms, origin, seen_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?4)",
        &params![token_sha256, id, csrf, now_ms, expires_ms, origin],
    )?;
    Ok(())
}

/// The session a token's hash stands for: not expired, used within `idle_ms`, and its user
/// active.
pub fn session(tx: &mut dyn Tx, token_sha256: &str, now_ms: i64, idle_ms: i64) -> DbResult<Option<Session>> {
    tx.query_opt(
        "SELECT u.id, u.name, u.roles, s.csrf, s.expires_ms, s.seen_ms FROM hq_session s JOIN hq_user u ON u.id = s.user_id
         WHERE s.token_sha256 = ?1 AND s.expires_ms > ?2 AND s.seen_ms > ?3 AND u.active = 1",
        &params![token_sha256, now_ms, now_ms.saturating_sub(idle_ms)],
    )?
    .map(|r| Ok(Session { user: r.text(0)?, name: r.text(1)?, roles: split_roles(&r.text(2)?), csrf: r.text(3)?, expires_ms: r.int(4)?, seen_ms: r.int(5)? }))
    .transpose()
}

/// Marks the session used at `now_ms`. Callers do it at most once a minute a session, so a
/// busy page costs one write a minute, not one a request.
pub fn touch_session(tx: &mut dyn Tx, token_sha256: &str, now_ms: i64) -> DbResult<()> {
    tx.execute(
        "UPDATE hq_session SET seen_ms = ?2 WHERE token_sha256 = ?1 AND seen_ms < ?2",
        &params![token_sha256, now_ms],
    )?;
    Ok(())
}

pub fn close_session(tx: &mut dyn Tx, token_sha256: &str) -> DbResult<()> {
    tx.execute(
        "DELETE FROM hq_session WHERE token_sha256 = ?1",
        &params![token_sha256],
    )?;
    Ok(())
}

/// Starts TOTP enrolment: the secret waits until a code from it is typed back. False when the
/// user has a second factor already (a stolen session must not replace it; an admin removes
/// it first).
pub fn begin_totp(tx: &mut dyn Tx, id: &str, secret_hex: &str) -> DbResult<bool> {
    Ok(tx.execute(
        "UPDATE hq_user SET totp_pending = ?2 WHERE id = ?1 AND totp_secret IS NULL",
        &params![id, secret_hex],
    )? == 1)
}

pub fn pending_totp(tx: &mut dyn Tx, id: &str) -> DbResult<Option<String>> {
    Ok(tx
        .query_opt(
            "SELECT totp_pending FROM hq_user WHERE id = ?1",
            &params![id],
        )?
        .map(|r| r.opt_text(0))
        .transpose()?
        .flatten())
}

/// The pending secret becomes the user's second factor; `step` is the code just typed.
pub fn confirm_totp(tx: &mut dyn Tx, id: &str, step: i64) -> DbResult<()> {
    tx.execute("UPDATE hq_user SET totp_secret = totp_pending, totp_pending = NULL, totp_last_step = ?2 WHERE id = ?1", &params![id, step])?;
    Ok(())
}

pub fn remove_totp(tx: &mut dyn Tx, id: &str) -> DbResult<bool> {
    Ok(tx.execute(
        "UPDATE hq_user SET totp_secret = NULL, totp_pending = NULL WHERE id = ?1",
        &params![id],
    )? == 1)
}

/// A new API token; false if the id is taken.
pub fn create_token(
    tx: &mut dyn Tx,
    id: &str,
    token_sha256: &str,
    scopes: &[Role],
    by: &str,
    now_ms: i64,
) -> DbResult<bool> {
    let n = tx.execute(
        "INSERT INTO hq_token (id, token_sha256, scopes, created_by, created_ms) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (id) DO NOTHING",
        &params![id, token_sha256, join_roles(scopes), by, now_ms],
    )?;
    Ok(n == 1)
}

fn api_token(r: &Row) -> DbResult<ApiToken> {
    Ok(ApiToken {
        id: r.text(0)?,
        scopes: split_roles(&r.text(1)?)
            .iter()
            .map(|r| r.as_str().to_owned())
            .collect(),
        created_by: r.text(2)?,
        created_ms: r.int(3)?,
        revoked_ms: r.opt_int(4)?,
    })
}

pub fn tokens(tx: &mut dyn Tx) -> DbResult<Vec<ApiToken>> {
    tx.query(
        "SELECT id, scopes, created_by, created_ms, revoked_ms FROM hq_token ORDER BY id",
        &[],
    )?
    .iter()
    .map(api_token)
    .collect()
}

/// Revokes a token (kept, for the audit log's sake); None if there is no such token.
pub fn revoke_token(tx: &mut dyn Tx, id: &str, now_ms: i64) -> DbResult<Option<ApiToken>> {
    tx.execute(
        "UPDATE hq_token SET revoked_ms = ?2 WHERE id = ?1 AND revoked_ms IS NULL",
        &params![id, now_ms],
    )?;
    tx.query_opt(
        "SELECT id, scopes, created_by, created_ms, revoked_ms FROM hq_token WHERE id = ?1",
        &params![id],
    )?
    .map(|r| api_token(&r))
    .transpose()
}

/// A live token by its hash: its id and scopes.
pub fn token_by_hash(tx: &mut dyn Tx, token_sha256: &str) -> DbResult<Option<(String, Vec<Role>)>> {
    tx.query_opt(
        "SELECT id, scopes FROM hq_token WHERE token_sha256 = ?1 AND revoked_ms IS NULL",
        &params![token_sha256],
    )?
    .map(|r| Ok((r.text(0)?, split_roles(&r.text(1)?))))
    .transpose()
}
