//! The local cache of the sequenced log: the records this process has sealed from the claims of
//! the Kafka partition, indexed by position and by stream, with the offset of the next claim to
//! read. One sled tree; every claim's records and the new offset go in one atomic batch, so a
//! restart resumes exactly after the last claim applied: none skipped, none applied twice.
//! The cache need not be durable (it is rebuilt from Kafka when lost); it must be consistent,
//! and sled recovers a prefix of its batches.
//!
//! Keys: `r` + position → record body; `s` + stream + NUL + version → position; `m` → meta.

use std::path::{Path, PathBuf};

use ferry_schemas::{Record, StreamId};

use super::super::{Error, Result};

/// The most bytes one `bodies` read returns (fewer records than asked beyond this).
const READ_BUDGET: usize = 8 * 1024 * 1024;

const META: &[u8] = b"m";

/// Where the cache stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Meta {
    /// The topic the cache was built from; a cache is never reused for another.
    pub(crate) topic: String,
    /// The offset of the next claim to read.
    pub(crate) next_offset: i64,
}

pub(crate) struct Cache {
    path: PathBuf,
    tree: sled::Tree,
}

impl Cache {
    pub(crate) fn open(path: &Path) -> Result<Cache> {
        let db = sled::Config::new()
            .path(path)
            .mode(sled::Mode::HighThroughput)
            .flush_every_ms(Some(2000))
            .open()
            .map_err(|e| sled_error("opening", path, e))?;
        let tree = db
            .open_tree("log")
            .map_err(|e| sled_error("opening", path, e))?;
        Ok(Cache {
            path: path.to_path_buf(),
            tree,
        })
    }

    pub(crate) fn meta(&self) -> Result<Option<Meta>> {
        let Some(bytes) = self.tree.get(META).map_err(|e| self.error("reading", e))? else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(&bytes);
        let (offset, topic) = text.split_once(' ').unwrap_or(("", ""));
        match offset.parse() {
            Ok(next_offset) => Ok(Some(Meta {
                topic: topic.to_string(),
                next_offset,
            })),
            Err(_) => Err(Error::Corrupt {
                position: 0,
                offset: 0,
                reason: format!(
                    "the Kafka cache's meta entry {text:?} is damaged; delete {} to rebuild it",
                    self.path.display()
                ),
            }),
        }
    }

    /// Stores the sealed records of one claim (maybe none) and the offset after it, atomically.
    pub(crate) fn apply(&self, records: &[(Record, Vec<u8>)], meta: &Meta) -> Result<()> {
        let mut batch = sled::Batch::default();
        for (record, body) in records {
            batch.insert(&record_key(record.position)[..], &body[..]);
            batch.insert(
                stream_key(&record.stream, record.stream_version),
                &record.position.to_be_bytes()[..],
            );
        }
        batch.insert(
            META,
            format!("{} {}", meta.next_offset, meta.topic).as_bytes(),
        );
        self.tree
            .apply_batch(batch)
            .map_err(|e| self.error("writing", e))
    }

    pub(crate) fn body(&self, position: u64) -> Result<Option<Vec<u8>>> {
        self.tree
            .get(record_key(position))
            .map(|v| v.map(|v| v.to_vec()))
            .map_err(|e| self.error("reading", e))
    }

    pub(crate) fn record(&self, position: u64, head: u64) -> Result<Record> {
        let body = self
            .body(position)?
            .ok_or(Error::NoSuchPosition { position, head })?;
        Record::from_body(&body).map_err(|e| self.damaged(position, e))
    }

    /// Up to `max` bodies from `from` on, in position order.
    pub(crate) fn bodies(&self, from: u64, max: usize) -> Result<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        let mut bytes = 0;
        for entry in self
            .tree
            .range(record_key(from.max(1))..record_key(u64::MAX))
        {
            let (_, body) = entry.map_err(|e| self.error("reading", e))?;
            if out.len() == max || (bytes >= READ_BUDGET && !out.is_empty()) {
                break;
            }
            bytes += body.len();
            out.push(body.to_vec());
        }
        Ok(out)
    }

    /// The positions of `stream`'s records with version ≥ `from`, up to `max`.
    pub(crate) fn stream_positions(
        &self,
        stream: &StreamId,
        from: u64,
        max: usize,
    ) -> Result<Vec<u64>> {
        let start = stream_key(stream, from.max(1));
        let end = stream_key(stream, u64::MAX);
        self.tree
            .range(start..=end)
            .take(max)
            .map(|entry| {
                let (_, value) = entry.map_err(|e| self.error("reading", e))?;
                let bytes: [u8; 8] = value.as_ref().try_into().map_err(|_| Error::Corrupt {
                    position: 0,
                    offset: 0,
                    reason: format!("a stream index entry of {stream} is damaged"),
                })?;
                Ok(u64::from_be_bytes(bytes))
            })
            .collect()
    }

    /// The last position stored (0 when none).
    pub(crate) fn last_position(&self) -> Result<u64> {
        let last = self
            .tree
            .range(record_key(1)..record_key(u64::MAX))
            .next_back()
            .transpose()
            .map_err(|e| self.error("reading", e))?;
        Ok(last.map_or(0, |(key, _)| {
            let mut position = [0; 8];
            position.copy_from_slice(&key[1..9]);
            u64::from_be_bytes(position)
        }))
    }

    /// Every body in position order, for rebuilding the sequencer at open.
    pub(crate) fn all_bodies(&self) -> impl Iterator<Item = Result<(u64, sled::IVec)>> + '_ {
        self.tree
            .range(record_key(1)..record_key(u64::MAX))
            .map(move |entry| {
                let (key, body) = entry.map_err(|e| self.error("reading", e))?;
                let mut position = [0; 8];
                position.copy_from_slice(&key[1..9]);
                Ok((u64::from_be_bytes(position), body))
            })
    }

    pub(crate) fn damaged(&self, position: u64, e: impl std::fmt::Display) -> Error {
        Error::Corrupt {
            position,
            offset: 0,
            reason: format!(
                "the Kafka cache's record is damaged ({e}); delete {} to rebuild it from Kafka",
                self.path.display()
            ),
        }
    }

    fn error(&self, action: &'static str, e: sled::Error) -> Error {
        sled_error(action, &self.path, e)
    }
}

fn sled_error(action: &'static str, path: &Path, e: sled::Error) -> Error {
    let source = match e {
        sled::Error::Io(io) => io,
        other => std::io::Error::other(other.to_string()),
    };
    Error::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

fn record_key(position: u64) -> [u8; 9] {
    let mut key = [b'r'; 9];
    key[1..].copy_from_slice(&position.to_be_bytes());
    key
}

fn stream_key(stream: &StreamId, version: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(stream.as_str().len() + 10);
    key.push(b's');
    key.extend_from_slice(stream.as_str().as_bytes());
    key.push(0);
    key.extend_from_slice(&version.to_be_bytes());
    key
}
