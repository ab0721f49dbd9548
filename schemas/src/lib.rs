//! The vocabulary of Ferry: identifiers, recorded-event envelopes, event payloads and the
//! package manifest types.
//!
//! Data and pure functions only: nothing here performs I/O, reads the clock in a decision, or
//! depends on tokio, sled or rdkafka. Every other crate speaks these types.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod digest;
pub mod directory;
pub mod environment;
pub mod event;
pub mod ids;
pub mod manifest;
pub mod provision;
pub mod record;
pub mod resource;
pub mod solution;

pub use digest::Digest;
pub use ids::{
    CorrelationId, EnvironmentId, EventId, MigrationId, PrincipalId, ProvisionId, ResourceId,
    StreamId, TenantId, TokenId,
};
pub use record::{Actor, Head, NewEvent, Record};
