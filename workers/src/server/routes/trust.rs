//! `/v1/environments/{tenant}/{environment}/policy` and `…/trust`: what an environment
//! imports — only packages signed by keys it trusts, or any — and the keys it trusts.

use aide::axum::routing::{delete_with, get_with, post_with};
use aide::axum::ApiRouter;
use axum::extract::{Path, State};
use axum::Json;
use ferry_engine::app::PolicyView;
use schemars::JsonSchema;
use serde::Deserialize;

use super::resources::EnvironmentPath;
use crate::server::extract::{parse, AppState, Authed, Body};
use crate::server::problem::Problem;

/// A policy to set.
#[derive(Deserialize, JsonSchema)]
pub struct PolicyBody {
    /// Import only packages signed by a trusted key.
    pub require_signed: bool,
}

/// A key to trust.
#[derive(Deserialize, JsonSchema)]
pub struct TrustBody {
    /// The ed25519 public key, 64 hex digits (`ferry package keygen` prints it).
    pub key: String,
    /// What reviews and audits call it.
    #[serde(default)]
    pub name: String,
}

/// `{tenant}/{environment}/{key}` in a path.
#[derive(Deserialize, JsonSchema)]
pub struct KeyPath {
    /// The tenant's name.
    pub tenant: String,
    /// The environment's name.
    pub environment: String,
    /// The public key.
    pub key: String,
}

async fn show(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(path): Path<EnvironmentPath>,
) -> Result<Json<PolicyView>, Problem> {
    let environment = path.qualified()?;
    s.call(move |f| f.policy(&caller, &environment))
        .await
        .map(Json)
}

async fn set(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(path): Path<EnvironmentPath>,
    Body(body): Body<PolicyBody>,
) -> Result<Json<PolicyView>, Problem> {
    let environment = path.qualified()?;
    s.call(move |f| f.set_policy(&caller, &environment, body.require_signed))
        .await
        .map(Json)
}

async fn trust(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(path): Path<EnvironmentPath>,
    Body(body): Body<TrustBody>,
) -> Result<Json<PolicyView>, Problem> {
    let environment = path.qualified()?;
    s.call(move |f| f.trust(&caller, &environment, &body.key, &body.name))
        .await
        .map(Json)
}

async fn distrust(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(path): Path<KeyPath>,
) -> Result<Json<PolicyView>, Problem> {
    let environment = parse(
        "environment",
        &format!("{}/{}", path.tenant, path.environment),
    )?;
    s.call(move |f| f.distrust(&caller, &environment, &path.key))
        .await
        .map(Json)
}

/// The policy and trust routes.
pub fn routes() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            "/v1/environments/{tenant}/{environment}/policy",
            get_with(show, |o| {
                o.id("importPolicy")
                    .summary("What an environment imports, and the signing keys it trusts")
            })
            .put_with(set, |o| {
                o.id("setImportPolicy")
                    .summary("Import only signed packages, or any (operator)")
            }),
        )
        .api_route(
            "/v1/environments/{tenant}/{environment}/trust",
            post_with(trust, |o| {
                o.id("trustKey")
                    .summary("Trust a package signing key in an environment (operator)")
            }),
        )
        .api_route(
            "/v1/environments/{tenant}/{environment}/trust/{key}",
            delete_with(distrust, |o| {
                o.id("distrustKey")
                    .summary("Stop trusting a signing key in an environment (operator)")
            }),
        )
}
