//! Orders from a marketplace (must-show 3 of the after-sales issue): a simulated Tmall-style
//! platform sells, central pulls its trades while the shop's connector posts the same order —
//! one order; its shipment is confirmed back once, although the platform's first answer is
//! lost; a trade closed before shipment cancels its order; a trade with a SKU that is not ours
//! is kept as a refused import with why. Finance books the money as held by the marketplace.

use crate::helpers::*;
use anyhow::{Context, Result};
use serde_json::{json, Value};
use std::time::Duration;
use tote_sim::marketplace::{Buyer, MarketplaceConfig, MarketplaceSim, Purchase};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_marketplace_order_imported_twice_is_one_order_confirmed_back_once_on_sqlite() -> Result<()> {
    a_marketplace_order_imported_twice_is_one_order_confirmed_back_once(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_marketplace_order_imported_twice_is_one_order_confirmed_back_once_on_postgres() -> Result<()> {
    a_marketplace_order_imported_twice_is_one_order_confirmed_back_once(Backend::Postgres).await
}

fn buyer(id: &str) -> Buyer {
    Buyer { id: id.into(), name: "王芳".into(), mobile: "13900139000".into(), province: "上海".into(), city: "上海市".into(), address: "世纪大道88号".into() }
}

/// The connector's copy of a trade, as `POST /marketplaces/{name}/orders` takes it.
fn connector_body(trade: &tote_shared::marketplace::Trade) -> Value {
    let lines: Vec<Value> = trade
        .orders
        .order
        .iter()
        .map(|l| json!({"sku": l.outer_sku_id, "qty": l.num, "paid": tote_shared::marketplace::parse_amount(&l.payment)}))
        .collect();
    json!({
        "external_id": trade.tid.to_string(),
        "buyer": trade.buyer_open_uid,
        "lines": lines,
        "ship_to": {"name": trade.receiver_name, "line1": trade.receiver_address, "city": trade.receiver_city, "phone": trade.receiver_mobile},
        "paid_at_ms": tote_shared::marketplace::parse_time(&trade.pay_time),
        "ship_by_ms": tote_shared::marketplace::parse_time(&trade.est_con_time),
    })
}

async fn import_of(central: &Central, tid: u64) -> Result<Value> {
    eventually("the trade to be imported", Duration::from_secs(20), || async {
        let r = central.get(&format!("/api/v1/marketplaces/tmall/imports/{tid}")).await?;
        Ok((r.status == 200).then_some(r.body))
    })
    .await
}

async fn a_marketplace_order_imported_twice_is_one_order_confirmed_back_once(backend: Backend) -> Result<()> {
    let sim = MarketplaceSim::start(MarketplaceConfig::default()).await?;
    let extra = sim.central_config("tmall", "poll_interval_ms = 100\noverlap_ms = 60000");
    let world = World::start_with(backend, &[("SH-01", "Shanghai")], 600_000, &extra).await?;
    let (central, sh) = (&world.central, world.edge("SH-01"));
    sh.receive("A-01-01", PEGASUS_GTIN, 5).await?;
    sh.wait_synced(Duration::from_secs(20)).await?;

    // Sold at the marketplace at a discount; the pull and the connector bring it at once.
    let trade = sim.offer(&buyer("tb-buyer-1"), &[Purchase { sku: PEGASUS.into(), qty: 2, paid_minor: 119_800 }]);
    let body = connector_body(&trade);
    let pushed = central.post("/api/v1/marketplaces/tmall/orders", body.clone()).await?;
    assert!(pushed.status == 201 || pushed.status == 200, "the connector's copy: {} {}", pushed.status, pushed.body);
    let import = import_of(central, trade.tid).await?;
    let order_id = import["order_id"].as_u64().context("an order for the trade")?;
    assert_eq!(pushed.body["order_id"].as_u64(), Some(order_id), "the connector got the same order");
    let again = central.post("/api/v1/marketplaces/tmall/orders", body.clone()).await?;
    assert_eq!((again.status.as_u16(), again.body["order_id"].as_u64()), (200, Some(order_id)), "a re-import answers the order: {}", again.body);
    let mut changed = body.clone();
    changed["lines"][0]["qty"] = json!(3);
    let changed = central.post("/api/v1/marketplaces/tmall/orders", changed).await?;
    assert_eq!((changed.status.as_u16(), changed.body["type"].as_str().map(|t| t.ends_with("import-changed"))), (409, Some(true)), "{}", changed.body);

    // One order, paid at the marketplace, priced as the buyer paid, committed once.
    let order = central.order(order_id).await?;
    assert_eq!((order["state"].as_str(), order["channel"].as_str(), order["customer"].as_str()), (Some("awaiting_shipment"), Some("tmall"), Some("tb-buyer-1")));
    assert_eq!((order["total"].as_i64(), order["lines"][0]["unit_price"].as_i64()), (Some(119_800), Some(59_900)));
    assert_eq!(central.level(PEGASUS, "SH-01").await?, (5, 0, 2, 3));
    assert_eq!(import["ship_by_ms"].as_i64(), tote_shared::marketplace::parse_time(&trade.est_con_time));

    // Shipped; the platform takes the first confirmation but its answer is lost: central
    // tries again, recognises its own shipment, and the platform holds exactly one.
    sim.lose_next_answers(1);
    sh.fulfil(order_id, "SF7001").await?;
    let confirmed = eventually("the shipment to be confirmed", Duration::from_secs(30), || async {
        let import = central.get(&format!("/api/v1/marketplaces/tmall/imports/{}", trade.tid)).await?.ok()?;
        Ok((import["confirmation"]["state"] == "confirmed").then_some(import))
    })
    .await?;
    assert_eq!(confirmed["confirmation"]["tracking_number"], "SF7001");
    let consignments = sim.consignments();
    assert_eq!(consignments.len(), 1, "confirmed once: {consignments:?}");
    assert_eq!((consignments[0].tid, consignments[0].out_sid.as_str(), consignments[0].company.as_str()), (trade.tid, "SF7001", "SF"));
    assert!(sim.calls(tote_shared::marketplace::SEND_METHOD) >= 2, "the lost answer was followed by a second call");
    assert_eq!(sim.trade(trade.tid).context("trade")?.status, tote_shared::marketplace::WAIT_BUYER_CONFIRM_GOODS);

    // A trade the buyer cancels at the marketplace before shipment cancels its order.
    let second = sim.offer(&buyer("tb-buyer-2"), &[Purchase { sku: PEGASUS.into(), qty: 1, paid_minor: 69_900 }]);
    let second_order = import_of(central, second.tid).await?["order_id"].as_u64().context("order")?;
    sh.wait_for_order(second_order, Duration::from_secs(20)).await?;
    assert!(sim.close_trade(second.tid));
    eventually("the closed trade's order to be cancelled", Duration::from_secs(20), || async {
        Ok((central.order(second_order).await?["state"] == "cancelled").then_some(()))
    })
    .await?;
    let closed = import_of(central, second.tid).await?;
    assert!(closed["closed_at_ms"].as_i64().is_some(), "{closed}");

    // Not our SKU: kept as refused, with why, and counted.
    let odd = sim.offer(&buyer("tb-buyer-3"), &[Purchase { sku: "NOT-OURS-1".into(), qty: 1, paid_minor: 100 }]);
    let refused = import_of(central, odd.tid).await?;
    assert_eq!(refused["state"], "refused");
    assert!(refused["reason"].as_str().is_some_and(|r| r.contains("NOT-OURS-1")), "{refused}");
    let listed = central.get("/api/v1/marketplaces/tmall/imports?state=refused").await?.ok()?;
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    // Three pages of trades at once (read last page first): every one is seen.
    for n in 0..230 {
        sim.offer(&buyer(&format!("tb-bulk-{n}")), &[Purchase { sku: format!("NOT-OURS-{n}"), qty: 1, paid_minor: 100 }]);
    }
    let status = eventually("every trade of three pages", Duration::from_secs(60), || async {
        let status = central.get("/api/v1/marketplaces").await?.ok()?;
        Ok((status[0]["refused"].as_i64() == Some(231)).then_some(status))
    })
    .await?;
    assert_eq!((status[0]["name"].as_str(), status[0]["imported"].as_i64()), (Some("tmall"), Some(2)));
    let unknown = central.post("/api/v1/marketplaces/tmal/orders", body.clone()).await?;
    assert_eq!(unknown.status.as_u16(), 404, "a marketplace that is not configured takes no orders: {}", unknown.body);
    assert_eq!(status[0]["confirmations_done"].as_i64(), Some(1));

    crate::journal::check_journal(central).await?;
    // The buyer's money is with the marketplace until it settles; what it refunded itself is
    // neither its debt to us nor ours to the buyer.
    let books = check_books(central).await?;
    assert_eq!(books.get("Assets:Clearing:Tmall").copied(), Some(119_800), "{books:?}");
    assert_eq!(books.get("Liabilities:CustomerAdvances").copied().unwrap_or(0), 0, "{books:?}");
    Ok(())
}
