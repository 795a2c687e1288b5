//! Master control for goods-to-person, as a pure state machine.
//!
//! Each `tick` takes what the robots last reported and how many open pick lines each pod
//! has, and returns what to do: order plans for robots (VDA 5050 base and horizon), pod
//! movements to record, pods that went out of reach. Nothing here waits or talks.
//!
//! A *visit* brings one pod to one station for every open line on it (lines of many orders,
//! and lines that arrive while the pod is on its way or at the station). A robot's *job* is
//! its part in a visit (fetch the pod, deliver it to the station queue, present it, return it
//! to a storage spot) or charging or parking. Each stretch of a job towards one goal is a
//! *leg*: one VDA 5050 order, extended node by node by order updates as traffic control
//! (`traffic`) releases cells.

use super::layout::Layout;
use super::traffic::{self, Distances, Mover};
use crate::mapf::Cell;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};

/// Horizon nodes sent beyond the base (the rest follows in later updates).
const MAX_HORIZON: usize = 24;

#[derive(Debug, Clone)]
pub struct Settings {
    /// Below this charge (percent) an idle robot goes to a charger.
    pub low_battery: f64,
    /// At this charge a charging robot goes back to work.
    pub charged: f64,
    /// A pod presented this many times or more is a fast mover: it goes back to the free spot
    /// nearest its station rather than near its home.
    pub fast_mover_visits: u32,
    /// Ticks a robot may report an older order update than the last one sent (while it has
    /// released cells ahead) before that update is sent again.
    pub resend_after_ticks: u32,
    pub seed: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { low_battery: 25.0, charged: 90.0, fast_mover_visits: 3, resend_after_ticks: 25, seed: 0x6770 }
    }
}

/// Where a pod is.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "at", rename_all = "snake_case")]
pub enum PodPlace {
    Stored { spot: Cell },
    OnRobot { robot: String },
    AtStation { robot: String, station: String },
    /// On a robot that is out of service: its stock cannot be reached.
    Stranded { robot: String },
}

impl PodPlace {
    pub fn robot(&self) -> Option<&str> {
        match self {
            PodPlace::Stored { .. } => None,
            PodPlace::OnRobot { robot } | PodPlace::AtStation { robot, .. } | PodPlace::Stranded { robot } => Some(robot),
        }
    }
}

/// What a robot last told us (from its VDA 5050 `state`, `connection` and the edge's
/// staleness check).
#[derive(Debug, Clone, Default)]
pub struct RobotReport {
    pub in_service: bool,
    /// The cell of its last node (or of its position when it has none of ours).
    pub cell: Option<Cell>,
    pub battery: f64,
    /// Ids of the actions it reports FINISHED.
    pub finished_actions: Vec<String>,
    /// The order (and update) it is working on, as it reports.
    pub order_id: Option<String>,
    pub order_update_id: u32,
    /// Cells of the released nodes it has not reached yet (it may still drive there).
    pub ahead: Vec<Cell>,
    /// What it says it carries: None when it does not report loads, Some(None) when empty.
    pub load: Option<Option<String>>,
    /// How many of our orders and instant actions it refused so far (only grows).
    pub refusals: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegAction {
    Lift { pod: String },
    Drop { pod: String },
    Charge,
}

/// One VDA 5050 order or order update, in cells.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderPlan {
    pub robot: String,
    pub order_id: String,
    pub update_id: u32,
    pub first_sequence_id: u32,
    /// From the robot's current (stitching) node to the goal.
    pub cells: Vec<Cell>,
    /// How many of `cells` are base (released).
    pub released: usize,
    /// Runs at the last cell: (action id, action).
    pub action: Option<(String, LegAction)>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Order(OrderPlan),
    /// Abandon whatever order the robot still has (it came back into service); it reports
    /// `action_id` FINISHED once it stands still.
    CancelOrder { robot: String, action_id: String },
    StopCharging { robot: String },
    Pod { pod: String, place: PodPlace },
    /// The pod's robot left service: its open lines need stock elsewhere.
    PodStranded { pod: String },
    /// A visit ended: the pod leaves its station.
    VisitDone { pod: String, station: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "job", rename_all = "snake_case")]
enum Job {
    Idle,
    Fetch { visit: u64 },
    Deliver { visit: u64 },
    Present { visit: u64 },
    Return { pod: usize, spot: Cell },
    Charge { charger: Cell },
    Charging { charger: Cell },
}

impl Job {
    fn name(&self) -> &'static str {
        match self {
            Job::Idle => "idle",
            Job::Fetch { .. } => "fetch",
            Job::Deliver { .. } => "deliver",
            Job::Present { .. } => "present",
            Job::Return { .. } => "return",
            Job::Charge { .. } => "to_charger",
            Job::Charging { .. } => "charging",
        }
    }
}

struct Leg {
    order_id: String,
    update_id: u32,
    goal: Cell,
    action: Option<(String, LegAction)>,
    /// Sequence id of the last released node; None before the first order went out.
    last_seq: Option<u32>,
    action_released: bool,
    /// The planned rest of the way (for the floor view).
    horizon: Vec<Cell>,
    /// The last order (update) sent, to send again if it got lost.
    last_plan: Option<OrderPlan>,
}

struct Bot {
    cell: Option<Cell>,
    in_service: bool,
    battery: f64,
    job: Job,
    carrying: Option<usize>,
    leg: Option<Leg>,
    /// Released cells not reached yet: held by this robot.
    held: VecDeque<Cell>,
    park: Option<Cell>,
    /// Steps kept from its goal: PIBT priority.
    waiting: u64,
    /// Back in service after a fault: the cancelOrder it must confirm before we plan again
    /// (until then it may still drive to cells released before the fault).
    resync: Option<String>,
    /// Ticks its report has lagged behind the last order sent.
    lagging: u32,
    /// Resends since its report last caught up: each waits twice as long as the one before.
    resends: u32,
    /// Its refusals counted so far (`RobotReport::refusals`).
    refusals: u64,
    /// The order it still holds a horizon of: (order id, update id, sequence id of the last
    /// base node). VDA 5050 refuses a new order over a running one unless it stitches onto that
    /// node; its next leg goes out as an update of this one, stitched there.
    open_order: Option<(String, u32, u32)>,
    tiebreak: u64,
}

struct Pod {
    id: String,
    place: PodPlace,
    home: Cell,
    visits: u32,
    visit: Option<u64>,
}

struct Visit {
    pod: usize,
    station: Option<usize>,
    robot: Option<String>,
    /// Tick the pod was lifted: the queue order at the station.
    lifted: Option<u64>,
    presenting: bool,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ControlError {
    #[error("pod {0} is stored at cell {1}, which is not a storage spot")]
    NotASpot(String, Cell),
    #[error("pods {0} and {1} are both stored at cell {2}")]
    SpotTwice(String, String, Cell),
    #[error("pod id {0:?} is used twice")]
    PodTwice(String),
}

pub struct Controller {
    layout: Layout,
    no_entry: Vec<bool>,
    settings: Settings,
    distances: Distances,
    /// Cells held by robots out of service, as of this tick's reports (`broken_cells`): read
    /// by every delivering robot's queue slot, so made once a tick, not once a robot.
    broken: Vec<Cell>,
    bots: BTreeMap<String, Bot>,
    pods: Vec<Pod>,
    pod_index: BTreeMap<String, usize>,
    visits: BTreeMap<u64, Visit>,
    next_visit: u64,
    /// Prefix of order ids: orders stay unique across restarts.
    epoch: i64,
    next_order: u64,
    tick: u64,
    /// Per station: its PLC answers (false: no pods go there) and its light curtain is clear
    /// (false: the presented pod stays).
    online: Vec<bool>,
    hold: Vec<bool>,
    pub stats: Stats,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    pub visits_done: u64,
    pub orders_sent: u64,
    pub steps_released: u64,
    pub orders_resent: u64,
}

impl Controller {
    pub fn new(layout: Layout, pods: Vec<(String, PodPlace)>, settings: Settings, epoch_ms: i64) -> Result<Controller, ControlError> {
        let mut stored_at: BTreeMap<Cell, String> = BTreeMap::new();
        let mut pod_index = BTreeMap::new();
        let mut list = Vec::new();
        for (id, place) in pods {
            if pod_index.insert(id.clone(), list.len()).is_some() {
                return Err(ControlError::PodTwice(id));
            }
            let home = match place {
                PodPlace::Stored { spot } => {
                    if !layout.is_storage(spot) {
                        return Err(ControlError::NotASpot(id, spot));
                    }
                    if let Some(other) = stored_at.insert(spot, id.clone()) {
                        return Err(ControlError::SpotTwice(other, id, spot));
                    }
                    spot
                }
                _ => layout.storage[list.len() % layout.storage.len()],
            };
            // A pod on a robot (or at a station) when we start goes back to storage once its
            // robot reports in.
            let place = match place {
                PodPlace::AtStation { robot, .. } | PodPlace::Stranded { robot } => PodPlace::OnRobot { robot },
                other => other,
            };
            list.push(Pod { id, place, home, visits: 0, visit: None });
        }
        let no_entry = (0..layout.grid.cells() as Cell).map(|c| layout.is_storage(c)).collect();
        let stations = layout.stations.len();
        Ok(Controller {
            layout,
            no_entry,
            settings,
            distances: Distances::new(),
            broken: Vec::new(),
            bots: BTreeMap::new(),
            pods: list,
            pod_index,
            visits: BTreeMap::new(),
            next_visit: 1,
            epoch: epoch_ms,
            next_order: 1,
            tick: 0,
            online: vec![true; stations],
            hold: vec![false; stations],
            stats: Stats::default(),
        })
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// What the station's PLC says: `online` false (unreachable, answering exceptions) sends
    /// no more pods there and takes the presented one elsewhere; `hold` (light curtain broken)
    /// keeps the presented pod where it is. Returns false for an unknown station.
    pub fn set_station(&mut self, name: &str, online: bool, hold: bool) -> bool {
        let Some(s) = self.layout.stations.iter().position(|st| st.name == name) else { return false };
        self.online[s] = online;
        self.hold[s] = hold;
        true
    }

    /// One round of control. `demand`: open pick lines per pod id.
    pub fn tick(&mut self, reports: &BTreeMap<String, RobotReport>, demand: &BTreeMap<String, u32>) -> Vec<Output> {
        self.tick += 1;
        let mut out = Vec::new();
        let refused = self.observe(reports, &mut out);
        self.finish_actions(reports, &mut out);
        // After `finish_actions`: a lift reported in the same state as a refusal is recorded.
        for serial in refused {
            if let Some(report) = reports.get(&serial) {
                self.resync_after_refusal(&serial, report, &mut out);
            }
        }
        // Robots out of service stand where they stopped: paths go around them.
        self.broken = self.broken_cells();
        self.distances.set_obstacles(self.broken.clone());
        self.boxed_in(&mut out);
        self.arrivals(demand, &mut out);
        self.open_visits(demand);
        self.assign();
        self.send_to_chargers();
        self.drive(&mut out);
        out
    }

    /// Takes in the reports; returns the robots in service that refused an order since.
    fn observe(&mut self, reports: &BTreeMap<String, RobotReport>, out: &mut Vec<Output>) -> Vec<String> {
        let mut refusing = Vec::new();
        for (serial, report) in reports {
            let bot = self.bots.entry(serial.clone()).or_insert_with(|| Bot {
                cell: None,
                in_service: false,
                battery: report.battery,
                job: Job::Idle,
                carrying: None,
                leg: None,
                held: VecDeque::new(),
                park: None,
                waiting: 0,
                resync: None,
                lagging: 0,
                resends: 0,
                refusals: report.refusals,
                open_order: None,
                tiebreak: serial.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)) % 1000,
            });
            if let Some(c) = report.cell {
                if let Some(k) = bot.held.iter().position(|h| *h == c) {
                    bot.held.drain(..=k);
                }
                bot.cell = Some(c);
            }
            // It confirmed the cancel, or has no order at all (it restarted): it stands where
            // it reports, and nothing released before the fault is left.
            if bot.resync.as_ref().is_some_and(|id| report.finished_actions.contains(id) || report.order_id.is_none()) {
                bot.resync = None;
                bot.held = report.ahead.iter().copied().collect();
                // A goal action kept through the resync that has not finished never will.
                let unfinished = |l: &Leg| l.action_released && !l.action.as_ref().is_some_and(|(id, _)| report.finished_actions.contains(id));
                if bot.leg.as_ref().is_some_and(unfinished) {
                    bot.leg = None;
                }
            }
            let sent = bot.leg.as_ref().filter(|l| l.last_seq.is_some()).map(|l| (l.order_id.as_str(), l.update_id));
            // It owes us a move (cells released ahead) or its goal action (released where it
            // stands: no cell ahead to wait for) — either way only if it got the order.
            let owes = !bot.held.is_empty() || bot.leg.as_ref().is_some_and(|l| l.action_released);
            let lags = sent.is_some_and(|s| Some(s) != report.order_id.as_deref().map(|o| (o, report.order_update_id))) && owes;
            if lags || bot.resync.is_some() {
                bot.lagging += 1;
            } else {
                bot.lagging = 0;
                bot.resends = 0;
            }
            bot.battery = report.battery;
            let refused = report.refusals > bot.refusals;
            bot.refusals = report.refusals;
            let can_serve = report.in_service && bot.cell.is_some();
            if bot.in_service && !can_serve {
                self.out_of_service(serial, out);
            } else if !bot.in_service && can_serve {
                self.back_in_service(serial, report, out);
            } else if bot.in_service && refused {
                refusing.push(serial.clone());
            }
        }
        refusing
    }

    /// The robot refused an order or instant action of ours: whatever it holds may differ from
    /// what we think it holds. Cancel, wait for its confirmation, then plan its job afresh (a
    /// robot that keeps refusing leaves service: the fleet counts the refusals in a row).
    fn resync_after_refusal(&mut self, serial: &str, report: &RobotReport, out: &mut Vec<Output>) {
        let action_id = self.fresh_order_id() + "-cancel";
        let Some(bot) = self.bots.get_mut(serial) else { return };
        if !bot.in_service {
            return;
        }
        bot.held = report.ahead.iter().copied().collect();
        bot.resync = Some(action_id.clone());
        // A goal action under way (a lift a vehicle cannot abort) is kept: `finish_actions`
        // records it if the robot reports it done.
        if !bot.leg.as_ref().is_some_and(|l| l.action_released) {
            bot.leg = None;
        }
        bot.open_order = None;
        bot.waiting = 0;
        out.push(Output::CancelOrder { robot: serial.to_owned(), action_id });
    }

    fn out_of_service(&mut self, serial: &str, out: &mut Vec<Output>) {
        let Some(bot) = self.bots.get_mut(serial) else { return };
        bot.in_service = false;
        let job = std::mem::replace(&mut bot.job, Job::Idle);
        bot.leg = None;
        bot.open_order = None;
        bot.park = None;
        let carrying = bot.carrying;
        match job {
            Job::Fetch { visit } => {
                // Someone else fetches the pod.
                if let Some(v) = self.visits.get_mut(&visit) {
                    v.robot = None;
                }
            }
            Job::Deliver { visit } | Job::Present { visit } => {
                self.visits.remove(&visit);
                if let Some(p) = carrying {
                    self.pods[p].visit = None;
                }
            }
            _ => {}
        }
        if let Some(p) = carrying {
            self.pods[p].place = PodPlace::Stranded { robot: serial.to_owned() };
            out.push(Output::Pod { pod: self.pods[p].id.clone(), place: self.pods[p].place.clone() });
            out.push(Output::PodStranded { pod: self.pods[p].id.clone() });
        }
    }

    fn back_in_service(&mut self, serial: &str, report: &RobotReport, out: &mut Vec<Output>) {
        let carrying = self.reconcile_load(serial, report, out);
        let spot = carrying.and_then(|p| self.free_spot(p, self.pods[p].home));
        let action_id = self.fresh_order_id() + "-cancel";
        let Some(bot) = self.bots.get_mut(serial) else { return };
        bot.in_service = true;
        // Until it confirms the cancel it may still drive to nodes released before: hold them.
        bot.held = report.ahead.iter().copied().collect();
        bot.resync = Some(action_id.clone());
        bot.leg = None;
        bot.open_order = None;
        bot.carrying = carrying;
        bot.job = match (carrying, spot) {
            (Some(pod), Some(spot)) => Job::Return { pod, spot },
            _ => Job::Idle,
        };
        out.push(Output::CancelOrder { robot: serial.to_owned(), action_id });
        if let Some(p) = carrying {
            self.pods[p].place = PodPlace::OnRobot { robot: serial.to_owned() };
            out.push(Output::Pod { pod: self.pods[p].id.clone(), place: self.pods[p].place.clone() });
        }
    }

    /// Which pod a robot coming into service carries. Its own `loads` win over our records
    /// (a lift or drop may have happened just before a crash, before we wrote it down): a pod
    /// it reports is on it; a pod we have on it that it does not report was set down where
    /// it stands, if that is a storage spot. Robots that do not report loads: our records.
    fn reconcile_load(&mut self, serial: &str, report: &RobotReport, out: &mut Vec<Output>) -> Option<usize> {
        let recorded = self.pods.iter().position(|p| p.place.robot() == Some(serial));
        let reported = match &report.load {
            None => return recorded,
            // A load id that is none of our pods: the vehicle names loads its own way (an RFID
            // it reads, say), so its loads say nothing about which pod it has.
            Some(Some(id)) if !self.pod_index.contains_key(id) => return recorded,
            Some(load) => load.as_ref().and_then(|id| self.pod_index.get(id).copied()),
        };
        if let (Some(p), Some(cell)) = (recorded.filter(|r| Some(*r) != reported), report.cell) {
            let free = !self.pods.iter().any(|o| o.place == PodPlace::Stored { spot: cell });
            if self.layout.is_storage(cell) && free {
                self.pods[p].place = PodPlace::Stored { spot: cell };
            } else {
                // Neither on the robot nor set down on a spot: someone has to find it, and its
                // stock is out of reach until then.
                self.pods[p].place = PodPlace::Stranded { robot: serial.to_owned() };
            }
            out.push(Output::Pod { pod: self.pods[p].id.clone(), place: self.pods[p].place.clone() });
        }
        if let Some(p) = reported {
            if let Some(v) = self.pods[p].visit.take() {
                self.visits.remove(&v);
            }
        }
        reported
    }

    fn finish_actions(&mut self, reports: &BTreeMap<String, RobotReport>, out: &mut Vec<Output>) {
        let mut done = Vec::new();
        for (serial, bot) in &self.bots {
            let Some(leg) = bot.leg.as_ref().filter(|l| l.action_released) else { continue };
            let Some((id, action)) = &leg.action else { continue };
            if bot.in_service && reports.get(serial).is_some_and(|r| r.finished_actions.iter().any(|f| f == id)) {
                done.push((serial.clone(), action.clone()));
            }
        }
        for (serial, action) in done {
            let Some(bot) = self.bots.get_mut(&serial) else { continue };
            bot.leg = None;
            bot.waiting = 0;
            match (action, bot.job) {
                (LegAction::Lift { .. }, Job::Fetch { visit }) => {
                    let Some(v) = self.visits.get_mut(&visit) else { continue };
                    v.lifted = Some(self.tick);
                    bot.carrying = Some(v.pod);
                    bot.job = Job::Deliver { visit };
                    let pod = &mut self.pods[v.pod];
                    pod.place = PodPlace::OnRobot { robot: serial.clone() };
                    out.push(Output::Pod { pod: pod.id.clone(), place: pod.place.clone() });
                }
                (LegAction::Drop { .. }, Job::Return { pod, spot }) => {
                    bot.carrying = None;
                    bot.job = Job::Idle;
                    let pod = &mut self.pods[pod];
                    pod.place = PodPlace::Stored { spot };
                    out.push(Output::Pod { pod: pod.id.clone(), place: pod.place.clone() });
                }
                (LegAction::Charge, Job::Charge { charger }) => bot.job = Job::Charging { charger },
                _ => {}
            }
        }
    }

    fn arrivals(&mut self, demand: &BTreeMap<String, u32>, out: &mut Vec<Output>) {
        let serials: Vec<String> = self.bots.keys().cloned().collect();
        for serial in serials {
            let Some(bot) = self.bots.get(&serial) else { continue };
            if !bot.in_service || !bot.held.is_empty() {
                continue;
            }
            match bot.job {
                Job::Deliver { visit } => self.arrive_at_station(&serial, visit, out),
                Job::Present { visit } => {
                    let station = self.visits.get(&visit).and_then(|v| v.station);
                    if station.is_some_and(|s| !self.online[s]) {
                        self.present_elsewhere(&serial, visit, out);
                    } else {
                        self.leave_station(&serial, visit, demand, out);
                    }
                }
                Job::Fetch { visit } => self.drop_unneeded_fetch(&serial, visit, demand),
                Job::Charging { .. } if bot.battery >= self.settings.charged => {
                    out.push(Output::StopCharging { robot: serial.clone() });
                    if let Some(b) = self.bots.get_mut(&serial) {
                        b.job = Job::Idle;
                    }
                }
                _ => {}
            }
        }
    }

    fn arrive_at_station(&mut self, serial: &str, visit: u64, out: &mut Vec<Output>) {
        let Some(v) = self.visits.get_mut(&visit) else { return };
        let Some(s) = v.station else { return };
        let station = &self.layout.stations[s];
        let Some(bot) = self.bots.get_mut(serial) else { return };
        if bot.cell != Some(station.pick) || !self.online[s] {
            return;
        }
        v.presenting = true;
        bot.job = Job::Present { visit };
        bot.leg = None;
        bot.waiting = 0;
        let pod = &mut self.pods[v.pod];
        pod.place = PodPlace::AtStation { robot: serial.to_owned(), station: station.name.clone() };
        out.push(Output::Pod { pod: pod.id.clone(), place: pod.place.clone() });
    }

    fn leave_station(&mut self, serial: &str, visit: u64, demand: &BTreeMap<String, u32>, out: &mut Vec<Output>) {
        let Some(v) = self.visits.get(&visit) else { return };
        let (p, s) = (v.pod, v.station.unwrap_or(0));
        if demand.get(&self.pods[p].id).copied().unwrap_or(0) > 0 || self.hold[s] {
            return;
        }
        let pick = self.layout.stations[s].pick;
        let fast = self.pods[p].visits + 1 >= self.settings.fast_mover_visits;
        let near = if fast { pick } else { self.pods[p].home };
        // Every spot taken (more pods than spots): the pod stays until one frees.
        let Some(spot) = self.free_spot(p, near) else { return };
        self.visits.remove(&visit);
        self.stats.visits_done += 1;
        let pod = &mut self.pods[p];
        pod.visit = None;
        pod.visits += 1;
        pod.place = PodPlace::OnRobot { robot: serial.to_owned() };
        out.push(Output::VisitDone { pod: pod.id.clone(), station: self.layout.stations[s].name.clone() });
        out.push(Output::Pod { pod: pod.id.clone(), place: pod.place.clone() });
        if let Some(bot) = self.bots.get_mut(serial) {
            bot.job = Job::Return { pod: p, spot };
        }
    }

    /// The station went offline under a presented pod: the pod goes on to another station
    /// (assigned like any pod on its way) with the lines still open on it.
    fn present_elsewhere(&mut self, serial: &str, visit: u64, out: &mut Vec<Output>) {
        let Some(v) = self.visits.get_mut(&visit) else { return };
        v.presenting = false;
        v.station = None;
        let pod = &mut self.pods[v.pod];
        pod.place = PodPlace::OnRobot { robot: serial.to_owned() };
        out.push(Output::Pod { pod: pod.id.clone(), place: pod.place.clone() });
        if let Some(bot) = self.bots.get_mut(serial) {
            bot.job = Job::Deliver { visit };
            bot.leg = None;
        }
    }

    /// The order behind a fetch went away (cancelled, picked elsewhere) before the lift.
    fn drop_unneeded_fetch(&mut self, serial: &str, visit: u64, demand: &BTreeMap<String, u32>) {
        let Some(v) = self.visits.get(&visit) else { return };
        let lift_released = self.bots.get(serial).and_then(|b| b.leg.as_ref()).is_some_and(|l| l.action_released);
        if lift_released || demand.get(&self.pods[v.pod].id).copied().unwrap_or(0) > 0 {
            return;
        }
        self.pods[v.pod].visit = None;
        self.visits.remove(&visit);
        if let Some(bot) = self.bots.get_mut(serial) {
            bot.job = Job::Idle;
            bot.leg = None;
        }
    }

    /// A free storage spot nearest `near` for pod `p`: no pod stored there, no other pod
    /// heading there, nobody standing on it.
    fn free_spot(&mut self, p: usize, near: Cell) -> Option<Cell> {
        let mut taken = vec![false; self.layout.grid.cells()];
        for pod in &self.pods {
            if let PodPlace::Stored { spot } = pod.place {
                taken[spot as usize] = true;
            }
        }
        for bot in self.bots.values() {
            if let Job::Return { pod, spot } = bot.job {
                if pod != p {
                    taken[spot as usize] = true;
                }
            }
            // A robot standing in a spot (lifting there, or out of service) blocks it: the
            // returning robot could never get in.
            if let Some(c) = bot.cell {
                taken[c as usize] = true;
            }
        }
        let table = self.distances.to(&self.layout.grid, &self.no_entry, near);
        self.layout.storage.iter().copied().filter(|c| !taken[*c as usize] && table[*c as usize] != u32::MAX).min_by_key(|c| (table[*c as usize], *c))
    }

    fn open_visits(&mut self, demand: &BTreeMap<String, u32>) {
        for (pod_id, lines) in demand {
            let Some(&p) = self.pod_index.get(pod_id) else { continue };
            let pod = &mut self.pods[p];
            if *lines == 0 || pod.visit.is_some() || !matches!(pod.place, PodPlace::Stored { .. }) {
                continue;
            }
            let id = self.next_visit;
            self.next_visit += 1;
            pod.visit = Some(id);
            self.visits.insert(id, Visit { pod: p, station: None, robot: None, lifted: None, presenting: false });
        }
    }

    fn station_load(&self) -> Vec<usize> {
        let mut load = vec![0; self.layout.stations.len()];
        for v in self.visits.values() {
            if let Some(s) = v.station {
                load[s] += 1;
            }
        }
        load
    }

    /// Stations a robot can still reach and leave: no broken robot on the pick cell, and a
    /// way out of it that is not through the queue (a robot leaving through the queue would
    /// meet the robots queueing for the cell it leaves).
    fn usable_stations(&self) -> Vec<bool> {
        let broken = &self.broken;
        let grid = &self.layout.grid;
        self.layout
            .stations
            .iter()
            .zip(&self.online)
            .map(|(s, online)| *online && !broken.contains(&s.pick) && grid.neighbors(s.pick).any(|n| !s.queue.contains(&n) && !broken.contains(&n)))
            .collect()
    }

    /// Cells held by robots out of service: nobody gets through them until they are back.
    fn broken_cells(&self) -> Vec<Cell> {
        self.bots.values().filter(|b| !b.in_service).flat_map(|b| b.cell.into_iter().chain(b.held.iter().copied())).collect()
    }

    /// A station's pick cell and the queue cells no broken robot stands in, in queue order.
    fn slots(&self, s: usize, broken: &[Cell]) -> Vec<Cell> {
        let station = &self.layout.stations[s];
        std::iter::once(station.pick).chain(station.queue.iter().copied()).filter(|c| !broken.contains(c)).collect()
    }

    fn assign(&mut self) {
        let usable = self.usable_stations();
        // Pods bound for a station a broken robot now blocks go to another one.
        for v in self.visits.values_mut() {
            if v.station.is_some_and(|s| !usable[s]) && !v.presenting {
                v.station = None;
            }
        }
        let mut load = self.station_load();
        let capacity: Vec<usize> = (0..load.len()).map(|s| self.slots(s, &self.broken).len()).collect();
        let pending: Vec<u64> = self.visits.iter().filter(|(_, v)| v.robot.is_none() || v.station.is_none()).map(|(id, _)| *id).collect();
        for id in pending {
            let Some(v) = self.visits.get(&id) else { continue };
            let station = match v.station {
                Some(s) => s,
                None => {
                    let open = (0..load.len()).filter(|s| usable[*s] && load[*s] < capacity[*s]);
                    match open.min_by_key(|s| (load[*s], *s)) {
                        Some(s) => s,
                        None => continue,
                    }
                }
            };
            let new_station = v.station.is_none();
            let robot = match (&v.robot, &self.pods[v.pod].place) {
                (Some(serial), _) => serial.clone(),
                (None, PodPlace::Stored { spot }) => {
                    let spot = *spot;
                    match self.nearest_idle_robot(spot) {
                        Some(serial) => {
                            if let Some(bot) = self.bots.get_mut(&serial) {
                                bot.job = Job::Fetch { visit: id };
                                bot.leg = None;
                                bot.park = None;
                            }
                            serial
                        }
                        None => continue,
                    }
                }
                (None, _) => continue,
            };
            if new_station {
                load[station] += 1;
            }
            if let Some(v) = self.visits.get_mut(&id) {
                v.station = Some(station);
                v.robot = Some(robot);
            }
        }
    }

    fn nearest_idle_robot(&mut self, to: Cell) -> Option<String> {
        let table = self.distances.to(&self.layout.grid, &self.no_entry, to);
        self.bots
            .iter()
            .filter(|(_, b)| b.in_service && b.job == Job::Idle && b.carrying.is_none() && b.battery > self.settings.low_battery)
            .filter_map(|(s, b)| b.cell.map(|c| (table[c as usize], s)))
            .filter(|(d, _)| *d != u32::MAX)
            .min()
            .map(|(_, s)| s.clone())
    }

    /// A robot that a broken one walls in (in a storage spot whose only way out is taken)
    /// cannot deliver its pod: the pod counts as stranded, so its lines go to other stock,
    /// until the way opens and the robot takes it home.
    fn boxed_in(&mut self, out: &mut Vec<Output>) {
        let serials: Vec<String> = self.bots.iter().filter(|(_, b)| b.in_service && b.carrying.is_some() && b.resync.is_none()).map(|(s, _)| s.clone()).collect();
        for serial in serials {
            let Some(bot) = self.bots.get(&serial) else { continue };
            let (Some(cell), Some(p)) = (bot.cell, bot.carrying) else { continue };
            match bot.job {
                Job::Deliver { visit } => {
                    let station = self.visits.get(&visit).and_then(|v| v.station).map(|s| self.layout.stations[s].pick);
                    let Some(pick) = station else { continue };
                    if self.distances.to(&self.layout.grid, &self.no_entry, pick)[cell as usize] != u32::MAX {
                        continue;
                    }
                    self.visits.remove(&visit);
                    self.pods[p].visit = None;
                    self.pods[p].place = PodPlace::Stranded { robot: serial.clone() };
                    out.push(Output::Pod { pod: self.pods[p].id.clone(), place: self.pods[p].place.clone() });
                    if let Some(bot) = self.bots.get_mut(&serial) {
                        bot.job = Job::Idle;
                        bot.leg = None;
                    }
                }
                // The way to the spot it returns to closed (a robot broke down in front of
                // it): take the pod to another free spot it can reach instead of waiting for
                // ever. (Seen in the e2e: a pod's return spot behind a FATAL robot.)
                Job::Return { pod, spot } if self.distances.to(&self.layout.grid, &self.no_entry, spot)[cell as usize] == u32::MAX => {
                    let Some(other) = self.free_spot(pod, cell) else { continue };
                    if let Some(bot) = self.bots.get_mut(&serial) {
                        bot.job = Job::Return { pod, spot: other };
                        bot.leg = None;
                    }
                }
                Job::Idle if matches!(self.pods[p].place, PodPlace::Stranded { .. }) => {
                    let Some(spot) = self.free_spot(p, self.pods[p].home) else { continue };
                    if self.distances.to(&self.layout.grid, &self.no_entry, spot)[cell as usize] == u32::MAX {
                        continue;
                    }
                    self.pods[p].place = PodPlace::OnRobot { robot: serial.clone() };
                    out.push(Output::Pod { pod: self.pods[p].id.clone(), place: self.pods[p].place.clone() });
                    if let Some(bot) = self.bots.get_mut(&serial) {
                        bot.job = Job::Return { pod: p, spot };
                        bot.leg = None;
                    }
                }
                _ => {}
            }
        }
    }

    fn send_to_chargers(&mut self) {
        let mut busy: Vec<Cell> = self.bots.values().filter_map(|b| match b.job {
            Job::Charge { charger } | Job::Charging { charger } => Some(charger),
            _ => None,
        }).collect();
        let low: Vec<String> = self
            .bots
            .iter()
            .filter(|(_, b)| b.in_service && b.job == Job::Idle && b.carrying.is_none() && b.battery < self.settings.low_battery)
            .map(|(s, _)| s.clone())
            .collect();
        let broken = self.broken.clone();
        for serial in low {
            let Some(at) = self.bots.get(&serial).and_then(|b| b.cell) else { continue };
            let free = self.layout.chargers.iter().copied().filter(|c| !busy.contains(c) && !broken.contains(c));
            let Some(charger) = free.min_by_key(|c| self.distances.to(&self.layout.grid, &self.no_entry, *c)[at as usize]) else { return };
            busy.push(charger);
            if let Some(bot) = self.bots.get_mut(&serial) {
                bot.job = Job::Charge { charger };
                bot.leg = None;
                bot.park = None;
            }
        }
    }

    /// Where a robot's job takes it next, and what it does there.
    fn target(&mut self, serial: &str) -> Option<(Cell, Option<LegAction>)> {
        let bot = self.bots.get(serial)?;
        match bot.job {
            Job::Idle => {
                let here = bot.cell?;
                let park = match bot.park {
                    Some(p) => p,
                    None => self.free_parking(serial, here),
                };
                if let Some(b) = self.bots.get_mut(serial) {
                    b.park = Some(park);
                }
                Some((park, None))
            }
            Job::Fetch { visit } => {
                let pod = &self.pods[self.visits.get(&visit)?.pod];
                let PodPlace::Stored { spot } = pod.place else { return None };
                Some((spot, Some(LegAction::Lift { pod: pod.id.clone() })))
            }
            Job::Deliver { visit } => Some((self.queue_slot(visit)?, None)),
            Job::Return { pod, spot } => Some((spot, Some(LegAction::Drop { pod: self.pods[pod].id.clone() }))),
            Job::Charge { charger } => Some((charger, Some(LegAction::Charge))),
            Job::Present { .. } | Job::Charging { .. } => None,
        }
    }

    fn free_parking(&self, serial: &str, here: Cell) -> Cell {
        let taken: Vec<Cell> = self.bots.iter().filter(|(s, _)| s.as_str() != serial).filter_map(|(_, b)| b.park.or(if b.in_service { None } else { b.cell })).collect();
        let table = |c: Cell| {
            let (x0, y0) = self.layout.grid.xy(here);
            let (x1, y1) = self.layout.grid.xy(c);
            x0.abs_diff(x1) + y0.abs_diff(y1)
        };
        self.layout.parking.iter().copied().filter(|c| !taken.contains(c)).min_by_key(|c| (table(*c), *c)).unwrap_or(here)
    }

    /// The cell a delivering robot heads for: the pick cell when it is first in line and the
    /// station is free, else its place in the queue (by the order pods were lifted).
    fn queue_slot(&self, visit: u64) -> Option<Cell> {
        let v = self.visits.get(&visit)?;
        let s = v.station?;
        let mine = (v.lifted.unwrap_or(u64::MAX), visit);
        let mut ahead = 0;
        for (id, other) in &self.visits {
            if other.station == Some(s) && (other.presenting || (other.lifted.is_some() && (other.lifted.unwrap_or(0), *id) < mine)) {
                ahead += 1;
            }
        }
        // A queue cell a broken robot stands in is skipped: the line closes up behind it.
        let slots = self.slots(s, &self.broken);
        slots.get(ahead.min(slots.len().saturating_sub(1))).copied()
    }

    fn drive(&mut self, out: &mut Vec<Output>) {
        self.resend_lost_orders(out);
        // A robot in service whose cell we do not know yet (it connected, or we restarted, and
        // its first state is still on the way) could stand anywhere: release nothing until it
        // reports (one that never does goes stale and leaves service).
        if self.bots.values().any(|b| b.in_service && b.cell.is_none()) {
            return;
        }
        let serials: Vec<String> =
            self.bots.iter().filter(|(_, b)| b.in_service && b.held.is_empty() && b.resync.is_none()).map(|(s, _)| s.clone()).collect();
        let mut movers = Vec::new();
        let mut who = Vec::new();
        for serial in serials {
            if let Some(mover) = self.prepare_leg(&serial, out) {
                movers.push(mover);
                who.push(serial);
            }
        }
        // A set: a thousand robots against hundreds of movers made this scan a fifth of a tick.
        let moving: std::collections::HashSet<&String> = who.iter().collect();
        let blocked: Vec<Cell> = self
            .bots
            .iter()
            .filter(|(s, _)| !moving.contains(s))
            .flat_map(|(_, b)| b.cell.into_iter().chain(b.held.iter().copied()))
            .collect();
        let seed = self.settings.seed ^ self.tick;
        let next = traffic::step(&self.layout.grid, &self.no_entry, &mut self.distances, &movers, &blocked, seed);
        for (k, serial) in who.iter().enumerate() {
            if next[k] != movers[k].at {
                self.release(serial, next[k], out);
            }
        }
    }

    /// Brings a ready robot's leg in line with its job. Returns it as a mover for traffic
    /// control, or None when it has nowhere to go (busy, or only its goal action to release).
    fn prepare_leg(&mut self, serial: &str, out: &mut Vec<Output>) -> Option<Mover> {
        let (goal, action) = self.target(serial)?;
        let bot = self.bots.get(serial)?;
        let at = bot.cell?;
        if bot.leg.as_ref().is_some_and(|l| l.action_released) {
            return None; // waiting for the action to finish
        }
        let same_action = bot.leg.as_ref().is_some_and(|l| l.action.as_ref().map(|a| &a.1) == action.as_ref());
        // An action rides on the goal node of an order that reaches it: standing on the goal
        // without the action sent needs a fresh order.
        let fresh = !same_action || (at == goal && action.is_some());
        if fresh {
            self.start_leg(serial, at, goal, action, out)?;
        }
        let bot = self.bots.get_mut(serial)?;
        let leg = bot.leg.as_mut()?;
        if leg.goal != goal {
            leg.goal = goal;
            bot.waiting = 0;
        }
        if at == goal && leg.action.is_some() {
            self.release(serial, at, out);
            return None;
        }
        if at != goal {
            bot.waiting += 1;
        }
        Some(Mover { at, goal, restricted: bot.carrying.is_some(), priority: bot.waiting * 1000 + bot.tiebreak })
    }

    /// A new leg: an update of the order the robot still holds a horizon of, else a new order.
    /// None when this tick only closes that order (see below).
    fn start_leg(&mut self, serial: &str, at: Cell, goal: Cell, action: Option<LegAction>, out: &mut Vec<Output>) -> Option<()> {
        // Kept until an order goes out: a leg that never releases a cell leaves the robot's
        // horizon where it was, and the next leg must still stitch onto it.
        let open = self.bots.get(serial)?.open_order.clone();
        // Its action id is unique either way (an update keeps the order id).
        let key = self.fresh_order_id();
        let action = action.map(|a| (format!("{key}-{}", action_type(&a)), a));
        let bot = self.bots.get_mut(serial)?;
        bot.waiting = 0;
        let (order_id, update_id, last_seq) = match open {
            // Acting where it stands would put the action on the stitching node, which an
            // update cannot add to: end the open order here (drop its horizon) and act with a
            // new order on the next tick, once that one is finished.
            Some((order_id, update_id, last_seq)) if at == goal && action.is_some() => {
                bot.leg = None;
                bot.open_order = None;
                self.stats.orders_sent += 1;
                let plan = OrderPlan { robot: serial.to_owned(), order_id, update_id: update_id + 1, first_sequence_id: last_seq, cells: vec![at], released: 1, action: None };
                out.push(Output::Order(plan));
                return None;
            }
            Some((order_id, update_id, last_seq)) => (order_id, update_id, Some(last_seq)),
            None => (key, 0, None),
        };
        bot.leg = Some(Leg { action, order_id, update_id, goal, last_seq, action_released: false, horizon: Vec::new(), last_plan: None });
        Some(())
    }

    /// A robot whose reports stay behind the last order update sent probably never got it
    /// (MQTT QoS 0, a reconnect): send the same update again. A robot ignores an update it
    /// already has (same order id and update id), so a resend is harmless. Each resend waits
    /// twice as long as the last, up to 4×: on a slow link its reports are late, not lost, and
    /// resending every few ticks crowds the link the reports need (a third of a 256 KiB/s link
    /// went to resends); more would slow recovery after the link comes back.
    fn resend_lost_orders(&mut self, out: &mut Vec<Output>) {
        for (serial, bot) in self.bots.iter_mut() {
            let wait = self.settings.resend_after_ticks.saturating_mul(1 << bot.resends.min(2));
            if bot.in_service && bot.lagging >= wait {
                bot.lagging = 0;
                bot.resends += 1;
                if let Some(action_id) = bot.resync.clone() {
                    out.push(Output::CancelOrder { robot: serial.clone(), action_id });
                } else if let Some(plan) = bot.leg.as_ref().and_then(|l| l.last_plan.clone()) {
                    self.stats.orders_resent += 1;
                    out.push(Output::Order(plan));
                }
            }
        }
    }

    fn fresh_order_id(&mut self) -> String {
        let id = format!("{}-{}", self.epoch, self.next_order);
        self.next_order += 1;
        id
    }

    /// Releases `next` (adjacent to the robot, or its own cell when only the action at the
    /// goal is still to release) and sends the order or order update.
    fn release(&mut self, serial: &str, next: Cell, out: &mut Vec<Output>) {
        let Some(bot) = self.bots.get_mut(serial) else { return };
        let (Some(at), Some(leg)) = (bot.cell, bot.leg.as_mut()) else { return };
        let rest = traffic::path(&self.layout.grid, &self.no_entry, &mut self.distances, next, leg.goal);
        let mut cells = vec![at];
        if next != at {
            cells.push(next);
            bot.held.push_back(next);
        }
        let released = cells.len();
        // The horizon shows the robot where it is going; a bounded one keeps messages small.
        cells.extend(rest.iter().skip(1).take(MAX_HORIZON));
        if next == leg.goal && leg.action.is_some() {
            leg.action_released = true;
        }
        let first_sequence_id = leg.last_seq.unwrap_or(0);
        let update_id = if leg.last_seq.is_some() { leg.update_id + 1 } else { 0 };
        leg.update_id = update_id;
        leg.last_seq = Some(first_sequence_id + 2 * (released as u32 - 1));
        leg.horizon = rest;
        self.stats.orders_sent += 1;
        self.stats.steps_released += u64::from(next != at);
        let plan = OrderPlan {
            robot: serial.to_owned(),
            order_id: leg.order_id.clone(),
            update_id,
            first_sequence_id,
            released,
            action: if cells.last() == Some(&leg.goal) { leg.action.clone() } else { None },
            cells,
        };
        leg.last_plan = Some(plan.clone());
        bot.open_order = (plan.cells.len() > plan.released).then(|| (plan.order_id.clone(), plan.update_id, leg.last_seq.unwrap_or(0)));
        bot.lagging = 0;
        out.push(Output::Order(plan));
    }

    /// What the floor page shows.
    pub fn view(&self) -> FloorView {
        let xy = |c: Cell| {
            let (x, y) = self.layout.grid.xy(c);
            [x, y]
        };
        let robots = self
            .bots
            .iter()
            .map(|(serial, b)| RobotView {
                serial: serial.clone(),
                cell: b.cell.map(xy),
                in_service: b.in_service,
                job: b.job.name(),
                goal: b.leg.as_ref().map(|l| xy(l.goal)),
                path: b.held.iter().copied().chain(b.leg.iter().flat_map(|l| l.horizon.iter().copied())).map(xy).collect(),
                carrying: b.carrying.map(|p| self.pods[p].id.clone()),
                battery: b.battery,
            })
            .collect();
        let pods = self
            .pods
            .iter()
            .map(|p| {
                let cell = match &p.place {
                    PodPlace::Stored { spot } => Some(*spot),
                    other => other.robot().and_then(|r| self.bots.get(r)).and_then(|b| b.cell),
                };
                PodView { id: p.id.clone(), place: p.place.clone(), cell: cell.map(xy) }
            })
            .collect();
        FloorView { robots, pods, stations: self.station_views(), stats: self.stats.clone() }
    }

    /// The stations' part of the view alone, in one pass over the visits: cheap enough for
    /// every tick while the whole view is built less often.
    pub fn station_views(&self) -> Vec<StationView> {
        let xy = |c: Cell| {
            let (x, y) = self.layout.grid.xy(c);
            [x, y]
        };
        // Per station: (not presenting, lifted, pod, robot), sorted: the presented pod first,
        // then the others in the order they were lifted.
        type Here<'a> = (bool, u64, &'a str, Option<&'a str>);
        let mut here: Vec<Vec<Here<'_>>> = vec![Vec::new(); self.layout.stations.len()];
        for v in self.visits.values() {
            if let Some(s) = v.station {
                here[s].push((!v.presenting, v.lifted.unwrap_or(u64::MAX), self.pods[v.pod].id.as_str(), v.robot.as_deref()));
            }
        }
        self.layout
            .stations
            .iter()
            .zip(here)
            .enumerate()
            .map(|(s, (st, mut here))| {
                here.sort();
                let first = here.first().filter(|h| !h.0);
                StationView {
                    name: st.name.clone(),
                    pick: xy(st.pick),
                    presenting: first.map(|h| h.2.to_owned()),
                    robot: first.and_then(|h| h.3.map(str::to_owned)),
                    coming: here.iter().filter(|h| h.0).map(|h| h.2.to_owned()).collect(),
                    online: self.online[s],
                    hold: self.hold[s],
                }
            })
            .collect()
    }

    /// The pod a station presents now, and the robot holding it.
    pub fn presented(&self, station: &str) -> Option<(String, String)> {
        self.bots.iter().find_map(|(serial, b)| match b.job {
            Job::Present { visit } => {
                let v = self.visits.get(&visit)?;
                (self.layout.stations[v.station?].name == station).then(|| (self.pods[v.pod].id.clone(), serial.clone()))
            }
            _ => None,
        })
    }

    #[doc(hidden)]
    pub fn debug_bots(&self) -> Vec<String> {
        self.bots.iter().map(|(s, b)| format!("{s} cell={:?} held={:?} waiting={} tb={} job={:?} leg={:?}", b.cell.map(|c| self.layout.grid.xy(c)), b.held, b.waiting, b.tiebreak, b.job, b.leg.as_ref().map(|l| (self.layout.grid.xy(l.goal), l.action_released, &l.action)))).collect()
    }

    /// Robots in service with a job other than idling.
    pub fn busy_robots(&self) -> usize {
        self.bots.values().filter(|b| b.in_service && b.job != Job::Idle).count()
    }

    /// True when the robot has a leg whose goal it has not reached.
    pub fn wants_to_move(&self, serial: &str) -> bool {
        self.bots.get(serial).is_some_and(|b| b.in_service && b.leg.as_ref().is_some_and(|l| Some(l.goal) != b.cell))
    }

    pub fn pod_places(&self) -> Vec<(String, PodPlace)> {
        self.pods.iter().map(|p| (p.id.clone(), p.place.clone())).collect()
    }
}

/// The VDA 5050 action type of a leg action.
pub fn action_type(a: &LegAction) -> &'static str {
    match a {
        LegAction::Lift { .. } => "pick",
        LegAction::Drop { .. } => "drop",
        LegAction::Charge => "startCharging",
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RobotView {
    pub serial: String,
    pub cell: Option<[u32; 2]>,
    pub in_service: bool,
    pub job: &'static str,
    pub goal: Option<[u32; 2]>,
    /// Held cells, then the planned rest of the way.
    pub path: Vec<[u32; 2]>,
    pub carrying: Option<String>,
    pub battery: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PodView {
    pub id: String,
    pub place: PodPlace,
    pub cell: Option<[u32; 2]>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StationView {
    pub name: String,
    pub pick: [u32; 2],
    pub presenting: Option<String>,
    /// The robot holding the presented pod.
    pub robot: Option<String>,
    /// Pods on their way or in the queue, first in line first.
    pub coming: Vec<String>,
    /// Takes pods (its PLC answers).
    pub online: bool,
    /// Light curtain broken: the presented pod stays.
    pub hold: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct FloorView {
    pub robots: Vec<RobotView>,
    pub pods: Vec<PodView>,
    pub stations: Vec<StationView>,
    pub stats: Stats,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gtp::sim::tests::demo_layout;

    fn report(cell: Cell, finished: Vec<String>) -> BTreeMap<String, RobotReport> {
        let r = RobotReport { in_service: true, cell: Some(cell), battery: 80.0, finished_actions: finished, order_id: None, order_update_id: 0, ahead: vec![], load: None, refusals: 0 };
        BTreeMap::from([("m/r1".to_owned(), r)])
    }

    /// After an edge restart a pod recorded on a robot goes home once the robot reports in:
    /// cancel whatever it was doing, wait for the confirmation, then drive to a free spot
    /// and set the pod down there.
    #[test]
    fn after_a_restart_a_pod_on_a_robot_is_taken_home() {
        let layout = demo_layout();
        let at = layout.parking[0];
        let pods = vec![("P0001".to_owned(), PodPlace::OnRobot { robot: "m/r1".into() })];
        let mut control = Controller::new(layout, pods, Settings::default(), 7).expect("controller");
        let out = control.tick(&report(at, vec![]), &BTreeMap::new());
        let cancel = out.iter().find_map(|o| match o {
            Output::CancelOrder { robot, action_id } if robot == "m/r1" => Some(action_id.clone()),
            _ => None,
        });
        let cancel = cancel.expect("the robot is told to drop its old order first");
        assert!(!out.iter().any(|o| matches!(o, Output::Order(_))), "no new order before it confirms");
        let out = control.tick(&report(at, vec![cancel]), &BTreeMap::new());
        let plan = out.iter().find_map(|o| match o {
            Output::Order(p) => Some(p.clone()),
            _ => None,
        });
        let plan = plan.expect("an order towards a storage spot");
        assert_eq!(plan.cells[0], at, "the order starts where the robot stands");
        let goal = *plan.cells.last().expect("cells");
        assert!(control.layout().is_storage(goal), "it heads for a storage spot");
        assert_eq!(plan.action.as_ref().map(|a| &a.1), Some(&LegAction::Drop { pod: "P0001".into() }), "and sets the pod down there");
    }

    /// A robot comes into service at `at`: it confirms the cancel master control sends first;
    /// returns the orders of the tick after.
    fn into_service(control: &mut Controller, at: Cell) -> Vec<OrderPlan> {
        let out = control.tick(&report(at, vec![]), &BTreeMap::new());
        let cancel = out.iter().find_map(|o| if let Output::CancelOrder { action_id, .. } = o { Some(action_id.clone()) } else { None });
        plans(&control.tick(&report(at, cancel.into_iter().collect()), &BTreeMap::new()))
    }

    fn plans(out: &[Output]) -> Vec<OrderPlan> {
        out.iter().filter_map(|o| if let Output::Order(p) = o { Some(p.clone()) } else { None }).collect()
    }

    /// An aisle cell far from every parking cell: a robot there heads for parking with a horizon.
    fn far_aisle(layout: &Layout) -> Cell {
        let d = |a: Cell, b: Cell| {
            let ((x0, y0), (x1, y1)) = (layout.grid.xy(a), layout.grid.xy(b));
            x0.abs_diff(x1) + y0.abs_diff(y1)
        };
        let aisle = (0..layout.grid.cells() as Cell).filter(|c| {
            layout.grid.is_free(*c) && !layout.is_storage(*c) && !layout.chargers.contains(c) && !layout.stations.iter().any(|s| s.pick == *c || s.queue.contains(c))
        });
        aisle.max_by_key(|c| layout.parking.iter().map(|p| d(*c, *p)).min().unwrap_or(0)).expect("an aisle cell")
    }

    /// VDA 5050 refuses a new order over a running one that does not stitch onto its last base
    /// node: a robot given a job while it still holds a horizon gets an update of that order,
    /// stitched at that node, and the action of the new job rides on the update.
    #[test]
    fn a_new_job_over_a_live_horizon_goes_out_as_an_update_of_the_running_order() {
        let layout = demo_layout();
        let start = far_aisle(&layout);
        let pods = vec![("P0001".to_owned(), PodPlace::Stored { spot: layout.storage[0] })];
        let mut control = Controller::new(layout, pods, Settings::default(), 7).expect("controller");
        let first = into_service(&mut control, start);
        let [park] = first.as_slice() else { panic!("one order to go parking: {first:?}") };
        assert!(park.cells.len() > park.released, "it has a horizon: {park:?}");
        assert_eq!((park.update_id, park.first_sequence_id), (0, 0));
        // It reached the released cell and reports the order; now the pod is wanted.
        let mut reached = report(park.cells[1], vec![]);
        if let Some(r) = reached.get_mut("m/r1") {
            r.order_id = Some(park.order_id.clone());
        }
        let out = control.tick(&reached, &BTreeMap::from([("P0001".to_owned(), 1)]));
        let next = plans(&out);
        let [fetch] = next.as_slice() else { panic!("one order towards the pod: {next:?}") };
        assert_eq!(fetch.order_id, park.order_id, "the same order, updated");
        assert_eq!((fetch.update_id, fetch.first_sequence_id), (1, 2), "stitched at the last base node");
        assert_eq!(fetch.cells[0], park.cells[1]);
        assert!(!out.iter().any(|o| matches!(o, Output::CancelOrder { .. })));
    }

    /// A robot low on battery standing on a charger gets the charge action released where it
    /// stands: no cell ahead of it. If that order is lost, its order id is all that shows it:
    /// the same order goes again, then again at growing intervals, until the robot reports it.
    #[test]
    fn an_action_released_where_the_robot_stands_is_sent_again_until_it_arrives() {
        let layout = demo_layout();
        let charger = layout.chargers[0];
        let mut control = Controller::new(layout, Vec::new(), Settings::default(), 7).expect("controller");
        let mut low = report(charger, vec![]);
        if let Some(r) = low.get_mut("m/r1") {
            r.battery = 10.0;
        }
        let out = control.tick(&low, &BTreeMap::new());
        let cancel = out.iter().find_map(|o| if let Output::CancelOrder { action_id, .. } = o { Some(action_id.clone()) } else { None });
        if let Some(r) = low.get_mut("m/r1") {
            r.finished_actions = cancel.into_iter().collect();
        }
        let first = plans(&control.tick(&low, &BTreeMap::new()));
        let [charge] = first.as_slice() else { panic!("one order: {first:?}") };
        assert_eq!((charge.cells.as_slice(), charge.released, charge.action.as_ref().map(|a| &a.1)), (&[charger][..], 1, Some(&LegAction::Charge)));
        // The robot never got it: it keeps reporting no order.
        let mut resent_at = Vec::new();
        for tick in 1..=300 {
            for plan in plans(&control.tick(&low, &BTreeMap::new())) {
                assert_eq!(&plan, charge, "the same order again");
                resent_at.push(tick);
            }
        }
        let wait = Settings::default().resend_after_ticks;
        assert_eq!(resent_at[..4], [wait, 3 * wait, 7 * wait, 11 * wait], "after 1, 2, 4 and then every 4 waits");
        // It arrives: no more resends.
        if let Some(r) = low.get_mut("m/r1") {
            (r.order_id, r.order_update_id) = (Some(charge.order_id.clone()), charge.update_id);
        }
        assert!((0..200).all(|_| plans(&control.tick(&low, &BTreeMap::new())).is_empty()));
    }

    /// A robot that refuses an order is cancelled and then given its job again as a new order.
    #[test]
    fn a_refused_order_is_followed_by_a_cancel_and_a_fresh_order() {
        let layout = demo_layout();
        let start = far_aisle(&layout);
        let mut control = Controller::new(layout, Vec::new(), Settings::default(), 7).expect("controller");
        let first = into_service(&mut control, start);
        assert_eq!(first.len(), 1);
        let mut refused = report(start, vec![]);
        if let Some(r) = refused.get_mut("m/r1") {
            r.refusals = 1;
        }
        let out = control.tick(&refused, &BTreeMap::new());
        let cancel = out.iter().find_map(|o| if let Output::CancelOrder { action_id, .. } = o { Some(action_id.clone()) } else { None });
        let cancel = cancel.expect("a cancel after the refusal");
        assert!(plans(&out).is_empty(), "nothing new before it confirms");
        if let Some(r) = refused.get_mut("m/r1") {
            r.finished_actions = vec![cancel];
        }
        let again = plans(&control.tick(&refused, &BTreeMap::new()));
        let [fresh] = again.as_slice() else { panic!("a fresh order: {again:?}") };
        assert_ne!(fresh.order_id, first[0].order_id);
        assert_eq!((fresh.update_id, fresh.cells[0]), (0, start));
    }
}
