//! Warehouse routes.

use super::{store, NewWarehouse, WarehouseRecord};
use crate::auth::{hash_token, Admin, Reader};
use crate::http::check_text;
use crate::http::error::ApiError;
use crate::http::keyed::{keyed_write, Keyed};
use crate::startup::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tote_shared::geo::{city_point, GeoPoint};
use tote_shared::openapi as doc;
use tote_shared::runtime::http::{Json, Path};
use tote_shared::runtime::system::now_ms;
use tote_shared::WarehouseCode;

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWarehouseRequest {
    pub code: WarehouseCode,
    #[schema(value_type = tote_shared::openapi::Text200)]
    pub name: String,
    /// City name (English or Chinese, case and spaces ignored) from the built-in table;
    /// needed when `location` is absent.
    #[serde(default)]
    #[schema(value_type = Option<tote_shared::openapi::Text100>)]
    pub city: Option<String>,
    #[serde(default)]
    pub location: Option<GeoPoint>,
    /// The secret this warehouse's edge presents as its bearer token: 24 to 256 visible
    /// ASCII characters. Only its hash is stored.
    #[schema(pattern = "^[!-~]{24,256}$", min_length = 24, max_length = 256)]
    pub edge_token: String,
}

/// An edge token as the edge will send it in an Authorization header: 24 to 256 visible ASCII
/// characters.
fn check_edge_token(token: &str) -> Result<(), ApiError> {
    if (24..=256).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_graphic()) {
        return Ok(());
    }
    Err(ApiError::unprocessable("weak-token", "edge_token must have 24 to 256 visible ASCII characters"))
}

#[utoipa::path(post, path = "/api/v1/warehouses", request_body = NewWarehouseRequest, params(doc::IdempotencyKey),
    responses((status = 201, body = WarehouseRecord), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::Conflict, doc::Unavailable), tag = "warehouses")]
pub async fn create(_: Admin, State(state): State<AppState>, key: Keyed, Json(req): Json<NewWarehouseRequest>) -> Result<Response, ApiError> {
    check_text("name", &req.name, 200)?;
    if let Some(city) = &req.city {
        check_text("city", city, 100)?;
    }
    let point = resolve_point(req.location, req.city.as_deref())?;
    check_edge_token(&req.edge_token)?;
    let request = key.fingerprint(&req)?;
    let new = NewWarehouse { code: req.code, name: req.name, point, token_hash: hash_token(&req.edge_token) };
    let now = now_ms();
    keyed_write(&state, request, StatusCode::CREATED, move |tx| store::create(tx, &new, now)).await
}

/// Coordinates sent directly win; else the city table; else a clear 422.
pub fn resolve_point(location: Option<GeoPoint>, city: Option<&str>) -> Result<GeoPoint, ApiError> {
    match (location, city) {
        (Some(p), _) if p.is_valid() => Ok(p),
        (Some(_), _) => Err(ApiError::unprocessable("invalid-location", "location needs lat in -90..90 and lon in -180..180")),
        (None, Some(city)) if city.chars().count() <= 100 => city_point(city).ok_or_else(|| {
            ApiError::unprocessable("unknown-city", format!("city {:?} is not known; send location with lat/lon", city.chars().take(40).collect::<String>()))
        }),
        (None, Some(_)) => Err(ApiError::unprocessable("invalid-field", "city must have at most 100 characters")),
        (None, None) => Err(ApiError::unprocessable("missing-location", "send a city or a location")),
    }
}

#[utoipa::path(get, path = "/api/v1/warehouses", responses((status = 200, body = Vec<WarehouseRecord>), doc::Unauthorized, doc::Unavailable), tag = "warehouses")]
pub async fn list(_: Reader, State(state): State<AppState>) -> Result<Json<Vec<WarehouseRecord>>, ApiError> {
    Ok(Json(state.db.read(|tx| store::list(tx)).await?))
}

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEdgeToken {
    /// The edge's new bearer token: 24 to 256 visible ASCII characters (the edge sends it in
    /// an Authorization header). Only its hash is stored.
    #[schema(pattern = "^[!-~]{24,256}$", min_length = 24, max_length = 256)]
    pub edge_token: String,
    /// Why (kept in the audit log): 1 to 500 characters.
    #[schema(value_type = doc::Text500)]
    pub reason: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EdgeTokenReplaced {
    pub warehouse: WarehouseCode,
    /// The audit log entry written with it.
    pub audit_id: u64,
}

/// Replaces a warehouse's edge credential: the old token is refused from the commit on (a
/// leaked one, say — then re-base the stream if it was used). The edge needs the new one in
/// `TOTE_EDGE__CENTRAL__TOKEN` and a restart. Admin only; audited.
#[utoipa::path(post, path = "/api/v1/warehouses/{code}/edge-token", params(("code" = WarehouseCode, Path), doc::IdempotencyKey), request_body = NewEdgeToken,
    responses((status = 200, description = "the new token is the warehouse's credential from now on; its audit entry written with it", body = EdgeTokenReplaced),
        doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound,
        (status = 409, description = "`duplicate`: another warehouse has this token", body = doc::ProblemSchema, content_type = "application/problem+json"),
        doc::Unavailable), tag = "warehouses")]
pub async fn replace_token(_: Admin, State(state): State<AppState>, Path(code): Path<WarehouseCode>, key: Keyed, Json(req): Json<NewEdgeToken>) -> Result<Response, ApiError> {
    check_edge_token(&req.edge_token)?;
    check_text("reason", &req.reason, 500)?;
    let request = key.fingerprint(&req)?;
    let (hash, reason, now) = (hash_token(&req.edge_token), req.reason, now_ms());
    keyed_write(&state, request, StatusCode::OK, move |tx| {
        let audit_id = store::replace_token(tx, &code, &hash, &reason, "admin", now)?;
        Ok::<_, super::WarehouseError>(EdgeTokenReplaced { warehouse: code.clone(), audit_id })
    })
    .await
}
