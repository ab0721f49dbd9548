//! The reader side: one thread per open store consumes the log partition in offset order, turns
//! each claim into records (or a refusal) with the shared [`Sequencer`], stores them in the
//! [`Cache`] with the next offset in one batch, and publishes them to readers and to the
//! appender waiting for that claim.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ferry_schemas::NewEvent;
use rdkafka::consumer::BaseConsumer;
use rdkafka::Message;
use uuid::Uuid;

use super::super::sequencer::{Decision, Sequencer};
use super::super::{Appended, Error, Result};
use super::cache::{Cache, Meta};
use super::claim::Claim;

/// What readers and appenders share with the tailer.
pub(crate) struct Shared {
    pub(crate) cache: Cache,
    pub(crate) topic: String,
    state: Mutex<State>,
    grown: Condvar,
}

pub(crate) struct State {
    pub(crate) sequencer: Sequencer,
    /// The offset of the next claim to read.
    pub(crate) next_offset: i64,
    /// Outcomes of this process's claims, by offset, until their appender takes them.
    outcomes: HashMap<i64, Result<Appended>>,
    /// Why the tailer stopped, if it did.
    failed: Option<String>,
}

impl Shared {
    pub(crate) fn new(cache: Cache, topic: String, sequencer: Sequencer, next_offset: i64) -> Self {
        Shared {
            cache,
            topic,
            state: Mutex::new(State {
                sequencer,
                next_offset,
                outcomes: HashMap::new(),
                failed: None,
            }),
            grown: Condvar::new(),
        }
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sequences the claim at `offset`. Every reader does exactly this, in offset order, so
    /// every reader keeps and discards the same claims.
    pub(crate) fn ingest(&self, writer: Uuid, offset: i64, value: &[u8]) -> Result<()> {
        let mut state = self.state();
        if offset < state.next_offset {
            return Ok(()); // already applied (a re-delivery after a seek)
        }
        let meta = Meta {
            topic: self.topic.clone(),
            next_offset: offset + 1,
        };
        let (records, outcome, mine) = match Claim::decode(value) {
            Err(reason) => {
                tracing::warn!(offset, %reason, topic = %self.topic, "skipping a message that is not a Ferry claim");
                (Vec::new(), None, false)
            }
            Ok(claim) => {
                let mine = claim.writer == writer;
                let expected = claim.expected();
                let events = claim.events.into_iter().map(NewEvent::prepare).collect();
                let head = state.sequencer.head();
                let cache = &self.cache;
                let decision = state.sequencer.decide(
                    &claim.stream,
                    expected,
                    events,
                    claim.claimed_at,
                    |position| cache.record(position, head),
                );
                match decision {
                    Ok(Decision::Write(records, appended)) => (records, Some(Ok(appended)), mine),
                    Ok(Decision::Duplicate(appended)) => (Vec::new(), Some(Ok(appended)), mine),
                    Err(refused) => (Vec::new(), Some(Err(refused)), mine),
                }
            }
        };
        if let Err(e) = self.cache.apply(&records, &meta) {
            // The sequencer already counts these records: nothing more can be applied
            // consistently. Readers and appenders get the error; reopening recovers.
            state.failed = Some(e.to_string());
            self.grown.notify_all();
            return Err(e);
        }
        state.next_offset = meta.next_offset;
        if let (Some(outcome), true) = (outcome, mine) {
            state.outcomes.insert(offset, outcome);
        }
        drop(state);
        self.grown.notify_all();
        Ok(())
    }

    /// Records that the tailer cannot go on.
    pub(crate) fn fail(&self, reason: String) {
        self.state().failed = Some(reason);
        self.grown.notify_all();
    }

    /// Waits for the outcome of this process's claim at `offset`.
    pub(crate) fn outcome(&self, offset: i64, timeout: Duration) -> Result<Appended> {
        let deadline = Instant::now() + timeout;
        let mut state = self.state();
        loop {
            if let Some(outcome) = state.outcomes.remove(&offset) {
                return outcome;
            }
            self.check(&state)?;
            if state.next_offset > offset {
                return Err(self.unavailable(format!(
                    "the claim at offset {offset} was read but is not this process's"
                )));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(self.unavailable(format!(
                    "the append was delivered at offset {offset} but not read back within \
                     {timeout:?}; it may still take effect — re-read before retrying"
                )));
            }
            state = self.wait(state, left);
        }
    }

    /// Waits until every claim before `offset` is applied.
    pub(crate) fn reach_offset(&self, offset: i64, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let mut state = self.state();
        while state.next_offset < offset {
            self.check(&state)?;
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(self.unavailable(format!(
                    "could not read the log up to offset {offset} within {timeout:?} (read up \
                     to {}); check that the brokers are up",
                    state.next_offset
                )));
            }
            state = self.wait(state, left);
        }
        Ok(())
    }

    /// Waits until the head reaches `position` or `timeout` passes; returns the head.
    pub(crate) fn wait_for(&self, position: u64, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        let mut state = self.state();
        loop {
            let head = state.sequencer.head();
            let left = deadline.saturating_duration_since(Instant::now());
            if head >= position || left.is_zero() || state.failed.is_some() {
                return head;
            }
            state = self.wait(state, left);
        }
    }

    fn wait<'a>(&self, state: MutexGuard<'a, State>, left: Duration) -> MutexGuard<'a, State> {
        self.grown
            .wait_timeout(state, left)
            .map(|(state, _)| state)
            .unwrap_or_else(|e| e.into_inner().0)
    }

    fn check(&self, state: &State) -> Result<()> {
        match &state.failed {
            Some(reason) => Err(self.unavailable(format!(
                "the log reader stopped: {reason}; restart the process"
            ))),
            None => Ok(()),
        }
    }

    pub(crate) fn unavailable(&self, reason: String) -> Error {
        Error::Broker {
            action: "reading",
            topic: self.topic.clone(),
            reason,
        }
    }
}

/// The tailer's loop: runs until `closed` is set.
pub(crate) fn run(
    shared: Arc<Shared>,
    consumer: Arc<BaseConsumer>,
    writer: Uuid,
    closed: Arc<AtomicBool>,
) {
    while !closed.load(Ordering::Acquire) {
        match consumer.poll(Duration::from_millis(50)) {
            None => {}
            Some(Err(e)) => {
                tracing::debug!(error = %e, "reading the Kafka log; retrying");
                std::thread::sleep(Duration::from_millis(20));
            }
            Some(Ok(message)) => {
                let value = message.payload().unwrap_or_default();
                if let Err(e) = shared.ingest(writer, message.offset(), value) {
                    shared.fail(e.to_string());
                    return;
                }
            }
        }
    }
}
