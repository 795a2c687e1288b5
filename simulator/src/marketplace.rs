//! A marketplace Tote does not own (a Tmall-style shop), its own HTTP server speaking the TOP
//! router (`POST /router/rest`, signed forms, `tote_shared::marketplace`):
//!
//! - buyers' trades are offered (`offer`, from a test or the demo) paid and waiting for the
//!   seller to ship; `taobao.trades.sold.increment.get` lists those changed in a window;
//! - `taobao.logistics.offline.send` confirms a trade's shipment once: the trade moves to
//!   shipped and the confirmation is recorded; a second one is refused naming the first.
//!
//! Faults a test can ask for: the platform down (every call 503), or the next N confirmations
//! carried out but their answers lost (the seller sees a timeout and must try again).
//! What it is not: persistent, or a refund/after-sales platform.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Json, Router};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::net::TcpListener;
use tote_shared::marketplace::{self as top, sub_code, ErrorResponse, Trade, TradeLine, TradeLines};
use tote_shared::runtime::system::now_ms;

const MAX_BODY_BYTES: usize = 64 * 1024;
/// Trades one run holds (memory bound).
const MAX_TRADES: usize = 100_000;

#[derive(Debug, Clone)]
pub struct MarketplaceConfig {
    pub app_key: String,
    pub app_secret: String,
    /// The seller's session key.
    pub session: String,
    /// Hours from payment to the promised dispatch.
    pub promise_hours: i64,
}

impl Default for MarketplaceConfig {
    fn default() -> Self {
        MarketplaceConfig { app_key: "21436587".into(), app_secret: "sim-marketplace-secret".into(), session: "sim-seller-session".into(), promise_hours: 48 }
    }
}

/// What a buyer bought: our SKU, units and what they paid for the line (minor units).
#[derive(Debug, Clone)]
pub struct Purchase {
    pub sku: String,
    pub qty: i64,
    pub paid_minor: i64,
}

/// A buyer and where the parcel goes.
#[derive(Debug, Clone)]
pub struct Buyer {
    pub id: String,
    pub name: String,
    pub mobile: String,
    pub province: String,
    pub city: String,
    pub address: String,
}

/// One shipment confirmation the platform accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consignment {
    pub tid: u64,
    pub company: String,
    pub out_sid: String,
    pub at_ms: i64,
}

#[derive(Default)]
struct World {
    trades: BTreeMap<u64, Trade>,
    consignments: Vec<Consignment>,
    next_tid: u64,
}

struct Inner {
    config: MarketplaceConfig,
    world: Mutex<World>,
    down: AtomicBool,
    lose_answers: AtomicU32,
    calls: Mutex<HashMap<String, u64>>,
}

pub struct MarketplaceSim {
    inner: Arc<Inner>,
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MarketplaceSim {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl MarketplaceSim {
    /// On a free local port.
    pub async fn start(config: MarketplaceConfig) -> std::io::Result<MarketplaceSim> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let world = World { next_tid: 3_100_000_000_000_001, ..World::default() };
        let inner = Arc::new(Inner { config, world: Mutex::new(world), down: AtomicBool::new(false), lose_answers: AtomicU32::new(0), calls: Mutex::new(HashMap::new()) });
        let routes = Router::new().route("/router/rest", post(router)).with_state(inner.clone()).layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES));
        let task = tokio::spawn(crate::serve_peer(listener, routes, "marketplace"));
        Ok(MarketplaceSim { inner, addr, task })
    }

    pub fn url(&self) -> String {
        format!("http://{}/router/rest", self.addr)
    }

    pub fn config(&self) -> &MarketplaceConfig {
        &self.inner.config
    }

    /// A buyer pays for a trade now; returns it as the platform lists it.
    pub fn offer(&self, buyer: &Buyer, purchases: &[Purchase]) -> Trade {
        self.offer_at(buyer, purchases, now_ms())
    }

    pub fn offer_at(&self, buyer: &Buyer, purchases: &[Purchase], paid_ms: i64) -> Trade {
        let mut world = lock(&self.inner.world);
        let tid = world.next_tid;
        world.next_tid += 1;
        let lines: Vec<TradeLine> = purchases
            .iter()
            .enumerate()
            .map(|(i, p)| TradeLine {
                oid: tid * 10 + i as u64,
                outer_sku_id: p.sku.clone(),
                title: p.sku.clone(),
                num: p.qty,
                price: top::amount(p.paid_minor / p.qty.max(1)),
                payment: top::amount(p.paid_minor),
            })
            .collect();
        let trade = Trade {
            tid,
            status: top::WAIT_SELLER_SEND_GOODS.into(),
            buyer_open_uid: buyer.id.clone(),
            receiver_name: buyer.name.clone(),
            receiver_mobile: buyer.mobile.clone(),
            receiver_state: buyer.province.clone(),
            receiver_city: buyer.city.clone(),
            receiver_district: String::new(),
            receiver_address: buyer.address.clone(),
            receiver_zip: String::new(),
            payment: top::amount(purchases.iter().map(|p| p.paid_minor).sum()),
            created: top::time(paid_ms),
            pay_time: top::time(paid_ms),
            modified: top::time(paid_ms),
            est_con_time: top::time(paid_ms + self.inner.config.promise_hours * 3_600_000),
            orders: TradeLines { order: lines },
        };
        if world.trades.len() < MAX_TRADES {
            world.trades.insert(tid, trade.clone());
        }
        trade
    }

    /// The buyer was refunded before shipment: the trade closes (and shows as changed).
    pub fn close_trade(&self, tid: u64) -> bool {
        let mut world = lock(&self.inner.world);
        let Some(trade) = world.trades.get_mut(&tid).filter(|t| t.status == top::WAIT_SELLER_SEND_GOODS) else {
            return false;
        };
        trade.status = top::TRADE_CLOSED.into();
        trade.modified = top::time(now_ms());
        true
    }

    pub fn trade(&self, tid: u64) -> Option<Trade> {
        lock(&self.inner.world).trades.get(&tid).cloned()
    }

    /// Every confirmation the platform accepted, in order.
    pub fn consignments(&self) -> Vec<Consignment> {
        lock(&self.inner.world).consignments.clone()
    }

    /// While down, every call is answered 503.
    pub fn set_down(&self, down: bool) {
        self.inner.down.store(down, Ordering::SeqCst);
    }

    /// The next `n` confirmations are carried out but answered 504 (the answer lost).
    pub fn lose_next_answers(&self, n: u32) {
        self.inner.lose_answers.store(n, Ordering::SeqCst);
    }

    /// Calls received per method (signature checked or not).
    pub fn calls(&self, method: &str) -> u64 {
        lock(&self.inner.calls).get(method).copied().unwrap_or(0)
    }

    /// The `[marketplaces.<name>]` section of a central config for this platform.
    pub fn central_config(&self, name: &str, extra: &str) -> String {
        let c = &self.inner.config;
        format!(
            "[marketplaces.{name}]\nurl = \"{}\"\napp_key = \"{}\"\napp_secret = \"{}\"\nsession = \"{}\"\n{extra}\n",
            self.url(),
            c.app_key,
            c.app_secret,
            c.session
        )
    }
}

fn error(code: i64, msg: &str, sub: &str, sub_msg: String) -> Response {
    let body = ErrorResponse { code, msg: msg.into(), sub_code: sub.into(), sub_msg };
    Json(serde_json::json!({ "error_response": body })).into_response()
}

fn ok<T: serde::Serialize>(method: &str, body: &T) -> Response {
    Json(serde_json::json!({ top::response_key(method): body })).into_response()
}

async fn router(State(inner): State<Arc<Inner>>, Form(params): Form<BTreeMap<String, String>>) -> Response {
    let method = params.get("method").cloned().unwrap_or_default();
    *lock(&inner.calls).entry(method.clone()).or_default() += 1;
    if inner.down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let c = &inner.config;
    if params.get("app_key") != Some(&c.app_key) || !top::verify(&params, &c.app_secret) {
        return error(25, "Invalid signature", sub_code::BAD_SIGNATURE, "the sign does not match".into());
    }
    if params.get("session") != Some(&c.session) {
        return error(27, "Invalid session", sub_code::BAD_SESSION, "unknown session key".into());
    }
    let fresh = params.get("timestamp").and_then(|t| top::parse_time(t)).is_some_and(|t| (t - now_ms()).abs() <= top::MAX_SKEW_MS);
    if !fresh {
        return error(43, "Invalid timestamp", sub_code::BAD_TIMESTAMP, "timestamp missing or more than 10 minutes off".into());
    }
    match method.as_str() {
        top::TRADES_METHOD => trades(&inner, &params),
        top::SEND_METHOD => send(&inner, &params),
        other => error(22, "Invalid method", "isv.invalid-method", format!("no method {other:?}")),
    }
}

fn bad(what: &str) -> Response {
    error(41, "Invalid arguments", sub_code::BAD_PARAMETER, what.into())
}

fn trades(inner: &Inner, params: &BTreeMap<String, String>) -> Response {
    let time = |name: &str| params.get(name).and_then(|t| top::parse_time(t));
    let (Some(start), Some(end)) = (time("start_modified"), time("end_modified")) else {
        return bad("start_modified and end_modified are required, YYYY-MM-DD HH:MM:SS");
    };
    if end < start || end - start > top::MAX_WINDOW_MS {
        return bad("the window must be at most one day, start before end");
    }
    let number = |name: &str, default: u32| params.get(name).map_or(Some(default), |v| v.parse::<u32>().ok());
    let (Some(page_no), Some(page_size)) = (number("page_no", 1), number("page_size", 40)) else {
        return bad("page_no and page_size are numbers");
    };
    if page_no == 0 || page_size == 0 || page_size > top::MAX_PAGE_SIZE {
        return bad("page_no ≥ 1, page_size 1..=100");
    }
    let status = params.get("status").cloned().unwrap_or_default();
    let world = lock(&inner.world);
    // The window is [start, end] on `modified`, to the second.
    let matching: Vec<&Trade> = world
        .trades
        .values()
        .filter(|t| top::parse_time(&t.modified).is_some_and(|m| m >= start && m <= end))
        .filter(|t| status.is_empty() || t.status == status)
        .collect();
    let skip = (page_no as usize - 1) * page_size as usize;
    let page: Vec<Trade> = matching.iter().skip(skip).take(page_size as usize).map(|t| (*t).clone()).collect();
    let has_next = matching.len() > skip + page.len();
    ok(top::TRADES_METHOD, &top::TradesPage { total_results: matching.len() as u64, has_next, trades: top::Trades { trade: page } })
}

fn send(inner: &Inner, params: &BTreeMap<String, String>) -> Response {
    let (Some(tid), Some(out_sid), Some(company)) = (params.get("tid").and_then(|t| t.parse::<u64>().ok()), params.get("out_sid"), params.get("company_code")) else {
        return bad("tid, out_sid and company_code are required");
    };
    if out_sid.is_empty() || out_sid.len() > 40 || company.is_empty() || company.len() > 20 {
        return bad("out_sid 1..=40 and company_code 1..=20 characters");
    }
    let mut world = lock(&inner.world);
    let Some(trade) = world.trades.get_mut(&tid) else {
        return error(15, "Remote service error", sub_code::NO_TRADE, format!("no trade {tid}"));
    };
    match trade.status.as_str() {
        top::WAIT_SELLER_SEND_GOODS => {}
        top::WAIT_BUYER_CONFIRM_GOODS => {
            let first = world.consignments.iter().find(|c| c.tid == tid).map(|c| top::consigned_msg(&c.company, &c.out_sid)).unwrap_or_default();
            return error(15, "Remote service error", sub_code::ALREADY_CONSIGNED, first);
        }
        other => return error(15, "Remote service error", sub_code::NOT_CONSIGNABLE, format!("the trade is {other}")),
    }
    let now = now_ms();
    trade.status = top::WAIT_BUYER_CONFIRM_GOODS.into();
    trade.modified = top::time(now);
    world.consignments.push(Consignment { tid, company: company.clone(), out_sid: out_sid.clone(), at_ms: now });
    drop(world);
    let lose = inner.lose_answers.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
    if lose {
        return StatusCode::GATEWAY_TIMEOUT.into_response();
    }
    ok(top::SEND_METHOD, &top::Sent { shipping: top::Shipping { is_success: true } })
}
