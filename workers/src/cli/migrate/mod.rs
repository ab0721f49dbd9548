//! The import path: `ferry import`, `review`, `answer`, `start`, `status`, `publish`, and
//! `ferry worker`, which runs the pool in the foreground.

mod render;
mod worker;

pub use worker::worker;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ferry_engine::app::{ImportFilter, ImportRequest, ReviewView, StatusView};

use super::backend;
use super::directory::{fail, print_json, Qualified};
use super::exit;
use super::session::{migration_id, refused, ActAs};
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

/// `ferry cancel`.
#[derive(Debug, clap::Args)]
pub struct CancelArgs {
    /// The import migration's id.
    migration: String,
    #[command(flatten)]
    act_as: ActAs,
    /// Why, for the audit log.
    #[arg(long, default_value = "")]
    reason: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// `ferry promote`.
#[derive(Debug, clap::Args)]
pub struct PromoteArgs {
    /// The dry run's migration id.
    migration: String,
    #[command(flatten)]
    act_as: ActAs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// `ferry status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The import migration's id; without it, the imports, newest first.
    migration: Option<String>,
    /// Show the source → target identity map.
    #[arg(long)]
    map: bool,
    /// Only imports into this tenant's environments.
    #[arg(long, conflicts_with = "migration")]
    tenant: Option<ferry_schemas::directory::Name>,
    /// Only imports into this environment.
    #[arg(long = "env", value_name = "TENANT/ENV", conflicts_with = "migration")]
    environment: Option<Qualified>,
    /// Only imports in this state: in-review, running, rolling-back, completed, rolled-back,
    /// cancelled, failed.
    #[arg(long, conflicts_with = "migration")]
    state: Option<String>,
    /// Only imports requested within this long (`90m`, `12h`, `7d`) or since this time
    /// (RFC 3339).
    #[arg(long, value_parser = parse_since, conflicts_with = "migration")]
    since: Option<chrono::DateTime<chrono::Utc>>,
    /// At most this many (default 100).
    #[arg(long, conflicts_with = "migration")]
    limit: Option<usize>,
    /// The next page: imports older than this one (the last one listed).
    #[arg(long, value_name = "MIGRATION", conflicts_with = "migration")]
    before: Option<String>,
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
    /// Refused: workers act for the migrations they run (kept so `FERRY_AS` is not ignored).
    #[command(flatten)]
    act_as: ActAs,
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
    let text = super::input::read_text(path, super::input::ANSWERS)?;
    let bad = |reason: String| {
        fail(
            &format!("answers file {}: {reason}", path.display()),
            exit::INVALID_INPUT,
        )
    };
    let mut table: BTreeMap<String, toml::Value> =
        toml::from_str(&text).map_err(|e| bad(ferry_engine::untrusted::toml_error(&e, &text)))?;
    if let Some(toml::Value::Table(nested)) = table.remove("answers") {
        table.extend(nested);
    }
    table
        .into_iter()
        // An item left "" (as the answers template leaves them) is not answered.
        .filter(|(_, value)| value.as_str() != Some(""))
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

/// Prints a review and returns its exit code: blocked while items need input.
fn print_review(view: &ReviewView, json_out: bool) -> u8 {
    if json_out {
        print_json(view);
    } else {
        render::review(view);
    }
    if view.pending == 0 {
        exit::OK
    } else {
        exit::BLOCKED
    }
}

/// `ferry import`.
pub fn import(data_dir: &Path, args: ImportArgs) -> Result<u8, u8> {
    let package = super::input::read(&args.package, super::input::PACKAGE)?;
    let answers = match &args.answers {
        Some(path) => answers_file(path)?,
        None => Vec::new(),
    };
    let backend = backend::open(data_dir, &args.act_as)?;
    let view = backend
        .import(ImportRequest {
            package,
            into: args.into,
            dry_run: args.dry_run,
            answers,
            idempotency_key: None,
        })
        .map_err(|e| match e.code.as_ref() {
            "package-invalid" | "solution-not-supported" => fail(
                &format!("{}: {}", args.package.display(), e.message),
                exit::INVALID_INPUT,
            ),
            _ => refused(e),
        })?;
    Ok(print_review(&view, args.json))
}

/// `ferry review`.
pub fn review(data_dir: &Path, migration: &str, act_as: &ActAs, json_out: bool) -> Result<u8, u8> {
    let id = migration_id(migration)?;
    let view = backend::open(data_dir, act_as)?.review(id)?;
    Ok(print_review(&view, json_out))
}

/// `ferry review <migration> --answers-template`: the skeleton, printed as it is (TOML: its
/// strings are escaped, its comments one line each).
pub fn answers_template(data_dir: &Path, migration: &str, act_as: &ActAs) -> Result<u8, u8> {
    let id = migration_id(migration)?;
    let template = backend::open(data_dir, act_as)?.answers_template(id)?;
    print!("{}", template.toml);
    Ok(exit::OK)
}

/// `ferry answer`.
pub fn answer(data_dir: &Path, args: AnswerArgs) -> Result<u8, u8> {
    let id = migration_id(&args.migration)?;
    let mut answers = args
        .answers
        .iter()
        .map(|a| parse_answer(a))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(path) = &args.answers_file {
        answers.extend(answers_file(path)?);
    }
    let view = backend::open(data_dir, &args.act_as)?.answer(id, &answers)?;
    Ok(print_review(&view, args.json))
}

/// `ferry start`.
pub fn start(data_dir: &Path, args: StartArgs) -> Result<u8, u8> {
    let id = migration_id(&args.migration)?;
    let backend = backend::open(data_dir, &args.act_as)?;
    backend.start(id, args.atomic)?;
    if !args.wait {
        if args.json {
            print_json(&serde_json::json!({"migration": id, "state": "running"}));
        } else if backend.is_remote() {
            say!("started import {id}; the server's workers run it, `ferry status {id}` shows its results");
        } else {
            say!("started import {id}; `ferry worker --until-idle` runs it, `ferry status {id}` shows its results");
        }
        return Ok(exit::OK);
    }
    if let Some(ferry) = backend.local() {
        let executor = ferry.executor().map_err(refused)?;
        let (share, quiet) = (pool::everything(), pool::unobserved());
        pool::run_blocking(executor, share, args.workers, Until::Done(id), quiet)
            .map_err(|e| fail(&e.to_string(), exit::FAILURE))?;
    }
    let view = backend.wait(id)?;
    Ok(print_status(&view, false, args.json))
}

/// `ferry cancel`.
pub fn cancel(data_dir: &Path, args: CancelArgs) -> Result<u8, u8> {
    let id = migration_id(&args.migration)?;
    let view = backend::open(data_dir, &args.act_as)?.cancel(id, &args.reason)?;
    if args.json {
        print_json(&view);
    } else if view.state == "rolling back" {
        say!("cancelled import {id}; it is atomic: the workers undo what it applied, `ferry status {id}` follows it");
    } else {
        say!("cancelled import {id}; what it applied stays (`ferry status {id}` lists it)");
    }
    Ok(exit::OK)
}

/// `ferry promote`.
pub fn promote(data_dir: &Path, args: PromoteArgs) -> Result<u8, u8> {
    let id = migration_id(&args.migration)?;
    let view = backend::open(data_dir, &args.act_as)?.promote(id)?;
    if !args.json {
        say!("dry run {id} promoted to import {}", view.migration);
    }
    Ok(print_review(&view, args.json))
}

/// Prints a results page and returns its exit code.
fn print_status(view: &StatusView, map: bool, json_out: bool) -> u8 {
    if json_out {
        print_json(view);
    } else {
        render::status(view, map);
    }
    if view.failed() {
        exit::FAILURE
    } else if view.blocked() {
        exit::BLOCKED
    } else {
        exit::OK
    }
}

/// `ferry status`.
pub fn status(data_dir: &Path, args: StatusArgs) -> Result<u8, u8> {
    let id = args.migration.as_deref().map(migration_id).transpose()?;
    let backend = backend::open(data_dir, &args.act_as)?;
    if let Some(id) = id {
        let view = backend.status(id)?;
        return Ok(print_status(&view, args.map, args.json));
    }
    let filter = ImportFilter {
        tenant: args.tenant,
        environment: args.environment,
        state: args.state.map(|s| s.replace('-', " ")),
        since: args.since,
        before: args.before.as_deref().map(migration_id).transpose()?,
        limit: args.limit,
    };
    let list = backend.imports(&filter)?;
    if args.json {
        print_json(&list);
    } else {
        render::imports(&list);
        let limit = filter.limit.unwrap_or(ferry_engine::app::DEFAULT_IMPORTS);
        if let Some(last) = list.last().filter(|_| list.len() == limit) {
            say!(
                "more: ferry status --before {} (with the same filters)",
                last.migration
            );
        }
    }
    Ok(exit::OK)
}

/// `--since`: a time (RFC 3339), or a span back from now (`90m`, `12h`, `7d`).
fn parse_since(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&chrono::Utc));
    }
    let span = super::span::span(text).map_err(|_| {
        format!("{text:?} is neither a time (RFC 3339) nor a span like 90m, 12h or 7d")
    })?;
    super::clock_now()
        .checked_sub_signed(span)
        .ok_or_else(|| format!("{text:?} reaches back too far"))
}

/// `ferry publish`.
pub fn publish(data_dir: &Path, args: PublishArgs) -> Result<u8, u8> {
    let backend = backend::open(data_dir, &args.act_as)?;
    let published = if let Ok(environment) = args.target.parse::<Qualified>() {
        let reference = args.app.as_deref().ok_or_else(|| {
            fail(
                "publishing in an environment needs --app <id or name>",
                exit::INVALID_INPUT,
            )
        })?;
        vec![backend.publish(&environment, reference)?]
    } else {
        let id = migration_id(&args.target)?;
        backend.publish_import(id)?
    };
    if args.json {
        print_json(&published);
    } else {
        for p in &published {
            say!("published {:?} ({}) as version {}", p.name, p.id, p.version);
        }
    }
    Ok(exit::OK)
}
