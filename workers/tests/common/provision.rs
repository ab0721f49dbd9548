//! The scenario builders and readers shared by the `ferry provision` tests (`provision_cli`,
//! `provision_rerun_cli`): the vendor packages, the targets file, the run's summary and status
//! rows, and the facts of the audit log.
#![allow(clippy::unwrap_used)] // Tests: a panic is a failed test.

use std::collections::BTreeMap;

use serde_json::Value;

use super::cli::{text, Ferry};

/// Tenant `vendor` with `dev` (default): two shared_office365 connections, the flow "Approve"
/// bound to both, the app "Expenses" calling it; exported to `pkg.zip` (connectors, the two
/// connections, the flow, the app).
pub fn vendor(f: &Ferry) {
    f.ok("tenant create vendor");
    f.ok("env create vendor/dev --default");
    f.ok("connector create vendor/dev shared_office365");
    let connection = |account: &str| {
        text(
            &f.json(&format!(
                "connection create vendor/dev --connector shared_office365 --account {account}"
            )),
            "id",
        )
    };
    let (a, b) = (
        connection("a@vendor.example"),
        connection("b@vendor.example"),
    );
    f.write("wf.json", super::cli::WORKFLOW);
    f.ok(&format!(
        "flow create vendor/dev Approve --definition wf.json --connection shared_office365={a} \
         --connection shared_office365_1={b}"
    ));
    f.ok("app create vendor/dev Expenses --flow Approve --connector shared_office365");
    f.ok("export vendor/dev --app Expenses --name Expenses --out pkg.zip");
}

/// A package needing no input: the app "Portal" calling the flow "Notify" (no connections);
/// exported to `portal.zip`.
pub fn portal(f: &Ferry) {
    f.ok("tenant create vendor");
    f.ok("env create vendor/dev --default");
    f.write("wf.json", super::cli::WORKFLOW);
    f.ok("flow create vendor/dev Notify --definition wf.json");
    f.ok("app create vendor/dev Portal --flow Notify");
    f.ok("export vendor/dev --app Portal --name Portal --out portal.zip");
}

/// The target's own connection, matching the template's rule.
pub fn connect(f: &Ferry, tenant: &str, env: &str) -> String {
    text(
        &f.json(&format!(
            "connection create {tenant}/{env} --connector shared_office365 --account ops@{tenant}.example"
        )),
        "id",
    )
}

pub fn csv(header: &str, rows: &[String]) -> Vec<u8> {
    let mut csv = format!("{header}\n");
    for row in rows {
        csv.push_str(row);
        csv.push('\n');
    }
    csv.into_bytes()
}

/// `(done, failed, blocked, not_run)` of a `--json` summary, which must also count `targets`.
pub fn counts(summary: &Value, targets: u64) -> (u64, u64, u64, u64) {
    assert_eq!(summary["targets"], targets, "{summary}");
    let n = |field: &str| summary[field].as_u64().unwrap();
    (n("done"), n("failed"), n("blocked"), n("not_run"))
}

/// The rows of `provision status <id> [filter] --json`.
pub fn status_rows(f: &Ferry, id: &str, filter: &str) -> Vec<Value> {
    let status = f.json(&format!("provision status {id} {filter}"));
    assert_eq!(status["provision"], id, "{status}");
    status["targets"].as_array().unwrap().clone()
}

/// Every fact of `ferry audit log`.
pub fn facts(f: &Ferry) -> Vec<Value> {
    let log = f.ok("audit log --format json");
    serde_json::from_str::<Value>(&log)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// How often each migration has a fact `action`.
pub fn per_migration(facts: &[Value], action: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for fact in facts.iter().filter(|f| f["action"] == action) {
        *counts.entry(text(fact, "migration")).or_insert(0) += 1;
    }
    counts
}

pub fn assert_log_verifies(f: &Ferry) {
    let verified = f.run("audit verify");
    assert_eq!(verified.code, 0, "{}{}", verified.stdout, verified.stderr);
    assert!(verified.stdout.contains("intact"), "{}", verified.stdout);
    f.assert_replays();
}
