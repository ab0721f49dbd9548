//! Authoring an environment's contents directly (not by import): the pure checks that turn a
//! request into an event or a refusal.

use ferry_schemas::environment::{
    Definition, DraftPublished, DraftSaved, ResourceCreated, ResourceRemoved,
};
use ferry_schemas::event::Event;
use ferry_schemas::resource::Kind;
use ferry_schemas::ResourceId;

use super::Contents;
use crate::directory::State;

/// Why an authoring request is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The environment does not exist.
    #[error("no such environment")]
    NoSuchEnvironment,
    /// The name is empty.
    #[error("a {0} needs a non-empty name")]
    EmptyName(Kind),
    /// A connector of that technical name is registered already.
    #[error("connector {0} is already registered in this environment")]
    ConnectorExists(String),
    /// A connector's technical name is malformed.
    #[error("connector name {0:?} is not a technical name like shared_office365 (letters, digits, _ and -)")]
    BadConnectorName(String),
    /// A connection names a custom connector that is not there.
    #[error("no custom connector {0} in this environment; register it first")]
    NoSuchCustomConnector(String),
    /// A referenced resource is missing or of the wrong kind.
    #[error(
        "{name:?} must be a {kind} of this environment; `ferry resource list` shows what is there"
    )]
    BadReference {
        /// The reference as the document names it.
        name: String,
        /// The kind it must be.
        kind: Kind,
    },
    /// No such resource.
    #[error("no resource {0} in this environment")]
    NoSuchResource(ResourceId),
    /// Drafts and publishing are for apps and flows.
    #[error("only apps and flows have drafts; {0} is a {1}")]
    NoDrafts(String, Kind),
    /// Nothing to publish.
    #[error("{0} has no draft to publish")]
    NoDraft(String),
    /// Only connections and gateways are deleted by hand.
    #[error("{0} is a {1}; only connections and gateways can be deleted")]
    NotDeletable(String, Kind),
    /// Something still uses the resource.
    #[error("{name} is still used by {by}; delete or re-bind that first")]
    InUse {
        /// The resource.
        name: String,
        /// What uses it.
        by: String,
    },
}

/// A resource of `kind` may be referenced under `name` by a document.
fn check_reference(
    contents: &Contents,
    created: &ResourceCreated,
    name: &str,
    id: ResourceId,
) -> Result<(), Rejection> {
    let allowed: &[Kind] = match created.kind {
        Kind::App => &[Kind::Flow, Kind::Connector, Kind::CustomConnector],
        _ => &[Kind::Connection],
    };
    let fits = contents
        .get(id)
        .is_some_and(|r| r.environment == created.environment && allowed.contains(&r.kind));
    if fits {
        Ok(())
    } else {
        Err(Rejection::BadReference {
            name: name.to_owned(),
            kind: allowed[0],
        })
    }
}

fn well_formed(connector: &str) -> bool {
    !connector.is_empty()
        && connector
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Checks a new resource against the directory and the environment.
pub fn create(
    directory: &State,
    contents: &Contents,
    created: ResourceCreated,
) -> Result<Event, Rejection> {
    directory
        .environment_by_id(created.environment)
        .ok_or(Rejection::NoSuchEnvironment)?;
    if created.name.trim().is_empty() {
        return Err(Rejection::EmptyName(created.kind));
    }
    let registered = |kind: Kind, name: &str| {
        contents
            .of(created.environment)
            .into_iter()
            .any(|r| r.kind == kind && r.connector.as_deref() == Some(name))
    };
    match created.kind {
        Kind::Connector | Kind::CustomConnector => {
            let name = created.connector.clone().unwrap_or_default();
            if !well_formed(&name) {
                return Err(Rejection::BadConnectorName(name));
            }
            if registered(Kind::Connector, &name) || registered(Kind::CustomConnector, &name) {
                return Err(Rejection::ConnectorExists(name));
            }
        }
        Kind::Connection => {
            // A standard connector is available everywhere; anything else must be a custom
            // connector registered here.
            let name = created.connector.clone().unwrap_or_default();
            let standard = name.starts_with("shared_") && well_formed(&name);
            if !standard && !registered(Kind::CustomConnector, &name) {
                return Err(Rejection::NoSuchCustomConnector(name));
            }
            if let Some(gateway) = created.gateway {
                let is_gateway = contents.get(gateway).is_some_and(|g| {
                    g.kind == Kind::Gateway && g.environment == created.environment
                });
                if !is_gateway {
                    return Err(Rejection::BadReference {
                        name: gateway.to_string(),
                        kind: Kind::Gateway,
                    });
                }
            }
        }
        Kind::App | Kind::Flow => {
            if let Some(definition) = &created.definition {
                for (name, id) in &definition.references {
                    check_reference(contents, &created, name, *id)?;
                }
            }
        }
        Kind::Gateway => {}
    }
    Ok(created.into())
}

/// Saves a draft of an app or flow (replacing its draft, if any).
pub fn save_draft(
    contents: &Contents,
    resource: ResourceId,
    draft: Definition,
) -> Result<Event, Rejection> {
    let current = contents
        .get(resource)
        .ok_or(Rejection::NoSuchResource(resource))?;
    if !matches!(current.kind, Kind::App | Kind::Flow) {
        return Err(Rejection::NoDrafts(current.name.clone(), current.kind));
    }
    Ok(DraftSaved {
        environment: current.environment,
        resource,
        draft,
        replaced: current.draft.clone(),
    }
    .into())
}

/// Deletes a connection or gateway nothing in the environment uses any more.
pub fn remove(contents: &Contents, resource: ResourceId) -> Result<Event, Rejection> {
    let current = contents
        .get(resource)
        .ok_or(Rejection::NoSuchResource(resource))?;
    if !matches!(current.kind, Kind::Connection | Kind::Gateway) {
        return Err(Rejection::NotDeletable(current.name.clone(), current.kind));
    }
    if let Some(user) = contents.referrer(resource) {
        return Err(Rejection::InUse {
            name: format!("{} {:?}", current.kind, current.name),
            by: format!("{} {:?}", user.kind, user.name),
        });
    }
    Ok(ResourceRemoved {
        environment: current.environment,
        resource,
    }
    .into())
}

/// Publishes the draft of an app or flow.
pub fn publish(contents: &Contents, resource: ResourceId) -> Result<Event, Rejection> {
    let current = contents
        .get(resource)
        .ok_or(Rejection::NoSuchResource(resource))?;
    let draft = current
        .draft
        .clone()
        .ok_or_else(|| Rejection::NoDraft(current.name.clone()))?;
    Ok(DraftPublished {
        environment: current.environment,
        resource,
        version: current.version + 1,
        definition: draft,
    }
    .into())
}
