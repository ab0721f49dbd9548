//! `ferry provision`: one package into many target environments, in waves, resumable; and
//! `ferry provision status <id>`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Instant;

use ferry_engine::package::{self, Contents as PackageContents, Limits};
use ferry_engine::provision::{self, migration_of, Provision, Run, TargetOutcome, Template};
use ferry_schemas::provision::ProvisionRequested;
use ferry_schemas::{Digest, ProvisionId};
use serde_json::json;

use super::clock_now;
use super::directory::{fail, print_json};
use super::exit;
use super::session::{engine_error, ActAs, Session};
use crate::pool::{self, Progress};

/// `ferry provision`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// The package (a legacy export package zip).
    #[arg(required_unless_present = "resume")]
    package: Option<PathBuf>,
    /// The targets: CSV with a header `tenant,environment` and optional answer columns named
    /// by package item.
    #[arg(long, required_unless_present = "resume")]
    targets: Option<PathBuf>,
    /// Continue run <ID> (running the same command again continues it too).
    #[arg(long, value_name = "ID", conflicts_with_all = ["package", "targets"])]
    resume: Option<ProvisionId>,
    #[command(flatten)]
    act_as: ActAs,
    /// The answer template (TOML: [[bind]] rules, [update] policy, [answers]).
    #[arg(long, value_name = "FILE")]
    answers: Option<PathBuf>,
    /// Create missing tenants and environments (as the platform operator).
    #[arg(long)]
    create_envs: bool,
    /// Targets imported at once.
    #[arg(long, default_value_t = 32)]
    concurrency: u32,
    /// Wave sizes, e.g. `10,100,all`: each wave runs only if the previous stayed within
    /// --max-failure-rate.
    #[arg(long, default_value = "all")]
    waves: String,
    /// The share of failed or blocked targets in a wave above which the run stops, e.g. `5%`.
    #[arg(long, default_value = "100%")]
    max_failure_rate: String,
    /// Only queue each target's import and wait for `ferry worker` processes to run it (on a
    /// log shared through Kafka), instead of running the imports in this process.
    #[arg(long)]
    leave_to_workers: bool,
    /// Print a JSON summary.
    #[arg(long)]
    json: bool,
}

/// `ferry provision status`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Per target outcome of a run (or every run, without an id).
    Status {
        /// The run.
        id: Option<ProvisionId>,
        /// Only failed targets.
        #[arg(long)]
        failed: bool,
        /// Only blocked targets.
        #[arg(long)]
        blocked: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, u8> {
    std::fs::read(path).map_err(|e| {
        fail(
            &format!("cannot read the {what} {}: {e}", path.display()),
            exit::INVALID_INPUT,
        )
    })
}

fn invalid(message: impl std::fmt::Display) -> u8 {
    fail(&message.to_string(), exit::INVALID_INPUT)
}

/// `10,100,all` → [10, 100] (the rest is the last wave).
fn parse_waves(text: &str) -> Result<Vec<u32>, u8> {
    let mut sizes = Vec::new();
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    for (n, part) in parts.iter().enumerate() {
        if part.eq_ignore_ascii_case("all") && n + 1 == parts.len() {
            return Ok(sizes);
        }
        match part.parse::<u32>() {
            Ok(size) if size > 0 => sizes.push(size),
            _ => {
                return Err(invalid(format!(
                    "--waves {text:?}: sizes are positive numbers, the last may be `all`"
                )))
            }
        }
    }
    Ok(sizes)
}

/// `5%`, `0.5%`, `5` → per mille.
fn parse_rate(text: &str) -> Result<u32, u8> {
    let number = text.trim().trim_end_matches('%');
    match number.parse::<f64>() {
        Ok(percent) if (0.0..=100.0).contains(&percent) => Ok((percent * 10.0).round() as u32),
        _ => Err(invalid(format!(
            "--max-failure-rate {text:?}: a percentage from 0% to 100%"
        ))),
    }
}

/// Runs `ferry provision`.
pub fn run(data_dir: &Path, args: Args) -> Result<u8, u8> {
    if let Some(Command::Status {
        id,
        failed,
        blocked,
        json,
    }) = args.command
    {
        return status(data_dir, id, failed, blocked, json);
    }
    let session = Session::open(data_dir)?;
    let principal = session.principal(&args.act_as)?;
    let (request, targets_text, template_text) = match args.resume {
        Some(id) => recorded(&session, id)?,
        None => new_request(&session, &args, principal)?,
    };
    let targets = provision::targets::parse(&targets_text).map_err(invalid)?;
    let template = match &template_text {
        Some(text) => provision::template::parse(text).map_err(invalid)?,
        None => Template::default(),
    };
    let package_bytes = session
        .dir()
        .blobs()
        .get(&request.package)
        .map_err(|e| fail(&e.to_string(), exit::FAILURE))?;
    let package = package::read(&package_bytes, &Limits::default()).map_err(invalid)?;
    let PackageContents::Legacy(legacy) = &package.contents else {
        return Err(invalid(
            "a Dataverse solution cannot be provisioned; use a legacy export package",
        ));
    };
    let items = package::review(legacy).map_err(invalid)?;
    let executor = session.executor.clone();
    let (run, fresh) = Run::begin(executor.clone(), request.clone(), targets, template, items)
        .map_err(engine_error)?;
    if !args.json {
        let verb = if fresh { "provisioning" } else { "continuing" };
        println!(
            "{verb} {:?} into {} target(s): run {}",
            request.package_name, request.target_count, request.provision
        );
    }
    let run = Arc::new(run);
    let started = Instant::now();
    let recorded = run.provision().map_err(engine_error)?;
    let mut stopped = None;
    // Every wave is (re)run in order: settled targets are skipped at once, blocked ones get
    // the template's answers again, so running the command again finishes what it can.
    for (wave, range) in recorded.waves().into_iter().enumerate() {
        let wave = wave as u32;
        if stopped.is_some() {
            break;
        }
        let bar = Bar::new(wave, range.len() as u64, args.json);
        pool::provision_wave_blocking(
            run.clone(),
            executor.clone(),
            range.clone(),
            args.concurrency.max(1) as usize,
            !args.leave_to_workers,
            bar.clone(),
        )
        .map_err(|e| fail(&e.to_string(), exit::FAILURE))?;
        bar.finish();
        let finished = run.finish_wave(wave, range).map_err(engine_error)?;
        if !args.json {
            println!(
                "wave {}: {} target(s): {} done, {} failed, {} blocked{}",
                wave + 1,
                finished.targets,
                finished.done,
                finished.failed,
                finished.blocked,
                if finished.stopped {
                    format!(
                        " — over the {}% failure limit: the run stops here",
                        f64::from(request.max_failure_permille) / 10.0
                    )
                } else {
                    String::new()
                }
            );
        }
        if finished.stopped {
            stopped = Some(wave);
        }
    }
    summary(&run, request.provision, stopped, started, args.json)
}

/// The request of a new run (or of the recorded run these inputs name).
fn new_request(
    session: &Session,
    args: &Args,
    principal: Option<ferry_schemas::PrincipalId>,
) -> Result<(ProvisionRequested, String, Option<String>), u8> {
    let (Some(package_path), Some(targets_path)) = (&args.package, &args.targets) else {
        return Err(invalid("give a package and --targets, or --resume <id>"));
    };
    let package_bytes = read(package_path, "package")?;
    let package = package::read(&package_bytes, &Limits::default())
        .map_err(|e| invalid(format!("{}: {e}", package_path.display())))?;
    let targets_bytes = read(targets_path, "targets file")?;
    let targets_text = String::from_utf8(targets_bytes.clone())
        .map_err(|_| invalid(format!("{} is not UTF-8 text", targets_path.display())))?;
    let targets = provision::targets::parse(&targets_text).map_err(invalid)?;
    let template_bytes = args
        .answers
        .as_deref()
        .map(|p| read(p, "answer template"))
        .transpose()?;
    let template_text = template_bytes
        .as_ref()
        .map(|b| {
            String::from_utf8(b.clone())
                .map_err(|_| invalid("the answer template is not UTF-8 text"))
        })
        .transpose()?;
    if let Some(text) = &template_text {
        provision::template::parse(text).map_err(invalid)?;
    }
    let waves = parse_waves(&args.waves)?;
    let max_failure_permille = parse_rate(&args.max_failure_rate)?;
    let blobs = session.dir().blobs();
    let put = |bytes: &[u8]| {
        blobs
            .put(bytes)
            .map_err(|e| fail(&e.to_string(), exit::FAILURE))
    };
    let package_digest = put(&package_bytes)?;
    let targets_digest = put(&targets_bytes)?;
    let template_digest = template_bytes.as_deref().map(put).transpose()?;
    // The run's id is what it does, not how fast: the same command continues the same run,
    // whatever --concurrency it is given.
    let seed = format!(
        "{package_digest}|{targets_digest}|{template_digest:?}|{waves:?}|{max_failure_permille}|{}|{principal:?}",
        args.create_envs
    );
    let request = ProvisionRequested {
        provision: ProvisionId::derived(seed.as_bytes()),
        package: package_digest,
        package_name: package.display_name(),
        targets: targets_digest,
        target_count: targets.len() as u32,
        template: template_digest,
        waves,
        max_failure_permille,
        create_envs: args.create_envs,
        concurrency: args.concurrency.max(1),
        importer: principal,
        requested_at: clock_now(),
    };
    let recorded = session.read(|w| {
        w.provisions
            .get(&request.provision)
            .map(|p| p.request.clone())
    })?;
    Ok((recorded.unwrap_or(request), targets_text, template_text))
}

/// The recorded request of run `id`, with its stored targets and template.
fn recorded(
    session: &Session,
    id: ProvisionId,
) -> Result<(ProvisionRequested, String, Option<String>), u8> {
    let request = session
        .read(|w| w.provisions.get(&id).map(|p| p.request.clone()))?
        .ok_or_else(|| {
            invalid(format!(
                "no provisioning run {id}; `ferry provision status` lists them"
            ))
        })?;
    let text = |digest: &Digest| -> Result<String, u8> {
        let bytes = session
            .dir()
            .blobs()
            .get(digest)
            .map_err(|e| fail(&e.to_string(), exit::FAILURE))?;
        String::from_utf8(bytes).map_err(|_| {
            fail(
                "a stored targets file or template is not text",
                exit::FAILURE,
            )
        })
    };
    let targets = text(&request.targets)?;
    let template = request.template.as_ref().map(text).transpose()?;
    Ok((request, targets, template))
}

fn summary(
    run: &Run,
    id: ProvisionId,
    stopped: Option<u32>,
    started: Instant,
    json_out: bool,
) -> Result<u8, u8> {
    let provision = run.provision().map_err(engine_error)?;
    let outcomes = run
        .outcomes(0..provision.request.target_count)
        .map_err(engine_error)?;
    let count = |word: &str| outcomes.iter().filter(|o| o.word() == word).count();
    let (done, failed, blocked, pending) = (
        count("done"),
        count("failed"),
        count("blocked"),
        count("pending") + count("running"),
    );
    let elapsed = started.elapsed().as_secs_f64();
    if json_out {
        let waves: Vec<_> = provision
            .waves
            .iter()
            .map(|w| json!({"wave": w.wave + 1, "targets": w.targets, "done": w.done, "failed": w.failed, "blocked": w.blocked, "stopped": w.stopped}))
            .collect();
        print_json(&json!({
            "provision": id, "package": provision.request.package_name,
            "targets": provision.request.target_count, "done": done, "failed": failed,
            "blocked": blocked, "not_run": pending, "waves": waves,
            "stopped_at_wave": stopped.map(|w| w + 1), "seconds": elapsed,
        }));
    } else {
        println!(
            "run {id}: {done} done, {failed} failed, {blocked} blocked, {pending} not run, in {elapsed:.1}s{}",
            stopped.map_or_else(String::new, |w| format!(" (stopped after wave {})", w + 1))
        );
        if failed + blocked > 0 {
            println!(
                "`ferry provision status {id} --failed` / `--blocked` lists them with the reason"
            );
        }
    }
    Ok(if failed > 0 || stopped.is_some() {
        exit::FAILURE
    } else if blocked > 0 || pending > 0 {
        exit::BLOCKED
    } else {
        exit::OK
    })
}

/// Progress of one wave: a bar on a terminal, a line per tenth otherwise, nothing with --json.
struct Bar {
    bar: Option<indicatif::ProgressBar>,
    total: u64,
    settled: AtomicU32,
    failed: AtomicU32,
    blocked: AtomicU32,
    wave: u32,
    quiet: bool,
}

impl Bar {
    fn new(wave: u32, total: u64, quiet: bool) -> Arc<Bar> {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(total);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "wave {prefix} [{bar:30}] {pos}/{len} {msg} {per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar.set_prefix((wave + 1).to_string());
            bar
        });
        Arc::new(Bar {
            bar,
            total,
            settled: AtomicU32::new(0),
            failed: AtomicU32::new(0),
            blocked: AtomicU32::new(0),
            wave,
            quiet,
        })
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Progress for Bar {
    fn settled(&self, _index: u32, outcome: &TargetOutcome) {
        match outcome {
            TargetOutcome::Failed { .. } => self.failed.fetch_add(1, Ordering::Relaxed),
            TargetOutcome::Blocked { .. } => self.blocked.fetch_add(1, Ordering::Relaxed),
            _ => 0,
        };
        let settled = u64::from(self.settled.fetch_add(1, Ordering::Relaxed) + 1);
        let (failed, blocked) = (
            self.failed.load(Ordering::Relaxed),
            self.blocked.load(Ordering::Relaxed),
        );
        let done = settled - u64::from(failed + blocked);
        match &self.bar {
            Some(bar) => {
                bar.set_position(settled);
                bar.set_message(format!("done {done} failed {failed} blocked {blocked}"));
            }
            None if !self.quiet => {
                let step = (self.total / 10).max(1);
                if settled % step == 0 || settled == self.total {
                    eprintln!(
                        "wave {}: {settled}/{} settled (done {done}, failed {failed}, blocked {blocked})",
                        self.wave + 1,
                        self.total
                    );
                }
            }
            None => {}
        }
    }
}

fn status(
    data_dir: &Path,
    id: Option<ProvisionId>,
    failed: bool,
    blocked: bool,
    json_out: bool,
) -> Result<u8, u8> {
    let session = Session::open(data_dir)?;
    let Some(id) = id else {
        let runs: Vec<Provision> = session.read(|w| w.provisions.values().cloned().collect())?;
        if json_out {
            let list: Vec<_> = runs
                .iter()
                .map(|p| json!({"provision": p.id(), "package": p.request.package_name, "targets": p.request.target_count, "waves_finished": p.waves.len(), "stopped": p.stopped().is_some()}))
                .collect();
            print_json(&json!(list));
        } else {
            println!("{:<38} {:<8} {:<7} PACKAGE", "RUN", "TARGETS", "WAVES");
            for p in &runs {
                println!(
                    "{:<38} {:<8} {:<7} {}",
                    p.id(),
                    p.request.target_count,
                    p.waves.len(),
                    p.request.package_name
                );
            }
        }
        return Ok(exit::OK);
    };
    let (provision, rows) = session
        .read(|w| {
            let provision = w.provisions.get(&id).cloned()?;
            let rows: Vec<(u32, ferry_schemas::MigrationId, TargetOutcome)> =
                (0..provision.request.target_count)
                    .map(|index| {
                        let migration = migration_of(id, index);
                        (
                            index,
                            migration,
                            provision::outcome(&provision, index, w.imports.get(&migration)),
                        )
                    })
                    .collect();
            Some((provision, rows))
        })?
        .ok_or_else(|| {
            invalid(format!(
                "no provisioning run {id}; `ferry provision status` lists them"
            ))
        })?;
    let targets_text = session
        .dir()
        .blobs()
        .get(&provision.request.targets)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default();
    let targets = provision::targets::parse(&targets_text).unwrap_or_default();
    let rows: Vec<_> = rows
        .into_iter()
        .filter(|(_, _, o)| {
            !(failed || blocked)
                || (failed && o.word() == "failed")
                || (blocked && o.word() == "blocked")
        })
        .collect();
    let name = |index: u32| {
        targets
            .get(index as usize)
            .map(ToString::to_string)
            .unwrap_or_default()
    };
    let reason = |o: &TargetOutcome| match o {
        TargetOutcome::Failed { code, message } => format!("{code}: {message}"),
        TargetOutcome::Blocked { reason } => reason.clone(),
        _ => String::new(),
    };
    if json_out {
        let list: Vec<_> = rows
            .iter()
            .map(|(i, m, o)| json!({"index": i + 1, "target": name(*i), "outcome": o.word(), "migration": m, "reason": reason(o)}))
            .collect();
        print_json(
            &json!({"provision": id, "package": provision.request.package_name, "targets": list}),
        );
    } else {
        println!(
            "{:>6} {:<32} {:<8} {:<38} REASON",
            "ROW", "TARGET", "OUTCOME", "IMPORT"
        );
        for (i, m, o) in &rows {
            println!(
                "{:>6} {:<32} {:<8} {:<38} {}",
                i + 1,
                name(*i),
                o.word(),
                m,
                reason(o)
            );
        }
    }
    Ok(exit::OK)
}
