//! The warehouse KPIs (issue 17, must-show 5) from a simulated shift at a real edge: goods
//! arrive on the dock and are put away, two pickers signed in on their own sessions pick six
//! orders (the last comes up short and is picked from the other bin), the orders are packed
//! and shipped, two bins are counted
//! (one matches the books, one does not). `GET /api/v1/kpis` must show exactly that, and the
//! supervisor's KPI page renders it as charts in Chromium (screenshot in
//! `target/screenshots/kpis/`).

use crate::helpers::*;
use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use std::time::Duration;
use tote_sim::browser::Browser;

async fn sign_in(edge: &Edge, worker: &str, pin: &str) -> Result<String> {
    let r: Value = client().post(edge.url("/api/v1/session")).json(&json!({"worker": worker, "pin": pin})).send().await?.json().await?;
    Ok(r["token"].as_str().context("session token")?.to_owned())
}

async fn scan_as(edge: &Edge, token: &str, task: u64, body: Value) -> Result<Value> {
    let r = client().post(edge.url(&format!("/api/v1/pick-tasks/{task}/scan"))).bearer_auth(token).json(&body).send().await?;
    let reply = Reply::from(r).await?;
    reply.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kpi_page_charts_a_shift_with_the_figures_the_floor_recorded() -> Result<()> {
    let world = World::start(&[("SH-01", "Shanghai")]).await?;
    let (central, sh) = (&world.central, world.edge("SH-01"));
    for (id, name, pin, roles) in [("li", "Li Wei", "1357", json!(["picker"])), ("wu", "Wu Fang", "8642", json!(["picker"])), ("boss", "Zhang Min", "2468", json!(["supervisor"]))] {
        sh.post("/api/v1/workers", json!({"id": id, "name": name, "pin": pin, "roles": roles})).await?.ok()?;
    }
    // Arrival on the dock, then put away: one dock-to-stock time per unit.
    sh.add_location("A-01-02").await?;
    sh.receive("RCV", PEGASUS_GTIN, 4).await?;
    sh.post("/api/v1/moves", json!({"from": "RCV", "to": "A-01-01", "code": PEGASUS_GTIN, "qty": 4})).await?.ok()?;
    sh.receive("A-01-02", PEGASUS_GTIN, 10).await?;
    sh.wait_synced(Duration::from_secs(20)).await?;

    let (li, wu) = (sign_in(sh, "li", "1357").await?, sign_in(sh, "wu", "8642").await?);
    let mut ids = Vec::new();
    for n in 0..6 {
        let order = central.create_order(&format!("kpi-{n}"), &order_body(PEGASUS, 1, "Shanghai")).await?.ok()?;
        let id = order["id"].as_u64().context("id")?;
        central.post(&format!("/api/v1/orders/{id}/pay"), json!({})).await?.ok()?;
        ids.push(id);
    }
    let mut short_done = false;
    for (n, id) in ids.iter().enumerate() {
        let order = sh.wait_for_order(*id, Duration::from_secs(20)).await?;
        let task = &order["tasks"][0];
        let (task_id, location) = (task["id"].as_u64().context("task")?, task["location"].clone());
        let token = if n < 4 { &li } else { &wu };
        if n == 5 {
            // The last picker finds its bin empty (someone took the units): a short pick, and
            // the line is picked from the other bin.
            let r = client().post(sh.url(&format!("/api/v1/pick-tasks/{task_id}/short"))).bearer_auth(token).json(&json!({"found": 0, "reason": "empty bin"})).send().await?;
            Reply::from(r).await?.ok()?;
            short_done = true;
            let again = sh.get(&format!("/api/v1/orders/{id}")).await?.ok()?;
            let task = again["tasks"].as_array().and_then(|t| t.iter().find(|t| t["state"] == "open")).cloned().context("the re-assigned task")?;
            scan_as(sh, token, task["id"].as_u64().unwrap_or(0), json!({"code": task["location"]})).await?;
            scan_as(sh, token, task["id"].as_u64().unwrap_or(0), json!({"code": PEGASUS_GTIN})).await?;
        } else {
            scan_as(sh, token, task_id, json!({"code": location})).await?;
            scan_as(sh, token, task_id, json!({"code": PEGASUS_GTIN})).await?;
        }
        sh.post(&format!("/api/v1/orders/{id}/pack"), json!({})).await?.ok()?;
        sh.post(&format!("/api/v1/orders/{id}/ship"), json!({"carrier": "SF", "tracking_number": format!("SF-KPI-{id}")})).await?.ok()?;
    }
    ensure!(short_done, "one pick came up short");
    // Two counts: A-01-01 as the books say, A-01-02 (emptied by the short pick) with one found.
    let left: i64 = sh.get("/api/v1/stock?location=A-01-01").await?.ok()?.as_array().map_or(0, |s| s.iter().filter_map(|x| x["qty"].as_i64()).sum());
    ensure!(left == 3, "A-01-01 gave the short line's unit: {left} left");
    let exact = sh.post("/api/v1/counts", json!({"location": "A-01-01"})).await?.ok()?;
    let c = sh.post(&format!("/api/v1/counts/{}/submit", exact["id"]), json!({"lines": [{"code": PEGASUS_GTIN, "qty": left}]})).await?.ok()?;
    ensure!(c["state"] == "closed", "{c}");
    let off = sh.post("/api/v1/counts", json!({"location": "A-01-02"})).await?.ok()?;
    let path = format!("/api/v1/counts/{}/submit", off["id"]);
    for _ in 0..2 {
        sh.post(&path, json!({"lines": [{"code": PEGASUS_GTIN, "qty": 1}]})).await?.ok()?;
    }
    let decided = sh.post(&format!("/api/v1/counts/{}/decide", off["id"]), json!({"approve": true})).await?.ok()?;
    ensure!(decided["state"] == "approved", "{decided}");

    for (bad, status) in [("/api/v1/kpis?from_ms=10&to_ms=5", 422), ("/api/v1/kpis?from_ms=0&to_ms=9999999999999", 422), ("/api/v1/kpis?hours=8", 400)] {
        let r = sh.get(bad).await?;
        ensure!(r.status == status, "{bad} → {r:?}");
    }
    let k = sh.get("/api/v1/kpis").await?.ok()?;
    ensure!(k["orders_shipped"] == 6 && k["order_cycle"]["count"] == 6 && k["order_cycle"]["p50"].is_f64(), "{k}");
    ensure!(k["lines_picked"] == 6 && k["units_picked"] == 6 && k["lines_short"] == 1, "{k}");
    let worker = |name: &str| k["by_worker"].as_array().and_then(|w| w.iter().find(|r| r["name"] == name)).map(|r| r["lines"].clone());
    ensure!(worker("li") == Some(json!(4)) && worker("wu") == Some(json!(2)), "picks by worker: {}", k["by_worker"]);
    ensure!(k["stock_accuracy"] == json!({"counts": 2, "exact": 1, "accuracy": 0.5}), "{}", k["stock_accuracy"]);
    ensure!(k["dock_to_stock"]["count"] == 4, "four units put away from the dock: {}", k["dock_to_stock"]);
    ensure!(k["lines_per_hour"].as_array().is_some_and(|h| h.len() == 8 && h.iter().filter_map(Value::as_i64).sum::<i64>() == 6), "{}", k["lines_per_hour"]);

    let b = Browser::start(std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots/kpis")).await?;
    let outcome = async {
        b.goto(&sh.url("/kpis")).await?;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !b.text("#status").await.unwrap_or_default().contains("sign in") {
            ensure!(std::time::Instant::now() < deadline, "without a session the page says to sign in");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The supervisor signs in on the handheld page; the KPI page then uses that session.
        b.goto(&sh.url("/")).await?;
        b.type_into("#worker", "boss").await?;
        b.type_into("#pin", "2468").await?;
        b.click("#signin").await?;
        b.on_screen("menu").await?;
        b.goto(&sh.url("/kpis")).await?;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while b.exec("return document.body.dataset.loaded || ''").await? != json!("1") {
            ensure!(std::time::Instant::now() < deadline, "the KPI page never drew its charts");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let bars = b.exec("return ['per-hour','by-worker','cycle','dock'].map(id => document.querySelectorAll('#' + id + ' rect.bar').length)").await?;
        ensure!(bars[0].as_u64() >= Some(1) && bars[1] == 2 && bars[2].as_u64() >= Some(1) && bars[3].as_u64() >= Some(1), "bars drawn per chart: {bars}");
        ensure!(b.text("#orders-shipped").await?.contains('6') && b.text("#lines-short").await?.contains('1'), "the cards show the figures");
        ensure!(b.text("#accuracy-card").await?.contains("50 %"), "stock accuracy card");
        let charted = b.exec("return document.getElementById('by-worker').textContent").await?;
        ensure!(charted.as_str().is_some_and(|t| t.contains("li") && t.contains("wu")), "both pickers charted: {charted}");
        let donut = b.exec("return document.getElementById('accuracy').textContent").await?;
        ensure!(donut.as_str().is_some_and(|t| t.contains("1 of 2 counts")), "the accuracy chart: {donut}");
        b.screenshot("kpis").await?;
        Ok(())
    }
    .await;
    b.finish(outcome).await
}
