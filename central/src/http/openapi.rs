//! The OpenAPI 3.1 document, generated from the handlers' annotations (utoipa) and the shared
//! schemas of `tote_shared::openapi`, then completed at serve time with what only the running
//! configuration knows (`orders.max_lines`) and the rules one schema cannot hold per field
//! (an address needs a known city unless it brings coordinates).

use crate::startup::AppState;
use crate::{
    after_sales, analytics, audit, catalog, console, edge_sync, finance, inventory, journal,
    logistics, marketing, marketplace, orders, payment, procurement, staff, supplier, warehouses,
};
use axum::extract::State;
use axum::response::IntoResponse;
use serde_json::{json, Value};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Tote HQ API", description = "Catalog, warehouses, inventory, orders, payments, logistics, after-sales, suppliers, procurement (with the supplier API), edge sync and the business-event journal. Errors are RFC 9457 problem+json. Writes take an optional Idempotency-Key (required for orders and refunds): the same key with the same request replays the answer, with another request it is a 422. Bodies are JSON (application/json) and refuse unknown fields, except the sync protocol's, which tolerates them."),
    paths(
        catalog::http::create_spu, catalog::http::create_sku, catalog::http::import, catalog::http::export, inventory::http::sku_detail,
        warehouses::http::create, warehouses::http::list, warehouses::http::replace_token,
        inventory::http::levels, inventory::http::ledger,
        orders::http::create, orders::http::list, orders::http::get, orders::http::history, orders::http::pay, orders::http::cancel,
        orders::http::checks, orders::http::put_checks, orders::http::block, orders::http::blocklist, orders::http::unblock,
        marketplace::http::import, marketplace::http::list, marketplace::http::imports, marketplace::http::one, marketplace::http::retry_confirmation,
        edge_sync::http::push_events, edge_sync::http::pull_commands, edge_sync::http::status, edge_sync::http::rejects, edge_sync::http::rebase, audit::http::list, audit::http::export, console::http::dashboard,
        staff::http::sign_in, staff::http::me, staff::http::sign_out, staff::http::create_user, staff::http::users, staff::http::edit_user, staff::http::set_password,
        staff::http::begin_totp, staff::http::confirm_totp, staff::http::remove_totp, staff::http::create_token, staff::http::tokens, staff::http::revoke_token,
        journal::http::list, analytics::http::sales, analytics::http::returns, finance::http::trial_balance, finance::http::statements, finance::http::beancount, finance::http::periods, finance::http::entries, finance::http::close_period, finance::http::profit, finance::http::cash_forecast, finance::http::alerts_list, finance::http::alerts_scan, finance::http::alert_policy, finance::http::set_alert_policy,
        after_sales::http::create, after_sales::http::for_order, after_sales::http::list, after_sales::http::get, after_sales::http::review,
        after_sales::http::get_policy, after_sales::http::put_policy,
        marketing::http::publish, marketing::http::list, marketing::http::withdraw, marketing::http::policy, marketing::http::put_policy, marketing::http::price, marketing::http::issue_codes, marketing::http::codes, marketing::http::publish_flash, marketing::http::flash_sales, marketing::http::end_flash, marketing::http::publish_group_buy, marketing::http::group_buys, marketing::http::end_group_buy, marketing::http::groups, marketing::http::group, marketing::http::slow_movers, marketing::http::clearance,
        marketing::http::define_segment, marketing::http::members, marketing::http::customer, marketing::http::membership, marketing::http::put_campaign, marketing::http::campaigns, marketing::http::campaign, marketing::http::segments, marketing::http::send, marketing::http::touch, marketing::http::deliveries,
        marketing::http::sends, marketing::http::roi, marketing::http::recommendations,
        payment::http::start, payment::http::for_order, payment::http::get, payment::http::review, payment::http::refund, payment::http::refunds,
        payment::http::risk_rules, payment::http::set_risk_rules, payment::http::risk_decisions, payment::http::invoices, payment::http::invoice_export,
        payment::http::reconcile, payment::http::reconciliation_runs, payment::http::reconciliation_items, payment::http::resolve_item,
        logistics::http::carriers, logistics::http::put_carrier, logistics::http::suspend, logistics::http::reinstate,
        logistics::http::import_rates, logistics::http::import_remote_areas, logistics::http::policy, logistics::http::put_policy,
        logistics::http::quote, logistics::http::order_shipping, logistics::http::order_tracking,
        logistics::http::reconcile_statement, logistics::http::statement, logistics::http::kpis, logistics::http::pools, logistics::http::cancel_parcel,
        supplier::http::create, supplier::http::list, supplier::http::get, supplier::http::edit, procurement::http::supplier_step, supplier::http::set_credential,
        supplier::http::add_price, supplier::http::prices, supplier::http::submit, supplier::http::my_submissions, supplier::http::submissions, supplier::http::decide_submission,
        procurement::http::create, procurement::http::list, procurement::http::get, procurement::http::approve, procurement::http::cancel, procurement::http::close, procurement::http::landed_cost,
        procurement::http::invoices, procurement::http::decide, procurement::http::pay, procurement::http::policy, procurement::http::set_policy,
        procurement::http::my_orders, procurement::http::my_order, procurement::http::confirm, procurement::http::reject, procurement::http::ship,
        procurement::http::invoice, procurement::http::my_invoices,
        procurement::http::scorecard, procurement::http::statement, procurement::http::my_statement,
        procurement::http::suggestions, procurement::http::drafts, procurement::http::replenishment_policy, procurement::http::set_replenishment_policy,
        inventory::http::health_report, inventory::http::alerts, inventory::http::scan, inventory::http::health_policy, inventory::http::set_health_policy,
        catalog::http::create_category, catalog::http::categories, catalog::http::set_state, catalog::http::add_price, catalog::http::prices, inventory::http::shop_item,
    ),
    components(schemas(
        tote_shared::openapi::ProblemSchema, tote_shared::openapi::Text32,
        catalog::Spu, catalog::SkuRecord, warehouses::WarehouseRecord, inventory::StockRow, inventory::LedgerEntry,
        orders::OrderRecord, orders::OrderHistoryEntry, edge_sync::EdgeSyncRow, catalog::http::NewSku, inventory::http::SkuDetail,
        warehouses::http::NewWarehouseRequest, warehouses::http::NewEdgeToken, warehouses::http::EdgeTokenReplaced, orders::http::NewOrder, orders::store::OrderSummary, orders::OrderPart, marketplace::ImportOrder, marketplace::ImportLine, marketplace::ImportRecord, marketplace::ImportState, marketplace::Confirmation, marketplace::ConfirmState, marketplace::http::MarketplaceStatus, orders::http::NewBlock, orders::store::BlockEntry, orders::checks::CheckPolicy, orders::checks::PurchaseLimit, orders::checks::BlockKind, edge_sync::http::EdgeLag, edge_sync::PushWatch, edge_sync::RejectedEvent, edge_sync::rebase::Rebase, edge_sync::rebase::Rebased, audit::AuditEntry,
        console::Dashboard, console::DashDay, console::Share, console::TopSku, staff::User, staff::ApiToken, staff::http::SignIn, staff::http::Session, staff::http::NewUser, staff::http::UserChange, staff::http::NewPassword, staff::http::TotpEnrolment, staff::http::TotpConfirm, staff::http::NewToken, staff::http::MadeToken,
        journal::http::EventPage, journal::JournalEntry, journal::BusinessEvent, analytics::store::SalesDay, finance::store::Balance, finance::http::Statements, finance::statements::IncomeStatement, finance::statements::BalanceSheet, finance::statements::CashFlowStatement, finance::statements::CashFlowLine, finance::periods::Period, finance::store::PostedEntry, finance::store::PostedLine, journal::LateCost, procurement::http::NewLandedCost, finance::http::ProfitReport, finance::store::ProfitRow, finance::store::ProfitBy, finance::cashflow::CashForecast, finance::cashflow::Week, finance::alerts::FinanceAlert, finance::alerts::AlertPolicy, finance::alerts::AlertScan, finance::alerts::FinanceFinding,
        payment::Payment, payment::PaymentState, payment::RefundLine, payment::store::Refund, payment::store::RefundState,
        payment::channel::PayMethod, payment::http::NewPayment, payment::http::Review, payment::http::NewRefund, payment::http::RefundLineRequest, payment::http::Payer, payment::store::RiskDecisionRow,
        payment::reconciliation::Run, payment::reconciliation::Item, payment::http::NewRun, payment::http::Resolution,
        catalog::ShippingSpec, catalog::http::SkuImport, logistics::rates::Carrier, logistics::rates::Insurance, logistics::rates::Service, logistics::rates::Parcel, logistics::rates::Price,
        logistics::choice::Choice, logistics::choice::Considered, logistics::choice::Unfit, logistics::Policy, logistics::StoredChoice,
        logistics::http::CarrierTerms, logistics::http::Suspension, logistics::http::ImportReport, logistics::http::QuoteRequest, crate::csv_rows::RowError, logistics::store::ParcelView, logistics::tracking::TrackEvent, logistics::tracking::TrackState,
        logistics::statement::StatementRun, logistics::statement::Difference, logistics::statement::DifferenceKind, logistics::kpi::Kpi, logistics::http::StatementAnswer, logistics::http::PoolView, logistics::store::PoolRow,
        supplier::Supplier, supplier::SupplierState, supplier::SupplierStep, supplier::Document, supplier::DocumentKind, supplier::PriceBreak, supplier::PriceTerms, supplier::SupplierPrice,
        supplier::http::NewSupplier, supplier::http::SupplierEdit, supplier::http::StepRequest, supplier::http::NewCredential, supplier::http::CredentialSet, supplier::http::NewPrice,
        supplier::http::NewSubmission, supplier::submissions::Submitted, supplier::submissions::PriceListLine, supplier::submissions::OfferedItem, supplier::submissions::SubmissionState, supplier::submissions::Submission, supplier::submissions::Listing, supplier::submissions::SubmissionDecision,
        procurement::PurchaseOrder, procurement::PoState, procurement::PoLine, procurement::Asn, procurement::AsnLine, procurement::AsnState, procurement::Arrived,
        procurement::SupplierInvoice, procurement::SupplierInvoiceLine, procurement::InvoiceState, procurement::InvoiceDifference, procurement::InvoiceDifferenceKind, procurement::Tolerance,
        procurement::http::NewPurchaseOrder, procurement::http::PurchaseOrderView, procurement::http::Because, procurement::http::InvoiceDecision, procurement::http::PoConfirmation,
        procurement::http::NewAsn, procurement::http::NewInvoice, procurement::http::InvoicePayment, journal::PurchaseLine,
        procurement::suggestions::ReplenishmentPolicy, procurement::suggestions::Suggestion, procurement::suggestions::SuggestedLine, procurement::http::DraftsRequest,
        procurement::scorecard::Scorecard, procurement::scorecard::Month, procurement::scorecard::Statement, procurement::scorecard::StatementLine, procurement::scorecard::StatementInvoice,
        procurement::forecast::Forecast, procurement::forecast::Pattern, procurement::forecast::Method, procurement::replenish::Levels, procurement::replenish::LeadTime,
        inventory::health::Finding, inventory::health::AlertKind, inventory::health::StockAlert, inventory::health::ScanOutcome, inventory::health::HealthPolicy,
        catalog::categories::AttributeDef, catalog::categories::AttributeKind, catalog::categories::NewCategory, catalog::categories::Category, catalog::SkuState, catalog::prices::PriceKind, catalog::prices::PriceEntry, catalog::store::NewSellingPrice, catalog::http::StateChange, catalog::http::PriceBook, inventory::http::ShopItem,
    )),
    modifiers(&Security),
    security(("bearer" = []))
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            let bearer = |description: &str| {
                let mut scheme = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build();
                scheme.description = Some(description.to_owned());
                SecurityScheme::Http(scheme)
            };
            components.add_security_scheme("bearer", bearer("HQ: the admin token (every operation) or the read-only token (reads; a write answers 403), from central's [auth] settings."));
            components.add_security_scheme("edge", bearer("An edge daemon: its warehouse's edge_token, given when the warehouse was created."));
            components.add_security_scheme("supplier", bearer("A supplier's system: the credential HQ set for that supplier (PUT /api/v1/suppliers/{id}/credential); it reaches only that supplier's own orders, ASNs and invoices."));
        }
    }
}

/// The document as this server runs: the static one plus what depends on its settings.
pub fn for_settings(max_lines: usize) -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_else(|_| json!({}));
    tote_shared::openapi::unsigned_ranges(&mut doc);
    tote_shared::openapi::tagged_operation_ids(&mut doc);
    tote_shared::openapi::required_challenges(&mut doc);
    let schemas = &mut doc["components"]["schemas"];
    schemas["NewOrder"]["properties"]["lines"]["maxItems"] = json!(max_lines);
    let cities: Vec<&str> = tote_shared::geo::city_names().collect();
    // Routing needs a point: the coordinates sent, or a city from the built-in table.
    let located = json!({"required": ["location"], "properties": {"location": {"$ref": "#/components/schemas/GeoPoint"}}});
    schemas["NewWarehouseRequest"]["anyOf"] =
        json!([located, {"required": ["city"], "properties": {"city": {"enum": cities}}}]);
    schemas["NewOrder"]["anyOf"] =
        json!([located, {"properties": {"ship_to": {"properties": {"city": {"enum": cities}}}}}]);
    doc
}

pub async fn document(State(state): State<AppState>) -> impl IntoResponse {
    axum::Json(for_settings(state.settings.orders.max_lines))
}

#[cfg(test)]
mod tests {
    /// HQ's hand-operated routes are in the document, and every 401 requires its challenge.
    #[test]
    fn the_document_has_the_audited_routes_and_every_401_its_challenge() {
        let doc = super::for_settings(100);
        let paths = doc["paths"].as_object().expect("paths");
        for path in [
            "/api/v1/sync/streams/{warehouse}/rebase",
            "/api/v1/audit",
            "/api/v1/warehouses/{code}/edge-token",
        ] {
            assert!(paths.contains_key(path), "{path}");
        }
        let audit = &doc["paths"]["/api/v1/audit"]["get"]["parameters"];
        assert!(
            audit
                .as_array()
                .expect("parameters")
                .iter()
                .all(|p| p["in"] == "query"),
            "{audit}"
        );
        let challenged =
            tote_shared::openapi::challenged_401s(&doc).expect("every 401 requires its challenge");
        assert!(challenged > 30, "{challenged}");
    }

    /// Every documented route has its place in the access table: none falls to the admin-only
    /// default by being forgotten (only the staff routes are admin's by design).
    #[test]
    fn every_route_has_its_place_in_the_access_table() {
        use crate::staff::{listed, need, Need};
        let doc = super::for_settings(100);
        let mut checked = 0;
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for method in item.as_object().expect("methods").keys() {
                let needed = need(&method.to_ascii_uppercase(), path);
                let own_credentials = matches!(
                    needed,
                    Need::Public | Need::Metrics | Need::Edge | Need::Supplier | Need::SignedIn
                );
                assert!(
                    own_credentials || listed(path),
                    "{method} {path} is not in staff::AREAS"
                );
                checked += 1;
            }
        }
        assert!(checked > 150, "{checked} operations");
    }
}
