//! What `ferry package inspect` reports about a package: a serializable model built from a
//! [`Package`], shared by the human-readable output and `--json`.
//!
//! ## Invariants
//! - Legacy resources are listed in import order (dependencies first) and their
//!   `depends_on` is deduplicated.
//! - `needs_input` is true exactly for resources the importer must bind to an existing one in
//!   the target: connections and custom connectors.

use std::collections::BTreeMap;

use ferry_schemas::manifest::ResourceKind;
use ferry_schemas::solution::{
    component_label, MissingDependency, Publisher, RootComponent, SolutionSummary,
};
use serde::Serialize;

use super::{Contents, Legacy, Package};

/// The inspection report of one package.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Report {
    /// `legacy` or `solution`.
    pub kind: &'static str,
    /// Legacy: `details.displayName`; solution: `"<UniqueName> <Version>"`.
    pub display_name: String,
    /// Counts by type, e.g. `apps 1, flows 1, apis 2` or
    /// `Workflow(29) 1; MissingDependency 0`.
    pub summary: String,
    /// The public key whose signature over the package verified; null: unsigned.
    pub signer: Option<String>,
    /// Kind-specific fields, flattened into the report.
    #[serde(flatten)]
    pub details: Details,
}

/// The kind-specific part of a [`Report`].
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Details {
    /// A legacy package.
    Legacy(LegacyDetails),
    /// A solution.
    Solution(SolutionDetails),
}

/// What a legacy package holds.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct LegacyDetails {
    /// Resources in import order.
    pub resources: Vec<ResourceRow>,
    /// Keys of resources nothing depends on: the tops of the dependency tree.
    pub roots: Vec<String>,
}

/// One resource of a legacy package.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct ResourceRow {
    /// Manifest key.
    pub key: String,
    /// The manifest type string, verbatim.
    #[serde(rename = "type")]
    pub resource_type: String,
    /// The classified kind.
    pub kind: ResourceKind,
    /// True for an api without id/name.
    pub custom_connector: bool,
    /// `details.displayName`.
    pub display_name: Option<String>,
    /// Standard connector's technical name (`shared_<x>`).
    pub connector_name: Option<String>,
    /// `suggestedCreationType`.
    pub suggested_action: Option<String>,
    /// `creationType`, split.
    pub allowed_actions: Vec<String>,
    /// Must be bound to an existing resource in the target at import.
    pub needs_input: bool,
    /// `dependsOn`, deduplicated.
    pub depends_on: Vec<String>,
    /// The exporter's comment for the importer (Ferry's `details.ferryComment`).
    pub comment: Option<String>,
}

impl ResourceRow {
    /// A short word for the row's kind: `app`, `flow`, `connector`, `custom connector`,
    /// `connection`, `other`.
    pub fn kind_label(&self) -> &'static str {
        match self.kind {
            ResourceKind::App => "app",
            ResourceKind::Flow => "flow",
            ResourceKind::Api if self.custom_connector => "custom connector",
            ResourceKind::Api => "connector",
            ResourceKind::Connection => "connection",
            ResourceKind::Other => "other",
        }
    }
}

/// What a solution holds.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct SolutionDetails {
    /// `UniqueName`.
    pub unique_name: String,
    /// First `LocalizedName`, when any.
    pub localized_name: Option<String>,
    /// `Version`.
    pub version: String,
    /// `Managed`.
    pub managed: bool,
    /// `Publisher`.
    pub publisher: Publisher,
    /// `RootComponents`, in file order.
    pub root_components: Vec<ComponentRow>,
    /// `MissingDependencies`: what the target must already have.
    pub missing_dependencies: Vec<MissingDependency>,
}

/// A root component with its type's name.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct ComponentRow {
    /// The component as read.
    #[serde(flatten)]
    pub component: RootComponent,
    /// `Name(type)`, e.g. `CanvasApp(300)`.
    pub type_label: String,
}

impl Report {
    /// Builds the report of `package`.
    pub fn new(package: &Package) -> Self {
        let (summary, details) = match &package.contents {
            Contents::Legacy(legacy) => (legacy_summary(legacy), legacy_details(legacy)),
            Contents::Solution(s) => (solution_summary(s), solution_details(s)),
        };
        Self {
            kind: package.kind().as_str(),
            display_name: package.display_name(),
            summary,
            signer: package.signer.clone(),
            details,
        }
    }
}

fn legacy_details(legacy: &Legacy) -> Details {
    let resources = legacy
        .import_order
        .iter()
        .filter_map(|key| legacy.manifest.resources.get(key).map(|r| (key, r)))
        .map(|(key, r)| ResourceRow {
            key: key.clone(),
            resource_type: r.resource_type.clone(),
            kind: r.kind(),
            custom_connector: r.is_custom_connector(),
            display_name: r.details.display_name.clone(),
            connector_name: r.name.clone(),
            suggested_action: r.suggested_creation_type.clone(),
            allowed_actions: r.allowed_actions().into_iter().map(str::to_owned).collect(),
            needs_input: r.needs_binding(),
            depends_on: r.dependencies().into_iter().map(str::to_owned).collect(),
            comment: r
                .details
                .extra
                .get(super::review::COMMENT)
                .and_then(|c| c.as_str())
                .map(str::to_owned),
        })
        .collect();
    let roots = legacy
        .manifest
        .roots()
        .into_iter()
        .map(str::to_owned)
        .collect();
    Details::Legacy(LegacyDetails { resources, roots })
}

/// `apps 1, flows 1, apis 2, connections 2 (custom connector refs 1)`: counts by kind in
/// that order, zero counts left out.
fn legacy_summary(legacy: &Legacy) -> String {
    let mut counts: BTreeMap<ResourceKind, usize> = BTreeMap::new();
    for resource in legacy.manifest.resources.values() {
        *counts.entry(resource.kind()).or_default() += 1;
    }
    let mut summary = counts
        .iter()
        .map(|(kind, n)| format!("{} {n}", kind.plural()))
        .collect::<Vec<_>>()
        .join(", ");
    let custom = legacy
        .manifest
        .resources
        .values()
        .filter(|r| r.is_custom_connector())
        .count();
    if custom > 0 {
        summary.push_str(&format!(" (custom connector refs {custom})"));
    }
    summary
}

/// `CanvasApp(300) 1, Connector(372) 1; MissingDependency 0`: root components counted by
/// type in numeric order, then the missing dependencies.
fn solution_summary(summary: &SolutionSummary) -> String {
    let mut counts: BTreeMap<u32, usize> = BTreeMap::new();
    for component in &summary.root_components {
        *counts.entry(component.component_type).or_default() += 1;
    }
    let components = counts
        .iter()
        .map(|(t, n)| format!("{} {n}", component_label(*t)))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "{components}; MissingDependency {}",
        summary.missing_dependencies.len()
    )
}

fn solution_details(summary: &SolutionSummary) -> Details {
    Details::Solution(SolutionDetails {
        unique_name: summary.unique_name.clone(),
        localized_name: summary
            .localized_names
            .first()
            .map(|n| n.description.clone()),
        version: summary.version.clone(),
        managed: summary.managed,
        publisher: summary.publisher.clone(),
        root_components: summary
            .root_components
            .iter()
            .map(|c| ComponentRow {
                component: c.clone(),
                type_label: component_label(c.component_type),
            })
            .collect(),
        missing_dependencies: summary.missing_dependencies.clone(),
    })
}
