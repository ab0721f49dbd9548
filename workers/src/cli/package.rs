//! `ferry package ...`: read and check packages (legacy export packages and Dataverse
//! solution zips) without importing them.
//!
//! Exit codes: 0 valid; 2 invalid package or missing file (the input is at fault); 1 any other
//! I/O failure. Errors go to stderr as `error: ...` followed by a `hint: ...` line.

mod render;

use std::io::Write;
use std::path::{Path, PathBuf};

use ferry_engine::package::{self, inspect::Report, Limits};

use super::{exit, report};
use ferry_engine::app::Kind;

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
    /// Make a package signing key: writes its secret to a file only you can read and prints
    /// the public key, which `ferry trust add` takes.
    Keygen {
        /// Where to write the secret key (refused if something is there).
        #[arg(long)]
        out: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Sign a package: an ed25519 signature over its checksums (which cover every entry), in
    /// Ferry's own folder of the zip; other readers ignore it.
    Sign {
        /// The package zip.
        zip: PathBuf,
        /// The secret key file (`ferry package keygen`).
        #[arg(long)]
        key: PathBuf,
        /// Where to write the signed package (default: replace the package).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a package command and returns its exit code.
pub fn run(command: Command) -> u8 {
    match command {
        Command::Inspect { zip, json } => inspect(&zip, json),
        Command::Keygen { out, json } => either(keygen(&out, json)),
        Command::Sign {
            zip,
            key,
            out,
            json,
        } => either(sign(&zip, &key, out.as_deref().unwrap_or(&zip), json)),
    }
}

fn either(result: Result<u8, u8>) -> u8 {
    result.unwrap_or_else(|code| code)
}

fn keygen(out: &Path, json: bool) -> Result<u8, u8> {
    use std::os::unix::fs::OpenOptionsExt;
    let (secret, public) = package::signature::keygen()
        .map_err(|e| super::directory::fail(&format!("cannot make a key: {e}"), exit::FAILURE))?;
    // Never over something that is there: a key lost by overwriting is a key lost.
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)
        .and_then(|mut file| {
            file.write_all(format!("{secret}\n").as_bytes())?;
            file.sync_all()
        });
    if let Err(e) = written {
        return Err(super::directory::fail(
            &format!("cannot write the key to {}: {e}", out.display()),
            exit::INVALID_INPUT,
        ));
    }
    if json {
        super::directory::print_json(&serde_json::json!({
            "public_key": public, "key_file": out.display().to_string(),
        }));
    } else {
        say!("{public}");
        eprintln!(
            "wrote the secret key to {} (keep it safe); trust the public key above with `ferry trust add <tenant>/<environment> {public} --name <name>`",
            out.display()
        );
    }
    Ok(exit::OK)
}

/// Signs the package bytes with the key in `key_file`.
pub(super) fn signed(bytes: &[u8], key_file: &Path) -> Result<(Vec<u8>, String), u8> {
    let text = super::input::read_text(key_file, super::input::SIGNING_KEY)?;
    let key = package::signature::signing_key(&text).ok_or_else(|| {
        super::directory::fail(
            &format!(
                "{} is not a signing key (64 hex digits, as `ferry package keygen` writes)",
                key_file.display()
            ),
            exit::INVALID_INPUT,
        )
    })?;
    let signed = package::signature::sign(bytes, &key).map_err(|e| {
        super::directory::fail(
            &ferry_engine::untrusted::bounded(format!("cannot sign: {e}")),
            exit::INVALID_INPUT,
        )
    })?;
    Ok((signed, package::signature::public_key(&key)))
}

fn sign(zip: &Path, key_file: &Path, out: &Path, json: bool) -> Result<u8, u8> {
    let bytes = super::input::read(zip, super::input::PACKAGE)?;
    let (signed, public) = signed(&bytes, key_file)?;
    super::output::write(out, &signed)?;
    let digest = ferry_schemas::Digest::of(&signed).to_string();
    if json {
        super::directory::print_json(&serde_json::json!({
            "package": out.display().to_string(), "signer": public, "sha256": digest,
        }));
    } else {
        say!(
            "signed {} with key {public} (sha256 {digest})",
            out.display()
        );
    }
    Ok(exit::OK)
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
    if error.is_invalid_input() {
        let hint = format!(
            "{} is not a package Ferry can read; check it is the zip you meant, or export it again from the source environment",
            path.display()
        );
        report::error(
            Kind::InvalidInput,
            "package-invalid",
            &said,
            Some(&hint),
            exit::INVALID_INPUT,
        )
    } else {
        let hint = "check that the file is readable, then run the command again";
        report::error(
            Kind::Internal,
            "unreadable",
            &said,
            Some(hint),
            exit::FAILURE,
        )
    }
}
