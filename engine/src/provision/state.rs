//! A provisioning run as a fold of its stream, and each target's outcome read from its import.

use std::collections::BTreeMap;

use ferry_schemas::event::Event;
use ferry_schemas::provision::{ProvisionRequested, WaveFinished};
use ferry_schemas::{MigrationId, ProvisionId};

use crate::migration::{Import, Outcome as StepOutcome, Phase};

/// A provisioning run.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Provision {
    /// What was asked.
    pub request: ProvisionRequested,
    /// Targets that could not be imported: index → (code, message).
    pub skipped: BTreeMap<u32, (String, String)>,
    /// Waves finished so far.
    pub waves: Vec<WaveFinished>,
}

impl Provision {
    /// Folds one event of the run's stream in (the first must be `ProvisionRequested`).
    pub fn apply(this: &mut Option<Provision>, event: &Event) {
        match (this.as_mut(), event) {
            (None, Event::ProvisionRequested(e)) => {
                *this = Some(Provision {
                    request: e.clone(),
                    skipped: BTreeMap::new(),
                    waves: Vec::new(),
                });
            }
            (Some(p), Event::TargetSkipped(e)) => {
                p.skipped
                    .insert(e.index, (e.code.clone(), e.message.clone()));
            }
            // A wave run again (a resumed run) replaces what it found before.
            (Some(p), Event::WaveFinished(e)) => {
                p.waves.retain(|w| w.wave != e.wave);
                p.waves.push(e.clone());
                p.waves.sort_by_key(|w| w.wave);
            }
            _ => {}
        }
    }

    /// The run's id.
    pub fn id(&self) -> ProvisionId {
        self.request.provision
    }

    /// Whether a wave stopped the run.
    pub fn stopped(&self) -> Option<&WaveFinished> {
        self.waves.iter().find(|w| w.stopped)
    }

    /// The target index ranges of each wave.
    pub fn waves(&self) -> Vec<std::ops::Range<u32>> {
        waves(&self.request.waves, self.request.target_count)
    }
}

/// Splits `count` targets into waves of the given sizes, the last taking the rest.
pub fn waves(sizes: &[u32], count: u32) -> Vec<std::ops::Range<u32>> {
    let mut ranges = Vec::new();
    let mut start = 0;
    for size in sizes {
        if start >= count {
            break;
        }
        let end = start.saturating_add(*size).min(count);
        ranges.push(start..end);
        start = end;
    }
    if start < count {
        ranges.push(start..count);
    }
    ranges
}

/// The import of target `index` of run `provision`: derived, so it is the same after a crash.
pub fn migration_of(provision: ProvisionId, index: u32) -> MigrationId {
    let mut seed = provision.as_uuid().as_bytes().to_vec();
    seed.extend_from_slice(&index.to_be_bytes());
    MigrationId::derived(&seed)
}

/// Where one target stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetOutcome {
    /// Not queued yet.
    Pending,
    /// Its import runs.
    Running,
    /// Imported; no item failed.
    Done,
    /// Failed: a failed item, a failed import, or skipped.
    Failed {
        /// Stable reason.
        code: String,
        /// What to do.
        message: String,
    },
    /// Items still need input after the rules.
    Blocked {
        /// Which and why.
        reason: String,
    },
}

impl TargetOutcome {
    /// A word for tables and `--json`.
    pub fn word(&self) -> &'static str {
        match self {
            TargetOutcome::Pending => "pending",
            TargetOutcome::Running => "running",
            TargetOutcome::Done => "done",
            TargetOutcome::Failed { .. } => "failed",
            TargetOutcome::Blocked { .. } => "blocked",
        }
    }

    /// Whether the target is settled (done, failed or blocked).
    pub fn settled(&self) -> bool {
        !matches!(self, TargetOutcome::Pending | TargetOutcome::Running)
    }
}

/// Target `index`'s outcome, from the run and its import.
pub fn outcome(provision: &Provision, index: u32, import: Option<&Import>) -> TargetOutcome {
    let Some(import) = import else {
        return match provision.skipped.get(&index) {
            Some((code, message)) => TargetOutcome::Failed {
                code: code.clone(),
                message: message.clone(),
            },
            None => TargetOutcome::Pending,
        };
    };
    match &import.phase {
        Phase::New | Phase::Running | Phase::RollingBack => TargetOutcome::Running,
        Phase::Review => {
            let pending: Vec<String> = import
                .pending()
                .iter()
                .map(|i| format!("{} {:?}", i.review.kind, i.review.display_name))
                .collect();
            TargetOutcome::Blocked {
                reason: format!("needs input: {}", pending.join(", ")),
            }
        }
        Phase::Failed { code, message } => TargetOutcome::Failed {
            code: code.clone(),
            message: message.clone(),
        },
        Phase::Cancelled => TargetOutcome::Failed {
            code: "cancelled".into(),
            message: match import.cancelled.as_deref() {
                Some(reason) if !reason.is_empty() => format!("its import was cancelled: {reason}"),
                _ => "its import was cancelled".into(),
            },
        },
        Phase::Completed => {
            let failed = import.items.iter().find_map(|i| match &i.outcome {
                Some(StepOutcome::Failed { code, message }) => {
                    Some((code.clone(), message.clone()))
                }
                _ => None,
            });
            match failed {
                Some((code, message)) => TargetOutcome::Failed { code, message },
                None => TargetOutcome::Done,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waves_cover_every_target_once_in_order() {
        assert_eq!(waves(&[10, 100], 250), vec![0..10, 10..110, 110..250]);
        assert_eq!(waves(&[10, 100], 5), vec![0..5]);
        assert_eq!(waves(&[], 3), vec![0..3]);
        assert_eq!(waves(&[2, 2], 4), vec![0..2, 2..4]);
    }

    #[test]
    fn a_target_always_gets_the_same_import() {
        let run = ProvisionId::new();
        assert_eq!(migration_of(run, 7), migration_of(run, 7));
        assert_ne!(migration_of(run, 7), migration_of(run, 8));
        assert_ne!(migration_of(run, 7), migration_of(ProvisionId::new(), 7));
    }
}
