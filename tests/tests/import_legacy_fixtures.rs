//! Every legacy fixture imports end to end (library calls, no CLI) into a fresh environment with
//! its apps' and flows' documents byte-equal to the package's; an exported app round-trips, and
//! importing it again meets the identity map.
#![allow(clippy::unwrap_used)] // Tests: a panic is a failed test.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use ferry_engine::audit;
use ferry_engine::data_dir::DataDir;
use ferry_engine::directory::{self, Command};
use ferry_engine::environment::author;
use ferry_engine::executor::Executor;
use ferry_engine::export;
use ferry_engine::log::Options;
use ferry_engine::migration::{self, Choice, Import, Outcome, Phase, Request};
use ferry_engine::package::{self, Contents, Kind as PackageKind, Legacy, Limits, Package};
use ferry_engine::world::World;
use ferry_schemas::directory::Name;
use ferry_schemas::environment::{Definition, ResourceCreated};
use ferry_schemas::event::ReviewItem;
use ferry_schemas::resource::Kind;
use ferry_schemas::{Actor, Digest, EnvironmentId, MigrationId, ResourceId, TenantId};

/// Manifest key → the resource created in the target to bind it to.
type Bound = BTreeMap<String, ResourceId>;
/// File name → bytes.
type Documents = BTreeMap<String, Vec<u8>>;

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

/// A fresh data directory with one tenant, where environments are made.
struct Platform {
    dir: DataDir,
    executor: Executor,
    tenant: Name,
    _tmp: tempfile::TempDir,
}

impl Platform {
    fn new() -> Platform {
        let tmp = tempfile::tempdir().unwrap();
        let (dir, _) = DataDir::init(&tmp.path().join("data"), Options::default()).unwrap();
        let tenant = Name::new("fixtures").unwrap();
        let id = TenantId::new();
        let create = Command::CreateTenant {
            id,
            name: tenant.clone(),
        };
        directory::execute(dir.store().as_ref(), create).unwrap();
        let executor = Executor::new(dir.store(), dir.blobs().clone()).unwrap();
        Platform {
            dir,
            executor,
            tenant,
            _tmp: tmp,
        }
    }

    fn environment(&self, name: &str) -> EnvironmentId {
        let id = EnvironmentId::new();
        let create = Command::CreateEnvironment {
            id,
            tenant: self.tenant.clone(),
            name: Name::new(name).unwrap(),
            default: false,
        };
        directory::execute(self.dir.store().as_ref(), create).unwrap();
        id
    }

    /// Authors a custom connector or a connection in `env`, as `ferry connector|connection create`.
    fn create(&self, env: EnvironmentId, kind: Kind, name: &str, connector: &str) -> ResourceId {
        let resource = ResourceId::new();
        let created = ResourceCreated {
            environment: env,
            resource,
            kind,
            name: name.to_owned(),
            owner: None,
            connector: Some(connector.to_owned()),
            has_secret: false,
            gateway: None,
            definition: None,
        };
        let author = |w: &World| author::create(&w.directory, &w.contents, created.clone());
        let event = self.executor.author(env, Actor::Operator, author).unwrap();
        event.unwrap_or_else(|r| panic!("creating {kind} {name:?} ({connector}): {r}"));
        resource
    }

    /// Creates in `env` what the review asks to bind: a custom connector per custom connector
    /// item, a connection of the connector it needs per connection item.
    fn bindings(&self, env: EnvironmentId, items: &[ReviewItem]) -> Bound {
        let mut bound = Bound::new();
        let mut custom: BTreeMap<String, String> = BTreeMap::new(); // key → technical name
        for item in items.iter().filter(|i| i.kind == Kind::CustomConnector) {
            let key = &item.manifest_key;
            let name = item
                .connector
                .clone()
                .unwrap_or_else(|| format!("custom-{key}"));
            let same = custom
                .iter()
                .find(|(_, n)| **n == name)
                .map(|(k, _)| bound[k]);
            let id = same.unwrap_or_else(|| self.create(env, Kind::CustomConnector, &name, &name));
            custom.insert(key.clone(), name);
            bound.insert(key.clone(), id);
        }
        for item in items.iter().filter(|i| i.kind == Kind::Connection) {
            let key = &item.manifest_key;
            let connector = item
                .depends_on
                .iter()
                .find_map(|dep| custom.get(dep).cloned());
            let connector = connector.or_else(|| item.connector.clone());
            let connector =
                connector.unwrap_or_else(|| panic!("connection {key} names no connector"));
            let account = Some(item.display_name.trim()).filter(|n| !n.is_empty());
            let account = account.unwrap_or("someone@example.com");
            bound.insert(
                key.clone(),
                self.create(env, Kind::Connection, account, &connector),
            );
        }
        bound
    }

    /// `ferry import`, an answer per blocking item, `ferry start --wait`, in the CLI's order.
    /// Asserts every item was applied.
    fn import(&self, env: EnvironmentId, bytes: &[u8], label: &str) -> (Import, Bound) {
        let package = package::read(bytes, &Limits::default()).unwrap();
        let items = package::review(legacy(&package)).unwrap();
        let bound = self.bindings(env, &items);
        let id = self.request(env, bytes, &package, items);
        let import = self.executor.import(id).unwrap();
        for item in import.pending() {
            let key = &item.review.manifest_key;
            // Connections and custom connectors bind what was created; an app or flow the
            // package suggests updating is new in a fresh environment.
            let choice = bound
                .get(key)
                .map_or(Choice::New(None), |t| Choice::Existing(t.to_string()));
            let answered = self.executor.read(|w| {
                // A read may be asked again once what it missed is loaded: no unwrap in it.
                w.imports.get(&id).map(|import| {
                    (
                        import.version,
                        migration::answer(import, key, choice.clone(), &w.contents),
                    )
                })
            });
            let (version, event) = answered.unwrap().expect("the import is recorded");
            let event =
                event.unwrap_or_else(|r| panic!("{label}: answering {key} {choice:?}: {r}"));
            self.executor
                .record(id, version, Actor::Operator, &[event])
                .unwrap();
        }
        let import = self.executor.import(id).unwrap();
        let start = migration::start(&import, false, false);
        let start = start.unwrap_or_else(|r| panic!("{label}: start: {r}"));
        self.executor
            .record(id, import.version, Actor::Operator, &[start])
            .unwrap();
        self.executor.run(id).unwrap();
        let import = self.executor.import(id).unwrap();
        assert_eq!(
            import.phase,
            Phase::Completed,
            "{label}: the import did not complete"
        );
        for item in &import.items {
            let review = &item.review;
            assert!(
                matches!(item.outcome, Some(Outcome::Applied { .. })),
                "{label}: {} {} ({:?}) was not applied: {:?}",
                review.kind,
                review.manifest_key,
                review.display_name,
                item.outcome
            );
        }
        (import, bound)
    }

    /// Stores the package and records its request and review; returns the migration.
    fn request(
        &self,
        env: EnvironmentId,
        bytes: &[u8],
        package: &Package,
        items: Vec<ReviewItem>,
    ) -> MigrationId {
        let id = MigrationId::new();
        let request = Request {
            id,
            environment: env,
            package: self.dir.blobs().put(bytes).unwrap(),
            package_name: package.display_name(),
            importer: None,
            dry_run: false,
            requested_at: now(),
            signer: None,
            items,
        };
        let events = self
            .executor
            .read(|w| migration::request(request.clone(), &w.contents))
            .unwrap();
        self.executor
            .record(id, 0, Actor::Operator, &events)
            .unwrap();
        id
    }

    /// The published definition of what item `key` became, and its documents read back from
    /// the blob store.
    fn published(&self, import: &Import, key: &str) -> (Definition, Documents) {
        let target = target(import, key);
        let found = self
            .executor
            .read(|w| w.contents.get(target).and_then(|r| r.published.clone()));
        let definition = found
            .unwrap()
            .unwrap_or_else(|| panic!("{key}: {target} is not published"));
        let blobs = self.dir.blobs();
        let documents = definition
            .files
            .iter()
            .map(|(n, d)| (n.clone(), blobs.get(d).unwrap()));
        (definition.clone(), documents.collect())
    }

    /// Asserts the imported apps' and flows' documents are the package's, byte for byte, and
    /// that their references point at what their dependencies became.
    fn assert_documents(&self, import: &Import, package: &Package, bound: &Bound, label: &str) {
        let legacy = legacy(package);
        for app in &legacy.apps {
            let key = &app.resource;
            let (definition, documents) = self.published(import, key);
            let expected = app_files(package, &app.definition);
            let names = |d: &Documents| d.keys().cloned().collect::<Vec<_>>();
            assert!(
                documents == expected,
                "{label}: app {key}'s documents {:?} are not the package's {:?} byte for byte",
                names(&documents),
                names(&expected)
            );
            let msapp = app.document.rsplit('/').next().unwrap();
            assert!(
                documents.contains_key(msapp),
                "{label}: app {key} lacks {msapp}"
            );
            for flow in &app.flows {
                let reference = definition.references.get(flow);
                assert_eq!(
                    reference,
                    Some(&target(import, flow)),
                    "{label}: app {key} → flow {flow}"
                );
            }
        }
        for flow in &legacy.flows {
            let key = &flow.resource;
            let (definition, documents) = self.published(import, key);
            let expected = Documents::from([(
                "definition.json".into(),
                package.files[&flow.definition].clone(),
            )]);
            assert!(
                documents == expected,
                "{label}: flow {key}'s definition.json is not the package's"
            );
            for connection in &flow.connections {
                let Some(connection_key) = &connection.connection else {
                    continue;
                };
                let (reference, bound_to) = (&connection.reference, bound.get(connection_key));
                assert!(
                    bound_to.is_some(),
                    "{label}: {connection_key} was not bound"
                );
                assert_eq!(
                    definition.references.get(reference),
                    bound_to,
                    "{label}: flow {key}'s {reference} is not the connection bound to {connection_key}"
                );
            }
        }
    }

    /// Exports `app` and everything it depends on, as `ferry export` writes it.
    fn export(&self, app: ResourceId) -> Vec<u8> {
        let request = export::Request {
            package_name: "round trip".into(),
            migration: MigrationId::new(),
            created_time: now().to_rfc3339(),
            source_tenant: self.tenant.to_string(),
            source_environment: format!("{}/first", self.tenant),
            creator: "operator".into(),
            ..export::Request::default()
        };
        let blobs = self.dir.blobs();
        let document = |d: &Digest| blobs.get(d).map_err(|e| e.to_string());
        let write = |w: &World| {
            export::write(
                &w.contents,
                w.contents.get(app).unwrap(),
                &request,
                document,
            )
        };
        let exported = self.executor.read(write).unwrap();
        exported.unwrap_or_else(|e| panic!("export: {e}")).bytes
    }
}

fn legacy(package: &Package) -> &Legacy {
    match &package.contents {
        Contents::Legacy(legacy) => legacy,
        Contents::Solution(_) => panic!("not a legacy package"),
    }
}

/// The resource item `key` was applied to.
fn target(import: &Import, key: &str) -> ResourceId {
    match import.item(key).and_then(|i| i.outcome.as_ref()) {
        Some(Outcome::Applied {
            target: Some(target),
            ..
        }) => *target,
        other => panic!("{key}: no applied target ({other:?})"),
    }
}

/// An app's files by name relative to its folder (the folder of its `<id>.json`).
fn app_files(package: &Package, definition: &str) -> Documents {
    let folder = definition
        .rsplit_once('/')
        .map_or(String::new(), |(dir, _)| format!("{dir}/"));
    let files = package.files.iter();
    files
        .filter_map(|(path, bytes)| Some((path.strip_prefix(&folder)?.to_owned(), bytes.clone())))
        .collect()
}

#[test]
fn every_legacy_fixture_imports_with_its_documents_byte_for_byte() {
    let (mut imported, mut round_trips, mut failures) = (0, 0, Vec::new());
    for path in ferry_tests::fixtures() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&path).unwrap();
        let package =
            package::read(&bytes, &Limits::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
        if package.kind() == PackageKind::Solution {
            continue;
        }
        imported += 1;
        round_trips += usize::from(!legacy(&package).apps.is_empty());
        // One fixture's failure must not hide the others': each runs on its own data directory.
        let outcome = std::panic::catch_unwind(|| {
            let platform = Platform::new();
            let first = platform.environment("first");
            let (import, bound) = platform.import(first, &bytes, &name);
            platform.assert_documents(&import, &package, &bound, &name);
            if let Some(app) = legacy(&package).apps.first() {
                round_trip(&platform, &package, &import, &app.resource, &name);
            }
            // Every step, decided again with this code from the log alone, is what was recorded.
            let replayed =
                audit::replay::replay(platform.dir.log(), platform.dir.blobs(), None).unwrap();
            assert!(replayed.steps > 0, "{name}: nothing replayed");
            assert_eq!(replayed.differences, Vec::new(), "{name}: replay differs");
        });
        if let Err(panic) = outcome {
            let text = panic.downcast_ref::<&str>().map(|s| s.to_string());
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or(text)
                .unwrap_or_default();
            failures.push(if message.starts_with(&name) {
                message
            } else {
                format!("{name}: {message}")
            });
        }
    }
    assert!(imported >= 17, "only {imported} legacy fixtures");
    assert!(round_trips > 0, "no fixture has an app to round-trip");
    let report = failures.join("\n");
    assert!(
        failures.is_empty(),
        "{} of {imported} legacy fixtures failed:\n{report}",
        failures.len()
    );
}

/// Exports the imported app, imports that into a second environment (byte-equal to the
/// original's documents), then asks to import it again: the review suggests what the second
/// import created.
fn round_trip(platform: &Platform, original: &Package, import: &Import, app_key: &str, name: &str) {
    let label = format!("{name} (round trip)");
    let exported = platform.export(target(import, app_key));
    let package =
        package::read(&exported, &Limits::default()).unwrap_or_else(|e| panic!("{label}: {e}"));
    let second = platform.environment("second");
    let (again, bound) = platform.import(second, &exported, &label);
    platform.assert_documents(&again, &package, &bound, &label);

    // The second environment holds the exported package's documents (asserted above); those
    // are the original package's, byte for byte.
    let (exported_legacy, original_legacy) = (legacy(&package), legacy(original));
    let original_app = original_legacy
        .apps
        .iter()
        .find(|a| a.resource == app_key)
        .unwrap();
    let [app] = exported_legacy.apps.as_slice() else {
        panic!("{label}: exported {} apps", exported_legacy.apps.len());
    };
    let same =
        app_files(&package, &app.definition) == app_files(original, &original_app.definition);
    assert!(
        same,
        "{label}: the exported app's documents are not the original's"
    );
    for flow in &exported_legacy.flows {
        let key = &flow.resource;
        let source = original_legacy.flows.iter().find(|f| f.resource == *key);
        let source =
            source.unwrap_or_else(|| panic!("{label}: exported flow {key} is not the original's"));
        let same = package.files[&flow.definition] == original.files[&source.definition];
        assert!(
            same,
            "{label}: the exported flow {key}'s definition.json is not the original's"
        );
    }

    // Importing the same package again: its app and flows suggest what the last import made.
    let items = package::review(exported_legacy).unwrap();
    let review = platform
        .executor
        .import(platform.request(second, &exported, &package, items))
        .unwrap();
    let updatable: Vec<_> = review
        .items
        .iter()
        .filter(|i| matches!(i.review.kind, Kind::App | Kind::Flow))
        .collect();
    assert_eq!(
        updatable.len(),
        1 + exported_legacy.flows.len(),
        "{label}: app and flow items"
    );
    for item in updatable {
        let key = &item.review.manifest_key;
        assert_eq!(
            item.review.suggested_target,
            Some(target(&again, key)),
            "{label}: re-import of {key}"
        );
    }
}
