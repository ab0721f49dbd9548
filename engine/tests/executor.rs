//! The executor against a real log: racing executors apply each step once, a stopped import
//! resumes where it stopped and ends as an uninterrupted one does, and an unreadable stored
//! package fails the migration instead of being retried forever.
#![allow(clippy::unwrap_used)] // Tests: a panic is a failed test.

use std::sync::Arc;

use chrono::DateTime;
use ferry_engine::audit;
use ferry_engine::blobs::Blobs;
use ferry_engine::directory::{self, Command};
use ferry_engine::environment::author;
use ferry_engine::executor::{Executor, Progress};
use ferry_engine::log::{MemoryStore, Store};
use ferry_engine::migration::{self, Choice, Phase, Request};
use ferry_engine::package::{self, Contents, Limits};
use ferry_schemas::directory::Name;
use ferry_schemas::environment::ResourceCreated;
use ferry_schemas::event::Event;
use ferry_schemas::resource::Kind;
use ferry_schemas::{Actor, EnvironmentId, MigrationId, ResourceId, StreamId, TenantId};

const FIXTURE: &str =
    "pnp__powerapps-samples__samples_sharepoint-events_solution_EventRegistrationApp.zip";

struct Started {
    _dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    blobs: Arc<Blobs>,
    environment: EnvironmentId,
    migration: MigrationId,
}

/// A tenant and environment, the fixture imported and answered with fresh connections, and
/// the import started; nothing run yet.
fn started() -> Started {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let blobs = Arc::new(Blobs::open(&dir.path().join("blobs")).unwrap());
    let name = |n: &str| Name::new(n).unwrap();
    let environment = EnvironmentId::new();
    directory::execute(
        store.as_ref(),
        Command::CreateTenant {
            id: TenantId::new(),
            name: name("acme"),
        },
    )
    .unwrap();
    directory::execute(
        store.as_ref(),
        Command::CreateEnvironment {
            id: environment,
            tenant: name("acme"),
            name: name("prod"),
            default: true,
        },
    )
    .unwrap();
    let executor = Executor::new(store.clone(), blobs.clone()).unwrap();
    let path = format!(
        "{}/../../shared/fixtures/real-packages/{FIXTURE}",
        env!("CARGO_MANIFEST_DIR")
    );
    let bytes = std::fs::read(path).unwrap();
    let package = package::read(&bytes, &Limits::default()).unwrap();
    let Contents::Legacy(legacy) = &package.contents else {
        panic!("a legacy fixture")
    };
    let items = package::review(legacy).unwrap();
    let migration = MigrationId::new();
    let request = Request {
        id: migration,
        environment,
        package: blobs.put(&bytes).unwrap(),
        package_name: package.display_name(),
        importer: None,
        dry_run: false,
        requested_at: DateTime::UNIX_EPOCH,
        signer: None,
        items,
    };
    let events = executor
        .read(|w| migration::request(request.clone(), &w.contents))
        .unwrap();
    executor
        .record(migration, 0, Actor::Operator, &events)
        .unwrap();
    let pending: Vec<_> = executor
        .import(migration)
        .unwrap()
        .pending()
        .iter()
        .map(|i| i.review.clone())
        .collect();
    for item in pending {
        let id = ResourceId::new();
        let connection = ResourceCreated {
            environment,
            resource: id,
            kind: Kind::Connection,
            name: format!("ops for {}", item.manifest_key),
            owner: None,
            connector: item.connector.clone(),
            has_secret: false,
            gateway: None,
            definition: None,
        };
        executor
            .author(environment, Actor::Operator, |w| {
                author::create(&w.directory, &w.contents, connection.clone())
            })
            .unwrap()
            .unwrap();
        let import = executor.import(migration).unwrap();
        let answer = executor
            .read(|w| {
                migration::answer(
                    &import,
                    &item.manifest_key,
                    Choice::Existing(id.to_string()),
                    &w.contents,
                )
            })
            .unwrap()
            .unwrap();
        executor
            .record(migration, import.version, Actor::Operator, &[answer])
            .unwrap();
    }
    let import = executor.import(migration).unwrap();
    let start = migration::start(&import, false, true).unwrap();
    executor
        .record(migration, import.version, Actor::Operator, &[start])
        .unwrap();
    Started {
        _dir: dir,
        store,
        blobs,
        environment,
        migration,
    }
}

fn events(store: &dyn Store, migration: MigrationId) -> Vec<(u64, Event)> {
    store
        .read_stream(&StreamId::migration(migration), 1, usize::MAX)
        .unwrap()
        .iter()
        .map(|r| (r.stream_version, Event::from_record(r).unwrap()))
        .collect()
}

/// The environment's contents without generated ids: kind, name, documents, in order.
fn contents(executor: &Executor, environment: EnvironmentId) -> Vec<String> {
    let mut found: Vec<String> = executor
        .read(|w| {
            w.contents
                .of(environment)
                .into_iter()
                .map(|r| {
                    format!(
                        "{} {} {:?} v{}",
                        r.kind,
                        r.name,
                        r.published.as_ref().map(|d| &d.files),
                        r.version
                    )
                })
                .collect()
        })
        .unwrap();
    found.sort();
    found
}

#[test]
fn racing_executors_apply_every_step_exactly_once() {
    let s = started();
    let racers: Vec<_> = (0..4)
        .map(|_| {
            let executor = Executor::new(s.store.clone(), s.blobs.clone()).unwrap();
            let migration = s.migration;
            std::thread::spawn(move || executor.run(migration).unwrap())
        })
        .collect();
    let steps: usize = racers.into_iter().map(|t| t.join().unwrap()).sum();
    let recorded = events(s.store.as_ref(), s.migration);
    let versions: Vec<u64> = recorded.iter().map(|(v, _)| *v).collect();
    assert_eq!(
        versions,
        (1..=recorded.len() as u64).collect::<Vec<_>>(),
        "versions are contiguous"
    );
    let mut applied: Vec<&str> = recorded
        .iter()
        .filter_map(|(_, e)| match e {
            Event::StepApplied(a) => Some(a.manifest_key.as_str()),
            _ => None,
        })
        .collect();
    let total = applied.len();
    applied.sort_unstable();
    applied.dedup();
    assert_eq!(applied.len(), total, "no item was applied twice");
    assert_eq!(total, 12, "every item of the fixture was applied");
    let completed = recorded
        .iter()
        .filter(|(_, e)| matches!(e, Event::ImportCompleted(_)))
        .count();
    assert_eq!(completed, 1);
    assert_eq!(
        steps,
        total + 1,
        "the racers' successful steps are exactly the records"
    );
}

#[test]
fn a_stopped_import_resumes_and_ends_as_an_uninterrupted_one() {
    let reference = started();
    let executor = Executor::new(reference.store.clone(), reference.blobs.clone()).unwrap();
    executor.run(reference.migration).unwrap();
    let expected = contents(&executor, reference.environment);

    let s = started();
    let first = Executor::new(s.store.clone(), s.blobs.clone()).unwrap();
    for _ in 0..5 {
        assert!(matches!(
            first.step(s.migration).unwrap(),
            Progress::Stepped(_)
        ));
    }
    drop(first);
    let second = Executor::new(s.store.clone(), s.blobs.clone()).unwrap();
    assert_eq!(
        second.runnable().unwrap(),
        vec![s.migration],
        "the stopped import is found again"
    );
    second.run(s.migration).unwrap();
    assert_eq!(second.import(s.migration).unwrap().phase, Phase::Completed);
    assert_eq!(contents(&second, s.environment), expected);
    let replayed = audit::replay::replay(s.store.as_ref(), &s.blobs, None).unwrap();
    assert_eq!(replayed.differences, Vec::new());
    assert_eq!(replayed.steps, 13, "12 steps and the completion");
    let applied = events(s.store.as_ref(), s.migration)
        .iter()
        .filter(|(_, e)| matches!(e, Event::StepApplied(_)))
        .count();
    assert_eq!(applied, 12);
}

#[test]
fn an_unreadable_stored_package_fails_the_migration_for_good() {
    let s = started();
    let digest = Executor::new(s.store.clone(), s.blobs.clone())
        .unwrap()
        .import(s.migration)
        .unwrap()
        .package;
    let hex = digest.to_string();
    let path = s._dir.path().join("blobs").join(&hex[..2]).join(&hex);
    std::fs::write(&path, b"not the package").unwrap();
    let executor = Executor::new(s.store.clone(), s.blobs.clone()).unwrap();
    executor.run(s.migration).unwrap();
    let import = executor.import(s.migration).unwrap();
    assert!(
        matches!(&import.phase, Phase::Failed { code, .. } if code == "package-unreadable"),
        "got {:?}",
        import.phase
    );
    assert!(
        executor.runnable().unwrap().is_empty(),
        "a failed migration is not retried"
    );
}

#[test]
fn every_record_of_an_import_decodes_the_same_from_its_body_and_through_a_value() {
    let s = started();
    let executor = Executor::new(s.store.clone(), s.blobs.clone()).unwrap();
    executor.run(s.migration).unwrap();
    let bodies = s.store.read_all_bodies(1, usize::MAX).unwrap();
    let mut types = std::collections::BTreeSet::new();
    for body in &bodies {
        // What projections fold (`Placed::from_body`: the payload's text read into its type)
        // against the record's `Value` payload decoded by type, the independent reference.
        let placed = ferry_schemas::event::Placed::from_body(body).unwrap();
        let record = ferry_schemas::Record::from_body(body).unwrap();
        assert_eq!(
            (placed.position, &placed.stream, placed.stream_version),
            (record.position, &record.stream, record.stream_version)
        );
        assert_eq!(placed.event, Event::from_record(&record).unwrap());
        types.insert(record.event_type);
    }
    assert!(types.len() >= 8, "a varied log: {types:?}");
}
