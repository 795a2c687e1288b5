//! The edge's typed settings: a TOML file, then `TOTE_EDGE__SECTION__KEY` environment
//! variables, then `validate()`. The central credential is a secret and never logged.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::path::Path;
pub use tote_shared::runtime::settings::{DatabaseSettings, HttpSettings};
pub use tote_shared::runtime::settings::ConfigError;
use tote_shared::runtime::settings::{default_log, load_layered, Invalid};
use tote_shared::WarehouseCode;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The warehouse this edge runs; must match its credential at central.
    pub warehouse: WarehouseCode,
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    pub central: CentralSettings,
    pub mqtt: MqttSettings,
    #[serde(default)]
    pub retention: RetentionSettings,
    #[serde(default)]
    pub printing: PrintingSettings,
    /// How each kind of order line is picked (strategy rules by order profile).
    #[serde(default)]
    pub picking: PickingSettings,
    /// The receiving dock's doors and hours, for delivery appointments.
    #[serde(default)]
    pub dock: tote_shared::dock::DockRules,
    /// Worker sign-in and the API token for station software.
    #[serde(default)]
    pub auth: AuthSettings,
    /// Fixed-mount scanners, each with its own TCP listener.
    #[serde(default)]
    pub scanners: Vec<ScannerSettings>,
    /// A goods-to-person floor: robots bring pods to stations. Absent: no robot dispatch.
    #[serde(default)]
    pub floor: Option<FloorSettings>,
    /// The PLC at each goods-to-person station (Modbus TCP): pick-to-light, confirm button,
    /// pod sensor, light curtain, tower light. Stations without one are always online.
    #[serde(default)]
    pub station_plcs: Vec<StationPlcSettings>,
    /// Robots driven over Modbus TCP registers (beside the VDA 5050 ones on MQTT).
    #[serde(default)]
    pub modbus_robots: Vec<ModbusRobotSettings>,
    #[serde(default = "default_log")]
    pub log: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CentralSettings {
    /// Base URL of tote-central, e.g. http://hq.example:8080
    pub url: String,
    /// This edge's bearer token at central. Set it from the environment.
    pub token: SecretString,
    /// With an https:// URL: the CA (PEM) HQ's certificate must chain to, for a private PKI.
    /// Absent: the usual public web roots.
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
    /// Events per push.
    pub push_batch: usize,
    /// Long-poll wait for commands.
    pub pull_wait_ms: u64,
    pub request_timeout_ms: u64,
    /// Retry delays grow from the initial value to the maximum, with full jitter.
    pub backoff_initial_ms: u64,
    pub backoff_max_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttSettings {
    /// `host:port` of the broker the robots use. Absent: the edge runs its own broker.
    #[serde(default)]
    pub broker: Option<String>,
    /// Where the embedded broker listens when `broker` is absent (port 0 picks a free port).
    pub embedded_listen: std::net::SocketAddr,
    /// Robots (and other clients) the embedded broker accepts at once.
    pub max_connections: usize,
    /// A robot whose last message is older than this leaves service. VDA 5050 lets a vehicle
    /// publish `state` only on events and at least every 30 s, so the default leaves room for
    /// that; a broken connection (last will) takes a robot out at once anyway.
    #[serde(default = "stale_state_ms")]
    pub stale_state_ms: u64,
    /// After a start, master control waits this long for every robot to report where it is
    /// and what was released to it before it releases anything.
    #[serde(default = "settle_ms")]
    pub settle_ms: u64,
    /// Refusals in a row (orderError, validationError, …) after which a robot leaves dispatch
    /// and its work goes to others, until a supervisor puts it back.
    #[serde(default = "max_refusals")]
    pub max_refusals: u32,
    /// The robot manufacturers (VDA 5050 topic level) this edge controls. Empty: every robot
    /// on the broker — fine with a broker per site; on a shared broker, name yours.
    #[serde(default)]
    pub manufacturers: Vec<String>,
    /// Embedded broker: also accept robots over TLS (MQTT over TLS, usually port 8883) here,
    /// with `tls`'s certificate.
    #[serde(default)]
    pub tls_listen: Option<std::net::SocketAddr>,
    #[serde(default)]
    pub tls: Option<tote_shared::runtime::tls::TlsFiles>,
    /// Embedded broker: longest from a robot's connect to its CONNECT packet (TLS included).
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// External broker: the edge's own login there, if it wants one.
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<SecretString>,
}

fn stale_state_ms() -> u64 {
    40_000
}

fn settle_ms() -> u64 {
    3_000
}

fn max_refusals() -> u32 {
    3
}

fn default_connect_timeout_ms() -> u64 {
    10_000
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSettings {
    /// Outbox events central acknowledged are deleted after this long (kept a while for audit).
    pub acked_events_hours: u64,
    /// Idempotency-Keys of handheld requests are forgotten after this long.
    pub request_keys_hours: u64,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings { acked_events_hours: 24 * 7, request_keys_hours: 48 }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PickingSettings {
    /// One rule per profile (`goods_to_person`, `single_unit`, `multi_line`) naming its method
    /// (`station`, `discrete`, `batch`, `cluster`). Default: goods-to-person SKUs to the
    /// stations, the rest discrete.
    #[serde(default)]
    pub rules: tote_shared::strategy::Rules,
    /// An item heavier or longer than this is bulky (its order is picked by the `bulky` rule).
    #[serde(default)]
    pub bulky: tote_shared::strategy::BulkyLimits,
    /// The shelf floor pick walks are planned on (aisles and bays of `ZONE-AA-BB` locations).
    #[serde(default = "default_walk_floor")]
    pub walk: tote_shared::walk::WalkFloor,
    /// How waves of batch and cluster picking are cut.
    #[serde(default)]
    pub waves: tote_shared::wave::WaveRules,
}

fn default_walk_floor() -> tote_shared::walk::WalkFloor {
    crate::store::WaveSettings::default().floor
}

impl Default for PickingSettings {
    fn default() -> PickingSettings {
        PickingSettings { rules: Default::default(), bulky: Default::default(), walk: default_walk_floor(), waves: Default::default() }
    }
}

impl PickingSettings {
    /// The strategy rules with the bulky limits.
    pub fn strategy(&self) -> tote_shared::strategy::Rules {
        self.rules.clone().with_bulky(self.bulky)
    }

    pub fn wave_settings(&self) -> crate::store::WaveSettings {
        crate::store::WaveSettings { rules: self.waves.clone(), floor: self.walk }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrintingSettings {
    /// The packing station's label printer, `host:port` (raw ZPL, usually port 9100). Absent:
    /// labels queue until one is configured.
    #[serde(default)]
    pub printer: Option<String>,
    /// Your GS1 company prefix, for the parcels' SSCCs. The default is GS1's example prefix:
    /// set your own.
    pub gs1_company_prefix: String,
    /// The sender line on labels.
    pub sender: String,
}

impl Default for PrintingSettings {
    fn default() -> Self {
        PrintingSettings { printer: None, gs1_company_prefix: "0614141".into(), sender: "Tote warehouse".into() }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScannerSettings {
    pub name: String,
    /// The station or dock door it is mounted at.
    pub station: String,
    pub listen: std::net::SocketAddr,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// A handheld session lasts this long (a shift).
    #[serde(default = "shift_minutes")]
    pub session_minutes: u64,
    /// Bearer token with every role, for station software and integrations (≥ 24 characters).
    /// Set it from the environment: TOTE_EDGE__AUTH__API_TOKEN.
    #[serde(default)]
    pub api_token: Option<SecretString>,
    /// Bearer token that `GET /metrics` then requires (≥ 24 characters; Prometheus'
    /// `authorization` setting). Absent: `/metrics` is open, as before. From the environment:
    /// TOTE_EDGE__AUTH__METRICS_TOKEN.
    #[serde(default)]
    pub metrics_token: Option<SecretString>,
    /// On first start with no workers, this supervisor is created with `bootstrap_pin`
    /// (TOTE_EDGE__AUTH__BOOTSTRAP_PIN); they then add the others.
    #[serde(default)]
    pub bootstrap_supervisor: Option<String>,
    #[serde(default)]
    pub bootstrap_pin: Option<SecretString>,
    /// Argon2 PIN comparisons running at once (each takes ~19 MiB and a core for a few ms).
    #[serde(default = "two")]
    pub max_concurrent_hashes: usize,
    /// Sign-ins waiting for a comparison beyond those; past it sign-in answers 503 at once.
    #[serde(default = "thirty_two")]
    pub max_waiting_hashes: usize,
    /// Failed badge sign-ins per minute for the whole edge; past it every badge sign-in is
    /// refused until the minute ends (workers can still use their PIN).
    #[serde(default = "thirty")]
    pub badge_failures_per_minute: u32,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            session_minutes: shift_minutes(),
            api_token: None,
            metrics_token: None,
            bootstrap_supervisor: None,
            bootstrap_pin: None,
            max_concurrent_hashes: two(),
            max_waiting_hashes: thirty_two(),
            badge_failures_per_minute: thirty(),
        }
    }
}

fn two() -> usize {
    2
}

fn thirty_two() -> usize {
    32
}

fn thirty() -> u32 {
    30
}

fn shift_minutes() -> u64 {
    600
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StationPlcSettings {
    /// The floor station it serves (a name in the layout).
    pub station: String,
    /// `host:port` of the PLC's Modbus TCP server.
    pub address: String,
    /// Modbus unit (slave) id.
    #[serde(default = "unit_one")]
    pub unit: u8,
    #[serde(default = "hundred")]
    pub poll_ms: u64,
    /// Each request (and the connect) gives up after this long.
    #[serde(default = "five_hundred")]
    pub timeout_ms: u64,
    /// A press this soon after the light changed counts for nothing (the worker cannot have
    /// read the new quantity).
    #[serde(default = "three_hundred")]
    pub settle_ms: u64,
    /// Failed polls in a row that take the station offline, good ones that bring it back.
    #[serde(default = "three")]
    pub offline_after: u32,
    #[serde(default = "three")]
    pub online_after: u32,
    /// Where the PLC keeps each signal; absent: the map `tote-sim plc` plays.
    #[serde(default)]
    pub map: tote_shared::station::RegisterMap,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModbusRobotSettings {
    /// Master control knows it as `manufacturer/serial`, like a VDA 5050 robot.
    pub manufacturer: String,
    pub serial: String,
    /// `host:port` of the robot's Modbus TCP server.
    pub address: String,
    #[serde(default = "unit_one")]
    pub unit: u8,
    #[serde(default = "hundred")]
    pub poll_ms: u64,
    #[serde(default = "five_hundred")]
    pub timeout_ms: u64,
    /// Failed polls in a row that take it out of service.
    #[serde(default = "three")]
    pub offline_after: u32,
    /// First of the 7 status words (input or holding registers).
    #[serde(default = "status_base")]
    pub status: tote_shared::station::Point,
    /// First of the 5 command holding registers.
    #[serde(default = "command_base")]
    pub command: tote_shared::station::Point,
}

impl ModbusRobotSettings {
    pub fn key(&self) -> String {
        format!("{}/{}", self.manufacturer, self.serial)
    }
}

fn status_base() -> tote_shared::station::Point {
    tote_shared::station::Point::new(tote_shared::station::Table::Input, 0)
}

fn command_base() -> tote_shared::station::Point {
    tote_shared::station::Point::new(tote_shared::station::Table::Holding, 0)
}

fn unit_one() -> u8 {
    1
}

fn hundred() -> u64 {
    100
}

fn three_hundred() -> u64 {
    300
}

fn five_hundred() -> u64 {
    500
}

fn three() -> u32 {
    3
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FloorSettings {
    /// The layout file (TOML); the `.map` it names is read relative to it.
    pub layout: std::path::PathBuf,
    /// Pods P0001, P0002, … created on first start on the first storage spots.
    pub pods: usize,
    /// Faces per pod (A, B, …) and bins per face: bins are locations `P0001-A1`, ….
    #[serde(default = "four")]
    pub faces: u8,
    #[serde(default = "four")]
    pub bins_per_face: u8,
    /// How often master control decides (ms).
    #[serde(default = "fifty")]
    pub tick_ms: u64,
    /// Below this battery charge (%) an idle robot goes to a charger; at `charged` it leaves.
    #[serde(default = "low_battery")]
    pub low_battery: f64,
    #[serde(default = "charged")]
    pub charged: f64,
    /// The standard `pick`/`drop` parameters (VDA 5050 2.x: `stationType` and `loadType` are
    /// not optional): what a storage spot and a pod are called on this floor.
    #[serde(default = "station_type")]
    pub station_type: String,
    #[serde(default = "load_type")]
    pub load_type: String,
    /// Vehicle types that call them otherwise, by manufacturer (and series, if given).
    #[serde(default)]
    pub vehicle_types: Vec<VehicleType>,
}

/// `pick`/`drop` parameters for one kind of vehicle.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VehicleType {
    pub manufacturer: String,
    /// The factsheet's `seriesName`; absent: every series of the manufacturer.
    #[serde(default)]
    pub series: Option<String>,
    #[serde(default)]
    pub station_type: Option<String>,
    #[serde(default)]
    pub load_type: Option<String>,
}

impl FloorSettings {
    /// The `stationType` and `loadType` to send a vehicle of `manufacturer` and `series`.
    pub fn load_handling(&self, manufacturer: &str, series: Option<&str>) -> (&str, &str) {
        let matches = |v: &&VehicleType| v.manufacturer == manufacturer && v.series.as_deref().is_none_or(|s| Some(s) == series);
        // A series entry wins over a manufacturer-wide one.
        let mut types: Vec<&VehicleType> = self.vehicle_types.iter().filter(matches).collect();
        types.sort_by_key(|v| v.series.is_none());
        let station = types.iter().find_map(|v| v.station_type.as_deref()).unwrap_or(&self.station_type);
        let load = types.iter().find_map(|v| v.load_type.as_deref()).unwrap_or(&self.load_type);
        (station, load)
    }
}

fn station_type() -> String {
    "floor".into()
}

fn load_type() -> String {
    "POD".into()
}

fn four() -> u8 {
    4
}

fn fifty() -> u64 {
    50
}

fn low_battery() -> f64 {
    25.0
}

fn charged() -> f64 {
    90.0
}

impl Settings {
    fn validate_picking(&self) -> Result<(), ConfigError> {
        self.picking.rules.validate().map_err(|e| ConfigError::Invalid(Invalid { field: "picking.rules", why: e.to_string().into() }))?;
        self.picking.bulky.validate().map_err(|e| ConfigError::Invalid(Invalid { field: "picking.bulky", why: e.to_string().into() }))?;
        self.picking.walk.validate().map_err(|e| ConfigError::Invalid(Invalid { field: "picking.walk", why: e.to_string().into() }))?;
        self.picking.waves.validate().map_err(|e| ConfigError::Invalid(Invalid { field: "picking.waves", why: e.to_string().into() }))?;
        self.dock.validate().map_err(|e| ConfigError::Invalid(Invalid { field: "dock", why: e.to_string().into() }))
    }

    fn validate_plcs(&self) -> Result<(), ConfigError> {
        let invalid = |field, why: String| Err(ConfigError::Invalid(Invalid { field, why: why.into() }));
        if self.station_plcs.len() > 256 {
            return invalid("station_plcs", "at most 256 station PLCs per edge".into());
        }
        if !self.station_plcs.is_empty() && self.floor.is_none() {
            return invalid("station_plcs", "station PLCs need a [floor]".into());
        }
        let mut stations = std::collections::HashSet::new();
        for p in &self.station_plcs {
            if !stations.insert(&p.station) {
                return invalid("station_plcs.station", format!("station {:?} has two PLCs", p.station));
            }
            if p.address.rsplit_once(':').and_then(|(_, port)| port.parse::<u16>().ok()).is_none() {
                return invalid("station_plcs.address", format!("{:?} must be host:port", p.address));
            }
            if !(10..=10_000).contains(&p.poll_ms) || !(10..=30_000).contains(&p.timeout_ms) || p.settle_ms > 10_000 {
                return invalid("station_plcs", "poll_ms 10..=10000, timeout_ms 10..=30000, settle_ms ≤ 10000".into());
            }
            if !(1..=100).contains(&p.offline_after) || !(1..=100).contains(&p.online_after) {
                return invalid("station_plcs", "offline_after and online_after 1..=100".into());
            }
            if let Err(e) = p.map.validate() {
                return invalid("station_plcs.map", format!("station {}: {e}", p.station));
            }
        }
        Ok(())
    }

    fn validate_modbus_robots(&self) -> Result<(), ConfigError> {
        use tote_shared::station::Table;
        let invalid = |field, why: String| Err(ConfigError::Invalid(Invalid { field, why: why.into() }));
        if self.modbus_robots.len() > 1000 {
            return invalid("modbus_robots", "at most 1000 Modbus robots per edge".into());
        }
        if !self.modbus_robots.is_empty() && self.floor.is_none() {
            return invalid("modbus_robots", "Modbus robots need a [floor]".into());
        }
        let level = |s: &str| !s.is_empty() && s.len() <= 64 && !s.contains(['/', '+', '#']);
        let mut keys = std::collections::HashSet::new();
        for r in &self.modbus_robots {
            if !level(&r.manufacturer) || !level(&r.serial) || !keys.insert(r.key()) {
                return invalid("modbus_robots", format!("{:?}: manufacturer and serial are 1 to 64 characters without / + #, unique together", r.key()));
            }
            if r.address.rsplit_once(':').and_then(|(_, port)| port.parse::<u16>().ok()).is_none() {
                return invalid("modbus_robots.address", format!("{:?} must be host:port", r.address));
            }
            if !(10..=10_000).contains(&r.poll_ms) || !(10..=30_000).contains(&r.timeout_ms) || !(1..=100).contains(&r.offline_after) {
                return invalid("modbus_robots", "poll_ms 10..=10000, timeout_ms 10..=30000, offline_after 1..=100".into());
            }
            let fits = |p: tote_shared::station::Point, n: u16| p.address.checked_add(n - 1).is_some();
            if !matches!(r.status.table, Table::Input | Table::Holding) || r.command.table != Table::Holding || !fits(r.status, 7) || !fits(r.command, 5) {
                return invalid("modbus_robots", format!("{}: status is 7 input or holding registers, command 5 holding registers", r.key()));
            }
        }
        Ok(())
    }

    pub fn load(path: &Path) -> Result<Settings, ConfigError> {
        let settings: Settings = load_layered(path, "TOTE_EDGE")?;
        settings.validate()?;
        Ok(settings)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        self.http.validate()?;
        self.database.validate()?;
        let invalid = |field, why: &'static str| Err(ConfigError::Invalid(Invalid { field, why: why.into() }));
        let p = &self.printing;
        if tote_shared::label::sscc(0, &p.gs1_company_prefix, 0).is_none() || p.gs1_company_prefix.len() < 6 {
            return invalid("printing.gs1_company_prefix", "must be 6 to 12 digits");
        }
        if p.printer.as_ref().is_some_and(|a| a.rsplit_once(':').and_then(|(_, port)| port.parse::<u16>().ok()).is_none()) {
            return invalid("printing.printer", "must be host:port");
        }
        if self.scanners.len() > 256 {
            return invalid("scanners", "at most 256 scanners per edge");
        }
        let mut names = std::collections::HashSet::new();
        if !self.scanners.iter().all(|s| !s.name.is_empty() && s.name.len() <= 40 && names.insert(&s.name)) {
            return invalid("scanners.name", "names must be 1 to 40 characters and unique");
        }
        let a = &self.auth;
        if !(5..=1440).contains(&a.session_minutes) {
            return invalid("auth.session_minutes", "must be between 5 and 1440");
        }
        if a.api_token.as_ref().is_some_and(|t| t.expose_secret().len() < 24) {
            return invalid("auth.api_token", "must be at least 24 characters");
        }
        if let Some(metrics) = &a.metrics_token {
            if metrics.expose_secret().len() < 24 {
                return invalid("auth.metrics_token", "must be at least 24 characters");
            }
            if a.api_token.as_ref().is_some_and(|api| api.expose_secret() == metrics.expose_secret()) {
                return invalid("auth.metrics_token", "must differ from auth.api_token");
            }
        }
        if a.bootstrap_supervisor.as_deref().is_some_and(|id| !crate::auth::valid_worker_id(id))
            || a.bootstrap_pin.as_ref().is_some_and(|p| !crate::auth::valid_pin(p.expose_secret()))
            || a.bootstrap_supervisor.is_some() != a.bootstrap_pin.is_some()
        {
            return invalid("auth.bootstrap_supervisor", "an id (letters, digits, . _ -) together with bootstrap_pin (4 to 12 digits)");
        }
        if !(1..=64).contains(&a.max_concurrent_hashes) || a.max_waiting_hashes > 4096 || !(1..=10_000).contains(&a.badge_failures_per_minute) {
            return invalid("auth", "max_concurrent_hashes 1..=64, max_waiting_hashes 0..=4096, badge_failures_per_minute 1..=10000");
        }
        self.validate_picking()?;
        self.validate_plcs()?;
        self.validate_modbus_robots()?;
        if let Some(f) = &self.floor {
            if !(1..=9999).contains(&f.pods) || !(1..=26).contains(&f.faces) || !(1..=99).contains(&f.bins_per_face) {
                return invalid("floor", "pods 1..=9999, faces 1..=26, bins_per_face 1..=99");
            }
            if !(10..=1000).contains(&f.tick_ms) || !(0.0..100.0).contains(&f.low_battery) || !(f.low_battery..=100.0).contains(&f.charged) {
                return invalid("floor", "tick_ms 10..=1000, 0 <= low_battery < charged <= 100");
            }
            let name = |s: &str| !s.is_empty() && s.len() <= 64;
            let names = |v: &VehicleType| name(&v.manufacturer) && [&v.series, &v.station_type, &v.load_type].iter().all(|o| o.as_deref().is_none_or(name));
            if !name(&f.station_type) || !name(&f.load_type) || f.vehicle_types.len() > 64 || !f.vehicle_types.iter().all(names) {
                return invalid("floor", "station_type, load_type and vehicle_types' names: 1 to 64 characters, at most 64 vehicle types");
            }
        }
        let m = &self.mqtt;
        if let Some(broker) = &m.broker {
            if broker.rsplit_once(':').and_then(|(_, p)| p.parse::<u16>().ok()).is_none() {
                return invalid("mqtt.broker", "must be host:port");
            }
        } else if cfg!(not(feature = "embedded-broker")) {
            return invalid("mqtt.broker", "this build has no embedded broker: name one");
        }
        let topic_level = |s: &String| !s.is_empty() && s.len() <= 64 && !s.contains(['/', '+', '#']);
        if m.manufacturers.len() > 64 || !m.manufacturers.iter().all(topic_level) {
            return invalid("mqtt.manufacturers", "at most 64 names of 1 to 64 characters without / + #");
        }
        if !(1..=100_000).contains(&m.max_connections) || !(500..=600_000).contains(&m.stale_state_ms) || m.settle_ms > 120_000 || !(1..=100).contains(&m.max_refusals) {
            return invalid("mqtt", "max_connections 1..=100000, stale_state_ms 500..=600000, settle_ms ≤ 120000, max_refusals 1..=100");
        }
        if m.tls_listen.is_some() != m.tls.is_some() {
            return invalid("mqtt.tls", "tls_listen and tls (cert_file, key_file) go together");
        }
        if m.tls.as_ref().is_some_and(|t| !t.cert_file.is_file() || !t.key_file.is_file()) {
            return invalid("mqtt.tls", "cert_file and key_file must be readable files");
        }
        if !(100..=60_000).contains(&m.connect_timeout_ms) {
            return invalid("mqtt.connect_timeout_ms", "must be between 100 and 60000");
        }
        if m.username.is_some() != m.password.is_some() {
            return invalid("mqtt.username", "username and password go together");
        }
        let c = &self.central;
        if !(c.url.starts_with("http://") || c.url.starts_with("https://")) {
            return invalid("central.url", "must start with http:// or https://");
        }
        if c.token.expose_secret().len() < 24 {
            return invalid("central.token", "must be at least 24 characters");
        }
        if !(1..=tote_shared::sync::MAX_PUSH_BATCH).contains(&c.push_batch) {
            return invalid("central.push_batch", "must be between 1 and 2000");
        }
        if c.pull_wait_ms > tote_shared::sync::MAX_PULL_WAIT_MS {
            return invalid("central.pull_wait_ms", "must be at most 30000");
        }
        if c.request_timeout_ms < 100 || c.backoff_initial_ms == 0 || c.backoff_max_ms < c.backoff_initial_ms {
            return invalid("central", "request_timeout_ms ≥ 100, backoff_initial_ms ≥ 1, backoff_max_ms ≥ backoff_initial_ms");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tote_shared::strategy::{Method, Profile, Rule, Rules};

    fn shipped() -> Settings {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/edge.toml");
        Settings::load(&path).expect("configs/edge.toml loads and validates")
    }

    #[test]
    fn the_shipped_config_sends_goods_to_person_skus_to_the_stations() {
        let settings = shipped();
        assert!(settings.picking.rules.pods_first());
        assert_eq!(settings.picking.rules.method(Profile::MultiLine), Method::Discrete);
    }

    #[test]
    fn a_station_rule_for_shelf_lines_is_refused_by_name() {
        let mut settings = shipped();
        settings.picking.rules = serde_json::from_value::<Rules>(serde_json::json!([{"profile": "single_unit", "method": "station"}])).expect("parses");
        let err = settings.validate().expect_err("refused");
        assert!(err.to_string().contains("picking.rules"), "{err}");
        settings.picking.rules = Rules::new(vec![Rule { profile: Profile::SingleUnit, method: Method::Discrete }]).expect("rules");
        settings.validate().expect("accepted");
    }

    #[test]
    fn wave_settings_are_checked_by_name() {
        let mut settings = shipped();
        settings.picking.waves.cutoffs.push(tote_shared::wave::Cutoff { carrier: "SF".into(), at: "25:00".into() });
        assert!(settings.validate().expect_err("refused").to_string().contains("picking.waves"));
        let mut settings = shipped();
        settings.picking.walk.depot_aisle = settings.picking.walk.aisles + 1;
        assert!(settings.validate().expect_err("refused").to_string().contains("picking.walk"));
    }
}
