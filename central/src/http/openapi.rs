//! The OpenAPI 3 document, generated from the handlers' annotations (utoipa).

use crate::{analytics, audit, catalog, edge_sync, inventory, journal, orders, payment, warehouses};
use axum::response::IntoResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Tote HQ API", description = "Catalog, warehouses, inventory, orders, edge sync and the business-event journal. Errors are RFC 9457 problem+json. Writes take an optional Idempotency-Key (required for orders): the same key with the same request replays the answer, with another request it is a 422."),
    paths(
        catalog::http::create_spu, catalog::http::create_sku, inventory::http::sku_detail,
        warehouses::http::create, warehouses::http::list, warehouses::http::replace_token,
        inventory::http::levels, inventory::http::ledger,
        orders::http::create, orders::http::get, orders::http::history, orders::http::pay, orders::http::cancel,
        edge_sync::http::push_events, edge_sync::http::pull_commands, edge_sync::http::status, edge_sync::http::rejects, edge_sync::http::rebase, audit::http::list,
        journal::http::list, analytics::http::sales,
        payment::http::start, payment::http::for_order, payment::http::get, payment::http::review, payment::http::refund, payment::http::refunds,
        payment::http::risk_rules, payment::http::set_risk_rules, payment::http::risk_decisions, payment::http::invoices, payment::http::invoice_export,
        payment::http::reconcile, payment::http::reconciliation_runs, payment::http::reconciliation_items, payment::http::resolve_item,
    ),
    components(schemas(
        catalog::Spu, catalog::SkuRecord, warehouses::WarehouseRecord, inventory::StockRow, inventory::LedgerEntry,
        orders::OrderRecord, orders::OrderHistoryEntry, edge_sync::EdgeSyncRow, catalog::http::NewSku, inventory::http::SkuDetail,
        warehouses::http::NewWarehouseRequest, warehouses::http::NewEdgeToken, warehouses::http::EdgeTokenReplaced, orders::http::NewOrder, edge_sync::http::EdgeLag, edge_sync::PushWatch, edge_sync::RejectedEvent, edge_sync::rebase::Rebase, edge_sync::rebase::Rebased, audit::AuditEntry,
        journal::http::EventPage, journal::JournalEntry, journal::BusinessEvent, analytics::store::SalesDay,
        payment::Payment, payment::PaymentState, payment::RefundLine, payment::store::Refund, payment::store::RefundState,
        payment::channel::PayMethod, payment::http::NewPayment, payment::http::Review, payment::http::NewRefund, payment::http::RefundLineRequest, payment::http::Payer, payment::store::RiskDecisionRow,
        payment::reconciliation::Run, payment::reconciliation::Item, payment::http::NewRun, payment::http::Resolution,
    )),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
        }
    }
}

pub async fn document() -> impl IntoResponse {
    axum::Json(ApiDoc::openapi())
}
