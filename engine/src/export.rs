//! Export: an app's dependency closure written as a legacy export package (FORMAT.md) — the
//! app, the flows it calls, the connectors and custom connectors they use and the connections
//! the flows are bound to (never their credentials), gateways flagged.
//!
//! ## Invariants
//! - Manifest keys are stable across exports of the same resources: the name the app's
//!   document uses for a resource, else the resource's id. Re-importing a re-export therefore
//!   meets the identity map of the earlier import.
//! - Documents are written byte for byte as stored; the flow maps (`apisMap.json`,
//!   `connectionsMap.json`) are generated from the recorded references.
//! - The package is read back with the package reader before it is handed out: what Ferry
//!   writes, Ferry (and the real format's rules) accept.

use std::collections::BTreeMap;

use ferry_schemas::environment::Definition;
use ferry_schemas::event::ResourceCaptured;
use ferry_schemas::manifest::{
    Manifest, PackageDetails, Provenance, Resource as Entry, ResourceDetails,
};
use ferry_schemas::resource::{Action, Kind};
use ferry_schemas::{Digest, MigrationId, ResourceId};
use serde_json::json;

use crate::environment::{Contents, Resource};
use crate::package::{self, review, Files, Legacy, Limits, Package};

/// Why an export could not be written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The app is not an app with a published version.
    #[error("{0} is not an app with a published version")]
    NotAnApp(String),
    /// A resource the app needs is gone.
    #[error("{what} refers to {reference:?}, which is no longer in the environment; fix the app and export again")]
    Dangling {
        /// The resource that refers.
        what: String,
        /// The reference.
        reference: String,
    },
    /// A connection's connector is not registered in the environment.
    #[error("connection {connection} uses connector {connector}, which is not registered in the environment; register it first")]
    UnregisteredConnector {
        /// The connection's account.
        connection: String,
        /// The connector.
        connector: String,
    },
    /// An action override names something outside the closure or not allowed for it.
    #[error("--action {0}")]
    BadOverride(String),
    /// A document could not be read from the blob store.
    #[error("document {digest} of {what}: {reason}")]
    Document {
        /// The resource.
        what: String,
        /// Its content address.
        digest: Digest,
        /// Why.
        reason: String,
    },
    /// The package could not be written or does not read back.
    #[error("the package Ferry wrote does not read back: {0}")]
    Package(#[from] package::Error),
}

/// What the exporter asked for.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// The package's display name.
    pub package_name: String,
    /// Its description.
    pub description: String,
    /// Per resource, the suggested import action instead of the default.
    pub actions: BTreeMap<ResourceId, Action>,
    /// Per resource, a comment for the importer.
    pub comments: BTreeMap<ResourceId, String>,
    /// Where it comes from, for `ferry/provenance.json` and `details.sourceEnvironment`.
    pub source_tenant: String,
    /// The source environment's name.
    pub source_environment: String,
    /// The export migration.
    pub migration: MigrationId,
    /// The exporter's name, for `details.creator`.
    pub creator: String,
    /// `details.createdTime`.
    pub created_time: String,
    /// Export each app's and flow's draft where it has one, not its published version.
    pub drafts: bool,
}

/// The documents an export takes of an app or flow: its draft when `drafts` asks for it and
/// it has one, else its published version.
pub fn exported_definition(resource: &Resource, drafts: bool) -> Option<&Definition> {
    match (&resource.draft, drafts) {
        (Some(draft), true) => Some(draft),
        _ => resource.published.as_ref(),
    }
}

/// A written package and what it captured.
#[derive(Clone, Debug)]
pub struct Exported {
    /// The zip.
    pub bytes: Vec<u8>,
    /// One per resource, in import order.
    pub captured: Vec<ResourceCaptured>,
}

/// The app and everything it depends on, each with its manifest key, dependencies first.
pub fn closure<'c>(
    contents: &'c Contents,
    app: &'c Resource,
    drafts: bool,
) -> Result<Vec<(String, &'c Resource)>, Error> {
    let published = exported_definition(app, drafts)
        .filter(|_| app.kind == Kind::App)
        .ok_or_else(|| Error::NotAnApp(app.name.clone()))?;
    let mut keys: BTreeMap<ResourceId, String> = BTreeMap::new();
    let mut order: Vec<ResourceId> = Vec::new();
    let lookup = |what: &Resource, reference: &str, id: ResourceId| {
        contents
            .get(id)
            .filter(|r| r.environment == what.environment)
            .ok_or_else(|| Error::Dangling {
                what: what.name.clone(),
                reference: reference.to_owned(),
            })
    };
    // The app's own names for what it uses come first: its document refers to them.
    for (name, id) in &published.references {
        keys.entry(*id).or_insert_with(|| name.clone());
    }
    let mut add = |resource: &Resource, order: &mut Vec<ResourceId>| {
        keys.entry(resource.id)
            .or_insert_with(|| resource.id.to_string());
        if !order.contains(&resource.id) {
            order.push(resource.id);
        }
    };
    let connector_of = |connection: &Resource| {
        let name = connection.connector.clone().unwrap_or_default();
        contents
            .of(connection.environment)
            .into_iter()
            .find(|r| {
                matches!(r.kind, Kind::Connector | Kind::CustomConnector)
                    && r.connector.as_deref() == Some(name.as_str())
            })
            .ok_or(Error::UnregisteredConnector {
                connection: connection.name.clone(),
                connector: name,
            })
    };
    for (name, id) in &published.references {
        let used = lookup(app, name, *id)?;
        if used.kind == Kind::Flow {
            let flow_definition =
                exported_definition(used, drafts).ok_or_else(|| Error::Dangling {
                    what: app.name.clone(),
                    reference: name.clone(),
                })?;
            for (reference, connection_id) in &flow_definition.references {
                let connection = lookup(used, reference, *connection_id)?;
                add(connector_of(connection)?, &mut order);
                add(connection, &mut order);
            }
        }
        add(used, &mut order);
    }
    add(app, &mut order);
    Ok(order
        .into_iter()
        .filter_map(|id| Some((keys.get(&id)?.clone(), contents.get(id)?)))
        .collect())
}

fn kind_entry(
    resource: &Resource,
) -> (
    &'static str,
    Action,
    Option<&'static str>,
    &'static str,
    Option<&'static str>,
) {
    // (type, default suggestion, creationType, configurableBy, hierarchy)
    match resource.kind {
        Kind::App => (
            "Microsoft.PowerApps/apps",
            Action::New,
            Some("New, Update"),
            "User",
            None,
        ),
        Kind::Flow => (
            "Microsoft.Flow/flows",
            Action::New,
            Some("Existing, New, Update"),
            "User",
            Some("Child"),
        ),
        Kind::Connector => (
            "Microsoft.PowerApps/apis",
            Action::Existing,
            None,
            "System",
            Some("Child"),
        ),
        Kind::CustomConnector => (
            "Microsoft.PowerApps/apis",
            Action::Existing,
            Some("Existing"),
            "User",
            Some("Child"),
        ),
        Kind::Connection | Kind::Gateway => (
            "Microsoft.PowerApps/apis/connections",
            Action::Existing,
            Some("Existing"),
            "User",
            Some("Child"),
        ),
    }
}

/// Writes the package of `app`'s closure; `document` reads a stored document by digest.
pub fn write(
    contents: &Contents,
    app: &Resource,
    request: &Request,
    document: impl Fn(&Digest) -> Result<Vec<u8>, String>,
) -> Result<Exported, Error> {
    let members = closure(contents, app, request.drafts)?;
    let key_of: BTreeMap<ResourceId, String> =
        members.iter().map(|(key, r)| (r.id, key.clone())).collect();
    for id in request.actions.keys().chain(request.comments.keys()) {
        if !key_of.contains_key(id) {
            return Err(Error::BadOverride(format!(
                "{id} is not part of this app's package"
            )));
        }
    }
    let mut manifest = Manifest {
        schema: "1.0".into(),
        details: PackageDetails {
            display_name: request.package_name.clone(),
            description: Some(request.description.clone()),
            created_time: Some(request.created_time.clone()),
            package_telemetry_id: Some(request.migration.to_string()),
            creator: Some(request.creator.clone()),
            source_environment: Some(request.source_environment.clone()),
            extra: BTreeMap::new(),
        },
        resources: BTreeMap::new(),
        extra: BTreeMap::new(),
    };
    let mut files = Files::new();
    let mut flow_keys = Vec::new();
    let mut captured = Vec::new();
    let connector_key = |connection: &Resource| {
        members
            .iter()
            .find(|(_, r)| {
                matches!(r.kind, Kind::Connector | Kind::CustomConnector)
                    && r.connector == connection.connector
            })
            .map(|(key, _)| key.clone())
    };
    for (key, resource) in &members {
        let (resource_type, default_action, creation, configurable, hierarchy) =
            kind_entry(resource);
        let suggested = request
            .actions
            .get(&resource.id)
            .copied()
            .unwrap_or(default_action);
        if let Some(allowed) = creation {
            if !allowed.split(", ").any(|a| a == suggested.as_str()) {
                return Err(Error::BadOverride(format!(
                    "{}: {suggested} is not allowed for a {}; allowed: {allowed}",
                    resource.name, resource.kind
                )));
            }
        } else if suggested != default_action {
            return Err(Error::BadOverride(format!(
                "{}: a standard connector is always Existing",
                resource.name
            )));
        }
        let mut details = ResourceDetails {
            display_name: Some(resource.name.clone()),
            icon_uri: None,
            extra: BTreeMap::new(),
        };
        if let Some(comment) = request.comments.get(&resource.id) {
            details.extra.insert(review::COMMENT.into(), json!(comment));
        }
        let mut depends_on: Vec<String> = Vec::new();
        match resource.kind {
            Kind::App | Kind::Flow => {
                let definition = exported_definition(resource, request.drafts)
                    .ok_or_else(|| Error::NotAnApp(resource.name.clone()))?;
                for target in definition.references.values() {
                    if let Some(dep) = key_of.get(target) {
                        depends_on.push(dep.clone());
                        if let Some(connection) =
                            contents.get(*target).filter(|r| r.kind == Kind::Connection)
                        {
                            depends_on.extend(connector_key(connection));
                        }
                    }
                }
                let folder = match resource.kind {
                    Kind::App => app_folder(definition.files.keys()),
                    _ => format!("Microsoft.Flow/flows/{key}/"),
                };
                for (name, digest) in &definition.files {
                    let bytes = document(digest).map_err(|reason| Error::Document {
                        what: resource.name.clone(),
                        digest: *digest,
                        reason,
                    })?;
                    files.insert(format!("{folder}{name}"), bytes);
                }
                if resource.kind == Kind::Flow {
                    flow_keys.push(key.clone());
                    let mut apis = serde_json::Map::new();
                    let mut connections = serde_json::Map::new();
                    for (reference, target) in &definition.references {
                        if let (Some(conn_key), Some(connection)) =
                            (key_of.get(target), contents.get(*target))
                        {
                            connections.insert(reference.clone(), json!(conn_key));
                            if let Some(api) = connector_key(connection) {
                                apis.insert(reference.clone(), json!(api));
                            }
                        }
                    }
                    files.insert(
                        format!("{folder}apisMap.json"),
                        json!(apis).to_string().into_bytes(),
                    );
                    files.insert(
                        format!("{folder}connectionsMap.json"),
                        json!(connections).to_string().into_bytes(),
                    );
                }
            }
            Kind::Connection => {
                depends_on.extend(connector_key(resource));
                if let Some(gateway) = resource.gateway.and_then(|g| contents.get(g)) {
                    details
                        .extra
                        .insert(review::GATEWAY.into(), json!(gateway.name));
                }
            }
            _ => {}
        }
        let standard = resource.kind == Kind::Connector;
        let connector = resource.connector.clone();
        manifest.resources.insert(
            key.clone(),
            Entry {
                id: connector
                    .as_ref()
                    .filter(|_| standard)
                    .map(|c| format!("/providers/Microsoft.PowerApps/apis/{c}")),
                name: connector.clone().filter(|_| standard),
                resource_type: resource_type.into(),
                suggested_creation_type: Some(suggested.as_str().into()),
                creation_type: creation.map(str::to_owned),
                details,
                configurable_by: Some(configurable.into()),
                hierarchy: hierarchy.map(str::to_owned),
                depends_on: depends_on.clone(),
                extra: BTreeMap::new(),
            },
        );
        captured.push(ResourceCaptured {
            resource: resource.id,
            kind: resource.kind,
            display_name: resource.name.clone(),
            manifest_key: key.clone(),
            suggested_action: suggested,
            depends_on,
        });
    }
    if !flow_keys.is_empty() {
        let flows = json!({"packageSchemaVersion": "1.0", "flowAssets": {"assetPaths": flow_keys}});
        files.insert(
            "Microsoft.Flow/flows/manifest.json".into(),
            flows.to_string().into_bytes(),
        );
    }
    let package = Package {
        contents: package::Contents::Legacy(Legacy {
            manifest,
            import_order: Vec::new(),
            apps: Vec::new(),
            flows: Vec::new(),
        }),
        files,
        provenance: Some(Provenance {
            source_tenant: Some(request.source_tenant.clone()),
            source_environment: Some(request.source_environment.clone()),
            export_migration: Some(request.migration.to_string()),
            extra: BTreeMap::new(),
        }),
        signer: None,
    };
    let bytes = package::write(&package)?;
    package::read(&bytes, &Limits::default())?;
    Ok(Exported { bytes, captured })
}

/// An app's package folder: `Microsoft.PowerApps/apps/<id>/`, `<id>` from its `<id>.json`.
fn app_folder<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let mut names = names.peekable();
    let mut fallback = String::new();
    for name in names.by_ref() {
        if let Some(stem) = name.strip_suffix(".json") {
            if !stem.is_empty() && stem.chars().all(|c| c.is_ascii_digit()) {
                return format!("Microsoft.PowerApps/apps/{stem}/");
            }
            fallback = stem.to_owned();
        }
    }
    format!("Microsoft.PowerApps/apps/{fallback}/")
}
