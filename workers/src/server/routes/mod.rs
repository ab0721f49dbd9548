//! Every route of the API, assembled into one router whose OpenAPI document is generated from
//! the same handlers.

mod audit;
mod authoring;
mod directory;
mod imports;
mod probes;
mod provisions;
mod resources;
mod tokens;
mod trust;

use aide::axum::ApiRouter;
use aide::openapi::{OpenApi, SecurityScheme};
use axum::Router;

pub use provisions::{ProvisionState, Running};

use super::extract::AppState;

/// The API and its OpenAPI document (3.1).
pub fn api() -> (Router<AppState>, OpenApi) {
    aide::generate::infer_responses(true);
    aide::generate::extract_schemas(true);
    let mut doc = OpenApi::default();
    let router = ApiRouter::new()
        .merge(probes::routes())
        .merge(directory::routes())
        .merge(tokens::routes())
        .merge(resources::routes())
        .merge(imports::routes())
        .merge(authoring::routes())
        .merge(audit::routes())
        .merge(provisions::routes())
        .merge(trust::routes())
        .finish_api_with(&mut doc, |api| {
            api.title("Ferry")
                .version(env!("CARGO_PKG_VERSION"))
                .description(
                    "Moves apps and their dependent resources between environments and tenants \
                     through packages, recording every step on a durable, verifiable log. Every \
                     route but the probes and this document needs `Authorization: Bearer \
                     <token>` (`ferry token create`). Errors are `application/problem+json` \
                     with a stable `code`.",
                )
                .security_scheme(
                    "bearer",
                    SecurityScheme::Http {
                        scheme: "bearer".into(),
                        bearer_format: Some("ferry token".into()),
                        description: Some("a token from `ferry token create`".into()),
                        extensions: Default::default(),
                    },
                )
        });
    (router, doc)
}
