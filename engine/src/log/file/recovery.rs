//! Opening the log after a clean stop or a crash.
//!
//! Reads every frame in order — from the last known-good point when its snapshot fits the
//! file (see `snapshot`), else from the start — checking CRC, positions and the hash chain,
//! and rebuilds the sequencer and the index (decoding and hashing on other threads, as
//! `audit verify` does). At the first bad frame it decides between two cases:
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

use ferry_schemas::Head;
use tracing::warn;

use super::super::frame::{self, Frame, END, HEADER, MAGIC, MAX_BODY};
use super::super::scan::{walk_frames_from, Decoded, Ended};
use super::super::sequencer::Sequencer;
use super::super::{Error, Result};
use super::shared::Index;
use super::snapshot;

/// What opening found.
pub(crate) struct Recovered {
    pub(crate) sequencer: Sequencer,
    pub(crate) index: Index,
    /// Where the next frame goes.
    pub(crate) end: u64,
    /// The position of the snapshot opening started from (0: the file was walked whole).
    pub(crate) snapshot: u64,
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
    let (mut sequencer, mut index, mut end) = match snapshot::read(dir, &log, len) {
        Some(known) => (known.sequencer, known.index, known.end),
        None => (Sequencer::default(), Index::default(), 0),
    };
    let from = sequencer.head();
    // Records of the append being read, not yet closed by an END frame.
    let mut open_append: Vec<(Head, u64, u64)> = Vec::new();
    let mut failed = None;
    let ended = walk_frames_from(log, end, |frame, head| {
        let position = sequencer.head() + open_append.len() as u64 + 1;
        let record = match check(&frame, head, position, &open_append, &sequencer) {
            Ok(record) => record,
            Err(e) => {
                failed = Some(e);
                return ControlFlow::Break(());
            }
        };
        open_append.push((record, frame.offset, frame.len()));
        if frame.flags & END != 0 {
            for (record, offset, len) in open_append.drain(..) {
                sequencer.observe_head(&record);
                index.push_head(&record, offset, len);
                end = offset + len;
            }
        }
        ControlFlow::Continue(())
    })
    .map_err(io("reading"))?;
    if let Some(e) = failed {
        return Err(e);
    }
    let bad = match ended {
        Some(Ended::Bad(bad)) => Some(bad),
        Some(Ended::Clean) | None => None,
    };
    if let Some(bad) = &bad {
        if valid_frame_after(path, bad.offset).map_err(io("reading"))? {
            return Err(Error::Corrupt {
                position: sequencer.head() + open_append.len() as u64 + 1,
                offset: bad.offset,
                reason: bad.reason.clone(),
            });
        }
    }
    let len = file.metadata().map_err(io("reading"))?.len();
    if len > end {
        warn!(
            path = %path.display(),
            from = end,
            bytes = len - end,
            reason = bad.as_ref().map_or("incomplete append", |b| b.reason.as_str()),
            "truncating the torn tail of the log"
        );
        file.set_len(end).map_err(io("truncating"))?;
    }
    // Records a crashed process wrote but never fsynced may sit in the page cache and were
    // just read as if durable. Make them durable before anyone can see or be acknowledged
    // for them (a retry of such an append is answered as a duplicate).
    file.sync_all().map_err(io("syncing"))?;
    Ok(Recovered {
        sequencer,
        index,
        end,
        snapshot: from,
    })
}

/// Checks that a frame's decoded record continues the log.
fn check(
    frame: &Frame,
    head: Decoded,
    position: u64,
    open_append: &[(Head, u64, u64)],
    sequencer: &Sequencer,
) -> Result<Head> {
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
    let prev = open_append
        .last()
        .map_or(sequencer.head_hash(), |(r, _, _)| r.hash);
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
