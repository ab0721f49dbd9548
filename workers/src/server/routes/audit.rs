//! `/v1/audit/…` and an environment's history: what auditors use.

use aide::axum::routing::{get_with, post_with};
use aide::axum::ApiRouter;
use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, Utc};
use ferry_engine::app::{AsOf, AuditFilter, ContentsView, ReplayView, VerifyView};
use ferry_engine::audit::facts::Fact;
use ferry_engine::audit::Checkpoint;
use ferry_schemas::{MigrationId, ResourceId};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::authoring::Zip;
use super::directory::TenantPath;
use super::resources::EnvironmentPath;
use crate::server::extract::{parse, AppState, Authed, OptionalBody, Params};
use crate::server::problem::Problem;
use crate::server::reply::Created;

/// `GET /v1/audit/log` filters; every one given must hold.
#[derive(Deserialize, JsonSchema)]
pub struct LogQuery {
    /// Only this tenant's facts.
    pub tenant: Option<String>,
    /// Only facts about this environment, `<tenant>/<environment>`.
    pub env: Option<String>,
    /// Only what this user did, `<tenant>/<user>`.
    pub actor: Option<String>,
    /// Only facts naming this resource.
    pub resource: Option<ResourceId>,
    /// Only this migration's facts.
    pub migration: Option<MigrationId>,
    /// From this time on (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Up to this time (RFC 3339).
    pub until: Option<DateTime<Utc>>,
    /// Only facts after this log position: the last position of the previous page.
    pub after: Option<u64>,
    /// At most this many facts (default 1,000; at most 10,000).
    pub limit: Option<usize>,
}

/// What to replay.
#[derive(Deserialize, JsonSchema, Default)]
pub struct ReplayBody {
    /// One migration; omit for every one the caller may audit.
    pub migration: Option<MigrationId>,
}

/// The signing key.
#[derive(Serialize, JsonSchema)]
pub struct KeyView {
    /// 64 hex digits: keep a copy where the operator cannot change it.
    pub public_key: String,
}

/// `GET …/contents` options.
#[derive(Deserialize, JsonSchema)]
pub struct AsOfQuery {
    /// An RFC 3339 time or a log position; omit for now.
    pub as_of: Option<String>,
}

async fn log(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Params(query): Params<LogQuery>,
) -> Result<Json<Vec<Fact>>, Problem> {
    let filter = AuditFilter {
        tenant: query.tenant.map(|t| parse("tenant", &t)).transpose()?,
        environment: query.env.map(|e| parse("env", &e)).transpose()?,
        actor: query.actor.map(|a| parse("actor", &a)).transpose()?,
        resource: query.resource,
        migration: query.migration,
        since: query.since,
        until: query.until,
        after: query.after,
        limit: Some(query.limit.unwrap_or(1000).min(10_000)),
    };
    s.call(move |f| f.audit_log(&caller, &filter))
        .await
        .map(Json)
}

async fn verify(
    State(s): State<AppState>,
    Authed(caller): Authed,
) -> Result<Json<VerifyView>, Problem> {
    s.call(move |f| f.audit_verify(&caller)).await.map(Json)
}

async fn checkpoint(
    State(s): State<AppState>,
    Authed(caller): Authed,
) -> Result<Created<Checkpoint>, Problem> {
    s.call(move |f| f.audit_checkpoint(&caller))
        .await
        .map(Created::new)
}

async fn key(State(s): State<AppState>, Authed(caller): Authed) -> Result<Json<KeyView>, Problem> {
    s.call(move |f| f.audit_key(&caller))
        .await
        .map(|public_key| Json(KeyView { public_key }))
}

async fn replay(
    State(s): State<AppState>,
    Authed(caller): Authed,
    OptionalBody(body): OptionalBody<ReplayBody>,
) -> Result<Json<ReplayView>, Problem> {
    s.call(move |f| f.audit_replay(&caller, body.migration))
        .await
        .map(Json)
}

async fn bundle(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(path): Path<TenantPath>,
) -> Result<Zip, Problem> {
    let tenant = parse("tenant", &path.tenant)?;
    s.call(move |f| f.audit_bundle(&caller, &tenant))
        .await
        .map(Zip::from)
}

async fn contents(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(path): Path<EnvironmentPath>,
    Params(query): Params<AsOfQuery>,
) -> Result<Json<ContentsView>, Problem> {
    let environment = path.qualified()?;
    let as_of: Option<AsOf> = query
        .as_of
        .map(|text| text.parse().map_err(Problem::from))
        .transpose()?;
    s.call(move |f| f.environment_as_of(&caller, &environment, as_of))
        .await
        .map(Json)
}

/// The audit routes.
pub fn routes() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            "/v1/audit/log",
            get_with(log, |o| {
                o.id("auditLog")
                    .summary("One fact per record, oldest first: filtered, paged by `after`")
            }),
        )
        .api_route(
            "/v1/audit/verify",
            get_with(verify, |o| {
                o.id("auditVerify")
                    .summary("The whole log against every signed checkpoint")
            }),
        )
        .api_route(
            "/v1/audit/checkpoints",
            post_with(checkpoint, |o| {
                o.id("auditCheckpoint")
                    .summary("Sign a checkpoint now (operator)")
            }),
        )
        .api_route(
            "/v1/audit/key",
            get_with(key, |o| {
                o.id("auditKey")
                    .summary("The public key that signs checkpoints")
            }),
        )
        .api_route(
            "/v1/audit/replay",
            post_with(replay, |o| {
                o.id("auditReplay")
                    .summary("Decide every step again with this build and compare with the log")
            }),
        )
        .api_route(
            "/v1/audit/bundles/{tenant}",
            get_with(bundle, |o| {
                o.id("auditBundle")
                    .summary("One tenant's records with their proofs, for offline verification")
            }),
        )
        .api_route(
            "/v1/environments/{tenant}/{environment}/contents",
            get_with(contents, |o| {
                o.id("environmentContents")
                    .summary("What an environment held, now or as of a time or log position")
            }),
        )
}
