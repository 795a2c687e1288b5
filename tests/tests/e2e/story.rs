//! The acceptance story: one Pegasus 39 from stock to shipment across central and an edge.

use crate::helpers::*;
use crate::journal::{check_journal, check_sales, seeded_skus, Sales};
use anyhow::{Context, Result};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_running_shoe_order_goes_from_stock_to_shipment_and_the_ledger_explains_it_on_sqlite() -> Result<()> {
    story(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_running_shoe_order_goes_from_stock_to_shipment_and_the_ledger_explains_it_on_postgres() -> Result<()> {
    story(Backend::Postgres).await
}

async fn story(backend: Backend) -> Result<()> {
    // Warehouses reach HQ over the internet: central serves HTTPS, the edges verify it.
    let world = World::start_over_tls(backend, &[("SH-01", "Shanghai"), ("BJ-01", "Beijing")]).await?;
    let (central, sh, bj) = (&world.central, world.edge("SH-01"), world.edge("BJ-01"));
    sh.receive("A-01-01", PEGASUS_GTIN, 12).await?;
    bj.receive("A-01-01", PEGASUS_GTIN, 5).await?;
    sh.wait_synced(Duration::from_secs(20)).await?;
    bj.wait_synced(Duration::from_secs(20)).await?;
    assert_eq!(central.level(PEGASUS, "SH-01").await?, (12, 0, 0, 12));
    assert_eq!(central.level(PEGASUS, "BJ-01").await?, (5, 0, 0, 5));

    // A Shanghai address: routed to SH-01, one unit locked there.
    let created = central.create_order("story-1", &order_body(PEGASUS, 1, "Shanghai")).await?.ok()?;
    let id = created["id"].as_u64().context("order id")?;
    assert_eq!(created["warehouse"], "SH-01");
    assert_eq!(created["state"], "awaiting_payment");
    assert_eq!(central.level(PEGASUS, "SH-01").await?, (12, 1, 0, 11));
    let sku = central.get(&format!("/api/v1/skus/{PEGASUS}")).await?.ok()?;
    assert_eq!(sku["sellable_total"], 16, "11 at SH-01 + 5 at BJ-01");

    // Paid: the lock becomes a deduction; the order is released to SH-01's edge.
    let paid = central.post(&format!("/api/v1/orders/{id}/pay"), serde_json::json!({})).await?.ok()?;
    assert_eq!(paid["state"], "awaiting_shipment");
    assert_eq!(central.level(PEGASUS, "SH-01").await?, (12, 0, 1, 11));

    let shipped = sh.fulfil(id, "SF1234567890").await?;
    assert_eq!(shipped["state"], "shipped");
    sh.wait_synced(Duration::from_secs(20)).await?;

    let order = central.order(id).await?;
    assert_eq!(order["state"], "shipped");
    assert_eq!(order["tracking_number"], "SF1234567890");
    assert_eq!(central.level(PEGASUS, "SH-01").await?, (11, 0, 0, 11));
    assert_eq!(central.level(PEGASUS, "BJ-01").await?, (5, 0, 0, 5), "BJ-01 untouched");

    // The ledger explains every change at SH-01, in order.
    let ledger = central.get(&format!("/api/v1/inventory/{PEGASUS}/ledger?warehouse=SH-01")).await?.ok()?;
    let steps: Vec<(String, String, i64, i64)> = ledger
        .as_array()
        .context("ledger")?
        .iter()
        .map(|e| {
            (
                e["cause"].as_str().unwrap_or("").to_owned(),
                e["field"].as_str().unwrap_or("").to_owned(),
                e["delta"].as_i64().unwrap_or(0),
                e["balance_after"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    let expected = [
        ("edge_receipt", "on_hand", 12, 12),
        ("order_created", "locked", 1, 1),
        ("order_paid", "locked", -1, 0),
        ("order_paid", "committed", 1, 1),
        ("edge_shipment", "on_hand", -1, 11),
        ("edge_shipment", "committed", -1, 0),
    ];
    let expected: Vec<(String, String, i64, i64)> =
        expected.iter().map(|(c, f, d, b)| (c.to_string(), f.to_string(), *d, *b)).collect();
    assert_eq!(steps, expected);

    let history = central.get(&format!("/api/v1/orders/{id}/history")).await?.ok()?;
    let states: Vec<&str> = history.as_array().context("history")?.iter().filter_map(|h| h["to_state"].as_str()).collect();
    assert_eq!(states, ["awaiting_shipment", "picked", "packed", "shipped"]);

    // The edge agrees: 11 in the bin, nothing left in outbound staging.
    let stock = sh.get(&format!("/api/v1/stock?sku={PEGASUS}")).await?.ok()?;
    let stock = stock.as_array().context("stock")?;
    assert_eq!(stock.len(), 1);
    assert_eq!(stock[0]["location"], "A-01-01");
    assert_eq!(stock[0]["qty"], 11);

    // The journal tells the same story, and the day's sales count the shoe once.
    check_journal(central).await?;
    let sales = check_sales(central, &seeded_skus()).await?;
    assert_eq!(sales[PEGASUS], Sales { ordered: 1, paid: 1, shipped: 1, cancelled: 0, revenue: 89_900 });

    // Finance posted it all, and beancount agrees to the cent: 17 shoes received at cost, one
    // sold for ¥899.00 of which ¥103.42 is VAT, its cost out of SH-01's inventory FIFO.
    let books = check_books(central).await?;
    let cost = central.get(&format!("/api/v1/skus/{PEGASUS}")).await?.ok()?["cost"].as_i64().context("cost")?;
    assert_eq!(books["Income:Sales"], -(89_900 - 10_342));
    assert_eq!(books["Liabilities:VAT:Output"], -10_342);
    assert_eq!(books["Expenses:CostOfGoodsSold"], cost);
    assert_eq!(books["Assets:Inventory:SH-01"], 11 * cost);
    assert_eq!(books["Assets:Inventory:BJ-01"], 5 * cost);
    assert_eq!(books["Liabilities:GoodsReceivedNotInvoiced:Unordered"], -17 * cost, "received on no purchase order");
    assert_eq!(books["Liabilities:CustomerAdvances"], 0, "paid and shipped: nothing owed either way");
    assert_eq!(books["Assets:Clearing:Manual"], 89_900);
    let statements = central.get("/api/v1/finance/statements").await?.ok()?;
    let income = &statements["income_statement"];
    assert_eq!((income["revenue"].as_i64(), income["cost_of_goods_sold"].as_i64()), (Some(89_900 - 10_342), Some(cost)));
    assert_eq!(income["gross_profit"].as_i64(), Some(89_900 - 10_342 - cost));
    let bad = central.get("/api/v1/finance/statements?from=2026-02-31").await?;
    assert_eq!(bad.status, reqwest::StatusCode::BAD_REQUEST, "no 31 February");
    Ok(())
}
