//! Resource kinds and import actions: the domain words shared by events, packages and the CLI.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What a resource is.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A canvas app.
    App,
    /// A cloud flow.
    Flow,
    /// A standard connector, available in every environment.
    Connector,
    /// A custom connector: never exported, bound to an existing one in the target.
    CustomConnector,
    /// A connector plus credentials: never exported with credentials, bound in the target.
    Connection,
    /// An on-premises data gateway: only usable in a tenant's default environment.
    Gateway,
}

impl Kind {
    /// Every kind, in the order resources are listed.
    pub const ALL: [Kind; 6] = [
        Kind::App,
        Kind::Flow,
        Kind::Connector,
        Kind::CustomConnector,
        Kind::Connection,
        Kind::Gateway,
    ];
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::App => "app",
            Kind::Flow => "flow",
            Kind::Connector => "connector",
            Kind::CustomConnector => "custom-connector",
            Kind::Connection => "connection",
            Kind::Gateway => "gateway",
        })
    }
}

/// What an import does with one resource of a package (the manifest's `creationType` words).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub enum Action {
    /// Create a new resource in the target.
    New,
    /// Update an existing resource of the target (an app update lands as a draft).
    Update,
    /// Select an existing resource of the target (connections, connectors).
    Existing,
}

impl Action {
    /// The manifest's spelling: `New`, `Update`, `Existing`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Action::New => "New",
            Action::Update => "Update",
            Action::Existing => "Existing",
        }
    }

    /// Parses the manifest's spelling, ignoring ASCII case.
    pub fn parse(word: &str) -> Option<Action> {
        [Action::New, Action::Update, Action::Existing]
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(word.trim()))
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_parses_manifest_words_in_any_case() {
        assert_eq!(Action::parse(" existing"), Some(Action::Existing));
        assert_eq!(Action::parse("Update"), Some(Action::Update));
        assert_eq!(Action::parse("Delete"), None);
    }
}
