//! Provisioning: one package into many target environments, in waves, as events on the run's
//! own stream. The targets and the answer template are stored as blobs (content-addressed) and
//! named by digest, so the run's id — derived from the package, targets, template and options
//! — is the same each time the same command is run, and running it again continues it.
//! Each target's import has an id derived from the run's id and the target's index: a target
//! is never imported twice, whatever crashes in between.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Digest, PrincipalId, ProvisionId};

/// An operator (or a tenant user) asked to provision a package into many targets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProvisionRequested {
    /// The run.
    pub provision: ProvisionId,
    /// The stored package.
    pub package: Digest,
    /// The package's display name.
    pub package_name: String,
    /// The stored targets file (CSV).
    pub targets: Digest,
    /// How many targets it lists.
    pub target_count: u32,
    /// The stored answer template (TOML), if any.
    pub template: Option<Digest>,
    /// Wave sizes, in order; the last wave takes every target left.
    pub waves: Vec<u32>,
    /// The failure rate (failed or blocked targets of a wave, in per mille) above which the
    /// run stops after that wave.
    pub max_failure_permille: u32,
    /// Create missing tenants and environments.
    pub create_envs: bool,
    /// Targets imported at once.
    pub concurrency: u32,
    /// The user the imports act for (None: the operator).
    pub importer: Option<PrincipalId>,
    /// When.
    pub requested_at: DateTime<Utc>,
}

/// A target could not even be imported (its environment is missing, the user may not import
/// there); the others go on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TargetSkipped {
    /// The target's index in the targets file (0-based, header excluded).
    pub index: u32,
    /// Stable reason, e.g. `no-environment`, `permission-denied`.
    pub code: String,
    /// What to do.
    pub message: String,
}

/// A wave ended; the counts decide whether the run goes on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WaveFinished {
    /// The wave (0-based).
    pub wave: u32,
    /// Targets in it.
    pub targets: u32,
    /// Imported without a failed item.
    pub done: u32,
    /// Failed (a failed item, a skipped target).
    pub failed: u32,
    /// Blocked: items still need input after the template's rules.
    pub blocked: u32,
    /// Whether the failure rate stopped the run here.
    pub stopped: bool,
}
