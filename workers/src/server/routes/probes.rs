//! Liveness, readiness and the OpenAPI document: the routes that need no token.

use aide::axum::routing::get_with;
use aide::axum::ApiRouter;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use schemars::JsonSchema;
use serde::Serialize;

use crate::server::extract::AppState;

/// A probe's answer.
#[derive(Serialize, JsonSchema)]
pub struct Probe {
    /// `ok`, or what is not ready yet.
    pub status: String,
}

async fn healthz() -> Json<Probe> {
    Json(Probe {
        status: "ok".into(),
    })
}

async fn readyz(State(s): State<AppState>) -> (StatusCode, Json<Probe>) {
    if s.is_ready() {
        (
            StatusCode::OK,
            Json(Probe {
                status: "ok".into(),
            }),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Probe {
                status: "catching up with the log".into(),
            }),
        )
    }
}

/// The OpenAPI document, as generated at start.
pub struct Document(std::sync::Arc<String>);

impl IntoResponse for Document {
    fn into_response(self) -> Response {
        (
            [(header::CONTENT_TYPE, "application/json")],
            self.0.as_str().to_owned(),
        )
            .into_response()
    }
}

impl aide::OperationOutput for Document {
    type Inner = serde_json::Value;

    fn operation_response(
        ctx: &mut aide::generate::GenContext,
        operation: &mut aide::openapi::Operation,
    ) -> Option<aide::openapi::Response> {
        Json::<serde_json::Value>::operation_response(ctx, operation)
    }

    fn inferred_responses(
        ctx: &mut aide::generate::GenContext,
        operation: &mut aide::openapi::Operation,
    ) -> Vec<(Option<aide::openapi::StatusCode>, aide::openapi::Response)> {
        Json::<serde_json::Value>::inferred_responses(ctx, operation)
    }
}

async fn openapi(State(s): State<AppState>) -> Document {
    Document(s.openapi.clone())
}

/// The probe routes.
pub fn routes() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            "/healthz",
            get_with(healthz, |o| {
                o.id("healthz").summary("Liveness: the process serves")
            }),
        )
        .api_route(
            "/readyz",
            get_with(readyz, |o| {
                o.id("readyz")
                    .summary("Readiness: the projections have caught up with the log")
                    .response::<200, Json<Probe>>()
                    .response::<503, Json<Probe>>()
            }),
        )
        .api_route(
            "/metrics",
            get_with(crate::server::metrics::scrape, |o| {
                o.id("metrics").summary(
                    "Prometheus text format: requests, latencies, migrations, steps, log head and lag (operator)",
                )
            }),
        )
        .api_route(
            "/v1/openapi.json",
            get_with(openapi, |o| {
                o.id("openapi").summary("This document (OpenAPI 3.1)")
            }),
        )
}
