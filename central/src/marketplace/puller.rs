//! Each marketplace's loop: pull the trades changed since the cursor (less an overlap, so a
//! trade the platform indexed late is still seen), import the paid ones, cancel the orders of
//! closed ones, then send the confirmations due. Calls are made outside any transaction;
//! each page of trades is applied in one, and the cursor moves only once a window's pages are
//! all applied — a crash repeats the window, which the imports' keys make harmless.

use super::client::{CallError, MarketplaceApi};
use super::flow::{self, Imported};
use super::{backoff_ms, from_trade, store, ConfirmState, MarketplaceError};
use crate::db::DbError;
use crate::startup::{now_ms, AppState};
use std::sync::Arc;
use std::time::Duration;
use tote_shared::marketplace::{self as top, sub_code, Trade};
use tote_shared::runtime::supervise::Stop;

/// Pages one window may have (100 trades each); a window with more is halved.
const MAX_PAGES: u32 = 500;
/// Windows one round may pull while catching up (a day each).
const MAX_WINDOWS: u32 = 31;
/// Confirmations sent per round.
const CONFIRMATIONS_PER_ROUND: u32 = 200;

pub async fn run(state: AppState, api: Arc<MarketplaceApi>, stop: Stop) {
    let every = Duration::from_millis(api.settings.poll_interval_ms);
    loop {
        match pull(&state, &api).await {
            Ok(pulled) if pulled != Pulled::default() => tracing::info!(marketplace = api.name(), ?pulled, "marketplace trades pulled"),
            Ok(_) => {}
            Err(error) => tracing::warn!(marketplace = api.name(), %error, "marketplace pull failed; the next round repeats it"),
        }
        if let Err(error) = confirm(&state, &api).await {
            tracing::error!(marketplace = api.name(), %error, "marketplace confirmations failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            () = stop.stopped() => return,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error(transparent)]
    Call(#[from] CallError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("{0}")]
    Import(String),
}

/// What a pull did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pulled {
    pub imported: u32,
    pub existing: u32,
    pub refused: u32,
    pub cancelled: u32,
}

/// Pulls from the cursor up to a second ago, at most a day's window at a time; a window with
/// more trades than `MAX_PAGES` pages is halved until it fits.
pub async fn pull(state: &AppState, api: &MarketplaceApi) -> Result<Pulled, PullError> {
    let name = api.name().to_owned();
    let s = &api.settings;
    let mut pulled = Pulled::default();
    for _ in 0..MAX_WINDOWS {
        // Up to a second ago, in whole seconds: a trade changed from now on carries a later
        // `modified`, so it cannot slip into a window being read.
        let now = now_ms();
        let until = (now / 1_000) * 1_000 - 1_000;
        let lookup = name.clone();
        let cursor = state.db.read(move |tx| store::cursor(tx, &lookup)).await?;
        let reached = cursor.map_or(now - s.initial_lookback_ms as i64, |(modified, _, _)| modified);
        let start = (reached - s.overlap_ms as i64).max(0);
        let mut end = (start + top::MAX_WINDOW_MS - 1_000).min(until).max(start);
        let outcome = loop {
            match pull_window(state, api, start, end, &mut pulled).await {
                Err(PullError::Call(CallError::TooMany(_))) if end - start > 1_000 => end = start + (end - start) / 2,
                other => break other,
            }
        };
        if let Err(error) = outcome {
            let (lookup, text) = (name.clone(), error.to_string());
            state.write(move |tx| store::pull_failed(tx, &lookup, reached, &text, now)).await?;
            return Err(error);
        }
        let lookup = name.clone();
        state.write(move |tx| store::advance(tx, &lookup, end, now)).await?;
        if end >= until {
            break;
        }
    }
    Ok(pulled)
}

/// One window, its pages read from the last to the first: a trade that changes meanwhile
/// leaves the window (its `modified` moves past `end`), which shifts the trades after it
/// towards pages still to be read, never onto one already read. The changed trade is in a
/// later window.
async fn pull_window(state: &AppState, api: &MarketplaceApi, start: i64, end: i64, pulled: &mut Pulled) -> Result<(), PullError> {
    let first = api.trades(start, end, 1).await?;
    let pages = first.total_results.div_ceil(u64::from(top::MAX_PAGE_SIZE));
    if pages > u64::from(MAX_PAGES) {
        return Err(CallError::TooMany(first.total_results).into());
    }
    for page_no in (1..=pages as u32).rev() {
        let trades = if page_no == 1 { first.trades.trade.clone() } else { api.trades(start, end, page_no).await?.trades.trade };
        for trade in trades {
            // One transaction per trade: an import locks its stock rows, and holding many
            // imports' rows at once would stall intake on the same SKUs.
            let name = api.name().to_owned();
            match state.write(move |tx| apply_trade(tx, &name, &trade)).await {
                Ok(outcome) => pulled.count(outcome),
                Err(MarketplaceError::Db(e)) => return Err(e.into()),
                Err(other) => return Err(PullError::Import(other.to_string())),
            }
        }
    }
    Ok(())
}

/// What one trade did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Imported,
    Existing,
    Refused,
    Cancelled,
    Nothing,
}

impl Pulled {
    fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Imported => self.imported += 1,
            Outcome::Existing => self.existing += 1,
            Outcome::Refused => self.refused += 1,
            Outcome::Cancelled => self.cancelled += 1,
            Outcome::Nothing => {}
        }
    }
}

fn apply_trade(tx: &mut dyn crate::db::Tx, marketplace: &str, trade: &Trade) -> Result<Outcome, MarketplaceError> {
    let now = now_ms();
    let id = trade.tid.to_string();
    Ok(match trade.status.as_str() {
        top::WAIT_SELLER_SEND_GOODS => match from_trade(trade) {
            Ok(order) => match flow::import(tx, marketplace, &order, now) {
                Ok(Imported::Created(_)) => Outcome::Imported,
                Ok(Imported::Existing(_)) => Outcome::Existing,
                Ok(Imported::Refused(_)) => Outcome::Refused,
                // Imported before with other content: HQ's (noted on the import, logged).
                Err(MarketplaceError::Changed(why)) => {
                    tracing::warn!(marketplace, tid = trade.tid, %why, "a changed marketplace order was not applied");
                    store::set_note(tx, marketplace, &id, &format!("changed at the marketplace after import, not applied: {why}"), now)?;
                    Outcome::Nothing
                }
                Err(other) => return Err(other),
            },
            Err(why) => {
                flow::refuse_unreadable(tx, marketplace, &id, &why, now)?;
                Outcome::Refused
            }
        },
        top::TRADE_CLOSED if flow::trade_closed(tx, marketplace, &id, now)? => Outcome::Cancelled,
        _ => Outcome::Nothing,
    })
}

/// Sends the confirmations due; returns how many the marketplace now has.
pub async fn confirm(state: &AppState, api: &MarketplaceApi) -> Result<u32, DbError> {
    let name = api.name().to_owned();
    let now = now_ms();
    let due = state.db.read(move |tx| store::due_confirmations(tx, &name, now, CONFIRMATIONS_PER_ROUND)).await?;
    let mut confirmed = 0;
    for d in due {
        let result = api.confirm(&d.external_id, &d.carrier, &d.tracking_number).await;
        let now = now_ms();
        let retry = now + backoff_ms(d.attempts);
        let unreachable = matches!(result, Err(ref e) if e.is_transient() || e.is_account());
        let (outcome, error, next) = match result {
            Ok(sent) if sent.shipping.is_success => (ConfirmState::Confirmed, None, now),
            Ok(_) => (ConfirmState::Pending, Some("the marketplace answered is_success false".to_owned()), retry),
            Err(CallError::Refused(e)) if e.sub_code == sub_code::ALREADY_CONSIGNED => match top::parse_consigned(&e.sub_msg) {
                // Our own earlier confirmation whose answer was lost.
                Some((_, out_sid)) if out_sid == d.tracking_number => (ConfirmState::Confirmed, None, now),
                _ => (ConfirmState::Attention, Some(format!("the marketplace holds another shipment: {}", e.sub_msg)), now),
            },
            // The account (session, signature, clock) or the platform: nothing about this
            // trade, so it waits and the round stops.
            Err(e) if e.is_transient() || e.is_account() => (ConfirmState::Pending, Some(e.to_string()), retry),
            Err(e) => (ConfirmState::Attention, Some(e.to_string()), now),
        };
        if outcome == ConfirmState::Confirmed {
            confirmed += 1;
        }
        if outcome == ConfirmState::Attention {
            tracing::error!(marketplace = api.name(), order_id = d.order_id, error = error.as_deref().unwrap_or(""), "a shipment confirmation needs HQ");
        }
        state.write(move |tx| store::confirmation_outcome(tx, d.order_id, outcome, error.as_deref(), next, now)).await?;
        if unreachable {
            break; // the platform is struggling: the rest wait for the next round
        }
    }
    Ok(confirmed)
}
