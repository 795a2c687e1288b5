//! Commands from central, applied exactly once: each in the transaction that moves the
//! command cursor past it. A command at or below the cursor is a replay and is skipped.

use super::picking;
use super::{StoreError, StoreResult};
use rusqlite::{params, Connection};
use tote_shared::strategy::Rules;
use tote_shared::sync::{CentralCommand, CommandKind};

/// `rules`: the strategy rules orders released by these commands are picked under.
pub fn apply(conn: &Connection, commands: &[CentralCommand], rules: &Rules, now_ms: i64) -> StoreResult<u64> {
    let mut cursor: u64 =
        conn.query_row("SELECT value FROM sync_state WHERE name = 'command_cursor'", [], |r| r.get::<_, i64>(0))? as u64;
    for command in commands {
        if command.seq <= cursor {
            continue;
        }
        if command.seq != cursor + 1 {
            return Err(StoreError::Conflict(format!("command stream gap: at {cursor}, got {}", command.seq)));
        }
        apply_one(conn, &command.kind, rules, now_ms)?;
        cursor = command.seq;
    }
    conn.prepare_cached("UPDATE sync_state SET value = ?1 WHERE name = 'command_cursor'")?.execute([cursor as i64])?;
    Ok(cursor)
}

fn apply_one(conn: &Connection, kind: &CommandKind, rules: &Rules, now_ms: i64) -> StoreResult<()> {
    match kind {
        CommandKind::UpsertSku { sku, gtin, name, shipping } => {
            let (weight_g, longest_mm) = (shipping.map(|s| s.weight_g), shipping.map(|s| s.longest_mm()));
            conn.prepare_cached(
                "INSERT INTO sku (sku, gtin, name, weight_g, longest_mm) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (sku) DO UPDATE SET gtin = ?2, name = ?3, weight_g = ?4, longest_mm = ?5",
            )?
            .execute(params![sku.as_str(), gtin.as_str(), name, weight_g, longest_mm])?;
            Ok(())
        }
        CommandKind::Fulfil { order_id, lines, ship_to, ship_via } => picking::release(conn, rules, *order_id, lines, ship_to, ship_via.as_ref(), now_ms),
        CommandKind::Cancel { order_id } => picking::cancel(conn, *order_id, now_ms),
        CommandKind::WaybillGrant { carrier, numbers } => super::waybills::grant(conn, carrier, numbers, now_ms),
        CommandKind::ExpectReturn { rma, order_id, lines } => super::returns::expect(conn, rma, *order_id, lines, now_ms),
        CommandKind::CancelReturn { rma } => super::returns::withdraw(conn, rma),
        CommandKind::ReturnLabel { rma, carrier, waybill } => super::returns::label(conn, rma, carrier, waybill),
        CommandKind::ExpectDelivery { id, supplier, lines } => super::deliveries::expect(conn, id, supplier, lines, now_ms),
        CommandKind::CloseDelivery { id } => super::deliveries::close(conn, id),
    }
}
