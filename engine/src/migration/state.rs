//! An import migration as a fold of its stream's events.

use ferry_schemas::environment::Change;
use ferry_schemas::event::{Event, ReviewItem};
use ferry_schemas::resource::Action;
use ferry_schemas::{Digest, EnvironmentId, MigrationId, PrincipalId, ResourceId};
use serde::{Deserialize, Serialize};

/// Where an import is in its life.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Nothing recorded yet.
    New,
    /// Reviewed; waiting for answers and `start`.
    Review,
    /// Started: workers apply its steps.
    Running,
    /// A step of an atomic import failed: workers undo the applied steps.
    RollingBack,
    /// Every step ran (or was undone).
    Completed,
    /// Cancelled by a user: nothing more runs (what ran before stays).
    Cancelled,
    /// Stopped for good before any step (e.g. the package failed validation).
    Failed {
        /// Stable reason.
        code: String,
        /// What went wrong.
        message: String,
    },
}

/// The choice made for one review item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    /// What to do.
    pub action: Action,
    /// The target to update or bind.
    pub target: Option<ResourceId>,
    /// A new name, for `New`.
    pub name: Option<String>,
    /// The update target's revision when answered.
    pub target_revision: Option<u64>,
}

/// What a step did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    /// It took effect.
    Applied {
        /// What was done.
        action: Action,
        /// The target resource.
        target: Option<ResourceId>,
        /// The change committed.
        change: Option<Change>,
    },
    /// It failed.
    Failed {
        /// Stable reason.
        code: String,
        /// What went wrong and what to do.
        message: String,
    },
    /// It had taken effect and was undone.
    Reverted {
        /// What had been done.
        action: Action,
    },
}

/// One item of the import: its review, the answer, the outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// As reviewed.
    pub review: ReviewItem,
    /// The explicit answer, if given.
    pub answer: Option<Answer>,
    /// What its step did, once it ran.
    pub outcome: Option<Outcome>,
}

impl Item {
    /// The action its step will take: the answer's, else the suggested one.
    pub fn action(&self) -> Action {
        self.answer
            .as_ref()
            .map_or(self.review.suggested_action, |a| a.action)
    }

    /// Whether it still blocks `start`: it needs a binding or an update target that no answer
    /// gave.
    pub fn needs_input(&self) -> bool {
        match &self.answer {
            Some(answer) => answer.action != Action::New && answer.target.is_none(),
            None => needs_input(&self.review),
        }
    }
}

/// Whether a reviewed item blocks `start` until it is answered: it needs a binding, or it is
/// an update whose target only an answer names. Every count of items "needing input" (the
/// review, the status list, the audit log) is of this.
pub fn needs_input(review: &ReviewItem) -> bool {
    review.needs_input || matches!(review.suggested_action, Action::Update)
}

/// An import migration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Import {
    /// Its id.
    pub id: MigrationId,
    /// The target environment.
    pub environment: EnvironmentId,
    /// The stored package.
    pub package: Digest,
    /// The package's display name.
    pub package_name: String,
    /// Who imports (None: the operator).
    pub importer: Option<PrincipalId>,
    /// Review only.
    pub dry_run: bool,
    /// Where it is.
    pub phase: Phase,
    /// Undo everything if a step fails.
    pub atomic: bool,
    /// Items in dependency order.
    pub items: Vec<Item>,
    /// The stream version this state reflects.
    pub version: u64,
    /// Who signed the package, as recorded at the request; None: unsigned.
    pub signer: Option<ferry_schemas::event::Signer>,
    /// An atomic import whose failed step undid the others: completed, rolled back.
    #[serde(default)]
    pub rolled_back: bool,
    /// When it was requested (None only in projections saved before it was kept).
    #[serde(default)]
    pub requested_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Cancelled, and why (empty: not said); an atomic one undoes what it applied first.
    #[serde(default)]
    pub cancelled: Option<String>,
    /// A cancelled dry run: the real import it was promoted to.
    #[serde(default)]
    pub promoted_to: Option<MigrationId>,
    /// Where each manifest key is in `items` (lookups stay constant-time on packages of
    /// thousands of items); checked on use, so a changed `items` is never misread. Not
    /// saved: [`Import::reindex`] rebuilds it.
    #[serde(skip)]
    index: std::collections::HashMap<String, usize>,
}

impl Import {
    /// The state before any event.
    pub fn new(id: MigrationId) -> Import {
        Import {
            id,
            environment: EnvironmentId::NIL,
            package: Digest::of(b""),
            package_name: String::new(),
            importer: None,
            dry_run: false,
            phase: Phase::New,
            atomic: false,
            items: Vec::new(),
            version: 0,
            signer: None,
            rolled_back: false,
            requested_at: None,
            cancelled: None,
            promoted_to: None,
            index: std::collections::HashMap::new(),
        }
    }

    /// Rebuilds the index of items by manifest key (after loading a saved import).
    pub(crate) fn reindex(&mut self) {
        self.index = self
            .items
            .iter()
            .enumerate()
            .map(|(i, item)| (item.review.manifest_key.clone(), i))
            .collect();
    }

    /// Where the item with manifest key `key` is.
    fn position(&self, key: &str) -> Option<usize> {
        match self.index.get(key) {
            Some(&i)
                if self
                    .items
                    .get(i)
                    .is_some_and(|item| item.review.manifest_key == key) =>
            {
                Some(i)
            }
            _ => self.items.iter().position(|i| i.review.manifest_key == key),
        }
    }

    /// The item with manifest key `key`.
    pub fn item(&self, key: &str) -> Option<&Item> {
        self.position(key).and_then(|i| self.items.get(i))
    }

    fn item_mut(&mut self, key: &str) -> Option<&mut Item> {
        self.position(key).and_then(|i| self.items.get_mut(i))
    }

    /// Items that still block `start`.
    pub fn pending(&self) -> Vec<&Item> {
        self.items.iter().filter(|i| i.needs_input()).collect()
    }

    /// Whether a worker has something to do for it.
    pub fn runnable(&self) -> bool {
        matches!(self.phase, Phase::Running | Phase::RollingBack)
    }

    /// Folds one event of the migration's stream in.
    pub fn apply(&mut self, event: &Event) {
        self.version += 1;
        match event {
            Event::ImportRequested(e) => {
                self.environment = e.environment;
                self.package = e.package;
                self.package_name = e.package_name.clone();
                self.importer = e.importer;
                self.dry_run = e.dry_run;
                self.signer = e.signer.clone();
                self.requested_at = Some(e.requested_at);
            }
            Event::PackageValidated(e) => {
                self.items = e
                    .items
                    .iter()
                    .map(|review| Item {
                        review: review.clone(),
                        answer: None,
                        outcome: None,
                    })
                    .collect();
                self.reindex();
                self.phase = Phase::Review;
            }
            Event::AnswerGiven(e) => {
                if let Some(item) = self.item_mut(&e.manifest_key) {
                    item.answer = Some(Answer {
                        action: e.action,
                        target: e.target,
                        name: e.name.clone(),
                        target_revision: e.target_revision,
                    });
                }
            }
            Event::ImportStarted(e) => {
                self.atomic = e.atomic;
                self.phase = Phase::Running;
            }
            Event::StepApplied(e) => {
                if let Some(item) = self.item_mut(&e.manifest_key) {
                    item.outcome = Some(Outcome::Applied {
                        action: e.action,
                        target: e.target,
                        change: e.change.clone(),
                    });
                }
            }
            Event::StepFailed(e) => {
                if let Some(item) = self.item_mut(&e.manifest_key) {
                    item.outcome = Some(Outcome::Failed {
                        code: e.code.clone(),
                        message: e.message.clone(),
                    });
                }
                if self.atomic {
                    self.phase = Phase::RollingBack;
                }
            }
            Event::StepReverted(e) => {
                if let Some(item) = self.item_mut(&e.manifest_key) {
                    let action = item.action();
                    item.outcome = Some(Outcome::Reverted { action });
                }
            }
            Event::ImportCompleted(e) => {
                self.phase = if self.cancelled.is_some() {
                    Phase::Cancelled
                } else {
                    Phase::Completed
                };
                self.rolled_back = e.rolled_back;
            }
            Event::ImportCancelled(e) => {
                self.cancelled = Some(e.reason.clone());
                self.promoted_to = e.promoted_to;
                // An atomic import undoes what it applied, then completes as cancelled.
                let applied = self
                    .items
                    .iter()
                    .any(|i| matches!(i.outcome, Some(Outcome::Applied { .. })));
                self.phase = match self.phase {
                    Phase::Running if self.atomic && applied => Phase::RollingBack,
                    _ => Phase::Cancelled,
                };
            }
            Event::MigrationFailed(e) => {
                self.phase = Phase::Failed {
                    code: e.code.clone(),
                    message: e.message.clone(),
                }
            }
            _ => {}
        }
    }
}
