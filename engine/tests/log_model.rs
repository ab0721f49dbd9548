//! The log's property suite: random sequences of appends (fresh, conflicting, retried) and
//! reopenings, run against every store and checked against a `Vec` model.
#![allow(clippy::unwrap_used)] // Tests: a panic is a failed test.

use std::collections::HashMap;

use ferry_engine::log::{self, Appended, Error, Expected, FileStore, MemoryStore, Options, Store};
use ferry_schemas::{Actor, CorrelationId, EventId, NewEvent, StreamId};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    /// Append `count` fresh events to stream `stream`; `expected`: None = Any, Some(delta) =
    /// the model's version + delta - 1 (so delta 1 is right, others are wrong).
    Append {
        stream: usize,
        expected: Option<u8>,
        count: usize,
    },
    /// Re-append the events of an earlier successful append (a client retry).
    Retry { which: usize },
    /// Close and reopen the store (file store only; a no-op in memory).
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..3usize, proptest::option::of(0..3u8), 1..4usize)
            .prop_map(|(stream, expected, count)| Op::Append { stream, expected, count }),
        2 => any::<usize>().prop_map(|which| Op::Retry { which }),
        1 => Just(Op::Reopen),
    ]
}

fn event(n: usize) -> NewEvent {
    NewEvent {
        event_id: EventId::new(),
        event_type: "Modelled".into(),
        schema_version: 1,
        tenant: None,
        actor: Actor::System,
        correlation_id: CorrelationId::new(),
        causation_id: None,
        payload: serde_json::json!({ "n": n }),
    }
}

/// The model: the log is a vector of (stream, event).
#[derive(Default)]
struct Model {
    log: Vec<(StreamId, NewEvent)>,
    versions: HashMap<StreamId, u64>,
    appends: Vec<(StreamId, Vec<NewEvent>, Appended)>,
}

fn run(ops: Vec<Op>, mut open: impl FnMut() -> Box<dyn Store>) -> Result<(), TestCaseError> {
    let streams: Vec<StreamId> = ["alpha", "beta", "gamma"]
        .iter()
        .map(|s| StreamId::new(*s).unwrap())
        .collect();
    let mut store = open();
    let mut model = Model::default();
    let mut counter = 0;
    for op in ops {
        match op {
            Op::Append {
                stream,
                expected,
                count,
            } => {
                let stream = &streams[stream];
                let version = model.versions.get(stream).copied().unwrap_or(0);
                let expected = match expected {
                    None => Expected::Any,
                    Some(delta) => Expected::Exact((version + u64::from(delta)).saturating_sub(1)),
                };
                let events: Vec<NewEvent> = (0..count)
                    .map(|_| {
                        counter += 1;
                        event(counter)
                    })
                    .collect();
                let result = store.append(stream, expected, events.clone());
                match expected {
                    Expected::Exact(v) if v != version => {
                        prop_assert!(
                            matches!(result, Err(Error::Conflict { expected, actual, .. }) if expected == v && actual == version),
                            "expected a conflict, got {result:?}"
                        );
                    }
                    _ => {
                        let appended = result.map_err(|e| TestCaseError::fail(e.to_string()))?;
                        let first = model.log.len() as u64 + 1;
                        prop_assert_eq!(
                            appended,
                            Appended {
                                first_position: first,
                                last_position: first + count as u64 - 1,
                                stream_version: version + count as u64,
                            }
                        );
                        model
                            .log
                            .extend(events.iter().map(|e| (stream.clone(), e.clone())));
                        model
                            .versions
                            .insert(stream.clone(), version + count as u64);
                        model.appends.push((stream.clone(), events, appended));
                    }
                }
            }
            Op::Retry { which } => {
                if model.appends.is_empty() {
                    continue;
                }
                let (stream, events, appended) = model.appends[which % model.appends.len()].clone();
                let again = store.append(&stream, Expected::Exact(0), events);
                prop_assert_eq!(again.map_err(|e| e.to_string()), Ok(appended));
            }
            Op::Reopen => {
                drop(store);
                store = open();
            }
        }
    }
    let records = store
        .read_all(1, usize::MAX)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(records.len(), model.log.len());
    for (record, (stream, event)) in records.iter().zip(&model.log) {
        prop_assert!(
            record.matches(stream, event),
            "record {} differs from the model",
            record.position
        );
    }
    for stream in &streams {
        let read = store
            .read_stream(stream, 1, usize::MAX)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let expected: Vec<_> = model
            .log
            .iter()
            .filter(|(s, _)| s == stream)
            .map(|(_, e)| e.event_id)
            .collect();
        prop_assert_eq!(
            read.iter().map(|r| r.event_id).collect::<Vec<_>>(),
            expected
        );
        prop_assert_eq!(
            store.stream_version(stream).ok(),
            model.versions.get(stream).copied().or(Some(0))
        );
    }
    let verified = log::verify(store.as_ref()).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let intact = matches!(verified, log::Verification::Intact { head, .. } if head == model.log.len() as u64);
    prop_assert!(intact, "verify found {:?}", verified);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn memory_store_matches_the_model(ops in proptest::collection::vec(op(), 1..40)) {
        let store = std::sync::Arc::new(MemoryStore::new());
        run(ops, || Box::new(ArcStore(store.clone())))?;
    }

    #[test]
    fn file_store_matches_the_model(ops in proptest::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        run(ops, || Box::new(FileStore::open(dir.path(), Options::default()).unwrap()))?;
    }
}

/// Lets the memory store survive a "reopen" (it has nothing to recover).
struct ArcStore(std::sync::Arc<MemoryStore>);

impl Store for ArcStore {
    fn append_scoped(
        &self,
        s: &StreamId,
        e: Expected,
        scope: Option<&log::Scope>,
        ev: Vec<NewEvent>,
    ) -> log::Result<Appended> {
        self.0.append_scoped(s, e, scope, ev)
    }
    fn read_stream(
        &self,
        s: &StreamId,
        v: u64,
        m: usize,
    ) -> log::Result<Vec<ferry_schemas::Record>> {
        self.0.read_stream(s, v, m)
    }
    fn read_all(&self, p: u64, m: usize) -> log::Result<Vec<ferry_schemas::Record>> {
        self.0.read_all(p, m)
    }
    fn stream_version(&self, s: &StreamId) -> log::Result<u64> {
        self.0.stream_version(s)
    }
    fn head(&self) -> log::Result<log::Head> {
        self.0.head()
    }
    fn wait_for(&self, p: u64, t: std::time::Duration) -> log::Result<u64> {
        self.0.wait_for(p, t)
    }
}
