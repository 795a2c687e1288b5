//! Product depth over HTTP: HQ defines "Shoes › Running" with its attribute set, a new model's
//! SKU is created as a draft with its attributes (a misfit is a precise 422 and creates
//! nothing), orders for it are refused until it is listed, the buyer sees its cost and
//! suppliers while the shop front sees selling prices only, a clearance price applies while it
//! is in clearance, and once retired the shop front no longer finds it and orders are refused.

use crate::helpers::*;
use crate::journal::check_journal;
use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_goes_from_draft_to_retired_through_both_views_on_sqlite() -> Result<()> {
    a_model_goes_from_draft_to_retired_through_both_views(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_goes_from_draft_to_retired_through_both_views_on_postgres() -> Result<()> {
    a_model_goes_from_draft_to_retired_through_both_views(Backend::Postgres).await
}

const VOMERO: &str = "VOM17-M-BLK-42";

fn keys(v: &Value) -> Vec<String> {
    v.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default()
}

async fn a_model_goes_from_draft_to_retired_through_both_views(backend: Backend) -> Result<()> {
    let world = World::start_on(backend, &[("SH-01", "Shanghai")]).await?;
    let (central, sh) = (&world.central, world.edge("SH-01"));
    let shoes = json!({"id": "SHOES", "name": "Shoes", "attributes": [{"name": "gender", "kind": "choice", "values": ["men", "women"], "required": true}]});
    central.post("/api/v1/categories", shoes).await?.ok()?;
    let running = json!({"id": "RUNNING", "parent": "SHOES", "name": "Running", "attributes": [
        {"name": "size_eu", "kind": "number", "required": true}, {"name": "width", "kind": "choice", "values": ["regular", "wide"]}]});
    let made = central.post("/api/v1/categories", running).await?.ok()?;
    ensure!(made["path"] == "Shoes › Running" && made["attribute_set"].as_array().map(Vec::len) == Some(3), "{made}");
    let lost = central.post("/api/v1/categories", json!({"id": "TRAIL", "parent": "NOPE", "name": "Trail"})).await?;
    ensure!(lost.status == 404, "{lost:?}");
    let tree = central.get("/api/v1/categories").await?.ok()?;
    ensure!(tree.as_array().map(Vec::len) == Some(2), "{tree}");

    let model = json!({"id": "VOM17", "name": "Nike Vomero 17", "brand": "Nike", "category": "RUNNING"});
    central.post("/api/v1/spus", model).await?.ok()?;
    let outside = central.post("/api/v1/spus", json!({"id": "LOOSE", "name": "Loose", "brand": "Nike", "category": "Socks"})).await?;
    ensure!(outside.status == 422, "a model outside the tree: {outside:?}");
    let sku = |attributes: Value| {
        json!({"sku": VOMERO, "spu_id": "VOM17", "gtin": "1958661399997", "gender": "men", "colour": "black", "size": "EU 42",
               "price": 99900, "cost": 45000, "state": "draft", "attributes": attributes})
    };
    let misfit = central.post("/api/v1/skus", sku(json!({"gender": "men", "size_eu": "forty-two"}))).await?;
    ensure!(misfit.status == 422 && misfit.body["detail"].as_str().unwrap_or("").contains("size_eu"), "{misfit:?}");
    let created = central.post("/api/v1/skus", sku(json!({"gender": "men", "size_eu": "42", "width": "regular"}))).await?.ok()?;
    ensure!(created["state"] == "draft" && created["attributes"]["size_eu"] == "42", "{created}");
    sh.wait_for_skus(4).await?;
    sh.receive("A-01-01", "1958661399997", 5).await?;
    sh.wait_synced(Duration::from_secs(20)).await?;

    // A draft is not sold, and the shop front does not know it.
    let draft = central.create_order("vom-1", &order_body(VOMERO, 1, "Shanghai")).await?;
    ensure!(draft.status == 422 && draft.body["type"].as_str().unwrap_or("").ends_with("not-on-sale"), "{draft:?}");
    ensure!(central.get(&format!("/api/v1/shop/skus/{VOMERO}")).await?.status == 404);
    let state_path = format!("/api/v1/skus/{VOMERO}/state");
    let step = |to: &str| central.post(&state_path, json!({"state": to, "reason": "range review"}));
    ensure!(step("clearance").await?.status == 422, "a draft cannot go to clearance");
    step("listed").await?.ok()?;
    let order = central.create_order("vom-2", &order_body(VOMERO, 1, "Shanghai")).await?.ok()?;
    ensure!(order["lines"][0]["unit_price"] == 99900, "{order}");

    // Two views of one source: the buyer's has the cost and the suppliers, the shop front's not.
    let buyer = central.get(&format!("/api/v1/skus/{VOMERO}")).await?.ok()?;
    ensure!(buyer["cost"] == 45000 && buyer["suppliers"].is_array(), "{buyer}");
    let shop = central.get(&format!("/api/v1/shop/skus/{VOMERO}")).await?.ok()?;
    ensure!(!keys(&shop).iter().any(|k| k.contains("cost") || k.contains("supplier")), "the shop front shows no cost: {shop}");
    ensure!(shop["price"] == 99900 && shop["category"] == "Shoes › Running" && shop["brand"] == "Nike" && shop["available"] == 4, "{shop}");

    // Clearance at ¥599, from now: the shop front shows it against the everyday price.
    let now = tote_shared::runtime::system::now_ms();
    let priced = central.post(&format!("/api/v1/skus/{VOMERO}/prices"), json!({"kind": "clearance", "price": 59900, "valid_from_ms": now - 1000, "reason": "end of line"})).await?.ok()?;
    ensure!(priced["selling"] == 99900 && priced["clearance"]["price"] == 59900, "listed: not yet at the clearance price: {priced}");
    let backwards = central.post(&format!("/api/v1/skus/{VOMERO}/prices"), json!({"kind": "member", "price": 1, "valid_from_ms": 10, "valid_until_ms": 5, "reason": "x"})).await?;
    ensure!(backwards.status == 422, "{backwards:?}");
    step("clearance").await?.ok()?;
    let shop = central.get(&format!("/api/v1/shop/skus/{VOMERO}")).await?.ok()?;
    ensure!(shop["price"] == 59900 && shop["list_price"] == 99900 && shop["clearance"] == true, "{shop}");
    let cheap = central.create_order("vom-3", &order_body(VOMERO, 1, "Shanghai")).await?.ok()?;
    ensure!(cheap["lines"][0]["unit_price"] == 59900, "{cheap}");
    let book = central.get(&format!("/api/v1/skus/{VOMERO}/prices")).await?.ok()?;
    ensure!(book["history"].as_array().map(Vec::len) == Some(2) && book["history"][1]["reason"] == "created", "{book}");

    // Retired: gone from the shop front, no more orders, and no way back.
    step("retired").await?.ok()?;
    ensure!(central.get(&format!("/api/v1/shop/skus/{VOMERO}")).await?.status == 404);
    let late = central.create_order("vom-4", &order_body(VOMERO, 1, "Shanghai")).await?;
    ensure!(late.status == 422, "{late:?}");
    ensure!(step("listed").await?.status == 422);
    let journal = check_journal(central).await?;
    let kinds: Vec<&str> = journal.iter().map(|e| e.kind()).filter(|k| k.starts_with("sku_state") || k.starts_with("sku_price")).collect();
    // Listed, into clearance at its price, retired (out of clearance: back to the base price).
    ensure!(kinds == ["sku_state_changed", "sku_state_changed", "sku_price_changed", "sku_state_changed", "sku_price_changed"], "{kinds:?}");
    let first = journal.iter().find(|e| e.kind() == "sku_price_changed").context("a price change")?;
    ensure!(first.event["from"] == 99900 && first.event["to"] == 59900 && first.event["kind"] == "clearance", "{}", first.event);
    Ok(())
}
