//! A TCP proxy that misbehaves on purpose, between real processes (issue 20): it plays the
//! network between an edge and central. Every chunk is delayed by `latency` (pipelined: a
//! delay, not a throughput cut) and paced to `bytes_per_sec`; each request on a connection
//! (the first bytes after an answer, so keep-alive connections are hit too) may be reset
//! before it reaches the server (the request is lost) or after it did, as its answer starts
//! (the answer is lost, the work was done); a share of new connections are black holes that
//! take bytes and never answer (half-open); and every `reset_every` all open connections are
//! reset. Faults are drawn from one seeded RNG; which request meets which fault depends on
//! timing, so tests assert outcomes, not the faults' order.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// What the proxy does to the traffic.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Added to every chunk, each way.
    pub latency: Duration,
    /// Each way, per connection; None: as fast as the sockets go.
    pub bytes_per_sec: Option<u64>,
    /// Of requests: half reset before reaching the server, half reset as their answer starts.
    pub drop_percent: u32,
    /// Of new connections: accepted, read, never forwarded nor answered.
    pub black_hole_percent: u32,
    /// Every open connection is reset this often.
    pub reset_every: Option<Duration>,
}

impl Faults {
    /// A clean pipe.
    pub fn none() -> Faults {
        Faults::default()
    }
}

/// What the proxy did, so a test can tell its faults were met.
#[derive(Debug, Default)]
pub struct ProxyStats {
    pub connections: AtomicU64,
    pub requests: AtomicU64,
    pub requests_lost: AtomicU64,
    pub answers_lost: AtomicU64,
    pub black_holes: AtomicU64,
    pub resets: AtomicU64,
}

impl ProxyStats {
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

impl std::fmt::Display for ProxyStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let g = ProxyStats::get;
        write!(
            f,
            "{} connections, {} requests: {} lost on the way in, {} answers lost; {} black holes; {} connections reset by the periodic reset",
            g(&self.connections), g(&self.requests), g(&self.requests_lost), g(&self.answers_lost), g(&self.black_holes), g(&self.resets)
        )
    }
}

struct Shared {
    upstream: SocketAddr,
    faults: Mutex<Faults>,
    rng: Mutex<StdRng>,
    stats: ProxyStats,
}

impl Shared {
    fn faults(&self) -> Faults {
        self.faults.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn roll(&self) -> u32 {
        self.rng.lock().unwrap_or_else(|p| p.into_inner()).gen_range(0..100)
    }
}

pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

impl FaultProxy {
    /// Listens on a free loopback port and forwards to `upstream` with `faults`.
    pub async fn start(upstream: SocketAddr, faults: Faults, seed: u64) -> std::io::Result<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let reset_every = faults.reset_every;
        let shared = Arc::new(Shared { upstream, faults: Mutex::new(faults), rng: Mutex::new(StdRng::seed_from_u64(seed)), stats: ProxyStats::default() });
        let (generation, _) = watch::channel(0u64);
        let generation = Arc::new(generation);
        let mut tasks = vec![tokio::spawn(accept(listener, shared.clone(), generation.clone()))];
        if let Some(every) = reset_every {
            tasks.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval_at(Instant::now() + every, every);
                loop {
                    tick.tick().await;
                    generation.send_modify(|g| *g += 1);
                }
            }));
        }
        Ok(FaultProxy { addr, shared, tasks })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn stats(&self) -> &ProxyStats {
        &self.shared.stats
    }

    /// New faults for new connections and requests from now on (the periodic reset keeps its
    /// period).
    pub fn set_faults(&self, faults: Faults) {
        *self.shared.faults.lock().unwrap_or_else(|p| p.into_inner()) = faults;
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

async fn accept(listener: TcpListener, shared: Arc<Shared>, generation: Arc<watch::Sender<u64>>) {
    loop {
        let client = match listener.accept().await {
            Ok((client, _)) => client,
            Err(error) => {
                // Out of descriptors and the like: do not spin on it.
                tracing::warn!(%error, "fault proxy: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        ProxyStats::bump(&shared.stats.connections);
        let shared = shared.clone();
        let reset = generation.subscribe();
        tokio::spawn(async move {
            if shared.roll() < shared.faults().black_hole_percent {
                ProxyStats::bump(&shared.stats.black_holes);
                black_hole(client, reset).await;
            } else if let Ok(upstream) = TcpStream::connect(shared.upstream).await {
                forward(client, upstream, &shared, reset).await;
            }
        });
    }
}

/// Takes what the client sends and never answers, until the client gives up or the periodic
/// reset comes.
async fn black_hole(mut client: TcpStream, mut reset: watch::Receiver<u64>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        tokio::select! {
            read = client.read(&mut buf) => if !matches!(read, Ok(n) if n > 0) { return },
            _ = reset.changed() => return reset_now(&client, None),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Both sides closed in their own time.
    Closed,
    /// A fault: both connections are reset.
    Reset,
}

async fn forward(mut client: TcpStream, mut upstream: TcpStream, shared: &Shared, mut reset: watch::Receiver<u64>) {
    let _ = (client.set_nodelay(true), upstream.set_nodelay(true));
    // Set by an answer: the client's next bytes start a new request. Set when a request is
    // to lose its answer.
    let (new_request, lose_answer) = (AtomicBool::new(true), AtomicBool::new(false));
    let end = {
        let (client_in, client_out) = client.split();
        let (upstream_in, upstream_out) = upstream.split();
        let up = pump(client_in, upstream_out, shared, |_| {
            if !new_request.swap(false, Ordering::Relaxed) {
                return true;
            }
            ProxyStats::bump(&shared.stats.requests);
            let faults = shared.faults();
            let roll = shared.roll();
            if roll < faults.drop_percent / 2 {
                ProxyStats::bump(&shared.stats.requests_lost);
                return false;
            }
            lose_answer.store(roll < faults.drop_percent, Ordering::Relaxed);
            true
        });
        let down = pump(upstream_in, client_out, shared, |_| {
            if lose_answer.swap(false, Ordering::Relaxed) {
                ProxyStats::bump(&shared.stats.answers_lost);
                return false;
            }
            new_request.store(true, Ordering::Relaxed);
            true
        });
        tokio::pin!(up, down);
        let (mut up_done, mut down_done) = (false, false);
        // A reset either way ends both at once (the other way may wait forever for an answer
        // to a request that never went through).
        loop {
            tokio::select! {
                end = &mut up, if !up_done => if end == End::Reset { break End::Reset } else { up_done = true },
                end = &mut down, if !down_done => if end == End::Reset { break End::Reset } else { down_done = true },
                _ = reset.changed() => {
                    ProxyStats::bump(&shared.stats.resets);
                    break End::Reset;
                }
            }
            if up_done && down_done {
                break End::Closed;
            }
        }
    };
    if end == End::Reset {
        reset_now(&client, Some(&upstream));
    }
}

/// Closes with RST rather than FIN: what a crashed middlebox or a dropped NAT entry looks like.
fn reset_now(client: &TcpStream, upstream: Option<&TcpStream>) {
    let _ = client.set_zero_linger();
    if let Some(upstream) = upstream {
        let _ = upstream.set_zero_linger();
    }
}

/// Copies one way, each chunk held back the latency in force when it was read and paced to the
/// bandwidth; `admit` sees each chunk first and may call for a reset instead. Faults are read
/// per chunk, so `set_faults` reaches connections already open.
async fn pump(mut from: ReadHalf<'_>, mut to: WriteHalf<'_>, shared: &Shared, mut admit: impl FnMut(&[u8]) -> bool) -> End {
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(64);
    let read = async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match from.read(&mut buf).await {
                Ok(0) => return End::Closed,
                // A peer's reset is passed on as a reset, not turned into a clean close.
                Err(_) => return End::Reset,
                Ok(n) => {
                    if !admit(&buf[..n]) {
                        return End::Reset;
                    }
                    if tx.send((Instant::now() + shared.faults().latency, buf[..n].to_vec())).await.is_err() {
                        return End::Closed;
                    }
                }
            }
        }
    };
    let write = async move {
        while let Some((due, chunk)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
            if let Some(rate) = shared.faults().bytes_per_sec.filter(|r| *r > 0) {
                tokio::time::sleep(Duration::from_micros(chunk.len() as u64 * 1_000_000 / rate)).await;
            }
        }
        let _ = to.shutdown().await;
    };
    // A reset ends the copy at once; a close lets what was read drain first.
    tokio::pin!(write);
    tokio::select! {
        end = read => {
            if end == End::Reset {
                return End::Reset;
            }
            write.await;
            End::Closed
        }
        () = &mut write => End::Closed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    async fn ask(addr: SocketAddr, text: &[u8]) -> std::io::Result<Vec<u8>> {
        let mut s = TcpStream::connect(addr).await?;
        s.write_all(text).await?;
        let mut buf = vec![0u8; text.len()];
        s.read_exact(&mut buf).await?;
        Ok(buf)
    }

    #[tokio::test]
    async fn a_clean_proxy_passes_bytes_and_latency_delays_them() {
        let proxy = FaultProxy::start(echo_server().await, Faults { latency: Duration::from_millis(40), ..Faults::none() }, 1).await.expect("proxy");
        let started = Instant::now();
        assert_eq!(ask(proxy.addr(), b"ping").await.expect("echo"), b"ping");
        assert!(started.elapsed() >= Duration::from_millis(80), "40 ms each way");
        assert_eq!(ProxyStats::get(&proxy.stats().requests), 1);
    }

    #[tokio::test]
    async fn dropped_requests_and_answers_reset_the_connection() {
        let proxy = FaultProxy::start(echo_server().await, Faults { drop_percent: 100, ..Faults::none() }, 7).await.expect("proxy");
        for _ in 0..20 {
            assert!(ask(proxy.addr(), b"ping").await.is_err(), "every request meets a fault");
        }
        let stats = proxy.stats();
        let (lost, answers) = (ProxyStats::get(&stats.requests_lost), ProxyStats::get(&stats.answers_lost));
        assert_eq!(lost + answers, 20);
        assert!(lost > 0 && answers > 0, "both kinds: {stats}");
    }

    #[tokio::test]
    async fn a_black_hole_never_answers() {
        let proxy = FaultProxy::start(echo_server().await, Faults { black_hole_percent: 100, ..Faults::none() }, 3).await.expect("proxy");
        let asked = tokio::time::timeout(Duration::from_millis(300), ask(proxy.addr(), b"ping")).await;
        assert!(asked.is_err(), "no answer within 300 ms: {asked:?}");
    }

    #[tokio::test]
    async fn the_periodic_reset_cuts_open_connections() {
        let proxy = FaultProxy::start(echo_server().await, Faults { reset_every: Some(Duration::from_millis(500)), ..Faults::none() }, 5).await.expect("proxy");
        let mut s = TcpStream::connect(proxy.addr()).await.expect("connect");
        s.write_all(b"a").await.expect("write");
        let mut buf = [0u8; 1];
        s.read_exact(&mut buf).await.expect("echo");
        // Idle until the reset: the next read sees the connection gone.
        let gone = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await.expect("reset within 5 s");
        assert!(matches!(gone, Ok(0) | Err(_)), "{gone:?}");
        assert!(ProxyStats::get(&proxy.stats().resets) >= 1);
    }
}
