//! The audit log: what HQ did by hand that the data alone would not tell — a stream re-based,
//! say — with who, when and why. A base layer: the system that acts appends its entry in the
//! transaction of the action (`store::append`), so there is no action without its entry and
//! no entry for an action that rolled back. Append-only (triggers refuse changes).
//!
//! What it is not: the business-event journal (facts other systems react to) or a log of
//! every request.

pub mod http;
pub mod store;

use serde::Serialize;

/// One entry as `GET /api/v1/audit` shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: u64,
    pub at_ms: i64,
    /// The role that acted (`admin`).
    pub actor: String,
    /// What was done, e.g. `sync_rebase`.
    pub action: String,
    /// What it was done to, e.g. `warehouse:SH-01`.
    pub subject: String,
    /// The action's particulars (before and after, the reason given).
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}
