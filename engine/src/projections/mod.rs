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

use std::path::Path;

use ferry_schemas::Digest;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The layout's version: a store of another is rebuilt.
pub const FORMAT: u32 = 1;

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
    pub const RESOURCES: u8 = 10;
    pub const BY_ENVIRONMENT: u8 = 11;
    pub const IDENTITY: u8 = 12;
    pub const IMPORTS: u8 = 13;
    pub const PROVISIONS: u8 = 14;
    pub const EXPORTS: u8 = 15;
    pub const ENVIRONMENT_VERSIONS: u8 = 16;
}

/// Why the projection store failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// sled failed (I/O, or damage it detected).
    #[error("the projection store failed: {}", describe(.0))]
    Sled(#[from] sled::Error),
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
    /// Opens (or creates) the store in the folder `path`.
    pub fn open(path: &Path) -> Result<Projections, Error> {
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(64 << 20)
            .open()?;
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

    /// Applies one save: `batch` (the rows) with `stamp`, atomically.
    pub(crate) fn write(&self, mut batch: sled::Batch, stamp: &Stamp) -> Result<(), Error> {
        batch.insert(&[STAMP], encode(stamp)?);
        self.tree.apply_batch(batch)?;
        Ok(())
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
