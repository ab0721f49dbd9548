//! Sequencing the log partition afresh, from its first offset, with no cache: what an auditor
//! runs to see exactly the records every reader derives from what Kafka holds.

use std::time::Duration;

use ferry_schemas::{Head, NewEvent, Record};
use rdkafka::{Message, Offset};

use super::super::sequencer::{Decision, Sequencer};
use super::super::{Error, Result};
use super::claim::Claim;
use super::{Connection, Topics, PATIENCE};

/// Reads every claim of `topics.log()` up to its current end and calls `visit` with each record
/// the claims yield, in log order — the records any reader seals, discarded claims excluded.
/// Keeps the sealed bodies in memory (duplicate claims are compared against them).
pub fn resequence(
    connection: &Connection,
    topics: &Topics,
    mut visit: impl FnMut(&Head, &[u8]),
) -> Result<()> {
    let topic = topics.log();
    let consumer = connection.reader(
        "audit",
        &topic,
        Offset::Beginning,
        Duration::from_millis(10),
    )?;
    let (_, high) = super::watermarks(&consumer, &topic)?;
    let mut sequencer = Sequencer::default();
    let mut bodies: Vec<Vec<u8>> = Vec::new();
    let mut next = 0;
    let deadline = std::time::Instant::now() + PATIENCE;
    while next < high {
        if std::time::Instant::now() > deadline {
            return Err(Error::Broker {
                action: "reading",
                topic,
                reason: format!("could not read up to offset {high} within {PATIENCE:?}"),
            });
        }
        let message = match consumer.poll(Duration::from_millis(100)) {
            None => continue,
            Some(Err(e)) => {
                tracing::debug!(error = %e, "reading the Kafka log; retrying");
                continue;
            }
            Some(Ok(message)) => message,
        };
        if message.offset() < next {
            continue;
        }
        next = message.offset() + 1;
        let Ok(claim) = Claim::decode(message.payload().unwrap_or_default()) else {
            continue;
        };
        let expected = claim.expected();
        let events = claim.events.into_iter().map(NewEvent::prepare).collect();
        let scope = claim.scope.as_ref();
        let decision = sequencer.decide(
            &claim.stream,
            expected,
            scope,
            events,
            claim.claimed_at,
            |p| {
                let body = bodies.get(p as usize - 1).ok_or(Error::NoSuchPosition {
                    position: p,
                    head: bodies.len() as u64,
                })?;
                Record::from_body(body).map_err(|e| Error::Invalid {
                    stream: claim.stream.clone(),
                    reason: e.to_string(),
                })
            },
        );
        if let Ok(Decision::Write(records, _)) = decision {
            for (_, body) in records {
                let head = Head::from_body(&body).map_err(|e| Error::Invalid {
                    stream: claim.stream.clone(),
                    reason: e.to_string(),
                })?;
                visit(&head, &body);
                bodies.push(body);
            }
        }
    }
    Ok(())
}
