//! Logistics' calls outside, made whatever happened to the request that caused them: waybill
//! pools topped up from the carriers (numbers recorded and granted down the warehouse's
//! command stream in one transaction), parcels printed under pool numbers registered with
//! their carrier, cancels HQ asked for finished at the carrier, and every parcel subscribed to
//! the tracking aggregator. Each call is made outside any transaction and its answer applied in
//! one, guarded by the state it was made from; a crash in between repeats the call, which the
//! carrier (orderId) and the aggregator (one subscription per number) make harmless.

use super::carrier_api::{CallError, CarrierApi};
use super::pools::{shortfall, PoolState};
use super::store::{self, DueParcel};
use super::LogisticsError;
use crate::startup::{now_ms, AppState};
use std::collections::HashSet;
use std::time::Duration;
use tote_shared::carrier::sf;
use tote_shared::runtime::supervise::Stop;
use tote_shared::sync::{CommandKind, MAX_WAYBILL_GRANT};
use tote_shared::WarehouseCode;

/// Parcels handled per round.
const ROUND_LIMIT: u32 = 200;
/// Segment requests per pool per round (a carrier answering a few numbers at a time cannot
/// keep a round going).
const SEGMENTS_PER_ROUND: u32 = 20;
/// The longest wait between two attempts of one parcel's step.
const MAX_BACKOFF_MS: i64 = 300_000;
const HOUR_MS: i64 = 3_600_000;

pub async fn run(state: AppState, stop: Stop) {
    let every = Duration::from_millis(state.settings.logistics.dispatch_interval_ms);
    loop {
        if let Err(error) = round(&state).await {
            tracing::error!(%error, "logistics dispatch round failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            () = stop.stopped() => return,
        }
    }
}

/// What one round did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Round {
    pub numbers_granted: u64,
    pub registered: u32,
    pub subscribed: u32,
    pub cancelled: u32,
    /// Returns booked and cancelled at carriers (`returns`).
    pub returns_booked: u32,
    pub returns_cancelled: u32,
    /// Carriers (and `aggregator`) that failed this round: not called again until the next.
    pub down: HashSet<String>,
}

const AGGREGATOR: &str = "aggregator";

pub async fn round(state: &AppState) -> Result<Round, LogisticsError> {
    let mut done = Round::default();
    refill(state, &mut done).await?;
    let subscribe = state.carriers.aggregator.is_some();
    let now = now_ms();
    let due = state.db.read(move |tx| store::due_parcels(tx, now, subscribe, ROUND_LIMIT)).await?;
    for parcel in due {
        match step(state, &parcel, &mut done).await {
            Ok(()) => {}
            Err(Step::Later(why)) => {
                let wait = (state.settings.logistics.dispatch_interval_ms as i64).saturating_mul(1 << parcel.attempts.min(16)).min(MAX_BACKOFF_MS);
                let (waybill, next) = (parcel.waybill.clone(), now_ms() + wait);
                tracing::warn!(waybill = %parcel.waybill, attempts = parcel.attempts + 1, %why, "logistics call failed; will retry");
                state.db.write(move |tx| store::postponed(tx, &waybill, &why, next)).await?;
            }
            Err(Step::Db(error)) => return Err(error),
        }
    }
    super::returns::round(state, &mut done).await?;
    Ok(done)
}

/// Tops up every pool below its target from its carrier; a carrier that cannot be reached is
/// left for the next round.
async fn refill(state: &AppState, done: &mut Round) -> Result<(), LogisticsError> {
    let since = now_ms() - 24 * HOUR_MS;
    let pools = state.db.read(move |tx| store::pools(tx, since, false)).await?;
    let rule = state.settings.logistics.pools;
    for pool in pools {
        let Some(api) = state.carriers.carriers.get(&pool.carrier) else { continue };
        let Ok(warehouse) = WarehouseCode::parse(&pool.warehouse) else { continue };
        let mut free = pool.free;
        for _ in 0..SEGMENTS_PER_ROUND {
            if done.down.contains(&pool.carrier) {
                break;
            }
            let count = shortfall(&rule, &PoolState { free, busiest_hour: pool.busiest_hour }, sf::MAX_SEGMENT);
            if count == 0 {
                break;
            }
            let numbers = match api.apply_waybills(count).await {
                Ok(numbers) if !numbers.is_empty() => numbers,
                Ok(_) => break,
                Err(error) => {
                    tracing::warn!(carrier = %pool.carrier, %error, "waybill segment not issued; the pools keep what they hold");
                    done.down.insert(pool.carrier.clone());
                    break;
                }
            };
            let n = grant(state, &warehouse, &pool.carrier, numbers).await?;
            if n == 0 {
                break;
            }
            free += n;
            done.numbers_granted += n;
        }
    }
    Ok(())
}

/// Records the numbers as `warehouse`'s and sends them down its command stream, one
/// transaction; returns how many were new.
async fn grant(state: &AppState, warehouse: &WarehouseCode, carrier: &str, numbers: Vec<String>) -> Result<u64, LogisticsError> {
    let (warehouse, carrier) = (warehouse.clone(), carrier.to_owned());
    let now = now_ms();
    state
        .write(move |tx| -> Result<u64, LogisticsError> {
            let fresh = store::record_waybills(tx, &carrier, warehouse.as_str(), &numbers, now)?;
            for chunk in fresh.chunks(MAX_WAYBILL_GRANT) {
                let kind = CommandKind::WaybillGrant { carrier: carrier.clone(), numbers: chunk.to_vec() };
                crate::edge_sync::commands::enqueue(tx, &warehouse, &kind, now)?;
            }
            Ok(fresh.len() as u64)
        })
        .await
}

enum Step {
    /// Try again after a backoff, for this reason.
    Later(String),
    Db(LogisticsError),
}

impl From<LogisticsError> for Step {
    fn from(e: LogisticsError) -> Step {
        Step::Db(e)
    }
}

impl From<crate::db::DbError> for Step {
    fn from(e: crate::db::DbError) -> Step {
        Step::Db(e.into())
    }
}

/// A transient failure of `who`: no more calls to it this round.
fn unreachable(done: &mut Round, who: &str, error: &CallError) -> Step {
    if error.is_transient() {
        done.down.insert(who.to_owned());
    }
    Step::Later(error.to_string())
}

async fn step(state: &AppState, parcel: &DueParcel, done: &mut Round) -> Result<(), Step> {
    if done.down.contains(&parcel.carrier) && parcel.registration != "registered" && parcel.registration != "manual" {
        return Err(Step::Later(format!("{} unreachable this round", parcel.carrier)));
    }
    if parcel.registration == "cancelling" {
        return finish_cancel(state, parcel, done).await.map(|_| ());
    }
    if parcel.registration == "pending" && !register(state, parcel, done).await? {
        return Ok(());
    }
    if parcel.subscription != "pending" {
        return Ok(());
    }
    let Some(aggregator) = &state.carriers.aggregator else { return Ok(()) };
    if done.down.contains(AGGREGATOR) {
        return Err(Step::Later("the aggregator is unreachable this round".into()));
    }
    if let Err(error) = aggregator.subscribe(&parcel.carrier, &parcel.waybill).await {
        return Err(unreachable(done, AGGREGATOR, &error));
    }
    let waybill = parcel.waybill.clone();
    state.db.write(move |tx| store::subscribed(tx, &waybill)).await?;
    done.subscribed += 1;
    Ok(())
}

/// Registers a pool parcel with its carrier. True when it is now registered (and may be
/// subscribed); false when the carrier refused it for good or HQ cancelled it meanwhile.
async fn register(state: &AppState, parcel: &DueParcel, done: &mut Round) -> Result<bool, Step> {
    let Some(api) = state.carriers.carriers.get(&parcel.carrier) else {
        return Err(Step::Later(format!("no platform configured for carrier {}", parcel.carrier)));
    };
    let order = create_order(state, parcel, api).await?;
    let outcome = match api.register(&order, &parcel.waybill).await {
        Ok(result) => Ok(result.route_label_info.first().map(|l| l.route_label_data.dest_route_label.clone()).filter(|l| !l.is_empty())),
        Err(CallError::Business { code, message }) => Err(format!("{code} {message}")),
        Err(other) => return Err(unreachable(done, &parcel.carrier, &other)),
    };
    if let Err(why) = &outcome {
        tracing::error!(waybill = %parcel.waybill, carrier = %parcel.carrier, %why, "the carrier refused the parcel's registration");
    }
    let registered = outcome.is_ok();
    let waybill = parcel.waybill.clone();
    // Guarded by `pending`: a cancel HQ asked for meanwhile stays, and the next round finishes
    // it at the carrier (which now holds the order).
    let kept = state.db.write(move |tx| store::registered(tx, &waybill, outcome.as_ref().map(Option::as_deref).map_err(String::as_str))).await?;
    if kept && registered {
        done.registered += 1;
    }
    Ok(kept && registered)
}

/// The carrier's order id for a parcel: unique per parcel, the same on every attempt.
pub fn carrier_order_id(order_id: u64, waybill: &str) -> String {
    format!("TOTE-{order_id}-{waybill}")
}

/// How a cancel ended at the carrier.
enum Cancelled {
    Done,
    /// The carrier has the parcel (picked up): it stays registered.
    Refused(String),
}

/// Cancels a `cancelling` parcel's order at its carrier (an order the carrier never got counts
/// as cancelled) and records the answer.
async fn finish_cancel(state: &AppState, parcel: &DueParcel, done: &mut Round) -> Result<Cancelled, Step> {
    let answer = match state.carriers.carriers.get(&parcel.carrier) {
        // Without a platform nothing was ever registered.
        None => Cancelled::Done,
        Some(api) => match api.cancel(&carrier_order_id(parcel.order_id, &parcel.waybill)).await {
            Ok(()) => Cancelled::Done,
            Err(CallError::Business { code, .. }) if code == sf::NO_ORDER => Cancelled::Done,
            Err(CallError::Business { code, message }) => Cancelled::Refused(format!("{code} {message}")),
            Err(other) => return Err(unreachable(done, &parcel.carrier, &other)),
        },
    };
    let (waybill, now) = (parcel.waybill.clone(), now_ms());
    let outcome = match &answer {
        Cancelled::Done => Ok(()),
        Cancelled::Refused(why) => Err(why.clone()),
    };
    state.write(move |tx| super::cancel_finished(tx, &waybill, outcome.as_ref().map(|_| ()).map_err(String::as_str), now)).await?;
    if matches!(answer, Cancelled::Done) {
        done.cancelled += 1;
    }
    Ok(answer)
}

/// HQ cancels a parcel's carrier order (a parcel that will not be handed over: a damaged box,
/// a label printed again). The parcel becomes `cancelling` at once — so a registration in
/// flight cannot slip past — and the carrier is asked now; if it cannot be reached, the
/// dispatcher asks again until it answers. 409 when the carrier has picked the parcel up or
/// the parcel is not the carrier's to cancel (a typed paper waybill). Audited.
pub async fn cancel(state: &AppState, waybill: &str) -> Result<store::ParcelView, LogisticsError> {
    let (number, now) = (waybill.to_owned(), now_ms());
    let before = state
        .write(move |tx| -> Result<_, LogisticsError> {
            let before = store::begin_cancel(tx, &number)?;
            if before.as_deref().is_some_and(|b| matches!(b, "pending" | "refused" | "registered")) {
                crate::audit::store::append(tx, now, "admin", "parcel_cancel_asked", &format!("waybill:{number}"), &serde_json::json!({ "was": before }))?;
            }
            Ok(before)
        })
        .await?
        .ok_or_else(|| LogisticsError::NotFound(format!("parcel {waybill}")))?;
    if !matches!(before.as_str(), "pending" | "refused" | "registered" | "cancelling") {
        return Err(LogisticsError::Conflict(format!("a {before} parcel cannot be cancelled here")));
    }
    let number = waybill.to_owned();
    let parcel = state.db.read(move |tx| store::due_parcel(tx, &number)).await?.ok_or_else(|| LogisticsError::NotFound(format!("parcel {waybill}")))?;
    if parcel.registration == "cancelling" {
        match finish_cancel(state, &parcel, &mut Round::default()).await {
            Ok(Cancelled::Done) => {}
            Ok(Cancelled::Refused(why)) => return Err(LogisticsError::Conflict(format!("{} would not cancel: {why}", parcel.carrier))),
            // Unreachable: stays cancelling; the dispatcher finishes it.
            Err(Step::Later(why)) => tracing::warn!(waybill, %why, "cancel not confirmed by the carrier yet; the dispatcher will ask again"),
            Err(Step::Db(error)) => return Err(error),
        }
    }
    let number = waybill.to_owned();
    state.db.read(move |tx| store::parcel(tx, &number)).await?.ok_or_else(|| LogisticsError::NotFound(format!("parcel {waybill}")))
}

/// The carrier order for a parcel: our waybill number, the service and weight quoted at
/// release, the consignee and contents kept with the parcel, the warehouse as sender.
async fn create_order(state: &AppState, parcel: &DueParcel, api: &CarrierApi) -> Result<sf::CreateOrder, Step> {
    let Some(consignment) = &parcel.consignment else {
        return Err(Step::Later(format!("parcel {} has no consignee", parcel.waybill)));
    };
    let (order_id, warehouse, carrier) = (parcel.order_id, parcel.warehouse.clone(), parcel.carrier.clone());
    let quoted = state.db.read(move |tx| store::quoted(tx, order_id, &warehouse, &carrier)).await?;
    let (service, weight_g) = quoted.map(|q| (q.service, q.chargeable_g)).unwrap_or((None, None));
    let express_type_id = service.as_deref().and_then(sf::express_type).unwrap_or(2);
    let to = &consignment.ship_to;
    let province = tote_shared::geo::city_province(&to.city).map(|(_, p)| p.to_owned()).unwrap_or_default();
    Ok(sf::CreateOrder {
        order_id: carrier_order_id(parcel.order_id, &parcel.waybill),
        express_type_id,
        pay_method: 1,
        monthly_card: api.monthly_card.clone(),
        total_weight: weight_g.unwrap_or(0) as f64 / 1000.0,
        cargo_details: consignment.lines.iter().map(|l| sf::Cargo { name: l.sku.to_string(), count: l.qty.get() }).collect(),
        contact_info_list: vec![
            sf::Contact { contact_type: 1, contact: format!("Tote {}", parcel.warehouse), province: String::new(), city: String::new(), address: parcel.warehouse.clone(), post_code: String::new() },
            sf::Contact { contact_type: 2, contact: to.name.clone(), province, city: to.city.clone(), address: to.line1.clone(), post_code: to.postcode.clone() },
        ],
        waybill_no_info_list: vec![sf::WaybillNo { waybill_type: 1, waybill_no: parcel.waybill.clone() }],
        is_return_routelabel: 1,
    })
}
