//! What use cases return: typed, serialisable views with the field names the README promises
//! for `--json` (and the API returns the same). Never a credential.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use ferry_schemas::environment::{Change, Definition};
use ferry_schemas::resource::{Action, Kind};
use ferry_schemas::{
    EnvironmentId, MigrationId, PrincipalId, ProvisionId, ResourceId, TenantId, TokenId,
};

use crate::environment::{Contents, Resource};
use crate::migration::{state_name, Import, Item, Outcome, Phase};

/// A tenant with its counts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TenantView {
    /// Its id.
    pub id: TenantId,
    /// Its name.
    pub name: String,
    /// How many environments it has.
    pub environments: usize,
    /// How many users it has.
    pub users: usize,
}

/// An environment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EnvironmentView {
    /// Its id.
    pub id: EnvironmentId,
    /// Its tenant's name.
    pub tenant: String,
    /// Its name in the tenant.
    pub name: String,
    /// Whether it is its tenant's default environment.
    pub default: bool,
}

/// A user with their grants.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UserView {
    /// Its id.
    pub id: PrincipalId,
    /// Its tenant's name.
    pub tenant: String,
    /// Its name in the tenant.
    pub name: String,
    /// `plan2`, `plan2-trial` or `none`.
    pub license: String,
    /// Every role it holds.
    pub grants: Vec<GrantHeld>,
}

/// A role held on a target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GrantHeld {
    /// The role, e.g. `environment-maker`.
    pub role: String,
    /// `<tenant>/<environment>`, `<tenant>` or `app <id>`.
    pub target: String,
}

/// A grant given or revoked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GrantView {
    /// `granted` or `revoked`.
    pub action: String,
    /// `<tenant>/<user>`.
    pub user: String,
    /// The role.
    pub role: String,
    /// The target as given.
    pub target: String,
}

/// A token, as listed: never the token itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TokenView {
    /// Its id: what `token revoke` takes.
    pub id: TokenId,
    /// `<tenant>/<user>`, or `operator`.
    pub principal: String,
    /// When it was issued.
    pub issued_at: DateTime<Utc>,
    /// When it stops being accepted; none: never.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A token just issued: the only time its secret is shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct IssuedToken {
    /// The bearer token: show it once, keep it secret.
    pub token: String,
    /// What was recorded.
    #[serde(flatten)]
    pub view: TokenView,
}

/// One resource of an environment. Never its credentials.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ResourceView {
    /// Its id.
    pub id: ResourceId,
    /// What it is.
    pub kind: Kind,
    /// Its display name.
    pub name: String,
    /// Who owns it.
    pub owner: Option<PrincipalId>,
    /// Apps and flows: the published version.
    pub version: u32,
    /// Whether a draft is waiting to be published.
    pub has_draft: bool,
    /// Counts every change to it.
    pub revision: u64,
    /// The connector's technical name (connectors and connections).
    pub connector: Option<String>,
    /// Connections: whether credentials are stored (they are never shown).
    pub has_secret: bool,
    /// Connections: the gateway they use.
    pub gateway: Option<ResourceId>,
}

/// One resource with its documents and references.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ResourceDetail {
    /// The summary.
    #[serde(flatten)]
    pub summary: ResourceView,
    /// The published documents and references.
    pub published: Option<Definition>,
    /// The draft's.
    pub draft: Option<Definition>,
}

impl From<&Resource> for ResourceView {
    fn from(r: &Resource) -> ResourceView {
        ResourceView {
            id: r.id,
            kind: r.kind,
            name: r.name.clone(),
            owner: r.owner,
            version: r.version,
            has_draft: r.draft.is_some(),
            revision: r.revision,
            connector: r.connector.clone(),
            has_secret: r.has_secret,
            gateway: r.gateway,
        }
    }
}

impl From<&Resource> for ResourceDetail {
    fn from(r: &Resource) -> ResourceDetail {
        ResourceDetail {
            summary: r.into(),
            published: r.published.clone(),
            draft: r.draft.clone(),
        }
    }
}

/// A resource that could answer a review item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Candidate {
    /// Its id.
    pub id: ResourceId,
    /// Its display name.
    pub name: String,
}

/// The answer recorded for an item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AnswerView {
    /// What to do.
    pub action: Action,
    /// The target to update or bind.
    pub target: Option<ResourceId>,
    /// The target's display name, when it still exists.
    pub target_name: Option<String>,
    /// A new name, for `new`.
    pub name: Option<String>,
}

/// One item of a review.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReviewItemView {
    /// The package's resource key.
    pub key: String,
    /// A short label unique in the import (`connection/sharepointonline`): an answer may name
    /// the item by it.
    pub label: String,
    /// What it is.
    pub kind: Kind,
    /// Its display name.
    pub name: String,
    /// The actions the package allows.
    pub allowed: Vec<Action>,
    /// The action the package suggests.
    pub suggested: Action,
    /// What an earlier import of this item created here: the update target to suggest.
    pub suggested_target: Option<ResourceId>,
    /// Whether it blocks `start` until answered.
    pub needs_input: bool,
    /// Whether it reaches on-premises data through a gateway.
    pub gateway: bool,
    /// Connectors and connections: the connector it needs.
    pub connector: Option<String>,
    /// The exporter's comment.
    pub comment: Option<String>,
    /// The answer given, if any.
    pub answer: Option<AnswerView>,
    /// While it needs input: the target's resources that could answer it, best first.
    pub candidates: Vec<Candidate>,
    /// An app or flow updating a target (answered so, or suggested by an earlier import):
    /// what the update would change there.
    pub update: Option<UpdateView>,
}

/// What an update of an app or flow would change in its target, like a plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UpdateView {
    /// The app or flow it updates.
    pub target: ResourceId,
    /// Its name there.
    pub target_name: String,
    /// Each difference from what the target publishes now; empty: no change.
    pub changes: Vec<ChangeView>,
    /// Why the differences could not be worked out, when they could not.
    pub error: Option<String>,
}

/// One difference an update makes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ChangeView {
    /// `document`, `reference` or `name`.
    pub aspect: crate::migration::Aspect,
    /// The document's file name, the reference's name, or `name`.
    pub name: String,
    /// As it is now (null: the target has none).
    pub now: Option<String>,
    /// Once updated (null: gone).
    pub then: Option<String>,
}

/// An import's review.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReviewView {
    /// The import migration.
    pub migration: MigrationId,
    /// The package's display name.
    pub package: String,
    /// The stored package's SHA-256.
    pub package_digest: String,
    /// Who signed the package (its key, and its name where the environment trusts it);
    /// null: unsigned.
    pub signer: Option<ferry_schemas::event::Signer>,
    /// `in review`, `running`, `rolling back`, `completed` or `failed`.
    pub state: String,
    /// A dry run never applies anything.
    pub dry_run: bool,
    /// How many items still need input.
    pub pending: usize,
    /// Every item, in dependency order.
    pub items: Vec<ReviewItemView>,
}

/// One item of an import's results.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ResultItem {
    /// The package's resource key.
    pub key: String,
    /// Its label in the review.
    pub label: String,
    /// What it is.
    pub kind: Kind,
    /// Its display name.
    pub name: String,
    /// What its step does.
    pub action: Action,
    /// `created`, `draft created`, `bound`, `registered`, `failed`, `rolled back`, `pending`.
    pub outcome: String,
    /// The target resource, once applied.
    pub target: Option<ResourceId>,
    /// Why it failed (stable).
    pub error_code: Option<String>,
    /// What went wrong and what to do.
    pub message: Option<String>,
}

/// An import's results page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StatusView {
    /// The import migration.
    pub migration: MigrationId,
    /// The package's display name.
    pub package: String,
    /// The target environment.
    pub environment: EnvironmentId,
    /// The target environment as `<tenant>/<environment>`.
    pub environment_name: String,
    /// `in review`, `running`, `rolling back`, `completed`, `rolled back` (an atomic import
    /// whose failed step undid the others), `cancelled` or `failed`.
    pub state: String,
    /// Whether a failed step undoes the others.
    pub atomic: bool,
    /// Whether it ended rolled back: every applied step undone.
    pub rolled_back: bool,
    /// Cancelled: the reason given (empty: none).
    pub cancelled: Option<String>,
    /// A dry run promoted to a real import: that import.
    pub promoted_to: Option<MigrationId>,
    /// How many items still need input.
    pub pending: usize,
    /// Why the whole import failed (stable), if it did.
    pub error_code: Option<String>,
    /// What went wrong, if it did.
    pub message: Option<String>,
    /// Every item with its outcome.
    pub items: Vec<ResultItem>,
}

impl StatusView {
    /// Whether the import or one of its items failed.
    pub fn failed(&self) -> bool {
        self.state == "failed" || self.items.iter().any(|i| i.outcome == "failed")
    }

    /// Whether it waits for answers.
    pub fn blocked(&self) -> bool {
        self.state == "in review" && self.pending > 0
    }
}

/// One import, as listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ImportSummary {
    /// The import migration.
    pub migration: MigrationId,
    /// The package's display name.
    pub package: String,
    /// The target environment.
    pub environment: EnvironmentId,
    /// The target environment as `<tenant>/<environment>`.
    pub environment_name: String,
    /// When it was requested.
    pub requested_at: Option<DateTime<Utc>>,
    /// Who imports: `<tenant>/<user>`, or `operator`.
    pub importer: String,
    /// Its state.
    pub state: String,
    /// Items still needing input.
    pub pending: usize,
    /// How many items it has.
    pub items: usize,
}

/// A draft made live.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Published {
    /// The app or flow.
    pub id: ResourceId,
    /// Its name.
    pub name: String,
    /// Its new published version.
    pub version: u32,
}

pub(super) fn summary(import: &Import, directory: &crate::directory::State) -> ImportSummary {
    ImportSummary {
        migration: import.id,
        package: import.package_name.clone(),
        environment: import.environment,
        environment_name: super::directory::environment_label(directory, import.environment),
        requested_at: import.requested_at,
        importer: super::directory::principal_label(directory, import.importer),
        state: state_name(import).to_owned(),
        pending: import.pending().len(),
        items: import.items.len(),
    }
}

/// Whether an import's review shows an update plan (it needs the stored package).
pub(super) fn plans_updates(import: &Import) -> bool {
    import
        .items
        .iter()
        .any(|i| crate::migration::update_target(i).is_some())
}

/// What updating its target with `item` would change, when it updates one (`package`: the
/// import's, read when [`plans_updates`] says so).
fn update_view(
    import: &Import,
    item: &Item,
    contents: &Contents,
    package: Option<&crate::package::Package>,
) -> Option<UpdateView> {
    let target = crate::migration::update_target(item)?;
    let target_name = contents.get(target)?.name.clone();
    let planned = package
        .ok_or_else(|| "the stored package could not be read".to_owned())
        .and_then(|p| crate::migration::update_plan(import, item, target, contents, p));
    let (changes, error) = match planned {
        Ok(differences) => (
            differences
                .into_iter()
                .map(|d| ChangeView {
                    aspect: d.aspect,
                    name: d.name,
                    now: d.now,
                    then: d.then,
                })
                .collect(),
            None,
        ),
        Err(e) => (Vec::new(), Some(e)),
    };
    Some(UpdateView {
        target,
        target_name,
        changes,
        error,
    })
}

pub(super) fn review(
    import: &Import,
    contents: &Contents,
    package: Option<&crate::package::Package>,
) -> ReviewView {
    let items = import
        .items
        .iter()
        .zip(crate::migration::labels(&import.items))
        .map(|(item, label)| {
            let candidates = if item.needs_input() {
                super::candidates::of(import, item, contents)
                    .into_iter()
                    .map(|r| Candidate {
                        id: r.id,
                        name: r.name.clone(),
                    })
                    .collect()
            } else {
                Vec::new()
            };
            ReviewItemView {
                key: item.review.manifest_key.clone(),
                label,
                kind: item.review.kind,
                name: item.review.display_name.clone(),
                allowed: item.review.allowed_actions.clone(),
                suggested: item.review.suggested_action,
                suggested_target: item.review.suggested_target,
                needs_input: item.needs_input(),
                gateway: item.review.gateway,
                connector: item.review.connector.clone(),
                comment: item.review.comment.clone(),
                answer: item.answer.as_ref().map(|a| AnswerView {
                    action: a.action,
                    target: a.target,
                    target_name: a
                        .target
                        .and_then(|t| contents.get(t))
                        .map(|r| r.name.clone()),
                    name: a.name.clone(),
                }),
                candidates,
                update: update_view(import, item, contents, package),
            }
        })
        .collect();
    ReviewView {
        migration: import.id,
        package: import.package_name.clone(),
        package_digest: import.package.to_string(),
        signer: import.signer.clone(),
        state: state_name(import).to_owned(),
        dry_run: import.dry_run,
        pending: import.pending().len(),
        items,
    }
}

fn outcome_word(item: &Item) -> &'static str {
    match &item.outcome {
        None => "pending",
        Some(Outcome::Applied { action, change, .. }) => match (action, change) {
            (Action::New, _) => "created",
            (Action::Update, _) => "draft created",
            (_, Some(_)) => "registered",
            _ => "bound",
        },
        Some(Outcome::Failed { .. }) => "failed",
        Some(Outcome::Reverted { .. }) => "rolled back",
    }
}

pub(super) fn status(import: &Import, directory: &crate::directory::State) -> StatusView {
    let items = import
        .items
        .iter()
        .zip(crate::migration::labels(&import.items))
        .map(|(item, label)| {
            let (target, error_code, message) = match &item.outcome {
                Some(Outcome::Applied { target, .. }) => (*target, None, None),
                Some(Outcome::Failed { code, message }) => {
                    (None, Some(code.clone()), Some(message.clone()))
                }
                _ => (None, None, None),
            };
            ResultItem {
                key: item.review.manifest_key.clone(),
                label,
                kind: item.review.kind,
                name: item.review.display_name.clone(),
                action: item.action(),
                outcome: outcome_word(item).to_owned(),
                target,
                error_code,
                message,
            }
        })
        .collect();
    let (error_code, message) = match &import.phase {
        Phase::Failed { code, message } => (Some(code.clone()), Some(message.clone())),
        _ => (None, None),
    };
    StatusView {
        migration: import.id,
        package: import.package_name.clone(),
        environment: import.environment,
        environment_name: super::directory::environment_label(directory, import.environment),
        state: state_name(import).to_owned(),
        atomic: import.atomic,
        rolled_back: import.rolled_back,
        cancelled: import.cancelled.clone(),
        promoted_to: import.promoted_to,
        pending: import.pending().len(),
        error_code,
        message,
        items,
    }
}

/// The drafts an import's update steps created.
pub(super) fn drafts(import: &Import) -> Vec<ResourceId> {
    import
        .items
        .iter()
        .filter_map(|item| match &item.outcome {
            Some(Outcome::Applied {
                change: Some(Change::DraftSaved(d)),
                ..
            }) => Some(d.resource),
            _ => None,
        })
        .collect()
}

/// A resource just authored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Authored {
    /// Its id.
    pub id: ResourceId,
    /// What it is.
    pub kind: Kind,
    /// Its display name.
    pub name: String,
    /// `<tenant>/<environment>`.
    pub environment: String,
    /// Whether this saved a draft of an existing app (publish makes it live).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub draft: bool,
    /// A connector registered on the way: `shared_logicflows` for an app calling flows, a
    /// connection's standard connector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered: Option<ResourceId>,
}

/// One resource an export captured.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CapturedView {
    /// Its key in the package manifest.
    pub key: String,
    /// What it is.
    pub kind: Kind,
    /// Its display name.
    pub name: String,
    /// The import action the package suggests.
    pub suggested: Action,
    /// The source resource.
    pub source: ResourceId,
}

/// An export: the package written and what it holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ExportView {
    /// The export migration.
    pub migration: MigrationId,
    /// The app exported.
    pub app: String,
    /// SHA-256 of the package zip.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
    /// Every resource in it, in import order.
    pub resources: Vec<CapturedView>,
    /// Whether it took the apps' and flows' unpublished drafts (`--draft`).
    pub drafts: bool,
    /// Apps and flows with an unpublished draft the package does not hold: it has their
    /// published versions (export with drafts to take those).
    pub unpublished_drafts: Vec<String>,
}

/// What `audit verify` found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct VerifyView {
    /// Whether every frame, link and signed checkpoint checks out.
    pub intact: bool,
    /// The last position that checked out.
    pub head: u64,
    /// Its hash: the digest of the whole history up to it.
    pub digest: String,
    /// Signed checkpoints checked.
    pub checkpoints: usize,
    /// Where the first problem is, if there is one.
    pub position: Option<u64>,
    /// What the first problem is.
    pub problem: Option<String>,
}

/// A step whose replay differs from its record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DifferenceView {
    /// The migration.
    pub migration: MigrationId,
    /// The record's position.
    pub position: u64,
    /// What was recorded.
    pub recorded: String,
    /// What this build decides.
    pub replayed: String,
}

/// What `audit replay` found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReplayView {
    /// Whether every step decided again gives what the log records.
    pub identical: bool,
    /// Migrations replayed.
    pub migrations: usize,
    /// Steps decided again.
    pub steps: usize,
    /// Every step that came out differently.
    pub differences: Vec<DifferenceView>,
}

/// An environment's contents at a point of its history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ContentsView {
    /// `<tenant>/<environment>`.
    pub environment: String,
    /// The last log position folded in.
    pub position: u64,
    /// What it held.
    pub resources: Vec<ResourceView>,
}

/// One wave of a provisioning run, as finished.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WaveView {
    /// 1-based.
    pub wave: u32,
    /// Targets in it.
    pub targets: u32,
    /// Imported with no failed item.
    pub done: u32,
    /// Failed.
    pub failed: u32,
    /// Waiting for input.
    pub blocked: u32,
    /// Whether its failure rate stopped the run.
    pub stopped: bool,
}

/// A provisioning run's totals.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProvisionSummary {
    /// The run.
    pub provision: ProvisionId,
    /// The package's display name.
    pub package: String,
    /// Targets in all.
    pub targets: u32,
    /// Imported with no failed item.
    pub done: usize,
    /// Failed.
    pub failed: usize,
    /// Waiting for input.
    pub blocked: usize,
    /// Not settled yet (pending or running).
    pub not_run: usize,
    /// The waves finished.
    pub waves: Vec<WaveView>,
    /// The wave whose failures stopped the run (1-based), if one did.
    pub stopped_at_wave: Option<u32>,
}

/// One target of a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TargetView {
    /// Its row in the targets file (1-based).
    pub index: u32,
    /// `<tenant>/<environment>`.
    pub target: String,
    /// `pending`, `running`, `done`, `failed` or `blocked`.
    pub outcome: String,
    /// Its import.
    pub migration: MigrationId,
    /// Why it failed or is blocked.
    pub reason: String,
}

/// A run with each target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProvisionStatus {
    /// The run.
    pub provision: ProvisionId,
    /// The package's display name.
    pub package: String,
    /// The targets asked for.
    pub targets: Vec<TargetView>,
}

/// A run, as listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProvisionListed {
    /// The run.
    pub provision: ProvisionId,
    /// When it was first requested.
    pub requested_at: DateTime<Utc>,
    /// Whom its imports act for: `<tenant>/<user>`, or `operator`.
    pub importer: String,
    /// The package's display name.
    pub package: String,
    /// Targets in all.
    pub targets: u32,
    /// Waves finished.
    pub waves_finished: usize,
    /// Whether a wave stopped it.
    pub stopped: bool,
}

/// Counts for the operator's monitoring.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Numbers {
    /// Import migrations by state.
    pub migrations: std::collections::BTreeMap<String, u64>,
    /// Steps recorded as applied.
    pub steps_applied: u64,
    /// Steps recorded as failed.
    pub steps_failed: u64,
    /// The log's head position.
    pub head: u64,
    /// Records on the log the projections have not folded yet.
    pub lag: u64,
    /// What the log did since it was opened: appends, and fsync or produce latency.
    pub log: crate::log::Stats,
}
