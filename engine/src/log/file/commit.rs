//! Group commit: appenders seal on their own threads; a flush leader writes and fsyncs.
//!
//! An append runs in two stages on the caller's thread:
//! 1. **stage** — under the `staging` lock: the sequencer decides, the new records are sealed
//!    and their frames encoded into the shared staging buffer. Short and CPU-only.
//! 2. **wait until durable** — if no flush is running, the appender leads one itself: it takes
//!    the whole staging buffer (its own frames and everyone's staged behind them), writes it
//!    with one `write`, calls `fdatasync` once, publishes the records to readers and wakes the
//!    appenders it made durable. Otherwise it parks until a flush covers it.
//!
//! When a flush ends with appenders still parked behind it (they staged during the fsync),
//! leadership passes to the **flusher thread**, which keeps flushing back to back while work is
//! staged and parks when none is. So a lone appender pays no thread hand-off at all, and under
//! load the disk never waits for a woken thread to be scheduled.
//!
//! ## Invariants
//! - Nothing is published to readers or acknowledged before the `fdatasync` covering it
//!   returned. Publishing happens in log order (one leader at a time, buffers taken in order).
//! - A failed write or fsync poisons the log: every waiter not yet durable gets an error, and
//!   every later append [`Error::Poisoned`].

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::Thread;

use ferry_schemas::{NewEvent, Record, StreamId};
use tracing::error;

use crate::failpoint;

use super::super::frame::{self, END};
use super::super::sequencer::{Decision, Sequencer};
use super::super::{Appended, Error, Expected, Result, Scope};
use super::shared::Shared;
use super::{Medium, Options};

/// The appending half of the file store, shared with the flusher thread.
pub(crate) struct Committer {
    pub(crate) shared: Shared,
    staging: Mutex<Staging>,
    flush: Mutex<Flush>,
    /// Only the flush leader touches the medium; the mutex is never contended.
    medium: Mutex<Box<dyn Medium>>,
    options: Options,
}

/// Sealed, not yet written records.
struct Staging {
    /// None until the first append of a store opened from a snapshot (see `shared::Base`).
    sequencer: Option<Sequencer>,
    /// Frames staged behind the last flush, in log order.
    buffer: Vec<u8>,
    /// Sealed records not yet published to readers (staged, or being flushed), in log order,
    /// with their offsets and frame lengths.
    records: Vec<(Record, u64, u64)>,
    /// Appends staged in `buffer`.
    appends: u64,
    /// Offset where the next frame goes.
    end: u64,
    poisoned: bool,
}

/// What has reached the disk, and who waits for it.
struct Flush {
    /// Every byte below this offset is durable.
    durable: u64,
    /// A flush is running, led by an appender or the flusher thread.
    leader: bool,
    /// The flusher thread has been handed leadership and must flush.
    flusher_turn: bool,
    /// The store is closing: the flusher thread exits.
    closing: bool,
    /// Set when a write or fsync failed: nothing past `durable` will ever be.
    failure: Option<(std::io::ErrorKind, String)>,
    /// Appenders parked until a flush covers their target.
    waiters: Vec<Waiter>,
}

const WAITING: u8 = 0;
const DONE: u8 = 1;

/// Who leads a flush.
enum Leader<'a> {
    /// An appender, on its own thread; it hands over to the flusher thread (given) if needed.
    Appender(&'a Thread),
    /// The flusher thread.
    Flusher,
}

/// A parked appender.
struct Waiter {
    target: u64,
    thread: Thread,
    turn: Arc<Turn>,
}

/// How a parked appender learns that its wait is over.
#[derive(Default)]
struct Turn {
    state: AtomicU8,
    /// Other appenders this one must wake in turn (see [`wake_tree`]).
    relay: Mutex<Vec<Waiter>>,
}

/// Wakes every waiter as a binary tree: this thread wakes two, each carrying half of the rest
/// to wake in turn. A wake-up costs a system call (several microseconds on a virtual
/// machine); done one by one by the flush leader they would delay the next fsync.
fn wake_tree(mut waiters: Vec<Waiter>) {
    let second = waiters.split_off(waiters.len().div_ceil(2));
    for mut group in [waiters, second] {
        if group.is_empty() {
            continue;
        }
        let head = group.swap_remove(0);
        *lock(&head.turn.relay) = group;
        head.turn.state.store(DONE, Ordering::Release);
        head.thread.unpark();
    }
}

impl Committer {
    pub(crate) fn new(
        shared: Shared,
        medium: Box<dyn Medium>,
        sequencer: Option<Sequencer>,
        end: u64,
        options: Options,
    ) -> Self {
        Self {
            shared,
            staging: Mutex::new(Staging {
                sequencer,
                buffer: Vec::new(),
                records: Vec::new(),
                appends: 0,
                end,
                poisoned: false,
            }),
            flush: Mutex::new(Flush {
                durable: end,
                leader: false,
                flusher_turn: false,
                closing: false,
                failure: None,
                waiters: Vec::new(),
            }),
            medium: Mutex::new(medium),
            options,
        }
    }

    /// Appends and returns once the append is durable.
    pub(crate) fn append(
        &self,
        flusher: &Thread,
        stream: &StreamId,
        expected: Expected,
        scope: Option<&Scope>,
        events: Vec<NewEvent>,
    ) -> Result<Appended> {
        let (appended, durable_at) = self.stage(stream, expected, scope, events)?;
        self.wait_durable(flusher, durable_at)?;
        Ok(appended)
    }

    /// Decides and seals the append into the staging buffer. Returns the offset the log must
    /// be durable up to before the append may be acknowledged.
    fn stage(
        &self,
        stream: &StreamId,
        expected: Expected,
        scope: Option<&Scope>,
        events: Vec<NewEvent>,
    ) -> Result<(Appended, u64)> {
        // Serialising payloads is the bulk of sealing: do it before taking the lock.
        let events = events.into_iter().map(NewEvent::prepare).collect();
        let mut staging = lock(&self.staging);
        if staging.poisoned {
            return Err(Error::Poisoned);
        }
        let now = self.options.clock.now();
        let shared = &self.shared;
        let Staging {
            sequencer,
            buffer,
            records,
            appends,
            end,
            ..
        } = &mut *staging;
        let sequencer = match sequencer {
            Some(sequencer) => sequencer,
            None => sequencer.insert(shared.take_sequencer()?),
        };
        let lookup = |position: u64| {
            // Sealed but unpublished records are read from the staging list; older ones from
            // the file through the readers' index.
            match records.iter().find(|(r, _, _)| r.position == position) {
                Some((record, _, _)) => Ok(record.clone()),
                None => shared.read(position),
            }
        };
        match sequencer.decide(stream, expected, scope, events, now, lookup)? {
            Decision::Duplicate(appended) => {
                // The original may still be staged: acknowledge it only once it is durable.
                let durable_at = records
                    .iter()
                    .find(|(r, _, _)| r.position == appended.last_position)
                    .map_or(0, |(_, offset, len)| offset + len);
                Ok((appended, durable_at))
            }
            Decision::Write(sealed, appended) => {
                let last = sealed.len() - 1;
                for (i, (record, body)) in sealed.into_iter().enumerate() {
                    let before = buffer.len();
                    frame::encode(&body, if i == last { END } else { 0 }, buffer);
                    let len = (buffer.len() - before) as u64;
                    records.push((record, *end, len));
                    *end += len;
                }
                *appends += 1;
                Ok((appended, *end))
            }
        }
    }

    /// Blocks until every byte below `target` is durable, leading a flush when none runs.
    fn wait_durable(&self, flusher: &Thread, target: u64) -> Result<()> {
        let mut flush = lock(&self.flush);
        if flush.durable >= target || flush.failure.is_some() {
            drop(flush);
            return self.outcome(target);
        }
        if flush.leader {
            let turn = Arc::new(Turn::default());
            flush.waiters.push(Waiter {
                target,
                thread: std::thread::current(),
                turn: Arc::clone(&turn),
            });
            drop(flush);
            // A wake-up without our turn is spurious: park again.
            while turn.state.load(Ordering::Acquire) == WAITING {
                std::thread::park();
            }
            wake_tree(std::mem::take(&mut *lock(&turn.relay)));
            return self.outcome(target);
        }
        flush.leader = true;
        drop(flush);
        self.flush_once(Leader::Appender(flusher));
        self.outcome(target)
    }

    /// The flusher thread: flushes back to back while appends are staged behind each flush,
    /// parks when none are, and returns when the store closes.
    pub(crate) fn run_flusher(&self) {
        loop {
            {
                let flush = lock(&self.flush);
                if flush.closing {
                    return;
                }
                if !flush.flusher_turn {
                    drop(flush);
                    std::thread::park();
                    continue;
                }
            }
            while self.flush_once(Leader::Flusher) {}
        }
    }

    /// Closes the flusher thread's loop; the caller unparks and joins it.
    pub(crate) fn close(&self) {
        lock(&self.flush).closing = true;
    }

    /// Writes the log's snapshot into `dir` if at least `every` records came since position
    /// `since` and everything sealed is durable; returns the position it was written at.
    /// Appends wait meanwhile (the staging lock keeps the state still).
    pub(crate) fn snapshot(&self, dir: &std::path::Path, since: u64, every: u64) -> Option<u64> {
        let mut guard = lock(&self.staging);
        let staging = &mut *guard;
        let head = self.shared.head().position;
        if staging.poisoned
            || !staging.records.is_empty()
            || !staging.buffer.is_empty()
            || head < since + every
        {
            return None;
        }
        let sequencer = match &mut staging.sequencer {
            Some(sequencer) => sequencer,
            slot @ None => match self.shared.take_sequencer() {
                Ok(sequencer) => slot.insert(sequencer),
                Err(e) => {
                    tracing::debug!("the log's snapshot was not written ({e})");
                    return None;
                }
            },
        };
        // Only a state readers already see: the index holds every sealed record.
        let written = self.shared.with_index(|index| {
            (index.head().position == sequencer.head())
                .then(|| super::snapshot::write(dir, sequencer, index, staging.end))
        })?;
        match written {
            Ok(()) => Some(head),
            Err(e) => {
                tracing::debug!(
                    "the log's snapshot was not written ({e}); the next open walks more"
                );
                None
            }
        }
    }

    /// Runs one flush as the leader and wakes the appenders it made durable. If more appends
    /// wait behind it, leadership stays taken: an appender hands it to the flusher thread, the
    /// flusher keeps it (returns true, flush again). Otherwise leadership is released.
    fn flush_once(&self, leader: Leader<'_>) -> bool {
        // A panic here (a bug, or an injected medium's) must not leave leadership taken and
        // every appender parked forever: it fails the flush like an I/O error would.
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| self.flush_staged()))
            .unwrap_or_else(|_| {
                lock(&self.staging).poisoned = true;
                Err(std::io::Error::other("the flush panicked"))
            });
        let mut flush = lock(&self.flush);
        match outcome {
            Ok(durable) => flush.durable = durable,
            Err(source) => flush.failure = Some((source.kind(), source.to_string())),
        }
        let durable = flush.durable;
        let failed = flush.failure.is_some();
        let (done, waiting): (Vec<Waiter>, Vec<Waiter>) = std::mem::take(&mut flush.waiters)
            .into_iter()
            .partition(|w| failed || w.target <= durable);
        let more = !waiting.is_empty();
        flush.waiters = waiting;
        flush.leader = more;
        // Decided under the lock, so a hand-over can never be lost between two leaders.
        flush.flusher_turn = more;
        drop(flush);
        if let (true, Leader::Appender(flusher)) = (more, &leader) {
            flusher.unpark();
        }
        wake_tree(done);
        more && matches!(leader, Leader::Flusher)
    }

    /// Whether `target` is durable now, or the error that stopped it.
    fn outcome(&self, target: u64) -> Result<()> {
        let flush = lock(&self.flush);
        if flush.durable >= target {
            return Ok(());
        }
        let (kind, message) = flush.failure.clone().unwrap_or((
            std::io::ErrorKind::Other,
            "flush did not cover the append".into(),
        ));
        Err(Error::Io {
            action: "writing",
            path: self.shared.path().to_path_buf(),
            source: std::io::Error::new(kind, message),
        })
    }

    /// Writes and fsyncs everything staged so far; returns the new durable offset.
    fn flush_staged(&self) -> std::io::Result<u64> {
        let (bytes, count, appends, end) = {
            let mut staging = lock_eagerly(&self.staging);
            let bytes = std::mem::take(&mut staging.buffer);
            let appends = std::mem::take(&mut staging.appends);
            (bytes, staging.records.len(), appends, staging.end)
        };
        let mut medium = lock(&self.medium);
        if failpoint::armed("log-mid-write") {
            let _ = medium.write_all(&bytes[..bytes.len() / 2]);
            std::process::abort();
        }
        let mut synced_in = std::time::Duration::ZERO;
        let written = medium.write_all(&bytes).and_then(|()| {
            failpoint::hit("log-after-write");
            let started = std::time::Instant::now();
            let synced = medium.sync_data();
            synced_in = started.elapsed();
            synced
        });
        if written.is_ok() {
            failpoint::hit("log-after-fsync");
        }
        let mut staging = lock_eagerly(&self.staging);
        if let Err(source) = written {
            staging.poisoned = true;
            error!(%source, path = %self.shared.path().display(), "log write or fsync failed; refusing further appends");
            return Err(source);
        }
        // The flushed records leave the staging list and enter the readers' index in one step
        // under the staging lock, so a duplicate check always finds them in one or the other.
        let flushed: Vec<_> = staging.records.drain(..count).collect();
        self.shared.publish(flushed, appends, synced_in);
        Ok(end)
    }
}

/// Takes a lock that appenders hold only briefly, retrying before sleeping: a sleeping flusher
/// would queue behind parked appenders, and every hand-over of a contended lock to a parked
/// thread costs a wake-up.
fn lock_eagerly<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    for _ in 0..1000 {
        match mutex.try_lock() {
            Ok(guard) => return guard,
            Err(std::sync::TryLockError::Poisoned(e)) => return e.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => std::hint::spin_loop(),
        }
    }
    lock(mutex)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves its state consistent before anything that can panic.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
