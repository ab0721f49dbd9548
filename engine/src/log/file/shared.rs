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
use super::super::stats::{Durability, Recorder, Stats};
use super::super::{Error, Head, Result};

/// The most bytes one `read_all` reads (it returns fewer records than asked beyond this).
const READ_BUDGET: u64 = 8 * 1024 * 1024;

/// Where each durable record is. Only the writer adds to it, and only after fsync.
#[derive(Debug, Default)]
pub(crate) struct Index {
    /// Per position (index 0 = position 1): the frame's byte offset and length.
    frames: Vec<(u64, u32)>,
    /// Per stream: the positions of its records, in version order.
    streams: HashMap<StreamId, Vec<u64>>,
    head_hash: Digest,
}

impl Index {
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
            position: self.frames.len() as u64,
            hash: self.head_hash,
        }
    }

    /// The last record's frame: its offset and length.
    pub(crate) fn last_frame(&self) -> Option<(u64, u32)> {
        self.frames.last().copied()
    }

    /// Appends the index's encoding to `out` (the log's snapshot; see `snapshot`).
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
        })
    }
}

/// State shared by readers and the writer.
pub(crate) struct Shared {
    path: PathBuf,
    file: File,
    index: RwLock<Index>,
    head: Mutex<u64>,
    grown: Condvar,
    /// Threads inside `wait_for`; publishing skips the wake-up system call when there are none.
    followers: AtomicUsize,
    stats: Recorder,
}

impl Shared {
    pub(crate) fn new(path: PathBuf, file: File, index: Index) -> Self {
        let head = index.frames.len() as u64;
        Self {
            path,
            file,
            index: RwLock::new(index),
            head: Mutex::new(head),
            grown: Condvar::new(),
            followers: AtomicUsize::new(0),
            stats: Recorder::default(),
        }
    }

    /// Runs `f` on the index of durable records.
    pub(crate) fn with_index<T>(&self, f: impl FnOnce(&Index) -> T) -> T {
        f(&self.index.read().unwrap_or_else(|e| e.into_inner()))
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
            index.frames.len() as u64
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
        self.index.read().unwrap_or_else(|e| e.into_inner()).head()
    }

    pub(crate) fn stream_version(&self, stream: &StreamId) -> u64 {
        let index = self.index.read().unwrap_or_else(|e| e.into_inner());
        index.streams.get(stream).map_or(0, |p| p.len() as u64)
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
        let (offset, len) = {
            let index = self.index.read().unwrap_or_else(|e| e.into_inner());
            match position
                .checked_sub(1)
                .and_then(|i| index.frames.get(i as usize))
            {
                Some(&at) => at,
                None => {
                    return Err(Error::NoSuchPosition {
                        position,
                        head: index.frames.len() as u64,
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

    fn read_frames<T>(
        &self,
        from: u64,
        max: usize,
        decode: impl Fn(&[u8], u64, u64) -> Result<T>,
    ) -> Result<Vec<T>> {
        let from = from.max(1);
        let spans: Vec<(u64, u32)> = {
            let index = self.index.read().unwrap_or_else(|e| e.into_inner());
            let start = (from - 1) as usize;
            // At least one frame, then at most READ_BUDGET bytes: frames may be 16 MiB each.
            let mut bytes = 0u64;
            index
                .frames
                .iter()
                .skip(start)
                .take(max)
                .take_while(|&&(_, len)| {
                    let first = bytes == 0;
                    bytes += u64::from(len);
                    first || bytes <= READ_BUDGET
                })
                .copied()
                .collect()
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
            let index = self.index.read().unwrap_or_else(|e| e.into_inner());
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
