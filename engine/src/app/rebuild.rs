//! `ferry rebuild` (operator): the saved projections dropped and folded anew from the log.

use std::sync::PoisonError;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::directory::operator;
use super::{Caller, Error, Ferry, Result};
use crate::data_dir::DataDir;
use crate::projections::Projections;
use crate::world::World;

/// What a rebuild did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Rebuilt {
    /// Records folded: the whole log.
    pub records: u64,
    /// How long it took.
    pub seconds: f64,
}

impl Ferry {
    /// Drops the saved projections and folds the whole log into new ones (what opening does
    /// by itself when they do not match the log; an operator may want it after a restore, or
    /// to measure). `progress` hears `(folded, head)` after each batch.
    pub fn rebuild(&self, caller: &Caller, progress: &mut dyn FnMut(u64, u64)) -> Result<Rebuilt> {
        operator(caller, "rebuild the projections")?;
        let slot = self
            .inner
            .executor
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // An executor of this process holds the store open (and would save over the new one):
        // rebuild only where none was built (the CLI's `ferry rebuild`).
        if slot.is_some() {
            return Err(Error::new(
                super::Kind::Conflict,
                "projections-in-use",
                "the projections are in use in this process; rebuild from a process of its own",
            ));
        }
        let dir = &self.inner.dir;
        let folder = dir.path().join(DataDir::PROJECTIONS);
        match std::fs::remove_dir_all(&folder) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Error::internal(format!(
                    "cannot remove the projections in {}: {e}",
                    folder.display()
                )))
            }
        }
        let projections =
            Projections::open(&folder).map_err(|e| crate::executor::Error::World(e.into()))?;
        let store = dir.store();
        let head = store.head()?.position;
        let started = std::time::Instant::now();
        let world = World::rebuild(
            store.as_ref(),
            &projections,
            crate::executor::SAVE_EVERY_RECORDS,
            crate::executor::KEEP_ROWS,
            &mut |folded| progress(folded, head),
        )
        .map_err(crate::executor::Error::from)?;
        Ok(Rebuilt {
            records: world.position(),
            seconds: started.elapsed().as_secs_f64(),
        })
    }
}
