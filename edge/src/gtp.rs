//! Goods-to-person master control on the edge: every `tick_ms` the pure controller
//! (`tote_shared::gtp::Controller`) gets the fleet as VDA 5050 reported it and the open pick
//! lines per pod from the store, and its decisions go out as VDA 5050 orders and instant
//! actions over MQTT and as pod movements into SQLite.

use crate::config::FloorSettings;
use crate::drivers::{Command, RobotDriver};
use crate::store::{EdgeStore, NewPod, PodRecord};
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tote_shared::gtp::control::{FloorView, StationView};
use tote_shared::gtp::{Controller, Layout, LayoutSpec, Output, PodPlace, Settings};
use tote_shared::mapf::{Cell, Grid};
use tote_shared::runtime::supervise::Stop;

#[derive(Debug, thiserror::Error)]
pub enum FloorError {
    #[error("cannot read {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("layout {path}: {error}")]
    Layout { path: String, error: String },
    #[error("{0}")]
    Pods(String),
}

/// How old the whole view of the floor may get. Building it (every robot's path, every pod)
/// took ~5 ms of a 1,000-robot tick, so it is built at most this often; the stations' part,
/// which workers and PLCs wait on, every tick.
const VIEW_EVERY: Duration = Duration::from_millis(200);

/// The layout and the latest view of the floor, shared with the HTTP handlers.
pub struct Floor {
    pub layout: Layout,
    pub layout_view: LayoutView,
    /// Robots, pods and figures, at most `VIEW_EVERY` old.
    view: Mutex<Option<Arc<FloorView>>>,
    /// The stations, as of the last tick.
    stations: Mutex<Option<Arc<Vec<StationView>>>>,
    ticks: Mutex<TickTimes>,
}

impl Floor {
    /// The whole floor: robots and pods at most `VIEW_EVERY` old, stations as of the last tick.
    pub fn view(&self) -> Option<FloorView> {
        let mut view = FloorView::clone(self.view.lock().unwrap_or_else(|p| p.into_inner()).as_ref()?);
        if let Some(stations) = self.stations.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            view.stations = stations.to_vec();
        }
        Some(view)
    }

    /// One station as of the last tick (None before master control's first tick).
    pub fn station(&self, name: &str) -> Option<StationView> {
        let stations = self.stations.lock().unwrap_or_else(|p| p.into_inner()).clone()?;
        stations.iter().find(|s| s.name == name).cloned()
    }

    /// How long master control's recent ticks took, against its budget.
    pub fn ticks(&self) -> TickStats {
        self.ticks.lock().unwrap_or_else(|p| p.into_inner()).stats()
    }
}

/// Ticks kept for the figures: a minute at the default 50 ms.
const TICKS_KEPT: usize = 1200;

/// How long one tick took, part by part.
#[derive(Debug, Clone, Copy, Default)]
struct TickTime {
    /// Open lines per pod from the store, the robots' reports, the stations' gates.
    read: Duration,
    /// The pure decisions (traffic, jobs).
    decide: Duration,
    /// Orders and instant actions out to the robots, pod movements into the store.
    send: Duration,
    /// The view for the floor page and API.
    view: Duration,
}

impl TickTime {
    fn total(&self) -> Duration {
        self.read + self.decide + self.send + self.view
    }
}

/// The last `TICKS_KEPT` ticks, and overruns since start.
struct TickTimes {
    budget_ms: u64,
    kept: std::collections::VecDeque<TickTime>,
    ticks: u64,
    over_budget: u64,
}

impl TickTimes {
    fn new(budget_ms: u64) -> TickTimes {
        TickTimes { budget_ms, kept: Default::default(), ticks: 0, over_budget: 0 }
    }

    fn record(&mut self, time: TickTime) {
        if self.kept.len() == TICKS_KEPT {
            self.kept.pop_front();
        }
        self.kept.push_back(time);
        self.ticks += 1;
        self.over_budget += u64::from(time.total() > Duration::from_millis(self.budget_ms));
    }

    fn stats(&self) -> TickStats {
        let figures = |part: fn(&TickTime) -> Duration| {
            let mut sorted: Vec<Duration> = self.kept.iter().map(part).collect();
            sorted.sort_unstable();
            let at = |q: f64| {
                let k = ((sorted.len() as f64 - 1.0) * q).round() as usize;
                sorted.get(k).map_or(0.0, |d| d.as_micros() as f64 / 1000.0)
            };
            PartStats { p50_ms: at(0.5), p99_ms: at(0.99), max_ms: at(1.0) }
        };
        TickStats {
            budget_ms: self.budget_ms,
            ticks: self.ticks,
            over_budget: self.over_budget,
            window: self.kept.len(),
            total: figures(TickTime::total),
            read: figures(|t| t.read),
            decide: figures(|t| t.decide),
            send: figures(|t| t.send),
            view: figures(|t| t.view),
        }
    }
}

/// Master control's tick times over the last `window` ticks (`ticks` and `over_budget` since
/// start). A tick over budget delays the next: robots wait longer for their cells.
#[derive(Debug, Clone, Serialize)]
pub struct TickStats {
    pub budget_ms: u64,
    pub ticks: u64,
    pub over_budget: u64,
    pub window: usize,
    pub total: PartStats,
    /// Open lines per pod from the store, the robots' reports, the stations' gates.
    pub read: PartStats,
    /// The pure decisions (traffic, jobs).
    pub decide: PartStats,
    /// Orders and instant actions out, pod movements into the store.
    pub send: PartStats,
    /// The view for the floor page and API.
    pub view: PartStats,
}

#[derive(Debug, Clone, Serialize)]
pub struct PartStats {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// The static floor for the page: grid size, blocked cells, spots, stations, chargers.
#[derive(Debug, Clone, Serialize)]
pub struct LayoutView {
    pub width: u32,
    pub height: u32,
    pub cell_size_m: f64,
    pub blocked: Vec<[u32; 2]>,
    pub storage: Vec<[u32; 2]>,
    pub stations: Vec<StationCells>,
    pub chargers: Vec<[u32; 2]>,
    pub parking: Vec<[u32; 2]>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StationCells {
    pub name: String,
    pub pick: [u32; 2],
    pub queue: Vec<[u32; 2]>,
}

/// Reads a layout file and the `.map` it names (relative to it).
pub fn read_layout(layout_path: &std::path::Path) -> Result<Layout, FloorError> {
    let read = |path: &std::path::Path| std::fs::read_to_string(path).map_err(|error| FloorError::Read { path: path.display().to_string(), error });
    let bad = |error: String| FloorError::Layout { path: layout_path.display().to_string(), error };
    let spec: LayoutSpec = toml::from_str(&read(layout_path)?).map_err(|e| bad(e.to_string()))?;
    let map_path = layout_path.parent().unwrap_or(std::path::Path::new(".")).join(&spec.map);
    let grid = Grid::parse_movingai(&read(&map_path)?).map_err(|e| bad(e.to_string()))?;
    Layout::build(grid, &spec).map_err(|e| bad(e.to_string()))
}

pub fn load_layout(settings: &FloorSettings) -> Result<Layout, FloorError> {
    let layout = read_layout(&settings.layout)?;
    if settings.pods > layout.storage.len() {
        let error = format!("{} pods do not fit on {} storage spots", settings.pods, layout.storage.len());
        return Err(FloorError::Layout { path: settings.layout.display().to_string(), error });
    }
    Ok(layout)
}

/// Where robots stand when a floor starts: parking cells first, then other aisle cells.
pub fn start_cells(layout: &Layout, count: usize) -> Vec<(f64, f64)> {
    let aisles = (0..layout.grid.cells() as Cell).filter(|c| {
        layout.grid.is_free(*c) && !layout.is_storage(*c) && !layout.parking.contains(c) && !layout.chargers.contains(c)
            && !layout.stations.iter().any(|s| s.pick == *c || s.queue.contains(c))
    });
    layout.parking.iter().copied().chain(aisles).take(count).map(|c| layout.position(c)).collect()
}

/// The pods of a fresh floor: P0001 … on the first storage spots, bins `P0001-A1` ….
pub fn initial_pods(layout: &Layout, settings: &FloorSettings) -> Vec<NewPod> {
    (0..settings.pods)
        .map(|k| {
            let id = format!("P{:04}", k + 1);
            let bins = (0..settings.faces)
                .flat_map(|f| (1..=settings.bins_per_face).map(move |b| (f, b)))
                .map(|(f, b)| format!("{id}-{}{b}", char::from(b'A' + f)))
                .collect();
            NewPod { spot: layout.grid.xy(layout.storage[k]), id, bins }
        })
        .collect()
}

/// Creates missing pods, reads where every pod is, and builds the controller.
pub async fn start(store: &EdgeStore, settings: &FloorSettings, now_ms: i64) -> anyhow::Result<(Arc<Floor>, Controller)> {
    let layout = load_layout(settings)?;
    let created = store.ensure_pods(initial_pods(&layout, settings)).await?;
    let records = store.pods().await?;
    let mut places = Vec::with_capacity(records.len());
    for r in records {
        places.push((r.id.clone(), place_of(&layout, &r)?));
    }
    tracing::info!(pods = places.len(), created, stations = layout.stations.len(), "goods-to-person floor loaded");
    let control = Settings { low_battery: settings.low_battery, charged: settings.charged, ..Settings::default() };
    let controller = Controller::new(layout.clone(), places, control, now_ms).map_err(|e| FloorError::Pods(e.to_string()))?;
    let floor = Floor { layout_view: layout_view(&layout), layout, view: Mutex::new(None), stations: Mutex::new(None), ticks: Mutex::new(TickTimes::new(settings.tick_ms)) };
    Ok((Arc::new(floor), controller))
}

fn place_of(layout: &Layout, r: &PodRecord) -> Result<PodPlace, FloorError> {
    let robot = || r.robot.clone().ok_or_else(|| FloorError::Pods(format!("pod {} is {} without a robot", r.id, r.place)));
    Ok(match r.place.as_str() {
        "stored" => {
            let spot = r.spot.and_then(|(x, y)| layout.grid.cell(x, y)).filter(|c| layout.is_storage(*c));
            let spot = spot.ok_or_else(|| FloorError::Pods(format!("pod {} is stored at {:?}, not a storage spot of this layout", r.id, r.spot)))?;
            PodPlace::Stored { spot }
        }
        "at_station" => PodPlace::AtStation { robot: robot()?, station: r.station.clone().unwrap_or_default() },
        "stranded" => PodPlace::Stranded { robot: robot()? },
        _ => PodPlace::OnRobot { robot: robot()? },
    })
}

fn record_of(layout: &Layout, pod: String, place: &PodPlace) -> PodRecord {
    let (name, spot, station) = match place {
        PodPlace::Stored { spot } => ("stored", Some(layout.grid.xy(*spot)), None),
        PodPlace::OnRobot { .. } => ("on_robot", None, None),
        PodPlace::AtStation { station, .. } => ("at_station", None, Some(station.clone())),
        PodPlace::Stranded { .. } => ("stranded", None, None),
    };
    PodRecord { id: pod, place: name.into(), spot, robot: place.robot().map(str::to_owned), station }
}

fn layout_view(layout: &Layout) -> LayoutView {
    let xy = |c: Cell| {
        let (x, y) = layout.grid.xy(c);
        [x, y]
    };
    let g = &layout.grid;
    let blocked = (0..g.cells() as Cell).filter(|c| !g.is_free(*c)).map(xy).collect();
    LayoutView {
        width: g.width(),
        height: g.height(),
        cell_size_m: layout.cell_size_m,
        blocked,
        storage: layout.storage.iter().map(|c| xy(*c)).collect(),
        stations: layout.stations.iter().map(|s| StationCells { name: s.name.clone(), pick: xy(s.pick), queue: s.queue.iter().map(|c| xy(*c)).collect() }).collect(),
        chargers: layout.chargers.iter().map(|c| xy(*c)).collect(),
        parking: layout.parking.iter().map(|c| xy(*c)).collect(),
    }
}

/// Master control, until `stop`. Stops between ticks: a tick's decisions are all carried out.
#[allow(clippy::too_many_arguments)] // each is one thing master control is given; a struct would only rename them
pub async fn run(
    floor: Arc<Floor>,
    mut controller: Controller,
    store: EdgeStore,
    drivers: Vec<Arc<dyn RobotDriver>>,
    panels: Arc<crate::plc::Panels>,
    tick_ms: u64,
    settle: Duration,
    stop: Stop,
) {
    // After a start (a restart after a crash included) robots still drive to nodes the last
    // run released. Wait until every robot has had time to report where it is and what is
    // released to it, so nothing is released into a cell one of them will occupy.
    if stop.run_until_stopped(tokio::time::sleep(settle)).await.is_none() {
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_millis(tick_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut viewed: Option<std::time::Instant> = None;
    let mut reports = std::collections::BTreeMap::new();
    loop {
        if stop.run_until_stopped(tick.tick()).await.is_none() {
            return;
        }
        let mut time = TickTime::default();
        let mut started = std::time::Instant::now();
        let demand = match store.pod_demand().await {
            Ok(d) => d.into_iter().collect(),
            Err(error) => {
                tracing::error!(%error, "cannot read open pick lines per pod");
                continue;
            }
        };
        for (station, online, hold) in panels.gates() {
            controller.set_station(&station, online, hold);
        }
        crate::drivers::refresh(&drivers, &floor.layout, &mut reports);
        let mut lap = || {
            let now = std::time::Instant::now();
            now - std::mem::replace(&mut started, now)
        };
        time.read = lap();
        let outputs = controller.tick(&reports, &demand);
        time.decide = lap();
        apply_all(&floor.layout, &store, &drivers, outputs).await;
        time.send = lap();
        let stations = Arc::new(controller.station_views());
        *floor.stations.lock().unwrap_or_else(|p| p.into_inner()) = Some(stations);
        if viewed.is_none_or(|at| at.elapsed() >= VIEW_EVERY) {
            let view = Arc::new(controller.view());
            *floor.view.lock().unwrap_or_else(|p| p.into_inner()) = Some(view);
            viewed = Some(std::time::Instant::now());
        }
        time.view = lap();
        floor.ticks.lock().unwrap_or_else(|p| p.into_inner()).record(time);
    }
}

/// Carries out a tick's decisions: the pods' new places first, all in one commit (a commit
/// each kept a busy tick waiting on the disk for every pod), then the rest in order.
async fn apply_all(layout: &Layout, store: &EdgeStore, drivers: &[Arc<dyn RobotDriver>], outputs: Vec<Output>) {
    let mut moved = Vec::new();
    let mut rest = Vec::with_capacity(outputs.len());
    for output in outputs {
        match output {
            Output::Pod { pod, place } if !matches!(place, PodPlace::Stranded { .. }) => moved.push(record_of(layout, pod, &place)),
            other => rest.push(other),
        }
    }
    if !moved.is_empty() {
        if let Err(error) = store.set_pods(moved).await {
            tracing::error!(%error, "master control could not record where pods are");
        }
    }
    for output in rest {
        apply(layout, store, drivers, output).await;
    }
}

async fn apply(layout: &Layout, store: &EdgeStore, drivers: &[Arc<dyn RobotDriver>], output: Output) {
    let done = match output {
        Output::Order(plan) => {
            let robot = plan.robot.clone();
            crate::drivers::send(drivers, layout, &robot, Command::Order(plan)).await
        }
        Output::CancelOrder { robot, action_id } => crate::drivers::send(drivers, layout, &robot, Command::Cancel { action_id }).await,
        Output::StopCharging { robot } => {
            let action_id = format!("mc-{}-{:08x}", tote_shared::runtime::system::now_ms(), rand::random::<u32>());
            crate::drivers::send(drivers, layout, &robot, Command::StopCharging { action_id }).await
        }
        Output::Pod { pod, place: place @ PodPlace::Stranded { .. } } => {
            let record = record_of(layout, pod.clone(), &place);
            match store.strand_pod(record).await {
                Ok(moved) => {
                    tracing::warn!(%pod, robot = place.robot(), moved, "pod stranded on a robot out of service; its open lines moved to other stock");
                    Ok(())
                }
                Err(e) => Err(e.to_string()),
            }
        }
        Output::Pod { pod, place } => store.set_pods(vec![record_of(layout, pod, &place)]).await.map_err(|e| e.to_string()),
        Output::PodStranded { .. } => Ok(()),
        Output::VisitDone { pod, station } => {
            tracing::info!(%pod, %station, "pod leaves the station");
            Ok(())
        }
    };
    if let Err(error) = done {
        tracing::error!(%error, "master control could not carry out a decision");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_figures_cover_the_last_ticks_part_by_part_and_count_every_overrun() {
        let ms = Duration::from_millis;
        let mut t = TickTimes::new(50);
        assert_eq!(t.stats().total.p99_ms, 0.0, "no ticks yet");
        // 100 slow ticks, then a window's worth of faster ones: the slow ones fall out of the
        // figures but stay counted as overruns.
        for _ in 0..100 {
            t.record(TickTime { read: ms(10), decide: ms(70), send: ms(0), view: ms(1) });
        }
        for k in 1..=TICKS_KEPT as u64 {
            let us = Duration::from_micros;
            t.record(TickTime { read: us(k), decide: us(2 * k), send: us(3 * k), view: us(4 * k) });
        }
        let s = t.stats();
        assert_eq!((s.ticks, s.window, s.over_budget), (100 + TICKS_KEPT as u64, TICKS_KEPT, 100));
        // Nearest rank over 10, 20, … 12,000 µs for the whole tick.
        assert_eq!((s.total.p50_ms, s.total.p99_ms, s.total.max_ms), (6.01, 11.88, 12.0));
        assert_eq!((s.read.p50_ms, s.decide.p50_ms, s.send.p99_ms, s.view.max_ms), (0.601, 1.202, 3.564, 4.8));
    }
}
