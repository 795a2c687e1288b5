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
        lines.push(OrderLineRecord::listed(line.sku.clone(), line.qty, unit));
    }
    let create = CreateOrder {
        channel: marketplace.to_owned(),
        customer: order.buyer.clone(),
        lines: order.lines.iter().map(|l| OrderLine { sku: l.sku.clone(), qty: l.qty }).collect(),
        ship_to: order.ship_to.clone(),
        destination,
        now_ms,
        payment_deadline_ms: now_ms,
        checkout: Default::default(),
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

/// The marketplace closed a trade (the buyer was refunded there). Its order is cancelled if
/// it has not shipped; the refund is journalled once the order is cancelled (here if it
/// already is, else by `MarketplaceConsumer` when the warehouse confirms). An order that
/// shipped anyway is noted for HQ. Returns whether a cancel was asked.
pub fn trade_closed(tx: &mut dyn Tx, marketplace: &str, external_id: &str, now_ms: i64) -> Result<bool, MarketplaceError> {
    let Some((record, _)) = store::load(tx, marketplace, external_id, true)? else {
        return Ok(false);
    };
    if record.closed_at_ms.is_some() {
        return Ok(false);
    }
    let Some(order_id) = record.order_id else {
        store::set_closed(tx, marketplace, external_id, None, now_ms)?;
        return Ok(false);
    };
    let order = orders::flow::load(tx, order_id)?;
    match order.state {
        OrderState::Cancelled | OrderState::Closed => {
            store::set_closed(tx, marketplace, external_id, None, now_ms)?;
            book_refund(tx, order_id, now_ms)?;
            Ok(false)
        }
        OrderState::Cancelling => {
            store::set_closed(tx, marketplace, external_id, None, now_ms)?;
            Ok(false)
        }
        OrderState::Shipped | OrderState::Delivered | OrderState::Completed => {
            store::set_closed(tx, marketplace, external_id, Some(SHIPPED_THOUGH_CLOSED), now_ms)?;
            tracing::warn!(marketplace, external_id, order_id, "the marketplace closed a trade whose order had shipped");
            Ok(false)
        }
        _ => {
            store::set_closed(tx, marketplace, external_id, None, now_ms)?;
            match orders::flow::cancel(tx, order_id, now_ms) {
                Ok(_) => Ok(true),
                Err(OrdersError::Db(e)) => Err(e.into()),
                Err(refused) => {
                    let note = format!("the marketplace closed the trade but the order could not be cancelled: {refused}");
                    store::set_note(tx, marketplace, external_id, &note, now_ms)?;
                    Ok(false)
                }
            }
        }
    }
}

const SHIPPED_THOUGH_CLOSED: &str =
    "the marketplace closed the trade (the buyer refunded there) after the order shipped: the buyer has the goods and the refund; an after-sales matter for HQ";

/// Journals the marketplace's refund of a closed trade's order, once.
fn book_refund(tx: &mut dyn Tx, order_id: u64, now_ms: i64) -> DbResult<()> {
    let Some(record) = store::for_order(tx, order_id)? else { return Ok(()) };
    if !store::book_refund(tx, order_id)? {
        return Ok(());
    }
    let amount = orders::store::load(tx, order_id, false)?.map_or(record.paid_total, |o| o.total.minor());
    let event = BusinessEvent::MarketplaceRefunded { order_id, marketplace: record.marketplace, amount };
    journal::store::append(tx, &event, now_ms)?;
    Ok(())
}

/// What the journal means for imported orders: a shipped one is queued for confirmation to
/// its marketplace (unless the marketplace closed the trade meanwhile: then HQ is told); a
/// cancelled one whose trade the marketplace closed has its refund journalled.
pub struct MarketplaceConsumer {
    /// The configured marketplaces (confirmations go only to those).
    pub marketplaces: Vec<String>,
}

impl crate::journal::consumer::Consumer for MarketplaceConsumer {
    fn name(&self) -> &'static str {
        "marketplace"
    }

    fn apply(&self, tx: &mut dyn Tx, entries: &[journal::JournalEntry]) -> DbResult<()> {
        for entry in entries {
            match &entry.event {
                BusinessEvent::OrderShipped { order_id, carrier, tracking_number, .. } => {
                    let Some(record) = store::for_order(tx, *order_id)? else { continue };
                    if record.closed_at_ms.is_some() {
                        store::set_note(tx, &record.marketplace, &record.external_id, SHIPPED_THOUGH_CLOSED, entry.at_ms)?;
                        tracing::warn!(marketplace = record.marketplace, order_id, "an order shipped although its marketplace trade was closed");
                    } else if self.marketplaces.contains(&record.marketplace) {
                        store::queue_confirmation(tx, *order_id, &record.marketplace, &record.external_id, carrier, tracking_number, entry.at_ms)?;
                    }
                }
                BusinessEvent::OrderCancelled { order_id, .. } => book_refund(tx, *order_id, entry.at_ms)?,
                _ => {}
            }
        }
        Ok(())
    }
}
