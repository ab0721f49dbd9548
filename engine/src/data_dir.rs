//! The embedded default's data directory: one folder, no server. It holds Ferry's log in
//! `log/`, packages and documents in `blobs/` (content-addressed) and connection credentials in
//! `secrets/` (never on the log), and the audit signing key and checkpoints in `audit/`.
//!
//! ## Invariants
//! - A folder is a data directory only if it holds the marker file [`DataDir::MARKER`], written
//!   atomically (temporary file, fsync, rename, directory fsync) by [`DataDir::init`].
//! - Every other command opens an existing data directory and never creates one by accident.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use crate::audit::{self, Keys};
use crate::blobs::{self, Blobs};
use crate::log::{self, FileStore, Options, Store};
use crate::secrets::{self, Secrets};

/// The marker's content: the layout version of the data directory.
const FORMAT: &str = "{\"ferry_data_dir\":1}\n";

/// Why a data directory could not be set up or opened.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// There is no data directory there. Run `ferry init`, or point `--data-dir` /
    /// `FERRY_DATA_DIR` at the right folder.
    #[error("no Ferry data directory at {}; run `ferry init` first, or pass --data-dir", path.display())]
    NotInitialised {
        /// The folder.
        path: PathBuf,
    },
    /// The marker is not one this build understands. Use the Ferry version that created it.
    #[error("{} was made by an incompatible Ferry (marker {marker:?})", path.display())]
    Incompatible {
        /// The folder.
        path: PathBuf,
        /// What the marker holds.
        marker: String,
    },
    /// The file system refused. Check the path and its permissions.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What Ferry was doing.
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The log could not be opened; see [`log::Error`].
    #[error(transparent)]
    Log(#[from] log::Error),
    /// The blob store could not be opened; see [`blobs::Error`].
    #[error(transparent)]
    Blobs(#[from] blobs::Error),
    /// The audit key could not be read or made; see [`audit::Error`].
    #[error(transparent)]
    Audit(#[from] audit::Error),
    /// The secret store could not be opened; see [`secrets::Error`].
    #[error(transparent)]
    Secrets(#[from] secrets::Error),
}

/// An open data directory.
pub struct DataDir {
    path: PathBuf,
    log: Arc<FileStore>,
    blobs: Arc<Blobs>,
    secrets: Secrets,
    keys: Keys,
}

impl DataDir {
    /// The marker file's name.
    pub const MARKER: &'static str = "ferry-data.json";

    /// Creates the data directory at `path` if it is not one yet, and opens it. Returns whether
    /// it was created (false: it already existed, and is opened as it is).
    pub fn init(path: &Path, options: Options) -> Result<(DataDir, bool), Error> {
        let marker = path.join(Self::MARKER);
        let created = !marker.exists();
        if created {
            let io = |action| {
                move |source| Error::Io {
                    action,
                    path: path.to_path_buf(),
                    source,
                }
            };
            fs::create_dir_all(path).map_err(io("create"))?;
            let tmp = path.join(".ferry-data.json.tmp");
            let mut file = fs::File::create(&tmp).map_err(io("write the marker in"))?;
            file.write_all(FORMAT.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(io("write the marker in"))?;
            fs::rename(&tmp, &marker).map_err(io("write the marker in"))?;
            fs::File::open(path)
                .and_then(|dir| dir.sync_all())
                .map_err(io("sync"))?;
        }
        Ok((Self::open(path, options)?, created))
    }

    /// Opens the existing data directory at `path`.
    pub fn open(path: &Path, options: Options) -> Result<DataDir, Error> {
        let marker = path.join(Self::MARKER);
        let content = match fs::read_to_string(&marker) {
            Ok(content) => content,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotInitialised {
                    path: path.to_path_buf(),
                })
            }
            Err(source) => {
                return Err(Error::Io {
                    action: "read",
                    path: marker,
                    source,
                })
            }
        };
        if content != FORMAT {
            return Err(Error::Incompatible {
                path: path.to_path_buf(),
                marker: content,
            });
        }
        let log = Arc::new(FileStore::open(&path.join("log"), options)?);
        let blobs = Arc::new(Blobs::open(&path.join("blobs"))?);
        let secrets = Secrets::open(&path.join("secrets"))?;
        let keys = Keys::load_or_create(&audit::dir(path))?;
        Ok(DataDir {
            path: path.to_path_buf(),
            log,
            blobs,
            secrets,
            keys,
        })
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The log.
    pub fn log(&self) -> &FileStore {
        &self.log
    }

    /// The log, shared (for workers).
    pub fn store(&self) -> Arc<dyn Store> {
        self.log.clone()
    }

    /// The content-addressed store of packages and documents.
    pub fn blobs(&self) -> &Arc<Blobs> {
        &self.blobs
    }

    /// The key that signs audit checkpoints (made with the data directory).
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The credentials of connections.
    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_refuses_a_folder_that_was_never_initialised() {
        let dir = tempfile::tempdir().unwrap();
        let err = DataDir::open(dir.path(), Options::default()).err().unwrap();
        assert!(matches!(err, Error::NotInitialised { .. }), "got {err}");
        assert!(
            !dir.path().join("log").exists(),
            "open must not create anything"
        );
    }

    #[test]
    fn init_is_idempotent_and_keeps_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data");
        let (_, created) = DataDir::init(&path, Options::default()).unwrap();
        assert!(created);
        let (_, created) = DataDir::init(&path, Options::default()).unwrap();
        assert!(!created);
        assert!(path.join("log").join(FileStore::FILE_NAME).exists());
    }

    #[test]
    fn a_foreign_marker_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(DataDir::MARKER), "{}").unwrap();
        let err = DataDir::open(dir.path(), Options::default()).err().unwrap();
        assert!(matches!(err, Error::Incompatible { .. }), "got {err}");
    }
}
