//! `ferry bench` runs end to end on a small size and reports every figure next to its
//! baseline, as a table and one JSON line.
#![allow(clippy::unwrap_used)] // Tests: a panic is a failed test.

use std::process::Command;

#[test]
fn bench_reports_each_figure_with_its_baseline() {
    let scratch = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args([
            "bench",
            "--targets",
            "20",
            "--concurrency",
            "4",
            "--scratch",
        ])
        .arg(scratch.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("provision 20 targets"), "{stdout}");
    let json: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let provisioned = &json["provisioning"][0];
    assert_eq!(provisioned["targets"], 20);
    assert_eq!(provisioned["done"], 20, "every target imported: {json}");
    for ratio in [
        &provisioned["ratio"],
        &json["appends"]["ratio"],
        &json["reads"]["verify_ratio"],
        &json["reads"]["rebuild_ratio"],
    ] {
        assert!(ratio.as_f64().unwrap() > 0.0, "{json}");
    }
    assert!(
        json["reads"]["records"].as_u64().unwrap() > 20 * 10,
        "{json}"
    );
    assert_eq!(
        std::fs::read_dir(scratch.path()).unwrap().count(),
        0,
        "the scratch data directories are removed"
    );
}
