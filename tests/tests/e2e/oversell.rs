//! A flash sale: far more buyers than shoes. Nobody gets a shoe that is not there — with the
//! hundred shoes split over two warehouses, and with all of them in one warehouse, where every
//! buyer contends for the same stock row.

use crate::helpers::*;
use crate::journal::{check_journal, check_sales};
use anyhow::{Context, Result};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_concurrent_orders_for_a_hundred_shoes_in_two_warehouses_sell_exactly_a_hundred_on_sqlite() -> Result<()> {
    flash_sale(Backend::Sqlite, [60, 40]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_concurrent_orders_for_a_hundred_shoes_in_two_warehouses_sell_exactly_a_hundred_on_postgres() -> Result<()> {
    flash_sale(Backend::Postgres, [60, 40]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_concurrent_orders_for_a_hundred_shoes_in_one_warehouse_sell_exactly_a_hundred_on_sqlite() -> Result<()> {
    flash_sale(Backend::Sqlite, [100, 0]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_concurrent_orders_for_a_hundred_shoes_in_one_warehouse_sell_exactly_a_hundred_on_postgres() -> Result<()> {
    flash_sale(Backend::Postgres, [100, 0]).await
}

/// 10,000 buyers at once for the hundred shoes in one warehouse (issue 20): more connections
/// than central takes, so some are shed and retried as a shop front would (same key).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_buyers_at_once_for_a_hundred_shoes_buy_exactly_a_hundred_on_sqlite() -> Result<()> {
    flash_sale_of(Backend::Sqlite, [100, 0], 10_000).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_buyers_at_once_for_a_hundred_shoes_buy_exactly_a_hundred_on_postgres() -> Result<()> {
    flash_sale_of(Backend::Postgres, [100, 0], 10_000).await
}

async fn flash_sale(backend: Backend, stock: [i64; 2]) -> Result<()> {
    flash_sale_of(backend, stock, 500).await
}

/// `buyers` buyers, half from Shanghai and half from Beijing, for `stock` = [at SH-01, at
/// BJ-01] shoes (100 in all).
async fn flash_sale_of(backend: Backend, stock: [i64; 2], buyers: usize) -> Result<()> {
    let warehouses = [("SH-01", "Shanghai"), ("BJ-01", "Beijing")];
    let world = World::start_on(backend, &warehouses).await?;
    for ((code, _), qty) in warehouses.iter().zip(stock) {
        if qty > 0 {
            world.edge(code).receive("A-01-01", PEGASUS_GTIN, qty).await?;
        }
    }
    for e in &world.edges {
        e.wait_synced(Duration::from_secs(20)).await?;
    }
    assert_eq!(stock.iter().sum::<i64>(), 100);
    let central = Arc::new(world.central);
    let done = Arc::new(AtomicBool::new(false));
    // A watcher samples levels during the burst: sellable must never dip below zero.
    let watcher = {
        let (central, done) = (central.clone(), done.clone());
        tokio::spawn(async move {
            let mut samples = 0;
            while !done.load(Ordering::Relaxed) {
                for wh in ["SH-01", "BJ-01"] {
                    // Under a crowd a look may be shed like any request: take the next one.
                    let Ok((_, _, _, sellable)) = central.level(PEGASUS, wh).await else { continue };
                    anyhow::ensure!(sellable >= 0, "sellable {sellable} at {wh}");
                    samples += 1;
                }
            }
            Ok::<_, anyhow::Error>(samples)
        })
    };
    let mut tasks = Vec::new();
    let started = std::time::Instant::now();
    for n in 0..buyers {
        let central = central.clone();
        let city = if n % 2 == 0 { "Shanghai" } else { "Beijing" };
        tasks.push(tokio::spawn(async move { central.create_order_retrying(&format!("flash-{n}"), &order_body(PEGASUS, 1, city)).await.map(|(reply, _)| reply) }));
    }
    let (mut created, mut refused) = (0, 0);
    for t in tasks {
        let reply = t.await??;
        match reply.status.as_u16() {
            201 => created += 1,
            409 => {
                assert_eq!(reply.content_type, "application/problem+json");
                assert_eq!(reply.body["type"], "https://tote.dev/problems/insufficient-stock");
                refused += 1;
            }
            other => anyhow::bail!("unexpected {other}: {}", reply.body),
        }
    }
    done.store(true, Ordering::Relaxed);
    let samples = watcher.await??;
    eprintln!("{buyers} buyers answered in {:.1} s ({samples} samples of sellable)", started.elapsed().as_secs_f64());
    assert_eq!((created, refused), (100, buyers - 100));
    assert!(samples > 0);
    assert_eq!(central.level(PEGASUS, "SH-01").await?, (stock[0], stock[0], 0, 0));
    assert_eq!(central.level(PEGASUS, "BJ-01").await?, (stock[1], stock[1], 0, 0));
    let sku = central.get(&format!("/api/v1/skus/{PEGASUS}")).await?.ok()?;
    assert_eq!(sku["sellable_total"].as_i64().context("total")?, 0);
    // Refused orders leave no trace in the journal; the hundred sold are ordered once each.
    let events = check_journal(&central).await?;
    assert_eq!(events.iter().filter(|e| e.kind() == "order_created").count(), 100);
    assert_eq!(check_sales(&central, &[PEGASUS]).await?[PEGASUS].ordered, 100);
    Ok(())
}
