//! Semantics every store shares, run against both stores.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use ferry_schemas::{Actor, CorrelationId, EventId, NewEvent, StreamId};
use serde_json::json;

use super::*;
use crate::clock::ManualClock;

/// A test event carrying `n`.
pub(crate) fn event(n: u64) -> NewEvent {
    NewEvent {
        event_id: EventId::new(),
        event_type: "Tested".into(),
        schema_version: 1,
        tenant: None,
        actor: Actor::Operator,
        correlation_id: CorrelationId::new(),
        causation_id: None,
        payload: json!({ "n": n }),
    }
}

fn stream(name: &str) -> StreamId {
    StreamId::new(name).unwrap()
}

/// Every store, each with what must outlive it (its directory, its brokers).
fn stores() -> Vec<(Box<dyn Store>, Box<dyn std::any::Any>)> {
    let dir = tempfile::tempdir().unwrap();
    let file = FileStore::open(dir.path(), Options::default()).unwrap();
    let (kafka, cluster) = kafka::tests::mock_store();
    vec![
        (Box::new(MemoryStore::new()), Box::new(())),
        (Box::new(file), Box::new(dir)),
        (Box::new(kafka), cluster),
    ]
}

#[test]
fn appends_get_consecutive_positions_and_versions() {
    for (store, _dir) in stores() {
        let a = stream("a");
        let b = stream("b");
        let first = store
            .append(&a, Expected::Exact(0), vec![event(1), event(2)])
            .unwrap();
        assert_eq!(
            first,
            Appended {
                first_position: 1,
                last_position: 2,
                stream_version: 2
            }
        );
        let second = store.append(&b, Expected::Any, vec![event(3)]).unwrap();
        assert_eq!(
            second,
            Appended {
                first_position: 3,
                last_position: 3,
                stream_version: 1
            }
        );
        let all = store.read_all(1, 10).unwrap();
        assert_eq!(
            all.iter().map(|r| r.position).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        assert_eq!(all[1].prev_hash, all[0].hash);
        assert_eq!(
            store.read_stream(&a, 2, 10).unwrap()[0].payload,
            json!({"n": 2})
        );
        assert_eq!(store.stream_version(&a).unwrap(), 2);
        assert_eq!(store.head().unwrap().hash, all[2].hash);
    }
}

#[test]
fn wrong_expected_version_is_a_conflict_carrying_both_versions() {
    for (store, _dir) in stores() {
        let s = stream("s");
        store
            .append(&s, Expected::Exact(0), vec![event(1)])
            .unwrap();
        let err = store
            .append(&s, Expected::Exact(0), vec![event(2)])
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Conflict {
                    expected: 0,
                    actual: 1,
                    ..
                }
            ),
            "got {err}"
        );
        assert_eq!(store.head().unwrap().position, 1);
    }
}

#[test]
fn reappending_an_event_id_returns_the_original_position() {
    for (store, _dir) in stores() {
        let s = stream("s");
        let e = event(1);
        let first = store
            .append(&s, Expected::Exact(0), vec![e.clone()])
            .unwrap();
        store
            .append(&s, Expected::Exact(1), vec![event(2)])
            .unwrap();
        // A retry carries the stale expected version; it is still the same append.
        let again = store
            .append(&s, Expected::Exact(0), vec![e.clone()])
            .unwrap();
        assert_eq!(again, first);
        assert_eq!(store.head().unwrap().position, 2);

        let mut changed = e;
        changed.payload = json!({"n": 99});
        let err = store.append(&s, Expected::Any, vec![changed]).unwrap_err();
        assert!(
            matches!(err, Error::EventIdReused { position: 1, .. }),
            "got {err}"
        );
    }
}

/// A scope on `environment-e`, seen at `seen`.
fn scope(seen: u64, changes: bool) -> Scope {
    Scope {
        stream: stream("environment-e"),
        seen,
        changes,
    }
}

#[test]
fn of_two_appends_decided_on_one_state_of_a_scope_only_the_first_lands() {
    for (store, _dir) in stores() {
        let (a, b) = (stream("migration-a"), stream("migration-b"));
        let env = stream("environment-e");
        store
            .append(&env, Expected::Exact(0), vec![event(1)])
            .unwrap();
        // Both decided on the environment as of position 1.
        let landed = event(2);
        let first = store
            .append_scoped(
                &a,
                Expected::Exact(0),
                Some(&scope(1, true)),
                vec![landed.clone()],
            )
            .unwrap();
        let record = &store.read_all(first.first_position, 1).unwrap()[0];
        assert_eq!(
            record.scope,
            Some(env.clone()),
            "it carries what it changed"
        );
        let err = store
            .append_scoped(
                &b,
                Expected::Exact(0),
                Some(&scope(1, true)),
                vec![event(3)],
            )
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Changed {
                    seen: 1,
                    changed_at: 2,
                    ..
                }
            ),
            "got {err}"
        );
        assert_eq!(store.stream_version(&b).unwrap(), 0, "nothing of it landed");
        // Decided again on what is there now, it lands.
        store
            .append_scoped(
                &b,
                Expected::Exact(0),
                Some(&scope(2, false)),
                vec![event(3)],
            )
            .unwrap();
        // An append that reads the scope but does not change it leaves it as it was...
        store
            .append_scoped(
                &a,
                Expected::Exact(1),
                Some(&scope(2, true)),
                vec![event(4)],
            )
            .unwrap();
        // ...and a change on the scope's own stream counts as much as a scoped one.
        store
            .append(&env, Expected::Exact(1), vec![event(5)])
            .unwrap();
        let err = store
            .append_scoped(
                &a,
                Expected::Exact(2),
                Some(&scope(4, true)),
                vec![event(6)],
            )
            .unwrap_err();
        assert!(
            matches!(err, Error::Changed { changed_at: 5, .. }),
            "got {err}"
        );
        // A retry of an append that landed is still that append, whatever changed since.
        let retried = store
            .append_scoped(&a, Expected::Exact(0), Some(&scope(1, true)), vec![landed])
            .unwrap();
        assert_eq!(retried, first);
    }
}

#[test]
fn a_scope_survives_reopening_the_file_store() {
    let dir = tempfile::tempdir().unwrap();
    let a = stream("migration-a");
    {
        let store = FileStore::open(dir.path(), Options::default()).unwrap();
        store
            .append_scoped(
                &a,
                Expected::Exact(0),
                Some(&scope(0, true)),
                vec![event(1)],
            )
            .unwrap();
    }
    let store = FileStore::open(dir.path(), Options::default()).unwrap();
    let err = store
        .append_scoped(
            &stream("migration-b"),
            Expected::Exact(0),
            Some(&scope(0, true)),
            vec![event(2)],
        )
        .unwrap_err();
    assert!(
        matches!(err, Error::Changed { changed_at: 1, .. }),
        "got {err}"
    );
}

#[test]
fn malformed_appends_are_rejected_without_effect() {
    for (store, _dir) in stores() {
        let s = stream("s");
        assert!(matches!(
            store.append(&s, Expected::Any, vec![]),
            Err(Error::Invalid { .. })
        ));
        let e = event(1);
        let twice = store.append(&s, Expected::Any, vec![e.clone(), e]);
        assert!(matches!(twice, Err(Error::Invalid { .. })));
        let mut big = event(2);
        big.payload = json!("x".repeat(17 * 1024 * 1024));
        assert!(matches!(
            store.append(&s, Expected::Any, vec![big]),
            Err(Error::Invalid { .. })
        ));
        assert_eq!(store.head().unwrap().position, 0);
        assert_eq!(
            store
                .append(&s, Expected::Exact(0), vec![event(3)])
                .unwrap()
                .last_position,
            1
        );
    }
}

#[test]
fn recorded_time_never_goes_back_even_when_the_clock_does() {
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let store = MemoryStore::with_clock(clock.clone());
    let s = stream("s");
    store.append(&s, Expected::Any, vec![event(1)]).unwrap();
    clock.advance(chrono::Duration::hours(-1));
    store.append(&s, Expected::Any, vec![event(2)]).unwrap();
    let records = store.read_all(1, 10).unwrap();
    assert_eq!(records[1].recorded_at, start);
}

#[test]
fn wait_for_returns_when_the_head_reaches_the_position() {
    for (store, _dir) in stores() {
        let store: Arc<dyn Store> = Arc::from(store);
        let writer = Arc::clone(&store);
        let handle = std::thread::spawn(move || {
            writer
                .append(&stream("s"), Expected::Any, vec![event(1)])
                .unwrap();
        });
        let head = store
            .wait_for(1, std::time::Duration::from_secs(10))
            .unwrap();
        handle.join().unwrap();
        assert_eq!(head, 1);
        assert_eq!(
            store
                .wait_for(5, std::time::Duration::from_millis(1))
                .unwrap(),
            1
        );
    }
}

#[test]
fn verify_reports_an_intact_chain_with_its_head_digest() {
    for (store, _dir) in stores() {
        for n in 0..5 {
            store
                .append(&stream("s"), Expected::Any, vec![event(n)])
                .unwrap();
        }
        let head = store.head().unwrap();
        assert_eq!(
            verify(store.as_ref()).unwrap(),
            Verification::Intact {
                head: 5,
                digest: head.hash
            }
        );
    }
}

#[test]
fn file_store_reopens_with_the_same_records_and_refuses_a_second_opener() {
    let dir = tempfile::tempdir().unwrap();
    let s = stream("s");
    let before = {
        let store = FileStore::open(dir.path(), Options::default()).unwrap();
        store
            .append(&s, Expected::Exact(0), vec![event(1), event(2)])
            .unwrap();
        let second = FileStore::open(dir.path(), Options::default());
        assert!(matches!(second, Err(Error::Locked { .. })));
        store.read_all(1, 10).unwrap()
    };
    let store = FileStore::open(dir.path(), Options::default()).unwrap();
    assert_eq!(store.read_all(1, 10).unwrap(), before);
    let next = store
        .append(&s, Expected::Exact(2), vec![event(3)])
        .unwrap();
    assert_eq!(next.first_position, 3);
    assert_eq!(store.read_all(3, 1).unwrap()[0].prev_hash, before[1].hash);
}

#[test]
fn a_float_payload_survives_reopen_retry_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = event(1);
    e.payload = json!({ "x": 1.0715660391465826e-75, "y": 0.1 });
    let first = {
        let store = FileStore::open(dir.path(), Options::default()).unwrap();
        store
            .append(&stream("s"), Expected::Exact(0), vec![e.clone()])
            .unwrap()
    };
    let store = FileStore::open(dir.path(), Options::default()).unwrap();
    assert_eq!(
        store
            .append(&stream("s"), Expected::Exact(0), vec![e])
            .unwrap(),
        first
    );
    assert!(matches!(
        verify(&store).unwrap(),
        Verification::Intact { head: 1, .. }
    ));
}
