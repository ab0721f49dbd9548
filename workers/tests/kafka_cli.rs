//! Ferry on the Kafka log, end to end through the CLI, on two real implementations of the
//! protocol: librdkafka's mock cluster (always) and tansu (when `ops/test.sh` started it).
//!
//! - The demo — export, review, answers, import, publish, audit log/checkpoint/verify — runs on
//!   Kafka and ends in the same state as on the embedded log.
//! - Three `ferry worker` processes share a 200-target provisioning through the workers'
//!   group; one is killed with SIGKILL mid-run; the others finish its migrations. Every step is
//!   recorded exactly once and the outcome equals a single-process run on the embedded log.
//! - Two processes run imports updating the same target, one of them deciding its update
//!   before the other's lands: exactly one update applies, the other fails
//!   `changed-since-review`.

#![allow(clippy::unwrap_used)] // Tests: a panic is a failed test.

mod common {
    #[allow(dead_code)] // Shared by several test crates; each uses a part.
    pub mod cli;
    pub mod kafka;
}

use std::collections::BTreeMap;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::cli::{bind, customer, export, first_import, import, item, text, vendor, Ferry};
use common::kafka;
use serde_json::Value;

/// Replaces every UUID with `<id>`: runs on different logs mint different ids.
fn masked(text: &str) -> String {
    let mut out = String::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let is_uuid = bytes.len() - i >= 36
            && text[i..i + 36].char_indices().all(|(j, c)| match j {
                8 | 13 | 18 | 23 => c == '-',
                _ => c.is_ascii_hexdigit(),
            });
        if is_uuid {
            out.push_str("<id>");
            i += 36;
        } else {
            out.push(bytes[i] as char);
            i += 1;
        }
    }
    out
}

/// `ferry --data-dir <f's work dir>/demo <args>`.
fn at_demo(f: &Ferry, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
        .env_remove("FERRY_LOG")
        .env_remove("FERRY_BROKERS")
        .env_remove("FERRY_TOPIC_PREFIX")
        .env_remove("FERRY_DATA_DIR")
        .arg("--data-dir")
        .arg(f.path("demo"))
        .args(args)
        .current_dir(f.path(""))
        .output()
        .unwrap()
}

fn demo(f: &Ferry, global: &[&str]) -> String {
    let out = at_demo(f, &[global, &["demo"]].concat());
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    printed
}

fn demo_matches_the_embedded_one(brokers: &str, prefix: &str) {
    let embedded = Ferry::new();
    demo(&embedded, &[]);
    let on_kafka = Ferry::new();
    let printed = demo(
        &on_kafka,
        &[
            "--log",
            "kafka",
            "--brokers",
            brokers,
            "--topic-prefix",
            prefix,
        ],
    );
    assert!(printed.contains("intact: 70 record(s)"), "{printed}");
    let contents = |f: &Ferry| {
        let out = at_demo(f, &["resource", "list", "contoso/prod"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        masked(&String::from_utf8_lossy(&out.stdout))
    };
    assert_eq!(contents(&on_kafka), contents(&embedded));
    assert!(contents(&on_kafka).contains("Expenses"));
}

#[test]
fn the_demo_runs_on_the_mock_cluster_and_ends_as_on_the_embedded_log() {
    let prefix = kafka::prefix("demo");
    demo_matches_the_embedded_one(&kafka::mock(&prefix), &prefix);
}

#[test]
fn the_demo_runs_on_tansu_and_ends_as_on_the_embedded_log() {
    if let Some(brokers) = kafka::tansu() {
        demo_matches_the_embedded_one(&brokers, &kafka::prefix("demo-tansu"));
    }
}

#[test]
fn a_command_whose_brokers_do_not_answer_says_so_within_its_broker_timeout() {
    let f = Ferry::new();
    // Port 9 (discard): nothing listens there. Before --broker-timeout this hung past 30 s.
    let started = Instant::now();
    let out = at_demo(
        &f,
        &[
            "--log",
            "kafka",
            "--brokers",
            "127.0.0.1:9",
            "--broker-timeout",
            "2s",
            "init",
        ],
    );
    let waited = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("127.0.0.1:9") && stderr.contains("--broker-timeout"),
        "names the brokers and the way to wait longer: {stderr}"
    );
    assert!(waited < Duration::from_secs(20), "gave up after {waited:?}");
    let bad = at_demo(&f, &["--broker-timeout", "soon", "init"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("like 90m"));
}

/// A package that needs no input (an app calling a flow), exported to `portal.zip`, and a
/// targets file of `count` new customers.
fn portal(f: &Ferry, count: usize) {
    f.ok("tenant create vendor");
    f.ok("env create vendor/dev --default");
    f.write("wf.json", common::cli::WORKFLOW);
    f.ok("flow create vendor/dev Notify --definition wf.json");
    f.ok("app create vendor/dev Portal --flow Notify");
    f.ok("export vendor/dev --app Portal --name Portal --out portal.zip");
    let mut csv = String::from("tenant,environment\n");
    for i in 0..count {
        csv.push_str(&format!("customer{i},prod\n"));
    }
    f.write("targets.csv", csv.as_bytes());
}

/// How many `step applied` facts each migration has.
fn steps(f: &Ferry) -> BTreeMap<String, usize> {
    let log: Value = serde_json::from_str(&f.ok("audit log --format json")).unwrap();
    let mut counts = BTreeMap::new();
    for fact in log
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["action"] == "step applied")
    {
        *counts.entry(text(fact, "migration")).or_insert(0) += 1;
    }
    counts
}

fn outcomes(summary: &Value) -> (u64, u64, u64) {
    let n = |k: &str| summary[k].as_u64().unwrap_or(0);
    (n("done"), n("failed"), n("blocked"))
}

/// Every target's import has its steps exactly once — the same count per migration as the
/// single-process run (`expected`) — and the log verifies.
fn assert_every_step_once(f: &Ferry, targets: usize, expected: &BTreeMap<String, usize>) {
    let got = steps(f);
    assert_eq!(got.len(), targets);
    let sorted = |counts: &BTreeMap<String, usize>| {
        let mut counts: Vec<usize> = counts.values().copied().collect();
        counts.sort_unstable();
        counts
    };
    assert_eq!(
        sorted(&got),
        sorted(expected),
        "a step was lost or recorded twice: per migration, unlike the single-process run"
    );
    let verified = f.run("audit verify");
    assert_eq!(verified.code, 0, "{}{}", verified.stdout, verified.stderr);
}

struct Worker(Child);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn three_workers_share_a_provisioning_and_survive_a_kill(brokers: &str, prefix: &str) {
    const TARGETS: usize = 200;
    // The reference: one process, embedded log.
    let reference = Ferry::new();
    portal(&reference, TARGETS);
    let line = "provision portal.zip --targets targets.csv --create-envs";
    let expected = reference.json(line);
    assert_eq!(outcomes(&expected), (TARGETS as u64, 0, 0), "{expected}");
    let expected_steps = steps(&reference);

    let f = Ferry::on_kafka(brokers, prefix);
    portal(&f, TARGETS);
    let workers: Vec<(Ferry, Worker)> = (0..3)
        .map(|_| {
            let home = Ferry::on_kafka(brokers, prefix);
            // Its diagnostics (work assignments, retried failures) are kept for a failure.
            let log = std::fs::File::create(home.path("worker.log")).unwrap();
            let child = home
                .command("worker --workers 4")
                .env("FERRY_TRACE", "info")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap();
            (home, Worker(child))
        })
        .collect();
    let provision = f
        .command(&format!("{line} --leave-to-workers --json"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Kill one worker once the run is under way (some imports done, most not).
    let started = Instant::now();
    let observer = Ferry::on_kafka(brokers, prefix);
    let mut workers = workers;
    let (_, mut victim) = workers.remove(0);
    loop {
        let done = steps(&observer).len();
        if done >= 10 || started.elapsed() > Duration::from_secs(120) {
            // With the time, to read beside the workers' logs if the run does not end.
            eprintln!(
                "{}: killing a worker after {done} migration(s) had steps",
                ferry_engine::clock::Clock::now(&ferry_engine::clock::SystemClock).to_rfc3339()
            );
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    victim.0.kill().unwrap();
    victim.0.wait().unwrap();
    // The run ends within minutes; if it does not, say what the workers were doing rather
    // than hang the suite.
    let (done, ended) = std::sync::mpsc::channel();
    std::thread::spawn(move || done.send(provision.wait_with_output()));
    let Ok(out) = ended.recv_timeout(Duration::from_secs(600)) else {
        let logs: Vec<String> = workers
            .iter()
            .map(|(home, _)| std::fs::read_to_string(home.path("worker.log")).unwrap_or_default())
            .collect();
        // The migrations still open (not the finished ones: they would bury the logs).
        let open: Vec<String> = observer
            .run("status")
            .stdout
            .lines()
            .filter(|line| !line.contains(" completed "))
            .map(str::to_owned)
            .collect();
        panic!(
            "{}: the run did not end within 10 minutes\nworker logs:\n{}\n{}",
            ferry_engine::clock::Clock::now(&ferry_engine::clock::SystemClock).to_rfc3339(),
            logs.join("\n---\n"),
            open.join("\n")
        );
    };
    let out = out.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let log = observer.ok("audit log --format json");
        let failures: Vec<String> = serde_json::from_str::<Value>(&log)
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["action"] == "migration failed")
            .map(|f| {
                observer
                    .run(&format!("status {}", text(f, "migration")))
                    .stdout
            })
            .collect();
        panic!(
            "{stdout}{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            failures.join("\n")
        );
    }
    let summary: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(outcomes(&summary), (TARGETS as u64, 0, 0), "{summary}");
    drop(workers);

    // Every step exactly once; the same steps per migration as the single-process run.
    assert_every_step_once(&f, TARGETS, &expected_steps);
    f.assert_replays();
    // The same contents in a customer's environment as on the embedded log.
    let list = |f: &Ferry| masked(&f.ok("resource list customer7/prod"));
    assert_eq!(list(&f), list(&reference));
}

#[test]
fn three_workers_on_the_mock_cluster_share_a_provisioning_and_survive_a_kill() {
    let prefix = kafka::prefix("workers");
    three_workers_share_a_provisioning_and_survive_a_kill(&kafka::mock(&prefix), &prefix);
}

#[test]
fn three_workers_on_tansu_share_a_provisioning_and_survive_a_kill() {
    if let Some(brokers) = kafka::tansu() {
        three_workers_share_a_provisioning_and_survive_a_kill(
            &brokers,
            &kafka::prefix("workers-tansu"),
        );
    }
}

/// Imports A and B both update `Expenses` and `Approve` in `cust/prod`, reviewed at the same
/// revisions. Process B decides B's first update (the flow's) and is held there before
/// appending it; process A runs import A to completion; then B goes on. B's decision is stale:
/// the log refuses its append (the environment changed since), B decides again and fails
/// `changed-since-review` — on two processes as within one.
fn two_processes_updating_one_target_apply_exactly_one_update(brokers: &str, prefix: &str) {
    let a = Ferry::on_kafka(brokers, prefix);
    vendor(&a);
    export(&a, "pkg.zip");
    customer(&a);
    let (app, flow, bob) = first_import(&a);
    let answers = format!("Expenses=update:{app} Approve=update:{flow} {}", bind(&bob));
    let first = import(&a, "pkg.zip", "cust/prod", "cust/bob", &answers);
    let second = import(&a, "pkg.zip", "cust/prod", "cust/bob", &answers);
    let before = a.json("resource list cust/prod");

    let b = Ferry::on_kafka(brokers, prefix);
    let paused = b.path("paused");
    let held = b
        .command(&format!(
            "start {second} --as cust/bob --workers 1 --wait --json"
        ))
        .env("FERRY_PAUSE_AT", "step-changes-environment")
        .env("FERRY_PAUSE_FILE", &paused)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let since = Instant::now();
    while !paused.exists() {
        assert!(
            since.elapsed() < Duration::from_secs(120),
            "process B never reached its first change"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // B holds a decision made on the environment as it is now; A's import lands meanwhile.
    let won = a.json(&format!("start {first} --as cust/bob --workers 1 --wait"));
    assert_eq!(won["state"], "completed", "{won}");
    for name in ["Expenses", "Approve"] {
        assert_eq!(item(&won, name)["outcome"], "draft created", "{won}");
    }
    let drafts = a.json(&format!("resource show cust/prod {app}"));
    std::fs::remove_file(&paused).unwrap();
    let out = held.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lost: Value = serde_json::from_str(&stdout).unwrap();
    let approve = item(&lost, "Approve");
    assert_eq!(approve["outcome"], "failed", "{lost}");
    assert_eq!(approve["error_code"], "changed-since-review", "{lost}");
    assert_eq!(item(&lost, "Expenses")["outcome"], "failed", "{lost}");

    // One update applied: A's drafts stand, nothing was added, no name appears twice.
    assert_eq!(a.json(&format!("resource show cust/prod {app}")), drafts);
    let after = a.json("resource list cust/prod");
    let names = |list: &Value| {
        let mut names: Vec<String> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|r| format!("{}:{}", text(r, "kind"), text(r, "name")))
            .collect();
        names.sort();
        names
    };
    assert_eq!(names(&after), names(&before));
    let mut unique = names(&after);
    unique.dedup();
    assert_eq!(unique, names(&after), "a name appears twice");
    for (list, id) in [(&before, &app), (&before, &flow)] {
        let was = list
            .as_array()
            .unwrap()
            .iter()
            .find(|r| text(r, "id") == *id)
            .unwrap();
        let now = after
            .as_array()
            .unwrap()
            .iter()
            .find(|r| text(r, "id") == *id)
            .unwrap();
        assert_eq!(
            now["revision"].as_u64(),
            was["revision"].as_u64().map(|r| r + 1),
            "exactly one update of {id}"
        );
    }
    a.assert_replays();
    b.assert_replays();
}

#[test]
fn two_processes_updating_one_target_on_the_mock_cluster_apply_exactly_one_update() {
    let prefix = kafka::prefix("race");
    two_processes_updating_one_target_apply_exactly_one_update(&kafka::mock(&prefix), &prefix);
}

#[test]
fn two_processes_updating_one_target_on_tansu_apply_exactly_one_update() {
    if let Some(brokers) = kafka::tansu() {
        two_processes_updating_one_target_apply_exactly_one_update(
            &brokers,
            &kafka::prefix("race-tansu"),
        );
    }
}

/// Provisions 60 targets on the mock cluster while each broker in turn goes down for a moment,
/// produce requests fail with retriable errors and offset commits are refused: every target
/// is imported, every step recorded once, and the log verifies.
#[test]
fn provisioning_rides_out_brokers_going_down_and_injected_request_errors() {
    use kafka::{RDKafkaApiKey, RDKafkaRespErr};
    const TARGETS: usize = 60;
    let prefix = kafka::prefix("faults");
    let cluster = kafka::Cluster::start();
    let brokers = cluster.with_topics(&prefix);
    let reference = Ferry::new();
    portal(&reference, TARGETS);
    let line = "provision portal.zip --targets targets.csv --create-envs";
    reference.json(line);
    let expected_steps = steps(&reference);

    let f = Ferry::on_kafka(&brokers, &prefix);
    portal(&f, TARGETS);
    let provision = f
        .command(&format!("{line} --json"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    cluster.errors(
        RDKafkaApiKey::Produce,
        &[
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
        ],
    );
    cluster.errors(
        RDKafkaApiKey::OffsetCommit,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT; 3],
    );
    for broker in 1..=3 {
        std::thread::sleep(Duration::from_millis(300));
        cluster.broker(broker, false);
        std::thread::sleep(Duration::from_millis(700));
        cluster.broker(broker, true);
    }
    let out = provision.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(outcomes(&summary), (TARGETS as u64, 0, 0), "{summary}");
    assert_every_step_once(&f, TARGETS, &expected_steps);
}
