//! Waves: which waiting orders are picked together next, and how. Pure: the edge hands in its
//! pool of orders waiting for a wave (each with its shelf picks) and `now`; out comes the wave,
//! its picking batches and each batch's walk.
//!
//! - **Order of release:** the earliest carrier cut-off first, then the faster service
//!   (`next_day`, then `express`, then the rest), then the oldest order. An order whose
//!   carrier's cut-off for today has passed counts against tomorrow's: it is late, and joins a
//!   later wave behind the orders that can still make today's truck.
//! - **Size:** a wave takes orders in that order until it would pass `max_lines` lines.
//! - **Batches:** single-unit orders (method `batch`) go `tote_units` to a tote, sorted to their
//!   cartons at packing; multi-line orders (method `cluster`) go `cart_totes` to a cart, one tote
//!   each. Orders that lie close together share a batch (`walk::batches`), and each batch's
//!   picks are visited in its planned walk (`walk::plan`).

use crate::calendar::DAY_MS;
use crate::strategy::Method;
use crate::walk::{self, Stop, WalkError, WalkFloor};
use serde::{Deserialize, Serialize};

/// Most orders one wave may hold (its planning stays well under a second).
pub const MAX_WAVE_ORDERS: usize = 5_000;

/// A carrier's daily cut-off: its truck leaves at `at` ("HH:MM", warehouse time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cutoff {
    pub carrier: String,
    pub at: String,
}

/// How waves are cut (the edge's `[waves]` settings).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaveRules {
    /// Most order lines in one wave.
    #[serde(default = "default_max_lines")]
    pub max_lines: usize,
    /// Single-unit orders per batch tote.
    #[serde(default = "default_tote_units")]
    pub tote_units: usize,
    /// Orders (totes) per cluster cart.
    #[serde(default = "default_cart_totes")]
    pub cart_totes: usize,
    /// The warehouse's offset east of UTC, in minutes, for reading cut-off times.
    #[serde(default)]
    pub utc_offset_minutes: i32,
    #[serde(default)]
    pub cutoffs: Vec<Cutoff>,
}

fn default_max_lines() -> usize {
    400
}
fn default_tote_units() -> usize {
    20
}
fn default_cart_totes() -> usize {
    8
}

impl Default for WaveRules {
    fn default() -> WaveRules {
        WaveRules { max_lines: default_max_lines(), tote_units: default_tote_units(), cart_totes: default_cart_totes(), utc_offset_minutes: 0, cutoffs: Vec::new() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WaveError {
    #[error("waves: max_lines must be 1 to 20,000, tote_units 1 to 100 and cart_totes 1 to 48")]
    Size,
    #[error("waves: utc_offset_minutes must be within ±14 hours")]
    Offset,
    #[error("waves: cut-off {0:?} is not a time of day HH:MM")]
    CutoffTime(String),
    #[error("waves: carrier {0} has two cut-offs")]
    CutoffTwice(String),
    #[error("{0}")]
    Walk(String),
}

impl From<WalkError> for WaveError {
    fn from(e: WalkError) -> WaveError {
        WaveError::Walk(e.to_string())
    }
}

/// A cut-off's minute of the day (00:00 to 23:59).
fn minute_of_day(at: &str) -> Option<i64> {
    crate::calendar::minute_of_day(at).filter(|m| *m < 24 * 60)
}

impl WaveRules {
    pub fn validate(&self) -> Result<(), WaveError> {
        if !(1..=20_000).contains(&self.max_lines) || !(1..=100).contains(&self.tote_units) || !(1..=48).contains(&self.cart_totes) {
            return Err(WaveError::Size);
        }
        if self.utc_offset_minutes.abs() > 14 * 60 {
            return Err(WaveError::Offset);
        }
        for (i, c) in self.cutoffs.iter().enumerate() {
            minute_of_day(&c.at).ok_or_else(|| WaveError::CutoffTime(c.at.clone()))?;
            if self.cutoffs[..i].iter().any(|o| o.carrier == c.carrier) {
                return Err(WaveError::CutoffTwice(c.carrier.clone()));
            }
        }
        Ok(())
    }

    /// The next cut-off of `carrier` at or after `now_ms` (Unix ms): today's if it is still
    /// ahead, else tomorrow's. None: the carrier has no cut-off (or none was chosen).
    pub fn next_cutoff(&self, carrier: Option<&str>, now_ms: i64) -> Option<i64> {
        let cutoff = self.cutoffs.iter().find(|c| Some(c.carrier.as_str()) == carrier)?;
        let minute = minute_of_day(&cutoff.at)?;
        let offset = i64::from(self.utc_offset_minutes) * 60_000;
        let local_midnight = (now_ms + offset).div_euclid(DAY_MS) * DAY_MS - offset;
        let today = local_midnight + minute * 60_000;
        Some(if today >= now_ms { today } else { today + DAY_MS })
    }
}

/// One pick of a waiting order: its task and where it lies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pick {
    pub task: u64,
    pub stop: Stop,
}

/// An order waiting for a wave.
#[derive(Debug, Clone, PartialEq)]
pub struct Waiting {
    pub order_id: u64,
    /// `Batch` (single-unit, into a shared tote) or `Cluster` (its own tote on a cart).
    pub method: Method,
    pub carrier: Option<String>,
    /// The carrier service HQ chose (`next_day`, `express`, `standard` …), if any.
    pub service: Option<String>,
    pub created_ms: i64,
    pub lines: usize,
    pub picks: Vec<Pick>,
}

/// The service's place in the queue: the faster, the sooner.
fn priority(service: Option<&str>) -> u8 {
    match service {
        Some("next_day") => 0,
        Some("express") => 1,
        _ => 2,
    }
}

/// One picking batch: a tote of single-unit orders or a cart of multi-line ones.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub method: Method,
    /// Orders in tote-slot order (a batch tote has one slot for all of them).
    pub orders: Vec<u64>,
    /// Its tasks in the order the walk visits them.
    pub walk: Vec<u64>,
    pub metres: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WavePlan {
    pub orders: Vec<u64>,
    pub lines: usize,
    /// The earliest cut-off among its orders.
    pub cutoff_ms: Option<i64>,
    pub batches: Vec<Batch>,
}

/// Plans the next wave from `waiting` (see the module's rules). None when nothing waits.
pub fn plan(floor: &WalkFloor, rules: &WaveRules, waiting: &[Waiting], now_ms: i64) -> Result<Option<WavePlan>, WaveError> {
    let mut queue: Vec<(Option<i64>, &Waiting)> = waiting.iter().map(|w| (rules.next_cutoff(w.carrier.as_deref(), now_ms), w)).collect();
    queue.sort_by_key(|(cutoff, w)| (cutoff.is_none(), *cutoff, priority(w.service.as_deref()), w.created_ms, w.order_id));
    let mut chosen: Vec<(Option<i64>, &Waiting)> = Vec::new();
    let mut lines = 0;
    for (cutoff, w) in queue {
        // An order bigger than a whole wave still goes, alone.
        if (lines + w.lines > rules.max_lines && !chosen.is_empty()) || chosen.len() == MAX_WAVE_ORDERS {
            break;
        }
        lines += w.lines;
        chosen.push((cutoff, w));
    }
    if chosen.is_empty() {
        return Ok(None);
    }
    let cutoff_ms = chosen.iter().filter_map(|(c, _)| *c).min();
    let mut batches = Vec::new();
    for (method, capacity) in [(Method::Batch, rules.tote_units), (Method::Cluster, rules.cart_totes)] {
        let group: Vec<&Waiting> = chosen.iter().map(|(_, w)| *w).filter(|w| w.method == method).collect();
        let stops: Vec<Vec<Stop>> = group.iter().map(|w| w.picks.iter().map(|p| p.stop).collect()).collect();
        for members in walk::batches(&stops, capacity) {
            let orders: Vec<&Waiting> = members.iter().map(|&i| group[i]).collect();
            let picks: Vec<Pick> = orders.iter().flat_map(|w| w.picks.iter().copied()).collect();
            let stops: Vec<Stop> = picks.iter().map(|p| p.stop).collect();
            let route = walk::plan(floor, &stops)?;
            batches.push(Batch {
                method,
                orders: orders.iter().map(|w| w.order_id).collect(),
                walk: route.order.iter().map(|&i| picks[i].task).collect(),
                metres: route.metres,
            });
        }
    }
    Ok(Some(WavePlan { orders: chosen.iter().map(|(_, w)| w.order_id).collect(), lines, cutoff_ms, batches }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    fn floor() -> WalkFloor {
        WalkFloor { aisles: 10, bays: 20, aisle_pitch_m: 3.0, bay_m: 1.0, depot_aisle: 1 }
    }

    fn rules() -> WaveRules {
        WaveRules {
            max_lines: 6,
            tote_units: 2,
            cart_totes: 2,
            utc_offset_minutes: 480,
            cutoffs: vec![Cutoff { carrier: "SF".into(), at: "16:00".into() }, Cutoff { carrier: "JD".into(), at: "18:30".into() }],
        }
    }

    fn waiting(order_id: u64, method: Method, carrier: Option<&str>, created_ms: i64, stops: &[(u32, u32)]) -> Waiting {
        Waiting {
            order_id,
            method,
            carrier: carrier.map(str::to_owned),
            service: None,
            created_ms,
            lines: stops.len(),
            picks: stops.iter().enumerate().map(|(i, &(aisle, bay))| Pick { task: order_id * 10 + i as u64, stop: Stop { aisle, bay } }).collect(),
        }
    }

    /// 2026-12-07 at `hour`:00 in Shanghai (UTC+8).
    fn shanghai(hour: i64) -> i64 {
        crate::calendar::days_from_civil(2026, 12, 7) * crate::calendar::DAY_MS + (hour - 8) * HOUR
    }

    #[test]
    fn a_cutoff_is_todays_until_it_passes_then_tomorrows() {
        let r = rules();
        assert_eq!(r.next_cutoff(Some("SF"), shanghai(9)), Some(shanghai(16)));
        assert_eq!(r.next_cutoff(Some("SF"), shanghai(16)), Some(shanghai(16)), "at the cut-off itself it is still today's");
        assert_eq!(r.next_cutoff(Some("SF"), shanghai(17)), Some(shanghai(16) + DAY_MS));
        assert_eq!(r.next_cutoff(Some("ZTO"), shanghai(9)), None);
        assert_eq!(r.next_cutoff(None, shanghai(9)), None);
    }

    #[test]
    fn earliest_cutoff_goes_first_then_the_oldest_and_a_wave_stops_at_its_line_limit() {
        let now = shanghai(10);
        let pool = [
            waiting(1, Method::Cluster, Some("JD"), 0, &[(2, 3), (2, 9)]),
            waiting(2, Method::Cluster, None, 0, &[(3, 3), (4, 4)]),
            waiting(3, Method::Batch, Some("SF"), 50, &[(5, 5)]),
            waiting(4, Method::Batch, Some("SF"), 40, &[(5, 6)]),
            waiting(5, Method::Cluster, Some("SF"), 60, &[(6, 1), (6, 2)]),
        ];
        let plan = plan(&floor(), &rules(), &pool, now).expect("plan").expect("a wave");
        assert_eq!(plan.orders, [4, 3, 5, 1], "SF's 16:00 before JD's 18:30, oldest first; order 2 (no cut-off) would pass 6 lines");
        assert_eq!((plan.lines, plan.cutoff_ms), (6, Some(shanghai(16))));
        let methods: Vec<(Method, Vec<u64>)> = plan.batches.iter().map(|b| (b.method, b.orders.clone())).collect();
        assert_eq!(methods.len(), 2, "one tote of two single-unit orders, one cart of two: {methods:?}");
        assert!(methods.contains(&(Method::Batch, vec![4, 3])) || methods.contains(&(Method::Batch, vec![3, 4])), "{methods:?}");
        for b in &plan.batches {
            let mut walked = b.walk.clone();
            walked.sort_unstable();
            let mut tasks: Vec<u64> = pool.iter().filter(|w| b.orders.contains(&w.order_id)).flat_map(|w| w.picks.iter().map(|p| p.task)).collect();
            tasks.sort_unstable();
            assert_eq!(walked, tasks, "each batch walks to every pick of its orders once");
        }
    }

    #[test]
    fn an_order_that_missed_todays_truck_waits_behind_those_that_can_still_make_it() {
        let pool = [waiting(1, Method::Batch, Some("SF"), 0, &[(1, 1)]), waiting(2, Method::Batch, Some("JD"), 10, &[(1, 2)])];
        let r = WaveRules { max_lines: 1, ..rules() };
        let plan = plan(&floor(), &r, &pool, shanghai(17)).expect("plan").expect("a wave");
        assert_eq!(plan.orders, [2], "SF left at 16:00: order 1 is late and goes with tomorrow's; JD still leaves at 18:30");
        assert_eq!(plan.cutoff_ms, Some(shanghai(18) + HOUR / 2));
    }

    #[test]
    fn under_one_cutoff_the_faster_service_goes_first() {
        let mut express = waiting(2, Method::Batch, Some("SF"), 50, &[(1, 2)]);
        express.service = Some("express".into());
        let pool = [waiting(1, Method::Batch, Some("SF"), 0, &[(1, 1)]), express];
        let plan = plan(&floor(), &WaveRules { max_lines: 1, ..rules() }, &pool, shanghai(9)).expect("plan").expect("a wave");
        assert_eq!(plan.orders, [2], "express before an older standard order on the same truck");
    }

    #[test]
    fn nothing_waiting_plans_nothing_and_an_oversized_order_goes_alone() {
        assert_eq!(plan(&floor(), &rules(), &[], 0), Ok(None));
        let big = waiting(9, Method::Cluster, None, 0, &[(1, 1), (1, 2), (1, 3), (1, 4), (1, 5), (1, 6), (1, 7)]);
        let plan = plan(&floor(), &rules(), &[big.clone(), waiting(8, Method::Batch, None, 5, &[(2, 2)])], 0).expect("plan").expect("a wave");
        assert_eq!(plan.orders, [9]);
    }

    #[test]
    fn rules_are_checked() {
        assert!(rules().validate().is_ok());
        assert_eq!(WaveRules { tote_units: 0, ..rules() }.validate(), Err(WaveError::Size));
        assert_eq!(WaveRules { utc_offset_minutes: 900, ..rules() }.validate(), Err(WaveError::Offset));
        let bad = WaveRules { cutoffs: vec![Cutoff { carrier: "SF".into(), at: "24:00".into() }], ..rules() };
        assert_eq!(bad.validate(), Err(WaveError::CutoffTime("24:00".into())));
        let twice = WaveRules { cutoffs: vec![rules().cutoffs[0].clone(), rules().cutoffs[0].clone()], ..rules() };
        assert_eq!(twice.validate(), Err(WaveError::CutoffTwice("SF".into())));
    }
}
