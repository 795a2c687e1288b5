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

/// Pages one window may have (100 trades each).
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
    #[error("more than {MAX_PAGES} pages in one window")]
    TooMany,
}

/// What a pull did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pulled {
    pub imported: u32,
    pub existing: u32,
    pub refused: u32,
    pub cancelled: u32,
}

/// Pulls from the cursor up to now, a day's window at a time.
pub async fn pull(state: &AppState, api: &MarketplaceApi) -> Result<Pulled, PullError> {
    let name = api.name().to_owned();
    let s = &api.settings;
    let mut pulled = Pulled::default();
    for _ in 0..MAX_WINDOWS {
        let now = now_ms();
        let lookup = name.clone();
        let cursor = state.db.read(move |tx| store::cursor(tx, &lookup)).await?;
        let reached = cursor.map_or(now - s.initial_lookback_ms as i64, |(modified, _, _)| modified);
        let start = (reached - s.overlap_ms as i64).max(0);
        let end = (start + top::MAX_WINDOW_MS - 1_000).min(now);
        if let Err(error) = pull_window(state, api, start, end, &mut pulled).await {
            let (lookup, text) = (name.clone(), error.to_string());
            state.write(move |tx| store::pull_failed(tx, &lookup, reached, &text, now)).await?;
            return Err(error);
        }
        let lookup = name.clone();
        state.write(move |tx| store::advance(tx, &lookup, end, now)).await?;
        if end >= now {
            break;
        }
    }
    Ok(pulled)
}

async fn pull_window(state: &AppState, api: &MarketplaceApi, start: i64, end: i64, pulled: &mut Pulled) -> Result<(), PullError> {
    for page_no in 1..=MAX_PAGES {
        let page = api.trades(start, end, page_no).await?;
        let name = api.name().to_owned();
        let trades = Arc::new(page.trades.trade);
        let outcome = state.write(move |tx| -> Result<Pulled, MarketplaceError> { apply_page(tx, &name, &trades) }).await;
        match outcome {
            Ok(p) => {
                pulled.imported += p.imported;
                pulled.existing += p.existing;
                pulled.refused += p.refused;
                pulled.cancelled += p.cancelled;
            }
            Err(MarketplaceError::Db(e)) => return Err(e.into()),
            Err(other) => return Err(DbError::corrupt(other.to_string()).into()),
        }
        if !page.has_next {
            return Ok(());
        }
    }
    Err(PullError::TooMany)
}

/// One page in one transaction.
fn apply_page(tx: &mut dyn crate::db::Tx, marketplace: &str, trades: &[Trade]) -> Result<Pulled, MarketplaceError> {
    let now = now_ms();
    let mut pulled = Pulled::default();
    for trade in trades {
        match trade.status.as_str() {
            top::WAIT_SELLER_SEND_GOODS => match from_trade(trade) {
                Ok(order) => match flow::import(tx, marketplace, &order, now) {
                    Ok(Imported::Created(_)) => pulled.imported += 1,
                    Ok(Imported::Existing(_)) => pulled.existing += 1,
                    Ok(Imported::Refused(_)) => pulled.refused += 1,
                    // Imported before with other content: HQ's (logged, the pull goes on).
                    Err(MarketplaceError::Changed(why)) => tracing::warn!(marketplace, tid = trade.tid, %why, "a changed marketplace order was not applied"),
                    Err(other) => return Err(other),
                },
                Err(why) => {
                    flow::refuse_unreadable(tx, marketplace, &trade.tid.to_string(), &why, now)?;
                    pulled.refused += 1;
                }
            },
            top::TRADE_CLOSED if flow::trade_closed(tx, marketplace, &trade.tid.to_string(), now)? => pulled.cancelled += 1,
            _ => {}
        }
    }
    Ok(pulled)
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
        let unreachable = matches!(result, Err(ref e) if e.is_transient());
        let (outcome, error, next) = match result {
            Ok(sent) if sent.shipping.is_success => (ConfirmState::Confirmed, None, now),
            Ok(_) => (ConfirmState::Pending, Some("the marketplace answered is_success false".to_owned()), retry),
            Err(CallError::Refused(e)) if e.sub_code == sub_code::ALREADY_CONSIGNED => match top::parse_consigned(&e.sub_msg) {
                // Our own earlier confirmation whose answer was lost.
                Some((_, out_sid)) if out_sid == d.tracking_number => (ConfirmState::Confirmed, None, now),
                _ => (ConfirmState::Attention, Some(format!("the marketplace holds another shipment: {}", e.sub_msg)), now),
            },
            Err(e) if e.is_transient() => (ConfirmState::Pending, Some(e.to_string()), retry),
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
