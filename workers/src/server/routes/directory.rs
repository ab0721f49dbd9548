//! `/v1/tenants…` and `/v1/grants`: the directory.

use aide::axum::routing::{get_with, post_with};
use aide::axum::ApiRouter;
use axum::extract::{Path, State};
use axum::Json;
use ferry_engine::app::{
    EnvironmentView, GrantRequest, GrantView, Qualified, TenantView, UserView,
};
use ferry_schemas::directory::{License, Name, Role};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::server::extract::{parse, AppState, Authed, Body, Params};
use crate::server::problem::Problem;
use crate::server::reply::Created;

/// `{tenant}` in a path.
#[derive(Deserialize, JsonSchema)]
pub struct TenantPath {
    /// The tenant's name.
    pub tenant: String,
}

/// A new tenant.
#[derive(Deserialize, JsonSchema)]
pub struct NewTenant {
    /// Its name: 1 to 63 lowercase letters, digits and '-'.
    pub name: String,
}

/// A new environment.
#[derive(Deserialize, JsonSchema)]
pub struct NewEnvironment {
    /// Its name in the tenant.
    pub name: String,
    /// Make it the tenant's default environment (at most one).
    #[serde(default)]
    pub default: bool,
}

/// A new user.
#[derive(Deserialize, JsonSchema)]
pub struct NewUser {
    /// Its name in the tenant.
    pub name: String,
    /// Its license.
    pub license: License,
}

/// A user of a tenant.
#[derive(Deserialize, JsonSchema)]
pub struct UserPath {
    /// The tenant's name.
    pub tenant: String,
    /// The user's name.
    pub user: String,
}

/// A user's new license.
#[derive(Deserialize, JsonSchema)]
pub struct NewLicense {
    /// The license they hold from now on.
    pub license: License,
}

/// A role to give or take away.
#[derive(Deserialize, JsonSchema)]
pub struct GrantBody {
    /// `<tenant>/<user>`.
    pub user: String,
    /// The role.
    pub role: Role,
    /// `<tenant>/<environment>`, `<tenant>/<environment>/<app>` or `<tenant>`.
    pub target: String,
}

/// `GET /v1/tenants` paging.
#[derive(Deserialize, JsonSchema)]
pub struct TenantsQuery {
    /// Only tenants whose names come after this one: the last name of the previous page.
    pub after: Option<Name>,
    /// At most this many tenants (default 1,000; at most 10,000). A shorter page is the last.
    pub limit: Option<usize>,
}

async fn tenants(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Params(query): Params<TenantsQuery>,
) -> Result<Json<Vec<TenantView>>, Problem> {
    let limit = query.limit.unwrap_or(1000).min(10_000);
    s.call(move |f| f.tenants(&caller, query.after.as_ref(), Some(limit)))
        .await
        .map(Json)
}

async fn create_tenant(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Body(body): Body<NewTenant>,
) -> Result<Created<TenantView>, Problem> {
    let name: Name = parse("tenant", &body.name)?;
    s.call(move |f| f.create_tenant(&caller, name))
        .await
        .map(Created::new)
}

async fn environments(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(path): Path<TenantPath>,
) -> Result<Json<Vec<EnvironmentView>>, Problem> {
    let tenant: Name = parse("tenant", &path.tenant)?;
    s.call(move |f| f.environments(&caller, &tenant))
        .await
        .map(Json)
}

async fn create_environment(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(path): Path<TenantPath>,
    Body(body): Body<NewEnvironment>,
) -> Result<Created<EnvironmentView>, Problem> {
    let name: Qualified = parse("environment", &format!("{}/{}", path.tenant, body.name))?;
    s.call(move |f| f.create_environment(&caller, &name, body.default))
        .await
        .map(Created::new)
}

async fn users(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(path): Path<TenantPath>,
) -> Result<Json<Vec<UserView>>, Problem> {
    let tenant: Name = parse("tenant", &path.tenant)?;
    s.call(move |f| f.users(&caller, &tenant)).await.map(Json)
}

async fn set_license(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(path): Path<UserPath>,
    Body(body): Body<NewLicense>,
) -> Result<Json<UserView>, Problem> {
    let user: Qualified = parse("user", &format!("{}/{}", path.tenant, path.user))?;
    s.call(move |f| f.set_license(&caller, &user, body.license))
        .await
        .map(Json)
}

async fn create_user(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(path): Path<TenantPath>,
    Body(body): Body<NewUser>,
) -> Result<Created<UserView>, Problem> {
    let name: Qualified = parse("user", &format!("{}/{}", path.tenant, body.name))?;
    s.call(move |f| f.create_user(&caller, &name, body.license))
        .await
        .map(Created::new)
}

fn grant_request(body: GrantBody) -> Result<GrantRequest, Problem> {
    Ok(GrantRequest {
        user: parse("user", &body.user)?,
        role: body.role,
        target: body.target,
    })
}

async fn grant(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Body(body): Body<GrantBody>,
) -> Result<Created<GrantView>, Problem> {
    let request = grant_request(body)?;
    s.call(move |f| f.grant(&caller, request, false))
        .await
        .map(Created::new)
}

async fn revoke(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Body(body): Body<GrantBody>,
) -> Result<Json<GrantView>, Problem> {
    let request = grant_request(body)?;
    s.call(move |f| f.grant(&caller, request, true))
        .await
        .map(Json)
}

/// The directory's routes.
pub fn routes() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            "/v1/tenants",
            get_with(tenants, |o| {
                o.id("listTenants")
                    .summary("Tenants by name, paged by `after` (a user: their own)")
            })
            .post_with(create_tenant, |o| {
                o.id("createTenant").summary("Create a tenant (operator)")
            }),
        )
        .api_route(
            "/v1/tenants/{tenant}/environments",
            get_with(environments, |o| {
                o.id("listEnvironments").summary("A tenant's environments")
            })
            .post_with(create_environment, |o| {
                o.id("createEnvironment")
                    .summary("Create an environment (operator)")
            }),
        )
        .api_route(
            "/v1/tenants/{tenant}/users",
            get_with(users, |o| {
                o.id("listUsers")
                    .summary("A tenant's users and their grants")
            })
            .post_with(create_user, |o| {
                o.id("createUser").summary("Create a user (operator)")
            }),
        )
        .api_route(
            "/v1/tenants/{tenant}/users/{user}/license",
            post_with(set_license, |o| {
                o.id("setLicense").summary(
                    "Set a user's license (operator); setting the one they hold changes nothing",
                )
            }),
        )
        .api_route(
            "/v1/grants",
            post_with(grant, |o| {
                o.id("grant").summary("Give a user a role (operator)")
            }),
        )
        .api_route(
            "/v1/grants/revoke",
            post_with(revoke, |o| {
                o.id("revoke").summary("Take a role away (operator)")
            }),
        )
}
