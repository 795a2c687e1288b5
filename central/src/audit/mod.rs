//! The audit log: every change an HQ caller makes — who, when, what, from where — and what HQ
//! did by hand that the data alone would not tell (a stream re-based, say). A base layer:
//!
//! - every write request of an HQ user or token runs in a `RequestAudit` scope (`auth::guard`
//!   sets it), which appends one entry per request *in the transaction of the change itself*
//!   (`db::RequestScope`): no change without its entry, no entry for a change that rolled back;
//! - a system that acts appends its own entry with the particulars (`store::append`), in the
//!   transaction of the action; inside a request its actor is the request's caller.
//!
//! Append-only (triggers refuse changes). What it is not: the business-event journal (facts
//! other systems react to) or a log of every read.

pub mod http;
pub mod store;

use crate::db::{DbResult, RequestScope, Tx};
use serde::Serialize;

/// One entry as `GET /api/v1/audit` shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: u64,
    pub at_ms: i64,
    /// Who acted: `user:<id>`, `token:<id>`, or `admin` / `reader` (the configured tokens).
    pub actor: String,
    /// What was done: a request's method and route (`POST /api/v1/purchase-orders/{id}/approve`)
    /// or a named action (`sync_rebase`).
    pub action: String,
    /// What it was done to: the request's path, or e.g. `warehouse:SH-01`.
    pub subject: String,
    /// The particulars: the request's body (secrets masked), or before and after.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    /// The caller's address (empty for entries made before addresses were kept).
    pub origin: String,
}

/// The entry a write request leaves (see the module doc).
pub struct RequestAudit {
    pub actor: String,
    pub origin: String,
    /// 128 random bits: one entry per request, however many transactions it makes.
    pub request: String,
    pub action: String,
    pub subject: String,
    pub detail: serde_json::Value,
}

impl RequestScope for RequestAudit {
    fn actor(&self) -> &str {
        &self.actor
    }

    fn after(&self, tx: &mut dyn Tx) -> DbResult<()> {
        store::append_request(tx, tote_shared::runtime::system::now_ms(), self)
    }
}

/// Field names whose values never reach the log (passwords, TOTP codes, tokens, keys).
fn secret_field(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "password",
        "secret",
        "token",
        "totp",
        "private",
        "credential",
    ]
    .iter()
    .any(|s| name.contains(s))
        || name.ends_with("key")
        || matches!(name.as_str(), "pin" | "code" | "current")
}

/// `body` with every secret field's value replaced by `"***"`, at any depth.
pub fn masked(body: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match body {
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(k, v)| {
                    if secret_field(&k) {
                        (k, Value::from("***"))
                    } else {
                        (k, masked(v))
                    }
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(masked).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_masked_at_any_depth_and_the_rest_kept() {
        let body = json!({"id": "li", "password": "correct horse", "items": [{"totp_code": "123456", "qty": 2}], "credential": {"a": 1}, "code": "999999", "current": "old one", "api_key": "k", "signing_key": "s", "kind": "amount"});
        assert_eq!(
            masked(body),
            json!({"id": "li", "password": "***", "items": [{"totp_code": "***", "qty": 2}], "credential": "***", "code": "***", "current": "***", "api_key": "***", "signing_key": "***", "kind": "amount"})
        );
    }
}
