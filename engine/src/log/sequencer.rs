//! The pure core of appending: given the log's state and an append request, decide whether it
//! is a duplicate, a conflict or new records — and seal those records. Shared by every store, so
//! every store has the same semantics.
//!
//! ## Invariants
//! - Positions are 1, 2, 3, … with no gaps; a stream's versions are 1, 2, 3, … with no gaps.
//! - `recorded_at` never decreases along the log, even if the clock steps back.
//! - An append is all or nothing: either every event of it is sealed, or none.
//! - An append scoped to a stream is refused if a record on that stream, or scoped to it, was
//!   sealed after the position its decision saw.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use ferry_schemas::record::Prepared;
use ferry_schemas::{Digest, EventId, Record, StreamId};

use super::{Appended, Error, Expected, Result, Scope};

/// The largest record body accepted, in bytes.
pub(crate) const MAX_RECORD_BYTES: usize = 16 * 1024 * 1024;

/// What the sequencer knows about the log. Rebuilt from the records at open.
#[derive(Debug, Default)]
pub(crate) struct Sequencer {
    head: u64,
    head_hash: Digest,
    last_time: Option<DateTime<Utc>>,
    streams: HashMap<StreamId, Stream>,
    events: HashMap<EventId, u64>,
}

/// What the sequencer keeps per stream.
#[derive(Clone, Copy, Debug, Default)]
struct Stream {
    /// Its version: how many records it has.
    version: u64,
    /// The last position of a record on it or scoped to it.
    changed_at: u64,
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
        self.streams.get(stream).map_or(0, |s| s.version)
    }

    /// The last position of a record on `stream` or scoped to it (0: none).
    pub(crate) fn changed_at(&self, stream: &StreamId) -> u64 {
        self.streams.get(stream).map_or(0, |s| s.changed_at)
    }

    /// Whether an append decided on `scope` would be refused now.
    pub(crate) fn stale(&self, stream: &StreamId, scope: &Scope) -> Option<Error> {
        let changed_at = self.changed_at(&scope.stream);
        (changed_at > scope.seen).then(|| Error::Changed {
            stream: stream.clone(),
            scope: scope.stream.clone(),
            seen: scope.seen,
            changed_at,
        })
    }

    /// Whether `event_id` is recorded.
    pub(crate) fn knows(&self, event_id: &EventId) -> bool {
        self.events.contains_key(event_id)
    }

    /// Appends the state's encoding to `out` (the log's snapshot; see `file::snapshot`).
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        use super::bytes::put_str;
        out.extend_from_slice(&self.head.to_le_bytes());
        out.extend_from_slice(self.head_hash.as_bytes());
        let nanos = self.last_time.and_then(|t| t.timestamp_nanos_opt());
        out.push(u8::from(nanos.is_some()));
        out.extend_from_slice(&nanos.unwrap_or(0).to_le_bytes());
        out.extend_from_slice(&(self.streams.len() as u64).to_le_bytes());
        for (stream, state) in &self.streams {
            put_str(out, stream.as_str());
            out.extend_from_slice(&state.version.to_le_bytes());
            out.extend_from_slice(&state.changed_at.to_le_bytes());
        }
        out.extend_from_slice(&(self.events.len() as u64).to_le_bytes());
        for (event, position) in &self.events {
            out.extend_from_slice(event.as_uuid().as_bytes());
            out.extend_from_slice(&position.to_le_bytes());
        }
    }

    /// The state [`Sequencer::encode`] wrote, read from the front of `input`.
    pub(crate) fn decode(input: &mut &[u8]) -> Option<Sequencer> {
        use super::bytes::{take, take_str, take_u64};
        let head = take_u64(input)?;
        let head_hash = Digest(take::<32>(input)?);
        let has_time = take::<1>(input)?[0] != 0;
        let nanos = i64::from_le_bytes(take::<8>(input)?);
        let last_time = has_time.then(|| DateTime::from_timestamp_nanos(nanos));
        let count = take_u64(input)? as usize;
        // Counts come from a file: no more room reserved than the bytes left could fill.
        let mut streams = HashMap::with_capacity(count.min(input.len() / 20));
        for _ in 0..count {
            let stream = StreamId::new(take_str(input)?).ok()?;
            let version = take_u64(input)?;
            let changed_at = take_u64(input)?;
            streams.insert(
                stream,
                Stream {
                    version,
                    changed_at,
                },
            );
        }
        let count = take_u64(input)? as usize;
        let mut events = HashMap::with_capacity(count.min(input.len() / 24));
        for _ in 0..count {
            let id = EventId::from_uuid(uuid::Uuid::from_bytes(take::<16>(input)?));
            events.insert(id, take_u64(input)?);
        }
        Some(Sequencer {
            head,
            head_hash,
            last_time,
            streams,
            events,
        })
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
            record.scope.as_ref(),
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
            head.scope.as_ref(),
        );
    }

    #[allow(clippy::too_many_arguments)] // The fields of a record and of its head.
    fn observe_parts(
        &mut self,
        position: u64,
        hash: ferry_schemas::Digest,
        recorded_at: DateTime<Utc>,
        stream: &StreamId,
        stream_version: u64,
        event_id: ferry_schemas::EventId,
        scope: Option<&StreamId>,
    ) {
        self.head = position;
        self.head_hash = hash;
        self.last_time = Some(recorded_at);
        self.update(stream, |s| {
            s.version = stream_version;
            s.changed_at = position;
        });
        if let Some(scope) = scope {
            self.update(scope, |s| s.changed_at = position);
        }
        self.events.insert(event_id, position);
    }

    fn update(&mut self, stream: &StreamId, change: impl Fn(&mut Stream)) {
        // Most records go to a stream already known: the key is cloned only for a new one.
        match self.streams.get_mut(stream) {
            Some(known) => change(known),
            None => {
                let mut new = Stream::default();
                change(&mut new);
                self.streams.insert(stream.clone(), new);
            }
        }
    }

    /// Decides an append and, when it writes, advances the state as if the records were stored.
    /// `lookup` reads an already sequenced record by position (for duplicate checks).
    pub(crate) fn decide(
        &mut self,
        stream: &StreamId,
        expected: Expected,
        scope: Option<&Scope>,
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
        if let Some(stale) = scope.and_then(|scope| self.stale(stream, scope)) {
            return Err(stale);
        }
        // A record on the scope's own stream changes it anyway: only others carry it.
        let marks = scope
            .filter(|scope| scope.changes && scope.stream != *stream)
            .map(|scope| &scope.stream);

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
                marks.cloned(),
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
