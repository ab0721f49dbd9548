//! From zip bytes to a [`Package`]: find the package root, verify Ferry's checksums, decide
//! the kind by content and hand over to the legacy or solution reader.

use std::io::Read;
use std::path::Path;

use ferry_schemas::manifest::Provenance;
use ferry_schemas::solution::SolutionSummary;
use serde::de::DeserializeOwned;

use super::{archive, ferry, legacy, solution, Error, Files, Legacy, Limits, Result};

/// A package read into memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Package {
    /// What the package is and what it holds.
    pub contents: Contents,
    /// Every entry's bytes by path relative to the package root, except the entries the codec
    /// regenerates on write (legacy `manifest.json`, `ferry/provenance.json`,
    /// `ferry/checksums.json`).
    pub files: Files,
    /// Ferry's `ferry/provenance.json`, when the package has one.
    pub provenance: Option<Provenance>,
    /// The public key (hex) whose signature over the whole package verified; None: unsigned.
    pub signer: Option<String>,
}

/// The two kinds of package.
#[derive(Debug, Clone, PartialEq)]
pub enum Contents {
    /// A legacy export package (`manifest.json`).
    Legacy(Legacy),
    /// A Dataverse solution zip (`solution.xml`); its files are kept verbatim.
    Solution(SolutionSummary),
}

/// The kind of a package, without its contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A legacy export package.
    Legacy,
    /// A Dataverse solution zip.
    Solution,
}

impl Kind {
    /// `legacy` or `solution`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Legacy => "legacy",
            Self::Solution => "solution",
        }
    }
}

impl Package {
    /// The package's kind.
    pub fn kind(&self) -> Kind {
        match self.contents {
            Contents::Legacy(_) => Kind::Legacy,
            Contents::Solution(_) => Kind::Solution,
        }
    }

    /// Legacy: `details.displayName`; solution: `"<UniqueName> <Version>"`.
    pub fn display_name(&self) -> String {
        match &self.contents {
            Contents::Legacy(legacy) => legacy.manifest.details.display_name.clone(),
            Contents::Solution(summary) => summary.display_name(),
        }
    }
}

pub(crate) fn package(bytes: &[u8], limits: &Limits) -> Result<Package> {
    let files = archive::read(bytes, limits)?;
    let mut files = unwrap_root(files)?;
    let ferry::Taken { provenance, signer } = ferry::verify_and_take(&mut files)?;
    let contents = if files.contains_key(solution::SOLUTION) {
        Contents::Solution(solution::read(&files)?)
    } else if files.contains_key(legacy::MANIFEST) {
        Contents::Legacy(legacy::read(&mut files, limits)?)
    } else {
        return Err(Error::MissingManifest);
    };
    Ok(Package {
        contents,
        files,
        provenance,
        signer,
    })
}

pub(crate) fn file(path: &Path, limits: &Limits) -> Result<Vec<u8>> {
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    file.take(limits.max_archive_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > limits.max_archive_bytes {
        return Err(Error::TotalTooLarge {
            entry: "(the zip file itself)".into(),
            limit: limits.max_archive_bytes,
        });
    }
    Ok(bytes)
}

/// Returns the files relative to the package root: as they are when the root holds a
/// manifest, or stripped of a single top-level folder that holds one.
pub(crate) fn unwrap_root(files: Files) -> Result<Files> {
    let is_root =
        |f: &Files| f.contains_key(legacy::MANIFEST) || f.contains_key(solution::SOLUTION);
    if is_root(&files) {
        return Ok(files);
    }
    let mut tops = files
        .keys()
        .map(|path| path.split_once('/').map(|(top, _)| top));
    let Some(Some(wrapper)) = tops.next() else {
        return Err(Error::MissingManifest);
    };
    let wrapper = wrapper.to_owned();
    if !tops.all(|top| top == Some(wrapper.as_str())) {
        return Err(Error::MissingManifest);
    }
    let prefix = format!("{wrapper}/");
    let inner: Files = files
        .into_iter()
        .filter_map(|(path, data)| path.strip_prefix(&prefix).map(|p| (p.to_owned(), data)))
        .collect();
    if is_root(&inner) {
        Ok(inner)
    } else {
        Err(Error::MissingManifest)
    }
}

/// Parses a JSON entry (a leading UTF-8 BOM is allowed), naming it on failure.
pub(crate) fn json<T: DeserializeOwned>(entry: &str, bytes: &[u8]) -> Result<T> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    serde_json::from_slice(bytes).map_err(|source| Error::InvalidJson {
        entry: entry.to_owned(),
        source,
    })
}
