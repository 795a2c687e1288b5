//! Cycle counts: a worker counts a location blind (no quantities shown); a count that differs
//! from the books is counted again; a recount that still differs waits for a supervisor, and
//! only the supervisor's approval changes stock (as count adjustments, which central hears).

use super::stock::{adjust, require_bin};
use super::{Adjustment, StoreError, StoreResult};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use std::collections::BTreeMap;
use tote_shared::sync::AdjustReason;
use tote_shared::{LocationCode, Sku};

/// Units per SKU.
pub type Tally = BTreeMap<String, i64>;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CountView {
    pub id: u64,
    pub location: String,
    /// `counting`, `recount`, `pending_approval`, `closed` (matched the books), `approved`,
    /// `rejected`.
    pub state: String,
    pub created_by: String,
    pub decided_by: Option<String>,
    /// Shown only once the count is settled or waits for a supervisor (counting is blind).
    pub variance: Option<BTreeMap<String, Variance>>,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Variance {
    pub books: i64,
    pub counted: i64,
}

pub fn open(conn: &Connection, location: &str, by: &str, now_ms: i64) -> StoreResult<CountView> {
    require_bin(conn, location)?;
    let busy: bool = conn
        .prepare_cached("SELECT 1 FROM count_task WHERE location = ?1 AND state IN ('counting', 'recount', 'pending_approval')")?
        .exists([location])?;
    if busy {
        return Err(StoreError::Conflict(format!("{location} is already being counted")));
    }
    conn.prepare_cached("INSERT INTO count_task (location, state, created_by, created_ms, updated_ms) VALUES (?1, 'counting', ?2, ?3, ?3)")?
        .execute(params![location, by, now_ms])?;
    get(conn, conn.last_insert_rowid() as u64)
}

/// What the books say is at a location, per SKU (all lots).
fn books(conn: &Connection, location: &str) -> StoreResult<Tally> {
    let mut stmt = conn.prepare_cached("SELECT sku, SUM(qty) FROM stock WHERE location = ?1 GROUP BY sku HAVING SUM(qty) > 0")?;
    let rows = stmt.query_map([location], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn differences(books: &Tally, counted: &Tally) -> BTreeMap<String, Variance> {
    books
        .keys()
        .chain(counted.keys())
        .filter_map(|sku| {
            let (b, c) = (books.get(sku).copied().unwrap_or(0), counted.get(sku).copied().unwrap_or(0));
            (b != c).then(|| (sku.clone(), Variance { books: b, counted: c }))
        })
        .collect()
}

pub fn submit(conn: &Connection, id: u64, counted: &Tally, by: &str, now_ms: i64) -> StoreResult<CountView> {
    let (location, state) = state(conn, id)?;
    let books = books(conn, &location)?;
    let variance = differences(&books, counted);
    let counted_json = serde_json::to_string(counted).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let variance_json = serde_json::to_string(&variance).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let next = match (state.as_str(), variance.is_empty()) {
        ("counting" | "recount", true) => "closed",
        ("counting", false) => "recount",
        ("recount", false) => "pending_approval",
        (other, _) => return Err(StoreError::Conflict(format!("count {id} is {other}: nothing to submit"))),
    };
    let column = if state == "counting" { "first" } else { "second" };
    conn.prepare_cached(&format!("UPDATE count_task SET state = ?2, {column} = ?3, variance = ?4, counted_by = ?5, updated_ms = ?6 WHERE id = ?1"))?
        .execute(params![id as i64, next, counted_json, variance_json, by, now_ms])?;
    get(conn, id)
}

/// The supervisor's decision on a count waiting for approval. Approving sets each differing
/// SKU at the location to the recounted quantity (spread over its lots, largest first).
pub fn decide(conn: &Connection, id: u64, approve: bool, by: &str, now_ms: i64) -> StoreResult<CountView> {
    let (location, state) = state(conn, id)?;
    if state != "pending_approval" {
        return Err(StoreError::Conflict(format!("count {id} is {state}: only a count waiting for approval can be decided")));
    }
    if approve {
        let view = get(conn, id)?;
        for (sku, v) in view.variance.unwrap_or_default() {
            set_total(conn, &location, &sku, v.counted, now_ms)?;
        }
    }
    let next = if approve { "approved" } else { "rejected" };
    conn.prepare_cached("UPDATE count_task SET state = ?2, decided_by = ?3, updated_ms = ?4 WHERE id = ?1")?
        .execute(params![id as i64, next, by, now_ms])?;
    get(conn, id)
}

/// Sets a SKU's total at a location to `total` through count adjustments, lot by lot.
fn set_total(conn: &Connection, location: &str, sku: &str, total: i64, now_ms: i64) -> StoreResult<()> {
    let mut lots: Vec<(String, i64)> = conn
        .prepare_cached("SELECT lot, qty FROM stock WHERE location = ?1 AND sku = ?2 AND qty > 0 ORDER BY qty DESC, lot")?
        .query_map(params![location, sku], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    if lots.is_empty() {
        lots.push((String::new(), 0));
    }
    let mut delta = total - lots.iter().map(|(_, q)| q).sum::<i64>();
    for (lot, qty) in lots {
        if delta == 0 {
            break;
        }
        let counted = (qty + delta).max(0);
        delta -= counted - qty;
        let a = Adjustment {
            location: LocationCode::parse(location).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            sku: Sku::parse(sku).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            lot,
            reason: AdjustReason::Count,
            counted: Some(counted),
            delta: None,
        };
        adjust(conn, &a, now_ms)?;
    }
    Ok(())
}

fn state(conn: &Connection, id: u64) -> StoreResult<(String, String)> {
    conn.prepare_cached("SELECT location, state FROM count_task WHERE id = ?1")?
        .query_row([id as i64], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("count {id}")))
}

/// location, state, created by, decided by, variance (JSON).
type CountRow = (String, String, String, Option<String>, Option<String>);

pub fn get(conn: &Connection, id: u64) -> StoreResult<CountView> {
    let row: Option<CountRow> = conn
        .prepare_cached("SELECT location, state, created_by, decided_by, variance FROM count_task WHERE id = ?1")?
        .query_row([id as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .optional()?;
    let (location, state, created_by, decided_by, variance) = row.ok_or_else(|| StoreError::NotFound(format!("count {id}")))?;
    let variance: Option<BTreeMap<String, Variance>> = match (&variance, state.as_str()) {
        (Some(v), "pending_approval" | "approved" | "rejected" | "closed") => serde_json::from_str(v).ok(),
        _ => None,
    };
    let message = match state.as_str() {
        "counting" => format!("Count everything in {location}"),
        "recount" => format!("The count of {location} does not match: count it again"),
        "pending_approval" => "Recount confirmed a difference: a supervisor must approve it".into(),
        "closed" => "Count matches the books".into(),
        "approved" => "Approved: stock corrected".into(),
        _ => "Rejected: stock unchanged".into(),
    };
    Ok(CountView { id, location, state, created_by, decided_by, variance, message })
}

pub fn list(conn: &Connection, state: Option<&str>) -> StoreResult<Vec<CountView>> {
    let ids: Vec<i64> = conn
        .prepare_cached("SELECT id FROM count_task WHERE ?1 IS NULL OR state = ?1 ORDER BY id DESC LIMIT 200")?
        .query_map([state], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    ids.into_iter().map(|id| get(conn, id as u64)).collect()
}
