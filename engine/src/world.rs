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
use crate::projections::{self, as_is, prefix, Projections, Stamp, Table};
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
    /// A saved row does not read back from the projection store (sled failed, or the row
    /// does not decode): the store is not trusted again, and the next start rebuilds it.
    #[error(
        "the saved projections do not read back at position {position} ({reason}); the next \
         start rebuilds them from the log (or run `ferry rebuild` now)"
    )]
    Unreadable {
        /// The position the projections were at.
        position: u64,
        /// What failed.
        reason: String,
    },
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

/// Counts over every import, kept by the fold: monitoring reads them without reading every
/// import.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Tallies {
    /// Imports by state ([`crate::migration::state_name`]); states with none are left out.
    pub migrations: std::collections::BTreeMap<String, u64>,
    /// Items whose step was applied.
    pub steps_applied: u64,
    /// Items whose step failed.
    pub steps_failed: u64,
}

/// What one import adds to the [`Tallies`].
#[derive(Clone, Copy, PartialEq, Eq)]
struct Tally {
    state: &'static str,
    applied: u64,
    failed: u64,
}

impl Tally {
    fn of(import: &Import) -> Tally {
        let (mut applied, mut failed) = (0, 0);
        for item in &import.items {
            match item.outcome {
                Some(crate::migration::Outcome::Applied { .. }) => applied += 1,
                Some(crate::migration::Outcome::Failed { .. }) => failed += 1,
                _ => {}
            }
        }
        Tally {
            state: crate::migration::state_name(import),
            applied,
            failed,
        }
    }
}

impl Tallies {
    fn add(&mut self, tally: Tally) {
        *self.migrations.entry(tally.state.to_owned()).or_default() += 1;
        self.steps_applied += tally.applied;
        self.steps_failed += tally.failed;
    }

    fn take(&mut self, tally: Tally) {
        if let Some(count) = self.migrations.get_mut(tally.state) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.migrations.remove(tally.state);
            }
        }
        self.steps_applied = self.steps_applied.saturating_sub(tally.applied);
        self.steps_failed = self.steps_failed.saturating_sub(tally.failed);
    }
}

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
    /// The imports a worker has something to do for (kept by the fold beside `imports`):
    /// workers poll it, and it stays small while finished imports pile up.
    runnable: Table<MigrationId, ()>,
    /// Every provisioning run.
    pub provisions: Table<ProvisionId, Provision>,
    /// Every export migration: which app, which package.
    pub exports: Table<MigrationId, Export>,
    /// Counts over every import (one row), kept by the fold.
    tallies: Table<u8, Tallies>,
    position: u64,
    directory_version: u64,
    environment_versions: Table<EnvironmentId, u64>,
    /// The position the projection store holds (None: this world saved nothing yet).
    saved: Option<u64>,
    /// The hash of the log's first record, once read.
    origin: Option<Digest>,
    /// A save failed part way: the store is invalidated and this process saves no more.
    unsaveable: bool,
    /// A row the fold needed could not be read from the store: this world folds no more.
    broken: Option<String>,
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
            && self.tallies == other.tallies
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
        let mut world = World::default();
        world.fold_log(store, &mut |world| {
            progress(world.position);
            Ok(())
        })?;
        Ok(world)
    }

    /// Folds the whole log into `saved`, which must hold nothing: every `every` records what
    /// was folded is saved and the saved rows past `keep` per table leave memory, so a rebuild
    /// holds what a running process holds, not the whole history (a rebuild cut short leaves
    /// a stamp the next open goes on from). `progress` hears the position after each batch.
    pub fn rebuild(
        store: &dyn Store,
        saved: &Projections,
        every: u64,
        keep: usize,
        progress: &mut dyn FnMut(u64),
    ) -> Result<World, Error> {
        let mut world = World::default();
        world.fold_log(store, &mut |world| {
            if world.unsaved() >= every {
                world.save(store, saved)?;
                world.trim(keep);
            }
            progress(world.position);
            Ok(())
        })?;
        world.save(store, saved)?;
        Ok(world)
    }

    /// Folds every record after this world's position, `after` called after each batch.
    /// Reading and decoding run on other threads, a batch at a time; folding runs in log
    /// order on the caller's.
    fn fold_log(
        &mut self,
        store: &dyn Store,
        after: &mut dyn FnMut(&mut World) -> Result<(), Error>,
    ) -> Result<(), Error> {
        const BATCH: usize = 1024;
        let world = self;
        let mut from = world.position + 1;
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
                    Ok(placed) => {
                        if let Err(e) = world.fold(&placed) {
                            failed = Some(e);
                            return ControlFlow::Break(());
                        }
                    }
                    Err(e) => {
                        failed = Some(Error::Undecodable {
                            position: world.position + 1,
                            reason: e.to_string(),
                        });
                        return ControlFlow::Break(());
                    }
                }
            }
            if let Err(e) = after(world) {
                failed = Some(e);
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        };
        crate::parallel::ordered(crate::parallel::workers(), produce, decode, fold);
        match failed {
            Some(e) => Err(e),
            // Whatever was appended while loading.
            None => world.catch_up(store),
        }
    }

    /// The projections saved in `saved` if they match the log, with what was appended since
    /// folded in; otherwise the log folded from the start (and saved). A store that does not
    /// match is dropped, never trusted.
    pub fn open(store: &dyn Store, saved: &Projections) -> Result<(World, Opened), Error> {
        let reason = match World::restore(store, saved) {
            Ok(Ok(mut world)) => {
                let from = world.position;
                match world.catch_up(store) {
                    Ok(()) => {
                        let folded = world.position - from;
                        return Ok((
                            world,
                            Opened::Restored {
                                saved: from,
                                folded,
                            },
                        ));
                    }
                    // A saved row the fold needed does not read back: rebuild.
                    Err(e) if world.is_broken() => Some(e.to_string()),
                    Err(e) => return Err(e),
                }
            }
            Ok(Err(reason)) => reason,
            Err(e) => Some(e.to_string()),
        };
        let rebuilt = saved.clear().map_err(Error::from).and_then(|()| {
            World::rebuild(
                store,
                saved,
                crate::executor::SAVE_EVERY_RECORDS,
                crate::executor::KEEP_ROWS,
                &mut |_| {},
            )
        });
        let world = match rebuilt {
            Ok(world) => world,
            // The store is derived: if it cannot be written, this process runs on the fold
            // alone (a log that cannot be read fails this fold too).
            Err(e) => {
                tracing::warn!(
                    "the rebuilt projections could not be saved ({e}); the next start folds the log"
                );
                let _ = saved.invalidate();
                let mut world = World::load(store)?;
                world.stop_saving();
                world
            }
        };
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
        Ok(Ok(World {
            directory: directory::State::stored(tree),
            contents: Contents::stored(tree),
            imports: Table::stored(tree, prefix::IMPORTS, Import::reindex),
            runnable: Table::stored(tree, prefix::RUNNABLE, as_is),
            provisions: Table::stored(tree, prefix::PROVISIONS, as_is),
            exports: Table::stored(tree, prefix::EXPORTS, as_is),
            tallies: Table::stored(tree, prefix::TALLIES, as_is),
            position: stamp.position,
            directory_version: stamp.directory_version,
            environment_versions: Table::stored(tree, prefix::ENVIRONMENT_VERSIONS, as_is),
            saved: Some(stamp.position),
            origin: Some(stamp.origin),
            unsaveable: false,
            broken: None,
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
        self.runnable.save(prefix::RUNNABLE, &mut batch)?;
        self.provisions.save(prefix::PROVISIONS, &mut batch)?;
        self.exports.save(prefix::EXPORTS, &mut batch)?;
        self.tallies.save(prefix::TALLIES, &mut batch)?;
        self.environment_versions
            .save(prefix::ENVIRONMENT_VERSIONS, &mut batch)?;
        crate::failpoint::hit("projections-before-save");
        batch.finish(stamp)?;
        crate::failpoint::hit("projections-after-save");
        let tree = saved.tree();
        self.directory.saved(tree);
        self.contents.saved(tree);
        self.imports.saved(tree, prefix::IMPORTS, Import::reindex);
        self.runnable.saved(tree, prefix::RUNNABLE, as_is);
        self.provisions.saved(tree, prefix::PROVISIONS, as_is);
        self.exports.saved(tree, prefix::EXPORTS, as_is);
        self.tallies.saved(tree, prefix::TALLIES, as_is);
        self.environment_versions
            .saved(tree, prefix::ENVIRONMENT_VERSIONS, as_is);
        self.saved = Some(self.position);
        Ok(())
    }

    /// Every table, for what is done with all alike.
    fn parts(&mut self) -> Vec<&mut dyn projections::Part> {
        self.parts_with(true)
    }

    fn parts_but_runnable(&mut self) -> Vec<&mut dyn projections::Part> {
        self.parts_with(false)
    }

    fn parts_with(&mut self, runnable: bool) -> Vec<&mut dyn projections::Part> {
        let mut parts: Vec<&mut dyn projections::Part> = vec![
            &mut self.imports,
            &mut self.provisions,
            &mut self.exports,
            &mut self.tallies,
            &mut self.environment_versions,
        ];
        parts.extend(self.directory.parts());
        parts.extend(self.contents.parts());
        if runnable {
            parts.push(&mut self.runnable);
        }
        parts
    }

    fn take_failure(&mut self) -> Option<projections::Error> {
        self.parts()
            .into_iter()
            .find_map(|part| part.take_failure())
    }

    /// Loads the rows readers asked for since the last call that memory did not have; returns
    /// whether there were any (then the read is asked again: see [`crate::executor`]).
    pub fn load_missed(&mut self) -> Result<bool, Error> {
        let position = self.position;
        let mut missed = false;
        for part in self.parts() {
            missed |= part.load_missed().map_err(|e| unreadable(position, e))?;
        }
        Ok(missed)
    }

    /// Brings every saved row into memory (to compare worlds, or for a read that needs all).
    pub fn load_all(&mut self) -> Result<(), Error> {
        let position = self.position;
        for part in self.parts() {
            part.load_all().map_err(|e| unreadable(position, e))?;
        }
        // What a partial read may have noted as missed is there now.
        self.load_missed()?;
        Ok(())
    }

    /// Drops from memory the saved, unchanged rows of every table holding more than `keep`
    /// (they are read back from the store when next needed). The runnable imports stay: the
    /// workers read them all at every poll, and they are keys only. Nothing is dropped once
    /// a save failed: the store is no longer a place to read back from.
    pub fn trim(&mut self, keep: usize) {
        if self.unsaveable {
            return;
        }
        for part in self.parts_but_runnable() {
            part.trim(keep);
        }
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
        })
    }

    /// Folds in one record's body bytes; it must be the next position.
    pub fn apply_body(&mut self, body: &[u8]) -> Result<(), Error> {
        let placed = Placed::from_body(body).map_err(|e| Error::Undecodable {
            position: self.position + 1,
            reason: e.to_string(),
        })?;
        self.fold(&placed)
    }

    /// Folds one event in. A row it changes that cannot be read from the store stops this
    /// world for good (what the event changed is then only part done): every later fold says
    /// why, and the next process rebuilds or reads the store afresh.
    fn fold(&mut self, placed: &Placed) -> Result<(), Error> {
        if let Some(broken) = self.broken() {
            return Err(broken);
        }
        self.apply_placed(placed);
        if let Some(e) = self.take_failure() {
            self.broken = Some(e.to_string());
            self.unsaveable = true;
            return Err(Error::Unreadable {
                position: placed.position,
                reason: e.to_string(),
            });
        }
        Ok(())
    }

    fn apply_placed(&mut self, placed: &Placed) {
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
                let import = Import::new(id);
                self.tallies.or_default(0).add(Tally::of(&import));
                self.imports.insert(id, import);
            }
            if let Some(import) = self.imports.get_mut(&id) {
                let was = import.runnable();
                let before = Tally::of(import);
                import.apply(event);
                let after = Tally::of(import);
                if before != after {
                    let tallies = self.tallies.or_default(0);
                    tallies.take(before);
                    tallies.add(after);
                }
                match (was, import.runnable()) {
                    (false, true) => self.runnable.insert(id, ()),
                    (true, false) => {
                        self.runnable.remove(&id);
                    }
                    _ => {}
                }
            }
        }
        self.position = record.position;
    }

    /// Whether a row the fold needed could not be read from the store (this world folds no
    /// more; the store should not be trusted by the next start).
    pub fn is_broken(&self) -> bool {
        self.broken.is_some()
    }

    /// Why this world folds no more, if it does not.
    pub fn broken(&self) -> Option<Error> {
        self.broken.as_ref().map(|reason| Error::Unreadable {
            position: self.position,
            reason: reason.clone(),
        })
    }

    /// Counts over every import.
    pub fn tallies(&self) -> Tallies {
        self.tallies.get(&0).cloned().unwrap_or_default()
    }

    /// Imports a worker has something to do for, oldest first.
    pub fn runnable(&self) -> Vec<MigrationId> {
        self.runnable_at().into_iter().map(|(id, _)| id).collect()
    }

    /// The runnable migrations with the stream version each is at (a version that does not
    /// move means nobody is stepping it).
    pub fn runnable_at(&self) -> Vec<(MigrationId, u64)> {
        self.runnable
            .keys()
            .filter_map(|id| self.imports.get(id))
            .map(|i| (i.id, i.version))
            .collect()
    }
}

fn unreadable(position: u64, e: projections::Error) -> Error {
    Error::Unreadable {
        position,
        reason: e.to_string(),
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
