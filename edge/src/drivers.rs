//! Robot drivers: how master control's decisions reach a robot and how its reports come back,
//! whatever protocol it speaks. Master control (`gtp`) sees every robot as a `RobotReport`
//! keyed `manufacturer/serial` and sends `Command`s; each driver owns some robots. One fleet
//! may mix VDA 5050 robots (MQTT, `VdaDriver`) and Modbus TCP robots (`modbus_robots`).

use crate::fleet::Fleet;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tote_shared::gtp::control::{action_type, LegAction, OrderPlan};
use tote_shared::gtp::{Layout, RobotReport};
use tote_shared::vda5050::{load_parameters, Action, BlockingType, Order, Route, Topic, Waypoint};

pub type Sent<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// What master control tells a robot.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Drive (and act at the end): an order or an order update.
    Order(OrderPlan),
    /// Drop whatever order it has; report `action_id` finished once standing still.
    Cancel { action_id: String },
    StopCharging { action_id: String },
}

pub trait RobotDriver: Send + Sync {
    /// Every robot this driver knows, as master control sees it.
    fn reports(&self, layout: &Layout) -> Vec<(String, RobotReport)>;
    /// Brings `into` up to date for every robot this driver knows; returns how many that is.
    /// A driver of many robots overrides it to update the reports in place.
    fn refresh(&self, layout: &Layout, into: &mut BTreeMap<String, RobotReport>) -> usize {
        let reports = self.reports(layout);
        let count = reports.len();
        into.extend(reports);
        count
    }
    fn owns(&self, robot: &str) -> bool;
    fn send<'a>(&'a self, layout: &'a Layout, robot: &'a str, command: Command) -> Sent<'a>;
}

/// Brings `reports` up to date for every robot of every driver, in place: rebuilding a
/// thousand reports every tick cost a sixth of master control's time.
pub fn refresh(drivers: &[Arc<dyn RobotDriver>], layout: &Layout, reports: &mut BTreeMap<String, RobotReport>) {
    let count: usize = drivers.iter().map(|d| d.refresh(layout, reports)).sum();
    if count != reports.len() {
        // A robot left a driver (or two drivers claim one): start over.
        reports.clear();
        for driver in drivers {
            driver.refresh(layout, reports);
        }
    }
}

/// Sends through the driver that owns the robot.
pub async fn send(drivers: &[Arc<dyn RobotDriver>], layout: &Layout, robot: &str, command: Command) -> Result<(), String> {
    let driver = drivers.iter().find(|d| d.owns(robot)).ok_or_else(|| format!("no driver knows robot {robot}"))?;
    driver.send(layout, robot, command).await
}

/// VDA 5050 robots over MQTT: reports from the fleet registry, orders and instant actions
/// published on their topics, each in the protocol version the robot speaks.
pub struct VdaDriver {
    pub fleet: Arc<Fleet>,
    pub publisher: crate::mqtt::Publisher,
    /// The floor's `pick`/`drop` parameters (per vehicle type).
    pub floor: crate::config::FloorSettings,
}

impl RobotDriver for VdaDriver {
    fn reports(&self, layout: &Layout) -> Vec<(String, RobotReport)> {
        fleet_reports(&self.fleet, layout)
    }

    fn refresh(&self, layout: &Layout, into: &mut BTreeMap<String, RobotReport>) -> usize {
        refresh_from_fleet(&self.fleet, layout, into)
    }

    fn owns(&self, robot: &str) -> bool {
        robot.split_once('/').is_some_and(|(m, s)| self.fleet.is_known(m, s))
    }

    fn send<'a>(&'a self, layout: &'a Layout, robot: &'a str, command: Command) -> Sent<'a> {
        Box::pin(async move {
            let (manufacturer, serial) = robot.split_once('/').unwrap_or(("", robot));
            let instant = |action_type: &str, action_id: String| Action {
                action_type: action_type.into(),
                action_id,
                action_description: None,
                blocking_type: BlockingType::Hard,
                action_parameters: None,
            };
            let fleet = &self.fleet;
            let sent = match command {
                Command::Order(plan) => {
                    let series = fleet.series_of(manufacturer, serial);
                    let (station_type, load_type) = self.floor.load_handling(manufacturer, series.as_deref());
                    let target = OrderTarget { layout, station_type, load_type, max_nodes: fleet.max_order_nodes(manufacturer, serial) };
                    let header = self.publisher.header(fleet, manufacturer, serial, Topic::Order);
                    self.publisher.order(fleet, &vda_order(header, &target, &plan)).await
                }
                Command::Cancel { action_id } => self.publisher.instant_actions(fleet, manufacturer, serial, vec![instant("cancelOrder", action_id)]).await,
                Command::StopCharging { action_id } => self.publisher.instant_actions(fleet, manufacturer, serial, vec![instant("stopCharging", action_id)]).await,
            };
            match sent {
                // Master control resends what the robot has not taken once the link is back.
                Err(e) if e.link_down() => Ok(()),
                sent => sent.map_err(|e| e.to_string()),
            }
        })
    }
}

fn fleet_reports(fleet: &Fleet, layout: &Layout) -> Vec<(String, RobotReport)> {
    let mut reports = Vec::new();
    fleet.each_robot(|r| {
        let mut report = RobotReport::default();
        fill_report(&mut report, r, layout);
        reports.push((r.key.clone(), report));
    });
    reports
}

fn refresh_from_fleet(fleet: &Fleet, layout: &Layout, into: &mut BTreeMap<String, RobotReport>) -> usize {
    fleet.each_robot(|r| match into.get_mut(&r.key) {
        Some(report) => fill_report(report, r, layout),
        None => {
            let mut report = RobotReport::default();
            fill_report(&mut report, r, layout);
            into.insert(r.key.clone(), report);
        }
    })
}

/// A robot's report from its fleet record, reusing the report's buffers (`clone_from`).
fn fill_report(report: &mut RobotReport, r: &crate::fleet::Robot, layout: &Layout) {
    report.in_service = r.in_service;
    report.cell = r.last_node_id.as_deref().and_then(|n| layout.cell_of_node(n)).or_else(|| r.position.and_then(|(x, y)| layout.cell_at(x, y)));
    report.battery = r.battery_charge.unwrap_or(0.0);
    report.finished_actions.clone_from(&r.finished_actions);
    report.order_id.clone_from(&r.order_id);
    report.order_update_id = r.order_update_id;
    report.ahead.clear();
    report.ahead.extend(r.released_ahead.iter().filter_map(|n| layout.cell_of_node(n)));
    match (&mut report.load, &r.loads) {
        (Some(Some(load)), Some(loads)) if !loads.is_empty() => load.clone_from(&loads[0]),
        (load, loads) => *load = loads.as_ref().map(|l| l.first().cloned()),
    }
    report.refusals = r.order_refusals;
}

/// What a VDA 5050 order depends on besides the plan: the map, the floor's names for a storage
/// spot and a pod for this vehicle, and the most nodes its factsheet allows.
pub struct OrderTarget<'a> {
    pub layout: &'a Layout,
    pub station_type: &'a str,
    pub load_type: &'a str,
    pub max_nodes: Option<usize>,
}

/// The VDA 5050 order (or order update) for a plan: nodes are cells `c{x}_{y}` at metres on
/// the map; lift and drop carry the standard parameters, the pod id as `loadId`. A horizon
/// longer than the vehicle takes is cut (the base never is: it is at most two nodes).
pub fn vda_order(header: tote_shared::vda5050::Header, target: &OrderTarget<'_>, plan: &OrderPlan) -> Order {
    let layout = target.layout;
    let keep = target.max_nodes.map_or(plan.cells.len(), |n| n.max(plan.released).max(1));
    let cut = keep < plan.cells.len();
    let waypoints: Vec<Waypoint> = plan
        .cells
        .iter()
        .take(keep)
        .map(|c| {
            let (x, y) = layout.position(*c);
            Waypoint { node_id: layout.node_id(*c), x, y }
        })
        .collect();
    // The goal's action rides on the goal node: cut off, it goes in a later update.
    let actions = plan.action.iter().filter(|_| !cut).map(|(id, a)| Action {
        action_type: action_type(a).into(),
        action_id: id.clone(),
        action_description: None,
        blocking_type: BlockingType::Hard,
        action_parameters: match a {
            LegAction::Lift { pod } | LegAction::Drop { pod } => Some(load_parameters(target.station_type, target.load_type, pod)),
            LegAction::Charge => None,
        },
    });
    let route = Route {
        order_id: &plan.order_id,
        order_update_id: plan.update_id,
        first_sequence_id: plan.first_sequence_id,
        waypoints: &waypoints,
        released: plan.released,
        map_id: &layout.map_id,
    };
    Order::along(header, route, actions.collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::tests::state;
    use tote_shared::gtp::LayoutSpec;
    use tote_shared::mapf::Grid;
    use tote_shared::vda5050::{ActionState, ActionStatus, ConnectionState, Load};

    fn layout() -> Layout {
        let grid = Grid::parse_movingai("type octile\nheight 3\nwidth 4\nmap\n....\n....\n....\n").expect("map");
        let spec: LayoutSpec = toml::from_str("map = 'm.map'\nstorage = [[1, 1, 2, 1]]\n[[stations]]\nname = 'S1'\npick = [0, 2]\n").expect("spec");
        Layout::build(grid, &spec).expect("layout")
    }

    fn all(reports: &BTreeMap<String, RobotReport>) -> String {
        format!("{reports:?}")
    }

    /// Reports kept from tick to tick and updated in place read the same as reports made
    /// afresh, after each robot's state changes every field.
    #[test]
    fn reports_refreshed_in_place_equal_reports_made_afresh() {
        let (fleet, layout) = (Fleet::default(), layout());
        fleet.connection("m", "r1", ConnectionState::Online, 0);
        fleet.connection("m", "r2", ConnectionState::Online, 0);
        let mut kept = BTreeMap::new();
        let mut states = Vec::new();
        let mut s = state(10);
        (s.last_node_id, s.order_id, s.order_update_id) = ("c1_1".into(), "o1".into(), 2);
        s.loads = Some(vec![Load { load_id: Some("P1".into()), load_type: None }]);
        s.action_states = vec![ActionState { action_id: "lift-1".into(), action_type: Some("pick".into()), action_status: ActionStatus::Finished, result_description: None }];
        states.push(s);
        let mut s = state(20);
        (s.last_node_id, s.order_id, s.loads, s.action_states) = ("c2_2".into(), "o2".into(), Some(vec![]), vec![]);
        s.battery_state.battery_charge = 12.5;
        states.push(s);
        for (step, s) in states.iter().enumerate() {
            fleet.state("m", "r1", s, 10 * step as i64);
            assert_eq!(refresh_from_fleet(&fleet, &layout, &mut kept), 2);
            let afresh: BTreeMap<String, RobotReport> = fleet_reports(&fleet, &layout).into_iter().collect();
            assert_eq!(all(&kept), all(&afresh), "after state {step}");
        }
        let r1 = &kept["m/r1"];
        assert_eq!((r1.cell, r1.order_id.as_deref(), r1.load.clone(), r1.battery), (layout.cell_of_node("c2_2"), Some("o2"), Some(None), 12.5));
    }
}
