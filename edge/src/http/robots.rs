//! Credentials for the embedded MQTT broker: a supervisor (or the API token) commissions a robot
//! by issuing its login, rotates it by issuing again, and decommissions it by revoking it; the
//! same for read-only observers (floor dashboards, integrators' tools). The password is shown
//! once, in the answer that issues it. These writes take no Idempotency-Key: a kept answer would
//! keep the password, and a retry is safe anyway (it issues a fresh password, which replaces
//! the one lost with the failed answer).

use super::error::ApiError;
use crate::auth::Caller;
use crate::mqtt::acl::{valid_name_part, Identity};
use crate::startup::AppState;
use crate::store::MqttLogin;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Extension;
use serde::Serialize;
use tote_shared::runtime::http::{Json, Path};
use tote_shared::runtime::secrets::sha256_hex;

#[derive(Debug, Serialize)]
pub struct IssuedLogin {
    pub username: String,
    /// Shown this once; only its hash is kept.
    pub password: String,
    pub kind: &'static str,
}

/// The identity a stored credential stands for (None for a row the gate cannot use).
pub fn identity_of(login: MqttLogin) -> Option<(Identity, String)> {
    let identity = match (login.kind.as_str(), login.manufacturer, login.serial) {
        ("robot", Some(manufacturer), Some(serial)) => Identity::Robot { manufacturer, serial },
        ("observer", None, None) => Identity::Observer { name: login.username },
        _ => return None,
    };
    Some((identity, login.secret_sha256))
}

fn gate(state: &AppState) -> Result<&crate::mqtt::gate::Gate, ApiError> {
    state.mqtt_gate.as_deref().ok_or_else(|| ApiError::Conflict("the edge uses an external MQTT broker ([mqtt] broker): manage its users there".into()))
}

fn name_part(what: &str, value: &str) -> Result<(), ApiError> {
    if valid_name_part(value) {
        return Ok(());
    }
    Err(ApiError::Unprocessable(format!("{what} must be 1 to 64 characters without / + # spaces or control characters")))
}

async fn issue(state: &AppState, caller: &Caller, identity: Identity) -> Result<(StatusCode, Json<IssuedLogin>), ApiError> {
    let gate = gate(state)?;
    // 256 random bits: a fast hash is enough to store it, and guessing it is hopeless.
    let password = hex(&rand::random::<[u8; 32]>());
    let secret_sha256 = sha256_hex(&password);
    let (kind, manufacturer, serial) = match &identity {
        Identity::Robot { manufacturer, serial } => ("robot", Some(manufacturer.clone()), Some(serial.clone())),
        Identity::Observer { .. } => ("observer", None, None),
    };
    let username = identity.username();
    let login = MqttLogin {
        username: username.clone(),
        kind: kind.into(),
        manufacturer,
        serial,
        issued_ms: tote_shared::runtime::system::now_ms(),
        issued_by: caller.name(),
        secret_sha256: secret_sha256.clone(),
    };
    state.store.issue_mqtt_login(login).await?;
    gate.credentials.put(identity, secret_sha256);
    tracing::info!(user = %username, by = %caller.name(), "MQTT login issued");
    Ok((StatusCode::CREATED, Json(IssuedLogin { username, password, kind })))
}

async fn revoke(state: &AppState, caller: &Caller, username: String) -> Result<StatusCode, ApiError> {
    let gate = gate(state)?;
    if !state.store.revoke_mqtt_login(username.clone()).await? {
        return Err(ApiError::NotFound(format!("MQTT login {username}")));
    }
    gate.credentials.remove(&username);
    tracing::info!(user = %username, by = %caller.name(), "MQTT login revoked");
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/fleet/{manufacturer}/{serial}/mqtt-login`: issues (or rotates) a robot's login.
pub async fn issue_robot(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((manufacturer, serial)): Path<(String, String)>,
) -> Result<(StatusCode, Json<IssuedLogin>), ApiError> {
    name_part("manufacturer", &manufacturer)?;
    name_part("serial", &serial)?;
    issue(&state, &caller, Identity::Robot { manufacturer, serial }).await
}

/// `DELETE /api/v1/fleet/{manufacturer}/{serial}/mqtt-login`: the robot's sessions close at once.
pub async fn revoke_robot(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((manufacturer, serial)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    revoke(&state, &caller, format!("{manufacturer}/{serial}")).await
}

/// `POST /api/v1/mqtt/observers/{name}`: a read-only login for robot topics.
pub async fn issue_observer(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<IssuedLogin>), ApiError> {
    name_part("name", &name)?;
    issue(&state, &caller, Identity::Observer { name }).await
}

pub async fn revoke_observer(State(state): State<AppState>, Extension(caller): Extension<Caller>, Path(name): Path<String>) -> Result<StatusCode, ApiError> {
    name_part("name", &name)?;
    revoke(&state, &caller, name).await
}

/// `GET /api/v1/mqtt/logins` (supervisors): who may sign in, never a password.
pub async fn logins(State(state): State<AppState>) -> Result<Json<Vec<MqttLogin>>, ApiError> {
    gate(&state)?;
    Ok(Json(state.store.mqtt_logins().await?))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
