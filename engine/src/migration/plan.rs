//! What an update would change, before it runs — as `terraform plan` shows it: per app or
//! flow item that updates a target, each document that differs from what the target publishes
//! now, each reference its documents would point elsewhere, and the name it keeps. Pure: the
//! import, the target's contents and the stored package in, the differences out.

use ferry_schemas::resource::{Action, Kind};
use ferry_schemas::{Digest, EnvironmentId, ResourceId};

use super::step::sources;
use super::{Import, Item, Outcome};
use crate::environment::Contents;
use crate::package::Package;

/// What part of the target differs.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Aspect {
    /// A document (file) of the app or flow.
    Document,
    /// A resource its documents use (an app's flow or connector, a flow's connection).
    Reference,
    /// Its display name: an update keeps the target's, so this is said, not changed.
    Name,
}

/// One difference between the target now and the target once updated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    /// What differs.
    pub aspect: Aspect,
    /// The document's file name, the reference's name, or `name`.
    pub name: String,
    /// As it is now (None: the target has none).
    pub now: Option<String>,
    /// As the update leaves it (None: the update has none).
    pub then: Option<String>,
}

/// What updating `target` with `item` would change; an empty list: no change. `import` gives
/// what the item's dependencies are answered with.
pub fn update_plan(
    import: &Import,
    item: &Item,
    target: ResourceId,
    contents: &Contents,
    package: &Package,
) -> Result<Vec<Difference>, String> {
    let current = contents
        .get(target)
        .ok_or_else(|| format!("{target} is no longer in the environment"))?;
    let published = current.published.clone().unwrap_or_default();
    let sources = sources(item, package)?;
    let mut differences = Vec::new();
    let mut documents: Vec<(String, Digest)> = sources
        .documents
        .iter()
        .filter_map(|(name, path)| Some((name.clone(), Digest::of(package.files.get(*path)?))))
        .collect();
    documents.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, digest) in &documents {
        let now = published.files.get(name);
        if now != Some(digest) {
            differences.push(Difference {
                aspect: Aspect::Document,
                name: name.clone(),
                now: now.map(short),
                then: Some(short(digest)),
            });
        }
    }
    for (name, digest) in &published.files {
        if !documents.iter().any(|(n, _)| n == name) {
            differences.push(Difference {
                aspect: Aspect::Document,
                name: name.clone(),
                now: Some(short(digest)),
                then: None,
            });
        }
    }
    let name_of = |id: &ResourceId| describe(contents, *id);
    let mut references = sources.references;
    references.sort();
    // An app names what it uses by package key: say the item's label (`flow/approve`) instead.
    let labels: std::collections::HashMap<&str, String> = import
        .items
        .iter()
        .map(|i| i.review.manifest_key.as_str())
        .zip(super::labels(&import.items))
        .collect();
    let shown = |name: &String| {
        labels
            .get(name.as_str())
            .cloned()
            .unwrap_or_else(|| name.clone())
    };
    for (name, dep) in &references {
        let now = published.references.get(name);
        let then = dep.as_deref().and_then(|key| import.item(key));
        let (then_id, then_text) = match then {
            Some(dep) => meant(dep, import.environment, contents),
            None => (None, None),
        };
        if then_id.is_some() && then_id.as_ref() == now {
            continue;
        }
        if now.is_none() && then_text.is_none() {
            continue;
        }
        differences.push(Difference {
            aspect: Aspect::Reference,
            name: shown(name),
            now: now.map(name_of),
            then: then_text,
        });
    }
    for (name, id) in &published.references {
        if !references.iter().any(|(n, _)| n == name) {
            differences.push(Difference {
                aspect: Aspect::Reference,
                name: shown(name),
                now: Some(name_of(id)),
                then: None,
            });
        }
    }
    if current.name != item.review.display_name {
        differences.push(Difference {
            aspect: Aspect::Name,
            name: "name".into(),
            now: Some(current.name.clone()),
            then: Some(format!(
                "{:?} (kept; the package calls it {:?})",
                current.name, item.review.display_name
            )),
        });
    }
    Ok(differences)
}

/// The target an update of `item` would change, when it is an app or flow updating one: the
/// answer's, else the one the identity map suggests.
pub fn update_target(item: &Item) -> Option<ResourceId> {
    if item.action() != Action::Update || !matches!(item.review.kind, Kind::App | Kind::Flow) {
        return None;
    }
    match &item.answer {
        Some(answer) => answer.target,
        None => item.review.suggested_target,
    }
}

/// What dependency `dep` will be in the target once the import ran: its resource where it is
/// one already (applied, or answered with a target), else a description of what it becomes.
fn meant(
    dep: &Item,
    environment: EnvironmentId,
    contents: &Contents,
) -> (Option<ResourceId>, Option<String>) {
    let described = |id: ResourceId| (Some(id), Some(describe(contents, id)));
    if let Some(Outcome::Applied {
        target: Some(id), ..
    }) = &dep.outcome
    {
        return described(*id);
    }
    if let Some(target) = dep.answer.as_ref().and_then(|a| a.target) {
        return described(target);
    }
    if let Some(target) = update_target(dep) {
        return described(target);
    }
    // A standard or custom connector is the one registered in the target under its name.
    if matches!(dep.review.kind, Kind::Connector | Kind::CustomConnector)
        && dep.action() == Action::Existing
    {
        let name = dep.review.connector.as_deref();
        let registered = contents.in_environment(environment).find(|r| {
            r.kind == dep.review.kind && name.is_some() && r.connector.as_deref() == name
        });
        return match registered {
            Some(r) => described(r.id),
            None => (
                None,
                Some(format!(
                    "connector {:?}, registered by the import",
                    name.unwrap_or(&dep.review.display_name)
                )),
            ),
        };
    }
    if dep.action() == Action::New {
        let name = dep
            .answer
            .as_ref()
            .and_then(|a| a.name.clone())
            .unwrap_or_else(|| dep.review.display_name.clone());
        return (None, Some(format!("a new {} {name:?}", dep.review.kind)));
    }
    (
        None,
        Some(format!(
            "what {:?} is answered with",
            dep.review.display_name
        )),
    )
}

/// `flow "Approve"`: a resource of the target as a review names it (its id when it is gone).
fn describe(contents: &Contents, id: ResourceId) -> String {
    contents
        .get(id)
        .map_or_else(|| id.to_string(), |r| format!("{} {:?}", r.kind, r.name))
}

/// The first 12 hex digits of a digest: enough to tell documents apart on a screen.
fn short(digest: &Digest) -> String {
    digest.to_string().chars().take(12).collect()
}
