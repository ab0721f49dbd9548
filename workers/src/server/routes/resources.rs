//! `/v1/environments/{tenant}/{environment}/resources…`: an environment's contents.

use aide::axum::routing::get_with;
use aide::axum::ApiRouter;
use axum::extract::{Path, State};
use axum::Json;
use ferry_engine::app::{Authored, Qualified, ResourceDetail, ResourceView};
use ferry_schemas::resource::Kind;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::server::extract::{parse, AppState, Authed, Params};
use crate::server::problem::Problem;

/// `{tenant}/{environment}` in a path.
#[derive(Deserialize, JsonSchema)]
pub struct EnvironmentPath {
    /// The tenant's name.
    pub tenant: String,
    /// The environment's name.
    pub environment: String,
}

impl EnvironmentPath {
    /// `<tenant>/<environment>`.
    pub fn qualified(&self) -> Result<Qualified, Problem> {
        parse(
            "environment",
            &format!("{}/{}", self.tenant, self.environment),
        )
    }
}

/// `{tenant}/{environment}/{resource}` in a path.
#[derive(Deserialize, JsonSchema)]
pub struct ResourcePath {
    /// The tenant's name.
    pub tenant: String,
    /// The environment's name.
    pub environment: String,
    /// The resource's id or unique name.
    pub resource: String,
}

/// `GET …/resources` filters.
#[derive(Deserialize, JsonSchema)]
pub struct KindFilter {
    /// Only this kind.
    pub kind: Option<Kind>,
}

impl ResourcePath {
    /// `<tenant>/<environment>` of the path.
    fn qualified(&self) -> Result<Qualified, Problem> {
        parse(
            "environment",
            &format!("{}/{}", self.tenant, self.environment),
        )
    }
}

async fn list(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(path): Path<EnvironmentPath>,
    Params(filter): Params<KindFilter>,
) -> Result<Json<Vec<ResourceView>>, Problem> {
    let environment = path.qualified()?;
    s.call(move |f| f.resources(&caller, &environment, filter.kind))
        .await
        .map(Json)
}

async fn show(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(path): Path<ResourcePath>,
) -> Result<Json<ResourceDetail>, Problem> {
    let environment = path.qualified()?;
    s.call(move |f| f.resource(&caller, &environment, &path.resource))
        .await
        .map(Json)
}

async fn delete(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(path): Path<ResourcePath>,
) -> Result<Json<Authored>, Problem> {
    let environment = path.qualified()?;
    s.call(move |f| f.delete_resource(&caller, &environment, &path.resource))
        .await
        .map(Json)
}

/// The resource routes.
pub fn routes() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            "/v1/environments/{tenant}/{environment}/resources",
            get_with(list, |o| {
                o.id("listResources").summary("An environment's resources")
            }),
        )
        .api_route(
            "/v1/environments/{tenant}/{environment}/resources/{resource}",
            get_with(show, |o| {
                o.id("showResource")
                    .summary("One resource with its documents and references")
            })
            .delete_with(delete, |o| {
                o.id("deleteResource").summary(
                    "Delete a connection or gateway nothing uses (its history stays on the log)",
                )
            }),
        )
}
