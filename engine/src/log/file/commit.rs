//! Group commit with a flush leader (the scheme of PostgreSQL's WAL flush).
//!
//! An append runs in two stages on the caller's thread:
//! 1. **stage** — under the `staging` lock: the sequencer decides, the new records are sealed
//!    and their frames encoded into the shared staging buffer. Short and CPU-only.
//! 2. **wait until durable** — if no flush is running, this appender becomes the flush leader:
//!    it takes the whole staging buffer (its own frames and everyone's staged behind them),
//!    writes it with one `write`, calls `fdatasync` once, publishes the records to readers,
//!    wakes exactly the waiters it made durable, and hands leadership to one still waiting.
//!    Otherwise it parks until a leader wakes it, done or as the next leader.
//!
//! While a leader is in `fdatasync`, other appenders keep staging: the next flush covers them
//! all. So one fsync covers every append queued behind it, sealing overlaps the disk's work,
//! and a lone appender pays no thread hand-off at all.
//!
//! ## Invariants
//! - Nothing is published to readers or acknowledged before the `fdatasync` covering it
//!   returned. Publishing happens in log order (one leader at a time, buffers taken in order).
//! - A failed write or fsync poisons the log: every waiter not yet durable gets an error, and
//!   every later append [`Error::Poisoned`].

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::Thread;

use ferry_schemas::{NewEvent, Record, StreamId};
use tracing::error;

use super::super::frame::{self, END};
use super::super::sequencer::{Decision, Sequencer};
use super::super::{Appended, Error, Expected, Result};
use super::shared::Shared;
use super::{Medium, Options};

/// The appending half of the file store.
pub(crate) struct Committer {
    staging: Mutex<Staging>,
    flush: Mutex<Flush>,
    /// Only the flush leader touches the medium; the mutex is never contended.
    medium: Mutex<Box<dyn Medium>>,
    options: Options,
}

/// Sealed, not yet written records.
struct Staging {
    sequencer: Sequencer,
    /// Frames staged behind the last flush, in log order.
    buffer: Vec<u8>,
    /// The records framed in `buffer`, with their offsets and frame lengths.
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
    /// A flush is running (or has been handed to a waiter).
    leader: bool,
    /// Set when a write or fsync failed: nothing past `durable` will ever be.
    failure: Option<(std::io::ErrorKind, String)>,
    /// Appenders parked until a flush covers their target.
    waiters: Vec<Waiter>,
}

const WAITING: u8 = 0;
const DONE: u8 = 1;
const LEAD: u8 = 2;

/// A parked appender.
struct Waiter {
    target: u64,
    thread: Thread,
    turn: Arc<AtomicU8>,
}

impl Waiter {
    fn wake(self, turn: u8) {
        self.turn.store(turn, Ordering::Release);
        self.thread.unpark();
    }
}

impl Committer {
    pub(crate) fn new(
        medium: Box<dyn Medium>,
        sequencer: Sequencer,
        end: u64,
        options: Options,
    ) -> Self {
        Self {
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
        shared: &Shared,
        stream: &StreamId,
        expected: Expected,
        events: Vec<NewEvent>,
    ) -> Result<Appended> {
        let (appended, durable_at) = self.stage(shared, stream, expected, events)?;
        self.wait_durable(shared, durable_at)?;
        Ok(appended)
    }

    /// Decides and seals the append into the staging buffer. Returns the offset the log must
    /// be durable up to before the append may be acknowledged.
    fn stage(
        &self,
        shared: &Shared,
        stream: &StreamId,
        expected: Expected,
        events: Vec<NewEvent>,
    ) -> Result<(Appended, u64)> {
        let mut staging = lock(&self.staging);
        if staging.poisoned {
            return Err(Error::Poisoned);
        }
        let now = self.options.clock.now();
        let Staging {
            sequencer,
            buffer,
            records,
            appends,
            end,
            ..
        } = &mut *staging;
        let lookup = |position: u64| {
            // Sealed but unpublished records are read from the staging list; older ones from
            // the file through the readers' index.
            match records.iter().find(|(r, _, _)| r.position == position) {
                Some((record, _, _)) => Ok(record.clone()),
                None => shared.read(position),
            }
        };
        match sequencer.decide(stream, expected, events, now, lookup)? {
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
    ///
    /// Waiters park with their target; a leader wakes exactly the waiters its flush made
    /// durable and hands leadership to one that still waits, so no flush wakes a herd.
    fn wait_durable(&self, shared: &Shared, target: u64) -> Result<()> {
        let mut flush = lock(&self.flush);
        if flush.durable >= target || flush.failure.is_some() {
            drop(flush);
            return self.outcome(shared, target);
        }
        if flush.leader {
            let turn = Arc::new(AtomicU8::new(WAITING));
            flush.waiters.push(Waiter {
                target,
                thread: std::thread::current(),
                turn: Arc::clone(&turn),
            });
            drop(flush);
            loop {
                std::thread::park();
                match turn.load(Ordering::Acquire) {
                    WAITING => continue, // spurious wake-up
                    DONE => return self.outcome(shared, target),
                    _ => break, // LEAD: this thread flushes next
                }
            }
        } else {
            flush.leader = true;
            drop(flush);
        }
        let outcome = self.flush_staged(shared);
        let mut flush = lock(&self.flush);
        match outcome {
            Ok(durable) => flush.durable = durable,
            Err(source) => flush.failure = Some((source.kind(), source.to_string())),
        }
        let durable = flush.durable;
        let failed = flush.failure.is_some();
        let mut next = None;
        for waiter in std::mem::take(&mut flush.waiters) {
            if failed || waiter.target <= durable {
                waiter.wake(DONE);
            } else if next.is_none() {
                next = Some(waiter);
            } else {
                flush.waiters.push(waiter);
            }
        }
        match next {
            Some(waiter) => waiter.wake(LEAD),
            None => flush.leader = false,
        }
        drop(flush);
        self.outcome(shared, target)
    }

    /// Whether `target` is durable now, or the error that stopped it.
    fn outcome(&self, shared: &Shared, target: u64) -> Result<()> {
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
            path: shared.path().to_path_buf(),
            source: std::io::Error::new(kind, message),
        })
    }

    /// Writes and fsyncs everything staged so far; returns the new durable offset.
    fn flush_staged(&self, shared: &Shared) -> std::io::Result<u64> {
        let (bytes, records, appends, end) = {
            let mut staging = lock(&self.staging);
            let bytes = std::mem::take(&mut staging.buffer);
            let records = std::mem::take(&mut staging.records);
            let appends = std::mem::take(&mut staging.appends);
            (bytes, records, appends, staging.end)
        };
        let mut medium = lock(&self.medium);
        let written = medium.write_all(&bytes).and_then(|()| medium.sync_data());
        if let Err(source) = written {
            lock(&self.staging).poisoned = true;
            error!(%source, path = %shared.path().display(), "log write or fsync failed; refusing further appends");
            return Err(source);
        }
        shared.publish(records, appends);
        Ok(end)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves its state consistent before anything that can panic.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
