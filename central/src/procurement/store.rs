//! The `po_order`, `po_line`, `po_asn`, `po_asn_line`, `po_receipt` and `po_invoice` tables.

use super::{order_total, Arrived, Asn, AsnLine, AsnState, InvoiceDifference, SupplierInvoiceLine, InvoiceState, PoLine, PoState, PurchaseOrder, SupplierInvoice};
use crate::db::{DbError, DbResult, Row, Tx};
use crate::params;
use tote_shared::{Money, Sku, WarehouseCode};

fn corrupt(what: &str, e: impl std::fmt::Display) -> DbError {
    DbError::corrupt(format!("{what}: {e}"))
}

fn json<T: serde::Serialize>(value: &T) -> DbResult<String> {
    serde_json::to_string(value).map_err(|e| corrupt("json", e))
}

fn count(r: &Row, i: usize) -> DbResult<u32> {
    u32::try_from(r.int(i)?).map_err(|e| corrupt("count", e))
}

fn money(r: &Row, i: usize) -> DbResult<Money> {
    Money::parse(r.int(i)?).map_err(|e| corrupt("money", e))
}

fn sku(r: &Row, i: usize) -> DbResult<Sku> {
    Sku::parse(&r.text(i)?).map_err(|e| corrupt("sku", e))
}

/// Inserts a draft order with its lines; returns its id.
pub fn insert(tx: &mut dyn Tx, supplier: &str, warehouse: &WarehouseCode, note: &str, lines: &[PoLine], now_ms: i64) -> DbResult<u64> {
    let id = tx
        .query_one(
            "INSERT INTO po_order (supplier, warehouse, state, note, created_ms, updated_ms) VALUES (?1, ?2, 'draft', ?3, ?4, ?4) RETURNING id",
            &params![supplier, warehouse.as_str(), note, now_ms],
        )?
        .uint(0)?;
    for l in lines {
        tx.execute("INSERT INTO po_line (po, sku, qty, unit_cost) VALUES (?1, ?2, ?3, ?4)", &params![id, l.sku.as_str(), l.qty, l.unit_cost.minor()])?;
    }
    Ok(id)
}

const COLUMNS: &str = "SELECT id, supplier, warehouse, state, note, reason, promised_ms, created_ms, sent_ms, confirmed_ms, closed_ms FROM po_order";

fn head(r: &Row) -> DbResult<PurchaseOrder> {
    let state = r.text(3)?;
    Ok(PurchaseOrder {
        id: r.uint(0)?,
        supplier: r.text(1)?,
        warehouse: WarehouseCode::parse(&r.text(2)?).map_err(|e| corrupt("warehouse", e))?,
        state: PoState::parse(&state).ok_or_else(|| corrupt("po state", &state))?,
        note: r.text(4)?,
        reason: r.opt_text(5)?,
        promised_ms: r.opt_int(6)?,
        lines: Vec::new(),
        total: Money::ZERO,
        created_ms: r.int(7)?,
        sent_ms: r.opt_int(8)?,
        confirmed_ms: r.opt_int(9)?,
        closed_ms: r.opt_int(10)?,
    })
}

fn with_lines(tx: &mut dyn Tx, mut po: PurchaseOrder) -> DbResult<PurchaseOrder> {
    let rows = tx.query("SELECT sku, qty, unit_cost, confirmed, shipped, accepted, rejected, invoiced FROM po_line WHERE po = ?1 ORDER BY sku", &params![po.id])?;
    po.lines = rows
        .iter()
        .map(|r| {
            Ok(PoLine {
                sku: sku(r, 0)?,
                qty: count(r, 1)?,
                unit_cost: money(r, 2)?,
                confirmed: count(r, 3)?,
                shipped: count(r, 4)?,
                accepted: count(r, 5)?,
                rejected: count(r, 6)?,
                invoiced: count(r, 7)?,
            })
        })
        .collect::<DbResult<_>>()?;
    po.total = order_total(&po.lines);
    Ok(po)
}

/// The order with its lines; `lock` takes its row for the transaction.
pub fn load(tx: &mut dyn Tx, id: u64, lock: bool) -> DbResult<Option<PurchaseOrder>> {
    let sql = format!("{COLUMNS} WHERE id = ?1{}", if lock { " FOR UPDATE" } else { "" });
    match tx.query_opt(&sql, &params![id])? {
        Some(r) => Ok(Some(with_lines(tx, head(&r)?)?)),
        None => Ok(None),
    }
}

/// Orders, newest first, of one state and/or supplier; `sent_only` leaves drafts out (what a
/// supplier may see).
pub fn list(tx: &mut dyn Tx, state: Option<PoState>, supplier: Option<&str>, sent_only: bool, limit: u32) -> DbResult<Vec<PurchaseOrder>> {
    let sql = format!(
        "{COLUMNS} WHERE (CAST(?1 AS TEXT) IS NULL OR state = ?1) AND (CAST(?2 AS TEXT) IS NULL OR supplier = ?2) AND (?4 = 0 OR state <> 'draft')
         ORDER BY id DESC LIMIT ?3"
    );
    let rows = tx.query(&sql, &params![state.map(|s| s.as_str()), supplier, limit, i64::from(sent_only)])?;
    let heads: Vec<PurchaseOrder> = rows.iter().map(head).collect::<DbResult<_>>()?;
    heads.into_iter().map(|po| with_lines(tx, po)).collect()
}

/// Writes the order's state, dates and every line's counters.
pub fn save(tx: &mut dyn Tx, po: &PurchaseOrder, now_ms: i64) -> DbResult<()> {
    tx.execute(
        "UPDATE po_order SET state = ?2, reason = ?3, promised_ms = ?4, sent_ms = ?5, confirmed_ms = ?6, closed_ms = ?7, updated_ms = ?8 WHERE id = ?1",
        &params![po.id, po.state.as_str(), po.reason.clone(), po.promised_ms, po.sent_ms, po.confirmed_ms, po.closed_ms, now_ms],
    )?;
    for l in &po.lines {
        tx.execute(
            "UPDATE po_line SET confirmed = ?3, shipped = ?4, accepted = ?5, rejected = ?6, invoiced = ?7 WHERE po = ?1 AND sku = ?2",
            &params![po.id, l.sku.as_str(), l.confirmed, l.shipped, l.accepted, l.rejected, l.invoiced],
        )?;
    }
    Ok(())
}

/// A new ASN in transit with its lines; None when the supplier used `reference` before.
pub fn insert_asn(tx: &mut dyn Tx, supplier: &str, shipment: &super::flow::Shipment, now_ms: i64) -> DbResult<Option<u64>> {
    let super::flow::Shipment { po, reference, shipped_ms, eta_ms, lines } = shipment;
    let Some(row) = tx.query_opt(
        "INSERT INTO po_asn (po, supplier, reference, state, shipped_ms, eta_ms, created_ms) VALUES (?1, ?2, ?3, 'in_transit', ?4, ?5, ?6)
         ON CONFLICT (supplier, reference) DO NOTHING RETURNING id",
        &params![*po, supplier, reference.as_str(), *shipped_ms, *eta_ms, now_ms],
    )?
    else {
        return Ok(None);
    };
    let id = row.uint(0)?;
    for (n, l) in lines.iter().enumerate() {
        tx.execute(
            "INSERT INTO po_asn_line (asn, line, sku, qty, lot, expiry, carton) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            &params![id, n, l.sku.as_str(), l.qty, l.lot.as_str(), l.expiry.clone(), l.carton.as_str()],
        )?;
        tx.execute("INSERT INTO po_receipt (asn, sku, last_ms) VALUES (?1, ?2, ?3) ON CONFLICT (asn, sku) DO NOTHING", &params![id, l.sku.as_str(), now_ms])?;
    }
    Ok(Some(id))
}

/// Whether the supplier used `reference` on an ASN before.
pub fn asn_reference_taken(tx: &mut dyn Tx, supplier: &str, reference: &str) -> DbResult<bool> {
    Ok(tx.query_opt("SELECT 1 FROM po_asn WHERE supplier = ?1 AND reference = ?2", &params![supplier, reference])?.is_some())
}

const ASN_COLUMNS: &str = "SELECT id, po, supplier, reference, state, shipped_ms, eta_ms, created_ms, received_ms FROM po_asn";

fn asn_of(tx: &mut dyn Tx, r: &Row) -> DbResult<Asn> {
    let id = r.uint(0)?;
    let state = r.text(4)?;
    let lines = tx
        .query("SELECT sku, qty, lot, expiry, carton FROM po_asn_line WHERE asn = ?1 ORDER BY line", &params![id])?
        .iter()
        .map(|l| Ok(AsnLine { sku: sku(l, 0)?, qty: count(l, 1)?, lot: l.text(2)?, expiry: l.opt_text(3)?, carton: l.text(4)? }))
        .collect::<DbResult<_>>()?;
    let arrived = tx
        .query("SELECT sku, passed, failed FROM po_receipt WHERE asn = ?1 ORDER BY sku", &params![id])?
        .iter()
        .map(|l| Ok(Arrived { sku: sku(l, 0)?, passed: count(l, 1)?, failed: count(l, 2)? }))
        .collect::<DbResult<_>>()?;
    Ok(Asn {
        id,
        delivery: super::delivery_number(id),
        po: r.uint(1)?,
        supplier: r.text(2)?,
        reference: r.text(3)?,
        state: AsnState::parse(&state).ok_or_else(|| corrupt("asn state", &state))?,
        shipped_ms: r.int(5)?,
        eta_ms: r.int(6)?,
        lines,
        arrived,
        created_ms: r.int(7)?,
        received_ms: r.opt_int(8)?,
    })
}

pub fn load_asn(tx: &mut dyn Tx, id: u64, lock: bool) -> DbResult<Option<Asn>> {
    let sql = format!("{ASN_COLUMNS} WHERE id = ?1{}", if lock { " FOR UPDATE" } else { "" });
    match tx.query_opt(&sql, &params![id])? {
        Some(r) => Ok(Some(asn_of(tx, &r)?)),
        None => Ok(None),
    }
}

pub fn asns_of(tx: &mut dyn Tx, po: u64) -> DbResult<Vec<Asn>> {
    let rows = tx.query(&format!("{ASN_COLUMNS} WHERE po = ?1 ORDER BY id"), &params![po])?;
    rows.iter().map(|r| asn_of(tx, r)).collect()
}

/// Adds arrived units to the ASN's SKU (and the receipt itself, for statements), and marks the
/// ASN received once every unit on it has.
pub fn arrive(tx: &mut dyn Tx, asn: &Asn, sku: &Sku, passed: u32, failed: u32, now_ms: i64) -> DbResult<()> {
    tx.execute(
        "INSERT INTO po_arrival (asn, po, supplier, sku, passed, failed, at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        &params![asn.id, asn.po, asn.supplier.as_str(), sku.as_str(), passed, failed, now_ms],
    )?;
    let asn = asn.id;
    tx.execute(
        "UPDATE po_receipt SET passed = passed + ?3, failed = failed + ?4, last_ms = ?5 WHERE asn = ?1 AND sku = ?2",
        &params![asn, sku.as_str(), passed, failed, now_ms],
    )?;
    tx.execute(
        "UPDATE po_asn SET state = 'received', received_ms = ?2 WHERE id = ?1 AND state = 'in_transit' AND NOT EXISTS (
             SELECT 1 FROM po_receipt r WHERE r.asn = ?1
             AND r.passed + r.failed < (SELECT CAST(SUM(l.qty) AS BIGINT) FROM po_asn_line l WHERE l.asn = ?1 AND l.sku = r.sku))",
        &params![asn, now_ms],
    )?;
    Ok(())
}

/// An ASN no longer expected in full: its order was closed short.
pub fn close_asn(tx: &mut dyn Tx, asn: u64, now_ms: i64) -> DbResult<()> {
    tx.execute("UPDATE po_asn SET state = 'closed', received_ms = ?2 WHERE id = ?1 AND state = 'in_transit'", &params![asn, now_ms])?;
    Ok(())
}

/// A new invoice; None when the supplier used `reference` before.
#[allow(clippy::too_many_arguments)]
pub fn insert_invoice(
    tx: &mut dyn Tx,
    supplier: &str,
    reference: &str,
    po: u64,
    state: InvoiceState,
    lines: &[SupplierInvoiceLine],
    (total, tax): (Money, Money),
    expected: Money,
    differences: &[InvoiceDifference],
    now_ms: i64,
) -> DbResult<Option<u64>> {
    let row = tx.query_opt(
        "INSERT INTO po_invoice (supplier, reference, po, state, lines, total, expected, differences, created_ms, decided_ms, tax)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) ON CONFLICT (supplier, reference) DO NOTHING RETURNING id",
        &params![
            supplier,
            reference,
            po,
            state.as_str(),
            json(&lines)?,
            total.minor(),
            expected.minor(),
            json(&differences)?,
            now_ms,
            (state == InvoiceState::Approved).then_some(now_ms),
            tax.minor()
        ],
    )?;
    row.map(|r| r.uint(0)).transpose()
}

const INVOICE_COLUMNS: &str =
    "SELECT id, supplier, reference, po, state, lines, total, expected, differences, note, created_ms, decided_ms, paid_ms, payment_ref, tax FROM po_invoice";

fn invoice(r: &Row) -> DbResult<SupplierInvoice> {
    let state = r.text(4)?;
    Ok(SupplierInvoice {
        id: r.uint(0)?,
        supplier: r.text(1)?,
        reference: r.text(2)?,
        po: r.uint(3)?,
        state: InvoiceState::parse(&state).ok_or_else(|| corrupt("invoice state", &state))?,
        lines: serde_json::from_str(&r.text(5)?).map_err(|e| corrupt("invoice lines", e))?,
        total: money(r, 6)?,
        expected: money(r, 7)?,
        differences: serde_json::from_str(&r.text(8)?).map_err(|e| corrupt("invoice differences", e))?,
        note: r.opt_text(9)?,
        created_ms: r.int(10)?,
        decided_ms: r.opt_int(11)?,
        paid_ms: r.opt_int(12)?,
        payment_reference: r.opt_text(13)?,
        tax: money(r, 14)?,
    })
}

pub fn load_invoice(tx: &mut dyn Tx, id: u64, lock: bool) -> DbResult<Option<SupplierInvoice>> {
    let sql = format!("{INVOICE_COLUMNS} WHERE id = ?1{}", if lock { " FOR UPDATE" } else { "" });
    tx.query_opt(&sql, &params![id])?.map(|r| invoice(&r)).transpose()
}

/// Invoices, newest first, by state, supplier and/or order.
pub fn invoices(tx: &mut dyn Tx, state: Option<InvoiceState>, supplier: Option<&str>, po: Option<u64>, limit: u32) -> DbResult<Vec<SupplierInvoice>> {
    let sql = format!(
        "{INVOICE_COLUMNS} WHERE (CAST(?1 AS TEXT) IS NULL OR state = ?1) AND (CAST(?2 AS TEXT) IS NULL OR supplier = ?2) AND (CAST(?3 AS BIGINT) IS NULL OR po = ?3) ORDER BY id DESC LIMIT ?4"
    );
    tx.query(&sql, &params![state.map(|s| s.as_str()), supplier, po, limit])?.iter().map(invoice).collect()
}

pub fn mark_paid(tx: &mut dyn Tx, id: u64, reference: &str, now_ms: i64) -> DbResult<()> {
    tx.execute("UPDATE po_invoice SET paid_ms = ?2, payment_ref = ?3 WHERE id = ?1", &params![id, now_ms, reference])?;
    Ok(())
}

pub fn decide_invoice(tx: &mut dyn Tx, id: u64, state: InvoiceState, note: &str, now_ms: i64) -> DbResult<()> {
    tx.execute("UPDATE po_invoice SET state = ?2, note = ?3, decided_ms = ?4 WHERE id = ?1", &params![id, state.as_str(), note, now_ms])?;
    Ok(())
}

/// Units on the warehouse's open purchase orders not yet shipped, per SKU: ordered on drafts
/// and sent orders, confirmed on confirmed and receiving ones.
pub fn open_units(tx: &mut dyn Tx, warehouse: &WarehouseCode) -> DbResult<Vec<(String, i64)>> {
    tx.query(
        "SELECT l.sku, CAST(SUM(CASE WHEN o.state IN ('draft', 'sent') THEN l.qty ELSE l.confirmed END - l.shipped) AS BIGINT)
         FROM po_line l JOIN po_order o ON o.id = l.po
         WHERE o.warehouse = ?1 AND o.state IN ('draft', 'sent', 'confirmed', 'receiving')
         GROUP BY l.sku",
        &params![warehouse.as_str()],
    )?
    .iter()
    .map(|r| Ok((r.text(0)?, r.int(1)?.max(0))))
    .collect()
}

/// The supplier's fully received ASNs: when, and the date their order was promised for.
pub fn deliveries_of(tx: &mut dyn Tx, supplier: &str) -> DbResult<Vec<(i64, Option<i64>)>> {
    tx.query(
        "SELECT a.received_ms, o.promised_ms FROM po_asn a JOIN po_order o ON o.id = a.po WHERE a.supplier = ?1 AND a.state = 'received' AND a.received_ms IS NOT NULL",
        &params![supplier],
    )?
    .iter()
    .map(|r| Ok((r.int(0)?, r.opt_int(1)?)))
    .collect()
}

/// The supplier's closed orders: when, units ordered, units that arrived.
pub fn closed_orders_of(tx: &mut dyn Tx, supplier: &str) -> DbResult<Vec<(i64, u64, u64)>> {
    tx.query(
        "SELECT o.closed_ms, CAST(SUM(l.qty) AS BIGINT), CAST(SUM(l.accepted + l.rejected) AS BIGINT)
         FROM po_order o JOIN po_line l ON l.po = o.id WHERE o.supplier = ?1 AND o.state = 'closed' AND o.closed_ms IS NOT NULL GROUP BY o.id, o.closed_ms",
        &params![supplier],
    )?
    .iter()
    .map(|r| Ok((r.int(0)?, r.uint(1)?, r.uint(2)?)))
    .collect()
}

/// One receipt of the supplier's goods, with its order line's unit cost.
pub struct Arrival {
    pub po: u64,
    pub sku: Sku,
    pub passed: u32,
    pub failed: u32,
    pub unit_cost: Money,
    pub at_ms: i64,
}

/// The supplier's receipts from `from_ms` until before `to_ms`.
pub fn arrivals_of(tx: &mut dyn Tx, supplier: &str, from_ms: i64, to_ms: i64) -> DbResult<Vec<Arrival>> {
    tx.query(
        "SELECT a.po, a.sku, a.passed, a.failed, l.unit_cost, a.at_ms FROM po_arrival a JOIN po_line l ON l.po = a.po AND l.sku = a.sku
         WHERE a.supplier = ?1 AND a.at_ms >= ?2 AND a.at_ms < ?3 ORDER BY a.id",
        &params![supplier, from_ms, to_ms],
    )?
    .iter()
    .map(|r| Ok(Arrival { po: r.uint(0)?, sku: sku(r, 1)?, passed: count(r, 2)?, failed: count(r, 3)?, unit_cost: money(r, 4)?, at_ms: r.int(5)? }))
    .collect()
}

/// The supplier's invoices approved from `from_ms` until before `to_ms`.
pub fn invoices_decided(tx: &mut dyn Tx, supplier: &str, from_ms: i64, to_ms: i64) -> DbResult<Vec<SupplierInvoice>> {
    let sql = format!("{INVOICE_COLUMNS} WHERE supplier = ?1 AND state = 'approved' AND decided_ms >= ?2 AND decided_ms < ?3 ORDER BY id");
    tx.query(&sql, &params![supplier, from_ms, to_ms])?.iter().map(invoice).collect()
}

/// Per order sent since `since_ms`, newest first: its supplier and the days from sending it
/// to its first arrival.
pub fn lead_times(tx: &mut dyn Tx, since_ms: i64) -> DbResult<Vec<(String, f64)>> {
    tx.query(
        "SELECT o.supplier, o.sent_ms, MIN(a.at_ms) FROM po_order o JOIN po_arrival a ON a.po = o.id
         WHERE o.sent_ms IS NOT NULL AND o.sent_ms >= ?1 GROUP BY o.id, o.supplier, o.sent_ms ORDER BY o.id DESC",
        &params![since_ms],
    )?
    .iter()
    .map(|r| Ok((r.text(0)?, (r.int(2)? - r.int(1)?).max(0) as f64 / tote_shared::calendar::DAY_MS as f64)))
    .collect()
}

/// Per SKU the supplier delivered: its share of all suppliers' units of it that arrived and
/// passed QC (1 when it is the only one).
pub fn arrival_shares(tx: &mut dyn Tx, supplier: &str) -> DbResult<std::collections::HashMap<Sku, f64>> {
    let rows = tx.query(
        "SELECT a.sku, CAST(SUM(CASE WHEN a.supplier = ?1 THEN a.passed ELSE 0 END) AS BIGINT), CAST(SUM(a.passed) AS BIGINT)
         FROM po_arrival a WHERE a.sku IN (SELECT DISTINCT sku FROM po_arrival WHERE supplier = ?1) GROUP BY a.sku",
        &params![supplier],
    )?;
    let mut out = std::collections::HashMap::new();
    for r in &rows {
        let (mine, all) = (r.int(1)?, r.int(2)?);
        if mine > 0 && all > 0 {
            out.insert(sku(r, 0)?, mine as f64 / all as f64);
        }
    }
    Ok(out)
}

/// What one supplier is owed or will be, for the cash-flow forecast: an order's goods received
/// and not invoiced and those still to come (at their order costs, before VAT), or its approved
/// invoices not paid (VAT included), with the supplier's payment terms.
#[derive(Debug, Clone, Default)]
pub struct Commitment {
    pub supplier: String,
    pub terms_days: u32,
    pub decided_ms: Option<i64>,
    pub promised_ms: Option<i64>,
    pub invoiced_unpaid: i64,
    pub received_not_invoiced: i64,
    pub to_come: i64,
}

pub fn commitments(tx: &mut dyn Tx) -> DbResult<Vec<Commitment>> {
    let mut out = Vec::new();
    let invoices = tx.query(
        "SELECT i.supplier, s.payment_terms_days, i.decided_ms, i.total + i.tax FROM po_invoice i JOIN sup_supplier s ON s.id = i.supplier
         WHERE i.state = 'approved' AND i.paid_ms IS NULL",
        &[],
    )?;
    for r in &invoices {
        let terms_days = u32::try_from(r.int(1)?).unwrap_or(0);
        out.push(Commitment { supplier: r.text(0)?, terms_days, decided_ms: r.opt_int(2)?, invoiced_unpaid: r.int(3)?, ..Commitment::default() });
    }
    // Units expected on an order: what the supplier confirmed (all ordered while unconfirmed),
    // less what arrived either way; nothing more once it is closed.
    let orders = tx.query(
        "SELECT o.supplier, s.payment_terms_days, o.promised_ms,
                CAST(SUM(CASE WHEN l.accepted > l.invoiced THEN (l.accepted - l.invoiced) * l.unit_cost ELSE 0 END) AS BIGINT),
                CAST(SUM(CASE WHEN o.state = 'closed' THEN 0
                              WHEN (CASE WHEN o.state = 'sent' THEN l.qty ELSE l.confirmed END) > l.accepted + l.rejected
                              THEN ((CASE WHEN o.state = 'sent' THEN l.qty ELSE l.confirmed END) - l.accepted - l.rejected) * l.unit_cost
                              ELSE 0 END) AS BIGINT)
         FROM po_order o JOIN po_line l ON l.po = o.id JOIN sup_supplier s ON s.id = o.supplier
         WHERE o.state IN ('sent', 'confirmed', 'receiving', 'closed')
         GROUP BY o.id, o.supplier, s.payment_terms_days, o.promised_ms",
        &[],
    )?;
    for r in &orders {
        let (received_not_invoiced, to_come) = (r.int(3)?, r.int(4)?);
        if received_not_invoiced > 0 || to_come > 0 {
            let terms_days = u32::try_from(r.int(1)?).unwrap_or(0);
            out.push(Commitment { supplier: r.text(0)?, terms_days, promised_ms: r.opt_int(2)?, received_not_invoiced, to_come, ..Commitment::default() });
        }
    }
    Ok(out)
}
