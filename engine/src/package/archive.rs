//! Safe reading of an untrusted zip into memory.
//!
//! ## Invariants
//! - Every returned path is relative, `/`-separated, free of `.`/`..`/empty components, NUL
//!   and drive letters, and at most [`Limits::max_path_len`] bytes long.
//! - Sizes are counted on the bytes actually decompressed, read through `take(limit + 1)`;
//!   the sizes declared in the zip are never trusted.
//! - Directory entries are validated, then dropped: a package is its files.

use std::collections::BTreeMap;
use std::io::{Cursor, Read};

use super::{Error, Limits, Result};

/// Entry path → bytes, for every file of an archive.
pub type Files = BTreeMap<String, Vec<u8>>;

const CHUNK: usize = 64 * 1024;

/// Reads every file of the zip in `bytes`, enforcing `limits`.
pub(crate) fn read(bytes: &[u8], limits: &Limits) -> Result<Files> {
    if bytes.is_empty() {
        return Err(Error::NotZip {
            reason: "the file is empty (0 bytes)".into(),
        });
    }
    if bytes.len() as u64 > limits.max_archive_bytes {
        return Err(Error::TotalTooLarge {
            entry: "(the zip file itself)".into(),
            limit: limits.max_archive_bytes,
        });
    }
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| Error::NotZip {
        reason: e.to_string(),
    })?;
    if archive.len() > limits.max_entries {
        return Err(Error::TooManyEntries {
            count: archive.len(),
            limit: limits.max_entries,
        });
    }
    let mut files = Files::new();
    let mut total: u64 = 0;
    for index in 0..archive.len() {
        let mut file = archive.by_index(index).map_err(|e| Error::CorruptEntry {
            entry: format!("#{index}"),
            reason: e.to_string(),
        })?;
        let raw_name = String::from_utf8_lossy(file.name_raw()).into_owned();
        let path = checked_path(&raw_name, limits)?;
        if file.is_dir() {
            continue;
        }
        let compressed = file.compressed_size();
        let data = read_entry(&mut file, &path, compressed, total, limits)?;
        total += data.len() as u64;
        if files.insert(path.clone(), data).is_some() {
            return Err(Error::DuplicateEntry { entry: path });
        }
    }
    Ok(files)
}

/// Decompresses one entry, stopping as soon as a limit is crossed.
fn read_entry(
    reader: &mut impl Read,
    entry: &str,
    compressed: u64,
    total_before: u64,
    limits: &Limits,
) -> Result<Vec<u8>> {
    let remaining_total = limits.max_total_bytes.saturating_sub(total_before);
    let cap = limits.max_entry_bytes.min(remaining_total);
    let mut limited = reader.take(cap.saturating_add(1));
    let mut data = Vec::new();
    let mut chunk = vec![0u8; CHUNK];
    loop {
        let n = limited.read(&mut chunk).map_err(|e| Error::CorruptEntry {
            entry: entry.to_owned(),
            reason: e.to_string(),
        })?;
        if n == 0 {
            break;
        }
        data.extend_from_slice(&chunk[..n]);
        let size = data.len() as u64;
        if size > cap {
            return Err(if cap == limits.max_entry_bytes {
                Error::EntryTooLarge {
                    entry: entry.to_owned(),
                    limit: limits.max_entry_bytes,
                }
            } else {
                Error::TotalTooLarge {
                    entry: entry.to_owned(),
                    limit: limits.max_total_bytes,
                }
            });
        }
        if size > limits.ratio_floor_bytes && size > compressed.saturating_mul(limits.max_ratio) {
            return Err(Error::CompressionRatio {
                entry: entry.to_owned(),
                limit: limits.max_ratio,
            });
        }
    }
    Ok(data)
}

/// Validates an entry name and returns it with `\` read as `/` and a directory's trailing
/// `/` removed.
pub(crate) fn checked_path(name: &str, limits: &Limits) -> Result<String> {
    let unsafe_path = |reason| Error::UnsafePath {
        entry: name.to_owned(),
        reason,
    };
    if name.len() > limits.max_path_len {
        return Err(Error::PathTooLong {
            entry: name.chars().take(120).collect::<String>() + "...",
            len: name.len(),
            limit: limits.max_path_len,
        });
    }
    if name.contains('\0') {
        return Err(unsafe_path("contains a NUL byte"));
    }
    let path = name.replace('\\', "/");
    if path.starts_with('/') {
        return Err(unsafe_path("absolute path"));
    }
    let bytes = path.as_bytes();
    if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        return Err(unsafe_path("drive letter"));
    }
    let trimmed = path.strip_suffix('/').unwrap_or(&path);
    if trimmed.is_empty() {
        return Err(unsafe_path("empty name"));
    }
    for component in trimmed.split('/') {
        match component {
            ".." => return Err(unsafe_path("`..` component (path traversal)")),
            "." => return Err(unsafe_path("`.` component")),
            "" => return Err(unsafe_path("empty component")),
            _ => {}
        }
    }
    Ok(trimmed.to_owned())
}
