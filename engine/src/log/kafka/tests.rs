//! The Kafka store against librdkafka's in-process mock cluster (3 brokers).

use std::sync::Arc;
use std::time::Duration;

use ferry_schemas::{Actor, CorrelationId, StreamId};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;

use super::super::tests::event;
use super::*;

/// A mock cluster, kept alive by the test.
pub(crate) struct Brokers {
    pub(crate) cluster: MockCluster<'static, DefaultProducerContext>,
    pub(crate) connection: Connection,
    pub(crate) topics: Topics,
}

pub(crate) fn brokers() -> Brokers {
    let cluster = MockCluster::new(3).unwrap();
    // The mock cluster does not serve CreateTopics; it makes topics through its own API.
    let topics = Topics::new("test.");
    for (name, partitions) in [
        (topics.log(), 1),
        (topics.blobs(), 1),
        (topics.work(), Topics::WORK_PARTITIONS),
    ] {
        cluster.create_topic(&name, partitions, 3).unwrap();
    }
    let connection = Connection::new(cluster.bootstrap_servers());
    Brokers {
        cluster,
        connection,
        topics,
    }
}

/// A Kafka store on a fresh mock cluster, and what must outlive it.
pub(crate) fn mock_store() -> (KafkaStore, Box<dyn std::any::Any>) {
    let brokers = brokers();
    let dir = tempfile::tempdir().unwrap();
    let store = KafkaStore::open(&brokers.connection, &brokers.topics, dir.path()).unwrap();
    (store, Box::new((dir, brokers)))
}

fn stream(name: &str) -> StreamId {
    StreamId::new(name).unwrap()
}

fn open(brokers: &Brokers, dir: &Path) -> KafkaStore {
    KafkaStore::open(&brokers.connection, &brokers.topics, dir).unwrap()
}

fn everything(store: &KafkaStore) -> Vec<Record> {
    store.read_all(1, usize::MAX).unwrap()
}

#[test]
fn a_stale_writer_loses_and_every_reader_agrees_on_the_winner() {
    let brokers = brokers();
    let (a_dir, b_dir, c_dir) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let a = open(&brokers, a_dir.path());
    let b = open(&brokers, b_dir.path());
    let s = stream("migration-1");
    a.append(&s, Expected::Exact(0), vec![event(1)]).unwrap();
    // A stale writer: its claim for version 1 reaches the partition after A's, as if it had
    // decided before reading A's record (it bypasses the local check on purpose).
    let loser = event(2);
    let stale = Claim::new(
        Uuid::now_v7(),
        s.clone(),
        Expected::Exact(0),
        None,
        crate::clock::Clock::now(&crate::clock::SystemClock),
        vec![loser.clone()],
    );
    b.deliverer
        .deliver(s.as_str().as_bytes(), &stale.encode())
        .unwrap();
    // B's own append with the same stale expectation is told it lost.
    let lost = b.append(&s, Expected::Exact(0), vec![event(3)]);
    assert!(
        matches!(
            lost,
            Err(Error::Conflict {
                expected: 0,
                actual: 1,
                ..
            })
        ),
        "{lost:?}"
    );
    a.append(&s, Expected::Exact(1), vec![event(4)]).unwrap();
    a.catch_up().unwrap();
    b.catch_up().unwrap();
    let c = open(&brokers, c_dir.path());
    let (ra, rb, rc) = (everything(&a), everything(&b), everything(&c));
    assert_eq!(ra.len(), 2);
    assert_eq!(ra, rb);
    assert_eq!(ra, rc);
    assert!(
        ra.iter().all(|r| r.event_id != loser.event_id),
        "the stale claim must leave no record"
    );
    assert_eq!(a.head().unwrap(), c.head().unwrap());
    assert!(matches!(
        crate::log::verify(&c).unwrap(),
        crate::log::Verification::Intact { head: 2, .. }
    ));
}

#[test]
fn a_claim_decided_on_a_stale_scope_leaves_no_record_in_any_reader() {
    let brokers = brokers();
    let (a_dir, b_dir, c_dir) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let a = open(&brokers, a_dir.path());
    let b = open(&brokers, b_dir.path());
    let env = stream("environment-1");
    let scope = crate::log::Scope {
        stream: env.clone(),
        seen: 0,
        changes: true,
    };
    // A step of one import changes the environment...
    a.append_scoped(
        &stream("migration-a"),
        Expected::Exact(0),
        Some(&scope),
        vec![event(1)],
    )
    .unwrap();
    // ...and a step of another, decided on the environment before that, reaches the
    // partition after it (delivered directly: it bypasses the local check on purpose).
    let loser = event(2);
    let stale = Claim::new(
        Uuid::now_v7(),
        stream("migration-b"),
        Expected::Exact(0),
        Some(scope.clone()),
        crate::clock::Clock::now(&crate::clock::SystemClock),
        vec![loser.clone()],
    );
    b.deliverer
        .deliver(b"migration-b", &stale.encode())
        .unwrap();
    let lost = b.append_scoped(
        &stream("migration-b"),
        Expected::Exact(0),
        Some(&scope),
        vec![event(3)],
    );
    assert!(
        matches!(lost, Err(Error::Changed { changed_at: 1, .. })),
        "{lost:?}"
    );
    a.append(&env, Expected::Exact(0), vec![event(4)]).unwrap();
    a.catch_up().unwrap();
    b.catch_up().unwrap();
    let c = open(&brokers, c_dir.path());
    let (ra, rb, rc) = (everything(&a), everything(&b), everything(&c));
    assert_eq!(ra.len(), 2);
    assert_eq!((&ra, &ra), (&rb, &rc));
    assert!(ra.iter().all(|r| r.event_id != loser.event_id));
    assert_eq!(ra[0].scope, Some(env));
}

#[test]
fn a_reopened_store_resumes_from_its_cache_and_reads_what_others_appended() {
    let brokers = brokers();
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let s = stream("s");
    {
        let a = open(&brokers, a_dir.path());
        a.append(&s, Expected::Exact(0), vec![event(1), event(2)])
            .unwrap();
    }
    let b = open(&brokers, b_dir.path());
    b.append(&s, Expected::Exact(2), vec![event(3)]).unwrap();
    let a = open(&brokers, a_dir.path());
    assert_eq!(a.stream_version(&s).unwrap(), 3);
    assert_eq!(everything(&a), everything(&b));
    // Reading resumed after the cached claims: each record once.
    let versions: Vec<u64> = a
        .read_stream(&s, 1, 10)
        .unwrap()
        .iter()
        .map(|r| r.stream_version)
        .collect();
    assert_eq!(versions, vec![1, 2, 3]);
}

#[test]
fn a_cache_built_from_another_topic_is_refused_with_a_way_out() {
    let brokers = brokers();
    let dir = tempfile::tempdir().unwrap();
    open(&brokers, dir.path())
        .append(&stream("s"), Expected::Any, vec![event(1)])
        .unwrap();
    let other = Topics::new("other.");
    let err = KafkaStore::open(&brokers.connection, &other, dir.path())
        .err()
        .unwrap();
    let text = err.to_string();
    assert!(
        text.contains("was built from topic test.log") && text.contains("delete it"),
        "{text}"
    );
}

#[test]
fn appends_survive_a_broker_going_down_and_injected_produce_errors() {
    use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
    let brokers = brokers();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(&brokers, dir.path()));
    let s = stream("s");
    brokers.cluster.request_errors(
        RDKafkaApiKey::Produce,
        &[
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
        ],
    );
    let writer = {
        let store = store.clone();
        let s = s.clone();
        std::thread::spawn(move || {
            for n in 0..40u64 {
                let appended = store
                    .append(&s, Expected::Exact(n), vec![event(n)])
                    .unwrap();
                assert_eq!(appended.stream_version, n + 1);
            }
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    let leader = 1;
    brokers.cluster.broker_down(leader).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    brokers.cluster.broker_up(leader).unwrap();
    writer.join().unwrap();
    let records = everything(&store);
    assert_eq!(records.len(), 40, "every append recorded once");
    let versions: Vec<u64> = records.iter().map(|r| r.stream_version).collect();
    assert_eq!(versions, (1..=40).collect::<Vec<_>>());
    let fresh_dir = tempfile::tempdir().unwrap();
    assert_eq!(everything(&open(&brokers, fresh_dir.path())), records);
}

#[test]
fn a_retried_append_is_recorded_once() {
    let (store, _guard) = mock_store();
    let s = stream("s");
    let events = vec![event(1), event(2)];
    let first = store
        .append(&s, Expected::Exact(0), events.clone())
        .unwrap();
    // The same claim again, as a producer retry after a lost acknowledgement would send it.
    let again = store.append(&s, Expected::Exact(0), events).unwrap();
    assert_eq!(first, again);
    assert_eq!(everything(&store).len(), 2);
}

#[test]
fn a_stale_writers_tenant_never_shows_in_any_projection() {
    use crate::directory::{self, Command};
    use crate::world::World;
    use ferry_schemas::directory::Name;
    use ferry_schemas::event::Context;
    use ferry_schemas::TenantId;

    let brokers = brokers();
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = open(&brokers, a_dir.path());
    let name = |n: &str| Name::new(n).unwrap();
    directory::execute(
        &a,
        Command::CreateTenant {
            id: TenantId::new(),
            name: name("alpha"),
        },
    )
    .unwrap();
    // A writer that decided on the empty directory claims version 1 after alpha took it.
    let stale = directory::decide(
        &directory::State::default(),
        Command::CreateTenant {
            id: TenantId::new(),
            name: name("beta"),
        },
    )
    .unwrap();
    let context = Context {
        tenant: None,
        actor: Actor::Operator,
        correlation_id: CorrelationId::new(),
        causation_id: None,
    };
    let events = stale.iter().map(|e| e.to_new(&context)).collect();
    let stream = StreamId::new(directory::STREAM).unwrap();
    let claim = Claim::new(
        Uuid::now_v7(),
        stream.clone(),
        Expected::Exact(0),
        None,
        crate::clock::Clock::now(&crate::clock::SystemClock),
        events,
    );
    a.deliverer
        .deliver(stream.as_str().as_bytes(), &claim.encode())
        .unwrap();
    directory::execute(
        &a,
        Command::CreateTenant {
            id: TenantId::new(),
            name: name("gamma"),
        },
    )
    .unwrap();
    let b = open(&brokers, b_dir.path());
    for store in [&a, &b] {
        store.catch_up().unwrap();
        let world = World::load(store).unwrap();
        assert!(world.directory.tenant(&name("alpha")).is_some());
        assert!(world.directory.tenant(&name("gamma")).is_some());
        assert!(
            world.directory.tenant(&name("beta")).is_none(),
            "the stale claim must not project"
        );
    }
}
