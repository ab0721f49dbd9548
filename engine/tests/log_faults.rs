//! Durability and storage faults, through an injected [`Medium`]: acknowledgement waits for
//! fsync; a failed fsync or write acknowledges nothing and poisons the log; reopening recovers.
#![allow(clippy::unwrap_used)] // Tests: a panic is a failed test.

mod common;

use std::fs::File;
use std::io;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{event, stream};
use ferry_engine::log::{Error, Expected, FileStore, Medium, Options, Store};

/// Decides, per write, whether to fail it: `Some((bytes kept, error))`.
type WriteFault = Box<dyn FnMut(&[u8]) -> Option<(usize, io::ErrorKind)> + Send>;

/// Wraps the real file; what it does on `sync_data` is up to the test.
struct Scripted {
    file: File,
    on_sync: Box<dyn FnMut() -> io::Result<()> + Send>,
    on_write: WriteFault,
}

impl Medium for Scripted {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        if let Some((keep, kind)) = (self.on_write)(bytes) {
            io::Write::write_all(&mut self.file, &bytes[..keep])?;
            return Err(io::Error::from(kind));
        }
        io::Write::write_all(&mut self.file, bytes)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        (self.on_sync)()?;
        self.file.sync_data()
    }
}

fn open_scripted(
    dir: &std::path::Path,
    on_sync: impl FnMut() -> io::Result<()> + Send + 'static,
    on_write: impl FnMut(&[u8]) -> Option<(usize, io::ErrorKind)> + Send + 'static,
) -> FileStore {
    FileStore::open_with(dir, Options::default(), move |file| {
        Box::new(Scripted {
            file,
            on_sync: Box::new(on_sync),
            on_write: Box::new(on_write),
        })
    })
    .unwrap()
}

/// A store whose every fsync signals `entered` and then waits for a message on `release`.
fn open_with_gated_fsync(
    dir: &std::path::Path,
) -> (Arc<FileStore>, mpsc::Receiver<()>, mpsc::Sender<()>) {
    let (entered_tx, entered) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let store = Arc::new(open_scripted(
        dir,
        move || {
            entered_tx.send(()).ok();
            release_rx.lock().unwrap().recv().ok();
            Ok(())
        },
        |_| None,
    ));
    (store, entered, release)
}

#[test]
fn an_append_is_neither_acknowledged_nor_visible_before_its_fsync_returns() {
    let dir = tempfile::tempdir().unwrap();
    let (store, entered, release) = open_with_gated_fsync(dir.path());
    let appender = Arc::clone(&store);
    let (done_tx, done) = mpsc::channel();
    std::thread::spawn(move || {
        done_tx
            .send(appender.append(&stream("s"), Expected::Exact(0), vec![event(1)]))
            .ok();
    });
    entered
        .recv_timeout(Duration::from_secs(10))
        .expect("the writer reached fsync");
    // The writer is inside fsync: the append must still be waiting, and invisible.
    assert!(
        done.try_recv().is_err(),
        "acknowledged before fsync returned"
    );
    assert_eq!(store.head().unwrap().position, 0);
    assert!(store.read_all(1, 10).unwrap().is_empty());
    release.send(()).unwrap();
    let appended = done.recv_timeout(Duration::from_secs(10)).unwrap().unwrap();
    assert_eq!(appended.last_position, 1);
    assert_eq!(store.head().unwrap().position, 1);
    assert_eq!(store.sync_stats(), (1, 1));
}

#[test]
fn a_failed_fsync_acknowledges_nothing_and_poisons_the_log_until_reopened() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut syncs = 0;
        let store = open_scripted(
            dir.path(),
            move || {
                syncs += 1;
                if syncs == 2 {
                    Err(io::Error::from_raw_os_error(5))
                } else {
                    Ok(())
                }
            },
            |_| None,
        );
        store
            .append(&stream("s"), Expected::Exact(0), vec![event(1)])
            .unwrap();
        let failed = store.append(&stream("s"), Expected::Exact(1), vec![event(2)]);
        assert!(matches!(failed, Err(Error::Io { .. })), "got {failed:?}");
        assert_eq!(
            store.head().unwrap().position,
            1,
            "failed append became visible"
        );
        let refused = store.append(&stream("s"), Expected::Exact(1), vec![event(3)]);
        assert!(matches!(refused, Err(Error::Poisoned)), "got {refused:?}");
    }
    // Reopening recovers to what is on disk. The failed append's bytes reached the file
    // before fsync failed, so its outcome is unknown to the caller; a retry with the same
    // event ids is answered from the log, never applied twice.
    let store = FileStore::open(dir.path(), Options::default()).unwrap();
    assert!(store.head().unwrap().position >= 1);
    store
        .append(&stream("t"), Expected::Exact(0), vec![event(4)])
        .unwrap();
}

#[test]
fn a_short_write_on_a_full_disk_leaves_nothing_half_written_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut writes = 0;
        let store = open_scripted(
            dir.path(),
            || Ok(()),
            move |bytes| {
                writes += 1;
                (writes == 2).then_some((bytes.len() / 2, io::ErrorKind::StorageFull))
            },
        );
        store
            .append(&stream("s"), Expected::Exact(0), vec![event(1)])
            .unwrap();
        let full = store.append(&stream("s"), Expected::Exact(1), vec![event(2), event(3)]);
        let message = full.unwrap_err().to_string();
        assert!(
            message.contains("events.log"),
            "error should name the file: {message}"
        );
        assert!(matches!(
            store.append(&stream("s"), Expected::Any, vec![event(4)]),
            Err(Error::Poisoned)
        ));
    }
    let store = FileStore::open(dir.path(), Options::default()).unwrap();
    assert_eq!(
        store.head().unwrap().position,
        1,
        "the half-written append is gone"
    );
    assert_eq!(
        store
            .append(&stream("s"), Expected::Exact(1), vec![event(5)])
            .unwrap()
            .last_position,
        2
    );
}

#[test]
fn a_failed_flush_under_concurrency_wakes_every_waiter_and_none_hangs() {
    let dir = tempfile::tempdir().unwrap();
    let mut syncs = 0;
    let store = Arc::new(open_scripted(
        dir.path(),
        move || {
            syncs += 1;
            if syncs >= 3 {
                Err(io::Error::from_raw_os_error(5))
            } else {
                Ok(())
            }
        },
        |_| None,
    ));
    let (done_tx, done) = mpsc::channel();
    for w in 0..16 {
        let store = Arc::clone(&store);
        let done_tx = done_tx.clone();
        std::thread::spawn(move || {
            let results: Vec<bool> = (0..20)
                .map(|n| {
                    store
                        .append(&stream(&format!("w{w}")), Expected::Any, vec![event(n)])
                        .is_ok()
                })
                .collect();
            done_tx.send(results).ok();
        });
    }
    let mut acknowledged = 0;
    for _ in 0..16 {
        let results = done
            .recv_timeout(Duration::from_secs(30))
            .expect("an appender hung after a failed fsync");
        // Once an append failed, every later one of the same appender fails too.
        let first_failure = results.iter().position(|ok| !ok).unwrap_or(results.len());
        assert!(results[first_failure..].iter().all(|ok| !ok));
        acknowledged += first_failure as u64;
    }
    // Exactly what was acknowledged is visible.
    assert_eq!(store.head().unwrap().position, acknowledged);
}

#[test]
fn a_retry_while_the_original_is_being_flushed_waits_for_it_and_returns_the_original() {
    let dir = tempfile::tempdir().unwrap();
    let (store, entered, release) = open_with_gated_fsync(dir.path());
    let original = event(1);
    let spawn_append = |e: ferry_schemas::NewEvent| {
        let store = Arc::clone(&store);
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            tx.send(store.append(&stream("s"), Expected::Exact(0), vec![e]))
                .ok();
        });
        rx
    };
    let first = spawn_append(original.clone());
    entered.recv_timeout(Duration::from_secs(10)).unwrap();
    // The original is inside fsync; its retry must wait for that fsync, not fail or jump ahead.
    let retry = spawn_append(original);
    assert!(
        retry.recv_timeout(Duration::from_millis(200)).is_err(),
        "retry acknowledged before the original was durable"
    );
    release.send(()).unwrap();
    let first = first
        .recv_timeout(Duration::from_secs(10))
        .unwrap()
        .unwrap();
    // Any second flush (there is none to make) would block on the script: release it too.
    release.send(()).ok();
    let retry = retry
        .recv_timeout(Duration::from_secs(10))
        .unwrap()
        .unwrap();
    assert_eq!(retry, first);
    assert_eq!(store.head().unwrap().position, 1);
}

#[test]
fn a_panicking_medium_fails_the_append_and_poisons_the_log_instead_of_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open_scripted(
        dir.path(),
        || panic!("injected: the medium panicked"),
        |_| None,
    ));
    let appender = Arc::clone(&store);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        tx.send(appender.append(&stream("s"), Expected::Exact(0), vec![event(1)]))
            .ok();
    });
    let result = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the append hung");
    assert!(matches!(result, Err(Error::Io { .. })), "got {result:?}");
    assert!(matches!(
        store.append(&stream("s"), Expected::Any, vec![event(2)]),
        Err(Error::Poisoned)
    ));
    assert_eq!(store.head().unwrap().position, 0);
}
