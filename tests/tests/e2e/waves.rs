//! A wave of 200 orders at a real edge (issue 17, must-show 1). The edge's rules send
//! single-unit orders to batch picking, multi-line orders to cluster picking and SKUs stocked on
//! pods to the stations. Central takes 200 paid orders: 110 single-unit from the shelves, 10
//! single-unit of pod SKUs, 80 multi-line (every tenth with a pod line too; the last with a
//! bulky item, 25 kg by the catalog's shipping size, so a picker takes it alone with a handheld).
//! A supervisor plans one wave from them and releases it; pickers start each cart with its totes and scan through
//! its walk (location, item, tote), the stations pick the pod lines, packers sort each batch
//! tote to its orders' cartons and pack every order with the carton scanned. Every unit must
//! be in the right order's carton: the edge checks each carton against what was picked for
//! that order, so a unit put in a wrong tote or sorted to a wrong order fails the test.
//! Bad input on the way is refused and changes nothing.

use crate::gtp::{gtin, repo_file, sku};
use crate::helpers::*;
use anyhow::{ensure, Context, Result};
use serde_json::json;
use tote_sim::browser::Browser;
use std::collections::BTreeMap;
use std::time::Duration;

const SHELF_SKUS: u64 = 25;
const POD_SKUS: u64 = 5;
/// The catalog's 25 kg item: bulky.
const BULKY: u64 = SHELF_SKUS + POD_SKUS;

fn shelf_bin(k: u64) -> String {
    format!("A-{:02}-{:02}", 1 + k % 12, 3 + 13 * (k / 12) + k % 5)
}

/// The lines of order `n` (SKU index, qty).
fn lines(n: u64) -> Vec<(u64, i64)> {
    match n {
        0..110 => vec![((n * 7) % SHELF_SKUS, 1)],
        110..120 => vec![(SHELF_SKUS + n % POD_SKUS, 1)],
        _ => {
            let mut lines: Vec<(u64, i64)> = (0..2 + n % 3).map(|l| ((n * 11 + l * 5) % SHELF_SKUS, if l == 0 && n.is_multiple_of(4) { 2 } else { 1 })).collect();
            if n.is_multiple_of(10) {
                lines.push((SHELF_SKUS + n % POD_SKUS, 1));
            }
            if n == 199 {
                lines.push((BULKY, 1));
            }
            lines
        }
    }
}

async fn seed(central: &Central, edge: &Edge) -> Result<()> {
    central.post("/api/v1/spus", json!({"id": "GTP", "name": "Wave test item", "brand": "Tote", "category": "Test"})).await?.ok()?;
    for k in 0..=BULKY {
        let mut body = json!({"sku": sku(k), "spu_id": "GTP", "gtin": gtin(k), "gender": "unisex", "colour": "grey", "size": "one", "price": 1000, "cost": 500});
        if k == BULKY {
            body["shipping"] = json!({"weight_g": 25000, "length_mm": 1200, "width_mm": 400, "height_mm": 300});
        }
        central.post("/api/v1/skus", body).await?.ok()?;
    }
    edge.wait_for_skus(BULKY + 1).await?;
    edge.add_location(&shelf_bin(BULKY)).await?;
    edge.receive(&shelf_bin(BULKY), &gtin(BULKY), 5).await?;
    for k in 0..SHELF_SKUS {
        edge.add_location(&shelf_bin(k)).await?;
        edge.receive(&shelf_bin(k), &gtin(k), 100).await?;
    }
    for p in 1..=10u64 {
        edge.receive(&format!("P{p:04}-A1"), &gtin(SHELF_SKUS + p % POD_SKUS), 20).await?;
    }
    edge.wait_synced(Duration::from_secs(60)).await
}

/// What is physically where: units (GTINs) in each tote and at each order's station pick.
#[derive(Default)]
struct Floor {
    totes: BTreeMap<String, Vec<String>>,
    cartons: BTreeMap<u64, Vec<String>>,
}

/// Walks a started batch to its end as the handheld says: at each stop the location, the
/// item(s), then the tote the handheld names, where the units go.
async fn walk(edge: &Edge, id: u64, floor: &mut Floor) -> Result<usize> {
    let mut view = edge.get(&format!("/api/v1/pick-batches/{id}")).await?.ok()?;
    let mut stops = 0;
    let mut in_hand: Vec<String> = Vec::new();
    while let Some(next) = view["next"].as_object().cloned() {
        let s = |k: &str| next[k].as_str().unwrap_or_default().to_owned();
        let (code, qty) = match next["expect"].as_str() {
            Some("location") => {
                stops += 1;
                (s("location"), 1)
            }
            Some("item") => {
                let qty = next["qty_left"].as_i64().context("qty")?;
                in_hand.extend(std::iter::repeat_n(s("gtin"), qty as usize));
                (s("gtin"), qty)
            }
            _ => {
                floor.totes.entry(s("tote")).or_default().append(&mut in_hand);
                (s("tote"), 1)
            }
        };
        let r = edge.post(&format!("/api/v1/pick-batches/{id}/scan"), json!({"code": code, "qty": qty})).await?.ok()?;
        ensure!(r["message"].as_str().is_some_and(|m| !m.is_empty()), "{r}");
        view = r["batch"].clone();
    }
    ensure!(view["batch"]["state"] == "done" && in_hand.is_empty(), "batch {id} ends done: {view}");
    Ok(stops)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wave_of_200_orders_is_batch_and_cluster_picked_and_every_unit_reaches_its_orders_carton() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let central = Central::start(dir.path())?;
    central.add_warehouse("SH-01", "Shanghai").await?;
    let extra = format!(
        "[floor]\nlayout = \"{}\"\npods = 20\nfaces = 2\nbins_per_face = 1\ntick_ms = 50\n\
         [picking]\nrules = [{{ profile = \"goods_to_person\", method = \"station\" }}, {{ profile = \"single_unit\", method = \"batch\" }}, {{ profile = \"multi_line\", method = \"cluster\" }}, {{ profile = \"bulky\", method = \"discrete\" }}]\n\
         [picking.waves]\nmax_lines = 1000\ntote_units = 20\ncart_totes = 8\n",
        repo_file("configs/floor.toml").display()
    );
    let config = edge_config_full(dir.path(), "SH-01", central.base_url(), None, &extra)?;
    let edge = Edge::from_daemon(Daemon::spawn(Kind::Edge, config)?, "SH-01");
    seed(&central, &edge).await?;

    let mut ids = Vec::new();
    for n in 0..200u64 {
        let body = json!({"channel": "app", "lines": lines(n).iter().map(|(k, q)| json!({"sku": sku(*k), "qty": q})).collect::<Vec<_>>(),
            "ship_to": {"name": "Li Wei", "line1": "88 Century Avenue", "city": "Shanghai", "postcode": "200120"}});
        let id = central.create_order(&format!("wave-{n}"), &body).await?.ok()?["id"].as_u64().context("id")?;
        central.post(&format!("/api/v1/orders/{id}/pay"), json!({})).await?.ok()?;
        ids.push(id);
    }
    let orders = eventually("all 200 orders at the edge", Duration::from_secs(60), || async {
        let list = edge.get("/api/v1/orders?state=picking&limit=1000").await?.ok()?;
        Ok((list.as_array().map_or(0, Vec::len) == 200).then_some(list))
    })
    .await?;
    // The rules: shelf lines of single-unit orders batch, of the others cluster; pod lines at stations.
    for (n, id) in ids.iter().enumerate() {
        let order = orders.as_array().and_then(|a| a.iter().find(|o| o["order_id"] == *id)).context("order")?;
        for task in order["tasks"].as_array().context("tasks")? {
            let on_pod = task["location"].as_str().is_some_and(|l| l.starts_with('P'));
            let expected = match (on_pod, n) {
                (true, _) => "station",
                (false, 0..120) => "batch",
                (false, 199) => "discrete",
                _ => "cluster",
            };
            ensure!(task["method"] == expected, "order {n}: {task}");
        }
    }
    let discrete = edge.get("/api/v1/pick-tasks?method=discrete").await?.ok()?;
    let discrete = discrete.as_array().context("discrete tasks")?;
    ensure!(discrete.len() == 4 && discrete.iter().all(|t| t["order_id"] == ids[199]), "only the bulky order is picked one at a time: {discrete:?}");

    // One wave takes every order with cart picks: 110 single-unit ones in 6 batch totes of up to
    // 20, 79 multi-line ones on 10 carts of 8 (the bulky order is not on a cart).
    let wave = edge.post("/api/v1/waves", json!({})).await?.ok()?;
    let wave_id = wave["id"].as_u64().context("wave id")?;
    ensure!(wave["state"] == "planned" && wave["orders"] == 189, "{wave}");
    let batches = wave["batches"].as_array().context("batches")?.clone();
    let count = |m: &str| batches.iter().filter(|b| b["method"] == m).count();
    ensure!(count("batch") == 6 && count("cluster") == 10, "{wave}");
    ensure!(edge.post("/api/v1/waves", json!({})).await?.status == 409, "nothing is left waiting");
    ensure!(edge.get("/api/v1/pick-batches").await?.ok()?.as_array().is_some_and(Vec::is_empty), "a planned wave is not on the floor yet");
    edge.post(&format!("/api/v1/waves/{wave_id}/release"), json!({})).await?.ok()?;
    ensure!(edge.get("/api/v1/pick-batches?limit=500").await?.ok()?.as_array().map_or(0, Vec::len) == 16);

    // Bad input on a cart changes nothing.
    let cart = batches.iter().find(|b| b["method"] == "cluster").context("a cart")?["id"].as_u64().context("id")?;
    let slots = edge.get(&format!("/api/v1/pick-batches/{cart}")).await?.ok()?["slots"].as_array().map_or(0, Vec::len);
    for (totes, status) in [(json!(["TOTE-1"]), 422), (json!(vec!["A-01-03"; slots]), 422), (json!(vec!["TOTE-1"; slots]), 422), (json!({"TOTE": 1}), 422)] {
        let r = edge.post(&format!("/api/v1/pick-batches/{cart}/start"), json!({"totes": totes})).await?;
        ensure!(r.status == status || (status == 422 && r.status == 400), "{totes} → {r:?}");
    }
    ensure!(edge.post(&format!("/api/v1/pick-batches/{cart}/scan"), json!({"code": "A-01-03"})).await?.status == 409, "not started");

    let mut floor = Floor::default();
    let mut stops = 0;
    let mut metres = 0.0;
    for b in &batches {
        let id = b["id"].as_u64().context("id")?;
        let n = edge.get(&format!("/api/v1/pick-batches/{id}")).await?.ok()?["slots"].as_array().map_or(0, Vec::len);
        let totes: Vec<String> = (1..=n).map(|s| format!("TOTE-B{id}S{s}")).collect();
        let started = edge.post(&format!("/api/v1/pick-batches/{id}/start"), json!({"totes": totes})).await?.ok()?;
        ensure!(started["batch"]["state"] == "started" && started["next"]["expect"] == "location", "{started}");
        if id == cart {
            // A wrong tote after the item: refused, and the units are still in hand.
            let next = &started["next"];
            edge.post(&format!("/api/v1/pick-batches/{id}/scan"), json!({"code": next["location"]})).await?.ok()?;
            let r = edge.post(&format!("/api/v1/pick-batches/{id}/scan"), json!({"code": next["gtin"], "qty": next["qty_left"]})).await?.ok()?;
            ensure!(r["batch"]["next"]["expect"] == "tote", "{r}");
            let right = r["batch"]["next"]["tote"].as_str().context("tote")?.to_owned();
            let wrong = totes.iter().find(|t| **t != right).context("another tote")?;
            let refused = edge.post(&format!("/api/v1/pick-batches/{id}/scan"), json!({"code": wrong})).await?;
            ensure!(refused.status == 422 && refused.body["type"].as_str().is_some_and(|t| t.contains("wrong-scan")), "{refused:?}");
            let view = edge.get(&format!("/api/v1/pick-batches/{id}")).await?.ok()?;
            ensure!(view["next"]["expect"] == "tote" && view["next"]["task_id"] == next["task_id"], "{view}");
            let qty = next["qty_left"].as_i64().context("qty")? as usize;
            floor.totes.entry(right.clone()).or_default().extend(std::iter::repeat_n(next["gtin"].as_str().unwrap_or_default().to_owned(), qty));
            edge.post(&format!("/api/v1/pick-batches/{id}/scan"), json!({"code": right})).await?.ok()?;
        }
        stops += walk(&edge, id, &mut floor).await?;
        metres += b["metres"].as_f64().context("metres")?;
    }

    // The stations pick the pod lines.
    let station_tasks = edge.get("/api/v1/pick-tasks?method=station&limit=1000").await?.ok()?;
    let station_tasks = station_tasks.as_array().context("station tasks")?;
    ensure!(station_tasks.len() == 18, "10 single-unit and 8 multi-line orders have a pod line: {}", station_tasks.len());
    for t in station_tasks {
        let path = format!("/api/v1/pick-tasks/{}/scan", t["id"]);
        edge.post(&path, json!({"code": t["location"], "station": "ST-1"})).await?.ok()?;
        edge.post(&path, json!({"code": t["gtin"], "qty": t["qty"], "station": "ST-1"})).await?.ok()?;
        let order = t["order_id"].as_u64().context("order")?;
        floor.cartons.entry(order).or_default().extend(std::iter::repeat_n(t["gtin"].as_str().unwrap_or_default().to_owned(), t["qty"].as_u64().unwrap_or(0) as usize));
    }
    // A picker with a handheld takes the bulky order alone.
    for t in discrete {
        let path = format!("/api/v1/pick-tasks/{}/scan", t["id"]);
        edge.post(&path, json!({"code": t["location"]})).await?.ok()?;
        edge.post(&path, json!({"code": t["gtin"], "qty": t["qty"]})).await?.ok()?;
        let order = t["order_id"].as_u64().context("order")?;
        floor.cartons.entry(order).or_default().extend(std::iter::repeat_n(t["gtin"].as_str().unwrap_or_default().to_owned(), t["qty"].as_u64().unwrap_or(0) as usize));
    }
    let picked = edge.get("/api/v1/orders?state=picked&limit=1000").await?.ok()?;
    ensure!(picked.as_array().map_or(0, Vec::len) == 200, "every order picked");
    let wave = edge.get(&format!("/api/v1/waves/{wave_id}")).await?.ok()?;
    ensure!(wave["state"] == "done", "{wave}");

    // Packing. A batch tote's order cannot be packed before its unit is sorted out.
    let single = ids[0];
    ensure!(edge.post(&format!("/api/v1/orders/{single}/pack"), json!({})).await?.status == 409, "order {single} is still in its tote");
    for b in batches.iter().filter(|b| b["method"] == "batch") {
        let tote = format!("TOTE-B{}S1", b["id"]);
        let units = floor.totes.remove(&tote).context("a picked batch tote")?;
        let held = edge.get(&format!("/api/v1/totes/{tote}")).await?.ok()?;
        ensure!(held["orders"].as_array().map_or(0, |o| o.len()) == units.len(), "one unit per single-unit order: {held}");
        ensure!(edge.post(&format!("/api/v1/totes/{tote}/sort"), json!({"code": "0000000000000"})).await?.status == 422, "not in the tote");
        for unit in units {
            let sorted = edge.post(&format!("/api/v1/totes/{tote}/sort"), json!({"code": unit})).await?.ok()?;
            floor.cartons.entry(sorted["order_id"].as_u64().context("order")?).or_default().push(unit);
        }
        ensure!(edge.post(&format!("/api/v1/totes/{tote}/sort"), json!({"code": gtin(0)})).await?.status == 409, "the tote is empty");
    }
    for (tote, units) in std::mem::take(&mut floor.totes) {
        let held = edge.get(&format!("/api/v1/totes/{tote}")).await?.ok()?;
        let orders = held["orders"].as_array().context("orders")?;
        ensure!(orders.len() == 1, "a cluster tote holds one order: {held}");
        floor.cartons.entry(orders[0]["order_id"].as_u64().context("order")?).or_default().extend(units);
    }
    ensure!(floor.cartons.len() == 200, "every order has a carton: {}", floor.cartons.len());
    for (order, carton) in &floor.cartons {
        let r = edge.post(&format!("/api/v1/orders/{order}/pack"), json!({"items": carton})).await?;
        ensure!(r.status == 200, "order {order}'s carton {carton:?} matches what was picked for it: {r:?}");
        edge.post(&format!("/api/v1/orders/{order}/ship"), json!({"carrier": "SF", "tracking_number": format!("SF-W{order}")})).await?.ok()?;
    }
    let wave = edge.get(&format!("/api/v1/waves/{wave_id}")).await?.ok()?;
    ensure!(wave["orders_shipped"] == 189, "{wave}");
    println!("wave of 189 orders: {} batches, {stops} stops, {metres:.0} m planned walking", batches.len());
    Ok(())
}

/// The handheld in Chromium: a picker takes a cluster cart of three orders, scans an empty
/// tote onto each slot, walks the stops the page names (location, item, tote; one wrong tote
/// first), and a packer sorts a batch tote of two single-unit orders on the packing screen.
/// Screenshots in `target/screenshots/handheld-cart/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_picker_walks_a_cart_and_a_packer_sorts_a_tote_on_the_handheld() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let central = Central::start(dir.path())?;
    central.seed_catalog().await?;
    central.add_warehouse("SH-01", "Shanghai").await?;
    let extra = "[picking]\nrules = [{ profile = \"single_unit\", method = \"batch\" }, { profile = \"multi_line\", method = \"cluster\" }]\n";
    let config = edge_config_full(dir.path(), "SH-01", central.base_url(), None, extra)?;
    let edge = Edge::from_daemon(Daemon::spawn(Kind::Edge, config)?, "SH-01");
    edge.wait_for_skus(skus().len() as u64).await?;
    crate::handheld::workers(&edge).await?;
    let bins = ["A-02-05", "A-04-10", "A-01-20"];
    for ((_, gtin, _), bin) in skus().iter().zip(bins) {
        edge.add_location(bin).await?;
        edge.receive(bin, gtin, 20).await?;
    }
    edge.wait_synced(Duration::from_secs(20)).await?;
    let all = skus();
    let orders: [Vec<(usize, i64)>; 5] = [vec![(0, 1), (1, 1)], vec![(1, 2), (2, 1)], vec![(0, 1), (2, 1)], vec![(2, 1)], vec![(0, 1)]];
    for (n, lines) in orders.iter().enumerate() {
        let body = json!({"channel": "app", "lines": lines.iter().map(|(k, q)| json!({"sku": all[*k].0, "qty": q})).collect::<Vec<_>>(),
            "ship_to": {"name": "Li Wei", "line1": "88 Century Avenue", "city": "Shanghai", "postcode": "200120"}});
        let id = central.create_order(&format!("cart-{n}"), &body).await?.ok()?["id"].as_u64().context("id")?;
        central.post(&format!("/api/v1/orders/{id}/pay"), json!({})).await?.ok()?;
        edge.wait_for_order(id, Duration::from_secs(20)).await?;
    }
    let wave = edge.post("/api/v1/waves", json!({})).await?.ok()?;
    let batches = wave["batches"].as_array().context("batches")?.clone();
    let id_of = |m: &str| batches.iter().find(|b| b["method"] == m).and_then(|b| b["id"].as_u64());
    let (cart, tote_batch) = (id_of("cluster").context("a cart")?, id_of("batch").context("a batch tote")?);
    edge.post(&format!("/api/v1/waves/{}/release", wave["id"]), json!({})).await?.ok()?;
    // The batch tote is picked by another picker (over the API).
    edge.post(&format!("/api/v1/pick-batches/{tote_batch}/start"), json!({"totes": ["TOTE-S1"]})).await?.ok()?;
    let mut floor = Floor::default();
    walk(&edge, tote_batch, &mut floor).await?;

    let gtin_of = |sku: &str| all.iter().find(|s| s.0 == sku).map(|s| s.1.to_owned());
    let b = Browser::start(std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots/handheld-cart")).await?;
    let outcome = async {
        b.goto(&edge.url("/")).await?;
        b.scan(crate::handheld::BADGE).await?;
        b.on_screen("menu").await?;
        b.click("#go-cart").await?;
        b.on_screen("cart").await?;
        b.click(&format!("#cart-{cart}")).await?;
        b.on_screen("cartRun").await?;
        b.expect_msg("slot 1 of 3", None).await?;
        for tote in ["TOTE-C1", "TOTE-C2", "TOTE-C3"] {
            b.scan(tote).await?;
        }
        b.expect_msg("Go to", Some("ok")).await?;
        b.screenshot("31-cart-started").await?;
        let mut wrong_tote_tried = false;
        for _ in 0..40 {
            let target = b.text("#cart-target").await?;
            if target.contains("Cart complete") {
                break;
            }
            let before = b.text("#cart-what").await?;
            if target.starts_with("TOTE-") && !wrong_tote_tried {
                let wrong = ["TOTE-C1", "TOTE-C2", "TOTE-C3"].into_iter().find(|t| *t != target).unwrap_or("TOTE-C1");
                b.scan(wrong).await?;
                b.expect_msg(&target, Some("err")).await?;
                b.screenshot("32-wrong-tote").await?;
                wrong_tote_tried = true;
            }
            let code = if target.starts_with("A-") || target.starts_with("TOTE-") { target.clone() } else { gtin_of(&target).context("an item the page names")? };
            b.scan(&code).await?;
            // Wait for the page to move on from this scan.
            eventually("the handheld to take the scan", Duration::from_secs(10), || async {
                Ok((b.text("#cart-target").await? != target || b.text("#cart-what").await? != before).then_some(()))
            })
            .await?;
        }
        b.expect_msg("Cart complete", Some("ok")).await?;
        b.screenshot("33-cart-done").await?;
        ensure!(wrong_tote_tried, "a wrong tote was tried");
        let view = edge.get(&format!("/api/v1/pick-batches/{cart}")).await?.ok()?;
        ensure!(view["batch"]["state"] == "done", "{view}");
        for tote in ["TOTE-C1", "TOTE-C2", "TOTE-C3"] {
            let held = edge.get(&format!("/api/v1/totes/{tote}")).await?.ok()?;
            ensure!(held["orders"].as_array().is_some_and(|o| o.len() == 1 && o[0]["state"] == "picked"), "one picked order per tote: {held}");
        }

        // Packing: the batch tote's two units sorted to their orders on the page.
        b.click("#back").await?;
        b.on_screen("menu").await?;
        b.click("#go-pack").await?;
        b.on_screen("pack").await?;
        b.scan("TOTE-S1").await?;
        b.on_screen("sortTote").await?;
        let units = floor.totes.remove("TOTE-S1").context("the batch tote")?;
        for (i, unit) in units.iter().enumerate() {
            b.scan(unit).await?;
            b.expect_msg(if i + 1 == units.len() { "is sorted" } else { "into its carton" }, Some("ok")).await?;
        }
        b.screenshot("34-tote-sorted").await?;
        let held = edge.get("/api/v1/totes/TOTE-S1").await?.ok()?;
        ensure!(held["orders"].as_array().is_some_and(|o| o.len() == 2 && o.iter().all(|o| o["unsorted"] == 0)), "{held}");
        Ok(())
    }
    .await;
    b.finish(outcome).await
}
