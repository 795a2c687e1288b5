//! An HQ session ends at its absolute expiry or after `auth.idle_minutes` unused, whichever
//! comes first; each use (written at most once a minute) keeps it alive until the absolute end.

mod common;

use common::{Backend, Place};
use tote_central::db::{Database, DbError};
use tote_central::staff::store::{create_user, open_session, session, touch_session};
use tote_central::staff::Role;

const MINUTE: i64 = 60_000;
const SIGNED_IN: i64 = 1_800_000_000_000;
const IDLE: i64 = 30 * MINUTE;
const LASTS: i64 = 480 * MINUTE;

async fn alive(db: &Database, at: i64) -> bool {
    db.read(move |tx| -> Result<_, DbError> { session(tx, "hash-1", at, IDLE) })
        .await
        .expect("session")
        .is_some()
}

async fn touch(db: &Database, at: i64) {
    db.write(move |tx| touch_session(tx, "hash-1", at)).await.expect("touch");
}

async fn idle_and_absolute_expiry(backend: Backend) {
    let place = Place::new(backend);
    let db = place.open().await;
    db.write(|tx| {
        create_user(tx, "fang", "Fang", "$argon2id$unused", &[Role::Finance], SIGNED_IN)?;
        open_session(tx, "fang", "hash-1", "csrf-1", "127.0.0.1", SIGNED_IN, SIGNED_IN + LASTS)
    })
    .await
    .expect("signed in");
    assert!(alive(&db, SIGNED_IN + IDLE - 1).await, "used within the idle time");
    assert!(!alive(&db, SIGNED_IN + IDLE).await, "unused for the idle time: ended");
    // A late-arriving touch never moves the last use back.
    touch(&db, SIGNED_IN + 20 * MINUTE).await;
    touch(&db, SIGNED_IN + MINUTE).await;
    assert!(alive(&db, SIGNED_IN + 20 * MINUTE + IDLE - 1).await, "the latest use counts");
    // Used every 20 minutes, it lives to its absolute end and not a minute past.
    let mut at = SIGNED_IN;
    while at + 20 * MINUTE < SIGNED_IN + LASTS {
        at += 20 * MINUTE;
        assert!(alive(&db, at).await, "in use at +{} min", (at - SIGNED_IN) / MINUTE);
        touch(&db, at).await;
    }
    assert!(!alive(&db, SIGNED_IN + LASTS).await, "past its absolute end, however busy");
}

#[tokio::test]
async fn sqlite_sessions_end_idle_or_at_their_end() {
    idle_and_absolute_expiry(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_sessions_end_idle_or_at_their_end() {
    idle_and_absolute_expiry(Backend::Postgres).await;
}
