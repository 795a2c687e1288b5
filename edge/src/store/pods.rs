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

/// Open pick lines per pod (orders still being picked).
pub fn demand(conn: &Connection) -> StoreResult<Vec<(String, u32)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT l.pod, COUNT(*) FROM pick_task t
         JOIN location l ON l.code = t.location
         JOIN fulfilment f ON f.order_id = t.order_id
         WHERE t.state IN ('open', 'located') AND l.pod IS NOT NULL AND f.state = 'picking'
         GROUP BY l.pod",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}
