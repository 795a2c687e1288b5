//! Edge sync. Two layers: `commands` (the base: per-edge command streams and stream
//! positions, below every business system) and `events` (the top: each edge event dispatched
//! to the system it concerns, exactly once). `http.rs` serves push, long-poll pull, status
//! and the rejected events.

pub mod commands;
pub mod events;
pub mod http;

use crate::db::DbError;
use commands::StreamError;
use serde::{Deserialize, Serialize};
use tote_shared::WarehouseCode;

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
    /// 409 with `high_water`: the edge resends from there.
    #[error("sync gap: central holds events up to {high_water}, the batch starts at {first}")]
    Gap { high_water: u64, first: u64 },
    /// 404
    #[error("warehouse {0} not found")]
    UnknownWarehouse(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<StreamError> for SyncError {
    fn from(e: StreamError) -> Self {
        match e {
            StreamError::UnknownWarehouse(w) => SyncError::UnknownWarehouse(w),
            StreamError::Db(e) => SyncError::Db(e),
        }
    }
}
