//! Authoring and seeing an environment's contents: `ferry resource list|show`, publishing
//! drafts, and (in `author`) `ferry app|flow|connector|connection|gateway create`.

mod author;

use std::path::Path;

use ferry_engine::app::ResourceDetail;
use ferry_schemas::resource::Kind;
use serde_json::json;

pub use author::{
    app, connection, connector, flow, gateway, AppCommand, ConnectionArgs, ConnectorArgs, FlowArgs,
    GatewayArgs,
};

use super::backend;
use super::directory::print_json;
use super::directory::Qualified;
use super::exit;
use super::session::ActAs;

/// `ferry resource …`.
#[derive(Debug, clap::Subcommand)]
pub enum ResourceCommand {
    /// List an environment's resources.
    List {
        /// `<tenant>/<environment>`.
        environment: Qualified,
        /// Only this kind.
        #[arg(long, value_parser = parse_kind)]
        kind: Option<Kind>,
        #[command(flatten)]
        act_as: ActAs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete a connection or gateway nothing uses any more (its history stays on the log;
    /// a connection's stored credentials are erased).
    Delete {
        /// `<tenant>/<environment>`.
        environment: Qualified,
        /// The connection or gateway, by id or unique name.
        resource: String,
        #[command(flatten)]
        act_as: ActAs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one resource: its versions, draft, documents and references.
    Show {
        /// `<tenant>/<environment>`.
        environment: Qualified,
        /// The resource, by id or unique name.
        resource: String,
        #[command(flatten)]
        act_as: ActAs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn parse_kind(text: &str) -> Result<Kind, String> {
    serde_json::from_value(json!(text)).map_err(|_| {
        "kinds are app, flow, connector, custom-connector, connection, gateway".to_owned()
    })
}

/// `ferry resource list|show`.
pub fn resource(data_dir: &Path, command: ResourceCommand) -> Result<u8, u8> {
    match command {
        ResourceCommand::List {
            environment,
            kind,
            act_as,
            json: json_out,
        } => {
            let backend = backend::open(data_dir, &act_as)?;
            let list = backend.resources(&environment, kind)?;
            if json_out {
                print_json(&list);
            } else {
                say!(
                    "{:<17} {:<32} {:<8} {:<6} {:<24} ID",
                    "KIND",
                    "NAME",
                    "VERSION",
                    "DRAFT",
                    "CONNECTOR"
                );
                for r in &list {
                    say!(
                        "{:<17} {:<32} {:<8} {:<6} {:<24} {}",
                        r.kind.to_string(),
                        r.name,
                        version_of(r.kind, r.version),
                        if r.has_draft { "yes" } else { "" },
                        r.connector.as_deref().unwrap_or(""),
                        r.id
                    );
                }
            }
        }
        ResourceCommand::Delete {
            environment,
            resource,
            act_as,
            json: json_out,
        } => {
            let deleted =
                backend::open(data_dir, &act_as)?.delete_resource(&environment, &resource)?;
            if json_out {
                print_json(&deleted);
            } else {
                say!(
                    "deleted {} {:?} ({}) from {}",
                    deleted.kind,
                    deleted.name,
                    deleted.id,
                    deleted.environment
                );
            }
        }
        ResourceCommand::Show {
            environment,
            resource,
            act_as,
            json: json_out,
        } => {
            let backend = backend::open(data_dir, &act_as)?;
            let found = backend.resource(&environment, &resource)?;
            if json_out {
                print_json(&found);
            } else {
                show(&found);
            }
        }
    }
    Ok(exit::OK)
}

fn version_of(kind: Kind, version: u32) -> String {
    match kind {
        Kind::App | Kind::Flow => version.to_string(),
        _ => String::new(),
    }
}

fn show(detail: &ResourceDetail) {
    let r = &detail.summary;
    say!("{} {:?} ({})", r.kind, r.name, r.id);
    if matches!(r.kind, Kind::App | Kind::Flow) {
        say!("  published version {}", r.version);
    }
    if let Some(connector) = &r.connector {
        say!("  connector {connector}");
    }
    if r.kind == Kind::Connection {
        let stored = if r.has_secret {
            "stored (never shown)"
        } else {
            "none"
        };
        say!("  credentials {stored}");
    }
    if let Some(gateway) = r.gateway {
        say!("  gateway {gateway}");
    }
    for (label, definition) in [("published", &detail.published), ("draft", &detail.draft)] {
        let Some(definition) = definition else {
            continue;
        };
        say!("  {label}:");
        for (file, digest) in &definition.files {
            say!("    {file}  sha256:{digest}");
        }
        for (name, target) in &definition.references {
            say!("    reference {name} -> {target}");
        }
    }
}
