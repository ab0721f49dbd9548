//! Topic set-up: Ferry's topics are made when missing and checked when present.

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Wake};
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::types::RDKafkaErrorCode;

use super::super::{Error, Result};
use super::Connection;

const TIMEOUT: Duration = Duration::from_secs(30);

/// One of Ferry's topics.
pub(crate) struct TopicSpec<'a> {
    pub(crate) name: &'a str,
    pub(crate) partitions: i32,
    /// Whether the topic must have exactly `partitions` (the log and blob topics must have one).
    pub(crate) exact: bool,
    /// Kept forever (the log, the documents) rather than for a day (the work topic).
    pub(crate) forever: bool,
}

/// Creates the topics that do not exist yet (replication: 3, or fewer when the cluster has
/// fewer brokers) and checks the partition count of those that do.
pub(crate) fn ensure_topics(connection: &Connection, topics: &[TopicSpec<'_>]) -> Result<()> {
    let probe: BaseConsumer = connection
        .config()
        .create()
        .map_err(|e| connection.error("connecting to", e))?;
    let metadata = probe
        .fetch_metadata(None, connection.first_contact)
        .map_err(|e| match e {
            rdkafka::error::KafkaError::MetadataFetch(
                RDKafkaErrorCode::OperationTimedOut
                | RDKafkaErrorCode::AllBrokersDown
                | RDKafkaErrorCode::BrokerTransportFailure,
            ) => Error::Broker {
                action: "reaching",
                topic: format!("brokers {}", connection.brokers),
                reason: format!(
                    "no answer within {}s; check the address and that the brokers are up \
                         (--broker-timeout waits longer)",
                    connection.first_contact.as_secs()
                ),
            },
            e => connection.error("reading the topics of", e),
        })?;
    let replication = metadata.brokers().len().clamp(1, 3) as i32;
    let missing: Vec<NewTopic<'_>> = topics
        .iter()
        .filter(|spec| !metadata.topics().iter().any(|t| t.name() == spec.name))
        .map(|spec| {
            let topic = NewTopic::new(
                spec.name,
                spec.partitions,
                TopicReplication::Fixed(replication),
            )
            .set("unclean.leader.election.enable", "false")
            .set("min.insync.replicas", min_insync(replication));
            if spec.forever {
                topic
                    .set("retention.ms", "-1")
                    .set("retention.bytes", "-1")
                    .set("max.message.bytes", "17825792")
            } else {
                topic.set("retention.ms", "86400000")
            }
        })
        .collect();
    if !missing.is_empty() {
        let admin: AdminClient<DefaultClientContext> = connection
            .config()
            .create()
            .map_err(|e| connection.error("connecting an admin client to", e))?;
        let options = AdminOptions::new().operation_timeout(Some(TIMEOUT));
        let results = block_on(admin.create_topics(missing.iter(), &options))
            .map_err(|e| connection.error("creating topics on", e))?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => {
                    return Err(Error::Broker {
                        action: "creating",
                        topic,
                        reason: format!("{code}; create it by hand (see ops/kafka/RUNBOOK.md)"),
                    })
                }
            }
        }
    }
    for spec in topics.iter().filter(|spec| spec.exact) {
        let metadata = probe
            .fetch_metadata(Some(spec.name), TIMEOUT)
            .map_err(|e| connection.error("reading the topics of", e))?;
        let partitions = metadata
            .topics()
            .first()
            .map_or(0, |t| t.partitions().len() as i32);
        if partitions != spec.partitions {
            return Err(Error::Broker {
                action: "checking",
                topic: spec.name.to_string(),
                reason: format!(
                    "it has {partitions} partitions; Ferry needs exactly {} (one total order). \
                     Recreate it, or pick another --topic-prefix",
                    spec.partitions
                ),
            });
        }
    }
    Ok(())
}

/// Two in-sync replicas out of three: an acknowledged record survives the loss of a broker.
fn min_insync(replication: i32) -> &'static str {
    if replication >= 3 {
        "2"
    } else {
        "1"
    }
}

/// Runs a future to completion on this thread (the admin API is async; Ferry's stores block).
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Arc::new(Unpark(std::thread::current())).into();
    let mut context = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        std::thread::park();
    }
}
