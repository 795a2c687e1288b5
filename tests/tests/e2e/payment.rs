//! Payment, paid for real: orders paid through each channel's simulator (its own keys, its
//! own HTTP server, its notifications and retry schedule), shipped, refunded at the channel;
//! forged and replayed notifications refused with nothing changed; channel faults ending in
//! the right state exactly once; reconciliation and risk rules.

use crate::helpers::*;
use crate::journal::check_journal;
use anyhow::{Context, Result};
use serde_json::{json, Value};
use std::time::Duration;
use tote_sim::payment::{ChannelKeys, ChannelKind, ChannelSim, SimConfig};

/// Channel retries and refund settlement run at 1/100 of real time.
const TIME_SCALE: f64 = 0.01;

/// Central's `[payment]` tuning for tests: short timeouts, a busy dispatcher.
const PAYMENT_TUNING: &str =
    "call_timeout_ms = 1500\nquery_after_ms = 2000\ndispatch_interval_ms = 100";

pub struct PaymentWorld {
    pub world: World,
    pub sim: ChannelSim,
}

impl PaymentWorld {
    /// Central on `backend` with all three channels, edge SH-01 with 20 pairs of Pegasus 39.
    pub async fn start(backend: Backend, seed: u64) -> Result<PaymentWorld> {
        Self::start_tuned(backend, seed, PAYMENT_TUNING).await
    }

    /// `start` with central's `[payment]` tuning lines.
    pub async fn start_tuned(backend: Backend, seed: u64, tuning: &str) -> Result<PaymentWorld> {
        Self::start_full(backend, seed, tuning, 600_000).await
    }

    /// `start_tuned` with orders closing unpaid after `payment_timeout_ms`.
    pub async fn start_full(
        backend: Backend,
        seed: u64,
        tuning: &str,
        payment_timeout_ms: u64,
    ) -> Result<PaymentWorld> {
        Self::start_extra(backend, seed, tuning, payment_timeout_ms, "").await
    }

    /// `start` with the tracking aggregator's pushes accepted (signed with `CARRIER_SALT`).
    pub async fn start_tracked(backend: Backend, seed: u64) -> Result<PaymentWorld> {
        Self::start_extra(
            backend,
            seed,
            PAYMENT_TUNING,
            600_000,
            &format!("\n[logistics]\ntracking_salt = \"{CARRIER_SALT}\"\n"),
        )
        .await
    }

    async fn start_extra(
        backend: Backend,
        seed: u64,
        tuning: &str,
        payment_timeout_ms: u64,
        extra: &str,
    ) -> Result<PaymentWorld> {
        let keys = tokio::task::spawn_blocking(move || ChannelKeys::generate(seed)).await??;
        let mut config = SimConfig::new(keys, seed);
        config.time_scale = TIME_SCALE;
        let sim = ChannelSim::start(config).await?;
        let config = format!("{}{extra}", sim.central_config(tuning));
        let world = World::start_with(
            backend,
            &[("SH-01", "Shanghai")],
            payment_timeout_ms,
            &config,
        )
        .await?;
        sim.set_card_webhook_url(Some(world.central.url("/api/v1/payments/notify/card")));
        world
            .edge("SH-01")
            .receive("A-01-01", PEGASUS_GTIN, 20)
            .await?;
        world
            .edge("SH-01")
            .wait_synced(Duration::from_secs(20))
            .await?;
        Ok(PaymentWorld { world, sim })
    }

    pub fn central(&self) -> &Central {
        &self.world.central
    }

    /// `outcome` with central's log attached when it failed.
    pub fn explained<T>(&self, outcome: Result<T>) -> Result<T> {
        outcome.map_err(|e| {
            e.context(format!(
                "central's log:\n{}",
                lock(&self.central().daemon).log()
            ))
        })
    }

    /// A new order for `qty` pairs; its id.
    pub async fn order(&self, key: &str, qty: i64) -> Result<u64> {
        let order = self
            .central()
            .create_order(key, &order_body(PEGASUS, qty, "Shanghai"))
            .await?
            .ok()?;
        order["id"].as_u64().context("order id")
    }

    /// Starts paying `order_id` on `channel`; the payment as central answered it.
    pub async fn start_payment(&self, order_id: u64, channel: ChannelKind) -> Result<Reply> {
        self.central()
            .post(
                &format!("/api/v1/orders/{order_id}/payments"),
                json!({"channel": channel.as_str()}),
            )
            .await
    }

    /// The paid order leaves SH-01 with tracking number `SF{order_id}`; the order once central
    /// has it shipped.
    pub async fn ship(&self, order_id: u64) -> Result<Value> {
        self.wait_order_state(order_id, "awaiting_shipment").await?;
        self.world
            .edge("SH-01")
            .fulfil(order_id, &format!("SF{order_id}"))
            .await?;
        self.wait_order_state(order_id, "shipped").await
    }

    pub async fn wait_order_state(&self, order_id: u64, state: &str) -> Result<Value> {
        eventually(
            &format!("order {order_id} to be {state}"),
            Duration::from_secs(30),
            || async {
                let order = self.central().order(order_id).await?;
                Ok((order["state"] == state).then_some(order))
            },
        )
        .await
    }

    pub async fn payments(&self, order_id: u64) -> Result<Vec<Value>> {
        let list = self
            .central()
            .get(&format!("/api/v1/orders/{order_id}/payments"))
            .await?
            .ok()?;
        Ok(list.as_array().cloned().unwrap_or_default())
    }

    pub async fn refund(&self, order_id: u64, key: &str, qty: i64) -> Result<Reply> {
        let body =
            json!({"lines": [{"sku": PEGASUS, "qty": qty}], "reason": "returned: too small"});
        let central = self.central();
        let request = central
            .http
            .post(central.url(&format!("/api/v1/orders/{order_id}/refunds")))
            .bearer_auth(ADMIN)
            .header("Idempotency-Key", key)
            .json(&body);
        Reply::from(request.send().await?).await
    }

    pub async fn wait_refund_state(&self, order_id: u64, state: &str) -> Result<Value> {
        eventually(
            &format!("the refund of order {order_id} to be {state}"),
            Duration::from_secs(30),
            || async {
                let refunds = self
                    .central()
                    .get(&format!("/api/v1/orders/{order_id}/refunds"))
                    .await?
                    .ok()?;
                Ok(refunds
                    .as_array()
                    .and_then(|r| r.first())
                    .filter(|r| r["state"] == state)
                    .cloned())
            },
        )
        .await
    }

    /// Journal events of `kind` about payment or refund `subject`.
    pub async fn events(&self, kind: &str, field: &str, id: u64) -> Result<usize> {
        wait_journal_settled(self.central()).await?;
        let page = self
            .central()
            .get("/api/v1/events?after=0&limit=1000")
            .await?
            .ok()?;
        let events = page["events"].as_array().cloned().unwrap_or_default();
        Ok(events
            .iter()
            .filter(|e| e["event"]["type"] == kind && e["event"][field] == id)
            .count())
    }
}

const PAIR: i64 = 89_900;

/// Pays, ships and refunds one pair of a two-pair order on `channel`; every notification is
/// delivered twice and each still counts once.
async fn paid_shipped_refunded(w: &PaymentWorld, channel: ChannelKind) -> Result<()> {
    let order_id = w.order(&format!("story-{}", channel.as_str()), 2).await?;
    let started = w.start_payment(order_id, channel).await?;
    if started.status != 201 {
        anyhow::bail!(
            "{}: {} {}; central's log:\n{}",
            channel.as_str(),
            started.status,
            started.body,
            lock(&w.central().daemon).log()
        );
    }
    let payment = started.body;
    let out_trade_no = payment["out_trade_no"]
        .as_str()
        .context("out_trade_no")?
        .to_owned();
    assert!(
        payment["pay_url"].as_str().is_some_and(|u| !u.is_empty()),
        "{}: a pay URL for the customer: {payment}",
        channel.as_str()
    );
    w.sim.duplicate_notifications(channel, true);
    w.sim.pay(channel, &out_trade_no)?;
    w.ship(order_id).await?;

    let refund = w
        .refund(order_id, &format!("refund-{}", channel.as_str()), 1)
        .await?;
    assert_eq!(refund.status, 201, "{}", refund.body);
    let settled = w.wait_refund_state(order_id, "succeeded").await?;
    assert_eq!(settled["amount_minor"], PAIR);
    // The channel moved the money once each way, whatever it delivered twice.
    assert_eq!(
        w.sim.captured_minor(channel, &out_trade_no),
        2 * PAIR,
        "{}",
        channel.as_str()
    );
    assert_eq!(
        w.sim.refunded_minor(channel, &out_trade_no),
        PAIR,
        "{}",
        channel.as_str()
    );
    let payment_id = payment["id"].as_u64().context("payment id")?;
    assert_eq!(
        w.events("payment_succeeded", "payment_id", payment_id)
            .await?,
        1,
        "{}",
        channel.as_str()
    );
    assert_eq!(
        w.events("refund_succeeded", "payment_id", payment_id)
            .await?,
        1,
        "{}",
        channel.as_str()
    );
    let paid = &w.payments(order_id).await?[0];
    assert_eq!(
        (paid["state"].as_str(), paid["refunded_minor"].as_i64()),
        (Some("succeeded"), Some(PAIR))
    );

    // A blue invoice for the order, a red one for the returned pair.
    let invoices = eventually("the invoices", Duration::from_secs(20), || async {
        let list = w
            .central()
            .get(&format!("/api/v1/orders/{order_id}/invoices"))
            .await?
            .ok()?;
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
    assert!(
        !metrics.contains("tote_central_payment_notifications_refused_total{"),
        "nothing refused:\n{metrics}"
    );
    // The risk engine's windows hold each channel's attempt (one user key each, at least).
    let remembered = |kind: &str| {
        let name = format!("tote_central_risk_remembered{{kind=\"{kind}\"}} ");
        metrics.lines().find_map(|l| l.strip_prefix(name.as_str())).and_then(|v| v.parse::<f64>().ok())
    };
    let channels = ChannelKind::ALL.len() as f64;
    assert!(remembered("attempts").is_some_and(|n| n >= channels) && remembered("keys").is_some_and(|n| n >= channels), "risk gauges:\n{metrics}");
    check_journal(w.central()).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_story_paid_through_each_channel_ships_and_a_returned_pair_is_refunded_once(
) -> Result<()> {
    story_on(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_story_paid_through_each_channel_on_postgres() -> Result<()> {
    story_on(Backend::Postgres).await
}

// --- attacks ---------------------------------------------------------------------------------

use tote_shared::payment::keys::PrivateKey;
use tote_shared::payment::{alipay as ali, card as stripe_like, wechat as v3};

fn now_s() -> i64 {
    tote_shared::runtime::system::now_ms() / 1000
}

/// A WeChat `TRANSACTION.SUCCESS` for `out_trade_no`, as the platform would send it, with the
/// pieces an attacker changes: signing key, serial, timestamp, amount, currency, sealing.
struct WechatForgery<'a> {
    keys: &'a ChannelKeys,
    id: String,
    out_trade_no: String,
    total: i64,
    currency: &'a str,
    signing_key: Option<&'a str>,
    serial: Option<&'a str>,
    timestamp: i64,
    apiv3_key: Option<&'a str>,
    /// Changes the body after sealing, before signing.
    tamper: fn(String) -> String,
}

impl<'a> WechatForgery<'a> {
    fn genuine(keys: &'a ChannelKeys, id: &str, out_trade_no: &str, total: i64) -> Self {
        WechatForgery {
            keys,
            id: id.into(),
            out_trade_no: out_trade_no.into(),
            total,
            currency: "CNY",
            signing_key: None,
            serial: None,
            timestamp: now_s(),
            apiv3_key: None,
            tamper: |body| body,
        }
    }

    fn build(&self) -> Result<(Vec<(String, String)>, String)> {
        let transaction = v3::Transaction {
            appid: self.keys.wechat_appid.clone(),
            mchid: self.keys.wechat_mchid.clone(),
            out_trade_no: self.out_trade_no.clone(),
            transaction_id: Some(format!("42000{}", self.id.len())),
            trade_type: Some("NATIVE".into()),
            trade_state: "SUCCESS".into(),
            trade_state_desc: "支付成功".into(),
            success_time: None,
            amount: v3::TransactionAmount {
                total: self.total,
                payer_total: Some(self.total),
                currency: self.currency.into(),
                payer_currency: None,
            },
        };
        let apiv3 = self.apiv3_key.unwrap_or(&self.keys.wechat_apiv3_key);
        let plain = serde_json::to_string(&transaction)?;
        let body = v3::seal_notification(
            apiv3.as_bytes(),
            &self.id,
            "2026-12-02T10:00:00+08:00",
            "TRANSACTION.SUCCESS",
            "transaction",
            "abcdefghijkl",
            &plain,
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let body = (self.tamper)(body);
        let key = PrivateKey::from_pem(
            self.signing_key
                .unwrap_or(&self.keys.wechat_platform_private_pem),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let serial = self.serial.unwrap_or(&self.keys.wechat_platform_key_id);
        let h = v3::platform_headers(&key, serial, self.timestamp, "nonce-forged", &body)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let headers = [
            ("Wechatpay-Timestamp", h.timestamp),
            ("Wechatpay-Nonce", h.nonce),
            ("Wechatpay-Signature", h.signature),
            ("Wechatpay-Serial", h.serial),
            ("Wechatpay-Signature-Type", h.signature_type),
        ];
        Ok((
            headers
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.unwrap_or_default()))
                .collect(),
            body,
        ))
    }
}

async fn notify(
    central: &Central,
    channel: &str,
    headers: &[(String, String)],
    body: String,
    content_type: &str,
) -> Result<reqwest::StatusCode> {
    let mut request = central
        .http
        .post(central.url(&format!("/api/v1/payments/notify/{channel}")))
        .header("Content-Type", content_type)
        .body(body);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    Ok(request.send().await?.status())
}

async fn send_wechat(
    central: &Central,
    forgery: &WechatForgery<'_>,
) -> Result<reqwest::StatusCode> {
    let (headers, body) = forgery.build()?;
    notify(central, "wechat", &headers, body, "application/json").await
}

/// Flips one character inside the sealed ciphertext.
fn flip_ciphertext(body: String) -> String {
    let marker = "\"ciphertext\":\"";
    let at = body.find(marker).map(|i| i + marker.len() + 5).unwrap_or(0);
    let mut bytes = body.into_bytes();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap_or_default()
}

fn other_associated_data(body: String) -> String {
    body.replacen(
        "\"associated_data\":\"transaction\"",
        "\"associated_data\":\"refund\"",
        1,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forged_replayed_stale_and_mismatched_notifications_are_refused_and_change_nothing(
) -> Result<()> {
    // Pending payments are not asked about during the test (the checksum must hold still).
    let w = PaymentWorld::start_tuned(
        Backend::Sqlite,
        11,
        "call_timeout_ms = 1500\nquery_after_ms = 600000\ndispatch_interval_ms = 100",
    )
    .await?;
    let keys = w.sim.keys().clone();
    // One paid order (whose genuine notification an attacker replays), one awaiting payment.
    let paid_order = w.order("attack-paid", 1).await?;
    let paid = w
        .start_payment(paid_order, ChannelKind::Wechat)
        .await?
        .ok()?;
    let paid_no = paid["out_trade_no"].as_str().context("no")?.to_owned();
    w.sim.pay(ChannelKind::Wechat, &paid_no)?;
    w.wait_order_state(paid_order, "awaiting_shipment").await?;
    let open_order = w.order("attack-open", 1).await?;
    let open = w
        .start_payment(open_order, ChannelKind::Wechat)
        .await?
        .ok()?;
    let open_no = open["out_trade_no"].as_str().context("no")?.to_owned();
    for channel in [ChannelKind::Alipay, ChannelKind::Card] {
        w.start_payment(open_order, channel).await?.ok()?;
    }
    let before = w.central().data_checksum().await?;

    let central = w.central();
    let genuine = || WechatForgery::genuine(&keys, "EV-forged-1", &open_no, PAIR);
    let cases: Vec<(&str, WechatForgery<'_>)> = vec![
        (
            "signed with another key",
            WechatForgery {
                signing_key: Some(&keys.wechat_merchant_private_pem),
                ..genuine()
            },
        ),
        (
            "unknown serial",
            WechatForgery {
                serial: Some("PUB_KEY_ID_0000000000000000"),
                ..genuine()
            },
        ),
        (
            "stale timestamp",
            WechatForgery {
                timestamp: now_s() - 3600,
                ..genuine()
            },
        ),
        (
            "amount mismatch",
            WechatForgery {
                total: 1,
                ..genuine()
            },
        ),
        (
            "currency mismatch",
            WechatForgery {
                currency: "USD",
                ..genuine()
            },
        ),
        (
            "unknown order",
            WechatForgery {
                out_trade_no: "T99999999_1".into(),
                ..genuine()
            },
        ),
        (
            "tampered ciphertext",
            WechatForgery {
                tamper: flip_ciphertext,
                ..genuine()
            },
        ),
        (
            "wrong associated data",
            WechatForgery {
                tamper: other_associated_data,
                ..genuine()
            },
        ),
        (
            "sealed under another APIv3 key",
            WechatForgery {
                apiv3_key: Some("ffffffffffffffffffffffffffffffff"),
                ..genuine()
            },
        ),
    ];
    for (what, forgery) in cases {
        let status = send_wechat(central, &forgery).await?;
        assert_eq!(status, 400, "{what}: refused with WeChat's FAIL answer");
    }
    // The paid order's success, replayed by an attacker (the id WeChat gave it, a fresh
    // signature): taken as the repeat it is and changes nothing; an hour later: stale, refused.
    let seen = w
        .central()
        .rows("SELECT notification_id FROM payment_notification WHERE channel = 'wechat'")
        .await?;
    let genuine_id = seen
        .first()
        .and_then(|r| r.first())
        .context("the genuine notification was recorded")?
        .clone();
    let replay = WechatForgery::genuine(&keys, &genuine_id, &paid_no, PAIR);
    let (headers, body) = replay.build()?;
    assert_eq!(
        notify(
            central,
            "wechat",
            &headers,
            body.clone(),
            "application/json"
        )
        .await?,
        204
    );
    assert_eq!(
        notify(central, "wechat", &headers, body, "application/json").await?,
        204,
        "a repeat is acknowledged"
    );
    let late = WechatForgery {
        timestamp: now_s() - 3600,
        ..WechatForgery::genuine(&keys, &genuine_id, &paid_no, PAIR)
    };
    assert_eq!(send_wechat(central, &late).await?, 400);

    // Alipay: signed by someone else, or a signed form with the amount changed afterwards.
    let mut form: std::collections::BTreeMap<String, String> = [
        ("notify_id", "N-forged-1"),
        ("notify_type", "trade_status_sync"),
        ("app_id", keys.alipay_app_id.as_str()),
        ("out_trade_no", open_no.as_str()),
        ("trade_no", "2026120222001"),
        ("trade_status", "TRADE_SUCCESS"),
        ("total_amount", "899.00"),
        ("sign_type", "RSA2"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let impostor =
        PrivateKey::from_pem(&keys.alipay_app_private_pem).map_err(|e| anyhow::anyhow!("{e}"))?;
    form.insert(
        "sign".into(),
        ali::sign_notification(&impostor, &form).map_err(|e| anyhow::anyhow!("{e}"))?,
    );
    let encode = |f: &std::collections::BTreeMap<String, String>| {
        serde_urlencoded::to_string(f).unwrap_or_default()
    };
    let form_type = "application/x-www-form-urlencoded";
    assert_eq!(
        notify(central, "alipay", &[], encode(&form), form_type).await?,
        200
    );
    let alipay_key =
        PrivateKey::from_pem(&keys.alipay_private_pem).map_err(|e| anyhow::anyhow!("{e}"))?;
    form.remove("sign");
    form.insert(
        "sign".into(),
        ali::sign_notification(&alipay_key, &form).map_err(|e| anyhow::anyhow!("{e}"))?,
    );
    form.insert("total_amount".into(), "0.01".into());
    assert_eq!(
        notify(central, "alipay", &[], encode(&form), form_type).await?,
        200
    );

    // Card gateway: another secret, or a signature older than the tolerance.
    let event = json!({"id": "evt_forged", "object": "event", "type": "payment_intent.succeeded", "created": now_s(),
        "data": {"object": {"id": "pi_forged", "object": "payment_intent", "amount": PAIR, "amount_received": PAIR, "currency": "cny",
        "status": "succeeded", "metadata": {"out_trade_no": open_no}}}})
    .to_string();
    for (secret, at) in [
        ("whsec_not_the_secret", now_s()),
        (keys.card_webhook_secret.as_str(), now_s() - 301),
    ] {
        let header = stripe_like::signature_header(secret, at, &event);
        let status = notify(
            central,
            "card",
            &[("Stripe-Signature".into(), header)],
            event.clone(),
            "application/json",
        )
        .await?;
        assert_eq!(status, 400);
    }

    assert_eq!(
        w.central().data_checksum().await?,
        before,
        "no refused notification changed a row"
    );
    assert_eq!(
        w.central().order(open_order).await?["state"],
        "awaiting_payment"
    );
    let metrics = w.central().metrics().await?;
    for (channel, reason, count) in [
        ("wechat", "signature", 1.0),
        ("wechat", "unknown_serial", 1.0),
        ("wechat", "stale", 2.0),
        ("wechat", "amount_mismatch", 2.0),
        ("wechat", "unknown_payment", 1.0),
        ("wechat", "decrypt", 3.0),
        ("alipay", "signature", 2.0),
        ("card", "signature", 1.0),
        ("card", "stale", 1.0),
    ] {
        let name = format!("tote_central_payment_notifications_refused_total{{channel=\"{channel}\",reason=\"{reason}\"}}");
        assert_eq!(metric(&metrics, &name), Some(count), "{name}");
    }
    Ok(())
}

// --- channel faults ---------------------------------------------------------------------------

/// Starts a payment whatever the channel answers (201 or 202); its out_trade_no.
async fn started(
    w: &PaymentWorld,
    order_id: u64,
    channel: ChannelKind,
    expect: u16,
) -> Result<String> {
    let reply = w.start_payment(order_id, channel).await?;
    assert_eq!(reply.status, expect, "{}: {}", channel.as_str(), reply.body);
    Ok(reply.body["out_trade_no"]
        .as_str()
        .context("out_trade_no")?
        .to_owned())
}

async fn wait_payment_state(w: &PaymentWorld, order_id: u64, state: &str) -> Result<Value> {
    eventually(
        &format!("the payment of order {order_id} to be {state}"),
        Duration::from_secs(30),
        || async {
            Ok(w.payments(order_id)
                .await?
                .into_iter()
                .find(|p| p["state"] == state))
        },
    )
    .await
}

async fn paid_once(
    w: &PaymentWorld,
    order_id: u64,
    channel: ChannelKind,
    out_trade_no: &str,
) -> Result<()> {
    w.wait_order_state(order_id, "awaiting_shipment").await?;
    let payment = wait_payment_state(w, order_id, "succeeded").await?;
    assert_eq!(
        w.sim.captured_minor(channel, out_trade_no),
        PAIR,
        "{} {out_trade_no}: money captured once",
        channel.as_str()
    );
    let id = payment["id"].as_u64().context("id")?;
    assert_eq!(
        w.events("payment_succeeded", "payment_id", id).await?,
        1,
        "{} {out_trade_no}",
        channel.as_str()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn timeouts_5xx_early_duplicate_and_lost_notifications_end_each_order_paid_exactly_once(
) -> Result<()> {
    let w = PaymentWorld::start(Backend::Sqlite, 13).await?;

    // The create call times out (the channel did the work, its answer came too late): 202,
    // and the dispatcher asks again until it has the pay URL.
    let order = w.order("fault-timeout", 1).await?;
    w.sim.delay_answers_ms(ChannelKind::Wechat, 2_500);
    let no = started(&w, order, ChannelKind::Wechat, 202).await?;
    w.sim.delay_answers_ms(ChannelKind::Wechat, 0);
    let pending = wait_payment_state(&w, order, "pending").await?;
    assert!(pending["pay_url"].as_str().is_some());
    w.sim.pay(ChannelKind::Wechat, &no)?;
    paid_once(&w, order, ChannelKind::Wechat, &no).await?;

    // The channel answers 5xx twice: 202, then the dispatcher's retry gets through.
    let order = w.order("fault-5xx", 1).await?;
    w.sim.answer_5xx_next(ChannelKind::Alipay, 2);
    let no = started(&w, order, ChannelKind::Alipay, 202).await?;
    wait_payment_state(&w, order, "pending").await?;
    w.sim.duplicate_notifications(ChannelKind::Alipay, true);
    w.sim.pay(ChannelKind::Alipay, &no)?;
    paid_once(&w, order, ChannelKind::Alipay, &no).await?;

    // The customer pays and the notification arrives before the create call has answered.
    let order = w.order("fault-early", 1).await?;
    w.sim.pay_on_create(ChannelKind::Card, true);
    let no = started(&w, order, ChannelKind::Card, 201).await?;
    w.sim.pay_on_create(ChannelKind::Card, false);
    paid_once(&w, order, ChannelKind::Card, &no).await?;

    // Every notification is lost: the dispatcher asks the channel and learns of the payment.
    let order = w.order("fault-lost", 1).await?;
    w.sim.stop_notifications(ChannelKind::Wechat, true);
    let no = started(&w, order, ChannelKind::Wechat, 201).await?;
    w.sim.pay(ChannelKind::Wechat, &no)?;
    paid_once(&w, order, ChannelKind::Wechat, &no).await?;
    w.sim.stop_notifications(ChannelKind::Wechat, false);
    // The held notification arrives late, after the query: acknowledged, counted once.
    eventually(
        "the held notification to be acknowledged",
        Duration::from_secs(20),
        || async { Ok((w.sim.notifications_pending(ChannelKind::Wechat) == 0).then_some(())) },
    )
    .await?;
    paid_once(&w, order, ChannelKind::Wechat, &no).await?;
    check_journal(w.central()).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn central_killed_between_the_channels_success_and_its_acknowledgement_pays_each_order_once(
) -> Result<()> {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let w = PaymentWorld::start(backend, 17).await?;
        let mut paid = Vec::new();
        for (i, channel) in ChannelKind::ALL.into_iter().cycle().take(6).enumerate() {
            let order = w.order(&format!("kill-{i}"), 1).await?;
            let no = started(&w, order, channel, 201).await?;
            paid.push((order, channel, no));
        }
        // Payments succeed at the channels while central dies again and again: some
        // notifications are applied and never acknowledged, some never arrive before a kill.
        for (round, (_, channel, no)) in paid.iter().enumerate() {
            w.sim.pay(*channel, no)?;
            if round % 2 == 1 {
                tokio::time::sleep(Duration::from_millis(3 * round as u64)).await;
                w.central().kill9();
                w.central().restart()?;
            }
        }
        for (order, channel, no) in &paid {
            paid_once(&w, *order, *channel, no).await?;
        }
        check_journal(w.central()).await?;
    }
    Ok(())
}

// --- risk ----------------------------------------------------------------------------------

const SOCKS: &str = "SOCK-M-WHT-S";
const SOCKS_GTIN: &str = "1958661377506";

/// A ¥5 pair of socks in stock at SH-01, the card-tester's favourite kind of order.
async fn stock_socks(w: &PaymentWorld, qty: i64) -> Result<()> {
    let sku = json!({"sku": SOCKS, "spu_id": "PEG39", "gtin": SOCKS_GTIN, "gender": "men", "colour": "white", "size": "S", "price": 500, "cost": 120});
    w.central().post("/api/v1/skus", sku).await?.ok()?;
    let edge = w.world.edge("SH-01");
    edge.wait_for_skus(skus().len() as u64 + 1).await?;
    edge.receive("A-01-01", SOCKS_GTIN, qty).await?;
    edge.wait_synced(Duration::from_secs(20)).await
}

async fn socks_order(w: &PaymentWorld, key: String) -> Result<u64> {
    let order = w
        .central()
        .create_order(&key, &order_body(SOCKS, 1, "Shanghai"))
        .await?
        .ok()?;
    order["id"].as_u64().context("id")
}

async fn pay_attempt(
    w: &PaymentWorld,
    order_id: u64,
    user: &str,
    card: &str,
    ip: &str,
) -> Result<Reply> {
    let body = json!({"channel": "card", "payer": {"user": user, "card_fingerprint": card, "ip": ip, "device": format!("dev-{user}")}});
    w.central()
        .post(&format!("/api/v1/orders/{order_id}/payments"), body)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_card_testing_burst_is_blocked_while_normal_shoppers_pay_and_each_decision_names_its_rule(
) -> Result<()> {
    card_testing_on(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_card_testing_burst_is_blocked_on_postgres() -> Result<()> {
    card_testing_on(Backend::Postgres).await
}

async fn card_testing_on(backend: Backend) -> Result<()> {
    let w = PaymentWorld::start(backend, 19).await?;
    let outcome = card_testing(&w).await;
    w.explained(outcome)
}

async fn card_testing(w: &PaymentWorld) -> Result<()> {
    stock_socks(w, 40).await?;

    // A stolen card tried from new accounts with ¥5 orders; the bank declines each.
    let mut outcomes = Vec::new();
    for i in 0..12 {
        let order = socks_order(w, format!("fraud-{i}")).await?;
        let reply = pay_attempt(
            w,
            order,
            &format!("new-account-{i}"),
            "fp-stolen-card",
            "10.9.9.9",
        )
        .await?;
        outcomes.push(reply.status.as_u16());
        if reply.status == 201 {
            let no = reply.body["out_trade_no"]
                .as_str()
                .context("no")?
                .to_owned();
            w.sim.decline(ChannelKind::Card, &no)?;
            wait_payment_state(w, order, "failed").await?;
            // The risk rules learn of the decline through the journal.
            wait_journal_settled(w.central()).await?;
        } else {
            assert_eq!(reply.status, 403, "{}", reply.body);
            assert!(
                reply.body["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("card-testing-by-card")),
                "{}",
                reply.body
            );
        }
    }
    let allowed = outcomes.iter().filter(|s| **s == 201).count();
    assert!(
        allowed <= 5 && outcomes[allowed..].iter().all(|s| *s == 403),
        "the burst is cut off after a handful: {outcomes:?}"
    );
    assert!(
        outcomes.iter().filter(|s| **s == 403).count() >= 7,
        "{outcomes:?}"
    );

    // Twenty ordinary shoppers, each with their own card, pay the same ¥5 and all get through.
    for i in 0..20 {
        let order = socks_order(w, format!("shopper-{i}")).await?;
        let reply = pay_attempt(
            w,
            order,
            &format!("shopper-{i}"),
            &format!("fp-shopper-{i}"),
            &format!("10.1.0.{i}"),
        )
        .await?;
        assert_eq!(reply.status, 201, "shopper {i}: {}", reply.body);
        w.sim.pay(
            ChannelKind::Card,
            reply.body["out_trade_no"].as_str().context("no")?,
        )?;
        w.wait_order_state(order, "awaiting_shipment").await?;
    }

    // Every decision is stored with the rule that made it (none: allowed by default), and
    // how it ended once the risk consumer has read the outcomes.
    wait_journal_settled(w.central()).await?;
    let blocked = w
        .central()
        .get("/api/v1/payments/risk/decisions?outcome=block")
        .await?
        .ok()?;
    let blocked = blocked.as_array().context("list")?;
    assert_eq!(blocked.len(), 12 - allowed);
    assert!(blocked.iter().all(|d| d["rule"] == "card-testing-by-card"
        && d["status"] == "blocked"
        && d["reason"].as_str().is_some_and(|r| !r.is_empty())));
    let allowed_rows = w
        .central()
        .get("/api/v1/payments/risk/decisions?outcome=allow")
        .await?
        .ok()?;
    let allowed_rows = allowed_rows.as_array().context("list")?;
    assert_eq!(allowed_rows.len(), allowed + 20);
    assert!(allowed_rows.iter().all(|d| d["rule"].is_null()));
    assert_eq!(
        allowed_rows
            .iter()
            .filter(|d| d["status"] == "declined")
            .count(),
        allowed
    );
    assert_eq!(
        allowed_rows
            .iter()
            .filter(|d| d["status"] == "succeeded")
            .count(),
        20
    );

    // Rules change through the API without a rebuild: block this IP outright.
    let mut rules = w.central().get("/api/v1/payments/risk/rules").await?.ok()?;
    let blocklist = json!({"name": "blocked-ip", "outcome": "block", "condition": {"kind": "blocklist", "key": "ip", "values": ["10.1.0.7"]}});
    rules["rules"]
        .as_array_mut()
        .context("rules")?
        .insert(0, blocklist);
    let central = w.central();
    let put = central
        .http
        .put(central.url("/api/v1/payments/risk/rules"))
        .bearer_auth(ADMIN)
        .json(&rules)
        .send()
        .await?;
    assert_eq!(put.status(), 200);
    let order = socks_order(w, "shopper-7-again".into()).await?;
    let reply = pay_attempt(w, order, "shopper-7", "fp-shopper-7", "10.1.0.7").await?;
    assert_eq!(reply.status, 403);
    assert!(
        reply.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("blocked-ip")),
        "{}",
        reply.body
    );
    let bad = central
        .http
        .put(central.url("/api/v1/payments/risk/rules"))
        .bearer_auth(ADMIN)
        .json(&json!({"rules": []}))
        .send()
        .await?;
    assert_eq!(bad.status(), 422, "an empty rule set is refused");
    Ok(())
}

// --- reconciliation ---------------------------------------------------------------------------

use tote_shared::payment::bill::{BillDay, BillStatus};
use tote_sim::payment::bills::Plant;

/// The channel's bill day of a payment it settled.
pub(crate) fn bill_day(
    w: &PaymentWorld,
    channel: ChannelKind,
    out_trade_no: &str,
) -> Result<BillDay> {
    let paid_ms = w
        .sim
        .trade(channel, out_trade_no)
        .and_then(|t| t.paid_ms)
        .context("paid at the channel")?;
    let offset = tote_shared::payment::bill::day_offset_ms(channel);
    BillDay::parse(&tote_shared::calendar::utc_day(paid_ms + offset)).context("a day")
}

/// Pays `n` one-pair orders on `channel`; their out_trade_nos.
pub(crate) async fn paid_orders(
    w: &PaymentWorld,
    channel: ChannelKind,
    n: usize,
) -> Result<Vec<(u64, String)>> {
    let mut out = Vec::new();
    for i in 0..n {
        let order = w
            .order(&format!("recon-{}-{i}", channel.as_str()), 1)
            .await?;
        let no = started(w, order, channel, 201).await?;
        w.sim.pay(channel, &no)?;
        w.wait_order_state(order, "awaiting_shipment").await?;
        out.push((order, no));
    }
    Ok(out)
}

pub(crate) async fn reconcile(
    w: &PaymentWorld,
    channel: ChannelKind,
    day: BillDay,
) -> Result<(Value, Vec<Value>)> {
    let run = w
        .central()
        .post(
            "/api/v1/payments/reconciliation/runs",
            json!({"channel": channel.as_str(), "day": day.to_string()}),
        )
        .await?
        .ok()?;
    let items = w
        .central()
        .get(&format!(
            "/api/v1/payments/reconciliation/runs/{}/items",
            run["id"]
        ))
        .await?
        .ok()?;
    Ok((run, items.as_array().cloned().unwrap_or_default()))
}

fn found(items: &[Value]) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = items
        .iter()
        .map(|i| {
            (
                i["kind"].as_str().unwrap_or("").to_owned(),
                i["out_trade_no"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    found.sort();
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reconciliation_finds_every_difference_planted_in_each_channels_bill_and_nothing_else(
) -> Result<()> {
    reconciliation_on(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reconciliation_finds_every_planted_difference_on_postgres() -> Result<()> {
    reconciliation_on(Backend::Postgres).await
}

async fn reconciliation_on(backend: Backend) -> Result<()> {
    let w = PaymentWorld::start(backend, 23).await?;
    let outcome = reconciliation(&w).await;
    w.explained(outcome)
}

async fn reconciliation(w: &PaymentWorld) -> Result<()> {
    for channel in ChannelKind::ALL {
        let orders = paid_orders(w, channel, 5).await?;
        // One refund, settled at the channel.
        w.refund(
            orders[4].0,
            &format!("recon-refund-{}", channel.as_str()),
            1,
        )
        .await?
        .ok()?;
        w.wait_refund_state(orders[4].0, "succeeded").await?;
        let day = bill_day(w, channel, &orders[0].1)?;
        for (_, no) in &orders {
            anyhow::ensure!(
                bill_day(w, channel, no)? == day,
                "the payments straddle midnight; run again"
            );
        }

        // A clean bill first: everything matches, fees as the contract says.
        let (run, items) = reconcile(w, channel, day).await?;
        assert_eq!(
            items.len(),
            0,
            "{}: a clean bill has no difference: {items:?}",
            channel.as_str()
        );
        assert_eq!(
            (run["matched"].as_u64(), run["bill_lines"].as_u64()),
            (Some(6), Some(6)),
            "{}: {run}",
            channel.as_str()
        );
        assert_eq!(
            run["fee_total_minor"],
            run["expected_fee_total_minor"],
            "{}",
            channel.as_str()
        );

        // Then one difference of each kind.
        let no = |i: usize| orders[i].1.clone();
        w.sim.plant(
            channel,
            Plant::Drop {
                out_trade_no: no(0),
                out_refund_no: None,
            },
        );
        w.sim.plant(
            channel,
            Plant::Extra {
                out_trade_no: "T99999999_9".into(),
                amount_minor: 1_000,
            },
        );
        w.sim.plant(
            channel,
            Plant::Amount {
                out_trade_no: no(1),
                delta_minor: 100,
            },
        );
        w.sim.plant(
            channel,
            Plant::Fee {
                out_trade_no: no(2),
                delta_minor: 7,
            },
        );
        let mut expected = vec![
            ("amount".to_owned(), no(1)),
            ("fee".to_owned(), no(2)),
            ("missing_ours".to_owned(), "T99999999_9".to_owned()),
            ("missing_theirs".to_owned(), no(0)),
        ];
        // Only WeChat's bill has a column that can say a payment was not a success.
        if channel == ChannelKind::Wechat {
            w.sim.plant(
                channel,
                Plant::Status {
                    out_trade_no: no(3),
                    status: BillStatus::Closed,
                },
            );
            expected.push(("status".to_owned(), no(3)));
        }
        expected.sort();
        let (run, items) = reconcile(w, channel, day).await?;
        assert_eq!(found(&items), expected, "{}: {items:#?}", channel.as_str());
        assert_eq!(run["differences"].as_u64(), Some(expected.len() as u64));

        // HQ resolves one; a rerun finds the same five and keeps the resolution.
        let first = items
            .iter()
            .find(|i| i["kind"] == "missing_theirs")
            .context("item")?;
        w.central()
            .post(
                &format!(
                    "/api/v1/payments/reconciliation/items/{}/resolve",
                    first["id"]
                ),
                json!({"resolution": "channel re-issued its bill"}),
            )
            .await?
            .ok()?;
        let (_, again) = reconcile(w, channel, day).await?;
        assert_eq!(found(&again), expected);
        let kept = again
            .iter()
            .find(|i| i["kind"] == "missing_theirs")
            .context("item")?;
        assert_eq!(
            (kept["state"].as_str(), kept["resolution"].as_str()),
            (Some("resolved"), Some("channel re-issued its bill"))
        );
        assert_eq!(
            again.iter().filter(|i| i["state"] == "open").count(),
            expected.len() - 1
        );
    }
    let runs = w
        .central()
        .get("/api/v1/payments/reconciliation/runs")
        .await?
        .ok()?;
    assert_eq!(
        runs.as_array().map(Vec::len),
        Some(3),
        "one run per channel and day: {runs}"
    );
    // Each bill settled what it says to the bank, less the fees it charged (a rerun journals
    // only the change), and what the channels still hold ties to their payments, refunds and
    // settlements (checked with the rest of the books).
    check_journal(w.central()).await?;
    let books = crate::helpers::check_books(w.central()).await?;
    let fees: i64 = runs
        .as_array()
        .context("runs")?
        .iter()
        .map(|r| r["fee_total_minor"].as_i64().unwrap_or(0))
        .sum();
    assert_eq!(
        books.get("Expenses:PaymentFees").copied(),
        Some(fees),
        "{books:?}"
    );
    let settled: i64 = w
        .central()
        .rows("SELECT CAST(SUM(gross - fees) AS BIGINT) FROM pay_settlement")
        .await?[0][0]
        .parse()?;
    assert_eq!(
        books.get("Assets:Bank").copied(),
        Some(settled),
        "{books:?}"
    );
    Ok(())
}

// --- order timeout ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_order_that_times_out_closes_its_payment_at_the_channel_and_money_that_comes_late_goes_back(
) -> Result<()> {
    let w = PaymentWorld::start_full(Backend::Sqlite, 29, PAYMENT_TUNING, 3_000).await?;

    // Unpaid in time: the order closes, and so does the transaction at the channel.
    let order = w.order("timeout-closed", 1).await?;
    let no = started(&w, order, ChannelKind::Wechat, 201).await?;
    w.wait_order_state(order, "closed").await?;
    wait_payment_state(&w, order, "closed").await?;
    let trade = w.sim.trade(ChannelKind::Wechat, &no).context("trade")?;
    assert_eq!(
        trade.state,
        tote_sim::payment::TradeState::Closed,
        "closed at WeChat Pay too"
    );
    assert!(
        w.sim.pay(ChannelKind::Wechat, &no).is_err(),
        "a closed transaction cannot be paid"
    );

    // The channel cannot be reached to close it, and the customer pays meanwhile: the money
    // arrives for an order that no longer exists and goes straight back.
    let order = w.order("timeout-late", 1).await?;
    let no = started(&w, order, ChannelKind::Alipay, 201).await?;
    w.sim.answer_5xx_next(ChannelKind::Alipay, 1_000_000);
    w.wait_order_state(order, "closed").await?;
    wait_payment_state(&w, order, "closing").await?;
    w.sim.answer_5xx_next(ChannelKind::Alipay, 0);
    w.sim.pay(ChannelKind::Alipay, &no)?;
    let refund = w.wait_refund_state(order, "succeeded").await?;
    assert_eq!(refund["amount_minor"], PAIR);
    assert_eq!(refund["reason"], "paid after the order ended");
    assert_eq!(
        (
            w.sim.captured_minor(ChannelKind::Alipay, &no),
            w.sim.refunded_minor(ChannelKind::Alipay, &no)
        ),
        (PAIR, PAIR)
    );
    assert_eq!(
        w.central().order(order).await?["state"],
        "closed",
        "the order stays closed"
    );
    let invoices = w
        .central()
        .get(&format!("/api/v1/orders/{order}/invoices"))
        .await?
        .ok()?;
    assert_eq!(
        invoices.as_array().map(Vec::len),
        Some(0),
        "money that went back is not invoiced"
    );
    check_journal(w.central()).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_payment_held_for_review_goes_to_the_channel_only_when_hq_approves_it() -> Result<()> {
    let w = PaymentWorld::start(Backend::Sqlite, 41).await?;
    let central = w.central();
    let mut rules = central.get("/api/v1/payments/risk/rules").await?.ok()?;
    let review = json!({"name": "review-new-region", "outcome": "review", "condition": {"kind": "blocklist", "key": "ip", "values": ["10.5.5.5"]}});
    rules["rules"]
        .as_array_mut()
        .context("rules")?
        .insert(0, review);
    let put = central
        .http
        .put(central.url("/api/v1/payments/risk/rules"))
        .bearer_auth(ADMIN)
        .json(&rules)
        .send()
        .await?;
    assert_eq!(put.status(), 200);
    let body = |user: &str| json!({"channel": "wechat", "payer": {"user": user, "ip": "10.5.5.5"}});

    let approved = w.order("review-approved", 1).await?;
    let held = central
        .post(&format!("/api/v1/orders/{approved}/payments"), body("u-1"))
        .await?
        .ok()?;
    assert_eq!(
        (held["state"].as_str(), held["risk_rule"].as_str()),
        (Some("review"), Some("review-new-region"))
    );
    assert!(
        held["pay_url"].is_null(),
        "nothing was created at the channel: {held}"
    );
    assert!(w
        .sim
        .trade(
            ChannelKind::Wechat,
            held["out_trade_no"].as_str().context("no")?
        )
        .is_none());
    central
        .post(
            &format!("/api/v1/payments/{}/review", held["id"]),
            json!({"approve": true}),
        )
        .await?
        .ok()?;
    let pending = wait_payment_state(&w, approved, "pending").await?;
    let no = pending["out_trade_no"].as_str().context("no")?;
    w.sim.pay(ChannelKind::Wechat, no)?;
    w.wait_order_state(approved, "awaiting_shipment").await?;

    let declined = w.order("review-declined", 1).await?;
    let held = central
        .post(&format!("/api/v1/orders/{declined}/payments"), body("u-2"))
        .await?
        .ok()?;
    central
        .post(
            &format!("/api/v1/payments/{}/review", held["id"]),
            json!({"approve": false}),
        )
        .await?
        .ok()?;
    assert_eq!(
        central
            .get(&format!("/api/v1/payments/{}", held["id"]))
            .await?
            .ok()?["state"],
        "closed"
    );
    let again = central
        .post(
            &format!("/api/v1/payments/{}/review", held["id"]),
            json!({"approve": true}),
        )
        .await?;
    assert_eq!(
        again.status, 422,
        "a decided review cannot be decided again: {}",
        again.body
    );
    assert!(w
        .sim
        .trade(
            ChannelKind::Wechat,
            held["out_trade_no"].as_str().context("no")?
        )
        .is_none());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn once_an_order_is_paid_its_other_open_payments_are_closed_at_their_channels() -> Result<()>
{
    let w = PaymentWorld::start(Backend::Sqlite, 43).await?;
    let order = w.order("two-channels", 1).await?;
    let wechat = started(&w, order, ChannelKind::Wechat, 201).await?;
    let alipay = started(&w, order, ChannelKind::Alipay, 201).await?;
    w.sim.pay(ChannelKind::Alipay, &alipay)?;
    w.wait_order_state(order, "awaiting_shipment").await?;
    eventually(
        "the WeChat payment to be closed",
        Duration::from_secs(20),
        || async {
            let payments = w.payments(order).await?;
            Ok(payments
                .iter()
                .any(|p| p["out_trade_no"] == wechat.as_str() && p["state"] == "closed")
                .then_some(()))
        },
    )
    .await?;
    let trade = w.sim.trade(ChannelKind::Wechat, &wechat).context("trade")?;
    assert_eq!(
        trade.state,
        tote_sim::payment::TradeState::Closed,
        "nobody can pay the order a second time at WeChat Pay"
    );
    // A refund goes to the payment that paid the order.
    w.refund(order, "two-channels-refund", 1).await?.ok()?;
    w.wait_refund_state(order, "succeeded").await?;
    assert_eq!(w.sim.refunded_minor(ChannelKind::Alipay, &alipay), PAIR);
    check_journal(w.central()).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refund_whose_notification_is_lost_is_learnt_by_asking_the_channel_and_counted_once(
) -> Result<()> {
    let w = PaymentWorld::start(Backend::Sqlite, 47).await?;
    for channel in ChannelKind::ALL {
        let order = w
            .order(&format!("lost-refund-{}", channel.as_str()), 2)
            .await?;
        let no = started(&w, order, channel, 201).await?;
        w.sim.pay(channel, &no)?;
        w.wait_order_state(order, "awaiting_shipment").await?;
        w.sim.stop_notifications(channel, true);
        w.refund(order, &format!("lost-refund-key-{}", channel.as_str()), 1)
            .await?
            .ok()?;
        // The dispatcher asks the channel about the refund it took (WeChat: GET by
        // out_refund_no; Alipay: fastpay.refund.query; card: the intent's refunds).
        w.wait_refund_state(order, "succeeded").await?;
        assert!(
            w.sim.notifications_pending(channel) > 0,
            "{}: the notification is still held",
            channel.as_str()
        );
        w.sim.stop_notifications(channel, false);
        eventually(
            "the held refund notification to be taken",
            Duration::from_secs(20),
            || async { Ok((w.sim.notifications_pending(channel) == 0).then_some(())) },
        )
        .await?;
        let paid = &w.payments(order).await?[0];
        assert_eq!(
            paid["refunded_minor"].as_i64(),
            Some(PAIR),
            "{}: counted once",
            channel.as_str()
        );
        assert_eq!(
            w.sim.refunded_minor(channel, &no),
            PAIR,
            "{}: money went back once",
            channel.as_str()
        );
    }
    check_journal(w.central()).await?;
    Ok(())
}
