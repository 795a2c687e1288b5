//! Dock appointments at a real edge (issue 17, "appointments at the dock"): a supplier's
//! delivery books a door and a slot; a door takes one truck at a time and a booking must sit on
//! the dock's slots inside its opening hours; the truck's arrival, unloading and departure are
//! recorded in order; the goods are received against the delivery and put away; the KPIs show
//! the visit (arrival against the slot, wait at the door, unloading) and the dock-to-stock time.

use crate::helpers::*;
use anyhow::{ensure, Result};
use serde_json::json;
use std::time::Duration;

const HALF_HOUR: i64 = 1_800_000;
const DAY: i64 = 86_400_000;

/// The next 30-minute slot at least half an hour ahead with two hours left before the dock
/// closes (07:00–19:00 UTC, the default dock).
fn next_slot(now: i64) -> i64 {
    let day = now.div_euclid(DAY) * DAY;
    let slot = (now / HALF_HOUR + 2) * HALF_HOUR;
    match slot {
        s if s < day + 7 * 2 * HALF_HOUR => day + 14 * HALF_HOUR,
        s if s + 4 * HALF_HOUR > day + 38 * HALF_HOUR => day + DAY + 14 * HALF_HOUR,
        s => s,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_books_a_door_and_its_visit_is_recorded_and_measured() -> Result<()> {
    let world = World::start(&[("SH-01", "Shanghai")]).await?;
    let sh = world.edge("SH-01");
    sh.post("/api/v1/deliveries", json!({"id": "ASN-9", "supplier": "Nike China", "lines": [{"sku": PEGASUS, "qty": 6}]})).await?.ok()?;
    let start = next_slot(tote_shared::runtime::system::now_ms());
    let book = |body: serde_json::Value| sh.post("/api/v1/dock/appointments", body);

    for (bad, status) in [
        (json!({"supplier": "Nike China", "start_ms": start + HALF_HOUR / 2, "minutes": 60}), 422),
        (json!({"supplier": "Nike China", "start_ms": start, "minutes": 45}), 422),
        (json!({"supplier": "Nike China", "start_ms": start, "minutes": 60, "door": "D9"}), 422),
        (json!({"supplier": "Nike China", "start_ms": start - 2 * DAY, "minutes": 60}), 422),
        (json!({"supplier": "Nike China", "start_ms": start, "minutes": 60, "delivery": "ASN-404"}), 404),
        (json!({"supplier": "Nike China", "start_ms": start, "minutes": 60, "colour": "red"}), 422),
        (json!({"supplier": "", "start_ms": start, "minutes": 60}), 422),
    ] {
        let reply = book(bad.clone()).await?;
        ensure!(reply.status == status || (status == 422 && reply.status == 400), "{bad} → {reply:?}");
    }
    ensure!(sh.get(&format!("/api/v1/dock/appointments?from_ms={start}")).await?.ok()?.as_array().is_some_and(Vec::is_empty), "bad bookings booked nothing");

    let truck = book(json!({"supplier": "Nike China", "delivery": "ASN-9", "door": "D1", "start_ms": start, "minutes": 60})).await?.ok()?;
    ensure!(truck["door"] == "D1" && truck["state"] == "booked" && truck["end_ms"] == start + 2 * HALF_HOUR, "{truck}");
    let id = truck["id"].as_u64().unwrap_or(0);
    ensure!(book(json!({"supplier": "Adidas", "door": "D1", "start_ms": start + HALF_HOUR, "minutes": 30})).await?.status == 409, "D1 holds one truck at a time");
    ensure!(book(json!({"supplier": "Nike China", "delivery": "ASN-9", "start_ms": start + 4 * HALF_HOUR, "minutes": 30})).await?.status == 409, "one live booking per delivery");
    let other = book(json!({"supplier": "Adidas", "start_ms": start + HALF_HOUR, "minutes": 30})).await?.ok()?;
    ensure!(other["door"] == "D2", "the first free door: {other}");
    ensure!(book(json!({"supplier": "Puma", "start_ms": start + HALF_HOUR, "minutes": 30})).await?.status == 409, "both doors are taken");
    sh.post(&format!("/api/v1/dock/appointments/{}/cancel", other["id"]), json!({})).await?.ok()?;

    // The visit, step by step and in order.
    ensure!(sh.post(&format!("/api/v1/dock/appointments/{id}/unload"), json!({})).await?.status == 409, "not arrived yet");
    ensure!(sh.post(&format!("/api/v1/dock/appointments/{id}/no-show"), json!({})).await?.status == 409, "its slot has not ended");
    sh.post(&format!("/api/v1/dock/appointments/{id}/arrive"), json!({})).await?.ok()?;
    sh.post(&format!("/api/v1/dock/appointments/{id}/unload"), json!({})).await?.ok()?;
    sh.post("/api/v1/receipts", json!({"location": "RCV", "gtin": PEGASUS_GTIN, "qty": 6, "delivery": "ASN-9"})).await?.ok()?;
    let left = sh.post(&format!("/api/v1/dock/appointments/{id}/unloaded"), json!({})).await?.ok()?;
    ensure!(left["state"] == "unloaded" && left["arrived_ms"].as_i64() <= left["unloading_ms"].as_i64() && left["unloading_ms"].as_i64() <= left["unloaded_ms"].as_i64(), "{left}");
    ensure!(sh.post(&format!("/api/v1/dock/appointments/{id}/arrive"), json!({})).await?.status == 409, "each step once");
    sh.post("/api/v1/moves", json!({"from": "RCV", "to": "A-01-01", "code": PEGASUS_GTIN, "qty": 6})).await?.ok()?;
    sh.wait_synced(Duration::from_secs(20)).await?;

    let kpis = sh.get(&format!("/api/v1/kpis?from_ms={start}&to_ms={}", start + 2 * HALF_HOUR)).await?.ok()?;
    let dock = &kpis["dock"];
    ensure!(dock["appointments"] == 1 && dock["arrived"] == 1 && dock["on_time"] == 1 && dock["no_shows"] == 0, "the cancelled booking does not count: {dock}");
    ensure!(dock["wait_at_door"]["count"] == 1 && dock["unloading"]["count"] == 1, "{dock}");
    let now = tote_shared::runtime::system::now_ms();
    let today = sh.get(&format!("/api/v1/kpis?from_ms={}&to_ms={now}", now - 3_600_000)).await?.ok()?;
    ensure!(today["dock_to_stock"]["count"] == 6, "six units from the dock into a bin: {}", today["dock_to_stock"]);
    Ok(())
}
