//! Logistics across real daemons: carriers and a rate card loaded through the API (a CSV with
//! bad rows named and skipped), quotes computed to the fen, and the carrier chosen when an
//! order is released — by its channel's promise, its insurance and a suspension — reaching the
//! edge, which ships with it when the packer names no carrier; then the parcel tracked to the
//! door by signed aggregator pushes.

use crate::helpers::*;
use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use std::time::Duration;

/// SF insures (0.5 %, min ¥1) and signs; ZTO neither; JD insures (0.3 %, min ¥2) and signs.
async fn load_carriers(central: &Central) -> Result<()> {
    let terms = |name: &str, divisor: u32, insurance: Value, signature: bool| {
        json!({"name": name, "volumetric_divisor": divisor, "insurance": insurance, "signature": signature, "fragile": true,
               "max_weight_g": 30000, "max_side_mm": 1500})
    };
    let carriers = [
        ("SF", terms("SF Express", 6000, json!({"rate_bp": 50, "min_fee": 100, "max_declared": 5000000}), true)),
        ("ZTO", terms("ZTO Express", 8000, Value::Null, false)),
        ("JD", terms("JD Logistics", 8000, json!({"rate_bp": 30, "min_fee": 200, "max_declared": 2000000}), true)),
    ];
    for (code, body) in carriers {
        put(central, &format!("/api/v1/logistics/carriers/{code}"), body).await?.ok()?;
    }
    let bad = put(central, "/api/v1/logistics/carriers/sf", terms("lower case", 6000, Value::Null, false)).await?;
    ensure!(bad.status.as_u16() == 422, "a lower-case code: {} {}", bad.status, bad.body);
    let bad = put(central, "/api/v1/logistics/carriers/YTO", terms("YTO", 10, Value::Null, false)).await?;
    ensure!(bad.status.as_u16() == 422, "a divisor of 10: {} {}", bad.status, bad.body);
    Ok(())
}

async fn put(central: &Central, path: &str, body: Value) -> Result<Reply> {
    Reply::from(central.http.put(central.url(path)).bearer_auth(ADMIN).json(&body).send().await?).await
}

pub(crate) async fn post_csv(central: &Central, path: &str, csv: &str) -> Result<Reply> {
    let request = central.http.post(central.url(path)).bearer_auth(ADMIN).header("content-type", "text/csv").body(csv.to_owned());
    Reply::from(request.send().await?).await
}

const RATES: &str = "carrier,service,origin,province,first_weight_g,first_price,step_g,step_price,transit_days,valid_from,valid_to
SF,standard,SH-01,zhejiang,1000,12.00,1000,2.00,2,2026-01-01,
SF,next_day,SH-01,zhejiang,1000,22,500,5,1,2026-01-01,
ZTO,standard,SH-01,浙江,1000,8,1000,1.5,3,2026-01-01,
JD,express,SH-01,zhejiang,1000,15,500,2,1,2026-01-01,
JD,express,SH-01,zhejiang,1000,15,500,2,1,2026-01-01,
UPS,standard,SH-01,zhejiang,1000,15,500,2,1,2026-01-01,
SF,standard,XX-99,zhejiang,1000,15,500,2,1,2026-01-01,
SF,standard,SH-01,xizang,1000,25,1000,12,5,2026-01-01,
";

/// The order's carrier at the edge, once it arrives there.
async fn ship_via(edge: &Edge, order_id: u64) -> Result<Value> {
    Ok(edge.wait_for_order(order_id, Duration::from_secs(20)).await?["ship_via"].clone())
}

async fn paid_order(central: &Central, key: &str, channel: &str) -> Result<u64> {
    let mut body = order_body(PEGASUS, 1, "hangzhou");
    body["channel"] = json!(channel);
    let id = central.create_order(key, &body).await?.ok()?["id"].as_u64().context("order id")?;
    central.post(&format!("/api/v1/orders/{id}/pay"), json!({})).await?.ok()?;
    Ok(id)
}

/// The salt central gave the tracking aggregator.
const SALT: &str = "kuaidi100-salt-for-tests";

/// Kuaidi100's `sign`, computed by coreutils' md5sum (not our MD5): MD5(param + salt), upper case.
pub(crate) fn kuaidi100_sign(param: &str) -> Result<String> {
    use std::io::Write;
    let mut md5sum = std::process::Command::new("md5sum").stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).spawn().context("md5sum (coreutils)")?;
    md5sum.stdin.take().context("stdin")?.write_all(format!("{param}{SALT}").as_bytes())?;
    let out = md5sum.wait_with_output()?;
    Ok(String::from_utf8(out.stdout)?.split_whitespace().next().context("a digest")?.to_uppercase())
}

/// `YYYY-MM-DD HH:MM:SS` in China Standard Time, `hours` from now: carriers' clocks.
pub(crate) fn cst_in(hours: i64) -> String {
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    tote_shared::calendar::local_time(now_ms + hours * 3_600_000, 8 * 3_600_000)
}

/// The current month in China Standard Time, `YYYY-MM`.
pub(crate) fn cst_month() -> String {
    cst_in(0)[..7].to_owned()
}

/// A push as the aggregator sends it: the whole history so far, newest first.
pub(crate) fn kuaidi100_param(waybill: &str, state: &str, events: &[(&String, &str, &str)]) -> String {
    let data: Vec<Value> = events.iter().map(|(time, status, context)| json!({"context": context, "time": time, "ftime": time, "status": status, "areaName": "浙江省杭州市"})).collect();
    json!({"status": "polling", "billstatus": "got", "message": "", "lastResult": {"message": "ok", "state": state, "status": "200", "condition": "F00",
           "ischeck": if state == "3" { "1" } else { "0" }, "com": "shunfeng", "nu": waybill, "data": data}})
    .to_string()
}

pub(crate) async fn push(central: &Central, param: &str, sign: &str) -> Result<Reply> {
    let form = [("param", param), ("sign", sign)];
    Reply::from(central.http.post(central.url("/api/v1/logistics/tracking/kuaidi100")).form(&form).send().await?).await
}

/// (state, number of events) of the order's only parcel.
async fn tracked(central: &Central, order_id: u64) -> Result<(String, usize)> {
    let parcels = central.get(&format!("/api/v1/orders/{order_id}/tracking")).await?.ok()?;
    let parcel = &parcels[0];
    Ok((parcel["state"].as_str().unwrap_or("").to_owned(), parcel["events"].as_array().map_or(0, Vec::len)))
}

async fn parcel_tracked_events(central: &Central) -> Result<Vec<String>> {
    // On PostgreSQL the sequencer numbers events after their commit: wait until it has them all.
    wait_journal_settled(central).await?;
    let page = central.get("/api/v1/events?limit=1000").await?.ok()?;
    Ok(page["events"].as_array().into_iter().flatten().filter(|e| e["event"]["type"] == "parcel_tracked").map(|e| e["event"]["state"].as_str().unwrap_or("").to_owned()).collect())
}

/// Pushes signed by the aggregator move the parcel to delivered; a forged signature, a
/// duplicate, an older history and an unknown waybill change nothing.
async fn track(central: &Central, order_id: u64, waybill: &str) -> Result<()> {
    let times = [cst_in(1), cst_in(5), cst_in(20), cst_in(26)];
    let picked = (&times[0], "揽收", "顺丰速运 已收取快件");
    let transit = (&times[1], "在途", "快件到达 【杭州转运中心】");
    let out = (&times[2], "派件", "快件交给王师傅，正在派送途中");
    let signed = (&times[3], "签收", "已签收，签收人：本人");
    ensure!(tracked(central, order_id).await? == ("info_received".into(), 0), "a shipped parcel starts at info_received");
    let first = kuaidi100_param(waybill, "1", &[picked]);
    let answer = push(central, &first, &kuaidi100_sign(&first)?).await?;
    ensure!(answer.status.as_u16() == 200 && answer.body["result"] == true, "{} {}", answer.status, answer.body);
    ensure!(tracked(central, order_id).await? == ("picked_up".into(), 1));
    let whole = kuaidi100_param(waybill, "3", &[signed, out, transit, picked]);
    let forged = push(central, &whole, &kuaidi100_sign(&first)?).await?;
    ensure!(forged.status.as_u16() == 400 && forged.body["result"] == false, "a signature over another param: {} {}", forged.status, forged.body);
    ensure!(tracked(central, order_id).await? == ("picked_up".into(), 1), "a forged push changes nothing");
    push(central, &whole, &kuaidi100_sign(&whole)?).await?.ok()?;
    ensure!(tracked(central, order_id).await? == ("delivered".into(), 4));
    push(central, &whole, &kuaidi100_sign(&whole)?).await?.ok()?;
    let older = kuaidi100_param(waybill, "0", &[transit, picked]);
    push(central, &older, &kuaidi100_sign(&older)?).await?.ok()?;
    ensure!(tracked(central, order_id).await? == ("delivered".into(), 4), "a duplicate and an older history change nothing");
    ensure!(parcel_tracked_events(central).await? == vec!["picked_up", "delivered"], "one journal event per forward move");
    let stranger = kuaidi100_param("SF9999999999", "0", &[picked]);
    let unknown = push(central, &stranger, &kuaidi100_sign(&stranger)?).await?;
    ensure!(unknown.status.as_u16() == 409 && unknown.body["result"] == false, "an unknown waybill is pushed again later: {}", unknown.body);
    Ok(())
}

async fn carriers_rate_cards_and_the_choice_at_release(backend: Backend) -> Result<()> {
    let world = World::start_with(backend, &[("SH-01", "shanghai")], 600_000, &format!("[logistics]\ntracking_salt = \"{SALT}\"")).await?;
    let (central, sh) = (&world.central, world.edge("SH-01"));
    load_carriers(central).await?;
    // Unmeasured SKUs weigh 1 kg in a 10 cm cube; next-day orders are promised in one day.
    let policy = json!({"insure_from": 50000, "high_value_from": 200000, "promise_days": 3, "channel_promise_days": {"next-day": 1},
                        "default_weight_g": 1000, "default_side_mm": 100});
    put(central, "/api/v1/logistics/policy", policy.clone()).await?.ok()?;
    ensure!(central.get("/api/v1/logistics/policy").await?.ok()? == policy, "the policy reads back as written");
    let mut upside_down = policy.clone();
    upside_down["high_value_from"] = json!(100);
    let refused = put(central, "/api/v1/logistics/policy", upside_down).await?;
    ensure!(refused.status.as_u16() == 422, "a high-value threshold below the insurance one: {} {}", refused.status, refused.body);

    let report = post_csv(central, "/api/v1/logistics/rates", RATES).await?.ok()?;
    let named: Vec<(u64, &str)> = report["errors"].as_array().context("errors")?.iter().map(|e| (e["line"].as_u64().unwrap_or(0), e["field"].as_str().unwrap_or(""))).collect();
    ensure!(report["imported"] == 5 && report["refused"] == 3, "{report}");
    ensure!(named == vec![(6, "valid_from"), (7, "carrier"), (8, "origin")], "bad rows by line and field: {named:?}");
    let bad = post_csv(central, "/api/v1/logistics/rates", "carrier,price\nSF,12\n").await?;
    ensure!(bad.status.as_u16() == 422, "a foreign header imports nothing: {} {}", bad.status, bad.body);
    post_csv(central, "/api/v1/logistics/remote-areas", "carrier,province,city,surcharge\nSF,xizang,lhasa,20\n").await?.ok()?;

    // A quote to the fen: 1.2 kg in 40 × 30 × 20 cm is 4 kg at SF's ÷6000 (12.00 + 3 × 2.00)
    // and 3 kg at ZTO's ÷8000 (8.00 + 2 × 1.50); to Lhasa SF adds its 20.00 surcharge.
    let quote = central.post("/api/v1/logistics/quotes", json!({"origin": "SH-01", "city": "hangzhou", "weight_g": 1200, "length_mm": 400, "width_mm": 300, "height_mm": 200})).await?.ok()?;
    ensure!(quote["chosen"]["carrier"] == "ZTO" && quote["chosen"]["price"]["total"] == 1100, "{quote}");
    let sf = quote["considered"].as_array().context("considered")?.iter().find(|q| q["carrier"] == "SF" && q["service"] == "standard").context("SF quoted")?;
    ensure!(sf["price"]["total"] == 1800 && sf["price"]["chargeable_g"] == 4000, "{sf}");
    let lhasa = central.post("/api/v1/logistics/quotes", json!({"origin": "SH-01", "city": "拉萨", "weight_g": 1500, "length_mm": 100, "width_mm": 100, "height_mm": 100, "promise_days": 7})).await?.ok()?;
    ensure!(lhasa["chosen"]["price"]["total"] == 2500 + 1200 + 2000, "{lhasa}");
    let nowhere = central.post("/api/v1/logistics/quotes", json!({"origin": "SH-01", "city": "Atlantis", "weight_g": 1, "length_mm": 1, "width_mm": 1, "height_mm": 1})).await?;
    ensure!(nowhere.status.as_u16() == 422 && nowhere.body.to_string().contains("unknown-region"), "{}", nowhere.body);

    sh.receive("A-01-01", PEGASUS_GTIN, 5).await?;
    sh.wait_synced(Duration::from_secs(20)).await?;
    // ¥899 is insured: ZTO is out. SF 12.00 + 4.50 (0.5 %) beats JD 15.00 + 2.70 (0.3 %).
    let app = paid_order(central, "lg-app", "app").await?;
    ensure!(ship_via(sh, app).await? == json!({"carrier": "SF", "service": "standard"}), "an app order ships SF standard");
    let choices = central.get(&format!("/api/v1/orders/{app}/shipping")).await?.ok()?;
    let choice = &choices[0];
    ensure!(choice["warehouse"] == "SH-01" && choice["promise_days"] == 3 && choice["chosen"]["price"]["total"] == 1650, "{choice}");
    let zto = choice["considered"].as_array().context("considered")?.iter().find(|q| q["carrier"] == "ZTO").context("ZTO considered")?;
    ensure!(zto["unfit"]["reason"] == "no_insurance", "{zto}");
    // Promised next day: JD express (17.70) beats SF next-day (22.00 + 4.50).
    let next_day = paid_order(central, "lg-next-day", "next-day").await?;
    ensure!(ship_via(sh, next_day).await? == json!({"carrier": "JD", "service": "express"}), "a next-day order ships JD express");
    // Suspended, JD is never chosen; the suspension is audited and shown with the choice.
    central.post("/api/v1/logistics/carriers/JD/suspend", json!({"reason": "on-time rate 71 % in November"})).await?.ok()?;
    let after = paid_order(central, "lg-suspended", "next-day").await?;
    ensure!(ship_via(sh, after).await? == json!({"carrier": "SF", "service": "next_day"}), "with JD suspended, SF next-day");
    let audit = central.get("/api/v1/audit").await?.ok()?;
    ensure!(audit.to_string().contains("carrier_suspended"), "{audit}");
    let missing = central.post("/api/v1/logistics/carriers/DHL/suspend", json!({"reason": "x"})).await?;
    ensure!(missing.status.as_u16() == 404, "{}", missing.body);

    // The packer names no carrier: the parcel leaves with the one HQ chose.
    sh.fulfil_with(app, json!({"tracking_number": "SF0000000001"})).await?;
    eventually("the shipment at central", Duration::from_secs(20), || async {
        let order = central.order(app).await?;
        Ok((order["state"] == "shipped").then_some(order))
    })
    .await
    .and_then(|order| {
        ensure!(order["carrier"] == "SF" && order["tracking_number"] == "SF0000000001", "{order}");
        Ok(())
    })?;
    track(central, app, "SF0000000001").await?;

    // The JD parcel leaves as chosen; the last one leaves with SF as chosen and is never billed.
    sh.fulfil_with(next_day, json!({"tracking_number": "JD0000000002"})).await?;
    sh.fulfil_with(after, json!({"tracking_number": "SF0000000003"})).await?;
    sh.wait_synced(Duration::from_secs(20)).await?;
    statement_and_kpis(central).await
}

/// SF's statement for the month with planted differences: the app parcel billed at 1.2 kg and
/// ¥17.00 (quoted 1 kg, ¥16.50) and billed twice, a parcel that is not ours, a row that does not
/// read, and the SF next-day parcel not billed at all. The run finds exactly those.
async fn statement_and_kpis(central: &Central) -> Result<()> {
    let month = cst_month();
    let day = format!("{month}-01");
    let csv = format!(
        "waybill,ship_date,weight_g,freight,total\nSF0000000001,{day},1200,12.50,17.00\nSF0000000099,{day},500,8,8\nSF0000000001,{day},1200,12.50,17.00\nSF0000000042,{day},500,8,abc\n"
    );
    let path = format!("/api/v1/logistics/carriers/SF/statements/{month}");
    let run = post_csv(central, &path, &csv).await?.ok()?;
    let found: Vec<(String, String, Option<u64>)> = run["differences"]
        .as_array()
        .context("differences")?
        .iter()
        .map(|d| (d["waybill"].as_str().unwrap_or("").to_owned(), d["kind"].as_str().unwrap_or("").to_owned(), d["line"].as_u64()))
        .collect();
    let planted: Vec<(String, String, Option<u64>)> = vec![
        ("SF0000000001".into(), "duplicate".into(), Some(4)),
        ("SF0000000001".into(), "weight".into(), Some(2)),
        ("SF0000000001".into(), "amount".into(), Some(2)),
        ("SF0000000003".into(), "not_billed".into(), None),
        ("SF0000000099".into(), "not_ours".into(), Some(3)),
    ];
    let mut sorted = found.clone();
    sorted.sort();
    let mut expected = planted.clone();
    expected.sort();
    ensure!(sorted == expected, "the planted differences and nothing else: {found:?}");
    ensure!(run["lines"] == 3 && run["refused_rows"] == 1 && run["row_errors"][0]["line"] == 5, "{run}");
    ensure!(run["billed_total"] == 1700 + 800 + 1700 && run["expected_total"] == 1650 + 2650, "{run}");
    let again = central.get(&format!("/api/v1/logistics/statements/{}", run["id"])).await?.ok()?;
    ensure!(again["differences"] == run["differences"], "the run is kept: {again}");
    let bad = post_csv(central, "/api/v1/logistics/carriers/SF/statements/2026-13", &csv).await?;
    ensure!(bad.status.as_u16() == 422, "month 13: {} {}", bad.status, bad.body);

    // KPIs: SF to Zhejiang shipped 2, delivered 1 (26 h, within the 3-day promise), no exception.
    let kpis = central.get(&format!("/api/v1/logistics/kpis?from={day}")).await?.ok()?;
    let sf = kpis.as_array().context("kpis")?.iter().find(|k| k["carrier"] == "SF" && k["province"] == "zhejiang").context("SF zhejiang")?;
    ensure!(sf["shipped"] == 2 && sf["delivered"] == 1 && sf["on_time"] == 1 && sf["exceptions"] == 0 && sf["delivered_rate"] == 0.5 && sf["on_time_rate"] == 1.0, "{sf}");
    let hours = sf["avg_transit_hours"].as_f64().context("transit")?;
    ensure!((25.0..27.0).contains(&hours), "about 26 h from hand-over to door: {hours}");
    let jd = kpis.as_array().context("kpis")?.iter().find(|k| k["carrier"] == "JD").context("JD")?;
    ensure!(jd["shipped"] == 1 && jd["delivered"] == 0 && jd["on_time_rate"].is_null(), "{jd}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_cards_quote_to_the_fen_and_each_release_takes_the_cheapest_carrier_that_keeps_the_promise_on_sqlite() -> Result<()> {
    carriers_rate_cards_and_the_choice_at_release(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_cards_quote_to_the_fen_and_each_release_takes_the_cheapest_carrier_that_keeps_the_promise_on_postgres() -> Result<()> {
    carriers_rate_cards_and_the_choice_at_release(Backend::Postgres).await
}
