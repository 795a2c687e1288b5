//! Building and running the edge: open the store, bind, serve, run the sync loops, stop cleanly.

use crate::config::Settings;
use crate::http;
use crate::store::EdgeStore;
use crate::fleet::Fleet;
use crate::sync::{SyncClient, SyncHealth};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tote_shared::runtime::listener::serve;

#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub store: EdgeStore,
    pub sync_health: Arc<SyncHealth>,
    pub fleet: Arc<Fleet>,
    /// `host:port` of the MQTT broker the robots and the edge use.
    pub mqtt_broker: String,
    pub robots: crate::mqtt::Publisher,
    pub scanners: Arc<crate::scanner::Scanners>,
    /// The goods-to-person floor, when one is configured.
    pub floor: Option<Arc<crate::gtp::Floor>>,
    /// The stations' PLCs (none without a floor).
    pub panels: Arc<crate::plc::Panels>,
    /// Robots driven over Modbus TCP.
    pub modbus_robots: Arc<crate::modbus_robots::ModbusFleet>,
}

pub struct App {
    listener: TcpListener,
    state: AppState,
    events: rumqttc::EventLoop,
    /// Scanner listeners and station PLC pollers.
    device_tasks: Vec<tokio::task::JoinHandle<()>>,
    controller: Option<tote_shared::gtp::Controller>,
}

impl App {
    pub async fn build(settings: Settings) -> anyhow::Result<App> {
        let store = EdgeStore::open(&settings.database)?;
        let listener = TcpListener::bind(settings.http.listen).await?;
        let mqtt_broker = start_broker(&settings)?;
        let (host, port) = mqtt_broker.rsplit_once(':').map(|(h, p)| (h.to_owned(), p.parse().unwrap_or(1883))).unwrap_or_default();
        // Unique per process: two clients with one id make the broker drop the older one.
        let client_id = format!("tote-edge-{}-{}-{:04x}", settings.warehouse, std::process::id(), rand::random::<u16>());
        let (robots, events) = crate::mqtt::connect(&host, port, client_id);
        let (floor, controller) = match &settings.floor {
            Some(f) => {
                let (floor, controller) = crate::gtp::start(&store, f, tote_shared::runtime::system::now_ms()).await?;
                (Some(floor), Some(controller))
            }
            None => (None, None),
        };
        let (panels, modbus_robots, mut tasks) = match &floor {
            Some(floor) => {
                if let Some(p) = settings.station_plcs.iter().find(|p| !floor.layout.stations.iter().any(|s| s.name == p.station)) {
                    anyhow::bail!("station_plcs: station {:?} is not in the floor layout", p.station);
                }
                let (panels, mut tasks) = crate::plc::start(&settings.station_plcs, store.clone(), floor.clone());
                let (modbus_robots, robot_tasks) = crate::modbus_robots::start(&settings.modbus_robots, floor.clone());
                tasks.extend(robot_tasks);
                (panels, modbus_robots, tasks)
            }
            None => (Arc::default(), Arc::default(), Vec::new()),
        };
        let scanners: Arc<crate::scanner::Scanners> = Arc::default();
        for s in &settings.scanners {
            tasks.push(crate::scanner::start(s.name.clone(), s.station.clone(), s.listen, scanners.clone(), panels.clone()).await?);
        }
        let state = AppState { settings: Arc::new(settings), store, sync_health: Arc::default(), fleet: Arc::default(), mqtt_broker, robots, scanners, floor, panels, modbus_robots };
        crate::auth::bootstrap(&state).await?;
        Ok(App { listener, state, events, device_tasks: tasks, controller })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn port(&self) -> u16 {
        self.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub async fn run_until_stopped(self, stop: impl std::future::Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let App { listener, state, events, device_tasks, controller } = self;
        let addr = listener.local_addr()?;
        let sync = SyncClient::new(
            state.settings.central.clone(),
            state.settings.warehouse.clone(),
            state.store.clone(),
            state.sync_health.clone(),
        )?;
        let pusher = tokio::spawn(sync.clone().push_loop());
        let mqtt = tokio::spawn(crate::mqtt::run(state.robots.clone(), events, state.fleet.clone(), state.settings.mqtt.manufacturers.clone()));
        let watchdog = tokio::spawn(expire_stale_robots(state.fleet.clone(), state.settings.mqtt.stale_state_ms));
        let pruner = tokio::spawn(prune_history(state.clone()));
        let printer = tokio::spawn(crate::printer::run(state.store.clone(), state.settings.printing.printer.clone()));
        let puller = tokio::spawn(sync.pull_loop());
        let control = match (state.floor.clone(), controller, &state.settings.floor) {
            (Some(floor), Some(controller), Some(f)) => Some(tokio::spawn(crate::gtp::run(
                floor,
                controller,
                state.store.clone(),
                vec![
                    state.modbus_robots.clone() as Arc<dyn crate::drivers::RobotDriver>,
                    Arc::new(crate::drivers::VdaDriver { fleet: state.fleet.clone(), publisher: state.robots.clone() }),
                ],
                state.panels.clone(),
                f.tick_ms,
                std::time::Duration::from_millis(state.settings.mqtt.stale_state_ms),
            ))),
            _ => None,
        };
        tracing::info!(%addr, warehouse = %state.settings.warehouse, "tote-edge listening");
        let max_connections = state.settings.http.max_connections;
        let served = serve(listener, http::router(state), max_connections, stop).await;
        pusher.abort();
        mqtt.abort();
        watchdog.abort();
        pruner.abort();
        printer.abort();
        device_tasks.iter().for_each(|t| t.abort());
        puller.abort();
        if let Some(control) = control {
            control.abort();
        }
        tracing::info!("tote-edge stopped");
        Ok(served?)
    }
}

/// The broker address: the configured one, or the embedded broker started here.
fn start_broker(settings: &Settings) -> anyhow::Result<String> {
    if let Some(broker) = &settings.mqtt.broker {
        return Ok(broker.clone());
    }
    #[cfg(feature = "embedded-broker")]
    {
        let mut listen = settings.mqtt.embedded_listen;
        if listen.port() == 0 {
            // rumqttd cannot report a port it picked, so we pick one for it.
            listen.set_port(std::net::TcpListener::bind(listen)?.local_addr()?.port());
        }
        // Larger than what the edge accepts, so oversized robot messages reach it and are counted.
        crate::mqtt::broker::start(listen, settings.mqtt.max_connections, tote_shared::vda5050::MAX_PAYLOAD_BYTES * 4)?;
        Ok(listen.to_string())
    }
    #[cfg(not(feature = "embedded-broker"))]
    anyhow::bail!("no MQTT broker configured and this build has no embedded broker")
}

async fn expire_stale_robots(fleet: Arc<Fleet>, stale_ms: u64) {
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(250));
    loop {
        tick.tick().await;
        for serial in fleet.expire(tote_shared::runtime::system::now_ms(), stale_ms as i64) {
            tracing::warn!(%serial, "robot state is stale; taken out of service");
        }
    }
}

/// Every ten minutes: drop acknowledged outbox events and request keys past their retention.
async fn prune_history(state: AppState) {
    let hours = |h: u64| h as i64 * 3_600_000;
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(600));
    loop {
        tick.tick().await;
        let now = tote_shared::runtime::system::now_ms();
        let (events_before, keys_before) = (now - hours(state.settings.retention.acked_events_hours), now - hours(state.settings.retention.request_keys_hours));
        loop {
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
