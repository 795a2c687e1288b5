//! RFC 9457 problem+json responses and extractors whose rejections are problems too.
//!
//! Each daemon has its own `ApiError` enum; it renders through `Problem`, so every error body
//! from Tote has the same shape: `type`, `title`, `status`, `detail` and optional extensions.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts, StatusCode};
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
}
