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
use tote_shared::vda5050::{Action, ActionParameter, BlockingType, Order, Route, Topic, Waypoint};

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
/// published on their topics.
pub struct VdaDriver {
    pub fleet: Arc<Fleet>,
    pub publisher: crate::mqtt::Publisher,
}

impl RobotDriver for VdaDriver {
    fn reports(&self, layout: &Layout) -> Vec<(String, RobotReport)> {
        self.fleet
            .robots()
            .into_iter()
            .map(|r| {
                let cell = r.last_node_id.as_deref().and_then(|n| layout.cell_of_node(n)).or_else(|| r.position.and_then(|(x, y)| layout.cell_at(x, y)));
                let report = RobotReport {
                    in_service: r.in_service,
                    cell,
                    battery: r.battery_charge.unwrap_or(0.0),
                    finished_actions: r.finished_actions,
                    order_id: r.order_id,
                    order_update_id: r.order_update_id,
                    ahead: r.released_ahead.iter().filter_map(|n| layout.cell_of_node(n)).collect(),
                    load: r.loads.map(|l| l.into_iter().next()),
                };
                (format!("{}/{}", r.manufacturer, r.serial_number), report)
            })
            .collect()
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
            let sent = match command {
                Command::Order(plan) => {
                    // Known before it is sent, so the robot's first state naming it is never
                    // taken for someone else's order.
                    self.fleet.order_sent(manufacturer, serial, &plan.order_id);
                    self.publisher.order(&vda_order(&self.publisher, layout, &plan)).await
                }
                Command::Cancel { action_id } => self.publisher.instant_actions(manufacturer, serial, vec![instant("cancelOrder", action_id)]).await,
                Command::StopCharging { action_id } => {
                    self.publisher.instant_actions(manufacturer, serial, vec![instant("stopCharging", action_id)]).await
                }
            };
            sent.map_err(|e| e.to_string())
        })
    }
}

/// The VDA 5050 order (or order update) for a plan: nodes are cells `c{x}_{y}` at metres on
/// the map; lift and drop carry the pod id.
pub fn vda_order(robots: &crate::mqtt::Publisher, layout: &Layout, plan: &OrderPlan) -> Order {
    let (manufacturer, serial) = plan.robot.split_once('/').unwrap_or(("", plan.robot.as_str()));
    let header = robots.header(manufacturer, serial, Topic::Order);
    let waypoints: Vec<Waypoint> = plan
        .cells
        .iter()
        .map(|c| {
            let (x, y) = layout.position(*c);
            Waypoint { node_id: layout.node_id(*c), x, y }
        })
        .collect();
    let actions = plan.action.iter().map(|(id, a)| Action {
        action_type: action_type(a).into(),
        action_id: id.clone(),
        action_description: None,
        blocking_type: BlockingType::Hard,
        action_parameters: match a {
            LegAction::Lift { pod } | LegAction::Drop { pod } => Some(vec![ActionParameter { key: "podId".into(), value: serde_json::Value::String(pod.clone()) }]),
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
