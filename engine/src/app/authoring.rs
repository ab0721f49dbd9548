//! Authoring an environment's contents: apps (and their drafts), flows, connectors,
//! connections, gateways. Each needs a license and a maker's role on the environment; a flow
//! binds only connections its author may use, by the same rule as an import's answers.

use ferry_schemas::environment::{Definition, ResourceCreated};
use ferry_schemas::event::Event;
use ferry_schemas::resource::Kind;
use ferry_schemas::{EnvironmentId, ResourceId};

use super::directory::environment_named;
use super::imports::find;
use super::views::Authored;
use super::{Caller, Error, Ferry, Qualified, Result};
use crate::authz::{self, Action};
use crate::environment::{author, documents, Resource};
use crate::world::World;

/// What an app is made of.
#[derive(Clone, Debug, Default)]
pub struct AppSpec {
    /// The canvas document (`.msapp`); none: a new app gets a blank one, an edited app keeps
    /// its own.
    pub document: Option<Vec<u8>>,
    /// Flows it calls (ids or unique names).
    pub flows: Vec<String>,
    /// Connectors it uses (technical names or ids).
    pub connectors: Vec<String>,
}

/// A connection to create.
#[derive(Clone, Debug)]
pub struct ConnectionSpec {
    /// The connector's technical name.
    pub connector: String,
    /// The account it signs in with (its display name).
    pub account: String,
    /// Credentials: stored beside the log, never on it, never shown.
    pub secret: Option<Vec<u8>>,
    /// The gateway it goes through (id or name).
    pub gateway: Option<String>,
}

impl Ferry {
    /// `app create`.
    pub fn create_app(
        &self,
        caller: &Caller,
        environment: &Qualified,
        name: String,
        spec: AppSpec,
    ) -> Result<Authored> {
        self.author_app(caller, environment, Err(name), spec)
    }

    /// `app edit`: saves a draft; the published version stays until publish.
    pub fn edit_app(
        &self,
        caller: &Caller,
        environment: &Qualified,
        app: &str,
        spec: AppSpec,
    ) -> Result<Authored> {
        self.author_app(caller, environment, Ok(app), spec)
    }

    /// `existing`: the app to edit, or the new app's name.
    fn author_app(
        &self,
        caller: &Caller,
        environment: &Qualified,
        existing: std::result::Result<&str, String>,
        spec: AppSpec,
    ) -> Result<Authored> {
        let env = self.authoring(caller, environment)?;
        let (existing, uses) = self.world(|w| {
            let existing = match &existing {
                Ok(reference) => Ok(find(w, env, &[Kind::App], reference)?.clone()),
                Err(name) => Err(name.clone()),
            };
            let connector_kinds = [Kind::Connector, Kind::CustomConnector];
            let flows = spec.flows.iter().map(|f| (f, &[Kind::Flow][..]));
            let connectors = spec.connectors.iter().map(|c| (c, &connector_kinds[..]));
            let uses = flows
                .chain(connectors)
                .map(|(reference, kinds)| find(w, env, kinds, reference).cloned())
                .collect::<Result<Vec<Resource>>>()?;
            Ok::<_, Error>((existing, uses))
        })??;
        let (id, name) = match &existing {
            Ok(app) => (app.id, app.name.clone()),
            Err(name) => (ResourceId::new(), name.clone()),
        };
        let registered = if spec.flows.is_empty() {
            None
        } else {
            Some(self.logic_flows(caller, env)?)
        };
        let logic_flows = registered.as_ref().map(|(r, _)| r.clone());
        let msapp = match (spec.document, &existing) {
            (Some(bytes), _) => bytes,
            // An edit that gives no document keeps the app's (its draft's, else the live one).
            (None, Ok(app)) => self.current_document(app)?,
            (None, Err(_)) => documents::blank_msapp(&name).map_err(Error::internal)?,
        };
        let refs: Vec<&Resource> = uses.iter().collect();
        let docs = documents::app(id, &name, msapp, &refs, logic_flows.as_ref());
        self.store(&docs.files)?;
        let registered = registered.and_then(|(r, new)| new.then_some(r.id));
        let is_edit = existing.is_ok();
        match existing {
            Err(_) => {
                self.record_created(
                    caller,
                    env,
                    ResourceCreated {
                        definition: Some(docs.definition),
                        ..new_resource(*caller, env, id, Kind::App, name.clone())
                    },
                )?;
            }
            Ok(app) => self.save_draft(caller, env, app.id, docs.definition)?,
        }
        Ok(Authored {
            id,
            kind: Kind::App,
            name,
            environment: environment.to_string(),
            draft: is_edit,
            registered,
        })
    }

    /// `flow create`: `connections` bind the definition's references, `(reference,
    /// connection id or account)`.
    pub fn create_flow(
        &self,
        caller: &Caller,
        environment: &Qualified,
        name: String,
        definition: &[u8],
        connections: &[(String, String)],
    ) -> Result<Authored> {
        let env = self.authoring(caller, environment)?;
        let bindings = self.world(|w| {
            connections
                .iter()
                .map(|(reference, connection)| {
                    let found = find(w, env, &[Kind::Connection], connection)?;
                    if !authz::may_bind(caller.principal(), found) {
                        return Err(Error::new(
                            super::Kind::Denied,
                            "not-usable",
                            format!(
                                "connection {:?} belongs to another user; ask them to share it, or use your own",
                                found.name
                            ),
                        ));
                    }
                    Ok((reference.clone(), found.clone()))
                })
                .collect::<Result<Vec<_>>>()
        })??;
        let id = ResourceId::new();
        let refs: Vec<(String, &Resource)> = bindings.iter().map(|(r, c)| (r.clone(), c)).collect();
        let docs = documents::flow(id, &name, definition, &refs)
            .map_err(|message| Error::invalid("bad-definition", message))?;
        self.store(&docs.files)?;
        self.record_created(
            caller,
            env,
            ResourceCreated {
                definition: Some(docs.definition),
                ..new_resource(*caller, env, id, Kind::Flow, name.clone())
            },
        )?;
        Ok(authored(id, Kind::Flow, name, environment))
    }

    /// `connector create`: `technical` is its technical name (`shared_office365`).
    pub fn create_connector(
        &self,
        caller: &Caller,
        environment: &Qualified,
        technical: String,
        display_name: Option<String>,
        custom: bool,
    ) -> Result<Authored> {
        let env = self.authoring(caller, environment)?;
        let id = ResourceId::new();
        let kind = if custom {
            Kind::CustomConnector
        } else {
            Kind::Connector
        };
        let name = display_name.unwrap_or_else(|| technical.clone());
        self.record_created(
            caller,
            env,
            ResourceCreated {
                connector: Some(technical),
                ..new_resource(*caller, env, id, kind, name.clone())
            },
        )?;
        Ok(authored(id, kind, name, environment))
    }

    /// `connection create`: its credentials are stored first, and removed again if the
    /// connection is not recorded.
    pub fn create_connection(
        &self,
        caller: &Caller,
        environment: &Qualified,
        spec: ConnectionSpec,
    ) -> Result<Authored> {
        let env = self.authoring(caller, environment)?;
        let gateway = spec
            .gateway
            .as_deref()
            .map(|g| self.world(|w| find(w, env, &[Kind::Gateway], g).map(|r| r.id)))
            .transpose()?
            .transpose()?;
        // A standard connector is there for the asking: registered now, so that what uses
        // the connection (a flow, an export) finds it. A custom one must be registered first.
        let registered = if spec.connector.starts_with("shared_") {
            let technical = spec.connector.clone();
            let (connector, new) = self.standard_connector(caller, env, &technical, &technical)?;
            new.then_some(connector.id)
        } else {
            None
        };
        let id = ResourceId::new();
        let secrets = self.data_dir().secrets();
        if let Some(secret) = &spec.secret {
            secrets.put(&id, secret).map_err(Error::internal)?;
        }
        let recorded = self.record_created(
            caller,
            env,
            ResourceCreated {
                connector: Some(spec.connector),
                has_secret: spec.secret.is_some(),
                gateway,
                ..new_resource(*caller, env, id, Kind::Connection, spec.account.clone())
            },
        );
        if let Err(error) = recorded {
            // Not recorded: the credentials must not outlive the refusal.
            let _ = secrets.remove(&id);
            return Err(error);
        }
        Ok(Authored {
            registered,
            ..authored(id, Kind::Connection, spec.account, environment)
        })
    }

    /// `resource delete`: a connection or gateway nothing uses any more leaves the
    /// environment (its history stays on the log), with a connection's stored credentials.
    /// Environment-maker there, and for a connection another user owns, the operator.
    pub fn delete_resource(
        &self,
        caller: &Caller,
        environment: &Qualified,
        reference: &str,
    ) -> Result<Authored> {
        let env = self.authoring(caller, environment)?;
        let found =
            self.world(|w| find(w, env, &[Kind::Connection, Kind::Gateway], reference).cloned())??;
        if let (Some(me), Some(owner)) = (caller.principal(), found.owner) {
            if me != owner {
                return Err(Error::new(
                    super::Kind::Denied,
                    "not-yours",
                    format!(
                        "{} {:?} belongs to another user; they (or the operator) may delete it",
                        found.kind, found.name
                    ),
                ));
            }
        }
        self.author(caller, env, |w| author::remove(&w.contents, found.id))?;
        if found.has_secret {
            // Gone from the environment, the credentials go too (nothing on the log to erase).
            self.data_dir()
                .secrets()
                .remove(&found.id)
                .map_err(Error::internal)?;
        }
        Ok(authored(found.id, found.kind, found.name, environment))
    }

    /// `gateway create`.
    pub fn create_gateway(
        &self,
        caller: &Caller,
        environment: &Qualified,
        name: String,
    ) -> Result<Authored> {
        let env = self.authoring(caller, environment)?;
        let default = self.directory(|d| d.environment_by_id(env).is_some_and(|e| e.default))?;
        if !default {
            return Err(Error::invalid(
                "gateway-needs-default",
                format!(
                    "{environment} is not its tenant's default environment, and only a default \
                     environment can use an on-premises data gateway: create it in the default one"
                ),
            ));
        }
        let id = ResourceId::new();
        self.record_created(
            caller,
            env,
            new_resource(*caller, env, id, Kind::Gateway, name.clone()),
        )?;
        Ok(authored(id, Kind::Gateway, name, environment))
    }

    /// The environment, once the caller may author in it.
    fn authoring(&self, caller: &Caller, environment: &Qualified) -> Result<EnvironmentId> {
        self.world(|w| {
            let env = environment_named(&w.directory, *caller, environment)?;
            if let Some(principal) = caller.principal() {
                authz::environment(&w.directory, principal, env.id, Action::Author)?;
            }
            Ok(env.id)
        })?
    }

    /// The environment's `shared_logicflows` connector, registered if missing; and whether
    /// this call registered it.
    fn logic_flows(&self, caller: &Caller, env: EnvironmentId) -> Result<(Resource, bool)> {
        self.standard_connector(caller, env, documents::LOGIC_FLOWS, "Logic flows")
    }

    /// The environment's standard connector `technical` (`shared_office365`), registered if
    /// missing (the platform offers every standard connector everywhere); and whether this call
    /// registered it.
    fn standard_connector(
        &self,
        caller: &Caller,
        env: EnvironmentId,
        technical: &str,
        display_name: &str,
    ) -> Result<(Resource, bool)> {
        let registered = |w: &World| {
            w.contents
                .in_environment(env)
                .find(|r| r.kind == Kind::Connector && r.connector.as_deref() == Some(technical))
                .cloned()
        };
        if let Some(found) = self.world(registered)? {
            return Ok((found, false));
        }
        self.record_created(
            caller,
            env,
            ResourceCreated {
                connector: Some(technical.into()),
                ..new_resource(
                    *caller,
                    env,
                    ResourceId::new(),
                    Kind::Connector,
                    display_name.into(),
                )
            },
        )?;
        let found = self
            .world(registered)?
            .ok_or_else(|| Error::internal(format!("the {technical} connector did not land")))?;
        Ok((found, true))
    }

    /// The canvas document of `app`'s draft, else of its live version.
    fn current_document(&self, app: &Resource) -> Result<Vec<u8>> {
        let digest = app
            .draft
            .as_ref()
            .or(app.published.as_ref())
            .and_then(|d| {
                d.files
                    .iter()
                    .find(|(file, _)| file.ends_with(".msapp"))
                    .map(|(_, digest)| *digest)
            })
            .ok_or_else(|| {
                Error::invalid(
                    "no-document",
                    format!(
                        "app {} has no canvas document to keep; give one with --document",
                        app.name
                    ),
                )
            })?;
        self.data_dir()
            .blobs()
            .get(&digest)
            .map_err(Error::internal)
    }

    fn store(&self, files: &[(String, Vec<u8>)]) -> Result<()> {
        for (_, bytes) in files {
            self.data_dir()
                .blobs()
                .put(bytes)
                .map_err(Error::internal)?;
        }
        Ok(())
    }

    fn record_created(
        &self,
        caller: &Caller,
        env: EnvironmentId,
        event: ResourceCreated,
    ) -> Result<Event> {
        self.author(caller, env, |w| {
            author::create(&w.directory, &w.contents, event.clone())
        })
    }

    fn save_draft(
        &self,
        caller: &Caller,
        env: EnvironmentId,
        resource: ResourceId,
        definition: Definition,
    ) -> Result<()> {
        self.author(caller, env, |w| {
            author::save_draft(&w.contents, resource, definition.clone())
        })
        .map(|_| ())
    }

    /// Decides and appends one authored change on the environment's stream.
    pub(super) fn author(
        &self,
        caller: &Caller,
        env: EnvironmentId,
        decide: impl Fn(&World) -> std::result::Result<Event, author::Rejection>,
    ) -> Result<Event> {
        Ok(self.executor()?.author(env, caller.actor(), decide)??)
    }
}

fn authored(id: ResourceId, kind: Kind, name: String, environment: &Qualified) -> Authored {
    Authored {
        id,
        kind,
        name,
        environment: environment.to_string(),
        draft: false,
        registered: None,
    }
}

/// A resource the caller creates in `env`, with nothing but its kind and name.
fn new_resource(
    caller: Caller,
    env: EnvironmentId,
    resource: ResourceId,
    kind: Kind,
    name: String,
) -> ResourceCreated {
    ResourceCreated {
        environment: env,
        resource,
        kind,
        name,
        owner: caller.principal(),
        connector: None,
        has_secret: false,
        gateway: None,
        definition: None,
    }
}
