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
    /// 1, 2, 3 … per edge, without gaps; at most 2^63 - 1 (central counts in i64: more is a 400).
    #[schema(minimum = 0, maximum = 9223372036854775807_i64)]
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
    /// A customer return announced by HQ was received and checked: units that passed QC are
    /// in stock at `location`, units that failed are set aside as damaged, the rest never came.
    ReturnReceived { rma: String, order_id: u64, location: LocationCode, lines: Vec<ReturnedLine> },
    /// Goods received against an expected delivery (a supplier's ASN): in stock at `location`,
    /// or, when `held` (QC failed them into the QC bin), set aside and never sold. Sent instead
    /// of `StockReceived`, so the units are counted once. `lot` and `expiry` (YYMMDD, GS1 AI 17)
    /// as scanned.
    DeliveryReceived {
        delivery: String,
        sku: Sku,
        qty: Qty,
        location: LocationCode,
        held: bool,
        #[serde(default)]
        lot: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expiry: Option<String>,
    },
    /// A lot with an expiry date now holds `qty` units in this warehouse (every location but
    /// the outbound dock, whose goods are leaving, and the QC bin, whose goods are held). Sent whenever that total changes, so the
    /// last one tells central what is left of the lot (0: none); central's near-expiry alerts
    /// read it. `expiry` is `YYYY-MM-DD`.
    LotLevel {
        sku: Sku,
        lot: String,
        expiry: String,
        #[schema(minimum = 0)]
        qty: i64,
    },
    /// Units of the SKU frozen in this warehouse now (a quality hold, a recall, a count in
    /// progress): on hand but not to be sold until a supervisor lifts the freeze. Sent whenever
    /// that number changes; the last one tells central what is frozen (0: nothing).
    FrozenLevel {
        sku: Sku,
        #[schema(minimum = 0)]
        qty: i64,
    },
}

/// One SKU of a received return: what was announced and what QC found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReturnedLine {
    pub sku: Sku,
    #[schema(minimum = 0, maximum = 100000)]
    pub expected: u32,
    #[schema(minimum = 0, maximum = 100000)]
    pub passed: u32,
    #[schema(minimum = 0, maximum = 100000)]
    pub failed: u32,
    /// Why the failed units failed (empty when none did).
    #[serde(default)]
    #[schema(value_type = crate::openapi::Text300)]
    pub fail_reason: String,
}

/// The most lines one return may carry (as many as an order).
pub const MAX_RETURN_LINES: usize = 200;

/// Whether `text` is an RMA number as HQ issues them: `RMA-` and 1 to 16 digits.
pub fn is_rma(text: &str) -> bool {
    text.strip_prefix("RMA-").is_some_and(|n| !n.is_empty() && n.len() <= 16 && n.bytes().all(|b| b.is_ascii_digit()))
}

impl EdgeEventKind {
    /// The event's free text (carrier, tracking number, reason) under `crate::text`'s rule:
    /// central keeps an event that breaks it aside rather than store it.
    pub fn check_text(&self) -> Result<(), crate::text::TextError> {
        match self {
            EdgeEventKind::OrderShipped { tracking_number, carrier, .. } => {
                crate::text::check_chars("carrier", carrier)?;
                crate::text::check_chars("tracking_number", tracking_number)
            }
            EdgeEventKind::FulfilmentFailed { reason, .. } => crate::text::check_chars("reason", reason),
            EdgeEventKind::ReturnReceived { lines, .. } => lines.iter().try_for_each(|l| crate::text::check_chars("fail_reason", &l.fail_reason)),
            EdgeEventKind::DeliveryReceived { delivery, lot, expiry, .. } => {
                crate::text::check_chars("delivery", delivery)?;
                crate::text::check_chars("lot", lot)?;
                expiry.as_deref().map_or(Ok(()), |e| crate::text::check_chars("expiry", e))
            }
            EdgeEventKind::LotLevel { lot, expiry, .. } => {
                crate::text::check_chars("lot", lot)?;
                crate::text::check_chars("expiry", expiry)
            }
            _ => Ok(()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PushBatch {
    pub warehouse: WarehouseCode,
    /// In strictly increasing `seq` order; at most `MAX_PUSH_BATCH`.
    #[schema(max_items = 2000)]
    pub events: Vec<EdgeEvent>,
    /// The newest sequence number the edge has written (its outbox head). Central refuses to
    /// hold more than the edge ever wrote: a mark above it means events the edge never sent
    /// were applied in its name (a leaked token, a restored edge), and the stream is stopped
    /// and shown until HQ re-bases it. Absent from older edges: then not checked. At most
    /// 2^63 - 1 (more is a 400).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 9223372036854775807_i64)]
    pub head: Option<u64>,
}

/// Why central refuses a push as a whole (nothing of it is applied).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushRefusal {
    /// Sequence numbers not strictly increasing within the batch.
    Unordered,
    /// The edge's `head` is below one of the events it sends.
    HeadBelowEvents { head: u64, last: u64 },
    /// The first new event is not `high_water + 1`: the edge resends from `high_water + 1`.
    Gap { high_water: u64, first: u64 },
    /// Central holds events up to `high_water` but the edge has written only up to `head`.
    Ahead { high_water: u64, head: u64 },
}

/// The stream rule, decided before anything is written: which events of a push (in the order
/// sent) are new for a stream whose mark is `high_water`. Events at or below the mark are
/// replays and are skipped (pushes are idempotent); the first new one must be exactly
/// `high_water + 1` — a push may not skip ahead — and the rest follow it without a gap (they
/// are strictly increasing, so each is one above the last, or there is a gap). A `head` below
/// the mark is refused even for a pure replay: the stream is ahead of the edge.
/// Returns the index of the first new event (`seqs.len()` when there is none).
pub fn plan_push(high_water: u64, head: Option<u64>, seqs: &[u64]) -> Result<usize, PushRefusal> {
    if seqs.windows(2).any(|w| w[1] <= w[0]) {
        return Err(PushRefusal::Unordered);
    }
    if let (Some(head), Some(&last)) = (head, seqs.last()) {
        if head < last {
            return Err(PushRefusal::HeadBelowEvents { head, last });
        }
    }
    if let Some(head) = head {
        if head < high_water {
            return Err(PushRefusal::Ahead { high_water, head });
        }
    }
    let first_new = seqs.partition_point(|&seq| seq <= high_water);
    // The new events must be exactly high_water + 1, + 2, …; the first that is not breaks it.
    let mut expected = high_water;
    for &seq in &seqs[first_new..] {
        expected = expected.checked_add(1).ok_or(PushRefusal::Gap { high_water, first: seq })?;
        if seq != expected {
            return Err(PushRefusal::Gap { high_water, first: seq });
        }
    }
    Ok(first_new)
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
    #[schema(value_type = crate::openapi::Chars20)]
    pub postcode: String,
    /// The recipient's phone, for the carrier (and intake's blocklist).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schema(value_type = crate::openapi::Chars20)]
    pub phone: String,
}

/// The carrier service a parcel is to ship with: a carrier code (`SF`) and its service
/// (`standard`, `express`, `next_day`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ShipVia {
    pub carrier: String,
    pub service: String,
}

/// One unit's shipping weight and box size, and whether it must travel as fragile: the
/// catalog's measure, which the warehouse also uses to spot bulky items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShippingSpec {
    #[schema(minimum = 1, maximum = 1000000)]
    pub weight_g: u32,
    #[schema(minimum = 1, maximum = 10000)]
    pub length_mm: u32,
    #[schema(minimum = 1, maximum = 10000)]
    pub width_mm: u32,
    #[schema(minimum = 1, maximum = 10000)]
    pub height_mm: u32,
    #[serde(default)]
    pub fragile: bool,
}

impl ShippingSpec {
    /// Within the limits the schema states (1 t, 10 m a side).
    pub fn is_valid(&self) -> bool {
        (1..=1_000_000).contains(&self.weight_g) && [self.length_mm, self.width_mm, self.height_mm].iter().all(|d| (1..=10_000).contains(d))
    }

    pub fn longest_mm(&self) -> u32 {
        self.length_mm.max(self.width_mm).max(self.height_mm)
    }
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
    /// Master data: a SKU this warehouse may stock, with its barcode and, when the catalog has
    /// measured it, its shipping size (the warehouse spots bulky items by it).
    UpsertSku {
        sku: Sku,
        gtin: Gtin,
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shipping: Option<ShippingSpec>,
    },
    /// Pick, pack and ship this paid order (with the carrier service HQ chose, when it chose one).
    Fulfil {
        order_id: u64,
        lines: Vec<OrderLine>,
        ship_to: ShipTo,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ship_via: Option<ShipVia>,
    },
    /// Stop work on this order and put picked goods back.
    Cancel { order_id: u64 },
    /// Waybill numbers a carrier issued for this warehouse: a parcel takes one when it ships,
    /// so labels print while HQ or the carrier is unreachable. Each number is used once.
    WaybillGrant { carrier: String, numbers: Vec<String> },
    /// A customer return HQ approved: expect these units back under this RMA number (printed
    /// on the customer's return slip), check each and report what came with `ReturnReceived`.
    ExpectReturn { rma: String, order_id: u64, lines: Vec<OrderLine> },
    /// HQ withdrew the return (the customer never sent it): the desk must not take it in.
    CancelReturn { rma: String },
    /// The return comes with a carrier we booked: its parcel carries this waybill, which the
    /// desk may scan instead of the customer's slip.
    ReturnLabel { rma: String, carrier: String, waybill: String },
    /// A supplier's advance shipping notice: expect these units under this delivery number
    /// (`ASN-` and digits, on the supplier's delivery note), receive them with QC, and report
    /// each receipt with `DeliveryReceived`.
    ExpectDelivery { id: String, supplier: String, lines: Vec<OrderLine> },
    /// HQ closed the delivery's order short: nothing more comes on it. The edge keeps what
    /// arrived and takes no more receipts against it (later goods come in as plain receipts).
    CloseDelivery { id: String },
}

/// Whether `text` is a delivery number as central issues them for suppliers' ASNs: `ASN-` and
/// 1 to 16 digits.
pub fn is_asn(text: &str) -> bool {
    text.strip_prefix("ASN-").is_some_and(|n| !n.is_empty() && n.len() <= 16 && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Most numbers one grant carries.
pub const MAX_WAYBILL_GRANT: usize = 1_000;

/// Whether `text` may be a carrier code or waybill number: 1 to `max` ASCII letters, digits,
/// '-' or '_' (what labels, barcodes and every carrier accept).
pub fn is_plain_code(text: &str, max: usize) -> bool {
    !text.is_empty() && text.len() <= max && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
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
    fn a_push_continues_exactly_from_the_mark_and_replays_are_skipped() {
        assert_eq!(plan_push(0, Some(3), &[1, 2, 3]), Ok(0));
        assert_eq!(plan_push(2, Some(5), &[1, 2, 3, 4]), Ok(2), "1 and 2 are replays");
        assert_eq!(plan_push(4, Some(4), &[3, 4]), Ok(2), "a pure replay applies nothing");
        assert_eq!(plan_push(4, Some(9), &[]), Ok(0));
        assert_eq!(plan_push(4, None, &[5]), Ok(0), "an edge that sends no head is not checked");
    }

    #[test]
    fn a_push_that_skips_ahead_is_refused_naming_the_mark() {
        assert_eq!(plan_push(4, Some(9), &[9]), Err(PushRefusal::Gap { high_water: 4, first: 9 }));
        assert_eq!(plan_push(4, Some(9), &[5, 7]), Err(PushRefusal::Gap { high_water: 4, first: 7 }), "a hole inside the batch");
        assert_eq!(plan_push(4, None, &[3, 6]), Err(PushRefusal::Gap { high_water: 4, first: 6 }));
        assert_eq!(plan_push(u64::MAX, None, &[u64::MAX]), Ok(1), "at the very end only replays remain");
        assert_eq!(plan_push(3, None, &[2, 2]), Err(PushRefusal::Unordered));
    }

    #[test]
    fn a_stream_ahead_of_its_edge_is_refused_even_for_a_replay() {
        // Forged events 6..=2005 were applied in the edge's name; the real edge has written 10.
        assert_eq!(plan_push(2005, Some(10), &[6, 7, 8, 9, 10]), Err(PushRefusal::Ahead { high_water: 2005, head: 10 }));
        assert_eq!(plan_push(5, Some(4), &[4]), Err(PushRefusal::Ahead { high_water: 5, head: 4 }));
        assert_eq!(plan_push(5, Some(3), &[4]), Err(PushRefusal::HeadBelowEvents { head: 3, last: 4 }));
    }

    proptest::proptest! {
        /// Whatever the mark and the batch, a push is taken only if what it adds is exactly the
        /// next numbers, and then the mark it leaves is never above the edge's head.
        #[test]
        fn an_accepted_push_extends_the_mark_without_holes_and_never_past_the_head(
            high_water in 0u64..50,
            head in proptest::option::of(0u64..60),
            mut seqs in proptest::collection::vec(0u64..60, 0..12),
        ) {
            seqs.sort_unstable();
            seqs.dedup();
            if let Ok(first_new) = plan_push(high_water, head, &seqs) {
                let new = &seqs[first_new..];
                proptest::prop_assert!(seqs[..first_new].iter().all(|&s| s <= high_water));
                for (i, &seq) in new.iter().enumerate() {
                    proptest::prop_assert_eq!(seq, high_water + 1 + i as u64);
                }
                let mark = new.last().copied().unwrap_or(high_water);
                if let Some(head) = head {
                    proptest::prop_assert!(mark <= head);
                }
            }
        }
    }

    #[test]
    fn an_event_with_a_bad_sku_does_not_deserialise() {
        let raw = r#"{"type":"stock_received","sku":"bad sku","qty":1,"location":"A-01"}"#;
        assert!(serde_json::from_str::<EdgeEventKind>(raw).is_err());
    }
}
