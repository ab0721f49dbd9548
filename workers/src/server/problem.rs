//! Errors as `application/problem+json` (RFC 9457), with the application layer's stable
//! `code` and kind; the HTTP status follows from the kind.

use aide::generate::GenContext;
use aide::openapi::{
    MediaType, Operation, Response as ApiResponse, SchemaObject, StatusCode as ApiStatus,
};
use aide::OperationOutput;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use ferry_engine::app::{self, Kind};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A refused or failed request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Problem {
    /// A URI naming the problem's code.
    #[serde(rename = "type")]
    pub kind_uri: String,
    /// The kind in words, e.g. `not-found`.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// Stable, kebab-case: what scripts match on, e.g. `no-such-migration`.
    pub code: String,
    /// What is wrong, naming the thing.
    pub detail: String,
}

impl Problem {
    /// A problem of `kind` with `code`.
    pub fn new(kind: Kind, code: &str, detail: impl Into<String>) -> Problem {
        Problem {
            kind_uri: format!("https://ferry.dev/problems/{code}"),
            title: kind.as_str().to_owned(),
            status: status(kind).as_u16(),
            code: code.to_owned(),
            detail: detail.into(),
        }
    }

    /// The request is malformed.
    pub fn invalid(code: &str, detail: impl Into<String>) -> Problem {
        Problem::new(Kind::InvalidInput, code, detail)
    }
}

/// The HTTP status of an error kind.
pub fn status(kind: Kind) -> StatusCode {
    match kind {
        Kind::InvalidInput => StatusCode::BAD_REQUEST,
        Kind::NotFound => StatusCode::NOT_FOUND,
        Kind::NeedsInput | Kind::Conflict => StatusCode::CONFLICT,
        Kind::Unauthenticated => StatusCode::UNAUTHORIZED,
        Kind::Denied => StatusCode::FORBIDDEN,
        Kind::Tampered => StatusCode::UNPROCESSABLE_ENTITY,
        Kind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Kind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<app::Error> for Problem {
    fn from(error: app::Error) -> Problem {
        Problem::new(error.kind, &error.code, error.message)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, axum::Json(&self)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"ferry\""),
            );
        }
        response
    }
}

impl OperationOutput for Problem {
    type Inner = Problem;

    fn operation_response(ctx: &mut GenContext, _operation: &mut Operation) -> Option<ApiResponse> {
        let json_schema = ctx.schema.subschema_for::<Problem>();
        Some(ApiResponse {
            description: "a problem: `code` says which, `detail` what to do".into(),
            content: [(
                "application/problem+json".into(),
                MediaType {
                    schema: Some(SchemaObject {
                        json_schema,
                        example: None,
                        external_docs: None,
                    }),
                    ..Default::default()
                },
            )]
            .into_iter()
            .collect(),
            ..Default::default()
        })
    }

    fn inferred_responses(
        ctx: &mut GenContext,
        operation: &mut Operation,
    ) -> Vec<(Option<ApiStatus>, ApiResponse)> {
        Self::operation_response(ctx, operation)
            .map(|response| vec![(None, response)])
            .unwrap_or_default()
    }
}
