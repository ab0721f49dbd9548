//! The audit machinery against tampering, end to end on real data directories.
//!
//! - Bundles: 1,000 seeded random mutations of an exported tenant bundle (a byte edited, a
//!   record deleted, two swapped, the records cut short, a checkpoint signature replaced, a
//!   record of another tenant spliced in, a checkpoint's chain head or tenants root edited, the
//!   zip cut short) must all fail `bundle::verify`; 1,000 untouched bundles, exported of every
//!   tenant at different points of a growing history, must all verify (no false alarm).
//! - The log: a byte changed, a frame cut, records removed at a frame boundary, and a history
//!   rewritten with every hash and CRC recomputed are each reported by `audit::verify` at the
//!   right position, without `verify` touching the file.
//!
//! The random choices come from a xorshift generator whose seed is printed; set
//! `FERRY_TAMPER_SEED` to replay them (ids and recorded times are fresh on every run).
#![allow(clippy::unwrap_used)] // Tests: a panic is a failed test.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, TimeDelta, Utc};
use ferry_engine::audit::bundle::{self, Proven};
use ferry_engine::audit::{self, Checkpoint, Checkpoints, Keys, PublicKey};
use ferry_engine::data_dir::DataDir;
use ferry_engine::directory::{self, Command};
use ferry_engine::environment::author;
use ferry_engine::executor::Executor;
use ferry_engine::log::{scan, Expected, Options};
use ferry_schemas::directory::{License, Name};
use ferry_schemas::environment::ResourceCreated;
use ferry_schemas::resource::Kind;
use ferry_schemas::{
    Actor, CorrelationId, Digest, EnvironmentId, EventId, NewEvent, PrincipalId, Record,
    ResourceId, StreamId, TenantId,
};

// ---------------------------------------------------------------------------------------------
// Seeded randomness

/// xorshift64*: small, seedable, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    /// Seeded from `FERRY_TAMPER_SEED`, else from the clock; prints the seed either way.
    fn seeded(test: &str) -> Rng {
        let seed = std::env::var("FERRY_TAMPER_SEED")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        println!("{test}: seed {seed} (replay with FERRY_TAMPER_SEED={seed})");
        // xorshift must not start at zero.
        Rng((seed ^ 0x9E37_79B9_7F4A_7C15).max(1))
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True with probability `percent` / 100.
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        for b in &mut out {
            *b = self.next() as u8;
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// A growing history of interleaved tenants in an open data directory

struct Tenant {
    id: TenantId,
    name: Name,
    environments: Vec<EnvironmentId>,
    users: usize,
    /// How many records on the log carry this tenant.
    records: u64,
}

/// An open data directory that tenants' records are appended to, with checkpoints signed and
/// bundles exported while it is open (they read the log without its lock).
struct History {
    path: PathBuf,
    dir: DataDir,
    executor: Executor,
    tenants: Vec<Tenant>,
    /// The clock of checkpoints: one second further at each, so no two are alike.
    time: DateTime<Utc>,
}

/// A scratch folder, in memory when the system has one: these tests are about what the audit
/// code reads, not about durability, and fsyncs of hundreds of data directories would
/// dominate their time.
fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(dir) = tempfile::Builder::new()
            .prefix("ferry-audit")
            .tempdir_in(shm)
        {
            return dir;
        }
    }
    tempfile::tempdir().unwrap()
}

fn name(s: &str) -> Name {
    Name::new(s).unwrap()
}

impl History {
    fn new(path: &Path) -> History {
        let (dir, created) = DataDir::init(path, Options::default()).unwrap();
        assert!(created);
        let executor = Executor::new(dir.store(), dir.blobs().clone()).unwrap();
        History {
            path: path.to_path_buf(),
            dir,
            executor,
            tenants: Vec::new(),
            time: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        }
    }

    fn key(&self) -> PublicKey {
        self.dir.keys().public()
    }

    fn head(&self) -> u64 {
        self.dir.log().head().unwrap().position
    }

    fn directory(&mut self, t: usize, command: Command) {
        directory::execute(self.dir.log(), command).unwrap();
        self.tenants[t].records += 1;
    }

    /// A new tenant with its default environment (two records).
    fn add_tenant(&mut self) -> usize {
        let t = self.tenants.len();
        self.tenants.push(Tenant {
            id: TenantId::new(),
            name: name(&format!("tenant-{t}")),
            environments: Vec::new(),
            users: 0,
            records: 0,
        });
        let (id, tenant) = (self.tenants[t].id, self.tenants[t].name.clone());
        self.directory(t, Command::CreateTenant { id, name: tenant });
        self.add_environment(t);
        t
    }

    fn add_environment(&mut self, t: usize) {
        let id = EnvironmentId::new();
        let tenant = &mut self.tenants[t];
        let command = Command::CreateEnvironment {
            id,
            tenant: tenant.name.clone(),
            name: name(&format!("env-{}", tenant.environments.len())),
            default: tenant.environments.is_empty(),
        };
        tenant.environments.push(id);
        self.directory(t, command);
    }

    fn add_user(&mut self, t: usize) {
        let tenant = &mut self.tenants[t];
        tenant.users += 1;
        let command = Command::CreateUser {
            id: PrincipalId::new(),
            tenant: tenant.name.clone(),
            name: name(&format!("user-{}", tenant.users)),
            license: License::Plan2,
        };
        self.directory(t, command);
    }

    fn add_resource(&mut self, t: usize, rng: &mut Rng) {
        let tenant = &self.tenants[t];
        let environment = tenant.environments[rng.below(tenant.environments.len())];
        let (kind, connector) = match rng.below(3) {
            0 => (Kind::Gateway, None),
            1 => (Kind::Connection, Some("shared_office365".to_owned())),
            _ => (Kind::App, None),
        };
        let created = ResourceCreated {
            environment,
            resource: ResourceId::new(),
            kind,
            name: format!("{kind:?} {}", rng.next() % 10_000),
            owner: None,
            connector,
            has_secret: false,
            gateway: None,
            definition: None,
        };
        self.executor
            .author(environment, Actor::Operator, |w| {
                author::create(&w.directory, &w.contents, created)
            })
            .unwrap()
            .unwrap();
        self.tenants[t].records += 1;
    }

    /// One more record of tenant `t`: mostly resources, sometimes an environment or a user.
    fn step(&mut self, t: usize, rng: &mut Rng) {
        match rng.below(6) {
            0 => self.add_environment(t),
            1 => self.add_user(t),
            _ => self.add_resource(t, rng),
        }
    }

    fn tick(&mut self) -> DateTime<Utc> {
        self.time += TimeDelta::seconds(1);
        self.time
    }

    fn checkpoint(&mut self) -> Checkpoint {
        let at = self.tick();
        audit::checkpoint(&self.path, self.dir.keys(), at).unwrap()
    }

    fn export(&mut self, t: usize) -> Vec<u8> {
        let at = self.tick();
        let tenant = &self.tenants[t];
        bundle::export(
            &self.path,
            self.dir.keys(),
            tenant.id,
            tenant.name.as_str(),
            at,
        )
        .unwrap()
    }
}

/// `tenants` tenants with `per_tenant` records each, interleaved at random, and `checkpoints`
/// checkpoints signed at even intervals between them (with the data directory open).
fn interleaved(
    path: &Path,
    rng: &mut Rng,
    tenants: usize,
    per_tenant: u64,
    checkpoints: usize,
) -> History {
    let mut history = History::new(path);
    for _ in 0..tenants {
        history.add_tenant();
    }
    let every = tenants as u64 * per_tenant / (checkpoints as u64 + 1);
    let mut signed = 0;
    while history.tenants.iter().any(|t| t.records < per_tenant) {
        let t = rng.below(history.tenants.len());
        if history.tenants[t].records >= per_tenant {
            continue;
        }
        history.step(t, rng);
        if signed < checkpoints && history.head() >= every * (signed as u64 + 1) {
            history.checkpoint();
            signed += 1;
        }
    }
    assert_eq!(signed, checkpoints);
    history
}

// ---------------------------------------------------------------------------------------------
// Bundles taken apart and put back together

#[derive(Clone, Debug, PartialEq, Eq)]
struct Unzipped {
    manifest: Vec<u8>,
    records: Vec<u8>,
    checkpoints: Vec<u8>,
}

fn unzip(bytes: &[u8]) -> Unzipped {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    let mut read = |name: &str| {
        let mut out = Vec::new();
        archive
            .by_name(name)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        out
    };
    Unzipped {
        manifest: read("manifest.json"),
        records: read("records.jsonl"),
        checkpoints: read("checkpoints.json"),
    }
}

fn rezip(files: &Unzipped) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in [
        ("manifest.json", &files.manifest),
        ("records.jsonl", &files.records),
        ("checkpoints.json", &files.checkpoints),
    ] {
        zip.start_file(name, options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

fn lines(records: &[u8]) -> Vec<Vec<u8>> {
    records
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

fn join(lines: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in lines {
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out
}

fn proven(files: &Unzipped) -> Vec<Proven> {
    serde_json::from_slice(&files.checkpoints).unwrap()
}

fn with_proven(files: &Unzipped, proven: &[Proven]) -> Unzipped {
    Unzipped {
        checkpoints: serde_json::to_vec_pretty(proven).unwrap(),
        ..files.clone()
    }
}

fn with_lines(files: &Unzipped, lines: &[Vec<u8>]) -> Unzipped {
    Unzipped {
        records: join(lines),
        ..files.clone()
    }
}

const KINDS: [&str; 8] = [
    "edit a byte of a record",
    "delete a record",
    "swap two records",
    "truncate the records",
    "replace a checkpoint signature",
    "splice in another tenant's record",
    "edit a checkpoint's chain or tenants root",
    "truncate the zip",
];

/// Applies mutation `kind` to the bundle; `None` when the draw changes nothing.
fn mutate(
    kind: usize,
    rng: &mut Rng,
    original: &[u8],
    files: &Unzipped,
    foreign: &[Vec<u8>],
) -> Option<Vec<u8>> {
    let mut records = lines(&files.records);
    let mut proven = proven(files);
    let mutated = match kind {
        0 => {
            let i = rng.below(records.len());
            let line = &mut records[i];
            let at = rng.below(line.len());
            let byte = rng.next() as u8;
            if line[at] == byte {
                return None;
            }
            line[at] = byte;
            with_lines(files, &records)
        }
        1 => {
            let i = rng.below(records.len());
            records.remove(i);
            with_lines(files, &records)
        }
        2 => {
            let (i, j) = (rng.below(records.len()), rng.below(records.len()));
            if i == j || records[i] == records[j] {
                return None;
            }
            records.swap(i, j);
            with_lines(files, &records)
        }
        3 => {
            if rng.chance(50) {
                let k = 1 + rng.below(records.len().min(8));
                records.truncate(records.len() - k);
                with_lines(files, &records)
            } else {
                // Cut anywhere, usually inside a line; losing only the final newline changes
                // no record, so that draw is a no-op.
                let cut = rng.below(files.records.len());
                if cut + 1 >= files.records.len() {
                    return None;
                }
                Unzipped {
                    records: files.records[..cut].to_vec(),
                    ..files.clone()
                }
            }
        }
        4 => {
            let c = rng.below(proven.len());
            let signature = if proven.len() == 1 || rng.chance(50) {
                hex::encode(rng.bytes::<64>())
            } else {
                proven[rng.below(proven.len())].checkpoint.signature.clone()
            };
            if proven[c].checkpoint.signature == signature {
                return None;
            }
            proven[c].checkpoint.signature = signature;
            with_proven(files, &proven)
        }
        5 => {
            let line = foreign[rng.below(foreign.len())].clone();
            let at = rng.below(records.len() + 1);
            records.insert(at, line);
            with_lines(files, &records)
        }
        6 => {
            let c = rng.below(proven.len());
            let other = rng.below(proven.len());
            let before = proven[c].clone();
            let random = Digest(rng.bytes::<32>());
            match rng.below(5) {
                0 => proven[c].chain.count += 1 + rng.below(3) as u64,
                1 => {
                    let count = &mut proven[c].chain.count;
                    *count = count.saturating_sub(1 + rng.below(3) as u64);
                }
                2 => proven[c].chain.head = random,
                3 => proven[c].chain = proven[other].chain,
                _ => {
                    proven[c].checkpoint.tenants_root = if rng.chance(50) {
                        random
                    } else {
                        proven[other].checkpoint.tenants_root
                    }
                }
            }
            if proven[c] == before {
                return None;
            }
            with_proven(files, &proven)
        }
        _ => return Some(original[..rng.below(original.len())].to_vec()),
    };
    (mutated != *files).then(|| rezip(&mutated))
}

#[test]
fn a_thousand_random_mutations_of_a_bundle_are_all_detected() {
    let started = Instant::now();
    let mut rng = Rng::seeded("tamper");
    let tmp = scratch();
    let mut history = interleaved(&tmp.path().join("data"), &mut rng, 4, 24, 3);
    let key = history.key();
    let original = history.export(0);
    let foreign_bundle = history.export(1);
    // The data directory stays usable: export signed and read beside the open log.
    history.add_resource(0, &mut rng);
    history.add_user(1);

    let report = bundle::verify(&original, Some(&key)).unwrap();
    let tenant = &history.tenants[0];
    assert_eq!(report.tenant, tenant.id);
    assert_eq!(report.tenant_name, tenant.name.as_str());
    assert_eq!(
        report.records,
        tenant.records - 1,
        "all but the record added after"
    );
    assert_eq!(
        report.checkpoints, 4,
        "three between the records, one by the export"
    );
    assert_eq!(bundle::verify(&original, None).unwrap(), report);

    let files = unzip(&original);
    // The bundle discloses the tenant's records and nothing of the others.
    for line in lines(&files.records) {
        assert_eq!(Record::from_body(&line).unwrap().tenant, Some(tenant.id));
    }
    for other in &history.tenants[1..] {
        for needle in [
            other.id.as_uuid().to_string(),
            other.name.as_str().to_owned(),
        ] {
            for (file, bytes) in [
                ("manifest", &files.manifest),
                ("records", &files.records),
                ("checkpoints", &files.checkpoints),
            ] {
                let text = String::from_utf8_lossy(bytes);
                assert!(!text.contains(&needle), "{file} discloses {needle}");
            }
        }
    }
    // Taking the bundle apart and putting it back together is not itself a change.
    assert_eq!(
        serde_json::to_vec_pretty(&proven(&files)).unwrap(),
        files.checkpoints
    );
    assert_eq!(join(&lines(&files.records)), files.records);
    assert_eq!(bundle::verify(&rezip(&files), Some(&key)).unwrap(), report);

    // Another data directory's key is not the pinned one.
    let stranger = Keys::load_or_create(&tmp.path().join("stranger")).unwrap();
    let refused = bundle::verify(&original, Some(&stranger.public())).unwrap_err();
    assert!(refused.0.contains("not by the pinned key"), "{refused}");

    let foreign = lines(&unzip(&foreign_bundle).records);
    let mut detected = [0usize; 8];
    let mut noops = 0;
    let mut undetected = Vec::new();
    for n in 0..1_000 {
        let kind = n % KINDS.len();
        let mutated = loop {
            match mutate(kind, &mut rng, &original, &files, &foreign) {
                Some(bytes) => break bytes,
                None => noops += 1,
            }
        };
        assert_ne!(mutated, original);
        match bundle::verify(&mutated, Some(&key)) {
            Err(_) => detected[kind] += 1,
            Ok(report) => undetected.push(format!("#{n} ({}): {report:?}", KINDS[kind])),
        }
    }
    let summary: BTreeMap<_, _> = KINDS.iter().zip(detected).collect();
    println!(
        "tamper: {} of 1000 detected, {noops} no-op draws skipped, {summary:?}, {:.1?}",
        detected.iter().sum::<usize>(),
        started.elapsed()
    );
    assert!(undetected.is_empty(), "undetected: {undetected:#?}");
    assert_eq!(detected.iter().sum::<usize>(), 1_000);
}

#[test]
fn a_thousand_untouched_bundles_exported_as_history_grows_all_verify() {
    // A data directory serves one to twelve exports, then a fresh one begins: bundles of young
    // and old tenants, carrying one checkpoint to a dozen or more (every export signs one).
    let started = Instant::now();
    let mut rng = Rng::seeded("untouched");
    let tmp = scratch();
    let mut verified = 0;
    let mut checkpoints = 0;
    let mut false_alarms = Vec::new();
    let mut dirs = 0;
    let mut kept: Vec<(PublicKey, Vec<u8>, bundle::Report)> = Vec::new();
    while verified < 1_000 {
        dirs += 1;
        let mut history = History::new(&tmp.path().join(format!("data-{dirs}")));
        let key = history.key();
        for _ in 0..3 {
            history.add_tenant();
        }
        let exports = 1 + rng.below(12);
        for _ in 0..exports.min(1_000 - verified) {
            if history.tenants.len() < 8 && rng.chance(25) {
                history.add_tenant();
            }
            for _ in 0..rng.below(4) {
                let t = rng.below(history.tenants.len());
                history.step(t, &mut rng);
            }
            if rng.chance(15) {
                history.checkpoint();
            }
            let t = rng.below(history.tenants.len());
            let bytes = history.export(t);
            let tenant = &history.tenants[t];
            match bundle::verify(&bytes, Some(&key)) {
                Ok(report) => {
                    assert_eq!(report.tenant, tenant.id);
                    assert_eq!(report.records, tenant.records);
                    assert_eq!(report.head, history.head());
                    checkpoints += report.checkpoints;
                    if rng.chance(2) {
                        kept.push((key, bytes, report));
                    }
                }
                Err(e) => false_alarms.push(format!(
                    "data-{dirs}, {} at position {}: {e}",
                    tenant.name,
                    history.head()
                )),
            }
            verified += 1;
        }
    }
    // Bundles verify alike after their data directory moved on.
    for (key, bytes, report) in &kept {
        assert_eq!(bundle::verify(bytes, Some(key)).as_ref(), Ok(report));
    }
    println!(
        "untouched: {verified} bundles from {dirs} data directories ({checkpoints} checkpoints), \
         {} false alarms, {} re-verified, {:.1?}",
        false_alarms.len(),
        kept.len(),
        started.elapsed()
    );
    assert!(false_alarms.is_empty(), "false alarms: {false_alarms:#?}");
}

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
