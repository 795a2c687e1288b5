//! Idempotency-Keys expire: after pruning, the same key is a new request; a kept one still
//! replays; another request under a kept key is a mismatch.

mod common;

use common::{Backend, Place};
use tote_central::db::{Database, DbError};
use tote_central::idempotency::{lookup, prune, remember};
use tote_shared::runtime::idempotency::{fingerprint, RequestKey, Seen};

fn key(name: &str, body: &str) -> RequestKey {
    RequestKey { key: name.into(), fingerprint: fingerprint("POST", "/api/v1/orders", "admin", body.as_bytes()) }
}

async fn seen(db: &Database, request: RequestKey) -> Seen<(u16, String)> {
    db.read(move |tx| -> Result<_, DbError> { lookup(tx, "admin", &request) }).await.expect("lookup")
}

async fn pruned_keys_are_forgotten_and_kept_ones_replay(backend: Backend) {
    let place = Place::new(backend);
    let db = place.open().await;
    for (name, at) in [("old-key", 1_000), ("fresh-key", 9_000)] {
        let request = key(name, "{}");
        db.write(move |tx| remember(tx, "admin", &request, &(201, format!("{{\"id\":{at}}}")), at)).await.expect("remember");
    }
    assert_eq!(db.write(|tx| prune(tx, 5_000, 100)).await.expect("prune"), 1);
    assert_eq!(seen(&db, key("old-key", "{}")).await, Seen::New, "a pruned key is new again");
    assert_eq!(seen(&db, key("fresh-key", "{}")).await, Seen::Replay((201, "{\"id\":9000}".to_owned())));
    assert_eq!(seen(&db, key("fresh-key", "{\"x\":1}")).await, Seen::Mismatch);
}

#[tokio::test]
async fn sqlite_pruned_keys_are_forgotten_and_kept_ones_replay() {
    pruned_keys_are_forgotten_and_kept_ones_replay(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_pruned_keys_are_forgotten_and_kept_ones_replay() {
    pruned_keys_are_forgotten_and_kept_ones_replay(Backend::Postgres).await;
}
