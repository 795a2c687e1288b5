//! `GET /api/v1/finance/trial-balance` and `GET /api/v1/finance/books.beancount`.

use super::export;
use super::store::{self, Balance, LedgerLine};
use crate::auth::Reader;
use crate::db::DbError;
use crate::http::error::ApiError;
use crate::startup::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use tote_shared::openapi as doc;
use tote_shared::runtime::http::Json;

/// Entries read per query while exporting.
const PAGE: u32 = 2_000;
/// Most ledger lines one export holds (the response is built in memory).
const MAX_EXPORT_ENTRIES: usize = 2_000_000;

/// Every account's balance (debits positive); the balances sum to zero.
#[utoipa::path(get, path = "/api/v1/finance/trial-balance",
    responses((status = 200, body = Vec<Balance>), doc::Unauthorized, doc::Unavailable), tag = "finance")]
pub async fn trial_balance(_: Reader, State(state): State<AppState>) -> Result<Json<Vec<Balance>>, ApiError> {
    Ok(Json(state.db.read(|tx| -> Result<_, DbError> { store::trial_balance(tx) }).await?))
}

/// The books in beancount's format: `bean-check` accepts them, FIFO lots included.
#[utoipa::path(get, path = "/api/v1/finance/books.beancount",
    responses((status = 200, content_type = "text/plain", body = String, description = "The ledger as a beancount file"), doc::Unauthorized, doc::Conflict, doc::Unavailable), tag = "finance")]
pub async fn beancount(_: Reader, State(state): State<AppState>) -> Result<Response, ApiError> {
    let (accounts, lines) = state
        .db
        .read(|tx| -> Result<_, DbError> {
            let accounts = store::accounts(tx)?;
            let mut lines: Vec<LedgerLine> = Vec::new();
            let mut after = 0;
            loop {
                let page = store::lines_after(tx, after, PAGE)?;
                let Some(last) = page.last().map(|l| l.entry_id) else { break };
                after = last;
                lines.extend(page);
                if lines.len() > MAX_EXPORT_ENTRIES {
                    break;
                }
            }
            Ok((accounts, lines))
        })
        .await?;
    if lines.len() > MAX_EXPORT_ENTRIES {
        let detail = format!("the books hold more than {MAX_EXPORT_ENTRIES} lines, more than one export answers");
        return Err(ApiError::Conflict { slug: "books-too-large", detail });
    }
    let mut skus: BTreeMap<String, i64> = BTreeMap::new();
    for line in &lines {
        if let Some((sku, ..)) = &line.lot {
            let first = skus.entry(sku.clone()).or_insert(line.at_ms);
            *first = (*first).min(line.at_ms);
        }
    }
    let mut text = export::header(&accounts, &skus);
    for entry in lines.chunk_by(|a, b| a.entry_id == b.entry_id) {
        text.push_str(&export::transaction(entry));
    }
    Ok(([(axum::http::header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}
