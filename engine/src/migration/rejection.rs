//! Why a migration command is refused, with a stable code and a message that says what to do.

use ferry_schemas::resource::{Action, Kind};
use ferry_schemas::ResourceId;

/// What kind of refusal it is; the CLI maps it to an exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category {
    /// The request itself is wrong (bad item, bad target).
    InvalidInput,
    /// The migration waits for something (answers, a default environment).
    Blocked,
    /// The migration is not in a state that allows it.
    Conflict,
}

/// A refused migration command.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// No item with that key, label or name.
    #[error("the package has no item {0:?}; `ferry review` lists each item's label")]
    NoSuchItem(String),
    /// A display name matched several items.
    #[error("{name:?} names several items; answer by label: {}", labels.join(", "))]
    AmbiguousItem {
        /// The name given.
        name: String,
        /// The labels of the items it names.
        labels: Vec<String>,
    },
    /// The package does not allow that action for the item.
    #[error("{item}: {action} is not allowed; the package allows {}", allowed.iter().map(Action::as_str).collect::<Vec<_>>().join(", "))]
    ActionNotAllowed {
        /// The item.
        item: String,
        /// The action asked for.
        action: Action,
        /// What the package allows.
        allowed: Vec<Action>,
    },
    /// `update` or `existing` without a target.
    #[error("{item}: {action} needs a target: `{item}={}:<id or name>`", action.as_str().to_lowercase())]
    TargetRequired {
        /// The item.
        item: String,
        /// The action.
        action: Action,
    },
    /// The target is not in the import's environment.
    #[error("{item}: no {kind} {target:?} in the target environment")]
    NoSuchTarget {
        /// The item.
        item: String,
        /// The kind looked for.
        kind: Kind,
        /// The reference given.
        target: String,
    },
    /// A name matched several resources.
    #[error("{item}: {target:?} names several resources ({}); answer with an id", ids.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))]
    AmbiguousTarget {
        /// The item.
        item: String,
        /// The name given.
        target: String,
        /// The resources it matches.
        ids: Vec<ResourceId>,
    },
    /// The target is of the wrong connector.
    #[error("{item}: {target} uses connector {actual}, but the item needs {expected}; pick a connection of {expected}")]
    WrongConnector {
        /// The item.
        item: String,
        /// The target.
        target: String,
        /// What the item needs.
        expected: String,
        /// What the target has.
        actual: String,
    },
    /// The importer may not use the target.
    #[error("{item}: connection {target} belongs to another user; ask them to share it, or create your own")]
    NotUsable {
        /// The item.
        item: String,
        /// The target.
        target: String,
    },
    /// The migration is past the stage where this is possible.
    #[error("migration is {phase}; {what} is only possible {when}")]
    WrongPhase {
        /// Where the migration is.
        phase: &'static str,
        /// What was asked.
        what: &'static str,
        /// When it would be possible.
        when: &'static str,
    },
    /// A dry run never applies anything.
    #[error(
        "this import is a dry run and never applies anything; promote it to a real import with \
         its answers (`ferry promote <migration>`, POST /v1/imports/{{id}}/promote), or cancel it"
    )]
    DryRun,
    /// Items still need answers.
    #[error("{} item(s) need input first: {}", keys.len(), keys.join(", "))]
    NeedsInput {
        /// Their keys.
        keys: Vec<String>,
    },
    /// A gateway is only usable in a default environment.
    #[error("{} item(s) reach on-premises data through a gateway ({}), which only a tenant's default environment can use; import into the default environment instead", keys.len(), keys.join(", "))]
    GatewayNeedsDefault {
        /// The items.
        keys: Vec<String>,
    },
}

impl Rejection {
    /// The refusal's category.
    pub fn category(&self) -> Category {
        match self {
            Rejection::WrongPhase { .. } | Rejection::DryRun => Category::Conflict,
            Rejection::NeedsInput { .. } | Rejection::GatewayNeedsDefault { .. } => {
                Category::Blocked
            }
            _ => Category::InvalidInput,
        }
    }
}
