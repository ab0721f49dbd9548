//! What a log did since it was opened, for operators' dashboards: appends and records written,
//! and how long making them durable took — the `fdatasync` of a group commit on the file
//! store, from send to the broker's confirmation on Kafka.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The upper bounds of the latency buckets, in seconds (Prometheus's `le`).
pub const BOUNDS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// How a store makes an append durable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Durability {
    /// Not at all (the memory store).
    #[default]
    None,
    /// `fdatasync` of the log file (one per group commit).
    Fsync,
    /// A produce confirmed by every in-sync replica.
    Produce,
}

/// A snapshot of a log's counters.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Stats {
    /// How appends are made durable.
    pub durability: Durability,
    /// Appends that wrote records (a repeated append is not counted again).
    pub appends: u64,
    /// Records written by them.
    pub records: u64,
    /// How many times durability was waited for (fsyncs, or produce round trips).
    pub durable_count: u64,
    /// The total time spent waiting, in seconds.
    pub durable_seconds: f64,
    /// Per bound of [`BOUNDS`], how many waits took at most that long (cumulative).
    pub durable_buckets: Vec<u64>,
}

/// Whether any store of this process wrote a record: a command that appended signs a due
/// audit checkpoint afterwards (whatever its exit code), and one that did not writes nothing.
static APPENDED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether this process appended to a log.
pub fn appended_here() -> bool {
    APPENDED.load(Ordering::Relaxed)
}

/// The live counters a store keeps; cheap to update from any thread.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    appends: AtomicU64,
    records: AtomicU64,
    waits: AtomicU64,
    waited_nanos: AtomicU64,
    buckets: [AtomicU64; BOUNDS.len()],
}

impl Recorder {
    /// `appends` appends wrote `records` records.
    pub(crate) fn appended(&self, appends: u64, records: u64) {
        if records > 0 {
            APPENDED.store(true, Ordering::Relaxed);
        }
        self.appends.fetch_add(appends, Ordering::Relaxed);
        self.records.fetch_add(records, Ordering::Relaxed);
    }

    /// Making something durable took `took`.
    pub(crate) fn waited(&self, took: Duration) {
        self.waits.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.waited_nanos.fetch_add(nanos, Ordering::Relaxed);
        let seconds = took.as_secs_f64();
        if let Some(i) = BOUNDS.iter().position(|bound| seconds <= *bound) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The counters now.
    pub(crate) fn snapshot(&self, durability: Durability) -> Stats {
        let mut cumulative = 0;
        let durable_buckets = self
            .buckets
            .iter()
            .map(|bucket| {
                cumulative += bucket.load(Ordering::Relaxed);
                cumulative
            })
            .collect();
        Stats {
            durability,
            appends: self.appends.load(Ordering::Relaxed),
            records: self.records.load(Ordering::Relaxed),
            durable_count: self.waits.load(Ordering::Relaxed),
            durable_seconds: Duration::from_nanos(self.waited_nanos.load(Ordering::Relaxed))
                .as_secs_f64(),
            durable_buckets,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_land_in_cumulative_buckets() {
        let recorder = Recorder::default();
        recorder.appended(1, 3);
        recorder.waited(Duration::from_micros(50));
        recorder.waited(Duration::from_millis(3));
        recorder.waited(Duration::from_secs(9));
        let stats = recorder.snapshot(Durability::Fsync);
        assert_eq!(
            (stats.appends, stats.records, stats.durable_count),
            (1, 3, 3)
        );
        assert_eq!(stats.durable_buckets[0], 1, "50 µs ≤ 0.1 ms");
        assert_eq!(stats.durable_buckets[5], 2, "3 ms ≤ 5 ms");
        // Beyond the last bound: counted in the total only (Prometheus's +Inf bucket).
        assert_eq!(*stats.durable_buckets.last().unwrap(), 2);
        assert!((stats.durable_seconds - 9.00305).abs() < 1e-9);
    }
}
