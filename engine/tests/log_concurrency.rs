//! Many appenders on one stream: exactly one success per version, and group commit shares
//! fsyncs between them.
#![allow(clippy::unwrap_used)] // Tests: a panic is a failed test.

mod common;

use std::sync::{Arc, Barrier};

use common::{event, stream};
use ferry_engine::log::{Error, Expected, FileStore, MemoryStore, Options, Store};

const WRITERS: usize = 64;
const ROUNDS: u64 = 10;

fn race(store: Arc<dyn Store>) {
    let barrier = Arc::new(Barrier::new(WRITERS));
    let handles: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = Arc::clone(&store);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                let mut wins = Vec::new();
                for version in 0..ROUNDS {
                    barrier.wait();
                    match store.append(
                        &stream("contended"),
                        Expected::Exact(version),
                        vec![event(w as u64)],
                    ) {
                        Ok(appended) => wins.push(appended.stream_version),
                        Err(Error::Conflict { expected, .. }) => assert_eq!(expected, version),
                        Err(other) => panic!("writer {w}: {other}"),
                    }
                    barrier.wait();
                }
                wins
            })
        })
        .collect();
    let mut wins: Vec<u64> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    wins.sort_unstable();
    assert_eq!(
        wins,
        (1..=ROUNDS).collect::<Vec<_>>(),
        "exactly one success per version"
    );
    assert_eq!(store.read_all(1, usize::MAX).unwrap().len() as u64, ROUNDS);
}

#[test]
fn sixty_four_appenders_on_one_stream_get_one_success_per_version_in_memory() {
    race(Arc::new(MemoryStore::new()));
}

#[test]
fn sixty_four_appenders_on_one_stream_get_one_success_per_version_on_file() {
    let dir = tempfile::tempdir().unwrap();
    race(Arc::new(
        FileStore::open(dir.path(), Options::default()).unwrap(),
    ));
}

#[test]
fn concurrent_appends_to_distinct_streams_share_fsyncs() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FileStore::open(dir.path(), Options::default()).unwrap());
    let barrier = Arc::new(Barrier::new(WRITERS));
    let handles: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = Arc::clone(&store);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                for n in 0..20 {
                    store
                        .append(&stream(&format!("s{w}")), Expected::Any, vec![event(n)])
                        .unwrap();
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    let (syncs, appends) = store.sync_stats();
    assert_eq!(appends, (WRITERS * 20) as u64);
    assert!(
        syncs < appends,
        "group commit never batched: {syncs} fsyncs for {appends} appends"
    );
}
