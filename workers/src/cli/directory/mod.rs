//! The directory commands (`tenant`, `env`, `user`, `grant`, `revoke`) and what they share:
//! opening the data directory, running a command on the log, `<tenant>/<name>` arguments, and
//! mapping rejections to exit codes.

pub mod env;
pub mod grant;
pub mod tenant;
pub mod user;

use std::path::Path;

use ferry_engine::data_dir::{DataDir, LogSettings};
use ferry_engine::log::Options;

pub use ferry_engine::app::Qualified;

/// Prints `error: …` and returns `code`.
pub fn fail(message: &str, code: u8) -> u8 {
    let kind = super::report::kind_of(code);
    super::report::error(kind, kind.as_str(), message, None, code)
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
    DataDir::open_with(path, Options::default(), &log_settings())
        .map_err(|error| super::session::refused(error.into()))
}

/// Prints a JSON value on one line.
pub fn print_json(value: &impl serde::Serialize) {
    match serde_json::to_string(value) {
        Ok(line) => println!("{line}"),
        Err(e) => eprintln!("error: cannot print JSON: {e}"),
    }
}
