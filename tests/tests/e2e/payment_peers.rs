//! The channels' own SDKs against our payment code, both ways (`tests/payment_peers.py`:
//! wechatpayv3 2.0.4, Alipay's alipay-sdk-python 3.7.1411, Stripe's stripe 16.1.0):
//! - what we sign (merchant requests, the simulator's answers and notifications) the SDKs
//!   accept;
//! - what the SDKs sign, central accepts — and refuses with one byte changed.

use crate::helpers::*;
use crate::payment::PaymentWorld;
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Write;
use tote_shared::payment::keys::PrivateKey;
use tote_shared::payment::{alipay, card, wechat};
use tote_sim::payment::{ChannelKind, ChannelKeys};

/// Runs one command of the peer script; its JSON answer.
fn peer(command: &str, input: &Value) -> Result<Value> {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("payment_peers.py");
    let mut child = std::process::Command::new("python3")
        .arg(script)
        .arg(command)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("python3 is missing: run `bash tests/run.sh`, which installs the payment SDKs")?;
    child.stdin.take().context("stdin")?.write_all(input.to_string().as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("payment_peers.py {command} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

fn key(pem: &str) -> Result<PrivateKey> {
    PrivateKey::from_pem(pem).map_err(|e| anyhow::anyhow!("{e}"))
}

fn now_s() -> i64 {
    tote_shared::runtime::system::now_ms() / 1000
}

fn changed_byte(text: &str, marker: &str) -> String {
    // Changes the first digit after `marker` (an amount), keeping the text valid.
    let at = text.find(marker).map(|i| i + marker.len()).unwrap_or(0);
    let mut bytes = text.as_bytes().to_vec();
    if let Some(b) = bytes.iter_mut().skip(at).find(|b| b.is_ascii_digit()) {
        *b = if *b == b'9' { b'8' } else { *b + 1 };
    }
    String::from_utf8(bytes).unwrap_or_default()
}

#[test]
fn a_wechat_merchant_request_we_sign_is_byte_for_byte_the_sdks() -> Result<()> {
    let keys = ChannelKeys::generate(31)?;
    let merchant = key(&keys.wechat_merchant_private_pem)?;
    let body = r#"{"appid":"wx1","mchid":"1900000001","description":"Order 42","out_trade_no":"T00000042_1","notify_url":"https://pay.example.com/api/v1/payments/notify/wechat","amount":{"total":89900,"currency":"CNY"}}"#;
    for (method, url, body) in [("POST", "/v3/pay/transactions/native", body), ("GET", "/v3/pay/transactions/out-trade-no/T00000042_1?mchid=1900000001", "")] {
        let ours = wechat::authorization(
            &wechat::Merchant { mchid: &keys.wechat_mchid, serial_no: &keys.wechat_merchant_serial, key: &merchant },
            &wechat::RequestLine { method, url, timestamp: 1_764_650_000, nonce: "5K8264ILTKCH16CQ2502SI8ZNMTM67VS", body },
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let theirs = peer(
            "wechat-authorization",
            &json!({"mchid": keys.wechat_mchid, "serial_no": keys.wechat_merchant_serial, "private_key_pem": keys.wechat_merchant_private_pem,
                    "method": method, "url": url, "timestamp": 1_764_650_000, "nonce": "5K8264ILTKCH16CQ2502SI8ZNMTM67VS", "body": body}),
        )?;
        assert_eq!(theirs["authorization"].as_str(), Some(ours.as_str()), "{method} {url}");
    }
    Ok(())
}

fn wechat_callback_input(keys: &ChannelKeys, headers: &wechat::SignedHeaders, body: &str) -> Value {
    json!({
        "headers": {
            "Wechatpay-Timestamp": headers.timestamp, "Wechatpay-Nonce": headers.nonce, "Wechatpay-Signature": headers.signature,
            "Wechatpay-Serial": headers.serial, "Wechatpay-Signature-Type": headers.signature_type,
        },
        "body": body, "mchid": keys.wechat_mchid, "appid": keys.wechat_appid, "apiv3_key": keys.wechat_apiv3_key,
        "merchant_private_key_pem": keys.wechat_merchant_private_pem, "merchant_serial_no": keys.wechat_merchant_serial,
        "platform_public_key_pem": keys.wechat_platform_public_pem, "platform_public_key_id": keys.wechat_platform_key_id,
    })
}

#[test]
fn a_wechat_notification_the_simulator_seals_and_signs_is_opened_by_the_sdk_and_a_changed_byte_is_refused() -> Result<()> {
    let keys = ChannelKeys::generate(32)?;
    let platform = key(&keys.wechat_platform_private_pem)?;
    let transaction = json!({"appid": keys.wechat_appid, "mchid": keys.wechat_mchid, "out_trade_no": "T00000042_1", "transaction_id": "4200000001",
        "trade_type": "NATIVE", "trade_state": "SUCCESS", "trade_state_desc": "支付成功", "amount": {"total": 89900, "currency": "CNY"}});
    let body = wechat::seal_notification(keys.wechat_apiv3_key.as_bytes(), "EV-1", "2026-12-02T10:00:00+08:00", "TRANSACTION.SUCCESS", "transaction", "abcdefghijkl", &transaction.to_string())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let headers = wechat::platform_headers(&platform, &keys.wechat_platform_key_id, now_s(), "n0nce", &body).map_err(|e| anyhow::anyhow!("{e}"))?;
    let opened = peer("wechat-callback", &wechat_callback_input(&keys, &headers, &body))?;
    assert_eq!(opened["ok"], true, "{opened}");
    assert_eq!(opened["resource"]["out_trade_no"], "T00000042_1", "{opened}");
    assert_eq!(opened["resource"]["amount"]["total"], 89900);
    let changed = body.replacen("TRANSACTION.SUCCESS", "TRANSACTION.SUCCESs", 1);
    let refused = peer("wechat-callback", &wechat_callback_input(&keys, &headers, &changed))?;
    assert_eq!(refused["ok"], false, "{refused}");
    Ok(())
}

#[test]
fn alipay_signatures_we_make_are_verified_by_the_official_sdk_and_theirs_by_us() -> Result<()> {
    let keys = ChannelKeys::generate(33)?;
    let app = key(&keys.alipay_app_private_pem)?;
    // A request as central's adapter signs it.
    let mut form: BTreeMap<String, String> = [
        ("app_id", keys.alipay_app_id.as_str()), ("method", "alipay.trade.precreate"), ("format", "JSON"), ("charset", "utf-8"),
        ("sign_type", "RSA2"), ("version", "1.0"), ("timestamp", "2026-12-02 10:00:00"), ("notify_url", "https://pay.example.com/n"),
        ("biz_content", r#"{"out_trade_no":"T00000042_1","total_amount":"899.00","subject":"Order 42"}"#),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    form.insert("sign".into(), alipay::sign_request(&app, &form).map_err(|e| anyhow::anyhow!("{e}"))?);
    let verdict = peer("alipay-verify", &json!({"params": form, "public_key_pem": keys.alipay_app_public_pem, "notification": false}))?;
    assert_eq!(verdict["ok"], true, "{verdict}");
    form.insert("biz_content".into(), changed_byte(&form["biz_content"], "total_amount"));
    let verdict = peer("alipay-verify", &json!({"params": form, "public_key_pem": keys.alipay_app_public_pem, "notification": false}))?;
    assert_eq!(verdict["ok"], false, "{verdict}");

    // A gateway answer as the simulator signs it, cut out and checked by the SDK.
    let alipay_key = key(&keys.alipay_private_pem)?;
    let inner = r#"{"code":"10000","msg":"Success","out_trade_no":"T00000042_1","qr_code":"https://qr.alipay.com/bax03"}"#;
    let answer = alipay::signed_response(&alipay_key, "alipay.trade.precreate", inner).map_err(|e| anyhow::anyhow!("{e}"))?;
    let verdict = peer("alipay-verify-content", &json!({"response": answer, "public_key_pem": keys.alipay_public_pem}))?;
    assert_eq!(verdict["ok"], true, "{verdict}");

    // A notification signed by the SDK (as Alipay), verified by our code; one byte off, refused.
    let notification: BTreeMap<String, String> = [
        ("notify_id", "2026120200222"), ("notify_type", "trade_status_sync"), ("app_id", keys.alipay_app_id.as_str()), ("charset", "utf-8"),
        ("version", "1.0"), ("sign_type", "RSA2"), ("out_trade_no", "T00000042_1"), ("trade_no", "2026120222001"),
        ("trade_status", "TRADE_SUCCESS"), ("total_amount", "899.00"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let signed = peer("alipay-sign", &json!({"params": notification, "private_key_pem": keys.alipay_private_pem, "notification": true}))?;
    let mut params = notification.clone();
    params.insert("sign".into(), signed["sign"].as_str().context("sign")?.to_owned());
    let alipay_public = tote_shared::payment::keys::PublicKey::from_pem(&keys.alipay_public_pem).map_err(|e| anyhow::anyhow!("{e}"))?;
    assert!(alipay::verify_notification(&alipay_public, &params));
    params.insert("total_amount".into(), "898.00".into());
    assert!(!alipay::verify_notification(&alipay_public, &params));
    Ok(())
}

#[test]
fn stripe_webhook_signatures_agree_with_the_official_library_both_ways() -> Result<()> {
    let payload = r#"{"id":"evt_1","object":"event","type":"payment_intent.succeeded"}"#;
    let ours = card::signature_header("whsec_peer", now_s(), payload);
    let verdict = peer("stripe-verify", &json!({"payload": payload, "header": ours, "secret": "whsec_peer"}))?;
    assert_eq!(verdict["ok"], true, "{verdict}");
    let verdict = peer("stripe-verify", &json!({"payload": payload.replace("evt_1", "evt_2"), "header": ours, "secret": "whsec_peer"}))?;
    assert_eq!(verdict["ok"], false);
    let theirs = peer("stripe-sign", &json!({"payload": payload, "secret": "whsec_peer", "timestamp": now_s()}))?;
    let header = theirs["header"].as_str().context("header")?;
    assert_eq!(card::verify_header("whsec_peer", header, payload, now_s()), Ok(()));
    assert!(card::verify_header("whsec_peer", header, &payload.replace("evt_1", "evt_2"), now_s()).is_err());
    Ok(())
}

/// Notifications the SDKs produce reach central over HTTP: taken as written, refused with
/// one byte changed (nothing applied: the order stays unpaid until the genuine one).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn notifications_the_sdks_produce_are_accepted_by_central_and_refused_with_one_byte_changed() -> Result<()> {
    let w = PaymentWorld::start(Backend::Sqlite, 37).await?;
    let keys = w.sim.keys().clone();
    let central = w.central();
    let post = |channel: &'static str, headers: Vec<(String, String)>, body: String, content_type: &'static str| async move {
        let mut request = central.http.post(central.url(&format!("/api/v1/payments/notify/{channel}"))).header("Content-Type", content_type).body(body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.send().await?;
        Ok::<_, anyhow::Error>((response.status().as_u16(), response.text().await?))
    };

    // WeChat: the SDK side seals and signs a TRANSACTION.SUCCESS.
    let order = w.order("peer-wechat", 1).await?;
    let payment = w.start_payment(order, ChannelKind::Wechat).await?.ok()?;
    let no = payment["out_trade_no"].as_str().context("no")?;
    let resource = json!({"appid": keys.wechat_appid, "mchid": keys.wechat_mchid, "out_trade_no": no, "transaction_id": "4200000077",
        "trade_type": "NATIVE", "trade_state": "SUCCESS", "trade_state_desc": "支付成功", "amount": {"total": 89900, "currency": "CNY"}});
    let notify = |id: &str| {
        peer(
            "wechat-notify",
            &json!({"platform_private_key_pem": keys.wechat_platform_private_pem, "platform_public_key_id": keys.wechat_platform_key_id,
                    "apiv3_key": keys.wechat_apiv3_key, "event_type": "TRANSACTION.SUCCESS", "original_type": "transaction",
                    "resource": resource, "id": id, "create_time": "2026-12-02T10:00:00+08:00"}),
        )
    };
    let headers = |n: &Value| -> Vec<(String, String)> {
        n["headers"].as_object().into_iter().flatten().map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_owned())).collect()
    };
    let forged = notify("EV-sdk-1")?;
    let body = forged["body"].as_str().context("body")?;
    let changed = changed_byte(body, "\"ciphertext\":\"");
    assert_eq!(post("wechat", headers(&forged), changed, "application/json").await?.0, 400);
    assert_eq!(central.order(order).await?["state"], "awaiting_payment");
    assert_eq!(post("wechat", headers(&forged), body.to_owned(), "application/json").await?.0, 204);
    w.wait_order_state(order, "awaiting_shipment").await?;

    // Alipay: the official SDK signs a TRADE_SUCCESS form with Alipay's key.
    let order = w.order("peer-alipay", 1).await?;
    let payment = w.start_payment(order, ChannelKind::Alipay).await?.ok()?;
    let no = payment["out_trade_no"].as_str().context("no")?;
    let params: BTreeMap<&str, &str> = [
        ("notify_id", "2026120200777"), ("notify_type", "trade_status_sync"), ("notify_time", "2026-12-02 10:00:00"), ("app_id", keys.alipay_app_id.as_str()),
        ("charset", "utf-8"), ("version", "1.0"), ("sign_type", "RSA2"), ("out_trade_no", no), ("trade_no", "2026120222777"),
        ("trade_status", "TRADE_SUCCESS"), ("total_amount", "899.00"),
    ]
    .into_iter()
    .collect();
    let signed = peer("alipay-sign", &json!({"params": params, "private_key_pem": keys.alipay_private_pem, "notification": true}))?;
    let mut form = params.clone();
    form.insert("sign", signed["sign"].as_str().context("sign")?);
    let good = serde_urlencoded::to_string(&form)?;
    let bad = good.replacen("899.00", "899.01", 1);
    let urlencoded = "application/x-www-form-urlencoded";
    assert_eq!(post("alipay", vec![], bad, urlencoded).await?.1, "fail");
    assert_eq!(central.order(order).await?["state"], "awaiting_payment");
    assert_eq!(post("alipay", vec![], good, urlencoded).await?.1, "success");
    w.wait_order_state(order, "awaiting_shipment").await?;

    // Card: Stripe's library signs the webhook.
    let order = w.order("peer-card", 1).await?;
    let payment = w.start_payment(order, ChannelKind::Card).await?.ok()?;
    let (no, intent) = (payment["out_trade_no"].as_str().context("no")?, payment["channel_ref"].as_str().context("intent id")?);
    let event = json!({"id": "evt_sdk_1", "object": "event", "type": "payment_intent.succeeded", "created": now_s(), "data": {"object": {
        "id": intent, "object": "payment_intent", "amount": 89900, "amount_received": 89900, "currency": "cny", "status": "succeeded",
        "metadata": {"out_trade_no": no}}}})
    .to_string();
    let signed = peer("stripe-sign", &json!({"payload": event, "secret": keys.card_webhook_secret, "timestamp": now_s()}))?;
    let header = vec![("Stripe-Signature".to_owned(), signed["header"].as_str().context("header")?.to_owned())];
    assert_eq!(post("card", header.clone(), changed_byte(&event, "\"amount\":"), "application/json").await?.0, 400);
    assert_eq!(central.order(order).await?["state"], "awaiting_payment");
    assert_eq!(post("card", header, event, "application/json").await?.0, 200);
    w.wait_order_state(order, "awaiting_shipment").await?;
    Ok(())
}
