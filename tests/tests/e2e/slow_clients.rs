//! Slow clients against the real daemons (issue 11, finding 3). Postmortem: both daemons served
//! through `axum::serve`, which has no header-read timeout, so 512 (edge) or 2,048 (central)
//! connections sending headers a byte a second, or nothing, held every connection slot for good
//! and a plain `GET /health` timed out. Now headers must arrive within `header_read_timeout_ms`,
//! one address holds at most `max_connections_per_client`, and a full daemon closes its oldest
//! idle connection for a newcomer.
//!
//! The attackers come from 127.0.0.2 and up (Linux routes all of 127/8 on loopback), 50 to an
//! address, under the per-client cap of 64. Deadlines bound waiting; they are not timings.

use crate::helpers::*;
use anyhow::{ensure, Context, Result};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Far longer than anything here should take; only a hung daemon reaches it.
const PATIENCE: Duration = Duration::from_secs(5);
/// Where no central answers: the edge serves /health without it.
const NO_CENTRAL: &str = "http://127.0.0.1:9";

async fn connect_from(source: Ipv4Addr, addr: SocketAddr) -> Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((source, 0)))?;
    Ok(socket.connect(addr).await?)
}

/// `GET /health` on a new connection from 127.0.0.1: the status line and the time it took.
async fn health(addr: SocketAddr) -> Result<(String, Duration)> {
    let started = Instant::now();
    let mut stream = connect_from(Ipv4Addr::LOCALHOST, addr).await?;
    stream.write_all(b"GET /health HTTP/1.1\r\nHost: tote\r\nConnection: close\r\n\r\n").await?;
    let mut answer = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut answer)).await.context("/health did not answer")??;
    let answer = String::from_utf8_lossy(&answer);
    Ok((answer.lines().next().unwrap_or_default().to_owned(), started.elapsed()))
}

/// Whether the daemon closes `stream` (EOF or reset) within PATIENCE.
async fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    let until_closed = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(PATIENCE, until_closed).await.is_ok()
}

/// `count` connections, 50 per source address: even ones send an unfinished request head,
/// odd ones nothing.
async fn open_slow_connections(addr: SocketAddr, count: usize) -> Result<Vec<TcpStream>> {
    let mut slow = Vec::with_capacity(count);
    for k in 0..count {
        let source = Ipv4Addr::new(127, 0, 0, 2 + u8::try_from(k / 50)?);
        let mut stream = connect_from(source, addr).await?;
        if k % 2 == 0 {
            // May fail once the daemon closed it to make room; the attacker does not care.
            let _ = stream.write_all(b"GET /health HTTP/1.1\r\nHost: t").await;
        }
        slow.push(stream);
    }
    Ok(slow)
}

async fn health_under_slow_connections(name: &str, addr: SocketAddr) -> Result<()> {
    let (status, quiet) = health(addr).await?;
    ensure!(status == "HTTP/1.1 200 OK", "{name} /health before the attack: {status}");
    let slow = open_slow_connections(addr, 1000).await?;
    let (status, latency) = health(addr).await?;
    println!("{name} /health: {quiet:?} with no slow connections, {latency:?} with {} open", slow.len());
    ensure!(status == "HTTP/1.1 200 OK", "{name} /health under 1,000 slow connections: {status}");
    Ok(())
}

/// The per-client cap is the default's, not the helpers' (they let 127.0.0.1 use every slot).
const CAP_64: &str = "64";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_health_answers_while_a_thousand_slow_connections_are_open() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let config = edge_config(dir.path(), "SH-01", NO_CENTRAL)?;
    // 256 connection slots: fewer than the attackers, so the edge has to make room.
    let daemon = Daemon::spawn_with_env(Kind::Edge, config, &[("TOTE_EDGE__HTTP__MAX_CONNECTIONS_PER_CLIENT", CAP_64)])?;
    health_under_slow_connections("edge", daemon.addr).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn central_health_answers_while_a_thousand_slow_connections_are_open() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let central = Central::start_with_env(dir.path(), Backend::Sqlite, 600_000, &[("TOTE_CENTRAL__HTTP__MAX_CONNECTIONS_PER_CLIENT", CAP_64)])?;
    let addr = lock(&central.daemon).addr;
    health_under_slow_connections("central", addr).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn central_closes_a_slow_header_connection_at_the_header_read_timeout() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let central = Central::start_with_env(dir.path(), Backend::Sqlite, 600_000, &[("TOTE_CENTRAL__HTTP__HEADER_READ_TIMEOUT_MS", "300")])?;
    let addr = lock(&central.daemon).addr;
    let mut slow = connect_from(Ipv4Addr::LOCALHOST, addr).await?;
    slow.write_all(b"GET /health HTTP/1.1\r\nHo").await?;
    ensure!(closed_by_server(&mut slow).await, "central kept a connection that never finished its headers");
    let mut idle = connect_from(Ipv4Addr::LOCALHOST, addr).await?;
    ensure!(closed_by_server(&mut idle).await, "central kept a connection that sent nothing");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_closes_connections_beyond_the_per_client_cap_and_serves_others() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let config = edge_config(dir.path(), "SH-01", NO_CENTRAL)?;
    let daemon = Daemon::spawn_with_env(Kind::Edge, config, &[("TOTE_EDGE__HTTP__MAX_CONNECTIONS_PER_CLIENT", "4")])?;
    let greedy = Ipv4Addr::new(127, 0, 0, 2);
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(connect_from(greedy, daemon.addr).await?);
    }
    // Accepted in order: the first four take the address's share, the fifth is closed.
    let mut fifth = connect_from(greedy, daemon.addr).await?;
    ensure!(closed_by_server(&mut fifth).await, "the edge kept a fifth connection from one address");
    let (status, _) = health(daemon.addr).await?;
    ensure!(status == "HTTP/1.1 200 OK", "another address is still served: {status}");
    Ok(())
}
