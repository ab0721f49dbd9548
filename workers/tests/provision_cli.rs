//! `ferry provision` end to end through the real binary: one vendor package into many target
//! environments with an answer template.
//!
//! - 200 targets with mixed outcomes: bound by the template (done), blocked by a missing
//!   connection, failed for a missing environment, and failed by drift (the app to update
//!   changed between the answers and the step); `provision status --failed/--blocked` list
//!   exactly those rows with their reasons.
//! - Waves: a first wave over the failure limit stops the run; later targets are not imported.
//! - `--create-envs`, and bad input refused with exit 2 before anything is recorded.
//!
//! Every CLI invocation replays the log, so the scenarios keep their setup small: the vendor's
//! two connections share a connector, so one connection per target binds both. The 200-target
//! scenario still takes ~400 invocations to set up (an environment and a connection per target).
//! Running a provision again (after a kill, with another concurrency, for a second release) is
//! tested in `provision_rerun_cli`; the scenario builders are in `common/provision.rs`.
#![allow(clippy::unwrap_used)] // Tests: a panic is a failed test.

mod common {
    #[allow(dead_code)] // Shared by several test crates; each uses a part.
    pub mod cli;
    #[allow(dead_code)] // The Kafka harness: used when FERRY_TEST_LOG=kafka.
    pub mod kafka;
    pub mod provision;
}

use std::collections::{BTreeMap, BTreeSet};

use common::cli::{text, Ferry};
use common::provision::{
    assert_log_verifies, connect, counts, csv, facts, per_migration, portal, status_rows, vendor,
};
use serde_json::Value;

/// Binds each of the package's connections to the target's connection of the same connector
/// whose account is `ops@<tenant>.example`.
const TEMPLATE: &str = r#"
[[bind]]
connector = "shared_office365"
account = "ops@{tenant}.example"
"#;

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

#[test]
fn create_envs_makes_missing_tenants_and_environments_then_blocks_on_connections() {
    let f = Ferry::new();
    vendor(&f);
    // As a spreadsheet saves "CSV UTF-8": a byte-order mark, CRLF, quoted cells, an answer
    // column left empty (no answer). Quoted line breaks: `targets::tests`.
    f.write(
        "targets.csv",
        "\u{feff}tenant,environment,\"Note\"\r\n\"n1\",prod,\r\nn1,test,\r\nn2,prod,\"\"\r\nvendor,qa,\r\n"
            .as_bytes(),
    );
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

#[test]
fn runs_are_listed_newest_first_with_when_and_by_whom() {
    let f = Ferry::new();
    portal(&f);
    // Run ids come from their requests, so id order says nothing of time.
    let mut started = Vec::new();
    for n in 0..4 {
        f.write(
            "targets.csv",
            format!("tenant,environment\nn{n},prod\n").as_bytes(),
        );
        let run = f.json("provision portal.zip --targets targets.csv --create-envs");
        started.push(text(&run, "provision"));
    }
    let listed: Vec<String> = f
        .json("provision status")
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["importer"], "operator", "{r}");
            assert!(r["requested_at"].is_string(), "{r}");
            text(r, "provision")
        })
        .collect();
    started.reverse();
    assert_eq!(listed, started);
    let table = f.ok("provision status");
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("RUN") && lines[0].contains("STARTED") && lines[0].contains("BY"),
        "{table}"
    );
    assert!(
        lines[1].starts_with(&started[0]) && lines[1].contains("operator"),
        "{table}"
    );
}
