//! The import path: `ferry import`, `review`, `answer`, `start`, `status`, `publish`, and
//! `ferry worker`, which runs the pool in the foreground.

mod render;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ferry_engine::authz;
use ferry_engine::migration::{self, Choice, Import, Outcome, Phase, Request};
use ferry_engine::package::{self, Contents as PackageContents, Limits};
use ferry_schemas::environment::Change;
use ferry_schemas::{MigrationId, PrincipalId};
use serde_json::json;

use super::clock_now;
use super::directory::{fail, print_json, Qualified};
use super::exit;
use super::resource::{publish_one, publish_resource};
use super::session::{actor, engine_error, rejected, ActAs, Session};
use crate::pool::{self, Until};

/// `ferry import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The package (a legacy export package zip).
    package: PathBuf,
    /// The target environment, `<tenant>/<environment>`.
    #[arg(long)]
    into: Qualified,
    #[command(flatten)]
    act_as: ActAs,
    /// Answers to record right away (TOML: `"<item>" = "existing:<target>"`, …).
    #[arg(long, value_name = "FILE")]
    answers: Option<PathBuf>,
    /// Review only: record the review, never apply anything.
    #[arg(long)]
    dry_run: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// `ferry answer`.
#[derive(Debug, clap::Args)]
pub struct AnswerArgs {
    /// The import migration's id.
    migration: String,
    /// `<item>=new[:<name>]|update:<target>|existing:<target>`; `<item>` is the package's
    /// resource key, or a display name unique in the package; `<target>` an id or a unique name.
    answers: Vec<String>,
    /// More answers from a TOML file (`--answers F` works too).
    #[arg(long, visible_alias = "answers", value_name = "FILE")]
    answers_file: Option<PathBuf>,
    #[command(flatten)]
    act_as: ActAs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// `ferry start`.
#[derive(Debug, clap::Args)]
pub struct StartArgs {
    /// The import migration's id.
    migration: String,
    #[command(flatten)]
    act_as: ActAs,
    /// Undo every applied step if any step fails, leaving the target as it was.
    #[arg(long)]
    atomic: bool,
    /// Run the import now, in this process, and print its results (otherwise `ferry worker`
    /// runs it).
    #[arg(long)]
    wait: bool,
    /// Workers to run with --wait.
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// `ferry status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The import migration's id; without it, every import.
    migration: Option<String>,
    /// Show the source → target identity map.
    #[arg(long)]
    map: bool,
    /// As this user: only imports into their own tenant's environments.
    #[command(flatten)]
    act_as: ActAs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// `ferry publish`.
#[derive(Debug, clap::Args)]
pub struct PublishArgs {
    /// An import migration's id (publishes the drafts it created), or `<tenant>/<environment>`
    /// with `--app`.
    target: String,
    /// With `<tenant>/<environment>`: the app or flow to publish (id or unique name).
    #[arg(long)]
    app: Option<String>,
    #[command(flatten)]
    act_as: ActAs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// `ferry worker`.
#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    /// How many migrations to run at once.
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// Exit once nothing is left to run (otherwise run until Ctrl-C).
    #[arg(long)]
    until_idle: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Answers from a TOML file: `"<item>" = "<choice>"` at the top level or under `[answers]`.
fn answers_file(path: &Path) -> Result<Vec<(String, String)>, u8> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        fail(
            &format!("cannot read answers {}: {e}", path.display()),
            exit::INVALID_INPUT,
        )
    })?;
    let bad = |reason: String| {
        fail(
            &format!("answers file {}: {reason}", path.display()),
            exit::INVALID_INPUT,
        )
    };
    let mut table: BTreeMap<String, toml::Value> =
        toml::from_str(&text).map_err(|e| bad(e.to_string()))?;
    if let Some(toml::Value::Table(nested)) = table.remove("answers") {
        table.extend(nested);
    }
    table
        .into_iter()
        .map(|(item, value)| match value {
            toml::Value::String(choice) => Ok((item, choice)),
            other => Err(bad(format!(
                "the answer to {item:?} must be a string like \"existing:<target>\", not a {}",
                other.type_str()
            ))),
        })
        .collect()
}

fn parse_answer(text: &str) -> Result<(String, String), u8> {
    text.split_once('=')
        .map(|(item, choice)| (item.trim().to_owned(), choice.trim().to_owned()))
        .ok_or_else(|| {
            fail(
                &format!("answer {text:?} is not <item>=<choice>"),
                exit::INVALID_INPUT,
            )
        })
}

/// Records each answer in turn, deciding on the migration as the previous one left it.
fn record_answers(
    session: &Session,
    id: MigrationId,
    principal: Option<PrincipalId>,
    answers: &[(String, String)],
) -> Result<(), u8> {
    for (item, text) in answers {
        let choice = Choice::parse(text).ok_or_else(|| {
            fail(
                &format!(
                    "{item}: {text:?} is not new[:<name>], update:<target> or existing:<target>"
                ),
                exit::INVALID_INPUT,
            )
        })?;
        let (import, decided) = session.read(|w| {
            let import = w.imports.get(&id).cloned();
            let decided = import
                .as_ref()
                .map(|i| migration::answer(i, item, choice, &w.contents));
            (import, decided)
        })?;
        let (Some(import), Some(decided)) = (import, decided) else {
            return Err(fail(
                &format!("no import migration {id}"),
                exit::INVALID_INPUT,
            ));
        };
        let event = decided.map_err(|r| rejected(&r))?;
        session
            .executor
            .record(id, import.version, actor(principal), &[event])
            .map_err(engine_error)?;
    }
    Ok(())
}

/// `ferry import`.
pub fn import(data_dir: &Path, args: ImportArgs) -> Result<u8, u8> {
    let limits = Limits::default();
    let bytes = std::fs::read(&args.package).map_err(|e| {
        fail(
            &format!("cannot read {}: {e}", args.package.display()),
            exit::INVALID_INPUT,
        )
    })?;
    let package = package::read(&bytes, &limits).map_err(|e| {
        fail(
            &format!(
                "{} is not a package Ferry can import: {e}",
                args.package.display()
            ),
            exit::INVALID_INPUT,
        )
    })?;
    let PackageContents::Legacy(legacy) = &package.contents else {
        return Err(fail(
            &format!(
                "{} is a Dataverse solution; Ferry imports legacy export packages (import solutions with the platform's solution import)",
                args.package.display()
            ),
            exit::INVALID_INPUT,
        ));
    };
    let items = package::review(legacy).map_err(|e| fail(&e.to_string(), exit::INVALID_INPUT))?;
    let answers = args.answers.as_deref().map(answers_file).transpose()?;
    let session = Session::open(data_dir)?;
    let environment = session.environment(&args.into)?;
    let principal = session.principal(&args.act_as)?;
    session.check_environment(principal, environment, authz::Action::Import)?;
    let digest = session
        .dir
        .blobs()
        .put(&bytes)
        .map_err(|e| fail(&e.to_string(), exit::FAILURE))?;
    let id = MigrationId::new();
    let request = Request {
        id,
        environment,
        package: digest,
        package_name: package.display_name(),
        importer: principal,
        dry_run: args.dry_run,
        requested_at: clock_now(),
        items,
    };
    let events = session.read(|w| migration::request(request, &w.contents))?;
    session
        .executor
        .record(id, 0, actor(principal), &events)
        .map_err(engine_error)?;
    if let Some(answers) = answers {
        record_answers(&session, id, principal, &answers)?;
    }
    print_review(&session, id, args.json)
}

fn print_review(session: &Session, id: MigrationId, json_out: bool) -> Result<u8, u8> {
    let (import, value) = session.read(|w| {
        let import = w.imports.get(&id).cloned();
        let value = import.as_ref().map(|i| render::review_json(i, &w.contents));
        if !json_out {
            if let Some(import) = &import {
                render::review(import, &w.contents);
            }
        }
        (import, value)
    })?;
    let import = import.ok_or_else(|| fail(&format!("no import migration {id}"), exit::FAILURE))?;
    if let (true, Some(value)) = (json_out, value) {
        print_json(&value);
    }
    Ok(if import.pending().is_empty() {
        exit::OK
    } else {
        exit::BLOCKED
    })
}

/// `ferry review`.
pub fn review(data_dir: &Path, migration: &str, json_out: bool) -> Result<u8, u8> {
    let session = Session::open(data_dir)?;
    let id = session.migration(migration)?;
    print_review(&session, id, json_out)
}

fn environment_of(session: &Session, id: MigrationId) -> Result<Import, u8> {
    session.executor.import(id).map_err(engine_error)
}

/// `ferry answer`.
pub fn answer(data_dir: &Path, args: AnswerArgs) -> Result<u8, u8> {
    let session = Session::open(data_dir)?;
    let id = session.migration(&args.migration)?;
    let principal = session.principal(&args.act_as)?;
    let import = environment_of(&session, id)?;
    session.check_environment(principal, import.environment, authz::Action::Import)?;
    let mut answers = args
        .answers
        .iter()
        .map(|a| parse_answer(a))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(path) = &args.answers_file {
        answers.extend(answers_file(path)?);
    }
    if answers.is_empty() {
        return Err(fail(
            "no answers given: pass <item>=<choice> or --answers-file",
            exit::INVALID_INPUT,
        ));
    }
    record_answers(&session, id, principal, &answers)?;
    print_review(&session, id, args.json)
}

/// `ferry start`.
pub fn start(data_dir: &Path, args: StartArgs) -> Result<u8, u8> {
    let session = Session::open(data_dir)?;
    let id = session.migration(&args.migration)?;
    let principal = session.principal(&args.act_as)?;
    let import = environment_of(&session, id)?;
    session.check_environment(principal, import.environment, authz::Action::Import)?;
    let default_environment = session.read(|w| {
        w.directory
            .environment_by_id(import.environment)
            .is_some_and(|e| e.default)
    })?;
    let event =
        migration::start(&import, args.atomic, default_environment).map_err(|r| rejected(&r))?;
    session
        .executor
        .record(id, import.version, actor(principal), &[event])
        .map_err(engine_error)?;
    if !args.wait {
        if args.json {
            print_json(&json!({"migration": id, "state": "running"}));
        } else {
            println!("started import {id}; `ferry worker --until-idle` runs it, `ferry status {id}` shows its results");
        }
        return Ok(exit::OK);
    }
    pool::run_blocking(
        session.executor.clone(),
        pool::everything(),
        args.workers,
        Until::Done(id),
    )
    .map_err(|e| fail(&e.to_string(), exit::FAILURE))?;
    print_status(&session, id, false, args.json)
}

fn print_status(session: &Session, id: MigrationId, map: bool, json_out: bool) -> Result<u8, u8> {
    let import = environment_of(session, id)?;
    if json_out {
        print_json(&render::status_json(&import));
    } else {
        render::status(&import, map);
    }
    let failed = import
        .items
        .iter()
        .any(|i| matches!(i.outcome, Some(Outcome::Failed { .. })));
    Ok(match import.phase {
        Phase::Failed { .. } => exit::FAILURE,
        _ if failed => exit::FAILURE,
        Phase::Review if !import.pending().is_empty() => exit::BLOCKED,
        _ => exit::OK,
    })
}

/// `ferry status`.
pub fn status(data_dir: &Path, args: StatusArgs) -> Result<u8, u8> {
    let session = Session::open(data_dir)?;
    let principal = session.principal(&args.act_as)?;
    // A tenant's users see their own tenant's imports, nothing of other tenants'.
    let visible = session.read(|w| {
        let tenant = principal
            .and_then(|p| w.directory.principal_by_id(p))
            .map(|p| p.tenant);
        move |w: &ferry_engine::world::World, import: &Import| {
            tenant.is_none_or(|t| {
                w.directory
                    .environment_by_id(import.environment)
                    .is_some_and(|e| e.tenant == t)
            })
        }
    })?;
    if let Some(migration) = &args.migration {
        let id = session.migration(migration)?;
        let import = environment_of(&session, id)?;
        if !session.read(|w| visible(w, &import))? {
            return Err(fail(
                &format!(
                    "permission denied: import {id} belongs to another tenant; a tenant's users see their own tenant's imports"
                ),
                exit::DENIED,
            ));
        }
        return print_status(&session, id, args.map, args.json);
    }
    let imports: Vec<Import> = session.read(|w| {
        w.imports
            .values()
            .filter(|i| visible(w, i))
            .cloned()
            .collect()
    })?;
    if args.json {
        let list: Vec<_> = imports
            .iter()
            .map(|i| {
                json!({
                    "migration": i.id, "package": i.package_name, "environment": i.environment,
                    "state": migration::phase_name(&i.phase), "pending": i.pending().len(),
                })
            })
            .collect();
        print_json(&json!(list));
    } else {
        println!(
            "{:<38} {:<14} {:<30} ITEMS",
            "MIGRATION", "STATE", "PACKAGE"
        );
        for i in &imports {
            println!(
                "{:<38} {:<14} {:<30} {}",
                i.id,
                migration::phase_name(&i.phase),
                i.package_name,
                i.items.len()
            );
        }
    }
    Ok(exit::OK)
}

/// `ferry publish`.
pub fn publish(data_dir: &Path, args: PublishArgs) -> Result<u8, u8> {
    let session = Session::open(data_dir)?;
    let principal = session.principal(&args.act_as)?;
    let mut published = Vec::new();
    if let Ok(environment) = args.target.parse::<Qualified>() {
        let reference = args.app.as_deref().ok_or_else(|| {
            fail(
                "publishing in an environment needs --app <id or name>",
                exit::INVALID_INPUT,
            )
        })?;
        let (resource, version) = publish_one(&session, &environment, reference, principal)?;
        published.push((resource.id, resource.name, version));
    } else {
        let id = session.migration(&args.target)?;
        let import = environment_of(&session, id)?;
        let drafts: Vec<_> = import
            .items
            .iter()
            .filter_map(|item| match &item.outcome {
                Some(Outcome::Applied {
                    change: Some(Change::DraftSaved(d)),
                    ..
                }) => Some(d.resource),
                _ => None,
            })
            .collect();
        if drafts.is_empty() {
            return Err(fail(
                &format!("import {id} created no drafts to publish"),
                exit::INVALID_INPUT,
            ));
        }
        for resource in drafts {
            let current = session
                .read(|w| w.contents.get(resource).cloned())?
                .ok_or_else(|| {
                    fail(
                        &format!("resource {resource} no longer exists"),
                        exit::CONFLICT,
                    )
                })?;
            let version = publish_resource(&session, &current, principal)?;
            published.push((current.id, current.name, version));
        }
    }
    if args.json {
        let list: Vec<_> = published
            .iter()
            .map(|(id, name, version)| json!({"id": id, "name": name, "version": version}))
            .collect();
        print_json(&json!(list));
    } else {
        for (id, name, version) in &published {
            println!("published {name:?} ({id}) as version {version}");
        }
    }
    Ok(exit::OK)
}

/// `ferry worker`.
pub fn worker(data_dir: &Path, args: WorkerArgs) -> Result<u8, u8> {
    let session = Session::open(data_dir)?;
    // On Kafka, workers on many machines share the migrations through the workers' group.
    let share = match session.dir.kafka() {
        None => pool::everything(),
        Some((connection, topics)) => {
            let group = ferry_engine::log::WorkGroup::join(connection, topics)
                .map_err(|e| fail(&e.to_string(), exit::FAILURE))?;
            // The first assignment takes a rebalance (seconds); judging "idle" before it
            // would stop a worker that owns work.
            let owned = group.settle(Duration::from_secs(30));
            if !args.json {
                println!(
                    "joined the workers' group {} on {}: {owned} of {} partition(s) of {}",
                    topics.group(),
                    connection.brokers(),
                    group.partitions(),
                    topics.work()
                );
            }
            let group = Arc::new(group);
            Arc::new(move |id: MigrationId| group.owns(id.to_string().as_bytes())) as pool::Share
        }
    };
    let resumed = session.executor.runnable().map_err(engine_error)?;
    if !args.json && !resumed.is_empty() {
        println!("resuming {} unfinished migration(s)", resumed.len());
    }
    let until = if args.until_idle {
        Until::Idle
    } else {
        Until::Interrupted
    };
    let summary = pool::run_blocking(session.executor.clone(), share, args.workers, until)
        .map_err(|e| fail(&e.to_string(), exit::FAILURE))?;
    if args.json {
        print_json(&json!({"migrations": summary.migrations, "steps": summary.steps}));
    } else {
        println!(
            "ran {} step(s) of {} migration(s)",
            summary.steps, summary.migrations
        );
    }
    Ok(exit::OK)
}
