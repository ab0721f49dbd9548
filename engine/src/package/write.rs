//! Writes a [`Package`] as a zip in the shape real exports have: deflate, no directory
//! entries, per-resource folders as read, the legacy `manifest.json` last. Ferry's additions
//! go to `ferry/provenance.json` and `ferry/checksums.json`.
//!
//! ## Invariants
//! - Output is deterministic: entries in path order, fixed timestamps (1980-01-01).
//! - `ferry/checksums.json` covers every other entry, so [`super::read`] of the output
//!   verifies and returns the same package.

use std::io::{Cursor, Write};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

use super::archive::checked_path;
use super::{ferry, legacy, Contents, Error, Files, Limits, Package, Result};

/// Writes `package` as zip bytes.
pub fn write(package: &Package) -> Result<Vec<u8>> {
    let limits = Limits::default();
    for path in package.files.keys() {
        check_writable(path, package, &limits)?;
    }
    let mut extra = Files::new();
    if let Some(provenance) = &package.provenance {
        extra.insert(
            ferry::PROVENANCE.into(),
            to_json(ferry::PROVENANCE, provenance)?,
        );
    }
    let manifest = match &package.contents {
        Contents::Legacy(legacy) => Some(to_json(legacy::MANIFEST, &legacy.manifest)?),
        Contents::Solution(_) => None,
    };
    let mut covered: Files = package.files.clone();
    covered.extend(extra.clone());
    if let Some(bytes) = &manifest {
        covered.insert(legacy::MANIFEST.into(), bytes.clone());
    }
    let checksums = to_json(ferry::CHECKSUMS, &ferry::checksums(&covered))?;

    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let entries = package
        .files
        .iter()
        .chain(extra.iter())
        .map(|(path, data)| (path.as_str(), data.as_slice()))
        .chain([(ferry::CHECKSUMS, checksums.as_slice())])
        .chain(manifest.as_deref().map(|bytes| (legacy::MANIFEST, bytes)));
    for (path, data) in entries {
        add(&mut zip, path, data)?;
    }
    let cursor = zip.finish().map_err(|e| Error::Write {
        reason: e.to_string(),
    })?;
    Ok(cursor.into_inner())
}

fn check_writable(path: &str, package: &Package, limits: &Limits) -> Result<()> {
    let unwritable = |reason| Error::Unwritable {
        entry: path.to_owned(),
        reason,
    };
    match checked_path(path, limits) {
        Ok(checked) if checked == path => {}
        _ => return Err(unwritable("unsafe or non-canonical path")),
    }
    if path == ferry::PROVENANCE || path == ferry::CHECKSUMS || path == super::signature::SIGNATURE
    {
        return Err(unwritable("ferry writes it from the package's provenance"));
    }
    if path == legacy::MANIFEST && matches!(package.contents, Contents::Legacy(_)) {
        return Err(unwritable("ferry writes it from the package's manifest"));
    }
    Ok(())
}

fn add(zip: &mut ZipWriter<Cursor<Vec<u8>>>, path: &str, data: &[u8]) -> Result<()> {
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .last_modified_time(DateTime::default());
    let failed = |e: &dyn std::fmt::Display| Error::Write {
        reason: format!("entry {path}: {e}"),
    };
    zip.start_file(path, options).map_err(|e| failed(&e))?;
    zip.write_all(data).map_err(|e| failed(&e))
}

/// `files` as a zip, in path order with the legacy `manifest.json` last (the shape real
/// exports have), deterministic: what signing writes.
pub(crate) fn zip(files: &Files) -> Result<Vec<u8>> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let manifest = files.get(legacy::MANIFEST);
    for (path, data) in files.iter().filter(|(p, _)| p.as_str() != legacy::MANIFEST) {
        add(&mut zip, path, data)?;
    }
    if let Some(data) = manifest {
        add(&mut zip, legacy::MANIFEST, data)?;
    }
    let cursor = zip.finish().map_err(|e| Error::Write {
        reason: e.to_string(),
    })?;
    Ok(cursor.into_inner())
}

pub(crate) fn to_json<T: serde::Serialize>(entry: &str, value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| Error::Write {
        reason: format!("entry {entry}: {e}"),
    })
}
