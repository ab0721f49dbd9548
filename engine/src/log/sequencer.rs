//! The pure core of appending: given the log's state and an append request, decide whether it
//! is a duplicate, a conflict or new records — and seal those records. Shared by every store, so
//! every store has the same semantics.
//!
//! ## Invariants
//! - Positions are 1, 2, 3, … with no gaps; a stream's versions are 1, 2, 3, … with no gaps.
//! - `recorded_at` never decreases along the log, even if the clock steps back.
//! - An append is all or nothing: either every event of it is sealed, or none.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use ferry_schemas::record::Prepared;
use ferry_schemas::{Digest, EventId, Record, StreamId};

use super::{Appended, Error, Expected, Result};

/// The largest record body accepted, in bytes.
pub(crate) const MAX_RECORD_BYTES: usize = 16 * 1024 * 1024;

/// What the sequencer knows about the log. Rebuilt from the records at open.
#[derive(Debug, Default)]
pub(crate) struct Sequencer {
    head: u64,
    head_hash: Digest,
    last_time: Option<DateTime<Utc>>,
    versions: HashMap<StreamId, u64>,
    events: HashMap<EventId, u64>,
}

/// The decision for one append.
pub(crate) enum Decision {
    /// New records to store, with their body bytes, and what to acknowledge once they are durable.
    Write(Vec<(Record, Vec<u8>)>, Appended),
    /// Every event is already recorded: acknowledge the original append.
    Duplicate(Appended),
}

impl Sequencer {
    /// The last position (0 when the log is empty).
    pub(crate) fn head(&self) -> u64 {
        self.head
    }

    /// The hash of the last record ([`Digest::ZERO`] when the log is empty).
    pub(crate) fn head_hash(&self) -> Digest {
        self.head_hash
    }

    /// The version of `stream` (0 when it has no events).
    pub(crate) fn version(&self, stream: &StreamId) -> u64 {
        self.versions.get(stream).copied().unwrap_or(0)
    }

    /// Whether `event_id` is recorded.
    pub(crate) fn knows(&self, event_id: &EventId) -> bool {
        self.events.contains_key(event_id)
    }

    /// Takes a record read back from storage into account. Records must come in log order.
    pub(crate) fn observe(&mut self, record: &Record) {
        self.observe_parts(
            record.position,
            record.hash,
            record.recorded_at,
            &record.stream,
            record.stream_version,
            record.event_id,
        );
    }

    /// [`Sequencer::observe`] from a record's head (opening the log reads no payloads).
    pub(crate) fn observe_head(&mut self, head: &ferry_schemas::Head) {
        self.observe_parts(
            head.position,
            head.hash,
            head.recorded_at,
            &head.stream,
            head.stream_version,
            head.event_id,
        );
    }

    fn observe_parts(
        &mut self,
        position: u64,
        hash: ferry_schemas::Digest,
        recorded_at: DateTime<Utc>,
        stream: &StreamId,
        stream_version: u64,
        event_id: ferry_schemas::EventId,
    ) {
        self.head = position;
        self.head_hash = hash;
        self.last_time = Some(recorded_at);
        match self.versions.get_mut(stream) {
            Some(version) => *version = stream_version,
            None => {
                self.versions.insert(stream.clone(), stream_version);
            }
        }
        self.events.insert(event_id, position);
    }

    /// Decides an append and, when it writes, advances the state as if the records were stored.
    /// `lookup` reads an already sequenced record by position (for duplicate checks).
    pub(crate) fn decide(
        &mut self,
        stream: &StreamId,
        expected: Expected,
        events: Vec<Prepared>,
        now: DateTime<Utc>,
        lookup: impl Fn(u64) -> Result<Record>,
    ) -> Result<Decision> {
        let invalid = |reason: String| Error::Invalid {
            stream: stream.clone(),
            reason,
        };
        let Some(first) = events.first() else {
            return Err(invalid("an append needs at least one event".into()));
        };
        let mut seen = HashSet::with_capacity(events.len());
        if let Some(dup) = events.iter().find(|e| !seen.insert(e.event.event_id)) {
            return Err(invalid(format!(
                "event id {} appears twice",
                dup.event.event_id
            )));
        }
        if let Some(&position) = self.events.get(&first.event.event_id) {
            return self.duplicate(stream, &events, position, lookup);
        }
        if let Some((event_id, &position)) = events.iter().find_map(|e| {
            let id = e.event.event_id;
            self.events.get(&id).map(|p| (id, p))
        }) {
            return Err(Error::EventIdReused { event_id, position });
        }

        let actual = self.version(stream);
        if let Expected::Exact(expected) = expected {
            if expected != actual {
                return Err(Error::Conflict {
                    stream: stream.clone(),
                    expected,
                    actual,
                });
            }
        }

        let recorded_at = self.last_time.map_or(now, |last| now.max(last));
        let mut sealed = Vec::with_capacity(events.len());
        for (i, event) in events.into_iter().enumerate() {
            let offset = i as u64 + 1;
            let (record, body) = Record::seal(
                event,
                stream.clone(),
                actual + offset,
                self.head + offset,
                recorded_at,
                sealed
                    .last()
                    .map_or(self.head_hash, |(r, _): &(Record, _)| r.hash),
            );
            sealed.push((record, body));
        }
        if let Some((record, body)) = sealed.iter().find(|(_, b)| b.len() > MAX_RECORD_BYTES) {
            return Err(invalid(format!(
                "event {} is {} bytes; records are limited to {MAX_RECORD_BYTES}",
                record.event_id,
                body.len()
            )));
        }
        for (record, _) in &sealed {
            self.observe(record);
        }
        let appended = Appended {
            first_position: self.head + 1 - sealed.len() as u64,
            last_position: self.head,
            stream_version: actual + sealed.len() as u64,
        };
        Ok(Decision::Write(sealed, appended))
    }

    fn duplicate(
        &self,
        stream: &StreamId,
        events: &[Prepared],
        position: u64,
        lookup: impl Fn(u64) -> Result<Record>,
    ) -> Result<Decision> {
        let mut last = None;
        for (i, event) in events.iter().map(|p| &p.event).enumerate() {
            let at = position + i as u64;
            let same = at <= self.head && {
                let record = lookup(at)?;
                let same = record.matches(stream, event);
                last = Some(record.stream_version);
                same
            };
            if !same {
                return Err(Error::EventIdReused {
                    event_id: event.event_id,
                    position: self.events.get(&event.event_id).copied().unwrap_or(at),
                });
            }
        }
        Ok(Decision::Duplicate(Appended {
            first_position: position,
            last_position: position + events.len() as u64 - 1,
            stream_version: last.unwrap_or(0),
        }))
    }
}
