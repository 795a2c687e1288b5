//! Marketing across a real central: HQ sets JD's stacking rules and a 10 % margin floor,
//! publishes a tier, is refused a coupon that stacked on it could sell the EU 42 under its
//! floor (told the SKU, the worst price and the stack), publishes it for a later window
//! instead; the shop front prices carts with what is live; bad input changes nothing.

use crate::after_sales;
use crate::helpers::*;
use crate::journal::check_journal;
use crate::payment::PaymentWorld;
use anyhow::{Context, Result};
use serde_json::{json, Value};
use std::time::Duration;
use tote_sim::payment::ChannelKind;

async fn put(central: &Central, path: &str, body: Value) -> Result<Reply> {
    Reply::from(central.http.put(central.url(path)).bearer_auth(ADMIN).json(&body).send().await?).await
}

async fn price(central: &Central, lines: Value) -> Result<Reply> {
    let request = central.http.post(central.url("/api/v1/checkout/price")).bearer_auth(READER).json(&json!({"lines": lines}));
    Reply::from(request.send().await?).await
}

fn now() -> i64 {
    tote_shared::runtime::system::now_ms()
}

async fn promotions_publish_under_their_floors_and_price_carts(backend: Backend) -> Result<()> {
    let world = World::start_on(backend, &[("SH-01", "shanghai")]).await?;
    let central = &world.central;
    let policy = central.get("/api/v1/marketing/policy").await?.ok()?;
    assert_eq!((policy["rules"]["name"].as_str(), policy["shop"].as_str()), (Some("tmall"), Some("tote")), "{policy}");
    let jd = json!({"rules": {"name": "jd", "bases": ["sequential", "sequential", "sequential", "sequential"], "exclusive": [["jd_jingquan", "jd_dongquan"]]},
                    "shop": "tote", "floors": {"min_margin_bp": 1000, "min_list_share_bp": 0}});
    put(central, "/api/v1/marketing/policy", jd).await?.ok()?;

    // The pair sells at ¥899 and cost ¥410: its floor is ¥451.
    let hour = 3_600_000;
    let tier = json!({"layer": "shop_tier", "class": "shop_tier", "shop": "tote", "benefit": {"type": "tiers", "tiers": [{"threshold": 80_000, "off": 8_000}]},
                      "starts_ms": now() - 1_000, "ends_ms": now() + hour});
    let published = put(central, "/api/v1/marketing/promotions/tier-800-80", tier).await?.ok()?;
    assert_eq!((published["id"].as_str(), published["state"].as_str()), (Some("tier-800-80"), Some("live")), "{published}");
    let coupon = |starts_ms: i64| json!({"layer": "shop_coupon", "class": "shop_coupon", "shop": "tote", "benefit": {"type": "coupon", "threshold": 60_000, "off": 40_000},
                                        "starts_ms": starts_ms, "ends_ms": starts_ms + hour});
    let refused = put(central, "/api/v1/marketing/promotions/coupon-600-400", coupon(now())).await?;
    assert_eq!(refused.status, 422, "{}", refused.body);
    let why = refused.body["detail"].as_str().unwrap_or("");
    assert!(why.contains("PEG39-M-WHT-42 could sell at ¥419.00 under its floor of ¥451.00 (with tier-800-80 + coupon-600-400)"), "{why}");
    let listed = central.get("/api/v1/marketing/promotions").await?.ok()?;
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "nothing of the refused coupon was kept: {listed}");
    // Alone, after the tier's window, it keeps the floor (¥899 − 400 = ¥499).
    put(central, "/api/v1/marketing/promotions/coupon-600-400", coupon(now() + 2 * hour)).await?.ok()?;

    // The shop front: two pairs, the tier live, the coupon not yet.
    let priced = price(central, json!([{"sku": PEGASUS, "qty": 2}])).await?.ok()?;
    assert_eq!((priced["subtotal"].as_i64(), priced["payable"].as_i64()), (Some(179_800), Some(171_800)), "{priced}");
    assert_eq!(priced["applied"], json!([{"promotion": "tier-800-80", "layer": "shop_tier", "discount": 8_000}]));
    assert_eq!(priced["lines"][0]["discounts"], json!([{"promotion": "tier-800-80", "amount": 8_000}]));
    let two = price(central, json!([{"sku": PEGASUS, "qty": 1}, {"sku": "PEG39-M-WHT-43", "qty": 1}])).await?.ok()?;
    let shares: Vec<i64> = two["lines"].as_array().context("lines")?.iter().map(|l| l["discounts"][0]["amount"].as_i64().unwrap_or(0)).collect();
    assert_eq!(shares, [4_000, 4_000], "the ¥80 shared over the two pairs");

    let withdrawn = central.post("/api/v1/marketing/promotions/tier-800-80/withdraw", json!({})).await?.ok()?;
    assert_eq!(withdrawn["state"], "withdrawn");
    let full = price(central, json!([{"sku": PEGASUS, "qty": 1}])).await?.ok()?;
    assert_eq!((full["payable"].as_i64(), full["applied"].as_array().map(Vec::len)), (Some(89_900), Some(0)), "{full}");

    // Bad input: a precise 4xx, nothing changed.
    for (lines, why) in [
        (json!([{"sku": "NOPE-1", "qty": 1}]), "not in the catalog"),
        (json!([{"sku": PEGASUS, "qty": 1}, {"sku": PEGASUS, "qty": 2}]), "each SKU once"),
        (json!([]), "1 to 200 lines"),
    ] {
        let reply = price(central, lines.clone()).await?;
        assert_eq!(reply.status, 422, "{lines}: {}", reply.body);
        assert!(reply.body.to_string().contains(why), "{lines}: {}", reply.body);
    }
    assert_eq!(price(central, json!([{"sku": PEGASUS, "qty": 0}])).await?.status, 422, "no zero quantity");
    let wrong = json!({"layer": "item", "class": "x", "benefit": {"type": "coupon", "threshold": 0, "off": 1}, "starts_ms": 0, "ends_ms": 1});
    let reply = put(central, "/api/v1/marketing/promotions/wrong", wrong).await?;
    assert!(reply.status == 422 && reply.body.to_string().contains("does not fit its layer"), "{}", reply.body);
    let backwards = json!({"layer": "cross_store", "class": "x", "benefit": {"type": "coupon", "threshold": 0, "off": 1}, "starts_ms": 5, "ends_ms": 5});
    assert_eq!(put(central, "/api/v1/marketing/promotions/backwards", backwards).await?.status, 422);
    assert_eq!(central.post("/api/v1/marketing/promotions/nobody/withdraw", json!({})).await?.status, 404);
    let reader = central.http.put(central.url("/api/v1/marketing/promotions/x")).bearer_auth(READER).json(&json!({})).send().await?;
    assert_eq!(reader.status().as_u16(), 403, "a reader cannot publish");
    let listed = central.get("/api/v1/marketing/promotions").await?.ok()?;
    let ids: Vec<&str> = listed.as_array().context("list")?.iter().filter_map(|p| p["id"].as_str()).collect();
    assert_eq!(ids, ["coupon-600-400", "tier-800-80"]);
    let audit = central.get("/api/v1/audit").await?.ok()?.to_string();
    assert!(audit.contains("promotion_published") && audit.contains("promotion_withdrawn") && audit.contains("marketing_policy_set"), "HQ's hand is on record");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promotions_publish_under_their_floors_and_price_carts_on_sqlite() -> Result<()> {
    promotions_publish_under_their_floors_and_price_carts(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promotions_publish_under_their_floors_and_price_carts_on_postgres() -> Result<()> {
    promotions_publish_under_their_floors_and_price_carts(Backend::Postgres).await
}

/// A campaign's coupon from issue to refund, across real daemons: HQ publishes a tier and a
/// coupon of ten uses, one per customer; a runner who bought the Pegasus in EU 42 falls into
/// the segment and the campaign sends them a code (HQ issues them a second). The shop front prices two pairs
/// with one code; an order naming a total that no longer holds is refused and takes nothing;
/// the order at the shown total takes the code (its lines keep their discounts), the second
/// code is refused, and the order is paid, shipped and one pair returned: the channel refunds
/// exactly that pair's share of what was paid, the invoice and the journal agree, and the
/// campaign's ROI shows the order's revenue, discount and margin.
async fn a_coupon_order_is_paid_and_refunded_at_its_price(backend: Backend) -> Result<()> {
    let w = PaymentWorld::start(backend, 11).await?;
    let central = w.central();
    let hour = 3_600_000;
    let tier = json!({"layer": "shop_tier", "class": "shop_tier", "shop": "tote", "benefit": {"type": "tiers", "tiers": [{"threshold": 80_000, "off": 8_000}]},
                      "starts_ms": now() - 1_000, "ends_ms": now() + hour});
    put(central, "/api/v1/marketing/promotions/tier-800-80", tier).await?.ok()?;
    let coupon = json!({"layer": "platform", "class": "platform", "benefit": {"type": "coupon", "threshold": 0, "off": 5_000},
                        "starts_ms": now() - 1_000, "ends_ms": now() + hour, "coupon": {"limit_total": 10, "limit_per_user": 1}});
    let published = put(central, "/api/v1/marketing/promotions/run-50", coupon).await?.ok()?;
    assert_eq!(published["coupon"], json!({"limit_total": 10, "limit_per_user": 1, "issued": 0, "redeemed": 0}), "{published}");

    // The campaign: runners who bought the Pegasus in EU 42 get the coupon.
    after_sales::shipped_order(&w, "first-pair", "runner-7", PEGASUS, ChannelKind::Wechat).await?;
    let segment = json!({"bought_spu": "PEG39", "size": "EU 42"});
    put(central, "/api/v1/marketing/segments/pegasus-42", segment).await?.ok()?;
    let members = eventually("runner-7 in the segment", Duration::from_secs(20), || async {
        let m = Reply::from(central.http.get(central.url("/api/v1/marketing/segments/pegasus-42/members")).bearer_auth(ADMIN).send().await?).await?.ok()?;
        Ok((m == json!(["runner-7"])).then_some(m))
    })
    .await?;
    assert_eq!(members, json!(["runner-7"]), "the runner who bought, nobody else");
    let campaign = json!({"name": "Pegasus 39: the next pair", "segment": "pegasus-42", "coupon": "run-50"});
    put(central, "/api/v1/marketing/campaigns/peg39-next", campaign).await?.ok()?;
    let sent = central.post("/api/v1/marketing/campaigns/peg39-next/send", json!({})).await?.ok()?;
    assert_eq!((sent.as_array().map(Vec::len), sent[0]["customer"].as_str()), (Some(1), Some("runner-7")), "{sent}");
    let again = central.post("/api/v1/marketing/campaigns/peg39-next/send", json!({})).await?.ok()?;
    assert_eq!(again, json!([]), "nobody gets it twice");
    // The campaign's coupon is for its segment only: a bearer code in a stranger's hands is
    // refused, in a member's it works.
    let targeted = json!({"layer": "platform", "class": "platform", "benefit": {"type": "coupon", "threshold": 0, "off": 5_000}, "segment": "pegasus-42",
                          "starts_ms": now() - 1_000, "ends_ms": now() + hour, "coupon": {"limit_total": 10, "limit_per_user": 1}});
    put(central, "/api/v1/marketing/promotions/run-50", targeted).await?.ok()?;
    let bearer = central.post("/api/v1/marketing/promotions/run-50/codes", json!({"count": 1})).await?;
    let bearer = bearer.body["codes"][0].as_str().context("a bearer code")?.to_owned();
    let one = |customer: &str| json!({"lines": [{"sku": PEGASUS, "qty": 1}], "customer": customer, "coupons": [bearer]});
    let outsider = Reply::from(central.http.post(central.url("/api/v1/checkout/price")).bearer_auth(READER).json(&one("someone")).send().await?).await?;
    assert!(outsider.status == 422 && outsider.body["detail"].as_str().is_some_and(|d| d.contains("segment pegasus-42")), "{}", outsider.body);
    let member = Reply::from(central.http.post(central.url("/api/v1/checkout/price")).bearer_auth(READER).json(&one("runner-7")).send().await?).await?.ok()?;
    assert_eq!(member["payable"].as_i64(), Some(89_900 - 8_000 - 5_000), "the tier and the coupon: {member}");
    let issued = central.post("/api/v1/marketing/promotions/run-50/codes", json!({"count": 1, "customer": "runner-7"})).await?;
    assert_eq!(issued.status, 201, "{}", issued.body);
    let codes = [sent[0]["code"].as_str().context("code")?.to_owned(), issued.body["codes"][0].as_str().context("code")?.to_owned()];

    let cart = |customer: &str, code: &str| json!({"lines": [{"sku": PEGASUS, "qty": 2}], "customer": customer, "coupons": [code]});
    let quote = Reply::from(central.http.post(central.url("/api/v1/checkout/price")).bearer_auth(READER).json(&cart("runner-7", &codes[0])).send().await?).await?.ok()?;
    assert_eq!((quote["subtotal"].as_i64(), quote["payable"].as_i64()), (Some(179_800), Some(166_800)), "{quote}");
    let stranger = Reply::from(central.http.post(central.url("/api/v1/checkout/price")).bearer_auth(READER).json(&cart("someone", &codes[0])).send().await?).await?;
    assert!(stranger.status == 409 && stranger.body["detail"].as_str().is_some_and(|d| d.contains("another customer")), "{}", stranger.body);

    let mut body = order_body(PEGASUS, 2, "Shanghai");
    body["customer"] = json!("runner-7");
    body["coupons"] = json!([codes[0]]);
    body["expected_total"] = json!(171_800);
    let stale = central.create_order("coupon-stale", &body).await?;
    assert!(stale.status == 409 && stale.body["detail"].as_str().is_some_and(|d| d.contains("166800 now, 171800 was shown")), "{}", stale.body);
    let held = Reply::from(central.http.get(central.url("/api/v1/marketing/promotions/run-50/codes")).bearer_auth(ADMIN).send().await?).await?.ok()?;
    assert!(held.as_array().context("codes")?.iter().all(|c| c["state"] == "available"), "a refused order takes no code: {held}");

    body["expected_total"] = json!(166_800);
    let order = central.create_order("coupon-order", &body).await?.ok()?;
    let order_id = order["id"].as_u64().context("id")?;
    assert_eq!((order["total"].as_i64(), order["lines"][0]["discount"].as_i64()), (Some(166_800), Some(13_000)), "{order}");
    assert_eq!(order["lines"][0]["discounts"], json!([{"promotion": "tier-800-80", "amount": 8_000}, {"promotion": "run-50", "amount": 5_000}]));
    body["coupons"] = json!([codes[1]]);
    body["expected_total"] = json!(null);
    body["ship_to"]["line1"] = json!("9 Another Road");
    let second = central.create_order("coupon-again", &body).await?;
    assert!(second.status == 409 && second.body["detail"].as_str().is_some_and(|d| d.contains("1 per customer")), "{}", second.body);
    let record = central.get("/api/v1/marketing/promotions?state=live").await?.ok()?;
    let run = record.as_array().context("list")?.iter().find(|p| p["id"] == "run-50").context("run-50")?;
    assert_eq!((run["coupon"]["issued"].as_i64(), run["coupon"]["redeemed"].as_i64()), (Some(3), Some(1)), "{run}");

    // Paid, shipped, one pair back: its exact share of ¥1,668.00.
    let payment = w.start_payment(order_id, ChannelKind::Alipay).await?.ok()?;
    assert_eq!(payment["amount_minor"].as_i64(), Some(166_800), "{payment}");
    let trade = payment["out_trade_no"].as_str().context("out_trade_no")?.to_owned();
    w.sim.pay(ChannelKind::Alipay, &trade)?;
    w.ship(order_id).await?;
    let ask = json!({"kind": "return_refund", "reason": "changed_mind", "lines": [{"sku": PEGASUS, "qty": 1}]});
    let request = after_sales::ask(central, order_id, "coupon-return", ask).await?.ok()?;
    assert_eq!(request["lines"][0]["unit_price"].as_i64(), Some(83_400), "paid per unit: {request}");
    let id = request["id"].as_u64().context("id")?;
    after_sales::check_in(w.world.edge("SH-01"), request["rma"].as_str().context("rma")?, &[(PEGASUS_GTIN, true, "")]).await?;
    after_sales::wait_request(central, id, "completed").await?;
    assert_eq!(w.sim.refunded_minor(ChannelKind::Alipay, &trade), 83_400, "half of what was paid, not half the list price");
    let invoices = eventually("the blue and red invoices", Duration::from_secs(20), || async {
        let list = central.get(&format!("/api/v1/orders/{order_id}/invoices")).await?.ok()?;
        Ok((list.as_array().map(Vec::len) == Some(2)).then_some(list))
    })
    .await?;
    let amounts: Vec<i64> = invoices.as_array().context("invoices")?.iter().filter_map(|i| i["totals"]["amount_minor"].as_i64()).collect();
    assert_eq!(amounts, [166_800, -83_400], "invoiced at the price paid: {invoices}");
    assert_eq!(invoices[0]["lines"][0]["discount_minor"].as_i64(), Some(13_000));
    // The campaign's return: the order's revenue as it shipped, the pair refunded, the
    // coupon's ¥50, the cost of the pair kept (¥410): margin ¥424.00, 8.48 per yuan of discount.
    let today = tote_shared::calendar::utc_day(now());
    let yesterday = tote_shared::calendar::utc_day(now() - 86_400_000);
    let path = format!("/api/v1/marketing/campaigns/peg39-next/roi?from={yesterday}&to={today}");
    let roi = eventually("the campaign's figures", Duration::from_secs(20), || async {
        let r = central.get(&path).await?.ok()?;
        Ok((r["total"]["refunded"].as_i64() == Some(83_400) && r["total"]["cost"].as_i64() == Some(41_000)).then_some(r))
    })
    .await?;
    let total = &roi["total"];
    assert_eq!((total["redemptions"].as_i64(), total["discount"].as_i64(), total["revenue"].as_i64()), (Some(1), Some(5_000), Some(166_800)), "{roi}");
    assert_eq!((total["margin"].as_i64(), total["roi"].as_f64()), (Some(42_400), Some(8.48)), "{roi}");
    let events = check_journal(central).await?;
    let redeemed: Vec<&Value> = events.iter().filter(|e| e.kind() == "coupon_redeemed").map(|e| &e.event).collect();
    assert_eq!(redeemed, [&json!({"type": "coupon_redeemed", "order_id": order_id, "promotion": "run-50", "discount": 5_000})]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coupon_order_is_paid_and_refunded_at_its_price_on_sqlite() -> Result<()> {
    a_coupon_order_is_paid_and_refunded_at_its_price(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coupon_order_is_paid_and_refunded_at_its_price_on_postgres() -> Result<()> {
    a_coupon_order_is_paid_and_refunded_at_its_price(Backend::Postgres).await
}

/// Membership and points across a real central: HQ puts silver within a pair's reach and a
/// member price on the Pegasus; a runner's paid pair lifts them to silver at once (the member
/// price opens to them, not to a stranger); the carrier's delivery push earns them silver's
/// points, shown locked on their membership, and the shop front is refused spending them until
/// the order completes. The journal tells it, under the customer.
async fn points_are_earned_on_delivery_and_locked_until_the_order_completes(backend: Backend) -> Result<()> {
    use crate::after_sales::shipped_order;
    use crate::logistics::{cst_in, kuaidi100_param, kuaidi100_sign, push};
    let w = PaymentWorld::start_tracked(backend, 53).await?;
    let central = w.central();
    let mut policy = central.get("/api/v1/marketing/policy").await?.ok()?;
    assert_eq!(policy["membership"]["tiers"][1]["name"], "silver", "{policy}");
    policy["membership"]["tiers"][1]["min_spend"] = json!(80_000);
    put(central, "/api/v1/marketing/policy", policy).await?.ok()?;
    let member_price = json!({"layer": "item", "class": "member", "skus": [PEGASUS], "benefit": {"type": "unit_price", "price": 79_900}, "tier": "silver",
                              "starts_ms": now() - 1_000, "ends_ms": now() + 3_600_000});
    put(central, "/api/v1/marketing/promotions/peg-silver", member_price).await?.ok()?;
    let unknown_tier = json!({"layer": "item", "class": "member", "benefit": {"type": "percent_off", "bp": 500}, "tier": "platinum", "starts_ms": now(), "ends_ms": now() + 1_000});
    assert_eq!(put(central, "/api/v1/marketing/promotions/peg-platinum", unknown_tier).await?.status, 422, "a tier the policy does not have");

    let (order_id, _) = shipped_order(&w, "points-pair", "li", PEGASUS, ChannelKind::Wechat).await?;
    let membership = "/api/v1/marketing/customers/li/membership";
    let li = eventually("Li at silver", Duration::from_secs(20), || async {
        let m = admin_get(central, membership).await?;
        Ok((m["tier"] == "silver").then_some(m))
    })
    .await?;
    assert_eq!((li["spend_12m"].as_i64(), li["points"].as_i64()), (Some(89_900), Some(0)), "{li}");
    let cart = |customer: &str, points: i64| json!({"lines": [{"sku": PEGASUS, "qty": 1}], "customer": customer, "points": points});
    let quote = |body: Value| async move { Reply::from(central.http.post(central.url("/api/v1/checkout/price")).bearer_auth(READER).json(&body).send().await?).await };
    assert_eq!(quote(cart("li", 0)).await?.ok()?["payable"].as_i64(), Some(79_900), "silver's member price");
    assert_eq!(quote(cart("stranger", 0)).await?.ok()?["payable"].as_i64(), Some(89_900));

    let waybill = format!("SF{order_id}");
    let (taken, signed) = (cst_in(0), cst_in(1));
    let delivered = kuaidi100_param(&waybill, "3", &[(&signed, "签收", "已签收，签收人：本人"), (&taken, "揽收", "顺丰速运 已收取快件")]);
    assert_eq!(push(central, &delivered, &kuaidi100_sign(&delivered)?).await?.status.as_u16(), 200);
    w.wait_order_state(order_id, "delivered").await?;
    let li = eventually("Li's points", Duration::from_secs(20), || async {
        let m = admin_get(central, membership).await?;
        Ok((m["points"].as_i64() == Some(1_078)).then_some(m))
    })
    .await?;
    assert_eq!((li["available"].as_i64(), li["lots"][0]["order_id"].as_u64(), li["lots"][0]["unlocked_ms"].clone()), (Some(0), Some(order_id), Value::Null), "¥899 at 1.2 a yuan, locked: {li}");
    let spend = quote(cart("li", 100)).await?;
    assert!(spend.status == 409 && spend.body["type"].as_str().is_some_and(|t| t.ends_with("points")), "locked points are not spent: {}", spend.body);
    let nobody = Reply::from(central.http.get(central.url("/api/v1/marketing/customers/nobody/membership")).bearer_auth(ADMIN).send().await?).await?;
    assert_eq!(nobody.status, 404);

    let events = check_journal(central).await?;
    let li_events: Vec<&str> = events.iter().filter(|e| e.subject == "customer:li").map(|e| e.kind()).collect();
    assert_eq!(li_events, ["member_tier_changed", "points_earned"]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn points_are_earned_on_delivery_and_locked_until_the_order_completes_on_sqlite() -> Result<()> {
    points_are_earned_on_delivery_and_locked_until_the_order_completes(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn points_are_earned_on_delivery_and_locked_until_the_order_completes_on_postgres() -> Result<()> {
    points_are_earned_on_delivery_and_locked_until_the_order_completes(Backend::Postgres).await
}

/// A one-pair order of group buy `peg-trio` (a new group, or `group`), paid through Alipay:
/// its id and trade.
async fn group_order(w: &PaymentWorld, key: &str, customer: &str, group: Option<u64>) -> Result<(u64, String)> {
    let mut body = order_body(PEGASUS, 1, "Shanghai");
    body["customer"] = json!(customer);
    body["group_buy"] = json!("peg-trio");
    body["group"] = json!(group);
    let order = w.central().create_order(key, &body).await?.ok()?;
    let id = order["id"].as_u64().context("id")?;
    assert_eq!(order["total"].as_i64(), Some(69_900), "the group price: {order}");
    let payment = w.start_payment(id, ChannelKind::Alipay).await?.ok()?;
    let trade = payment["out_trade_no"].as_str().context("out_trade_no")?.to_owned();
    w.sim.pay(ChannelKind::Alipay, &trade)?;
    Ok((id, trade))
}

/// A group buy across a real central and payment channel: Li opens a group of three and pays
/// (the order waits, `grouping`); Wang joins, pays, and cancels — the channel refunds him and
/// his seat opens; Zhao and Qian take the seats and Qian's payment forms the group: all three
/// orders go to the warehouse at once and ship. The journal tells it.
async fn a_group_buy_forms_on_its_last_payment_and_a_member_who_leaves_is_refunded(backend: Backend) -> Result<()> {
    let w = PaymentWorld::start(backend, 59).await?;
    let central = w.central();
    let offer = json!({"sku": PEGASUS, "price": 69_900, "size": 3, "window_ms": 3_600_000, "starts_ms": now() - 1_000, "ends_ms": now() + 3_600_000});
    let published = central.http.put(central.url("/api/v1/marketing/group-buys/peg-trio")).bearer_auth(ADMIN).json(&offer).send().await?;
    assert_eq!(published.status(), 201);
    let (li, _) = group_order(&w, "trio-li", "li", None).await?;
    w.wait_order_state(li, "grouping").await?;
    let open = central.get("/api/v1/marketing/group-buys/peg-trio/groups?state=open").await?.ok()?;
    let group = open[0]["id"].as_u64().context("the open group")?;
    assert_eq!((open[0]["members"].as_i64(), open[0]["paid"].as_i64()), (Some(1), Some(1)), "{open}");

    let (wang, wang_trade) = group_order(&w, "trio-wang", "wang", Some(group)).await?;
    w.wait_order_state(wang, "grouping").await?;
    central.post(&format!("/api/v1/orders/{wang}/cancel"), json!({})).await?.ok()?;
    w.wait_order_state(wang, "cancelled").await?;
    eventually("Wang's refund", Duration::from_secs(20), || async { Ok((w.sim.refunded_minor(ChannelKind::Alipay, &wang_trade) == 69_900).then_some(())) }).await?;
    let after = central.get(&format!("/api/v1/marketing/groups/{group}")).await?.ok()?;
    assert_eq!((after["members"].as_i64(), after["paid"].as_i64(), after["state"].as_str()), (Some(1), Some(1), Some("open")), "his seat opened: {after}");

    let (zhao, _) = group_order(&w, "trio-zhao", "zhao", Some(group)).await?;
    w.wait_order_state(zhao, "grouping").await?;
    let (qian, _) = group_order(&w, "trio-qian", "qian", Some(group)).await?;
    for id in [li, zhao, qian] {
        w.wait_order_state(id, "awaiting_shipment").await?;
    }
    let formed = central.get(&format!("/api/v1/marketing/groups/{group}")).await?.ok()?;
    assert_eq!((formed["state"].as_str(), formed["paid"].as_i64()), (Some("formed"), Some(3)), "{formed}");
    let mut late = order_body(PEGASUS, 1, "Shanghai");
    late["customer"] = json!("sun");
    late["group_buy"] = json!("peg-trio");
    late["group"] = json!(group);
    let refused = central.create_order("trio-sun", &late).await?;
    assert!(refused.status == 409 && refused.body["detail"].as_str().is_some_and(|d| d.contains("formed")), "{}", refused.body);
    w.world.edge("SH-01").fulfil(li, &format!("SF{li}")).await?;
    w.wait_order_state(li, "shipped").await?;

    let events = check_journal(central).await?;
    let fate: Vec<&Value> = events.iter().filter(|e| e.kind().starts_with("group_buy_")).map(|e| &e.event).collect();
    assert_eq!(fate, [&json!({"type": "group_buy_formed", "group_id": group, "offer": "peg-trio", "orders": [li, zhao, qian]})]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_buy_forms_on_its_last_payment_and_a_member_who_leaves_is_refunded_on_sqlite() -> Result<()> {
    a_group_buy_forms_on_its_last_payment_and_a_member_who_leaves_is_refunded(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_buy_forms_on_its_last_payment_and_a_member_who_leaves_is_refunded_on_postgres() -> Result<()> {
    a_group_buy_forms_on_its_last_payment_and_a_member_who_leaves_is_refunded(Backend::Postgres).await
}

async fn admin_get(central: &Central, path: &str) -> Result<Value> {
    Reply::from(central.http.get(central.url(path)).bearer_auth(ADMIN).send().await?).await?.ok()
}

/// HMAC-SHA256 of `message` under `secret`, hex, by OpenSSL (not our code).
fn openssl_hmac(secret: &str, message: &str) -> Result<String> {
    use std::io::Write;
    let mut child = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-hmac", secret])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("openssl (Debian's openssl package; tests/run.sh installs it)")?;
    child.stdin.take().context("stdin")?.write_all(message.as_bytes())?;
    let out = child.wait_with_output()?;
    Ok(String::from_utf8(out.stdout)?.rsplit(' ').next().context("a digest")?.trim().to_owned())
}

/// A campaign's send list reaches the messaging system: written with the send, POSTed signed
/// and keyed; the system's first answer is a 503, the retry (same key) is taken; the delivery
/// shows two attempts; OpenSSL agrees with the signature.
async fn a_send_list_reaches_the_messaging_system_signed_and_once(backend: Backend) -> Result<()> {
    const SECRET: &str = "whsec-tote-messaging-e2e-secret";
    let messaging = tote_sim::messaging::MessagingSim::start(SECRET).await?;
    messaging.fail_next(1);
    let world = World::start_with(backend, &[("SH-01", "shanghai")], 600_000, &messaging.central_config()).await?;
    let central = &world.central;
    world.edge("SH-01").receive("A-01-01", PEGASUS_GTIN, 5).await?;
    world.edge("SH-01").wait_synced(Duration::from_secs(20)).await?;
    let mut body = order_body(PEGASUS, 1, "Shanghai");
    body["customer"] = json!("runner-9");
    let order = central.create_order("webhook-order", &body).await?.ok()?;
    central.post(&format!("/api/v1/orders/{}/pay", order["id"]), json!({})).await?.ok()?;
    let coupon = json!({"layer": "platform", "class": "platform", "benefit": {"type": "coupon", "threshold": 0, "off": 2_000},
                        "starts_ms": now() - 1_000, "ends_ms": now() + 3_600_000, "coupon": {"limit_total": 10, "limit_per_user": 1}});
    put(central, "/api/v1/marketing/promotions/run-20", coupon).await?.ok()?;
    put(central, "/api/v1/marketing/segments/buyers", json!({"min_orders": 1})).await?.ok()?;
    eventually("runner-9 in the segment", Duration::from_secs(20), || async {
        let m = admin_get(central, "/api/v1/marketing/segments/buyers/members").await?;
        Ok((m == json!(["runner-9"])).then_some(()))
    })
    .await?;
    put(central, "/api/v1/marketing/campaigns/buyers-20", json!({"name": "¥20 for buyers", "segment": "buyers", "coupon": "run-20"})).await?.ok()?;
    let sent = central.post("/api/v1/marketing/campaigns/buyers-20/send", json!({})).await?.ok()?;
    let code = sent[0]["code"].as_str().context("code")?.to_owned();

    let delivered = eventually("the send list delivered", Duration::from_secs(30), || async {
        let d = admin_get(central, "/api/v1/marketing/campaigns/buyers-20/deliveries").await?;
        Ok((d[0]["state"] == "delivered").then_some(d))
    })
    .await?;
    assert_eq!((delivered[0]["attempts"].as_i64(), delivered[0]["sends"].as_i64()), (Some(2), Some(1)), "{delivered}");
    assert!(delivered[0]["last_error"].as_str().is_some_and(|e| e.contains("503")), "the failed attempt is kept: {delivered}");
    let arrivals = messaging.arrivals();
    assert_eq!(arrivals.iter().map(|a| (a.status, a.signed, a.repeat)).collect::<Vec<_>>(), [(503, true, false), (200, true, false)]);
    assert_eq!(arrivals[0].key, arrivals[1].key, "the retry carries the first attempt's key");
    let list: Value = serde_json::from_str(&arrivals[1].body)?;
    assert_eq!((list["campaign"].as_str(), list["sends"][0]["customer"].as_str(), list["sends"][0]["code"].as_str()), (Some("buyers-20"), Some("runner-9"), Some(code.as_str())), "{list}");
    let (t, v1) = arrivals[1].signature.split_once(",v1=").context("t=…,v1=…")?;
    let t = t.strip_prefix("t=").context("t=")?;
    assert_eq!(openssl_hmac(SECRET, &format!("{t}.{}", arrivals[1].body))?, v1, "OpenSSL computes the same signature");
    let again = central.post("/api/v1/marketing/campaigns/buyers-20/send", json!({})).await?.ok()?;
    assert_eq!(again, json!([]));
    assert_eq!(admin_get(central, "/api/v1/marketing/campaigns/buyers-20/deliveries").await?.as_array().map(Vec::len), Some(1), "an empty send delivers nothing");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_list_reaches_the_messaging_system_signed_and_once_on_sqlite() -> Result<()> {
    a_send_list_reaches_the_messaging_system_signed_and_once(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_list_reaches_the_messaging_system_signed_and_once_on_postgres() -> Result<()> {
    a_send_list_reaches_the_messaging_system_signed_and_once(Backend::Postgres).await
}
