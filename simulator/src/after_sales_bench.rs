//! After-sales figures, on both backends: return requests/s through rule approval over HTTP
//! (each one checked against its order, approved by the seven-day rule, the return announced
//! down the warehouse's command stream), beside order intake over HTTP in the same run (the
//! reference: one order-sized transaction a request); and the time from a return's QC result
//! reaching central (the edge's push) to its refund settled at the payment channel's
//! simulator, p50/p99.

use crate::bench::{central_config_with, edge_token, push_stock, seed, sku, spawn, Daemon, ADMIN};
use crate::client::Api;
use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tote_central::db::testing::TestDatabase;
use tote_sim::payment::{ChannelKeys, ChannelKind, ChannelSim, SimConfig};

/// SKUs the orders spread over; each holds plenty at SH-01.
const SKUS: usize = 100;

pub async fn returns(orders: usize, clients: usize, refunds: usize) -> Result<()> {
    let keys = tokio::task::spawn_blocking(|| ChannelKeys::generate(3)).await??;
    for postgres in [false, true] {
        // A channel per central: each numbers its trades from 1.
        let mut config = SimConfig::new(keys.clone(), 3);
        config.time_scale = 0.01;
        let sim = Arc::new(ChannelSim::start(config).await?);
        let (central, _db, _dir) = start(postgres, &sim)?;
        sim.set_card_webhook_url(Some(format!("{}/api/v1/payments/notify/card", central.url)));
        let hq = Api::new(central.url.clone(), Some(ADMIN.into()));
        seed(&hq, SKUS).await?;
        push_stock(&central.url, "SH-01", SKUS, 100_000).await?;
        let mut edge = EdgeStream::after_stock(&central.url);

        let (intake, ids) = create_orders(&central.url, orders, clients).await?;
        let paid = pay(&hq, &sim, &ids, refunds).await?;
        edge.ship(&ids).await?;
        let (requests, rmas) = ask_returns(&central.url, &ids, clients).await?;
        let latencies = qc_to_refund(&mut edge, &sim, &ids[..refunds.min(ids.len())], &rmas, &paid).await?;
        println!(
            "returns {:<8} {orders} orders, {clients} clients: return requests {requests:>6.0}/s through rule approval, order intake (reference) {intake:>6.0}/s, ratio {:.2}",
            if postgres { "postgres" } else { "sqlite" },
            requests / intake
        );
        println!(
            "returns {:<8} QC result pushed → refund settled at the card channel's simulator ({} returns, one at a time): p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
            if postgres { "postgres" } else { "sqlite" },
            latencies.len(),
            percentile(&latencies, 0.50),
            percentile(&latencies, 0.99),
            latencies.last().copied().unwrap_or(f64::NAN)
        );
    }
    Ok(())
}

fn start(postgres: bool, sim: &ChannelSim) -> Result<(Daemon, Option<TestDatabase>, tempfile::TempDir)> {
    let dir = tempfile::tempdir()?;
    let db = postgres.then(TestDatabase::create);
    let database = match &db {
        Some(db) => format!("backend = \"postgres\"\nurl = \"{}\"\npool_size = 16", db.url),
        None => format!("path = \"{}\"\nwrite_queue = 65536\nmax_batch = 1024\nmax_readers = 4", dir.path().join("central.sqlite").display()),
    };
    let config = central_config_with(dir.path(), "127.0.0.1:0", &database)?;
    let mut text = std::fs::read_to_string(&config)?;
    text.push_str(&sim.central_config("call_timeout_ms = 10000\nquery_after_ms = 600000\ndispatch_interval_ms = 1000"));
    std::fs::write(&config, text)?;
    Ok((spawn("tote-central", &config)?, db, dir))
}

/// `n` requests from `clients` senders, each `make(i)` returning the answer's value.
async fn concurrently<F, Fut>(n: usize, clients: usize, make: F) -> Result<(f64, Vec<Value>)>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<Value>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let make = Arc::new(make);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (next, make) = (next.clone(), make.clone());
        tasks.spawn(async move {
            let mut got = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, anyhow::Error>(got);
                }
                got.push((i, make(i).await?));
            }
        });
    }
    let mut all = Vec::with_capacity(n);
    while let Some(done) = tasks.join_next().await {
        all.extend(done??);
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    all.sort_by_key(|(i, _)| *i);
    Ok((rate, all.into_iter().map(|(_, v)| v).collect()))
}

async fn create_orders(url: &str, orders: usize, clients: usize) -> Result<(f64, Vec<u64>)> {
    let url = url.to_owned();
    let (rate, created) = concurrently(orders, clients, move |n| {
        let hq = Api::new(url.clone(), Some(ADMIN.into()));
        async move {
            let body = json!({"channel": "bench", "customer": format!("c{n}"), "lines": [{"sku": sku(n % SKUS), "qty": 1}],
                              "ship_to": {"name": "R", "line1": "1 Road", "city": "Shanghai"}});
            hq.post_keyed("/api/v1/orders", &format!("order-{n}"), &body).await
        }
    })
    .await?;
    let ids = created.iter().map(|o| o["id"].as_u64().context("order id")).collect::<Result<Vec<_>>>()?;
    Ok((rate, ids))
}

/// The first `through_channel` orders are paid through the card gateway (so they can be
/// refunded there); the rest by hand.
async fn pay(hq: &Api, sim: &ChannelSim, ids: &[u64], through_channel: usize) -> Result<Vec<String>> {
    let mut trades = Vec::new();
    for (n, id) in ids.iter().enumerate() {
        if n < through_channel {
            let payment = hq.post(&format!("/api/v1/orders/{id}/payments"), &json!({"channel": "card", "payer": {"user": format!("u{id}")}})).await?;
            let trade = payment["out_trade_no"].as_str().context("out_trade_no")?.to_owned();
            sim.pay(ChannelKind::Card, &trade)?;
            trades.push(trade);
        } else {
            hq.post(&format!("/api/v1/orders/{id}/pay"), &json!({})).await?;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    for id in &ids[..through_channel.min(ids.len())] {
        while hq.get(&format!("/api/v1/orders/{id}")).await?["state"] != "awaiting_shipment" {
            ensure!(Instant::now() < deadline, "order {id} not paid");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    Ok(trades)
}

/// SH-01's event stream, played by the bench: what an edge pushes when it ships and when its
/// returns desk closes a return.
struct EdgeStream {
    api: Api,
    seq: u64,
}

impl EdgeStream {
    /// The stream after `push_stock`'s receipts (one event per SKU).
    fn after_stock(url: &str) -> EdgeStream {
        EdgeStream { api: Api::new(url.to_owned(), Some(edge_token("SH-01"))), seq: SKUS as u64 }
    }

    async fn push(&mut self, kinds: Vec<Value>) -> Result<()> {
        for chunk in kinds.chunks(1000) {
            let events: Vec<Value> = chunk
                .iter()
                .map(|kind| {
                    self.seq += 1;
                    json!({"seq": self.seq, "at_ms": 0, "kind": kind})
                })
                .collect();
            let ack = self.api.post("/api/v1/sync/events", &json!({"warehouse": "SH-01", "events": events})).await?;
            ensure!(ack["high_water"] == self.seq, "central took the push only to {}", ack["high_water"]);
        }
        Ok(())
    }

    async fn ship(&mut self, ids: &[u64]) -> Result<()> {
        let mut kinds = Vec::with_capacity(ids.len() * 3);
        for (n, id) in ids.iter().enumerate() {
            kinds.push(json!({"type": "order_picked", "order_id": id}));
            kinds.push(json!({"type": "order_packed", "order_id": id}));
            kinds.push(json!({"type": "order_shipped", "order_id": id, "tracking_number": format!("SF{id}"), "carrier": "SF",
                              "lines": [{"sku": sku(n % SKUS), "qty": 1}]}));
        }
        self.push(kinds).await
    }
}

async fn ask_returns(url: &str, ids: &[u64], clients: usize) -> Result<(f64, Vec<String>)> {
    let (url, ids) = (url.to_owned(), Arc::new(ids.to_vec()));
    let (rate, answers) = concurrently(ids.len(), clients, move |n| {
        let (hq, id) = (Api::new(url.clone(), Some(ADMIN.into())), ids[n]);
        async move {
            let body = json!({"kind": "return_refund", "reason": "size", "lines": [{"sku": sku(n % SKUS), "qty": 1}]});
            hq.post_keyed(&format!("/api/v1/orders/{id}/after-sales"), &format!("return-{id}"), &body).await
        }
    })
    .await?;
    let mut rmas = Vec::with_capacity(answers.len());
    for a in &answers {
        ensure!(a["state"] == "awaiting_return", "a request was not approved by rule: {a}");
        rmas.push(a["rma"].as_str().context("rma")?.to_owned());
    }
    Ok((rate, rmas))
}

/// One return at a time: the desk's result pushed, then the card channel's simulator polled
/// until it holds the refund. Milliseconds, sorted.
async fn qc_to_refund(edge: &mut EdgeStream, sim: &ChannelSim, ids: &[u64], rmas: &[String], trades: &[String]) -> Result<Vec<f64>> {
    let mut latencies = Vec::with_capacity(ids.len());
    for (n, id) in ids.iter().enumerate() {
        let kind = json!({"type": "return_received", "rma": rmas[n], "order_id": id, "location": "A-01",
                          "lines": [{"sku": sku(n % SKUS), "expected": 1, "passed": 1, "failed": 0}]});
        let started = Instant::now();
        edge.push(vec![kind]).await?;
        let deadline = started + Duration::from_secs(60);
        while sim.refunded_minor(ChannelKind::Card, &trades[n]) == 0 {
            ensure!(Instant::now() < deadline, "the refund of order {id} never reached the channel");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    latencies.sort_by(f64::total_cmp);
    Ok(latencies)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted.get(((sorted.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(f64::NAN)
}
