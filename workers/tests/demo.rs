//! `ferry demo` runs the whole scenario through the real CLI code paths, leaves a data
//! directory whose state matches the story, and never clobbers a folder it did not make.
#![allow(clippy::unwrap_used)] // Tests: a panic is a failed test.

use std::process::Command;

fn ferry(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_demo_tells_the_whole_story_and_leaves_its_state_behind() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("demo");
    let dir = dir.to_str().unwrap();
    let (code, out, err) = ferry(&["--data-dir", dir, "demo"]);
    assert_eq!(code, 0, "demo failed:\n{out}\n{err}");
    for step in [
        "$ ferry export vendor/dev",
        "$ ferry import",
        "$ ferry answer",
        "draft created",
        "published \"Expenses\"",
        "import completed",
        "intact:",
    ] {
        assert!(out.contains(step), "the narration lacks {step:?}:\n{out}");
    }
    assert!(!out.contains("demo-credential"), "a credential was printed");

    // The state is real: the customer's app is at version 2, published, without a draft.
    let (code, list, _) = ferry(&[
        "--data-dir",
        dir,
        "resource",
        "list",
        "contoso/prod",
        "--kind",
        "app",
        "--json",
    ]);
    assert_eq!(code, 0);
    let apps: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(apps[0]["name"], "Expenses");
    assert_eq!(apps[0]["version"], 2);
    assert_eq!(apps[0]["has_draft"], false);
    let (_, status, _) = ferry(&["--data-dir", dir, "status", "--json"]);
    let imports: serde_json::Value = serde_json::from_str(&status).unwrap();
    let states: Vec<_> = imports
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["state"].clone())
        .collect();
    assert_eq!(states, ["completed", "completed"]);

    // A second run replaces its own earlier data directory.
    let (code, _, err) = ferry(&["--data-dir", dir, "demo"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = ferry(&["--data-dir", dir, "audit", "replay", "--all"]);
    assert_eq!(
        code, 0,
        "the demo's imports replay differently:\n{out}\n{err}"
    );
}

#[test]
fn the_demo_refuses_a_folder_it_did_not_make() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("precious.txt"), "keep me").unwrap();
    let (code, _, err) = ferry(&["--data-dir", root.path().to_str().unwrap(), "demo"]);
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("not empty"), "{err}");
    assert!(root.path().join("precious.txt").exists());
}
