//! The `sup_supplier`, `sup_price` and `sup_submission` tables.

use super::submissions::{Submission, SubmissionState, Submitted};
use super::{Document, PriceBreak, PriceTerms, Supplier, SupplierPrice, SupplierState};
use crate::db::{DbError, DbResult, Row, Tx};
use crate::params;
use tote_shared::{Money, Sku};

const COLUMNS: &str = "SELECT id, name, contact, state, documents, reason, token_hash IS NOT NULL, created_ms, updated_ms, payment_terms_days FROM sup_supplier";

fn supplier(r: &Row) -> DbResult<Supplier> {
    let state = r.text(3)?;
    let documents: Vec<Document> = serde_json::from_str(&r.text(4)?).map_err(|e| DbError::corrupt(format!("supplier documents: {e}")))?;
    Ok(Supplier {
        id: r.text(0)?,
        name: r.text(1)?,
        contact: r.text(2)?,
        state: SupplierState::parse(&state).ok_or_else(|| DbError::corrupt(format!("supplier state {state}")))?,
        documents,
        reason: r.opt_text(5)?,
        has_credential: r.int(6)? != 0,
        created_ms: r.int(7)?,
        updated_ms: r.int(8)?,
        payment_terms_days: u32::try_from(r.int(9)?).map_err(|e| DbError::corrupt(format!("payment terms: {e}")))?,
    })
}

fn documents_json(documents: &[Document]) -> DbResult<String> {
    serde_json::to_string(documents).map_err(|e| DbError::corrupt(e.to_string()))
}

/// Inserts a draft supplier; false when the id is taken.
pub fn insert(tx: &mut dyn Tx, id: &str, name: &str, contact: &str, documents: &[Document], now_ms: i64) -> DbResult<bool> {
    let inserted = tx.execute(
        "INSERT INTO sup_supplier (id, name, contact, state, documents, created_ms, updated_ms) VALUES (?1, ?2, ?3, 'draft', ?4, ?5, ?5)
         ON CONFLICT (id) DO NOTHING",
        &params![id, name, contact, documents_json(documents)?, now_ms],
    )?;
    Ok(inserted == 1)
}

pub fn load(tx: &mut dyn Tx, id: &str, lock: bool) -> DbResult<Option<Supplier>> {
    let sql = format!("{COLUMNS} WHERE id = ?1{}", if lock { " FOR UPDATE" } else { "" });
    tx.query_opt(&sql, &params![id])?.map(|r| supplier(&r)).transpose()
}

pub fn list(tx: &mut dyn Tx, state: Option<SupplierState>) -> DbResult<Vec<Supplier>> {
    let rows = match state {
        Some(s) => tx.query(&format!("{COLUMNS} WHERE state = ?1 ORDER BY id"), &params![s.as_str()])?,
        None => tx.query(&format!("{COLUMNS} ORDER BY id"), &[])?,
    };
    rows.iter().map(supplier).collect()
}

/// Saves what HQ may edit (name, contact, documents) and the onboarding state with its reason.
pub fn save(tx: &mut dyn Tx, s: &Supplier, now_ms: i64) -> DbResult<()> {
    tx.execute(
        "UPDATE sup_supplier SET name = ?2, contact = ?3, state = ?4, documents = ?5, reason = ?6, updated_ms = ?7, payment_terms_days = ?8 WHERE id = ?1",
        &params![s.id.as_str(), s.name.as_str(), s.contact.as_str(), s.state.as_str(), documents_json(&s.documents)?, s.reason.clone(), now_ms, s.payment_terms_days],
    )?;
    Ok(())
}

/// Sets (or with None removes) the hash of the supplier's API credential; false when another
/// supplier already has that credential.
pub fn set_token(tx: &mut dyn Tx, id: &str, hash: Option<&str>, now_ms: i64) -> DbResult<bool> {
    if let Some(hash) = hash {
        if tx.query_opt("SELECT 1 FROM sup_supplier WHERE token_hash = ?1 AND id <> ?2", &params![hash, id])?.is_some() {
            return Ok(false);
        }
    }
    tx.execute("UPDATE sup_supplier SET token_hash = ?2, updated_ms = ?3 WHERE id = ?1", &params![id, hash.map(str::to_owned), now_ms])?;
    Ok(true)
}

/// The supplier whose credential hashes to `hash`, with its state.
pub fn by_token(tx: &mut dyn Tx, hash: &str) -> DbResult<Option<(String, SupplierState)>> {
    let Some(r) = tx.query_opt("SELECT id, state FROM sup_supplier WHERE token_hash = ?1", &params![hash])? else {
        return Ok(None);
    };
    let state = r.text(1)?;
    Ok(Some((r.text(0)?, SupplierState::parse(&state).ok_or_else(|| DbError::corrupt(format!("supplier state {state}")))?)))
}

const PRICE_COLUMNS: &str =
    "SELECT id, supplier, sku, supplier_sku, cost, moq, lead_time_days, breaks, valid_from_ms, valid_until_ms, created_ms FROM sup_price";

fn price(r: &Row) -> DbResult<SupplierPrice> {
    let corrupt = |e: String| DbError::corrupt(format!("supplier price: {e}"));
    let breaks: Vec<PriceBreak> = serde_json::from_str(&r.text(7)?).map_err(|e| corrupt(e.to_string()))?;
    Ok(SupplierPrice {
        id: r.uint(0)?,
        supplier: r.text(1)?,
        sku: Sku::parse(&r.text(2)?).map_err(|e| corrupt(e.to_string()))?,
        terms: PriceTerms {
            supplier_sku: r.text(3)?,
            cost: Money::parse(r.int(4)?).map_err(|e| corrupt(e.to_string()))?,
            moq: u32::try_from(r.int(5)?).map_err(|e| corrupt(e.to_string()))?,
            lead_time_days: u32::try_from(r.int(6)?).map_err(|e| corrupt(e.to_string()))?,
            breaks,
            valid_from_ms: r.int(8)?,
            valid_until_ms: r.opt_int(9)?,
        },
        created_ms: r.int(10)?,
    })
}

pub fn insert_price(tx: &mut dyn Tx, supplier: &str, sku: &Sku, t: &PriceTerms, now_ms: i64) -> DbResult<u64> {
    let breaks = serde_json::to_string(&t.breaks).map_err(|e| DbError::corrupt(e.to_string()))?;
    tx.query_one(
        "INSERT INTO sup_price (supplier, sku, supplier_sku, cost, moq, lead_time_days, breaks, valid_from_ms, valid_until_ms, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) RETURNING id",
        &params![supplier, sku.as_str(), t.supplier_sku.as_str(), t.cost.minor(), t.moq, t.lead_time_days, breaks, t.valid_from_ms, t.valid_until_ms, now_ms],
    )?
    .uint(0)
}

/// The terms in force at `at_ms` for the supplier and SKU: the entry that started last (the
/// newest entered among equals) of those whose window holds `at_ms`.
pub fn price_at(tx: &mut dyn Tx, supplier: &str, sku: &Sku, at_ms: i64) -> DbResult<Option<SupplierPrice>> {
    let sql = format!(
        "{PRICE_COLUMNS} WHERE supplier = ?1 AND sku = ?2 AND valid_from_ms <= ?3 AND (valid_until_ms IS NULL OR valid_until_ms > ?3)
         ORDER BY valid_from_ms DESC, id DESC LIMIT 1"
    );
    tx.query_opt(&sql, &params![supplier, sku.as_str(), at_ms])?.map(|r| price(&r)).transpose()
}

/// Every entry for the supplier (one SKU's, when given), newest first: the price history.
pub fn prices(tx: &mut dyn Tx, supplier: &str, sku: Option<&Sku>) -> DbResult<Vec<SupplierPrice>> {
    let rows = match sku {
        Some(sku) => tx.query(&format!("{PRICE_COLUMNS} WHERE supplier = ?1 AND sku = ?2 ORDER BY id DESC"), &params![supplier, sku.as_str()])?,
        None => tx.query(&format!("{PRICE_COLUMNS} WHERE supplier = ?1 ORDER BY id DESC LIMIT 10000"), &params![supplier])?,
    };
    rows.iter().map(price).collect()
}

/// Every approved supplier's terms in force at `at_ms` (for one SKU, or all), one entry per
/// supplier and SKU (the latest started, as `price_at` chooses).
pub fn approved_prices_at(tx: &mut dyn Tx, at_ms: i64, sku: Option<&Sku>) -> DbResult<Vec<SupplierPrice>> {
    let sql = format!(
        "{PRICE_COLUMNS} p WHERE p.valid_from_ms <= ?1 AND (p.valid_until_ms IS NULL OR p.valid_until_ms > ?1)
         AND (CAST(?2 AS TEXT) IS NULL OR p.sku = ?2)
         AND EXISTS (SELECT 1 FROM sup_supplier s WHERE s.id = p.supplier AND s.state = 'approved')
         ORDER BY p.supplier, p.sku, p.valid_from_ms DESC, p.id DESC"
    );
    let mut out: Vec<SupplierPrice> = Vec::new();
    for row in tx.query(&sql, &params![at_ms, sku.map(Sku::as_str)])? {
        let p = price(&row)?;
        if out.last().is_none_or(|last| (last.supplier.as_str(), &last.sku) != (p.supplier.as_str(), &p.sku)) {
            out.push(p);
        }
    }
    Ok(out)
}

// Submissions.

const SUBMISSION_COLUMNS: &str = "SELECT id, supplier, reference, body, state, note, sku, created_ms, decided_ms FROM sup_submission";

fn submission(r: &Row) -> DbResult<Submission> {
    let state = r.text(4)?;
    Ok(Submission {
        id: r.uint(0)?,
        supplier: r.text(1)?,
        reference: r.text(2)?,
        submitted: serde_json::from_str(&r.text(3)?).map_err(|e| DbError::corrupt(format!("submission: {e}")))?,
        state: SubmissionState::parse(&state).ok_or_else(|| DbError::corrupt(format!("submission state {state}")))?,
        note: r.opt_text(5)?,
        sku: r.opt_text(6)?.map(|s| Sku::parse(&s).map_err(|e| DbError::corrupt(e.to_string()))).transpose()?,
        created_ms: r.int(7)?,
        decided_ms: r.opt_int(8)?,
    })
}

/// The supplier's submission under `reference`, if any.
pub fn submission_by_reference(tx: &mut dyn Tx, supplier: &str, reference: &str) -> DbResult<Option<Submission>> {
    let sql = format!("{SUBMISSION_COLUMNS} WHERE supplier = ?1 AND reference = ?2");
    tx.query_opt(&sql, &params![supplier, reference])?.as_ref().map(submission).transpose()
}

pub fn pending_count(tx: &mut dyn Tx, supplier: &str) -> DbResult<i64> {
    tx.query_one("SELECT COUNT(*) FROM sup_submission WHERE supplier = ?1 AND state = 'pending'", &params![supplier])?.int(0)
}

pub fn insert_submission(tx: &mut dyn Tx, supplier: &str, reference: &str, submitted: &Submitted, now_ms: i64) -> DbResult<Submission> {
    let body = serde_json::to_string(submitted).map_err(|e| DbError::corrupt(e.to_string()))?;
    let id = tx
        .query_one(
            "INSERT INTO sup_submission (supplier, reference, body, state, created_ms) VALUES (?1, ?2, ?3, 'pending', ?4) RETURNING id",
            &params![supplier, reference, body, now_ms],
        )?
        .uint(0)?;
    Ok(Submission {
        id,
        supplier: supplier.to_owned(),
        reference: reference.to_owned(),
        submitted: submitted.clone(),
        state: SubmissionState::Pending,
        note: None,
        sku: None,
        created_ms: now_ms,
        decided_ms: None,
    })
}

pub fn load_submission(tx: &mut dyn Tx, id: u64) -> DbResult<Option<Submission>> {
    let sql = format!("{SUBMISSION_COLUMNS} WHERE id = ?1 FOR UPDATE");
    tx.query_opt(&sql, &params![id])?.as_ref().map(submission).transpose()
}

/// Submissions, newest first: one supplier's or all, in one state or any.
pub fn submissions(tx: &mut dyn Tx, supplier: Option<&str>, state: Option<SubmissionState>, limit: u32) -> DbResult<Vec<Submission>> {
    let sql = format!("{SUBMISSION_COLUMNS} WHERE (CAST(?1 AS TEXT) IS NULL OR supplier = ?1) AND (CAST(?2 AS TEXT) IS NULL OR state = ?2) ORDER BY id DESC LIMIT ?3");
    tx.query(&sql, &params![supplier, state.map(SubmissionState::as_str), limit])?.iter().map(submission).collect()
}

pub fn decide_submission(tx: &mut dyn Tx, id: u64, state: SubmissionState, note: &str, sku: Option<&Sku>, now_ms: i64) -> DbResult<()> {
    tx.execute(
        "UPDATE sup_submission SET state = ?2, note = ?3, sku = ?4, decided_ms = ?5 WHERE id = ?1",
        &params![id, state.as_str(), note, sku.map(Sku::as_str), now_ms],
    )?;
    Ok(())
}
