//! `provision publish`: the drafts a provisioning run's updates made, published target by
//! target. Resumable: a target whose drafts are live already (or were replaced since by
//! someone else's) has nothing left to publish and is skipped, so running it again after a
//! stop publishes only the rest.

use ferry_schemas::environment::Change;
use ferry_schemas::{MigrationId, ProvisionId, ResourceId};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::views::Published;
use super::{Caller, Ferry, Result};
use crate::migration::Outcome;
use crate::provision::migration_of;

/// What `provision publish` did for one target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TargetPublished {
    /// The target's row in the targets file, from 1.
    pub index: u32,
    /// Its import.
    pub migration: MigrationId,
    /// `published`, `nothing to publish` (no draft of its import is waiting), or `failed`.
    pub outcome: String,
    /// What it made live.
    pub published: Vec<Published>,
    /// Why it failed (stable), if it did.
    pub error_code: Option<String>,
    /// What went wrong and what to do.
    pub message: Option<String>,
}

/// What `provision publish` did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProvisionPublished {
    /// The run.
    pub provision: ProvisionId,
    /// Every target, in order.
    pub targets: Vec<TargetPublished>,
}

impl ProvisionPublished {
    /// Whether a target failed.
    pub fn failed(&self) -> bool {
        self.targets.iter().any(|t| t.outcome == "failed")
    }
}

impl Ferry {
    /// `provision publish <run>`: for whoever may see the run, each target's waiting drafts
    /// (those its import saved and nobody replaced since) made live, with the publish rights
    /// checked per resource as `ferry publish` does.
    pub fn publish_provision(
        &self,
        caller: &Caller,
        id: ProvisionId,
    ) -> Result<ProvisionPublished> {
        let waiting: Vec<(u32, MigrationId, Vec<ResourceId>)> = self.world(|w| {
            let run = w
                .provisions
                .get(&id)
                .filter(|p| super::provision::may_see(*caller, &p.request))
                .ok_or_else(|| super::provision::no_run(id))?;
            Ok::<_, super::Error>(
                (0..run.request.target_count)
                    .map(|index| {
                        let migration = migration_of(id, index);
                        let drafts = w
                            .imports
                            .get(&migration)
                            .map(|import| {
                                import
                                    .items
                                    .iter()
                                    .filter_map(|item| match &item.outcome {
                                        Some(Outcome::Applied {
                                            change: Some(Change::DraftSaved(d)),
                                            ..
                                        }) => w
                                            .contents
                                            .get(d.resource)
                                            .filter(|r| r.draft.as_ref() == Some(&d.draft))
                                            .map(|r| r.id),
                                        _ => None,
                                    })
                                    .collect()
                            })
                            .unwrap_or_default();
                        (index, migration, drafts)
                    })
                    .collect(),
            )
        })??;
        let targets = waiting
            .into_iter()
            .map(|(index, migration, drafts)| {
                let mut target = TargetPublished {
                    index: index + 1,
                    migration,
                    outcome: "nothing to publish".into(),
                    published: Vec::new(),
                    error_code: None,
                    message: None,
                };
                for resource in drafts {
                    match self.publish_resource(caller, resource) {
                        Ok(published) => {
                            target.outcome = "published".into();
                            target.published.push(published);
                        }
                        Err(e) => {
                            target.outcome = "failed".into();
                            target.error_code = Some(e.code.to_string());
                            target.message = Some(e.message);
                            break;
                        }
                    }
                }
                target
            })
            .collect();
        Ok(ProvisionPublished {
            provision: id,
            targets,
        })
    }
}
