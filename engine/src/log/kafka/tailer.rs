//! The reader side: one thread per open store consumes the log partition in offset order, turns
//! each claim into records (or a refusal) with the shared [`Sequencer`], hands them to the
//! [`Cache`] with the next offset, publishes them to readers, and hands the outcome of this
//! process's own claims to the appender waiting for it — that appender only, so 64 appenders
//! waiting do not all wake for every claim. This process's own confirmed claims are sequenced
//! from their confirmations without waiting for the fetch ([`Shared::confirmed`]); the same
//! thread writes the cache to sled every 20 ms.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ferry_schemas::record::Prepared;
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
    /// Threads inside `wait_for` or `reach_offset`: publishing skips the wake-up when none.
    followers: AtomicUsize,
    /// Appenders of this process waiting for their claim, by append id.
    pending: Mutex<HashMap<Uuid, SyncSender<Result<Appended>>>>,
    /// This process's own confirmed claims, before and after they are sequenced.
    own: Mutex<Own>,
}

/// This process's own claims that the broker confirmed, by offset.
#[derive(Default)]
struct Own {
    /// Not yet sequenced.
    claims: BTreeMap<i64, Decoded>,
    /// Sequenced from the confirmation, not yet fetched: the append id each must have.
    vouched: BTreeMap<i64, Uuid>,
}

pub(crate) struct State {
    pub(crate) sequencer: Sequencer,
    /// The offset of the next claim to read.
    pub(crate) next_offset: i64,
    /// Why the tailer stopped, if it did.
    failed: Option<String>,
}

/// A claim decoded ahead of taking the state lock.
pub(crate) struct Decoded {
    claim: Claim,
    events: Vec<Prepared>,
}

impl From<Claim> for Decoded {
    fn from(mut claim: Claim) -> Decoded {
        let events = std::mem::take(&mut claim.events)
            .into_iter()
            .map(NewEvent::prepare)
            .collect();
        Decoded { claim, events }
    }
}

/// What sequencing a run of claims produced: the records to store, and the outcomes of this
/// process's own appends.
#[derive(Default)]
struct Decided {
    records: Vec<(ferry_schemas::Record, Vec<u8>)>,
    outcomes: Vec<(Uuid, Result<Appended>)>,
}

impl Decided {
    fn decide(&mut self, sequencer: &mut Sequencer, cache: &Cache, writer: Uuid, decoded: Decoded) {
        let Decoded { claim, events } = decoded;
        let head = sequencer.head();
        let batch = &self.records;
        // A duplicate may name a record of this very batch, not yet in the cache.
        let lookup = |position: u64| match batch.iter().find(|(r, _)| r.position == position) {
            Some((record, _)) => Ok(record.clone()),
            None => cache.record(position, head),
        };
        let decision = sequencer.decide(
            &claim.stream,
            claim.expected(),
            claim.scope.as_ref(),
            events,
            claim.claimed_at,
            lookup,
        );
        let outcome = match decision {
            Ok(Decision::Write(sealed, appended)) => {
                self.records.extend(sealed);
                Ok(appended)
            }
            Ok(Decision::Duplicate(appended)) => Ok(appended),
            Err(refused) => Err(refused),
        };
        if claim.writer == writer {
            self.outcomes.push((claim.append, outcome));
        }
    }
}

impl Shared {
    pub(crate) fn new(cache: Cache, topic: String, sequencer: Sequencer, next_offset: i64) -> Self {
        Shared {
            cache,
            topic,
            state: Mutex::new(State {
                sequencer,
                next_offset,
                failed: None,
            }),
            grown: Condvar::new(),
            followers: AtomicUsize::new(0),
            pending: Mutex::new(HashMap::new()),
            own: Mutex::new(Own::default()),
        }
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| {
            // A thread panicked while sequencing: the sequencer may be ahead of the records
            // kept. Nothing more is sequenced; reopening recovers from the saved cache.
            let mut state = poisoned.into_inner();
            state
                .failed
                .get_or_insert_with(|| "a thread panicked while sequencing".into());
            state
        })
    }

    /// Fails unless the reader is still going; appenders check this before sending.
    pub(crate) fn going(&self) -> Result<()> {
        self.check(&self.state())
    }

    fn pending(&self) -> MutexGuard<'_, HashMap<Uuid, SyncSender<Result<Appended>>>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers an appender for the outcome of its claim `append`, before it sends the claim.
    pub(crate) fn expect(&self, append: Uuid) -> Receiver<Result<Appended>> {
        let (sender, outcome) = mpsc::sync_channel(1);
        self.pending().insert(append, sender);
        outcome
    }

    /// Gives up waiting for `append` (its delivery failed for good).
    pub(crate) fn forget(&self, append: Uuid) {
        self.pending().remove(&append);
    }

    /// Sequences the claims read, in offset order. Every reader does exactly this, so every
    /// reader keeps and discards the same claims. Claims read together share one lock, one
    /// cache batch and one wake-up — what keeps the reader ahead of many appenders.
    pub(crate) fn ingest_all(&self, writer: Uuid, claims: Vec<(i64, Vec<u8>)>) {
        let floor = self.state().next_offset;
        let (done, new): (Vec<_>, Vec<_>) =
            claims.into_iter().partition(|(offset, _)| *offset < floor);
        // Claims this process sequenced from its own confirmations: the partition must hold
        // those very claims there. If a broker reported a wrong offset, this process's history
        // forked from everyone else's; it stops before saving more of it.
        for (offset, value) in done {
            let Some(append) = self.own().vouched.remove(&offset) else {
                continue; // read back earlier (a re-delivery after a seek)
            };
            let found = Claim::decode(&value).map(|c| c.append).ok();
            if found != Some(append) {
                self.fail(format!(
                    "the broker confirmed this process's claim {append} at offset {offset}, but \
                     the partition holds {} there; stop every Ferry process on this log, delete \
                     their kafka-cache folders and report the broker",
                    found.map_or("something else".to_string(), |a| format!("claim {a}"))
                ));
                return;
            }
        }
        let fetched = new
            .into_iter()
            .map(|(offset, value)| (offset, self.decode(offset, &value)))
            .collect();
        self.sequence(writer, fetched)
    }

    /// This process's own claim, which the broker confirmed at `offset`: it will be sequenced
    /// as soon as every claim before it is, without waiting to read it back. The partition
    /// holds the claim's encoding at that offset, and a claim decodes to what it was encoded
    /// from, so this is what every reader derives. Called on the producer's thread, in the
    /// order of the confirmations, so a run of them is there for the first appender to wake.
    pub(crate) fn confirmed(&self, offset: i64, decoded: Decoded) {
        // librdkafka reports no offset (a negative one) for some confirmations, such as a
        // retry the broker recognised as a duplicate: that claim waits for the reader.
        if offset >= 0 {
            self.own().claims.insert(offset, decoded);
        }
    }

    /// Sequences this process's confirmed claims that follow the claims sequenced so far.
    pub(crate) fn sequence_confirmed(&self, writer: Uuid) {
        self.sequence(writer, Vec::new())
    }

    fn own(&self) -> MutexGuard<'_, Own> {
        self.own.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn decode(&self, offset: i64, value: &[u8]) -> Option<Decoded> {
        match Claim::decode(value) {
            Ok(claim) => Some(Decoded::from(claim)),
            Err(reason) => {
                tracing::warn!(offset, %reason, topic = %self.topic, "skipping a message that is not a Ferry claim");
                None
            }
        }
    }

    /// Sequences `fetched` (in offset order, gaps allowed), then this process's own delivered
    /// claims that follow on without a gap; stores, publishes and hands out the outcomes.
    fn sequence(&self, writer: Uuid, fetched: Vec<(i64, Option<Decoded>)>) {
        let mut state = self.state();
        if state.failed.is_some() {
            return;
        }
        let mut decided = Decided::default();
        let mut next_offset = state.next_offset;
        for (offset, decoded) in fetched {
            if offset < next_offset {
                continue; // already applied (a re-delivery after a seek)
            }
            next_offset = offset + 1;
            if let Some(decoded) = decoded {
                decided.decide(&mut state.sequencer, &self.cache, writer, decoded);
            }
        }
        // This process's confirmed claims that follow without a gap, taken out at once so the
        // producer's thread is not held up while they are decided.
        let mut run = Vec::new();
        {
            let mut own = self.own();
            // Those read back first are done with.
            let ahead = own.claims.split_off(&next_offset);
            own.claims = ahead;
            while let Some(decoded) = own.claims.remove(&next_offset) {
                // The reader checks what it later fetches there against this.
                own.vouched.insert(next_offset, decoded.claim.append);
                run.push(decoded);
                next_offset += 1;
            }
        }
        for decoded in run {
            decided.decide(&mut state.sequencer, &self.cache, writer, decoded);
        }
        if next_offset == state.next_offset {
            return;
        }
        let meta = Meta {
            topic: self.topic.clone(),
            next_offset,
        };
        self.cache.apply(decided.records, &meta);
        state.next_offset = next_offset;
        drop(state);
        if self.followers.load(Ordering::SeqCst) > 0 {
            self.grown.notify_all();
        }
        let mut pending = self.pending();
        for (append, outcome) in decided.outcomes {
            // The first outcome of an append wins; a retried copy of it finds nobody waiting.
            if let Some(waiting) = pending.remove(&append) {
                let _ = waiting.send(outcome);
            }
        }
    }

    /// Records that the tailer cannot go on, and tells every waiting appender.
    pub(crate) fn fail(&self, reason: String) {
        self.state().failed = Some(reason.clone());
        self.grown.notify_all();
        for (_, waiting) in self.pending().drain() {
            let _ = waiting.send(Err(self.unavailable(format!(
                "the log reader stopped: {reason}; restart the process"
            ))));
        }
    }

    /// Waits for the outcome an appender registered for with [`Shared::expect`].
    pub(crate) fn outcome(
        &self,
        append: Uuid,
        outcome: &Receiver<Result<Appended>>,
        offset: i64,
        timeout: Duration,
    ) -> Result<Appended> {
        outcome.recv_timeout(timeout).unwrap_or_else(|_| {
            self.forget(append);
            Err(self.unavailable(format!(
                "the append was delivered at offset {offset} but not sequenced within \
                 {timeout:?} (the claims before it were not read); it may still take effect — \
                 re-read before retrying"
            )))
        })
    }

    /// Waits until every claim before `offset` is applied.
    pub(crate) fn reach_offset(&self, offset: i64, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let _following = Following::new(&self.followers);
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
        let _following = Following::new(&self.followers);
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
        // Bounded: a follower registered after the last publish's check wakes within 50 ms.
        self.grown
            .wait_timeout(state, left.min(Duration::from_millis(50)))
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

/// Counts a thread as following the log while it lives.
struct Following<'a>(&'a AtomicUsize);

impl<'a> Following<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Following(count)
    }
}

impl Drop for Following<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Tells appenders and readers when the reader thread ends before the store closes (a
/// failure, or a panic), so none of them waits for it in vain.
struct Stopping<'a> {
    shared: &'a Shared,
    closed: &'a AtomicBool,
}

impl Drop for Stopping<'_> {
    fn drop(&mut self) {
        if !self.closed.load(Ordering::Acquire) && self.shared.state().failed.is_none() {
            self.shared
                .fail("the log reader stopped unexpectedly".into());
        }
    }
}

/// The tailer's loop: runs until `closed` is set. It takes every claim already fetched (up to
/// a bound) and sequences them together.
pub(crate) fn run(
    shared: Arc<Shared>,
    consumer: Arc<BaseConsumer>,
    writer: Uuid,
    closed: Arc<AtomicBool>,
) {
    const BATCH: usize = 512;
    let _stopping = Stopping {
        shared: &shared,
        closed: &closed,
    };
    // Sealed records reach sled in batches this far apart at most (sled pays per batch, too).
    const SAVE_EVERY: Duration = Duration::from_millis(20);
    let mut last_save = Instant::now();
    while !closed.load(Ordering::Acquire) {
        let mut claims = Vec::new();
        let mut wait = Duration::from_millis(50);
        while claims.len() < BATCH {
            match consumer.poll(wait) {
                None => break,
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "reading the Kafka log; retrying");
                    std::thread::sleep(Duration::from_millis(20));
                    break;
                }
                Some(Ok(message)) => {
                    claims.push((
                        message.offset(),
                        message.payload().unwrap_or_default().to_vec(),
                    ));
                    wait = Duration::ZERO;
                }
            }
        }
        if !claims.is_empty() {
            shared.ingest_all(writer, claims);
        }
        if last_save.elapsed() >= SAVE_EVERY || closed.load(Ordering::Acquire) {
            if let Err(e) = shared.cache.save() {
                // Nothing after the unsaved records can be stored consistently. Readers and
                // appenders get the error; reopening recovers from the last saved offset.
                shared.fail(e.to_string());
                return;
            }
            last_save = Instant::now();
        }
    }
    if let Err(e) = shared.cache.save() {
        tracing::warn!(error = %e, "could not save the Kafka cache on closing; the next open reads the claims again");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::Expected;
    use ferry_schemas::StreamId;

    fn claim(writer: Uuid, stream: &str, expected: u64) -> Claim {
        Claim::new(
            writer,
            StreamId::new(stream).unwrap(),
            Expected::Exact(expected),
            None,
            crate::clock::Clock::now(&crate::clock::SystemClock),
            vec![crate::log::tests::event(expected)],
        )
    }

    #[test]
    fn own_claims_are_sequenced_from_their_delivery_once_nothing_before_them_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let shared = Shared::new(
            Cache::open(dir.path()).unwrap(),
            "test.log".into(),
            Sequencer::default(),
            0,
        );
        let (me, other) = (Uuid::now_v7(), Uuid::now_v7());
        let (first, second) = (claim(me, "a", 0), claim(me, "a", 1));
        let (first_outcome, second_outcome) =
            (shared.expect(first.append), shared.expect(second.append));

        // Offset 1 is confirmed before offset 0: it waits, and nothing is recorded.
        shared.confirmed(1, Decoded::from(second.clone()));
        shared.sequence_confirmed(me);
        assert_eq!(shared.state().next_offset, 0);
        assert!(second_outcome.try_recv().is_err());
        // Offset 0 arrives: both are sequenced at once, in offset order.
        shared.confirmed(0, Decoded::from(first.clone()));
        shared.sequence_confirmed(me);
        assert_eq!(shared.state().next_offset, 2);
        assert_eq!(first_outcome.try_recv().unwrap().unwrap().first_position, 1);
        assert_eq!(
            second_outcome.try_recv().unwrap().unwrap().first_position,
            2
        );
        // Reading them back later changes nothing.
        shared.ingest_all(me, vec![(0, first.encode()), (1, second.encode())]);
        assert_eq!(shared.state().sequencer.head(), 2);

        // Another writer's claims at offsets 2 and 3 are unknown here until read: our claim at
        // offset 4 waits for them, and then loses to the one that took version 3 first.
        let ours = claim(me, "b", 0);
        let ours_outcome = shared.expect(ours.append);
        shared.confirmed(4, Decoded::from(ours.clone()));
        shared.sequence_confirmed(me);
        assert!(ours_outcome.try_recv().is_err());
        let theirs = [claim(other, "a", 2), claim(other, "b", 0)];
        shared.ingest_all(me, vec![(2, theirs[0].encode()), (3, theirs[1].encode())]);
        assert_eq!(shared.state().next_offset, 5);
        assert!(matches!(
            ours_outcome.try_recv().unwrap(),
            Err(Error::Conflict {
                expected: 0,
                actual: 1,
                ..
            })
        ));
        assert_eq!(shared.state().sequencer.head(), 4);
        {
            let own = shared.own();
            assert!(own.claims.is_empty() && own.vouched.contains_key(&4));
        }
        // Fetching offset 4 finds another claim than the one confirmed there: this process's
        // history would fork, so it stops, and appenders are told.
        let impostor = claim(other, "c", 0);
        shared.ingest_all(me, vec![(4, impostor.encode())]);
        assert!(shared.state().failed.as_ref().unwrap().contains("offset 4"));
        assert!(shared.going().is_err());
    }
}
