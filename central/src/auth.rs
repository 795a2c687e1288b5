//! Who is calling central, and whether they may: one middleware (`guard`) resolves the caller
//! and applies the one access table (`staff::need` + `staff::may`) to every route, for the API
//! and the console alike. HQ callers are
//!
//! - a signed-in user: the session token as `Authorization: Bearer` or the `tote_hq` cookie
//!   (HttpOnly, SameSite=Strict); a write on the cookie must also echo the session's CSRF token
//!   in `X-CSRF-Token`, so no other site can make a signed-in browser change anything;
//! - an API token per integration (`staff` makes them), whose scopes are roles;
//! - the two configured tokens (`auth.admin_token`: admin, `auth.read_token`: read-only).
//!
//! Edges, suppliers and channels have credentials of their own, checked by their extractors
//! (`Edge`, `SupplierCaller`) or by signature in the handler. Every write of an HQ caller runs
//! in an audit scope (`audit::RequestAudit`): its entry lands in the change's transaction.

use crate::audit::RequestAudit;
use crate::http::error::ApiError;
use crate::staff::{self, Need, Role};
use crate::startup::AppState;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::Response;
use secrecy::ExposeSecret;
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tote_shared::runtime::http::bearer_token;
use tote_shared::WarehouseCode;

pub const COOKIE: &str = "tote_hq";
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Bodies up to this size are kept in a write's audit entry (masked); larger ones by size.
const AUDIT_BODY_BYTES: usize = 16 * 1024;

/// An HQ caller, put in the request's extensions by `guard`.
#[derive(Debug, Clone)]
pub struct Caller {
    /// `user:<id>`, `token:<id>`, `admin` or `reader`: what the audit log and idempotency
    /// keys name.
    pub actor: String,
    pub roles: Vec<Role>,
    /// The session's CSRF token when the caller came by cookie (writes must echo it).
    pub csrf: Option<String>,
    /// The user's display name (sessions only).
    pub name: Option<String>,
    pub expires_ms: Option<i64>,
}

impl Caller {
    pub fn user_id(&self) -> Option<&str> {
        self.actor.strip_prefix("user:")
    }
}

/// The caller's address: the TCP peer's, or the client's behind a trusted proxy (empty where
/// none was recorded).
pub struct Origin(pub String);

/// The client's address as [`guard`] worked it out, for [`Origin`].
#[derive(Clone)]
struct ClientAddr(IpAddr);

impl Origin {
    fn of(extensions: &axum::http::Extensions) -> Origin {
        let peer = || extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        let addr = extensions.get::<ClientAddr>().map(|c| c.0).or_else(peer);
        Origin(addr.map(|a| a.to_canonical().to_string()).unwrap_or_default())
    }
}

/// The client's address: the TCP peer's, unless the peer is a trusted proxy; then the
/// rightmost `X-Forwarded-For` hop that is not itself a trusted proxy (hops to its left are
/// whatever the client chose to send). A hop that is not an address ends the walk: nothing
/// past garbage is believed. Pure.
pub fn client_addr(peer: IpAddr, forwarded: &[&str], trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |a: &IpAddr| trusted.iter().any(|n| n.contains(&a.to_canonical()));
    let mut client = peer;
    if !is_trusted(&peer) {
        return client;
    }
    for hop in forwarded.iter().rev().flat_map(|h| h.rsplit(',')) {
        let Ok(addr) = hop.trim().parse::<IpAddr>() else {
            return client;
        };
        client = addr;
        if !is_trusted(&addr) {
            return client;
        }
    }
    client
}

/// Records the client's address for [`Origin`] (the audit log's "from where").
fn note_client(state: &AppState, request: &mut Request) {
    let trusted = &state.settings.auth.trusted_proxies;
    let Some(peer) = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()) else {
        return;
    };
    if trusted.is_empty() {
        return;
    }
    let hops: Vec<&str> = request
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        // A line that is not text is garbage: it ends the walk rather than vanishing from it.
        .map(|v| v.to_str().unwrap_or("\u{0}"))
        .collect();
    let client = client_addr(peer, &hops, trusted);
    request.extensions_mut().insert(ClientAddr(client));
}

impl<S: Send + Sync> FromRequestParts<S> for Origin {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Origin::of(&parts.extensions))
    }
}

/// Any HQ caller the guard let through.
pub struct Reader(pub Caller);
/// An HQ caller the guard let through to a change (defence in depth: never read-only alone).
pub struct Admin(pub Caller);
/// An edge daemon, authenticated as the warehouse it runs.
pub struct Edge(pub WarehouseCode);
/// A supplier's system on the supplier API, authenticated by its own credential, in a state
/// that may use the API (approved or suspended).
pub struct SupplierCaller(pub String);
/// A scraper of `/metrics`: anyone while `auth.metrics_token` is unset, else only its holder.
pub struct MetricsScraper;

use tote_shared::runtime::secrets::same_secret as same;
/// What central stores of an edge's credential (and of session and API tokens).
pub use tote_shared::runtime::secrets::sha256_hex as hash_token;

/// The session cookie's value, if the request carries one.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    tote_shared::runtime::http::cookie(headers, COOKIE)
}

/// A session's last use is written at most this often.
const TOUCH_EVERY_MS: i64 = 60_000;

/// The HQ caller a request's credentials stand for, if any.
async fn resolve(state: &AppState, headers: &HeaderMap) -> Result<Option<Caller>, ApiError> {
    let fixed = |actor: &str, role| Caller {
        actor: actor.into(),
        roles: vec![role],
        csrf: None,
        name: None,
        expires_ms: None,
    };
    let (token, by_cookie) = match headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        Some(bearer) => (bearer.trim(), false),
        None => match session_cookie(headers) {
            Some(c) => (c, true),
            None => return Ok(None),
        },
    };
    if token.is_empty() || token.len() > 256 {
        return Ok(None);
    }
    if !by_cookie {
        if same(token, state.settings.auth.admin_token.expose_secret()) {
            return Ok(Some(fixed("admin", Role::Admin)));
        }
        if same(token, state.settings.auth.read_token.expose_secret()) {
            return Ok(Some(fixed("reader", Role::ReadOnly)));
        }
    }
    let hash = hash_token(token);
    let now = tote_shared::runtime::system::now_ms();
    let idle_ms = i64::from(state.settings.auth.idle_minutes) * 60_000;
    let key = hash.clone();
    let found = state
        .db
        .read(move |tx| -> Result<_, crate::db::DbError> {
            if !by_cookie {
                if let Some((id, scopes)) = staff::store::token_by_hash(tx, &hash)? {
                    let caller = Caller {
                        actor: format!("token:{id}"),
                        roles: scopes,
                        csrf: None,
                        name: None,
                        expires_ms: None,
                    };
                    return Ok(Some((caller, false)));
                }
            }
            Ok(staff::store::session(tx, &hash, now, idle_ms)?.map(|s| {
                let stale = s.seen_ms < now - TOUCH_EVERY_MS;
                let caller = Caller {
                    actor: format!("user:{}", s.user),
                    roles: s.roles,
                    csrf: by_cookie.then_some(s.csrf),
                    name: Some(s.name),
                    expires_ms: Some(s.expires_ms.min(now + idle_ms)),
                };
                (caller, stale)
            }))
        })
        .await?;
    let Some((caller, stale)) = found else {
        return Ok(None);
    };
    if stale {
        // Best effort and off the request's path: a read never waits on (or fails with) this
        // write; a lost touch at worst ends the session a minute early.
        let db = state.db.clone();
        tokio::spawn(async move {
            let touched = db
                .write(move |tx| {
                    // Keeping a session alive is no change the caller asked for.
                    crate::db::unaudited();
                    staff::store::touch_session(tx, &key, now)
                })
                .await;
            if let Err(e) = touched {
                tracing::warn!(error = %e, "could not record a session's use");
            }
        });
    }
    Ok(Some(caller))
}

/// The routed path (`/api/v1/orders/{id}`), or None when no route matched (the fallback
/// answers 404 then).
fn routed(request: &Request) -> Option<String> {
    request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|m| m.as_str().to_owned())
}

/// The middleware: resolves the caller, checks the route's need, passes the caller on, and
/// puts a write in its audit scope.
pub async fn guard(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    note_client(&state, &mut request);
    let Some(path) = routed(&request) else {
        return Ok(next.run(request).await);
    };
    let need = staff::need(request.method().as_str(), &path);
    if matches!(
        need,
        Need::Public | Need::Metrics | Need::Edge | Need::Supplier
    ) {
        return Ok(next.run(request).await);
    }
    let caller = resolve(&state, request.headers())
        .await?
        .ok_or(ApiError::Unauthorized)?;
    if !staff::may(&caller.roles, need) {
        return Err(ApiError::Forbidden(refusal(&caller, need)));
    }
    let write = !matches!(*request.method(), Method::GET | Method::HEAD);
    if write {
        if let Some(expected) = &caller.csrf {
            let echoed = request
                .headers()
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !same(echoed, expected) {
                return Err(ApiError::Forbidden(
                    "a change made with the session cookie must carry the session's X-CSRF-Token"
                        .into(),
                ));
            }
        }
    }
    request.extensions_mut().insert(caller.clone());
    if !write {
        return Ok(next.run(request).await);
    }
    let (request, scope) = audit_scope(request, &caller, &path).await?;
    Ok(crate::db::in_scope(Arc::new(scope), next.run(request)).await)
}

fn refusal(caller: &Caller, need: Need) -> String {
    match need {
        Need::Write(area) => format!(
            "{} may not do this: it needs the role {}",
            caller.actor,
            staff::who_does(area)
        ),
        _ => format!("{} may not see this", caller.actor),
    }
}

/// The audit entry of a write: who, from where, which route and path, and the body (when it
/// is small JSON, with secrets masked; else its size).
async fn audit_scope(
    request: Request,
    caller: &Caller,
    path: &str,
) -> Result<(Request, RequestAudit), ApiError> {
    let Origin(origin) = Origin::of(request.extensions());
    let action = format!("{} {path}", request.method());
    let subject = match request.uri().query() {
        Some(q) => format!(
            "{}?{}",
            request.uri().path(),
            q.chars().take(200).collect::<String>()
        ),
        None => request.uri().path().to_owned(),
    };
    let length = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    let (request, detail) = match length {
        Some(n) if n <= AUDIT_BODY_BYTES && json => {
            let (parts, body) = request.into_parts();
            // The declared length is what hyper delivers, so this reads at most 16 KiB.
            let bytes = axum::body::to_bytes(body, AUDIT_BODY_BYTES)
                .await
                .map_err(|e| ApiError::BadRequest(format!("reading the body: {e}")))?;
            let detail = match serde_json::from_slice::<serde_json::Value>(&bytes) {
                Ok(body) => serde_json::json!({ "body": crate::audit::masked(body) }),
                Err(_) => serde_json::json!({ "bytes": bytes.len() }),
            };
            (
                Request::from_parts(parts, axum::body::Body::from(bytes)),
                detail,
            )
        }
        Some(0) | None => (request, serde_json::json!({})),
        Some(n) => (request, serde_json::json!({ "bytes": n })),
    };
    let request_id = tote_shared::runtime::password::new_token()[..32].to_owned();
    Ok((
        request,
        RequestAudit {
            actor: caller.actor.clone(),
            origin,
            request: request_id,
            action,
            subject,
            detail,
        },
    ))
}

/// Who is calling, as idempotency keys are scoped: the HQ caller's actor (`admin`, `reader`,
/// `user:…`, `token:…`), else `token:` and the start of the bearer token's hash (a supplier:
/// each its own scope, so one supplier's keys never meet another's), or `anonymous` (a request
/// the extractors then refuse).
pub fn caller_name(parts: &Parts) -> String {
    if let Some(caller) = parts.extensions.get::<Caller>() {
        return caller.actor.clone();
    }
    match bearer_token(parts) {
        Some(token) => format!("token:{}", &hash_token(token)[..32]),
        None => "anonymous".into(),
    }
}

fn guarded(parts: &Parts) -> Result<Caller, ApiError> {
    parts
        .extensions
        .get::<Caller>()
        .cloned()
        .ok_or(ApiError::Unauthorized)
}

impl FromRequestParts<AppState> for Reader {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        guarded(parts).map(Reader)
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        let caller = guarded(parts)?;
        if caller.roles.iter().all(|r| *r == Role::ReadOnly) {
            return Err(ApiError::Forbidden(format!(
                "{} may only read",
                caller.actor
            )));
        }
        Ok(Admin(caller))
    }
}

impl FromRequestParts<AppState> for Edge {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(parts).ok_or(ApiError::Unauthorized)?;
        let hash = hash_token(token);
        let found = state
            .db
            .read(move |tx| -> Result<_, crate::db::DbError> {
                crate::warehouses::store::by_token(tx, &hash)
            })
            .await?;
        match found {
            Some(code) => Ok(Edge(code)),
            None => Err(ApiError::Unauthorized),
        }
    }
}

impl FromRequestParts<AppState> for SupplierCaller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(parts).ok_or(ApiError::Unauthorized)?;
        let hash = hash_token(token);
        let found = state
            .db
            .read(move |tx| -> Result<_, crate::db::DbError> {
                crate::supplier::store::by_token(tx, &hash)
            })
            .await?;
        match found {
            Some((id, s)) if crate::supplier::may_use_api(s) => Ok(SupplierCaller(id)),
            Some((id, s)) => Err(ApiError::Forbidden(format!(
                "supplier {id} is {}",
                s.as_str()
            ))),
            None => Err(ApiError::Unauthorized),
        }
    }
}

impl FromRequestParts<AppState> for MetricsScraper {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match &state.settings.auth.metrics_token {
            None => Ok(MetricsScraper),
            Some(token)
                if bearer_token(parts)
                    .is_some_and(|presented| same(presented, token.expose_secret())) =>
            {
                Ok(MetricsScraper)
            }
            Some(_) => Err(ApiError::Unauthorized),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::client_addr;
    use ipnet::IpNet;
    use std::net::IpAddr;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    #[test]
    fn the_client_is_the_rightmost_hop_no_trusted_proxy_added() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().expect("net"), "192.0.2.7/32".parse().expect("net")];
        // Straight from the internet: a forwarded header is the client's own word, ignored.
        assert_eq!(client_addr(ip("203.0.113.9"), &["1.2.3.4"], &trusted), ip("203.0.113.9"));
        // Through one proxy: the address it saw.
        assert_eq!(client_addr(ip("10.1.1.1"), &["198.51.100.4"], &trusted), ip("198.51.100.4"));
        // Through two (both trusted), with a forged hop the client put first.
        assert_eq!(client_addr(ip("10.1.1.1"), &["6.6.6.6, 198.51.100.4, 192.0.2.7"], &trusted), ip("198.51.100.4"));
        // Hops split over two header lines read as one list, in order.
        assert_eq!(client_addr(ip("10.1.1.1"), &["6.6.6.6, 198.51.100.4", "10.2.2.2"], &trusted), ip("198.51.100.4"));
        // Garbage ends the walk at the last proxy believed.
        assert_eq!(client_addr(ip("10.1.1.1"), &["198.51.100.4, not-an-address"], &trusted), ip("10.1.1.1"));
        // No header from a proxy: the proxy itself.
        assert_eq!(client_addr(ip("10.1.1.1"), &[], &trusted), ip("10.1.1.1"));
        // An IPv4 proxy seen over IPv6 as a mapped address is still the proxy.
        assert_eq!(client_addr(ip("::ffff:10.1.1.1"), &["198.51.100.4"], &trusted), ip("198.51.100.4"));
        // Nobody trusted: always the peer.
        assert_eq!(client_addr(ip("10.1.1.1"), &["198.51.100.4"], &[]), ip("10.1.1.1"));
    }
}
