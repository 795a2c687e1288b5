//! Catalog (SPU, SKU) and warehouse master data. New SKUs and new warehouses queue the
//! master-data commands that teach each edge the SKU's barcode.

use super::super::{NewWarehouse, SkuRecord, Spu, StoreError, StoreResult, WarehouseRecord};
use super::stock::parse_warehouse;
use super::sync::enqueue_command;
use rusqlite::{params, Connection, OptionalExtension};
use tote_shared::geo::GeoPoint;
use tote_shared::sync::CommandKind;
use tote_shared::{Gtin, Money, Sku, WarehouseCode};

fn is_unique_violation(error: &rusqlite::Error) -> bool {
    matches!(error, rusqlite::Error::SqliteFailure(e, _)
        if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
        || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)
}

pub fn create_spu(conn: &Connection, spu: &Spu) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO spu (id, name, brand, category) VALUES (?1, ?2, ?3, ?4)",
        params![spu.id, spu.name, spu.brand, spu.category],
    )
    .map_err(|e| if is_unique_violation(&e) { StoreError::Duplicate(format!("SPU {}", spu.id)) } else { e.into() })?;
    Ok(())
}

pub fn create_sku(conn: &Connection, sku: &SkuRecord, now_ms: i64) -> StoreResult<SkuRecord> {
    let spu_name: Option<String> =
        conn.query_row("SELECT name FROM spu WHERE id = ?1", [&sku.spu_id], |r| r.get(0)).optional()?;
    if spu_name.is_none() {
        return Err(StoreError::NotFound(format!("SPU {}", sku.spu_id)));
    }
    conn.execute(
        "INSERT INTO sku (sku, spu_id, gtin, gender, colour, size, price_minor, cost_minor, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            sku.sku.as_str(),
            sku.spu_id,
            sku.gtin.as_str(),
            sku.gender,
            sku.colour,
            sku.size,
            sku.price.minor(),
            sku.cost.minor(),
            now_ms
        ],
    )
    .map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::Duplicate(format!("SKU {} or GTIN {}", sku.sku, sku.gtin))
        } else {
            e.into()
        }
    })?;
    let record = get_sku(conn, sku.sku.as_str())?;
    for warehouse in warehouse_codes(conn)? {
        enqueue_command(conn, &warehouse, &upsert_command(&record), now_ms)?;
    }
    Ok(record)
}

fn upsert_command(sku: &SkuRecord) -> CommandKind {
    CommandKind::UpsertSku { sku: sku.sku.clone(), gtin: sku.gtin.clone(), name: sku.name.clone() }
}

pub fn get_sku(conn: &Connection, sku: &str) -> StoreResult<SkuRecord> {
    conn.prepare_cached(
        "SELECT s.sku, s.spu_id, s.gtin, s.gender, s.colour, s.size, s.price_minor, s.cost_minor, p.name
         FROM sku s JOIN spu p ON p.id = s.spu_id WHERE s.sku = ?1",
    )?
    .query_row([sku], row_to_sku)
    .optional()?
    .ok_or_else(|| StoreError::NotFound(format!("SKU {sku}")))?
}

fn row_to_sku(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoreResult<SkuRecord>> {
    let (sku, spu_id, gtin, gender, colour, size): (String, String, String, String, String, String) =
        (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?);
    let (price, cost, model): (i64, i64, String) = (r.get(6)?, r.get(7)?, r.get(8)?);
    let corrupt = |e: tote_shared::DomainError| StoreError::Corrupt(e.to_string());
    Ok((|| {
        Ok(SkuRecord {
            sku: Sku::parse(&sku).map_err(corrupt)?,
            gtin: Gtin::parse(&gtin).map_err(corrupt)?,
            price: Money::parse(price).map_err(corrupt)?,
            cost: Money::parse(cost).map_err(corrupt)?,
            name: format!("{model}, {gender}, {colour}, {size}"),
            spu_id,
            gender,
            colour,
            size,
        })
    })())
}

fn all_skus(conn: &Connection) -> StoreResult<Vec<SkuRecord>> {
    let mut stmt = conn.prepare(
        "SELECT s.sku, s.spu_id, s.gtin, s.gender, s.colour, s.size, s.price_minor, s.cost_minor, p.name
         FROM sku s JOIN spu p ON p.id = s.spu_id ORDER BY s.sku",
    )?;
    let rows = stmt.query_map([], row_to_sku)?;
    let mut out = Vec::new();
    for row in rows {
        out.push(row??);
    }
    Ok(out)
}

pub fn create_warehouse(conn: &Connection, w: &NewWarehouse, now_ms: i64) -> StoreResult<WarehouseRecord> {
    conn.execute(
        "INSERT INTO warehouse (code, name, lat, lon, token_hash, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![w.code.as_str(), w.name, w.point.lat, w.point.lon, w.token_hash, now_ms],
    )
    .map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::Duplicate(format!("warehouse {} (or its edge token)", w.code))
        } else {
            e.into()
        }
    })?;
    conn.execute("INSERT INTO edge_stream (warehouse) VALUES (?1)", [w.code.as_str()])?;
    // Teach the new edge every SKU we sell.
    for sku in all_skus(conn)? {
        enqueue_command(conn, &w.code, &upsert_command(&sku), now_ms)?;
    }
    Ok(WarehouseRecord { code: w.code.clone(), name: w.name.clone(), location: w.point })
}

pub fn list_warehouses(conn: &Connection) -> StoreResult<Vec<WarehouseRecord>> {
    let mut stmt = conn.prepare_cached("SELECT code, name, lat, lon FROM warehouse ORDER BY code")?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, f64>(2)?, r.get::<_, f64>(3)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (code, name, lat, lon) = row?;
        out.push(WarehouseRecord { code: parse_warehouse(&code)?, name, location: GeoPoint { lat, lon } });
    }
    Ok(out)
}

fn warehouse_codes(conn: &Connection) -> StoreResult<Vec<WarehouseCode>> {
    Ok(list_warehouses(conn)?.into_iter().map(|w| w.code).collect())
}

pub fn warehouse_by_token(conn: &Connection, token_hash: &str) -> StoreResult<Option<WarehouseCode>> {
    let code: Option<String> = conn
        .prepare_cached("SELECT code FROM warehouse WHERE token_hash = ?1")?
        .query_row([token_hash], |r| r.get(0))
        .optional()?;
    code.map(|c| parse_warehouse(&c)).transpose()
}
