//! Every kind of VDA 5050 message Tote builds validates against the official 2.0.0 and 2.1.0
//! schemas in `../shared/vda5050/`, checked by an independent validator (Python `jsonschema`,
//! installed by tests/run.sh). A broken message must fail, so the check has teeth.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use tote_shared::vda5050::*;

fn header(id: u32) -> Header {
    Header::new(id, 1_795_568_523_456, "tote", "agv-07")
}

fn samples() -> Vec<(&'static str, Value)> {
    let route: Vec<Waypoint> = (0..5).map(|k| Waypoint { node_id: format!("c{}", 100 + k), x: k as f64, y: 2.0 }).collect();
    let lift = Action { action_type: "pick".into(), action_id: "a-1".into(), action_description: None, blocking_type: BlockingType::Hard,
                        action_parameters: Some(load_parameters("floor", "POD", "P0042")) };
    let first = Route { order_id: "job-1", order_update_id: 0, first_sequence_id: 0, waypoints: &route, released: 3, map_id: "floor-1" };
    let order = Order::along(header(1), first, vec![lift]);
    let next = Route { order_update_id: 1, first_sequence_id: 4, waypoints: &route[2..], ..first };
    // Robots that announce 2.0 are addressed in 2.0.
    let update = Order::along(header(2).in_version("2.0.0"), next, vec![]);
    let pause = InstantActions {
        header: header(3),
        actions: ["startPause", "stopPause", "cancelOrder", "stateRequest"]
            .iter()
            .enumerate()
            .map(|(k, t)| Action { action_type: (*t).into(), action_id: format!("i-{k}"), action_description: None, blocking_type: BlockingType::Hard, action_parameters: None })
            .collect(),
    };
    let position = AgvPosition { x: 1.0, y: 2.0, theta: 0.0, map_id: "floor-1".into(), position_initialized: true };
    let state = State {
        header: header(4),
        order_id: "job-1".into(),
        order_update_id: 1,
        last_node_id: "c101".into(),
        last_node_sequence_id: 2,
        driving: true,
        paused: Some(false),
        operating_mode: OperatingMode::Automatic,
        node_states: vec![NodeState { node_id: "c102".into(), sequence_id: 4, released: true, node_position: None }],
        edge_states: vec![EdgeState { edge_id: "c101-c102".into(), sequence_id: 3, released: true }],
        agv_position: Some(position.clone()),
        velocity: Some(Velocity { vx: 1.0, vy: 0.0, omega: 0.0 }),
        loads: Some(vec![Load { load_id: Some("POD-0042".into()), load_type: Some("POD".into()) }]),
        action_states: vec![ActionState { action_id: "a-1".into(), action_type: Some("pick".into()), action_status: ActionStatus::Waiting, result_description: None }],
        battery_state: BatteryState { battery_charge: 81.5, charging: false },
        errors: vec![
            AgvError { error_type: "driveFault".into(), error_level: ErrorLevel::Fatal, error_description: Some("motor".into()), error_references: None },
            AgvError::warning("orderUpdateError", "stitching node is not the last base node".into(), &[("orderId", "job-1".into()), ("orderUpdateId", "1".into())]),
        ],
        safety_state: SafetyState { e_stop: EStop::None, field_violation: false },
    };
    let visual = Visualization { header: header(5), agv_position: Some(position), velocity: None };
    let mut out = vec![
        ("order-new", serde_json::to_value(order).expect("json")),
        ("order-update", serde_json::to_value(update).expect("json")),
        ("instantActions", serde_json::to_value(pause).expect("json")),
        ("state", serde_json::to_value(state).expect("json")),
        ("visualization", serde_json::to_value(visual).expect("json")),
        ("factsheet", serde_json::to_value(Factsheet::shelf_lifter(header(6), "Tote G2P lifter", 1.5, 600.0)).expect("json")),
    ];
    for (k, c) in [ConnectionState::Online, ConnectionState::Offline, ConnectionState::ConnectionBroken].into_iter().enumerate() {
        let name = ["connection-online", "connection-offline", "connection-broken"][k];
        out.push((name, serde_json::to_value(Connection { header: header(7), connection_state: c }).expect("json")));
    }
    out
}

fn schema_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/vda5050");
    assert!(root.join("2.1.0/order.schema").exists(), "{} is missing: the VDA 5050 schemas live in ../shared/vda5050 beside the repo", root.display());
    root
}

fn validate(dir: &Path) -> (bool, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vda5050_validate.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(schema_root())
        .arg(dir)
        .output()
        .expect("python3 is missing: run tests/run.sh, which installs the test peers");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!text.contains("No module named 'jsonschema'"), "Python jsonschema is missing: run tests/run.sh, which installs it");
    (out.status.success(), text)
}

fn write(dir: &Path, name: &str, message: &Value) {
    std::fs::write(dir.join(format!("{name}.json")), serde_json::to_vec_pretty(message).expect("json")).expect("write");
}

#[test]
fn every_message_kind_validates_against_the_2_0_and_2_1_schemas() {
    let dir = tempfile::tempdir().expect("tempdir");
    let samples = samples();
    for (name, message) in &samples {
        write(dir.path(), name, message);
    }
    let (ok, report) = validate(dir.path());
    assert!(ok, "{report}");
    assert!(report.contains(&format!("{} validations, 0 failures", samples.len() * 2)), "{report}");
}

#[test]
fn a_broken_message_is_caught_by_the_validator() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, mut order) = samples().remove(0);
    order["nodes"][0].as_object_mut().expect("node").remove("released");
    order["orderUpdateId"] = json!(-1);
    write(dir.path(), "order-broken", &order);
    let (ok, report) = validate(dir.path());
    assert!(!ok, "the validator accepted a broken order: {report}");
    // python-jsonschema quotes 'released', jsonschema-rs "released".
    assert!(report.contains("released") && report.contains("is a required property"), "{report}");
}
