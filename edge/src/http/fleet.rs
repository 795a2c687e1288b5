//! The fleet as the edge sees it over VDA 5050: robots, and what was rejected on their topics.

use super::error::ApiError;
use crate::fleet::Robot;
use crate::startup::AppState;
use axum::extract::State;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use tote_shared::openapi as doc;
use tote_shared::runtime::http::{Json, Path};
use tote_shared::vda5050::{Action, BlockingType};

#[derive(Debug, Serialize)]
pub struct FleetView {
    pub broker: String,
    /// The embedded broker's MQTT-over-TLS listener, if any.
    pub broker_tls: Option<String>,
    pub robots: Vec<Robot>,
    pub messages_accepted: u64,
    pub messages_rejected: BTreeMap<&'static str, u64>,
    /// Messages of the edge that robots refused, by the error type they gave.
    pub refusals: BTreeMap<&'static str, u64>,
    /// Robots driven over Modbus TCP (master control's view covers them too).
    pub modbus_robots: Vec<crate::modbus_robots::ModbusRobotView>,
    /// Master control's view (jobs, paths, pods, stations) when a floor is configured.
    pub floor: Option<tote_shared::gtp::control::FloorView>,
}

/// The robots (VDA 5050 and Modbus), what was rejected on their topics, and master control's view.
#[utoipa::path(get, path = "/api/v1/fleet", responses((status = 200, body = Object), doc::Unauthorized), tag = "fleet")]
pub async fn fleet(State(state): State<AppState>) -> Json<FleetView> {
    Json(view(&state))
}

fn view(state: &AppState) -> FleetView {
    FleetView {
        broker: state.mqtt_broker.clone(),
        broker_tls: state.mqtt_broker_tls.clone(),
        robots: state.fleet.robots(),
        messages_accepted: state.fleet.accepted.load(Ordering::Relaxed),
        messages_rejected: state.fleet.rejected().into_iter().map(|(r, n)| (r.as_str(), n)).collect(),
        refusals: state.fleet.refusals().into_iter().collect(),
        modbus_robots: state.modbus_robots.views(),
        floor: state.floor.as_ref().and_then(|f| f.view()),
    }
}

/// The live floor page (SVG, updated from `stream`).
pub async fn floor_page() -> axum::response::Response {
    const FLOOR: &str = include_str!("floor.html");
    static CSP: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| tote_shared::runtime::http::page_csp(FLOOR));
    super::page(FLOOR, &CSP)
}

/// Server-sent events: the fleet view twice a second, for the floor page.
pub async fn stream(
    State(state): State<AppState>,
) -> axum::response::sse::Sse<impl futures_util::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    let ticks = tokio::time::interval(std::time::Duration::from_millis(500));
    let events = futures_util::stream::unfold((ticks, state), |(mut ticks, state)| async move {
        ticks.tick().await;
        let data = serde_json::to_string(&view(&state)).unwrap_or_default();
        Some((Ok(Event::default().event("fleet").data(data)), (ticks, state)))
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstantRequest {
    /// `pause`, `resume`, `cancel_order`, `state_request`, `start_charging` or `stop_charging`.
    #[schema(pattern = "^(pause|resume|cancel_order|state_request|start_charging|stop_charging)$")]
    pub action: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InstantSent {
    pub action_id: String,
    pub action_type: &'static str,
}

/// Supervisor: sends one instant action to a robot (operators' pause/resume/cancel buttons).
#[utoipa::path(post, path = "/api/v1/fleet/{manufacturer}/{serial}/instant-actions", params(("manufacturer" = String, Path), ("serial" = String, Path)), request_body = InstantRequest,
    responses((status = 202, body = InstantSent), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound), tag = "fleet")]
pub async fn instant_action(
    State(state): State<AppState>,
    Path((manufacturer, serial)): Path<(String, String)>,
    Json(request): Json<InstantRequest>,
) -> Result<(axum::http::StatusCode, Json<InstantSent>), ApiError> {
    let action_type = match request.action.as_str() {
        "pause" => "startPause",
        "resume" => "stopPause",
        "cancel_order" => "cancelOrder",
        "state_request" => "stateRequest",
        "start_charging" => "startCharging",
        "stop_charging" => "stopCharging",
        other => {
            let other: String = other.chars().take(40).collect();
            return Err(ApiError::Unprocessable(format!(
                "unknown action {other:?}: use pause, resume, cancel_order, state_request, start_charging or stop_charging"
            )));
        }
    };
    if !state.fleet.is_known(&manufacturer, &serial) {
        return Err(ApiError::NotFound(format!("robot {manufacturer}/{serial}")));
    }
    let action_id = format!("edge-{}-{:08x}", tote_shared::runtime::system::now_ms(), rand::random::<u32>());
    let action = Action { action_type: action_type.into(), action_id: action_id.clone(), action_description: None, blocking_type: BlockingType::Hard, action_parameters: None };
    state.robots.instant_actions(&state.fleet, &manufacturer, &serial, vec![action]).await.map_err(|e| ApiError::Internal(e.to_string()))?;
    if action_type == "cancelOrder" {
        // The supervisor dealt with an order someone else gave it: the edge takes it from here.
        state.fleet.adopt_order(&manufacturer, &serial);
    }
    Ok((axum::http::StatusCode::ACCEPTED, Json(InstantSent { action_id, action_type })))
}

/// Supervisor: puts a robot that refused the edge's orders too often back into dispatch (after
/// whatever made it refuse was dealt with). Master control first cancels whatever it still has.
#[utoipa::path(post, path = "/api/v1/fleet/{manufacturer}/{serial}/dispatch", params(("manufacturer" = String, Path), ("serial" = String, Path)),
    responses((status = 204, description = "Back in dispatch (if nothing else keeps it out)"), doc::Unauthorized, doc::Forbidden, doc::NotFound), tag = "fleet")]
pub async fn reinstate(State(state): State<AppState>, Path((manufacturer, serial)): Path<(String, String)>) -> Result<axum::http::StatusCode, ApiError> {
    if !state.fleet.reinstate(&manufacturer, &serial) {
        return Err(ApiError::NotFound(format!("robot {manufacturer}/{serial}")));
    }
    tracing::info!(%manufacturer, %serial, "a supervisor put the robot back into dispatch");
    Ok(axum::http::StatusCode::NO_CONTENT)
}
