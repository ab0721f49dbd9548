//! Real packages meet the log: every legacy fixture's review is recorded as migration events on
//! the embedded log, survives a reopen, decodes back to the same events, and the chain verifies.
#![allow(clippy::unwrap_used)] // Tests: a panic is a failed test.

use chrono::DateTime;
use ferry_engine::log::{self, Expected, FileStore, Options, Store};
use ferry_engine::package::{self, Contents, Limits};
use ferry_schemas::event::{Context, Event, ImportRequested, PackageValidated};
use ferry_schemas::{
    Actor, CorrelationId, Digest, EnvironmentId, MigrationId, PrincipalId, StreamId, TenantId,
};

#[test]
fn every_legacy_fixture_review_round_trips_through_the_file_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut recorded = Vec::new();
    {
        let store = FileStore::open(dir.path(), Options::default()).unwrap();
        for path in ferry_tests::fixtures() {
            let bytes = std::fs::read(&path).unwrap();
            let package = package::read(&bytes, &Limits::default()).unwrap();
            let Contents::Legacy(legacy) = &package.contents else {
                continue;
            };
            let items =
                package::review(legacy).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(items.len(), legacy.manifest.resources.len());
            let migration = MigrationId::new();
            let events = vec![
                Event::from(ImportRequested {
                    migration,
                    environment: EnvironmentId::new(),
                    package: Digest::of(&bytes),
                    package_name: legacy.manifest.details.display_name.clone(),
                    importer: None,
                    dry_run: false,
                    requested_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
                    signer: None,
                }),
                Event::from(PackageValidated { items }),
            ];
            let context = Context {
                tenant: Some(TenantId::new()),
                actor: Actor::Principal {
                    principal: PrincipalId::new(),
                },
                correlation_id: CorrelationId::new(),
                causation_id: None,
            };
            let stream = StreamId::migration(migration);
            let new = events.iter().map(|e| e.to_new(&context)).collect();
            store.append(&stream, Expected::Exact(0), new).unwrap();
            recorded.push((stream, events));
        }
        assert!(
            recorded.len() >= 17,
            "only {} legacy fixtures",
            recorded.len()
        );
    }
    let store = FileStore::open(dir.path(), Options::default()).unwrap();
    for (stream, events) in &recorded {
        let read: Vec<Event> = store
            .read_stream(stream, 1, 10)
            .unwrap()
            .iter()
            .map(|r| Event::from_record(r).unwrap())
            .collect();
        assert_eq!(&read, events);
    }
    assert!(matches!(
        log::verify(&store).unwrap(),
        log::Verification::Intact { head, .. } if head == 2 * recorded.len() as u64
    ));
}

#[test]
fn writing_a_package_is_deterministic_so_its_digest_can_address_it() {
    for path in ferry_tests::fixtures() {
        let package = package::read_file(&path, &Limits::default()).unwrap();
        if !matches!(package.contents, Contents::Legacy(_)) {
            continue;
        }
        let first = package::write(&package).unwrap();
        let second = package::write(&package).unwrap();
        assert!(first == second, "{}: two writes differ", path.display());
        let reread = package::read(&first, &Limits::default()).unwrap();
        assert_eq!(
            package::write(&reread).unwrap(),
            first,
            "{}",
            path.display()
        );
    }
}
