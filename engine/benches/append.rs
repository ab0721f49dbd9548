//! Durable appends with 256-byte payloads, each next to a raw baseline measured in the same run:
//! a plain file with `write` + `fdatasync` of the same bytes at the same batch size.
//!
//! - `append/1-writer/{ferry,raw}`: one appender; every append is its own fsync.
//! - `append/64-writers/{ferry,raw}`: 64 threads appending to their own streams; Ferry's group
//!   commit batches them; the raw baseline writes batches of the size Ferry achieved.
//!
//! Files live under `target/` (a real disk), never in a tmpfs.
//!
//! The disk's latency drifts over minutes, so criterion's back-to-back groups make a noisy
//! ratio. After them, a **paired** comparison alternates Ferry and raw in short rounds and
//! reports the median of the per-round ratios (raw time / Ferry time) as a table and a JSON
//! line: that is the figure to compare against the targets.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, BatchSize, Criterion};
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
    // Building the event is the caller's work, not the log's: it stays out of the timing.
    group.bench_function("ferry", |b| {
        b.iter_batched(
            || vec![event()],
            |events| {
                store
                    .append(&stream, Expected::Any, events)
                    .expect("append")
            },
            BatchSize::SmallInput,
        )
    });
    let mut file = raw_file("one-raw");
    group.bench_function("raw", |b| {
        b.iter_custom(|iters| raw(&mut file, size, 1, iters))
    });
    group.finish();
}

/// Time for `per_writer` appends by each writer (one thread per stream, concurrently). The
/// events are built before the clock starts.
fn run_writers(store: &Arc<FileStore>, streams: &[StreamId], per_writer: usize) -> Duration {
    let events: Vec<Vec<Vec<NewEvent>>> = streams
        .iter()
        .map(|_| (0..per_writer).map(|_| vec![event()]).collect())
        .collect();
    // Threads start together after a barrier, so spawning them is not timed.
    let ready = std::sync::Barrier::new(streams.len() + 1);
    std::thread::scope(|scope| {
        for (stream, mine) in streams.iter().zip(events) {
            let store = Arc::clone(store);
            let ready = &ready;
            scope.spawn(move || {
                ready.wait();
                for batch in mine {
                    store.append(stream, Expected::Any, batch).expect("append");
                }
            });
        }
        ready.wait();
        Instant::now()
    })
    .elapsed()
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
            let elapsed = run_writers(&store, &streams, per_writer as usize);
            elapsed.mul_f64(iters as f64 / (per_writer * WRITERS as u64) as f64)
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

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    paired::report(record_size());
}

mod paired {
    //! Ferry and raw alternated round by round; the median per-round ratio.

    use super::*;

    const ROUNDS: usize = 41;

    /// Seconds for `count` single-event appends by one writer.
    fn ferry_one(store: &FileStore, stream: &StreamId, count: usize) -> f64 {
        let events: Vec<Vec<NewEvent>> = (0..count).map(|_| vec![event()]).collect();
        let start = Instant::now();
        for batch in events {
            store.append(stream, Expected::Any, batch).expect("append");
        }
        start.elapsed().as_secs_f64()
    }

    /// Seconds for `per_writer` appends by each of 64 writers, and the mean fsync batch.
    fn ferry_many(store: &Arc<FileStore>, streams: &[StreamId], per_writer: usize) -> (f64, usize) {
        let (syncs, appends) = store.sync_stats();
        let elapsed = run_writers(store, streams, per_writer).as_secs_f64();
        let (syncs_after, appends_after) = store.sync_stats();
        let batch = (appends_after - appends) / (syncs_after - syncs).max(1);
        (elapsed, batch.max(1) as usize)
    }

    fn median(mut values: Vec<f64>) -> f64 {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    }

    pub fn report(size: usize) {
        let one = FileStore::open(&scratch("paired-one"), Options::default()).expect("open");
        let stream = StreamId::new("paired").expect("stream id");
        let mut raw_one = raw_file("paired-one-raw");
        let mut ratios = Vec::new();
        for round in 0..ROUNDS {
            let count = 100;
            // Alternate which goes first, so drift within a round cancels out.
            let (ferry, raw) = if round % 2 == 0 {
                let f = ferry_one(&one, &stream, count);
                (f, raw(&mut raw_one, size, 1, count as u64).as_secs_f64())
            } else {
                let r = raw(&mut raw_one, size, 1, count as u64).as_secs_f64();
                (ferry_one(&one, &stream, count), r)
            };
            ratios.push((raw / ferry, ferry / count as f64, raw / count as f64));
        }
        let one_row = summarize("1 writer", 0.9, 1, &ratios);

        let many =
            Arc::new(FileStore::open(&scratch("paired-many"), Options::default()).expect("open"));
        let streams: Vec<StreamId> = (0..WRITERS)
            .map(|w| StreamId::new(format!("p{w}")).expect("stream id"))
            .collect();
        let mut raw_many = raw_file("paired-many-raw");
        let per_writer = 200;
        let records = (WRITERS * per_writer) as u64;
        let mut ratios = Vec::new();
        let mut batches = Vec::new();
        for _ in 0..ROUNDS {
            let (ferry, batch) = ferry_many(&many, &streams, per_writer);
            let raw = raw(&mut raw_many, size, batch, records.div_ceil(batch as u64)).as_secs_f64();
            let raw_records = (records.div_ceil(batch as u64) * batch as u64) as f64;
            let raw_per = raw / raw_records;
            let ferry_per = ferry / records as f64;
            ratios.push((raw_per / ferry_per, ferry_per, raw_per));
            batches.push(batch as f64);
        }
        let many_row = summarize("64 writers", 0.8, median(batches) as usize, &ratios);

        println!();
        println!("paired rounds: {ROUNDS}; record size {size} bytes; ratio = raw time / Ferry time (median of rounds)");
        println!(
            "{:<12}{:>14}{:>12}{:>8}{:>8}{:>8}  met",
            "case", "ferry µs/rec", "raw µs/rec", "batch", "ratio", "target"
        );
        for row in [&one_row, &many_row] {
            println!(
                "{:<12}{:>14.1}{:>12.1}{:>8}{:>8.3}{:>8}  {}",
                row.case,
                row.ferry_us,
                row.raw_us,
                row.batch,
                row.ratio,
                row.target,
                if row.ratio >= row.target { "yes" } else { "NO" }
            );
        }
        let json: Vec<String> = [&one_row, &many_row]
            .iter()
            .map(|r| {
                format!(
                    r#"{{"case":"{}","ferry_us":{:.1},"raw_us":{:.1},"batch":{},"ratio":{:.3},"target":{},"met":{}}}"#,
                    r.case, r.ferry_us, r.raw_us, r.batch, r.ratio, r.target, r.ratio >= r.target
                )
            })
            .collect();
        println!(
            r#"{{"benchmark":"append","record_bytes":{size},"rounds":{ROUNDS},"results":[{}]}}"#,
            json.join(",")
        );
    }

    struct Row {
        case: &'static str,
        ferry_us: f64,
        raw_us: f64,
        batch: usize,
        ratio: f64,
        target: f64,
    }

    fn summarize(case: &'static str, target: f64, batch: usize, rounds: &[(f64, f64, f64)]) -> Row {
        Row {
            case,
            ratio: median(rounds.iter().map(|r| r.0).collect()),
            ferry_us: median(rounds.iter().map(|r| r.1).collect()) * 1e6,
            raw_us: median(rounds.iter().map(|r| r.2).collect()) * 1e6,
            batch,
            target,
        }
    }
}
