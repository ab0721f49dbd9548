//! Ferry's own folder inside a package, `ferry/`, which other readers ignore:
//! `provenance.json` (where the package came from) and `checksums.json` (SHA-256 of every
//! other entry).
//!
//! ## Invariants
//! - `checksums.json` covers every entry of the package but itself, by path relative to the
//!   package root; reading fails on any mismatch, unlisted or missing entry.

use ferry_schemas::manifest::{Checksums, Provenance};
use sha2::{Digest, Sha256};

use super::read::json;
use super::{Error, Files, Result};

pub(crate) const PROVENANCE: &str = "ferry/provenance.json";
pub(crate) const CHECKSUMS: &str = "ferry/checksums.json";
const ALGORITHM: &str = "sha256";

/// What Ferry's folder says of a package.
pub(crate) struct Taken {
    /// `ferry/provenance.json`, if any.
    pub(crate) provenance: Option<Provenance>,
    /// The key whose signature verified, if the package is signed.
    pub(crate) signer: Option<String>,
}

/// Verifies `ferry/checksums.json` and `ferry/signature.json` when present, then removes
/// Ferry's entries from `files` and returns what they said.
pub(crate) fn verify_and_take(files: &mut Files) -> Result<Taken> {
    let signature = files.remove(super::signature::SIGNATURE);
    let checksums = files.remove(CHECKSUMS);
    if let Some(bytes) = &checksums {
        let parsed: Checksums = json(CHECKSUMS, bytes)?;
        verify(files, &parsed)?;
    }
    let signer = signature
        .map(|s| super::signature::verify(&s, checksums.as_deref()))
        .transpose()?;
    let provenance = files
        .remove(PROVENANCE)
        .map(|bytes| json(PROVENANCE, &bytes))
        .transpose()?;
    Ok(Taken { provenance, signer })
}

pub(crate) fn verify(files: &Files, checksums: &Checksums) -> Result<()> {
    if checksums.algorithm != ALGORITHM {
        return Err(Error::Malformed {
            entry: CHECKSUMS.into(),
            problem: format!(
                "unknown algorithm {:?}, expected sha256",
                checksums.algorithm
            ),
        });
    }
    for (entry, data) in files {
        let expected = checksums
            .files
            .get(entry)
            .ok_or_else(|| Error::Unchecksummed {
                entry: entry.clone(),
            })?;
        let actual = sha256_hex(data);
        if !actual.eq_ignore_ascii_case(expected) {
            return Err(Error::ChecksumMismatch {
                entry: entry.clone(),
                expected: expected.clone(),
                actual,
            });
        }
    }
    if let Some(missing) = checksums.files.keys().find(|e| !files.contains_key(*e)) {
        return Err(Error::MissingEntry {
            entry: missing.clone(),
            reason: "listed in ferry/checksums.json".into(),
        });
    }
    Ok(())
}

/// The checksums of every entry in `files`.
pub(crate) fn checksums(files: &Files) -> Checksums {
    Checksums {
        algorithm: ALGORITHM.into(),
        files: files
            .iter()
            .map(|(path, data)| (path.clone(), sha256_hex(data)))
            .collect(),
    }
}

pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}
