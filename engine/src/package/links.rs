//! Links a legacy package's folders to its manifest resources: flow folders through their
//! key and connection maps, app folders through their definition json.
//!
//! ## Invariants
//! - Only resource keys of the expected type are accepted as link targets; anything else is
//!   an [`Error::DanglingReference`] naming the entry and the key.

use std::collections::{BTreeMap, BTreeSet};

use ferry_schemas::manifest::{FlowsManifest, Manifest, ResourceKind};
use serde_json::Value;

use super::read::json;
use super::{App, Error, Files, Flow, FlowConnection, Result};

const FLOWS_DIR: &str = "Microsoft.Flow/flows";
const APPS_DIR: &str = "Microsoft.PowerApps/apps";

/// Every flow resource with its definition and resolved connection references.
pub(crate) fn flows(manifest: &Manifest, files: &Files) -> Result<Vec<Flow>> {
    let index = format!("{FLOWS_DIR}/manifest.json");
    if let Some(bytes) = files.get(&index) {
        let flows: FlowsManifest = json(&index, bytes)?;
        for key in &flows.flow_assets.asset_paths {
            expect_kind(manifest, &index, "assetPaths", key, ResourceKind::Flow)?;
        }
    }
    let flow_keys = manifest
        .resources
        .iter()
        .filter(|(_, r)| r.kind() == ResourceKind::Flow)
        .map(|(key, _)| key);
    flow_keys.map(|key| flow(manifest, files, key)).collect()
}

fn flow(manifest: &Manifest, files: &Files, key: &str) -> Result<Flow> {
    let definition = format!("{FLOWS_DIR}/{key}/definition.json");
    let bytes = files.get(&definition).ok_or_else(|| Error::MissingEntry {
        entry: definition.clone(),
        reason: format!("flow resource {key} has no definition"),
    })?;
    let value: Value = json(&definition, bytes)?;
    let api_names: BTreeMap<String, Option<String>> = value
        .pointer("/properties/connectionReferences")
        .and_then(Value::as_object)
        .map(|refs| {
            refs.iter()
                .map(|(name, r)| (name.clone(), api_name(r)))
                .collect()
        })
        .unwrap_or_default();
    let apis = map(manifest, files, key, "apisMap.json", ResourceKind::Api)?;
    let connections = map(
        manifest,
        files,
        key,
        "connectionsMap.json",
        ResourceKind::Connection,
    )?;
    let references: BTreeSet<&String> = api_names
        .keys()
        .chain(apis.keys())
        .chain(connections.keys())
        .collect();
    let connections = references
        .into_iter()
        .map(|reference| FlowConnection {
            reference: reference.clone(),
            api_name: api_names.get(reference).cloned().flatten(),
            api: apis.get(reference).cloned(),
            connection: connections.get(reference).cloned(),
        })
        .collect();
    Ok(Flow {
        resource: key.to_owned(),
        definition,
        connections,
    })
}

/// The connector name at the end of a reference's `id` (`/providers/.../apis/<name>`).
fn api_name(reference: &Value) -> Option<String> {
    let id = reference.get("id")?.as_str()?;
    id.rsplit('/').next().map(str::to_owned)
}

/// Reads an optional `{reference: resource key}` map of a flow folder (absent in 2018
/// exports) and checks every key points to a resource of `kind`.
fn map(
    manifest: &Manifest,
    files: &Files,
    flow: &str,
    name: &str,
    kind: ResourceKind,
) -> Result<BTreeMap<String, String>> {
    let entry = format!("{FLOWS_DIR}/{flow}/{name}");
    let Some(bytes) = files.get(&entry) else {
        return Ok(BTreeMap::new());
    };
    let map: BTreeMap<String, String> = json(&entry, bytes)?;
    for (reference, key) in &map {
        expect_kind(manifest, &entry, reference, key, kind)?;
    }
    Ok(map)
}

fn expect_kind(
    manifest: &Manifest,
    entry: &str,
    reference: &str,
    key: &str,
    kind: ResourceKind,
) -> Result<()> {
    match manifest.resources.get(key) {
        Some(resource) if resource.kind() == kind => Ok(()),
        _ => Err(Error::DanglingReference {
            entry: entry.to_owned(),
            reference: reference.to_owned(),
            key: key.to_owned(),
            expected: match kind {
                ResourceKind::App => "an app resource",
                ResourceKind::Flow => "a flow resource",
                ResourceKind::Api => "an api resource",
                ResourceKind::Connection => "a connection resource",
                ResourceKind::Other => "a resource",
            },
        }),
    }
}

/// Every app folder, linked to its app resource.
pub(crate) fn apps(manifest: &Manifest, files: &Files) -> Result<Vec<App>> {
    let app_resources: Vec<&String> = manifest
        .resources
        .iter()
        .filter(|(_, r)| r.kind() == ResourceKind::App)
        .map(|(key, _)| key)
        .collect();
    let definitions: Vec<&String> = files.keys().filter(|p| is_app_definition(p)).collect();
    let mut apps = Vec::with_capacity(definitions.len());
    for definition in &definitions {
        let value: Value = json(definition, &files[definition.as_str()])?;
        let properties = value
            .pointer("/appDefinitionTemplate/properties")
            .unwrap_or(&Value::Null);
        let display_name = properties.get("displayName").and_then(Value::as_str);
        let resource = if app_resources.len() == 1 && definitions.len() == 1 {
            app_resources[0].clone()
        } else {
            let mut matching = app_resources.iter().filter(|key| {
                manifest.resources[key.as_str()]
                    .details
                    .display_name
                    .as_deref()
                    == display_name
            });
            match (matching.next(), matching.next()) {
                (Some(key), None) => (*key).clone(),
                _ => {
                    return Err(Error::Malformed {
                        entry: (*definition).clone(),
                        problem:
                            "no single app resource in manifest.json has this app's displayName"
                                .into(),
                    })
                }
            }
        };
        apps.push(app(manifest, files, definition, properties, resource)?);
    }
    if let Some(unlinked) = app_resources
        .iter()
        .find(|key| !apps.iter().any(|app| &app.resource == **key))
    {
        return Err(Error::MissingEntry {
            entry: format!("{APPS_DIR}/<id>/<id>.json"),
            reason: format!("app resource {unlinked} has no app definition"),
        });
    }
    Ok(apps)
}

fn app(
    manifest: &Manifest,
    files: &Files,
    definition: &str,
    properties: &Value,
    resource: String,
) -> Result<App> {
    let document_uri = properties
        .pointer("/appUris/documentUri/value")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::Malformed {
            entry: definition.to_owned(),
            problem: "no properties.appUris.documentUri.value".into(),
        })?;
    let document = format!("{APPS_DIR}/{}", document_uri.trim_start_matches('/'));
    if !files.contains_key(&document) {
        return Err(Error::MissingEntry {
            entry: document,
            reason: format!("{definition} names it as the app document"),
        });
    }
    let mut apis = Vec::new();
    let mut flows = Vec::new();
    let references = properties
        .get("connectionReferences")
        .and_then(Value::as_object);
    for (name, reference) in references.into_iter().flatten() {
        if let Some(api) = reference.get("id").and_then(Value::as_str) {
            expect_kind(manifest, definition, name, api, ResourceKind::Api)?;
            apis.push(api.to_owned());
        }
        let workflow = reference
            .pointer("/parameterHints/workflowName/value")
            .and_then(Value::as_str);
        if let Some(flow) = workflow {
            expect_kind(manifest, definition, name, flow, ResourceKind::Flow)?;
            flows.push(flow.to_owned());
        }
    }
    Ok(App {
        resource,
        definition: definition.to_owned(),
        document,
        apis,
        flows,
    })
}

/// `Microsoft.PowerApps/apps/<id>/<id>.json`.
fn is_app_definition(path: &str) -> bool {
    let Some(rest) = path
        .strip_prefix(APPS_DIR)
        .and_then(|r| r.strip_prefix('/'))
    else {
        return false;
    };
    match rest.split_once('/') {
        Some((folder, file)) => file.strip_suffix(".json") == Some(folder),
        None => false,
    }
}
