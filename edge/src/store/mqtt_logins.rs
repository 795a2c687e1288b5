//! The credentials robots and observers sign in to the embedded broker with. Only the SHA-256
//! of each password is kept (passwords are long random strings made by `crate::http::robots`);
//! the gate holds the same rows in memory.

use super::StoreResult;
use rusqlite::{params, Connection};
use serde::Serialize;

/// One issued credential, as listed to supervisors (never the password).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MqttLogin {
    pub username: String,
    /// `robot` or `observer`.
    #[schema(pattern = "^(robot|observer)$")]
    pub kind: String,
    pub manufacturer: Option<String>,
    pub serial: Option<String>,
    pub issued_ms: i64,
    pub issued_by: String,
    #[serde(skip)]
    pub secret_sha256: String,
}

/// Issues a credential, replacing the user's earlier one.
pub fn issue(conn: &Connection, login: &MqttLogin) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO mqtt_login (username, kind, manufacturer, serial, secret_sha256, issued_ms, issued_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (username) DO UPDATE SET kind = excluded.kind, manufacturer = excluded.manufacturer,
             serial = excluded.serial, secret_sha256 = excluded.secret_sha256, issued_ms = excluded.issued_ms,
             issued_by = excluded.issued_by",
    )?
    .execute(params![login.username, login.kind, login.manufacturer, login.serial, login.secret_sha256, login.issued_ms, login.issued_by])?;
    Ok(())
}

/// Revokes a credential; false if there was none.
pub fn revoke(conn: &Connection, username: &str) -> StoreResult<bool> {
    Ok(conn.prepare_cached("DELETE FROM mqtt_login WHERE username = ?1")?.execute([username])? > 0)
}

pub fn list(conn: &Connection) -> StoreResult<Vec<MqttLogin>> {
    let mut statement = conn.prepare_cached(
        "SELECT username, kind, manufacturer, serial, secret_sha256, issued_ms, issued_by FROM mqtt_login ORDER BY username",
    )?;
    let rows = statement.query_map([], |r| {
        Ok(MqttLogin {
            username: r.get(0)?,
            kind: r.get(1)?,
            manufacturer: r.get(2)?,
            serial: r.get(3)?,
            secret_sha256: r.get(4)?,
            issued_ms: r.get(5)?,
            issued_by: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(username: &str, hash: &str) -> MqttLogin {
        MqttLogin {
            username: username.into(),
            kind: "robot".into(),
            manufacturer: Some("tote".into()),
            serial: Some("agv-1".into()),
            issued_ms: 1,
            issued_by: "supervisor".into(),
            secret_sha256: hash.into(),
        }
    }

    #[test]
    fn issuing_again_replaces_and_revoking_removes() {
        let conn = crate::store::schema::memory_db();
        issue(&conn, &login("tote/agv-1", &"a".repeat(64))).expect("issue");
        issue(&conn, &login("tote/agv-1", &"b".repeat(64))).expect("reissue");
        let all = list(&conn).expect("list");
        assert_eq!((all.len(), all[0].secret_sha256.clone()), (1, "b".repeat(64)));
        assert!(revoke(&conn, "tote/agv-1").expect("revoke"));
        assert!(!revoke(&conn, "tote/agv-1").expect("revoke again"));
        assert!(list(&conn).expect("list").is_empty());
    }

    #[test]
    fn the_schema_refuses_an_unknown_kind() {
        let conn = crate::store::schema::memory_db();
        assert!(issue(&conn, &MqttLogin { kind: "admin".into(), ..login("x", &"a".repeat(64)) }).is_err());
        assert!(issue(&conn, &MqttLogin { kind: "observer".into(), ..login("x", &"a".repeat(64)) }).is_err(), "an observer names no robot");
        assert!(issue(&conn, &login("x", "short")).is_err(), "not a SHA-256");
    }
}
