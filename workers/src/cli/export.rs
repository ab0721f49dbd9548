//! `ferry export`: an app and everything it depends on, as a package.

use std::path::{Path, PathBuf};

use ferry_engine::authz;
use ferry_engine::export::{self, Request};
use ferry_engine::migration::Choice;
use ferry_schemas::event::{Event, ExportRequested, PackageWritten};
use ferry_schemas::resource::{Action, Kind};
use ferry_schemas::{MigrationId, ResourceId};
use serde_json::json;

use super::clock_now;
use super::directory::{fail, print_json, Qualified};
use super::exit;
use super::resource::find;
use super::session::{actor, denied, engine_error, ActAs, Session};

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
    /// Where to write the package.
    #[arg(long)]
    out: PathBuf,
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

/// `ferry export`.
pub fn run(data_dir: &Path, args: Args) -> Result<u8, u8> {
    let session = Session::open(data_dir)?;
    let env = session.environment(&args.environment)?;
    let principal = session.principal(&args.act_as)?;
    let app = session
        .read(|w| find(&w.contents, env, &[Kind::App], &args.app).cloned())?
        .map_err(|message| fail(&message, exit::INVALID_INPUT))?;
    if let Some(principal) = principal {
        session
            .read(|w| authz::export(&w.directory, principal, &app))?
            .map_err(denied)?;
    }
    let resolve = |reference: &str| -> Result<ResourceId, u8> {
        session
            .read(|w| find(&w.contents, env, &Kind::ALL, reference).map(|r| r.id))?
            .map_err(|message| fail(&message, exit::INVALID_INPUT))
    };
    let mut request = Request {
        package_name: args.name.clone(),
        description: args.description.clone(),
        migration: MigrationId::new(),
        created_time: clock_now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        source_tenant: args.environment.tenant.to_string(),
        source_environment: args.environment.to_string(),
        creator: args
            .act_as
            .user
            .as_ref()
            .map_or_else(|| "operator".to_owned(), ToString::to_string),
        ..Request::default()
    };
    for text in &args.actions {
        let (resource, action) = split(text, "--action")?;
        let action = match Choice::parse(&action) {
            Some(Choice::New(None)) => Action::New,
            _ => match Action::parse(&action) {
                Some(Action::Update) => Action::Update,
                _ => {
                    return Err(fail(
                        &format!("--action {text:?}: the action is new or update"),
                        exit::INVALID_INPUT,
                    ))
                }
            },
        };
        request.actions.insert(resolve(&resource)?, action);
    }
    for text in &args.comments {
        let (resource, comment) = split(text, "--comment")?;
        request.comments.insert(resolve(&resource)?, comment);
    }
    let blobs = session.dir.blobs().clone();
    let exported = session
        .read(|w| {
            export::write(&w.contents, &app, &request, |digest| {
                blobs.get(digest).map_err(|e| e.to_string())
            })
        })?
        .map_err(|e| {
            let code = match e {
                export::Error::Package(_) | export::Error::Document { .. } => exit::FAILURE,
                _ => exit::INVALID_INPUT,
            };
            fail(&e.to_string(), code)
        })?;
    let digest = blobs
        .put(&exported.bytes)
        .map_err(|e| fail(&e.to_string(), exit::FAILURE))?;
    write_atomically(&args.out, &exported.bytes)?;
    let mut events = vec![Event::from(ExportRequested {
        migration: request.migration,
        environment: env,
        app: app.id,
        package_name: request.package_name.clone(),
        description: request.description.clone(),
        suggested_actions: request.actions.clone(),
        comments: request.comments.clone(),
        requested_at: clock_now(),
    })];
    events.extend(exported.captured.iter().cloned().map(Event::from));
    events.push(
        PackageWritten {
            package: digest,
            size: exported.bytes.len() as u64,
            resources: u32::try_from(exported.captured.len()).unwrap_or(u32::MAX),
        }
        .into(),
    );
    session
        .executor
        .record(request.migration, 0, actor(principal), &events)
        .map_err(engine_error)?;
    if args.json {
        let resources: Vec<_> = exported
            .captured
            .iter()
            .map(|c| json!({"key": c.manifest_key, "kind": c.kind, "name": c.display_name, "suggested": c.suggested_action, "source": c.resource}))
            .collect();
        print_json(&json!({
            "migration": request.migration,
            "package": args.out.display().to_string(),
            "sha256": digest.to_string(),
            "size": exported.bytes.len(),
            "resources": resources,
        }));
    } else {
        println!(
            "exported {:?} with {} resource(s) to {} (sha256 {digest}, export {})",
            app.name,
            exported.captured.len(),
            args.out.display(),
            request.migration
        );
        for c in &exported.captured {
            println!(
                "  {:<17} {:<32} {}",
                c.kind.to_string(),
                c.display_name,
                c.suggested_action
            );
        }
    }
    Ok(exit::OK)
}

/// Writes `bytes` to `path` via a temporary file and a rename: never a half-written package.
pub(super) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), u8> {
    let failed = |e: std::io::Error| {
        fail(
            &format!("cannot write {}: {e}", path.display()),
            exit::FAILURE,
        )
    };
    let file_name = path.file_name().ok_or_else(|| {
        fail(
            &format!("--out {} is not a file path", path.display()),
            exit::INVALID_INPUT,
        )
    })?;
    let tmp = path.with_file_name(format!(".{}.ferry-tmp", file_name.to_string_lossy()));
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::File::open(&tmp)?.sync_all())
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            failed(e)
        })
}
