//! Authoring an environment's contents: `ferry app create|edit`, `ferry flow|connector|
//! connection|gateway create`.

use std::path::{Path, PathBuf};

use ferry_engine::authz;
use ferry_engine::environment::author::{self, Rejection};
use ferry_engine::environment::{documents, Resource};
use ferry_engine::world::World;
use ferry_schemas::environment::{Definition, ResourceCreated};
use ferry_schemas::event::Event;
use ferry_schemas::resource::Kind;
use ferry_schemas::{EnvironmentId, PrincipalId, ResourceId};
use serde_json::json;

use super::{find, refused};
use crate::cli::directory::{fail, print_json, Qualified};
use crate::cli::exit;
use crate::cli::session::{actor, engine_error, ActAs, Session};

/// `ferry app …`.
#[derive(Debug, clap::Subcommand)]
pub enum AppCommand {
    /// Create an app from its canvas document, calling flows and using connectors.
    Create {
        /// `<tenant>/<environment>`.
        environment: Qualified,
        /// The app's display name.
        name: String,
        #[command(flatten)]
        uses: AppUses,
        #[command(flatten)]
        act_as: ActAs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Save a new draft of an app (the published version is untouched until `ferry publish`).
    Edit {
        /// `<tenant>/<environment>`.
        environment: Qualified,
        /// The app, by id or unique name.
        app: String,
        #[command(flatten)]
        uses: AppUses,
        #[command(flatten)]
        act_as: ActAs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// What an app is made of.
#[derive(Debug, clap::Args)]
pub struct AppUses {
    /// The canvas document (`.msapp`); without it Ferry writes a blank one.
    #[arg(long, value_name = "FILE")]
    document: Option<PathBuf>,
    /// A flow the app calls (id or unique name); repeatable.
    #[arg(long = "flow", value_name = "FLOW")]
    flows: Vec<String>,
    /// A connector the app uses (technical name, e.g. shared_office365, or id); repeatable.
    #[arg(long = "connector", value_name = "CONNECTOR")]
    connectors: Vec<String>,
}

/// `ferry flow create`.
#[derive(Debug, clap::Args)]
pub struct FlowArgs {
    /// `<tenant>/<environment>`.
    environment: Qualified,
    /// The flow's display name.
    name: String,
    /// The Logic Apps workflow (JSON), or a whole exported `definition.json` (kept as is).
    #[arg(long, value_name = "FILE")]
    definition: PathBuf,
    /// Bind a connection reference of the definition: `<reference>=<connection id or account>`,
    /// e.g. `shared_office365=ops@vendor.example`; repeatable.
    #[arg(long = "connection", value_name = "REF=CONNECTION")]
    connections: Vec<String>,
    #[command(flatten)]
    act_as: ActAs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// `ferry connector create`.
#[derive(Debug, clap::Args)]
pub struct ConnectorArgs {
    /// `<tenant>/<environment>`.
    environment: Qualified,
    /// Its technical name, e.g. `shared_office365` (custom: `shared_<x>-5f…`, or any name).
    name: String,
    /// Its display name (default: the technical name).
    #[arg(long)]
    display_name: Option<String>,
    /// A custom connector (never exported; bound to an existing one on import).
    #[arg(long)]
    custom: bool,
    #[command(flatten)]
    act_as: ActAs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// `ferry connection create`.
#[derive(Debug, clap::Args)]
pub struct ConnectionArgs {
    /// `<tenant>/<environment>`.
    environment: Qualified,
    /// The connector's technical name, e.g. `shared_office365`.
    #[arg(long)]
    connector: String,
    /// The account it signs in with; its display name, e.g. `ops@vendor.example`.
    #[arg(long)]
    account: String,
    /// A file holding the credentials: stored in the data directory, never on the log, never
    /// exported, never printed.
    #[arg(long, value_name = "FILE")]
    secret_file: Option<PathBuf>,
    /// The on-premises data gateway it goes through (id or name).
    #[arg(long)]
    gateway: Option<String>,
    #[command(flatten)]
    act_as: ActAs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// `ferry gateway create`.
#[derive(Debug, clap::Args)]
pub struct GatewayArgs {
    /// `<tenant>/<environment>`.
    environment: Qualified,
    /// Its name.
    name: String,
    #[command(flatten)]
    act_as: ActAs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

fn read_file(path: &Path, what: &str) -> Result<Vec<u8>, u8> {
    std::fs::read(path).map_err(|e| {
        fail(
            &format!("cannot read the {what} {}: {e}", path.display()),
            exit::INVALID_INPUT,
        )
    })
}

/// Authors `decide`'s event in `environment` for `principal`, after the permission check.
fn author_event(
    session: &Session,
    environment: EnvironmentId,
    principal: Option<PrincipalId>,
    decide: impl FnOnce(&World) -> Result<Event, Rejection>,
) -> Result<Event, u8> {
    session.check_environment(principal, environment, authz::Action::Author)?;
    session
        .executor
        .author(environment, actor(principal), decide)
        .map_err(engine_error)?
        .map_err(|rejection| refused(&rejection))
}

fn created(
    session: &Session,
    environment: EnvironmentId,
    principal: Option<PrincipalId>,
    event: ResourceCreated,
) -> Result<Event, u8> {
    author_event(session, environment, principal, |w| {
        author::create(&w.directory, &w.contents, event)
    })
}

fn report(json_out: bool, kind: Kind, name: &str, id: ResourceId, environment: &Qualified) {
    if json_out {
        print_json(
            &json!({"id": id, "kind": kind, "name": name, "environment": environment.to_string()}),
        );
    } else {
        println!("created {kind} {name:?} in {environment} ({id})");
    }
}

/// `ferry app create|edit`.
pub fn app(data_dir: &Path, command: AppCommand) -> Result<u8, u8> {
    let (environment, name, uses, act_as, json_out, existing) = match command {
        AppCommand::Create {
            environment,
            name,
            uses,
            act_as,
            json,
        } => (environment, name, uses, act_as, json, None),
        AppCommand::Edit {
            environment,
            app,
            uses,
            act_as,
            json,
        } => (environment, String::new(), uses, act_as, json, Some(app)),
    };
    let (session, env, principal) = open_for_authoring(data_dir, &environment, &act_as)?;
    let document = uses
        .document
        .as_deref()
        .map(|path| read_file(path, "canvas document"))
        .transpose()?;
    let existing = existing
        .map(|reference| {
            session.read(|w| find(&w.contents, env, &[Kind::App], &reference).cloned())
        })
        .transpose()?
        .transpose()
        .map_err(|message| fail(&message, exit::INVALID_INPUT))?;
    let id = existing.as_ref().map_or_else(ResourceId::new, |r| r.id);
    let name = existing.as_ref().map_or(name, |r| r.name.clone());
    let uses_found = resolve_uses(&session, env, &uses)?;
    let logic_flows = if uses.flows.is_empty() {
        None
    } else {
        Some(logic_flows(
            &session,
            env,
            &environment,
            principal,
            json_out,
        )?)
    };
    let msapp = match document {
        Some(bytes) => bytes,
        None => documents::blank_msapp(&name).map_err(|e| fail(&e, exit::FAILURE))?,
    };
    let refs: Vec<&Resource> = uses_found.iter().collect();
    let docs = documents::app(id, &name, msapp, &refs, logic_flows.as_ref());
    store_documents(&session, &docs.files)?;
    let definition = docs.definition;
    match existing {
        None => {
            let event = ResourceCreated {
                environment: env,
                resource: id,
                kind: Kind::App,
                name: name.clone(),
                owner: principal,
                connector: None,
                has_secret: false,
                gateway: None,
                definition: Some(definition),
            };
            created(&session, env, principal, event)?;
            report(json_out, Kind::App, &name, id, &environment);
        }
        Some(app) => {
            draft(&session, env, principal, app.id, definition)?;
            if json_out {
                print_json(&json!({"id": app.id, "draft": true}));
            } else {
                println!(
                    "saved a draft of app {:?} ({}); publish it with `ferry publish {environment} --app {}`",
                    app.name, app.id, app.id
                );
            }
        }
    }
    Ok(exit::OK)
}

/// Opens the data directory for authoring in `environment` as `act_as`, checking the
/// permission before anything is stored.
fn open_for_authoring(
    data_dir: &Path,
    environment: &Qualified,
    act_as: &ActAs,
) -> Result<(Session, EnvironmentId, Option<PrincipalId>), u8> {
    let session = Session::open(data_dir)?;
    let env = session.environment(environment)?;
    let principal = session.principal(act_as)?;
    session.check_environment(principal, env, authz::Action::Author)?;
    Ok((session, env, principal))
}

/// The flows and connectors an app uses, resolved in `env`.
fn resolve_uses(
    session: &Session,
    env: EnvironmentId,
    uses: &AppUses,
) -> Result<Vec<Resource>, u8> {
    let connector_kinds = [Kind::Connector, Kind::CustomConnector];
    session
        .read(|w| {
            let flows = uses.flows.iter().map(|f| (f, &[Kind::Flow][..]));
            let connectors = uses.connectors.iter().map(|c| (c, &connector_kinds[..]));
            flows
                .chain(connectors)
                .map(|(reference, kinds)| find(&w.contents, env, kinds, reference).cloned())
                .collect::<Result<Vec<_>, _>>()
        })?
        .map_err(|message| fail(&message, exit::INVALID_INPUT))
}

/// The environment's registration of the connector apps call flows through, made if missing.
fn logic_flows(
    session: &Session,
    env: EnvironmentId,
    environment: &Qualified,
    principal: Option<PrincipalId>,
    quiet: bool,
) -> Result<Resource, u8> {
    let name = documents::LOGIC_FLOWS;
    let registered = |session: &Session| {
        session.read(|w| {
            w.contents
                .of(env)
                .into_iter()
                .find(|r| r.kind == Kind::Connector && r.connector.as_deref() == Some(name))
                .cloned()
        })
    };
    if let Some(found) = registered(session)? {
        return Ok(found);
    }
    let id = ResourceId::new();
    let event = ResourceCreated {
        environment: env,
        resource: id,
        kind: Kind::Connector,
        name: "Logic flows".into(),
        owner: principal,
        connector: Some(name.into()),
        has_secret: false,
        gateway: None,
        definition: None,
    };
    created(session, env, principal, event)?;
    if !quiet {
        println!("registered connector {name} in {environment} ({id}): apps call flows through it");
    }
    registered(session)?.ok_or_else(|| fail("the registration did not land", exit::FAILURE))
}

fn draft(
    session: &Session,
    env: EnvironmentId,
    principal: Option<PrincipalId>,
    resource: ResourceId,
    definition: Definition,
) -> Result<Event, u8> {
    author_event(session, env, principal, |w| {
        author::save_draft(&w.contents, resource, definition)
    })
}

fn store_documents(session: &Session, files: &[(String, Vec<u8>)]) -> Result<(), u8> {
    for (_, bytes) in files {
        session
            .dir
            .blobs()
            .put(bytes)
            .map_err(|e| fail(&e.to_string(), exit::FAILURE))?;
    }
    Ok(())
}

/// `ferry flow create`.
pub fn flow(data_dir: &Path, args: FlowArgs) -> Result<u8, u8> {
    let (session, env, principal) = open_for_authoring(data_dir, &args.environment, &args.act_as)?;
    let workflow = read_file(&args.definition, "flow definition")?;
    let bindings = session.read(|w| {
        args.connections
            .iter()
            .map(|binding| {
                let (reference, connection) = binding.split_once('=').ok_or_else(|| {
                    format!("--connection {binding:?} is not <reference>=<connection>")
                })?;
                let found = find(&w.contents, env, &[Kind::Connection], connection)?;
                Ok((reference.trim().to_owned(), found.clone()))
            })
            .collect::<Result<Vec<_>, String>>()
    })?;
    let bindings = bindings.map_err(|message| fail(&message, exit::INVALID_INPUT))?;
    let id = ResourceId::new();
    let refs: Vec<(String, &Resource)> = bindings.iter().map(|(r, c)| (r.clone(), c)).collect();
    let docs = documents::flow(id, &args.name, &workflow, &refs)
        .map_err(|message| fail(&message, exit::INVALID_INPUT))?;
    store_documents(&session, &docs.files)?;
    let event = ResourceCreated {
        environment: env,
        resource: id,
        kind: Kind::Flow,
        name: args.name.clone(),
        owner: principal,
        connector: None,
        has_secret: false,
        gateway: None,
        definition: Some(docs.definition),
    };
    created(&session, env, principal, event)?;
    report(args.json, Kind::Flow, &args.name, id, &args.environment);
    Ok(exit::OK)
}

/// `ferry connector create`.
pub fn connector(data_dir: &Path, args: ConnectorArgs) -> Result<u8, u8> {
    let (session, env, principal) = open_for_authoring(data_dir, &args.environment, &args.act_as)?;
    let id = ResourceId::new();
    let kind = if args.custom {
        Kind::CustomConnector
    } else {
        Kind::Connector
    };
    let name = args.display_name.unwrap_or_else(|| args.name.clone());
    let event = ResourceCreated {
        environment: env,
        resource: id,
        kind,
        name: name.clone(),
        owner: principal,
        connector: Some(args.name),
        has_secret: false,
        gateway: None,
        definition: None,
    };
    created(&session, env, principal, event)?;
    report(args.json, kind, &name, id, &args.environment);
    Ok(exit::OK)
}

/// `ferry connection create`.
pub fn connection(data_dir: &Path, args: ConnectionArgs) -> Result<u8, u8> {
    let (session, env, principal) = open_for_authoring(data_dir, &args.environment, &args.act_as)?;
    let secret = args
        .secret_file
        .as_deref()
        .map(|path| read_file(path, "secret file"))
        .transpose()?;
    let gateway = args
        .gateway
        .as_deref()
        .map(|g| session.read(|w| find(&w.contents, env, &[Kind::Gateway], g).map(|r| r.id)))
        .transpose()?
        .transpose()
        .map_err(|message| fail(&message, exit::INVALID_INPUT))?;
    let id = ResourceId::new();
    let secrets = session.dir.secrets();
    if let Some(secret) = &secret {
        // Stored first: a connection is never recorded with credentials that are not there.
        secrets
            .put(&id, secret)
            .map_err(|e| fail(&e.to_string(), exit::FAILURE))?;
    }
    let event = ResourceCreated {
        environment: env,
        resource: id,
        kind: Kind::Connection,
        name: args.account.clone(),
        owner: principal,
        connector: Some(args.connector),
        has_secret: secret.is_some(),
        gateway,
        definition: None,
    };
    if let Err(code) = created(&session, env, principal, event) {
        // Not recorded: the credentials must not outlive the refusal.
        let _ = secrets.remove(&id);
        return Err(code);
    }
    report(
        args.json,
        Kind::Connection,
        &args.account,
        id,
        &args.environment,
    );
    Ok(exit::OK)
}

/// `ferry gateway create`.
pub fn gateway(data_dir: &Path, args: GatewayArgs) -> Result<u8, u8> {
    let (session, env, principal) = open_for_authoring(data_dir, &args.environment, &args.act_as)?;
    let id = ResourceId::new();
    let event = ResourceCreated {
        environment: env,
        resource: id,
        kind: Kind::Gateway,
        name: args.name.clone(),
        owner: principal,
        connector: None,
        has_secret: false,
        gateway: None,
        definition: None,
    };
    created(&session, env, principal, event)?;
    report(args.json, Kind::Gateway, &args.name, id, &args.environment);
    Ok(exit::OK)
}
