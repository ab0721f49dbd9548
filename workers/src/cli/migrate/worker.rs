//! `ferry worker`: the pool in the foreground, saying each migration as it starts and ends
//! (with a bar per running migration on a terminal), then what it did in all.

use std::collections::{BTreeMap, HashMap};
use std::io::IsTerminal;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ferry_engine::app::{Caller, Ferry, StatusView};
use ferry_schemas::MigrationId;

use super::super::directory::{fail, print_json};
use super::super::exit;
use super::super::session::refused;
use super::WorkerArgs;
use crate::pool::{self, Moment, Until};

/// `ferry worker`.
pub fn worker(data_dir: &Path, args: WorkerArgs) -> Result<u8, u8> {
    if super::super::backend::local_server(data_dir).is_some() {
        return Err(fail(
            "a `ferry serve` holds this data directory and runs its workers already",
            exit::CONFLICT,
        ));
    }
    let ferry = super::super::session::open_app(data_dir)?;
    if args.act_as.user.is_some() {
        return Err(fail(
            "workers act for the migrations they run, not for a user: run `ferry worker` without --as (or FERRY_AS)",
            exit::INVALID_INPUT,
        ));
    }
    let executor = ferry.executor().map_err(refused)?;
    // On Kafka, workers on many machines share the migrations through the workers' group.
    let (share, joined) = pool::share_of(ferry.data_dir(), Duration::from_secs(30))
        .map_err(|e| fail(&e.to_string(), exit::FAILURE))?;
    if let (Some(joined), false) = (joined, args.json) {
        say!("{joined}");
    }
    let until = if args.until_idle {
        Until::Idle
    } else {
        Until::Shutdown
    };
    let progress = Arc::new(Progress::new(ferry, args.json));
    let observer = {
        let progress = progress.clone();
        Arc::new(move |moment| progress.observe(moment)) as pool::Observer
    };
    pool::run_blocking(executor, share, args.workers, until, observer)
        .map_err(|e| fail(&e.to_string(), exit::FAILURE))?;
    let ended = progress.ended();
    if args.json {
        print_json(&serde_json::json!({ "migrations": ended }));
    } else {
        let mut states: BTreeMap<&str, usize> = BTreeMap::new();
        for view in &ended {
            *states.entry(view.state.as_str()).or_default() += 1;
        }
        let states: Vec<String> = states.iter().map(|(s, n)| format!("{n} {s}")).collect();
        match ended.len() {
            0 => say!("nothing to run"),
            n => say!("ran {n} migration(s): {}", states.join(", ")),
        }
    }
    Ok(exit::OK)
}

/// What the worker has said of the migrations it ran.
struct Progress {
    ferry: Ferry,
    quiet: bool,
    bars: Option<indicatif::MultiProgress>,
    running: Mutex<HashMap<MigrationId, Option<indicatif::ProgressBar>>>,
    /// Each migration's results as it was last put down.
    ended: Mutex<BTreeMap<MigrationId, StatusView>>,
}

impl Progress {
    fn new(ferry: Ferry, quiet: bool) -> Progress {
        let bars = (!quiet && std::io::stderr().is_terminal()).then(indicatif::MultiProgress::new);
        Progress {
            ferry,
            quiet,
            bars,
            running: Mutex::new(HashMap::new()),
            ended: Mutex::new(BTreeMap::new()),
        }
    }

    fn view(&self, id: MigrationId) -> Option<StatusView> {
        self.ferry.status(&Caller::Operator, id).ok()
    }

    /// A line on standard output, above the bars.
    fn say(&self, line: String) {
        match &self.bars {
            Some(bars) => bars.suspend(|| say!("{line}")),
            None => say!("{line}"),
        }
    }

    fn observe(&self, moment: Moment) {
        match moment {
            Moment::Stepped {
                migration,
                first: true,
            } => {
                let Some(view) = self.view(migration) else {
                    return;
                };
                let bar = self.bars.as_ref().map(|bars| {
                    let bar = bars.add(indicatif::ProgressBar::new(view.items.len() as u64));
                    bar.set_style(
                        indicatif::ProgressStyle::with_template(
                            "{prefix} [{bar:30}] {pos}/{len} item(s)",
                        )
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                    );
                    bar.set_prefix(ferry_engine::untrusted::neutralise(&view.package).into_owned());
                    bar.set_position(settled(&view));
                    bar
                });
                self.running
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(migration, bar);
                if !self.quiet {
                    self.say(format!(
                        "{migration} {:?} into {}: {}, {} item(s)",
                        view.package,
                        view.environment_name,
                        view.state,
                        view.items.len()
                    ));
                }
            }
            Moment::Stepped { migration, .. } => {
                let running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(Some(bar)) = running.get(&migration) {
                    bar.inc(1);
                }
            }
            Moment::Ended(migration) => {
                let bar = self
                    .running
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&migration)
                    .flatten();
                if let Some(bar) = bar {
                    bar.finish_and_clear();
                }
                let Some(view) = self.view(migration) else {
                    return;
                };
                if !self.quiet {
                    self.say(format!("{migration} {}", ended_line(&view)));
                }
                self.ended
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(migration, view);
            }
        }
    }

    /// The migrations put down, by id, as they last stood.
    fn ended(&self) -> Vec<StatusView> {
        let ended = self.ended.lock().unwrap_or_else(PoisonError::into_inner);
        ended.values().cloned().collect()
    }
}

/// Items whose step is behind them.
fn settled(view: &StatusView) -> u64 {
    view.items.iter().filter(|i| i.outcome != "pending").count() as u64
}

/// `"Expenses" into cust/prod: completed, 7 item(s): 5 created, 2 bound`.
fn ended_line(view: &StatusView) -> String {
    let mut outcomes: BTreeMap<&str, usize> = BTreeMap::new();
    for item in &view.items {
        *outcomes.entry(item.outcome.as_str()).or_default() += 1;
    }
    let outcomes: Vec<String> = outcomes.iter().map(|(o, n)| format!("{n} {o}")).collect();
    let state = match &view.error_code {
        Some(code) => format!("{} ({code})", view.state),
        None if view.state == "running" => {
            "stopped between steps; the next worker resumes it".into()
        }
        None => view.state.clone(),
    };
    format!(
        "{:?} into {}: {state}, {} item(s): {}",
        view.package,
        view.environment_name,
        view.items.len(),
        outcomes.join(", ")
    )
}
