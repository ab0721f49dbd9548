//! `ferry provision`: one package into many target environments, in waves, resumable; and
//! `ferry provision status <id>`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Instant;

use ferry_engine::app::{
    Execution, Progress, ProvisionRequest, ProvisionStart, ProvisionSummary, WaveView,
};
use ferry_engine::provision::TargetOutcome;
use ferry_schemas::provision::ProvisionRequested;
use ferry_schemas::ProvisionId;

use super::backend::{self, Backend};
use super::directory::fail;
use super::directory::print_json;
use super::session::{refused, ActAs};
use super::{exit, input};

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
        #[command(flatten)]
        act_as: ActAs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Publish the drafts a run's updates made, target by target (again: only the rest).
    Publish {
        /// The run.
        id: ProvisionId,
        #[command(flatten)]
        act_as: ActAs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
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
        act_as,
        json,
    }) = args.command
    {
        return status(data_dir, id, failed, blocked, &act_as, json);
    }
    if let Some(Command::Publish { id, act_as, json }) = args.command {
        return publish(data_dir, id, &act_as, json);
    }
    let start = match args.resume {
        Some(id) => ProvisionStart::Resume(id),
        None => {
            let (Some(package), Some(targets)) = (&args.package, &args.targets) else {
                return Err(invalid("give a package and --targets, or --resume <id>"));
            };
            ProvisionStart::New(ProvisionRequest {
                package: input::read(package, input::PACKAGE)?,
                targets: input::read(targets, input::TARGETS)?,
                template: args
                    .answers
                    .as_deref()
                    .map(|p| input::read(p, input::TEMPLATE))
                    .transpose()?,
                waves: parse_waves(&args.waves)?,
                max_failure_permille: parse_rate(&args.max_failure_rate)?,
                create_envs: args.create_envs,
                concurrency: args.concurrency.max(1),
            })
        }
    };
    let execution = if args.leave_to_workers {
        Execution::Elsewhere
    } else {
        Execution::Here
    };
    let started = Instant::now();
    let backend = backend::open(data_dir, &args.act_as)?;
    let progress = Printed::new(args.json);
    let summary = match &backend {
        Backend::Local { ferry, caller } => {
            let stop = Arc::new(AtomicBool::new(false));
            stop_on_signal(stop.clone());
            ferry
                .provision(caller, start, execution, &progress, &stop)
                .map_err(refused)?
        }
        Backend::Remote(client) => client.provision(start).map_err(refused)?,
    };
    print_summary(&summary, started, args.json)
}

/// Sets `stop` on Ctrl-C or SIGTERM: the run stops between targets and continues next time.
fn stop_on_signal(stop: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        runtime.block_on(crate::pool::terminated());
        stop.store(true, Ordering::SeqCst);
    });
}

fn print_summary(summary: &ProvisionSummary, started: Instant, json_out: bool) -> Result<u8, u8> {
    let elapsed = started.elapsed().as_secs_f64();
    let id = summary.provision;
    if json_out {
        #[derive(serde::Serialize)]
        struct Timed<'a> {
            #[serde(flatten)]
            summary: &'a ProvisionSummary,
            seconds: f64,
        }
        print_json(&Timed {
            summary,
            seconds: elapsed,
        });
    } else {
        say!(
            "run {id}: {} done, {} failed, {} blocked, {} not run, in {elapsed:.1}s{}",
            summary.done,
            summary.failed,
            summary.blocked,
            summary.not_run,
            summary
                .stopped_at_wave
                .map_or_else(String::new, |w| format!(" (stopped after wave {w})"))
        );
        if summary.failed + summary.blocked > 0 {
            say!("`ferry provision status {id} --failed` / `--blocked` lists them with the reason");
        }
    }
    Ok(if summary.failed > 0 || summary.stopped_at_wave.is_some() {
        exit::FAILURE
    } else if summary.blocked > 0 || summary.not_run > 0 {
        exit::BLOCKED
    } else {
        exit::OK
    })
}

/// What the run says as it goes: a line per wave, and a bar per wave on a terminal.
struct Printed {
    quiet: bool,
    bar: std::sync::Mutex<Option<Arc<Bar>>>,
    max_failure_permille: AtomicU32,
}

impl Printed {
    fn new(quiet: bool) -> Printed {
        Printed {
            quiet,
            bar: std::sync::Mutex::new(None),
            max_failure_permille: AtomicU32::new(1000),
        }
    }
}

impl Progress for Printed {
    fn begun(&self, request: &ProvisionRequested, fresh: bool) {
        self.max_failure_permille
            .store(request.max_failure_permille, Ordering::Relaxed);
        if !self.quiet {
            let verb = if fresh { "provisioning" } else { "continuing" };
            say!(
                "{verb} {:?} into {} target(s): run {}",
                request.package_name,
                request.target_count,
                request.provision
            );
        }
    }

    fn wave(&self, wave: u32, targets: u64) {
        *self.bar.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(Bar::new(wave, targets, self.quiet));
    }

    fn settled(&self, index: u32, outcome: &TargetOutcome) {
        if let Some(bar) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            bar.settled(index, outcome);
        }
    }

    fn finished(&self, finished: &WaveView) {
        if let Some(bar) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).take() {
            bar.finish();
        }
        if self.quiet {
            return;
        }
        say!(
            "wave {}: {} target(s): {} done, {} failed, {} blocked{}",
            finished.wave,
            finished.targets,
            finished.done,
            finished.failed,
            finished.blocked,
            if finished.stopped {
                format!(
                    " — over the {}% failure limit: the run stops here",
                    f64::from(self.max_failure_permille.load(Ordering::Relaxed)) / 10.0
                )
            } else {
                String::new()
            }
        );
    }
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

impl Bar {
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

/// `ferry provision publish`.
fn publish(data_dir: &Path, id: ProvisionId, act_as: &ActAs, json_out: bool) -> Result<u8, u8> {
    let done = backend::open(data_dir, act_as)?.publish_provision(id)?;
    if json_out {
        print_json(&done);
    } else {
        let mut rows = vec![super::table::row(["ROW", "MIGRATION", "OUTCOME", "DETAIL"])];
        for t in &done.targets {
            let detail = match (&t.error_code, &t.message) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                _ => t
                    .published
                    .iter()
                    .map(|p| format!("{} v{}", p.name, p.version))
                    .collect::<Vec<_>>()
                    .join(", "),
            };
            rows.push(vec![
                t.index.to_string(),
                t.migration.to_string(),
                t.outcome.clone(),
                detail,
            ]);
        }
        print!(
            "{}",
            ferry_engine::untrusted::neutralise(&super::table::table(&rows))
        );
        let count = |o: &str| done.targets.iter().filter(|t| t.outcome == o).count();
        say!(
            "{} target(s) published, {} with nothing to publish, {} failed",
            count("published"),
            count("nothing to publish"),
            count("failed")
        );
    }
    Ok(if done.failed() {
        exit::FAILURE
    } else {
        exit::OK
    })
}

fn status(
    data_dir: &Path,
    id: Option<ProvisionId>,
    failed: bool,
    blocked: bool,
    act_as: &ActAs,
    json_out: bool,
) -> Result<u8, u8> {
    let backend = backend::open(data_dir, act_as)?;
    let Some(id) = id else {
        let runs = backend.provisions()?;
        if json_out {
            print_json(&runs);
        } else {
            let mut rows = vec![super::table::row([
                "RUN", "STARTED", "BY", "TARGETS", "WAVES", "STOPPED", "PACKAGE",
            ])];
            rows.extend(runs.iter().map(|p| {
                super::table::row([
                    &p.provision.to_string(),
                    &p.requested_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                    &p.importer,
                    &p.targets.to_string(),
                    &p.waves_finished.to_string(),
                    if p.stopped { "yes" } else { "no" },
                    &p.package,
                ])
            }));
            print!(
                "{}",
                ferry_engine::untrusted::neutralise(&super::table::table(&rows))
            );
        }
        return Ok(exit::OK);
    };
    let mut view = backend.provision_status(id)?;
    view.targets.retain(|t| {
        !(failed || blocked)
            || (failed && t.outcome == "failed")
            || (blocked && t.outcome == "blocked")
    });
    if json_out {
        print_json(&view);
    } else {
        say!(
            "{:>6} {:<32} {:<8} {:<38} REASON",
            "ROW",
            "TARGET",
            "OUTCOME",
            "IMPORT"
        );
        for t in &view.targets {
            say!(
                "{:>6} {:<32} {:<8} {:<38} {}",
                t.index,
                t.target,
                t.outcome,
                t.migration,
                t.reason
            );
        }
    }
    Ok(exit::OK)
}
