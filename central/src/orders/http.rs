//! Order routes: idempotent intake with routing and stock locks, sandbox payment, cancel,
//! state and history.

use super::checks::{self, BlockKind, CheckPolicy};
use super::intake::Reply;
use super::store::BlockEntry;
use super::{
    flow, screen, store, CheckoutTerms, CreateOrder, GroupJoin, OrderHistoryEntry, OrderRecord,
    OrdersError,
};
use crate::auth::{Admin, Reader};
use crate::http::check_text;
use crate::http::error::ApiError;
use crate::http::keyed::{key_reused, keyed_write, render, Keyed};
use crate::startup::AppState;
use crate::warehouses::http::resolve_point;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use tote_shared::geo::GeoPoint;
use tote_shared::openapi as doc;
use tote_shared::order::OrderState;
use tote_shared::runtime::http::{Json, Path, Query};
use tote_shared::runtime::system::now_ms;
use tote_shared::sync::{OrderLine, ShipTo};

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrder {
    /// Sales channel: app, web, mini_program, marketplace name …
    #[schema(value_type = tote_shared::openapi::Text40)]
    pub channel: String,
    /// One line per SKU; at most `orders.max_lines` (the served document states it).
    #[schema(min_items = 1)]
    pub lines: Vec<OrderLine>,
    pub ship_to: ShipTo,
    /// Coordinates of the address, when the channel has them; else the city is looked up.
    #[serde(default)]
    pub location: Option<GeoPoint>,
    /// The channel's id of the customer (after-sales rules weigh their return rate; a coupon
    /// needs it).
    #[serde(default)]
    #[schema(value_type = Option<tote_shared::openapi::Text40>)]
    pub customer: Option<String>,
    /// Coupon codes the customer presents (at most 5, one per coupon): the order takes them.
    #[serde(default)]
    #[schema(max_items = 5)]
    pub coupons: Vec<String>,
    /// The payable the shop front showed (`POST /api/v1/checkout/price`), minor units: when
    /// the order would cost anything else now, it is refused with 409 `price-changed`.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 10000000000_i64)]
    pub expected_total: Option<i64>,
    /// Points the customer pays part of the order with (priced by the checkout call first).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1000000000000_i64)]
    pub points: i64,
    /// A group buy (`/api/v1/marketing/group-buys`): the order opens a new group of it, or
    /// joins `group`. It is priced at the group price and, once paid, waits for the group to
    /// form; a group that does not form in time has its orders cancelled and refunded.
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9_-]{1,40}$")]
    pub group_buy: Option<String>,
    /// The open group of `group_buy` to join.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub group: Option<u64>,
}

#[utoipa::path(
    post, path = "/api/v1/orders", request_body = NewOrder, params(doc::RequiredIdempotencyKey),
    responses((status = 201, body = OrderRecord), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::Conflict, doc::Unavailable),
    tag = "orders"
)]
pub async fn create(
    _: Admin,
    State(state): State<AppState>,
    key: Keyed,
    Json(order): Json<NewOrder>,
) -> Result<Response, ApiError> {
    let request = key.required(&order)?;
    validate(&order, state.settings.orders.max_lines)?;
    let destination = resolve_point(order.location, Some(&order.ship_to.city))?;
    let now = now_ms();
    let create = CreateOrder {
        channel: order.channel,
        customer: order.customer,
        lines: order.lines,
        ship_to: order.ship_to,
        destination,
        now_ms: now,
        payment_deadline_ms: now + state.settings.orders.payment_timeout_ms as i64,
        checkout: CheckoutTerms {
            coupons: order.coupons,
            expected_total: order.expected_total,
            points: order.points,
            group: order.group_buy.map(|offer| GroupJoin {
                offer,
                group: order.group,
            }),
        },
    };
    // People at HQ take the ordinary path, whose transaction carries their audit entry; the
    // batched intake is for the shop front's and integrations' volume.
    let batched = !request.caller.starts_with("user:");
    let submitted = match batched {
        true => {
            state
                .intake
                .submit(request.caller.clone(), request.key.clone(), create.clone())
                .await
        }
        false => Reply::Fallback,
    };
    match submitted {
        Reply::Answer { stored, replayed } => {
            if !replayed {
                state
                    .telemetry
                    .orders_created
                    .fetch_add(1, Ordering::Relaxed);
            }
            return Ok(render(stored, replayed));
        }
        Reply::Mismatch => return Err(key_reused()),
        Reply::Refused(refusal) => return Err(refusal.into()),
        // Multi-line orders, and batches that went wrong, take the ordinary path.
        Reply::Fallback => {}
    }
    let response = keyed_write(&state, Some(request), StatusCode::CREATED, move |tx| {
        flow::create(tx, &create)
    })
    .await?;
    if response
        .headers()
        .get("idempotent-replayed")
        .is_some_and(|v| v == "false")
    {
        state
            .telemetry
            .orders_created
            .fetch_add(1, Ordering::Relaxed);
    }
    Ok(response)
}

fn validate(order: &NewOrder, max_lines: usize) -> Result<(), ApiError> {
    check_text("channel", &order.channel, 40)?;
    if let Some(customer) = &order.customer {
        check_text("customer", customer, 40)?;
    }
    if order.lines.is_empty() || order.lines.len() > max_lines {
        return Err(ApiError::unprocessable(
            "invalid-lines",
            format!("an order needs 1 to {max_lines} lines"),
        ));
    }
    if order.coupons.len() > crate::marketing::coupons::MAX_PRESENTED
        || order.coupons.iter().any(|c| c.len() > 64)
    {
        return Err(ApiError::unprocessable(
            "invalid-coupon",
            format!(
                "at most {} coupon codes of 16 characters",
                crate::marketing::coupons::MAX_PRESENTED
            ),
        ));
    }
    if order
        .expected_total
        .is_some_and(|t| !(0..=tote_shared::Money::MAX_MINOR).contains(&t))
    {
        return Err(ApiError::unprocessable(
            "invalid",
            "expected_total: 0 to 10000000000 minor units",
        ));
    }
    if order.group.is_some() && order.group_buy.is_none()
        || order
            .group_buy
            .as_deref()
            .is_some_and(|g| !crate::marketing::plain(g))
    {
        return Err(ApiError::unprocessable("invalid-group", "group_buy: 1 to 40 letters, digits, '-' or '_'; group: only with the group_buy it is of"));
    }
    if let Some(why) = crate::marketing::points::spend_problem(order.points) {
        return Err(ApiError::unprocessable("invalid-points", why));
    }
    let mut seen = HashSet::new();
    for line in &order.lines {
        if !seen.insert(&line.sku) {
            return Err(ApiError::unprocessable(
                "duplicate-line",
                format!("SKU {} appears twice; put the total in one line", line.sku),
            ));
        }
    }
    match super::check_ship_to(&order.ship_to) {
        Ok(()) => Ok(()),
        Err(super::ShipToProblem::Text(e)) => Err(e.into()),
        Err(too_long @ super::ShipToProblem::TooLong(_)) => Err(ApiError::unprocessable(
            "invalid-field",
            too_long.to_string(),
        )),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only orders in this state (`partly_shipped`: split orders with a parcel still to leave).
    #[param(value_type = Option<String>, pattern = "^(awaiting_payment|awaiting_shipment|picked|packed|partly_shipped|shipped|delivered|backordered|cancelling|cancelled|closed|held|completed)$")]
    pub state: Option<String>,
    /// Only orders with a smaller id (the last id of the page before).
    #[param(minimum = 1, maximum = 9223372036854775807_i64)]
    pub before: Option<u64>,
    /// Default 100, at most 1,000.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// Orders newest first, a page at a time.
#[utoipa::path(get, path = "/api/v1/orders", params(ListQuery),
    responses((status = 200, body = Vec<store::OrderSummary>), doc::BadRequest, doc::Unauthorized, doc::Unavailable), tag = "orders")]
pub async fn list(
    _: Reader,
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<store::OrderSummary>>, ApiError> {
    let filter = match q.state.as_deref() {
        Some(raw) => Some(
            OrderState::parse(raw)
                .ok_or_else(|| ApiError::BadRequest(format!("unknown state {raw}")))?,
        ),
        None => None,
    };
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest(
            "limit must be between 1 and 1000".into(),
        ));
    }
    let before = q.before.unwrap_or(i64::MAX as u64);
    if !(1..=i64::MAX as u64).contains(&before) {
        return Err(ApiError::BadRequest(format!(
            "before must be between 1 and {}",
            i64::MAX
        )));
    }
    Ok(Json(
        state
            .db
            .read(move |tx| store::list(tx, filter, before, limit))
            .await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/orders/{id}", params(doc::PathId), responses((status = 200, body = OrderRecord), doc::BadRequest, doc::Unauthorized, doc::NotFound, doc::Unavailable), tag = "orders")]
pub async fn get(
    _: Reader,
    State(state): State<AppState>,
    Path(id): Path<u64>,
) -> Result<Json<OrderRecord>, ApiError> {
    let order = state
        .db
        .read(move |tx| -> Result<_, OrdersError> {
            store::load(tx, id, false)?.ok_or_else(|| OrdersError::NotFound(format!("order {id}")))
        })
        .await?;
    Ok(Json(order))
}

#[utoipa::path(get, path = "/api/v1/orders/{id}/history", params(doc::PathId), responses((status = 200, body = Vec<OrderHistoryEntry>), doc::BadRequest, doc::Unauthorized, doc::NotFound, doc::Unavailable), tag = "orders")]
pub async fn history(
    _: Reader,
    State(state): State<AppState>,
    Path(id): Path<u64>,
) -> Result<Json<Vec<OrderHistoryEntry>>, ApiError> {
    let history = state
        .db
        .read(move |tx| -> Result<_, OrdersError> {
            store::load(tx, id, false)?
                .ok_or_else(|| OrdersError::NotFound(format!("order {id}")))?;
            Ok(store::history(tx, id)?)
        })
        .await?;
    Ok(Json(history))
}

/// Manual payment (money taken outside the channels, allowed by `payment.allow_manual`): turns the lock into a deduction and releases the order to its warehouse.
/// Idempotent by state; an Idempotency-Key is honoured too.
#[utoipa::path(post, path = "/api/v1/orders/{id}/pay", params(doc::PathId, doc::IdempotencyKey),
    responses((status = 200, body = OrderRecord), doc::BadRequest, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Conflict, doc::Unprocessable, doc::Unavailable), tag = "orders")]
pub async fn pay(
    _: Admin,
    State(state): State<AppState>,
    key: Keyed,
    Path(id): Path<u64>,
) -> Result<Response, ApiError> {
    if !state.settings.payment.allow_manual {
        return Err(ApiError::Forbidden(
            "manual payment is switched off (payment.allow_manual): pay through a channel".into(),
        ));
    }
    let request = key.fingerprint(&id)?;
    let now = now_ms();
    keyed_write(&state, request, StatusCode::OK, move |tx| {
        flow::pay(tx, id, now)
    })
    .await
}

#[utoipa::path(post, path = "/api/v1/orders/{id}/cancel", params(doc::PathId, doc::IdempotencyKey),
    responses((status = 200, body = OrderRecord), doc::BadRequest, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Conflict, doc::Unprocessable, doc::Unavailable), tag = "orders")]
pub async fn cancel(
    _: Admin,
    State(state): State<AppState>,
    key: Keyed,
    Path(id): Path<u64>,
) -> Result<Response, ApiError> {
    let request = key.fingerprint(&id)?;
    let now = now_ms();
    keyed_write(&state, request, StatusCode::OK, move |tx| {
        flow::cancel(tx, id, now)
    })
    .await
}

// --- pre-checks: the policy and the blocklist -------------------------------------------

#[utoipa::path(get, path = "/api/v1/orders/checks", responses((status = 200, body = CheckPolicy), doc::Unauthorized, doc::Unavailable), tag = "orders")]
pub async fn checks(
    _: Reader,
    State(state): State<AppState>,
) -> Result<Json<CheckPolicy>, ApiError> {
    Ok(Json(state.db.read(|tx| screen::policy(tx)).await?))
}

/// Replaces the pre-check policy (address rules, duplicate window, purchase limits); audited.
#[utoipa::path(put, path = "/api/v1/orders/checks", request_body = CheckPolicy,
    responses((status = 200, body = CheckPolicy), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::Unavailable), tag = "orders")]
pub async fn put_checks(
    _: Admin,
    State(state): State<AppState>,
    Json(body): Json<CheckPolicy>,
) -> Result<Json<CheckPolicy>, ApiError> {
    if let Some(why) = body.problem() {
        return Err(ApiError::unprocessable("invalid-policy", why));
    }
    let now = now_ms();
    let saved = body.clone();
    state
        .write(move |tx| -> Result<(), OrdersError> {
            let before = screen::policy(tx)?;
            crate::db::doc::save(tx, screen::POLICY, &saved, now)?;
            let detail = serde_json::json!({"before": before, "after": saved});
            crate::audit::store::append(
                tx,
                now,
                "admin",
                "order_checks_set",
                "orders:checks",
                &detail,
            )?;
            Ok(())
        })
        .await?;
    Ok(Json(body))
}

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBlock {
    pub kind: BlockKind,
    /// The customer id, the phone (any spelling) or the street as orders write it.
    #[schema(value_type = doc::Text300)]
    pub value: String,
    /// Why (shown in the refusal and kept in the audit log).
    #[schema(value_type = doc::Text300)]
    pub reason: String,
}

/// Blocks a customer, a phone or a street: intake refuses their orders, naming the reason.
/// Adding an entry that is there answers it (200).
#[utoipa::path(post, path = "/api/v1/orders/blocklist", request_body = NewBlock,
    responses((status = 201, body = BlockEntry), (status = 200, body = BlockEntry), doc::JsonBody, doc::Unauthorized, doc::Forbidden, doc::Unavailable), tag = "orders")]
pub async fn block(
    _: Admin,
    State(state): State<AppState>,
    Json(body): Json<NewBlock>,
) -> Result<(StatusCode, Json<BlockEntry>), ApiError> {
    check_text("value", &body.value, 300)?;
    check_text("reason", &body.reason, 300)?;
    let value = checks::normal_block_value(body.kind, &body.value);
    if value.is_empty() {
        return Err(ApiError::unprocessable(
            "invalid-field",
            format!("value {:?} names no {}", body.value, body.kind.as_str()),
        ));
    }
    let now = now_ms();
    let (entry, created) = state
        .write(move |tx| -> Result<_, OrdersError> {
            let (entry, created) = store::add_block(tx, body.kind, &value, &body.reason, now)?;
            if created {
                let detail =
                    serde_json::json!({"kind": body.kind, "value": value, "reason": body.reason});
                crate::audit::store::append(
                    tx,
                    now,
                    "admin",
                    "blocklist_add",
                    &format!("blocklist:{}", entry.id),
                    &detail,
                )?;
            }
            Ok((entry, created))
        })
        .await?;
    Ok((
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        Json(entry),
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BlockPage {
    /// Entries after this id.
    #[serde(default)]
    pub after: u64,
    /// At most this many (1..=500, default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/orders/blocklist", params(BlockPage), responses((status = 200, body = Vec<BlockEntry>), doc::BadRequest, doc::Unauthorized, doc::Unavailable), tag = "orders")]
pub async fn blocklist(
    _: Reader,
    State(state): State<AppState>,
    Query(page): Query<BlockPage>,
) -> Result<Json<Vec<BlockEntry>>, ApiError> {
    let limit = page.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be 1 to 500".into()));
    }
    Ok(Json(
        state
            .db
            .read(move |tx| store::blocklist(tx, None, limit, page.after))
            .await?,
    ))
}

/// Lifts a block; audited.
#[utoipa::path(delete, path = "/api/v1/orders/blocklist/{id}", params(doc::PathId),
    responses((status = 200, body = BlockEntry), doc::BadRequest, doc::Unauthorized, doc::Forbidden, doc::NotFound, doc::Unavailable), tag = "orders")]
pub async fn unblock(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<u64>,
) -> Result<Json<BlockEntry>, ApiError> {
    let now = now_ms();
    let entry = state
        .write(move |tx| -> Result<_, OrdersError> {
            let entry = store::remove_block(tx, id)?.ok_or_else(|| OrdersError::NotFound(format!("blocklist entry {id}")))?;
            let detail = serde_json::json!({"kind": entry.kind, "value": entry.value, "reason": entry.reason});
            crate::audit::store::append(tx, now, "admin", "blocklist_remove", &format!("blocklist:{id}"), &detail)?;
            Ok(entry)
        })
        .await?;
    Ok(Json(entry))
}
