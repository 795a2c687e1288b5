//! Procurement routes: HQ's purchase orders, invoice queue and tolerances under
//! `/api/v1/purchase-orders`, `/api/v1/supplier-invoices` and `/api/v1/procurement`; and the
//! supplier API under `/api/v1/supplier/`, where a supplier's credential sees and touches only
//! its own orders, ASNs and invoices.

use super::flow::{self, Draft, Invoice, Shipment};
use super::scorecard::{self, Scorecard, Statement};
use super::suggestions::{self, ReplenishmentPolicy, Suggestion};
use super::{store, Asn, AsnLine, SupplierInvoiceLine, InvoiceState, PoState, ProcurementError, PurchaseOrder, SupplierInvoice, Tolerance, MAX_LINES};
use crate::auth::{Admin, Reader, SupplierCaller};
use crate::http::check_text;
use crate::http::error::ApiError;
use crate::http::keyed::{keyed_write, Keyed};
use crate::startup::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tote_shared::openapi as doc;
use tote_shared::runtime::http::{Json, Path, Query};
use tote_shared::runtime::system::now_ms;
use tote_shared::sync::OrderLine;
use tote_shared::{Money, WarehouseCode};

impl From<ProcurementError> for ApiError {
    fn from(e: ProcurementError) -> Self {
        let detail = e.to_string();
        match e {
            ProcurementError::NotFound(what) => ApiError::NotFound(what),
            ProcurementError::Duplicate(_) => ApiError::Conflict { slug: "duplicate", detail },
            ProcurementError::Refused(_) => ApiError::unprocessable("procurement-refused", detail),
            ProcurementError::Db(e) => e.into(),
        }
    }
}

fn check_lines<T>(lines: &[T]) -> Result<(), ApiError> {
    if lines.is_empty() || lines.len() > MAX_LINES {
        return Err(ApiError::unprocessable("invalid-lines", format!("1 to {MAX_LINES} lines")));
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPurchaseOrder {
    #[schema(pattern = "^[A-Z0-9-]{2,32}$")]
    pub supplier: String,
    pub warehouse: WarehouseCode,
    /// Each SKU once, at least the supplier's MOQ.
    #[schema(min_items = 1, max_items = 500)]
    pub lines: Vec<OrderLine>,
    #[serde(default)]
    #[schema(value_type = doc::Text300)]
    pub note: String,
}

/// A draft purchase order at the supplier's prices in force (price breaks applied).
#[utoipa::path(post, path = "/api/v1/purchase-orders", params(doc::RequiredIdempotencyKey), request_body = NewPurchaseOrder,
    responses((status = 201, body = PurchaseOrder), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Unavailable), tag = "procurement")]
pub async fn create(_: Admin, State(state): State<AppState>, key: Keyed, Json(body): Json<NewPurchaseOrder>) -> Result<Response, ApiError> {
    let request = key.required(&body)?;
    check_lines(&body.lines)?;
    if !body.note.is_empty() {
        check_text("note", &body.note, 300)?;
    }
    let draft = Draft { supplier: body.supplier, warehouse: body.warehouse, lines: body.lines, note: body.note };
    let now = now_ms();
    keyed_write(&state, Some(request), StatusCode::CREATED, move |tx| flow::create(tx, &draft, now)).await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct OrdersQuery {
    #[param(value_type = Option<String>, pattern = "^(draft|sent|confirmed|rejected|receiving|closed|cancelled)$")]
    pub state: Option<String>,
    #[param(value_type = Option<String>, pattern = "^[A-Z0-9-]{2,32}$")]
    pub supplier: Option<String>,
    /// Default 100, at most 1,000.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

fn state_filter(raw: Option<&str>) -> Result<Option<PoState>, ApiError> {
    raw.map(|r| PoState::parse(r).ok_or_else(|| ApiError::BadRequest(format!("unknown state {r}")))).transpose()
}

fn limit(raw: Option<u32>) -> Result<u32, ApiError> {
    let limit = raw.unwrap_or(100);
    if (1..=1000).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::BadRequest("limit must be between 1 and 1000".into()))
    }
}

/// Purchase orders, newest first.
#[utoipa::path(get, path = "/api/v1/purchase-orders", params(OrdersQuery),
    responses((status = 200, body = Vec<PurchaseOrder>), doc::BadRequest, doc::Unauthorized, doc::Unavailable), tag = "procurement")]
pub async fn list(_: Reader, State(state): State<AppState>, Query(q): Query<OrdersQuery>) -> Result<Json<Vec<PurchaseOrder>>, ApiError> {
    let (filter, limit) = (state_filter(q.state.as_deref())?, limit(q.limit)?);
    if q.supplier.as_deref().is_some_and(|s| !crate::supplier::valid_id(s)) {
        return Err(ApiError::BadRequest("supplier: 2 to 32 capital letters, digits or '-'".into()));
    }
    Ok(Json(state.db.read(move |tx| store::list(tx, filter, q.supplier.as_deref(), false, limit)).await?))
}

/// A purchase order with its ASNs (what arrived of each) and invoices.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PurchaseOrderView {
    #[serde(flatten)]
    pub order: PurchaseOrder,
    pub asns: Vec<Asn>,
    pub invoices: Vec<SupplierInvoice>,
}

fn view(tx: &mut dyn crate::db::Tx, order: PurchaseOrder) -> Result<PurchaseOrderView, ProcurementError> {
    let asns = store::asns_of(tx, order.id)?;
    let invoices = store::invoices(tx, None, None, Some(order.id), 1000)?;
    Ok(PurchaseOrderView { order, asns, invoices })
}

#[utoipa::path(get, path = "/api/v1/purchase-orders/{id}", params(doc::PathId),
    responses((status = 200, body = PurchaseOrderView), doc::BadRequest, doc::Unauthorized, doc::NotFound, doc::Unavailable), tag = "procurement")]
pub async fn get(_: Reader, State(state): State<AppState>, Path(id): Path<u64>) -> Result<Json<PurchaseOrderView>, ApiError> {
    Ok(Json(state.db.read(move |tx| { let po = flow::load(tx, id, false)?; view(tx, po) }).await?))
}

/// Approves a draft: it is sent to the supplier (on the supplier API).
#[utoipa::path(post, path = "/api/v1/purchase-orders/{id}/approve", params(doc::PathId),
    responses((status = 200, body = PurchaseOrder), doc::BadRequest, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Unavailable), tag = "procurement")]
pub async fn approve(_: Admin, State(state): State<AppState>, Path(id): Path<u64>) -> Result<Json<PurchaseOrder>, ApiError> {
    let now = now_ms();
    Ok(Json(state.write(move |tx| flow::approve(tx, id, now)).await?))
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Because {
    #[schema(value_type = doc::Text300)]
    pub reason: String,
}

/// Cancels an order nothing has shipped on.
#[utoipa::path(post, path = "/api/v1/purchase-orders/{id}/cancel", params(doc::PathId), request_body = Because,
    responses((status = 200, body = PurchaseOrder), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Unavailable), tag = "procurement")]
pub async fn cancel(_: Admin, State(state): State<AppState>, Path(id): Path<u64>, Json(body): Json<Because>) -> Result<Json<PurchaseOrder>, ApiError> {
    check_text("reason", &body.reason, 300)?;
    let now = now_ms();
    Ok(Json(state.write(move |tx| flow::cancel(tx, id, &body.reason, now)).await?))
}

/// Closes a confirmed or receiving order short: nothing more is expected.
#[utoipa::path(post, path = "/api/v1/purchase-orders/{id}/close", params(doc::PathId), request_body = Because,
    responses((status = 200, body = PurchaseOrder), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Unavailable), tag = "procurement")]
pub async fn close(_: Admin, State(state): State<AppState>, Path(id): Path<u64>, Json(body): Json<Because>) -> Result<Json<PurchaseOrder>, ApiError> {
    check_text("reason", &body.reason, 300)?;
    let now = now_ms();
    Ok(Json(state.write(move |tx| flow::close_short(tx, id, &body.reason, now)).await?))
}

/// A landed cost of an order's received goods.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLandedCost {
    /// Minor units, above zero.
    pub amount: Money,
    /// Who billed it (a carrier, forwarder or customs broker code).
    #[schema(pattern = "^[A-Za-z0-9-]{1,32}$")]
    pub payee: String,
    /// Their bill's number.
    #[schema(pattern = "^[A-Za-z0-9-]{1,40}$")]
    pub reference: String,
}

/// Books a landed cost (inbound freight, duty) onto an order's received goods, by their value:
/// finance puts the share of the units still on hand into their cost, the rest into cost of
/// goods sold, and owes the payee.
#[utoipa::path(post, path = "/api/v1/purchase-orders/{id}/landed-costs", params(doc::PathId, doc::RequiredIdempotencyKey), request_body = NewLandedCost,
    responses((status = 201, body = PurchaseOrder), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Unprocessable, doc::Unavailable), tag = "procurement")]
pub async fn landed_cost(_: Admin, State(state): State<AppState>, Path(id): Path<u64>, key: Keyed, Json(body): Json<NewLandedCost>) -> Result<Response, ApiError> {
    let request = key.required(&body)?;
    let code = |text: &str, most: usize| (1..=most).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !code(&body.payee, 32) || !code(&body.reference, 40) {
        return Err(ApiError::unprocessable("invalid-field", "payee: 1 to 32 and reference: 1 to 40 of A-Z, a-z, 0-9 and -"));
    }
    let now = now_ms();
    keyed_write(&state, Some(request), StatusCode::CREATED, move |tx| flow::landed_cost(tx, id, &body.payee, &body.reference, body.amount, now)).await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InvoicesQuery {
    /// `held` is HQ's exception queue.
    #[param(value_type = Option<String>, pattern = "^(approved|held|rejected)$")]
    pub state: Option<String>,
    /// Default 100, at most 1,000.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

fn invoice_filter(raw: Option<&str>) -> Result<Option<InvoiceState>, ApiError> {
    raw.map(|r| InvoiceState::parse(r).ok_or_else(|| ApiError::BadRequest(format!("unknown state {r}")))).transpose()
}

/// Supplier invoices, newest first: `state=held` is the exception list.
#[utoipa::path(get, path = "/api/v1/supplier-invoices", params(InvoicesQuery),
    responses((status = 200, body = Vec<SupplierInvoice>), doc::BadRequest, doc::Unauthorized, doc::Unavailable), tag = "procurement")]
pub async fn invoices(_: Reader, State(state): State<AppState>, Query(q): Query<InvoicesQuery>) -> Result<Json<Vec<SupplierInvoice>>, ApiError> {
    let (filter, limit) = (invoice_filter(q.state.as_deref())?, limit(q.limit)?);
    Ok(Json(state.db.read(move |tx| store::invoices(tx, filter, None, None, limit)).await?))
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoiceDecision {
    /// Approve for payment despite the differences, or reject.
    pub approve: bool,
    #[schema(value_type = doc::Text300)]
    pub note: String,
}

/// Decides a held invoice by hand.
#[utoipa::path(post, path = "/api/v1/supplier-invoices/{id}/decision", params(doc::PathId), request_body = InvoiceDecision,
    responses((status = 200, body = SupplierInvoice), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Unavailable), tag = "procurement")]
pub async fn decide(_: Admin, State(state): State<AppState>, Path(id): Path<u64>, Json(body): Json<InvoiceDecision>) -> Result<Json<SupplierInvoice>, ApiError> {
    check_text("note", &body.note, 300)?;
    let now = now_ms();
    Ok(Json(state.write(move |tx| flow::decide(tx, id, body.approve, &body.note, now)).await?))
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoicePayment {
    /// The bank transfer's reference.
    #[schema(pattern = "^[A-Za-z0-9-]{1,40}$")]
    pub reference: String,
}

/// HQ paid an approved invoice: once (a second payment is refused); finance moves its total
/// from what is owed the supplier to the bank.
#[utoipa::path(post, path = "/api/v1/supplier-invoices/{id}/payment", params(doc::PathId, doc::IdempotencyKey), request_body = InvoicePayment,
    responses((status = 200, body = SupplierInvoice), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Unavailable), tag = "procurement")]
pub async fn pay(_: Admin, State(state): State<AppState>, Path(id): Path<u64>, key: Keyed, Json(body): Json<InvoicePayment>) -> Result<Response, ApiError> {
    crate::http::check_reference(&body.reference)?;
    let request = key.fingerprint(&body)?;
    let now = now_ms();
    keyed_write(&state, request, StatusCode::OK, move |tx| flow::pay(tx, id, &body.reference, now)).await
}

/// The three-way match's tolerances.
#[utoipa::path(get, path = "/api/v1/procurement/policy",
    responses((status = 200, body = Tolerance), doc::Unauthorized, doc::Unavailable), tag = "procurement")]
pub async fn policy(_: Reader, State(state): State<AppState>) -> Result<Json<Tolerance>, ApiError> {
    Ok(Json(state.db.read(flow::tolerance).await?))
}

#[utoipa::path(put, path = "/api/v1/procurement/policy", request_body = Tolerance,
    responses((status = 200, body = Tolerance), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::Unavailable), tag = "procurement")]
pub async fn set_policy(_: Admin, State(state): State<AppState>, Json(body): Json<Tolerance>) -> Result<Json<Tolerance>, ApiError> {
    let now = now_ms();
    Ok(Json(state.write(move |tx| flow::set_tolerance(tx, &body, now)).await?))
}

// The supplier API.

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MyOrdersQuery {
    #[param(value_type = Option<String>, pattern = "^(sent|confirmed|rejected|receiving|closed|cancelled)$")]
    pub state: Option<String>,
    /// Default 100, at most 1,000.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// The caller's purchase orders, newest first (drafts are HQ's and not shown).
#[utoipa::path(get, path = "/api/v1/supplier/purchase-orders", params(MyOrdersQuery), security(("supplier" = [])),
    responses((status = 200, body = Vec<PurchaseOrder>), doc::BadRequest, doc::Unauthorized, doc::Forbidden, doc::Unavailable), tag = "supplier-api")]
pub async fn my_orders(SupplierCaller(me): SupplierCaller, State(state): State<AppState>, Query(q): Query<MyOrdersQuery>) -> Result<Json<Vec<PurchaseOrder>>, ApiError> {
    let (filter, limit) = (state_filter(q.state.as_deref())?, limit(q.limit)?);
    if filter == Some(PoState::Draft) {
        return Err(ApiError::BadRequest("drafts are not sent yet".into()));
    }
    Ok(Json(state.db.read(move |tx| store::list(tx, filter, Some(&me), true, limit)).await?))
}

/// One of the caller's purchase orders, with its ASNs and invoices.
#[utoipa::path(get, path = "/api/v1/supplier/purchase-orders/{id}", params(doc::PathId), security(("supplier" = [])),
    responses((status = 200, body = PurchaseOrderView), doc::BadRequest, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Unavailable), tag = "supplier-api")]
pub async fn my_order(SupplierCaller(me): SupplierCaller, State(state): State<AppState>, Path(id): Path<u64>) -> Result<Json<PurchaseOrderView>, ApiError> {
    let found = state
        .db
        .read(move |tx| {
            let po = flow::load_for(tx, &me, id, false)?;
            if po.state == PoState::Draft {
                return Err(ProcurementError::NotFound(format!("purchase order {id}")));
            }
            view(tx, po)
        })
        .await?;
    Ok(Json(found))
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PoConfirmation {
    /// The delivery date promised.
    #[schema(minimum = 0)]
    pub promised_ms: i64,
    /// SKUs confirmed for fewer units than ordered; the others are confirmed in full.
    #[serde(default)]
    #[schema(max_items = 500)]
    pub lines: Vec<OrderLine>,
}

/// The supplier confirms a sent order for a date.
#[utoipa::path(post, path = "/api/v1/supplier/purchase-orders/{id}/confirm", params(doc::PathId), request_body = PoConfirmation, security(("supplier" = [])),
    responses((status = 200, body = PurchaseOrder), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Unavailable), tag = "supplier-api")]
pub async fn confirm(SupplierCaller(me): SupplierCaller, State(state): State<AppState>, Path(id): Path<u64>, Json(body): Json<PoConfirmation>) -> Result<Json<PurchaseOrder>, ApiError> {
    if body.lines.len() > MAX_LINES {
        return Err(ApiError::unprocessable("invalid-lines", format!("at most {MAX_LINES} lines")));
    }
    let now = now_ms();
    Ok(Json(state.write(move |tx| flow::confirm(tx, &me, id, body.promised_ms, &body.lines, now)).await?))
}

/// The supplier turns a sent order down.
#[utoipa::path(post, path = "/api/v1/supplier/purchase-orders/{id}/reject", params(doc::PathId), request_body = Because, security(("supplier" = [])),
    responses((status = 200, body = PurchaseOrder), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Unavailable), tag = "supplier-api")]
pub async fn reject(SupplierCaller(me): SupplierCaller, State(state): State<AppState>, Path(id): Path<u64>, Json(body): Json<Because>) -> Result<Json<PurchaseOrder>, ApiError> {
    check_text("reason", &body.reason, 300)?;
    let now = now_ms();
    Ok(Json(state.write(move |tx| flow::reject(tx, &me, id, &body.reason, now)).await?))
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAsn {
    pub po: u64,
    /// The supplier's shipment number, once per supplier.
    #[schema(pattern = "^[A-Za-z0-9-]{1,40}$")]
    pub reference: String,
    #[schema(minimum = 0)]
    pub shipped_ms: i64,
    #[schema(minimum = 0)]
    pub eta_ms: i64,
    #[schema(min_items = 1, max_items = 500)]
    pub lines: Vec<AsnLine>,
}


/// The supplier ships against a confirmed order: the answer's `delivery` is the number the
/// warehouse receives it under (print it on the delivery note).
#[utoipa::path(post, path = "/api/v1/supplier/asns", params(doc::RequiredIdempotencyKey), request_body = NewAsn, security(("supplier" = [])),
    responses((status = 201, body = Asn), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Conflict, doc::Unavailable), tag = "supplier-api")]
pub async fn ship(SupplierCaller(me): SupplierCaller, State(state): State<AppState>, key: Keyed, Json(body): Json<NewAsn>) -> Result<Response, ApiError> {
    let request = key.required(&body)?;
    crate::http::check_reference(&body.reference)?;
    check_lines(&body.lines)?;
    let shipment = Shipment { po: body.po, reference: body.reference, shipped_ms: body.shipped_ms, eta_ms: body.eta_ms, lines: body.lines };
    let now = now_ms();
    keyed_write(&state, Some(request), StatusCode::CREATED, move |tx| flow::ship(tx, &me, &shipment, now)).await
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInvoice {
    pub po: u64,
    /// The supplier's invoice number, once per supplier.
    #[schema(pattern = "^[A-Za-z0-9-]{1,40}$")]
    pub reference: String,
    #[schema(min_items = 1, max_items = 500)]
    pub lines: Vec<SupplierInvoiceLine>,
    /// The total the invoice states, before VAT.
    pub total: Money,
    /// The input VAT it charges on top (at most 13 % of `total`); absent: none.
    #[serde(default)]
    pub tax: Money,
}

/// The supplier invoices received goods of an order: matched at once against the order and
/// the receipts; the answer says approved (to be paid) or held, with the differences.
#[utoipa::path(post, path = "/api/v1/supplier/invoices", params(doc::RequiredIdempotencyKey), request_body = NewInvoice, security(("supplier" = [])),
    responses((status = 201, body = SupplierInvoice), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Conflict, doc::Unavailable), tag = "supplier-api")]
pub async fn invoice(SupplierCaller(me): SupplierCaller, State(state): State<AppState>, key: Keyed, Json(body): Json<NewInvoice>) -> Result<Response, ApiError> {
    let request = key.required(&body)?;
    crate::http::check_reference(&body.reference)?;
    check_lines(&body.lines)?;
    let inv = Invoice { po: body.po, reference: body.reference, lines: body.lines, total: body.total, tax: body.tax };
    let now = now_ms();
    keyed_write(&state, Some(request), StatusCode::CREATED, move |tx| flow::invoice(tx, &me, &inv, now)).await
}

/// The caller's invoices, newest first.
#[utoipa::path(get, path = "/api/v1/supplier/invoices", params(InvoicesQuery), security(("supplier" = [])),
    responses((status = 200, body = Vec<SupplierInvoice>), doc::BadRequest, doc::Unauthorized, doc::Forbidden, doc::Unavailable), tag = "supplier-api")]
pub async fn my_invoices(SupplierCaller(me): SupplierCaller, State(state): State<AppState>, Query(q): Query<InvoicesQuery>) -> Result<Json<Vec<SupplierInvoice>>, ApiError> {
    let (filter, limit) = (invoice_filter(q.state.as_deref())?, limit(q.limit)?);
    Ok(Json(state.db.read(move |tx| store::invoices(tx, filter, Some(&me), None, limit)).await?))
}

// Replenishment.

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SuggestionsQuery {
    #[param(value_type = String, pattern = "^[A-Z]{2,4}-[0-9]{2}$")]
    pub warehouse: WarehouseCode,
}

async fn suggest_for(state: &AppState, warehouse: WarehouseCode) -> Result<Vec<Suggestion>, ApiError> {
    let now = now_ms();
    let snapshot = state.db.read(move |tx| suggestions::snapshot(tx, &warehouse, now)).await?;
    // The forecasts are the costly part: off the async workers, outside any transaction.
    tokio::task::spawn_blocking(move || suggestions::plan(&snapshot)).await.map_err(|e| ApiError::Internal(e.to_string()))
}

/// What to order for a warehouse now, per supplier: every SKU an approved supplier has a price
/// for whose inventory position (sellable, in transit, on open orders) is at or below its
/// reorder point, with the forecast (method, pattern, error), the levels and the supplier's
/// terms that set it.
#[utoipa::path(get, path = "/api/v1/replenishment/suggestions", params(SuggestionsQuery),
    responses((status = 200, body = Vec<Suggestion>), doc::BadRequest, doc::Unauthorized, doc::Unavailable), tag = "procurement")]
pub async fn suggestions(_: Reader, State(state): State<AppState>, Query(q): Query<SuggestionsQuery>) -> Result<Json<Vec<Suggestion>>, ApiError> {
    Ok(Json(suggest_for(&state, q.warehouse).await?))
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DraftsRequest {
    pub warehouse: WarehouseCode,
}

/// The buyer takes the suggestions as they stand now: one draft purchase order per supplier
/// (each then approved on its own). Keyed: a retry makes no second set.
#[utoipa::path(post, path = "/api/v1/replenishment/drafts", params(doc::RequiredIdempotencyKey), request_body = DraftsRequest,
    responses((status = 201, body = Vec<PurchaseOrder>), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Unavailable), tag = "procurement")]
pub async fn drafts(_: Admin, State(state): State<AppState>, key: Keyed, Json(body): Json<DraftsRequest>) -> Result<Response, ApiError> {
    let request = key.required(&body)?;
    let planned = suggest_for(&state, body.warehouse).await?;
    let now = now_ms();
    keyed_write(&state, Some(request), StatusCode::CREATED, move |tx| suggestions::drafts(tx, &planned, now)).await
}

#[utoipa::path(get, path = "/api/v1/replenishment/policy",
    responses((status = 200, body = ReplenishmentPolicy), doc::Unauthorized, doc::Unavailable), tag = "procurement")]
pub async fn replenishment_policy(_: Reader, State(state): State<AppState>) -> Result<Json<ReplenishmentPolicy>, ApiError> {
    Ok(Json(state.db.read(suggestions::policy).await?))
}

#[utoipa::path(put, path = "/api/v1/replenishment/policy", request_body = ReplenishmentPolicy,
    responses((status = 200, body = ReplenishmentPolicy), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::Unavailable), tag = "procurement")]
pub async fn set_replenishment_policy(_: Admin, State(state): State<AppState>, Json(body): Json<ReplenishmentPolicy>) -> Result<Json<ReplenishmentPolicy>, ApiError> {
    let now = now_ms();
    Ok(Json(state.write(move |tx| suggestions::set_policy(tx, &body, now)).await?))
}

// Scorecards and statements.

fn check_supplier(tx: &mut dyn crate::db::Tx, id: &str) -> Result<(), ProcurementError> {
    crate::supplier::store::load(tx, id, false)?.map(|_| ()).ok_or_else(|| ProcurementError::NotFound(format!("supplier {id}")))
}

fn check_month(month: &str) -> Result<(), ApiError> {
    scorecard::month_bounds(month).map(|_| ()).ok_or_else(|| ApiError::BadRequest(format!("month {month:?}: write it YYYY-MM, from 1970-01")))
}

/// A supplier measured from our own records, per month and overall: on-time delivery against
/// the confirmed date, fill rate of closed orders, QC pass rate at receiving; and its price
/// index against the cheapest approved supplier today.
#[utoipa::path(get, path = "/api/v1/suppliers/{id}/scorecard", params(("id" = String, Path, description = "The supplier's code", pattern = "^[A-Z0-9-]{2,32}$")),
    responses((status = 200, body = Scorecard), doc::Unauthorized, doc::NotFound, doc::Unavailable), tag = "suppliers")]
pub async fn scorecard(_: Reader, State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Scorecard>, ApiError> {
    let now = now_ms();
    Ok(Json(state.db.read(move |tx| { check_supplier(tx, &id)?; scorecard::scorecard(tx, &id, now) }).await?))
}

/// A supplier's month: the goods received that passed QC at the orders' unit costs, the
/// invoices approved, what is still to be invoiced.
#[utoipa::path(get, path = "/api/v1/suppliers/{id}/statements/{month}", params(("id" = String, Path, description = "The supplier's code", pattern = "^[A-Z0-9-]{2,32}$"), ("month" = String, Path, description = "YYYY-MM, from 1970-01", pattern = "^(19[7-9][0-9]|[2-9][0-9]{3})-(0[1-9]|1[0-2])$")),
    responses((status = 200, body = Statement), doc::BadRequest, doc::Unauthorized, doc::NotFound, doc::Unavailable), tag = "suppliers")]
pub async fn statement(_: Reader, State(state): State<AppState>, Path((id, month)): Path<(String, String)>) -> Result<Json<Statement>, ApiError> {
    check_month(&month)?;
    Ok(Json(state.db.read(move |tx| { check_supplier(tx, &id)?; scorecard::statement(tx, &id, &month) }).await?))
}

/// The caller's statement for a month.
#[utoipa::path(get, path = "/api/v1/supplier/statements/{month}", params(("month" = String, Path, description = "YYYY-MM, from 1970-01", pattern = "^(19[7-9][0-9]|[2-9][0-9]{3})-(0[1-9]|1[0-2])$")), security(("supplier" = [])),
    responses((status = 200, body = Statement), doc::BadRequest, doc::Unauthorized, doc::Forbidden, doc::Unavailable), tag = "supplier-api")]
pub async fn my_statement(SupplierCaller(me): SupplierCaller, State(state): State<AppState>, Path(month): Path<String>) -> Result<Json<Statement>, ApiError> {
    check_month(&month)?;
    Ok(Json(state.db.read(move |tx| scorecard::statement(tx, &me, &month)).await?))
}

/// Moves a supplier's onboarding on: submit (documents complete), approve, send back,
/// suspend, reinstate, exit. Exiting also ends the supplier's API credential and cancels its
/// orders nothing has shipped on (what is on the road stays, for HQ to receive or close short).
#[utoipa::path(post, path = "/api/v1/suppliers/{id}/steps", params(("id" = String, Path, description = "The supplier's code", pattern = "^[A-Z0-9-]{2,32}$")), request_body = crate::supplier::http::StepRequest,
    responses((status = 200, body = crate::supplier::Supplier), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Unavailable), tag = "suppliers")]
pub async fn supplier_step(_: Admin, State(state): State<AppState>, Path(id): Path<String>, Json(body): Json<crate::supplier::http::StepRequest>) -> Result<Json<crate::supplier::Supplier>, ApiError> {
    if let Some(reason) = &body.reason {
        check_text("reason", reason, 300)?;
    }
    let now = now_ms();
    let s = state
        .write(move |tx| -> Result<_, ApiError> {
            // The step's own refusals keep their problem type (`supplier-refused`).
            let s = crate::supplier::take_step(tx, &id, body.step, body.reason.as_deref(), now)?;
            if s.state == crate::supplier::SupplierState::Exited {
                flow::supplier_exited(tx, &id, body.reason.as_deref().unwrap_or("no reason given"), now)?;
            }
            Ok(s)
        })
        .await?;
    Ok(Json(s))
}
