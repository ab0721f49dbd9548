//! Migrations: an import as a state machine over its own stream — requested and reviewed,
//! answered, started, then one step per resource, each step's change to the target
//! environment committed in the same append as its record.
//!
//! - [`Import`] is the fold of a migration stream's events ([`Import::apply`]).
//! - [`decide`] holds the pure decisions: [`request`], [`answer`], [`start`], [`next_step`].
//!
//! ## Invariants
//! - Items run in dependency order; an item runs once: its outcome is on the stream, and the
//!   next step is always the first item without one.
//! - An update never overwrites: it saves a draft, and only if the target's revision is the one
//!   the answer saw (otherwise `changed-since-review`).
//! - An atomic import whose step failed undoes every applied change, newest first, before it
//!   completes.

mod decide;
mod rejection;
mod state;

pub use decide::{answer, find_item, next_step, phase_name, request, start, Choice, Request, Step};
pub use rejection::{Category, Rejection};
pub use state::{Answer, Import, Item, Outcome, Phase};

#[cfg(test)]
mod tests;
