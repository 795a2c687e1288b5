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
use tote_shared::gtp::control::FloorView;
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

/// The layout and the latest view of the floor, shared with the HTTP handlers.
pub struct Floor {
    pub layout: Layout,
    pub layout_view: LayoutView,
    view: Mutex<Option<FloorView>>,
    ticks: Mutex<TickTimes>,
}

impl Floor {
    pub fn view(&self) -> Option<FloorView> {
        self.view.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// How long master control's recent ticks took, against its budget.
    pub fn ticks(&self) -> TickStats {
        self.ticks.lock().unwrap_or_else(|p| p.into_inner()).stats()
    }
}

/// Ticks kept for the figures: a minute at the default 50 ms.
const TICKS_KEPT: usize = 1200;

/// The last `TICKS_KEPT` ticks' durations in microseconds: the whole tick (open lines read,
/// decisions, carrying them out, the view) and the pure decisions alone.
struct TickTimes {
    budget_ms: u64,
    total: std::collections::VecDeque<u32>,
    control: std::collections::VecDeque<u32>,
    ticks: u64,
    over_budget: u64,
}

impl TickTimes {
    fn new(budget_ms: u64) -> TickTimes {
        TickTimes { budget_ms, total: Default::default(), control: Default::default(), ticks: 0, over_budget: 0 }
    }

    fn record(&mut self, total: Duration, control: Duration) {
        let us = |d: Duration| u32::try_from(d.as_micros()).unwrap_or(u32::MAX);
        for (ring, value) in [(&mut self.total, us(total)), (&mut self.control, us(control))] {
            if ring.len() == TICKS_KEPT {
                ring.pop_front();
            }
            ring.push_back(value);
        }
        self.ticks += 1;
        self.over_budget += u64::from(total > Duration::from_millis(self.budget_ms));
    }

    fn stats(&self) -> TickStats {
        let pct = |ring: &std::collections::VecDeque<u32>, q: f64| {
            let mut sorted: Vec<u32> = ring.iter().copied().collect();
            sorted.sort_unstable();
            let at = ((sorted.len() as f64 - 1.0) * q).round() as usize;
            sorted.get(at).map_or(0.0, |us| f64::from(*us) / 1000.0)
        };
        TickStats {
            budget_ms: self.budget_ms,
            ticks: self.ticks,
            over_budget: self.over_budget,
            window: self.total.len(),
            p50_ms: pct(&self.total, 0.5),
            p99_ms: pct(&self.total, 0.99),
            max_ms: pct(&self.total, 1.0),
            control_p50_ms: pct(&self.control, 0.5),
            control_p99_ms: pct(&self.control, 0.99),
        }
    }
}

/// Master control's tick times over the last `window` ticks (all since start for `ticks` and
/// `over_budget`). A tick over budget delays the next: robots wait longer for their cells.
#[derive(Debug, Clone, Serialize)]
pub struct TickStats {
    pub budget_ms: u64,
    pub ticks: u64,
    pub over_budget: u64,
    pub window: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// The decisions alone (traffic, jobs), without reading open lines or sending orders.
    pub control_p50_ms: f64,
    pub control_p99_ms: f64,
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
    let floor = Floor { layout_view: layout_view(&layout), layout, view: Mutex::new(None), ticks: Mutex::new(TickTimes::new(settings.tick_ms)) };
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
    loop {
        if stop.run_until_stopped(tick.tick()).await.is_none() {
            return;
        }
        let started = std::time::Instant::now();
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
        let reports = crate::drivers::reports(&drivers, &floor.layout);
        let deciding = std::time::Instant::now();
        let outputs = controller.tick(&reports, &demand);
        let control = deciding.elapsed();
        for output in outputs {
            apply(&floor.layout, &store, &drivers, output).await;
        }
        *floor.view.lock().unwrap_or_else(|p| p.into_inner()) = Some(controller.view());
        floor.ticks.lock().unwrap_or_else(|p| p.into_inner()).record(started.elapsed(), control);
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
        Output::Pod { pod, place } => store.set_pod(record_of(layout, pod, &place)).await.map_err(|e| e.to_string()),
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
    fn tick_figures_cover_the_last_ticks_and_count_every_overrun() {
        let mut t = TickTimes::new(50);
        assert_eq!(t.stats().p99_ms, 0.0, "no ticks yet");
        // 100 slow ticks, then a window's worth of faster ones: the slow ones fall out of the
        // figures but stay counted as overruns.
        for _ in 0..100 {
            t.record(Duration::from_millis(80), Duration::from_millis(70));
        }
        for k in 1..=TICKS_KEPT as u64 {
            t.record(Duration::from_micros(k * 10), Duration::from_micros(k));
        }
        let s = t.stats();
        assert_eq!((s.ticks, s.window, s.over_budget), (100 + TICKS_KEPT as u64, TICKS_KEPT, 100));
        // Nearest rank over 10, 20, … 12,000 µs.
        assert_eq!((s.p50_ms, s.p99_ms, s.max_ms), (6.01, 11.88, 12.0));
        assert_eq!((s.control_p50_ms, s.control_p99_ms), (0.601, 1.188));
    }
}
