//! Dock appointments: a door and a slot booked per inbound truck, then its arrival, unloading
//! and departure recorded at the door. See `store::dock` and `tote_shared::dock`.

use super::error::ApiError;
use super::{answer, Idempotency};
use crate::startup::AppState;
use crate::store::{AppointmentView, Booking};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tote_shared::dock::DockEvent;
use tote_shared::openapi as doc;
use tote_shared::calendar::{DAY_MS, MAX_MS};
use tote_shared::runtime::http::{Json, Path, Query};

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAppointment {
    /// Who brings it.
    #[schema(value_type = doc::Text200)]
    pub supplier: String,
    /// The expected delivery (ASN) on the truck, if there is one.
    #[serde(default)]
    #[schema(value_type = Option<doc::Text64>)]
    pub delivery: Option<String>,
    /// A door of `[dock] doors`; absent: the first free for the whole slot.
    #[serde(default)]
    #[schema(value_type = Option<doc::Text64>)]
    pub door: Option<String>,
    /// When the slot starts (Unix ms, on a slot boundary, inside opening hours).
    #[schema(minimum = 0, maximum = 253402300799999i64)]
    pub start_ms: i64,
    /// How long the door is held: whole slots, at most 8 hours.
    #[schema(minimum = 5, maximum = 480)]
    pub minutes: u32,
}

/// Supervisor: books a door and a slot for an inbound truck. 409 when the door (or every door)
/// is taken for part of it; 422 off a slot boundary, outside opening hours, in the past or too
/// far ahead.
#[utoipa::path(post, path = "/api/v1/dock/appointments", request_body = NewAppointment, params(doc::IdempotencyKey),
    responses((status = 201, body = AppointmentView), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Conflict), tag = "stock")]
pub async fn book_appointment(State(state): State<AppState>, idempotency: Idempotency, Json(body): Json<NewAppointment>) -> Result<Response, ApiError> {
    let key = idempotency.key(&body)?;
    if !(0..=MAX_MS).contains(&body.start_ms) {
        return Err(ApiError::Unprocessable("start_ms must be a time from 1970 to 9999 (Unix ms)".into()));
    }
    super::check_text("supplier", &body.supplier, 200)?;
    super::check_optional_text("delivery", body.delivery.as_deref(), 64)?;
    super::check_optional_text("door", body.door.as_deref(), 64)?;
    let booking = Booking {
        supplier: body.supplier.trim().to_owned(),
        delivery: body.delivery.map(|d| d.trim().to_owned()),
        door: body.door.map(|d| d.trim().to_owned()),
        start_ms: body.start_ms,
        minutes: body.minutes,
    };
    Ok(answer(StatusCode::CREATED, state.store.book_dock(key, booking).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AppointmentQuery {
    /// Slots overlapping [from_ms, to_ms); default: from now for a week. At most 31 days.
    #[param(minimum = 0, maximum = 253402300799999i64)]
    pub from_ms: Option<i64>,
    #[param(minimum = 0, maximum = 253402300799999i64)]
    pub to_ms: Option<i64>,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// The dock's appointments by start.
#[utoipa::path(get, path = "/api/v1/dock/appointments", params(AppointmentQuery), responses((status = 200, body = Vec<AppointmentView>), doc::BadRequest, doc::Unauthorized, doc::Unprocessable), tag = "stock")]
pub async fn appointments(State(state): State<AppState>, Query(q): Query<AppointmentQuery>) -> Result<Json<Vec<AppointmentView>>, ApiError> {
    let from = q.from_ms.unwrap_or_else(tote_shared::runtime::system::now_ms);
    let to = q.to_ms.unwrap_or(from.saturating_add(7 * DAY_MS));
    if !(0..=MAX_MS).contains(&from) || !(0..=MAX_MS).contains(&to) || to <= from || to - from > 31 * DAY_MS {
        return Err(ApiError::Unprocessable("from_ms must be at least 0 and to_ms after it, at most 31 days later".into()));
    }
    Ok(Json(state.store.appointments(from, to, super::limit(q.limit, 200)?).await?))
}

#[utoipa::path(get, path = "/api/v1/dock/appointments/{id}", params(doc::PathId), responses((status = 200, body = AppointmentView), doc::BadRequest, doc::Unauthorized, doc::NotFound), tag = "stock")]
pub async fn appointment(State(state): State<AppState>, Path(id): Path<u64>) -> Result<Json<AppointmentView>, ApiError> {
    Ok(Json(state.store.appointment(id).await?))
}

async fn record(state: AppState, id: u64, idempotency: Idempotency, event: DockEvent) -> Result<Response, ApiError> {
    let key = idempotency.key(&())?;
    Ok(answer(StatusCode::OK, state.store.dock_event(key, id, event).await?))
}

/// Receiver: the truck is at its door.
#[utoipa::path(post, path = "/api/v1/dock/appointments/{id}/arrive", params(doc::PathId, doc::IdempotencyKey),
    responses((status = 200, body = AppointmentView), doc::BadRequest, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Conflict, doc::Unprocessable), tag = "stock")]
pub async fn arrive(State(state): State<AppState>, Path(id): Path<u64>, idempotency: Idempotency) -> Result<Response, ApiError> {
    record(state, id, idempotency, DockEvent::Arrive).await
}

/// Receiver: unloading starts.
#[utoipa::path(post, path = "/api/v1/dock/appointments/{id}/unload", params(doc::PathId, doc::IdempotencyKey),
    responses((status = 200, body = AppointmentView), doc::BadRequest, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Conflict, doc::Unprocessable), tag = "stock")]
pub async fn unload(State(state): State<AppState>, Path(id): Path<u64>, idempotency: Idempotency) -> Result<Response, ApiError> {
    record(state, id, idempotency, DockEvent::StartUnloading).await
}

/// Receiver: unloading finished; the door is free.
#[utoipa::path(post, path = "/api/v1/dock/appointments/{id}/unloaded", params(doc::PathId, doc::IdempotencyKey),
    responses((status = 200, body = AppointmentView), doc::BadRequest, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Conflict, doc::Unprocessable), tag = "stock")]
pub async fn unloaded(State(state): State<AppState>, Path(id): Path<u64>, idempotency: Idempotency) -> Result<Response, ApiError> {
    record(state, id, idempotency, DockEvent::FinishUnloading).await
}

/// Supervisor: the booking is called off before the truck came.
#[utoipa::path(post, path = "/api/v1/dock/appointments/{id}/cancel", params(doc::PathId, doc::IdempotencyKey),
    responses((status = 200, body = AppointmentView), doc::BadRequest, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Conflict, doc::Unprocessable), tag = "stock")]
pub async fn cancel_appointment(State(state): State<AppState>, Path(id): Path<u64>, idempotency: Idempotency) -> Result<Response, ApiError> {
    record(state, id, idempotency, DockEvent::Cancel).await
}

/// Supervisor: the slot ended and the truck never came.
#[utoipa::path(post, path = "/api/v1/dock/appointments/{id}/no-show", params(doc::PathId, doc::IdempotencyKey),
    responses((status = 200, body = AppointmentView), doc::BadRequest, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Conflict, doc::Unprocessable), tag = "stock")]
pub async fn no_show(State(state): State<AppState>, Path(id): Path<u64>, idempotency: Idempotency) -> Result<Response, ApiError> {
    record(state, id, idempotency, DockEvent::NoShow).await
}
