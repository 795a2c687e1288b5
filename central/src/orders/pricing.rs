//! Orders at checkout prices: an order is priced again as it is taken (marketing's
//! `Checkout`: the promotions live now, the coupon codes presented), each line keeps its share
//! of every discount, and the total the customer was shown must still hold. The codes are
//! taken in the order's transaction and given back in the one that cancels or closes it.

use super::{CreateOrder, LineDiscount, OrderLineRecord, OrderRecord, OrdersError};
use crate::catalog;
use crate::db::{DbError, Tx};
use crate::journal::{self, BusinessEvent};
use crate::marketing::pricing::Priced;
use crate::marketing::flash::FlashSale;
use crate::marketing::{self, Checkout, Quote, ToPrice};
use tote_shared::order::OrderState;
use tote_shared::{Money, Sku};

/// `lines` (at list prices) priced at checkout: unchanged, with no quote, when no promotion
/// touches them and no code is presented; the expected total checked either way.
pub fn at_checkout(tx: &mut dyn Tx, checkout: &Checkout, req: &CreateOrder, mut lines: Vec<OrderLineRecord>) -> Result<(Vec<OrderLineRecord>, Option<Quote>), OrdersError> {
    let quote = if req.checkout.coupons.is_empty() && req.checkout.points == 0 && !lines.iter().any(|l| checkout.touches(&l.sku)) {
        None
    } else {
        let skus: Vec<&Sku> = lines.iter().map(|l| &l.sku).collect();
        let costs = catalog::store::costs(tx, &skus)?;
        let to_price: Vec<ToPrice> = lines
            .iter()
            .zip(costs)
            .map(|(l, cost)| ToPrice { sku: l.sku.clone(), qty: l.qty, list_price: l.unit_price.minor(), cost: cost.map_or(0, Money::minor) })
            .collect();
        let quote = checkout.quote(tx, &to_price, req.customer.as_deref(), &req.checkout.coupons, req.checkout.points)?;
        discount(&mut lines, &quote.priced)?;
        Some(quote)
    };
    expect_total(req, &lines)?;
    Ok((lines, quote))
}

/// Each line's discount from a pricing of exactly these lines, in order: its item-layer
/// saving and its share of every order-level promotion.
pub fn discount(lines: &mut [OrderLineRecord], priced: &Priced) -> Result<(), OrdersError> {
    if priced.lines.len() != lines.len() {
        return Err(DbError::corrupt("a pricing of other lines").into());
    }
    for (line, p) in lines.iter_mut().zip(&priced.lines) {
        let qty = line.qty.as_i64();
        let mut discounts = Vec::with_capacity(p.discounts.len() + 1);
        let item = (line.unit_price.minor() - p.unit_price).saturating_mul(qty);
        if let (Some(promotion), true) = (&p.item_promotion, item > 0) {
            discounts.push(LineDiscount { promotion: promotion.clone(), amount: item });
        }
        discounts.extend(p.discounts.iter().filter(|d| d.amount > 0).map(|d| LineDiscount { promotion: d.promotion.clone(), amount: d.amount }));
        let total = line.unit_price.minor().saturating_mul(qty) - p.payable;
        if discounts.iter().map(|d| d.amount).sum::<i64>() != total || p.payable < 0 {
            return Err(DbError::corrupt(format!("SKU {}: the discounts do not add up to the price", line.sku)).into());
        }
        line.discount = Money::parse(total).map_err(|e| OrdersError::Invalid(e.to_string()))?;
        line.discounts = discounts;
    }
    Ok(())
}

/// What the lines cost: Σ qty × unit price − discount, refused when it overflows.
pub fn total(lines: &[OrderLineRecord]) -> Result<Money, OrdersError> {
    let overflow = || OrdersError::Invalid("the order total is too large".into());
    let mut sum: i64 = 0;
    for l in lines {
        let gross = l.unit_price.minor().checked_mul(l.qty.as_i64()).ok_or_else(overflow)?;
        sum = gross.checked_sub(l.discount.minor()).and_then(|v| sum.checked_add(v)).ok_or_else(overflow)?;
    }
    Money::parse(sum).map_err(|_| overflow())
}

/// The total the customer was shown must be what the order costs now.
pub fn expect_total(req: &CreateOrder, lines: &[OrderLineRecord]) -> Result<(), OrdersError> {
    let Some(expected) = req.checkout.expected_total else { return Ok(()) };
    let now = total(lines)?.minor();
    if now != expected {
        return Err(OrdersError::PriceChanged(format!("the cart costs {now} now, {expected} was shown: price it again")));
    }
    Ok(())
}

/// The order takes its quote's codes (refused, so rolled back, when another order took a code
/// or the coupon's or customer's last use first) and journals each.
pub fn redeem(tx: &mut dyn Tx, checkout: &Checkout, order: &OrderRecord, quote: &Quote, now_ms: i64) -> Result<(), OrdersError> {
    checkout.redeem(tx, order.id, order.customer.as_deref(), quote)?;
    for (_, promotion) in &quote.codes {
        let discount = quote.priced.applied.iter().filter(|a| &a.promotion == promotion).map(|a| a.discount).sum();
        journal::store::append(tx, &BusinessEvent::CouponRedeemed { order_id: order.id, promotion: promotion.clone(), discount }, now_ms)?;
    }
    Ok(())
}

/// A flash order's line: the sale's price, the difference from list its discount.
pub fn flash_price(line: &mut OrderLineRecord, sale: &FlashSale) -> Result<(), OrdersError> {
    set_unit_price(line, sale.price, &sale.id)
}

/// A group buy's line: the offer's price, the difference from list its discount.
pub fn group_price(line: &mut OrderLineRecord, offer: &marketing::groups::GroupBuy) -> Result<(), OrdersError> {
    set_unit_price(line, offer.price, &offer.id)
}

/// The line sold at `price` a unit by `promotion`: the difference from list its discount.
fn set_unit_price(line: &mut OrderLineRecord, price: i64, promotion: &str) -> Result<(), OrdersError> {
    let off = (line.unit_price.minor() - price).max(0).checked_mul(line.qty.as_i64()).ok_or_else(|| OrdersError::Invalid("the order total is too large".into()))?;
    line.discount = Money::parse(off).map_err(|e| OrdersError::Invalid(e.to_string()))?;
    line.discounts = if off > 0 { vec![LineDiscount { promotion: promotion.to_owned(), amount: off }] } else { Vec::new() };
    Ok(())
}

/// An order that ends unpaid or cancelled gives its codes and points back, its seat in a group
/// buy's open group, and its flash-sale units (to the sale's hold when it was never paid).
pub fn release(tx: &mut dyn Tx, order: &OrderRecord, from: OrderState, now_ms: i64) -> Result<(), OrdersError> {
    let ended = matches!(order.state, OrderState::Cancelled | OrderState::Closed);
    if !ended || from == order.state {
        return Ok(());
    }
    marketing::flash::release(tx, order.id, from == OrderState::AwaitingPayment, now_ms)?;
    for code in marketing::release_coupons(tx, order.id, order.customer.as_deref(), now_ms)? {
        journal::store::append(tx, &BusinessEvent::CouponReleased { order_id: order.id, promotion: code.promotion }, now_ms)?;
    }
    marketing::loyalty::give_back(tx, order.id, order.customer.as_deref(), now_ms)?;
    marketing::groups::leave(tx, order.id)?;
    Ok(())
}
