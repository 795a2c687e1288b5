//! Goods-to-person stations and the floor: what each station presents now (the pod, and the
//! pick tasks on it), what is coming, and the whole floor for the live page.

use super::error::ApiError;
use crate::gtp::{Floor, LayoutView};
use crate::startup::AppState;
use crate::store::PickTaskView;
use axum::extract::State;
use serde::Serialize;
use std::sync::Arc;
use tote_shared::gtp::control::FloorView;
use tote_shared::openapi as doc;
use tote_shared::runtime::http::{Json, Path};

#[derive(Debug, Serialize)]
pub struct StationWork {
    pub name: String,
    /// The pod in front of the worker, and the robot holding it.
    pub presenting: Option<String>,
    pub robot: Option<String>,
    /// Pods on their way or queued, first in line first.
    pub coming: Vec<String>,
    /// Open pick tasks on the presented pod: scan the bin, then the items.
    pub tasks: Vec<PickTaskView>,
    /// Takes pods (its PLC answers, or it has none).
    pub online: bool,
    /// Light curtain broken: the presented pod stays.
    pub hold: bool,
    /// The station's PLC, when it has one.
    pub plc: Option<crate::plc::PanelStatus>,
}

#[derive(Debug, Serialize)]
pub struct FloorNow {
    pub layout: LayoutView,
    pub view: Option<FloorView>,
    pub ticks: crate::gtp::TickStats,
}

fn floor(state: &AppState) -> Result<&Arc<Floor>, ApiError> {
    state.floor.as_ref().ok_or_else(|| ApiError::NotFound("a goods-to-person floor (this edge has no [floor] configured)".into()))
}

/// The goods-to-person floor: layout and master control's view (404 without a `[floor]`).
#[utoipa::path(get, path = "/api/v1/floor", responses((status = 200, body = Object), doc::Unauthorized, doc::NotFound), tag = "stations")]
pub async fn floor_now(State(state): State<AppState>) -> Result<Json<FloorNow>, ApiError> {
    let floor = floor(&state)?;
    Ok(Json(FloorNow { layout: floor.layout_view.clone(), view: floor.view(), ticks: floor.ticks() }))
}

/// Every station's work now (404 without a `[floor]`).
#[utoipa::path(get, path = "/api/v1/stations", responses((status = 200, body = Vec<Object>), doc::Unauthorized, doc::NotFound), tag = "stations")]
pub async fn stations(State(state): State<AppState>) -> Result<Json<Vec<StationWork>>, ApiError> {
    let floor = floor(&state)?;
    let mut out = Vec::new();
    for s in &floor.layout.stations {
        out.push(work(&state, floor, &s.name).await?);
    }
    Ok(Json(out))
}

/// One station's work now: the pod presented and its pick tasks.
#[utoipa::path(get, path = "/api/v1/stations/{name}", params(("name" = String, Path)), responses((status = 200, body = Object), doc::BadRequest, doc::Unauthorized, doc::NotFound), tag = "stations")]
pub async fn station(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<StationWork>, ApiError> {
    let floor = floor(&state)?;
    if !floor.layout.stations.iter().any(|s| s.name == name) {
        let name: String = name.chars().take(40).collect();
        return Err(ApiError::NotFound(format!("station {name:?}")));
    }
    Ok(Json(work(&state, floor, &name).await?))
}

async fn work(state: &AppState, floor: &Floor, name: &str) -> Result<StationWork, ApiError> {
    let station = floor.station(name);
    let presenting = station.as_ref().and_then(|s| s.presenting.clone());
    let robot = station.as_ref().and_then(|s| s.robot.clone());
    let tasks = match &presenting {
        Some(pod) => state.store.tasks_on_pod(pod.clone()).await?,
        None => Vec::new(),
    };
    let plc = state.panels.status(name);
    Ok(StationWork {
        name: name.to_owned(),
        presenting,
        robot,
        coming: station.as_ref().map(|s| s.coming.clone()).unwrap_or_default(),
        tasks,
        // The PLC's own state when there is one (master control's view lags it by a tick, and
        // does not exist before master control's first tick).
        online: plc.as_ref().map_or(station.as_ref().is_none_or(|s| s.online), |p| p.online),
        hold: station.as_ref().is_some_and(|s| s.hold),
        plc,
    })
}
