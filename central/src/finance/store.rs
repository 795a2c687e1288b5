//! The ledger's tables: `gl_entry` and `gl_line` (append-only), `gl_account`, and the state
//! the posting rules keep: `fin_sku_cost`, `fin_pile` (each SKU × warehouse's units and value),
//! `fin_cost_layer` (FIFO layers), `fin_cost_move` (the moves a back-dated one replays),
//! `fin_order`; the costing method in `settings_doc`.

use super::books::{Entry, Issued, Layer, OrderFacts, State};
use super::costing::{Method, Move, MoveKind};
use crate::db::{placeholders, values_clause, DbError, DbResult, Tx, Value};
use crate::params;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use tote_shared::calendar::DAY_MS;
use tote_shared::{Sku, WarehouseCode};

/// What a batch of events touches: the state to load before posting it.
#[derive(Debug, Default)]
pub struct Touched {
    pub skus: BTreeSet<Sku>,
    pub layers: BTreeSet<(Sku, WarehouseCode)>,
    pub orders: BTreeSet<u64>,
}

/// Rows per multi-row statement (parameters stay far below both backends' limits).
const CHUNK: usize = 400;

/// Loads the costs of the touched SKUs, the layers of every warehouse for the SKUs whose layers
/// are touched (`save` rewrites those SKUs' layers whole), and the touched orders' facts — a
/// few statements per batch, not one per item.
pub fn load(tx: &mut dyn Tx, touched: &Touched) -> DbResult<State> {
    let open_from_ms = tx
        .query_one(
            "SELECT COALESCE(MAX(end_ms), 0) FROM fin_period WHERE closed_ms IS NOT NULL",
            &[],
        )?
        .int(0)?;
    let mut state = State {
        method: costing(tx)?,
        open_from_ms,
        ..State::default()
    };
    let skus: Vec<&Sku> = touched.skus.iter().collect();
    for chunk in skus.chunks(CHUNK) {
        let sql = format!(
            "SELECT sku, cost FROM fin_sku_cost WHERE sku IN ({})",
            placeholders(chunk.len(), 1)
        );
        let params: Vec<Value> = chunk.iter().map(|s| Value::from(s.as_str())).collect();
        for row in tx.query(&sql, &params)? {
            state.costs.insert(
                Sku::parse(&row.text(0)?).map_err(|e| DbError::corrupt(e.to_string()))?,
                row.int(1)?,
            );
        }
    }
    let layered: BTreeSet<&Sku> = touched.layers.iter().map(|(sku, _)| sku).collect();
    let layered: Vec<&Sku> = layered.into_iter().collect();
    for pair in &touched.layers {
        state.piles.entry(pair.clone()).or_default();
    }
    for chunk in layered.chunks(CHUNK) {
        let sql = format!("SELECT sku, warehouse, qty, book_value, last_unit_cost, last_ms FROM fin_pile WHERE sku IN ({})", placeholders(chunk.len(), 1));
        let params: Vec<Value> = chunk.iter().map(|s| Value::from(s.as_str())).collect();
        for row in tx.query(&sql, &params)? {
            let pile = state
                .piles
                .entry(pair(&row.text(0)?, &row.text(1)?)?)
                .or_default();
            (pile.qty, pile.value, pile.last_unit_cost, pile.last_ms) =
                (row.int(2)?, row.int(3)?, row.int(4)?, row.int(5)?);
        }
        let sql = format!(
            "SELECT sku, warehouse, received_ms, qty, unit_cost FROM fin_cost_layer WHERE sku IN ({}) ORDER BY sku, warehouse, position",
            placeholders(chunk.len(), 1)
        );
        let params: Vec<Value> = chunk.iter().map(|s| Value::from(s.as_str())).collect();
        for row in tx.query(&sql, &params)? {
            let layer = Layer {
                received_ms: row.int(2)?,
                qty: row.int(3)?,
                unit_cost: row.int(4)?,
            };
            state
                .piles
                .entry(pair(&row.text(0)?, &row.text(1)?)?)
                .or_default()
                .layers
                .push_back(layer);
        }
    }
    let orders: Vec<u64> = touched.orders.iter().copied().collect();
    for chunk in orders.chunks(CHUNK) {
        let sql = format!(
            "SELECT order_id, channel_paid, shipped, paid_by, last_payment, sold_gross, sold_vat, returned_gross, returned_vat, unshipped_owed, issued, channel, campaign
             FROM fin_order WHERE order_id IN ({})",
            placeholders(chunk.len(), 1)
        );
        let params: Vec<Value> = chunk.iter().map(|o| Value::from(*o)).collect();
        for row in tx.query(&sql, &params)? {
            let facts = OrderFacts {
                channel_paid: row.int(1)? != 0,
                shipped: row.int(2)? != 0,
                paid_by: row.opt_int(3)?.map(|p| p as u64),
                last_payment: row.opt_int(4)?.map(|p| p as u64),
                sold_gross: row.int(5)?,
                sold_vat: row.int(6)?,
                returned_gross: row.int(7)?,
                returned_vat: row.int(8)?,
                unshipped_owed: row.int(9)?,
                issued: parse_issued(&row.text(10)?)?,
                channel: row.text(11)?,
                campaign: row.text(12)?,
            };
            state.orders.insert(row.uint(0)?, facts);
        }
    }
    Ok(state)
}

fn pair(sku: &str, warehouse: &str) -> DbResult<(Sku, WarehouseCode)> {
    let sku = Sku::parse(sku).map_err(|e| DbError::corrupt(e.to_string()))?;
    let warehouse = WarehouseCode::parse(warehouse).map_err(|e| DbError::corrupt(e.to_string()))?;
    Ok((sku, warehouse))
}

/// `SKU qty cost revenue warehouse;…` → per SKU, what an order shipped (`-`: no warehouse).
fn parse_issued(text: &str) -> DbResult<BTreeMap<Sku, Issued>> {
    let mut issued = BTreeMap::new();
    for item in text.split(';').filter(|i| !i.is_empty()) {
        let parts: Vec<&str> = item.split(' ').collect();
        let [sku, qty, cost, revenue, warehouse] = parts[..] else {
            return Err(DbError::corrupt(format!("fin_order.issued item {item:?}")));
        };
        let number = |n: &str| {
            n.parse::<i64>()
                .map_err(|e| DbError::corrupt(format!("fin_order.issued {item:?}: {e}")))
        };
        let warehouse = if warehouse == "-" {
            None
        } else {
            Some(WarehouseCode::parse(warehouse).map_err(|e| DbError::corrupt(e.to_string()))?)
        };
        let sku = Sku::parse(sku).map_err(|e| DbError::corrupt(e.to_string()))?;
        issued.insert(
            sku,
            Issued {
                qty: number(qty)?,
                cost: number(cost)?,
                revenue: number(revenue)?,
                warehouse,
            },
        );
    }
    Ok(issued)
}

fn write_issued(issued: &BTreeMap<Sku, Issued>) -> String {
    let item = |(sku, i): (&Sku, &Issued)| {
        format!(
            "{sku} {} {} {} {}",
            i.qty,
            i.cost,
            i.revenue,
            i.warehouse.as_ref().map_or("-", |w| w.as_str())
        )
    };
    issued.iter().map(item).collect::<Vec<_>>().join(";")
}

const COSTING_DOC: &str = "finance.costing";

/// The method the books are costed by (FIFO when never chosen).
pub fn costing(tx: &mut dyn Tx) -> DbResult<Method> {
    Ok(crate::db::doc::load::<Method>(tx, COSTING_DOC)?.unwrap_or_default())
}

/// Keeps the company's costing method: the first start chooses it; later the books must go on
/// with the method they were costed by (a change needs a revaluation, not a setting).
pub fn pin_costing(tx: &mut dyn Tx, method: Method, now_ms: i64) -> DbResult<Result<(), Method>> {
    let chosen = crate::db::doc::load::<Method>(tx, COSTING_DOC)?;
    let posted = tx
        .query_one(
            "SELECT COUNT(*) FROM (SELECT 1 FROM gl_entry LIMIT 1) AS any_entry",
            &[],
        )?
        .int(0)?
        > 0;
    match chosen {
        Some(chosen) if chosen != method => Ok(Err(chosen)),
        None if posted && method != Method::Fifo => Ok(Err(Method::Fifo)),
        Some(_) => Ok(Ok(())),
        None => crate::db::doc::save(tx, COSTING_DOC, &method, now_ms).map(Ok),
    }
}

/// Every move of these piles, for a replay.
pub fn load_history(
    tx: &mut dyn Tx,
    state: &mut State,
    pairs: &BTreeSet<(Sku, WarehouseCode)>,
) -> DbResult<()> {
    for (sku, warehouse) in pairs {
        let rows = tx.query("SELECT at_ms, seq, kind, qty, amount FROM fin_cost_move WHERE sku = ?1 AND warehouse = ?2 ORDER BY seq, n", &params![sku.as_str(), warehouse.as_str()])?;
        let mut history = Vec::with_capacity(rows.len());
        for r in &rows {
            let kind = r.text(2)?;
            let kind = MoveKind::from_columns(&kind, r.int(3)?, r.int(4)?)
                .ok_or_else(|| DbError::corrupt(format!("fin_cost_move kind {kind:?}")))?;
            history.push(Move {
                at_ms: r.int(0)?,
                seq: r.uint(1)?,
                kind,
            });
        }
        state
            .piles
            .entry((sku.clone(), warehouse.clone()))
            .or_default()
            .history = Some(history);
    }
    Ok(())
}

/// The income and expense accounts' balances posted before `end_ms` (a day boundary): what a
/// month's close moves to retained earnings (earlier closes have zeroed what they closed).
pub fn closing_balances(tx: &mut dyn Tx, end_ms: i64) -> DbResult<Vec<(String, i64)>> {
    let rows = tx.query(
        "SELECT account, CAST(SUM(amount) AS BIGINT) FROM gl_day WHERE day < ?1 AND (account LIKE 'Income:%' OR account LIKE 'Expenses:%')
         GROUP BY account ORDER BY account",
        &params![end_ms.div_euclid(DAY_MS)],
    )?;
    rows.iter().map(|r| Ok((r.text(0)?, r.int(1)?))).collect()
}

/// Writes back the state of what the batch touched: costs, piles and order facts upserted,
/// each loaded SKU's layers replaced whole, the batch's moves appended.
pub fn save(tx: &mut dyn Tx, state: &State) -> DbResult<()> {
    let costs: Vec<(&Sku, &i64)> = state.costs.iter().collect();
    for chunk in costs.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO fin_sku_cost (sku, cost) VALUES {} ON CONFLICT (sku) DO UPDATE SET cost = excluded.cost",
            values_clause(chunk.len(), 2, 1)
        );
        let params: Vec<Value> = chunk
            .iter()
            .flat_map(|(sku, cost)| [Value::from(sku.as_str()), Value::from(**cost)])
            .collect();
        tx.execute(&sql, &params)?;
    }
    let piles: Vec<Vec<Value>> = state
        .piles
        .iter()
        .map(|((sku, warehouse), p)| {
            let (qty, value) = (p.on_hand(state.method), p.book_value(state.method));
            vec![
                Value::from(sku.as_str()),
                Value::from(warehouse.as_str()),
                Value::from(qty),
                Value::from(value),
                Value::from(p.last_unit_cost),
                Value::from(p.last_ms),
            ]
        })
        .collect();
    insert_rows(
        tx,
        "INSERT INTO fin_pile (sku, warehouse, qty, book_value, last_unit_cost, last_ms) VALUES",
        "ON CONFLICT (sku, warehouse) DO UPDATE SET qty = excluded.qty, book_value = excluded.book_value, last_unit_cost = excluded.last_unit_cost, last_ms = excluded.last_ms",
        6,
        &piles,
    )?;
    let moves: Vec<Vec<Value>> = state
        .moves
        .iter()
        .enumerate()
        .map(|(n, (sku, warehouse, m))| {
            let (kind, qty, amount) = m.kind.columns();
            let key = [
                Value::from(sku.as_str()),
                Value::from(warehouse.as_str()),
                Value::from(m.seq),
                Value::from(n),
            ];
            key.into_iter()
                .chain([
                    Value::from(m.at_ms),
                    Value::from(kind),
                    Value::from(qty),
                    Value::from(amount),
                ])
                .collect()
        })
        .collect();
    insert_rows(
        tx,
        "INSERT INTO fin_cost_move (sku, warehouse, seq, n, at_ms, kind, qty, amount) VALUES",
        "",
        8,
        &moves,
    )?;
    let profit: Vec<Vec<Value>> = state
        .profit
        .iter()
        .map(|(k, f)| {
            let key = [
                Value::from(k.day),
                Value::from(k.sku.as_str()),
                Value::from(k.warehouse.as_str()),
                Value::from(k.channel.as_str()),
                Value::from(k.campaign.as_str()),
            ];
            key.into_iter()
                .chain([
                    Value::from(f.units),
                    Value::from(f.revenue),
                    Value::from(f.cogs),
                ])
                .collect()
        })
        .collect();
    insert_rows(
        tx,
        "INSERT INTO fin_profit (day, sku, warehouse, channel, campaign, units, revenue, cogs) VALUES",
        "ON CONFLICT (day, sku, warehouse, channel, campaign) DO UPDATE SET units = fin_profit.units + excluded.units,
         revenue = fin_profit.revenue + excluded.revenue, cogs = fin_profit.cogs + excluded.cogs",
        8,
        &profit,
    )?;
    add_profit_rollups(tx, &state.profit)?;
    for (month, net_income, at_ms) in &state.closed {
        tx.execute(
            "UPDATE fin_period SET closed_ms = ?2, net_income = ?3 WHERE month = ?1",
            &params![month, *at_ms, *net_income],
        )?;
    }
    let skus: BTreeSet<&Sku> = state.piles.keys().map(|(sku, _)| sku).collect();
    let skus: Vec<&Sku> = skus.into_iter().collect();
    for chunk in skus.chunks(CHUNK) {
        let params: Vec<Value> = chunk.iter().map(|s| Value::from(s.as_str())).collect();
        tx.execute(
            &format!(
                "DELETE FROM fin_cost_layer WHERE sku IN ({})",
                placeholders(chunk.len(), 1)
            ),
            &params,
        )?;
    }
    let rows: Vec<Vec<Value>> = state
        .piles
        .iter()
        .flat_map(|((sku, warehouse), pile)| {
            pile.layers.iter().enumerate().map(move |(position, l)| {
                vec![
                    Value::from(sku.as_str()),
                    Value::from(warehouse.as_str()),
                    Value::from(position),
                    Value::from(l.received_ms),
                    Value::from(l.qty),
                    Value::from(l.unit_cost),
                ]
            })
        })
        .collect();
    insert_rows(
        tx,
        "INSERT INTO fin_cost_layer (sku, warehouse, position, received_ms, qty, unit_cost) VALUES",
        "",
        6,
        &rows,
    )?;
    let orders: Vec<(&u64, &OrderFacts)> = state.orders.iter().collect();
    for chunk in orders.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO fin_order (order_id, channel_paid, shipped, paid_by, last_payment, sold_gross, sold_vat, returned_gross, returned_vat, unshipped_owed, issued, channel, campaign)
             VALUES {}
             ON CONFLICT (order_id) DO UPDATE SET channel_paid = excluded.channel_paid, shipped = excluded.shipped, paid_by = excluded.paid_by,
             last_payment = excluded.last_payment, sold_gross = excluded.sold_gross, sold_vat = excluded.sold_vat,
             returned_gross = excluded.returned_gross, returned_vat = excluded.returned_vat, unshipped_owed = excluded.unshipped_owed, issued = excluded.issued,
             channel = excluded.channel, campaign = excluded.campaign",
            values_clause(chunk.len(), 13, 1)
        );
        let params: Vec<Value> = chunk
            .iter()
            .flat_map(|(order, f)| {
                [
                    Value::from(**order),
                    Value::from(i64::from(f.channel_paid)),
                    Value::from(i64::from(f.shipped)),
                    optional(f.paid_by.map(|p| p as i64)),
                    optional(f.last_payment.map(|p| p as i64)),
                    Value::from(f.sold_gross),
                    Value::from(f.sold_vat),
                    Value::from(f.returned_gross),
                    Value::from(f.returned_vat),
                    Value::from(f.unshipped_owed),
                    Value::from(write_issued(&f.issued)),
                    Value::from(f.channel.as_str()),
                    Value::from(f.campaign.as_str()),
                ]
            })
            .collect();
        tx.execute(&sql, &params)?;
    }
    Ok(())
}

/// `head VALUES (…), (…) tail` in chunks.
/// The profit cube summed per day and per day × SKU, in the cube's transaction: what the
/// HQ dashboard reads for a year (hundreds of thousands of rows, not the cube's millions).
fn add_profit_rollups(
    tx: &mut dyn Tx,
    profit: &BTreeMap<super::books::ProfitKey, super::books::ProfitFigures>,
) -> DbResult<()> {
    let mut by_day: BTreeMap<i64, [i64; 3]> = BTreeMap::new();
    let mut by_sku: BTreeMap<(i64, &str), [i64; 3]> = BTreeMap::new();
    for (k, f) in profit {
        for sum in [
            by_day.entry(k.day).or_default(),
            by_sku.entry((k.day, k.sku.as_str())).or_default(),
        ] {
            sum[0] += f.units;
            sum[1] += f.revenue;
            sum[2] += f.cogs;
        }
    }
    let figures = |s: &[i64; 3]| [Value::from(s[0]), Value::from(s[1]), Value::from(s[2])];
    let days: Vec<Vec<Value>> = by_day
        .iter()
        .map(|(day, s)| {
            std::iter::once(Value::from(*day))
                .chain(figures(s))
                .collect()
        })
        .collect();
    insert_rows(
        tx,
        "INSERT INTO fin_profit_day (day, units, revenue, cogs) VALUES",
        "ON CONFLICT (day) DO UPDATE SET units = fin_profit_day.units + excluded.units,
         revenue = fin_profit_day.revenue + excluded.revenue, cogs = fin_profit_day.cogs + excluded.cogs",
        4,
        &days,
    )?;
    let skus: Vec<Vec<Value>> = by_sku
        .iter()
        .map(|((day, sku), s)| {
            [Value::from(*day), Value::from(*sku)]
                .into_iter()
                .chain(figures(s))
                .collect()
        })
        .collect();
    insert_rows(
        tx,
        "INSERT INTO fin_profit_sku_day (day, sku, units, revenue, cogs) VALUES",
        "ON CONFLICT (day, sku) DO UPDATE SET units = fin_profit_sku_day.units + excluded.units,
         revenue = fin_profit_sku_day.revenue + excluded.revenue, cogs = fin_profit_sku_day.cogs + excluded.cogs",
        5,
        &skus,
    )
}

fn insert_rows(
    tx: &mut dyn Tx,
    head: &str,
    tail: &str,
    columns: usize,
    rows: &[Vec<Value>],
) -> DbResult<()> {
    for chunk in rows.chunks(CHUNK) {
        let sql = format!("{head} {} {tail}", values_clause(chunk.len(), columns, 1));
        let params: Vec<Value> = chunk.iter().flatten().cloned().collect();
        tx.execute(&sql, &params)?;
    }
    Ok(())
}

fn optional(v: Option<i64>) -> Value {
    v.map_or(Value::Null, Value::from)
}

/// Appends entries and their lines (opening any account not seen before). Entry ids are
/// taken after the highest: the consumer's position lock makes it the only writer.
pub fn append(tx: &mut dyn Tx, entries: &[Entry]) -> DbResult<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let first_id = tx
        .query_one("SELECT COALESCE(MAX(id), 0) FROM gl_entry", &[])?
        .int(0)?
        + 1;
    let opened: BTreeMap<&str, i64> = entries
        .iter()
        .rev()
        .flat_map(|e| e.lines.iter().map(move |l| (l.account.as_str(), e.at_ms)))
        .collect();
    let accounts: Vec<Vec<Value>> = opened
        .iter()
        .map(|(a, at)| vec![Value::from(*a), Value::from(*at)])
        .collect();
    insert_rows(
        tx,
        "INSERT INTO gl_account (account, opened_ms) VALUES",
        "ON CONFLICT (account) DO NOTHING",
        2,
        &accounts,
    )?;
    let rows: Vec<Vec<Value>> = entries
        .iter()
        .enumerate()
        .map(|(k, e)| {
            let ids = [Value::from(first_id + k as i64), Value::from(e.event_seq)];
            let rest = [
                Value::from(e.at_ms),
                Value::from(e.description.as_str()),
                Value::from(e.event_ms),
                Value::from(i64::from(e.closing)),
            ];
            ids.into_iter().chain(rest).collect()
        })
        .collect();
    insert_rows(
        tx,
        "INSERT INTO gl_entry (id, event_seq, at_ms, description, event_ms, closing) VALUES",
        "",
        6,
        &rows,
    )?;
    // Each account's movement per posting day: the statements sum days, not lines.
    let mut days: BTreeMap<(&str, i64, bool), i64> = BTreeMap::new();
    for e in entries {
        for line in &e.lines {
            *days
                .entry((line.account.as_str(), e.at_ms.div_euclid(DAY_MS), e.closing))
                .or_default() += line.amount;
        }
    }
    let days: Vec<Vec<Value>> = days
        .into_iter()
        .map(|((account, day, closing), amount)| {
            vec![
                Value::from(account),
                Value::from(day),
                Value::from(i64::from(closing)),
                Value::from(amount),
            ]
        })
        .collect();
    insert_rows(tx, "INSERT INTO gl_day (account, day, closing, amount) VALUES", "ON CONFLICT (account, day, closing) DO UPDATE SET amount = gl_day.amount + excluded.amount", 4, &days)?;
    let lines: Vec<Vec<Value>> = entries
        .iter()
        .enumerate()
        .flat_map(|(k, e)| {
            e.lines.iter().enumerate().map(move |(n, line)| {
                let lot = line.lot.as_ref();
                vec![
                    Value::from(first_id + k as i64),
                    Value::from(n),
                    Value::from(line.account.as_str()),
                    Value::from(line.amount),
                    lot.map_or(Value::Null, |l| Value::from(l.sku.as_str())),
                    optional(lot.map(|l| l.qty)),
                    optional(lot.map(|l| l.unit_cost)),
                    optional(lot.map(|l| l.received_ms)),
                ]
            })
        })
        .collect();
    insert_rows(tx, "INSERT INTO gl_line (entry_id, line_no, account, amount_minor, sku, qty, unit_cost, lot_ms) VALUES", "", 8, &lines)
}

/// One account's balance: debits positive.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Balance {
    pub account: String,
    /// Minor units (fen); debit positive, credit negative.
    pub balance: i64,
}

pub fn trial_balance(tx: &mut dyn Tx) -> DbResult<Vec<Balance>> {
    day_balances(tx, i64::MIN, i64::MAX, true)
}

/// Each account's movement over the posting days `[from_day, to_day)` (UTC days since the
/// epoch), with or without period closes' entries.
pub fn day_balances(
    tx: &mut dyn Tx,
    from_day: i64,
    to_day: i64,
    with_closing: bool,
) -> DbResult<Vec<Balance>> {
    let rows = tx.query(
        "SELECT account, CAST(SUM(amount) AS BIGINT) FROM gl_day WHERE day >= ?1 AND day < ?2 AND (closing = 0 OR ?3 = 1)
         GROUP BY account ORDER BY account",
        &params![from_day, to_day, i64::from(with_closing)],
    )?;
    rows.iter()
        .map(|r| {
            Ok(Balance {
                account: r.text(0)?,
                balance: r.int(1)?,
            })
        })
        .collect()
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

/// The newest entry's id (0: none): an export reads up to it, so entries committed while it
/// reads are left out whole.
pub fn last_entry(tx: &mut dyn Tx) -> DbResult<i64> {
    tx.query_one("SELECT COALESCE(MAX(id), 0) FROM gl_entry", &[])?
        .int(0)
}

/// Every line in entry order of the entries after `after` up to `upto`, `limit` entries at most.
pub fn lines_after(
    tx: &mut dyn Tx,
    after: i64,
    upto: i64,
    limit: u32,
) -> DbResult<Vec<LedgerLine>> {
    let rows = tx.query(
        "SELECT e.id, e.event_seq, e.at_ms, e.description, l.account, l.amount_minor, l.sku, l.qty, l.unit_cost, l.lot_ms
         FROM gl_entry e JOIN gl_line l ON l.entry_id = e.id
         WHERE e.id > ?1 AND e.id <= ?3
           AND e.id <= (SELECT COALESCE(MAX(id), 0) FROM (SELECT id FROM gl_entry WHERE id > ?1 ORDER BY id LIMIT ?2) AS page)
         ORDER BY e.id, l.line_no",
        &params![after, limit, upto],
    )?;
    rows.iter()
        .map(|r| {
            let lot = match r.opt_text(6)? {
                Some(sku) => Some((sku, r.int(7)?, r.int(8)?, r.int(9)?)),
                None => None,
            };
            Ok(LedgerLine {
                entry_id: r.int(0)?,
                event_seq: r.int(1)?,
                at_ms: r.int(2)?,
                description: r.text(3)?,
                account: r.text(4)?,
                amount: r.int(5)?,
                lot,
            })
        })
        .collect()
}

/// A dimension of the profit report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProfitBy {
    Sku,
    Spu,
    Category,
    Brand,
    Channel,
    Warehouse,
    /// The promotion (campaign coupon) the order redeemed; empty: none.
    Campaign,
}

impl ProfitBy {
    /// The grouping expression: a fixed text per dimension, never the caller's.
    fn column(self) -> &'static str {
        match self {
            ProfitBy::Sku => "p.sku",
            ProfitBy::Spu => "COALESCE(s.spu_id, '')",
            ProfitBy::Category => "COALESCE(u.category, '')",
            ProfitBy::Brand => "COALESCE(u.brand, '')",
            ProfitBy::Channel => "p.channel",
            ProfitBy::Warehouse => "p.warehouse",
            ProfitBy::Campaign => "p.campaign",
        }
    }
}

/// Units, revenue (net of VAT and returns), cost of goods sold and gross profit of one value of
/// a dimension, in minor units.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProfitRow {
    pub key: String,
    pub units: i64,
    pub revenue: i64,
    pub cost_of_goods_sold: i64,
    pub gross_profit: i64,
    /// Gross profit over revenue, in basis points (absent without revenue).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub margin_bp: Option<i64>,
}

impl ProfitRow {
    fn new(key: String, units: i64, revenue: i64, cogs: i64) -> ProfitRow {
        let gross_profit = revenue - cogs;
        let margin_bp = (revenue > 0).then(|| {
            i64::try_from(i128::from(gross_profit) * 10_000 / i128::from(revenue))
                .unwrap_or(i64::MIN)
        });
        ProfitRow {
            key,
            units,
            revenue,
            cost_of_goods_sold: cogs,
            gross_profit,
            margin_bp,
        }
    }
}

/// The profit cube over posting days `[from_day, to_day)` grouped by one dimension, the most
/// profitable first, and the total of every row (not only those returned).
pub fn profit(
    tx: &mut dyn Tx,
    by: ProfitBy,
    from_day: i64,
    to_day: i64,
    limit: u32,
) -> DbResult<(Vec<ProfitRow>, ProfitRow)> {
    let column = by.column();
    let sql = format!(
        "SELECT {column}, CAST(SUM(p.units) AS BIGINT), CAST(SUM(p.revenue) AS BIGINT), CAST(SUM(p.cogs) AS BIGINT)
         FROM fin_profit p LEFT JOIN sku s ON s.sku = p.sku LEFT JOIN spu u ON u.id = s.spu_id
         WHERE p.day >= ?1 AND p.day < ?2
         GROUP BY {column} ORDER BY SUM(p.revenue) - SUM(p.cogs) DESC, {column} LIMIT ?3"
    );
    let rows = tx.query(&sql, &params![from_day, to_day, limit])?;
    let rows = rows
        .iter()
        .map(|r| Ok(ProfitRow::new(r.text(0)?, r.int(1)?, r.int(2)?, r.int(3)?)))
        .collect::<DbResult<Vec<_>>>()?;
    let total = tx.query_one(
        "SELECT CAST(COALESCE(SUM(units), 0) AS BIGINT), CAST(COALESCE(SUM(revenue), 0) AS BIGINT), CAST(COALESCE(SUM(cogs), 0) AS BIGINT)
         FROM fin_profit WHERE day >= ?1 AND day < ?2",
        &params![from_day, to_day],
    )?;
    Ok((
        rows,
        ProfitRow::new("total".into(), total.int(0)?, total.int(1)?, total.int(2)?),
    ))
}

/// A posted entry with its lines and the event that caused it, for drilling down from a
/// statement line.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PostedEntry {
    pub id: u64,
    pub at_ms: i64,
    pub description: String,
    /// The journal event posted (`GET /api/v1/events`).
    pub event_seq: u64,
    pub event_kind: Option<String>,
    /// What the event is about, e.g. `order:42`.
    pub subject: Option<String>,
    pub lines: Vec<PostedLine>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PostedLine {
    pub account: String,
    pub amount_minor: i64,
    pub sku: Option<String>,
    pub qty: Option<i64>,
}

/// Which entries to drill into.
#[derive(Debug, Clone, Default)]
pub struct EntryFilter {
    /// Entries with a line on this account or one under it.
    pub account: Option<String>,
    /// Entries of events about this subject (`order:42`); an order's include those of its
    /// payments and refunds.
    pub subject: Option<String>,
    pub from_ms: i64,
    pub to_ms: i64,
    /// Only entries older than this id (the next page).
    pub before: Option<u64>,
}

/// The newest matching entries first, each whole.
pub fn entries(tx: &mut dyn Tx, f: &EntryFilter, limit: u32) -> DbResult<Vec<PostedEntry>> {
    let under = f.account.as_ref().map(|a| format!("{a}:%"));
    let order = f
        .subject
        .as_deref()
        .and_then(|s| s.strip_prefix("order:"))
        .and_then(|id| id.parse::<i64>().ok());
    let ids = tx.query(
        "SELECT DISTINCT e.id FROM gl_entry e JOIN gl_line l ON l.entry_id = e.id
         WHERE e.at_ms >= ?1 AND e.at_ms < ?2 AND (CAST(?3 AS BIGINT) IS NULL OR e.id < ?3)
           AND (CAST(?4 AS TEXT) IS NULL OR l.account = ?4 OR l.account LIKE ?5)
           AND (CAST(?6 AS TEXT) IS NULL OR e.event_seq IN (SELECT seq FROM journal WHERE seq IS NOT NULL AND (subject = ?6
                OR subject IN (SELECT 'payment:' || p.id FROM payment p WHERE p.order_id = ?8)
                OR subject IN (SELECT 'refund:' || r.id FROM payment_refund r JOIN payment p ON p.id = r.payment_id WHERE p.order_id = ?8))))
         ORDER BY e.id DESC LIMIT ?7",
        &params![f.from_ms, f.to_ms, f.before, f.account.as_deref(), under, f.subject.as_deref(), limit, order],
    )?;
    let ids: Vec<Value> = ids
        .iter()
        .map(|r| r.int(0).map(Value::from))
        .collect::<DbResult<_>>()?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT e.id, e.at_ms, e.description, e.event_seq, j.kind, j.subject, l.account, l.amount_minor, l.sku, l.qty
         FROM gl_entry e JOIN gl_line l ON l.entry_id = e.id LEFT JOIN journal j ON j.seq = e.event_seq
         WHERE e.id IN ({}) ORDER BY e.id DESC, l.line_no",
        placeholders(ids.len(), 1)
    );
    let mut out: Vec<PostedEntry> = Vec::new();
    for r in tx.query(&sql, &ids)? {
        let id = r.uint(0)?;
        if out.last().is_none_or(|e| e.id != id) {
            out.push(PostedEntry {
                id,
                at_ms: r.int(1)?,
                description: r.text(2)?,
                event_seq: r.uint(3)?,
                event_kind: r.opt_text(4)?,
                subject: r.opt_text(5)?,
                lines: Vec::new(),
            });
        }
        if let Some(entry) = out.last_mut() {
            entry.lines.push(PostedLine {
                account: r.text(6)?,
                amount_minor: r.int(7)?,
                sku: r.opt_text(8)?,
                qty: r.opt_int(9)?,
            });
        }
    }
    Ok(out)
}
