//! RFC 9457 problem+json responses and extractors whose rejections are problems too; and
//! `harden`, the middleware that puts security headers on every answer and a `WWW-Authenticate`
//! challenge on every 401, with `page_csp` for the self-contained pages.
//!
//! Each daemon has its own `ApiError` enum; it renders through `Problem`, so every error body
//! from Tote has the same shape: `type`, `title`, `status`, `detail` and optional extensions.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts, HeaderValue, StatusCode};
use sha2::Digest as _;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<serde_json::Map<String, serde_json::Value>>,
}

impl Problem {
    /// `slug` names the problem type, e.g. `insufficient-stock`.
    pub fn new(status: StatusCode, slug: &str, title: &str, detail: impl Into<String>) -> Problem {
        Problem {
            kind: format!("https://tote.dev/problems/{slug}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            extensions: None,
        }
    }

    pub fn with(mut self, key: &str, value: serde_json::Value) -> Problem {
        self.extensions.get_or_insert_with(Default::default).insert(key.to_owned(), value);
        self
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        (status, [(header::CONTENT_TYPE, "application/problem+json")], body).into_response()
    }
}

/// `axum::Json`, but a body that is not JSON, too big, or the wrong shape is a problem+json.
/// A number written with a zero fraction (`3.0`) is taken where an integer is expected: JSON
/// does not tell them apart and JSON Schema calls it an integer, so the OpenAPI documents'
/// `integer` means the same here (schemathesis sends such numbers).
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !json_content_type(req.headers()) {
            return Err(Problem::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type", "Send Content-Type: application/json", "Expected request with `Content-Type: application/json`"));
        }
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(|rejection| {
            let status = rejection.status();
            let (slug, title) = if status == StatusCode::PAYLOAD_TOO_LARGE { ("body-too-large", "The request body is too large") } else { ("unreadable-body", "The request body could not be read") };
            Problem::new(status, slug, title, rejection.body_text())
        })?;
        match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(value)) => Ok(Json(value)),
            // Only a body that failed on its values pays for the second look.
            Err(rejection @ JsonRejection::JsonDataError(_)) => {
                let integral = serde_json::from_slice::<serde_json::Value>(&bytes).ok().and_then(|mut v| integral_floats(&mut v).then_some(v));
                match integral.and_then(|v| serde_json::from_value::<T>(v).ok()) {
                    Some(value) => Ok(Json(value)),
                    None => Err(json_problem(rejection)),
                }
            }
            Err(rejection) => Err(json_problem(rejection)),
        }
    }
}

/// `application/json` or `application/*+json`, as `axum::Json` decides.
fn json_content_type(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else { return false };
    let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Rewrites every number with a zero fraction as that integer, where the float held it exactly
/// (up to 2^53: past it, `9223372036854775809` arrives as the float 2^63 and must not turn into
/// a different integer); true when it changed something.
fn integral_floats(value: &mut serde_json::Value) -> bool {
    match value {
        serde_json::Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            const EXACT: f64 = 9_007_199_254_740_992.0;
            let whole = (f.fract() == 0.0 && (-EXACT..=EXACT).contains(&f)).then(|| serde_json::Value::from(f as i64));
            match whole {
                Some(v) => {
                    *value = v;
                    true
                }
                None => false,
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().fold(false, |changed, v| integral_floats(v) | changed),
        serde_json::Value::Object(map) => map.values_mut().fold(false, |changed, v| integral_floats(v) | changed),
        _ => false,
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

fn json_problem(rejection: JsonRejection) -> Problem {
    let status = rejection.status();
    let (slug, title) = match &rejection {
        JsonRejection::JsonDataError(_) => ("invalid-body", "The request body has the wrong shape or values"),
        JsonRejection::JsonSyntaxError(_) => ("malformed-json", "The request body is not valid JSON"),
        JsonRejection::MissingJsonContentType(_) => ("unsupported-media-type", "Send Content-Type: application/json"),
        _ if status == StatusCode::PAYLOAD_TOO_LARGE => ("body-too-large", "The request body is too large"),
        _ => ("unreadable-body", "The request body could not be read"),
    };
    Problem::new(status, slug, title, rejection.body_text())
}

/// `axum::extract::Path` with problem+json rejections.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Path(v))
            .map_err(|r: PathRejection| Problem::new(StatusCode::BAD_REQUEST, "invalid-path", "A path parameter is invalid", r.body_text()))
    }
}

/// `axum::extract::Query` with problem+json rejections.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| Query(v))
            .map_err(|r: QueryRejection| Problem::new(StatusCode::BAD_REQUEST, "invalid-query", "A query parameter is invalid", r.body_text()))
    }
}

/// The answer for a route that does not exist.
pub async fn not_found() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "not-found", "No such resource", "Check the path; the API lives under /api/v1")
}

/// Reads `Authorization: Bearer <token>`.
pub fn bearer_token(parts: &Parts) -> Option<&str> {
    parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ")
}

/// The value of cookie `name` in a request's `Cookie` headers, if any.
pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(name).and_then(|rest| rest.strip_prefix('=')))
}

/// Reads the optional `Idempotency-Key` header: 1 to 128 visible ASCII characters. The error
/// is the message for a 400.
pub fn idempotency_key(headers: &axum::http::HeaderMap) -> Result<Option<String>, &'static str> {
    let Some(raw) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match raw.to_str() {
        Ok(key) if !key.is_empty() && key.len() <= 128 && key.bytes().all(|b| b.is_ascii_graphic()) => Ok(Some(key.to_owned())),
        _ => Err("Idempotency-Key must have 1 to 128 visible ASCII characters"),
    }
}

/// The Content-Security-Policy of every answer that is not a page: nothing may load, run or
/// frame it (an API answer opened in a browser renders as inert text).
pub const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// A Content-Security-Policy for a self-contained page (no external assets): its inline
/// `<script>` and `<style>` elements are allowed by their SHA-256 (CSP level 2 hash sources) and
/// nothing else runs — no injected script, no inline event handler, no style attribute; it may
/// only talk to its own origin, and no other site may frame it. Computed from the page itself,
/// so an edit to the page cannot leave a stale hash behind.
pub fn page_csp(html: &str) -> String {
    let hashes = |tag: &str| -> String {
        let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
        let mut sources = Vec::new();
        let mut rest = html;
        while let Some(start) = rest.find(&open) {
            let body = &rest[start + open.len()..];
            let Some(end) = body.find(&close) else { break };
            sources.push(format!("'sha256-{}'", base64(&sha2::Sha256::digest(&body.as_bytes()[..end]))));
            rest = &body[end + close.len()..];
        }
        if sources.is_empty() {
            "'none'".into()
        } else {
            sources.join(" ")
        }
    };
    format!(
        "default-src 'none'; script-src {}; style-src {}; connect-src 'self'; img-src 'self'; media-src 'self' mediastream: blob:; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        hashes("script"),
        hashes("style")
    )
}


/// Standard base64 with padding (RFC 4648 §4), as CSP hash sources spell digests.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// How a daemon names itself in `WWW-Authenticate` (the RFC 6750 `realm`).
#[derive(Debug, Clone, Copy)]
pub struct Realm(pub &'static str);

/// The middleware both daemons put around every route (the fallback included):
/// - security headers on every answer: `X-Content-Type-Options: nosniff`, `X-Frame-Options:
///   DENY`, `Referrer-Policy: no-referrer`, and `Content-Security-Policy` — `API_CSP` unless the
///   handler set its own (the pages do);
/// - `WWW-Authenticate: Bearer realm="…"` on every 401 (RFC 9110 §15.5.2 requires a challenge;
///   RFC 6750 §3 gives its form): with `error="invalid_token"` when the request carried a
///   bearer token that was refused, without an error code when it carried none (§3.1).
pub async fn harden(axum::extract::State(realm): axum::extract::State<Realm>, request: Request, next: axum::middleware::Next) -> Response {
    let presented = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("Bearer "));
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let defaults = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CONTENT_SECURITY_POLICY, API_CSP),
    ];
    for (name, value) in defaults {
        headers.entry(name).or_insert(HeaderValue::from_static(value));
    }
    if response.status() == StatusCode::UNAUTHORIZED && !response.headers().contains_key(header::WWW_AUTHENTICATE) {
        let challenge = if presented {
            format!("Bearer realm=\"{}\", error=\"invalid_token\", error_description=\"the token is unknown, expired or revoked\"", realm.0)
        } else {
            format!("Bearer realm=\"{}\"", realm.0)
        };
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whole_number_written_as_a_float_becomes_that_integer_and_nothing_else_does() {
        let mut v = serde_json::json!({"qty": 3.0, "lines": [{"delta": -2.0}], "lat": 31.5, "n": 7});
        assert!(integral_floats(&mut v));
        assert_eq!(v, serde_json::json!({"qty": 3, "lines": [{"delta": -2}], "lat": 31.5, "n": 7}));
        // 9223372036854775809 arrives as the float 2^63: it must not become i64::MAX or anything.
        let mut past = serde_json::from_str::<serde_json::Value>("-9223372036854775809").expect("json");
        assert!(!integral_floats(&mut past));
    }

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (raw, encoded) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")] {
            assert_eq!(base64(raw.as_bytes()), encoded, "{raw:?}");
        }
    }

    #[test]
    fn a_page_csp_allows_exactly_its_inline_script_and_style_by_hash() {
        // The example of CSP Level 3 §8.3: alert('Hello, world.'); hashes to qznLcs….
        let page = "<html><head><style>b{}</style></head><body><script>alert('Hello, world.');</script></body></html>";
        let csp = page_csp(page);
        assert!(csp.contains("script-src 'sha256-qznLcsROx4GACP2dm0UCKCzCG+HiZ1guq6ZZDob/Tng=';"), "{csp}");
        assert!(csp.contains("style-src 'sha256-"), "{csp}");
        assert!(!csp.contains("unsafe"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(page_csp("<p>no script</p>").contains("script-src 'none'"));
    }
}
