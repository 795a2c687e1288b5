//! The edge ↔ central sync wire protocol, defined once for both sides.
//!
//! Up: the edge numbers every state change (`seq`, 1, 2, 3 … with no gaps) in its outbox and
//! pushes them in batches; central applies each exactly once and answers with the highest
//! sequence it holds (`high_water`). Down: central numbers the commands for each edge; the edge
//! pulls after its cursor and stores the cursor with each applied command.

use crate::domain::{LocationCode, Qty, Sku, WarehouseCode};
use crate::Gtin;
use serde::{Deserialize, Serialize};

/// Most events one push may carry; central refuses bigger batches with 422.
pub const MAX_PUSH_BATCH: usize = 2_000;
/// Most commands one pull returns.
pub const MAX_PULL_BATCH: usize = 500;
/// Longest a pull may wait for new commands.
pub const MAX_PULL_WAIT_MS: u64 = 30_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EdgeEvent {
    /// 1, 2, 3 … per edge, without gaps.
    pub seq: u64,
    /// When the edge made the change (unix ms, edge clock).
    pub at_ms: i64,
    pub kind: EdgeEventKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ShippedLine {
    pub sku: Sku,
    pub qty: Qty,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AdjustReason {
    /// A cycle count found more or fewer than the system held.
    Count,
    /// Damaged goods written off.
    Damage,
    /// A picker found fewer than expected at the suggested location.
    ShortPick,
    /// Found stock (e.g. on a recount).
    Found,
}

impl AdjustReason {
    pub fn as_str(self) -> &'static str {
        match self {
            AdjustReason::Count => "count",
            AdjustReason::Damage => "damage",
            AdjustReason::ShortPick => "short_pick",
            AdjustReason::Found => "found",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EdgeEventKind {
    /// Goods put into stock (receipt).
    StockReceived { sku: Sku, qty: Qty, location: LocationCode },
    /// Physical stock changed outside an order (count, damage, short pick).
    StockAdjusted { sku: Sku, delta: i64, reason: AdjustReason, location: LocationCode },
    OrderPicked { order_id: u64 },
    OrderPacked { order_id: u64 },
    OrderShipped { order_id: u64, tracking_number: String, carrier: String, lines: Vec<ShippedLine> },
    /// The edge stopped work on a cancelled order; picked goods are back in stock.
    CancelConfirmed { order_id: u64 },
    /// The edge cannot fulfil the order (short pick); it dropped the work.
    FulfilmentFailed { order_id: u64, sku: Sku, reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PushBatch {
    pub warehouse: WarehouseCode,
    /// In strictly increasing `seq` order; at most `MAX_PUSH_BATCH`.
    #[schema(max_items = 2000)]
    pub events: Vec<EdgeEvent>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PushAck {
    /// Central holds every event of this edge up to and including this sequence.
    pub high_water: u64,
    /// How many events of this batch were new (the rest were replays).
    pub applied: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrderLine {
    pub sku: Sku,
    pub qty: Qty,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ShipTo {
    #[schema(value_type = crate::openapi::Text100)]
    pub name: String,
    #[schema(value_type = crate::openapi::Text300)]
    pub line1: String,
    #[schema(value_type = crate::openapi::Text100)]
    pub city: String,
    #[serde(default)]
    #[schema(max_length = 20)]
    pub postcode: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CentralCommand {
    /// 1, 2, 3 … per edge.
    pub seq: u64,
    pub kind: CommandKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CommandKind {
    /// Master data: a SKU this warehouse may stock, with its barcode.
    UpsertSku { sku: Sku, gtin: Gtin, name: String },
    /// Pick, pack and ship this paid order.
    Fulfil { order_id: u64, lines: Vec<OrderLine>, ship_to: ShipTo },
    /// Stop work on this order and put picked goods back.
    Cancel { order_id: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PullResponse {
    pub commands: Vec<CentralCommand>,
    /// The newest command sequence central holds for this edge.
    pub latest_seq: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_kinds_are_tagged_on_the_wire() {
        let e = EdgeEventKind::OrderPicked { order_id: 7 };
        let json = serde_json::to_value(&e).expect("serialises");
        assert_eq!(json, serde_json::json!({"type": "order_picked", "order_id": 7}));
    }

    #[test]
    fn an_event_with_a_bad_sku_does_not_deserialise() {
        let raw = r#"{"type":"stock_received","sku":"bad sku","qty":1,"location":"A-01"}"#;
        assert!(serde_json::from_str::<EdgeEventKind>(raw).is_err());
    }
}
