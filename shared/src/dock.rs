//! Dock appointments, pure: an inbound delivery books a door and a time slot inside the dock's
//! opening hours; a door holds one truck at a time. Then the visit is recorded: arrived,
//! unloading, unloaded (or cancelled, or a no-show once its slot has passed).

use crate::calendar::{minute_of_day, DAY_MS, MAX_MS, MINUTE_MS};
use serde::{Deserialize, Serialize};

/// The dock (the edge's `[dock]` settings).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DockRules {
    /// The doors trucks unload at, in the order a booking without a door tries them.
    pub doors: Vec<String>,
    /// Bookings start on and last whole multiples of this.
    #[serde(default = "default_slot")]
    pub slot_minutes: u32,
    /// Opening hours, warehouse time ("HH:MM").
    #[serde(default = "default_opens")]
    pub opens: String,
    #[serde(default = "default_closes")]
    pub closes: String,
    /// The warehouse's offset east of UTC, in minutes.
    #[serde(default)]
    pub utc_offset_minutes: i32,
    /// How far ahead a slot may be booked.
    #[serde(default = "default_days_ahead")]
    pub days_ahead: u32,
}

fn default_slot() -> u32 {
    30
}
fn default_opens() -> String {
    "07:00".into()
}
fn default_closes() -> String {
    "19:00".into()
}
fn default_days_ahead() -> u32 {
    14
}

impl Default for DockRules {
    fn default() -> DockRules {
        DockRules { doors: vec!["D1".into(), "D2".into()], slot_minutes: 30, opens: default_opens(), closes: default_closes(), utc_offset_minutes: 0, days_ahead: 14 }
    }
}

/// A booking already on a door.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Booked {
    pub door: String,
    pub start_ms: i64,
    pub end_ms: i64,
}

/// What a booking asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ask<'a> {
    /// None: the first door free for the whole slot.
    pub door: Option<&'a str>,
    pub start_ms: i64,
    pub minutes: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DockError {
    #[error("dock: 1 to 50 doors, each named once with 1 to 16 letters, digits or -; slots of 5 to 240 minutes; opens before it closes, both HH:MM; within ±14 hours of UTC; booked up to 1 to 90 days ahead")]
    Rules,
    #[error("this dock has no door {0}")]
    NoSuchDoor(String),
    #[error("a booking starts on a {0}-minute slot and lasts whole slots, at most 8 hours")]
    Slot(u32),
    #[error("the dock is open {opens} to {closes} (warehouse time): the booking must fit inside")]
    Hours { opens: String, closes: String },
    #[error("that slot is in the past")]
    Past,
    #[error("bookings are taken at most {0} days ahead")]
    TooFar(u32),
    #[error("door {door} is booked from {start_ms} to {end_ms} (Unix ms): choose another time or door")]
    Taken { door: String, start_ms: i64, end_ms: i64 },
    #[error("every door is booked at some point of that slot: choose another time")]
    Full,
}

fn door_name(name: &str) -> bool {
    (1..=16).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

impl DockRules {
    pub fn validate(&self) -> Result<(), DockError> {
        let doors_ok = (1..=50).contains(&self.doors.len())
            && self.doors.iter().all(|d| door_name(d))
            && self.doors.iter().enumerate().all(|(i, d)| !self.doors[..i].contains(d));
        let hours_ok = matches!((minute_of_day(&self.opens), minute_of_day(&self.closes)), (Some(o), Some(c)) if o < c);
        let ok = doors_ok
            && hours_ok
            && (5..=240).contains(&self.slot_minutes)
            && self.utc_offset_minutes.abs() <= 14 * 60
            && (1..=90).contains(&self.days_ahead);
        if ok {
            Ok(())
        } else {
            Err(DockError::Rules)
        }
    }

    /// Checks `ask` against the rules and the doors' bookings; the door it gets and its end.
    pub fn book(&self, booked: &[Booked], ask: &Ask<'_>, now_ms: i64) -> Result<(String, i64), DockError> {
        // Bounded first: the arithmetic below stays far from overflow.
        if ask.start_ms < 0 {
            return Err(DockError::Past);
        }
        if ask.start_ms > MAX_MS {
            return Err(DockError::TooFar(self.days_ahead));
        }
        let slot = i64::from(self.slot_minutes);
        let offset = i64::from(self.utc_offset_minutes) * MINUTE_MS;
        let local = ask.start_ms + offset;
        let (day, minute) = (local.div_euclid(DAY_MS), local.rem_euclid(DAY_MS));
        let minutes = i64::from(ask.minutes);
        if minute % (slot * MINUTE_MS) != 0 || minutes == 0 || minutes % slot != 0 || minutes > 8 * 60 {
            return Err(DockError::Slot(self.slot_minutes));
        }
        let end_ms = ask.start_ms + minutes * MINUTE_MS;
        let (opens, closes) = (minute_of_day(&self.opens).unwrap_or(0), minute_of_day(&self.closes).unwrap_or(24 * 60));
        let first = minute / MINUTE_MS;
        if first < opens || first + minutes > closes {
            return Err(DockError::Hours { opens: self.opens.clone(), closes: self.closes.clone() });
        }
        if end_ms <= now_ms {
            return Err(DockError::Past);
        }
        if day > (now_ms + offset).div_euclid(DAY_MS) + i64::from(self.days_ahead) {
            return Err(DockError::TooFar(self.days_ahead));
        }
        let clash = |door: &str| booked.iter().find(|b| b.door == door && b.start_ms < end_ms && ask.start_ms < b.end_ms);
        match ask.door {
            Some(door) if !self.doors.iter().any(|d| d == door) => Err(DockError::NoSuchDoor(door.to_owned())),
            Some(door) => match clash(door) {
                Some(b) => Err(DockError::Taken { door: door.to_owned(), start_ms: b.start_ms, end_ms: b.end_ms }),
                None => Ok((door.to_owned(), end_ms)),
            },
            None => self.doors.iter().find(|d| clash(d).is_none()).map(|d| (d.clone(), end_ms)).ok_or(DockError::Full),
        }
    }
}

/// Where a booked visit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Visit {
    Booked,
    Arrived,
    Unloading,
    Unloaded,
    Cancelled,
    NoShow,
}

/// What happens at the dock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DockEvent {
    Arrive,
    StartUnloading,
    FinishUnloading,
    Cancel,
    /// The slot ended and the truck never came.
    NoShow,
}

impl Visit {
    pub const ALL: [Visit; 6] = [Visit::Booked, Visit::Arrived, Visit::Unloading, Visit::Unloaded, Visit::Cancelled, Visit::NoShow];

    pub fn as_str(self) -> &'static str {
        match self {
            Visit::Booked => "booked",
            Visit::Arrived => "arrived",
            Visit::Unloading => "unloading",
            Visit::Unloaded => "unloaded",
            Visit::Cancelled => "cancelled",
            Visit::NoShow => "no_show",
        }
    }

    pub fn parse(text: &str) -> Option<Visit> {
        Visit::ALL.into_iter().find(|v| v.as_str() == text)
    }

    /// Holds its door (for new bookings' clashes).
    pub fn holds_door(self) -> bool {
        matches!(self, Visit::Booked | Visit::Arrived | Visit::Unloading)
    }

    /// The state after `event` at `now_ms` for a slot ending at `end_ms`; None when it cannot
    /// happen now.
    pub fn after(self, event: DockEvent, end_ms: i64, now_ms: i64) -> Option<Visit> {
        match (self, event) {
            (Visit::Booked, DockEvent::Arrive) => Some(Visit::Arrived),
            (Visit::Arrived, DockEvent::StartUnloading) => Some(Visit::Unloading),
            (Visit::Unloading, DockEvent::FinishUnloading) => Some(Visit::Unloaded),
            (Visit::Booked, DockEvent::Cancel) => Some(Visit::Cancelled),
            (Visit::Booked, DockEvent::NoShow) if now_ms >= end_ms => Some(Visit::NoShow),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HOUR: i64 = 3_600_000;

    fn rules() -> DockRules {
        DockRules { doors: vec!["D1".into(), "D2".into()], slot_minutes: 30, opens: "07:00".into(), closes: "19:00".into(), utc_offset_minutes: 480, days_ahead: 7 }
    }

    /// 2026-12-08 at `hour` (fractions allowed) in Shanghai.
    fn at(hour: f64) -> i64 {
        crate::calendar::days_from_civil(2026, 12, 8) * DAY_MS + ((hour - 8.0) * HOUR as f64) as i64
    }

    fn ask(door: Option<&str>, hour: f64, minutes: u32) -> Ask<'_> {
        Ask { door, start_ms: at(hour), minutes }
    }

    #[test]
    fn a_booking_takes_the_first_free_door_inside_opening_hours_on_whole_slots() {
        let r = rules();
        let now = at(6.0);
        assert_eq!(r.book(&[], &ask(None, 9.0, 60), now), Ok(("D1".into(), at(10.0))));
        let booked = [Booked { door: "D1".into(), start_ms: at(9.0), end_ms: at(10.0) }];
        assert_eq!(r.book(&booked, &ask(None, 9.5, 60), now), Ok(("D2".into(), at(10.5))));
        assert_eq!(r.book(&booked, &ask(Some("D1"), 9.5, 60), now), Err(DockError::Taken { door: "D1".into(), start_ms: at(9.0), end_ms: at(10.0) }));
        assert_eq!(r.book(&booked, &ask(Some("D1"), 10.0, 30), now), Ok(("D1".into(), at(10.5))), "back to back is fine");
        let full = [booked[0].clone(), Booked { door: "D2".into(), start_ms: at(8.0), end_ms: at(12.0) }];
        assert_eq!(r.book(&full, &ask(None, 9.5, 30), now), Err(DockError::Full));
        assert_eq!(r.book(&[], &ask(Some("D9"), 9.0, 30), now), Err(DockError::NoSuchDoor("D9".into())));
    }

    #[test]
    fn slots_hours_the_past_and_the_horizon_are_checked() {
        let r = rules();
        let now = at(8.0);
        assert_eq!(r.book(&[], &ask(None, 9.25, 30), now), Err(DockError::Slot(30)), "9:15 is not on a slot");
        assert_eq!(r.book(&[], &ask(None, 9.0, 45), now), Err(DockError::Slot(30)));
        assert_eq!(r.book(&[], &ask(None, 9.0, 0), now), Err(DockError::Slot(30)));
        assert!(matches!(r.book(&[], &ask(None, 6.5, 30), now), Err(DockError::Hours { .. })), "before 07:00");
        assert!(matches!(r.book(&[], &ask(None, 18.5, 60), now), Err(DockError::Hours { .. })), "past 19:00");
        assert_eq!(r.book(&[], &ask(None, 7.0, 30), now), Err(DockError::Past));
        assert!(r.book(&[], &ask(None, 7.5, 60), now).is_ok(), "a slot still running can be booked");
        let next_week = Ask { door: None, start_ms: at(9.0) + 8 * DAY_MS, minutes: 30 };
        assert_eq!(r.book(&[], &next_week, now), Err(DockError::TooFar(7)));
        assert_eq!(r.book(&[], &Ask { door: None, start_ms: i64::MAX, minutes: 480 }, now), Err(DockError::TooFar(7)));
        assert_eq!(r.book(&[], &Ask { door: None, start_ms: i64::MIN, minutes: 480 }, now), Err(DockError::Past));
    }

    #[test]
    fn rules_are_checked() {
        assert!(rules().validate().is_ok());
        for bad in [
            DockRules { doors: vec![], ..rules() },
            DockRules { doors: vec!["D1".into(), "D1".into()], ..rules() },
            DockRules { doors: vec!["door 1".into()], ..rules() },
            DockRules { opens: "19:00".into(), closes: "07:00".into(), ..rules() },
            DockRules { slot_minutes: 1, ..rules() },
        ] {
            assert_eq!(bad.validate(), Err(DockError::Rules), "{bad:?}");
        }
    }

    #[test]
    fn a_visit_moves_forward_and_is_a_no_show_only_after_its_slot() {
        let end = at(10.0);
        assert_eq!(Visit::Booked.after(DockEvent::Arrive, end, at(9.0)), Some(Visit::Arrived));
        assert_eq!(Visit::Arrived.after(DockEvent::StartUnloading, end, at(9.0)), Some(Visit::Unloading));
        assert_eq!(Visit::Unloading.after(DockEvent::FinishUnloading, end, at(11.0)), Some(Visit::Unloaded));
        assert_eq!(Visit::Arrived.after(DockEvent::Cancel, end, at(9.0)), None, "a truck at the door is unloaded, not cancelled");
        assert_eq!(Visit::Booked.after(DockEvent::NoShow, end, at(9.5)), None);
        assert_eq!(Visit::Booked.after(DockEvent::NoShow, end, at(10.0)), Some(Visit::NoShow));
        assert!(Visit::Unloading.holds_door() && !Visit::Unloaded.holds_door());
    }

    proptest! {
        #![proptest_config(ProptestConfig { rng_seed: proptest::test_runner::RngSeed::Fixed(0xd0c4), ..ProptestConfig::default() })]

        /// Whatever is asked, in any order: no door ever holds two bookings at once, and every
        /// booking is inside the opening hours on whole slots.
        #[test]
        fn no_door_is_ever_double_booked(asks in proptest::collection::vec((proptest::option::of(0usize..3), 14u32..38, 1u32..6), 1..60)) {
            let r = rules();
            let now = at(6.0);
            let mut booked: Vec<Booked> = Vec::new();
            for (door, half_hour, slots) in asks {
                let name = door.map(|d| ["D1", "D2", "D9"][d]);
                let a = Ask { door: name, start_ms: at(f64::from(half_hour) / 2.0), minutes: 30 * slots };
                if let Ok((door, end_ms)) = r.book(&booked, &a, now) {
                    prop_assert!(a.start_ms >= at(7.0) && end_ms <= at(19.0));
                    booked.push(Booked { door, start_ms: a.start_ms, end_ms });
                }
            }
            for (i, a) in booked.iter().enumerate() {
                for b in &booked[..i] {
                    prop_assert!(a.door != b.door || a.end_ms <= b.start_ms || b.end_ms <= a.start_ms, "{a:?} and {b:?}");
                }
            }
        }
    }
}
