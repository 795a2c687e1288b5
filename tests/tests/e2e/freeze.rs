//! A recall at a real edge: SH-01 receives two lots of the Pegasus (4 of LOT-R, 6 of LOT-K).
//! The supervisor freezes LOT-R: central's sellable drops by its 4 pairs as soon as the edge
//! has synced, nothing moves out of the lot, and a second freeze of it is refused. Lifting it
//! (with a reason) brings the 4 pairs back at central. Bad requests change nothing.

use crate::helpers::*;
use anyhow::{ensure, Result};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_lot_is_not_sellable_at_central_until_it_is_lifted_on_sqlite() -> Result<()> {
    a_frozen_lot_is_not_sellable_at_central_until_it_is_lifted(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_lot_is_not_sellable_at_central_until_it_is_lifted_on_postgres() -> Result<()> {
    a_frozen_lot_is_not_sellable_at_central_until_it_is_lifted(Backend::Postgres).await
}

async fn a_frozen_lot_is_not_sellable_at_central_until_it_is_lifted(backend: Backend) -> Result<()> {
    let world = World::start_on(backend, &[("SH-01", "Shanghai")]).await?;
    let (central, sh) = (&world.central, world.edge("SH-01"));
    let gtin14 = format!("0{PEGASUS_GTIN}");
    sh.add_location("A-01-02").await?;
    sh.post("/api/v1/receipts", json!({"location": "A-01-01", "scan": format!("(01){gtin14}(10)LOT-R"), "qty": 4})).await?.ok()?;
    sh.post("/api/v1/receipts", json!({"location": "A-01-01", "scan": format!("(01){gtin14}(10)LOT-K"), "qty": 6})).await?.ok()?;
    sh.wait_synced(Duration::from_secs(20)).await?;
    ensure!(central.level(PEGASUS, "SH-01").await?.3 == 10, "ten pairs sellable before the recall");

    for bad in [
        json!({"sku": PEGASUS, "lot": "LOT-R"}),
        json!({"sku": PEGASUS, "lot": "LOT-R", "reason": ""}),
        json!({"location": "A-01-01", "sku": PEGASUS, "reason": "both"}),
        json!({"lot": "LOT-R", "reason": "a lot needs its SKU"}),
        json!({"sku": PEGASUS, "reason": "recall", "colour": "red"}),
    ] {
        let reply = sh.post("/api/v1/freezes", bad.clone()).await?;
        ensure!(reply.status == 422 || reply.status == 400, "{bad} → {reply:?}");
    }
    let unknown = sh.post("/api/v1/freezes", json!({"location": "Z-99-99", "reason": "count"})).await?;
    ensure!(unknown.status == 404, "{unknown:?}");
    ensure!(sh.get("/api/v1/freezes").await?.ok()?.as_array().is_some_and(Vec::is_empty), "bad requests froze nothing");

    let freeze = sh.post("/api/v1/freezes", json!({"sku": PEGASUS, "lot": "LOT-R", "reason": "supplier recall R-17"})).await?.ok()?;
    ensure!(freeze["scope"] == "lot" && freeze["units"] == 4 && freeze["frozen_by"].is_string(), "{freeze}");
    let again = sh.post("/api/v1/freezes", json!({"sku": PEGASUS, "lot": "LOT-R", "reason": "twice"})).await?;
    ensure!(again.status == 409, "{again:?}");
    let out = json!({"from": "A-01-01", "to": "A-01-02", "code": format!("(01){gtin14}(10)LOT-R"), "qty": 1});
    let moved = sh.post("/api/v1/moves", out.clone()).await?;
    ensure!(moved.status == 409, "nothing moves out of a frozen lot: {moved:?}");
    sh.wait_synced(Duration::from_secs(20)).await?;
    let (on_hand, _, _, sellable) = central.level(PEGASUS, "SH-01").await?;
    ensure!((on_hand, sellable) == (10, 6), "on hand still, but not sellable: {on_hand} on hand, {sellable} sellable");

    let id = freeze["id"].as_u64().unwrap_or(0);
    let blank = sh.post(&format!("/api/v1/freezes/{id}/lift"), json!({"reason": "  "})).await?;
    ensure!(blank.status == 422, "a lift needs a reason: {blank:?}");
    let lifted = sh.post(&format!("/api/v1/freezes/{id}/lift"), json!({"reason": "supplier cleared the lot"})).await?.ok()?;
    ensure!(lifted["lifted_ms"].is_i64() && lifted["lift_reason"] == "supplier cleared the lot", "{lifted}");
    ensure!(sh.post(&format!("/api/v1/freezes/{id}/lift"), json!({"reason": "again"})).await?.status == 409);
    sh.wait_synced(Duration::from_secs(20)).await?;
    ensure!(central.level(PEGASUS, "SH-01").await?.3 == 10, "sellable again once lifted");
    sh.post("/api/v1/moves", out).await?.ok()?;
    let all = sh.get("/api/v1/freezes?all=true").await?.ok()?;
    ensure!(all.as_array().map(Vec::len) == Some(1), "{all}");
    Ok(())
}
