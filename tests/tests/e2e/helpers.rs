//! The harness: real tote-central and tote-edge processes on port 0 with temp SQLite files
//! (central optionally on a fresh PostgreSQL database), and typed helpers over their HTTP APIs
//! (zero-to-production's `TestApp`, as processes). Not a place for assertions about behaviour:
//! those live in the tests (and the journal's cross-checks in `journal.rs`).

use anyhow::{bail, Context, Result};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
pub use tote_sim::carrier::{CarrierSim, CarrierSimConfig};

pub const ADMIN: &str = "test-admin-token-0123456789";
pub const READER: &str = "test-read-token-0123456789";
/// The edges' API token (station software, tests): every role.
pub const EDGE_API: &str = "test-edge-api-token-0123456789";

pub const PEGASUS: &str = "PEG39-M-WHT-42";
pub const PEGASUS_GTIN: &str = "1958661377384";

/// Waits for `check` to return Some, polling, until `limit`; fails with `what` after that.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("timed out after {limit:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Locks a daemon even if a panicking test thread poisoned the mutex.
pub fn lock(daemon: &Mutex<Daemon>) -> MutexGuard<'_, Daemon> {
    daemon.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Central,
    Edge,
}

/// One daemon process. Dropping it kills the process.
pub struct Daemon {
    kind: Kind,
    child: Option<Child>,
    config: PathBuf,
    ready: PathBuf,
    log: PathBuf,
    /// Extra environment for the process (a test's fault injection).
    env: Vec<(String, String)>,
    pub addr: SocketAddr,
}

impl Daemon {
    pub fn spawn(kind: Kind, config: PathBuf) -> Result<Daemon> {
        Self::spawn_with_env(kind, config, &[])
    }

    pub fn spawn_with_env(kind: Kind, config: PathBuf, env: &[(&str, &str)]) -> Result<Daemon> {
        let dir = config.parent().context("config dir")?.to_owned();
        let stem = config
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("daemon")
            .to_owned();
        let mut d = Daemon {
            kind,
            child: None,
            ready: dir.join(format!("{stem}.ready")),
            log: dir.join(format!("{stem}.log")),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            config,
            addr: "127.0.0.1:0".parse()?,
        };
        d.start()?;
        Ok(d)
    }

    fn binary(&self) -> &'static str {
        match self.kind {
            Kind::Central => env!("CARGO_BIN_EXE_e2e-central"),
            Kind::Edge => env!("CARGO_BIN_EXE_e2e-edge"),
        }
    }

    pub fn start(&mut self) -> Result<()> {
        let _ = std::fs::remove_file(&self.ready);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let child = Command::new(self.binary())
            .arg("--config")
            .arg(&self.config)
            .arg("--ready-file")
            .arg(&self.ready)
            .env("RUST_LOG", "warn")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("spawning {}", self.binary()))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(text) = std::fs::read_to_string(&self.ready) {
                self.addr = text.trim().parse()?;
                return Ok(());
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                bail!(
                    "{:?} exited with {status} before it was ready; log:\n{log}",
                    self.kind
                );
            }
            if Instant::now() > deadline {
                bail!("{:?} not ready within 30 s", self.kind);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The running process's id (None once killed).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL: no shutdown handler runs, nothing is flushed but what was committed.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, as systemd stops a service; `wait_for_exit` then tells how it ended.
    pub fn terminate(&self) -> Result<()> {
        let pid = self.child.as_ref().context("not running")?.id();
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()?;
        anyhow::ensure!(status.success(), "kill -TERM {pid}: {status}");
        Ok(())
    }

    /// Waits for the process to exit on its own, up to `limit`.
    pub fn wait_for_exit(&mut self, limit: Duration) -> Result<ExitStatus> {
        let child = self.child.as_mut().context("not running")?;
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = child.try_wait()? {
                self.child = None;
                return Ok(status);
            }
            if Instant::now() > deadline {
                bail!(
                    "{:?} still running after {limit:?}; log:\n{}",
                    self.kind,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// What the process wrote to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Restarts on the same port so peers configured with our URL find us again.
    pub fn restart(&mut self) -> Result<()> {
        self.kill9();
        self.pin_port()?;
        self.start()
    }

    fn pin_port(&self) -> Result<()> {
        // The HTTP listener's line only: `embedded_listen` and `tls_listen` keep port 0 (the
        // edge's MQTT gate would otherwise try to take the HTTP port).
        let text = std::fs::read_to_string(&self.config)?;
        let pinned = text.replace(
            "\nlisten = \"127.0.0.1:0\"",
            &format!("\nlisten = \"{}\"", self.addr),
        );
        std::fs::write(&self.config, pinned)?;
        Ok(())
    }

    /// `https://` when the config serves TLS (`[http.tls]`).
    pub fn url(&self) -> String {
        let tls = std::fs::read_to_string(&self.config).is_ok_and(|c| c.contains("[http.tls]"));
        format!("{}://{}", if tls { "https" } else { "http" }, self.addr)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Which database central runs on. The edges always run on SQLite.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Where a central keeps its data: an SQLite file, or a fresh PostgreSQL database that exists
/// as long as this value does (it is dropped, with force, when this is).
pub enum CentralStore {
    Sqlite(PathBuf),
    Postgres(tote_central::db::testing::TestDatabase),
}

impl CentralStore {
    /// A new, empty store for a central whose files live in `dir`. PostgreSQL: a new database
    /// on the test server (`TOTE_TEST_POSTGRES`); without a server this panics and says how to
    /// get one — the suite never skips a backend silently.
    pub fn create(dir: &Path, backend: Backend) -> CentralStore {
        match backend {
            Backend::Sqlite => CentralStore::Sqlite(dir.join("central.sqlite")),
            Backend::Postgres => {
                CentralStore::Postgres(tote_central::db::testing::TestDatabase::create())
            }
        }
    }

    /// The `[database]` section of central's config.
    fn config_section(&self) -> String {
        match self {
            CentralStore::Sqlite(path) => {
                format!(
                    "path = \"{}\"\nwrite_queue = 65536\nmax_batch = 1024\nmax_readers = 4",
                    path.display()
                )
            }
            CentralStore::Postgres(db) => format!(
                "backend = \"postgres\"\nurl = \"{}\"\npool_size = 16",
                db.url
            ),
        }
    }

    /// SHA-256 over every user table, row by row in a stable order: equal checksums mean equal
    /// data. Blocking (the PostgreSQL client runs its own runtime): call it off async threads.
    pub fn checksum_blocking(&self) -> Result<String> {
        match self {
            CentralStore::Sqlite(path) => db_checksum(path),
            CentralStore::Postgres(db) => pg_checksum(&db.url),
        }
    }

    /// The rows `sql` returns, each cell as text (NULL as `NULL`), rows sorted. The same
    /// spelling on both backends as long as `sql` selects integers and text. Blocking.
    pub fn rows_blocking(&self, sql: &str) -> Result<Vec<Vec<String>>> {
        let mut rows = match self {
            CentralStore::Sqlite(path) => sqlite_rows(path, sql)?,
            CentralStore::Postgres(db) => pg_rows(&db.url, sql)?,
        };
        rows.sort();
        Ok(rows)
    }
}

/// Central's config on SQLite: `central.sqlite` in `dir`.
pub fn central_config(dir: &Path, payment_timeout_ms: u64) -> Result<PathBuf> {
    central_config_on(
        dir,
        &CentralStore::Sqlite(dir.join("central.sqlite")),
        payment_timeout_ms,
    )
}

/// Central's config (`central.toml` in `dir`) on `store`.
pub fn central_config_on(
    dir: &Path,
    store: &CentralStore,
    payment_timeout_ms: u64,
) -> Result<PathBuf> {
    central_config_with(dir, store, payment_timeout_ms, "")
}

/// `central_config_on` with `extra` TOML appended (payment channels, say).
pub fn central_config_with(
    dir: &Path,
    store: &CentralStore,
    payment_timeout_ms: u64,
    extra: &str,
) -> Result<PathBuf> {
    let path = dir.join("central.toml");
    std::fs::write(
        &path,
        format!(
            r#"log = "warn"
[http]
listen = "127.0.0.1:0"
max_body_bytes = 65536
max_connections = 1024
max_in_flight = 1024
# Every test client is 127.0.0.1.
max_connections_per_client = 1024
[database]
{}
[orders]
payment_timeout_ms = {payment_timeout_ms}
sweep_interval_ms = 50
max_lines = 50
[auth]
admin_token = "{ADMIN}"
read_token = "{READER}"
{extra}
"#,
            store.config_section()
        ),
    )?;
    Ok(path)
}

pub fn edge_token(warehouse: &str) -> String {
    format!("edge-secret-{warehouse}-0123456789abcdef")
}

pub fn edge_config(dir: &Path, warehouse: &str, central: &str) -> Result<PathBuf> {
    edge_config_with_broker(dir, warehouse, central, None)
}

/// `broker`: an external MQTT broker (`host:port`); None runs the edge's embedded one.
pub fn edge_config_with_broker(
    dir: &Path,
    warehouse: &str,
    central: &str,
    broker: Option<&str>,
) -> Result<PathBuf> {
    edge_config_full(dir, warehouse, central, broker, "")
}

/// `extra`: more TOML sections appended to the edge's config.
pub fn edge_config_full(
    dir: &Path,
    warehouse: &str,
    central: &str,
    broker: Option<&str>,
    extra: &str,
) -> Result<PathBuf> {
    let mqtt = broker
        .map(|b| format!("broker = \"{b}\""))
        .unwrap_or_default();
    let path = dir.join(format!("edge-{warehouse}.toml"));
    let db = dir.join(format!("edge-{warehouse}.sqlite"));
    std::fs::write(
        &path,
        format!(
            r#"warehouse = "{warehouse}"
log = "warn"
[http]
listen = "127.0.0.1:0"
max_body_bytes = 65536
max_connections = 256
max_in_flight = 256
# Every test client is 127.0.0.1.
max_connections_per_client = 256
[auth]
api_token = "{EDGE_API}"
[database]
path = "{}"
write_queue = 16384
max_batch = 512
max_readers = 4
[central]
url = "{central}"
token = "{}"
push_batch = 1000
pull_wait_ms = 2000
request_timeout_ms = 3000
backoff_initial_ms = 20
backoff_max_ms = 300
[mqtt]
{mqtt}
embedded_listen = "127.0.0.1:0"
max_connections = 1000
stale_state_ms = 3000
{extra}
"#,
            db.display(),
            edge_token(warehouse),
        ),
    )?;
    Ok(path)
}

/// A JSON answer with its status.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub content_type: String,
    /// The `idempotent-replayed` header: `true` when the answer is a stored one.
    pub replayed: Option<String>,
}

impl Reply {
    pub async fn from(response: reqwest::Response) -> Result<Reply> {
        let status = response.status();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (content_type, replayed) = (
            header("content-type").unwrap_or_default(),
            header("idempotent-replayed"),
        );
        let text = response.text().await?;
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok(Reply {
            status,
            body,
            content_type,
            replayed,
        })
    }

    pub fn ok(self) -> Result<Value> {
        if self.status.is_success() {
            Ok(self.body)
        } else {
            bail!("expected success, got {}: {}", self.status, self.body)
        }
    }
}

pub fn client() -> Client {
    Client::builder()
        .pool_max_idle_per_host(64)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

/// A client that sends the edge's API token with every request.
pub fn edge_client() -> Client {
    let mut headers = reqwest::header::HeaderMap::new();
    let value = reqwest::header::HeaderValue::from_str(&format!("Bearer {EDGE_API}"))
        .expect("header value");
    headers.insert(reqwest::header::AUTHORIZATION, value);
    Client::builder()
        .default_headers(headers)
        .pool_max_idle_per_host(64)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

/// Clones share the one process and database (for tasks that each need a handle).
#[derive(Clone)]
pub struct Central {
    // Declared before `store`: fields drop in order, so the process is killed before its
    // PostgreSQL database is dropped.
    pub daemon: Arc<Mutex<Daemon>>,
    base: String,
    pub http: Client,
    store: Arc<CentralStore>,
}

impl Central {
    /// On SQLite, with a payment timeout long enough never to fire.
    pub fn start(dir: &Path) -> Result<Central> {
        Self::start_with_timeout(dir, 600_000)
    }

    /// On SQLite.
    pub fn start_with_timeout(dir: &Path, payment_timeout_ms: u64) -> Result<Central> {
        Self::start_on(dir, Backend::Sqlite, payment_timeout_ms)
    }

    /// On a new, empty store of `backend`; restarts (`restart`, `Daemon::restart`) keep it.
    pub fn start_on(dir: &Path, backend: Backend, payment_timeout_ms: u64) -> Result<Central> {
        Self::start_with_env(dir, backend, payment_timeout_ms, &[])
    }

    /// `start_on` with extra environment variables for the process (fault hooks).
    pub fn start_with_env(
        dir: &Path,
        backend: Backend,
        payment_timeout_ms: u64,
        env: &[(&str, &str)],
    ) -> Result<Central> {
        let store = CentralStore::create(dir, backend);
        let daemon = Daemon::spawn_with_env(
            Kind::Central,
            central_config_on(dir, &store, payment_timeout_ms)?,
            env,
        )?;
        Ok(Central {
            base: daemon.url(),
            daemon: Arc::new(Mutex::new(daemon)),
            http: client(),
            store: Arc::new(store),
        })
    }

    /// On a new store of `backend`, with `extra` TOML in its config.
    /// Central serving HTTPS with `pki`'s certificate; its client trusts `pki`'s CA only.
    pub fn start_tls(dir: &Path, backend: Backend, pki: &Pki) -> Result<Central> {
        let extra = format!(
            "[http.tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
            pki.cert.display(),
            pki.key.display()
        );
        let mut central = Self::start_with_config(dir, backend, 600_000, &extra)?;
        central.http = pki.client()?;
        Ok(central)
    }

    pub fn start_with_config(
        dir: &Path,
        backend: Backend,
        payment_timeout_ms: u64,
        extra: &str,
    ) -> Result<Central> {
        Self::start_on_store(dir, CentralStore::create(dir, backend), payment_timeout_ms, extra)
    }

    /// On `store` (a database on a server of the test's own, say), with `extra` TOML.
    pub fn start_on_store(
        dir: &Path,
        store: CentralStore,
        payment_timeout_ms: u64,
        extra: &str,
    ) -> Result<Central> {
        let daemon = Daemon::spawn(
            Kind::Central,
            central_config_with(dir, &store, payment_timeout_ms, extra)?,
        )?;
        Ok(Central {
            base: daemon.url(),
            daemon: Arc::new(Mutex::new(daemon)),
            http: client(),
            store: Arc::new(store),
        })
    }

    /// Checksum of central's data (every table) once the journal has settled: the sequencer
    /// and the consumers write in the background after each commit, so without the wait two
    /// checksums of unchanged business data could differ.
    pub async fn data_checksum(&self) -> Result<String> {
        wait_journal_settled(self).await?;
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.checksum_blocking()).await?
    }

    /// `sql` run on central's database directly, rows as text, sorted (see `CentralStore::rows_blocking`).
    pub async fn rows(&self, sql: &str) -> Result<Vec<Vec<String>>> {
        let (store, sql) = (self.store.clone(), sql.to_owned());
        tokio::task::spawn_blocking(move || store.rows_blocking(&sql)).await?
    }

    /// The Prometheus text of `/metrics` (no auth).
    pub async fn metrics(&self) -> Result<String> {
        let response = self.http.get(self.url("/metrics")).send().await?;
        anyhow::ensure!(
            response.status().is_success(),
            "GET /metrics: {}",
            response.status()
        );
        Ok(response.text().await?)
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn kill9(&self) {
        lock(&self.daemon).kill9();
    }

    pub fn restart(&self) -> Result<()> {
        lock(&self.daemon).restart()
    }

    pub async fn post(&self, path: &str, body: Value) -> Result<Reply> {
        Reply::from(
            self.http
                .post(self.url(path))
                .bearer_auth(ADMIN)
                .json(&body)
                .send()
                .await?,
        )
        .await
    }

    pub async fn get(&self, path: &str) -> Result<Reply> {
        Reply::from(
            self.http
                .get(self.url(path))
                .bearer_auth(READER)
                .send()
                .await?,
        )
        .await
    }

    /// The URL of central's PostgreSQL database (None on SQLite).
    pub fn postgres_url(&self) -> Option<String> {
        match self.store.as_ref() {
            CentralStore::Postgres(db) => Some(db.url.clone()),
            CentralStore::Sqlite(_) => None,
        }
    }

    pub async fn create_order(&self, key: &str, body: &Value) -> Result<Reply> {
        let request = self
            .http
            .post(self.url("/api/v1/orders"))
            .bearer_auth(ADMIN)
            .header("Idempotency-Key", key)
            .json(body);
        Reply::from(request.send().await?).await
    }

    /// `create_order` as a shop front sends it: again with the same key after a dropped
    /// connection or a 503 (a shed request, a lost database connection), backing off, until
    /// central answers for good. Returns that answer and how many tries came before it.
    pub async fn create_order_retrying(&self, key: &str, body: &Value) -> Result<(Reply, u32)> {
        let mut pause = 5;
        for attempt in 0..2_000 {
            match self.create_order(key, body).await {
                Ok(reply) if reply.status.as_u16() != 503 => return Ok((reply, attempt)),
                _ => {
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                    pause = (pause * 2).min(200);
                }
            }
        }
        bail!("order {key} got no answer in 2,000 attempts")
    }

    pub async fn order(&self, id: u64) -> Result<Value> {
        self.get(&format!("/api/v1/orders/{id}")).await?.ok()
    }

    /// (on_hand, locked, committed, sellable) of `sku` at `warehouse`.
    pub async fn level(&self, sku: &str, warehouse: &str) -> Result<(i64, i64, i64, i64)> {
        let rows = self.get(&format!("/api/v1/inventory/{sku}")).await?.ok()?;
        let row = rows
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["warehouse"] == warehouse);
        Ok(match row {
            Some(r) => (
                r["on_hand"].as_i64().unwrap_or(0),
                r["locked"].as_i64().unwrap_or(0),
                r["committed"].as_i64().unwrap_or(0),
                r["sellable"].as_i64().unwrap_or(0),
            ),
            None => (0, 0, 0, 0),
        })
    }

    pub async fn add_warehouse(&self, code: &str, city: &str) -> Result<()> {
        let body = json!({"code": code, "name": format!("Warehouse {code}"), "city": city, "edge_token": edge_token(code)});
        self.post("/api/v1/warehouses", body)
            .await?
            .ok()
            .map(|_| ())
    }

    /// The running-shoe catalog of the acceptance story: Pegasus 39 in a few sizes.
    pub async fn seed_catalog(&self) -> Result<()> {
        self.post(
            "/api/v1/spus",
            json!({"id": "PEG39", "name": "Nike Air Zoom Pegasus 39", "brand": "Nike", "category": "Shoes > Running > Cushioned"}),
        )
        .await?
        .ok()?;
        for (sku, gtin, size) in skus() {
            self.post(
                "/api/v1/skus",
                json!({"sku": sku, "spu_id": "PEG39", "gtin": gtin, "gender": "men", "colour": "white", "size": size, "price": 89900, "cost": 41000}),
            )
            .await?
            .ok()?;
        }
        Ok(())
    }

    pub async fn sync_row(&self, warehouse: &str) -> Result<Value> {
        let rows = self.get("/api/v1/sync/status").await?.ok()?;
        rows.as_array()
            .into_iter()
            .flatten()
            .find(|r| r["warehouse"] == warehouse)
            .cloned()
            .context("no sync row")
    }
}

/// (SKU, GTIN, size) of the seeded catalog.
pub fn skus() -> Vec<(&'static str, &'static str, &'static str)> {
    vec![
        (PEGASUS, PEGASUS_GTIN, "EU 42"),
        ("PEG39-M-WHT-43", "1958661377391", "EU 43"),
        ("PEG39-M-WHT-44", "1958661377407", "EU 44"),
    ]
}

pub fn order_body(sku: &str, qty: i64, city: &str) -> Value {
    json!({
        "channel": "app",
        "lines": [{"sku": sku, "qty": qty}],
        "ship_to": {"name": "Li Wei", "line1": "88 Century Avenue", "city": city, "postcode": "200120"}
    })
}

pub struct Edge {
    pub daemon: Arc<Mutex<Daemon>>,
    base: String,
    pub warehouse: String,
    pub http: Client,
}

impl Edge {
    pub fn start(dir: &Path, warehouse: &str, central_url: &str) -> Result<Edge> {
        let config = edge_config(dir, warehouse, central_url)?;
        let daemon = Daemon::spawn(Kind::Edge, config)?;
        Ok(Edge {
            base: daemon.url(),
            daemon: Arc::new(Mutex::new(daemon)),
            warehouse: warehouse.to_owned(),
            http: edge_client(),
        })
    }

    /// An edge that reaches central over HTTPS, trusting only the CA in `ca`.
    pub fn start_trusting(
        dir: &Path,
        warehouse: &str,
        central_url: &str,
        ca: &Path,
    ) -> Result<Edge> {
        let config = edge_config(dir, warehouse, central_url)?;
        let text = std::fs::read_to_string(&config)?.replacen(
            "[central]\n",
            &format!("[central]\nca_file = \"{}\"\n", ca.display()),
            1,
        );
        std::fs::write(&config, text)?;
        Ok(Self::from_daemon(
            Daemon::spawn(Kind::Edge, config)?,
            warehouse,
        ))
    }

    /// An edge from an already spawned daemon (e.g. with a custom config).
    pub fn from_daemon(daemon: Daemon, warehouse: &str) -> Edge {
        Edge {
            base: daemon.url(),
            daemon: Arc::new(Mutex::new(daemon)),
            warehouse: warehouse.to_owned(),
            http: edge_client(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post(&self, path: &str, body: Value) -> Result<Reply> {
        Reply::from(self.http.post(self.url(path)).json(&body).send().await?).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Result<Reply> {
        Reply::from(self.http.put(self.url(path)).json(&body).send().await?).await
    }

    pub async fn post_keyed(&self, path: &str, key: &str, body: Value) -> Result<Reply> {
        Reply::from(
            self.http
                .post(self.url(path))
                .header("Idempotency-Key", key)
                .json(&body)
                .send()
                .await?,
        )
        .await
    }

    pub async fn get(&self, path: &str) -> Result<Reply> {
        Reply::from(self.http.get(self.url(path)).send().await?).await
    }

    /// A plain-text answer (`/metrics`), which must be a success.
    pub async fn get_text(&self, path: &str) -> Result<String> {
        let response = self.http.get(self.url(path)).send().await?;
        anyhow::ensure!(
            response.status().is_success(),
            "GET {path}: {}",
            response.status()
        );
        Ok(response.text().await?)
    }

    /// Commissions a robot: its login to the edge's embedded broker (None on an external one).
    pub async fn robot_login(
        &self,
        manufacturer: &str,
        serial: &str,
    ) -> Result<Option<(String, String)>> {
        self.login(&format!("/api/v1/fleet/{manufacturer}/{serial}/mqtt-login"))
            .await
    }

    /// A read-only login for robot topics on the embedded broker (None on an external one).
    pub async fn observer_login(&self, name: &str) -> Result<Option<(String, String)>> {
        self.login(&format!("/api/v1/mqtt/observers/{name}")).await
    }

    async fn login(&self, path: &str) -> Result<Option<(String, String)>> {
        let reply = self.post(path, json!({})).await?;
        if reply.status == reqwest::StatusCode::CONFLICT {
            return Ok(None);
        }
        let issued = reply.ok()?;
        let field = |k: &str| {
            issued[k]
                .as_str()
                .map(str::to_owned)
                .context("issued login")
        };
        Ok(Some((field("username")?, field("password")?)))
    }

    /// Waits until central's master data (the SKU barcodes) has arrived.
    pub async fn wait_for_skus(&self, expected_cursor: u64) -> Result<()> {
        eventually(
            "edge to pull master data",
            Duration::from_secs(20),
            || async {
                let s = self.get("/api/v1/sync/status").await?.ok()?;
                Ok((s["command_cursor"].as_u64().unwrap_or(0) >= expected_cursor).then_some(()))
            },
        )
        .await
    }

    pub async fn add_location(&self, code: &str) -> Result<()> {
        self.post("/api/v1/locations", json!({"code": code}))
            .await?
            .ok()
            .map(|_| ())
    }

    pub async fn receive(&self, location: &str, gtin: &str, qty: i64) -> Result<Value> {
        self.post(
            "/api/v1/receipts",
            json!({"location": location, "gtin": gtin, "qty": qty}),
        )
        .await?
        .ok()
    }

    /// Waits until central acknowledged every event this edge wrote.
    pub async fn wait_synced(&self, limit: Duration) -> Result<()> {
        eventually("edge outbox to drain", limit, || async {
            let s = self.get("/api/v1/sync/status").await?.ok()?;
            Ok((s["events_pending"].as_u64() == Some(0)).then_some(()))
        })
        .await
    }

    pub async fn wait_for_order(&self, order_id: u64, limit: Duration) -> Result<Value> {
        eventually("order to reach the edge", limit, || async {
            let r = self.get(&format!("/api/v1/orders/{order_id}")).await?;
            Ok(r.status.is_success().then_some(r.body))
        })
        .await
    }

    /// Picks every task of the order by scanning location then item, packs and ships it.
    pub async fn fulfil(&self, order_id: u64, tracking: &str) -> Result<Value> {
        self.fulfil_with(
            order_id,
            json!({"carrier": "SF", "tracking_number": tracking}),
        )
        .await
    }

    /// `fulfil`, shipping with `ship` as the packer's request body.
    pub async fn fulfil_with(&self, order_id: u64, ship: Value) -> Result<Value> {
        let order = self
            .wait_for_order(order_id, Duration::from_secs(20))
            .await?;
        for task in order["tasks"].as_array().context("tasks")? {
            if task["state"] == "done" || task["state"] == "cancelled" {
                continue;
            }
            let id = task["id"].as_u64().context("task id")?;
            let path = format!("/api/v1/pick-tasks/{id}/scan");
            if task["state"] == "open" {
                self.post(&path, json!({"code": task["location"]}))
                    .await?
                    .ok()?;
            }
            let remaining =
                task["qty"].as_i64().unwrap_or(0) - task["qty_picked"].as_i64().unwrap_or(0);
            for _ in 0..remaining {
                self.post(&path, json!({"code": task["gtin"]}))
                    .await?
                    .ok()?;
            }
        }
        self.post(&format!("/api/v1/orders/{order_id}/pack"), json!({}))
            .await?
            .ok()?;
        self.post(&format!("/api/v1/orders/{order_id}/ship"), ship)
            .await?
            .ok()
    }
}

/// Central with the story catalog and warehouses SH-01 (Shanghai) and BJ-01 (Beijing).
pub struct World {
    pub dir: tempfile::TempDir,
    pub central: Central,
    pub edges: Vec<Edge>,
}

impl World {
    /// On SQLite.
    pub async fn start(warehouses: &[(&str, &str)]) -> Result<World> {
        Self::start_on(Backend::Sqlite, warehouses).await
    }

    /// Central on `backend` (a fresh database, kept for the world's life), edges on SQLite.
    pub async fn start_on(backend: Backend, warehouses: &[(&str, &str)]) -> Result<World> {
        Self::start_with(backend, warehouses, 600_000, "").await
    }

    /// Central serving HTTPS with a CA made for the run; the edges sync over TLS, trusting it.
    pub async fn start_over_tls(backend: Backend, warehouses: &[(&str, &str)]) -> Result<World> {
        let dir = tempfile::tempdir()?;
        let pki = Pki::create(&dir.path().join("pki"))?;
        let central = Central::start_tls(dir.path(), backend, &pki)?;
        anyhow::ensure!(
            central.base_url().starts_with("https://"),
            "central serves {}",
            central.base_url()
        );
        central.seed_catalog().await?;
        let mut edges = Vec::new();
        for (code, city) in warehouses {
            central.add_warehouse(code, city).await?;
            let edge = Edge::start_trusting(dir.path(), code, central.base_url(), &pki.ca)?;
            edge.wait_for_skus(skus().len() as u64).await?;
            edge.add_location("A-01-01").await?;
            edges.push(edge);
        }
        Ok(World {
            dir,
            central,
            edges,
        })
    }

    /// `start_on` with a payment timeout and `extra` TOML in central's config.
    pub async fn start_with(
        backend: Backend,
        warehouses: &[(&str, &str)],
        payment_timeout_ms: u64,
        extra: &str,
    ) -> Result<World> {
        let dir = tempfile::tempdir()?;
        let central = Central::start_with_config(dir.path(), backend, payment_timeout_ms, extra)?;
        Self::around(dir, central, warehouses).await
    }

    /// Central on `store`, edges on SQLite.
    pub async fn start_on_store(store: CentralStore, warehouses: &[(&str, &str)]) -> Result<World> {
        let dir = tempfile::tempdir()?;
        let central = Central::start_on_store(dir.path(), store, 600_000, "")?;
        Self::around(dir, central, warehouses).await
    }

    /// The story catalog and `warehouses`, each with an edge, around a started central.
    async fn around(dir: tempfile::TempDir, central: Central, warehouses: &[(&str, &str)]) -> Result<World> {
        central.seed_catalog().await?;
        let mut edges = Vec::new();
        for (code, city) in warehouses {
            central.add_warehouse(code, city).await?;
            let edge = Edge::start(dir.path(), code, central.base_url())?;
            edge.wait_for_skus(skus().len() as u64).await?;
            edge.add_location("A-01-01").await?;
            edges.push(edge);
        }
        Ok(World {
            dir,
            central,
            edges,
        })
    }

    pub fn edge(&self, code: &str) -> &Edge {
        self.edges
            .iter()
            .find(|e| e.warehouse == code)
            .expect("edge exists")
    }

    /// `start_with` and the carriers: the simulator's SF, JD and ZTO platforms and tracking
    /// aggregator wired into central (`logistics_extra` lines go into `[logistics]`), SF's
    /// terms and a standard lane from every warehouse to Shanghai, Zhejiang and Beijing, and
    /// every edge's SF pool filled before this returns.
    pub async fn start_with_carriers(
        backend: Backend,
        warehouses: &[(&str, &str)],
        logistics_extra: &str,
    ) -> Result<(World, CarrierSim)> {
        let sim =
            CarrierSim::start(CarrierSimConfig::three_carriers(Duration::from_millis(150))).await?;
        let extra = sim.central_config(
            CARRIER_SALT,
            None,
            &format!("dispatch_interval_ms = 50\n{logistics_extra}"),
        );
        let world = World::start_with(backend, warehouses, 600_000, &extra).await?;
        let c = &world.central;
        let sf = json!({"name": "SF Express", "volumetric_divisor": 6000, "insurance": {"rate_bp": 50, "min_fee": 100, "max_declared": 5000000},
                        "signature": true, "fragile": true, "max_weight_g": 30000, "max_side_mm": 1500});
        Reply::from(
            c.http
                .put(c.url("/api/v1/logistics/carriers/SF"))
                .bearer_auth(ADMIN)
                .json(&sf)
                .send()
                .await?,
        )
        .await?
        .ok()?;
        let mut csv = String::from("carrier,service,origin,province,first_weight_g,first_price,step_g,step_price,transit_days,valid_from,valid_to\n");
        for (code, _) in warehouses {
            for province in ["shanghai", "zhejiang", "beijing"] {
                csv.push_str(&format!(
                    "SF,standard,{code},{province},1000,12.00,1000,2.00,2,2026-01-01,\n"
                ));
            }
        }
        let request = c
            .http
            .post(c.url("/api/v1/logistics/rates"))
            .bearer_auth(ADMIN)
            .header("content-type", "text/csv")
            .body(csv);
        Reply::from(request.send().await?).await?.ok()?;
        for edge in &world.edges {
            edge.wait_for_pool("SF", 1).await?;
        }
        Ok((world, sim))
    }
}

/// The salt central gives the simulated aggregator.
pub const CARRIER_SALT: &str = "kuaidi100-salt-for-tests";

impl Edge {
    /// Free numbers in the edge's waybill pool of `carrier`.
    pub async fn pool_free(&self, carrier: &str) -> Result<u64> {
        let pools = self.get("/api/v1/waybills").await?.ok()?;
        Ok(pools
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["carrier"] == carrier)
            .and_then(|p| p["free"].as_u64())
            .unwrap_or(0))
    }

    /// Waits until the edge holds at least `at_least` free `carrier` numbers.
    pub async fn wait_for_pool(&self, carrier: &str, at_least: u64) -> Result<u64> {
        eventually(
            &format!("{carrier} waybill pool at {}", self.warehouse),
            Duration::from_secs(30),
            || async {
                let free = self.pool_free(carrier).await?;
                Ok((free >= at_least).then_some(free))
            },
        )
        .await
    }
}

/// SHA-256 over every user table of an SQLite file, row by row in key order: two equal
/// checksums mean equal data.
pub fn db_checksum(path: &Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut hasher = Sha256::new();
    for table in tables {
        hasher.update(table.as_bytes());
        // Every column in the order, so rows sort the same way however many columns there are.
        let columns = conn
            .prepare(&format!("SELECT * FROM \"{table}\""))?
            .column_count();
        let order: Vec<String> = (1..=columns).map(|i| i.to_string()).collect();
        let mut stmt = conn.prepare(&format!(
            "SELECT * FROM \"{table}\" ORDER BY {}",
            order.join(", ")
        ))?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            for i in 0..columns {
                let v: rusqlite::types::Value = row.get(i)?;
                hasher.update(format!("{v:?}|").as_bytes());
            }
        }
    }
    Ok(format!("{:x}", hasher.finalize()))
}

/// The same checksum over a PostgreSQL database: every table of schema `public` (including
/// `schema_version`; nothing is left out), each row as PostgreSQL's text form of the whole
/// row, ordered by that text, all read in one repeatable-read snapshot. Sequences are not
/// tables and are not hashed: a refused request may use up an id without storing anything.
/// Blocking: the sync client starts its own runtime.
pub fn pg_checksum(url: &str) -> Result<String> {
    use sha2::{Digest, Sha256};
    let mut client = postgres::Client::connect(url, postgres::NoTls)
        .with_context(|| format!("connecting to {url}"))?;
    let mut tx = client
        .build_transaction()
        .isolation_level(postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()?;
    let tables: Vec<String> = tx
        .query(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1",
            &[],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect();
    anyhow::ensure!(!tables.is_empty(), "no tables in {url}");
    let mut hasher = Sha256::new();
    for table in tables {
        hasher.update(table.as_bytes());
        for row in tx.query(
            &format!("SELECT t::text FROM \"{table}\" t ORDER BY 1"),
            &[],
        )? {
            let text: String = row.get(0);
            hasher.update(text.as_bytes());
            hasher.update(b"|");
        }
    }
    tx.commit()?;
    Ok(format!("{:x}", hasher.finalize()))
}

/// The rows `sql` returns from an SQLite file, each cell as text (NULL as `NULL`).
pub fn sqlite_rows(path: &Path, sql: &str) -> Result<Vec<Vec<String>>> {
    use rusqlite::types::Value as Cell;
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut stmt = conn.prepare(sql)?;
    let n = stmt.column_count();
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let cells = (0..n)
            .map(|i| {
                Ok(match row.get::<_, Cell>(i)? {
                    Cell::Null => "NULL".to_owned(),
                    Cell::Integer(v) => v.to_string(),
                    Cell::Real(v) => v.to_string(),
                    Cell::Text(v) => v,
                    Cell::Blob(v) => format!("{v:?}"),
                })
            })
            .collect::<Result<Vec<String>>>()?;
        out.push(cells);
    }
    Ok(out)
}

/// The simple query protocol answers every value as text, whatever its type.
fn pg_rows(url: &str, sql: &str) -> Result<Vec<Vec<String>>> {
    let mut client = postgres::Client::connect(url, postgres::NoTls)
        .with_context(|| format!("connecting to {url}"))?;
    let mut out = Vec::new();
    for message in client.simple_query(sql)? {
        if let postgres::SimpleQueryMessage::Row(row) = message {
            out.push(
                (0..row.len())
                    .map(|i| row.get(i).unwrap_or("NULL").to_owned())
                    .collect(),
            );
        }
    }
    Ok(out)
}

/// The value of one sample of the Prometheus text `metrics`: `name` with its labels as
/// written, e.g. `tote_central_journal_consumer_lag{consumer="sales"}`.
pub fn metric(metrics: &str, name: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        line.strip_prefix(name)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// Waits until every committed journal event has its number and every consumer has applied
/// all of them (`/metrics`: `tote_central_journal_unnumbered 0`, each
/// `tote_central_journal_consumer_lag` 0, and the `sales` consumer has a position at all).
pub async fn wait_journal_settled(central: &Central) -> Result<()> {
    eventually(
        "the journal to settle (all numbered, consumers caught up)",
        Duration::from_secs(30),
        || async {
            let text = central.metrics().await?;
            let unnumbered = metric(&text, "tote_central_journal_unnumbered");
            let lags: Vec<f64> = text
                .lines()
                .filter(|l| l.starts_with("tote_central_journal_consumer_lag{"))
                .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
                .collect();
            // The first and the last consumer central starts: the others have run by then.
            let known = ["sales", "ledger"].iter().all(|c| {
                metric(
                    &text,
                    &format!("tote_central_journal_consumer_lag{{consumer=\"{c}\"}}"),
                )
                .is_some()
            });
            Ok(
                (unnumbered == Some(0.0) && known && lags.iter().all(|lag| *lag == 0.0))
                    .then_some(()),
            )
        },
    )
    .await
}

pub use tote_sim::KillOnDrop;

pub use tote_sim::pki::Pki;

/// A simulated VDA 5050 robot of `manufacturer` on the broker at `host:port`, signing in with
/// `login` (from `Edge::robot_login`; None on an external broker): fast enough for tests, parked
/// at the origin. Override fields with struct update syntax.
pub fn robot_config(
    manufacturer: &str,
    serial: &str,
    host: &str,
    port: u16,
    login: Option<(String, String)>,
) -> tote_sim::agv::AgvConfig {
    tote_sim::agv::AgvConfig {
        manufacturer: manufacturer.into(),
        serial: serial.into(),
        broker_host: host.into(),
        broker_port: port,
        state_ms: 200,
        node_ms: 100,
        battery: 90.0,
        start: (0.0, 0.0),
        load: None,
        login,
        tls_ca: None,
        version: tote_shared::vda5050::VERSION.into(),
    }
}

/// A distinct name for a test's robots (a shared broker outlives each run).
pub fn unique(prefix: &str) -> String {
    format!("{prefix}{}", rand::random::<u32>())
}

/// Finance's books after a scenario: the ledger consumer has posted every event (its position
/// is the journal's head), the trial balance sums to zero, and beancount — an independent
/// accounting engine, installed by tests/run.sh — accepts the exported books (`bean-check`: every
/// transaction balances with beancount's own FIFO lot booking) and its per-account totals
/// (`bean-query`) equal ours to the cent. Returns the trial balance, account → minor units.
pub async fn check_books(central: &Central) -> Result<std::collections::BTreeMap<String, i64>> {
    use anyhow::ensure;
    use std::collections::BTreeMap;
    wait_journal_settled(central).await?;
    // The trial balance and the export of one ledger position: background work (orders
    // completing, points earned) may post meanwhile, so read until the position held still.
    let ledger_position = || async {
        Ok::<i64, anyhow::Error>(
            central
                .rows("SELECT position FROM journal_consumer WHERE name = 'ledger'")
                .await?[0][0]
                .parse()?,
        )
    };
    let mut tries = 0;
    let (ours, text, position) = loop {
        let before = ledger_position().await?;
        let balances = central.get("/api/v1/finance/trial-balance").await?.ok()?;
        let ours: BTreeMap<String, i64> = balances
            .as_array()
            .context("trial balance")?
            .iter()
            .map(|b| {
                (
                    b["account"].as_str().unwrap_or("").to_owned(),
                    b["balance"].as_i64().unwrap_or(0),
                )
            })
            .collect();
        let response = central
            .http
            .get(central.url("/api/v1/finance/books.beancount"))
            .bearer_auth(ADMIN)
            .send()
            .await?;
        ensure!(
            response.status().is_success(),
            "GET the books: {}",
            response.status()
        );
        let text = response.text().await?;
        if ledger_position().await? == before {
            break (ours, text, before);
        }
        tries += 1;
        ensure!(
            tries < 50,
            "the ledger kept posting while the books were read"
        );
    };
    ensure!(
        ours.values().sum::<i64>() == 0,
        "the trial balance does not sum to zero: {ours:?}"
    );
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("books.beancount");
    std::fs::write(&file, &text)?;
    let check = std::process::Command::new("bean-check")
        .arg(&file)
        .output()
        .context("bean-check is missing: run tests/run.sh, which installs beancount")?;
    ensure!(
        check.status.success(),
        "bean-check refused the books:\n{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    let query = std::process::Command::new("bean-query")
        .arg("-f")
        .arg("csv")
        .arg(&file)
        .arg("SELECT account, sum(cost(position)) AS total GROUP BY account ORDER BY account")
        .output()
        .context("bean-query is missing: run tests/run.sh, which installs beanquery")?;
    ensure!(
        query.status.success(),
        "bean-query failed: {}",
        String::from_utf8_lossy(&query.stderr)
    );
    let mut theirs: BTreeMap<String, i64> = BTreeMap::new();
    for row in String::from_utf8_lossy(&query.stdout).lines().skip(1) {
        let (account, total) = row.split_once(',').context("a bean-query row")?;
        theirs.insert(
            account.to_owned(),
            minor_units(total.trim().trim_end_matches("CNY").trim())?,
        );
    }
    let ours_nonzero: BTreeMap<String, i64> = ours
        .iter()
        .filter(|(_, v)| **v != 0)
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    let theirs_nonzero: BTreeMap<String, i64> =
        theirs.into_iter().filter(|(_, v)| *v != 0).collect();
    ensure!(ours_nonzero == theirs_nonzero, "beancount's totals differ from ours:\n ours   {ours_nonzero:?}\n theirs {theirs_nonzero:?}");
    // The statements: net income over all time is the balance sheet's current earnings, and
    // assets = liabilities + equity + current earnings.
    let statements = central.get("/api/v1/finance/statements").await?.ok()?;
    let figure = |path: &[&str]| {
        path.iter()
            .fold(&statements, |v, k| &v[*k])
            .as_i64()
            .unwrap_or(i64::MIN)
    };
    ensure!(
        statements["balance_sheet"]["balanced"] == true,
        "the balance sheet does not balance: {statements}"
    );
    let earnings = figure(&["balance_sheet", "current_earnings"])
        + figure(&["balance_sheet", "retained_earnings"]);
    ensure!(
        figure(&["income_statement", "net_income"]) == earnings,
        "net income does not tie to current and retained earnings: {statements}"
    );
    ensure!(
        statements["cash_flow"]["ties"] == true
            && figure(&["cash_flow", "cash_change"]) == figure(&["balance_sheet", "cash"]),
        "the cash flow does not tie to cash: {statements}"
    );
    // The profit cube ties to the income statement: every sale, return and cost difference
    // is in it once, whichever dimension groups it.
    for by in ["sku", "category", "channel", "warehouse", "campaign"] {
        let profit = central
            .get(&format!("/api/v1/finance/profit?by={by}&limit=10000"))
            .await?
            .ok()?;
        let rows = profit["rows"].as_array().context("profit rows")?;
        let sum = |field: &str| {
            rows.iter()
                .map(|r| r[field].as_i64().unwrap_or(0))
                .sum::<i64>()
        };
        let (revenue, cogs) = (
            figure(&["income_statement", "net_revenue"]),
            figure(&["income_statement", "cost_of_goods_sold"]),
        );
        ensure!((sum("revenue"), sum("cost_of_goods_sold")) == (revenue, cogs), "profit by {by} gives revenue {} and cost {}, the income statement {revenue} and {cogs}: {profit}", sum("revenue"), sum("cost_of_goods_sold"));
        ensure!(
            profit["total"]["revenue"].as_i64() == Some(revenue),
            "profit total: {profit}"
        );
    }
    // The dashboard's rollups of the cube hold exactly its sums, per day and per day × SKU.
    for (rollup, key) in [
        ("fin_profit_day", "day"),
        ("fin_profit_sku_day", "day, sku"),
    ] {
        let from_cube = central
            .rows(&format!("SELECT {key}, CAST(SUM(units) AS BIGINT), CAST(SUM(revenue) AS BIGINT), CAST(SUM(cogs) AS BIGINT) FROM fin_profit GROUP BY {key} ORDER BY {key}"))
            .await?;
        let kept = central
            .rows(&format!(
                "SELECT {key}, units, revenue, cogs FROM {rollup} ORDER BY {key}"
            ))
            .await?;
        ensure!(
            from_cube == kept,
            "{rollup} differs from the cube's sums: {kept:?} vs {from_cube:?}"
        );
    }
    // Each entry balances on its own, not only the books in total.
    let unbalanced = central
        .rows("SELECT entry_id FROM gl_line GROUP BY entry_id HAVING SUM(amount_minor) <> 0")
        .await?;
    ensure!(
        unbalanced.is_empty(),
        "entries that do not balance: {unbalanced:?}"
    );
    // Sub-ledgers tie to their control accounts: purchase orders' units received and not
    // invoiced at their costs; the channels' payments less refunds less settlements; the VAT
    // each order's shipments and refunds recognised.
    let control = |account: &str| -ours.get(account).copied().unwrap_or(0);
    let grni = central.rows("SELECT CAST(COALESCE(SUM(CASE WHEN accepted > invoiced THEN (accepted - invoiced) * unit_cost ELSE 0 END), 0) AS BIGINT) FROM po_line").await?;
    ensure!(
        grni[0][0].parse::<i64>()? == control("Liabilities:GoodsReceivedNotInvoiced"),
        "GRNI {} but the orders' open receipts are {}",
        control("Liabilities:GoodsReceivedNotInvoiced"),
        grni[0][0]
    );
    for channel in ["wechat", "alipay", "card"] {
        let sql = format!(
            "SELECT CAST((SELECT COALESCE(SUM(amount_minor), 0) FROM payment WHERE channel = '{channel}' AND succeeded_ms IS NOT NULL)
                - (SELECT COALESCE(SUM(r.amount_minor), 0) FROM payment_refund r JOIN payment p ON p.id = r.payment_id WHERE p.channel = '{channel}' AND r.state = 'succeeded')
                - (SELECT COALESCE(SUM(gross), 0) FROM pay_settlement WHERE channel = '{channel}') AS BIGINT)"
        );
        let held: i64 = central.rows(&sql).await?[0][0].parse()?;
        let account = format!(
            "Assets:Clearing:{}{}",
            channel[..1].to_uppercase(),
            &channel[1..]
        );
        ensure!(
            held == -control(&account),
            "{account} is {} but {channel}'s payments, refunds and settlements leave {held}",
            -control(&account)
        );
    }
    let vat = central
        .rows("SELECT CAST(COALESCE(SUM(sold_vat - returned_vat), 0) AS BIGINT) FROM fin_order")
        .await?;
    ensure!(
        vat[0][0].parse::<i64>()? == control("Liabilities:VAT:Output"),
        "output VAT {} but the orders recognised {}",
        control("Liabilities:VAT:Output"),
        vat[0][0]
    );
    // Posting the whole journal again from zero into an empty ledger gives the same books.
    let method = central
        .rows("SELECT body FROM settings_doc WHERE name = 'finance.costing'")
        .await?;
    let method = if method.first().is_some_and(|m| m[0].contains("average")) {
        tote_central::finance::costing::Method::Average
    } else {
        Default::default()
    };
    let mut journal = Vec::new();
    let mut after = 0;
    loop {
        let page = central
            .get(&format!("/api/v1/events?after={after}&limit=1000"))
            .await?
            .ok()?;
        let events: Vec<tote_central::journal::JournalEntry> =
            serde_json::from_value(page["events"].clone()).context("the journal's events")?;
        let Some(last) = events.last().map(|e| e.seq) else {
            break;
        };
        after = last;
        journal.extend(events.into_iter().filter(|e| e.seq as i64 <= position));
        if after as i64 >= position {
            break;
        }
    }
    let mut replayed: BTreeMap<String, i64> = BTreeMap::new();
    for line in tote_central::finance::replay(method, &journal)
        .into_iter()
        .flat_map(|e| e.lines)
    {
        *replayed.entry(line.account).or_default() += line.amount;
    }
    replayed.retain(|_, v| *v != 0);
    ensure!(replayed == ours_nonzero, "the journal posted again from zero gives other books:\n posted   {ours_nonzero:?}\n replayed {replayed:?}");
    // The inventory sub-ledger (each SKU × warehouse's pile, and under FIFO its layers) ties
    // to its control accounts, and its units to what inventory says is on hand.
    let piles = central
        .rows("SELECT warehouse, CAST(SUM(book_value) AS BIGINT) FROM fin_pile GROUP BY warehouse")
        .await?;
    for row in &piles {
        let account = format!("Assets:Inventory:{}", row[0]);
        let valued: i64 = row[1].parse()?;
        ensure!(
            ours.get(&account).copied().unwrap_or(0) == valued,
            "{account} is {:?} but its piles value {valued}",
            ours.get(&account)
        );
    }
    let layered = central.rows("SELECT p.sku, p.warehouse FROM fin_pile p WHERE p.book_value <> COALESCE((SELECT SUM(l.qty * l.unit_cost) FROM fin_cost_layer l WHERE l.sku = p.sku AND l.warehouse = p.warehouse), 0)").await?;
    let costing = central
        .rows("SELECT body FROM settings_doc WHERE name = 'finance.costing'")
        .await?;
    ensure!(
        costing.first().is_some_and(|c| c[0] == "\"average\"") || layered.is_empty(),
        "FIFO layers differ from their piles: {layered:?}"
    );
    let units = central
        .rows("SELECT sku, warehouse, qty FROM fin_pile ORDER BY sku, warehouse")
        .await?;
    let on_hand = central
        .rows(
            "SELECT sku, warehouse, on_hand FROM stock WHERE on_hand <> 0 ORDER BY sku, warehouse",
        )
        .await?;
    let units: Vec<&Vec<String>> = units.iter().filter(|r| r[2] != "0").collect();
    ensure!(units.iter().copied().eq(on_hand.iter()), "finance's FIFO units differ from inventory's on hand:\n finance   {units:?}\n inventory {on_hand:?}");
    Ok(ours)
}

/// `-12.30` → -1230.
fn minor_units(text: &str) -> Result<i64> {
    if text.is_empty() {
        return Ok(0);
    }
    let negative = text.starts_with('-');
    let (whole, frac) = text
        .trim_start_matches('-')
        .split_once('.')
        .unwrap_or((text.trim_start_matches('-'), "0"));
    let frac = format!("{frac:0<2}");
    let value = whole.parse::<i64>()? * 100 + frac[..2].parse::<i64>()?;
    Ok(if negative { -value } else { value })
}
