//! A VDA 5050 2.x robot (a goods-to-person shelf lifter) as a separate MQTT client.
//!
//! It announces itself with a retained `connection` ONLINE and a retained `factsheet`, leaves a
//! retained last will of CONNECTIONBROKEN, follows the released nodes of its order one node per
//! `node_ms`, runs `pick`/`drop`/charging actions, obeys `instantActions` (pause, resume,
//! cancel, state request), drains and charges its battery, and publishes `state` every
//! `state_ms` and on every event. Faults on demand: vanish without a clean disconnect, report
//! a FATAL error, or stall (stop publishing).
//!
//! It is strict the way the standard lets a vehicle be: it speaks one protocol version and
//! refuses messages in another (`validationError`), refuses orders with actions its factsheet
//! does not declare or without their required parameters (`orderError`), a new order over a
//! running one or an update that does not stitch onto its last base node (node id and sequence
//! id; `orderUpdateError`), an instant action it does not support (`instantActionError`, the
//! action FAILED), and a cancel with no order to cancel (`noOrderToCancel`). Each refusal is a
//! WARNING naming the message in `errorReferences`, kept until its next accepted order.

use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Packet, QoS};
use std::time::Duration;
use tokio::sync::mpsc;
use tote_shared::vda5050::*;

#[derive(Debug, Clone)]
pub struct AgvConfig {
    pub manufacturer: String,
    pub serial: String,
    pub broker_host: String,
    pub broker_port: u16,
    pub state_ms: u64,
    pub node_ms: u64,
    pub battery: f64,
    /// Where it stands when it starts (metres on the map).
    pub start: (f64, f64),
    /// The pod it carries when it starts (a robot that reconnects after a fault still has it).
    pub load: Option<String>,
    /// Its MQTT user name and password (the edge's embedded broker issues them).
    pub login: Option<(String, String)>,
    /// MQTT over TLS, trusting this CA (PEM).
    pub tls_ca: Option<std::path::PathBuf>,
    /// The VDA 5050 version it speaks (`2.0.0` or `2.1.0`): its headers carry it, and it
    /// refuses messages of another minor version.
    pub version: String,
}

/// Commissions a robot at the edge: issues its login to the embedded broker (a supervisor's or
/// the API token's call). None when the edge uses an external broker, which has its own users.
pub async fn issue_login(edge_url: &str, token: &str, manufacturer: &str, serial: &str) -> anyhow::Result<Option<(String, String)>> {
    let url = format!("{}/api/v1/fleet/{manufacturer}/{serial}/mqtt-login", edge_url.trim_end_matches('/'));
    let response = reqwest::Client::new().post(url).bearer_auth(token).send().await?;
    if response.status() == reqwest::StatusCode::CONFLICT {
        return Ok(None);
    }
    anyhow::ensure!(response.status().is_success(), "the edge refused to issue a login for {manufacturer}/{serial}: {}", response.status());
    let issued: serde_json::Value = response.json().await?;
    let field = |name: &str| issued[name].as_str().map(str::to_owned).ok_or_else(|| anyhow::anyhow!("no {name} in the issued login"));
    Ok(Some((field("username")?, field("password")?)))
}

#[derive(Debug, Clone)]
pub enum Fault {
    /// Drop the connection without DISCONNECT: the broker publishes the last will.
    Vanish,
    /// Report a FATAL error in `state`.
    Fatal(String),
    /// Stop publishing `state` while staying connected.
    Stall,
}

pub struct Agv {
    pub serial: String,
    faults: mpsc::Sender<Fault>,
    task: tokio::task::JoinHandle<()>,
}

impl Agv {
    pub fn spawn(config: AgvConfig, now_ms: fn() -> i64) -> Agv {
        let (faults, rx) = mpsc::channel(8);
        let serial = config.serial.clone();
        let task = tokio::spawn(run(config, rx, now_ms));
        Agv { serial, faults, task }
    }

    pub async fn inject(&self, fault: Fault) {
        let _ = self.faults.send(fault).await;
    }

    pub fn is_running(&self) -> bool {
        !self.task.is_finished()
    }
}

impl Drop for Agv {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Robot {
    cfg: AgvConfig,
    header_ids: [u32; 6],
    order: Option<Order>,
    /// Index into the order's nodes of the last node reached.
    at_node: usize,
    position: (f64, f64),
    load: Option<String>,
    action_states: Vec<ActionState>,
    battery: f64,
    charging: bool,
    paused: bool,
    errors: Vec<AgvError>,
    stalled: bool,
}

impl Robot {
    fn header(&mut self, topic: Topic, now: i64) -> Header {
        let slot = topic as usize;
        self.header_ids[slot] += 1;
        Header::new(self.header_ids[slot], now, &self.cfg.manufacturer, &self.cfg.serial).in_version(&self.cfg.version)
    }

    /// Reports a refusal (a WARNING kept until the next accepted order).
    fn refuse(&mut self, error: AgvError) {
        tracing::debug!(serial = %self.cfg.serial, error_type = %error.error_type, description = error.error_description.as_deref().unwrap_or(""), "robot refuses a message");
        self.errors.push(error);
        if self.errors.len() > 16 {
            self.errors.remove(0);
        }
    }

    /// A message in another protocol version than ours is refused (VDA 5050: validationError).
    fn speaks(&mut self, header: &Header, topic: Topic) -> bool {
        if speak(&header.version).is_some() && speak(&header.version) == speak(&self.cfg.version) {
            return true;
        }
        let why = format!("version {:?} is not {}", header.version.chars().take(20).collect::<String>(), self.cfg.version);
        self.refuse(AgvError::warning("validationError", why, &[("headerId", header.header_id.to_string()), ("topic", topic.as_str().to_owned())]));
        false
    }

    /// Whether an order is one this vehicle can carry out; the refusal otherwise.
    fn check_order(&self, order: &Order) -> Result<(), AgvError> {
        fn refs(order: &Order, extra: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
            let mut r = vec![("orderId", order.order_id.clone()), ("orderUpdateId", order.order_update_id.to_string())];
            r.extend(extra.iter().cloned());
            r
        }
        if order.nodes.is_empty() || order.nodes.len() > SIM_MAX_ORDER_NODES {
            return Err(AgvError::warning("orderError", format!("{} nodes; 1 to {SIM_MAX_ORDER_NODES} taken", order.nodes.len()), &refs(order, &[])));
        }
        for action in order.nodes.iter().flat_map(|n| &n.actions).chain(order.edges.iter().flat_map(|e| &e.actions)) {
            let at = refs(order, &[("actionId", action.action_id.clone())]);
            match action.action_type.as_str() {
                "pick" | "drop" => {
                    if let Some(key) = ["stationType", "loadType"].into_iter().find(|k| parameter(action, k).is_none()) {
                        return Err(AgvError::warning("orderError", format!("invalid actionParameter: {} needs {key}", action.action_type), &at));
                    }
                }
                "startCharging" => {}
                other => return Err(AgvError::warning("orderError", format!("action {:?} is not supported in orders", other.chars().take(40).collect::<String>()), &at)),
            }
        }
        let Some(current) = &self.order else { return Ok(()) };
        let running = self.at_node + 1 < current.nodes.len();
        let base_end = current.nodes.iter().rposition(|n| n.released).map(|k| &current.nodes[k]);
        let first = &order.nodes[0];
        let stitches = base_end.is_some_and(|b| b.node_id == first.node_id && b.sequence_id == first.sequence_id);
        if current.order_id != order.order_id {
            if running && !stitches {
                return Err(AgvError::warning("orderUpdateError", "a new order over a running one that does not stitch onto its last base node".into(), &refs(order, &[])));
            }
            return Ok(());
        }
        if order.order_update_id < current.order_update_id {
            return Err(AgvError::warning("orderUpdateError", format!("update {} is older than {}", order.order_update_id, current.order_update_id), &refs(order, &[])));
        }
        if order.order_update_id > current.order_update_id && !stitches {
            return Err(AgvError::warning("orderUpdateError", "stitching node is not the last base node".into(), &refs(order, &[])));
        }
        Ok(())
    }

    fn state(&mut self, now: i64) -> State {
        let header = self.header(Topic::State, now);
        let (order_id, update, last_id, last_seq, nodes, edges) = match &self.order {
            Some(o) => {
                let last = &o.nodes[self.at_node.min(o.nodes.len() - 1)];
                let nodes = o.nodes.iter().skip(self.at_node + 1).map(|n| NodeState { node_id: n.node_id.clone(), sequence_id: n.sequence_id, released: n.released, node_position: None }).collect();
                let edges = o.edges.iter().skip(self.at_node).map(|e| EdgeState { edge_id: e.edge_id.clone(), sequence_id: e.sequence_id, released: e.released }).collect();
                (o.order_id.clone(), o.order_update_id, last.node_id.clone(), last.sequence_id, nodes, edges)
            }
            None => (String::new(), 0, String::new(), 0, Vec::new(), Vec::new()),
        };
        State {
            header,
            order_id,
            order_update_id: update,
            last_node_id: last_id,
            last_node_sequence_id: last_seq,
            driving: self.next_released().is_some() && !self.paused,
            paused: Some(self.paused),
            operating_mode: OperatingMode::Automatic,
            node_states: nodes,
            edge_states: edges,
            agv_position: Some(AgvPosition { x: self.position.0, y: self.position.1, theta: 0.0, map_id: "floor".into(), position_initialized: true }),
            velocity: None,
            loads: Some(self.load.iter().map(|id| Load { load_id: Some(id.clone()), load_type: Some("POD".into()) }).collect()),
            action_states: self.action_states.clone(),
            battery_state: BatteryState { battery_charge: self.battery, charging: self.charging },
            errors: self.errors.clone(),
            safety_state: SafetyState { e_stop: EStop::None, field_violation: false },
        }
    }

    fn next_released(&self) -> Option<usize> {
        let o = self.order.as_ref()?;
        let next = self.at_node + 1;
        (next < o.nodes.len() && o.nodes[next].released).then_some(next)
    }

    /// One node further along the base; runs that node's actions on arrival.
    fn advance(&mut self) -> bool {
        if self.paused || !self.errors.iter().all(|e| e.error_level != ErrorLevel::Fatal) {
            return false;
        }
        let Some(next) = self.next_released() else { return false };
        self.at_node = next;
        let node = self.order.as_ref().map(|o| o.nodes[next].clone());
        if let Some(node) = node {
            if let Some(p) = &node.node_position {
                self.position = (p.x, p.y);
            }
            self.battery = (self.battery - 0.05).max(0.0);
            for action in &node.actions {
                self.run_action(action);
            }
        }
        true
    }

    fn run_action(&mut self, action: &Action) {
        match action.action_type.as_str() {
            "pick" => self.load = Some(parameter(action, "loadId").unwrap_or("POD").to_owned()),
            "drop" => self.load = None,
            "startCharging" => self.charging = true,
            "stopCharging" => self.charging = false,
            _ => {}
        }
        self.finish(action, ActionStatus::Finished);
    }

    fn finish(&mut self, action: &Action, status: ActionStatus) {
        self.action_states.retain(|a| a.action_id != action.action_id);
        self.action_states.push(ActionState { action_id: action.action_id.clone(), action_type: Some(action.action_type.clone()), action_status: status, result_description: None });
        if self.action_states.len() > 32 {
            self.action_states.remove(0);
        }
    }

    fn accept_order(&mut self, order: Order) {
        if !self.speaks(&order.header, Topic::Order) {
            return;
        }
        if let Err(refusal) = self.check_order(&order) {
            return self.refuse(refusal);
        }
        // An accepted order resolves the refusals and the failed cancel before it.
        self.errors.retain(|e| e.error_level == ErrorLevel::Fatal);
        let same = self.order.as_ref().is_some_and(|o| o.order_id == order.order_id);
        if same && self.order.as_ref().is_some_and(|o| order.order_update_id <= o.order_update_id) {
            return; // a resend of an update we have (VDA 5050: ignore it)
        }
        let running = self.order.as_ref().is_some_and(|o| self.at_node + 1 < o.nodes.len());
        if same || running {
            // An update, or a new order stitched onto the running one (checked above): keep
            // what was driven, take the new base and horizon from its first node on.
            if let Some(current) = self.order.as_mut() {
                current.order_id = order.order_id.clone();
                let keep = current.nodes.iter().position(|n| n.sequence_id == order.nodes.first().map_or(0, |f| f.sequence_id)).unwrap_or(current.nodes.len());
                current.nodes.truncate(keep);
                current.edges.retain(|e| e.sequence_id < order.nodes.first().map_or(0, |f| f.sequence_id));
                current.nodes.extend(order.nodes);
                current.edges.extend(order.edges);
                current.order_update_id = order.order_update_id;
            }
        } else {
            if let Some(first) = order.nodes.first().and_then(|n| n.node_position.clone()) {
                self.position = (first.x, first.y);
            }
            self.at_node = 0;
            self.order = Some(order);
            if let Some(first) = self.order.as_ref().map(|o| o.nodes[0].clone()) {
                for action in &first.actions {
                    self.run_action(action);
                }
            }
        }
    }

    fn instant(&mut self, message: InstantActions) {
        if !self.speaks(&message.header, Topic::InstantActions) {
            return;
        }
        for action in &message.actions {
            match action.action_type.as_str() {
                "startPause" => self.paused = true,
                "stopPause" => self.paused = false,
                "cancelOrder" => {
                    // VDA 5050 2.x: with no active order (none, or the last one finished) there
                    // is nothing to cancel: the action FAILS with a WARNING `noOrderToCancel`,
                    // and `orderId` stays the last order's, as real vehicles do.
                    let active = self.order.as_ref().is_some_and(|o| self.at_node + 1 < o.nodes.len());
                    if !active {
                        self.errors.retain(|e| e.error_type != "noOrderToCancel");
                        let references = [("actionId", action.action_id.clone())];
                        self.errors.push(AgvError::warning("noOrderToCancel", format!("cancelOrder {}: no active order", action.action_id), &references));
                        self.finish(action, ActionStatus::Failed);
                        continue;
                    }
                    if let Some(o) = self.order.as_mut() {
                        o.nodes.truncate(self.at_node + 1);
                        o.edges.truncate(self.at_node);
                    }
                }
                "startCharging" => self.charging = true,
                "stopCharging" => self.charging = false,
                "stateRequest" | "factsheetRequest" => {}
                other => {
                    // An instant action its factsheet does not declare: FAILED, with a WARNING
                    // naming it, as the standard has a vehicle report what it cannot do.
                    let why = format!("instant action {:?} is not supported", other.chars().take(40).collect::<String>());
                    self.refuse(AgvError::warning("instantActionError", why, &[("actionId", action.action_id.clone()), ("actionType", other.chars().take(40).collect())]));
                    self.finish(action, ActionStatus::Failed);
                    continue;
                }
            }
            self.finish(action, ActionStatus::Finished);
        }
    }
}

async fn run(cfg: AgvConfig, mut faults: mpsc::Receiver<Fault>, now_ms: fn() -> i64) {
    let now = now_ms();
    let mut robot = Robot {
        header_ids: [0; 6],
        order: None,
        at_node: 0,
        position: cfg.start,
        load: cfg.load.clone(),
        action_states: Vec::new(),
        battery: cfg.battery,
        charging: false,
        paused: false,
        errors: Vec::new(),
        stalled: false,
        cfg: cfg.clone(),
    };
    let will = Connection { header: robot.header(Topic::Connection, now), connection_state: ConnectionState::ConnectionBroken };
    let mut options = MqttOptions::new(format!("{}-{}", cfg.manufacturer, cfg.serial), cfg.broker_host.clone(), cfg.broker_port);
    options.set_keep_alive(Duration::from_secs(2));
    if let Some((username, password)) = &cfg.login {
        options.set_credentials(username, password);
    }
    if let Some(ca) = &cfg.tls_ca {
        match tote_shared::runtime::tls::client_config(ca) {
            Ok(tls) => {
                options.set_transport(rumqttc::Transport::tls_with_config(rumqttc::TlsConfiguration::Rustls(tls)));
            }
            Err(error) => tracing::error!(%error, "robot cannot load its CA; connecting without TLS will fail"),
        }
    }
    // Orders with a long horizon are bigger than rumqttc's 10 KB default.
    options.set_max_packet_size(MAX_PAYLOAD_BYTES, MAX_PAYLOAD_BYTES);
    options.set_last_will(LastWill::new(
        Topic::Connection.path(&cfg.manufacturer, &cfg.serial),
        serde_json::to_vec(&will).unwrap_or_default(),
        QoS::AtLeastOnce,
        true,
    ));
    let (client, mut events) = AsyncClient::new(options, 64);
    // The event loop runs on its own task: `poll()` must not be cancelled by `select!` in the
    // middle of a connection handshake, or the broker sees a half-open session, publishes the
    // last will (CONNECTIONBROKEN) and may do so after our next ONLINE.
    let (incoming_tx, mut incoming) = mpsc::channel::<Option<rumqttc::Publish>>(256);
    let pump = tokio::spawn(async move {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    if incoming_tx.send(None).await.is_err() {
                        return;
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    if incoming_tx.send(Some(p)).await.is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::debug!(%error, "robot lost its MQTT connection; reconnecting");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    });
    let _pump = AbortOnDrop(pump);
    let mut state_tick = tokio::time::interval(Duration::from_millis(cfg.state_ms));
    let mut drive_tick = tokio::time::interval(Duration::from_millis(cfg.node_ms));
    loop {
        tokio::select! {
            message = incoming.recv() => match message {
                None => return,
                Some(None) => announce(&client, &mut robot, now_ms()).await,
                Some(Some(p)) => {
                    match Topic::parse(&p.topic).map(|t| t.2) {
                        Some(Topic::Order) => if let Ok(order) = serde_json::from_slice::<Order>(&p.payload) { robot.accept_order(order) },
                        Some(Topic::InstantActions) => if let Ok(ia) = serde_json::from_slice::<InstantActions>(&p.payload) { robot.instant(ia) },
                        _ => {}
                    }
                    publish_state(&client, &mut robot, now_ms()).await;
                }
            },
            _ = state_tick.tick() => {
                if robot.charging {
                    robot.battery = (robot.battery + 1.0).min(100.0);
                }
                publish_state(&client, &mut robot, now_ms()).await;
            }
            _ = drive_tick.tick() => {
                if robot.advance() {
                    publish_state(&client, &mut robot, now_ms()).await;
                }
            }
            fault = faults.recv() => match fault {
                // Returning drops (aborts) the event loop: the socket closes without DISCONNECT.
                Some(Fault::Vanish) | None => return,
                Some(Fault::Fatal(kind)) => {
                    robot.errors.push(AgvError { error_type: kind, error_level: ErrorLevel::Fatal, error_description: None, error_references: None });
                    publish_state(&client, &mut robot, now_ms()).await;
                }
                Some(Fault::Stall) => robot.stalled = true,
            },
        }
    }
}

async fn announce(client: &AsyncClient, robot: &mut Robot, now: i64) {
    let (m, s) = (robot.cfg.manufacturer.clone(), robot.cfg.serial.clone());
    for topic in [Topic::Order, Topic::InstantActions] {
        let _ = client.subscribe(topic.path(&m, &s), QoS::AtLeastOnce).await;
    }
    let online = Connection { header: robot.header(Topic::Connection, now), connection_state: ConnectionState::Online };
    let factsheet = Factsheet::shelf_lifter(robot.header(Topic::Factsheet, now), "Tote sim lifter", 1.5, 600.0);
    let _ = client.publish(Topic::Connection.path(&m, &s), QoS::AtLeastOnce, true, serde_json::to_vec(&online).unwrap_or_default()).await;
    let _ = client.publish(Topic::Factsheet.path(&m, &s), QoS::AtMostOnce, true, serde_json::to_vec(&factsheet).unwrap_or_default()).await;
    publish_state(client, robot, now).await;
}

async fn publish_state(client: &AsyncClient, robot: &mut Robot, now: i64) {
    if robot.stalled {
        return;
    }
    let state = robot.state(now);
    let topic = Topic::State.path(&robot.cfg.manufacturer, &robot.cfg.serial);
    // Never wait on a full request queue: the event loop may itself be waiting for this
    // loop to take an incoming order, and a robot that stops pinging is dropped by the
    // broker. A state that cannot go out now is followed by the next one.
    if client.try_publish(topic, QoS::AtMostOnce, false, serde_json::to_vec(&state).unwrap_or_default()).is_err() {
        tracing::debug!(serial = %robot.cfg.serial, "state not sent: the MQTT queue is full");
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn robot(version: &str) -> Robot {
        let cfg = AgvConfig {
            manufacturer: "m".into(),
            serial: "r1".into(),
            broker_host: "127.0.0.1".into(),
            broker_port: 0,
            state_ms: 1000,
            node_ms: 100,
            battery: 90.0,
            start: (0.0, 0.0),
            load: None,
            login: None,
            tls_ca: None,
            version: version.into(),
        };
        Robot { header_ids: [0; 6], order: None, at_node: 0, position: (0.0, 0.0), load: None, action_states: vec![], battery: 90.0, charging: false, paused: false, errors: vec![], stalled: false, cfg }
    }

    fn instant(version: &str, action_type: &str) -> InstantActions {
        let action = Action { action_type: action_type.into(), action_id: "a1".into(), action_description: None, blocking_type: BlockingType::None, action_parameters: None };
        InstantActions { header: Header::new(1, 0, "m", "r1").in_version(version), actions: vec![action] }
    }

    fn order(id: &str, update: u32, first_seq: u32, nodes: &[&str], released: usize, version: &str) -> Order {
        let waypoints: Vec<Waypoint> = nodes.iter().enumerate().map(|(k, n)| Waypoint { node_id: (*n).into(), x: k as f64, y: 0.0 }).collect();
        let route = Route { order_id: id, order_update_id: update, first_sequence_id: first_seq, waypoints: &waypoints, released, map_id: "floor" };
        Order::along(Header::new(1, 0, "m", "r1").in_version(version), route, vec![])
    }

    fn refusals(r: &Robot) -> Vec<&str> {
        r.errors.iter().map(|e| e.error_type.as_str()).collect()
    }

    #[test]
    fn a_message_in_another_version_is_refused_with_a_validation_error() {
        let mut r = robot("2.0.0");
        r.instant(instant("2.1.0", "stateRequest"));
        assert_eq!(refusals(&r), ["validationError"]);
        assert!(r.action_states.is_empty(), "not run");
        r.accept_order(order("o1", 0, 0, &["a", "b"], 2, "2.0.0"));
        assert!(r.errors.is_empty() && r.order.is_some(), "its own version is taken and clears the refusal");
    }

    #[test]
    fn an_unsupported_instant_action_fails_with_a_warning_naming_it() {
        let mut r = robot("2.1.0");
        r.instant(instant("2.1.0", "liftUp"));
        assert_eq!(refusals(&r), ["instantActionError"]);
        assert_eq!(r.errors[0].reference("actionId"), Some("a1"));
        assert_eq!(r.action_states[0].action_status, ActionStatus::Failed);
    }

    #[test]
    fn a_new_order_over_a_running_one_must_stitch_onto_its_last_base_node() {
        let mut r = robot("2.1.0");
        // Base a–b released, c–d horizon: still running.
        r.accept_order(order("o1", 0, 0, &["a", "b", "c", "d"], 2, "2.1.0"));
        r.accept_order(order("o2", 0, 0, &["a", "x"], 2, "2.1.0"));
        assert_eq!(refusals(&r), ["orderUpdateError"], "a new order starting anywhere else");
        r.accept_order(order("o1", 1, 0, &["a", "b", "c"], 3, "2.1.0"));
        assert_eq!(refusals(&r), ["orderUpdateError", "orderUpdateError"], "an update not at the last base node (b, sequence 2)");
        r.accept_order(order("o3", 0, 2, &["b", "c"], 2, "2.1.0"));
        assert!(r.errors.is_empty(), "a new order stitched onto b (sequence 2) is taken: {:?}", r.errors);
        assert_eq!(r.order.as_ref().map(|o| o.order_id.as_str()), Some("o3"));
    }
}
