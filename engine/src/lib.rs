//! Decisions and durability: the log and its embedded store, and the package codec.
//!
//! `ferry-engine` holds everything that decides or persists, but no runtime: callers bring
//! their own threads or tokio. Modules:
//! - [`log`]: the append-only event log (trait [`log::Store`], an in-memory store for tests and
//!   the embedded file store with group commit and real fsync).
//! - [`directory`]: tenants, environments, principals and grants, as events (decide/apply).
//! - [`data_dir`]: the embedded default's data directory (the log inside it).
//! - [`package`]: reading and writing Power Apps export packages and Dataverse solution zips,
//!   as untrusted input.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod clock;
pub mod data_dir;
pub mod directory;
pub mod error;
pub mod log;
pub mod package;

pub use error::{Error, Result};
