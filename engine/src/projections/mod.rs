//! The projections, persisted: what the log says, folded, kept in sled so that opening Ferry
//! folds only what was appended since they were saved, not the whole history.
//!
//! The log stays the only source of truth. Each save is **one sled batch**: the rows that
//! changed since the last save and the [`Stamp`] — the log position they reflect and that
//! record's hash, and the hash of the log's first record. sled needs no fsync of its own: a
//! batch lost in a crash is folded again from the log. Opening trusts the saved rows only if
//! the log's records at the stamp's positions have the stamp's hashes; a store that is missing,
//! from another log (or one restored from an older backup), written by another format, or
//! damaged is dropped and rebuilt from the log, and the caller is told why.
//!
//! ## Layout
//! One tree, `projections`. Key `[0]` holds the stamp; every other key is a table's prefix byte
//! followed by the row's key as JSON; values are the rows as JSON.

mod table;

pub use table::Table;
pub(crate) use table::{as_is, Part};

use std::path::Path;

use ferry_schemas::Digest;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The layout's version: a store of another is rebuilt. Bump it whenever a row's type
/// changes what it means (3: imports say whether they rolled back; 4: the runnable imports
/// are a table of their own, the contents are a row per environment and one per resource's
/// home, and counts over the imports are kept).
pub const FORMAT: u32 = 4;

/// A save writes its rows in sled batches of about this many bytes, so saving everything
/// (after a rebuild) takes bounded memory.
const BATCH_BYTES: usize = 8 << 20;

const STAMP: u8 = 0;

/// The prefix byte of each table.
pub(crate) mod prefix {
    pub const TENANTS: u8 = 1;
    pub const ENVIRONMENTS: u8 = 2;
    pub const PRINCIPALS: u8 = 3;
    pub const GRANTS: u8 = 4;
    pub const TOKENS: u8 = 5;
    pub const POLICIES: u8 = 6;
    pub const TENANT_NAMES: u8 = 7;
    pub const ENVIRONMENT_NAMES: u8 = 8;
    pub const PRINCIPAL_NAMES: u8 = 9;
    /// One row per environment: its resources and its identity map.
    pub const CONTENTS: u8 = 10;
    /// The environment of each resource.
    pub const HOMES: u8 = 11;
    pub const IMPORTS: u8 = 13;
    pub const PROVISIONS: u8 = 14;
    pub const EXPORTS: u8 = 15;
    pub const ENVIRONMENT_VERSIONS: u8 = 16;
    /// The imports a worker has something to do for (keys only).
    pub const RUNNABLE: u8 = 17;
    /// Counts over every import (one row).
    pub const TALLIES: u8 = 18;
}

/// Why the projection store failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// sled failed (I/O, or damage it detected).
    #[error("the projection store failed: {}", describe(.0))]
    Sled(#[from] sled::Error),
    /// Another process has the store open (it holds its lock).
    #[error("another process has the projections in {0} open; stop it first")]
    Locked(String),
    /// A row does not decode: damage sled did not catch, or another build's layout.
    #[error("the projection store holds a row that does not decode: {0}")]
    Undecodable(String),
}

/// Which history the saved rows reflect.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    /// [`FORMAT`] when saved.
    pub format: u32,
    /// The hash of the log's first record: a store of another data directory's log differs.
    pub origin: Digest,
    /// The last position folded into the rows.
    pub position: u64,
    /// The hash of the record at `position`.
    pub hash: Digest,
    /// The directory stream's version at `position`.
    pub directory_version: u64,
}

/// The persisted projections of one data directory.
pub struct Projections {
    tree: sled::Tree,
    // Kept open as long as the tree is used.
    _db: sled::Db,
}

impl Projections {
    /// Opens (or creates) the store in the folder `path`. A store closed a moment ago frees
    /// its lock shortly after; see [`crate::sled_open`].
    pub fn open(path: &Path) -> Result<Projections, Error> {
        let config = sled::Config::new().cache_capacity(64 << 20);
        let db = crate::sled_open::open(config, path).map_err(|e| {
            if crate::sled_open::is_locked(&e) {
                Error::Locked(path.display().to_string())
            } else {
                Error::Sled(e)
            }
        })?;
        let tree = db.open_tree("projections")?;
        Ok(Projections { tree, _db: db })
    }

    /// The stamp of the last save; None when nothing was saved (or it does not decode).
    pub fn stamp(&self) -> Result<Option<Stamp>, Error> {
        Ok(self
            .tree
            .get([STAMP])?
            .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
    }

    /// Drops every row and the stamp.
    pub fn clear(&self) -> Result<(), Error> {
        self.tree.clear()?;
        Ok(())
    }

    /// A new save into this store; see [`Save`].
    pub(crate) fn save(&self) -> Save<'_> {
        self.save_in_batches_of(BATCH_BYTES)
    }

    fn save_in_batches_of(&self, limit: usize) -> Save<'_> {
        Save {
            tree: &self.tree,
            batch: sled::Batch::default(),
            bytes: 0,
            limit,
            split: false,
        }
    }

    /// Forgets the stamp: the rows are no longer known to match any history, so the next
    /// open rebuilds them (after a save that could not be completed).
    pub(crate) fn invalidate(&self) -> Result<(), Error> {
        self.tree.remove([STAMP])?;
        Ok(())
    }

    /// The tree the tables load from.
    pub(crate) fn tree(&self) -> &sled::Tree {
        &self.tree
    }
}

/// A sled error in a sentence (its own display carries a debug dump of where it was found).
fn describe(error: &sled::Error) -> String {
    match error {
        sled::Error::Io(e) => e.to_string(),
        sled::Error::Corruption { .. } => "its files are damaged".into(),
        sled::Error::Unsupported(what) => format!("unsupported: {what}"),
        sled::Error::ReportableBug(what) => format!("sled failed: {what}"),
        sled::Error::CollectionNotFound(_) => "a tree is missing".into(),
    }
}

/// One save's rows on their way to sled. A save that fits in one batch is that batch with the
/// new stamp: atomic. A larger one is split; its first batch also removes the stamp and its
/// last one writes the new stamp, so a crash in between leaves a store without a stamp,
/// which the next open rebuilds, never rows of one save under the stamp of another.
pub(crate) struct Save<'a> {
    tree: &'a sled::Tree,
    batch: sled::Batch,
    bytes: usize,
    limit: usize,
    split: bool,
}

impl Save<'_> {
    /// Sets the row `key`.
    pub(crate) fn put(&mut self, key: Vec<u8>, value: Vec<u8>) -> Result<(), Error> {
        self.bytes += key.len() + value.len();
        self.batch.insert(key, value);
        if self.bytes >= self.limit {
            self.apply()?;
        }
        Ok(())
    }

    /// Removes the row `key`.
    pub(crate) fn delete(&mut self, key: Vec<u8>) {
        self.bytes += key.len();
        self.batch.remove(key);
    }

    fn apply(&mut self) -> Result<(), Error> {
        let mut batch = std::mem::take(&mut self.batch);
        if !self.split {
            batch.remove(&[STAMP]);
            self.split = true;
        }
        self.tree.apply_batch(batch)?;
        self.bytes = 0;
        Ok(())
    }

    /// Writes what is left with `stamp`.
    pub(crate) fn finish(mut self, stamp: &Stamp) -> Result<(), Error> {
        self.batch.insert(&[STAMP], encode(stamp)?);
        self.tree.apply_batch(std::mem::take(&mut self.batch))?;
        Ok(())
    }
}

pub(crate) fn key<K: Serialize>(prefix: u8, key: &K) -> Result<Vec<u8>, Error> {
    let mut bytes = vec![prefix];
    serde_json::to_writer(&mut bytes, key).map_err(|e| Error::Undecodable(e.to_string()))?;
    Ok(bytes)
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(value).map_err(|e| Error::Undecodable(e.to_string()))
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|e| Error::Undecodable(e.to_string()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests: a panic is a failed test.

    use super::*;

    /// A stamp for tests (of the tables too).
    pub(super) fn stamp(position: u64) -> Stamp {
        Stamp {
            format: FORMAT,
            origin: Digest::of(b"first"),
            position,
            hash: Digest::of(&position.to_le_bytes()),
            directory_version: 1,
        }
    }

    #[test]
    fn a_save_split_over_several_batches_has_no_stamp_until_its_last() {
        let dir = tempfile::tempdir().unwrap();
        let store = Projections::open(dir.path()).unwrap();
        let mut save = store.save();
        save.put(key(1, &"a").unwrap(), b"1".to_vec()).unwrap();
        save.finish(&stamp(1)).unwrap();
        assert_eq!(store.stamp().unwrap(), Some(stamp(1)));

        // A large save cut short (the process killed between its batches).
        let mut save = store.save_in_batches_of(64);
        for i in 0..10 {
            save.put(key(1, &i).unwrap(), vec![b'x'; 40]).unwrap();
        }
        drop(save);
        assert_eq!(
            store.stamp().unwrap(),
            None,
            "rows of a later save, no stamp"
        );

        // The same save carried through.
        let mut save = store.save_in_batches_of(64);
        for i in 0..10 {
            save.put(key(1, &i).unwrap(), vec![b'y'; 40]).unwrap();
        }
        save.finish(&stamp(2)).unwrap();
        assert_eq!(store.stamp().unwrap(), Some(stamp(2)));
        assert_eq!(store.tree().scan_prefix([1]).count(), 11);
    }

    #[test]
    fn a_store_open_elsewhere_is_refused_not_reset() {
        let dir = tempfile::tempdir().unwrap();
        let _held = Projections::open(dir.path()).unwrap();
        assert!(matches!(
            Projections::open(dir.path()),
            Err(Error::Locked(_))
        ));
    }

    #[test]
    fn a_save_that_fits_one_batch_replaces_the_stamp_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let store = Projections::open(dir.path()).unwrap();
        let mut save = store.save();
        save.put(key(1, &"a").unwrap(), b"1".to_vec()).unwrap();
        save.finish(&stamp(1)).unwrap();
        let mut save = store.save();
        save.put(key(1, &"b").unwrap(), b"2".to_vec()).unwrap();
        drop(save);
        assert_eq!(
            store.stamp().unwrap(),
            Some(stamp(1)),
            "nothing of it applied"
        );
        assert_eq!(store.tree().scan_prefix([1]).count(), 1);
    }
}
