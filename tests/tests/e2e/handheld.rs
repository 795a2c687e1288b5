//! The handheld pages in a real browser (headless Chromium via chromedriver, at a handheld's
//! viewport): a receiver signs in with her badge and receives the running shoe of the spine
//! story from a GS1 code, puts it away, picks, packs and ships an order, counts a location
//! with a variance that a supervisor approves — with wrong scans along the way, a double tap
//! and a replayed request. Each step checks what the page shows and what the edge's data says.
//! The same flows run with central up and with central killed. Screenshots of every screen go
//! to `target/screenshots/handheld-*/`.

use tote_sim::browser::Browser;
use crate::helpers::*;
use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use std::time::Duration;

const OTHER_GTIN: &str = "1958661377391"; // the Pegasus in EU 43: in the catalog, not in the order
pub(crate) const BADGE: &str = "BADGE-LI-0001";

async fn qty_at(edge: &Edge, location: &str) -> Result<i64> {
    let stock = edge.get(&format!("/api/v1/stock?sku={PEGASUS}&location={location}")).await?.ok()?;
    Ok(stock.as_array().context("stock")?.iter().map(|s| s["qty"].as_i64().unwrap_or(0)).sum())
}

pub(crate) async fn workers(edge: &Edge) -> Result<()> {
    let li = json!({"id": "li", "name": "Li Wei", "pin": "1357", "badge": BADGE, "roles": ["receiver", "picker", "packer"]});
    edge.post("/api/v1/workers", li).await?.ok()?;
    edge.post("/api/v1/workers", json!({"id": "boss", "name": "Zhang Min", "pin": "2468", "roles": ["supervisor"]})).await?.ok()?;
    Ok(())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted.get(((sorted.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(f64::NAN)
}

async fn flows(central_down: bool) -> Result<()> {
    // The carriers' platforms fill the edge's SF waybill pool: the packer types no number.
    let (world, _carriers) = World::start_with_carriers(Backend::Sqlite, &[("SH-01", "Shanghai")], "").await?;
    let (central, edge) = (&world.central, world.edge("SH-01"));
    workers(edge).await?;
    edge.add_location("A-01-02").await?;
    // Stock for an order, known at central, and the order released to the edge.
    edge.receive("A-01-02", PEGASUS_GTIN, 5).await?;
    edge.wait_synced(Duration::from_secs(20)).await?;
    let created = central.create_order("handheld-1", &order_body(PEGASUS, 1, "Shanghai")).await?.ok()?;
    let order = created["id"].as_u64().context("order id")?;
    central.post(&format!("/api/v1/orders/{order}/pay"), json!({})).await?.ok()?;
    edge.wait_for_order(order, Duration::from_secs(20)).await?;
    // The supplier's advance shipping notice: 12 of the shoe are coming.
    let asn = json!({"id": "ASN-1001", "supplier": "Nike China", "lines": [{"sku": PEGASUS, "qty": 12}]});
    edge.post("/api/v1/deliveries", asn).await?.ok()?;
    if central_down {
        central.kill9();
    }
    let tag = if central_down { "handheld-central-down" } else { "handheld" };
    let b = Browser::start(std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots").join(tag)).await?;
    let outcome = run(&b, edge, order, central_down).await;
    b.finish(outcome).await?;
    if central_down {
        // HQ comes back and hears everything the floor did meanwhile, once.
        central.restart()?;
        edge.wait_synced(Duration::from_secs(30)).await?;
        let at_central = central.order(order).await?;
        ensure!(at_central["state"] == "shipped", "central after the outage: {at_central}");
        ensure!(central.level(PEGASUS, "SH-01").await?.0 == 5 + 12 + 1 - 1 - 1, "on hand at central: received 18, shipped 1, counted 1 short");
    }
    Ok(())
}

async fn run(b: &Browser, edge: &Edge, order: u64, central_down: bool) -> Result<()> {
    b.goto(&edge.url("/")).await?;
    b.on_screen("signin").await?;
    b.screenshot("01-signin").await?;
    // A wrong PIN is refused and says so.
    b.type_into("#worker", "li").await?;
    b.type_into("#pin", "9999").await?;
    b.click("#signin").await?;
    b.expect_msg("unknown worker or wrong PIN", Some("err")).await?;
    // The badge signs her in.
    b.scan(BADGE).await?;
    b.on_screen("menu").await?;
    b.expect_msg("Signed in: Li Wei", Some("ok")).await?;
    ensure!(b.exec("return !document.getElementById('go-approve')").await? == true, "a receiver sees no approvals");
    if central_down {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while !b.text("#sync").await.unwrap_or_default().contains("HQ offline") {
            ensure!(std::time::Instant::now() < deadline, "the sync indicator never showed HQ offline");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    b.screenshot("02-menu").await?;

    // Receive 12 from the supplier's GS1 label (batch and expiry), QC pass.
    b.click("#go-receive").await?;
    b.on_screen("receive").await?;
    b.scan("4006381333932").await?; // a bad check digit
    b.expect_msg("check digit", Some("err")).await?;
    b.scan("4006381333931").await?; // a valid EAN-13 that is not in the catalog
    b.expect_msg("not found", Some("err")).await?;
    ensure!(qty_at(edge, "RCV").await? == 0, "a refused scan received nothing");
    // Against the expected delivery: an item that is not on it is refused.
    b.scan("ASN-1001").await?;
    b.expect_msg("Receiving delivery ASN-1001", Some("ok")).await?;
    b.scan(OTHER_GTIN).await?;
    b.expect_msg("PEG39-M-WHT-43 is not on delivery ASN-1001", Some("err")).await?;
    b.scan("(01)01958661377384(10)LOT42(17)271231").await?;
    b.expect_msg(PEGASUS, Some("ok")).await?;
    b.clear("#qty").await?;
    b.type_into("#qty", "12").await?;
    b.screenshot("03-receive").await?;
    // A double tap: one receipt.
    b.exec("const q=document.getElementById('qc-pass'); q.click(); q.click(); return true").await?;
    b.expect_msg("Received 12 × PEG39-M-WHT-42 into RCV — Put away to A-01-02", Some("ok")).await?;
    ensure!(qty_at(edge, "RCV").await? == 12, "a double tap received twice");
    let delivery = edge.get("/api/v1/deliveries").await?.ok()?;
    ensure!(delivery[0]["state"] == "received" && delivery[0]["lines"][0]["received"] == 12, "the delivery is complete: {delivery}");
    ensure!(b.text("#delivery").await?.contains("12 / 12"), "the page shows the delivery complete");
    let lots = edge.get(&format!("/api/v1/stock?sku={PEGASUS}&location=RCV")).await?.ok()?;
    ensure!(lots[0]["lot"] == "LOT42", "the batch from the GS1 code is the lot: {lots}");
    b.screenshot("04-receive-label").await?;
    // A replayed request (the same Idempotency-Key): nothing more.
    let replay = "const r=()=>fetch('/api/v1/receipts',{method:'POST',headers:{'content-type':'application/json','idempotency-key':'replay-1'},body:JSON.stringify({location:'QC',gtin:'1958661377384',qty:1})}).then(x=>x.headers.get('idempotent-replayed'));\
                  return r().then(a=>r().then(b=>[a,b]))";
    let replayed = b.exec(replay).await?;
    ensure!(replayed == json!(["false", "true"]), "the second request is answered from the first: {replayed}");
    ensure!(qty_at(edge, "QC").await? == 1, "a replayed receipt applied twice");

    // Put away: the suggested bin (where this shoe already is), confirmed by scanning it; a
    // wrong bin is refused first.
    b.click("#back").await?;
    b.click("#go-putaway").await?;
    b.scan(PEGASUS_GTIN).await?;
    b.expect_msg("Scan location A-01-02", Some("ok")).await?;
    b.clear("#qty").await?;
    b.type_into("#qty", "12").await?;
    b.scan("A-01-01").await?;
    b.expect_msg("Scan location A-01-02, you scanned A-01-01", Some("err")).await?;
    ensure!(qty_at(edge, "RCV").await? == 12, "a wrong bin moved stock");
    b.screenshot("05-putaway-wrong-bin").await?;
    b.scan("A-01-02").await?;
    b.expect_msg("Moved 12 × PEG39-M-WHT-42 to A-01-02", Some("ok")).await?;
    ensure!((qty_at(edge, "RCV").await?, qty_at(edge, "A-01-02").await?) == (0, 17), "put-away moved the stock");

    // Pick the order: location first, then the item; wrong ones are refused and say what to scan.
    b.click("#back").await?;
    b.click("#go-pick").await?;
    b.on_screen("pick").await?;
    ensure!(b.text("#task-location").await? == "A-01-02", "the task is where the order's stock was allocated");
    b.screenshot("06-pick").await?;
    b.scan("A-01-01").await?;
    b.expect_msg("Scan location A-01-02, you scanned A-01-01", Some("err")).await?;
    b.scan("A-01-02").await?;
    b.expect_msg("scan 1 ×", Some("ok")).await?;
    b.scan(OTHER_GTIN).await?;
    b.expect_msg(&format!("Scan item {PEGASUS_GTIN}"), Some("err")).await?;
    ensure!(qty_at(edge, "A-01-02").await? == 17, "a wrong item picked nothing");
    b.scan(PEGASUS_GTIN).await?;
    b.expect_msg(&format!("Order {order} picked"), Some("ok")).await?;
    ensure!(qty_at(edge, "A-01-02").await? == 16 && qty_at(edge, "OUT").await? == 1, "one unit went to outbound");

    // Pack: scan the item into the carton (a wrong one is refused), pack, ship.
    b.click("#back").await?;
    b.click("#go-pack").await?;
    b.click(&format!("#order-{order}")).await?;
    b.on_screen("packOrder").await?;
    b.scan(OTHER_GTIN).await?;
    b.expect_msg("Not in this order", Some("err")).await?;
    b.scan(PEGASUS_GTIN).await?;
    b.expect_msg("✓", Some("ok")).await?;
    b.screenshot("07-pack").await?;
    b.click("#pack-go").await?;
    b.expect_msg("Packed into carton M", Some("ok")).await?;
    let pool = edge.pool_free("SF").await?;
    b.click("#ship-go").await?;
    b.expect_msg(&format!("Shipped {order} with SF SF"), Some("ok")).await?;
    let shipped = edge.get(&format!("/api/v1/orders/{order}")).await?.ok()?;
    let waybill = shipped["tracking_number"].as_str().unwrap_or("");
    ensure!(shipped["state"] == "shipped" && waybill.starts_with("SF") && waybill.len() == 14, "a waybill from HQ's SF pool: {shipped}");
    ensure!(edge.pool_free("SF").await? == pool - 1, "one number taken from the pool");
    let labels = edge.get("/api/v1/print-jobs").await?.ok()?;
    ensure!(labels.as_array().is_some_and(|l| l.iter().any(|j| j["order_id"] == order)), "a label was queued: {labels}");

    // Cycle count of A-01-02: 15 found where the books say 16 → recount → supervisor.
    b.click("#back").await?;
    b.click("#go-count").await?;
    b.scan("A-01-02").await?;
    b.expect_msg("Counting A-01-02", Some("ok")).await?;
    for round in 0..2 {
        for _ in 0..15 {
            b.scan(PEGASUS_GTIN).await?;
        }
        b.expect_msg("+1", Some("ok")).await?;
        ensure!(b.text("#counted").await?.contains("15"), "counted 15 (round {round})");
        b.click("#count-submit").await?;
        let expected = if round == 0 { "count it again" } else { "a supervisor must approve" };
        b.expect_msg(expected, Some("err")).await?;
    }
    b.screenshot("08-count-pending").await?;
    ensure!(qty_at(edge, "A-01-02").await? == 16, "no stock change before approval");
    let pending = edge.get("/api/v1/counts?state=pending_approval").await?.ok()?;
    let count_id = pending[0]["id"].as_u64().context("pending count")?;
    // A receiver may not approve, even by calling the API directly.
    let status = b.exec(&format!("return fetch('/api/v1/counts/{count_id}/decide',{{method:'POST',headers:{{'content-type':'application/json'}},body:'{{\"approve\":true}}'}}).then(r=>r.status)")).await?;
    ensure!(status == 403, "a receiver approving got {status}");

    // The supervisor signs in with user + PIN and approves: stock becomes 15.
    b.click("#out").await?;
    b.on_screen("signin").await?;
    b.type_into("#worker", "boss").await?;
    b.type_into("#pin", "2468").await?;
    b.click("#signin").await?;
    b.on_screen("menu").await?;
    b.click("#go-approve").await?;
    b.find(&format!("#approve-{count_id}")).await?;
    b.screenshot("09-approve").await?;
    b.click(&format!("#approve-{count_id}")).await?;
    b.expect_msg("Approved", Some("ok")).await?;
    ensure!(qty_at(edge, "A-01-02").await? == 15, "approved count corrected the stock");

    // Chinese.
    b.click("#back").await?;
    b.click("#lang").await?;
    b.expect_msg("", None).await?;
    ensure!(b.text("#go-count").await? == "盘点", "the menu in Chinese");
    b.screenshot("10-menu-zh").await?;
    b.click("#lang").await?;

    let scans: Vec<f64> = serde_json::from_value::<Vec<f64>>(b.exec("return window.__tote.scans").await?).unwrap_or_default();
    let mut sorted = scans.clone();
    sorted.sort_by(|a, c| a.total_cmp(c));
    let weight = reqwest::get(edge.url("/")).await?.bytes().await?.len();
    println!(
        "{}: {} scans, scan-to-feedback p50 {:.1} ms p99 {:.1} ms (debug edge); page {} KB; screenshots in {}",
        if central_down { "central down" } else { "central up" },
        scans.len(),
        percentile(&sorted, 0.5),
        percentile(&sorted, 0.99),
        weight / 1024,
        b.shots.display()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_receives_puts_away_picks_packs_ships_and_counts_in_a_real_browser() -> Result<()> {
    flows(false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_handheld_flows_work_while_central_is_down() -> Result<()> {
    flows(true).await
}

/// Nothing changes without a session; a locked-out worker stays out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_pins_and_roles_guard_the_edge_api() -> Result<()> {
    let world = World::start(&[("SH-01", "Shanghai")]).await?;
    let edge = world.edge("SH-01");
    workers(edge).await?;
    let plain = client();
    let sign_in = |body: Value| plain.post(edge.url("/api/v1/session")).json(&body).send();
    let r = plain.post(edge.url("/api/v1/receipts")).json(&json!({"location": "A-01-01", "gtin": PEGASUS_GTIN, "qty": 1})).send().await?;
    ensure!(r.status() == 401, "no session: {}", r.status());
    for _ in 0..5 {
        ensure!(sign_in(json!({"worker": "li", "pin": "0000"})).await?.status() == 401);
    }
    let locked = sign_in(json!({"worker": "li", "pin": "1357"})).await?;
    // Locked answers like a wrong PIN (issue 11: a 429 told an attacker which workers exist).
    ensure!(locked.status() == 401, "five wrong PINs lock the worker out, even with the right one: {}", locked.status());
    let boss: Value = sign_in(json!({"worker": "boss", "pin": "2468"})).await?.json().await?;
    let token = boss["token"].as_str().context("token")?.to_owned();
    let me: Value = plain.get(edge.url("/api/v1/session")).bearer_auth(&token).send().await?.json().await?;
    ensure!(me["roles"] == json!(["supervisor"]) && me["warehouse"] == "SH-01", "{me}");
    // The badge signs in; its worker may receive but not adjust stock directly.
    let li: Value = sign_in(json!({"badge": BADGE})).await?.json().await?;
    let li_token = li["token"].as_str().context("token")?;
    let receive = plain.post(edge.url("/api/v1/receipts")).bearer_auth(li_token).json(&json!({"location": "A-01-01", "gtin": PEGASUS_GTIN, "qty": 1})).send().await?;
    ensure!(receive.status() == 201, "receiver receives: {}", receive.status());
    let adjust = plain.post(edge.url("/api/v1/adjustments")).bearer_auth(li_token).json(&json!({"location": "A-01-01", "sku": PEGASUS, "reason": "found", "delta": 5})).send().await?;
    ensure!(adjust.status() == 403, "receiver adjusting: {}", adjust.status());
    // A supervisor takes a worker off: her sessions end at once and she cannot sign in.
    let off = plain.post(edge.url("/api/v1/workers/li/active")).bearer_auth(li_token).json(&json!({"active": false})).send().await?;
    ensure!(off.status() == 403, "a receiver cannot take workers off: {}", off.status());
    let off = plain.post(edge.url("/api/v1/workers/li/active")).bearer_auth(&token).json(&json!({"active": false})).send().await?;
    ensure!(off.status() == 200, "{}", off.status());
    ensure!(plain.get(edge.url("/api/v1/stock")).bearer_auth(li_token).send().await?.status() == 401, "her session ended");
    ensure!(sign_in(json!({"badge": BADGE})).await?.status() == 401, "her badge no longer signs in");
    // Signed out: the token is dead.
    plain.delete(edge.url("/api/v1/session")).bearer_auth(&token).send().await?;
    ensure!(plain.get(edge.url("/api/v1/stock")).bearer_auth(&token).send().await?.status() == 401);
    // PINs are stored as Argon2id hashes, sessions as SHA-256 of the token.
    let db = rusqlite::Connection::open_with_flags(world.dir.path().join("edge-SH-01.sqlite"), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let hash: String = db.query_row("SELECT pin_hash FROM worker WHERE id = 'boss'", [], |r| r.get(0))?;
    ensure!(hash.starts_with("$argon2id$") && !hash.contains("2468"), "{hash}");
    let stored: i64 = db.query_row("SELECT COUNT(*) FROM session WHERE token_sha256 = ?1", [li_token], |r| r.get(0))?;
    ensure!(stored == 0, "raw session tokens are never stored");
    Ok(())
}

/// Receiving against an expected delivery: only its items, never more than announced, and the
/// delivery closes when every line is in. Refusals change nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expected_deliveries_refuse_other_items_and_over_receipt() -> Result<()> {
    let world = World::start(&[("SH-01", "Shanghai")]).await?;
    let edge = world.edge("SH-01");
    let asn = json!({"id": "ASN-7", "supplier": "Nike China", "lines": [{"sku": PEGASUS, "qty": 3}]});
    edge.post("/api/v1/deliveries", asn.clone()).await?.ok()?;
    ensure!(edge.post("/api/v1/deliveries", asn).await?.status == 409, "an ASN id is used once");
    let receive = |gtin: &str, qty: i64| edge.post("/api/v1/receipts", json!({"location": "RCV", "gtin": gtin, "qty": qty, "delivery": "ASN-7"}));
    let other = receive(OTHER_GTIN, 1).await?;
    ensure!(other.status == 422 && other.body["type"].as_str().is_some_and(|t| t.ends_with("wrong-scan")), "{other:?}");
    ensure!(receive(PEGASUS_GTIN, 2).await?.status == 201);
    let over = receive(PEGASUS_GTIN, 2).await?;
    ensure!(over.status == 409 && over.body["detail"].as_str().is_some_and(|d| d.contains("expects 3")), "{over:?}");
    ensure!(qty_at(edge, "RCV").await? == 2, "refused receipts changed nothing");
    ensure!(receive(PEGASUS_GTIN, 1).await?.status == 201);
    let delivery = edge.get("/api/v1/deliveries?state=received").await?.ok()?;
    ensure!(delivery[0]["id"] == "ASN-7" && delivery[0]["lines"][0]["received"] == 3, "{delivery}");
    let late = receive(PEGASUS_GTIN, 1).await?;
    ensure!(late.status == 409, "a received delivery takes nothing more: {late:?}");
    Ok(())
}

/// The goods-to-person station screen: a robot brings a pod, the page shows which bin and how
/// many; the picker scans the bin, then the item, and the task is done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_picker_confirms_a_goods_to_person_pick_on_the_station_screen() -> Result<()> {
    let site = crate::stations::site(&[], 6, 0).await?;
    let edge = &site.edge;
    crate::stations::seed(&site.central, edge, 3).await?;
    edge.post("/api/v1/workers", json!({"id": "wu", "name": "Wu Fang", "pin": "8642", "roles": ["picker"]})).await?.ok()?;
    let b = Browser::start(std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots/handheld-station")).await?;
    let outcome = async {
        b.goto(&edge.url("/")).await?;
        b.type_into("#worker", "wu").await?;
        b.type_into("#pin", "8642").await?;
        b.click("#signin").await?;
        b.click("#go-station").await?;
        b.click("#st-ST-1").await?;
        // Wait for a pod at ST-1 with work on it, as the edge sees it.
        let task = eventually("a pod with work at ST-1", Duration::from_secs(60), || async {
            let s = edge.get("/api/v1/stations/ST-1").await?.ok()?;
            Ok(s["tasks"].as_array().and_then(|t| t.first()).cloned())
        })
        .await?;
        let (bin, gtin) = (task["location"].as_str().context("bin")?.to_owned(), task["gtin"].as_str().context("gtin")?.to_owned());
        b.expect_msg(&format!("Scan bin {bin}"), None).await?;
        ensure!(b.text("#task-what").await?.contains(task["sku"].as_str().unwrap_or("?")), "the page shows what to pick");
        b.screenshot("11-station").await?;
        b.scan(&gtin).await?; // the item before the bin
        b.expect_msg(&format!("Scan location {bin}"), Some("err")).await?;
        b.scan(&bin).await?;
        b.expect_msg("scan", Some("ok")).await?;
        b.scan(&gtin).await?;
        let id = task["id"].as_u64().context("task id")?;
        eventually("the task done", Duration::from_secs(10), || async {
            let tasks = edge.get("/api/v1/pick-tasks?state=done&limit=1000").await?.ok()?;
            Ok(tasks.as_array().is_some_and(|t| t.iter().any(|x| x["id"] == id)).then_some(()))
        })
        .await
    }
    .await;
    b.finish(outcome).await
}

/// Goods held by QC are never picked; goods still on the receiving dock only when no bin has
/// them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn picking_prefers_bins_to_the_dock_and_never_takes_qc_held_goods() -> Result<()> {
    let world = World::start(&[("SH-01", "Shanghai")]).await?;
    let (central, edge) = (&world.central, world.edge("SH-01"));
    edge.receive("QC", PEGASUS_GTIN, 5).await?;
    edge.receive("RCV", PEGASUS_GTIN, 2).await?;
    edge.receive("A-01-01", PEGASUS_GTIN, 1).await?;
    edge.wait_synced(Duration::from_secs(20)).await?;
    let mut locations = Vec::new();
    for (n, qty) in [(1, 1), (2, 2)] {
        let created = central.create_order(&format!("dock-{n}"), &order_body(PEGASUS, qty, "Shanghai")).await?.ok()?;
        let id = created["id"].as_u64().context("order id")?;
        central.post(&format!("/api/v1/orders/{id}/pay"), json!({})).await?.ok()?;
        let order = edge.wait_for_order(id, Duration::from_secs(20)).await?;
        locations.extend(order["tasks"].as_array().context("tasks")?.iter().map(|t| t["location"].as_str().unwrap_or("").to_owned()));
    }
    ensure!(locations == ["A-01-01", "RCV"], "the bin first, then the dock, never QC: {locations:?}");
    Ok(())
}

/// The refill screen: a face below min gets a refill; the worker scans the reserve bin, the
/// item and the face on the page (a wrong scan first), and the picker's waiting task can go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_refills_a_pick_face_on_the_handheld() -> Result<()> {
    let world = World::start(&[("SH-01", "Shanghai")]).await?;
    let (central, edge) = (&world.central, world.edge("SH-01"));
    workers(edge).await?;
    edge.add_location("R-01-01").await?;
    edge.receive("A-01-01", PEGASUS_GTIN, 1).await?;
    edge.receive("R-01-01", PEGASUS_GTIN, 10).await?;
    edge.put("/api/v1/pick-faces/A-01-01", json!({"sku": PEGASUS, "min": 1, "max": 4})).await?.ok()?;
    edge.wait_synced(Duration::from_secs(20)).await?;
    let created = central.create_order("refill-1", &order_body(PEGASUS, 2, "Shanghai")).await?.ok()?;
    let order = created["id"].as_u64().context("order id")?;
    central.post(&format!("/api/v1/orders/{order}/pay"), json!({})).await?.ok()?;
    let at_edge = edge.wait_for_order(order, Duration::from_secs(20)).await?;
    ensure!(at_edge["tasks"].as_array().is_some_and(|t| t.iter().any(|t| t["waiting"] == true)), "one unit waits for the face: {at_edge}");
    let b = Browser::start(std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots/handheld-refill")).await?;
    let outcome = async {
        b.goto(&edge.url("/")).await?;
        b.scan(BADGE).await?;
        b.on_screen("menu").await?;
        b.click("#go-refill").await?;
        b.on_screen("refill").await?;
        b.expect_msg("Scan location R-01-01", None).await?;
        ensure!(b.text("#view").await?.contains("picks wait for it"), "a shortfall refill says picks wait for it");
        b.screenshot("21-refill").await?;
        b.scan("A-01-01").await?; // the face before the reserve bin
        b.expect_msg("R-01-01", Some("err")).await?;
        b.scan("R-01-01").await?;
        b.expect_msg("At R-01-01", Some("ok")).await?;
        b.scan(PEGASUS_GTIN).await?;
        b.expect_msg("to A-01-01", Some("ok")).await?;
        b.scan("A-01-01").await?;
        b.expect_msg("A-01-01 refilled", Some("ok")).await?;
        b.screenshot("22-refilled").await?;
        // One trip: the unit the order lacks and four more to bring the face to max.
        ensure!(qty_at(edge, "A-01-01").await? == 6 && qty_at(edge, "R-01-01").await? == 5, "five units moved from reserve to the face");
        let now = edge.get(&format!("/api/v1/orders/{order}")).await?.ok()?;
        ensure!(now["tasks"].as_array().is_some_and(|t| t.iter().all(|t| t["waiting"] == false)), "the pick can go: {now}");
        Ok(())
    }
    .await;
    b.finish(outcome).await
}
