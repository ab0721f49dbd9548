//! Helpers shared by the engine's integration tests: the log's, and the audit's (`audit`).
#![allow(clippy::unwrap_used)] // Tests: a panic is a failed test.
#![allow(dead_code)]

pub mod audit;

use std::path::Path;

use ferry_engine::log::{Expected, FileStore, Options, Store};
use ferry_schemas::{Actor, CorrelationId, EventId, NewEvent, StreamId};

pub fn event(n: u64) -> NewEvent {
    NewEvent {
        event_id: EventId::new(),
        event_type: "Tested".into(),
        schema_version: 1,
        tenant: None,
        actor: Actor::Operator,
        correlation_id: CorrelationId::new(),
        causation_id: None,
        payload: serde_json::json!({ "n": n, "pad": "x".repeat(200) }),
    }
}

pub fn stream(name: &str) -> StreamId {
    StreamId::new(name).expect("valid stream id")
}

/// The byte offset of every frame in a log file, parsed independently of the store.
pub fn frame_offsets(log: &[u8]) -> Vec<usize> {
    let mut offsets = Vec::new();
    let mut at = 0;
    while at + 13 <= log.len() {
        offsets.push(at);
        let len = u32::from_le_bytes(log[at + 4..at + 8].try_into().expect("4 bytes")) as usize;
        at += 13 + len;
    }
    offsets
}

/// Writes appends of the given sizes to a fresh log in `dir` and closes it.
pub fn write_log(dir: &Path, appends: &[usize]) {
    let store = FileStore::open(dir, Options::default()).expect("open");
    let mut n = 0;
    for &count in appends {
        let events = (0..count)
            .map(|_| {
                n += 1;
                event(n)
            })
            .collect();
        store
            .append(&stream("s"), Expected::Any, events)
            .expect("append");
    }
}

pub fn log_path(dir: &Path) -> std::path::PathBuf {
    dir.join(FileStore::FILE_NAME)
}
