//! The `ferry` command line: one file per command group.

mod package;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Ferry moves apps and their dependent resources between environments and tenants through
/// packages, recording every step on a durable, verifiable log.
#[derive(Debug, Parser)]
#[command(name = "ferry", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
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
    /// The input is invalid: a bad package, a bad argument.
    pub const INVALID_INPUT: u8 = 2;
}

/// Parses the arguments, runs the command and returns its exit code.
pub fn main() -> ExitCode {
    init_logging();
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Package(command) => package::run(command),
    };
    ExitCode::from(code)
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
