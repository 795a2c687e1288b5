//! A messaging system Tote does not own (the SMS / push platform marketing hands its send
//! lists to), its own HTTP server taking webhook POSTs at `/hooks/send-lists`:
//!
//! - each POST is recorded as it arrived: its `Tote-Signature` and `Idempotency-Key`
//!   headers and its raw body, whether the signature checks out against the shared secret
//!   (HMAC-SHA256 over "t.body", within five minutes), and whether the key was seen before;
//! - a good request is answered 200; a bad signature 401; nothing is ever sent to a phone.
//!
//! Faults a test can ask for: the next N requests answered 503 (recorded, not accepted).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::net::TcpListener;

const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
/// Requests one run records (memory bound).
const MAX_RECORDED: usize = 10_000;

/// One POST as it arrived.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub signature: String,
    pub key: String,
    pub body: String,
    /// The signature checked out against the secret.
    pub signed: bool,
    /// Another accepted request carried the same key before.
    pub repeat: bool,
    /// What it was answered.
    pub status: u16,
}

struct Inner {
    secret: String,
    fail_next: AtomicU32,
    arrivals: Mutex<Vec<Arrival>>,
    accepted_keys: Mutex<HashSet<String>>,
}

pub struct MessagingSim {
    inner: Arc<Inner>,
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MessagingSim {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl MessagingSim {
    /// On a free local port, sharing `secret` with Tote.
    pub async fn start(secret: &str) -> std::io::Result<MessagingSim> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(Inner { secret: secret.to_owned(), fail_next: AtomicU32::new(0), arrivals: Mutex::new(Vec::new()), accepted_keys: Mutex::new(HashSet::new()) });
        let routes = Router::new().route("/hooks/send-lists", post(receive)).with_state(inner.clone()).layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES));
        let task = tokio::spawn(crate::serve_peer(listener, routes, "messaging"));
        Ok(MessagingSim { inner, addr, task })
    }

    pub fn url(&self) -> String {
        format!("http://{}/hooks/send-lists", self.addr)
    }

    /// Central's `[marketing.send_webhook]` for this system.
    pub fn central_config(&self) -> String {
        format!("\n[marketing.send_webhook]\nurl = \"{}\"\nsecret = \"{}\"\ntimeout_ms = 2000\n", self.url(), self.inner.secret)
    }

    /// The next `n` requests are answered 503.
    pub fn fail_next(&self, n: u32) {
        self.inner.fail_next.store(n, Ordering::SeqCst);
    }

    pub fn arrivals(&self) -> Vec<Arrival> {
        lock(&self.inner.arrivals).clone()
    }
}

async fn receive(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let (signature, key) = (header("tote-signature"), header("idempotency-key"));
    let body = String::from_utf8_lossy(&body).into_owned();
    let now_s = tote_shared::runtime::system::now_ms() / 1_000;
    let signed = tote_shared::payment::card::verify_header(&inner.secret, &signature, &body, now_s).is_ok();
    let failing = inner.fail_next.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
    let status = match (signed, failing) {
        (false, _) => StatusCode::UNAUTHORIZED,
        (true, true) => StatusCode::SERVICE_UNAVAILABLE,
        (true, false) => StatusCode::OK,
    };
    let repeat = status == StatusCode::OK && !lock(&inner.accepted_keys).insert(key.clone());
    let mut arrivals = lock(&inner.arrivals);
    if arrivals.len() < MAX_RECORDED {
        arrivals.push(Arrival { signature, key, body, signed, repeat, status: status.as_u16() });
    }
    status
}
