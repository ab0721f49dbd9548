//! Success replies beyond `200 OK` with JSON: `201 Created` and `202 Accepted` with a
//! `Location` to poll, documented in the OpenAPI document like any JSON reply.

use aide::generate::GenContext;
use aide::openapi::{Operation, Response as ApiResponse, StatusCode as ApiStatus};
use aide::OperationOutput;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use schemars::JsonSchema;
use serde::Serialize;

/// `201 Created`, with where the new thing lives when it has a route of its own.
pub struct Created<T> {
    /// The new thing.
    pub body: T,
    /// Its URL path, for `Location`.
    pub location: Option<String>,
}

/// `202 Accepted`: the work goes on; `Location` says where to watch it.
pub struct Accepted<T> {
    /// The state as of now.
    pub body: T,
    /// Where to poll.
    pub location: String,
}

impl<T> Created<T> {
    /// Created, without a route of its own.
    pub fn new(body: T) -> Created<T> {
        Created {
            body,
            location: None,
        }
    }
}

fn with_location(mut response: Response, location: Option<&str>) -> Response {
    if let Some(value) = location.and_then(|l| HeaderValue::from_str(l).ok()) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

impl<T: Serialize> IntoResponse for Created<T> {
    fn into_response(self) -> Response {
        let response = (StatusCode::CREATED, Json(self.body)).into_response();
        with_location(response, self.location.as_deref())
    }
}

impl<T: Serialize> IntoResponse for Accepted<T> {
    fn into_response(self) -> Response {
        let response = (StatusCode::ACCEPTED, Json(self.body)).into_response();
        with_location(response, Some(&self.location))
    }
}

fn documented<T: JsonSchema>(
    status: u16,
    ctx: &mut GenContext,
    operation: &mut Operation,
) -> Vec<(Option<ApiStatus>, ApiResponse)> {
    Json::<T>::operation_response(ctx, operation)
        .map(|response| vec![(Some(ApiStatus::Code(status)), response)])
        .unwrap_or_default()
}

impl<T: JsonSchema> OperationOutput for Created<T> {
    type Inner = T;

    fn operation_response(ctx: &mut GenContext, operation: &mut Operation) -> Option<ApiResponse> {
        Json::<T>::operation_response(ctx, operation)
    }

    fn inferred_responses(
        ctx: &mut GenContext,
        operation: &mut Operation,
    ) -> Vec<(Option<ApiStatus>, ApiResponse)> {
        documented::<T>(201, ctx, operation)
    }
}

impl<T: JsonSchema> OperationOutput for Accepted<T> {
    type Inner = T;

    fn operation_response(ctx: &mut GenContext, operation: &mut Operation) -> Option<ApiResponse> {
        Json::<T>::operation_response(ctx, operation)
    }

    fn inferred_responses(
        ctx: &mut GenContext,
        operation: &mut Operation,
    ) -> Vec<(Option<ApiStatus>, ApiResponse)> {
        documented::<T>(202, ctx, operation)
    }
}
