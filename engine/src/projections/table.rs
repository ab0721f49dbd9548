//! A map that remembers which of its rows changed since it was last saved.

use std::collections::{BTreeMap, BTreeSet};

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Rows by key, read as a `BTreeMap` (it derefs to one); every change goes through a method
/// that marks its row, so saving writes only what changed.
#[derive(Clone, Debug)]
pub struct Table<K, V> {
    rows: BTreeMap<K, V>,
    changed: BTreeSet<K>,
}

impl<K, V> Default for Table<K, V> {
    fn default() -> Self {
        Table {
            rows: BTreeMap::new(),
            changed: BTreeSet::new(),
        }
    }
}

/// Equal when the rows are: what is still to be saved is not part of the state.
impl<K: PartialEq, V: PartialEq> PartialEq for Table<K, V> {
    fn eq(&self, other: &Self) -> bool {
        self.rows == other.rows
    }
}

impl<K: Eq, V: Eq> Eq for Table<K, V> {}

impl<K, V> std::ops::Deref for Table<K, V> {
    type Target = BTreeMap<K, V>;

    fn deref(&self) -> &BTreeMap<K, V> {
        &self.rows
    }
}

impl<K: Ord + Clone, V> Table<K, V> {
    /// Sets the row `key`.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        self.changed.insert(key.clone());
        self.rows.insert(key, value)
    }

    /// Removes the row `key`.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        let removed = self.rows.remove(key);
        if removed.is_some() {
            self.changed.insert(key.clone());
        }
        removed
    }

    /// The row `key`, to change.
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let row = self.rows.get_mut(key)?;
        self.changed.insert(key.clone());
        Some(row)
    }

    /// The row `key`, made empty if there was none, to change.
    pub fn or_default(&mut self, key: K) -> &mut V
    where
        V: Default,
    {
        self.changed.insert(key.clone());
        self.rows.entry(key).or_default()
    }

    /// Puts every row changed since the last save (or its removal) into `save`, under
    /// `prefix`, and forgets that they changed.
    pub(crate) fn save(
        &mut self,
        prefix: u8,
        save: &mut super::Save<'_>,
    ) -> Result<(), super::Error>
    where
        K: Serialize,
        V: Serialize,
    {
        for key in std::mem::take(&mut self.changed) {
            let stored = super::key(prefix, &key)?;
            match self.rows.get(&key) {
                Some(row) => save.put(stored, super::encode(row)?)?,
                None => save.delete(stored),
            }
        }
        Ok(())
    }

    /// Every row saved under `prefix` in `tree`, each made whole by `restore` (for what is
    /// not saved, such as an index of a row's own contents).
    pub(crate) fn load(
        tree: &sled::Tree,
        prefix: u8,
        restore: impl Fn(&mut V),
    ) -> Result<Table<K, V>, super::Error>
    where
        K: DeserializeOwned,
        V: DeserializeOwned,
    {
        let mut rows = BTreeMap::new();
        for entry in tree.scan_prefix([prefix]) {
            let (key, value) = entry?;
            let key: K = super::decode(&key[1..])?;
            let mut row: V = super::decode(&value)?;
            restore(&mut row);
            rows.insert(key, row);
        }
        Ok(Table {
            rows,
            changed: BTreeSet::new(),
        })
    }
}
