//! What Ferry reads from a Dataverse solution zip's `solution.xml`
//! (`ImportExportXml/SolutionManifest`): [`SolutionSummary`] with its [`Publisher`],
//! [`RootComponent`]s and [`MissingDependency`]s.
//!
//! ## Invariants
//! - A summary is a read-only view: the solution's files are kept verbatim by the codec and a
//!   summary is never written back.
//! - Component types stay numeric ([`RootComponent::component_type`]); [`component_type_name`]
//!   only names the ones seen in real solutions.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The manifest of a solution zip.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SolutionSummary {
    /// `UniqueName`: the solution's technical name.
    pub unique_name: String,
    /// `LocalizedNames/LocalizedName`: display names per language.
    #[serde(default)]
    pub localized_names: Vec<LocalizedText>,
    /// `Descriptions/Description`, when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub descriptions: Option<Vec<LocalizedText>>,
    /// `Version`, four dot-separated numbers, kept verbatim.
    pub version: String,
    /// `Managed`: `1` for a managed solution.
    pub managed: bool,
    /// `Publisher`.
    pub publisher: Publisher,
    /// `RootComponents/RootComponent`, in file order.
    #[serde(default)]
    pub root_components: Vec<RootComponent>,
    /// `MissingDependencies/MissingDependency`, in file order.
    #[serde(default)]
    pub missing_dependencies: Vec<MissingDependency>,
}

impl SolutionSummary {
    /// `"<UniqueName> <Version>"`, the name Ferry shows for a solution.
    pub fn display_name(&self) -> String {
        format!("{} {}", self.unique_name, self.version)
    }
}

/// A text with its language (`description` + `languagecode` attributes).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LocalizedText {
    /// The text.
    pub description: String,
    /// Windows language code, e.g. 1033.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language_code: Option<u32>,
}

/// `SolutionManifest/Publisher`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Publisher {
    /// `UniqueName`.
    pub unique_name: String,
    /// `LocalizedNames/LocalizedName`.
    #[serde(default)]
    pub localized_names: Vec<LocalizedText>,
    /// `CustomizationPrefix`, prepended to the publisher's component names.
    pub customization_prefix: String,
    /// `CustomizationOptionValuePrefix`, when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customization_option_value_prefix: Option<String>,
}

/// `RootComponents/RootComponent`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RootComponent {
    /// `@type`: the Dataverse component type number (see [`component_type_name`]).
    #[serde(rename = "type")]
    pub component_type: u32,
    /// `@schemaName`, when the component is named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_name: Option<String>,
    /// `@id`, a braced GUID, when the component is identified by id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `@behavior`: 0 include subcomponents, 1 do not, 2 shell only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub behavior: Option<u8>,
}

/// `MissingDependencies/MissingDependency`: a component the target must already have.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MissingDependency {
    /// `Required`: what must exist in the target.
    pub required: ComponentRef,
    /// `Dependent`: the solution's component that needs it.
    pub dependent: ComponentRef,
}

/// The `Required` or `Dependent` element of a [`MissingDependency`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ComponentRef {
    /// `@type`, the component type number.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub component_type: Option<u32>,
    /// `@schemaName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_name: Option<String>,
    /// `@displayName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `@id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `@solution`, e.g. `msdynce_Sales (9.0.4.0076)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub solution: Option<String>,
    /// The text of a `package` child element, when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// Every other attribute, verbatim.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

/// The name of a solution component type seen in real solutions, e.g. 300 → `CanvasApp`.
/// Numbers come from the Dataverse `componenttype` option set; 80 is an inference.
pub fn component_type_name(component_type: u32) -> Option<&'static str> {
    Some(match component_type {
        1 => "Entity",
        2 => "Attribute",
        9 => "OptionSet",
        10 => "EntityRelationship",
        20 => "Role",
        26 => "SavedQuery",
        29 => "Workflow",
        60 => "SystemForm",
        61 => "WebResource",
        62 => "SiteMap",
        70 => "FieldSecurityProfile",
        80 => "AppModule",
        91 => "PluginAssembly",
        92 => "SdkMessageProcessingStep",
        300 => "CanvasApp",
        371 => "Connector",
        372 => "Connector",
        380 => "EnvironmentVariableDefinition",
        401 => "AIProject",
        431 => "AttributeImageConfig",
        432 => "EntityImageConfig",
        _ => return None,
    })
}

/// `Name(type)` for display, `Component(type)` when the number is not known.
pub fn component_label(component_type: u32) -> String {
    let name = component_type_name(component_type).unwrap_or("Component");
    format!("{name}({component_type})")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests {
    use super::*;

    #[test]
    fn labels_known_and_unknown_types() {
        assert_eq!(component_label(300), "CanvasApp(300)");
        assert_eq!(component_label(9999), "Component(9999)");
    }

    #[test]
    fn root_component_type_serializes_as_type() {
        let c = RootComponent {
            component_type: 29,
            id: Some("{x}".into()),
            ..RootComponent::default()
        };
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["type"], 29);
        assert!(json.get("schema_name").is_none());
    }
}
