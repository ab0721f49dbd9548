//! Delivering bytes to a partition and learning their offset, with `acks=all` and the
//! idempotent producer. A call returns only once the broker confirmed the message — or with an
//! error, never silently. Retriable failures are retried with the same bytes (a claim delivered
//! twice is harmless: the second one is a duplicate by event id); a fatal producer error
//! rebuilds the producer.

use std::sync::mpsc::{self, SyncSender};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Message};

use super::super::{Error, Result};
use super::Connection;

/// How long one delivery may take before librdkafka gives up on it (then Ferry retries).
const MESSAGE_TIMEOUT: Duration = Duration::from_secs(30);

type Report = std::result::Result<i64, KafkaError>;

/// Runs on the producer's thread when a message is confirmed, with its offset, before the
/// sender hears of it: confirmations are handled in the order the broker gave them.
pub(crate) type OnDelivery = Box<dyn FnOnce(i64) + Send + Sync>;

/// The sender waiting for one message's report.
pub(crate) struct Waiting {
    report: SyncSender<Report>,
    on_delivery: Option<OnDelivery>,
}

/// Sends each delivery report back to the thread waiting for it.
pub(crate) struct Reporter;

impl ClientContext for Reporter {}

impl ProducerContext for Reporter {
    type DeliveryOpaque = Box<Waiting>;

    fn delivery(&self, result: &DeliveryResult<'_>, waiting: Self::DeliveryOpaque) {
        let Waiting {
            report,
            on_delivery,
        } = *waiting;
        let outcome = match result {
            Ok(message) => {
                if let Some(on_delivery) = on_delivery {
                    on_delivery(message.offset());
                }
                Ok(message.offset())
            }
            Err((error, _)) => Err(error.clone()),
        };
        // The waiter may have given up; nothing else to do then.
        let _ = report.send(outcome);
    }
}

/// An idempotent producer for one topic's partition 0.
pub(crate) struct Deliverer {
    connection: Connection,
    topic: String,
    producer: Mutex<ThreadedProducer<Reporter>>,
    /// How long a caller keeps retrying before it reports the broker unavailable.
    patience: Duration,
}

impl Deliverer {
    pub(crate) fn new(connection: &Connection, topic: String, patience: Duration) -> Result<Self> {
        Ok(Deliverer {
            producer: Mutex::new(build(connection)?),
            connection: connection.clone(),
            topic,
            patience,
        })
    }

    /// Delivers `value` under `key`; returns its offset once the broker has it on every
    /// in-sync replica.
    pub(crate) fn deliver(&self, key: &[u8], value: &[u8]) -> Result<i64> {
        self.deliver_with(key, value, || None)
    }

    /// Like [`Deliverer::deliver`], with a hook from `on_delivery` for each attempt, run when
    /// that attempt is confirmed (see [`OnDelivery`]).
    pub(crate) fn deliver_with(
        &self,
        key: &[u8],
        value: &[u8],
        mut on_delivery: impl FnMut() -> Option<OnDelivery>,
    ) -> Result<i64> {
        let deadline = Instant::now() + self.patience;
        let mut last = String::new();
        while Instant::now() < deadline {
            let (sender, report) = mpsc::sync_channel(1);
            let waiting = Box::new(Waiting {
                report: sender,
                on_delivery: on_delivery(),
            });
            let sent = {
                let producer = self.producer.lock().unwrap_or_else(|e| e.into_inner());
                let record = BaseRecord::with_opaque_to(&self.topic, waiting)
                    .partition(0)
                    .key(key)
                    .payload(value);
                producer.send(record).map_err(|(e, _)| e)
            };
            let outcome = match sent {
                Ok(()) => report
                    .recv_timeout(MESSAGE_TIMEOUT + Duration::from_secs(5))
                    .unwrap_or(Err(KafkaError::Canceled)),
                Err(e) => Err(e),
            };
            match outcome {
                Ok(offset) => return Ok(offset),
                Err(e) => {
                    if let Some(reason) = refusal(&e) {
                        return Err(Error::Broker {
                            action: "appending to",
                            topic: self.topic.clone(),
                            reason,
                        });
                    }
                    last = e.to_string();
                    self.recover(&e);
                }
            }
        }
        Err(Error::Broker {
            action: "appending to",
            topic: self.topic.clone(),
            reason: format!(
                "no broker confirmed the append within {:?} (last error: {last}); nothing was \
                 acknowledged — check that the brokers are up and the topic has enough in-sync \
                 replicas, then retry",
                self.patience
            ),
        })
    }

    /// After a failed delivery: wait a little, and rebuild the producer if it is fatally broken.
    fn recover(&self, error: &KafkaError) {
        let mut producer = self.producer.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((code, reason)) = producer.client().fatal_error() {
            tracing::warn!(%code, %reason, "the Kafka producer failed fatally; rebuilding it");
            match build(&self.connection) {
                Ok(fresh) => *producer = fresh,
                Err(e) => tracing::warn!(error = %e, "rebuilding the Kafka producer failed"),
            }
        } else {
            tracing::debug!(%error, "a Kafka delivery failed; retrying");
        }
        drop(producer);
        std::thread::sleep(Duration::from_millis(100));
    }

    /// Waits until every message sent has been delivered or failed.
    pub(crate) fn flush(&self) {
        let producer = self.producer.lock().unwrap_or_else(|e| e.into_inner());
        let _ = producer.flush(Duration::from_secs(10));
    }
}

/// Errors that retrying cannot fix: the message itself is refused.
fn refusal(error: &KafkaError) -> Option<String> {
    let code = error.rdkafka_error_code()?;
    matches!(
        code,
        RDKafkaErrorCode::MessageSizeTooLarge
            | RDKafkaErrorCode::InvalidMessageSize
            | RDKafkaErrorCode::TopicAuthorizationFailed
            | RDKafkaErrorCode::ClusterAuthorizationFailed
            | RDKafkaErrorCode::InvalidMessage
    )
    .then(|| match code {
        RDKafkaErrorCode::MessageSizeTooLarge | RDKafkaErrorCode::InvalidMessageSize => format!(
            "{error}: the record is larger than the topic's max.message.bytes; raise it \
             (Ferry's records may be up to 16 MiB)"
        ),
        _ => format!("{error}: the broker refuses this producer"),
    })
}

fn build(connection: &Connection) -> Result<ThreadedProducer<Reporter>> {
    connection
        .config()
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "2")
        .set(
            "message.timeout.ms",
            MESSAGE_TIMEOUT.as_millis().to_string(),
        )
        .set("message.max.bytes", (17 * 1024 * 1024).to_string())
        .create_with_context(Reporter)
        .map_err(|e| connection.error("connecting a producer to", e))
        .inspect(|producer: &ThreadedProducer<Reporter>| {
            // Connecting now lets the idempotent producer get its id on its first timer tick
            // (librdkafka retries every 500 ms), not its second: a CLI command's first append
            // waits half as long.
            let _ = producer
                .client()
                .fetch_metadata(None, Duration::from_secs(5));
        })
}
