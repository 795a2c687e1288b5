//! A Modbus TCP device (tokio-modbus server) with plain memory behind it: coils, discrete
//! inputs, holding and input registers. The simulated station PLCs and Modbus robots put
//! their behaviour on top; tests and `mbpoll` read and write it like any PLC.
//!
//! Faults on demand: `Unreachable` (connections are dropped and new ones closed at once),
//! `Exception` (every request answered with a Modbus exception), `Slow` (every answer late).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_modbus::server::tcp::Server;
use tokio_modbus::{ExceptionCode, Request, Response, SlaveRequest};

/// Size of each table (addresses 0 to SIZE - 1).
pub const SIZE: usize = 256;
/// Connections served at once.
const MAX_CONNECTIONS: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Unreachable,
    Exception(u8),
    Slow(Duration),
}

#[derive(Debug, Clone)]
pub struct Memory {
    pub coils: Vec<bool>,
    pub discrete: Vec<bool>,
    pub holding: Vec<u16>,
    pub input: Vec<u16>,
}

impl Default for Memory {
    fn default() -> Self {
        Memory { coils: vec![false; SIZE], discrete: vec![false; SIZE], holding: vec![0; SIZE], input: vec![0; SIZE] }
    }
}

#[derive(Default)]
struct State {
    memory: Memory,
    fault: Option<Fault>,
}

/// A running device. Dropping it does not stop it; `stop` does.
#[derive(Clone)]
pub struct Device {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    /// Bumped to drop every open connection.
    generation: Arc<AtomicU64>,
    task: Arc<tokio::task::JoinHandle<()>>,
    changed: Arc<tokio::sync::Notify>,
}

impl Device {
    pub async fn start(listen: SocketAddr) -> io::Result<Device> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State::default()));
        let generation = Arc::new(AtomicU64::new(0));
        let changed = Arc::new(tokio::sync::Notify::new());
        let open = Arc::new(AtomicU64::new(0));
        let service_state = (state.clone(), generation.clone(), changed.clone(), open);
        let task = tokio::spawn(async move {
            let server = Server::new(listener);
            let on_connected = |stream: TcpStream, _peer: SocketAddr| {
                let (state, generation, changed, open) = service_state.clone();
                async move {
                    let refused = lock(&state).fault == Some(Fault::Unreachable);
                    if refused || open.load(Ordering::SeqCst) as usize >= MAX_CONNECTIONS {
                        return Ok(None);
                    }
                    open.fetch_add(1, Ordering::SeqCst);
                    let stream = Killable { inner: stream, mine: generation.load(Ordering::SeqCst), generation: generation.clone(), open: open.clone() };
                    Ok(Some((Service { state, changed }, stream)))
                }
            };
            if let Err(error) = server.serve(&on_connected, |_error| {}).await {
                tracing::warn!(%error, "Modbus device stopped accepting");
            }
        });
        Ok(Device { addr, state, generation, task: Arc::new(task), changed })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn stop(&self) {
        self.task.abort();
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Sets or clears a fault; `Unreachable` also drops every open connection.
    pub fn set_fault(&self, fault: Option<Fault>) {
        lock(&self.state).fault = fault;
        if fault == Some(Fault::Unreachable) {
            self.generation.fetch_add(1, Ordering::SeqCst);
        }
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut Memory) -> T) -> T {
        f(&mut lock(&self.state).memory)
    }

    /// Waits until a client sends a request (or `timeout`).
    pub async fn written(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.changed.notified()).await;
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

struct Service {
    state: Arc<Mutex<State>>,
    changed: Arc<tokio::sync::Notify>,
}

type Answer = Result<Response, ExceptionCode>;

impl tokio_modbus::server::Service for Service {
    type Request = SlaveRequest<'static>;
    type Response = Response;
    type Exception = ExceptionCode;
    type Future = Pin<Box<dyn Future<Output = Answer> + Send>>;

    fn call(&self, req: Self::Request) -> Self::Future {
        let (answer, delay) = {
            let mut state = lock(&self.state);
            match state.fault {
                Some(Fault::Exception(code)) => (Err(ExceptionCode::new(code)), None),
                fault => {
                    let delay = match fault {
                        Some(Fault::Slow(d)) => Some(d),
                        _ => None,
                    };
                    (apply(&mut state, req.request), delay)
                }
            }
        };
        self.changed.notify_waiters();
        Box::pin(async move {
            if let Some(d) = delay {
                tokio::time::sleep(d).await;
            }
            answer
        })
    }
}

fn span(start: u16, count: usize) -> Result<std::ops::Range<usize>, ExceptionCode> {
    let start = usize::from(start);
    if count == 0 || start + count > SIZE {
        return Err(ExceptionCode::IllegalDataAddress);
    }
    Ok(start..start + count)
}

fn apply(state: &mut State, request: Request<'_>) -> Answer {
    let m = &mut state.memory;
    Ok(match request {
        Request::ReadCoils(a, n) => Response::ReadCoils(m.coils[span(a, n.into())?].to_vec()),
        Request::ReadDiscreteInputs(a, n) => Response::ReadDiscreteInputs(m.discrete[span(a, n.into())?].to_vec()),
        Request::ReadHoldingRegisters(a, n) => Response::ReadHoldingRegisters(m.holding[span(a, n.into())?].to_vec()),
        Request::ReadInputRegisters(a, n) => Response::ReadInputRegisters(m.input[span(a, n.into())?].to_vec()),
        Request::WriteSingleCoil(a, v) => {
            m.coils[span(a, 1)?.start] = v;
            Response::WriteSingleCoil(a, v)
        }
        Request::WriteMultipleCoils(a, values) => {
            let range = span(a, values.len())?;
            m.coils[range].copy_from_slice(&values);
            Response::WriteMultipleCoils(a, values.len() as u16)
        }
        Request::WriteSingleRegister(a, v) => {
            m.holding[span(a, 1)?.start] = v;
            Response::WriteSingleRegister(a, v)
        }
        Request::WriteMultipleRegisters(a, values) => {
            let range = span(a, values.len())?;
            m.holding[range].copy_from_slice(&values);
            Response::WriteMultipleRegisters(a, values.len() as u16)
        }
        _ => return Err(ExceptionCode::IllegalFunction),
    })
}

/// A connection that fails as soon as the device's generation moves on (the device went
/// unreachable), so clients see the link break.
struct Killable {
    inner: TcpStream,
    mine: u64,
    generation: Arc<AtomicU64>,
    open: Arc<AtomicU64>,
}

impl Killable {
    fn dead(&self) -> bool {
        self.generation.load(Ordering::SeqCst) != self.mine
    }
}

impl Drop for Killable {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::SeqCst);
    }
}

fn reset() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionReset, "device unreachable")
}

impl AsyncRead for Killable {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.dead() {
            return Poll::Ready(Err(reset()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Killable {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.dead() {
            return Poll::Ready(Err(reset()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
