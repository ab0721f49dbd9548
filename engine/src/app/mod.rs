//! The application layer: every use case of Ferry as one method of [`Ferry`], taking the
//! [`Caller`] and enforcing its permissions inside. The CLI, the HTTP server and the web pages
//! are front-ends over it: they parse, call, and render the typed views (or map the error's
//! [`Kind`] to an exit code or an HTTP status).
//!
//! `Options` → [`Ferry::open`] → a cheap-to-clone handle that owns the data directory (or its
//! Kafka log), the executor with its live projections, and the clock.
//!
//! ## Invariants
//! - No use case trusts its front-end for permissions: each checks the caller itself.
//! - A tenant's user sees nothing of another tenant unless a grant says so; what they may not
//!   see is reported as not found, never shown.
//! - A decision and the stream version it is appended at come from the same snapshot of the
//!   projections.

mod answers;
mod audit;
mod authoring;
mod caller;
mod cancel;
mod candidates;
mod directory;
mod error;
mod exports;
mod imports;
mod provision;
mod provision_publish;
mod rebuild;
mod resources;
mod suggest;
mod tokens;
mod trust;
mod views;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};

pub use answers::AnswersTemplate;
pub use audit::{AsOf, AuditFilter};
pub use authoring::{AppSpec, ConnectionSpec};
pub use caller::{Caller, Qualified};
pub use directory::GrantRequest;
pub use error::{Error, Kind, Result};
pub use exports::ExportRequest;
pub use imports::{ImportFilter, ImportRequest, DEFAULT_IMPORTS, MAX_IMPORTS, STATES};
pub use provision::{Execution, Progress, ProvisionRequest, ProvisionStart, Quiet};
pub use provision_publish::{ProvisionPublished, TargetPublished};
pub use rebuild::Rebuilt;
pub use trust::{PolicyView, TrustedKey};
pub use views::{
    AnswerView, Authored, Candidate, CapturedView, ChangeView, ContentsView, DifferenceView,
    EnvironmentView, ExportView, GrantHeld, GrantView, ImportSummary, IssuedToken, Numbers,
    ProvisionListed, ProvisionStatus, ProvisionSummary, Published, ReplayView, ResourceDetail,
    ResourceView, ResultItem, ReviewItemView, ReviewView, StatusView, TargetView, TenantView,
    TokenView, UpdateView, UserView, VerifyView, WaveView,
};

use crate::clock::{Clock, SystemClock};
use crate::data_dir::{DataDir, LogSettings};
use crate::executor::Executor;
use crate::projections::Projections;
use crate::world::{Opened, World};

/// How to open Ferry.
#[derive(Clone)]
pub struct Options {
    data_dir: PathBuf,
    log: LogSettings,
    clock: Arc<dyn Clock>,
}

impl Options {
    /// The data directory at `path`, its log as its `ferry.toml` says, the system clock.
    pub fn new(path: impl Into<PathBuf>) -> Options {
        Options {
            data_dir: path.into(),
            log: LogSettings::default(),
            clock: Arc::new(SystemClock),
        }
    }

    /// Log settings that override the data directory's `ferry.toml`.
    pub fn log(mut self, settings: LogSettings) -> Options {
        self.log = settings;
        self
    }

    /// The clock decisions are made with.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Options {
        self.clock = clock;
        self
    }
}

/// Ferry, open: a cheap handle to clone into every task.
#[derive(Clone)]
pub struct Ferry {
    inner: Arc<Inner>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

struct Inner {
    dir: DataDir,
    clock: Arc<dyn Clock>,
    /// Built on first need: directory commands alone never fold the whole log.
    executor: Mutex<Option<Arc<Executor>>>,
}

impl Ferry {
    /// Opens the data directory (or joins its Kafka log).
    pub fn open(options: Options) -> Result<Ferry> {
        let dir = DataDir::open_with(
            &options.data_dir,
            crate::log::Options::default(),
            &options.log,
        )?;
        Ok(Ferry {
            inner: Arc::new(Inner {
                dir,
                clock: options.clock,
                executor: Mutex::new(None),
            }),
        })
    }

    /// The data directory.
    pub fn data_dir(&self) -> &DataDir {
        &self.inner.dir
    }

    /// The executor that runs migrations, with the projections folded from the log.
    pub fn executor(&self) -> Result<Arc<Executor>> {
        let mut slot = self
            .inner
            .executor
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(executor) = slot.as_ref() {
            return Ok(executor.clone());
        }
        let dir = &self.inner.dir;
        let folder = dir.path().join(crate::data_dir::DataDir::PROJECTIONS);
        // `ferry init` makes the folder, and the first open saves a stamp in it: a folder
        // that is gone was lost (or predates this version), one whose files hold no stamp was
        // damaged past what sled tells apart from a new store.
        let missing = !folder.exists();
        let had_files = std::fs::read_dir(&folder).is_ok_and(|mut d| d.next().is_some());
        // A store sled cannot open (damaged, another version's files) is dropped and made
        // anew: it holds nothing the log does not.
        let (projections, unopened) = match Projections::open(&folder) {
            Ok(projections) => (projections, None),
            Err(e @ crate::projections::Error::Locked(_)) => {
                return Err(crate::executor::Error::World(e.into()).into())
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&folder);
                let projections = Projections::open(&folder)
                    .map_err(|e| crate::executor::Error::World(e.into()))?;
                (projections, Some(e.to_string()))
            }
        };
        let (executor, opened) =
            Executor::persisted(dir.store(), dir.blobs().clone(), projections)?;
        let reason = match (opened, unopened) {
            (_, Some(reason))
            | (
                Opened::Rebuilt {
                    reason: Some(reason),
                },
                None,
            ) => Some(reason),
            (Opened::Rebuilt { reason: None }, None) if missing => {
                Some(format!("{} was missing", folder.display()))
            }
            (Opened::Rebuilt { reason: None }, None) if had_files => {
                Some(format!("{} held nothing saved", folder.display()))
            }
            _ => None,
        };
        // The command says so on stderr (the CLI shows warnings; the server logs them).
        if let Some(reason) = reason {
            tracing::warn!(
                "the saved projections were not used ({reason}); they were rebuilt from the log"
            );
        }
        let executor = Arc::new(executor);
        *slot = Some(executor.clone());
        Ok(executor)
    }

    /// Saves what lets the next start skip work — the log's known-good point and the
    /// projections — when enough changed since they were last saved (a long-running server
    /// calls it every few seconds; a command does it when it ends). Derived from the log,
    /// never needed for correctness.
    pub fn save_derived(&self) -> Result<()> {
        self.data_dir().log().save_known_good()?;
        let built = lock(&self.inner.executor).clone();
        if let Some(executor) = built {
            executor.save_if_due()?;
        }
        Ok(())
    }

    /// Folds whatever the log holds that the projections do not yet: once this returns, reads
    /// see every acknowledged append (readiness).
    pub fn catch_up(&self) -> Result<u64> {
        self.world(World::position)
    }

    /// Counts for monitoring: migrations by state, steps, the log's head and the projections'
    /// lag (the operator's).
    pub fn numbers(&self, caller: &Caller) -> Result<Numbers> {
        directory::operator(caller, "read the metrics")?;
        let log = self.data_dir().log();
        let head = log.head().map_err(Error::from)?.position;
        let stats = log.stats();
        let executor = self.executor()?;
        // Read without catching up: the lag is what a reader would wait for.
        let numbers = executor.peek(|w| {
            let tallies = w.tallies();
            Numbers {
                head,
                lag: head.saturating_sub(w.position()),
                log: stats.clone(),
                migrations: tallies.migrations,
                steps_applied: tallies.steps_applied,
                steps_failed: tallies.steps_failed,
            }
        })?;
        Ok(numbers)
    }

    /// `package inspect`: what a package holds, read as the untrusted input it is. Needs no
    /// data directory.
    pub fn inspect(package: &[u8]) -> Result<crate::package::inspect::Report> {
        let package = crate::package::read(package, &crate::package::Limits::default())?;
        Ok(crate::package::inspect::Report::new(&package))
    }

    /// `view()` once it differs from `seen`, or as it is when `timeout` passes: a live
    /// stream's next event. It waits on the log (each append wakes it), never on a timer.
    pub(crate) fn watch_view<V: PartialEq>(
        &self,
        seen: Option<&V>,
        timeout: std::time::Duration,
        view: impl Fn() -> Result<V>,
    ) -> Result<V> {
        let deadline = std::time::Instant::now() + timeout;
        let store = self.data_dir().log();
        loop {
            // The head is read before the view: a record appended after this read ends the
            // wait below at once.
            let next = store.head().map_err(Error::from)?.position + 1;
            let now = view()?;
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if seen != Some(&now) || left.is_zero() {
                return Ok(now);
            }
            store.wait_for(next, left).map_err(Error::from)?;
        }
    }

    /// The time decisions are made at.
    pub fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    /// Runs `f` on the projections caught up with the log.
    fn world<T>(&self, f: impl Fn(&World) -> T) -> Result<T> {
        Ok(self.executor()?.read(f)?)
    }

    /// Runs `f` on the directory as of the log's end (the projections: only the rows `f`
    /// reads are read from the store).
    fn directory<T>(&self, f: impl Fn(&crate::directory::State) -> T) -> Result<T> {
        self.world(|w| f(&w.directory))
    }
}
