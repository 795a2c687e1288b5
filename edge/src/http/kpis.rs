//! The warehouse's KPIs: `GET /api/v1/kpis` over a window (default the last eight hours, a
//! shift), and the supervisor's page at `/kpis` that charts them. See `store::kpis`.

use super::error::ApiError;
use crate::startup::AppState;
use crate::store::Kpis;
use axum::extract::State;
use serde::Deserialize;
use tote_shared::openapi as doc;
use tote_shared::runtime::http::{Json, Query};

/// The longest window one request may ask for: 31 days.
const MAX_WINDOW_MS: i64 = 31 * 24 * 3_600_000;
const SHIFT_MS: i64 = 8 * 3_600_000;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct KpiQuery {
    /// Start of the window, Unix ms (default: eight hours before `to_ms`, or 0).
    #[param(minimum = 0, maximum = 9223372036854775807_i64)]
    pub from_ms: Option<i64>,
    /// End of the window, Unix ms, exclusive (default: now). After `from_ms`, at most 31 days
    /// after it (else 422).
    #[param(minimum = 1, maximum = 9223372036854775807_i64)]
    pub to_ms: Option<i64>,
}

/// The warehouse's KPIs over a window: order cycle time, lines picked and short, picks per
/// hour per worker and per station, stock accuracy from counts, dock-to-stock time.
#[utoipa::path(get, path = "/api/v1/kpis", params(KpiQuery), responses((status = 200, body = Kpis), doc::BadRequest, doc::Unauthorized, doc::Unprocessable), tag = "stock")]
pub async fn kpis(State(state): State<AppState>, Query(q): Query<KpiQuery>) -> Result<Json<Kpis>, ApiError> {
    let to_ms = q.to_ms.unwrap_or_else(tote_shared::runtime::system::now_ms);
    let from_ms = q.from_ms.unwrap_or((to_ms - SHIFT_MS).max(0));
    if from_ms < 0 || to_ms <= from_ms || to_ms - from_ms > MAX_WINDOW_MS {
        return Err(ApiError::Unprocessable("from_ms must be before to_ms, at most 31 days apart".into()));
    }
    Ok(Json(state.store.kpis(from_ms, to_ms).await?))
}

/// The supervisor's KPI page (charts drawn from `GET /api/v1/kpis`).
pub async fn page() -> axum::response::Response {
    const PAGE: &str = include_str!("kpis.html");
    static CSP: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| tote_shared::runtime::http::page_csp(PAGE));
    super::page(PAGE, &CSP)
}
