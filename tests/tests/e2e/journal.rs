//! The business-event journal checked from outside, over HTTP only: `check_journal` proves the
//! numbered journal tells the same story as central's own answers (order histories, stock
//! levels, catalog, warehouses); `check_sales` proves the `sales` consumer applied each event
//! exactly once. Story, offline, crash and lifecycle call them at their end; the tests here
//! cover the events API itself.
//!
//! What it is not: a second implementation of central's rules. The oracle is only the mapping
//! the journal promises (history row → event, event → sales measure).

use crate::helpers::*;
use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// One numbered entry as `GET /api/v1/events` answers it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub seq: u64,
    pub at_ms: i64,
    pub subject: String,
    pub event: Value,
}

impl Entry {
    pub fn kind(&self) -> &str {
        self.event["type"].as_str().unwrap_or("")
    }
}

/// Every numbered event, `limit` per page, following `next_after`; checks each page's
/// bookkeeping. Returns the events and the `last_seq` of the final page.
pub async fn all_events(central: &Central, limit: u32) -> Result<(Vec<Entry>, u64)> {
    let mut out: Vec<Entry> = Vec::new();
    let mut after = 0;
    loop {
        let page = central.get(&format!("/api/v1/events?after={after}&limit={limit}")).await?.ok()?;
        let events = page["events"].as_array().context("events")?;
        let last_seq = page["last_seq"].as_u64().context("last_seq")?;
        let next_after = page["next_after"].as_u64().context("next_after")?;
        ensure!(events.len() <= limit as usize, "a page of {} events for limit {limit}", events.len());
        if events.is_empty() {
            ensure!(next_after == after, "an empty page moved next_after from {after} to {next_after}");
            return Ok((out, last_seq));
        }
        for e in events {
            out.push(Entry {
                seq: e["seq"].as_u64().context("seq")?,
                at_ms: e["at_ms"].as_i64().context("at_ms")?,
                subject: e["subject"].as_str().context("subject")?.to_owned(),
                event: e["event"].clone(),
            });
        }
        let last = out.last().map_or(0, |e| e.seq);
        ensure!(next_after == last, "next_after {next_after} but the page ended at seq {last}");
        ensure!(last > after, "a page after {after} ended at {last}");
        after = next_after;
    }
}

/// The events an order's history implies, after its `order_created`.
fn implied_by_history(history: &[Value]) -> Result<Vec<&'static str>> {
    let mut kinds = Vec::new();
    for row in history {
        let (from, to, cause) = (row["from_state"].as_str(), row["to_state"].as_str(), row["cause"].as_str());
        let kind = match (from, to) {
            // Every parcel that leaves is a shipment, a split order's part too (its state may
            // stay partly shipped); the order reaching shipped any other way (a part cancelled
            // beside shipped ones) is none.
            _ if cause == Some("edge_shipment") => Some("order_shipped"),
            _ if cause == Some("order_parts_cancelled") => Some("order_parts_cancelled"),
            (Some(_), Some("shipped" | "partly_shipped")) => None,
            (Some(f), Some(t)) if f == t => match cause {
                Some("lock_rerouted") => Some("order_lock_moved"),
                _ => None,
            },
            (Some("awaiting_payment"), Some("awaiting_shipment" | "grouping")) => Some("order_paid"),
            // Its group buy formed: marketing's `group_buy_formed` tells it, under the group.
            (Some("grouping"), Some("awaiting_shipment")) => None,
            // A dearer exchange's replacement waits for its difference: no event of its own.
            (Some("held"), Some("awaiting_payment")) => None,
            (Some(_), Some("awaiting_shipment")) => Some("order_allocated"),
            (Some(_), Some("picked")) => Some("order_picked"),
            (Some(_), Some("packed")) => Some("order_packed"),
            (Some(_), Some("delivered")) => Some("order_delivered"),
            (Some(_), Some("completed")) => Some("order_completed"),
            (Some(_), Some("backordered")) => Some("order_backordered"),
            (Some(_), Some("cancelling")) => Some("order_cancelling"),
            (Some(_), Some("cancelled")) => Some("order_cancelled"),
            (Some(_), Some("closed")) => Some("order_closed"),
            _ => bail!("a history row the journal has no event for: {row}"),
        };
        kinds.extend(kind);
    }
    Ok(kinds)
}

/// Σ qty × unit_price − discount over an event's `lines`.
fn lines_value(event: &Value) -> i64 {
    lines(event).iter().map(|(_, _, amount)| amount).sum()
}

/// (sku, qty, qty × unit_price − discount) of an event's `lines`.
fn lines(event: &Value) -> Vec<(String, i64, i64)> {
    event["lines"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| {
            let qty = l["qty"].as_i64().unwrap_or(0);
            (l["sku"].as_str().unwrap_or("").to_owned(), qty, qty * l["unit_price"].as_i64().unwrap_or(0) - l["discount"].as_i64().unwrap_or(0))
        })
        .collect()
}

/// Waits for the journal to settle, then checks it against central's own answers:
/// - numbers are exactly 1..=last_seq, no gap, no repeat, and each subject names its event;
/// - per order: `order_created` first, then exactly the events its history implies, in order
///   (and every order central counts has its `order_created`);
/// - per (SKU, warehouse): received + adjusted − shipped (by the journal) = on hand (by the
///   inventory API);
/// - `sku_created`/`spu_created`/`warehouse_created` once each, matching catalog and warehouses.
///
/// Returns the events. Fails with every disagreement found, not just the first.
pub async fn check_journal(central: &Central) -> Result<Vec<Entry>> {
    wait_journal_settled(central).await?;
    let (events, last_seq) = all_events(central, 1000).await?;
    let mut problems = Vec::new();

    // Gapless numbering.
    if events.len() as u64 != last_seq {
        problems.push(format!("{} numbered events but last_seq {last_seq}", events.len()));
    }
    for (i, e) in events.iter().enumerate().filter(|(i, e)| e.seq != *i as u64 + 1).take(10) {
        problems.push(format!("position {i} holds seq {} (a gap or a repeat)", e.seq));
    }
    for e in &events {
        let ev = &e.event;
        let subject = match e.kind() {
            k if k.starts_with("order_") => format!("order:{}", ev["order_id"]),
            "spu_created" => format!("spu:{}", ev["spu_id"].as_str().unwrap_or("")),
            "sku_created" | "sku_state_changed" | "sku_price_changed" | "stock_received" | "stock_adjusted" | "stock_held" | "stock_alert_raised"
            | "stock_alert_cleared" => format!("sku:{}", ev["sku"].as_str().unwrap_or("")),
            "supplier_state_changed" => format!("supplier:{}", ev["supplier"].as_str().unwrap_or("")),
            k if k.starts_with("purchase_") || k.starts_with("supplier_invoice_") || k == "asn_notified" || k == "landed_cost_added" => format!("po:{}", ev["po_id"]),
            "warehouse_created" | "edge_stream_rebased" => format!("warehouse:{}", ev["warehouse"].as_str().unwrap_or("")),
            "period_closed" => format!("period:{}", ev["month"].as_str().unwrap_or("")),
            "channel_settled" => format!("channel:{}", ev["channel"].as_str().unwrap_or("")),
            "finance_alert_raised" | "finance_alert_cleared" => format!("finance:{}", ev["alert"].as_str().unwrap_or("")),
            k if k.starts_with("payment_") => format!("payment:{}", ev["payment_id"]),
            k if k.starts_with("refund_") => format!("refund:{}", ev["refund_id"]),
            k if k.starts_with("points_") || k == "member_tier_changed" => format!("customer:{}", ev["customer"].as_str().unwrap_or("")),
            k if k.starts_with("group_buy_") => format!("group:{}", ev["group_id"]),
            k if k.starts_with("after_sales_")
                || k.starts_with("coupon_")
                || matches!(k, "return_received" | "marketplace_refunded" | "parcel_tracked" | "freight_accrued" | "freight_reversed" | "return_freight_accrued" | "return_freight_reversed") =>
            {
                format!("order:{}", ev["order_id"])
            }
            other => {
                problems.push(format!("seq {}: unknown event type {other:?}", e.seq));
                continue;
            }
        };
        if e.subject != subject {
            problems.push(format!("seq {}: subject {} for {}", e.seq, e.subject, ev));
        }
    }

    // Stock alerts: each (kind, SKU, warehouse, lot) raised, then cleared, then raised again….
    let mut alert_open: BTreeMap<String, bool> = BTreeMap::new();
    for e in events.iter().filter(|e| e.kind().starts_with("stock_alert_")) {
        let ev = &e.event;
        let key = format!("{} {} {} {}", ev["alert"], ev["sku"], ev["warehouse"], ev["lot"]);
        let raised = e.kind() == "stock_alert_raised";
        let before = alert_open.insert(key.clone(), raised);
        if before == Some(raised) || (before.is_none() && !raised) {
            problems.push(format!("seq {}: {} out of turn for {key}", e.seq, e.kind()));
        }
    }

    // Orders: the journal retells each history.
    let mut per_order: BTreeMap<u64, Vec<&Entry>> = BTreeMap::new();
    for e in events.iter().filter(|e| e.kind().starts_with("order_")) {
        per_order.entry(e.event["order_id"].as_u64().context("order_id")?).or_default().push(e);
    }
    for (id, entries) in &per_order {
        let history = central.get(&format!("/api/v1/orders/{id}/history")).await?.ok()?;
        let mut expected = vec!["order_created"];
        expected.extend(implied_by_history(history.as_array().context("history")?)?);
        let actual: Vec<&str> = entries.iter().map(|e| e.kind()).collect();
        if actual != expected {
            problems.push(format!("order {id}: journal {actual:?}, history implies {expected:?}; history {history}"));
        }
        for e in entries.iter().filter(|e| matches!(e.kind(), "order_created" | "order_paid")) {
            if e.event["total"].as_i64() != Some(lines_value(&e.event)) {
                problems.push(format!("seq {}: total is not Σ qty × unit_price − discount: {}", e.seq, e.event));
            }
        }
    }
    let metrics = central.metrics().await?;
    let counted: f64 = metrics.lines().filter(|l| l.starts_with("tote_central_orders{")).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum();
    if counted as usize != per_order.len() {
        problems.push(format!("central counts {counted} orders, the journal tells of {}", per_order.len()));
    }

    // Payments: money arrives once per payment and goes back once per refund.
    let mut once = BTreeSet::new();
    for e in events.iter().filter(|e| matches!(e.kind(), "payment_succeeded" | "refund_succeeded" | "refund_failed")) {
        let id = if e.kind() == "payment_succeeded" { &e.event["payment_id"] } else { &e.event["refund_id"] };
        if !once.insert((e.kind().trim_end_matches("_failed").trim_end_matches("_succeeded").to_owned(), id.to_string())) {
            problems.push(format!("seq {}: {} a second time: {}", e.seq, e.kind(), e.event));
        }
    }

    // After-sales: each request decided, received and closed at most once.
    let mut steps = BTreeSet::new();
    for e in events.iter().filter(|e| matches!(e.kind(), "after_sales_requested" | "after_sales_decided" | "return_received" | "after_sales_closed" | "marketplace_refunded")) {
        let key = if e.kind() == "marketplace_refunded" { &e.event["order_id"] } else { &e.event["request_id"] };
        if !steps.insert((e.kind().to_owned(), key.to_string())) {
            problems.push(format!("seq {}: {} a second time: {}", e.seq, e.kind(), e.event));
        }
    }

    // Catalog and warehouses: created once each, as central describes them.
    let mut spus = BTreeSet::new();
    let mut catalog: BTreeMap<String, &Value> = BTreeMap::new();
    let mut warehouses = BTreeSet::new();
    for e in &events {
        match e.kind() {
            "spu_created" if !spus.insert(e.event["spu_id"].as_str().unwrap_or("").to_owned()) => {
                problems.push(format!("seq {}: SPU created twice", e.seq));
            }
            "sku_created" => {
                if !spus.contains(e.event["spu_id"].as_str().unwrap_or("")) {
                    problems.push(format!("seq {}: SKU of an SPU the journal never created: {}", e.seq, e.event));
                }
                if catalog.insert(e.event["sku"].as_str().unwrap_or("").to_owned(), &e.event).is_some() {
                    problems.push(format!("seq {}: SKU created twice", e.seq));
                }
            }
            "warehouse_created" if !warehouses.insert(e.event["warehouse"].as_str().unwrap_or("").to_owned()) => {
                problems.push(format!("seq {}: warehouse created twice", e.seq));
            }
            _ => {}
        }
    }
    for (sku, _, _) in skus() {
        if !catalog.contains_key(sku) {
            problems.push(format!("no sku_created for the seeded SKU {sku}"));
        }
    }
    // The selling price: as created, then each change's `to`, each from the one before.
    let mut price: BTreeMap<String, Value> = catalog.iter().map(|(sku, e)| (sku.clone(), e["price"].clone())).collect();
    for e in events.iter().filter(|e| e.kind() == "sku_price_changed") {
        let before = price.insert(e.event["sku"].as_str().unwrap_or("").to_owned(), e.event["to"].clone());
        if before.as_ref() != Some(&e.event["from"]) {
            problems.push(format!("seq {}: a price change from {} when the journal had {before:?}", e.seq, e.event["from"]));
        }
    }
    for (sku, event) in &catalog {
        let record = central.get(&format!("/api/v1/skus/{sku}")).await?.ok()?;
        for (field, journal) in [("spu_id", &event["spu_id"]), ("price", &price[sku]), ("cost", &event["cost"])] {
            if &record[field] != journal {
                problems.push(format!("SKU {sku}: {field} is {} in the catalog, {journal} in the journal", record[field]));
            }
        }
    }
    let listed: BTreeSet<String> = central
        .get("/api/v1/warehouses")
        .await?
        .ok()?
        .as_array()
        .context("warehouses")?
        .iter()
        .filter_map(|w| w["code"].as_str().map(str::to_owned))
        .collect();
    if listed != warehouses {
        problems.push(format!("warehouses: central lists {listed:?}, the journal created {warehouses:?}"));
    }

    // Stock: what the journal says arrived, changed and left is what is on hand.
    let mut on_hand: BTreeMap<(String, String), i64> = BTreeMap::new();
    for e in &events {
        let ev = &e.event;
        let key = |ev: &Value| (ev["sku"].as_str().unwrap_or("").to_owned(), ev["warehouse"].as_str().unwrap_or("").to_owned());
        match e.kind() {
            "stock_received" => *on_hand.entry(key(ev)).or_default() += ev["qty"].as_i64().unwrap_or(0),
            "stock_adjusted" => *on_hand.entry(key(ev)).or_default() += ev["delta"].as_i64().unwrap_or(0),
            "return_received" => {
                let warehouse = ev["warehouse"].as_str().unwrap_or("").to_owned();
                for line in ev["lines"].as_array().into_iter().flatten() {
                    let sku = line["sku"].as_str().unwrap_or("").to_owned();
                    *on_hand.entry((sku, warehouse.clone())).or_default() += line["passed"].as_i64().unwrap_or(0);
                }
            }
            "order_shipped" => {
                let Some(warehouse) = ev["warehouse"].as_str() else {
                    problems.push(format!("seq {}: a shipment from no warehouse: {ev}", e.seq));
                    continue;
                };
                for (sku, qty, _) in lines(ev) {
                    *on_hand.entry((sku, warehouse.to_owned())).or_default() -= qty;
                }
            }
            _ => {}
        }
    }
    // In transit: what ASNs announced less what arrived against them.
    let mut in_transit: BTreeMap<(String, String), i64> = BTreeMap::new();
    for e in &events {
        let ev = &e.event;
        match e.kind() {
            "asn_notified" => {
                let warehouse = ev["warehouse"].as_str().unwrap_or("").to_owned();
                for line in ev["lines"].as_array().into_iter().flatten() {
                    *in_transit.entry((line["sku"].as_str().unwrap_or("").to_owned(), warehouse.clone())).or_default() += line["qty"].as_i64().unwrap_or(0);
                }
            }
            "purchase_received" => {
                let key = (ev["sku"].as_str().unwrap_or("").to_owned(), ev["warehouse"].as_str().unwrap_or("").to_owned());
                *in_transit.entry(key).or_default() -= ev["passed"].as_i64().unwrap_or(0) + ev["failed"].as_i64().unwrap_or(0);
            }
            "purchase_order_closed" => {
                let warehouse = ev["warehouse"].as_str().unwrap_or("").to_owned();
                for line in ev["not_arrived"].as_array().into_iter().flatten() {
                    *in_transit.entry((line["sku"].as_str().unwrap_or("").to_owned(), warehouse.clone())).or_default() -= line["qty"].as_i64().unwrap_or(0);
                }
            }
            _ => {}
        }
    }
    for ((sku, warehouse), by_journal) in &in_transit {
        let rows = central.get(&format!("/api/v1/inventory/{sku}")).await?.ok()?;
        let row = rows.as_array().into_iter().flatten().find(|r| r["warehouse"] == warehouse.as_str());
        let by_api = row.and_then(|r| r["in_transit"].as_i64()).unwrap_or(0);
        if by_api != *by_journal {
            problems.push(format!("{sku} at {warehouse}: in transit {by_api}, the journal adds up to {by_journal}"));
        }
    }
    for sku in catalog.keys() {
        let rows = central.get(&format!("/api/v1/inventory/{sku}")).await?.ok()?;
        for row in rows.as_array().context("levels")? {
            let warehouse = row["warehouse"].as_str().unwrap_or("").to_owned();
            on_hand.entry((sku.clone(), warehouse)).or_default();
        }
        for ((s, warehouse), by_journal) in on_hand.iter().filter(|((s, _), _)| s == sku) {
            let row = rows.as_array().into_iter().flatten().find(|r| r["warehouse"] == warehouse.as_str());
            let by_api = row.and_then(|r| r["on_hand"].as_i64()).unwrap_or(0);
            if by_api != *by_journal {
                problems.push(format!("{s} at {warehouse}: on hand {by_api}, the journal adds up to {by_journal}"));
            }
        }
    }
    for (sku, _) in on_hand.keys().filter(|(sku, _)| !catalog.contains_key(sku)) {
        problems.push(format!("stock events for {sku}, which the journal never created"));
    }

    if !problems.is_empty() {
        bail!("the journal disagrees with central ({} events):\n  {}", events.len(), problems.join("\n  "));
    }
    // Every scenario that checks its journal also checks the books finance posted from it,
    // and that posting the whole journal again from zero gives the same books.
    check_books(central).await?;
    Ok(events)
}

/// Units and revenue of one SKU on one day (or summed over days).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sales {
    pub ordered: i64,
    pub paid: i64,
    pub shipped: i64,
    pub cancelled: i64,
    pub revenue: i64,
}

impl Sales {
    fn add(&mut self, other: &Sales) {
        self.ordered += other.ordered;
        self.paid += other.paid;
        self.shipped += other.shipped;
        self.cancelled += other.cancelled;
        self.revenue += other.revenue;
    }
}

/// `YYYY-MM-DD` (UTC) of a unix time in ms, counted the slow way (not central's formula).
fn utc_day(at_ms: i64) -> String {
    let mut days = at_ms.div_euclid(86_400_000);
    let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let mut year = 1970;
    while days >= if leap(year) { 366 } else { 365 } {
        days -= if leap(year) { 366 } else { 365 };
        year += 1;
    }
    let months = [31, if leap(year) { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let mut month = 0;
    while days >= months[month] {
        days -= months[month];
        month += 1;
    }
    format!("{year:04}-{:02}-{:02}", month + 1, days + 1)
}

/// Recomputes sales per SKU and UTC day from the journal and compares them, day by day and
/// measure by measure, with `GET /api/v1/analytics/sales/{sku}` (which must list newest day
/// first). Equal means the consumer applied every event once: none skipped, none repeated.
/// Returns each SKU's sales summed over all days.
pub async fn check_sales(central: &Central, skus: &[&str]) -> Result<BTreeMap<String, Sales>> {
    wait_journal_settled(central).await?;
    let (events, _) = all_events(central, 1000).await?;
    let mut expected: BTreeMap<(String, String), Sales> = BTreeMap::new();
    for e in &events {
        for (sku, qty, amount) in lines(&e.event) {
            let day = expected.entry((sku, utc_day(e.at_ms))).or_default();
            match e.kind() {
                "order_created" => day.ordered += qty,
                "order_paid" => {
                    day.paid += qty;
                    day.revenue += amount;
                }
                "order_shipped" => day.shipped += qty,
                "order_cancelled" | "order_parts_cancelled" => day.cancelled += qty,
                _ => {}
            }
        }
    }
    let mut problems = Vec::new();
    let mut totals = BTreeMap::new();
    for sku in skus {
        let rows = central.get(&format!("/api/v1/analytics/sales/{sku}")).await?.ok()?;
        let rows = rows.as_array().context("sales")?;
        let days: Vec<&str> = rows.iter().filter_map(|r| r["day"].as_str()).collect();
        if !days.windows(2).all(|w| w[0] > w[1]) {
            problems.push(format!("{sku}: days not newest first: {days:?}"));
        }
        let mut reported = BTreeMap::new();
        for r in rows {
            let sales = Sales {
                ordered: r["ordered"].as_i64().context("ordered")?,
                paid: r["paid"].as_i64().context("paid")?,
                shipped: r["shipped"].as_i64().context("shipped")?,
                cancelled: r["cancelled"].as_i64().context("cancelled")?,
                revenue: r["revenue"].as_i64().context("revenue")?,
            };
            ensure!(r["sku"] == *sku, "a row of another SKU under {sku}: {r}");
            reported.insert(r["day"].as_str().context("day")?.to_owned(), sales);
        }
        let recomputed: BTreeMap<String, Sales> =
            expected.iter().filter(|((s, _), _)| s == sku).map(|((_, day), sales)| (day.clone(), *sales)).collect();
        if reported != recomputed {
            problems.push(format!("{sku}: the sales API says {reported:?}, the journal adds up to {recomputed:?}"));
        }
        let total = totals.entry((*sku).to_owned()).or_insert_with(Sales::default);
        reported.values().for_each(|s| total.add(s));
    }
    if !problems.is_empty() {
        bail!("sales disagree with the journal:\n  {}", problems.join("\n  "));
    }
    Ok(totals)
}

/// Every seeded SKU, for `check_sales`.
pub fn seeded_skus() -> Vec<&'static str> {
    skus().into_iter().map(|(sku, _, _)| sku).collect()
}

async fn the_events_api(backend: Backend) -> Result<()> {
    let world = World::start_on(backend, &[("SH-01", "Shanghai")]).await?;
    let (central, sh) = (&world.central, world.edge("SH-01"));
    sh.receive("A-01-01", PEGASUS_GTIN, 5).await?;
    sh.wait_synced(Duration::from_secs(20)).await?;
    // Three orders of one shoe: one shipped, one cancelled unpaid, one left waiting for payment.
    let mut ids = Vec::new();
    for n in 0..3 {
        let order = central.create_order(&format!("journal-{n}"), &order_body(PEGASUS, 1, "Shanghai")).await?.ok()?;
        ids.push(order["id"].as_u64().context("id")?);
    }
    central.post(&format!("/api/v1/orders/{}/pay", ids[0]), json!({})).await?.ok()?;
    sh.fulfil(ids[0], "SF-JOURNAL-1").await?;
    sh.wait_synced(Duration::from_secs(20)).await?;
    let cancelled = central.post(&format!("/api/v1/orders/{}/cancel", ids[1]), json!({})).await?.ok()?;
    assert_eq!(cancelled["state"], "cancelled");

    let events = check_journal(central).await?;
    let kinds: Vec<&str> = events.iter().map(Entry::kind).collect();
    let count = |kind: &str| kinds.iter().filter(|k| **k == kind).count();
    assert_eq!(
        [count("spu_created"), count("sku_created"), count("warehouse_created"), count("stock_received")],
        [1, 3, 1, 1],
        "{kinds:?}"
    );
    assert_eq!([count("order_created"), count("order_paid"), count("order_shipped"), count("order_cancelled")], [3, 1, 1, 1]);
    let shipped = events.iter().find(|e| e.kind() == "order_shipped").context("shipped")?;
    assert_eq!(shipped.event["tracking_number"], "SF-JOURNAL-1");
    assert_eq!(shipped.event["warehouse"], "SH-01");

    // Sales of the day (summed over days, in case the test straddles midnight UTC).
    let totals = check_sales(central, &seeded_skus()).await?;
    let expected = Sales { ordered: 3, paid: 1, shipped: 1, cancelled: 1, revenue: 89_900 };
    assert_eq!(totals[PEGASUS], expected);
    assert_eq!(totals["PEG39-M-WHT-43"], Sales::default());

    // Paging: one event per page reads the same journal as a thousand per page.
    let (one_by_one, _) = all_events(central, 1).await?;
    assert_eq!(one_by_one, events);
    let first = central.get("/api/v1/events").await?.ok()?;
    let first = first["events"].as_array().context("events")?;
    assert_eq!(first.len(), events.len().min(100), "the default page is up to 100");
    assert_eq!(first[0]["seq"], 1);
    let last_seq = events.len() as u64;
    let past = central.get(&format!("/api/v1/events?after={last_seq}")).await?.ok()?;
    assert_eq!(past, json!({"events": [], "next_after": last_seq, "last_seq": last_seq}));

    // Limits out of range and strangers are refused.
    for limit in [0, 1001] {
        let r = central.get(&format!("/api/v1/events?limit={limit}")).await?;
        assert_eq!((r.status.as_u16(), r.content_type.as_str()), (400, "application/problem+json"), "limit {limit}: {}", r.body);
    }
    let anonymous = central.http.get(central.url("/api/v1/events")).send().await?;
    assert_eq!(anonymous.status(), 401);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_events_api_pages_a_gapless_journal_that_retells_orders_and_stock_on_sqlite() -> Result<()> {
    the_events_api(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_events_api_pages_a_gapless_journal_that_retells_orders_and_stock_on_postgres() -> Result<()> {
    the_events_api(Backend::Postgres).await
}

#[test]
fn utc_days_are_counted_from_the_epoch() {
    assert_eq!(utc_day(0), "1970-01-01");
    assert_eq!(utc_day(951_782_400_000), "2000-02-29");
    assert_eq!(utc_day(1_798_761_599_999), "2026-12-31");
    assert_eq!(utc_day(1_798_761_600_000), "2027-01-01");
}
