//! Verifying the audit trail, end to end through the real `ferry` binary: `audit verify` of the
//! data directory's log before and after a checkpoint and against a flipped byte or a cut (the
//! damaged record reported, the log left as found), and of an offline bundle against tampering
//! and a wrong key.
#![allow(clippy::unwrap_used)] // Tests: a panic is a failed test.

mod common {
    pub mod audit;
    #[allow(dead_code)] // Shared by several test crates; each uses a part.
    pub mod cli;
    #[allow(dead_code)] // The Kafka harness: used when FERRY_TEST_LOG=kafka.
    pub mod kafka;
}

use std::io::{Cursor, Read, Write};
use std::path::Path;
use std::process::Command;

use common::audit::{facts, log_file, one_import, verified_frames, HEADER};
use common::cli::{Ferry, Run};
use serde_json::Value;

// Reading what ferry prints.

/// The number after the first "position " in `message`.
fn first_position(message: &str) -> Option<u64> {
    let (_, after) = message.split_once("position ")?;
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

// Damaging the log file (its frames: `common::audit`).

/// Which record to damage.
#[derive(Clone, Copy)]
enum Target {
    /// The one in the middle of the log.
    Middle,
    /// The first one of an append, from the middle on.
    FirstOfAppend,
    /// One after the first of a many-record append (the export's).
    InsideAppend,
}

/// The position of the `target` record and the byte in the middle of its body.
fn locate(f: &Ferry, target: Target) -> (u64, usize) {
    let found = verified_frames(f);
    let ends_append = |i: usize| found[i].flags & 1 == 1;
    let index = match target {
        Target::Middle => Some(found.len() / 2),
        Target::FirstOfAppend => (found.len() / 2..found.len()).find(|&i| ends_append(i - 1)),
        Target::InsideAppend => (1..found.len()).find(|&i| !ends_append(i - 1)),
    }
    .unwrap();
    let frame = &found[index];
    (index as u64 + 1, frame.offset + HEADER + frame.len / 2)
}

/// Flips a bit in the body of the `target` record; returns its position.
fn flip(f: &Ferry, target: Target) -> u64 {
    let (position, byte) = locate(f, target);
    let mut log = std::fs::read(log_file(f)).unwrap();
    log[byte] ^= 0x20;
    std::fs::write(log_file(f), log).unwrap();
    position
}

/// Cuts the log in the middle of the `target` record's body; returns its position.
fn cut(f: &Ferry, target: Target) -> u64 {
    let (position, byte) = locate(f, target);
    let log = std::fs::read(log_file(f)).unwrap();
    std::fs::write(log_file(f), &log[..byte]).unwrap();
    position
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

// Bundles.

/// Runs `ferry --data-dir <data_dir> <line>` in `f`'s work directory.
fn run_at(f: &Ferry, data_dir: &Path, line: &str) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .env_remove("FERRY_AS")
        .env_remove("FERRY_DATA_DIR")
        .arg("--data-dir")
        .arg(data_dir)
        .args(line.split_whitespace())
        .current_dir(f.path(""))
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// The contents of the bundle's entry `name`.
fn entry(bundle: &[u8], name: &str) -> String {
    let mut zip = zip::ZipArchive::new(Cursor::new(bundle)).unwrap();
    let mut contents = String::new();
    zip.by_name(name)
        .unwrap()
        .read_to_string(&mut contents)
        .unwrap();
    contents
}

/// The bundle with `edit` applied to its entry `entry`, written again as a well-formed zip.
fn rewrite(bundle: &[u8], entry: &str, edit: impl Fn(&str) -> String) -> Vec<u8> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bundle)).unwrap();
    let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for index in 0..zip.len() {
        let mut file = zip.by_index(index).unwrap();
        let name = file.name().unwrap().into_owned();
        let mut contents = String::new();
        file.read_to_string(&mut contents).unwrap();
        if name == entry {
            contents = edit(&contents);
        }
        out.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        out.write_all(contents.as_bytes()).unwrap();
    }
    out.finish().unwrap().into_inner()
}

// Verification of the data directory.

#[test]
fn a_log_verifies_whole_before_and_after_a_checkpoint() {
    let (f, _) = one_import();
    let records = verified_frames(&f).len();
    let report = f.json("audit verify");
    assert_eq!(report["head"], records);
    assert_eq!(report["position"], Value::Null);
    assert_eq!(report["problem"], Value::Null);
    f.ok("audit checkpoint");
    let report = f.json("audit verify");
    assert_eq!(report["intact"], true, "{report}");
    assert!(report["checkpoints"].as_u64().unwrap() >= 1, "{report}");
    assert_eq!(report["head"], records);
    let says = f.ok("audit verify");
    assert!(says.contains("intact"), "{says}");
}

#[test]
fn a_flipped_byte_in_the_log_is_reported_at_the_record_it_damaged() {
    let (f, _) = one_import();
    let position = flip(&f, Target::Middle);
    let damaged = std::fs::read(log_file(&f)).unwrap();
    let run = f.run("audit verify");
    assert_ne!(run.code, 0, "{}", run.stdout);
    assert_eq!(
        first_position(&run.stderr),
        Some(position),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read(log_file(&f)).unwrap(),
        damaged,
        "verify wrote"
    );
}

#[test]
fn a_flipped_byte_in_the_log_fails_verification_with_exit_6() {
    let (f, _) = one_import();
    let position = flip(&f, Target::Middle);
    f.refused(6, "audit verify", &[&format!("position {position}:")]);
    let report = f.json_code(6, "audit verify");
    assert_eq!(report["intact"], false, "{report}");
    assert_eq!(report["position"], position, "{report}");
}

#[test]
fn a_log_cut_in_the_middle_fails_verification_at_the_record_cut() {
    let (f, _) = one_import();
    f.ok("audit checkpoint");
    let position = cut(&f, Target::FirstOfAppend);
    let stderr = f.refused(6, "audit verify", &["does not verify"]);
    assert_eq!(first_position(&stderr), Some(position), "{stderr}");
    let report = f.json_code(6, "audit verify");
    assert_eq!(report["intact"], false, "{report}");
    assert_eq!(report["position"], position, "{report}");
}

#[test]
fn verification_leaves_a_cut_log_as_it_found_it() {
    // Inside an append, recovery drops the append's intact records too (and reports its first);
    // with no checkpoint past the cut, what is left then verifies as intact.
    for (checkpoint, target) in [(true, Target::InsideAppend), (false, Target::FirstOfAppend)] {
        let (f, _) = one_import();
        if checkpoint {
            f.ok("audit checkpoint");
        }
        let position = cut(&f, target);
        let len = file_len(&log_file(&f));
        let report = f.json_code(6, "audit verify");
        assert_eq!(report["position"], position, "{report}");
        assert_eq!(file_len(&log_file(&f)), len, "verify changed the log");
    }
}

// Bundles, verified without a data directory.

#[test]
fn a_bundle_verifies_offline_and_tampering_or_a_wrong_key_fails_it() {
    let (f, _) = one_import();
    f.ok("audit export --tenant cust --out cust.zip");
    let key = f.ok("audit key").trim().to_owned();
    let nowhere = f.path("no-data-here");
    let verify = |bundle: &str, key: &str| {
        run_at(
            &f,
            &nowhere,
            &format!("audit verify --bundle {bundle} --key {key} --json"),
        )
    };

    let run = verify("cust.zip", &key);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["intact"], true);
    assert_eq!(report["tenant_name"], "cust");
    assert_eq!(report["records"], facts(&f, "--tenant cust").len());
    assert!(
        !nowhere.exists(),
        "verifying a bundle made a data directory"
    );

    let bundle = std::fs::read(f.path("cust.zip")).unwrap();
    let mut flipped = bundle.clone();
    flipped[bundle.len() / 2] ^= 0x01;
    f.write("flipped.zip", &flipped);
    f.write(
        "same.zip",
        &rewrite(&bundle, "records.jsonl", str::to_owned),
    );
    let renamed = |s: &str| s.replacen("\"name\":\"cust\"", "\"name\":\"evil\"", 1);
    f.write("edited.zip", &rewrite(&bundle, "records.jsonl", renamed));
    let dropped = |s: &str| {
        let mut lines: Vec<&str> = s.lines().collect();
        lines.remove(lines.len() / 2);
        lines.join("\n") + "\n"
    };
    f.write("dropped.zip", &rewrite(&bundle, "records.jsonl", dropped));
    let records = entry(&bundle, "records.jsonl");
    assert_ne!(renamed(&records), records, "the edit edits nothing");

    assert_eq!(
        verify("same.zip", &key).code,
        0,
        "the rewrite alone breaks it"
    );
    for bad in ["flipped.zip", "edited.zip", "dropped.zip"] {
        let run = verify(bad, &key);
        assert_eq!(run.code, 6, "{bad} verified: {}", run.stdout);
        assert!(run.stderr.contains("does not verify"), "{}", run.stderr);
    }
    let other = Ferry::new();
    let other_key = other.ok("audit key").trim().to_owned();
    assert_ne!(other_key, key);
    let run = verify("cust.zip", &other_key);
    assert_eq!(run.code, 6, "{}", run.stdout);
    assert!(
        run.stderr.contains("not by the pinned key"),
        "{}",
        run.stderr
    );
}
