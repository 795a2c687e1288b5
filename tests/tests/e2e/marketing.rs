//! Marketing across a real central: HQ sets JD's stacking rules and a 10 % margin floor,
//! publishes a tier, is refused a coupon that stacked on it could sell the EU 42 under its
//! floor (told the SKU, the worst price and the stack), publishes it for a later window
//! instead; the shop front prices carts with what is live; bad input changes nothing.

use crate::helpers::*;
use anyhow::{Context, Result};
use serde_json::{json, Value};

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
