//! Migrations: an import as a state machine over its own stream — requested and reviewed,
//! answered, started, then one step per resource, each step's change to the target
//! environment committed in the same append as its record.
//!
//! - [`Import`] is the fold of a migration stream's events ([`Import::apply`]).
//! - The pure decisions: [`request`], [`answer`], [`start`] (in `decide`) and [`next_step`]
//!   (in `step`).
//!
//! ## Invariants
//! - Items run in dependency order; an item runs once: its outcome is on the stream, and the
//!   next step is always the first item without one.
//! - An update never overwrites: it saves a draft, and only if the target's revision is the one
//!   the answer saw (otherwise `changed-since-review`).
//! - An atomic import whose step failed undoes every applied change, newest first, before it
//!   completes.

mod decide;
mod label;
mod plan;
mod rejection;
mod state;
mod step;

pub use decide::{
    answer, cancel, find_item, fits, phase_name, request, start, state_name, Choice, Request,
};
pub use label::labels;
pub use plan::{update_plan, update_target, Aspect, Difference};
pub use rejection::{Category, Rejection};
pub use state::{needs_input, Answer, Import, Item, Outcome, Phase};
pub use step::{next_step, Step};

#[cfg(test)]
mod tests;
