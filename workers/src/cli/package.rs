//! `ferry package ...`: read and check packages (legacy export packages and Dataverse
//! solution zips) without importing them.
//!
//! Exit codes: 0 valid; 2 invalid package or missing file (the input is at fault); 1 any other
//! I/O failure. Errors go to stderr as `error: ...` followed by a `hint: ...` line.

mod render;

use std::io::Write;
use std::path::{Path, PathBuf};

use ferry_engine::package::{self, inspect::Report, Limits};

use super::exit;

const INSPECT_HELP: &str = "\
Exit codes:
  0  the package is valid; its report is on stdout
  1  the file exists but could not be read (permissions, I/O error)
  2  the package is invalid, or the file does not exist; the reason is on stderr

The kind is decided by content (manifest.json: legacy package; solution.xml: solution),
never by the file name.";

/// Package commands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Show what a package contains: kind, name, resources with their suggested and allowed
    /// import actions, the items that need input at import, and the dependency tree.
    #[command(after_help = INSPECT_HELP)]
    Inspect {
        /// The package zip: a legacy export package or a Dataverse solution zip.
        zip: PathBuf,
        /// Print one JSON object instead of tables.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a package command and returns its exit code.
pub fn run(command: Command) -> u8 {
    match command {
        Command::Inspect { zip, json } => inspect(&zip, json),
    }
}

fn inspect(path: &Path, json: bool) -> u8 {
    let package = match package::read_file(path, &Limits::default()) {
        Ok(package) => package,
        Err(error) => return fail(path, &error),
    };
    let report = Report::new(&package);
    let output = if json {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => text + "\n",
            Err(error) => {
                eprintln!("error: cannot encode the report: {error}");
                return exit::FAILURE;
            }
        }
    } else {
        ferry_engine::untrusted::neutralise(&render::report(&report)).into_owned()
    };
    match std::io::stdout().lock().write_all(output.as_bytes()) {
        Ok(()) => exit::OK,
        Err(_) => exit::FAILURE,
    }
}

fn fail(path: &Path, error: &package::Error) -> u8 {
    let said = ferry_engine::untrusted::bounded(error.to_string());
    eprintln!("error: {}", ferry_engine::untrusted::neutralise(&said));
    if error.is_invalid_input() {
        eprintln!(
            "hint: {} is not a package Ferry can read; check it is the zip you meant, or export it again from the source environment",
            path.display()
        );
        exit::INVALID_INPUT
    } else {
        eprintln!("hint: check that the file is readable, then run the command again");
        exit::FAILURE
    }
}
