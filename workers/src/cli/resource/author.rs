//! Authoring an environment's contents: `ferry app create|edit`, `ferry flow|connector|
//! connection|gateway create`.

use std::path::{Path, PathBuf};

use ferry_engine::app::{AppSpec, Authored, ConnectionSpec};
use ferry_schemas::resource::Kind;

use crate::cli::backend;
use crate::cli::directory::print_json;
use crate::cli::directory::{fail, Qualified};
use crate::cli::session::ActAs;
use crate::cli::{exit, input};

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
    /// The canvas document (`.msapp`); without it a new app gets a blank one and an edited
    /// app keeps its own.
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

fn report(json_out: bool, authored: &Authored) {
    if json_out {
        print_json(authored);
        return;
    }
    match (authored.registered, authored.kind) {
        (Some(id), Kind::Connection) => say!(
            "registered its standard connector in {} ({id}): a flow or an export of it needs it",
            authored.environment
        ),
        (Some(id), _) => say!(
            "registered connector shared_logicflows in {} ({id}): apps call flows through it",
            authored.environment
        ),
        (None, _) => {}
    }
    if authored.draft {
        say!(
            "saved a draft of app {:?} ({}); publish it with `ferry publish {} --app {}`",
            authored.name,
            authored.id,
            authored.environment,
            authored.id
        );
    } else {
        say!(
            "created {} {:?} in {} ({})",
            authored.kind,
            authored.name,
            authored.environment,
            authored.id
        );
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
    let document = uses
        .document
        .as_deref()
        .map(|path| input::read(path, input::CANVAS_DOCUMENT))
        .transpose()?;
    let spec = AppSpec {
        document,
        flows: uses.flows,
        connectors: uses.connectors,
    };
    let backend = backend::open(data_dir, &act_as)?;
    let authored = match existing {
        None => backend.create_app(&environment, name, spec),
        Some(app) => backend.edit_app(&environment, &app, spec),
    }?;
    report(json_out, &authored);
    Ok(exit::OK)
}

/// `ferry flow create`.
pub fn flow(data_dir: &Path, args: FlowArgs) -> Result<u8, u8> {
    let workflow = input::read(&args.definition, input::FLOW_DEFINITION)?;
    let bindings = args
        .connections
        .iter()
        .map(|binding| {
            binding
                .split_once('=')
                .map(|(r, c)| (r.trim().to_owned(), c.trim().to_owned()))
                .ok_or_else(|| {
                    fail(
                        &format!("--connection {binding:?} is not <reference>=<connection>"),
                        exit::INVALID_INPUT,
                    )
                })
        })
        .collect::<Result<Vec<_>, u8>>()?;
    let backend = backend::open(data_dir, &args.act_as)?;
    let authored = backend.create_flow(&args.environment, args.name, &workflow, &bindings)?;
    report(args.json, &authored);
    Ok(exit::OK)
}

/// `ferry connector create`.
pub fn connector(data_dir: &Path, args: ConnectorArgs) -> Result<u8, u8> {
    let backend = backend::open(data_dir, &args.act_as)?;
    let authored =
        backend.create_connector(&args.environment, args.name, args.display_name, args.custom)?;
    report(args.json, &authored);
    Ok(exit::OK)
}

/// `ferry connection create`.
pub fn connection(data_dir: &Path, args: ConnectionArgs) -> Result<u8, u8> {
    let secret = args
        .secret_file
        .as_deref()
        .map(|path| input::read(path, input::SECRET))
        .transpose()?;
    let backend = backend::open(data_dir, &args.act_as)?;
    let spec = ConnectionSpec {
        connector: args.connector,
        account: args.account,
        secret,
        gateway: args.gateway,
    };
    let authored = backend.create_connection(&args.environment, spec)?;
    report(args.json, &authored);
    Ok(exit::OK)
}

/// `ferry gateway create`.
pub fn gateway(data_dir: &Path, args: GatewayArgs) -> Result<u8, u8> {
    let backend = backend::open(data_dir, &args.act_as)?;
    let authored = backend.create_gateway(&args.environment, args.name)?;
    report(args.json, &authored);
    Ok(exit::OK)
}
