//! Hostile inputs, generated here (not shipped as big files), through the real binary: every
//! one is refused or handled within bounded work, with an error naming the problem.
//!
//! - Dependency graphs: a dense one (1,500 resources, each depending on every earlier one)
//!   and a chain of 30,000 are refused at once; the largest graph within the limits inspects
//!   and imports, and its printed tree stays short.
//! - File inputs are capped: `--targets /dev/zero` or a 100 MB CSV is refused naming the cap.
//! - A secret file given as answers: the error gives line and column, never the secret.
//! - Escape sequences in names are shown as escapes in every human output; JSON is exact.
//! - A 20 MiB key makes a one-line error.
#![allow(clippy::unwrap_used)] // Tests: a panic is a failed test.

mod common {
    #[allow(dead_code)] // Shared by several test crates; each uses a part.
    pub mod cli;
    #[allow(dead_code)] // The Kafka harness: used when FERRY_TEST_LOG=kafka.
    pub mod kafka;
}

use std::io::Write;

use common::cli::{text, Ferry};
use serde_json::{json, Map};
use zip::write::SimpleFileOptions;
use zip::ZipWriter;

/// A legacy package of standard connectors only; resource `i` depends on `deps(i)`.
fn connectors(count: usize, deps: impl Fn(usize) -> Vec<usize>) -> Vec<u8> {
    named(
        count,
        deps,
        |i| format!("Connector {i}"),
        |i| format!("c{i:05}"),
    )
}

/// [`connectors`] with display names and keys of one's own.
fn named(
    count: usize,
    deps: impl Fn(usize) -> Vec<usize>,
    name: impl Fn(usize) -> String,
    key: impl Fn(usize) -> String,
) -> Vec<u8> {
    let mut resources = Map::new();
    for i in 0..count {
        resources.insert(
            key(i),
            json!({
                "id": format!("/providers/Microsoft.PowerApps/apis/shared_c{i}"),
                "name": format!("shared_c{i}"),
                "type": "Microsoft.PowerApps/apis",
                "suggestedCreationType": "Existing",
                "details": {"displayName": name(i)},
                "dependsOn": deps(i).into_iter().map(&key).collect::<Vec<_>>(),
            }),
        );
    }
    let manifest = json!({
        "schema": "1.0",
        "details": {"displayName": "Graph"},
        "resources": resources,
    });
    let mut zip = ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file("manifest.json", SimpleFileOptions::default())
        .unwrap();
    zip.write_all(&serde_json::to_vec(&manifest).unwrap())
        .unwrap();
    zip.finish().unwrap().into_inner()
}

#[test]
fn dependency_graphs_beyond_the_limits_are_refused_at_once_naming_the_limit() {
    let f = Ferry::new();
    f.ok("tenant create acme");
    f.ok("env create acme/prod");
    // 1,500 resources, 1.1 million edges (225 KB zipped): minutes and 14 GB before.
    f.write("dense.zip", &connectors(1_500, |i| (0..i).collect()));
    // A chain of 30,000 (450 KB): 350 s before.
    f.write(
        "chain.zip",
        &connectors(30_000, |i| i.checked_sub(1).into_iter().collect()),
    );
    for (package, says) in [
        ("dense.zip", "1124250 dependsOn entries (limit 20000)"),
        ("chain.zip", "30000 resources (limit 2000)"),
    ] {
        f.refused(2, &format!("package inspect {package}"), &[says]);
        f.refused(2, &format!("import {package} --into acme/prod"), &[says]);
    }
    assert_eq!(f.json("status"), json!([]), "nothing was recorded");
}

#[test]
fn the_largest_graph_within_the_limits_inspects_and_imports_with_a_short_tree() {
    let f = Ferry::new();
    f.ok("tenant create acme");
    f.ok("env create acme/prod");
    // 2,000 resources and 19,945 edges: a chain, each also depending on up to 9 earlier ones.
    f.write(
        "graph.zip",
        &connectors(2_000, |i| (i.saturating_sub(10)..i).collect()),
    );
    let report = f.json("package inspect graph.zip");
    let resources = report["resources"].as_array().unwrap();
    assert_eq!(resources.len(), 2_000);
    // Import order: dependencies first.
    let keys: Vec<&str> = resources
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys.first(), Some(&"c00000"));
    assert_eq!(keys.last(), Some(&"c01999"));
    let printed = f.ok("package inspect graph.zip");
    let tree = printed.split("\nDependencies\n").nth(1).unwrap();
    assert!(
        tree.lines().count() <= 2_001,
        "{} lines",
        tree.lines().count()
    );
    assert!(tree.contains("more line(s)"), "{tree}");

    let review = f.json_code(0, "import graph.zip --into acme/prod");
    let migration = text(&review, "migration");
    assert_eq!(review["items"].as_array().unwrap().len(), 2_000);
    let results = f.json(&format!("start {migration} --wait"));
    assert_eq!(results["state"], "completed", "{}", results["state"]);
    let registered = f.json("resource list acme/prod --kind connector");
    assert_eq!(registered.as_array().map(Vec::len), Some(2_000));
}

#[test]
fn file_inputs_are_read_up_to_their_cap_and_no_further() {
    let f = Ferry::new();
    f.write("pkg.zip", &connectors(1, |_| Vec::new()));
    // A device that never ends, and a (sparse) 100 MB file.
    let big = std::fs::File::create(f.path("big.csv")).unwrap();
    big.set_len(100 << 20).unwrap();
    for targets in ["/dev/zero", "big.csv"] {
        f.refused(
            2,
            &format!("provision pkg.zip --targets {targets}"),
            &["targets file", "is larger than 64 MiB"],
        );
    }
    f.write("targets.csv", b"tenant,environment\nacme,prod\n");
    f.refused(
        2,
        "provision pkg.zip --targets targets.csv --answers /dev/zero",
        &["answer template", "larger than 1 MiB"],
    );
    f.ok("tenant create acme");
    f.ok("env create acme/prod");
    f.refused(
        2,
        "flow create acme/prod F --definition /dev/zero",
        &["flow definition", "larger than 16 MiB"],
    );
    f.refused(
        2,
        "audit verify --bundle /dev/zero",
        &["audit bundle", "larger than 128 MiB"],
    );
}

#[test]
fn a_secret_file_given_as_answers_is_never_echoed() {
    let f = Ferry::new();
    f.ok("tenant create acme");
    f.ok("env create acme/prod");
    f.write("pkg.zip", &connectors(1, |_| Vec::new()));
    f.write(
        "secret.txt",
        b"client_id = \"app-1\"\nclient_secret = s3cr3t-Value-never-print\n",
    );
    let run = f.expect(2, "import pkg.zip --into acme/prod --answers secret.txt");
    assert!(run.stderr.contains("line 2, column"), "{}", run.stderr);
    assert!(!run.stderr.contains("s3cr3t"), "{}", run.stderr);
    assert!(!run.stdout.contains("s3cr3t"), "{}", run.stdout);
}

#[test]
fn escape_sequences_in_names_are_shown_as_escapes_and_json_stays_exact() {
    let f = Ferry::new();
    f.ok("tenant create acme");
    f.ok("env create acme/prod");
    let evil = "Evil\u{1b}[2J\u{1b}]0;owned\u{7}\rerror: fake\u{202e}";
    f.write(
        "evil.zip",
        &named(1, |_| Vec::new(), |_| evil.to_owned(), |i| format!("c{i}")),
    );
    let assert_neutral = |out: &str, what: &str| {
        assert!(
            !out.chars()
                .any(|c| (c.is_control() && c != '\n' && c != '\t') || c == '\u{202e}'),
            "{what} printed a control character raw: {out:?}"
        );
        assert!(out.contains("Evil\\u{1b}[2J"), "{what}: {out}");
    };
    assert_neutral(&f.ok("package inspect evil.zip"), "package inspect");
    let imported = f.ok("import evil.zip --into acme/prod");
    assert_neutral(&imported, "the review");
    let migration = text(&f.json("status")[0], "migration");
    assert_neutral(&f.ok(&format!("start {migration} --wait")), "the results");
    assert_neutral(&f.ok("resource list acme/prod"), "resource list");
    // JSON carries the name exactly as the package has it.
    let report = f.json("package inspect evil.zip");
    assert_eq!(report["resources"][0]["display_name"], evil);
    let listed = f.json("resource list acme/prod");
    assert_eq!(listed[0]["name"], evil);
}

#[test]
fn a_twenty_mebibyte_key_makes_a_one_line_error() {
    let f = Ferry::new();
    // Incompressible, so the zip is no bomb: only the key is hostile.
    let mut state = 7u64;
    let key: String = (0..20 << 20)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
            char::from(b'a' + ((state >> 33) % 26) as u8)
        })
        .collect();
    // The connector "0<key>" depends on "1<key>", which is not there: the error quotes both.
    f.write(
        "key.zip",
        &named(1, |_| vec![1], |_| "K".into(), move |i| format!("{i}{key}")),
    );
    let run = f.expect(2, "package inspect key.zip");
    assert!(
        run.stderr.len() < 2_000,
        "{} bytes of error",
        run.stderr.len()
    );
    assert!(run.stderr.contains("more bytes"), "{}", run.stderr);
}

#[test]
fn an_export_never_replaces_anything_but_a_regular_file() {
    use std::os::unix::fs::FileTypeExt;
    let f = Ferry::new();
    common::cli::vendor(&f);
    let line = |out: &str| {
        format!("export vendor/dev --app Expenses --as vendor/ann --name Expenses --out {out}")
    };
    f.refused(2, &line("/dev/full"), &["/dev/full is a device"]);
    assert!(std::fs::metadata("/dev/full")
        .unwrap()
        .file_type()
        .is_char_device());
    std::fs::create_dir(f.path("folder")).unwrap();
    f.refused(2, &line("folder"), &["is a folder"]);
    std::os::unix::fs::symlink("/etc/hostname", f.path("link.zip")).unwrap();
    f.refused(2, &line("link.zip"), &["is a symbolic link"]);
    // A regular file is replaced whole.
    f.write("old.zip", b"old");
    f.ok(&line("old.zip"));
    assert!(std::fs::read(f.path("old.zip")).unwrap().starts_with(b"PK"));
}

#[test]
fn a_data_directory_whose_log_is_gone_is_refused_not_recreated_empty() {
    let f = Ferry::new();
    if std::env::var("FERRY_TEST_LOG").as_deref() == Ok("kafka") {
        return; // The Kafka log lives on the brokers; its folder is a cache.
    }
    f.ok("tenant create acme");
    std::fs::remove_dir_all(f.data_dir().join("log")).unwrap();
    for line in ["tenant list", "audit verify"] {
        f.refused(
            6,
            line,
            &["its log", "is missing", "restore the folder from a backup"],
        );
    }
    assert!(!f.data_dir().join("log").exists(), "nothing was recreated");
}

#[test]
fn two_inits_at_once_both_succeed() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..5 {
        let data = dir.path().join(format!("d{round}"));
        let inits: Vec<_> = (0..4)
            .map(|_| {
                std::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
                    .env_remove("FERRY_DATA_DIR")
                    .env_remove("FERRY_LOG")
                    .arg("--data-dir")
                    .arg(&data)
                    .arg("init")
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for init in inits {
            let out = init.wait_with_output().unwrap();
            let said = String::from_utf8_lossy(&out.stderr);
            // Each either made the directory, found it made, or found it in use by another
            // (the log is opened by one process at a time) — never a half-made folder.
            assert!(
                out.status.success() || said.contains("in use by another process"),
                "{said}"
            );
        }
        let opened = std::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
            .env_remove("FERRY_DATA_DIR")
            .arg("--data-dir")
            .arg(&data)
            .args(["tenant", "list"])
            .output()
            .unwrap();
        assert!(opened.status.success(), "{opened:?}");
    }
}

#[test]
fn a_command_that_appended_signs_a_due_checkpoint_whatever_its_exit_and_reads_write_nothing() {
    let f = Ferry::new();
    if std::env::var("FERRY_TEST_LOG").as_deref() == Ok("kafka") {
        return; // Same rule on Kafka; the file names below are the embedded log's.
    }
    let checkpoints = f.data_dir().join("audit").join("checkpoints.jsonl");
    f.ok("tenant create acme");
    f.ok("env create acme/prod");
    // A package whose connection needs an answer: the import ends blocked (exit 3).
    f.write("pkg.zip", &connectors(3, |_| Vec::new()));
    let signed = || std::fs::read_to_string(&checkpoints).unwrap_or_default();
    let before = signed();
    let blocked = f
        .command("import pkg.zip --into acme/prod")
        .env("FERRY_CHECKPOINT_EVERY", "1")
        .output()
        .unwrap();
    assert_eq!(blocked.status.code(), Some(0), "{blocked:?}");
    let after = signed();
    assert_ne!(
        after, before,
        "the import appended: a checkpoint is due and signed"
    );
    for line in [
        "status",
        "tenant list",
        "resource list acme/prod",
        "audit log",
    ] {
        let read = f
            .command(line)
            .env("FERRY_CHECKPOINT_EVERY", "1")
            .output()
            .unwrap();
        assert!(read.status.success(), "{line}: {read:?}");
        assert_eq!(signed(), after, "{line} only read, and wrote a checkpoint");
    }
}
