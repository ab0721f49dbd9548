//! What handlers take from a request: the caller its bearer token proves, a JSON body whose
//! errors are problems too, and the state every handler shares.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use aide::generate::GenContext;
use aide::openapi::Operation;
use aide::OperationInput;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use ferry_engine::app::{self, Caller, Ferry, Kind};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use super::problem::Problem;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// Ferry, open.
    pub ferry: Ferry,
    /// Set once the projections are caught up with the log.
    pub ready: Arc<AtomicBool>,
    /// The OpenAPI document, serialised once.
    pub openapi: Arc<String>,
    /// The operator's credential for this run, written only to the data directory's address
    /// file (0600): whoever can read the data directory is the operator.
    pub local_token: Arc<String>,
    /// The provisioning runs the server runs.
    pub running: Arc<super::routes::Running>,
    /// Request counts and latencies.
    pub metrics: Arc<super::metrics::Metrics>,
    /// Live results streams: each holds a blocking thread while it waits for the log.
    pub streams: Arc<tokio::sync::Semaphore>,
    /// Packages being read (uploads, inspections): one at a time, to bound memory.
    pub packages: Arc<tokio::sync::Semaphore>,
    /// Becomes true when the server stops.
    pub stopping: tokio::sync::watch::Receiver<bool>,
}

impl AppState {
    /// Runs a use case on the blocking pool (it may fold the log or wait for an fsync).
    pub async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Ferry) -> app::Result<T> + Send + 'static,
    ) -> Result<T, Problem> {
        let ferry = self.ferry.clone();
        match tokio::task::spawn_blocking(move || f(&ferry)).await {
            Ok(result) => result.map_err(Problem::from),
            Err(e) if e.is_panic() => Err(Problem::new(
                Kind::Internal,
                "internal",
                "the request failed inside Ferry; the server's log has the details",
            )),
            Err(_) => Err(Problem::new(
                Kind::Unavailable,
                "shutting-down",
                "the server is stopping",
            )),
        }
    }

    /// Whether the projections have caught up since the start.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
}

/// The caller proven by the request's `Authorization: Bearer <token>`.
pub struct Authed(pub Caller);

impl FromRequestParts<AppState> for Authed {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        Bearer::from_parts(parts).caller(state).await.map(Authed)
    }
}

/// `Ferry-Act-As: <tenant>/<user>`: the operator acting for a user (the CLI's `--as`).
pub const ACT_AS: &str = "ferry-act-as";

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The bearer token as sent, checked only when the handler asks: for routes that read their
/// whole body before answering (an upload refused before its body is read would cut the
/// client off mid-send).
pub struct Bearer {
    token: Result<String, Problem>,
    act_as: Option<String>,
}

impl Bearer {
    fn from_parts(parts: &Parts) -> Bearer {
        let unauthenticated =
            |code: &str, detail: &str| Problem::new(Kind::Unauthenticated, code, detail);
        let token = match parts.headers.get(AUTHORIZATION) {
            None => Err(unauthenticated(
                "no-token",
                "this route needs `Authorization: Bearer <token>`",
            )),
            Some(value) => value
                .to_str()
                .ok()
                .and_then(|v| {
                    let (scheme, token) = v.split_once(' ')?;
                    scheme.eq_ignore_ascii_case("bearer").then_some(token)
                })
                .map(|t| t.trim().to_owned())
                .ok_or_else(|| {
                    unauthenticated(
                        "bad-token",
                        "the Authorization header is not `Bearer <token>`",
                    )
                }),
        };
        let act_as = parts
            .headers
            .get(ACT_AS)
            .map(|v| v.to_str().unwrap_or_default().to_owned());
        Bearer { token, act_as }
    }

    /// The caller the token proves (or the user the operator acts for).
    pub async fn caller(self, state: &AppState) -> Result<Caller, Problem> {
        let token = self.token?;
        let local = same(&token, &state.local_token);
        let caller = if local {
            Caller::Operator
        } else {
            state.call(move |ferry| ferry.authenticate(&token)).await?
        };
        match self.act_as {
            None => Ok(caller),
            Some(user) => {
                let user: ferry_engine::app::Qualified = parse("Ferry-Act-As", &user)?;
                state.call(move |ferry| ferry.act_as(&caller, &user)).await
            }
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Bearer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Bearer::from_parts(parts))
    }
}

impl OperationInput for Bearer {
    fn operation_input(ctx: &mut GenContext, operation: &mut Operation) {
        Authed::operation_input(ctx, operation);
    }
}

impl OperationInput for Authed {
    fn operation_input(_ctx: &mut GenContext, operation: &mut Operation) {
        let requirement = [("bearer".to_owned(), Vec::new())].into_iter().collect();
        if !operation.security.contains(&requirement) {
            operation.security.push(requirement);
        }
    }
}

/// A JSON request body; a malformed one is a problem (400), not a plain-text error.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Body<T> {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Problem> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Body(value)),
            Err(rejection) => Err(Problem::invalid("bad-body", rejection.body_text())),
        }
    }
}

impl<T: JsonSchema> OperationInput for Body<T> {
    fn operation_input(ctx: &mut GenContext, operation: &mut Operation) {
        axum::Json::<T>::operation_input(ctx, operation);
    }
}

/// Query parameters; malformed ones are a problem (400).
pub struct Params<T>(pub T);

impl<T: DeserializeOwned> FromRequestParts<AppState> for Params<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Params(value)),
            Err(rejection) => Err(Problem::invalid("bad-query", rejection.body_text())),
        }
    }
}

impl<T: JsonSchema> OperationInput for Params<T> {
    fn operation_input(ctx: &mut GenContext, operation: &mut Operation) {
        axum::extract::Query::<T>::operation_input(ctx, operation);
    }
}

/// Parses a path segment the application layer names things by.
pub fn parse<T: std::str::FromStr>(what: &str, text: &str) -> Result<T, Problem>
where
    T::Err: std::fmt::Display,
{
    text.parse()
        .map_err(|e| Problem::invalid("bad-path", format!("{what} {text:?}: {e}")))
}

/// A JSON request body that may be left out (then `T::default()`).
pub struct OptionalBody<T>(pub T);

impl<T: DeserializeOwned + Default> FromRequest<AppState> for OptionalBody<T> {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Problem> {
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|e| Problem::invalid("bad-body", e.body_text()))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalBody(T::default()));
        }
        serde_json::from_slice(&bytes)
            .map(OptionalBody)
            .map_err(|e| Problem::invalid("bad-body", format!("the JSON body does not fit: {e}")))
    }
}

impl<T: JsonSchema> OperationInput for OptionalBody<T> {
    fn operation_input(ctx: &mut GenContext, operation: &mut Operation) {
        axum::Json::<T>::operation_input(ctx, operation);
        if let Some(aide::openapi::ReferenceOr::Item(body)) = operation.request_body.as_mut() {
            body.required = false;
        }
    }
}

/// Small request bodies (a declared length up to 64 KiB) are read before the route runs, so
/// a request refused before its handler reads the body (a bad token) still gets its answer:
/// closing a connection with unread bytes resets it, and the client would see no reply.
/// Larger bodies (packages) are left to the route, which proves the caller first.
pub async fn read_small_bodies(
    request: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    const SMALL: u64 = 64 << 10;
    let declared = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let request = match declared {
        Some(length) if length > 0 && length <= SMALL => {
            let (parts, body) = request.into_parts();
            match axum::body::to_bytes(body, SMALL as usize).await {
                Ok(bytes) => Request::from_parts(parts, axum::body::Body::from(bytes)),
                Err(_) => {
                    return axum::response::IntoResponse::into_response(Problem::invalid(
                        "bad-body",
                        "the request body could not be read",
                    ))
                }
            }
        }
        _ => request,
    };
    next.run(request).await
}

/// `Idempotency-Key`: a retry with the same key returns what the first request created.
pub struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Problem> {
        match parts.headers.get("idempotency-key") {
            None => Ok(IdempotencyKey(None)),
            Some(value) => match value.to_str() {
                Ok(key) if !key.is_empty() && key.len() <= 255 => {
                    Ok(IdempotencyKey(Some(key.to_owned())))
                }
                _ => Err(Problem::invalid(
                    "bad-idempotency-key",
                    "Idempotency-Key must be 1 to 255 visible ASCII characters",
                )),
            },
        }
    }
}

impl OperationInput for IdempotencyKey {
    fn operation_input(_ctx: &mut GenContext, operation: &mut Operation) {
        let parameter = serde_json::from_value(serde_json::json!({
            "in": "header",
            "name": "Idempotency-Key",
            "description": "a retry with the same key returns what the first request created (the same migration)",
            "schema": {"type": "string", "maxLength": 255},
        }));
        if let Ok(parameter) = parameter {
            operation
                .parameters
                .push(aide::openapi::ReferenceOr::Item(parameter));
        }
    }
}
