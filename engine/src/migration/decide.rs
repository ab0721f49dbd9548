//! The import's decisions, pure: what to record for a request, an answer, a start, and each
//! next step. Inputs are the migration's state, the target environment's contents and the
//! package; new ids and the time come from the caller.

use chrono::{DateTime, Utc};
use ferry_schemas::environment::{
    Change, Definition, DraftRestored, DraftSaved, ResourceCreated, ResourceRemoved,
};
use ferry_schemas::event::{
    AnswerGiven, Event, ImportCompleted, ImportRequested, ImportStarted, PackageValidated,
    ReviewItem, StepApplied, StepFailed, StepReverted,
};
use ferry_schemas::resource::{Action, Kind};
use ferry_schemas::{Digest, EnvironmentId, MigrationId, PrincipalId, ResourceId};

use super::{Import, Item, Outcome, Phase, Rejection};
use crate::environment::{Contents, Lookup, Resource};
use crate::package::{Contents as PackageContents, Legacy, Package};

/// A new import, as the caller has prepared it.
#[derive(Clone, Debug)]
pub struct Request {
    /// The new migration's id.
    pub id: MigrationId,
    /// The target environment.
    pub environment: EnvironmentId,
    /// The stored package.
    pub package: Digest,
    /// Its display name.
    pub package_name: String,
    /// Who imports.
    pub importer: Option<PrincipalId>,
    /// Review only.
    pub dry_run: bool,
    /// When.
    pub requested_at: DateTime<Utc>,
    /// The package's review items ([`crate::package::review`]).
    pub items: Vec<ReviewItem>,
}

/// Records the request and its review, with the identity map's suggestions.
pub fn request(request: Request, contents: &Contents) -> Vec<Event> {
    let items = request
        .items
        .into_iter()
        .map(|mut item| {
            if matches!(item.kind, Kind::App | Kind::Flow) {
                item.suggested_target = contents.identity(request.environment, &item.manifest_key);
            }
            item
        })
        .collect();
    vec![
        ImportRequested {
            migration: request.id,
            environment: request.environment,
            package: request.package,
            package_name: request.package_name,
            importer: request.importer,
            dry_run: request.dry_run,
            requested_at: request.requested_at,
        }
        .into(),
        PackageValidated { items }.into(),
    ]
}

/// An answer as the user gives it: `new[:<name>]`, `update:<target>`, `existing:<target>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Choice {
    /// Create it, optionally under another name.
    New(Option<String>),
    /// Update this app or flow (a draft).
    Update(String),
    /// Bind this existing resource.
    Existing(String),
}

impl Choice {
    /// Parses `new[:<name>]`, `update:<target>`, `existing:<target>`.
    pub fn parse(text: &str) -> Option<Choice> {
        let (word, rest) = match text.split_once(':') {
            Some((word, rest)) => (word, Some(rest.trim())),
            None => (text, None),
        };
        let rest = rest.filter(|r| !r.is_empty()).map(str::to_owned);
        match (Action::parse(word)?, rest) {
            (Action::New, name) => Some(Choice::New(name)),
            (Action::Update, Some(target)) => Some(Choice::Update(target)),
            (Action::Existing, Some(target)) => Some(Choice::Existing(target)),
            _ => None,
        }
    }

    fn action(&self) -> Action {
        match self {
            Choice::New(_) => Action::New,
            Choice::Update(_) => Action::Update,
            Choice::Existing(_) => Action::Existing,
        }
    }
}

/// Finds an item by manifest key, or by a display name unique in the package.
pub fn find_item<'a>(import: &'a Import, reference: &str) -> Result<&'a Item, Rejection> {
    if let Some(item) = import.item(reference) {
        return Ok(item);
    }
    let named: Vec<_> = import
        .items
        .iter()
        .filter(|i| i.review.display_name == reference)
        .collect();
    match named.as_slice() {
        [one] => Ok(one),
        [] => Err(Rejection::NoSuchItem(reference.to_owned())),
        many => Err(Rejection::AmbiguousItem {
            name: reference.to_owned(),
            keys: many.iter().map(|i| i.review.manifest_key.clone()).collect(),
        }),
    }
}

/// Validates one answer against the target environment and records it.
pub fn answer(
    import: &Import,
    item: &str,
    choice: Choice,
    contents: &Contents,
) -> Result<Event, Rejection> {
    if import.phase != Phase::Review {
        return Err(wrong_phase(
            import,
            "answering",
            "while the import is in review",
        ));
    }
    let item = find_item(import, item)?;
    let key = item.review.manifest_key.clone();
    let action = choice.action();
    if !item.review.allowed_actions.contains(&action) {
        return Err(Rejection::ActionNotAllowed {
            item: key,
            action,
            allowed: item.review.allowed_actions.clone(),
        });
    }
    let (target, name, target_revision) = match choice {
        Choice::New(name) => (None, name, None),
        Choice::Update(reference) => {
            let target = resolve(import, item, &reference, contents)?;
            (Some(target.id), None, Some(target.revision))
        }
        Choice::Existing(reference) => {
            let target = resolve(import, item, &reference, contents)?;
            check_binding(import, item, target, contents)?;
            (Some(target.id), None, None)
        }
    };
    Ok(AnswerGiven {
        manifest_key: key,
        action,
        target,
        name,
        target_revision,
    }
    .into())
}

fn resolve<'c>(
    import: &Import,
    item: &Item,
    reference: &str,
    contents: &'c Contents,
) -> Result<&'c Resource, Rejection> {
    let kind = item.review.kind;
    let found = contents.find(import.environment, Some(kind), reference);
    // One account often has connections of several connectors: a name is enough when only
    // one of them is of the connector the item needs.
    if let Err(Lookup::Ambiguous(ids)) = &found {
        let fitting: Vec<_> = ids
            .iter()
            .filter_map(|id| contents.get(*id))
            .filter(|r| item.review.connector.is_some() && r.connector == item.review.connector)
            .collect();
        if let [one] = fitting.as_slice() {
            return Ok(one);
        }
    }
    found.map_err(|lookup| match lookup {
        Lookup::NotFound => Rejection::NoSuchTarget {
            item: item.review.manifest_key.clone(),
            kind,
            target: reference.to_owned(),
        },
        Lookup::Ambiguous(ids) => Rejection::AmbiguousTarget {
            item: item.review.manifest_key.clone(),
            target: reference.to_owned(),
            ids,
        },
    })
}

/// A binding must fit the item: a connection of the right connector that the importer may
/// use; a standard connector of the same name.
fn check_binding(
    import: &Import,
    item: &Item,
    target: &Resource,
    contents: &Contents,
) -> Result<(), Rejection> {
    let key = &item.review.manifest_key;
    let wrong_connector = |expected: &str| Rejection::WrongConnector {
        item: key.clone(),
        target: target.name.clone(),
        expected: expected.to_owned(),
        actual: target.connector.clone().unwrap_or_default(),
    };
    match item.review.kind {
        Kind::Connection => {
            if target.owner.is_some()
                && target.owner != import.importer
                && import.importer.is_some()
            {
                return Err(Rejection::NotUsable {
                    item: key.clone(),
                    target: target.name.clone(),
                });
            }
            match custom_api(import, item) {
                // A custom connector has another technical name in every environment: the
                // connection must belong to a custom connector of the target (the one bound
                // to the package's custom connector, once that is answered).
                Some(api) => {
                    let bound = api.answer.as_ref().and_then(|a| a.target);
                    let fits = contents
                        .of(import.environment)
                        .into_iter()
                        .filter(|r| r.kind == Kind::CustomConnector)
                        .filter(|r| bound.is_none_or(|id| id == r.id))
                        .any(|r| r.connector.is_some() && r.connector == target.connector);
                    if !fits {
                        return Err(wrong_connector(&format!(
                            "the custom connector bound to {}",
                            api.review.manifest_key
                        )));
                    }
                }
                None => {
                    if let Some(expected) = &item.review.connector {
                        if target.connector.as_deref() != Some(expected) {
                            return Err(wrong_connector(expected));
                        }
                    }
                }
            }
        }
        // The connections answered already must belong to the custom connector now chosen.
        Kind::CustomConnector => {
            let custom = target.connector.clone().unwrap_or_default();
            for connection in import
                .items
                .iter()
                .filter(|i| i.review.kind == Kind::Connection && i.review.depends_on.contains(key))
            {
                let bound = connection
                    .answer
                    .as_ref()
                    .and_then(|a| a.target)
                    .and_then(|id| contents.get(id));
                if let Some(bound) = bound.filter(|b| b.connector.as_deref() != Some(&custom)) {
                    return Err(Rejection::WrongConnector {
                        item: connection.review.manifest_key.clone(),
                        target: bound.name.clone(),
                        expected: custom,
                        actual: bound.connector.clone().unwrap_or_default(),
                    });
                }
            }
        }
        Kind::Connector => {
            if let Some(expected) = &item.review.connector {
                if target.connector.as_deref() != Some(expected) {
                    return Err(wrong_connector(expected));
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// The custom connector item a connection item depends on.
fn custom_api<'a>(import: &'a Import, item: &Item) -> Option<&'a Item> {
    item.review
        .depends_on
        .iter()
        .filter_map(|key| import.item(key))
        .find(|dep| dep.review.kind == Kind::CustomConnector)
}

/// Starts the import: refused while an item needs input, for a dry run, or when an item needs
/// a gateway and the target is not its tenant's default environment.
pub fn start(import: &Import, atomic: bool, default_environment: bool) -> Result<Event, Rejection> {
    if import.phase != Phase::Review {
        return Err(wrong_phase(import, "starting", "once, after the review"));
    }
    if import.dry_run {
        return Err(Rejection::DryRun);
    }
    let gateway: Vec<_> = import
        .items
        .iter()
        .filter(|i| i.review.gateway)
        .map(|i| i.review.manifest_key.clone())
        .collect();
    if !gateway.is_empty() && !default_environment {
        return Err(Rejection::GatewayNeedsDefault { keys: gateway });
    }
    let pending: Vec<_> = import
        .pending()
        .iter()
        .map(|i| i.review.manifest_key.clone())
        .collect();
    if !pending.is_empty() {
        return Err(Rejection::NeedsInput { keys: pending });
    }
    Ok(ImportStarted {
        plan: import
            .items
            .iter()
            .map(|i| i.review.manifest_key.clone())
            .collect(),
        atomic,
    }
    .into())
}

/// The next event a worker records for a running import, and the documents it references
/// (to be stored before the event is appended). None: nothing to do.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// The event to append.
    pub event: Event,
    /// The bytes of every document the event's change references.
    pub blobs: Vec<Vec<u8>>,
}

/// Decides the next step of a running import. `new_id` is the id a created resource gets.
pub fn next_step(
    import: &Import,
    contents: &Contents,
    package: &Package,
    new_id: ResourceId,
) -> Option<Step> {
    match import.phase {
        Phase::Running => Some(match import.items.iter().find(|i| i.outcome.is_none()) {
            Some(item) => apply(import, item, contents, package, new_id),
            None => completed(import, false),
        }),
        Phase::RollingBack => Some(match undo_next(import, contents) {
            Some(step) => step,
            None => completed(import, true),
        }),
        _ => None,
    }
}

fn completed(import: &Import, rolled_back: bool) -> Step {
    let count = |f: fn(&Outcome) -> bool| {
        let n = import
            .items
            .iter()
            .filter(|i| i.outcome.as_ref().is_some_and(f))
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    };
    Step {
        event: ImportCompleted {
            applied: count(|o| matches!(o, Outcome::Applied { .. })),
            failed: count(|o| matches!(o, Outcome::Failed { .. })),
            rolled_back,
        }
        .into(),
        blobs: Vec::new(),
    }
}

fn failed(item: &Item, code: &str, message: String) -> Step {
    Step {
        event: StepFailed {
            manifest_key: item.review.manifest_key.clone(),
            code: code.to_owned(),
            message,
        }
        .into(),
        blobs: Vec::new(),
    }
}

fn applied(
    item: &Item,
    action: Action,
    target: Option<ResourceId>,
    change: Option<Change>,
) -> Step {
    Step {
        event: StepApplied {
            manifest_key: item.review.manifest_key.clone(),
            action,
            target,
            change,
        }
        .into(),
        blobs: Vec::new(),
    }
}

fn apply(
    import: &Import,
    item: &Item,
    contents: &Contents,
    package: &Package,
    new_id: ResourceId,
) -> Step {
    let key = &item.review.manifest_key;
    let env = import.environment;
    // A dependency that failed leaves nothing to point at.
    if let Some(dep) = item
        .review
        .depends_on
        .iter()
        .filter_map(|k| import.item(k))
        .find(|d| matches!(d.outcome, Some(Outcome::Failed { .. })))
    {
        return failed(
            item,
            "dependency-failed",
            format!(
                "{key} depends on {} ({}), which failed; fix that and import again",
                dep.review.manifest_key, dep.review.display_name
            ),
        );
    }
    let answer = item.answer.as_ref();
    let target = answer.and_then(|a| a.target);
    match (item.review.kind, item.action()) {
        (Kind::App | Kind::Flow, Action::New) => {
            let (definition, blobs) = match documents(import, item, package) {
                Ok(found) => found,
                Err(message) => return failed(item, "package-incomplete", message),
            };
            let name = answer
                .and_then(|a| a.name.clone())
                .unwrap_or_else(|| item.review.display_name.clone());
            let change = Change::Created(ResourceCreated {
                environment: env,
                resource: new_id,
                kind: item.review.kind,
                name,
                owner: import.importer,
                connector: None,
                has_secret: false,
                gateway: None,
                definition: Some(definition),
            });
            Step {
                blobs,
                ..applied(item, Action::New, Some(new_id), Some(change))
            }
        }
        (Kind::App | Kind::Flow, Action::Update) => {
            let Some(current) = target.and_then(|id| contents.get(id)) else {
                return failed(
                    item,
                    "target-missing",
                    format!("{key}: the app or flow to update no longer exists; import again and pick another target"),
                );
            };
            if answer.and_then(|a| a.target_revision) != Some(current.revision) {
                return failed(
                    item,
                    "changed-since-review",
                    format!(
                        "{key}: {} changed since the review (revision {} now); review the change, then import again so the update does not overwrite it",
                        current.name, current.revision
                    ),
                );
            }
            let (draft, blobs) = match documents(import, item, package) {
                Ok(found) => found,
                Err(message) => return failed(item, "package-incomplete", message),
            };
            let change = Change::DraftSaved(DraftSaved {
                environment: env,
                resource: current.id,
                draft,
                replaced: current.draft.clone(),
            });
            Step {
                blobs,
                ..applied(item, Action::Update, Some(current.id), Some(change))
            }
        }
        (_, Action::Existing) => match target {
            Some(id) if contents.get(id).is_none_or(|r| r.environment != env) => failed(
                item,
                "target-missing",
                format!("{key}: the resource it was bound to no longer exists in the target; import again and bind another"),
            ),
            Some(id) => applied(item, Action::Existing, Some(id), None),
            // A standard connector is available everywhere: bind the target's registration
            // of it, registering it there first if needed (so references can point at it).
            None => {
                let registered = contents
                    .of(env)
                    .into_iter()
                    .find(|r| r.kind == Kind::Connector && r.connector == item.review.connector)
                    .map(|r| r.id);
                if item.review.kind == Kind::Connector {
                    match registered {
                        Some(id) => applied(item, Action::Existing, Some(id), None),
                        None => {
                            let change = Change::Created(ResourceCreated {
                                environment: env,
                                resource: new_id,
                                kind: Kind::Connector,
                                name: item.review.display_name.clone(),
                                owner: None,
                                connector: item.review.connector.clone(),
                                has_secret: false,
                                gateway: None,
                                definition: None,
                            });
                            applied(item, Action::Existing, Some(new_id), Some(change))
                        }
                    }
                } else {
                    failed(
                        item,
                        "binding-missing",
                        format!("{key}: no binding was answered; import again and answer it"),
                    )
                }
            }
        },
        (kind, action) => failed(
            item,
            "action-unsupported",
            format!("{key}: a {kind} cannot be imported with {action}"),
        ),
    }
}

/// The documents of an app or flow item, from the package, with references re-pointed to
/// what its dependencies became in the target.
fn documents(
    import: &Import,
    item: &Item,
    package: &Package,
) -> Result<(Definition, Vec<Vec<u8>>), String> {
    let key = &item.review.manifest_key;
    let PackageContents::Legacy(legacy) = &package.contents else {
        return Err("the stored package is not a legacy export package".into());
    };
    let target_of = |dep: &str| match import.item(dep).and_then(|d| d.outcome.as_ref()) {
        Some(Outcome::Applied { target, .. }) => *target,
        _ => None,
    };
    type Refs = Vec<(String, Option<ResourceId>)>;
    let (paths, references): (Vec<(String, &String)>, Refs) = match item.review.kind {
        Kind::App => {
            let app = legacy
                .apps
                .iter()
                .find(|a| a.resource == *key)
                .ok_or_else(|| format!("{key}: the package has no files for this app"))?;
            let folder = app
                .definition
                .rsplit_once('/')
                .map_or(String::new(), |(dir, _)| format!("{dir}/"));
            let paths = package
                .files
                .keys()
                .filter_map(|path| Some((path.strip_prefix(&folder)?.to_owned(), path)))
                .collect();
            let refs = app
                .apis
                .iter()
                .chain(&app.flows)
                .map(|dep| (dep.clone(), target_of(dep)))
                .collect();
            (paths, refs)
        }
        _ => {
            let flow = flow(legacy, key)?;
            let refs = flow
                .connections
                .iter()
                .map(|c| {
                    let target = c.connection.as_deref().and_then(target_of);
                    (c.reference.clone(), target)
                })
                .collect();
            (vec![("definition.json".to_owned(), &flow.definition)], refs)
        }
    };
    let mut definition = Definition::default();
    let mut blobs = Vec::new();
    for (name, path) in paths {
        let bytes = package
            .files
            .get(path)
            .ok_or_else(|| format!("{key}: the package lacks {path}"))?;
        definition.files.insert(name, Digest::of(bytes));
        blobs.push(bytes.clone());
    }
    if definition.files.is_empty() {
        return Err(format!("{key}: the package has no documents for it"));
    }
    definition.references = references
        .into_iter()
        .filter_map(|(name, target)| Some((name, target?)))
        .collect();
    Ok((definition, blobs))
}

fn flow<'a>(legacy: &'a Legacy, key: &str) -> Result<&'a crate::package::Flow, String> {
    legacy
        .flows
        .iter()
        .find(|f| f.resource == key)
        .ok_or_else(|| format!("{key}: the package has no files for this flow"))
}

/// The compensation for the last applied change not yet undone.
fn undo_next(import: &Import, contents: &Contents) -> Option<Step> {
    import.items.iter().rev().find_map(|item| {
        let Some(Outcome::Applied {
            change: Some(change),
            ..
        }) = &item.outcome
        else {
            return None;
        };
        let current = contents.get(change.resource());
        let undo = match change {
            // A connector registration another resource has come to use stays.
            Change::Created(c) if contents.is_referenced(c.resource) => None,
            Change::Created(c) => Some(Change::Removed(ResourceRemoved {
                environment: c.environment,
                resource: c.resource,
            })),
            // A draft someone saved since is theirs: never overwritten by an undo.
            Change::DraftSaved(c)
                if current.is_some_and(|r| r.draft.as_ref() != Some(&c.draft)) =>
            {
                None
            }
            Change::DraftSaved(c) => Some(Change::DraftRestored(DraftRestored {
                environment: c.environment,
                resource: c.resource,
                draft: c.replaced.clone(),
            })),
            Change::Removed(_) | Change::DraftRestored(_) => return None,
        };
        // Undoing what is already gone is a no-op record, so the rollback always completes.
        let change = undo.filter(|_| current.is_some());
        Some(Step {
            event: StepReverted {
                manifest_key: item.review.manifest_key.clone(),
                change,
            }
            .into(),
            blobs: Vec::new(),
        })
    })
}

fn wrong_phase(import: &Import, what: &'static str, when: &'static str) -> Rejection {
    Rejection::WrongPhase {
        phase: phase_name(&import.phase),
        what,
        when,
    }
}

/// The phase as a word for people and `--json`.
pub fn phase_name(phase: &Phase) -> &'static str {
    match phase {
        Phase::New => "new",
        Phase::Review => "in review",
        Phase::Running => "running",
        Phase::RollingBack => "rolling back",
        Phase::Completed => "completed",
        Phase::Failed { .. } => "failed",
    }
}
