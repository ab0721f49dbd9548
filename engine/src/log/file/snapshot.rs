//! A known-good point of the embedded log: the sequencer and the index as of one record,
//! written beside the log (`events.snapshot`) when a store closes, so that the next open
//! checks and reads only the frames after it instead of the whole file.
//!
//! Opening reads only the snapshot's **head** — where its last record is, that record's hash,
//! where the first record is — not its **body** (the sequencer and the index, tens of bytes
//! per record): a command that only reads recent history never pays for old history. The body
//! is loaded on first need (an append, a stream's records, an old position), checked by its
//! own CRC; if it is damaged, the records up to the snapshot are walked instead.
//!
//! It is derived and checked, never trusted blindly: a CRC covers each part, and it is used
//! only if the log's frame at its last offset is intact, ends where the snapshot says, closes
//! an append and hashes to the snapshot's head. Anything else — missing, damaged, of another
//! format, of a longer or another log — and opening walks the whole file, as it always could.
//! The whole chain is still checked by `audit verify`, which reads every record.
//!
//! Layout (little-endian): `"FRYS" | format u32 | crc32 u32 of the head | head | body`, where
//! the head is `end u64 | position u64 | hash [32] | first frame (u64, u32) | last frame
//! (u64, u32) | body length u64 | body crc32 u32` and the body the sequencer's and the
//! index's own encodings.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;

use ferry_schemas::Digest;

use super::super::bytes::{take, take_u32, take_u64};
use super::super::frame::{self, Reader, END};
use super::super::sequencer::Sequencer;
use super::shared::Index;

/// The snapshot's file name, beside the log's.
pub(crate) const FILE_NAME: &str = "events.snapshot";

const MAGIC: &[u8; 4] = b"FRYS";
const FORMAT: u32 = 2;
/// Magic, format and the head's CRC.
const PREFIX: usize = 12;
const HEAD: usize = 8 + 8 + 32 + 12 + 12 + 8 + 4;

/// A store closing writes a snapshot only when this many records came since the last one
/// (fewer are cheap to walk at open).
pub(crate) const EVERY: u64 = 4096;

/// An open store asked to (a server, every few seconds) writes one only after this many: the
/// appends wait while it is encoded (tens of milliseconds at a million records).
pub(crate) const EVERY_WHILE_OPEN: u64 = 65_536;

/// A snapshot whose head checked out against the log; its body is read by [`Known::body`].
pub(crate) struct Known {
    /// The snapshot file, open: a newer snapshot renamed over it later does not change what
    /// this one reads.
    file: File,
    /// Where the frame after the snapshot's last record starts.
    pub(crate) end: u64,
    /// The snapshot's last position and its hash.
    pub(crate) position: u64,
    pub(crate) hash: Digest,
    /// The frames of position 1 and of the last position: the two a reopened store checks
    /// its saved projections against, read without the body.
    pub(crate) first: (u64, u32),
    pub(crate) last: (u64, u32),
    body_len: u64,
    body_crc: u32,
}

impl Known {
    /// The sequencer and the index the snapshot holds, if its body is whole and agrees with
    /// its head.
    pub(crate) fn body(&self) -> Option<(Sequencer, Index)> {
        let mut bytes = vec![0u8; usize::try_from(self.body_len).ok()?];
        self.file
            .read_exact_at(&mut bytes, (PREFIX + HEAD) as u64)
            .ok()?;
        if crc32fast::hash(&bytes) != self.body_crc {
            return None;
        }
        let mut input = bytes.as_slice();
        let sequencer = Sequencer::decode(&mut input)?;
        let index = Index::decode(&mut input)?;
        let agrees = input.is_empty()
            && sequencer.head() == self.position
            && sequencer.head_hash() == self.hash
            && index.head().position == self.position
            && index.head().hash == self.hash
            && index.last_frame() == Some(self.last);
        agrees.then_some((sequencer, index))
    }
}

/// Writes the snapshot of (`sequencer`, `index`, `end`) into `dir`, through a temporary file
/// and a rename: a reader sees the old snapshot or the new one. No fsync: losing it only
/// makes the next open walk more. An empty log has no snapshot to write.
pub(crate) fn write(
    dir: &Path,
    sequencer: &Sequencer,
    index: &Index,
    end: u64,
) -> std::io::Result<()> {
    let (Some(first), Some(last)) = (index.frame(1), index.last_frame()) else {
        return Ok(());
    };
    let mut body = Vec::new();
    sequencer.encode(&mut body);
    index.encode(&mut body);
    let mut head = Vec::with_capacity(HEAD);
    head.extend_from_slice(&end.to_le_bytes());
    head.extend_from_slice(&sequencer.head().to_le_bytes());
    head.extend_from_slice(sequencer.head_hash().as_bytes());
    for (offset, len) in [first, last] {
        head.extend_from_slice(&offset.to_le_bytes());
        head.extend_from_slice(&len.to_le_bytes());
    }
    head.extend_from_slice(&(body.len() as u64).to_le_bytes());
    head.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    let tmp = dir.join(format!(".{FILE_NAME}.{}.tmp", std::process::id()));
    let written = File::create(&tmp).and_then(|mut file| {
        file.write_all(MAGIC)?;
        file.write_all(&FORMAT.to_le_bytes())?;
        file.write_all(&crc32fast::hash(&head).to_le_bytes())?;
        file.write_all(&head)?;
        file.write_all(&body)
    });
    match written.and_then(|()| std::fs::rename(&tmp, dir.join(FILE_NAME))) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// The snapshot in `dir` if its head is whole and fits the log `log` (whose length is `len`).
pub(crate) fn read(dir: &Path, log: &File, len: u64) -> Option<Known> {
    let file = File::open(dir.join(FILE_NAME)).ok()?;
    let mut bytes = [0u8; PREFIX + HEAD];
    file.read_exact_at(&mut bytes, 0).ok()?;
    let (prefix, head) = bytes.split_at(PREFIX);
    if &prefix[..4] != MAGIC
        || u32::from_le_bytes(prefix[4..8].try_into().ok()?) != FORMAT
        || u32::from_le_bytes(prefix[8..12].try_into().ok()?) != crc32fast::hash(head)
    {
        return None;
    }
    let mut input = head;
    let end = take_u64(&mut input)?;
    let position = take_u64(&mut input)?;
    let hash = Digest(take::<32>(&mut input)?);
    let first = (take_u64(&mut input)?, take_u32(&mut input)?);
    let last = (take_u64(&mut input)?, take_u32(&mut input)?);
    let body_len = take_u64(&mut input)?;
    let body_crc = take_u32(&mut input)?;
    let known = Known {
        file,
        end,
        position,
        hash,
        first,
        last,
        body_len,
        body_crc,
    };
    let sized = file_len(&known.file)? == (PREFIX + HEAD) as u64 + body_len;
    (sized && end <= len && first.0 == 0 && fits(log, &known)).then_some(known)
}

fn file_len(file: &File) -> Option<u64> {
    file.metadata().ok().map(|m| m.len())
}

/// Whether the log's frame at the snapshot's last offset is intact, ends at its end, closes
/// an append and is the record the snapshot ends with.
fn fits(log: &File, known: &Known) -> bool {
    let (offset, len) = known.last;
    if offset + u64::from(len) != known.end || len as usize > frame::HEADER + frame::MAX_BODY {
        return false;
    }
    let mut bytes = vec![0u8; len as usize];
    if log.read_exact_at(&mut bytes, offset).is_err() {
        return false;
    }
    let Ok(Ok(Some(frame))) = Reader::new(bytes.as_slice()).next_frame() else {
        return false;
    };
    let Ok(head) = ferry_schemas::Head::from_body(&frame.body) else {
        return false;
    };
    frame.flags & END != 0
        && frame.body.len() + frame::HEADER == len as usize
        && head.position == known.position
        && head.hash == known.hash
}
