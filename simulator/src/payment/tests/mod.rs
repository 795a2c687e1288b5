//! The channels against merchants written with the shared signing functions only, and
//! notification receivers that verify with them: if these pass, central's adapters (built on
//! the same functions) can talk to the simulator, and the simulator to them.

mod alipay;
mod card;
mod wechat;

use super::*;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use std::sync::OnceLock;
use std::time::Instant;

pub(super) const KEY_SEED: u64 = 7;
/// How long any condition may take to come true (real time; the channels run at 1/100).
const DEADLINE: Duration = Duration::from_secs(20);

/// One run's keys for every test (RSA generation is the slow part).
pub(super) fn keys() -> &'static ChannelKeys {
    static KEYS: OnceLock<ChannelKeys> = OnceLock::new();
    KEYS.get_or_init(|| ChannelKeys::generate(KEY_SEED).expect("keys generate"))
}

/// The channels at 1/100 of real time on free ports.
async fn start() -> ChannelSim {
    start_with(|_| {}).await
}

async fn start_with(configure: impl FnOnce(&mut SimConfig)) -> ChannelSim {
    let mut config = SimConfig::new(keys().clone(), 42);
    config.time_scale = 0.01;
    configure(&mut config);
    ChannelSim::start(config).await.expect("the channels start")
}

/// Waits for `condition`, failing the test after `DEADLINE`.
async fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Checks a notification the way a merchant must; `Ok` carries its id.
type Verify = Arc<dyn Fn(&HeaderMap, &str) -> Result<String, String> + Send + Sync>;

#[derive(Debug, Clone)]
struct Received {
    id: String,
    headers: HeaderMap,
    body: String,
}

struct ReceiverState {
    verify: Verify,
    received: Mutex<Vec<Received>>,
    rejected: AtomicU64,
    /// Answer this to the first `refuse_first` verified notifications.
    refuse_first: u64,
    refusal: (StatusCode, &'static str),
    acknowledgement: (StatusCode, &'static str),
}

/// A merchant's notification endpoint: verifies every notification with the shared
/// functions (a forgery gets 401), records what verified, and refuses the first few.
struct Receiver {
    url: String,
    state: Arc<ReceiverState>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start(verify: Verify, refuse_first: u64, refusal: (StatusCode, &'static str), acknowledgement: (StatusCode, &'static str)) -> Receiver {
        let state = Arc::new(ReceiverState { verify, received: Mutex::default(), rejected: AtomicU64::new(0), refuse_first, refusal, acknowledgement });
        let router = Router::new().route("/notify", post(receive)).with_state(state.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let url = format!("http://{}/notify", listener.local_addr().expect("has an address"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Receiver { url, state, task }
    }

    fn received(&self) -> Vec<Received> {
        lock(&self.state.received).clone()
    }

    fn ids(&self) -> Vec<String> {
        self.received().into_iter().map(|r| r.id).collect()
    }

    fn count(&self) -> usize {
        lock(&self.state.received).len()
    }

    fn rejected(&self) -> u64 {
        self.state.rejected.load(Ordering::SeqCst)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(State(state): State<Arc<ReceiverState>>, headers: HeaderMap, body: Bytes) -> (StatusCode, &'static str) {
    let body = String::from_utf8_lossy(&body).into_owned();
    match (state.verify)(&headers, &body) {
        Ok(id) => {
            let mut received = lock(&state.received);
            received.push(Received { id, headers, body });
            if received.len() as u64 <= state.refuse_first {
                state.refusal
            } else {
                state.acknowledgement
            }
        }
        Err(why) => {
            tracing::warn!(%why, "notification refused");
            state.rejected.fetch_add(1, Ordering::SeqCst);
            (StatusCode::UNAUTHORIZED, "bad signature")
        }
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

fn now_s() -> i64 {
    now_ms() / 1000
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(10)).build().expect("client builds")
}

#[tokio::test]
async fn trades_beyond_the_limit_are_refused_with_503_on_every_channel() {
    let sim = start_with(|config| config.max_trades = 1).await;
    let merchant = wechat::Merchant::new(&sim);
    let (status, _, _) = merchant.create_native("LIMIT-1", 100, "http://127.0.0.1:9/n").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, body) = merchant.create_native("LIMIT-2", 100, "http://127.0.0.1:9/n").await;
    assert_eq!((status, wechat::code(&body).as_str()), (StatusCode::SERVICE_UNAVAILABLE, "SYSTEM_ERROR"));
    let (status, body) = card::Merchant::new(&sim).create_intent("LIMIT-3", 100, None).await;
    assert_eq!((status, body["error"]["type"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("api_error")));
}

#[tokio::test]
async fn fees_are_kept_per_payment_for_the_bills() {
    let sim = start().await;
    let merchant = wechat::Merchant::new(&sim);
    merchant.create_native("FEE-0001", 69_900, "http://127.0.0.1:9/n").await;
    sim.pay(ChannelKind::Wechat, "FEE-0001").expect("pays");
    let (trades, refunds) = sim.records(ChannelKind::Wechat);
    assert_eq!(trades.len(), 1);
    assert!(refunds.is_empty());
    assert_eq!((trades[0].fee_minor, trades[0].state), (419, TradeState::Paid));
    assert!(trades[0].paid_ms.is_some());
    assert_eq!(sim.pay(ChannelKind::Wechat, "FEE-0001").err().map(|e| e.to_string()), Some("no wechat trade FEE-0001 waiting for the shopper".into()));
}
