//! Supply chain over HTTP: a supplier onboarded with its documents, credential and prices; a
//! purchase order approved by HQ; the supplier confirming and shipping through its own API;
//! the ASN arriving at the edge as an expected delivery, received there with QC; central's
//! stock, in-transit and the order following; the supplier's invoice three-way matched. A
//! second supplier's credential reaches none of it.

use crate::helpers::*;
use anyhow::{ensure, Context, Result};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

pub const NIKE: &str = "nike-credential-0123456789abcdef";
const ADIDAS: &str = "adidas-credential-0123456789abcdef";

/// A call to central with `token`, an optional Idempotency-Key and an optional body.
pub(crate) async fn call(central: &Central, method: Method, path: &str, token: &str, key: Option<&str>, body: Option<Value>) -> Result<Reply> {
    let mut request = central.http.request(method, central.url(path)).bearer_auth(token);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    Reply::from(request.send().await?).await
}

/// An approved supplier with both required documents, its credential and (for Nike) a price
/// for the Pegasus: ¥400, MOQ 6, ¥380 from 24.
pub async fn onboard(central: &Central, id: &str, token: &str) -> Result<()> {
    let documents = json!([{"kind": "business_licence", "reference": "91310000MA1FL"}, {"kind": "bank_account", "reference": "6222 0210 0000"}]);
    let created = call(central, Method::POST, "/api/v1/suppliers", ADMIN, None, Some(json!({"id": id, "name": format!("{id} Ltd"), "contact": "Li Wei, +86 21 5555 0100", "documents": documents}))).await?.ok()?;
    ensure!(created["state"] == "draft" && created["has_credential"] == false, "{created}");
    for step in ["submit", "approve"] {
        call(central, Method::POST, &format!("/api/v1/suppliers/{id}/steps"), ADMIN, None, Some(json!({"step": step}))).await?.ok()?;
    }
    let set = call(central, Method::PUT, &format!("/api/v1/suppliers/{id}/credential"), ADMIN, None, Some(json!({"token": token, "reason": "onboarding"}))).await?.ok()?;
    ensure!(set["supplier"] == id, "{set}");
    Ok(())
}

async fn in_transit(central: &Central) -> Result<(i64, i64)> {
    let rows = central.get(&format!("/api/v1/inventory/{PEGASUS}")).await?.ok()?;
    let row = rows.as_array().into_iter().flatten().find(|r| r["warehouse"] == "SH-01").context("SH-01 row")?;
    Ok((row["in_transit"].as_i64().unwrap_or(-1), row["damaged"].as_i64().unwrap_or(-1)))
}

async fn story(backend: Backend) -> Result<()> {
    let world = World::start_on(backend, &[("SH-01", "Shanghai")]).await?;
    let (central, edge) = (&world.central, world.edge("SH-01"));
    onboard(central, "NIKE-CN", NIKE).await?;
    onboard(central, "ADIDAS-CN", ADIDAS).await?;
    let terms = json!({"supplier_sku": "DH4071-100-42", "cost": 40000, "moq": 6, "lead_time_days": 7, "breaks": [{"min_qty": 24, "cost": 38000}], "valid_from_ms": 0});
    let price = json!({"sku": PEGASUS, "terms": terms});
    let added = call(central, Method::POST, "/api/v1/suppliers/NIKE-CN/prices", ADMIN, None, Some(price)).await?;
    ensure!(added.status == 201, "{added:?}");

    // HQ: a draft below the MOQ is refused; 12 at ¥400 is taken, approved and sent.
    let po = |qty: i64| json!({"supplier": "NIKE-CN", "warehouse": "SH-01", "lines": [{"sku": PEGASUS, "qty": qty}]});
    let small = call(central, Method::POST, "/api/v1/purchase-orders", ADMIN, Some("po-small"), Some(po(3))).await?;
    ensure!(small.status == 422 && small.body["detail"].as_str().is_some_and(|d| d.contains("MOQ")), "{small:?}");
    let no_price = call(central, Method::POST, "/api/v1/purchase-orders", ADMIN, Some("po-adidas"), Some(json!({"supplier": "ADIDAS-CN", "warehouse": "SH-01", "lines": [{"sku": PEGASUS, "qty": 12}]}))).await?;
    ensure!(no_price.status == 422, "a supplier without a price for the SKU: {no_price:?}");
    let order = call(central, Method::POST, "/api/v1/purchase-orders", ADMIN, Some("po-1"), Some(po(12))).await?.ok()?;
    ensure!(order["state"] == "draft" && order["total"] == 480_000 && order["lines"][0]["unit_cost"] == 40000, "{order}");
    let id = order["id"].as_u64().context("po id")?;
    let mine = call(central, Method::GET, "/api/v1/supplier/purchase-orders", NIKE, None, None).await?.ok()?;
    ensure!(mine.as_array().is_some_and(Vec::is_empty), "a draft is not the supplier's to see: {mine}");
    let sent = call(central, Method::POST, &format!("/api/v1/purchase-orders/{id}/approve"), ADMIN, None, None).await?.ok()?;
    ensure!(sent["state"] == "sent", "{sent}");

    // The other supplier's credential reaches none of it; no credential reaches nothing.
    let theirs = call(central, Method::GET, "/api/v1/supplier/purchase-orders", ADIDAS, None, None).await?.ok()?;
    ensure!(theirs.as_array().is_some_and(Vec::is_empty), "{theirs}");
    for (method, path, body) in [
        (Method::GET, format!("/api/v1/supplier/purchase-orders/{id}"), None),
        (Method::POST, format!("/api/v1/supplier/purchase-orders/{id}/confirm"), Some(json!({"promised_ms": 4_102_444_800_000_i64}))),
        (Method::POST, format!("/api/v1/supplier/purchase-orders/{id}/reject"), Some(json!({"reason": "not ours"}))),
    ] {
        let r = call(central, method, &path, ADIDAS, None, body).await?;
        ensure!(r.status == 404, "{path} with another supplier's credential: {r:?}");
    }
    let stranger = call(central, Method::GET, "/api/v1/supplier/purchase-orders", "no-such-credential-0123456789", None, None).await?;
    ensure!(stranger.status == 401, "{stranger:?}");
    let hq_token = call(central, Method::GET, "/api/v1/supplier/purchase-orders", ADMIN, None, None).await?;
    ensure!(hq_token.status == 401, "HQ's token is not a supplier's: {hq_token:?}");

    // The supplier confirms and ships: in transit at central, expected at the edge.
    let confirmed = call(central, Method::POST, &format!("/api/v1/supplier/purchase-orders/{id}/confirm"), NIKE, None, Some(json!({"promised_ms": 4_102_444_800_000_i64}))).await?.ok()?;
    ensure!(confirmed["state"] == "confirmed" && confirmed["lines"][0]["confirmed"] == 12, "{confirmed}");
    let asn = json!({"po": id, "reference": "NK-SHP-0001", "shipped_ms": 1, "eta_ms": 2, "lines": [
        {"sku": PEGASUS, "qty": 8, "lot": "LOT42", "expiry": "271231", "carton": "C1"},
        {"sku": PEGASUS, "qty": 4, "lot": "LOT42", "expiry": "271231", "carton": "C2"}]});
    let theirs = call(central, Method::POST, "/api/v1/supplier/asns", ADIDAS, Some("asn-x"), Some(asn.clone())).await?;
    ensure!(theirs.status == 404, "an ASN on another supplier's order: {theirs:?}");
    let shipped = call(central, Method::POST, "/api/v1/supplier/asns", NIKE, Some("asn-1"), Some(asn.clone())).await?.ok()?;
    let delivery = shipped["delivery"].as_str().context("delivery number")?.to_owned();
    ensure!(shipped["state"] == "in_transit" && delivery.starts_with("ASN-"), "{shipped}");
    let replay = call(central, Method::POST, "/api/v1/supplier/asns", NIKE, Some("asn-1"), Some(asn.clone())).await?;
    ensure!(replay.replayed.as_deref() == Some("true") && replay.body["delivery"] == delivery.as_str(), "a retried ASN replays: {replay:?}");
    let again = call(central, Method::POST, "/api/v1/supplier/asns", NIKE, Some("asn-2"), Some(asn)).await?;
    ensure!(again.status == 409, "the same shipment reference twice: {again:?}");
    ensure!(in_transit(central).await?.0 == 12, "12 in transit");
    let before = central.level(PEGASUS, "SH-01").await?;
    let expected = eventually("the edge to expect the delivery", Duration::from_secs(20), || async {
        let open = edge.get("/api/v1/deliveries?state=open").await?.ok()?;
        Ok(open.as_array().into_iter().flatten().find(|d| d["id"] == delivery.as_str()).cloned())
    })
    .await?;
    ensure!(expected["lines"][0]["expected"] == 12 && expected["supplier"] == "NIKE-CN Ltd", "one line of 12 for the two cartons: {expected}");

    // The warehouse receives against it: 11 pass QC, 1 fails into the QC bin.
    let receive = |location: &str, qty: i64| edge.post("/api/v1/receipts", json!({"location": location, "gtin": PEGASUS_GTIN, "qty": qty, "lot": "LOT42", "delivery": delivery}));
    ensure!(receive("RCV", 11).await?.status == 201);
    ensure!(receive("QC", 1).await?.status == 201);
    edge.wait_synced(Duration::from_secs(30)).await?;
    let after = central.level(PEGASUS, "SH-01").await?;
    ensure!(after.0 == before.0 + 11 && after.3 == before.3 + 11, "11 into stock and sellable, the failed one not: {before:?} → {after:?}");
    let (transit, damaged) = in_transit(central).await?;
    ensure!(transit == 0 && damaged == 1, "in transit 0, one held: {transit} {damaged}");
    let closed = central.get(&format!("/api/v1/purchase-orders/{id}")).await?.ok()?;
    ensure!(closed["state"] == "closed" && closed["lines"][0]["accepted"] == 11 && closed["lines"][0]["rejected"] == 1, "{closed}");
    ensure!(closed["asns"][0]["state"] == "received" && closed["asns"][0]["arrived"][0]["failed"] == 1, "{closed}");

    // The invoice: 12 billed for 11 accepted is held with the difference; 11 matches.
    let invoice = |reference: &str, qty: i64, cost: i64| json!({"po": id, "reference": reference, "lines": [{"sku": PEGASUS, "qty": qty, "unit_cost": cost}], "total": qty * cost});
    let theirs = call(central, Method::POST, "/api/v1/supplier/invoices", ADIDAS, Some("inv-x"), Some(invoice("AD-1", 11, 40000))).await?;
    ensure!(theirs.status == 404, "an invoice on another supplier's order: {theirs:?}");
    let held = call(central, Method::POST, "/api/v1/supplier/invoices", NIKE, Some("inv-1"), Some(invoice("NK-INV-1", 12, 40000))).await?.ok()?;
    ensure!(held["state"] == "held" && held["differences"][0]["kind"] == "quantity" && held["differences"][0]["expected"] == 11, "{held}");
    let queue = central.get("/api/v1/supplier-invoices?state=held").await?.ok()?;
    ensure!(queue.as_array().map(Vec::len) == Some(1), "HQ's exception list: {queue}");
    let held_id = held["id"].as_u64().context("invoice id")?;
    let rejected = call(central, Method::POST, &format!("/api/v1/supplier-invoices/{held_id}/decision"), ADMIN, None, Some(json!({"approve": false, "note": "11 passed QC; bill 11"}))).await?.ok()?;
    ensure!(rejected["state"] == "rejected", "{rejected}");
    let matched = call(central, Method::POST, "/api/v1/supplier/invoices", NIKE, Some("inv-2"), Some(invoice("NK-INV-2", 11, 40000))).await?.ok()?;
    ensure!(matched["state"] == "approved" && matched["differences"].as_array().is_some_and(Vec::is_empty), "{matched}");
    let twice = call(central, Method::POST, "/api/v1/supplier/invoices", NIKE, Some("inv-3"), Some(invoice("NK-INV-3", 1, 40000))).await?.ok()?;
    ensure!(twice["state"] == "held", "units already invoiced cannot be billed again: {twice}");
    let order = central.get(&format!("/api/v1/purchase-orders/{id}")).await?.ok()?;
    ensure!(order["lines"][0]["invoiced"] == 11 && order["invoices"].as_array().map(Vec::len) == Some(3), "{order}");
    // HQ pays the matched invoice, once; the held-then-rejected one cannot be paid.
    let matched_id = matched["id"].as_u64().context("invoice id")?;
    let pay = |invoice: u64, key: &'static str| {
        let path = format!("/api/v1/supplier-invoices/{invoice}/payment");
        async move { call(central, Method::POST, &path, ADMIN, Some(key), Some(json!({"reference": "BOC-20270105-01"}))).await }
    };
    let paid = pay(matched_id, "pay-1").await?.ok()?;
    ensure!(paid["paid_ms"].is_i64() && paid["payment_reference"] == "BOC-20270105-01", "{paid}");
    ensure!(pay(matched_id, "pay-2").await?.status == 422, "paid once");
    ensure!(pay(held_id, "pay-3").await?.status == 422, "a rejected invoice is not paid");
    let seen = call(central, Method::GET, "/api/v1/supplier/invoices", ADIDAS, None, None).await?.ok()?;
    ensure!(seen.as_array().is_some_and(Vec::is_empty), "another supplier's invoices: {seen}");

    // The supplier's record and its month: one delivery on time, the order filled, 11 of 12
    // passed QC; 11 × ¥400 received and invoiced.
    let card = central.get("/api/v1/suppliers/NIKE-CN/scorecard").await?.ok()?;
    let total = &card["total"];
    ensure!(total["deliveries"] == 1 && total["on_time"] == 1 && total["fill_rate"] == 1.0 && total["units_passed"] == 11 && total["units_failed"] == 1, "{card}");
    ensure!(card["price_index"] == 1.0 && card["months"].as_array().map(Vec::len) == Some(1), "{card}");
    let month = tote_shared::calendar::utc_day(tote_shared::runtime::system::now_ms())[..7].to_owned();
    let statement = central.get(&format!("/api/v1/suppliers/NIKE-CN/statements/{month}")).await?.ok()?;
    ensure!(statement["received_value"] == 440_000 && statement["invoiced"] == 440_000 && statement["not_invoiced"] == 0, "{statement}");
    ensure!(statement["paid"] == 440_000 && statement["unpaid"] == 0, "{statement}");
    ensure!(statement["received"][0]["units"] == 11 && statement["invoices"].as_array().map(Vec::len) == Some(1), "{statement}");
    let own = call(central, Method::GET, &format!("/api/v1/supplier/statements/{month}"), NIKE, None, None).await?.ok()?;
    ensure!(own["received_value"] == 440_000, "the supplier sees its own statement: {own}");
    let other = call(central, Method::GET, &format!("/api/v1/supplier/statements/{month}"), ADIDAS, None, None).await?.ok()?;
    ensure!(other["received_value"] == 0 && other["received"].as_array().is_some_and(Vec::is_empty), "and only its own: {other}");
    let bad = central.get("/api/v1/suppliers/NIKE-CN/statements/2026-13").await?;
    ensure!(bad.status == 400, "{bad:?}");

    // A shipment short of its ASN: 2 of 6 arrive, HQ closes the order short, the 4 leave in
    // transit; a pair that turns up later is plain stock, not the closed order's.
    let second = call(central, Method::POST, "/api/v1/purchase-orders", ADMIN, Some("po-2"), Some(po(6))).await?.ok()?;
    let id2 = second["id"].as_u64().context("po id")?;
    call(central, Method::POST, &format!("/api/v1/purchase-orders/{id2}/approve"), ADMIN, None, None).await?.ok()?;
    call(central, Method::POST, &format!("/api/v1/supplier/purchase-orders/{id2}/confirm"), NIKE, None, Some(json!({"promised_ms": 4_102_444_800_000_i64}))).await?.ok()?;
    let asn2 = json!({"po": id2, "reference": "NK-SHP-0002", "shipped_ms": 1, "eta_ms": 2, "lines": [{"sku": PEGASUS, "qty": 6}]});
    let shipped2 = call(central, Method::POST, "/api/v1/supplier/asns", NIKE, Some("asn-3"), Some(asn2)).await?.ok()?;
    let delivery2 = shipped2["delivery"].as_str().context("delivery")?.to_owned();
    eventually("the edge to expect the second delivery", Duration::from_secs(20), || async {
        let open = edge.get("/api/v1/deliveries?state=open").await?.ok()?;
        Ok(open.as_array().into_iter().flatten().any(|d| d["id"] == delivery2.as_str()).then_some(()))
    })
    .await?;
    let receive2 = |qty: i64| edge.post("/api/v1/receipts", json!({"location": "RCV", "gtin": PEGASUS_GTIN, "qty": qty, "delivery": delivery2}));
    ensure!(receive2(2).await?.status == 201);
    edge.wait_synced(Duration::from_secs(30)).await?;
    ensure!(in_transit(central).await?.0 == 4, "4 still on the road");
    let short = call(central, Method::POST, &format!("/api/v1/purchase-orders/{id2}/close"), ADMIN, None, Some(json!({"reason": "Nike short-shipped; the rest comes on the next order"}))).await?.ok()?;
    ensure!(short["state"] == "closed", "{short}");
    ensure!(in_transit(central).await?.0 == 0, "closed short: nothing in transit");
    // The warehouse stops expecting the rest: the delivery reads as received with its 2, and
    // a pair that turns up later is received as a plain receipt.
    let closed_there = eventually("the edge to close the delivery", Duration::from_secs(20), || async {
        let received = edge.get("/api/v1/deliveries?state=received").await?.ok()?;
        Ok(received.as_array().into_iter().flatten().find(|d| d["id"] == delivery2.as_str()).cloned())
    })
    .await?;
    ensure!(closed_there["lines"][0]["expected"] == 2 && closed_there["lines"][0]["received"] == 2, "{closed_there}");
    let against = receive2(1).await?;
    ensure!(against.status == 409, "no more receipts against a closed delivery: {against:?}");
    let before_late = central.level(PEGASUS, "SH-01").await?.0;
    ensure!(edge.post("/api/v1/receipts", json!({"location": "RCV", "gtin": PEGASUS_GTIN, "qty": 1})).await?.status == 201);
    edge.wait_synced(Duration::from_secs(30)).await?;
    ensure!(central.level(PEGASUS, "SH-01").await?.0 == before_late + 1, "the late pair is stock");
    let after = central.get(&format!("/api/v1/purchase-orders/{id2}")).await?.ok()?;
    ensure!(after["lines"][0]["accepted"] == 2 && after["asns"][0]["state"] == "closed", "the closed order is not counted on: {after}");

    // An exited supplier's credential stops working.
    call(central, Method::POST, "/api/v1/suppliers/ADIDAS-CN/steps", ADMIN, None, Some(json!({"step": "exit", "reason": "contract ended"}))).await?.ok()?;
    let gone = call(central, Method::GET, "/api/v1/supplier/purchase-orders", ADIDAS, None, None).await?;
    ensure!(gone.status == 401, "{gone:?}");
    // Nothing has shipped from SH-01: no history, no forecast, nothing suggested.
    let suggested = central.get("/api/v1/replenishment/suggestions?warehouse=SH-01").await?.ok()?;
    ensure!(suggested.as_array().is_some_and(Vec::is_empty), "{suggested}");
    let policy = central.get("/api/v1/replenishment/policy").await?.ok()?;
    ensure!(policy["service_level"] == 0.95 && policy["review_days"] == 7, "{policy}");
    // SF bills ¥55.00 of inbound freight on the first order: it goes onto its 11 pairs, all
    // still on the shelf (¥5.00 each), and is owed to SF. A first try without a key changes
    // nothing.
    let landed = json!({"amount": 5_500, "payee": "SF", "reference": "SF-IN-1"});
    let unkeyed = call(central, Method::POST, &format!("/api/v1/purchase-orders/{id}/landed-costs"), ADMIN, None, Some(landed.clone())).await?;
    ensure!(unkeyed.status == 400, "{unkeyed:?}");
    let booked = call(central, Method::POST, &format!("/api/v1/purchase-orders/{id}/landed-costs"), ADMIN, Some("landed-sf-1"), Some(landed.clone())).await?;
    ensure!(booked.status == 201, "{booked:?}");
    let again = call(central, Method::POST, &format!("/api/v1/purchase-orders/{id}/landed-costs"), ADMIN, Some("landed-sf-1"), Some(landed)).await?;
    ensure!(again.status == 201 && again.replayed.as_deref() == Some("true"), "the same key books it once: {again:?}");
    crate::journal::check_journal(central).await?;

    // The books, which beancount checks: 13 pairs received on orders at their ¥400, the late
    // pair at the Pegasus's standard ¥410; the matched invoice moved its 11 from goods received
    // not invoiced to what is owed Nike, and paying it from the bank settled that.
    let books = check_books(central).await?;
    let account = |name: &str| books.get(name).copied().unwrap_or(0);
    ensure!(account("Assets:Inventory:SH-01") == 13 * 40_000 + 41_000 + 5_500, "{books:?}");
    ensure!(account("Liabilities:Payable:Carrier:SF") == -5_500, "{books:?}");
    ensure!(account("Liabilities:GoodsReceivedNotInvoiced") == -(13 * 40_000) + 11 * 40_000, "two ordered pairs not invoiced yet: {books:?}");
    ensure!(account("Liabilities:GoodsReceivedNotInvoiced:Unordered") == -41_000, "the pair beyond the order is owed on no order: {books:?}");
    ensure!(account("Liabilities:Payable:Supplier:NIKECN") == 0 && account("Assets:Bank") == -440_000, "{books:?}");
    ensure!(account("Expenses:PurchasePriceVariance") == 0, "{books:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purchase_order_is_confirmed_shipped_received_with_qc_and_matched_on_sqlite() -> Result<()> {
    story(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purchase_order_is_confirmed_shipped_received_with_qc_and_matched_on_postgres() -> Result<()> {
    story(Backend::Postgres).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suppliers_submit_price_lists_and_items_that_take_effect_only_when_hq_accepts_on_sqlite() -> Result<()> {
    submissions(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suppliers_submit_price_lists_and_items_that_take_effect_only_when_hq_accepts_on_postgres() -> Result<()> {
    submissions(Backend::Postgres).await
}

/// Nike submits a price list for the Pegasus and offers a new colour; HQ's queue shows both,
/// Adidas sees neither. The list takes effect when HQ accepts it; the item becomes a draft SKU
/// with Nike's price; a list naming a SKU we do not carry cannot be accepted and changes
/// nothing; a decided submission stays decided.
async fn submissions(backend: Backend) -> Result<()> {
    let world = World::start_on(backend, &[]).await?;
    let central = &world.central;
    onboard(central, "NIKE-CN", NIKE).await?;
    onboard(central, "ADIDAS-CN", ADIDAS).await?;
    let terms = |cost: i64| json!({"supplier_sku": "DH4071-100-42", "cost": cost, "moq": 6, "lead_time_days": 7, "valid_from_ms": 0});
    let submit = |key: &'static str, body: Value| call(central, Method::POST, "/api/v1/supplier/submissions", NIKE, Some(key), Some(body));
    let list = json!({"reference": "PL-2027", "submitted": {"kind": "price_list", "lines": [{"sku": PEGASUS, "terms": terms(39_000)}]}});
    let listed = submit("s-1", list.clone()).await?.ok()?;
    ensure!(listed["state"] == "pending" && listed["supplier"] == "NIKE-CN", "{listed}");
    let again = submit("s-2", list).await?;
    ensure!(again.status == 409, "a reference twice: {again:?}");
    let volt = json!({"name": "Pegasus 39 volt", "brand": "Nike", "gtin": "1958661388885", "gender": "men", "colour": "volt", "size": "EU 42", "terms": terms(41_000)});
    let offered = submit("s-3", json!({"reference": "NEW-VOLT", "submitted": {"kind": "item", "item": volt}})).await?.ok()?;
    let stranger = json!({"reference": "PL-X", "submitted": {"kind": "price_list", "lines": [{"sku": "NOT-OURS-1", "terms": terms(1_000)}]}});
    let unknown = submit("s-4", stranger).await?.ok()?;
    let zero = submit("s-5", json!({"reference": "PL-0", "submitted": {"kind": "price_list", "lines": []}})).await?;
    ensure!(zero.status == 422, "{zero:?}");

    let queue = central.get("/api/v1/supplier-submissions?state=pending").await?.ok()?;
    ensure!(queue.as_array().map(Vec::len) == Some(3), "{queue}");
    let theirs = call(central, Method::GET, "/api/v1/supplier/submissions", ADIDAS, None, None).await?.ok()?;
    ensure!(theirs.as_array().is_some_and(Vec::is_empty), "another supplier's submissions: {theirs}");
    let prices_path = format!("/api/v1/suppliers/NIKE-CN/prices?sku={PEGASUS}");
    let prices = || central.get(&prices_path);
    ensure!(prices().await?.ok()?.as_array().is_some_and(Vec::is_empty), "nothing in force before HQ decides");

    let decide = |id: &Value, body: Value| {
        let path = format!("/api/v1/supplier-submissions/{id}/decision");
        async move { call(central, Method::POST, &path, ADMIN, None, Some(body)).await }
    };
    let accepted = decide(&listed["id"], json!({"accept": true, "note": "agreed at the review"})).await?.ok()?;
    ensure!(accepted["state"] == "accepted", "{accepted}");
    let now = prices().await?.ok()?;
    ensure!(now.as_array().map(Vec::len) == Some(1) && now[0]["terms"]["cost"] == 39_000, "{now}");
    let twice = decide(&listed["id"], json!({"accept": false, "note": "changed our mind"})).await?;
    ensure!(twice.status == 422, "decided once: {twice:?}");
    let refused = decide(&unknown["id"], json!({"accept": true, "note": "?"})).await?;
    ensure!(refused.status == 422 && refused.body["detail"].as_str().is_some_and(|d| d.contains("NOT-OURS-1")), "{refused:?}");
    let bare = decide(&offered["id"], json!({"accept": true, "note": "yes"})).await?;
    ensure!(bare.status == 422, "an item needs its listing: {bare:?}");
    let listing = json!({"sku": "PEG39-M-VLT-42", "spu_id": "PEG39", "price": 89_900});
    let taken = decide(&offered["id"], json!({"accept": true, "note": "for the spring range", "listing": listing})).await?.ok()?;
    ensure!(taken["state"] == "accepted" && taken["sku"] == "PEG39-M-VLT-42", "{taken}");
    let sku = central.get("/api/v1/skus/PEG39-M-VLT-42").await?.ok()?;
    ensure!(sku["state"] == "draft" && sku["cost"] == 41_000, "{sku}");
    ensure!(sku["suppliers"][0]["supplier"] == "NIKE-CN" && sku["suppliers"][0]["terms"]["cost"] == 41_000, "{sku}");
    let mine = call(central, Method::GET, "/api/v1/supplier/submissions?state=accepted", NIKE, None, None).await?.ok()?;
    ensure!(mine.as_array().map(Vec::len) == Some(2), "{mine}");

    // Nike exits with an order sent and nothing shipped: the order is cancelled with it.
    central.add_warehouse("SH-01", "Shanghai").await?;
    let po = json!({"supplier": "NIKE-CN", "warehouse": "SH-01", "lines": [{"sku": PEGASUS, "qty": 12}]});
    let order = call(central, Method::POST, "/api/v1/purchase-orders", ADMIN, Some("po-exit"), Some(po)).await?.ok()?;
    let id = order["id"].as_u64().context("po id")?;
    call(central, Method::POST, &format!("/api/v1/purchase-orders/{id}/approve"), ADMIN, None, None).await?.ok()?;
    call(central, Method::POST, "/api/v1/suppliers/NIKE-CN/steps", ADMIN, None, Some(json!({"step": "exit", "reason": "contract ended"}))).await?.ok()?;
    let after = central.get(&format!("/api/v1/purchase-orders/{id}")).await?.ok()?;
    ensure!(after["state"] == "cancelled" && after["reason"].as_str().is_some_and(|r| r.contains("contract ended")), "{after}");
    Ok(())
}
