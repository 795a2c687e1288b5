//! The fleet as the edge sees it over VDA 5050: robots, and what was rejected on their topics.

use crate::fleet::Robot;
use crate::startup::AppState;
use axum::extract::State;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use tote_shared::runtime::http::Json;

#[derive(Debug, Serialize)]
pub struct FleetView {
    pub broker: String,
    pub robots: Vec<Robot>,
    pub messages_accepted: u64,
    pub messages_rejected: BTreeMap<&'static str, u64>,
}

pub async fn fleet(State(state): State<AppState>) -> Json<FleetView> {
    Json(FleetView {
        broker: state.mqtt_broker.clone(),
        robots: state.fleet.robots(),
        messages_accepted: state.fleet.accepted.load(Ordering::Relaxed),
        messages_rejected: state.fleet.rejected().into_iter().map(|(r, n)| (r.as_str(), n)).collect(),
    })
}
