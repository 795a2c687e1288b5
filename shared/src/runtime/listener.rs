//! The HTTP front door both daemons serve through: accepts TCP connections and drives each
//! with hyper's HTTP/1 server, under connection limits a slow or greedy client cannot get round.
//!
//! - At most `max_connections` connections are open at once. When they are all taken, a new
//!   connection makes room by closing the oldest one that has no request in flight (an idle
//!   keep-alive connection, or one still dribbling its headers; a request is in flight until
//!   its response body is written, so event streams are kept); only when every connection is
//!   busy does the newcomer wait, in the kernel backlog.
//! - One client address holds at most `max_connections_per_client`; more are closed at once.
//! - Request headers must arrive within `header_read_timeout`, and a connection on which no
//!   byte moves for `idle_timeout` is closed, so slow clients give their slots back.
//!
//! It is not where request limits live (body size, requests in flight, authorisation): those
//! are tower layers in each daemon's `http/`. `axum::serve` is not used because it offers no
//! header-read timeout.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use super::settings::HttpSettings;

/// How many connections, from whom, for how long, and whether they speak TLS.
#[derive(Clone)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub max_connections_per_client: usize,
    /// Also bounds the TLS handshake, which comes before the headers.
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    /// HTTPS when set.
    pub tls: Option<TlsAcceptor>,
}

impl ConnectionLimits {
    /// The limits `http` configures, with its certificate loaded when it serves HTTPS.
    pub fn for_http(http: &HttpSettings) -> Result<Self, super::tls::TlsError> {
        Ok(ConnectionLimits {
            max_connections: http.max_connections,
            max_connections_per_client: http.max_connections_per_client,
            header_read_timeout: Duration::from_millis(http.header_read_timeout_ms),
            idle_timeout: Duration::from_millis(http.idle_timeout_ms),
            tls: super::tls::acceptor(http.tls.as_ref(), &[b"http/1.1"])?,
        })
    }
}

/// The open connections: global slots, counts per client address, and which connections
/// could be closed to make room.
struct Registry {
    slots: Arc<Semaphore>,
    max_per_client: usize,
    state: Mutex<RegistryState>,
}

#[derive(Default)]
struct RegistryState {
    next_id: u64,
    per_client: HashMap<IpAddr, usize>,
    /// Keyed by accept order, so the first entry is the oldest connection.
    open: BTreeMap<u64, Tracked>,
}

struct Tracked {
    requests_in_flight: Arc<AtomicUsize>,
    evict: Arc<Notify>,
    evicted: Arc<AtomicBool>,
}

impl Registry {
    fn state(&self) -> MutexGuard<'_, RegistryState> {
        // The state is only counts and maps updated in single steps: still consistent after a
        // panic elsewhere.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Counts a connection from `ip`, or None when that client already holds its share.
    fn admit_client(self: &Arc<Self>, ip: IpAddr) -> Option<ClientShare> {
        let mut state = self.state();
        let held = state.per_client.entry(ip).or_insert(0);
        if *held >= self.max_per_client {
            return None;
        }
        *held += 1;
        Some(ClientShare {
            registry: self.clone(),
            ip,
        })
    }

    /// Asks the oldest connection with no request in flight to close; false if there is none.
    fn evict_oldest_idle(&self) -> bool {
        let state = self.state();
        let candidate = state.open.values().find(|tracked| {
            tracked.requests_in_flight.load(Ordering::Acquire) == 0
                && !tracked.evicted.load(Ordering::Acquire)
        });
        match candidate {
            Some(tracked) => {
                tracked.evicted.store(true, Ordering::Release);
                tracked.evict.notify_one();
                true
            }
            None => false,
        }
    }

    fn track(self: &Arc<Self>, client: ClientShare, slot: OwnedSemaphorePermit) -> Admission {
        let tracked = Tracked {
            requests_in_flight: Arc::new(AtomicUsize::new(0)),
            evict: Arc::new(Notify::new()),
            evicted: Arc::new(AtomicBool::new(false)),
        };
        let requests_in_flight = tracked.requests_in_flight.clone();
        let evict = tracked.evict.clone();
        let mut state = self.state();
        let id = state.next_id;
        state.next_id += 1;
        state.open.insert(id, tracked);
        drop(state);
        Admission {
            id,
            requests_in_flight,
            evict,
            _client: client,
            _slot: slot,
        }
    }
}

/// One client address's count of a connection, given back when dropped.
struct ClientShare {
    registry: Arc<Registry>,
    ip: IpAddr,
}

impl Drop for ClientShare {
    fn drop(&mut self) {
        let mut state = self.registry.state();
        if let Some(held) = state.per_client.get_mut(&self.ip) {
            *held -= 1;
            if *held == 0 {
                state.per_client.remove(&self.ip);
            }
        }
    }
}

/// An open connection's place in the registry: its global slot, its client's count, and its
/// entry among the evictable; all given back when dropped.
struct Admission {
    id: u64,
    requests_in_flight: Arc<AtomicUsize>,
    evict: Arc<Notify>,
    _client: ClientShare,
    _slot: OwnedSemaphorePermit,
}

impl Drop for Admission {
    fn drop(&mut self) {
        self._client.registry.state().open.remove(&self.id);
    }
}

/// Marks a request in flight on its connection for as long as it lives.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn enter(counter: &Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::AcqRel);
        InFlight(counter.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its request counted as in flight until hyper drops it, written.
struct AnsweringBody {
    body: axum::body::Body,
    _in_flight: InFlight,
}

impl hyper::body::Body for AnsweringBody {
    type Data = hyper::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// When a byte last moved on a connection, in milliseconds after `opened`.
struct Activity {
    opened: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn touch(&self) {
        let ms = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.opened + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }

    /// Resolves once no byte has moved for `idle`.
    async fn idle_for(&self, idle: Duration) {
        loop {
            let deadline = self.last() + idle;
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

/// A TCP stream that notes when bytes move on it.
struct WatchedStream {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for WatchedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for WatchedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(written)) if written > 0) {
            self.activity.touch();
        }
        polled
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Accepts the next connection that may be served: its client is under its cap and a global
/// slot is free (made free, if need be, by closing the oldest idle connection).
async fn admit(
    listener: &TcpListener,
    registry: &Arc<Registry>,
) -> (TcpStream, SocketAddr, Admission) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors and similar: back off instead of spinning.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(client) = registry.admit_client(peer.ip().to_canonical()) else {
            tracing::debug!(%peer, "client holds its share of connections; closing");
            continue;
        };
        let slot = match registry.slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => loop {
                registry.evict_oldest_idle();
                // An evicted connection gives its slot back within a scheduler turn; if every
                // connection was busy, look again shortly rather than wait for one to end.
                match tokio::time::timeout(
                    Duration::from_millis(100),
                    registry.slots.clone().acquire_owned(),
                )
                .await
                {
                    Ok(Ok(slot)) => break slot,
                    Ok(Err(_closed)) => std::future::pending::<()>().await,
                    Err(_elapsed) => {}
                }
            },
        };
        let _ = stream.set_nodelay(true);
        return (stream, peer, registry.track(client, slot));
    }
}

/// Serves `router` on `listener` within `limits`, tells systemd we are ready, and drains
/// gracefully on SIGINT/SIGTERM or when `stop` resolves: no new connections, idle ones closed,
/// requests in flight answered.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    limits: ConnectionLimits,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    super::system::notify_ready();
    serve_until(listener, router, limits, async move {
        tokio::select! {
            _ = super::system::shutdown_signal() => {}
            _ = stop => tracing::info!("stop requested"),
        }
    })
    .await
}

/// `serve` without the daemon's part (no signals, no systemd): until `stop` resolves, then
/// drains. For servers inside another program (the simulator's peers) and tests.
pub async fn serve_until(
    listener: TcpListener,
    router: axum::Router,
    limits: ConnectionLimits,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let registry = Arc::new(Registry {
        slots: Arc::new(Semaphore::new(limits.max_connections.max(1))),
        max_per_client: limits.max_connections_per_client.max(1),
        state: Mutex::new(RegistryState::default()),
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    tokio::pin!(stop);
    loop {
        let (stream, peer, admission) = tokio::select! {
            admitted = admit(&listener, &registry) => admitted,
            () = &mut stop => break,
        };
        let activity = Arc::new(Activity {
            opened: Instant::now(),
            last_ms: AtomicU64::new(0),
        });
        let stream = WatchedStream {
            stream,
            activity: activity.clone(),
        };
        let router = router.clone();
        let requests_in_flight = admission.requests_in_flight.clone();
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let in_flight = InFlight::enter(&requests_in_flight);
            let mut request = request.map(axum::body::Body::new);
            // Who is at the other end, for handlers that record it (`ConnectInfo`).
            request
                .extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
            let answer = tower::ServiceExt::oneshot(router.clone(), request);
            async move {
                let response = answer.await?;
                // In flight until the last byte of the body is written (a stream lasts long).
                Ok::<_, std::convert::Infallible>(response.map(|body| AnsweringBody {
                    body,
                    _in_flight: in_flight,
                }))
            }
        });
        let (idle_timeout, handshake_timeout, tls) = (
            limits.idle_timeout,
            limits.header_read_timeout,
            limits.tls.clone(),
        );
        let (http, watcher) = (http.clone(), graceful.watcher());
        tokio::spawn(async move {
            let evict = admission.evict.clone();
            let served = async move {
                match tls {
                    None => {
                        watcher
                            .watch(http.serve_connection(TokioIo::new(stream), service))
                            .await
                    }
                    Some(tls) => {
                        match tokio::time::timeout(handshake_timeout, tls.accept(stream)).await {
                            Ok(Ok(stream)) => {
                                watcher
                                    .watch(http.serve_connection(TokioIo::new(stream), service))
                                    .await
                            }
                            Ok(Err(error)) => {
                                tracing::debug!(%peer, %error, "TLS handshake failed");
                                Ok(())
                            }
                            Err(_) => {
                                tracing::debug!(%peer, "TLS handshake too slow; closed");
                                Ok(())
                            }
                        }
                    }
                }
            };
            tokio::select! {
                served = served => {
                    if let Err(error) = served {
                        tracing::debug!(%peer, %error, "connection ended with an error");
                    }
                }
                () = evict.notified() => tracing::debug!(%peer, "closed the oldest idle connection to make room"),
                () = activity.idle_for(idle_timeout) => tracing::debug!(%peer, "closed an idle connection"),
            }
            drop(admission);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Why a supervised daemon stopped serving.
#[derive(Debug, thiserror::Error)]
pub enum Stopped {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error(transparent)]
    TaskFailed(#[from] super::supervise::TaskFailed),
}

/// `serve`, beside a supervisor: until SIGINT/SIGTERM or `stop` (then `Ok`), or until one of
/// its tasks fails for good (then `Err` naming it, for a non-zero exit). Either way HTTP
/// drains first — a failed daemon stops answering at once, so `/health` never reports a
/// daemon whose task is gone — and the tasks then get `deadline` to stop.
pub async fn serve_supervised(
    listener: TcpListener,
    router: axum::Router,
    limits: ConnectionLimits,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
    supervisor: super::supervise::Supervisor,
    deadline: Duration,
) -> Result<(), Stopped> {
    let (halt, halted) = tokio::sync::oneshot::channel::<()>();
    let server = serve(listener, router, limits, async move {
        tokio::select! {
            () = stop => {}
            _ = halted => {}
        }
    });
    tokio::pin!(server);
    let outcome = tokio::select! {
        served = &mut server => Ok(served),
        failure = supervisor.failed() => Err(failure),
    };
    let result = match outcome {
        Ok(served) => served.map_err(Stopped::from),
        Err(failure) => {
            let _ = halt.send(());
            if tokio::time::timeout(deadline, &mut server).await.is_err() {
                tracing::warn!("HTTP connections still open after {deadline:?}; closing them");
            }
            Err(Stopped::from(failure))
        }
    };
    supervisor.shutdown(deadline).await;
    result
}

#[cfg(test)]
mod tests {
    //! Slow and greedy clients against `serve` with a one-route router. Deadlines here are
    //! generous bounds on waiting for an event, not timing assertions.

    use super::*;
    use std::net::Ipv4Addr;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpSocket;

    /// Far longer than anything here should take; only a hung server reaches it.
    const PATIENCE: Duration = Duration::from_secs(5);

    fn limits(max_connections: usize, max_connections_per_client: usize) -> ConnectionLimits {
        ConnectionLimits {
            max_connections,
            max_connections_per_client,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            tls: None,
        }
    }

    /// Serves a router with `GET /health` and `POST /echo` until the returned sender is dropped.
    async fn start(limits: ConnectionLimits) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
        let router = axum::Router::new()
            .route("/health", axum::routing::get(|| async { "ok" }))
            .route(
                "/echo",
                axum::routing::post(|body: String| async move { body }),
            );
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(serve_until(listener, router, limits, async move {
            let _ = stopped.await;
        }));
        (addr, stop)
    }

    /// A connection from `source` (127.0.0.x: Linux routes the whole of 127/8 on loopback).
    async fn connect_from(source: Ipv4Addr, addr: SocketAddr) -> TcpStream {
        let socket = TcpSocket::new_v4().expect("socket");
        socket
            .bind(SocketAddr::from((source, 0)))
            .expect("bind source");
        socket.connect(addr).await.expect("connect")
    }

    /// `GET /health` on a new connection from 127.0.0.1: the status line, and how long it took.
    async fn health(addr: SocketAddr) -> (String, Duration) {
        let started = std::time::Instant::now();
        let mut stream = connect_from(Ipv4Addr::LOCALHOST, addr).await;
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: tote\r\nConnection: close\r\n\r\n")
            .await
            .expect("send");
        let mut answer = String::new();
        tokio::time::timeout(PATIENCE, stream.read_to_string(&mut answer))
            .await
            .expect("/health answered")
            .expect("read /health");
        let status = answer.lines().next().unwrap_or_default().to_owned();
        (status, started.elapsed())
    }

    /// Waits until the server closes `stream` (EOF or reset); false if it is still open at PATIENCE.
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

    /// Half send an unfinished request head, half send nothing: the slowloris mix.
    async fn open_slow_connections(
        addr: SocketAddr,
        count: usize,
        per_source: usize,
    ) -> Vec<TcpStream> {
        let mut slow = Vec::with_capacity(count);
        for k in 0..count {
            let source = Ipv4Addr::new(
                127,
                0,
                0,
                2 + u8::try_from(k / per_source).expect("fewer than 250 sources"),
            );
            let mut stream = connect_from(source, addr).await;
            if k % 2 == 0 {
                // Writes may fail once the server has closed it; the attacker does not care.
                let _ = stream.write_all(b"GET /health HTTP/1.1\r\nHost: t").await;
            }
            slow.push(stream);
        }
        slow
    }

    // Postmortem (issue 11, finding 3): axum::serve had no header-read timeout, so 512 (edge)
    // or 2,048 (central) connections that never finished their headers held every slot for
    // good and `/health` timed out.
    #[tokio::test]
    async fn health_answers_while_a_thousand_slow_connections_are_open() {
        // Fewer slots than slow clients: the server must make room rather than queue /health.
        let (addr, _stop) = start(limits(256, 64)).await;
        let slow = open_slow_connections(addr, 1000, 50).await;
        let (status, latency) = health(addr).await;
        println!(
            "/health with {} slow connections open: {latency:?}",
            slow.len()
        );
        assert_eq!(status, "HTTP/1.1 200 OK");
    }

    #[tokio::test]
    async fn a_slow_header_connection_is_closed_at_the_header_read_timeout() {
        let (addr, _stop) = start(ConnectionLimits {
            header_read_timeout: Duration::from_millis(300),
            ..limits(16, 16)
        })
        .await;
        let mut slow = connect_from(Ipv4Addr::LOCALHOST, addr).await;
        slow.write_all(b"GET /health HTTP/1.1\r\nHo")
            .await
            .expect("send part of a head");
        assert!(
            closed_by_server(&mut slow).await,
            "a connection that never finishes its headers is closed"
        );
        let mut idle = connect_from(Ipv4Addr::LOCALHOST, addr).await;
        assert!(
            closed_by_server(&mut idle).await,
            "a connection that sends nothing is closed too"
        );
    }

    #[tokio::test]
    async fn a_stalled_request_body_is_closed_after_the_idle_timeout() {
        let (addr, _stop) = start(ConnectionLimits {
            idle_timeout: Duration::from_millis(300),
            ..limits(16, 16)
        })
        .await;
        let mut stalled = connect_from(Ipv4Addr::LOCALHOST, addr).await;
        stalled
            .write_all(b"POST /echo HTTP/1.1\r\nHost: tote\r\nContent-Length: 100\r\n\r\nonly part")
            .await
            .expect("send a head and part of the body");
        assert!(
            closed_by_server(&mut stalled).await,
            "a body that stops arriving ends the connection"
        );
    }

    #[tokio::test]
    async fn connections_beyond_the_per_client_cap_are_closed_while_others_are_served() {
        let (addr, _stop) = start(limits(64, 4)).await;
        let greedy = Ipv4Addr::new(127, 0, 0, 2);
        let mut held = Vec::new();
        for _ in 0..4 {
            held.push(connect_from(greedy, addr).await);
        }
        // Accepted in order: the first four take the client's share, the fifth is refused.
        let mut fifth = connect_from(greedy, addr).await;
        assert!(
            closed_by_server(&mut fifth).await,
            "the fifth connection from one address is closed"
        );
        let (status, _) = health(addr).await;
        assert_eq!(status, "HTTP/1.1 200 OK", "another client is still served");
        // The four held ones are still open and usable.
        let first = &mut held[0];
        first
            .write_all(b"GET /health HTTP/1.1\r\nHost: tote\r\nConnection: close\r\n\r\n")
            .await
            .expect("send");
        let mut answer = String::new();
        tokio::time::timeout(PATIENCE, first.read_to_string(&mut answer))
            .await
            .expect("answered")
            .expect("read");
        assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    }

    #[tokio::test]
    async fn a_full_server_closes_its_oldest_idle_connection_for_a_newcomer() {
        let (addr, _stop) = start(limits(2, 8)).await;
        let mut oldest = connect_from(Ipv4Addr::new(127, 0, 0, 2), addr).await;
        let _newer = connect_from(Ipv4Addr::new(127, 0, 0, 3), addr).await;
        let (status, _) = health(addr).await;
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert!(
            closed_by_server(&mut oldest).await,
            "the oldest idle connection made room"
        );
    }

    /// A response body that sends one chunk and then never ends (an event stream).
    struct Endless {
        sent: bool,
    }

    impl hyper::body::Body for Endless {
        type Data = hyper::body::Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
            if self.sent {
                return Poll::Pending;
            }
            self.sent = true;
            Poll::Ready(Some(Ok(hyper::body::Frame::data(
                hyper::body::Bytes::from_static(b"first"),
            ))))
        }
    }

    #[tokio::test]
    async fn a_full_server_keeps_a_connection_still_streaming_its_response() {
        let router = axum::Router::new()
            .route("/health", axum::routing::get(|| async { "ok" }))
            .route(
                "/stream",
                axum::routing::get(|| async { axum::body::Body::new(Endless { sent: false }) }),
            );
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(serve_until(
            listener,
            router,
            limits(2, 8),
            std::future::pending(),
        ));
        let mut streaming = connect_from(Ipv4Addr::new(127, 0, 0, 2), addr).await;
        streaming
            .write_all(b"GET /stream HTTP/1.1\r\nHost: tote\r\n\r\n")
            .await
            .expect("send");
        let mut seen = Vec::new();
        let first_chunk = async {
            let mut buf = [0u8; 1024];
            while !String::from_utf8_lossy(&seen).contains("first") {
                let read = streaming.read(&mut buf).await.expect("read the stream");
                assert!(read > 0, "the stream ended early");
                seen.extend_from_slice(&buf[..read]);
            }
        };
        tokio::time::timeout(PATIENCE, first_chunk)
            .await
            .expect("the stream started");
        let mut idle = connect_from(Ipv4Addr::new(127, 0, 0, 3), addr).await;
        let (status, _) = health(addr).await;
        assert_eq!(status, "HTTP/1.1 200 OK");
        // The streaming connection is the oldest; had it been taken for idle, this one would stay.
        assert!(
            closed_by_server(&mut idle).await,
            "the idle connection, not the streaming one, made room"
        );
    }

    #[tokio::test]
    async fn stop_drains_and_serve_returns() {
        let router = axum::Router::new().route("/health", axum::routing::get(|| async { "ok" }));
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve_until(listener, router, limits(8, 8), async move {
            let _ = stopped.await;
        }));
        let mut idle = connect_from(Ipv4Addr::LOCALHOST, addr).await;
        let (status, _) = health(addr).await;
        assert_eq!(status, "HTTP/1.1 200 OK");
        drop(stop);
        tokio::time::timeout(PATIENCE, server)
            .await
            .expect("serve returned")
            .expect("no panic")
            .expect("no error");
        assert!(
            closed_by_server(&mut idle).await,
            "idle connections are closed on stop"
        );
    }
}
