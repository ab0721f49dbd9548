//! `/v1/provisions…`: one package into many targets, run by the server in the background.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use aide::axum::routing::{get_with, post_with};
use aide::axum::ApiRouter;
use axum::extract::{Path, State};
use axum::Json;
use ferry_engine::app::{
    Caller, Execution, Ferry, Kind, ProvisionListed, ProvisionRequest, ProvisionStart,
    ProvisionStatus, ProvisionSummary,
};
use ferry_schemas::ProvisionId;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::server::extract::{parse, AppState, Authed, Body, Params};
use crate::server::live::{self, Events};
use crate::server::problem::Problem;
use crate::server::reply::Accepted;

/// The runs this server is running, and how the last run of each ended.
#[derive(Default)]
pub struct Running {
    runs: Mutex<HashMap<ProvisionId, Option<Problem>>>,
    running: Mutex<std::collections::HashSet<ProvisionId>>,
    /// Woken when a run ends (its end appends nothing a live stream could wait for).
    ended: tokio::sync::Notify,
    /// Set on shutdown: runs stop between targets (and continue at the next start).
    pub stop: Arc<AtomicBool>,
}

/// A run to start.
#[derive(Deserialize, JsonSchema)]
pub struct NewProvision {
    /// The package (a legacy export package zip), base64.
    pub package_base64: String,
    /// The targets file: CSV with a header `tenant,environment` and optional answer columns.
    pub targets: String,
    /// The answer template (TOML), if any.
    pub template: Option<String>,
    /// Wave sizes; the rest of the targets is the last wave.
    #[serde(default)]
    pub waves: Vec<u32>,
    /// Failed + blocked per mille of a wave above which the run stops (default 1000: never).
    pub max_failure_permille: Option<u32>,
    /// Create missing tenants and environments (the operator only).
    #[serde(default)]
    pub create_envs: bool,
    /// Targets imported at once (default 32).
    pub concurrency: Option<u32>,
}

/// A run as it stands.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProvisionState {
    /// Its totals.
    #[serde(flatten)]
    pub summary: ProvisionSummary,
    /// Whether the server is running it now.
    pub running: bool,
    /// Why the server's last run of it stopped short, if it did.
    pub error: Option<Problem>,
}

/// `{provision}` in a path.
#[derive(Deserialize, JsonSchema)]
pub struct ProvisionPath {
    /// The run's id.
    pub provision: String,
}

/// `GET …/targets` filters.
#[derive(Deserialize, JsonSchema)]
pub struct TargetFilter {
    /// Only failed targets.
    #[serde(default)]
    pub failed: bool,
    /// Only blocked targets.
    #[serde(default)]
    pub blocked: bool,
}

fn location(id: ProvisionId) -> String {
    format!("/v1/provisions/{id}")
}

/// Hands "recorded" (or why not) back to the request that started the run.
struct Begun(Mutex<Option<tokio::sync::oneshot::Sender<Result<(), Problem>>>>);

impl Begun {
    fn answer(&self, result: Result<(), Problem>) {
        if let Some(tx) = self.0.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = tx.send(result);
        }
    }
}

impl ferry_engine::app::Progress for Begun {
    fn begun(&self, _request: &ferry_schemas::provision::ProvisionRequested, _fresh: bool) {
        self.answer(Ok(()));
    }
}

/// A run claimed by this server; dropping it releases the claim with how the run ended.
struct Claim {
    running: Arc<Running>,
    id: ProvisionId,
    error: Option<Problem>,
}

impl Drop for Claim {
    fn drop(&mut self) {
        let error = self.error.take().or_else(|| {
            std::thread::panicking().then(|| {
                Problem::new(
                    Kind::Internal,
                    "internal",
                    "the run stopped on a failure inside Ferry",
                )
            })
        });
        self.running.finish(self.id, error);
    }
}

impl Running {
    /// Marks `id` running; false if it already was.
    fn claim(&self, id: ProvisionId) -> bool {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id)
    }

    fn finish(&self, id: ProvisionId, error: Option<Problem>) {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
        self.runs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, error);
        self.ended.notify_waiters();
    }

    fn is_running(&self, id: ProvisionId) -> bool {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&id)
    }

    fn last_error(&self, id: ProvisionId) -> Option<Problem> {
        self.runs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .cloned()
            .flatten()
    }
}

fn request(body: NewProvision) -> Result<ProvisionRequest, Problem> {
    use base64::Engine as _;
    let package = base64::engine::general_purpose::STANDARD
        .decode(body.package_base64.as_bytes())
        .map_err(|e| Problem::invalid("bad-package", format!("package_base64: {e}")))?;
    Ok(ProvisionRequest {
        package,
        targets: body.targets.into_bytes(),
        template: body.template.map(String::into_bytes),
        waves: body.waves,
        max_failure_permille: body.max_failure_permille.unwrap_or(1000),
        create_envs: body.create_envs,
        concurrency: body.concurrency.unwrap_or(32),
    })
}

async fn state_of(
    s: &AppState,
    caller: Caller,
    id: ProvisionId,
) -> Result<ProvisionState, Problem> {
    let summary = s.call(move |f| f.provision_summary(&caller, id)).await?;
    Ok(with_run(s, id, summary))
}

fn with_run(s: &AppState, id: ProvisionId, summary: ProvisionSummary) -> ProvisionState {
    ProvisionState {
        summary,
        running: s.running.is_running(id),
        error: s.running.last_error(id),
    }
}

/// Whether a run's state is final: nothing is left to run, or the server stopped running it
/// for a reason (the failure budget, an error).
fn settled(state: &ProvisionState) -> bool {
    !state.running
        && (state.summary.not_run == 0
            || state.summary.stopped_at_wave.is_some()
            || state.error.is_some())
}

/// A run's live totals: a `state` event now and at each change, until it is settled.
async fn events(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(path): Path<ProvisionPath>,
) -> Result<Events<ProvisionState>, Problem> {
    let id = parse("provision", &path.provision)?;
    let permit = live::place(&s, &location(id))?;
    let first = state_of(&s, caller, id).await?;
    let state = s.clone();
    let next = move |seen: ProvisionState| {
        let s = state.clone();
        async move {
            // A burst of appends (hundreds of targets at once) makes one event, not hundreds.
            tokio::time::sleep(THROTTLE).await;
            let ended = s.running.ended.notified();
            tokio::pin!(ended);
            ended.as_mut().enable();
            if seen.running && !s.running.is_running(id) {
                return state_of(&s, caller, id).await.ok();
            }
            let summary = tokio::select! {
                summary = s.call(move |f| f.watch_provision(&caller, id, Some(&seen.summary), live::WAIT)) => summary,
                () = &mut ended => s.call(move |f| f.provision_summary(&caller, id)).await,
            };
            Some(with_run(&s, id, summary.ok()?))
        }
    };
    Ok(live::stream(&s, permit, "state", first, next, settled))
}

/// The least time between two events of a run's stream.
const THROTTLE: std::time::Duration = std::time::Duration::from_millis(250);

/// Starts run `start` in the background unless the server runs it already; answers once it
/// is recorded (or with why it could not be).
async fn start(
    s: AppState,
    caller: Caller,
    start: ProvisionStart,
) -> Result<Accepted<ProvisionState>, Problem> {
    let id = match &start {
        ProvisionStart::Resume(id) => *id,
        ProvisionStart::New(request) => Ferry::provision_id(&caller, request),
    };
    if s.running.claim(id) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let state = s.clone();
        tokio::task::spawn_blocking(move || {
            let begun = Begun(Mutex::new(Some(tx)));
            // Released however the run ends, a panic included.
            let mut claim = Claim {
                running: state.running.clone(),
                id,
                error: None,
            };
            let result =
                state
                    .ferry
                    .provision(&caller, start, Execution::Here, &begun, &claim.running.stop);
            let error = result.err().map(Problem::from);
            begun.answer(error.clone().map_or(Ok(()), Err));
            claim.error = error;
        });
        rx.await.map_err(|_| {
            Problem::new(
                Kind::Internal,
                "internal",
                "the run stopped before it was recorded",
            )
        })??;
    }
    Ok(Accepted {
        body: state_of(&s, caller, id).await?,
        location: location(id),
    })
}

async fn create(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Body(body): Body<NewProvision>,
) -> Result<Accepted<ProvisionState>, Problem> {
    let request = request(body)?;
    start(s, caller, ProvisionStart::New(request)).await
}

async fn resume(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(path): Path<ProvisionPath>,
) -> Result<Accepted<ProvisionState>, Problem> {
    let id = parse("provision", &path.provision)?;
    start(s, caller, ProvisionStart::Resume(id)).await
}

async fn list(
    State(s): State<AppState>,
    Authed(caller): Authed,
) -> Result<Json<Vec<ProvisionListed>>, Problem> {
    s.call(move |f| f.provisions(&caller)).await.map(Json)
}

async fn show(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(path): Path<ProvisionPath>,
) -> Result<Json<ProvisionState>, Problem> {
    let id = parse("provision", &path.provision)?;
    state_of(&s, caller, id).await.map(Json)
}

async fn targets(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(path): Path<ProvisionPath>,
    Params(filter): Params<TargetFilter>,
) -> Result<Json<ProvisionStatus>, Problem> {
    let id = parse("provision", &path.provision)?;
    let mut view = s.call(move |f| f.provision_status(&caller, id)).await?;
    view.targets.retain(|t| {
        !(filter.failed || filter.blocked)
            || (filter.failed && t.outcome == "failed")
            || (filter.blocked && t.outcome == "blocked")
    });
    Ok(Json(view))
}

async fn publish(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(path): Path<ProvisionPath>,
) -> Result<Json<ferry_engine::app::ProvisionPublished>, Problem> {
    let id = parse("provision", &path.provision)?;
    s.call(move |f| f.publish_provision(&caller, id))
        .await
        .map(Json)
}

/// The provisioning routes.
pub fn routes() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            "/v1/provisions",
            get_with(list, |o| {
                o.id("listProvisions")
                    .summary("The runs the caller may see")
            })
            .post_with(create, |o| {
                o.id("provision")
                    .summary("One package into many targets, in waves; the server runs it (202)")
            }),
        )
        .api_route(
            "/v1/provisions/{provision}",
            get_with(show, |o| {
                o.id("provisionState")
                    .summary("A run's totals, and whether it runs")
            }),
        )
        .api_route(
            "/v1/provisions/{provision}/resume",
            post_with(resume, |o| {
                o.id("resumeProvision").summary("Continue a run (202)")
            }),
        )
        .api_route(
            "/v1/provisions/{provision}/events",
            get_with(events, |o| {
                o.id("provisionEvents")
                    .summary("A run's totals, live (Server-Sent Events) until it is settled")
            }),
        )
        .api_route(
            "/v1/provisions/{provision}/publish",
            post_with(publish, |o| {
                o.id("publishProvision").summary(
                    "Publish the drafts a run's updates made, target by target (again: the rest)",
                )
            }),
        )
        .api_route(
            "/v1/provisions/{provision}/targets",
            get_with(targets, |o| {
                o.id("provisionTargets").summary("Each target's outcome")
            }),
        )
}
