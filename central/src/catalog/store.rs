//! The `spu` and `sku` tables. A new SKU queues the master-data command that teaches every
//! edge its barcode, and journals `sku_created`, in the same transaction.

use super::{display_name, CatalogError, ShippingSpec, SkuRecord, Spu};
use crate::db::{DbError, DbResult, Row, Tx, Value};
use crate::edge_sync::commands;
use crate::journal::{self, BusinessEvent};
use crate::params;
use tote_shared::sync::CommandKind;
use tote_shared::{Gtin, Money, Sku, WarehouseCode};

pub fn create_spu(tx: &mut dyn Tx, spu: &Spu, now_ms: i64) -> Result<Spu, CatalogError> {
    tx.execute(
        "INSERT INTO spu (id, name, brand, category) VALUES (?1, ?2, ?3, ?4)",
        &params![spu.id.as_str(), spu.name.as_str(), spu.brand.as_str(), spu.category.as_str()],
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
    if tx.query_opt("SELECT 1 FROM spu WHERE id = ?1", &params![sku.spu_id.as_str()])?.is_none() {
        return Err(CatalogError::NotFound(format!("SPU {}", sku.spu_id)));
    }
    tx.execute(
        "INSERT INTO sku (sku, spu_id, gtin, gender, colour, size, price_minor, cost_minor, created_ms, weight_g, length_mm, width_mm, height_mm, fragile)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        &params![
            sku.sku.as_str(),
            sku.spu_id.as_str(),
            sku.gtin.as_str(),
            sku.gender.as_str(),
            sku.colour.as_str(),
            sku.size.as_str(),
            sku.price.minor(),
            sku.cost.minor(),
            now_ms,
            sku.shipping.map(|s| i64::from(s.weight_g)),
            sku.shipping.map(|s| i64::from(s.length_mm)),
            sku.shipping.map(|s| i64::from(s.width_mm)),
            sku.shipping.map(|s| i64::from(s.height_mm)),
            i64::from(sku.shipping.is_some_and(|s| s.fragile))
        ],
    )
    .map_err(|e| duplicate(e, || format!("SKU {} or GTIN {}", sku.sku, sku.gtin)))?;
    let record = get_sku(tx, &sku.sku)?;
    for warehouse in warehouses {
        commands::enqueue(tx, warehouse, &upsert_command(&record), now_ms)?;
    }
    let event = BusinessEvent::SkuCreated { sku: record.sku.clone(), spu_id: record.spu_id.clone(), price: record.price.minor(), cost: record.cost.minor() };
    journal::store::append(tx, &event, now_ms)?;
    Ok(record)
}

/// The master-data command that teaches an edge this SKU.
pub fn upsert_command(sku: &SkuRecord) -> CommandKind {
    CommandKind::UpsertSku { sku: sku.sku.clone(), gtin: sku.gtin.clone(), name: sku.name.clone() }
}

const SKU_COLUMNS: &str = "SELECT s.sku, s.spu_id, s.gtin, s.gender, s.colour, s.size, s.price_minor, s.cost_minor, p.name,
                                  s.weight_g, s.length_mm, s.width_mm, s.height_mm, s.fragile
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

/// Every SPU id, and every SKU code and GTIN taken (what an import is checked against).
pub fn taken_codes(tx: &mut dyn Tx) -> DbResult<(std::collections::HashSet<String>, std::collections::HashSet<String>, std::collections::HashSet<String>)> {
    let spus = tx.query("SELECT id FROM spu", &[])?.iter().map(|r| r.text(0)).collect::<DbResult<_>>()?;
    let (mut skus, mut gtins) = (std::collections::HashSet::new(), std::collections::HashSet::new());
    for r in tx.query("SELECT sku, gtin FROM sku", &[])? {
        skus.insert(r.text(0)?);
        gtins.insert(r.text(1)?);
    }
    Ok((spus, skus, gtins))
}

/// The SKUs of one model, by SKU.
pub fn skus_of_spu(tx: &mut dyn Tx, spu: &str) -> DbResult<Vec<SkuRecord>> {
    let sql = format!("{SKU_COLUMNS} WHERE s.spu_id = ?1 ORDER BY s.sku");
    tx.query(&sql, &params![spu])?.iter().map(row_to_sku).collect()
}

pub fn exists(tx: &mut dyn Tx, sku: &Sku) -> DbResult<bool> {
    Ok(tx.query_opt("SELECT 1 FROM sku WHERE sku = ?1", &params![sku.as_str()])?.is_some())
}

/// Selling prices of `skus`, in the same order; None for an unknown SKU. One statement.
pub fn prices(tx: &mut dyn Tx, skus: &[&Sku]) -> DbResult<Vec<Option<Money>>> {
    money_column(tx, skus, "price_minor")
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
