//! The audit bundles against tampering, end to end on real data directories: 1,000 seeded
//! random mutations of an exported tenant bundle (a byte edited, a record deleted, two swapped,
//! the records cut short, a checkpoint signature replaced, a record of another tenant spliced
//! in, a checkpoint's chain head or tenants root edited, the zip cut short) must all fail
//! `bundle::verify`; 1,000 untouched bundles, exported of every tenant at different points of a
//! growing history, must all verify (no false alarm).
//!
//! The random choices come from a xorshift generator whose seed is printed; set
//! `FERRY_TAMPER_SEED` to replay them (ids and recorded times are fresh on every run).
#![allow(clippy::unwrap_used)] // Tests: a panic is a failed test.

mod common;

use std::collections::BTreeMap;
use std::io::{Cursor, Read, Write};
use std::time::Instant;

use common::audit::{interleaved, scratch, History, Rng};
use ferry_engine::audit::bundle::{self, Proven};
use ferry_engine::audit::{Keys, PublicKey};
use ferry_schemas::{Digest, Record};

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
