//! PostgreSQL's connections under central killed again and again during a burst of orders
//! (issue 20; what a server restart or a failover does to a pool): every order is answered —
//! a 503 while its connection is gone, then the stored answer or the order when retried with
//! its Idempotency-Key — and the end state has each order once, the stock exact, the journal
//! gapless.

use crate::helpers::*;
use crate::journal::check_journal;
use anyhow::{bail, ensure, Context, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const STOCK: i64 = 250;
const ORDERS: usize = 300;
const CLIENTS: usize = 32;

/// Places order `n` like a real client: resends with the same key until a final answer.
async fn place(central: Arc<Central>, n: usize) -> Result<(usize, Option<u64>, u32)> {
    let (reply, attempts) = central.create_order_retrying(&format!("pg-kill-{n}"), &order_body(PEGASUS, 1, "Shanghai")).await?;
    match reply.status.as_u16() {
        200 | 201 => Ok((n, Some(reply.body["id"].as_u64().context("id")?), attempts)),
        409 => Ok((n, None, attempts)),
        other => bail!("order {n} answered {other}: {}; central's log:\n{}", reply.body, lock(&central.daemon).log()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_connections_killed_mid_burst_lose_and_double_nothing() -> Result<()> {
    let world = World::start_on(Backend::Postgres, &[("SH-01", "Shanghai")]).await?;
    let sh = world.edge("SH-01");
    sh.receive("A-01-01", PEGASUS_GTIN, STOCK).await?;
    sh.wait_synced(Duration::from_secs(30)).await?;
    let url = world.central.postgres_url().context("central runs on PostgreSQL")?;

    // Every 100 ms, every connection to central's database but the killer's own is terminated.
    let stop = Arc::new(AtomicBool::new(false));
    let killer = {
        let stop = stop.clone();
        std::thread::spawn(move || -> Result<i64> {
            let mut client = postgres::Client::connect(&url, postgres::NoTls)?;
            let mut killed = 0;
            while !stop.load(Ordering::Relaxed) {
                let row = client.query_one(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
                    &[],
                )?;
                killed += row.get::<_, i64>(0);
                std::thread::sleep(Duration::from_millis(100));
            }
            Ok(killed)
        })
    };

    let central = Arc::new(world.central.clone());
    let gate = Arc::new(tokio::sync::Semaphore::new(CLIENTS));
    let mut burst = tokio::task::JoinSet::new();
    for n in 0..ORDERS {
        let (central, gate) = (central.clone(), gate.clone());
        burst.spawn(async move {
            let _slot = gate.acquire_owned().await?;
            place(central, n).await
        });
    }
    let mut ids = BTreeMap::new();
    let mut retried = 0;
    while let Some(done) = burst.join_next().await {
        let (n, id, attempts) = done??;
        retried += u64::from(attempts > 0);
        if let Some(id) = id {
            ids.insert(n, id);
        }
    }
    stop.store(true, Ordering::Relaxed);
    let killed = killer.join().map_err(|_| anyhow::anyhow!("the killer panicked"))??;
    ensure!(killed > 0 && retried > 0, "the connections were killed ({killed}) and orders retried ({retried})");

    assert_eq!(ids.len() as i64, STOCK, "exactly the stock was sold");
    let distinct: BTreeSet<u64> = ids.values().copied().collect();
    assert_eq!(distinct.len(), ids.len(), "no order id answered twice");
    // Resent now, every key answers the same order.
    for (n, id) in &ids {
        let reply = world.central.create_order(&format!("pg-kill-{n}"), &order_body(PEGASUS, 1, "Shanghai")).await?;
        assert_eq!(reply.body["id"].as_u64(), Some(*id), "key {n}: {}", reply.body);
    }
    assert_eq!(world.central.level(PEGASUS, "SH-01").await?, (STOCK, STOCK, 0, 0));
    let events = check_journal(&world.central).await?;
    let created = events.iter().filter(|e| e.kind() == "order_created").count();
    assert_eq!(created as i64, STOCK, "one order_created per order");
    eprintln!("postgres kills: {killed} connections terminated, {retried} of {ORDERS} orders retried, {} sold", ids.len());
    Ok(())
}
