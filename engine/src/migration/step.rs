//! The import's steps, pure: what a worker records next for a running import — apply the
//! next item (create, draft, bind), complete, or undo the newest applied change of an atomic
//! import that failed.

use ferry_schemas::environment::{
    Change, Definition, DraftRestored, DraftSaved, ResourceCreated, ResourceRemoved,
};
use ferry_schemas::event::{Event, ImportCompleted, StepApplied, StepFailed, StepReverted};
use ferry_schemas::resource::{Action, Kind};
use ferry_schemas::{Digest, ResourceId};

use super::{Import, Item, Outcome, Phase};
use crate::environment::Contents;
use crate::package::{Contents as PackageContents, Legacy, Package};

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

/// Where an app or flow item's documents are in the package, under the names the target
/// keeps them by (`name → package path`), and the names its documents use for other
/// resources with the package item each means (`name → item key`, None: no item of the
/// package).
pub(crate) struct Sources<'p> {
    pub(crate) documents: Vec<(String, &'p String)>,
    pub(crate) references: Vec<(String, Option<String>)>,
}

/// The [`Sources`] of app or flow item `item` of `package`.
pub(crate) fn sources<'p>(item: &Item, package: &'p Package) -> Result<Sources<'p>, String> {
    let key = &item.review.manifest_key;
    let PackageContents::Legacy(legacy) = &package.contents else {
        return Err("the stored package is not a legacy export package".into());
    };
    Ok(match item.review.kind {
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
            Sources {
                documents: package
                    .files
                    .keys()
                    .filter_map(|path| Some((path.strip_prefix(&folder)?.to_owned(), path)))
                    .collect(),
                references: app
                    .apis
                    .iter()
                    .chain(&app.flows)
                    .map(|dep| (dep.clone(), Some(dep.clone())))
                    .collect(),
            }
        }
        _ => {
            let flow = flow(legacy, key)?;
            Sources {
                documents: vec![("definition.json".to_owned(), &flow.definition)],
                references: flow
                    .connections
                    .iter()
                    .map(|c| (c.reference.clone(), c.connection.clone()))
                    .collect(),
            }
        }
    })
}

/// The documents of an app or flow item, from the package, with references re-pointed to
/// what its dependencies became in the target.
fn documents(
    import: &Import,
    item: &Item,
    package: &Package,
) -> Result<(Definition, Vec<Vec<u8>>), String> {
    let key = &item.review.manifest_key;
    let target_of = |dep: &str| match import.item(dep).and_then(|d| d.outcome.as_ref()) {
        Some(Outcome::Applied { target, .. }) => *target,
        _ => None,
    };
    let sources = sources(item, package)?;
    let mut definition = Definition::default();
    let mut blobs = Vec::new();
    for (name, path) in sources.documents {
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
    definition.references = sources
        .references
        .into_iter()
        .filter_map(|(name, dep)| Some((name, target_of(dep.as_deref()?)?)))
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
