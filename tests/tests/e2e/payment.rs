//! Payment, paid for real: orders paid through each channel's simulator (its own keys, its
//! own HTTP server, its notifications and retry schedule), shipped, refunded at the channel;
//! forged and replayed notifications refused with nothing changed; channel faults ending in
//! the right state exactly once; reconciliation and risk rules.

use crate::helpers::*;
use anyhow::{Context, Result};
use serde_json::{json, Value};
use std::time::Duration;
use crate::journal::check_journal;
use tote_sim::payment::{ChannelKeys, ChannelKind, ChannelSim, SimConfig};

/// Channel retries and refund settlement run at 1/100 of real time.
const TIME_SCALE: f64 = 0.01;

/// Central's `[payment]` tuning for tests: short timeouts, a busy dispatcher.
const PAYMENT_TUNING: &str = "call_timeout_ms = 1500\nquery_after_ms = 2000\ndispatch_interval_ms = 100";

pub struct PaymentWorld {
    pub world: World,
    pub sim: ChannelSim,
}

impl PaymentWorld {
    /// Central on `backend` with all three channels, edge SH-01 with 20 pairs of Pegasus 39.
    pub async fn start(backend: Backend, seed: u64) -> Result<PaymentWorld> {
        let keys = tokio::task::spawn_blocking(move || ChannelKeys::generate(seed)).await??;
        let mut config = SimConfig::new(keys, seed);
        config.time_scale = TIME_SCALE;
        let sim = ChannelSim::start(config).await?;
        let world = World::start_with(backend, &[("SH-01", "Shanghai")], 600_000, &sim.central_config(PAYMENT_TUNING)).await?;
        sim.set_card_webhook_url(Some(world.central.url("/api/v1/payments/notify/card")));
        world.edge("SH-01").receive("A-01-01", PEGASUS_GTIN, 20).await?;
        world.edge("SH-01").wait_synced(Duration::from_secs(20)).await?;
        Ok(PaymentWorld { world, sim })
    }

    pub fn central(&self) -> &Central {
        &self.world.central
    }

    /// A new order for `qty` pairs; its id.
    pub async fn order(&self, key: &str, qty: i64) -> Result<u64> {
        let order = self.central().create_order(key, &order_body(PEGASUS, qty, "Shanghai")).await?.ok()?;
        order["id"].as_u64().context("order id")
    }

    /// Starts paying `order_id` on `channel`; the payment as central answered it.
    pub async fn start_payment(&self, order_id: u64, channel: ChannelKind) -> Result<Reply> {
        self.central().post(&format!("/api/v1/orders/{order_id}/payments"), json!({"channel": channel.as_str()})).await
    }

    pub async fn wait_order_state(&self, order_id: u64, state: &str) -> Result<Value> {
        eventually(&format!("order {order_id} to be {state}"), Duration::from_secs(30), || async {
            let order = self.central().order(order_id).await?;
            Ok((order["state"] == state).then_some(order))
        })
        .await
    }

    pub async fn payments(&self, order_id: u64) -> Result<Vec<Value>> {
        let list = self.central().get(&format!("/api/v1/orders/{order_id}/payments")).await?.ok()?;
        Ok(list.as_array().cloned().unwrap_or_default())
    }

    pub async fn refund(&self, order_id: u64, key: &str, qty: i64) -> Result<Reply> {
        let body = json!({"lines": [{"sku": PEGASUS, "qty": qty}], "reason": "returned: too small"});
        let central = self.central();
        let request = central.http.post(central.url(&format!("/api/v1/orders/{order_id}/refunds"))).bearer_auth(ADMIN).header("Idempotency-Key", key).json(&body);
        Reply::from(request.send().await?).await
    }

    pub async fn wait_refund_state(&self, order_id: u64, state: &str) -> Result<Value> {
        eventually(&format!("the refund of order {order_id} to be {state}"), Duration::from_secs(30), || async {
            let refunds = self.central().get(&format!("/api/v1/orders/{order_id}/refunds")).await?.ok()?;
            Ok(refunds.as_array().and_then(|r| r.first()).filter(|r| r["state"] == state).cloned())
        })
        .await
    }

    /// Journal events of `kind` about payment or refund `subject`.
    pub async fn events(&self, kind: &str, field: &str, id: u64) -> Result<usize> {
        wait_journal_settled(self.central()).await?;
        let page = self.central().get("/api/v1/events?after=0&limit=1000").await?.ok()?;
        let events = page["events"].as_array().cloned().unwrap_or_default();
        Ok(events.iter().filter(|e| e["event"]["type"] == kind && e["event"][field] == id).count())
    }
}

const PAIR: i64 = 89_900;

/// Pays, ships and refunds one pair of a two-pair order on `channel`; every notification is
/// delivered twice and each still counts once.
async fn paid_shipped_refunded(w: &PaymentWorld, channel: ChannelKind) -> Result<()> {
    let order_id = w.order(&format!("story-{}", channel.as_str()), 2).await?;
    let started = w.start_payment(order_id, channel).await?;
    if started.status != 201 {
        anyhow::bail!("{}: {} {}; central's log:\n{}", channel.as_str(), started.status, started.body, lock(&w.central().daemon).log());
    }
    let payment = started.body;
    let out_trade_no = payment["out_trade_no"].as_str().context("out_trade_no")?.to_owned();
    assert!(payment["pay_url"].as_str().is_some_and(|u| !u.is_empty()), "{}: a pay URL for the customer: {payment}", channel.as_str());
    w.sim.duplicate_notifications(channel, true);
    w.sim.pay(channel, &out_trade_no)?;
    w.wait_order_state(order_id, "awaiting_shipment").await?;
    w.world.edge("SH-01").fulfil(order_id, &format!("SF{order_id}")).await?;
    w.wait_order_state(order_id, "shipped").await?;

    let refund = w.refund(order_id, &format!("refund-{}", channel.as_str()), 1).await?;
    assert_eq!(refund.status, 201, "{}", refund.body);
    let settled = w.wait_refund_state(order_id, "succeeded").await?;
    assert_eq!(settled["amount_minor"], PAIR);
    // The channel moved the money once each way, whatever it delivered twice.
    assert_eq!(w.sim.captured_minor(channel, &out_trade_no), 2 * PAIR, "{}", channel.as_str());
    assert_eq!(w.sim.refunded_minor(channel, &out_trade_no), PAIR, "{}", channel.as_str());
    let payment_id = payment["id"].as_u64().context("payment id")?;
    assert_eq!(w.events("payment_succeeded", "payment_id", payment_id).await?, 1, "{}", channel.as_str());
    assert_eq!(w.events("refund_succeeded", "payment_id", payment_id).await?, 1, "{}", channel.as_str());
    let paid = &w.payments(order_id).await?[0];
    assert_eq!((paid["state"].as_str(), paid["refunded_minor"].as_i64()), (Some("succeeded"), Some(PAIR)));

    // A blue invoice for the order, a red one for the returned pair.
    let invoices = eventually("the invoices", Duration::from_secs(20), || async {
        let list = w.central().get(&format!("/api/v1/orders/{order_id}/invoices")).await?.ok()?;
        Ok(list.as_array().filter(|l| l.len() == 2).cloned())
    })
    .await?;
    let kinds: Vec<&str> = invoices.iter().filter_map(|i| i["kind"].as_str()).collect();
    assert_eq!(kinds, ["blue", "red"]);
    assert_eq!(invoices[0]["totals"]["amount_minor"], 2 * PAIR);
    assert_eq!(invoices[1]["totals"]["amount_minor"], -PAIR);
    assert_eq!(invoices[1]["original_number"], invoices[0]["number"]);
    Ok(())
}

async fn story_on(backend: Backend) -> Result<()> {
    let w = PaymentWorld::start(backend, 7).await?;
    for channel in ChannelKind::ALL {
        paid_shipped_refunded(&w, channel).await?;
    }
    // Each channel's notification endpoint saw duplicates and refused none of them.
    let metrics = w.central().metrics().await?;
    assert!(!metrics.contains("tote_central_payment_notifications_refused_total{"), "nothing refused:\n{metrics}");
    check_journal(w.central()).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_story_paid_through_each_channel_ships_and_a_returned_pair_is_refunded_once() -> Result<()> {
    story_on(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_story_paid_through_each_channel_on_postgres() -> Result<()> {
    story_on(Backend::Postgres).await
}
