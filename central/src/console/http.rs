//! `/console` (the page and its chart library) and `GET /api/v1/console/dashboard`.

use super::{store, Dashboard};
use crate::auth::Reader;
use crate::db::DbError;
use crate::staff::{Area, Need};
use crate::http::error::ApiError;
use crate::startup::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tote_shared::calendar::DAY_MS;
use tote_shared::openapi as doc;
use tote_shared::runtime::http::{page_csp, Json, Query};

pub const PAGE: &str = include_str!("console.html");
pub const UPLOT_JS: &str = include_str!("vendor/uPlot-1.6.32.iife.min.js");
pub const UPLOT_CSS: &str = include_str!("vendor/uPlot-1.6.32.min.css");

/// The page's policy: its own inline script and style by hash, the chart library from this
/// origin, nothing else.
fn csp() -> &'static str {
    static CSP: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        page_csp(PAGE)
            .replacen("script-src ", "script-src 'self' ", 1)
            .replacen("style-src ", "style-src 'self' ", 1)
    });
    &CSP
}

fn asset(body: &'static str, content_type: &'static str, policy: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(policy) = HeaderValue::from_str(policy) {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    response
}

/// The console (public: it signs in by itself).
pub async fn page() -> Response {
    asset(PAGE, "text/html; charset=utf-8", csp())
}

pub async fn uplot_js() -> Response {
    let mut response = asset(
        UPLOT_JS,
        "text/javascript; charset=utf-8",
        tote_shared::runtime::http::API_CSP,
    );
    // Versioned by name: browsers may keep it.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    response
}

pub async fn uplot_css() -> Response {
    let mut response = asset(
        UPLOT_CSS,
        "text/css; charset=utf-8",
        tote_shared::runtime::http::API_CSP,
    );
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    response
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DashboardQuery {
    /// Days back from today (UTC), today included: 1 to 366; default 30.
    #[param(minimum = 1, maximum = 366)]
    pub days: Option<u32>,
}

/// The dashboard's figures over the last `days` days: orders and their value per day, by
/// hour of the day, by channel and warehouse; revenue and cost of goods per day; the best
/// SKUs by margin. Read from rollups (fast with a year of history). Any HQ role.
#[utoipa::path(get, path = "/api/v1/console/dashboard", params(DashboardQuery),
    responses((status = 200, body = Dashboard), doc::BadRequest, doc::Unauthorized, doc::Unavailable), tag = "console")]
pub async fn dashboard(
    Reader(caller): Reader,
    State(state): State<AppState>,
    Query(q): Query<DashboardQuery>,
) -> Result<Json<Dashboard>, ApiError> {
    let days = q.days.unwrap_or(30);
    if !(1..=366).contains(&days) {
        return Err(ApiError::BadRequest(
            "days must be between 1 and 366".into(),
        ));
    }
    let to = tote_shared::runtime::system::now_ms().div_euclid(DAY_MS);
    let from = to - i64::from(days) + 1;
    let dashboard = state
        .db
        .read(move |tx| -> Result<_, DbError> {
            let rows = store::days(tx, from, to)?;
            Ok(Dashboard {
                from: tote_shared::calendar::utc_day(from * DAY_MS),
                to: tote_shared::calendar::utc_day(to * DAY_MS),
                days: super::dense(from, to, &rows),
                by_hour: store::by_hour(tx, from, to)?,
                by_channel: store::shares(tx, true, from, to)?,
                by_warehouse: store::shares(tx, false, from, to)?,
                top_skus: store::top_skus(tx, from, to, 10)?,
                campaign_days: store::campaign_days(tx, from, to)?,
                warehouses: store::fulfilment(tx, from, to)?,
                finance_hidden: false,
            })
        })
        .await?;
    let mut dashboard = dashboard;
    let may = |need| crate::staff::may(&caller.roles, need);
    if !may(Need::Read(Area::Finance)) {
        hide_costs(&mut dashboard, !may(Need::Write(Area::Marketing)));
    }
    Ok(Json(dashboard))
}

/// Costs and margins are the books': a caller who may not read them sees zeros, and says so.
/// Campaigns' margin is marketing's own measure of a campaign: those who run campaigns keep it.
fn hide_costs(dashboard: &mut Dashboard, campaign_margin_too: bool) {
    if campaign_margin_too {
        for day in &mut dashboard.campaign_days {
            day.margin_minor = 0;
        }
    }
    dashboard.finance_hidden = true;
    for day in &mut dashboard.days {
        day.cogs_minor = 0;
    }
    for sku in &mut dashboard.top_skus {
        sku.margin_minor = 0;
    }
}
