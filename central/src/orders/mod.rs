//! Orders: intake with routing and stock locks, and every later transition with its effects.
//!
//! The rules are pure: the lifecycle is `tote_shared::order::transition` (state + event →
//! next state + effects), routing is `routing::choose_warehouse`, and this module maps
//! effects to stock rules and transitions to journal events. `flow.rs` carries a decision
//! out in the caller's transaction (load → decide → apply); `store.rs` owns the order
//! tables; `http.rs` the routes.

pub mod checks;
pub mod flow;
pub mod http;
pub mod intake;
pub mod pricing;
pub mod routing;
pub mod screen;
pub mod store;

use crate::db::DbError;
use crate::edge_sync::commands::StreamError;
use crate::inventory::{InventoryError, Rule};
use crate::journal::{BusinessEvent, EventLine};
use crate::marketing::MarketingError;
use serde::{Deserialize, Serialize};
use tote_shared::geo::GeoPoint;
use tote_shared::order::{OrderEffect, OrderError, OrderState};
use tote_shared::stock::StockLevel;
use tote_shared::sync::{OrderLine, ShipTo};
use tote_shared::{Money, Qty, Sku, WarehouseCode};

#[derive(Debug, Clone)]
pub struct CreateOrder {
    pub channel: String,
    /// The channel's id of the customer, when it has one.
    pub customer: Option<String>,
    pub lines: Vec<OrderLine>,
    pub ship_to: ShipTo,
    pub destination: GeoPoint,
    pub now_ms: i64,
    pub payment_deadline_ms: i64,
    /// What the shop front priced: the codes presented and the total it showed.
    pub checkout: CheckoutTerms,
}

/// An order placed from the shop front's cart is priced again as it is taken: the live
/// promotions, the coupon codes presented (taken by this order in its transaction), and the
/// total the customer was shown, which must still hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckoutTerms {
    pub coupons: Vec<String>,
    /// The payable the customer saw; a different price now refuses the order (409).
    pub expected_total: Option<i64>,
    /// Points the customer pays part of it with.
    pub points: i64,
    /// A group buy the order opens a group of, or joins (`GroupJoin::group`).
    pub group: Option<GroupJoin>,
}

/// The group buy an order is for: a new group of `offer`, or the open `group` of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupJoin {
    pub offer: String,
    pub group: Option<u64>,
}

impl CreateOrder {
    /// The order it makes, before it has an id: one part at `warehouse` (`flow` sets the
    /// parts of a split order).
    pub fn record(&self, state: OrderState, warehouse: Option<WarehouseCode>, lines: Vec<OrderLineRecord>, total: Money) -> OrderRecord {
        OrderRecord {
            id: 0,
            state,
            channel: self.channel.clone(),
            customer: self.customer.clone(),
            parts: vec![OrderPart { part: 1, warehouse: warehouse.clone(), state, lines: lines.clone(), carrier: None, tracking_number: None }],
            warehouse,
            lines,
            total,
            ship_to: self.ship_to.clone(),
            tracking_number: None,
            carrier: None,
            created_at_ms: self.now_ms,
            payment_deadline_ms: self.payment_deadline_ms,
            updated_at_ms: self.now_ms,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrderLineRecord {
    pub sku: Sku,
    pub qty: Qty,
    /// The list price per unit when the order was taken.
    pub unit_price: Money,
    /// What promotions took off the whole line (its share of each, by largest remainder):
    /// the line costs `qty × unit_price − discount`.
    #[serde(default)]
    pub discount: Money,
    /// The promotions that make up `discount`, each with its share of this line.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 30)]
    pub discounts: Vec<LineDiscount>,
}

/// One promotion's share of a line's discount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LineDiscount {
    pub promotion: String,
    pub amount: i64,
}

impl OrderLineRecord {
    /// A line at its list price.
    pub fn listed(sku: Sku, qty: Qty, unit_price: Money) -> OrderLineRecord {
        OrderLineRecord { sku, qty, unit_price, discount: Money::ZERO, discounts: Vec::new() }
    }

    /// What the line costs: `qty × unit_price − discount` (a line of an order whose total fit
    /// cannot overflow).
    pub fn amount(&self) -> i64 {
        self.unit_price.minor().saturating_mul(self.qty.as_i64()).saturating_sub(self.discount.minor())
    }

    /// What each unit was paid, rounded down to the fen (refunds give back exact shares:
    /// `tote_shared::units_share`).
    pub fn paid_per_unit(&self) -> i64 {
        self.amount() / self.qty.as_i64()
    }
}

/// What one warehouse ships of an order. An order no warehouse could serve alone is split, a
/// part per warehouse, each fulfilled by its own edge under the order's id; an order that is
/// not split has one part that mirrors it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrderPart {
    /// 1, 2, … in the order the split made them (nearest warehouse first).
    pub part: u32,
    /// None while this part waits for stock (backordered).
    pub warehouse: Option<WarehouseCode>,
    pub state: OrderState,
    pub lines: Vec<OrderLineRecord>,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
}

/// Lines as the edge and routing see them (no prices).
fn plain_lines(lines: &[OrderLineRecord]) -> Vec<OrderLine> {
    lines.iter().map(|l| OrderLine { sku: l.sku.clone(), qty: l.qty }).collect()
}

impl OrderPart {
    pub fn order_lines(&self) -> Vec<OrderLine> {
        plain_lines(&self.lines)
    }

    /// What its lines cost (a part of an order whose total fit cannot overflow).
    pub fn value(&self) -> i64 {
        self.lines.iter().map(OrderLineRecord::amount).fold(0, i64::saturating_add)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrderRecord {
    pub id: u64,
    pub state: OrderState,
    pub channel: String,
    /// The channel's id of the customer, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<String>,
    /// The warehouse that holds the stock for this order (none while backordered, and none
    /// for a split order: see `parts`).
    pub warehouse: Option<WarehouseCode>,
    pub lines: Vec<OrderLineRecord>,
    /// Who ships what: one part, or one per warehouse when the order was split.
    pub parts: Vec<OrderPart>,
    pub total: Money,
    pub ship_to: ShipTo,
    pub tracking_number: Option<String>,
    pub carrier: Option<String>,
    pub created_at_ms: i64,
    pub payment_deadline_ms: i64,
    pub updated_at_ms: i64,
}

impl OrderRecord {
    /// The lines as the edge and routing see them (no prices).
    pub fn order_lines(&self) -> Vec<OrderLine> {
        plain_lines(&self.lines)
    }

    pub fn is_split(&self) -> bool {
        self.parts.len() > 1
    }

    /// The part at `warehouse` (re-routing never sends a second part of an order to a
    /// warehouse that holds one).
    pub fn part_at(&self, warehouse: &WarehouseCode) -> Option<usize> {
        self.parts.iter().position(|p| p.warehouse.as_ref() == Some(warehouse))
    }

    /// The warehouse that shipped (or holds) `sku` of this order.
    pub fn warehouse_of(&self, sku: &Sku) -> Option<&WarehouseCode> {
        self.parts.iter().find(|p| p.lines.iter().any(|l| &l.sku == sku)).and_then(|p| p.warehouse.as_ref())
    }

    /// Recomputes what the order shows from its parts: its state, and its warehouse, carrier
    /// and tracking number when it has one part (a split order's are its parts').
    pub fn settle(&mut self) {
        let states: Vec<OrderState> = self.parts.iter().map(|p| p.state).collect();
        self.state = tote_shared::order::overall(&states);
        if let [only] = self.parts.as_slice() {
            self.warehouse = only.warehouse.clone();
            self.carrier = only.carrier.clone();
            self.tracking_number = only.tracking_number.clone();
        } else {
            self.warehouse = None;
            let first = self.parts.iter().find(|p| p.tracking_number.is_some());
            self.carrier = first.and_then(|p| p.carrier.clone());
            self.tracking_number = first.and_then(|p| p.tracking_number.clone());
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrderHistoryEntry {
    pub at_ms: i64,
    pub from_state: OrderState,
    pub to_state: OrderState,
    pub cause: String,
    pub warehouse: Option<WarehouseCode>,
}

#[derive(Debug, thiserror::Error)]
pub enum OrdersError {
    /// 404
    #[error("{0} not found")]
    NotFound(String),
    /// 422
    #[error("unknown SKU {0}")]
    UnknownSku(String),
    /// 422: the SKU is in the catalog but not on sale (a draft, or retired).
    #[error("SKU {sku} is not on sale ({state})")]
    NotOnSale { sku: String, state: &'static str },
    /// 409: no warehouse can serve the order.
    #[error("no warehouse can serve the order: {0}")]
    InsufficientStock(String),
    /// 422: the order's state does not allow it.
    #[error(transparent)]
    Transition(#[from] OrderError),
    /// 409: a stock rule refused (e.g. the edge shipped more than was committed).
    #[error(transparent)]
    Stock(InventoryError),
    /// 422
    #[error("{0}")]
    Invalid(String),
    /// 422 or 409: a pre-check refused the order before any stock was locked.
    #[error(transparent)]
    Refused(#[from] checks::Refusal),
    /// 409: the cart costs another amount than the customer was shown.
    #[error("the price changed: {0}")]
    PriceChanged(String),
    /// 422 or 409: a coupon code that does not apply or was taken, or a cart pricing refused.
    #[error(transparent)]
    Checkout(MarketingError),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<MarketingError> for OrdersError {
    fn from(e: MarketingError) -> Self {
        match e {
            MarketingError::Db(e) => OrdersError::Db(e),
            other => OrdersError::Checkout(other),
        }
    }
}

impl From<InventoryError> for OrdersError {
    fn from(e: InventoryError) -> Self {
        match e {
            InventoryError::Db(e) => OrdersError::Db(e),
            rule => OrdersError::Stock(rule),
        }
    }
}

impl From<StreamError> for OrdersError {
    fn from(e: StreamError) -> Self {
        match e {
            StreamError::UnknownWarehouse(w) => OrdersError::NotFound(format!("warehouse {w}")),
            StreamError::Db(e) => OrdersError::Db(e),
        }
    }
}

/// The cause of the history row that tells of a split order's parts a cancel stopped while
/// others shipped (`order_parts_cancelled`).
pub const PARTS_CANCELLED: &str = "order_parts_cancelled";

/// The cause of an imported order's payment: the marketplace took the money.
pub const PAID_AT_CHANNEL: &str = "order_paid_at_channel";

/// The stock rule an effect applies to each line, if it touches stock.
pub fn stock_rule(effect: OrderEffect) -> Option<Rule> {
    match effect {
        OrderEffect::CommitLock => Some(StockLevel::commit_lock),
        OrderEffect::ReleaseLock => Some(StockLevel::release_lock),
        OrderEffect::ReleaseCommitment => Some(StockLevel::release_commitment),
        OrderEffect::CommitDirect => Some(StockLevel::commit_direct),
        OrderEffect::ShipStock => Some(StockLevel::ship),
        OrderEffect::SendFulfilToEdge | OrderEffect::SendCancelToEdge | OrderEffect::Reroute => None,
    }
}

pub fn event_lines(order: &OrderRecord) -> Vec<EventLine> {
    order.lines.iter().map(event_line).collect()
}

pub(crate) fn event_line(l: &OrderLineRecord) -> EventLine {
    EventLine { sku: l.sku.clone(), qty: l.qty, unit_price: l.unit_price.minor(), discount: l.discount.minor() }
}

/// The cause of a shipment reported by an edge: for a split order, every part's shipment is
/// an `order_shipped` event even when the order's own state does not change.
pub const SHIPMENT_CAUSE: &str = "edge_shipment";

/// The journal event an order's change of state means, if any (a state that does not change,
/// e.g. edge progress reported during a cancel, means none). `part`: the part whose step it
/// was (its lines, warehouse and parcel), or None for a step of the whole order.
pub fn journal_event(order: &OrderRecord, part: Option<&OrderPart>, from: OrderState, to: OrderState, cause: &str) -> Option<BusinessEvent> {
    use OrderState as S;
    let order_id = order.id;
    let warehouse = part.map_or_else(|| order.warehouse.clone(), |p| p.warehouse.clone());
    if cause == SHIPMENT_CAUSE {
        let (carrier, tracking_number, lines) = match part {
            Some(p) => (p.carrier.clone(), p.tracking_number.clone(), p.lines.iter().map(event_line).collect()),
            None => (order.carrier.clone(), order.tracking_number.clone(), event_lines(order)),
        };
        let (carrier, tracking_number) = (carrier.unwrap_or_default(), tracking_number.unwrap_or_default());
        return Some(BusinessEvent::OrderShipped { order_id, warehouse, carrier, tracking_number, lines });
    }
    Some(match to {
        _ if from == to => return None,
        S::AwaitingShipment | S::Grouping if from == S::AwaitingPayment => {
            let collected_by = (cause == PAID_AT_CHANNEL).then(|| order.channel.clone());
            BusinessEvent::OrderPaid { order_id, warehouse, lines: event_lines(order), total: order.total.minor(), collected_by }
        }
        // Its group formed: marketing journals that, for every order of the group at once.
        S::AwaitingShipment if from == S::Grouping => return None,
        S::AwaitingShipment => BusinessEvent::OrderAllocated { order_id, warehouse: warehouse? },
        S::Picked => BusinessEvent::OrderPicked { order_id, warehouse },
        S::Packed => BusinessEvent::OrderPacked { order_id, warehouse },
        // Reached by a shipment only (above); otherwise a part was dropped beside shipped ones.
        S::Shipped | S::PartlyShipped => return None,
        S::Delivered => BusinessEvent::OrderDelivered { order_id, warehouse },
        S::Completed => BusinessEvent::OrderCompleted { order_id },
        S::Backordered => BusinessEvent::OrderBackordered { order_id },
        S::Cancelling => BusinessEvent::OrderCancelling { order_id, warehouse },
        S::Cancelled => BusinessEvent::OrderCancelled { order_id, lines: event_lines(order), was_paid: !matches!(from, S::AwaitingPayment | S::Held) },
        S::Closed => BusinessEvent::OrderClosed { order_id },
        S::AwaitingPayment | S::Held | S::Grouping => return None,
    })
}

/// Why an address's free text is not acceptable.
#[derive(Debug, thiserror::Error)]
pub enum ShipToProblem {
    #[error(transparent)]
    Text(#[from] tote_shared::text::TextError),
    /// An optional field (postcode, phone) longer than 20 characters.
    #[error("{0} must have at most 20 characters")]
    TooLong(&'static str),
}

/// The free-text rules of an address, wherever an order comes from: what goes on to the
/// warehouse, the label and the carrier.
pub fn check_ship_to(to: &ShipTo) -> Result<(), ShipToProblem> {
    use tote_shared::text::{check, check_chars};
    check("ship_to.name", &to.name, 100)?;
    check("ship_to.line1", &to.line1, 300)?;
    check("ship_to.city", &to.city, 100)?;
    for (field, value) in [("ship_to.postcode", &to.postcode), ("ship_to.phone", &to.phone)] {
        if value.chars().count() > 20 {
            return Err(ShipToProblem::TooLong(field));
        }
        check_chars(field, value)?;
    }
    Ok(())
}

/// "2 × PEG39-M-WHT-42, 1 × …" for a refusal.
pub fn shortage_text(lines: &[OrderLine], any_stock: bool) -> String {
    let wanted: Vec<String> = lines.iter().map(|l| format!("{} × {}", l.qty.get(), l.sku)).collect();
    if any_stock {
        format!("no single warehouse has sellable stock for {}", wanted.join(", "))
    } else {
        format!("no warehouse stocks {}", wanted.join(", "))
    }
}
