//! What an environment holds — apps, flows, connectors, custom connectors, connections and
//! gateways — and the events that change it.
//!
//! A resource's documents (an app's json and `.msapp`, a flow's `definition.json`) are kept as
//! opaque bytes in the content-addressed blob store; events carry their [`Digest`]s. What a
//! document refers to (the connections a flow uses, the flows an app calls) is recorded beside
//! it in [`Definition::references`], keyed by the name the document itself uses, so importing
//! re-points references without rewriting a byte of the documents.
//!
//! Credentials of connections never appear here: they live in the data directory's secret
//! store, erasable and never exported.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::resource::Kind;
use crate::{Digest, EnvironmentId, PrincipalId, ResourceId};

/// One version of an app's or a flow's documents.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Definition {
    /// Document file name (relative to the resource's package folder) → content address.
    pub files: BTreeMap<String, Digest>,
    /// Name a document uses for another resource (an app's api or flow key, a flow's
    /// connection reference) → the resource it means in this environment.
    pub references: BTreeMap<String, ResourceId>,
}

/// A resource came into being in an environment, authored there or imported.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ResourceCreated {
    /// Where it lives.
    pub environment: EnvironmentId,
    /// Its id.
    pub resource: ResourceId,
    /// What it is.
    pub kind: Kind,
    /// Its display name (a connection's is its account).
    pub name: String,
    /// Who owns it, when a user does.
    pub owner: Option<PrincipalId>,
    /// Connectors, custom connectors: their technical name (`shared_office365`); connections:
    /// the technical name of their connector.
    pub connector: Option<String>,
    /// Connections: whether credentials are stored for it (never the credentials).
    pub has_secret: bool,
    /// Connections: the gateway they reach on-premises data through.
    pub gateway: Option<ResourceId>,
    /// Apps and flows: the published version 1.
    pub definition: Option<Definition>,
}

/// A draft of an app or flow was saved; the published version is untouched.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DraftSaved {
    /// Where the resource lives.
    pub environment: EnvironmentId,
    /// The app or flow.
    pub resource: ResourceId,
    /// The draft's documents.
    pub draft: Definition,
    /// The draft it replaced, if there was one (so the change can be undone exactly).
    pub replaced: Option<Definition>,
}

/// A resource was removed: an undo of its creation by an atomic import that failed, or (as
/// an event of its own) a connection or gateway its maker deleted. Its history stays on the
/// log; only the environment's contents lose it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ResourceRemoved {
    /// Where it lived.
    pub environment: EnvironmentId,
    /// The resource.
    pub resource: ResourceId,
}

/// A draft was put back to what it was before (none, or the draft it had replaced): an undo
/// of a draft saved by an atomic import that failed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DraftRestored {
    /// Where the resource lives.
    pub environment: EnvironmentId,
    /// The app or flow.
    pub resource: ResourceId,
    /// The draft it has again.
    pub draft: Option<Definition>,
}

/// A draft became the live version of an app or flow.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DraftPublished {
    /// Where the resource lives.
    pub environment: EnvironmentId,
    /// The app or flow.
    pub resource: ResourceId,
    /// Its new published version.
    pub version: u32,
    /// The documents now published.
    pub definition: Definition,
}

/// A change to an environment's contents, as one value: what an import step records together
/// with its outcome, so the change and its record commit in one append.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "change", rename_all = "kebab-case")]
pub enum Change {
    /// See [`ResourceCreated`].
    Created(ResourceCreated),
    /// See [`DraftSaved`].
    DraftSaved(DraftSaved),
    /// See [`ResourceRemoved`].
    Removed(ResourceRemoved),
    /// See [`DraftRestored`].
    DraftRestored(DraftRestored),
}

impl Change {
    /// The environment it changes.
    pub fn environment(&self) -> EnvironmentId {
        match self {
            Change::Created(c) => c.environment,
            Change::DraftSaved(c) => c.environment,
            Change::Removed(c) => c.environment,
            Change::DraftRestored(c) => c.environment,
        }
    }

    /// The resource it changes.
    pub fn resource(&self) -> ResourceId {
        match self {
            Change::Created(c) => c.resource,
            Change::DraftSaved(c) => c.resource,
            Change::Removed(c) => c.resource,
            Change::DraftRestored(c) => c.resource,
        }
    }
}
