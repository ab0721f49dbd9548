//! Helpers for Ferry's cross-crate scenarios: where the shared real-package fixtures live.
//!
//! The scenarios themselves are in `tests/tests/`. The fixtures folder sits beside the
//! repository checkout (`../shared/fixtures/real-packages`), locally and in CI.

use std::path::PathBuf;

/// The folder of real export packages from the field.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/real-packages")
}

/// Every fixture zip, sorted by name. Panics with a clear message when the folder is missing,
/// since every scenario needs it.
pub fn fixtures() -> Vec<PathBuf> {
    let dir = fixtures_dir();
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "fixtures folder {} is missing ({e}); check out the repository beside shared/",
            dir.display()
        )
    });
    let mut zips: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "zip"))
        .collect();
    zips.sort();
    zips
}
