//! After-sales across real daemons: the story's exchange (the EU 42 returned, QC-passed at
//! SH-01's returns desk, back in sellable stock, the EU 43 shipped, no money moved), a second
//! customer's return refunded at the payment channel's simulator, a failed QC refused with
//! its reason, QC done while central is down and refunded exactly once, and races between
//! requests, refunds and the last pair of a size.

use crate::helpers::*;
use crate::journal::check_journal;
use crate::payment::PaymentWorld;
use anyhow::{Context, Result};
use serde_json::{json, Value};
use std::time::Duration;
use tote_sim::payment::ChannelKind;

const EU43: &str = "PEG39-M-WHT-43";
const EU43_GTIN: &str = "1958661377391";
const PAIR: i64 = 89_900;

/// A paid and shipped order of `qty` × `sku` for `customer`: its id and the channel's trade number.
pub(crate) async fn shipped_order(w: &PaymentWorld, key: &str, customer: &str, sku: &str, channel: ChannelKind) -> Result<(u64, String)> {
    let mut body = order_body(sku, 1, "Shanghai");
    body["customer"] = json!(customer);
    let order = w.central().create_order(key, &body).await?.ok()?;
    let order_id = order["id"].as_u64().context("order id")?;
    let payment = w.start_payment(order_id, channel).await?.ok()?;
    let out_trade_no = payment["out_trade_no"].as_str().context("out_trade_no")?.to_owned();
    w.sim.pay(channel, &out_trade_no)?;
    w.ship(order_id).await?;
    Ok((order_id, out_trade_no))
}

pub(crate) async fn ask(central: &Central, order_id: u64, key: &str, body: Value) -> Result<Reply> {
    let request = central
        .http
        .post(central.url(&format!("/api/v1/orders/{order_id}/after-sales")))
        .bearer_auth(ADMIN)
        .header("Idempotency-Key", key)
        .json(&body);
    Reply::from(request.send().await?).await
}

pub(crate) async fn wait_request(central: &Central, id: u64, state: &str) -> Result<Value> {
    eventually(&format!("after-sales request {id} to be {state}"), Duration::from_secs(30), || async {
        let r = central.get(&format!("/api/v1/after-sales/{id}")).await?.ok()?;
        Ok((r["state"] == state).then_some(r))
    })
    .await
}

/// The return as the edge shows it, once HQ's announcement has arrived.
async fn wait_return(edge: &Edge, rma: &str) -> Result<Value> {
    eventually(&format!("return {rma} to reach the edge"), Duration::from_secs(20), || async {
        let r = edge.get(&format!("/api/v1/returns/{rma}")).await?;
        Ok(r.status.is_success().then_some(r.body))
    })
    .await
}

/// The receiving desk: each unit scanned with its verdict, then the return closed into a bin.
pub(crate) async fn check_in(edge: &Edge, rma: &str, units: &[(&str, bool, &str)]) -> Result<Value> {
    wait_return(edge, rma).await?;
    for (n, (gtin, passed, reason)) in units.iter().enumerate() {
        let body = json!({"code": gtin, "passed": passed, "reason": reason});
        edge.post_keyed(&format!("/api/v1/returns/{rma}/check"), &format!("{rma}-check-{n}"), body).await?.ok()?;
    }
    edge.post_keyed(&format!("/api/v1/returns/{rma}/close"), &format!("{rma}-close"), json!({"location": "A-01-01"})).await?.ok()
}

/// The same desk on the handheld page in a real browser: a receiver signs in with her badge,
/// scans the slip, a wrong item (refused), the returned pair, passes it and closes the return
/// into the bin the page suggests. Screenshots go to `target/screenshots/returns/`.
async fn check_in_by_browser(edge: &Edge, rma: &str) -> Result<()> {
    wait_return(edge, rma).await?;
    let worker = json!({"id": "hua", "name": "Chen Hua", "pin": "8642", "badge": "BADGE-CHEN-0002", "roles": ["receiver"]});
    edge.post("/api/v1/workers", worker).await?.ok()?;
    let shots = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots/returns");
    let b = tote_sim::browser::Browser::start(shots).await?;
    let outcome = async {
        b.goto(&edge.url("/")).await?;
        b.on_screen("signin").await?;
        b.scan("BADGE-CHEN-0002").await?;
        b.on_screen("menu").await?;
        b.click("#go-returns").await?;
        b.on_screen("returns").await?;
        b.expect_msg("Scan the return slip", None).await?;
        b.scan(rma).await?;
        b.expect_msg(&format!("Return {rma}: scan each item"), Some("ok")).await?;
        b.scan(EU43_GTIN).await?;
        b.expect_msg(&format!("Scan item {PEGASUS_GTIN}, you scanned {EU43_GTIN}"), Some("err")).await?;
        b.scan(PEGASUS_GTIN).await?;
        b.expect_msg(PEGASUS, Some("ok")).await?;
        b.screenshot("01-returned-pair").await?;
        b.click("#qc-pass").await?;
        b.expect_msg(&format!("{PEGASUS} ✓"), Some("ok")).await?;
        anyhow::ensure!(b.text("#return").await?.contains("✓ 1 ✗ 0 / 1"), "the page shows the checked pair");
        b.click("#return-close").await?;
        b.expect_msg("Scan the bin for the passed items (A-01-01)", None).await?;
        b.scan("A-01-01").await?;
        b.expect_msg(&format!("Return {rma} received: 1 passed, 0 failed"), Some("ok")).await?;
        b.screenshot("02-return-received").await?;
        anyhow::Ok(())
    }
    .await;
    b.finish(outcome).await
}

/// (returning, damaged) of `sku` at SH-01.
async fn aside(central: &Central, sku: &str) -> Result<(i64, i64)> {
    let rows = central.get(&format!("/api/v1/inventory/{sku}")).await?.ok()?;
    let row = rows.as_array().into_iter().flatten().find(|r| r["warehouse"] == "SH-01").cloned().unwrap_or_default();
    Ok((row["returning"].as_i64().unwrap_or(0), row["damaged"].as_i64().unwrap_or(0)))
}

async fn story_exchange(w: &PaymentWorld, browser: bool) -> Result<()> {
    let central = w.central();
    let edge = w.world.edge("SH-01");
    let (order_id, trade) = shipped_order(w, "runner-1", "runner-1", PEGASUS, ChannelKind::Wechat).await?;
    let before_42 = central.level(PEGASUS, "SH-01").await?;
    let before_43 = central.level(EU43, "SH-01").await?;

    let body = json!({"kind": "exchange", "reason": "size", "lines": [{"sku": PEGASUS, "qty": 1, "exchange_sku": EU43}],
                      "evidence": ["https://img.example.com/r1/box.jpg"], "note": "a size too small"});
    let request = ask(central, order_id, "exchange-1", body.clone()).await?;
    assert_eq!(request.status, 201, "{}", request.body);
    let request = request.body;
    assert_eq!(request["state"], "awaiting_return", "{request}");
    assert_eq!(request["decided_by"], "rule:seven-day-no-reason", "the rule names itself: {request}");
    let id = request["id"].as_u64().context("id")?;
    let rma = request["rma"].as_str().context("rma")?.to_owned();
    let replacement = request["replacement_order"].as_u64().context("a replacement order")?;
    // The 43 is locked at once, so it cannot be sold meanwhile; the replacement waits.
    assert_eq!(central.order(replacement).await?["state"], "held");
    let locked_43 = central.level(EU43, "SH-01").await?;
    assert_eq!((locked_43.1, locked_43.3), (before_43.1 + 1, before_43.3 - 1), "{before_43:?} → {locked_43:?}");
    assert_eq!(aside(central, PEGASUS).await?, (1, 0), "the 42 is on its way back");
    // The same request again (a retry) is the same answer, nothing new.
    let again = ask(central, order_id, "exchange-1", body).await?;
    assert_eq!((again.status.as_u16(), again.body["id"].as_u64()), (201, Some(id)));

    if browser {
        check_in_by_browser(edge, &rma).await?;
    } else {
        let closed = check_in(edge, &rma, &[(PEGASUS_GTIN, true, "")]).await?;
        assert_eq!(closed["state"], "received");
    }
    let desk = edge.get(&format!("/api/v1/returns/{rma}")).await?.ok()?;
    assert_eq!((desk["state"].as_str(), desk["location"].as_str()), (Some("received"), Some("A-01-01")), "{desk}");
    w.wait_order_state(replacement, "awaiting_shipment").await?;
    wait_request(central, id, "replacing").await?;
    let after_42 = central.level(PEGASUS, "SH-01").await?;
    assert_eq!(after_42.0, before_42.0 + 1, "the 42 is back on hand: {before_42:?} → {after_42:?}");
    assert_eq!(after_42.3, before_42.3 + 1, "and sellable");
    assert_eq!(aside(central, PEGASUS).await?, (0, 0));

    edge.fulfil(replacement, &format!("SF{replacement}")).await?;
    w.wait_order_state(replacement, "shipped").await?;
    let done = wait_request(central, id, "completed").await?;
    assert!(done["refund_id"].is_null(), "an exchange at the same price moves no money: {done}");
    assert_eq!(w.sim.captured_minor(ChannelKind::Wechat, &trade), PAIR);
    assert_eq!(w.sim.refunded_minor(ChannelKind::Wechat, &trade), 0);
    let refunds = central.get(&format!("/api/v1/orders/{order_id}/refunds")).await?.ok()?;
    assert_eq!(refunds.as_array().map(Vec::len), Some(0), "{refunds}");
    Ok(())
}

async fn second_customer_refund(w: &PaymentWorld) -> Result<()> {
    let central = w.central();
    let (order_id, trade) = shipped_order(w, "runner-2", "runner-2", PEGASUS, ChannelKind::Alipay).await?;
    let body = json!({"kind": "return_refund", "reason": "changed_mind", "lines": [{"sku": PEGASUS, "qty": 1}]});
    let request = ask(central, order_id, "return-2", body).await?.ok()?;
    let id = request["id"].as_u64().context("id")?;
    check_in(w.world.edge("SH-01"), request["rma"].as_str().context("rma")?, &[(PEGASUS_GTIN, true, "")]).await?;
    let done = wait_request(central, id, "completed").await?;
    assert!(done["refund_id"].as_u64().is_some(), "{done}");
    assert_eq!(w.sim.refunded_minor(ChannelKind::Alipay, &trade), PAIR, "settled at the channel");
    Ok(())
}

async fn failed_qc_is_refused_with_its_reason(w: &PaymentWorld) -> Result<()> {
    let central = w.central();
    let (order_id, trade) = shipped_order(w, "runner-3", "runner-3", PEGASUS, ChannelKind::Card).await?;
    let on_hand = central.level(PEGASUS, "SH-01").await?.0;
    let body = json!({"kind": "return_refund", "reason": "defective", "lines": [{"sku": PEGASUS, "qty": 1}]});
    let request = ask(central, order_id, "return-3", body).await?.ok()?;
    assert_eq!(request["decided_by"], "rule:faulty-goods");
    let id = request["id"].as_u64().context("id")?;
    check_in(w.world.edge("SH-01"), request["rma"].as_str().context("rma")?, &[(PEGASUS_GTIN, false, "sole cut open")]).await?;
    let refused = wait_request(central, id, "refused").await?;
    assert!(refused["decision_note"].as_str().is_some_and(|n| n.contains("failed QC (sole cut open)")), "the customer is told why: {refused}");
    assert_eq!(central.level(PEGASUS, "SH-01").await?.0, on_hand, "a failed unit is not stock");
    assert_eq!(aside(central, PEGASUS).await?, (0, 1), "it is set aside as damaged");
    assert_eq!(w.sim.refunded_minor(ChannelKind::Card, &trade), 0);
    Ok(())
}

/// On SQLite the returns desk is the handheld page in a browser; on PostgreSQL its API.
async fn story_on(backend: Backend) -> Result<()> {
    let w = PaymentWorld::start(backend, 31).await?;
    w.world.edge("SH-01").receive("A-01-01", EU43_GTIN, 3).await?;
    w.world.edge("SH-01").wait_synced(Duration::from_secs(20)).await?;
    w.explained(story_exchange(&w, backend == Backend::Sqlite).await)?;
    w.explained(second_customer_refund(&w).await)?;
    w.explained(failed_qc_is_refused_with_its_reason(&w).await)?;
    w.explained(cancelled_replacement_refunds_the_returned_pair(&w).await)?;
    w.explained(a_return_that_never_comes_is_withdrawn(&w).await)?;
    w.explained(return_analytics(w.central()).await)?;
    check_journal(w.central()).await?;
    Ok(())
}

/// HQ cancels an exchange's held replacement before the pair comes back: when it passes QC
/// the customer gets the money back instead, at the channel, once.
async fn cancelled_replacement_refunds_the_returned_pair(w: &PaymentWorld) -> Result<()> {
    let central = w.central();
    let (order_id, trade) = shipped_order(w, "runner-4", "runner-4", EU43, ChannelKind::Wechat).await?;
    let body = json!({"kind": "exchange", "reason": "size", "lines": [{"sku": EU43, "qty": 1, "exchange_sku": PEGASUS}]});
    let request = ask(central, order_id, "exchange-4", body).await?.ok()?;
    let id = request["id"].as_u64().context("id")?;
    let replacement = request["replacement_order"].as_u64().context("replacement")?;
    central.post(&format!("/api/v1/orders/{replacement}/cancel"), json!({})).await?.ok()?;
    assert_eq!(central.order(replacement).await?["state"], "cancelled");
    check_in(w.world.edge("SH-01"), request["rma"].as_str().context("rma")?, &[(EU43_GTIN, true, "")]).await?;
    let done = wait_request(central, id, "completed").await?;
    assert!(done["decision_note"].as_str().is_some_and(|n| n.contains("cannot ship")), "{done}");
    assert_eq!(w.sim.refunded_minor(ChannelKind::Wechat, &trade), PAIR, "refunded instead, once");
    Ok(())
}

/// The customer never sends the pair back: HQ withdraws the approved exchange, the reserved
/// replacement goes back on sale, and the returns desk is told not to take the pair in.
async fn a_return_that_never_comes_is_withdrawn(w: &PaymentWorld) -> Result<()> {
    let central = w.central();
    let edge = w.world.edge("SH-01");
    let (order_id, _) = shipped_order(w, "runner-5", "runner-5", PEGASUS, ChannelKind::Alipay).await?;
    let before_43 = central.level(EU43, "SH-01").await?;
    let body = json!({"kind": "exchange", "reason": "size", "lines": [{"sku": PEGASUS, "qty": 1, "exchange_sku": EU43}]});
    let request = ask(central, order_id, "exchange-5", body).await?.ok()?;
    let (id, rma) = (request["id"].as_u64().context("id")?, request["rma"].as_str().context("rma")?.to_owned());
    let replacement = request["replacement_order"].as_u64().context("replacement")?;
    assert_eq!(central.level(EU43, "SH-01").await?.3, before_43.3 - 1, "the 43 is reserved");
    wait_return(edge, &rma).await?;
    let withdraw = central
        .http
        .post(central.url(&format!("/api/v1/after-sales/{id}/review")))
        .bearer_auth(ADMIN)
        .header("Idempotency-Key", "withdraw-5")
        .json(&json!({"approve": false, "note": "never sent"}))
        .send()
        .await?;
    assert_eq!(withdraw.status().as_u16(), 200, "{}", withdraw.text().await?);
    let r = central.get(&format!("/api/v1/after-sales/{id}")).await?.ok()?;
    assert_eq!(r["state"], "withdrawn", "{r}");
    assert_eq!(central.order(replacement).await?["state"], "cancelled");
    assert_eq!(central.level(EU43, "SH-01").await?.3, before_43.3, "the 43 is on sale again");
    assert_eq!(aside(central, PEGASUS).await?.0, 0, "nothing is coming back any more");
    eventually("the desk to hear of the withdrawal", Duration::from_secs(20), || async {
        Ok((edge.get(&format!("/api/v1/returns/{rma}")).await?.body["state"] == "withdrawn").then_some(()))
    })
    .await?;
    let late = edge.post_keyed(&format!("/api/v1/returns/{rma}/check"), "late-5", json!({"code": PEGASUS_GTIN, "passed": true})).await?;
    assert_eq!(late.status, 409, "{}", late.body);
    assert!(late.body.to_string().contains("withdrawn by HQ"), "{}", late.body);
    Ok(())
}

/// The returns of the story, as HQ's return analytics count them.
async fn return_analytics(central: &Central) -> Result<()> {
    // From yesterday: the story may cross midnight (UTC).
    let now = tote_shared::runtime::system::now_ms();
    let (yesterday, today) = (tote_shared::calendar::utc_day(now - 86_400_000), tote_shared::calendar::utc_day(now));
    let path = format!("/api/v1/analytics/returns?from={yesterday}&to={today}&by=sku");
    let rows = eventually("the returns read model", Duration::from_secs(20), || async {
        let rows = central.get(&path).await?.ok()?;
        // Every request (the last one, withdrawn, comes last in the journal) and every QC result.
        let done = rows.as_array().into_iter().flatten().any(|r| {
            r["key"] == PEGASUS && r["requested"] == 4 && r["passed"].as_i64().unwrap_or(0) + r["failed"].as_i64().unwrap_or(0) == 3
        });
        Ok(done.then_some(rows))
    })
    .await?;
    let pair = rows.as_array().into_iter().flatten().find(|r| r["key"] == PEGASUS).context("EU 42")?;
    assert_eq!((pair["shipped"].as_i64(), pair["requested"].as_i64(), pair["passed"].as_i64(), pair["failed"].as_i64()), (Some(4), Some(4), Some(2), Some(1)), "{pair}");
    assert_eq!((pair["return_rate_pct"].as_f64(), pair["qc_fail_pct"].as_f64()), (Some(100.0), Some(33.33)), "{pair}");
    assert_eq!(pair["reasons"], json!({"changed_mind": 1, "defective": 1, "size": 2}), "a withdrawn request was still asked");
    let by_reason = central.get(&format!("/api/v1/analytics/returns?from={yesterday}&to={today}&by=reason")).await?.ok()?;
    let size = by_reason.as_array().into_iter().flatten().find(|r| r["key"] == "size").context("size")?;
    assert_eq!((size["shipped"].as_i64(), size["requested"].as_i64()), (Some(6), Some(3)), "every unit shipped (the 43s too) is the base: {size}");
    let empty = central.get(&format!("/api/v1/analytics/returns?from={today}&to=2001-01-01")).await?.ok()?;
    assert_eq!(empty, json!([]), "a period that ends before it starts holds nothing");
    let bad = central.get(&format!("/api/v1/analytics/returns?from={today}&to=2001-02-30")).await?;
    assert_eq!(bad.status, 400, "not a day: {}", bad.body);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_story_exchange_ships_the_43_for_the_returned_42_and_a_return_is_refunded_at_the_channel() -> Result<()> {
    story_on(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_story_exchange_and_a_refund_on_postgres() -> Result<()> {
    story_on(Backend::Postgres).await
}

/// QC at the edge while central is down; central comes back, takes the return once and
/// refunds it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn qc_while_central_is_down_is_refunded_exactly_once_when_it_returns() -> Result<()> {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let w = PaymentWorld::start(backend, 37).await?;
        let central = w.central();
        let edge = w.world.edge("SH-01");
        let (order_id, trade) = shipped_order(&w, "offline-1", "runner-9", PEGASUS, ChannelKind::Wechat).await?;
        let body = json!({"kind": "return_refund", "reason": "size", "lines": [{"sku": PEGASUS, "qty": 1}]});
        let request = ask(central, order_id, "offline-return", body).await?.ok()?;
        let id = request["id"].as_u64().context("id")?;
        let rma = request["rma"].as_str().context("rma")?.to_owned();
        wait_return(edge, &rma).await?;
        central.kill9();
        check_in(edge, &rma, &[(PEGASUS_GTIN, true, "")]).await?;
        let waiting = edge.get("/api/v1/sync/status").await?.ok()?;
        assert!(waiting["events_pending"].as_u64().unwrap_or(0) >= 1, "the return waits for HQ: {waiting}");
        central.restart()?;
        edge.wait_synced(Duration::from_secs(30)).await?;
        w.explained(wait_request(central, id, "completed").await)?;
        assert_eq!(w.sim.refunded_minor(ChannelKind::Wechat, &trade), PAIR, "{backend:?}: refunded once");
        let refunds = central.get(&format!("/api/v1/orders/{order_id}/refunds")).await?.ok()?;
        assert_eq!(refunds.as_array().map(Vec::len), Some(1), "{backend:?}: one refund: {refunds}");
        check_journal(central).await?;
    }
    Ok(())
}

/// Two requests for the one pair of an order at once: one is taken, the other refused; a
/// refund asked by HQ beside a return request never pays more than was paid; an exchange for
/// the last pair of a size races an order for it and the pair is sold once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_requests_refunds_and_the_last_pair_end_consistent() -> Result<()> {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let w = PaymentWorld::start(backend, 41).await?;
        let central = w.central();
        w.world.edge("SH-01").receive("A-01-01", EU43_GTIN, 1).await?;
        w.world.edge("SH-01").wait_synced(Duration::from_secs(20)).await?;

        // Two return requests for the same line at once.
        let (order_id, trade) = shipped_order(&w, "race-1", "racer-1", PEGASUS, ChannelKind::Wechat).await?;
        let body = json!({"kind": "return_refund", "reason": "size", "lines": [{"sku": PEGASUS, "qty": 1}]});
        let (a, b) = tokio::join!(ask(central, order_id, "race-a", body.clone()), ask(central, order_id, "race-b", body.clone()));
        let mut statuses = [a?.status.as_u16(), b?.status.as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [201, 422], "{backend:?}: one request per pair");

        // A refund-only request and HQ's direct refund for one pair at once: never both.
        let (order_id, trade2) = shipped_order(&w, "race-2", "racer-2", PEGASUS, ChannelKind::Alipay).await?;
        let only = json!({"kind": "refund_only", "reason": "not_received", "lines": [{"sku": PEGASUS, "qty": 1}]});
        let (request, direct) = tokio::join!(ask(central, order_id, "race-c", only), w.refund(order_id, "race-d", 1));
        let (request, direct) = (request?, direct?);
        assert_eq!(request.status, 201, "a refund-only request waits for HQ: {}", request.body);
        assert_eq!(request.body["state"], "review");
        assert_eq!(direct.status, 201, "{}", direct.body);
        let id = request.body["id"].as_u64().context("id")?;
        let review = central
            .http
            .post(central.url(&format!("/api/v1/after-sales/{id}/review")))
            .bearer_auth(ADMIN)
            .header("Idempotency-Key", "race-review")
            .json(&json!({"approve": true}))
            .send()
            .await?;
        assert_eq!(review.status().as_u16(), 422, "the pair was refunded already: {}", review.text().await?);
        w.wait_refund_state(order_id, "succeeded").await?;
        assert_eq!(w.sim.refunded_minor(ChannelKind::Alipay, &trade2), PAIR, "{backend:?}: never more than was paid");

        // The last EU 43: an exchange and a new order race for it.
        let (order_id, _) = shipped_order(&w, "race-3", "racer-3", PEGASUS, ChannelKind::Card).await?;
        let swap = json!({"kind": "exchange", "reason": "size", "lines": [{"sku": PEGASUS, "qty": 1, "exchange_sku": EU43}]});
        let rival = order_body(EU43, 1, "Shanghai");
        let (exchange, order) = tokio::join!(ask(central, order_id, "race-e", swap), central.create_order("race-f", &rival));
        let (exchange, order) = (exchange?, order?);
        let won = [exchange.status == 201 && exchange.body["state"] == "awaiting_return", order.status == 201];
        assert_eq!(won.iter().filter(|w| **w).count(), 1, "{backend:?}: the pair goes once: {} / {}", exchange.body, order.body);
        let level = central.level(EU43, "SH-01").await?;
        assert_eq!((level.0, level.1 + level.2, level.3), (1, 1, 0), "{backend:?}: one unit, reserved once: {level:?}");
        if !won[0] {
            assert!(exchange.status == 409 || exchange.body["state"] == "review", "{backend:?}: the exchange waits or is refused: {}", exchange.body);
        }
        assert_eq!(w.sim.refunded_minor(ChannelKind::Wechat, &trade), 0);
        check_journal(central).await?;
    }
    Ok(())
}

/// A return request and the parcel's delivery at once: the request is decided once, against
/// the order as one of them left it (shipped or delivered), the order ends delivered either way
/// with one delivery in its history, a second request for the same pair is refused, and the
/// refund HQ then asks for the pair is paid once — never more than was paid.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_racing_the_delivery_is_decided_once_and_refunds_at_most_what_was_paid() -> Result<()> {
    use crate::logistics::{cst_in, kuaidi100_param, kuaidi100_sign, push};
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let w = PaymentWorld::start_tracked(backend, 47).await?;
        let central = w.central();
        for round in 0..3 {
            let (order_id, trade) = shipped_order(&w, &format!("deliver-{round}"), &format!("racer-d{round}"), PEGASUS, ChannelKind::Wechat).await?;
            let waybill = format!("SF{order_id}");
            let (now, signed) = (cst_in(0), cst_in(1));
            let delivered = kuaidi100_param(&waybill, "3", &[(&signed, "签收", "已签收，签收人：本人"), (&now, "揽收", "顺丰速运 已收取快件")]);
            let sign = kuaidi100_sign(&delivered)?;
            let body = json!({"kind": "return_refund", "reason": "size", "lines": [{"sku": PEGASUS, "qty": 1}]});
            let key = format!("deliver-req-{round}");
            let (request, pushed) = tokio::join!(ask(central, order_id, &key, body.clone()), push(central, &delivered, &sign));
            let (request, pushed) = (request?, pushed?);
            assert_eq!(pushed.status.as_u16(), 200, "{backend:?}: {}", pushed.body);
            assert_eq!(request.status, 201, "{backend:?}: {}", request.body);
            assert_eq!(request.body["state"], "awaiting_return", "{backend:?}: the seven-day rule holds shipped or delivered: {}", request.body);
            w.wait_order_state(order_id, "delivered").await?;
            let history = central.get(&format!("/api/v1/orders/{order_id}/history")).await?.ok()?;
            let deliveries = history.as_array().context("history")?.iter().filter(|h| h["to_state"] == "delivered").count();
            assert_eq!(deliveries, 1, "{backend:?}: delivered once: {history}");
            let again = ask(central, order_id, &format!("deliver-again-{round}"), body).await?;
            assert_eq!(again.status, 422, "{backend:?}: the pair is held by the first request: {}", again.body);
            let refund = w.refund(order_id, &format!("deliver-refund-{round}"), 1).await?;
            assert_eq!(refund.status, 201, "{backend:?}: {}", refund.body);
            w.wait_refund_state(order_id, "succeeded").await?;
            let over = w.refund(order_id, &format!("deliver-over-{round}"), 1).await?;
            assert_eq!(over.status, 422, "{backend:?}: a second refund of the one pair: {}", over.body);
            assert_eq!(w.sim.refunded_minor(ChannelKind::Wechat, &trade), PAIR, "{backend:?}: refunded once");
        }
        check_journal(central).await?;
    }
    Ok(())
}

/// A paid order cancelled before it ships gets its money back through the channel that took
/// it, once, however often the cancel is asked — less what HQ refunded by hand before.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_paid_order_cancelled_before_shipping_is_refunded_through_its_channel_once() -> Result<()> {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let w = PaymentWorld::start(backend, 53).await?;
        let central = w.central();
        let order_id = w.order("cancel-paid", 2).await?;
        let payment = w.start_payment(order_id, ChannelKind::Alipay).await?.ok()?;
        let trade = payment["out_trade_no"].as_str().context("out_trade_no")?.to_owned();
        w.sim.pay(ChannelKind::Alipay, &trade)?;
        w.wait_order_state(order_id, "awaiting_shipment").await?;
        w.world.edge("SH-01").wait_for_order(order_id, Duration::from_secs(20)).await?;
        // HQ gives one pair's money back by hand first (a goodwill refund).
        let by_hand = w.refund(order_id, "cancel-paid-hq", 1).await?;
        assert_eq!(by_hand.status, 201, "{}", by_hand.body);
        w.wait_refund_state(order_id, "succeeded").await?;
        central.post(&format!("/api/v1/orders/{order_id}/cancel"), json!({})).await?.ok()?;
        w.wait_order_state(order_id, "cancelled").await?;
        let again = central.post(&format!("/api/v1/orders/{order_id}/cancel"), json!({})).await?.ok()?;
        assert_eq!(again["state"], "cancelled");
        let refunds = w
            .explained(
                eventually("the cancel's refund to succeed", Duration::from_secs(30), || async {
                    let refunds = central.get(&format!("/api/v1/orders/{order_id}/refunds")).await?.ok()?;
                    let done = refunds.as_array().is_some_and(|r| r.len() == 2 && r.iter().all(|r| r["state"] == "succeeded"));
                    Ok(done.then_some(refunds))
                })
                .await,
            )?;
        assert_eq!(refunds[1]["lines"][0]["qty"], 1, "{backend:?}: only the pair not refunded yet: {refunds}");
        assert_eq!(w.sim.refunded_minor(ChannelKind::Alipay, &trade), 2 * PAIR, "{backend:?}: refunded in full, once");
        let more = w.refund(order_id, "cancel-paid-more", 1).await?;
        assert_eq!(more.status, 422, "{backend:?}: nothing left to refund: {}", more.body);
        check_journal(central).await?;
    }
    Ok(())
}

/// HQ's policy refunds half the price of a changed-mind return that fails QC: the desk fails
/// the pair, the customer gets half back at the channel and is told why; the pair is damaged
/// stock and never refunded again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_qc_is_refunded_in_part_when_the_policy_says_so() -> Result<()> {
    let w = PaymentWorld::start(Backend::Sqlite, 59).await?;
    let central = w.central();
    let mut policy = central.get("/api/v1/after-sales/policy").await?.ok()?;
    assert_eq!(policy["return_by_days"], 14, "{policy}");
    policy["failed_qc_refunds"] = json!([{"reason": "changed_mind", "refund_pct": 50}]);
    let request = central.http.put(central.url("/api/v1/after-sales/policy")).bearer_auth(ADMIN).json(&policy);
    Reply::from(request.send().await?).await?.ok()?;
    let (order_id, trade) = shipped_order(&w, "half-1", "runner-half", PEGASUS, ChannelKind::Wechat).await?;
    let body = json!({"kind": "return_refund", "reason": "changed_mind", "lines": [{"sku": PEGASUS, "qty": 1}]});
    let request = ask(central, order_id, "half-return", body).await?.ok()?;
    let id = request["id"].as_u64().context("id")?;
    check_in(w.world.edge("SH-01"), request["rma"].as_str().context("rma")?, &[(PEGASUS_GTIN, false, "box crushed, worn outdoors")]).await?;
    let done = w.explained(wait_request(central, id, "completed").await)?;
    let note = done["decision_note"].as_str().unwrap_or("");
    assert!(note.contains("failed QC (box crushed, worn outdoors): refunded at 50 %"), "the customer is told why: {done}");
    assert_eq!(w.sim.refunded_minor(ChannelKind::Wechat, &trade), PAIR / 2, "half the price, at the channel");
    assert_eq!(aside(central, PEGASUS).await?, (0, 1), "the pair is damaged stock");
    let more = w.refund(order_id, "half-more", 1).await?;
    assert_eq!(more.status, 422, "the pair was refunded (in part) already: {}", more.body);
    check_journal(central).await?;
    Ok(())
}

/// Bad requests get a precise refusal and change nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_requests_are_refused_naming_why_and_change_nothing() -> Result<()> {
    let w = PaymentWorld::start(Backend::Sqlite, 43).await?;
    let central = w.central();
    let (order_id, _) = shipped_order(&w, "bad-1", "runner-b", PEGASUS, ChannelKind::Wechat).await?;
    let cases = [
        (json!({"kind": "return_refund", "reason": "size", "lines": [{"sku": PEGASUS, "qty": 2}]}), "1 bought"),
        (json!({"kind": "exchange", "reason": "size", "lines": [{"sku": PEGASUS, "qty": 1}]}), "exchange_sku"),
        (json!({"kind": "return_refund", "reason": "size", "lines": [{"sku": EU43, "qty": 1}]}), "not on the order"),
        (json!({"kind": "return_refund", "reason": "size", "lines": [{"sku": PEGASUS, "qty": 1}], "evidence": ["javascript:alert(1)"]}), "https"),
        (json!({"kind": "return_refund", "reason": "size", "lines": []}), "1 to 200"),
        (json!({"kind": "return_refund", "reason": "defective", "return_method": "pickup", "lines": [{"sku": PEGASUS, "qty": 1}]}), "no carrier account"),
    ];
    for (n, (body, why)) in cases.into_iter().enumerate() {
        let reply = ask(central, order_id, &format!("bad-req-{n}"), body.clone()).await?;
        assert_eq!(reply.status, 422, "{body}: {}", reply.body);
        assert!(reply.body.to_string().contains(why), "{body}: the refusal says {why}: {}", reply.body);
    }
    let unknown = ask(central, order_id, "bad-kind", json!({"kind": "swap", "reason": "size", "lines": [{"sku": PEGASUS, "qty": 1}]})).await?;
    assert_eq!(unknown.status, 422, "{}", unknown.body);
    let courier = ask(central, order_id, "bad-method", json!({"kind": "return_refund", "reason": "size", "return_method": "courier", "lines": [{"sku": PEGASUS, "qty": 1}]})).await?;
    assert_eq!(courier.status, 422, "an unknown return method: {}", courier.body);
    let list = central.get(&format!("/api/v1/orders/{order_id}/after-sales")).await?.ok()?;
    assert_eq!(list.as_array().map(Vec::len), Some(0), "nothing was written: {list}");
    // An unpaid order has nothing to return.
    let unpaid = central.create_order("bad-unpaid", &order_body(PEGASUS, 1, "Shanghai")).await?.ok()?;
    let unpaid_id = unpaid["id"].as_u64().context("id")?;
    let early = ask(central, unpaid_id, "bad-early", json!({"kind": "return_refund", "reason": "size", "lines": [{"sku": PEGASUS, "qty": 1}]})).await?;
    assert_eq!(early.status, 422);
    assert!(early.body.to_string().contains("awaiting_payment"), "{}", early.body);
    // At the edge: a slip that is not an RMA, and a return HQ never announced.
    let edge = w.world.edge("SH-01");
    assert_eq!(edge.get("/api/v1/returns/not%20a%20slip!").await?.status, 422);
    assert_eq!(edge.get("/api/v1/returns/SF404404404").await?.status, 404, "no return comes with that label");
    assert_eq!(edge.get("/api/v1/returns/RMA-999").await?.status, 404);
    Ok(())
}

/// Shipped, paid-by-hand orders of one pair each from SH-01 (with the carrier HQ chose).
async fn shipped_with_carrier(central: &Central, sh: &Edge, count: usize) -> Result<Vec<u64>> {
    let mut orders = Vec::new();
    for n in 0..count {
        let mut body = order_body(PEGASUS, 1, "Shanghai");
        body["customer"] = json!(format!("returner-{n}"));
        let id = central.create_order(&format!("reverse-{n}"), &body).await?.ok()?["id"].as_u64().context("id")?;
        central.post(&format!("/api/v1/orders/{id}/pay"), json!({})).await?.ok()?;
        sh.fulfil_with(id, json!({})).await?;
        eventually(&format!("order {id} shipped"), Duration::from_secs(20), || async { Ok((central.order(id).await?["state"] == "shipped").then_some(())) }).await?;
        orders.push(id);
    }
    Ok(orders)
}

/// The request's return shipment once `done` says so of it.
async fn wait_shipment(central: &Central, id: u64, what: &str, done: impl Fn(&Value) -> bool) -> Result<Value> {
    eventually(&format!("request {id}'s return shipment {what}"), Duration::from_secs(30), || async {
        let r = central.get(&format!("/api/v1/after-sales/{id}")).await?.ok()?;
        Ok(done(&r["return_shipment"]).then(|| r["return_shipment"].clone()))
    })
    .await
}

fn reverse_orders(sim: &CarrierSim, request_id: u64) -> Vec<tote_sim::carrier::SimOrder> {
    sim.orders().into_iter().filter(|o| o.reverse && o.order_id == format!("TOTE-RMA-{request_id}")).collect()
}

/// How many times the platform was asked to book the request's return (it refuses a repeat,
/// so its orders alone cannot tell).
fn booking_calls(sim: &CarrierSim, request_id: u64) -> usize {
    let ours = format!("\"TOTE-RMA-{request_id}\"");
    sim.received_forms().iter().filter(|f| f.service_code == "EXP_RECE_CREATE_REVERSE_ORDER" && f.msg_data.contains(&ours)).count()
}

/// Reverse logistics at the carriers' platform: a size return may not have a courier at our
/// cost (refused, nothing written); a defective pair's pickup is booked with SF — from the
/// customer's address to SH-01, a collection time, our account — its freight owed on the books
/// and reversed when HQ withdraws the return before collection; a prepaid label asked while
/// the platform is down is booked once when it is back; a pair that reaches the desk before
/// its booking went through is not booked at all.
async fn returns_come_back_with_the_carrier_we_book(backend: Backend) -> Result<()> {
    let (world, sim) = World::start_with_carriers(backend, &[("SH-01", "shanghai")], "").await?;
    let (central, sh) = (&world.central, world.edge("SH-01"));
    sh.receive("A-01-01", PEGASUS_GTIN, 3).await?;
    sh.wait_synced(Duration::from_secs(20)).await?;
    let orders = shipped_with_carrier(central, sh, 3).await?;
    let pair = |method: &str, reason: &str| json!({"kind": "return_refund", "reason": reason, "return_method": method, "lines": [{"sku": PEGASUS, "qty": 1}]});

    let size = ask(central, orders[0], "reverse-size", pair("pickup", "size")).await?;
    assert_eq!(size.status, 422, "{}", size.body);
    assert!(size.body.to_string().contains("returns for size are sent by the customer (drop_off)"), "{}", size.body);
    assert_eq!(central.get(&format!("/api/v1/orders/{}/after-sales", orders[0])).await?.ok()?.as_array().map(Vec::len), Some(0), "nothing written");

    // A courier for a defective pair, booked at SF.
    let before = tote_shared::runtime::system::now_ms();
    let first = ask(central, orders[0], "reverse-pickup", pair("pickup", "defective")).await?.ok()?;
    assert_eq!((first["state"].as_str(), first["decided_by"].as_str(), first["return_method"].as_str()), (Some("awaiting_return"), Some("rule:faulty-goods"), Some("pickup")), "{first}");
    let id1 = first["id"].as_u64().context("id")?;
    let booked = wait_shipment(central, id1, "booked", |s| s["state"] == "booked").await?;
    let waybill = booked["waybill"].as_str().context("waybill")?.to_owned();
    let freight = booked["freight"].as_i64().context("freight")?;
    assert!(booked["carrier"] == "SF" && waybill.starts_with("SF") && freight > 0, "{booked}");
    assert!(booked["collect_from_ms"].as_i64().is_some_and(|at| at >= before + 3_600_000), "a courier an hour ahead at the earliest: {booked}");
    let at_sf = reverse_orders(&sim, id1);
    assert_eq!((at_sf.len(), booking_calls(&sim, id1)), (1, 1), "booked once: {at_sf:?}");
    assert_eq!(at_sf[0].sender, ("Shanghai".to_owned(), "88 Century Avenue".to_owned()), "collected from the customer");
    assert_eq!(at_sf[0].recipient, ("shanghai".to_owned(), "SH-01".to_owned()), "brought to the warehouse that shipped it");
    assert!(at_sf[0].collect_from.is_some() && at_sf[0].waybill == waybill, "{:?}", at_sf[0]);

    // A prepaid label asked while the platform is down: booked once it is back.
    sim.set_api_down(true);
    let second = ask(central, orders[1], "reverse-label", pair("label", "wrong_item")).await?.ok()?;
    let id2 = second["id"].as_u64().context("id")?;
    let waiting = wait_shipment(central, id2, "tried and failed", |s| s["last_error"].is_string() && s["carrier"] == "SF").await?;
    assert_eq!(waiting["state"], "booking", "{waiting}");
    // A third pair's courier cannot be booked either, and the pair reaches the desk anyway.
    let third = ask(central, orders[2], "reverse-late", pair("pickup", "not_as_described")).await?.ok()?;
    let (id3, rma3) = (third["id"].as_u64().context("id")?, third["rma"].as_str().context("rma")?.to_owned());
    wait_shipment(central, id3, "tried and failed", |s| s["last_error"].is_string() && s["carrier"] == "SF").await?;
    check_in(sh, &rma3, &[(PEGASUS_GTIN, true, "")]).await?;
    wait_shipment(central, id3, "stopped", |s| s["state"] == "cancelling").await?;
    sim.set_api_down(false);
    let label = wait_shipment(central, id2, "booked", |s| s["state"] == "booked").await?;
    // The desk finds the label's parcel by its waybill, as it finds the slip by its RMA.
    let label_waybill = label["waybill"].as_str().context("waybill")?.to_owned();
    let rma2 = second["rma"].as_str().context("rma")?.to_owned();
    let at_desk = eventually("the label to reach the desk", Duration::from_secs(20), || async {
        let r = sh.get(&format!("/api/v1/returns/{label_waybill}")).await?;
        Ok(r.status.is_success().then_some(r.body))
    })
    .await?;
    assert!(at_desk["rma"] == rma2.as_str() && at_desk["carrier"] == "SF", "{at_desk}");
    let at_sf = reverse_orders(&sim, id2);
    assert!(at_sf.len() == 1 && at_sf[0].collect_from.is_none() && label["method"] == "label", "one label, no courier: {at_sf:?} {label}");
    assert_eq!(booking_calls(&sim, id2), 1, "booked once the platform answered (calls while it was down never reached it)");
    wait_shipment(central, id3, "cancelled", |s| s["state"] == "cancelled").await?;
    assert!(reverse_orders(&sim, id3).is_empty() && booking_calls(&sim, id3) == 0, "the late pair was never booked");

    // HQ withdraws the first before the courier came: cancelled at SF, its freight not owed.
    let withdraw = central
        .http
        .post(central.url(&format!("/api/v1/after-sales/{id1}/review")))
        .bearer_auth(ADMIN)
        .header("Idempotency-Key", "reverse-withdraw")
        .json(&json!({"approve": false, "note": "the customer keeps it"}))
        .send()
        .await?;
    assert_eq!(withdraw.status().as_u16(), 200, "{}", withdraw.text().await?);
    wait_shipment(central, id1, "cancelled", |s| s["state"] == "cancelled").await?;
    assert!(reverse_orders(&sim, id1).iter().all(|o| o.cancelled), "cancelled at the carrier");
    // SF's statement bills the label it carried at the quote, and the cancelled pickup it did
    // not carry; our three parcels out it forgot.
    let month = crate::logistics::cst_month();
    let weight = label["chargeable_g"].as_u64().context("chargeable weight")?;
    let yuan = |minor: i64| format!("{}.{:02}", minor / 100, minor % 100);
    let csv = format!(
        "waybill,ship_date,weight_g,freight,total\n{label_waybill},{month}-02,{weight},{f},{f}\n{waybill},{month}-02,{weight},{f},{f}\n",
        f = yuan(label["freight"].as_i64().context("freight")?)
    );
    let run = crate::logistics::post_csv(central, &format!("/api/v1/logistics/carriers/SF/statements/{month}"), &csv).await?.ok()?;
    let mut found: Vec<(String, String)> = run["differences"]
        .as_array()
        .context("differences")?
        .iter()
        .map(|d| (d["waybill"].as_str().unwrap_or("").to_owned(), d["kind"].as_str().unwrap_or("").to_owned()))
        .collect();
    found.sort();
    let mut expected = vec![(waybill.clone(), "not_ours".to_owned())];
    for id in &orders {
        let out = central.order(*id).await?["tracking_number"].as_str().context("tracking number")?.to_owned();
        expected.push((out, "not_billed".to_owned()));
    }
    expected.sort();
    assert_eq!(found, expected, "the label's freight matches its quote: {run}");

    let kinds = central.rows("SELECT kind, COUNT(*) FROM journal WHERE kind LIKE 'return_freight_%' GROUP BY kind ORDER BY kind").await?;
    assert_eq!(kinds, vec![vec!["return_freight_accrued".to_owned(), "2".to_owned()], vec!["return_freight_reversed".to_owned(), "1".to_owned()]]);
    let books = check_books(central).await?;
    let label_freight = label["freight"].as_i64().context("freight")?;
    assert_eq!(books.get("Expenses:ReturnFreight").copied(), Some(label_freight), "only the label's freight is owed: {books:?}");
    check_journal(central).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn returns_come_back_with_the_carrier_we_book_on_sqlite() -> Result<()> {
    returns_come_back_with_the_carrier_we_book(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn returns_come_back_with_the_carrier_we_book_on_postgres() -> Result<()> {
    returns_come_back_with_the_carrier_we_book(Backend::Postgres).await
}

const BLACK: &str = "PEG39-M-BLK-42";
const BLACK_GTIN: &str = "1958661377414";
const GREY: &str = "PEG39-M-GRY-42";
const GREY_GTIN: &str = "1958661377421";

/// Exchanges across prices, through the payment channels' simulator: the EU 42 in white for
/// the dearer black (¥949) ships only once the customer paid the ¥50 difference — after the
/// white pair passed QC — and the grey on clearance (¥799) ships at once with ¥100 refunded on
/// the original payment. Revenue follows: the books take the difference as a sale or a return.
async fn exchanges_across_prices(backend: Backend) -> Result<()> {
    let w = PaymentWorld::start(backend, 67).await?;
    let (central, edge) = (w.central(), w.world.edge("SH-01"));
    for (sku, gtin, colour, price) in [(BLACK, BLACK_GTIN, "black", 94_900), (GREY, GREY_GTIN, "grey", 79_900)] {
        let body = json!({"sku": sku, "spu_id": "PEG39", "gtin": gtin, "gender": "men", "colour": colour, "size": "EU 42", "price": price, "cost": 41000});
        central.post("/api/v1/skus", body).await?.ok()?;
    }
    edge.wait_for_skus(skus().len() as u64 + 2).await?;
    edge.receive("A-01-01", BLACK_GTIN, 2).await?;
    edge.receive("A-01-01", GREY_GTIN, 1).await?;
    edge.wait_synced(Duration::from_secs(20)).await?;

    // Dearer: ¥50 to pay once the white pair passed QC.
    let (order_id, trade) = shipped_order(&w, "dear-1", "runner-dear", PEGASUS, ChannelKind::Wechat).await?;
    let body = json!({"kind": "exchange", "reason": "changed_mind", "lines": [{"sku": PEGASUS, "qty": 1, "exchange_sku": BLACK}]});
    let request = ask(central, order_id, "dear-exchange", body).await?.ok()?;
    assert_eq!((request["state"].as_str(), request["price_difference_minor"].as_i64()), (Some("awaiting_return"), Some(5_000)), "{request}");
    assert_eq!(request["lines"][0]["price_difference"], 5_000, "{request}");
    let (id, replacement) = (request["id"].as_u64().context("id")?, request["replacement_order"].as_u64().context("replacement")?);
    let held = central.order(replacement).await?;
    assert_eq!((held["state"].as_str(), held["total"].as_i64()), (Some("held"), Some(5_000)), "the replacement costs the difference: {held}");
    let passed_at = tote_shared::runtime::system::now_ms();
    check_in(edge, request["rma"].as_str().context("rma")?, &[(PEGASUS_GTIN, true, "")]).await?;
    let due = w.wait_order_state(replacement, "awaiting_payment").await?;
    let deadline = due["payment_deadline_ms"].as_i64().unwrap_or(0) - passed_at;
    assert!((48 * 3_600_000..49 * 3_600_000).contains(&deadline), "the policy's 48 hours to pay from QC: {due}");
    let waiting = wait_request(central, id, "replacing").await?;
    assert!(waiting["decision_note"].as_str().is_some_and(|n| n.contains("once its price difference of ¥50.00 is paid")), "the customer is told: {waiting}");
    assert_eq!(central.level(BLACK, "SH-01").await?.3, 1, "one of the two black pairs stays locked for the customer meanwhile");
    let payment = w.start_payment(replacement, ChannelKind::Alipay).await?.ok()?;
    let difference_trade = payment["out_trade_no"].as_str().context("out_trade_no")?.to_owned();
    assert_eq!(payment["amount_minor"], 5_000, "{payment}");
    w.sim.pay(ChannelKind::Alipay, &difference_trade)?;
    w.wait_order_state(replacement, "awaiting_shipment").await?;
    edge.fulfil(replacement, &format!("SF{replacement}")).await?;
    w.wait_order_state(replacement, "shipped").await?;
    wait_request(central, id, "completed").await?;
    assert_eq!(w.sim.captured_minor(ChannelKind::Alipay, &difference_trade), 5_000, "the difference, paid at the channel");
    assert_eq!(w.sim.refunded_minor(ChannelKind::Wechat, &trade), 0, "nothing refunded of the original");

    // Dearer again, but the customer would rather have the money: cancelling the unpaid
    // replacement refunds the returned white pair in full, and the black pair is on sale again.
    let (order_id, trade) = shipped_order(&w, "dear-2", "runner-declines", PEGASUS, ChannelKind::Wechat).await?;
    let body = json!({"kind": "exchange", "reason": "changed_mind", "lines": [{"sku": PEGASUS, "qty": 1, "exchange_sku": BLACK}]});
    let request = ask(central, order_id, "dear-declined", body).await?.ok()?;
    let (id, replacement) = (request["id"].as_u64().context("id")?, request["replacement_order"].as_u64().context("replacement")?);
    check_in(edge, request["rma"].as_str().context("rma")?, &[(PEGASUS_GTIN, true, "")]).await?;
    w.wait_order_state(replacement, "awaiting_payment").await?;
    central.post(&format!("/api/v1/orders/{replacement}/cancel"), json!({})).await?.ok()?;
    let refunded = wait_request(central, id, "completed").await?;
    assert!(refunded["decision_note"].as_str().is_some_and(|n| n.contains("the price difference was not paid (the replacement order closed unpaid or was cancelled), so the returned units are refunded instead")), "{refunded}");
    assert_eq!(w.sim.refunded_minor(ChannelKind::Wechat, &trade), PAIR, "the white pair's price, at the channel");
    assert_eq!(central.level(BLACK, "SH-01").await?.3, 1, "the black pair is on sale again");

    // Cheaper: the grey ships at once and ¥100 goes back on the original payment.
    let (order_id, trade) = shipped_order(&w, "cheap-1", "runner-cheap", PEGASUS, ChannelKind::Wechat).await?;
    let body = json!({"kind": "exchange", "reason": "changed_mind", "lines": [{"sku": PEGASUS, "qty": 1, "exchange_sku": GREY}]});
    let request = ask(central, order_id, "cheap-exchange", body).await?.ok()?;
    assert_eq!(request["price_difference_minor"], -10_000, "{request}");
    let (id, replacement) = (request["id"].as_u64().context("id")?, request["replacement_order"].as_u64().context("replacement")?);
    assert_eq!(central.order(replacement).await?["total"], 0);
    check_in(edge, request["rma"].as_str().context("rma")?, &[(PEGASUS_GTIN, true, "")]).await?;
    w.wait_order_state(replacement, "awaiting_shipment").await?;
    let refund = w.wait_refund_state(order_id, "succeeded").await?;
    assert_eq!(refund["amount_minor"], 10_000, "{refund}");
    assert_eq!(w.sim.refunded_minor(ChannelKind::Wechat, &trade), 10_000, "the difference, settled at the channel");
    let replacing = wait_request(central, id, "replacing").await?;
    assert!(replacing["decision_note"].as_str().is_some_and(|n| n.contains("the price difference of ¥100.00 is refunded")), "{replacing}");
    edge.fulfil(replacement, &format!("SF{replacement}")).await?;
    wait_request(central, id, "completed").await?;
    let again = w.refund(order_id, "cheap-again", 1).await?;
    assert_eq!(again.status, 422, "the exchanged pair is not refunded again: {}", again.body);

    // Revenue net of returns, VAT included: three white pairs (one refunded), the ¥50 for the
    // black, less ¥100.
    let books = check_books(central).await?;
    let account = |name: &str| books.get(name).copied().unwrap_or(0);
    let revenue = -(account("Income:Sales") + account("Income:SalesReturns") + account("Liabilities:VAT:Output"));
    assert_eq!(revenue, 3 * PAIR - PAIR + 5_000 - 10_000, "{books:?}");
    check_journal(central).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_exchange_to_a_dearer_colour_charges_the_difference_and_to_a_cheaper_one_refunds_it() -> Result<()> {
    exchanges_across_prices(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_exchange_across_prices_on_postgres() -> Result<()> {
    exchanges_across_prices(Backend::Postgres).await
}
