//! Writes that take an `Idempotency-Key`: the key, the request's fingerprint and the answer
//! are stored in the transaction of the effect, so a retry after a lost answer — or after a
//! crash — gets the same answer and changes nothing; the same key with another request is a
//! 422 and changes nothing either.

use super::error::ApiError;
use crate::auth::caller_name;
use crate::db::{DbError, DbErrorKind, Tx};
use crate::idempotency::{lookup, remember, Stored};
use crate::startup::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tote_shared::runtime::idempotency::{request_key, RequestKey, Seen};
use tote_shared::runtime::system::now_ms;

/// What a keyed write needs from the request besides its body.
pub struct Keyed {
    headers: HeaderMap,
    method: String,
    path: String,
    caller: String,
}

/// A request's key with its caller, once the body is known.
pub struct KeyedRequest {
    pub caller: String,
    pub key: RequestKey,
}

impl FromRequestParts<AppState> for Keyed {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        Ok(Keyed {
            headers: parts.headers.clone(),
            method: parts.method.as_str().to_owned(),
            path: parts.uri.path().to_owned(),
            caller: caller_name(parts),
        })
    }
}

impl Keyed {
    /// The key (if the request has one) fingerprinted over `body`.
    pub fn fingerprint(&self, body: &impl Serialize) -> Result<Option<KeyedRequest>, ApiError> {
        let key = request_key(&self.headers, &self.method, &self.path, &self.caller, body)
            .map_err(|why| ApiError::BadRequest(why.into()))?;
        Ok(key.map(|key| KeyedRequest {
            caller: self.caller.clone(),
            key,
        }))
    }

    /// Like `fingerprint`, but the key is required.
    pub fn required(&self, body: &impl Serialize) -> Result<KeyedRequest, ApiError> {
        self.fingerprint(body)?
            .ok_or_else(|| ApiError::BadRequest("the Idempotency-Key header is required".into()))
    }
}

enum Failure<E> {
    Mismatch,
    App(E),
    Db(DbError),
}

impl<E> From<DbError> for Failure<E> {
    fn from(e: DbError) -> Self {
        Failure::Db(e)
    }
}

enum Answer {
    Fresh(Stored),
    Replayed(Stored),
}

/// Runs `work` in one write transaction, under the request's key when it has one, and
/// answers `status` with its result as JSON (`idempotent-replayed` says which it was).
pub async fn keyed_write<T, E, F>(
    state: &AppState,
    request: Option<KeyedRequest>,
    status: StatusCode,
    work: F,
) -> Result<Response, ApiError>
where
    F: FnMut(&mut dyn Tx) -> Result<T, E> + Send + Clone + 'static,
    T: Serialize + Send + 'static,
    E: Into<ApiError> + From<DbError> + Send + 'static,
{
    let request = request.map(std::sync::Arc::new);
    // Two requests with one new key at once (PostgreSQL): the second's insert of the key
    // fails as a duplicate; run it again and it finds the first one's answer.
    let mut attempts = 0;
    loop {
        attempts += 1;
        let outcome = state
            .write(one_write(request.clone(), status, work.clone()))
            .await;
        match outcome {
            Ok(Answer::Fresh(answer)) => return Ok(render(answer, false)),
            Ok(Answer::Replayed(answer)) => return Ok(render(answer, true)),
            Err(Failure::Mismatch) => return Err(key_reused()),
            Err(Failure::Db(e))
                if e.kind == DbErrorKind::Unique && request.is_some() && attempts < 2 =>
            {
                continue
            }
            Err(Failure::Db(e)) => return Err(e.into()),
            Err(Failure::App(e)) => {
                return match replay_after_refusal(state, request.as_deref()).await {
                    Some(replayed) => Ok(replayed),
                    None => Err(e.into()),
                }
            }
        }
    }
}

/// A retry that ran while its first attempt was still open (PostgreSQL) meets the first
/// attempt's effect — the SPU it created, the stock it took — and is refused for it. If the
/// first attempt has committed since, its answer is the right one for the retry.
async fn replay_after_refusal(
    state: &AppState,
    request: Option<&KeyedRequest>,
) -> Option<Response> {
    let request = request?;
    let (caller, key) = (request.caller.clone(), request.key.clone());
    let seen = state
        .db
        .read(move |tx| -> Result<_, DbError> { lookup(tx, &caller, &key) })
        .await
        .ok()?;
    match seen {
        Seen::Replay(answer) => Some(render(answer, true)),
        Seen::New | Seen::Mismatch => None,
    }
}

/// The answer to a key used with another request.
pub fn key_reused() -> ApiError {
    ApiError::unprocessable(
        "idempotency-key-reused",
        "this Idempotency-Key was already used with a different request",
    )
}

fn one_write<T, E, F>(
    request: Option<std::sync::Arc<KeyedRequest>>,
    status: StatusCode,
    mut work: F,
) -> impl FnMut(&mut dyn Tx) -> Result<Answer, Failure<E>> + Send + 'static
where
    F: FnMut(&mut dyn Tx) -> Result<T, E> + Send + 'static,
    T: Serialize,
    E: From<DbError> + Send + 'static,
{
    move |tx| {
        if let Some(r) = &request {
            match lookup(tx, &r.caller, &r.key)? {
                Seen::Replay(answer) => {
                    // The stored answer again: nothing changes, so no second audit entry.
                    crate::db::unaudited();
                    return Ok(Answer::Replayed(answer));
                }
                Seen::Mismatch => return Err(Failure::Mismatch),
                Seen::New => {}
            }
        }
        let value = work(tx).map_err(Failure::App)?;
        let body = serde_json::to_string(&value).map_err(|e| DbError::corrupt(e.to_string()))?;
        let answer = (status.as_u16(), body);
        if let Some(r) = &request {
            remember(tx, &r.caller, &r.key, &answer, now_ms())?;
        }
        Ok(Answer::Fresh(answer))
    }
}

/// A stored answer as the response, marked replayed or not.
pub fn render((status, body): Stored, replayed: bool) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let mut response = (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response();
    response.headers_mut().insert(
        "idempotent-replayed",
        HeaderValue::from_static(if replayed { "true" } else { "false" }),
    );
    response
}
