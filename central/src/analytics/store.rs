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
