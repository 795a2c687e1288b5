//! The warehouse's KPIs over a window (a shift, a day): order cycle time (release → shipped),
//! lines picked and short, picks per hour per worker and per station and hour by hour, stock
//! accuracy from cycle counts, dock-to-stock time (arrival on the dock → put away), and waves
//! against their carrier cut-offs. All
//! read from what the floor already records; nothing is kept for the KPIs alone but who picked.

use super::moves::RECEIVING;
use super::StoreResult;
use rusqlite::{params, Connection};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, VecDeque};

const HOUR_MS: i64 = 3_600_000;

/// A distribution in minutes: how many, and the median, 90th percentile and worst.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Minutes {
    pub count: usize,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub max: Option<f64>,
    /// Counts per bucket of `BUCKETS` minutes (the last is everything above).
    pub histogram: Vec<usize>,
}

/// Bucket upper bounds in minutes, for the histograms.
pub const BUCKETS: [f64; 8] = [1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 240.0, 480.0];

impl Minutes {
    fn of(mut ms: Vec<i64>) -> Minutes {
        ms.sort_unstable();
        let minutes: Vec<f64> = ms.iter().map(|m| *m as f64 / 60_000.0).collect();
        let rank = |p: f64| minutes.get(((minutes.len() as f64 * p).ceil() as usize).saturating_sub(1)).copied();
        let mut histogram = vec![0; BUCKETS.len() + 1];
        for m in &minutes {
            histogram[BUCKETS.iter().position(|b| m <= b).unwrap_or(BUCKETS.len())] += 1;
        }
        Minutes { count: minutes.len(), p50: rank(0.5), p90: rank(0.9), max: minutes.last().copied(), histogram }
    }
}

/// Lines one worker or station finished, and at what rate.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Rate {
    pub name: String,
    pub lines: i64,
    pub units: i64,
    /// Lines per hour over the time from its first to its last pick in the window (at least a
    /// minute, so one quick pick is not a rate of thousands).
    pub per_hour: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CountAccuracy {
    /// Counts decided in the window.
    pub counts: i64,
    /// Those that matched the books.
    pub exact: i64,
    /// exact / counts, when there were any.
    pub accuracy: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Kpis {
    pub from_ms: i64,
    pub to_ms: i64,
    pub orders_shipped: i64,
    /// Release at this warehouse → shipped, for orders shipped in the window.
    pub order_cycle: Minutes,
    pub lines_picked: i64,
    pub units_picked: i64,
    /// Short picks reported in the window.
    pub lines_short: i64,
    pub by_worker: Vec<Rate>,
    pub by_station: Vec<Rate>,
    /// Lines picked in each hour of the window, from its first hour.
    pub lines_per_hour: Vec<i64>,
    pub stock_accuracy: CountAccuracy,
    /// Goods received on the dock → put away into a bin, per unit put away in the window.
    pub dock_to_stock: Minutes,
    /// Waves planned before the window's end whose cut-off is in it or still ahead, against
    /// their cut-off.
    pub waves: WaveCompletion,
    /// Dock appointments whose slot started in the window.
    pub dock: DockVisits,
}

/// Trucks at the dock against their appointments.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DockVisits {
    /// Booked slots (not cancelled).
    pub appointments: i64,
    pub arrived: i64,
    /// Arrived before their slot ended.
    pub on_time: i64,
    pub no_shows: i64,
    /// Arrival → unloading started.
    pub wait_at_door: Minutes,
    /// Unloading started → finished.
    pub unloading: Minutes,
}

/// Waves against their carrier cut-off.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct WaveCompletion {
    pub waves: i64,
    /// Every order (not cancelled or failed) shipped by the cut-off.
    pub on_time: i64,
    /// The cut-off passed (by the window's end) with orders not shipped by then.
    pub late: i64,
    /// The cut-off is still ahead and orders are still to ship.
    pub open: i64,
}

pub fn kpis(conn: &Connection, from_ms: i64, to_ms: i64) -> StoreResult<Kpis> {
    let cycles: Vec<i64> = conn
        .prepare_cached("SELECT shipped_ms - created_ms FROM fulfilment WHERE shipped_ms >= ?1 AND shipped_ms < ?2")?
        .query_map(params![from_ms, to_ms], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let picks: Vec<(Option<String>, Option<String>, i64, i64)> = conn
        .prepare_cached("SELECT picked_by, station, qty_picked, picked_ms FROM pick_task WHERE picked_ms >= ?1 AND picked_ms < ?2 ORDER BY picked_ms")?
        .query_map(params![from_ms, to_ms], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<Result<_, _>>()?;
    let lines_short: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM movement WHERE reason = 'short_pick' AND at_ms >= ?1 AND at_ms < ?2")?
        .query_row(params![from_ms, to_ms], |r| r.get(0))?;
    let (counts, exact): (i64, i64) = conn
        .prepare_cached(
            "SELECT COUNT(*), COALESCE(SUM(state = 'closed'), 0) FROM count_task
             WHERE state IN ('closed', 'approved', 'rejected') AND updated_ms >= ?1 AND updated_ms < ?2",
        )?
        .query_row(params![from_ms, to_ms], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let hours = ((to_ms - from_ms + HOUR_MS - 1) / HOUR_MS).max(1) as usize;
    let mut lines_per_hour = vec![0; hours];
    for (_, _, _, at) in &picks {
        if let Some(slot) = lines_per_hour.get_mut(((at - from_ms) / HOUR_MS) as usize) {
            *slot += 1;
        }
    }
    Ok(Kpis {
        from_ms,
        to_ms,
        orders_shipped: cycles.len() as i64,
        order_cycle: Minutes::of(cycles),
        lines_picked: picks.len() as i64,
        units_picked: picks.iter().map(|p| p.2).sum(),
        lines_short,
        by_worker: rates(picks.iter().filter_map(|(w, _, units, at)| w.clone().map(|w| (w, *units, *at)))),
        by_station: rates(picks.iter().filter_map(|(_, s, units, at)| s.clone().map(|s| (s, *units, *at)))),
        lines_per_hour,
        stock_accuracy: CountAccuracy { counts, exact, accuracy: (counts > 0).then(|| exact as f64 / counts as f64) },
        dock_to_stock: Minutes::of(dock_to_stock(conn, from_ms, to_ms)?),
        waves: wave_completion(conn, from_ms, to_ms)?,
        dock: dock_visits(conn, from_ms, to_ms)?,
    })
}

fn dock_visits(conn: &Connection, from_ms: i64, to_ms: i64) -> StoreResult<DockVisits> {
    type Row = (String, i64, Option<i64>, Option<i64>, Option<i64>);
    let rows: Vec<Row> = conn
        .prepare_cached(
            "SELECT state, end_ms, arrived_ms, unloading_ms, unloaded_ms FROM dock_appointment
             WHERE start_ms >= ?1 AND start_ms < ?2 AND state <> 'cancelled'",
        )?
        .query_map(params![from_ms, to_ms], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?
        .collect::<Result<_, _>>()?;
    let gap = |a: Option<i64>, b: Option<i64>| a.zip(b).map(|(a, b)| b - a);
    Ok(DockVisits {
        appointments: rows.len() as i64,
        arrived: rows.iter().filter(|r| r.2.is_some()).count() as i64,
        on_time: rows.iter().filter(|r| r.2.is_some_and(|at| at < r.1)).count() as i64,
        no_shows: rows.iter().filter(|r| r.0 == "no_show").count() as i64,
        wait_at_door: Minutes::of(rows.iter().filter_map(|r| gap(r.2, r.3)).collect()),
        unloading: Minutes::of(rows.iter().filter_map(|r| gap(r.3, r.4)).collect()),
    })
}

/// Each wave planned by the window's end with its cut-off in it or after: how many of its
/// orders missed (or have yet to make) the truck.
fn wave_completion(conn: &Connection, from_ms: i64, to_ms: i64) -> StoreResult<WaveCompletion> {
    let waves: Vec<(i64, i64)> = conn
        .prepare_cached(
            "SELECT w.cutoff_ms, (SELECT COUNT(*) FROM fulfilment f WHERE f.wave_id = w.id AND f.state NOT IN ('cancelled', 'failed')
                 AND (f.shipped_ms IS NULL OR f.shipped_ms > w.cutoff_ms))
             FROM wave w WHERE w.cutoff_ms >= ?1 AND w.created_ms < ?2 AND w.state <> 'cancelled'",
        )?
        .query_map(params![from_ms, to_ms], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut out = WaveCompletion { waves: waves.len() as i64, ..WaveCompletion::default() };
    for (cutoff, behind) in waves {
        match (behind, cutoff <= to_ms) {
            (0, _) => out.on_time += 1,
            (_, true) => out.late += 1,
            (_, false) => out.open += 1,
        }
    }
    Ok(out)
}

/// Lines, units and rate per name, from (name, units, picked at) in time order; busiest first.
fn rates(picks: impl Iterator<Item = (String, i64, i64)>) -> Vec<Rate> {
    let mut by: HashMap<String, (i64, i64, i64, i64)> = HashMap::new();
    for (name, units, at) in picks {
        let e = by.entry(name).or_insert((0, 0, at, at));
        *e = (e.0 + 1, e.1 + units, e.2.min(at), e.3.max(at));
    }
    let mut out: Vec<Rate> = by
        .into_iter()
        .map(|(name, (lines, units, first, last))| Rate { name, lines, units, per_hour: lines as f64 * HOUR_MS as f64 / (last - first).max(60_000) as f64 })
        .collect();
    out.sort_by(|a, b| b.lines.cmp(&a.lines).then_with(|| a.name.cmp(&b.name)));
    out
}

/// For each unit put away from the receiving dock in the window, how long it waited there:
/// the dock's movements replayed first in, first out per SKU and lot (anything leaving the
/// dock takes the oldest units; only put-aways are timed). A milliseconds value per unit.
fn dock_to_stock(conn: &Connection, from_ms: i64, to_ms: i64) -> StoreResult<Vec<i64>> {
    let rows: Vec<(String, String, i64, String, i64)> = conn
        .prepare_cached("SELECT sku, lot, delta, reason, at_ms FROM movement WHERE location = ?1 AND at_ms < ?2 ORDER BY id")?
        .query_map(params![RECEIVING, to_ms], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?
        .collect::<Result<_, _>>()?;
    let mut waiting: BTreeMap<(String, String), VecDeque<(i64, i64)>> = BTreeMap::new();
    let mut out = Vec::new();
    for (sku, lot, delta, reason, at) in rows {
        let queue = waiting.entry((sku, lot)).or_default();
        if delta > 0 {
            queue.push_back((at, delta));
            continue;
        }
        let mut leaving = -delta;
        while leaving > 0 {
            let Some(front) = queue.front_mut() else { break };
            let take = front.1.min(leaving);
            if reason == "putaway" && at >= from_ms {
                out.extend(std::iter::repeat_n(at - front.0, take as usize));
            }
            front.1 -= take;
            leaving -= take;
            if front.1 == 0 {
                queue.pop_front();
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wave_is_on_time_when_every_live_order_shipped_by_its_cutoff() {
        let conn = crate::store::schema::memory_db();
        // Waves 1–3 cut off at 1,000, wave 4 at 5,000 (after the window), wave 5 was cancelled.
        for (id, cutoff, state) in [(1, 1000, "done"), (2, 1000, "done"), (3, 1000, "released"), (4, 5000, "released"), (5, 1000, "cancelled")] {
            conn.execute("INSERT INTO wave (id, state, cutoff_ms, orders, lines, created_ms, updated_ms) VALUES (?1, ?2, ?3, 1, 1, 0, 0)", params![id, state, cutoff]).expect("wave");
        }
        // (order, wave, state, shipped at): wave 1 all by 1,000 (its failed order does not count),
        // wave 2 one after, wave 3 one not shipped, wave 4 not shipped yet.
        for (order, wave, state, shipped) in [(1, 1, "shipped", Some(900)), (2, 1, "failed", None), (3, 2, "shipped", Some(1100)), (4, 3, "packed", None), (5, 4, "picking", None), (6, 5, "picking", None)] {
            conn.execute(
                "INSERT INTO fulfilment (order_id, state, ship_to, created_ms, updated_ms, wave_id, shipped_ms) VALUES (?1, ?2, '{}', 0, 0, ?3, ?4)",
                params![order, state, wave, shipped],
            )
            .expect("order");
        }
        let w = wave_completion(&conn, 0, 2000).expect("kpi");
        assert_eq!(w, WaveCompletion { waves: 4, on_time: 1, late: 2, open: 1 });
    }

    #[test]
    fn minutes_give_nearest_rank_percentiles_and_a_histogram() {
        let m = Minutes::of(vec![30_000, 120_000, 600_000, 3_600_000, 36_000_000]);
        assert_eq!((m.count, m.p50, m.max), (5, Some(10.0), Some(600.0)));
        assert_eq!(m.p90, Some(600.0));
        assert_eq!(m.histogram, [1, 1, 1, 0, 1, 0, 0, 0, 1]);
        assert_eq!(Minutes::of(Vec::new()).p50, None);
    }

    #[test]
    fn a_rate_spans_first_to_last_pick_and_never_less_than_a_minute() {
        let picks = vec![("li".to_owned(), 1, 0), ("li".to_owned(), 2, 1_800_000), ("wu".to_owned(), 1, 5)];
        let r = rates(picks.into_iter());
        assert_eq!((r[0].name.as_str(), r[0].lines, r[0].units, r[0].per_hour), ("li", 2, 3, 4.0));
        assert_eq!((r[1].name.as_str(), r[1].per_hour), ("wu", 60.0));
    }
}
