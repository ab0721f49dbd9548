//! The crash harness: the real `ferry` binary killed with SIGKILL at random instants (and
//! aborted at named crash points) while workers run imports, restarted until every import is
//! done, then checked against a reference run that was never interrupted:
//! - every resource step recorded exactly once, stream versions contiguous;
//! - the target environments' contents equal the reference's (generated ids aside);
//! - the hash chain verifies;
//! - the live projections (what the CLI prints) equal projections rebuilt from the log;
//! - every import reached its terminal state.
//!
//! `FERRY_CRASH_SEED` replays a run (the seed is printed); `FERRY_CRASH_KILLS` sets the number
//! of kills of the soak (`ops/soak/crash.sh N`).
#![allow(clippy::unwrap_used)] // Tests: a panic is a failed test.

mod common {
    pub mod rng;
}

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::rng::Rng;
use ferry_engine::audit;
use ferry_engine::blobs::Blobs;
use ferry_engine::failpoint::POINTS;
use ferry_engine::log::{self, FileStore, Options, Store, Verification};
use ferry_engine::migration::{Outcome, Phase};
use ferry_engine::world::World;
use ferry_schemas::event::Event;
use serde_json::Value;

/// Flows in the synthetic package: with the app, connectors and connections, a few hundred
/// resources.
const FLOWS: usize = 200;
const CONNECTORS: [&str; 2] = ["shared_office365", "shared_sharepointonline"];
/// Environments each workload imports into (one import each, run side by side): 3, or
/// `FERRY_CRASH_ENVIRONMENTS` (the soak uses more).
fn environments() -> usize {
    std::env::var("FERRY_CRASH_ENVIRONMENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3)
}

fn command(data: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ferry"));
    command
        .env_remove("FERRY_AS")
        .env_remove("FERRY_DATA_DIR")
        .env_remove("FERRY_CRASH_AT")
        .arg("--data-dir")
        .arg(data)
        .args(args);
    command
}

fn run(data: &Path, args: &[&str]) -> Output {
    command(data, args).output().unwrap()
}

fn ok(data: &Path, args: &[&str]) -> String {
    let out = run(data, args);
    assert!(
        out.status.success(),
        "ferry {args:?}: {:?}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn json(data: &Path, args: &[&str]) -> Value {
    let out = run(data, args);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("ferry {args:?}: {e}"))
}

/// The synthetic package, built once through the CLI: an app calling `FLOWS` flows, each
/// using one or two connections.
fn synthetic_package() -> &'static [u8] {
    static PACKAGE: OnceLock<Vec<u8>> = OnceLock::new();
    PACKAGE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("vendor");
        ok(&data, &["init"]);
        ok(&data, &["tenant", "create", "vendor"]);
        ok(&data, &["env", "create", "vendor/dev", "--default"]);
        let mut connections = Vec::new();
        for connector in CONNECTORS {
            ok(&data, &["connector", "create", "vendor/dev", connector]);
            let args = [
                "connection",
                "create",
                "vendor/dev",
                "--connector",
                connector,
            ];
            let created = json(
                &data,
                &[&args[..], &["--account", "ops@vendor.example", "--json"]].concat(),
            );
            connections.push(format!("{connector}={}", created["id"].as_str().unwrap()));
        }
        let workflow = dir.path().join("workflow.json");
        std::fs::write(
            &workflow,
            r#"{"triggers":{"manual":{"type":"Request"}},"actions":{}}"#,
        )
        .unwrap();
        let workflow = workflow.to_str().unwrap();
        let mut app = vec![
            "app".to_owned(),
            "create".into(),
            "vendor/dev".into(),
            "Portal".into(),
        ];
        for n in 0..FLOWS {
            let name = format!("flow-{n:03}");
            let mut args = vec![
                "flow",
                "create",
                "vendor/dev",
                &name,
                "--definition",
                workflow,
            ];
            args.extend(["--connection", &connections[0]]);
            if n % 2 == 1 {
                args.extend(["--connection", &connections[1]]);
            }
            ok(&data, &args);
            app.extend(["--flow".into(), name]);
        }
        let app: Vec<&str> = app.iter().map(String::as_str).collect();
        ok(&data, &app);
        let out = dir.path().join("portal.zip");
        let export = [
            "export",
            "vendor/dev",
            "--app",
            "Portal",
            "--name",
            "Portal",
        ];
        ok(
            &data,
            &[&export[..], &["--out", out.to_str().unwrap()]].concat(),
        );
        std::fs::read(out).unwrap()
    })
}

/// A data directory with `environments` imports of the package started (answered, queued),
/// none run.
struct Workload {
    _dir: tempfile::TempDir,
    data: PathBuf,
    environments: Vec<String>,
}

fn workload(environments: usize) -> Workload {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let package = dir.path().join("portal.zip");
    std::fs::write(&package, synthetic_package()).unwrap();
    ok(&data, &["init"]);
    ok(&data, &["tenant", "create", "acme"]);
    let mut names = Vec::new();
    for n in 0..environments {
        let env = format!("acme/env-{n}");
        ok(&data, &["env", "create", &env]);
        for connector in CONNECTORS {
            let args = ["connection", "create", &env, "--connector", connector];
            ok(
                &data,
                &[&args[..], &["--account", "ops@acme.example"]].concat(),
            );
        }
        let review = json(
            &data,
            &[
                "import",
                package.to_str().unwrap(),
                "--into",
                &env,
                "--json",
            ],
        );
        let migration = review["migration"].as_str().unwrap().to_owned();
        let answers: Vec<String> = review["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["needs_input"] == true)
            .map(|i| format!("{}=existing:ops@acme.example", i["key"].as_str().unwrap()))
            .collect();
        let mut answer = vec!["answer", migration.as_str()];
        answer.extend(answers.iter().map(String::as_str));
        ok(&data, &answer);
        ok(&data, &["start", &migration]);
        names.push(env);
    }
    Workload {
        _dir: dir,
        data,
        environments: names,
    }
}

/// One environment's contents without generated ids: kind, name, version, documents, and the
/// names of what the documents refer to.
fn normalised(world: &World, environment: &str) -> Vec<String> {
    let (tenant, env) = environment.split_once('/').unwrap();
    let tenant = world.directory.tenant(&tenant.parse().unwrap()).unwrap();
    let env = world
        .directory
        .environment(tenant.id, &env.parse().unwrap())
        .unwrap();
    let mut found: Vec<String> = world
        .contents
        .of(env.id)
        .into_iter()
        .map(|r| {
            let refs: Vec<String> = r
                .published
                .iter()
                .flat_map(|d| d.references.values())
                .filter_map(|id| world.contents.get(*id))
                .map(|t| format!("{} {}", t.kind, t.name))
                .collect();
            let files = r.published.as_ref().map(|d| d.files.clone());
            format!(
                "{} {} v{} {:?} draft={} {files:?} -> {refs:?}",
                r.kind,
                r.name,
                r.version,
                r.connector,
                r.draft.is_some()
            )
        })
        .collect();
    found.sort();
    found
}

/// What a check found wrong.
#[derive(Debug, Default, PartialEq, Eq)]
struct Findings {
    lost: usize,
    duplicated: usize,
    mismatched: usize,
}

/// Checks `data` (no process running) against the reference contents.
fn check(work: &Workload, reference: &[Vec<String>]) -> Findings {
    let store = open_log(&work.data);
    assert!(
        matches!(log::verify(&store).unwrap(), Verification::Intact { .. }),
        "the hash chain must verify"
    );
    let world = World::load(&store).unwrap();
    let mut findings = Findings::default();
    for import in world.imports.values() {
        assert_eq!(
            import.phase,
            Phase::Completed,
            "import {} is {:?}",
            import.id,
            import.phase
        );
        let records = store
            .read_stream(
                &ferry_schemas::StreamId::migration(import.id),
                1,
                usize::MAX,
            )
            .unwrap();
        let versions: Vec<u64> = records.iter().map(|r| r.stream_version).collect();
        assert_eq!(versions, (1..=records.len() as u64).collect::<Vec<_>>());
        let mut applied: BTreeMap<String, usize> = BTreeMap::new();
        for record in &records {
            if let Event::StepApplied(step) = Event::from_record(record).unwrap() {
                *applied.entry(step.manifest_key).or_default() += 1;
            }
        }
        findings.duplicated += applied.values().filter(|n| **n > 1).count();
        findings.lost += import
            .items
            .iter()
            .filter(|i| {
                !matches!(i.outcome, Some(Outcome::Applied { .. }))
                    || !applied.contains_key(&i.review.manifest_key)
            })
            .count();
    }
    let blobs = Blobs::open(&work.data.join("blobs")).unwrap();
    let replayed = audit::replay::replay(&store, &blobs, None).unwrap();
    assert_eq!(
        replayed.differences,
        Vec::new(),
        "replay differs from the log"
    );
    for (environment, expected) in work.environments.iter().zip(reference) {
        if normalised(&world, environment) != *expected {
            findings.mismatched += 1;
        }
    }
    drop(store);
    // The live projections (what the CLI computes) equal the ones rebuilt here from the log.
    let store = open_log(&work.data);
    let rebuilt = World::load(&store).unwrap();
    drop(store);
    for environment in &work.environments {
        let live = json(&work.data, &["resource", "list", environment, "--json"]);
        let (tenant, env) = environment.split_once('/').unwrap();
        let tenant = rebuilt.directory.tenant(&tenant.parse().unwrap()).unwrap();
        let env = rebuilt
            .directory
            .environment(tenant.id, &env.parse().unwrap())
            .unwrap();
        let ids: Vec<String> = rebuilt
            .contents
            .of(env.id)
            .iter()
            .map(|r| r.id.to_string())
            .collect();
        let live_ids: Vec<String> = live
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            live_ids, ids,
            "live and rebuilt projections of {environment} differ"
        );
    }
    findings
}

/// Opens a workload's log. A child process this test binary is spawning (for another test)
/// shares the lock's open file between its fork and its exec, so a `Locked` here can be a
/// moment's overlap: retry briefly.
fn open_log(data: &Path) -> FileStore {
    for _ in 0..100 {
        match FileStore::open(&data.join("log"), Options::default()) {
            Err(log::Error::Locked { .. }) => std::thread::sleep(Duration::from_millis(20)),
            opened => return opened.unwrap(),
        }
    }
    panic!("the log of {} stays locked", data.display());
}

/// The reference: the workload run without interruption — every environment's contents, and
/// how long the run took.
fn reference() -> &'static (Vec<Vec<String>>, Duration) {
    static REFERENCE: OnceLock<(Vec<Vec<String>>, Duration)> = OnceLock::new();
    REFERENCE.get_or_init(|| {
        let work = workload(environments());
        let started = Instant::now();
        ok(&work.data, &["worker", "--until-idle"]);
        let took = started.elapsed();
        let store = open_log(&work.data);
        let world = World::load(&store).unwrap();
        let contents = work
            .environments
            .iter()
            .map(|e| normalised(&world, e))
            .collect();
        (contents, took)
    })
}

/// Kills `ferry worker` `kills` times at random instants, then lets it finish.
fn kill_repeatedly(work: &Workload, kills: usize, rng: &mut Rng) -> usize {
    let window = reference().1.as_millis() as u64 + 50;
    let mut done = 0;
    while done < kills {
        let mut child = command(&work.data, &["worker", "--until-idle"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.below(window)));
        if child.try_wait().unwrap().is_some() {
            break; // Finished before the kill: nothing left to interrupt.
        }
        child.kill().unwrap();
        child.wait().unwrap();
        done += 1;
    }
    ok(&work.data, &["worker", "--until-idle"]);
    done
}

fn soak(kills: usize) {
    let mut rng = Rng::seeded("FERRY_CRASH_SEED", "crash harness seed (set it to replay)");
    let expected = &reference().0;
    let started = Instant::now();
    let mut total = Findings::default();
    let mut killed = 0;
    while killed < kills {
        let work = workload(environments());
        let done = kill_repeatedly(&work, kills - killed, &mut rng);
        killed += done.max(1);
        let found = check(&work, expected);
        total.lost += found.lost;
        total.duplicated += found.duplicated;
        total.mismatched += found.mismatched;
    }
    println!(
        "kills: {killed}, lost: {}, duplicated: {}, mismatched: {} ({:.1}s)",
        total.lost,
        total.duplicated,
        total.mismatched,
        started.elapsed().as_secs_f64()
    );
    assert_eq!(total, Findings::default(), "seed {}", rng.seed());
}

#[test]
fn random_kills_lose_nothing_and_apply_nothing_twice() {
    soak(30);
}

/// `ops/soak/crash.sh N`: N kills (default 1,000).
#[test]
#[ignore = "a soak: run it with ops/soak/crash.sh"]
fn soak_random_kills() {
    let kills = std::env::var("FERRY_CRASH_KILLS")
        .ok()
        .and_then(|k| k.parse().ok())
        .unwrap_or(1000);
    soak(kills);
}

#[test]
fn every_named_crash_point_recovers_to_the_reference() {
    let expected = &reference().0;
    for point in POINTS {
        // Late enough that work is under way, early enough that much is left.
        // Projections are saved about once a second: the first save is already mid-run.
        let nth = match point {
            p if p.starts_with("log") => 40,
            p if p.starts_with("projections") => 1,
            _ => 60,
        };
        let spec = format!("{point}:{nth}");
        let work = workload(environments());
        let out = command(&work.data, &["worker", "--until-idle"])
            .env("FERRY_CRASH_AT", &spec)
            .output()
            .unwrap();
        assert_eq!(
            out.status.signal(),
            Some(6),
            "{spec}: the worker must abort there, got {:?}",
            out.status
        );
        ok(&work.data, &["worker", "--until-idle"]);
        assert_eq!(
            check(&work, expected),
            Findings::default(),
            "after a crash at {spec}"
        );
    }
}
