//! The scenario builders and readers shared by the `ferry audit` tests (`audit_cli`,
//! `audit_verify_cli`): a completed import, the audit log's facts, and the frames of the data
//! directory's log file.
#![allow(clippy::unwrap_used)] // Tests: a panic is a failed test.

use std::path::PathBuf;

use serde_json::Value;

use super::cli::{bind, connections, customer, export, import, vendor, Ferry};

/// Connections of `user` in `env`, then an import of pkg.zip there as `user`, run to
/// completion; returns the migration and the connections.
pub fn run_import(f: &Ferry, env: &str, user: &str) -> (String, (String, String)) {
    let mine = connections(f, env, user);
    let migration = import(f, "pkg.zip", env, user, &bind(&mine));
    let results = f.json(&format!("start {migration} --as {user} --wait"));
    assert_eq!(results["state"], "completed", "{results}");
    (migration, mine)
}

/// The vendor exports its app; the customer imports it into `cust/prod` as `cust/bob`.
pub fn one_import() -> (Ferry, String) {
    let f = Ferry::new();
    vendor(&f);
    export(&f, "pkg.zip");
    customer(&f);
    let (migration, _) = run_import(&f, "cust/prod", "cust/bob");
    (f, migration)
}

/// `ferry audit log --format json <filters>`: the facts.
pub fn facts(f: &Ferry, filters: &str) -> Vec<Value> {
    let out = f.ok(&format!("audit log --format json {filters}"));
    let parsed: Value = serde_json::from_str(&out).unwrap();
    parsed.as_array().unwrap().clone()
}

// The log file: frame = "FRY1" | body length u32 LE | crc32 u32 | flags u8 | body.

pub const HEADER: usize = 13;

pub fn log_file(f: &Ferry) -> PathBuf {
    f.data_dir().join("log").join("events.log")
}

/// A frame of the log file.
pub struct Frame {
    pub offset: usize,
    pub len: usize,
    /// Bit 0: the last record of its append.
    pub flags: u8,
}

/// Every frame; frame `i` holds log position `i + 1`.
pub fn frames(log: &[u8]) -> Vec<Frame> {
    let (mut found, mut at) = (Vec::new(), 0);
    while at < log.len() {
        assert_eq!(&log[at..at + 4], b"FRY1", "no frame starts at byte {at}");
        let len = u32::from_le_bytes(log[at + 4..at + 8].try_into().unwrap()) as usize;
        found.push(Frame {
            offset: at,
            len,
            flags: log[at + 12],
        });
        at += HEADER + len;
    }
    assert_eq!(at, log.len(), "the last frame overruns the file");
    found
}

/// The log's frames, after checking that there is one per record `audit verify` counts.
pub fn verified_frames(f: &Ferry) -> Vec<Frame> {
    let found = frames(&std::fs::read(log_file(f)).unwrap());
    let report = f.json("audit verify");
    assert_eq!(report["intact"], true, "{report}");
    assert_eq!(report["head"], found.len(), "{report}");
    found
}
