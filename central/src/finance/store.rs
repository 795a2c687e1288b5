//! The ledger's tables: `gl_entry` and `gl_line` (append-only), `gl_account`, and the state
//! the posting rules keep: `fin_sku_cost`, `fin_cost_layer` (FIFO layers), `fin_order`.

use super::books::{Entry, Layer, OrderFacts, State};
use crate::db::{DbResult, Tx, Value};
use crate::params;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use tote_shared::{Sku, WarehouseCode};

/// What a batch of events touches: the state to load before posting it.
#[derive(Debug, Default)]
pub struct Touched {
    pub skus: BTreeSet<Sku>,
    pub layers: BTreeSet<(Sku, WarehouseCode)>,
    pub orders: BTreeSet<u64>,
}

pub fn load(tx: &mut dyn Tx, touched: &Touched) -> DbResult<State> {
    let mut state = State::default();
    for sku in &touched.skus {
        if let Some(row) = tx.query_opt("SELECT cost FROM fin_sku_cost WHERE sku = ?1", &params![sku.as_str()])? {
            state.costs.insert(sku.clone(), row.int(0)?);
        }
    }
    for (sku, warehouse) in &touched.layers {
        let rows = tx.query(
            "SELECT received_ms, qty, unit_cost FROM fin_cost_layer WHERE sku = ?1 AND warehouse = ?2 ORDER BY position",
            &params![sku.as_str(), warehouse.as_str()],
        )?;
        let layers: DbResult<VecDeque<Layer>> = rows.iter().map(|r| Ok(Layer { received_ms: r.int(0)?, qty: r.int(1)?, unit_cost: r.int(2)? })).collect();
        state.layers.insert((sku.clone(), warehouse.clone()), layers?);
    }
    for order in &touched.orders {
        if let Some(row) = tx.query_opt("SELECT channel_paid, shipped FROM fin_order WHERE order_id = ?1", &params![*order])? {
            state.orders.insert(*order, OrderFacts { channel_paid: row.int(0)? != 0, shipped: row.int(1)? != 0 });
        }
    }
    Ok(state)
}

/// Writes back the state of what the batch touched.
pub fn save(tx: &mut dyn Tx, state: &State) -> DbResult<()> {
    for (sku, cost) in &state.costs {
        tx.execute(
            "INSERT INTO fin_sku_cost (sku, cost) VALUES (?1, ?2) ON CONFLICT (sku) DO UPDATE SET cost = excluded.cost",
            &params![sku.as_str(), *cost],
        )?;
    }
    for ((sku, warehouse), layers) in &state.layers {
        tx.execute("DELETE FROM fin_cost_layer WHERE sku = ?1 AND warehouse = ?2", &params![sku.as_str(), warehouse.as_str()])?;
        for (position, layer) in layers.iter().enumerate() {
            tx.execute(
                "INSERT INTO fin_cost_layer (sku, warehouse, position, received_ms, qty, unit_cost) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                &params![sku.as_str(), warehouse.as_str(), position, layer.received_ms, layer.qty, layer.unit_cost],
            )?;
        }
    }
    for (order, facts) in &state.orders {
        tx.execute(
            "INSERT INTO fin_order (order_id, channel_paid, shipped) VALUES (?1, ?2, ?3)
             ON CONFLICT (order_id) DO UPDATE SET channel_paid = excluded.channel_paid, shipped = excluded.shipped",
            &params![*order, i64::from(facts.channel_paid), i64::from(facts.shipped)],
        )?;
    }
    Ok(())
}

fn optional(v: Option<i64>) -> Value {
    v.map_or(Value::Null, Value::from)
}

/// Appends entries and their lines (opening any account not seen before).
pub fn append(tx: &mut dyn Tx, entries: &[Entry]) -> DbResult<()> {
    for entry in entries {
        let id = tx
            .query_one(
                "INSERT INTO gl_entry (event_seq, at_ms, description) VALUES (?1, ?2, ?3) RETURNING id",
                &params![entry.event_seq, entry.at_ms, entry.description.as_str()],
            )?
            .int(0)?;
        for (n, line) in entry.lines.iter().enumerate() {
            tx.execute("INSERT INTO gl_account (account, opened_ms) VALUES (?1, ?2) ON CONFLICT (account) DO NOTHING", &params![line.account.as_str(), entry.at_ms])?;
            let lot = line.lot.as_ref();
            tx.execute(
                "INSERT INTO gl_line (entry_id, line_no, account, amount_minor, sku, qty, unit_cost, lot_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                &[
                    Value::from(id),
                    Value::from(n),
                    Value::from(line.account.as_str()),
                    Value::from(line.amount),
                    lot.map_or(Value::Null, |l| Value::from(l.sku.as_str())),
                    optional(lot.map(|l| l.qty)),
                    optional(lot.map(|l| l.unit_cost)),
                    optional(lot.map(|l| l.received_ms)),
                ],
            )?;
        }
    }
    Ok(())
}

/// One account's balance: debits positive.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Balance {
    pub account: String,
    /// Minor units (fen); debit positive, credit negative.
    pub balance: i64,
}

pub fn trial_balance(tx: &mut dyn Tx) -> DbResult<Vec<Balance>> {
    balances_between(tx, i64::MIN, i64::MAX)
}

/// Balances of the lines of entries dated in `[from_ms, to_ms)`.
pub fn balances_between(tx: &mut dyn Tx, from_ms: i64, to_ms: i64) -> DbResult<Vec<Balance>> {
    let rows = tx.query(
        "SELECT l.account, CAST(SUM(l.amount_minor) AS BIGINT) FROM gl_line l JOIN gl_entry e ON e.id = l.entry_id
         WHERE e.at_ms >= ?1 AND e.at_ms < ?2 GROUP BY l.account ORDER BY l.account",
        &params![from_ms, to_ms],
    )?;
    rows.iter().map(|r| Ok(Balance { account: r.text(0)?, balance: r.int(1)? })).collect()
}

/// A ledger line as the export reads it.
#[derive(Debug, Clone)]
pub struct LedgerLine {
    pub entry_id: i64,
    pub event_seq: i64,
    pub at_ms: i64,
    pub description: String,
    pub account: String,
    pub amount: i64,
    pub lot: Option<(String, i64, i64, i64)>,
}

/// Every line in entry order, `limit` entries at most after `after` (an entry id).
pub fn lines_after(tx: &mut dyn Tx, after: i64, limit: u32) -> DbResult<Vec<LedgerLine>> {
    let rows = tx.query(
        "SELECT e.id, e.event_seq, e.at_ms, e.description, l.account, l.amount_minor, l.sku, l.qty, l.unit_cost, l.lot_ms
         FROM gl_entry e JOIN gl_line l ON l.entry_id = e.id
         WHERE e.id > ?1 AND e.id <= (SELECT COALESCE(MAX(id), 0) FROM (SELECT id FROM gl_entry WHERE id > ?1 ORDER BY id LIMIT ?2) AS page)
         ORDER BY e.id, l.line_no",
        &params![after, limit],
    )?;
    rows.iter()
        .map(|r| {
            let lot = match r.opt_text(6)? {
                Some(sku) => Some((sku, r.int(7)?, r.int(8)?, r.int(9)?)),
                None => None,
            };
            Ok(LedgerLine { entry_id: r.int(0)?, event_seq: r.int(1)?, at_ms: r.int(2)?, description: r.text(3)?, account: r.text(4)?, amount: r.int(5)?, lot })
        })
        .collect()
}

/// Accounts and when each was first used.
pub fn accounts(tx: &mut dyn Tx) -> DbResult<BTreeMap<String, i64>> {
    let rows = tx.query("SELECT account, opened_ms FROM gl_account ORDER BY account", &[])?;
    rows.iter().map(|r| Ok((r.text(0)?, r.int(1)?))).collect()
}
