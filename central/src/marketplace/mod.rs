//! Marketplaces: orders a marketplace shop (Tmall- or JD-style) sold are imported as orders
//! of its channel, carrying the marketplace's own order id, and their shipments are confirmed
//! back to it.
//!
//! - **Import** (`flow::import`): one order per (channel, order id), whoever brings it — the
//!   puller (`puller.rs`, the TOP increment API) or a connector posting it
//!   (`POST /marketplaces/{name}/orders`) — however often. A re-import with the same content
//!   answers the order; with other content it is refused (changes after import are HQ's). An
//!   order that cannot be taken (an unknown SKU, a blocklisted buyer, an address we cannot
//!   deliver to) is kept as a refused import with the reason, for HQ, and tried again when
//!   it comes again.
//! - **Closed trades**: a trade the marketplace closed before shipment (the buyer was
//!   refunded there) cancels its order.
//! - **Confirmation**: a shipped imported order is queued (journal consumer, in the shipment's
//!   wake) and confirmed to the marketplace once; a confirmation whose answer was lost is
//!   recognised by the marketplace's "already consigned" naming the same tracking number.
//!
//! Pure here: a trade → an import (`from_trade`), what a re-import means, the retry backoff.

pub mod client;
pub mod flow;
pub mod http;
pub mod puller;
pub mod store;

use crate::db::DbError;
use crate::orders::OrdersError;
use serde::{Deserialize, Serialize};
use tote_shared::geo::GeoPoint;
use tote_shared::marketplace::{self as top, Trade};
use tote_shared::sync::ShipTo;
use tote_shared::{Qty, Sku};

/// Most lines one imported order may have.
pub const MAX_LINES: usize = 200;

/// One line as the marketplace sold it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportLine {
    pub sku: Sku,
    pub qty: Qty,
    /// What the buyer paid for the line, after discounts, in minor units.
    #[schema(minimum = 0)]
    pub paid: i64,
}

/// An order a marketplace sold, as its connector or the puller hands it over.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportOrder {
    /// The marketplace's order id (unique per marketplace): 1 to 64 visible ASCII characters.
    #[schema(pattern = "^[!-~]{1,64}$", min_length = 1, max_length = 64)]
    pub external_id: String,
    /// The buyer's id at the marketplace.
    #[serde(default)]
    #[schema(value_type = Option<tote_shared::openapi::Text40>)]
    pub buyer: Option<String>,
    #[schema(min_items = 1, max_items = 200)]
    pub lines: Vec<ImportLine>,
    pub ship_to: ShipTo,
    /// Coordinates of the address, when the marketplace gives them; else the city is looked up.
    #[serde(default)]
    pub location: Option<GeoPoint>,
    /// When the buyer paid (Unix ms).
    pub paid_at_ms: i64,
    /// The dispatch time promised to the buyer (Unix ms), if any.
    #[serde(default)]
    pub ship_by_ms: Option<i64>,
}

impl ImportOrder {
    pub fn paid_total(&self) -> Option<i64> {
        self.lines.iter().try_fold(0i64, |sum, l| sum.checked_add(l.paid))
    }

    /// Why it cannot be an order, if it cannot (before any lookup).
    pub fn problem(&self) -> Option<String> {
        let id_ok = (1..=64).contains(&self.external_id.len()) && self.external_id.bytes().all(|b| b.is_ascii_graphic());
        if !id_ok {
            return Some("external_id must be 1 to 64 visible ASCII characters".into());
        }
        if self.lines.is_empty() || self.lines.len() > MAX_LINES {
            return Some(format!("an order needs 1 to {MAX_LINES} lines"));
        }
        let mut seen = std::collections::HashSet::new();
        for line in &self.lines {
            if !seen.insert(&line.sku) {
                return Some(format!("SKU {} appears twice", line.sku));
            }
            if line.paid < 0 {
                return Some(format!("the line for {} has a negative amount paid", line.sku));
            }
        }
        if self.paid_total().is_none() {
            return Some("the amounts paid overflow".into());
        }
        self.text_problem().err()
    }

    /// The same rules for free text as an order placed through the API: what goes on to the
    /// warehouse, the label and the carrier.
    fn text_problem(&self) -> Result<(), String> {
        if let Some(buyer) = &self.buyer {
            tote_shared::text::check("buyer", buyer, 40).map_err(|e| e.to_string())?;
        }
        crate::orders::check_ship_to(&self.ship_to).map_err(|e| e.to_string())
    }

    /// What a re-import is compared by: the buyer, the lines with their amounts and the
    /// address (not the coordinates or times, which connectors fill in differently).
    pub fn content_hash(&self) -> String {
        let canonical = serde_json::json!([self.external_id, self.buyer, self.lines, self.ship_to]);
        crate::orders::checks::short_hash(&canonical.to_string())
    }
}

/// Where an import stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportState {
    /// Claimed by an import under way (never seen outside its transaction).
    Pending,
    /// An order exists for it.
    Imported,
    /// It could not be taken; `reason` says why. Tried again when it comes again.
    Refused,
}

impl ImportState {
    pub fn as_str(self) -> &'static str {
        match self {
            ImportState::Pending => "pending",
            ImportState::Imported => "imported",
            ImportState::Refused => "refused",
        }
    }

    pub fn parse(raw: &str) -> Option<ImportState> {
        [ImportState::Pending, ImportState::Imported, ImportState::Refused].into_iter().find(|s| s.as_str() == raw)
    }
}

/// Where a shipment confirmation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConfirmState {
    /// Not yet accepted by the marketplace; tried with backoff.
    Pending,
    Confirmed,
    /// The marketplace holds another tracking number for the trade, or will not take one:
    /// HQ must look (`last_error` says what it said).
    Attention,
}

impl ConfirmState {
    pub fn as_str(self) -> &'static str {
        match self {
            ConfirmState::Pending => "pending",
            ConfirmState::Confirmed => "confirmed",
            ConfirmState::Attention => "attention",
        }
    }

    pub fn parse(raw: &str) -> Option<ConfirmState> {
        [ConfirmState::Pending, ConfirmState::Confirmed, ConfirmState::Attention].into_iter().find(|s| s.as_str() == raw)
    }
}

/// A shipment confirmation.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Confirmation {
    pub state: ConfirmState,
    pub carrier: String,
    pub tracking_number: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub confirmed_at_ms: Option<i64>,
}

/// An import as HQ sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImportRecord {
    pub marketplace: String,
    pub external_id: String,
    pub state: ImportState,
    pub order_id: Option<u64>,
    /// Why it was refused (empty when imported).
    pub reason: String,
    pub paid_total: i64,
    pub ship_by_ms: Option<i64>,
    pub imported_at_ms: i64,
    pub updated_at_ms: i64,
    /// When the marketplace closed the trade (the buyer refunded there), if it did.
    pub closed_at_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirmation: Option<Confirmation>,
}

#[derive(Debug, thiserror::Error)]
pub enum MarketplaceError {
    /// 404
    #[error("{0} not found")]
    NotFound(String),
    /// 422
    #[error("{0}")]
    Invalid(String),
    /// 409: imported before with other content.
    #[error("{0}")]
    Changed(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<OrdersError> for MarketplaceError {
    fn from(e: OrdersError) -> Self {
        match e {
            OrdersError::Db(e) => MarketplaceError::Db(e),
            other => MarketplaceError::Invalid(other.to_string()),
        }
    }
}

/// A TOP trade as an import. Err: why it cannot be one (kept as a refused import).
pub fn from_trade(trade: &Trade) -> Result<ImportOrder, String> {
    let mut lines = Vec::with_capacity(trade.orders.order.len());
    for line in &trade.orders.order {
        let sku = Sku::parse(&line.outer_sku_id).map_err(|_| format!("line {}: {:?} is not a SKU code of ours", line.oid, line.outer_sku_id))?;
        let qty = Qty::parse(line.num).map_err(|_| format!("line {}: quantity {} is not a positive count", line.oid, line.num))?;
        let paid = top::parse_amount(&line.payment).ok_or_else(|| format!("line {}: amount {:?} unreadable", line.oid, line.payment))?;
        lines.push(ImportLine { sku, qty, paid });
    }
    let paid_at_ms = top::parse_time(&trade.pay_time).ok_or_else(|| format!("pay_time {:?} unreadable", trade.pay_time))?;
    let ship_by_ms = if trade.est_con_time.is_empty() { None } else { Some(top::parse_time(&trade.est_con_time).ok_or("est_con_time unreadable")?) };
    let street = [trade.receiver_district.as_str(), trade.receiver_address.as_str()].iter().filter(|s| !s.is_empty()).copied().collect::<Vec<_>>().join(" ");
    let import = ImportOrder {
        external_id: trade.tid.to_string(),
        buyer: Some(trade.buyer_open_uid.clone()).filter(|b| !b.is_empty()),
        lines,
        ship_to: ShipTo {
            name: trade.receiver_name.clone(),
            line1: street,
            city: trade.receiver_city.clone(),
            postcode: trade.receiver_zip.clone(),
            phone: trade.receiver_mobile.clone(),
        },
        location: None,
        paid_at_ms,
        ship_by_ms,
    };
    if let Some(problem) = import.problem() {
        return Err(problem);
    }
    let total = top::parse_amount(&trade.payment).ok_or_else(|| format!("payment {:?} unreadable", trade.payment))?;
    if import.paid_total() != Some(total) {
        return Err(format!("the lines' amounts do not add up to the trade's payment {}", trade.payment));
    }
    Ok(import)
}

/// Wait before attempt `attempts + 1` of a confirmation: 1 s doubling to 10 min.
pub fn backoff_ms(attempts: u32) -> i64 {
    1_000i64.saturating_mul(1i64 << attempts.min(10)).min(600_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tote_shared::marketplace::{TradeLine, TradeLines};

    fn trade() -> Trade {
        Trade {
            tid: 3_100_000_000_000_001,
            status: top::WAIT_SELLER_SEND_GOODS.into(),
            buyer_open_uid: "AAHk5d-EAAeGwJedwSHpg8bT".into(),
            receiver_name: "王芳".into(),
            receiver_mobile: "13900139000".into(),
            receiver_state: "北京".into(),
            receiver_city: "北京市".into(),
            receiver_district: "朝阳区".into(),
            receiver_address: "建国路88号".into(),
            receiver_zip: "100022".into(),
            payment: "1258.00".into(),
            created: "2026-12-03 10:00:00".into(),
            pay_time: "2026-12-03 10:00:05".into(),
            modified: "2026-12-03 10:00:05".into(),
            est_con_time: "2026-12-05 10:00:05".into(),
            orders: TradeLines {
                order: vec![
                    TradeLine { oid: 1, outer_sku_id: "PEG39-M-WHT-42".into(), title: "Pegasus".into(), num: 2, price: "699.00".into(), payment: "1198.00".into() },
                    TradeLine { oid: 2, outer_sku_id: "SOCK-3P-M".into(), title: "Socks".into(), num: 1, price: "60.00".into(), payment: "60.00".into() },
                ],
            },
        }
    }

    #[test]
    fn a_trade_becomes_an_import_with_what_the_buyer_paid() {
        let import = from_trade(&trade()).expect("importable");
        assert_eq!(import.external_id, "3100000000000001");
        assert_eq!(import.lines[0].paid, 119_800);
        assert_eq!(import.paid_total(), Some(125_800));
        assert_eq!(import.ship_to.line1, "朝阳区 建国路88号");
        assert_eq!(import.ship_by_ms.map(|s| s - import.paid_at_ms), Some(48 * 3_600_000));
        assert_eq!(import.content_hash(), from_trade(&trade()).expect("again").content_hash(), "the same trade hashes the same");
        let mut copy = import.clone();
        (copy.ship_by_ms, copy.paid_at_ms) = (None, 0);
        assert_eq!(copy.content_hash(), import.content_hash(), "a connector's copy without the times is the same order");
        copy.lines[0].paid -= 1;
        assert_ne!(copy.content_hash(), import.content_hash(), "another amount is another order");
    }

    #[test]
    fn a_trade_that_cannot_be_an_order_says_why() {
        let mut bad = trade();
        bad.orders.order[1].outer_sku_id = "sock 3p".into();
        assert!(from_trade(&bad).is_err_and(|why| why.contains("not a SKU code")));
        let mut bad = trade();
        bad.payment = "1000.00".into();
        assert!(from_trade(&bad).is_err_and(|why| why.contains("do not add up")));
        let mut bad = trade();
        bad.orders.order[0].num = 0;
        assert!(from_trade(&bad).is_err());
        let mut bad = trade();
        bad.orders.order[1].outer_sku_id = "PEG39-M-WHT-42".into();
        assert!(from_trade(&bad).is_err_and(|why| why.contains("twice")));
    }

    #[test]
    fn confirmation_backoff_doubles_to_ten_minutes() {
        assert_eq!(backoff_ms(0), 1_000);
        assert_eq!(backoff_ms(3), 8_000);
        assert_eq!(backoff_ms(40), 600_000);
    }
}
