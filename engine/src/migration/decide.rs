//! The import's decisions before its steps, pure: what to record for a request, an answer and
//! a start. Inputs are the migration's state and the target environment's contents; new ids
//! and the time come from the caller. The steps themselves are in `step`.

use chrono::{DateTime, Utc};
use ferry_schemas::event::{
    AnswerGiven, Event, ImportCancelled, ImportRequested, ImportStarted, PackageValidated,
    ReviewItem,
};
use ferry_schemas::resource::{Action, Kind};
use ferry_schemas::{Digest, EnvironmentId, MigrationId, PrincipalId};

use super::label::labels;
use super::{Import, Item, Phase, Rejection};
use crate::environment::{Contents, Lookup, Resource};

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
    /// Who signed the package (verified when it was read); None: unsigned.
    pub signer: Option<ferry_schemas::event::Signer>,
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
            signer: request.signer,
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

/// Finds an item by manifest key, by its label (see [`labels`]), or by a display name unique
/// in the package.
pub fn find_item<'a>(import: &'a Import, reference: &str) -> Result<&'a Item, Rejection> {
    if let Some(item) = import.item(reference) {
        return Ok(item);
    }
    // Every label has a `/` (`kind/name`): only such a reference can be one.
    if reference.contains('/') {
        if let Some(at) = labels(&import.items).iter().position(|l| l == reference) {
            return Ok(&import.items[at]);
        }
    }
    let named: Vec<usize> = (0..import.items.len())
        .filter(|&i| import.items[i].review.display_name == reference)
        .collect();
    match named.as_slice() {
        [one] => Ok(&import.items[*one]),
        [] => Err(Rejection::NoSuchItem(reference.to_owned())),
        many => {
            let labels = labels(&import.items);
            Err(Rejection::AmbiguousItem {
                name: reference.to_owned(),
                labels: many.iter().map(|&i| labels[i].clone()).collect(),
            })
        }
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

/// Whether `target` may answer `item` as `existing:<target>`: what the review offers as its
/// candidates, by the rules an answer is checked by.
pub fn fits(import: &Import, item: &Item, target: &Resource, contents: &Contents) -> bool {
    target.kind == item.review.kind && check_binding(import, item, target, contents).is_ok()
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
            if !crate::authz::may_bind(import.importer, target) {
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

/// Cancels the import: one in review (a dry run too) ends at once; a running one stops at its
/// next step boundary, keeping what it applied, or undoing it first if it is atomic.
pub fn cancel(
    import: &Import,
    reason: &str,
    promoted_to: Option<MigrationId>,
) -> Result<Event, Rejection> {
    if !matches!(import.phase, Phase::Review | Phase::Running) {
        return Err(wrong_phase(
            import,
            "cancelling",
            "while it is in review or running",
        ));
    }
    Ok(ImportCancelled {
        reason: reason.to_owned(),
        promoted_to,
    }
    .into())
}

fn wrong_phase(import: &Import, what: &'static str, when: &'static str) -> Rejection {
    Rejection::WrongPhase {
        phase: phase_name(&import.phase),
        what,
        when,
    }
}

/// Where `import` is, as a word for people and `--json`: its phase's, and `rolled back` for a
/// completed atomic import whose failed step undid the others.
pub fn state_name(import: &Import) -> &'static str {
    match import.phase {
        Phase::Completed if import.rolled_back => "rolled back",
        ref phase => phase_name(phase),
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
        Phase::Cancelled => "cancelled",
        Phase::Failed { .. } => "failed",
    }
}
