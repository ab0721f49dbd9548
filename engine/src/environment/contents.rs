//! Every environment's contents as a projection of the log: authored changes from the
//! environments' streams and the changes import steps commit on their migrations' streams.

use std::collections::BTreeMap;

use ferry_schemas::environment::{Change, Definition};
use ferry_schemas::event::Event;
use ferry_schemas::resource::Kind;
use ferry_schemas::{EnvironmentId, PrincipalId, ResourceId};

use crate::projections::{self, as_is, prefix, Part, Table};

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
/// resources (the identity map): one row per environment, read as it is needed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Contents {
    environments: Table<EnvironmentId, EnvironmentRow>,
    /// The environment each resource is in: lookups by id read one environment, not all.
    homes: Table<ResourceId, EnvironmentId>,
}

/// One environment's contents.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct EnvironmentRow {
    resources: BTreeMap<ResourceId, Resource>,
    /// Per package item, every resource imports made of it, oldest first: the newest one that
    /// still exists is the suggestion (an undone import falls back to the earlier one).
    identity: BTreeMap<String, Vec<ResourceId>>,
}

/// The environment an event changes the contents of, if any: what [`Contents::apply`] folds.
pub fn changes(event: &Event) -> Option<EnvironmentId> {
    match event {
        Event::ResourceCreated(e) => Some(e.environment),
        Event::ResourceRemoved(e) => Some(e.environment),
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
        match event {
            Event::ResourceCreated(e) => self.change(&Change::Created(e.clone())),
            Event::ResourceRemoved(e) => self.change(&Change::Removed(e.clone())),
            Event::DraftSaved(e) => self.change(&Change::DraftSaved(e.clone())),
            Event::DraftPublished(e) => {
                if let Some(r) = self.resource_mut(e.resource) {
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
                            .environments
                            .or_default(change.environment())
                            .identity
                            .entry(e.manifest_key.clone())
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

    /// The resource `id`, to change: in its own environment, whatever an event names.
    fn resource_mut(&mut self, id: ResourceId) -> Option<&mut Resource> {
        let home = *self.homes.read(&id)?;
        self.environments.get_mut(&home)?.resources.get_mut(&id)
    }

    fn change(&mut self, change: &Change) {
        match change {
            Change::Created(c) => {
                // An id already at home elsewhere moves: it is in one environment only.
                let earlier = self.homes.read(&c.resource).copied();
                if let Some(earlier) = earlier.filter(|e| *e != c.environment) {
                    if let Some(row) = self.environments.get_mut(&earlier) {
                        row.resources.remove(&c.resource);
                    }
                }
                self.homes.insert(c.resource, c.environment);
                self.environments
                    .or_default(c.environment)
                    .resources
                    .insert(
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
                if let Some(r) = self.resource_mut(c.resource) {
                    r.draft = Some(c.draft.clone());
                    r.revision += 1;
                }
            }
            Change::Removed(c) => {
                if let Some(home) = self.homes.remove(&c.resource) {
                    if let Some(environment) = self.environments.get_mut(&home) {
                        environment.resources.remove(&c.resource);
                    }
                }
            }
            Change::DraftRestored(c) => {
                if let Some(r) = self.resource_mut(c.resource) {
                    r.draft = c.draft.clone();
                    r.revision += 1;
                }
            }
        }
    }

    /// Puts the environments changed since the last save into `save`, one row each, and
    /// where their new resources are.
    pub(crate) fn save(&self, save: &mut projections::Save<'_>) -> Result<(), projections::Error> {
        self.environments.save(prefix::CONTENTS, save)?;
        self.homes.save(prefix::HOMES, save)
    }

    /// The save [`Contents::save`] went into is complete, in `tree` (see [`Table::saved`]).
    pub(crate) fn saved(&mut self, tree: &sled::Tree) {
        self.environments.saved(tree, prefix::CONTENTS, as_is);
        self.homes.saved(tree, prefix::HOMES, as_is);
    }

    /// The contents saved in `tree`, read as they are needed.
    pub(crate) fn stored(tree: &sled::Tree) -> Contents {
        Contents {
            environments: Table::stored(tree, prefix::CONTENTS, as_is),
            homes: Table::stored(tree, prefix::HOMES, as_is),
        }
    }

    /// Both tables, for what the world does with every table alike.
    pub(crate) fn parts(&mut self) -> [&mut dyn Part; 2] {
        [&mut self.environments, &mut self.homes]
    }

    /// The resource with this id.
    pub fn get(&self, id: ResourceId) -> Option<&Resource> {
        let home = self.homes.get(&id)?;
        self.environments.get(home)?.resources.get(&id)
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
            return self.get(id).filter(fits).ok_or(Lookup::NotFound);
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
        self.environments
            .get(&environment)?
            .identity
            .get(key)?
            .iter()
            .rev()
            .find(|id| self.get(**id).is_some())
            .copied()
    }

    /// The resources of `environment`, in no order.
    pub fn in_environment(&self, environment: EnvironmentId) -> impl Iterator<Item = &Resource> {
        self.environments
            .get(&environment)
            .into_iter()
            .flat_map(|e| e.resources.values())
    }

    /// Whether any other resource of its environment refers to `id` (documents, gateways).
    pub fn is_referenced(&self, id: ResourceId) -> bool {
        self.referrer(id).is_some()
    }

    /// A resource of `id`'s environment that refers to it (its documents, its gateway).
    pub fn referrer(&self, id: ResourceId) -> Option<&Resource> {
        let environment = self.get(id)?.environment;
        self.in_environment(environment).find(|r| {
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
