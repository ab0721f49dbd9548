//! How a command says it failed: `error: …` on stderr, or — when the command was asked for
//! `--json` — one JSON object there, `{"error": {"code", "kind", "message", "hint"}}`, so a
//! script reads failures the way it reads answers. Exit codes are the same either way.

use std::sync::atomic::{AtomicBool, Ordering};

use ferry_engine::app::Kind;
use serde_json::json;

use super::exit;

static JSON: AtomicBool = AtomicBool::new(false);

/// Whether the command line asked for `--json` (at any level of its subcommands).
pub fn wants_json(matches: &clap::ArgMatches) -> bool {
    let here = matches
        .try_get_one::<bool>("json")
        .ok()
        .flatten()
        .copied()
        .unwrap_or(false);
    here || matches.subcommand().is_some_and(|(_, sub)| wants_json(sub))
}

/// Errors from now on are JSON objects (`on`) or text.
pub fn errors_as_json(on: bool) {
    JSON.store(on, Ordering::Relaxed);
}

/// Says the failure `message` (of `kind`, stable `code`, with what to run next) and returns
/// `exit_code`.
pub fn error(kind: Kind, code: &str, message: &str, hint: Option<&str>, exit_code: u8) -> u8 {
    if JSON.load(Ordering::Relaxed) {
        let object = json!({ "error": {
            "code": code,
            "kind": kind.as_str(),
            "message": message,
            "hint": hint,
        }});
        eprintln!("{object}");
    } else {
        let text = match hint {
            Some(hint) => format!("{message}; {hint}"),
            None => message.to_owned(),
        };
        eprintln!("error: {}", ferry_engine::untrusted::neutralise(&text));
    }
    exit_code
}

/// The kind of a failure known only by its exit code (the command line's own: a file that
/// does not read, a flag that does not fit).
pub fn kind_of(exit_code: u8) -> Kind {
    match exit_code {
        exit::INVALID_INPUT => Kind::InvalidInput,
        exit::BLOCKED => Kind::NeedsInput,
        exit::DENIED => Kind::Denied,
        exit::CONFLICT => Kind::Conflict,
        exit::TAMPERED => Kind::Tampered,
        _ => Kind::Internal,
    }
}
