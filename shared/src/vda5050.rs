//! VDA 5050 2.x wire types (master control ↔ AGV over MQTT), defined once for the edge and the
//! simulator. Field names follow the standard (camelCase); optional fields are left out when
//! absent. Every message here validates against the official 2.0.0 and 2.1.0 JSON schemas
//! (`tests/vda5050_schemas.rs` checks that against `../shared/vda5050/`).
//!
//! Topics: `uagv/v2/{manufacturer}/{serialNumber}/{order|instantActions|state|connection|
//! factsheet|visualization}`. QoS 0, except `connection` (QoS 1); `connection` and `factsheet`
//! are retained.

use serde::{Deserialize, Serialize};

/// The protocol version we speak to a robot that has not announced one yet (the schemas of 2.0
/// and 2.1 both accept our messages).
pub const VERSION: &str = "2.1.0";
/// The versions we speak: each robot is addressed in the one it announces (`speak`).
pub const VERSIONS: [&str; 2] = ["2.0.0", "2.1.0"];

/// The version to address a robot in, from the version its own headers carry: 2.0.x → 2.0.0,
/// 2.1 and later 2.x → 2.1.0 (a later minor version reads earlier ones). None for another major
/// version or a string that is no version: such a robot is not ours to drive.
pub fn speak(announced: &str) -> Option<&'static str> {
    let mut parts = announced.trim().split('.');
    let major: u32 = parts.next()?.parse().ok()?;
    let minor: u32 = parts.next()?.parse().ok()?;
    match (major, minor) {
        (2, 0) => Some(VERSIONS[0]),
        (2, _) => Some(VERSIONS[1]),
        _ => None,
    }
}

/// The error types by which a vehicle refuses an order or instant action (VDA 5050 2.x, 6.6 and
/// 6.10): they come as WARNINGs naming the message in `errorReferences`.
pub const REJECTION_TYPES: [&str; 4] = ["validationError", "orderError", "orderUpdateError", "noRouteError"];
/// Longest payload we accept on a robot topic; anything bigger is dropped and counted.
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    Order,
    InstantActions,
    State,
    Connection,
    Factsheet,
    Visualization,
}

impl Topic {
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Order => "order",
            Topic::InstantActions => "instantActions",
            Topic::State => "state",
            Topic::Connection => "connection",
            Topic::Factsheet => "factsheet",
            Topic::Visualization => "visualization",
        }
    }

    pub fn path(self, manufacturer: &str, serial: &str) -> String {
        format!("uagv/v2/{manufacturer}/{serial}/{}", self.as_str())
    }

    /// Splits `uagv/v2/{manufacturer}/{serial}/{topic}`; None for anything else.
    pub fn parse(path: &str) -> Option<(String, String, Topic)> {
        let mut parts = path.split('/');
        let (Some("uagv"), Some("v2"), Some(m), Some(s), Some(t), None) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let topic = [Topic::Order, Topic::InstantActions, Topic::State, Topic::Connection, Topic::Factsheet, Topic::Visualization]
            .into_iter()
            .find(|x| x.as_str() == t)?;
        (!m.is_empty() && !s.is_empty()).then(|| (m.to_owned(), s.to_owned(), topic))
    }
}

/// Common header of every message. `headerId` counts per topic and sender.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Header {
    pub header_id: u32,
    /// ISO 8601 UTC, e.g. `2026-11-25T01:02:03.456Z`.
    pub timestamp: String,
    pub version: String,
    pub manufacturer: String,
    pub serial_number: String,
}

impl Header {
    pub fn new(header_id: u32, now_ms: i64, manufacturer: &str, serial: &str) -> Header {
        Header {
            header_id,
            timestamp: iso8601_utc(now_ms),
            version: VERSION.to_owned(),
            manufacturer: manufacturer.to_owned(),
            serial_number: serial.to_owned(),
        }
    }

    /// The same header in another protocol version.
    pub fn in_version(self, version: &str) -> Header {
        Header { version: version.to_owned(), ..self }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BlockingType {
    None,
    Soft,
    Hard,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionParameter {
    pub key: String,
    pub value: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Action {
    /// `pick` (lift a pod), `drop` (lower it), `startCharging`, `stopCharging`, `startPause`,
    /// `stopPause`, `cancelOrder`, `stateRequest`, `factsheetRequest` …
    pub action_type: String,
    pub action_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_description: Option<String>,
    pub blocking_type: BlockingType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_parameters: Option<Vec<ActionParameter>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodePosition {
    pub x: f64,
    pub y: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub theta: Option<f64>,
    #[serde(rename = "allowedDeviationXY", default, skip_serializing_if = "Option::is_none")]
    pub allowed_deviation_xy: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_deviation_theta: Option<f64>,
    pub map_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    pub node_id: String,
    pub sequence_id: u32,
    /// Base (true) or horizon (false).
    pub released: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_position: Option<NodePosition>,
    pub actions: Vec<Action>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Edge {
    pub edge_id: String,
    pub sequence_id: u32,
    pub released: bool,
    pub start_node_id: String,
    pub end_node_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_speed: Option<f64>,
    pub actions: Vec<Action>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    #[serde(flatten)]
    pub header: Header,
    pub order_id: String,
    pub order_update_id: u32,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

/// A waypoint of a route: node id and position on the map.
#[derive(Debug, Clone, PartialEq)]
pub struct Waypoint {
    pub node_id: String,
    pub x: f64,
    pub y: f64,
}

/// What an order (or order update) covers.
#[derive(Debug, Clone, Copy)]
pub struct Route<'a> {
    pub order_id: &'a str,
    pub order_update_id: u32,
    /// 0 for a new order; an update starts at the sequence id of the last base node it extends.
    pub first_sequence_id: u32,
    pub waypoints: &'a [Waypoint],
    /// How many waypoints form the base (released); the rest are the horizon.
    pub released: usize,
    pub map_id: &'a str,
}

impl Order {
    /// An order along `route`: the base is where the robot may drive, the horizon is planned
    /// but not yet reserved. Node sequence ids are even and edge ids odd. `final_actions` run
    /// at the last node.
    pub fn along(header: Header, route: Route<'_>, final_actions: Vec<Action>) -> Order {
        let Route { order_id, order_update_id, first_sequence_id, waypoints: route, released, map_id } = route;
        let last = route.len().saturating_sub(1);
        let mut final_actions = Some(final_actions);
        let nodes = route
            .iter()
            .enumerate()
            .map(|(k, w)| Node {
                node_id: w.node_id.clone(),
                sequence_id: first_sequence_id + 2 * k as u32,
                released: k < released,
                node_position: Some(NodePosition {
                    x: w.x,
                    y: w.y,
                    theta: None,
                    allowed_deviation_xy: Some(0.05),
                    allowed_deviation_theta: None,
                    map_id: map_id.to_owned(),
                }),
                actions: if k == last { final_actions.take().unwrap_or_default() } else { Vec::new() },
            })
            .collect();
        let edges = route
            .windows(2)
            .enumerate()
            .map(|(k, pair)| Edge {
                edge_id: format!("{}-{}", pair[0].node_id, pair[1].node_id),
                sequence_id: first_sequence_id + 2 * k as u32 + 1,
                released: k + 1 < released,
                start_node_id: pair[0].node_id.clone(),
                end_node_id: pair[1].node_id.clone(),
                max_speed: None,
                actions: Vec::new(),
            })
            .collect();
        Order { header, order_id: order_id.to_owned(), order_update_id, nodes, edges }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstantActions {
    #[serde(flatten)]
    pub header: Header,
    pub actions: Vec<Action>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConnectionState {
    Online,
    Offline,
    #[serde(rename = "CONNECTIONBROKEN")]
    ConnectionBroken,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    #[serde(flatten)]
    pub header: Header,
    pub connection_state: ConnectionState,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeState {
    pub node_id: String,
    pub sequence_id: u32,
    pub released: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_position: Option<NodePosition>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EdgeState {
    pub edge_id: String,
    pub sequence_id: u32,
    pub released: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgvPosition {
    pub x: f64,
    pub y: f64,
    pub theta: f64,
    pub map_id: String,
    pub position_initialized: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Velocity {
    pub vx: f64,
    pub vy: f64,
    pub omega: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Load {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_type: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ActionStatus {
    Waiting,
    Initializing,
    Running,
    Paused,
    Finished,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionState {
    pub action_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_type: Option<String>,
    pub action_status: ActionStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatteryState {
    /// Percent, 0–100.
    pub battery_charge: f64,
    pub charging: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorLevel {
    Warning,
    Fatal,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgvError {
    pub error_type: String,
    pub error_level: ErrorLevel,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    /// What the error is about: `orderId`, `orderUpdateId`, `headerId`, `topic`, `actionId` …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_references: Option<Vec<ErrorReference>>,
}

impl AgvError {
    pub fn warning(error_type: &str, description: String, references: &[(&str, String)]) -> AgvError {
        AgvError {
            error_type: error_type.to_owned(),
            error_level: ErrorLevel::Warning,
            error_description: Some(description),
            error_references: Some(references.iter().map(|(k, v)| ErrorReference { reference_key: (*k).to_owned(), reference_value: v.clone() }).collect()),
        }
    }

    /// The value of one reference, if the error names it.
    pub fn reference(&self, key: &str) -> Option<&str> {
        self.error_references.iter().flatten().find(|r| r.reference_key == key).map(|r| r.reference_value.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorReference {
    pub reference_key: String,
    pub reference_value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OperatingMode {
    Automatic,
    Semiautomatic,
    Manual,
    Service,
    Teachin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EStop {
    Autoack,
    Manual,
    Remote,
    None,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SafetyState {
    pub e_stop: EStop,
    pub field_violation: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    #[serde(flatten)]
    pub header: Header,
    pub order_id: String,
    pub order_update_id: u32,
    pub last_node_id: String,
    pub last_node_sequence_id: u32,
    pub driving: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,
    pub operating_mode: OperatingMode,
    pub node_states: Vec<NodeState>,
    pub edge_states: Vec<EdgeState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agv_position: Option<AgvPosition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub velocity: Option<Velocity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loads: Option<Vec<Load>>,
    pub action_states: Vec<ActionState>,
    pub battery_state: BatteryState,
    pub errors: Vec<AgvError>,
    pub safety_state: SafetyState,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Visualization {
    #[serde(flatten)]
    pub header: Header,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agv_position: Option<AgvPosition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub velocity: Option<Velocity>,
}

/// The factsheet a goods-to-person shelf lifter publishes (retained): what it is and can do.
/// Sub-objects are kept as JSON: the master control reads only a few fields of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Factsheet {
    #[serde(flatten)]
    pub header: Header,
    pub type_specification: serde_json::Value,
    pub physical_parameters: serde_json::Value,
    pub protocol_limits: serde_json::Value,
    pub protocol_features: serde_json::Value,
    pub agv_geometry: serde_json::Value,
    pub load_specification: serde_json::Value,
}

impl Factsheet {
    /// A Kiva-style shelf lifter: differential drive, lifts pods of up to `max_load_kg`.
    pub fn shelf_lifter(header: Header, series: &str, speed_max_mps: f64, max_load_kg: f64) -> Factsheet {
        use serde_json::json;
        // No `blockingTypes`: both 2.x schemas put its enum on the array itself, so no list passes.
        let action = |t: &str, scopes: &[&str]| json!({"actionType": t, "actionScopes": scopes});
        let parameter = |key: &str, optional: bool| json!({"key": key, "valueDataType": "STRING", "isOptional": optional});
        let load_action = |t: &str| {
            json!({"actionType": t, "actionScopes": ["NODE"],
                   "actionParameters": [parameter("stationType", false), parameter("loadType", false), parameter("loadId", true)]})
        };
        Factsheet {
            header,
            type_specification: json!({"seriesName": series, "agvKinematic": "DIFF", "agvClass": "CARRIER", "maxLoadMass": max_load_kg,
                                       "localizationTypes": ["GRID"], "navigationTypes": ["VIRTUAL_LINE_GUIDED"]}),
            physical_parameters: json!({"speedMin": 0.0, "speedMax": speed_max_mps, "accelerationMax": 1.0, "decelerationMax": 1.0,
                                        "heightMin": 0.3, "heightMax": 0.4, "width": 0.8, "length": 1.0}),
            protocol_limits: json!({"maxStringLens": {"idLen": 64, "loadIdLen": 32}, "maxArrayLens": {"order.nodes": SIM_MAX_ORDER_NODES, "order.edges": SIM_MAX_ORDER_NODES - 1},
                                    "timing": {"minOrderInterval": 0.1, "minStateInterval": 0.1}}),
            protocol_features: json!({"optionalParameters": [], "agvActions": [
                load_action("pick"), load_action("drop"), action("startCharging", &["NODE", "INSTANT"]),
                action("stopCharging", &["INSTANT"]), action("startPause", &["INSTANT"]), action("stopPause", &["INSTANT"]),
                action("cancelOrder", &["INSTANT"]), action("stateRequest", &["INSTANT"])]}),
            agv_geometry: json!({}),
            load_specification: json!({"loadSets": [{"setName": "pod", "loadType": "POD"}]}),
        }
    }

    /// What the factsheet declares that master control must respect.
    pub fn capabilities(&self) -> Capabilities {
        let limit = |section: &str, key: &str| self.protocol_limits.get(section).and_then(|s| s.get(key)).and_then(|v| v.as_u64()).map(|v| v as usize);
        let actions = self.protocol_features.get("agvActions").and_then(|a| a.as_array()).filter(|a| !a.is_empty()).map(|list| {
            list.iter()
                .filter_map(|a| {
                    let parameters = a.get("actionParameters").and_then(|p| p.as_array()).into_iter().flatten();
                    Some(DeclaredAction {
                        action_type: a.get("actionType")?.as_str()?.to_owned(),
                        required: parameters
                            .filter(|p| !p.get("isOptional").and_then(|o| o.as_bool()).unwrap_or(false))
                            .filter_map(|p| p.get("key").and_then(|k| k.as_str()).map(str::to_owned))
                            .collect(),
                    })
                })
                .collect()
        });
        let load_sets = self.load_specification.get("loadSets").and_then(|l| l.as_array()).into_iter().flatten();
        Capabilities {
            actions,
            max_order_nodes: limit("maxArrayLens", "order.nodes"),
            max_order_edges: limit("maxArrayLens", "order.edges"),
            max_id_len: limit("maxStringLens", "idLen"),
            id_numerical_only: self.protocol_limits.get("maxStringLens").and_then(|s| s.get("idNumericalOnly")).and_then(|v| v.as_bool()).unwrap_or(false),
            load_types: load_sets.filter_map(|s| s.get("loadType").and_then(|t| t.as_str()).map(str::to_owned)).collect(),
        }
    }
}

/// Most nodes in one order the simulated lifter takes (its factsheet says so; it refuses more).
pub const SIM_MAX_ORDER_NODES: usize = 64;

/// An action a factsheet declares, with the parameters it says are not optional.
#[derive(Debug, Clone, PartialEq)]
pub struct DeclaredAction {
    pub action_type: String,
    pub required: Vec<String>,
}

/// The parts of a factsheet master control must respect.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Capabilities {
    /// None when the factsheet declares no actions (nothing to check against).
    pub actions: Option<Vec<DeclaredAction>>,
    pub max_order_nodes: Option<usize>,
    pub max_order_edges: Option<usize>,
    pub max_id_len: Option<usize>,
    pub id_numerical_only: bool,
    pub load_types: Vec<String>,
}

impl Capabilities {
    /// Why master control cannot drive this vehicle, if it cannot: `needs` is each action type
    /// we send with the parameter keys we send with it.
    /// `longest_id` is the longest id (order, node, action) we may send.
    pub fn unfit(&self, needs: &[(&str, &[&str])], longest_id: usize) -> Option<String> {
        if self.id_numerical_only {
            return Some("its factsheet accepts numerical ids only".into());
        }
        if let Some(max) = self.max_id_len.filter(|max| *max < longest_id) {
            return Some(format!("its factsheet takes ids of up to {max} characters; this edge's take up to {longest_id}"));
        }
        let Some(actions) = &self.actions else { return None };
        for (action_type, sent) in needs {
            let Some(declared) = actions.iter().find(|a| a.action_type == *action_type) else {
                return Some(format!("its factsheet declares no {action_type} action"));
            };
            if let Some(missing) = declared.required.iter().find(|k| !sent.contains(&k.as_str())) {
                let missing: String = missing.chars().take(64).collect();
                return Some(format!("its {action_type} action requires parameter {missing}, which this edge does not send"));
            }
        }
        None
    }
}

/// The standard's parameters of `pick` and `drop` (VDA 5050 2.x, action table): `stationType`
/// and `loadType` are not optional; `loadId` names the load.
pub fn load_parameters(station_type: &str, load_type: &str, load_id: &str) -> Vec<ActionParameter> {
    let p = |key: &str, value: &str| ActionParameter { key: key.to_owned(), value: serde_json::Value::String(value.to_owned()) };
    vec![p("stationType", station_type), p("loadType", load_type), p("loadId", load_id)]
}

/// The keys `load_parameters` sends.
pub const LOAD_PARAMETER_KEYS: [&str; 3] = ["stationType", "loadType", "loadId"];

/// A parameter's string value, if the action has it.
pub fn parameter<'a>(action: &'a Action, key: &str) -> Option<&'a str> {
    action.action_parameters.iter().flatten().find(|p| p.key == key).and_then(|p| p.value.as_str())
}

/// Unix milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ` (proleptic Gregorian, UTC).
pub fn iso8601_utc(ms: i64) -> String {
    let (days, ms_of_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (year, month, day) = crate::calendar::civil_from_days(days);
    let (h, m, s, milli) = (ms_of_day / 3_600_000, ms_of_day / 60_000 % 60, ms_of_day / 1000 % 60, ms_of_day % 1000);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_iso8601_utc() {
        assert_eq!(iso8601_utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601_utc(1_795_568_523_456), "2026-11-25T01:02:03.456Z");
        assert_eq!(iso8601_utc(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn topics_round_trip_and_junk_is_refused() {
        let path = Topic::State.path("tote", "agv-07");
        assert_eq!(path, "uagv/v2/tote/agv-07/state");
        assert_eq!(Topic::parse(&path), Some(("tote".into(), "agv-07".into(), Topic::State)));
        assert_eq!(Topic::parse("uagv/v2/tote/agv-07/state/extra"), None);
        assert_eq!(Topic::parse("uagv/v1/tote/agv-07/state"), None);
        assert_eq!(Topic::parse("uagv/v2//agv-07/state"), None);
    }

    #[test]
    fn an_order_releases_its_base_and_holds_its_horizon() {
        let route: Vec<Waypoint> = (0..4).map(|k| Waypoint { node_id: format!("n{k}"), x: k as f64, y: 0.0 }).collect();
        let spec = Route { order_id: "o1", order_update_id: 0, first_sequence_id: 0, waypoints: &route, released: 2, map_id: "floor" };
        let o = Order::along(Header::new(1, 0, "tote", "a1"), spec, vec![]);
        let released: Vec<bool> = o.nodes.iter().map(|n| n.released).collect();
        assert_eq!(released, [true, true, false, false]);
        let edges: Vec<(u32, bool)> = o.edges.iter().map(|e| (e.sequence_id, e.released)).collect();
        assert_eq!(edges, [(1, true), (3, false), (5, false)]);
        assert_eq!(o.nodes[3].sequence_id, 6);
    }

    #[test]
    fn a_robot_is_addressed_in_the_version_it_announces() {
        assert_eq!(speak("2.0.0"), Some("2.0.0"));
        assert_eq!(speak("2.0.3"), Some("2.0.0"));
        assert_eq!(speak("2.1.0"), Some("2.1.0"));
        assert_eq!(speak("2.2.1"), Some("2.1.0"), "a later minor version reads 2.1");
        for other in ["1.1.0", "3.0.0", "two", "", "2"] {
            assert_eq!(speak(other), None, "{other:?}");
        }
    }

    #[test]
    fn a_factsheet_that_lacks_what_we_send_makes_the_vehicle_unfit() {
        let needs: [(&str, &[&str]); 2] = [("pick", &LOAD_PARAMETER_KEYS), ("drop", &LOAD_PARAMETER_KEYS)];
        let sheet = Factsheet::shelf_lifter(Header::new(1, 0, "m", "r1"), "Lifter", 1.5, 600.0);
        let caps = sheet.capabilities();
        assert_eq!(caps.unfit(&needs, 40), None);
        assert_eq!(caps.unfit(&needs, 65).as_deref(), Some("its factsheet takes ids of up to 64 characters; this edge's take up to 65"));
        assert_eq!((caps.max_order_nodes, caps.load_types.clone()), (Some(SIM_MAX_ORDER_NODES), vec!["POD".to_owned()]));
        let mut no_drop = sheet.clone();
        no_drop.protocol_features["agvActions"].as_array_mut().expect("actions").retain(|a| a["actionType"] != "drop");
        assert_eq!(no_drop.capabilities().unfit(&needs, 40).as_deref(), Some("its factsheet declares no drop action"));
        let mut lhd = sheet.clone();
        lhd.protocol_features["agvActions"][0]["actionParameters"][0]["key"] = "lhd".into();
        assert_eq!(lhd.capabilities().unfit(&needs, 40).as_deref(), Some("its pick action requires parameter lhd, which this edge does not send"));
    }

    #[test]
    fn connection_broken_is_spelled_as_in_2_x() {
        let c = Connection { header: Header::new(1, 0, "tote", "a1"), connection_state: ConnectionState::ConnectionBroken };
        let json = serde_json::to_value(&c).expect("serialises");
        assert_eq!(json["connectionState"], "CONNECTIONBROKEN");
        assert_eq!(json["serialNumber"], "a1");
    }
}
