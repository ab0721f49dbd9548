//! The package codec: reads legacy Power Apps export packages and Dataverse solution zips as
//! untrusted input, and writes legacy packages in the same shape.
//!
//! Main entry points: [`read`] / [`read_file`] → [`Package`], [`write`] → zip bytes,
//! [`inspect::Report`] for what `ferry package inspect` shows. Failures are [`Error`]s that
//! name the entry and the problem.
//!
//! ## Invariants
//! - The kind is decided by content, never by file name: a root `manifest.json` is a legacy
//!   package, a root `solution.xml` (with `customizations.xml` and `[Content_Types].xml`) a
//!   solution; a single top-level wrapper folder holding either is looked through.
//! - Every [`Limits`] cap holds on the bytes actually decompressed; no input panics.
//! - [`Package::files`] keeps every entry's bytes except those the codec regenerates
//!   (legacy `manifest.json`, `ferry/provenance.json`, `ferry/checksums.json`), so
//!   `read(write(p)) == p`.
//! - A package carrying `ferry/checksums.json` is only accepted if every entry matches it.
//!
//! Must not: touch the file system beyond [`read_file`], or trust sizes a zip declares.

mod archive;
mod error;
mod ferry;
pub mod inspect;
mod legacy;
mod limits;
mod links;
mod read;
pub mod review;
pub mod signature;
mod solution;
mod write;

#[cfg(test)]
mod tests;

use std::path::Path;

pub use archive::Files;
pub use error::{Error, Result};
pub use ferry_schemas::manifest::Provenance;
pub use legacy::{App, Flow, FlowConnection, Legacy};
pub use limits::Limits;
pub use read::{Contents, Kind, Package};
pub use review::review;
pub use write::write;

/// Reads a package from zip bytes.
pub fn read(bytes: &[u8], limits: &Limits) -> Result<Package> {
    read::package(bytes, limits)
}

/// Reads a package from a zip file, refusing files larger than
/// [`Limits::max_archive_bytes`] before loading them.
pub fn read_file(path: &Path, limits: &Limits) -> Result<Package> {
    let bytes = read::file(path, limits)?;
    read(&bytes, limits)
}
