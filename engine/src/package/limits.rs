//! How much an untrusted package may cost to read. Every limit is checked against bytes
//! actually decompressed, never against the sizes a zip declares.

/// Caps applied while reading a package. [`Limits::default`] suits real exports (the largest
/// seen is a few MiB) with a wide margin.
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
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_archive_bytes: 1 << 30,
            max_entries: 10_000,
            max_total_bytes: 1 << 30,
            max_entry_bytes: 256 << 20,
            max_ratio: 200,
            ratio_floor_bytes: 1 << 20,
            max_path_len: 1024,
        }
    }
}
