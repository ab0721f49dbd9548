//! A claim: what a writer puts on the Kafka log topic. It is an append request, not yet a
//! record — the writer cannot know the position, the previous hash or whether its expected
//! version still holds. Every reader turns the claims of the partition, in offset order, into
//! records with the same [`Sequencer`](super::super::sequencer::Sequencer) the file store uses,
//! so every reader seals the same records and discards the same claims.

use chrono::{DateTime, Utc};
use ferry_schemas::{NewEvent, StreamId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::super::{Expected, Scope};

/// The claim format this build writes. Format 1 (before scopes) is read too.
const FORMAT: u16 = 2;

/// One append request, as one Kafka message (so it is stored whole or not at all).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Claim {
    /// The claim format.
    ferry_claim: u16,
    /// The writing process (a random id per open store): readers record outcomes only for
    /// claims of their own process, which is waiting for them.
    pub(crate) writer: Uuid,
    /// This append (a retry sends the same claim again): its appender waits for this id.
    pub(crate) append: Uuid,
    /// The stream appended to; also the message key.
    pub(crate) stream: StreamId,
    /// The version the writer expects the stream at; `None` for [`Expected::Any`].
    pub(crate) expected: Option<u64>,
    /// The scope the append was decided on, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) scope: Option<Scope>,
    /// The writer's clock; the sequencer never lets recorded times go backwards.
    pub(crate) claimed_at: DateTime<Utc>,
    /// The events, in order.
    pub(crate) events: Vec<NewEvent>,
}

impl Claim {
    pub(crate) fn new(
        writer: Uuid,
        stream: StreamId,
        expected: Expected,
        scope: Option<Scope>,
        claimed_at: DateTime<Utc>,
        events: Vec<NewEvent>,
    ) -> Claim {
        Claim {
            ferry_claim: FORMAT,
            writer,
            append: Uuid::now_v7(),
            stream,
            expected: match expected {
                Expected::Exact(version) => Some(version),
                Expected::Any => None,
            },
            scope,
            claimed_at,
            events,
        }
    }

    pub(crate) fn expected(&self) -> Expected {
        self.expected.map_or(Expected::Any, Expected::Exact)
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        // Plain data with string keys: serialising cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads a message's value. Anything else on the topic (foreign bytes, a newer format) is
    /// not a claim: readers skip it, all in the same way.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Claim, String> {
        let claim: Claim = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if !(1..=FORMAT).contains(&claim.ferry_claim) {
            return Err(format!(
                "claim format {} is newer than {FORMAT}; upgrade this Ferry",
                claim.ferry_claim
            ));
        }
        Ok(claim)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_schemas::{Actor, CorrelationId, EventId};

    #[test]
    fn a_claim_reads_back_as_written_and_garbage_is_not_a_claim() {
        let event = NewEvent {
            event_id: EventId::new(),
            event_type: "Test".into(),
            schema_version: 1,
            tenant: None,
            actor: Actor::Operator,
            correlation_id: CorrelationId::new(),
            causation_id: None,
            payload: serde_json::json!({"b": 1.5, "a": [1, 2]}),
        };
        let stream = StreamId::new("s-1").unwrap();
        let claim = Claim::new(
            Uuid::nil(),
            stream.clone(),
            Expected::Exact(3),
            Some(Scope {
                stream: StreamId::new("environment-1").unwrap(),
                seen: 7,
                changes: true,
            }),
            crate::clock::Clock::now(&crate::clock::SystemClock),
            vec![event.clone()],
        );
        let back = Claim::decode(&claim.encode()).unwrap();
        assert_eq!(back.stream, stream);
        assert_eq!(back.expected(), Expected::Exact(3));
        assert_eq!(back.scope, claim.scope);
        assert_eq!(back.events, vec![event.clone()]);
        // An appender sequences its own claim from what it encoded, other readers from the
        // decoded bytes: the two must be the same to the nanosecond and to the bit.
        assert_eq!(
            (back.writer, back.append, back.claimed_at),
            (claim.writer, claim.append, claim.claimed_at)
        );
        let awkward = NewEvent {
            payload: serde_json::json!({
                "z": 1.0715660391465826e-75, "f": 0.1, "big": u64::MAX, "neg": i64::MIN,
                "e": 1e300, "s": "é\n\u{1F600}\"", "nested": [{"b": null, "a": true}, []],
            }),
            ..event
        };
        let claim = Claim::new(
            Uuid::now_v7(),
            stream.clone(),
            Expected::Any,
            None,
            crate::clock::Clock::now(&crate::clock::SystemClock),
            vec![awkward.clone()],
        );
        let back = Claim::decode(&claim.encode()).unwrap();
        assert_eq!(back.events, vec![awkward]);
        assert_eq!(back.encode(), claim.encode());
        assert!(Claim::decode(b"not json").is_err());
        let written = String::from_utf8(claim.encode()).unwrap();
        assert!(!written.contains("scope"), "{written}");
        // A claim written before scopes existed still reads.
        let older = written.replace("\"ferry_claim\":2", "\"ferry_claim\":1");
        assert_eq!(
            Claim::decode(older.as_bytes()).unwrap().events,
            claim.events
        );
        let newer = written.replace("\"ferry_claim\":2", "\"ferry_claim\":9");
        assert!(Claim::decode(newer.as_bytes())
            .unwrap_err()
            .contains("format 9"));
    }
}
