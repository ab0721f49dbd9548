//! Environment contents: apps, flows, connectors, custom connectors, connections and gateways,
//! as a projection of the log ([`Contents`]), the checks for authoring them directly
//! ([`author`]) and the documents Ferry writes for apps and flows authored here
//! ([`documents`]).
//!
//! ## Invariants
//! - A resource lives in exactly one environment; apps and flows have a published definition
//!   and at most one draft.
//! - Every change bumps the resource's revision, so drift since a review is detectable.
//! - References recorded beside documents point at resources of the same environment.

pub mod author;
mod contents;
pub mod documents;

pub use contents::{changes, Contents, Lookup, Resource};
