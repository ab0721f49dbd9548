//! A table of the projections: rows by key, in memory as far as they were needed, the rest in
//! the projection store.
//!
//! A table restored from the store starts empty in memory. A change (the fold) reads the row
//! it changes from the store first; a reader that asks for a row that is not in memory, or for
//! every row, gets what memory has and the table remembers the miss — the executor then loads
//! what was missed and asks again ([`Table::load_missed`]), so a read is answered from the rows
//! it needs, never from a partial table. Rows that are saved and unchanged can be dropped from
//! memory ([`Table::trim`]): memory holds what is in use, not the whole history.
//!
//! Two reads of several rows need not load every row: a key's group ([`Table::group`]: the
//! rows whose tuple key starts with the same part — a tenant's environments) and a page
//! ([`Table::page`]: so many rows after a key, for keys whose stored form sorts as they do).

use std::collections::{btree_map, BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::{Mutex, PoisonError};

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Rows by key; every change goes through a method that marks its row, so saving writes only
/// what changed.
#[derive(Debug)]
pub struct Table<K, V> {
    rows: BTreeMap<K, V>,
    changed: BTreeSet<K>,
    /// Where the rows that are not in memory are; None: every row is in memory.
    stored: Option<Stored<K, V>>,
    /// A row could not be read from the store during a change: the fold must stop.
    failed: Option<super::Error>,
}

/// The part of a table kept in the projection store.
struct Stored<K, V> {
    tree: sled::Tree,
    prefix: u8,
    /// Makes a row read from the store whole (an index of its own contents, not saved).
    restore: fn(&mut V),
    /// Every stored row is in memory.
    whole: bool,
    /// Keys looked up in the store that have no row there.
    absent: BTreeSet<K>,
    /// Groups whose every stored row is in memory (by their stored prefix).
    groups: BTreeSet<Vec<u8>>,
    /// Pages loaded: (after, how many rows memory holds all of from there on).
    pages: Vec<(Option<K>, usize)>,
    /// What readers asked for that memory did not have.
    missed: Mutex<Missed<K>>,
}

struct Missed<K> {
    keys: BTreeSet<K>,
    groups: BTreeSet<Vec<u8>>,
    pages: Vec<(Option<K>, usize)>,
    every: bool,
}

impl<K> Default for Missed<K> {
    fn default() -> Self {
        Missed {
            keys: BTreeSet::new(),
            groups: BTreeSet::new(),
            pages: Vec::new(),
            every: false,
        }
    }
}

/// A key made of parts whose first part names a group of rows (a tuple: stored as a JSON
/// array, so one group's rows are one run of the store's keys, `[<first part>,…`).
pub trait Grouped {
    /// The first part.
    type Group: Serialize + PartialEq;
    /// This key's first part.
    fn group(&self) -> &Self::Group;
}

impl<A: Serialize + PartialEq, B> Grouped for (A, B) {
    type Group = A;
    fn group(&self) -> &A {
        &self.0
    }
}

impl<A: Serialize + PartialEq, B, C> Grouped for (A, B, C) {
    type Group = A;
    fn group(&self) -> &A {
        &self.0
    }
}

impl<K: std::fmt::Debug, V> std::fmt::Debug for Stored<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stored")
            .field("prefix", &self.prefix)
            .field("whole", &self.whole)
            .finish_non_exhaustive()
    }
}

impl<K: Clone + Ord, V> Clone for Stored<K, V> {
    fn clone(&self) -> Self {
        Stored {
            tree: self.tree.clone(),
            prefix: self.prefix,
            restore: self.restore,
            whole: self.whole,
            absent: self.absent.clone(),
            groups: self.groups.clone(),
            pages: self.pages.clone(),
            missed: Mutex::new(Missed::default()),
        }
    }
}

/// A copy is of every row: cloning a table that memory holds part of is a read of every row
/// (the read that clones is asked again once they are loaded).
impl<K: Clone + Ord, V: Clone> Clone for Table<K, V> {
    fn clone(&self) -> Self {
        if !self.is_whole() {
            self.miss(None);
        }
        Table {
            rows: self.rows.clone(),
            changed: self.changed.clone(),
            stored: self.stored.clone(),
            failed: None,
        }
    }
}

impl<K, V> Default for Table<K, V> {
    fn default() -> Self {
        Table {
            rows: BTreeMap::new(),
            changed: BTreeSet::new(),
            stored: None,
            failed: None,
        }
    }
}

/// Equal when the rows in memory are (compare tables made whole: [`Table::load_all`]); what is
/// still to be saved is not part of the state.
impl<K: PartialEq, V: PartialEq> PartialEq for Table<K, V> {
    fn eq(&self, other: &Self) -> bool {
        self.rows == other.rows
    }
}

impl<K: Eq, V: Eq> Eq for Table<K, V> {}

impl<K: Ord + Clone, V> Table<K, V> {
    /// Whether memory holds every row.
    fn is_whole(&self) -> bool {
        self.stored.as_ref().is_none_or(|s| s.whole)
    }

    /// Whether the row `key` is known not to exist: looked up in the store and not there, or
    /// removed here (and not saved yet: the store still has it).
    fn known_absent(&self, key: &K) -> bool {
        (self.changed.contains(key) && !self.rows.contains_key(key))
            || self.stored.as_ref().is_some_and(|s| s.absent.contains(key))
    }

    fn miss(&self, key: Option<&K>) {
        let Some(stored) = &self.stored else { return };
        if stored.whole {
            return;
        }
        let mut missed = lock(&stored.missed);
        match key {
            Some(key) if !self.known_absent(key) => {
                missed.keys.insert(key.clone());
            }
            Some(_) => {}
            None => missed.every = true,
        }
    }

    /// The row `key`.
    pub fn get(&self, key: &K) -> Option<&V> {
        let row = self.rows.get(key);
        if row.is_none() {
            self.miss(Some(key));
        }
        row
    }

    /// Whether there is a row `key`.
    pub fn contains_key(&self, key: &K) -> bool {
        self.get(key).is_some()
    }

    /// Every row in memory, in key order (all of them once a reader's miss was loaded).
    fn every(&self) -> &BTreeMap<K, V> {
        if !self.is_whole() {
            self.miss(None);
        }
        &self.rows
    }

    /// Every row, in key order.
    pub fn iter(&self) -> btree_map::Iter<'_, K, V> {
        self.every().iter()
    }

    /// Every row's value, in key order.
    pub fn values(&self) -> btree_map::Values<'_, K, V> {
        self.every().values()
    }

    /// Every key, in order.
    pub fn keys(&self) -> btree_map::Keys<'_, K, V> {
        self.every().keys()
    }

    /// The rows whose keys are in `range`.
    pub fn range<R: std::ops::RangeBounds<K>>(&self, range: R) -> btree_map::Range<'_, K, V> {
        self.every().range(range)
    }

    /// The rows of `first`'s group from `first` on, in key order (`first` is the group's
    /// smallest key): only that group is loaded for it, not the table.
    pub fn group<'a>(&'a self, first: &'a K) -> impl Iterator<Item = (&'a K, &'a V)> + 'a
    where
        K: Grouped,
    {
        if let Some(stored) = self.stored.as_ref().filter(|s| !s.whole) {
            match group_prefix(stored.prefix, first.group()) {
                Ok(prefix) if stored.groups.contains(&prefix) => {}
                Ok(prefix) => {
                    lock(&stored.missed).groups.insert(prefix);
                }
                Err(_) => self.miss(None),
            }
        }
        self.rows
            .range(first..)
            .take_while(move |(key, _)| key.group() == first.group())
    }

    /// At most `limit` rows after `after` (from the first when None), in key order: only
    /// those are loaded for it. For keys whose stored form sorts as they do (names).
    pub fn page<'a>(
        &'a self,
        after: Option<&'a K>,
        limit: usize,
    ) -> impl Iterator<Item = (&'a K, &'a V)> + 'a {
        if let Some(stored) = self.stored.as_ref().filter(|s| !s.whole) {
            let loaded = stored
                .pages
                .iter()
                .any(|(from, rows)| from.as_ref() == after && *rows >= limit);
            if !loaded {
                lock(&stored.missed).pages.push((after.cloned(), limit));
            }
        }
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        self.rows.range((from, Bound::Unbounded)).take(limit)
    }

    /// How many rows there are.
    pub fn len(&self) -> usize {
        self.every().len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.every().is_empty()
    }

    /// Sets the row `key` (whatever it was: nothing is read back to replace it).
    pub fn insert(&mut self, key: K, value: V) {
        if let Some(stored) = &mut self.stored {
            stored.absent.remove(&key);
        }
        self.changed.insert(key.clone());
        self.rows.insert(key, value);
    }

    /// Removes the row `key`.
    pub fn remove(&mut self, key: &K) -> Option<V>
    where
        K: DeserializeOwned + Serialize,
        V: DeserializeOwned,
    {
        let earlier = self.take_stored(key);
        let removed = self.rows.remove(key).or(earlier);
        if removed.is_some() {
            self.changed.insert(key.clone());
        }
        removed
    }

    /// The row `key`, to change.
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V>
    where
        K: DeserializeOwned + Serialize,
        V: DeserializeOwned,
    {
        self.fetch(key);
        let row = self.rows.get_mut(key)?;
        self.changed.insert(key.clone());
        Some(row)
    }

    /// The row `key`, read from the store if memory does not have it (for a change that
    /// needs to look before it changes anything).
    pub fn read(&mut self, key: &K) -> Option<&V>
    where
        K: DeserializeOwned + Serialize,
        V: DeserializeOwned,
    {
        self.fetch(key);
        self.rows.get(key)
    }

    /// The row `key`, made empty if there was none, to change.
    pub fn or_default(&mut self, key: K) -> &mut V
    where
        K: DeserializeOwned + Serialize,
        V: DeserializeOwned + Default,
    {
        self.fetch(&key);
        if let Some(stored) = &mut self.stored {
            stored.absent.remove(&key);
        }
        self.changed.insert(key.clone());
        self.rows.entry(key).or_default()
    }

    /// Brings the stored row `key` into memory, if it is not there yet.
    fn fetch(&mut self, key: &K)
    where
        K: DeserializeOwned + Serialize,
        V: DeserializeOwned,
    {
        if !self.rows.contains_key(key) {
            if let Some(row) = self.take_stored(key) {
                self.rows.insert(key.clone(), row);
            }
        }
    }

    /// The stored row `key` when memory does not have it (a failure is kept for
    /// [`Table::take_failure`], and the row taken as absent).
    fn take_stored(&mut self, key: &K) -> Option<V>
    where
        K: DeserializeOwned + Serialize,
        V: DeserializeOwned,
    {
        if self.rows.contains_key(key) || self.is_whole() || self.known_absent(key) {
            return None;
        }
        let stored = self.stored.as_mut()?;
        match read(stored, key) {
            Ok(Some(row)) => Some(row),
            Ok(None) => {
                stored.absent.insert(key.clone());
                None
            }
            Err(e) => {
                self.failed.get_or_insert(e);
                None
            }
        }
    }

    /// A row that a change needed and that could not be read from the store.
    pub(crate) fn take_failure(&mut self) -> Option<super::Error> {
        self.failed.take()
    }

    /// Loads what readers missed since the last call; returns whether they missed anything.
    pub(crate) fn load_missed(&mut self) -> Result<bool, super::Error>
    where
        K: DeserializeOwned + Serialize,
        V: DeserializeOwned,
    {
        let Some(stored) = &mut self.stored else {
            return Ok(false);
        };
        let missed = std::mem::take(
            stored
                .missed
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner),
        );
        if stored.whole {
            return Ok(false);
        }
        if missed.every {
            self.load_all()?;
            return Ok(true);
        }
        let prefix = stored.prefix;
        for group in &missed.groups {
            self.load_run(group.clone(), group, None, usize::MAX)?;
        }
        for (after, limit) in &missed.pages {
            // Changed rows may be removals of stored ones: read that many more, so memory
            // holds `limit` rows after `after` whatever was removed.
            let rows = limit.saturating_add(self.changed.len());
            let start = match after {
                Some(key) => super::key(prefix, key)?,
                None => vec![prefix],
            };
            self.load_run(start, &[prefix], after.as_ref(), rows)?;
        }
        let Some(stored) = &mut self.stored else {
            return Ok(false);
        };
        stored.groups.extend(missed.groups.iter().cloned());
        stored.pages.extend(missed.pages.iter().cloned());
        for key in &missed.keys {
            let removed = self.changed.contains(key);
            if self.rows.contains_key(key) || removed || stored.absent.contains(key) {
                continue;
            }
            match read(stored, key)? {
                Some(row) => {
                    self.rows.insert(key.clone(), row);
                }
                None => {
                    stored.absent.insert(key.clone());
                }
            }
        }
        Ok(!missed.keys.is_empty() || !missed.groups.is_empty() || !missed.pages.is_empty())
    }

    /// Brings into memory at most `rows` stored rows from the stored key `start` on (past
    /// `after` itself) whose stored keys start with `within`. Memory stays the authority on
    /// the rows it changed.
    fn load_run(
        &mut self,
        start: Vec<u8>,
        within: &[u8],
        after: Option<&K>,
        rows: usize,
    ) -> Result<(), super::Error>
    where
        K: DeserializeOwned,
        V: DeserializeOwned,
    {
        let Some(stored) = &self.stored else {
            return Ok(());
        };
        let mut loaded = 0;
        for entry in stored.tree.range(start..) {
            let (key, value) = entry?;
            if loaded >= rows || !key.starts_with(within) {
                break;
            }
            let key: K = super::decode(&key[1..])?;
            if after == Some(&key) {
                continue;
            }
            loaded += 1;
            if self.rows.contains_key(&key) || self.changed.contains(&key) {
                continue;
            }
            let mut row: V = super::decode(&value)?;
            (stored.restore)(&mut row);
            self.rows.insert(key, row);
        }
        Ok(())
    }

    /// Brings every stored row into memory.
    pub(crate) fn load_all(&mut self) -> Result<(), super::Error>
    where
        K: DeserializeOwned,
        V: DeserializeOwned,
    {
        let Some(stored) = &mut self.stored else {
            return Ok(());
        };
        if stored.whole {
            return Ok(());
        }
        for entry in stored.tree.scan_prefix([stored.prefix]) {
            let (key, value) = entry?;
            let key: K = super::decode(&key[1..])?;
            if self.rows.contains_key(&key) || self.changed.contains(&key) {
                // Memory is newer (a change not saved yet, or a removal).
                continue;
            }
            let mut row: V = super::decode(&value)?;
            (stored.restore)(&mut row);
            self.rows.insert(key, row);
        }
        stored.whole = true;
        stored.absent.clear();
        stored.groups.clear();
        stored.pages.clear();
        Ok(())
    }

    /// Drops from memory the rows that are saved and unchanged once there are more than
    /// `keep` of them (none when the table has no store to read them back from).
    pub(crate) fn trim(&mut self, keep: usize) {
        let Some(stored) = &mut self.stored else {
            return;
        };
        // Changed rows stay whatever the bound: count only what could go, so a table full of
        // unsaved changes is not walked again at every read.
        if self.rows.len() <= keep.saturating_add(self.changed.len()) {
            return;
        }
        let changed = &self.changed;
        self.rows.retain(|key, _| changed.contains(key));
        stored.whole = false;
        stored.absent.clear();
        stored.groups.clear();
        stored.pages.clear();
    }

    /// Puts every row changed since the last save (or its removal) into `save`, under
    /// `prefix`. They stay changed until [`Table::saved`]: a save that fails part way leaves
    /// memory the authority on them.
    pub(crate) fn save(&self, prefix: u8, save: &mut super::Save<'_>) -> Result<(), super::Error>
    where
        K: Serialize,
        V: Serialize,
    {
        for key in &self.changed {
            let stored = super::key(prefix, key)?;
            match self.rows.get(key) {
                Some(row) => save.put(stored, super::encode(row)?)?,
                None => save.delete(stored),
            }
        }
        Ok(())
    }

    /// The save that [`Table::save`] went into is complete, in `tree`: nothing is changed any
    /// more, and rows memory drops are read back from there (made whole by `restore`).
    pub(crate) fn saved(&mut self, tree: &sled::Tree, prefix: u8, restore: fn(&mut V)) {
        self.changed.clear();
        if self.stored.is_none() {
            self.stored = Some(Stored {
                tree: tree.clone(),
                prefix,
                restore,
                whole: true,
                absent: BTreeSet::new(),
                groups: BTreeSet::new(),
                pages: Vec::new(),
                missed: Mutex::new(Missed::default()),
            });
        }
    }

    /// The rows saved under `prefix` in `tree`, read as they are needed; each made whole by
    /// `restore` when read.
    pub(crate) fn stored(tree: &sled::Tree, prefix: u8, restore: fn(&mut V)) -> Table<K, V> {
        Table {
            rows: BTreeMap::new(),
            changed: BTreeSet::new(),
            stored: Some(Stored {
                tree: tree.clone(),
                prefix,
                restore,
                whole: false,
                absent: BTreeSet::new(),
                groups: BTreeSet::new(),
                pages: Vec::new(),
                missed: Mutex::new(Missed::default()),
            }),
            failed: None,
        }
    }
}

/// The stored row `key`, if there is one.
fn read<K: Serialize, V: DeserializeOwned>(
    stored: &Stored<K, V>,
    key: &K,
) -> Result<Option<V>, super::Error> {
    let Some(bytes) = stored.tree.get(super::key(stored.prefix, key)?)? else {
        return Ok(None);
    };
    let mut row: V = super::decode(&bytes)?;
    (stored.restore)(&mut row);
    Ok(Some(row))
}

/// The stored keys of a group's rows start with this: the table's prefix, then the JSON
/// array's opening and first part.
fn group_prefix<G: Serialize>(prefix: u8, group: &G) -> Result<Vec<u8>, super::Error> {
    let mut bytes = vec![prefix, b'['];
    serde_json::to_writer(&mut bytes, group)
        .map_err(|e| super::Error::Undecodable(e.to_string()))?;
    bytes.push(b',');
    Ok(bytes)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A row that needs nothing made whole after reading.
pub(crate) fn as_is<V>(_: &mut V) {}

/// What the world does with every table alike, whatever its rows.
pub(crate) trait Part {
    /// See [`Table::load_missed`].
    fn load_missed(&mut self) -> Result<bool, super::Error>;
    /// See [`Table::load_all`].
    fn load_all(&mut self) -> Result<(), super::Error>;
    /// See [`Table::trim`].
    fn trim(&mut self, keep: usize);
    /// See [`Table::take_failure`].
    fn take_failure(&mut self) -> Option<super::Error>;
}

impl<K, V> Part for Table<K, V>
where
    K: Ord + Clone + Serialize + DeserializeOwned,
    V: DeserializeOwned,
{
    fn load_missed(&mut self) -> Result<bool, super::Error> {
        Table::load_missed(self)
    }
    fn load_all(&mut self) -> Result<(), super::Error> {
        Table::load_all(self)
    }
    fn trim(&mut self, keep: usize) {
        Table::trim(self, keep);
    }
    fn take_failure(&mut self) -> Option<super::Error> {
        Table::take_failure(self)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests: a panic is a failed test.

    use super::super::tests::stamp;
    use super::super::Projections;
    use super::*;

    fn save(table: &mut Table<u32, String>, store: &Projections, position: u64) {
        let mut batch = store.save();
        table.save(7, &mut batch).unwrap();
        batch.finish(&stamp(position)).unwrap();
        table.saved(store.tree(), 7, as_is);
    }

    fn rows(table: &Table<u32, String>) -> Vec<(u32, String)> {
        table.iter().map(|(k, v)| (*k, v.clone())).collect()
    }

    #[test]
    fn a_stored_table_answers_from_the_rows_it_reads_back_and_never_resurrects_a_removal() {
        let dir = tempfile::tempdir().unwrap();
        let store = Projections::open(dir.path()).unwrap();
        let mut written = Table::default();
        for i in 0..10 {
            written.insert(i, format!("row {i}"));
        }
        save(&mut written, &store, 1);

        // Restored: memory is empty; a reader misses, the miss is loaded, the reader is right.
        let mut table: Table<u32, String> = Table::stored(store.tree(), 7, as_is);
        assert_eq!(table.get(&3), None);
        assert_eq!(table.get(&42), None);
        assert!(table.load_missed().unwrap());
        assert_eq!(table.get(&3).map(String::as_str), Some("row 3"));
        // 42 is known absent now: asking again misses nothing.
        assert_eq!(table.get(&42), None);
        assert!(!table.load_missed().unwrap());
        // Asking for every row misses until every row is in.
        assert_eq!(table.len(), 1);
        assert!(table.load_missed().unwrap());
        assert_eq!(table.len(), 10);
        assert!(!table.load_missed().unwrap());

        // Changes read the row they change first, from the store when memory dropped it.
        table.trim(0);
        assert_eq!(table.get_mut(&5).map(|r| r.push('!')), Some(()));
        assert_eq!(table.remove(&6).as_deref(), Some("row 6"));
        table.insert(11, "row 11".into());
        table.trim(0);
        // The change and the insertion are kept in memory until saved; the removal is not
        // read back from the store, which still has the row.
        assert_eq!(table.get(&5).map(String::as_str), Some("row 5!"));
        assert_eq!(table.get(&6), None);
        assert!(!table.load_missed().unwrap(), "6 was removed here");
        let _ = table.len();
        assert!(table.load_missed().unwrap());
        let mut expected: Vec<(u32, String)> = (0..10)
            .filter(|i| *i != 6)
            .map(|i| (i, format!("row {i}")))
            .collect();
        expected[5].1.push('!');
        expected.push((11, "row 11".into()));
        assert_eq!(rows(&table), expected);

        // Saved, dropped from memory and read back: the same rows.
        save(&mut table, &store, 2);
        table.trim(0);
        let _ = table.len();
        table.load_missed().unwrap();
        assert_eq!(rows(&table), expected);
        let mut reopened: Table<u32, String> = Table::stored(store.tree(), 7, as_is);
        reopened.load_all().unwrap();
        assert_eq!(rows(&reopened), expected);
    }

    #[test]
    fn a_change_whose_row_cannot_be_read_back_is_a_failure_not_an_empty_row() {
        let dir = tempfile::tempdir().unwrap();
        let store = Projections::open(dir.path()).unwrap();
        store
            .tree()
            .insert(super::super::key(7, &1u32).unwrap(), b"not json".to_vec())
            .unwrap();
        let mut table: Table<u32, String> = Table::stored(store.tree(), 7, as_is);
        assert_eq!(table.get_mut(&1), None);
        assert!(table.take_failure().is_some());
        assert_eq!(table.get(&1), None);
        assert!(table.load_missed().is_err());
    }

    /// Asks `read` until it missed nothing, as the executor does.
    fn answer<K: Ord + Clone + Serialize + DeserializeOwned, V: DeserializeOwned, T>(
        table: &mut Table<K, V>,
        read: impl Fn(&Table<K, V>) -> T,
    ) -> T {
        for _ in 0..4 {
            let answer = read(table);
            if !table.load_missed().unwrap() {
                return answer;
            }
        }
        panic!("the read still misses after 4 rounds");
    }

    #[test]
    fn a_group_is_read_back_alone_and_with_the_changes_memory_holds() {
        let dir = tempfile::tempdir().unwrap();
        let store = Projections::open(dir.path()).unwrap();
        let mut written: Table<(u32, String), u32> = Table::default();
        for tenant in [1u32, 2, 10, 11] {
            for name in ["a", "ab", "b"] {
                written.insert((tenant, name.to_string()), tenant);
            }
        }
        let mut batch = store.save();
        written.save(3, &mut batch).unwrap();
        batch.finish(&stamp(1)).unwrap();

        let mut table: Table<(u32, String), u32> = Table::stored(store.tree(), 3, as_is);
        let names = |t: &Table<(u32, String), u32>, tenant: u32| -> Vec<String> {
            let first = (tenant, String::new());
            t.group(&first).map(|((_, n), _)| n.clone()).collect()
        };
        // Tenant 1's rows, not tenant 10's or 11's (whose stored keys start with "[1").
        assert_eq!(answer(&mut table, |t| names(t, 1)), ["a", "ab", "b"]);
        assert_eq!(table.rows.len(), 3, "only the group is loaded");
        assert_eq!(answer(&mut table, |t| names(t, 7)), Vec::<String>::new());

        // Memory's changes win over the store's rows; a trimmed group is read back.
        table.remove(&(1, "ab".into()));
        table.insert((1, "c".into()), 1);
        table.trim(0);
        assert_eq!(answer(&mut table, |t| names(t, 1)), ["a", "b", "c"]);
        assert_eq!(answer(&mut table, |t| names(t, 11)), ["a", "ab", "b"]);
    }

    #[test]
    fn a_page_holds_its_rows_after_removals_and_insertions_and_pages_meet_end_to_end() {
        let dir = tempfile::tempdir().unwrap();
        let store = Projections::open(dir.path()).unwrap();
        let mut written: Table<String, u32> = Table::default();
        let names: Vec<String> = (0..50).map(|i| format!("t{i:02}")).collect();
        for (i, name) in names.iter().enumerate() {
            written.insert(name.clone(), i as u32);
        }
        let mut batch = store.save();
        written.save(4, &mut batch).unwrap();
        batch.finish(&stamp(1)).unwrap();

        let mut table: Table<String, u32> = Table::stored(store.tree(), 4, as_is);
        let page = |t: &Table<String, u32>, after: Option<&String>| -> Vec<String> {
            t.page(after, 10).map(|(k, _)| k.clone()).collect()
        };
        assert_eq!(answer(&mut table, |t| page(t, None)), names[..10]);
        assert!(table.rows.len() < 20, "a page loads about a page");

        // Removed rows (not saved yet) are skipped and the page is still full.
        for name in &names[10..15] {
            table.remove(name);
        }
        table.insert("t11x".into(), 99);
        table.trim(0);
        let second = answer(&mut table, |t| page(t, Some(&names[9])));
        let mut expected: Vec<String> = vec!["t11x".into()];
        expected.extend(names[15..24].iter().cloned());
        assert_eq!(second, expected);

        // Paging to the end visits every row once, in order.
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            table.trim(0);
            let rows = answer(&mut table, |t| page(t, after.as_ref()));
            if rows.is_empty() {
                break;
            }
            after = rows.last().cloned();
            seen.extend(rows);
        }
        let mut all: Vec<String> = names[..10].to_vec();
        all.push("t11x".into());
        all.extend(names[15..].iter().cloned());
        assert_eq!(seen, all);
    }
}
