//! A read-only walk over an embedded log file, for auditors: every record with the exact bytes
//! stored for it, checked as it goes (frame checksum, position, stream version, hash chain),
//! stopping at the first record that does not check out.
//!
//! Unlike opening the log, a scan never truncates, never locks and never writes: a torn or
//! damaged file is reported as it is, with the position where it goes wrong.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::ops::ControlFlow;
use std::path::Path;

use ferry_schemas::{Digest, Head, StreamId};

use super::frame::{Bad, Frame, Reader, END};
use super::{Error, Result};

/// Where and why a scan stopped early.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The first position that does not check out.
    pub position: u64,
    /// Byte offset of its frame in the file.
    pub offset: u64,
    /// What is wrong.
    pub reason: String,
}

/// What a scan found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scan {
    /// The last position that checked out (0: none).
    pub head: u64,
    /// Its hash: a digest of the whole history up to `head`.
    pub digest: Digest,
    /// The first problem, if the scan stopped before the end of the file.
    pub problem: Option<Problem>,
}

/// Frames read in one go and handed to a decoding thread.
const BATCH: usize = 512;

/// A run of frames as read with their decoded heads, and how the reading ended if it did
/// after them.
struct Chunk {
    frames: Vec<Frame>,
    end: Option<std::io::Result<Ended>>,
}

/// A frame's head, or why its body does not decode.
pub(crate) type Decoded = std::result::Result<Head, ferry_schemas::record::BodyError>;

/// How a walk over frames ended.
pub(crate) enum Ended {
    /// At the end of the file, after the last complete frame.
    Clean,
    /// At a frame that is not valid.
    Bad(Bad),
}

/// Reads every frame of `file` in order and hands each, with its decoded head, to `visit` in
/// order, until `visit` breaks (then `None`) or the frames end. Reading, decoding the heads and
/// hashing run on other threads, a batch of frames at a time.
pub(crate) fn walk_frames(
    file: File,
    visit: impl FnMut(Frame, Decoded) -> ControlFlow<()>,
) -> std::io::Result<Option<Ended>> {
    walk_frames_from(file, 0, visit)
}

/// [`walk_frames`] from the frame at byte `offset`.
pub(crate) fn walk_frames_from(
    mut file: File,
    offset: u64,
    mut visit: impl FnMut(Frame, Decoded) -> ControlFlow<()>,
) -> std::io::Result<Option<Ended>> {
    use std::io::Seek as _;
    file.seek(std::io::SeekFrom::Start(offset))?;
    let mut reader = Reader::at(BufReader::with_capacity(1 << 20, file), offset);
    let mut done = false;
    let produce = || {
        if done {
            return None;
        }
        let mut chunk = Chunk {
            frames: Vec::with_capacity(BATCH),
            end: None,
        };
        while chunk.frames.len() < BATCH && chunk.end.is_none() {
            match reader.next_frame() {
                Ok(Ok(Some(frame))) => chunk.frames.push(frame),
                Ok(Ok(None)) => chunk.end = Some(Ok(Ended::Clean)),
                Ok(Err(bad)) => chunk.end = Some(Ok(Ended::Bad(bad))),
                Err(e) => chunk.end = Some(Err(e)),
            }
        }
        done = chunk.end.is_some();
        Some(chunk)
    };
    let decode = |chunk: Chunk| {
        let heads: Vec<Decoded> = chunk
            .frames
            .iter()
            .map(|f| Head::from_body(&f.body))
            .collect();
        (chunk, heads)
    };
    let mut ended = None;
    let consume = |(chunk, heads): (Chunk, Vec<Decoded>)| {
        for (frame, head) in chunk.frames.into_iter().zip(heads) {
            visit(frame, head)?;
        }
        ended = chunk.end;
        ControlFlow::Continue(())
    };
    crate::parallel::ordered(crate::parallel::workers(), produce, decode, consume);
    ended.transpose()
}

/// Walks the log file at `path`, calling `visit` with the head of each record that checks out
/// and its stored body bytes (decode them with `Record::from_body` for the rest), in log order.
pub fn scan(path: &Path, mut visit: impl FnMut(&Head, &[u8])) -> Result<Scan> {
    let io = |action| {
        move |source| Error::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    };
    let file = File::open(path).map_err(io("opening"))?;
    let mut versions: HashMap<StreamId, u64> = HashMap::new();
    let mut found = Scan {
        head: 0,
        digest: Digest::ZERO,
        problem: None,
    };
    let mut last_flags = END;
    let mut last_offset = 0;
    let check = |frame: Frame, head: Decoded| {
        let position = found.head + 1;
        let problem = |reason: String| Problem {
            position,
            offset: frame.offset,
            reason,
        };
        let checked = head
            .map_err(|e| problem(format!("the record does not decode: {e}")))
            .and_then(|record| {
                let expected_version = versions.get(&record.stream).copied().unwrap_or(0) + 1;
                if record.position != position {
                    Err(problem(format!(
                        "the frame holds position {}",
                        record.position
                    )))
                } else if record.prev_hash != found.digest {
                    Err(problem(format!(
                        "hash chain broken: the previous record's hash is {}, this record says {}",
                        found.digest, record.prev_hash
                    )))
                } else if record.stream_version != expected_version {
                    Err(problem(format!(
                        "stream {} jumps to version {} where {expected_version} was next",
                        record.stream, record.stream_version
                    )))
                } else {
                    Ok(record)
                }
            });
        let record = match checked {
            Ok(record) => record,
            Err(problem) => {
                found.problem = Some(problem);
                return ControlFlow::Break(());
            }
        };
        visit(&record, &frame.body);
        versions.insert(record.stream.clone(), record.stream_version);
        found.head = record.position;
        found.digest = record.hash;
        last_flags = frame.flags;
        last_offset = frame.offset;
        ControlFlow::Continue(())
    };
    match walk_frames(file, check).map_err(io("reading"))? {
        None => {}
        Some(Ended::Clean) if last_flags & END != 0 => {}
        Some(Ended::Clean) => {
            found.problem = Some(Problem {
                position: found.head,
                offset: last_offset,
                reason: "the file ends inside an append (its last record lacks the end mark): a crash cut it short".into(),
            });
        }
        Some(Ended::Bad(bad)) => {
            found.problem = Some(Problem {
                position: found.head + 1,
                offset: bad.offset,
                reason: bad.reason,
            });
        }
    }
    Ok(found)
}

/// Like [`scan`], over the Kafka log sequenced afresh from its first claim
/// ([`super::kafka::resequence`]): the records every reader derives, checked the same way.
pub fn scan_kafka(
    connection: &super::Connection,
    topics: &super::Topics,
    mut visit: impl FnMut(&Head, &[u8]),
) -> Result<Scan> {
    let mut found = Scan {
        head: 0,
        digest: Digest::ZERO,
        problem: None,
    };
    let mut versions: HashMap<StreamId, u64> = HashMap::new();
    super::kafka::resequence(connection, topics, |head, body| {
        if found.problem.is_some() {
            return;
        }
        let next = versions.get(&head.stream).copied().unwrap_or(0) + 1;
        if head.position != found.head + 1
            || head.prev_hash != found.digest
            || head.stream_version != next
        {
            found.problem = Some(Problem {
                position: head.position,
                offset: 0,
                reason: "the sequenced record does not follow the one before".into(),
            });
            return;
        }
        visit(head, body);
        versions.insert(head.stream.clone(), head.stream_version);
        found.head = head.position;
        found.digest = head.hash;
    })?;
    Ok(found)
}
