//! `/v1/imports…` and the upload route: the import path, with its live results stream.

use aide::axum::routing::{get_with, post_with};
use aide::axum::ApiRouter;
use aide::generate::GenContext;
use aide::openapi::{Operation, ReferenceOr};
use aide::OperationInput;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::Json;
use ferry_engine::app::{
    ImportFilter, ImportRequest, ImportSummary, Published, ReviewView, StatusView,
};
use ferry_engine::package::Limits;
use ferry_schemas::MigrationId;
use schemars::JsonSchema;
use serde::Deserialize;

use super::resources::EnvironmentPath;
use crate::server::extract::{parse, AppState, Authed, Body, IdempotencyKey, OptionalBody, Params};
use crate::server::live::{self, Events};
use crate::server::problem::Problem;
use crate::server::reply::{Accepted, Created};

/// `{migration}` in a path.
#[derive(Deserialize, JsonSchema)]
pub struct MigrationPath {
    /// The import migration's id.
    pub migration: String,
}

impl MigrationPath {
    fn id(&self) -> Result<MigrationId, Problem> {
        parse("migration", &self.migration)
    }
}

/// Upload options.
#[derive(Deserialize, JsonSchema)]
pub struct ImportOptions {
    /// Review only: never apply anything.
    #[serde(default)]
    pub dry_run: bool,
    /// Answers to record with the review, all or none: a JSON array of `{"item", "choice"}`
    /// (as `POST …/answers` takes them). A refused answer records nothing at all.
    pub answers: Option<String>,
}

/// One answer.
#[derive(Deserialize, serde::Serialize, JsonSchema)]
pub struct AnswerBody {
    /// The item: the package's resource key, or a display name unique in the package.
    pub item: String,
    /// `new[:<name>]`, `update:<target>` or `existing:<target>`; a target is an id or a
    /// unique name.
    pub choice: String,
}

/// Answers, recorded together or not at all.
#[derive(Deserialize, JsonSchema)]
pub struct AnswersBody {
    /// In the order they are decided.
    pub answers: Vec<AnswerBody>,
}

/// How to run an import.
#[derive(Deserialize, JsonSchema, Default)]
pub struct StartBody {
    /// Undo every applied step if one fails.
    #[serde(default)]
    pub atomic: bool,
}

/// Why an import is cancelled.
#[derive(Deserialize, JsonSchema, Default)]
pub struct CancelBody {
    /// Why, for the audit log (optional).
    #[serde(default)]
    pub reason: String,
}

/// What to publish in an environment.
#[derive(Deserialize, JsonSchema)]
pub struct PublishBody {
    /// The app or flow, by id or unique name.
    pub resource: String,
}

/// A zip package as the request body.
/// Packages are read one at a time (the place is taken before the body is read and held until
/// the handler is done), so concurrent uploads cannot add up past one package's memory.
pub struct Package(pub Bytes, pub tokio::sync::OwnedSemaphorePermit);

impl axum::extract::FromRequest<AppState> for Package {
    type Rejection = Problem;

    async fn from_request(
        request: axum::extract::Request,
        state: &AppState,
    ) -> Result<Self, Problem> {
        let place = state.packages.clone().acquire_owned().await.map_err(|_| {
            Problem::new(
                ferry_engine::app::Kind::Unavailable,
                "stopping",
                "the server is stopping",
            )
        })?;
        let bytes = Bytes::from_request(request, state).await.map_err(|e| {
            Problem::invalid(
                "package-too-large",
                format!("the package could not be read: {}", e.body_text()),
            )
        })?;
        Ok(Package(bytes, place))
    }
}

impl OperationInput for Package {
    fn operation_input(_ctx: &mut GenContext, operation: &mut Operation) {
        let body = serde_json::from_value(serde_json::json!({
            "description": "the package: a legacy Power Apps export package (zip)",
            "required": true,
            "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
        }));
        if let Ok(body) = body {
            operation.request_body = Some(ReferenceOr::Item(body));
        }
    }
}

fn location(id: MigrationId) -> String {
    format!("/v1/imports/{id}")
}

async fn upload(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(path): Path<EnvironmentPath>,
    Params(options): Params<ImportOptions>,
    IdempotencyKey(key): IdempotencyKey,
    Package(package, _reading): Package,
) -> Result<Created<ReviewView>, Problem> {
    // The caller is proven before the body is read: an unknown client never makes the
    // server buffer a package.
    let into = path.qualified()?;
    let answers: Vec<AnswerBody> = match &options.answers {
        None => Vec::new(),
        Some(text) => serde_json::from_str(text).map_err(|e| {
            Problem::invalid(
                "bad-answers",
                format!("answers must be a JSON array of {{\"item\", \"choice\"}}: {e}"),
            )
        })?,
    };
    let request = ImportRequest {
        package: package.to_vec(),
        into,
        dry_run: options.dry_run,
        answers: answers.into_iter().map(|a| (a.item, a.choice)).collect(),
        idempotency_key: key,
    };
    let view = s.call(move |f| f.import(&caller, request)).await?;
    Ok(Created {
        location: Some(location(view.migration)),
        body: view,
    })
}

/// `GET /v1/imports` filters and paging.
#[derive(Deserialize, JsonSchema)]
pub struct ImportsQuery {
    /// Only imports into this tenant's environments.
    pub tenant: Option<String>,
    /// Only imports into this environment, `<tenant>/<environment>`.
    pub environment: Option<String>,
    /// Only imports in this state: `in review`, `running`, `rolling back`, `completed`,
    /// `rolled back` or `failed`.
    pub state: Option<String>,
    /// Only imports requested at or after this time (RFC 3339).
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// The next page: only imports older than this one (the last of the previous page).
    pub before: Option<MigrationId>,
    /// At most this many (default 100, at most 10,000), newest first. A shorter page is the
    /// last.
    pub limit: Option<usize>,
}

async fn list(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Params(query): Params<ImportsQuery>,
) -> Result<Json<Vec<ImportSummary>>, Problem> {
    let filter = ImportFilter {
        tenant: query
            .tenant
            .as_deref()
            .map(|t| parse("tenant", t))
            .transpose()?,
        environment: query
            .environment
            .as_deref()
            .map(|e| parse("environment", e))
            .transpose()?,
        state: query.state,
        since: query.since,
        before: query.before,
        limit: query.limit,
    };
    s.call(move |f| f.imports(&caller, &filter)).await.map(Json)
}

async fn status(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(path): Path<MigrationPath>,
) -> Result<Json<StatusView>, Problem> {
    let id = path.id()?;
    s.call(move |f| f.status(&caller, id)).await.map(Json)
}

async fn review(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(path): Path<MigrationPath>,
) -> Result<Json<ReviewView>, Problem> {
    let id = path.id()?;
    s.call(move |f| f.review(&caller, id)).await.map(Json)
}

async fn answers_template(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(path): Path<MigrationPath>,
) -> Result<Json<ferry_engine::app::AnswersTemplate>, Problem> {
    let id = path.id()?;
    s.call(move |f| f.answers_template(&caller, id))
        .await
        .map(Json)
}

async fn answer(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(path): Path<MigrationPath>,
    Body(body): Body<AnswersBody>,
) -> Result<Json<ReviewView>, Problem> {
    let id = path.id()?;
    let answers: Vec<(String, String)> = body
        .answers
        .into_iter()
        .map(|a| (a.item, a.choice))
        .collect();
    s.call(move |f| f.answer(&caller, id, &answers))
        .await
        .map(Json)
}

async fn start(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(path): Path<MigrationPath>,
    OptionalBody(body): OptionalBody<StartBody>,
) -> Result<Accepted<StatusView>, Problem> {
    let id = path.id()?;
    let view = s.call(move |f| f.start(&caller, id, body.atomic)).await?;
    Ok(Accepted {
        body: view,
        location: location(id),
    })
}

async fn cancel(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(path): Path<MigrationPath>,
    OptionalBody(body): OptionalBody<CancelBody>,
) -> Result<Json<StatusView>, Problem> {
    let id = path.id()?;
    s.call(move |f| f.cancel(&caller, id, &body.reason))
        .await
        .map(Json)
}

async fn promote(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(path): Path<MigrationPath>,
) -> Result<Created<ReviewView>, Problem> {
    let id = path.id()?;
    let review = s.call(move |f| f.promote(&caller, id)).await?;
    Ok(Created {
        location: Some(format!("/v1/imports/{}/review", review.migration)),
        body: review,
    })
}

async fn publish_import(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(path): Path<MigrationPath>,
) -> Result<Json<Vec<Published>>, Problem> {
    let id = path.id()?;
    s.call(move |f| f.publish_import(&caller, id))
        .await
        .map(Json)
}

async fn publish(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(path): Path<EnvironmentPath>,
    Body(body): Body<PublishBody>,
) -> Result<Json<Published>, Problem> {
    let environment = path.qualified()?;
    s.call(move |f| f.publish(&caller, &environment, &body.resource))
        .await
        .map(Json)
}

fn finished(view: &StatusView) -> bool {
    matches!(view.state.as_str(), "completed" | "rolled back" | "failed")
}

/// A live results page: a `status` event now and at each change, until the import is
/// completed, rolled back or failed.
async fn events(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(path): Path<MigrationPath>,
) -> Result<Events<StatusView>, Problem> {
    let id = path.id()?;
    let permit = live::place(&s, &location(id))?;
    let first = s.call(move |f| f.status(&caller, id)).await?;
    let state = s.clone();
    let next = move |seen: StatusView| {
        let s = state.clone();
        async move {
            s.call(move |f| f.watch(&caller, id, Some(&seen), live::WAIT))
                .await
                .ok()
        }
    };
    Ok(live::stream(&s, permit, "status", first, next, finished))
}

async fn inspect(
    Authed(_caller): Authed,
    Package(package, _reading): Package,
) -> Result<Json<ferry_engine::package::inspect::Report>, Problem> {
    // Any caller with a token, proven before the body is read.
    tokio::task::spawn_blocking(move || ferry_engine::app::Ferry::inspect(&package))
        .await
        .map_err(|_| {
            Problem::new(
                ferry_engine::app::Kind::Internal,
                "internal",
                "inspecting failed",
            )
        })?
        .map(Json)
        .map_err(Problem::from)
}

/// The import routes.
pub fn routes() -> ApiRouter<AppState> {
    let limit = usize::try_from(Limits::default().max_archive_bytes).unwrap_or(usize::MAX);
    ApiRouter::new()
        .api_route(
            "/v1/environments/{tenant}/{environment}/imports",
            post_with(upload, |o| {
                o.id("importPackage").summary(
                    "Upload a package into an environment: stores it and records its review",
                )
            })
            .layer(DefaultBodyLimit::max(limit)),
        )
        .api_route(
            "/v1/environments/{tenant}/{environment}/publish",
            post_with(publish, |o| {
                o.id("publishResource")
                    .summary("Make one app's or flow's draft live")
            }),
        )
        .api_route(
            "/v1/packages/inspect",
            post_with(inspect, |o| {
                o.id("inspectPackage").summary(
                    "What a package holds (legacy package or solution), without importing it",
                )
            })
            .layer(DefaultBodyLimit::max(limit)),
        )
        .api_route(
            "/v1/imports",
            get_with(list, |o| {
                o.id("listImports")
                    .summary("Every import the caller may see")
            }),
        )
        .api_route(
            "/v1/imports/{migration}",
            get_with(status, |o| {
                o.id("importStatus").summary("An import's results page")
            }),
        )
        .api_route(
            "/v1/imports/{migration}/review",
            get_with(review, |o| {
                o.id("importReview")
                    .summary("An import's review: items, answers, candidates")
            }),
        )
        .api_route(
            "/v1/imports/{migration}/answers-template",
            get_with(answers_template, |o| {
                o.id("answersTemplate").summary(
                    "An answers file to fill in (TOML): the items that need input, with their candidates",
                )
            }),
        )
        .api_route(
            "/v1/imports/{migration}/answers",
            post_with(answer, |o| {
                o.id("answerImport")
                    .summary("Answer review items (all or none)")
            }),
        )
        .api_route(
            "/v1/imports/{migration}/start",
            post_with(start, |o| {
                o.id("startImport")
                    .summary("Start an import; the server's workers run it (202, poll Location)")
            }),
        )
        .api_route(
            "/v1/imports/{migration}/cancel",
            post_with(cancel, |o| {
                o.id("cancelImport").summary(
                    "Cancel an import in review or running (it stops at its next step; an \
                     atomic one undoes what it applied)",
                )
            }),
        )
        .api_route(
            "/v1/imports/{migration}/promote",
            post_with(promote, |o| {
                o.id("promoteDryRun").summary(
                    "Make a dry run a real import with its answers (the dry run is cancelled)",
                )
            }),
        )
        .api_route(
            "/v1/imports/{migration}/publish",
            post_with(publish_import, |o| {
                o.id("publishImport")
                    .summary("Publish the drafts an import created")
            }),
        )
        .api_route(
            "/v1/imports/{migration}/events",
            get_with(events, |o| {
                o.id("importEvents")
                    .summary("The results page, live (Server-Sent Events)")
            }),
        )
}
