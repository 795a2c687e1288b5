//! Robots over VDA 5050 on a real broker — the edge's embedded one and Mosquitto: they
//! announce themselves, are tracked, and leave service on a broken connection (last will),
//! a FATAL error or stale state; garbage on their topics is counted and changes nothing else.

use crate::helpers::*;
use anyhow::{Context, Result};
use rumqttc::{AsyncClient, MqttOptions, QoS};
use serde_json::{json, Value};
use std::time::Duration;
use tote_sim::agv::{Agv, Fault};

/// Mosquitto for the suite: TOTE_TEST_MQTT_BROKER, else the one on 127.0.0.1:1883.
pub(crate) fn mosquitto() -> String {
    let addr = std::env::var("TOTE_TEST_MQTT_BROKER").unwrap_or_else(|_| "127.0.0.1:1883".into());
    let reachable = addr.parse().ok().and_then(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(2)).ok()).is_some();
    assert!(reachable, "no Mosquitto at {addr}: run tests/run.sh, which installs and starts one");
    addr
}

pub(crate) async fn fleet(edge: &Edge) -> Result<Value> {
    edge.get("/api/v1/fleet").await?.ok()
}

/// Postmortem: matching on the serial alone found robots of earlier runs, whose retained
/// CONNECTIONBROKEN stays on a shared Mosquitto; a robot is its manufacturer and serial.
pub(crate) fn robot<'a>(fleet: &'a Value, manufacturer: &str, serial: &str) -> Option<&'a Value> {
    fleet["robots"].as_array()?.iter().find(|r| r["manufacturer"] == manufacturer && r["serial_number"] == serial)
}

async fn robots_fault_and_garbage_is_counted(broker: Option<String>) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let central = Central::start(dir.path())?;
    central.add_warehouse("SH-01", "Shanghai").await?;
    let config = edge_config_with_broker(dir.path(), "SH-01", central.base_url(), broker.as_deref())?;
    let edge = Edge::from_daemon(Daemon::spawn(Kind::Edge, config)?, "SH-01");
    let address = fleet(&edge).await?["broker"].as_str().context("broker")?.to_owned();
    let (host, port) = address.rsplit_once(':').context("host:port")?;
    let manufacturer = unique("tote");
    let mut agvs: Vec<Agv> = Vec::new();
    for k in 0..3 {
        let serial = format!("agv-{k}");
        let login = edge.robot_login(&manufacturer, &serial).await?;
        agvs.push(Agv::spawn(robot_config(&manufacturer, &serial, host, port.parse()?, login), tote_shared::runtime::system::now_ms));
    }
    let ready = eventually("three robots in service", Duration::from_secs(20), || async {
        let f = fleet(&edge).await?;
        let ready = (0..3).all(|k| robot(&f, &manufacturer, &format!("agv-{k}")).is_some_and(|r| r["in_service"] == true && r["battery_charge"].is_number() && r["series_name"] == "Tote sim lifter"));
        Ok(ready.then_some(()))
    })
    .await;
    if let Err(error) = ready {
        let f = fleet(&edge).await?;
        let ours: Vec<&Value> = f["robots"].as_array().into_iter().flatten().filter(|r| r["manufacturer"] == manufacturer.as_str()).collect();
        let log = std::fs::read_to_string(dir.path().join("edge-SH-01.log")).unwrap_or_default();
        anyhow::bail!("{error}\nour robots: {ours:?}\naccepted {} rejected {}\nedge log:\n{log}", f["messages_accepted"], f["messages_rejected"]);
    }

    agvs[0].inject(Fault::Vanish).await;
    agvs[1].inject(Fault::Fatal("driveFault".into())).await;
    agvs[2].inject(Fault::Stall).await;
    eventually("each fault to take its robot out of service", Duration::from_secs(30), || async {
        let f = fleet(&edge).await?;
        let (a, b, c) = (robot(&f, &manufacturer, "agv-0"), robot(&f, &manufacturer, "agv-1"), robot(&f, &manufacturer, "agv-2"));
        let done = a.is_some_and(|r| r["connection"] == "CONNECTIONBROKEN" && r["in_service"] == false)
            && b.is_some_and(|r| r["fatal_errors"] == json!(["driveFault"]) && r["in_service"] == false)
            && c.is_some_and(|r| r["connection"] == "ONLINE" && r["in_service"] == false);
        Ok(done.then_some(()))
    })
    .await?;

    // Garbage on the robot topics, from a plain MQTT client. On Mosquitto anyone may publish
    // anywhere; the embedded broker's gate lets a client publish only as the robot it signed in
    // as, so there the garbage comes from a robot of its own, ghost-9 (the gate's refusals are
    // tests/tests/e2e/broker_security.rs's).
    let mut options = MqttOptions::new(unique("garbage"), host, port.parse()?);
    options.set_max_packet_size(2 << 20, 2 << 20);
    let ghost = edge.robot_login(&manufacturer, "ghost-9").await?;
    let gated = ghost.is_some();
    if let Some((username, password)) = ghost {
        options.set_credentials(username, password);
    }
    let (client, mut events) = AsyncClient::new(options, 16);
    let pump = tokio::spawn(async move { while events.poll().await.is_ok() {} });
    let state_topic = format!("uagv/v2/{manufacturer}/{}/state", if gated { "ghost-9" } else { "agv-1" });
    let before = fleet(&edge).await?["messages_rejected"].clone();
    // Just over the edge's limit on a robot message (and under the gate's, which allows the topic).
    let too_large = vec![b' '; tote_shared::vda5050::MAX_PAYLOAD_BYTES + 200];
    let mut sends: Vec<(String, Vec<u8>)> = vec![
        (state_topic.clone(), b"not json at all".to_vec()),
        (state_topic.clone(), br#"{"headerId": "seven"}"#.to_vec()),
        (format!("uagv/v2/{manufacturer}/ghost-9/connection"), b"{}".to_vec()),
        (state_topic.clone(), too_large),
    ];
    if !gated {
        sends.push((format!("uagv/v2/{manufacturer}/visualization"), b"{}".to_vec()));
    }
    for (topic, payload) in sends {
        client.publish(topic, QoS::AtLeastOnce, false, payload).await?;
    }
    eventually("the edge to count every kind of garbage", Duration::from_secs(20), || async {
        let after = fleet(&edge).await?["messages_rejected"].clone();
        let grew = |k: &str| after[k].as_u64().unwrap_or(0) > before[k].as_u64().unwrap_or(0);
        Ok((grew("not_json") && grew("wrong_shape") && grew("too_large")).then_some(()))
    })
    .await?;
    let health = edge.get("/health").await?.ok()?;
    assert_eq!(health["status"], "ok", "the edge keeps working");
    let f = fleet(&edge).await?;
    assert!(robot(&f, &manufacturer, "ghost-9").is_none(), "an unknown robot's junk creates nothing");
    // Leave a shared broker clean: clear our robots' retained messages.
    for k in (0..3).filter(|_| !gated) {
        for topic in ["connection", "factsheet"] {
            client.publish(format!("uagv/v2/{manufacturer}/agv-{k}/{topic}"), QoS::AtLeastOnce, true, Vec::new()).await?;
        }
    }
    drop(agvs);
    client.disconnect().await?;
    // The event loop sends what is queued, then ends with the disconnect.
    let _ = tokio::time::timeout(Duration::from_secs(5), pump).await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_embedded_broker_robot_faults_take_robots_out_of_service_and_garbage_is_counted() -> Result<()> {
    robots_fault_and_garbage_is_counted(None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_mosquitto_robot_faults_take_robots_out_of_service_and_garbage_is_counted() -> Result<()> {
    robots_fault_and_garbage_is_counted(Some(mosquitto())).await
}

/// The floor page streams the fleet; pause and resume from the edge API reach the robot as
/// VDA 5050 instantActions; what the edge published, collected from the broker by a separate
/// subscriber, passes the official schemas.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_see_the_floor_live_and_pause_a_robot_with_schema_valid_instant_actions() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let central = Central::start(dir.path())?;
    central.add_warehouse("SH-01", "Shanghai").await?;
    let edge = Edge::from_daemon(Daemon::spawn(Kind::Edge, edge_config(dir.path(), "SH-01", central.base_url())?)?, "SH-01");
    let address = fleet(&edge).await?["broker"].as_str().context("broker")?.to_owned();
    let (host, port) = address.rsplit_once(':').context("host:port")?;
    let manufacturer = unique("tote");
    let config = robot_config(&manufacturer, "agv-0", host, port.parse()?, edge.robot_login(&manufacturer, "agv-0").await?);
    let _agv = Agv::spawn(config, tote_shared::runtime::system::now_ms);
    // The test's own subscriber (an observer on the embedded broker) records what the edge
    // publishes to the robot.
    let mut options = MqttOptions::new(unique("spy"), host, port.parse()?);
    if let Some((username, password)) = edge.observer_login("spy").await? {
        options.set_credentials(username, password);
    }
    let (client, mut events) = AsyncClient::new(options, 64);
    client.subscribe(format!("uagv/v2/{manufacturer}/+/instantActions"), QoS::AtLeastOnce).await?;
    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
    let spy = tokio::spawn(async move {
        while let Ok(event) = events.poll().await {
            if let rumqttc::Event::Incoming(rumqttc::Packet::Publish(p)) = event {
                let _ = seen_tx.send(p.payload.to_vec());
            }
        }
    });
    eventually("the robot to be in service", Duration::from_secs(20), || async {
        Ok(robot(&fleet(&edge).await?, &manufacturer, "agv-0").is_some_and(|r| r["in_service"] == true).then_some(()))
    })
    .await?;

    // The live floor page and its event stream show the robot.
    let page = edge.http.get(edge.url("/floor")).send().await?;
    assert!(page.headers()["content-type"].to_str()?.starts_with("text/html"));
    assert!(page.text().await?.contains("new EventSource(\"/api/v1/fleet/stream\")"));
    let mut stream = edge.http.get(edge.url("/api/v1/fleet/stream")).send().await?;
    let mut first = String::new();
    while !first.contains("\n\n") {
        let chunk = tokio::time::timeout(Duration::from_secs(5), stream.chunk()).await??.context("stream ended")?;
        first.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(first.starts_with("event: fleet\ndata: "), "{first}");
    assert!(first.contains(&format!("\"manufacturer\":\"{manufacturer}\"")), "{first}");
    drop(stream);

    let path = format!("/api/v1/fleet/{manufacturer}/agv-0/instant-actions");
    for (action, paused) in [("pause", true), ("resume", false)] {
        let sent = edge.post(&path, json!({"action": action})).await?;
        assert_eq!(sent.status, 202, "{}", sent.body);
        // A paused robot takes no work: out of service until it resumes.
        eventually("the robot to report it", Duration::from_secs(20), || async {
            Ok(robot(&fleet(&edge).await?, &manufacturer, "agv-0").is_some_and(|r| r["paused"] == paused && r["in_service"] == !paused).then_some(()))
        })
        .await?;
    }
    assert_eq!(edge.post(&path, json!({"action": "dance"})).await?.status, 422);
    assert_eq!(edge.post(&format!("/api/v1/fleet/{manufacturer}/agv-9/instant-actions"), json!({"action": "pause"})).await?.status, 404);

    let messages = dir.path().join("published");
    std::fs::create_dir_all(&messages)?;
    for n in 0..2 {
        let payload = tokio::time::timeout(Duration::from_secs(10), seen.recv()).await?.context("spy stopped")?;
        let message: Value = serde_json::from_slice(&payload)?;
        assert_eq!(message["headerId"], n + 1, "headerId counts per robot and topic");
        std::fs::write(messages.join(format!("instantActions-{n}.json")), payload)?;
    }
    spy.abort();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("vda5050_validate.py");
    let schemas = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/vda5050");
    let out = std::process::Command::new("python3").arg(script).arg(schemas).arg(&messages).output().context("python3 is missing: run tests/run.sh")?;
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && report.contains("4 validations, 0 failures"), "{report}{}", String::from_utf8_lossy(&out.stderr));
    Ok(())
}
