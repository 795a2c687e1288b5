//! A flash sale: far more buyers than shoes. Nobody gets a shoe that is not there.

use crate::helpers::*;
use anyhow::{Context, Result};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_concurrent_orders_for_a_hundred_shoes_sell_exactly_a_hundred() -> Result<()> {
    let world = World::start(&[("SH-01", "Shanghai"), ("BJ-01", "Beijing")]).await?;
    world.edge("SH-01").receive("A-01-01", PEGASUS_GTIN, 60).await?;
    world.edge("BJ-01").receive("A-01-01", PEGASUS_GTIN, 40).await?;
    for e in &world.edges {
        e.wait_synced(Duration::from_secs(20)).await?;
    }
    let central = Arc::new(world.central);
    let done = Arc::new(AtomicBool::new(false));
    // A watcher samples levels during the burst: sellable must never dip below zero.
    let watcher = {
        let (central, done) = (central.clone(), done.clone());
        tokio::spawn(async move {
            let mut samples = 0;
            while !done.load(Ordering::Relaxed) {
                for wh in ["SH-01", "BJ-01"] {
                    let (_, _, _, sellable) = central.level(PEGASUS, wh).await?;
                    anyhow::ensure!(sellable >= 0, "sellable {sellable} at {wh}");
                    samples += 1;
                }
            }
            Ok::<_, anyhow::Error>(samples)
        })
    };
    let mut tasks = Vec::new();
    for n in 0..500 {
        let central = central.clone();
        let city = if n % 2 == 0 { "Shanghai" } else { "Beijing" };
        tasks.push(tokio::spawn(async move { central.create_order(&format!("flash-{n}"), &order_body(PEGASUS, 1, city)).await }));
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
    assert_eq!((created, refused), (100, 400));
    assert!(samples > 0);
    assert_eq!(central.level(PEGASUS, "SH-01").await?, (60, 60, 0, 0));
    assert_eq!(central.level(PEGASUS, "BJ-01").await?, (40, 40, 0, 0));
    let sku = central.get(&format!("/api/v1/skus/{PEGASUS}")).await?.ok()?;
    assert_eq!(sku["sellable_total"].as_i64().context("total")?, 0);
    Ok(())
}
