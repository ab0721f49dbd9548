//! Replay: every import migration's steps decided again, with the current code, from the log
//! alone — the migration's own events and the target environment as it stood just before each
//! step — and compared with what was recorded. Identical means the recorded results are what
//! this code produces from the same inputs.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use ferry_schemas::environment::Change;
use ferry_schemas::event::Event;
use ferry_schemas::{Digest, MigrationId, Record, ResourceId};

use super::Error;
use crate::blobs::Blobs;
use crate::log::Store;
use crate::migration;
use crate::package::{self, Limits, Package};
use crate::world::World;

/// A step whose replay differs from its record.
#[derive(Clone, Debug, PartialEq)]
pub struct Difference {
    /// The migration.
    pub migration: MigrationId,
    /// The record's position.
    pub position: u64,
    /// What was recorded.
    pub recorded: String,
    /// What the current code decides.
    pub replayed: String,
}

/// What a replay found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Replayed {
    /// Migrations replayed.
    pub migrations: usize,
    /// Steps decided again.
    pub steps: usize,
    /// Every step that came out differently.
    pub differences: Vec<Difference>,
}

/// The id a recorded step gave what it created, so the replay mints the same.
fn created_id(event: &Event) -> ResourceId {
    match event {
        Event::StepApplied(e) => match &e.change {
            Some(Change::Created(c)) => c.resource,
            _ => ResourceId::NIL,
        },
        _ => ResourceId::NIL,
    }
}

fn is_step(event: &Event) -> bool {
    matches!(
        event,
        Event::StepApplied(_)
            | Event::StepFailed(_)
            | Event::StepReverted(_)
            | Event::ImportCompleted(_)
    )
}

/// Replays `only` that migration, or every import on the log.
pub fn replay(
    store: &dyn Store,
    blobs: &Blobs,
    only: Option<MigrationId>,
) -> Result<Replayed, Error> {
    replay_where(store, blobs, |id| only.is_none_or(|o| o == id))
}

/// Replays the imports `wanted` accepts (e.g. those of the tenants an auditor audits).
pub fn replay_where(
    store: &dyn Store,
    blobs: &Blobs,
    wanted: impl Fn(MigrationId) -> bool,
) -> Result<Replayed, Error> {
    const BATCH: usize = 4096;
    let mut world = World::default();
    let mut replayer = Replayer {
        blobs,
        wanted: &wanted,
        packages: HashMap::new(),
        replayed: Replayed::default(),
        seen: HashSet::new(),
    };
    loop {
        let records = store.read_all(world.position() + 1, BATCH)?;
        if records.is_empty() {
            replayer.replayed.migrations = replayer.seen.len();
            return Ok(replayer.replayed);
        }
        for record in &records {
            replayer.check(record, &world);
            world
                .apply(record)
                .map_err(|e| Error::Replay(e.to_string()))?;
        }
    }
}

struct Replayer<'b> {
    blobs: &'b Blobs,
    wanted: &'b dyn Fn(MigrationId) -> bool,
    packages: HashMap<Digest, Result<Arc<Package>, String>>,
    replayed: Replayed,
    seen: HashSet<MigrationId>,
}

impl Replayer<'_> {
    /// Decides `record`'s step again on `world` (the log just before it) and compares.
    fn check(&mut self, record: &Record, world: &World) {
        let Some(id) = record.stream.migration_id().filter(|m| (self.wanted)(*m)) else {
            return;
        };
        let (Some(import), Ok(recorded)) = (world.imports.get(&id), Event::from_record(record))
        else {
            return;
        };
        self.seen.insert(id);
        if !is_step(&recorded) {
            return;
        }
        self.replayed.steps += 1;
        let blobs = self.blobs;
        let package = self
            .packages
            .entry(import.package)
            .or_insert_with(|| {
                let bytes = blobs.get(&import.package).map_err(|e| e.to_string())?;
                package::read(&bytes, &Limits::default())
                    .map(Arc::new)
                    .map_err(|e| e.to_string())
            })
            .clone();
        let decided = match package {
            Ok(package) => {
                migration::next_step(import, &world.contents, &package, created_id(&recorded))
                    .map_or_else(
                        || "nothing (the migration was not running)".to_owned(),
                        |step| format!("{:?}", step.event),
                    )
            }
            Err(reason) => format!("nothing: the stored package does not read ({reason})"),
        };
        let recorded = format!("{recorded:?}");
        if decided != recorded {
            self.replayed.differences.push(Difference {
                migration: id,
                position: record.position,
                recorded,
                replayed: decided,
            });
        }
    }
}
