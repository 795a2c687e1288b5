//! The sync streams: edge events applied exactly once (deduplicated by the per-edge high-water
//! mark, advanced in the same transaction that applies the event), and the per-edge command
//! stream the edges pull.

use super::super::{EdgeSyncRow, RejectedEvent, StoreError, StoreResult};
use super::orders;
use super::stock::{self, parse_warehouse, Cause};
use rusqlite::{params, Connection, OptionalExtension};
use tote_shared::order::OrderEvent;
use tote_shared::sync::{CentralCommand, CommandKind, EdgeEvent, EdgeEventKind, PullResponse, PushAck};
use tote_shared::WarehouseCode;

pub fn enqueue_command(conn: &Connection, warehouse: &WarehouseCode, kind: &CommandKind, now_ms: i64) -> StoreResult<u64> {
    let seq: i64 = conn
        .prepare_cached("UPDATE edge_stream SET commands_seq = commands_seq + 1 WHERE warehouse = ?1 RETURNING commands_seq")?
        .query_row([warehouse.as_str()], |r| r.get(0))
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("warehouse {warehouse}")))?;
    let body = serde_json::to_string(kind).map_err(|e| StoreError::Invalid(e.to_string()))?;
    conn.prepare_cached("INSERT INTO edge_command (warehouse, seq, body, created_ms) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![warehouse.as_str(), seq, body, now_ms])?;
    Ok(seq as u64)
}

pub fn pull(conn: &Connection, warehouse: &WarehouseCode, after: u64, limit: u32) -> StoreResult<PullResponse> {
    let latest_seq: i64 = conn
        .prepare_cached("SELECT commands_seq FROM edge_stream WHERE warehouse = ?1")?
        .query_row([warehouse.as_str()], |r| r.get(0))
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("warehouse {warehouse}")))?;
    let mut stmt = conn.prepare_cached(
        "SELECT seq, body FROM edge_command WHERE warehouse = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![warehouse.as_str(), after as i64, limit], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
    })?;
    let mut commands = Vec::new();
    for row in rows {
        let (seq, body) = row?;
        let kind = serde_json::from_str(&body).map_err(|e| StoreError::Corrupt(format!("command {seq}: {e}")))?;
        commands.push(CentralCommand { seq: seq as u64, kind });
    }
    Ok(PullResponse { commands, latest_seq: latest_seq as u64 })
}

/// Applies the events above the edge's high-water mark, in order. Events must follow on
/// without a gap; replays (at or below the mark) are skipped, which makes pushes idempotent.
pub fn apply_events(conn: &Connection, warehouse: &WarehouseCode, events: &[EdgeEvent], now_ms: i64) -> StoreResult<PushAck> {
    let mut high_water: u64 = conn
        .prepare_cached("SELECT events_high_water FROM edge_stream WHERE warehouse = ?1")?
        .query_row([warehouse.as_str()], |r| r.get::<_, i64>(0))
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("warehouse {warehouse}")))? as u64;
    let mut applied = 0;
    for event in events {
        if event.seq <= high_water {
            continue;
        }
        if event.seq != high_water + 1 {
            return Err(StoreError::SyncGap { high_water, first: event.seq });
        }
        apply_one(conn, warehouse, event, now_ms)?;
        high_water = event.seq;
        applied += 1;
    }
    // A pure replay writes nothing at all: it must leave central exactly as it was.
    if applied > 0 {
        conn.prepare_cached("UPDATE edge_stream SET events_high_water = ?2, last_push_ms = ?3 WHERE warehouse = ?1")?
            .execute(params![warehouse.as_str(), high_water as i64, now_ms])?;
    }
    Ok(PushAck { high_water, applied })
}

fn apply_one(conn: &Connection, warehouse: &WarehouseCode, event: &EdgeEvent, now_ms: i64) -> StoreResult<()> {
    let reference = format!("edge:{warehouse}#{}", event.seq);
    let wh = warehouse.as_str();
    conn.execute_batch("SAVEPOINT event")?;
    // An edge may only move orders routed to its own warehouse.
    let order_step = |id: u64, ev: OrderEvent, cause: &str| {
        let held_by = orders::load(conn, id)?.warehouse;
        if held_by.as_ref() != Some(warehouse) {
            let holder = held_by.map_or_else(|| "no warehouse".to_owned(), |w| w.to_string());
            return Err(StoreError::NotFound(format!("order {id} at {warehouse} (it is with {holder})")));
        }
        orders::apply_event_from(conn, id, &ev, cause, &reference, now_ms).map(|_| ())
    };
    let outcome = match &event.kind {
        EdgeEventKind::StockReceived { sku, qty, .. } => {
            let cause = Cause { cause: "edge_receipt", reference: &reference, at_ms: now_ms };
            known_sku(conn, sku.as_str())?;
            stock::change(conn, sku.as_str(), wh, &cause, |s| s.adjust_on_hand(qty.as_i64()))?;
            orders::retry_backorders(conn, sku.as_str(), now_ms)
        }
        EdgeEventKind::StockAdjusted { sku, delta, reason, .. } => {
            let cause_name = format!("edge_adjust_{}", reason.as_str());
            let cause = Cause { cause: &cause_name, reference: &reference, at_ms: now_ms };
            known_sku(conn, sku.as_str())?;
            let level = stock::change(conn, sku.as_str(), wh, &cause, |s| s.adjust_on_hand(*delta))?;
            if level.overcommitted() > 0 {
                // Unpaid orders' locks move to another warehouse; paid orders are the edge's
                // to re-route (it fails them back when it cannot serve them).
                orders::move_locks_away(conn, sku.as_str(), warehouse, now_ms)?;
            }
            if *delta > 0 {
                orders::retry_backorders(conn, sku.as_str(), now_ms)?;
            }
            Ok(())
        }
        EdgeEventKind::OrderPicked { order_id } => order_step(*order_id, OrderEvent::EdgePicked, "edge_picked"),
        EdgeEventKind::OrderPacked { order_id } => order_step(*order_id, OrderEvent::EdgePacked, "edge_packed"),
        EdgeEventKind::OrderShipped { order_id, tracking_number, carrier, .. } => {
            order_step(*order_id, OrderEvent::EdgeShipped, "edge_shipment")
                .and_then(|_| orders::set_shipping(conn, *order_id, tracking_number, carrier))
        }
        EdgeEventKind::CancelConfirmed { order_id } => order_step(*order_id, OrderEvent::EdgeCancelConfirmed, "edge_cancel_confirmed"),
        EdgeEventKind::FulfilmentFailed { order_id, .. } => order_step(*order_id, OrderEvent::EdgeFulfilmentFailed, "edge_fulfilment_failed"),
    };
    match outcome {
        Ok(()) => {
            conn.execute_batch("RELEASE event")?;
            Ok(())
        }
        // The edge reports facts; one central cannot fit to an order is kept for HQ, not
        // retried forever (which would stall every later event of this edge).
        Err(error @ (StoreError::Order(_) | StoreError::NotFound(_) | StoreError::UnknownSku(_) | StoreError::Stock(_))) => {
            conn.execute_batch("ROLLBACK TO event; RELEASE event")?;
            tracing::warn!(warehouse = wh, seq = event.seq, %error, "edge event rejected; kept in sync_reject");
            let body = serde_json::to_string(event).map_err(|e| StoreError::Invalid(e.to_string()))?;
            conn.prepare_cached("INSERT INTO sync_reject (warehouse, seq, event, reason, at_ms) VALUES (?1, ?2, ?3, ?4, ?5)")?
                .execute(params![wh, event.seq as i64, body, error.to_string(), now_ms])?;
            Ok(())
        }
        Err(other) => {
            conn.execute_batch("ROLLBACK TO event; RELEASE event")?;
            Err(other)
        }
    }
}

fn known_sku(conn: &Connection, sku: &str) -> StoreResult<()> {
    let found: Option<i64> = conn.prepare_cached("SELECT 1 FROM sku WHERE sku = ?1")?.query_row([sku], |r| r.get(0)).optional()?;
    found.map(|_| ()).ok_or_else(|| StoreError::UnknownSku(sku.to_owned()))
}

pub fn status(conn: &Connection) -> StoreResult<Vec<EdgeSyncRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT e.warehouse, e.events_high_water, e.last_push_ms, e.commands_seq,
                (SELECT COUNT(*) FROM sync_reject r WHERE r.warehouse = e.warehouse)
         FROM edge_stream e ORDER BY e.warehouse",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, Option<i64>>(2)?, r.get::<_, i64>(3)?, r.get::<_, i64>(4)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (warehouse, high_water, last_push_ms, latest, rejected) = row?;
        out.push(EdgeSyncRow {
            warehouse: parse_warehouse(&warehouse)?,
            events_high_water: high_water as u64,
            last_push_ms,
            commands_latest_seq: latest as u64,
            rejected_events: rejected as u64,
        });
    }
    Ok(out)
}

pub fn rejected(conn: &Connection, warehouse: Option<&WarehouseCode>, limit: u32) -> StoreResult<Vec<RejectedEvent>> {
    let mut stmt = conn.prepare_cached(
        "SELECT warehouse, seq, at_ms, reason, event FROM sync_reject WHERE ?1 IS NULL OR warehouse = ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![warehouse.map(|w| w.as_str()), limit], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?, r.get::<_, String>(3)?, r.get::<_, String>(4)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (warehouse, seq, at_ms, reason, event) = row?;
        out.push(RejectedEvent {
            warehouse: parse_warehouse(&warehouse)?,
            seq: seq as u64,
            at_ms,
            reason,
            event: serde_json::from_str(&event).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        });
    }
    Ok(out)
}
