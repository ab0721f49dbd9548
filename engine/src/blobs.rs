//! The blob store: immutable byte strings in the data directory (`<data-dir>/blobs`), named by
//! their SHA-256 [`Digest`]. The log records digests; the bytes (captured packages, payloads
//! too large for an event) live here.
//!
//! Layout: `blobs/<first 2 hex digits>/<64 hex digits>`. The 256 fan-out folders are created by
//! [`Blobs::open`], so writers never race to create them.
//!
//! ## Invariants
//! - A blob file appears under its final name only complete and fsynced: it is written to a
//!   unique temporary file in the same folder, synced, renamed into place, and the folder is
//!   synced. When [`Blobs::put`] returns, the blob survives a crash.
//! - A file's bytes hash to its name. [`Blobs::get`] re-hashes every read and returns
//!   [`Error::Corrupt`] rather than wrong bytes.
//! - Blobs are never changed; writing the same bytes twice is a no-op.
//!
//! Must not: delete blobs (nothing here knows which are still referenced), or trust a file
//! without re-hashing it. Leftover `.*.tmp` files from a crash are garbage and never read.

use std::collections::HashSet;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use ferry_schemas::Digest;

/// Why a blob could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file system refused. Check the path, its permissions and free space, then retry.
    #[error("cannot {action} {}: {source}; check the path, its permissions and free space", path.display())]
    Io {
        /// What Ferry was doing.
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// No blob has this digest. If the log refers to it, the data directory is incomplete:
    /// stop and restore it from a backup.
    #[error("blob {digest} is not in the store; if the log refers to it, restore the data directory from a backup")]
    Missing {
        /// The digest asked for.
        digest: Digest,
    },
    /// The blob's file no longer hashes to its digest: the disk or someone damaged it. Stop
    /// and restore the data directory from a backup; never use the bytes.
    #[error("blob {digest} at {} is corrupt (its bytes no longer match the digest); restore the data directory from a backup", path.display())]
    Corrupt {
        /// The digest asked for.
        digest: Digest,
        /// The damaged file.
        path: PathBuf,
    },
    /// The shared blob store (the Kafka blob topic) refused or could not be reached. Nothing
    /// that names the blob was recorded; check the brokers and retry.
    #[error("blob {digest}: the shared blob store failed: {reason}")]
    Remote {
        /// The blob.
        digest: Digest,
        /// What went wrong.
        reason: String,
    },
}

/// Where blobs are shared between processes on several machines (the Kafka blob topic). With a
/// remote, the local folder is a cache: a put is published before it returns, and a blob
/// missing locally is fetched.
pub trait Remote: Send + Sync + std::fmt::Debug {
    /// Makes `bytes` (whose digest is `digest`) available to every process; durable when it
    /// returns.
    fn publish(&self, digest: &Digest, bytes: &[u8]) -> Result<(), String>;
    /// Reads what was published since the last call and hands every whole blob to `keep`.
    fn fetch(&self, keep: &mut dyn FnMut(&[u8])) -> Result<(), String>;
}

/// How long a blob missing locally is looked for in the remote.
const REMOTE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

/// A content-addressed blob store in one folder.
#[derive(Debug)]
pub struct Blobs {
    root: PathBuf,
    /// Digests this process stored or synced: durable, so storing them again is free.
    durable: Mutex<HashSet<Digest>>,
    remote: Option<Arc<dyn Remote>>,
}

impl Blobs {
    /// Opens the blob store at `root`, creating it and its fan-out folders if missing.
    pub fn open(root: &Path) -> Result<Blobs, Error> {
        fs::create_dir_all(root).map_err(io("create", root))?;
        for byte in 0..=u8::MAX {
            let fan_out = root.join(hex::encode([byte]));
            match fs::create_dir(&fan_out) {
                Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
                    return Err(io("create", &fan_out)(e))
                }
                _ => {}
            }
        }
        // Makes the fan-out folders (and `root` itself) durable, including any a crashed
        // earlier run created without syncing.
        sync_dir(root).map_err(io("sync", root))?;
        if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent).map_err(io("sync", parent))?;
        }
        Ok(Blobs {
            root: root.to_path_buf(),
            durable: Mutex::new(HashSet::new()),
            remote: None,
        })
    }

    /// Shares this store's blobs through `remote`.
    pub fn with_remote(mut self, remote: Arc<dyn Remote>) -> Blobs {
        self.remote = Some(remote);
        self
    }

    /// Stores `bytes` and returns their digest; with a remote, publishes them too. Durable when
    /// it returns.
    pub fn put(&self, bytes: &[u8]) -> Result<Digest, Error> {
        let digest = Digest::of(bytes);
        if self.known_durable(&digest) {
            return Ok(digest);
        }
        if let Some(remote) = &self.remote {
            remote
                .publish(&digest, bytes)
                .map_err(|reason| Error::Remote { digest, reason })?;
        }
        self.put_local(bytes)
    }

    /// Stores `bytes` in the local folder. Storing bytes that are already there writes nothing.
    fn put_local(&self, bytes: &[u8]) -> Result<Digest, Error> {
        let digest = Digest::of(bytes);
        if self.known_durable(&digest) {
            return Ok(digest);
        }
        let path = self.path(&digest);
        let dir = self.fan_out(&digest);
        match fs::metadata(&path) {
            // Another writer may have renamed it into place without syncing the folder yet;
            // syncing here keeps "durable when it returns" true for this caller too.
            Ok(_) => sync_dir(&dir).map_err(io("sync", &dir))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => write_durably(
                &dir,
                &digest.to_string(),
                bytes,
                None,
                |action, path, source| Error::Io {
                    action,
                    path,
                    source,
                },
            )?,
            Err(e) => return Err(io("inspect", &path)(e)),
        }
        self.durable
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(digest);
        Ok(digest)
    }

    /// Whether this process has already made `digest` durable (then a put costs nothing: the
    /// same documents are stored once per target of a provisioning run).
    fn known_durable(&self, digest: &Digest) -> bool {
        self.durable
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(digest)
    }

    /// The bytes stored under `digest`, checked against it; with a remote, fetched from it when
    /// they are not here yet.
    pub fn get(&self, digest: &Digest) -> Result<Vec<u8>, Error> {
        match (self.get_local(digest), &self.remote) {
            (Err(Error::Missing { .. }), Some(remote)) => self.fetch(remote.as_ref(), digest),
            (found, _) => found,
        }
    }

    /// Brings `digest` from the remote. A record names it, so it was published before; the
    /// remote's view of its end can lag for a moment, so this looks again for a while, and then
    /// reports the remote unavailable (retriable) — never "missing", which would be final.
    fn fetch(&self, remote: &dyn Remote, digest: &Digest) -> Result<Vec<u8>, Error> {
        let deadline = std::time::Instant::now() + REMOTE_PATIENCE;
        loop {
            let mut failed = None;
            let fetched = remote.fetch(&mut |bytes| {
                if let Err(e) = self.put_local(bytes) {
                    failed.get_or_insert(e);
                }
            });
            if let Some(e) = failed {
                return Err(e);
            }
            match self.get_local(digest) {
                Err(Error::Missing { .. }) => {}
                found => return found,
            }
            if std::time::Instant::now() > deadline {
                return Err(Error::Remote {
                    digest: *digest,
                    reason: match fetched {
                        Err(reason) => reason,
                        Ok(()) => format!(
                            "not found on the shared blob store after {REMOTE_PATIENCE:?}; check \
                             that every process uses the same brokers and --topic-prefix"
                        ),
                    },
                });
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    fn get_local(&self, digest: &Digest) -> Result<Vec<u8>, Error> {
        let path = self.path(digest);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::Missing { digest: *digest })
            }
            Err(source) => {
                return Err(Error::Io {
                    action: "read",
                    path,
                    source,
                })
            }
        };
        if Digest::of(&bytes) != *digest {
            return Err(Error::Corrupt {
                digest: *digest,
                path,
            });
        }
        Ok(bytes)
    }

    /// Whether a blob with this digest is stored (its bytes are not checked); with a remote,
    /// whether it can be fetched.
    pub fn contains(&self, digest: &Digest) -> bool {
        self.path(digest).is_file() || (self.remote.is_some() && self.get(digest).is_ok())
    }

    fn fan_out(&self, digest: &Digest) -> PathBuf {
        self.root.join(hex::encode(&digest.as_bytes()[..1]))
    }

    fn path(&self, digest: &Digest) -> PathBuf {
        self.fan_out(digest).join(digest.to_string())
    }
}

/// Writes `bytes` to `dir/name` atomically and durably: a unique temporary file in `dir`
/// (created with `mode` on unix, if given), synced, renamed into place, then `dir` synced.
/// `dir` must exist. Failures go through `error(action, path, source)`.
pub(crate) fn write_durably<E>(
    dir: &Path,
    name: &str,
    bytes: &[u8],
    mode: Option<u32>,
    error: impl Fn(&'static str, PathBuf, io::Error) -> E,
) -> Result<(), E> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let (tmp, mut file) = loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{name}.{}.{n}.tmp", std::process::id()));
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        if let Some(mode) = mode {
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
        }
        #[cfg(not(unix))]
        let _ = mode;
        match options.open(&tmp) {
            Ok(file) => break (tmp, file),
            // A stale temporary from an earlier process with the same id: take the next name.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(error("create", tmp, e)),
        }
    };
    let written = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| ("write", e))
        .and_then(|()| fs::rename(&tmp, dir.join(name)).map_err(|e| ("rename", e)));
    drop(file);
    if let Err((action, e)) = written {
        // Best effort: a leftover temporary is harmless garbage.
        let _ = fs::remove_file(&tmp);
        return Err(error(action, tmp, e));
    }
    sync_dir(dir).map_err(|e| error("sync", dir.to_path_buf(), e))
}

/// Makes the entries of `dir` (creations, renames, removals) durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

/// Wraps an I/O error with what was being done to which path.
fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::Io {
        action,
        path,
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Blobs) {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::open(&dir.path().join("blobs")).unwrap();
        (dir, blobs)
    }

    #[test]
    fn put_then_get_returns_the_same_bytes() {
        let (_dir, blobs) = store();
        let digest = blobs.put(b"a captured package").unwrap();
        assert_eq!(digest, Digest::of(b"a captured package"));
        assert!(blobs.contains(&digest));
        assert_eq!(blobs.get(&digest).unwrap(), b"a captured package");
        let hex = digest.to_string();
        assert!(blobs.root.join(&hex[..2]).join(&hex).is_file());
    }

    #[test]
    fn putting_the_same_bytes_twice_is_idempotent_and_leaves_no_temporaries() {
        let (_dir, blobs) = store();
        let first = blobs.put(b"same").unwrap();
        let second = blobs.put(b"same").unwrap();
        assert_eq!(first, second);
        let fan_out = blobs.fan_out(&first);
        let names: Vec<_> = fs::read_dir(&fan_out)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [first.to_string().as_str()]);
    }

    #[test]
    fn a_damaged_blob_is_reported_corrupt_not_returned() {
        let (_dir, blobs) = store();
        let digest = blobs.put(b"original").unwrap();
        fs::write(blobs.path(&digest), b"tampered").unwrap();
        let err = blobs.get(&digest).unwrap_err();
        assert!(
            matches!(&err, Error::Corrupt { digest: d, .. } if *d == digest),
            "got {err}"
        );
        assert!(err.to_string().contains("restore the data directory"));
    }

    #[test]
    fn an_unknown_digest_is_missing() {
        let (_dir, blobs) = store();
        let digest = Digest::of(b"never stored");
        assert!(!blobs.contains(&digest));
        let err = blobs.get(&digest).unwrap_err();
        assert!(
            matches!(err, Error::Missing { digest: d } if d == digest),
            "got {err}"
        );
    }

    #[test]
    fn reopening_keeps_the_blobs() {
        let (dir, blobs) = store();
        let digest = blobs.put(b"kept").unwrap();
        let reopened = Blobs::open(&dir.path().join("blobs")).unwrap();
        assert_eq!(reopened.get(&digest).unwrap(), b"kept");
    }
}
