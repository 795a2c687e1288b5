//! Who may do what on the embedded broker (pure rules, no I/O; the gate applies them).
//!
//! VDA 5050 gives each robot its own topics, `uagv/v2/{manufacturer}/{serial}/{topic}`. Only
//! master control — the edge itself, which connects to the broker behind the gate — may publish
//! `order` and `instantActions`. A robot publishes its own `state`, `connection`, `factsheet`
//! and `visualization`, and reads only its own topics. An observer (a floor dashboard, an
//! integrator's tool) reads robot topics and publishes nothing.

use tote_shared::vda5050::Topic;

/// Who a credential stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    Robot { manufacturer: String, serial: String },
    Observer { name: String },
}

impl Identity {
    /// The MQTT user name the credential signs in with.
    pub fn username(&self) -> String {
        match self {
            Identity::Robot { manufacturer, serial } => format!("{manufacturer}/{serial}"),
            Identity::Observer { name } => name.clone(),
        }
    }

    /// A robot's topic prefix, `uagv/v2/{manufacturer}/{serial}/`.
    fn own_prefix(&self) -> Option<String> {
        match self {
            Identity::Robot { manufacturer, serial } => Some(format!("uagv/v2/{manufacturer}/{serial}/")),
            Identity::Observer { .. } => None,
        }
    }
}

/// Why a client's request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("only master control publishes orders and instant actions")]
    MasterOnly,
    #[error("a robot publishes only on its own topics")]
    NotItsTopic,
    #[error("an observer publishes nothing")]
    ReadOnly,
    #[error("a robot subscribes only to its own topics")]
    NotItsFilter,
    #[error("observers subscribe to robot topics (uagv/...) only")]
    OutsideRobotTopics,
    #[error("a last will must be the robot's own connection topic")]
    WrongWill,
}

/// A name part (manufacturer, serial, observer name) of a credential: 1–64 characters, none of
/// them MQTT's separators or wildcards, no control characters.
pub fn valid_name_part(part: &str) -> bool {
    (1..=64).contains(&part.chars().count()) && !part.chars().any(|c| matches!(c, '/' | '+' | '#') || c.is_control() || c.is_whitespace())
}

pub fn may_publish(who: &Identity, topic: &str) -> Result<(), Denied> {
    let Identity::Robot { manufacturer, serial } = who else { return Err(Denied::ReadOnly) };
    match Topic::parse(topic) {
        Some((_, _, Topic::Order | Topic::InstantActions)) => Err(Denied::MasterOnly),
        Some((m, s, _)) if &m == manufacturer && &s == serial => Ok(()),
        _ => Err(Denied::NotItsTopic),
    }
}

pub fn may_subscribe(who: &Identity, filter: &str) -> Result<(), Denied> {
    match who.own_prefix() {
        // Its own topics, by name or by a wildcard that cannot leave them.
        Some(prefix) => {
            let rest = filter.strip_prefix(&prefix).ok_or(Denied::NotItsFilter)?;
            let one_level = !rest.is_empty() && !rest.contains('/') && (rest == "+" || rest == "#" || !rest.contains(['+', '#']));
            one_level.then_some(()).ok_or(Denied::NotItsFilter)
        }
        None => (filter.starts_with("uagv/") && filter.len() > 5).then_some(()).ok_or(Denied::OutsideRobotTopics),
    }
}

/// A last will (published by the broker when the client drops) is a publication like any other,
/// and VDA 5050 wants it on the robot's `connection` topic.
pub fn may_will(who: &Identity, topic: &str) -> Result<(), Denied> {
    match (who, Topic::parse(topic)) {
        (Identity::Robot { manufacturer, serial }, Some((m, s, Topic::Connection))) if &m == manufacturer && &s == serial => Ok(()),
        _ => Err(Denied::WrongWill),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn robot(serial: &str) -> Identity {
        Identity::Robot { manufacturer: "tote".into(), serial: serial.into() }
    }

    #[test]
    fn a_robot_publishes_only_its_own_reports() {
        let r = robot("agv-1");
        for topic in ["state", "connection", "factsheet", "visualization"] {
            assert_eq!(may_publish(&r, &format!("uagv/v2/tote/agv-1/{topic}")), Ok(()), "{topic}");
        }
        assert_eq!(may_publish(&r, "uagv/v2/tote/agv-1/order"), Err(Denied::MasterOnly));
        assert_eq!(may_publish(&r, "uagv/v2/tote/agv-2/instantActions"), Err(Denied::MasterOnly));
        assert_eq!(may_publish(&r, "uagv/v2/tote/agv-2/state"), Err(Denied::NotItsTopic));
        assert_eq!(may_publish(&r, "uagv/v2/other/agv-1/state"), Err(Denied::NotItsTopic));
        assert_eq!(may_publish(&r, "uagv/v2/tote/agv-1/state/x"), Err(Denied::NotItsTopic));
        assert_eq!(may_publish(&r, "$SYS/anything"), Err(Denied::NotItsTopic));
        assert_eq!(may_publish(&Identity::Observer { name: "floor".into() }, "uagv/v2/tote/agv-1/state"), Err(Denied::ReadOnly));
    }

    #[test]
    fn a_robot_reads_only_its_own_topics() {
        let r = robot("agv-1");
        for filter in ["uagv/v2/tote/agv-1/order", "uagv/v2/tote/agv-1/instantActions", "uagv/v2/tote/agv-1/+", "uagv/v2/tote/agv-1/#"] {
            assert_eq!(may_subscribe(&r, filter), Ok(()), "{filter}");
        }
        for filter in ["#", "uagv/#", "uagv/v2/tote/+/order", "uagv/v2/tote/agv-2/order", "uagv/v2/tote/agv-1/a/b", "uagv/v2/tote/agv-1/", "uagv/v2/tote/agv-1/o+"] {
            assert_eq!(may_subscribe(&r, filter), Err(Denied::NotItsFilter), "{filter}");
        }
    }

    #[test]
    fn an_observer_reads_robot_topics_only() {
        let o = Identity::Observer { name: "floor".into() };
        assert_eq!(may_subscribe(&o, "uagv/#"), Ok(()));
        assert_eq!(may_subscribe(&o, "uagv/v2/+/+/state"), Ok(()));
        for filter in ["#", "+/v2/#", "$SYS/#", "uagv/"] {
            assert_eq!(may_subscribe(&o, filter), Err(Denied::OutsideRobotTopics), "{filter}");
        }
    }

    #[test]
    fn a_will_is_the_robots_own_connection_topic() {
        assert_eq!(may_will(&robot("agv-1"), "uagv/v2/tote/agv-1/connection"), Ok(()));
        assert_eq!(may_will(&robot("agv-1"), "uagv/v2/tote/agv-2/connection"), Err(Denied::WrongWill));
        assert_eq!(may_will(&robot("agv-1"), "uagv/v2/tote/agv-1/order"), Err(Denied::WrongWill));
        assert_eq!(may_will(&Identity::Observer { name: "x".into() }, "uagv/v2/tote/agv-1/connection"), Err(Denied::WrongWill));
    }

    #[test]
    fn names_cannot_smuggle_separators_or_wildcards() {
        assert!(valid_name_part("agv-01"));
        for bad in ["", "a/b", "a+", "#", "a b", "a\u{0}", &"x".repeat(65)] {
            assert!(!valid_name_part(bad), "{bad:?}");
        }
    }
}
