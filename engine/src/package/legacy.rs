//! Legacy export packages: `manifest.json`, its dependency graph, and the app and flow
//! folders linked to their manifest resources.
//!
//! ## Invariants
//! - Every `dependsOn` key is a resource and the graph has no cycle ([`Legacy::import_order`]
//!   lists every resource after its dependencies).
//! - Every flow resource has `Microsoft.Flow/flows/<key>/definition.json`; every app resource
//!   is linked to exactly one `Microsoft.PowerApps/apps/<id>/<id>.json` whose `.msapp` exists.
//! - Every key a flow map or an app connection reference names is a resource of the right type.

use ferry_schemas::manifest::{GraphProblem, Manifest};

use super::read::json;
use super::{links, Error, Files, Limits, Result};

pub(crate) const MANIFEST: &str = "manifest.json";

/// A legacy export package's manifest and the links found between its files and resources.
#[derive(Debug, Clone, PartialEq)]
pub struct Legacy {
    /// The parsed `manifest.json`; written back as the package's last entry.
    pub manifest: Manifest,
    /// Resource keys, every one after everything it depends on.
    pub import_order: Vec<String>,
    /// Apps, linked to their folder.
    pub apps: Vec<App>,
    /// Flows, linked to their folder and connection maps.
    pub flows: Vec<Flow>,
}

/// An app resource and its files.
#[derive(Debug, Clone, PartialEq)]
pub struct App {
    /// The app's manifest key.
    pub resource: String,
    /// `Microsoft.PowerApps/apps/<id>/<id>.json` (the folder id is not the manifest key).
    pub definition: String,
    /// The `.msapp` entry, located through `properties.appUris.documentUri.value`.
    pub document: String,
    /// Manifest keys of the apis the app's connection references use.
    pub apis: Vec<String>,
    /// Manifest keys of the flows the app calls (logicflows `workflowName` hints).
    pub flows: Vec<String>,
}

/// A flow resource and its files.
#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    /// The flow's manifest key, also its folder name.
    pub resource: String,
    /// `Microsoft.Flow/flows/<key>/definition.json`.
    pub definition: String,
    /// One per connection reference of the definition or its maps.
    pub connections: Vec<FlowConnection>,
}

/// A flow's connection reference, resolved through `apisMap.json` and `connectionsMap.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowConnection {
    /// The reference name, e.g. `shared_sharepointonline_1`.
    pub reference: String,
    /// The connector's technical name from the definition (`.../apis/<name>`); for a custom
    /// connector the only place it appears.
    pub api_name: Option<String>,
    /// The api resource's manifest key (`apisMap.json`).
    pub api: Option<String>,
    /// The connection resource's manifest key (`connectionsMap.json`).
    pub connection: Option<String>,
}

/// Parses `manifest.json` (removing it from `files`) and links the package's folders.
pub(crate) fn read(files: &mut Files, limits: &Limits) -> Result<Legacy> {
    let bytes = files.remove(MANIFEST).ok_or(Error::MissingManifest)?;
    let manifest: Manifest = json(MANIFEST, &bytes)?;
    let too_many = |what, count, limit| Error::ManifestTooLarge { what, count, limit };
    if manifest.resources.len() > limits.max_resources {
        return Err(too_many(
            "resources",
            manifest.resources.len(),
            limits.max_resources,
        ));
    }
    let dependencies: usize = manifest
        .resources
        .values()
        .map(|r| r.depends_on.len())
        .sum();
    if dependencies > limits.max_dependencies {
        return Err(too_many(
            "dependsOn entries",
            dependencies,
            limits.max_dependencies,
        ));
    }
    let import_order = manifest
        .import_order()
        .map_err(|problem| match problem {
            GraphProblem::Dangling { resource, missing } => {
                Error::DanglingDependency { resource, missing }
            }
            GraphProblem::Cycle { resource } => Error::DependencyCycle { resource },
        })?
        .into_iter()
        .map(str::to_owned)
        .collect();
    let flows = links::flows(&manifest, files)?;
    let apps = links::apps(&manifest, files)?;
    Ok(Legacy {
        manifest,
        import_order,
        apps,
        flows,
    })
}
