//! Environment contents: apps, flows, connectors, custom connectors, connections and gateways,
//! as a projection of the log ([`Contents`]).
//!
//! ## Invariants
//! - A resource lives in exactly one environment; apps and flows have a published definition
//!   and at most one draft.
//! - Every change bumps the resource's revision, so drift since a review is detectable.

mod contents;

pub use contents::{Contents, Lookup, Resource};
