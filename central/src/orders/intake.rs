//! The flash-sale path: one-line orders are taken in batches.
//!
//! With plain row locking (PostgreSQL) every order for one SKU waits for the previous one's
//! commit, so a hot SKU caps intake at one commit time per order (~1,000/s here); on SQLite
//! the single writer pays a dozen statements per order. Instead each one-line
//! order goes to the shard its SKU hashes to; a shard's worker takes every order waiting
//! (up to `MAX_BATCH`) and decides them in one transaction: the SKU's stock rows are locked
//! once, the orders are routed and locked in arrival order in memory (`routing::allocate`,
//! the same rules as the single path), and the outcome is written with a few multi-row
//! statements. No order can take stock another took: the rows stay locked until the batch
//! commits, and the levels written are the levels decided.
//!
//! Anything unusual (a database error, a shard gone) answers `Fallback`, and the caller
//! takes the order through the ordinary path — slower, never wrong.

use super::checks::{self, Candidate, CheckPolicy, Facts};
use super::routing::allocate;
use super::{event_lines, pricing, screen, shortage_text, store, CreateOrder, OrderLineRecord, OrderRecord, OrdersError};
use crate::catalog;
use crate::db::{Database, DbError, DbResult, Tx};
use crate::idempotency::{lookup_many, remember_many, Stored};
use crate::inventory::store::{lock_skus, save_batch, LedgerRow};
use crate::journal::{self, BusinessEvent};
use crate::marketing::flash::FlashSale;
use crate::marketing::{self, Checkout, MarketingError, ToPrice};
use crate::warehouses;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tote_shared::geo::GeoPoint;
use tote_shared::order::OrderState;
use tote_shared::runtime::batch::{next_batch, shard_of};
use tote_shared::runtime::idempotency::{RequestKey, Seen};
use tote_shared::stock::{StockField, StockLevel};
use tote_shared::{Money, Sku, WarehouseCode};

/// Most orders one batch transaction takes.
pub const MAX_BATCH: usize = 256;
/// Orders waiting per shard before submitters wait.
const QUEUE: usize = 4096;

/// How one order of a batch ended.
#[derive(Debug)]
pub enum Reply {
    /// Created now (`replayed` false) or earlier under the same key and request.
    Answer { stored: Stored, replayed: bool },
    /// The key was used with another request.
    Mismatch,
    /// A business refusal: unknown SKU, no stock, total too large.
    Refused(OrdersError),
    /// Take the ordinary path.
    Fallback,
}

struct Job {
    caller: String,
    key: RequestKey,
    order: CreateOrder,
    reply: oneshot::Sender<Reply>,
}

/// The shards' queues.
pub struct Intake {
    shards: Vec<mpsc::Sender<Job>>,
}

impl Intake {
    /// Starts `shards` workers; `written` runs after each committed batch (wakes the journal).
    pub fn start(db: Database, shards: usize, written: Arc<dyn Fn() + Send + Sync>) -> Intake {
        let shards = (0..shards.max(1))
            .map(|_| {
                let (tx, rx) = mpsc::channel(QUEUE);
                tokio::spawn(worker(db.clone(), rx, written.clone()));
                tx
            })
            .collect();
        Intake { shards }
    }

    /// Takes a one-line order through its SKU's shard.
    pub async fn submit(&self, caller: String, key: RequestKey, order: CreateOrder) -> Reply {
        // Coupons, points and group buys are taken one order at a time (`flow::create`).
        let checkout = &order.checkout;
        let plain = checkout.coupons.is_empty() && checkout.points == 0 && checkout.group.is_none();
        let Some(line) = order.lines.first().filter(|_| order.lines.len() == 1 && plain) else {
            return Reply::Fallback;
        };
        let shard = &self.shards[shard_of(line.sku.as_str(), self.shards.len())];
        let (reply, answer) = oneshot::channel();
        if shard.send(Job { caller, key, order, reply }).await.is_err() {
            return Reply::Fallback;
        }
        answer.await.unwrap_or(Reply::Fallback)
    }
}

async fn worker(db: Database, mut rx: mpsc::Receiver<Job>, written: Arc<dyn Fn() + Send + Sync>) {
    while let Some(jobs) = next_batch(&mut rx, MAX_BATCH).await {
        let (requests, answers): (Vec<_>, Vec<_>) = jobs.into_iter().map(|j| ((j.caller, j.key, j.order), j.reply)).unzip();
        let requests = Arc::new(requests);
        let outcome = db.write(move |tx| take_batch(tx, &requests)).await;
        match outcome {
            Ok(replies) => {
                written();
                for (answer, reply) in answers.into_iter().zip(replies) {
                    let _ = answer.send(reply);
                }
            }
            Err(error) => {
                let error: DbError = error;
                tracing::warn!(%error, orders = answers.len(), "order batch failed; taking its orders one by one");
                for answer in answers {
                    let _ = answer.send(Reply::Fallback);
                }
            }
        }
    }
}

/// One batch in one transaction.
fn take_batch(tx: &mut dyn Tx, requests: &[(String, RequestKey, CreateOrder)]) -> DbResult<Vec<Reply>> {
    let mut replies: Vec<Option<Reply>> = (0..requests.len()).map(|_| None).collect();
    let fresh = known_keys(tx, requests, &mut replies)?;
    // SKUs in key order, so two batches lock rows in the same order.
    let mut by_sku: BTreeMap<&Sku, Vec<usize>> = BTreeMap::new();
    for &i in &fresh {
        by_sku.entry(&requests[i].2.lines[0].sku).or_default().push(i);
    }
    // Each with its stock level after it, or None for a flash order (its units come from the
    // sale's hold: no level changes).
    let mut created: Vec<(usize, OrderRecord, Option<StockLevel>)> = Vec::new();
    if by_sku.is_empty() {
        return finish(requests, replies);
    }
    // Pre-checks: customers locked before any stock row (the order every path keeps), and ids
    // given now so a duplicate within the batch can name the order it repeats.
    let policy = screen::policy(tx)?;
    let candidates: Vec<Candidate<'_>> = fresh.iter().map(|&i| Candidate::of(&requests[i].2)).collect();
    let earliest = fresh.iter().map(|&i| requests[i].2.now_ms).min().unwrap_or(0);
    let mut facts = screen::gather(tx, &policy, &candidates, earliest)?;
    let ids: HashMap<usize, u64> = fresh.iter().copied().zip(store::next_ids(tx, fresh.len())?).collect();
    // One statement each for every SKU of the batch: prices, locked levels, places.
    let skus: Vec<&Sku> = by_sku.keys().copied().collect();
    let prices = catalog::store::listings(tx, &skus)?;
    // Marketing in one round trip when nothing is on (the usual case); flash sales' rows
    // locked after the stock rows, as every path does.
    let (promotions, flash_sales) = marketing::store::anything_live(tx, &skus, earliest)?;
    let checkout = Checkout::load_if(tx, promotions, earliest)?;
    let promoted: Vec<&Sku> = skus.iter().copied().filter(|s| checkout.touches(s)).collect();
    let costs: HashMap<&Sku, Money> = promoted.iter().copied().zip(catalog::store::costs(tx, &promoted)?).filter_map(|(s, c)| Some((s, c?))).collect();
    let mut levels: HashMap<String, Vec<(WarehouseCode, StockLevel)>> = HashMap::new();
    for (sku, warehouse, level) in lock_skus(tx, &skus)? {
        levels.entry(sku).or_default().push((warehouse, level));
    }
    let mut sales: HashMap<Sku, FlashSale> = if flash_sales {
        marketing::store::live_flash_for_update(tx, &skus)?.into_iter().filter(|s| s.selling(earliest)).map(|s| (s.sku.clone(), s)).collect()
    } else {
        HashMap::new()
    };
    let points: HashMap<WarehouseCode, GeoPoint> = warehouses::store::points(tx)?.into_iter().collect();
    for ((sku, jobs), price) in by_sku.into_iter().zip(prices) {
        let price = match price {
            Some((price, state)) if state.on_sale() => price,
            other => {
                let refusal = || match other {
                    Some((_, state)) => OrdersError::NotOnSale { sku: sku.to_string(), state: state.as_str() },
                    None => OrdersError::UnknownSku(sku.to_string()),
                };
                for i in jobs {
                    replies[i] = Some(Reply::Refused(refusal()));
                }
                continue;
            }
        };
        if let Some(sale) = sales.get_mut(sku) {
            let mut batch = Batch { policy: &policy, facts: &mut facts, ids: &ids, created: &mut created, replies: &mut replies };
            take_flash(tx, requests, jobs, sale, price, &mut batch)?;
            continue;
        }
        let levels = levels.remove(sku.as_str()).unwrap_or_default();
        let located: Vec<(WarehouseCode, GeoPoint)> = levels
            .iter()
            .map(|(w, _)| points.get(w).map(|p| (w.clone(), *p)).ok_or_else(|| DbError::corrupt(format!("stock at unknown warehouse {w}"))))
            .collect::<DbResult<_>>()?;
        let mut current: Vec<StockLevel> = levels.iter().map(|(_, l)| *l).collect();
        // Priced at checkout; a total too large or not the one shown is refused before it
        // can take stock.
        let mut takers = Vec::with_capacity(jobs.len());
        for i in jobs {
            match priced_line(tx, &checkout, &requests[i].2, price, costs.get(sku).copied()) {
                Ok(priced) => takers.push((i, priced)),
                Err(OrdersError::Db(e)) => return Err(e),
                Err(refusal) => replies[i] = Some(Reply::Refused(refusal)),
            }
        }
        // In arrival order: checked against what the customer ordered before, this batch
        // included, then allocated.
        for (i, (line, total)) in takers {
            let order = &requests[i].2;
            let candidate = Candidate::of(order);
            if let Err(refusal) = checks::check(&policy, &facts, &candidate) {
                replies[i] = Some(Reply::Refused(OrdersError::Refused(refusal)));
                continue;
            }
            let want = [(order.lines[0].qty.as_i64(), order.destination)];
            match allocate(&located, &mut current, &want).pop().flatten() {
                Some((w, after)) => {
                    let id = ids.get(&i).copied().ok_or_else(|| DbError::corrupt("batch order without id"))?;
                    checks::remember(&mut facts, &candidate, id);
                    created.push((i, record(order, id, &located[w].0, line, total), Some(after)));
                }
                None => replies[i] = Some(Reply::Refused(OrdersError::InsufficientStock(shortage_text(&order.lines, !located.is_empty())))),
            }
        }
    }
    write_created(tx, requests, &mut created, &mut replies)?;
    finish(requests, replies)
}

fn finish(requests: &[(String, RequestKey, CreateOrder)], mut replies: Vec<Option<Reply>>) -> DbResult<Vec<Reply>> {
    settle_duplicates(requests, &mut replies);
    Ok(replies.into_iter().map(|r| r.unwrap_or(Reply::Fallback)).collect())
}

/// Looks every key up; answers replays and mismatches; returns the orders still to take.
/// A key that appears twice in the batch is taken once (the first); the others are settled
/// after the batch by `settle_duplicates`.
fn known_keys(tx: &mut dyn Tx, requests: &[(String, RequestKey, CreateOrder)], replies: &mut [Option<Reply>]) -> DbResult<Vec<usize>> {
    let mut by_caller: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, (caller, _, _)) in requests.iter().enumerate() {
        by_caller.entry(caller).or_default().push(i);
    }
    let mut fresh = Vec::new();
    for (caller, indexes) in by_caller {
        let keys: Vec<&RequestKey> = indexes.iter().map(|&i| &requests[i].1).collect();
        let mut first_of: HashMap<&str, usize> = HashMap::new();
        for (&i, seen) in indexes.iter().zip(lookup_many(tx, caller, &keys)?) {
            match seen {
                Seen::Replay(stored) => replies[i] = Some(Reply::Answer { stored, replayed: true }),
                Seen::Mismatch => replies[i] = Some(Reply::Mismatch),
                Seen::New if first_of.contains_key(requests[i].1.key.as_str()) => {}
                Seen::New => {
                    first_of.insert(&requests[i].1.key, i);
                    fresh.push(i);
                }
            }
        }
    }
    Ok(fresh)
}

/// What a flash sale's orders write into.
struct Batch<'b> {
    policy: &'b CheckPolicy,
    facts: &'b mut Facts,
    ids: &'b HashMap<usize, u64>,
    created: &'b mut Vec<(usize, OrderRecord, Option<StockLevel>)>,
    replies: &'b mut [Option<Reply>],
}

/// A flash sale's orders in arrival order: each checked, then within the customer's limit
/// and the quota (the sale's row is locked), at the flash price, from the sale's hold; the
/// sale's counters written once.
fn take_flash(tx: &mut dyn Tx, requests: &[(String, RequestKey, CreateOrder)], jobs: Vec<usize>, sale: &mut FlashSale, price: Money, batch: &mut Batch<'_>) -> DbResult<()> {
    let customers: Vec<&str> = jobs.iter().filter_map(|&i| requests[i].2.customer.as_deref()).collect();
    let mut bought = marketing::store::flash_bought(tx, &sale.id, &customers)?;
    let mut taken: Vec<(u64, &str, i64)> = Vec::new();
    for i in jobs {
        let order = &requests[i].2;
        let candidate = Candidate::of(order);
        if let Err(refusal) = checks::check(batch.policy, batch.facts, &candidate) {
            batch.replies[i] = Some(Reply::Refused(OrdersError::Refused(refusal)));
            continue;
        }
        let (customer, qty) = (order.customer.as_deref(), order.lines[0].qty.as_i64());
        let had = customer.and_then(|c| bought.get(c)).copied().unwrap_or(0);
        if let Some(why) = marketing::flash::refusal(sale, customer, had, qty, order.now_ms) {
            batch.replies[i] = Some(Reply::Refused(OrdersError::Checkout(MarketingError::SoldOut(why))));
            continue;
        }
        let priced = flash_line(order, price, sale);
        let (line, total) = match priced {
            Ok(priced) => priced,
            Err(refusal) => {
                batch.replies[i] = Some(Reply::Refused(refusal));
                continue;
            }
        };
        let id = batch.ids.get(&i).copied().ok_or_else(|| DbError::corrupt("batch order without id"))?;
        checks::remember(batch.facts, &candidate, id);
        sale.sold += qty;
        if let Some(c) = customer {
            *bought.entry(c.to_owned()).or_default() += qty;
            taken.push((id, c, qty));
        }
        batch.created.push((i, record(order, id, &sale.warehouse, line, total), None));
    }
    if !taken.is_empty() {
        marketing::store::set_flash(tx, &sale.id, sale.sold, "live", requests[0].2.now_ms)?;
        marketing::store::add_flash_orders(tx, &sale.id, &taken)?;
    }
    Ok(())
}

fn flash_line(order: &CreateOrder, price: Money, sale: &FlashSale) -> Result<(OrderLineRecord, Money), OrdersError> {
    let line = &order.lines[0];
    let mut lines = vec![OrderLineRecord::listed(line.sku.clone(), line.qty, price)];
    pricing::flash_price(&mut lines[0], sale)?;
    settled(order, lines)
}

/// The order's one line at checkout prices (`cost`: the SKU's, when a promotion touches it)
/// and its total, or the refusal.
fn priced_line(tx: &mut dyn Tx, checkout: &Checkout, order: &CreateOrder, price: Money, cost: Option<Money>) -> Result<(OrderLineRecord, Money), OrdersError> {
    let line = &order.lines[0];
    let mut lines = vec![OrderLineRecord::listed(line.sku.clone(), line.qty, price)];
    if let Some(cost) = cost {
        let to_price = [ToPrice { sku: line.sku.clone(), qty: line.qty, list_price: price.minor(), cost: cost.minor() }];
        let quote = checkout.quote(tx, &to_price, order.customer.as_deref(), &[], 0)?;
        pricing::discount(&mut lines, &quote.priced)?;
    }
    settled(order, lines)
}

/// The order's one priced line and its total, unless the total overflows or is not the one
/// the customer was shown.
fn settled(order: &CreateOrder, mut lines: Vec<OrderLineRecord>) -> Result<(OrderLineRecord, Money), OrdersError> {
    let total = pricing::total(&lines)?;
    pricing::expect_total(order, &lines)?;
    let line = lines.pop().ok_or_else(|| DbError::corrupt("a priced order without its line"))?;
    Ok((line, total))
}

fn record(order: &CreateOrder, id: u64, warehouse: &WarehouseCode, line: OrderLineRecord, total: Money) -> OrderRecord {
    OrderRecord { id, ..order.record(OrderState::AwaitingPayment, Some(warehouse.clone()), vec![line], total) }
}

/// Orders, stock levels with their ledger rows, journal events and keys — a few
/// multi-row statements for the whole batch.
fn write_created(
    tx: &mut dyn Tx,
    requests: &[(String, RequestKey, CreateOrder)],
    created: &mut [(usize, OrderRecord, Option<StockLevel>)],
    replies: &mut [Option<Reply>],
) -> DbResult<()> {
    if created.is_empty() {
        return Ok(());
    }
    let rows: Vec<(&OrderRecord, &GeoPoint)> = created.iter().map(|(i, o, _)| (o, &requests[*i].2.destination)).collect();
    store::insert_many(tx, &rows)?;
    // Per (SKU, warehouse): the last level decided, and a ledger row per order.
    let mut stock: BTreeMap<(Sku, WarehouseCode), (StockLevel, Vec<LedgerRow>)> = BTreeMap::new();
    for (_, order, after) in created.iter() {
        let Some(after) = after else { continue };
        let (line, warehouse) = (&order.lines[0], order.warehouse.clone().ok_or_else(|| DbError::corrupt("batch order without warehouse"))?);
        let entry = stock.entry((line.sku.clone(), warehouse)).or_insert((*after, Vec::new()));
        entry.0 = *after;
        entry.1.push(LedgerRow {
            field: StockField::Locked,
            delta: line.qty.as_i64(),
            balance_after: after.locked,
            cause: "order_created",
            reference: format!("order:{}", order.id),
        });
    }
    let now = created[0].1.created_at_ms;
    let levels: Vec<_> = stock.iter().map(|((sku, warehouse), (level, ledger))| (sku, warehouse, *level, ledger.as_slice())).collect();
    save_batch(tx, &levels, now)?;
    let mut events = Vec::with_capacity(created.len());
    for (_, o, _) in created.iter() {
        let warehouse = o.warehouse.clone().ok_or_else(|| DbError::corrupt("batch order without warehouse"))?;
        events.push(BusinessEvent::OrderCreated { order_id: o.id, channel: o.channel.clone(), warehouse, lines: event_lines(o), total: o.total.minor(), customer: o.customer.clone() });
    }
    journal::store::append_many(tx, &events, now)?;
    let mut stored: Vec<Stored> = Vec::with_capacity(created.len());
    for (_, order, _) in created.iter() {
        stored.push((201, serde_json::to_string(order).map_err(|e| DbError::corrupt(e.to_string()))?));
    }
    let mut by_caller: BTreeMap<&str, Vec<(&RequestKey, &Stored)>> = BTreeMap::new();
    for ((i, _, _), answer) in created.iter().zip(&stored) {
        by_caller.entry(requests[*i].0.as_str()).or_default().push((&requests[*i].1, answer));
    }
    for (caller, answers) in &by_caller {
        remember_many(tx, caller, answers, now)?;
    }
    for ((i, _, _), answer) in created.iter().zip(stored) {
        replies[*i] = Some(Reply::Answer { stored: answer, replayed: false });
    }
    Ok(())
}

/// A key sent twice within one batch: the later copies get the first's answer when their
/// request is the same, else the mismatch.
fn settle_duplicates(requests: &[(String, RequestKey, CreateOrder)], replies: &mut [Option<Reply>]) {
    for i in 0..requests.len() {
        if replies[i].is_some() {
            continue;
        }
        let first = (0..i).find(|&j| requests[j].0 == requests[i].0 && requests[j].1.key == requests[i].1.key);
        replies[i] = Some(match first.map(|j| (&replies[j], requests[j].1.fingerprint == requests[i].1.fingerprint)) {
            Some((Some(Reply::Answer { stored, .. }), true)) => Reply::Answer { stored: stored.clone(), replayed: true },
            Some((_, false)) => Reply::Mismatch,
            _ => Reply::Fallback,
        });
    }
}
