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
use tote_shared::openapi as doc;
use tote_shared::runtime::http::{Json, Path};
use tote_shared::runtime::secrets::sha256_hex;

/// What `valid_name_part` takes, for the document (a path parameter's schema): 1 to 64
/// characters, none of them `/`, `+`, `#`, a control character or white space.
pub struct MqttName;

impl utoipa::PartialSchema for MqttName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .min_length(Some(1))
            .max_length(Some(64))
            .pattern(Some(r"^[^/+#\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]{1,64}$"))
            .description(Some("1 to 64 characters, none of them /, +, #, white space or a control character (MQTT's separators and wildcards)."))
            .into()
    }
}

impl utoipa::ToSchema for MqttName {}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IssuedLogin {
    /// The MQTT username: `{manufacturer}/{serial}` for a robot, the name for an observer.
    pub username: String,
    /// Shown this once; only its hash is kept. 64 hexadecimal digits (256 random bits).
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub password: String,
    #[schema(value_type = String, pattern = "^(robot|observer)$")]
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
    // 256 random bits, like a session token: a fast hash is enough to store it, and guessing
    // it is hopeless.
    let password = crate::auth::new_token();
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
/// Supervisors; no Idempotency-Key (a kept answer would keep the password; a retry is safe).
#[utoipa::path(post, path = "/api/v1/fleet/{manufacturer}/{serial}/mqtt-login",
    params(("manufacturer" = MqttName, Path), ("serial" = MqttName, Path)),
    responses((status = 201, description = "the login, with its password shown this once; an earlier login of the robot no longer works", body = IssuedLogin),
        doc::BadRequest, doc::Unauthorized, doc::Forbidden, ExternalBroker, BadName), tag = "mqtt")]
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
#[utoipa::path(delete, path = "/api/v1/fleet/{manufacturer}/{serial}/mqtt-login",
    params(("manufacturer" = MqttName, Path), ("serial" = MqttName, Path)),
    responses((status = 204, description = "revoked: the robot's sessions are closed"), doc::BadRequest, doc::Unauthorized, doc::Forbidden, doc::NotFound, ExternalBroker, BadName), tag = "mqtt")]
pub async fn revoke_robot(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((manufacturer, serial)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    name_part("manufacturer", &manufacturer)?;
    name_part("serial", &serial)?;
    revoke(&state, &caller, format!("{manufacturer}/{serial}")).await
}

/// `POST /api/v1/mqtt/observers/{name}`: a read-only login for robot topics (floor dashboards,
/// integrators' tools). Supervisors; no Idempotency-Key.
#[utoipa::path(post, path = "/api/v1/mqtt/observers/{name}", params(("name" = MqttName, Path)),
    responses((status = 201, description = "the login, with its password shown this once; an earlier login of that name no longer works", body = IssuedLogin),
        doc::BadRequest, doc::Unauthorized, doc::Forbidden, ExternalBroker, BadName), tag = "mqtt")]
pub async fn issue_observer(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<IssuedLogin>), ApiError> {
    name_part("name", &name)?;
    issue(&state, &caller, Identity::Observer { name }).await
}

/// `DELETE /api/v1/mqtt/observers/{name}`: the observer's sessions close at once.
#[utoipa::path(delete, path = "/api/v1/mqtt/observers/{name}", params(("name" = MqttName, Path)),
    responses((status = 204, description = "revoked: the observer's sessions are closed"), doc::BadRequest, doc::Unauthorized, doc::Forbidden, doc::NotFound, ExternalBroker, BadName), tag = "mqtt")]
pub async fn revoke_observer(State(state): State<AppState>, Extension(caller): Extension<Caller>, Path(name): Path<String>) -> Result<StatusCode, ApiError> {
    name_part("name", &name)?;
    revoke(&state, &caller, name).await
}

/// `GET /api/v1/mqtt/logins` (supervisors): who may sign in, never a password.
#[utoipa::path(get, path = "/api/v1/mqtt/logins", responses((status = 200, body = Vec<MqttLogin>), doc::Unauthorized, doc::Forbidden, ExternalBroker), tag = "mqtt")]
pub async fn logins(State(state): State<AppState>) -> Result<Json<Vec<MqttLogin>>, ApiError> {
    gate(&state)?;
    Ok(Json(state.store.mqtt_logins().await?))
}

/// The 409 of every route here when the edge uses an external broker.
struct ExternalBroker;

impl utoipa::IntoResponses for ExternalBroker {
    fn responses() -> std::collections::BTreeMap<String, utoipa::openapi::RefOr<utoipa::openapi::Response>> {
        doc::problem_response("409", "The edge uses an external MQTT broker ([mqtt] broker): its users are managed there.")
    }
}

/// The 422 of a name part that `valid_name_part` refuses.
struct BadName;

impl utoipa::IntoResponses for BadName {
    fn responses() -> std::collections::BTreeMap<String, utoipa::openapi::RefOr<utoipa::openapi::Response>> {
        doc::problem_response("422", "A manufacturer, serial or name that is not 1 to 64 characters, or has /, +, #, white space or a control character.")
    }
}
