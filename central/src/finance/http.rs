//! `GET /api/v1/finance/trial-balance` and `GET /api/v1/finance/books.beancount`.

use super::alerts::{self, AlertPolicy, AlertScan, FinanceAlert};
use super::cashflow::{self, CashForecast};
use super::export;
use super::periods::{self, Period as PeriodView};
use super::statements::{
    balance_sheet, cash_flow, income_statement, BalanceSheet, CashFlowStatement, IncomeStatement,
};
use super::store::{self, Balance, LedgerLine, ProfitBy, ProfitRow};
use crate::auth::{Admin, Reader};
use crate::db::DbError;
use crate::http::error::ApiError;
use crate::startup::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::collections::BTreeMap;
use tote_shared::openapi as doc;
use tote_shared::runtime::http::{Json, Path, Query};

/// Entries read per query while exporting.
const PAGE: u32 = 2_000;
/// Most ledger lines one export holds (the response is built in memory).
const MAX_EXPORT_LINES: usize = 2_000_000;

/// Every account's balance (debits positive); the balances sum to zero.
#[utoipa::path(get, path = "/api/v1/finance/trial-balance",
    responses((status = 200, body = Vec<Balance>), doc::Unauthorized, doc::Unavailable), tag = "finance")]
pub async fn trial_balance(
    _: Reader,
    State(state): State<AppState>,
) -> Result<Json<Vec<Balance>>, ApiError> {
    Ok(Json(
        state
            .db
            .read(|tx| -> Result<_, DbError> { store::trial_balance(tx) })
            .await?,
    ))
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Period {
    /// First day (UTC, `YYYY-MM-DD`); absent: from the first entry.
    #[param(format = Date)]
    pub from: Option<String>,
    /// Last day, included; absent: up to now.
    #[param(format = Date)]
    pub to: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Statements {
    pub from: Option<String>,
    pub to: Option<String>,
    pub income_statement: IncomeStatement,
    /// At the end of the period.
    pub balance_sheet: BalanceSheet,
    pub cash_flow: CashFlowStatement,
}

/// UTC days since the epoch of a day `YYYY-MM-DD`.
fn day_number(day: &str) -> Result<i64, ApiError> {
    tote_shared::calendar::parse_day(day).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "{:?} is not a date YYYY-MM-DD",
            day.chars().take(20).collect::<String>()
        ))
    })
}

/// Days `[from, to]` as day numbers `[first, one past the last)`; absent ends are open.
fn day_range(from: Option<&str>, to: Option<&str>) -> Result<(i64, i64), ApiError> {
    let first = from.map(day_number).transpose()?.unwrap_or(i64::MIN);
    let end = to
        .map(|d| day_number(d).map(|day| day + 1))
        .transpose()?
        .unwrap_or(i64::MAX);
    Ok((first, end))
}

/// The income and cash-flow statements over a period (by posting date) and the balance sheet
/// at its end.
#[utoipa::path(get, path = "/api/v1/finance/statements", params(Period),
    responses((status = 200, body = Statements), doc::BadRequest, doc::Unauthorized, doc::Unavailable), tag = "finance")]
pub async fn statements(
    _: Reader,
    State(state): State<AppState>,
    Query(period): Query<Period>,
) -> Result<Json<Statements>, ApiError> {
    let (from, to) = day_range(period.from.as_deref(), period.to.as_deref())?;
    // A period that ends before it starts holds nothing (its statements are all zero).
    let (in_period, up_to_end) = state
        .db
        .read(move |tx| -> Result<_, DbError> {
            Ok((
                store::day_balances(tx, from, to, false)?,
                store::day_balances(tx, i64::MIN, to, true)?,
            ))
        })
        .await?;
    Ok(Json(Statements {
        from: period.from,
        to: period.to,
        income_statement: income_statement(&in_period),
        balance_sheet: balance_sheet(&up_to_end),
        cash_flow: cash_flow(&in_period),
    }))
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ProfitQuery {
    /// The dimension to group by.
    pub by: ProfitBy,
    /// First posting day (UTC, `YYYY-MM-DD`); absent: from the first.
    #[param(format = Date)]
    pub from: Option<String>,
    /// Last posting day, included; absent: up to now.
    #[param(format = Date)]
    pub to: Option<String>,
    /// Most rows (default 100, at most 10,000).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProfitReport {
    pub rows: Vec<ProfitRow>,
    /// Every row's sum, also those past `limit`: ties to the income statement's net revenue
    /// and cost of goods sold over the same days.
    pub total: ProfitRow,
}

/// Gross profit by SKU, SPU, category, brand, channel, warehouse or campaign over a period.
#[utoipa::path(get, path = "/api/v1/finance/profit", params(ProfitQuery),
    responses((status = 200, body = ProfitReport), doc::BadRequest, doc::Unauthorized, doc::Unavailable), tag = "finance")]
pub async fn profit(
    _: Reader,
    State(state): State<AppState>,
    Query(q): Query<ProfitQuery>,
) -> Result<Json<ProfitReport>, ApiError> {
    let (from, to) = day_range(q.from.as_deref(), q.to.as_deref())?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=10_000).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be 1 to 10000".into()));
    }
    let (rows, total) = state
        .db
        .read(move |tx| store::profit(tx, q.by, from, to, limit))
        .await?;
    Ok(Json(ProfitReport { rows, total }))
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ForecastQuery {
    /// Weeks ahead (default 13, at most 52).
    #[param(minimum = 1, maximum = 52)]
    pub weeks: Option<u32>,
}

/// The bank balance week by week: what channels hold and forecast sales coming in, supplier
/// invoices, received and ordered goods and carriers going out, each on its due date.
#[utoipa::path(get, path = "/api/v1/finance/cash-forecast", params(ForecastQuery),
    responses((status = 200, body = CashForecast), doc::BadRequest, doc::Unauthorized, doc::Unavailable), tag = "finance")]
pub async fn cash_forecast(
    _: Reader,
    State(state): State<AppState>,
    Query(q): Query<ForecastQuery>,
) -> Result<Json<CashForecast>, ApiError> {
    let weeks = q.weeks.unwrap_or(13);
    if !(1..=52).contains(&weeks) {
        return Err(ApiError::BadRequest("weeks must be 1 to 52".into()));
    }
    let now = crate::startup::now_ms();
    let (opening, flows, sales) = state
        .db
        .read(move |tx| cashflow::gather(tx, now, weeks as usize))
        .await?;
    Ok(Json(cashflow::project(
        opening,
        now,
        weeks as usize,
        &flows,
        sales,
    )))
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AlertsQuery {
    /// `open` (the default) or `all`.
    #[param(value_type = Option<String>, pattern = "^(open|all)$")]
    pub state: Option<String>,
    /// Most alerts (default 100, at most 1,000), newest first.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// Finance's threshold alerts: a category's gross margin, stock turnover, days of cash.
#[utoipa::path(get, path = "/api/v1/finance/alerts", params(AlertsQuery),
    responses((status = 200, body = Vec<FinanceAlert>), doc::BadRequest, doc::Unauthorized, doc::Unavailable), tag = "finance")]
pub async fn alerts_list(
    _: Reader,
    State(state): State<AppState>,
    Query(q): Query<AlertsQuery>,
) -> Result<Json<Vec<FinanceAlert>>, ApiError> {
    let open_only = match q.state.as_deref() {
        None | Some("open") => true,
        Some("all") => false,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "state {:?}: open or all",
                other.chars().take(20).collect::<String>()
            )))
        }
    };
    let limit = q.limit.unwrap_or(100);
    if !(1..=1_000).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be 1 to 1000".into()));
    }
    Ok(Json(
        state
            .db
            .read(move |tx| alerts::list(tx, open_only, limit))
            .await?,
    ))
}

/// Scans the thresholds now (the daemon also does hourly): raises and clears alerts.
#[utoipa::path(post, path = "/api/v1/finance/alerts/scan",
    responses((status = 200, body = AlertScan), doc::Unauthorized, doc::Forbidden, doc::Unavailable), tag = "finance")]
pub async fn alerts_scan(
    _: Admin,
    State(state): State<AppState>,
) -> Result<Json<AlertScan>, ApiError> {
    let now = crate::startup::now_ms();
    let outcome = state.db.write(move |tx| alerts::scan(tx, now)).await?;
    state.signals.written();
    Ok(Json(outcome))
}

#[utoipa::path(get, path = "/api/v1/finance/alerts/policy",
    responses((status = 200, body = AlertPolicy), doc::Unauthorized, doc::Unavailable), tag = "finance")]
pub async fn alert_policy(
    _: Reader,
    State(state): State<AppState>,
) -> Result<Json<AlertPolicy>, ApiError> {
    Ok(Json(state.db.read(alerts::policy).await?))
}

#[utoipa::path(put, path = "/api/v1/finance/alerts/policy", request_body = AlertPolicy,
    responses((status = 200, body = AlertPolicy), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::Unprocessable, doc::Unavailable), tag = "finance")]
pub async fn set_alert_policy(
    _: Admin,
    State(state): State<AppState>,
    Json(body): Json<AlertPolicy>,
) -> Result<Json<AlertPolicy>, ApiError> {
    let now = crate::startup::now_ms();
    Ok(Json(
        state
            .db
            .write(move |tx| alerts::set_policy(tx, &body, now))
            .await?,
    ))
}

/// Closes a month's books (HQ, once it is over, months in order): the ledger moves its income
/// and expenses to retained earnings; events dated in it that post later go into the open month.
#[utoipa::path(post, path = "/api/v1/finance/periods/{month}/close", params(("month" = String, Path, description = "`YYYY-MM`")),
    responses((status = 202, body = PeriodView, description = "Asked: the ledger posts the close after every event before it"), doc::Unauthorized, doc::Forbidden, doc::Conflict, doc::Unprocessable, doc::Unavailable), tag = "finance")]
pub async fn close_period(
    _: Admin,
    State(state): State<AppState>,
    Path(month): Path<String>,
) -> Result<(StatusCode, Json<PeriodView>), ApiError> {
    let now = crate::startup::now_ms();
    let period = state
        .db
        .write(move |tx| periods::close(tx, &month, "admin", now))
        .await?;
    state.signals.written();
    Ok((StatusCode::ACCEPTED, Json(period)))
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PeriodQuery {
    /// Most months (default 24, at most 240), newest first.
    #[param(minimum = 1, maximum = 240)]
    pub limit: Option<u32>,
}

/// Months asked to close, newest first (`closed_ms` once the ledger posted the close).
#[utoipa::path(get, path = "/api/v1/finance/periods", params(PeriodQuery),
    responses((status = 200, body = Vec<PeriodView>), doc::BadRequest, doc::Unauthorized, doc::Unavailable), tag = "finance")]
pub async fn periods(
    _: Reader,
    State(state): State<AppState>,
    Query(q): Query<PeriodQuery>,
) -> Result<Json<Vec<PeriodView>>, ApiError> {
    let limit = q.limit.unwrap_or(24);
    if !(1..=240).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be 1 to 240".into()));
    }
    Ok(Json(
        state.db.read(move |tx| periods::list(tx, limit)).await?,
    ))
}

/// The books in beancount's format: `bean-check` accepts them, FIFO lots included.
#[utoipa::path(get, path = "/api/v1/finance/books.beancount",
    responses((status = 200, content_type = "text/plain", body = String, description = "The ledger as a beancount file"), doc::Unauthorized, doc::Conflict, doc::Unavailable), tag = "finance")]
pub async fn beancount(_: Reader, State(state): State<AppState>) -> Result<Response, ApiError> {
    let lines = state
        .db
        .read(|tx| -> Result<_, DbError> {
            // Up to the newest entry when the export starts: a batch committed meanwhile is
            // left out whole (the reads are separate statements).
            let upto = store::last_entry(tx)?;
            let mut lines: Vec<LedgerLine> = Vec::new();
            let mut after = 0;
            loop {
                let page = store::lines_after(tx, after, upto, PAGE)?;
                let Some(last) = page.last().map(|l| l.entry_id) else {
                    break;
                };
                after = last;
                lines.extend(page);
                if lines.len() > MAX_EXPORT_LINES {
                    break;
                }
            }
            Ok(lines)
        })
        .await?;
    if lines.len() > MAX_EXPORT_LINES {
        let detail = format!(
            "the books hold more than {MAX_EXPORT_LINES} lines, more than one export answers"
        );
        return Err(ApiError::Conflict {
            slug: "books-too-large",
            detail,
        });
    }
    // Entry dates follow the journal's order, which on PostgreSQL need not be date order: each
    // transaction is dated no earlier than the one before, and accounts and commodities open
    // on the first (so adjusted) date they are used.
    let mut dated = Vec::with_capacity(lines.len());
    let mut day_floor = i64::MIN;
    for entry in lines.chunk_by(|a, b| a.entry_id == b.entry_id) {
        day_floor = day_floor.max(entry[0].at_ms);
        dated.push((day_floor, entry));
    }
    let (mut accounts, mut skus): (BTreeMap<String, i64>, BTreeMap<String, i64>) =
        (BTreeMap::new(), BTreeMap::new());
    for (at, entry) in &dated {
        for line in *entry {
            accounts.entry(line.account.clone()).or_insert(*at);
            if let Some((sku, ..)) = &line.lot {
                skus.entry(sku.clone()).or_insert(*at);
            }
        }
    }
    let mut text = export::header(&accounts, &skus);
    let last = dated.last().map(|(at, _)| *at);
    for (at, entry) in dated {
        text.push_str(&export::transaction(at, entry));
    }
    if let Some(last) = last {
        text.push_str(&export::balances(
            last + tote_shared::calendar::DAY_MS,
            &lines,
        ));
    }
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EntriesQuery {
    /// Entries with a line on this account or under it, e.g. `Income:Sales` (at most 200
    /// characters, none a control character).
    #[param(max_length = 200, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$")]
    pub account: Option<String>,
    /// Entries of the events about this subject, e.g. `order:42` (at most 200 characters, none a
    /// control character).
    #[param(max_length = 200, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$")]
    pub subject: Option<String>,
    /// First posting day (UTC, `YYYY-MM-DD`); absent: from the first entry.
    #[param(format = Date)]
    pub from: Option<String>,
    /// Last posting day, included; absent: up to now.
    #[param(format = Date)]
    pub to: Option<String>,
    /// Only entries older than this id: the next page.
    #[param(minimum = 1, maximum = 9223372036854775807_i64)]
    pub before: Option<i64>,
    /// At most 500; default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// The entries behind a statement line: those posting to an account (or under it) in a
/// period, or those of one order, each whole with the journal event that caused it. Newest
/// first, paged.
#[utoipa::path(get, path = "/api/v1/finance/entries", params(EntriesQuery),
    responses((status = 200, body = Vec<store::PostedEntry>), doc::BadRequest, doc::Unauthorized, doc::Forbidden, doc::Unavailable), tag = "finance")]
pub async fn entries(
    _: Reader,
    State(state): State<AppState>,
    Query(q): Query<EntriesQuery>,
) -> Result<Json<Vec<store::PostedEntry>>, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) || q.before.is_some_and(|b| b < 1) {
        return Err(ApiError::BadRequest(
            "limit must be 1 to 500, before positive".into(),
        ));
    }
    if q.account
        .as_ref()
        .is_some_and(|a| a.is_empty() || a.chars().count() > 200 || a.chars().any(char::is_control))
        || q.subject
            .as_ref()
            .is_some_and(|s| s.is_empty() || s.chars().count() > 200 || s.chars().any(char::is_control))
    {
        return Err(ApiError::BadRequest(
            "account and subject: 1 to 200 characters".into(),
        ));
    }
    let (from, to) = day_range(q.from.as_deref(), q.to.as_deref())?;
    let day_ms = |day: i64| day.saturating_mul(tote_shared::calendar::DAY_MS);
    let filter = store::EntryFilter {
        account: q.account,
        subject: q.subject,
        from_ms: day_ms(from),
        to_ms: day_ms(to),
        before: q.before.map(|b| b as u64),
    };
    Ok(Json(
        state
            .db
            .read(move |tx| store::entries(tx, &filter, limit))
            .await?,
    ))
}
