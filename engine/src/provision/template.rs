//! The answer template: rules that answer an import's review for each target, so thousands of
//! targets need no one at the keyboard.
//!
//! ```toml
//! # Bind each connection of a connector to the target's connection whose account matches.
//! [[bind]]
//! connector = "shared_office365"          # omit: any connector
//! account = "*@{tenant}.example"          # glob; {tenant} and {environment} are substituted
//!
//! # Bind the custom connector whose name matches.
//! [[bind]]
//! kind = "custom-connector"
//! name = "Contoso API*"
//!
//! # Apps and flows: update what an earlier import of this package created (the identity map),
//! # else create new ("identity"); always create new ("new"); or leave the package's suggestion.
//! [update]
//! apps = "identity"
//! flows = "identity"
//!
//! # Fixed answers by item key or display name (placeholders allowed).
//! [answers]
//! "Approvals" = "existing:approvals@{tenant}.example"
//! ```
//! A target's own CSV columns override `[answers]`. Whatever is still unanswered after the
//! rules leaves the target blocked, with the reason; the other targets go on.

use std::collections::BTreeMap;

use ferry_schemas::resource::Kind;
use serde::Deserialize;

use super::Target;
use crate::environment::Contents;
use crate::migration::{Choice, Import, Item};

/// The template's rules.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// Binding rules for connections and custom connectors, first match wins.
    #[serde(default)]
    pub bind: Vec<Bind>,
    /// What to do with apps and flows.
    #[serde(default)]
    pub update: Update,
    /// Fixed answers by item key or display name.
    #[serde(default)]
    pub answers: BTreeMap<String, String>,
}

/// One binding rule.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bind {
    /// `connection` (default) or `custom-connector`.
    #[serde(default)]
    pub kind: Option<String>,
    /// Only items of this connector (technical name).
    #[serde(default)]
    pub connector: Option<String>,
    /// Glob over the connection's account (or the custom connector's name).
    #[serde(alias = "name")]
    pub account: String,
}

/// Apps' and flows' policy.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Update {
    /// For apps.
    #[serde(default)]
    pub apps: Policy,
    /// For flows.
    #[serde(default)]
    pub flows: Policy,
}

/// What to do with an app or flow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    /// Update what the identity map says an earlier import created, else create new.
    Identity,
    /// Always create new.
    New,
    /// Answer nothing: the package's suggestion stands (an update suggestion then blocks).
    #[default]
    Suggested,
}

/// Why a template does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("answer template: {0}")]
pub struct Error(pub String);

/// Parses a template.
pub fn parse(text: &str) -> Result<Template, Error> {
    let template: Template =
        toml::from_str(text).map_err(|e| Error(crate::untrusted::toml_error(&e, text)))?;
    for rule in &template.bind {
        if let Some(kind) = &rule.kind {
            if kind != "connection" && kind != "custom-connector" {
                return Err(Error(format!(
                    "[[bind]] kind {kind:?}: use connection or custom-connector"
                )));
            }
        }
    }
    Ok(template)
}

/// `*` matches any run of characters, everything else itself (case-insensitively).
fn glob(pattern: &str, text: &str) -> bool {
    let (pattern, text) = (pattern.to_lowercase(), text.to_lowercase());
    let parts: Vec<&str> = pattern.split('*').collect();
    let [first, middle @ .., last] = parts.as_slice() else {
        return pattern == text;
    };
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

fn substitute(text: &str, target: &Target) -> String {
    text.replace("{tenant}", target.tenant.as_str())
        .replace("{environment}", target.environment.as_str())
}

/// The answers the template and the target's own columns give `import` (in review), and what
/// they leave unanswered. Choices are still checked by [`crate::migration::answer`].
pub fn answers(
    import: &Import,
    contents: &Contents,
    template: &Template,
    target: &Target,
) -> Vec<(String, Choice)> {
    let fixed = |item: &Item| {
        let named =
            |name: &String| *name == item.review.manifest_key || *name == item.review.display_name;
        target
            .answers
            .iter()
            .find(|(name, _)| named(name))
            .map(|(_, choice)| choice)
            .or_else(|| {
                template
                    .answers
                    .iter()
                    .find(|(name, _)| named(name))
                    .map(|(_, c)| c)
            })
            .and_then(|choice| Choice::parse(&substitute(choice, target)))
    };
    let resources = contents.of(import.environment);
    let bind = |item: &Item| {
        let kind = item.review.kind;
        template.bind.iter().find_map(|rule| {
            let rule_kind = rule.kind.as_deref().unwrap_or("connection");
            let fits_kind = (kind == Kind::Connection && rule_kind == "connection")
                || (kind == Kind::CustomConnector && rule_kind == "custom-connector");
            let fits_connector = kind != Kind::Connection
                || rule.connector.is_none()
                || rule.connector == item.review.connector;
            if !fits_kind || !fits_connector {
                return None;
            }
            let pattern = substitute(&rule.account, target);
            let matching: Vec<_> = resources
                .iter()
                .filter(|r| r.kind == kind && glob(&pattern, &r.name))
                .filter(|r| {
                    kind != Kind::Connection
                        || r.connector == item.review.connector
                        || item.review.connector.is_none()
                })
                .collect();
            match matching.as_slice() {
                [one] => Some(Choice::Existing(one.id.to_string())),
                _ => None,
            }
        })
    };
    let policy = |item: &Item| match item.review.kind {
        Kind::App => Some(template.update.apps),
        Kind::Flow => Some(template.update.flows),
        _ => None,
    };
    import
        .items
        .iter()
        .filter_map(|item| {
            let choice = fixed(item).or_else(|| match item.review.kind {
                Kind::Connection | Kind::CustomConnector => bind(item),
                _ => match policy(item)? {
                    Policy::Identity => Some(match item.review.suggested_target {
                        Some(target) => Choice::Update(target.to_string()),
                        None => Choice::New(None),
                    }),
                    Policy::New => Some(Choice::New(None)),
                    Policy::Suggested => None,
                },
            })?;
            Some((item.review.manifest_key.clone(), choice))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_like_shells_do() {
        assert!(glob("*@acme.example", "ops@ACME.example"));
        assert!(glob("ops@*", "ops@acme.example"));
        assert!(glob("*", ""));
        assert!(glob("a*b*c", "a-x-b-y-c"));
        assert!(!glob("*@acme.example", "ops@beta.example"));
        assert!(!glob("a*b", "ab-"));
        assert!(glob("exact", "EXACT"));
    }

    #[test]
    fn templates_parse_and_refuse_unknown_fields() {
        let t = parse("[[bind]]\nconnector = \"shared_office365\"\naccount = \"*@{tenant}.example\"\n[update]\napps = \"identity\"\n").unwrap();
        assert_eq!(t.bind.len(), 1);
        assert_eq!(t.update.apps, Policy::Identity);
        assert_eq!(t.update.flows, Policy::Suggested);
        assert!(parse("[[bind]]\naccount = \"x\"\nkind = \"app\"\n").is_err());
        assert!(parse("[update]\napps = \"sometimes\"\n").is_err());
        assert!(parse("bogus = 1\n").is_err());
    }
}
