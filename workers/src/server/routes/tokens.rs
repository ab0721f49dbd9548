//! `/v1/tokens`: bearer tokens (operator).

use aide::axum::routing::{delete_with, get_with};
use aide::axum::ApiRouter;
use axum::extract::{Path, State};
use axum::Json;
use ferry_engine::app::{IssuedToken, Qualified, TokenView};
use ferry_schemas::directory::Name;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::server::extract::{parse, AppState, Authed, Body, Params};
use crate::server::problem::Problem;
use crate::server::reply::Created;

/// A token to issue.
#[derive(Deserialize, JsonSchema)]
pub struct NewToken {
    /// `<tenant>/<user>` the token proves; omit for an operator token.
    pub user: Option<String>,
    /// Seconds until it expires; omit for a token valid until revoked.
    pub expires_in_seconds: Option<u64>,
}

/// `GET /v1/tokens` filters.
#[derive(Deserialize, JsonSchema)]
pub struct TokenFilter {
    /// Only this tenant's users' tokens.
    pub tenant: Option<String>,
}

/// `{token}` in a path.
#[derive(Deserialize, JsonSchema)]
pub struct TokenPath {
    /// The token's id.
    pub token: String,
}

async fn list(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Params(filter): Params<TokenFilter>,
) -> Result<Json<Vec<TokenView>>, Problem> {
    let tenant: Option<Name> = filter.tenant.map(|t| parse("tenant", &t)).transpose()?;
    s.call(move |f| f.tokens(&caller, tenant.as_ref()))
        .await
        .map(Json)
}

async fn create(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Body(body): Body<NewToken>,
) -> Result<Created<IssuedToken>, Problem> {
    let user: Option<Qualified> = body.user.map(|u| parse("user", &u)).transpose()?;
    let lifetime = body
        .expires_in_seconds
        .map(|s| {
            i64::try_from(s)
                .ok()
                .and_then(chrono::Duration::try_seconds)
                .ok_or_else(|| Problem::invalid("bad-expiry", "expires_in_seconds is too large"))
        })
        .transpose()?;
    s.call(move |f| f.create_token(&caller, user.as_ref(), lifetime))
        .await
        .map(Created::new)
}

async fn revoke(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(path): Path<TokenPath>,
) -> Result<Json<TokenView>, Problem> {
    let id = parse("token", &path.token)?;
    s.call(move |f| f.revoke_token(&caller, id)).await.map(Json)
}

/// The token routes.
pub fn routes() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            "/v1/tokens",
            get_with(list, |o| {
                o.id("listTokens")
                    .summary("Tokens, never their secrets (operator)")
            })
            .post_with(create, |o| {
                o.id("createToken")
                    .summary("Issue a token, shown once (operator)")
            }),
        )
        .api_route(
            "/v1/tokens/{token}",
            delete_with(revoke, |o| {
                o.id("revokeToken").summary("Revoke a token (operator)")
            }),
        )
}
