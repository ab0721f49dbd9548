//! What auditors use, end to end through the real `ferry` binary: who may see what (an auditor
//! of a tenant reads that tenant's trail, views, bundles and replays and nothing of another; a
//! maker sees their tenant's imports but no audit command; the operator sees everything), the
//! audit log's formats and filters, verification of the data directory's log and of an
//! offline bundle against tampering, `env show --as-of` against states captured during a
//! scripted history, replay equality, and the signing key.
#![allow(clippy::unwrap_used)] // Tests: a panic is a failed test.

mod common {
    #[allow(dead_code)] // Shared by several test crates; each uses a part.
    pub mod cli;
    #[allow(dead_code)] // The Kafka harness: used when FERRY_TEST_LOG=kafka.
    pub mod kafka;
}

use std::collections::BTreeSet;
use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, Utc};
use common::cli::{
    bind, connections, customer, export, import, resource, text, user, vendor, Ferry, Run,
};
use serde_json::Value;

// Scenarios.

/// Connections of `user` in `env`, then an import of pkg.zip there as `user`, run to
/// completion; returns the migration and the connections.
fn run_import(f: &Ferry, env: &str, user: &str) -> (String, (String, String)) {
    let mine = connections(f, env, user);
    let migration = import(f, "pkg.zip", env, user, &bind(&mine));
    let results = f.json(&format!("start {migration} --as {user} --wait"));
    assert_eq!(results["state"], "completed", "{results}");
    (migration, mine)
}

/// The vendor exports its app; the customer imports it into `cust/prod` as `cust/bob`.
fn one_import() -> (Ferry, String) {
    let f = Ferry::new();
    vendor(&f);
    export(&f, "pkg.zip");
    customer(&f);
    let (migration, _) = run_import(&f, "cust/prod", "cust/bob");
    (f, migration)
}

/// Two tenants with a completed import each, and `cust/aud` (plan2, no environment role),
/// auditor of `cust`.
struct Tenants {
    f: Ferry,
    /// The import into `cust/prod`, by `cust/bob`.
    cust: String,
    /// The import into `vendor/prod`, by `vendor/ann`.
    vendor: String,
    /// Bob's connections in `cust/prod`.
    bob: (String, String),
}

fn two_tenants() -> Tenants {
    let f = Ferry::new();
    vendor(&f);
    export(&f, "pkg.zip");
    customer(&f);
    let (cust, bob) = run_import(&f, "cust/prod", "cust/bob");
    f.ok("grant vendor/ann environment-maker vendor/prod");
    let (vendor, _) = run_import(&f, "vendor/prod", "vendor/ann");
    user(&f, "cust/aud", "plan2", &[]);
    f.ok("grant cust/aud auditor cust");
    Tenants {
        f,
        cust,
        vendor,
        bob,
    }
}

// Reading what ferry prints.

/// `ferry audit log --format json <filters>`: the facts.
fn facts(f: &Ferry, filters: &str) -> Vec<Value> {
    let out = f.ok(&format!("audit log --format json {filters}"));
    let parsed: Value = serde_json::from_str(&out).unwrap();
    parsed.as_array().unwrap().clone()
}

/// The distinct values of a string field of `values`.
fn distinct(values: &[Value], field: &str) -> BTreeSet<String> {
    values.iter().map(|v| text(v, field)).collect()
}

/// The migrations `ferry status --as <user>` lists.
fn listed_imports(f: &Ferry, user: &str) -> BTreeSet<String> {
    let list = f.json(&format!("status --as {user}"));
    distinct(list.as_array().unwrap(), "migration")
}

/// The number after the first "position " in `message`.
fn first_position(message: &str) -> Option<u64> {
    let (_, after) = message.split_once("position ")?;
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn time(fact: &Value) -> DateTime<Utc> {
    text(fact, "time").parse().unwrap()
}

/// Splits one CSV line into its fields (quoted fields may hold commas and doubled quotes).
fn csv_fields(line: &str) -> Vec<String> {
    let (mut fields, mut field, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut field)),
            _ => field.push(c),
        }
    }
    fields.push(field);
    fields
}

// The log file: frame = "FRY1" | body length u32 LE | crc32 u32 | flags u8 | body.

const HEADER: usize = 13;

fn log_file(f: &Ferry) -> PathBuf {
    f.data_dir().join("log").join("events.log")
}

/// A frame of the log file.
struct Frame {
    offset: usize,
    len: usize,
    /// Bit 0: the last record of its append.
    flags: u8,
}

/// Every frame; frame `i` holds log position `i + 1`.
fn frames(log: &[u8]) -> Vec<Frame> {
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
fn verified_frames(f: &Ferry) -> Vec<Frame> {
    let found = frames(&std::fs::read(log_file(f)).unwrap());
    let report = f.json("audit verify");
    assert_eq!(report["intact"], true, "{report}");
    assert_eq!(report["head"], found.len(), "{report}");
    found
}

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

// Who may see what.

#[test]
fn an_auditor_reads_their_tenants_trail_views_and_bundles_and_nothing_else() {
    let t = two_tenants();
    let f = &t.f;
    let before = f.snapshot(&["cust/prod", "vendor/prod"]);

    let seen = facts(f, "--as cust/aud");
    assert_eq!(distinct(&seen, "tenant"), BTreeSet::from(["cust".into()]));
    assert!(seen.iter().any(|x| x["migration"] == t.cust.as_str()));
    assert_eq!(
        seen,
        facts(f, "--tenant cust"),
        "the auditor sees all of cust"
    );
    assert_eq!(facts(f, "--tenant cust --as cust/aud"), seen);
    f.refused(
        4,
        "audit log --tenant vendor --as cust/aud",
        &["cust/aud", "audit log of vendor", "auditor"],
    );

    f.ok("env show cust/prod --as cust/aud");
    f.ok("env show cust/prod --as-of 1 --as cust/aud");
    for line in [
        "env show vendor/prod --as cust/aud",
        "env show vendor/prod --as-of 1 --as cust/aud",
    ] {
        f.refused(4, line, &["cust/aud", "see this environment", "auditor"]);
    }

    f.ok("audit export --tenant cust --out cust.zip --as cust/aud");
    assert!(f.path("cust.zip").exists());
    let line = "audit export --tenant vendor --out vendor.zip --as cust/aud";
    f.refused(4, line, &["cust/aud", "audit bundle of vendor", "auditor"]);
    assert!(!f.path("vendor.zip").exists(), "a refused export wrote");

    let replayed = f.json(&format!("audit replay {} --as cust/aud", t.cust));
    assert_eq!(replayed["identical"], true, "{replayed}");
    let line = format!("audit replay {} --as cust/aud", t.vendor);
    f.refused(4, &line, &["cust/aud", "replay", "auditor"]);
    assert_eq!(f.json("audit verify --as cust/aud")["intact"], true);
    assert_eq!(f.snapshot(&["cust/prod", "vendor/prod"]), before);
    f.assert_replays();
}

#[test]
fn an_auditor_cannot_import_answer_start_or_publish() {
    let t = two_tenants();
    let f = &t.f;
    let review = f.json_code(3, "import pkg.zip --into cust/prod --as cust/bob");
    let pending = text(&review, "migration");
    let before = f.snapshot(&["cust/prod"]);
    let refusals = [
        "import pkg.zip --into cust/prod --as cust/aud".to_owned(),
        format!("answer {pending} --as cust/aud {}", bind(&t.bob)),
        format!("start {pending} --as cust/aud --wait"),
        "publish cust/prod --app Expenses --as cust/aud".to_owned(),
    ];
    for line in &refusals {
        f.refused(4, line, &["cust/aud", "environment-maker", "cust/prod"]);
    }
    assert_eq!(f.snapshot(&["cust/prod"]), before);
    assert_eq!(
        f.json_code(3, &format!("status {pending}"))["state"],
        "in review"
    );
    f.assert_replays();
}

#[test]
fn a_maker_sees_their_tenants_imports_but_no_audit_command() {
    let t = two_tenants();
    let f = &t.f;
    let before = f.snapshot(&["cust/prod", "vendor/prod"]);
    for line in [
        "audit log --as cust/bob",
        "audit log --tenant cust --as cust/bob",
        "audit export --tenant cust --out cust.zip --as cust/bob",
        "audit verify --as cust/bob",
        &format!("audit replay {} --as cust/bob", t.cust),
    ] {
        f.refused(4, line, &["cust/bob", "auditor"]);
    }
    assert!(!f.path("cust.zip").exists(), "a refused export wrote");

    assert_eq!(
        listed_imports(f, "cust/bob"),
        BTreeSet::from([t.cust.clone()])
    );
    assert_eq!(
        listed_imports(f, "vendor/ann"),
        BTreeSet::from([t.vendor.clone()])
    );
    let own = f.json(&format!("status {} --as cust/bob", t.cust));
    assert_eq!(own["state"], "completed");
    let other = format!("status {} --as cust/bob", t.vendor);
    f.refused(4, &other, &["permission denied", "another tenant"]);
    assert_eq!(f.snapshot(&["cust/prod", "vendor/prod"]), before);
}

#[test]
fn the_operator_sees_every_tenant() {
    let t = two_tenants();
    let f = &t.f;
    let all = facts(f, "");
    let tenants = BTreeSet::from(["cust".to_owned(), "vendor".to_owned()]);
    assert_eq!(distinct(&all, "tenant"), tenants);
    let imports = f.json("status");
    let imports = distinct(imports.as_array().unwrap(), "migration");
    assert_eq!(imports, BTreeSet::from([t.cust.clone(), t.vendor.clone()]));
    f.ok("env show vendor/prod");
    f.ok("env show cust/prod");
    f.ok("audit export --tenant vendor --out vendor.zip");
    f.ok("audit export --tenant cust --out cust.zip");
    let replayed = f.json("audit replay --all");
    assert_eq!(replayed["migrations"], 2, "{replayed}");
    f.assert_replays();
}

#[test]
fn auditor_on_another_tenant_is_refused_at_grant_time() {
    let f = Ferry::new();
    f.ok("tenant create one");
    f.ok("tenant create two");
    user(&f, "one/aud", "plan2", &[]);
    let before = f.log_size();
    f.refused(2, "grant one/aud auditor two", &["cross", "auditor"]);
    assert_eq!(f.log_size(), before);
    f.refused(
        4,
        "audit log --tenant two --as one/aud",
        &["one/aud", "auditor"],
    );
    f.ok("grant one/aud auditor one");
    f.refused(
        4,
        "audit log --tenant two --as one/aud",
        &["one/aud", "auditor"],
    );
}

#[test]
fn replay_all_needs_auditor() {
    let t = two_tenants();
    t.f.refused(
        4,
        "audit replay --all --as cust/bob",
        &["cust/bob", "auditor"],
    );
}

#[test]
fn replay_all_as_an_auditor_covers_only_the_audited_tenant() {
    let t = two_tenants();
    let own = t.f.json(&format!("audit replay {}", t.cust));
    let all = t.f.json("audit replay --all --as cust/aud");
    assert_eq!(
        (&all["migrations"], &all["steps"]),
        (&own["migrations"], &own["steps"]),
        "{all}"
    );
}

// audit log.

#[test]
fn audit_log_lists_every_record_once() {
    let t = two_tenants();
    let f = &t.f;
    let all = facts(f, "");
    let head = f.json("audit verify")["head"].as_u64().unwrap();
    let positions: Vec<u64> = all
        .iter()
        .map(|x| x["position"].as_u64().unwrap())
        .collect();
    assert_eq!(positions, (1..=head).collect::<Vec<_>>());
    assert_eq!(verified_frames(f).len() as u64, head);
    for fact in &all {
        time(fact); // An RFC 3339 time.
        for field in ["actor", "action", "outcome"] {
            assert!(!text(fact, field).is_empty(), "no {field} in {fact}");
        }
    }
    let table = f.ok("audit log");
    assert_eq!(table.lines().count() as u64, head + 1, "{table}");
}

#[test]
fn audit_log_csv_has_a_header_and_one_line_per_fact_quoting_commas() {
    let (f, migration) = one_import();
    let all = facts(&f, "");
    let csv = f.ok("audit log --format csv");
    let mut lines = csv.lines();
    let header = "position,time,actor,tenant,migration,action,subject,choices,outcome";
    assert_eq!(lines.next(), Some(header));
    let rows: Vec<Vec<String>> = lines.map(csv_fields).collect();
    assert_eq!(rows.len(), all.len());
    for (row, fact) in rows.iter().zip(&all) {
        assert_eq!(row.len(), 9, "{row:?}");
        assert_eq!(row[0], fact["position"].to_string());
        assert_eq!(row[1].parse::<DateTime<Utc>>().unwrap(), time(fact));
        let tenant = fact["tenant"].as_str().unwrap_or_default();
        let migration = fact["migration"].as_str().unwrap_or_default();
        let expected = [
            &text(fact, "actor"),
            tenant,
            migration,
            &text(fact, "action"),
            &text(fact, "subject"),
            &text(fact, "choices"),
            &text(fact, "outcome"),
        ];
        assert_eq!(row[2..], expected, "{fact}");
    }
    // "applied 7, failed 0" holds a comma.
    let completed = format!(",{migration},import completed,,,\"applied 7, failed 0\"");
    assert!(csv.lines().any(|l| l.ends_with(&completed)), "{csv}");
}

#[test]
fn audit_log_filters_keep_exactly_the_facts_they_name() {
    let t = two_tenants();
    let f = &t.f;
    let all = facts(f, "");
    let only = |keep: &dyn Fn(&Value) -> bool| -> Vec<Value> {
        all.iter().filter(|x| keep(x)).cloned().collect()
    };

    let mine = facts(f, &format!("--migration {}", t.cust));
    assert_eq!(mine, only(&|x| x["migration"] == t.cust.as_str()));
    let answers: Vec<Value> = mine
        .iter()
        .filter(|x| x["action"] == "answer given")
        .cloned()
        .collect();
    let choices = distinct(&answers, "choices");
    let bound = [&t.bob.0, &t.bob.1].map(|c| format!("Existing:{c}"));
    assert_eq!(choices, BTreeSet::from(bound));

    let bobs = facts(f, "--actor cust/bob");
    assert!(!bobs.is_empty());
    assert_eq!(bobs, only(&|x| x["actor"] == "cust/bob"));

    let envs = f.json("env list cust");
    let prod = text(&envs[0], "id");
    let in_prod = facts(f, "--env cust/prod");
    assert!(in_prod.iter().any(|x| x["action"] == "step applied"));
    assert_eq!(in_prod, only(&|x| x["environment"] == prod.as_str()));

    let connection = facts(f, &format!("--resource {}", t.bob.0));
    let actions = distinct(&connection, "action");
    for action in ["resource created", "answer given", "step applied"] {
        assert!(actions.contains(action), "{action} missing: {actions:?}");
    }
    let names = |x: &Value| {
        x["resources"]
            .as_array()
            .unwrap()
            .contains(&t.bob.0.as_str().into())
    };
    assert_eq!(connection, only(&names));

    assert_eq!(
        facts(f, "--tenant vendor"),
        only(&|x| x["tenant"] == "vendor")
    );
    let (since, until) = (time(&all[all.len() / 3]), time(&all[2 * all.len() / 3]));
    let window = facts(
        f,
        &format!(
            "--since {} --until {}",
            since.to_rfc3339(),
            until.to_rfc3339()
        ),
    );
    assert!(!window.is_empty() && window.len() < all.len());
    assert_eq!(window, only(&|x| (since..=until).contains(&time(x))));
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

// Point-in-time views.

/// What `env show cust/prod` showed at one moment, and the time of the last fact then.
struct Moment {
    shown: Value,
    time: String,
}

fn capture(f: &Ferry) -> Moment {
    let shown = f.json("env show cust/prod");
    let last = facts(f, "").pop().unwrap();
    assert_eq!(
        last["position"], shown["position"],
        "the view is of the head"
    );
    Moment {
        shown,
        time: text(&last, "time"),
    }
}

#[test]
fn env_show_as_of_equals_the_state_captured_at_that_moment() {
    let f = Ferry::new();
    vendor(&f);
    export(&f, "pkg.zip");
    customer(&f);
    let mut moments = vec![capture(&f)];
    let (_, bob) = run_import(&f, "cust/prod", "cust/bob");
    moments.push(capture(&f));
    f.ok("app edit vendor/dev Expenses --flow Approve --as vendor/ann");
    f.ok("publish vendor/dev --app Expenses --as vendor/ann");
    export(&f, "pkg2.zip");
    let targets = f.json("resource list cust/prod");
    let id = |kind, name| text(resource(&targets, kind, name).unwrap(), "id");
    let (app, flow) = (id("app", "Expenses"), id("flow", "Approve"));
    let answers = format!("Expenses=update:{app} Approve=update:{flow} {}", bind(&bob));
    let update = import(&f, "pkg2.zip", "cust/prod", "cust/bob", &answers);
    f.json(&format!("start {update} --as cust/bob --wait"));
    moments.push(capture(&f));
    f.json(&format!("publish {update} --as cust/bob"));
    moments.push(capture(&f));
    f.ok("connector create cust/prod shared_sql");
    let now = f.json("env show cust/prod");
    assert_ne!(now["resources"], moments[3].shown["resources"]);
    for pair in moments.windows(2) {
        assert_ne!(pair[0].shown["resources"], pair[1].shown["resources"]);
    }
    for moment in &moments {
        let position = &moment.shown["position"];
        let at = f.json(&format!("env show cust/prod --as-of {position}"));
        assert_eq!(
            at["resources"], moment.shown["resources"],
            "as of {position}"
        );
        assert_eq!(&at, &moment.shown);
        let at = f.json(&format!("env show cust/prod --as-of {}", moment.time));
        assert_eq!(
            at["resources"], moment.shown["resources"],
            "as of {}",
            moment.time
        );
        assert_eq!(&at, &moment.shown);
    }
    let says = ["neither a log position nor an RFC 3339 time"];
    f.refused(2, "env show cust/prod --as-of foo", &says);
    f.assert_replays();
}

// Replay and the key.

#[test]
fn replaying_one_migration_decides_its_steps_again_identically() {
    let (f, migration) = one_import();
    let replayed = f.json(&format!("audit replay {migration}"));
    assert_eq!(replayed["identical"], true, "{replayed}");
    assert_eq!(replayed["migrations"], 1, "{replayed}");
    assert!(replayed["steps"].as_u64().unwrap() > 0, "{replayed}");
    let says = f.ok(&format!("audit replay {migration}"));
    assert!(says.starts_with("identical"), "{says}");
    f.refused(2, "audit replay", &["name a migration", "--all"]);
    f.refused(2, "audit replay not-a-migration", &["not a migration id"]);
    f.assert_replays();
}

#[test]
fn the_audit_key_is_64_hex_digits_and_stable() {
    let f = Ferry::new();
    let key = f.ok("audit key").trim().to_owned();
    assert_eq!(key.len(), 64, "{key}");
    assert!(key.chars().all(|c| c.is_ascii_hexdigit()), "{key}");
    f.ok("tenant create one");
    f.ok("audit checkpoint");
    f.ok("init");
    assert_eq!(f.ok("audit key").trim(), key);
    assert_ne!(
        Ferry::new().ok("audit key").trim(),
        key,
        "two data directories, one key"
    );
}
