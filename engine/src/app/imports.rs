//! The import path: import a package (review), answer, start, review and status views,
//! publish. Every check is the caller's; every append is decided on the snapshot it is
//! appended at.

use ferry_schemas::event::Event;
use ferry_schemas::resource::Kind;
use ferry_schemas::{EnvironmentId, MigrationId};

use super::directory::{environment_named, sees_environment};
use super::views::{self, ImportSummary, Published, ReviewView, StatusView};
use super::{Caller, Error, Ferry, Qualified, Result};
use crate::authz::{self, Action};
use crate::environment::author;
use crate::environment::Lookup;
use crate::migration::{self, Choice, Import};
use crate::package::{self, Contents as PackageContents, Limits};
use crate::world::World;

/// How many imports `status` lists when not told.
pub const DEFAULT_IMPORTS: usize = 100;
/// The most imports one page lists.
pub const MAX_IMPORTS: usize = 10_000;
/// Every state an import can be in, as `status` names them.
pub const STATES: [&str; 7] = [
    "in review",
    "running",
    "rolling back",
    "completed",
    "rolled back",
    "cancelled",
    "failed",
];

/// Which imports `status` lists.
#[derive(Clone, Debug, Default)]
pub struct ImportFilter {
    /// Only into environments of this tenant.
    pub tenant: Option<ferry_schemas::directory::Name>,
    /// Only into this environment.
    pub environment: Option<Qualified>,
    /// Only in this state (one of [`STATES`]).
    pub state: Option<String>,
    /// Only those requested at or after this time.
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// The page after this import: only those older than it.
    pub before: Option<MigrationId>,
    /// At most this many (default [`DEFAULT_IMPORTS`], at most [`MAX_IMPORTS`]).
    pub limit: Option<usize>,
}

/// `import`: a package into an environment.
#[derive(Clone, Debug)]
pub struct ImportRequest {
    /// The package's bytes (a legacy export package zip).
    pub package: Vec<u8>,
    /// The target environment.
    pub into: Qualified,
    /// Review only: never apply anything.
    pub dry_run: bool,
    /// Answers to record with the review: `(item, choice)`, e.g. `("Approvals",
    /// "existing:approvals@contoso")`.
    pub answers: Vec<(String, String)>,
    /// A retry with the same key (from the same caller) returns the same migration instead
    /// of importing again.
    pub idempotency_key: Option<String>,
}

impl Ferry {
    /// `import`: stores the package and records its review, with the answers given, in one
    /// append — a refused answer records nothing.
    pub fn import(&self, caller: &Caller, request: ImportRequest) -> Result<ReviewView> {
        let package = package::read(&request.package, &Limits::default())?;
        let PackageContents::Legacy(legacy) = &package.contents else {
            return Err(Error::invalid(
                "solution-not-supported",
                "the package is a Dataverse solution; Ferry imports legacy export packages \
                 (import solutions with the platform's solution import)",
            ));
        };
        let items = package::review(legacy)?;
        let id = match &request.idempotency_key {
            Some(key) => {
                MigrationId::derived(format!("import:{:?}:{key}", caller.principal()).as_bytes())
            }
            None => MigrationId::new(),
        };
        let executor = self.executor()?;
        let digest = ferry_schemas::Digest::of(&request.package);
        let environment = self.world(|w| {
            let env = environment_named(&w.directory, *caller, &request.into)?;
            may_import(w, *caller, env.id)?;
            crate::trust::admits(&w.directory, env.id, package.signer.as_deref())?;
            Ok::<_, Error>(env.id)
        })??;
        if let Some(existing) =
            self.world(|w| w.imports.get(&id).map(|i| (i.environment, i.package)))?
        {
            // A retry: the same key must name the same request.
            if existing != (environment, digest) {
                return Err(Error::new(
                    super::Kind::Conflict,
                    "idempotency-key-reused",
                    "this Idempotency-Key was used for another package or environment; use a new key",
                ));
            }
            return self.review(caller, id);
        }
        let choices = parse_choices(&request.answers)?;
        self.data_dir()
            .blobs()
            .put(&request.package)
            .map_err(Error::internal)?;
        let decided = self.world(|w| {
            // Checked again on the snapshot the request is decided on.
            may_import(w, *caller, environment)?;
            let signer =
                crate::trust::admits(&w.directory, environment, package.signer.as_deref())?;
            let events = migration::request(
                migration::Request {
                    id,
                    environment,
                    package: digest,
                    package_name: package.display_name(),
                    importer: caller.principal(),
                    dry_run: request.dry_run,
                    requested_at: self.now(),
                    signer,
                    items: items.clone(),
                },
                &w.contents,
            );
            let mut import = Import::new(id);
            for event in &events {
                import.apply(event);
            }
            with_answers(import, events, &choices, w)
        })??;
        match executor.record(id, 0, caller.actor(), &decided) {
            Ok(()) => {}
            // The same idempotency key, raced: the other request recorded it.
            Err(crate::executor::Error::Log(crate::log::Error::Conflict { .. }))
                if request.idempotency_key.is_some() => {}
            Err(other) => return Err(other.into()),
        }
        self.review(caller, id)
    }

    /// `review`: an import's items, answers and candidates.
    pub fn review(&self, caller: &Caller, id: MigrationId) -> Result<ReviewView> {
        // An update's plan compares the package with the target: read it (outside the
        // projections' lock) only when there is one.
        let planned = self.world(|w| {
            visible(w, *caller, id).map(|i| views::plans_updates(i).then_some(i.package))
        })??;
        let package = match planned {
            Some(digest) => self.executor()?.package(digest).ok(),
            None => None,
        };
        self.world(|w| {
            visible(w, *caller, id).map(|i| views::review(i, &w.contents, package.as_deref()))
        })?
    }

    /// `answer`: records every answer, or none if one is refused.
    pub fn answer(
        &self,
        caller: &Caller,
        id: MigrationId,
        answers: &[(String, String)],
    ) -> Result<ReviewView> {
        if answers.is_empty() {
            return Err(Error::invalid("no-answers", "no answers given"));
        }
        let choices = parse_choices(answers)?;
        let (version, events) = self.world(|w| {
            let import = visible(w, *caller, id)?;
            may_import(w, *caller, import.environment)?;
            let version = import.version;
            let all = with_answers(import.clone(), Vec::new(), &choices, w)?;
            Ok::<_, Error>((version, all))
        })??;
        self.executor()?
            .record(id, version, caller.actor(), &events)?;
        self.review(caller, id)
    }

    /// `start`: the import runs (workers pick it up). Refused while items need input.
    pub fn start(&self, caller: &Caller, id: MigrationId, atomic: bool) -> Result<StatusView> {
        let (version, event) = self.world(|w| {
            let import = visible(w, *caller, id)?;
            may_import(w, *caller, import.environment)?;
            let default = w
                .directory
                .environment_by_id(import.environment)
                .is_some_and(|e| e.default);
            let event = migration::start(import, atomic, default)?;
            Ok::<_, Error>((import.version, event))
        })??;
        self.executor()?
            .record(id, version, caller.actor(), &[event])?;
        self.status(caller, id)
    }

    /// `status <id>`: an import's results page.
    pub fn status(&self, caller: &Caller, id: MigrationId) -> Result<StatusView> {
        self.world(|w| visible(w, *caller, id).map(|i| views::status(i, &w.directory)))?
    }

    /// Waits until the import's results differ from `seen` (or `timeout` passes) and returns
    /// them: what a live results page streams, woken by the log rather than polling it.
    pub fn watch(
        &self,
        caller: &Caller,
        id: MigrationId,
        seen: Option<&StatusView>,
        timeout: std::time::Duration,
    ) -> Result<StatusView> {
        self.watch_view(seen, timeout, || self.status(caller, id))
    }

    /// `status`: the imports the caller may see that pass `filter`, newest first, at most
    /// `filter.limit` of them (a page; the next one starts `before` the last).
    pub fn imports(&self, caller: &Caller, filter: &ImportFilter) -> Result<Vec<ImportSummary>> {
        let limit = filter
            .limit
            .unwrap_or(DEFAULT_IMPORTS)
            .clamp(1, MAX_IMPORTS);
        if let Some(state) = &filter.state {
            if !STATES.contains(&state.as_str()) {
                return Err(Error::invalid(
                    "bad-state",
                    format!("{state:?} is not a state; one of: {}", STATES.join(", ")),
                ));
            }
        }
        self.world(|w| {
            let environment = match &filter.environment {
                Some(name) => Some(environment_named(&w.directory, *caller, name)?.id),
                None => None,
            };
            let tenant = match &filter.tenant {
                Some(name) => Some(super::directory::visible_tenant(
                    &w.directory,
                    *caller,
                    name,
                )?),
                None => None,
            };
            // Newest first: by request time, then id (ids of one millisecond are in order).
            let key = |i: &Import| (i.requested_at, i.id);
            let before = match filter.before {
                Some(id) => Some(key(visible(w, *caller, id)?)),
                None => None,
            };
            let mut found: Vec<&Import> = w
                .imports
                .values()
                .filter(|i| environment.is_none_or(|e| i.environment == e))
                .filter(|i| {
                    tenant.is_none_or(|t| {
                        w.directory
                            .environment_by_id(i.environment)
                            .is_some_and(|e| e.tenant == t)
                    })
                })
                .filter(|i| {
                    filter
                        .state
                        .as_deref()
                        .is_none_or(|s| crate::migration::state_name(i) == s)
                })
                .filter(|i| {
                    filter
                        .since
                        .is_none_or(|since| i.requested_at.is_some_and(|at| at >= since))
                })
                .filter(|i| before.is_none_or(|b| key(i) < b))
                .filter(|i| may_see(w, *caller, i))
                .collect();
            found.sort_by_key(|i| std::cmp::Reverse(key(i)));
            found.truncate(limit);
            Ok(found
                .into_iter()
                .map(|i| views::summary(i, &w.directory))
                .collect())
        })?
    }

    /// `publish <migration>`: makes live every draft the import's updates created.
    pub fn publish_import(&self, caller: &Caller, id: MigrationId) -> Result<Vec<Published>> {
        let drafts = self.world(|w| visible(w, *caller, id).map(views::drafts))??;
        if drafts.is_empty() {
            return Err(Error::invalid(
                "no-drafts",
                format!("import {id} created no drafts to publish"),
            ));
        }
        drafts
            .into_iter()
            .map(|resource| self.publish_resource(caller, resource))
            .collect()
    }

    /// `publish <t>/<e> --app <ref>`: makes one app's or flow's draft live.
    pub fn publish(
        &self,
        caller: &Caller,
        environment: &Qualified,
        reference: &str,
    ) -> Result<Published> {
        let resource = self.world(|w| {
            let env = environment_named(&w.directory, *caller, environment)?;
            find(w, env.id, &[Kind::App, Kind::Flow], reference).map(|r| r.id)
        })??;
        self.publish_resource(caller, resource)
    }

    pub(super) fn publish_resource(
        &self,
        caller: &Caller,
        resource: ferry_schemas::ResourceId,
    ) -> Result<Published> {
        let (environment, name) = self.world(|w| {
            let r = w.contents.get(resource).ok_or_else(|| {
                Error::new(
                    super::Kind::Conflict,
                    "resource-gone",
                    format!("resource {resource} no longer exists"),
                )
            })?;
            if let Some(principal) = caller.principal() {
                authz::publish(&w.directory, principal, r)?;
            }
            Ok::<_, Error>((r.environment, r.name.clone()))
        })??;
        let event = self
            .executor()?
            .author(environment, caller.actor(), |w| {
                author::publish(&w.contents, resource)
            })?
            .map_err(Error::from)?;
        let version = match event {
            Event::DraftPublished(e) => e.version,
            _ => 0,
        };
        Ok(Published {
            id: resource,
            name,
            version,
        })
    }
}

/// The import `id`, if the caller may see it (else not found).
pub(super) fn visible(world: &World, caller: Caller, id: MigrationId) -> Result<&Import> {
    world
        .imports
        .get(&id)
        .filter(|i| may_see(world, caller, i))
        .ok_or_else(|| Error::not_found("no-such-migration", format!("no import migration {id}")))
}

/// The operator sees every import; a user those into environments they may see now (a
/// revoked grant hides the imports made with it: their reviews show the environment).
fn may_see(world: &World, caller: Caller, import: &Import) -> bool {
    world
        .directory
        .environment_by_id(import.environment)
        .is_some_and(|e| sees_environment(&world.directory, caller, e))
}

/// Import, answer and start need a license and a maker's role on the environment.
pub(super) fn may_import(world: &World, caller: Caller, environment: EnvironmentId) -> Result<()> {
    match caller.principal() {
        None => Ok(()),
        Some(principal) => Ok(authz::environment(
            &world.directory,
            principal,
            environment,
            Action::Import,
        )?),
    }
}

fn parse_choices(answers: &[(String, String)]) -> Result<Vec<(String, Choice)>> {
    answers
        .iter()
        .map(|(item, text)| {
            Choice::parse(text)
                .map(|c| (item.clone(), c))
                .ok_or_else(|| {
                    Error::invalid(
                        "bad-answer",
                        format!(
                        "{item}: {text:?} is not new[:<name>], update:<target> or existing:<target>"
                    ),
                    )
                })
        })
        .collect()
}

/// `events` followed by one `AnswerGiven` per choice, each decided on the import as the ones
/// before it left it. The first refusal refuses them all.
fn with_answers(
    mut import: Import,
    mut events: Vec<Event>,
    choices: &[(String, Choice)],
    world: &World,
) -> Result<Vec<Event>> {
    for (item, choice) in choices {
        let event = migration::answer(&import, item, choice.clone(), &world.contents)?;
        import.apply(&event);
        events.push(event);
    }
    Ok(events)
}

/// Resolves `reference` among `environment`'s resources of one of `kinds`: an id, a unique
/// name, or a connector's technical name.
pub(super) fn find<'w>(
    world: &'w World,
    environment: EnvironmentId,
    kinds: &[Kind],
    reference: &str,
) -> Result<&'w crate::environment::Resource> {
    let contents = &world.contents;
    let mut ambiguous = None;
    for kind in kinds {
        match contents.find(environment, Some(*kind), reference) {
            Ok(found) => return Ok(found),
            Err(Lookup::Ambiguous(ids)) => ambiguous = Some(ids),
            Err(Lookup::NotFound) => {}
        }
    }
    if let Some(found) = contents.of(environment).into_iter().find(|r| {
        kinds.contains(&r.kind)
            && matches!(r.kind, Kind::Connector | Kind::CustomConnector)
            && r.connector.as_deref() == Some(reference)
    }) {
        return Ok(found);
    }
    let kinds: Vec<_> = kinds.iter().map(ToString::to_string).collect();
    Err(match ambiguous {
        Some(ids) => Error::invalid(
            "ambiguous-target",
            format!(
                "{reference:?} names several resources ({}); use an id",
                ids.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        None => Error::not_found(
            "no-such-resource",
            format!(
                "no {} {reference:?} in this environment",
                kinds.join(" or ")
            ),
        ),
    })
}
