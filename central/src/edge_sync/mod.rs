//! Edge sync. Two layers: `commands` (the base: per-edge command streams and stream
//! positions, below every business system) and `events` (the top: each edge event dispatched
//! to the system it concerns, exactly once). `rebase` is HQ's recovery of a stuck stream.
//! `http.rs` serves push, long-poll pull, status, the rejected events and the re-base.
//!
//! The stream rule itself (a push continues exactly from the mark; central never holds more
//! than the edge wrote) is `tote_shared::sync::plan_push`, pure and shared; what makes a stream
//! need HQ's attention is `stream_problems`, pure too.

pub mod commands;
pub mod events;
pub mod http;
pub mod rebase;

use crate::db::DbError;
use commands::StreamError;
use serde::{Deserialize, Serialize};
use tote_shared::sync::PushRefusal;
use tote_shared::WarehouseCode;

/// A stream that has not applied anything for this long while its edge has written more
/// counts as lagging.
pub const LAG_LIMIT_MS: i64 = 5 * 60_000;
/// Events kept aside within this window make a stream need attention.
pub const REJECT_WINDOW_MS: i64 = 60 * 60_000;

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EdgeSyncRow {
    pub warehouse: WarehouseCode,
    /// Highest edge event sequence applied.
    pub events_high_water: u64,
    /// When central last applied new events from this edge.
    pub last_push_ms: Option<i64>,
    /// Newest command queued for the edge.
    pub commands_latest_seq: u64,
    /// Events central could not apply to an order (kept for HQ to look at).
    pub rejected_events: u64,
    /// Of those, kept aside within the last hour.
    pub rejected_last_hour: u64,
}

/// What central saw of an edge's pushes since it started (kept in memory: a refused push
/// writes nothing, and the real edge retries within seconds, so a restart forgets nothing for
/// long). Pure: the push handler feeds it, `/health` and `/metrics` read it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PushWatch {
    /// The newest event the edge said it had written (`head`), at its last push.
    pub edge_head: Option<u64>,
    /// Pushes refused (a gap, or central ahead of the edge) since the last one that applied
    /// events; 0 while the stream flows.
    pub refused_pushes: u64,
    /// When the first of those was refused.
    pub refused_since_ms: Option<i64>,
    /// Why the last one was refused.
    pub last_refusal: Option<String>,
    /// The first event of the last refused push (the edge resends from what central last
    /// acknowledged to it, + 1): re-basing the stream to one below it lets the edge's events in.
    pub resend_from: Option<u64>,
}

impl PushWatch {
    pub fn refused(&mut self, head: Option<u64>, resend_from: Option<u64>, why: String, now_ms: i64) {
        self.edge_head = head.or(self.edge_head);
        self.refused_pushes += 1;
        self.refused_since_ms.get_or_insert(now_ms);
        self.last_refusal = Some(why);
        self.resend_from = resend_from;
    }

    /// A push applied events (or HQ re-based the stream): it flows again.
    pub fn flowing(&mut self, head: Option<u64>) {
        *self = PushWatch { edge_head: head.or(self.edge_head), ..PushWatch::default() };
    }
}

/// What about a stream needs HQ's attention; empty while it flows. Pure: the stream, what was
/// seen of its pushes and the clock in, sentences out (for `/health`; `/metrics` has numbers).
pub fn stream_problems(row: &EdgeSyncRow, pushes: &PushWatch, now_ms: i64) -> Vec<String> {
    let mut problems = Vec::new();
    if pushes.refused_pushes > 0 {
        let since = pushes.refused_since_ms.map(|t| format!(" for {} s", (now_ms - t).max(0) / 1000)).unwrap_or_default();
        let why = pushes.last_refusal.as_deref().unwrap_or("unknown");
        problems.push(format!("{} push(es) refused{since}, the last because {why}", pushes.refused_pushes));
    }
    if row.rejected_last_hour > 0 {
        problems.push(format!("{} event(s) kept aside in the last hour (GET /api/v1/sync/rejects)", row.rejected_last_hour));
    }
    if let Some(head) = pushes.edge_head.filter(|&head| head > row.events_high_water) {
        let idle_ms = row.last_push_ms.map_or(i64::MAX, |t| now_ms - t);
        if idle_ms > LAG_LIMIT_MS && pushes.refused_pushes == 0 {
            let behind = head - row.events_high_water;
            problems.push(format!("lagging: the edge has written {behind} event(s) central does not hold, and none were applied for over {} s", LAG_LIMIT_MS / 1000));
        }
    }
    problems
}

/// An edge event central applied to the stream but could not fit to an order.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RejectedEvent {
    pub warehouse: WarehouseCode,
    pub seq: u64,
    pub at_ms: i64,
    pub reason: String,
    /// The event as the edge sent it.
    #[schema(value_type = Object)]
    pub event: serde_json::Value,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// 409 `sync-gap` with `high_water` and `expected_seq`: the edge resends from there.
    #[error("sync gap: central holds events up to {high_water}, so a push must continue at {}; this one has {first} next", high_water + 1)]
    Gap { high_water: u64, first: u64 },
    /// 409 `sync-ahead` with `high_water` and `edge_head`: central holds events this edge never
    /// wrote (a leaked token, an edge restored from a backup). Nothing the edge sends can fix
    /// it: HQ re-bases the stream (README, operations).
    #[error("sync ahead: central holds events up to {high_water} but this edge has written only {head}; HQ must re-base the stream")]
    Ahead { high_water: u64, head: u64 },
    /// 409 `high-water-moved` with `high_water`: a re-base named a mark the stream no longer has.
    #[error("the stream's mark is {actual}, not {expected}: look again before re-basing")]
    Moved { expected: u64, actual: u64 },
    /// 422: a push or re-base that cannot be taken as sent.
    #[error("{0}")]
    Invalid(String),
    /// 404
    #[error("warehouse {0} not found")]
    UnknownWarehouse(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl SyncError {
    /// Whether the push was refused by the stream rule (and so is recorded on the stream).
    pub fn is_refusal(&self) -> bool {
        matches!(self, SyncError::Gap { .. } | SyncError::Ahead { .. })
    }
}

impl From<PushRefusal> for SyncError {
    fn from(refusal: PushRefusal) -> Self {
        match refusal {
            PushRefusal::Gap { high_water, first } => SyncError::Gap { high_water, first },
            PushRefusal::Ahead { high_water, head } => SyncError::Ahead { high_water, head },
            PushRefusal::Unordered => SyncError::Invalid("events must be in strictly increasing seq order".into()),
            PushRefusal::HeadBelowEvents { head, last } => SyncError::Invalid(format!("head {head} is below the batch's own event {last}")),
        }
    }
}

impl From<StreamError> for SyncError {
    fn from(e: StreamError) -> Self {
        match e {
            StreamError::UnknownWarehouse(w) => SyncError::UnknownWarehouse(w),
            StreamError::Db(e) => SyncError::Db(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> EdgeSyncRow {
        EdgeSyncRow {
            warehouse: WarehouseCode::parse("SH-01").expect("code"),
            events_high_water: 10,
            last_push_ms: Some(1_000),
            commands_latest_seq: 0,
            rejected_events: 0,
            rejected_last_hour: 0,
        }
    }

    fn seen(head: u64) -> PushWatch {
        PushWatch { edge_head: Some(head), ..PushWatch::default() }
    }

    #[test]
    fn a_flowing_stream_has_no_problems() {
        assert!(stream_problems(&row(), &seen(10), 1_000_000_000).is_empty());
        assert!(stream_problems(&row(), &seen(30), 2_000).is_empty(), "the edge pushes its next batch at once");
    }

    #[test]
    fn refusals_recent_rejects_and_lag_each_show() {
        let mut pushes = seen(10);
        pushes.refused(Some(4), Some(3), "sync ahead".into(), 1_000);
        pushes.refused(Some(4), Some(3), "sync ahead".into(), 5_000);
        pushes.refused(Some(4), Some(3), "sync ahead".into(), 9_000);
        assert_eq!(stream_problems(&row(), &pushes, 61_000), ["3 push(es) refused for 60 s, the last because sync ahead"]);
        pushes.flowing(Some(11));
        assert_eq!(pushes, seen(11), "a push that applies events clears the refusals");
        let rejects = EdgeSyncRow { rejected_events: 9, rejected_last_hour: 2, ..row() };
        assert!(stream_problems(&rejects, &seen(10), 2_000)[0].starts_with("2 event(s) kept aside"));
        assert!(stream_problems(&row(), &seen(30), 1_000 + LAG_LIMIT_MS + 1)[0].starts_with("lagging: the edge has written 20"));
    }
}
