//! On-disk framing of log records.
//!
//! ```text
//! frame = magic "FRY1" (4) | body length u32 LE (4) | crc32 u32 LE (4) | flags (1) | body
//! ```
//! The CRC covers the flags byte and the body. Flag [`END`] marks the last record of one append:
//! records after the last `END` belong to an append that was never acknowledged.
//!
//! ## Invariants
//! - A frame is valid only if its magic, length bound and CRC all hold.
//! - Reading never trusts the length field for allocation beyond [`MAX_BODY`].

use std::io::{self, Read};

/// The frame's magic bytes.
pub(crate) const MAGIC: [u8; 4] = *b"FRY1";
/// Header length in bytes.
pub(crate) const HEADER: usize = 13;
/// Flag: this record is the last of its append.
pub(crate) const END: u8 = 1;
/// The largest record body accepted, in bytes.
pub(crate) const MAX_BODY: usize = super::sequencer::MAX_RECORD_BYTES;

/// Appends one frame holding `body` to `out`.
pub(crate) fn encode(body: &[u8], flags: u8, out: &mut Vec<u8>) {
    let mut crc = crc32fast::Hasher::new();
    crc.update(&[flags]);
    crc.update(body);
    out.extend_from_slice(&MAGIC);
    // `body.len() <= MAX_BODY` is checked by the caller before encoding.
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.push(flags);
    out.extend_from_slice(body);
}

/// One valid frame read from storage.
#[derive(Debug)]
pub(crate) struct Frame {
    /// Byte offset of the frame's header.
    pub(crate) offset: u64,
    /// The flags byte.
    pub(crate) flags: u8,
    /// The record body.
    pub(crate) body: Vec<u8>,
}

impl Frame {
    /// Bytes the frame occupies on disk.
    pub(crate) fn len(&self) -> u64 {
        (HEADER + self.body.len()) as u64
    }
}

/// Why the bytes at an offset are not a valid frame.
#[derive(Debug)]
pub(crate) struct Bad {
    /// Offset of the bad frame's header.
    pub(crate) offset: u64,
    /// What is wrong.
    pub(crate) reason: String,
}

/// Reads frames one after another from a byte stream.
pub(crate) struct Reader<R> {
    inner: R,
    offset: u64,
}

impl<R: Read> Reader<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self::at(inner, 0)
    }

    /// A reader whose `inner` is positioned at byte `offset` of the log.
    pub(crate) fn at(inner: R, offset: u64) -> Self {
        Self { inner, offset }
    }

    /// The next frame, `Ok(None)` at a clean end, or the first bad frame.
    pub(crate) fn next_frame(&mut self) -> io::Result<Result<Option<Frame>, Bad>> {
        let offset = self.offset;
        let bad = |reason: String| Ok(Err(Bad { offset, reason }));
        let mut header = [0u8; HEADER];
        let got = read_full(&mut self.inner, &mut header)?;
        if got == 0 {
            return Ok(Ok(None));
        }
        if got < HEADER {
            return bad(format!("header cut short after {got} of {HEADER} bytes"));
        }
        let (len, crc, flags) = match check_header(&header) {
            Ok(parts) => parts,
            Err(reason) => return bad(reason),
        };
        let mut body = vec![0u8; len];
        let got = read_full(&mut self.inner, &mut body)?;
        if got < len {
            return bad(format!("body cut short after {got} of {len} bytes"));
        }
        if checksum(flags, &body) != crc {
            return bad("checksum mismatch".into());
        }
        self.offset += (HEADER + len) as u64;
        Ok(Ok(Some(Frame {
            offset,
            flags,
            body,
        })))
    }
}

/// True if a complete, valid frame starts at `bytes[0]`.
pub(crate) fn is_valid_at(bytes: &[u8]) -> bool {
    let Some(header) = bytes.get(..HEADER) else {
        return false;
    };
    let Ok((len, crc, flags)) = check_header(header) else {
        return false;
    };
    bytes
        .get(HEADER..HEADER + len)
        .is_some_and(|body| checksum(flags, body) == crc)
}

fn check_header(header: &[u8]) -> Result<(usize, u32, u8), String> {
    if header[..4] != MAGIC {
        return Err("bad magic".into());
    }
    let word = |at: usize| {
        u32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
    };
    let len = word(4) as usize;
    if len > MAX_BODY {
        return Err(format!("length {len} exceeds the {MAX_BODY}-byte limit"));
    }
    Ok((len, word(8), header[12]))
}

fn checksum(flags: u8, body: &[u8]) -> u32 {
    let mut crc = crc32fast::Hasher::new();
    crc.update(&[flags]);
    crc.update(body);
    crc.finalize()
}

/// Reads until `buf` is full or the stream ends; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_a_flipped_bit_is_caught() {
        let mut buf = Vec::new();
        encode(b"hello", END, &mut buf);
        encode(b"world", 0, &mut buf);
        let mut reader = Reader::new(&buf[..]);
        let a = reader.next_frame().unwrap().unwrap().unwrap();
        assert_eq!(
            (a.body.as_slice(), a.flags, a.offset),
            (&b"hello"[..], END, 0)
        );
        let b = reader.next_frame().unwrap().unwrap().unwrap();
        assert_eq!((b.body.as_slice(), b.offset), (&b"world"[..], a.len()));
        assert!(reader.next_frame().unwrap().unwrap().is_none());

        buf[HEADER + 1] ^= 0x01;
        let bad = Reader::new(&buf[..]).next_frame().unwrap().unwrap_err();
        assert_eq!(bad.offset, 0);
        assert!(is_valid_at(&buf[a.len() as usize..]));
        assert!(!is_valid_at(&buf));
    }
}
