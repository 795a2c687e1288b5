//! HQ's recovery of a stuck event stream: set the edge's high-water mark by hand.
//!
//! When central holds events its edge never wrote (a leaked edge token used to push ahead of
//! the real edge, an edge restored from a backup), every push of the real edge is refused as
//! `sync-ahead` and nothing the edge can send fixes it; when the edge can no longer resend
//! what central lacks (its acknowledged events were pruned before central lost them), every
//! push is a `sync-gap`. HQ looks at the stream (`GET /api/v1/sync/status`: `resend_from`,
//! `edge_head`, `last_refusal`) and moves the mark — down to one below `resend_from` so the
//! real edge's events are taken, or up past what is lost for good. The move is decided against
//! the mark HQ saw (`expected_high_water`, so a push in between is not overwritten) and is
//! written with its audit entry and journal event in one transaction.
//!
//! What it does not do: undo what forged events did (stock they moved, orders they advanced);
//! the journal and `sync_reject` show them, and correcting them is HQ's business.

use super::{commands, PushWatch, SyncError};
use crate::audit;
use crate::db::Tx;
use crate::journal::{self, BusinessEvent};
use serde::{Deserialize, Serialize};
use tote_shared::WarehouseCode;

/// The re-base HQ asks for.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rebase {
    /// The new mark: the edge's events from `high_water + 1` on are taken next. At most
    /// 2^63 - 1 (the database counts in i64; more is a 422 `invalid-sync`).
    #[schema(minimum = 0, maximum = 9223372036854775807_i64)]
    pub high_water: u64,
    /// The mark HQ saw; if the stream has moved since, nothing changes (409).
    pub expected_high_water: u64,
    /// Why (kept in the audit log): 1 to 500 characters.
    #[schema(value_type = tote_shared::openapi::Text500)]
    pub reason: String,
}

/// What the re-base did.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Rebased {
    pub warehouse: WarehouseCode,
    pub from_high_water: u64,
    pub to_high_water: u64,
    /// The audit log entry written with it.
    pub audit_id: u64,
}

/// The rule, pure: only from the mark HQ saw, and only to a mark the database can count.
pub fn decide(current: u64, request: &Rebase) -> Result<(), SyncError> {
    if current != request.expected_high_water {
        return Err(SyncError::Moved { expected: request.expected_high_water, actual: current });
    }
    if i64::try_from(request.high_water).is_err() {
        return Err(SyncError::Invalid(format!("high_water must be at most {}", i64::MAX)));
    }
    Ok(())
}

/// Load → decide → apply, with the audit entry and the journal event, in `tx`.
/// `seen`: what central saw of the edge's pushes, kept in the audit entry with the reason.
pub fn rebase(tx: &mut dyn Tx, warehouse: &WarehouseCode, request: &Rebase, seen: &PushWatch, actor: &str, now_ms: i64) -> Result<Rebased, SyncError> {
    let current = commands::lock_high_water(tx, warehouse)?;
    decide(current, request)?;
    let from = commands::rebase(tx, warehouse, request.high_water)?;
    let detail = serde_json::json!({
        "from_high_water": from,
        "to_high_water": request.high_water,
        "reason": request.reason,
        "refused_pushes": seen.refused_pushes,
        "last_refusal": seen.last_refusal,
        "resend_from": seen.resend_from,
        "edge_head": seen.edge_head,
    });
    let audit_id = audit::store::append(tx, now_ms, actor, "sync_rebase", &format!("warehouse:{warehouse}"), &detail)?;
    let event = BusinessEvent::EdgeStreamRebased { warehouse: warehouse.clone(), from_high_water: from, to_high_water: request.high_water };
    journal::store::append(tx, &event, now_ms)?;
    tracing::warn!(%warehouse, from, to = request.high_water, reason = %request.reason, "edge stream re-based by HQ");
    Ok(Rebased { warehouse: warehouse.clone(), from_high_water: from, to_high_water: request.high_water, audit_id })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rebase_applies_only_from_the_mark_hq_saw() {
        let request = Rebase { high_water: 5, expected_high_water: 2005, reason: "forged events".into() };
        assert!(decide(2005, &request).is_ok());
        assert!(matches!(decide(2006, &request), Err(SyncError::Moved { expected: 2005, actual: 2006 })));
        let too_far = Rebase { high_water: u64::MAX, ..request };
        assert!(matches!(decide(2005, &too_far), Err(SyncError::Invalid(_))));
    }
}
