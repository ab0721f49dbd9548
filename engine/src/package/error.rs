//! Why a package could not be read or written. Every message names the entry (or the file)
//! and the problem, so it can be shown to the user as is.

use std::path::PathBuf;

/// Why a package could not be read or written.
///
/// Everything but [`Error::Io`] and [`Error::Write`] means the package itself is invalid: show
/// the message to the user and stop; retrying the same bytes gives the same error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The package file could not be read. Show it; the caller may retry once the file is
    /// reachable.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file that was asked for.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The bytes are not a zip archive (empty, truncated, corrupt central directory). Show it
    /// and stop.
    #[error("not a zip archive: {reason}")]
    NotZip {
        /// What is wrong with it.
        reason: String,
    },
    /// The archive has more entries than [`super::Limits::max_entries`]. Show it and stop.
    #[error("too many entries: {count} (limit {limit})")]
    TooManyEntries {
        /// Entries in the archive.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// `manifest.json` lists more resources or `dependsOn` entries than [`super::Limits`]
    /// allows (real packages have a few dozen). Show it and stop.
    #[error("entry manifest.json: {count} {what} (limit {limit}); real packages have a few dozen")]
    ManifestTooLarge {
        /// `resources` or `dependsOn entries`.
        what: &'static str,
        /// How many it lists.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// `ferry/signature.json` does not verify: the package was changed after it was signed
    /// (or the signature was copied from another). Show it and stop.
    #[error("entry ferry/signature.json: the signature of key {key} does not match the package: it was changed after it was signed")]
    BadSignature {
        /// The key the signature names.
        key: String,
    },
    /// An entry name is absolute, climbs out with `..`, has a drive letter, a NUL, or empty
    /// components. Show it and stop: the package is hostile or broken.
    #[error("entry {entry}: unsafe path: {reason}")]
    UnsafePath {
        /// The entry name as stored.
        entry: String,
        /// What is unsafe about it.
        reason: &'static str,
    },
    /// An entry name is longer than [`super::Limits::max_path_len`]. Show it and stop.
    #[error("entry {entry}: path is {len} bytes long (limit {limit})")]
    PathTooLong {
        /// The entry name (may be long).
        entry: String,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// Two entries have the same path (after `\` is read as `/`). Show it and stop.
    #[error("entry {entry}: appears more than once")]
    DuplicateEntry {
        /// The repeated path.
        entry: String,
    },
    /// An entry decompresses to more than [`super::Limits::max_entry_bytes`]. Show it and stop.
    #[error("entry {entry}: larger than {limit} bytes uncompressed")]
    EntryTooLarge {
        /// The entry.
        entry: String,
        /// The limit.
        limit: u64,
    },
    /// The entries together decompress to more than [`super::Limits::max_total_bytes`] (or the
    /// zip itself is larger than [`super::Limits::max_archive_bytes`]). Show it and stop.
    #[error("entry {entry}: package exceeds {limit} bytes in total")]
    TotalTooLarge {
        /// The entry being read when the limit was crossed.
        entry: String,
        /// The limit.
        limit: u64,
    },
    /// An entry decompresses more than [`super::Limits::max_ratio`] times its compressed size:
    /// a zip bomb. Show it and stop.
    #[error("entry {entry}: compression ratio above {limit}:1 (zip bomb)")]
    CompressionRatio {
        /// The entry.
        entry: String,
        /// The limit.
        limit: u64,
    },
    /// An entry cannot be decompressed (corrupt data, bad checksum, encryption, unsupported
    /// method). Show it and stop.
    #[error("entry {entry}: cannot be read: {reason}")]
    CorruptEntry {
        /// The entry.
        entry: String,
        /// What the zip reader said.
        reason: String,
    },
    /// Neither a legacy `manifest.json` nor a solution `solution.xml` was found at the root or
    /// inside a single top-level folder. Show it and stop: this is not a package.
    #[error("entry manifest.json: missing; neither manifest.json nor solution.xml is at the package root or inside a single top-level folder")]
    MissingManifest,
    /// An entry the package needs is absent. Show it and stop.
    #[error("entry {entry}: missing: {reason}")]
    MissingEntry {
        /// The path that was looked for.
        entry: String,
        /// Why it is needed.
        reason: String,
    },
    /// A JSON entry does not parse or does not have the expected shape; the message carries
    /// line and column. Show it and stop.
    #[error("entry {entry}: invalid JSON: {source}")]
    InvalidJson {
        /// The entry.
        entry: String,
        /// The parser's error, with line and column.
        source: serde_json::Error,
    },
    /// An XML entry does not parse or lacks a required element. Show it and stop.
    #[error("entry {entry}: invalid XML: {reason}")]
    InvalidXml {
        /// The entry.
        entry: String,
        /// What is wrong, with the byte position when known.
        reason: String,
    },
    /// An entry parses but lacks something the package needs or has a value out of range.
    /// Show it and stop.
    #[error("entry {entry}: {problem}")]
    Malformed {
        /// The entry.
        entry: String,
        /// What is wrong.
        problem: String,
    },
    /// A resource's `dependsOn` names a key that is not in `resources`. Show it and stop.
    #[error(
        "entry manifest.json: resource {resource} depends on {missing}, which is not in resources"
    )]
    DanglingDependency {
        /// The resource whose `dependsOn` is wrong.
        resource: String,
        /// The missing key.
        missing: String,
    },
    /// The dependency graph has a cycle, so there is no import order. Show it and stop.
    #[error("entry manifest.json: resource {resource} is part of a dependency cycle")]
    DependencyCycle {
        /// A resource on the cycle.
        resource: String,
    },
    /// A flow map or an app points at a manifest key that is not a resource of the expected
    /// type. Show it and stop.
    #[error(
        "entry {entry}: {reference} points to {key}, which is not {expected} in manifest.json"
    )]
    DanglingReference {
        /// The entry holding the reference.
        entry: String,
        /// Which reference (map key or connection reference name).
        reference: String,
        /// The key it points to.
        key: String,
        /// What it should be, e.g. `an api resource`.
        expected: &'static str,
    },
    /// An entry's SHA-256 differs from `ferry/checksums.json`: the package was altered after
    /// Ferry wrote it. Show it and stop.
    #[error("entry {entry}: checksum mismatch: ferry/checksums.json says {expected}, content hashes to {actual}")]
    ChecksumMismatch {
        /// The entry.
        entry: String,
        /// The recorded digest.
        expected: String,
        /// The digest of the bytes read.
        actual: String,
    },
    /// An entry is present but not covered by `ferry/checksums.json`: it was added after Ferry
    /// wrote the package. Show it and stop.
    #[error("entry {entry}: not listed in ferry/checksums.json")]
    Unchecksummed {
        /// The entry.
        entry: String,
    },
    /// The caller asked to write an entry Ferry writes itself (`manifest.json`, `ferry/...`)
    /// or one with an unsafe path. Fix the caller.
    #[error("entry {entry}: cannot be written: {reason}")]
    Unwritable {
        /// The entry.
        entry: String,
        /// Why.
        reason: &'static str,
    },
    /// The zip writer failed (out of memory, a bug). Report it; retrying will not help.
    #[error("cannot write the package: {reason}")]
    Write {
        /// What the zip writer said.
        reason: String,
    },
}

impl Error {
    /// The entry an error is about, when it is about one entry.
    pub fn entry(&self) -> Option<&str> {
        match self {
            Self::UnsafePath { entry, .. }
            | Self::PathTooLong { entry, .. }
            | Self::DuplicateEntry { entry }
            | Self::EntryTooLarge { entry, .. }
            | Self::TotalTooLarge { entry, .. }
            | Self::CompressionRatio { entry, .. }
            | Self::CorruptEntry { entry, .. }
            | Self::MissingEntry { entry, .. }
            | Self::InvalidJson { entry, .. }
            | Self::InvalidXml { entry, .. }
            | Self::Malformed { entry, .. }
            | Self::DanglingReference { entry, .. }
            | Self::ChecksumMismatch { entry, .. }
            | Self::Unchecksummed { entry }
            | Self::Unwritable { entry, .. } => Some(entry),
            Self::BadSignature { .. } => Some("ferry/signature.json"),
            Self::MissingManifest
            | Self::ManifestTooLarge { .. }
            | Self::DanglingDependency { .. }
            | Self::DependencyCycle { .. } => Some("manifest.json"),
            Self::Io { .. }
            | Self::NotZip { .. }
            | Self::TooManyEntries { .. }
            | Self::Write { .. } => None,
        }
    }

    /// True when the package (or the path given) is at fault rather than the machine: the
    /// caller should report invalid input, not a failure.
    pub fn is_invalid_input(&self) -> bool {
        match self {
            Self::Io { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::IsADirectory
            ),
            Self::Write { .. } => false,
            _ => true,
        }
    }
}

/// The package codec's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
