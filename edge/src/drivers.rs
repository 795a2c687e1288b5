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
    fn owns(&self, robot: &str) -> bool;
    fn send<'a>(&'a self, layout: &'a Layout, robot: &'a str, command: Command) -> Sent<'a>;
}

/// Every robot of every driver.
pub fn reports(drivers: &[Arc<dyn RobotDriver>], layout: &Layout) -> BTreeMap<String, RobotReport> {
    drivers.iter().flat_map(|d| d.reports(layout)).collect()
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
        self.fleet
            .map_robots(|r| {
                let cell = r.last_node_id.as_deref().and_then(|n| layout.cell_of_node(n)).or_else(|| r.position.and_then(|(x, y)| layout.cell_at(x, y)));
                let report = RobotReport {
                    in_service: r.in_service,
                    cell,
                    battery: r.battery_charge.unwrap_or(0.0),
                    finished_actions: r.finished_actions.clone(),
                    order_id: r.order_id.clone(),
                    order_update_id: r.order_update_id,
                    ahead: r.released_ahead.iter().filter_map(|n| layout.cell_of_node(n)).collect(),
                    load: r.loads.as_ref().map(|l| l.first().cloned()),
                    refusals: r.order_refusals,
                };
                (format!("{}/{}", r.manufacturer, r.serial_number), report)
            })
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
            sent.map_err(|e| e.to_string())
        })
    }
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
