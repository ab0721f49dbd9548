//! The directory commands (`tenant`, `env`, `user`, `grant`, `revoke`) and what they share:
//! opening the data directory, running a command on the log, `<tenant>/<name>` arguments, and
//! mapping rejections to exit codes.

pub mod env;
pub mod grant;
pub mod tenant;
pub mod user;

use std::path::Path;
use std::str::FromStr;

use ferry_engine::data_dir::{self, DataDir, LogSettings};
use ferry_engine::directory::{self, Command, Rejection, State};
use ferry_engine::log::Options;
use ferry_schemas::directory::Name;
use ferry_schemas::event::Event;

use super::exit;

/// `<tenant>/<name>`, as typed on the command line.
#[derive(Clone, Debug)]
pub struct Qualified {
    /// The tenant.
    pub tenant: Name,
    /// The environment or user.
    pub name: Name,
}

impl FromStr for Qualified {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (tenant, name) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?} is not <tenant>/<name>"))?;
        Ok(Qualified {
            tenant: tenant.parse().map_err(|e| format!("{e}"))?,
            name: name.parse().map_err(|e| format!("{e}"))?,
        })
    }
}

impl std::fmt::Display for Qualified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.tenant, self.name)
    }
}

/// Prints `error: …` and returns `code`.
pub fn fail(message: &str, code: u8) -> u8 {
    eprintln!("error: {message}");
    code
}

/// The log settings of this process's command line (flags and `FERRY_*` variables), set once
/// before a command runs and applied over the data directory's `ferry.toml`.
static LOG: std::sync::RwLock<Option<LogSettings>> = std::sync::RwLock::new(None);

/// Sets the command line's log settings.
pub fn use_log(settings: LogSettings) {
    *LOG.write().unwrap_or_else(|e| e.into_inner()) = Some(settings);
}

/// The command line's log settings.
pub fn log_settings() -> LogSettings {
    LOG.read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .unwrap_or_default()
}

/// Opens the data directory, or explains why not.
pub fn open(path: &Path) -> Result<DataDir, u8> {
    DataDir::open_with(path, Options::default(), &log_settings()).map_err(|error| {
        let code = match error {
            data_dir::Error::NotInitialised { .. } => exit::INVALID_INPUT,
            _ => exit::FAILURE,
        };
        fail(&error.to_string(), code)
    })
}

/// Loads the directory as it stands.
pub fn load(dir: &DataDir) -> Result<State, u8> {
    directory::load(dir.log())
        .map(|(state, _)| state)
        .map_err(|error| fail(&error.to_string(), exit::FAILURE))
}

/// The tenant called `name`, or the refusal to print.
pub fn tenant<'a>(state: &'a State, name: &Name) -> Result<&'a directory::Tenant, u8> {
    state.tenant(name).ok_or_else(|| {
        fail(
            &format!("no tenant named {name}; `ferry tenant list` shows them"),
            exit::INVALID_INPUT,
        )
    })
}

/// Runs a directory command and returns the events it recorded.
pub fn execute(dir: &DataDir, command: Command) -> Result<Vec<Event>, u8> {
    directory::execute(dir.log(), command).map_err(|error| {
        let code = match &error {
            directory::Error::Rejected(rejection) => rejection_code(rejection),
            _ => exit::FAILURE,
        };
        fail(&error.to_string(), code)
    })
}

/// Something that already exists is a conflict; anything else refused is invalid input.
fn rejection_code(rejection: &Rejection) -> u8 {
    match rejection {
        Rejection::TenantExists(_)
        | Rejection::EnvironmentExists { .. }
        | Rejection::DefaultEnvironmentExists { .. }
        | Rejection::UserExists { .. }
        | Rejection::AlreadyGranted { .. } => exit::CONFLICT,
        _ => exit::INVALID_INPUT,
    }
}

/// Prints a JSON value on one line.
pub fn print_json(value: &serde_json::Value) {
    println!("{value}");
}
