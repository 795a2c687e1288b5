//! Pick-face replenishment at a real edge (issue 17, must-show 4). SH-01 keeps the Pegasus on
//! face A-01-01 (min 3, max 8, 5 pairs on it) with 30 in reserve at R-01-01. Twelve paid orders
//! arrive at once, as a wave would release them: none fails, the refill is there before the
//! first pick that needs it (those picks wait for it rather than send a picker to an empty
//! bin), the refill is scanned bin → item → face, and every order ships with no short pick.
//! Bad face settings and wrong refill scans are refused and change nothing.

use crate::helpers::*;
use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use std::time::Duration;

const ORDERS: u64 = 12;

fn live_refills(list: &Value) -> Vec<Value> {
    list.as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pick_face_is_refilled_from_reserve_before_a_burst_of_orders_runs_it_short() -> Result<()> {
    let world = World::start(&[("SH-01", "Shanghai")]).await?;
    let (central, sh) = (&world.central, world.edge("SH-01"));
    sh.add_location("R-01-01").await?;
    sh.receive("A-01-01", PEGASUS_GTIN, 5).await?;
    sh.receive("R-01-01", PEGASUS_GTIN, 30).await?;

    for (path, bad, status) in [
        ("/api/v1/pick-faces/A-01-01", json!({"sku": PEGASUS, "min": 8, "max": 8}), 422),
        ("/api/v1/pick-faces/A-01-01", json!({"sku": PEGASUS, "min": -1, "max": 8}), 422),
        ("/api/v1/pick-faces/A-01-01", json!({"sku": PEGASUS, "min": 3}), 422),
        ("/api/v1/pick-faces/A-01-01", json!({"sku": PEGASUS, "min": 3, "max": 8, "colour": "red"}), 422),
        ("/api/v1/pick-faces/A-01-01", json!({"sku": "NOPE-1", "min": 3, "max": 8}), 404),
        ("/api/v1/pick-faces/Z-09-09", json!({"sku": PEGASUS, "min": 3, "max": 8}), 404),
        ("/api/v1/pick-faces/RCV", json!({"sku": PEGASUS, "min": 3, "max": 8}), 422),
    ] {
        let reply = sh.put(path, bad.clone()).await?;
        ensure!(reply.status == status || (status == 422 && reply.status == 400), "{path} {bad} → {reply:?}");
    }
    ensure!(sh.get("/api/v1/pick-faces").await?.ok()?.as_array().is_some_and(Vec::is_empty), "bad settings made no face");

    let face = sh.put("/api/v1/pick-faces/A-01-01", json!({"sku": PEGASUS, "min": 3, "max": 8})).await?.ok()?;
    ensure!(face["on_hand"] == 5 && face["projected"] == 5 && face["incoming"] == 0, "{face}");
    sh.wait_synced(Duration::from_secs(20)).await?;
    ensure!(central.level(PEGASUS, "SH-01").await?.3 == 35, "reserve is sellable too");

    let mut ids = Vec::new();
    for n in 0..ORDERS {
        let order = central.create_order(&format!("face-{n}"), &order_body(PEGASUS, 1, "Shanghai")).await?.ok()?;
        let id = order["id"].as_u64().context("id")?;
        central.post(&format!("/api/v1/orders/{id}/pay"), json!({})).await?.ok()?;
        ids.push(id);
    }
    for id in &ids {
        let order = sh.wait_for_order(*id, Duration::from_secs(20)).await?;
        ensure!(order["state"] == "picking", "order {id} must not fail: {order}");
        ensure!(order["tasks"].as_array().is_some_and(|t| t.iter().all(|t| t["location"] == "A-01-01")), "picked from the face only: {order}");
    }
    // The refill is there before any picker needs it: the seven picks beyond the face's five
    // wait for it.
    let tasks = sh.get("/api/v1/pick-tasks?method=discrete").await?.ok()?;
    let waiting = tasks.as_array().map_or(0, |t| t.iter().filter(|t| t["waiting"] == true).count());
    ensure!(waiting as u64 == ORDERS - 5, "{waiting} picks wait: {tasks}");
    let refills = live_refills(&sh.get("/api/v1/replenishments").await?.ok()?);
    let coming: i64 = refills.iter().filter_map(|r| r["qty"].as_i64()).sum();
    ensure!(refills.iter().all(|r| r["from"] == "R-01-01" && r["to"] == "A-01-01"), "{refills:?}");
    ensure!(coming >= (ORDERS as i64 - 5) + 3, "refills bring {coming}: enough for every pick and min left over");
    let faces = sh.get("/api/v1/pick-faces").await?.ok()?;
    ensure!(faces[0]["projected"].as_i64() == Some(5 + coming - ORDERS as i64), "{faces}");
    let first_waiting = tasks.as_array().and_then(|t| t.iter().find(|t| t["waiting"] == true)).cloned().context("a waiting task")?;
    let early = sh.post(&format!("/api/v1/pick-tasks/{}/scan", first_waiting["id"]), json!({"code": "A-01-01"})).await?;
    ensure!(early.status == 409, "a waiting pick cannot start: {early:?}");

    // The five the face holds are picked and shipped first.
    let mut shipped = 0;
    for id in &ids {
        let order = sh.get(&format!("/api/v1/orders/{id}")).await?.ok()?;
        if order["tasks"][0]["waiting"] == false {
            sh.fulfil(*id, &format!("SF-FACE-{id}")).await?;
            shipped += 1;
        }
    }
    ensure!(shipped == 5, "{shipped} orders could go before the refill");

    // The refill, scanned as a worker would: a wrong first scan changes nothing.
    for refill in &refills {
        let path = format!("/api/v1/replenishments/{}/scan", refill["id"]);
        let wrong = sh.post(&path, json!({"code": "A-01-01"})).await?;
        ensure!(wrong.status == 409 || wrong.status == 422, "the face before the reserve bin: {wrong:?}");
        ensure!(sh.get("/api/v1/replenishments").await?.ok()?.to_string().contains("\"state\":\"open\""), "still open after a wrong scan");
        for code in [refill["from"].clone(), json!(PEGASUS_GTIN), refill["to"].clone()] {
            sh.post(&path, json!({"code": code})).await?.ok()?;
        }
    }
    ensure!(live_refills(&sh.get("/api/v1/replenishments").await?.ok()?).is_empty(), "every refill done");
    let done = sh.get("/api/v1/replenishments?finished=true").await?.ok()?;
    ensure!(done.as_array().is_some_and(|d| d.iter().all(|r| r["state"] == "done" && r["done_ms"].is_i64())), "{done}");

    for id in &ids[..] {
        let order = sh.get(&format!("/api/v1/orders/{id}")).await?.ok()?;
        if order["state"] == "picking" {
            ensure!(order["tasks"][0]["waiting"] == false, "refilled: {order}");
            sh.fulfil(*id, &format!("SF-FACE-{id}")).await?;
        }
    }
    sh.wait_synced(Duration::from_secs(20)).await?;
    for id in &ids {
        let order = central.order(*id).await?;
        ensure!(order["state"] == "shipped" && order["warehouse"] == "SH-01", "order {id}: {order}");
    }
    let (on_hand, _, _, sellable) = central.level(PEGASUS, "SH-01").await?;
    ensure!((on_hand, sellable) == (35 - ORDERS as i64, 35 - ORDERS as i64), "{on_hand} on hand, {sellable} sellable");
    let face = &sh.get("/api/v1/pick-faces").await?.ok()?[0];
    ensure!(face["on_hand"].as_i64() == Some(5 + coming - ORDERS as i64) && face["on_hand"].as_i64() >= Some(3), "the face ends at or above min: {face}");
    let stock = sh.get("/api/v1/stock?location=R-01-01").await?.ok()?;
    ensure!(stock[0]["qty"].as_i64() == Some(30 - coming), "reserve gave exactly the refills: {stock}");
    Ok(())
}
