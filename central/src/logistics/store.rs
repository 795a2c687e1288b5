//! The logistics tables: `lg_carrier`, `lg_lane` (the rate cards), `lg_remote_area`,
//! `lg_policy` (one row) and `lg_choice` (the carrier chosen per order and warehouse, with
//! every quote it beat), `lg_parcel` and `lg_track_event` (parcels by waybill, their tracking),
//! `lg_statement` and `lg_statement_difference` (carriers' statements reconciled).

use super::choice::Choice;
use super::rates::{Carrier, Insurance, Lane, Parcel, RateCard, RemoteArea, Service};
use super::kpi::KpiCounts;
use super::statement::{Difference, Expected, StatementRun};
use super::tracking::{TrackEvent, TrackState};
use super::{Policy, StoredChoice};
use crate::db::{values_clause, DbError, DbResult, Row, Tx, Value};
use crate::params;
use std::collections::HashSet;

/// Rows per multi-row statement (parameters stay far below both backends' limits).
const CHUNK: usize = 300;

const CARRIER_COLUMNS: &str = "SELECT code, name, volumetric_divisor, insurance_rate_bp, insurance_min_fee, insurance_max_declared,
                                      signature, fragile, max_weight_g, max_side_mm, suspended FROM lg_carrier";

/// Creates or replaces a carrier's terms; its suspension stays as it was.
pub fn put_carrier(tx: &mut dyn Tx, c: &Carrier, now_ms: i64) -> DbResult<()> {
    let cover = c.insurance.as_ref();
    tx.execute(
        "INSERT INTO lg_carrier (code, name, volumetric_divisor, insurance_rate_bp, insurance_min_fee, insurance_max_declared,
                                 signature, fragile, max_weight_g, max_side_mm, suspended, updated_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, NULL, ?11)
         ON CONFLICT (code) DO UPDATE SET name = excluded.name, volumetric_divisor = excluded.volumetric_divisor,
             insurance_rate_bp = excluded.insurance_rate_bp, insurance_min_fee = excluded.insurance_min_fee,
             insurance_max_declared = excluded.insurance_max_declared, signature = excluded.signature, fragile = excluded.fragile,
             max_weight_g = excluded.max_weight_g, max_side_mm = excluded.max_side_mm, updated_ms = excluded.updated_ms",
        &params![
            c.code.as_str(),
            c.name.as_str(),
            c.volumetric_divisor,
            cover.map(|i| i.rate_bp),
            cover.map(|i| i.min_fee),
            cover.map(|i| i.max_declared),
            i64::from(c.signature),
            i64::from(c.fragile),
            c.max_weight_g,
            c.max_side_mm,
            now_ms
        ],
    )?;
    Ok(())
}

/// Suspends (`Some(reason)`) or reinstates (`None`) a carrier; false when there is none.
pub fn set_suspended(tx: &mut dyn Tx, code: &str, reason: Option<&str>, now_ms: i64) -> DbResult<bool> {
    let changed = tx.execute("UPDATE lg_carrier SET suspended = ?2, updated_ms = ?3 WHERE code = ?1", &params![code, reason, now_ms])?;
    Ok(changed > 0)
}

pub fn carriers(tx: &mut dyn Tx) -> DbResult<Vec<Carrier>> {
    tx.query(&format!("{CARRIER_COLUMNS} ORDER BY code"), &[])?.iter().map(row_to_carrier).collect()
}

pub fn carrier(tx: &mut dyn Tx, code: &str) -> DbResult<Option<Carrier>> {
    tx.query_opt(&format!("{CARRIER_COLUMNS} WHERE code = ?1"), &params![code])?.as_ref().map(row_to_carrier).transpose()
}

pub fn carrier_codes(tx: &mut dyn Tx) -> DbResult<HashSet<String>> {
    tx.query("SELECT code FROM lg_carrier", &[])?.iter().map(|r| r.text(0)).collect()
}

fn row_to_carrier(r: &Row) -> DbResult<Carrier> {
    let insurance = match (r.opt_int(3)?, r.opt_int(4)?, r.opt_int(5)?) {
        (Some(rate_bp), Some(min_fee), Some(max_declared)) => Some(Insurance { rate_bp: narrow(rate_bp)?, min_fee, max_declared }),
        _ => None,
    };
    Ok(Carrier {
        code: r.text(0)?,
        name: r.text(1)?,
        volumetric_divisor: narrow(r.int(2)?)?,
        insurance,
        signature: r.int(6)? != 0,
        fragile: r.int(7)? != 0,
        max_weight_g: r.uint(8)?,
        max_side_mm: r.uint(9)?,
        suspended: r.opt_text(10)?,
    })
}

fn narrow(v: i64) -> DbResult<u32> {
    u32::try_from(v).map_err(|e| DbError::corrupt(e.to_string()))
}

/// Inserts or replaces rate-card rows by (carrier, service, origin, province, valid_from).
pub fn upsert_lanes(tx: &mut dyn Tx, lanes: &[Lane]) -> DbResult<()> {
    for chunk in lanes.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO lg_lane (carrier, service, origin, province, valid_from, valid_to, first_weight_g, first_price, step_g, step_price, transit_days)
             VALUES {} ON CONFLICT (carrier, service, origin, province, valid_from) DO UPDATE SET valid_to = excluded.valid_to,
                 first_weight_g = excluded.first_weight_g, first_price = excluded.first_price, step_g = excluded.step_g,
                 step_price = excluded.step_price, transit_days = excluded.transit_days",
            values_clause(chunk.len(), 11, 1)
        );
        let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * 11);
        for l in chunk {
            values.extend(params![
                l.carrier.as_str(),
                l.service.as_str(),
                l.origin.as_str(),
                l.province.as_str(),
                l.valid_from,
                l.valid_to,
                l.first_weight_g,
                l.first_price,
                l.step_g,
                l.step_price,
                l.transit_days
            ]);
        }
        tx.execute(&sql, &values)?;
    }
    Ok(())
}

/// Inserts or replaces remote-area surcharges by (carrier, province, city).
pub fn upsert_remote_areas(tx: &mut dyn Tx, areas: &[RemoteArea]) -> DbResult<()> {
    for chunk in areas.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO lg_remote_area (carrier, province, city, surcharge) VALUES {}
             ON CONFLICT (carrier, province, city) DO UPDATE SET surcharge = excluded.surcharge",
            values_clause(chunk.len(), 4, 1)
        );
        let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * 4);
        for a in chunk {
            values.extend(params![a.carrier.as_str(), a.province.as_str(), a.city.as_str(), a.surcharge]);
        }
        tx.execute(&sql, &values)?;
    }
    Ok(())
}

/// Every lane from `origin`, every carrier and that province's remote areas: what one choice
/// needs, in three statements.
pub fn route_card(tx: &mut dyn Tx, origin: &str, province: &str) -> DbResult<RateCard> {
    let carriers = carriers(tx)?;
    let lanes = tx
        .query(
            "SELECT carrier, service, origin, province, valid_from, valid_to, first_weight_g, first_price, step_g, step_price, transit_days
             FROM lg_lane WHERE origin = ?1 AND province = ?2",
            &params![origin, province],
        )?
        .iter()
        .map(row_to_lane)
        .collect::<DbResult<Vec<_>>>()?;
    let remote = tx
        .query("SELECT carrier, province, city, surcharge FROM lg_remote_area WHERE province = ?1", &params![province])?
        .iter()
        .map(|r| Ok(RemoteArea { carrier: r.text(0)?, province: r.text(1)?, city: r.text(2)?, surcharge: r.int(3)? }))
        .collect::<DbResult<Vec<_>>>()?;
    Ok(RateCard::new(carriers, lanes, remote))
}

/// The rate card's rows, page by page in key order.
pub fn lanes(tx: &mut dyn Tx, after: u64, limit: u32) -> DbResult<Vec<Lane>> {
    tx.query(
        "SELECT carrier, service, origin, province, valid_from, valid_to, first_weight_g, first_price, step_g, step_price, transit_days
         FROM lg_lane ORDER BY carrier, service, origin, province, valid_from LIMIT ?1 OFFSET ?2",
        &params![limit, after],
    )?
    .iter()
    .map(row_to_lane)
    .collect()
}

fn row_to_lane(r: &Row) -> DbResult<Lane> {
    Ok(Lane {
        carrier: r.text(0)?,
        service: Service::parse(&r.text(1)?).ok_or_else(|| DbError::corrupt("unknown service"))?,
        origin: r.text(2)?,
        province: r.text(3)?,
        valid_from: r.int(4)?,
        valid_to: r.opt_int(5)?,
        first_weight_g: r.uint(6)?,
        first_price: r.int(7)?,
        step_g: r.uint(8)?,
        step_price: r.int(9)?,
        transit_days: narrow(r.int(10)?)?,
    })
}

pub fn policy(tx: &mut dyn Tx) -> DbResult<Policy> {
    let r = tx.query_one(
        "SELECT insure_from, high_value_from, promise_days, channel_promises, default_weight_g, default_side_mm FROM lg_policy WHERE one = 1",
        &[],
    )?;
    Ok(Policy {
        insure_from: r.int(0)?,
        high_value_from: r.int(1)?,
        promise_days: narrow(r.int(2)?)?,
        channel_promise_days: serde_json::from_str(&r.text(3)?).map_err(|e| DbError::corrupt(e.to_string()))?,
        default_weight_g: narrow(r.int(4)?)?,
        default_side_mm: narrow(r.int(5)?)?,
    })
}

pub fn put_policy(tx: &mut dyn Tx, p: &Policy, now_ms: i64) -> DbResult<()> {
    let channels = serde_json::to_string(&p.channel_promise_days).map_err(|e| DbError::corrupt(e.to_string()))?;
    tx.execute(
        "UPDATE lg_policy SET insure_from = ?1, high_value_from = ?2, promise_days = ?3, channel_promises = ?4,
                              default_weight_g = ?5, default_side_mm = ?6, updated_ms = ?7 WHERE one = 1",
        &params![p.insure_from, p.high_value_from, p.promise_days, channels, p.default_weight_g, p.default_side_mm, now_ms],
    )?;
    Ok(())
}

/// Records the choice for this order at this warehouse (a re-route to the same warehouse
/// decides again and replaces it).
pub fn save_choice(tx: &mut dyn Tx, c: &StoredChoice) -> DbResult<()> {
    let chosen = c.choice.chosen.as_ref();
    tx.execute(
        "INSERT INTO lg_choice (order_id, warehouse, decided_ms, carrier, service, total, transit_days, promise_days, parcel, considered, province, chargeable_g)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
         ON CONFLICT (order_id, warehouse) DO UPDATE SET decided_ms = excluded.decided_ms, carrier = excluded.carrier,
             service = excluded.service, total = excluded.total, transit_days = excluded.transit_days,
             promise_days = excluded.promise_days, parcel = excluded.parcel, considered = excluded.considered,
             province = excluded.province, chargeable_g = excluded.chargeable_g",
        &params![
            c.order_id,
            c.warehouse.as_str(),
            c.decided_ms,
            chosen.map(|q| q.carrier.as_str()),
            chosen.and_then(|q| q.service).map(Service::as_str),
            chosen.and_then(|q| q.price).map(|p| p.total),
            chosen.and_then(|q| q.transit_days),
            c.promise_days,
            to_json(&c.parcel)?,
            to_json(&c.choice.considered)?,
            c.province.as_deref(),
            chosen.and_then(|q| q.price).map(|p| p.chargeable_g)
        ],
    )?;
    Ok(())
}

/// Every choice made for the order, oldest first.
pub fn choices(tx: &mut dyn Tx, order_id: u64) -> DbResult<Vec<StoredChoice>> {
    let rows = tx.query(
        "SELECT order_id, warehouse, decided_ms, promise_days, parcel, considered, province FROM lg_choice WHERE order_id = ?1 ORDER BY decided_ms, warehouse",
        &params![order_id],
    )?;
    rows.iter()
        .map(|r| {
            let corrupt = |e: serde_json::Error| DbError::corrupt(e.to_string());
            let considered: Vec<super::choice::Considered> = serde_json::from_str(&r.text(5)?).map_err(corrupt)?;
            // Kept ranked as `choose` left it: the winner, when there is one, comes first.
            let chosen = considered.first().filter(|q| q.unfit.is_none()).cloned();
            Ok(StoredChoice {
                order_id: r.uint(0)?,
                warehouse: r.text(1)?,
                decided_ms: r.int(2)?,
                promise_days: narrow(r.int(3)?)?,
                province: r.opt_text(6)?,
                parcel: serde_json::from_str::<Parcel>(&r.text(4)?).map_err(corrupt)?,
                choice: Choice { chosen, considered },
            })
        })
        .collect()
}

/// Records a shipped parcel (from the edge's shipment); a replay, or a waybill already
/// recorded for another parcel, keeps the first record.
pub fn record_parcel(tx: &mut dyn Tx, parcel: &super::Shipped<'_>, consignment: Option<&super::Consignment>) -> DbResult<bool> {
    let super::Shipped { waybill, carrier, order_id, warehouse, shipped_ms } = *parcel;
    let consignment = consignment.map(serde_json::to_string).transpose().map_err(|e| DbError::corrupt(e.to_string()))?;
    let inserted = tx.execute(
        "INSERT INTO lg_parcel (waybill, carrier, order_id, warehouse, shipped_ms, state, state_ms, registration, subscription, consignment)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?5, 'manual', 'pending', ?7)
         ON CONFLICT (waybill) DO NOTHING",
        &params![waybill, carrier, order_id, warehouse, shipped_ms, TrackState::InfoReceived.as_str(), consignment],
    )?;
    if inserted == 0 {
        return Ok(false);
    }
    // A number from this warehouse's pool is ours to register with the carrier; a typed one
    // was registered on paper. Every parcel is subscribed to tracking.
    let pooled = tx.execute(
        "UPDATE lg_waybill SET used_ms = ?4 WHERE carrier = ?1 AND waybill = ?2 AND warehouse = ?3 AND used_ms IS NULL",
        &params![carrier, waybill, warehouse, shipped_ms],
    )? > 0;
    if pooled {
        tx.execute("UPDATE lg_parcel SET registration = 'pending' WHERE waybill = ?1", &params![waybill])?;
    }
    Ok(true)
}

const PARCEL_COLUMNS: &str = "SELECT waybill, carrier, order_id, warehouse, shipped_ms, state, state_ms, registration, route_label, subscription FROM lg_parcel";

/// Records numbers a carrier issued as `warehouse`'s and returns those new to us (a number
/// seen before, in a pool or on a parcel, is never granted).
pub fn record_waybills(tx: &mut dyn Tx, carrier: &str, warehouse: &str, numbers: &[String], now_ms: i64) -> DbResult<Vec<String>> {
    let mut fresh = Vec::with_capacity(numbers.len());
    for number in numbers {
        // Never a number a parcel already left with (a paper waybill the carrier issues again).
        let inserted = tx.execute(
            "INSERT INTO lg_waybill (carrier, waybill, warehouse, granted_ms)
             SELECT CAST(?1 AS TEXT), CAST(?2 AS TEXT), CAST(?3 AS TEXT), CAST(?4 AS BIGINT) WHERE NOT EXISTS (SELECT 1 FROM lg_parcel WHERE waybill = ?2)
             ON CONFLICT (carrier, waybill) DO NOTHING",
            &params![carrier, number.as_str(), warehouse, now_ms],
        )?;
        if inserted > 0 {
            fresh.push(number.clone());
        }
    }
    Ok(fresh)
}

/// One warehouse's pool of one carrier as central sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct PoolRow {
    pub warehouse: String,
    pub carrier: String,
    /// Granted and not reported used.
    pub free: u64,
    /// Ever used (0 in the dispatcher's own reads).
    pub used: u64,
    /// Parcels in the busiest hour of the last 24.
    pub busiest_hour: u64,
}

/// The pools that should exist: every (origin, carrier) of the rate cards, with what is free,
/// the busiest hour since `since_ms`, and (`with_used`: HQ's view, not every dispatch round)
/// how many numbers were ever used.
pub fn pools(tx: &mut dyn Tx, since_ms: i64, with_used: bool) -> DbResult<Vec<PoolRow>> {
    type Pools = std::collections::BTreeMap<(String, String), PoolRow>;
    fn row<'a>(rows: &'a mut Pools, r: &Row) -> DbResult<&'a mut PoolRow> {
        let (warehouse, carrier) = (r.text(0)?, r.text(1)?);
        let fresh = PoolRow { warehouse: warehouse.clone(), carrier: carrier.clone(), free: 0, used: 0, busiest_hour: 0 };
        Ok(rows.entry((warehouse, carrier)).or_insert(fresh))
    }
    let mut rows = Pools::new();
    // Only origins that are warehouses (a rate card may be loaded before its warehouse opens).
    for r in tx.query("SELECT DISTINCT l.origin, l.carrier FROM lg_lane l JOIN edge_stream s ON s.warehouse = l.origin", &[])? {
        row(&mut rows, &r)?;
    }
    // Free numbers through the partial index; the used ones (which only grow) only when asked.
    for r in tx.query("SELECT warehouse, carrier, COUNT(*) FROM lg_waybill WHERE used_ms IS NULL GROUP BY warehouse, carrier", &[])? {
        row(&mut rows, &r)?.free = r.uint(2)?;
    }
    if with_used {
        for r in tx.query("SELECT warehouse, carrier, COUNT(*) FROM lg_waybill WHERE used_ms IS NOT NULL GROUP BY warehouse, carrier", &[])? {
            row(&mut rows, &r)?.used = r.uint(2)?;
        }
    }
    let hourly = "SELECT warehouse, carrier, shipped_ms / 3600000, COUNT(*) FROM lg_parcel WHERE shipped_ms >= ?1
                  GROUP BY warehouse, carrier, shipped_ms / 3600000";
    for r in tx.query(hourly, &params![since_ms])? {
        if let Some(row) = rows.get_mut(&(r.text(0)?, r.text(1)?)) {
            row.busiest_hour = row.busiest_hour.max(r.uint(3)?);
        }
    }
    Ok(rows.into_values().collect())
}

/// A parcel with a registration or subscription still to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueParcel {
    pub waybill: String,
    pub carrier: String,
    pub order_id: u64,
    pub warehouse: String,
    pub registration: String,
    pub subscription: String,
    pub attempts: u32,
    pub consignment: Option<super::Consignment>,
}

/// Parcels whose next step is due; subscriptions only when `subscribe` (an aggregator is set).
pub fn due_parcels(tx: &mut dyn Tx, now_ms: i64, subscribe: bool, limit: u32) -> DbResult<Vec<DueParcel>> {
    let rows = tx.query(
        "SELECT waybill, carrier, order_id, warehouse, registration, subscription, attempts, consignment FROM lg_parcel
         WHERE (registration IN ('pending', 'cancelling') OR (subscription = 'pending' AND ?2 = 1)) AND next_try_ms <= ?1
         ORDER BY next_try_ms, waybill LIMIT ?3",
        &params![now_ms, i64::from(subscribe), limit],
    )?;
    rows.iter().map(row_to_due).collect()
}

/// One parcel's next step, due or not.
pub fn due_parcel(tx: &mut dyn Tx, waybill: &str) -> DbResult<Option<DueParcel>> {
    let row = tx.query_opt(
        "SELECT waybill, carrier, order_id, warehouse, registration, subscription, attempts, consignment FROM lg_parcel WHERE waybill = ?1",
        &params![waybill],
    )?;
    row.map(|r| row_to_due(&r)).transpose()
}

fn row_to_due(r: &Row) -> DbResult<DueParcel> {
    Ok(DueParcel {
        waybill: r.text(0)?,
        carrier: r.text(1)?,
        order_id: r.uint(2)?,
        warehouse: r.text(3)?,
        registration: r.text(4)?,
        subscription: r.text(5)?,
        attempts: r.uint(6)? as u32,
        consignment: r.opt_text(7)?.map(|c| serde_json::from_str(&c)).transpose().map_err(|e| DbError::corrupt(e.to_string()))?,
    })
}

/// The carrier took the parcel (with its routing label), or refused it for good. False when
/// the parcel was no longer pending (HQ cancelled it while the call was out).
pub fn registered(tx: &mut dyn Tx, waybill: &str, outcome: Result<Option<&str>, &str>) -> DbResult<bool> {
    let changed = match outcome {
        // Only a pending parcel: HQ may have cancelled it while the call was out.
        Ok(label) => tx.execute(
            "UPDATE lg_parcel SET registration = 'registered', route_label = ?2, attempts = 0, next_try_ms = 0, last_error = NULL
             WHERE waybill = ?1 AND registration = 'pending'",
            &params![waybill, label],
        )?,
        // Not the carrier's parcel: nothing to track either.
        Err(why) => tx.execute(
            "UPDATE lg_parcel SET registration = 'refused', subscription = 'none', last_error = ?2 WHERE waybill = ?1 AND registration = 'pending'",
            &params![waybill, why],
        )?,
    };
    Ok(changed > 0)
}

/// HQ asks to cancel the parcel's carrier order: a pending, refused or registered parcel
/// becomes `cancelling` (the dispatcher or HQ's call finishes it at the carrier); a parcel in
/// any other state stays as it is. Returns the registration before, None if no such parcel.
pub fn begin_cancel(tx: &mut dyn Tx, waybill: &str) -> DbResult<Option<String>> {
    let before = tx.query_opt("SELECT registration FROM lg_parcel WHERE waybill = ?1 FOR UPDATE", &params![waybill])?;
    let Some(before) = before.map(|r| r.text(0)).transpose()? else { return Ok(None) };
    if matches!(before.as_str(), "pending" | "refused" | "registered") {
        tx.execute("UPDATE lg_parcel SET registration = 'cancelling', attempts = 0, next_try_ms = 0 WHERE waybill = ?1", &params![waybill])?;
    }
    Ok(Some(before))
}

/// The carrier answered a cancel: done (nothing left to register or track), or refused
/// because it has the parcel (back to registered, with why). False when the parcel was no
/// longer cancelling (another caller finished it).
pub fn cancel_finished(tx: &mut dyn Tx, waybill: &str, outcome: Result<(), &str>) -> DbResult<bool> {
    let changed = match outcome {
        Ok(()) => tx.execute(
            "UPDATE lg_parcel SET registration = 'cancelled', subscription = CASE subscription WHEN 'pending' THEN 'none' ELSE subscription END,
                 attempts = 0, next_try_ms = 0, last_error = NULL
             WHERE waybill = ?1 AND registration = 'cancelling'",
            &params![waybill],
        )?,
        Err(why) => tx.execute(
            "UPDATE lg_parcel SET registration = 'registered', attempts = 0, next_try_ms = 0, last_error = ?2 WHERE waybill = ?1 AND registration = 'cancelling'",
            &params![waybill, why],
        )?,
    };
    Ok(changed > 0)
}

/// The parcel as its page shows it.
pub fn parcel(tx: &mut dyn Tx, waybill: &str) -> DbResult<Option<ParcelView>> {
    tx.query_opt(&format!("{PARCEL_COLUMNS} WHERE waybill = ?1"), &params![waybill])?.map(|r| row_to_parcel(&r)).transpose()
}

pub fn subscribed(tx: &mut dyn Tx, waybill: &str) -> DbResult<()> {
    tx.execute(
        "UPDATE lg_parcel SET subscription = 'subscribed', attempts = 0, next_try_ms = 0, last_error = NULL WHERE waybill = ?1 AND subscription = 'pending'",
        &params![waybill],
    )?;
    Ok(())
}

/// A step failed for now: try again at `next_try_ms`.
pub fn postponed(tx: &mut dyn Tx, waybill: &str, error: &str, next_try_ms: i64) -> DbResult<()> {
    let error: String = error.chars().take(300).collect();
    tx.execute(
        "UPDATE lg_parcel SET attempts = attempts + 1, next_try_ms = ?2, last_error = ?3 WHERE waybill = ?1",
        &params![waybill, next_try_ms, error.as_str()],
    )?;
    Ok(())
}

/// What HQ quoted for a parcel at release, when it left with the carrier chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quoted {
    pub service: Option<String>,
    pub chargeable_g: Option<u64>,
    /// Freight with insurance and surcharges, minor units.
    pub total: Option<i64>,
}

pub fn quoted(tx: &mut dyn Tx, order_id: u64, warehouse: &str, carrier: &str) -> DbResult<Option<Quoted>> {
    let row = tx.query_opt(
        "SELECT service, chargeable_g, total FROM lg_choice WHERE order_id = ?1 AND warehouse = ?2 AND carrier = ?3",
        &params![order_id, warehouse, carrier],
    )?;
    row.map(|r| Ok(Quoted { service: r.opt_text(0)?, chargeable_g: r.opt_int(1)?.map(|g| g.max(0) as u64), total: r.opt_int(2)? })).transpose()
}

/// A parcel as tracking shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ParcelView {
    pub waybill: String,
    pub carrier: String,
    pub order_id: u64,
    pub warehouse: String,
    pub shipped_ms: i64,
    pub state: TrackState,
    /// When the event that set the state happened.
    pub state_ms: i64,
    /// With the carrier: `pending` (a pool number not yet registered), `registered`,
    /// `manual` (a typed paper waybill), `refused` (the carrier would not take it; see the
    /// log and HQ's attention), `cancelling` (HQ asked; the carrier has not answered yet) or
    /// `cancelled` (before the carrier picked it up).
    pub registration: String,
    /// The routing label the carrier answered at registration.
    pub route_label: Option<String>,
    /// With the tracking aggregator: `pending`, `subscribed` or `none` (no aggregator).
    pub subscription: String,
    /// Newest first.
    pub events: Vec<TrackEvent>,
}

/// The (time, text) keys of a parcel's events.
pub type EventKeys = HashSet<(i64, String)>;

fn row_to_parcel(r: &Row) -> DbResult<ParcelView> {
    Ok(ParcelView {
        waybill: r.text(0)?,
        carrier: r.text(1)?,
        order_id: r.uint(2)?,
        warehouse: r.text(3)?,
        shipped_ms: r.int(4)?,
        state: TrackState::parse(&r.text(5)?).ok_or_else(|| DbError::corrupt("unknown tracking state"))?,
        state_ms: r.int(6)?,
        registration: r.text(7)?,
        route_label: r.opt_text(8)?,
        subscription: r.text(9)?,
        events: Vec::new(),
    })
}

/// `?first, ?first+1, …` for an IN list of `n`.
fn in_list(n: usize, first: usize) -> String {
    (first..first + n).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ")
}

/// Several parcels locked for this transaction (in waybill order, so two batches never wait
/// on each other in a cycle), each with the keys of the events it has. Unknown waybills are
/// absent.
pub fn lock_parcels(tx: &mut dyn Tx, waybills: &[&str]) -> DbResult<std::collections::HashMap<String, (ParcelView, EventKeys)>> {
    let mut sorted: Vec<&str> = waybills.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut found = std::collections::HashMap::with_capacity(sorted.len());
    for chunk in sorted.chunks(CHUNK) {
        let values: Vec<Value> = chunk.iter().flat_map(|w| params![*w]).collect();
        let sql = format!("{PARCEL_COLUMNS} WHERE waybill IN ({}) ORDER BY waybill FOR UPDATE", in_list(chunk.len(), 1));
        for row in tx.query(&sql, &values)? {
            let parcel = row_to_parcel(&row)?;
            found.insert(parcel.waybill.clone(), (parcel, EventKeys::new()));
        }
        let sql = format!("SELECT waybill, at_ms, context FROM lg_track_event WHERE waybill IN ({})", in_list(chunk.len(), 1));
        for row in tx.query(&sql, &values)? {
            if let Some((_, keys)) = found.get_mut(&row.text(0)?) {
                keys.insert((row.int(1)?, row.text(2)?));
            }
        }
    }
    Ok(found)
}

/// Appends every new event of a batch, and moves each parcel whose state moved, with a few
/// multi-row statements.
pub fn save_tracking_batch(tx: &mut dyn Tx, events: &[(&str, &TrackEvent)], moves: &[(&str, TrackState, i64)], now_ms: i64) -> DbResult<()> {
    for chunk in events.chunks(CHUNK) {
        let sql = format!("INSERT INTO lg_track_event (waybill, at_ms, context, state, area, received_ms) VALUES {}", values_clause(chunk.len(), 6, 1));
        let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * 6);
        for (waybill, e) in chunk {
            values.extend(params![*waybill, e.at_ms, e.context.as_str(), e.state.as_str(), e.area.as_deref(), now_ms]);
        }
        tx.execute(&sql, &values)?;
    }
    for chunk in moves.chunks(CHUNK) {
        // One UPDATE for the chunk: each parcel's state and time picked by CASE on its waybill.
        let n = chunk.len();
        // Typed casts: PostgreSQL cannot infer a parameter's type from a CASE result alone.
        let cases = |column: usize, ty: &str| (0..n).map(|i| format!("WHEN ?{} THEN CAST(?{} AS {ty})", 3 * i + 1, 3 * i + column)).collect::<Vec<_>>().join(" ");
        let sql = format!(
            "UPDATE lg_parcel SET state = CASE waybill {} END, state_ms = CASE waybill {} END WHERE waybill IN ({})",
            cases(2, "TEXT"),
            cases(3, "BIGINT"),
            (0..n).map(|i| format!("?{}", 3 * i + 1)).collect::<Vec<_>>().join(", ")
        );
        let mut values: Vec<Value> = Vec::with_capacity(n * 3);
        for (waybill, state, at_ms) in chunk {
            values.extend(params![*waybill, state.as_str(), *at_ms]);
        }
        tx.execute(&sql, &values)?;
    }
    Ok(())
}


/// Every parcel of an order with its events, newest first.
pub fn parcels_of(tx: &mut dyn Tx, order_id: u64) -> DbResult<Vec<ParcelView>> {
    let mut parcels = tx
        .query(
            &format!("{PARCEL_COLUMNS} WHERE order_id = ?1 ORDER BY shipped_ms, waybill"),
            &params![order_id],
        )?
        .iter()
        .map(row_to_parcel)
        .collect::<DbResult<Vec<_>>>()?;
    for parcel in &mut parcels {
        parcel.events = tx
            .query(
                "SELECT at_ms, state, context, area FROM lg_track_event WHERE waybill = ?1 ORDER BY at_ms DESC, context DESC LIMIT 500",
                &params![parcel.waybill.as_str()],
            )?
            .iter()
            .map(|r| {
                Ok(TrackEvent {
                    at_ms: r.int(0)?,
                    state: TrackState::parse(&r.text(1)?).ok_or_else(|| DbError::corrupt("unknown tracking state"))?,
                    context: r.text(2)?,
                    area: r.opt_text(3)?,
                })
            })
            .collect::<DbResult<Vec<_>>>()?;
    }
    Ok(parcels)
}

/// What we expect to pay `carrier` for each parcel it carried for us, shipped in
/// [`from_ms`, `to_ms`): the price of the choice made at release when the parcel left with the
/// carrier chosen, else no quote.
pub fn expected_freight(tx: &mut dyn Tx, carrier: &str, from_ms: i64, to_ms: i64) -> DbResult<Vec<Expected>> {
    tx.query(
        "SELECT p.waybill, p.order_id, c.chargeable_g, c.total FROM lg_parcel p
         LEFT JOIN lg_choice c ON c.order_id = p.order_id AND c.warehouse = p.warehouse AND c.carrier = p.carrier
         WHERE p.carrier = ?1 AND p.shipped_ms >= ?2 AND p.shipped_ms < ?3 ORDER BY p.waybill",
        &params![carrier, from_ms, to_ms],
    )?
    .iter()
    .map(expected_row)
    .collect()
}

/// What we expect to pay `carrier` for these waybills, whenever they were handed over.
pub fn expected_for_waybills(tx: &mut dyn Tx, carrier: &str, waybills: &[&str]) -> DbResult<Vec<Expected>> {
    let mut out = Vec::new();
    for chunk in waybills.chunks(CHUNK) {
        let sql = format!(
            "SELECT p.waybill, p.order_id, c.chargeable_g, c.total FROM lg_parcel p
             LEFT JOIN lg_choice c ON c.order_id = p.order_id AND c.warehouse = p.warehouse AND c.carrier = p.carrier
             WHERE p.carrier = ?1 AND p.waybill IN ({})",
            crate::db::placeholders(chunk.len(), 2)
        );
        let mut values: Vec<Value> = vec![carrier.into()];
        values.extend(chunk.iter().map(|w| Value::from(*w)));
        for r in tx.query(&sql, &values)? {
            out.push(expected_row(&r)?);
        }
        // Returns it carried back for us, at the freight quoted when they were booked.
        let sql = format!(
            "SELECT waybill, order_id, chargeable_g, freight FROM lg_return
             WHERE carrier = ?1 AND state IN ('booked', 'cancelling') AND waybill IN ({})",
            crate::db::placeholders(chunk.len(), 2)
        );
        for r in tx.query(&sql, &values)? {
            out.push(expected_row(&r)?);
        }
    }
    Ok(out)
}

fn expected_row(r: &Row) -> DbResult<Expected> {
    Ok(Expected { waybill: r.text(0)?, order_id: r.uint(1)?, chargeable_g: r.opt_int(2)?.map(|g| g as u64), total: r.opt_int(3)? })
}

/// Keeps a reconciliation run and its differences; returns its id.
pub fn save_statement(tx: &mut dyn Tx, run: &StatementRun, now_ms: i64) -> DbResult<u64> {
    let id = tx
        .query_one(
            "INSERT INTO lg_statement (carrier, month, received_ms, lines, billed_total, expected_total, refused_rows)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
            &params![run.carrier.as_str(), run.month.as_str(), now_ms, run.lines, run.billed_total, run.expected_total, run.refused_rows],
        )?
        .uint(0)?;
    for (chunk_no, chunk) in run.differences.chunks(CHUNK).enumerate() {
        let sql = format!("INSERT INTO lg_statement_difference (statement_id, n, kind, waybill, line, expected, billed) VALUES {}", values_clause(chunk.len(), 7, 1));
        let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * 7);
        for (i, d) in chunk.iter().enumerate() {
            let kind = serde_json::to_value(d.kind).map_err(|e| DbError::corrupt(e.to_string()))?;
            values.extend(params![id, chunk_no * CHUNK + i, kind.as_str().unwrap_or(""), d.waybill.as_str(), d.line, d.expected, d.billed]);
        }
        tx.execute(&sql, &values)?;
    }
    Ok(id)
}

pub fn statement(tx: &mut dyn Tx, id: u64) -> DbResult<Option<StatementRun>> {
    let Some(r) = tx.query_opt(
        "SELECT id, carrier, month, received_ms, lines, billed_total, expected_total, refused_rows FROM lg_statement WHERE id = ?1",
        &params![id],
    )?
    else {
        return Ok(None);
    };
    let differences = tx
        .query("SELECT kind, waybill, line, expected, billed FROM lg_statement_difference WHERE statement_id = ?1 ORDER BY n", &params![id])?
        .iter()
        .map(|d| {
            let kind = serde_json::from_value(serde_json::Value::String(d.text(0)?)).map_err(|e| DbError::corrupt(e.to_string()))?;
            Ok(Difference { kind, waybill: d.text(1)?, line: d.opt_int(2)?.map(|l| l as u64), expected: d.opt_int(3)?, billed: d.opt_int(4)? })
        })
        .collect::<DbResult<Vec<_>>>()?;
    Ok(Some(StatementRun {
        id: r.uint(0)?,
        carrier: r.text(1)?,
        month: r.text(2)?,
        received_ms: r.int(3)?,
        lines: r.uint(4)?,
        billed_total: r.int(5)?,
        expected_total: r.int(6)?,
        refused_rows: r.uint(7)?,
        differences,
    }))
}

/// Parcels shipped in [`from_ms`, `to_ms`) per carrier and destination province: shipped,
/// delivered, delivered within the promise, returned, with an exception, and the summed
/// transit time of the delivered ones.
pub fn kpi_counts(tx: &mut dyn Tx, from_ms: i64, to_ms: i64) -> DbResult<Vec<KpiCounts>> {
    tx.query(
        "SELECT p.carrier, COALESCE(c.province, ''), COUNT(*),
                CAST(SUM(CASE WHEN p.state = 'delivered' THEN 1 ELSE 0 END) AS BIGINT),
                CAST(SUM(CASE WHEN p.state = 'delivered' AND c.promise_days IS NOT NULL AND p.state_ms - p.shipped_ms <= c.promise_days * 86400000 THEN 1 ELSE 0 END) AS BIGINT),
                CAST(SUM(CASE WHEN p.state = 'returned' THEN 1 ELSE 0 END) AS BIGINT),
                CAST(SUM(CASE WHEN EXISTS (SELECT 1 FROM lg_track_event e WHERE e.waybill = p.waybill AND e.state = 'exception') THEN 1 ELSE 0 END) AS BIGINT),
                CAST(SUM(CASE WHEN p.state = 'delivered' THEN p.state_ms - p.shipped_ms ELSE 0 END) AS BIGINT)
         FROM lg_parcel p LEFT JOIN lg_choice c ON c.order_id = p.order_id AND c.warehouse = p.warehouse
         WHERE p.shipped_ms >= ?1 AND p.shipped_ms < ?2
         GROUP BY p.carrier, COALESCE(c.province, '') ORDER BY p.carrier, COALESCE(c.province, '')",
        &params![from_ms, to_ms],
    )?
    .iter()
    .map(|r| {
        Ok(KpiCounts {
            carrier: r.text(0)?,
            province: r.text(1)?,
            shipped: r.uint(2)?,
            delivered: r.uint(3)?,
            on_time: r.uint(4)?,
            returned: r.uint(5)?,
            exceptions: r.uint(6)?,
            transit_ms_delivered: r.int(7)?,
        })
    })
    .collect()
}

fn to_json<T: serde::Serialize>(value: &T) -> DbResult<String> {
    serde_json::to_string(value).map_err(|e| DbError::corrupt(e.to_string()))
}

// --- lg_return: return shipments booked for after-sales ----------------------------------

const RETURN_COLUMNS: &str = "SELECT request_id, order_id, warehouse, pickup, state, consignment, declared_value, collect_from_ms, carrier, service,
                                     waybill, route_label, freight, attempts, last_error, rma, chargeable_g FROM lg_return";

/// A return shipment to book (state `booking`, due now).
pub fn insert_return(tx: &mut dyn Tx, r: &super::returns::NewReturn<'_>, now_ms: i64) -> DbResult<()> {
    let consignment = serde_json::to_string(r.consignment).map_err(|e| DbError::corrupt(e.to_string()))?;
    tx.execute(
        "INSERT INTO lg_return (request_id, order_id, warehouse, pickup, state, consignment, declared_value, collect_from_ms, next_try_ms, created_ms, updated_ms, rma)
         VALUES (?1, ?2, ?3, ?4, 'booking', ?5, ?6, ?7, ?8, ?8, ?8, ?9)",
        &params![r.request_id, r.order_id, r.warehouse.as_str(), i64::from(r.pickup), consignment, r.declared_value, r.collect_from_ms, now_ms, r.rma],
    )?;
    Ok(())
}

/// The return shipment of a request; `lock`: its row held to the end of the transaction.
pub fn return_shipment(tx: &mut dyn Tx, request_id: u64, lock: bool) -> DbResult<Option<super::returns::ReturnRow>> {
    let sql = format!("{RETURN_COLUMNS} WHERE request_id = ?1{}", if lock { " FOR UPDATE" } else { "" });
    tx.query_opt(&sql, &params![request_id])?.map(|r| row_to_return(&r)).transpose()
}

/// The return shipments of these requests (those that have one).
pub fn return_shipments(tx: &mut dyn Tx, request_ids: &[u64]) -> DbResult<Vec<super::returns::ReturnRow>> {
    let mut out = Vec::new();
    for chunk in request_ids.chunks(CHUNK) {
        let values: Vec<Value> = chunk.iter().map(|id| Value::from(*id)).collect();
        let sql = format!("{RETURN_COLUMNS} WHERE request_id IN ({})", in_list(chunk.len(), 1));
        out.extend(tx.query(&sql, &values)?.iter().map(row_to_return).collect::<DbResult<Vec<_>>>()?);
    }
    Ok(out)
}

/// Returns to book or to cancel whose next try is due, oldest first.
pub fn due_returns(tx: &mut dyn Tx, now_ms: i64, limit: u32) -> DbResult<Vec<super::returns::ReturnRow>> {
    let sql = format!("{RETURN_COLUMNS} WHERE state IN ('booking', 'cancelling') AND next_try_ms <= ?1 ORDER BY next_try_ms, request_id LIMIT ?2");
    tx.query(&sql, &params![now_ms, limit])?.iter().map(row_to_return).collect()
}

/// The carrier chosen, its quote and the collection time, kept before the carrier is called
/// (so a cancel knows whom to ask); false when the return was cancelled meanwhile (and must
/// not be booked).
pub fn return_chosen(tx: &mut dyn Tx, request_id: u64, chosen: &super::returns::Chosen<'_>, collect_from_ms: Option<i64>, now_ms: i64) -> DbResult<bool> {
    let n = tx.execute(
        "UPDATE lg_return SET carrier = ?2, service = ?3, freight = ?4, chargeable_g = ?5, collect_from_ms = ?6, updated_ms = ?7
         WHERE request_id = ?1 AND state = 'booking' AND waybill IS NULL",
        &params![request_id, chosen.carrier, chosen.service, chosen.freight, chosen.chargeable_g, collect_from_ms, now_ms],
    )?;
    Ok(n == 1)
}

/// No carrier will take a return still being booked: failed, with why.
pub fn return_failed(tx: &mut dyn Tx, request_id: u64, why: &str, now_ms: i64) -> DbResult<()> {
    let why: String = why.chars().take(300).collect();
    tx.execute(
        "UPDATE lg_return SET state = 'failed', last_error = ?2, updated_ms = ?3 WHERE request_id = ?1 AND state = 'booking'",
        &params![request_id, why.as_str(), now_ms],
    )?;
    Ok(())
}

/// The carrier issued `waybill`: booked (or, if a cancel came meanwhile, still cancelling);
/// false when it was applied before.
pub fn return_booked(tx: &mut dyn Tx, request_id: u64, waybill: &str, route_label: &str, now_ms: i64) -> DbResult<bool> {
    let n = tx.execute(
        "UPDATE lg_return SET waybill = ?2, route_label = ?3, state = CASE WHEN state = 'booking' THEN 'booked' ELSE state END,
                              attempts = 0, last_error = NULL, updated_ms = ?4
         WHERE request_id = ?1 AND waybill IS NULL AND state IN ('booking', 'cancelling')",
        &params![request_id, waybill, route_label, now_ms],
    )?;
    Ok(n == 1)
}

/// Sets a return's state with why (none clears the last error), due again now.
pub fn set_return_state(tx: &mut dyn Tx, request_id: u64, state: &str, why: Option<&str>, now_ms: i64) -> DbResult<()> {
    let why: Option<String> = why.map(|w| w.chars().take(300).collect());
    tx.execute(
        "UPDATE lg_return SET state = ?2, last_error = ?3, attempts = 0, next_try_ms = ?4, updated_ms = ?4 WHERE request_id = ?1",
        &params![request_id, state, why.as_deref(), now_ms],
    )?;
    Ok(())
}

/// A call made from state `from` failed for a while: tried again at `next_try_ms` (unless the
/// return moved on meanwhile, a withdrawal say, which is due at once).
pub fn return_postponed(tx: &mut dyn Tx, request_id: u64, from: &str, error: &str, next_try_ms: i64) -> DbResult<()> {
    let error: String = error.chars().take(300).collect();
    tx.execute(
        "UPDATE lg_return SET attempts = attempts + 1, next_try_ms = ?2, last_error = ?3 WHERE request_id = ?1 AND state = ?4",
        &params![request_id, next_try_ms, error.as_str(), from],
    )?;
    Ok(())
}

fn row_to_return(r: &Row) -> DbResult<super::returns::ReturnRow> {
    Ok(super::returns::ReturnRow {
        request_id: r.uint(0)?,
        order_id: r.uint(1)?,
        warehouse: r.text(2)?,
        pickup: r.int(3)? != 0,
        state: r.text(4)?,
        consignment: serde_json::from_str(&r.text(5)?).map_err(|e| DbError::corrupt(e.to_string()))?,
        declared_value: r.int(6)?,
        collect_from_ms: r.opt_int(7)?,
        carrier: r.opt_text(8)?,
        service: r.opt_text(9)?,
        waybill: r.opt_text(10)?,
        route_label: r.opt_text(11)?,
        freight: r.opt_int(12)?,
        attempts: narrow(r.int(13)?)?,
        last_error: r.opt_text(14)?,
        rma: r.text(15)?,
        chargeable_g: r.opt_int(16)?.map(|g| g as u64),
    })
}
