//! Opening the log after a clean stop or a crash.
//!
//! Reads every frame in order — from the last known-good point when its snapshot fits the
//! file (see `snapshot`), else from the start — checking CRC, positions and the hash chain,
//! and rebuilds the sequencer and the index (decoding and hashing on other threads, as
//! `audit verify` does). From a snapshot, the records before it are not loaded: the
//! sequencer is built on first need (see `shared::Base`). At the first bad frame it decides between two cases:
//! - **torn tail**: no valid frame follows anywhere after it. The crash interrupted the last
//!   write, which was never acknowledged (acknowledgement follows fsync). Truncate it.
//! - **corruption**: a valid frame follows. Bytes in the middle are damaged; fail closed with
//!   the position, never skip.
//!
//! Records after the last frame flagged `END` belong to an append that was not completely
//! written, hence never acknowledged: they are truncated too, keeping appends atomic.

use std::fs::File;
use std::ops::ControlFlow;
use std::os::unix::fs::FileExt;
use std::path::Path;

use ferry_schemas::{Digest, Head};
use tracing::warn;

use super::super::frame::{self, Frame, END, HEADER, MAGIC, MAX_BODY};
use super::super::scan::{walk_frames_from, Decoded, Ended};
use super::super::sequencer::Sequencer;
use super::super::{Error, Result};
use super::shared::{Base, Index};
use super::snapshot;

/// What opening found.
pub(crate) struct Recovered {
    /// The log's sequencer, or (opened from a snapshot) what builds it on first need.
    pub(crate) state: State,
    pub(crate) index: Index,
    /// Where the next frame goes.
    pub(crate) end: u64,
    /// The position of the snapshot opening started from (0: the file was walked whole).
    pub(crate) snapshot: u64,
}

/// The sequencer after opening.
pub(crate) enum State {
    /// Built from every record (no snapshot was used).
    Built(Sequencer),
    /// Left to build from the snapshot's body and the records after it, on first need.
    Deferred(Base),
}

/// What takes in the records a walk checked, in log order.
trait Take {
    fn take(&mut self, head: Head);
}

impl Take for Sequencer {
    fn take(&mut self, head: Head) {
        self.observe_head(&head);
    }
}

/// From a snapshot: the heads of the records after it, for the sequencer built later.
struct Deferring {
    known: snapshot::Known,
    tail: Vec<Head>,
}

impl Take for Deferring {
    fn take(&mut self, head: Head) {
        self.tail.push(head);
    }
}

/// The records a walk has checked so far.
struct Walked<T> {
    index: Index,
    taken: T,
    /// The last checked position, its hash, and where its frame ends.
    head: u64,
    hash: Digest,
    end: u64,
}

impl Walked<Sequencer> {
    fn from_start() -> Self {
        Walked {
            index: Index::default(),
            taken: Sequencer::default(),
            head: 0,
            hash: Digest::ZERO,
            end: 0,
        }
    }
}

impl Walked<Deferring> {
    fn from_snapshot(known: snapshot::Known) -> Self {
        Walked {
            index: Index::deferred(&known),
            head: known.position,
            hash: known.hash,
            end: known.end,
            taken: Deferring {
                known,
                tail: Vec::new(),
            },
        }
    }
}

impl<T: Take> Walked<T> {
    /// Walks the frames of `path` from `self.end` on, checking each continues the chain, and
    /// takes every complete append in; stops at the first frame that does not check out, at
    /// the end of the file, or at byte `until`. Returns how the frames ended (None: stopped
    /// at `until`).
    fn walk(&mut self, path: &Path, until: u64) -> Result<Option<Ended>> {
        let io = |action| {
            move |source| Error::Io {
                action,
                path: path.to_path_buf(),
                source,
            }
        };
        let log = File::open(path).map_err(io("opening"))?;
        // Records of the append being read, not yet closed by an END frame.
        let mut open_append: Vec<(Head, u64, u64)> = Vec::new();
        let mut failed = None;
        let ended = walk_frames_from(log, self.end, |frame, head| {
            if frame.offset >= until {
                return ControlFlow::Break(());
            }
            let position = self.head + open_append.len() as u64 + 1;
            let prev = open_append.last().map_or(self.hash, |(r, _, _)| r.hash);
            let record = match check(&frame, head, position, prev) {
                Ok(record) => record,
                Err(e) => {
                    failed = Some(e);
                    return ControlFlow::Break(());
                }
            };
            open_append.push((record, frame.offset, frame.len()));
            if frame.flags & END != 0 {
                for (record, offset, len) in open_append.drain(..) {
                    self.index.push_head(&record, offset, len);
                    (self.head, self.hash, self.end) = (record.position, record.hash, offset + len);
                    self.taken.take(record);
                }
            }
            ControlFlow::Continue(())
        })
        .map_err(io("reading"))?;
        match failed {
            Some(e) => Err(e),
            None => Ok(ended),
        }
    }

    /// Walks to the end of the log at `path` and cuts off a torn tail (`file`: the open,
    /// locked write handle); fails closed on damage followed by valid frames.
    fn recover(mut self, path: &Path, file: &File) -> Result<Self> {
        let io = |action| {
            move |source| Error::Io {
                action,
                path: path.to_path_buf(),
                source,
            }
        };
        let bad = match self.walk(path, u64::MAX)? {
            Some(Ended::Bad(bad)) => Some(bad),
            Some(Ended::Clean) | None => None,
        };
        if let Some(bad) = &bad {
            if valid_frame_after(path, bad.offset).map_err(io("reading"))? {
                return Err(Error::Corrupt {
                    position: self.head + 1,
                    offset: bad.offset,
                    reason: bad.reason.clone(),
                });
            }
        }
        let len = file.metadata().map_err(io("reading"))?.len();
        if len > self.end {
            warn!(
                path = %path.display(),
                from = self.end,
                bytes = len - self.end,
                reason = bad.as_ref().map_or("incomplete append", |b| b.reason.as_str()),
                "truncating the torn tail of the log"
            );
            file.set_len(self.end).map_err(io("truncating"))?;
        }
        // Records a crashed process wrote but never fsynced may sit in the page cache and were
        // just read as if durable. Make them durable before anyone can see or be acknowledged
        // for them (a retry of such an append is answered as a duplicate).
        file.sync_all().map_err(io("syncing"))?;
        Ok(self)
    }
}

/// Recovers the log at `path`; `file` is the open, locked write handle (used to truncate).
pub(crate) fn recover(path: &Path, file: &File) -> Result<Recovered> {
    let io = |action| {
        move |source| Error::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    };
    let log = File::open(path).map_err(io("opening"))?;
    let len = log.metadata().map_err(io("reading"))?.len();
    // From the last known-good point, if its snapshot fits this file; else from the start.
    let dir = path.parent().unwrap_or(Path::new("."));
    Ok(match snapshot::read(dir, &log, len) {
        Some(known) => {
            let walked = Walked::from_snapshot(known).recover(path, file)?;
            let Deferring { known, tail } = walked.taken;
            Recovered {
                snapshot: known.position,
                state: State::Deferred(Base::new(known, tail)),
                index: walked.index,
                end: walked.end,
            }
        }
        None => {
            let walked = Walked::from_start().recover(path, file)?;
            Recovered {
                state: State::Built(walked.taken),
                index: walked.index,
                end: walked.end,
                snapshot: 0,
            }
        }
    })
}

/// The sequencer and the index of the records up to `known`'s last, walked from the start of
/// the log at `path` and checked as opening checks them (when the snapshot's body is damaged).
pub(crate) fn walk_to(path: &Path, known: &snapshot::Known) -> Result<(Sequencer, Index)> {
    let mut walked = Walked::from_start();
    let ended = walked.walk(path, known.end)?;
    if walked.end != known.end || walked.head != known.position || walked.hash != known.hash {
        return Err(Error::Corrupt {
            position: walked.head + 1,
            offset: walked.end,
            reason: match ended {
                Some(Ended::Bad(bad)) => bad.reason,
                _ => "the records before the log's known-good point do not lead to it".into(),
            },
        });
    }
    Ok((walked.taken, walked.index))
}

/// Checks that a frame's decoded record is `position` and follows the record hashed `prev`.
fn check(frame: &Frame, head: Decoded, position: u64, prev: Digest) -> Result<Head> {
    let corrupt = |reason: String| Error::Corrupt {
        position,
        offset: frame.offset,
        reason,
    };
    let record = head.map_err(|e| corrupt(e.to_string()))?;
    if record.position != position {
        return Err(corrupt(format!(
            "frame holds position {} where {position} was expected",
            record.position
        )));
    }
    if record.prev_hash != prev {
        return Err(corrupt(format!(
            "hash chain broken: previous hash is {prev}, record says {}",
            record.prev_hash
        )));
    }
    Ok(record)
}

/// True if any valid frame starts after `offset`. Scans in chunks, so a damaged log of any
/// size is checked in bounded memory.
fn valid_frame_after(path: &Path, offset: u64) -> std::io::Result<bool> {
    const CHUNK: usize = 1 << 20;
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    let mut chunk = vec![0u8; CHUNK + MAGIC.len() - 1];
    let mut at = offset + 1;
    while at < len {
        let n = (len - at).min(chunk.len() as u64) as usize;
        file.read_exact_at(&mut chunk[..n], at)?;
        for i in 0..n.saturating_sub(MAGIC.len() - 1) {
            if chunk[i..i + MAGIC.len()] == MAGIC && frame_valid_at(&file, at + i as u64, len)? {
                return Ok(true);
            }
        }
        at += CHUNK as u64;
    }
    Ok(false)
}

/// True if a complete, valid frame starts at byte `at` of `file` (of length `len`).
fn frame_valid_at(file: &File, at: u64, len: u64) -> std::io::Result<bool> {
    let mut header = [0u8; HEADER];
    if at + HEADER as u64 > len {
        return Ok(false);
    }
    file.read_exact_at(&mut header, at)?;
    let body = u64::from(u32::from_le_bytes([
        header[4], header[5], header[6], header[7],
    ]));
    if body > MAX_BODY as u64 || at + HEADER as u64 + body > len {
        return Ok(false);
    }
    let mut frame = vec![0u8; HEADER + body as usize];
    file.read_exact_at(&mut frame, at)?;
    Ok(frame::is_valid_at(&frame))
}
