//! Customer returns HQ announced (`ExpectReturn`): the worker scans the RMA slip, then each
//! unit with its QC verdict — pass (sellable again) or fail (damaged, with the reason) — and
//! closes the return at a bin: the passed units go into it and `ReturnReceived` goes to
//! central, in one transaction. Works while HQ is unreachable; central applies it once.

use super::outbox::emit;
use super::stock::{self, Why};
use super::{StoreError, StoreResult};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use tote_shared::sync::{EdgeEventKind, OrderLine, ReturnedLine};
use tote_shared::{LocationCode, Sku};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReturnLineView {
    pub sku: String,
    pub gtin: String,
    pub expected: i64,
    pub passed: i64,
    pub failed: i64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub fail_reason: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReturnView {
    pub rma: String,
    pub order_id: u64,
    /// `open`, `received`, or `withdrawn` (by HQ: not to be taken in).
    pub state: String,
    /// Where the passed units went, once received.
    pub location: Option<String>,
    /// The carrier HQ booked to bring it, and the waybill on its parcel.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub carrier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waybill: Option<String>,
    pub lines: Vec<ReturnLineView>,
}

/// HQ's announcement, applied with the command that carries it. A repeat of a known RMA
/// changes nothing (the command stream never repeats one, but a re-based stream might).
pub fn expect(conn: &Connection, rma: &str, order_id: u64, lines: &[OrderLine], now_ms: i64) -> StoreResult<()> {
    let inserted = conn
        .prepare_cached("INSERT INTO return_notice (rma, order_id, state, created_ms) VALUES (?1, ?2, 'open', ?3) ON CONFLICT DO NOTHING")?
        .execute(params![rma, order_id as i64, now_ms])?;
    if inserted == 0 {
        return Ok(());
    }
    for line in lines {
        stock::require_sku(conn, line.sku.as_str())?;
        conn.prepare_cached("INSERT INTO return_line (rma, sku, expected) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING")?
            .execute(params![rma, line.sku.as_str(), line.qty.as_i64()])?;
    }
    Ok(())
}

/// One unit checked: `passed`, or failed with `reason`. Refused when the item is not on the
/// return (naming what is) or every unit of it has been checked already.
pub fn check(conn: &Connection, rma: &str, sku: &Sku, passed: bool, reason: &str) -> StoreResult<ReturnView> {
    let view = open_return(conn, rma)?;
    let line = view.lines.iter().find(|l| l.sku == sku.as_str()).ok_or_else(|| {
        let on_it: Vec<&str> = view.lines.iter().map(|l| l.gtin.as_str()).collect();
        StoreError::WrongScan { what: "item", expected: format!("one of {} (return {rma})", on_it.join(", ")), scanned: sku.to_string() }
    })?;
    if line.passed + line.failed >= line.expected {
        return Err(StoreError::Conflict(format!("return {rma} expects {} × {sku} and all are checked", line.expected)));
    }
    if passed {
        conn.prepare_cached("UPDATE return_line SET passed = passed + 1 WHERE rma = ?1 AND sku = ?2")?.execute(params![rma, sku.as_str()])?;
    } else {
        if reason.trim().is_empty() {
            return Err(StoreError::Invalid("a failed unit needs the reason it failed".into()));
        }
        // The reasons of a line's failed units, each once.
        let reasons = if line.fail_reason.is_empty() || line.fail_reason.split("; ").any(|r| r == reason) {
            if line.fail_reason.is_empty() { reason.to_owned() } else { line.fail_reason.clone() }
        } else {
            format!("{}; {reason}", line.fail_reason)
        };
        if reasons.chars().count() > 300 {
            return Err(StoreError::Invalid("the failure reasons of one item are at most 300 characters in all".into()));
        }
        conn.prepare_cached("UPDATE return_line SET failed = failed + 1, fail_reason = ?3 WHERE rma = ?1 AND sku = ?2")?
            .execute(params![rma, sku.as_str(), reasons])?;
    }
    get(conn, rma)
}

/// The return is done: passed units into `location` (a bin), the rest reported as failed or
/// missing, and `ReturnReceived` written to the outbox in the same transaction.
pub fn close(conn: &Connection, rma: &str, location: &LocationCode, by: &str, now_ms: i64) -> StoreResult<ReturnView> {
    let view = open_return(conn, rma)?;
    if view.lines.iter().all(|l| l.passed + l.failed == 0) {
        return Err(StoreError::Invalid(format!("nothing of return {rma} has been checked yet")));
    }
    stock::require_bin(conn, location.as_str())?;
    let reference = format!("return:{rma}");
    let mut lines = Vec::with_capacity(view.lines.len());
    for line in &view.lines {
        if line.passed > 0 {
            let why = Why { reason: "return", reference: &reference, at_ms: now_ms };
            stock::change(conn, location.as_str(), &line.sku, "", line.passed, &why)?;
        }
        let count = |n: i64| u32::try_from(n).map_err(|_| StoreError::Corrupt(format!("return {rma}: {n} units")));
        lines.push(ReturnedLine {
            sku: Sku::parse(&line.sku).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            expected: count(line.expected)?,
            passed: count(line.passed)?,
            failed: count(line.failed)?,
            fail_reason: line.fail_reason.clone(),
        });
    }
    conn.prepare_cached("UPDATE return_notice SET state = 'received', received_ms = ?2, location = ?3, received_by = ?4 WHERE rma = ?1")?
        .execute(params![rma, now_ms, location.as_str(), by])?;
    let event = EdgeEventKind::ReturnReceived { rma: rma.to_owned(), order_id: view.order_id, location: location.clone(), lines };
    emit(conn, event, now_ms)?;
    get(conn, rma)
}

/// HQ withdrew the return. One already received stays received (central hears of it and
/// books the goods that came).
pub fn withdraw(conn: &Connection, rma: &str) -> StoreResult<()> {
    conn.prepare_cached("UPDATE return_notice SET state = 'withdrawn' WHERE rma = ?1 AND state = 'open'")?.execute([rma])?;
    Ok(())
}

/// The carrier HQ booked for a return, and its parcel's waybill: scanning it finds the return.
/// A return HQ has not announced here, or a waybill another return holds, is left alone (with
/// a warning): the slip still finds it.
pub fn label(conn: &Connection, rma: &str, carrier: &str, waybill: &str) -> StoreResult<()> {
    let taken: Option<String> = conn.prepare_cached("SELECT rma FROM return_notice WHERE waybill = ?1")?.query_row([waybill], |r| r.get(0)).optional()?;
    if let Some(other) = taken.filter(|other| other != rma) {
        tracing::warn!(rma, waybill, other, "a return label's waybill is another return's; the slip still finds it");
        return Ok(());
    }
    let n = conn.prepare_cached("UPDATE return_notice SET carrier = ?2, waybill = ?3 WHERE rma = ?1")?.execute(params![rma, carrier, waybill])?;
    if n == 0 {
        tracing::warn!(rma, waybill, "a label for a return not announced here");
    }
    Ok(())
}

/// The RMA a scanned code names: the slip's own number, or the waybill of a return's label.
pub fn find(conn: &Connection, code: &str) -> StoreResult<String> {
    if tote_shared::sync::is_rma(code) {
        return Ok(code.to_owned());
    }
    conn.prepare_cached("SELECT rma FROM return_notice WHERE waybill = ?1")?
        .query_row([code], |r| r.get(0))
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("a return with waybill {code} (HQ has not announced one here)")))
}

fn open_return(conn: &Connection, rma: &str) -> StoreResult<ReturnView> {
    let view = get(conn, rma)?;
    match view.state.as_str() {
        "open" => Ok(view),
        "withdrawn" => Err(StoreError::Conflict(format!("return {rma} was withdrawn by HQ: do not take it in"))),
        _ => Err(StoreError::Conflict(format!("return {rma} was received already"))),
    }
}

pub fn get(conn: &Connection, rma: &str) -> StoreResult<ReturnView> {
    type Head = (i64, String, Option<String>, Option<String>, Option<String>);
    let head: Option<Head> = conn
        .prepare_cached("SELECT order_id, state, location, carrier, waybill FROM return_notice WHERE rma = ?1")?
        .query_row([rma], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .optional()?;
    let (order_id, state, location, carrier, waybill) = head.ok_or_else(|| StoreError::NotFound(format!("return {rma} (HQ has not announced it here)")))?;
    let lines = conn
        .prepare_cached(
            "SELECT l.sku, s.gtin, l.expected, l.passed, l.failed, l.fail_reason FROM return_line l JOIN sku s ON s.sku = l.sku
             WHERE l.rma = ?1 ORDER BY l.sku",
        )?
        .query_map([rma], |r| {
            Ok(ReturnLineView { sku: r.get(0)?, gtin: r.get(1)?, expected: r.get(2)?, passed: r.get(3)?, failed: r.get(4)?, fail_reason: r.get(5)? })
        })?
        .collect::<Result<_, _>>()?;
    Ok(ReturnView { rma: rma.to_owned(), order_id: order_id as u64, state, location, carrier, waybill, lines })
}

/// Newest first, at most 200; `state` filters.
pub fn list(conn: &Connection, state: Option<&str>) -> StoreResult<Vec<ReturnView>> {
    let ids: Vec<String> = conn
        .prepare_cached("SELECT rma FROM return_notice WHERE ?1 IS NULL OR state = ?1 ORDER BY created_ms DESC, rma LIMIT 200")?
        .query_map([state], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    ids.iter().map(|rma| get(conn, rma)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tote_shared::Qty;

    fn setup() -> Connection {
        let conn = super::super::schema::memory_db();
        conn.execute("INSERT INTO sku (sku, gtin, name) VALUES ('PEG39-M-WHT-42', '00194502876543', 'Pegasus 42')", []).expect("test data");
        conn.execute("INSERT INTO location (code, kind, created_ms) VALUES ('A-01-01', 'bin', 0)", []).expect("test data");
        let line = OrderLine { sku: Sku::parse("PEG39-M-WHT-42").expect("test data"), qty: Qty::parse(2).expect("test data") };
        expect(&conn, "RMA-7", 42, &[line], 1).expect("announced");
        conn
    }

    #[test]
    fn a_return_label_finds_its_return_and_no_other() {
        let conn = setup();
        assert!(matches!(find(&conn, "SF000000000123"), Err(StoreError::NotFound(_))), "no label yet");
        label(&conn, "RMA-7", "SF", "SF000000000123").expect("labelled");
        assert_eq!(find(&conn, "SF000000000123").expect("found"), "RMA-7");
        assert_eq!(find(&conn, "RMA-7").expect("the slip still works"), "RMA-7");
        let view = get(&conn, "RMA-7").expect("view");
        assert_eq!((view.carrier.as_deref(), view.waybill.as_deref()), (Some("SF"), Some("SF000000000123")));
        let line = OrderLine { sku: Sku::parse("PEG39-M-WHT-42").expect("test data"), qty: Qty::parse(1).expect("test data") };
        expect(&conn, "RMA-8", 43, &[line], 2).expect("announced");
        label(&conn, "RMA-8", "SF", "SF000000000123").expect("a taken number is left alone");
        assert_eq!(find(&conn, "SF000000000123").expect("found"), "RMA-7", "the number stays with its first return");
        label(&conn, "RMA-99", "SF", "SF000000000999").expect("an unannounced return is left alone");
        assert!(matches!(find(&conn, "SF000000000999"), Err(StoreError::NotFound(_))));
    }

    #[test]
    fn checked_units_go_into_the_bin_and_one_event_reports_them() {
        let conn = setup();
        let sku = Sku::parse("PEG39-M-WHT-42").expect("test data");
        check(&conn, "RMA-7", &sku, true, "").expect("a pass");
        check(&conn, "RMA-7", &sku, false, "sole worn").expect("a fail");
        let over = check(&conn, "RMA-7", &sku, true, "");
        assert!(matches!(over, Err(StoreError::Conflict(_))), "a third unit of two is refused: {over:?}");
        let view = close(&conn, "RMA-7", &LocationCode::parse("A-01-01").expect("test data"), "w1", 5).expect("closed");
        assert_eq!((view.state.as_str(), view.lines[0].passed, view.lines[0].failed), ("received", 1, 1));
        assert_eq!(stock::qty_at(&conn, "A-01-01", "PEG39-M-WHT-42", "").expect("test data"), 1, "only the passed unit is stock");
        let event: String = conn.query_row("SELECT body FROM outbox ORDER BY seq DESC LIMIT 1", [], |r| r.get(0)).expect("test data");
        assert!(event.contains("return_received") && event.contains("\"passed\":1") && event.contains("sole worn"), "{event}");
        assert!(matches!(close(&conn, "RMA-7", &LocationCode::parse("A-01-01").expect("test data"), "w1", 6), Err(StoreError::Conflict(_))), "closed once");
    }

    #[test]
    fn a_return_with_nothing_checked_or_an_unknown_item_is_refused_naming_what_is_expected() {
        let conn = setup();
        conn.execute("INSERT INTO sku (sku, gtin, name) VALUES ('PEG39-M-WHT-43', '00194502876550', 'Pegasus 43')", []).expect("test data");
        let wrong = check(&conn, "RMA-7", &Sku::parse("PEG39-M-WHT-43").expect("test data"), true, "");
        assert!(matches!(&wrong, Err(StoreError::WrongScan { expected, .. }) if expected.contains("00194502876543")), "{wrong:?}");
        assert!(matches!(close(&conn, "RMA-7", &LocationCode::parse("A-01-01").expect("test data"), "w1", 5), Err(StoreError::Invalid(_))));
        assert!(matches!(check(&conn, "RMA-8", &Sku::parse("PEG39-M-WHT-42").expect("test data"), true, ""), Err(StoreError::NotFound(_))));
        let no_reason = check(&conn, "RMA-7", &Sku::parse("PEG39-M-WHT-42").expect("test data"), false, " ");
        assert!(matches!(no_reason, Err(StoreError::Invalid(_))), "a failed unit names its reason");
        withdraw(&conn, "RMA-7").expect("withdrawn");
        let late = check(&conn, "RMA-7", &Sku::parse("PEG39-M-WHT-42").expect("test data"), true, "");
        assert!(matches!(&late, Err(StoreError::Conflict(why)) if why.contains("withdrawn")), "{late:?}");
    }
}
