//! The `ferry` command line: one file per command group.

/// `println!` for human output: control characters and bidirectional overrides in it are
/// shown as escapes (`engine::untrusted::neutralise`), since package-, file- and user-named
/// text is printed in tables and reviews. JSON goes through `print_json`, exact.
macro_rules! say {
    () => {
        println!()
    };
    ($($arg:tt)*) => {
        println!("{}", ferry_engine::untrusted::neutralise(&format!($($arg)*)))
    };
}

mod audit;
mod backend;
mod bench;
mod demo;
mod directory;
mod env_show;
mod export;
mod init;
mod input;
mod migrate;
mod output;
mod package;
mod provision;
mod rebuild;
mod report;
mod resource;
mod serve;
mod session;
mod span;
mod table;
mod token;
mod trust;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// Ferry moves apps and their dependent resources between environments and tenants through
/// packages, recording every step on a durable, verifiable log.
#[derive(Debug, Parser)]
#[command(name = "ferry", version, about, long_about = None)]
struct Cli {
    /// The data directory: the embedded log, or this process's cache of the Kafka log; with
    /// the blobs, the secrets and the audit key.
    #[arg(
        long,
        global = true,
        env = "FERRY_DATA_DIR",
        default_value = "ferry-data"
    )]
    data_dir: PathBuf,
    #[command(flatten)]
    log: LogArgs,
    /// Run the command through this Ferry server (`http://host:port`) instead of a local data
    /// directory; it needs --token. A server holding --data-dir on this machine is used by
    /// itself.
    #[arg(long, global = true, env = "FERRY_SERVER", value_name = "URL")]
    server: Option<String>,
    /// The bearer token proving who you are to --server (`ferry token create`).
    #[arg(
        long,
        global = true,
        env = "FERRY_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    token: Option<String>,
    /// Diagnostics on stderr as `text` or structured `json` lines (one object per line).
    #[arg(
        long,
        global = true,
        env = "FERRY_LOG_FORMAT",
        value_enum,
        default_value = "text",
        value_name = "FORMAT"
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

/// How diagnostics are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Where the log lives; overrides `[log]` in the data directory's `ferry.toml`.
#[derive(Debug, Clone, clap::Args)]
struct LogArgs {
    /// The log: `embedded` (a file in the data directory) or `kafka` (shared by processes on
    /// several machines; the data directory is then a local cache). Overrides `[log]` in the
    /// data directory's `ferry.toml`.
    #[arg(
        long = "log",
        global = true,
        env = "FERRY_LOG",
        value_enum,
        value_name = "KIND"
    )]
    log_kind: Option<LogKindArg>,
    /// Kafka bootstrap brokers, `host:port[,host:port…]`.
    #[arg(
        long = "brokers",
        global = true,
        env = "FERRY_BROKERS",
        value_name = "HOST:PORT,…"
    )]
    log_brokers: Option<String>,
    /// Prefix of Ferry's Kafka topic names (default `ferry.`): `<prefix>log`, `<prefix>blobs`,
    /// `<prefix>work`.
    #[arg(
        long = "topic-prefix",
        global = true,
        env = "FERRY_TOPIC_PREFIX",
        value_name = "PREFIX"
    )]
    log_topic_prefix: Option<String>,
    /// How long a command waits for a first answer from the Kafka brokers before it says they
    /// cannot be reached: `30s`, `2m` (default 10s). A running worker or server rides out a
    /// broker's restart regardless.
    #[arg(
        long = "broker-timeout",
        global = true,
        env = "FERRY_BROKER_TIMEOUT",
        value_name = "SPAN",
        value_parser = broker_timeout
    )]
    log_broker_timeout: Option<u64>,
}

/// `--broker-timeout`'s span, in whole seconds.
fn broker_timeout(text: &str) -> Result<u64, String> {
    let span = span::span(text)?;
    u64::try_from(span.num_seconds())
        .ok()
        .filter(|s| *s > 0)
        .ok_or_else(|| format!("{text:?} is under a second; give seconds at least, like 30s"))
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogKindArg {
    Embedded,
    Kafka,
}

impl LogArgs {
    fn settings(&self) -> ferry_engine::data_dir::LogSettings {
        use ferry_engine::data_dir::LogKind;
        ferry_engine::data_dir::LogSettings {
            kind: self.log_kind.map(|kind| match kind {
                LogKindArg::Embedded => LogKind::Embedded,
                LogKindArg::Kafka => LogKind::Kafka,
            }),
            brokers: self.log_brokers.clone(),
            topic_prefix: self.log_topic_prefix.clone(),
            broker_timeout_secs: self.log_broker_timeout,
            properties: Default::default(),
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the data directory (idempotent).
    Init {
        /// Print JSON instead of a sentence.
        #[arg(long)]
        json: bool,
    },
    /// Tenants: the isolation boundary.
    #[command(subcommand)]
    Tenant(directory::tenant::Command),
    /// Environments of a tenant.
    #[command(subcommand)]
    Env(directory::env::Command),
    /// Users (principals) of a tenant, with their licenses.
    #[command(subcommand)]
    User(directory::user::Command),
    /// Bearer tokens for the API: create (shown once), list, revoke.
    #[command(subcommand)]
    Token(token::Command),
    /// Package signing keys an environment trusts (`ferry env policy` requires them).
    #[command(subcommand)]
    Trust(trust::Command),
    /// Give a user a role on an environment or tenant.
    Grant(directory::grant::Args),
    /// Take a role away from a user.
    Revoke(directory::grant::Args),
    /// Read and check packages (legacy export packages and solution zips).
    #[command(subcommand)]
    Package(package::Command),
    /// Apps: create from a canvas document, or save a draft.
    #[command(subcommand)]
    App(resource::AppCommand),
    /// Flows: create from a definition file.
    #[command(subcommand)]
    Flow(FlowCommand),
    /// Connectors (standard or custom): register in an environment.
    #[command(subcommand)]
    Connector(ConnectorCommand),
    /// Connections: a connector plus an account and credentials.
    #[command(subcommand)]
    Connection(ConnectionCommand),
    /// On-premises data gateways.
    #[command(subcommand)]
    Gateway(GatewayCommand),
    /// See an environment's contents.
    #[command(subcommand)]
    Resource(resource::ResourceCommand),
    /// Export an app and everything it depends on as a package.
    Export(export::Args),
    /// Import a package into an environment: stores it, reviews it, records answers.
    Import(migrate::ImportArgs),
    /// Show an import's review: every item, what it needs, the candidates in the target.
    Review {
        /// The import migration's id.
        migration: String,
        #[command(flatten)]
        act_as: session::ActAs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Print an answers file to fill in instead (TOML: every item that needs input, with
        /// its connector and candidates as comments), for `ferry answer --answers-file`.
        #[arg(long, conflicts_with = "json")]
        answers_template: bool,
    },
    /// Answer review items of an import.
    Answer(migrate::AnswerArgs),
    /// Start an import once every item is answered.
    Start(migrate::StartArgs),
    /// Cancel an import in review or running (it stops at its next step; an atomic one
    /// undoes what it applied).
    Cancel(migrate::CancelArgs),
    /// Make a dry run a real import with its answers (the dry run is cancelled).
    Promote(migrate::PromoteArgs),
    /// An import's results (or every import's state).
    Status(migrate::StatusArgs),
    /// Publish the drafts an import created, or one app's draft.
    Publish(migrate::PublishArgs),
    /// One package into many target environments, in waves, resumable; `provision status`.
    Provision(provision::Args),
    /// Measure provisioning, appends and verification, each against a baseline in the same run.
    Bench(bench::Args),
    /// Drop the saved projections and rebuild them from the log (operator; opening does it by
    /// itself when they do not match the log).
    Rebuild(rebuild::Args),
    /// For auditors: the audit trail, verification, checkpoints, replay, bundles.
    #[command(subcommand)]
    Audit(audit::Command),
    /// Serve the HTTP API, keep the projections live and run the workers, in one process.
    Serve(serve::Args),
    /// Run the worker pool in the foreground; it first resumes every unfinished migration.
    Worker(migrate::WorkerArgs),
    /// Run the product's scenario on a fresh data directory and narrate it: a vendor exports
    /// an app, a customer imports it, then an update lands as a draft and is published.
    Demo(demo::Args),
}

/// `ferry flow create`.
#[derive(Debug, Subcommand)]
enum FlowCommand {
    /// Create a flow from a definition file.
    Create(resource::FlowArgs),
}

/// `ferry connector create`.
#[derive(Debug, Subcommand)]
enum ConnectorCommand {
    /// Register a connector in an environment.
    Create(resource::ConnectorArgs),
}

/// `ferry connection create`.
#[derive(Debug, Subcommand)]
enum ConnectionCommand {
    /// Create a connection.
    Create(resource::ConnectionArgs),
}

/// `ferry gateway create`.
#[derive(Debug, Subcommand)]
enum GatewayCommand {
    /// Register a gateway.
    Create(resource::GatewayArgs),
}

/// Exit codes scripts can rely on.
pub mod exit {
    /// The command did what was asked.
    pub const OK: u8 = 0;
    /// Something failed that is not the input's fault (I/O, a bug).
    pub const FAILURE: u8 = 1;
    /// The input is invalid: a bad package, a bad argument, something that does not exist.
    pub const INVALID_INPUT: u8 = 2;
    /// The command needs input first (an import item awaits an answer).
    pub const BLOCKED: u8 = 3;
    /// The acting user lacks the license or grant the command needs.
    pub const DENIED: u8 = 4;
    /// The command conflicts with what exists (a name taken, a concurrent change).
    pub const CONFLICT: u8 = 5;
    /// Verification failed: the log, a bundle or a replay does not check out.
    pub const TAMPERED: u8 = 6;
}

/// Parses the arguments, runs the command and returns its exit code.
pub fn main() -> ExitCode {
    exit_quietly_on_broken_pipe();
    let matches = Cli::command().get_matches();
    let explicit_data_dir = matches
        .value_source("data_dir")
        .is_some_and(|source| source != clap::parser::ValueSource::DefaultValue);
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    report::errors_as_json(report::wants_json(&matches));
    init_logging(cli.log_format, matches!(cli.command, Command::Serve(_)));
    if let Command::Demo(args) = &cli.command {
        directory::use_log(cli.log.settings());
        let data_dir = explicit_data_dir.then_some(cli.data_dir.as_path());
        return ExitCode::from(either(demo::run(data_dir, args)));
    }
    ExitCode::from(run(cli))
}

/// Runs `ferry <args>` in this process, as the demo does: the same code paths as the binary.
fn run_args<I, T>(args: I) -> Result<u8, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    Cli::try_parse_from(args).map(run)
}

fn run(cli: Cli) -> u8 {
    directory::use_log(cli.log.settings().over(&directory::log_settings()));
    backend::use_remote(backend::Remote {
        server: cli.server.clone(),
        token: cli.token.clone(),
    });
    let signs = !matches!(cli.command, Command::Bench(_) | Command::Serve(_));
    let data_dir = cli.data_dir.clone();
    let code = dispatch(cli);
    // A command that appended (whatever its exit code: a run that ended blocked appended
    // thousands of records) signs a due checkpoint; one that only read writes nothing. A
    // server signs its own.
    if signs && ferry_engine::log::appended_here() {
        audit::checkpoint_if_due(&data_dir);
    }
    code
}

fn dispatch(cli: Cli) -> u8 {
    let data_dir = cli.data_dir.as_path();
    match cli.command {
        Command::Init { json } => init::run(data_dir, json),
        Command::Tenant(command) => either(directory::tenant::run(data_dir, command)),
        Command::Env(command) => either(directory::env::run(data_dir, command)),
        Command::User(command) => either(directory::user::run(data_dir, command)),
        Command::Token(command) => either(token::run(data_dir, command)),
        Command::Trust(command) => either(trust::run(data_dir, command)),
        Command::Grant(args) => either(directory::grant::run(data_dir, args, false)),
        Command::Revoke(args) => either(directory::grant::run(data_dir, args, true)),
        Command::Package(command) => package::run(command),
        Command::App(command) => either(resource::app(data_dir, command)),
        Command::Flow(FlowCommand::Create(args)) => either(resource::flow(data_dir, args)),
        Command::Connector(ConnectorCommand::Create(args)) => {
            either(resource::connector(data_dir, args))
        }
        Command::Connection(ConnectionCommand::Create(args)) => {
            either(resource::connection(data_dir, args))
        }
        Command::Gateway(GatewayCommand::Create(args)) => either(resource::gateway(data_dir, args)),
        Command::Resource(command) => either(resource::resource(data_dir, command)),
        Command::Export(args) => either(export::run(data_dir, args)),
        Command::Import(args) => either(migrate::import(data_dir, args)),
        Command::Review {
            migration,
            act_as,
            json,
            answers_template,
        } => either(if answers_template {
            migrate::answers_template(data_dir, &migration, &act_as)
        } else {
            migrate::review(data_dir, &migration, &act_as, json)
        }),
        Command::Answer(args) => either(migrate::answer(data_dir, args)),
        Command::Start(args) => either(migrate::start(data_dir, args)),
        Command::Cancel(args) => either(migrate::cancel(data_dir, args)),
        Command::Promote(args) => either(migrate::promote(data_dir, args)),
        Command::Status(args) => either(migrate::status(data_dir, args)),
        Command::Publish(args) => either(migrate::publish(data_dir, args)),
        Command::Worker(args) => either(migrate::worker(data_dir, args)),
        Command::Serve(args) => either(serve::run(data_dir, args)),
        Command::Audit(command) => either(audit::run(data_dir, command)),
        Command::Provision(args) => either(provision::run(data_dir, args)),
        Command::Bench(args) => either(bench::run(args)),
        Command::Rebuild(args) => either(rebuild::run(data_dir, args)),
        Command::Demo(_) => either(Err(directory::fail(
            "the demo cannot run inside another command",
            exit::INVALID_INPUT,
        ))),
    }
}

/// `ferry … | head` closes the pipe early: stop quietly, as a killed-by-SIGPIPE process would
/// (exit 141), instead of reporting a panic.
fn exit_quietly_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info
            .payload_as_str()
            .is_some_and(|message| message.contains("Broken pipe"))
        {
            std::process::exit(141);
        }
        default(info);
    }));
}

/// The time now, for what a command records (decisions take time as an input).
fn clock_now() -> chrono::DateTime<chrono::Utc> {
    use ferry_engine::clock::Clock;
    ferry_engine::clock::SystemClock.now()
}

/// Commands report an exit code either way; `Err` carries the code of a failure already
/// explained on stderr.
fn either(result: Result<u8, u8>) -> u8 {
    result.unwrap_or_else(|code| code)
}

/// Diagnostics (recoveries, failed fsyncs) go to stderr as structured lines; `FERRY_TRACE`
/// sets the filter (default `warn`; `ferry serve` adds its request log at `info`), e.g.
/// `FERRY_TRACE=ferry_engine=debug`.
fn init_logging(format: LogFormat, serving: bool) {
    // sled's own warnings (a damaged store) are Ferry's to say, in its words.
    let default = if serving {
        "warn,sled=error,ferry_workers::server=info"
    } else {
        "warn,sled=error"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("FERRY_TRACE")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
