//! The I/O edge of migrations: append what the pure decisions return, with the right expected
//! version, after storing the documents those events reference. Workers call
//! [`Executor::step`]; the CLI calls [`Executor::record`] for requests, answers and starts.
//!
//! ## Invariants
//! - A step's change to the target environment and its record are one append on the
//!   migration's stream at `Expected::Exact(version)`: a repeat of the same step loses the race
//!   with a conflict and appends nothing, so no step applies twice.
//! - Documents are durable in the blob store before the record that references them is.
//! - A step and an authored change are appended scoped to their environment at the position
//!   they were decided on ([`log::Scope`]): if anything changed the environment since — an
//!   import's step or an authored change, in this process or another (Kafka) — the append is
//!   refused and the decision is made again on what is there now. So a drift check cannot be
//!   overtaken, and of two updates of one target decided on the same revision exactly one
//!   applies. Within a process, steps into one environment also take a lock per environment,
//!   so they do not decide in vain.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ferry_schemas::event::{Context, Event, MigrationFailed};
use ferry_schemas::{
    Actor, CorrelationId, Digest, EnvironmentId, MigrationId, ResourceId, StreamId, TenantId,
};

use crate::blobs::{self, Blobs};
use crate::directory;
use crate::failpoint;
use crate::log::{self, Expected, Store};
use crate::migration::{self, Import};
use crate::package::{self, Limits, Package};
use crate::projections::Projections;
use crate::world::{self, World};

/// Why a migration could not move on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The log failed.
    #[error(transparent)]
    Log(#[from] log::Error),
    /// The projections could not be built.
    #[error(transparent)]
    World(#[from] world::Error),
    /// A document or package could not be stored or read.
    #[error(transparent)]
    Blobs(#[from] blobs::Error),
    /// The stored package no longer reads. Restore the data directory from a backup.
    #[error("stored package {digest} does not read: {source}")]
    Package {
        /// Its content address.
        digest: Digest,
        /// Why.
        source: package::Error,
    },
    /// A directory command the run needed was refused.
    #[error(transparent)]
    Directory(#[from] directory::Rejection),
    /// No such provisioning run.
    #[error("no provisioning run {0}")]
    NoSuchProvision(ferry_schemas::ProvisionId),
    /// No such migration.
    #[error("no import migration {0}")]
    NoSuchMigration(MigrationId),
}

/// What one call to [`Executor::step`] did.
#[derive(Clone, Debug, PartialEq)]
pub enum Progress {
    /// Recorded this event.
    Stepped(Box<Event>),
    /// Nothing to do: the migration is not running.
    Idle,
    /// Someone else recorded this step first; nothing was appended.
    Lost,
}

/// Shared by every worker of a process.
pub struct Executor {
    /// The projections; their tables hold handles on the projection store. With `saved`,
    /// declared before `store` so that sled is closed before the log (and its lock) is
    /// released: a process that takes the log over finds the store free.
    world: Mutex<World>,
    /// Where the projections are saved (None: folded from the log at every start).
    saved: Option<Saved>,
    store: Arc<dyn Store>,
    blobs: Arc<Blobs>,
    environments: Mutex<HashMap<EnvironmentId, Arc<Mutex<()>>>>,
    directory: Mutex<()>,
    packages: Mutex<HashMap<Digest, Arc<Package>>>,
    /// Saved rows each table keeps in memory after a read (see [`KEEP_ROWS`]).
    keep_rows: std::sync::atomic::AtomicUsize,
}

/// The projection store and when it was last written.
struct Saved {
    projections: Projections,
    at: Mutex<std::time::Instant>,
}

/// Save the projections once this many records were folded since the last save (what a
/// restart after a crash folds again: well under a second)…
pub(crate) const SAVE_EVERY_RECORDS: u64 = 65_536;
/// …or once this long passed with anything unsaved (and when the executor is dropped). Each
/// save rewrites every import and environment that changed since the last, under the
/// projections' lock: saving less often under load writes each of them fewer times.
const SAVE_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Saved rows kept in memory per table beyond those in use: the projections' memory is
/// bounded by this, not by the history (a table with more drops its saved, unchanged rows
/// after a read, and reads them back from the store when next needed).
pub const KEEP_ROWS: usize = 20_000;

/// How many times a read is asked again after loading what it missed before every row is
/// loaded for it. Each round loads one level of lookups that lead to others (a tenant's name,
/// then the tenant, its environment's name, the environment, its contents…), however many
/// rows the level has, so this bounds the depth of a read, not its size.
const READ_ROUNDS: usize = 16;

/// `f`'s answer from the rows it needs: memory holds a part of the saved rows, so `f` is
/// asked, what it looked for and memory did not have is loaded, and `f` is asked again —
/// until nothing was missing. Reads are pure, so asking twice changes nothing but time.
fn answer<T>(world: &mut World, f: impl Fn(&World) -> T, keep: usize) -> Result<T, Error> {
    for _ in 0..READ_ROUNDS {
        let answer = f(world);
        if !world.load_missed()? {
            world.trim(keep);
            return Ok(answer);
        }
    }
    world.load_all()?;
    let answer = f(world);
    world.load_missed()?;
    world.trim(keep);
    Ok(answer)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded data is a cache or a projection that a panic cannot leave half-updated in a
    // way a catch-up does not repair.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Executor {
    /// An executor over `store` and `blobs`, its projections built from the log.
    pub fn new(store: Arc<dyn Store>, blobs: Arc<Blobs>) -> Result<Executor, Error> {
        let world = World::load(store.as_ref())?;
        Ok(Executor::with(store, blobs, world, None))
    }

    /// An executor over `store` and `blobs` whose projections are saved in `projections`:
    /// opening folds only what was appended since they were saved (or rebuilds them from the
    /// log if they do not match it, as `Opened` says).
    pub fn persisted(
        store: Arc<dyn Store>,
        blobs: Arc<Blobs>,
        projections: Projections,
    ) -> Result<(Executor, world::Opened), Error> {
        let (world, opened) = World::open(store.as_ref(), &projections)?;
        let saved = Saved {
            projections,
            at: Mutex::new(std::time::Instant::now()),
        };
        Ok((Executor::with(store, blobs, world, Some(saved)), opened))
    }

    fn with(
        store: Arc<dyn Store>,
        blobs: Arc<Blobs>,
        world: World,
        saved: Option<Saved>,
    ) -> Executor {
        Executor {
            store,
            blobs,
            world: Mutex::new(world),
            saved,
            environments: Mutex::new(HashMap::new()),
            directory: Mutex::new(()),
            packages: Mutex::new(HashMap::new()),
            keep_rows: std::sync::atomic::AtomicUsize::new(KEEP_ROWS),
        }
    }

    /// Keeps at most `rows` saved, unchanged rows per table in memory after each read (the
    /// default is [`KEEP_ROWS`]; 0 reads every row back from the store when next needed).
    pub fn keep_rows(&self, rows: usize) {
        self.keep_rows
            .store(rows, std::sync::atomic::Ordering::Relaxed);
    }

    fn answer<T>(&self, world: &mut World, f: impl Fn(&World) -> T) -> Result<T, Error> {
        let keep = self.keep_rows.load(std::sync::atomic::Ordering::Relaxed);
        answer(world, f, keep).inspect_err(|_| self.distrust(world))
    }

    /// A saved row did not read back: this process saves no more, and the next start
    /// rebuilds the store instead of trusting it.
    fn distrust(&self, world: &mut World) {
        world.stop_saving();
        if let Some(saved) = &self.saved {
            if let Err(e) = saved.projections.invalidate() {
                tracing::warn!("the projections could not be marked for a rebuild: {e}");
            }
        }
    }

    /// Runs `f` on the projections, caught up with the log.
    pub fn read<T>(&self, f: impl Fn(&World) -> T) -> Result<T, Error> {
        let mut world = self.world();
        if let Err(e) = world.catch_up(self.store.as_ref()) {
            if world.is_broken() {
                self.distrust(&mut world);
            }
            return Err(e.into());
        }
        // Saving is derived work: a failure is said, never the reader's failure.
        if let Err(e) = self.save_due(&mut world, false) {
            tracing::warn!("the projections could not be saved: {e} (the next start folds more)");
        }
        self.answer(&mut world, f)
    }

    /// The projections, locked. A panic while they were locked may have cut a fold short:
    /// they are still served (a catch-up repairs what a reader needs) but never saved again.
    fn world(&self) -> MutexGuard<'_, World> {
        match self.world.lock() {
            Ok(world) => world,
            Err(poisoned) => {
                let mut world = poisoned.into_inner();
                world.stop_saving();
                world
            }
        }
    }

    /// Saves the projections if enough was folded since the last save (or `now`).
    fn save_due(&self, world: &mut World, now: bool) -> Result<(), Error> {
        let Some(saved) = &self.saved else {
            return Ok(());
        };
        if world.unsaved() == 0 {
            return Ok(());
        }
        let mut at = lock(&saved.at);
        if now || world.unsaved() >= SAVE_EVERY_RECORDS || at.elapsed() >= SAVE_EVERY {
            world.save(self.store.as_ref(), &saved.projections)?;
            *at = std::time::Instant::now();
        }
        Ok(())
    }

    /// Runs `f` on the projections as they are, without catching up.
    pub fn peek<T>(&self, f: impl Fn(&World) -> T) -> Result<T, Error> {
        let mut world = self.world();
        // A fold cut short by a row that did not read back: what memory holds is half of it.
        if let Some(broken) = world.broken() {
            return Err(broken.into());
        }
        self.answer(&mut world, f)
    }

    /// The log.
    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// The blob store.
    pub fn blobs(&self) -> &Blobs {
        &self.blobs
    }

    /// The migrations a worker has something to do for.
    pub fn runnable(&self) -> Result<Vec<MigrationId>, Error> {
        self.read(World::runnable)
    }

    /// The migrations a worker has something to do for, with the version each is at.
    pub fn runnable_at(&self) -> Result<Vec<(MigrationId, u64)>, Error> {
        self.read(World::runnable_at)
    }

    /// Appends `events` to migration `id`'s stream at the version `import` was folded to.
    /// A conflict means someone else moved the migration first: decide again.
    pub fn record(
        &self,
        id: MigrationId,
        expected: u64,
        actor: Actor,
        events: &[Event],
    ) -> Result<(), Error> {
        let tenant = self.read(|w| {
            let environment = w.imports.get(&id).map(|i| i.environment).or_else(|| {
                events.iter().find_map(|e| match e {
                    Event::ImportRequested(r) => Some(r.environment),
                    Event::ExportRequested(r) => Some(r.environment),
                    _ => None,
                })
            });
            environment
                .and_then(|e| w.directory.environment_by_id(e))
                .map(|e| e.tenant)
        })?;
        self.append_events(id, expected, actor, tenant, events)
    }

    /// Appends `events` to migration `id`'s stream, the tenant already known.
    fn append_events(
        &self,
        id: MigrationId,
        expected: u64,
        actor: Actor,
        tenant: Option<TenantId>,
        events: &[Event],
    ) -> Result<(), Error> {
        let context = Context {
            tenant,
            actor,
            correlation_id: CorrelationId::from_uuid(*id.as_uuid()),
            causation_id: None,
        };
        let new = events.iter().map(|e| e.to_new(&context)).collect();
        self.store
            .append(&StreamId::migration(id), Expected::Exact(expected), new)?;
        Ok(())
    }

    /// Authors a change to `environment` directly: `decide` sees the projections caught up
    /// under the environment's lock, and what it returns is appended to the environment's
    /// stream (on behalf of `actor`). A refusal is returned as `Ok(Err(..))`, nothing appended.
    pub fn author<R>(
        &self,
        environment: EnvironmentId,
        actor: Actor,
        decide: impl Fn(&World) -> Result<Event, R>,
    ) -> Result<Result<Event, R>, Error> {
        let environment_lock = self.environment_lock(environment);
        let _serialised = lock(&environment_lock);
        let stream = StreamId::environment(environment);
        let correlation_id = CorrelationId::new();
        loop {
            // The decision and what it is appended on come from one snapshot: a change
            // appended since (a step, or another process) refuses the append, never
            // overtakes it, and the change is decided again on what is there now.
            let (decided, tenant, version, seen) = self.read(|w| {
                let tenant = w.directory.environment_by_id(environment).map(|e| e.tenant);
                let version = w.environment_version(environment);
                (decide(w), tenant, version, w.position())
            })?;
            let event = match decided {
                Ok(event) => event,
                Err(refused) => return Ok(Err(refused)),
            };
            let context = Context {
                tenant,
                actor,
                correlation_id,
                causation_id: None,
            };
            let scope = log::Scope {
                stream: stream.clone(),
                seen,
                changes: true,
            };
            match self.store.append_scoped(
                &stream,
                Expected::Exact(version),
                Some(&scope),
                vec![event.to_new(&context)],
            ) {
                Ok(_) => return Ok(Ok(event)),
                Err(log::Error::Changed { changed_at, .. }) => self.await_position(changed_at)?,
                Err(log::Error::Conflict { stream, actual, .. }) => {
                    log::await_version(
                        self.store.as_ref(),
                        &stream,
                        actual,
                        std::time::Duration::from_secs(60),
                    )?;
                }
                Err(other) => return Err(other.into()),
            }
        }
    }

    /// Runs a directory command for the platform operator on the projections (no re-read of
    /// the directory stream), deciding again after a concurrent change. A refusal is returned
    /// as `Ok(Err(..))`.
    pub fn directory(
        &self,
        command: directory::Command,
    ) -> Result<Result<Vec<Event>, directory::Rejection>, Error> {
        let stream = directory::stream();
        let _serialised = lock(&self.directory);
        loop {
            let decided = self.read(|w| {
                directory::decide(&w.directory, command.clone()).map(|events| {
                    let tenant = directory::tenant_of(&w.directory, &events);
                    (events, tenant, w.directory_version())
                })
            })?;
            let (events, tenant, version) = match decided {
                Ok(decided) => decided,
                Err(rejection) => return Ok(Err(rejection)),
            };
            let context = Context {
                tenant,
                actor: Actor::Operator,
                correlation_id: CorrelationId::new(),
                causation_id: None,
            };
            let new = events.iter().map(|e| e.to_new(&context)).collect();
            match self.store.append(&stream, Expected::Exact(version), new) {
                Ok(_) => return Ok(Ok(events)),
                // Another process changed the directory: fold it in and decide again.
                Err(log::Error::Conflict { .. }) => continue,
                Err(other) => return Err(other.into()),
            }
        }
    }

    fn environment_lock(&self, environment: EnvironmentId) -> Arc<Mutex<()>> {
        lock(&self.environments)
            .entry(environment)
            .or_default()
            .clone()
    }

    /// The import `id` as of the log's end.
    pub fn import(&self, id: MigrationId) -> Result<Import, Error> {
        self.read(|w| w.imports.get(&id).cloned())?
            .ok_or(Error::NoSuchMigration(id))
    }

    /// Performs the next step of migration `id`, if it has one.
    pub fn step(&self, id: MigrationId) -> Result<Progress, Error> {
        let Some((environment, digest, tenant)) = self.read(|w| {
            let import = w.imports.get(&id).filter(|i| i.runnable())?;
            let tenant = w
                .directory
                .environment_by_id(import.environment)
                .map(|e| e.tenant);
            Some((import.environment, import.package, tenant))
        })?
        else {
            return Ok(Progress::Idle);
        };
        let package = match self.package(digest) {
            Ok(package) => package,
            // A stored package that no longer reads will not read on a retry either: the
            // migration stops for good, saying why, instead of being retried forever.
            Err(
                error @ (Error::Package { .. }
                | Error::Blobs(blobs::Error::Missing { .. } | blobs::Error::Corrupt { .. })),
            ) => {
                return self.fail(
                    id,
                    "package-unreadable",
                    &format!("{error}; import the package again"),
                );
            }
            Err(other) => return Err(other),
        };
        let environment_lock = self.environment_lock(environment);
        let _serialised = lock(&environment_lock);
        let decided = self.read(|w| {
            let import = w.imports.get(&id)?;
            let step = migration::next_step(import, &w.contents, &package, ResourceId::new())?;
            Some((import.version, step, w.position()))
        })?;
        let Some((version, step, seen)) = decided else {
            return Ok(Progress::Idle);
        };
        for bytes in &step.blobs {
            self.blobs.put(bytes)?;
        }
        failpoint::hit("step-after-blobs");
        let scope = log::Scope {
            stream: StreamId::environment(environment),
            seen,
            changes: crate::environment::changes(&step.event).is_some(),
        };
        if scope.changes {
            failpoint::hit("step-changes-environment");
        }
        let context = Context {
            tenant,
            actor: Actor::System,
            correlation_id: CorrelationId::from_uuid(*id.as_uuid()),
            causation_id: None,
        };
        match self.store.append_scoped(
            &StreamId::migration(id),
            Expected::Exact(version),
            Some(&scope),
            vec![step.event.to_new(&context)],
        ) {
            Ok(_) => {
                failpoint::hit("step-after-append");
                Ok(Progress::Stepped(Box::new(step.event)))
            }
            Err(log::Error::Conflict { .. }) => Ok(Progress::Lost),
            Err(log::Error::Changed { changed_at, .. }) => {
                self.await_position(changed_at)?;
                Ok(Progress::Lost)
            }
            Err(other) => Err(other.into()),
        }
    }

    /// Waits until readers see `position`: a refusal is decided against every accepted
    /// append, including ones still being made durable, and the next decision must see it.
    /// Bounded: a record that never becomes durable (a failed fsync) ends the wait after half a
    /// minute, and the next append reports why.
    fn await_position(&self, position: u64) -> Result<(), Error> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let tick = std::time::Duration::from_secs(1);
        while self.store.wait_for(position, tick)? < position
            && std::time::Instant::now() < deadline
        {}
        Ok(())
    }

    fn fail(&self, id: MigrationId, code: &str, message: &str) -> Result<Progress, Error> {
        let Some(version) = self.read(|w| w.imports.get(&id).map(|i| i.version))? else {
            return Ok(Progress::Idle);
        };
        let event = Event::from(MigrationFailed {
            code: code.to_owned(),
            message: message.to_owned(),
        });
        match self.record(id, version, Actor::System, std::slice::from_ref(&event)) {
            Ok(()) => Ok(Progress::Stepped(Box::new(event))),
            Err(Error::Log(log::Error::Conflict { .. })) => Ok(Progress::Lost),
            Err(other) => Err(other),
        }
    }

    /// Steps migration `id` until it has nothing left to do; returns how many steps it made.
    pub fn run(&self, id: MigrationId) -> Result<usize, Error> {
        let mut steps = 0;
        loop {
            match self.step(id)? {
                Progress::Stepped(_) => {
                    steps += 1;
                    failpoint::hit("between-steps");
                }
                Progress::Lost => {}
                Progress::Idle => return Ok(steps),
            }
        }
    }

    /// Saves the projections if they are due (every few seconds with anything unsaved).
    pub fn save_if_due(&self) -> Result<(), Error> {
        let mut world = self.world();
        self.save_due(&mut world, false)
    }

    /// Saves the projections now (what a process does before it exits; dropping the
    /// executor does it too).
    pub fn save(&self) -> Result<(), Error> {
        let mut world = self.world();
        world.catch_up(self.store.as_ref())?;
        self.save_due(&mut world, true)
    }

    pub(crate) fn package(&self, digest: Digest) -> Result<Arc<Package>, Error> {
        if let Some(found) = lock(&self.packages).get(&digest) {
            return Ok(found.clone());
        }
        let bytes = self.blobs.get(&digest)?;
        let package = package::read(&bytes, &Limits::default())
            .map_err(|source| Error::Package { digest, source })?;
        let package = Arc::new(package);
        lock(&self.packages).insert(digest, package.clone());
        Ok(package)
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        if let Err(e) = self.save() {
            tracing::warn!(
                "the projections could not be saved: {e} (the next start folds the log)"
            );
        }
    }
}
