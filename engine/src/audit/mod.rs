//! What auditors use: verification of the whole log against signed checkpoints, per-tenant
//! chains and Merkle proofs, offline-verifiable bundles of one tenant's records, the audit
//! trail as facts, and replay of migrations with the current code.
//!
//! ## Invariants
//! - Verification reads; it never truncates, repairs or locks the log ([`crate::log::scan`]).
//! - A checkpoint is only ever signed over a log that scanned clean up to its head.
//! - A bundle discloses one tenant's records and nothing of other tenants but the Merkle
//!   siblings needed to prove that tenant's chain heads under signed roots.

pub mod bundle;
pub mod chains;
pub mod checkpoint;
pub mod facts;
pub mod merkle;
pub mod replay;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use ferry_schemas::Digest;

use crate::log::scan::{self, Problem};
use crate::log::{self, FileStore};
pub use chains::{ChainHead, Chains};
pub use checkpoint::{Checkpoint, Checkpoints, Keys, PublicKey};

/// Why an audit command could not do its work (as opposed to finding tampering, which is a
/// [`Finding`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file system refused.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The signing key file is not 64 hex digits. Restore it from a backup.
    #[error("{} is not an ed25519 signing key (64 hex digits); restore it from a backup", path.display())]
    BadKey {
        /// The key file.
        path: PathBuf,
    },
    /// A line of the checkpoints file does not parse.
    #[error("audit/checkpoints.jsonl line {line} is not a checkpoint: {reason}")]
    BadCheckpoint {
        /// The 1-based line.
        line: usize,
        /// Why.
        reason: String,
    },
    /// The log could not be read.
    #[error(transparent)]
    Log(#[from] log::Error),
    /// The log could not be folded while replaying.
    #[error("replay stopped: {0}")]
    Replay(String),
    /// There is nothing to sign: the log is damaged before its end.
    #[error("the log does not verify (position {}: {}); a checkpoint is only signed over a clean log", .0.position, .0.reason)]
    Damaged(Problem),
}

/// The audit folder of a data directory.
pub fn dir(data: &Path) -> PathBuf {
    data.join("audit")
}

/// The log file of a data directory.
pub fn log_file(data: &Path) -> PathBuf {
    data.join("log").join(FileStore::FILE_NAME)
}

/// Walks the data directory's log read-only, checking it as it goes: the embedded file as
/// stored, or — when `ferry.toml` puts the log on Kafka — the Kafka partition sequenced afresh
/// from its first claim (not this process's cache).
pub fn walk(
    data: &Path,
    visit: impl FnMut(&ferry_schemas::Head, &[u8]),
) -> Result<scan::Scan, Error> {
    let settings = crate::data_dir::DataDir::settings(data)
        .and_then(|s| s.kafka())
        .map_err(|e| {
            Error::Log(crate::log::Error::Broker {
                action: "reading the settings of",
                topic: data.display().to_string(),
                reason: e.to_string(),
            })
        })?;
    Ok(match settings {
        None => scan::scan(&log_file(data), visit)?,
        Some((connection, topics)) => scan::scan_kafka(&connection, &topics, visit)?,
    })
}

/// Something verification found wrong, with the position where it starts when there is one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The first position concerned.
    pub position: Option<u64>,
    /// What is wrong, for people.
    pub problem: String,
}

/// What [`verify`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The last position that checked out.
    pub head: u64,
    /// Its hash.
    pub digest: Digest,
    /// Checkpoints checked.
    pub checkpoints: usize,
    /// The first problem, if any.
    pub finding: Option<Finding>,
}

/// Walks the data directory's log and checks it against every checkpoint: each signed with
/// `key`, each head present with the signed digest (the log then is a prefix-extension of the
/// signed one), each tenants root equal to the one recomputed.
pub fn verify(data: &Path, key: &PublicKey) -> Result<Verified, Error> {
    let checkpoints = Checkpoints::at(&dir(data)).load()?;
    let mut pending = checkpoints.iter().peekable();
    let mut chains = Chains::default();
    let mut finding: Option<Finding> = None;
    let scanned = walk(data, |record, _| {
        chains.apply(record);
        while let Some(cp) = pending.next_if(|cp| cp.head == record.position) {
            if finding.is_some() {
                continue;
            }
            let at = cp.at.to_rfc3339();
            if !cp.signed_by(key) {
                finding = Some(Finding {
                    position: Some(cp.head),
                    problem: format!("the checkpoint signed at {at} does not verify with this data directory's key"),
                });
            } else if cp.digest != record.hash {
                finding = Some(Finding {
                    position: Some(cp.head),
                    problem: format!("history up to position {} differs from the checkpoint signed at {at}: the log was rewritten at or before it", cp.head),
                });
            } else if cp.tenants_root != chains.root() {
                finding = Some(Finding {
                    position: Some(cp.head),
                    problem: format!("the tenant chains at position {} differ from the checkpoint signed at {at}", cp.head),
                });
            }
        }
    })?;
    let damaged = scanned.problem.map(|problem| Finding {
        position: Some(problem.position),
        problem: format!("{} (byte offset {})", problem.reason, problem.offset),
    });
    let truncated = || {
        let cp = checkpoints.iter().find(|cp| cp.head > scanned.head)?;
        Some(Finding {
            position: Some(scanned.head + 1),
            problem: format!(
                "the log ends at position {} but the checkpoint signed at {} covers up to {}: records were removed",
                scanned.head,
                cp.at.to_rfc3339(),
                cp.head
            ),
        })
    };
    // The earliest problem is the one to report.
    let finding = match (damaged, finding) {
        // A file ending inside an append (reported at the last record read) that a checkpoint
        // covered beyond: records were removed, not cut short by a crash.
        (Some(d), None) if d.position == Some(scanned.head) => truncated().or(Some(d)),
        (Some(d), Some(c)) => Some(if c.position < d.position { c } else { d }),
        (d, c) => d.or(c).or_else(truncated),
    };
    Ok(Verified {
        head: scanned.head,
        digest: scanned.digest,
        checkpoints: checkpoints.len(),
        finding,
    })
}

/// Signs a checkpoint over the log as it is now and appends it; returns it. Refused if the
/// log does not scan clean.
pub fn checkpoint(data: &Path, keys: &Keys, at: DateTime<Utc>) -> Result<Checkpoint, Error> {
    let mut chains = Chains::default();
    let scanned = walk(data, |record, _| chains.apply(record))?;
    if let Some(problem) = scanned.problem {
        return Err(Error::Damaged(problem));
    }
    let checkpoint = Checkpoint::sign(keys, scanned.head, scanned.digest, chains.root(), at);
    Checkpoints::at(&dir(data)).append(&checkpoint)?;
    Ok(checkpoint)
}

/// Signs a checkpoint if `every` records or more were appended since the last one.
pub fn checkpoint_if_due(
    data: &Path,
    keys: &Keys,
    head: u64,
    every: u64,
    at: DateTime<Utc>,
) -> Result<Option<Checkpoint>, Error> {
    let last = Checkpoints::at(&dir(data))
        .load()?
        .last()
        .map_or(0, |cp| cp.head);
    if head < last + every {
        return Ok(None);
    }
    checkpoint(data, keys, at).map(Some)
}
