//! The card gateway: a merchant with a secret key and `Idempotency-Key`s, webhooks checked
//! with `card::verify_header`.

use super::*;
use serde_json::Value;
use tote_shared::payment::card as gateway;

pub(super) struct Merchant {
    http: reqwest::Client,
    base: String,
    secret_key: String,
}

impl Merchant {
    pub(super) fn new(sim: &ChannelSim) -> Merchant {
        Merchant { http: http(), base: sim.base_url(ChannelKind::Card), secret_key: keys().card_secret_key.clone() }
    }

    async fn post(&self, path: &str, params: &[(&str, &str)], idempotency_key: Option<&str>) -> (StatusCode, HeaderMap, Value) {
        let mut request = self.http.post(format!("{}{path}", self.base)).bearer_auth(&self.secret_key).form(params);
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request.send().await.expect("the gateway answers");
        let (status, headers) = (response.status(), response.headers().clone());
        (status, headers, response.json().await.expect("JSON"))
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let response = self.http.get(format!("{}{path}", self.base)).bearer_auth(&self.secret_key).send().await.expect("the gateway answers");
        (response.status(), response.json().await.expect("JSON"))
    }

    pub(super) async fn create_intent(&self, out_trade_no: &str, amount: i64, idempotency_key: Option<&str>) -> (StatusCode, Value) {
        let amount = amount.to_string();
        let params = [("amount", amount.as_str()), ("currency", "cny"), ("metadata[out_trade_no]", out_trade_no), ("description", "Tote order")];
        let (status, _, body) = self.post("/v1/payment_intents", &params, idempotency_key).await;
        (status, body)
    }
}

fn verifier() -> Verify {
    Arc::new(|headers, body| {
        let signature = header(headers, "Stripe-Signature").ok_or("no Stripe-Signature")?;
        gateway::verify_header(&keys().card_webhook_secret, &signature, body, now_s()).map_err(|e| e.to_string())?;
        let event: gateway::Event = serde_json::from_str(body).map_err(|e| e.to_string())?;
        Ok(event.id)
    })
}

async fn receiver(refuse_first: u64) -> Receiver {
    Receiver::start(verifier(), refuse_first, (StatusCode::SERVICE_UNAVAILABLE, "busy"), (StatusCode::OK, "")).await
}

fn events(receiver: &Receiver) -> Vec<gateway::Event> {
    receiver.received().iter().map(|r| serde_json::from_str(&r.body).expect("an event")).collect()
}

#[tokio::test]
async fn the_card_gateway_refuses_a_missing_or_wrong_secret_key() {
    let sim = start().await;
    let url = format!("{}/v1/payment_intents/pi_missing", sim.base_url(ChannelKind::Card));
    let none = http().get(&url).send().await.expect("answers");
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    let wrong = http().get(&url).bearer_auth("sk_test_not_ours").send().await.expect("answers");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let body: gateway::ErrorBody = wrong.json().await.expect("an error body");
    assert_eq!(body.error.kind, "invalid_request_error");
    let (status, body) = Merchant::new(&sim).get("/v1/payment_intents/pi_missing").await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("resource_missing")));
}

#[tokio::test]
async fn an_idempotency_key_replays_the_same_intent_and_refuses_other_params() {
    let sim = start().await;
    let merchant = Merchant::new(&sim);
    let (status, first) = merchant.create_intent("CARD-IDEM-1", 5_000, Some("key-1")).await;
    let intent: gateway::PaymentIntent = serde_json::from_value(first.clone()).expect("an intent");
    assert_eq!((status, intent.status.as_str(), intent.amount), (StatusCode::OK, "requires_payment_method", 5_000));
    let amount = "5000";
    let params = [("amount", amount), ("currency", "cny"), ("metadata[out_trade_no]", "CARD-IDEM-1"), ("description", "Tote order")];
    let (status, headers, replayed) = merchant.post("/v1/payment_intents", &params, Some("key-1")).await;
    assert_eq!((status, &replayed), (StatusCode::OK, &first));
    assert_eq!(header(&headers, "Idempotent-Replayed").as_deref(), Some("true"));
    let (status, other) = merchant.create_intent("CARD-IDEM-1", 5_001, Some("key-1")).await;
    assert_eq!((status, other["error"]["type"].as_str()), (StatusCode::BAD_REQUEST, Some("idempotency_error")));
    // Without a key, every call is a new intent: that is what keys are for.
    let (_, second) = merchant.create_intent("CARD-IDEM-1", 5_000, None).await;
    assert_ne!(second["id"], first["id"]);
    let (status, found) = merchant.get("/v1/payment_intents/search?query=metadata%5B%27out_trade_no%27%5D%3A%27CARD-IDEM-1%27").await;
    assert_eq!((status, found["object"].as_str()), (StatusCode::OK, Some("search_result")));
    let ids: Vec<_> = found["data"].as_array().expect("data").iter().map(|i| i["id"].clone()).collect();
    assert_eq!(ids, vec![second["id"].clone(), first["id"].clone()], "newest first");
}

#[tokio::test]
async fn a_card_payment_sends_a_signed_webhook_retried_with_the_same_event_id_until_acknowledged() {
    let sim = start().await;
    let receiver = receiver(1).await;
    let merchant = Merchant::new(&sim);
    let (_, intent) = merchant.create_intent("CARD-PAY-1", 12_345, Some("pay-1")).await;
    // Central starts after the simulator: the webhook URL comes late.
    sim.set_card_webhook_url(Some(receiver.url.clone()));
    sim.pay(ChannelKind::Card, "CARD-PAY-1").expect("pays");
    wait_until("the acknowledged webhook", || sim.notifications_acknowledged(ChannelKind::Card) == 1).await;
    let events = events(&receiver);
    assert_eq!((events.len(), sim.deliveries(ChannelKind::Card)), (2, 2));
    assert_eq!(events[0].id, events[1].id);
    assert_eq!((events[0].kind.as_str(), &events[0].data.object["id"]), ("payment_intent.succeeded", &intent["id"]));
    assert_eq!(events[0].data.object["status"], "succeeded");
    let id = intent["id"].as_str().expect("an id");
    let (_, fetched) = merchant.get(&format!("/v1/payment_intents/{id}")).await;
    assert_eq!((fetched["status"].as_str(), fetched["amount_received"].as_i64()), (Some("succeeded"), Some(12_345)));
    let (status, _, body) = merchant.post(&format!("/v1/payment_intents/{id}/cancel"), &[], None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("payment_intent_unexpected_state")));
    assert_eq!(sim.captured_minor(ChannelKind::Card, "CARD-PAY-1"), 12_345);
}

#[tokio::test]
async fn a_declined_card_sends_payment_failed_and_the_intent_can_still_be_paid_or_cancelled() {
    let sim = start_with(|config| config.card_webhook_url = None).await;
    let receiver = receiver(0).await;
    sim.set_card_webhook_url(Some(receiver.url.clone()));
    let merchant = Merchant::new(&sim);
    merchant.create_intent("CARD-DECLINE-1", 800, None).await;
    sim.decline(ChannelKind::Card, "CARD-DECLINE-1").expect("declines");
    wait_until("the payment_failed webhook", || sim.notifications_acknowledged(ChannelKind::Card) == 1).await;
    let failed = &events(&receiver)[0];
    assert_eq!(failed.kind, "payment_intent.payment_failed");
    assert_eq!(failed.data.object["last_payment_error"]["code"], "card_declined");
    assert_eq!(failed.data.object["status"], "requires_payment_method");
    sim.pay(ChannelKind::Card, "CARD-DECLINE-1").expect("another card works");
    wait_until("the succeeded webhook", || sim.notifications_acknowledged(ChannelKind::Card) == 2).await;
    assert_ne!(events(&receiver)[1].id, failed.id, "event ids are unique");

    let (_, intent) = merchant.create_intent("CARD-CANCEL-1", 800, None).await;
    let id = intent["id"].as_str().expect("an id");
    let (status, _, canceled) = merchant.post(&format!("/v1/payment_intents/{id}/cancel"), &[], Some("cancel-1")).await;
    assert_eq!((status, canceled["status"].as_str()), (StatusCode::OK, Some("canceled")));
    let (status, _, again) = merchant.post(&format!("/v1/payment_intents/{id}/cancel"), &[], Some("cancel-1")).await;
    assert_eq!((status, &again), (StatusCode::OK, &canceled), "a retried cancel replays");
}

#[tokio::test]
async fn a_card_refund_is_pending_then_succeeds_with_a_refund_updated_webhook() {
    let sim = start().await;
    let receiver = receiver(0).await;
    sim.set_card_webhook_url(Some(receiver.url.clone()));
    let merchant = Merchant::new(&sim);
    let (_, intent) = merchant.create_intent("CARD-REFUND-1", 10_000, None).await;
    let id = intent["id"].as_str().expect("an id").to_string();
    sim.pay(ChannelKind::Card, "CARD-REFUND-1").expect("pays");
    let params = [("payment_intent", id.as_str()), ("amount", "4000"), ("metadata[out_refund_no]", "CR-1")];
    let (status, _, refund) = merchant.post("/v1/refunds", &params, Some("refund-1")).await;
    let parsed: gateway::Refund = serde_json::from_value(refund.clone()).expect("a refund");
    assert_eq!((status, parsed.status.as_str(), parsed.payment_intent.as_str()), (StatusCode::OK, "pending", id.as_str()));
    let (_, _, replayed) = merchant.post("/v1/refunds", &params, Some("refund-1")).await;
    assert_eq!(replayed, refund);
    let too_much = [("payment_intent", id.as_str()), ("amount", "6001")];
    let (status, _, body) = merchant.post("/v1/refunds", &too_much, Some("refund-2")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("amount_too_large")));
    wait_until("the refund to succeed and be told", || {
        sim.refunded_minor(ChannelKind::Card, "CARD-REFUND-1") == 4_000 && sim.notifications_acknowledged(ChannelKind::Card) == 2
    })
    .await;
    // Without an amount, the rest; then nothing is left.
    let (status, _, rest) = merchant.post("/v1/refunds", &[("payment_intent", id.as_str())], Some("refund-3")).await;
    assert_eq!((status, rest["amount"].as_i64()), (StatusCode::OK, Some(6_000)));
    let (status, _, body) = merchant.post("/v1/refunds", &[("payment_intent", id.as_str())], Some("refund-4")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("charge_already_refunded")));
    let updated = events(&receiver).into_iter().find(|e| e.kind == "refund.updated").expect("a refund.updated");
    assert_eq!((&updated.data.object["id"], updated.data.object["status"].as_str()), (&refund["id"], Some("succeeded")));
    assert_eq!(updated.data.object["metadata"]["out_refund_no"], "CR-1");
}

#[tokio::test]
async fn pay_on_create_answers_a_succeeded_intent_after_its_webhook() {
    let sim = start().await;
    let receiver = receiver(0).await;
    sim.set_card_webhook_url(Some(receiver.url.clone()));
    sim.pay_on_create(ChannelKind::Card, true);
    let (status, intent) = Merchant::new(&sim).create_intent("CARD-EARLY-1", 100, Some("early-1")).await;
    assert_eq!((status, intent["status"].as_str()), (StatusCode::OK, Some("succeeded")));
    assert_eq!(receiver.count(), 1, "the webhook came first");
}
