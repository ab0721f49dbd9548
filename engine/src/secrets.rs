//! The secret store: credentials of connections, kept in the data directory but out of the log.
//! The log is immutable and auditable; a secret must be erasable and never printed, so the log
//! only records that a connection has one.
//!
//! Layout: `secrets/<resource id>`, one file per connection.
//!
//! ## Invariants
//! - On unix the folder is mode `0700` and every secret file `0600` from the moment it is
//!   created: no other user can read a secret, even mid-write.
//! - A secret is replaced atomically and durably (temporary file, fsync, rename, folder fsync):
//!   a reader sees the old secret or the new one, never a mix, and it survives a crash once
//!   [`Secrets::put`] returns. [`Secrets::remove`] is durable too.
//! - A [`Secret`] has no `Display`, and its `Debug` prints only its length.
//!
//! Must not: log, print or put a secret into an event or an error message.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use ferry_schemas::ResourceId;

use crate::blobs::{sync_dir, write_durably};

/// Why a secret could not be stored, read or removed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file system refused. Check the path, its owner and permissions, then retry.
    #[error("cannot {action} {}: {source}; check the path, its owner and permissions", path.display())]
    Io {
        /// What Ferry was doing.
        action: &'static str,
        /// The path involved (never the secret).
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
}

/// A credential read from the store. Use [`Secret::expose`] where the bytes are needed, and
/// nowhere else; `Debug` shows only the length.
pub struct Secret(Vec<u8>);

impl Secret {
    /// The secret's bytes. Do not log or display them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<redacted, {} bytes>)", self.0.len())
    }
}

/// The secret store in one folder.
#[derive(Debug)]
pub struct Secrets {
    root: PathBuf,
}

impl Secrets {
    /// Opens the secret store at `root`, creating it if missing, and restricts the folder to
    /// its owner (mode `0700` on unix).
    pub fn open(root: &Path) -> Result<Secrets, Error> {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(root).map_err(io("create", root))?;
        // The folder may predate this build or have been loosened by hand.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(root, fs::Permissions::from_mode(0o700))
                .map_err(io("restrict the permissions of", root))?;
        }
        if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent).map_err(io("sync", parent))?;
        }
        Ok(Secrets {
            root: root.to_path_buf(),
        })
    }

    /// Stores `secret` as the credential of connection `id`, replacing any previous one.
    /// Durable when it returns.
    pub fn put(&self, id: &ResourceId, secret: &[u8]) -> Result<(), Error> {
        write_durably(
            &self.root,
            &id.to_string(),
            secret,
            Some(0o600),
            |action, path, source| Error::Io {
                action,
                path,
                source,
            },
        )
    }

    /// Whether connection `id` has a stored secret.
    pub fn has(&self, id: &ResourceId) -> bool {
        self.path(id).is_file()
    }

    /// The secret of connection `id`, or `None` if it has none.
    pub fn read(&self, id: &ResourceId) -> Result<Option<Secret>, Error> {
        let path = self.path(id);
        match fs::read(&path) {
            Ok(bytes) => Ok(Some(Secret(bytes))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(Error::Io {
                action: "read",
                path,
                source,
            }),
        }
    }

    /// Erases the secret of connection `id`. Removing a secret that is not there succeeds.
    pub fn remove(&self, id: &ResourceId) -> Result<(), Error> {
        let path = self.path(id);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(source) => {
                return Err(Error::Io {
                    action: "remove",
                    path,
                    source,
                })
            }
        }
        sync_dir(&self.root).map_err(|source| Error::Io {
            action: "sync",
            path: self.root.clone(),
            source,
        })
    }

    fn path(&self, id: &ResourceId) -> PathBuf {
        // A UUID's text form is safe as a file name.
        self.root.join(id.to_string())
    }
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

    fn store() -> (tempfile::TempDir, Secrets) {
        let dir = tempfile::tempdir().unwrap();
        let secrets = Secrets::open(&dir.path().join("secrets")).unwrap();
        (dir, secrets)
    }

    #[test]
    fn put_then_read_returns_the_secret_and_put_replaces_it() {
        let (_dir, secrets) = store();
        let id = ResourceId::new();
        secrets.put(&id, b"client-secret-1").unwrap();
        assert_eq!(
            secrets.read(&id).unwrap().unwrap().expose(),
            b"client-secret-1"
        );
        secrets.put(&id, b"client-secret-2").unwrap();
        assert_eq!(
            secrets.read(&id).unwrap().unwrap().expose(),
            b"client-secret-2"
        );
        assert!(secrets.read(&ResourceId::new()).unwrap().is_none());
    }

    #[cfg(unix)]
    #[test]
    fn the_folder_is_0700_and_secret_files_are_0600() {
        use std::os::unix::fs::PermissionsExt;
        let (_dir, secrets) = store();
        let id = ResourceId::new();
        secrets.put(&id, b"token").unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&secrets.root), 0o700);
        assert_eq!(mode(&secrets.path(&id)), 0o600);
    }

    #[test]
    fn debug_redacts_the_secret() {
        let secret = Secret(b"hunter2".to_vec());
        let shown = format!("{secret:?}");
        assert_eq!(shown, "Secret(<redacted, 7 bytes>)");
        assert!(!shown.contains("hunter2"));
    }

    #[test]
    fn has_reflects_put_and_remove_and_remove_is_idempotent() {
        let (_dir, secrets) = store();
        let id = ResourceId::new();
        assert!(!secrets.has(&id));
        secrets.put(&id, b"token").unwrap();
        assert!(secrets.has(&id));
        secrets.remove(&id).unwrap();
        assert!(!secrets.has(&id));
        assert!(secrets.read(&id).unwrap().is_none());
        secrets.remove(&id).unwrap();
        let left: Vec<_> = fs::read_dir(&secrets.root).unwrap().collect();
        assert!(left.is_empty(), "no temporaries or secrets left: {left:?}");
    }
}
