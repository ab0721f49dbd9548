//! Everything the log says, folded: the directory, the environments' contents and every import
//! migration. One pass over the log builds it; [`World::catch_up`] folds in what was appended
//! since, so a long-running process keeps it live at the cost of the new records only.

use std::ops::ControlFlow;

use ferry_schemas::event::{Event, Placed};
use ferry_schemas::{Digest, EnvironmentId, MigrationId, ProvisionId, Record};

use crate::directory;
use crate::environment::Contents;
use crate::log::{self, Store};
use crate::migration::Import;
use crate::projections::{self, prefix, Projections, Stamp, Table};
use crate::provision::Provision;

/// Why the log could not be folded.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The log failed; see [`log::Error`].
    #[error(transparent)]
    Log(#[from] log::Error),
    /// The projection store failed; see [`projections::Error`].
    #[error(transparent)]
    Projections(#[from] projections::Error),
    /// A record does not decode: the log holds something this build does not understand.
    /// Upgrade Ferry, or restore the data directory.
    #[error("record at position {position} does not decode: {reason}")]
    Undecodable {
        /// The record's position.
        position: u64,
        /// What is wrong.
        reason: String,
    },
}

/// One record's event, or why it does not decode.
type Decoded = Result<Placed, ferry_schemas::event::DecodeError>;

/// An export migration, as far as its stream went.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Export {
    /// The source environment.
    pub environment: ferry_schemas::EnvironmentId,
    /// The app exported.
    pub app: ferry_schemas::ResourceId,
    /// The package written, once it was.
    pub package: Option<ferry_schemas::Digest>,
}

/// The projections of the whole log up to [`World::position`].
#[derive(Clone, Debug, Default)]
pub struct World {
    /// Tenants, environments, principals, grants.
    pub directory: directory::State,
    /// Every environment's resources and the identity map.
    pub contents: Contents,
    /// Every import migration.
    pub imports: Table<MigrationId, Import>,
    /// The imports a worker has something to do for (derived from `imports`, never saved):
    /// workers poll it, and it stays small while finished imports pile up.
    runnable: std::collections::BTreeSet<MigrationId>,
    /// Every provisioning run.
    pub provisions: Table<ProvisionId, Provision>,
    /// Every export migration: which app, which package.
    pub exports: Table<MigrationId, Export>,
    position: u64,
    directory_version: u64,
    environment_versions: Table<EnvironmentId, u64>,
    /// The position the projection store holds (None: this world saved nothing yet).
    saved: Option<u64>,
    /// The hash of the log's first record, once read.
    origin: Option<Digest>,
    /// A save failed part way: the store is invalidated and this process saves no more.
    unsaveable: bool,
}

/// Two worlds are equal when they reflect the same position with the same projections; what
/// was saved where is not part of it.
impl PartialEq for World {
    fn eq(&self, other: &World) -> bool {
        self.position == other.position
            && self.directory_version == other.directory_version
            && self.environment_versions == other.environment_versions
            && self.directory == other.directory
            && self.contents == other.contents
            && self.imports == other.imports
            && self.runnable == other.runnable
            && self.provisions == other.provisions
            && self.exports == other.exports
    }
}

/// How [`World::open`] found the projection store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Opened {
    /// The saved projections matched the log: only the records after `saved` were folded.
    Restored {
        /// The position they had been saved at.
        saved: u64,
        /// Records folded on top.
        folded: u64,
    },
    /// The saved projections could not be used; the log was folded from the start.
    Rebuilt {
        /// Why (None: there were none to use, as in a new data directory).
        reason: Option<String>,
    },
}

impl World {
    /// Folds the whole log. Reading and decoding run on other threads, a batch at a time;
    /// folding runs in log order on the caller's.
    pub fn load(store: &dyn Store) -> Result<World, Error> {
        World::load_reporting(store, &mut |_| {})
    }

    /// [`World::load`], telling `progress` the position folded after each batch.
    pub fn load_reporting(
        store: &dyn Store,
        progress: &mut dyn FnMut(u64),
    ) -> Result<World, Error> {
        const BATCH: usize = 1024;
        let mut world = World::default();
        let mut from = 1;
        let mut ended = false;
        let produce = || {
            if ended {
                return None;
            }
            let read = store.read_all_bodies(from, BATCH);
            match &read {
                Ok(bodies) if bodies.is_empty() => return None,
                Ok(bodies) => from += bodies.len() as u64,
                Err(_) => ended = true,
            }
            Some(read)
        };
        let decode = |read: log::Result<Vec<Vec<u8>>>| {
            read.map(|bodies| {
                bodies
                    .iter()
                    .map(|b| Placed::from_body(b))
                    .collect::<Vec<_>>()
            })
        };
        let mut failed = None;
        let fold = |decoded: log::Result<Vec<Decoded>>| {
            let placed = match decoded {
                Ok(placed) => placed,
                Err(e) => {
                    failed = Some(Error::Log(e));
                    return ControlFlow::Break(());
                }
            };
            for placed in placed {
                match placed {
                    Ok(placed) => world.fold(&placed),
                    Err(e) => {
                        failed = Some(Error::Undecodable {
                            position: world.position + 1,
                            reason: e.to_string(),
                        });
                        return ControlFlow::Break(());
                    }
                }
            }
            progress(world.position);
            ControlFlow::Continue(())
        };
        crate::parallel::ordered(crate::parallel::workers(), produce, decode, fold);
        match failed {
            Some(e) => Err(e),
            // Whatever was appended while loading.
            None => world.catch_up(store).map(|()| world),
        }
    }

    /// The projections saved in `saved` if they match the log, with what was appended since
    /// folded in; otherwise the log folded from the start (and saved). A store that does not
    /// match is dropped, never trusted.
    pub fn open(store: &dyn Store, saved: &Projections) -> Result<(World, Opened), Error> {
        let reason = match World::restore(store, saved) {
            Ok(Ok(mut world)) => {
                let from = world.position;
                world.catch_up(store)?;
                let folded = world.position - from;
                return Ok((
                    world,
                    Opened::Restored {
                        saved: from,
                        folded,
                    },
                ));
            }
            Ok(Err(reason)) => reason,
            Err(e) => Some(e.to_string()),
        };
        let mut world = World::load(store)?;
        // The store is derived: if it cannot be written, this process runs on the fold alone.
        if let Err(e) = saved
            .clear()
            .map_err(Error::from)
            .and_then(|()| world.save(store, saved))
        {
            tracing::warn!(
                "the rebuilt projections could not be saved ({e}); the next start folds the log"
            );
            world.stop_saving();
        }
        Ok((world, Opened::Rebuilt { reason }))
    }

    /// The saved projections, if the log's records at the stamp's positions carry its hashes;
    /// otherwise why not (None: nothing was saved).
    fn restore(
        store: &dyn Store,
        saved: &Projections,
    ) -> Result<Result<World, Option<String>>, Error> {
        let Some(stamp) = saved.stamp()? else {
            return Ok(Err(None));
        };
        // Saved before the log had a record: nothing to check, nothing to load.
        if stamp.position == 0 && stamp.format == projections::FORMAT {
            return Ok(Ok(World {
                saved: Some(0),
                ..World::default()
            }));
        }
        if stamp.format != projections::FORMAT {
            return Ok(Err(Some(format!(
                "they were saved in format {}, this build reads {}",
                stamp.format,
                projections::FORMAT
            ))));
        }
        let origin = hash_at(store, 1)?;
        if origin != Some(stamp.origin) {
            return Ok(Err(Some(
                "they were saved from another log (a copied or restored data directory)".into(),
            )));
        }
        if hash_at(store, stamp.position)? != Some(stamp.hash) {
            return Ok(Err(Some(format!(
                "the log's record at position {} is not the one they were saved at (a log \
                 restored from an older backup?)",
                stamp.position
            ))));
        }
        let tree = saved.tree();
        let imports: Table<MigrationId, Import> =
            Table::load(tree, prefix::IMPORTS, Import::reindex)?;
        Ok(Ok(World {
            directory: directory::State::load(tree)?,
            contents: Contents::load(tree)?,
            runnable: imports
                .values()
                .filter(|i| i.runnable())
                .map(|i| i.id)
                .collect(),
            imports,
            provisions: Table::load(tree, prefix::PROVISIONS, |_| {})?,
            exports: Table::load(tree, prefix::EXPORTS, |_| {})?,
            position: stamp.position,
            directory_version: stamp.directory_version,
            environment_versions: Table::load(tree, prefix::ENVIRONMENT_VERSIONS, |_| {})?,
            saved: Some(stamp.position),
            origin: Some(stamp.origin),
            unsaveable: false,
        }))
    }

    /// Writes what changed since the last save to `saved`, in one batch with the stamp of
    /// [`World::position`]. If the batch cannot be written, the store is invalidated (the next
    /// open rebuilds it) and this world saves nothing more.
    pub fn save(&mut self, store: &dyn Store, saved: &Projections) -> Result<(), Error> {
        if self.unsaveable || self.saved == Some(self.position) {
            return Ok(());
        }
        // Read before anything is written: a failure here leaves the store as it was.
        let stamp = self.stamp(store)?;
        // Until the last batch is in, this world's change marks are spent: if the save fails
        // — or panics — part way, nothing more is saved from it (the next open folds from the
        // last whole save, or rebuilds if part of this one landed).
        self.unsaveable = true;
        match self.write(saved, &stamp) {
            Ok(()) => {
                self.unsaveable = false;
                Ok(())
            }
            Err(e) => {
                let _ = saved.invalidate();
                Err(e)
            }
        }
    }

    /// Stops saving: what is in memory can no longer be trusted to equal the log's fold (a
    /// fold was interrupted by a panic). The store keeps its last whole save.
    pub fn stop_saving(&mut self) {
        self.unsaveable = true;
    }

    fn stamp(&mut self, store: &dyn Store) -> Result<Stamp, Error> {
        let missing = |position| Error::Undecodable {
            position,
            reason: "the log has no record there".into(),
        };
        let (origin, hash) = if self.position == 0 {
            (Digest::ZERO, Digest::ZERO)
        } else {
            let origin = match self.origin {
                Some(origin) => origin,
                None => hash_at(store, 1)?.ok_or_else(|| missing(1))?,
            };
            self.origin = Some(origin);
            let hash = hash_at(store, self.position)?.ok_or_else(|| missing(self.position))?;
            (origin, hash)
        };
        Ok(Stamp {
            format: projections::FORMAT,
            origin,
            position: self.position,
            hash,
            directory_version: self.directory_version,
        })
    }

    fn write(&mut self, saved: &Projections, stamp: &Stamp) -> Result<(), Error> {
        let mut batch = saved.save();
        self.directory.save(&mut batch)?;
        self.contents.save(&mut batch)?;
        self.imports.save(prefix::IMPORTS, &mut batch)?;
        self.provisions.save(prefix::PROVISIONS, &mut batch)?;
        self.exports.save(prefix::EXPORTS, &mut batch)?;
        self.environment_versions
            .save(prefix::ENVIRONMENT_VERSIONS, &mut batch)?;
        crate::failpoint::hit("projections-before-save");
        batch.finish(stamp)?;
        crate::failpoint::hit("projections-after-save");
        self.saved = Some(self.position);
        Ok(())
    }

    /// Records folded since the last save.
    pub fn unsaved(&self) -> u64 {
        self.position - self.saved.unwrap_or(0)
    }

    /// The version of the directory stream folded in.
    pub fn directory_version(&self) -> u64 {
        self.directory_version
    }

    /// The version of an environment's authored-changes stream folded in.
    pub fn environment_version(&self, environment: ferry_schemas::EnvironmentId) -> u64 {
        self.environment_versions
            .get(&environment)
            .copied()
            .unwrap_or(0)
    }

    /// The last position folded in (0: none).
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Folds in every record appended since the last call.
    pub fn catch_up(&mut self, store: &dyn Store) -> Result<(), Error> {
        const BATCH: usize = 4096;
        loop {
            let bodies = store.read_all_bodies(self.position + 1, BATCH)?;
            if bodies.is_empty() {
                return Ok(());
            }
            for body in &bodies {
                self.apply_body(body)?;
            }
        }
    }

    /// The projections as of the last record that `include` accepts, folding from the start
    /// and stopping at the first record it refuses (`--as-of` views: a position or a time).
    pub fn as_of(store: &dyn Store, include: impl Fn(&Record) -> bool) -> Result<World, Error> {
        const BATCH: usize = 4096;
        let mut world = World::default();
        loop {
            let records = store.read_all(world.position + 1, BATCH)?;
            if records.is_empty() {
                return Ok(world);
            }
            for record in &records {
                if !include(record) {
                    return Ok(world);
                }
                world.apply(record)?;
            }
        }
    }

    /// Folds in one record; it must be the next position.
    pub fn apply(&mut self, record: &Record) -> Result<(), Error> {
        let event = Event::from_record(record).map_err(|e| Error::Undecodable {
            position: record.position,
            reason: e.to_string(),
        })?;
        self.fold(&Placed {
            position: record.position,
            stream: record.stream.clone(),
            stream_version: record.stream_version,
            event,
        });
        Ok(())
    }

    /// Folds in one record's body bytes; it must be the next position.
    pub fn apply_body(&mut self, body: &[u8]) -> Result<(), Error> {
        let placed = Placed::from_body(body).map_err(|e| Error::Undecodable {
            position: self.position + 1,
            reason: e.to_string(),
        })?;
        self.fold(&placed);
        Ok(())
    }

    fn fold(&mut self, placed: &Placed) {
        let (record, event) = (placed, &placed.event);
        self.directory.apply(event);
        if record.stream.as_str() == crate::directory::STREAM {
            self.directory_version = record.stream_version;
        } else if let Some(environment) = record.stream.environment_id() {
            self.environment_versions
                .insert(environment, record.stream_version);
        }
        self.contents.apply(event);
        if let Some(id) = record.stream.provision_id() {
            let mut run = self.provisions.remove(&id);
            Provision::apply(&mut run, event);
            if let Some(run) = run {
                self.provisions.insert(id, run);
            }
        }
        if let Some(id) = record.stream.migration_id() {
            match event {
                Event::ExportRequested(e) => {
                    self.exports.insert(
                        id,
                        Export {
                            environment: e.environment,
                            app: e.app,
                            package: None,
                        },
                    );
                }
                Event::PackageWritten(e) => {
                    if let Some(export) = self.exports.get_mut(&id) {
                        export.package = Some(e.package);
                    }
                }
                _ => {}
            }
            if matches!(event, Event::ImportRequested(_)) {
                self.imports.insert(id, Import::new(id));
            }
            if let Some(import) = self.imports.get_mut(&id) {
                import.apply(event);
                if import.runnable() {
                    self.runnable.insert(id);
                } else {
                    self.runnable.remove(&id);
                }
            }
        }
        self.position = record.position;
    }

    /// Imports a worker has something to do for, oldest first.
    pub fn runnable(&self) -> Vec<MigrationId> {
        self.runnable_at().into_iter().map(|(id, _)| id).collect()
    }

    /// The runnable migrations with the stream version each is at (a version that does not
    /// move means nobody is stepping it).
    pub fn runnable_at(&self) -> Vec<(MigrationId, u64)> {
        self.runnable
            .iter()
            .filter_map(|id| self.imports.get(id))
            .map(|i| (i.id, i.version))
            .collect()
    }
}

/// The hash of the record at `position`, if the log has one there.
fn hash_at(store: &dyn Store, position: u64) -> Result<Option<Digest>, Error> {
    if position == 0 {
        return Ok(None);
    }
    Ok(store
        .read_all_bodies(position, 1)?
        .first()
        .map(|body| Digest::of(body)))
}
