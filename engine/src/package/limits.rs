//! How much an untrusted package may cost to read. Every limit is checked against bytes
//! actually decompressed, never against the sizes a zip declares.

/// Caps applied while reading a package. [`Limits::default`] suits real exports with a wide
/// margin: the largest of the real packages in the fixtures is 0.6 MiB inflated in 18 entries
/// with 12 resources (an app with media may reach tens of MiB), and the defaults keep one
/// package's reading under 64 + 128 MiB whatever the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest zip file accepted, in bytes.
    pub max_archive_bytes: u64,
    /// Most entries (files and directories) in the archive.
    pub max_entries: usize,
    /// Most bytes all entries may decompress to together.
    pub max_total_bytes: u64,
    /// Most bytes one entry may decompress to.
    pub max_entry_bytes: u64,
    /// Highest decompressed/compressed ratio of an entry past [`Limits::ratio_floor_bytes`].
    pub max_ratio: u64,
    /// Entries that decompress to at most this many bytes are never ratio-checked: tiny
    /// files compress oddly and cannot hurt.
    pub ratio_floor_bytes: u64,
    /// Longest entry path, in bytes.
    pub max_path_len: usize,
    /// Most resources a legacy `manifest.json` may list.
    pub max_resources: usize,
    /// Most `dependsOn` entries all its resources may list together.
    pub max_dependencies: usize,
}

impl Limits {
    /// The defaults, as a constant (for caps derived from them).
    pub const DEFAULT: Limits = Limits {
        max_archive_bytes: 64 << 20,
        max_entries: 2_000,
        max_total_bytes: 128 << 20,
        max_entry_bytes: 64 << 20,
        max_ratio: 200,
        ratio_floor_bytes: 1 << 20,
        max_path_len: 1024,
        max_resources: 2_000,
        max_dependencies: 20_000,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}
