//! Carrier choice, pure: every carrier service on the lane is quoted or ruled out with its
//! reason, and the cheapest that keeps the delivery promise wins (then the faster, then the
//! carrier code, so a tie is decided the same way every time).

use super::rates::{price, Parcel, Price, RateCard, Service};
use serde::{Deserialize, Serialize};

/// The house rules every choice applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rules {
    /// Parcels declaring at least this much (minor units) are insured.
    pub insure_from: i64,
    /// Parcels declaring at least this much go only to carriers that insure and deliver
    /// against a signature.
    pub high_value_from: i64,
}

/// One parcel to place.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub origin: &'a str,
    pub province: &'a str,
    pub city: &'a str,
    pub parcel: Parcel,
    /// Days from hand-over to the door the order was promised.
    pub promise_days: u32,
    /// Days since 1970-01-01: which rate-card rows are valid.
    pub today: i64,
}

/// Why a carrier service cannot take the parcel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Unfit {
    /// HQ suspended the carrier (for its KPIs, say).
    Suspended { note: String },
    /// No rate-card row for this lane (and service) valid today.
    NoLane,
    TooSlow { transit_days: u32, promise_days: u32 },
    Overweight { max_weight_g: u64 },
    Oversize { max_side_mm: u64 },
    Fragile,
    /// The parcel must be insured and the carrier does not insure.
    NoInsurance,
    /// A high-value parcel needs delivery against signature.
    NoSignature,
    /// The declared value is above the carrier's cover.
    AboveCover { max_declared: i64 },
}

/// A carrier service as the choice saw it: its price and promise, or why it could not serve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Considered {
    pub carrier: String,
    /// None when the carrier serves no service on this lane at all.
    pub service: Option<Service>,
    pub transit_days: Option<u32>,
    pub price: Option<Price>,
    pub unfit: Option<Unfit>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Choice {
    /// The winner; None when nothing can take the parcel.
    pub chosen: Option<Considered>,
    /// Every carrier service, cheapest fitting first, then the unfit ones.
    pub considered: Vec<Considered>,
}

/// Quotes every carrier service for the request and picks the winner.
pub fn choose(card: &RateCard, rules: &Rules, req: &Request<'_>) -> Choice {
    let insured = req.parcel.declared_value >= rules.insure_from;
    let high_value = req.parcel.declared_value >= rules.high_value_from;
    let mut considered = Vec::with_capacity(card.carriers.len() * Service::ALL.len());
    let route = card.lanes_to(req.origin, req.province);
    for carrier in &card.carriers {
        let carrier_unfit = carrier_unfit(carrier, &req.parcel, insured, high_value);
        let offered: Vec<Service> = Service::ALL.into_iter().filter(|&s| route.iter().any(|l| l.carrier == carrier.code && l.service == s)).collect();
        if offered.is_empty() {
            let unfit = carrier_unfit.unwrap_or(Unfit::NoLane);
            considered.push(Considered { carrier: carrier.code.clone(), service: None, transit_days: None, price: None, unfit: Some(unfit) });
            continue;
        }
        for service in offered {
            let Some(lane) = card.lane(&carrier.code, service, req.origin, req.province, req.today) else {
                let unfit = carrier_unfit.clone().unwrap_or(Unfit::NoLane);
                considered.push(Considered { carrier: carrier.code.clone(), service: Some(service), transit_days: None, price: None, unfit: Some(unfit) });
                continue;
            };
            let remote = card.remote_surcharge(&carrier.code, req.province, req.city);
            let quote = price(carrier, lane, &req.parcel, insured, remote);
            let unfit = carrier_unfit.clone().or_else(|| {
                (lane.transit_days > req.promise_days).then_some(Unfit::TooSlow { transit_days: lane.transit_days, promise_days: req.promise_days })
            });
            considered.push(Considered { carrier: carrier.code.clone(), service: Some(service), transit_days: Some(lane.transit_days), price: Some(quote), unfit });
        }
    }
    considered.sort_by(|a, b| rank(a).cmp(&rank(b)));
    let chosen = considered.first().filter(|c| c.unfit.is_none()).cloned();
    Choice { chosen, considered }
}

/// Fitting before unfit; then total, transit days, carrier, service.
fn rank(c: &Considered) -> (bool, i64, u32, &str, Option<Service>) {
    (c.unfit.is_some(), c.price.map_or(i64::MAX, |p| p.total), c.transit_days.unwrap_or(u32::MAX), c.carrier.as_str(), c.service)
}

/// What rules a carrier out for this parcel whatever the service.
fn carrier_unfit(carrier: &super::rates::Carrier, parcel: &Parcel, insured: bool, high_value: bool) -> Option<Unfit> {
    if let Some(note) = &carrier.suspended {
        return Some(Unfit::Suspended { note: note.clone() });
    }
    if parcel.weight_g > carrier.max_weight_g {
        return Some(Unfit::Overweight { max_weight_g: carrier.max_weight_g });
    }
    if parcel.longest_side_mm > carrier.max_side_mm {
        return Some(Unfit::Oversize { max_side_mm: carrier.max_side_mm });
    }
    if parcel.fragile && !carrier.fragile {
        return Some(Unfit::Fragile);
    }
    match (&carrier.insurance, insured) {
        (None, true) => return Some(Unfit::NoInsurance),
        (Some(cover), true) if parcel.declared_value > cover.max_declared => return Some(Unfit::AboveCover { max_declared: cover.max_declared }),
        _ => {}
    }
    (high_value && !carrier.signature).then_some(Unfit::NoSignature)
}
