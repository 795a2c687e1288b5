//! The HQ API: JSON under `/api/v1`, problem+json errors, bearer auth, size limits. Each
//! business system serves its own routes from its `http.rs`; this module puts them together
//! and holds what they share (errors, keyed writes, text checks, ops, OpenAPI).

pub mod error;
pub mod keyed;
pub mod openapi;
pub mod ops;

use crate::startup::AppState;
use crate::{
    after_sales, analytics, audit, catalog, console, edge_sync, finance, inventory, journal,
    logistics, marketing, marketplace, orders, payment, procurement, staff, supplier, warehouses,
};
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post, put};
use axum::Router;
use tote_shared::runtime::http::{harden, Realm};
use tower::limit::GlobalConcurrencyLimitLayer;

/// Sync pushes carry up to `MAX_PUSH_BATCH` events, so they get a larger body limit.
pub const SYNC_BODY_LIMIT_BYTES: usize = 8 * 1024 * 1024;

pub fn router(state: AppState) -> Router {
    let settings = &state.settings.http;
    let sync = Router::new()
        .route("/api/v1/sync/events", post(edge_sync::http::push_events))
        .layer(DefaultBodyLimit::max(SYNC_BODY_LIMIT_BYTES));
    // Channels authenticate notifications by signature; they get a small body limit.
    let notify = Router::new()
        .route(
            "/api/v1/payments/notify/{channel}",
            post(payment::http::notify),
        )
        .layer(DefaultBodyLimit::max(
            payment::http::NOTIFY_BODY_LIMIT_BYTES,
        ));
    // Rate cards are files of up to ~200,000 rows.
    let rate_cards = Router::new()
        .route(
            "/api/v1/logistics/rates",
            post(logistics::http::import_rates),
        )
        .route("/api/v1/skus/import", post(catalog::http::import))
        .route(
            "/api/v1/logistics/remote-areas",
            post(logistics::http::import_remote_areas),
        )
        .route(
            "/api/v1/logistics/carriers/{code}/statements/{month}",
            post(logistics::http::reconcile_statement),
        )
        .layer(DefaultBodyLimit::max(logistics::http::CSV_BODY_LIMIT_BYTES));
    // A price list of up to 500 lines, each with its breaks.
    let submissions = Router::new()
        .route(
            "/api/v1/supplier/submissions",
            post(supplier::http::submit).get(supplier::http::my_submissions),
        )
        .layer(DefaultBodyLimit::max(
            supplier::http::SUBMISSION_BODY_LIMIT_BYTES,
        ));
    // The tracking aggregator authenticates its pushes by signature.
    let tracking = Router::new()
        .route(
            "/api/v1/logistics/tracking/kuaidi100",
            post(logistics::http::tracking_push),
        )
        .layer(DefaultBodyLimit::max(
            logistics::http::PUSH_BODY_LIMIT_BYTES,
        ));
    let api = Router::new()
        .route("/api/v1/openapi.json", get(openapi::document))
        .route("/api/v1/spus", post(catalog::http::create_spu))
        .route("/api/v1/skus", post(catalog::http::create_sku))
        .route("/api/v1/skus/{sku}", get(inventory::http::sku_detail))
        .route("/api/v1/skus/{sku}/state", post(catalog::http::set_state))
        .route(
            "/api/v1/skus/{sku}/prices",
            get(catalog::http::prices).post(catalog::http::add_price),
        )
        .route("/api/v1/shop/skus/{sku}", get(inventory::http::shop_item))
        .route(
            "/api/v1/categories",
            get(catalog::http::categories).post(catalog::http::create_category),
        )
        .route("/api/v1/skus.csv", get(catalog::http::export))
        .route(
            "/api/v1/warehouses",
            post(warehouses::http::create).get(warehouses::http::list),
        )
        .route(
            "/api/v1/warehouses/{code}/edge-token",
            post(warehouses::http::replace_token),
        )
        .route(
            "/api/v1/inventory/health",
            get(inventory::http::health_report),
        )
        .route("/api/v1/inventory/health/scan", post(inventory::http::scan))
        .route(
            "/api/v1/inventory/health/policy",
            get(inventory::http::health_policy).put(inventory::http::set_health_policy),
        )
        .route("/api/v1/inventory/alerts", get(inventory::http::alerts))
        .route("/api/v1/inventory/{sku}", get(inventory::http::levels))
        .route(
            "/api/v1/inventory/{sku}/ledger",
            get(inventory::http::ledger),
        )
        .route(
            "/api/v1/orders",
            post(orders::http::create).get(orders::http::list),
        )
        .route(
            "/api/v1/orders/checks",
            get(orders::http::checks).put(orders::http::put_checks),
        )
        .route(
            "/api/v1/orders/blocklist",
            get(orders::http::blocklist).post(orders::http::block),
        )
        .route(
            "/api/v1/orders/blocklist/{id}",
            delete(orders::http::unblock),
        )
        .route(
            "/api/v1/suppliers",
            post(supplier::http::create).get(supplier::http::list),
        )
        .route(
            "/api/v1/suppliers/{id}",
            get(supplier::http::get).put(supplier::http::edit),
        )
        .route(
            "/api/v1/suppliers/{id}/steps",
            post(procurement::http::supplier_step),
        )
        .route(
            "/api/v1/suppliers/{id}/credential",
            put(supplier::http::set_credential),
        )
        .route(
            "/api/v1/suppliers/{id}/prices",
            post(supplier::http::add_price).get(supplier::http::prices),
        )
        .route(
            "/api/v1/suppliers/{id}/scorecard",
            get(procurement::http::scorecard),
        )
        .route(
            "/api/v1/suppliers/{id}/statements/{month}",
            get(procurement::http::statement),
        )
        .route(
            "/api/v1/supplier/statements/{month}",
            get(procurement::http::my_statement),
        )
        .route(
            "/api/v1/purchase-orders",
            post(procurement::http::create).get(procurement::http::list),
        )
        .route("/api/v1/purchase-orders/{id}", get(procurement::http::get))
        .route(
            "/api/v1/purchase-orders/{id}/approve",
            post(procurement::http::approve),
        )
        .route(
            "/api/v1/purchase-orders/{id}/cancel",
            post(procurement::http::cancel),
        )
        .route(
            "/api/v1/purchase-orders/{id}/close",
            post(procurement::http::close),
        )
        .route(
            "/api/v1/purchase-orders/{id}/landed-costs",
            post(procurement::http::landed_cost),
        )
        .route(
            "/api/v1/supplier-invoices",
            get(procurement::http::invoices),
        )
        .route(
            "/api/v1/supplier-invoices/{id}/decision",
            post(procurement::http::decide),
        )
        .route(
            "/api/v1/supplier-invoices/{id}/payment",
            post(procurement::http::pay),
        )
        .route(
            "/api/v1/procurement/policy",
            get(procurement::http::policy).put(procurement::http::set_policy),
        )
        .route(
            "/api/v1/replenishment/suggestions",
            get(procurement::http::suggestions),
        )
        .route(
            "/api/v1/replenishment/drafts",
            post(procurement::http::drafts),
        )
        .route(
            "/api/v1/replenishment/policy",
            get(procurement::http::replenishment_policy)
                .put(procurement::http::set_replenishment_policy),
        )
        .route(
            "/api/v1/supplier/purchase-orders",
            get(procurement::http::my_orders),
        )
        .route(
            "/api/v1/supplier/purchase-orders/{id}",
            get(procurement::http::my_order),
        )
        .route(
            "/api/v1/supplier/purchase-orders/{id}/confirm",
            post(procurement::http::confirm),
        )
        .route(
            "/api/v1/supplier/purchase-orders/{id}/reject",
            post(procurement::http::reject),
        )
        .route("/api/v1/supplier/asns", post(procurement::http::ship))
        .route(
            "/api/v1/supplier-submissions",
            get(supplier::http::submissions),
        )
        .route(
            "/api/v1/supplier-submissions/{id}/decision",
            post(supplier::http::decide_submission),
        )
        .route(
            "/api/v1/supplier/invoices",
            post(procurement::http::invoice).get(procurement::http::my_invoices),
        )
        .route("/api/v1/marketing/promotions", get(marketing::http::list))
        .route(
            "/api/v1/marketing/promotions/{id}",
            put(marketing::http::publish),
        )
        .route(
            "/api/v1/marketing/promotions/{id}/withdraw",
            post(marketing::http::withdraw),
        )
        .route(
            "/api/v1/marketing/promotions/{id}/codes",
            post(marketing::http::issue_codes).get(marketing::http::codes),
        )
        .route(
            "/api/v1/marketing/segments/{id}",
            put(marketing::http::define_segment),
        )
        .route(
            "/api/v1/marketing/segments",
            get(marketing::http::segments),
        )
        .route(
            "/api/v1/marketing/campaigns",
            get(marketing::http::campaigns),
        )
        .route(
            "/api/v1/marketing/segments/{id}/members",
            get(marketing::http::members),
        )
        .route(
            "/api/v1/marketing/customers/{customer}",
            get(marketing::http::customer),
        )
        .route(
            "/api/v1/marketing/customers/{customer}/membership",
            get(marketing::http::membership),
        )
        .route(
            "/api/v1/marketing/recommendations",
            get(marketing::http::recommendations),
        )
        .route(
            "/api/v1/marketing/campaigns/{id}",
            put(marketing::http::put_campaign).get(marketing::http::campaign),
        )
        .route(
            "/api/v1/marketing/campaigns/{id}/send",
            post(marketing::http::send),
        )
        .route(
            "/api/v1/marketing/campaigns/{id}/touches",
            post(marketing::http::touch),
        )
        .route(
            "/api/v1/marketing/campaigns/{id}/deliveries",
            get(marketing::http::deliveries),
        )
        .route(
            "/api/v1/marketing/campaigns/{id}/sends",
            get(marketing::http::sends),
        )
        .route(
            "/api/v1/marketing/campaigns/{id}/roi",
            get(marketing::http::roi),
        )
        .route(
            "/api/v1/marketing/flash-sales",
            get(marketing::http::flash_sales),
        )
        .route(
            "/api/v1/marketing/flash-sales/{id}",
            put(marketing::http::publish_flash),
        )
        .route(
            "/api/v1/marketing/flash-sales/{id}/end",
            post(marketing::http::end_flash),
        )
        .route(
            "/api/v1/marketing/group-buys",
            get(marketing::http::group_buys),
        )
        .route(
            "/api/v1/marketing/group-buys/{id}",
            put(marketing::http::publish_group_buy),
        )
        .route(
            "/api/v1/marketing/group-buys/{id}/end",
            post(marketing::http::end_group_buy),
        )
        .route(
            "/api/v1/marketing/group-buys/{id}/groups",
            get(marketing::http::groups),
        )
        .route("/api/v1/marketing/groups/{id}", get(marketing::http::group))
        .route(
            "/api/v1/marketing/slow-movers",
            get(marketing::http::slow_movers),
        )
        .route(
            "/api/v1/marketing/clearances/{id}",
            put(marketing::http::clearance),
        )
        .route(
            "/api/v1/marketing/policy",
            get(marketing::http::policy).put(marketing::http::put_policy),
        )
        .route("/api/v1/checkout/price", post(marketing::http::price))
        .route("/api/v1/marketplaces", get(marketplace::http::list))
        .route(
            "/api/v1/marketplaces/{name}/orders",
            post(marketplace::http::import),
        )
        .route(
            "/api/v1/marketplaces/{name}/imports",
            get(marketplace::http::imports),
        )
        .route(
            "/api/v1/marketplaces/{name}/imports/{external_id}",
            get(marketplace::http::one),
        )
        .route(
            "/api/v1/marketplaces/{name}/imports/{external_id}/confirmation/retry",
            post(marketplace::http::retry_confirmation),
        )
        .route("/api/v1/orders/{id}", get(orders::http::get))
        .route("/api/v1/orders/{id}/history", get(orders::http::history))
        .route("/api/v1/orders/{id}/pay", post(orders::http::pay))
        .route("/api/v1/orders/{id}/cancel", post(orders::http::cancel))
        .route(
            "/api/v1/orders/{id}/payments",
            post(payment::http::start).get(payment::http::for_order),
        )
        .route(
            "/api/v1/orders/{id}/refunds",
            post(payment::http::refund).get(payment::http::refunds),
        )
        .route(
            "/api/v1/orders/{id}/after-sales",
            post(after_sales::http::create).get(after_sales::http::for_order),
        )
        .route("/api/v1/after-sales", get(after_sales::http::list))
        .route(
            "/api/v1/after-sales/policy",
            get(after_sales::http::get_policy).put(after_sales::http::put_policy),
        )
        .route("/api/v1/after-sales/{id}", get(after_sales::http::get))
        .route(
            "/api/v1/after-sales/{id}/review",
            post(after_sales::http::review),
        )
        .route("/api/v1/payments/{id}", get(payment::http::get))
        .route(
            "/api/v1/payments/risk/rules",
            get(payment::http::risk_rules).put(payment::http::set_risk_rules),
        )
        .route(
            "/api/v1/payments/risk/decisions",
            get(payment::http::risk_decisions),
        )
        .route(
            "/api/v1/payments/reconciliation/runs",
            post(payment::http::reconcile).get(payment::http::reconciliation_runs),
        )
        .route(
            "/api/v1/payments/reconciliation/runs/{id}/items",
            get(payment::http::reconciliation_items),
        )
        .route(
            "/api/v1/payments/reconciliation/items/{id}/resolve",
            post(payment::http::resolve_item),
        )
        .route("/api/v1/orders/{id}/invoices", get(payment::http::invoices))
        .route(
            "/api/v1/invoices/{number}",
            get(payment::http::invoice_export),
        )
        .route("/api/v1/payments/{id}/review", post(payment::http::review))
        .route("/api/v1/sync/commands", get(edge_sync::http::pull_commands))
        .route("/api/v1/sync/status", get(edge_sync::http::status))
        .route("/api/v1/sync/rejects", get(edge_sync::http::rejects))
        .route(
            "/api/v1/sync/streams/{warehouse}/rebase",
            post(edge_sync::http::rebase),
        )
        .route("/console", get(console::http::page))
        .route("/console/uplot-1.6.32.js", get(console::http::uplot_js))
        .route("/console/uplot-1.6.32.css", get(console::http::uplot_css))
        .route("/api/v1/console/dashboard", get(console::http::dashboard))
        .route("/api/v1/audit", get(audit::http::list))
        .route("/api/v1/audit.csv", get(audit::http::export))
        .route(
            "/api/v1/session",
            post(staff::http::sign_in)
                .get(staff::http::me)
                .delete(staff::http::sign_out),
        )
        .route(
            "/api/v1/staff/users",
            post(staff::http::create_user).get(staff::http::users),
        )
        .route("/api/v1/staff/users/{id}", put(staff::http::edit_user))
        .route(
            "/api/v1/staff/users/{id}/password",
            post(staff::http::set_password),
        )
        .route(
            "/api/v1/staff/users/{id}/totp",
            delete(staff::http::remove_totp),
        )
        .route("/api/v1/staff/me/totp", post(staff::http::begin_totp))
        .route(
            "/api/v1/staff/me/totp/confirm",
            post(staff::http::confirm_totp),
        )
        .route(
            "/api/v1/staff/tokens",
            post(staff::http::create_token).get(staff::http::tokens),
        )
        .route(
            "/api/v1/staff/tokens/{id}",
            delete(staff::http::revoke_token),
        )
        .route("/api/v1/events", get(journal::http::list))
        .route("/api/v1/analytics/sales/{sku}", get(analytics::http::sales))
        .route("/api/v1/analytics/returns", get(analytics::http::returns))
        .route(
            "/api/v1/finance/trial-balance",
            get(finance::http::trial_balance),
        )
        .route("/api/v1/finance/statements", get(finance::http::statements))
        .route(
            "/api/v1/finance/books.beancount",
            get(finance::http::beancount),
        )
        .route("/api/v1/finance/periods", get(finance::http::periods))
        .route("/api/v1/finance/entries", get(finance::http::entries))
        .route("/api/v1/finance/profit", get(finance::http::profit))
        .route(
            "/api/v1/finance/cash-forecast",
            get(finance::http::cash_forecast),
        )
        .route("/api/v1/finance/alerts", get(finance::http::alerts_list))
        .route(
            "/api/v1/finance/alerts/scan",
            post(finance::http::alerts_scan),
        )
        .route(
            "/api/v1/finance/alerts/policy",
            get(finance::http::alert_policy).put(finance::http::set_alert_policy),
        )
        .route(
            "/api/v1/finance/periods/{month}/close",
            post(finance::http::close_period),
        )
        .route("/api/v1/logistics/carriers", get(logistics::http::carriers))
        .route(
            "/api/v1/logistics/carriers/{code}",
            put(logistics::http::put_carrier),
        )
        .route(
            "/api/v1/logistics/carriers/{code}/suspend",
            post(logistics::http::suspend),
        )
        .route(
            "/api/v1/logistics/carriers/{code}/reinstate",
            post(logistics::http::reinstate),
        )
        .route(
            "/api/v1/logistics/policy",
            get(logistics::http::policy).put(logistics::http::put_policy),
        )
        .route("/api/v1/logistics/quotes", post(logistics::http::quote))
        .route(
            "/api/v1/logistics/statements/{id}",
            get(logistics::http::statement),
        )
        .route("/api/v1/logistics/kpis", get(logistics::http::kpis))
        .route("/api/v1/logistics/pools", get(logistics::http::pools))
        .route(
            "/api/v1/logistics/parcels/{waybill}/cancel",
            post(logistics::http::cancel_parcel),
        )
        .route(
            "/api/v1/orders/{id}/shipping",
            get(logistics::http::order_shipping),
        )
        .route(
            "/api/v1/orders/{id}/tracking",
            get(logistics::http::order_tracking),
        )
        .route("/health", get(ops::health))
        .route("/metrics", get(ops::metrics))
        .layer(DefaultBodyLimit::max(settings.max_body_bytes));
    api.merge(sync)
        .merge(notify)
        .merge(rate_cards)
        .merge(submissions)
        .merge(tracking)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::auth::guard,
        ))
        .fallback(tote_shared::runtime::http::not_found)
        .layer(GlobalConcurrencyLimitLayer::new(settings.max_in_flight))
        .layer(axum::middleware::from_fn_with_state(
            Realm("tote-central"),
            harden,
        ))
        .with_state(state)
}

/// Rejects free text that is empty, longer than `max` characters, or carries a character
/// `tote_shared::text` forbids (control, bidirectional override …): a 422 naming the field.
pub fn check_text(field: &str, value: &str, max: usize) -> Result<(), error::ApiError> {
    Ok(tote_shared::text::check(field, value, max)?)
}

/// A party's own reference for a document (an ASN, an invoice, a submission): 1 to 40 letters,
/// digits or '-'.
pub fn check_reference(reference: &str) -> Result<(), error::ApiError> {
    if (1..=40).contains(&reference.len())
        && reference
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        Ok(())
    } else {
        Err(error::ApiError::unprocessable(
            "invalid-field",
            "reference: 1 to 40 letters, digits or '-'",
        ))
    }
}
