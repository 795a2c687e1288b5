//! Dock appointments: inbound deliveries book a door and a slot (`tote_shared::dock` decides),
//! and the visit is recorded as it happens — arrived, unloading, unloaded — for the dock's
//! KPIs (arrival against the slot, wait at the door, unloading time).

use super::{StoreError, StoreResult};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use tote_shared::calendar::DAY_MS;
use tote_shared::dock::{Ask, Booked, DockEvent, DockRules, Visit};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AppointmentView {
    pub id: u64,
    pub door: String,
    pub supplier: String,
    /// The expected delivery (ASN) the truck brings, when one was named.
    pub delivery: Option<String>,
    pub start_ms: i64,
    pub end_ms: i64,
    /// `booked`, `arrived`, `unloading`, `unloaded`, `cancelled`, `no_show`.
    pub state: String,
    pub arrived_ms: Option<i64>,
    pub unloading_ms: Option<i64>,
    pub unloaded_ms: Option<i64>,
}

/// A new booking.
#[derive(Debug, Clone)]
pub struct Booking {
    pub supplier: String,
    pub delivery: Option<String>,
    pub door: Option<String>,
    pub start_ms: i64,
    pub minutes: u32,
}

/// The visits that hold their door (`Visit::holds_door`), as SQL.
const HOLDS_DOOR: &str = "state IN ('booked', 'arrived', 'unloading')";

const COLUMNS: &str = "id, door, supplier, delivery, start_ms, end_ms, state, arrived_ms, unloading_ms, unloaded_ms";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AppointmentView> {
    Ok(AppointmentView {
        id: r.get::<_, i64>(0)? as u64,
        door: r.get(1)?,
        supplier: r.get(2)?,
        delivery: r.get(3)?,
        start_ms: r.get(4)?,
        end_ms: r.get(5)?,
        state: r.get(6)?,
        arrived_ms: r.get(7)?,
        unloading_ms: r.get(8)?,
        unloaded_ms: r.get(9)?,
    })
}

pub fn book(conn: &Connection, rules: &DockRules, booking: &Booking, now_ms: i64) -> StoreResult<AppointmentView> {
    if let Some(delivery) = &booking.delivery {
        let state: Option<String> = conn.prepare_cached("SELECT state FROM delivery WHERE id = ?1")?.query_row([delivery], |r| r.get(0)).optional()?;
        match state.as_deref() {
            None => return Err(StoreError::NotFound(format!("delivery {delivery}"))),
            Some("open") => {}
            Some(other) => return Err(StoreError::Conflict(format!("delivery {delivery} is {other}"))),
        }
        let booked: Option<i64> = conn
            .prepare_cached(&format!("SELECT id FROM dock_appointment WHERE delivery = ?1 AND {HOLDS_DOOR}"))?
            .query_row([delivery], |r| r.get(0))
            .optional()?;
        if let Some(id) = booked {
            return Err(StoreError::Conflict(format!("delivery {delivery} already has appointment {id}")));
        }
    }
    // Only bookings that can clash: those still holding a door and overlapping the day.
    let window = (booking.start_ms.saturating_sub(DAY_MS), booking.start_ms.saturating_add(DAY_MS));
    let booked: Vec<Booked> = conn
        .prepare_cached(&format!("SELECT door, start_ms, end_ms FROM dock_appointment WHERE {HOLDS_DOOR} AND end_ms > ?1 AND start_ms < ?2"))?
        .query_map(params![window.0, window.1], |r| Ok(Booked { door: r.get(0)?, start_ms: r.get(1)?, end_ms: r.get(2)? }))?
        .collect::<Result<_, _>>()?;
    let ask = Ask { door: booking.door.as_deref(), start_ms: booking.start_ms, minutes: booking.minutes };
    let (door, end_ms) = rules.book(&booked, &ask, now_ms).map_err(|e| match e {
        tote_shared::dock::DockError::Taken { .. } | tote_shared::dock::DockError::Full => StoreError::Conflict(e.to_string()),
        other => StoreError::Invalid(other.to_string()),
    })?;
    let id: i64 = conn
        .prepare_cached(
            "INSERT INTO dock_appointment (door, supplier, delivery, start_ms, end_ms, state, created_ms, updated_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, 'booked', ?6, ?6) RETURNING id",
        )?
        .query_row(params![door, booking.supplier, booking.delivery, booking.start_ms, end_ms, now_ms], |r| r.get(0))?;
    appointment(conn, id as u64)
}

pub fn appointment(conn: &Connection, id: u64) -> StoreResult<AppointmentView> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM dock_appointment WHERE id = ?1"))?
        .query_row([id as i64], row)
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("dock appointment {id}")))
}

/// Appointments whose slot overlaps [from_ms, to_ms), by start.
pub fn appointments(conn: &Connection, from_ms: i64, to_ms: i64, limit: u32) -> StoreResult<Vec<AppointmentView>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM dock_appointment WHERE end_ms > ?1 AND start_ms < ?2 ORDER BY start_ms, door LIMIT ?3"))?;
    let rows = stmt.query_map(params![from_ms, to_ms, limit], row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Records what happened at the door (each step once, in order).
pub fn record(conn: &Connection, id: u64, event: DockEvent, now_ms: i64) -> StoreResult<AppointmentView> {
    let a = appointment(conn, id)?;
    let state = Visit::parse(&a.state).ok_or_else(|| StoreError::Corrupt(format!("appointment {id} is {:?}", a.state)))?;
    let next = state.after(event, a.end_ms, now_ms).ok_or_else(|| {
        let why = match event {
            DockEvent::NoShow if state == Visit::Booked => "its slot has not ended yet".to_owned(),
            _ => format!("it is {}", a.state),
        };
        StoreError::Conflict(format!("dock appointment {id}: cannot record {event:?} now, {why}"))
    })?;
    let column = match next {
        Visit::Arrived => "arrived_ms",
        Visit::Unloading => "unloading_ms",
        Visit::Unloaded => "unloaded_ms",
        _ => "updated_ms",
    };
    conn.prepare_cached(&format!("UPDATE dock_appointment SET state = ?2, {column} = ?3, updated_ms = ?3 WHERE id = ?1"))?
        .execute(params![id as i64, next.as_str(), now_ms])?;
    appointment(conn, id)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    fn rules() -> DockRules {
        DockRules { doors: vec!["D1".into()], ..DockRules::default() }
    }

    fn booking(start_ms: i64, delivery: Option<&str>) -> Booking {
        Booking { supplier: "Nike China".into(), delivery: delivery.map(str::to_owned), door: None, start_ms, minutes: 60 }
    }

    #[test]
    fn the_sql_for_visits_holding_their_door_matches_the_rule() {
        for visit in Visit::ALL {
            assert_eq!(HOLDS_DOOR.contains(&format!("'{}'", visit.as_str())), visit.holds_door(), "{visit:?}");
        }
    }

    #[test]
    fn a_door_takes_one_truck_at_a_time_and_a_visit_is_recorded_step_by_step() {
        let conn = crate::store::schema::memory_db();
        conn.execute("INSERT INTO delivery (id, supplier, state, created_ms) VALUES ('ASN-1', 'Nike China', 'open', 0)", []).expect("asn");
        let nine = 9 * HOUR + 86_400_000;
        let a = book(&conn, &rules(), &booking(nine, Some("ASN-1")), 0).expect("book");
        assert_eq!((a.door.as_str(), a.end_ms, a.state.as_str()), ("D1", nine + HOUR, "booked"));
        assert!(matches!(book(&conn, &rules(), &booking(nine + HOUR / 2, None), 0), Err(StoreError::Conflict(_))), "the door is taken");
        assert!(matches!(book(&conn, &rules(), &booking(nine + 2 * HOUR, Some("ASN-1")), 0), Err(StoreError::Conflict(_))), "one appointment per delivery");
        assert!(matches!(book(&conn, &rules(), &booking(nine + 2 * HOUR, Some("ASN-9")), 0), Err(StoreError::NotFound(_))));
        assert!(matches!(book(&conn, &rules(), &booking(nine + HOUR / 4, None), 0), Err(StoreError::Invalid(_))), "not on a slot");

        assert!(matches!(record(&conn, a.id, DockEvent::StartUnloading, nine), Err(StoreError::Conflict(_))), "not arrived yet");
        record(&conn, a.id, DockEvent::Arrive, nine + 60_000).expect("arrive");
        record(&conn, a.id, DockEvent::StartUnloading, nine + 300_000).expect("unload");
        let done = record(&conn, a.id, DockEvent::FinishUnloading, nine + 1_800_000).expect("unloaded");
        assert_eq!((done.arrived_ms, done.unloading_ms, done.unloaded_ms), (Some(nine + 60_000), Some(nine + 300_000), Some(nine + 1_800_000)));
        // The door is free again once the truck left… for a slot that does not overlap the old one's
        // time, and for its own remaining time too.
        book(&conn, &rules(), &booking(nine, None), nine).expect("the door is free after unloading");
        assert_eq!(appointments(&conn, nine, nine + HOUR, 10).expect("list").len(), 2);
    }
}
