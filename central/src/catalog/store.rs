//! The `spu` and `sku` tables. A new SKU queues the master-data command that teaches every
//! edge its barcode, and journals `sku_created`, in the same transaction.

use super::categories::{self, AttributeDef, Category, NewCategory};
use super::prices::{self, PriceEntry, PriceKind, SkuState};
use super::{display_name, CatalogError, ShippingSpec, SkuRecord, Spu};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use crate::db::{DbError, DbResult, Row, Tx, Value};
use crate::edge_sync::commands;
use crate::journal::{self, BusinessEvent};
use crate::params;
use tote_shared::sync::CommandKind;
use tote_shared::{Gtin, Money, Sku, WarehouseCode};

pub fn create_spu(tx: &mut dyn Tx, spu: &Spu, now_ms: i64) -> Result<Spu, CatalogError> {
    // Once there is a tree, a model sits in it.
    if has_categories(tx)? && category(tx, &spu.category)?.is_none() {
        return Err(CatalogError::Invalid(format!("category {:?} is not in the category tree", spu.category)));
    }
    tx.execute(
        "INSERT INTO spu (id, name, brand, category, lot_tracked) VALUES (?1, ?2, ?3, ?4, ?5)",
        &params![spu.id.as_str(), spu.name.as_str(), spu.brand.as_str(), spu.category.as_str(), i64::from(spu.lot_tracked)],
    )
    .map_err(|e| duplicate(e, || format!("SPU {}", spu.id)))?;
    journal::store::append(tx, &BusinessEvent::SpuCreated { spu_id: spu.id.clone() }, now_ms)?;
    Ok(spu.clone())
}

fn duplicate(e: DbError, what: impl FnOnce() -> String) -> CatalogError {
    if e.is_unique_violation() {
        CatalogError::Duplicate(what())
    } else {
        CatalogError::Db(e)
    }
}

/// Serialises SKU and warehouse creation (see migration 3): call first in either.
pub fn lock_master_data(tx: &mut dyn Tx) -> DbResult<()> {
    tx.query_one("SELECT one FROM master_data_lock WHERE one = 1 FOR UPDATE", &[])?;
    Ok(())
}

/// Creates the SKU and tells every warehouse in `warehouses` about it (read after
/// `lock_master_data`).
pub fn create_sku(tx: &mut dyn Tx, sku: &SkuRecord, warehouses: &[WarehouseCode], now_ms: i64) -> Result<SkuRecord, CatalogError> {
    let sets = attribute_sets(tx, Some(&sku.spu_id))?;
    let Some(set) = sets.get(&sku.spu_id) else {
        return Err(CatalogError::NotFound(format!("SPU {}", sku.spu_id)));
    };
    if let Err((_, why)) = fits(sku, set.as_deref()) {
        return Err(CatalogError::Invalid(why));
    }
    create_skus(tx, std::slice::from_ref(sku), warehouses, now_ms)?;
    get_sku(tx, &sku.sku)
}

/// Creates SKUs the caller has checked (their models exist, their attributes fit, their codes
/// and GTINs are free: an import decides every row first) a few hundred per statement, each
/// with its first price and its `sku_created` event, and teaches every warehouse in
/// `warehouses` about them. The same rows as `create_sku` one by one.
pub fn create_skus(tx: &mut dyn Tx, records: &[SkuRecord], warehouses: &[WarehouseCode], now_ms: i64) -> Result<(), CatalogError> {
    let mut spus: Vec<&str> = records.iter().map(|r| r.spu_id.as_str()).collect();
    spus.sort_unstable();
    spus.dedup();
    let mut models: HashMap<String, String> = HashMap::with_capacity(spus.len());
    for chunk in spus.chunks(500) {
        let sql = format!("SELECT id, name FROM spu WHERE id IN ({})", crate::db::placeholders(chunk.len(), 1));
        let values: Vec<Value> = chunk.iter().map(|s| Value::from(*s)).collect();
        for r in tx.query(&sql, &values)? {
            models.insert(r.text(0)?, r.text(1)?);
        }
    }
    let mut commands = Vec::with_capacity(records.len());
    for chunk in records.chunks(500) {
        let sql = format!(
            "INSERT INTO sku (sku, spu_id, gtin, gender, colour, size, price_minor, cost_minor, created_ms, weight_g, length_mm, width_mm, height_mm, fragile, state, attributes) VALUES {}",
            crate::db::values_clause(chunk.len(), 16, 1)
        );
        let mut values = Vec::with_capacity(chunk.len() * 16);
        for r in chunk {
            let ship = r.shipping;
            values.extend(params![
                r.sku.as_str(),
                r.spu_id.as_str(),
                r.gtin.as_str(),
                r.gender.as_str(),
                r.colour.as_str(),
                r.size.as_str(),
                r.price.minor(),
                r.cost.minor(),
                now_ms,
                ship.map(|s| i64::from(s.weight_g)),
                ship.map(|s| i64::from(s.length_mm)),
                ship.map(|s| i64::from(s.width_mm)),
                ship.map(|s| i64::from(s.height_mm)),
                i64::from(ship.is_some_and(|s| s.fragile)),
                r.state.as_str(),
                attributes_json(&r.attributes)?
            ]);
        }
        let named = |r: &SkuRecord| format!("SKU {} or GTIN {}", r.sku, r.gtin);
        tx.execute(&sql, &values).map_err(|e| duplicate(e, || if chunk.len() == 1 { named(&chunk[0]) } else { "a SKU or GTIN of the batch".into() }))?;
        let sql = format!(
            "INSERT INTO cat_price (sku, kind, price_minor, valid_from_ms, valid_until_ms, reason, set_by, set_ms) VALUES {}",
            crate::db::values_clause(chunk.len(), 8, 1)
        );
        let mut values = Vec::with_capacity(chunk.len() * 8);
        for r in chunk {
            values.extend(params![r.sku.as_str(), PriceKind::Base.as_str(), r.price.minor(), now_ms, Option::<i64>::None, "created", "creation", now_ms]);
        }
        tx.execute(&sql, &values)?;
        let events: Vec<BusinessEvent> =
            chunk.iter().map(|r| BusinessEvent::SkuCreated { sku: r.sku.clone(), spu_id: r.spu_id.clone(), price: r.price.minor(), cost: r.cost.minor() }).collect();
        journal::store::append_many(tx, &events, now_ms)?;
        for r in chunk {
            let model = models.get(&r.spu_id).ok_or_else(|| CatalogError::NotFound(format!("SPU {}", r.spu_id)))?;
            commands.push(CommandKind::UpsertSku { sku: r.sku.clone(), gtin: r.gtin.clone(), name: display_name(model, r), shipping: r.shipping });
        }
    }
    for warehouse in warehouses {
        commands::enqueue_many(tx, warehouse, &commands, now_ms)?;
    }
    Ok(())
}

/// The master-data command that teaches an edge this SKU.
pub fn upsert_command(sku: &SkuRecord) -> CommandKind {
    CommandKind::UpsertSku { sku: sku.sku.clone(), gtin: sku.gtin.clone(), name: sku.name.clone(), shipping: sku.shipping }
}

const SKU_COLUMNS: &str = "SELECT s.sku, s.spu_id, s.gtin, s.gender, s.colour, s.size, s.price_minor, s.cost_minor, p.name,
                                  s.weight_g, s.length_mm, s.width_mm, s.height_mm, s.fragile, s.state, s.attributes
                           FROM sku s JOIN spu p ON p.id = s.spu_id";

pub fn get_sku(tx: &mut dyn Tx, sku: &Sku) -> Result<SkuRecord, CatalogError> {
    let sql = format!("{SKU_COLUMNS} WHERE s.sku = ?1");
    match tx.query_opt(&sql, &params![sku.as_str()])? {
        Some(row) => Ok(row_to_sku(&row)?),
        None => Err(CatalogError::NotFound(format!("SKU {sku}"))),
    }
}

/// Every SKU, for teaching a new edge.
pub fn all_skus(tx: &mut dyn Tx) -> DbResult<Vec<SkuRecord>> {
    let sql = format!("{SKU_COLUMNS} ORDER BY s.sku");
    tx.query(&sql, &[])?.iter().map(row_to_sku).collect()
}

/// Every SKU code and GTIN taken (what an import is checked against).
pub fn taken_codes(tx: &mut dyn Tx) -> DbResult<(std::collections::HashSet<String>, std::collections::HashSet<String>)> {
    let (mut skus, mut gtins) = (std::collections::HashSet::new(), std::collections::HashSet::new());
    for r in tx.query("SELECT sku, gtin FROM sku", &[])? {
        skus.insert(r.text(0)?);
        gtins.insert(r.text(1)?);
    }
    Ok((skus, gtins))
}

/// The SKUs of one model, by SKU.
pub fn skus_of_spu(tx: &mut dyn Tx, spu: &str) -> DbResult<Vec<SkuRecord>> {
    let sql = format!("{SKU_COLUMNS} WHERE s.spu_id = ?1 ORDER BY s.sku");
    tx.query(&sql, &params![spu])?.iter().map(row_to_sku).collect()
}

pub fn gtin_taken(tx: &mut dyn Tx, gtin: &Gtin) -> DbResult<bool> {
    Ok(tx.query_opt("SELECT 1 FROM sku WHERE gtin = ?1", &params![gtin.as_str()])?.is_some())
}

pub fn exists(tx: &mut dyn Tx, sku: &Sku) -> DbResult<bool> {
    Ok(tx.query_opt("SELECT 1 FROM sku WHERE sku = ?1", &params![sku.as_str()])?.is_some())
}

/// Selling prices of `skus`, in the same order; None for an unknown SKU. One statement.
pub fn prices(tx: &mut dyn Tx, skus: &[&Sku]) -> DbResult<Vec<Option<Money>>> {
    Ok(listings(tx, skus)?.into_iter().map(|l| l.map(|(price, _)| price)).collect())
}

/// Standard costs of `skus`, in the same order; None for an unknown SKU. One statement.
pub fn costs(tx: &mut dyn Tx, skus: &[&Sku]) -> DbResult<Vec<Option<Money>>> {
    money_column(tx, skus, "cost_minor")
}

fn money_column(tx: &mut dyn Tx, skus: &[&Sku], column: &'static str) -> DbResult<Vec<Option<Money>>> {
    let mut known = std::collections::HashMap::with_capacity(skus.len());
    for chunk in skus.chunks(500) {
        let sql = format!("SELECT sku, {column} FROM sku WHERE sku IN ({})", crate::db::placeholders(chunk.len(), 1));
        let values: Vec<Value> = chunk.iter().map(|s| Value::from(s.as_str())).collect();
        for row in tx.query(&sql, &values)? {
            known.insert(row.text(0)?, money(row.int(1)?)?);
        }
    }
    Ok(skus.iter().map(|s| known.get(s.as_str()).copied()).collect())
}

fn money(minor: i64) -> DbResult<Money> {
    Money::parse(minor).map_err(|e| DbError::corrupt(e.to_string()))
}

fn row_to_sku(r: &Row) -> DbResult<SkuRecord> {
    let corrupt = |e: tote_shared::DomainError| DbError::corrupt(e.to_string());
    let mut record = SkuRecord {
        sku: Sku::parse(&r.text(0)?).map_err(corrupt)?,
        spu_id: r.text(1)?,
        gtin: Gtin::parse(&r.text(2)?).map_err(corrupt)?,
        gender: r.text(3)?,
        colour: r.text(4)?,
        size: r.text(5)?,
        price: money(r.int(6)?)?,
        cost: money(r.int(7)?)?,
        name: String::new(),
        shipping: shipping_spec(r, 9)?,
        state: SkuState::parse(&r.text(14)?).ok_or_else(|| DbError::corrupt("sku state"))?,
        attributes: serde_json::from_str(&r.text(15)?).map_err(|e| DbError::corrupt(format!("sku attributes: {e}")))?,
    };
    record.name = display_name(&r.text(8)?, &record);
    Ok(record)
}

/// Weight, three sides and the fragile flag from column `at` on; None when not measured.
fn shipping_spec(r: &Row, at: usize) -> DbResult<Option<ShippingSpec>> {
    let dimension = |i: usize| -> DbResult<Option<u32>> { r.opt_int(at + i)?.map(|v| u32::try_from(v).map_err(|e| DbError::corrupt(e.to_string()))).transpose() };
    let (Some(weight_g), Some(length_mm), Some(width_mm), Some(height_mm)) = (dimension(0)?, dimension(1)?, dimension(2)?, dimension(3)?) else {
        return Ok(None);
    };
    Ok(Some(ShippingSpec { weight_g, length_mm, width_mm, height_mm, fragile: r.int(at + 4)? != 0 }))
}

/// The shipping specs of `skus` (each at most once), by SKU; unmeasured or unknown SKUs are absent.
pub fn shipping_specs(tx: &mut dyn Tx, skus: &[&Sku]) -> DbResult<std::collections::HashMap<Sku, ShippingSpec>> {
    let mut specs = std::collections::HashMap::with_capacity(skus.len());
    for chunk in skus.chunks(500) {
        let sql = format!(
            "SELECT sku, weight_g, length_mm, width_mm, height_mm, fragile FROM sku WHERE sku IN ({})",
            crate::db::placeholders(chunk.len(), 1)
        );
        let values: Vec<Value> = chunk.iter().map(|s| Value::from(s.as_str())).collect();
        for row in tx.query(&sql, &values)? {
            if let Some(spec) = shipping_spec(&row, 1)? {
                specs.insert(Sku::parse(&row.text(0)?).map_err(|e| DbError::corrupt(e.to_string()))?, spec);
            }
        }
    }
    Ok(specs)
}

fn attributes_json(attributes: &BTreeMap<String, String>) -> DbResult<String> {
    serde_json::to_string(attributes).map_err(|e| DbError::corrupt(e.to_string()))
}

/// Why a new SKU does not fit its model's attribute set (None: the model's category is not in
/// the tree, so it carries no attributes), or its state is not one a SKU starts in.
pub fn fits(sku: &SkuRecord, set: Option<&[AttributeDef]>) -> Result<(), (&'static str, String)> {
    if !matches!(sku.state, SkuState::Draft | SkuState::Listed) {
        return Err(("state", format!("a new SKU is draft or listed, not {}", sku.state.as_str())));
    }
    match set {
        Some(set) => categories::check_attributes(set, &sku.attributes).map_err(|why| ("attributes", why)),
        None if sku.attributes.is_empty() => Ok(()),
        None => Err(("attributes", format!("SPU {}'s category has no attribute set", sku.spu_id))),
    }
}

/// Per SPU (one, or all): the attribute set its category gives, None when its category is
/// not in the tree.
pub fn attribute_sets(tx: &mut dyn Tx, spu: Option<&str>) -> DbResult<HashMap<String, Option<Vec<AttributeDef>>>> {
    let rows = tx.query(
        "SELECT p.id, c.attribute_set FROM spu p LEFT JOIN cat_category c ON c.id = p.category WHERE CAST(?1 AS TEXT) IS NULL OR p.id = ?1",
        &params![spu],
    )?;
    rows.iter()
        .map(|r| {
            let set = r.opt_text(1)?.map(|json| serde_json::from_str(&json).map_err(|e| DbError::corrupt(format!("attribute set: {e}")))).transpose()?;
            Ok((r.text(0)?, set))
        })
        .collect()
}

// The category tree.

pub fn has_categories(tx: &mut dyn Tx) -> DbResult<bool> {
    Ok(tx.query_opt("SELECT 1 FROM cat_category LIMIT 1", &[])?.is_some())
}

const CATEGORY_COLUMNS: &str = "SELECT id, parent, name, attributes, path, attribute_set FROM cat_category";

fn category_of(r: &Row) -> DbResult<Category> {
    let json = |i: usize| -> DbResult<Vec<AttributeDef>> { serde_json::from_str(&r.text(i)?).map_err(|e| DbError::corrupt(format!("category: {e}"))) };
    Ok(Category { id: r.text(0)?, parent: r.opt_text(1)?, name: r.text(2)?, attributes: json(3)?, path: r.text(4)?, attribute_set: json(5)? })
}

pub fn category(tx: &mut dyn Tx, id: &str) -> DbResult<Option<Category>> {
    let sql = format!("{CATEGORY_COLUMNS} WHERE id = ?1");
    tx.query_opt(&sql, &params![id])?.as_ref().map(category_of).transpose()
}

/// The whole tree, by path.
pub fn categories(tx: &mut dyn Tx) -> DbResult<Vec<Category>> {
    let sql = format!("{CATEGORY_COLUMNS} ORDER BY path, id");
    tx.query(&sql, &[])?.iter().map(category_of).collect()
}

/// The most categories the tree holds.
pub const MAX_CATEGORIES: usize = 10_000;

pub fn create_category(tx: &mut dyn Tx, c: &NewCategory, now_ms: i64) -> Result<Category, CatalogError> {
    let parent = match &c.parent {
        Some(id) => Some(category(tx, id)?.ok_or_else(|| CatalogError::NotFound(format!("category {id}")))?),
        None => None,
    };
    categories::check_new(c, parent.as_ref()).map_err(CatalogError::Invalid)?;
    // Decided before writing: a failed statement would end a PostgreSQL transaction.
    if category(tx, &c.id)?.is_some() {
        return Err(CatalogError::Duplicate(format!("category {}", c.id)));
    }
    let count = tx.query_one("SELECT COUNT(*) FROM cat_category", &[])?.int(0)?;
    if count >= MAX_CATEGORIES as i64 {
        return Err(CatalogError::Invalid(format!("the tree holds at most {MAX_CATEGORIES} categories")));
    }
    let built = categories::build(c, parent.as_ref());
    let json = |v: &[AttributeDef]| serde_json::to_string(v).map_err(|e| DbError::corrupt(e.to_string()));
    tx.execute(
        "INSERT INTO cat_category (id, parent, name, attributes, path, attribute_set, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        &params![built.id.as_str(), built.parent.as_deref(), built.name.as_str(), json(&built.attributes)?, built.path.as_str(), json(&built.attribute_set)?, now_ms],
    )
    .map_err(|e| duplicate(e, || format!("category {}", c.id)))?;
    crate::audit::store::append(tx, now_ms, "admin", "category_created", &format!("category:{}", built.id), &serde_json::json!({ "path": built.path }))?;
    Ok(built)
}

// Lifecycle and selling prices.

/// A selling price as HQ sets it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSellingPrice {
    pub kind: PriceKind,
    pub price: Money,
    /// From when (ms); a later start schedules the change.
    #[schema(minimum = 0, maximum = 9223372036854775807_i64)]
    pub valid_from_ms: i64,
    /// Until when (ms, exclusive); absent: until replaced.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 9223372036854775807_i64)]
    pub valid_until_ms: Option<i64>,
    #[schema(value_type = tote_shared::openapi::Text300)]
    pub reason: String,
}

fn insert_price(tx: &mut dyn Tx, sku: &Sku, p: &NewSellingPrice, set_by: &str, now_ms: i64) -> DbResult<()> {
    tx.execute(
        "INSERT INTO cat_price (sku, kind, price_minor, valid_from_ms, valid_until_ms, reason, set_by, set_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        &params![sku.as_str(), p.kind.as_str(), p.price.minor(), p.valid_from_ms, p.valid_until_ms, p.reason.as_str(), set_by, now_ms],
    )?;
    Ok(())
}

/// Every price the SKU was ever given, newest first.
pub fn price_history(tx: &mut dyn Tx, sku: &Sku) -> DbResult<Vec<PriceEntry>> {
    let rows = tx.query(
        "SELECT id, kind, price_minor, valid_from_ms, valid_until_ms, reason, set_by, set_ms FROM cat_price WHERE sku = ?1 ORDER BY id DESC",
        &params![sku.as_str()],
    )?;
    rows.iter()
        .map(|r| {
            Ok(PriceEntry {
                id: r.uint(0)?,
                kind: PriceKind::parse(&r.text(1)?).ok_or_else(|| DbError::corrupt("price kind"))?,
                price: money(r.int(2)?)?,
                valid_from_ms: r.int(3)?,
                valid_until_ms: r.opt_int(4)?,
                reason: r.text(5)?,
                set_by: r.text(6)?,
                set_ms: r.int(7)?,
            })
        })
        .collect()
}

/// The SKU's state and selling price, its row locked (every change of either goes through it).
/// `NO KEY UPDATE`: orders inserting lines that refer to the SKU are not held up by it.
fn lock_sku(tx: &mut dyn Tx, sku: &Sku) -> Result<(SkuState, Money), CatalogError> {
    let row = tx
        .query_opt("SELECT state, price_minor FROM sku WHERE sku = ?1 FOR NO KEY UPDATE", &params![sku.as_str()])?
        .ok_or_else(|| CatalogError::NotFound(format!("SKU {sku}")))?;
    Ok((SkuState::parse(&row.text(0)?).ok_or_else(|| DbError::corrupt("sku state"))?, money(row.int(1)?)?))
}

/// Sets the price checkout charges to what the history says is in force at `now_ms` (journals
/// a change); true when it changed.
fn reprice(tx: &mut dyn Tx, sku: &Sku, state: SkuState, current: Money, reason: &str, now_ms: i64) -> Result<bool, CatalogError> {
    let history = price_history(tx, sku)?;
    let Some((price, kind)) = prices::selling_price(&history, state, now_ms) else { return Ok(false) };
    if price == current {
        return Ok(false);
    }
    tx.execute("UPDATE sku SET price_minor = ?2 WHERE sku = ?1", &params![sku.as_str(), price.minor()])?;
    let event = BusinessEvent::SkuPriceChanged { sku: sku.clone(), from: current.minor(), to: price.minor(), kind: kind.as_str().into(), reason: reason.to_owned() };
    journal::store::append(tx, &event, now_ms)?;
    Ok(true)
}

/// Adds a price to the SKU's history and, if it is in force now, makes it the selling price.
pub fn add_price(tx: &mut dyn Tx, sku: &Sku, p: &NewSellingPrice, now_ms: i64) -> Result<Vec<PriceEntry>, CatalogError> {
    if p.valid_from_ms < 0 || p.valid_until_ms.is_some_and(|u| u <= p.valid_from_ms) {
        return Err(CatalogError::Invalid("valid_until_ms must come after valid_from_ms".into()));
    }
    let (state, current) = lock_sku(tx, sku)?;
    // A SKU priced before history began: its price so far becomes its first base price, so a
    // price for a window falls back to it when the window ends.
    if !price_history(tx, sku)?.iter().any(|e| e.kind == PriceKind::Base) {
        let before = NewSellingPrice { kind: PriceKind::Base, price: current, valid_from_ms: 0, valid_until_ms: None, reason: "price before history".into() };
        insert_price(tx, sku, &before, "history", now_ms)?;
    }
    insert_price(tx, sku, p, "admin", now_ms)?;
    crate::audit::store::append(tx, now_ms, "admin", "price_set", &format!("sku:{sku}"), &serde_json::json!(p))?;
    reprice(tx, sku, state, current, &p.reason, now_ms)?;
    Ok(price_history(tx, sku)?)
}

/// Moves the SKU along its lifecycle (into or out of clearance: at the price then in force).
pub fn set_state(tx: &mut dyn Tx, sku: &Sku, to: SkuState, reason: &str, now_ms: i64) -> Result<SkuRecord, CatalogError> {
    let (from, current) = lock_sku(tx, sku)?;
    if !from.may_become(to) {
        return Err(CatalogError::Invalid(format!("SKU {sku} is {}: it cannot become {}", from.as_str(), to.as_str())));
    }
    tx.execute("UPDATE sku SET state = ?2 WHERE sku = ?1", &params![sku.as_str(), to.as_str()])?;
    journal::store::append(tx, &BusinessEvent::SkuStateChanged { sku: sku.clone(), from: from.as_str().into(), to: to.as_str().into(), reason: reason.to_owned() }, now_ms)?;
    reprice(tx, sku, to, current, reason, now_ms)?;
    get_sku(tx, sku)
}

const PRICE_PASS_DOC: &str = "catalog_price_pass";
const PRICE_PASS_LOOKBACK_MS: i64 = 5 * 60_000;

/// Brings every SKU whose prices started or ended since the last pass to the price in force
/// at `now_ms`, and marks the pass; how many changed.
pub fn apply_due_prices(tx: &mut dyn Tx, now_ms: i64) -> Result<u32, CatalogError> {
    let after: i64 = crate::db::doc::load(tx, PRICE_PASS_DOC)?.unwrap_or(-1);
    if now_ms <= after {
        return Ok(0);
    }
    // Looking back a while: a price set just before a pass, committed just after it, is caught
    // by the next (repricing what is already right changes nothing).
    let changed = reprice_due(tx, after.saturating_sub(PRICE_PASS_LOOKBACK_MS), now_ms)?;
    crate::db::doc::save(tx, PRICE_PASS_DOC, &now_ms, now_ms)?;
    Ok(changed)
}

/// Brings every SKU whose prices started or ended in `(after_ms, now_ms]` to the price now in
/// force; how many changed.
pub fn reprice_due(tx: &mut dyn Tx, after_ms: i64, now_ms: i64) -> Result<u32, CatalogError> {
    let rows = tx.query(
        "SELECT DISTINCT sku FROM cat_price WHERE (valid_from_ms > ?1 AND valid_from_ms <= ?2) OR (valid_until_ms > ?1 AND valid_until_ms <= ?2) ORDER BY sku",
        &params![after_ms, now_ms],
    )?;
    let mut changed = 0;
    for r in &rows {
        let sku = Sku::parse(&r.text(0)?).map_err(|e| DbError::corrupt(e.to_string()))?;
        let (state, current) = lock_sku(tx, &sku)?;
        if reprice(tx, &sku, state, current, "scheduled", now_ms)? {
            changed += 1;
        }
    }
    Ok(changed)
}

/// The SKUs' selling prices and states, in the same order; None for an unknown SKU.
pub fn listings(tx: &mut dyn Tx, skus: &[&Sku]) -> DbResult<Vec<Option<(Money, SkuState)>>> {
    let mut known = HashMap::with_capacity(skus.len());
    for chunk in skus.chunks(500) {
        let sql = format!("SELECT sku, price_minor, state FROM sku WHERE sku IN ({})", crate::db::placeholders(chunk.len(), 1));
        let values: Vec<Value> = chunk.iter().map(|s| Value::from(s.as_str())).collect();
        for row in tx.query(&sql, &values)? {
            let state = SkuState::parse(&row.text(2)?).ok_or_else(|| DbError::corrupt("sku state"))?;
            known.insert(row.text(0)?, (money(row.int(1)?)?, state));
        }
    }
    Ok(skus.iter().map(|s| known.get(s.as_str()).copied()).collect())
}

/// What the shop front shows of a SKU on sale: the record, its brand, its category's path (or
/// the model's category text) and its price history (not found: unknown, draft or retired).
pub fn shop_facts(tx: &mut dyn Tx, sku: &Sku) -> Result<(SkuRecord, String, String, Vec<PriceEntry>), CatalogError> {
    let record = get_sku(tx, sku)?;
    if !record.state.on_sale() {
        return Err(CatalogError::NotFound(format!("SKU {sku} on sale")));
    }
    let row = tx.query_one(
        "SELECT p.brand, COALESCE(c.path, p.category) FROM spu p LEFT JOIN cat_category c ON c.id = p.category WHERE p.id = ?1",
        &params![record.spu_id.as_str()],
    )?;
    let (brand, category) = (row.text(0)?, row.text(1)?);
    let history = price_history(tx, sku)?;
    Ok((record, brand, category, history))
}
