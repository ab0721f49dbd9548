//! The directory on a real log: commands recorded as events, state rebuilt by replay, and
//! concurrent operators deciding on fresh state.
#![allow(clippy::unwrap_used)] // Tests: a panic is a failed test.

use std::sync::{Arc, Barrier};

use ferry_engine::directory::{self, Command, Error, Rejection};
use ferry_engine::log::{FileStore, Options, Store};
use ferry_schemas::directory::Name;
use ferry_schemas::{Actor, TenantId};

fn create(name: &str) -> Command {
    Command::CreateTenant {
        id: TenantId::new(),
        name: Name::new(name).unwrap(),
    }
}

#[test]
fn directory_changes_are_operator_events_of_their_tenant_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = FileStore::open(dir.path(), Options::default()).unwrap();
        directory::execute(&store, create("acme")).unwrap();
    }
    let store = FileStore::open(dir.path(), Options::default()).unwrap();
    let (state, version) = directory::load(&store).unwrap();
    assert_eq!(version, 1);
    let acme = state.tenant(&Name::new("acme").unwrap()).unwrap();
    let record = &store.read_all(1, 1).unwrap()[0];
    assert_eq!(record.event_type, "TenantCreated");
    assert_eq!(record.actor, Actor::Operator);
    assert_eq!(record.tenant, Some(acme.id));
}

#[test]
fn racing_operators_creating_one_tenant_get_one_success_and_one_clear_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FileStore::open(dir.path(), Options::default()).unwrap());
    let barrier = Arc::new(Barrier::new(8));
    let results: Vec<_> = (0..8)
        .map(|_| {
            let store = Arc::clone(&store);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                directory::execute(store.as_ref(), create("acme"))
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    let won = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(won, 1);
    for result in results.iter().filter(|r| r.is_err()) {
        assert!(
            matches!(result, Err(Error::Rejected(Rejection::TenantExists(_)))),
            "got {result:?}"
        );
    }
    assert_eq!(store.head().unwrap().position, 1);
}
