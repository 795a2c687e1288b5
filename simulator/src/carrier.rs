//! The carriers and the tracking aggregator Tote does not own, each its own HTTP server:
//!
//! - the carriers' open platform in SF Express's style (`POST /std/service`, a signed form,
//!   `tote_shared::carrier::sf`): waybill segments for offline printing, order creation for a
//!   held waybill number (answering with the routing label), search and cancel. One partner
//!   account per carrier (SF, JD, ZTO, …), each with its own checkword and number prefix.
//! - a Kuaidi100-style aggregator (`POST /poll`): subscriptions with a callback URL and salt;
//!   each registered parcel moves through picked up → in transit → out for delivery →
//!   delivered, one event every `step`, and every new event is pushed (the whole history,
//!   signed MD5(param + salt)) until the receiver acknowledges, retried with backoff.
//!
//! What it is not: persistent (a run lives in memory) or a rate engine (statements come from
//! the tests' own fixtures).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Json, Router};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::net::TcpListener;
use tote_shared::carrier::{kuaidi100, sf};
use tote_shared::runtime::system::now_ms;

/// Numbers one partner may hold issued (a run's memory bound).
const MAX_ISSUED: usize = 1_000_000;
/// Pushes in flight at once.
const MAX_PUSHES_IN_FLIGHT: usize = 16;
/// Longest body either server reads.
const MAX_BODY_BYTES: usize = 256 * 1024;

/// One carrier account on the platform.
#[derive(Debug, Clone)]
pub struct Partner {
    /// Our carrier code (SF, JD, ZTO).
    pub carrier: String,
    pub partner_id: String,
    pub checkword: String,
    /// Issued numbers start with it (`SF`, `JDV`, `7`).
    pub prefix: String,
}

#[derive(Debug, Clone)]
pub struct CarrierSimConfig {
    pub partners: Vec<Partner>,
    /// The customer key subscriptions must carry.
    pub aggregator_key: String,
    /// Between a parcel's tracking events.
    pub step: Duration,
    /// Seeds the first number of every segment, so a run replays.
    pub seed: u64,
}

impl CarrierSimConfig {
    /// SF, JD and ZTO with made-up checkwords; events every `step`.
    pub fn three_carriers(step: Duration) -> CarrierSimConfig {
        let partner = |carrier: &str, prefix: &str| Partner {
            carrier: carrier.into(),
            partner_id: format!("TOTE_{carrier}"),
            checkword: format!("checkword-{}", carrier.to_lowercase()),
            prefix: prefix.into(),
        };
        CarrierSimConfig {
            partners: vec![partner("SF", "SF"), partner("JD", "JDV"), partner("ZTO", "7")],
            aggregator_key: "kuaidi100-customer-key".into(),
            step,
            seed: 7,
        }
    }
}

/// An order the platform holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimOrder {
    pub carrier: String,
    pub order_id: String,
    pub waybill: String,
    pub express_type: u32,
    pub dest_route_label: String,
    pub created_ms: i64,
    pub cancelled: bool,
    /// A return: the customer sends it to the warehouse.
    pub reverse: bool,
    /// Who sends it (contactType 1): city and address.
    pub sender: (String, String),
    /// Who receives it (contactType 2): city and address.
    pub recipient: (String, String),
    /// A return's collection time asked for (`sendStartTm`); none: handed in with the label.
    pub collect_from: Option<String>,
}

struct Subscription {
    callback: String,
    salt: String,
    /// Events the receiver acknowledged.
    acked: usize,
    attempts: u32,
    next_try_ms: i64,
    in_flight: bool,
}

#[derive(Default)]
struct World {
    /// partner id → numbers issued and not yet used by an order.
    issued: HashMap<String, std::collections::HashSet<String>>,
    next_number: HashMap<String, u64>,
    orders: BTreeMap<(String, String), SimOrder>,
    by_waybill: HashMap<String, (String, String)>,
    subscriptions: BTreeMap<String, Subscription>,
}

/// Requests the platform keeps for inspection (the last ones).
const MAX_KEPT_FORMS: usize = 1_000;
/// Journeys a finished parcel is kept for after it ends (for queries), then forgotten: a
/// carrier keeps parcels for months, a simulator that runs for hours cannot.
const KEEP_FINISHED_JOURNEYS: i64 = 10;
/// Push rounds between sweeps for finished parcels.
const SWEEP_EVERY_ROUNDS: u32 = 64;

struct Inner {
    config: CarrierSimConfig,
    world: Mutex<World>,
    received: Mutex<std::collections::VecDeque<sf::Form>>,
    api_down: AtomicBool,
    pushes_acked: AtomicU64,
    pushes_failed: AtomicU64,
    http: reqwest::Client,
}

pub struct CarrierSim {
    inner: Arc<Inner>,
    api_addr: SocketAddr,
    aggregator_addr: SocketAddr,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for CarrierSim {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl CarrierSim {
    /// Both servers on free local ports.
    pub async fn start(config: CarrierSimConfig) -> std::io::Result<CarrierSim> {
        let local = SocketAddr::from(([127, 0, 0, 1], 0));
        let (api, aggregator) = (TcpListener::bind(local).await?, TcpListener::bind(local).await?);
        let (api_addr, aggregator_addr) = (api.local_addr()?, aggregator.local_addr()?);
        let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).no_proxy().build().map_err(std::io::Error::other)?;
        let inner = Arc::new(Inner {
            config,
            world: Mutex::new(World::default()),
            received: Mutex::new(std::collections::VecDeque::new()),
            api_down: AtomicBool::new(false),
            pushes_acked: AtomicU64::new(0),
            pushes_failed: AtomicU64::new(0),
            http,
        });
        let api_routes = Router::new().route("/std/service", post(service)).with_state(inner.clone());
        let aggregator_routes = Router::new().route("/poll", post(subscribe)).with_state(inner.clone());
        let tasks = vec![
            tokio::spawn(crate::serve_peer(api, api_routes.layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES)), "carrier platform")),
            tokio::spawn(crate::serve_peer(aggregator, aggregator_routes.layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES)), "tracking aggregator")),
            tokio::spawn(push_loop(inner.clone())),
        ];
        Ok(CarrierSim { inner, api_addr, aggregator_addr, tasks })
    }

    pub fn api_url(&self) -> String {
        format!("http://{}/std/service", self.api_addr)
    }

    pub fn aggregator_url(&self) -> String {
        format!("http://{}/poll", self.aggregator_addr)
    }

    pub fn config(&self) -> &CarrierSimConfig {
        &self.inner.config
    }

    /// While down, the platform answers every call 503 (the aggregator keeps pushing: it is
    /// another company).
    pub fn set_api_down(&self, down: bool) {
        self.inner.api_down.store(down, Ordering::SeqCst);
    }

    pub fn orders(&self) -> Vec<SimOrder> {
        lock(&self.inner.world).orders.values().cloned().collect()
    }

    /// Numbers issued to `carrier`'s account and not yet registered.
    pub fn unused_numbers(&self, carrier: &str) -> usize {
        let partner = self.inner.config.partners.iter().find(|p| p.carrier == carrier).map(|p| p.partner_id.clone()).unwrap_or_default();
        lock(&self.inner.world).issued.get(&partner).map_or(0, |s| s.len())
    }

    /// The last forms the platform received, as sent (for checking their signatures with
    /// another implementation).
    pub fn received_forms(&self) -> Vec<sf::Form> {
        self.inner.received.lock().map(|r| r.iter().cloned().collect()).unwrap_or_default()
    }

    /// Pushes acknowledged and attempts that failed so far.
    pub fn push_counts(&self) -> (u64, u64) {
        (self.inner.pushes_acked.load(Ordering::SeqCst), self.inner.pushes_failed.load(Ordering::SeqCst))
    }

    /// The `[logistics.*]` sections of a central config using these servers (central's
    /// pushes arrive at its own listener unless `callback_url` is set); `extra` lines go into
    /// `[logistics]` itself (intervals, pool sizes).
    pub fn central_config(&self, salt: &str, callback_url: Option<&str>, extra: &str) -> String {
        let callback = callback_url.map(|u| format!("callback_url = \"{u}\"\n")).unwrap_or_default();
        let mut out = format!(
            "[logistics]\ntracking_salt = \"{salt}\"\n{extra}\n\n[logistics.aggregator]\nurl = \"{}\"\nkey = \"{}\"\n{callback}",
            self.aggregator_url(),
            self.inner.config.aggregator_key,
        );
        for p in &self.inner.config.partners {
            out.push_str(&format!(
                "\n[logistics.carriers.{}]\nurl = \"{}\"\npartner_id = \"{}\"\ncheckword = \"{}\"\nmonthly_card = \"7551234567\"\n",
                p.carrier,
                self.api_url(),
                p.partner_id,
                p.checkword
            ));
        }
        out
    }
}

fn lock(world: &Mutex<World>) -> MutexGuard<'_, World> {
    world.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

// --- the open platform ------------------------------------------------------------------

fn envelope(code: &str, message: &str, data: Option<String>) -> Response {
    Json(sf::Envelope {
        api_result_code: code.into(),
        api_error_msg: message.into(),
        api_response_id: format!("{:016X}", rand::random::<u64>()),
        api_result_data: data,
    })
    .into_response()
}

fn answer<T: serde::Serialize>(result: Result<T, (&str, String)>) -> Response {
    let data = match result {
        Ok(msg) => sf::Answer { success: true, error_code: sf::OK.into(), error_msg: None, msg_data: Some(msg) },
        Err((code, message)) => sf::Answer { success: false, error_code: code.into(), error_msg: Some(message), msg_data: None },
    };
    envelope(sf::API_OK, "", serde_json::to_string(&data).ok())
}

async fn service(State(inner): State<Arc<Inner>>, form: Result<Form<sf::Form>, axum::extract::rejection::FormRejection>) -> Response {
    if inner.api_down.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "down for maintenance").into_response();
    }
    let Ok(Form(form)) = form else {
        return envelope(sf::API_BAD_REQUEST, "missing or malformed parameters", None);
    };
    if let Ok(mut kept) = inner.received.lock() {
        if kept.len() >= MAX_KEPT_FORMS {
            kept.pop_front();
        }
        kept.push_back(form.clone());
    }
    let Some(partner) = inner.config.partners.iter().find(|p| p.partner_id == form.partner_id) else {
        return envelope(sf::API_BAD_REQUEST, "unknown partnerID", None);
    };
    if !form.verify(&partner.checkword) {
        return envelope(sf::API_BAD_DIGEST, "msgDigest verification failed", None);
    }
    let partner = partner.clone();
    match form.service_code.as_str() {
        sf::APPLY_WAYBILLS => match serde_json::from_str::<sf::ApplyWaybills>(&form.msg_data) {
            Ok(m) => answer(inner.apply(&partner, m.count)),
            Err(e) => answer::<()>(Err(("1010", e.to_string()))),
        },
        sf::CREATE_ORDER => match serde_json::from_str::<sf::CreateOrder>(&form.msg_data) {
            Ok(m) => answer(inner.create(&partner, &m)),
            Err(e) => answer::<()>(Err(("1010", e.to_string()))),
        },
        sf::SEARCH_ORDER => match serde_json::from_str::<sf::SearchOrder>(&form.msg_data) {
            Ok(m) => answer(inner.search(&partner, &m.order_id)),
            Err(e) => answer::<()>(Err(("1010", e.to_string()))),
        },
        sf::UPDATE_ORDER => match serde_json::from_str::<sf::UpdateOrder>(&form.msg_data) {
            Ok(m) => answer(inner.cancel(&partner, &m)),
            Err(e) => answer::<()>(Err(("1010", e.to_string()))),
        },
        sf::CREATE_REVERSE_ORDER => match serde_json::from_str::<sf::CreateReverseOrder>(&form.msg_data) {
            Ok(m) => answer(inner.create_reverse(&partner, &m)),
            Err(e) => answer::<()>(Err(("1010", e.to_string()))),
        },
        sf::CANCEL_REVERSE_ORDER => match serde_json::from_str::<sf::CancelReverseOrder>(&form.msg_data) {
            Ok(m) => answer(inner.cancel_reverse(&partner, &m)),
            Err(e) => answer::<()>(Err(("1010", e.to_string()))),
        },
        _ => envelope(sf::API_BAD_REQUEST, "unknown serviceCode", None),
    }
}

impl Inner {
    /// The partner's next `count` numbers (its prefix and twelve digits, from a seeded start).
    fn next_numbers(&self, world: &mut World, partner: &Partner, count: u32) -> Vec<String> {
        let start = self.config.seed.wrapping_mul(1_000_003) % 1_000_000 * 1_000_000;
        let next = *world.next_number.entry(partner.partner_id.clone()).or_insert(start);
        world.next_number.insert(partner.partner_id.clone(), next + u64::from(count));
        (next..next + u64::from(count)).map(|n| format!("{}{:012}", partner.prefix, n % 1_000_000_000_000)).collect()
    }

    fn apply(&self, partner: &Partner, count: u32) -> Result<sf::WaybillSegment, (&'static str, String)> {
        if count == 0 || count > sf::MAX_SEGMENT {
            return Err(("1010", format!("count must be 1 to {}", sf::MAX_SEGMENT)));
        }
        let mut world = lock(&self.world);
        let held = world.issued.get(&partner.partner_id).map_or(0, |s| s.len());
        if held + count as usize > MAX_ISSUED {
            return Err(("8100", "too many numbers held unused".into()));
        }
        let numbers = self.next_numbers(&mut world, partner, count);
        world.issued.entry(partner.partner_id.clone()).or_default().extend(numbers.iter().cloned());
        Ok(sf::WaybillSegment { waybill_nos: numbers })
    }

    fn create(&self, partner: &Partner, order: &sf::CreateOrder) -> Result<sf::OrderResult, (&'static str, String)> {
        let key = (partner.partner_id.clone(), order.order_id.clone());
        let mut world = lock(&self.world);
        if world.orders.contains_key(&key) {
            return Err((sf::DUPLICATE_ORDER, format!("orderId {} was placed before", order.order_id)));
        }
        if order.order_id.is_empty() || order.order_id.len() > 64 || order.contact_info_list.iter().all(|c| c.contact_type != 2) {
            return Err(("1010", "orderId and a recipient (contactType 2) are required".into()));
        }
        let [held] = order.waybill_no_info_list.as_slice() else {
            return Err(("1010", "exactly one waybillNoInfoList entry (numbers come from EXP_RECE_APPLY_WAYBILL_NO)".into()));
        };
        let waybill = held.waybill_no.clone();
        if !world.issued.get(&partner.partner_id).is_some_and(|s| s.contains(&waybill)) {
            return Err((sf::WAYBILL_REFUSED, format!("waybill {waybill} was not issued to this account or is in use")));
        }
        let recipient = order.contact_info_list.iter().find(|c| c.contact_type == 2).map(|c| c.city.clone()).unwrap_or_default();
        let area = tote_shared::geo::area_code(&recipient).unwrap_or("999");
        let team = waybill.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
        let label = format!("{area}{}-{:02}", char::from(b'A' + (team % 26) as u8), team % 90 + 10);
        if let Some(issued) = world.issued.get_mut(&partner.partner_id) {
            issued.remove(&waybill);
        }
        world.by_waybill.insert(waybill.clone(), key.clone());
        let sim = SimOrder {
            carrier: partner.carrier.clone(),
            order_id: order.order_id.clone(),
            waybill,
            express_type: order.express_type_id,
            dest_route_label: label,
            created_ms: now_ms(),
            cancelled: false,
            reverse: false,
            sender: contact(order.contact_info_list.as_slice(), 1),
            recipient: contact(order.contact_info_list.as_slice(), 2),
            collect_from: None,
        };
        world.orders.insert(key, sim.clone());
        Ok(result_of(&sim))
    }

    /// A return: the platform issues the number itself; the partner's monthly account pays.
    fn create_reverse(&self, partner: &Partner, order: &sf::CreateReverseOrder) -> Result<sf::OrderResult, (&'static str, String)> {
        let key = (partner.partner_id.clone(), order.order_id.clone());
        let mut world = lock(&self.world);
        if world.orders.contains_key(&key) {
            return Err((sf::DUPLICATE_ORDER, format!("orderId {} was placed before", order.order_id)));
        }
        let has = |t: u8| order.contact_info_list.iter().any(|c| c.contact_type == t && !c.address.is_empty());
        if order.order_id.is_empty() || order.order_id.len() > 64 || !has(1) || !has(2) || order.cargo_details.is_empty() {
            return Err(("1010", "orderId, cargoDetails, a sender (contactType 1) and a recipient (contactType 2) with addresses are required".into()));
        }
        if order.pay_method != 1 || order.monthly_card.is_empty() {
            return Err(("1010", "a return is paid by the partner's monthly account (payMethod 1 with monthlyCard)".into()));
        }
        // The courier comes at the time asked for (not before the order exists).
        let created_ms = match &order.send_start_tm {
            Some(at) => match tote_shared::calendar::parse_local_time(at, 8 * 3_600_000) {
                Ok(from) => from.max(now_ms()),
                Err(_) => return Err(("1010", format!("sendStartTm {at:?} is not YYYY-MM-DD HH:MM:SS"))),
            },
            None => now_ms(),
        };
        let waybill = self.next_numbers(&mut world, partner, 1).remove(0);
        let recipient = order.contact_info_list.iter().find(|c| c.contact_type == 2).map(|c| c.city.clone()).unwrap_or_default();
        let area = tote_shared::geo::area_code(&recipient).unwrap_or("999");
        world.by_waybill.insert(waybill.clone(), key.clone());
        let sim = SimOrder {
            carrier: partner.carrier.clone(),
            order_id: order.order_id.clone(),
            waybill,
            express_type: order.express_type_id,
            dest_route_label: format!("{area}R-01"),
            created_ms,
            cancelled: false,
            reverse: true,
            sender: contact(&order.contact_info_list, 1),
            recipient: contact(&order.contact_info_list, 2),
            collect_from: order.send_start_tm.clone(),
        };
        world.orders.insert(key, sim.clone());
        Ok(result_of(&sim))
    }

    /// A return is cancelled until the courier has it (one `step` after it was placed, or
    /// after the collection time asked for).
    fn cancel_reverse(&self, partner: &Partner, cancel: &sf::CancelReverseOrder) -> Result<sf::UpdateResult, (&'static str, String)> {
        let step = self.config.step.as_millis() as i64;
        let mut world = lock(&self.world);
        let order = world.orders.get_mut(&(partner.partner_id.clone(), cancel.order_id.clone())).ok_or((sf::NO_ORDER, format!("no order {}", cancel.order_id)))?;
        if !order.reverse {
            return Err(("1010", format!("{} is not a return; cancel it with EXP_RECE_UPDATE_ORDER", cancel.order_id)));
        }
        if !order.cancelled && now_ms() >= order.created_ms + step {
            return Err((sf::NOT_CANCELLABLE, "the return was collected".into()));
        }
        order.cancelled = true;
        Ok(sf::UpdateResult { order_id: cancel.order_id.clone(), res_status: 2 })
    }

    fn search(&self, partner: &Partner, order_id: &str) -> Result<sf::OrderResult, (&'static str, String)> {
        let world = lock(&self.world);
        world.orders.get(&(partner.partner_id.clone(), order_id.to_owned())).map(result_of).ok_or((sf::NO_ORDER, format!("no order {order_id}")))
    }

    fn cancel(&self, partner: &Partner, update: &sf::UpdateOrder) -> Result<sf::UpdateResult, (&'static str, String)> {
        if update.deal_type != 2 {
            return Err(("1010", "only dealType 2 (cancel) is offered".into()));
        }
        let step = self.config.step.as_millis() as i64;
        let mut world = lock(&self.world);
        let order = world.orders.get_mut(&(partner.partner_id.clone(), update.order_id.clone())).ok_or((sf::NO_ORDER, format!("no order {}", update.order_id)))?;
        if !order.cancelled && now_ms() >= order.created_ms + step {
            return Err((sf::NOT_CANCELLABLE, "the parcel was picked up".into()));
        }
        order.cancelled = true;
        Ok(sf::UpdateResult { order_id: update.order_id.clone(), res_status: 2 })
    }
}

fn contact(list: &[sf::Contact], contact_type: u8) -> (String, String) {
    list.iter().find(|c| c.contact_type == contact_type).map(|c| (c.city.clone(), c.address.clone())).unwrap_or_default()
}

fn result_of(order: &SimOrder) -> sf::OrderResult {
    sf::OrderResult {
        order_id: order.order_id.clone(),
        waybill_no_info_list: vec![sf::WaybillNo { waybill_type: 1, waybill_no: order.waybill.clone() }],
        route_label_info: vec![sf::RouteLabelInfo {
            code: "1000".into(),
            route_label_data: sf::RouteLabelData {
                waybill_no: order.waybill.clone(),
                dest_route_label: order.dest_route_label.clone(),
                coding_mapping: format!("S{}", &order.dest_route_label[..3]),
                two_dimension_code: format!("MMM={{'k1':'{}','k5':'{}'}}", order.dest_route_label, order.waybill),
            },
        }],
    }
}

// --- the aggregator ---------------------------------------------------------------------

#[derive(serde::Deserialize)]
struct SubscribeForm {
    #[serde(default)]
    schema: String,
    param: String,
}

fn reply(result: bool, code: &str, message: &str) -> Response {
    Json(kuaidi100::Reply { result, return_code: code.into(), message: message.into() }).into_response()
}

async fn subscribe(State(inner): State<Arc<Inner>>, form: Result<Form<SubscribeForm>, axum::extract::rejection::FormRejection>) -> Response {
    let Ok(Form(form)) = form else {
        return reply(false, "700", "param is required");
    };
    let Ok(param) = serde_json::from_str::<kuaidi100::Subscribe>(&form.param) else {
        return reply(false, "700", "param is not a subscription");
    };
    if form.schema != "json" || param.number.is_empty() || param.parameters.callbackurl.is_empty() {
        return reply(false, "700", "schema=json, number and callbackurl are required");
    }
    if param.key != inner.config.aggregator_key {
        return reply(false, "600", "not a valid subscriber key");
    }
    let mut world = lock(&inner.world);
    if world.subscriptions.contains_key(&param.number) {
        return reply(false, kuaidi100::ALREADY_SUBSCRIBED, "already subscribed");
    }
    let subscription = Subscription { callback: param.parameters.callbackurl, salt: param.parameters.salt, acked: 0, attempts: 0, next_try_ms: 0, in_flight: false };
    world.subscriptions.insert(param.number, subscription);
    reply(true, kuaidi100::SUBSCRIBED, "submitted")
}

/// The journey every registered parcel takes: (Kuaidi100 state code, status word, text).
const JOURNEY: [(&str, &str, &str); 4] = [
    ("1", "揽收", "顺丰速运 已收取快件"),
    ("0", "在途", "快件已发车，正在运往目的地"),
    ("5", "派件", "快件交给快递员，正在派送途中"),
    ("3", "签收", "快件已签收，签收人：本人"),
];

/// Events due for `order` at `now`, oldest first.
fn events_due(order: &SimOrder, step_ms: i64, now: i64) -> usize {
    if order.cancelled {
        return 0;
    }
    let steps = (now - order.created_ms) / step_ms.max(1);
    (steps.max(0) as usize).min(JOURNEY.len())
}

fn cst(ms: i64) -> String {
    tote_shared::calendar::local_time(ms, 8 * 3_600_000)
}

fn push_param(order: &SimOrder, due: usize, step_ms: i64) -> String {
    let data: Vec<kuaidi100::Datum> = (0..due)
        .rev()
        .map(|i| {
            let (_, word, text) = JOURNEY[i];
            let at = cst(order.created_ms + (i as i64 + 1) * step_ms);
            kuaidi100::Datum { context: text.into(), time: at.clone(), ftime: at, status: word.into(), area_name: None }
        })
        .collect();
    let param = kuaidi100::PushParam {
        status: "polling".into(),
        message: String::new(),
        last_result: kuaidi100::LastResult {
            message: "ok".into(),
            state: JOURNEY[due - 1].0.into(),
            ischeck: if due == JOURNEY.len() { "1".into() } else { "0".into() },
            com: kuaidi100::company(&order.carrier),
            nu: order.waybill.clone(),
            data,
        },
    };
    serde_json::to_string(&param).unwrap_or_default()
}

/// Every quarter step: each subscription with an event its receiver has not acknowledged is
/// pushed (the whole history), unless a push is in flight or its retry is not yet due. The
/// aggregator never gives up on an event; retries slow to one every 32 steps.
async fn push_loop(inner: Arc<Inner>) {
    let step_ms = (inner.config.step.as_millis() as i64).max(1);
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_PUSHES_IN_FLIGHT));
    let mut round = 0u32;
    loop {
        tokio::time::sleep(Duration::from_millis((step_ms / 4).clamp(5, 1_000) as u64)).await;
        let now = now_ms();
        let mut due = Vec::new();
        {
            let mut world = lock(&inner.world);
            round = round.wrapping_add(1);
            if round.is_multiple_of(SWEEP_EVERY_ROUNDS) {
                world.forget_finished(step_ms, now);
            }
            let World { subscriptions, orders, by_waybill, .. } = &mut *world;
            for (number, sub) in subscriptions.iter_mut() {
                let Some(order) = by_waybill.get(number).and_then(|k| orders.get(k)) else { continue };
                let events = events_due(order, step_ms, now);
                if events > sub.acked && !sub.in_flight && now >= sub.next_try_ms {
                    sub.in_flight = true;
                    due.push((number.clone(), sub.callback.clone(), sub.salt.clone(), events, push_param(order, events, step_ms)));
                }
            }
        }
        for (number, callback, salt, events, param) in due {
            let Ok(permit) = slots.clone().acquire_owned().await else { return };
            let inner = inner.clone();
            tokio::spawn(async move {
                let ok = push(&inner.http, &callback, &param, &salt).await;
                drop(permit);
                inner.pushed(&number, events, ok, step_ms);
            });
        }
    }
}

impl World {
    /// Drops subscriptions whose whole journey was acknowledged, and parcels (with their
    /// waybills) whose journey ended `KEEP_FINISHED_JOURNEYS` journeys ago and has nothing left
    /// to push.
    fn forget_finished(&mut self, step_ms: i64, now: i64) {
        let journey_ms = JOURNEY.len() as i64 * step_ms;
        let World { orders, by_waybill, subscriptions, .. } = self;
        subscriptions.retain(|number, sub| {
            let cancelled = by_waybill.get(number).and_then(|k| orders.get(k)).is_some_and(|o| o.cancelled);
            sub.in_flight || (sub.acked < JOURNEY.len() && !cancelled)
        });
        orders.retain(|_, order| {
            let old = now - order.created_ms > journey_ms * (1 + KEEP_FINISHED_JOURNEYS);
            let forget = old && !subscriptions.contains_key(&order.waybill);
            if forget {
                by_waybill.remove(&order.waybill);
            }
            !forget
        });
    }
}

async fn push(http: &reqwest::Client, callback: &str, param: &str, salt: &str) -> bool {
    let form = [("param", param.to_owned()), ("sign", kuaidi100::sign(param, salt))];
    let Ok(response) = http.post(callback).form(&form).send().await else { return false };
    if !response.status().is_success() {
        return false;
    }
    response.json::<kuaidi100::Reply>().await.is_ok_and(|r| r.result && r.return_code == "200")
}

impl Inner {
    fn pushed(&self, number: &str, events: usize, ok: bool, step_ms: i64) {
        let mut world = lock(&self.world);
        let Some(sub) = world.subscriptions.get_mut(number) else { return };
        sub.in_flight = false;
        if ok {
            self.pushes_acked.fetch_add(1, Ordering::SeqCst);
            sub.acked = sub.acked.max(events);
            sub.attempts = 0;
            return;
        }
        self.pushes_failed.fetch_add(1, Ordering::SeqCst);
        sub.attempts = sub.attempts.saturating_add(1);
        // Backoff: 1, 2, 4 … steps, then every 32 steps until the receiver takes it.
        sub.next_try_ms = now_ms() + step_ms * (1i64 << sub.attempts.min(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tote_central::logistics::carrier_api::{CallError, CarrierApis};

    #[derive(serde::Deserialize)]
    struct Central {
        logistics: tote_central::config::LogisticsSettings,
    }

    /// Central's clients for the simulator, with one string of their config replaced.
    async fn apis(sim: &CarrierSim, replace: Option<(&str, &str)>) -> CarrierApis {
        let mut text = sim.central_config("salt", Some("http://127.0.0.1:9/push"), "");
        if let Some((from, to)) = replace {
            text = text.replace(from, to);
        }
        let central: Central = toml::from_str(&text).expect("the simulator writes a valid config");
        central.logistics.validate().expect("valid");
        CarrierApis::from_settings(&central.logistics, SocketAddr::from(([127, 0, 0, 1], 9))).expect("clients")
    }

    fn order(id: &str, waybill: &str) -> sf::CreateOrder {
        let contact = |kind: u8, city: &str| sf::Contact { contact_type: kind, contact: "Li Wei".into(), province: String::new(), city: city.into(), address: "88 Century Avenue".into(), post_code: String::new() };
        sf::CreateOrder {
            order_id: id.into(),
            express_type_id: 2,
            pay_method: 1,
            monthly_card: String::new(),
            total_weight: 1.2,
            cargo_details: vec![sf::Cargo { name: "PEG39-M-WHT-42".into(), count: 1 }],
            contact_info_list: vec![contact(1, ""), contact(2, "上海市")],
            waybill_no_info_list: vec![sf::WaybillNo { waybill_type: 1, waybill_no: waybill.into() }],
            is_return_routelabel: 1,
        }
    }

    #[tokio::test]
    async fn the_platform_issues_registers_once_refuses_strangers_and_the_client_reads_every_answer() {
        let sim = CarrierSim::start(CarrierSimConfig::three_carriers(Duration::from_secs(3600))).await.expect("starts");
        let ours = apis(&sim, None).await;
        let sf = ours.carriers.get("SF").expect("SF account");
        let numbers = sf.apply_waybills(5).await.expect("a segment");
        assert_eq!(numbers.len(), 5);
        assert!(numbers.iter().all(|n| n.starts_with("SF") && n.len() == 14));
        assert!(matches!(sf.apply_waybills(0).await, Err(CallError::Business { .. })), "an empty segment is refused");

        let first = sf.register(&order("TOTE-1", &numbers[0]), &numbers[0]).await.expect("registered");
        let label = &first.route_label_info[0].route_label_data.dest_route_label;
        assert!(label.starts_with("021"), "Shanghai's destination code leads the routing label: {label}");
        let again = sf.register(&order("TOTE-1", &numbers[0]), &numbers[0]).await.expect("a repeat finds the first");
        assert_eq!(again, first, "a repeated registration answers what the first got");
        assert_eq!(sim.orders().len(), 1, "and places nothing new");
        let taken = sf.register(&order("TOTE-2", &numbers[0]), &numbers[0]).await;
        assert!(matches!(taken, Err(CallError::Business { ref code, .. }) if code == sf::WAYBILL_REFUSED), "{taken:?}");
        let stranger = sf.register(&order("TOTE-3", "SF999999999999"), "SF999999999999").await;
        assert!(matches!(stranger, Err(CallError::Business { ref code, .. }) if code == sf::WAYBILL_REFUSED), "{stranger:?}");
        sf.cancel("TOTE-1").await.expect("not yet picked up: cancelled");

        let forged = apis_with_checkword(&sim).await;
        let refused = forged.apply_waybills(1).await;
        assert!(matches!(refused, Err(CallError::Refused { ref code, .. }) if code == sf::API_BAD_DIGEST), "{refused:?}");
        sim.set_api_down(true);
        let down = sf.apply_waybills(1).await;
        assert!(down.as_ref().is_err_and(CallError::is_transient), "{down:?}");
        sim.set_api_down(false);

        let aggregator = ours.aggregator.as_ref().expect("aggregator");
        aggregator.subscribe("SF", &numbers[0]).await.expect("subscribed");
        aggregator.subscribe("SF", &numbers[0]).await.expect("a repeated subscription is as good");
        let stranger = apis(&sim, Some(("kuaidi100-customer-key", "another-key"))).await;
        let refused = stranger.aggregator.as_ref().expect("aggregator").subscribe("SF", &numbers[1]).await;
        assert!(matches!(refused, Err(CallError::Business { ref code, .. }) if code == "600"), "{refused:?}");
    }

    #[test]
    fn finished_parcels_are_forgotten_after_their_keep_and_unacknowledged_ones_never() {
        let step = 1_000;
        let journey = JOURNEY.len() as i64 * step;
        let now = 100 * journey;
        let old = now - journey * (2 + KEEP_FINISHED_JOURNEYS);
        let mut world = World::default();
        let parcel = |n: &str, created_ms: i64, cancelled: bool| SimOrder {
            carrier: "SF".into(),
            order_id: n.into(),
            waybill: n.into(),
            express_type: 1,
            dest_route_label: String::new(),
            created_ms,
            cancelled,
            reverse: false,
            sender: Default::default(),
            recipient: Default::default(),
            collect_from: None,
        };
        let sub = |acked: usize| Subscription { callback: String::new(), salt: String::new(), acked, attempts: 0, next_try_ms: 0, in_flight: false };
        // (waybill, created, cancelled, subscription acked): kept?
        let cases = [("acked", old, false, Some(JOURNEY.len()), false), ("unacked", old, false, Some(1), true), ("young", now - journey, false, Some(JOURNEY.len()), true), ("cancelled", old, true, Some(0), false), ("unwatched", old, false, None, false)];
        for (n, created, cancelled, acked) in cases.iter().map(|c| (c.0, c.1, c.2, c.3)) {
            world.orders.insert(("SF".into(), n.into()), parcel(n, created, cancelled));
            world.by_waybill.insert(n.into(), ("SF".into(), n.into()));
            if let Some(acked) = acked {
                world.subscriptions.insert(n.into(), sub(acked));
            }
        }
        world.forget_finished(step, now);
        for (n, _, _, _, kept) in cases {
            assert_eq!(world.orders.contains_key(&("SF".into(), n.into())), kept, "{n}");
            assert_eq!(world.by_waybill.contains_key(n), kept, "{n}'s waybill");
        }
        let subscribed: Vec<&str> = world.subscriptions.keys().map(String::as_str).collect();
        assert_eq!(subscribed, ["unacked"], "a young parcel's finished journey needs no more pushes either");
    }

    async fn apis_with_checkword(sim: &CarrierSim) -> Arc<tote_central::logistics::carrier_api::CarrierApi> {
        apis(sim, Some(("checkword-sf", "not-the-checkword"))).await.carriers.get("SF").cloned().expect("SF")
    }
}
