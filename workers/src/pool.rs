//! The worker pool: tokio tasks that claim runnable migrations and run their steps.
//!
//! Each worker claims one migration at a time (in-process claims keep two workers of this
//! process off the same migration), runs its steps on the blocking pool — every step an
//! append at the migration's expected version, so a racing process loses with a conflict
//! instead of applying twice — and then looks for the next. Different migrations run in
//! parallel; their appends share the log's group commit. On a shared log a process runs its
//! share of the migrations, and any other that has stood still for [`STALLED`].
//!
//! The pool stops on its shutdown signal at a step boundary: a step in flight finishes (its
//! append is acknowledged or not), no new one starts, and the next start resumes the rest.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

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
    /// Migrations it recorded a step of, each once however many turns it took.
    pub migrations: usize,
    /// Events recorded: one per item step, one for each migration's end.
    pub steps: usize,
}

/// What a pool tells its front-end as it goes (`ferry worker` prints it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Moment {
    /// A worker recorded a step of this migration: its first of this turn when `first`.
    Stepped {
        /// The migration.
        migration: MigrationId,
        /// Whether it is the first step of this worker's turn at it.
        first: bool,
    },
    /// A worker put this migration down after recording steps of it: it has nothing left
    /// to run, or the pool is stopping.
    Ended(MigrationId),
}

/// Told each [`Moment`], on the worker's thread: keep it short.
pub type Observer = Arc<dyn Fn(Moment) + Send + Sync>;

/// An observer that is told nothing.
pub fn unobserved() -> Observer {
    Arc::new(|_| {})
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

/// How long a migration of another process's share may stand still before this process runs
/// it too. The group reassigns a dead worker's partitions within its session timeout, but a
/// process whose workers are wedged keeps them (its membership thread still heartbeats), and a
/// broker's rebalance can lag or stall. Running a migration someone else also runs is safe —
/// the log takes each step from the first claim, the other's is a conflict — so the share is
/// where work goes first, and this bound is what keeps every migration moving.
pub const STALLED: Duration = Duration::from_secs(30);

struct Shared {
    executor: Arc<Executor>,
    share: Share,
    claimed: Mutex<BTreeSet<MigrationId>>,
    stalls: Mutex<Stalls>,
    summary: Mutex<(BTreeSet<MigrationId>, usize)>,
    observer: Observer,
    stopping: AtomicBool,
}

/// Runnable migrations outside this process's share, watched for standing still.
#[derive(Default)]
struct Stalls {
    /// The version each was at when first seen there, since when, and whether the takeover
    /// was said.
    watched: HashMap<MigrationId, (u64, Instant, bool)>,
}

impl Stalls {
    /// What this process runs of `runnable` at `now`: its share first, then any other
    /// migration whose version has not moved for `bound`.
    fn mine(
        &mut self,
        share: &dyn Fn(MigrationId) -> bool,
        runnable: Vec<(MigrationId, u64)>,
        now: Instant,
        bound: Duration,
    ) -> Vec<MigrationId> {
        let (mut mine, mut stalled) = (Vec::new(), Vec::new());
        let mut outside = HashMap::with_capacity(self.watched.len());
        for (id, version) in runnable {
            if share(id) {
                mine.push(id);
                continue;
            }
            let (seen, since, said) = match self.watched.remove(&id) {
                Some(entry) if entry.0 == version => entry,
                _ => (version, now, false),
            };
            let stands_still = now.duration_since(since) >= bound;
            if stands_still {
                if !said {
                    tracing::warn!(
                        migration = %id,
                        "migration has not moved for {}s in another worker's share; running it \
                         here too",
                        bound.as_secs()
                    );
                }
                stalled.push(id);
            }
            outside.insert(id, (seen, since, said || stands_still));
        }
        // Only what is still runnable and outside the share stays watched.
        self.watched = outside;
        mine.extend(stalled);
        mine
    }
}

impl Shared {
    /// What this process runs of `runnable` now (see [`Stalls::mine`]).
    fn mine(&self, runnable: Vec<(MigrationId, u64)>) -> Vec<MigrationId> {
        self.stalls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .mine(self.share.as_ref(), runnable, Instant::now(), STALLED)
    }

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
        if steps > 0 {
            let mut summary = self.summary.lock().unwrap_or_else(PoisonError::into_inner);
            summary.0.insert(id);
            summary.1 += steps;
            drop(summary);
            (self.observer)(Moment::Ended(id));
        }
    }
}

/// Runs `workers` workers over `executor` until `until` holds or `shutdown` completes,
/// telling `observer` each step and end; on shutdown, each worker finishes the step it is in
/// and starts no other.
pub async fn run(
    executor: Arc<Executor>,
    share: Share,
    workers: usize,
    until: Until,
    observer: Observer,
    shutdown: impl Future<Output = ()>,
) -> Result<Summary, executor::Error> {
    let shared = Arc::new(Shared {
        executor,
        share,
        claimed: Mutex::new(BTreeSet::new()),
        stalls: Mutex::new(Stalls::default()),
        summary: Mutex::new((BTreeSet::new(), 0)),
        observer,
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
        .unwrap_or_else(PoisonError::into_inner);
    Ok(Summary {
        migrations: summary.0.len(),
        steps: summary.1,
    })
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
        let runnable = blocking(move || executor.runnable_at()).await?;
        let runnable = shared.mine(runnable);
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
                (shared.observer)(Moment::Stepped {
                    migration: id,
                    first: steps == 1,
                });
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
    observer: Observer,
) -> Result<Summary, Error> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.clamp(1, 8))
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    Ok(runtime.block_on(run(executor, share, workers, until, observer, terminated()))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_migration_outside_the_share_runs_here_once_it_has_stood_still_for_the_bound() {
        let (ours, theirs, moving) = (MigrationId::new(), MigrationId::new(), MigrationId::new());
        let share = move |id: MigrationId| id == ours;
        let bound = Duration::from_secs(30);
        let start = Instant::now();
        let at = |secs: u64| start + Duration::from_secs(secs);
        let mut stalls = Stalls::default();
        let runnable = |moving_version: u64| vec![(theirs, 4), (ours, 1), (moving, moving_version)];

        assert_eq!(stalls.mine(&share, runnable(0), at(0), bound), vec![ours]);
        assert_eq!(stalls.mine(&share, runnable(1), at(29), bound), vec![ours]);
        // `theirs` stood still for the bound: run here too, after this process's own share;
        // `moving` moved 1 s before, so its owner is at work.
        assert_eq!(
            stalls.mine(&share, runnable(2), at(30), bound),
            vec![ours, theirs]
        );
        assert_eq!(
            stalls.mine(&share, runnable(2), at(59), bound),
            vec![ours, theirs]
        );
        assert_eq!(
            stalls.mine(&share, runnable(2), at(60), bound),
            vec![ours, theirs, moving]
        );
        // Once it moves, it is its owner's again until it stands still anew.
        let moved = vec![(theirs, 5), (ours, 1)];
        assert_eq!(
            stalls.mine(&share, moved.clone(), at(61), bound),
            vec![ours]
        );
        // What is no longer runnable is no longer watched.
        assert_eq!(
            stalls.mine(&share, vec![(ours, 1)], at(62), bound),
            vec![ours]
        );
        assert!(stalls.watched.is_empty());
        assert_eq!(stalls.mine(&share, moved, at(95), bound), vec![ours]);
    }
}
