//! A TCP listener that holds at most `max_connections` open connections.
//!
//! When the limit is reached, `accept` waits for a connection to close instead of taking new
//! ones, so a flood of clients queues in the kernel backlog rather than exhausting memory.

use axum::serve::Listener;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub struct LimitedListener {
    inner: TcpListener,
    slots: Arc<Semaphore>,
}

impl LimitedListener {
    pub fn new(inner: TcpListener, max_connections: usize) -> Self {
        LimitedListener { inner, slots: Arc::new(Semaphore::new(max_connections.max(1))) }
    }
}

/// A connection that gives its slot back when dropped.
pub struct LimitedStream {
    stream: TcpStream,
    _slot: OwnedSemaphorePermit,
}

impl Listener for LimitedListener {
    type Io = LimitedStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok(slot) = self.slots.clone().acquire_owned().await else {
                // The semaphore is never closed; wait forever rather than spin.
                std::future::pending::<()>().await;
                continue;
            };
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    return (LimitedStream { stream, _slot: slot }, addr);
                }
                Err(error) => {
                    // Out of file descriptors and similar: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

impl AsyncRead for LimitedStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for LimitedStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Serves `router` on `listener` with at most `max_connections` open connections, tells
/// systemd we are ready, and drains gracefully on SIGINT/SIGTERM or when `stop` resolves.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    max_connections: usize,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let listener = LimitedListener::new(listener, max_connections);
    super::system::notify_ready();
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            tokio::select! {
                _ = super::system::shutdown_signal() => {}
                _ = stop => tracing::info!("stop requested"),
            }
        })
        .await
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
    max_connections: usize,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
    supervisor: super::supervise::Supervisor,
    deadline: std::time::Duration,
) -> Result<(), Stopped> {
    let (halt, halted) = tokio::sync::oneshot::channel::<()>();
    let server = serve(listener, router, max_connections, async move {
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
