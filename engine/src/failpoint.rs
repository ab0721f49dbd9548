//! Named crash and pause points for the test harnesses: with the cargo feature `failpoints`,
//! the process aborts (as abruptly as `kill -9`: no destructors, no flush) at the point that
//! `FERRY_CRASH_AT` names. `FERRY_CRASH_AT=<point>:<n>` aborts at the n-th time the point is
//! reached (default 1). `FERRY_PAUSE_AT=<point>[:<n>]` with `FERRY_PAUSE_FILE=<path>` instead
//! holds the process there: it creates the file and goes on once the file is removed (a test
//! lines up a race between processes this way). Without the feature every check compiles to
//! nothing.
//!
//! Points:
//! - `log-mid-write`: a group commit has written half its bytes, not fsynced them.
//! - `log-after-write`: a group commit is written, not fsynced.
//! - `log-after-fsync`: a group commit is durable, not yet acknowledged or visible.
//! - `step-after-blobs`: a step's documents are stored, its record is not appended.
//! - `step-after-append`: a step's record is durable and acknowledged, the process's
//!   projections have not seen it.
//! - `between-steps`: one step of a migration is done, the next not begun.
//! - `projections-before-save`: records are durable and folded, the sled batch that saves
//!   the projections is not applied.
//! - `projections-after-save`: the sled batch is applied, sled has not flushed it to its files.
//! - `step-changes-environment`: a step that changes its environment is decided, its record
//!   is not appended (a pause point; not in [`POINTS`], as not every workload reaches it).

/// Every point the crash harness covers.
pub const POINTS: [&str; 8] = [
    "log-mid-write",
    "log-after-write",
    "log-after-fsync",
    "step-after-blobs",
    "step-after-append",
    "between-steps",
    "projections-before-save",
    "projections-after-save",
];

/// Aborts the process if `FERRY_CRASH_AT` names `point` and this is the chosen hit.
#[inline]
pub fn hit(point: &'static str) {
    if armed(point) {
        std::process::abort();
    }
    pause(point);
}

/// Which hit of which point an environment variable (`FERRY_CRASH_AT`, `FERRY_PAUSE_AT`) names.
#[cfg(feature = "failpoints")]
fn target(variable: &str) -> Option<(String, u64)> {
    let spec = std::env::var(variable).ok()?;
    match spec.split_once(':') {
        Some((name, nth)) => Some((name.to_owned(), nth.parse().ok()?)),
        None => Some((spec, 1)),
    }
}

/// Holds the process at `point` while `FERRY_PAUSE_FILE` exists, if `FERRY_PAUSE_AT` names
/// this hit of it.
#[cfg(feature = "failpoints")]
fn pause(point: &'static str) {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;

    static TARGET: OnceLock<Option<(String, u64)>> = OnceLock::new();
    static HITS: AtomicU64 = AtomicU64::new(0);
    let Some((name, nth)) = TARGET.get_or_init(|| target("FERRY_PAUSE_AT")) else {
        return;
    };
    if name != point || HITS.fetch_add(1, Ordering::SeqCst) + 1 != *nth {
        return;
    }
    let Some(file) = std::env::var_os("FERRY_PAUSE_FILE") else {
        return;
    };
    let file = std::path::PathBuf::from(file);
    if std::fs::write(&file, point).is_err() {
        return;
    }
    while file.exists() {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[cfg(not(feature = "failpoints"))]
#[inline(always)]
fn pause(_point: &'static str) {}

/// Whether this hit of `point` is the one to crash at (the caller does something partial
/// first, then aborts).
#[cfg(feature = "failpoints")]
pub fn armed(point: &'static str) -> bool {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;

    static TARGET: OnceLock<Option<(String, u64)>> = OnceLock::new();
    static HITS: AtomicU64 = AtomicU64::new(0);
    let target = TARGET.get_or_init(|| target("FERRY_CRASH_AT"));
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
