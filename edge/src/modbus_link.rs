//! What the station PLC and Modbus robot pollers share: connecting a tokio-modbus TCP client
//! with a deadline, turning an answer (or its absence) into a `LinkError`, and how long to
//! wait before reconnecting (`RECONNECT_MS`, through `tote_shared::runtime::backoff::Backoff`).

use std::net::SocketAddr;
use std::time::Duration;
use tokio_modbus::client::Context;
use tokio_modbus::prelude::Slave;

/// Reconnect delays: from 100 ms, doubling up to 5 s, jittered (devices that went away
/// together do not reconnect in step).
pub const RECONNECT_MS: (u64, u64) = (100, 5_000);

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The link is gone (refused, reset, timed out): reconnect.
    #[error("{0}")]
    Lost(String),
    /// The device answered with a Modbus exception: keep the link, count the failure.
    #[error("Modbus exception {0}")]
    Exception(String),
}

/// Resolves `address` (`host:port`) and connects to unit `unit`, each within `timeout`.
pub async fn connect(address: &str, unit: u8, timeout: Duration) -> Result<Context, LinkError> {
    let resolve = tokio::time::timeout(timeout, tokio::net::lookup_host(address.to_owned()));
    let addr: SocketAddr = match resolve.await {
        Ok(Ok(mut addrs)) => addrs.next().ok_or_else(|| LinkError::Lost(format!("{address} resolves to nothing")))?,
        Ok(Err(e)) => return Err(LinkError::Lost(format!("{address}: {e}"))),
        Err(_) => return Err(LinkError::Lost(format!("{address}: name lookup timed out"))),
    };
    match tokio::time::timeout(timeout, tokio_modbus::client::tcp::connect_slave(addr, Slave(unit))).await {
        Ok(Ok(ctx)) => Ok(ctx),
        Ok(Err(e)) => Err(LinkError::Lost(format!("connect {address}: {e}"))),
        Err(_) => Err(LinkError::Lost(format!("connect {address}: timed out"))),
    }
}

/// One request's outcome. A timeout is a lost link: a late answer would be read as the answer
/// to the next request, so the connection must go.
pub async fn answer<T>(timeout: Duration, request: impl std::future::Future<Output = tokio_modbus::Result<T>>) -> Result<T, LinkError> {
    match tokio::time::timeout(timeout, request).await {
        Err(_) => Err(LinkError::Lost(format!("no answer within {} ms", timeout.as_millis()))),
        Ok(Err(e)) => Err(LinkError::Lost(e.to_string())),
        Ok(Ok(Err(exception))) => Err(LinkError::Exception(format!("{exception:?}"))),
        Ok(Ok(Ok(value))) => Ok(value),
    }
}
