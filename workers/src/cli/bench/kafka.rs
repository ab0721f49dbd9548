//! `ferry bench --kafka <brokers>`: the log on Kafka against raw librdkafka and against the
//! embedded log, on the same broker, in the same run.
//!
//! 1. Appends: `writers` threads, each appending one event at a time to its own stream with
//!    [`Expected::Exact`] through [`KafkaStore::append`] (a claim, delivered by the idempotent
//!    producer with `acks=all`, then read back and sequenced). The baseline: the very messages
//!    Ferry put on its log topic — read back from the broker, so the same keys and the same
//!    bytes — produced again by a plain rdkafka producer (`enable.idempotence=true`,
//!    `acks=all`, Ferry's `linger.ms`) to partition 0 of a topic made like Ferry's log topic,
//!    from as many threads, each waiting for its delivery report before it sends the next, as
//!    each Ferry writer waits for its append. After one untimed message on each side (the
//!    connections, the producer ids), paired rounds (Ferry, then raw); the round with the
//!    median ratio is reported.
//! 2. Provisioning: the bench's package into `targets` targets on an embedded data directory
//!    and on a Kafka one, through the same code path.
//!
//! Every topic is under the run's prefix P (`--kafka-topic-prefix`, by default
//! `ferry-bench-<unix ms>-<pid>.`, so runs never see each other's data): `<P>append.*` holds
//! Ferry's log for the appends, `<P>raw.log` the baseline's messages, `<P>provision.*` the
//! Kafka data directory's topics. Each set is made by Ferry like its own topics (the mock
//! cluster of the tests cannot create topics: there, the test makes them).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::mpsc::{self, SyncSender};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ferry_engine::data_dir::{LogKind, LogSettings};
use ferry_engine::log::{Connection, Expected, KafkaStore, Store, Topics};
use ferry_schemas::StreamId;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseRecord, DeliveryResult, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Message, Offset, TopicPartitionList};
use serde_json::{json, Value};

use super::{bench_event, err, provision};

/// Paired rounds of appends (Ferry, then raw); the median ratio is reported.
const ROUNDS: usize = 3;

/// How long the baseline waits for one delivery report, or the read-back for the messages.
const PATIENCE: Duration = Duration::from_secs(60);

/// How the two sides of the append figure send, as printed and in the JSON.
const MODE: &str = "each writer waits for its delivery report before sending the next; one \
                    producer per side, enable.idempotence=true, acks=all, linger.ms=2";

/// What `--kafka` asked for.
pub(super) struct Plan {
    pub(super) brokers: String,
    /// The run's topic prefix (`<prefix>append.`, `<prefix>raw.`, `<prefix>provision.`).
    pub(super) prefix: String,
    pub(super) writers: u32,
    pub(super) events: u32,
    pub(super) targets: u32,
    pub(super) concurrency: u32,
}

/// A topic prefix no other run uses.
pub(super) fn unique_prefix() -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("ferry-bench-{millis}-{}.", std::process::id())
}

/// Runs both Kafka figures; returns the `"kafka"` object of the report.
pub(super) fn run(scratch: &Path, plan: &Plan) -> Result<Value, u8> {
    let connection = Connection::new(plan.brokers.clone());
    let mut rounds = appends(scratch, &connection, plan)?;
    let ratios: Vec<f64> = rounds.iter().map(Round::ratio).collect();
    rounds.sort_by(|a, b| a.ratio().total_cmp(&b.ratio()));
    let median = rounds.swap_remove(rounds.len() / 2);

    let embedded = provision(
        &scratch.join("kafka-vs-embedded"),
        &LogSettings::default(),
        plan.targets,
        plan.concurrency,
    )?
    .0;
    let on_kafka = provision(
        &scratch.join("kafka-provision"),
        &LogSettings {
            kind: Some(LogKind::Kafka),
            brokers: Some(plan.brokers.clone()),
            topic_prefix: Some(format!("{}provision.", plan.prefix)),
            ..LogSettings::default()
        },
        plan.targets,
        plan.concurrency,
    )?
    .0;
    let targets = f64::from(plan.targets);
    Ok(json!({
        "brokers": plan.brokers,
        "topic_prefix": plan.prefix,
        "appends": {
            "writers": plan.writers,
            "events": plan.events,
            "messages": median.messages,
            "bytes": median.bytes,
            "mode": MODE,
            "rounds": ROUNDS,
            "round_ratios": ratios,
            "ferry_seconds": median.ferry,
            "raw_seconds": median.raw,
            "ferry_events_per_s": f64::from(plan.events) / median.ferry,
            "raw_events_per_s": median.messages as f64 / median.raw,
            "ratio": median.ratio(),
        },
        "provisioning": {
            "targets": plan.targets,
            "concurrency": plan.concurrency,
            "kafka_done": on_kafka.done,
            "kafka_seconds": on_kafka.seconds,
            "kafka_targets_per_s": targets / on_kafka.seconds,
            "kafka_steps_per_s": on_kafka.steps as f64 / on_kafka.seconds,
            "embedded_done": embedded.done,
            "embedded_seconds": embedded.seconds,
            "embedded_targets_per_s": targets / embedded.seconds,
            "ratio": embedded.seconds / on_kafka.seconds,
        },
    }))
}

/// Prints the Kafka rows of the table (same columns as the others: Ferry, baseline, ratio).
pub(super) fn print(kafka: &Value) {
    let f = |v: &Value| v.as_f64().unwrap_or_default();
    let a = &kafka["appends"];
    say!(
        "{:<38} {:>10.0}/s {:>10.0}/s {:>8.2}   (baseline: raw rdkafka idempotent acks=all \
         produce of the same {} messages, {:.0} KiB; both sides: each writer waits for its \
         delivery report; median of {} rounds)",
        format!("kafka appends, {} writers", a["writers"]),
        f(&a["ferry_events_per_s"]),
        f(&a["raw_events_per_s"]),
        f(&a["ratio"]),
        a["messages"],
        f(&a["bytes"]) / 1024.0,
        a["rounds"],
    );
    let p = &kafka["provisioning"];
    say!(
        "{:<38} {:>10.0}/s {:>10.0}/s {:>8.2}   (ferry: on kafka, {} done, {:.1}s, {:.0} \
         steps/s; baseline: embedded, {} done, {:.1}s)",
        format!("provision {} targets, kafka/embedded", p["targets"]),
        f(&p["kafka_targets_per_s"]),
        f(&p["embedded_targets_per_s"]),
        f(&p["ratio"]),
        p["kafka_done"],
        f(&p["kafka_seconds"]),
        f(&p["kafka_steps_per_s"]),
        p["embedded_done"],
        f(&p["embedded_seconds"]),
    );
}

struct Round {
    ferry: f64,
    raw: f64,
    messages: usize,
    bytes: usize,
}

impl Round {
    fn ratio(&self) -> f64 {
        self.raw / self.ferry
    }
}

/// [`ROUNDS`] paired rounds on one open store and one raw producer.
fn appends(scratch: &Path, connection: &Connection, plan: &Plan) -> Result<Vec<Round>, u8> {
    let ferry_topics = Topics::new(format!("{}append.", plan.prefix));
    let raw_topics = Topics::new(format!("{}raw.", plan.prefix));
    // Setup, not measured: the baseline's topic, made like Ferry's log topic.
    raw_topics.ensure(connection).map_err(err)?;
    let store = KafkaStore::open(
        connection,
        &ferry_topics,
        &scratch.join("kafka-appends-cache"),
    )
    .map_err(err)?;
    let producer = raw_producer(&plan.brokers)?;
    // Not measured: each side's first message pays for the connections and the idempotent
    // producer's id.
    let warm_up = StreamId::new("bench-warm-up").map_err(err)?;
    store
        .append(&warm_up, Expected::Any, vec![bench_event(0)])
        .map_err(err)?;
    send(&producer, &raw_topics.log(), b"bench-warm-up", b"{}")
        .map_err(|e| err(format!("raw produce to {} failed: {e}", raw_topics.log())))?;
    let mut rounds = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        let from = store.next_offset();
        let ferry = ferry_appends(&store, round, plan.writers, plan.events)?;
        let to = store.next_offset();
        let by_key = read_back(&plan.brokers, &ferry_topics.log(), from, to)?;
        let raw = raw_produce(&producer, &raw_topics.log(), &by_key)?;
        rounds.push(Round {
            ferry,
            raw,
            messages: by_key.values().map(Vec::len).sum(),
            bytes: by_key
                .iter()
                .map(|(k, vs)| vs.iter().map(|v| k.len() + v.len()).sum::<usize>())
                .sum(),
        });
    }
    Ok(rounds)
}

/// `writers` threads, each appending its share of `events` one at a time to its own stream
/// at the exact version; returns the seconds taken.
fn ferry_appends(store: &KafkaStore, round: usize, writers: u32, events: u32) -> Result<f64, u8> {
    let failed = Mutex::new(None);
    let started = Instant::now();
    std::thread::scope(|s| {
        for w in 0..writers {
            let count = events / writers + u32::from(w < events % writers);
            let (store, failed) = (store, &failed);
            s.spawn(move || {
                let Ok(stream) = StreamId::new(format!("bench-{round}-{w}")) else {
                    return;
                };
                for r in 0..count {
                    let appended =
                        store.append(&stream, Expected::Exact(u64::from(r)), vec![bench_event(r)]);
                    if let Err(e) = appended {
                        *failed.lock().unwrap_or_else(|e| e.into_inner()) = Some(e.to_string());
                        return;
                    }
                }
            });
        }
    });
    let seconds = started.elapsed().as_secs_f64();
    match failed.into_inner().unwrap_or_else(|e| e.into_inner()) {
        Some(e) => Err(err(format!("a Kafka append failed: {e}"))),
        None => Ok(seconds),
    }
}

/// The messages at offsets `from..to` of partition 0 of `topic`, by key, each key's in offset
/// order (setup, not measured).
fn read_back(
    brokers: &str,
    topic: &str,
    from: i64,
    to: i64,
) -> Result<BTreeMap<Vec<u8>, Vec<Vec<u8>>>, u8> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("{topic}-bench-reader"))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .create()
        .map_err(err)?;
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, Offset::Offset(from))
        .map_err(err)?;
    consumer.assign(&assignment).map_err(err)?;
    let mut by_key: BTreeMap<Vec<u8>, Vec<Vec<u8>>> = BTreeMap::new();
    let mut next = from;
    let deadline = Instant::now() + PATIENCE;
    while next < to {
        if Instant::now() > deadline {
            return Err(err(format!(
                "reading back {topic}: stopped at offset {next} of {from}..{to}"
            )));
        }
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let message = message.map_err(err)?;
        if message.offset() < next {
            continue;
        }
        next = message.offset() + 1;
        if message.offset() < to {
            by_key
                .entry(message.key().unwrap_or_default().to_vec())
                .or_default()
                .push(message.payload().unwrap_or_default().to_vec());
        }
    }
    Ok(by_key)
}

type Report = Result<i64, KafkaError>;

/// Hands each delivery report to the thread waiting for it.
struct Reports;

impl ClientContext for Reports {}

impl ProducerContext for Reports {
    type DeliveryOpaque = Box<SyncSender<Report>>;

    fn delivery(&self, result: &DeliveryResult<'_>, waiting: Self::DeliveryOpaque) {
        let _ = waiting.send(match result {
            Ok(message) => Ok(message.offset()),
            Err((e, _)) => Err(e.clone()),
        });
    }
}

/// A plain idempotent producer with the settings of Ferry's.
fn raw_producer(brokers: &str) -> Result<ThreadedProducer<Reports>, u8> {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "2")
        .set("message.timeout.ms", "30000")
        .set("message.max.bytes", (17 * 1024 * 1024).to_string())
        .create_with_context(Reports)
        .map_err(err)
}

/// One thread per key sends that key's messages to partition 0 of `topic`, each after the
/// previous one's delivery report; returns the seconds taken.
fn raw_produce(
    producer: &ThreadedProducer<Reports>,
    topic: &str,
    by_key: &BTreeMap<Vec<u8>, Vec<Vec<u8>>>,
) -> Result<f64, u8> {
    let failed = Mutex::new(None);
    let started = Instant::now();
    std::thread::scope(|s| {
        for (key, values) in by_key {
            let failed = &failed;
            s.spawn(move || {
                for value in values {
                    if let Err(e) = send(producer, topic, key, value) {
                        *failed.lock().unwrap_or_else(|e| e.into_inner()) = Some(e.to_string());
                        return;
                    }
                }
            });
        }
    });
    let seconds = started.elapsed().as_secs_f64();
    match failed.into_inner().unwrap_or_else(|e| e.into_inner()) {
        Some(e) => Err(err(format!("raw produce to {topic} failed: {e}"))),
        None => Ok(seconds),
    }
}

/// Sends one message to partition 0 of `topic` and waits for its delivery report.
fn send(
    producer: &ThreadedProducer<Reports>,
    topic: &str,
    key: &[u8],
    value: &[u8],
) -> Result<i64, KafkaError> {
    let (sender, report) = mpsc::sync_channel(1);
    let record = BaseRecord::with_opaque_to(topic, Box::new(sender))
        .partition(0)
        .key(key)
        .payload(value);
    producer.send(record).map_err(|(e, _)| e)?;
    report
        .recv_timeout(PATIENCE)
        .unwrap_or(Err(KafkaError::Canceled))
}
