//! The embedded MQTT broker (rumqttd), for installations without one and for the default run.
//! Retained messages and last wills work on it (checked in ../shared/NOTES.md and by the
//! fleet tests), which VDA 5050's `connection` topic needs.

use std::net::SocketAddr;

/// Starts the broker on its own thread, listening on `listen`.
pub fn start(listen: SocketAddr, max_connections: usize, max_payload_bytes: usize) -> anyhow::Result<()> {
    let config: rumqttd::Config = serde_json::from_value(serde_json::json!({
        "id": 0,
        "router": {
            "max_connections": max_connections,
            "max_outgoing_packet_count": 200,
            "max_segment_size": 104_857_600,
            "max_segment_count": 10
        },
        "v4": {
            "1": {
                "name": "v4-1",
                "listen": listen.to_string(),
                "next_connection_delay_ms": 1,
                "connections": {
                    "connection_timeout_ms": 60_000,
                    "max_payload_size": max_payload_bytes,
                    "max_inflight_count": 100,
                    "dynamic_filters": true
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
    tracing::info!(%listen, "embedded MQTT broker started");
    Ok(())
}
