//! Payment figures: orders/s through create → channel → notification → paid with every
//! signature made and checked for real, beside the RSA-2048 signing rate `openssl speed`
//! reports in the same run (the bound when signatures are the only cost); the cost of
//! verifying one notification per channel; reconciling a 1,000,000-line bill.

use crate::bench::{central_config_with, push_stock, seed, sku, spawn, ADMIN};
use crate::client::Api;
use anyhow::{bail, Context, Result};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tote_shared::payment::bill::{self, BillDay, BillKind, BillLine, BillStatus};
use tote_shared::payment::keys::PrivateKey;
use tote_shared::payment::reconcile::{self, OurRecord, OurStatus};
use tote_shared::payment::{alipay, card, wechat};
use tote_sim::payment::{ChannelKeys, ChannelKind, ChannelSim, SimConfig};

/// RSA-2048 signatures per payment: WeChat Pay and Alipay sign our create request, the
/// channel's answer and its notification; the card gateway signs with HMAC only.
fn rsa_signatures(channel: ChannelKind) -> u32 {
    match channel {
        ChannelKind::Wechat | ChannelKind::Alipay => 3,
        ChannelKind::Card => 0,
    }
}

pub async fn payments(orders: usize, clients: usize) -> Result<()> {
    let (openssl_sign, openssl_verify) = openssl_speed()?;
    println!("openssl speed rsa2048 (one core): {openssl_sign:.0} sign/s, {openssl_verify:.0} verify/s");
    let keys = tokio::task::spawn_blocking(|| ChannelKeys::generate(1)).await??;
    let (ring_sign, ring_verify) = ring_speed(&keys)?;
    println!("ring (ours, one core):            {ring_sign:.0} sign/s ({:.2}× openssl), {ring_verify:.0} verify/s", ring_sign / openssl_sign);
    notification_costs(&keys)?;
    for channel in ChannelKind::ALL {
        let rate = end_to_end(keys.clone(), channel, orders, clients).await?;
        let signs = rsa_signatures(channel);
        if signs == 0 {
            println!("{:<7} {rate:>7.0} orders/s paid (create → channel → notification → paid; HMAC webhooks, no RSA)", channel.as_str());
        } else {
            let bound = openssl_sign / f64::from(signs);
            println!(
                "{:<7} {rate:>7.0} orders/s paid; {signs} RSA signatures each → bound {bound:.0}/s per core; {:.0} % of it",
                channel.as_str(),
                100.0 * rate / bound
            );
        }
    }
    reconcile_million()
}

fn openssl_speed() -> Result<(f64, f64)> {
    let out = std::process::Command::new("openssl").args(["speed", "-seconds", "3", "rsa2048"]).output().context("openssl is missing (Debian: openssl)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("rsa 2048 bits") {
            let figures: Vec<f64> = rest.split_whitespace().filter_map(|f| f.trim_end_matches('s').parse().ok()).collect();
            if let [_, _, sign, verify] = figures[..] {
                return Ok((sign, verify));
            }
        }
    }
    bail!("no rsa 2048 line in openssl speed's output:\n{text}")
}

fn ring_speed(keys: &ChannelKeys) -> Result<(f64, f64)> {
    let key = PrivateKey::from_pem(&keys.wechat_platform_private_pem).map_err(|e| anyhow::anyhow!("{e}"))?;
    let public = key.public_key();
    let message = b"1764650000\nnonce\n{\"id\":\"EV-1\"}\n";
    let signature = key.sign_base64(message).map_err(|e| anyhow::anyhow!("{e}"))?;
    let rate = |f: &mut dyn FnMut()| {
        let started = Instant::now();
        let mut n = 0u64;
        while started.elapsed() < Duration::from_secs(2) {
            f();
            n += 1;
        }
        n as f64 / started.elapsed().as_secs_f64()
    };
    let sign = rate(&mut || {
        let _ = key.sign_base64(message);
    });
    let verify = rate(&mut || {
        let _ = public.verify_base64(message, &signature);
    });
    Ok((sign, verify))
}

/// Microseconds to verify (and, for WeChat, decrypt) one notification, per channel.
fn notification_costs(keys: &ChannelKeys) -> Result<()> {
    let err = |e: &dyn std::fmt::Display| anyhow::anyhow!("{e}");
    let platform = PrivateKey::from_pem(&keys.wechat_platform_private_pem).map_err(|e| err(&e))?;
    let platform_keys = wechat::PlatformKeys::new([(keys.wechat_platform_key_id.clone(), platform.public_key())]);
    let transaction = json!({"appid": keys.wechat_appid, "mchid": keys.wechat_mchid, "out_trade_no": "T00000001_1", "transaction_id": "42",
        "trade_state": "SUCCESS", "amount": {"total": 89900, "currency": "CNY"}});
    let body = wechat::seal_notification(keys.wechat_apiv3_key.as_bytes(), "EV-1", "t", "TRANSACTION.SUCCESS", "transaction", "abcdefghijkl", &transaction.to_string()).map_err(|e| err(&e))?;
    let now = tote_shared::runtime::system::now_ms() / 1000;
    let headers = wechat::platform_headers(&platform, &keys.wechat_platform_key_id, now, "n", &body).map_err(|e| err(&e))?;
    let alipay_key = PrivateKey::from_pem(&keys.alipay_private_pem).map_err(|e| err(&e))?;
    let mut form: BTreeMap<String, String> = [("notify_id", "1"), ("out_trade_no", "T00000001_1"), ("trade_status", "TRADE_SUCCESS"), ("total_amount", "899.00"), ("sign_type", "RSA2")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    form.insert("sign".into(), alipay::sign_notification(&alipay_key, &form).map_err(|e| err(&e))?);
    let alipay_public = alipay_key.public_key();
    let event = json!({"id": "evt_1", "type": "payment_intent.succeeded"}).to_string();
    let stripe_header = card::signature_header(&keys.card_webhook_secret, now, &event);
    let micros = |f: &mut dyn FnMut() -> bool| -> Result<f64> {
        let n = 2_000;
        let started = Instant::now();
        for _ in 0..n {
            anyhow::ensure!(f(), "a genuine notification did not verify");
        }
        Ok(started.elapsed().as_secs_f64() * 1e6 / f64::from(n))
    };
    let wechat_us = micros(&mut || wechat::open_notification(&platform_keys, keys.wechat_apiv3_key.as_bytes(), &headers, &body, now).is_ok())?;
    let alipay_us = micros(&mut || alipay::verify_notification(&alipay_public, &form))?;
    let card_us = micros(&mut || card::verify_header(&keys.card_webhook_secret, &stripe_header, &event, now).is_ok())?;
    println!("verifying one notification: WeChat Pay {wechat_us:.1} µs (RSA verify + AES-256-GCM), Alipay {alipay_us:.1} µs (RSA verify), card {card_us:.2} µs (HMAC)");
    Ok(())
}

/// Orders/s from the first payment created to the last order paid, `clients` at a time.
async fn end_to_end(keys: ChannelKeys, channel: ChannelKind, orders: usize, clients: usize) -> Result<f64> {
    let mut config = SimConfig::new(keys, 1);
    config.time_scale = 0.01;
    let sim = Arc::new(ChannelSim::start(config).await?);
    let dir = tempfile::tempdir()?;
    let database = format!("path = \"{}\"\nwrite_queue = 65536\nmax_batch = 1024\nmax_readers = 4", dir.path().join("central.sqlite").display());
    let config = central_config_with(dir.path(), "127.0.0.1:0", &database)?;
    let mut text = std::fs::read_to_string(&config)?;
    text.push_str(&sim.central_config("call_timeout_ms = 10000\nquery_after_ms = 600000\ndispatch_interval_ms = 1000"));
    std::fs::write(&config, text)?;
    let central = spawn("tote-central", &config)?;
    sim.set_card_webhook_url(Some(format!("{}/api/v1/payments/notify/card", central.url)));
    let hq = Api::new(central.url.clone(), Some(ADMIN.into()));
    seed(&hq, 100).await?;
    push_stock(&central.url, "SH-01", 100, 1_000_000).await?;
    let mut ids = Vec::with_capacity(orders);
    for n in 0..orders {
        let body = json!({"channel": "bench", "lines": [{"sku": sku(n % 100), "qty": 1}], "ship_to": {"name": "R", "line1": "1 Road", "city": "Shanghai"}});
        ids.push(hq.post_keyed("/api/v1/orders", &format!("pay-{n}"), &body).await?["id"].as_u64().context("id")?);
    }
    let next = Arc::new(AtomicUsize::new(0));
    let ids = Arc::new(ids);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (hq, sim, next, ids) = (Api::new(central.url.clone(), Some(ADMIN.into())), sim.clone(), next.clone(), ids.clone());
        tasks.spawn(async move {
            while let Some(id) = ids.get(next.fetch_add(1, Ordering::Relaxed)) {
                let payment = hq.post(&format!("/api/v1/orders/{id}/payments"), &json!({"channel": channel.as_str(), "payer": {"user": format!("u{id}")}})).await?;
                sim.pay(channel, payment["out_trade_no"].as_str().context("out_trade_no")?)?;
            }
            Ok::<_, anyhow::Error>(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let metrics = hq.get_text("/metrics").await?;
        let paid = metrics.lines().find(|l| l.starts_with("tote_central_orders{state=\"awaiting_shipment\"}")).and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok());
        if paid == Some(orders as f64) {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "orders not all paid: {paid:?} of {orders}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(orders as f64 / started.elapsed().as_secs_f64())
}

/// Parses and matches a 1,000,000-line WeChat bill (and the same as Alipay's zip) against as
/// many records of ours.
fn reconcile_million() -> Result<()> {
    let day = BillDay::parse("2026-12-01").context("day")?;
    let start = day.start_ms(bill::day_offset_ms(ChannelKind::Wechat));
    let mut lines = Vec::with_capacity(1_000_000);
    let mut ours = Vec::with_capacity(1_000_000);
    for n in 0..1_000_000i64 {
        let amount = 100 + n % 90_000;
        let fee = (amount * 60 + 5_000) / 10_000;
        let out_trade_no = format!("T{n:08}_1");
        lines.push(BillLine {
            channel: ChannelKind::Wechat,
            kind: BillKind::Payment,
            out_trade_no: out_trade_no.clone(),
            channel_trade_no: format!("42{n:018}"),
            out_refund_no: None,
            amount_minor: amount,
            fee_minor: fee,
            status: BillStatus::Success,
            at_ms: start + (n * 86) % 86_400_000 / 1000 * 1000,
        });
        ours.push(OurRecord { kind: BillKind::Payment, channel: ChannelKind::Wechat, out_trade_no, out_refund_no: None, amount_minor: amount, status: OurStatus::Succeeded, expected_fee_minor: fee });
    }
    for (name, write, parse) in [
        ("WeChat Pay CSV", bill::write_wechat as fn(&[BillLine], BillDay) -> _, bill::parse_wechat as fn(&[u8]) -> _),
        ("Alipay GBK zip", bill::write_alipay, bill::parse_alipay),
    ] {
        let mut lines = lines.clone();
        let mut ours = ours.clone();
        if name.starts_with("Alipay") {
            for l in &mut lines {
                l.channel = ChannelKind::Alipay;
            }
            for o in &mut ours {
                o.channel = ChannelKind::Alipay;
            }
        }
        let file = write(&lines, day).map_err(|e| anyhow::anyhow!("{e}"))?;
        let started = Instant::now();
        let parsed = parse(&file).map_err(|e| anyhow::anyhow!("{e}"))?;
        let parsed_in = started.elapsed();
        let result = reconcile::reconcile(lines[0].channel, &parsed, &ours).map_err(|e| anyhow::anyhow!("{e}"))?;
        let total = started.elapsed();
        anyhow::ensure!(result.differences.is_empty() && result.matched == 1_000_000, "a clean bill must match entirely");
        println!(
            "reconciling a 1,000,000-line {name} ({:.0} MB): parse {:.2} s + match {:.2} s = {:.2} s",
            file.len() as f64 / 1e6,
            parsed_in.as_secs_f64(),
            (total - parsed_in).as_secs_f64(),
            total.as_secs_f64()
        );
    }
    Ok(())
}
