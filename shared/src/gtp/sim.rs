//! Goods-to-person in simulated time: the controller drives robots that move one cell per
//! step and workers who pick one line per `pick_steps`. Deterministic for a seed. Used by the
//! controller's tests and by the shift benchmark (`tote-sim bench gtp`); the daemons run the
//! same controller against real robots over MQTT.

use super::control::{Controller, LegAction, Output, PodPlace, RobotReport, Settings};
use super::layout::Layout;
use crate::mapf::{Cell, Rng};
use std::collections::{BTreeMap, VecDeque};

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub robots: usize,
    pub pods: usize,
    /// Steps (seconds at 1 m cells and 1 m/s) a worker needs per pick line.
    pub pick_steps: u32,
    /// Steps a lift, drop or charger docking takes.
    pub action_steps: u32,
    /// Open lines kept waiting (the order backlog).
    pub backlog: usize,
    /// Share of lines (percent) on the 20 % fastest-moving pods.
    pub skew_percent: u32,
    /// Battery drain per cell driven and gain per step charging (percent).
    pub drain: f64,
    pub charge_rate: f64,
    /// Orders and instant actions lost on the way to a robot (percent), as on a link that drops.
    pub lose_percent: u32,
    pub seed: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig { robots: 20, pods: 200, pick_steps: 8, action_steps: 2, backlog: 300, skew_percent: 80, drain: 0.01, charge_rate: 0.5, lose_percent: 0, seed: 1 }
    }
}

struct SimRobot {
    cell: Cell,
    order_id: String,
    update_id: u32,
    ahead: VecDeque<Cell>,
    /// The action riding on the last released cell, if the goal is released.
    action: Option<(String, LegAction)>,
    busy: u32,
    finished: Vec<String>,
    battery: f64,
    charging: bool,
    in_service: bool,
}

#[derive(Debug, Clone, Default)]
pub struct SimReport {
    pub steps: u64,
    pub lines_picked: u64,
    pub lines_per_station: Vec<u64>,
    /// Robot-steps spent on a job other than idle, over all robot-steps.
    pub utilisation: f64,
    /// Steps a station had a pod in front of its worker.
    pub presenting_steps: Vec<u64>,
    pub vertex_conflicts: u64,
    pub swap_conflicts: u64,
    pub visits: u64,
    pub charges: u64,
    /// The longest any robot stood still with somewhere to go.
    pub longest_wait: u64,
    /// Robot-steps spent driving (one cell each).
    pub moving_steps: u64,
    /// Orders and instant actions lost on the way (`SimConfig::lose_percent`).
    pub lost: u64,
}

pub struct FloorSim {
    pub controller: Controller,
    cfg: SimConfig,
    robots: BTreeMap<String, SimRobot>,
    pod_ids: Vec<String>,
    demand: BTreeMap<String, u32>,
    open_lines: usize,
    /// Per station: steps left on the current line.
    worker: Vec<u32>,
    rng: Rng,
    report: SimReport,
    waiting: BTreeMap<String, u64>,
}

impl FloorSim {
    pub fn new(layout: Layout, cfg: SimConfig) -> FloorSim {
        let pods = cfg.pods.min(layout.storage.len());
        let pod_ids: Vec<String> = (1..=pods).map(|k| format!("P{k:04}")).collect();
        let places = pod_ids.iter().zip(&layout.storage).map(|(id, spot)| (id.clone(), PodPlace::Stored { spot: *spot })).collect();
        // Robots start on parking cells, then anywhere not storage.
        let starts: Vec<Cell> = layout
            .parking
            .iter()
            .copied()
            .chain((0..layout.grid.cells() as Cell).filter(|c| layout.grid.is_free(*c) && !layout.is_storage(*c) && !layout.parking.contains(c)))
            .take(cfg.robots)
            .collect();
        let robots = starts
            .iter()
            .enumerate()
            .map(|(k, cell)| {
                let robot = SimRobot { cell: *cell, order_id: String::new(), update_id: 0, ahead: VecDeque::new(), action: None, busy: 0, finished: Vec::new(), battery: 60.0 + (k % 5) as f64 * 10.0, charging: false, in_service: true };
                (format!("sim-{k:03}"), robot)
            })
            .collect();
        let stations = layout.stations.len();
        let settings = Settings { seed: cfg.seed, ..Settings::default() };
        let controller = Controller::new(layout, places, settings, 0).expect("pods on distinct storage spots");
        let rng = Rng::new(cfg.seed);
        let report = SimReport { lines_per_station: vec![0; stations], presenting_steps: vec![0; stations], ..SimReport::default() };
        FloorSim { controller, robots, pod_ids, demand: BTreeMap::new(), open_lines: 0, worker: vec![0; stations], rng, report, waiting: BTreeMap::new(), cfg }
    }

    /// Takes a robot out of service (it keeps its cell) or puts it back.
    pub fn set_in_service(&mut self, serial: &str, in_service: bool) {
        if let Some(r) = self.robots.get_mut(serial) {
            r.in_service = in_service;
        }
    }

    pub fn serials(&self) -> Vec<String> {
        self.robots.keys().cloned().collect()
    }

    /// Lines still open.
    pub fn open_lines(&self) -> usize {
        self.open_lines
    }

    /// Adds `n` order lines, each on a pod chosen with the configured skew.
    pub fn add_lines(&mut self, n: usize) {
        let fast = (self.pod_ids.len() / 5).max(1);
        for _ in 0..n {
            let p = if self.rng.below(100) < self.cfg.skew_percent as usize { self.rng.below(fast) } else { self.rng.below(self.pod_ids.len()) };
            *self.demand.entry(self.pod_ids[p].clone()).or_insert(0) += 1;
            self.open_lines += 1;
        }
    }

    /// One step: robots move and act, workers pick, the controller decides.
    pub fn step(&mut self, keep_backlog: bool) {
        self.report.steps += 1;
        self.move_robots();
        self.pick();
        if keep_backlog && self.open_lines < self.cfg.backlog {
            self.add_lines(self.cfg.backlog - self.open_lines);
        }
        let reports = self
            .robots
            .iter()
            .map(|(s, r)| (s.clone(), RobotReport {
                    in_service: r.in_service,
                    cell: Some(r.cell),
                    battery: r.battery,
                    finished_actions: r.finished.clone(),
                    order_id: Some(r.order_id.clone()),
                    order_update_id: r.update_id,
                    ahead: r.ahead.iter().copied().collect(),
                    load: None,
                    refusals: 0,
                }))
            .collect();
        let outputs = self.controller.tick(&reports, &self.demand);
        self.apply(outputs);
        self.account();
    }

    /// Runs until every line is picked and every pod is stored, or `max_steps`. True when done.
    pub fn run_until_done(&mut self, max_steps: u64) -> bool {
        for _ in 0..max_steps {
            self.step(false);
            let stored = self.controller.pod_places().iter().all(|(_, p)| matches!(p, PodPlace::Stored { .. }));
            if self.open_lines == 0 && stored {
                return true;
            }
        }
        false
    }

    pub fn report(&self) -> SimReport {
        let mut r = self.report.clone();
        r.visits = self.controller.stats.visits_done;
        r.longest_wait = r.longest_wait.max(self.waiting.values().copied().max().unwrap_or(0));
        r
    }

    fn move_robots(&mut self) {
        let mut moved = Vec::new();
        for (serial, r) in self.robots.iter_mut() {
            if !r.in_service {
                continue;
            }
            if r.charging {
                r.battery = (r.battery + self.cfg.charge_rate).min(100.0);
            }
            if r.busy > 0 {
                r.busy -= 1;
                if r.busy == 0 {
                    if let Some((id, action)) = r.action.take() {
                        r.charging |= action == LegAction::Charge;
                        r.finished.push(id);
                        if r.finished.len() > 8 {
                            r.finished.remove(0);
                        }
                    }
                }
                continue;
            }
            if let Some(next) = r.ahead.pop_front() {
                moved.push((serial.clone(), r.cell, next));
                r.cell = next;
                r.battery = (r.battery - self.cfg.drain).max(0.0);
                if r.ahead.is_empty() && r.action.is_some() {
                    r.busy = self.cfg.action_steps;
                }
            }
        }
        self.report.moving_steps += moved.len() as u64;
        self.check(&moved);
    }

    /// Counts robots sharing a cell and robots swapping along an edge: both must stay zero.
    fn check(&mut self, moved: &[(String, Cell, Cell)]) {
        let mut seen = std::collections::HashSet::new();
        for r in self.robots.values() {
            if !seen.insert(r.cell) {
                self.report.vertex_conflicts += 1;
            }
        }
        for (a, from_a, to_a) in moved {
            for (b, from_b, to_b) in moved {
                if a < b && from_a == to_b && from_b == to_a {
                    self.report.swap_conflicts += 1;
                } else if a != b && to_a == from_b {
                    // Following into a cell left in the same step: a collision on a real floor.
                    self.report.vertex_conflicts += 1;
                }
            }
        }
    }

    fn pick(&mut self) {
        let names: Vec<String> = self.controller.layout().stations.iter().map(|s| s.name.clone()).collect();
        for (s, name) in names.iter().enumerate() {
            let Some((pod, _robot)) = self.controller.presented(name) else {
                self.worker[s] = 0;
                continue;
            };
            self.report.presenting_steps[s] += 1;
            let lines = self.demand.get(&pod).copied().unwrap_or(0);
            if lines == 0 {
                continue;
            }
            if self.worker[s] == 0 {
                self.worker[s] = self.cfg.pick_steps;
            }
            self.worker[s] -= 1;
            if self.worker[s] == 0 {
                if let Some(n) = self.demand.get_mut(&pod) {
                    *n -= 1;
                }
                self.open_lines -= 1;
                self.report.lines_picked += 1;
                self.report.lines_per_station[s] += 1;
            }
        }
        self.demand.retain(|_, n| *n > 0);
    }

    fn apply(&mut self, outputs: Vec<Output>) {
        for output in outputs {
            let message = matches!(output, Output::Order(_) | Output::StopCharging { .. } | Output::CancelOrder { .. });
            if message && self.cfg.lose_percent > 0 && self.rng.below(100) < self.cfg.lose_percent as usize {
                self.report.lost += 1;
                continue;
            }
            match output {
                Output::Order(plan) => {
                    let Some(r) = self.robots.get_mut(&plan.robot) else { continue };
                    r.order_id = plan.order_id;
                    r.update_id = plan.update_id;
                    r.ahead = plan.cells.iter().copied().skip(1).take(plan.released.saturating_sub(1)).collect();
                    r.action = if plan.released == plan.cells.len() { plan.action } else { None };
                    if r.ahead.is_empty() && r.action.is_some() {
                        r.busy = self.cfg.action_steps;
                    }
                }
                Output::StopCharging { robot } => {
                    if let Some(r) = self.robots.get_mut(&robot) {
                        r.charging = false;
                        self.report.charges += 1;
                    }
                }
                Output::CancelOrder { robot, action_id } => {
                    if let Some(r) = self.robots.get_mut(&robot) {
                        r.ahead.clear();
                        r.action = None;
                        r.busy = 0;
                        r.finished.push(action_id);
                    }
                }
                Output::PodStranded { pod } => {
                    // The edge would move these lines to other stock; the simulation has one
                    // copy of each pod's stock, so the lines wait for the pod to come back.
                    let _ = pod;
                }
                Output::Pod { .. } | Output::VisitDone { .. } => {}
            }
        }
    }

    fn account(&mut self) {
        let busy = self.controller.busy_robots();
        self.report.utilisation += busy as f64 / self.robots.len().max(1) as f64;
        for (serial, r) in &self.robots {
            let waits = r.in_service && r.ahead.is_empty() && r.busy == 0 && self.controller.wants_to_move(serial);
            let w = self.waiting.entry(serial.clone()).or_insert(0);
            if waits {
                *w += 1;
            } else {
                self.report.longest_wait = self.report.longest_wait.max(*w);
                *w = 0;
            }
        }
    }

    /// Share of robot time spent driving.
    pub fn driving(&self) -> f64 {
        self.report.moving_steps as f64 / (self.report.steps.max(1) * self.robots.len().max(1) as u64) as f64
    }

    /// Mean utilisation over the run so far.
    pub fn utilisation(&self) -> f64 {
        self.report.utilisation / self.report.steps.max(1) as f64
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::gtp::layout::LayoutSpec;
    use crate::mapf::Grid;

    pub fn demo_layout() -> Layout {
        let grid = Grid::parse_movingai(include_str!("../../../configs/floor.map")).expect("configs/floor.map");
        let spec: LayoutSpec = toml::from_str(include_str!("../../../configs/floor.toml")).expect("configs/floor.toml parses");
        Layout::build(grid, &spec).expect("configs/floor.toml")
    }

    /// One-lane aisles, one-way: fleets of 6 to 30 robots pick 300 lines on generated floors
    /// without a conflict and without jamming (every line picked within the step budget).
    #[test]
    fn generated_one_lane_floors_are_worked_without_conflicts_or_jams() {
        for (seed, robots) in [(1, 6), (2, 15), (3, 30)] {
            let floor = crate::gtp::floorgen::one_lane(seed, 3);
            let layout = Layout::build(Grid::parse_movingai(&floor.map).expect("map"), &floor.spec).expect("layout");
            let mut sim = FloorSim::new(layout, SimConfig { robots, pods: 200, ..SimConfig::default() });
            sim.add_lines(300);
            let done = sim.run_until_done(30_000);
            let r = sim.report();
            eprintln!("seed {seed}, {robots} robots: {r:?}");
            assert!(done, "seed {seed}, {robots} robots: not done after 30,000 steps: {r:?}");
            assert_eq!((r.lines_picked, r.vertex_conflicts, r.swap_conflicts), (300, 0, 0));
        }
    }

    #[test]
    fn three_hundred_lines_on_the_demo_floor_are_picked_without_conflicts() {
        let mut sim = FloorSim::new(demo_layout(), SimConfig { robots: 20, pods: 200, ..SimConfig::default() });
        sim.add_lines(300);
        assert!(sim.run_until_done(20_000), "not done after 20,000 steps: {:?}", sim.report());
        let r = sim.report();
        assert_eq!(r.lines_picked, 300);
        assert_eq!((r.vertex_conflicts, r.swap_conflicts), (0, 0));
        assert!(r.lines_per_station.iter().all(|n| *n > 0), "every station works: {r:?}");
        assert!(r.visits < 300, "lines on one pod share a visit: {} visits", r.visits);
    }

    #[test]
    fn a_robot_leaving_service_strands_its_pod_and_others_finish_the_work() {
        let mut sim = FloorSim::new(demo_layout(), SimConfig { robots: 12, pods: 200, ..SimConfig::default() });
        sim.add_lines(120);
        // The worst places to break down: presenting at a pick cell, and queued for one.
        let mut broken = Vec::new();
        for _ in 0..2_000 {
            sim.step(false);
            let view = sim.controller.view();
            let at = |job: &str| view.robots.iter().find(|r| r.job == job && !broken.contains(&r.serial)).map(|r| r.serial.clone());
            if broken.is_empty() {
                broken.extend(at("present"));
            } else if let Some(serial) = at("deliver") {
                broken.push(serial);
                break;
            }
            for serial in &broken {
                sim.set_in_service(serial, false);
            }
        }
        assert_eq!(broken.len(), 2, "found a presenting and a delivering robot");
        for serial in &broken {
            sim.set_in_service(serial, false);
        }
        for _ in 0..400 {
            sim.step(false);
        }
        assert!(sim.report().lines_picked > 40, "the others keep picking: {:?}", sim.report());
        for serial in &broken {
            sim.set_in_service(serial, true);
        }
        let done = sim.run_until_done(20_000);
        if !done {
            for r in sim.controller.debug_bots() {
                eprintln!("BOT {r}");
            }
        }
        assert!(done, "not done: {:?}", sim.report());
        let r = sim.report();
        assert_eq!((r.vertex_conflicts, r.swap_conflicts, r.lines_picked), (0, 0, 120));
    }

    /// A link that loses one order or instant action in ten: master control sends again what a
    /// robot did not take — a step ahead, a cancel, and the lift or drop released where the robot
    /// already stands (no cell ahead to wait for, so only its order id shows it never came).
    #[test]
    fn orders_lost_on_the_way_are_sent_again_and_every_line_is_picked() {
        for seed in 1..=3 {
            let mut sim = FloorSim::new(demo_layout(), SimConfig { robots: 12, lose_percent: 10, seed, ..SimConfig::default() });
            sim.add_lines(100);
            let done = sim.run_until_done(40_000);
            let r = sim.report();
            assert!(done, "seed {seed}: not done: {r:?}\n{}", sim.controller.debug_bots().join("\n"));
            assert_eq!((r.lines_picked, r.vertex_conflicts, r.swap_conflicts), (100, 0, 0), "seed {seed}");
            assert!(r.lost > 100 && sim.controller.stats.orders_resent > 0, "seed {seed}: the link lost messages and they were sent again: {r:?}");
        }
    }

    #[test]
    fn a_station_offline_gets_no_pods_its_presented_pod_moves_on_and_it_comes_back() {
        let mut sim = FloorSim::new(demo_layout(), SimConfig { robots: 12, pods: 200, ..SimConfig::default() });
        sim.add_lines(150);
        let name = sim.controller.layout().stations[1].name.clone();
        // Offline the moment it presents a pod.
        let presented = (0..2_000).find_map(|_| {
            sim.step(false);
            sim.controller.presented(&name).map(|(pod, _)| pod)
        });
        let presented = presented.expect("the station got a pod");
        assert!(sim.controller.set_station(&name, false, false));
        let before = sim.report().lines_per_station[1];
        for _ in 0..600 {
            sim.step(false);
            let view = sim.controller.view();
            let station = view.stations.iter().find(|s| s.name == name).expect("station in view");
            assert!(station.presenting.is_none() && station.coming.is_empty(), "offline station got work: {station:?}");
            assert!(!station.online);
        }
        let r = sim.report();
        assert_eq!(r.lines_per_station[1], before, "no picks at an offline station");
        assert!(r.lines_picked > 30, "the other stations pick, including {presented}'s lines: {r:?}");
        assert!(!sim.controller.set_station("nowhere", true, false));
        sim.controller.set_station(&name, true, false);
        assert!(sim.run_until_done(20_000), "not done: {:?}", sim.report());
        let r = sim.report();
        assert_eq!((r.vertex_conflicts, r.swap_conflicts, r.lines_picked), (0, 0, 150));
        assert!(r.lines_per_station[1] > before, "back online, it picks again: {r:?}");
    }

    #[test]
    fn a_broken_light_curtain_keeps_the_presented_pod_until_it_clears() {
        let mut sim = FloorSim::new(demo_layout(), SimConfig { robots: 8, pods: 200, ..SimConfig::default() });
        sim.add_lines(40);
        let name = sim.controller.layout().stations[0].name.clone();
        let (pod, _) = (0..2_000)
            .find_map(|_| {
                sim.step(false);
                sim.controller.presented(&name)
            })
            .expect("the station got a pod");
        sim.controller.set_station(&name, true, true);
        for _ in 0..300 {
            sim.step(false);
            assert_eq!(sim.controller.presented(&name).map(|p| p.0), Some(pod.clone()), "held pod left");
        }
        sim.controller.set_station(&name, true, false);
        assert!(sim.run_until_done(20_000), "not done: {:?}", sim.report());
        assert_eq!(sim.report().lines_picked, 40);
    }

    #[test]
    fn many_seeds_and_fleet_sizes_finish_without_conflicts_or_endless_waits() {
        for seed in 1..=6u64 {
            let robots = 8 + 6 * seed as usize;
            let mut sim = FloorSim::new(demo_layout(), SimConfig { robots, seed, ..SimConfig::default() });
            sim.add_lines(150);
            let done = sim.run_until_done(20_000);
            let r = sim.report();
            assert!(done, "seed {seed}, {robots} robots: {r:?}");
            assert_eq!((r.vertex_conflicts, r.swap_conflicts), (0, 0), "seed {seed}");
            assert!(r.longest_wait < 200, "seed {seed}: a robot stood {} steps with somewhere to go", r.longest_wait);
        }
    }

    /// Postmortem: with one-lane aisles, or with PIBT free to plan rotations (four robots
    /// each moving into the next one's cell, which real robots cannot do at once), a busy
    /// floor jammed for good within two simulated hours.
    #[test]
    fn two_busy_hours_with_thirty_robots_never_jam() {
        let mut sim = FloorSim::new(demo_layout(), SimConfig { robots: 30, pick_steps: 6, seed: 2, ..SimConfig::default() });
        for _ in 0..2 * 3600 {
            sim.step(true);
        }
        let r = sim.report();
        assert_eq!((r.vertex_conflicts, r.swap_conflicts), (0, 0));
        assert!(r.longest_wait < 120, "a robot stood {} s with somewhere to go", r.longest_wait);
        assert!(r.lines_per_station.iter().all(|n| *n > 500), "every station kept picking: {r:?}");
    }
}
