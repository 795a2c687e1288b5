//! A pick station's PLC as the edge sees it: the register map (configuration, not code), the
//! pick-to-light display the edge writes, and the logic that turns polled inputs into events.
//!
//! Pure: the Modbus client lives in the edge, time comes in as `now_ms`. The rules that make a
//! button press count exactly once live here:
//! - only a rising edge of the confirm input is a press (a held button is one press);
//! - the first sample after (re)connecting is a baseline, never an edge (a button held across
//!   a reconnect, or a latch the edge saw before it restarted, is not a new press);
//! - a press within `settle_ms` of a display change is ignored: the worker cannot have read the
//!   new quantity yet, so the press belonged to what was shown before, which is already done.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The four Modbus data tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Table {
    /// Read/write bits (function codes 1, 5, 15).
    Coil,
    /// Read-only bits (2).
    Discrete,
    /// Read/write 16-bit words (3, 6, 16).
    Holding,
    /// Read-only words (4).
    Input,
}

/// One register or bit: `coil:4`, `di:0`, `hr:10`, `ir:2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Point {
    pub table: Table,
    pub address: u16,
}

impl Point {
    pub const fn new(table: Table, address: u16) -> Point {
        Point { table, address }
    }

    pub fn writable(&self) -> bool {
        matches!(self.table, Table::Coil | Table::Holding)
    }

    pub fn is_word(&self) -> bool {
        matches!(self.table, Table::Holding | Table::Input)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    #[error("{0:?} is not a register: write coil:N, di:N, hr:N or ir:N (N from 0 to 65535)")]
    Syntax(String),
    #[error("{name} ({point}) must be writable: a coil or a holding register")]
    NotWritable { name: &'static str, point: Point },
    #[error("{name} ({point}) must be a holding register (it carries a number)")]
    NotAWord { name: &'static str, point: Point },
    #[error("{first} and {second} are both mapped to {point}")]
    Shared { first: &'static str, second: &'static str, point: Point },
}

impl FromStr for Point {
    type Err = MapError;
    fn from_str(s: &str) -> Result<Point, MapError> {
        let bad = || MapError::Syntax(s.chars().take(40).collect());
        let (table, address) = s.split_once(':').ok_or_else(bad)?;
        let table = match table.trim().to_ascii_lowercase().as_str() {
            "coil" | "co" => Table::Coil,
            "di" | "discrete" => Table::Discrete,
            "hr" | "holding" => Table::Holding,
            "ir" | "input" => Table::Input,
            _ => return Err(bad()),
        };
        let address = address.trim().parse().map_err(|_| bad())?;
        Ok(Point { table, address })
    }
}

impl fmt::Display for Point {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let table = match self.table {
            Table::Coil => "coil",
            Table::Discrete => "di",
            Table::Holding => "hr",
            Table::Input => "ir",
        };
        write!(f, "{table}:{}", self.address)
    }
}

impl<'de> Deserialize<'de> for Point {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Point, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for Point {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Where a station PLC keeps each signal. Inputs are read every poll; outputs are written when
/// what they should show changes. Optional signals a station does not have are left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterMap {
    /// Confirm button (input, any table; non-zero = pressed).
    pub confirm: Point,
    /// Pod-present sensor at the pick cell.
    #[serde(default)]
    pub pod_present: Option<Point>,
    /// Light curtain / safety input: non-zero = clear. While it is broken, the presented pod
    /// does not leave.
    #[serde(default)]
    pub safety_ok: Option<Point>,
    /// Pick-to-light quantity (holding register).
    pub qty: Point,
    /// Pick-to-light colour (`Colour` code).
    #[serde(default)]
    pub colour: Option<Point>,
    /// Which bin: face number × 100 + bin number (`B3` = 203); 0 = none.
    #[serde(default)]
    pub bin: Option<Point>,
    /// Tower light (`Colour` code).
    #[serde(default)]
    pub tower: Option<Point>,
}

impl Default for RegisterMap {
    /// The map `tote-sim plc` plays: discrete inputs 0–2, holding registers 0–3.
    fn default() -> Self {
        RegisterMap {
            confirm: Point::new(Table::Discrete, 1),
            pod_present: Some(Point::new(Table::Discrete, 0)),
            safety_ok: Some(Point::new(Table::Discrete, 2)),
            qty: Point::new(Table::Holding, 0),
            colour: Some(Point::new(Table::Holding, 1)),
            bin: Some(Point::new(Table::Holding, 2)),
            tower: Some(Point::new(Table::Holding, 3)),
        }
    }
}

impl RegisterMap {
    pub fn validate(&self) -> Result<(), MapError> {
        for (name, point) in self.outputs() {
            if !point.writable() {
                return Err(MapError::NotWritable { name, point });
            }
            if matches!(name, "qty" | "bin") && point.table != Table::Holding {
                return Err(MapError::NotAWord { name, point });
            }
        }
        let all: Vec<(&'static str, Point)> = self.inputs().into_iter().chain(self.outputs()).collect();
        for (i, (first, a)) in all.iter().enumerate() {
            if let Some((second, _)) = all[i + 1..].iter().find(|(_, b)| b == a) {
                return Err(MapError::Shared { first, second, point: *a });
            }
        }
        Ok(())
    }

    pub fn inputs(&self) -> Vec<(&'static str, Point)> {
        let mut v = vec![("confirm", self.confirm)];
        v.extend(self.pod_present.map(|p| ("pod_present", p)));
        v.extend(self.safety_ok.map(|p| ("safety_ok", p)));
        v
    }

    pub fn outputs(&self) -> Vec<(&'static str, Point)> {
        let mut v = vec![("qty", self.qty)];
        v.extend(self.colour.map(|p| ("colour", p)));
        v.extend(self.bin.map(|p| ("bin", p)));
        v.extend(self.tower.map(|p| ("tower", p)));
        v
    }

    /// The input reads of one poll: per table, one span covering every input in it (one
    /// Modbus request per table instead of one per signal).
    pub fn input_spans(&self) -> Vec<(Table, u16, u16)> {
        let mut spans: Vec<(Table, u16, u16)> = Vec::new();
        for (_, p) in self.inputs() {
            match spans.iter_mut().find(|(t, _, _)| *t == p.table) {
                Some((_, start, count)) => {
                    let end = (*start + *count).max(p.address + 1);
                    *start = (*start).min(p.address);
                    *count = end - *start;
                }
                None => spans.push((p.table, p.address, 1)),
            }
        }
        spans
    }

    /// The inputs out of the values read for `input_spans` (same order).
    pub fn decode(&self, values: &[(Table, u16, Vec<u16>)]) -> Option<Inputs> {
        let get = |p: Point| -> Option<bool> {
            let (_, start, words) = values.iter().find(|(t, _, _)| *t == p.table)?;
            words.get(usize::from(p.address.checked_sub(*start)?)).map(|w| *w != 0)
        };
        Some(Inputs {
            confirm: get(self.confirm)?,
            pod_present: match self.pod_present {
                Some(p) => Some(get(p)?),
                None => None,
            },
            safety_ok: match self.safety_ok {
                Some(p) => Some(get(p)?),
                None => None,
            },
        })
    }

    /// What to write for a display, as few requests as possible: runs of consecutive holding
    /// registers become one write (function 16); coils are written one by one.
    pub fn writes(&self, d: &Display) -> Vec<(Point, Vec<u16>)> {
        let mut outputs = self.encode(d);
        outputs.sort_by_key(|(p, _)| *p);
        let mut runs: Vec<(Point, Vec<u16>)> = Vec::new();
        for (point, value) in outputs {
            match runs.last_mut() {
                Some((start, values)) if point.table == Table::Holding && start.table == Table::Holding && start.address as usize + values.len() == point.address as usize => {
                    values.push(value)
                }
                _ => runs.push((point, vec![value])),
            }
        }
        runs
    }

    /// What to write for a display: (point, value) for every mapped output.
    pub fn encode(&self, d: &Display) -> Vec<(Point, u16)> {
        let mut v = vec![(self.qty, d.qty)];
        v.extend(self.colour.map(|p| (p, d.colour as u16)));
        v.extend(self.bin.map(|p| (p, d.bin)));
        v.extend(self.tower.map(|p| (p, d.tower as u16)));
        v
    }
}

/// Light colours as the PLC takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u16)]
pub enum Colour {
    #[default]
    Off = 0,
    Green = 1,
    Amber = 2,
    Red = 3,
    Blue = 4,
}

impl Colour {
    pub fn from_code(code: u16) -> Option<Colour> {
        Some(match code {
            0 => Colour::Off,
            1 => Colour::Green,
            2 => Colour::Amber,
            3 => Colour::Red,
            4 => Colour::Blue,
            _ => return None,
        })
    }
}

/// What the station shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Display {
    pub qty: u16,
    pub bin: u16,
    pub colour: Colour,
    pub tower: Colour,
}

/// The bin code the light shows for a bin location `P0001-B3`: face × 100 + bin (203); 0 when
/// the location is not a pod bin.
pub fn bin_code(location: &str) -> u16 {
    let Some((_, bin)) = location.rsplit_once('-') else { return 0 };
    let mut chars = bin.chars();
    let Some(face) = chars.next().filter(|c| c.is_ascii_uppercase()) else { return 0 };
    match chars.as_str().parse::<u16>() {
        Ok(n) if n < 100 => (face as u16 - u16::from(b'A') + 1) * 100 + n,
        _ => 0,
    }
}

/// One poll's inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Inputs {
    pub confirm: bool,
    pub pod_present: Option<bool>,
    pub safety_ok: Option<bool>,
}

/// Press detection and online state of one station panel.
#[derive(Debug, Clone)]
pub struct Panel {
    settle_ms: i64,
    offline_after: u32,
    online_after: u32,
    last_confirm: Option<bool>,
    shown: Option<Display>,
    shown_at_ms: i64,
    failures: u32,
    successes: u32,
    online: bool,
    pub inputs: Inputs,
}

/// What a poll means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sampled {
    Nothing,
    /// A press to credit to what was displayed.
    Press(Display),
    /// A rising edge too soon after the display changed (or with nothing displayed).
    IgnoredPress,
}

impl Panel {
    /// `offline_after` failed polls in a row take the station offline; `online_after` good ones
    /// bring it back (a flapping PLC does not swing pods back and forth).
    pub fn new(settle_ms: u64, offline_after: u32, online_after: u32) -> Panel {
        Panel {
            settle_ms: settle_ms as i64,
            offline_after: offline_after.max(1),
            online_after: online_after.max(1),
            last_confirm: None,
            shown: None,
            shown_at_ms: 0,
            failures: 0,
            successes: 0,
            online: false,
            inputs: Inputs::default(),
        }
    }

    pub fn online(&self) -> bool {
        self.online
    }

    /// A new connection: the next sample is a baseline, and every output is written again.
    pub fn connected(&mut self) {
        self.last_confirm = None;
        self.shown = None;
    }

    /// A poll or write failed. Returns true when this took the station offline.
    pub fn failed(&mut self) -> bool {
        self.successes = 0;
        self.failures = self.failures.saturating_add(1);
        let went = self.online && self.failures >= self.offline_after;
        if went {
            self.online = false;
        }
        went
    }

    /// One poll's inputs. Returns whether this is a press and the station came online.
    pub fn sample(&mut self, inputs: Inputs, now_ms: i64) -> (Sampled, bool) {
        self.failures = 0;
        self.successes = self.successes.saturating_add(1);
        let came = !self.online && self.successes >= self.online_after;
        if came {
            self.online = true;
        }
        self.inputs = inputs;
        let rising = self.last_confirm == Some(false) && inputs.confirm;
        self.last_confirm = Some(inputs.confirm);
        let sampled = match (rising, self.shown) {
            (false, _) => Sampled::Nothing,
            (true, Some(shown)) if shown.qty > 0 && now_ms - self.shown_at_ms >= self.settle_ms => Sampled::Press(shown),
            (true, _) => Sampled::IgnoredPress,
        };
        (sampled, came)
    }

    /// The outputs to write now, if the display differs from what the PLC shows.
    pub fn to_show(&self, wanted: Display) -> Option<Display> {
        (self.shown != Some(wanted)).then_some(wanted)
    }

    /// The PLC accepted the writes for `display`.
    pub fn shown(&mut self, display: Display, now_ms: i64) {
        let task_changed = match self.shown {
            Some(s) => (s.qty, s.bin) != (display.qty, display.bin),
            None => true,
        };
        if task_changed {
            self.shown_at_ms = now_ms;
        }
        self.shown = Some(display);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(qty: u16) -> Display {
        Display { qty, bin: 203, colour: Colour::Green, tower: Colour::Green }
    }

    fn press(confirm: bool) -> Inputs {
        Inputs { confirm, ..Inputs::default() }
    }

    #[test]
    fn points_parse_print_and_refuse_garbage() {
        assert_eq!("hr:10".parse::<Point>(), Ok(Point::new(Table::Holding, 10)));
        assert_eq!(" DI : 3".parse::<Point>().map(|p| p.to_string()), Ok("di:3".into()));
        for bad in ["", "hr", "hr:-1", "hr:65536", "xx:1", "coil:1.5"] {
            assert!(matches!(bad.parse::<Point>(), Err(MapError::Syntax(_))), "{bad:?}");
        }
    }

    #[test]
    fn maps_must_write_where_they_can_and_not_share_points() {
        assert_eq!(RegisterMap::default().validate(), Ok(()));
        let map = RegisterMap { qty: Point::new(Table::Input, 0), ..RegisterMap::default() };
        assert!(matches!(map.validate(), Err(MapError::NotWritable { name: "qty", .. })));
        let map = RegisterMap { bin: Some(Point::new(Table::Coil, 9)), ..RegisterMap::default() };
        assert!(matches!(map.validate(), Err(MapError::NotAWord { name: "bin", .. })));
        let map = RegisterMap { tower: Some(Point::new(Table::Holding, 0)), ..RegisterMap::default() };
        assert!(matches!(map.validate(), Err(MapError::Shared { first: "qty", second: "tower", .. })));
    }

    #[test]
    fn one_read_per_table_and_decoding_by_address() {
        let map = RegisterMap {
            confirm: Point::new(Table::Discrete, 5),
            pod_present: Some(Point::new(Table::Discrete, 2)),
            safety_ok: Some(Point::new(Table::Input, 7)),
            ..RegisterMap::default()
        };
        let spans = map.input_spans();
        assert_eq!(spans, vec![(Table::Discrete, 2, 4), (Table::Input, 7, 1)]);
        let read = vec![(Table::Discrete, 2, vec![1, 0, 0, 1]), (Table::Input, 7, vec![0])];
        assert_eq!(map.decode(&read), Some(Inputs { confirm: true, pod_present: Some(true), safety_ok: Some(false) }));
        assert_eq!(map.decode(&[(Table::Discrete, 2, vec![1])]), None, "a short answer is not a reading");
    }

    #[test]
    fn consecutive_holding_registers_are_written_in_one_request() {
        let d = Display { qty: 4, bin: 203, colour: Colour::Green, tower: Colour::Amber };
        assert_eq!(RegisterMap::default().writes(&d), vec![(Point::new(Table::Holding, 0), vec![4, 1, 203, 2])]);
        let map = RegisterMap { colour: Some(Point::new(Table::Coil, 7)), tower: Some(Point::new(Table::Holding, 9)), ..RegisterMap::default() };
        let writes = map.writes(&d);
        assert_eq!(writes, vec![(Point::new(Table::Coil, 7), vec![1]), (Point::new(Table::Holding, 0), vec![4]), (Point::new(Table::Holding, 2), vec![203]), (Point::new(Table::Holding, 9), vec![2])]);
    }

    #[test]
    fn bin_codes() {
        assert_eq!(bin_code("P0001-B3"), 203);
        assert_eq!(bin_code("P0120-A12"), 112);
        assert_eq!(bin_code("A-01-1"), 0);
        assert_eq!(bin_code("nothing"), 0);
    }

    #[test]
    fn a_held_button_is_one_press_and_a_reconnect_is_a_baseline() {
        let mut panel = Panel::new(300, 3, 2);
        panel.connected();
        panel.shown(lit(4), 0);
        assert_eq!(panel.sample(press(false), 1000).0, Sampled::Nothing);
        assert_eq!(panel.sample(press(true), 1100).0, Sampled::Press(lit(4)));
        for t in 0..20 {
            assert_eq!(panel.sample(press(true), 1200 + t * 100).0, Sampled::Nothing, "held");
        }
        panel.connected();
        panel.shown(lit(4), 4000);
        assert_eq!(panel.sample(press(true), 5000).0, Sampled::Nothing, "still held after a reconnect");
        assert_eq!(panel.sample(press(false), 5100).0, Sampled::Nothing);
        assert_eq!(panel.sample(press(true), 5200).0, Sampled::Press(lit(4)));
    }

    #[test]
    fn a_press_right_after_the_display_changed_is_not_credited_to_the_new_task() {
        let mut panel = Panel::new(300, 3, 2);
        panel.connected();
        panel.sample(press(false), 0);
        panel.shown(lit(4), 0);
        panel.shown(Display { tower: Colour::Red, ..lit(4) }, 900); // tower only: same task
        assert_eq!(panel.sample(press(true), 1000).0, Sampled::Press(lit(4)).map_tower(Colour::Red));
        panel.sample(press(false), 1050);
        panel.shown(lit(2), 1100);
        assert_eq!(panel.sample(press(true), 1200).0, Sampled::IgnoredPress);
        panel.sample(press(false), 1300);
        assert_eq!(panel.sample(press(true), 1400).0, Sampled::Press(lit(2)));
        panel.sample(press(false), 1500);
        panel.shown(Display::default(), 1600);
        assert_eq!(panel.sample(press(true), 5000).0, Sampled::IgnoredPress, "nothing lit");
    }

    #[test]
    fn online_after_good_polls_offline_after_failures() {
        let mut panel = Panel::new(300, 3, 2);
        assert!(!panel.online());
        assert!(!panel.sample(press(false), 0).1);
        assert!(panel.sample(press(false), 100).1, "second good poll");
        assert!(!panel.failed() && !panel.failed() && panel.online());
        assert!(panel.failed(), "third failure");
        assert!(!panel.online());
        assert!(!panel.sample(press(false), 200).1);
        assert!(!panel.failed(), "a failure resets the good run");
        assert!(!panel.sample(press(false), 300).1);
        assert!(panel.sample(press(false), 400).1);
    }

    impl Sampled {
        fn map_tower(self, tower: Colour) -> Sampled {
            match self {
                Sampled::Press(d) => Sampled::Press(Display { tower, ..d }),
                other => other,
            }
        }
    }
}
