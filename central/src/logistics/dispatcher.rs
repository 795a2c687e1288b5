//! Logistics' calls outside, made whatever happened to the request that caused them: waybill
//! pools topped up from the carriers (numbers recorded and granted down the warehouse's
//! command stream in one transaction), parcels printed under pool numbers registered with
//! their carrier, and every parcel subscribed to the tracking aggregator. Each call is made
//! outside any transaction and its answer applied in one; a crash in between repeats the call,
//! which the carrier (orderId) and the aggregator (one subscription per number) make harmless.

use super::carrier_api::{CallError, CarrierApi};
use super::pools::{shortfall, PoolState};
use super::store::{self, DueParcel};
use super::LogisticsError;
use crate::startup::{now_ms, AppState};
use std::time::Duration;
use tote_shared::carrier::sf;
use tote_shared::runtime::supervise::Stop;
use tote_shared::sync::{CommandKind, MAX_WAYBILL_GRANT};
use tote_shared::WarehouseCode;

/// Parcels handled per round.
const ROUND_LIMIT: u32 = 200;
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
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    pub numbers_granted: u64,
    pub registered: u32,
    pub subscribed: u32,
}

pub async fn round(state: &AppState) -> Result<Round, LogisticsError> {
    let mut done = Round { numbers_granted: refill(state).await?, ..Round::default() };
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
    Ok(done)
}

/// Tops up every pool below its target from its carrier; a carrier that cannot be reached is
/// left for the next round.
async fn refill(state: &AppState) -> Result<u64, LogisticsError> {
    let since = now_ms() - 24 * HOUR_MS;
    let pools = state.db.read(move |tx| store::pools(tx, since)).await?;
    let rule = state.settings.logistics.pools;
    let mut granted = 0;
    let mut unreachable: Vec<String> = Vec::new();
    for pool in pools {
        let Some(api) = state.carriers.carriers.get(&pool.carrier) else { continue };
        if unreachable.contains(&pool.carrier) {
            continue;
        }
        let Ok(warehouse) = WarehouseCode::parse(&pool.warehouse) else { continue };
        let mut free = pool.free;
        loop {
            let count = shortfall(&rule, &PoolState { free, busiest_hour: pool.busiest_hour }, sf::MAX_SEGMENT);
            if count == 0 {
                break;
            }
            let numbers = match api.apply_waybills(count).await {
                Ok(numbers) if !numbers.is_empty() => numbers,
                Ok(_) => break,
                Err(error) => {
                    tracing::warn!(carrier = %pool.carrier, %error, "waybill segment not issued; the pools keep what they hold");
                    unreachable.push(pool.carrier.clone());
                    break;
                }
            };
            let n = grant(state, &warehouse, &pool.carrier, numbers).await?;
            if n == 0 {
                break;
            }
            free += n;
            granted += n;
        }
    }
    Ok(granted)
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
                crate::edge_sync::commands::enqueue(tx, &warehouse, &kind, now).map_err(|e| LogisticsError::NotFound(e.to_string()))?;
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

async fn step(state: &AppState, parcel: &DueParcel, done: &mut Round) -> Result<(), Step> {
    let mut registration = parcel.registration.clone();
    if registration == "pending" {
        let Some(api) = state.carriers.carriers.get(&parcel.carrier) else {
            return Err(Step::Later(format!("no platform configured for carrier {}", parcel.carrier)));
        };
        let order = create_order(state, parcel, api).await?;
        let outcome = match api.register(&order).await {
            Ok(result) => Ok(result.route_label_info.first().map(|l| l.route_label_data.dest_route_label.clone()).unwrap_or_default()),
            Err(CallError::Business { code, message }) => Err(format!("{code} {message}")),
            Err(other) => return Err(Step::Later(other.to_string())),
        };
        if let Err(why) = &outcome {
            tracing::error!(waybill = %parcel.waybill, carrier = %parcel.carrier, %why, "the carrier refused the parcel's registration");
        }
        registration = if outcome.is_ok() { "registered".into() } else { "refused".into() };
        let (waybill, taken) = (parcel.waybill.clone(), outcome.is_ok());
        let kept = state.db.write(move |tx| store::registered(tx, &waybill, outcome.as_ref().map(String::as_str).map_err(String::as_str))).await?;
        if !kept {
            // HQ cancelled the parcel while the registration was out: undo it at the carrier.
            if taken {
                if let Err(error) = api.cancel(&order.order_id).await {
                    tracing::error!(waybill = %parcel.waybill, %error, "a cancelled parcel was registered and the carrier would not cancel it; cancel it by hand");
                }
            }
            return Ok(());
        }
        done.registered += 1;
    }
    if registration == "refused" || parcel.subscription != "pending" {
        return Ok(());
    }
    let Some(aggregator) = &state.carriers.aggregator else { return Ok(()) };
    aggregator.subscribe(&parcel.carrier, &parcel.waybill).await.map_err(|e| Step::Later(e.to_string()))?;
    let waybill = parcel.waybill.clone();
    state.db.write(move |tx| store::subscribed(tx, &waybill)).await?;
    done.subscribed += 1;
    Ok(())
}

/// The carrier's order id for a parcel: unique per parcel, the same on every attempt.
pub fn carrier_order_id(order_id: u64, waybill: &str) -> String {
    format!("TOTE-{order_id}-{waybill}")
}

/// Cancels a parcel's carrier order (a parcel that will not be handed over: a damaged box,
/// a label reprinted). A parcel not registered yet is cancelled here only; a registered one
/// at the carrier first, which refuses once it picked the parcel up. Audited.
pub async fn cancel(state: &AppState, waybill: &str) -> Result<store::ParcelView, LogisticsError> {
    let number = waybill.to_owned();
    let parcel = state.db.read(move |tx| store::parcel(tx, &number)).await?.ok_or_else(|| LogisticsError::NotFound(format!("parcel {waybill}")))?;
    match parcel.registration.as_str() {
        "registered" => {
            let api = state.carriers.carriers.get(&parcel.carrier).ok_or_else(|| LogisticsError::Conflict(format!("no platform configured for carrier {}", parcel.carrier)))?;
            match api.cancel(&carrier_order_id(parcel.order_id, waybill)).await {
                Ok(()) => {}
                Err(CallError::Business { code, message }) if code == sf::NOT_CANCELLABLE => {
                    return Err(LogisticsError::Conflict(format!("{} picked the parcel up already: {message}", parcel.carrier)))
                }
                Err(other) => return Err(LogisticsError::Carrier(other.to_string())),
            }
        }
        "pending" | "refused" => {}
        other => return Err(LogisticsError::Conflict(format!("a {other} parcel cannot be cancelled here"))),
    }
    let (number, now) = (waybill.to_owned(), now_ms());
    state
        .write(move |tx| -> Result<_, LogisticsError> {
            store::cancel_parcel(tx, &number)?;
            crate::audit::store::append(tx, now, "admin", "parcel_cancelled", &format!("waybill:{number}"), &serde_json::json!({}))?;
            store::parcel(tx, &number)?.ok_or_else(|| LogisticsError::NotFound(format!("parcel {number}")))
        })
        .await
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
