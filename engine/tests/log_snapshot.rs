//! The log's known-good point: a store that closes after enough records leaves a snapshot of
//! its sequencer and index, and the next open walks only the frames after it — with the same
//! answers (reads, versions, duplicates, the chain) as a walk of the whole file. A damaged,
//! foreign or too-long snapshot is not used.
#![allow(clippy::unwrap_used)] // Tests: a panic is a failed test.

mod common;

use common::{event, log_path, stream};
use ferry_engine::log::{self, Expected, FileStore, Options, Store};
use ferry_schemas::NewEvent;

const SNAPSHOT: &str = "events.snapshot";

/// `appends` appends of `per` events each, spread over three streams; returns one event of
/// the first append (to retry later).
fn fill(store: &FileStore, appends: usize, per: usize) -> NewEvent {
    let mut first = None;
    for a in 0..appends {
        let events: Vec<_> = (0..per).map(|i| event((a * per + i) as u64)).collect();
        first.get_or_insert_with(|| events[0].clone());
        let name = format!("s{}", a % 3);
        store.append(&stream(&name), Expected::Any, events).unwrap();
    }
    first.unwrap()
}

/// What a reader of the whole log sees.
fn everything(store: &FileStore) -> Vec<ferry_schemas::Record> {
    let mut all = Vec::new();
    loop {
        let next = store.read_all(all.len() as u64 + 1, 4096).unwrap();
        if next.is_empty() {
            return all;
        }
        all.extend(next);
    }
}

fn open(dir: &std::path::Path) -> FileStore {
    FileStore::open(dir, Options::default()).unwrap()
}

#[test]
fn the_next_open_starts_from_the_snapshot_a_closing_store_leaves() {
    let dir = tempfile::tempdir().unwrap();
    let retried = {
        let store = open(dir.path());
        fill(&store, 50, 100)
    };
    assert!(dir.path().join(SNAPSHOT).exists());
    let store = open(dir.path());
    assert_eq!(store.opened_from(), 5000, "the snapshot was used");
    let records = everything(&store);
    assert_eq!(records.len(), 5000);
    // The same answers as a walk of the whole file.
    std::fs::remove_file(dir.path().join(SNAPSHOT)).unwrap();
    drop(store);
    let walked = open(dir.path());
    assert_eq!(walked.opened_from(), 0);
    assert_eq!(everything(&walked), records);
    drop(walked);
    let store = open(dir.path());
    // Versions, duplicates and the chain go on from the snapshot.
    let v = store.stream_version(&stream("s1")).unwrap();
    assert_eq!(v, 1700, "s1 had appends 1, 4, …, 49 of 100 events");
    store
        .append(&stream("s1"), Expected::Exact(v), vec![event(9_999)])
        .unwrap();
    let again = store
        .append(&stream("s0"), Expected::Any, vec![retried.clone()])
        .unwrap();
    assert_eq!(
        again.first_position, 1,
        "a retried append is answered as the original"
    );
    assert!(matches!(
        log::verify(&store).unwrap(),
        log::Verification::Intact { head: 5001, .. }
    ));
}

#[test]
fn records_after_the_snapshot_are_walked_and_a_torn_tail_after_it_truncated() {
    let dir = tempfile::tempdir().unwrap();
    drop({
        let store = open(dir.path());
        fill(&store, 50, 100);
        store
    });
    {
        // Fewer than the snapshot's interval: closing leaves the snapshot where it was.
        let store = open(dir.path());
        fill(&store, 5, 2);
    }
    let bytes = std::fs::read(log_path(dir.path())).unwrap();
    std::fs::write(log_path(dir.path()), &bytes[..bytes.len() - 7]).unwrap();
    let store = open(dir.path());
    assert_eq!(store.opened_from(), 5000);
    assert_eq!(
        store.head().unwrap().position,
        5008,
        "the torn last append is gone"
    );
    assert!(matches!(
        log::verify(&store).unwrap(),
        log::Verification::Intact { head: 5008, .. }
    ));
}

#[test]
fn a_damaged_foreign_or_too_long_snapshot_is_not_used() {
    let made = |appends| {
        let dir = tempfile::tempdir().unwrap();
        drop({
            let store = open(dir.path());
            fill(&store, appends, 100);
            store
        });
        dir
    };
    let check = |dir: &tempfile::TempDir, what: &str| {
        let store = open(dir.path());
        assert_eq!(store.opened_from(), 0, "{what}: the file is walked whole");
        let records = everything(&store);
        assert!(matches!(
            log::verify(&store).unwrap(),
            log::Verification::Intact { head, .. } if head == records.len() as u64
        ));
    };
    // A flipped byte in its head (the first 100 bytes).
    let dir = made(45);
    let path = dir.path().join(SNAPSHOT);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[40] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    check(&dir, "flipped");
    // Another log's snapshot (same shape, other records).
    let (a, b) = (made(45), made(45));
    std::fs::copy(b.path().join(SNAPSHOT), a.path().join(SNAPSHOT)).unwrap();
    check(&a, "foreign");
    // A log restored from an older, shorter backup beside a newer snapshot.
    let long = made(60);
    let short = made(45);
    std::fs::copy(long.path().join(SNAPSHOT), short.path().join(SNAPSHOT)).unwrap();
    check(&short, "too long");
}

#[test]
fn recent_records_are_read_without_loading_the_history_and_a_damaged_body_is_walked_instead() {
    let dir = tempfile::tempdir().unwrap();
    let (records, retried) = {
        let store = open(dir.path());
        let retried = fill(&store, 50, 100);
        (everything(&store), retried)
    };
    {
        let store = open(dir.path());
        fill(&store, 5, 2);
    }
    let store = open(dir.path());
    assert_eq!(store.opened_from(), 5000);
    // What a reopened data directory reads: the first record, the snapshot's last, the tail.
    let first = store.read_all_bodies(1, 1).unwrap();
    let last = store.read_all(5000, 100).unwrap();
    assert!(
        !store.history_loaded(),
        "no record before the snapshot's last was needed"
    );
    assert_eq!(first.len(), 1);
    assert_eq!(last.len(), 11);
    assert_eq!(last[0], records[4999]);
    // A stream's records need the rest.
    assert_eq!(store.stream_version(&stream("s1")).unwrap(), 1700 + 4);
    assert!(store.history_loaded());
    let whole = everything(&store);
    drop(store);

    // A flipped byte in the body: found when the history is first needed, and the records
    // up to the snapshot are walked instead, with the same answers.
    let path = dir.path().join(SNAPSHOT);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let store = open(dir.path());
    assert_eq!(store.opened_from(), 5000, "its head still fits the log");
    assert_eq!(store.read_all(2, 1).unwrap()[0], whole[1]);
    assert!(store.history_loaded());
    assert_eq!(everything(&store), whole);
    assert_eq!(store.stream_version(&stream("s1")).unwrap(), 1704);
    let again = store
        .append(&stream("s0"), Expected::Any, vec![retried])
        .unwrap();
    assert_eq!(
        again.first_position, 1,
        "the retry is known as the original"
    );
    store
        .append(
            &stream("s2"),
            Expected::Exact(1600 + 2),
            vec![event(77_777)],
        )
        .unwrap();
    assert!(matches!(
        log::verify(&store).unwrap(),
        log::Verification::Intact { head: 5011, .. }
    ));
}

#[test]
fn an_open_store_asked_to_saves_a_snapshot_a_kill_leaves_for_the_next_open() {
    let dir = scratch();
    let store = open(dir.path());
    fill(&store, 20, 100);
    store.save_known_good().unwrap();
    assert!(
        !dir.path().join(SNAPSHOT).exists(),
        "not for a few thousand records"
    );
    fill(&store, 660, 100);
    store.save_known_good().unwrap();
    // What a kill -9 now would leave: the log and the snapshot, the store never closed.
    let copy = scratch();
    for name in [FileStore::FILE_NAME, SNAPSHOT] {
        std::fs::copy(dir.path().join(name), copy.path().join(name)).unwrap();
    }
    let reopened = open(copy.path());
    assert_eq!(reopened.opened_from(), 68_000);
    assert_eq!(everything(&reopened), everything(&store));
}

/// A scratch folder in memory when the system has one (tens of thousands of fsyncs).
fn scratch() -> tempfile::TempDir {
    match tempfile::tempdir_in("/dev/shm") {
        Ok(dir) => dir,
        Err(_) => tempfile::tempdir().unwrap(),
    }
}
