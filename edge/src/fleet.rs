//! The fleet as the edge knows it from VDA 5050 messages: who is connected, where each robot
//! is, its battery, errors and capabilities. In memory: robots re-announce themselves
//! (retained `connection` and `factsheet`) whenever the edge reconnects to the broker.

use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use tote_shared::vda5050::{ActionStatus, ConnectionState, ErrorLevel, Factsheet, State, Visualization};

#[derive(Debug, Clone, Serialize)]
pub struct Robot {
    pub manufacturer: String,
    pub serial_number: String,
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

/// Whether an action is done as far as master control is concerned: FINISHED, or a
/// `cancelOrder` that FAILED — by VDA 5050 2.x the only reason for that is that the vehicle had
/// no active order (`noOrderToCancel`), which is what the cancel wanted.
fn took_effect(action: &tote_shared::vda5050::ActionState) -> bool {
    action.action_status == ActionStatus::Finished || (action.action_status == ActionStatus::Failed && action.action_type.as_deref() == Some("cancelOrder"))
}

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

    /// Whether it can take work: online, no FATAL error, not paused, driving no one else's order.
    fn serviceable(&self) -> bool {
        self.connection == ConnectionState::Online && self.fatal_errors.is_empty() && !self.paused && self.foreign_order.is_none()
    }
}

impl Robot {
    fn new(manufacturer: &str, serial: &str, connection: ConnectionState, now_ms: i64) -> Robot {
        Robot {
            manufacturer: manufacturer.to_owned(),
            serial_number: serial.to_owned(),
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
            finished_actions: Vec::new(),
            connection_seen_ms: now_ms,
            known_orders: std::collections::VecDeque::new(),
            first_state_seen: false,
        }
    }
}

/// `state` arriving this long after a CONNECTIONBROKEN/OFFLINE proves the robot reconnected
/// (robots publish state at least once a second); anything sooner may be a message that was
/// in flight when the connection broke.
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

#[derive(Default)]
pub struct Fleet {
    robots: Mutex<BTreeMap<(String, String), Robot>>,
    pub accepted: AtomicU64,
    rejected: [AtomicU64; 6],
}

impl Fleet {
    fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<(String, String), Robot>) -> T) -> T {
        let mut robots = self.robots.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut robots)
    }

    pub fn reject(&self, why: Rejection) {
        self.rejected[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn rejected(&self) -> Vec<(Rejection, u64)> {
        Rejection::ALL.iter().map(|r| (*r, self.rejected[*r as usize].load(Ordering::Relaxed))).collect()
    }

    pub fn is_known(&self, manufacturer: &str, serial: &str) -> bool {
        self.with(|r| r.contains_key(&(manufacturer.to_owned(), serial.to_owned())))
    }

    pub fn robots(&self) -> Vec<Robot> {
        self.with(|r| r.values().cloned().collect())
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
        let found = self.with(|robots| robots.get_mut(&(manufacturer.to_owned(), serial.to_owned())).map(update).is_some());
        if found {
            self.accepted.fetch_add(1, Ordering::Relaxed);
        } else {
            self.reject(Rejection::UnknownRobot);
        }
        found
    }

    pub fn state(&self, manufacturer: &str, serial: &str, state: &State, now_ms: i64) -> bool {
        self.known(manufacturer, serial, |r| {
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
        })
    }

    /// Master control sent `order_id` to the robot.
    pub fn order_sent(&self, manufacturer: &str, serial: &str, order_id: &str) {
        self.with(|robots| {
            if let Some(r) = robots.get_mut(&(manufacturer.to_owned(), serial.to_owned())) {
                r.knows_order(order_id);
            }
        });
    }

    /// A supervisor cancelled the robot's foreign order: it is the edge's to handle now, and the
    /// robot may serve again once its state confirms.
    pub fn adopt_order(&self, manufacturer: &str, serial: &str) {
        self.with(|robots| {
            if let Some(r) = robots.get_mut(&(manufacturer.to_owned(), serial.to_owned())) {
                if let Some(order) = r.foreign_order.take() {
                    r.knows_order(&order);
                }
                r.in_service = r.serviceable();
            }
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
            r.series_name = f.type_specification.get("seriesName").and_then(|s| s.as_str()).map(str::to_owned);
        });
        self.accepted.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Robots whose last message is older than `stale_ms` leave service (their cells stay
    /// blocked and their work is reassigned by dispatch).
    pub fn expire(&self, now_ms: i64, stale_ms: i64) -> Vec<String> {
        self.with(|robots| {
            let mut expired = Vec::new();
            for r in robots.values_mut() {
                if r.in_service && now_ms - r.last_seen_ms > stale_ms {
                    r.in_service = false;
                    expired.push(r.serial_number.clone());
                }
            }
            expired
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tote_shared::vda5050::*;

    fn state(at_ms: i64) -> State {
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
        fleet.order_sent("m", "r1", "edge-2");
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
            errors: vec![AgvError { error_type: "noOrderToCancel".into(), error_level: ErrorLevel::Warning, error_description: None }],
            ..state(10)
        };
        fleet.state("m", "r1", &report, 10);
        let robot = &fleet.robots()[0];
        assert_eq!(robot.finished_actions, vec!["c1".to_owned(), "p2".to_owned()], "a failed pick is not done; a failed cancel is");
        assert!(robot.in_service, "a WARNING does not take it out of service");
    }
}
