//! Reverse logistics: an approved after-sales return comes back with a carrier we book and pay
//! — a courier collecting from the customer (`pickup`) or a prepaid label the customer hands
//! in (`label`). After-sales asks for it in its approval's transaction (`book`) and cancels it
//! with a withdrawal (`withdraw`); the dispatcher makes the calls outside any transaction:
//! it chooses the cheapest carrier service with an account on the rate card, keeps that choice
//! before calling (so a cancel knows whom to ask), books the return, and applies the answer in
//! one transaction with the freight owed (`return_freight_accrued`). A crash in between repeats
//! the call, which the carrier's orderId makes harmless.
//!
//! The rate cards hold lanes out of our warehouses; a return is quoted on the lane between the
//! same warehouse and the customer's province, as carriers price zones both ways.

use super::carrier_api::{CallError, CarrierApi};
use super::choice::{choose, Considered, Request};
use super::dispatcher::Round;
use super::{csv, parcel_of, rate_card_day, store, Consignment, LogisticsError, Released};
use crate::db::{DbResult, Tx};
use crate::journal::{self, BusinessEvent};
use crate::startup::{now_ms, AppState};
use serde::{Deserialize, Serialize};
use tote_shared::carrier::sf;
use tote_shared::sync::CommandKind;
use tote_shared::WarehouseCode;

/// Returns handled per round.
const ROUND_LIMIT: u32 = 100;
const HOUR_MS: i64 = 3_600_000;
/// The longest wait between two attempts of one return's call.
const MAX_BACKOFF_MS: i64 = 300_000;

/// A return to book, as after-sales approved it.
#[derive(Debug, Clone, Copy)]
pub struct NewReturn<'a> {
    pub request_id: u64,
    /// On the customer's slip; the warehouse knows the return by it.
    pub rma: &'a str,
    pub order_id: u64,
    /// Where the goods go back to.
    pub warehouse: &'a WarehouseCode,
    /// A courier collects (else the customer hands it in with the label).
    pub pickup: bool,
    /// The customer's address (the sender) and the units coming back.
    pub consignment: &'a Consignment,
    /// The units' value at the prices paid, minor units.
    pub declared_value: i64,
    pub collect_from_ms: Option<i64>,
}

/// A return shipment as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnRow {
    pub request_id: u64,
    pub rma: String,
    pub order_id: u64,
    pub warehouse: String,
    pub pickup: bool,
    /// `booking`, `booked`, `cancelling`, `cancelled`, `failed`.
    pub state: String,
    pub consignment: Consignment,
    pub declared_value: i64,
    pub collect_from_ms: Option<i64>,
    pub carrier: Option<String>,
    pub service: Option<String>,
    pub waybill: Option<String>,
    pub route_label: Option<String>,
    pub freight: Option<i64>,
    /// The weight the carrier charges, as quoted.
    pub chargeable_g: Option<u64>,
    pub attempts: u32,
    pub last_error: Option<String>,
}

/// A carrier service chosen for a return, as kept before it is called.
#[derive(Debug, Clone, Copy)]
pub struct Chosen<'a> {
    pub carrier: &'a str,
    pub service: Option<&'a str>,
    pub freight: i64,
    pub chargeable_g: Option<u64>,
}

/// How a return comes back, as HQ and the customer see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReturnShipment {
    /// `pickup` (a courier collects) or `label` (the customer hands it in).
    pub method: String,
    /// `booking` (the carrier not asked or not answered yet), `booked`, `cancelling`,
    /// `cancelled`, `failed` (no carrier we hold an account with could take it, or the
    /// carrier refused it: the customer sends it themselves).
    pub state: String,
    pub carrier: Option<String>,
    pub service: Option<String>,
    /// The number on the label; the warehouse's desk finds the return by it too.
    pub waybill: Option<String>,
    /// The carrier's routing code printed on the label.
    pub route_label: Option<String>,
    /// Freight we pay, minor units, as quoted.
    pub freight: Option<i64>,
    /// The weight the carrier charges, as quoted (its statement is checked against it).
    pub chargeable_g: Option<u64>,
    /// When the courier comes, from.
    pub collect_from_ms: Option<i64>,
    pub last_error: Option<String>,
}

impl ReturnRow {
    pub fn view(&self) -> ReturnShipment {
        ReturnShipment {
            method: if self.pickup { "pickup" } else { "label" }.into(),
            state: self.state.clone(),
            carrier: self.carrier.clone(),
            service: self.service.clone(),
            waybill: self.waybill.clone(),
            route_label: self.route_label.clone(),
            freight: self.freight,
            chargeable_g: self.chargeable_g,
            collect_from_ms: self.collect_from_ms,
            last_error: self.last_error.clone(),
        }
    }
}

/// The courier's earliest visit for a return approved at `now_ms`: the first whole hour at
/// least an hour ahead (time to reach the customer's door).
pub fn collect_from(now_ms: i64) -> i64 {
    (now_ms + HOUR_MS).div_euclid(HOUR_MS) * HOUR_MS + HOUR_MS
}

/// Asks for the return to be booked: due to the dispatcher at once.
pub fn book(tx: &mut dyn Tx, r: &NewReturn<'_>, now_ms: i64) -> DbResult<()> {
    store::insert_return(tx, r, now_ms)
}

/// The return will not come (its request was withdrawn): not booked yet, it is simply not
/// booked; booked (or being booked with a carrier chosen), the carrier is asked to cancel.
/// A return already collected stays as it is (the carrier refuses the cancel; the goods come).
pub fn withdraw(tx: &mut dyn Tx, request_id: u64, now_ms: i64) -> DbResult<()> {
    stop(tx, request_id, &["booking", "booked"], "the return was withdrawn", now_ms)
}

/// The goods reached the warehouse: whatever the carrier has not collected is no longer
/// needed (the customer sent them another way) and is cancelled; a carrier that did carry
/// them refuses the cancel, and its booking stands.
pub fn arrived(tx: &mut dyn Tx, request_id: u64, now_ms: i64) -> DbResult<()> {
    stop(tx, request_id, &["booking", "booked"], "the goods reached the warehouse", now_ms)
}

fn stop(tx: &mut dyn Tx, request_id: u64, from: &[&str], why: &str, now_ms: i64) -> DbResult<()> {
    let Some(row) = store::return_shipment(tx, request_id, true)? else { return Ok(()) };
    if !from.contains(&row.state.as_str()) {
        return Ok(());
    }
    // Never sent to a carrier: nothing to cancel there.
    let next = if row.state == "booking" && row.carrier.is_none() { "cancelled" } else { "cancelling" };
    store::set_return_state(tx, request_id, next, Some(why), now_ms)
}

/// The return shipments of these requests, by request.
pub fn shipments(tx: &mut dyn Tx, request_ids: &[u64]) -> DbResult<std::collections::HashMap<u64, ReturnShipment>> {
    Ok(store::return_shipments(tx, request_ids)?.into_iter().map(|r| (r.request_id, r.view())).collect())
}

/// Our orderId for a return at the carrier: one per request.
pub fn carrier_order_id(request_id: u64) -> String {
    format!("TOTE-RMA-{request_id}")
}

/// The cheapest service that can take the parcel among carriers we hold an account with.
pub fn pick(considered: &[Considered], has_account: impl Fn(&str) -> bool) -> Option<&Considered> {
    considered.iter().find(|c| c.unfit.is_none() && c.price.is_some() && has_account(&c.carrier))
}

/// The carrier's return order: the customer sends, the warehouse (in `warehouse_city`, name and
/// province) receives, our account pays.
pub fn reverse_order(row: &ReturnRow, chosen: &Considered, monthly_card: &str, warehouse_city: Option<(&str, &str)>) -> sf::CreateReverseOrder {
    let (to_city, to_province) = warehouse_city.unwrap_or(("", ""));
    let from = &row.consignment.ship_to;
    let province = tote_shared::geo::city_province(&from.city).map(|(_, p)| p.to_owned()).unwrap_or_default();
    sf::CreateReverseOrder {
        order_id: carrier_order_id(row.request_id),
        express_type_id: chosen.service.and_then(|s| sf::express_type(s.as_str())).unwrap_or(2),
        pay_method: 1,
        monthly_card: monthly_card.to_owned(),
        cargo_details: row.consignment.lines.iter().map(|l| sf::Cargo { name: l.sku.to_string(), count: l.qty.get() }).collect(),
        contact_info_list: vec![
            sf::Contact { contact_type: 1, contact: from.name.clone(), province, city: from.city.clone(), address: from.line1.clone(), post_code: from.postcode.clone() },
            sf::Contact {
                contact_type: 2,
                contact: format!("Tote {} returns", row.warehouse),
                province: to_province.to_owned(),
                city: to_city.to_owned(),
                address: row.warehouse.clone(),
                post_code: String::new(),
            },
        ],
        send_start_tm: row.collect_from_ms.filter(|_| row.pickup).map(|at| tote_shared::calendar::local_time(at, super::CHINA_OFFSET_MS)),
    }
}

/// One round over the returns due: each booked or cancelled at its carrier, or tried later.
pub async fn round(state: &AppState, done: &mut Round) -> Result<(), LogisticsError> {
    let now = now_ms();
    let due = state.db.read(move |tx| store::due_returns(tx, now, ROUND_LIMIT)).await?;
    for row in due {
        let outcome = if row.state == "cancelling" { cancel_one(state, &row, done).await } else { book_one(state, &row, done).await };
        match outcome {
            Ok(()) => {}
            Err(Later(why)) => {
                let wait = (state.settings.logistics.dispatch_interval_ms as i64).saturating_mul(1 << row.attempts.min(16)).min(MAX_BACKOFF_MS);
                let (id, from, next) = (row.request_id, row.state.clone(), now_ms() + wait);
                tracing::warn!(request = id, attempts = row.attempts + 1, %why, "return shipment call failed; will retry");
                state.db.write(move |tx| store::return_postponed(tx, id, &from, &why, next)).await?;
            }
        }
    }
    Ok(())
}

/// Try again later, for this reason.
struct Later(String);

fn later(done: &mut Round, carrier: &str, error: &CallError) -> Later {
    if error.is_transient() {
        done.down.insert(carrier.to_owned());
    }
    Later(error.to_string())
}

fn db(error: impl std::fmt::Display) -> Later {
    Later(error.to_string())
}

fn account<'a>(state: &'a AppState, carrier: &str) -> Option<&'a CarrierApi> {
    state.carriers.carriers.get(carrier).map(|a| a.as_ref())
}

/// No carrier will take the return: the customer is to send it themselves.
async fn give_up(state: &AppState, id: u64, why: String) -> Result<(), Later> {
    tracing::warn!(request = id, %why, "the return cannot be booked with a carrier; the customer sends it");
    state.db.write(move |tx| store::return_failed(tx, id, &why, now_ms())).await.map_err(db)
}

async fn book_one(state: &AppState, row: &ReturnRow, done: &mut Round) -> Result<(), Later> {
    let (chosen, warehouse_city) = match choose_carrier(state, row).await.map_err(db)? {
        Ok(found) => found,
        Err(why) => return give_up(state, row.request_id, why).await,
    };
    let Some(api) = account(state, &chosen.carrier) else { return Err(Later(format!("no account with {}", chosen.carrier))) };
    if done.down.contains(&chosen.carrier) {
        return Err(Later(format!("{} unreachable this round", chosen.carrier)));
    }
    // A courier comes an hour ahead at the earliest, also when the booking was delayed.
    let now = now_ms();
    let collect = row.pickup.then(|| row.collect_from_ms.filter(|at| *at >= now + HOUR_MS).unwrap_or_else(|| collect_from(now)));
    let id = row.request_id;
    let (carrier, service) = (chosen.carrier.clone(), chosen.service.map(|s| s.as_str().to_owned()));
    let (freight, chargeable_g) = (chosen.price.map_or(0, |p| p.total), chosen.price.map(|p| p.chargeable_g));
    let kept = state
        .db
        .write(move |tx| {
            let chosen = Chosen { carrier: &carrier, service: service.as_deref(), freight, chargeable_g };
            store::return_chosen(tx, id, &chosen, collect, now_ms())
        })
        .await
        .map_err(db)?;
    if !kept {
        // Withdrawn meanwhile: the cancel takes it from here.
        return Ok(());
    }
    let booking = ReturnRow { collect_from_ms: collect, ..row.clone() };
    let city = warehouse_city.as_ref().map(|(c, p)| (c.as_str(), p.as_str()));
    let result = match api.book_return(&reverse_order(&booking, &chosen, &api.monthly_card, city)).await {
        Ok(result) => result,
        Err(CallError::Business { code, message }) => return give_up(state, id, format!("{} refused the return: {code} {message}", chosen.carrier)).await,
        Err(other) => return Err(later(done, &chosen.carrier, &other)),
    };
    let waybill = result.waybill_no_info_list.into_iter().map(|w| w.waybill_no).find(|w| tote_shared::sync::is_plain_code(w, 40)).unwrap_or_default();
    let label = result.route_label_info.first().map(|l| l.route_label_data.dest_route_label.clone()).unwrap_or_default();
    state.write(move |tx| booked(tx, id, &waybill, &label, now_ms())).await.map_err(db)?;
    done.returns_booked += 1;
    Ok(())
}

/// The carrier issued the return's number: kept, and the freight owed journaled for finance,
/// in one transaction (once: a repeat finds it booked).
fn booked(tx: &mut dyn Tx, request_id: u64, waybill: &str, label: &str, now_ms: i64) -> DbResult<()> {
    if !store::return_booked(tx, request_id, waybill, label, now_ms)? {
        return Ok(());
    }
    let Some(row) = store::return_shipment(tx, request_id, false)? else { return Ok(()) };
    let Some(carrier) = row.carrier else { return Ok(()) };
    if let Some(amount) = row.freight {
        let event = BusinessEvent::ReturnFreightAccrued { request_id, order_id: row.order_id, carrier: carrier.clone(), waybill: waybill.to_owned(), amount };
        journal::store::append(tx, &event, now_ms)?;
    }
    // Last: the warehouse's command-stream row is shared by every writer to it.
    let warehouse = crate::warehouses::store::code(&row.warehouse)?;
    let label = CommandKind::ReturnLabel { rma: row.rma, carrier, waybill: waybill.to_owned() };
    crate::edge_sync::commands::enqueue(tx, &warehouse, &label, now_ms).map_err(|e| match e {
        crate::edge_sync::commands::StreamError::Db(e) => e,
        other => crate::db::DbError::corrupt(other.to_string()),
    })?;
    Ok(())
}

/// The carrier service to book with and the warehouse's city (name, province); or why none.
type Choice = Result<(Considered, Option<(String, String)>), String>;

/// The carrier kept from an earlier attempt (asked again whatever the rate card says now, so a
/// return is never booked with two), else the cheapest now (rate card, policy and the
/// catalog's sizes read in one transaction; the choice is pure); with the warehouse's city.
/// Err(why) when no carrier can take it.
async fn choose_carrier(state: &AppState, row: &ReturnRow) -> Result<Choice, LogisticsError> {
    let row = row.clone();
    let accounts: std::collections::HashSet<String> = state.carriers.carriers.keys().cloned().collect();
    let now = now_ms();
    let choice = state
        .db
        .read(move |tx| -> DbResult<Choice> {
            let warehouse_city = crate::warehouses::store::points(tx)?
                .into_iter()
                .find(|(code, _)| code.as_str() == row.warehouse)
                .and_then(|(_, point)| tote_shared::geo::nearest_city(&point))
                .map(|(c, p)| (c.to_owned(), p.to_owned()));
            if let Some(kept) = &row.carrier {
                let service = row.service.as_deref().and_then(super::rates::Service::parse);
                let price = row.freight.map(|total| super::rates::Price { chargeable_g: row.chargeable_g.unwrap_or(0), freight: total, insurance: 0, remote: 0, total });
                return Ok(Ok((Considered { carrier: kept.clone(), service, transit_days: None, price, unfit: None }, warehouse_city)));
            }
            let policy = store::policy(tx)?;
            let skus: Vec<&tote_shared::Sku> = row.consignment.lines.iter().map(|l| &l.sku).collect();
            let specs = crate::catalog::store::shipping_specs(tx, &skus)?;
            let city = row.consignment.ship_to.city.as_str();
            let released = Released { order_id: row.order_id, channel: "return", lines: &row.consignment.lines, declared_value: row.declared_value, city };
            let parcel = parcel_of(&released, &specs, &policy);
            let Some((city, province)) = tote_shared::geo::city_province(city) else {
                return Ok(Err(format!("the customer's city {city:?} is not one carriers' rate cards know")));
            };
            let card = store::route_card(tx, &row.warehouse, province)?;
            // A return is not promised to anyone: any transit time the card has will do.
            let request = Request { origin: &row.warehouse, province, city, parcel, promise_days: csv::MAX_TRANSIT_DAYS, today: rate_card_day(now) };
            let choice = choose(&card, &policy.rules(), &request);
            Ok(match pick(&choice.considered, |c| accounts.contains(c)) {
                Some(best) => Ok((best.clone(), warehouse_city)),
                None => Err(format!("no carrier we hold an account with serves {} from {province} on the rate card", row.warehouse)),
            })
        })
        .await?;
    Ok(choice)
}

async fn cancel_one(state: &AppState, row: &ReturnRow, done: &mut Round) -> Result<(), Later> {
    let id = row.request_id;
    let Some(carrier) = row.carrier.clone() else {
        // Never sent to a carrier.
        state.write(move |tx| cancel_finished(tx, id, Ok(()), now_ms())).await.map_err(db)?;
        return Ok(());
    };
    let Some(api) = account(state, &carrier) else { return Err(Later(format!("no account with {carrier}"))) };
    if done.down.contains(&carrier) {
        return Err(Later(format!("{carrier} unreachable this round")));
    }
    let outcome = match api.cancel_return(&carrier_order_id(id)).await {
        Ok(()) => Ok(()),
        // The carrier never got the booking (its call was lost): nothing to cancel.
        Err(CallError::Business { code, .. }) if code == sf::NO_ORDER && row.waybill.is_none() => Ok(()),
        Err(CallError::Business { code, message }) if code == sf::NOT_CANCELLABLE => Err(format!("{carrier} would not cancel: {code} {message}")),
        Err(other) => return Err(later(done, &carrier, &other)),
    };
    state.write(move |tx| cancel_finished(tx, id, outcome.as_ref().map(|_| ()).map_err(String::as_str), now_ms())).await.map_err(db)?;
    done.returns_cancelled += 1;
    Ok(())
}

/// The carrier answered the cancel: cancelled, with the freight owed reversed if it was
/// accrued; refused (collected already), booked after all — a booking whose answer was lost
/// is booked again, which finds the carrier's order and accrues its freight.
fn cancel_finished(tx: &mut dyn Tx, request_id: u64, outcome: Result<(), &str>, now_ms: i64) -> DbResult<()> {
    let Some(row) = store::return_shipment(tx, request_id, true)? else { return Ok(()) };
    if row.state != "cancelling" {
        return Ok(());
    }
    match outcome {
        Ok(()) => {
            store::set_return_state(tx, request_id, "cancelled", row.last_error.as_deref().or(Some("cancelled at the carrier")), now_ms)?;
            if let (Some(carrier), Some(waybill), Some(amount)) = (row.carrier, row.waybill, row.freight) {
                let event = BusinessEvent::ReturnFreightReversed { request_id, order_id: row.order_id, carrier, waybill, amount };
                journal::store::append(tx, &event, now_ms)?;
            }
        }
        Err(why) => {
            let back = if row.waybill.is_some() { "booked" } else { "booking" };
            store::set_return_state(tx, request_id, back, Some(why), now_ms)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logistics::choice::Unfit;
    use crate::logistics::rates::{Price, Service};
    use tote_shared::sync::{OrderLine, ShipTo};
    use tote_shared::{Qty, Sku};

    fn considered(carrier: &str, total: i64, unfit: Option<Unfit>) -> Considered {
        let price = Price { chargeable_g: 1000, freight: total, insurance: 0, remote: 0, total };
        Considered { carrier: carrier.into(), service: Some(Service::Standard), transit_days: Some(2), price: Some(price), unfit }
    }

    #[test]
    fn the_cheapest_fitting_service_of_a_carrier_we_hold_an_account_with_is_picked() {
        let list = vec![considered("ZTO", 800, None), considered("SF", 1200, None), considered("JD", 500, Some(Unfit::Fragile))];
        assert_eq!(pick(&list, |c| c != "ZTO").map(|c| c.carrier.as_str()), Some("SF"), "ZTO is cheaper but we have no account");
        assert_eq!(pick(&list, |_| true).map(|c| c.carrier.as_str()), Some("ZTO"));
        assert!(pick(&list, |c| c == "JD").is_none(), "an unfit service is never picked");
    }

    #[test]
    fn a_courier_comes_on_a_whole_hour_at_least_an_hour_ahead() {
        assert_eq!(collect_from(0), 2 * HOUR_MS);
        assert_eq!(collect_from(HOUR_MS - 1), 2 * HOUR_MS);
        assert_eq!(collect_from(HOUR_MS), 3 * HOUR_MS);
        for now in [5, 59 * 60_000, 7 * HOUR_MS + 1] {
            let at = collect_from(now);
            assert!(at - now >= HOUR_MS && at - now <= 2 * HOUR_MS && at % HOUR_MS == 0, "{now} → {at}");
        }
    }

    #[test]
    fn the_return_order_sends_from_the_customer_to_the_warehouse_on_our_account() {
        let consignment = Consignment {
            ship_to: ShipTo { name: "Li Lei".into(), line1: "1 Nanjing Rd".into(), city: "Shanghai".into(), postcode: "200001".into(), phone: String::new() },
            lines: vec![OrderLine { sku: Sku::parse("PEG39-M-WHT-42").expect("sku"), qty: Qty::parse(1).expect("qty") }],
        };
        let row = ReturnRow {
            request_id: 17,
            rma: "RMA-17".into(),
            order_id: 5,
            warehouse: "SH-01".into(),
            pickup: true,
            state: "booking".into(),
            consignment,
            declared_value: 89_900,
            collect_from_ms: Some(0),
            carrier: None,
            service: None,
            waybill: None,
            route_label: None,
            freight: None,
            chargeable_g: None,
            attempts: 0,
            last_error: None,
        };
        let order = reverse_order(&row, &considered("SF", 1200, None), "7551234567", Some(("shanghai", "shanghai")));
        assert_eq!(order.order_id, "TOTE-RMA-17");
        assert_eq!((order.pay_method, order.monthly_card.as_str(), order.express_type_id), (1, "7551234567", 2));
        let sender = order.contact_info_list.iter().find(|c| c.contact_type == 1).expect("sender");
        let recipient = order.contact_info_list.iter().find(|c| c.contact_type == 2).expect("recipient");
        assert_eq!((sender.contact.as_str(), sender.address.as_str(), sender.city.as_str()), ("Li Lei", "1 Nanjing Rd", "Shanghai"));
        assert_eq!((recipient.address.as_str(), recipient.city.as_str()), ("SH-01", "shanghai"));
        assert_eq!(order.send_start_tm.as_deref(), Some("1970-01-01 08:00:00"), "China time");
        let label = reverse_order(&ReturnRow { pickup: false, ..row }, &considered("SF", 1200, None), "7551234567", None);
        assert_eq!(label.send_start_tm, None, "a label return is handed in: no courier time");
    }
}
