//! Robots driven over Modbus TCP (tokio-modbus client): simple AGVs, lifts and shuttles that
//! take one command at a time through registers. Beside the VDA 5050 driver, under the same
//! `RobotDriver` interface, so master control dispatches both alike.
//!
//! Register map (bases are configuration; the words follow each other from there):
//! - status, 7 words (input or holding registers): x cell, y cell, battery %, state
//!   (0 idle, 1 moving, 2 lifting/dropping, 3 charging), error code (0 = none), load (pod
//!   number, 0 = none), done sequence (the last command completed);
//! - command, 5 holding registers written in one request: target x, target y, command
//!   (`CMD_*`), pod number, sequence. The robot acts when the sequence changes.

use crate::config::ModbusRobotSettings;
use crate::drivers::{Command, RobotDriver, Sent};
use crate::gtp::Floor;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tote_shared::runtime::backoff::Backoff;
use crate::modbus_link::{answer, connect, LinkError, RECONNECT_MS};
use tokio_modbus::client::{Client, Context, Reader, Writer};
use tote_shared::gtp::stepper::{pod_id, pod_number, Status, Step, Stepper};
use tote_shared::gtp::{Layout, RobotReport};
use tote_shared::runtime::supervise::Stop;
use tote_shared::station::Table;

pub const STATUS_WORDS: u16 = 7;
pub const COMMAND_WORDS: u16 = 5;
pub const CMD_MOVE: u16 = 1;
pub const CMD_LIFT: u16 = 2;
pub const CMD_DROP: u16 = 3;
pub const CMD_CHARGE: u16 = 4;
pub const CMD_STOP_CHARGING: u16 = 5;
pub const CMD_STOP: u16 = 6;

/// What the API shows of one Modbus robot.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ModbusRobotView {
    pub robot: String,
    pub address: String,
    pub online: bool,
    pub connected: bool,
    /// The raw status words as last read.
    pub status: Option<[u16; STATUS_WORDS as usize]>,
    pub polls: u64,
    pub commands: u64,
    pub failures: u64,
    pub last_error: Option<String>,
}

struct Robot {
    settings: ModbusRobotSettings,
    inner: Mutex<Inner>,
    wake: Notify,
}

#[derive(Default)]
struct Inner {
    stepper: Stepper,
    status: Option<Status>,
    online: bool,
    failures_in_a_row: u32,
    view: ModbusRobotView,
}

/// Every Modbus robot of this edge, keyed `manufacturer/serial` like VDA 5050 robots.
#[derive(Default)]
pub struct ModbusFleet {
    robots: BTreeMap<String, Arc<Robot>>,
}

impl ModbusFleet {
    pub fn views(&self) -> Vec<ModbusRobotView> {
        self.robots.values().map(|r| lock(&r.inner).view.clone()).collect()
    }
}

fn lock(inner: &Mutex<Inner>) -> std::sync::MutexGuard<'_, Inner> {
    inner.lock().unwrap_or_else(|p| p.into_inner())
}

impl RobotDriver for ModbusFleet {
    fn reports(&self, _layout: &Layout) -> Vec<(String, RobotReport)> {
        self.robots
            .iter()
            .filter_map(|(key, r)| {
                let inner = lock(&r.inner);
                let status = inner.status.as_ref()?;
                Some((key.clone(), inner.stepper.report(status, inner.online)))
            })
            .collect()
    }

    fn owns(&self, robot: &str) -> bool {
        self.robots.contains_key(robot)
    }

    fn send<'a>(&'a self, _layout: &'a Layout, robot: &'a str, command: Command) -> Sent<'a> {
        Box::pin(async move {
            let r = self.robots.get(robot).ok_or_else(|| format!("{robot} is not a Modbus robot"))?;
            {
                let mut inner = lock(&r.inner);
                match command {
                    Command::Order(plan) => inner.stepper.order(&plan),
                    Command::Cancel { action_id } => inner.stepper.cancel(action_id),
                    Command::StopCharging { action_id } => inner.stepper.stop_charging(action_id),
                }
            }
            r.wake.notify_one();
            Ok(())
        })
    }
}

/// The Modbus fleet and one poller task per robot, for the supervisor to run.
pub fn start(robots: &[ModbusRobotSettings], floor: Arc<Floor>) -> (Arc<ModbusFleet>, Vec<RobotTask>) {
    let mut fleet = ModbusFleet::default();
    for s in robots {
        let view = ModbusRobotView { robot: s.key(), address: s.address.clone(), ..ModbusRobotView::default() };
        let inner = Inner { view, ..Inner::default() };
        fleet.robots.insert(s.key(), Arc::new(Robot { settings: s.clone(), inner: Mutex::new(inner), wake: Notify::new() }));
    }
    let fleet = Arc::new(fleet);
    let tasks = fleet.robots.values().map(|r| RobotTask { robot: r.clone(), floor: floor.clone() }).collect();
    (fleet, tasks)
}

/// One Modbus robot's poller as a restartable task. The robot's stepper lives in the fleet,
/// not in the task, so a restarted run goes on with the command numbering where it stood.
#[derive(Clone)]
pub struct RobotTask {
    robot: Arc<Robot>,
    floor: Arc<Floor>,
}

impl RobotTask {
    /// `manufacturer/serial`.
    pub fn robot(&self) -> String {
        self.robot.settings.key()
    }

    /// Polls until `stop`, which it heeds between polls: a command read from the stepper is
    /// written before it stops.
    pub async fn run(self, stop: Stop) {
        let (robot, floor) = (self.robot, self.floor);
        let mut backoff = Backoff::from_millis(RECONNECT_MS.0, RECONNECT_MS.1);
        while !stop.is_stopped() {
            match stop.run_until_stopped(connect(&robot.settings.address, robot.settings.unit, Duration::from_millis(robot.settings.timeout_ms))).await {
                None => return,
                Some(Ok(mut ctx)) => {
                    backoff.reset();
                    lock(&robot.inner).view.connected = true;
                    let lost = poll_until_lost(&robot, &floor.layout, &mut ctx, &stop).await;
                    let _ = tokio::time::timeout(Duration::from_millis(robot.settings.timeout_ms), ctx.disconnect()).await;
                    lock(&robot.inner).view.connected = false;
                    match lost {
                        Some(error) => failed(&robot, &error),
                        None => return,
                    }
                }
                Some(Err(error)) => failed(&robot, &error),
            }
            let _ = stop.run_until_stopped(tokio::time::sleep(backoff.next_delay())).await;
        }
    }
}

fn failed(robot: &Robot, error: &LinkError) {
    let mut inner = lock(&robot.inner);
    inner.failures_in_a_row = inner.failures_in_a_row.saturating_add(1);
    inner.view.failures += 1;
    inner.view.last_error = Some(error.to_string());
    if inner.online && inner.failures_in_a_row >= robot.settings.offline_after {
        inner.online = false;
        inner.view.online = false;
        tracing::warn!(robot = %robot.settings.key(), %error, "Modbus robot not answering: out of service");
    }
}

/// Polls until the link breaks (its error) or `stop` (None).
async fn poll_until_lost(robot: &Robot, layout: &Layout, ctx: &mut Context, stop: &Stop) -> Option<LinkError> {
    let s = &robot.settings;
    // Where the command registers stand: numbering goes on from there.
    let written = match answer(Duration::from_millis(s.timeout_ms), ctx.read_holding_registers(s.command.address + COMMAND_WORDS - 1, 1)).await {
        Ok(words) => words.first().copied().unwrap_or(0),
        Err(e) => return Some(e),
    };
    let mut first = true;
    let mut tick = tokio::time::interval(Duration::from_millis(s.poll_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = robot.wake.notified() => {}
            () = stop.stopped() => return None,
        }
        let words = match read_status(s, ctx).await {
            Ok(words) => words,
            Err(e @ LinkError::Exception(_)) => {
                failed(robot, &e);
                continue;
            }
            Err(e) => return Some(e),
        };
        let status = decode(layout, &words);
        let next = {
            let mut inner = lock(&robot.inner);
            if first {
                inner.stepper.connected(written, &status);
                first = false;
            }
            if !inner.online {
                tracing::info!(robot = %s.key(), "Modbus robot answers: in service");
            }
            inner.online = true;
            inner.failures_in_a_row = 0;
            inner.view.online = true;
            inner.view.polls += 1;
            inner.view.status = Some(words);
            let next = inner.stepper.next(&status);
            inner.status = Some(status);
            next
        };
        let Some((seq, step)) = next else { continue };
        let Some(words) = encode(layout, seq, &step) else {
            tracing::error!(robot = %s.key(), ?step, "command cannot be put in registers (pod id not P + 4 digits?)");
            continue;
        };
        match answer(Duration::from_millis(s.timeout_ms), ctx.write_multiple_registers(s.command.address, &words)).await {
            Ok(()) => {
                let mut inner = lock(&robot.inner);
                inner.stepper.sent(seq, step);
                inner.view.commands += 1;
            }
            Err(e @ LinkError::Exception(_)) => failed(robot, &e),
            Err(e) => return Some(e),
        }
    }
}

async fn read_status(s: &ModbusRobotSettings, ctx: &mut Context) -> Result<[u16; STATUS_WORDS as usize], LinkError> {
    let words = match s.status.table {
        Table::Input => answer(Duration::from_millis(s.timeout_ms), ctx.read_input_registers(s.status.address, STATUS_WORDS)).await?,
        _ => answer(Duration::from_millis(s.timeout_ms), ctx.read_holding_registers(s.status.address, STATUS_WORDS)).await?,
    };
    words.try_into().map_err(|_| LinkError::Lost("the robot answered fewer status words than asked for".into()))
}

fn decode(layout: &Layout, w: &[u16; STATUS_WORDS as usize]) -> Status {
    Status {
        cell: layout.grid.cell(u32::from(w[0]), u32::from(w[1])),
        battery: f64::from(w[2].min(100)),
        error: w[4],
        load: pod_id(w[5]),
        done_seq: w[6],
    }
}

fn encode(layout: &Layout, seq: u16, step: &Step) -> Option<[u16; COMMAND_WORDS as usize]> {
    let (command, cell, pod) = match step {
        Step::Move(c) => (CMD_MOVE, Some(*c), 0),
        Step::Lift(p) => (CMD_LIFT, None, pod_number(p)?),
        Step::Drop(p) => (CMD_DROP, None, pod_number(p)?),
        Step::Charge => (CMD_CHARGE, None, 0),
        Step::StopCharging => (CMD_STOP_CHARGING, None, 0),
        Step::Stop => (CMD_STOP, None, 0),
    };
    let (x, y) = cell.map(|c| layout.grid.xy(c)).unwrap_or((0, 0));
    Some([u16::try_from(x).ok()?, u16::try_from(y).ok()?, command, pod, seq])
}
