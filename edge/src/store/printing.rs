//! The label print queue: a job per shipped parcel, queued in the shipping transaction (so a
//! label is never lost and never queued twice) and marked printed once the printer took it.

use super::picking::FulfilmentView;
use super::{LabelSettings, StoreError, StoreResult};
use rusqlite::{params, Connection};
use serde::Serialize;
use tote_shared::label::{sscc, ShippingLabel};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PrintJob {
    pub id: u64,
    pub order_id: u64,
    pub sscc: String,
    pub state: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    #[serde(skip)]
    pub zpl: String,
}

pub fn queue_label(conn: &Connection, order: &FulfilmentView, carrier: &str, tracking: &str, settings: &LabelSettings, now_ms: i64) -> StoreResult<()> {
    let serial: i64 = conn
        .prepare_cached("UPDATE sync_state SET value = value + 1 WHERE name = 'sscc_serial' RETURNING value")?
        .query_row([], |r| r.get(0))?;
    let code = sscc(0, &settings.gs1_company_prefix, serial as u64)
        .ok_or_else(|| StoreError::Invalid("the SSCC serial range of this company prefix is used up".into()))?;
    let route_code = tote_shared::geo::area_code(&order.ship_to.city);
    let label = ShippingLabel { order_id: order.order_id, carrier, tracking_number: tracking, route_code, sscc: &code, ship_to: &order.ship_to, from: &settings.sender };
    conn.prepare_cached("INSERT INTO print_job (order_id, sscc, zpl, state, created_ms) VALUES (?1, ?2, ?3, 'queued', ?4)")?
        .execute(params![order.order_id as i64, code, label.zpl(), now_ms])?;
    Ok(())
}

pub fn jobs(conn: &Connection, state: Option<&str>, limit: u32) -> StoreResult<Vec<PrintJob>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, order_id, sscc, state, attempts, last_error, zpl FROM print_job WHERE ?1 IS NULL OR state = ?1 ORDER BY id LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![state, limit], |r| {
        Ok(PrintJob {
            id: r.get::<_, i64>(0)? as u64,
            order_id: r.get::<_, i64>(1)? as u64,
            sscc: r.get(2)?,
            state: r.get(3)?,
            attempts: r.get::<_, i64>(4)? as u32,
            last_error: r.get(5)?,
            zpl: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn attempt(conn: &Connection, id: u64, outcome: Result<(), String>, now_ms: i64) -> StoreResult<()> {
    match outcome {
        Ok(()) => conn
            .prepare_cached("UPDATE print_job SET state = 'printed', attempts = attempts + 1, last_error = NULL, printed_ms = ?2 WHERE id = ?1")?
            .execute(params![id as i64, now_ms])?,
        Err(error) => conn
            .prepare_cached("UPDATE print_job SET attempts = attempts + 1, last_error = ?2 WHERE id = ?1")?
            .execute(params![id as i64, error.chars().take(200).collect::<String>()])?,
    };
    Ok(())
}
