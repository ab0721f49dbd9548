//! The persisted projections: random command sequences through the application layer, and at
//! every prefix the projections reopened from sled — saved at that prefix, or at an earlier
//! one with the rest folded on top — equal a fold of the log from scratch. A store copied from
//! another data directory, truncated, damaged or of a log restored from an older backup is
//! rebuilt, never trusted.
#![allow(clippy::unwrap_used)] // Tests: a panic is a failed test.

mod common;

use std::path::Path;

use common::audit::{scratch, Rng};
use ferry_engine::app::{
    self, AppSpec, Caller, ConnectionSpec, ExportRequest, Ferry, ImportRequest, Qualified,
};
use ferry_engine::data_dir::DataDir;
use ferry_engine::package::signature;
use ferry_engine::projections::Projections;
use ferry_engine::world::{Opened, World};
use ferry_schemas::directory::License;

const OP: Caller = Caller::Operator;

fn at(s: &str) -> Qualified {
    s.parse().unwrap()
}

fn open(path: &Path) -> Ferry {
    Ferry::open(app::Options::new(path)).unwrap()
}

/// A Ferry on `path` whose projections keep `rows` saved rows per table in memory.
fn open_keeping(path: &Path, rows: usize) -> Ferry {
    let ferry = open(path);
    ferry.executor().unwrap().keep_rows(rows);
    ferry
}

fn init(path: &Path) -> Ferry {
    DataDir::init(path, ferry_engine::log::Options::default()).unwrap();
    open(path)
}

/// What the random sequences are made of; each knows what it needs to exist first.
struct Script {
    tenants: usize,
    apps: usize,
    imports: Vec<ferry_schemas::MigrationId>,
}

impl Script {
    fn env(&self, rng: &mut Rng) -> String {
        format!("t{}/prod", rng.below(self.tenants))
    }

    /// One command at random (the first ones make a tenant to work in).
    fn step(&mut self, ferry: &Ferry, rng: &mut Rng) {
        let choice = if self.tenants == 0 { 0 } else { rng.below(9) };
        match choice {
            0 => {
                let t = self.tenants;
                ferry
                    .create_tenant(&OP, format!("t{t}").parse().unwrap())
                    .unwrap();
                ferry
                    .create_environment(&OP, &at(&format!("t{t}/prod")), true)
                    .unwrap();
                ferry
                    .create_user(&OP, &at(&format!("t{t}/ann")), License::Plan2)
                    .unwrap();
                self.tenants += 1;
            }
            1 => {
                let env = self.env(rng);
                let spec = AppSpec {
                    document: Some(format!("app {}", rng.next()).into_bytes()),
                    flows: Vec::new(),
                    connectors: Vec::new(),
                };
                ferry
                    .create_app(&OP, &at(&env), format!("App {}", self.apps), spec)
                    .unwrap();
                self.apps += 1;
            }
            2 => {
                let spec = ConnectionSpec {
                    connector: "shared_office365".into(),
                    account: format!("user{}@example.com", rng.next() % 100),
                    secret: None,
                    gateway: None,
                };
                ferry
                    .create_connection(&OP, &at(&self.env(rng)), spec)
                    .unwrap();
            }
            3 => {
                let t = rng.below(self.tenants);
                let user = at(&format!("t{t}/ann"));
                ferry.create_token(&OP, Some(&user), None).unwrap();
            }
            4 => {
                let env = at(&self.env(rng));
                let key = signature::signing_key(&hex(rng.bytes::<32>())).unwrap();
                ferry
                    .trust(&OP, &env, &signature::public_key(&key), "ops")
                    .unwrap();
                ferry.set_policy(&OP, &env, rng.chance(50)).unwrap();
            }
            // An export of an app, imported into another tenant (reviewed, started, run).
            5..=7 if self.apps > 0 && self.tenants > 1 => {
                let Some((from, app)) = self.some_app(ferry, rng) else {
                    return;
                };
                let request = ExportRequest {
                    environment: at(&from),
                    app,
                    name: "pkg".into(),
                    description: String::new(),
                    actions: Vec::new(),
                    comments: Vec::new(),
                    idempotency_key: None,
                    drafts: rng.chance(50),
                };
                let (_, package) = ferry.export(&OP, request).unwrap();
                let into = self.env(rng);
                let request = ImportRequest {
                    package,
                    into: at(&into),
                    dry_run: false,
                    answers: Vec::new(),
                    idempotency_key: None,
                };
                // A policy that requires signed packages refuses it, recording nothing.
                let Ok(review) = ferry.import(&OP, request) else {
                    return;
                };
                self.imports.push(review.migration);
                if rng.chance(70) && ferry.start(&OP, review.migration, rng.chance(30)).is_ok() {
                    ferry.executor().unwrap().run(review.migration).unwrap();
                }
            }
            _ => {
                if let Some(&id) = self.imports.get(rng.below(self.imports.len().max(1))) {
                    let _ = ferry.publish_import(&OP, id);
                }
            }
        }
    }

    fn some_app(&self, ferry: &Ferry, rng: &mut Rng) -> Option<(String, String)> {
        let env = self.env(rng);
        let resources = ferry.resources(&OP, &at(&env), None).ok()?;
        let app = resources
            .iter()
            .find(|r| r.kind == ferry_schemas::resource::Kind::App)?;
        Some((env, app.id.to_string()))
    }
}

fn hex(bytes: [u8; 32]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The live projections, every saved row read in (memory holds only a part of them).
fn live(ferry: &Ferry) -> World {
    let mut world = ferry.executor().unwrap().read(World::clone).unwrap();
    world.load_all().unwrap();
    world
}

/// The counts over `world`'s imports, counted.
fn counted(world: &World) -> ferry_engine::world::Tallies {
    use ferry_engine::migration::{state_name, Outcome};
    let mut tallies = ferry_engine::world::Tallies::default();
    for import in world.imports.values() {
        *tallies
            .migrations
            .entry(state_name(import).to_owned())
            .or_default() += 1;
        for item in &import.items {
            match item.outcome {
                Some(Outcome::Applied { .. }) => tallies.steps_applied += 1,
                Some(Outcome::Failed { .. }) => tallies.steps_failed += 1,
                _ => {}
            }
        }
    }
    tallies
}

/// `world` with every saved row read in, to compare.
fn whole(world: &World) -> World {
    let mut world = world.clone();
    world.load_all().unwrap();
    world
}

fn from_scratch(ferry: &Ferry) -> World {
    World::load(ferry.data_dir().log()).unwrap()
}

#[test]
fn reopened_projections_equal_a_fold_from_scratch_at_every_prefix() {
    let mut rng = Rng::seeded("projections");
    let (mut completed, mut exports, mut reopened_dirs) = (0, 0, 0);
    for _case in 0..6 {
        let dir = scratch();
        let data = dir.path().join("data");
        let mut ferry = init(&data);
        // A second store the test saves to itself, at random prefixes only: reopening it
        // folds the records appended since on top of what it holds.
        let shadow = Projections::open(&dir.path().join("shadow")).unwrap();
        let mut shadowed = World::default();
        let mut script = Script {
            tenants: 0,
            apps: 0,
            imports: Vec::new(),
        };
        for _prefix in 0..30 {
            script.step(&ferry, &mut rng);
            let expected = from_scratch(&ferry);
            assert_eq!(live(&ferry), expected, "the live projections");
            assert_eq!(
                expected.tallies(),
                counted(&expected),
                "the counts kept by the fold"
            );
            let store = ferry.data_dir().log();
            shadowed.catch_up(store).unwrap();
            assert_eq!(whole(&shadowed), expected, "the shadow, folded on");
            if rng.chance(40) {
                shadowed.save(store, &shadow).unwrap();
            }
            // Memory drops what is saved: the next folds read rows back from the store.
            if rng.chance(50) {
                shadowed.trim(0);
            }
            let (reopened, opened) = World::open(store, &shadow).unwrap();
            assert!(
                matches!(
                    opened,
                    Opened::Restored { .. } | Opened::Rebuilt { reason: None }
                ),
                "{opened:?}"
            );
            assert_eq!(whole(&reopened), expected, "reopened from the shadow store");
            // The data directory's own store, reopened by a new process's worth of Ferry.
            if rng.chance(30) {
                drop(ferry);
                // Half the time memory keeps no saved row: every read goes to the store.
                ferry = open_keeping(&data, if rng.chance(50) { 0 } else { 1 << 20 });
                assert_eq!(live(&ferry), expected, "reopened from the data directory");
                reopened_dirs += 1;
            }
        }
        let world = live(&ferry);
        completed += world
            .imports
            .values()
            .filter(|i| i.phase == ferry_engine::migration::Phase::Completed)
            .count();
        exports += world.exports.len();
    }
    // The sequences reached what the projections hold, not only the directory.
    eprintln!("{completed} imports completed, {exports} exports, {reopened_dirs} reopenings");
    assert!(completed > 2 && exports > 2 && reopened_dirs > 4);
}

/// A data directory (`data` in the folder returned) with some history and its projections
/// saved, closed; and the script that made it, to go on with.
fn history(rng: &mut Rng) -> (tempfile::TempDir, Script) {
    history_of(rng, 20)
}

/// [`history`] of `steps` random commands.
fn history_of(rng: &mut Rng, steps: usize) -> (tempfile::TempDir, Script) {
    let dir = scratch();
    let ferry = init(&dir.path().join("data"));
    let mut script = Script {
        tenants: 0,
        apps: 0,
        imports: Vec::new(),
    };
    for _ in 0..steps {
        script.step(&ferry, rng);
    }
    // Built (and so saved when dropped) even if no command needed it.
    ferry.executor().unwrap();
    (dir, script)
}

/// Opens `data`'s saved projections over its log (a `Ferry` that builds no executor of its
/// own) and says how it went, with a fold from scratch to compare.
fn reopen(data: &Path) -> (World, Opened, World) {
    let ferry = open(data);
    let projections = Projections::open(&data.join(DataDir::PROJECTIONS)).unwrap();
    let (world, opened) = World::open(ferry.data_dir().log(), &projections).unwrap();
    (world, opened, from_scratch(&ferry))
}

#[test]
fn a_store_from_another_data_directory_is_rebuilt_not_trusted() {
    let mut rng = Rng::seeded("projections-copied");
    let ((a, _), (b, _)) = (history(&mut rng), history(&mut rng));
    let (pa, pb) = (a.path().join("data"), b.path().join("data"));
    std::fs::remove_dir_all(pa.join(DataDir::PROJECTIONS)).unwrap();
    copy_dir(
        &pb.join(DataDir::PROJECTIONS),
        &pa.join(DataDir::PROJECTIONS),
    );
    let ferry = open(&pa);
    let expected = from_scratch(&ferry);
    assert_eq!(live(&ferry), expected);
    drop(ferry);
    // Rebuilt once, it is trusted again.
    let ferry = open(&pa);
    assert_eq!(live(&ferry), expected);
}

#[test]
fn a_damaged_or_truncated_store_is_rebuilt_or_refused_never_trusted() {
    let mut rng = Rng::seeded("projections-damaged");
    for damage in ["truncate", "flip", "empty"] {
        let (dir, _) = history(&mut rng);
        let data = dir.path().join("data");
        let store = data.join(DataDir::PROJECTIONS);
        for file in files(&store) {
            let mut bytes = std::fs::read(&file).unwrap();
            if bytes.is_empty() {
                continue;
            }
            match damage {
                "truncate" => bytes.truncate(bytes.len() / 2),
                "flip" => {
                    let at = rng.below(bytes.len());
                    bytes[at] ^= 0x5a;
                }
                _ => bytes.clear(),
            }
            std::fs::write(&file, bytes).unwrap();
        }
        let ferry = open(&data);
        assert_eq!(live(&ferry), from_scratch(&ferry), "after {damage}");
    }
}

#[test]
fn a_log_restored_from_an_older_backup_rebuilds_the_newer_projections() {
    let mut rng = Rng::seeded("projections-backup");
    let (dir, mut script) = history(&mut rng);
    let data = dir.path().join("data");
    let backup = dir.path().join("backup");
    copy_dir(&data.join("log"), &backup);
    {
        let ferry = open(&data);
        let before = ferry.data_dir().log().head().unwrap().position;
        while ferry.data_dir().log().head().unwrap().position == before {
            script.step(&ferry, &mut rng);
        }
        ferry.executor().unwrap();
    }
    // The log goes back to the backup; the projections stay ahead of it.
    std::fs::remove_dir_all(data.join("log")).unwrap();
    copy_dir(&backup, &data.join("log"));
    let (world, opened, expected) = reopen(&data);
    assert!(
        matches!(opened, Opened::Rebuilt { reason: Some(_) }),
        "{opened:?}"
    );
    assert_eq!(whole(&world), expected);
}

fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files(&path));
        } else {
            found.push(path);
        }
    }
    found
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

#[test]
fn a_saved_row_that_does_not_read_back_fails_the_read_and_the_next_start_rebuilds() {
    let mut rng = Rng::seeded("projections-unreadable-row");
    let (dir, _) = history(&mut rng);
    let data = dir.path().join("data");
    // A tenant's row (every history starts with one), overwritten with what no build wrote
    // (sled itself is intact).
    {
        let db = sled::open(data.join(DataDir::PROJECTIONS)).unwrap();
        let tree = db.open_tree("projections").unwrap();
        let (key, _) = tree.scan_prefix([1u8]).next().unwrap().unwrap();
        tree.insert(key, b"not a row".to_vec()).unwrap();
    }
    let ferry = open(&data);
    let error = ferry.tenants(&OP, None, None).unwrap_err().to_string();
    assert!(
        error.contains("do not read back") && error.contains("rebuilds"),
        "{error}"
    );
    drop(ferry);
    let ferry = open(&data);
    assert!(!ferry.tenants(&OP, None, None).unwrap().is_empty());
    assert_eq!(live(&ferry), from_scratch(&ferry));
}

#[test]
fn a_rebuild_saves_and_drops_rows_as_it_goes_and_one_cut_short_is_gone_on_from() {
    let mut rng = Rng::seeded("projections-rebuild");
    let (dir, _) = history_of(&mut rng, 300);
    let data = dir.path().join("data");
    let ferry = open(&data);
    let log = ferry.data_dir().log();
    let expected = from_scratch(&ferry);
    let head = log.head().unwrap().position;
    assert!(head > 40, "a history of {head} records");

    // Saved every 7 records, every saved row dropped from memory at once: the fold reads
    // back from the store each row it changes again.
    let store = Projections::open(&dir.path().join("rebuilt")).unwrap();
    let mut saves = Vec::new();
    let world = World::rebuild(log, &store, 7, 0, &mut |at| saves.push(at)).unwrap();
    assert_eq!(world.position(), head);
    assert_eq!(whole(&world), expected);
    let stamp = store.stamp().unwrap().unwrap();
    assert_eq!(stamp.position, head);
    drop(world);
    let (reopened, opened) = World::open(log, &store).unwrap();
    assert!(
        matches!(opened, Opened::Restored { folded: 0, .. }),
        "{opened:?}"
    );
    assert_eq!(whole(&reopened), expected);
    drop((reopened, store));

    // A rebuild cut short half way (the log unreadable past there, as if its process died)
    // leaves the stamp of its last save: the next open folds on from there.
    let store = Projections::open(&dir.path().join("cut")).unwrap();
    let dying = Dying {
        log,
        head: head / 2,
    };
    assert!(World::rebuild(&dying, &store, 7, 0, &mut |_| {}).is_err());
    let stamp = store.stamp().unwrap().unwrap().position;
    assert!(stamp > 0 && stamp <= head / 2, "saved at {stamp}");
    let (world, opened) = World::open(log, &store).unwrap();
    assert!(
        matches!(opened, Opened::Restored { saved, folded } if saved == stamp && folded == head - stamp),
        "{opened:?}"
    );
    assert_eq!(whole(&world), expected);
}

/// `log` until `head`; reading past it fails (a rebuild whose process died there).
struct Dying<'a> {
    log: &'a dyn ferry_engine::log::Store,
    head: u64,
}

impl Dying<'_> {
    /// At most `max` records from `from`, or the failure of reading past the head.
    fn bound(&self, from: u64, max: usize) -> ferry_engine::log::Result<usize> {
        let from = from.max(1);
        if from > self.head {
            return Err(ferry_engine::log::Error::NoSuchPosition {
                position: from,
                head: self.head,
            });
        }
        Ok(max.min((self.head + 1 - from) as usize))
    }
}

impl ferry_engine::log::Store for Dying<'_> {
    fn append_scoped(
        &self,
        stream: &ferry_schemas::StreamId,
        expected: ferry_engine::log::Expected,
        scope: Option<&ferry_engine::log::Scope>,
        events: Vec<ferry_schemas::NewEvent>,
    ) -> ferry_engine::log::Result<ferry_engine::log::Appended> {
        self.log.append_scoped(stream, expected, scope, events)
    }

    fn read_stream(
        &self,
        stream: &ferry_schemas::StreamId,
        from: u64,
        max: usize,
    ) -> ferry_engine::log::Result<Vec<ferry_schemas::Record>> {
        self.log.read_stream(stream, from, max)
    }

    fn read_all(
        &self,
        from: u64,
        max: usize,
    ) -> ferry_engine::log::Result<Vec<ferry_schemas::Record>> {
        let max = self.bound(from, max)?;
        self.log.read_all(from, max)
    }

    fn read_all_bodies(&self, from: u64, max: usize) -> ferry_engine::log::Result<Vec<Vec<u8>>> {
        let max = self.bound(from, max)?;
        self.log.read_all_bodies(from, max)
    }

    fn stream_version(&self, stream: &ferry_schemas::StreamId) -> ferry_engine::log::Result<u64> {
        self.log.stream_version(stream)
    }

    fn head(&self) -> ferry_engine::log::Result<ferry_engine::log::Head> {
        self.log.head()
    }

    fn wait_for(
        &self,
        position: u64,
        timeout: std::time::Duration,
    ) -> ferry_engine::log::Result<u64> {
        self.log.wait_for(position, timeout)
    }
}
