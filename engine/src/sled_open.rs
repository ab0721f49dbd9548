//! Opening a sled database whose lock a store closed a moment ago may still hold.
//!
//! sled frees a database's file lock when its last handle is dropped, and its flusher thread
//! holds one a little past the owner's drop. A store reopened at once — by this process after
//! a close, or by the next process while the previous one exits — asks for the lock again for
//! up to [`LOCK_WAIT`] before it reports the database as held.

use std::path::Path;
use std::time::{Duration, Instant};

/// How long opening waits for a lock that was just released.
pub const LOCK_WAIT: Duration = Duration::from_secs(2);

/// Opens `config` at `path`, waiting up to [`LOCK_WAIT`] for a lock being released.
pub(crate) fn open(config: sled::Config, path: &Path) -> sled::Result<sled::Db> {
    let config = config.path(path);
    let started = Instant::now();
    loop {
        match config.open() {
            Err(e) if is_locked(&e) && started.elapsed() < LOCK_WAIT => {
                std::thread::sleep(Duration::from_millis(20));
            }
            opened => return opened,
        }
    }
}

/// Whether `error` is sled's word for a lock another handle (or process) holds.
pub(crate) fn is_locked(error: &sled::Error) -> bool {
    matches!(error, sled::Error::Io(io) if io.to_string().contains("could not acquire lock"))
}
