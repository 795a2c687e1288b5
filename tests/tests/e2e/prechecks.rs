//! Intake's pre-checks over HTTP, as HQ sets them and a customer meets them: a policy asking
//! for a phone and limiting a flash-sale SKU to one per customer, a double tap refused naming
//! the order it repeats, a blocklisted phone refused with the reason HQ gave, every change of
//! policy and blocklist in the audit log, and no refused order holding stock.

use crate::helpers::*;
use anyhow::{Context, Result};
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pre_checks_refuse_with_the_cause_and_lock_nothing_on_sqlite() -> Result<()> {
    pre_checks_refuse_with_the_cause_and_lock_nothing(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pre_checks_refuse_with_the_cause_and_lock_nothing_on_postgres() -> Result<()> {
    pre_checks_refuse_with_the_cause_and_lock_nothing(Backend::Postgres).await
}

fn order(customer: &str, street: &str, phone: &str) -> Value {
    json!({"channel": "app", "customer": customer, "lines": [{"sku": PEGASUS, "qty": 1}],
           "ship_to": {"name": "Li Wei", "line1": street, "city": "Shanghai", "phone": phone}})
}

fn problem(reply: &Reply) -> String {
    reply.body["type"].as_str().unwrap_or("").rsplit('/').next().unwrap_or("").to_owned()
}

async fn pre_checks_refuse_with_the_cause_and_lock_nothing(backend: Backend) -> Result<()> {
    let world = World::start_on(backend, &[("SH-01", "Shanghai")]).await?;
    let (central, sh) = (&world.central, world.edge("SH-01"));
    sh.receive("A-01-01", PEGASUS_GTIN, 10).await?;
    sh.wait_synced(Duration::from_secs(20)).await?;
    let request = |method: reqwest::Method, path: &str| central.http.request(method, central.url(path)).bearer_auth(ADMIN);

    let policy = json!({"require_phone": true, "duplicate_window_s": 30, "limits": [{"sku": PEGASUS, "max_qty": 1, "window_hours": 24}]});
    Reply::from(request(reqwest::Method::PUT, "/api/v1/orders/checks").json(&policy).send().await?).await?.ok()?;
    let saved = central.get("/api/v1/orders/checks").await?.ok()?;
    assert_eq!((saved["require_phone"].as_bool(), saved["known_region"].as_bool()), (Some(true), Some(true)), "{saved}");
    let twice = json!({"limits": [{"sku": PEGASUS, "max_qty": 1, "window_hours": 1}, {"sku": PEGASUS, "max_qty": 2, "window_hours": 1}]});
    let refused = Reply::from(request(reqwest::Method::PUT, "/api/v1/orders/checks").json(&twice).send().await?).await?;
    assert_eq!((refused.status.as_u16(), problem(&refused).as_str()), (422, "invalid-policy"));

    let no_phone = central.create_order("no-phone", &order("runner", "88 Century Avenue", "")).await?;
    assert_eq!((no_phone.status.as_u16(), problem(&no_phone).as_str()), (422, "incomplete-address"), "{}", no_phone.body);
    let first = central.create_order("first", &order("runner", "88 Century Avenue", "13800138000")).await?.ok()?;
    let first_id = first["id"].as_u64().context("id")?;
    let tap = central.create_order("double-tap", &order("runner", "88 century avenue", "13800138000")).await?;
    assert_eq!((tap.status.as_u16(), problem(&tap).as_str()), (409, "duplicate-order"), "{}", tap.body);
    assert!(tap.body["detail"].as_str().is_some_and(|d| d.contains(&format!("order {first_id}"))), "{}", tap.body);
    let second = central.create_order("second-pair", &order("runner", "1 Bund Road", "13800138000")).await?;
    assert_eq!((second.status.as_u16(), problem(&second).as_str()), (409, "purchase-limit"), "{}", second.body);

    let block = json!({"kind": "phone", "value": "+86 139-0013-9000", "reason": "three chargebacks"});
    let added = Reply::from(request(reqwest::Method::POST, "/api/v1/orders/blocklist").json(&block).send().await?).await?;
    assert_eq!((added.status.as_u16(), added.body["value"].as_str()), (201, Some("13900139000")), "{}", added.body);
    let again = Reply::from(request(reqwest::Method::POST, "/api/v1/orders/blocklist").json(&block).send().await?).await?;
    assert_eq!((again.status.as_u16(), again.body["id"].clone()), (200, added.body["id"].clone()));
    let blocked = central.create_order("blocked", &order("new-face", "5 Huaihai Road", "13900139000")).await?;
    assert_eq!((blocked.status.as_u16(), problem(&blocked).as_str()), (422, "blocklisted"), "{}", blocked.body);
    assert!(blocked.body["detail"].as_str().is_some_and(|d| d.contains("three chargebacks")));
    assert_eq!(central.level(PEGASUS, "SH-01").await?, (10, 1, 0, 9), "only the first order holds stock");

    let id = added.body["id"].as_u64().context("id")?;
    Reply::from(request(reqwest::Method::DELETE, &format!("/api/v1/orders/blocklist/{id}")).send().await?).await?.ok()?;
    assert_eq!(central.get("/api/v1/orders/blocklist").await?.ok()?.as_array().map(Vec::len), Some(0));
    central.create_order("unblocked", &order("new-face", "5 Huaihai Road", "13900139000")).await?.ok()?;
    let gone = Reply::from(request(reqwest::Method::DELETE, &format!("/api/v1/orders/blocklist/{id}")).send().await?).await?;
    assert_eq!(gone.status.as_u16(), 404);

    let audit = central.get("/api/v1/audit?limit=1000").await?.ok()?;
    let actions: Vec<&str> = audit.as_array().context("audit")?.iter().filter_map(|e| e["action"].as_str()).collect();
    for action in ["order_checks_set", "blocklist_add", "blocklist_remove"] {
        assert_eq!(actions.iter().filter(|a| **a == action).count(), 1, "{action} once in {actions:?}");
    }
    Ok(())
}
