//! Building and running the edge: open the store, bind, serve, run the long-running tasks
//! under a supervisor, stop cleanly (HTTP drains first, then the tasks).

use crate::config::Settings;
use crate::fleet::Fleet;
use crate::http;
use crate::store::EdgeStore;
use crate::sync::{SyncClient, SyncHealth};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tote_shared::runtime::listener::{serve_supervised, ConnectionLimits};
use tote_shared::runtime::supervise::{Policy, RestartCounts, Stop, Supervisor};

/// How long the tasks get to reach a clean point once the HTTP server has drained (and how
/// long a failed edge waits for HTTP connections); then they are aborted. Well under
/// systemd's TimeoutStopSec (30 s).
const STOP_DEADLINE: Duration = Duration::from_secs(5);

/// Fault injection for tests, not a setting: `TOTE_EDGE_FAULT_TASK=<task>` makes that task's
/// first run panic, `<task>:return` makes it return (see `Supervisor::with_fault`). Read once
/// at start; unset, it costs nothing. Deliberately outside `Settings` and `configs/`.
const FAULT_TASK_VAR: &str = "TOTE_EDGE_FAULT_TASK";

/// Every restartable task handles its expected trouble (central away, a printer off, a PLC
/// unplugged) inside its own loop, and keeps what matters outside itself (the store,
/// `SyncHealth`, the fleet, the panels). So a run that still returns or panics met a bug or
/// something unforeseen, and a fresh run loses nothing: restart it, loudly, without hammering.
const RESTART: Policy = Policy::Restart { initial_backoff: Duration::from_millis(100), max_backoff: Duration::from_secs(30) };

#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub store: EdgeStore,
    pub sync_health: Arc<SyncHealth>,
    pub fleet: Arc<Fleet>,
    /// `host:port` of the MQTT broker the robots use (the gate, with the embedded broker).
    pub mqtt_broker: String,
    /// `host:port` of the embedded broker's MQTT-over-TLS listener, when it has one.
    pub mqtt_broker_tls: Option<String>,
    /// The gate in front of the embedded broker (None with an external broker).
    pub mqtt_gate: Option<Arc<crate::mqtt::gate::Gate>>,
    pub robots: crate::mqtt::Publisher,
    pub scanners: Arc<crate::scanner::Scanners>,
    /// The goods-to-person floor, when one is configured.
    pub floor: Option<Arc<crate::gtp::Floor>>,
    /// The stations' PLCs (none without a floor).
    pub panels: Arc<crate::plc::Panels>,
    /// Robots driven over Modbus TCP.
    pub modbus_robots: Arc<crate::modbus_robots::ModbusFleet>,
    /// How often each supervised task was restarted.
    pub task_restarts: RestartCounts,
    /// The bounds on sign-in: per-worker turns, the Argon2 cap and queue, badge allowance.
    pub sign_in: Arc<crate::auth::SignInLimits>,
}

pub struct App {
    listener: TcpListener,
    state: AppState,
    supervisor: Supervisor,
    tasks: Tasks,
}

/// What the long-running tasks need that is built once, before they start.
struct Tasks {
    mqtt: Arc<crate::mqtt::Session>,
    gate: Option<GateListeners>,
    controller: Option<tote_shared::gtp::Controller>,
    plcs: Vec<crate::plc::PlcTask>,
    modbus_robots: Vec<crate::modbus_robots::RobotTask>,
    scanners: Vec<crate::scanner::ScannerTask>,
}

impl App {
    pub async fn build(settings: Settings) -> anyhow::Result<App> {
        let supervisor = Supervisor::new().with_fault(std::env::var(FAULT_TASK_VAR).ok().as_deref());
        let store = EdgeStore::open(&settings.database)?.with_rules(settings.picking.strategy()).with_waves(settings.picking.wave_settings()).with_dock(settings.dock.clone());
        let levels = store.send_lot_levels_once().await?;
        if levels > 0 {
            tracing::info!(levels, "dated lots' levels queued for central once");
        }
        let listener = TcpListener::bind(settings.http.listen).await?;
        let broker = start_broker(&settings, &store).await?;
        // Unique per process: two clients with one id make the broker drop the older one.
        let client_id = format!("tote-edge-{}-{}-{:04x}", settings.warehouse, std::process::id(), rand::random::<u16>());
        let (robots, mqtt) = crate::mqtt::connect(&broker.client_host, broker.client_port, client_id, broker.client_login.clone());
        let (floor, controller) = match &settings.floor {
            Some(f) => {
                let (floor, controller) = crate::gtp::start(&store, f, tote_shared::runtime::system::now_ms()).await?;
                (Some(floor), Some(controller))
            }
            None => (None, None),
        };
        let (panels, modbus_robots, plcs, robot_tasks) = match &floor {
            Some(floor) => {
                if let Some(p) = settings.station_plcs.iter().find(|p| !floor.layout.stations.iter().any(|s| s.name == p.station)) {
                    anyhow::bail!("station_plcs: station {:?} is not in the floor layout", p.station);
                }
                let (panels, plcs) = crate::plc::start(&settings.station_plcs, store.clone(), floor.clone());
                let (modbus_robots, robot_tasks) = crate::modbus_robots::start(&settings.modbus_robots, floor.clone());
                (panels, modbus_robots, plcs, robot_tasks)
            }
            None => (Arc::default(), Arc::default(), Vec::new(), Vec::new()),
        };
        let scanners: Arc<crate::scanner::Scanners> = Arc::default();
        let mut scanner_tasks = Vec::with_capacity(settings.scanners.len());
        for s in &settings.scanners {
            scanner_tasks.push(crate::scanner::start(s.name.clone(), s.station.clone(), s.listen, scanners.clone(), panels.clone()).await?);
        }
        let task_restarts = supervisor.restart_counts();
        let auth_settings = settings.auth.clone();
        let sign_in = Arc::new(tokio::task::spawn_blocking(move || crate::auth::SignInLimits::new(&auth_settings)).await?.map_err(|e| anyhow::anyhow!("{e}"))?);
        let fleet = Arc::new(Fleet::new(settings.mqtt.max_refusals));
        if settings.mqtt.stale_state_ms < 30_000 {
            tracing::warn!(stale_state_ms = settings.mqtt.stale_state_ms, "robots that publish state only every 30 s, as VDA 5050 allows, will go stale");
        }
        let state = AppState {
            settings: Arc::new(settings),
            store,
            sync_health: Arc::default(),
            fleet,
            mqtt_broker: broker.shown,
            mqtt_broker_tls: broker.shown_tls,
            mqtt_gate: broker.gate.as_ref().map(|g| g.gate.clone()),
            robots,
            scanners,
            floor,
            panels,
            modbus_robots,
            task_restarts,
            sign_in,
        };
        crate::auth::bootstrap(&state).await?;
        let tasks = Tasks { mqtt: Arc::new(mqtt), gate: broker.gate, controller, plcs, modbus_robots: robot_tasks, scanners: scanner_tasks };
        Ok(App { listener, state, supervisor, tasks })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The routes as one service, for callers in this process that skip the socket (the HTTP
    /// fuzzer). The listener's limits (connections, header time) are not in it.
    pub fn router(&self) -> axum::Router {
        crate::http::router(self.state.clone())
    }

    pub fn port(&self) -> u16 {
        self.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Serves until SIGINT/SIGTERM or `stop` (then `Ok`), or until a fatal task fails (then
    /// `Err` naming it, so the process exits non-zero and systemd restarts it). Either way the
    /// HTTP server drains first and the tasks then get `STOP_DEADLINE` to stop.
    pub async fn run_until_stopped(self, stop: impl std::future::Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let App { listener, state, supervisor, tasks } = self;
        let addr = listener.local_addr()?;
        supervise(&supervisor, &state, tasks)?;
        tracing::info!(%addr, warehouse = %state.settings.warehouse, "tote-edge listening");
        let limits = ConnectionLimits::for_http(&state.settings.http)?;
        let result = serve_supervised(listener, http::router(state), limits, stop, supervisor, STOP_DEADLINE).await;
        tracing::info!("tote-edge stopped");
        Ok(result?)
    }
}

/// Starts every long-running task of the edge under its name and policy.
fn supervise(supervisor: &Supervisor, state: &AppState, tasks: Tasks) -> anyhow::Result<()> {
    let Tasks { mqtt, gate, controller, plcs, modbus_robots, scanners } = tasks;
    if let Some(GateListeners { gate, plain, tls }) = gate {
        let g = gate.clone();
        supervisor.spawn("mqtt-gate", RESTART, move |stop| g.clone().serve(plain.clone(), None, stop));
        if let Some((listener, acceptor)) = tls {
            supervisor.spawn("mqtt-gate-tls", RESTART, move |stop| gate.clone().serve(listener.clone(), Some(acceptor.clone()), stop));
        }
    }
    let sync = SyncClient::new(
        state.settings.central.clone(),
        state.settings.warehouse.clone(),
        state.store.clone(),
        state.sync_health.clone(),
    )?;
    let push = sync.clone();
    supervisor.spawn("sync-push", RESTART, move |stop| push.clone().push_loop(stop));
    supervisor.spawn("sync-pull", RESTART, move |stop| sync.clone().pull_loop(stop));
    let (robots, fleet, manufacturers) = (state.robots.clone(), state.fleet.clone(), state.settings.mqtt.manufacturers.clone());
    supervisor.spawn("mqtt", RESTART, move |stop| crate::mqtt::run(robots.clone(), mqtt.clone(), fleet.clone(), manufacturers.clone(), stop));
    let (fleet, stale_ms) = (state.fleet.clone(), state.settings.mqtt.stale_state_ms);
    supervisor.spawn("robot-watchdog", RESTART, move |stop| expire_stale_robots(fleet.clone(), stale_ms, stop));
    let pruning = state.clone();
    supervisor.spawn("history-pruner", RESTART, move |stop| prune_history(pruning.clone(), stop));
    match state.settings.printing.printer.clone() {
        Some(printer) => {
            let store = state.store.clone();
            supervisor.spawn("label-printer", RESTART, move |stop| crate::printer::run(store.clone(), printer.clone(), stop));
        }
        None => tracing::info!("no label printer configured ([printing] printer): labels wait in the queue"),
    }
    for task in plcs {
        supervisor.spawn(format!("station-plc:{}", task.station()), RESTART, move |stop| task.clone().run(stop));
    }
    for task in modbus_robots {
        supervisor.spawn(format!("modbus-robot:{}", task.robot()), RESTART, move |stop| task.clone().run(stop));
    }
    for task in scanners {
        supervisor.spawn(format!("scanner:{}", task.name()), RESTART, move |stop| task.clone().run(stop));
    }
    if let (Some(floor), Some(controller), Some(f)) = (state.floor.clone(), controller, &state.settings.floor) {
        let drivers = vec![
            state.modbus_robots.clone() as Arc<dyn crate::drivers::RobotDriver>,
            Arc::new(crate::drivers::VdaDriver { fleet: state.fleet.clone(), publisher: state.robots.clone(), floor: f.clone() }),
        ];
        let (store, panels, tick_ms) = (state.store.clone(), state.panels.clone(), f.tick_ms);
        let settle = Duration::from_millis(state.settings.mqtt.settle_ms);
        // Fatal, not restarted: the controller holds the plans and cell reservations the robots
        // are driving on, and a run that died took it with it (or left it half-updated).
        // Rebuilding it is what a process start does — from the pods in the store, after
        // waiting for every robot to report — so the edge exits and systemd starts it again,
        // rather than run the floor on a blank controller while /health says all is well.
        supervisor.spawn_once("gtp-controller", move |stop| crate::gtp::run(floor, controller, store, drivers, panels, tick_ms, settle, stop));
    }
    Ok(())
}

/// Where the robots and the edge's own client reach the broker.
struct Broker {
    /// What robots connect to (shown in the fleet view).
    shown: String,
    shown_tls: Option<String>,
    client_host: String,
    client_port: u16,
    client_login: Option<(String, String)>,
    gate: Option<GateListeners>,
}

/// The embedded broker's gate and its bound listeners.
struct GateListeners {
    gate: Arc<crate::mqtt::gate::Gate>,
    plain: Arc<TcpListener>,
    tls: Option<(Arc<TcpListener>, tokio_rustls::TlsAcceptor)>,
}

/// The configured broker, or the embedded one started here behind its gate.
async fn start_broker(settings: &Settings, store: &EdgeStore) -> anyhow::Result<Broker> {
    let m = &settings.mqtt;
    if let Some(broker) = &m.broker {
        let (host, port) = broker.rsplit_once(':').map(|(h, p)| (h.to_owned(), p.parse().unwrap_or(1883))).unwrap_or_default();
        let login = m.username.clone().zip(m.password.as_ref().map(|p| secrecy::ExposeSecret::expose_secret(p).to_owned()));
        return Ok(Broker { shown: broker.clone(), shown_tls: None, client_host: host, client_port: port, client_login: login, gate: None });
    }
    #[cfg(feature = "embedded-broker")]
    {
        use crate::mqtt::gate::{Credentials, Gate, GateSettings};
        let plain = Arc::new(TcpListener::bind(m.embedded_listen).await?);
        let tls = match (&m.tls_listen, &m.tls) {
            (Some(listen), Some(files)) => {
                let acceptor = tote_shared::runtime::tls::acceptor(Some(files), &[b"mqtt"])?.expect("TLS files given");
                Some((Arc::new(TcpListener::bind(listen).await?), acceptor))
            }
            _ => None,
        };
        // The broker itself: loopback, a port of its own (rumqttd cannot report one it picked).
        let inner = std::net::SocketAddr::from(([127, 0, 0, 1], std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port()));
        let login = crate::mqtt::broker::BrokerLogin::fresh();
        let edge_filters: Vec<String> = crate::mqtt::subscriptions(&m.manufacturers).into_iter().map(|(f, _)| f).collect();
        let max_payload = tote_shared::vda5050::MAX_PAYLOAD_BYTES;
        crate::mqtt::broker::start(inner, m.max_connections, max_payload * 4, &login, &edge_filters)?;
        let issued = store.mqtt_logins().await?.into_iter().filter_map(crate::http::robots::identity_of);
        let gate = Gate::new(
            GateSettings {
                upstream: inner,
                upstream_username: login.username.clone(),
                upstream_password: login.password.clone(),
                max_connections: m.max_connections,
                connect_timeout: Duration::from_millis(m.connect_timeout_ms),
                // A robot's report with its topic; the edge's orders may be larger.
                max_packet_bytes: max_payload + 1024,
                max_outgoing_packet_bytes: max_payload * 4,
            },
            Credentials::new(issued),
        );
        let shown = plain.local_addr()?.to_string();
        let shown_tls = tls.as_ref().map(|(l, _)| l.local_addr()).transpose()?.map(|a| a.to_string());
        tracing::info!(robots = %shown, tls = ?shown_tls, "MQTT gate listening");
        Ok(Broker {
            shown,
            shown_tls,
            client_host: inner.ip().to_string(),
            client_port: inner.port(),
            client_login: Some((login.username, login.password)),
            gate: Some(GateListeners { gate, plain, tls }),
        })
    }
    #[cfg(not(feature = "embedded-broker"))]
    anyhow::bail!("no MQTT broker configured and this build has no embedded broker")
}

async fn expire_stale_robots(fleet: Arc<Fleet>, stale_ms: u64, stop: Stop) {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    while stop.run_until_stopped(tick.tick()).await.is_some() {
        for serial in fleet.expire(tote_shared::runtime::system::now_ms(), stale_ms as i64) {
            tracing::warn!(%serial, "robot state is stale; taken out of service");
        }
    }
}

/// Every ten minutes: drop acknowledged outbox events and request keys past their retention.
/// Stops between batches.
async fn prune_history(state: AppState, stop: Stop) {
    let hours = |h: u64| h as i64 * 3_600_000;
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    while stop.run_until_stopped(tick.tick()).await.is_some() {
        let now = tote_shared::runtime::system::now_ms();
        let (events_before, keys_before) = (now - hours(state.settings.retention.acked_events_hours), now - hours(state.settings.retention.request_keys_hours));
        while !stop.is_stopped() {
            match state.store.prune(events_before, keys_before).await {
                Ok((0, 0)) => break,
                Ok((events, keys)) => tracing::info!(events, keys, "old outbox events and request keys pruned"),
                Err(error) => {
                    tracing::error!(%error, "pruning failed");
                    break;
                }
            }
        }
    }
}
