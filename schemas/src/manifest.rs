//! The legacy export package's `manifest.json`, the flows index beside it, and Ferry's own
//! additions in the `ferry/` folder of a package.
//!
//! Main types: [`Manifest`] (with [`PackageDetails`] and [`Resource`]), [`FlowsManifest`],
//! [`Provenance`] and [`Checksums`]. JSON names are the exported ones (camelCase).
//!
//! ## Invariants
//! - Reading then writing a manifest loses nothing: fields this crate does not model are kept
//!   in each type's `extra` map, and a resource's `type` keeps its exact string.
//! - `dependsOn` keeps duplicates as they are in the file; the graph helpers deduplicate.
//!
//! Pure data and functions: no I/O here (the codec lives in `ferry_engine::package`).

use std::collections::{BTreeMap, BTreeSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Unknown JSON fields, kept so that a manifest round-trips.
pub type Extra = BTreeMap<String, serde_json::Value>;

/// Resource type string of a canvas app.
pub const APP_TYPE: &str = "Microsoft.PowerApps/apps";
/// Resource type string of a cloud flow.
pub const FLOW_TYPE: &str = "Microsoft.Flow/flows";
/// Resource type string of a connector (standard or custom).
pub const API_TYPE: &str = "Microsoft.PowerApps/apis";
/// Resource type string of a connection.
pub const CONNECTION_TYPE: &str = "Microsoft.PowerApps/apis/connections";

/// The root `manifest.json` of a legacy export package.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Format version, `"1.0"` in every package seen.
    pub schema: String,
    /// Package-level details (name, description, creator).
    #[serde(default)]
    pub details: PackageDetails,
    /// Resources keyed by their manifest key (a lowercase GUID).
    pub resources: BTreeMap<String, Resource>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `manifest.json` → `details`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PackageDetails {
    /// The package name the exporter chose.
    #[serde(default)]
    pub display_name: String,
    /// Free text from the exporter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Export time as written by the exporter (ISO 8601, kept verbatim).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_time: Option<String>,
    /// Opaque telemetry GUID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_telemetry_id: Option<String>,
    /// Display name of the exporting user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creator: Option<String>,
    /// Source environment name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_environment: Option<String>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One entry of `manifest.json` → `resources`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    /// Standard connectors only: `/providers/Microsoft.PowerApps/apis/<name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Standard connectors only: `shared_<x>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The exact type string, e.g. `Microsoft.PowerApps/apps`; see [`Resource::kind`].
    #[serde(rename = "type")]
    pub resource_type: String,
    /// The action the exporter suggests; one of [`Resource::allowed_actions`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suggested_creation_type: Option<String>,
    /// Allowed import actions as a `", "`-separated list, e.g. `"New, Update"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_type: Option<String>,
    /// Display name and icon.
    #[serde(default)]
    pub details: ResourceDetails,
    /// `User` when the importer chooses, `System` when the platform does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configurable_by: Option<String>,
    /// `Root` or `Child`; absent on apps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hierarchy: Option<String>,
    /// Keys of other resources this one needs; duplicates kept as in the file.
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `resources[*].details`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceDetails {
    /// Display name; for a connection, the account it signs in with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Opaque icon URL (apis and connections).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon_uri: Option<String>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// What a resource is, classified from its manifest type string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    /// A canvas app.
    App,
    /// A cloud flow.
    Flow,
    /// A connector, standard or custom (see [`Resource::is_custom_connector`]).
    Api,
    /// A connection: a connector plus credentials, never exported.
    Connection,
    /// A type not seen in real packages.
    Other,
}

impl ResourceKind {
    /// Classifies an exact manifest type string.
    pub fn of(resource_type: &str) -> Self {
        match resource_type {
            APP_TYPE => Self::App,
            FLOW_TYPE => Self::Flow,
            API_TYPE => Self::Api,
            CONNECTION_TYPE => Self::Connection,
            _ => Self::Other,
        }
    }

    /// The plural word used in package summaries: `apps`, `flows`, `apis`, `connections`.
    pub fn plural(self) -> &'static str {
        match self {
            Self::App => "apps",
            Self::Flow => "flows",
            Self::Api => "apis",
            Self::Connection => "connections",
            Self::Other => "other",
        }
    }
}

impl Resource {
    /// What this resource is.
    pub fn kind(&self) -> ResourceKind {
        ResourceKind::of(&self.resource_type)
    }

    /// A custom connector: an api exported without `id` and `name` (only standard connectors
    /// carry them).
    pub fn is_custom_connector(&self) -> bool {
        self.kind() == ResourceKind::Api && self.id.is_none() && self.name.is_none()
    }

    /// Must the importer bind this resource to an existing one in the target? True for
    /// connections (credentials never travel) and custom connectors (never exported).
    pub fn needs_binding(&self) -> bool {
        self.kind() == ResourceKind::Connection || self.is_custom_connector()
    }

    /// The allowed import actions, split from `creationType` (empty when absent).
    pub fn allowed_actions(&self) -> Vec<&str> {
        self.creation_type
            .as_deref()
            .map(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|action| !action.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `dependsOn` without duplicates, in first-seen order.
    pub fn dependencies(&self) -> Vec<&str> {
        let mut seen = BTreeSet::new();
        self.depends_on
            .iter()
            .map(String::as_str)
            .filter(|key| seen.insert(*key))
            .collect()
    }
}

/// A problem in the dependency graph of a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphProblem {
    /// `resource` lists `missing` in `dependsOn`, but no resource has that key.
    Dangling {
        /// Key of the resource whose `dependsOn` is wrong.
        resource: String,
        /// The key that is not in `resources`.
        missing: String,
    },
    /// `resource` depends on itself, directly or through others.
    Cycle {
        /// Key of a resource on the cycle.
        resource: String,
    },
}

impl Manifest {
    /// Resource keys in an order where every resource comes after everything it depends on:
    /// by level (a resource's level is one more than its dependencies' highest; resources
    /// with none are level 0), ties broken by key, so the order is deterministic. Linear in
    /// the resources and `dependsOn` edges (plus sorting the keys), whatever the graph's shape.
    pub fn import_order(&self) -> Result<Vec<&str>, GraphProblem> {
        // Keys as indexes: `resources` is a BTreeMap, so index order is key order.
        let keys: Vec<&str> = self.resources.keys().map(String::as_str).collect();
        let index = |key: &str| keys.binary_search(&key).ok();
        let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); keys.len()];
        let mut waiting_on: Vec<usize> = vec![0; keys.len()];
        for (i, (key, resource)) in self.resources.iter().enumerate() {
            for dep in resource.dependencies() {
                let Some(d) = index(dep) else {
                    return Err(GraphProblem::Dangling {
                        resource: key.clone(),
                        missing: dep.to_owned(),
                    });
                };
                dependents[d].push(i);
                waiting_on[i] += 1;
            }
        }
        // Kahn's algorithm, keeping each resource's level.
        let mut level = vec![0usize; keys.len()];
        let mut ready: Vec<usize> = (0..keys.len()).filter(|&i| waiting_on[i] == 0).collect();
        let mut placed = Vec::with_capacity(keys.len());
        while let Some(i) = ready.pop() {
            placed.push(i);
            for &next in &dependents[i] {
                level[next] = level[next].max(level[i] + 1);
                waiting_on[next] -= 1;
                if waiting_on[next] == 0 {
                    ready.push(next);
                }
            }
        }
        if placed.len() < keys.len() {
            let stuck = (0..keys.len())
                .find(|&i| waiting_on[i] > 0)
                .map(|i| keys[i].to_owned())
                .unwrap_or_default();
            return Err(GraphProblem::Cycle { resource: stuck });
        }
        placed.sort_unstable_by_key(|&i| (level[i], i));
        Ok(placed.into_iter().map(|i| keys[i]).collect())
    }

    /// Resources nothing else depends on: the tops of the dependency tree.
    pub fn roots(&self) -> Vec<&str> {
        let depended: BTreeSet<&str> = self
            .resources
            .values()
            .flat_map(|r| r.depends_on.iter().map(String::as_str))
            .collect();
        self.resources
            .keys()
            .map(String::as_str)
            .filter(|key| !depended.contains(key))
            .collect()
    }
}

/// `Microsoft.Flow/flows/manifest.json`: the index of flow folders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FlowsManifest {
    /// `"1.0"` in every package seen.
    pub package_schema_version: String,
    /// The flow folders.
    pub flow_assets: FlowAssets,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `flowAssets` of [`FlowsManifest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FlowAssets {
    /// Flow folder names under `Microsoft.Flow/flows/`: the flows' manifest keys.
    #[serde(default)]
    pub asset_paths: Vec<String>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `ferry/provenance.json`: where a package Ferry wrote came from. Other readers ignore it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Provenance {
    /// Tenant the package was exported from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_tenant: Option<String>,
    /// Environment the package was exported from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_environment: Option<String>,
    /// The export migration that produced the package.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export_migration: Option<String>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `ferry/checksums.json`: SHA-256 (lowercase hex) of every other entry of the package.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Checksums {
    /// Always `"sha256"`.
    pub algorithm: String,
    /// Entry path → lowercase hex digest.
    pub files: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests;
