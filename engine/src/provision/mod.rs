//! Provisioning: one package into many target environments — a targets file, an answer
//! template, waves with a failure-rate limit, every target's import on the log and resumable.
//!
//! - [`targets`] parses the CSV of targets; [`template`] the answer rules and what they answer.
//! - [`Provision`] is the run as a fold of its stream; [`outcome`] reads a target's outcome
//!   from its import.
//! - [`Run`] queues targets through the executor; the caller runs the imports (the worker
//!   pool) and closes each wave with [`Run::finish_wave`].
//!
//! ## Invariants
//! - A run's id is derived from its inputs: the same command continues the same run.
//! - A target's import id is derived from the run and the target's index, and its request,
//!   review, answers and start are one append at version 0: a target is imported at most once.
//! - A target that cannot be imported or answered never stops the others: it is recorded as
//!   skipped (failed) or its import stays in review (blocked), with the reason.

mod run;
mod state;
pub mod targets;
pub mod template;

pub use run::{Queued, Run};
pub use state::{migration_of, outcome, waves, Provision, TargetOutcome};
pub use targets::Target;
pub use template::Template;
