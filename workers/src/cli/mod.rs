//! The `ferry` command line: one file per command group.

mod directory;
mod init;
mod package;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Ferry moves apps and their dependent resources between environments and tenants through
/// packages, recording every step on a durable, verifiable log.
#[derive(Debug, Parser)]
#[command(name = "ferry", version, about, long_about = None)]
struct Cli {
    /// The data directory (embedded default: Ferry's log lives here).
    #[arg(
        long,
        global = true,
        env = "FERRY_DATA_DIR",
        default_value = "ferry-data"
    )]
    data_dir: PathBuf,
    #[command(subcommand)]
    command: Command,
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
    /// Give a user a role on an environment or tenant.
    Grant(directory::grant::Args),
    /// Take a role away from a user.
    Revoke(directory::grant::Args),
    /// Read and check packages (legacy export packages and solution zips).
    #[command(subcommand)]
    Package(package::Command),
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
}

/// Parses the arguments, runs the command and returns its exit code.
pub fn main() -> ExitCode {
    init_logging();
    let cli = Cli::parse();
    let data_dir = cli.data_dir.as_path();
    let code = match cli.command {
        Command::Init { json } => init::run(data_dir, json),
        Command::Tenant(command) => either(directory::tenant::run(data_dir, command)),
        Command::Env(command) => either(directory::env::run(data_dir, command)),
        Command::User(command) => either(directory::user::run(data_dir, command)),
        Command::Grant(args) => either(directory::grant::run(data_dir, args, false)),
        Command::Revoke(args) => either(directory::grant::run(data_dir, args, true)),
        Command::Package(command) => package::run(command),
    };
    ExitCode::from(code)
}

/// Commands report an exit code either way; `Err` carries the code of a failure already
/// explained on stderr.
fn either(result: Result<u8, u8>) -> u8 {
    result.unwrap_or_else(|code| code)
}

/// Diagnostics (recoveries, failed fsyncs) go to stderr as structured lines; `FERRY_LOG`
/// sets the filter (default `warn`), e.g. `FERRY_LOG=ferry_engine=debug`.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FERRY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
