//! Why a log operation failed, and what the caller does about it.

use std::path::PathBuf;

use ferry_schemas::{EventId, StreamId};

/// A log error. Each variant says how to handle it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The stream is not at the version the caller expected: someone else appended first.
    /// Re-read the stream, decide again, and retry with the new version.
    #[error("version conflict on stream {stream}: expected version {expected}, found {actual}")]
    Conflict {
        /// The stream appended to.
        stream: StreamId,
        /// The version the caller expected.
        expected: u64,
        /// The stream's actual version.
        actual: u64,
    },
    /// The append was decided on a [`Scope`](super::Scope) that another append changed since.
    /// Wait until the log shows `changed_at`, decide again on what is there now, and retry.
    #[error("stream {scope} changed at position {changed_at}, after position {seen} that the append to {stream} was decided on")]
    Changed {
        /// The stream appended to.
        stream: StreamId,
        /// The scope that changed.
        scope: StreamId,
        /// The position the decision saw.
        seen: u64,
        /// The last position that changed the scope.
        changed_at: u64,
    },
    /// An event id already on the log was appended again with different content (or at a
    /// different place). A bug in the caller: event ids must be fresh for new facts.
    #[error("event {event_id} is already recorded at position {position} with different content")]
    EventIdReused {
        /// The reused id.
        event_id: EventId,
        /// Where the original is.
        position: u64,
    },
    /// The append itself is malformed (empty, duplicate ids, too large). Fix the caller.
    #[error("invalid append to stream {stream}: {reason}")]
    Invalid {
        /// The stream appended to.
        stream: StreamId,
        /// What is wrong.
        reason: String,
    },
    /// Reading or writing the log's storage failed. Nothing of the failed append was
    /// acknowledged. Check the disk; the log may refuse further appends ([`Error::Poisoned`]).
    #[error("log i/o failed while {action} {}: {source}", path.display())]
    Io {
        /// What the log was doing, e.g. `syncing`.
        action: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// An earlier write or fsync failed, so the log no longer knows what reached the disk and
    /// refuses appends. Restart the process: opening the log recovers to the last durable record.
    #[error("the log refuses appends after a failed write or fsync; restart to recover")]
    Poisoned,
    /// Stored bytes are damaged somewhere other than a torn tail. The log fails closed: it does
    /// not skip records. Restore the data directory from a backup or a replica.
    #[error("log is corrupt at position {position} (byte offset {offset}): {reason}")]
    Corrupt {
        /// The first position that could not be read.
        position: u64,
        /// Its byte offset in the log file.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A read asked for a position past the head. Read from a position at or below the head.
    #[error("no record at position {position}: the log ends at position {head}")]
    NoSuchPosition {
        /// The position asked for.
        position: u64,
        /// The log's head.
        head: u64,
    },
    /// Kafka did not do what the log needs (unreachable brokers, a refused message, a topic
    /// that is not as Ferry needs it). Nothing unconfirmed was acknowledged; the reason says
    /// what to do.
    #[error("Kafka: {action} {topic} failed: {reason}")]
    Broker {
        /// What Ferry was doing.
        action: &'static str,
        /// The topic (or the brokers) involved.
        topic: String,
        /// What went wrong and what to do.
        reason: String,
    },
    /// Another process holds the log open. Stop it, or point this one at another data directory.
    #[error("the log at {} is in use by another process (the embedded data directory serves one process at a time: stop it, e.g. a running `ferry worker`, or wait for it to finish)", path.display())]
    Locked {
        /// The log file.
        path: PathBuf,
    },
}

/// The log's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
