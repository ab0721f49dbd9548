//! The log on Kafka: one partition holds every claim in one total order, and each process keeps
//! the sequenced records in a local cache.
//!
//! Write path: the appender sends a [`Claim`](claim::Claim) (its stream, the version it
//! expects, its events) as one message, keyed by stream, to partition 0 of `<prefix>log`, with
//! the idempotent producer and `acks=all`; once the broker confirms, the claim is sequenced
//! as soon as every claim before its offset is (its own bytes, not read back: see
//! [`tailer::Shared::confirmed`]) and the appender returns what the sequencer decided for it.
//!
//! Read path: every process's reader ([`tailer`]) consumes the partition in offset order and
//! runs each claim through the same [`Sequencer`] as the file store: the first claim of a
//! stream version wins, a later claim of the same version is a conflict for its writer and
//! leaves no record, a claim whose events are already recorded is a duplicate. Because the
//! order is the partition's and the rule is a pure function of it, every process seals the same
//! records — same positions, same recorded times, same hash chain — and discards the same
//! claims. A stale writer therefore cannot change history, and nothing depends on Kafka
//! transactions.
//!
//! ## Invariants
//! - An append returns `Ok` only after the broker confirmed the claim on every in-sync replica
//!   and this process sequenced it, in offset order, as accepted.
//! - The saved cache holds exactly the records of the claims before its stored offset (records
//!   and offset in one sled batch), so a restart resumes at the first claim not yet saved.
//! - A cache is tied to its topic; one that is ahead of the topic (the topic was recreated) is
//!   refused with an explanation, never silently reused.

mod admin;
mod blobs;
mod cache;
mod claim;
mod group;
mod producer;
mod resequence;
mod tailer;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use ferry_schemas::{NewEvent, Record, StreamId};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use uuid::Uuid;

use super::sequencer::{Sequencer, MAX_RECORD_BYTES};
use super::stats::{Durability, Recorder};
use super::{Appended, Error, Expected, Head, Result, Scope, Stats, Store};
use crate::clock::{Clock, SystemClock};
use admin::TopicSpec;
use cache::Cache;
use claim::Claim;
use producer::{Deliverer, OnDelivery};
use tailer::Shared;

pub use blobs::KafkaBlobs;
pub use group::{partition_of, WorkGroup};
pub use resequence::resequence;

/// How long an append or a catch-up keeps retrying before it reports the brokers unavailable.
pub(crate) const PATIENCE: Duration = Duration::from_secs(120);

/// Where partition 0 of `topic` ends (low and high watermarks). A broker that is down or a
/// leader not yet known answers with an error for a while: this asks again until `PATIENCE`
/// runs out, as appends do.
pub(crate) fn watermarks(consumer: &BaseConsumer, topic: &str) -> Result<(i64, i64)> {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        match consumer.fetch_watermarks(topic, 0, Duration::from_secs(10)) {
            Ok((low, high)) if high >= 0 => return Ok((low, high)),
            Ok(_) if std::time::Instant::now() < deadline => {}
            Err(e) if std::time::Instant::now() < deadline => {
                tracing::debug!(error = %e, topic, "reading the end of a topic; retrying");
            }
            outcome => {
                return Err(Error::Broker {
                    action: "reading the end of",
                    topic: topic.to_string(),
                    reason: match outcome {
                        Err(e) => format!("{e}; check that the brokers are up"),
                        Ok(_) => {
                            "no broker knows where it ends; check that the brokers are up".into()
                        }
                    },
                })
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// How to reach the brokers: the bootstrap list and any further librdkafka properties
/// (security settings, say) applied to every client.
#[derive(Clone, Debug)]
pub struct Connection {
    brokers: String,
    properties: Vec<(String, String)>,
    first_contact: Duration,
}

impl Connection {
    /// How long opening waits for a first answer from the brokers by default.
    pub const FIRST_CONTACT: Duration = Duration::from_secs(10);

    /// The brokers, `host:port[,host:port…]`.
    pub fn new(brokers: impl Into<String>) -> Connection {
        Connection {
            brokers: brokers.into(),
            properties: Vec::new(),
            first_contact: Connection::FIRST_CONTACT,
        }
    }

    /// How long opening waits for a first answer from the brokers before it says they cannot
    /// be reached (default [`Connection::FIRST_CONTACT`]). Once open, appends and catch-ups
    /// keep retrying for much longer: a running worker rides out a broker's restart.
    pub fn with_first_contact(mut self, wait: Duration) -> Connection {
        self.first_contact = wait;
        self
    }

    /// Adds a librdkafka property (e.g. `security.protocol`).
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Connection {
        self.properties.push((key.into(), value.into()));
        self
    }

    /// The bootstrap brokers.
    pub fn brokers(&self) -> &str {
        &self.brokers
    }

    pub(crate) fn config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.brokers);
        for (key, value) in &self.properties {
            config.set(key, value);
        }
        config
    }

    /// A consumer reading partition 0 of `topic` from `from`. It commits nothing: every
    /// reader keeps its own position (the cache's offset, or in memory), and joins no group's
    /// assignment (the group id librdkafka requires is unique to it). `wait` bounds how long a
    /// broker may hold a fetch when nothing is new (some brokers always hold it that long).
    pub(crate) fn reader(
        &self,
        role: &str,
        topic: &str,
        from: Offset,
        wait: Duration,
    ) -> Result<BaseConsumer> {
        let consumer: BaseConsumer = self
            .config()
            .set("group.id", format!("ferry-{role}-{}", Uuid::now_v7()))
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("fetch.wait.max.ms", wait.as_millis().to_string())
            .set("fetch.max.bytes", (64 * 1024 * 1024).to_string())
            .set("max.partition.fetch.bytes", (32 * 1024 * 1024).to_string())
            .set("receive.message.max.bytes", (100 * 1024 * 1024).to_string())
            .create()
            .map_err(|e| self.error("connecting a reader to", e))?;
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(topic, 0, from)
            .and_then(|()| consumer.assign(&assignment))
            .map_err(|e| self.error("reading", e))?;
        Ok(consumer)
    }

    pub(crate) fn error(&self, action: &'static str, e: rdkafka::error::KafkaError) -> Error {
        Error::Broker {
            action,
            topic: format!("brokers {}", self.brokers),
            reason: e.to_string(),
        }
    }
}

/// Ferry's topic names under one prefix.
#[derive(Clone, Debug)]
pub struct Topics {
    prefix: String,
}

impl Topics {
    /// The default prefix.
    pub const DEFAULT_PREFIX: &'static str = "ferry.";

    /// Topics named `<prefix>log`, `<prefix>blobs`, `<prefix>work`.
    pub fn new(prefix: impl Into<String>) -> Topics {
        Topics {
            prefix: prefix.into(),
        }
    }

    /// The event log: one partition, every claim in one total order.
    pub fn log(&self) -> String {
        format!("{}log", self.prefix)
    }

    /// Documents and packages, in chunks, by digest: one partition.
    pub fn blobs(&self) -> String {
        format!("{}blobs", self.prefix)
    }

    /// No data: the consumer group's unit for sharing migrations among workers.
    pub fn work(&self) -> String {
        format!("{}work", self.prefix)
    }

    /// The workers' consumer group.
    pub fn group(&self) -> String {
        format!("{}workers", self.prefix)
    }

    /// How many partitions the work topic gets when Ferry creates it.
    pub const WORK_PARTITIONS: i32 = 12;

    /// Creates the topics that are missing and checks the others.
    pub fn ensure(&self, connection: &Connection) -> Result<()> {
        admin::ensure_topics(
            connection,
            &[
                TopicSpec {
                    name: &self.log(),
                    partitions: 1,
                    exact: true,
                    forever: true,
                },
                TopicSpec {
                    name: &self.blobs(),
                    partitions: 1,
                    exact: true,
                    forever: true,
                },
                TopicSpec {
                    name: &self.work(),
                    partitions: Self::WORK_PARTITIONS,
                    exact: false,
                    forever: false,
                },
            ],
        )
    }
}

/// The Kafka [`Store`].
pub struct KafkaStore {
    writer: Uuid,
    shared: Arc<Shared>,
    consumer: Arc<BaseConsumer>,
    deliverer: Deliverer,
    clock: Arc<dyn Clock>,
    closed: Arc<AtomicBool>,
    tailer: Option<JoinHandle<()>>,
    stats: Recorder,
}

impl KafkaStore {
    /// Opens the log on `topics.log()` with its local cache at `cache_dir`, and reads it up to
    /// the end the broker reports, so the caller starts from everything appended before.
    pub fn open(connection: &Connection, topics: &Topics, cache_dir: &Path) -> Result<KafkaStore> {
        let topic = topics.log();
        let cache = Cache::open(cache_dir)?;
        let next_offset = match cache.meta()? {
            None => 0,
            Some(meta) if meta.topic == topic => meta.next_offset,
            Some(meta) => {
                return Err(Error::Broker {
                    action: "opening",
                    topic,
                    reason: format!(
                        "the cache at {} was built from topic {}; delete it, or use the same \
                         --topic-prefix",
                        cache_dir.display(),
                        meta.topic
                    ),
                })
            }
        };
        topics.ensure(connection)?;
        tracing::debug!(%topic, "topics ready");
        let mut sequencer = Sequencer::default();
        for entry in cache.all_bodies() {
            let (position, body) = entry?;
            let head =
                ferry_schemas::Head::from_body(&body).map_err(|e| cache.damaged(position, e))?;
            sequencer.observe_head(&head);
        }
        let consumer = connection.reader(
            "reader",
            &topic,
            Offset::Offset(next_offset),
            // An appender waits for its own claim to come back: read the tail promptly.
            Duration::from_millis(1),
        )?;
        let (low, high) = watermarks(&consumer, &topic)?;
        if next_offset > high
            || (next_offset < low && next_offset > 0)
            || (next_offset == 0 && low > 0)
        {
            return Err(Error::Broker {
                action: "opening",
                topic,
                reason: format!(
                    "the cache at {} stops at offset {next_offset} but the topic holds offsets \
                     {low}..{high}: the topic was recreated or truncated, or the cache belongs \
                     to another cluster. Ferry's log must be kept forever (retention -1); delete \
                     the cache to rebuild it from what the topic holds",
                    cache_dir.display()
                ),
            });
        }
        let writer = Uuid::now_v7();
        let deliverer = Deliverer::new(connection, topic.clone(), PATIENCE)?;
        let shared = Arc::new(Shared::new(cache, topic.clone(), sequencer, next_offset));
        let consumer = Arc::new(consumer);
        let closed = Arc::new(AtomicBool::new(false));
        let tailer = {
            let (shared, consumer, closed) = (shared.clone(), consumer.clone(), closed.clone());
            std::thread::Builder::new()
                .name("ferry-kafka-reader".into())
                .spawn(move || tailer::run(shared, consumer, writer, closed))
                .map_err(|source| Error::Io {
                    action: "starting the reader of",
                    path: cache_dir.to_path_buf(),
                    source,
                })?
        };
        let store = KafkaStore {
            writer,
            deliverer,
            shared,
            consumer,
            clock: Arc::new(SystemClock),
            closed,
            tailer: Some(tailer),
            stats: Recorder::default(),
        };
        tracing::debug!(high, "reading the log up to its end");
        store.shared.reach_offset(high, PATIENCE)?;
        tracing::debug!(high, "read the log up to its end");
        Ok(store)
    }

    /// The last position in the cache at `cache_dir`, without connecting to Kafka (0 when
    /// there is no cache yet). The cache must not be open in this process.
    pub fn cached_head(cache_dir: &Path) -> Result<u64> {
        if !cache_dir.exists() {
            return Ok(0);
        }
        Cache::open(cache_dir)?.last_position()
    }

    /// Reads the log up to the end the broker reports now.
    pub fn catch_up(&self) -> Result<()> {
        let (_, high) = watermarks(&self.consumer, &self.shared.topic)?;
        self.shared.reach_offset(high, PATIENCE)
    }

    /// The offset of the next claim this process will read.
    pub fn next_offset(&self) -> i64 {
        self.shared.state().next_offset
    }
}

impl Drop for KafkaStore {
    fn drop(&mut self) {
        tracing::debug!("closing the Kafka log");
        self.deliverer.flush();
        self.closed.store(true, Ordering::Release);
        if let Some(tailer) = self.tailer.take() {
            let _ = tailer.join();
        }
        tracing::debug!("closed the Kafka log");
    }
}

impl Store for KafkaStore {
    fn append_scoped(
        &self,
        stream: &StreamId,
        expected: Expected,
        scope: Option<&Scope>,
        events: Vec<NewEvent>,
    ) -> Result<Appended> {
        if events.is_empty() {
            return Err(Error::Invalid {
                stream: stream.clone(),
                reason: "an append needs at least one event".into(),
            });
        }
        // A reader that stopped decides nothing more: say so before sending anything.
        self.shared.going()?;
        // A version already passed is a conflict whatever the partition holds beyond what this
        // process has read — unless the append is a retry of one already recorded. So is a
        // scope that changed since it was seen.
        {
            let state = self.shared.state();
            let retry = events.iter().any(|e| state.sequencer.knows(&e.event_id));
            let actual = state.sequencer.version(stream);
            match expected {
                Expected::Exact(expected) if actual > expected && !retry => {
                    return Err(Error::Conflict {
                        stream: stream.clone(),
                        expected,
                        actual,
                    });
                }
                _ => {}
            }
            if let Some(stale) = scope.and_then(|s| state.sequencer.stale(stream, s)) {
                if !retry {
                    return Err(stale);
                }
            }
        }
        let claim = Claim::new(
            self.writer,
            stream.clone(),
            expected,
            scope.cloned(),
            self.clock.now(),
            events,
        );
        let bytes = claim.encode();
        if bytes.len() > MAX_RECORD_BYTES {
            return Err(Error::Invalid {
                stream: stream.clone(),
                reason: format!(
                    "the append is {} bytes; records are limited to {MAX_RECORD_BYTES}",
                    bytes.len()
                ),
            });
        }
        let append = claim.append;
        let outcome = self.shared.expect(append);
        // Once confirmed, the claim is sequenced without being read back (see `confirmed`).
        // A retried delivery files the claim decoded from its bytes, as any reader would.
        let mut first = Some(tailer::Decoded::from(claim));
        let on_delivery = || -> Option<OnDelivery> {
            let decoded = match first.take() {
                Some(decoded) => decoded,
                None => tailer::Decoded::from(Claim::decode(&bytes).ok()?),
            };
            let shared = self.shared.clone();
            Some(Box::new(move |offset| shared.confirmed(offset, decoded)))
        };
        let sent = std::time::Instant::now();
        let delivered =
            self.deliverer
                .deliver_with(stream.as_str().as_bytes(), &bytes, on_delivery);
        self.stats.waited(sent.elapsed());
        let offset = match delivered {
            Ok(offset) => offset,
            Err(e) => {
                self.shared.forget(append);
                // An earlier attempt may have landed and been decided after all.
                return outcome.try_recv().unwrap_or(Err(e));
            }
        };
        // Sequenced now if every claim before it is; otherwise once the reader gets there.
        self.shared.sequence_confirmed(self.writer);
        let appended = self.shared.outcome(append, &outcome, offset, PATIENCE)?;
        self.stats
            .appended(1, appended.last_position + 1 - appended.first_position);
        Ok(appended)
    }

    fn read_stream(&self, stream: &StreamId, from_version: u64, max: usize) -> Result<Vec<Record>> {
        let head = self.shared.state().sequencer.head();
        self.shared
            .cache
            .stream_positions(stream, from_version, max)?
            .into_iter()
            .map(|position| self.shared.cache.record(position, head))
            .collect()
    }

    fn read_all(&self, from_position: u64, max: usize) -> Result<Vec<Record>> {
        self.read_all_bodies(from_position, max)?
            .iter()
            .enumerate()
            .map(|(i, body)| {
                Record::from_body(body)
                    .map_err(|e| self.shared.cache.damaged(from_position + i as u64, e))
            })
            .collect()
    }

    fn read_all_bodies(&self, from_position: u64, max: usize) -> Result<Vec<Vec<u8>>> {
        let head = self.shared.state().sequencer.head();
        let mut bodies = self.shared.cache.bodies(from_position, max)?;
        // Only what is published: a record applied a moment ago shows with its head.
        bodies.truncate((head + 1).saturating_sub(from_position.max(1)) as usize);
        Ok(bodies)
    }

    fn stream_version(&self, stream: &StreamId) -> Result<u64> {
        Ok(self.shared.state().sequencer.version(stream))
    }

    fn head(&self) -> Result<Head> {
        let state = self.shared.state();
        Ok(Head {
            position: state.sequencer.head(),
            hash: state.sequencer.head_hash(),
        })
    }

    fn wait_for(&self, position: u64, timeout: Duration) -> Result<u64> {
        Ok(self.shared.wait_for(position, timeout))
    }

    fn stats(&self) -> Stats {
        self.stats.snapshot(Durability::Produce)
    }
}

#[cfg(test)]
pub(crate) mod tests;
