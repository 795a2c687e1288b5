//! The fleet as the edge knows it from VDA 5050 messages: who is connected, where each robot
//! is, its battery, errors and capabilities. In memory: robots re-announce themselves
//! (retained `connection` and `factsheet`) whenever the edge reconnects to the broker.

use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use tote_shared::vda5050::{self, ActionStatus, AgvError, ConnectionState, ErrorLevel, Factsheet, State, Topic, Visualization, REJECTION_TYPES};

#[derive(Debug, Clone, Serialize)]
pub struct Robot {
    pub manufacturer: String,
    pub serial_number: String,
    /// `manufacturer/serial`, as master control names it (made once, not every tick).
    #[serde(skip)]
    pub key: String,
    pub connection: ConnectionState,
    /// False once the robot is out of service (connection broken, FATAL error, stale state,
    /// paused, or driving an order the edge did not send).
    pub in_service: bool,
    pub last_seen_ms: i64,
    pub battery_charge: Option<f64>,
    pub position: Option<(f64, f64)>,
    pub driving: bool,
    pub paused: bool,
    pub order_id: Option<String>,
    pub order_update_id: u32,
    /// Node ids of the released nodes it has not reached.
    #[serde(skip)]
    pub released_ahead: Vec<String>,
    /// The load ids it reports (None: it does not report loads).
    pub loads: Option<Vec<String>>,
    pub last_node_id: Option<String>,
    pub fatal_errors: Vec<String>,
    /// An order it reports that the edge never sent (someone else drives it): out of service
    /// until a supervisor cancels it.
    pub foreign_order: Option<String>,
    pub series_name: Option<String>,
    /// The VDA 5050 version its own messages carry, and the one the edge addresses it in.
    pub announced_version: Option<String>,
    pub protocol_version: Option<&'static str>,
    /// Why master control does not give it work although it may be online: a protocol version
    /// the edge does not speak, a factsheet lacking what goods-to-person needs, or orders
    /// refused too often in a row (until a supervisor puts it back).
    pub not_dispatched: Option<String>,
    /// The WARNING errors it reports now (error types).
    pub warnings: Vec<String>,
    /// Orders and instant actions of the edge it refused (validationError, orderError, …).
    pub rejections: u64,
    pub last_rejection: Option<Refusal>,
    /// Most nodes per order its factsheet allows (the horizon is cut to fit).
    #[serde(skip)]
    pub max_order_nodes: Option<usize>,
    #[serde(skip)]
    unfit_version: Option<String>,
    #[serde(skip)]
    unfit_factsheet: Option<String>,
    #[serde(skip)]
    refused: Option<String>,
    /// Refusals since it last made progress (`made_progress`).
    #[serde(skip)]
    strikes: u32,
    /// Of `rejections`, those of orders (master control resyncs the robot after each).
    #[serde(skip)]
    pub order_refusals: u64,
    /// The unreferenced refusals of the last state, by type and text.
    #[serde(skip)]
    unreferenced: Vec<(String, Option<String>)>,
    /// The latest messages the edge sent it, to tell which one a refusal is about.
    #[serde(skip)]
    sent: VecDeque<Sent>,
    /// Messages already counted as refused (a vehicle keeps an error until it is resolved).
    #[serde(skip)]
    refused_messages: VecDeque<(Topic, u32)>,
    /// Ids of the actions the robot reports FINISHED (for master control).
    #[serde(skip)]
    pub finished_actions: Vec<String>,
    /// When (edge clock) the last `connection` message arrived.
    #[serde(skip)]
    connection_seen_ms: i64,
    /// Order ids it may report: those the edge sent it (the latest few), and the one it had
    /// when the edge first heard from it (from before a restart; master control resyncs it).
    #[serde(skip)]
    known_orders: std::collections::VecDeque<String>,
    #[serde(skip)]
    first_state_seen: bool,
}

/// A message of the edge that a robot refused, as its `errors` said.
#[derive(Debug, Clone, Serialize)]
pub struct Refusal {
    pub error_type: String,
    pub description: Option<String>,
    /// `order` or `instantActions`.
    pub topic: &'static str,
    pub order_id: Option<String>,
    pub order_update_id: Option<u32>,
    pub at_ms: i64,
}

/// A message the edge sent a robot.
#[derive(Debug, Clone)]
pub struct Sent {
    pub topic: Topic,
    pub header_id: u32,
    /// Order id and update id (orders), or the action ids (instant actions).
    pub order: Option<(String, u32)>,
    pub action_ids: Vec<String>,
}

/// A robot's error description as the edge keeps it (bounded: it comes off the network).
fn bounded_description(error: &AgvError) -> Option<String> {
    error.error_description.as_ref().map(|d| d.chars().take(200).collect())
}

fn still_running(status: ActionStatus) -> bool {
    matches!(status, ActionStatus::Waiting | ActionStatus::Initializing | ActionStatus::Running | ActionStatus::Paused)
}

/// Messages remembered per robot to match refusals against.
const SENT_KEPT: usize = 32;

/// Whether an action is done as far as master control is concerned: FINISHED, or a
/// `cancelOrder` that FAILED — by VDA 5050 2.x the only reason for that is that the vehicle had
/// no active order (`noOrderToCancel`), which is what the cancel wanted.
fn took_effect(action: &tote_shared::vda5050::ActionState) -> bool {
    action.action_status == ActionStatus::Finished || (action.action_status == ActionStatus::Failed && action.action_type.as_deref() == Some("cancelOrder"))
}

/// The load actions master control sends, with the parameters it sends with them.
const NEEDS: [(&str, &[&str]); 2] = [("pick", &vda5050::LOAD_PARAMETER_KEYS), ("drop", &vda5050::LOAD_PARAMETER_KEYS)];

/// The longest id master control sends: an order id is `{epoch ms}-{n}` (24 characters at
/// most), an action id adds `-startCharging`; instant action ids are shorter.
const LONGEST_ID: usize = 40;

/// Order ids remembered per robot: more than master control has in flight for one robot.
const KNOWN_ORDERS: usize = 16;

impl Robot {
    fn knows_order(&mut self, order_id: &str) {
        if !self.known_orders.iter().any(|o| o == order_id) {
            if self.known_orders.len() == KNOWN_ORDERS {
                self.known_orders.pop_front();
            }
            self.known_orders.push_back(order_id.to_owned());
        }
    }

    /// Whether it can take work: online, no FATAL error, not paused, driving no one else's
    /// order, and nothing that keeps it from dispatch.
    fn serviceable(&mut self) -> bool {
        self.not_dispatched = self.unfit_version.clone().or_else(|| self.unfit_factsheet.clone()).or_else(|| self.refused.clone());
        self.connection == ConnectionState::Online && self.fatal_errors.is_empty() && !self.paused && self.foreign_order.is_none() && self.not_dispatched.is_none()
    }

    fn announced(&mut self, version: &str) {
        if self.announced_version.as_deref() == Some(version) {
            return;
        }
        self.announced_version = Some(version.chars().take(20).collect());
        self.protocol_version = vda5050::speak(version);
        self.unfit_version = match self.protocol_version {
            Some(_) => None,
            None => Some(format!("it speaks VDA 5050 {:?}; this edge speaks {}", self.announced_version.as_deref().unwrap_or(""), vda5050::VERSIONS.join(" and "))),
        };
    }

    /// Counts the refusals in a state report (each refused message once) and notes whether the
    /// robot took the latest order. Returns the indexes (into `REJECTION_TYPES`) of new ones.
    fn note_refusals(&mut self, state: &State, max_strikes: u32, now_ms: i64) -> Vec<usize> {
        if self.made_progress(state) {
            self.strikes = 0;
        }
        let unreferenced_before = std::mem::take(&mut self.unreferenced);
        let mut new = Vec::new();
        for error in &state.errors {
            let Some(kind) = REJECTION_TYPES.iter().position(|t| *t == error.error_type) else { continue };
            if error.error_references.as_ref().is_none_or(|r| r.is_empty()) {
                // An error without references is known by its type and text only: it counts
                // once, in the first state that shows it, not against every message after.
                let identity = (error.error_type.clone(), bounded_description(error));
                let seen = unreferenced_before.contains(&identity);
                if self.unreferenced.len() < 16 {
                    self.unreferenced.push(identity);
                }
                if seen {
                    continue;
                }
            }
            let Some(sent) = self.refused_message(error, state).cloned() else { continue };
            if self.refused_messages.contains(&(sent.topic, sent.header_id)) {
                continue;
            }
            if self.refused_messages.len() == SENT_KEPT {
                self.refused_messages.pop_front();
            }
            self.refused_messages.push_back((sent.topic, sent.header_id));
            self.rejections += 1;
            self.strikes += 1;
            if sent.order.is_some() {
                self.order_refusals += 1;
            }
            let description = bounded_description(error);
            tracing::warn!(serial = %self.serial_number, error_type = %error.error_type, description = description.as_deref().unwrap_or(""), topic = sent.topic.as_str(), "robot refused a message of the edge");
            self.last_rejection = Some(Refusal {
                error_type: error.error_type.clone(),
                description,
                topic: sent.topic.as_str(),
                order_id: sent.order.as_ref().map(|o| o.0.clone()),
                order_update_id: sent.order.as_ref().map(|o| o.1),
                at_ms: now_ms,
            });
            if self.strikes >= max_strikes && self.refused.is_none() {
                tracing::warn!(serial = %self.serial_number, strikes = self.strikes, "robot refused too many messages in a row; it leaves dispatch until a supervisor puts it back");
                self.refused = Some(format!("it refused {} messages in a row (last: {})", self.strikes, error.error_type));
            }
            new.push(kind);
        }
        new
    }

    /// Whether a state shows new progress on what the edge sent: an update of the latest order
    /// newly taken, or an action of an edge order newly finished. Taking a new order alone is
    /// not progress: a robot that takes orders but refuses every update would never run out of
    /// chances.
    fn made_progress(&self, state: &State) -> bool {
        let latest = self.sent.iter().rev().find_map(|s| s.order.as_ref());
        let newly_taken = self.order_id.as_deref() != Some(state.order_id.as_str()) || self.order_update_id != state.order_update_id;
        let took_update = newly_taken && latest.is_some_and(|(o, u)| *o == state.order_id && *u == state.order_update_id && *u > 0);
        let finished = state.action_states.iter().any(|a| {
            a.action_status == ActionStatus::Finished
                && !self.finished_actions.contains(&a.action_id)
                && self.sent.iter().any(|s| s.order.is_some() && s.action_ids.contains(&a.action_id))
        });
        took_update || finished
    }

    /// Which message an error refuses: the one its references name (order id and update id,
    /// header id and topic, or action id); with no references, the last message sent unless
    /// the robot shows it took that one.
    fn refused_message(&self, error: &AgvError, state: &State) -> Option<&Sent> {
        if let Some(order) = error.reference("orderId") {
            let update = error.reference("orderUpdateId").and_then(|u| u.parse::<u32>().ok());
            return self.sent.iter().rev().find(|s| s.order.as_ref().is_some_and(|(o, u)| o == order && update.is_none_or(|x| x == *u)));
        }
        if let Some(header_id) = error.reference("headerId").and_then(|h| h.parse::<u32>().ok()) {
            let topic = if error.reference("topic") == Some("instantActions") { Topic::InstantActions } else { Topic::Order };
            return self.sent.iter().rev().find(|s| s.header_id == header_id && s.topic == topic);
        }
        if let Some(action) = error.reference("actionId") {
            return self.sent.iter().rev().find(|s| s.action_ids.iter().any(|a| a == action));
        }
        let last = self.sent.back()?;
        let taken = match &last.order {
            Some((o, u)) => *o == state.order_id && *u == state.order_update_id,
            None => state.action_states.iter().any(|a| last.action_ids.contains(&a.action_id)),
        };
        (!taken).then_some(last)
    }
}

impl Robot {
    fn new(manufacturer: &str, serial: &str, connection: ConnectionState, now_ms: i64) -> Robot {
        Robot {
            manufacturer: manufacturer.to_owned(),
            serial_number: serial.to_owned(),
            key: format!("{manufacturer}/{serial}"),
            connection,
            in_service: connection == ConnectionState::Online,
            last_seen_ms: now_ms,
            battery_charge: None,
            position: None,
            driving: false,
            paused: false,
            order_id: None,
            order_update_id: 0,
            released_ahead: Vec::new(),
            loads: None,
            last_node_id: None,
            fatal_errors: Vec::new(),
            foreign_order: None,
            series_name: None,
            announced_version: None,
            protocol_version: None,
            not_dispatched: None,
            warnings: Vec::new(),
            rejections: 0,
            last_rejection: None,
            max_order_nodes: None,
            unfit_version: None,
            unfit_factsheet: None,
            refused: None,
            strikes: 0,
            order_refusals: 0,
            unreferenced: Vec::new(),
            sent: VecDeque::new(),
            refused_messages: VecDeque::new(),
            finished_actions: Vec::new(),
            connection_seen_ms: now_ms,
            known_orders: std::collections::VecDeque::new(),
            first_state_seen: false,
        }
    }
}

/// `state` arriving this long after a CONNECTIONBROKEN/OFFLINE proves the robot reconnected;
/// anything sooner may be a message that was in flight when the connection broke.
const REVIVE_AFTER_MS: i64 = 1_500;

/// Why an incoming robot message was dropped (each one is logged and counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rejection {
    UnknownTopic,
    TooLarge,
    NotJson,
    WrongShape,
    UnknownRobot,
    HeaderMismatch,
}

impl Rejection {
    pub const ALL: [Rejection; 6] = [
        Rejection::UnknownTopic,
        Rejection::TooLarge,
        Rejection::NotJson,
        Rejection::WrongShape,
        Rejection::UnknownRobot,
        Rejection::HeaderMismatch,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::UnknownTopic => "unknown_topic",
            Rejection::TooLarge => "too_large",
            Rejection::NotJson => "not_json",
            Rejection::WrongShape => "wrong_shape",
            Rejection::UnknownRobot => "unknown_robot",
            Rejection::HeaderMismatch => "header_mismatch",
        }
    }
}

pub struct Fleet {
    robots: Mutex<BTreeMap<(String, String), Robot>>,
    pub accepted: AtomicU64,
    rejected: [AtomicU64; 6],
    /// Refusals by robots, by error type (`REJECTION_TYPES`).
    refusals: [AtomicU64; REJECTION_TYPES.len()],
    /// Refusals in a row after which a robot leaves dispatch.
    max_strikes: u32,
    /// Our own link to the broker: since when it has been down (0: up), and when it last came
    /// back. While the edge cannot hear, silence says nothing about the robots.
    deaf_since_ms: AtomicI64,
    heard_again_ms: AtomicI64,
}

impl Default for Fleet {
    fn default() -> Fleet {
        Fleet::new(3)
    }
}

impl Fleet {
    pub fn new(max_strikes: u32) -> Fleet {
        Fleet {
            robots: Mutex::default(),
            accepted: AtomicU64::new(0),
            rejected: Default::default(),
            refusals: Default::default(),
            max_strikes: max_strikes.max(1),
            deaf_since_ms: AtomicI64::new(0),
            heard_again_ms: AtomicI64::new(0),
        }
    }

    /// The edge's connection to the broker dropped at `now_ms` (the first drop counts).
    pub fn link_lost(&self, now_ms: i64) {
        let _ = self.deaf_since_ms.compare_exchange(0, now_ms.max(1), Ordering::Relaxed, Ordering::Relaxed);
    }

    /// The edge is connected (again) at `now_ms`: robots get a full `stale_ms` from now to be
    /// heard before they count as stale.
    pub fn link_restored(&self, now_ms: i64) {
        if self.deaf_since_ms.swap(0, Ordering::Relaxed) != 0 {
            self.heard_again_ms.store(now_ms, Ordering::Relaxed);
        }
    }

    /// Refusals by robots so far, by error type.
    pub fn refusals(&self) -> Vec<(&'static str, u64)> {
        REJECTION_TYPES.iter().zip(&self.refusals).map(|(t, n)| (*t, n.load(Ordering::Relaxed))).collect()
    }

    /// The version its headers carry (any message): the edge answers in it.
    pub fn announced(&self, manufacturer: &str, serial: &str, version: &str) {
        self.robot(manufacturer, serial, |r| {
            r.announced(version);
            r.in_service = r.serviceable();
        });
    }

    /// The version to address the robot in (ours until it announced one).
    pub fn version_of(&self, manufacturer: &str, serial: &str) -> &'static str {
        self.robot(manufacturer, serial, |r| r.protocol_version).flatten().unwrap_or(vda5050::VERSION)
    }

    /// The factsheet's `seriesName` of the robot, if it sent one.
    pub fn series_of(&self, manufacturer: &str, serial: &str) -> Option<String> {
        self.robot(manufacturer, serial, |r| r.series_name.clone()).flatten()
    }

    /// Most nodes one order to the robot may have, if its factsheet says.
    pub fn max_order_nodes(&self, manufacturer: &str, serial: &str) -> Option<usize> {
        self.robot(manufacturer, serial, |r| r.max_order_nodes).flatten()
    }

    /// The edge sent the robot a message (to match refusals against).
    pub fn sent(&self, manufacturer: &str, serial: &str, sent: Sent) {
        self.robot(manufacturer, serial, |r| {
            if let Some((order, _)) = &sent.order {
                r.knows_order(order);
            }
            if r.sent.len() == SENT_KEPT {
                r.sent.pop_front();
            }
            r.sent.push_back(sent);
        });
    }

    /// A supervisor puts a robot that refused too often back into dispatch. False: unknown.
    pub fn reinstate(&self, manufacturer: &str, serial: &str) -> bool {
        self.robot(manufacturer, serial, |r| {
            r.refused = None;
            r.strikes = 0;
            r.in_service = r.serviceable();
        })
        .is_some()
    }

    fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<(String, String), Robot>) -> T) -> T {
        let mut robots = self.robots.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut robots)
    }

    /// `f` applied to one robot; None when the edge does not know it.
    fn robot<T>(&self, manufacturer: &str, serial: &str, f: impl FnOnce(&mut Robot) -> T) -> Option<T> {
        self.with(|robots| robots.get_mut(&(manufacturer.to_owned(), serial.to_owned())).map(f))
    }

    pub fn reject(&self, why: Rejection) {
        self.rejected[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn rejected(&self) -> Vec<(Rejection, u64)> {
        Rejection::ALL.iter().map(|r| (*r, self.rejected[*r as usize].load(Ordering::Relaxed))).collect()
    }

    /// Whether the robot has sent a state since the edge started.
    pub fn has_reported(&self, manufacturer: &str, serial: &str) -> bool {
        self.robot(manufacturer, serial, |r| r.first_state_seen).unwrap_or(false)
    }

    pub fn is_known(&self, manufacturer: &str, serial: &str) -> bool {
        self.with(|r| r.contains_key(&(manufacturer.to_owned(), serial.to_owned())))
    }

    pub fn robots(&self) -> Vec<Robot> {
        self.with(|r| r.values().cloned().collect())
    }

    /// `f` on every robot, without copying the robots: master control reads all of them every
    /// tick, and a thousand copies cost more than the reading. Returns how many there are.
    pub fn each_robot(&self, mut f: impl FnMut(&Robot)) -> usize {
        self.with(|r| {
            r.values().for_each(&mut f);
            r.len()
        })
    }

    /// `connection` is what makes a robot known.
    pub fn connection(&self, manufacturer: &str, serial: &str, state: ConnectionState, now_ms: i64) {
        self.with(|robots| {
            let robot = robots.entry((manufacturer.to_owned(), serial.to_owned())).or_insert_with(|| Robot::new(manufacturer, serial, state, now_ms));
            robot.connection = state;
            robot.connection_seen_ms = now_ms;
            robot.last_seen_ms = now_ms;
            robot.in_service = robot.serviceable();
        });
        self.accepted.fetch_add(1, Ordering::Relaxed);
    }

    /// Applies `update` to a known robot; an unknown one is rejected.
    fn known(&self, manufacturer: &str, serial: &str, update: impl FnOnce(&mut Robot)) -> bool {
        let found = self.robot(manufacturer, serial, update).is_some();
        if found {
            self.accepted.fetch_add(1, Ordering::Relaxed);
        } else {
            self.reject(Rejection::UnknownRobot);
        }
        found
    }

    pub fn state(&self, manufacturer: &str, serial: &str, state: &State, now_ms: i64) -> bool {
        let mut refused = Vec::new();
        let found = self.known(manufacturer, serial, |r| {
            refused = r.note_refusals(state, self.max_strikes, now_ms);
            r.warnings = state.errors.iter().filter(|e| e.error_level == ErrorLevel::Warning).map(|e| e.error_type.chars().take(64).collect()).take(16).collect();
            // A broker may deliver an old session's will after the robot already reconnected
            // (the retained CONNECTIONBROKEN then hides its ONLINE): live state well after the
            // break shows the robot is connected.
            if r.connection != ConnectionState::Online && now_ms - r.connection_seen_ms > REVIVE_AFTER_MS {
                tracing::info!(serial = %r.serial_number, "robot sends state after its connection broke: treated as reconnected");
                r.connection = ConnectionState::Online;
                r.connection_seen_ms = now_ms;
            }
            r.last_seen_ms = now_ms;
            r.battery_charge = Some(state.battery_state.battery_charge);
            r.position = state.agv_position.as_ref().map(|p| (p.x, p.y));
            r.driving = state.driving;
            r.paused = state.paused.unwrap_or(false);
            r.order_id = Some(state.order_id.clone()).filter(|o| !o.is_empty());
            r.order_update_id = state.order_update_id;
            r.released_ahead = state.node_states.iter().filter(|n| n.released).map(|n| n.node_id.clone()).collect();
            r.loads = state.loads.as_ref().map(|l| l.iter().filter_map(|l| l.load_id.clone()).collect());
            r.last_node_id = Some(state.last_node_id.clone()).filter(|n| !n.is_empty());
            r.finished_actions = state.action_states.iter().filter(|a| took_effect(a)).map(|a| a.action_id.clone()).collect();
            // Some vehicles answer a cancel with nothing to cancel by the error alone, naming
            // the action, without an action state for it — and some say the same while a
            // cancel is still pending: done only when the state shows no order left to run.
            let idle = state.node_states.is_empty() && state.edge_states.is_empty() && !state.action_states.iter().any(|a| still_running(a.action_status));
            let no_order = state.errors.iter().filter(|e| idle && e.error_type == "noOrderToCancel").filter_map(|e| e.reference("actionId"));
            r.finished_actions.extend(no_order.map(|a| a.chars().take(128).collect::<String>()));
            r.fatal_errors =
                state.errors.iter().filter(|e| e.error_level == ErrorLevel::Fatal).map(|e| e.error_type.clone()).collect();
            r.foreign_order = None;
            if let Some(order) = r.order_id.clone() {
                if !r.first_state_seen {
                    r.knows_order(&order);
                } else if !r.known_orders.contains(&order) {
                    tracing::warn!(serial = %r.serial_number, order = %order.chars().take(64).collect::<String>(), "robot drives an order the edge did not send; taken out of service");
                    r.foreign_order = Some(order);
                }
            }
            r.first_state_seen = true;
            r.in_service = r.serviceable();
        });
        for kind in refused {
            self.refusals[kind].fetch_add(1, Ordering::Relaxed);
        }
        found
    }

    /// A supervisor cancelled the robot's foreign order: it is the edge's to handle now, and the
    /// robot may serve again once its state confirms.
    pub fn adopt_order(&self, manufacturer: &str, serial: &str) {
        self.robot(manufacturer, serial, |r| {
            if let Some(order) = r.foreign_order.take() {
                r.knows_order(&order);
            }
            r.in_service = r.serviceable();
        });
    }

    pub fn visualization(&self, manufacturer: &str, serial: &str, v: &Visualization, now_ms: i64) -> bool {
        self.known(manufacturer, serial, |r| {
            r.last_seen_ms = now_ms;
            if let Some(p) = &v.agv_position {
                r.position = Some((p.x, p.y));
            }
        })
    }

    /// A factsheet also makes a robot known (not yet in service): a broker may deliver it
    /// before the robot's `connection` (QoS 0 overtaking QoS 1, as Mosquitto does under load).
    pub fn factsheet(&self, manufacturer: &str, serial: &str, f: &Factsheet, now_ms: i64) -> bool {
        self.with(|robots| {
            let key = (manufacturer.to_owned(), serial.to_owned());
            let r = robots.entry(key).or_insert_with(|| Robot::new(manufacturer, serial, ConnectionState::Offline, now_ms));
            r.last_seen_ms = now_ms;
            r.series_name = f.type_specification.get("seriesName").and_then(|s| s.as_str()).map(|s| s.chars().take(64).collect());
            let capabilities = f.capabilities();
            // A limit of 0 is no limit we could keep: ignored (a base needs a node).
            let edges = capabilities.max_order_edges.filter(|e| *e > 0).map(|e| e.saturating_add(1));
            r.max_order_nodes = capabilities.max_order_nodes.filter(|n| *n > 0).map(|n| edges.map_or(n, |e| n.min(e)));
            r.unfit_factsheet = capabilities.unfit(&NEEDS, LONGEST_ID).map(|why| format!("{why} (factsheet)"));
            if let Some(why) = &r.unfit_factsheet {
                tracing::warn!(serial = %r.serial_number, %why, "robot cannot serve goods-to-person as this edge drives it");
            }
            r.in_service = r.serviceable();
        });
        self.accepted.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Robots whose last message is older than `stale_ms` leave service (their cells stay
    /// blocked and their work is reassigned by dispatch). Not while the edge's own link to the
    /// broker is down, nor before `stale_ms` has passed since it came back: a deaf edge must
    /// not take every robot out of service for its own outage.
    pub fn expire(&self, now_ms: i64, stale_ms: i64) -> Vec<String> {
        if self.deaf_since_ms.load(Ordering::Relaxed) != 0 {
            return Vec::new();
        }
        let heard_again = self.heard_again_ms.load(Ordering::Relaxed);
        self.with(|robots| {
            let mut expired = Vec::new();
            for r in robots.values_mut() {
                if r.in_service && now_ms - r.last_seen_ms.max(heard_again) > stale_ms {
                    r.in_service = false;
                    expired.push(r.serial_number.clone());
                }
            }
            expired
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use tote_shared::vda5050::*;

    #[test]
    fn robots_are_not_blamed_for_the_edges_own_outage() {
        let fleet = Fleet::default();
        fleet.connection("m", "r1", ConnectionState::Online, 0);
        fleet.state("m", "r1", &state(1_000), 1_000);
        // The edge's link drops at 1.5 s and stays down far past the stale limit (3 s).
        fleet.link_lost(1_500);
        assert!(fleet.expire(10_000, 3_000).is_empty(), "nothing expires while the edge is deaf");
        // Back at 10 s: the robot has until 13 s to be heard.
        fleet.link_restored(10_000);
        assert!(fleet.expire(12_999, 3_000).is_empty());
        assert_eq!(fleet.expire(13_001, 3_000), vec!["r1".to_owned()], "silent after the grace: stale");
        // A robot heard after the restore keeps service on its own clock.
        fleet.connection("m", "r2", ConnectionState::Online, 0);
        fleet.state("m", "r2", &state(14_000), 14_000);
        assert!(fleet.expire(16_000, 3_000).is_empty());
        assert_eq!(fleet.expire(17_001, 3_000), vec!["r2".to_owned()]);
    }

    pub(crate) fn state(at_ms: i64) -> State {
        State {
            header: Header::new(1, at_ms, "m", "r1"),
            order_id: String::new(),
            order_update_id: 0,
            last_node_id: String::new(),
            last_node_sequence_id: 0,
            driving: false,
            paused: None,
            operating_mode: OperatingMode::Automatic,
            node_states: vec![],
            edge_states: vec![],
            agv_position: None,
            velocity: None,
            loads: None,
            action_states: vec![],
            battery_state: BatteryState { battery_charge: 50.0, charging: false },
            errors: vec![],
            safety_state: SafetyState { e_stop: EStop::None, field_violation: false },
        }
    }

    fn order_sent(header_id: u32, order: &str, update: u32) -> Sent {
        Sent { topic: Topic::Order, header_id, order: Some((order.into(), update)), action_ids: vec![] }
    }

    #[test]
    fn each_robot_is_addressed_in_its_version_and_one_the_edge_does_not_speak_is_not_dispatched() {
        let fleet = Fleet::default();
        fleet.connection("m", "r20", ConnectionState::Online, 0);
        fleet.connection("m", "r30", ConnectionState::Online, 0);
        assert_eq!(fleet.version_of("m", "r20"), VERSION, "ours until it announces one");
        fleet.announced("m", "r20", "2.0.0");
        fleet.announced("m", "r30", "3.0.0");
        assert_eq!(fleet.version_of("m", "r20"), "2.0.0");
        let robots = fleet.robots();
        assert!(robots[0].in_service);
        assert!(!robots[1].in_service);
        assert!(robots[1].not_dispatched.as_deref().is_some_and(|w| w.contains("3.0.0")), "{:?}", robots[1].not_dispatched);
    }

    #[test]
    fn a_refusal_is_counted_once_per_message_and_refusals_in_a_row_take_a_robot_out_until_reinstated() {
        let fleet = Fleet::new(3);
        fleet.connection("m", "r1", ConnectionState::Online, 0);
        let refusing = |order: &str, update: u32, at: i64| State {
            errors: vec![AgvError::warning("orderError", "invalid actionParameter".into(), &[("orderId", order.into()), ("orderUpdateId", update.to_string())])],
            ..state(at)
        };
        fleet.sent("m", "r1", order_sent(1, "o1", 0));
        fleet.state("m", "r1", &refusing("o1", 0, 10), 10);
        fleet.state("m", "r1", &refusing("o1", 0, 20), 20);
        let robot = &fleet.robots()[0];
        assert_eq!(robot.rejections, 1, "a vehicle repeats an error until it is resolved: one refusal");
        assert_eq!(robot.last_rejection.as_ref().map(|r| (r.error_type.as_str(), r.order_id.as_deref())), Some(("orderError", Some("o1"))));
        assert!(robot.in_service, "one refusal is retried");
        // A refusal naming an order the edge never sent is not ours to count.
        fleet.state("m", "r1", &refusing("stranger", 0, 25), 25);
        assert_eq!(fleet.robots()[0].rejections, 1);
        // Progress (an update of the latest order taken) resets the count in a row.
        fleet.sent("m", "r1", order_sent(2, "o2", 1));
        fleet.state("m", "r1", &State { order_id: "o2".into(), order_update_id: 1, ..state(30) }, 30);
        fleet.sent("m", "r1", order_sent(3, "o3", 0));
        fleet.state("m", "r1", &refusing("o3", 0, 40), 40);
        fleet.sent("m", "r1", order_sent(4, "o4", 0));
        fleet.state("m", "r1", &refusing("o4", 0, 50), 50);
        assert!(fleet.robots()[0].in_service, "two in a row");
        // Unreferenced: the last message sent, which the robot does not show it took.
        fleet.sent("m", "r1", order_sent(5, "o5", 0));
        let unreferenced = AgvError { error_references: None, ..AgvError::warning("validationError", "bad".into(), &[]) };
        fleet.state("m", "r1", &State { errors: vec![unreferenced.clone()], ..state(60) }, 60);
        let robot = &fleet.robots()[0];
        assert_eq!((robot.rejections, robot.in_service), (4, false), "three in a row: out of dispatch");
        assert!(robot.not_dispatched.as_deref().is_some_and(|w| w.contains("refused 3")), "{:?}", robot.not_dispatched);
        assert_eq!(fleet.refusals(), vec![("validationError", 1), ("orderError", 3), ("orderUpdateError", 0), ("noRouteError", 0)]);
        // The same unreferenced error, still reported, is not charged to the next message.
        fleet.sent("m", "r1", order_sent(6, "o6", 0));
        fleet.state("m", "r1", &State { errors: vec![unreferenced], ..state(70) }, 70);
        assert_eq!(fleet.robots()[0].rejections, 4);
        assert!(fleet.reinstate("m", "r1"));
        assert!(fleet.robots()[0].in_service, "a supervisor put it back");
        assert!(!fleet.reinstate("m", "nobody"));
    }

    /// A vehicle that takes every new order but refuses every update makes no progress: taking
    /// a new order does not restore its chances, so it leaves dispatch.
    #[test]
    fn taking_new_orders_while_refusing_every_update_is_no_progress() {
        let fleet = Fleet::new(3);
        fleet.connection("m", "r1", ConnectionState::Online, 0);
        for k in 0..3u32 {
            let order = format!("o{k}");
            let at = 10 * i64::from(k);
            fleet.sent("m", "r1", order_sent(2 * k + 1, &order, 0));
            fleet.state("m", "r1", &State { order_id: order.clone(), ..state(at) }, at);
            fleet.sent("m", "r1", order_sent(2 * k + 2, &order, 1));
            let refusal = AgvError::warning("orderUpdateError", "no".into(), &[("orderId", order.clone()), ("orderUpdateId", "1".into())]);
            fleet.state("m", "r1", &State { order_id: order, errors: vec![refusal], ..state(at + 5) }, at + 5);
        }
        let robot = &fleet.robots()[0];
        assert_eq!((robot.rejections, robot.order_refusals, robot.in_service), (3, 3, false));
    }

    #[test]
    fn a_factsheet_without_what_goods_to_person_sends_keeps_a_robot_from_dispatch() {
        let fleet = Fleet::default();
        let mut sheet = Factsheet::shelf_lifter(Header::new(1, 0, "m", "r1"), "Lifter", 1.5, 600.0);
        sheet.protocol_features["agvActions"].as_array_mut().expect("actions").retain(|a| a["actionType"] != "pick");
        fleet.factsheet("m", "r1", &sheet, 0);
        fleet.connection("m", "r1", ConnectionState::Online, 10);
        let robot = &fleet.robots()[0];
        assert!(!robot.in_service);
        assert_eq!(robot.not_dispatched.as_deref(), Some("its factsheet declares no pick action (factsheet)"));
        let sheet = Factsheet::shelf_lifter(Header::new(2, 0, "m", "r1"), "Lifter", 1.5, 600.0);
        fleet.factsheet("m", "r1", &sheet, 20);
        let robot = &fleet.robots()[0];
        assert!(robot.in_service, "a corrected factsheet puts it back");
        assert_eq!(robot.max_order_nodes, Some(SIM_MAX_ORDER_NODES));
    }

    #[test]
    fn state_in_flight_at_a_break_does_not_revive_a_robot_but_live_state_later_does() {
        let fleet = Fleet::default();
        fleet.connection("m", "r1", ConnectionState::Online, 0);
        fleet.connection("m", "r1", ConnectionState::ConnectionBroken, 10_000);
        fleet.state("m", "r1", &state(9_990), 10_200);
        assert!(!fleet.robots()[0].in_service, "a message sent before the break");
        fleet.state("m", "r1", &state(12_000), 12_000);
        assert_eq!(fleet.robots()[0].connection, ConnectionState::Online);
        assert!(fleet.robots()[0].in_service, "a robot that keeps talking is connected");
    }

    #[test]
    fn a_factsheet_before_the_connection_is_kept() {
        let fleet = Fleet::default();
        let sheet = Factsheet::shelf_lifter(Header::new(1, 0, "m", "r1"), "Lifter", 1.5, 600.0);
        assert!(fleet.factsheet("m", "r1", &sheet, 0));
        assert!(!fleet.robots()[0].in_service, "known, not yet in service");
        fleet.connection("m", "r1", ConnectionState::Online, 10);
        let robot = &fleet.robots()[0];
        assert!(robot.in_service);
        assert_eq!(robot.series_name.as_deref(), Some("Lifter"));
    }

    #[test]
    fn a_paused_robot_leaves_service_until_it_resumes() {
        let fleet = Fleet::default();
        fleet.connection("m", "r1", ConnectionState::Online, 0);
        fleet.state("m", "r1", &State { paused: Some(true), ..state(10) }, 10);
        assert!(!fleet.robots()[0].in_service, "paused (by anyone) means it takes no work");
        fleet.state("m", "r1", &State { paused: Some(false), ..state(20) }, 20);
        assert!(fleet.robots()[0].in_service);
    }

    #[test]
    fn an_order_the_edge_did_not_send_takes_a_robot_out_of_service() {
        let fleet = Fleet::default();
        fleet.connection("m", "r1", ConnectionState::Online, 0);
        let with_order = |id: &str, at: i64| State { order_id: id.into(), ..state(at) };
        // The order it had when the edge first heard from it (from before a restart) is kept.
        fleet.state("m", "r1", &with_order("old-1", 10), 10);
        assert!(fleet.robots()[0].in_service);
        fleet.sent("m", "r1", order_sent(1, "edge-2", 0));
        fleet.state("m", "r1", &with_order("edge-2", 20), 20);
        assert!(fleet.robots()[0].in_service, "its own order");
        fleet.state("m", "r1", &with_order("intruder-9", 30), 30);
        let robot = &fleet.robots()[0];
        assert_eq!((robot.in_service, robot.foreign_order.as_deref()), (false, Some("intruder-9")));
        fleet.state("m", "r1", &with_order("intruder-9", 40), 40);
        assert!(!fleet.robots()[0].in_service, "still out while it reports that order");
        // A supervisor cancels it: the edge adopts it and the robot serves again.
        fleet.adopt_order("m", "r1");
        fleet.state("m", "r1", &with_order("intruder-9", 50), 50);
        let robot = &fleet.robots()[0];
        assert_eq!((robot.in_service, robot.foreign_order.as_deref()), (true, None));
    }

    #[test]
    fn a_cancel_that_failed_for_want_of_an_order_counts_as_done() {
        let fleet = Fleet::default();
        fleet.connection("m", "r1", ConnectionState::Online, 0);
        let action = |id: &str, kind: &str, status: ActionStatus| ActionState { action_id: id.into(), action_type: Some(kind.into()), action_status: status, result_description: None };
        let report = State {
            order_id: "old-7".into(),
            action_states: vec![
                action("c1", "cancelOrder", ActionStatus::Failed),
                action("p1", "pick", ActionStatus::Failed),
                action("p2", "pick", ActionStatus::Finished),
                action("c2", "cancelOrder", ActionStatus::Running),
            ],
            errors: vec![AgvError::warning("noOrderToCancel", "no order".into(), &[])],
            ..state(10)
        };
        fleet.state("m", "r1", &report, 10);
        let robot = &fleet.robots()[0];
        assert_eq!(robot.finished_actions, vec!["c1".to_owned(), "p2".to_owned()], "a failed pick is not done; a failed cancel is");
        assert!(robot.in_service, "a WARNING does not take it out of service");
        // A vehicle that reports the cancel by the error alone (vda-5050-lib does).
        let by_error = State { action_states: vec![], errors: vec![AgvError::warning("noOrderToCancel", "no active order".into(), &[("topic", "instantActions".into()), ("actionId", "c3".into())])], ..state(20) };
        fleet.state("m", "r1", &by_error, 20);
        assert_eq!(fleet.robots()[0].finished_actions, vec!["c3".to_owned()]);
        // …but not while an order is still running (a cancel already pending says the same).
        let pending = State { node_states: vec![NodeState { node_id: "n2".into(), sequence_id: 2, released: true, node_position: None }], ..by_error };
        fleet.state("m", "r1", &pending, 30);
        assert!(fleet.robots()[0].finished_actions.is_empty());
    }
}
