//! Running a provisioning: queue each target's import (request, review, the template's answers
//! and the start, as one append), then the workers run it. Every decision here is made on the
//! executor's projections; every write is an append that a repeat after a crash cannot double.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use ferry_schemas::event::{Event, ReviewItem};
use ferry_schemas::provision::{ProvisionRequested, TargetSkipped, WaveFinished};
use ferry_schemas::{Actor, EnvironmentId, MigrationId, StreamId, TenantId};

use super::{migration_of, outcome, template, Provision, Target, TargetOutcome, Template};
use crate::authz;
use crate::directory::{self, Rejection};
use crate::executor::{self, Executor};
use crate::log::{self, Expected};
use crate::migration::{self, Import, Request};

/// What queueing one target did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Queued {
    /// Its import is started: run it.
    Started(MigrationId),
    /// Its import was recorded earlier (a resumed run): run it if it still runs.
    Existing(MigrationId),
    /// Its import is recorded but items need input.
    Blocked(MigrationId),
    /// It could not be imported; recorded on the run's stream.
    Skipped,
}

/// One provisioning run, ready to queue targets.
pub struct Run {
    executor: Arc<Executor>,
    request: ProvisionRequested,
    targets: Vec<Target>,
    template: Template,
    items: Vec<ReviewItem>,
    signer: Option<String>,
}

/// The envelope of the run's own records: platform-wide, correlated by the run's id.
fn context(request: &ProvisionRequested) -> ferry_schemas::event::Context {
    ferry_schemas::event::Context {
        tenant: None,
        actor: actor(request),
        correlation_id: ferry_schemas::CorrelationId::from_uuid(*request.provision.as_uuid()),
        causation_id: None,
    }
}

fn actor(request: &ProvisionRequested) -> Actor {
    request
        .importer
        .map_or(Actor::Operator, |principal| Actor::Principal { principal })
}

impl Run {
    /// Records the run's request unless it is recorded already (then this continues it).
    /// Returns the run and whether it was new.
    pub fn begin(
        executor: Arc<Executor>,
        request: ProvisionRequested,
        targets: Vec<Target>,
        template: Template,
        items: Vec<ReviewItem>,
        signer: Option<String>,
    ) -> Result<(Run, bool), executor::Error> {
        let stream = StreamId::provision(request.provision);
        let new = vec![Event::from(request.clone()).to_new(&context(&request))];
        let fresh = match executor.store().append(&stream, Expected::Exact(0), new) {
            Ok(_) => true,
            Err(log::Error::Conflict { .. }) => false,
            Err(other) => return Err(other.into()),
        };
        let run = Run {
            executor,
            request,
            targets,
            template,
            items,
            signer,
        };
        Ok((run, fresh))
    }

    /// Appends `event` to the run's stream.
    fn note(&self, event: Event) -> Result<(), executor::Error> {
        self.executor.store().append(
            &StreamId::provision(self.request.provision),
            Expected::Any,
            vec![event.to_new(&context(&self.request))],
        )?;
        Ok(())
    }

    /// The run as recorded.
    pub fn provision(&self) -> Result<Provision, executor::Error> {
        let id = self.request.provision;
        self.executor
            .read(|w| w.provisions.get(&id).cloned())?
            .ok_or(executor::Error::NoSuchProvision(id))
    }

    /// The targets.
    pub fn targets(&self) -> &[Target] {
        &self.targets
    }

    fn skip(&self, index: u32, code: &str, message: String) -> Result<Queued, executor::Error> {
        let event = Event::from(TargetSkipped {
            index,
            code: code.to_owned(),
            message,
        });
        self.note(event)?;
        Ok(Queued::Skipped)
    }

    /// The target's environment, made first when the run may create environments.
    fn environment(&self, target: &Target) -> Result<Option<EnvironmentId>, executor::Error> {
        let find = |w: &crate::world::World| {
            let tenant = w.directory.tenant(&target.tenant)?;
            w.directory
                .environment(tenant.id, &target.environment)
                .map(|e| e.id)
        };
        if let Some(found) = self.executor.read(find)? {
            return Ok(Some(found));
        }
        if !self.request.create_envs {
            return Ok(None);
        }
        let tenant = directory::Command::CreateTenant {
            id: TenantId::new(),
            name: target.tenant.clone(),
        };
        match self.executor.directory(tenant)? {
            Ok(_) | Err(Rejection::TenantExists(_)) => {}
            Err(other) => return Err(other.into()),
        }
        let environment = directory::Command::CreateEnvironment {
            id: EnvironmentId::new(),
            tenant: target.tenant.clone(),
            name: target.environment.clone(),
            default: false,
        };
        match self.executor.directory(environment)? {
            Ok(_) | Err(Rejection::EnvironmentExists { .. }) => {}
            Err(other) => return Err(other.into()),
        }
        self.executor.read(find)
    }

    /// Queues target `index`: records its import, reviewed, answered by the template and its
    /// own columns, and started — or blocked, or skipped. Safe to repeat.
    pub fn queue(&self, index: u32, now: DateTime<Utc>) -> Result<Queued, executor::Error> {
        let id = migration_of(self.request.provision, index);
        // A target skipped by an earlier run is tried again: its environment may exist now.
        if self.executor.read(|w| w.imports.contains_key(&id))? {
            return self.answer_again(index, id);
        }
        let Some(target) = self.targets.get(index as usize) else {
            return self.skip(
                index,
                "no-such-target",
                format!("the targets file has no row {}", index + 1),
            );
        };
        // An environment the importer may not see is, for them, one that does not exist.
        let environment = match (self.environment(target)?, self.request.importer) {
            (Some(environment), Some(principal)) => self
                .executor
                .read(|w| {
                    w.directory
                        .environment_by_id(environment)
                        .is_some_and(|e| authz::sees(&w.directory, principal, e))
                })?
                .then_some(environment),
            (found, _) => found,
        };
        let Some(environment) = environment else {
            return self.skip(
                index,
                "no-environment",
                format!("{target} does not exist; create it, or run with --create-envs"),
            );
        };
        if let Some(principal) = self.request.importer {
            let allowed = self.executor.read(|w| {
                authz::environment(&w.directory, principal, environment, authz::Action::Import)
            })?;
            if let Err(denied) = allowed {
                return self.skip(index, "permission-denied", denied.to_string());
            }
        }
        // The target environment's import policy: signed packages only, by keys it trusts.
        let admitted = self
            .executor
            .read(|w| crate::trust::admits(&w.directory, environment, self.signer.as_deref()))?;
        let signer = match admitted {
            Ok(signer) => signer,
            Err(refused) => return self.skip(index, refused.code(), refused.to_string()),
        };
        let (events, blocked) = self.executor.read(|w| {
            let request = Request {
                id,
                environment,
                package: self.request.package,
                package_name: self.request.package_name.clone(),
                importer: self.request.importer,
                dry_run: false,
                requested_at: now,
                signer: signer.clone(),
                items: self.items.clone(),
            };
            let mut events = migration::request(request, &w.contents);
            let mut import = Import::new(id);
            for event in &events {
                import.apply(event);
            }
            for (item, choice) in template::answers(&import, &w.contents, &self.template, target) {
                // A choice that does not fit leaves the item unanswered: the target is blocked
                // with the reason, the others go on.
                if let Ok(event) = migration::answer(&import, &item, choice, &w.contents) {
                    import.apply(&event);
                    events.push(event);
                }
            }
            let default_environment = w
                .directory
                .environment_by_id(environment)
                .is_some_and(|e| e.default);
            match migration::start(&import, false, default_environment) {
                Ok(start) => {
                    events.push(start);
                    (events, false)
                }
                Err(_) => (events, true),
            }
        })?;
        match self.executor.record(id, 0, actor(&self.request), &events) {
            Ok(()) if blocked => Ok(Queued::Blocked(id)),
            Ok(()) => Ok(Queued::Started(id)),
            Err(executor::Error::Log(log::Error::Conflict { .. })) => Ok(Queued::Existing(id)),
            Err(other) => Err(other),
        }
    }

    /// A target found blocked by an earlier run of the same command gets the template's answers
    /// again (its environment may have what it needed now) and starts if nothing is left.
    fn answer_again(&self, index: u32, id: MigrationId) -> Result<Queued, executor::Error> {
        let Some(target) = self.targets.get(index as usize) else {
            return Ok(Queued::Existing(id));
        };
        let decided = self.executor.read(|w| {
            let mut import = w.imports.get(&id)?.clone();
            if import.phase != crate::migration::Phase::Review || import.dry_run {
                return None;
            }
            // The importer must still be allowed there: a grant revoked since the first run
            // stops the target, decided on the same snapshot as the answers.
            if let Some(principal) = self.request.importer {
                let allowed = authz::environment(
                    &w.directory,
                    principal,
                    import.environment,
                    authz::Action::Import,
                );
                if allowed.is_err() {
                    return None;
                }
            }
            let version = import.version;
            let mut events = Vec::new();
            for (item, choice) in template::answers(&import, &w.contents, &self.template, target) {
                let pending = import.item(&item).is_some_and(|i| i.needs_input());
                if !pending {
                    continue;
                }
                if let Ok(event) = migration::answer(&import, &item, choice, &w.contents) {
                    import.apply(&event);
                    events.push(event);
                }
            }
            let default_environment = w
                .directory
                .environment_by_id(import.environment)
                .is_some_and(|e| e.default);
            let start = migration::start(&import, false, default_environment).ok();
            let blocked = start.is_none();
            events.extend(start);
            Some((version, events, blocked))
        })?;
        let Some((version, events, blocked)) = decided else {
            return Ok(Queued::Existing(id));
        };
        if !events.is_empty() {
            match self
                .executor
                .record(id, version, actor(&self.request), &events)
            {
                Ok(()) => {}
                Err(executor::Error::Log(log::Error::Conflict { .. })) => {
                    return Ok(Queued::Existing(id))
                }
                Err(other) => return Err(other),
            }
        }
        Ok(if blocked {
            Queued::Blocked(id)
        } else {
            Queued::Started(id)
        })
    }

    /// Each target's outcome in `range`.
    pub fn outcomes(
        &self,
        range: std::ops::Range<u32>,
    ) -> Result<Vec<TargetOutcome>, executor::Error> {
        let provision = self.provision()?;
        let id = self.request.provision;
        self.executor.read(|w| {
            range
                .clone()
                .map(|index| outcome(&provision, index, w.imports.get(&migration_of(id, index))))
                .collect()
        })
    }

    /// Records the end of wave `wave` and whether its failure rate stops the run.
    pub fn finish_wave(
        &self,
        wave: u32,
        range: std::ops::Range<u32>,
    ) -> Result<WaveFinished, executor::Error> {
        let outcomes = self.outcomes(range.clone())?;
        let count = |word: &str| outcomes.iter().filter(|o| o.word() == word).count() as u32;
        let (done, failed, blocked) = (count("done"), count("failed"), count("blocked"));
        let targets = range.len() as u32;
        let rate = u64::from(failed + blocked) * 1000 / u64::from(targets.max(1));
        let finished = WaveFinished {
            wave,
            targets,
            done,
            failed,
            blocked,
            stopped: rate > u64::from(self.request.max_failure_permille),
        };
        self.note(Event::from(finished.clone()))?;
        Ok(finished)
    }
}
