//! Waybill pools, pure: how many numbers a warehouse should hold per carrier, and when to ask
//! the carrier for more.
//!
//! Why pools: a parcel must leave with a real waybill number even while HQ or the carrier's
//! platform is unreachable. Asking the carrier per parcel would make every label wait on two
//! networks; instead central asks the carrier for numbers ahead of need and hands each
//! warehouse its own (down the command stream, in the transaction that records them), the
//! warehouse takes one per parcel in its shipping transaction, and central registers each
//! used number with the carrier when both are reachable. A number belongs to one warehouse,
//! so no two parcels can share it, whatever is down.

use crate::config::PoolSettings;

/// What one warehouse's pool of one carrier looks like from central.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolState {
    /// Granted and not (yet reported) used. Reports lag, so this is at least the real count.
    pub free: u64,
    /// Numbers used in the busiest hour of the last 24 hours.
    pub busiest_hour: u64,
}

/// The count the pool should hold: enough for `cover_hours` at the busiest hour, bounded.
pub fn target(rule: &PoolSettings, pool: &PoolState) -> u64 {
    pool.busiest_hour.saturating_mul(u64::from(rule.cover_hours)).clamp(u64::from(rule.min_free), u64::from(rule.max_free))
}

/// How many numbers to ask for now (at most `max_segment` per call): nothing while the pool
/// is within a tenth of its target, so a busy warehouse is refilled in batches rather than a
/// number at a time, and the full shortfall once it is below.
pub fn shortfall(rule: &PoolSettings, pool: &PoolState, max_segment: u32) -> u32 {
    let target = target(rule, pool);
    let missing = target.saturating_sub(pool.free);
    if missing == 0 || (pool.free > 0 && missing < (target / 10).max(1)) {
        return 0;
    }
    missing.min(u64::from(max_segment)) as u32
}

/// How a pool fared through an outage (see [`simulate_outage`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outage {
    /// Free numbers when HQ went down.
    pub free_at_start: u64,
    /// Fewest free numbers while HQ was down.
    pub min_free: u64,
    /// Parcels that found no number (they would wait, or go out on paper waybills).
    pub waited: u64,
    /// Numbers asked of the carrier over the whole run, and in how many calls.
    pub asked: u64,
    pub calls: u64,
}

/// Minute by minute, how a pool fares when HQ goes down: the warehouse ships `per_hour`
/// parcels evenly, central refills every `refill_every_min` minutes while up and is down for
/// `down_hours` from hour `down_from_h`. A simulation of the rule for the benchmark and the
/// tests, not used by the daemon.
pub fn simulate_outage(rule: &PoolSettings, per_hour: u64, refill_every_min: u64, down_from_h: u64, down_hours: u64, total_hours: u64) -> Outage {
    let mut out = Outage { free_at_start: 0, min_free: u64::MAX, waited: 0, asked: 0, calls: 0 };
    let mut free = 0u64;
    let mut used_by_hour: Vec<u64> = Vec::new();
    for minute in 0..total_hours * 60 {
        let hour = minute / 60;
        let up = !(down_from_h..down_from_h + down_hours).contains(&hour);
        if minute == down_from_h * 60 {
            out.free_at_start = free;
        }
        if up && minute % refill_every_min.max(1) == 0 {
            let busiest_hour = used_by_hour.iter().rev().take(24).copied().max().unwrap_or(0);
            loop {
                let n = u64::from(shortfall(rule, &PoolState { free, busiest_hour }, tote_shared::carrier::sf::MAX_SEGMENT));
                if n == 0 {
                    break;
                }
                free += n;
                out.asked += n;
                out.calls += 1;
            }
        }
        let due = per_hour * (minute % 60 + 1) / 60 - per_hour * (minute % 60) / 60;
        if used_by_hour.len() <= hour as usize {
            used_by_hour.push(0);
        }
        for _ in 0..due {
            if free == 0 {
                out.waited += 1;
            } else {
                free -= 1;
                used_by_hour[hour as usize] += 1;
            }
        }
        if !up {
            out.min_free = out.min_free.min(free);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> PoolSettings {
        PoolSettings { cover_hours: 12, min_free: 100, max_free: 50_000 }
    }

    #[test]
    fn a_quiet_warehouse_holds_the_minimum_and_a_busy_one_twelve_busiest_hours() {
        assert_eq!(target(&rule(), &PoolState { free: 0, busiest_hour: 0 }), 100);
        assert_eq!(target(&rule(), &PoolState { free: 0, busiest_hour: 1_000 }), 12_000);
        assert_eq!(target(&rule(), &PoolState { free: 0, busiest_hour: u64::MAX }), 50_000, "bounded");
    }

    #[test]
    fn refills_come_in_batches_and_at_most_a_segment_at_a_time() {
        let r = rule();
        assert_eq!(shortfall(&r, &PoolState { free: 0, busiest_hour: 0 }, 1_000), 100);
        assert_eq!(shortfall(&r, &PoolState { free: 95, busiest_hour: 0 }, 1_000), 0, "within a tenth: wait");
        assert_eq!(shortfall(&r, &PoolState { free: 90, busiest_hour: 0 }, 1_000), 10);
        assert_eq!(shortfall(&r, &PoolState { free: 0, busiest_hour: 1_000 }, 1_000), 1_000, "one segment per call");
        assert_eq!(shortfall(&r, &PoolState { free: 200, busiest_hour: 0 }, 1_000), 0, "more than needed: nothing");
    }

    #[test]
    fn an_eight_hour_outage_at_a_thousand_parcels_an_hour_leaves_no_parcel_waiting() {
        let run = simulate_outage(&rule(), 1_000, 1, 30, 8, 48);
        assert_eq!(run.waited, 0, "no parcel waited for a number");
        assert!(run.free_at_start >= 10_800, "within a tenth of twelve busiest hours when HQ went down: {run:?}");
        assert!(run.min_free >= 2_500, "hours of margin left at the end of the outage: {run:?}");
        // The rule never asks for more than the target plus what was used, and in batches.
        assert!(run.asked <= 48 * 1_000 + 12_000, "{run:?}");
        assert!(run.calls < 48 * 60 / 2, "refills come in batches, not every minute: {run:?}");
        let short = simulate_outage(&PoolSettings { cover_hours: 4, ..rule() }, 1_000, 1, 30, 8, 48);
        assert!(short.waited > 0, "four hours of cover cannot ride out eight hours");
    }
}
