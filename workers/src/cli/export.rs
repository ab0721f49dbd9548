//! `ferry export`: an app and everything it depends on, as a package.

use std::path::{Path, PathBuf};

use ferry_engine::app::{ExportRequest, ExportView};

use super::backend;
use super::directory::print_json;
use super::directory::{fail, Qualified};
use super::exit;
use super::session::ActAs;

/// `ferry export`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The source environment, `<tenant>/<environment>`.
    environment: Qualified,
    /// The app to export (id or unique name).
    #[arg(long)]
    app: String,
    #[command(flatten)]
    act_as: ActAs,
    /// The package's display name.
    #[arg(long)]
    name: String,
    /// The package's description.
    #[arg(long, default_value = "")]
    description: String,
    /// Suggest another import action for a resource: `<resource>=new|update` (id or name).
    #[arg(long = "action", value_name = "RESOURCE=ACTION")]
    actions: Vec<String>,
    /// A comment for the importer on a resource: `<resource>=<text>`.
    #[arg(long = "comment", value_name = "RESOURCE=TEXT")]
    comments: Vec<String>,
    /// Export the app's and its flows' unpublished drafts where they have one (default: what
    /// is published, what users run).
    #[arg(long)]
    draft: bool,
    /// Where to write the package.
    #[arg(long)]
    out: PathBuf,
    /// Sign the package with this secret key (`ferry package keygen`) before writing it.
    #[arg(long, value_name = "KEY_FILE")]
    sign_key: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

fn split(text: &str, flag: &str) -> Result<(String, String), u8> {
    text.split_once('=')
        .map(|(a, b)| (a.trim().to_owned(), b.trim().to_owned()))
        .ok_or_else(|| {
            fail(
                &format!("{flag} {text:?} is not <resource>=<value>"),
                exit::INVALID_INPUT,
            )
        })
}

/// `ferry export --json`: the export and where its package went.
#[derive(serde::Serialize)]
struct Written<'a> {
    #[serde(flatten)]
    view: &'a ExportView,
    package: String,
    /// The signing key, when `--sign-key` signed it (then `sha256` is of the signed file).
    #[serde(skip_serializing_if = "Option::is_none")]
    signer: Option<String>,
}

/// `ferry export`.
pub fn run(data_dir: &Path, args: Args) -> Result<u8, u8> {
    let actions = args
        .actions
        .iter()
        .map(|a| split(a, "--action"))
        .collect::<Result<Vec<_>, _>>()?;
    let comments = args
        .comments
        .iter()
        .map(|c| split(c, "--comment"))
        .collect::<Result<Vec<_>, _>>()?;
    let backend = backend::open(data_dir, &args.act_as)?;
    let request = ExportRequest {
        environment: args.environment.clone(),
        app: args.app.clone(),
        name: args.name.clone(),
        description: args.description.clone(),
        actions,
        comments,
        idempotency_key: None,
        drafts: args.draft,
    };
    let (mut view, bytes) = backend.export(request)?;
    let (bytes, signer) = match &args.sign_key {
        Some(key) => {
            let (signed, public) = super::package::signed(&bytes, key)?;
            view.sha256 = ferry_schemas::Digest::of(&signed).to_string();
            (signed, Some(public))
        }
        None => (bytes, None),
    };
    super::output::write(&args.out, &bytes)?;
    if args.json {
        print_json(&Written {
            view: &view,
            package: args.out.display().to_string(),
            signer,
        });
    } else {
        say!(
            "exported {:?} with {} resource(s) to {} (sha256 {}, export {})",
            view.app,
            view.resources.len(),
            args.out.display(),
            view.sha256,
            view.migration
        );
        for c in &view.resources {
            say!(
                "  {:<17} {:<32} {}",
                c.kind.to_string(),
                c.name,
                c.suggested
            );
        }
        for name in &view.unpublished_drafts {
            say!("note: {name:?} has an unpublished draft; the package holds its published version (--draft exports the draft)");
        }
    }
    Ok(exit::OK)
}
