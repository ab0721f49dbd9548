//! `ferry provision` run again over the same targets, end to end through the real binary.
//!
//! - SIGKILL mid-run, then the same command (and `--resume`): every target done, each
//!   imported exactly once, the log verifies and replays.
//! - The same command with another `--concurrency` continues the same run.
//! - A second release lands as drafts of the apps and flows the identity map names.
//!
//! Every CLI invocation replays the log, so the scenarios keep their setup small: the kill
//! test's package needs no input, so `--create-envs` makes its targets. A run's outcomes, its
//! waves and refused input are tested in `provision_cli`; the scenario builders are in
//! `common/provision.rs`.
#![allow(clippy::unwrap_used)] // Tests: a panic is a failed test.

mod common {
    #[allow(dead_code)] // Shared by several test crates; each uses a part.
    pub mod cli;
    #[allow(dead_code)] // The Kafka harness: used when FERRY_TEST_LOG=kafka.
    pub mod kafka;
    pub mod provision;
    #[allow(dead_code)] // Shared by several test crates; each uses a part.
    pub mod rng;
}

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::cli::{text, Ferry};
use common::provision::{
    assert_log_verifies, connect, counts, csv, facts, per_migration, portal, status_rows, vendor,
};
use common::rng::Rng;

/// Binds each of the package's connections to the target's connection of the same connector
/// whose account is `ops@<tenant>.example`, and updates what an earlier import of the package
/// created.
const IDENTITY_TEMPLATE: &str = r#"
[[bind]]
connector = "shared_office365"
account = "ops@{tenant}.example"

[update]
apps = "identity"
flows = "identity"
"#;

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
    let mut rng = Rng::seeded("FERRY_PROVISION_SEED", "provision kill test");
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

    // `provision publish` publishes the rest, target by target; again, it has nothing left.
    let run = text(&second, "provision");
    let done = f.json(&format!("provision publish {run}"));
    let outcomes: Vec<String> = done["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| text(t, "outcome"))
        .collect();
    let mut expected = vec!["published".to_owned(); 10];
    expected[0] = "nothing to publish".into();
    assert_eq!(outcomes, expected, "{done}");
    for (env, (_, found)) in envs.iter().zip(&release_1) {
        let live: Vec<_> = found
            .iter()
            .map(|(k, id, _, _)| (k.clone(), id.clone(), 2, false))
            .collect();
        assert_eq!(apps_and_flows(&f, env).1, live, "{env}");
    }
    let again = f.ok(&format!("provision publish {run}"));
    assert!(
        again.contains("0 target(s) published, 10 with nothing to publish, 0 failed"),
        "{again}"
    );
    assert_log_verifies(&f);
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
