//! `ferry package inspect` run as a real binary: every fixture reports the counts SOURCES.tsv
//! records, and hostile zips exit 2 with an error naming the entry.
#![allow(clippy::unwrap_used)] // Tests: a panic is a failed test.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use zip::write::SimpleFileOptions;
use zip::ZipWriter;

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/fixtures/real-packages"
);

fn ferry(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(args)
        .output()
        .expect("run ferry")
}

fn inspect(path: &Path, json: bool) -> Output {
    let path = path.to_str().expect("utf-8 path");
    if json {
        ferry(&["package", "inspect", path, "--json"])
    } else {
        ferry(&["package", "inspect", path])
    }
}

/// The `contents` column rebuilt from the JSON report alone.
fn contents_from_json(report: &Value) -> String {
    if report["kind"] == "legacy" {
        let resources = report["resources"].as_array().expect("resources");
        let mut parts = Vec::new();
        for (ty, word) in [
            ("Microsoft.PowerApps/apps", "apps"),
            ("Microsoft.Flow/flows", "flows"),
            ("Microsoft.PowerApps/apis", "apis"),
            ("Microsoft.PowerApps/apis/connections", "connections"),
        ] {
            let n = resources.iter().filter(|r| r["type"] == ty).count();
            if n > 0 {
                parts.push(format!("{word} {n}"));
            }
        }
        let mut text = parts.join(", ");
        let custom = resources
            .iter()
            .filter(|r| r["type"] == "Microsoft.PowerApps/apis" && r["needs_input"] == true)
            .count();
        if custom > 0 {
            text.push_str(&format!(" (custom connector refs {custom})"));
        }
        text
    } else {
        let mut counts: BTreeMap<u64, (String, usize)> = BTreeMap::new();
        for c in report["root_components"]
            .as_array()
            .expect("root_components")
        {
            let ty = c["type"].as_u64().expect("numeric type");
            let label = c["type_label"].as_str().expect("label").to_owned();
            counts.entry(ty).or_insert((label, 0)).1 += 1;
        }
        let parts: Vec<String> = counts.values().map(|(l, n)| format!("{l} {n}")).collect();
        let missing = report["missing_dependencies"]
            .as_array()
            .expect("missing")
            .len();
        format!("{}; MissingDependency {missing}", parts.join(", "))
    }
}

#[test]
fn every_fixture_inspects_with_the_recorded_counts() {
    let tsv = std::fs::read_to_string(Path::new(FIXTURES).join("SOURCES.tsv")).expect("tsv");
    let mut seen = 0;
    for line in tsv.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (file, kind, contents, display_name) = (cols[0], cols[1], cols[2], cols[3]);
        let path = Path::new(FIXTURES).join(file);
        let output = inspect(&path, true);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{file}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let report: Value = serde_json::from_slice(&output.stdout).expect("json");
        assert!(
            kind.starts_with(report["kind"].as_str().expect("kind")),
            "{file}"
        );
        assert_eq!(report["display_name"], display_name, "{file}");
        assert_eq!(contents_from_json(&report), contents, "{file}");
        if report["kind"] == "solution" {
            assert_eq!(report["managed"], kind.contains("(managed)"), "{file}");
            assert!(report["unique_name"].is_string() && report["version"].is_string());
        } else {
            for r in report["resources"].as_array().expect("resources") {
                let deps = r["depends_on"].as_array().expect("depends_on");
                let unique: std::collections::BTreeSet<_> =
                    deps.iter().map(Value::to_string).collect();
                assert_eq!(
                    unique.len(),
                    deps.len(),
                    "{file}: depends_on not deduplicated"
                );
                assert!(r["allowed_actions"].is_array() && r["needs_input"].is_boolean());
            }
        }
        let human = inspect(&path, false);
        assert_eq!(human.status.code(), Some(0), "{file}");
        assert!(
            String::from_utf8_lossy(&human.stdout).contains(display_name),
            "{file}"
        );
        seen += 1;
    }
    assert_eq!(seen, 29);
}

fn hostile(dir: &Path, name: &str, entries: &[(&str, &[u8])]) -> PathBuf {
    let path = dir.join(name);
    let mut zip = ZipWriter::new(std::fs::File::create(&path).expect("create"));
    for (entry, data) in entries {
        zip.start_file(*entry, SimpleFileOptions::default())
            .expect("start");
        zip.write_all(data).expect("write");
    }
    zip.finish().expect("finish");
    path
}

#[test]
fn hostile_packages_exit_2_naming_the_entry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bomb = vec![0u8; 8 << 20];
    let cases: Vec<(PathBuf, &str)> = vec![
        (hostile(dir.path(), "traversal.zip", &[("../../etc/evil", b"x")]), "entry ../../etc/evil"),
        (hostile(dir.path(), "bomb.zip", &[("zeros.bin", &bomb)]), "entry zeros.bin"),
        (hostile(dir.path(), "nomanifest.zip", &[("readme.txt", b"hi")]), "entry manifest.json"),
        (
            hostile(dir.path(), "badjson.zip", &[("manifest.json", b"{\"schema\": \"1.0\",\n oops}")]),
            "entry manifest.json: invalid JSON",
        ),
        (
            hostile(
                dir.path(),
                "dangling.zip",
                &[("manifest.json", br#"{"schema":"1.0","resources":{"a":{"type":"Microsoft.PowerApps/apis","dependsOn":["gone"]}}}"#)],
            ),
            "resource a depends on gone",
        ),
        (
            hostile(
                dir.path(),
                "badxml.zip",
                &[("solution.xml", b"<ImportExportXml><x></y>"), ("customizations.xml", b"<a/>"), ("[Content_Types].xml", b"<a/>")],
            ),
            "entry solution.xml",
        ),
    ];
    let empty = dir.path().join("empty.zip");
    std::fs::write(&empty, b"").expect("write");
    let truncated = dir.path().join("truncated.zip");
    let whole = std::fs::read(&cases[3].0).expect("read");
    std::fs::write(&truncated, &whole[..whole.len() / 2]).expect("write");
    let cases = cases.into_iter().chain([
        (empty, "not a zip archive"),
        (truncated, "not a zip archive"),
    ]);
    for (path, expected) in cases {
        let output = inspect(&path, false);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{}: {stderr}",
            path.display()
        );
        assert!(stderr.starts_with("error: "), "{stderr}");
        assert!(stderr.contains(expected), "{}: {stderr}", path.display());
        assert!(
            stderr.contains("is not a package Ferry can read"),
            "{stderr}"
        );
        assert!(output.stdout.is_empty());
    }
}

#[test]
fn a_missing_file_exits_2() {
    let output = ferry(&["package", "inspect", "/definitely/not/here.zip"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("/definitely/not/here.zip"));
}
