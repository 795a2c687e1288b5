//! Order plans for robots that do not speak VDA 5050: simple AGVs driven through registers
//! (target cell, command, sequence number), one command at a time. The stepper keeps what
//! master control released to the robot and hands out the next command when the robot has
//! finished the last one — a move to the next released cell, then the leg's action — and turns
//! the robot's status back into the `RobotReport` master control expects from any robot.
//!
//! Pure: the driver (Modbus TCP in the edge) reads the status, asks `next`, writes the command,
//! and tells `sent`. A command counts as done when the robot's done-sequence register reaches
//! the command's sequence number.

use super::control::{LegAction, OrderPlan, RobotReport};
use crate::mapf::Cell;
use std::collections::VecDeque;

/// Finished action ids remembered for master control (it looks for its latest ones).
const FINISHED_KEPT: usize = 32;

/// What the robot's status registers say.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Status {
    pub cell: Option<Cell>,
    pub battery: f64,
    /// Non-zero: the robot is in error (out of service).
    pub error: u16,
    pub load: Option<String>,
    /// Sequence number of the last command it completed.
    pub done_seq: u16,
}

/// One register command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Move(Cell),
    Lift(String),
    Drop(String),
    Charge,
    StopCharging,
    /// Stop and forget the order (cancel).
    Stop,
}

#[derive(Debug, Clone, PartialEq)]
enum Instant {
    Cancel(String),
    StopCharging(String),
}

#[derive(Debug, Clone, Default)]
pub struct Stepper {
    order_id: Option<String>,
    update_id: u32,
    /// Released cells not reached yet.
    ahead: VecDeque<Cell>,
    /// The leg's action and whether its node is released.
    action: Option<(String, LegAction)>,
    armed: bool,
    instants: VecDeque<Instant>,
    /// Last sequence number written, and what it asked for (None: unknown, from before a
    /// restart) with the action id it completes.
    seq: u16,
    inflight: Option<(u16, Option<Step>, Option<String>)>,
    finished: VecDeque<String>,
}

impl Stepper {
    /// After (re)connecting: `written_seq` is the sequence number in the robot's command
    /// registers. If the robot has not completed it yet, it is still busy with something we
    /// sent earlier: wait for it.
    pub fn connected(&mut self, written_seq: u16, status: &Status) {
        let known = self.inflight.as_ref().is_some_and(|(s, _, _)| *s == written_seq);
        self.seq = written_seq;
        if status.done_seq != written_seq && !known {
            self.inflight = Some((written_seq, None, None));
        }
    }

    /// An order or order update from master control.
    pub fn order(&mut self, plan: &OrderPlan) {
        let base = plan.cells.get(1..plan.released.max(1)).unwrap_or_default();
        if self.order_id.as_deref() != Some(plan.order_id.as_str()) {
            self.order_id = Some(plan.order_id.clone());
            self.ahead = base.iter().copied().collect();
        } else if plan.update_id > self.update_id {
            self.ahead.extend(base.iter().copied());
        } else {
            return; // a duplicate or stale update
        }
        self.update_id = plan.update_id;
        self.action = plan.action.clone();
        self.armed = plan.released == plan.cells.len();
    }

    /// Like a VDA 5050 cancelOrder: what was released so far is dropped at once, and the robot
    /// is told to stop once its move in flight ends. An order that comes after the cancel is
    /// kept: master control may send it before the stop has gone out (it takes a robot with no
    /// order as having confirmed the cancel), and dropping it then would leave the robot
    /// standing while master control holds the cells it released.
    pub fn cancel(&mut self, action_id: String) {
        self.ahead.clear();
        self.action = None;
        self.armed = false;
        self.instants.push_back(Instant::Cancel(action_id));
    }

    pub fn stop_charging(&mut self, action_id: String) {
        self.instants.push_back(Instant::StopCharging(action_id));
    }

    /// Takes in a status; returns the next command to write, if any (with its sequence number).
    pub fn next(&mut self, status: &Status) -> Option<(u16, Step)> {
        self.complete(status);
        while status.cell.is_some() && self.ahead.front().copied() == status.cell {
            self.ahead.pop_front();
        }
        if self.inflight.is_some() || status.error != 0 {
            return None;
        }
        let seq = self.seq.wrapping_add(1).max(1);
        if let Some(instant) = self.instants.front() {
            return Some((seq, match instant {
                Instant::Cancel(_) => Step::Stop,
                Instant::StopCharging(_) => Step::StopCharging,
            }));
        }
        if let Some(cell) = self.ahead.front() {
            return Some((seq, Step::Move(*cell)));
        }
        match &self.action {
            Some((_, action)) if self.armed => Some((seq, match action {
                LegAction::Lift { pod } => Step::Lift(pod.clone()),
                LegAction::Drop { pod } => Step::Drop(pod.clone()),
                LegAction::Charge => Step::Charge,
            })),
            _ => None,
        }
    }

    /// The command from `next` reached the robot.
    pub fn sent(&mut self, seq: u16, step: Step) {
        let completes = match step {
            Step::Stop | Step::StopCharging => match self.instants.pop_front() {
                Some(Instant::Cancel(id) | Instant::StopCharging(id)) => Some(id),
                None => None,
            },
            Step::Lift(_) | Step::Drop(_) | Step::Charge => self.action.as_ref().map(|(id, _)| id.clone()),
            Step::Move(_) => None,
        };
        self.seq = seq;
        self.inflight = Some((seq, Some(step), completes));
    }

    fn complete(&mut self, status: &Status) {
        let Some((seq, step, completes)) = &self.inflight else { return };
        if status.done_seq != *seq {
            return;
        }
        if matches!(step, Some(Step::Lift(_) | Step::Drop(_) | Step::Charge)) {
            self.action = None;
        }
        if let Some(id) = completes.clone() {
            self.finished.push_back(id);
            if self.finished.len() > FINISHED_KEPT {
                self.finished.pop_front();
            }
        }
        self.inflight = None;
    }

    pub fn report(&self, status: &Status, online: bool) -> RobotReport {
        let mut ahead: Vec<Cell> = self.ahead.iter().copied().collect();
        // A move in flight to a cell no longer listed (a cancel) still holds that cell.
        if let Some((_, Some(Step::Move(c)), _)) = &self.inflight {
            if !ahead.contains(c) && status.cell != Some(*c) {
                ahead.insert(0, *c);
            }
        }
        RobotReport {
            in_service: online && status.error == 0 && status.cell.is_some(),
            cell: status.cell,
            battery: status.battery,
            finished_actions: self.finished.iter().cloned().collect(),
            order_id: self.order_id.clone(),
            order_update_id: self.update_id,
            ahead,
            load: Some(status.load.clone()),
            refusals: 0,
        }
    }
}

/// Register value for a pod id `P0042` (42); None for ids of another shape.
pub fn pod_number(pod: &str) -> Option<u16> {
    pod.strip_prefix('P').filter(|n| n.len() == 4).and_then(|n| n.parse().ok()).filter(|n| *n > 0)
}

/// The pod id for a load register value (0: nothing).
pub fn pod_id(number: u16) -> Option<String> {
    (number > 0).then(|| format!("P{number:04}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(order: &str, update: u32, cells: &[Cell], released: usize, action: Option<LegAction>) -> OrderPlan {
        OrderPlan {
            robot: "m/1".into(),
            order_id: order.into(),
            update_id: update,
            first_sequence_id: 0,
            cells: cells.to_vec(),
            released,
            action: action.map(|a| ("act-1".into(), a)),
        }
    }

    fn at(cell: Cell, done_seq: u16) -> Status {
        Status { cell: Some(cell), battery: 80.0, done_seq, ..Status::default() }
    }

    /// Runs the robot: each command completes at once. Returns the commands.
    fn drive(s: &mut Stepper, mut cell: Cell, mut load: Option<String>) -> Vec<Step> {
        let mut steps = Vec::new();
        let mut done = s.seq;
        for _ in 0..50 {
            let status = Status { load: load.clone(), ..at(cell, done) };
            let Some((seq, step)) = s.next(&status) else { break };
            s.sent(seq, step.clone());
            match &step {
                Step::Move(c) => cell = *c,
                Step::Lift(p) => load = Some(p.clone()),
                Step::Drop(_) => load = None,
                _ => {}
            }
            done = seq;
            steps.push(step);
        }
        s.next(&Status { load, ..at(cell, done) });
        steps
    }

    #[test]
    fn moves_cell_by_cell_through_released_cells_then_acts() {
        let mut s = Stepper::default();
        s.order(&plan("o1", 0, &[1, 2, 3, 4, 5], 3, Some(LegAction::Lift { pod: "P0007".into() })));
        assert_eq!(drive(&mut s, 1, None), vec![Step::Move(2), Step::Move(3)], "only released cells, no action yet");
        let r = s.report(&at(3, s.seq), true);
        assert!(r.ahead.is_empty() && r.finished_actions.is_empty());
        s.order(&plan("o1", 1, &[3, 4, 5], 3, Some(LegAction::Lift { pod: "P0007".into() })));
        assert_eq!(drive(&mut s, 3, None), vec![Step::Move(4), Step::Move(5), Step::Lift("P0007".into())]);
        let r = s.report(&Status { load: Some("P0007".into()), ..at(5, s.seq) }, true);
        assert_eq!(r.finished_actions, vec!["act-1".to_owned()]);
        assert_eq!((r.order_id.as_deref(), r.order_update_id, r.load), (Some("o1"), 1, Some(Some("P0007".into()))));
        s.order(&plan("o1", 1, &[3, 4, 5], 3, None));
        assert_eq!(drive(&mut s, 5, None), vec![], "a duplicate update changes nothing");
    }

    #[test]
    fn waits_for_the_robot_before_the_next_command() {
        let mut s = Stepper::default();
        s.order(&plan("o1", 0, &[1, 2, 3], 3, None));
        let (seq, step) = s.next(&at(1, 0)).expect("a move");
        assert_eq!((seq, &step), (1, &Step::Move(2)));
        s.sent(seq, step);
        assert_eq!(s.next(&at(1, 0)), None, "still moving");
        assert_eq!(s.report(&at(1, 0), true).ahead, vec![2, 3]);
        assert_eq!(s.next(&at(2, 1)), Some((2, Step::Move(3))));
        assert_eq!(s.next(&Status { error: 5, ..at(2, 1) }), None, "in error: nothing");
        assert!(!s.report(&Status { error: 5, ..at(2, 1) }, true).in_service);
    }

    #[test]
    fn cancel_stops_after_the_move_in_flight_and_reports_the_cancel_done() {
        let mut s = Stepper::default();
        s.order(&plan("o1", 0, &[1, 2, 3, 4], 4, Some(LegAction::Drop { pod: "P0001".into() })));
        let (seq, step) = s.next(&at(1, 0)).expect("move");
        s.sent(seq, step);
        s.cancel("cancel-9".into());
        assert_eq!(s.next(&at(1, 0)), None, "the move finishes first");
        let (seq, step) = s.next(&at(2, 1)).expect("stop");
        assert_eq!(step, Step::Stop);
        s.sent(seq, step);
        assert_eq!(s.next(&at(2, seq)), None, "nothing after a cancel");
        let r = s.report(&at(2, seq), true);
        assert_eq!((r.finished_actions, r.ahead), (vec!["cancel-9".to_owned()], vec![]));
    }

    /// The race CI hit: a robot coming into service is sent a cancel, and master control,
    /// seeing no order on it, releases its first cell before the stop has gone out. The stop
    /// goes first; the move of the newer order follows it.
    #[test]
    fn an_order_sent_after_a_cancel_survives_the_stop() {
        let mut s = Stepper::default();
        s.connected(0, &at(10, 0));
        s.cancel("cancel-1".into());
        s.order(&plan("o1", 0, &[10, 11, 12], 2, None));
        assert_eq!(s.report(&at(10, 0), true).ahead, vec![11], "the new order's released cell is held");
        let (seq, step) = s.next(&at(10, 0)).expect("the stop first");
        assert_eq!((seq, &step), (1, &Step::Stop));
        s.sent(seq, step);
        assert_eq!(s.next(&at(10, 1)), Some((2, Step::Move(11))), "then the new order's move");
        assert_eq!(s.report(&at(10, 1), true).finished_actions, vec!["cancel-1".to_owned()]);
    }

    #[test]
    fn after_a_restart_it_waits_for_what_the_robot_is_still_doing() {
        let mut s = Stepper::default();
        s.connected(41, &at(7, 40));
        assert_eq!(s.next(&at(7, 40)), None, "seq 41 not done yet");
        s.order(&plan("o2", 0, &[8, 9], 2, None));
        assert_eq!(s.next(&at(8, 41)), Some((42, Step::Move(9))), "cell 8 reached; numbering goes on");
        let mut fresh = Stepper::default();
        fresh.connected(12, &at(3, 12));
        fresh.order(&plan("o3", 0, &[3, 4], 2, None));
        assert_eq!(fresh.next(&at(3, 12)), Some((13, Step::Move(4))));
    }

    #[test]
    fn pods_by_number() {
        assert_eq!(pod_number("P0042"), Some(42));
        assert_eq!(pod_number("P42"), None);
        assert_eq!(pod_number("P0000"), None);
        assert_eq!(pod_id(42).as_deref(), Some("P0042"));
        assert_eq!(pod_id(0), None);
    }
}
