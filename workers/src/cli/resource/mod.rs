//! Authoring and seeing an environment's contents: `ferry resource list|show`, publishing
//! drafts, and (in `author`) `ferry app|flow|connector|connection|gateway create`.

mod author;

use std::path::Path;

use ferry_engine::authz;
use ferry_engine::environment::author::{self as authoring, Rejection};
use ferry_engine::environment::{Contents, Lookup, Resource};
use ferry_schemas::event::Event;
use ferry_schemas::resource::Kind;
use ferry_schemas::{EnvironmentId, PrincipalId};
use serde_json::json;

pub use author::{
    app, connection, connector, flow, gateway, AppCommand, ConnectionArgs, ConnectorArgs, FlowArgs,
    GatewayArgs,
};

use super::directory::{fail, print_json, Qualified};
use super::exit;
use super::session::{actor, Session};

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

fn refused(rejection: &Rejection) -> u8 {
    let code = match rejection {
        Rejection::ConnectorExists(_) => exit::CONFLICT,
        _ => exit::INVALID_INPUT,
    };
    fail(&rejection.to_string(), code)
}

/// Resolves `reference` among `environment`'s resources of one of `kinds`.
pub fn find<'c>(
    contents: &'c Contents,
    environment: EnvironmentId,
    kinds: &[Kind],
    reference: &str,
) -> Result<&'c Resource, String> {
    let mut ambiguous = None;
    for kind in kinds {
        match contents.find(environment, Some(*kind), reference) {
            Ok(found) => return Ok(found),
            Err(Lookup::Ambiguous(ids)) => ambiguous = Some(ids),
            Err(Lookup::NotFound) => {}
        }
    }
    // Connectors are also known by their technical name.
    if let Some(found) = contents.of(environment).into_iter().find(|r| {
        kinds.contains(&r.kind)
            && matches!(r.kind, Kind::Connector | Kind::CustomConnector)
            && r.connector.as_deref() == Some(reference)
    }) {
        return Ok(found);
    }
    let kinds: Vec<_> = kinds.iter().map(ToString::to_string).collect();
    Err(match ambiguous {
        Some(ids) => format!(
            "{reference:?} names several resources ({}); use an id",
            ids.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => format!(
            "no {} {reference:?} in this environment; `ferry resource list` shows what is there",
            kinds.join(" or ")
        ),
    })
}

/// Publishes the draft of `reference` in `environment`.
pub fn publish_one(
    session: &Session,
    environment: &Qualified,
    reference: &str,
    principal: Option<PrincipalId>,
) -> Result<(Resource, u32), u8> {
    let env = session.environment(environment)?;
    let resource = session
        .read(|w| find(&w.contents, env, &[Kind::App, Kind::Flow], reference).cloned())?
        .map_err(|message| fail(&message, exit::INVALID_INPUT))?;
    publish_resource(session, &resource, principal).map(|version| (resource, version))
}

/// Publishes the draft of `resource` for `principal`; returns the new published version.
pub fn publish_resource(
    session: &Session,
    resource: &Resource,
    principal: Option<PrincipalId>,
) -> Result<u32, u8> {
    if let Some(principal) = principal {
        session
            .read(|w| authz::publish(&w.directory, principal, resource))?
            .map_err(super::session::denied)?;
    }
    let event = session
        .executor
        .author(resource.environment, actor(principal), |w| {
            authoring::publish(&w.contents, resource.id)
        })
        .map_err(super::session::engine_error)?
        .map_err(|r| refused(&r))?;
    match event {
        Event::DraftPublished(e) => Ok(e.version),
        _ => Ok(resource.version + 1),
    }
}

/// `ferry resource list|show`.
pub fn resource(data_dir: &Path, command: ResourceCommand) -> Result<u8, u8> {
    let session = Session::open(data_dir)?;
    match command {
        ResourceCommand::List {
            environment,
            kind,
            json: json_out,
        } => {
            let env = session.environment(&environment)?;
            let list: Vec<Resource> = session.read(|w| {
                w.contents
                    .of(env)
                    .into_iter()
                    .filter(|r| kind.is_none_or(|k| r.kind == k))
                    .cloned()
                    .collect()
            })?;
            if json_out {
                print_json(&json!(list.iter().map(summary).collect::<Vec<_>>()));
            } else {
                println!(
                    "{:<17} {:<32} {:<8} {:<6} {:<24} ID",
                    "KIND", "NAME", "VERSION", "DRAFT", "CONNECTOR"
                );
                for r in &list {
                    println!(
                        "{:<17} {:<32} {:<8} {:<6} {:<24} {}",
                        r.kind.to_string(),
                        r.name,
                        version(r),
                        if r.draft.is_some() { "yes" } else { "" },
                        r.connector.as_deref().unwrap_or(""),
                        r.id
                    );
                }
            }
        }
        ResourceCommand::Show {
            environment,
            resource,
            json: json_out,
        } => {
            let env = session.environment(&environment)?;
            let found = session
                .read(|w| find(&w.contents, env, &Kind::ALL, &resource).cloned())?
                .map_err(|message| fail(&message, exit::INVALID_INPUT))?;
            let mut value = summary(&found);
            value["published"] = json!(found.published);
            value["draft"] = json!(found.draft);
            if json_out {
                print_json(&value);
            } else {
                show(&found);
            }
        }
    }
    Ok(exit::OK)
}

/// The published version, for the kinds that have versions.
pub(super) fn version(r: &Resource) -> String {
    match r.kind {
        Kind::App | Kind::Flow => r.version.to_string(),
        _ => String::new(),
    }
}

/// The stable `--json` fields of a resource. Never the credentials.
fn summary(r: &Resource) -> serde_json::Value {
    json!({
        "id": r.id,
        "kind": r.kind,
        "name": r.name,
        "owner": r.owner,
        "version": r.version,
        "has_draft": r.draft.is_some(),
        "revision": r.revision,
        "connector": r.connector,
        "has_secret": r.has_secret,
        "gateway": r.gateway,
    })
}

fn show(r: &Resource) {
    println!("{} {:?} ({})", r.kind, r.name, r.id);
    if matches!(r.kind, Kind::App | Kind::Flow) {
        println!("  published version {}", r.version);
    }
    if let Some(connector) = &r.connector {
        println!("  connector {connector}");
    }
    if r.kind == Kind::Connection {
        let stored = if r.has_secret {
            "stored (never shown)"
        } else {
            "none"
        };
        println!("  credentials {stored}");
    }
    if let Some(gateway) = r.gateway {
        println!("  gateway {gateway}");
    }
    for (label, definition) in [("published", &r.published), ("draft", &r.draft)] {
        let Some(definition) = definition else {
            continue;
        };
        println!("  {label}:");
        for (file, digest) in &definition.files {
            println!("    {file}  sha256:{digest}");
        }
        for (name, target) in &definition.references {
            println!("    reference {name} -> {target}");
        }
    }
}
