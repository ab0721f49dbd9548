//! `ferry env show [--as-of]`: an environment's contents now, or as they stood at a time or a
//! log position, folded from the log. Auditors of the tenant and makers of the environment may
//! see it.

use std::path::Path;

use chrono::{DateTime, Utc};
use ferry_engine::authz;
use ferry_engine::world::World;
use serde_json::json;

use super::audit::audited;
use super::directory::{fail, print_json, Qualified};
use super::exit;
use super::session::{denied, ActAs, Session};

/// `ferry env show`.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// `<tenant>/<environment>`.
    environment: Qualified,
    /// The point in history: an RFC 3339 time or a log position.
    #[arg(long, value_name = "TIME|POSITION")]
    as_of: Option<String>,
    #[command(flatten)]
    act_as: ActAs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// `ferry env show`: an environment's contents now, or as of a time or log position.
pub fn show(data_dir: &Path, args: ShowArgs) -> Result<u8, u8> {
    let session = Session::open(data_dir)?;
    let env = session.environment(&args.environment)?;
    let principal = session.principal(&args.act_as)?;
    if let Some(principal) = principal {
        let allowed = session.read(|w| {
            let tenant = w.directory.environment_by_id(env).map(|e| e.tenant);
            audited(w, Some(principal)).is_some_and(|set| tenant.is_some_and(|t| set.contains(&t)))
                || authz::environment(&w.directory, principal, env, authz::Action::Author).is_ok()
        })?;
        if !allowed {
            return Err(denied(authz::Denied::MissingRole {
                user: args
                    .act_as
                    .user
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                what: "see this environment",
                needed: "auditor on its tenant, or environment-maker on it",
                first: "auditor",
                target: args.environment.tenant.to_string(),
            }));
        }
    }
    let world = match &args.as_of {
        None => session.read(Clone::clone)?,
        Some(point) => {
            let store = session.dir().log();
            if let Ok(position) = point.parse::<u64>() {
                World::as_of(store, |r| r.position <= position)
            } else {
                let time: DateTime<Utc> = point.parse().map_err(|_| {
                    fail(
                        &format!(
                            "--as-of {point:?} is neither a log position nor an RFC 3339 time"
                        ),
                        exit::INVALID_INPUT,
                    )
                })?;
                World::as_of(store, |r| r.recorded_at <= time)
            }
            .map_err(|e| fail(&e.to_string(), exit::FAILURE))?
        }
    };
    let resources = world.contents.of(env);
    if args.json {
        let list: Vec<_> = resources
            .iter()
            .map(|r| {
                json!({
                    "id": r.id, "kind": r.kind, "name": r.name, "version": r.version,
                    "has_draft": r.draft.is_some(), "revision": r.revision, "connector": r.connector,
                })
            })
            .collect();
        print_json(
            &json!({"environment": args.environment.to_string(), "position": world.position(), "resources": list}),
        );
    } else {
        println!(
            "{} as of log position {}",
            args.environment,
            world.position()
        );
        println!(
            "{:<17} {:<32} {:<8} {:<6} ID",
            "KIND", "NAME", "VERSION", "DRAFT"
        );
        for r in resources {
            println!(
                "{:<17} {:<32} {:<8} {:<6} {}",
                r.kind.to_string(),
                r.name,
                super::resource::version(r),
                if r.draft.is_some() { "yes" } else { "" },
                r.id
            );
        }
    }
    Ok(exit::OK)
}
