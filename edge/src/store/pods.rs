//! Goods-to-person pods: which exist, which bins (locations) they carry, where each one is,
//! and how many open pick lines each one has.

use super::StoreResult;
use rusqlite::{params, Connection};
use serde::Serialize;

/// A pod to create on first start, at its storage spot, with its bins.
#[derive(Debug, Clone)]
pub struct NewPod {
    pub id: String,
    pub spot: (u32, u32),
    pub bins: Vec<String>,
}

/// Where a pod is: `stored` at `spot`, `on_robot`, `at_station` or `stranded` (on a robot
/// that left service).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PodRecord {
    pub id: String,
    pub place: String,
    pub spot: Option<(u32, u32)>,
    pub robot: Option<String>,
    pub station: Option<String>,
}

/// Creates the pods and bins that do not exist yet; returns how many pods were new.
pub fn ensure(conn: &Connection, pods: &[NewPod], now_ms: i64) -> StoreResult<usize> {
    let mut created = 0;
    for pod in pods {
        created += conn
            .prepare_cached("INSERT OR IGNORE INTO pod (id, place, spot_x, spot_y, updated_ms) VALUES (?1, 'stored', ?2, ?3, ?4)")?
            .execute(params![pod.id, pod.spot.0, pod.spot.1, now_ms])?;
        for bin in &pod.bins {
            conn.prepare_cached("INSERT OR IGNORE INTO location (code, kind, created_ms, pod) VALUES (?1, 'bin', ?2, ?3)")?
                .execute(params![bin, now_ms, pod.id])?;
        }
    }
    Ok(created)
}

pub fn all(conn: &Connection) -> StoreResult<Vec<PodRecord>> {
    let mut stmt = conn.prepare_cached("SELECT id, place, spot_x, spot_y, robot, station FROM pod ORDER BY id")?;
    let rows = stmt.query_map([], |r| {
        let (x, y): (Option<u32>, Option<u32>) = (r.get(2)?, r.get(3)?);
        Ok(PodRecord { id: r.get(0)?, place: r.get(1)?, spot: x.zip(y), robot: r.get(4)?, station: r.get(5)? })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn set(conn: &Connection, pod: &PodRecord, now_ms: i64) -> StoreResult<()> {
    conn.prepare_cached("UPDATE pod SET place = ?2, spot_x = ?3, spot_y = ?4, robot = ?5, station = ?6, updated_ms = ?7 WHERE id = ?1")?.execute(
        params![pod.id, pod.place, pod.spot.map(|s| s.0), pod.spot.map(|s| s.1), pod.robot, pod.station, now_ms],
    )?;
    Ok(())
}

/// Open pick lines per pod (orders still being picked), as the writes keep them (`pod_demand`).
pub fn demand(conn: &Connection) -> StoreResult<Vec<(String, u32)>> {
    let mut stmt = conn.prepare_cached("SELECT pod, open_lines FROM pod_demand WHERE open_lines > 0")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::schema::memory_db;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use std::collections::BTreeMap;

    /// What `pod_demand` must equal: the lines counted over the joins.
    fn counted(conn: &Connection) -> BTreeMap<String, u32> {
        let mut stmt = conn
            .prepare(
                "SELECT l.pod, COUNT(*) FROM pick_task t
                 JOIN location l ON l.code = t.location
                 JOIN fulfilment f ON f.order_id = t.order_id
                 WHERE t.state IN ('open', 'located') AND l.pod IS NOT NULL AND f.state = 'picking'
                 GROUP BY l.pod",
            )
            .expect("prepare");
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).expect("query");
        rows.collect::<Result<_, _>>().expect("rows")
    }

    /// Random inserts, updates and deletes of tasks, orders and bins, 20 seeds of 400 each:
    /// after every one the kept counts equal the joins' count.
    #[test]
    fn kept_demand_equals_the_counted_lines_after_any_write() {
        const TASK_STATES: [&str; 4] = ["open", "located", "done", "cancelled"];
        const ORDER_STATES: [&str; 6] = ["picking", "picked", "packed", "shipped", "cancelled", "failed"];
        for seed in 0..20u64 {
            let conn = memory_db();
            let mut rng = StdRng::seed_from_u64(seed);
            let pod = |rng: &mut StdRng| (rng.gen_range(0..5) > 0).then(|| format!("P{}", rng.gen_range(0..4)));
            for p in 0..4 {
                conn.execute("INSERT INTO pod (id, place, spot_x, spot_y, updated_ms) VALUES (?1, 'stored', ?2, 0, 0)", params![format!("P{p}"), p]).expect("pod");
            }
            for b in 0..8 {
                conn.execute("INSERT INTO location (code, kind, created_ms, pod) VALUES (?1, 'bin', 0, ?2)", params![format!("B{b}"), pod(&mut rng)]).expect("bin");
            }
            let (mut orders, mut tasks) = (0u32, 0u32);
            for step in 0..400 {
                let (order, task, bin) = (rng.gen_range(0..orders.max(1)), rng.gen_range(0..tasks.max(1)), format!("B{}", rng.gen_range(0..8)));
                let (task_state, order_state) = (TASK_STATES[rng.gen_range(0..4)], ORDER_STATES[rng.gen_range(0..6)]);
                let sql = match rng.gen_range(0..8) {
                    _ if orders == 0 || rng.gen_range(0..10) == 0 => {
                        orders += 1;
                        conn.execute("INSERT INTO fulfilment (order_id, state, ship_to, created_ms, updated_ms) VALUES (?1, ?2, '{}', 0, 0)", params![orders - 1, order_state])
                    }
                    0..=2 => {
                        tasks += 1;
                        conn.execute(
                            "INSERT INTO pick_task (id, order_id, sku, location, lot, qty, state, created_ms, updated_ms) VALUES (?1, ?2, 'S', ?3, '', 1, ?4, 0, 0)",
                            params![tasks - 1, order, bin, task_state],
                        )
                    }
                    3 => conn.execute("UPDATE pick_task SET state = ?2 WHERE id = ?1", params![task, task_state]),
                    4 => conn.execute("UPDATE pick_task SET location = ?2 WHERE id = ?1", params![task, bin]),
                    5 => conn.execute("UPDATE fulfilment SET state = ?2 WHERE order_id = ?1", params![order, order_state]),
                    6 => conn.execute("UPDATE location SET pod = ?2 WHERE code = ?1", params![bin, pod(&mut rng)]),
                    _ => conn.execute("DELETE FROM pick_task WHERE id = ?1", params![task]),
                };
                sql.expect("a valid write");
                let kept: BTreeMap<String, u32> = demand(&conn).expect("kept").into_iter().collect();
                assert_eq!(kept, counted(&conn), "seed {seed}, step {step}");
            }
            assert!(!counted(&conn).is_empty(), "seed {seed} ended with no demand at all: the writes above test little");
        }
    }
}
