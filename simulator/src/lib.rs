//! The simulated devices, usable from the `tote-sim` binary and from tests: each speaks the
//! real protocol over a real socket (MQTT for VDA 5050 robots, Modbus TCP for station PLCs
//! and Modbus robots, raw TCP for printers, HTTP for the payment channels, the carriers and the tracking
//! aggregator).

pub mod agv;
pub mod browser;
pub mod carrier;
pub mod fault_proxy;
pub mod floor;
pub mod marketplace;
pub mod messaging;
pub mod modbus;
pub mod modbus_agv;
pub mod payment;
pub mod pki;
pub mod plc;
pub mod printer;

/// A child process killed (and reaped) when dropped, whatever happened meanwhile: the browser
/// driver here, peers the tests start.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Connections each simulated peer (payment channel, carrier platform, aggregator) serves.
const MAX_PEER_CONNECTIONS: usize = 256;

/// Serves a simulated peer's `router` on `listener` for the life of the process. Every client
/// is on this machine (127.0.0.1), so one address may use every slot; `what` names the peer in
/// the log if its server stops.
pub(crate) async fn serve_peer(listener: tokio::net::TcpListener, router: axum::Router, what: &'static str) {
    let limits = tote_shared::runtime::listener::ConnectionLimits {
        max_connections: MAX_PEER_CONNECTIONS,
        max_connections_per_client: MAX_PEER_CONNECTIONS,
        header_read_timeout: std::time::Duration::from_secs(10),
        idle_timeout: std::time::Duration::from_secs(60),
        tls: None,
    };
    if let Err(error) = tote_shared::runtime::listener::serve_until(listener, router, limits, std::future::pending()).await {
        tracing::warn!(%error, peer = what, "simulated peer's server stopped");
    }
}
