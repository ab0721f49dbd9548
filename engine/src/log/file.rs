//! The embedded log: one append-only file, written by one thread with group commit.
//!
//! Write path, in order (see [`commit`] for the group commit): the appender seals its records
//! into the staging buffer → a flush leader takes everything staged → one `write` → one
//! **`fdatasync`** → the records are published to readers → every append covered is
//! acknowledged. Nothing is visible or acknowledged before the fsync returned.
//!
//! ## Invariants
//! - A write or fsync failure poisons the log: the failed batch is not acknowledged, and every
//!   later append gets [`Error::Poisoned`] until the process reopens the log (which recovers
//!   to the last durable record).
//! - Opening recovers: a torn tail (an incomplete frame, or an append whose last frame is
//!   missing) is truncated; damage followed by valid frames fails closed with [`Error::Corrupt`].
//! - One process at a time: the file is locked while open.

mod commit;
mod recovery;
mod shared;
mod snapshot;

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use ferry_schemas::{NewEvent, Record, StreamId};

use super::{Appended, Error, Expected, Head, Result, Scope, Stats, Store};
use crate::clock::{Clock, SystemClock};
use commit::Committer;
use shared::Shared;

/// Where the writer's bytes go. The real one is a [`File`]; tests wrap it to inject faults
/// (failing fsync, full disk, short writes) without editing the store.
pub trait Medium: Send + 'static {
    /// Writes all of `bytes` at the end of the log.
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Makes everything written so far durable (`fdatasync`).
    fn sync_data(&mut self) -> io::Result<()>;
}

impl Medium for File {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        io::Write::write_all(self, bytes)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        File::sync_data(self)
    }
}

/// How to open a [`FileStore`].
#[derive(Clone)]
pub struct Options {
    /// The source of recorded times.
    pub clock: Arc<dyn Clock>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
        }
    }
}

/// The embedded, durable [`Store`].
pub struct FileStore {
    core: Arc<Committer>,
    flusher: Option<JoinHandle<()>>,
    /// The log's folder, where closing writes its snapshot.
    dir: std::path::PathBuf,
    /// The position of the snapshot this open started from (0: none).
    opened_from: u64,
    /// The position of the last snapshot: the one this open started from, or a later one.
    snapshot: std::sync::atomic::AtomicU64,
}

impl FileStore {
    /// The log file's name inside its directory.
    pub const FILE_NAME: &'static str = "events.log";

    /// Opens (or creates) the log in `dir`, recovering from a crash if needed.
    pub fn open(dir: &Path, options: Options) -> Result<FileStore> {
        Self::open_with(dir, options, |file| Box::new(file))
    }

    /// Like [`FileStore::open`], with the writer's file wrapped by `medium` (fault injection).
    pub fn open_with(
        dir: &Path,
        options: Options,
        medium: impl FnOnce(File) -> Box<dyn Medium>,
    ) -> Result<FileStore> {
        let path = dir.join(Self::FILE_NAME);
        let io = |action| {
            move |source| Error::Io {
                action,
                path: dir.join(Self::FILE_NAME),
                source,
            }
        };
        fs::create_dir_all(dir).map_err(io("creating"))?;
        let created = !path.exists();
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io("opening"))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(Error::Locked { path }),
            Err(fs::TryLockError::Error(source)) => return Err(io("locking")(source)),
        }
        if created {
            // The new file's directory entry must be durable too.
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io("syncing"))?;
        }
        let recovered = recovery::recover(&path, &file)?;
        let snapshot = recovered.snapshot;
        let reader = File::open(&path).map_err(io("opening"))?;
        let (sequencer, base) = match recovered.state {
            recovery::State::Built(sequencer) => (Some(sequencer), None),
            recovery::State::Deferred(base) => (None, Some(base)),
        };
        let shared = Shared::new(path, reader, recovered.index, base);
        let core = Arc::new(Committer::new(
            shared,
            medium(file),
            sequencer,
            recovered.end,
            options,
        ));
        let flusher = {
            let core = Arc::clone(&core);
            std::thread::Builder::new()
                .name("ferry-log-flusher".into())
                .spawn(move || core.run_flusher())
                .map_err(io("starting the flusher of"))?
        };
        Ok(FileStore {
            core,
            flusher: Some(flusher),
            dir: dir.to_path_buf(),
            opened_from: snapshot,
            snapshot: std::sync::atomic::AtomicU64::new(snapshot),
        })
    }

    /// The position of the snapshot this open started from: the records up to it were taken
    /// from `events.snapshot` instead of walked (0: the whole file was walked).
    pub fn opened_from(&self) -> u64 {
        self.opened_from
    }

    /// Whether the index holds every record: false after opening from a snapshot until
    /// something needs the records before it (an append, a stream's records, an old
    /// position).
    pub fn history_loaded(&self) -> bool {
        self.core.shared.with_index(|index| index.is_whole())
    }

    fn snapshot_if(&self, every: u64) {
        use std::sync::atomic::Ordering;
        let since = self.snapshot.load(Ordering::Acquire);
        if let Some(at) = self.core.snapshot(&self.dir, since, every) {
            self.snapshot.store(at, Ordering::Release);
        }
    }

    /// How many flushes (one `write` + one `fdatasync` each) have run, and how many appends
    /// they covered.
    pub fn sync_stats(&self) -> (u64, u64) {
        let stats = self.core.shared.stats();
        (stats.durable_count, stats.appends)
    }

    fn flusher(&self) -> &std::thread::Thread {
        // Set in `open_with` and only taken in `drop`.
        match &self.flusher {
            Some(handle) => handle.thread(),
            None => unreachable!("the flusher runs until the store is dropped"),
        }
    }
}

impl Drop for FileStore {
    fn drop(&mut self) {
        self.core.close();
        if let Some(flusher) = self.flusher.take() {
            flusher.thread().unpark();
            let _ = flusher.join();
        }
        // Everything is durable now: the next open starts from here.
        self.snapshot_if(snapshot::EVERY);
    }
}

impl Store for FileStore {
    fn append_scoped(
        &self,
        stream: &StreamId,
        expected: Expected,
        scope: Option<&Scope>,
        events: Vec<NewEvent>,
    ) -> Result<Appended> {
        self.core
            .append(self.flusher(), stream, expected, scope, events)
    }

    fn read_stream(&self, stream: &StreamId, from_version: u64, max: usize) -> Result<Vec<Record>> {
        self.core.shared.read_stream(stream, from_version, max)
    }

    fn read_all(&self, from_position: u64, max: usize) -> Result<Vec<Record>> {
        self.core.shared.read_all(from_position, max)
    }

    fn read_all_bodies(&self, from_position: u64, max: usize) -> Result<Vec<Vec<u8>>> {
        self.core.shared.read_all_bodies(from_position, max)
    }

    fn stream_version(&self, stream: &StreamId) -> Result<u64> {
        self.core.shared.stream_version(stream)
    }

    fn head(&self) -> Result<Head> {
        Ok(self.core.shared.head())
    }

    fn wait_for(&self, position: u64, timeout: Duration) -> Result<u64> {
        Ok(self.core.shared.wait_for(position, timeout))
    }

    fn stats(&self) -> Stats {
        self.core.shared.stats()
    }

    fn save_known_good(&self) -> Result<()> {
        // Encoding costs the whole history under the append lock: the longer the log, the
        // rarer (an eighth of it between two), so appends wait a bounded share of the time.
        let head = self.core.shared.head().position;
        self.snapshot_if(snapshot::EVERY_WHILE_OPEN.max(head / 8));
        Ok(())
    }
}
