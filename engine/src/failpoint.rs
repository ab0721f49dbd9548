//! Named crash points for the crash harness: with the cargo feature `failpoints`, the process
//! aborts (as abruptly as `kill -9`: no destructors, no flush) at the point that
//! `FERRY_CRASH_AT` names. `FERRY_CRASH_AT=<point>:<n>` aborts at the n-th time the point is
//! reached (default 1). Without the feature every check compiles to nothing.
//!
//! Points:
//! - `log-mid-write`: a group commit has written half its bytes, not fsynced them.
//! - `log-after-write`: a group commit is written, not fsynced.
//! - `log-after-fsync`: a group commit is durable, not yet acknowledged or visible.
//! - `step-after-blobs`: a step's documents are stored, its record is not appended.
//! - `step-after-append`: a step's record is durable and acknowledged, the process's
//!   projections have not seen it.
//! - `between-steps`: one step of a migration is done, the next not begun.

/// Every point, for the harness and `--help`-style listings.
pub const POINTS: [&str; 6] = [
    "log-mid-write",
    "log-after-write",
    "log-after-fsync",
    "step-after-blobs",
    "step-after-append",
    "between-steps",
];

/// Aborts the process if `FERRY_CRASH_AT` names `point` and this is the chosen hit.
#[inline]
pub fn hit(point: &'static str) {
    if armed(point) {
        std::process::abort();
    }
}

/// Whether this hit of `point` is the one to crash at (the caller does something partial
/// first, then aborts).
#[cfg(feature = "failpoints")]
pub fn armed(point: &'static str) -> bool {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;

    static TARGET: OnceLock<Option<(String, u64)>> = OnceLock::new();
    static HITS: AtomicU64 = AtomicU64::new(0);
    let target = TARGET.get_or_init(|| {
        let spec = std::env::var("FERRY_CRASH_AT").ok()?;
        let (name, nth) = match spec.split_once(':') {
            Some((name, nth)) => (name.to_owned(), nth.parse().ok()?),
            None => (spec, 1),
        };
        Some((name, nth))
    });
    match target {
        Some((name, nth)) if name == point => HITS.fetch_add(1, Ordering::SeqCst) + 1 == *nth,
        _ => false,
    }
}

/// Without the feature nothing is ever armed.
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub fn armed(_point: &'static str) -> bool {
    false
}
