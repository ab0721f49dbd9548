//! The reader side of the file store: an index of durable records, shared by every reader and
//! extended by the writer after each fsync.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, RwLock};
use std::time::Duration;

use ferry_schemas::{Digest, Record, StreamId};

use super::super::frame::{self, HEADER};
use super::super::sequencer::Sequencer;
use super::super::stats::{Durability, Recorder, Stats};
use super::super::{Error, Head, Result};
use super::snapshot;

/// The most bytes one `read_all` reads (it returns fewer records than asked beyond this).
const READ_BUDGET: u64 = 8 * 1024 * 1024;

/// Where each durable record is. Only the writer adds to it, and only after fsync.
#[derive(Debug, Default)]
pub(crate) struct Index {
    /// Positions `1..=deferred` are not held yet (opened from a snapshot whose body is read on
    /// first need): `frames` starts at position `deferred + 1`, and `streams` holds only the
    /// positions after it.
    deferred: u64,
    /// While deferred: the frames of position 1 and of position `deferred`, known anyway.
    pinned: [(u64, (u64, u32)); 2],
    /// Per position held (index 0 = position `deferred + 1`): the frame's byte offset and
    /// length.
    frames: Vec<(u64, u32)>,
    /// Per stream: the positions of its records, in version order.
    streams: HashMap<StreamId, Vec<u64>>,
    head_hash: Digest,
}

/// Where a position's frame is.
enum Lookup {
    At((u64, u32)),
    /// The log has no such position.
    Beyond,
    /// In the part of the index not loaded yet.
    Deferred,
}

impl Index {
    /// The index of a log opened from `known`, before its body is loaded.
    pub(crate) fn deferred(known: &snapshot::Known) -> Index {
        Index {
            deferred: known.position,
            pinned: [(1, known.first), (known.position, known.last)],
            head_hash: known.hash,
            ..Index::default()
        }
    }

    /// Whether every position is held.
    pub(crate) fn is_whole(&self) -> bool {
        self.deferred == 0
    }

    /// Takes in `base`, the index of positions `1..=deferred`.
    fn complete(&mut self, mut base: Index) {
        base.frames.append(&mut self.frames);
        for (stream, mut positions) in self.streams.drain() {
            base.streams
                .entry(stream)
                .or_default()
                .append(&mut positions);
        }
        base.head_hash = self.head_hash;
        *self = base;
    }

    fn lookup(&self, position: u64) -> Lookup {
        let Some(i) = position.checked_sub(self.deferred + 1) else {
            return match self.pinned.iter().find(|(p, _)| *p == position) {
                Some(&(_, frame)) => Lookup::At(frame),
                None if position == 0 => Lookup::Beyond,
                None => Lookup::Deferred,
            };
        };
        match self.frames.get(i as usize) {
            Some(&frame) => Lookup::At(frame),
            None => Lookup::Beyond,
        }
    }

    /// The frame of `position`, if it is held.
    pub(crate) fn frame(&self, position: u64) -> Option<(u64, u32)> {
        match self.lookup(position) {
            Lookup::At(frame) => Some(frame),
            Lookup::Beyond | Lookup::Deferred => None,
        }
    }

    /// Adds a durable record stored at `offset` in a frame of `len` bytes.
    pub(crate) fn push(&mut self, record: &Record, offset: u64, len: u64) {
        self.push_parts(&record.stream, record.position, record.hash, offset, len);
    }

    /// [`Index::push`] from a record's head (opening the log reads no payloads).
    pub(crate) fn push_head(&mut self, head: &ferry_schemas::Head, offset: u64, len: u64) {
        self.push_parts(&head.stream, head.position, head.hash, offset, len);
    }

    fn push_parts(
        &mut self,
        stream: &StreamId,
        position: u64,
        hash: Digest,
        offset: u64,
        len: u64,
    ) {
        // Frames are at most HEADER + MAX_BODY bytes, which fits in u32.
        self.frames.push((offset, len as u32));
        match self.streams.get_mut(stream) {
            Some(positions) => positions.push(position),
            None => {
                self.streams.insert(stream.clone(), vec![position]);
            }
        }
        self.head_hash = hash;
    }

    pub(crate) fn head(&self) -> Head {
        Head {
            position: self.deferred + self.frames.len() as u64,
            hash: self.head_hash,
        }
    }

    /// The last record's frame: its offset and length.
    pub(crate) fn last_frame(&self) -> Option<(u64, u32)> {
        match self.frames.last() {
            Some(&frame) => Some(frame),
            None if !self.is_whole() => Some(self.pinned[1].1),
            None => None,
        }
    }

    /// Appends the index's encoding to `out` (the log's snapshot; see `snapshot`). Only a
    /// whole index is encoded (a deferred one is loaded first).
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.head_hash.as_bytes());
        out.extend_from_slice(&(self.frames.len() as u64).to_le_bytes());
        for (offset, len) in &self.frames {
            out.extend_from_slice(&offset.to_le_bytes());
            out.extend_from_slice(&len.to_le_bytes());
        }
        out.extend_from_slice(&(self.streams.len() as u64).to_le_bytes());
        for (stream, positions) in &self.streams {
            super::super::bytes::put_str(out, stream.as_str());
            out.extend_from_slice(&(positions.len() as u64).to_le_bytes());
            for position in positions {
                out.extend_from_slice(&position.to_le_bytes());
            }
        }
    }

    /// The index [`Index::encode`] wrote, read from the front of `input`.
    pub(crate) fn decode(input: &mut &[u8]) -> Option<Index> {
        use super::super::bytes::{take, take_str, take_u32, take_u64};
        let head_hash = Digest(take::<32>(input)?);
        let count = take_u64(input)? as usize;
        // Counts come from a file: no more room reserved than the bytes left could fill.
        let mut frames = Vec::with_capacity(count.min(input.len() / 12));
        for _ in 0..count {
            frames.push((take_u64(input)?, take_u32(input)?));
        }
        let count = take_u64(input)? as usize;
        let mut streams = HashMap::with_capacity(count.min(input.len() / 12));
        for _ in 0..count {
            let stream = StreamId::new(take_str(input)?).ok()?;
            let n = take_u64(input)? as usize;
            let mut positions = Vec::with_capacity(n.min(input.len() / 8));
            for _ in 0..n {
                positions.push(take_u64(input)?);
            }
            streams.insert(stream, positions);
        }
        Some(Index {
            frames,
            streams,
            head_hash,
            ..Index::default()
        })
    }
}

/// What opening from a snapshot left for later: the snapshot's body, and the heads of the
/// records walked after it. Loaded on first need (see `snapshot`).
pub(crate) struct Base {
    known: snapshot::Known,
    tail: Vec<ferry_schemas::Head>,
}

impl Base {
    pub(crate) fn new(known: snapshot::Known, tail: Vec<ferry_schemas::Head>) -> Base {
        Base { known, tail }
    }

    /// The sequencer of the whole log and the index of the positions up to the snapshot.
    fn load(&self, path: &std::path::Path) -> Result<(Sequencer, Index)> {
        let (mut sequencer, index) = match self.known.body() {
            Some(body) => body,
            None => {
                tracing::warn!(
                    path = %path.display(),
                    "the log's snapshot is damaged past its head; walking the records up to it"
                );
                super::recovery::walk_to(path, &self.known)?
            }
        };
        for head in &self.tail {
            sequencer.observe_head(head);
        }
        Ok((sequencer, index))
    }
}

/// The sequencer while it is not the writer's yet.
enum Deferred {
    /// To be built from the base.
    Unloaded(Base),
    /// Built (a reader needed the base first), waiting for the writer to take it.
    Built(Sequencer),
    /// The writer has it.
    Taken,
}

/// State shared by readers and the writer.
pub(crate) struct Shared {
    path: PathBuf,
    file: File,
    index: RwLock<Index>,
    /// Opened from a snapshot: what the index and the sequencer still lack.
    deferred: Mutex<Deferred>,
    head: Mutex<u64>,
    grown: Condvar,
    /// Threads inside `wait_for`; publishing skips the wake-up system call when there are none.
    followers: AtomicUsize,
    stats: Recorder,
}

impl Shared {
    pub(crate) fn new(path: PathBuf, file: File, index: Index, base: Option<Base>) -> Self {
        let head = index.head().position;
        Self {
            path,
            file,
            index: RwLock::new(index),
            deferred: Mutex::new(base.map_or(Deferred::Taken, Deferred::Unloaded)),
            head: Mutex::new(head),
            grown: Condvar::new(),
            followers: AtomicUsize::new(0),
            stats: Recorder::default(),
        }
    }

    /// Runs `f` on the index of durable records.
    pub(crate) fn with_index<T>(&self, f: impl FnOnce(&Index) -> T) -> T {
        f(&self.index())
    }

    fn index(&self) -> std::sync::RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Loads what opening from a snapshot deferred, if it still is.
    fn load_deferred(&self) -> Result<()> {
        let mut deferred = self.deferred.lock().unwrap_or_else(|e| e.into_inner());
        if let Deferred::Unloaded(base) = &*deferred {
            let (sequencer, loaded) = base.load(&self.path)?;
            // Both ways of loading end exactly at the snapshot's last position.
            let mut index = self.index.write().unwrap_or_else(|e| e.into_inner());
            index.complete(loaded);
            *deferred = Deferred::Built(sequencer);
        }
        Ok(())
    }

    /// The sequencer opening from a snapshot deferred, for the writer (once).
    pub(crate) fn take_sequencer(&self) -> Result<Sequencer> {
        self.load_deferred()?;
        let mut deferred = self.deferred.lock().unwrap_or_else(|e| e.into_inner());
        match std::mem::replace(&mut *deferred, Deferred::Taken) {
            Deferred::Built(sequencer) => Ok(sequencer),
            // The writer takes it once: it holds the sequencer from then on.
            Deferred::Unloaded(_) | Deferred::Taken => Err(Error::Poisoned),
        }
    }

    /// Publishes records the writer has just made durable (`appends` appends, whose fsync
    /// took `synced_in`), and wakes followers.
    pub(crate) fn publish(
        &self,
        records: Vec<(Record, u64, u64)>,
        appends: u64,
        synced_in: std::time::Duration,
    ) {
        let count = records.len() as u64;
        let head = {
            let mut index = self.index.write().unwrap_or_else(|e| e.into_inner());
            for (record, offset, len) in records {
                index.push(&record, offset, len);
            }
            index.head().position
        };
        self.stats.waited(synced_in);
        self.stats.appended(appends, count);
        *self.head.lock().unwrap_or_else(|e| e.into_inner()) = head;
        // A follower registers before it takes the lock to compare heads, so either it sees the
        // new head or it is counted here.
        if self.followers.load(Ordering::SeqCst) > 0 {
            self.grown.notify_all();
        }
    }

    pub(crate) fn path(&self) -> &std::path::Path {
        &self.path
    }

    pub(crate) fn stats(&self) -> Stats {
        self.stats.snapshot(Durability::Fsync)
    }

    pub(crate) fn head(&self) -> Head {
        self.index().head()
    }

    /// The whole index, loading what opening deferred (streams are not known without it).
    fn whole_index(&self) -> Result<std::sync::RwLockReadGuard<'_, Index>> {
        if !self.index().is_whole() {
            self.load_deferred()?;
        }
        Ok(self.index())
    }

    pub(crate) fn stream_version(&self, stream: &StreamId) -> Result<u64> {
        let index = self.whole_index()?;
        Ok(index.streams.get(stream).map_or(0, |p| p.len() as u64))
    }

    pub(crate) fn wait_for(&self, position: u64, timeout: Duration) -> u64 {
        self.followers.fetch_add(1, Ordering::SeqCst);
        let head = self.head.lock().unwrap_or_else(|e| e.into_inner());
        let (head, _) = self
            .grown
            .wait_timeout_while(head, timeout, |h| *h < position)
            .unwrap_or_else(|e| e.into_inner());
        let head = *head;
        self.followers.fetch_sub(1, Ordering::SeqCst);
        head
    }

    /// Reads the durable record at `position`, checking its frame again (bytes can rot).
    pub(crate) fn read(&self, position: u64) -> Result<Record> {
        let (offset, len) = loop {
            let lookup = self.index().lookup(position);
            match lookup {
                Lookup::At(at) => break at,
                Lookup::Deferred => self.load_deferred()?,
                Lookup::Beyond => {
                    return Err(Error::NoSuchPosition {
                        position,
                        head: self.head().position,
                    })
                }
            }
        };
        let mut buf = vec![0u8; len as usize];
        self.read_at(&mut buf, offset)?;
        decode(&buf, position, offset)
    }

    pub(crate) fn read_all(&self, from: u64, max: usize) -> Result<Vec<Record>> {
        self.read_frames(from, max, decode)
    }

    /// Like `read_all`, but each record's body bytes (checksum checked, not decoded).
    pub(crate) fn read_all_bodies(&self, from: u64, max: usize) -> Result<Vec<Vec<u8>>> {
        self.read_frames(from, max, |frame_bytes, position, offset| {
            if !frame::is_valid_at(frame_bytes) {
                return Err(Error::Corrupt {
                    position,
                    offset,
                    reason: "frame checksum mismatch on read".into(),
                });
            }
            Ok(frame_bytes[HEADER..].to_vec())
        })
    }

    /// The frames of positions `from..`, at most `max` of them and at least one, then at most
    /// READ_BUDGET bytes: frames may be 16 MiB each. None: some are not loaded yet.
    fn spans(&self, from: u64, max: usize) -> Option<Vec<(u64, u32)>> {
        let index = self.index();
        let mut bytes = 0u64;
        let mut spans = Vec::new();
        for position in (from..).take(max) {
            let frame = match index.lookup(position) {
                Lookup::At(frame) => frame,
                Lookup::Beyond => break,
                Lookup::Deferred => return None,
            };
            bytes += u64::from(frame.1);
            if !spans.is_empty() && bytes > READ_BUDGET {
                break;
            }
            spans.push(frame);
        }
        Some(spans)
    }

    fn read_frames<T>(
        &self,
        from: u64,
        max: usize,
        decode: impl Fn(&[u8], u64, u64) -> Result<T>,
    ) -> Result<Vec<T>> {
        let from = from.max(1);
        let spans = match self.spans(from, max) {
            Some(spans) => spans,
            None => {
                self.load_deferred()?;
                self.spans(from, max).unwrap_or_default()
            }
        };
        let (Some(first), Some(last)) = (spans.first(), spans.last()) else {
            return Ok(Vec::new());
        };
        // Frames are contiguous on disk: read the whole range at once.
        let mut buf = vec![0u8; (last.0 + u64::from(last.1) - first.0) as usize];
        self.read_at(&mut buf, first.0)?;
        spans
            .iter()
            .enumerate()
            .map(|(i, &(offset, len))| {
                let at = (offset - first.0) as usize;
                decode(&buf[at..at + len as usize], from + i as u64, offset)
            })
            .collect()
    }

    pub(crate) fn read_stream(
        &self,
        stream: &StreamId,
        from_version: u64,
        max: usize,
    ) -> Result<Vec<Record>> {
        let positions: Vec<u64> = {
            let index = self.whole_index()?;
            let skip = from_version.saturating_sub(1) as usize;
            index
                .streams
                .get(stream)
                .map(|p| p.iter().skip(skip).take(max).copied().collect())
                .unwrap_or_default()
        };
        positions.into_iter().map(|p| self.read(p)).collect()
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        self.file
            .read_exact_at(buf, offset)
            .map_err(|source| Error::Io {
                action: "reading",
                path: self.path.clone(),
                source,
            })
    }
}

/// Decodes one whole frame read back from `offset`, which must hold `position`.
fn decode(frame_bytes: &[u8], position: u64, offset: u64) -> Result<Record> {
    let corrupt = |reason: String| Error::Corrupt {
        position,
        offset,
        reason,
    };
    if !frame::is_valid_at(frame_bytes) {
        return Err(corrupt("frame checksum mismatch on read".into()));
    }
    let record = Record::from_body(&frame_bytes[HEADER..]).map_err(|e| corrupt(e.to_string()))?;
    if record.position != position {
        return Err(corrupt(format!("frame holds position {}", record.position)));
    }
    Ok(record)
}
