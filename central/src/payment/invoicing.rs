//! E-invoices from the journal: a blue invoice when an order is paid, a red (credit) one when
//! a refund of the payment that paid it succeeds. The documents are built by
//! `tote_shared::payment::invoice` (pure; layout in `shared/docs/invoices.md`).

use super::store;
use tote_shared::Qty;
use crate::config::InvoiceSettings;
use crate::db::{DbError, DbResult, Tx};
use crate::journal::consumer::Consumer;
use crate::journal::{BusinessEvent, JournalEntry};
use tote_shared::payment::invoice::{self, BlueInvoiceRequest, InvoiceItem, Party, RedInvoiceRequest, Refund, RefundQty};

pub struct InvoiceConsumer {
    pub settings: InvoiceSettings,
}

fn corrupt(e: impl std::fmt::Display) -> DbError {
    DbError::corrupt(e.to_string())
}

impl Consumer for InvoiceConsumer {
    fn name(&self) -> &'static str {
        "invoicing"
    }

    fn apply(&self, tx: &mut dyn Tx, entries: &[JournalEntry]) -> DbResult<()> {
        for entry in entries {
            match &entry.event {
                BusinessEvent::OrderPaid { order_id, .. } => self.blue(tx, *order_id, entry.at_ms)?,
                BusinessEvent::RefundSucceeded { refund_id, payment_id, order_id, .. } => self.red(tx, *refund_id, *payment_id, *order_id, entry.at_ms)?,
                _ => {}
            }
        }
        Ok(())
    }
}

impl InvoiceConsumer {
    fn seller(&self) -> Party {
        Party { name: self.settings.seller_name.clone(), tax_id: Some(self.settings.seller_tax_id.clone()), address: Some(self.settings.seller_address.clone()) }
    }

    fn blue(&self, tx: &mut dyn Tx, order_id: u64, at_ms: i64) -> DbResult<()> {
        let number = blue_number(order_id);
        if store::invoice(tx, &number)?.is_some() {
            return Ok(());
        }
        let order = crate::orders::store::load(tx, order_id, false)?.ok_or_else(|| corrupt(format!("paid order {order_id} is missing")))?;
        let items = order
            .lines
            .iter()
            .map(|l| InvoiceItem {
                sku: l.sku.clone(),
                description: l.sku.to_string(),
                qty: l.qty,
                unit_price_minor: l.unit_price,
                discount_minor: l.discount,
                tax_rate_bp: self.settings.tax_rate_bp,
            })
            .collect();
        let request = BlueInvoiceRequest {
            number,
            order_id,
            issued_at_ms: at_ms,
            seller: self.seller(),
            buyer: Party { name: order.ship_to.name.clone(), tax_id: None, address: None },
            items,
        };
        match invoice::issue_blue(request) {
            Ok(blue) => store::insert_invoice(tx, &blue, None),
            // A document the rules refuse (a name too long, say) is not a reason to stop every
            // later event: HQ issues this one by hand.
            Err(error) => {
                tracing::error!(order_id, %error, "cannot issue the e-invoice of a paid order");
                Ok(())
            }
        }
    }

    fn red(&self, tx: &mut dyn Tx, refund_id: u64, payment_id: u64, order_id: u64, at_ms: i64) -> DbResult<()> {
        // Money that came after the order ended was never invoiced, so its refund is not
        // credited either.
        if !store::paid_order(tx, payment_id)? || store::has_invoice_for_refund(tx, refund_id)? {
            return Ok(());
        }
        let Some(blue) = store::invoice(tx, &blue_number(order_id))? else {
            tracing::error!(order_id, refund_id, "a refund of an order without a blue invoice");
            return Ok(());
        };
        let refund = store::refunds_for_payment(tx, payment_id)?.into_iter().find(|r| r.id == refund_id).ok_or_else(|| corrupt(format!("refund {refund_id}")))?;
        let earlier: Vec<_> = store::invoices_for_order(tx, order_id)?.into_iter().filter(|i| i.kind == invoice::InvoiceKind::Red).collect();
        let mut lines: Vec<RefundQty> = Vec::new();
        let mut at_full_price = true;
        // What each blue line has left, as this refund's lines take units off it in turn.
        let mut left = match invoice::left_to_credit(&blue, &earlier) {
            Ok(left) => left,
            Err(error) => {
                tracing::error!(order_id, refund_id, %error, "cannot credit a refund against its blue invoice");
                return Ok(());
            }
        };
        for line in &refund.lines {
            let Some(position) = blue.lines.iter().position(|l| l.sku == line.sku) else {
                return Err(corrupt(format!("refund {refund_id} credits SKU {} not on invoice {}", line.sku, blue.number)));
            };
            let worth = invoice::units_amount(&blue.lines[position], &left[position], line.qty.as_i64());
            at_full_price &= worth == Some(line.amount_minor);
            left[position].qty -= line.qty.as_i64();
            let line_no = position as u32 + 1;
            match lines.iter_mut().find(|l| l.line_no == line_no) {
                Some(same) => same.qty = Qty::parse(same.qty.as_i64() + line.qty.as_i64()).map_err(|e| corrupt(format!("refund {refund_id}: {e}")))?,
                None => lines.push(RefundQty { line_no, qty: line.qty }),
            }
        }
        // Units given back at part of their price (a QC-failed return refunded in part) are a
        // price adjustment on the invoice: the amount, spread over its lines.
        let refund = if at_full_price { Refund::Quantities { lines } } else { Refund::Amount { amount_minor: refund.amount_minor } };
        let request = RedInvoiceRequest { number: format!("R{refund_id:010}"), issued_at_ms: at_ms, refund };
        match invoice::issue_red(&blue, &earlier, request) {
            Ok(red) => store::insert_invoice(tx, &red, Some(refund_id)),
            Err(error) => {
                tracing::error!(order_id, refund_id, %error, "cannot issue the credit invoice of a refund");
                Ok(())
            }
        }
    }
}

fn blue_number(order_id: u64) -> String {
    format!("B{order_id:010}")
}
