//! The edge's OpenAPI 3.1 document, generated from the handlers' annotations (utoipa) and the
//! shared schemas of `tote_shared::openapi`, served at `/api/v1/openapi.json` (public, like
//! sign-in). Security is as `auth::guard` applies it: the API token or a worker's session token
//! as a bearer token, or the session cookie; 403 where a route needs a role (`auth::access`).
//! Not documented: the pages (`/`, `/floor`), the server-sent fleet stream, `/health`,
//! `/metrics`.

use super::{dock, fleet, freezes, kpis, ops, orders, picking, replenish, returns, robots, session, stations, stock, waves, work};
use axum::response::IntoResponse;
use serde_json::{json, Value};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Tote edge API", description = "One warehouse's floor: locations, stock, deliveries, put-away, customer returns, counts, pick faces and their refills, picking, packing, shipping, workers, the robot fleet and its MQTT logins. Works while HQ is away. Errors are RFC 9457 problem+json. Every write but the MQTT logins' takes an optional Idempotency-Key: the same key with the same request (and caller) replays the answer, with another request it is a 422. Bodies are JSON (application/json) and refuse unknown fields."),
    paths(
        session::sign_in, session::me, session::sign_out, session::create_worker, session::workers, session::set_active,
        stock::create_location, stock::locations, stock::receive, stock::adjust, stock::query, stock::create_delivery, stock::deliveries,
        freezes::freeze, freezes::lift, freezes::list, kpis::kpis,
        dock::book_appointment, dock::appointments, dock::appointment, dock::arrive, dock::unload, dock::unloaded, dock::cancel_appointment, dock::no_show,
        waves::waves, waves::plan_wave, waves::wave, waves::release_wave, waves::hold_wave, waves::cancel_wave, waves::batches, waves::batch, waves::start_batch, waves::batch_scan, waves::tote, waves::sort_tote,
        replenish::pick_faces, replenish::set_pick_face, replenish::remove_pick_face, replenish::refills, replenish::refill_scan, replenish::cancel_refill,
        returns::list, returns::get, returns::check, returns::close,
        work::suggest, work::move_stock, work::open_count, work::counts, work::count, work::submit_count, work::decide_count,
        picking::tasks, picking::scan, picking::short,
        orders::list, orders::get, orders::pack, orders::ship, orders::print_jobs, orders::waybill_pools,
        ops::scanners, ops::sync_status, fleet::fleet, fleet::instant_action, fleet::reinstate,
        robots::issue_robot, robots::revoke_robot, robots::issue_observer, robots::revoke_observer, robots::logins,
        stations::floor_now, stations::stations, stations::station,
    ),
    components(schemas(tote_shared::openapi::ProblemSchema, tote_shared::openapi::Text64, tote_shared::openapi::Scan, robots::MqttName)),
    modifiers(&Security),
    security(("bearer" = []), ("session_cookie" = []))
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            let mut bearer = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build();
            bearer.description = Some("The edge's API token ([auth] api_token: station software, integrations; every role), or the `token` a sign-in answered.".into());
            components.add_security_scheme("bearer", SecurityScheme::Http(bearer));
            let cookie = ApiKeyValue::with_description(crate::auth::COOKIE, "The session cookie a sign-in sets (the handheld pages).");
            components.add_security_scheme("session_cookie", SecurityScheme::ApiKey(ApiKey::Cookie(cookie)));
        }
    }
}

/// The whole document, with what one schema per field cannot hold.
pub fn document_value() -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_else(|_| json!({}));
    tote_shared::openapi::unsigned_ranges(&mut doc);
    tote_shared::openapi::tagged_operation_ids(&mut doc);
    tote_shared::openapi::required_challenges(&mut doc);
    // Sign in with a badge, or with worker and PIN; never both (else 400).
    let schemas = &mut doc["components"]["schemas"];
    let absent = json!({"type": "null"});
    let badge = json!({"type": "string", "minLength": 1, "maxLength": 128, "description": "The badge's barcode."});
    let worker = json!({"type": "string", "pattern": "^[A-Za-z0-9._-]{1,32}$", "maxLength": 32});
    let pin = json!({"type": "string", "maxLength": 64});
    schemas["SignIn"] = json!({
        "description": schemas["SignIn"]["description"],
        "oneOf": [
            {"type": "object", "additionalProperties": false, "required": ["badge"],
             "properties": {"badge": badge, "worker": absent, "pin": absent}},
            {"type": "object", "additionalProperties": false, "required": ["worker", "pin"],
             "properties": {"worker": worker, "pin": pin, "badge": absent}},
        ]
    });
    // A receipt names its item one way: what was scanned, the GTIN, or the SKU.
    let item = |given: &str| {
        let properties: serde_json::Map<String, Value> =
            ["scan", "gtin", "sku"].iter().map(|name| ((*name).to_owned(), if *name == given { json!({"not": {"type": "null"}}) } else { absent.clone() })).collect();
        json!({"required": [given], "properties": properties})
    };
    schemas["ReceiptRequest"]["oneOf"] = json!([item("scan"), item("gtin"), item("sku")]);
    // An adjustment is a count (`counted`), damage (a negative `delta`) or found stock (a
    // positive one); short picks are reported on the pick task, never here.
    let adjustment = &mut schemas["AdjustmentRequest"];
    adjustment["properties"]["reason"] = json!({"type": "string", "enum": ["count", "damage", "found"]});
    adjustment["oneOf"] = json!([
        {"required": ["counted"], "properties": {"reason": {"const": "count"}, "counted": {"type": "integer", "minimum": 0, "maximum": 1_000_000}, "delta": absent}},
        {"required": ["delta"], "properties": {"reason": {"const": "damage"}, "delta": {"type": "integer", "minimum": -100_000, "maximum": -1}, "counted": absent}},
        {"required": ["delta"], "properties": {"reason": {"const": "found"}, "delta": {"type": "integer", "minimum": 1, "maximum": 100_000}, "counted": absent}},
    ]);
    doc
}

pub async fn document() -> impl IntoResponse {
    axum::Json(document_value())
}

#[cfg(test)]
mod tests {
    /// The MQTT login routes are in the document, and every 401 requires its challenge.
    #[test]
    fn the_document_has_the_mqtt_login_routes_and_every_401_its_challenge() {
        let doc = super::document_value();
        let paths = doc["paths"].as_object().expect("paths");
        for path in ["/api/v1/fleet/{manufacturer}/{serial}/mqtt-login", "/api/v1/mqtt/observers/{name}", "/api/v1/mqtt/logins"] {
            assert!(paths.contains_key(path), "{path}");
        }
        let challenged = tote_shared::openapi::challenged_401s(&doc).expect("every 401 requires its challenge");
        assert!(challenged > 30, "{challenged}");
    }
}
