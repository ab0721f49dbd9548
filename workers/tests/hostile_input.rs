//! Hostile inputs, generated here (not shipped as big files), through the real binary: every
//! one is refused or handled within bounded work, with an error naming the problem.
//!
//! - Dependency graphs: a dense one (1,500 resources, each depending on every earlier one)
//!   and a chain of 30,000 are refused at once; the largest graph within the limits inspects
//!   and imports, and its printed tree stays short.
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
    let key = |i: usize| format!("c{i:05}");
    let mut resources = Map::new();
    for i in 0..count {
        resources.insert(
            key(i),
            json!({
                "id": format!("/providers/Microsoft.PowerApps/apis/shared_c{i}"),
                "name": format!("shared_c{i}"),
                "type": "Microsoft.PowerApps/apis",
                "suggestedCreationType": "Existing",
                "details": {"displayName": format!("Connector {i}")},
                "dependsOn": deps(i).into_iter().map(key).collect::<Vec<_>>(),
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
