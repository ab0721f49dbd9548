//! `ferry bench` runs end to end on a small size and reports every figure next to its
//! baseline, as a table and one JSON line; with `--kafka`, also the Kafka figures, here on
//! librdkafka's mock cluster.
#![allow(clippy::unwrap_used)] // Tests: a panic is a failed test.

mod common {
    #[allow(dead_code)] // Shared by several test crates; each uses a part.
    pub mod kafka;
}

use std::process::Command;

use common::kafka;

/// Runs `ferry bench <args>` in a scratch folder; checks it succeeded and removed its scratch
/// data directories; returns what it printed.
fn bench(args: &[&str]) -> String {
    let scratch = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .env_remove("FERRY_LOG")
        .env_remove("FERRY_BROKERS")
        .env_remove("FERRY_TOPIC_PREFIX")
        .arg("bench")
        .args(args)
        .arg("--scratch")
        .arg(scratch.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_dir(scratch.path()).unwrap().count(),
        0,
        "the scratch data directories are removed"
    );
    stdout
}

#[test]
fn bench_reports_each_figure_with_its_baseline() {
    let stdout = bench(&["--targets", "20", "--concurrency", "4"]);
    assert!(stdout.contains("provision 20 targets"), "{stdout}");
    assert!(
        stdout.contains("open + resource list, 20 targets"),
        "{stdout}"
    );
    let json: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let provisioned = &json["provisioning"][0];
    assert_eq!(provisioned["targets"], 20);
    assert_eq!(provisioned["done"], 20, "every target imported: {json}");
    for ratio in [
        &provisioned["ratio"],
        &json["appends"]["ratio"],
        &json["reads"]["verify_ratio"],
        &json["reads"]["rebuild_ratio"],
        &provisioned["open_query_saved_ms"],
        &provisioned["open_query_rebuilt_ms"],
        &provisioned["open_status_ms"],
        &provisioned["open_tenant_list_ms"],
    ] {
        assert!(ratio.as_f64().unwrap() > 0.0, "{json}");
    }
    assert!(
        json["reads"]["records"].as_u64().unwrap() > 20 * 10,
        "{json}"
    );
}

#[test]
fn bench_on_kafka_reports_appends_and_provisioning_next_to_their_baselines() {
    let prefix = kafka::prefix("bench");
    // The mock cluster cannot create topics: make the bench's three sets under its prefix.
    let mut brokers = String::new();
    for set in ["append.", "raw.", "provision."] {
        brokers = kafka::mock(&format!("{prefix}{set}"));
    }
    let stdout = bench(&[
        "--targets",
        "5",
        "--concurrency",
        "4",
        "--kafka",
        &brokers,
        "--kafka-topic-prefix",
        &prefix,
        "--kafka-targets",
        "6",
        "--kafka-events",
        "24",
        "--kafka-writers",
        "4",
    ]);
    assert!(stdout.contains("kafka appends, 4 writers"), "{stdout}");
    assert!(
        stdout.contains("provision 6 targets, kafka/embedded"),
        "{stdout}"
    );
    let json: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let on_kafka = &json["kafka"];
    assert_eq!(on_kafka["topic_prefix"], prefix.as_str(), "{json}");
    let appends = &on_kafka["appends"];
    assert_eq!(appends["events"], 24, "{json}");
    assert_eq!(
        appends["messages"], 24,
        "the same messages, produced raw: {json}"
    );
    assert!(appends["bytes"].as_u64().unwrap() > 24 * 200, "{json}");
    let provisioning = &on_kafka["provisioning"];
    assert_eq!(
        provisioning["kafka_done"], 6,
        "every target imported: {json}"
    );
    assert_eq!(provisioning["embedded_done"], 6, "{json}");
    for figure in [
        &appends["ferry_seconds"],
        &appends["raw_seconds"],
        &appends["ferry_events_per_s"],
        &appends["raw_events_per_s"],
        &appends["ratio"],
        &provisioning["kafka_targets_per_s"],
        &provisioning["embedded_targets_per_s"],
        &provisioning["ratio"],
    ] {
        assert!(figure.as_f64().unwrap() > 0.0, "{json}");
    }
}

#[test]
fn the_api_bench_reads_through_a_server_under_load_next_to_a_trivial_handler() {
    let stdout = bench(&[
        "--api",
        "--api-history",
        "15",
        "--api-clients",
        "4",
        "--api-requests",
        "5",
        "--api-background",
        "30",
        "--api-cli-runs",
        "1",
    ]);
    assert!(stdout.contains("GET status p50"), "{stdout}");
    let json: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let load = &json["api"]["under_load"];
    assert_eq!(
        load["status"]["answered"], 20,
        "every request answered: {json}"
    );
    assert_eq!(load["trivial"]["answered"], 20, "{json}");
    assert!(load["p50_ratio"].as_f64().unwrap() > 0.0, "{json}");
    let cli = &json["api"]["cli_status"][0];
    assert!(cli["records"].as_u64().unwrap() > 100, "{json}");
    assert!(
        cli["status_through_server_ms"].as_f64().unwrap() > 0.0,
        "{json}"
    );
}
