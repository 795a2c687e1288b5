//! Daily reconciliation: download each channel's bill for a day, match it against our
//! payments and refunds (`tote_shared::payment::reconcile`, pure), and keep every difference as
//! a work list HQ resolves, with the fee totals per channel and day.
//!
//! Our side is read with an hour's margin around the channel's day (its time zone, its clock
//! may differ from ours near midnight); a record of ours missing from the bill counts only
//! when it falls inside the day itself — near the edge it belongs to the neighbour's bill.

use super::PaymentError;
use crate::config::FeeSettings;
use crate::db::{DbError, DbResult, Row, Tx};
use crate::params;
use crate::startup::{now_ms, AppState};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use tote_shared::payment::bill::{self, BillDay, BillKind, BillLine};
use tote_shared::payment::reconcile::{self, Difference, DifferenceKind, OurRecord, OurStatus, Reconciliation};
use tote_shared::payment::ChannelKind;
use tote_shared::runtime::supervise::Stop;

const MARGIN_MS: i64 = 3_600_000;
use tote_shared::calendar::DAY_MS;

/// The fee a line should cost under the contract: a share of the amount (half up) plus a
/// fixed part per payment; a refund gives back the same share when the contract says so.
pub fn expected_fee(fee: FeeSettings, kind: BillKind, amount_minor: i64) -> i64 {
    let share = (amount_minor.saturating_mul(i64::from(fee.rate_bp)) + 5_000) / 10_000;
    match kind {
        BillKind::Payment => share + fee.fixed_minor,
        BillKind::Refund if fee.refunded => -share,
        BillKind::Refund => 0,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Run {
    pub id: u64,
    #[schema(value_type = String)]
    pub channel: ChannelKind,
    pub day: String,
    pub ran_at_ms: i64,
    pub bill_lines: u64,
    pub matched: u64,
    pub differences: u64,
    /// What the channel charged that day, by its bill.
    pub fee_total_minor: i64,
    /// What the contract says it should have charged for the same lines.
    pub expected_fee_total_minor: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Item {
    pub id: u64,
    pub run_id: u64,
    /// missing_ours, missing_theirs, amount, status, fee, duplicate.
    pub kind: String,
    pub out_trade_no: String,
    pub out_refund_no: Option<String>,
    pub detail: String,
    pub ours: Option<serde_json::Value>,
    pub theirs: Option<serde_json::Value>,
    /// open or resolved.
    pub state: String,
    pub resolution: Option<String>,
    pub resolved_at_ms: Option<i64>,
}

/// Downloads, parses and matches one channel's bill for `day`; replaces an earlier run of the
/// same day (keeping the resolutions of differences found again).
pub async fn run(state: &AppState, channel: ChannelKind, day: BillDay) -> Result<Run, PaymentError> {
    let adapter = state.channels.get(channel).ok_or_else(|| PaymentError::NoChannel(channel.as_str().into()))?.clone();
    let fee = state.settings.payment.fee(channel).ok_or_else(|| PaymentError::NoChannel(channel.as_str().into()))?;
    let bytes = adapter.download_bill(&day.to_string()).await?;
    let theirs = tokio::task::spawn_blocking(move || match channel {
        ChannelKind::Wechat => bill::parse_wechat(&bytes),
        ChannelKind::Alipay => bill::parse_alipay(&bytes),
        ChannelKind::Card => bill::parse_card(&bytes),
    })
    .await
    .map_err(|e| PaymentError::Refused(format!("bill parser stopped: {e}")))?
    .map_err(|e| PaymentError::Refused(format!("the {} bill of {day} cannot be read: {e}", channel.as_str())))?;
    let start = day.start_ms(bill::day_offset_ms(channel));
    let ours = state.db.read(move |tx| our_records(tx, channel, fee, start - MARGIN_MS, start + DAY_MS + MARGIN_MS)).await?;
    let day_text = day.to_string();
    let result = tokio::task::spawn_blocking(move || -> Result<(Reconciliation, u64, i64), PaymentError> {
        let records: Vec<OurRecord> = ours.iter().map(|(r, _)| r.clone()).collect();
        let mut result = reconcile::reconcile(channel, &theirs, &records).map_err(|e| PaymentError::Refused(e.to_string()))?;
        let times: HashMap<(String, Option<String>), i64> = ours.iter().map(|(r, at)| ((r.out_trade_no.clone(), r.out_refund_no.clone()), *at)).collect();
        result.differences.retain(|d| {
            d.kind != DifferenceKind::MissingTheirs
                || times.get(&(d.out_trade_no.clone(), d.out_refund_no.clone())).is_none_or(|at| (start..start + DAY_MS).contains(at))
        });
        // What the bill says the channel moved that day: paid in, less refunded.
        let gross = theirs
            .iter()
            .filter(|l| l.status == bill::BillStatus::Success)
            .map(|l| if l.kind == BillKind::Payment { l.amount_minor } else { -l.amount_minor })
            .fold(0i64, i64::saturating_add);
        Ok((result, theirs.len() as u64, gross))
    })
    .await
    .map_err(|e| PaymentError::Refused(format!("matching stopped: {e}")))??;
    let (result, lines, gross) = result;
    let run = state.write(move |tx| save(tx, &result, &day_text, (lines, gross), now_ms())).await?;
    tracing::info!(channel = channel.as_str(), day = %run.day, matched = run.matched, differences = run.differences, "reconciliation ran");
    Ok(run)
}

/// Our payments and refunds on `channel` whose money moved (or should have) in the window,
/// each with the time it did.
fn our_records(tx: &mut dyn Tx, channel: ChannelKind, fee: FeeSettings, from_ms: i64, to_ms: i64) -> DbResult<Vec<(OurRecord, i64)>> {
    let mut out = Vec::new();
    let rows = tx.query(
        "SELECT out_trade_no, amount_minor, state, refunded_minor, COALESCE(succeeded_ms, updated_ms) FROM payment
         WHERE channel = ?1 AND COALESCE(succeeded_ms, updated_ms) >= ?2 AND COALESCE(succeeded_ms, updated_ms) < ?3",
        &params![channel.as_str(), from_ms, to_ms],
    )?;
    for r in &rows {
        let (amount, refunded) = (r.int(1)?, r.int(3)?);
        let status = match r.text(2)?.as_str() {
            "succeeded" if refunded >= amount => OurStatus::Refunded,
            "succeeded" => OurStatus::Succeeded,
            "closed" => OurStatus::Closed,
            "failed" => OurStatus::Failed,
            _ => OurStatus::Pending,
        };
        let record = OurRecord {
            kind: BillKind::Payment,
            channel,
            out_trade_no: r.text(0)?,
            out_refund_no: None,
            amount_minor: amount,
            status,
            expected_fee_minor: expected_fee(fee, BillKind::Payment, amount),
        };
        out.push((record, r.int(4)?));
    }
    let rows = tx.query(
        "SELECT p.out_trade_no, r.out_refund_no, r.amount_minor, r.state, r.updated_ms FROM payment_refund r JOIN payment p ON p.id = r.payment_id
         WHERE p.channel = ?1 AND r.updated_ms >= ?2 AND r.updated_ms < ?3",
        &params![channel.as_str(), from_ms, to_ms],
    )?;
    for r in &rows {
        let amount = r.int(2)?;
        let status = match r.text(3)?.as_str() {
            "succeeded" => OurStatus::Succeeded,
            "failed" => OurStatus::Failed,
            _ => OurStatus::Pending,
        };
        let record = OurRecord {
            kind: BillKind::Refund,
            channel,
            out_trade_no: r.text(0)?,
            out_refund_no: Some(r.text(1)?),
            amount_minor: amount,
            status,
            expected_fee_minor: expected_fee(fee, BillKind::Refund, amount),
        };
        out.push((record, r.int(4)?));
    }
    Ok(out)
}

fn corrupt(e: impl std::fmt::Display) -> DbError {
    DbError::corrupt(e.to_string())
}

/// Journals what a day's bill settled, as far as not journalled already (a rerun of the day
/// journals the change only): the channel pays it to the bank less its fees.
fn settle(tx: &mut dyn Tx, channel: &str, day: &str, gross: i64, fees: i64, now_ms: i64) -> DbResult<()> {
    let before = tx.query_opt("SELECT gross, fees FROM pay_settlement WHERE channel = ?1 AND day = ?2", &params![channel, day])?;
    let (was_gross, was_fees) = match before {
        Some(r) => (r.int(0)?, r.int(1)?),
        None => (0, 0),
    };
    if (gross, fees) == (was_gross, was_fees) {
        return Ok(());
    }
    tx.execute(
        "INSERT INTO pay_settlement (channel, day, gross, fees) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (channel, day) DO UPDATE SET gross = excluded.gross, fees = excluded.fees",
        &params![channel, day, gross, fees],
    )?;
    let event = crate::journal::BusinessEvent::ChannelSettled { channel: channel.to_owned(), day: day.to_owned(), gross: gross - was_gross, fees: fees - was_fees };
    crate::journal::store::append(tx, &event, now_ms)
}

fn save(tx: &mut dyn Tx, result: &Reconciliation, day: &str, (bill_lines, gross): (u64, i64), now_ms: i64) -> DbResult<Run> {
    let channel = result.channel.as_str();
    // Resolutions of differences found again survive a rerun.
    let mut resolved: HashMap<(String, String, Option<String>), (String, i64)> = HashMap::new();
    if let Some(old) = tx.query_opt("SELECT id FROM reconciliation_run WHERE channel = ?1 AND day = ?2", &params![channel, day])? {
        let old_id = old.uint(0)?;
        let rows = tx.query(
            "SELECT kind, out_trade_no, out_refund_no, resolution, resolved_ms FROM reconciliation_item WHERE run_id = ?1 AND state = 'resolved'",
            &params![old_id],
        )?;
        for r in &rows {
            resolved.insert((r.text(0)?, r.text(1)?, r.opt_text(2)?), (r.opt_text(3)?.unwrap_or_default(), r.opt_int(4)?.unwrap_or_default()));
        }
        tx.execute("DELETE FROM reconciliation_item WHERE run_id = ?1", &params![old_id])?;
        tx.execute("DELETE FROM reconciliation_run WHERE id = ?1", &params![old_id])?;
    }
    tx.execute(
        "INSERT INTO reconciliation_run (channel, day, ran_ms, bill_lines, matched, differences, fee_total_minor, expected_fee_total_minor)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        &params![channel, day, now_ms, bill_lines, result.matched, result.differences.len(), result.fee_total_minor, result.expected_fee_total_minor],
    )?;
    let run_id = tx.query_one("SELECT id FROM reconciliation_run WHERE channel = ?1 AND day = ?2", &params![channel, day])?.uint(0)?;
    settle(tx, channel, day, gross, result.fee_total_minor, now_ms)?;
    for chunk in result.differences.chunks(200) {
        insert_items(tx, run_id, chunk, &resolved)?;
    }
    run_by_id(tx, run_id)?.ok_or_else(|| corrupt("saved run is missing"))
}

fn insert_items(tx: &mut dyn Tx, run_id: u64, differences: &[Difference], resolved: &HashMap<(String, String, Option<String>), (String, i64)>) -> DbResult<()> {
    let sql = format!(
        "INSERT INTO reconciliation_item (run_id, kind, out_trade_no, out_refund_no, detail, ours, theirs, state, resolution, resolved_ms) VALUES {}",
        crate::db::values_clause(differences.len(), 10, 1)
    );
    let mut values = Vec::with_capacity(differences.len() * 10);
    for d in differences {
        let key = (d.kind.as_str().to_string(), d.out_trade_no.clone(), d.out_refund_no.clone());
        let earlier = resolved.get(&key);
        let ours = d.ours.as_ref().map(serde_json::to_string).transpose().map_err(corrupt)?;
        let theirs = d.theirs.as_ref().map(line_json).transpose()?;
        values.extend(params![
            run_id,
            d.kind.as_str(),
            d.out_trade_no.as_str(),
            d.out_refund_no.as_deref(),
            d.detail.as_str(),
            ours,
            theirs,
            if earlier.is_some() { "resolved" } else { "open" },
            earlier.map(|e| e.0.as_str()),
            earlier.map(|e| e.1)
        ]);
    }
    tx.execute(&sql, &values)?;
    Ok(())
}

fn line_json(line: &BillLine) -> DbResult<String> {
    serde_json::to_string(line).map_err(corrupt)
}

const RUN_COLUMNS: &str =
    "SELECT id, channel, day, ran_ms, bill_lines, matched, differences, fee_total_minor, expected_fee_total_minor FROM reconciliation_run";

fn run_row(r: &Row) -> DbResult<Run> {
    let channel = r.text(1)?;
    Ok(Run {
        id: r.uint(0)?,
        channel: ChannelKind::parse(&channel).ok_or_else(|| corrupt(format!("channel {channel}")))?,
        day: r.text(2)?,
        ran_at_ms: r.int(3)?,
        bill_lines: r.uint(4)?,
        matched: r.uint(5)?,
        differences: r.uint(6)?,
        fee_total_minor: r.int(7)?,
        expected_fee_total_minor: r.int(8)?,
    })
}

pub fn run_by_id(tx: &mut dyn Tx, id: u64) -> DbResult<Option<Run>> {
    tx.query_opt(&format!("{RUN_COLUMNS} WHERE id = ?1"), &params![id])?.as_ref().map(run_row).transpose()
}

pub fn runs(tx: &mut dyn Tx, day: Option<&str>, limit: u32) -> DbResult<Vec<Run>> {
    let rows = tx.query(&format!("{RUN_COLUMNS} WHERE (CAST(?1 AS TEXT) IS NULL OR day = ?1) ORDER BY day DESC, channel LIMIT ?2"), &params![day, limit])?;
    rows.iter().map(run_row).collect()
}

pub fn items(tx: &mut dyn Tx, run_id: u64, state: Option<&str>, limit: u32) -> DbResult<Vec<Item>> {
    let rows = tx.query(
        "SELECT id, run_id, kind, out_trade_no, out_refund_no, detail, ours, theirs, state, resolution, resolved_ms FROM reconciliation_item
         WHERE run_id = ?1 AND (CAST(?2 AS TEXT) IS NULL OR state = ?2) ORDER BY id LIMIT ?3",
        &params![run_id, state, limit],
    )?;
    let json = |raw: Option<String>| raw.map(|t| serde_json::from_str(&t).map_err(corrupt)).transpose();
    rows.iter()
        .map(|r| {
            Ok(Item {
                id: r.uint(0)?,
                run_id: r.uint(1)?,
                kind: r.text(2)?,
                out_trade_no: r.text(3)?,
                out_refund_no: r.opt_text(4)?,
                detail: r.text(5)?,
                ours: json(r.opt_text(6)?)?,
                theirs: json(r.opt_text(7)?)?,
                state: r.text(8)?,
                resolution: r.opt_text(9)?,
                resolved_at_ms: r.opt_int(10)?,
            })
        })
        .collect()
}

/// Marks a difference resolved with HQ's note; false when there is no open item `id`.
pub fn resolve(tx: &mut dyn Tx, id: u64, resolution: &str, now_ms: i64) -> DbResult<bool> {
    let changed = tx.execute(
        "UPDATE reconciliation_item SET state = 'resolved', resolution = ?2, resolved_ms = ?3 WHERE id = ?1 AND state = 'open'",
        &params![id, resolution, now_ms],
    )?;
    Ok(changed == 1)
}

/// Each day after `run_at_hour_utc`, reconciles yesterday's bill of every configured channel
/// that has no run for it yet.
pub async fn daily(state: AppState, stop: Stop) {
    let Some(hour) = state.settings.payment.reconcile_at_hour_utc else {
        stop.stopped().await;
        return;
    };
    loop {
        let now = now_ms();
        if now.rem_euclid(DAY_MS) >= i64::from(hour) * 3_600_000 {
            let yesterday = tote_shared::calendar::utc_day(now - DAY_MS);
            for channel in state.channels.kinds().collect::<Vec<_>>() {
                let Some(day) = BillDay::parse(&yesterday) else { continue };
                let (text, label) = (yesterday.clone(), channel.as_str());
                let done = state.db.read(move |tx| -> DbResult<bool> {
                    Ok(tx.query_opt("SELECT 1 FROM reconciliation_run WHERE channel = ?1 AND day = ?2", &params![label, text.as_str()])?.is_some())
                });
                if matches!(done.await, Ok(false)) {
                    if let Err(error) = run(&state, channel, day).await {
                        tracing::error!(channel = label, %error, "daily reconciliation failed; retried in ten minutes");
                    }
                }
            }
        }
        if stop.run_until_stopped(tokio::time::sleep(std::time::Duration::from_secs(600))).await.is_none() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expected_fee_is_a_half_up_share_plus_the_fixed_part_and_refunds_follow_the_contract() {
        let wechat = FeeSettings { rate_bp: 60, fixed_minor: 0, refunded: true };
        assert_eq!(expected_fee(wechat, BillKind::Payment, 69_900), 419); // 419.4
        assert_eq!(expected_fee(wechat, BillKind::Payment, 25), 0); // 0.15
        assert_eq!(expected_fee(wechat, BillKind::Payment, 84), 1); // 0.504 rounds up
        assert_eq!(expected_fee(wechat, BillKind::Refund, 69_900), -419);
        let card = FeeSettings { rate_bp: 290, fixed_minor: 30, refunded: false };
        assert_eq!(expected_fee(card, BillKind::Payment, 10_000), 320);
        assert_eq!(expected_fee(card, BillKind::Refund, 10_000), 0);
    }
}
