//! The audit of the log file against tampering, end to end on real data directories: a byte
//! changed, a frame cut, records removed at a frame boundary, and a history rewritten with
//! every hash and CRC recomputed are each reported by `audit::verify` at the right position,
//! without `verify` touching the file.
//!
//! The random choices come from a xorshift generator whose seed is printed; set
//! `FERRY_TAMPER_SEED` to replay them (ids and recorded times are fresh on every run).
#![allow(clippy::unwrap_used)] // Tests: a panic is a failed test.

mod common;

use std::fs;
use std::path::PathBuf;

use chrono::DateTime;
use common::audit::{interleaved, name, scratch, Rng};
use ferry_engine::audit::{self, Checkpoint, Checkpoints, Keys, PublicKey};
use ferry_engine::data_dir::DataDir;
use ferry_engine::directory::{self, Command};
use ferry_engine::log::{scan, Expected, Options};
use ferry_schemas::{Actor, CorrelationId, Digest, EventId, NewEvent, Record, StreamId, TenantId};

// ---------------------------------------------------------------------------------------------
// The log file, mutated in a closed data directory

const MAGIC: &[u8; 4] = b"FRY1";
const HEADER: usize = 13;

/// One frame of the log file, parsed independently of the engine.
struct Frame {
    offset: usize,
    len: usize,
    flags: u8,
    body: Vec<u8>,
}

fn frames(log: &[u8]) -> Vec<Frame> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < log.len() {
        assert_eq!(&log[at..at + 4], MAGIC, "frame at byte {at}");
        let len = u32::from_le_bytes(log[at + 4..at + 8].try_into().unwrap()) as usize;
        out.push(Frame {
            offset: at,
            len: HEADER + len,
            flags: log[at + 12],
            body: log[at + HEADER..at + HEADER + len].to_vec(),
        });
        at += HEADER + len;
    }
    out
}

/// A frame as the log writes it: magic, body length, CRC-32 of flags and body, flags, body.
fn encode(body: &[u8], flags: u8, out: &mut Vec<u8>) {
    let mut crc = crc32fast::Hasher::new();
    crc.update(&[flags]);
    crc.update(body);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.push(flags);
    out.extend_from_slice(body);
}

/// A closed data directory: three interleaved tenants, checkpoints between, the last one at
/// the head.
struct Closed {
    _tmp: tempfile::TempDir,
    path: PathBuf,
    key: PublicKey,
    log: Vec<u8>,
    frames: Vec<Frame>,
    checkpoints: Vec<Checkpoint>,
}

impl Closed {
    fn new(rng: &mut Rng) -> Closed {
        let tmp = scratch();
        let path = tmp.path().join("data");
        let key = {
            let mut history = interleaved(&path, rng, 3, 14, 3);
            history.checkpoint();
            history.key()
        };
        let log = fs::read(audit::log_file(&path)).unwrap();
        let frames = frames(&log);
        for (i, frame) in frames.iter().enumerate() {
            assert_eq!(
                Record::from_body(&frame.body).unwrap().position,
                i as u64 + 1
            );
        }
        let checkpoints = Checkpoints::at(&audit::dir(&path)).load().unwrap();
        assert_eq!(checkpoints.len(), 4);
        assert_eq!(checkpoints.last().unwrap().head, frames.len() as u64);
        Closed {
            _tmp: tmp,
            path,
            key,
            log,
            frames,
            checkpoints,
        }
    }

    fn log_file(&self) -> PathBuf {
        audit::log_file(&self.path)
    }

    /// Writes `bytes` as the log, verifies, checks verify left the file as it was, and puts the
    /// original log back.
    fn verify_with(&self, bytes: &[u8]) -> audit::Verified {
        fs::write(self.log_file(), bytes).unwrap();
        let verified = audit::verify(&self.path, &self.key).unwrap();
        assert_eq!(
            fs::read(self.log_file()).unwrap(),
            bytes,
            "verify must not modify the log"
        );
        fs::write(self.log_file(), &self.log).unwrap();
        verified
    }
}

#[test]
fn a_clean_log_verifies_with_its_head_and_digest() {
    let closed = Closed::new(&mut Rng::seeded("clean"));
    let verified = audit::verify(&closed.path, &closed.key).unwrap();
    let last = closed.frames.last().unwrap();
    assert_eq!(verified.finding, None);
    assert_eq!(verified.head, closed.frames.len() as u64);
    assert_eq!(verified.digest, Digest::of(&last.body));
    assert_eq!(verified.digest, Record::from_body(&last.body).unwrap().hash);
    assert_eq!(verified.checkpoints, closed.checkpoints.len());
    assert_eq!(fs::read(closed.log_file()).unwrap(), closed.log);

    // Checked with another key, the first checkpoint is the one that fails.
    let stranger = Keys::load_or_create(&closed.path.join("stranger")).unwrap();
    let verified = audit::verify(&closed.path, &stranger.public()).unwrap();
    let finding = verified.finding.unwrap();
    assert_eq!(finding.position, Some(closed.checkpoints[0].head));
    assert!(finding.problem.contains("does not verify"), "{finding:?}");
}

#[test]
fn a_changed_byte_in_any_frame_is_reported_at_its_position() {
    let mut rng = Rng::seeded("flip");
    let closed = Closed::new(&mut rng);
    for (i, frame) in closed.frames.iter().enumerate() {
        let position = i as u64 + 1;
        // Header or body, every frame byte is covered (magic, length bound, CRC).
        let at = frame.offset + rng.below(frame.len);
        let mut bytes = closed.log.clone();
        bytes[at] ^= 1 + rng.below(255) as u8;
        let verified = closed.verify_with(&bytes);
        let finding = verified.finding.expect("a changed byte is found");
        assert_eq!(
            finding.position,
            Some(position),
            "byte {} of frame {position}: {finding:?}",
            at - frame.offset
        );
        assert_eq!(verified.head, position - 1);
    }
}

#[test]
fn a_log_cut_inside_a_frame_is_reported_at_that_frame_and_left_as_it_is() {
    let mut rng = Rng::seeded("cut");
    let closed = Closed::new(&mut rng);
    for (i, frame) in closed.frames.iter().enumerate() {
        let position = i as u64 + 1;
        let cut = frame.offset + 1 + rng.below(frame.len - 1);
        let verified = closed.verify_with(&closed.log[..cut]);
        let finding = verified.finding.expect("a cut frame is found");
        assert_eq!(
            finding.position,
            Some(position),
            "cut at {cut}: {finding:?}"
        );
        assert_eq!(verified.head, position - 1);
    }

    // Opening the data directory would truncate the torn tail; verify reported it as it was.
    // Once truncated, the checkpoints still tell that records are missing.
    let middle = &closed.frames[closed.frames.len() / 2];
    let position = (closed.frames.len() / 2) as u64 + 1;
    fs::write(
        closed.log_file(),
        &closed.log[..middle.offset + middle.len / 2],
    )
    .unwrap();
    drop(DataDir::open(&closed.path, Options::default()).unwrap());
    assert_eq!(
        fs::metadata(closed.log_file()).unwrap().len(),
        middle.offset as u64,
        "opening truncated the torn frame"
    );
    let finding = audit::verify(&closed.path, &closed.key)
        .unwrap()
        .finding
        .unwrap();
    assert_eq!(finding.position, Some(position));
    assert!(
        finding.problem.contains("records were removed"),
        "{finding:?}"
    );
}

#[test]
fn records_cut_off_at_a_frame_boundary_are_reported_by_the_checkpoint_that_covers_them() {
    let closed = Closed::new(&mut Rng::seeded("boundary"));
    for kept in 0..closed.frames.len() {
        let verified = closed.verify_with(&closed.log[..closed.frames[kept].offset]);
        assert_eq!(verified.head, kept as u64);
        let finding = verified.finding.expect("a signed checkpoint covers more");
        assert_eq!(finding.position, Some(kept as u64 + 1), "{finding:?}");
        assert!(
            finding.problem.contains("records were removed"),
            "{finding:?}"
        );
        let first_later = closed
            .checkpoints
            .iter()
            .find(|cp| cp.head > kept as u64)
            .unwrap();
        assert!(
            finding
                .problem
                .contains(&format!("covers up to {}", first_later.head)),
            "{finding:?}"
        );
    }
}

#[test]
fn records_cut_off_inside_a_signed_append_are_reported_from_the_first_missing_one() {
    let tmp = scratch();
    let path = tmp.path().join("data");
    let tenant = TenantId::new();
    let key = {
        let (dir, _) = DataDir::init(&path, Options::default()).unwrap();
        directory::execute(
            dir.log(),
            Command::CreateTenant {
                id: tenant,
                name: name("acme"),
            },
        )
        .unwrap();
        let stream = StreamId::new("audit-test").unwrap();
        let event = |n: u64| NewEvent {
            event_id: EventId::new(),
            event_type: "Tested".into(),
            schema_version: 1,
            tenant: Some(tenant),
            actor: Actor::Operator,
            correlation_id: CorrelationId::new(),
            causation_id: None,
            payload: serde_json::json!({ "n": n }),
        };
        // Positions 2..=4 are one append, 5..=6 another.
        let appended = dir
            .log()
            .append(&stream, Expected::Any, (2..=4).map(event).collect())
            .unwrap();
        assert_eq!((appended.first_position, appended.last_position), (2, 4));
        dir.log()
            .append(&stream, Expected::Any, (5..=6).map(event).collect())
            .unwrap();
        audit::checkpoint(&path, dir.keys(), DateTime::UNIX_EPOCH).unwrap();
        dir.keys().public()
    };
    let log = fs::read(audit::log_file(&path)).unwrap();
    let frames = frames(&log);
    assert_eq!(
        frames.iter().map(|f| f.flags & 1).collect::<Vec<_>>(),
        [1, 0, 0, 1, 0, 1]
    );
    // Keep positions 1..=3: the signed checkpoint at 6 proves 4..=6 existed.
    fs::write(audit::log_file(&path), &log[..frames[3].offset]).unwrap();
    let verified = audit::verify(&path, &key).unwrap();
    let finding = verified.finding.unwrap();
    assert_eq!(verified.head, 3);
    assert_eq!(finding.position, Some(4), "{finding:?}");
    assert!(
        finding.problem.contains("records were removed"),
        "{finding:?}"
    );
}

#[test]
fn history_rewritten_with_every_hash_recomputed_scans_clean_but_fails_its_checkpoint() {
    let closed = Closed::new(&mut Rng::seeded("rewrite"));
    let edited = 3usize; // the second tenant's creation, before the first checkpoint
    let mut rewritten = Vec::new();
    let mut prev = Digest::ZERO;
    for (i, frame) in closed.frames.iter().enumerate() {
        let mut record = Record::from_body(&frame.body).unwrap();
        if i + 1 < edited {
            // Re-encoding gives the stored bytes back: the rewrite below changes only what
            // it means to.
            assert_eq!(record.body_bytes(), frame.body);
        }
        if i + 1 == edited {
            record.payload["name"] = serde_json::json!("rewritten");
        }
        record.prev_hash = prev;
        let body = record.body_bytes();
        prev = Digest::of(&body);
        encode(&body, frame.flags, &mut rewritten);
    }
    assert_ne!(rewritten, closed.log);
    fs::write(closed.log_file(), &rewritten).unwrap();

    // Every frame, hash link, position and stream version checks out...
    let scanned = scan::scan(&closed.log_file(), |_, _| {}).unwrap();
    assert_eq!(scanned.problem, None);
    assert_eq!(scanned.head, closed.frames.len() as u64);
    assert_eq!(scanned.digest, prev);
    drop(DataDir::open(&closed.path, Options::default()).unwrap());
    assert_eq!(
        fs::read(closed.log_file()).unwrap(),
        rewritten,
        "the store accepts it"
    );

    // ...but the first checkpoint signed over the edited record no longer matches.
    let checkpoint = closed
        .checkpoints
        .iter()
        .find(|cp| cp.head >= edited as u64)
        .unwrap();
    let verified = audit::verify(&closed.path, &closed.key).unwrap();
    let finding = verified.finding.unwrap();
    assert_eq!(finding.position, Some(checkpoint.head), "{finding:?}");
    assert!(finding.problem.contains("rewritten"), "{finding:?}");
    assert_eq!(fs::read(closed.log_file()).unwrap(), rewritten);
}
