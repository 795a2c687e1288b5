//! The `sales_daily` table.

use super::Measure;
use crate::db::{DbResult, Tx};
use crate::params;
use serde::Serialize;
use tote_shared::Sku;

pub fn add(tx: &mut dyn Tx, day: &str, sku: &Sku, measure: Measure, qty: i64, value_minor: i64) -> DbResult<()> {
    // Column names come from this match, never from input.
    let (column, revenue) = match measure {
        Measure::Ordered => ("ordered", 0),
        Measure::Paid => ("paid", value_minor),
        Measure::Shipped => ("shipped", 0),
        Measure::Cancelled => ("cancelled", 0),
    };
    let sql = format!(
        "INSERT INTO sales_daily (day, sku, {column}, revenue_minor) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (day, sku) DO UPDATE SET {column} = sales_daily.{column} + ?3, revenue_minor = sales_daily.revenue_minor + ?4"
    );
    tx.execute(&sql, &params![day, sku.as_str(), qty, revenue])?;
    Ok(())
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SalesDay {
    pub day: String,
    pub sku: String,
    pub ordered: i64,
    pub paid: i64,
    pub shipped: i64,
    pub cancelled: i64,
    /// Paid revenue, minor units.
    pub revenue: i64,
}

pub fn for_sku(tx: &mut dyn Tx, sku: &Sku, limit: u32) -> DbResult<Vec<SalesDay>> {
    let rows = tx.query(
        "SELECT day, sku, ordered, paid, shipped, cancelled, revenue_minor FROM sales_daily WHERE sku = ?1 ORDER BY day DESC LIMIT ?2",
        &params![sku.as_str(), limit],
    )?;
    rows.iter()
        .map(|r| {
            Ok(SalesDay {
                day: r.text(0)?,
                sku: r.text(1)?,
                ordered: r.int(2)?,
                paid: r.int(3)?,
                shipped: r.int(4)?,
                cancelled: r.int(5)?,
                revenue: r.int(6)?,
            })
        })
        .collect()
}

/// Units shipped per SKU on the days after `after_day` (`YYYY-MM-DD`), by SKU.
pub fn shipped_after(tx: &mut dyn Tx, after_day: &str) -> DbResult<Vec<(String, i64)>> {
    tx.query("SELECT sku, CAST(SUM(shipped) AS BIGINT) FROM sales_daily WHERE day > ?1 GROUP BY sku ORDER BY sku", &params![after_day])?
        .iter()
        .map(|r| Ok((r.text(0)?, r.int(1)?)))
        .collect()
}

/// Per month (`YYYY-MM`) and SKU of `skus`: units shipped and return requests (scorecards).
pub fn shipped_and_requested_by_month(tx: &mut dyn Tx, skus: &[&Sku]) -> DbResult<Vec<(String, Sku, i64, i64)>> {
    let mut out = Vec::new();
    for chunk in skus.chunks(500) {
        let sql = format!(
            "SELECT SUBSTR(day, 1, 7), sku, CAST(SUM(shipped) AS BIGINT), CAST(SUM(requested) AS BIGINT) FROM an_returns_daily
             WHERE sku IN ({}) GROUP BY SUBSTR(day, 1, 7), sku",
            crate::db::placeholders(chunk.len(), 1)
        );
        let values: Vec<crate::db::Value> = chunk.iter().map(|s| crate::db::Value::from(s.as_str())).collect();
        for r in tx.query(&sql, &values)? {
            let sku = Sku::parse(&r.text(1)?).map_err(|e| crate::db::DbError::corrupt(e.to_string()))?;
            out.push((r.text(0)?, sku, r.int(2)?, r.int(3)?));
        }
    }
    Ok(out)
}

/// Adds a batch's `returns` counts, one upsert per key.
/// Units shipped from `warehouse` per UTC day, from `from_day` (`YYYY-MM-DD`) on, of the
/// given SKUs (at most a few hundred a call: the caller pages, so two years of a large catalog
/// never sit in memory as rows at once).
pub fn shipped_daily(tx: &mut dyn Tx, warehouse: &tote_shared::WarehouseCode, from_day: &str, skus: &[&Sku]) -> DbResult<Vec<(String, String, i64)>> {
    if skus.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT sku, day, CAST(SUM(shipped) AS BIGINT) FROM an_returns_daily
         WHERE warehouse = ?1 AND day >= ?2 AND shipped > 0 AND sku IN ({}) GROUP BY sku, day",
        crate::db::placeholders(skus.len(), 3)
    );
    let mut values = vec![crate::db::Value::from(warehouse.as_str()), crate::db::Value::from(from_day)];
    values.extend(skus.iter().map(|s| crate::db::Value::from(s.as_str())));
    tx.query(&sql, &values)?.iter().map(|r| Ok((r.text(0)?, r.text(1)?, r.int(2)?))).collect()
}

pub fn add_returns(tx: &mut dyn Tx, counts: &std::collections::BTreeMap<super::returns::Key, super::returns::Counts>) -> DbResult<()> {
    for ((day, sku, warehouse, reason), c) in counts {
        tx.execute(
            "INSERT INTO an_returns_daily (day, sku, warehouse, reason, shipped, requested, passed, failed) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (day, sku, warehouse, reason) DO UPDATE SET shipped = an_returns_daily.shipped + ?5,
             requested = an_returns_daily.requested + ?6, passed = an_returns_daily.passed + ?7, failed = an_returns_daily.failed + ?8",
            &params![day.as_str(), sku.as_str(), warehouse.as_str(), reason.as_str(), c.shipped, c.requested, c.passed, c.failed],
        )?;
    }
    Ok(())
}

/// The `returns` sums over days `from..=to` (YYYY-MM-DD) per group and reason. By SPU reads the
/// catalog's `sku` table (the one read across, documented): a SKU's product is master data.
pub fn returns_by(tx: &mut dyn Tx, by: super::returns::By, from: &str, to: &str) -> DbResult<Vec<(String, String, super::returns::Counts)>> {
    use super::returns::By;
    // Group expressions come from this match, never from input.
    let (key, join) = match by {
        By::Sku => ("r.sku", ""),
        By::Spu => ("s.spu_id", " JOIN sku s ON s.sku = r.sku"),
        By::Warehouse => ("r.warehouse", ""),
        By::Reason => ("r.reason", ""),
    };
    let sql = format!(
        "SELECT {key}, r.reason, CAST(SUM(r.shipped) AS BIGINT), CAST(SUM(r.requested) AS BIGINT), CAST(SUM(r.passed) AS BIGINT),
                CAST(SUM(r.failed) AS BIGINT)
         FROM an_returns_daily r{join} WHERE r.day >= ?1 AND r.day <= ?2 GROUP BY {key}, r.reason"
    );
    let rows = tx.query(&sql, &params![from, to])?;
    rows.iter()
        .map(|r| {
            let counts = super::returns::Counts { shipped: r.int(2)?, requested: r.int(3)?, passed: r.int(4)?, failed: r.int(5)? };
            Ok((r.text(0)?, r.text(1)?, counts))
        })
        .collect()
}
