//! The saved projections through the real binary: `ferry rebuild` drops and refolds them, and a
//! damaged or missing store is rebuilt by the next command, which says so, with the same
//! answers as before.
#![allow(clippy::unwrap_used)] // Tests: a panic is a failed test.

mod common {
    #[allow(dead_code)] // Shared by several test crates; each uses a part.
    pub mod cli;
    #[allow(dead_code)] // The Kafka harness: used when FERRY_TEST_LOG=kafka.
    pub mod kafka;
}

use common::cli::{customer, export, files, first_import, vendor, Ferry};

/// What the projections answer, as the user sees it.
fn answers(f: &Ferry) -> Vec<serde_json::Value> {
    let mut imports = f.json("status");
    // Listed as of now: drop what depends on the clock.
    if let Some(list) = imports.as_array_mut() {
        list.sort_by_key(|i| i["migration"].to_string());
    }
    vec![
        imports,
        f.json("resource list cust/prod"),
        f.json("resource list vendor/dev"),
        f.json("tenant list"),
    ]
}

fn history() -> Ferry {
    let f = Ferry::new();
    vendor(&f);
    export(&f, "pkg.zip");
    customer(&f);
    first_import(&f);
    f
}

#[test]
fn rebuild_folds_the_whole_log_into_new_projections_with_the_same_answers() {
    let f = history();
    let before = answers(&f);
    let rebuilt = f.json("rebuild");
    let head = f.json("audit verify")["head"].as_u64().unwrap();
    assert_eq!(rebuilt["records"].as_u64(), Some(head), "{rebuilt}");
    assert_eq!(answers(&f), before);
    let said = f.ok("rebuild");
    assert!(
        said.contains(&format!("rebuilt the projections from {head} record(s)")),
        "{said}"
    );
    let denied = f.run("rebuild --as cust/bob");
    assert_ne!(denied.code, 0, "rebuild takes no --as: {denied:?}");
}

#[test]
fn a_damaged_or_missing_projection_store_is_rebuilt_and_the_command_says_so() {
    let f = history();
    let before = answers(&f);
    let store = f.data_dir().join("projections");
    for file in files(&store) {
        std::fs::write(&file, b"not a sled file at all").unwrap();
    }
    let run = f.expect(0, "resource list cust/prod --json");
    assert!(
        run.stderr.contains("rebuilt from the log"),
        "the command says so: {}",
        run.stderr
    );
    assert_eq!(answers(&f), before, "the same answers after the rebuild");
    // Rebuilt once, the store is used again without a word.
    let run = f.expect(0, "resource list cust/prod --json");
    assert!(!run.stderr.contains("rebuilt"), "{}", run.stderr);

    std::fs::remove_dir_all(&store).unwrap();
    let run = f.expect(0, "resource list cust/prod --json");
    assert!(
        run.stderr.contains("was missing") && run.stderr.contains("rebuilt from the log"),
        "{}",
        run.stderr
    );
    assert_eq!(answers(&f), before, "a missing store is made anew");
    assert!(store.is_dir());
}
