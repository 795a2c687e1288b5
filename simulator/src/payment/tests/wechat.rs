//! WeChat Pay v3: a merchant signing with `wechat::authorization`, answers checked with
//! `PlatformKeys::verify`, callbacks opened with `wechat::open_notification`.

use super::*;
use tote_shared::payment::keys::{PrivateKey, PublicKey};
use tote_shared::payment::wechat::{self as v3, Notice, PlatformKeys, SignedHeaders};

pub(super) struct Merchant {
    http: reqwest::Client,
    base: String,
    key: PrivateKey,
    serial: String,
    platform: PlatformKeys,
}

impl Merchant {
    pub(super) fn new(sim: &ChannelSim) -> Merchant {
        Self::with_key(sim, &keys().wechat_merchant_private_pem, &keys().wechat_merchant_serial)
    }

    fn with_key(sim: &ChannelSim, pem: &str, serial: &str) -> Merchant {
        let platform_key = PublicKey::from_pem(&keys().wechat_platform_public_pem).expect("platform key loads");
        Merchant {
            http: http(),
            base: sim.base_url(ChannelKind::Wechat),
            key: PrivateKey::from_pem(pem).expect("merchant key loads"),
            serial: serial.to_string(),
            platform: PlatformKeys::new([(keys().wechat_platform_key_id.clone(), platform_key)]),
        }
    }

    /// A signed call; the answer's platform signature is checked before it is returned.
    pub(super) async fn call(&self, method: &str, url: &str, body: &str) -> (StatusCode, HeaderMap, String) {
        self.call_at(method, url, body, now_s()).await
    }

    async fn call_at(&self, method: &str, url: &str, body: &str, timestamp: i64) -> (StatusCode, HeaderMap, String) {
        let authorization = v3::authorization(&v3::Merchant { mchid: &keys().wechat_mchid, serial_no: &self.serial, key: &self.key }, &v3::RequestLine { method, url, timestamp, nonce: "n0nce-abc", body }).expect("signs");
        let request = match method {
            "GET" => self.http.get(format!("{}{url}", self.base)),
            _ => self.http.post(format!("{}{url}", self.base)).header("Content-Type", "application/json").body(body.to_string()),
        };
        let response = request.header("Authorization", authorization).send().await.expect("the channel answers");
        let (status, headers) = (response.status(), response.headers().clone());
        let body = response.text().await.expect("a body");
        self.platform.verify(&signed_headers(&headers), &body, now_s()).expect("every answer is signed by the platform");
        (status, headers, body)
    }

    pub(super) async fn create_native(&self, out_trade_no: &str, total: i64, notify_url: &str) -> (StatusCode, HeaderMap, String) {
        self.call("POST", "/v3/pay/transactions/native", &order(out_trade_no, total, notify_url)).await
    }

    async fn query(&self, out_trade_no: &str) -> (StatusCode, String) {
        let url = format!("/v3/pay/transactions/out-trade-no/{out_trade_no}?mchid={}", keys().wechat_mchid);
        let (status, _, body) = self.call("GET", &url, "").await;
        (status, body)
    }

    async fn refund(&self, out_trade_no: &str, out_refund_no: &str, refund: i64, total: i64, notify_url: &str) -> (StatusCode, String) {
        let body = v3::CreateRefund {
            out_trade_no: out_trade_no.into(),
            out_refund_no: out_refund_no.into(),
            reason: None,
            notify_url: notify_url.into(),
            amount: v3::RefundAmount { refund, total, currency: "CNY".into() },
        };
        let (status, _, body) = self.call("POST", "/v3/refund/domestic/refunds", &serde_json::to_string(&body).expect("json")).await;
        (status, body)
    }
}

fn order(out_trade_no: &str, total: i64, notify_url: &str) -> String {
    let order = v3::CreateTransaction {
        appid: keys().wechat_appid.clone(),
        mchid: keys().wechat_mchid.clone(),
        description: "Tote order".into(),
        out_trade_no: out_trade_no.into(),
        time_expire: None,
        notify_url: notify_url.into(),
        amount: v3::Amount { total, currency: "CNY".into() },
        payer: None,
    };
    serde_json::to_string(&order).expect("json")
}

fn signed_headers(headers: &HeaderMap) -> SignedHeaders {
    SignedHeaders {
        timestamp: header(headers, "Wechatpay-Timestamp"),
        nonce: header(headers, "Wechatpay-Nonce"),
        signature: header(headers, "Wechatpay-Signature"),
        serial: header(headers, "Wechatpay-Serial"),
        signature_type: header(headers, "Wechatpay-Signature-Type"),
    }
}

/// The `code` of a v3 error answer.
pub(super) fn code(body: &str) -> String {
    serde_json::from_str::<v3::ErrorBody>(body).map(|e| e.code).unwrap_or_default()
}

fn verifier() -> Verify {
    let platform = PublicKey::from_pem(&keys().wechat_platform_public_pem).expect("loads");
    let keys_by_serial = PlatformKeys::new([(keys().wechat_platform_key_id.clone(), platform)]);
    Arc::new(move |headers, body| {
        match v3::open_notification(&keys_by_serial, keys().wechat_apiv3_key.as_bytes(), &signed_headers(headers), body, now_s()) {
            Ok(Notice::Transaction { id, .. } | Notice::Refund { id, .. }) => Ok(id),
            Err(error) => Err(error.to_string()),
        }
    })
}

async fn receiver(refuse_first: u64) -> Receiver {
    Receiver::start(verifier(), refuse_first, (StatusCode::INTERNAL_SERVER_ERROR, "FAIL"), (StatusCode::NO_CONTENT, "")).await
}

/// What a received (and already verified) callback says.
fn open(received: &Received) -> Notice {
    let platform = PublicKey::from_pem(&keys().wechat_platform_public_pem).expect("loads");
    let keys_by_serial = PlatformKeys::new([(keys().wechat_platform_key_id.clone(), platform)]);
    let headers = signed_headers(&received.headers);
    v3::open_notification(&keys_by_serial, keys().wechat_apiv3_key.as_bytes(), &headers, &received.body, now_s()).expect("opens")
}

#[tokio::test]
async fn wechat_accepts_a_merchant_signed_order_and_answers_the_same_code_url_when_created_again() {
    let sim = start().await;
    let merchant = Merchant::new(&sim);
    let (status, _, body) = merchant.create_native("WX-CREATE-1", 69_900, "http://127.0.0.1:9/n").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let created: v3::CreatedNative = serde_json::from_str(&body).expect("a code_url");
    assert!(created.code_url.starts_with("weixin://wxpay/bizpayurl?pr="));
    let (_, _, again) = merchant.create_native("WX-CREATE-1", 69_900, "http://127.0.0.1:9/n").await;
    assert_eq!(serde_json::from_str::<v3::CreatedNative>(&again).expect("a code_url"), created);
    let (status, _, other) = merchant.create_native("WX-CREATE-1", 100, "http://127.0.0.1:9/n").await;
    assert_eq!((status, code(&other).as_str()), (StatusCode::BAD_REQUEST, "INVALID_REQUEST"));
    let (status, body) = merchant.query("WX-CREATE-1").await;
    let transaction: v3::Transaction = serde_json::from_str(&body).expect("a transaction");
    assert_eq!((status, transaction.trade_state.as_str(), transaction.transaction_id), (StatusCode::OK, "NOTPAY", None));
    let (status, body) = merchant.query("WX-NOBODY").await;
    assert_eq!((status, code(&body).as_str()), (StatusCode::NOT_FOUND, "ORDER_NOT_EXIST"));
}

#[tokio::test]
async fn wechat_refuses_a_request_signed_with_another_key_serial_or_time_and_a_tampered_body() {
    let sim = start().await;
    let stranger = Merchant::with_key(&sim, &keys().wechat_platform_private_pem, &keys().wechat_merchant_serial);
    let (status, _, body) = stranger.create_native("WX-FORGED-1", 100, "http://127.0.0.1:9/n").await;
    assert_eq!((status, code(&body).as_str()), (StatusCode::UNAUTHORIZED, "SIGN_ERROR"));
    let wrong_serial = Merchant::with_key(&sim, &keys().wechat_merchant_private_pem, "0000000000000000000000000000000000000000");
    let (status, _, _) = wrong_serial.create_native("WX-FORGED-2", 100, "http://127.0.0.1:9/n").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let merchant = Merchant::new(&sim);
    let stale = merchant.call_at("POST", "/v3/pay/transactions/native", &order("WX-FORGED-3", 100, "http://127.0.0.1:9/n"), now_s() - 301).await;
    assert_eq!(stale.0, StatusCode::UNAUTHORIZED);
    // Signed for one body, sent with another.
    let signed_for = order("WX-FORGED-4", 100, "http://127.0.0.1:9/n");
    let authorization = v3::authorization(&v3::Merchant { mchid: &keys().wechat_mchid, serial_no: &merchant.serial, key: &merchant.key }, &v3::RequestLine { method: "POST", url: "/v3/pay/transactions/native", timestamp: now_s(), nonce: "n", body: &signed_for }).expect("signs");
    let response = merchant
        .http
        .post(format!("{}/v3/pay/transactions/native", merchant.base))
        .header("Authorization", authorization)
        .body(order("WX-FORGED-4", 1, "http://127.0.0.1:9/n"))
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(sim.records(ChannelKind::Wechat).0.is_empty(), "nothing forged was created");
}

#[tokio::test]
async fn a_wechat_payment_is_notified_and_the_merchant_opens_it_with_the_apiv3_key() {
    let sim = start().await;
    let receiver = receiver(0).await;
    let merchant = Merchant::new(&sim);
    merchant.create_native("WX-PAY-1", 69_900, &receiver.url).await;
    sim.pay(ChannelKind::Wechat, "WX-PAY-1").expect("the shopper pays");
    wait_until("the payment notification", || sim.notifications_acknowledged(ChannelKind::Wechat) == 1).await;
    let received = receiver.received();
    match open(&received[0]) {
        Notice::Transaction { event_type, transaction, .. } => {
            assert_eq!(event_type, "TRANSACTION.SUCCESS");
            assert_eq!((transaction.out_trade_no.as_str(), transaction.trade_state.as_str(), transaction.amount.total), ("WX-PAY-1", "SUCCESS", 69_900));
        }
        other => panic!("expected a transaction, got {other:?}"),
    }
    let (_, body) = merchant.query("WX-PAY-1").await;
    let transaction: v3::Transaction = serde_json::from_str(&body).expect("a transaction");
    assert_eq!(transaction.trade_state, "SUCCESS");
    assert!(transaction.transaction_id.is_some() && transaction.success_time.is_some());
    let (status, _, body) = merchant.create_native("WX-PAY-1", 69_900, &receiver.url).await;
    assert_eq!((status, code(&body).as_str()), (StatusCode::BAD_REQUEST, "ORDERPAID"));
    let close = format!(r#"{{"mchid":"{}"}}"#, keys().wechat_mchid);
    let (status, _, body) = merchant.call("POST", "/v3/pay/transactions/out-trade-no/WX-PAY-1/close", &close).await;
    assert_eq!((status, code(&body).as_str()), (StatusCode::BAD_REQUEST, "ORDERPAID"));
    assert_eq!((sim.captured_minor(ChannelKind::Wechat, "WX-PAY-1"), receiver.rejected()), (69_900, 0));
}

#[tokio::test]
async fn an_unpaid_wechat_order_closes_with_204_and_a_declined_one_queries_as_payerror() {
    let sim = start().await;
    let merchant = Merchant::new(&sim);
    merchant.create_native("WX-CLOSE-1", 100, "http://127.0.0.1:9/n").await;
    let close = format!(r#"{{"mchid":"{}"}}"#, keys().wechat_mchid);
    let (status, _, _) = merchant.call("POST", "/v3/pay/transactions/out-trade-no/WX-CLOSE-1/close", &close).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, body) = merchant.query("WX-CLOSE-1").await;
    assert_eq!(serde_json::from_str::<v3::Transaction>(&body).expect("a transaction").trade_state, "CLOSED");
    merchant.create_native("WX-DECLINE-1", 100, "http://127.0.0.1:9/n").await;
    sim.decline(ChannelKind::Wechat, "WX-DECLINE-1").expect("declines");
    let (_, body) = merchant.query("WX-DECLINE-1").await;
    assert_eq!(serde_json::from_str::<v3::Transaction>(&body).expect("a transaction").trade_state, "PAYERROR");
    assert_eq!(sim.deliveries(ChannelKind::Wechat), 0, "a declined payment is not notified");
}

#[tokio::test]
async fn an_unacknowledged_wechat_notification_is_retried_and_stops_once_acknowledged() {
    let sim = start().await;
    let receiver = receiver(2).await;
    Merchant::new(&sim).create_native("WX-RETRY-1", 100, &receiver.url).await;
    sim.pay(ChannelKind::Wechat, "WX-RETRY-1").expect("pays");
    wait_until("the notification to be acknowledged and finished", || {
        sim.notifications_acknowledged(ChannelKind::Wechat) == 1 && sim.notifications_pending(ChannelKind::Wechat) == 0
    })
    .await;
    let ids = receiver.ids();
    assert_eq!((ids.len(), sim.deliveries(ChannelKind::Wechat)), (3, 3));
    assert!(ids.iter().all(|id| *id == ids[0]), "every retry carries the same id: {ids:?}");
}

#[tokio::test]
async fn duplicate_notifications_deliver_the_same_wechat_notification_id_twice() {
    let sim = start().await;
    let receiver = receiver(0).await;
    Merchant::new(&sim).create_native("WX-DUP-1", 100, &receiver.url).await;
    sim.duplicate_notifications(ChannelKind::Wechat, true);
    sim.pay(ChannelKind::Wechat, "WX-DUP-1").expect("pays");
    wait_until("both copies", || sim.notifications_acknowledged(ChannelKind::Wechat) == 2 && sim.notifications_pending(ChannelKind::Wechat) == 0).await;
    let ids = receiver.ids();
    assert_eq!(ids.len(), 2);
    assert_eq!(ids[0], ids[1]);
}

#[tokio::test]
async fn a_wechat_refund_is_processing_then_succeeds_and_is_notified_and_cannot_exceed_the_payment() {
    let sim = start().await;
    let receiver = receiver(0).await;
    let merchant = Merchant::new(&sim);
    merchant.create_native("WX-REFUND-1", 69_900, &receiver.url).await;
    let (status, body) = merchant.refund("WX-REFUND-1", "WX-R-0", 100, 69_900, &receiver.url).await;
    assert_eq!((status, code(&body).as_str()), (StatusCode::BAD_REQUEST, "INVALID_REQUEST"), "not paid yet");
    sim.pay(ChannelKind::Wechat, "WX-REFUND-1").expect("pays");
    let (status, body) = merchant.refund("WX-REFUND-1", "WX-R-1", 30_000, 69_900, &receiver.url).await;
    let refund: v3::Refund = serde_json::from_str(&body).expect("a refund");
    assert_eq!((status, refund.status.as_str()), (StatusCode::OK, "PROCESSING"));
    let (_, again) = merchant.refund("WX-REFUND-1", "WX-R-1", 30_000, 69_900, &receiver.url).await;
    assert_eq!(serde_json::from_str::<v3::Refund>(&again).expect("a refund").refund_id, refund.refund_id);
    let (status, body) = merchant.refund("WX-REFUND-1", "WX-R-1", 20_000, 69_900, &receiver.url).await;
    assert_eq!((status, code(&body).as_str()), (StatusCode::BAD_REQUEST, "INVALID_REQUEST"));
    let (status, body) = merchant.refund("WX-REFUND-1", "WX-R-2", 40_000, 69_900, &receiver.url).await;
    assert_eq!((status, code(&body).as_str()), (StatusCode::BAD_REQUEST, "NOT_ENOUGH"));
    wait_until("the refund notification", || sim.notifications_acknowledged(ChannelKind::Wechat) == 2).await;
    assert_eq!(sim.refunded_minor(ChannelKind::Wechat, "WX-REFUND-1"), 30_000);
    let refund_notice = receiver.received().into_iter().map(|r| open(&r)).find(|n| matches!(n, Notice::Refund { .. }));
    match refund_notice {
        Some(Notice::Refund { event_type, refund: notified, .. }) => {
            assert_eq!((event_type.as_str(), notified.status.as_str(), notified.amount.refund), ("REFUND.SUCCESS", "SUCCESS", 30_000));
            assert_eq!(notified.refund_id, refund.refund_id);
        }
        other => panic!("expected a refund notification, got {other:?}"),
    }
    let (_, body) = merchant.query("WX-REFUND-1").await;
    assert_eq!(serde_json::from_str::<v3::Transaction>(&body).expect("a transaction").trade_state, "REFUND");
}

#[tokio::test]
async fn pay_on_create_delivers_the_wechat_notification_before_the_create_answer() {
    let sim = start().await;
    let receiver = receiver(0).await;
    sim.pay_on_create(ChannelKind::Wechat, true);
    let (status, _, _) = Merchant::new(&sim).create_native("WX-EARLY-1", 100, &receiver.url).await;
    assert_eq!(status, StatusCode::OK);
    // No waiting: the notification was in before the answer was sent.
    assert_eq!((receiver.count(), sim.notifications_acknowledged(ChannelKind::Wechat)), (1, 1));
    assert_eq!(sim.captured_minor(ChannelKind::Wechat, "WX-EARLY-1"), 100);
}

#[tokio::test]
async fn wechat_fails_the_next_calls_with_5xx_and_holds_answers_back_while_still_doing_the_work() {
    let sim = start().await;
    let merchant = Merchant::new(&sim);
    sim.answer_5xx_next(ChannelKind::Wechat, 2);
    for _ in 0..2 {
        let (status, _, body) = merchant.create_native("WX-FAULT-1", 100, "http://127.0.0.1:9/n").await;
        assert_eq!((status, code(&body).as_str()), (StatusCode::INTERNAL_SERVER_ERROR, "SYSTEM_ERROR"));
    }
    assert!(sim.trade(ChannelKind::Wechat, "WX-FAULT-1").is_none(), "a 5xx did nothing");
    let (status, _, first) = merchant.create_native("WX-FAULT-1", 100, "http://127.0.0.1:9/n").await;
    assert_eq!(status, StatusCode::OK);

    sim.delay_answers_ms(ChannelKind::Wechat, 2_000);
    let impatient = reqwest::Client::builder().no_proxy().timeout(Duration::from_millis(200)).build().expect("builds");
    let body = order("WX-FAULT-2", 100, "http://127.0.0.1:9/n");
    let url = "/v3/pay/transactions/native";
    let authorization = v3::authorization(&v3::Merchant { mchid: &keys().wechat_mchid, serial_no: &merchant.serial, key: &merchant.key }, &v3::RequestLine { method: "POST", url, timestamp: now_s(), nonce: "n", body: &body }).expect("signs");
    let timed_out = impatient.post(format!("{}{url}", merchant.base)).header("Authorization", authorization).body(body).send().await;
    assert!(timed_out.is_err_and(|e| e.is_timeout()));
    wait_until("the slow create to land", || sim.trade(ChannelKind::Wechat, "WX-FAULT-2").is_some()).await;
    sim.delay_answers_ms(ChannelKind::Wechat, 0);
    let (status, _, again) = merchant.create_native("WX-FAULT-1", 100, "http://127.0.0.1:9/n").await;
    assert_eq!((status, again), (StatusCode::OK, first));
}

#[tokio::test]
async fn stopped_wechat_notifications_are_held_and_go_out_when_resumed() {
    let sim = start().await;
    let receiver = receiver(0).await;
    let merchant = Merchant::new(&sim);
    merchant.create_native("WX-HOLD-1", 100, &receiver.url).await;
    sim.stop_notifications(ChannelKind::Wechat, true);
    sim.pay(ChannelKind::Wechat, "WX-HOLD-1").expect("pays");
    let (_, body) = merchant.query("WX-HOLD-1").await;
    assert_eq!(serde_json::from_str::<v3::Transaction>(&body).expect("a transaction").trade_state, "SUCCESS");
    assert_eq!((sim.notifications_pending(ChannelKind::Wechat), sim.deliveries(ChannelKind::Wechat)), (1, 0));
    sim.stop_notifications(ChannelKind::Wechat, false);
    wait_until("the held notification", || sim.notifications_acknowledged(ChannelKind::Wechat) == 1).await;
    assert_eq!(receiver.count(), 1);
}
