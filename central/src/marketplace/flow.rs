//! Imports, closed trades and confirmations carried out in the caller's transaction.

use super::{store, ImportOrder, ImportRecord, ImportState, MarketplaceError};
use crate::db::{DbResult, Tx};
use crate::journal::{self, BusinessEvent};
use crate::orders::{self, CreateOrder, OrderLineRecord, OrdersError};
use tote_shared::geo::{city_point, GeoPoint};
use tote_shared::order::OrderState;
use tote_shared::sync::OrderLine;
use tote_shared::Money;

/// How an import ended.
#[derive(Debug)]
pub enum Imported {
    /// An order was made now.
    Created(ImportRecord),
    /// The order was made before (the same content).
    Existing(ImportRecord),
    /// It cannot be taken; kept as refused with the reason.
    Refused(ImportRecord),
}

/// One import: the order once per (marketplace, external id), whoever brings it and however
/// often. `now_ms` is when it is taken.
pub fn import(tx: &mut dyn Tx, marketplace: &str, order: &ImportOrder, now_ms: i64) -> Result<Imported, MarketplaceError> {
    if let Some(problem) = order.problem() {
        return Err(MarketplaceError::Invalid(problem));
    }
    let hash = order.content_hash();
    let paid = order.paid_total().unwrap_or(0);
    let id = order.external_id.as_str();
    if !store::claim(tx, marketplace, id, &hash, paid, order.ship_by_ms, now_ms)? {
        let (record, stored_hash) = store::load(tx, marketplace, id, true)?.ok_or_else(|| MarketplaceError::NotFound(format!("import {id}")))?;
        if record.state == ImportState::Imported {
            if stored_hash != hash {
                let order_id = record.order_id.unwrap_or(0);
                return Err(MarketplaceError::Changed(format!(
                    "{marketplace} order {id} was imported as order {order_id} with other lines, amounts or address; a change after import is HQ's to make"
                )));
            }
            return Ok(Imported::Existing(record));
        }
        // Refused before: the cause may be gone (the SKU created, the block lifted).
    }
    let outcome = match take(tx, marketplace, order, now_ms) {
        Ok(order_id) => {
            store::set_imported(tx, marketplace, id, order_id, &hash, now_ms)?;
            Ok(order_id)
        }
        Err(OrdersError::Db(e)) => return Err(e.into()),
        Err(refusal) => {
            let reason = refusal.to_string();
            store::set_refused(tx, marketplace, id, &reason, &hash, paid, now_ms)?;
            tracing::warn!(marketplace, external_id = id, %reason, "a marketplace order was refused");
            Err(reason)
        }
    };
    let (record, _) = store::load(tx, marketplace, id, false)?.ok_or_else(|| MarketplaceError::NotFound(format!("import {id}")))?;
    Ok(match outcome {
        Ok(_) => Imported::Created(record),
        Err(_) => Imported::Refused(record),
    })
}

/// A trade the platform listed that cannot be read as an order (not one of our SKUs, amounts
/// that do not add up): kept as refused with why, unless it was imported before.
pub fn refuse_unreadable(tx: &mut dyn Tx, marketplace: &str, external_id: &str, why: &str, now_ms: i64) -> Result<(), MarketplaceError> {
    if !store::claim(tx, marketplace, external_id, "unreadable", 0, None, now_ms)? {
        let imported = store::load(tx, marketplace, external_id, true)?.is_some_and(|(r, _)| r.state == ImportState::Imported);
        if imported {
            tracing::warn!(marketplace, external_id, why, "an imported marketplace order now reads otherwise; left as it is");
            return Ok(());
        }
    }
    tracing::warn!(marketplace, external_id, why, "a marketplace order cannot be read");
    store::set_refused(tx, marketplace, external_id, why, "unreadable", 0, now_ms)?;
    Ok(())
}

/// Makes the order (checked, locked and paid, or backordered). A refusal has written nothing.
fn take(tx: &mut dyn Tx, marketplace: &str, order: &ImportOrder, now_ms: i64) -> Result<u64, OrdersError> {
    let destination = where_to(order)?;
    let mut lines = Vec::with_capacity(order.lines.len());
    for line in &order.lines {
        // The unit price is what the buyer paid per unit (a remainder of a cent stays with the
        // marketplace's rounding).
        let unit = Money::parse(line.paid / line.qty.as_i64()).map_err(|_| OrdersError::Invalid(format!("the amount paid for {} is out of range", line.sku)))?;
        lines.push(OrderLineRecord { sku: line.sku.clone(), qty: line.qty, unit_price: unit });
    }
    let create = CreateOrder {
        channel: marketplace.to_owned(),
        customer: order.buyer.clone(),
        lines: order.lines.iter().map(|l| OrderLine { sku: l.sku.clone(), qty: l.qty }).collect(),
        ship_to: order.ship_to.clone(),
        destination,
        now_ms,
        payment_deadline_ms: now_ms,
    };
    Ok(orders::flow::import(tx, &create, lines)?.id)
}

fn where_to(order: &ImportOrder) -> Result<GeoPoint, OrdersError> {
    match order.location {
        Some(p) if p.is_valid() => Ok(p),
        Some(_) => Err(OrdersError::Invalid("location needs lat in -90..90 and lon in -180..180".into())),
        None => city_point(&order.ship_to.city)
            .ok_or_else(|| OrdersError::Refused(orders::checks::Refusal::UnknownRegion(order.ship_to.city.chars().take(40).collect()))),
    }
}

/// The marketplace closed a trade (the buyer was refunded there): its order is cancelled if
/// it has not shipped. Returns whether anything changed.
pub fn trade_closed(tx: &mut dyn Tx, marketplace: &str, external_id: &str, now_ms: i64) -> Result<bool, MarketplaceError> {
    let Some((record, _)) = store::load(tx, marketplace, external_id, true)? else {
        return Ok(false);
    };
    let Some(order_id) = record.order_id else {
        return Ok(false);
    };
    let order = orders::flow::load(tx, order_id)?;
    if matches!(order.state, OrderState::Cancelling | OrderState::Cancelled | OrderState::Closed) {
        return Ok(false);
    }
    match orders::flow::cancel(tx, order_id, now_ms) {
        Ok(cancelled) => {
            let event = BusinessEvent::MarketplaceRefunded { order_id, marketplace: marketplace.to_owned(), amount: cancelled.total.minor() };
            journal::store::append(tx, &event, now_ms)?;
            Ok(true)
        }
        Err(OrdersError::Db(e)) => Err(e.into()),
        Err(refused) => {
            // Shipped already: the marketplace's refund is an after-sales matter.
            tracing::warn!(marketplace, external_id, order_id, %refused, "a closed marketplace trade's order cannot be cancelled");
            Ok(false)
        }
    }
}

/// Queues a confirmation for every shipped order a configured marketplace sold.
pub struct ConfirmationConsumer {
    pub marketplaces: Vec<String>,
}

impl crate::journal::consumer::Consumer for ConfirmationConsumer {
    fn name(&self) -> &'static str {
        "marketplace-confirmations"
    }

    fn apply(&self, tx: &mut dyn Tx, entries: &[journal::JournalEntry]) -> DbResult<()> {
        for entry in entries {
            let BusinessEvent::OrderShipped { order_id, carrier, tracking_number, .. } = &entry.event else { continue };
            let Some(record) = store::for_order(tx, *order_id)? else { continue };
            if !self.marketplaces.contains(&record.marketplace) {
                continue;
            }
            store::queue_confirmation(tx, *order_id, &record.marketplace, &record.external_id, carrier, tracking_number, entry.at_ms)?;
        }
        Ok(())
    }
}
