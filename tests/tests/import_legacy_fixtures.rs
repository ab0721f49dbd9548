//! Every legacy fixture imports end to end (library calls, no CLI) into a fresh environment with
//! its apps' and flows' documents byte-equal to the package's; an exported app round-trips, and
//! importing it again meets the identity map.
#![allow(clippy::unwrap_used)] // Tests: a panic is a failed test.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use ferry_engine::data_dir::DataDir;
use ferry_engine::directory::{self, Command};
use ferry_engine::environment::author;
use ferry_engine::executor::Executor;
use ferry_engine::export;
use ferry_engine::log::Options;
use ferry_engine::migration::{self, Choice, Import, Outcome, Phase, Request};
use ferry_engine::package::{self, Contents, Kind as PackageKind, Legacy, Limits, Package};
use ferry_schemas::directory::Name;
use ferry_schemas::environment::{Definition, ResourceCreated};
use ferry_schemas::event::ReviewItem;
use ferry_schemas::resource::Kind;
use ferry_schemas::{Actor, Digest, EnvironmentId, MigrationId, ResourceId, TenantId};

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

/// A data directory with one tenant, where fresh environments are made.
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
        let command = Command::CreateTenant {
            id: TenantId::new(),
            name: tenant.clone(),
        };
        directory::execute(dir.store().as_ref(), command).unwrap();
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
        let command = Command::CreateEnvironment {
            id,
            tenant: self.tenant.clone(),
            name: Name::new(name).unwrap(),
            default: false,
        };
        directory::execute(self.dir.store().as_ref(), command).unwrap();
        id
    }

    /// Authors a connector, custom connector or connection in `env`, as the operator.
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
        self.executor
            .author(env, Actor::Operator, |w| {
                author::create(&w.directory, &w.contents, created)
            })
            .unwrap()
            .unwrap_or_else(|r| panic!("creating {kind} {name:?} ({connector}): {r}"));
        resource
    }

    /// What the review asks to bind, created in `env`: manifest key → the new resource.
    fn bindings(&self, env: EnvironmentId, items: &[ReviewItem]) -> BTreeMap<String, ResourceId> {
        let mut bound = BTreeMap::new();
        let mut custom: BTreeMap<String, (String, ResourceId)> = BTreeMap::new(); // key → (name, id)
        for item in items.iter().filter(|i| i.kind == Kind::CustomConnector) {
            let name = item
                .connector
                .clone()
                .unwrap_or_else(|| format!("custom-{}", item.manifest_key));
            let existing = custom.values().find(|(n, _)| *n == name).map(|(_, id)| *id);
            let id =
                existing.unwrap_or_else(|| self.create(env, Kind::CustomConnector, &name, &name));
            custom.insert(item.manifest_key.clone(), (name, id));
            bound.insert(item.manifest_key.clone(), id);
        }
        for item in items.iter().filter(|i| i.kind == Kind::Connection) {
            let connector = item
                .depends_on
                .iter()
                .find_map(|dep| custom.get(dep).map(|(name, _)| name.clone()))
                .or_else(|| item.connector.clone())
                .unwrap_or_else(|| panic!("connection {} names no connector", item.manifest_key));
            let account = match item.display_name.trim() {
                "" => "someone@example.com",
                named => named,
            };
            let id = self.create(env, Kind::Connection, account, &connector);
            bound.insert(item.manifest_key.clone(), id);
        }
        bound
    }

    /// `ferry import` + answers + `ferry start --wait`, as the CLI calls the engine. Returns the
    /// finished import and what was bound.
    fn import(
        &self,
        env: EnvironmentId,
        bytes: &[u8],
        label: &str,
    ) -> (Import, BTreeMap<String, ResourceId>) {
        let package = package::read(bytes, &Limits::default()).unwrap();
        let items = package::review(legacy(&package)).unwrap();
        let bound = self.bindings(env, &items);
        let id = self.request(env, bytes, &package, items);
        let pending = self
            .executor
            .import(id)
            .unwrap()
            .pending()
            .iter()
            .map(|i| i.review.manifest_key.clone())
            .collect::<Vec<_>>();
        for key in pending {
            let choice = bound.get(&key).map_or(Choice::New(None), |target| {
                Choice::Existing(target.to_string())
            });
            let (version, decided) = self
                .executor
                .read(|w| {
                    let import = &w.imports[&id];
                    (
                        import.version,
                        migration::answer(import, &key, choice.clone(), &w.contents),
                    )
                })
                .unwrap();
            let event =
                decided.unwrap_or_else(|r| panic!("{label}: answering {key} with {choice:?}: {r}"));
            self.executor
                .record(id, version, Actor::Operator, &[event])
                .unwrap();
        }
        let import = self.executor.import(id).unwrap();
        let event = migration::start(&import, false, false)
            .unwrap_or_else(|r| panic!("{label}: start: {r}"));
        self.executor
            .record(id, import.version, Actor::Operator, &[event])
            .unwrap();
        self.executor.run(id).unwrap();
        let import = self.executor.import(id).unwrap();
        assert_eq!(
            import.phase,
            Phase::Completed,
            "{label}: import did not complete"
        );
        for item in &import.items {
            assert!(
                matches!(item.outcome, Some(Outcome::Applied { .. })),
                "{label}: {} {} ({:?}) was not applied: {:?}",
                item.review.kind,
                item.review.manifest_key,
                item.review.display_name,
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
        let digest = self.dir.blobs().put(bytes).unwrap();
        let id = MigrationId::new();
        let request = Request {
            id,
            environment: env,
            package: digest,
            package_name: package.display_name(),
            importer: None,
            dry_run: false,
            requested_at: now(),
            items,
        };
        let events = self
            .executor
            .read(|w| migration::request(request, &w.contents))
            .unwrap();
        self.executor
            .record(id, 0, Actor::Operator, &events)
            .unwrap();
        id
    }

    /// The published definition of what `key` became.
    fn published(&self, import: &Import, key: &str) -> Definition {
        let target = target(import, key);
        let found = self
            .executor
            .read(|w| w.contents.get(target).and_then(|r| r.published.clone()));
        found
            .unwrap()
            .unwrap_or_else(|| panic!("{key} became {target}, which has no published version"))
    }

    fn blob(&self, digest: &Digest) -> Vec<u8> {
        self.dir.blobs().get(digest).unwrap()
    }

    /// Asserts the imported apps' and flows' documents are the package's, byte for byte, and
    /// their references point at what their dependencies became.
    fn assert_documents(
        &self,
        import: &Import,
        package: &Package,
        bound: &BTreeMap<String, ResourceId>,
        label: &str,
    ) {
        let legacy = legacy(package);
        for app in &legacy.apps {
            let definition = self.published(import, &app.resource);
            let expected = app_files(package, &app.definition);
            assert_eq!(
                definition.files.keys().collect::<Vec<_>>(),
                expected.keys().collect::<Vec<_>>(),
                "{label}: app {} files",
                app.resource
            );
            for (name, bytes) in &expected {
                assert!(
                    self.blob(&definition.files[name]) == *bytes,
                    "{label}: app {} {name} differs",
                    app.resource
                );
            }
            let document = app.document.rsplit('/').next().unwrap();
            assert!(
                definition.files.contains_key(document),
                "{label}: no .msapp {document}"
            );
            for flow in &app.flows {
                assert_eq!(
                    definition.references.get(flow),
                    Some(&target(import, flow)),
                    "{label}: app → flow {flow}"
                );
            }
        }
        for flow in &legacy.flows {
            let definition = self.published(import, &flow.resource);
            let expected = &package.files[&flow.definition];
            assert_eq!(
                definition.files.len(),
                1,
                "{label}: flow {} files {:?}",
                flow.resource,
                definition.files
            );
            let digest = &definition.files["definition.json"];
            assert!(
                self.blob(digest) == *expected,
                "{label}: flow {} definition.json differs",
                flow.resource
            );
            for connection in &flow.connections {
                let Some(key) = &connection.connection else {
                    continue;
                };
                assert_eq!(
                    definition.references.get(&connection.reference),
                    Some(
                        bound
                            .get(key)
                            .unwrap_or_else(|| panic!("{label}: {key} was not bound"))
                    ),
                    "{label}: flow {} reference {} must point at the connection bound to {key}",
                    flow.resource,
                    connection.reference
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
        let exported = self.executor.read(|w| {
            export::write(
                &w.contents,
                w.contents.get(app).unwrap(),
                &request,
                document,
            )
        });
        exported
            .unwrap()
            .unwrap_or_else(|e| panic!("export: {e}"))
            .bytes
    }
}

fn legacy(package: &Package) -> &Legacy {
    match &package.contents {
        Contents::Legacy(legacy) => legacy,
        Contents::Solution(_) => panic!("not a legacy package"),
    }
}

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
fn app_files(package: &Package, definition: &str) -> BTreeMap<String, Vec<u8>> {
    let folder = definition
        .rsplit_once('/')
        .map_or(String::new(), |(dir, _)| format!("{dir}/"));
    package
        .files
        .iter()
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
        let has_app = !legacy(&package).apps.is_empty();
        round_trips += usize::from(has_app);
        // One fixture's failure must not hide the others': each runs on its own platform.
        let outcome = std::panic::catch_unwind(|| {
            let platform = Platform::new();
            let first = platform.environment("first");
            let (import, bound) = platform.import(first, &bytes, &name);
            platform.assert_documents(&import, &package, &bound, &name);
            if let Some(app) = legacy(&package).apps.first() {
                round_trip(&platform, &package, &import, &app.resource, &name);
            }
        });
        if let Err(panic) = outcome {
            let message = panic.downcast_ref::<String>().cloned();
            failures.push(message.unwrap_or_else(|| format!("{name}: panicked")));
        }
    }
    assert!(imported >= 17, "only {imported} legacy fixtures");
    assert!(round_trips > 0, "no fixture had an app to round-trip");
    assert!(
        failures.is_empty(),
        "{} of {imported} fixtures failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Exports the imported app, imports that into a second environment with the original's
/// documents, then asks to import it again: the review suggests what the second import created.
fn round_trip(platform: &Platform, original: &Package, import: &Import, app_key: &str, name: &str) {
    let label = format!("{name} (round trip)");
    let exported = platform.export(target(import, app_key));
    let package =
        package::read(&exported, &Limits::default()).unwrap_or_else(|e| panic!("{label}: {e}"));
    let second = platform.environment("second");
    let (again, bound) = platform.import(second, &exported, &label);
    platform.assert_documents(&again, &package, &bound, &label);

    // The second environment holds the exported package's documents (checked above); those are
    // the original's, byte for byte.
    let (exported_legacy, original_legacy) = (legacy(&package), legacy(original));
    let original_app = original_legacy
        .apps
        .iter()
        .find(|a| a.resource == app_key)
        .unwrap();
    let [app] = exported_legacy.apps.as_slice() else {
        panic!("{label}: exported {} apps", exported_legacy.apps.len());
    };
    assert!(
        app_files(&package, &app.definition) == app_files(original, &original_app.definition),
        "{label}: app documents differ from the original"
    );
    for flow in &exported_legacy.flows {
        let source = original_legacy
            .flows
            .iter()
            .find(|f| f.resource == flow.resource);
        let source = source.unwrap_or_else(|| {
            panic!(
                "{label}: exported flow {} is not the original's",
                flow.resource
            )
        });
        assert!(
            package.files[&flow.definition] == original.files[&source.definition],
            "{label}: flow {} differs from the original",
            flow.resource
        );
    }

    // Importing the same package again: its app and flows suggest what the last import made.
    let items = package::review(exported_legacy).unwrap();
    let id = platform.request(second, &exported, &package, items);
    let review = platform.executor.import(id).unwrap();
    let updatable = review
        .items
        .iter()
        .filter(|i| matches!(i.review.kind, Kind::App | Kind::Flow));
    let mut suggested = 0;
    for item in updatable {
        let key = &item.review.manifest_key;
        assert_eq!(
            item.review.suggested_target,
            Some(target(&again, key)),
            "{label}: re-import of {key}"
        );
        suggested += 1;
    }
    assert_eq!(
        suggested,
        1 + exported_legacy.flows.len(),
        "{label}: app and flow items"
    );
}
