//! Issue 11, finding 4: the robots' broker was open. An anonymous client drove a robot with its
//! own `order`, paused it while the edge still listed it in service, read `#`, and 1 MB messages
//! grew the edge by gigabytes. Each attack again, now against the embedded broker's gate (and,
//! for what the edge itself must notice, against a shared Mosquitto that lets anyone publish).
//! Mosquitto's own command-line clients check the TLS listener from outside.

use crate::helpers::*;
use anyhow::{ensure, Context, Result};
use rumqttc::{AsyncClient, ConnectReturnCode, ConnectionError, Event, EventLoop, MqttOptions, Packet, QoS, SubscribeReasonCode};
use serde_json::{json, Value};
use std::time::Duration;
use tote_shared::vda5050::{Action, BlockingType, Header, InstantActions, Order, Route, Topic, Waypoint};
use tote_sim::agv::{Agv, AgvConfig};

use crate::fleet::{fleet, robot};

async fn broker_of(edge: &Edge, key: &str) -> Result<(String, u16)> {
    let address = fleet(edge).await?[key].as_str().context("broker address")?.to_owned();
    let (host, port) = address.rsplit_once(':').context("host:port")?;
    Ok((host.to_owned(), port.parse()?))
}

fn client(host: &str, port: u16, login: Option<&(String, String)>) -> (AsyncClient, EventLoop) {
    let mut options = MqttOptions::new(unique("probe-"), host, port);
    options.set_max_packet_size(4 << 20, 4 << 20);
    if let Some((username, password)) = login {
        options.set_credentials(username, password);
    }
    AsyncClient::new(options, 64)
}

/// The broker's answer to the CONNECT: accepted, or the refusal code.
async fn connack(events: &mut EventLoop) -> Result<Result<(), ConnectReturnCode>> {
    let answer = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => return Ok(Ok(())),
                Ok(_) => {}
                Err(ConnectionError::ConnectionRefused(code)) => return Ok(Err(code)),
                Err(error) => return Err(anyhow::anyhow!("no CONNACK: {error}")),
            }
        }
    });
    answer.await.context("no answer to CONNECT")?
}

/// Polls until the next SUBACK and returns its codes.
async fn suback(events: &mut EventLoop) -> Result<Vec<SubscribeReasonCode>> {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Event::Incoming(Packet::SubAck(ack)) = events.poll().await? {
                return Ok(ack.return_codes);
            }
        }
    })
    .await
    .context("no SUBACK")?
}

/// Polls until the broker closes the connection (true) or 10 s pass (false).
async fn closed(events: &mut EventLoop) -> bool {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if events.poll().await.is_err() {
                return;
            }
        }
    })
    .await
    .is_ok()
}

fn sim_robot(manufacturer: &str, serial: &str, host: &str, port: u16, login: Option<(String, String)>, tls_ca: Option<std::path::PathBuf>) -> Agv {
    Agv::spawn(AgvConfig { tls_ca, ..robot_config(manufacturer, serial, host, port, login) }, tote_shared::runtime::system::now_ms)
}

/// Central and an SH-01 edge with its embedded broker; the broker's address; a fresh maker.
async fn embedded_site() -> Result<(tempfile::TempDir, Central, Edge, String, u16, String)> {
    let dir = tempfile::tempdir()?;
    let central = Central::start(dir.path())?;
    central.add_warehouse("SH-01", "Shanghai").await?;
    let edge = Edge::start(dir.path(), "SH-01", central.base_url())?;
    let (host, port) = broker_of(&edge, "broker").await?;
    Ok((dir, central, edge, host, port, unique("tote")))
}

async fn wait_robot(edge: &Edge, what: &str, manufacturer: &str, serial: &str, test: impl Fn(&Value) -> bool) -> Result<Value> {
    eventually(what, Duration::from_secs(20), || async {
        let f = fleet(edge).await?;
        Ok(robot(&f, manufacturer, serial).filter(|r| test(r)).cloned())
    })
    .await
}

/// A VDA 5050 order to drive one node, as master control would send it.
fn order(manufacturer: &str, serial: &str, order_id: &str) -> Vec<u8> {
    let waypoints = [Waypoint { node_id: "c1_0".into(), x: 1.0, y: 0.0 }];
    let route = Route { order_id, order_update_id: 0, first_sequence_id: 0, waypoints: &waypoints, released: 1, map_id: "floor" };
    serde_json::to_vec(&Order::along(Header::new(1, tote_shared::runtime::system::now_ms(), manufacturer, serial), route, Vec::new())).unwrap_or_default()
}

fn instant(manufacturer: &str, serial: &str, action: &str) -> Vec<u8> {
    let header = Header::new(1, tote_shared::runtime::system::now_ms(), manufacturer, serial);
    let action = Action { action_type: action.into(), action_id: unique("intruder-"), action_description: None, blocking_type: BlockingType::Hard, action_parameters: None };
    serde_json::to_vec(&InstantActions { header, actions: vec![action] }).unwrap_or_default()
}

fn gate_refusals(metrics: &str, reason: &str) -> f64 {
    let prefix = format!("tote_edge_mqtt_gate_refused_total{{reason=\"{reason}\"}} ");
    metrics.lines().find_map(|l| l.strip_prefix(&prefix)).and_then(|v| v.trim().parse().ok()).unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_embedded_broker_strangers_cannot_sign_in_and_a_robot_can_neither_order_nor_pause_nor_read_others() -> Result<()> {
    let (_dir, _central, edge, host, port, m) = embedded_site().await?;
    let _victim = sim_robot(&m, "agv-0", &host, port, edge.robot_login(&m, "agv-0").await?, None);
    wait_robot(&edge, "the victim in service", &m, "agv-0", |r| r["in_service"] == true).await?;

    // Anonymous, a wrong password, an unknown user: refused at CONNECT, before the broker.
    let (_c, mut events) = client(&host, port, None);
    assert_eq!(connack(&mut events).await?, Err(ConnectReturnCode::NotAuthorized), "anonymous");
    let (_c, mut events) = client(&host, port, Some(&(format!("{m}/agv-0"), "not-the-password".into())));
    assert_eq!(connack(&mut events).await?, Err(ConnectReturnCode::BadUserNamePassword), "wrong password");
    let (_c, mut events) = client(&host, port, Some(&("nobody".into(), "x".repeat(64))));
    assert_eq!(connack(&mut events).await?, Err(ConnectReturnCode::BadUserNamePassword), "unknown user");

    // Another robot's own login: it may read its own topics, not `#` nor the victim's.
    let attacker = edge.robot_login(&m, "agv-1").await?.context("a login on the embedded broker")?;
    let (c, mut events) = client(&host, port, Some(&attacker));
    assert_eq!(connack(&mut events).await?, Ok(()));
    c.subscribe("#", QoS::AtMostOnce).await?;
    assert_eq!(suback(&mut events).await?, vec![SubscribeReasonCode::Failure], "#");
    c.subscribe(Topic::Order.path(&m, "agv-0"), QoS::AtMostOnce).await?;
    assert_eq!(suback(&mut events).await?, vec![SubscribeReasonCode::Failure], "the victim's orders");
    c.subscribe(Topic::Order.path(&m, "agv-1"), QoS::AtMostOnce).await?;
    assert_eq!(suback(&mut events).await?, vec![SubscribeReasonCode::Success(QoS::AtMostOnce)], "its own orders");
    // Publishing an order (to anyone) closes its connection; nothing reaches the victim.
    c.publish(Topic::Order.path(&m, "agv-0"), QoS::AtMostOnce, false, order(&m, "agv-0", "intruder-order")).await?;
    assert!(closed(&mut events).await, "an order from a robot closes its connection");
    let (c, mut events) = client(&host, port, Some(&attacker));
    assert_eq!(connack(&mut events).await?, Ok(()));
    c.publish(Topic::InstantActions.path(&m, "agv-0"), QoS::AtLeastOnce, false, instant(&m, "agv-0", "startPause")).await?;
    assert!(closed(&mut events).await, "instant actions from a robot close its connection");
    let (c, mut events) = client(&host, port, Some(&attacker));
    assert_eq!(connack(&mut events).await?, Ok(()));
    c.publish(Topic::State.path(&m, "agv-0"), QoS::AtMostOnce, false, b"{}".to_vec()).await?;
    assert!(closed(&mut events).await, "reporting as another robot closes its connection");

    // The victim kept reporting through all of it, with no order and not paused.
    let before = fleet(&edge).await?["messages_accepted"].as_u64().unwrap_or(0);
    eventually("the victim to report a few more states", Duration::from_secs(20), || async {
        Ok((fleet(&edge).await?["messages_accepted"].as_u64().unwrap_or(0) >= before + 5).then_some(()))
    })
    .await?;
    let victim = robot(&fleet(&edge).await?, &m, "agv-0").cloned().context("victim")?;
    assert_eq!((&victim["order_id"], &victim["paused"], &victim["in_service"]), (&Value::Null, &json!(false), &json!(true)), "{victim}");

    let metrics = edge.get_text("/metrics").await?;
    assert!(gate_refusals(&metrics, "sign_in") >= 3.0, "{metrics}");
    assert!(gate_refusals(&metrics, "subscribe") >= 2.0 && gate_refusals(&metrics, "publish") >= 3.0, "{metrics}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_robots_login_ends_its_session_and_keeps_it_out() -> Result<()> {
    let (_dir, _central, edge, host, port, m) = embedded_site().await?;
    let login = edge.robot_login(&m, "agv-0").await?;
    let _robot = sim_robot(&m, "agv-0", &host, port, login.clone(), None);
    wait_robot(&edge, "the robot in service", &m, "agv-0", |r| r["in_service"] == true).await?;
    let logins = edge.get("/api/v1/mqtt/logins").await?.ok()?;
    let listed = logins.as_array().into_iter().flatten().find(|l| l["username"] == format!("{m}/agv-0")).context("listed")?;
    assert!(listed.get("password").is_none() && listed.get("secret_sha256").is_none(), "never the secret: {listed}");

    let revoked = edge.http.delete(edge.url(&format!("/api/v1/fleet/{m}/agv-0/mqtt-login"))).send().await?;
    assert_eq!(revoked.status(), 204);
    // The gate drops its session without a DISCONNECT, so the broker publishes its last will.
    wait_robot(&edge, "the robot out of service", &m, "agv-0", |r| r["in_service"] == false && r["connection"] == "CONNECTIONBROKEN").await?;
    let (_c, mut events) = client(&host, port, login.as_ref());
    assert_eq!(connack(&mut events).await?, Err(ConnectReturnCode::BadUserNamePassword), "the old password is dead");
    let again = edge.http.delete(edge.url(&format!("/api/v1/fleet/{m}/agv-0/mqtt-login"))).send().await?;
    assert_eq!(again.status(), 404);
    // Only supervisors manage logins; names cannot carry topic separators or wildcards.
    let worker = edge.http.get(edge.url("/api/v1/mqtt/logins")).header("authorization", "Bearer not-a-session").send().await?;
    assert_eq!(worker.status(), 401);
    assert_eq!(edge.post(&format!("/api/v1/fleet/{m}/a+b/mqtt-login"), json!({})).await?.status, 422);
    assert_eq!(edge.post("/api/v1/mqtt/observers/%23", json!({})).await?.status, 422);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn robots_speak_mqtt_over_tls_and_mosquittos_own_clients_verify_the_certificate() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let pki = Pki::create(&dir.path().join("pki"))?;
    let other = Pki::create(&dir.path().join("other-pki"))?;
    let central = Central::start(dir.path())?;
    central.add_warehouse("SH-01", "Shanghai").await?;
    let extra = format!("tls_listen = \"127.0.0.1:0\"\ntls = {}\n", pki.toml());
    let config = edge_config_full(dir.path(), "SH-01", central.base_url(), None, &extra)?;
    let edge = Edge::from_daemon(Daemon::spawn(Kind::Edge, config)?, "SH-01");
    let (host, tls_port) = broker_of(&edge, "broker_tls").await?;
    let m = unique("tote");
    let _robot = sim_robot(&m, "agv-0", &host, tls_port, edge.robot_login(&m, "agv-0").await?, Some(pki.ca.clone()));
    wait_robot(&edge, "the robot in service over TLS", &m, "agv-0", |r| r["in_service"] == true).await?;

    // mosquitto_sub, trusting our CA, as an observer: reads the robot's state.
    let (user, password) = edge.observer_login("dashboard").await?.context("observer")?;
    let port = tls_port.to_string();
    let topic = Topic::State.path(&m, "agv-0");
    let sub = |ca: &std::path::Path, user: &str, password: &str, topic: &str| {
        std::process::Command::new("mosquitto_sub")
            .args(["-h", "127.0.0.1", "-p", &port, "--cafile"])
            .arg(ca)
            .args(["-u", user, "-P", password, "-t", topic, "-C", "1", "-W", "10"])
            .output()
            .context("mosquitto_sub is missing: run tests/run.sh, which installs mosquitto-clients")
    };
    let read = sub(&pki.ca, &user, &password, &topic)?;
    ensure!(read.status.success(), "mosquitto_sub over TLS: {}", String::from_utf8_lossy(&read.stderr));
    let state: Value = serde_json::from_slice(&read.stdout)?;
    assert_eq!(state["serialNumber"], "agv-0");
    // Another CA's client refuses our certificate; an anonymous one, and `#`, get nothing.
    let foreign_ca = sub(&other.ca, &user, &password, &topic)?;
    assert!(!foreign_ca.status.success(), "a certificate from another CA must fail verification");
    let anonymous = std::process::Command::new("mosquitto_sub").args(["-h", "127.0.0.1", "-p", &port, "--cafile"]).arg(&pki.ca).args(["-t", "#", "-C", "1", "-W", "5"]).output()?;
    assert!(!anonymous.status.success(), "anonymous over TLS");
    assert!(String::from_utf8_lossy(&anonymous.stderr).to_lowercase().contains("not authori"), "{}", String::from_utf8_lossy(&anonymous.stderr));
    let everything = sub(&pki.ca, &user, &password, "#")?;
    let said = String::from_utf8_lossy(&everything.stderr);
    assert!(everything.stdout.is_empty() && said.contains("denied"), "an observer's `#` is refused: {said}");
    // mosquitto_pub, plain MQTT against the TLS port: no session.
    let plain = std::process::Command::new("mosquitto_pub").args(["-h", "127.0.0.1", "-p", &port, "-u", &user, "-P", &password, "-t", &topic, "-m", "{}"]).output()?;
    assert!(!plain.status.success(), "plain MQTT on the TLS listener");
    Ok(())
}

/// Publishes `count` messages of the largest size a robot may send at QoS 1, waits for every
/// acknowledgement and for the edge to have seen them, and returns the edge's RSS then.
async fn flood(edge: &Edge, host: &str, port: u16, login: &(String, String), topic: &str, count: usize, rss_mb: impl Fn() -> Result<f64>) -> Result<f64> {
    let (c, mut events) = client(host, port, Some(login));
    assert_eq!(connack(&mut events).await?, Ok(()));
    let pump = tokio::spawn(async move {
        let mut acked = 0;
        while acked < count {
            match events.poll().await {
                Ok(Event::Incoming(Packet::PubAck(_))) => acked += 1,
                Ok(_) => {}
                Err(error) => return Err(anyhow::anyhow!("flood connection lost after {acked} acks: {error}")),
            }
        }
        Ok(acked)
    });
    let seen_before = fleet(edge).await?["messages_rejected"]["not_json"].as_u64().unwrap_or(0);
    let payload = vec![b'x'; tote_shared::vda5050::MAX_PAYLOAD_BYTES];
    for _ in 0..count {
        c.publish(topic, QoS::AtLeastOnce, false, payload.clone()).await?;
    }
    assert_eq!(tokio::time::timeout(Duration::from_secs(120), pump).await???, count);
    eventually("the edge to see the flood", Duration::from_secs(20), || async {
        Ok((fleet(edge).await?["messages_rejected"]["not_json"].as_u64().unwrap_or(0) > seen_before).then_some(()))
    })
    .await?;
    rss_mb()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_messages_close_the_connection_and_a_flood_does_not_grow_the_edge() -> Result<()> {
    let (_dir, _central, edge, host, port, m) = embedded_site().await?;
    let login = edge.robot_login(&m, "flood").await?.context("login")?;
    let topic = Topic::State.path(&m, "flood");

    let (c, mut events) = client(&host, port, Some(&login));
    assert_eq!(connack(&mut events).await?, Ok(()));
    c.publish(&topic, QoS::AtMostOnce, false, vec![b'x'; 2 << 20]).await?;
    assert!(closed(&mut events).await, "a 2 MB message closes the connection");

    let pid = lock(&edge.daemon).pid().context("edge pid")?;
    let rss_mb = || -> Result<f64> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let kb: f64 = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).context("VmRSS")?.trim().trim_end_matches("kB").trim().parse()?;
        Ok(kb / 1024.0)
    };
    let rss_before = rss_mb()?;
    // 100 MB, then 300 MB more, of the largest message a robot may send, each acknowledged by
    // the broker: what the broker keeps is bounded — the edge filter's log (4 segments of 4 MiB
    // and one message), the edge client's outgoing queue (200 messages) and the robot
    // connection's in-flight window (100 messages): about 95 MB of 256 KiB messages — so the
    // second flood, three times the first, adds at most that. Calm, it adds nothing (the daemons
    // return large buffers to the system on free); under the full suite's load, with the edge's
    // own client behind, up to ~85 MB. With the old retention (up to 1 GB a topic) the same run
    // grew the edge by 500 MB on the second flood.
    let after_first = flood(&edge, &host, port, &login, &topic, 400, rss_mb).await?;
    let after_second = flood(&edge, &host, port, &login, &topic, 1200, rss_mb).await?;
    println!("flood through the gate: edge RSS {rss_before:.0} MB, {after_first:.0} MB after 100 MB, {after_second:.0} MB after 300 MB more");
    assert!(after_second - after_first < 128.0, "the edge grew {:.0} MB on the second flood", after_second - after_first);
    assert!(after_second - rss_before < 300.0, "the edge grew {:.0} MB in all", after_second - rss_before);
    assert!(gate_refusals(&edge.get_text("/metrics").await?, "malformed") >= 1.0);
    assert_eq!(edge.get("/health").await?.ok()?["status"], "ok");
    Ok(())
}

/// On a broker the edge does not own (anyone may publish, as on a default Mosquitto), the edge
/// itself notices a robot driving someone else's order or paused by someone else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_shared_broker_a_foreign_order_or_pause_takes_the_robot_out_of_service() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let central = Central::start(dir.path())?;
    central.add_warehouse("SH-01", "Shanghai").await?;
    let m = unique("tote");
    let broker = crate::fleet::mosquitto();
    let config = edge_config_full(dir.path(), "SH-01", central.base_url(), Some(&broker), &format!("manufacturers = [\"{m}\"]\n"))?;
    let edge = Edge::from_daemon(Daemon::spawn(Kind::Edge, config)?, "SH-01");
    assert_eq!(edge.robot_login(&m, "agv-0").await?, None, "an external broker has its own users");
    let (host, port) = broker.rsplit_once(':').context("host:port")?;
    let _robot = sim_robot(&m, "agv-0", host, port.parse()?, None, None);
    wait_robot(&edge, "the robot in service", &m, "agv-0", |r| r["in_service"] == true).await?;

    let (intruder, mut events) = client(host, port.parse()?, None);
    let pump = tokio::spawn(async move { while events.poll().await.is_ok() {} });
    intruder.publish(Topic::Order.path(&m, "agv-0"), QoS::AtLeastOnce, false, order(&m, "agv-0", "intruder-1")).await?;
    wait_robot(&edge, "the robot out of service with a foreign order", &m, "agv-0", |r| r["foreign_order"] == "intruder-1" && r["in_service"] == false).await?;
    assert!(edge.get_text("/metrics").await?.contains("tote_edge_robots_foreign_order 1"));
    // A supervisor cancels it: the robot serves again.
    let cancel = edge.post(&format!("/api/v1/fleet/{m}/agv-0/instant-actions"), json!({"action": "cancel_order"})).await?;
    assert_eq!(cancel.status, 202, "{}", cancel.body);
    wait_robot(&edge, "the robot back in service", &m, "agv-0", |r| r["foreign_order"].is_null() && r["in_service"] == true).await?;

    intruder.publish(Topic::InstantActions.path(&m, "agv-0"), QoS::AtLeastOnce, false, instant(&m, "agv-0", "startPause")).await?;
    wait_robot(&edge, "the paused robot out of service", &m, "agv-0", |r| r["paused"] == true && r["in_service"] == false).await?;
    intruder.publish(Topic::InstantActions.path(&m, "agv-0"), QoS::AtLeastOnce, false, instant(&m, "agv-0", "stopPause")).await?;
    wait_robot(&edge, "the resumed robot in service", &m, "agv-0", |r| r["paused"] == false && r["in_service"] == true).await?;
    // Leave the shared broker clean.
    for topic in [Topic::Connection, Topic::Factsheet] {
        intruder.publish(topic.path(&m, "agv-0"), QoS::AtLeastOnce, true, Vec::new()).await?;
    }
    intruder.disconnect().await?;
    let _ = tokio::time::timeout(Duration::from_secs(5), pump).await;
    Ok(())
}
