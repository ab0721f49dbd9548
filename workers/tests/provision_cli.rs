//! `ferry provision` end to end through the real binary: one vendor package into many target
//! environments with an answer template.
//!
//! - 200 targets with mixed outcomes: bound by the template (done), blocked by a missing
//!   connection, failed for a missing environment, and failed by drift (the app to update
//!   changed between the answers and the step); `provision status --failed/--blocked` list
//!   exactly those rows with their reasons.
//! - Waves: a first wave over the failure limit stops the run; later targets are not imported.
//! - SIGKILL mid-run, then the same command (and `--resume`): every target done, each
//!   imported exactly once, the log verifies and replays.
//! - A second release lands as drafts of the apps and flows the identity map names.
//! - `--create-envs`, and bad input refused with exit 2 before anything is recorded.
//!
//! Every CLI invocation replays the log, so the scenarios keep their setup small: the vendor's
//! two connections share a connector, so one connection per target binds both; the kill test's
//! package needs no input, so `--create-envs` makes its targets. The 200-target scenario still
//! takes ~400 invocations to set up (an environment and a connection per target).
#![allow(clippy::unwrap_used)] // Tests: a panic is a failed test.

mod common {
    #[allow(dead_code)] // Shared by several test crates; each uses a part.
    pub mod cli;
    #[allow(dead_code)] // The Kafka harness: used when FERRY_TEST_LOG=kafka.
    pub mod kafka;
}

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::cli::{text, Ferry};
use serde_json::Value;

/// Binds each of the package's connections to the target's connection of the same connector
/// whose account is `ops@<tenant>.example`.
const TEMPLATE: &str = r#"
[[bind]]
connector = "shared_office365"
account = "ops@{tenant}.example"
"#;

/// The same, and updates what an earlier import of the package created.
const IDENTITY_TEMPLATE: &str = r#"
[[bind]]
connector = "shared_office365"
account = "ops@{tenant}.example"

[update]
apps = "identity"
flows = "identity"
"#;

/// Tenant `vendor` with `dev` (default): two shared_office365 connections, the flow "Approve"
/// bound to both, the app "Expenses" calling it; exported to `pkg.zip` (connectors, the two
/// connections, the flow, the app).
fn vendor(f: &Ferry) {
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
    f.write("wf.json", common::cli::WORKFLOW);
    f.ok(&format!(
        "flow create vendor/dev Approve --definition wf.json --connection shared_office365={a} \
         --connection shared_office365_1={b}"
    ));
    f.ok("app create vendor/dev Expenses --flow Approve --connector shared_office365");
    f.ok("export vendor/dev --app Expenses --name Expenses --out pkg.zip");
}

/// A package needing no input: the app "Portal" calling the flow "Notify" (no connections);
/// exported to `portal.zip`.
fn portal(f: &Ferry) {
    f.ok("tenant create vendor");
    f.ok("env create vendor/dev --default");
    f.write("wf.json", common::cli::WORKFLOW);
    f.ok("flow create vendor/dev Notify --definition wf.json");
    f.ok("app create vendor/dev Portal --flow Notify");
    f.ok("export vendor/dev --app Portal --name Portal --out portal.zip");
}

/// The target's own connection, matching the template's rule.
fn connect(f: &Ferry, tenant: &str, env: &str) -> String {
    text(
        &f.json(&format!(
            "connection create {tenant}/{env} --connector shared_office365 --account ops@{tenant}.example"
        )),
        "id",
    )
}

fn csv(header: &str, rows: &[String]) -> Vec<u8> {
    let mut csv = format!("{header}\n");
    for row in rows {
        csv.push_str(row);
        csv.push('\n');
    }
    csv.into_bytes()
}

/// `(done, failed, blocked, not_run)` of a `--json` summary, which must also count `targets`.
fn counts(summary: &Value, targets: u64) -> (u64, u64, u64, u64) {
    assert_eq!(summary["targets"], targets, "{summary}");
    let n = |field: &str| summary[field].as_u64().unwrap();
    (n("done"), n("failed"), n("blocked"), n("not_run"))
}

/// The rows of `provision status <id> [filter] --json`.
fn status_rows(f: &Ferry, id: &str, filter: &str) -> Vec<Value> {
    let status = f.json(&format!("provision status {id} {filter}"));
    assert_eq!(status["provision"], id, "{status}");
    status["targets"].as_array().unwrap().clone()
}

/// Every fact of `ferry audit log`.
fn facts(f: &Ferry) -> Vec<Value> {
    let log = f.ok("audit log --format json");
    serde_json::from_str::<Value>(&log)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// How often each migration has a fact `action`.
fn per_migration(facts: &[Value], action: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for fact in facts.iter().filter(|f| f["action"] == action) {
        *counts.entry(text(fact, "migration")).or_insert(0) += 1;
    }
    counts
}

fn assert_log_verifies(f: &Ferry) {
    let verified = f.run("audit verify");
    assert_eq!(verified.code, 0, "{}{}", verified.stdout, verified.stderr);
    assert!(verified.stdout.contains("intact"), "{}", verified.stdout);
    f.assert_replays();
}

/// What happens to each of the 200 targets of the mixed-outcome scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    /// Its connection matches the rule.
    Done,
    /// No connection: blocked.
    Blocked,
    /// Its environment does not exist: failed `no-environment`.
    NoEnvironment,
    /// Its own column says `update:Expenses`; blocked at first, then its app changes and its
    /// connection appears: failed `changed-since-review`.
    Drift,
}

fn fate(i: usize) -> Fate {
    if [7, 47, 87, 127, 167].contains(&i) {
        Fate::NoEnvironment
    } else if i % 20 == 19 {
        Fate::Blocked
    } else if [3, 83, 163].contains(&i) {
        Fate::Drift
    } else {
        Fate::Done
    }
}

/// `(tenant, environment)` of target `i`: ten tenants of twenty environments; row 168 names a
/// tenant that does not exist.
fn place(i: usize) -> (String, String) {
    let tenant = if i == 167 {
        "ghost".to_owned()
    } else {
        format!("t{}", i / 20)
    };
    (tenant, format!("e{:02}", i % 20))
}

/// 1-based rows of the targets file whose fate is `wanted`.
fn rows_of(wanted: &[Fate]) -> BTreeSet<u64> {
    (0..200)
        .filter(|i| wanted.contains(&fate(*i)))
        .map(|i| i as u64 + 1)
        .collect()
}

fn indexes(rows: &[Value]) -> BTreeSet<u64> {
    rows.iter().map(|r| r["index"].as_u64().unwrap()).collect()
}

#[test]
fn two_hundred_targets_settle_as_done_blocked_or_failed_with_reasons() {
    let f = Ferry::new();
    vendor(&f);
    for t in 0..10 {
        f.ok(&format!("tenant create t{t}"));
    }
    let mut connections = BTreeMap::new();
    for i in 0..200 {
        let (tenant, env) = place(i);
        if fate(i) == Fate::NoEnvironment {
            continue;
        }
        f.ok(&format!("env create {tenant}/{env}"));
        match fate(i) {
            Fate::Done => {
                connections.insert(i, connect(&f, &tenant, &env));
            }
            Fate::Drift => {
                f.ok(&format!("app create {tenant}/{env} Expenses"));
            }
            _ => {}
        }
    }
    let rows: Vec<String> = (0..200)
        .map(|i| {
            let (tenant, env) = place(i);
            let own = if fate(i) == Fate::Drift {
                "update:Expenses"
            } else {
                ""
            };
            format!("{tenant},{env},{own}")
        })
        .collect();
    f.write("targets.csv", &csv("tenant,environment,Expenses", &rows));
    f.write("template.toml", TEMPLATE.as_bytes());
    let provision = "provision pkg.zip --targets targets.csv --answers template.toml";

    let first = f.json_code(1, provision);
    assert_eq!(counts(&first, 200), (182, 5, 13, 0), "{first}");
    assert_eq!(first["stopped_at_wave"], Value::Null, "{first}");
    let id = text(&first, "provision");

    let all = status_rows(&f, &id, "");
    assert_eq!(all.len(), 200);
    for (i, row) in all.iter().enumerate() {
        let (tenant, env) = place(i);
        assert_eq!(row["index"], i as u64 + 1, "{row}");
        assert_eq!(row["target"], format!("{tenant}/{env}"), "{row}");
        let expected = match fate(i) {
            Fate::Done => "done",
            Fate::NoEnvironment => "failed",
            Fate::Blocked | Fate::Drift => "blocked",
        };
        assert_eq!(row["outcome"], expected, "{row}");
    }
    let failed = status_rows(&f, &id, "--failed");
    assert_eq!(
        indexes(&failed),
        rows_of(&[Fate::NoEnvironment]),
        "{failed:?}"
    );
    for row in &failed {
        let reason = text(row, "reason");
        assert!(reason.starts_with("no-environment: "), "{row}");
        assert!(reason.contains(&text(row, "target")), "{row}");
    }
    let blocked = status_rows(&f, &id, "--blocked");
    assert_eq!(
        indexes(&blocked),
        rows_of(&[Fate::Blocked, Fate::Drift]),
        "{blocked:?}"
    );
    for row in &blocked {
        let reason = text(row, "reason");
        assert!(
            reason.contains("connection \"a@vendor.example\"")
                && reason.contains("connection \"b@vendor.example\""),
            "{row}"
        );
        assert!(!reason.contains("Expenses"), "the app was answered: {row}");
    }

    // The drift targets: their app changes and their connection appears; the same command
    // answers them again, and the update answered before the change fails its step.
    for i in (0..200).filter(|i| fate(*i) == Fate::Drift) {
        let (tenant, env) = place(i);
        f.ok(&format!("app edit {tenant}/{env} Expenses"));
        connect(&f, &tenant, &env);
    }
    let (tenant, env) = place(3);
    let show = format!("resource show {tenant}/{env} Expenses");
    let edited = f.json(&show);
    let second = f.json_code(1, provision);
    assert_eq!(
        second["provision"],
        id.as_str(),
        "the same command continues the run"
    );
    assert_eq!(counts(&second, 200), (182, 8, 10, 0), "{second}");
    let failed = status_rows(&f, &id, "--failed");
    assert_eq!(
        indexes(&failed),
        rows_of(&[Fate::NoEnvironment, Fate::Drift]),
        "{failed:?}"
    );
    for row in &failed {
        let index = row["index"].as_u64().unwrap() as usize - 1;
        let code = match fate(index) {
            Fate::Drift => "changed-since-review: ",
            _ => "no-environment: ",
        };
        assert!(text(row, "reason").starts_with(code), "{row}");
    }
    // The change made since the answers is not overwritten.
    assert_eq!(f.json(&show), edited);

    // One import per target that has an environment, none twice; each done target's two
    // connections bound to its own connection, not another tenant's.
    let facts = facts(&f);
    let requested = per_migration(&facts, "import requested");
    let migration = |i: usize| text(&all[i], "migration");
    let expected: BTreeSet<String> = (0..200)
        .filter(|i| fate(*i) != Fate::NoEnvironment)
        .map(migration)
        .collect();
    assert_eq!(requested.keys().cloned().collect::<BTreeSet<_>>(), expected);
    assert!(requested.values().all(|n| *n == 1), "{requested:?}");
    let mut answers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for fact in facts.iter().filter(|f| f["action"] == "answer given") {
        answers
            .entry(text(fact, "migration"))
            .or_default()
            .push(text(fact, "choices"));
    }
    for (i, connection) in &connections {
        let bound = format!("Existing:{connection}");
        assert_eq!(
            answers[&migration(*i)],
            [bound.clone(), bound],
            "target {i}"
        );
    }
    assert_log_verifies(&f);
}

#[test]
fn a_first_wave_over_the_failure_limit_stops_the_run() {
    let f = Ferry::new();
    vendor(&f);
    f.ok("tenant create w");
    // Wave 1: e00..e09, only three with a connection; wave 2: e10..e19, all ready.
    let ready = |i: usize| !(3..10).contains(&i);
    let mut rows = Vec::new();
    for i in 0..20 {
        let env = format!("e{i:02}");
        f.ok(&format!("env create w/{env}"));
        if ready(i) {
            connect(&f, "w", &env);
        }
        rows.push(format!("w,{env}"));
    }
    f.write("targets.csv", &csv("tenant,environment", &rows));
    f.write("template.toml", TEMPLATE.as_bytes());
    let provision = "provision pkg.zip --targets targets.csv --answers template.toml \
                     --waves 10,all --max-failure-rate 20%";

    let summary = f.json_code(1, provision);
    assert_eq!(counts(&summary, 20), (3, 0, 7, 10), "{summary}");
    assert_eq!(summary["stopped_at_wave"], 1, "{summary}");
    let waves = summary["waves"].as_array().unwrap();
    assert_eq!(waves.len(), 1, "{summary}");
    assert_eq!(waves[0]["stopped"], true, "{summary}");
    assert_eq!(waves[0]["blocked"], 7, "{summary}");
    let id = text(&summary, "provision");

    let all = status_rows(&f, &id, "");
    let imports: BTreeSet<String> = f
        .json("status")
        .as_array()
        .unwrap()
        .iter()
        .map(|i| text(i, "migration"))
        .collect();
    assert_eq!(imports.len(), 10, "only wave 1 was imported: {imports:?}");
    for (i, row) in all.iter().enumerate() {
        let imported = imports.contains(&text(row, "migration"));
        match i {
            0..=2 => assert_eq!(row["outcome"], "done", "{row}"),
            3..=9 => assert_eq!(row["outcome"], "blocked", "{row}"),
            _ => {
                assert_eq!(row["outcome"], "pending", "{row}");
                assert!(!imported, "a target of wave 2 was imported: {row}");
            }
        }
    }
    // Text mode says which wave stopped the run.
    let text_run = f.expect(1, provision);
    assert!(
        text_run.stdout.contains("stopped after wave 1"),
        "{}",
        text_run.stdout
    );

    // Once wave 1's targets have their connections, the same command finishes the run.
    for i in 3..10 {
        connect(&f, "w", &format!("e{i:02}"));
    }
    let summary = f.json(provision);
    assert_eq!(summary["provision"], id.as_str());
    assert_eq!(counts(&summary, 20), (20, 0, 0, 0), "{summary}");
    assert_eq!(summary["stopped_at_wave"], Value::Null, "{summary}");
    assert_eq!(summary["waves"].as_array().unwrap().len(), 2, "{summary}");
}

/// A seeded xorshift generator: a failing run replays from its printed seed.
struct Rng(u64);

impl Rng {
    fn seeded() -> Rng {
        let seed = std::env::var("FERRY_PROVISION_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                let nanos = std::time::SystemTime::UNIX_EPOCH
                    .elapsed()
                    .unwrap()
                    .as_nanos();
                (nanos as u64) | 1
            });
        eprintln!("provision kill test: FERRY_PROVISION_SEED={seed}");
        Rng(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// Starts `ferry <line>` as a child and SIGKILLs it after `delay`; says whether it was still
/// running then.
fn kill_after(f: &Ferry, line: &str, delay: Duration) -> bool {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .env_remove("FERRY_AS")
        .env_remove("FERRY_DATA_DIR")
        .env_remove("FERRY_LOG")
        .env_remove("FERRY_CRASH_AT")
        .arg("--data-dir")
        .arg(f.data_dir())
        .args(line.split_whitespace())
        .current_dir(f.path(""))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while started.elapsed() < delay {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let running = child.try_wait().unwrap().is_none();
    child.kill().unwrap();
    child.wait().unwrap();
    running
}

#[test]
fn a_run_killed_mid_way_resumes_and_imports_every_target_exactly_once() {
    let f = Ferry::new();
    portal(&f);
    // Forty tenants of ten environments, none existing yet: the run creates them.
    let rows: Vec<String> = (0..400)
        .map(|i| format!("k{},e{}", i / 10, i % 10))
        .collect();
    f.write("targets.csv", &csv("tenant,environment", &rows));
    let provision = "provision portal.zip --targets targets.csv --create-envs --concurrency 1";
    let mut rng = Rng::seeded();
    let mut id: Option<String> = None;
    let mut kills = 0;
    // Kills land early (the run takes a few seconds); rounds go on until three kills landed.
    let mut round = 0;
    while kills < 3 && round < 10 {
        // The second kill lands in a `--resume` run (once the run is recorded).
        let line = match (&id, round) {
            (Some(id), 1) => format!("provision --resume {id}"),
            _ => provision.to_owned(),
        };
        let delay = Duration::from_millis(60 + rng.below(400));
        let killed = kill_after(&f, &line, delay);
        kills += usize::from(killed);
        let runs = f.json("provision status");
        if let Some(run) = runs.as_array().unwrap().first() {
            id = Some(text(run, "provision"));
        }
        // A killed run leaves targets done, running or pending: never failed nor blocked.
        let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
        if let Some(id) = &id {
            for row in status_rows(&f, id, "") {
                *outcomes.entry(text(&row, "outcome")).or_insert(0) += 1;
            }
        }
        eprintln!("round {round}: `{line}` after {delay:?}: killed {killed}, {outcomes:?}");
        assert!(
            outcomes
                .keys()
                .all(|o| ["done", "running", "pending"].contains(&o.as_str())),
            "{outcomes:?}"
        );
        round += 1;
        if outcomes.get("done") == Some(&rows.len()) {
            break;
        }
    }
    assert!(kills > 0, "every run finished before its kill");
    let id = match id {
        Some(id) => id,
        // Every kill landed before the run was recorded: the same command starts it.
        None => text(&f.json(provision), "provision"),
    };
    let resumed = f.json(&format!("provision --resume {id}"));
    assert_eq!(resumed["provision"], id.as_str(), "{resumed}");
    assert_eq!(counts(&resumed, 400), (400, 0, 0, 0), "{resumed}");
    let again = f.json(provision);
    assert_eq!(again["provision"], id.as_str(), "{again}");
    assert_eq!(counts(&again, 400), (400, 0, 0, 0), "{again}");

    let all = status_rows(&f, &id, "");
    assert!(all.iter().all(|r| r["outcome"] == "done"), "{all:?}");
    let migrations: BTreeSet<String> = all.iter().map(|r| text(r, "migration")).collect();
    assert_eq!(migrations.len(), 400);
    let facts = facts(&f);
    let requested = per_migration(&facts, "import requested");
    assert_eq!(
        requested.keys().cloned().collect::<BTreeSet<_>>(),
        migrations
    );
    assert!(requested.values().all(|n| *n == 1), "{requested:?}");
    assert!(per_migration(&facts, "import completed")
        .values()
        .all(|n| *n == 1));
    // Every step once: the connector binding, the flow, the app.
    let mut steps: BTreeMap<(String, String), usize> = BTreeMap::new();
    for fact in facts.iter().filter(|f| f["action"] == "step applied") {
        *steps
            .entry((text(fact, "migration"), text(fact, "subject")))
            .or_insert(0) += 1;
    }
    assert_eq!(steps.len(), 1200, "three steps per target");
    assert!(steps.values().all(|n| *n == 1), "{steps:?}");
    let created = |action: &str| facts.iter().filter(|f| f["action"] == action).count();
    assert_eq!(created("tenant created"), 41);
    assert_eq!(created("environment created"), 401);
    assert_log_verifies(&f);
}

/// `resource list <env> --json` as kind → (id, version, has_draft), one app and one flow.
fn apps_and_flows(f: &Ferry, env: &str) -> (usize, Vec<(String, String, u64, bool)>) {
    let list = f.json(&format!("resource list {env}"));
    let list = list.as_array().unwrap();
    let found = list
        .iter()
        .filter(|r| r["kind"] == "app" || r["kind"] == "flow")
        .map(|r| {
            (
                text(r, "kind"),
                text(r, "id"),
                r["version"].as_u64().unwrap(),
                r["has_draft"].as_bool().unwrap(),
            )
        })
        .collect();
    (list.len(), found)
}

#[test]
fn a_second_release_updates_what_the_identity_map_names_as_drafts() {
    let f = Ferry::new();
    vendor(&f);
    let mut rows = Vec::new();
    for t in 0..2 {
        f.ok(&format!("tenant create r{t}"));
        for e in 0..5 {
            f.ok(&format!("env create r{t}/e{e}"));
            connect(&f, &format!("r{t}"), &format!("e{e}"));
            rows.push(format!("r{t},e{e}"));
        }
    }
    f.write("targets.csv", &csv("tenant,environment", &rows));
    f.write("template.toml", IDENTITY_TEMPLATE.as_bytes());
    let first = f.json("provision pkg.zip --targets targets.csv --answers template.toml");
    assert_eq!(counts(&first, 10), (10, 0, 0, 0), "{first}");
    let envs: Vec<String> = rows.iter().map(|r| r.replace(',', "/")).collect();
    let release_1: Vec<_> = envs.iter().map(|env| apps_and_flows(&f, env)).collect();
    for (count, found) in &release_1 {
        let kinds: Vec<_> = found
            .iter()
            .map(|(k, _, v, d)| (k.as_str(), *v, *d))
            .collect();
        assert_eq!(kinds, [("app", 1, false), ("flow", 1, false)], "of {count}");
    }

    // Release 2: the vendor edits the app, publishes and exports it as an update.
    f.ok("app edit vendor/dev Expenses --flow Approve --connector shared_office365");
    f.ok("publish vendor/dev --app Expenses");
    f.ok(
        "export vendor/dev --app Expenses --name Expenses --action Expenses=update --out pkg2.zip",
    );
    let second = f.json("provision pkg2.zip --targets targets.csv --answers template.toml");
    assert_ne!(second["provision"], first["provision"]);
    assert_eq!(counts(&second, 10), (10, 0, 0, 0), "{second}");
    for (env, (count, found)) in envs.iter().zip(&release_1) {
        let (count_now, found_now) = apps_and_flows(&f, env);
        assert_eq!(count_now, *count, "{env}: no resource created");
        let expected: Vec<_> = found
            .iter()
            .map(|(k, id, _, _)| (k.clone(), id.clone(), 1, true))
            .collect();
        assert_eq!(
            found_now, expected,
            "{env}: drafts of the same app and flow"
        );
    }
    let imports = status_rows(&f, &text(&second, "provision"), "");
    let migration = text(&imports[0], "migration");
    let results = f.json(&format!("status {migration}"));
    for item in results["items"].as_array().unwrap() {
        if item["kind"] == "app" || item["kind"] == "flow" {
            assert_eq!(item["outcome"], "draft created", "{item}");
        }
    }

    let published = f.json(&format!("publish {migration}"));
    assert_eq!(published.as_array().unwrap().len(), 2, "{published}");
    let (_, found) = apps_and_flows(&f, &envs[0]);
    let expected: Vec<_> = release_1[0]
        .1
        .iter()
        .map(|(k, id, _, _)| (k.clone(), id.clone(), 2, false))
        .collect();
    assert_eq!(found, expected);
    // The others keep their drafts.
    let (_, other) = apps_and_flows(&f, &envs[1]);
    assert!(other.iter().all(|(_, _, v, d)| *v == 1 && *d), "{other:?}");
    assert_log_verifies(&f);
}

#[test]
fn create_envs_makes_missing_tenants_and_environments_then_blocks_on_connections() {
    let f = Ferry::new();
    vendor(&f);
    let rows = ["n1,prod", "n1,test", "n2,prod", "vendor,qa"].map(str::to_owned);
    f.write("targets.csv", &csv("tenant,environment", &rows));
    f.write("template.toml", TEMPLATE.as_bytes());
    let provision = "provision pkg.zip --targets targets.csv --answers template.toml --create-envs";
    let summary = f.json_code(3, provision);
    assert_eq!(counts(&summary, 4), (0, 0, 4, 0), "{summary}");
    let names = |tenant: &str| -> Vec<String> {
        f.json(&format!("env list {tenant}"))
            .as_array()
            .unwrap()
            .iter()
            .map(|e| text(e, "name"))
            .collect()
    };
    assert_eq!(names("n1"), ["prod", "test"]);
    assert_eq!(names("n2"), ["prod"]);
    assert_eq!(names("vendor"), ["dev", "qa"]);
    let id = text(&summary, "provision");
    let blocked = status_rows(&f, &id, "--blocked");
    assert_eq!(blocked.len(), 4);
    assert!(blocked
        .iter()
        .all(|r| text(r, "reason").contains("connection \"a@vendor.example\"")));

    // Again: nothing created twice; a target whose connection appeared is done.
    connect(&f, "n2", "prod");
    let again = f.json_code(3, provision);
    assert_eq!(again["provision"], id.as_str());
    assert_eq!(counts(&again, 4), (1, 0, 3, 0), "{again}");
    assert_eq!(names("n1"), ["prod", "test"]);
    let tenants = f.json("tenant list");
    assert_eq!(tenants.as_array().unwrap().len(), 3, "{tenants}");
    assert_log_verifies(&f);
}

#[test]
fn bad_input_is_refused_before_anything_is_recorded() {
    let f = Ferry::new();
    vendor(&f);
    f.write("good.csv", b"tenant,environment\nvendor,dev\n");
    f.write("noheader.csv", b"vendor,dev\nvendor,prod\n");
    f.write(
        "shortrow.csv",
        b"tenant,environment\nvendor,dev\n\nvendor\n",
    );
    f.write("good.toml", TEMPLATE.as_bytes());
    f.write(
        "unknown.toml",
        b"[[bind]]\naccount = \"x\"\nacount = \"y\"\n",
    );
    f.write("policy.toml", b"[update]\napps = \"sometimes\"\n");
    let size = f.log_size();
    let cases: [(&str, &[&str]); 8] = [
        ("--targets noheader.csv", &["line 1", "tenant,environment"]),
        ("--targets shortrow.csv", &["line 4"]),
        ("--targets good.csv --answers unknown.toml", &["acount"]),
        ("--targets good.csv --answers policy.toml", &["sometimes"]),
        ("--targets good.csv --waves 0", &["--waves"]),
        ("--targets good.csv --waves 10,x,all", &["--waves"]),
        (
            "--targets good.csv --max-failure-rate 150%",
            &["--max-failure-rate"],
        ),
        ("--targets missing.csv", &["missing.csv"]),
    ];
    for (args, says) in cases {
        f.refused(2, &format!("provision pkg.zip {args}"), says);
    }
    f.refused(
        2,
        "provision --resume 01a21dc0-0000-7000-8000-000000000000",
        &["no provisioning run"],
    );
    f.refused(
        2,
        "provision status 01a21dc0-0000-7000-8000-000000000000",
        &["no provisioning run"],
    );
    assert_eq!(f.log_size(), size, "a refused command recorded something");
    assert_eq!(f.json("provision status"), serde_json::json!([]));
}

#[test]
fn rerunning_with_another_concurrency_continues_the_same_run() {
    let f = Ferry::new();
    portal(&f);
    let rows: Vec<String> = (0..10).map(|i| format!("c{i},prod")).collect();
    f.write("targets.csv", &csv("tenant,environment", &rows));
    let provision = "provision portal.zip --targets targets.csv --create-envs";
    let first = f.json(&format!("{provision} --concurrency 2"));
    let again = f.json(&format!("{provision} --concurrency 8"));
    assert_eq!(again["provision"], first["provision"], "{again}");
    let requested = per_migration(&facts(&f), "import requested");
    assert_eq!(
        requested.len(),
        10,
        "every target imported once: {requested:?}"
    );
    let list = f.json("resource list c0/prod --kind app");
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
}

#[test]
fn waves_after_all_are_refused() {
    let f = Ferry::new();
    portal(&f);
    f.write("targets.csv", b"tenant,environment\nvendor,dev\n");
    for waves in ["all,5", "10,all,x"] {
        f.refused(
            2,
            &format!("provision portal.zip --targets targets.csv --waves {waves}"),
            &["--waves"],
        );
    }
    assert_eq!(f.json("provision status"), serde_json::json!([]));
}
