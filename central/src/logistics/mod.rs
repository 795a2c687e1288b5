//! Logistics: carriers and their rate cards, and the carrier chosen for each parcel when its
//! order is released to a warehouse. Not the packing (the edge packs and prints) nor the money
//! (finance books freight from the journal).
//!
//! `rates.rs` and `choice.rs` are the pure rules (a quote to the fen; the cheapest service
//! that keeps the promise, within the house rules); `csv.rs` reads rate cards; this file turns
//! an order into a parcel and a request; `store.rs` owns the `lg_*` tables; `http.rs` the
//! routes.

pub mod carrier_api;
pub mod choice;
pub mod csv;
pub mod dispatcher;
pub mod http;
pub mod intake;
pub mod kpi;
pub mod pools;
pub mod rates;
pub mod returns;
pub mod statement;
pub mod store;
pub mod tracking;

#[cfg(test)]
mod tests;

use crate::catalog::ShippingSpec;
use crate::db::{DbResult, Tx};
use choice::{choose, Choice, Request, Rules};
use rates::{Parcel, MAX_PARCEL_VOLUME_MM3, MAX_PARCEL_WEIGHT_G};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tote_shared::calendar::DAY_MS;
use tote_shared::sync::{OrderLine, ShipVia};
use tote_shared::WarehouseCode;

/// China Standard Time (UTC+8): rate cards are dated in it, carriers and aggregators write it.
pub const CHINA_OFFSET_MS: i64 = 8 * 3_600_000;

/// The house rules HQ sets for every choice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Parcels declaring at least this much (minor units) are insured.
    #[schema(minimum = 0, maximum = 10000000000_i64)]
    pub insure_from: i64,
    /// Parcels declaring at least this much go only to carriers that insure and take a signature.
    #[schema(minimum = 0, maximum = 10000000000_i64)]
    pub high_value_from: i64,
    /// Days from hand-over to the door an order is promised, unless its channel says otherwise.
    #[schema(minimum = 1, maximum = 60)]
    pub promise_days: u32,
    /// Per sales channel (`app`, `next-day`, …).
    #[serde(default)]
    pub channel_promise_days: BTreeMap<String, u32>,
    /// Assumed for a SKU the catalog has not measured.
    #[schema(minimum = 1, maximum = 1000000)]
    pub default_weight_g: u32,
    /// Assumed side of an unmeasured SKU's (cubic) box.
    #[schema(minimum = 1, maximum = 10000)]
    pub default_side_mm: u32,
}

impl Policy {
    pub fn rules(&self) -> Rules {
        Rules {
            insure_from: self.insure_from,
            high_value_from: self.high_value_from,
        }
    }

    pub fn promise_for(&self, channel: &str) -> u32 {
        self.channel_promise_days
            .get(channel)
            .copied()
            .unwrap_or(self.promise_days)
    }

    /// What makes a policy unusable, if anything.
    pub fn problem(&self) -> Option<String> {
        let money = 0..=tote_shared::Money::MAX_MINOR;
        if !money.contains(&self.insure_from) || !money.contains(&self.high_value_from) {
            return Some("insure_from and high_value_from must be 0 to 10000000000".into());
        }
        // A high-value parcel must be insured too.
        if self.high_value_from < self.insure_from {
            return Some("high_value_from must not be below insure_from".into());
        }
        let days = 1..=csv::MAX_TRANSIT_DAYS;
        if !days.contains(&self.promise_days)
            || self
                .channel_promise_days
                .values()
                .any(|d| !days.contains(d))
        {
            return Some(format!(
                "promised days must be 1 to {}",
                csv::MAX_TRANSIT_DAYS
            ));
        }
        if self.channel_promise_days.len() > 100
            || self
                .channel_promise_days
                .keys()
                .any(|c| c.is_empty() || c.len() > 32)
        {
            return Some("at most 100 channels, each named in 1 to 32 characters".into());
        }
        if !(1..=1_000_000).contains(&self.default_weight_g)
            || !(1..=10_000).contains(&self.default_side_mm)
        {
            return Some(
                "default_weight_g must be 1 to 1000000 and default_side_mm 1 to 10000".into(),
            );
        }
        None
    }
}

/// A choice as kept: for which order, from which warehouse, the parcel as quoted and every
/// carrier service considered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StoredChoice {
    pub order_id: u64,
    pub warehouse: String,
    pub decided_ms: i64,
    pub promise_days: u32,
    /// Destination province; None when the ship-to city is not in the city table.
    pub province: Option<String>,
    pub parcel: Parcel,
    #[serde(flatten)]
    pub choice: Choice,
}

/// The parcel an order's lines make: weights summed, volumes summed (the packed box is taken
/// as their sum), the longest side of any unit, goods value declared, fragile if any unit is.
/// Unmeasured SKUs count with the policy's defaults.
pub fn parcel_of(
    order: &Released<'_>,
    specs: &std::collections::HashMap<tote_shared::Sku, ShippingSpec>,
    policy: &Policy,
) -> Parcel {
    let side = u64::from(policy.default_side_mm);
    let assumed = ShippingSpec {
        weight_g: policy.default_weight_g,
        length_mm: policy.default_side_mm,
        width_mm: policy.default_side_mm,
        height_mm: policy.default_side_mm,
        fragile: false,
    };
    let mut parcel = Parcel {
        weight_g: 0,
        volume_mm3: 0,
        longest_side_mm: 0,
        declared_value: order.declared_value,
        fragile: false,
    };
    for line in order.lines {
        let spec = specs.get(&line.sku).copied().unwrap_or(assumed);
        let qty = u64::from(line.qty.get());
        let volume =
            u64::from(spec.length_mm) * u64::from(spec.width_mm) * u64::from(spec.height_mm);
        parcel.weight_g = parcel
            .weight_g
            .saturating_add(qty * u64::from(spec.weight_g))
            .min(MAX_PARCEL_WEIGHT_G + 1);
        parcel.volume_mm3 = parcel
            .volume_mm3
            .saturating_add(qty.saturating_mul(volume))
            .min(MAX_PARCEL_VOLUME_MM3);
        parcel.longest_side_mm = parcel.longest_side_mm.max(u64::from(
            spec.length_mm.max(spec.width_mm).max(spec.height_mm),
        ));
        parcel.fragile |= spec.fragile;
    }
    if parcel.longest_side_mm == 0 {
        parcel.longest_side_mm = side;
    }
    parcel
}

/// An order as released to a warehouse: what the choice needs of it.
#[derive(Debug, Clone, Copy)]
pub struct Released<'a> {
    pub order_id: u64,
    pub channel: &'a str,
    pub lines: &'a [OrderLine],
    /// Goods value, minor units.
    pub declared_value: i64,
    /// The ship-to city as the customer wrote it.
    pub city: &'a str,
}

/// Chooses the carrier for an order released to `warehouse`, records the choice with every
/// quote it beat, and returns what the edge should ship with (None when no carrier serves the
/// parcel: the packer then names one, as before logistics).
pub fn plan_release(
    tx: &mut dyn Tx,
    order: &Released<'_>,
    warehouse: &WarehouseCode,
    now_ms: i64,
) -> DbResult<Option<ShipVia>> {
    let policy = store::policy(tx)?;
    let skus: Vec<&tote_shared::Sku> = order.lines.iter().map(|l| &l.sku).collect();
    let specs = crate::catalog::store::shipping_specs(tx, &skus)?;
    let parcel = parcel_of(order, &specs, &policy);
    let promise_days = policy.promise_for(order.channel);
    let (city, province) = tote_shared::geo::city_province(order.city).unwrap_or(("", ""));
    let choice = if province.is_empty() {
        Choice {
            chosen: None,
            considered: Vec::new(),
        }
    } else {
        let card = store::route_card(tx, warehouse.as_str(), province)?;
        choose(
            &card,
            &policy.rules(),
            &Request {
                origin: warehouse.as_str(),
                province,
                city,
                parcel,
                promise_days,
                today: rate_card_day(now_ms),
            },
        )
    };
    let via = choice.chosen.as_ref().and_then(|q| {
        Some(ShipVia {
            carrier: q.carrier.clone(),
            service: q.service?.as_str().to_owned(),
        })
    });
    let province = (!province.is_empty()).then(|| province.to_owned());
    let stored = StoredChoice {
        order_id: order.order_id,
        warehouse: warehouse.to_string(),
        decided_ms: now_ms,
        promise_days,
        province,
        parcel,
        choice,
    };
    store::save_choice(tx, &stored)?;
    Ok(via)
}

/// A parcel as a warehouse reported it shipped.
#[derive(Debug, Clone, Copy)]
pub struct Shipped<'a> {
    pub waybill: &'a str,
    pub carrier: &'a str,
    pub order_id: u64,
    pub warehouse: &'a str,
    pub shipped_ms: i64,
}

/// Who a parcel goes to and what is in it: what the carrier's order needs, kept with the
/// parcel so registering it reads no other system's tables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consignment {
    pub ship_to: tote_shared::sync::ShipTo,
    pub lines: Vec<OrderLine>,
}

/// A parcel left its warehouse: kept for tracking (and, under a pool number, for registering
/// with the carrier), its freight accrued at the price quoted at release when it left with the
/// carrier chosen — in the transaction that takes the shipment.
pub fn parcel_shipped(
    tx: &mut dyn Tx,
    parcel: &Shipped<'_>,
    consignment: &Consignment,
    now_ms: i64,
) -> DbResult<()> {
    let (waybill, order_id) = (parcel.waybill, parcel.order_id);
    if !store::record_parcel(tx, parcel, Some(consignment))? {
        tracing::warn!(
            order_id,
            waybill,
            "waybill already recorded; tracking stays with the first parcel"
        );
        return Ok(());
    }
    if let Some(store::Quoted {
        total: Some(amount),
        ..
    }) = store::quoted(tx, order_id, parcel.warehouse, parcel.carrier)?
    {
        let event = crate::journal::BusinessEvent::FreightAccrued {
            order_id,
            carrier: parcel.carrier.to_owned(),
            waybill: waybill.to_owned(),
            amount,
        };
        crate::journal::store::append(tx, &event, now_ms)?;
    }
    Ok(())
}

/// The carrier answered HQ's cancel: on success the parcel is cancelled and its accrued
/// freight reversed, audited; on refusal it is registered again. False when another caller
/// finished it first.
pub fn cancel_finished(
    tx: &mut dyn Tx,
    waybill: &str,
    outcome: Result<(), &str>,
    now_ms: i64,
) -> DbResult<bool> {
    if !store::cancel_finished(tx, waybill, outcome)? {
        return Ok(false);
    }
    let Some(parcel) = store::parcel(tx, waybill)? else {
        return Ok(true);
    };
    let action = if outcome.is_ok() {
        "parcel_cancelled"
    } else {
        "parcel_cancel_refused"
    };
    crate::audit::store::append(
        tx,
        now_ms,
        "admin",
        action,
        &format!("waybill:{waybill}"),
        &serde_json::json!({ "carrier": parcel.carrier, "why": outcome.err() }),
    )?;
    if outcome.is_ok() {
        if let Some(store::Quoted {
            total: Some(amount),
            ..
        }) = store::quoted(tx, parcel.order_id, &parcel.warehouse, &parcel.carrier)?
        {
            let event = crate::journal::BusinessEvent::FreightReversed {
                order_id: parcel.order_id,
                carrier: parcel.carrier,
                waybill: waybill.to_owned(),
                amount,
            };
            crate::journal::store::append(tx, &event, now_ms)?;
        }
    }
    Ok(true)
}

/// Today's day number for quotes made at `now_ms`.
pub fn rate_card_day(now_ms: i64) -> i64 {
    (now_ms + CHINA_OFFSET_MS).div_euclid(DAY_MS)
}

/// What a tracking push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// New events kept; the state moved when `moved`.
    Applied { new_events: usize, moved: bool },
    /// The waybill is not one of our parcels (yet: the shipment may still be on its way up).
    UnknownWaybill,
}

/// Applies a verified push to its parcel: new events appended once, the state moved only
/// forward, a `parcel_tracked` journal event when it moved — one transaction.
pub fn receive_push(tx: &mut dyn Tx, push: &tracking::Push, now_ms: i64) -> DbResult<PushOutcome> {
    Ok(receive_pushes(tx, std::slice::from_ref(push), now_ms)?.remove(0))
}

/// Applies several pushes in one transaction, in order (two for one parcel apply one after
/// the other), with a few multi-row statements: what one commit per push cannot afford when
/// an aggregator pushes thousands a second. One outcome per push.
pub fn receive_pushes(
    tx: &mut dyn Tx,
    pushes: &[tracking::Push],
    now_ms: i64,
) -> DbResult<Vec<PushOutcome>> {
    let waybills: Vec<&str> = pushes.iter().map(|p| p.waybill.as_str()).collect();
    let mut parcels = store::lock_parcels(tx, &waybills)?;
    let mut outcomes = Vec::with_capacity(pushes.len());
    let mut events: Vec<(&str, tracking::TrackEvent)> = Vec::new();
    let mut moves: BTreeMap<&str, (tracking::TrackState, i64)> = BTreeMap::new();
    let mut journal = Vec::new();
    for push in pushes {
        // A number is ours only with its carrier: another carrier's parcel under the same
        // number is not one of ours.
        let theirs = |p: &store::ParcelView| {
            tote_shared::carrier::kuaidi100::known_company(&p.carrier)
                .is_some_and(|c| c != push.company)
        };
        let Some((parcel, known)) = parcels.get_mut(&push.waybill).filter(|(p, _)| !theirs(p))
        else {
            outcomes.push(PushOutcome::UnknownWaybill);
            continue;
        };
        // Before the carrier's first event the state is our own "info received" at hand-over,
        // which any carrier event outranks, whatever the clocks say.
        let current = (parcel.state != tracking::TrackState::InfoReceived || !known.is_empty())
            .then_some((parcel.state, parcel.state_ms));
        let applied = tracking::apply(current, known, &push.events);
        known.extend(
            applied
                .new_events
                .iter()
                .map(|e| (e.at_ms, e.context.clone())),
        );
        if let Some((state, at_ms)) = applied.state {
            (parcel.state, parcel.state_ms) = (state, at_ms);
            moves.insert(push.waybill.as_str(), (state, at_ms));
            journal.push(crate::journal::BusinessEvent::ParcelTracked {
                order_id: parcel.order_id,
                carrier: parcel.carrier.clone(),
                waybill: parcel.waybill.clone(),
                state: state.as_str().to_owned(),
                at_ms,
            });
        }
        outcomes.push(PushOutcome::Applied {
            new_events: applied.new_events.len(),
            moved: applied.state.is_some(),
        });
        events.extend(
            applied
                .new_events
                .into_iter()
                .map(|e| (push.waybill.as_str(), e)),
        );
    }
    let events: Vec<(&str, &tracking::TrackEvent)> = events.iter().map(|(w, e)| (*w, e)).collect();
    let moves: Vec<(&str, tracking::TrackState, i64)> =
        moves.into_iter().map(|(w, (s, at))| (w, s, at)).collect();
    store::save_tracking_batch(tx, &events, &moves, now_ms)?;
    crate::journal::store::append_many(tx, &journal, now_ms)?;
    Ok(outcomes)
}

impl From<crate::edge_sync::commands::StreamError> for LogisticsError {
    fn from(e: crate::edge_sync::commands::StreamError) -> Self {
        match e {
            crate::edge_sync::commands::StreamError::UnknownWarehouse(w) => {
                LogisticsError::NotFound(format!("warehouse {w}"))
            }
            crate::edge_sync::commands::StreamError::Db(e) => LogisticsError::Db(e),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LogisticsError {
    /// 404
    #[error("{0} not found")]
    NotFound(String),
    /// 409: the parcel's state does not allow it.
    #[error("{0}")]
    Conflict(String),
    /// 502: the carrier's platform failed or refused.
    #[error("{0}")]
    Carrier(String),
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
}
