//! Sharing migrations among worker processes: every worker joins the consumer group of the work
//! topic, and owns the migrations whose partition (a hash of the migration id) the group
//! assigned to it. The topic carries no data — the migrations and their state are on the log;
//! the group only divides them. When a worker dies, the group reassigns its partitions and the
//! new owners resume its migrations from the log. Ownership keeps two workers off one migration
//! almost always; the log's first-claim-wins rule keeps the rare overlap during a rebalance
//! harmless (the loser's step is a conflict, not a second application).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};

use super::super::Result;
use super::{Connection, Topics, PATIENCE};

/// This process's membership of the workers' group.
pub struct WorkGroup {
    partitions: usize,
    owned: Arc<RwLock<HashSet<i32>>>,
    closed: Arc<AtomicBool>,
    member: Option<JoinHandle<()>>,
}

impl WorkGroup {
    /// Joins the group `topics.group()` on `topics.work()`.
    pub fn join(connection: &Connection, topics: &Topics) -> Result<WorkGroup> {
        let consumer: BaseConsumer = connection
            .config()
            .set("group.id", topics.group())
            .set("enable.auto.commit", "false")
            .set("session.timeout.ms", "20000")
            .set("heartbeat.interval.ms", "500")
            .set("partition.assignment.strategy", "cooperative-sticky")
            .create()
            .map_err(|e| connection.error("joining the workers' group on", e))?;
        let metadata = consumer
            .fetch_metadata(Some(&topics.work()), PATIENCE)
            .map_err(|e| connection.error("reading the work topic of", e))?;
        let partitions = metadata
            .topics()
            .first()
            .map_or(0, |t| t.partitions().len())
            .max(1);
        consumer
            .subscribe(&[&topics.work()])
            .map_err(|e| connection.error("joining the workers' group on", e))?;
        let owned = Arc::new(RwLock::new(HashSet::new()));
        let closed = Arc::new(AtomicBool::new(false));
        let member = {
            let (owned, closed) = (owned.clone(), closed.clone());
            std::thread::Builder::new()
                .name("ferry-work-group".into())
                .spawn(move || {
                    while !closed.load(Ordering::Acquire) {
                        // Polling keeps the membership alive and runs rebalances.
                        let _ = consumer.poll(Duration::from_millis(100));
                        let now: HashSet<i32> = consumer
                            .assignment()
                            .map(|list| list.elements().iter().map(|e| e.partition()).collect())
                            .unwrap_or_default();
                        let mut owned = owned.write().unwrap_or_else(|e| e.into_inner());
                        if *owned != now {
                            tracing::info!(partitions = ?now, "work assignment changed");
                            *owned = now;
                        }
                    }
                    // Dropping the consumer leaves the group, so the others rebalance at once.
                })
                .map_err(|source| super::super::Error::Io {
                    action: "starting the group member of",
                    path: std::path::PathBuf::from(topics.work()),
                    source,
                })?
        };
        Ok(WorkGroup {
            partitions,
            owned,
            closed,
            member: Some(member),
        })
    }

    /// Waits until the group has given this process partitions, or `timeout` passes (a group
    /// with more members than partitions leaves some without); returns how many it owns.
    pub fn settle(&self, timeout: Duration) -> usize {
        let deadline = std::time::Instant::now() + timeout;
        while self.owned() == 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        self.owned()
    }

    /// Whether this process owns the work keyed by `key` (a migration id's bytes).
    pub fn owns(&self, key: &[u8]) -> bool {
        let partition = partition_of(key, self.partitions);
        self.owned
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&partition)
    }

    /// How many partitions the work topic has.
    pub fn partitions(&self) -> usize {
        self.partitions
    }

    /// How many partitions this process owns now.
    pub fn owned(&self) -> usize {
        self.owned.read().unwrap_or_else(|e| e.into_inner()).len()
    }
}

impl Drop for WorkGroup {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::Release);
        if let Some(member) = self.member.take() {
            let _ = member.join();
        }
    }
}

/// The work partition of `key`: stable across processes, machines and versions.
pub fn partition_of(key: &[u8], partitions: usize) -> i32 {
    let digest = ferry_schemas::Digest::of(key);
    let mut first = [0; 8];
    first.copy_from_slice(&digest.as_bytes()[..8]);
    (u64::from_be_bytes(first) % partitions.max(1) as u64) as i32
}
