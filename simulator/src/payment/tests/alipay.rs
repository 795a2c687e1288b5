//! Alipay: a merchant signing forms with `alipay::sign_request`, answers opened with
//! `alipay::open_response`, notifications checked with `alipay::verify_notification`.

use super::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use tote_shared::payment::alipay::{self as open_platform, Answer};
use tote_shared::payment::keys::{PrivateKey, PublicKey};

struct Merchant {
    http: reqwest::Client,
    gateway: String,
    key: PrivateKey,
    alipay: PublicKey,
}

impl Merchant {
    fn new(sim: &ChannelSim) -> Merchant {
        Merchant {
            http: http(),
            gateway: format!("{}/gateway.do", sim.base_url(ChannelKind::Alipay)),
            key: PrivateKey::from_pem(&keys().alipay_app_private_pem).expect("the app key loads"),
            alipay: PublicKey::from_pem(&keys().alipay_public_pem).expect("Alipay's key loads"),
        }
    }

    fn params(method: &str, biz: &Value, notify_url: Option<&str>) -> BTreeMap<String, String> {
        let mut params: BTreeMap<String, String> = [
            ("app_id", keys().alipay_app_id.clone()),
            ("method", method.to_string()),
            ("format", "JSON".into()),
            ("charset", "utf-8".into()),
            ("sign_type", "RSA2".into()),
            ("timestamp", alipay_time(now_ms())),
            ("version", "1.0".into()),
            ("biz_content", biz.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        if let Some(url) = notify_url {
            params.insert("notify_url".into(), url.into());
        }
        params
    }

    async fn send(&self, params: &BTreeMap<String, String>) -> String {
        let response = self.http.post(&self.gateway).form(params).send().await.expect("the gateway answers");
        assert_eq!(response.status(), StatusCode::OK);
        response.text().await.expect("a body")
    }

    /// A signed call; the answer's signature is checked before it is read.
    async fn call(&self, method: &str, biz: Value, notify_url: Option<&str>) -> (Answer, Value) {
        let mut params = Self::params(method, &biz, notify_url);
        let sign = open_platform::sign_request(&self.key, &params).expect("signs");
        params.insert("sign".into(), sign);
        self.open(method, &self.send(&params).await)
    }

    fn open(&self, method: &str, body: &str) -> (Answer, Value) {
        let inner = open_platform::open_response(&self.alipay, method, body).expect("every answer is signed by Alipay");
        (serde_json::from_str(inner).expect("an answer"), serde_json::from_str(inner).expect("JSON"))
    }

    async fn precreate(&self, out_trade_no: &str, total: &str, notify_url: &str) -> Answer {
        let biz = json!({"out_trade_no": out_trade_no, "total_amount": total, "subject": "Tote order"});
        self.call("alipay.trade.precreate", biz, Some(notify_url)).await.0
    }

    async fn refund(&self, out_trade_no: &str, amount: &str, out_request_no: &str) -> Answer {
        let biz = json!({"out_trade_no": out_trade_no, "refund_amount": amount, "out_request_no": out_request_no});
        self.call("alipay.trade.refund", biz, None).await.0
    }

    async fn query(&self, out_trade_no: &str) -> Answer {
        self.call("alipay.trade.query", json!({"out_trade_no": out_trade_no}), None).await.0
    }
}

fn sub_code(answer: &Answer) -> (&str, &str) {
    (answer.code.as_str(), answer.sub_code.as_deref().unwrap_or_default())
}

/// A form body as the merchant's framework would decode it.
fn decode_form(body: &str) -> BTreeMap<String, String> {
    let uri: axum::http::Uri = format!("/?{body}").parse().expect("a form is a valid query");
    axum::extract::Query::<BTreeMap<String, String>>::try_from_uri(&uri).expect("decodes").0
}

fn verifier() -> Verify {
    let alipay = PublicKey::from_pem(&keys().alipay_public_pem).expect("loads");
    Arc::new(move |_headers, body| {
        let form = decode_form(body);
        if !open_platform::verify_notification(&alipay, &form) {
            return Err("the notification does not verify".into());
        }
        form.get("notify_id").cloned().ok_or_else(|| "no notify_id".into())
    })
}

/// Alipay only stops on the body `success`: the refusals answer 200 with another body.
async fn receiver(refuse_first: u64) -> Receiver {
    Receiver::start(verifier(), refuse_first, (StatusCode::OK, "fail"), (StatusCode::OK, "success")).await
}

#[tokio::test]
async fn alipay_answers_a_signed_precreate_with_a_qr_code_and_the_same_one_when_asked_again() {
    let sim = start().await;
    let merchant = Merchant::new(&sim);
    let created = merchant.precreate("ALI_CREATE_1", "88.80", "http://127.0.0.1:9/n").await;
    assert!(created.ok(), "{created:?}");
    let qr_code = created.qr_code.clone().expect("a qr_code");
    assert!(qr_code.starts_with("https://qr.alipay.com/"));
    assert_eq!(merchant.precreate("ALI_CREATE_1", "88.80", "http://127.0.0.1:9/n").await.qr_code, Some(qr_code));
    let other = merchant.precreate("ALI_CREATE_1", "88.81", "http://127.0.0.1:9/n").await;
    assert_eq!(sub_code(&other), ("40004", "ACQ.CONTEXT_INCONSISTENT"));
    let queried = merchant.query("ALI_CREATE_1").await;
    assert_eq!((queried.trade_status.as_deref(), queried.total_amount.as_deref()), (Some("WAIT_BUYER_PAY"), Some("88.80")));
    assert_eq!(sub_code(&merchant.query("ALI_NOBODY").await), ("40004", "ACQ.TRADE_NOT_EXIST"));
}

#[tokio::test]
async fn alipay_refuses_a_bad_signature_with_40002_invalid_signature() {
    let sim = start().await;
    let merchant = Merchant::new(&sim);
    let biz = json!({"out_trade_no": "ALI_FORGED_1", "total_amount": "1.00", "subject": "x"});
    let mut params = Merchant::params("alipay.trade.precreate", &biz, None);
    let stranger = PrivateKey::from_pem(&keys().wechat_merchant_private_pem).expect("loads");
    params.insert("sign".into(), open_platform::sign_request(&stranger, &params).expect("signs"));
    let (answer, _) = merchant.open("alipay.trade.precreate", &merchant.send(&params).await);
    assert_eq!(sub_code(&answer), ("40002", "isv.invalid-signature"));
    // Signed by the merchant, then altered.
    let mut params = Merchant::params("alipay.trade.precreate", &biz, None);
    params.insert("sign".into(), open_platform::sign_request(&merchant.key, &params).expect("signs"));
    params.insert("biz_content".into(), json!({"out_trade_no": "ALI_FORGED_1", "total_amount": "0.01", "subject": "x"}).to_string());
    let (answer, _) = merchant.open("alipay.trade.precreate", &merchant.send(&params).await);
    assert_eq!(sub_code(&answer), ("40002", "isv.invalid-signature"));
    params.remove("sign");
    let (answer, _) = merchant.open("alipay.trade.precreate", &merchant.send(&params).await);
    assert_eq!(sub_code(&answer), ("40001", "isv.missing-signature"));
    assert!(sim.trade(ChannelKind::Alipay, "ALI_FORGED_1").is_none());
}

#[tokio::test]
async fn an_alipay_notification_verifies_and_is_retried_until_the_body_is_success() {
    let sim = start().await;
    let receiver = receiver(1).await;
    let merchant = Merchant::new(&sim);
    merchant.precreate("ALI_PAY_1", "88.80", &receiver.url).await;
    sim.pay(ChannelKind::Alipay, "ALI_PAY_1").expect("pays");
    wait_until("the acknowledged notification", || {
        sim.notifications_acknowledged(ChannelKind::Alipay) == 1 && sim.notifications_pending(ChannelKind::Alipay) == 0
    })
    .await;
    let received = receiver.received();
    assert_eq!((received.len(), sim.deliveries(ChannelKind::Alipay), receiver.rejected()), (2, 2, 0));
    assert_eq!(received[0].id, received[1].id, "a retry keeps its notify_id");
    let form = decode_form(&received[0].body);
    for (name, value) in [("trade_status", "TRADE_SUCCESS"), ("total_amount", "88.80"), ("out_trade_no", "ALI_PAY_1"), ("notify_type", "trade_status_sync")] {
        assert_eq!(form.get(name).map(String::as_str), Some(value), "{name}");
    }
    assert!(form.contains_key("gmt_payment") && form.contains_key("trade_no"));
    let queried = merchant.query("ALI_PAY_1").await;
    assert_eq!(queried.trade_status.as_deref(), Some("TRADE_SUCCESS"));
    let (closed, _) = merchant.call("alipay.trade.close", json!({"out_trade_no": "ALI_PAY_1"}), None).await;
    assert_eq!(sub_code(&closed), ("40004", "ACQ.TRADE_STATUS_ERROR"));
}

#[tokio::test]
async fn an_alipay_refund_is_idempotent_on_out_request_no_and_refuses_more_than_was_paid() {
    let sim = start().await;
    let receiver = receiver(0).await;
    let merchant = Merchant::new(&sim);
    merchant.precreate("ALI_REFUND_1", "100.00", &receiver.url).await;
    sim.pay(ChannelKind::Alipay, "ALI_REFUND_1").expect("pays");
    let first = merchant.refund("ALI_REFUND_1", "10.00", "AR_1").await;
    assert_eq!((first.code.as_str(), first.fund_change.as_deref(), first.refund_fee.as_deref()), ("10000", Some("Y"), Some("10.00")));
    let again = merchant.refund("ALI_REFUND_1", "10.00", "AR_1").await;
    assert_eq!((again.fund_change.as_deref(), again.refund_fee.as_deref()), (Some("N"), Some("10.00")));
    assert_eq!(sub_code(&merchant.refund("ALI_REFUND_1", "90.01", "AR_2").await), ("40004", "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"));
    wait_until("the payment and refund notifications", || sim.notifications_acknowledged(ChannelKind::Alipay) == 2).await;
    assert_eq!(sim.refunded_minor(ChannelKind::Alipay, "ALI_REFUND_1"), 1_000);
    let refund = receiver.received().iter().map(|r| decode_form(&r.body)).find(|f| f.contains_key("out_biz_no")).expect("a refund notification");
    assert_eq!((refund.get("out_biz_no"), refund.get("refund_fee")), (Some(&"AR_1".to_string()), Some(&"10.00".to_string())));
    assert!(refund.contains_key("gmt_refund"));
    sim.finish(ChannelKind::Alipay, "ALI_REFUND_1").expect("the refund window passes");
    assert_eq!(merchant.query("ALI_REFUND_1").await.trade_status.as_deref(), Some("TRADE_FINISHED"));
    assert_eq!(sub_code(&merchant.refund("ALI_REFUND_1", "1.00", "AR_3").await), ("40004", "ACQ.TRADE_STATUS_ERROR"));
}

#[tokio::test]
async fn a_fully_refunded_alipay_trade_queries_as_closed() {
    let sim = start().await;
    let merchant = Merchant::new(&sim);
    merchant.precreate("ALI_FULL_1", "5.00", "http://127.0.0.1:9/n").await;
    sim.stop_notifications(ChannelKind::Alipay, true);
    sim.pay(ChannelKind::Alipay, "ALI_FULL_1").expect("pays");
    assert!(merchant.refund("ALI_FULL_1", "5.00", "AF_1").await.ok());
    assert_eq!(merchant.query("ALI_FULL_1").await.trade_status.as_deref(), Some("TRADE_CLOSED"));
    assert_eq!(sim.deliveries(ChannelKind::Alipay), 0, "stopped notifications are held");
}
