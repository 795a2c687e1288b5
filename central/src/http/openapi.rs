//! The OpenAPI 3 document, generated from the handlers' annotations (utoipa).

use super::{catalog, inventory, orders, sync, warehouses};
use crate::store;
use axum::response::IntoResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Tote HQ API", description = "Catalog, warehouses, inventory, orders and edge sync. Errors are RFC 9457 problem+json."),
    paths(
        catalog::create_spu, catalog::create_sku, catalog::get_sku,
        warehouses::create, warehouses::list,
        inventory::levels, inventory::ledger,
        orders::create, orders::get, orders::history, orders::pay, orders::cancel,
        sync::push_events, sync::pull_commands, sync::status, sync::rejects,
    ),
    components(schemas(
        store::Spu, store::SkuRecord, store::WarehouseRecord, store::StockRow, store::LedgerEntry,
        store::OrderRecord, store::OrderHistoryEntry, store::EdgeSyncRow, catalog::NewSku, catalog::SkuDetail,
        warehouses::NewWarehouseRequest, orders::NewOrder, sync::EdgeLag, store::RejectedEvent,
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
