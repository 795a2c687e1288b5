//! Staff: the people at headquarters and the systems HQ plugs in. Named users (password hashed
//! with Argon2id, an optional TOTP second factor), their roles, their sessions, and API tokens
//! per integration whose scopes are the same roles. One access table (`need` + `may`) decides
//! every request, for the API and the console alike (`auth::guard` applies it).
//!
//! What a role may do: every HQ role reads the business (catalog, stock, orders, suppliers,
//! logistics, the dashboard); finance's books are read by finance, admin and read-only; users,
//! tokens and the audit log by admin (the audit log by read-only too). Each change belongs to
//! one area, and each area to the roles that do that work; admin does all of them. A route
//! missing from the table is admin-only: forgetting one fails closed.

pub mod http;
pub mod store;
pub mod totp;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Admin,
    Merchandiser,
    Buyer,
    Finance,
    CustomerService,
    Operations,
    ReadOnly,
}

names!(Role {
    Admin => "admin",
    Merchandiser => "merchandiser",
    Buyer => "buyer",
    Finance => "finance",
    CustomerService => "customer_service",
    Operations => "operations",
    ReadOnly => "read_only",
});

/// A part of the business a change belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    /// SPUs, SKUs, categories, prices.
    Catalog,
    /// Promotions, campaigns, flash sales, segments.
    Marketing,
    /// Suppliers, purchase orders, replenishment, three-way match.
    Supply,
    /// Books, periods, reconciliation, settlements, payment risk, supplier payments.
    Finance,
    /// Orders, payments and refunds on them, after-sales, marketplace imports.
    Service,
    /// Warehouses, edges and their streams, stock health, carriers and logistics.
    Operations,
    /// Users and API tokens.
    Staff,
    /// The audit log.
    Audit,
    /// The console's own reads (dashboard, work queues): every HQ role.
    Console,
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// No caller needed (the route authenticates by other means, or is public).
    Public,
    /// `/metrics`: open unless `auth.metrics_token` is set.
    Metrics,
    /// An edge, by its own token (the handler's extractor checks it).
    Edge,
    /// A supplier's system, by its own credential (the handler's extractor checks it).
    Supplier,
    /// Any HQ caller (who am I).
    SignedIn,
    Read(Area),
    Write(Area),
}

/// Where each path (as routed: `{id}` placeholders) belongs; the first matching prefix wins.
const AREAS: &[(&str, Area)] = &[
    // Credentials of other parties: admin only (a buyer who could set a supplier's credential
    // could invoice as the supplier and approve it).
    ("/api/v1/suppliers/{id}/credential", Area::Staff),
    ("/api/v1/warehouses/{code}/edge-token", Area::Staff),
    ("/api/v1/orders/{id}/invoices", Area::Finance),
    ("/api/v1/staff/", Area::Staff),
    ("/api/v1/audit", Area::Audit),
    ("/api/v1/console/", Area::Console),
    ("/api/v1/finance/", Area::Finance),
    ("/api/v1/payments/reconciliation/", Area::Finance),
    ("/api/v1/payments/risk/", Area::Finance),
    ("/api/v1/payments/{id}/review", Area::Finance),
    ("/api/v1/supplier-invoices/{id}/payment", Area::Finance),
    ("/api/v1/invoices/", Area::Finance),
    ("/api/v1/spus", Area::Catalog),
    ("/api/v1/skus", Area::Catalog),
    ("/api/v1/categories", Area::Catalog),
    ("/api/v1/marketing/", Area::Marketing),
    ("/api/v1/suppliers", Area::Supply),
    ("/api/v1/purchase-orders", Area::Supply),
    ("/api/v1/supplier-invoices", Area::Supply),
    ("/api/v1/supplier-submissions", Area::Supply),
    ("/api/v1/procurement/", Area::Supply),
    ("/api/v1/replenishment/", Area::Supply),
    ("/api/v1/orders/{id}/shipping", Area::Operations),
    ("/api/v1/orders/{id}/tracking", Area::Operations),
    ("/api/v1/orders", Area::Service),
    ("/api/v1/after-sales", Area::Service),
    ("/api/v1/checkout/", Area::Service),
    ("/api/v1/shop/", Area::Service),
    ("/api/v1/marketplaces", Area::Service),
    ("/api/v1/payments/", Area::Service),
    ("/api/v1/warehouses", Area::Operations),
    ("/api/v1/sync/", Area::Operations),
    ("/api/v1/inventory/", Area::Operations),
    ("/api/v1/logistics/", Area::Operations),
    ("/api/v1/analytics/", Area::Operations),
    ("/api/v1/events", Area::Operations),
];

/// Reads of customers' data and live coupon codes, which only marketing's roles may make.
const CUSTOMER_READS: &[&str] = &[
    "/api/v1/marketing/promotions/{id}/codes",
    "/api/v1/marketing/segments/{id}/members",
    "/api/v1/marketing/customers/{customer}",
    "/api/v1/marketing/customers/{customer}/membership",
    "/api/v1/marketing/campaigns/{id}/deliveries",
    "/api/v1/marketing/campaigns/{id}/sends",
];

/// What a request to `path` (the routed template) with `method` needs.
pub fn need(method: &str, path: &str) -> Need {
    let read = matches!(method, "GET" | "HEAD");
    match path {
        "/health" | "/api/v1/openapi.json" => return Need::Public,
        "/metrics" => return Need::Metrics,
        "/api/v1/session" => return if read { Need::SignedIn } else { Need::Public },
        "/api/v1/sync/events" | "/api/v1/sync/commands" => return Need::Edge,
        // A user's own second factor and password (the handler tells own from an admin's).
        "/api/v1/staff/me/totp"
        | "/api/v1/staff/me/totp/confirm"
        | "/api/v1/staff/users/{id}/password" => return Need::SignedIn,
        // Channels and the tracking aggregator sign what they send; the handler checks it.
        "/api/v1/payments/notify/{channel}" | "/api/v1/logistics/tracking/kuaidi100" => {
            return Need::Public
        }
        // Computations posted as bodies that change nothing: reads (the shop front prices a
        // cart with a read-only token).
        "/api/v1/checkout/price" => return Need::Read(Area::Service),
        "/api/v1/logistics/quotes" => return Need::Read(Area::Operations),
        _ => {}
    }
    if path == "/" || path.starts_with("/console") {
        return Need::Public;
    }
    if path.starts_with("/api/v1/supplier/") {
        return Need::Supplier;
    }
    // Customers' personal data and coupon codes: read by those who run marketing only.
    if read && CUSTOMER_READS.contains(&path) {
        return Need::Write(Area::Marketing);
    }
    // Unlisted: admin only.
    let area = AREAS
        .iter()
        .find(|(prefix, _)| path.starts_with(prefix))
        .map_or(Area::Staff, |(_, area)| *area);
    if read {
        Need::Read(area)
    } else {
        Need::Write(area)
    }
}

/// Whether `path` has its own entry in the access table (not the admin-only default).
pub fn listed(path: &str) -> bool {
    AREAS.iter().any(|(prefix, _)| path.starts_with(prefix))
}

/// The areas whose changes a role makes.
fn writes(role: Role) -> &'static [Area] {
    use Area::*;
    match role {
        Role::Admin => &[
            Catalog, Marketing, Supply, Finance, Service, Operations, Staff, Audit, Console,
        ],
        Role::Merchandiser => &[Catalog, Marketing],
        Role::Buyer => &[Supply],
        Role::Finance => &[Finance],
        Role::CustomerService => &[Service],
        Role::Operations => &[Operations],
        Role::ReadOnly => &[],
    }
}

/// Whether a caller with `roles` may do what `need` asks (the caller-less needs are decided
/// elsewhere and answer false here).
pub fn may(roles: &[Role], need: Need) -> bool {
    match need {
        Need::SignedIn => !roles.is_empty(),
        Need::Read(area) => roles.iter().any(|&role| may_read(role, area)),
        Need::Write(area) => roles.iter().any(|&role| writes(role).contains(&area)),
        Need::Public | Need::Metrics | Need::Edge | Need::Supplier => false,
    }
}

fn may_read(role: Role, area: Area) -> bool {
    match area {
        Area::Staff => role == Role::Admin,
        Area::Audit => matches!(role, Role::Admin | Role::ReadOnly),
        Area::Finance => matches!(role, Role::Admin | Role::ReadOnly | Role::Finance),
        _ => true,
    }
}

/// The role a change to `area` needs, for the refusal's message.
pub fn who_does(area: Area) -> String {
    let roles: Vec<&str> = Role::ALL
        .iter()
        .filter(|r| **r != Role::Admin && writes(**r).contains(&area))
        .map(|r| r.as_str())
        .collect();
    if roles.is_empty() {
        "admin".into()
    } else {
        format!("{} (or admin)", roles.join(" or "))
    }
}

/// Roles as stored (`"buyer,finance"`) and sent; unknown names are refused with the list.
pub fn parse_roles(names: &[String]) -> Result<Vec<Role>, String> {
    let mut roles = Vec::with_capacity(names.len());
    for name in names {
        let role = Role::parse(name).ok_or_else(|| {
            format!(
                "unknown role {name:?}: one of {}",
                Role::ALL
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
        if !roles.contains(&role) {
            roles.push(role);
        }
    }
    if roles.is_empty() {
        return Err("at least one role".into());
    }
    roles.sort();
    Ok(roles)
}

pub fn join_roles(roles: &[Role]) -> String {
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// Roles as stored; a name no longer known is dropped (it grants nothing).
pub fn split_roles(stored: &str) -> Vec<Role> {
    stored.split(',').filter_map(Role::parse).collect()
}

/// A user id: 1 to 32 letters, digits, '.', '_' or '-'.
pub fn valid_id(id: &str) -> bool {
    (1..=32).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// A password: 12 to 128 characters (NIST SP 800-63B: length, not composition rules).
pub fn check_password(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if (12..=128).contains(&n) {
        Ok(())
    } else {
        Err("password: 12 to 128 characters".into())
    }
}

/// Failed sign-ins in a row that lock a user out, and for how long.
pub const MAX_FAILED_SIGN_INS: i64 = 5;
pub const LOCKOUT_MS: i64 = 15 * 60_000;

/// A user as the staff API shows it (never the hash or the TOTP secret).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct User {
    pub id: String,
    pub name: String,
    #[schema(value_type = Vec<String>)]
    pub roles: Vec<String>,
    pub active: bool,
    /// Whether sign-in asks for a TOTP code.
    pub totp: bool,
    /// Locked out after failed sign-ins until then (0: not locked).
    pub locked_until_ms: i64,
    pub created_ms: i64,
}

/// An API token as listed (the secret itself is shown once, when made).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApiToken {
    pub id: String,
    #[schema(value_type = Vec<String>)]
    pub scopes: Vec<String>,
    pub created_by: String,
    pub created_ms: i64,
    pub revoked_ms: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_change_needs_the_role_that_does_that_work() {
        let w = |path| need("POST", path);
        assert_eq!(
            w("/api/v1/purchase-orders/{id}/approve"),
            Need::Write(Area::Supply)
        );
        assert_eq!(
            w("/api/v1/marketing/promotions/{id}/withdraw"),
            Need::Write(Area::Marketing)
        );
        assert_eq!(
            w("/api/v1/payments/reconciliation/items/{id}/resolve"),
            Need::Write(Area::Finance)
        );
        assert_eq!(
            w("/api/v1/after-sales/{id}/review"),
            Need::Write(Area::Service)
        );
        assert_eq!(
            w("/api/v1/supplier-invoices/{id}/payment"),
            Need::Write(Area::Finance),
            "paying is finance's, matching the buyer's"
        );
        assert_eq!(
            w("/api/v1/supplier-invoices/{id}/decision"),
            Need::Write(Area::Supply)
        );
        assert_eq!(
            w("/api/v1/sync/streams/{warehouse}/rebase"),
            Need::Write(Area::Operations)
        );
        assert_eq!(
            w("/api/v1/something-new"),
            Need::Write(Area::Staff),
            "unlisted routes are admin-only"
        );
        assert!(may(
            &[Role::Buyer],
            w("/api/v1/purchase-orders/{id}/approve")
        ));
        assert!(!may(
            &[Role::Merchandiser],
            w("/api/v1/purchase-orders/{id}/approve")
        ));
        assert!(!may(&[Role::ReadOnly], w("/api/v1/orders")));
        assert!(
            may(&[Role::Admin], w("/api/v1/something-new"))
                && !may(
                    &[Role::Operations, Role::Finance],
                    w("/api/v1/something-new")
                )
        );
    }

    #[test]
    fn the_books_users_and_audit_are_read_only_by_those_who_keep_them() {
        let r = |path| need("GET", path);
        assert!(
            may(&[Role::Merchandiser], r("/api/v1/purchase-orders")),
            "the business is open to every HQ role"
        );
        assert!(!may(&[Role::Merchandiser], r("/api/v1/finance/statements")));
        assert!(
            may(&[Role::Finance], r("/api/v1/finance/statements"))
                && may(&[Role::ReadOnly], r("/api/v1/finance/statements"))
        );
        assert!(
            !may(&[Role::Finance], r("/api/v1/staff/users"))
                && may(&[Role::Admin], r("/api/v1/staff/users"))
        );
        assert!(
            may(&[Role::ReadOnly], r("/api/v1/audit")) && !may(&[Role::Buyer], r("/api/v1/audit"))
        );
        assert!(!may(&[], r("/api/v1/orders")), "no role, no read");
        assert!(
            !may(&[Role::Buyer], r("/api/v1/marketing/customers/{customer}"))
                && may(
                    &[Role::Merchandiser],
                    r("/api/v1/marketing/customers/{customer}")
                ),
            "customers' data"
        );
        assert!(
            !may(
                &[Role::Buyer],
                need("PUT", "/api/v1/suppliers/{id}/credential")
            ) && !may(
                &[Role::Operations],
                need("POST", "/api/v1/warehouses/{code}/edge-token")
            )
        );
    }

    #[test]
    fn callers_with_their_own_credentials_are_told_apart() {
        assert_eq!(need("POST", "/api/v1/sync/events"), Need::Edge);
        assert_eq!(
            need("GET", "/api/v1/supplier/purchase-orders"),
            Need::Supplier
        );
        assert_eq!(
            need("POST", "/api/v1/payments/notify/{channel}"),
            Need::Public
        );
        assert_eq!(need("POST", "/api/v1/session"), Need::Public);
        assert_eq!(
            need("POST", "/api/v1/checkout/price"),
            Need::Read(Area::Service),
            "pricing a cart changes nothing"
        );
        assert_eq!(need("GET", "/api/v1/session"), Need::SignedIn);
        assert_eq!(need("GET", "/console"), Need::Public);
        assert_eq!(
            need("GET", "/api/v1/orders/{id}/tracking"),
            Need::Read(Area::Operations)
        );
    }

    #[test]
    fn roles_parse_to_a_sorted_set_and_unknown_ones_are_named() {
        let roles =
            parse_roles(&["finance".into(), "buyer".into(), "finance".into()]).expect("roles");
        assert_eq!(roles, vec![Role::Buyer, Role::Finance]);
        assert_eq!(split_roles(&join_roles(&roles)), roles);
        assert!(parse_roles(&["boss".into()]).is_err_and(|why| why.contains("customer_service")));
        assert!(parse_roles(&[]).is_err());
        assert_eq!(who_does(Area::Supply), "buyer (or admin)");
    }
}
