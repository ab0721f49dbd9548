//! An answers skeleton for an import in review, as `pac solution create-settings` makes one
//! for a solution: a TOML file with every item that needs input, what it is (kind, connector,
//! the exporter's comment) and its candidates as comments. Filled in, it is what
//! `ferry answer --answers-file` and `ferry import --answers` take; items left empty stay
//! unanswered.

use std::fmt::Write as _;

use ferry_schemas::MigrationId;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::views::ReviewView;
use super::{Caller, Ferry, Result};

/// An import's answers skeleton.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AnswersTemplate {
    /// The import migration.
    pub migration: MigrationId,
    /// The TOML text to fill in.
    pub toml: String,
}

impl Ferry {
    /// `review <migration> --answers-template`.
    pub fn answers_template(&self, caller: &Caller, id: MigrationId) -> Result<AnswersTemplate> {
        Ok(AnswersTemplate {
            migration: id,
            toml: template(&self.review(caller, id)?),
        })
    }
}

/// A TOML string literal (basic string, escaped): names come from packages.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A comment line's text: one line, no control characters.
fn comment(text: &str) -> String {
    crate::untrusted::excerpt(text).into_owned()
}

/// The skeleton of `review`'s answers.
pub fn template(review: &ReviewView) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Answers for import {} of {}.",
        review.migration,
        comment(&review.package)
    );
    let _ = writeln!(
        out,
        "# Give each item a choice: existing:<id or name> binds a resource of the target,\n\
         # new[:<name>] creates one, update:<id or name> saves a draft of an app or flow.\n\
         # Items left \"\" stay unanswered. Then: ferry answer {} --answers-file <this file>",
        review.migration
    );
    let _ = writeln!(out, "\n[answers]");
    let pending: Vec<_> = review.items.iter().filter(|i| i.needs_input).collect();
    if pending.is_empty() {
        let _ = writeln!(out, "# nothing needs input");
    }
    for item in pending {
        let _ = writeln!(out);
        let mut what = format!("{} {}", item.kind, comment(&item.name));
        if let Some(connector) = &item.connector {
            let _ = write!(what, " (connector {})", comment(connector));
        }
        let _ = writeln!(out, "# {what}");
        if let Some(text) = &item.comment {
            let _ = writeln!(out, "# the exporter says: {}", comment(text));
        }
        if item.candidates.is_empty() {
            let _ = writeln!(
                out,
                "# no candidate in the target yet: create one, or answer new[:<name>] where allowed"
            );
        }
        for candidate in &item.candidates {
            let _ = writeln!(
                out,
                "#   existing:{}   {}",
                candidate.id,
                comment(&candidate.name)
            );
        }
        let chosen = item
            .answer
            .as_ref()
            .and_then(|a| a.target.map(|t| format!("existing:{t}")))
            .unwrap_or_default();
        let _ = writeln!(out, "{} = {}", quoted(&item.label), quoted(&chosen));
    }
    out
}
