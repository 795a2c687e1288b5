//! Tracking pushes taken in batches. An aggregator pushes thousands of parcels a second; one
//! transaction per push caps PostgreSQL at one commit each (~2,500/s here). Each push goes to
//! the shard its waybill hashes to (so one parcel's pushes stay in order); a shard's worker
//! takes every push waiting, up to `MAX_BATCH`, and applies them in one transaction
//! (`receive_pushes`). Each caller gets its own outcome once the batch committed. A batch that
//! fails is retried push by push, so one bad push cannot fail the others.

use super::tracking::Push;
use super::{receive_pushes, PushOutcome};
use crate::db::{Database, DbError, DbErrorKind};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tote_shared::runtime::batch::{next_batch, shard_of};

/// Most pushes one transaction takes.
pub const MAX_BATCH: usize = 256;
/// Pushes waiting per shard before callers wait.
const QUEUE: usize = 4096;
/// Batches in flight at once (each on its own connection with PostgreSQL).
const SHARDS: usize = 2;

struct Job {
    push: Push,
    reply: oneshot::Sender<Result<PushOutcome, DbError>>,
}

pub struct PushIntake {
    shards: Vec<mpsc::Sender<Job>>,
}

impl PushIntake {
    /// `written` runs after each committed batch (wakes the journal).
    pub fn start(db: Database, written: Arc<dyn Fn() + Send + Sync>) -> PushIntake {
        let shards = (0..SHARDS)
            .map(|_| {
                let (tx, rx) = mpsc::channel(QUEUE);
                tokio::spawn(worker(db.clone(), rx, written.clone()));
                tx
            })
            .collect();
        PushIntake { shards }
    }

    pub async fn submit(&self, push: Push) -> Result<PushOutcome, DbError> {
        let shard = &self.shards[shard_of(&push.waybill, self.shards.len())];
        let (reply, answer) = oneshot::channel();
        let stopped = || DbError { kind: DbErrorKind::Unavailable, message: "tracking intake stopped".into() };
        shard.send(Job { push, reply }).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn worker(db: Database, mut queue: mpsc::Receiver<Job>, written: Arc<dyn Fn() + Send + Sync>) {
    while let Some(jobs) = next_batch(&mut queue, MAX_BATCH).await {
        let pushes: Vec<Push> = jobs.iter().map(|j| j.push.clone()).collect();
        let now = crate::startup::now_ms();
        match db.write(move |tx| receive_pushes(tx, &pushes, now)).await {
            Ok(outcomes) => {
                written();
                for (job, outcome) in jobs.into_iter().zip(outcomes) {
                    let _ = job.reply.send(Ok(outcome));
                }
            }
            Err(error) => {
                tracing::warn!(%error, pushes = jobs.len(), "tracking batch failed; applying its pushes one by one");
                for job in jobs {
                    let push = job.push;
                    let outcome = db.write(move |tx| receive_pushes(tx, std::slice::from_ref(&push), now)).await.map(|mut o| o.remove(0));
                    if outcome.is_ok() {
                        written();
                    }
                    let _ = job.reply.send(outcome);
                }
            }
        }
    }
}
