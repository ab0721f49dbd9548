//! Documents of apps and flows authored in Ferry, in the shape real exports have (FORMAT.md):
//! an app's `<folder>.json` and `.msapp`, a flow's `definition.json`. A document's references
//! to other resources use the resources' ids as keys, recorded beside it in
//! [`Definition::references`].

use std::io::{Cursor, Write};

use ferry_schemas::environment::Definition;
use ferry_schemas::resource::Kind;
use ferry_schemas::{Digest, ResourceId};
use serde_json::{json, Map, Value};

use super::Resource;

/// Documents by file name, with their bytes (to store) and the definition (to record).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Documents {
    /// File name → bytes.
    pub files: Vec<(String, Vec<u8>)>,
    /// The definition naming them by digest.
    pub definition: Definition,
}

impl Documents {
    fn add(&mut self, name: String, bytes: Vec<u8>) {
        self.definition
            .files
            .insert(name.clone(), Digest::of(&bytes));
        self.files.push((name, bytes));
    }
}

/// An app's folder id: a long number, like the platform's.
fn folder(id: ResourceId) -> String {
    let low = id.as_uuid().as_u64_pair().1 % 10_000_000_000_000_000_000;
    format!("{low:019}")
}

/// A minimal canvas document, when the maker gives none: a zip, as `.msapp` files are.
pub fn blank_msapp(name: &str) -> Result<Vec<u8>, String> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default());
    let header = json!({"DocVersion": "1.0", "AppName": name}).to_string();
    zip.start_file("Header.json", options)
        .and_then(|()| Ok(zip.write_all(header.as_bytes())?))
        .map_err(|e| e.to_string())?;
    zip.finish()
        .map(Cursor::into_inner)
        .map_err(|e| e.to_string())
}

/// The connector through which apps call flows.
pub const LOGIC_FLOWS: &str = "shared_logicflows";

/// An app's documents: its json (connection references to the connectors and flows it uses)
/// and its `.msapp`. Flows are called through `logic_flows`, the environment's registration of
/// [`LOGIC_FLOWS`], as the real format has it: the reference's `id` is that connector's key,
/// its `workflowName` hint the flow's.
pub fn app(
    id: ResourceId,
    name: &str,
    msapp: Vec<u8>,
    uses: &[&Resource],
    logic_flows: Option<&Resource>,
) -> Documents {
    let folder = folder(id);
    let document = format!("N{id}-document.msapp");
    let mut references = Map::new();
    let mut docs = Documents::default();
    for used in uses {
        let key = used.id.to_string();
        let entry = match (used.kind, logic_flows) {
            (Kind::Flow, Some(api)) => json!({
                "id": api.id.to_string(),
                "displayName": "Logic flows",
                "dataSources": [used.name],
                "parameterHints": {"workflowName": {"value": key}},
                "isCustomApiConnection": false,
            }),
            _ => json!({
                "id": key.clone(),
                "displayName": used.name,
                "dataSources": [],
                "parameterHints": {},
                "isCustomApiConnection": used.kind == Kind::CustomConnector,
            }),
        };
        references.insert(ResourceId::new().to_string(), entry);
        docs.definition.references.insert(key, used.id);
    }
    if let Some(api) = logic_flows.filter(|_| uses.iter().any(|u| u.kind == Kind::Flow)) {
        docs.definition
            .references
            .insert(api.id.to_string(), api.id);
    }
    let json = json!({
        "schemaVersion": "1.0",
        "appDefinitionTemplate": {
            "id": format!("/providers/Microsoft.PowerApps/apps/{id}"),
            "type": "Microsoft.PowerApps/apps",
            "tags": {},
            "properties": {
                "displayName": name,
                "description": "",
                "appUris": {"documentUri": {"value": format!("/{folder}/{document}")}, "imageUris": []},
                "connectionReferences": Value::Object(references),
            },
            "appType": "ClassicCanvasApp",
            "appComponents": [],
        }
    });
    docs.add(format!("{folder}.json"), json.to_string().into_bytes());
    docs.add(document, msapp);
    docs
}

/// A flow's `definition.json` around a Logic Apps `workflow`, with one connection reference
/// per `(reference name, connection)`. A `workflow` that already is a whole `definition.json`
/// (it has `properties.definition`) is kept byte for byte.
pub fn flow(
    id: ResourceId,
    name: &str,
    workflow: &[u8],
    connections: &[(String, &Resource)],
) -> Result<Documents, String> {
    let parsed: Value = serde_json::from_slice(workflow)
        .map_err(|e| format!("the flow definition is not JSON: {e}"))?;
    let unbound: Vec<String> = used_connections(&parsed)
        .into_iter()
        .filter(|used| !connections.iter().any(|(bound, _)| bound == used))
        .collect();
    if !unbound.is_empty() {
        return Err(format!(
            "the flow uses connection reference(s) {} that no --connection binds: add \
             --connection <reference>=<connection> for each",
            unbound
                .iter()
                .map(|r| format!("{:?}", crate::untrusted::excerpt(r)))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let mut docs = Documents::default();
    for (reference, connection) in connections {
        docs.definition
            .references
            .insert(reference.clone(), connection.id);
    }
    if parsed.pointer("/properties/definition").is_some() {
        docs.add("definition.json".into(), workflow.to_vec());
        return Ok(docs);
    }
    if !parsed.is_object() {
        return Err("the flow definition must be a JSON object (a Logic Apps workflow)".into());
    }
    let references: Map<String, Value> = connections
        .iter()
        .map(|(reference, connection)| {
            let api = connection.connector.clone().unwrap_or_default();
            (
                reference.clone(),
                json!({
                    "connectionName": connection.id.to_string(),
                    "source": "Embedded",
                    "id": format!("/providers/Microsoft.PowerApps/apis/{api}"),
                    "tier": "NotSpecified",
                }),
            )
        })
        .collect();
    let definition = json!({
        "name": id.to_string(),
        "id": format!("/providers/Microsoft.Flow/flows/{id}"),
        "type": "Microsoft.Flow/flows",
        "properties": {
            "apiId": "/providers/Microsoft.PowerApps/apis/shared_logicflows",
            "displayName": name,
            "definition": parsed,
            "connectionReferences": Value::Object(references),
            "flowFailureAlertSubscribed": false,
        }
    });
    docs.add(
        "definition.json".into(),
        definition.to_string().into_bytes(),
    );
    Ok(docs)
}

/// The connection references a flow's documents use: a full definition's
/// `properties.connectionReferences`, and in the workflow every action's
/// `host.connection.referenceName` or `@parameters('$connections')['<name>']`.
pub fn used_connections(flow: &Value) -> std::collections::BTreeSet<String> {
    let mut used = std::collections::BTreeSet::new();
    if let Some(Value::Object(references)) = flow.pointer("/properties/connectionReferences") {
        used.extend(references.keys().cloned());
    }
    // Walked with a stack: a hostile definition nests as deep as it likes.
    let mut stack = vec![flow];
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(name)) =
                    map.get("connection").and_then(|c| c.get("referenceName"))
                {
                    used.insert(name.clone());
                }
                stack.extend(map.values());
            }
            Value::Array(items) => stack.extend(items),
            Value::String(text) => {
                let mut rest = text.as_str();
                while let Some(at) = rest.find("$connections')['") {
                    rest = &rest[at + "$connections')['".len()..];
                    if let Some(end) = rest.find("']") {
                        used.insert(rest[..end].to_owned());
                        rest = &rest[end..];
                    }
                }
            }
            _ => {}
        }
    }
    used
}
