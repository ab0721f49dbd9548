//! Ending an import before its end: `cancel` (in review, or running: it stops at the next
//! step boundary; an atomic one undoes what it applied first) and `promote` (a dry run becomes
//! a real import with the same package, environment and answers).

use ferry_schemas::resource::Action;
use ferry_schemas::MigrationId;

use super::imports::{may_import, visible, ImportRequest};
use super::views::{ReviewView, StatusView};
use super::{Caller, Error, Ferry, Result};
use crate::migration;

impl Ferry {
    /// `cancel`: whoever may import into the environment may cancel an import there. Nothing
    /// is undone that is not the import's own (an atomic import rolls its steps back).
    pub fn cancel(&self, caller: &Caller, id: MigrationId, reason: &str) -> Result<StatusView> {
        self.cancel_as(caller, id, reason, None)?;
        self.status(caller, id)
    }

    fn cancel_as(
        &self,
        caller: &Caller,
        id: MigrationId,
        reason: &str,
        promoted_to: Option<MigrationId>,
    ) -> Result<()> {
        let reason = crate::untrusted::excerpt(reason.trim()).into_owned();
        let (version, event) = self.world(|w| {
            let import = visible(w, *caller, id)?;
            may_import(w, *caller, import.environment)?;
            let event = migration::cancel(import, &reason, promoted_to)?;
            Ok::<_, Error>((import.version, event))
        })??;
        self.executor()?
            .record(id, version, caller.actor(), &[event])?;
        Ok(())
    }

    /// `promote`: a dry run in review becomes a real import of the same package into the same
    /// environment with the same answers (recorded in review: start it as any other), and the
    /// dry run is cancelled, naming it. A retry returns the same import.
    pub fn promote(&self, caller: &Caller, id: MigrationId) -> Result<ReviewView> {
        let (digest, into, answers, promoted) = self.world(|w| {
            let import = visible(w, *caller, id)?;
            may_import(w, *caller, import.environment)?;
            if !import.dry_run {
                return Err(Error::invalid(
                    "not-a-dry-run",
                    format!("import {id} is not a dry run: start it (`ferry start {id}`)"),
                ));
            }
            let env = w
                .directory
                .environment_by_id(import.environment)
                .ok_or_else(|| Error::internal("the dry run's environment is gone"))?;
            let tenant = w
                .directory
                .tenant_by_id(env.tenant)
                .ok_or_else(|| Error::internal("the dry run's tenant is gone"))?;
            let into = super::Qualified {
                tenant: tenant.name.clone(),
                name: env.name.clone(),
            };
            let answers: Vec<(String, String)> = import
                .items
                .iter()
                .filter_map(|item| {
                    let answer = item.answer.as_ref()?;
                    let choice = match (answer.action, answer.target, &answer.name) {
                        (Action::New, _, Some(name)) => format!("new:{name}"),
                        (Action::New, _, None) => "new".to_owned(),
                        (Action::Update, Some(target), _) => format!("update:{target}"),
                        (_, Some(target), _) => format!("existing:{target}"),
                        _ => return None,
                    };
                    Some((item.review.manifest_key.clone(), choice))
                })
                .collect();
            Ok::<_, Error>((import.package, into, answers, import.promoted_to))
        })??;
        if let Some(real) = promoted {
            return self.review(caller, real);
        }
        let package = self
            .data_dir()
            .blobs()
            .get(&digest)
            .map_err(Error::internal)?;
        let review = self.import(
            caller,
            ImportRequest {
                package,
                into,
                dry_run: false,
                answers,
                idempotency_key: Some(format!("promote:{id}")),
            },
        )?;
        match self.cancel_as(
            caller,
            id,
            "promoted to a real import",
            Some(review.migration),
        ) {
            // A retry raced this one: the other cancelled it, naming the same import.
            Ok(()) => {}
            Err(e) if e.code == "wrong-phase" => {}
            Err(other) => return Err(other),
        }
        Ok(review)
    }
}
