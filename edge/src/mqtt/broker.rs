//! The embedded MQTT broker (rumqttd), for installations without one and for the default run.
//! Retained messages and last wills work on it (checked in ../shared/NOTES.md and by the
//! fleet tests), which VDA 5050's `connection` topic needs.
//!
//! It listens on loopback only and takes one login, made up at start and known only to this
//! process: the edge's own client uses it, and robots come in through the gate (`gate.rs`),
//! which checks their credentials and what they publish and read.

use std::collections::HashMap;
use std::net::SocketAddr;

/// How much the broker keeps per topic filter. rumqttd holds every filter's messages in a log of
/// segments, a segment at least this large (it can overrun by one message) and at most this many
/// segments; a subscriber further behind than that skips ahead, so the log must hold a few
/// seconds of the filter's traffic. A robot's own `order` and `instantActions` carry a few KB a
/// second even for fast robots: 256 KiB each (a 10 ms node time in the tests needed more than
/// 48 KiB under load). The edge's wildcard filters carry every robot's reports: 16 MiB each.
/// Before these limits each filter could keep 1 GB, and a flood grew the edge by gigabytes.
const ROBOT_FILTER_SEGMENT: (usize, usize) = (64 * 1024, 4);
const EDGE_FILTER_SEGMENT: (usize, usize) = (4 * 1024 * 1024, 4);

/// The login the edge's own client uses.
#[derive(Debug, Clone)]
pub struct BrokerLogin {
    pub username: String,
    pub password: String,
}

impl BrokerLogin {
    pub fn fresh() -> BrokerLogin {
        use rand::Rng;
        let secret: String = rand::thread_rng().sample_iter(rand::distributions::Alphanumeric).take(40).map(char::from).collect();
        BrokerLogin { username: format!("tote-edge-{}", std::process::id()), password: secret }
    }
}

/// Starts the broker on its own thread, listening on `listen` (loopback) for `login` only.
/// `edge_filters` are the edge's own subscriptions, which get the larger retention.
pub fn start(listen: SocketAddr, max_connections: usize, max_payload_bytes: usize, login: &BrokerLogin, edge_filters: &[String]) -> anyhow::Result<()> {
    anyhow::ensure!(listen.ip().is_loopback(), "the embedded broker listens on loopback only (robots come in through the gate)");
    let segment = |(size, count): (usize, usize)| serde_json::json!({ "max_segment_size": size, "max_segment_count": count });
    let custom: HashMap<&String, serde_json::Value> = edge_filters.iter().map(|f| (f, segment(EDGE_FILTER_SEGMENT))).collect();
    let config: rumqttd::Config = serde_json::from_value(serde_json::json!({
        "id": 0,
        "router": {
            // The gate's clients, the edge's own and a spare.
            "max_connections": max_connections + 2,
            "max_outgoing_packet_count": 200,
            "max_segment_size": ROBOT_FILTER_SEGMENT.0,
            "max_segment_count": ROBOT_FILTER_SEGMENT.1,
            "custom_segment": custom,
        },
        "v4": {
            "1": {
                "name": "v4-1",
                "listen": listen.to_string(),
                "next_connection_delay_ms": 1,
                "connections": {
                    "connection_timeout_ms": 10_000,
                    "max_payload_size": max_payload_bytes,
                    "max_inflight_count": 100,
                    "dynamic_filters": true,
                    "auth": { login.username.clone(): login.password.clone() },
                }
            }
        }
    }))?;
    std::thread::Builder::new().name("mqtt-broker".into()).spawn(move || {
        let mut broker = rumqttd::Broker::new(config);
        if let Err(error) = broker.start() {
            tracing::error!(%error, "embedded MQTT broker stopped");
        }
    })?;
    // Wait until it accepts connections, so our own client's first connect does not fail.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::net::TcpStream::connect_timeout(&listen, std::time::Duration::from_millis(100)).is_err() {
        anyhow::ensure!(std::time::Instant::now() < deadline, "the embedded MQTT broker did not start on {listen}");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    tracing::info!(%listen, "embedded MQTT broker started (loopback, behind the gate)");
    Ok(())
}
