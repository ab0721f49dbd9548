//! The worker pool: tokio tasks that claim runnable migrations and run their steps.
//!
//! Each worker claims one migration at a time (in-process claims keep two workers of this
//! process off the same migration), runs its steps on the blocking pool — every step an
//! append at the migration's expected version, so a racing process loses with a conflict
//! instead of applying twice — and then looks for the next. Different migrations run in
//! parallel; their appends share the log's group commit.
//!
//! The pool stops on its shutdown signal at a step boundary: a step in flight finishes (its
//! append is acknowledged or not), no new one starts, and the next start resumes the rest.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ferry_engine::executor::{self, Executor, Progress as Stepped};
use ferry_schemas::MigrationId;

/// When the pool stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Until {
    /// When no migration is runnable.
    Idle,
    /// When this migration is no longer runnable.
    Done(MigrationId),
    /// Only on the shutdown signal: a long-running pool (`ferry worker`, `ferry serve`).
    Shutdown,
}

/// What the pool did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Migrations it worked on.
    pub migrations: usize,
    /// Steps recorded.
    pub steps: usize,
}

/// Which migrations this process may run: all of them on an embedded log; on a shared log,
/// those whose work partition the workers' group assigned to it.
pub type Share = Arc<dyn Fn(MigrationId) -> bool + Send + Sync>;

/// Every migration.
pub fn everything() -> Share {
    Arc::new(|_| true)
}

/// What this process runs of `dir`'s migrations: all of them on an embedded log; on Kafka,
/// those of the work partitions the workers' group assigns it (joined here, waiting up to
/// `settle` for the first assignment). Returns the share and, on Kafka, a sentence saying
/// what was joined.
pub fn share_of(
    dir: &ferry_engine::data_dir::DataDir,
    settle: Duration,
) -> Result<(Share, Option<String>), ferry_engine::log::Error> {
    let Some((connection, topics)) = dir.kafka() else {
        return Ok((everything(), None));
    };
    let group = ferry_engine::log::WorkGroup::join(connection, topics)?;
    // The first assignment takes a rebalance (seconds); judging "idle" before it would stop a
    // worker that owns work.
    let owned = group.settle(settle);
    let joined = format!(
        "joined the workers' group {} on {}: {owned} of {} partition(s) of {}",
        topics.group(),
        connection.brokers(),
        group.partitions(),
        topics.work()
    );
    let group = Arc::new(group);
    let share = Arc::new(move |id: MigrationId| group.owns(id.to_string().as_bytes())) as Share;
    Ok((share, Some(joined)))
}

struct Shared {
    executor: Arc<Executor>,
    share: Share,
    claimed: Mutex<BTreeSet<MigrationId>>,
    summary: Mutex<Summary>,
    stopping: AtomicBool,
}

impl Shared {
    /// Claims the oldest runnable migration no other worker of this process holds.
    fn claim(&self, runnable: &[MigrationId]) -> Option<MigrationId> {
        let mut claimed = self.claimed.lock().unwrap_or_else(PoisonError::into_inner);
        let id = runnable.iter().find(|id| !claimed.contains(id)).copied()?;
        claimed.insert(id);
        Some(id)
    }

    fn release(&self, id: MigrationId, steps: usize) {
        self.claimed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
        let mut summary = self.summary.lock().unwrap_or_else(PoisonError::into_inner);
        summary.migrations += 1;
        summary.steps += steps;
    }
}

/// Runs `workers` workers over `executor` until `until` holds or `shutdown` completes; on
/// shutdown, each worker finishes the step it is in and starts no other.
pub async fn run(
    executor: Arc<Executor>,
    share: Share,
    workers: usize,
    until: Until,
    shutdown: impl Future<Output = ()>,
) -> Result<Summary, executor::Error> {
    let shared = Arc::new(Shared {
        executor,
        share,
        claimed: Mutex::new(BTreeSet::new()),
        summary: Mutex::new(Summary::default()),
        stopping: AtomicBool::new(false),
    });
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..workers.max(1) {
        tasks.spawn(worker(shared.clone(), until));
    }
    tokio::select! {
        () = shutdown => {
            shared.stopping.store(true, Ordering::SeqCst);
            // Each worker returns at its next step boundary.
            join_all(&mut tasks).await?;
        }
        result = join_all(&mut tasks) => result?,
    }
    let summary = shared
        .summary
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    Ok(summary)
}

/// Ctrl-C or SIGTERM, for long-running processes.
pub async fn terminated() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

async fn join_all(
    tasks: &mut tokio::task::JoinSet<Result<(), executor::Error>>,
) -> Result<(), executor::Error> {
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(result) => result?,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => {}
        }
    }
    Ok(())
}

async fn worker(shared: Arc<Shared>, until: Until) -> Result<(), executor::Error> {
    const POLL: Duration = Duration::from_millis(100);
    loop {
        if shared.stopping.load(Ordering::SeqCst) {
            return Ok(());
        }
        let executor = shared.executor.clone();
        let mut runnable = blocking(move || executor.runnable()).await?;
        runnable.retain(|id| (shared.share)(*id));
        let finished = match until {
            Until::Idle => runnable.is_empty(),
            Until::Done(id) => !runnable.contains(&id),
            Until::Shutdown => false,
        };
        if finished {
            return Ok(());
        }
        let Some(id) = shared.claim(&runnable) else {
            // Nothing unclaimed to run: look again shortly.
            tokio::time::sleep(POLL).await;
            continue;
        };
        let (steps, result) = run_steps(&shared, id).await;
        shared.release(id, steps);
        match result {
            // A long-running worker outlives a failure it cannot fix itself (a broker away, a
            // disk full): it says so and tries the migration again, as a controller requeues.
            Err(e) if until == Until::Shutdown => {
                tracing::warn!(error = %e, migration = %id, "migration stopped; trying again in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            other => other?,
        }
    }
}

/// Steps migration `id` until it has nothing to do or the pool is stopping; returns how many
/// steps it recorded.
async fn run_steps(shared: &Shared, id: MigrationId) -> (usize, Result<(), executor::Error>) {
    let mut steps = 0;
    loop {
        if shared.stopping.load(Ordering::SeqCst) {
            return (steps, Ok(()));
        }
        let executor = shared.executor.clone();
        match blocking(move || executor.step(id)).await {
            Ok(Stepped::Stepped(_)) => {
                steps += 1;
                ferry_engine::failpoint::hit("between-steps");
            }
            Ok(Stepped::Lost) => {}
            Ok(Stepped::Idle) => return (steps, Ok(())),
            Err(e) => return (steps, Err(e)),
        }
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, executor::Error> + Send + 'static,
) -> Result<T, executor::Error> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// Why the pool stopped short.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A step could not be recorded; see [`executor::Error`].
    #[error(transparent)]
    Step(#[from] executor::Error),
    /// The tokio runtime could not start.
    #[error("cannot start the worker runtime: {0}")]
    Runtime(std::io::Error),
}

/// Runs the pool on a fresh tokio runtime, for the CLI: until `until`, or Ctrl-C / SIGTERM.
pub fn run_blocking(
    executor: Arc<Executor>,
    share: Share,
    workers: usize,
    until: Until,
) -> Result<Summary, Error> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.clamp(1, 8))
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    Ok(runtime.block_on(run(executor, share, workers, until, terminated()))?)
}
