//! A known-good point of the embedded log: the sequencer and the index as of one record,
//! written beside the log (`events.snapshot`) when a store closes, so that the next open
//! checks and reads only the frames after it instead of the whole file.
//!
//! It is derived and checked, never trusted blindly: a CRC covers it, and it is used only if
//! the log's frame at its last offset is intact, ends where the snapshot says, closes an
//! append and hashes to the snapshot's head. Anything else — missing, damaged, of another
//! format, of a longer or another log — and opening walks the whole file, as it always could.
//! The whole chain is still checked by `audit verify`, which reads every record.
//!
//! Layout (little-endian): `"FRYS" | format u32 | crc32 u32 of the rest | end u64 |` the
//! sequencer's and the index's own encodings.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::super::bytes::take_u64;
use super::super::frame::{self, Reader, END};
use super::super::sequencer::Sequencer;
use super::shared::Index;

/// The snapshot's file name, beside the log's.
pub(crate) const FILE_NAME: &str = "events.snapshot";

const MAGIC: &[u8; 4] = b"FRYS";
const FORMAT: u32 = 1;

/// A store closing writes a snapshot only when this many records came since the last one
/// (fewer are cheap to walk at open).
pub(crate) const EVERY: u64 = 4096;

/// An open store asked to (a server, every few seconds) writes one only after this many: the
/// appends wait while it is encoded (tens of milliseconds at a million records).
pub(crate) const EVERY_WHILE_OPEN: u64 = 65_536;

/// What a snapshot holds.
pub(crate) struct Snapshot {
    pub(crate) sequencer: Sequencer,
    pub(crate) index: Index,
    /// Where the frame after the snapshot's last record starts.
    pub(crate) end: u64,
}

/// Writes the snapshot of (`sequencer`, `index`, `end`) into `dir`, through a temporary file
/// and a rename: a reader sees the old snapshot or the new one. No fsync: losing it only
/// makes the next open walk more.
pub(crate) fn write(
    dir: &Path,
    sequencer: &Sequencer,
    index: &Index,
    end: u64,
) -> std::io::Result<()> {
    let mut rest = Vec::new();
    rest.extend_from_slice(&end.to_le_bytes());
    sequencer.encode(&mut rest);
    index.encode(&mut rest);
    let tmp = dir.join(format!(".{FILE_NAME}.{}.tmp", std::process::id()));
    let written = File::create(&tmp).and_then(|mut file| {
        file.write_all(MAGIC)?;
        file.write_all(&FORMAT.to_le_bytes())?;
        file.write_all(&crc32fast::hash(&rest).to_le_bytes())?;
        file.write_all(&rest)
    });
    match written.and_then(|()| std::fs::rename(&tmp, dir.join(FILE_NAME))) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// The snapshot in `dir` if it is whole and fits the log `log` (whose length is `len`).
pub(crate) fn read(dir: &Path, log: &File, len: u64) -> Option<Snapshot> {
    let mut bytes = Vec::new();
    File::open(dir.join(FILE_NAME))
        .ok()?
        .read_to_end(&mut bytes)
        .ok()?;
    let (header, rest) = bytes.split_at_checked(12)?;
    if &header[..4] != MAGIC
        || u32::from_le_bytes(header[4..8].try_into().ok()?) != FORMAT
        || u32::from_le_bytes(header[8..12].try_into().ok()?) != crc32fast::hash(rest)
    {
        return None;
    }
    let mut input = rest;
    let end = take_u64(&mut input)?;
    let sequencer = Sequencer::decode(&mut input)?;
    let index = Index::decode(&mut input)?;
    if !input.is_empty()
        || end > len
        || index.head().position != sequencer.head()
        || index.head().hash != sequencer.head_hash()
    {
        return None;
    }
    fits(log, &sequencer, &index, end).then_some(Snapshot {
        sequencer,
        index,
        end,
    })
}

/// Whether the log's frame at the index's last offset is intact, ends at `end`, closes an
/// append and is the record the sequencer ends with.
fn fits(log: &File, sequencer: &Sequencer, index: &Index, end: u64) -> bool {
    let Some((offset, len)) = index.last_frame() else {
        return end == 0 && sequencer.head() == 0;
    };
    if offset + u64::from(len) != end {
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
        && head.position == sequencer.head()
        && head.hash == sequencer.head_hash()
}
