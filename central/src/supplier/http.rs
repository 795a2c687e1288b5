//! HQ's supplier routes: onboarding, documents, the supplier-API credential and contract prices.

use super::{check_terms, store, valid_id, Document, PriceTerms, SupplierStep, Supplier, SupplierError, SupplierPrice, SupplierState, MAX_DOCUMENTS};
use super::submissions::{self, Submission, SubmissionDecision, SubmissionState, Submitted};
use crate::auth::{hash_token, Admin, Reader, SupplierCaller};
use crate::http::check_text;
use crate::http::error::ApiError;
use crate::http::keyed::{keyed_write, Keyed};
use crate::startup::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use tote_shared::openapi as doc;
use tote_shared::runtime::http::{Json, Path, Query};
use tote_shared::runtime::system::now_ms;
use tote_shared::Sku;

impl From<SupplierError> for ApiError {
    fn from(e: SupplierError) -> Self {
        let detail = e.to_string();
        match e {
            SupplierError::NotFound(what) => ApiError::NotFound(what),
            SupplierError::Duplicate(_) => ApiError::Conflict { slug: "duplicate", detail },
            SupplierError::Refused(_) => ApiError::unprocessable("supplier-refused", detail),
            SupplierError::Db(e) => e.into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSupplier {
    #[schema(pattern = "^[A-Z0-9-]{2,32}$")]
    pub id: String,
    #[schema(value_type = doc::Text200)]
    pub name: String,
    #[schema(value_type = doc::Text300)]
    pub contact: String,
    #[serde(default)]
    #[schema(max_items = 20)]
    pub documents: Vec<Document>,
}

/// What HQ may change of a supplier in any state but exited.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SupplierEdit {
    #[schema(value_type = doc::Text200)]
    pub name: String,
    #[schema(value_type = doc::Text300)]
    pub contact: String,
    #[schema(max_items = 20)]
    pub documents: Vec<Document>,
    /// Days from an invoice's approval to its payment (0 to 365); absent: kept as it is.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 365)]
    pub payment_terms_days: Option<u32>,
}

fn check_details(name: &str, contact: &str, documents: &[Document]) -> Result<(), ApiError> {
    check_text("name", name, 200)?;
    check_text("contact", contact, 300)?;
    if documents.len() > MAX_DOCUMENTS {
        return Err(ApiError::unprocessable("invalid-field", format!("documents: at most {MAX_DOCUMENTS}")));
    }
    documents.iter().try_for_each(|d| check_text("documents.reference", &d.reference, 100))
}

fn check_id(id: &str) -> Result<(), ApiError> {
    if valid_id(id) {
        Ok(())
    } else {
        Err(ApiError::unprocessable("invalid-field", "id: 2 to 32 capital letters, digits or '-'"))
    }
}

/// A supplier as HQ first enters it: a draft, with what documents there are so far.
#[utoipa::path(post, path = "/api/v1/suppliers", params(doc::IdempotencyKey), request_body = NewSupplier,
    responses((status = 201, body = Supplier), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::Conflict, doc::Unavailable), tag = "suppliers")]
pub async fn create(_: Admin, State(state): State<AppState>, key: Keyed, Json(body): Json<NewSupplier>) -> Result<Response, ApiError> {
    check_id(&body.id)?;
    check_details(&body.name, &body.contact, &body.documents)?;
    let request = key.fingerprint(&body)?;
    let now = now_ms();
    keyed_write(&state, request, StatusCode::CREATED, move |tx| {
        if !store::insert(tx, &body.id, &body.name, &body.contact, &body.documents, now)? {
            return Err(SupplierError::Duplicate(format!("supplier {}", body.id)));
        }
        crate::audit::store::append(tx, now, "admin", "supplier_created", &format!("supplier:{}", body.id), &serde_json::json!({ "name": body.name }))?;
        store::load(tx, &body.id, false)?.ok_or_else(|| SupplierError::NotFound(format!("supplier {}", body.id)))
    })
    .await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SuppliersQuery {
    #[param(value_type = Option<String>, pattern = "^(draft|pending|approved|suspended|exited)$")]
    pub state: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/suppliers", params(SuppliersQuery),
    responses((status = 200, body = Vec<Supplier>), doc::BadRequest, doc::Unauthorized, doc::Unavailable), tag = "suppliers")]
pub async fn list(_: Reader, State(state): State<AppState>, Query(q): Query<SuppliersQuery>) -> Result<Json<Vec<Supplier>>, ApiError> {
    let filter = match q.state.as_deref() {
        Some(raw) => Some(SupplierState::parse(raw).ok_or_else(|| ApiError::BadRequest(format!("unknown state {raw}")))?),
        None => None,
    };
    Ok(Json(state.db.read(move |tx| store::list(tx, filter)).await?))
}

fn found(id: &str, s: Option<Supplier>) -> Result<Supplier, SupplierError> {
    s.ok_or_else(|| SupplierError::NotFound(format!("supplier {id}")))
}

#[utoipa::path(get, path = "/api/v1/suppliers/{id}", params(("id" = String, Path, description = "The supplier's code", pattern = "^[A-Z0-9-]{2,32}$")),
    responses((status = 200, body = Supplier), doc::Unauthorized, doc::NotFound, doc::Unavailable), tag = "suppliers")]
pub async fn get(_: Reader, State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Supplier>, ApiError> {
    let s = state.db.read(move |tx| -> Result<_, SupplierError> { found(&id, store::load(tx, &id, false)?) }).await?;
    Ok(Json(s))
}

#[utoipa::path(put, path = "/api/v1/suppliers/{id}", params(("id" = String, Path, description = "The supplier's code", pattern = "^[A-Z0-9-]{2,32}$")), request_body = SupplierEdit,
    responses((status = 200, body = Supplier), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Unavailable), tag = "suppliers")]
pub async fn edit(_: Admin, State(state): State<AppState>, Path(id): Path<String>, Json(body): Json<SupplierEdit>) -> Result<Json<Supplier>, ApiError> {
    check_details(&body.name, &body.contact, &body.documents)?;
    if body.payment_terms_days.is_some_and(|d| d > 365) {
        return Err(ApiError::unprocessable("invalid-field", "payment_terms_days: 0 to 365"));
    }
    let now = now_ms();
    let s = state
        .write(move |tx| {
            let mut s = found(&id, store::load(tx, &id, true)?)?;
            if s.state == SupplierState::Exited {
                return Err(SupplierError::Refused(format!("supplier {id} has exited")));
            }
            (s.name, s.contact, s.documents) = (body.name.clone(), body.contact.clone(), body.documents.clone());
            s.payment_terms_days = body.payment_terms_days.unwrap_or(s.payment_terms_days);
            store::save(tx, &s, now)?;
            crate::audit::store::append(tx, now, "admin", "supplier_edited", &format!("supplier:{id}"), &serde_json::json!({ "documents": s.documents.len() }))?;
            found(&id, store::load(tx, &id, false)?)
        })
        .await?;
    Ok(Json(s))
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepRequest {
    pub step: SupplierStep,
    /// Needed to send back, suspend or exit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<doc::Text300>)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCredential {
    /// 24 to 256 visible ASCII characters, made up by HQ and handed to the supplier; stored
    /// hashed, never shown again.
    #[schema(min_length = 24, max_length = 256, pattern = "^[!-~]{24,256}$")]
    pub token: String,
    #[schema(value_type = doc::Text300)]
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CredentialSet {
    pub supplier: String,
    pub audit_id: u64,
}

/// Sets the credential the supplier's systems present on the supplier API (replacing any
/// before it, which stops working at once).
#[utoipa::path(put, path = "/api/v1/suppliers/{id}/credential", params(("id" = String, Path, description = "The supplier's code", pattern = "^[A-Z0-9-]{2,32}$"), doc::IdempotencyKey), request_body = NewCredential,
    responses((status = 200, body = CredentialSet), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Conflict, doc::Unavailable), tag = "suppliers")]
pub async fn set_credential(_: Admin, State(state): State<AppState>, Path(id): Path<String>, key: Keyed, Json(body): Json<NewCredential>) -> Result<Response, ApiError> {
    if !((24..=256).contains(&body.token.len()) && body.token.bytes().all(|b| b.is_ascii_graphic())) {
        return Err(ApiError::unprocessable("weak-token", "token must have 24 to 256 visible ASCII characters"));
    }
    check_text("reason", &body.reason, 300)?;
    // A credential is one party's: never HQ's tokens, never an edge's.
    let auth = &state.settings.auth;
    let hq = [auth.admin_token.expose_secret(), auth.read_token.expose_secret()];
    if hq.iter().any(|t| tote_shared::runtime::secrets::same_secret(&body.token, t)) {
        return Err(ApiError::unprocessable("weak-token", "token must not be one of HQ's tokens"));
    }
    let request = key.fingerprint(&body)?;
    let (hash, reason, now) = (hash_token(&body.token), body.reason, now_ms());
    keyed_write(&state, request, StatusCode::OK, move |tx| {
        let s = found(&id, store::load(tx, &id, true)?)?;
        if s.state == SupplierState::Exited {
            return Err(SupplierError::Refused(format!("supplier {id} has exited")));
        }
        if crate::warehouses::store::by_token(tx, &hash)?.is_some() || !store::set_token(tx, &id, Some(&hash), now)? {
            return Err(SupplierError::Duplicate("that credential".into()));
        }
        let audit_id = crate::audit::store::append(tx, now, "admin", "supplier_credential_set", &format!("supplier:{id}"), &serde_json::json!({ "reason": reason }))?;
        Ok(CredentialSet { supplier: id.clone(), audit_id })
    })
    .await
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPrice {
    pub sku: Sku,
    pub terms: PriceTerms,
}

/// A contract price for one SKU from this supplier, in force from `valid_from_ms`: it overrides
/// earlier entries from then on; they stay as history.
#[utoipa::path(post, path = "/api/v1/suppliers/{id}/prices", params(("id" = String, Path, description = "The supplier's code", pattern = "^[A-Z0-9-]{2,32}$")), request_body = NewPrice,
    responses((status = 201, body = SupplierPrice), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Unavailable), tag = "suppliers")]
pub async fn add_price(_: Admin, State(state): State<AppState>, Path(id): Path<String>, Json(body): Json<NewPrice>) -> Result<(StatusCode, Json<SupplierPrice>), ApiError> {
    check_text("supplier_sku", &body.terms.supplier_sku, 100)?;
    check_terms(&body.terms)?;
    let now = now_ms();
    let price = state
        .write(move |tx| {
            let s = found(&id, store::load(tx, &id, false)?)?;
            if s.state == SupplierState::Exited {
                return Err(SupplierError::Refused(format!("supplier {id} has exited")));
            }
            if !crate::catalog::store::exists(tx, &body.sku)? {
                return Err(SupplierError::NotFound(format!("SKU {}", body.sku)));
            }
            let price_id = store::insert_price(tx, &id, &body.sku, &body.terms, now)?;
            crate::audit::store::append(tx, now, "admin", "supplier_price_added", &format!("supplier:{id}"), &serde_json::json!({ "sku": body.sku, "price": price_id }))?;
            Ok(SupplierPrice { id: price_id, supplier: id.clone(), sku: body.sku.clone(), terms: body.terms.clone(), created_ms: now })
        })
        .await?;
    Ok((StatusCode::CREATED, Json(price)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PricesQuery {
    /// One SKU's history only.
    #[param(value_type = Option<String>, pattern = "^[A-Z0-9._-]{1,64}$")]
    pub sku: Option<String>,
}

/// The supplier's price entries, newest first (the history).
#[utoipa::path(get, path = "/api/v1/suppliers/{id}/prices", params(("id" = String, Path, description = "The supplier's code", pattern = "^[A-Z0-9-]{2,32}$"), PricesQuery),
    responses((status = 200, body = Vec<SupplierPrice>), doc::BadRequest, doc::Unauthorized, doc::NotFound, doc::Unavailable), tag = "suppliers")]
pub async fn prices(_: Reader, State(state): State<AppState>, Path(id): Path<String>, Query(q): Query<PricesQuery>) -> Result<Json<Vec<SupplierPrice>>, ApiError> {
    let sku = q.sku.as_deref().map(Sku::parse).transpose().map_err(|e| ApiError::BadRequest(format!("sku: {e}")))?;
    let prices = state
        .db
        .read(move |tx| -> Result<_, SupplierError> {
            found(&id, store::load(tx, &id, false)?)?;
            Ok(store::prices(tx, &id, sku.as_ref())?)
        })
        .await?;
    Ok(Json(prices))
}

// Submissions: the supplier proposes, HQ decides.

/// A submission's body: a price list of up to 500 lines with their breaks fits.
pub const SUBMISSION_BODY_LIMIT_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSubmission {
    /// The supplier's own reference, once per supplier.
    #[schema(pattern = "^[A-Za-z0-9-]{1,40}$")]
    pub reference: String,
    pub submitted: Submitted,
}


/// The supplier submits a price list (new terms for SKUs we carry) or an item it offers; HQ
/// decides. Nothing takes effect before.
#[utoipa::path(post, path = "/api/v1/supplier/submissions", params(doc::RequiredIdempotencyKey), request_body = NewSubmission, security(("supplier" = [])),
    responses((status = 201, body = Submission), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::Conflict, doc::Unavailable), tag = "supplier-api")]
pub async fn submit(SupplierCaller(me): SupplierCaller, State(state): State<AppState>, key: Keyed, Json(body): Json<NewSubmission>) -> Result<Response, ApiError> {
    let request = key.required(&body)?;
    crate::http::check_reference(&body.reference)?;
    let now = now_ms();
    keyed_write(&state, Some(request), StatusCode::CREATED, move |tx| submissions::submit(tx, &me, &body.reference, &body.submitted, now)).await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MySubmissionsQuery {
    #[param(value_type = Option<String>, pattern = "^(pending|accepted|rejected)$")]
    pub state: Option<String>,
    /// Default 100, at most 1,000.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SubmissionsQuery {
    #[param(value_type = Option<String>, pattern = "^(pending|accepted|rejected)$")]
    pub state: Option<String>,
    /// One supplier's.
    #[param(value_type = Option<String>, pattern = "^[A-Z0-9-]{2,32}$")]
    pub supplier: Option<String>,
    /// Default 100, at most 1,000.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

fn submission_filter(state: Option<&str>, limit: Option<u32>) -> Result<(Option<SubmissionState>, u32), ApiError> {
    let state = match state {
        None => None,
        Some(raw) => Some(SubmissionState::parse(raw).ok_or_else(|| ApiError::BadRequest(format!("state must be pending, accepted or rejected, not {raw:?}")))?),
    };
    let limit = limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be between 1 and 1000".into()));
    }
    Ok((state, limit))
}

/// The caller's own submissions, newest first.
#[utoipa::path(get, path = "/api/v1/supplier/submissions", params(MySubmissionsQuery), security(("supplier" = [])),
    responses((status = 200, body = Vec<Submission>), doc::BadRequest, doc::Unauthorized, doc::Forbidden, doc::Unavailable), tag = "supplier-api")]
pub async fn my_submissions(SupplierCaller(me): SupplierCaller, State(state): State<AppState>, Query(q): Query<MySubmissionsQuery>) -> Result<Json<Vec<Submission>>, ApiError> {
    let (filter, limit) = submission_filter(q.state.as_deref(), q.limit)?;
    Ok(Json(state.db.read(move |tx| store::submissions(tx, Some(&me), filter, limit)).await?))
}

/// What suppliers submitted, newest first (`state=pending`: the buyer's queue).
#[utoipa::path(get, path = "/api/v1/supplier-submissions", params(SubmissionsQuery),
    responses((status = 200, body = Vec<Submission>), doc::BadRequest, doc::Unauthorized, doc::Unavailable), tag = "suppliers")]
pub async fn submissions(_: Reader, State(state): State<AppState>, Query(q): Query<SubmissionsQuery>) -> Result<Json<Vec<Submission>>, ApiError> {
    let (filter, limit) = submission_filter(q.state.as_deref(), q.limit)?;
    if q.supplier.as_deref().is_some_and(|id| !super::valid_id(id)) {
        return Err(ApiError::BadRequest("supplier: 2 to 32 capital letters, digits or '-'".into()));
    }
    let supplier = q.supplier;
    Ok(Json(state.db.read(move |tx| store::submissions(tx, supplier.as_deref(), filter, limit)).await?))
}

/// HQ accepts or rejects a pending submission (an item is accepted with its listing).
#[utoipa::path(post, path = "/api/v1/supplier-submissions/{id}/decision", params(doc::PathId), request_body = SubmissionDecision,
    responses((status = 200, body = Submission), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Conflict, doc::Unavailable), tag = "suppliers")]
pub async fn decide_submission(_: Admin, State(state): State<AppState>, Path(id): Path<u64>, Json(body): Json<SubmissionDecision>) -> Result<Json<Submission>, ApiError> {
    check_text("note", &body.note, 300)?;
    let now = now_ms();
    Ok(Json(state.write(move |tx| submissions::decide(tx, id, &body, now)).await?))
}
