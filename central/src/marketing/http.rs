//! Marketing routes: HQ publishes and withdraws promotions and sets the stacking rules and
//! margin floors; the shop front prices a cart before it places the order.

use super::audience::{Campaign, Recommendation, Roi, Segment, Send};
use super::campaigns::{Profile, SegmentRule};
use super::coupons::{Code, CouponTerms};
use super::flash::{FlashSale, NewFlashSale};
use super::groups::{Group, GroupBuy, NewGroupBuy};
use super::pricing::{Benefit, Layer, Priced, Promotion};
use super::{store, MarketingError, MarketingPolicy, PromotionRecord};
use crate::auth::{Admin, Reader};
use crate::http::error::ApiError;
use crate::startup::AppState;
use serde::{Deserialize, Serialize};
use tote_shared::openapi as doc;
use tote_shared::runtime::http::{Json, Path, Query};
use tote_shared::runtime::system::now_ms;
use tote_shared::{Qty, Sku};

/// Most lines one pricing call may carry.
pub const MAX_CART_LINES: usize = super::pricing::MAX_LINES;

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPromotion {
    pub layer: Layer,
    /// For the rules' exclusions and the platform layer's one per class.
    #[schema(pattern = "^[A-Za-z0-9_-]{1,40}$")]
    pub class: String,
    /// Shop layers: the shop (the policy's `shop` for our own lines).
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9_-]{1,40}$")]
    pub shop: Option<String>,
    /// The SKUs it covers; empty: all.
    #[serde(default)]
    #[schema(max_items = 200)]
    pub skus: Vec<Sku>,
    pub benefit: Benefit,
    /// A member price or offer: for customers of this tier (the policy's) or above.
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9_-]{1,40}$")]
    pub tier: Option<String>,
    /// Only for customers in this segment.
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9_-]{1,40}$")]
    pub segment: Option<String>,
    /// Live from (Unix ms) …
    #[schema(minimum = 0, maximum = 9223372036854775807_i64)]
    pub starts_ms: i64,
    /// … until (Unix ms).
    #[schema(minimum = 1, maximum = 9223372036854775807_i64)]
    pub ends_ms: i64,
    /// Makes it a coupon: it applies only where one of its codes is presented, within these
    /// limits. Shop-coupon and platform layers only.
    #[serde(default)]
    pub coupon: Option<CouponTerms>,
}

/// HQ publishes a promotion (or replaces the one with this id). Refused (422, naming every SKU,
/// its worst price and the stack that reaches it) when with the promotions live in its window
/// it could sell a SKU below its floor. Audited.
#[utoipa::path(put, path = "/api/v1/marketing/promotions/{id}", params(("id" = String, Path, description = "The promotion's id", pattern = "^[A-Za-z0-9_-]{1,40}$")),
    request_body = NewPromotion, responses((status = 200, body = PromotionRecord), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::Unavailable), tag = "marketing")]
pub async fn publish(_: Admin, axum::extract::State(state): axum::extract::State<AppState>, Path(id): Path<String>, Json(body): Json<NewPromotion>) -> Result<Json<PromotionRecord>, ApiError> {
    let promotion = Promotion { id, layer: body.layer, class: body.class, shop: body.shop, skus: body.skus, benefit: body.benefit, tier: body.tier, segment: body.segment };
    let (starts, ends, coupon, now) = (body.starts_ms, body.ends_ms, body.coupon, now_ms());
    let record = state.write(move |tx| super::publish(tx, promotion.clone(), coupon, starts, ends, now)).await?;
    Ok(Json(record))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PromotionsQuery {
    #[param(value_type = Option<String>, pattern = "^(live|withdrawn)$")]
    pub state: Option<String>,
    /// Default 100, at most 1,000.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// Promotions by id.
#[utoipa::path(get, path = "/api/v1/marketing/promotions", params(PromotionsQuery),
    responses((status = 200, body = Vec<PromotionRecord>), doc::BadRequest, doc::Unauthorized, doc::Unavailable), tag = "marketing")]
pub async fn list(_: Reader, axum::extract::State(state): axum::extract::State<AppState>, Query(q): Query<PromotionsQuery>) -> Result<Json<Vec<PromotionRecord>>, ApiError> {
    if q.state.as_deref().is_some_and(|s| !matches!(s, "live" | "withdrawn")) {
        return Err(ApiError::BadRequest("state must be live or withdrawn".into()));
    }
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be between 1 and 1000".into()));
    }
    Ok(Json(state.db.read(move |tx| store::list(tx, q.state.as_deref(), limit)).await?))
}

/// HQ withdraws a promotion from now on. Audited.
#[utoipa::path(post, path = "/api/v1/marketing/promotions/{id}/withdraw", params(("id" = String, Path, description = "The promotion's id", pattern = "^[A-Za-z0-9_-]{1,40}$")),
    responses((status = 200, body = PromotionRecord), doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Unavailable), tag = "marketing")]
pub async fn withdraw(_: Admin, axum::extract::State(state): axum::extract::State<AppState>, Path(id): Path<String>) -> Result<Json<PromotionRecord>, ApiError> {
    let now = now_ms();
    Ok(Json(state.write(move |tx| super::withdraw(tx, &id, now)).await?))
}

#[utoipa::path(get, path = "/api/v1/marketing/policy", responses((status = 200, body = MarketingPolicy), doc::Unauthorized, doc::Unavailable), tag = "marketing")]
pub async fn policy(_: Reader, axum::extract::State(state): axum::extract::State<AppState>) -> Result<Json<MarketingPolicy>, ApiError> {
    Ok(Json(state.db.read(store::policy).await?))
}

/// Replaces the stacking rules (Tmall's by default; JD's, or a rule set of your own) and the
/// margin floors. Promotions published before are not checked again. Audited.
#[utoipa::path(put, path = "/api/v1/marketing/policy", request_body = MarketingPolicy,
    responses((status = 200, body = MarketingPolicy), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::Unavailable), tag = "marketing")]
pub async fn put_policy(_: Admin, axum::extract::State(state): axum::extract::State<AppState>, Json(body): Json<MarketingPolicy>) -> Result<Json<MarketingPolicy>, ApiError> {
    if let Some(why) = body.problem() {
        return Err(ApiError::unprocessable("invalid-policy", why));
    }
    let (saved, now) = (body.clone(), now_ms());
    state.write(move |tx| super::set_policy(tx, &saved, now)).await?;
    Ok(Json(body))
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CartItem {
    pub sku: Sku,
    pub qty: Qty,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Cart {
    #[schema(min_items = 1, max_items = 200)]
    pub lines: Vec<CartItem>,
    /// Who buys (a coupon issued to a customer needs them).
    #[serde(default)]
    #[schema(value_type = Option<tote_shared::openapi::Text40>)]
    pub customer: Option<String>,
    /// Coupon codes the customer presents: at most 5, one per coupon.
    #[serde(default)]
    #[schema(max_items = 5)]
    pub coupons: Vec<String>,
    /// Points the customer spends on it (after every promotion; at most the policy's share
    /// of the payable).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1000000000000_i64)]
    pub points: i64,
}

/// The shop front prices a cart before placing the order: list prices, the promotions live
/// now stacked the best way the rules allow (coupons where a code is presented: a code that is
/// unknown, used, someone else's or that the best stack leaves out is refused), every discount
/// on its lines, never below a floor. Changes nothing: the order takes the code.
#[utoipa::path(post, path = "/api/v1/checkout/price", request_body = Cart,
    responses((status = 200, body = Priced), doc::JsonBody, doc::Unauthorized, doc::Conflict, doc::Unavailable), tag = "marketing")]
pub async fn price(_: Reader, axum::extract::State(state): axum::extract::State<AppState>, Json(cart): Json<Cart>) -> Result<Json<Priced>, ApiError> {
    if cart.lines.is_empty() || cart.lines.len() > MAX_CART_LINES {
        return Err(ApiError::unprocessable("invalid-lines", format!("a cart has 1 to {MAX_CART_LINES} lines")));
    }
    let lines: Vec<(Sku, Qty)> = cart.lines.into_iter().map(|l| (l.sku, l.qty)).collect();
    if let Some((n, _)) = lines.iter().enumerate().find(|(n, (sku, _))| lines[..*n].iter().any(|(s, _)| s == sku)) {
        return Err(ApiError::unprocessable("invalid-lines", format!("line {}: each SKU once", n + 1)));
    }
    if let Some(customer) = &cart.customer {
        crate::http::check_text("customer", customer, 40)?;
    }
    let now = now_ms();
    if let Some(why) = super::points::spend_problem(cart.points) {
        return Err(ApiError::unprocessable("invalid-points", why));
    }
    let (customer, codes, points) = (cart.customer, cart.coupons, cart.points);
    Ok(Json(state.db.read(move |tx| super::price_cart(tx, &lines, customer.as_deref(), &codes, points, now)).await?.priced))
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCodes {
    #[schema(minimum = 1, maximum = 10000)]
    pub count: u32,
    /// The customer the codes are for; none: whoever holds one.
    #[serde(default)]
    #[schema(value_type = Option<tote_shared::openapi::Text40>)]
    pub customer: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IssuedCodes {
    pub promotion: String,
    pub codes: Vec<String>,
}

/// HQ issues codes of a coupon in bulk: 16 characters of Crockford base 32, 80 random bits
/// each. Audited.
#[utoipa::path(post, path = "/api/v1/marketing/promotions/{id}/codes", params(("id" = String, Path, description = "The coupon's id", pattern = "^[A-Za-z0-9_-]{1,40}$")),
    request_body = NewCodes, responses((status = 201, body = IssuedCodes), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Unavailable), tag = "marketing")]
pub async fn issue_codes(_: Admin, axum::extract::State(state): axum::extract::State<AppState>, Path(id): Path<String>, Json(body): Json<NewCodes>) -> Result<(axum::http::StatusCode, Json<IssuedCodes>), ApiError> {
    if let Some(customer) = &body.customer {
        crate::http::check_text("customer", customer, 40)?;
    }
    let now = now_ms();
    let promotion = id.clone();
    let codes = state.write(move |tx| super::issue_codes(tx, &id, body.count, body.customer.as_deref(), now)).await?;
    Ok((axum::http::StatusCode::CREATED, Json(IssuedCodes { promotion, codes })))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CodesQuery {
    /// Default 100, at most 1,000.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// A coupon's codes, by code: who owns each and which order holds it.
#[utoipa::path(get, path = "/api/v1/marketing/promotions/{id}/codes", params(("id" = String, Path, description = "The coupon's id", pattern = "^[A-Za-z0-9_-]{1,40}$"), CodesQuery),
    responses((status = 200, body = Vec<Code>), doc::BadRequest, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Unavailable), tag = "marketing")]
pub async fn codes(_: Admin, axum::extract::State(state): axum::extract::State<AppState>, Path(id): Path<String>, Query(q): Query<CodesQuery>) -> Result<Json<Vec<Code>>, ApiError> {
    let (id, limit) = (known(id, "promotion")?, limit(q.limit)?);
    Ok(Json(state.db.read(move |tx| store::codes_of(tx, &id, limit)).await?))
}

/// HQ publishes a flash sale: its quota is held at the warehouse from now (409 when it has
/// not that much sellable), its price between the floor and the list price. Audited.
#[utoipa::path(put, path = "/api/v1/marketing/flash-sales/{id}", params(("id" = String, Path, description = "The sale's id", pattern = "^[A-Za-z0-9_-]{1,40}$")),
    request_body = NewFlashSale, responses((status = 201, body = FlashSale), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::Conflict, doc::Unavailable), tag = "marketing")]
pub async fn publish_flash(_: Admin, axum::extract::State(state): axum::extract::State<AppState>, Path(id): Path<String>, Json(body): Json<NewFlashSale>) -> Result<(axum::http::StatusCode, Json<FlashSale>), ApiError> {
    let now = now_ms();
    let sale = state.write(move |tx| super::flash::publish(tx, &id, &body, now)).await?;
    Ok((axum::http::StatusCode::CREATED, Json(sale)))
}

/// Flash sales by id, with what each has sold.
#[utoipa::path(get, path = "/api/v1/marketing/flash-sales", params(CodesQuery),
    responses((status = 200, body = Vec<FlashSale>), doc::BadRequest, doc::Unauthorized, doc::Unavailable), tag = "marketing")]
pub async fn flash_sales(_: Reader, axum::extract::State(state): axum::extract::State<AppState>, Query(q): Query<CodesQuery>) -> Result<Json<Vec<FlashSale>>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be between 1 and 1000".into()));
    }
    Ok(Json(state.db.read(move |tx| store::list_flash(tx, limit)).await?))
}

/// HQ ends a flash sale now: what is left of its hold goes back to sellable. Audited.
#[utoipa::path(post, path = "/api/v1/marketing/flash-sales/{id}/end", params(("id" = String, Path, description = "The sale's id", pattern = "^[A-Za-z0-9_-]{1,40}$")),
    responses((status = 200, body = FlashSale), doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Unavailable), tag = "marketing")]
pub async fn end_flash(_: Admin, axum::extract::State(state): axum::extract::State<AppState>, Path(id): Path<String>) -> Result<Json<FlashSale>, ApiError> {
    let now = now_ms();
    Ok(Json(state.write(move |tx| super::flash::end(tx, &id, true, now)).await?))
}

/// HQ publishes a group buy: its SKU at a group price (between the floor and the list price)
/// for groups of `size` that form within `window_ms` of opening. Audited.
#[utoipa::path(put, path = "/api/v1/marketing/group-buys/{id}", params(("id" = String, Path, description = "The group buy's id", pattern = "^[A-Za-z0-9_-]{1,40}$")),
    request_body = NewGroupBuy, responses((status = 201, body = GroupBuy), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::Unavailable), tag = "marketing")]
pub async fn publish_group_buy(_: Admin, axum::extract::State(state): axum::extract::State<AppState>, Path(id): Path<String>, Json(body): Json<NewGroupBuy>) -> Result<(axum::http::StatusCode, Json<GroupBuy>), ApiError> {
    let now = now_ms();
    let offer = state.write(move |tx| super::groups::publish(tx, &id, &body, now)).await?;
    Ok((axum::http::StatusCode::CREATED, Json(offer)))
}

/// Group buys by id.
#[utoipa::path(get, path = "/api/v1/marketing/group-buys", params(CodesQuery),
    responses((status = 200, body = Vec<GroupBuy>), doc::BadRequest, doc::Unauthorized, doc::Unavailable), tag = "marketing")]
pub async fn group_buys(_: Reader, axum::extract::State(state): axum::extract::State<AppState>, Query(q): Query<CodesQuery>) -> Result<Json<Vec<GroupBuy>>, ApiError> {
    let limit = limit(q.limit)?;
    Ok(Json(state.db.read(move |tx| store::list_group_buys(tx, limit)).await?))
}

/// HQ ends a group buy: no group opens from now; open groups run to their deadlines. Audited.
#[utoipa::path(post, path = "/api/v1/marketing/group-buys/{id}/end", params(("id" = String, Path, description = "The group buy's id", pattern = "^[A-Za-z0-9_-]{1,40}$")),
    responses((status = 200, body = GroupBuy), doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Unavailable), tag = "marketing")]
pub async fn end_group_buy(_: Admin, axum::extract::State(state): axum::extract::State<AppState>, Path(id): Path<String>) -> Result<Json<GroupBuy>, ApiError> {
    let now = now_ms();
    Ok(Json(state.write(move |tx| super::groups::end(tx, &id, now)).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct GroupsQuery {
    /// Only groups in this state.
    #[param(value_type = Option<String>, pattern = "^(open|formed|failed)$")]
    pub state: Option<String>,
    /// Default 100, at most 1,000.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// A group buy's groups, the newest first: the open ones are those a customer may join.
#[utoipa::path(get, path = "/api/v1/marketing/group-buys/{id}/groups", params(("id" = String, Path, description = "The group buy's id"), GroupsQuery),
    responses((status = 200, body = Vec<Group>), doc::BadRequest, doc::Unauthorized, doc::NotFound, doc::Unavailable), tag = "marketing")]
pub async fn groups(_: Reader, axum::extract::State(state): axum::extract::State<AppState>, Path(id): Path<String>, Query(q): Query<GroupsQuery>) -> Result<Json<Vec<Group>>, ApiError> {
    let limit = limit(q.limit)?;
    if q.state.as_deref().is_some_and(|s| !matches!(s, "open" | "formed" | "failed")) {
        return Err(ApiError::BadRequest("state: open, formed or failed".into()));
    }
    let found = state
        .db
        .read(move |tx| -> Result<Option<Vec<Group>>, crate::db::DbError> {
            if store::group_buy(tx, &id)?.is_none() {
                return Ok(None);
            }
            Ok(Some(store::groups_of(tx, &id, q.state.as_deref(), limit)?))
        })
        .await?;
    found.map(Json).ok_or_else(|| ApiError::NotFound("group buy".into()))
}

/// One group with its members' orders.
#[utoipa::path(get, path = "/api/v1/marketing/groups/{id}", params(("id" = u64, Path, description = "The group's id", minimum = 1)),
    responses((status = 200, body = Group), doc::BadRequest, doc::Unauthorized, doc::NotFound, doc::Unavailable), tag = "marketing")]
pub async fn group(_: Reader, axum::extract::State(state): axum::extract::State<AppState>, Path(id): Path<u64>) -> Result<Json<Group>, ApiError> {
    let found = state.db.read(move |tx| store::group(tx, id)).await?;
    found.map(Json).ok_or_else(|| ApiError::NotFound("group".into()))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SlowQuery {
    /// Days of sales the pace is taken over (default 30).
    #[param(minimum = 7, maximum = 365)]
    pub window_days: Option<i64>,
    /// Stock lasting this many days or more at that pace is slow (default 90).
    #[param(minimum = 1, maximum = 3650)]
    pub min_cover_days: Option<i64>,
}

/// Slow movers: SKUs whose sellable stock lasts `min_cover_days` or more at the pace they
/// shipped over `window_days`, or that did not ship at all; the slowest first.
#[utoipa::path(get, path = "/api/v1/marketing/slow-movers", params(SlowQuery),
    responses((status = 200, body = Vec<super::clearance::SlowMover>), doc::BadRequest, doc::Unauthorized, doc::Unavailable), tag = "marketing")]
pub async fn slow_movers(_: Reader, axum::extract::State(state): axum::extract::State<AppState>, Query(q): Query<SlowQuery>) -> Result<Json<Vec<super::clearance::SlowMover>>, ApiError> {
    let (window, cover) = (q.window_days.unwrap_or(30), q.min_cover_days.unwrap_or(90));
    if !(7..=365).contains(&window) || !(1..=3650).contains(&cover) {
        return Err(ApiError::BadRequest("window_days 7 to 365, min_cover_days 1 to 3650".into()));
    }
    let now = now_ms();
    Ok(Json(state.db.read(move |tx| super::clearance::slow_movers(tx, window, cover, now)).await?))
}

/// HQ clears slow stock: one item-layer discount over today's slow movers (for one segment,
/// if named), floor-checked — a SKU it could sell below its floor is left out and named; 422
/// when nothing is slow or nothing keeps its floor. Audited as a promotion.
#[utoipa::path(put, path = "/api/v1/marketing/clearances/{id}", params(("id" = String, Path, description = "The clearance's promotion id", pattern = "^[A-Za-z0-9_-]{1,40}$")),
    request_body = super::clearance::NewClearance, responses((status = 200, body = super::clearance::Clearance), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::Unavailable), tag = "marketing")]
pub async fn clearance(_: Admin, axum::extract::State(state): axum::extract::State<AppState>, Path(id): Path<String>, Json(body): Json<super::clearance::NewClearance>) -> Result<Json<super::clearance::Clearance>, ApiError> {
    let now = now_ms();
    Ok(Json(state.write(move |tx| super::clearance::publish(tx, &id, &body, now)).await?))
}

/// HQ defines a segment by rules; every customer is tested now and again whenever their
/// profile changes. Audited.
#[utoipa::path(put, path = "/api/v1/marketing/segments/{id}", params(("id" = String, Path, description = "The segment's id", pattern = "^[A-Za-z0-9_-]{1,40}$")),
    request_body = SegmentRule, responses((status = 200, body = Segment), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::Unavailable), tag = "marketing")]
pub async fn define_segment(_: Admin, axum::extract::State(state): axum::extract::State<AppState>, Path(id): Path<String>, Json(body): Json<serde_json::Value>) -> Result<Json<Segment>, ApiError> {
    // Every condition is optional, so serde would take an array for the object: refuse it.
    if !body.is_object() {
        return Err(ApiError::unprocessable("invalid-json", "a segment's rule is a JSON object"));
    }
    let rule: SegmentRule = serde_json::from_value(body).map_err(|e| ApiError::unprocessable("invalid-json", e.to_string()))?;
    let now = now_ms();
    Ok(Json(state.write(move |tx| super::audience::define_segment(tx, &id, &rule, now)).await?))
}

/// A segment's members, by customer id.
#[utoipa::path(get, path = "/api/v1/marketing/segments/{id}/members", params(("id" = String, Path, description = "The segment's id", pattern = "^[A-Za-z0-9_-]{1,40}$"), CodesQuery),
    responses((status = 200, body = Vec<String>), doc::BadRequest, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Unavailable), tag = "marketing")]
pub async fn members(_: Admin, axum::extract::State(state): axum::extract::State<AppState>, Path(id): Path<String>, Query(q): Query<CodesQuery>) -> Result<Json<Vec<String>>, ApiError> {
    let (id, limit) = (known(id, "segment")?, limit(q.limit)?);
    Ok(Json(state.db.read(move |tx| store::members(tx, &id, "", limit)).await?))
}

/// A customer's profile as the journal built it.
#[utoipa::path(get, path = "/api/v1/marketing/customers/{customer}", params(("customer" = String, Path, description = "The channel's id of the customer")),
    responses((status = 200, body = Profile), doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Unavailable), tag = "marketing")]
pub async fn customer(_: Admin, axum::extract::State(state): axum::extract::State<AppState>, Path(customer): Path<String>) -> Result<Json<Profile>, ApiError> {
    if !tote_shared::text::is_clean(&customer, 40) {
        return Err(ApiError::NotFound("customer".into()));
    }
    let now = now_ms();
    let found = state.db.read(move |tx| super::audience::profile(tx, &customer, now)).await?;
    found.map(Json).ok_or_else(|| ApiError::NotFound("customer".into()))
}

/// A customer's membership: their tier (as of now: a period that ended is reviewed), their
/// 12-month spend, and their points — held, spendable now, owed — with the lots still holding
/// any or locked (a lot unlocks when its order completes).
#[utoipa::path(get, path = "/api/v1/marketing/customers/{customer}/membership", params(("customer" = String, Path, description = "The channel's id of the customer")),
    responses((status = 200, body = super::loyalty::Standing), doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Unavailable), tag = "marketing")]
pub async fn membership(_: Admin, axum::extract::State(state): axum::extract::State<AppState>, Path(customer): Path<String>) -> Result<Json<super::loyalty::Standing>, ApiError> {
    if !tote_shared::text::is_clean(&customer, 40) {
        return Err(ApiError::NotFound("customer".into()));
    }
    let now = now_ms();
    Ok(Json(state.db.read(move |tx| super::loyalty::standing(tx, &customer, now)).await?))
}

/// The campaigns, the newest first: each with its segment and coupon, how many codes it sent
/// and what it earned in all (as `…/roi` sums it).
#[utoipa::path(get, path = "/api/v1/marketing/campaigns", params(CodesQuery),
    responses((status = 200, body = Vec<super::audience::CampaignSummary>), doc::BadRequest, doc::Unauthorized, doc::Unavailable), tag = "marketing")]
pub async fn campaigns(_: Reader, axum::extract::State(state): axum::extract::State<AppState>, Query(q): Query<CodesQuery>) -> Result<Json<Vec<super::audience::CampaignSummary>>, ApiError> {
    let limit = limit(q.limit)?;
    Ok(Json(state.db.read(move |tx| super::audience::campaigns(tx, limit)).await?))
}

/// One campaign: its segment and coupon, how many codes it sent and what it earned in all.
#[utoipa::path(get, path = "/api/v1/marketing/campaigns/{id}", params(("id" = String, Path, description = "The campaign's id", pattern = "^[A-Za-z0-9_-]{1,40}$")),
    responses((status = 200, body = super::audience::CampaignSummary), doc::Unauthorized, doc::NotFound, doc::Unavailable), tag = "marketing")]
pub async fn campaign(_: Reader, axum::extract::State(state): axum::extract::State<AppState>, Path(id): Path<String>) -> Result<Json<super::audience::CampaignSummary>, ApiError> {
    let id = known(id, "campaign")?;
    Ok(Json(state.db.read(move |tx| super::audience::campaign(tx, &id)).await?))
}

/// The segments, by id: each rule and how many customers are in it now.
#[utoipa::path(get, path = "/api/v1/marketing/segments",
    responses((status = 200, body = Vec<Segment>), doc::Unauthorized, doc::Unavailable), tag = "marketing")]
pub async fn segments(_: Reader, axum::extract::State(state): axum::extract::State<AppState>) -> Result<Json<Vec<Segment>>, ApiError> {
    Ok(Json(state.db.read(super::audience::segments).await?))
}

/// HQ defines a campaign: a segment and the coupon it sends them. Audited.
#[utoipa::path(put, path = "/api/v1/marketing/campaigns/{id}", params(("id" = String, Path, description = "The campaign's id", pattern = "^[A-Za-z0-9_-]{1,40}$")),
    request_body = Campaign, responses((status = 200, body = Campaign), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::Unavailable), tag = "marketing")]
pub async fn put_campaign(_: Admin, axum::extract::State(state): axum::extract::State<AppState>, Path(id): Path<String>, Json(mut body): Json<Campaign>) -> Result<Json<Campaign>, ApiError> {
    body.id = id;
    let now = now_ms();
    Ok(Json(state.write(move |tx| super::audience::put_campaign(tx, &body, now)).await?))
}

/// Sends the campaign: a code of its own to each member of its segment who still meets the
/// rule and has none yet (at most 10,000 a call). The answer is the send list for the
/// messaging system; `GET …/sends` exports it again. Audited.
#[utoipa::path(post, path = "/api/v1/marketing/campaigns/{id}/send", params(("id" = String, Path, description = "The campaign's id", pattern = "^[A-Za-z0-9_-]{1,40}$")),
    responses((status = 200, body = Vec<Send>), doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Unavailable), tag = "marketing")]
pub async fn send(_: Admin, axum::extract::State(state): axum::extract::State<AppState>, Path(id): Path<String>) -> Result<Json<Vec<Send>>, ApiError> {
    let now = now_ms();
    let webhook = state.settings.marketing.send_webhook.is_some();
    Ok(Json(state.write(move |tx| super::audience::send(tx, &id, webhook, now)).await?))
}

/// Who came through a campaign's link.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkTouch {
    #[schema(value_type = tote_shared::openapi::Text40)]
    pub customer: String,
}

/// The shop front tells that a customer came through the campaign's link (its UTM campaign):
/// an order they place within the policy's link window is attributed to the campaign unless a
/// campaign's coupon on it says otherwise (then the last touch within the touch window: a
/// link, or the campaign sent to them).
#[utoipa::path(post, path = "/api/v1/marketing/campaigns/{id}/touches", params(("id" = String, Path, description = "The campaign's id", pattern = "^[A-Za-z0-9_-]{1,40}$")),
    request_body = LinkTouch, responses((status = 204), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Unavailable), tag = "marketing")]
pub async fn touch(_: Admin, axum::extract::State(state): axum::extract::State<AppState>, Path(id): Path<String>, Json(body): Json<LinkTouch>) -> Result<axum::http::StatusCode, ApiError> {
    let now = now_ms();
    state.write(move |tx| super::audience::touch(tx, &id, &body.customer, now)).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// The campaign's send lists as deliveries to the messaging system: each with its state
/// (`pending`, `delivered`, `failed`, or `export` when no webhook was configured), attempts
/// and last error.
#[utoipa::path(get, path = "/api/v1/marketing/campaigns/{id}/deliveries", params(("id" = String, Path, description = "The campaign's id", pattern = "^[A-Za-z0-9_-]{1,40}$"), CodesQuery),
    responses((status = 200, body = Vec<store::SendBatch>), doc::BadRequest, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Unavailable), tag = "marketing")]
pub async fn deliveries(_: Admin, axum::extract::State(state): axum::extract::State<AppState>, Path(id): Path<String>, Query(q): Query<CodesQuery>) -> Result<Json<Vec<store::SendBatch>>, ApiError> {
    let (id, limit) = (known(id, "campaign")?, limit(q.limit)?);
    let found = state
        .db
        .read(move |tx| -> Result<Option<Vec<store::SendBatch>>, crate::db::DbError> {
            if store::campaign(tx, &id)?.is_none() {
                return Ok(None);
            }
            Ok(Some(store::send_batches(tx, &id, limit)?))
        })
        .await?;
    found.map(Json).ok_or_else(|| ApiError::NotFound("campaign".into()))
}

/// The campaign's send list, by customer.
#[utoipa::path(get, path = "/api/v1/marketing/campaigns/{id}/sends", params(("id" = String, Path, description = "The campaign's id", pattern = "^[A-Za-z0-9_-]{1,40}$"), CodesQuery),
    responses((status = 200, body = Vec<Send>), doc::BadRequest, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Unavailable), tag = "marketing")]
pub async fn sends(_: Admin, axum::extract::State(state): axum::extract::State<AppState>, Path(id): Path<String>, Query(q): Query<CodesQuery>) -> Result<Json<Vec<Send>>, ApiError> {
    let (id, limit) = (known(id, "campaign")?, limit(q.limit)?);
    let rows = state.db.read(move |tx| store::sends(tx, &id, limit)).await?;
    Ok(Json(rows.into_iter().map(|(customer, code, sent_ms)| Send { customer, code, sent_ms }).collect()))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RoiQuery {
    /// First day, `YYYY-MM-DD` (UTC).
    #[param(format = Date)]
    pub from: String,
    /// Last day, included (before `from`: an empty period).
    #[param(format = Date)]
    pub to: String,
}

/// What the campaign earned, day by day and in all: redemptions, the discount given, revenue
/// of its orders as they shipped, refunds, the goods' cost, margin after discounts and the
/// margin per unit of discount.
#[utoipa::path(get, path = "/api/v1/marketing/campaigns/{id}/roi", params(("id" = String, Path, description = "The campaign's id", pattern = "^[A-Za-z0-9_-]{1,40}$"), RoiQuery),
    responses((status = 200, body = Roi), doc::BadRequest, doc::Unauthorized, doc::NotFound, doc::Unavailable), tag = "marketing")]
pub async fn roi(_: Reader, axum::extract::State(state): axum::extract::State<AppState>, Path(id): Path<String>, Query(q): Query<RoiQuery>) -> Result<Json<Roi>, ApiError> {
    if tote_shared::calendar::parse_day(&q.from).is_none() || tote_shared::calendar::parse_day(&q.to).is_none() {
        return Err(ApiError::BadRequest("from and to are days, YYYY-MM-DD".into()));
    }
    Ok(Json(state.db.read(move |tx| super::audience::roi(tx, &id, &q.from, &q.to)).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RecommendQuery {
    pub sku: Sku,
    /// The shopper, for their size and to leave out what they have.
    #[param(value_type = Option<tote_shared::openapi::Text40>)]
    pub customer: Option<String>,
    /// Default 5, at most 50.
    #[param(minimum = 1, maximum = 50)]
    pub limit: Option<u32>,
}

/// "Customers who bought this also bought", from what reached customers (the journal), in the
/// shopper's size.
#[utoipa::path(get, path = "/api/v1/marketing/recommendations", params(RecommendQuery),
    responses((status = 200, body = Vec<Recommendation>), doc::BadRequest, doc::Unauthorized, doc::NotFound, doc::Unavailable), tag = "marketing")]
pub async fn recommendations(_: Reader, axum::extract::State(state): axum::extract::State<AppState>, Query(q): Query<RecommendQuery>) -> Result<Json<Vec<Recommendation>>, ApiError> {
    let limit = q.limit.unwrap_or(5);
    if !(1..=50).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be between 1 and 50".into()));
    }
    if q.customer.as_deref().is_some_and(|c| !tote_shared::text::is_clean(c, 40)) {
        return Err(ApiError::BadRequest("customer: 1 to 40 characters of clean text".into()));
    }
    Ok(Json(state.db.read(move |tx| super::audience::recommend(tx, &q.sku, q.customer.as_deref(), limit)).await?))
}

/// An id that could name something (1 to 40 letters, digits, '-' or '_'), else 404.
fn known(id: String, what: &str) -> Result<String, ApiError> {
    if super::plain(&id) {
        Ok(id)
    } else {
        Err(ApiError::NotFound(format!("{what} {}", id.chars().take(40).collect::<String>())))
    }
}

fn limit(asked: Option<u32>) -> Result<u32, ApiError> {
    let limit = asked.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be between 1 and 1000".into()));
    }
    Ok(limit)
}

impl From<MarketingError> for ApiError {
    fn from(error: MarketingError) -> Self {
        let detail = error.to_string();
        match error {
            MarketingError::NotFound(what) => ApiError::NotFound(what),
            MarketingError::Invalid(_) => ApiError::unprocessable("invalid-promotion", detail),
            MarketingError::Cart(_) => ApiError::unprocessable("invalid-lines", detail),
            MarketingError::BelowFloor(_) => ApiError::unprocessable("below-floor", detail),
            MarketingError::CouponInvalid(_) => ApiError::unprocessable("invalid-coupon", detail),
            MarketingError::CouponTaken(_) => ApiError::Conflict { slug: "coupon-taken", detail },
            MarketingError::SoldOut(_) => ApiError::Conflict { slug: "flash-sale", detail },
            MarketingError::Stock(_) => ApiError::Conflict { slug: "insufficient-stock", detail },
            MarketingError::PointsShort(_) => ApiError::Conflict { slug: "points", detail },
            MarketingError::GroupClosed(_) => ApiError::Conflict { slug: "group-buy", detail },
            MarketingError::Db(e) => e.into(),
        }
    }
}
