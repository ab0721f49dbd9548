//! The local cache of the sequenced log: the records this process has sealed from the claims of
//! the Kafka partition, indexed by position and by stream, with the offset of the next claim to
//! read. One sled tree; records and the offset after them go in one atomic batch, so a restart
//! resumes exactly after the last claim stored: none skipped, none applied twice. The cache need
//! not be durable (it is rebuilt from Kafka when lost); it must be consistent, and sled
//! recovers a prefix of its batches.
//!
//! Sealed records are kept in memory first ([`Cache::apply`]) and written to sled in larger
//! batches by the tailer ([`Cache::save`]), off the appenders' path: sled costs about 10 µs per
//! record appended at the end of a tree. Reads see both; a record leaves memory only once sled
//! has it.
//!
//! Keys: `r` + position → record body; `s` + stream + NUL + version → position; `m` → meta.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

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
    unsaved: Mutex<Unsaved>,
    /// Held while saving: one batch at a time, in order.
    saving: Mutex<()>,
}

/// Sealed records not yet in sled, in position order, and the meta that goes with the last.
#[derive(Default)]
struct Unsaved {
    records: Vec<(Record, Vec<u8>)>,
    meta: Option<Meta>,
}

impl Unsaved {
    /// The unsaved record at `position`, if it is one.
    fn get(&self, position: u64) -> Option<&(Record, Vec<u8>)> {
        let first = self.records.first()?.0.position;
        let found = self
            .records
            .get(usize::try_from(position.checked_sub(first)?).ok()?)?;
        (found.0.position == position).then_some(found)
    }
}

impl Cache {
    pub(crate) fn open(path: &Path) -> Result<Cache> {
        let config = sled::Config::new()
            .mode(sled::Mode::HighThroughput)
            .flush_every_ms(Some(2000));
        let db =
            crate::sled_open::open(config, path).map_err(|e| sled_error("opening", path, e))?;
        let tree = db
            .open_tree("log")
            .map_err(|e| sled_error("opening", path, e))?;
        Ok(Cache {
            path: path.to_path_buf(),
            tree,
            unsaved: Mutex::new(Unsaved::default()),
            saving: Mutex::new(()),
        })
    }

    fn unsaved(&self) -> MutexGuard<'_, Unsaved> {
        self.unsaved.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Where the saved cache stands (what a restart resumes from).
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

    /// Keeps `records` (sealed in position order, following the ones before) with the offset
    /// after them; readers see them at once, sled gets them with the next [`Cache::save`].
    pub(crate) fn apply(&self, records: Vec<(Record, Vec<u8>)>, meta: &Meta) {
        let mut unsaved = self.unsaved();
        unsaved.records.extend(records);
        unsaved.meta = Some(meta.clone());
    }

    /// Writes the records kept since the last save, and the offset after them, in one batch.
    pub(crate) fn save(&self) -> Result<()> {
        let _saving = self.saving.lock().unwrap_or_else(|e| e.into_inner());
        let mut batch = sled::Batch::default();
        let (count, meta) = {
            let unsaved = self.unsaved();
            let Some(meta) = unsaved.meta.clone() else {
                return Ok(());
            };
            for (record, body) in &unsaved.records {
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
            (unsaved.records.len(), meta)
        };
        self.tree
            .apply_batch(batch)
            .map_err(|e| self.error("writing", e))?;
        // Only now may readers stop finding them in memory.
        let mut unsaved = self.unsaved();
        unsaved.records.drain(..count);
        if unsaved.meta.as_ref() == Some(&meta) {
            unsaved.meta = None;
        }
        Ok(())
    }

    pub(crate) fn body(&self, position: u64) -> Result<Option<Vec<u8>>> {
        if let Some((_, body)) = self.unsaved().get(position) {
            return Ok(Some(body.clone()));
        }
        // Saved in the meantime, if not in memory any more.
        self.tree
            .get(record_key(position))
            .map(|v| v.map(|v| v.to_vec()))
            .map_err(|e| self.error("reading", e))
    }

    pub(crate) fn record(&self, position: u64, head: u64) -> Result<Record> {
        if let Some((record, _)) = self.unsaved().get(position) {
            return Ok(record.clone());
        }
        let body = self
            .body(position)?
            .ok_or(Error::NoSuchPosition { position, head })?;
        Record::from_body(&body).map_err(|e| self.damaged(position, e))
    }

    /// Up to `max` bodies from `from` on, in position order.
    pub(crate) fn bodies(&self, from: u64, max: usize) -> Result<Vec<Vec<u8>>> {
        let from = from.max(1);
        // Memory first: whatever leaves it meanwhile is in sled by then.
        let (first_unsaved, unsaved): (u64, Vec<Vec<u8>>) = {
            let unsaved = self.unsaved();
            let first = unsaved
                .records
                .first()
                .map_or(u64::MAX, |(r, _)| r.position);
            let skip = usize::try_from(from.saturating_sub(first)).unwrap_or(usize::MAX);
            let mut bytes = 0;
            let bodies = unsaved
                .records
                .iter()
                .skip(skip)
                .take(max)
                .take_while(|(_, body)| {
                    let within = bytes < READ_BUDGET;
                    bytes += body.len();
                    within
                })
                .map(|(_, body)| body.clone())
                .collect();
            (first.max(from), bodies)
        };
        let mut out = Vec::new();
        let mut bytes = 0;
        let mut next = from;
        for entry in self.tree.range(record_key(from)..record_key(u64::MAX)) {
            let (_, body) = entry.map_err(|e| self.error("reading", e))?;
            if out.len() == max || (bytes >= READ_BUDGET && !out.is_empty()) {
                return Ok(out);
            }
            bytes += body.len();
            out.push(body.to_vec());
            next += 1;
        }
        // What sled did not have yet, from the snapshot taken before reading it.
        let skip = usize::try_from(next.saturating_sub(first_unsaved)).unwrap_or(usize::MAX);
        for body in unsaved.into_iter().skip(skip) {
            if out.len() == max || (bytes >= READ_BUDGET && !out.is_empty()) {
                break;
            }
            bytes += body.len();
            out.push(body);
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
        // Memory first (as in `bodies`), then sled; a record may be in both.
        let mut found: std::collections::BTreeMap<u64, u64> = self
            .unsaved()
            .records
            .iter()
            .filter(|(r, _)| r.stream == *stream && r.stream_version >= from)
            .map(|(r, _)| (r.stream_version, r.position))
            .collect();
        let start = stream_key(stream, from.max(1));
        let end = stream_key(stream, u64::MAX);
        for entry in self.tree.range(start..=end).take(max) {
            let (key, value) = entry.map_err(|e| self.error("reading", e))?;
            let damaged = || Error::Corrupt {
                position: 0,
                offset: 0,
                reason: format!("a stream index entry of {stream} is damaged"),
            };
            let position: [u8; 8] = value.as_ref().try_into().map_err(|_| damaged())?;
            let version: [u8; 8] = key
                .get(key.len().saturating_sub(8)..)
                .and_then(|v| v.try_into().ok())
                .ok_or_else(damaged)?;
            found.insert(u64::from_be_bytes(version), u64::from_be_bytes(position));
        }
        Ok(found.into_values().take(max).collect())
    }

    /// The last position saved (0 when none).
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

    /// Every saved body in position order, for rebuilding the sequencer at open.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::sequencer::{Decision, Sequencer};
    use crate::log::Expected;

    /// Seals one event on `stream` at the sequencer's head.
    fn sealed(sequencer: &mut Sequencer, stream: &str, n: u64) -> Vec<(Record, Vec<u8>)> {
        let decided = sequencer.decide(
            &StreamId::new(stream).unwrap(),
            Expected::Any,
            None,
            vec![crate::log::tests::event(n).prepare()],
            crate::clock::Clock::now(&crate::clock::SystemClock),
            |_| unreachable!("no duplicates here"),
        );
        match decided.unwrap() {
            Decision::Write(records, _) => records,
            Decision::Duplicate(_) => unreachable!("a fresh event"),
        }
    }

    fn meta(next_offset: i64) -> Meta {
        Meta {
            topic: "test.log".into(),
            next_offset,
        }
    }

    #[test]
    fn records_read_the_same_before_and_after_they_are_saved_and_a_reopen_sees_the_saved_ones() {
        let dir = tempfile::tempdir().unwrap();
        let mut sequencer = Sequencer::default();
        let mut bodies = Vec::new();
        {
            let cache = Cache::open(dir.path()).unwrap();
            for n in 1..=6u64 {
                let records = sealed(&mut sequencer, if n % 2 == 0 { "even" } else { "odd" }, n);
                bodies.extend(records.iter().map(|(_, b)| b.clone()));
                cache.apply(records, &meta(n as i64));
                // Saved after the 3rd and the 5th: reads span sled and memory.
                if n == 3 || n == 5 {
                    cache.save().unwrap();
                }
            }
            assert_eq!(
                cache.meta().unwrap(),
                Some(meta(5)),
                "only saved state is stored"
            );
            assert_eq!(cache.last_position().unwrap(), 5);
            assert_eq!(cache.bodies(1, 100).unwrap(), bodies);
            assert_eq!(cache.bodies(4, 2).unwrap(), bodies[3..5]);
            assert_eq!(cache.bodies(6, 100).unwrap(), bodies[5..]);
            assert_eq!(cache.body(6).unwrap().as_ref(), Some(&bodies[5]));
            assert_eq!(cache.record(6, 6).unwrap().position, 6);
            let even = StreamId::new("even").unwrap();
            assert_eq!(cache.stream_positions(&even, 1, 10).unwrap(), vec![2, 4, 6]);
            assert_eq!(cache.stream_positions(&even, 2, 2).unwrap(), vec![4, 6]);
            // Dropped unsaved: a restart resumes after the 5th and reads the 6th claim again.
        }
        let cache = Cache::open(dir.path()).unwrap();
        assert_eq!(cache.meta().unwrap(), Some(meta(5)));
        assert_eq!(cache.bodies(1, 100).unwrap(), bodies[..5]);
        assert!(cache.body(6).unwrap().is_none());
    }
}
