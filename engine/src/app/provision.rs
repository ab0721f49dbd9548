//! Provisioning: one package into many target environments, in waves. The rules are here —
//! the run's id from what it does, waves in order, the failure budget that stops a run, who
//! may create environments — and the work runs on threads of the caller's process, reporting
//! to a [`Progress`] and stopping between targets when asked.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

use ferry_schemas::provision::ProvisionRequested;
use ferry_schemas::{Digest, ProvisionId};

use super::views::{ProvisionListed, ProvisionStatus, ProvisionSummary, TargetView, WaveView};
use super::{Caller, Error, Ferry, Kind, Result};
use crate::package::{self, Contents as PackageContents, Limits};
use crate::provision::{self, migration_of, Queued, Run, TargetOutcome, Template};

/// The most targets imported at once: each is a thread of the caller's process.
pub const MAX_CONCURRENCY: u32 = 256;

/// A new run's inputs.
#[derive(Clone, Debug)]
pub struct ProvisionRequest {
    /// The package (a legacy export package zip).
    pub package: Vec<u8>,
    /// The targets file: CSV, header `tenant,environment`, optional answer columns.
    pub targets: Vec<u8>,
    /// The answer template (TOML), if any.
    pub template: Option<Vec<u8>>,
    /// Wave sizes; the rest of the targets is the last wave.
    pub waves: Vec<u32>,
    /// Failed + blocked per mille of a wave above which the run stops.
    pub max_failure_permille: u32,
    /// Create missing tenants and environments (the operator only).
    pub create_envs: bool,
    /// Targets imported at once.
    pub concurrency: u32,
}

/// Which run.
#[derive(Clone, Debug)]
pub enum ProvisionStart {
    /// These inputs (the same inputs name the same run, which then continues).
    New(ProvisionRequest),
    /// A recorded run, continued.
    Resume(ProvisionId),
}

/// How a run reports as it goes.
pub trait Progress: Send + Sync {
    /// The run is recorded (`fresh`: by this call) and about to run.
    fn begun(&self, _request: &ProvisionRequested, _fresh: bool) {}
    /// Wave `wave` (0-based) of `targets` targets begins.
    fn wave(&self, _wave: u32, _targets: u64) {}
    /// A target settled.
    fn settled(&self, _index: u32, _outcome: &TargetOutcome) {}
    /// A wave ended.
    fn finished(&self, _wave: &WaveView) {}
}

/// Reports nothing.
pub struct Quiet;

impl Progress for Quiet {}

/// Who runs the targets' imports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Execution {
    /// This process runs each import to its end.
    Here,
    /// Queue the imports and wait for other processes' workers (a log shared on Kafka).
    Elsewhere,
}

impl Ferry {
    /// `provision`: records the run (or finds it), then runs every wave in order until one
    /// exceeds the failure budget or `stop` is set; a stopped run continues where it was.
    pub fn provision(
        &self,
        caller: &Caller,
        start: ProvisionStart,
        execution: Execution,
        progress: &dyn Progress,
        stop: &AtomicBool,
    ) -> Result<ProvisionSummary> {
        let (request, targets_text, template_text) = match start {
            ProvisionStart::Resume(id) => self.recorded_run(caller, id)?,
            ProvisionStart::New(request) => self.new_run(caller, request)?,
        };
        let invalid =
            |e: &dyn std::fmt::Display| Error::invalid("provision-invalid", e.to_string());
        let targets = provision::targets::parse(&targets_text).map_err(|e| invalid(&e))?;
        let template = match &template_text {
            Some(text) => provision::template::parse(text).map_err(|e| invalid(&e))?,
            None => Template::default(),
        };
        let bytes = self
            .data_dir()
            .blobs()
            .get(&request.package)
            .map_err(Error::internal)?;
        let package = package::read(&bytes, &Limits::default())?;
        let PackageContents::Legacy(legacy) = &package.contents else {
            return Err(Error::invalid(
                "solution-not-supported",
                "a Dataverse solution cannot be provisioned; use a legacy export package",
            ));
        };
        let items = package::review(legacy)?;
        let executor = self.executor()?;
        let signer = package.signer.clone();
        let (run, fresh) = Run::begin(
            executor.clone(),
            request.clone(),
            targets,
            template,
            items,
            signer,
        )?;
        progress.begun(&request, fresh);
        let run = Arc::new(run);
        let recorded = run.provision()?;
        let concurrency = request.concurrency.clamp(1, MAX_CONCURRENCY) as usize;
        // Every wave is (re)run in order: settled targets are skipped at once, blocked ones get
        // the template's answers again, so running the command again finishes what it can.
        for (wave, range) in recorded.waves().into_iter().enumerate() {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let wave = wave as u32;
            progress.wave(wave, range.len() as u64);
            self.run_wave(&run, range.clone(), concurrency, execution, progress, stop)?;
            if stop.load(Ordering::SeqCst) {
                // An interrupted wave is not judged: the next run finishes it.
                break;
            }
            let finished = wave_view(&run.finish_wave(wave, range)?);
            progress.finished(&finished);
            if finished.stopped {
                break;
            }
        }
        self.provision_summary(caller, request.provision)
    }

    fn run_wave(
        &self,
        run: &Arc<Run>,
        range: std::ops::Range<u32>,
        concurrency: usize,
        execution: Execution,
        progress: &dyn Progress,
        stop: &AtomicBool,
    ) -> Result<()> {
        let executor = self.executor()?;
        let next = AtomicU32::new(range.start);
        let failure: std::sync::Mutex<Option<Error>> = std::sync::Mutex::new(None);
        std::thread::scope(|scope| {
            for _ in 0..concurrency.min(range.len().max(1)) {
                scope.spawn(|| loop {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let index = next.fetch_add(1, Ordering::SeqCst);
                    if index >= range.end {
                        return;
                    }
                    let outcome = (|| -> Result<Option<TargetOutcome>> {
                        if let Queued::Started(id) | Queued::Existing(id) =
                            run.queue(index, self.now())?
                        {
                            if execution == Execution::Here {
                                executor.run(id)?;
                            }
                        }
                        loop {
                            match run.outcomes(index..index + 1)?.into_iter().next() {
                                Some(TargetOutcome::Running | TargetOutcome::Pending)
                                    if execution == Execution::Elsewhere =>
                                {
                                    if stop.load(Ordering::SeqCst) {
                                        return Ok(None);
                                    }
                                    // Another process's worker runs it: wait for the log.
                                    let store = self.data_dir().log();
                                    let next = store.head().map_err(Error::from)?.position + 1;
                                    store
                                        .wait_for(next, std::time::Duration::from_millis(200))
                                        .map_err(Error::from)?;
                                }
                                other => return Ok(other),
                            }
                        }
                    })();
                    match outcome {
                        Ok(Some(outcome)) => progress.settled(index, &outcome),
                        Ok(None) => return,
                        Err(error) => {
                            stop.store(true, Ordering::SeqCst);
                            *failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(error);
                            return;
                        }
                    }
                });
            }
        });
        match failure.into_inner().unwrap_or_else(|e| e.into_inner()) {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// The id of the run `request` names for `caller`: what it does, not how fast — the same
    /// inputs continue the same run, whatever the concurrency.
    pub fn provision_id(caller: &Caller, request: &ProvisionRequest) -> ProvisionId {
        let package = Digest::of(&request.package);
        let targets = Digest::of(&request.targets);
        let template = request.template.as_deref().map(Digest::of);
        let seed = format!(
            "{package}|{targets}|{template:?}|{:?}|{}|{}|{:?}",
            request.waves,
            request.max_failure_permille,
            request.create_envs,
            caller.principal()
        );
        ProvisionId::derived(seed.as_bytes())
    }

    /// A run's totals.
    pub fn provision_summary(&self, caller: &Caller, id: ProvisionId) -> Result<ProvisionSummary> {
        self.world(|w| {
            let provision = w
                .provisions
                .get(&id)
                .filter(|p| may_see(*caller, &p.request))
                .ok_or_else(|| no_run(id))?;
            let outcomes: Vec<TargetOutcome> = (0..provision.request.target_count)
                .map(|index| {
                    provision::outcome(provision, index, w.imports.get(&migration_of(id, index)))
                })
                .collect();
            let count = |word: &str| outcomes.iter().filter(|o| o.word() == word).count();
            Ok(ProvisionSummary {
                provision: id,
                package: provision.request.package_name.clone(),
                targets: provision.request.target_count,
                done: count("done"),
                failed: count("failed"),
                blocked: count("blocked"),
                not_run: count("pending") + count("running"),
                waves: provision.waves.iter().map(wave_view).collect(),
                stopped_at_wave: provision.stopped().map(|w| w.wave + 1),
            })
        })?
    }

    /// A run's totals once they differ from `seen`, or as they are after `timeout` (a live
    /// stream's next event).
    pub fn watch_provision(
        &self,
        caller: &Caller,
        id: ProvisionId,
        seen: Option<&ProvisionSummary>,
        timeout: std::time::Duration,
    ) -> Result<ProvisionSummary> {
        self.watch_view(seen, timeout, || self.provision_summary(caller, id))
    }

    /// `provision status`: every run the caller may see, newest first.
    pub fn provisions(&self, caller: &Caller) -> Result<Vec<ProvisionListed>> {
        self.world(|w| {
            let mut runs: Vec<ProvisionListed> = w
                .provisions
                .values()
                .filter(|p| may_see(*caller, &p.request))
                .map(|p| ProvisionListed {
                    provision: p.id(),
                    requested_at: p.request.requested_at,
                    importer: super::directory::principal_label(&w.directory, p.request.importer),
                    package: p.request.package_name.clone(),
                    targets: p.request.target_count,
                    waves_finished: p.waves.len(),
                    stopped: p.stopped().is_some(),
                })
                .collect();
            runs.sort_by_key(|r| std::cmp::Reverse((r.requested_at, r.provision)));
            runs
        })
    }

    /// `provision status <id>`: each target's outcome.
    pub fn provision_status(&self, caller: &Caller, id: ProvisionId) -> Result<ProvisionStatus> {
        let (provision, rows) = self.world(|w| {
            let provision = w
                .provisions
                .get(&id)
                .filter(|p| may_see(*caller, &p.request))
                .cloned()
                .ok_or_else(|| no_run(id))?;
            let rows: Vec<_> = (0..provision.request.target_count)
                .map(|index| {
                    let migration = migration_of(id, index);
                    (
                        index,
                        migration,
                        provision::outcome(&provision, index, w.imports.get(&migration)),
                    )
                })
                .collect();
            Ok::<_, Error>((provision, rows))
        })??;
        let targets_text = self
            .data_dir()
            .blobs()
            .get(&provision.request.targets)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_default();
        let targets = provision::targets::parse(&targets_text).unwrap_or_default();
        Ok(ProvisionStatus {
            provision: id,
            package: provision.request.package_name.clone(),
            targets: rows
                .into_iter()
                .map(|(index, migration, outcome)| TargetView {
                    index: index + 1,
                    target: targets
                        .get(index as usize)
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                    outcome: outcome.word().to_owned(),
                    migration,
                    reason: match &outcome {
                        TargetOutcome::Failed { code, message } => format!("{code}: {message}"),
                        TargetOutcome::Blocked { reason } => reason.clone(),
                        _ => String::new(),
                    },
                })
                .collect(),
        })
    }

    /// The request of a new run (or of the recorded run these inputs name), with its
    /// targets and template as text.
    fn new_run(
        &self,
        caller: &Caller,
        request: ProvisionRequest,
    ) -> Result<(ProvisionRequested, String, Option<String>)> {
        if request.create_envs && *caller != Caller::Operator {
            return Err(Error::new(
                Kind::Denied,
                "operator-only",
                "only the platform operator may create tenants and environments (--create-envs)",
            ));
        }
        let package = package::read(&request.package, &Limits::default())?;
        let targets_text = String::from_utf8(request.targets.clone()).map_err(|_| {
            Error::invalid("provision-invalid", "the targets file is not UTF-8 text")
        })?;
        let targets = provision::targets::parse(&targets_text)
            .map_err(|e| Error::invalid("provision-invalid", e.to_string()))?;
        let template_text = request
            .template
            .as_ref()
            .map(|b| {
                String::from_utf8(b.clone()).map_err(|_| {
                    Error::invalid("provision-invalid", "the answer template is not UTF-8 text")
                })
            })
            .transpose()?;
        if let Some(text) = &template_text {
            provision::template::parse(text)
                .map_err(|e| Error::invalid("provision-invalid", e.to_string()))?;
        }
        if request.max_failure_permille > 1000 {
            return Err(Error::invalid(
                "bad-failure-rate",
                "a failure rate is at most 100%",
            ));
        }
        let blobs = self.data_dir().blobs();
        let put = |bytes: &[u8]| blobs.put(bytes).map_err(Error::internal);
        let package_digest = put(&request.package)?;
        let targets_digest = put(&request.targets)?;
        let template_digest: Option<Digest> = request.template.as_deref().map(put).transpose()?;
        let principal = caller.principal();
        let requested = ProvisionRequested {
            provision: Ferry::provision_id(caller, &request),
            package: package_digest,
            package_name: package.display_name(),
            targets: targets_digest,
            target_count: u32::try_from(targets.len()).unwrap_or(u32::MAX),
            template: template_digest,
            waves: request.waves,
            max_failure_permille: request.max_failure_permille,
            create_envs: request.create_envs,
            concurrency: request.concurrency.max(1),
            importer: principal,
            requested_at: self.now(),
        };
        let recorded = self.world(|w| {
            w.provisions
                .get(&requested.provision)
                .map(|p| p.request.clone())
        })?;
        Ok((recorded.unwrap_or(requested), targets_text, template_text))
    }

    /// The recorded request of run `id`, with its stored targets and template.
    fn recorded_run(
        &self,
        caller: &Caller,
        id: ProvisionId,
    ) -> Result<(ProvisionRequested, String, Option<String>)> {
        let request = self
            .world(|w| w.provisions.get(&id).map(|p| p.request.clone()))?
            .filter(|r| may_see(*caller, r))
            .ok_or_else(|| no_run(id))?;
        let text = |digest: &Digest| -> Result<String> {
            let bytes = self
                .data_dir()
                .blobs()
                .get(digest)
                .map_err(Error::internal)?;
            String::from_utf8(bytes)
                .map_err(|_| Error::internal("a stored targets file or template is not text"))
        };
        let targets = text(&request.targets)?;
        let template = request.template.as_ref().map(text).transpose()?;
        Ok((request, targets, template))
    }
}

/// The operator sees every run; a user the runs they asked for.
pub(super) fn may_see(caller: Caller, request: &ProvisionRequested) -> bool {
    caller == Caller::Operator
        || (caller.principal().is_some() && request.importer == caller.principal())
}

pub(super) fn no_run(id: ProvisionId) -> Error {
    Error::not_found("no-such-provision", format!("no provisioning run {id}"))
}

fn wave_view(w: &ferry_schemas::provision::WaveFinished) -> WaveView {
    WaveView {
        wave: w.wave + 1,
        targets: w.targets,
        done: w.done,
        failed: w.failed,
        blocked: w.blocked,
        stopped: w.stopped,
    }
}
