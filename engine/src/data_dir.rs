//! The embedded default's data directory: one folder, no server. It holds Ferry's log in
//! `log/`, packages and documents in `blobs/` (content-addressed) and connection credentials in
//! `secrets/` (never on the log), and the audit signing key and checkpoints in `audit/`.
//!
//! On Kafka (`[log] kind = "kafka"` in `ferry.toml`, or `--log kafka`), the log lives on the
//! brokers and the folder holds this process's cache of it (`kafka-cache/`), a cache of the
//! shared blobs, the secrets and the audit key.
//!
//! ## Invariants
//! - A folder is a data directory only if it holds the marker file [`DataDir::MARKER`], written
//!   atomically (temporary file, fsync, rename, directory fsync) by [`DataDir::init`].
//! - Every other command opens an existing embedded data directory and never creates one by
//!   accident (an empty log there would hide the real one). On Kafka the folder is only a
//!   cache, so opening makes it when missing.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use crate::audit::{self, Keys};
use crate::blobs::{self, Blobs};
use crate::log::{self, Connection, FileStore, KafkaBlobs, KafkaStore, Options, Store, Topics};
use crate::secrets::{self, Secrets};

/// The marker's content: the layout version of the data directory.
const FORMAT: &str = "{\"ferry_data_dir\":1}\n";

/// Why a data directory could not be set up or opened.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// There is no data directory there. Run `ferry init`, or point `--data-dir` /
    /// `FERRY_DATA_DIR` at the right folder.
    #[error("no Ferry data directory at {}", path.display())]
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
    /// The folder is a data directory (its marker is there) but its log file is gone: the
    /// history is lost, and starting an empty one would hide that. Restore the folder from a
    /// backup, or `ferry init` a new data directory elsewhere.
    #[error("{} is a Ferry data directory, but its log ({}) is missing: its history is gone; restore the folder from a backup, or make a new data directory elsewhere with `ferry init`", path.display(), log.display())]
    LogMissing {
        /// The folder.
        path: PathBuf,
        /// The log file that should be there.
        log: PathBuf,
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
    /// `ferry.toml` or the log flags are not usable.
    #[error("log settings: {reason}")]
    Settings {
        /// What is wrong and what to do.
        reason: String,
    },
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

/// Which log a data directory uses: `[log]` in its `ferry.toml`, overridden by the command
/// line and `FERRY_*` variables.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// `embedded` (the default) or `kafka`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<LogKind>,
    /// Kafka: the bootstrap brokers, `host:port[,host:port…]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub brokers: Option<String>,
    /// Kafka: the prefix of Ferry's topic names (default `ferry.`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic_prefix: Option<String>,
    /// Kafka: how many seconds a command waits for a first answer from the brokers (default
    /// 10) before it says they cannot be reached.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broker_timeout_secs: Option<u64>,
    /// Kafka: further librdkafka properties for every client (security settings, say).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub properties: std::collections::BTreeMap<String, String>,
}

/// Where the log lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogKind {
    /// One file in the data directory.
    Embedded,
    /// A Kafka topic, shared by every process.
    Kafka,
}

impl LogSettings {
    /// `self`'s fields where set, else `fallback`'s.
    pub fn over(&self, fallback: &LogSettings) -> LogSettings {
        let mut properties = fallback.properties.clone();
        properties.extend(self.properties.clone());
        LogSettings {
            kind: self.kind.or(fallback.kind),
            brokers: self.brokers.clone().or_else(|| fallback.brokers.clone()),
            topic_prefix: self
                .topic_prefix
                .clone()
                .or_else(|| fallback.topic_prefix.clone()),
            broker_timeout_secs: self.broker_timeout_secs.or(fallback.broker_timeout_secs),
            properties,
        }
    }

    /// The brokers and topics, when the log is on Kafka.
    pub fn kafka(&self) -> Result<Option<(Connection, Topics)>, Error> {
        if self.kind != Some(LogKind::Kafka) {
            return Ok(None);
        }
        let Some(brokers) = self.brokers.as_deref().filter(|b| !b.trim().is_empty()) else {
            return Err(Error::Settings {
                reason: "the Kafka log needs brokers: pass --brokers host:port, set \
                         FERRY_BROKERS, or put `brokers = \"host:port\"` under [log] in ferry.toml"
                    .into(),
            });
        };
        let mut connection = self
            .properties
            .iter()
            .fold(Connection::new(brokers), |c, (k, v)| c.with(k, v));
        if let Some(seconds) = self.broker_timeout_secs {
            connection = connection.with_first_contact(std::time::Duration::from_secs(seconds));
        }
        let prefix = self
            .topic_prefix
            .clone()
            .unwrap_or_else(|| Topics::DEFAULT_PREFIX.into());
        Ok(Some((connection, Topics::new(prefix))))
    }
}

#[derive(Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsFile {
    #[serde(default)]
    log: LogSettings,
}

/// An open data directory.
pub struct DataDir {
    path: PathBuf,
    log: Arc<dyn Store>,
    file_log: Option<Arc<FileStore>>,
    kafka: Option<Arc<KafkaStore>>,
    kafka_setup: Option<(Connection, Topics)>,
    blobs: Arc<Blobs>,
    secrets: Secrets,
    keys: Keys,
}

impl DataDir {
    /// The marker file's name.
    pub const MARKER: &'static str = "ferry-data.json";

    /// The settings file's name.
    pub const SETTINGS: &'static str = "ferry.toml";

    /// Where the saved projections live inside the folder (derived from the log: deleting
    /// the folder loses nothing, the next start rebuilds it).
    pub const PROJECTIONS: &'static str = "projections";

    /// Where a Kafka log's local cache lives inside the folder.
    pub const KAFKA_CACHE: &'static str = "kafka-cache";

    /// Creates the data directory at `path` if it is not one yet, and opens it. Returns whether
    /// it was created (false: it already existed, and is opened as it is).
    pub fn init(path: &Path, options: Options) -> Result<(DataDir, bool), Error> {
        Self::init_with(path, options, &LogSettings::default())
    }

    /// [`DataDir::init`] with log settings; Kafka settings are written to `ferry.toml`, so later
    /// commands on the folder use the same log without flags.
    pub fn init_with(
        path: &Path,
        options: Options,
        settings: &LogSettings,
    ) -> Result<(DataDir, bool), Error> {
        let io = |action| {
            move |source| Error::Io {
                action,
                path: path.to_path_buf(),
                source,
            }
        };
        let marker = path.join(Self::MARKER);
        let created = !marker.exists();
        fs::create_dir_all(path).map_err(io("create"))?;
        let merged = settings.over(&Self::settings(path)?);
        let on_kafka = merged.kafka()?.is_some();
        if settings.kind.is_some() {
            let text =
                toml::to_string(&SettingsFile { log: merged }).map_err(|e| Error::Settings {
                    reason: e.to_string(),
                })?;
            blobs::write_durably(
                path,
                Self::SETTINGS,
                text.as_bytes(),
                None,
                |action, path, source| Error::Io {
                    action,
                    path,
                    source,
                },
            )?;
        }
        if created {
            // An empty projection store: a data directory without one later has lost it.
            fs::create_dir_all(path.join(Self::PROJECTIONS))
                .map_err(io("create the projections folder in"))?;
            // The marker comes last: a folder with a marker always has its log, so a log that
            // goes missing later is told apart from one never made.
            if !on_kafka {
                let log = path.join("log");
                fs::create_dir_all(&log).map_err(io("create the log folder in"))?;
                fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(log.join(FileStore::FILE_NAME))
                    .and_then(|file| file.sync_all())
                    .and_then(|()| fs::File::open(&log)?.sync_all())
                    .map_err(io("create the log in"))?;
            }
            Self::write_marker(path)?;
        }
        Ok((
            Self::open_with(path, options, &LogSettings::default())?,
            created,
        ))
    }

    /// Writes the marker through a temporary file of this process's own, so two `ferry init`
    /// at once both succeed (the second rename puts the same bytes in place).
    fn write_marker(path: &Path) -> Result<(), Error> {
        let io = |action| {
            move |source| Error::Io {
                action,
                path: path.to_path_buf(),
                source,
            }
        };
        let tmp = path.join(format!(
            ".ferry-data.json.{}.{}.tmp",
            std::process::id(),
            uuid::Uuid::now_v7().simple()
        ));
        let written = fs::File::create(&tmp).and_then(|mut file| {
            file.write_all(FORMAT.as_bytes())?;
            file.sync_all()
        });
        written
            .and_then(|()| fs::rename(&tmp, path.join(Self::MARKER)))
            .map_err(|e| {
                let _ = fs::remove_file(&tmp);
                io("write the marker in")(e)
            })?;
        fs::File::open(path)
            .and_then(|dir| dir.sync_all())
            .map_err(io("sync"))
    }

    /// The settings in `path`'s `ferry.toml` (none when it has none).
    pub fn settings(path: &Path) -> Result<LogSettings, Error> {
        let file = path.join(Self::SETTINGS);
        match fs::read_to_string(&file) {
            Ok(text) => toml::from_str::<SettingsFile>(&text)
                .map(|f| f.log)
                .map_err(|e| Error::Settings {
                    reason: format!("{}: {e}", file.display()),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(LogSettings::default()),
            Err(source) => Err(Error::Io {
                action: "read",
                path: file,
                source,
            }),
        }
    }

    /// Opens the existing data directory at `path`, with the log its `ferry.toml` names.
    pub fn open(path: &Path, options: Options) -> Result<DataDir, Error> {
        Self::open_with(path, options, &LogSettings::default())
    }

    /// Opens the data directory at `path` with `overrides` (flags, environment) over its
    /// `ferry.toml`. On Kafka the folder is made when missing.
    pub fn open_with(
        path: &Path,
        options: Options,
        overrides: &LogSettings,
    ) -> Result<DataDir, Error> {
        if overrides.kind == Some(LogKind::Kafka) && !path.join(Self::MARKER).exists() {
            // A cache of the Kafka log: made on first use, with the settings written down so
            // every later command (and auditor) on the folder reads the same log.
            return Self::init_with(path, options, overrides).map(|(dir, _)| dir);
        }
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
        let settings = overrides.over(&Self::settings(path)?);
        let kafka_setup = settings.kafka()?;
        let (log, file_log, kafka, blobs): (Arc<dyn Store>, _, _, _) = match &kafka_setup {
            None => {
                let events = path.join("log").join(FileStore::FILE_NAME);
                if !events.exists() {
                    return Err(Error::LogMissing {
                        path: path.to_path_buf(),
                        log: events,
                    });
                }
                let file = Arc::new(FileStore::open(&path.join("log"), options)?);
                let blobs = Blobs::open(&path.join("blobs"))?;
                (file.clone(), Some(file), None, blobs)
            }
            Some((connection, topics)) => {
                let store = Arc::new(KafkaStore::open(
                    connection,
                    topics,
                    &path.join(Self::KAFKA_CACHE),
                )?);
                let remote = Arc::new(KafkaBlobs::open(connection, topics)?);
                let blobs = Blobs::open(&path.join("blobs"))?.with_remote(remote);
                (store.clone(), None, Some(store), blobs)
            }
        };
        let blobs = Arc::new(blobs);
        let secrets = Secrets::open(&path.join("secrets"))?;
        let keys = Keys::load_or_create(&audit::dir(path))?;
        Ok(DataDir {
            path: path.to_path_buf(),
            log,
            file_log,
            kafka,
            kafka_setup,
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
    pub fn log(&self) -> &dyn Store {
        &*self.log
    }

    /// The embedded log file, when the log is embedded.
    pub fn file_log(&self) -> Option<&FileStore> {
        self.file_log.as_deref()
    }

    /// The brokers and topics, when the log is on Kafka.
    pub fn kafka(&self) -> Option<&(Connection, Topics)> {
        self.kafka_setup.as_ref()
    }

    /// The Kafka log, when the log is on Kafka.
    pub fn kafka_log(&self) -> Option<&KafkaStore> {
        self.kafka.as_deref()
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
