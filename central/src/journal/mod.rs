//! The business-event journal: every state change in central appends a typed event in the
//! transaction that makes the change; the sequencer numbers committed events 1, 2, 3 …
//! without gaps; consumers inside central (and HQ integrations over `GET /api/v1/events`)
//! read them in that order.
//!
//! Exactly once for consumers: a consumer's position advances in the same transaction that
//! applies the events (`consumer::run_once`), like the edge sync streams.
//!
//! What it is not: the source of truth for any system (each keeps its own tables) or a
//! place for rules.

pub mod consumer;
pub mod http;
pub mod store;

use serde::{Deserialize, Serialize};
use tote_shared::sync::OrderLine;
use tote_shared::{Money, Qty, Sku, WarehouseCode};

/// One order line as events carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventLine {
    pub sku: Sku,
    pub qty: Qty,
    /// List price per unit, minor units.
    pub unit_price: i64,
    /// What promotions took off the line, minor units.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub discount: i64,
}

impl EventLine {
    /// What the line was sold for: `qty × unit_price − discount`.
    pub fn amount(&self) -> i64 {
        self.unit_price.saturating_mul(self.qty.as_i64()).saturating_sub(self.discount)
    }
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

fn is_zero_money(m: &Money) -> bool {
    *m == Money::ZERO
}

/// A cost that belongs to `units` of a SKU received earlier (minor units; negative: a refund).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LateCost {
    pub sku: Sku,
    pub units: i64,
    pub amount: i64,
}

/// What came back of one SKU of a return, and the price it was paid at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReturnedUnits {
    pub sku: Sku,
    /// Units that passed QC and are sellable stock again.
    pub passed: i64,
    /// Units that failed QC: set aside as damaged.
    pub failed: i64,
    pub unit_price: i64,
}

/// What happened, as the systems that care about it need to know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BusinessEvent {
    SpuCreated { spu_id: String },
    SkuCreated { sku: Sku, spu_id: String, price: i64, cost: i64 },
    WarehouseCreated { warehouse: WarehouseCode },
    /// An order was taken and its stock locked at `warehouse`.
    OrderCreated {
        order_id: u64,
        channel: String,
        warehouse: WarehouseCode,
        lines: Vec<EventLine>,
        total: i64,
        /// The channel's id of the customer, when the order names one (marketing's profiles).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        customer: Option<String>,
    },
    OrderPaid {
        order_id: u64,
        warehouse: Option<WarehouseCode>,
        lines: Vec<EventLine>,
        total: i64,
        /// The marketplace that took the buyer's money (an imported order); none when Tote's
        /// own payment channels or a clerk did.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        collected_by: Option<String>,
    },
    /// Cancel asked after release: waiting for the warehouse to stop.
    OrderCancelling { order_id: u64, warehouse: Option<WarehouseCode> },
    OrderCancelled { order_id: u64, lines: Vec<EventLine>, was_paid: bool },
    /// A paid split order's cancel ended with some parts shipped anyway (they had left before
    /// the cancel reached their warehouse) and these lines, of the parts that stopped, not sent.
    OrderPartsCancelled { order_id: u64, lines: Vec<EventLine> },
    /// Not paid in time.
    OrderClosed { order_id: u64 },
    OrderPicked { order_id: u64, warehouse: Option<WarehouseCode> },
    OrderPacked { order_id: u64, warehouse: Option<WarehouseCode> },
    OrderShipped { order_id: u64, warehouse: Option<WarehouseCode>, carrier: String, tracking_number: String, lines: Vec<EventLine> },
    /// A parcel's tracking moved forward (`state` as `logistics::tracking::TrackState`), at
    /// the time the carrier reported.
    ParcelTracked { order_id: u64, carrier: String, waybill: String, state: String, at_ms: i64 },
    /// A parcel left with a carrier at the freight quoted when its order was released (minor
    /// units): what we owe the carrier until its statement says otherwise.
    FreightAccrued { order_id: u64, carrier: String, waybill: String, amount: i64 },
    /// The parcel's carrier order was cancelled before pick-up: its accrued freight is not owed.
    FreightReversed { order_id: u64, carrier: String, waybill: String, amount: i64 },
    /// A carrier was booked to bring an after-sales return back (a courier collecting, or a
    /// prepaid label) at the freight quoted (minor units): owed to the carrier.
    ReturnFreightAccrued { request_id: u64, order_id: u64, carrier: String, waybill: String, amount: i64 },
    /// The return was cancelled at the carrier before collection: its freight is not owed.
    ReturnFreightReversed { request_id: u64, order_id: u64, carrier: String, waybill: String, amount: i64 },
    /// An order took a coupon (one of its codes): `discount` is what the coupon took off it.
    CouponRedeemed { order_id: u64, promotion: String, discount: i64 },
    /// A cancelled, unpaid or wholly refunded order gave its coupon back.
    CouponReleased { order_id: u64, promotion: String },
    /// A delivered order earned points, locked until its return window closes (the order
    /// completes). `value`: what they are worth, minor units — the points liability grows by it.
    PointsEarned { customer: String, order_id: u64, points: i64, value: i64 },
    /// An order paid `points` of its price with points.
    PointsRedeemed { customer: String, order_id: u64, points: i64, value: i64 },
    /// A cancelled, unpaid or wholly refunded order gave back the points it was paid with.
    PointsReturned { customer: String, order_id: u64, points: i64, value: i64 },
    /// A refund took back what its order earned: points still held, or a debt for those spent.
    PointsClawedBack { customer: String, order_id: u64, points: i64, value: i64 },
    /// Points reached their lot's date unspent (or came back to a lot past it).
    PointsExpired { customer: String, points: i64, value: i64 },
    /// A customer's tier changed: up when their 12-month spend reached it, down at a period's end.
    MemberTierChanged { customer: String, from: String, to: String },
    /// A group buy's group reached its size: its paid orders go to their warehouses.
    GroupBuyFormed { group_id: u64, offer: String, orders: Vec<u64> },
    /// A group buy's group did not form by its deadline: its orders are cancelled (the paid
    /// ones refunded).
    GroupBuyFailed { group_id: u64, offer: String, orders: Vec<u64> },
    /// Tracking says the parcel reached the customer.
    OrderDelivered { order_id: u64, warehouse: Option<WarehouseCode> },
    /// The return window closed with no after-sales request open: nothing more will happen.
    OrderCompleted { order_id: u64 },
    /// Paid, but no warehouse has the stock now.
    OrderBackordered { order_id: u64 },
    /// A warehouse took over the order (after a backorder or a failed fulfilment).
    OrderAllocated { order_id: u64, warehouse: WarehouseCode },
    /// An unpaid order's lock moved to another warehouse (stock fell at the first).
    OrderLockMoved { order_id: u64, from: WarehouseCode, to: WarehouseCode },
    StockReceived {
        sku: Sku,
        warehouse: WarehouseCode,
        qty: Qty,
        /// The purchase order's unit cost (minor units) when the units arrived against one of
        /// its ASNs; absent for other receipts (valued at the SKU's standard cost).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        unit_cost: Option<i64>,
    },
    /// Goods received against a supplier's delivery that failed QC: set aside, never sold,
    /// not the retailer's stock (they go back to the supplier).
    StockHeld { sku: Sku, warehouse: WarehouseCode, qty: Qty, delivery: String },
    /// HQ moved a SKU along its lifecycle (draft, listed, clearance, retired).
    SkuStateChanged { sku: Sku, from: String, to: String, reason: String },
    /// The price checkout charges changed (minor units): a price set, one that started or
    /// ended, or the SKU going into or out of clearance (`kind`: which price is now in force).
    SkuPriceChanged { sku: Sku, from: i64, to: i64, kind: String, reason: String },
    /// A health scan found stock needing attention (`alert`: no_sales, slow_mover, overstock,
    /// near_expiry, expired; `lot` empty for the SKU's stock as a whole): `units` concerned,
    /// `excess` of them beyond what sells in time (overstock: past the cover limit; a lot:
    /// what will not sell before it expires). Marketing's clearances start from these.
    StockAlertRaised { alert: String, sku: Sku, warehouse: WarehouseCode, lot: String, units: i64, excess: i64, expiry: Option<String> },
    /// The condition behind an alert no longer holds (sold, counted, moved, expired away).
    StockAlertCleared { alert: String, sku: Sku, warehouse: WarehouseCode, lot: String },
    /// A supplier's onboarding moved on (submitted, approved, suspended, …).
    SupplierStateChanged { supplier: String, from: String, to: String },
    /// HQ approved a purchase order: the supplier sees it on the supplier API.
    PurchaseOrderSent { po_id: u64, supplier: String, warehouse: WarehouseCode, lines: Vec<PurchaseLine> },
    /// The supplier confirmed the order (some lines perhaps for fewer units) for a date.
    PurchaseOrderConfirmed { po_id: u64, supplier: String, promised_ms: i64, lines: Vec<OrderLine> },
    /// The supplier turned the order down.
    PurchaseOrderRejected { po_id: u64, supplier: String, reason: String },
    /// HQ cancelled an order nothing had shipped on.
    PurchaseOrderCancelled { po_id: u64, supplier: String },
    /// The supplier announced a shipment (ASN): the units are in transit to the warehouse.
    AsnNotified { po_id: u64, delivery: String, warehouse: WarehouseCode, eta_ms: i64, lines: Vec<OrderLine> },
    /// Units of a purchase order arrived at its warehouse: `passed` QC into stock, `failed` held.
    PurchaseReceived { po_id: u64, delivery: String, sku: Sku, warehouse: WarehouseCode, passed: u32, failed: u32 },
    /// Everything confirmed has arrived, or HQ closed the order short: nothing more will come
    /// (`not_arrived`: units of its ASNs that never came, no longer in transit to `warehouse`).
    PurchaseOrderClosed { po_id: u64, supplier: String, warehouse: WarehouseCode, short: bool, not_arrived: Vec<OrderLine> },
    /// A supplier invoice matched its order and receipts within tolerance (`by_hand`: HQ
    /// approved it despite differences): approved for payment.
    SupplierInvoiceApproved {
        invoice_id: u64,
        po_id: u64,
        supplier: String,
        total: Money,
        by_hand: bool,
        /// The invoiced units at the order's unit costs: what the receipts put in goods
        /// received not invoiced (the rest of `total` is a price variance).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        received_value: Option<Money>,
        /// Input VAT the invoice charges on top of `total`.
        #[serde(default, skip_serializing_if = "is_zero_money")]
        tax: Money,
        /// The order's warehouse, where its goods were received.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        warehouse: Option<WarehouseCode>,
        /// Per SKU, what the invoice prices its received units at beyond (or below) the
        /// order's costs: a late cost of those units.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        late_costs: Vec<LateCost>,
    },
    /// A landed cost of a purchase order's received goods (inbound freight, duty) that `payee`
    /// billed: capitalised onto those goods (`late_costs`, by value), owed to the payee.
    LandedCostAdded { po_id: u64, warehouse: WarehouseCode, payee: String, reference: String, amount: Money, late_costs: Vec<LateCost> },
    /// HQ paid an approved supplier invoice (bank transfer `reference`).
    SupplierInvoicePaid { invoice_id: u64, po_id: u64, supplier: String, amount: Money, reference: String },
    /// A supplier invoice differs from its order or receipts beyond tolerance: held for HQ.
    SupplierInvoiceHeld { invoice_id: u64, po_id: u64, supplier: String, total: Money, differences: u32 },
    /// HQ refused a held supplier invoice (the supplier must send a corrected one).
    SupplierInvoiceRejected { invoice_id: u64, po_id: u64, supplier: String },
    /// Physical stock changed outside an order: count, damage, short pick, found.
    StockAdjusted { sku: Sku, warehouse: WarehouseCode, delta: i64, reason: String },
    /// A channel confirmed the money (verified signature); finance posts the receipt.
    PaymentSucceeded { payment_id: u64, order_id: u64, channel: String, amount: i64, channel_ref: String },
    PaymentFailed { payment_id: u64, order_id: u64, channel: String, reason: String },
    /// The order ended unpaid and the channel's transaction was closed.
    PaymentClosed { payment_id: u64, order_id: u64, channel: String },
    /// A refund was asked of the channel (by HQ, or automatically for money that came late).
    RefundRequested { refund_id: u64, payment_id: u64, order_id: u64, channel: String, amount: i64, reason: String },
    /// The channel paid the refund back.
    RefundSucceeded { refund_id: u64, payment_id: u64, order_id: u64, channel: String, amount: i64 },
    RefundFailed { refund_id: u64, payment_id: u64, order_id: u64, channel: String, amount: i64 },
    /// A customer asked for units of an order back (`kind`: return_refund, refund_only,
    /// exchange), at the prices paid.
    AfterSalesRequested { request_id: u64, order_id: u64, warehouse: Option<WarehouseCode>, kind: String, reason: String, lines: Vec<EventLine>, amount: i64 },
    /// The request was approved or rejected, by a rule (`rule:<name>`) or by HQ (`hq`).
    AfterSalesDecided { request_id: u64, order_id: u64, approved: bool, by: String },
    /// A return was received and checked at `warehouse` (`reason`: why the customer sent it).
    ReturnReceived { request_id: u64, order_id: u64, warehouse: WarehouseCode, reason: String, lines: Vec<ReturnedUnits> },
    /// The request ended: `refunded`, `exchanged`, `refused` (QC failed), `rejected`, `cancelled`.
    AfterSalesClosed { request_id: u64, order_id: u64, outcome: String },
    /// A marketplace closed an imported order's trade before shipment: it gave the buyer's
    /// money back itself, so what it held for us is no longer ours to collect.
    MarketplaceRefunded { order_id: u64, marketplace: String, amount: i64 },
    /// HQ set an edge's event stream mark by hand (a stream central held ahead of its edge, or
    /// one the edge can no longer resend): events from `to_high_water + 1` on are taken next.
    EdgeStreamRebased { warehouse: WarehouseCode, from_high_water: u64, to_high_water: u64 },
    /// HQ closed a month's books (`YYYY-MM`): its income and expenses move to retained
    /// earnings; events dated in it that post later go into the open period.
    PeriodClosed { month: String, by: String },
    /// A payment channel's bill for a day settled money to the bank: `gross` (payments less
    /// refunds, minor units) out of what the channel held for us, less its `fees`. A second
    /// reconciliation of the same day journals only the change.
    ChannelSettled { channel: String, day: String, gross: i64, fees: i64 },
    /// A finance threshold is crossed (`alert`: gross_margin of category `key`, stock_turnover,
    /// days_of_cash): the value found and the policy's threshold, as decimal text.
    FinanceAlertRaised { alert: String, key: String, value: String, threshold: String },
    /// The condition behind a finance alert no longer holds.
    FinanceAlertCleared { alert: String, key: String },
}

/// The reason of a refund that gives back money paid after its order ended (closed, cancelled,
/// or paid by another payment): money that was never the order's, so nothing that counts what
/// customers spent (tiers, points, campaigns) counts it.
pub const LATE_PAYMENT_REFUND: &str = "paid after the order ended";

impl BusinessEvent {
    /// The `type` on the wire, also stored as the row's kind.
    pub fn kind(&self) -> &'static str {
        match self {
            BusinessEvent::SpuCreated { .. } => "spu_created",
            BusinessEvent::SkuCreated { .. } => "sku_created",
            BusinessEvent::WarehouseCreated { .. } => "warehouse_created",
            BusinessEvent::OrderCreated { .. } => "order_created",
            BusinessEvent::OrderPaid { .. } => "order_paid",
            BusinessEvent::OrderCancelling { .. } => "order_cancelling",
            BusinessEvent::OrderCancelled { .. } => "order_cancelled",
            BusinessEvent::OrderPartsCancelled { .. } => "order_parts_cancelled",
            BusinessEvent::OrderClosed { .. } => "order_closed",
            BusinessEvent::OrderPicked { .. } => "order_picked",
            BusinessEvent::OrderPacked { .. } => "order_packed",
            BusinessEvent::OrderShipped { .. } => "order_shipped",
            BusinessEvent::ParcelTracked { .. } => "parcel_tracked",
            BusinessEvent::FreightAccrued { .. } => "freight_accrued",
            BusinessEvent::FreightReversed { .. } => "freight_reversed",
            BusinessEvent::ReturnFreightAccrued { .. } => "return_freight_accrued",
            BusinessEvent::ReturnFreightReversed { .. } => "return_freight_reversed",
            BusinessEvent::CouponRedeemed { .. } => "coupon_redeemed",
            BusinessEvent::CouponReleased { .. } => "coupon_released",
            BusinessEvent::PointsEarned { .. } => "points_earned",
            BusinessEvent::PointsRedeemed { .. } => "points_redeemed",
            BusinessEvent::PointsReturned { .. } => "points_returned",
            BusinessEvent::PointsClawedBack { .. } => "points_clawed_back",
            BusinessEvent::PointsExpired { .. } => "points_expired",
            BusinessEvent::MemberTierChanged { .. } => "member_tier_changed",
            BusinessEvent::GroupBuyFormed { .. } => "group_buy_formed",
            BusinessEvent::GroupBuyFailed { .. } => "group_buy_failed",
            BusinessEvent::OrderDelivered { .. } => "order_delivered",
            BusinessEvent::OrderCompleted { .. } => "order_completed",
            BusinessEvent::OrderBackordered { .. } => "order_backordered",
            BusinessEvent::OrderAllocated { .. } => "order_allocated",
            BusinessEvent::OrderLockMoved { .. } => "order_lock_moved",
            BusinessEvent::MarketplaceRefunded { .. } => "marketplace_refunded",
            BusinessEvent::StockReceived { .. } => "stock_received",
            BusinessEvent::StockAdjusted { .. } => "stock_adjusted",
            BusinessEvent::StockHeld { .. } => "stock_held",
            BusinessEvent::SkuStateChanged { .. } => "sku_state_changed",
            BusinessEvent::SkuPriceChanged { .. } => "sku_price_changed",
            BusinessEvent::StockAlertRaised { .. } => "stock_alert_raised",
            BusinessEvent::StockAlertCleared { .. } => "stock_alert_cleared",
            BusinessEvent::SupplierStateChanged { .. } => "supplier_state_changed",
            BusinessEvent::PurchaseOrderSent { .. } => "purchase_order_sent",
            BusinessEvent::PurchaseOrderConfirmed { .. } => "purchase_order_confirmed",
            BusinessEvent::PurchaseOrderRejected { .. } => "purchase_order_rejected",
            BusinessEvent::PurchaseOrderCancelled { .. } => "purchase_order_cancelled",
            BusinessEvent::AsnNotified { .. } => "asn_notified",
            BusinessEvent::PurchaseReceived { .. } => "purchase_received",
            BusinessEvent::PurchaseOrderClosed { .. } => "purchase_order_closed",
            BusinessEvent::SupplierInvoiceApproved { .. } => "supplier_invoice_approved",
            BusinessEvent::SupplierInvoicePaid { .. } => "supplier_invoice_paid",
            BusinessEvent::SupplierInvoiceHeld { .. } => "supplier_invoice_held",
            BusinessEvent::SupplierInvoiceRejected { .. } => "supplier_invoice_rejected",
            BusinessEvent::PaymentSucceeded { .. } => "payment_succeeded",
            BusinessEvent::PaymentFailed { .. } => "payment_failed",
            BusinessEvent::PaymentClosed { .. } => "payment_closed",
            BusinessEvent::RefundRequested { .. } => "refund_requested",
            BusinessEvent::RefundSucceeded { .. } => "refund_succeeded",
            BusinessEvent::RefundFailed { .. } => "refund_failed",
            BusinessEvent::EdgeStreamRebased { .. } => "edge_stream_rebased",
            BusinessEvent::PeriodClosed { .. } => "period_closed",
            BusinessEvent::ChannelSettled { .. } => "channel_settled",
            BusinessEvent::LandedCostAdded { .. } => "landed_cost_added",
            BusinessEvent::FinanceAlertRaised { .. } => "finance_alert_raised",
            BusinessEvent::FinanceAlertCleared { .. } => "finance_alert_cleared",
            BusinessEvent::AfterSalesRequested { .. } => "after_sales_requested",
            BusinessEvent::AfterSalesDecided { .. } => "after_sales_decided",
            BusinessEvent::ReturnReceived { .. } => "return_received",
            BusinessEvent::AfterSalesClosed { .. } => "after_sales_closed",
        }
    }

    /// What the event is about, for filtering: `order:42`, `sku:PEG39-M-WHT-42`, …
    pub fn subject(&self) -> String {
        use BusinessEvent as E;
        match self {
            E::SpuCreated { spu_id } => format!("spu:{spu_id}"),
            E::SkuCreated { sku, .. }
            | E::StockReceived { sku, .. }
            | E::StockAdjusted { sku, .. }
            | E::StockHeld { sku, .. }
            | E::SkuStateChanged { sku, .. }
            | E::SkuPriceChanged { sku, .. }
            | E::StockAlertRaised { sku, .. }
            | E::StockAlertCleared { sku, .. } => format!("sku:{sku}"),
            E::SupplierStateChanged { supplier, .. } => format!("supplier:{supplier}"),
            E::PurchaseOrderSent { po_id, .. }
            | E::PurchaseOrderConfirmed { po_id, .. }
            | E::PurchaseOrderRejected { po_id, .. }
            | E::PurchaseOrderCancelled { po_id, .. }
            | E::AsnNotified { po_id, .. }
            | E::PurchaseReceived { po_id, .. }
            | E::PurchaseOrderClosed { po_id, .. }
            | E::SupplierInvoiceApproved { po_id, .. }
            | E::LandedCostAdded { po_id, .. }
            | E::SupplierInvoicePaid { po_id, .. }
            | E::SupplierInvoiceHeld { po_id, .. }
            | E::SupplierInvoiceRejected { po_id, .. } => format!("po:{po_id}"),
            E::WarehouseCreated { warehouse } | E::EdgeStreamRebased { warehouse, .. } => format!("warehouse:{warehouse}"),
            E::PeriodClosed { month, .. } => format!("period:{month}"),
            E::ChannelSettled { channel, .. } => format!("channel:{channel}"),
            E::FinanceAlertRaised { alert, .. } | E::FinanceAlertCleared { alert, .. } => format!("finance:{alert}"),
            E::OrderCreated { order_id, .. }
            | E::OrderPaid { order_id, .. }
            | E::OrderCancelling { order_id, .. }
            | E::OrderCancelled { order_id, .. }
            | E::OrderPartsCancelled { order_id, .. }
            | E::OrderClosed { order_id }
            | E::OrderPicked { order_id, .. }
            | E::OrderPacked { order_id, .. }
            | E::OrderShipped { order_id, .. }
            | E::ParcelTracked { order_id, .. }
            | E::FreightAccrued { order_id, .. }
            | E::FreightReversed { order_id, .. }
            | E::ReturnFreightAccrued { order_id, .. }
            | E::ReturnFreightReversed { order_id, .. }
            | E::CouponRedeemed { order_id, .. }
            | E::CouponReleased { order_id, .. }
            | E::OrderDelivered { order_id, .. }
            | E::OrderCompleted { order_id }
            | E::OrderBackordered { order_id }
            | E::OrderAllocated { order_id, .. }
            | E::OrderLockMoved { order_id, .. }
            | E::MarketplaceRefunded { order_id, .. } => format!("order:{order_id}"),
            E::PaymentSucceeded { payment_id, .. } | E::PaymentFailed { payment_id, .. } | E::PaymentClosed { payment_id, .. } => {
                format!("payment:{payment_id}")
            }
            E::RefundRequested { refund_id, .. } | E::RefundSucceeded { refund_id, .. } | E::RefundFailed { refund_id, .. } => {
                format!("refund:{refund_id}")
            }
            E::PointsEarned { customer, .. }
            | E::PointsRedeemed { customer, .. }
            | E::PointsReturned { customer, .. }
            | E::PointsClawedBack { customer, .. }
            | E::PointsExpired { customer, .. }
            | E::MemberTierChanged { customer, .. } => format!("customer:{customer}"),
            E::GroupBuyFormed { group_id, .. } | E::GroupBuyFailed { group_id, .. } => format!("group:{group_id}"),
            E::AfterSalesRequested { order_id, .. }
            | E::AfterSalesDecided { order_id, .. }
            | E::ReturnReceived { order_id, .. }
            | E::AfterSalesClosed { order_id, .. } => format!("order:{order_id}"),
        }
    }
}

/// One line of a purchase order as sent: units at the agreed unit cost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PurchaseLine {
    pub sku: Sku,
    pub qty: Qty,
    pub unit_cost: Money,
}

/// A numbered journal entry.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JournalEntry {
    /// 1, 2, 3 … without gaps.
    pub seq: u64,
    pub at_ms: i64,
    pub subject: String,
    pub event: BusinessEvent,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_kind_is_the_wire_type() {
        let e = BusinessEvent::OrderClosed { order_id: 3 };
        let json = serde_json::to_value(&e).expect("serialises");
        assert_eq!(json["type"], e.kind());
        assert_eq!(e.subject(), "order:3");
    }
}
