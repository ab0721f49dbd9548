//! Decisions and durability: the log and its embedded store, and the package codec.
//!
//! `ferry-engine` holds everything that decides or persists, but no runtime: callers bring
//! their own threads or tokio. Modules:
//! - [`app`]: the application layer — every use case, taking the caller, checking its
//!   permissions; the CLI and the server are front-ends over it.
//! - [`log`]: the append-only event log (trait [`log::Store`], an in-memory store for tests and
//!   the embedded file store with group commit and real fsync).
//! - [`directory`]: tenants, environments, principals and grants, as events (decide/apply).
//! - [`data_dir`]: the embedded default's data directory (the log inside it).
//! - [`package`]: reading and writing Power Apps export packages and Dataverse solution zips,
//!   as untrusted input.
//! - [`blobs`]: the content-addressed blob store of the data directory (SHA-256 named, durable).
//! - [`audit`]: verification against signed checkpoints, per-tenant chains, audit bundles.
//! - [`secrets`]: connection credentials, kept out of the log so they can be erased.
//! - [`environment`]: what environments hold (apps, flows, connectors, connections, gateways).
//! - [`migration`]: the import state machine (decide/apply, pure); [`export`]: an app's
//!   dependency closure written as a package.
//! - [`provision`]: one package into many targets, in waves.
//! - [`world`]: every projection of the log in one fold; [`executor`]: the I/O edge that
//!   records migration decisions and runs their steps; [`authz`]: who may do what.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod app;
pub mod audit;
pub mod authz;
pub mod blobs;
pub mod clock;
pub mod data_dir;
pub mod directory;
pub mod environment;
pub mod error;
pub mod executor;
pub mod export;
pub mod failpoint;
pub mod log;
pub mod migration;
pub mod package;
mod parallel;
pub mod projections;
pub mod provision;
pub mod secrets;
mod sled_open;
pub mod trust;
pub mod untrusted;
pub mod world;

pub use error::{Error, Result};
