//! Logistics routes: carriers (terms, suspension), rate cards and remote areas as CSV, the
//! house policy, quotes for a parcel, and the choice made for an order.

use super::choice::{choose, Choice, Request};
use super::csv::{self as card_csv, Known, RowError};
use super::rates::{Carrier, Insurance, Parcel, MAX_PARCEL_VOLUME_MM3, MAX_PARCEL_WEIGHT_G};
use super::{rate_card_day, store, LogisticsError, Policy, StoredChoice};
use crate::auth::{Admin, Reader};
use crate::db::{DbError, Tx};
use crate::http::error::ApiError;
use crate::startup::AppState;
use axum::body::Bytes;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use tote_shared::openapi as doc;
use tote_shared::runtime::http::{Json, Path};
use tote_shared::runtime::system::now_ms;

/// Largest rate-card file (about 200,000 rows).
pub const CSV_BODY_LIMIT_BYTES: usize = 16 * 1024 * 1024;

/// A carrier code: 2 to 16 capital letters or digits (`SF`, `JD`, `ZTO`, `EMS`).
fn valid_code(code: &str) -> bool {
    (2..=16).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// A carrier's terms, as HQ sets them.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CarrierTerms {
    #[schema(value_type = tote_shared::openapi::Text100)]
    pub name: String,
    /// cm³ per kg (6000 and 8000 are usual).
    #[schema(minimum = 1000, maximum = 20000)]
    pub volumetric_divisor: u32,
    /// Absent: the carrier does not insure.
    #[serde(default)]
    pub insurance: Option<Insurance>,
    pub signature: bool,
    pub fragile: bool,
    #[schema(minimum = 1, maximum = 1000000)]
    pub max_weight_g: u64,
    #[schema(minimum = 1, maximum = 10000)]
    pub max_side_mm: u64,
}

impl CarrierTerms {
    fn check(&self) -> Result<(), ApiError> {
        crate::http::check_text("name", &self.name, 100)?;
        let bad = |detail: &str| Err(ApiError::unprocessable("invalid-field", detail.to_owned()));
        if !(1_000..=20_000).contains(&self.volumetric_divisor) {
            return bad("volumetric_divisor must be 1000 to 20000");
        }
        if !(1..=MAX_PARCEL_WEIGHT_G).contains(&self.max_weight_g) || !(1..=10_000).contains(&self.max_side_mm) {
            return bad("max_weight_g must be 1 to 1000000 and max_side_mm 1 to 10000");
        }
        if let Some(i) = &self.insurance {
            if i.rate_bp > 10_000 || !(0..=1_000_000).contains(&i.min_fee) || !(0..=tote_shared::Money::MAX_MINOR).contains(&i.max_declared) {
                return bad("insurance: rate_bp 0 to 10000, min_fee 0 to 1000000, max_declared 0 to 10000000000");
            }
        }
        Ok(())
    }
}

/// Every carrier with its terms and suspension.
#[utoipa::path(get, path = "/api/v1/logistics/carriers", responses((status = 200, body = Vec<Carrier>), doc::Unauthorized, doc::Unavailable), tag = "logistics")]
pub async fn carriers(_: Reader, State(state): State<AppState>) -> Result<Json<Vec<Carrier>>, ApiError> {
    Ok(Json(state.db.read(|tx| store::carriers(tx)).await?))
}

/// Cancels a parcel's carrier order: for a parcel that will not be handed over (a damaged
/// box, a label printed again). The carrier refuses (409) once it picked the parcel up; an
/// unregistered parcel is simply never registered. Audited.
#[utoipa::path(post, path = "/api/v1/logistics/parcels/{waybill}/cancel",
    params(("waybill" = String, Path, pattern = "^[A-Za-z0-9_-]{1,40}$", description = "waybill number")),
    responses((status = 200, body = store::ParcelView), doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Conflict, doc::BadGateway, doc::Unavailable), tag = "logistics")]
pub async fn cancel_parcel(_: Admin, State(state): State<AppState>, Path(waybill): Path<String>) -> Result<Json<store::ParcelView>, ApiError> {
    if !tote_shared::sync::is_plain_code(&waybill, 40) {
        return Err(ApiError::NotFound(format!("parcel {waybill}")));
    }
    Ok(Json(super::dispatcher::cancel(&state, &waybill).await?))
}

/// Each warehouse's waybill pool per carrier: numbers granted and not yet used, used, the
/// busiest hour of the last day and the target the dispatcher fills to.
#[utoipa::path(get, path = "/api/v1/logistics/pools", responses((status = 200, body = Vec<PoolView>), doc::Unauthorized, doc::Unavailable), tag = "logistics")]
pub async fn pools(_: Reader, State(state): State<AppState>) -> Result<Json<Vec<PoolView>>, ApiError> {
    let since = crate::startup::now_ms() - 24 * 3_600_000;
    let rows = state.db.read(move |tx| store::pools(tx, since, true)).await?;
    let rule = state.settings.logistics.pools;
    let view = rows
        .into_iter()
        .map(|row| {
            let target = super::pools::target(&rule, &super::pools::PoolState { free: row.free, busiest_hour: row.busiest_hour });
            let connected = state.carriers.carriers.contains_key(&row.carrier);
            PoolView { pool: row, target, connected }
        })
        .collect();
    Ok(Json(view))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PoolView {
    #[serde(flatten)]
    pub pool: store::PoolRow,
    /// What the dispatcher keeps the pool at.
    pub target: u64,
    /// Whether central has the carrier's platform configured (without it, no refills).
    pub connected: bool,
}

/// Creates or replaces a carrier's terms (a suspension stays as it was).
#[utoipa::path(put, path = "/api/v1/logistics/carriers/{code}", request_body = CarrierTerms,
    params(("code" = String, Path, pattern = "^[A-Z0-9]{2,16}$", description = "carrier code")),
    responses((status = 200, body = Carrier), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::Unavailable), tag = "logistics")]
pub async fn put_carrier(_: Admin, State(state): State<AppState>, Path(code): Path<String>, Json(terms): Json<CarrierTerms>) -> Result<Json<Carrier>, ApiError> {
    if !valid_code(&code) {
        return Err(ApiError::unprocessable("invalid-field", "a carrier code is 2 to 16 capital letters or digits"));
    }
    terms.check()?;
    let carrier = Carrier {
        code,
        name: terms.name,
        volumetric_divisor: terms.volumetric_divisor,
        insurance: terms.insurance,
        signature: terms.signature,
        fragile: terms.fragile,
        max_weight_g: terms.max_weight_g,
        max_side_mm: terms.max_side_mm,
        suspended: None,
    };
    let now = now_ms();
    let saved = state
        .write(move |tx| -> Result<_, LogisticsError> {
            store::put_carrier(tx, &carrier, now)?;
            found(store::carrier(tx, &carrier.code)?, &carrier.code)
        })
        .await?;
    Ok(Json(saved))
}

fn found(carrier: Option<Carrier>, code: &str) -> Result<Carrier, LogisticsError> {
    carrier.ok_or_else(|| LogisticsError::NotFound(format!("carrier {code}")))
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Suspension {
    /// Why: it is shown with every choice that skipped the carrier, and kept in the audit log.
    #[schema(value_type = tote_shared::openapi::Text200)]
    pub reason: String,
}

/// Suspends a carrier: no parcel is given to it until it is reinstated. Audited.
#[utoipa::path(post, path = "/api/v1/logistics/carriers/{code}/suspend", request_body = Suspension,
    params(("code" = String, Path, pattern = "^[A-Z0-9]{2,16}$", description = "carrier code")),
    responses((status = 200, body = Carrier), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Unavailable), tag = "logistics")]
pub async fn suspend(_: Admin, State(state): State<AppState>, Path(code): Path<String>, Json(body): Json<Suspension>) -> Result<Json<Carrier>, ApiError> {
    crate::http::check_text("reason", &body.reason, 200)?;
    Ok(Json(set_suspended(&state, code, Some(body.reason)).await?))
}

/// Reinstates a suspended carrier. Audited.
#[utoipa::path(post, path = "/api/v1/logistics/carriers/{code}/reinstate",
    params(("code" = String, Path, pattern = "^[A-Z0-9]{2,16}$", description = "carrier code")),
    responses((status = 200, body = Carrier), doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Unavailable), tag = "logistics")]
pub async fn reinstate(_: Admin, State(state): State<AppState>, Path(code): Path<String>) -> Result<Json<Carrier>, ApiError> {
    Ok(Json(set_suspended(&state, code, None).await?))
}

async fn set_suspended(state: &AppState, code: String, reason: Option<String>) -> Result<Carrier, LogisticsError> {
    let now = now_ms();
    state
        .write(move |tx| -> Result<_, LogisticsError> {
            if !store::set_suspended(tx, &code, reason.as_deref(), now)? {
                return Err(LogisticsError::NotFound(format!("carrier {code}")));
            }
            let action = if reason.is_some() { "carrier_suspended" } else { "carrier_reinstated" };
            crate::audit::store::append(tx, now, "admin", action, &format!("carrier:{code}"), &serde_json::json!({ "reason": reason }))?;
            found(store::carrier(tx, &code)?, &code)
        })
        .await
}

/// What an import did: rows taken, and each refused row by line and field.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    pub imported: usize,
    /// How many rows were refused (only the first 1,000 are listed).
    pub refused: usize,
    pub errors: Vec<RowError>,
}

/// Imports rate-card rows (CSV, header `carrier,service,origin,province,first_weight_g,
/// first_price,step_g,step_price,transit_days,valid_from,valid_to`; prices in yuan, weights in
/// grams, dates `YYYY-MM-DD`, `valid_to` may be empty). Good rows are inserted or replace the
/// row with the same carrier, service, origin, province and valid_from; each bad row is named
/// and changes nothing. A file that is not this CSV imports nothing.
#[utoipa::path(post, path = "/api/v1/logistics/rates", request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = ImportReport), doc::BadRequest, doc::Unauthorized, doc::Forbidden, doc::Unprocessable, doc::Unavailable), tag = "logistics")]
pub async fn import_rates(_: Admin, State(state): State<AppState>, body: Bytes) -> Result<Json<ImportReport>, ApiError> {
    import(&state, move |known| card_csv::lanes(&body, known), store::upsert_lanes).await
}

/// Reads the codes an import is checked against, parses the file outside any transaction
/// (a large file must not hold the writer), then writes the good rows in one.
async fn import<T: Send + Sync + 'static>(
    state: &AppState,
    parse: impl FnOnce(&Known<'_>) -> Result<card_csv::Parsed<T>, card_csv::FileError>,
    upsert: fn(&mut dyn Tx, &[T]) -> Result<(), DbError>,
) -> Result<Json<ImportReport>, ApiError> {
    let (carriers, warehouses) = state.db.read(|tx| -> Result<_, DbError> { Ok((store::carrier_codes(tx)?, warehouse_codes(tx)?)) }).await?;
    let parsed = parse(&Known { carriers: &carriers, warehouses: &warehouses }).map_err(|e| ApiError::unprocessable("invalid-file", e.to_string()))?;
    let rows = std::sync::Arc::new(parsed.rows);
    let written = rows.clone();
    state.write(move |tx| upsert(tx, &written)).await?;
    Ok(Json(ImportReport { imported: rows.len(), refused: parsed.error_count, errors: parsed.errors }))
}

fn warehouse_codes(tx: &mut dyn Tx) -> Result<HashSet<String>, DbError> {
    Ok(crate::warehouses::store::list(tx)?.into_iter().map(|w| w.code.to_string()).collect())
}

/// Imports remote-area surcharges (CSV, header `carrier,province,city,surcharge`; `city` `*`
/// for the whole province; surcharge in yuan), row by row as the rate card is.
#[utoipa::path(post, path = "/api/v1/logistics/remote-areas", request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = ImportReport), doc::BadRequest, doc::Unauthorized, doc::Forbidden, doc::Unprocessable, doc::Unavailable), tag = "logistics")]
pub async fn import_remote_areas(_: Admin, State(state): State<AppState>, body: Bytes) -> Result<Json<ImportReport>, ApiError> {
    import(&state, move |known| card_csv::remote_areas(&body, known.carriers), store::upsert_remote_areas).await
}

#[utoipa::path(get, path = "/api/v1/logistics/policy", responses((status = 200, body = Policy), doc::Unauthorized, doc::Unavailable), tag = "logistics")]
pub async fn policy(_: Reader, State(state): State<AppState>) -> Result<Json<Policy>, ApiError> {
    Ok(Json(state.db.read(|tx| store::policy(tx)).await?))
}

/// Replaces the house policy every later choice applies.
#[utoipa::path(put, path = "/api/v1/logistics/policy", request_body = Policy,
    responses((status = 200, body = Policy), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::Unavailable), tag = "logistics")]
pub async fn put_policy(_: Admin, State(state): State<AppState>, Json(policy): Json<Policy>) -> Result<Json<Policy>, ApiError> {
    if let Some(problem) = policy.problem() {
        return Err(ApiError::unprocessable("invalid-field", problem));
    }
    let saved = policy.clone();
    let now = now_ms();
    state.write(move |tx| store::put_policy(tx, &saved, now)).await?;
    Ok(Json(policy))
}

/// A parcel to quote.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuoteRequest {
    /// Origin warehouse code.
    pub origin: tote_shared::WarehouseCode,
    /// Destination city; its province comes from the city table unless `province` is given.
    #[schema(value_type = tote_shared::openapi::Text100)]
    pub city: String,
    /// Province code or Chinese name, for a city the table does not know.
    #[serde(default)]
    #[schema(max_length = 20)]
    pub province: Option<String>,
    #[schema(minimum = 1, maximum = 1000000)]
    pub weight_g: u64,
    #[schema(minimum = 1, maximum = 10000)]
    pub length_mm: u64,
    #[schema(minimum = 1, maximum = 10000)]
    pub width_mm: u64,
    #[schema(minimum = 1, maximum = 10000)]
    pub height_mm: u64,
    /// Goods value, minor units.
    #[serde(default)]
    pub declared_value: Option<tote_shared::Money>,
    #[serde(default)]
    pub fragile: bool,
    /// Absent: the policy's default promise.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 60)]
    pub promise_days: Option<u32>,
}

/// Quotes every carrier service for one parcel under the house policy: the one the choice
/// would take, and every other with its price or the reason it cannot serve.
#[utoipa::path(post, path = "/api/v1/logistics/quotes", request_body = QuoteRequest,
    responses((status = 200, body = Choice), doc::JsonBody, doc::Unauthorized, doc::Unavailable), tag = "logistics")]
pub async fn quote(_: Reader, State(state): State<AppState>, Json(q): Json<QuoteRequest>) -> Result<Json<Choice>, ApiError> {
    let sides = [q.length_mm, q.width_mm, q.height_mm];
    if !(1..=MAX_PARCEL_WEIGHT_G).contains(&q.weight_g) || sides.iter().any(|s| !(1..=10_000).contains(s)) {
        return Err(ApiError::unprocessable("invalid-field", "weight_g must be 1 to 1000000 and each side 1 to 10000 mm"));
    }
    if q.promise_days.is_some_and(|d| !(1..=card_csv::MAX_TRANSIT_DAYS).contains(&d)) {
        return Err(ApiError::unprocessable("invalid-field", "promise_days must be 1 to 60"));
    }
    crate::http::check_text("city", &q.city, 100)?;
    let known = tote_shared::geo::city_province(&q.city);
    let province = match q.province.as_deref() {
        Some(p) => tote_shared::geo::province(p).ok_or_else(|| ApiError::unprocessable("unknown-region", format!("{:?} is not a mainland province", p.chars().take(20).collect::<String>())))?,
        None => known.map(|(_, p)| p).ok_or_else(|| ApiError::unprocessable("unknown-region", "the city table does not know this city: give its province"))?,
    };
    let city = known.map_or_else(|| q.city.to_lowercase(), |(c, _)| c.to_owned());
    let parcel = Parcel {
        weight_g: q.weight_g,
        volume_mm3: (q.length_mm * q.width_mm * q.height_mm).min(MAX_PARCEL_VOLUME_MM3),
        longest_side_mm: sides.into_iter().max().unwrap_or(0),
        declared_value: q.declared_value.map_or(0, tote_shared::Money::minor),
        fragile: q.fragile,
    };
    let today = rate_card_day(now_ms());
    let choice = state
        .db
        .read(move |tx| -> Result<_, DbError> {
            let policy = store::policy(tx)?;
            let card = store::route_card(tx, q.origin.as_str(), province)?;
            let promise_days = q.promise_days.unwrap_or(policy.promise_days);
            Ok(choose(&card, &policy.rules(), &Request { origin: q.origin.as_str(), province, city: &city, parcel, promise_days, today }))
        })
        .await?;
    Ok(Json(choice))
}

/// The carrier chosen for an order at each warehouse it was released to, with the quotes it
/// beat and the parcel as quoted.
#[utoipa::path(get, path = "/api/v1/orders/{id}/shipping", params(doc::PathId),
    responses((status = 200, body = Vec<StoredChoice>), doc::BadRequest, doc::Unauthorized, doc::Unavailable), tag = "logistics")]
pub async fn order_shipping(_: Reader, State(state): State<AppState>, Path(id): Path<u64>) -> Result<Json<Vec<StoredChoice>>, ApiError> {
    Ok(Json(state.db.read(move |tx| store::choices(tx, id)).await?))
}

/// Largest tracking push (Kuaidi100 resends a parcel's whole history, up to 500 events).
/// (500 events of 500 characters, URL-encoded, fit).
pub const PUSH_BODY_LIMIT_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, Deserialize)]
struct PushForm {
    param: String,
    sign: String,
}

/// Kuaidi100's acknowledgement: `result` false makes the aggregator push again later.
fn push_answer(status: axum::http::StatusCode, taken: bool, message: &str) -> axum::response::Response {
    use axum::response::IntoResponse;
    let code = status.as_u16().to_string();
    (status, axum::Json(serde_json::json!({"result": taken, "returnCode": code, "message": message}))).into_response()
}

/// The tracking aggregator's push (Kuaidi100's form: `param` JSON and `sign` =
/// MD5(param + salt) in upper-case hex). Verified before anything is read; applied in one
/// transaction (events once, the state only forward); a refused push changes nothing.
pub async fn tracking_push(State(state): State<AppState>, body: Bytes) -> axum::response::Response {
    use axum::http::StatusCode;
    let Some(salt) = state.settings.logistics.tracking_salt.as_ref() else {
        return push_answer(StatusCode::NOT_FOUND, false, "tracking pushes are not configured");
    };
    let Ok(form) = serde_urlencoded::from_bytes::<PushForm>(&body) else {
        return push_answer(StatusCode::BAD_REQUEST, false, "the body must be a form with param and sign");
    };
    let push = match super::tracking::open(&form.param, &form.sign, secrecy::ExposeSecret::expose_secret(salt)) {
        Ok(push) => push,
        Err(error) => {
            tracing::warn!(%error, "tracking push refused");
            return push_answer(StatusCode::BAD_REQUEST, false, &error.to_string());
        }
    };
    let waybill = push.waybill.clone();
    match state.pushes.submit(push).await {
        Ok(super::PushOutcome::Applied { .. }) => push_answer(StatusCode::OK, true, "成功"),
        Ok(super::PushOutcome::UnknownWaybill) => {
            tracing::info!(%waybill, "tracking push for a waybill not recorded (yet); the aggregator will push again");
            push_answer(StatusCode::CONFLICT, false, "unknown waybill")
        }
        Err(error) => {
            tracing::error!(%error, %waybill, "tracking push not applied");
            push_answer(StatusCode::SERVICE_UNAVAILABLE, false, "not applied; push again")
        }
    }
}

/// The customer's view of an order's parcels: each waybill's unified state and its events,
/// newest first.
#[utoipa::path(get, path = "/api/v1/orders/{id}/tracking", params(doc::PathId),
    responses((status = 200, body = Vec<super::store::ParcelView>), doc::BadRequest, doc::Unauthorized, doc::Unavailable), tag = "logistics")]
pub async fn order_tracking(_: Reader, State(state): State<AppState>, Path(id): Path<u64>) -> Result<Json<Vec<super::store::ParcelView>>, ApiError> {
    Ok(Json(state.db.read(move |tx| store::parcels_of(tx, id)).await?))
}

/// A reconciliation run as the upload answers it: the run, and the rows that could not be read.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StatementAnswer {
    #[serde(flatten)]
    pub run: super::statement::StatementRun,
    /// The first 1,000 unreadable rows, by line and field.
    pub row_errors: Vec<RowError>,
}

/// Reconciles a carrier's statement for a month (CSV, header `waybill,ship_date,weight_g,
/// freight,total`; amounts in yuan) against the quotes made when our parcels were released:
/// every parcel not billed, billed twice, not ours, billed at another weight or amount, or
/// billed without a quote. The run is kept.
#[utoipa::path(post, path = "/api/v1/logistics/carriers/{code}/statements/{month}", request_body(content = String, content_type = "text/csv"),
    params(("code" = String, Path, pattern = "^[A-Z0-9]{2,16}$", description = "carrier code"), ("month" = String, Path, pattern = "^[0-9]{4}-[0-9]{2}$", description = "YYYY-MM, China time")),
    responses((status = 200, body = StatementAnswer), doc::BadRequest, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Unprocessable, doc::Unavailable), tag = "logistics")]
pub async fn reconcile_statement(_: Admin, State(state): State<AppState>, Path((code, month)): Path<(String, String)>, body: Bytes) -> Result<Json<StatementAnswer>, ApiError> {
    let (first, next) = super::statement::month_bounds(&month).ok_or_else(|| ApiError::unprocessable("invalid-field", "month must be YYYY-MM"))?;
    let (from_ms, to_ms) = (first.start_ms(super::CHINA_OFFSET_MS), next.start_ms(super::CHINA_OFFSET_MS));
    let parsed = card_csv::statement(&body).map_err(|e| ApiError::unprocessable("invalid-file", e.to_string()))?;
    let now = now_ms();
    let answer = state
        .write(move |tx| -> Result<_, LogisticsError> {
            if store::carrier(tx, &code)?.is_none() {
                return Err(LogisticsError::NotFound(format!("carrier {code}")));
            }
            let expected = store::expected_freight(tx, &code, from_ms, to_ms)?;
            // Billed parcels handed over in another month (late billing) are ours all the same.
            let in_month: HashSet<&str> = expected.iter().map(|e| e.waybill.as_str()).collect();
            let others: Vec<&str> = parsed.rows.iter().map(|b| b.waybill.as_str()).filter(|w| !in_month.contains(w)).collect();
            let elsewhere = store::expected_for_waybills(tx, &code, &others)?;
            let mut run = super::statement::StatementRun {
                id: 0,
                carrier: code.clone(),
                month: month.clone(),
                received_ms: now,
                lines: parsed.rows.len() as u64,
                billed_total: parsed.rows.iter().map(|b| b.total).sum(),
                expected_total: expected.iter().filter_map(|e| e.total).sum(),
                refused_rows: parsed.error_count as u64,
                differences: super::statement::reconcile(&expected, &elsewhere, &parsed.rows),
            };
            run.id = store::save_statement(tx, &run, now)?;
            Ok(StatementAnswer { run, row_errors: parsed.errors.clone() })
        })
        .await?;
    Ok(Json(answer))
}

/// A reconciliation run with its differences.
#[utoipa::path(get, path = "/api/v1/logistics/statements/{id}", params(doc::PathId),
    responses((status = 200, body = super::statement::StatementRun), doc::BadRequest, doc::Unauthorized, doc::NotFound, doc::Unavailable), tag = "logistics")]
pub async fn statement(_: Reader, State(state): State<AppState>, Path(id): Path<u64>) -> Result<Json<super::statement::StatementRun>, ApiError> {
    let run = state.db.read(move |tx| store::statement(tx, id)).await?;
    Ok(Json(run.ok_or_else(|| ApiError::NotFound(format!("statement run {id}")))?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct KpiPeriod {
    /// First day parcels were handed over (China time, `YYYY-MM-DD`); absent: the last 30 days.
    #[param(format = Date)]
    pub from: Option<String>,
    /// Last day, included; absent: today.
    #[param(format = Date)]
    pub to: Option<String>,
}

/// Carrier KPIs per carrier and destination province for parcels handed over in the period:
/// delivered rate, on-time rate against each order's promise, exception rate, average transit.
#[utoipa::path(get, path = "/api/v1/logistics/kpis", params(KpiPeriod),
    responses((status = 200, body = Vec<super::kpi::Kpi>), doc::BadRequest, doc::Unauthorized, doc::Unavailable), tag = "logistics")]
pub async fn kpis(_: Reader, State(state): State<AppState>, tote_shared::runtime::http::Query(q): tote_shared::runtime::http::Query<KpiPeriod>) -> Result<Json<Vec<super::kpi::Kpi>>, ApiError> {
    use tote_shared::calendar::{parse_day, DAY_MS};
    let day = |raw: &str| {
        parse_day(raw).map(|d| d * DAY_MS - super::CHINA_OFFSET_MS).ok_or_else(|| ApiError::BadRequest(format!("{:?} is not a date YYYY-MM-DD", raw.chars().take(20).collect::<String>())))
    };
    let today = rate_card_day(now_ms()) * DAY_MS - super::CHINA_OFFSET_MS;
    let to_ms = match q.to.as_deref() {
        Some(to) => day(to)? + DAY_MS,
        None => today + DAY_MS,
    };
    let from_ms = match q.from.as_deref() {
        Some(from) => day(from)?,
        None => to_ms - 30 * DAY_MS,
    };
    let counts = state.db.read(move |tx| store::kpi_counts(tx, from_ms, to_ms)).await?;
    Ok(Json(counts.iter().map(super::kpi::kpi).collect()))
}
