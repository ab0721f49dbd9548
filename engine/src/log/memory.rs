//! A log held in memory: same semantics as the file store, no durability. For unit tests.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use ferry_schemas::{NewEvent, Record, StreamId};

use super::sequencer::{Decision, Sequencer};
use super::{Appended, Error, Expected, Head, Result, Scope, Store};
use crate::clock::{Clock, SystemClock};

/// An in-memory [`Store`].
pub struct MemoryStore {
    inner: Mutex<Inner>,
    grown: Condvar,
    clock: Arc<dyn Clock>,
}

#[derive(Default)]
struct Inner {
    sequencer: Sequencer,
    records: Vec<Record>,
}

impl MemoryStore {
    /// An empty log using the system clock.
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    /// An empty log using `clock` for recorded times.
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            grown: Condvar::new(),
            clock,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave `Inner` half-updated: records are pushed
        // only after the sequencer decided, and pushing does not panic.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl Store for MemoryStore {
    fn append_scoped(
        &self,
        stream: &StreamId,
        expected: Expected,
        scope: Option<&Scope>,
        events: Vec<NewEvent>,
    ) -> Result<Appended> {
        let events = events.into_iter().map(NewEvent::prepare).collect();
        let mut inner = self.lock();
        let Inner { sequencer, records } = &mut *inner;
        let lookup = |position: u64| {
            records
                .get(position as usize - 1)
                .cloned()
                .ok_or(Error::NoSuchPosition {
                    position,
                    head: records.len() as u64,
                })
        };
        let now = self.clock.now();
        match sequencer.decide(stream, expected, scope, events, now, lookup)? {
            Decision::Duplicate(appended) => Ok(appended),
            Decision::Write(sealed, appended) => {
                records.extend(sealed.into_iter().map(|(record, _)| record));
                self.grown.notify_all();
                Ok(appended)
            }
        }
    }

    fn read_stream(&self, stream: &StreamId, from_version: u64, max: usize) -> Result<Vec<Record>> {
        let inner = self.lock();
        Ok(inner
            .records
            .iter()
            .filter(|r| r.stream == *stream && r.stream_version >= from_version)
            .take(max)
            .cloned()
            .collect())
    }

    fn read_all(&self, from_position: u64, max: usize) -> Result<Vec<Record>> {
        let inner = self.lock();
        let start = from_position.saturating_sub(1) as usize;
        Ok(inner
            .records
            .iter()
            .skip(start)
            .take(max)
            .cloned()
            .collect())
    }

    fn stream_version(&self, stream: &StreamId) -> Result<u64> {
        Ok(self.lock().sequencer.version(stream))
    }

    fn head(&self) -> Result<Head> {
        let inner = self.lock();
        Ok(Head {
            position: inner.sequencer.head(),
            hash: inner.sequencer.head_hash(),
        })
    }

    fn wait_for(&self, position: u64, timeout: Duration) -> Result<u64> {
        let inner = self.lock();
        let (inner, _) = self
            .grown
            .wait_timeout_while(inner, timeout, |i| i.sequencer.head() < position)
            .unwrap_or_else(|e| e.into_inner());
        Ok(inner.sequencer.head())
    }
}
