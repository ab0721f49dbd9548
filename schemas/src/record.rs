//! The recorded-event envelope: what the log stores for every event.
//!
//! A caller hands the log a [`NewEvent`]; the log assigns the stream version, the global
//! position, the recorded time and the previous record's hash, and seals the result into a
//! [`Record`].
//!
//! ## Invariants
//! - A record's [`Record::hash`] is the SHA-256 of its canonical body ([`Record::body_bytes`]):
//!   every field except the hash itself, as compact JSON in declaration order. The body includes
//!   `prev_hash`, so the records form a hash chain: editing any record breaks the link of the
//!   next one.
//! - The first record's `prev_hash` is [`Digest::ZERO`].
//! - The body bytes are stored as written; verification hashes the stored bytes, never a
//!   re-serialisation.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::{CorrelationId, Digest, EventId, PrincipalId, StreamId, TenantId};

/// Who caused an event. Every recorded change is attributable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Actor {
    /// The platform operator: whoever holds the data directory (later: an operator token).
    Operator,
    /// A tenant's user, acting through `--as`.
    Principal {
        /// The user.
        principal: PrincipalId,
    },
    /// Ferry itself: a worker executing a migration step on behalf of the migration's actor.
    System,
}

/// An event as a caller submits it for appending.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    /// Unique id; appending the same id again is idempotent.
    pub event_id: EventId,
    /// The event's type name, e.g. `StepApplied`.
    pub event_type: String,
    /// The version of the payload's schema for that type.
    pub schema_version: u16,
    /// The tenant the event belongs to; `None` for platform-wide facts.
    pub tenant: Option<TenantId>,
    /// Who caused it.
    pub actor: Actor,
    /// The user request this event ultimately stems from.
    pub correlation_id: CorrelationId,
    /// The event that directly caused this one, if any.
    pub causation_id: Option<EventId>,
    /// The event's data.
    pub payload: serde_json::Value,
}

impl NewEvent {
    /// Serialises the payload ahead of sealing, so the log's critical section only formats the
    /// envelope around it.
    pub fn prepare(self) -> Prepared {
        // Serialising a `Value` cannot fail: its map keys are strings.
        let json = serde_json::to_string(&self.payload).unwrap_or_else(|_| "null".into());
        let payload_json = RawValue::from_string(json).unwrap_or_else(|_| null_raw());
        Prepared {
            event: self,
            payload_json,
        }
    }
}

fn null_raw() -> Box<RawValue> {
    // "null" is valid JSON.
    RawValue::from_string("null".into()).unwrap_or_else(|_| unreachable!("null is valid JSON"))
}

/// A [`NewEvent`] with its payload already serialised; see [`NewEvent::prepare`].
#[derive(Debug)]
pub struct Prepared {
    /// The event.
    pub event: NewEvent,
    payload_json: Box<RawValue>,
}

/// One event as recorded on the log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Record {
    /// Position in the whole log: 1 for the first record, then +1 per record, no gaps.
    pub position: u64,
    /// The stream the event was appended to.
    pub stream: StreamId,
    /// Version of the stream after this event: 1 for a stream's first event, no gaps.
    pub stream_version: u64,
    /// The event's unique id.
    pub event_id: EventId,
    /// The event's type name.
    pub event_type: String,
    /// The version of the payload's schema.
    pub schema_version: u16,
    /// When the log recorded it (UTC). Never decreases along the log.
    pub recorded_at: DateTime<Utc>,
    /// The tenant the event belongs to; `None` for platform-wide facts.
    pub tenant: Option<TenantId>,
    /// Who caused it.
    pub actor: Actor,
    /// The user request this event ultimately stems from.
    pub correlation_id: CorrelationId,
    /// The event that directly caused this one, if any.
    pub causation_id: Option<EventId>,
    /// The event's data.
    pub payload: serde_json::Value,
    /// The hash of the previous record on the log ([`Digest::ZERO`] for the first).
    pub prev_hash: Digest,
    /// Another stream whose state this record changes (an import's step changes its target
    /// environment's): appends decided on that stream before this record are refused. Absent
    /// from the body when `None`, so records without one hash as they always did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<StreamId>,
    /// SHA-256 of this record's canonical body; see the module docs.
    pub hash: Digest,
}

/// The hashed part of a record: every field but the hash, in a fixed order. Serialised from
/// borrowed fields (no copy of the payload), deserialised into owned ones.
#[derive(Serialize, Deserialize)]
struct Body<'a, P> {
    position: u64,
    #[serde(borrow)]
    stream: std::borrow::Cow<'a, str>,
    stream_version: u64,
    event_id: EventId,
    #[serde(borrow)]
    event_type: std::borrow::Cow<'a, str>,
    schema_version: u16,
    recorded_at: DateTime<Utc>,
    tenant: Option<TenantId>,
    actor: Actor,
    correlation_id: CorrelationId,
    causation_id: Option<EventId>,
    payload: P,
    prev_hash: Digest,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    scope: Option<std::borrow::Cow<'a, str>>,
}

/// The envelope fields that place a record in the log, read from stored body bytes without
/// decoding the payload: what verification walks (it is several times cheaper than a record).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    /// Global position.
    pub position: u64,
    /// The stream.
    pub stream: StreamId,
    /// Version within the stream.
    pub stream_version: u64,
    /// The event's id.
    pub event_id: EventId,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// The tenant.
    pub tenant: Option<TenantId>,
    /// The previous record's hash.
    pub prev_hash: Digest,
    /// The other stream whose state the record changes, if any.
    pub scope: Option<StreamId>,
    /// SHA-256 of the body bytes.
    pub hash: Digest,
}

/// The fields of a body that a [`Head`] needs; everything else (the payload) is skipped.
#[derive(Deserialize)]
struct HeadBody<'a> {
    position: u64,
    #[serde(borrow)]
    stream: std::borrow::Cow<'a, str>,
    stream_version: u64,
    event_id: EventId,
    recorded_at: DateTime<Utc>,
    tenant: Option<TenantId>,
    prev_hash: Digest,
    #[serde(borrow, default)]
    scope: Option<std::borrow::Cow<'a, str>>,
}

/// A stream named in a body, checked as every stream id is.
fn stream_of(name: std::borrow::Cow<'_, str>) -> Result<StreamId, BodyError> {
    StreamId::new(name.into_owned()).map_err(|e| BodyError(serde::de::Error::custom(e)))
}

impl Head {
    /// Reads the head of stored body bytes; the hash is computed from exactly those bytes.
    pub fn from_body(bytes: &[u8]) -> Result<Head, BodyError> {
        let body: HeadBody<'_> = serde_json::from_slice(bytes)?;
        Ok(Head {
            position: body.position,
            stream: stream_of(body.stream)?,
            stream_version: body.stream_version,
            event_id: body.event_id,
            recorded_at: body.recorded_at,
            tenant: body.tenant,
            prev_hash: body.prev_hash,
            scope: body.scope.map(stream_of).transpose()?,
            hash: Digest::of(bytes),
        })
    }
}

/// Why stored body bytes do not decode into a record.
#[derive(Debug, thiserror::Error)]
#[error("record body is not valid: {0}")]
pub struct BodyError(#[from] serde_json::Error);

impl Record {
    /// Seals a new event into a record at the given place in the log, changing `scope` too.
    pub fn seal(
        prepared: Prepared,
        stream: StreamId,
        stream_version: u64,
        position: u64,
        recorded_at: DateTime<Utc>,
        prev_hash: Digest,
        scope: Option<StreamId>,
    ) -> (Record, Vec<u8>) {
        let Prepared {
            event,
            payload_json,
        } = prepared;
        let mut record = Record {
            position,
            stream,
            stream_version,
            event_id: event.event_id,
            event_type: event.event_type,
            schema_version: event.schema_version,
            recorded_at,
            tenant: event.tenant,
            actor: event.actor,
            correlation_id: event.correlation_id,
            causation_id: event.causation_id,
            payload: event.payload,
            prev_hash,
            scope,
            hash: Digest::ZERO,
        };
        let body = record.body_with(&*payload_json);
        record.hash = Digest::of(&body);
        (record, body)
    }

    /// The canonical body bytes: what is stored and what [`Record::hash`] covers.
    pub fn body_bytes(&self) -> Vec<u8> {
        self.body_with(&self.payload)
    }

    /// The body with `payload` serialised in place of the payload field: the same bytes
    /// whether `payload` is this record's `Value` or its prepared JSON text.
    fn body_with<P: Serialize>(&self, payload: P) -> Vec<u8> {
        let body = Body {
            position: self.position,
            stream: self.stream.as_str().into(),
            stream_version: self.stream_version,
            event_id: self.event_id,
            event_type: self.event_type.as_str().into(),
            schema_version: self.schema_version,
            recorded_at: self.recorded_at,
            tenant: self.tenant,
            actor: self.actor,
            correlation_id: self.correlation_id,
            causation_id: self.causation_id,
            payload,
            prev_hash: self.prev_hash,
            scope: self.scope.as_ref().map(|s| s.as_str().into()),
        };
        // Serialising plain data with string keys cannot fail.
        serde_json::to_vec(&body).unwrap_or_default()
    }

    /// Decodes stored body bytes; the hash is computed from exactly those bytes.
    pub fn from_body(bytes: &[u8]) -> Result<Record, BodyError> {
        let body: Body<'_, serde_json::Value> = serde_json::from_slice(bytes)?;
        Ok(Record {
            position: body.position,
            stream: stream_of(body.stream)?,
            stream_version: body.stream_version,
            event_id: body.event_id,
            event_type: body.event_type.into_owned(),
            schema_version: body.schema_version,
            recorded_at: body.recorded_at,
            tenant: body.tenant,
            actor: body.actor,
            correlation_id: body.correlation_id,
            causation_id: body.causation_id,
            payload: body.payload,
            prev_hash: body.prev_hash,
            scope: body.scope.map(stream_of).transpose()?,
            hash: Digest::of(bytes),
        })
    }

    /// True when `event` carries the same content as this record, so appending it again is a
    /// no-op rather than a conflict.
    pub fn matches(&self, stream: &StreamId, event: &NewEvent) -> bool {
        self.stream == *stream
            && self.event_id == event.event_id
            && self.event_type == event.event_type
            && self.schema_version == event.schema_version
            && self.tenant == event.tenant
            && self.actor == event.actor
            && self.correlation_id == event.correlation_id
            && self.causation_id == event.causation_id
            && self.payload == event.payload
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CorrelationId;

    fn event(payload: serde_json::Value) -> NewEvent {
        NewEvent {
            event_id: EventId::new(),
            event_type: "Test".into(),
            schema_version: 1,
            tenant: Some(TenantId::new()),
            actor: Actor::Operator,
            correlation_id: CorrelationId::new(),
            causation_id: None,
            payload,
        }
    }

    #[test]
    fn sealed_record_round_trips_through_its_body_with_the_same_hash() {
        let stream = StreamId::new("s").unwrap();
        let (record, body) = Record::seal(
            event(serde_json::json!({
                "b": 1, "a": [1, 2], "f": 0.1, "s": "é\n",
                // Found by random search: parses back to a different f64 without serde_json's
                // `float_roundtrip`, which broke verify and idempotent retries.
                "x": 1.0715660391465826e-75,
            }))
            .prepare(),
            stream,
            1,
            1,
            DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            Digest::ZERO,
            None,
        );
        let decoded = Record::from_body(&body).unwrap();
        assert_eq!(decoded, record);
        // Re-serialising the decoded record gives the stored bytes back: verify relies on it.
        assert_eq!(decoded.body_bytes(), body);
        assert_eq!(decoded.hash, Digest::of(&body));
        // Records without a scope are written as before the field existed.
        assert!(!String::from_utf8(body).unwrap().contains("scope"));
    }

    #[test]
    fn a_scope_is_part_of_the_hashed_body_and_of_the_head() {
        let stream = StreamId::new("migration-1").unwrap();
        let scope = StreamId::new("environment-1").unwrap();
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let e = event(serde_json::json!({"a": 1}));
        let (plain, _) = Record::seal(
            e.clone().prepare(),
            stream.clone(),
            1,
            1,
            now,
            Digest::ZERO,
            None,
        );
        let (scoped, body) = Record::seal(
            e.prepare(),
            stream,
            1,
            1,
            now,
            Digest::ZERO,
            Some(scope.clone()),
        );
        assert_ne!(plain.hash, scoped.hash);
        let decoded = Record::from_body(&body).unwrap();
        assert_eq!(decoded, scoped);
        assert_eq!(decoded.body_bytes(), body);
        let head = Head::from_body(&body).unwrap();
        assert_eq!((head.scope, head.hash), (Some(scope), scoped.hash));
    }

    #[test]
    fn hash_covers_the_previous_hash() {
        let stream = StreamId::new("s").unwrap();
        let e = event(serde_json::json!(null));
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let (a, _) = Record::seal(
            e.clone().prepare(),
            stream.clone(),
            1,
            1,
            now,
            Digest::ZERO,
            None,
        );
        let (b, _) = Record::seal(e.prepare(), stream, 1, 1, now, Digest::of(b"x"), None);
        assert_ne!(a.hash, b.hash);
    }
}
