//! The append-only event log: the single source of truth.
//!
//! Every accepted command becomes events appended to a stream; everything else (projections,
//! indexes, results) is derived from the log and can be rebuilt from it.
//!
//! - [`Store`]: the contract every log implements — append with an expected version, read a
//!   stream, read everything from a position, wait for new records.
//! - [`MemoryStore`]: in memory, for unit tests and as the model's twin.
//! - [`FileStore`]: the embedded default — an append-only file with length + CRC framing and
//!   group commit: one `write` and one `fdatasync` cover every append staged behind a flush.
//! - [`verify`]: walks a log and reports the first broken link of the hash chain.
//!
//! ## Invariants (every store)
//! - An append is durable when it returns `Ok`; before that nothing of it is visible to readers.
//! - An append is atomic: all of its events are stored at consecutive positions, or none.
//! - A wrong expected version is an [`Error::Conflict`]; concurrent appenders to one stream get
//!   exactly one success per version.
//! - An append decided on a [`Scope`] that changed since is an [`Error::Changed`]: of two
//!   appends decided on the same state of a scope that both change it, exactly one lands.
//! - Appending an event id that is already stored with the same content returns the original
//!   [`Appended`]; with different content it is [`Error::EventIdReused`].
//! - Records form a hash chain (see [`ferry_schemas::record`]).

mod bytes;
mod error;
mod file;
mod frame;
pub mod kafka;
mod memory;
pub mod scan;
mod sequencer;
mod stats;
mod verify;

use std::time::Duration;

use ferry_schemas::{Digest, NewEvent, Record, StreamId};

pub use error::{Error, Result};
pub use file::{FileStore, Medium, Options};
pub use kafka::{Connection, KafkaBlobs, KafkaStore, Topics, WorkGroup};
pub use memory::MemoryStore;
pub use stats::{appended_here, Durability, Stats, BOUNDS};
pub use verify::{verify, Verification};

/// The version a caller expects a stream to be at before its append.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expected {
    /// Exactly this version; 0 means the stream must not exist yet.
    Exact(u64),
    /// Whatever version the stream is at (for facts that cannot conflict).
    Any,
}

/// A stream other than the one appended to that an append was decided on, and may change: an
/// import's step reads its target environment (authored changes and every other import's
/// steps) and changes it, though it is appended to the import's own stream.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Scope {
    /// The scope's stream (an environment's).
    pub stream: StreamId,
    /// The last log position the decision saw: the append is refused with
    /// [`Error::Changed`] if a record on `stream`, or scoped to it, came after.
    pub seen: u64,
    /// Whether the append changes the scope: its records then carry it
    /// ([`Record::scope`]), so later appends decided on older state are refused.
    pub changes: bool,
}

/// Where an append landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Appended {
    /// Position of the append's first record.
    pub first_position: u64,
    /// Position of the append's last record.
    pub last_position: u64,
    /// The stream's version after the append.
    pub stream_version: u64,
}

/// The end of the log: the last position and the hash of its record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    /// The last position (0 for an empty log).
    pub position: u64,
    /// The hash of the last record ([`Digest::ZERO`] for an empty log).
    pub hash: Digest,
}

/// The contract of a log. Implementations are shared between threads; calls block.
pub trait Store: Send + Sync {
    /// Appends `events` to `stream` if it is at the `expected` version. Returns once the
    /// records are durable.
    fn append(
        &self,
        stream: &StreamId,
        expected: Expected,
        events: Vec<NewEvent>,
    ) -> Result<Appended> {
        self.append_scoped(stream, expected, None, events)
    }

    /// [`Store::append`], if also `scope` has not changed since the position it was seen at
    /// (otherwise [`Error::Changed`]). The sequencer decides it, so it holds across processes.
    fn append_scoped(
        &self,
        stream: &StreamId,
        expected: Expected,
        scope: Option<&Scope>,
        events: Vec<NewEvent>,
    ) -> Result<Appended>;

    /// Up to `max` records of `stream` with version ≥ `from_version`, in order.
    fn read_stream(&self, stream: &StreamId, from_version: u64, max: usize) -> Result<Vec<Record>>;

    /// Up to `max` records with position ≥ `from_position`, in log order. A store may return
    /// fewer to bound one read's memory; an empty result means there are none.
    fn read_all(&self, from_position: u64, max: usize) -> Result<Vec<Record>>;

    /// Like [`Store::read_all`], but each record's body bytes, for readers that decode only
    /// what they need. The default serialises the records read.
    fn read_all_bodies(&self, from_position: u64, max: usize) -> Result<Vec<Vec<u8>>> {
        Ok(self
            .read_all(from_position, max)?
            .iter()
            .map(Record::body_bytes)
            .collect())
    }

    /// The current version of `stream` (0 when it has no events).
    fn stream_version(&self, stream: &StreamId) -> Result<u64>;

    /// The end of the log.
    fn head(&self) -> Result<Head>;

    /// Blocks until the log's head reaches `position` or `timeout` passes; returns the head
    /// position. This is how followers (projections, workers) learn of new records.
    fn wait_for(&self, position: u64, timeout: Duration) -> Result<u64>;

    /// Writes what lets the next open skip the records so far, if this store keeps such a
    /// thing and enough records came since it last did (the embedded log's snapshot; other
    /// stores keep nothing). Derived from the log: never needed for correctness.
    fn save_known_good(&self) -> Result<()> {
        Ok(())
    }

    /// What the log did since it was opened (appends, and how long durability took).
    fn stats(&self) -> Stats {
        Stats::default()
    }
}

/// Blocks until `stream` is visible at `version` or more, or `timeout` passes; returns whether
/// it is.
///
/// A [`Error::Conflict`] is decided against every accepted append, including ones still being
/// made durable, while readers see only durable records. A caller that re-reads after a
/// conflict waits here for the version the conflict reported, so it decides on what won.
pub fn await_version(
    store: &dyn Store,
    stream: &StreamId,
    version: u64,
    timeout: Duration,
) -> Result<bool> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        // The head is read first: a record published after this read ends the wait at once.
        let next = store.head()?.position + 1;
        if store.stream_version(stream)? >= version {
            return Ok(true);
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        store.wait_for(next, left)?;
    }
}

#[cfg(test)]
mod tests;
