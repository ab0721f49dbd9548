//! Durable appends with 256-byte payloads, each next to a raw baseline measured in the same run:
//! a plain file with `write` + `fdatasync` of the same bytes at the same batch size.
//!
//! - `append/1-writer/{ferry,raw}`: one appender; every append is its own fsync.
//! - `append/64-writers/{ferry,raw}`: 64 threads appending to their own streams; Ferry's group
//!   commit batches them; the raw baseline writes batches of the size Ferry achieved.
//!
//! Files live under `target/` (a real disk), never in a tmpfs. `ops/bench/append.sh` runs this
//! and prints the ratios as a table and JSON.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use ferry_engine::log::{Expected, FileStore, Options, Store};
use ferry_schemas::{Actor, CorrelationId, EventId, NewEvent, StreamId};

const WRITERS: usize = 64;

fn event() -> NewEvent {
    NewEvent {
        event_id: EventId::new(),
        event_type: "Benchmarked".into(),
        schema_version: 1,
        tenant: None,
        actor: Actor::System,
        correlation_id: CorrelationId::new(),
        causation_id: None,
        payload: serde_json::Value::String("p".repeat(256)),
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("bench-append")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir under target/");
    dir
}

/// Bytes Ferry writes per record of this shape (frame header + canonical body).
fn record_size() -> usize {
    let dir = scratch("size");
    let store = FileStore::open(&dir, Options::default()).expect("open");
    let stream = StreamId::new("size").expect("stream id");
    for _ in 0..100 {
        store
            .append(&stream, Expected::Any, vec![event()])
            .expect("append");
    }
    let len = std::fs::metadata(dir.join(FileStore::FILE_NAME))
        .expect("log")
        .len();
    len as usize / 100
}

/// Appends `count` batches of `batch` records of `size` bytes with one fdatasync each.
fn raw(file: &mut File, size: usize, batch: usize, count: u64) -> Duration {
    let bytes = vec![b'r'; size * batch];
    let start = Instant::now();
    for _ in 0..count {
        file.write_all(&bytes).expect("write");
        file.sync_data().expect("fdatasync");
    }
    start.elapsed()
}

fn raw_file(name: &str) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(scratch(name).join("raw.log"))
        .expect("raw file")
}

fn one_writer(c: &mut Criterion) {
    let size = record_size();
    let mut group = c.benchmark_group("append/1-writer");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(8));
    let store = FileStore::open(&scratch("one"), Options::default()).expect("open");
    let stream = StreamId::new("one").expect("stream id");
    group.bench_function("ferry", |b| {
        b.iter(|| {
            store
                .append(&stream, Expected::Any, vec![event()])
                .expect("append")
        })
    });
    let mut file = raw_file("one-raw");
    group.bench_function("raw", |b| {
        b.iter_custom(|iters| raw(&mut file, size, 1, iters))
    });
    group.finish();
}

fn many_writers(c: &mut Criterion) {
    let size = record_size();
    let mut group = c.benchmark_group("append/64-writers");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(8));
    let store = Arc::new(FileStore::open(&scratch("many"), Options::default()).expect("open"));
    let streams: Vec<StreamId> = (0..WRITERS)
        .map(|w| StreamId::new(format!("w{w}")).expect("stream id"))
        .collect();
    // Per iteration: one append. Iterations are spread over 64 concurrent threads.
    group.bench_function("ferry", |b| {
        b.iter_custom(|iters| {
            let per_writer = iters.div_ceil(WRITERS as u64);
            let start = Instant::now();
            std::thread::scope(|scope| {
                for stream in &streams {
                    let store = Arc::clone(&store);
                    scope.spawn(move || {
                        for _ in 0..per_writer {
                            store
                                .append(stream, Expected::Any, vec![event()])
                                .expect("append");
                        }
                    });
                }
            });
            start
                .elapsed()
                .mul_f64(iters as f64 / (per_writer * WRITERS as u64) as f64)
        })
    });
    let (syncs, appends) = store.sync_stats();
    let batch = (appends / syncs.max(1)).max(1) as usize;
    eprintln!("group commit: {appends} appends in {syncs} fsyncs, mean batch {batch}");
    std::fs::write(
        Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("bench-append")
            .join("batch.txt"),
        batch.to_string(),
    )
    .expect("batch size note");
    let mut file = raw_file("many-raw");
    // Per iteration: one record, written in batches of the size group commit achieved.
    group.bench_function("raw", |b| {
        b.iter_custom(|iters| {
            let batches = iters.div_ceil(batch as u64);
            raw(&mut file, size, batch, batches)
                .mul_f64(iters as f64 / (batches * batch as u64) as f64)
        })
    });
    group.finish();
}

criterion_group!(benches, one_writer, many_writers);
criterion_main!(benches);
