//! Every environment's contents as a projection of the log: authored changes from the
//! environments' streams and the changes import steps commit on their migrations' streams.

use std::collections::{BTreeMap, BTreeSet};

use ferry_schemas::environment::{Change, Definition};
use ferry_schemas::event::Event;
use ferry_schemas::resource::Kind;
use ferry_schemas::{EnvironmentId, PrincipalId, ResourceId};

use crate::projections::{self, prefix};

/// A resource of an environment.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Resource {
    /// Its id.
    pub id: ResourceId,
    /// Where it lives.
    pub environment: EnvironmentId,
    /// What it is.
    pub kind: Kind,
    /// Its display name.
    pub name: String,
    /// Who owns it.
    pub owner: Option<PrincipalId>,
    /// Connector technical name (connectors, custom connectors, connections).
    pub connector: Option<String>,
    /// Connections: whether credentials are stored.
    pub has_secret: bool,
    /// Connections: the gateway they use.
    pub gateway: Option<ResourceId>,
    /// Apps and flows: the published version number, from 1.
    pub version: u32,
    /// Apps and flows: the published documents.
    pub published: Option<Definition>,
    /// Apps and flows: the draft, if any.
    pub draft: Option<Definition>,
    /// Counts every change to the resource; an update target whose revision moved since the
    /// review has drifted.
    pub revision: u64,
}

/// All environments' contents, and which package items earlier imports turned into which
/// resources (the identity map).
#[derive(Clone, Debug, Default)]
pub struct Contents {
    resources: BTreeMap<ResourceId, Resource>,
    /// Each environment's resources: lookups stay proportional to one environment, not to the
    /// whole platform (thousands of tenants).
    by_environment: BTreeMap<EnvironmentId, BTreeSet<ResourceId>>,
    /// Per environment and package item, every resource imports made of it, oldest first:
    /// the newest one that still exists is the suggestion (an undone import falls back to the
    /// earlier one).
    identity: BTreeMap<(EnvironmentId, String), Vec<ResourceId>>,
    /// Environments whose contents changed since the last save: each is saved as one row.
    changed: BTreeSet<EnvironmentId>,
}

/// Equal when the contents are: what is still to be saved is not part of them.
impl PartialEq for Contents {
    fn eq(&self, other: &Contents) -> bool {
        self.resources == other.resources
            && self.by_environment == other.by_environment
            && self.identity == other.identity
    }
}

impl Eq for Contents {}

/// One environment's contents as saved: its resources and its identity map.
#[derive(serde::Serialize, serde::Deserialize)]
struct Row {
    resources: Vec<Resource>,
    identity: Vec<(String, Vec<ResourceId>)>,
}

/// The environment an event changes the contents of, if any: what [`Contents::apply`] folds.
pub fn changes(event: &Event) -> Option<EnvironmentId> {
    match event {
        Event::ResourceCreated(e) => Some(e.environment),
        Event::DraftSaved(e) => Some(e.environment),
        Event::DraftPublished(e) => Some(e.environment),
        Event::StepApplied(e) => e.change.as_ref().map(Change::environment),
        Event::StepReverted(e) => e.change.as_ref().map(Change::environment),
        _ => None,
    }
}

impl Contents {
    /// Folds one event in; events that do not change an environment are ignored.
    pub fn apply(&mut self, event: &Event) {
        if let Some(environment) = changes(event) {
            self.changed.insert(environment);
        }
        match event {
            Event::ResourceCreated(e) => self.change(&Change::Created(e.clone())),
            Event::DraftSaved(e) => self.change(&Change::DraftSaved(e.clone())),
            Event::DraftPublished(e) => {
                if let Some(r) = self.resources.get_mut(&e.resource) {
                    // Saved with the resource's own environment, whatever the event names.
                    self.changed.insert(r.environment);
                    r.version = e.version;
                    r.published = Some(e.definition.clone());
                    r.draft = None;
                    r.revision += 1;
                }
            }
            Event::StepApplied(e) => {
                if let Some(change) = &e.change {
                    self.change(change);
                    if matches!(change, Change::Created(_) | Change::DraftSaved(_)) {
                        let known = self
                            .identity
                            .entry((change.environment(), e.manifest_key.clone()))
                            .or_default();
                        known.retain(|id| *id != change.resource());
                        known.push(change.resource());
                    }
                }
            }
            Event::StepReverted(e) => {
                if let Some(change) = &e.change {
                    self.change(change);
                }
            }
            _ => {}
        }
    }

    fn change(&mut self, change: &Change) {
        // The row saved is the resource's own environment's, whatever the change names.
        if let Some(r) = self.resources.get(&change.resource()) {
            self.changed.insert(r.environment);
        }
        match change {
            Change::Created(c) => {
                self.by_environment
                    .entry(c.environment)
                    .or_default()
                    .insert(c.resource);
                self.resources.insert(
                    c.resource,
                    Resource {
                        id: c.resource,
                        environment: c.environment,
                        kind: c.kind,
                        name: c.name.clone(),
                        owner: c.owner,
                        connector: c.connector.clone(),
                        has_secret: c.has_secret,
                        gateway: c.gateway,
                        version: 1,
                        published: c.definition.clone(),
                        draft: None,
                        revision: 1,
                    },
                );
            }
            Change::DraftSaved(c) => {
                if let Some(r) = self.resources.get_mut(&c.resource) {
                    r.draft = Some(c.draft.clone());
                    r.revision += 1;
                }
            }
            Change::Removed(c) => {
                if let Some(ids) = self.by_environment.get_mut(&c.environment) {
                    ids.remove(&c.resource);
                }
                self.resources.remove(&c.resource);
            }
            Change::DraftRestored(c) => {
                if let Some(r) = self.resources.get_mut(&c.resource) {
                    r.draft = c.draft.clone();
                    r.revision += 1;
                }
            }
        }
    }

    /// Puts the environments changed since the last save into `save`, one row each.
    pub(crate) fn save(
        &mut self,
        save: &mut projections::Save<'_>,
    ) -> Result<(), projections::Error> {
        for environment in std::mem::take(&mut self.changed) {
            let key = projections::key(prefix::CONTENTS, &environment)?;
            let row = Row {
                resources: self.in_environment(environment).cloned().collect(),
                identity: self
                    .identity
                    .range((environment, String::new())..)
                    .take_while(|((e, _), _)| *e == environment)
                    .map(|((_, key), ids)| (key.clone(), ids.clone()))
                    .collect(),
            };
            if row.resources.is_empty() && row.identity.is_empty() {
                save.delete(key);
            } else {
                save.put(key, projections::encode(&row)?)?;
            }
        }
        Ok(())
    }

    /// The contents as saved in `tree`.
    pub(crate) fn load(tree: &sled::Tree) -> Result<Contents, projections::Error> {
        let mut contents = Contents::default();
        for entry in tree.scan_prefix([prefix::CONTENTS]) {
            let (key, value) = entry?;
            let environment: EnvironmentId = projections::decode(&key[1..])?;
            let row: Row = projections::decode(&value)?;
            let ids = contents.by_environment.entry(environment).or_default();
            for resource in row.resources {
                ids.insert(resource.id);
                contents.resources.insert(resource.id, resource);
            }
            for (key, known) in row.identity {
                contents.identity.insert((environment, key), known);
            }
        }
        Ok(contents)
    }

    /// The resource with this id.
    pub fn get(&self, id: ResourceId) -> Option<&Resource> {
        self.resources.get(&id)
    }

    /// An environment's resources, by kind then name.
    pub fn of(&self, environment: EnvironmentId) -> Vec<&Resource> {
        let mut found: Vec<_> = self.in_environment(environment).collect();
        found.sort_by(|a, b| (a.kind, &a.name, a.id).cmp(&(b.kind, &b.name, b.id)));
        found
    }

    /// Resolves `reference` — a resource id, or a display name unique among the environment's
    /// resources of `kind` — in `environment`.
    pub fn find(
        &self,
        environment: EnvironmentId,
        kind: Option<Kind>,
        reference: &str,
    ) -> Result<&Resource, Lookup> {
        let fits = |r: &&Resource| r.environment == environment && kind.is_none_or(|k| r.kind == k);
        if let Ok(id) = reference.parse::<ResourceId>() {
            return self.resources.get(&id).filter(fits).ok_or(Lookup::NotFound);
        }
        let named: Vec<_> = self
            .in_environment(environment)
            .filter(fits)
            .filter(|r| r.name == reference)
            .collect();
        match named.as_slice() {
            [one] => Ok(one),
            [] => Err(Lookup::NotFound),
            many => Err(Lookup::Ambiguous(many.iter().map(|r| r.id).collect())),
        }
    }

    /// The resource an earlier import into `environment` made of the package item `key`.
    pub fn identity(&self, environment: EnvironmentId, key: &str) -> Option<ResourceId> {
        self.identity
            .get(&(environment, key.to_owned()))?
            .iter()
            .rev()
            .find(|id| self.resources.contains_key(id))
            .copied()
    }

    fn in_environment(&self, environment: EnvironmentId) -> impl Iterator<Item = &Resource> {
        self.by_environment
            .get(&environment)
            .into_iter()
            .flatten()
            .filter_map(|id| self.resources.get(id))
    }

    /// Whether any other resource of its environment refers to `id` (documents, gateways).
    pub fn is_referenced(&self, id: ResourceId) -> bool {
        let Some(environment) = self.resources.get(&id).map(|r| r.environment) else {
            return false;
        };
        self.in_environment(environment).any(|r| {
            r.id != id
                && (r.gateway == Some(id)
                    || [&r.published, &r.draft]
                        .into_iter()
                        .flatten()
                        .any(|d| d.references.values().any(|target| *target == id)))
        })
    }
}

/// Why a reference did not resolve to one resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// Nothing of that id or name.
    NotFound,
    /// Several resources have that name; these are their ids.
    Ambiguous(Vec<ResourceId>),
}
